//! Versions: Tomcat's from `lib/catalina.jar` (its
//! `org/apache/catalina/util/ServerInfo.properties`) or `RELEASE-NOTES`,
//! Struts' from a jar's name or its Maven `pom.properties`.
//!
//! A jar is a zip file: its central directory (at the end) names each
//! entry and where it starts; only the one entry wanted is inflated, within
//! [`MAX_ENTRY_BYTES`]. Every length read from the file is checked before
//! use, so a truncated or hostile jar is an error, never a panic.

use super::conf::read_bytes;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Most bytes of one inflated entry (ServerInfo.properties is under 1 KiB).
const MAX_ENTRY_BYTES: u64 = 64 * 1024;
/// Most bytes of a central directory read (catalina.jar's is ~100 KiB).
const MAX_DIRECTORY_BYTES: u64 = 8 * 1024 * 1024;
/// Most bytes of RELEASE-NOTES read.
const MAX_NOTES_BYTES: u64 = 256 * 1024;

/// "10.1.60" → (10, 1, 60); at least major.minor, then digits.
pub fn parts(version: &str) -> Option<(u64, u64, u64)> {
    let mut it = version.split('.').map(|p| {
        let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse::<u64>().ok()
    });
    let major = it.next()??;
    let minor = it.next()??;
    let patch = it.next().flatten().unwrap_or(0);
    Some((major, minor.min(999), patch.min(999)))
}

/// The version as one comparable number; 0 when it cannot be read.
pub fn number(version: &str) -> u64 {
    parts(version).map_or(0, |(a, b, c)| a * 1_000_000 + b * 1_000 + c)
}

/// "10.1" of "10.1.60".
pub fn branch(version: &str) -> String {
    parts(version).map_or_else(String::new, |(a, b, _)| format!("{a}.{b}"))
}

/// One entry of the zip file at `local`, inflated; None when absent.
pub fn jar_entry(local: &Path, name: &str) -> Result<Option<Vec<u8>>, String> {
    let bad = |why: &str| format!("not a readable jar ({why})");
    let mut f = std::fs::File::open(local).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    // The end-of-central-directory record: 22 bytes and a comment of up to 64 KiB.
    let tail_len = len.min(22 + 65_535);
    f.seek(SeekFrom::Start(len - tail_len))
        .map_err(|e| e.to_string())?;
    let mut tail = vec![0; tail_len as usize];
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| bad("no end of central directory"))?;
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as u64;
    let u32_at =
        |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64;
    let dir_size = u32_at(&tail, eocd + 12);
    let dir_offset = u32_at(&tail, eocd + 16);
    if dir_size > MAX_DIRECTORY_BYTES || dir_offset + dir_size > len {
        return Err(bad("central directory out of bounds"));
    }
    f.seek(SeekFrom::Start(dir_offset))
        .map_err(|e| e.to_string())?;
    let mut dir = vec![0; dir_size as usize];
    f.read_exact(&mut dir).map_err(|e| e.to_string())?;
    let mut i = 0usize;
    while i + 46 <= dir.len() {
        if dir[i..i + 4] != [0x50, 0x4b, 0x01, 0x02] {
            return Err(bad("central directory entry"));
        }
        let method = u16_at(&dir, i + 10);
        let compressed = u32_at(&dir, i + 20);
        let size = u32_at(&dir, i + 24);
        let (n, x, c) = (
            u16_at(&dir, i + 28) as usize,
            u16_at(&dir, i + 30) as usize,
            u16_at(&dir, i + 32) as usize,
        );
        let local_offset = u32_at(&dir, i + 42);
        let entry_name = dir
            .get(i + 46..i + 46 + n)
            .ok_or_else(|| bad("entry name"))?;
        if entry_name == name.as_bytes() {
            if size > MAX_ENTRY_BYTES || compressed > MAX_ENTRY_BYTES * 4 {
                return Err(format!("{name} is larger than {MAX_ENTRY_BYTES} bytes"));
            }
            let mut header = [0u8; 30];
            f.seek(SeekFrom::Start(local_offset))
                .map_err(|e| e.to_string())?;
            f.read_exact(&mut header).map_err(|e| e.to_string())?;
            if header[..4] != [0x50, 0x4b, 0x03, 0x04] {
                return Err(bad("local header"));
            }
            let skip = u16_at(&header, 26) + u16_at(&header, 28);
            f.seek(SeekFrom::Current(skip as i64))
                .map_err(|e| e.to_string())?;
            let mut data = Vec::new();
            (&mut f)
                .take(compressed)
                .read_to_end(&mut data)
                .map_err(|e| e.to_string())?;
            return match method {
                0 => Ok(Some(data)),
                8 => {
                    let mut out = Vec::new();
                    flate2::read::DeflateDecoder::new(&data[..])
                        .take(MAX_ENTRY_BYTES + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| format!("{name}: {e}"))?;
                    if out.len() as u64 > MAX_ENTRY_BYTES {
                        return Err(format!("{name} is larger than {MAX_ENTRY_BYTES} bytes"));
                    }
                    Ok(Some(out))
                }
                m => Err(format!("{name}: compression method {m} not supported")),
            };
        }
        i += 46 + n + x + c;
    }
    Ok(None)
}

/// The Tomcat version of the CATALINA_HOME at `home` (a local path): from
/// lib/catalina.jar, else RELEASE-NOTES. (version, where read from).
pub fn tomcat(home: &Path) -> Result<Option<(String, &'static str)>, String> {
    let jar = home.join("lib/catalina.jar");
    if jar.exists() {
        let props = jar_entry(&jar, "org/apache/catalina/util/ServerInfo.properties")
            .map_err(|e| format!("lib/catalina.jar: {e}"))?;
        if let Some(props) = props {
            let text = String::from_utf8_lossy(&props);
            let number = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("server.number="))
                .map(|v| v.trim().split('.').take(3).collect::<Vec<_>>().join("."));
            if let Some(v) = number.filter(|v| parts(v).is_some()) {
                return Ok(Some((v, "lib/catalina.jar")));
            }
        }
    }
    let notes = home.join("RELEASE-NOTES");
    if notes.exists() {
        let bytes =
            read_bytes(&notes, MAX_NOTES_BYTES).map_err(|e| format!("RELEASE-NOTES: {e}"))?;
        let text = String::from_utf8_lossy(&bytes);
        let version = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("Apache Tomcat Version ")
                .map(|v| v.trim().to_string())
        });
        if let Some(v) = version.filter(|v| parts(v).is_some()) {
            return Ok(Some((v, "RELEASE-NOTES")));
        }
    }
    Ok(None)
}

/// Struts jar names: "struts2-core-2.5.30.jar", "struts-core-1.3.10.jar".
const STRUTS_PREFIXES: &[&str] = &["struts2-core", "struts-core"];

/// The version of a Struts core jar named `file` at `local`: from its name,
/// else its Maven pom.properties. None when the jar is no Struts core.
pub fn struts(file: &str, local: &Path) -> Option<Result<String, String>> {
    let stem = file.strip_suffix(".jar")?;
    let prefix = STRUTS_PREFIXES.iter().find(|p| stem.starts_with(*p))?;
    let rest = &stem[prefix.len()..];
    if let Some(v) = rest.strip_prefix('-').filter(|v| parts(v).is_some()) {
        return Some(Ok(v.to_string()));
    }
    if !rest.is_empty() {
        return None; // struts2-core-plugin…: not the core jar
    }
    let pom = format!("META-INF/maven/org.apache.struts/{prefix}/pom.properties");
    Some(match jar_entry(local, &pom) {
        Ok(Some(p)) => Ok(String::from_utf8_lossy(&p)
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("version=")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default()),
        Ok(None) => Ok(String::new()),
        Err(e) => Err(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(number("10.1.60"), 10_001_060);
        assert_eq!(number("9.0.108"), 9_000_108);
        assert_eq!(number("2.5"), 2_005_000);
        assert_eq!(number("x"), 0);
        assert_eq!(branch("10.1.60"), "10.1");
        assert!(number("9.0.108") < number("10.1.1"));
    }

    #[test]
    fn a_file_that_is_no_jar_is_an_error_not_a_panic() {
        let t = tempfile::tempdir().unwrap();
        for (i, body) in [&b""[..], b"PK\x05\x06", &[0xffu8; 100][..]]
            .iter()
            .enumerate()
        {
            let p = t.path().join(format!("{i}.jar"));
            std::fs::write(&p, body).unwrap();
            assert!(jar_entry(&p, "a").is_err(), "{i}");
        }
    }
}
