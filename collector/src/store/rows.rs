//! Stored rows ↔ the store's record types, once for both backends.
//!
//! Each backend speaks its own SQL, but a column means the same in both:
//! evidence is its protobuf encoding beside the columns it is queried by,
//! lists and documents are JSON text, times are Unix milliseconds. A backend
//! only says how to read a column of its row type ([`Columns`]); what a
//! record is made of is written here.
//!
//! Evidence is stored deduplicated ([`Stored`]): an evidence's *content* is
//! everything an agent observed — agent, host, probe, subject, status, error
//! and payload — that is, the evidence without its `id` and `observedAt`,
//! the two fields that differ from one observation to the next. The content
//! is kept once per distinct value in `evidence_bodies`, by the SHA-256 of
//! its protobuf encoding (prost writes fields in number order and maps, kept
//! as `BTreeMap`s, in key order: equal content, equal bytes); each
//! observation is an `evidence` row with its id, its columns, a reference to
//! the content and, as its own `body`, the encoding of `observedAt` alone.
//! The evidence is the two encodings read one after the other (protobuf
//! merges them), with the row's id. Rows written before deduplication keep
//! the whole evidence in `body` and no reference, and read as before.
//!
//! A row stands for a run of observations of its content (`runs.rs`). While
//! the row is the latest of its (host, probe, subject), the run's last
//! observation is `latest.observed_ms`, and only that small row moves at
//! each observation seen again; the row's own `last_ms` is written when the
//! run ends (a newer row takes its place in `latest`, or the run is extended
//! after it was replaced). Moving both at every observation cost PostgreSQL
//! a new version of the evidence row each time, of which about a fifth did
//! not fit their page and took new index entries: about 50 bytes an
//! observation. So the run's last observation is read as
//! [`LAST`]: the latest row's time when there is one, else `last_ms`
//! (NULL in rows stored before runs). When later than the first, the row
//! reads back with `observedAt` at that last observation, what freshness is
//! judged by, and `firstObservedAt` at the first.

use super::{AgentRecord, Result, StoreError, TokenInfo, TokenKind, TokenRecord, User};
use crate::records::FindingKey;
use gamsa_proto::v1::Evidence;
use prost::Message;
use std::collections::BTreeSet;

/// A value either database reads from a column: text, integers, bytes,
/// booleans (SQLite keeps them as 0 or 1), and any of them or NULL.
pub(super) trait Value:
    rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Value for T where
    T: rusqlite::types::FromSql
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

/// One result row, read by column name.
pub(super) trait Columns {
    fn column<T: Value>(&self, name: &str) -> Result<T>;
}

/// Milliseconds since the epoch of when the evidence was observed, the
/// column it is ordered by; saturating, since an agent may send any
/// `seconds` (an overflow the `ingest_decode` fuzz target found).
pub fn observed_ms(ev: &Evidence) -> i64 {
    ev.observed_at
        .as_ref()
        .map(|t| {
            t.seconds
                .saturating_mul(1000)
                .saturating_add(i64::from(t.nanos) / 1_000_000)
        })
        .unwrap_or(0)
}

/// An evidence ready for the store: its content's encoding and hash, and
/// what is its own (module documentation). Made by the caller of
/// `insert_batch`, before the batch is queued for the writer.
pub(super) struct Stored {
    /// The evidence, for the columns it is queried by (`id`, `host`, …).
    pub ev: Evidence,
    /// The evidence without `id` and `observedAt`, protobuf-encoded.
    pub content: Vec<u8>,
    /// SHA-256 of `content`.
    pub hash: Vec<u8>,
    /// The evidence with nothing but `observedAt`, protobuf-encoded: the
    /// `body` of its row.
    pub observed: Vec<u8>,
}

impl Stored {
    pub fn new(mut ev: Evidence) -> Self {
        use sha2::Digest;
        let id = std::mem::take(&mut ev.id);
        let observed_at = ev.observed_at.take();
        let content = ev.encode_to_vec();
        let observed = Evidence {
            observed_at,
            ..Default::default()
        }
        .encode_to_vec();
        ev.id = id;
        ev.observed_at = observed_at;
        Self {
            hash: sha2::Sha256::digest(&content).to_vec(),
            ev,
            content,
            observed,
        }
    }
}

/// Evidence from its `id`, `body` and `last_ms` columns and its `content`
/// (the referenced body; NULL for rows stored whole, before deduplication).
pub(super) fn evidence(row: &impl Columns) -> Result<Evidence> {
    let (ev, _) = decoded(row, |encodings| {
        let mut ev = Evidence::default();
        for e in encodings {
            ev.merge(*e)?;
        }
        Ok::<_, prost::DecodeError>((ev, Vec::new()))
    })?;
    Ok(ev)
}

/// As [`evidence`], its payload left encoded (`gamsa_proto::split`).
pub(super) fn split(row: &impl Columns) -> Result<(Evidence, Vec<u8>)> {
    decoded(row, |encodings| {
        let s = gamsa_proto::split::split(encodings)?;
        Ok::<_, gamsa_proto::split::SplitError>((s.evidence, s.payload))
    })
}

/// What `decode` makes of a row's encodings (its content, then its body),
/// with the row's id and run (`in_run`).
fn decoded<E: std::fmt::Display>(
    row: &impl Columns,
    decode: impl FnOnce(&[&[u8]]) -> std::result::Result<(Evidence, Vec<u8>), E>,
) -> Result<(Evidence, Vec<u8>)> {
    let id: String = row.column("id")?;
    let body: Vec<u8> = row.column("body")?;
    let last_ms: Option<i64> = row.column("last_ms")?;
    let content: Option<Vec<u8>> = row.column("content")?;
    let encodings: Vec<&[u8]> = content.iter().chain([&body]).map(Vec::as_slice).collect();
    let (mut ev, payload) = decode(&encodings).map_err(|e| StoreError::Corrupt {
        id: id.clone(),
        message: e.to_string(),
    })?;
    ev.id = id;
    in_run(&mut ev, last_ms);
    Ok((ev, payload))
}

/// `ev` as the run of observations ending at `last_ms` (store/runs.rs):
/// observed last then, first at its own time.
fn in_run(ev: &mut Evidence, last_ms: Option<i64>) {
    if let Some(last) = last_ms.filter(|last| *last > observed_ms(ev)) {
        ev.first_observed_at = ev.observed_at.take();
        ev.observed_at = Some(gamsa_proto::Timestamp::from_unix_millis(last));
    }
}

/// Joins the latest row `l` of an evidence `e`, where it is the latest of
/// its key (through `latest`'s primary key).
macro_rules! latest_of_e {
    () => {
        "LEFT JOIN latest l ON l.host = e.host AND l.probe = e.probe \
         AND l.subject = e.subject AND l.evidence_seq = e.seq"
    };
}
pub(super) const LATEST_OF_E: &str = latest_of_e!();

/// Where evidence is read from: each row `e` with the body `b` it
/// references, if any, and its latest row `l`, if it is the latest.
pub(super) const EVIDENCE_FROM: &str = concat!(
    "evidence e LEFT JOIN evidence_bodies b ON b.seq = e.body_seq ",
    latest_of_e!()
);

/// Where the latest set is read from: each latest row `l`, its evidence
/// `e` and the body `b` it references.
pub(super) const LATEST_FROM: &str =
    "latest l JOIN evidence e ON e.seq = l.evidence_seq LEFT JOIN evidence_bodies b ON b.seq = e.body_seq";

/// The last observation of an evidence's run (module documentation), of
/// [`EVIDENCE_FROM`] or [`LATEST_FROM`].
macro_rules! last {
    () => {
        "coalesce(l.observed_ms, e.last_ms)"
    };
}
pub(super) const LAST: &str = last!();

/// The columns [`evidence`] reads, of [`EVIDENCE_FROM`] or [`LATEST_FROM`].
pub(super) const EVIDENCE: &str =
    concat!("e.id, e.body, ", last!(), " AS last_ms, b.body AS content");

/// The columns [`stamp`] reads, of [`EVIDENCE_FROM`] or [`LATEST_FROM`].
pub(super) const STAMP: &str = concat!(
    "e.id, e.body, ",
    last!(),
    " AS last_ms, b.hash AS content_hash"
);

/// An evidence's id, times and content hash from its `id`, `body`,
/// `last_ms` and `content_hash` columns, without its content (a row stored
/// whole has it in `body`, and no hash).
pub(super) fn stamp(row: &impl Columns) -> Result<super::EvidenceStamp> {
    let id: String = row.column("id")?;
    let body: Vec<u8> = row.column("body")?;
    let last_ms: Option<i64> = row.column("last_ms")?;
    let content_hash: Option<Vec<u8>> = row.column("content_hash")?;
    let mut ev = Evidence::decode(body.as_slice()).map_err(|e| StoreError::Corrupt {
        id: id.clone(),
        message: e.to_string(),
    })?;
    ev.id = id;
    in_run(&mut ev, last_ms);
    Ok(super::EvidenceStamp {
        evidence: ev,
        content_hash,
    })
}

/// The columns [`stamped`] reads, of [`LATEST_FROM`]: [`EVIDENCE`] and
/// [`STAMP`] together.
pub(super) const STAMPED: &str = concat!(
    "e.id, e.body, ",
    last!(),
    " AS last_ms, b.body AS content, b.hash AS content_hash"
);

/// An evidence read with its payload left encoded ([`split`]) and its
/// stamp ([`stamp`]), from one row.
pub(super) fn stamped(row: &impl Columns) -> Result<super::Stamped> {
    let (evidence, payload) = split(row)?;
    Ok(super::Stamped {
        evidence,
        payload,
        stamp: stamp(row)?,
    })
}

/// The columns [`latest_stamp`] reads, of [`LATEST_FROM`].
pub(super) const LATEST_STAMP: &str = concat!(
    "l.host, l.probe, l.subject, e.id, e.body, ",
    last!(),
    " AS last_ms, b.hash AS content_hash"
);

/// One of the latest set's keys (`host`, `probe`, `subject`) and its
/// evidence's stamp ([`stamp`]).
pub(super) fn latest_stamp(row: &impl Columns) -> Result<super::LatestStamp> {
    Ok(super::LatestStamp {
        key: super::LatestKey {
            host: row.column("host")?,
            probe: row.column("probe")?,
            subject: row.column("subject")?,
        },
        stamp: stamp(row)?,
    })
}

/// The columns [`agent`] reads, in both stores: every one but the agent's
/// certificate, which only enrolment checks read (about 1.5 KB an agent).
pub(super) const AGENT_COLUMNS: &str =
    "agent_id, host, version, os, kernel, capabilities, labels, first_seen, last_seen, peer, revoked";

pub(super) fn agent(row: &impl Columns) -> Result<AgentRecord> {
    Ok(AgentRecord {
        agent_id: row.column("agent_id")?,
        host: row.column("host")?,
        version: row.column("version")?,
        os: row.column("os")?,
        kernel: row.column("kernel")?,
        capabilities: serde_json::from_str(&row.column::<String>("capabilities")?)
            .unwrap_or_default(),
        labels: serde_json::from_str(&row.column::<String>("labels")?).unwrap_or_default(),
        first_seen_ms: row.column("first_seen")?,
        last_seen_ms: row.column("last_seen")?,
        peer: row.column("peer")?,
        revoked: row.column("revoked")?,
    })
}

pub(super) fn user(row: &impl Columns) -> Result<User> {
    Ok(User {
        name: row.column("name")?,
        role: row.column("role")?,
        password_hash: row.column("password_hash")?,
    })
}

/// A token of `kind` from its `name`, `role`, `expires_ms` and `max_uses`.
pub(super) fn token(kind: TokenKind, row: &impl Columns) -> Result<TokenRecord> {
    let max_uses: i64 = row.column("max_uses")?;
    Ok(TokenRecord {
        kind,
        name: row.column("name")?,
        role: row.column("role")?,
        expires_at_ms: row.column("expires_ms")?,
        max_uses: u32::try_from(max_uses)
            .map_err(|_| StoreError::Db(format!("tokens: max_uses {max_uses} out of range")))?,
    })
}

/// A listed token from its `hash`, `kind`, `name`, `role`, `created_ms`,
/// `expires_ms`, `max_uses`, `uses` and `last_used_ms`.
pub(super) fn token_info(row: &impl Columns) -> Result<TokenInfo> {
    let count = |column: &str| -> Result<u32> {
        let n: i64 = row.column(column)?;
        u32::try_from(n).map_err(|_| StoreError::Db(format!("tokens: {column} {n} out of range")))
    };
    let kind = match row.column::<String>("kind")?.as_str() {
        "enrol" => TokenKind::Enrol,
        "api" => TokenKind::Api,
        "session" => TokenKind::Session,
        other => return Err(StoreError::Db(format!("tokens: unknown kind {other:?}"))),
    };
    Ok(TokenInfo {
        hash: row.column("hash")?,
        kind,
        name: row.column("name")?,
        role: row.column("role")?,
        created_ms: row.column("created_ms")?,
        expires_at_ms: row.column("expires_ms")?,
        max_uses: count("max_uses")?,
        uses: count("uses")?,
        last_used_ms: row.column("last_used_ms")?,
    })
}

/// A document (attestation, NA mark, access record) from its JSON `body`
/// in `table`.
pub(super) fn from_json<T: serde::de::DeserializeOwned>(table: &str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|e| StoreError::Db(format!("{table}: {e}")))
}

/// The JSON text a document or list is stored as.
pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Db(e.to_string()))
}

/// A finding's key from its columns (`check_name` is the check).
pub(super) fn finding_key(row: &impl Columns) -> Result<FindingKey> {
    Ok(FindingKey {
        host: row.column("host")?,
        catalog: row.column("catalog")?,
        item: row.column("item")?,
        check: row.column("check_name")?,
    })
}

/// A finding record from its key columns (`check_name` is the check) and
/// its `first_seen_ms`, `last_seen_ms` and `fixed_ms`.
pub(super) fn finding(row: &impl Columns) -> Result<crate::records::FindingRecord> {
    Ok(crate::records::FindingRecord {
        key: finding_key(row)?,
        first_seen_ms: row.column("first_seen_ms")?,
        last_seen_ms: row.column("last_seen_ms")?,
        fixed_ms: row.column("fixed_ms")?,
    })
}

/// The rows one assessment writes in the findings history. An open finding
/// seen failing at the last assessment keeps `last_seen_ms` NULL (read as
/// that assessment's time), so a finding failing at every assessment costs
/// no write; only what changed is written.
#[derive(Debug, Default, PartialEq)]
pub(super) struct AssessmentWrites {
    /// Failing, nothing open: a new record, seen now.
    pub opened: Vec<FindingKey>,
    /// Failing and open, not seen at the last assessment: seen now.
    pub resumed: Vec<FindingKey>,
    /// Open and seen at the last assessment, now not told: last seen then.
    pub unseen: Vec<FindingKey>,
    /// Open and passing: fixed now.
    pub fixed: Vec<FindingKey>,
}

impl AssessmentWrites {
    /// Each list of keys with the statement that writes it, and whether the
    /// statement takes the assessment's time (bound after the key). A store
    /// says how it inserts a key's finding seen at `time` (`insert`), how
    /// it names that time, and how it updates the open finding of a key
    /// (`update_open`, setting what it is given).
    pub(super) fn statements(
        &self,
        insert: &str,
        time: &str,
        update_open: impl Fn(&str) -> String,
    ) -> [(&[FindingKey], String, bool); 4] {
        // The last assessment's time: when the findings it saw and this
        // one does not (or fixes) were last seen.
        let last = "(SELECT last_ms FROM assessments WHERE id = 1)";
        [
            (&self.opened, insert.to_string(), true),
            (&self.resumed, update_open("last_seen_ms = NULL"), false),
            (
                &self.unseen,
                update_open(&format!("last_seen_ms = {last}")),
                false,
            ),
            (
                &self.fixed,
                update_open(&format!(
                    "fixed_ms = {time}, last_seen_ms = coalesce(last_seen_ms, {last})"
                )),
                true,
            ),
        ]
    }
}

/// What an assessment naming `failing` and `fixed` writes, given the
/// findings open before it, each with whether it was seen failing at the
/// last assessment.
pub(super) fn assessment_writes(
    open: impl IntoIterator<Item = (FindingKey, bool)>,
    failing: Vec<FindingKey>,
    fixed: Vec<FindingKey>,
) -> AssessmentWrites {
    let mut open: std::collections::HashMap<FindingKey, bool> = open.into_iter().collect();
    let mut w = AssessmentWrites::default();
    let failing: BTreeSet<FindingKey> = failing.into_iter().collect();
    for k in &failing {
        match open.remove(k) {
            None => w.opened.push(k.clone()),
            Some(false) => w.resumed.push(k.clone()),
            Some(true) => {}
        }
    }
    let fixed: BTreeSet<FindingKey> = fixed.into_iter().collect();
    for k in fixed {
        if open.remove(&k).is_some() {
            w.fixed.push(k);
        }
    }
    w.unseen = open
        .into_iter()
        .filter_map(|(k, seen)| seen.then_some(k))
        .collect();
    w.unseen.sort();
    w
}

/// Key columns of a list of finding keys: hosts, catalogs, items, checks.
pub(super) fn key_columns(keys: &[FindingKey]) -> [Vec<String>; 4] {
    let mut out: [Vec<String>; 4] = Default::default();
    for k in keys {
        out[0].push(k.host.clone());
        out[1].push(k.catalog.clone());
        out[2].push(k.item.clone());
        out[3].push(k.check.clone());
    }
    out
}

/// A maintenance window from its columns (`by_whom` is `by`).
pub(super) fn maintenance(row: &impl Columns) -> Result<crate::records::MaintenanceWindow> {
    Ok(crate::records::MaintenanceWindow {
        id: row.column("id")?,
        service: row.column("service")?,
        start_ms: row.column("start_ms")?,
        end_ms: row.column("end_ms")?,
        reason: row.column("reason")?,
        by: row.column("by_whom")?,
        created_ms: row.column("created_ms")?,
    })
}

/// The assessment times from `first_ms`, `previous_ms` and `last_ms`.
pub(super) fn assessment_times(row: &impl Columns) -> Result<crate::records::AssessmentTimes> {
    Ok(crate::records::AssessmentTimes {
        first_ms: row.column("first_ms")?,
        previous_ms: row.column("previous_ms")?,
        last_ms: row.column("last_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(host: &str) -> FindingKey {
        FindingKey {
            host: host.into(),
            catalog: "kisa-unix".into(),
            item: "U-01".into(),
            check: "rule".into(),
        }
    }

    #[test]
    fn an_assessment_writes_only_the_findings_that_changed() {
        // a: seen last time, failing again. b: not seen last time, failing
        // again. c: seen last time, not told now. d: not seen, not told.
        // e: seen, passing. f: new.
        let open = [
            (key("a"), true),
            (key("b"), false),
            (key("c"), true),
            (key("d"), false),
            (key("e"), true),
        ];
        let w = assessment_writes(
            open,
            vec![key("f"), key("a"), key("b")],
            vec![key("e"), key("g")],
        );
        assert_eq!(
            w,
            AssessmentWrites {
                opened: vec![key("f")],
                resumed: vec![key("b")],
                unseen: vec![key("c")],
                fixed: vec![key("e")],
            }
        );
    }

    #[test]
    fn content_leaves_out_only_the_id_and_the_time_and_does_not_depend_on_map_order() {
        let ev = |id: &str, seconds, labels: &[(&str, &str)]| Evidence {
            id: id.into(),
            agent_id: "web-1".into(),
            host: "web-1".into(),
            probe: "host".into(),
            observed_at: Some(gamsa_proto::Timestamp {
                seconds,
                nanos: 123_456_789,
            }),
            payload: Some(gamsa_proto::v1::evidence::Payload::HostInfo(
                gamsa_proto::v1::HostInfo {
                    labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let labels = [("role", "db"), ("zone", "a"), ("env", "prod")];
        let mut reversed = labels;
        reversed.reverse();
        let a = Stored::new(ev("a", 1, &labels));
        let b = Stored::new(ev("b", 2, &reversed));
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.content, b.content);
        assert_ne!(a.observed, b.observed);
        let c = Stored::new(ev("c", 2, &labels[..2]));
        assert_ne!(a.hash, c.hash);
        // The content and the row's own body read back as the evidence.
        let mut back = Evidence::decode(b.content.as_slice()).unwrap();
        back.merge(b.observed.as_slice()).unwrap();
        back.id = "b".into();
        assert_eq!(back, b.ev);
    }

    #[test]
    fn observed_time_of_any_timestamp_saturates() {
        let ev = |seconds| Evidence {
            observed_at: Some(gamsa_proto::Timestamp {
                seconds,
                nanos: 999_999_999,
            }),
            ..Default::default()
        };
        assert_eq!(observed_ms(&ev(i64::MAX)), i64::MAX);
        assert_eq!(observed_ms(&ev(i64::MIN)), i64::MIN + 999);
        assert_eq!(observed_ms(&ev(1)), 1_999);
    }
}
