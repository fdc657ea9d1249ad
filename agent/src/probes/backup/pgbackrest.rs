//! `pgbackrest` sources: a stanza's backups (`pgbackrest info
//! --output=json`); the newest backup without errors is the last success.

use super::{timestamp, Found};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct PgStanza {
    name: String,
    status: PgStatus,
    #[serde(default)]
    backup: Vec<PgBackup>,
}

#[derive(Debug, Deserialize)]
struct PgStatus {
    code: i64,
    #[serde(default)]
    message: String,
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
}

#[derive(Debug, Deserialize)]
struct PgTimes {
    stop: i64,
}

#[derive(Debug, Deserialize)]
struct PgInfo {
    /// Size of the database the backup restores.
    #[serde(default)]
    size: u64,
}

/// pgBackRest stanza status "no valid backups": the stanza exists, empty.
const PG_NO_BACKUPS: i64 = 2;

/// `pgbackrest info --output=json`: the stanza's newest backup without
/// errors. Status "ok" or "no valid backups" is observed; any other status
/// (missing stanza, repository unreadable, ...) means it cannot be read.
pub(super) fn info(json: &[u8], stanza: &str) -> Result<Found, String> {
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
    if st.status.code != 0 && st.status.code != PG_NO_BACKUPS {
        return Err(format!(
            "pgbackrest stanza {}: status {} {}",
            st.name, st.status.code, st.status.message
        ));
    }
    let mut found = Found {
        count: st.backup.len() as u64,
        ..Found::default()
    };
    for b in st.backup.iter().filter(|b| b.error != Some(true)) {
        let Some(stop) = DateTime::<Utc>::from_timestamp(b.timestamp.stop, 0) else {
            return Err(format!(
                "pgbackrest backup {}: stop time {}",
                b.label, b.timestamp.stop
            ));
        };
        if found.last_success.is_none_or(|t| stop >= t) {
            found.last_success = Some(stop);
            found.newest_modified = Some(timestamp(stop));
            found.newest = b.label.clone();
            found.size_bytes = b.info.as_ref().map_or(0, |i| i.size);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparseable_output_is_an_error_not_an_empty_source() {
        assert!(info(b"{}", "").is_err());
    }
}
