//! What the store keeps besides evidence and what the layers above it read
//! back: operators' attestations and NA marks (which the rules engine
//! weighs) and access-log records. A leaf, so that the engine and the
//! access log share these types with the store without depending on it.

use serde::{Deserialize, Serialize};

/// Documentary evidence or an attestation for a manual row (or any row).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    pub catalog: String,
    pub item: String,
    pub row: String,
    pub verdict: String,
    pub comment: String,
    pub file_name: String,
    pub file_sha256: String,
    pub by: String,
    pub at_ms: i64,
    pub expires_ms: Option<i64>,
}

/// An operator's mark that an item does not apply, with why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NaMark {
    pub catalog: String,
    pub item: String,
    pub justification: String,
    pub by: String,
    pub at_ms: i64,
}

/// Every attestation and NA mark, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Documents {
    pub attestations: Vec<Attestation>,
    pub na_marks: Vec<NaMark>,
}

/// One access to what the collector holds: who looked at or took what, when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    /// RFC 3339, UTC.
    pub at: String,
    /// User or token name; `cli:<login>` for the command line.
    pub who: String,
    pub role: String,
    /// What was done: "item-view", "export", "snapshot-download", ...
    pub action: String,
    /// What it was done to: "emr-s014/2.1", "emr-s014 form 2B pdf", a snapshot id, ...
    pub what: String,
}

/// What a finding is about: one host failing one check (a rule, named by the
/// layers above) of one checklist item. The store keeps findings by this key
/// and knows nothing else of them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub struct FindingKey {
    pub host: String,
    pub catalog: String,
    pub item: String,
    pub check: String,
}

/// One stretch of time a finding stayed open: first and last seen failing,
/// and when fresh evidence showed it fixed (None while open). A finding that
/// comes back after a fix opens a new record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FindingRecord {
    #[serde(flatten)]
    pub key: FindingKey,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub fixed_ms: Option<i64>,
}

/// When findings were assessed: the first assessment recorded, the one
/// before the last, and the last.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentTimes {
    pub first_ms: i64,
    pub previous_ms: Option<i64>,
    pub last_ms: i64,
}

/// A planned maintenance window an operator entered: the service (or every
/// service, `service` empty) is expected to stop within `[start_ms, end_ms)`
/// for `reason`. Availability counts down time inside it as a planned stop,
/// not a failure (seed 003's two availability measures).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// Given by the store; 0 before it is stored.
    pub id: i64,
    /// The service as the synthetic checks name it; empty for every service.
    pub service: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub reason: String,
    pub by: String,
    pub created_ms: i64,
}
