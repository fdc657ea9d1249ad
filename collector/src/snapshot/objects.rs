//! The files a snapshot names besides itself: each host's results and each
//! evidence's content, kept once by the SHA-256 of their canonical JSON in
//! `<snapshots>/objects/<first two hex digits>/<sha256>.json`.
//!
//! Why: a fleet's snapshot cites the same evidence day after day. Kept once
//! and named by hash, a day's snapshot writes only what changed, the signed
//! manifest stays small enough to read whole, and any copy of a file can be
//! checked against the name the signed manifest gives it.
//!
//! Files are written to a temporary name and renamed, so a name never holds
//! half a file; they are not synced one by one (a fleet's first snapshot
//! writes hundreds of thousands): the writer syncs the file system once
//! ([`Objects::sync`]) before it signs the manifest that names them.
//! Retention removes what no kept snapshot names: writing or reusing a file
//! sets its modification time to now, at least once every [`MARK_EVERY`]
//! while snapshots keep naming it (a collector remembers when it last did,
//! `parts`), so a file last marked more than `MARK_EVERY` before the oldest
//! kept snapshot is named by none of them ([`Objects::sweep`]). Files here
//! are removed by that sweep only.

use super::canonical;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How often an object a snapshot names again is marked used (its
/// modification time set to now); retention keeps what was marked within
/// this time before the oldest kept snapshot.
pub const MARK_EVERY: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// An object that is not what the manifest naming it says.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("{path}: missing: the snapshot names it ({what})")]
    Missing { path: PathBuf, what: String },
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: its content hashes to {actual}, not to the {recorded} the snapshot names it by ({what}): the file was altered")]
    Altered {
        path: PathBuf,
        recorded: String,
        actual: String,
        what: String,
    },
    #[error("{path}: not the canonical form of its content ({what}): the file was altered")]
    NotCanonical { path: PathBuf, what: String },
    #[error("{path}: not a snapshot object ({what}): {message}")]
    Parse {
        path: PathBuf,
        what: String,
        message: String,
    },
}

/// The object directory of one snapshot directory.
#[derive(Debug, Clone)]
pub struct Objects {
    pub dir: PathBuf,
}

/// A file name is 64 lower-case hex digits.
fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Objects {
    /// The objects of the snapshots in `snapshot_dir`.
    pub fn of(snapshot_dir: &Path) -> Self {
        Self {
            dir: snapshot_dir.join("objects"),
        }
    }

    /// Where the object `sha256` is kept (a name that is not a hash is
    /// kept nowhere: the path then names the directory itself).
    pub fn path(&self, sha256: &str) -> PathBuf {
        if !is_hash(sha256) {
            return self.dir.join("not-a-hash");
        }
        self.dir.join(&sha256[..2]).join(format!("{sha256}.json"))
    }

    /// Keeps `value` as canonical JSON under its hash, unless a file is
    /// there already (then marks it used now). Returns the hash and size.
    pub fn put<T: serde::Serialize>(&self, value: &T) -> io::Result<(String, u64)> {
        let bytes = canonical::to_vec(value).map_err(io::Error::other)?;
        let sha256 = canonical::sha256_hex(&bytes);
        self.put_canonical(&sha256, &bytes)?;
        Ok((sha256, bytes.len() as u64))
    }

    /// As `put`, for canonical `bytes` whose hash is `sha256`.
    pub fn put_canonical(&self, sha256: &str, bytes: &[u8]) -> io::Result<()> {
        if !self.reuse(sha256)? {
            let path = self.path(sha256);
            let parent = path.parent().unwrap_or(&self.dir);
            crate::private::create_dir_all(parent)?;
            let tmp = parent.join(format!(
                ".{sha256}.{}.{}",
                std::process::id(),
                hex::encode(rand::random::<[u8; 6]>())
            ));
            crate::private::write_new_unsynced(&tmp, bytes)?;
            if let Err(e) = std::fs::rename(&tmp, &path) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Marks the object `sha256` used now, if it is there (one system
    /// call, without reading it): whether it is.
    pub fn reuse(&self, sha256: &str) -> io::Result<bool> {
        match filetime::set_file_mtime(self.path(sha256), filetime::FileTime::now()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Flushes every written object to disk (one `syncfs` of the file
    /// system that holds them); nothing when none was ever written.
    pub fn sync(&self) -> io::Result<()> {
        let d = match std::fs::File::open(&self.dir) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        use std::os::fd::AsRawFd;
        // SAFETY: `d` is an open descriptor for the duration of the call.
        if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads the object `sha256` and checks that its bytes are canonical
    /// and hash to its name; `what` says which snapshot part names it.
    pub fn get<T: serde::de::DeserializeOwned + serde::Serialize>(
        &self,
        sha256: &str,
        what: &str,
    ) -> Result<T, ObjectError> {
        let path = self.path(sha256);
        let bytes = self.bytes(sha256, what)?;
        let value: T = serde_json::from_slice(&bytes).map_err(|e| ObjectError::Parse {
            path: path.clone(),
            what: what.into(),
            message: e.to_string(),
        })?;
        // The hash matched, so only bytes the writer made can be here; the
        // canonical check guards a reader that parses more loosely.
        if canonical::to_vec(&value).ok().as_deref() != Some(&bytes[..]) {
            return Err(ObjectError::NotCanonical {
                path,
                what: what.into(),
            });
        }
        Ok(value)
    }

    /// The bytes of the object `sha256`, checked to hash to its name.
    pub fn bytes(&self, sha256: &str, what: &str) -> Result<Vec<u8>, ObjectError> {
        let path = self.path(sha256);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ObjectError::Missing {
                    path,
                    what: what.into(),
                })
            }
            Err(source) => return Err(ObjectError::Read { path, source }),
        };
        let actual = canonical::sha256_hex(&bytes);
        if actual != sha256 {
            return Err(ObjectError::Altered {
                path,
                recorded: sha256.into(),
                actual,
                what: what.into(),
            });
        }
        Ok(bytes)
    }

    /// Removes objects last marked used before `before` (`MARK_EVERY`
    /// before the creation of the oldest kept snapshot): no kept snapshot
    /// names them. Returns how many were removed.
    pub fn sweep(&self, before: SystemTime) -> io::Result<u64> {
        let fans = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for fan in fans {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(fan.path())? {
                let f = f?;
                let meta = f.metadata()?;
                if meta.is_file() && meta.modified()? < before {
                    std::fs::remove_file(f.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::time::Duration;

    #[test]
    fn kept_once_by_hash_and_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let o = Objects::of(dir.path());
        let (a, size) = o.put(&json!({"b": 1, "a": "가"})).unwrap();
        assert_eq!(size, r#"{"a":"가","b":1}"#.len() as u64);
        let (again, _) = o.put(&json!({"a": "가", "b": 1})).unwrap();
        assert_eq!(a, again, "equal content, one file");
        assert_eq!(o.get::<Value>(&a, "x").unwrap(), json!({"a": "가", "b": 1}));

        std::fs::write(o.path(&a), r#"{"a":"나","b":1}"#).unwrap();
        let e = o.get::<Value>(&a, "host web-1").unwrap_err().to_string();
        assert!(e.contains("altered") && e.contains("host web-1"), "{e}");
        std::fs::write(o.path(&a), r#"{"b":1, "a":"가"}"#).unwrap();
        assert!(o
            .get::<Value>(&a, "x")
            .unwrap_err()
            .to_string()
            .contains("altered"));
        std::fs::remove_file(o.path(&a)).unwrap();
        let e = o.get::<Value>(&a, "x").unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
        assert!(o.get::<Value>("../../etc/passwd", "x").is_err());
    }

    #[test]
    fn sweep_removes_only_what_was_not_used_since() {
        let dir = tempfile::tempdir().unwrap();
        let o = Objects::of(dir.path());
        let (old, _) = o.put(&json!("old")).unwrap();
        let (used, _) = o.put(&json!("used")).unwrap();
        let past = SystemTime::now() - Duration::from_secs(3600);
        for h in [&old, &used] {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(o.path(h))
                .unwrap();
            f.set_modified(past).unwrap();
        }
        o.put(&json!("used")).unwrap();
        let cut = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(o.sweep(cut).unwrap(), 1);
        assert!(!o.path(&old).exists() && o.path(&used).exists());
        o.sync().unwrap();
    }
}
