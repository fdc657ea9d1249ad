//! Installed packages from the rpm database under the host root: the SQLite
//! database RHEL 9, Fedora and SUSE use (`rpmdb.sqlite`, one header blob
//! per installed package in its `Packages` table), read-only and bounded.
//!
//! A header blob is the header rpm writes into a package file without its
//! 8-byte magic: index count and data length (big endian), then 16-byte
//! index entries (tag, type, offset, count) and the data they point into.
//! Five tags are read (name, epoch, version, release, arch), each offset
//! checked against the blob. The `rpm` crate parses package files (lead,
//! signature and header with its magic), not database blobs, and would add
//! its compression and signing dependencies for these five tags.
//!
//! The older Berkeley DB (`Packages`) and ndb (`Packages.db`) formats are
//! named as "unsupported format" errors, never as a host without packages.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Where rpm keeps its database: the classic path, and /usr/lib/sysimage
/// where Fedora 36+ and openSUSE moved it (/var/lib/rpm a link to it).
pub const SQLITE_PATHS: &[&str] = &[
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
];
/// The formats this agent does not read, by file.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("/var/lib/rpm/Packages", "Berkeley DB"),
    ("/var/lib/rpm/Packages.db", "ndb"),
    ("/usr/lib/sysimage/rpm/Packages", "Berkeley DB"),
    ("/usr/lib/sysimage/rpm/Packages.db", "ndb"),
];
/// The most packages read from one database.
pub const MAX_PACKAGES: usize = 200_000;
/// The largest header blob read (rpm itself refuses headers over 256 MiB;
/// an installed package's header is rarely over a few MiB).
const MAX_BLOB: usize = 64 * 1024 * 1024;
/// The most index entries in one header (rpm's own limit).
const MAX_INDEX: usize = 0x0000_ffff;

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_ARCH: i32 = 1022;
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// One installed package, as `rpm -qa` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    /// `epoch:version-release`, without `epoch:` when there is none.
    pub version: String,
    pub architecture: String,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The header's fields, or why the blob is not a header.
fn parse(blob: &[u8]) -> Result<Installed, String> {
    let il = be32(blob, 0).ok_or("shorter than a header")? as usize;
    let dl = be32(blob, 4).ok_or("shorter than a header")? as usize;
    if il == 0 || il > MAX_INDEX {
        return Err(format!("{il} index entries"));
    }
    let data_at = 8 + 16 * il;
    let data = blob
        .get(data_at..data_at.checked_add(dl).ok_or("data length overflows")?)
        .ok_or_else(|| format!("{} bytes, the header says {}", blob.len(), data_at + dl))?;
    let (mut name, mut version, mut release, mut arch, mut epoch) = (None, None, None, None, None);
    for i in 0..il {
        let e = 8 + 16 * i;
        let (Some(tag), Some(ty), Some(offset)) =
            (be32(blob, e), be32(blob, e + 4), be32(blob, e + 8))
        else {
            return Err("index entry cut short".into());
        };
        let (tag, offset) = (tag as i32, offset as usize);
        let string = || -> Result<String, String> {
            if ty != TYPE_STRING && ty != TYPE_I18NSTRING {
                return Err(format!("tag {tag} has type {ty}, not a string"));
            }
            let rest = data
                .get(offset..)
                .ok_or_else(|| format!("tag {tag} points past the data"))?;
            let end = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| format!("tag {tag}'s string is not terminated"))?;
            Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        match tag {
            TAG_NAME => name = Some(string()?),
            TAG_VERSION => version = Some(string()?),
            TAG_RELEASE => release = Some(string()?),
            TAG_ARCH => arch = Some(string()?),
            TAG_EPOCH => {
                if ty != TYPE_INT32 {
                    return Err(format!("epoch has type {ty}, not int32"));
                }
                epoch = Some(be32(data, offset).ok_or("epoch points past the data")?);
            }
            _ => {}
        }
    }
    let name = name.ok_or("no name")?;
    let full = format!(
        "{}-{}",
        version.ok_or("no version")?,
        release.ok_or("no release")?
    );
    Ok(Installed {
        name,
        version: match epoch {
            Some(e) => format!("{e}:{full}"),
            None => full,
        },
        // gpg-pubkey pseudo-packages have no architecture.
        architecture: arch.unwrap_or_default(),
    })
}

/// Opens the database read-only; on a read-only filesystem (the node's
/// root mounted into a DaemonSet) SQLite cannot make its shared-memory
/// file, and the database is then opened as immutable (no locks, the
/// write-ahead log left unread: rpm checkpoints it when a transaction ends).
fn open(local: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let try_read = |c: Connection| -> rusqlite::Result<Connection> {
        c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(c)
    };
    match Connection::open_with_flags(local, flags).and_then(try_read) {
        Ok(c) => Ok(c),
        Err(_) => {
            let uri = format!("file:{}?immutable=1", local.display());
            Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI).and_then(try_read)
        }
    }
}

/// The packages in the SQLite database at host path `host` under `root`,
/// sorted by name, version and architecture. An error names the file and,
/// for a bad header, the row.
pub fn read_sqlite(root: &Path, host: &str) -> Result<Vec<Installed>, String> {
    let local = root.join(host.trim_start_matches('/'));
    let fail = |e: rusqlite::Error| format!("{host}: {e}");
    let conn = open(&local).map_err(fail)?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(fail)?;
    let mut rows = stmt.query([]).map_err(fail)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(fail)? {
        let hnum: i64 = row.get(0).map_err(fail)?;
        let blob = row.get_ref(1).map_err(fail)?;
        let bytes = blob
            .as_blob()
            .map_err(|_| format!("{host}: Packages row {hnum}: not a blob"))?;
        if bytes.len() > MAX_BLOB {
            return Err(format!(
                "{host}: Packages row {hnum}: header of {} bytes (at most {MAX_BLOB})",
                bytes.len()
            ));
        }
        if out.len() == MAX_PACKAGES {
            return Err(format!("{host}: more than {MAX_PACKAGES} packages"));
        }
        out.push(parse(bytes).map_err(|why| format!("{host}: Packages row {hnum}: {why}"))?);
    }
    out.sort_by(|a, b| {
        (&a.name, &a.version, &a.architecture).cmp(&(&b.name, &b.version, &b.architecture))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob of `entries` (tag, type, data).
    fn blob(entries: &[(i32, u32, &[u8])]) -> Vec<u8> {
        let mut index: Vec<u8> = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for (tag, ty, d) in entries {
            index.extend(tag.to_be_bytes());
            index.extend(ty.to_be_bytes());
            index.extend((data.len() as u32).to_be_bytes());
            index.extend(1u32.to_be_bytes());
            data.extend(*d);
        }
        let mut out = Vec::new();
        out.extend((entries.len() as u32).to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn a_header_gives_name_epoch_version_release_and_arch() {
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, b"bash\0"),
            (TAG_VERSION, TYPE_STRING, b"5.1.8\0"),
            (TAG_RELEASE, TYPE_STRING, b"9.el9\0"),
            (TAG_EPOCH, TYPE_INT32, &1u32.to_be_bytes()),
            (TAG_ARCH, TYPE_STRING, b"x86_64\0"),
        ]);
        assert_eq!(
            parse(&b).unwrap(),
            Installed {
                name: "bash".into(),
                version: "1:5.1.8-9.el9".into(),
                architecture: "x86_64".into()
            }
        );
    }

    #[test]
    fn bad_headers_are_errors_not_panics() {
        let good = blob(&[
            (TAG_NAME, TYPE_STRING, b"bash\0"),
            (TAG_VERSION, TYPE_STRING, b"5\0"),
            (TAG_RELEASE, TYPE_STRING, b"1\0"),
        ]);
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        let unterminated = blob(&[(TAG_NAME, TYPE_STRING, b"bash")]);
        assert!(parse(&unterminated).unwrap_err().contains("not terminated"));
        let wrong_type = blob(&[(TAG_EPOCH, TYPE_STRING, b"1\0")]);
        assert!(parse(&wrong_type).unwrap_err().contains("epoch"));
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&huge).is_err());
        let mut past = good.clone();
        // The name's offset points past the data.
        past[16..20].copy_from_slice(&1000u32.to_be_bytes());
        assert!(parse(&past).unwrap_err().contains("past the data"));
    }
}
