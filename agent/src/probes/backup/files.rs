//! `files` sources: backups that are files matching a glob (dumps, tarballs,
//! snapshots copied to a mount). The newest modification time is the last
//! successful backup; the newest file is hashed when small enough.
//!
//! Every matching file is a run (at its modification time): files record
//! no failure.
//!
//! The directory before the first wildcard must exist: a missing mount means
//! the source cannot be read, which is not the same as holding no backup.

use super::history::{self, Run};
use super::{BackupSource, Found};
use crate::probes::ProbeContext;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::time::SystemTime;

/// Most files a glob may match before the walk stops.
const MAX_MATCHES: usize = 100_000;

/// The directory before the glob's first wildcard: it must exist, or the
/// source cannot be read (as opposed to holding no backup).
fn literal_dir(pattern: &Path) -> std::path::PathBuf {
    let mut dir = std::path::PathBuf::new();
    for c in pattern.parent().unwrap_or(Path::new("/")).components() {
        if c.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        dir.push(c);
    }
    dir
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The newest file the source's glob matches, its size and SHA-256, how
/// many match, and the newest `max_runs` as runs.
pub(super) fn newest(
    ctx: &ProbeContext,
    s: &BackupSource,
    max_runs: usize,
) -> Result<Found, String> {
    let root = ctx.host_root.to_string_lossy();
    let pattern = format!(
        "{}/{}",
        glob::Pattern::escape(root.trim_end_matches('/')),
        s.path.trim_start_matches('/')
    );
    let dir = literal_dir(&ctx.host_path(&s.path));
    std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let matches = glob::glob(&pattern).map_err(|e| format!("path {:?}: {e}", s.path))?;
    let mut found = Found::default();
    let mut newest: Option<(SystemTime, std::path::PathBuf, u64)> = None;
    for entry in matches.take(MAX_MATCHES) {
        let path = entry.map_err(|e| e.to_string())?;
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => continue,
            // Removed between listing and reading (rotation): not an error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        found.count += 1;
        let modified = meta
            .modified()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let shown = path.strip_prefix(&ctx.host_root).unwrap_or(&path);
        found.runs.push(Run::ok_at(
            Path::new("/").join(shown).display().to_string(),
            DateTime::<Utc>::from(modified),
        ));
        // Bounded as it goes: the newest `max_runs` are what is kept.
        if found.runs.len() > 2 * max_runs {
            found.capped |= history::cap(&mut found.runs, max_runs);
        }
        if newest.as_ref().is_none_or(|(t, _, _)| modified > *t) {
            newest = Some((modified, path, meta.len()));
        }
    }
    if let Some((modified, path, size)) = newest {
        if size <= s.hash_limit {
            found.sha256 = sha256_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let shown = path.strip_prefix(&ctx.host_root).unwrap_or(&path);
        found.newest = Path::new("/").join(shown).display().to_string();
        found.newest_modified = Some(crate::evidence::timestamp(modified));
        found.last_success = Some(DateTime::<Utc>::from(modified));
        found.size_bytes = size;
    }
    found.capped |= history::cap(&mut found.runs, max_runs);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_dir_stops_at_the_first_wildcard() {
        assert_eq!(
            literal_dir(Path::new("/backup/db/*.sql.gz")),
            Path::new("/backup/db")
        );
        assert_eq!(
            literal_dir(Path::new("/backup/2025-*/full/*.tar")),
            Path::new("/backup")
        );
        assert_eq!(
            literal_dir(Path::new("/srv/b/dump.sql")),
            Path::new("/srv/b")
        );
    }
}
