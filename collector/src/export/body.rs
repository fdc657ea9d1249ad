//! An output's bytes: in memory, in a temporary file once they outgrow
//! [`IN_MEMORY`], or a stream made while it is sent.
//!
//! Why: a fleet's JSON, NDJSON and OCSF exports and a snapshot's tar run
//! to gigabytes at 10,000 hosts. Held in memory, one such download took the
//! collector's memory and every other client with it. Written through a
//! [`Spool`], an output past a few megabytes goes to an unnamed temporary
//! file (gone when closed) and is sent from there, so what one request
//! holds in memory is bounded whatever its size. A whole file on request is
//! [`streamed`]: made on a blocking thread a piece at a time, each piece
//! sent as it is made, so its first byte comes at once and the collector
//! holds a few pieces of it, not all of it, nor a copy on disk.

use bytes::Bytes;
use std::io::{self, Read, Seek, Write};
use tokio::sync::mpsc;

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
    /// Pieces made while they are sent ([`streamed`]); the length is not
    /// known before the last. A maker's failure ends the pieces with its
    /// error, so that a download is cut short rather than end as if whole.
    Stream(mpsc::Receiver<io::Result<Bytes>>),
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(bytes)
    }
}

impl Body {
    /// The length, when it is known before the bytes are sent.
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { len, .. } => Some(*len),
            Body::Stream(_) => None,
        }
    }

    /// The bytes to read, from the start. A stream's reader waits for
    /// each piece: read it on a blocking thread, not in async code.
    pub fn reader(self) -> Box<dyn Read + Send> {
        match self {
            Body::Bytes(b) => Box::new(io::Cursor::new(b)),
            Body::File { file, .. } => Box::new(io::BufReader::with_capacity(READ_PIECE, file)),
            Body::Stream(pieces) => Box::new(Pieces {
                pieces,
                piece: Bytes::new(),
            }),
        }
    }

    /// All the bytes in memory (small outputs, tests).
    pub async fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Bytes(b) => Ok(b),
            Body::File { file, len } => {
                let mut out = Vec::with_capacity(len as usize);
                tokio::io::AsyncReadExt::read_to_end(
                    &mut tokio::fs::File::from_std(file),
                    &mut out,
                )
                .await?;
                Ok(out)
            }
            Body::Stream(mut pieces) => {
                let mut out = Vec::new();
                while let Some(piece) = pieces.recv().await {
                    out.extend_from_slice(&piece?);
                }
                Ok(out)
            }
        }
    }

    /// The bytes, if they are in memory.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            Body::File { .. } | Body::Stream(_) => None,
        }
    }
}

/// A stream's pieces read in turn (blocking).
struct Pieces {
    pieces: mpsc::Receiver<io::Result<Bytes>>,
    piece: Bytes,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.piece.is_empty() {
            match self.pieces.blocking_recv() {
                Some(piece) => self.piece = piece?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece.split_to(n));
        Ok(n)
    }
}

/// Pieces a stream's maker may be ahead of the sending: what one whole
/// file on request holds in memory is about this many [`READ_PIECE`]s.
const PIECES_AHEAD: usize = 4;

/// A body made by `make` on a blocking thread while it is sent, a piece
/// of [`READ_PIECE`] bytes at a time; `what` names it in the log if the
/// making fails. When the receiver is gone (the client left), `make`'s
/// next write fails and it stops. Call from within the Tokio runtime.
pub fn streamed<F>(what: String, make: F) -> Body
where
    F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(PIECES_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut pipe = Pipe {
            tx,
            piece: Vec::with_capacity(FIRST_PIECE),
            full: FIRST_PIECE,
        };
        // A maker that panics ends the body with an error too: its pieces
        // must not pass for the whole.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(&mut pipe)))
            .unwrap_or_else(|_| Err(io::Error::other("making it panicked")));
        if let Err(e) = made.and_then(|()| pipe.send()) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                tracing::warn!(output = %what, error = %e, "cut short: making it failed");
                let _ = pipe.tx.blocking_send(Err(e));
            }
        }
    });
    Body::Stream(rx)
}

/// A stream's first piece is sent at this size, the rest at
/// [`READ_PIECE`]: the first byte waits for little of the making (a
/// fleet's OCSF findings took 100 ms to fill a whole first piece).
const FIRST_PIECE: usize = 16 << 10;

/// What a stream's maker writes to: pieces handed to the sending.
struct Pipe {
    tx: mpsc::Sender<io::Result<Bytes>>,
    piece: Vec<u8>,
    /// The size at which the piece is sent.
    full: usize,
}

impl Pipe {
    fn send(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        self.full = READ_PIECE;
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(READ_PIECE));
        self.tx
            .blocking_send(Ok(piece.into()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the receiver is gone"))
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.piece.extend_from_slice(buf);
        if self.piece.len() >= self.full {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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

    #[tokio::test]
    async fn small_stays_in_memory_large_goes_to_a_file_and_reads_back_whole() {
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
        assert_eq!(large.known_len(), Some(n as u64));
        let back = large.into_bytes().await.unwrap();
        assert_eq!(back.len(), n);
        assert!(back.chunks(line.len()).all(|c| c == line));
    }

    #[tokio::test]
    async fn a_stream_sends_what_is_made_in_order_and_its_failure_last() {
        let line = b"0123456789abcdef\n";
        let lines = 3 * READ_PIECE / line.len() + 5;
        let whole = streamed("test".into(), move |out| {
            for _ in 0..lines {
                out.write_all(line)?;
            }
            Ok(())
        });
        assert_eq!(whole.known_len(), None);
        let back = whole.into_bytes().await.unwrap();
        assert_eq!(back.len(), lines * line.len());
        assert!(back.chunks(line.len()).all(|c| c == line));

        // A failure after some pieces: they come, then the error.
        let Body::Stream(mut cut) = streamed("test".into(), move |out| {
            out.write_all(&vec![b'x'; 2 * READ_PIECE])?;
            Err(io::Error::other("the store went away"))
        }) else {
            panic!("not a stream")
        };
        let mut sent = 0;
        let error = loop {
            match cut.recv().await.expect("the error comes before the end") {
                Ok(piece) => sent += piece.len(),
                Err(e) => break e,
            }
        };
        assert_eq!(sent, 2 * READ_PIECE);
        assert_eq!(error.to_string(), "the store went away");
        assert!(cut.recv().await.is_none());
    }

    #[tokio::test]
    async fn the_first_piece_is_sent_before_a_whole_piece_is_made() {
        // The maker writes a little, then waits until that much was
        // received: with a whole first piece to fill, it would wait forever.
        let (seen_tx, seen_rx) = std::sync::mpsc::channel::<()>();
        let Body::Stream(mut pieces) = streamed("test".into(), move |out| {
            out.write_all(&[b'a'; FIRST_PIECE])?;
            seen_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .map_err(|_| io::Error::other("the first piece was not sent"))?;
            out.write_all(&vec![b'b'; 2 * READ_PIECE])
        }) else {
            panic!("not a stream")
        };
        let first = pieces.recv().await.unwrap().unwrap();
        assert_eq!(&first[..], &[b'a'; FIRST_PIECE][..]);
        seen_tx.send(()).unwrap();
        let mut rest = Vec::new();
        while let Some(piece) = pieces.recv().await {
            rest.extend_from_slice(&piece.unwrap());
        }
        assert_eq!(rest, vec![b'b'; 2 * READ_PIECE]);
    }

    #[tokio::test]
    async fn a_maker_that_panics_ends_its_stream_with_an_error() {
        let body = streamed("test".into(), |out| {
            out.write_all(&[1; READ_PIECE])?;
            panic!("a bug");
        });
        let e = body.into_bytes().await.unwrap_err();
        assert_eq!(e.to_string(), "making it panicked");
    }

    #[tokio::test]
    async fn a_stream_nobody_reads_stops_its_maker() {
        let (stopped_tx, stopped) = tokio::sync::oneshot::channel();
        let body = streamed("test".into(), move |out| {
            let mut written = 0usize;
            let end = loop {
                if let Err(e) = out.write_all(&[0; 4096]) {
                    break e;
                }
                written += 4096;
                if written > 1 << 30 {
                    break io::Error::other("never stopped");
                }
            };
            let _ = stopped_tx.send((end.kind(), written));
            Err(end)
        });
        drop(body);
        let (kind, written) = stopped.await.unwrap();
        assert_eq!(kind, io::ErrorKind::BrokenPipe);
        assert!(written <= (PIECES_AHEAD + 2) * READ_PIECE, "{written}");
    }

    #[tokio::test]
    async fn a_stream_reads_back_on_a_blocking_thread() {
        let body = streamed("test".into(), |out| out.write_all(&[7; READ_PIECE + 3]));
        let read = tokio::task::spawn_blocking(move || {
            let mut back = Vec::new();
            body.reader().read_to_end(&mut back).map(|_| back)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(read, vec![7; READ_PIECE + 3]);
    }
}
