//! `pgbackrest` sources: a stanza's backups (`pgbackrest info
//! --output=json`); the newest backup without errors is the last success.
//! Each repository (repo1, repo2, ...) is a location of copies. pgBackRest
//! records no restore in its repository; its restore log does (`restore`).

use super::history::{self, Run};
use super::{timestamp, Copy, Found};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct PgStanza {
    name: String,
    status: PgStatus,
    #[serde(default)]
    backup: Vec<PgBackup>,
    #[serde(default)]
    repo: Vec<PgRepo>,
}

#[derive(Debug, Deserialize)]
struct PgStatus {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct PgRepo {
    key: u32,
    status: PgStatus,
}

#[derive(Debug, Deserialize)]
struct PgBackup {
    label: String,
    /// True when the backup found page checksum errors (pgBackRest ≥ 2.36).
    #[serde(default)]
    error: Option<bool>,
    timestamp: PgTimes,
    #[serde(default)]
    info: Option<PgInfo>,
    #[serde(default)]
    database: Option<PgDatabase>,
    #[serde(default, rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct PgTimes {
    start: i64,
    stop: i64,
}

#[derive(Debug, Deserialize)]
struct PgInfo {
    /// Size of the database the backup restores.
    #[serde(default)]
    size: u64,
}

#[derive(Debug, Deserialize)]
struct PgDatabase {
    #[serde(rename = "repo-key", default = "first_repo")]
    repo_key: u32,
}

fn first_repo() -> u32 {
    1
}

/// pgBackRest stanza status "no valid backups": the stanza exists, empty.
const PG_NO_BACKUPS: i64 = 2;

/// `pgbackrest info --output=json`: the stanza's newest backup without
/// errors, its backups as runs and its repositories as locations. Status
/// "ok" or "no valid backups" is observed; any other status (missing
/// stanza, repository unreadable, ...) means it cannot be read, unless
/// another repository answers ("mixed": that repository's copy has the
/// error).
pub(super) fn info(json: &[u8], stanza: &str, max_runs: usize) -> Result<Found, String> {
    let stanzas: Vec<PgStanza> =
        serde_json::from_slice(json).map_err(|e| format!("pgbackrest info JSON: {e}"))?;
    let names: Vec<&str> = stanzas.iter().map(|s| s.name.as_str()).collect();
    let st = match (stanza, stanzas.as_slice()) {
        ("", [only]) => only,
        ("", _) => {
            return Err(format!(
                "pgbackrest reports stanzas {names:?}: set `stanza`"
            ))
        }
        (want, all) => all
            .iter()
            .find(|s| s.name == want)
            .ok_or_else(|| format!("pgbackrest has no stanza {want:?} (has {names:?})"))?,
    };
    let readable = |code| code == 0 || code == PG_NO_BACKUPS;
    if !readable(st.status.code) && !st.repo.iter().any(|r| readable(r.status.code)) {
        return Err(format!(
            "pgbackrest stanza {}: status {} {}",
            st.name, st.status.code, st.status.message
        ));
    }
    let mut found = Found {
        count: st.backup.len() as u64,
        ..Found::default()
    };
    for r in &st.repo {
        found.copies.push(Copy {
            location: format!("repo{}", r.key),
            error: if readable(r.status.code) {
                String::new()
            } else {
                format!("status {} {}", r.status.code, r.status.message)
            },
            ..Copy::default()
        });
    }
    for b in &st.backup {
        let (Some(start), Some(stop)) = (
            history::from_unix(b.timestamp.start),
            history::from_unix(b.timestamp.stop),
        ) else {
            return Err(format!(
                "pgbackrest backup {}: times {}-{}",
                b.label, b.timestamp.start, b.timestamp.stop
            ));
        };
        let ok = b.error != Some(true);
        let repo = b.database.as_ref().map_or(1, |d| d.repo_key);
        found.runs.push(Run {
            name: b.label.clone(),
            started: start,
            finished: Some(stop),
            ok,
            detail: format!(
                "{} repo{repo}{}",
                b.kind,
                if ok { "" } else { ": page checksum errors" }
            ),
        });
        if !ok {
            continue;
        }
        if let Some(c) = found
            .copies
            .iter_mut()
            .find(|c| c.location == format!("repo{repo}"))
        {
            c.add(stop);
        }
        if found.last_success.is_none_or(|t| stop >= t) {
            found.last_success = Some(stop);
            found.newest_modified = Some(timestamp(stop));
            found.newest = b.label.clone();
            found.size_bytes = b.info.as_ref().map_or(0, |i| i.size);
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
        assert!(info(b"{}", "", 10).is_err());
    }
}
