//! A snapshot prepared as the collector stops, for the command line to sign.
//!
//! Why: with no collector serving, `snapshot create` has no kept evaluation
//! to freeze and evaluates every catalog itself: at 10,000 hosts most of a
//! minute and gigabytes of memory, where a serving collector's snapshot
//! takes a second or two. An operator who stops the collector (an upgrade,
//! a maintenance window) and then freezes the verdicts for an audit should
//! not pay that. So a collector that stops cleanly evaluates once more,
//! writes that evaluation's host parts as a snapshot would, and leaves the
//! rest of the body, unsigned, in [`FILE`]. The command line signs it only
//! while it is what an evaluation made then would give ([`why_not`]):
//! - the store's change counter has not moved: no evidence, document, mark
//!   or agent was written since, by any collector;
//! - its verdicts still stand (`Kept::stands_until`): before the next
//!   instant time alone changes what it read, and within `verdicts.refresh`
//!   (rules that read the time), as a serving collector's kept evaluation;
//! - the same collector, the same program (its executable's SHA-256) and
//!   the same catalogs and expectations judge;
//! - every index and host part it names is still in `objects/`.
//!
//! Otherwise it evaluates, as before, and says why. The snapshot says when
//! its verdicts were evaluated (`evaluatedAt`), as a serving collector's
//! does. Nothing here is signed: a prepared body is only ever a snapshot
//! once the command line has checked it and chained it to the newest.

use super::contents::{CatalogVersion, DocumentEvidence, IndexEntry};
use crate::checklists::Checklists;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The prepared body, in the data directory.
pub const FILE: &str = "snapshot-prepared.json";

/// Its format tag.
pub const FORMAT: &str = "gamsa-snapshot-prepared/1";

/// A snapshot's body but for what signing adds (sequence, previous,
/// creation time, who took it, the key), with what says whether it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Prepared {
    pub format: String,
    /// The collector that evaluated.
    pub collector: String,
    /// The program and checklists that judged ([`judge`]).
    pub judge: String,
    /// The store's change counter the evaluation includes, unchanged when
    /// the parts were written.
    pub counter: i64,
    /// When the verdicts were evaluated (RFC 3339).
    pub evaluated_at: String,
    /// Until when, in Unix ms, they stand with no write.
    pub stands_until_ms: i64,
    pub catalogs: Vec<CatalogVersion>,
    pub items: Vec<serde_json::Value>,
    pub host_index: Vec<IndexEntry>,
    pub documents: DocumentEvidence,
}

impl Prepared {
    /// Writes it whole or not at all (a stop cut short leaves none).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// The prepared body at `path`: none when there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let p: Self =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if p.format != FORMAT {
            return Err(format!("{}: format {:?} unknown", path.display(), p.format));
        }
        Ok(Some(p))
    }
}

/// What would judge now: the collector, [`judge`], the store's counter and
/// the time.
pub struct Now<'a> {
    pub collector: &'a str,
    pub judge: &'a str,
    pub counter: i64,
    pub ms: i64,
}

/// Why `p` is not what an evaluation made then would give; None when it is.
pub fn why_not(p: &Prepared, now: &Now) -> Option<String> {
    if p.collector != now.collector {
        return Some(format!(
            "it was prepared by collector {:?}, not {:?}",
            p.collector, now.collector
        ));
    }
    if p.judge != now.judge {
        return Some("the program, catalogs or expectations changed since".into());
    }
    if p.counter != now.counter {
        return Some(format!(
            "the store changed since (change counter {} then, {} now)",
            p.counter, now.counter
        ));
    }
    let Ok(evaluated) = chrono::DateTime::parse_from_rfc3339(&p.evaluated_at) else {
        return Some(format!(
            "its evaluatedAt {:?} is not a time",
            p.evaluated_at
        ));
    };
    if now.ms < evaluated.timestamp_millis() {
        return Some(format!(
            "the clock is before {}, when its verdicts were evaluated",
            p.evaluated_at
        ));
    }
    if now.ms >= p.stands_until_ms {
        let until = chrono::DateTime::from_timestamp_millis(p.stands_until_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        return Some(format!(
            "its verdicts, evaluated at {}, stood only until {until}",
            p.evaluated_at
        ));
    }
    None
}

/// The SHA-256 of what judges: this program's executable, the catalogs
/// and the expectations (the rules are built into the program).
pub fn judge(checklists: &Checklists) -> std::io::Result<String> {
    let mut h = Sha256::new();
    // The running program's own file, even if replaced on disk since.
    let mut exe = std::fs::File::open("/proc/self/exe")
        .or_else(|_| std::fs::File::open(std::env::current_exe()?))?;
    std::io::copy(&mut exe, &mut h)?;
    h.update(serde_json::to_vec(&checklists.catalogs)?);
    h.update(format!("{:?}", checklists.expectations));
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared() -> Prepared {
        Prepared {
            format: FORMAT.into(),
            collector: "c1".into(),
            judge: "j".into(),
            counter: 7,
            evaluated_at: "2026-12-07T00:00:00.000Z".into(),
            stands_until_ms: 1_000,
            catalogs: vec![],
            items: vec![],
            host_index: vec![],
            documents: DocumentEvidence {
                attestations: vec![],
                na_marks: vec![],
            },
        }
    }

    #[test]
    fn signed_only_while_nothing_that_judges_changed() {
        let p = prepared();
        let now = |collector, judge, counter, ms| Now {
            collector,
            judge,
            counter,
            ms,
        };
        let at = 1_796_601_600_000; // 2026-12-07T00:00:00Z, `evaluated_at`
        let p = Prepared {
            stands_until_ms: at + 1_000,
            ..p
        };
        assert_eq!(why_not(&p, &now("c1", "j", 7, at + 999)), None);
        assert_eq!(why_not(&p, &now("c1", "j", 7, at)), None);
        let why = |n: Now| why_not(&p, &n).unwrap_or_default();
        assert!(why(now("c2", "j", 7, at)).contains("collector \"c1\""));
        assert!(why(now("c1", "k", 7, at)).contains("program, catalogs"));
        assert!(why(now("c1", "j", 8, at)).contains("counter 7 then, 8 now"));
        assert!(why(now("c1", "j", 7, at + 1_000)).contains("stood only until"));
        assert!(why(now("c1", "j", 7, at - 1)).contains("the clock is before"));
        let garbled = Prepared {
            evaluated_at: "yesterday".into(),
            ..p.clone()
        };
        let why = why_not(&garbled, &now("c1", "j", 7, at)).unwrap_or_default();
        assert!(
            why.contains("evaluatedAt \"yesterday\" is not a time"),
            "{why}"
        );
    }

    #[test]
    fn written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(Prepared::read(&path).unwrap().is_none());
        prepared().write(&path).unwrap();
        let back = Prepared::read(&path).unwrap().unwrap();
        assert_eq!((back.counter, back.stands_until_ms), (7, 1_000));
        std::fs::write(&path, b"{\"format\":").unwrap();
        let err = Prepared::read(&path).unwrap_err();
        assert!(err.contains(FILE), "{err}");
    }
}
