//! An output's bytes: in memory, or in a temporary file once they outgrow
//! [`IN_MEMORY`].
//!
//! Why: a fleet's JSON, NDJSON and OCSF exports and a snapshot download run
//! to gigabytes at 10,000 hosts. Held in memory, one such download took the
//! collector's memory and every other client with it. Written through a
//! [`Spool`], an output past a few megabytes goes to an unnamed temporary
//! file (gone when closed) and is sent from there, so what one request
//! holds in memory is bounded whatever its size.

use std::io::{self, Read, Seek, Write};

/// Bytes an output keeps in memory before it moves to a temporary file.
pub const IN_MEMORY: usize = 8 << 20;

/// Where an output's bytes are.
#[derive(Debug)]
pub enum Body {
    Bytes(Vec<u8>),
    /// An unnamed temporary file, read from its start, of `len` bytes.
    File {
        file: std::fs::File,
        len: u64,
    },
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(bytes)
    }
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes to read, from the start.
    pub fn reader(self) -> Box<dyn Read + Send> {
        match self {
            Body::Bytes(b) => Box::new(io::Cursor::new(b)),
            Body::File { file, .. } => Box::new(io::BufReader::with_capacity(READ_PIECE, file)),
        }
    }

    /// All the bytes in memory (small outputs, tests).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Bytes(b) => Ok(b),
            body => {
                let mut out = Vec::with_capacity(body.len() as usize);
                body.reader().read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }

    /// The bytes, if they are in memory.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            Body::File { .. } => None,
        }
    }
}

/// Bytes gathered before each write to the spool: serializers write a
/// few bytes at a time, and a write to a file is a system call.
const WRITE_BUFFER: usize = 256 << 10;

/// Bytes read from a file for each piece of a response.
pub const READ_PIECE: usize = 256 << 10;

/// Writes a [`Body`]: in memory up to [`IN_MEMORY`] bytes, then into an
/// unnamed temporary file.
pub struct Spool(io::BufWriter<tempfile::SpooledTempFile>);

impl Default for Spool {
    fn default() -> Self {
        Spool(io::BufWriter::with_capacity(
            WRITE_BUFFER,
            tempfile::SpooledTempFile::new(IN_MEMORY),
        ))
    }
}

impl Spool {
    /// What was written, ready to read from its start.
    pub fn finish(self) -> io::Result<Body> {
        let spooled = self.0.into_inner().map_err(|e| e.into_error())?;
        match spooled.into_inner() {
            tempfile::SpooledData::InMemory(cursor) => Ok(Body::Bytes(cursor.into_inner())),
            tempfile::SpooledData::OnDisk(mut file) => {
                file.flush()?;
                let len = file.seek(io::SeekFrom::End(0))?;
                file.rewind()?;
                Ok(Body::File { file, len })
            }
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stays_in_memory_large_goes_to_a_file_and_reads_back_whole() {
        let mut small = Spool::default();
        small.write_all(b"{}").unwrap();
        let small = small.finish().unwrap();
        assert_eq!(small.as_bytes(), Some(&b"{}"[..]));

        let line = b"0123456789abcdef\n";
        let mut large = Spool::default();
        for _ in 0..(IN_MEMORY / line.len() + 10) {
            large.write_all(line).unwrap();
        }
        let large = large.finish().unwrap();
        let n = (IN_MEMORY / line.len() + 10) * line.len();
        assert!(matches!(large, Body::File { .. }));
        assert_eq!(large.len(), n as u64);
        let back = large.into_bytes().unwrap();
        assert_eq!(back.len(), n);
        assert!(back.chunks(line.len()).all(|c| c == line));
    }
}
