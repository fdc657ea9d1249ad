//! Evidence storage.
//!
//! One trait, one implementation per file: SQLite (embedded, the default) and
//! PostgreSQL (shared by several collectors). Evidence is append-only and
//! idempotent on its `id`, so an agent replaying a batch after a reconnect can
//! never create duplicates; `insert_batch` returns only after the rows are
//! durably committed, which is what makes an ack a promise.
//!
//! Evidence is kept deduplicated (`rows.rs`): each distinct content is
//! stored once and a row references it. A row stands for a run of
//! observations of unchanged content (`runs.rs`): an idle host re-sending
//! the same evidence every cycle moves the run's last observation instead
//! of adding a row. What was observed at any time reads back whole, by the
//! run's id and by time. Retention
//! (`crate::retention`) removes old evidence through `prune_evidence`, never
//! the latest of a (host, probe, subject).

mod group_commit;
pub mod postgres;
pub mod rows;
mod runs;
pub mod sqlite;

use crate::records::{
    Access, AssessmentTimes, Attestation, Documents, FindingKey, FindingRecord, MaintenanceWindow,
    NaMark,
};
use async_trait::async_trait;
use gamsa_proto::v1::Evidence;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {message}")]
    Open { path: String, message: String },
    #[error("database: {0}")]
    Db(String),
    #[error("stored evidence {id} could not be decoded: {message}")]
    Corrupt { id: String, message: String },
    #[error("the store is shutting down")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where the store lives (`store.url` in the collector's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file, embedded: one collector.
    Sqlite(PathBuf),
    /// A PostgreSQL URL: any number of collectors share it.
    Postgres(String),
}

/// Opens (creating or migrating as needed) the store at `location`.
pub async fn open(location: &Location) -> Result<Arc<dyn Store>> {
    Ok(match location {
        Location::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(path)?),
        Location::Postgres(url) => Arc::new(postgres::PgStore::open(url).await?),
    })
}

/// Which finding records `Store::findings` returns: those still open and
/// those fixed at or after `fixed_since_ms`, of one host and one catalog
/// when named, only of findings still open when `open_only`, and of one
/// page of findings when `keys` is given.
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    pub host: Option<String>,
    pub catalog: Option<String>,
    pub fixed_since_ms: i64,
    pub open_only: bool,
    pub keys: Option<KeyPage>,
}

/// The finding records of some hosts that opened, or were fixed, within a
/// period (`Store::findings_in`).
#[derive(Debug, Clone, Default)]
pub struct PeriodQuery {
    pub from_ms: i64,
    /// The period's end, not in it.
    pub to_ms: i64,
    pub hosts: Vec<String>,
    /// Most records listed of each kind (all are counted).
    pub limit: u32,
}

/// What a period saw of the findings history (`Store::findings_in`): the
/// records first seen in it and those fixed in it, counted in the store,
/// and the first `limit` of each listed in the order they happened (then
/// by key), so that a fleet's month is never read record by record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodFindings {
    pub opened: u64,
    pub fixed: u64,
    pub first_opened: Vec<FindingRecord>,
    pub first_fixed: Vec<FindingRecord>,
}

/// How many findings a query names, and how they compare between two
/// times (`Store::finding_tally`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FindingTally {
    /// Findings (distinct host, catalog, item and check).
    pub findings: u64,
    /// Of them, open at `now`.
    pub open: u64,
    /// Against each earlier time asked: open then and not now (fixed), open
    /// both times (recurring), open now and not then (new).
    pub since: [ChangeTally; 2],
}

/// The keys of the open findings (`Store::open_findings`), read from the
/// open findings' index; both stores select them.
const OPEN_KEYS: &str =
    "SELECT host, catalog, item, check_name FROM host_findings WHERE fixed_ms IS NULL";

/// The columns a finding tally selects, over each finding's `o` (open at
/// `now`), `a` and `b` (open at each earlier time), in the order
/// [`FindingTally::from_counts`] reads them; both stores select them.
const TALLY_COLUMNS: &str = "count(*), count(*) FILTER (WHERE o),
    count(*) FILTER (WHERE o AND NOT a), count(*) FILTER (WHERE o AND a),
    count(*) FILTER (WHERE a AND NOT o),
    count(*) FILTER (WHERE o AND NOT b), count(*) FILTER (WHERE o AND b),
    count(*) FILTER (WHERE b AND NOT o)";

impl FindingTally {
    /// The tally from the counts of [`TALLY_COLUMNS`].
    fn from_counts(c: [i64; 8]) -> Self {
        let n = |i: usize| c[i].max(0) as u64;
        let change = |i: usize| ChangeTally {
            new: n(i),
            recurring: n(i + 1),
            fixed: n(i + 2),
        };
        Self {
            findings: n(0),
            open: n(1),
            since: [change(2), change(5)],
        }
    }
}

/// Findings by how they changed between an earlier time and now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeTally {
    pub new: u64,
    pub recurring: u64,
    pub fixed: u64,
}

/// A page of findings: the records of `limit` findings (distinct host,
/// catalog, item and check, in that order) after skipping `offset`, so that
/// a page never splits one finding's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPage {
    pub offset: u32,
    pub limit: u32,
}

/// How many rows of a batch were new and how many were replays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub accepted: u32,
    pub duplicates: u32,
}

/// Where a page of latest evidence ends (`Store::latest_evidence_page`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LatestKey {
    pub host: String,
    pub probe: String,
    pub subject: String,
}

impl LatestKey {
    pub fn of(e: &Evidence) -> Self {
        Self {
            host: e.host.clone(),
            probe: e.probe.clone(),
            subject: e.subject.clone(),
        }
    }
}

/// A walk through the fleet's latest evidence, a page of `limit` at a time
/// (`Store::latest_evidence_page`), so that no read holds it all.
#[derive(Debug)]
pub struct LatestPages {
    after: Option<LatestKey>,
    limit: u32,
    done: bool,
}

impl LatestPages {
    pub fn new(limit: u32) -> Self {
        Self {
            after: None,
            limit,
            done: false,
        }
    }

    /// The next page; None once the walk is done.
    pub async fn next<S: Store + ?Sized>(&mut self, store: &S) -> Result<Option<Vec<Stamped>>> {
        if self.done {
            return Ok(None);
        }
        let page = store
            .latest_evidence_page(self.after.take(), self.limit)
            .await?;
        match page.last() {
            Some(last) => self.after = Some(LatestKey::of(&last.evidence)),
            None => self.done = true,
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

/// One of the fleet's latest evidence as `latest_changes` reads it: its
/// key and its stamp, without its content.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestStamp {
    pub key: LatestKey,
    pub stamp: EvidenceStamp,
}

/// Where the fleet's latest set stood when it was read
/// (`Store::latest_mark`, `Store::latest_changes`): what a later reading
/// reads only the changes since. Opaque: the SQLite store's change
/// counter, or the oldest PostgreSQL transaction still running then;
/// `LatestMark(0)` is before any write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestMark(pub i64);

/// One of the fleet's latest evidence as `latest_evidence_page` reads it:
/// its payload left encoded, and its stamp as `latest_changes` would give
/// it, so that a first reading of the fleet can be cited (a snapshot)
/// without reading the stamps again.
///
/// Why encoded: a reader of the whole fleet that converts each distinct
/// payload once (the rule input's `Payloads`) knows it by its bytes, and
/// most of the fleet's payloads are ones it has seen; decoding them all was
/// most of such a reading's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    /// The evidence without its payload.
    pub evidence: Evidence,
    /// Its payload's field as stored (`gamsa_proto::split`); empty for none.
    pub payload: Vec<u8>,
    pub stamp: EvidenceStamp,
}

impl Stamped {
    /// The evidence whole, its payload decoded.
    pub fn whole(self) -> Result<Evidence> {
        let id = self.evidence.id.clone();
        let split = gamsa_proto::split::Split {
            evidence: self.evidence,
            payload: self.payload,
        };
        split.whole().map_err(|e| StoreError::Corrupt {
            id,
            message: e.to_string(),
        })
    }
}

/// An evidence as `evidence_stamps` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceStamp {
    /// The evidence's id and times (`observedAt`, `firstObservedAt`) and,
    /// for a row stored whole before deduplication, its content too.
    pub evidence: Evidence,
    /// SHA-256 of its content's encoding (`rows::Stored`); None for a row
    /// stored whole, whose content is in `evidence`.
    pub content_hash: Option<Vec<u8>>,
}

/// One (probe, subject) of a host's latest evidence, by size: what the
/// ingest budget of a host's latest set counts (`grpc/budget.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestSize {
    pub probe: String,
    pub subject: String,
    pub observed_ms: i64,
    /// Bytes stored for it (its body and its row's own).
    pub bytes: u64,
}

/// One bounded step of evidence retention (`Store::prune_evidence`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStep {
    /// Evidence rows removed.
    pub evidence: u64,
    /// Bodies removed because no row uses them any more.
    pub bodies: u64,
    /// Where the next step starts; None once the walk is done.
    pub next: Option<i64>,
}

/// What `Store::prune_records` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrunedRecords {
    /// Dashboard sessions past their expiry.
    pub sessions: u64,
    /// Enrolment tokens that can no longer enrol (expired, or used up)
    /// since before the cutoff.
    pub enrolment_tokens: u64,
    /// Leases past their expiry (an expired lease is free to take, present
    /// or not).
    pub leases: u64,
}

/// Enrolment tokens expired, or used up, before `$1` (both backends).
const PRUNE_ENROLMENT_TOKENS: &str = "DELETE FROM tokens WHERE kind = 'enrol'
     AND ((expires_ms IS NOT NULL AND expires_ms <= $1)
          OR (uses >= max_uses AND coalesce(last_used_ms, created_ms) <= $1))";

/// What the collector knows about an agent.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    pub agent_id: String,
    pub host: String,
    pub version: String,
    pub os: String,
    pub kernel: String,
    pub capabilities: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub peer: String,
    pub revoked: bool,
}

/// A filter over stored evidence; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct EvidenceQuery {
    pub probe: Option<String>,
    pub host: Option<String>,
    /// The host is one of these (not empty): a batch of hosts read with
    /// one statement instead of one each.
    pub hosts: Vec<String>,
    pub agent_id: Option<String>,
    /// Observed at or after, in Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Observed before, in Unix milliseconds.
    pub until_ms: Option<i64>,
    pub limit: u32,
    /// Rows skipped first (newest first), for pages.
    pub offset: u32,
    /// Stop after the row that brings the evidence read to this many bytes
    /// (protobuf encoding; 0: no bound): what one answer may hold in
    /// memory, whatever agents sent. At least one row is read.
    pub max_bytes: u64,
}

/// Whether evidence read by a query with `max_bytes` may have stopped short
/// of its `limit` for the bytes (then the next page may hold more).
pub fn cut_by_bytes(read: &[Evidence], max_bytes: u64) -> bool {
    use prost::Message;
    max_bytes > 0 && read.iter().map(|e| e.encoded_len() as u64).sum::<u64>() >= max_bytes
}

/// The evidence `ids`, read in their order until what `size` says of them
/// passes `budget`, and the ids past it, unread: a page citing a few
/// hundred evidence (package lists among them) reads about what it shows.
/// Each read after the first asks for as many as the budget left holds at
/// the size read so far.
pub async fn evidence_within(
    store: &dyn Store,
    ids: Vec<String>,
    budget: usize,
    size: impl Fn(&Evidence) -> usize,
) -> Result<(Vec<Evidence>, Vec<String>)> {
    const FIRST: usize = 32;
    const MOST: usize = 512;
    let (mut shown, mut bytes, mut want) = (Vec::new(), 0, FIRST);
    let mut ids = ids.into_iter();
    loop {
        let chunk: Vec<String> = ids.by_ref().take(want).collect();
        if chunk.is_empty() {
            return Ok((shown, vec![]));
        }
        let mut read = store.evidence_by_ids(chunk).await?.into_iter();
        while let Some(e) = read.next() {
            bytes += size(&e);
            if bytes > budget {
                let left = std::iter::once(e).chain(read).map(|e| e.id);
                return Ok((shown, left.chain(ids).collect()));
            }
            shown.push(e);
        }
        let each = (bytes / shown.len().max(1)).max(1);
        want = ((budget - bytes) / each + 1).clamp(1, MOST);
    }
}

/// Adds `ev`'s bytes to `read`; whether a query bounded by `max_bytes`
/// stops after it.
fn bytes_reached(read: &mut u64, ev: &Evidence, max_bytes: u64) -> bool {
    use prost::Message;
    *read += ev.encoded_len() as u64;
    max_bytes > 0 && *read >= max_bytes
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// One-time agent enrolment.
    Enrol,
    /// Bearer token for the HTTP API.
    Api,
    /// A signed-in dashboard user's session cookie.
    Session,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Enrol => "enrol",
            TokenKind::Api => "api",
            TokenKind::Session => "session",
        }
    }
}

/// A dashboard user; the password is kept only as an argon2 hash.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub role: String,
    pub password_hash: String,
}

/// What became of a request to bind a host to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// The host is bound to the agent.
    Bound,
    /// Another agent, not revoked, holds the host.
    HeldBy(String),
}

/// An API or enrolment token as admins list it: its hash (the secret is
/// kept nowhere), what it is for and how it has been used.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub hash: String,
    pub kind: TokenKind,
    /// Enrolment: the agent name it is bound to ('' when shared). API: its name.
    pub name: String,
    /// API tokens' role; '' for enrolment tokens.
    pub role: String,
    pub created_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub max_uses: u32,
    pub uses: u32,
    /// API tokens: to the minute; enrolment tokens: the last enrolment.
    pub last_used_ms: Option<i64>,
}

/// An enrolment to record at once: the token's use, the agent's name, the
/// certificate issued to it and its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolClaim {
    pub token_hash: String,
    pub agent_id: String,
    pub host: String,
    /// SHA-256 (hex) of the certificate's DER: the only one its name is
    /// accepted with from now on.
    pub certificate: String,
    pub peer: String,
    pub now_ms: i64,
}

/// What became of an enrolment claim. Anything but `Enrolled` changed nothing:
/// the token keeps its uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolled {
    Enrolled,
    /// Unknown, expired or used up.
    NoToken,
    /// The token is bound to another agent name.
    BoundTo(String),
    /// A shared token may not take over a name already enrolled.
    NameTaken,
    /// The agent is revoked: an admin reinstates it first.
    Revoked,
    /// Another agent, not revoked, holds the host.
    HeldBy(String),
}

/// How precisely an API token's last use is recorded: at most one write a
/// minute per token, so a busy client costs no write per request.
pub const TOUCH_MS: i64 = 60_000;

/// What an agent's `certificate` column holds after `reinstate_agent`: no
/// certificate's SHA-256, so none is accepted until the agent enrols anew.
pub const NO_CERTIFICATE: &str = "reinstated";

/// A stored token; only its SHA-256 is kept, never the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub kind: TokenKind,
    pub name: String,
    pub role: String,
    pub expires_at_ms: Option<i64>,
    /// Enrolment tokens: how many agents may enrol with it (a DaemonSet's
    /// shared token allows one per node).
    pub max_uses: u32,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Stores evidence idempotently; returns once durably committed.
    async fn insert_batch(&self, evidence: Vec<Evidence>) -> Result<InsertOutcome>;
    /// One step of retention, in a transaction of its own: looks at the
    /// next `limit` evidence rows in storage order after position `after`
    /// (0 to begin) and removes those observed before `before_ms`, except
    /// the latest evidence of each (host, probe, subject), with the bodies
    /// no remaining row uses. The walk ends (`next` None) at the first row
    /// observed since `before_ms`, or at the end.
    async fn prune_evidence(&self, after: i64, before_ms: i64, limit: u32) -> Result<PruneStep>;
    /// Removes sessions expired by `now_ms`, leases expired by `now_ms`,
    /// and enrolment tokens expired or used up before `tokens_before_ms`.
    async fn prune_records(&self, now_ms: i64, tokens_before_ms: i64) -> Result<PrunedRecords>;
    /// Gives space retention freed back: SQLite returns free pages to the
    /// file system when the file allows it (`auto_vacuum` incremental, as
    /// files made since deduplication are), a bounded number at a time;
    /// PostgreSQL leaves it to autovacuum, which makes the space reusable.
    async fn compact(&self) -> Result<()>;
    async fn upsert_agent(&self, agent: AgentRecord) -> Result<()>;
    async fn touch_agent(&self, agent_id: &str, now_ms: i64) -> Result<()>;
    async fn list_agents(&self) -> Result<Vec<AgentRecord>>;
    /// One page of the agents in agent id order (`offset` skipped, at most
    /// `limit`), and how many there are in all.
    async fn agents_page(&self, offset: u32, limit: u32) -> Result<(Vec<AgentRecord>, u64)>;
    /// One page of the hosts by name (`offset` skipped, at most `limit`),
    /// each as its current agent: the unrevoked one, else the one seen
    /// last (then the first by id); and how many hosts there are in all.
    async fn host_agents_page(&self, offset: u32, limit: u32) -> Result<(Vec<AgentRecord>, u64)>;
    /// The agents that report (or reported) `host`, by agent id.
    async fn agents_on_host(&self, host: &str) -> Result<Vec<AgentRecord>>;
    /// Marks an agent revoked (`revoked = true`) or restores it.
    async fn set_revoked(&self, agent_id: &str, revoked: bool) -> Result<bool>;
    async fn is_revoked(&self, agent_id: &str) -> Result<bool>;
    /// The ids of the revoked agents: what marks their evidence, without
    /// reading every agent's record (10,000 of them in a fleet).
    async fn revoked_agents(&self) -> Result<std::collections::HashSet<String>>;
    /// Newest first (by first observation). A run of unchanged observations
    /// (`runs.rs`) is one evidence: its `firstObservedAt` and `observedAt`
    /// (the last) bound it, and a time window finds the runs overlapping it.
    async fn query_evidence(&self, query: EvidenceQuery) -> Result<Vec<Evidence>>;
    async fn count_evidence(&self) -> Result<u64>;
    /// Whether the store answers at all: a cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// The newest evidence of every (host, probe, subject), however old.
    /// Holds every body of the fleet at once: what reads the fleet's
    /// latest evidence at scale pages through `latest_evidence_page`.
    async fn latest_evidence(&self) -> Result<Vec<Evidence>> {
        let mut out: Vec<Evidence> = Vec::new();
        let mut pages = LatestPages::new(2_000);
        while let Some(page) = pages.next(self).await? {
            for s in page {
                out.push(s.whole()?);
            }
        }
        Ok(out)
    }
    /// At most `limit` of the newest evidence of every (host, probe,
    /// subject), in that order (bytewise), the first after `after`; each
    /// with its stamp.
    async fn latest_evidence_page(
        &self,
        after: Option<LatestKey>,
        limit: u32,
    ) -> Result<Vec<Stamped>>;
    /// Where the latest set stands now: read before a walk of it
    /// (`LatestPages`), so that `latest_changes` since this mark gives
    /// whatever the walk may have missed.
    async fn latest_mark(&self) -> Result<LatestMark>;
    /// The latest set's rows that changed since `since` (a new evidence for
    /// the key, or its evidence seen again), as stamps in key order, and
    /// the mark the next call starts from. It may also give rows that
    /// changed just before `since`; it never leaves one out. Rows never
    /// leave the latest set (retention keeps them), so a reading kept up to
    /// date by these changes is the latest set, without walking it all.
    async fn latest_changes(&self, since: LatestMark) -> Result<(Vec<LatestStamp>, LatestMark)>;
    /// The newest evidence of every (probe, subject) of `hosts`, by host,
    /// probe and subject: what a host page or a page of the inventory
    /// shows, in one read, without reading the fleet's; of `probes` only,
    /// unless empty.
    async fn latest_evidence_of(&self, hosts: &[&str], probes: &[&str]) -> Result<Vec<Evidence>>;
    /// As `latest_evidence_of`, without the content: which evidence, and
    /// when each was last seen.
    async fn latest_stamps_of(&self, hosts: &[&str], probes: &[&str]) -> Result<Vec<LatestStamp>>;
    /// The newest evidence of every (host, subject) of `probes`: what a
    /// sheet of a few probes shows, without reading every body.
    async fn latest_evidence_of_probes(&self, probes: Vec<String>) -> Result<Vec<Evidence>>;
    /// The size of each of one host's latest evidence, without its body.
    async fn latest_sizes(&self, host: &str) -> Result<Vec<LatestSize>>;
    async fn evidence_by_ids(&self, ids: Vec<String>) -> Result<Vec<Evidence>>;
    /// As `evidence_by_ids`, without the content: each evidence's id and
    /// times, and the hash its content is stored under (what a snapshot
    /// cites of evidence it has seen before), in the order asked for.
    async fn evidence_stamps(&self, ids: Vec<String>) -> Result<Vec<EvidenceStamp>>;
    /// Attestations and NA marks, oldest first (never rewritten).
    async fn documents(&self) -> Result<Documents>;
    /// Records an attestation; `file` is the uploaded document, stored by its SHA-256.
    async fn add_attestation(&self, a: Attestation, file: Option<Vec<u8>>) -> Result<()>;
    async fn add_na_mark(&self, m: NaMark) -> Result<()>;
    /// Creates a user, or sets its role and password and ends its sessions.
    async fn upsert_user(&self, user: User) -> Result<()>;
    async fn get_user(&self, name: &str) -> Result<Option<User>>;
    /// Deletes a token (sign-out).
    async fn delete_token(&self, hash: &str) -> Result<()>;
    /// An uploaded document by SHA-256: (file name, content).
    async fn file(&self, sha256: &str) -> Result<Option<(String, Vec<u8>)>>;
    /// Appends one record to the access log (never rewritten).
    async fn append_access(&self, a: Access) -> Result<()>;
    /// The newest `limit` access records, newest first.
    async fn access_log(&self, limit: u32) -> Result<Vec<Access>>;
    /// Stores a token's hash.
    async fn create_token(&self, hash: &str, token: TokenRecord) -> Result<()>;
    /// Finds a live token by hash. Enrolment tokens are consumed: once used
    /// `max_uses` times, or past expiry, they find nothing.
    async fn use_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now_ms: i64,
    ) -> Result<Option<TokenRecord>>;
    /// Takes the fleet-wide lease `name` for `holder`, or renews it when
    /// `holder` already has it, until `now_ms + ttl`; true when `holder`
    /// holds it afterwards. A lease held by another holder is taken over
    /// only once it has expired. Atomic across collectors sharing the store.
    ///
    /// For work that must run once for the fleet, not once per replica:
    /// every collector calls it when the work is due, with a holder unique to
    /// its process, and only the one that gets `true` does the work. The
    /// scheduled snapshot, for example:
    /// `store.try_lease(&format!("snapshot:{slot}"), &instance, period, now_ms)`,
    /// with the schedule's period as `ttl`, so that a replica waking late
    /// still finds the slot's lease held. `now_ms` comes from the caller's
    /// clock: replicas' clocks must agree to well within `ttl`.
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration, now_ms: i64)
        -> Result<bool>;
    /// API and enrolment tokens (not sessions), oldest first.
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>>;
    /// Dashboard users, by name.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Deletes a user and ends its sessions, at once; false when there was none.
    async fn delete_user(&self, name: &str) -> Result<bool>;
    /// Changes a user's role and ends its sessions, at once (a session
    /// carries the role it signed in with); false when there is no such user.
    async fn set_user_role(&self, name: &str, role: &str) -> Result<bool>;
    /// Takes a revoked agent back: no longer revoked, and no certificate
    /// accepted for it until it enrols again (a revoked certificate stays
    /// refused). False when the agent is not revoked.
    async fn reinstate_agent(&self, agent_id: &str) -> Result<bool>;
    /// Whether ingest refuses `agent_id` presenting the certificate whose DER
    /// has SHA-256 `certificate`: revoked, or another certificate was issued
    /// for the name since.
    async fn certificate_refused(&self, agent_id: &str, certificate: &str) -> Result<bool>;
    /// Records the certificate issued to `agent_id` by `ca issue`: from now
    /// on the only one accepted for the name.
    async fn set_certificate(&self, agent_id: &str, certificate: &str) -> Result<()>;
    /// Enrols an agent in one transaction: checks the token (live, bound to
    /// this name or shared), the name (a shared token takes no enrolled name;
    /// a revoked agent is refused) and the host's binding; only if all hold
    /// uses the token, registers the agent with its certificate and binds the
    /// host. Two enrolments racing for one name (on any collectors sharing
    /// the store) get one `Enrolled`.
    async fn enrol(&self, claim: EnrolClaim) -> Result<Enrolled>;
    /// Binds `host` to `agent_id` (at enrolment, `ca issue` or `agent bind`):
    /// from then on the collector stores evidence of `host` from that agent
    /// only, and that agent reports for `host` only (its other bindings are
    /// removed). Refused with `HeldBy` while another agent that is not
    /// revoked holds `host`; a revoked agent's host may be bound anew.
    /// Atomic across collectors sharing the store.
    async fn bind_host(&self, agent_id: &str, host: &str, now_ms: i64) -> Result<Binding>;
    /// The hosts `agent_id` may report for, in byte order.
    async fn bound_hosts(&self, agent_id: &str) -> Result<Vec<String>>;
    /// The store's change counter: it grows in the same transaction as
    /// every write that can change a verdict (evidence committed,
    /// attestations, NA marks, agents registered, enrolled, revoked or
    /// reinstated), on whichever collector made it, and with nothing else.
    /// Read cheaply and often by the kept evaluation (`evaluation.rs`): a
    /// counter it has seen means no verdict changed but by time.
    async fn change_counter(&self) -> Result<i64>;
    /// Records one assessment at `at_ms` in one transaction: each key of
    /// `failing` is seen failing (its open finding's last sighting moves to
    /// `at_ms`, or a finding opens), each key of `fixed` that has an open
    /// finding is closed as fixed at `at_ms`. Findings in neither list (a
    /// host that could not be told, or went silent) stay as they were. The
    /// assessment's time becomes the last one, and the last the previous.
    /// Only the findings whose state changes are written: one seen failing
    /// at every assessment reads its last sighting from the last one.
    async fn record_assessment(
        &self,
        at_ms: i64,
        failing: Vec<FindingKey>,
        fixed: Vec<FindingKey>,
    ) -> Result<()>;
    /// The keys of the findings open now, in no order: what an assessment
    /// compares its passing hosts with, read without the records' times.
    async fn open_findings(&self) -> Result<Vec<FindingKey>>;
    /// Finding records, by host, catalog, item, check and first sighting.
    async fn findings(&self, query: FindingQuery) -> Result<Vec<FindingRecord>>;
    /// Counts the findings `query` names (its page ignored): open at `now`,
    /// and how each changed since each of `then` (a finding is open at a
    /// time one of its records covers: first seen at or before, not fixed
    /// by then). One aggregate in the store, so that a fleet's counts are
    /// not read into memory record by record.
    async fn finding_tally(
        &self,
        query: FindingQuery,
        now: i64,
        then: [i64; 2],
    ) -> Result<FindingTally>;
    /// The records of `query.hosts` first seen, and those fixed, within
    /// `[from_ms, to_ms)`: counted, and the first `limit` of each listed.
    async fn findings_in(&self, query: PeriodQuery) -> Result<PeriodFindings>;
    /// When findings were assessed; None before the first assessment.
    async fn assessment_times(&self) -> Result<Option<AssessmentTimes>>;
    /// Stores a planned maintenance window (its `id` is ignored) and
    /// returns the id it was given.
    async fn add_maintenance(&self, window: MaintenanceWindow) -> Result<i64>;
    /// The maintenance windows overlapping `[from_ms, to_ms)`, by start and id.
    async fn maintenance(&self, from_ms: i64, to_ms: i64) -> Result<Vec<MaintenanceWindow>>;
    /// Deletes the window `id`; false when there was none.
    async fn delete_maintenance(&self, id: i64) -> Result<bool>;
}
