//! The snapshot directory `<data_dir>/snapshots/`: one file per snapshot,
//! named `<sequence>-<UTC time>.json`, written once and never rewritten.
//!
//! A file appears complete or not at all (written to a hidden temporary file,
//! then hard-linked to its name, which fails if the name exists), so a crash
//! or a second collector process cannot leave half a snapshot or overwrite
//! one. Retention removes only the oldest files, so what remains is always
//! an unbroken chain from its oldest member.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: a snapshot with this number already exists (another collector took it at the same time); not overwritten")]
    Exists(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One stored snapshot, as its name tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The file name without `.json`; what the API calls the snapshot's id.
    pub id: String,
    pub sequence: u64,
    pub created: DateTime<Utc>,
    pub path: PathBuf,
}

/// `(sequence, creation time)` from a snapshot file name.
pub fn parse_name(name: &str) -> Option<(u64, DateTime<Utc>)> {
    let stem = name.strip_suffix(".json")?;
    let (seq, time) = stem.split_once('-')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let time = NaiveDateTime::parse_from_str(time, TIME_FORMAT).ok()?;
    Some((seq.parse().ok()?, time.and_utc()))
}

pub fn file_name(sequence: u64, created: DateTime<Utc>) -> String {
    format!("{sequence:08}-{}.json", created.format(TIME_FORMAT))
}

#[derive(Debug, Clone)]
pub struct Archive {
    pub dir: PathBuf,
}

impl Archive {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Stored snapshots, oldest first.
    pub fn list(&self) -> Result<Vec<Entry>, ArchiveError> {
        list_dir(&self.dir)
    }

    /// The snapshot with this id (file stem) or sequence number.
    pub fn find(&self, id: &str) -> Result<Option<Entry>, ArchiveError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|e| e.id == id || id.parse::<u64>().is_ok_and(|n| n == e.sequence)))
    }

    /// Writes a new snapshot file (0600) under `name`; never replaces one.
    pub fn write_new(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, ArchiveError> {
        crate::private::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(name);
        let sequence = parse_name(name).map(|(s, _)| s);
        if path.exists() || self.list()?.iter().any(|e| Some(e.sequence) == sequence) {
            return Err(ArchiveError::Exists(path));
        }
        let tmp = self.dir.join(format!(
            ".{name}.{}.{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        ));
        let result = (|| {
            if !crate::private::write_new(&tmp, bytes).map_err(io(&tmp))? {
                return Err(io(&tmp)(std::io::ErrorKind::AlreadyExists.into()));
            }
            match std::fs::hard_link(&tmp, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(ArchiveError::Exists(path.clone()))
                }
                Err(e) => return Err(io(&path)(e)),
            }
            std::fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io(&self.dir))
        })();
        let _ = std::fs::remove_file(&tmp);
        result.map(|()| path)
    }

    /// Applies retention: keeps the `keep` newest (0: no limit) and those
    /// younger than `max_age`, always at least the newest, and removes only
    /// from the old end. Returns what was removed.
    pub fn prune(
        &self,
        keep: usize,
        max_age: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Entry>, ArchiveError> {
        let entries = self.list()?;
        let mut cut = 0;
        if keep > 0 && entries.len() > keep {
            cut = entries.len() - keep;
        }
        if let Some(age) = max_age.and_then(|a| chrono::Duration::from_std(a).ok()) {
            let old = entries.iter().take_while(|e| e.created < now - age).count();
            cut = cut.max(old);
        }
        cut = cut.min(entries.len().saturating_sub(1));
        let removed: Vec<Entry> = entries.into_iter().take(cut).collect();
        for e in &removed {
            std::fs::remove_file(&e.path).map_err(io(&e.path))?;
        }
        Ok(removed)
    }
}

/// Snapshot files in `dir` whose names follow the pattern, oldest first.
pub fn list_dir(dir: &Path) -> Result<Vec<Entry>, ArchiveError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((sequence, created)) = parse_name(&name) {
            out.push(Entry {
                id: name.trim_end_matches(".json").to_string(),
                sequence,
                created,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|e| e.sequence);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_never_overwritten_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::new(dir.path().join("snapshots"));
        let t = Utc::now();
        let p = a.write_new(&file_name(1, t), b"one").unwrap();
        let e = a.write_new(&file_name(1, t), b"two").unwrap_err();
        assert!(matches!(e, ArchiveError::Exists(_)), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let listed = a.list().unwrap();
        assert_eq!(listed.len(), 1, "no temporary file is left: {listed:?}");
        assert_eq!(a.find("1").unwrap().unwrap().path, p);
    }

    #[test]
    fn retention_removes_only_the_oldest_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let a = Archive::new(dir.path().join("snapshots"));
        let now = Utc::now();
        for i in 1..=6u64 {
            let t = now - chrono::Duration::days(10 - i as i64);
            a.write_new(&file_name(i, t), b"x").unwrap();
        }
        let removed = a.prune(4, None, now).unwrap();
        assert_eq!(
            removed.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [1, 2]
        );
        // Days old now: #3 7, #4 6, #5 5, #6 4.
        let removed = a
            .prune(0, Some(Duration::from_secs(5 * 86400 + 3600)), now)
            .unwrap();
        assert_eq!(
            removed.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [3, 4]
        );
        let removed = a.prune(0, Some(Duration::from_secs(1)), now).unwrap();
        assert_eq!(removed.iter().map(|e| e.sequence).collect::<Vec<_>>(), [5]);
        assert_eq!(a.list().unwrap().len(), 1, "the newest is always kept");
    }
}
