//! `restic` sources: the repository's snapshots (`restic snapshots --json`);
//! every snapshot is a finished backup, the newest is the last success.
//! restic records no failed run: a failure shows only as a missing snapshot.

use super::history::{self, Run};
use super::{rfc3339, timestamp, Found};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ResticSnapshot {
    time: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    summary: Option<ResticSummary>,
}

/// Present from restic 0.17 on.
#[derive(Debug, Deserialize)]
struct ResticSummary {
    #[serde(default)]
    total_bytes_processed: u64,
    #[serde(default)]
    backup_end: String,
}

/// `restic snapshots --json`: every snapshot is a finished backup; the
/// newest `max_runs` are kept as runs.
pub(super) fn snapshots(json: &[u8], max_runs: usize) -> Result<Found, String> {
    let snapshots: Vec<ResticSnapshot> =
        serde_json::from_slice(json).map_err(|e| format!("restic snapshots JSON: {e}"))?;
    let mut found = Found {
        count: snapshots.len() as u64,
        ..Found::default()
    };
    for snap in &snapshots {
        let time = rfc3339(&snap.time)
            .ok_or_else(|| format!("restic snapshot {}: time {:?}", snap.id, snap.time))?;
        let mut run = Run::ok_at(snap.id.get(..8).unwrap_or(&snap.id), time);
        run.finished = snap.summary.as_ref().and_then(|s| rfc3339(&s.backup_end));
        found.runs.push(run);
        if found.last_success.is_none_or(|t| time > t) {
            found.last_success = Some(time);
            found.newest_modified = Some(timestamp(time));
            found.newest = snap.id.clone();
            found.size_bytes = snap.summary.as_ref().map_or(0, |s| s.total_bytes_processed);
        }
    }
    found.capped = history::cap(&mut found.runs, max_runs);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparseable_output_is_an_error_not_an_empty_source() {
        assert!(snapshots(b"not json", 10).is_err());
        assert!(snapshots(br#"[{"time":"yesterday","id":"x"}]"#, 10).is_err());
        assert_eq!(snapshots(b"[]", 10).unwrap().count, 0);
    }
}
