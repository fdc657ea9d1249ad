//! Evidence storage.
//!
//! One trait, one implementation per file: SQLite (embedded, the default) and
//! PostgreSQL (shared by several collectors). Evidence is append-only and
//! idempotent on its `id`, so an agent replaying a batch after a reconnect can
//! never create duplicates; `insert_batch` returns only after the rows are
//! durably committed, which is what makes an ack a promise.

mod group_commit;
pub mod postgres;
pub mod rows;
pub mod sqlite;

use crate::records::{Access, Attestation, Documents, NaMark};
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

/// How many rows of a batch were new and how many were replays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    pub accepted: u32,
    pub duplicates: u32,
}

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
    pub agent_id: Option<String>,
    /// Observed at or after, in Unix milliseconds.
    pub since_ms: Option<i64>,
    pub limit: u32,
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
    async fn upsert_agent(&self, agent: AgentRecord) -> Result<()>;
    async fn touch_agent(&self, agent_id: &str, now_ms: i64) -> Result<()>;
    async fn list_agents(&self) -> Result<Vec<AgentRecord>>;
    /// Marks an agent revoked (`revoked = true`) or restores it.
    async fn set_revoked(&self, agent_id: &str, revoked: bool) -> Result<bool>;
    async fn is_revoked(&self, agent_id: &str) -> Result<bool>;
    /// Newest first.
    async fn query_evidence(&self, query: EvidenceQuery) -> Result<Vec<Evidence>>;
    async fn count_evidence(&self) -> Result<u64>;
    /// Whether the store answers at all: a cheap round trip for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// The newest evidence of every (host, probe, subject), however old.
    async fn latest_evidence(&self) -> Result<Vec<Evidence>>;
    /// The newest evidence of every (probe, subject) of one host, by probe
    /// and subject: what a host page shows, without reading the fleet's.
    async fn latest_evidence_of(&self, host: &str) -> Result<Vec<Evidence>>;
    async fn evidence_by_ids(&self, ids: Vec<String>) -> Result<Vec<Evidence>>;
    /// Attestations and NA marks, oldest first (never rewritten).
    async fn documents(&self) -> Result<Documents>;
    /// Records an attestation; `file` is the uploaded document, stored by its SHA-256.
    async fn add_attestation(&self, a: Attestation, file: Option<Vec<u8>>) -> Result<()>;
    async fn add_na_mark(&self, m: NaMark) -> Result<()>;
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
    /// Binds `host` to `agent_id` (at enrolment, `ca issue` or `agent bind`):
    /// from then on the collector stores evidence of `host` from that agent
    /// only, and that agent reports for `host` only (its other bindings are
    /// removed). Refused with `HeldBy` while another agent that is not
    /// revoked holds `host`; a revoked agent's host may be bound anew.
    /// Atomic across collectors sharing the store.
    async fn bind_host(&self, agent_id: &str, host: &str, now_ms: i64) -> Result<Binding>;
    /// The hosts `agent_id` may report for, in byte order.
    async fn bound_hosts(&self, agent_id: &str) -> Result<Vec<String>>;
}
