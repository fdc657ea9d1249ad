//! Who took what out of the collector, and when: every export and snapshot
//! download is one JSON line in `<data_dir>/access.log` (0600, append-only).
//! Evidence holds IP inventories and vulnerability results, so an admin must
//! be able to see where copies went. Recording comes before serving: a
//! download that cannot be recorded is refused.

use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How much of the log's end `read` looks at.
const READ_TAIL: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// RFC 3339, UTC.
    pub at: String,
    /// Token name, or `cli:<user>` for the command line.
    pub who: String,
    pub role: String,
    /// What was done: "export", "snapshot-download", "snapshot-create", ...
    pub action: String,
    /// What it was done to: "emr-s014 form 2B pdf group II-2", a snapshot id, ...
    pub what: String,
}

#[derive(Debug, thiserror::Error)]
#[error("access log {path}: {source}")]
pub struct AccessLogError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("access.log")
}

/// Appends one access record.
pub fn record(
    data_dir: &Path,
    who: &str,
    role: &str,
    action: &str,
    what: &str,
) -> Result<(), AccessLogError> {
    let path = path(data_dir);
    let err = |source| AccessLogError {
        path: path.clone(),
        source,
    };
    let entry = Access {
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        who: who.into(),
        role: role.into(),
        action: action.into(),
        what: what.into(),
    };
    let mut line = serde_json::to_vec(&entry).map_err(|e| err(e.into()))?;
    line.push(b'\n');
    std::fs::create_dir_all(data_dir).map_err(err)?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(err)?;
    // One write of the whole line: appends from several requests never interleave.
    f.write_all(&line).map_err(err)?;
    f.sync_data().map_err(err)
}

/// The newest `limit` records, oldest first (from the log's last 8 MiB).
pub fn read(data_dir: &Path, limit: usize) -> Result<Vec<Access>, AccessLogError> {
    let path = path(data_dir);
    let err = |source| AccessLogError {
        path: path.clone(),
        source,
    };
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(err(e)),
    };
    let len = f.metadata().map_err(err)?.len();
    let start = len.saturating_sub(READ_TAIL);
    f.seek(SeekFrom::Start(start)).map_err(err)?;
    let mut text = String::new();
    f.take(READ_TAIL).read_to_string(&mut text).map_err(err)?;
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // partial first line
    }
    let records: Vec<Access> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let skip = records.len().saturating_sub(limit);
    Ok(records.into_iter().skip(skip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn records_append_and_read_back_newest_last() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            record(
                dir.path(),
                "alice",
                "auditor",
                "export",
                &format!("thing {i}"),
            )
            .unwrap();
        }
        let all = read(dir.path(), 3).unwrap();
        assert_eq!(
            all.iter().map(|a| a.what.as_str()).collect::<Vec<_>>(),
            ["thing 2", "thing 3", "thing 4"]
        );
        assert_eq!(all[0].who, "alice");
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert_eq!(text.lines().count(), 5);
    }
}
