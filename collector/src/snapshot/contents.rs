//! What a snapshot freezes: every catalog's verdicts, each host's results
//! and the full evidence they cite, the documentary evidence (attestations
//! with their files' SHA-256, NA marks), the catalog versions, who took it
//! (collector id and signing key) and when, and the previous snapshot's
//! hash. Together they let an auditor re-read, long after the fleet
//! changed, exactly what gamsa answered and why.
//!
//! The signed file is a manifest: the items' verdicts with each row's host
//! counts, and the hosts by the SHA-256 of their index ([`HostIndex`]: a
//! thousand hosts at a time, each by the SHA-256 of its part). A part
//! ([`HostPart`]) holds the evidence its results cite, each evidence's
//! content by hash, and its [`Results`] by hash. Indexes, parts, results
//! and contents are files of their own (`objects`, written by `parts`), so
//! a fleet's snapshot is written one host at a time in bounded memory,
//! costs, day after day, what changed, and its signed manifest stays small
//! whatever the fleet's size: it can be fetched, and then every file it
//! names, each checked against its name. Format 2 (every host named in the
//! manifest), format 1 (everything in one file) and host parts of format 1
//! (results inline) are still read and verified.

use crate::checklists::{Checklists, Stamps};
use crate::evaluation::{Evaluation, Kept};
use crate::records::{Attestation, NaMark};
use crate::store::Store;
use crate::verdict::{HostCounts, ItemResult, Outcome, RowResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The format tag of the snapshot envelope this collector writes.
pub const FORMAT: &str = "gamsa-snapshot/3";
/// The earlier format: every host named in the manifest itself.
pub const FORMAT_2: &str = "gamsa-snapshot/2";
/// The earlier format: verdicts, host results and evidence in one file.
pub const FORMAT_1: &str = "gamsa-snapshot/1";
/// The format tag of a host's part: its evidence and its results' hash.
pub const HOST_FORMAT: &str = "gamsa-snapshot-host/2";
/// The earlier host part: its results in the part itself.
pub const HOST_FORMAT_1: &str = "gamsa-snapshot-host/1";
/// The format tag of a host's results, which hosts with equal results share.
pub const RESULTS_FORMAT: &str = "gamsa-snapshot-results/1";
/// The format tag of an index of hosts.
pub const INDEX_FORMAT: &str = "gamsa-snapshot-hosts/1";

/// Whether `format` is one this collector reads.
pub fn known_format(format: &str) -> bool {
    [FORMAT, FORMAT_2, FORMAT_1].contains(&format)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectorIdentity {
    pub id: String,
    /// SPKI PEM of the Ed25519 key that signs this collector's snapshots.
    pub public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CatalogVersion {
    pub id: String,
    pub version: String,
    pub title_ko: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentEvidence {
    pub attestations: Vec<Attestation>,
    pub na_marks: Vec<NaMark>,
}

/// The signed part of a snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    pub sequence: u64,
    /// SHA-256 of the previous snapshot's body; None for the first.
    pub previous: Option<String>,
    pub created_at: String,
    /// When the verdicts it freezes were evaluated, when before `createdAt`
    /// (the collector's kept evaluation, or the one the command line made
    /// just before with no collector serving); absent when evaluated for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<String>,
    /// Who asked for it: "schedule", "cli:<login>", "dashboard:<user>", "api:<token>".
    pub taken_by: String,
    pub collector: CollectorIdentity,
    pub catalogs: Vec<CatalogVersion>,
    /// Each item's verdict and rows, with how many hosts had each outcome
    /// (`hostCounts`); which host had which is in its part.
    pub items: Vec<serde_json::Value>,
    /// Every host with a result, in name order, a thousand at a time: the
    /// indexes by hash.
    pub host_index: Vec<IndexEntry>,
    pub documents: DocumentEvidence,
    /// Reports made on schedule with this snapshot (the monthly operation
    /// report), each by its file's SHA-256; absent when there are none, so
    /// snapshots without reports keep the form they always had.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<ReportDocument>,
}

/// A report file a snapshot vouches for: the file beside the snapshots
/// (`reports/<file>`) and its SHA-256, signed with the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportDocument {
    /// "monthly-operation-report".
    pub kind: String,
    /// "2026-11".
    pub month: String,
    /// "all", "role=web".
    pub scope: String,
    pub file_name: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The fields of a body that chain verification reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub sequence: u64,
    pub previous: Option<String>,
    pub created_at: String,
    pub taken_by: String,
    pub collector: CollectorIdentity,
}

/// A snapshot file: the body, its hash and the signature over it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub format: String,
    pub body: serde_json::Value,
    /// Hex SHA-256 of the RFC 8785 canonical bytes of `body`.
    pub sha256: String,
    /// Base64 Ed25519 signature over the same canonical bytes.
    pub signature: String,
}

/// A host as the manifest names it: its part by hash and size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HostEntry {
    pub host: String,
    pub sha256: String,
    pub bytes: u64,
}

/// An index of hosts as the manifest names it: by hash and size, with how
/// many hosts it names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexEntry {
    pub sha256: String,
    pub bytes: u64,
    pub hosts: u64,
}

/// Some of a snapshot's hosts, in name order, each by its part's hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostIndex {
    pub format: String,
    pub hosts: Vec<HostEntry>,
}

/// One host's part of a snapshot: the evidence its results cite and, by
/// hash, the results themselves (`parts` says why they are apart).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPart {
    pub format: String,
    pub host: String,
    pub results: PartResults,
    /// In the order the results first cite them.
    pub evidence: Vec<EvidenceRef>,
}

/// A part's results: where they are (format 2) or what they are (format 1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PartResults {
    /// The SHA-256 of the host's [`Results`] object.
    Object(String),
    /// The results themselves, citing evidence by id.
    Inline(Vec<PartResult<String>>),
}

/// A host's result on every row that has one, citing evidence by position
/// in the `evidence` of the part naming it; without the host's name, so
/// that hosts with equal results share one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Results {
    pub format: String,
    pub results: Vec<PartResult<u32>>,
}

/// A host's result on one row, citing evidence by `E` (an id in format 1,
/// a position in its part's evidence since).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartResult<E> {
    pub catalog: String,
    pub item: String,
    pub row: String,
    /// PASS, FAIL, UNKNOWN, NA.
    pub outcome: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
    /// The evidence it stands on.
    pub evidence: Vec<E>,
}

/// One cited evidence: its id and time of observation (for a run of
/// unchanged observations, the first too), and its content (everything else
/// an agent sent) by the hash of its file; no content (nor time) when the
/// store no longer held it as the snapshot was taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceRef {
    pub id: String,
    pub observed_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub first_observed_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
}

/// Verdicts and documents as of one evaluation; the evidence is read host
/// by host when the parts are written (`parts::write_hosts`).
pub struct Frozen {
    pub catalogs: Vec<CatalogVersion>,
    pub items: Arc<dyn AsRef<[ItemResult]> + Send + Sync>,
    pub documents: DocumentEvidence,
    /// When the verdicts were evaluated, when that was before the snapshot
    /// was asked for (the collector's kept evaluation).
    pub evaluated_at: Option<String>,
    /// The stamps of the evidence the evaluation read, by id, as it read
    /// them (`Evaluation::stamps`); what is not among them is read from the
    /// store.
    pub stamps: Arc<Stamps>,
}

impl Frozen {
    /// A kept evaluation, frozen.
    pub fn of(e: Arc<Evaluation>, catalogs: Vec<CatalogVersion>) -> Self {
        Frozen {
            catalogs,
            documents: DocumentEvidence {
                attestations: e.documents.attestations.clone(),
                na_marks: e.documents.na_marks.clone(),
            },
            evaluated_at: Some(e.as_of()),
            stamps: e.stamps.clone(),
            items: e,
        }
    }
}

/// The verdicts of every catalog (without an applicant group: a group only
/// turns items NA) and the documents they read: the collector's kept
/// evaluation, once it includes the writes made before (waiting at most
/// `evaluation::CATCH_UP`), or, without one (the CLI) or before the first,
/// an evaluation of its own.
pub async fn freeze(
    checklists: &Checklists,
    store: &dyn Store,
    kept: Option<&Kept>,
) -> anyhow::Result<Frozen> {
    let catalogs = catalog_versions(checklists);
    if let Some(kept) = kept {
        let catch_up = crate::evaluation::CATCH_UP;
        if let Ok((e, _)) = kept.current(store, catch_up, catch_up).await {
            return Ok(Frozen::of(e, catalogs));
        }
    }
    let items = checklists.evaluate(store, &[], None).await?;
    let documents = store.documents().await?;
    Ok(Frozen {
        catalogs,
        items: Arc::new(items),
        documents: DocumentEvidence {
            attestations: documents.attestations,
            na_marks: documents.na_marks,
        },
        evaluated_at: None,
        stamps: Arc::default(),
    })
}

/// Each catalog's id and version, as a snapshot names them.
pub fn catalog_versions(checklists: &Checklists) -> Vec<CatalogVersion> {
    checklists
        .catalogs
        .iter()
        .map(|c| CatalogVersion {
            id: c.catalog.id.clone(),
            version: c.catalog.version.clone(),
            title_ko: c.catalog.title_ko.clone(),
            source: c.catalog.source.clone(),
        })
        .collect()
}

pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Unknown => "UNKNOWN",
        Outcome::Na => "NA",
    }
}

fn named(counts: &BTreeMap<Outcome, u64>) -> BTreeMap<&'static str, u64> {
    counts.iter().map(|(o, n)| (outcome_name(*o), *n)).collect()
}

/// An item as the manifest keeps it: everything but which host had which
/// outcome, which each host's part says; instead, how many had each.
pub fn item_summary(item: &ItemResult) -> serde_json::Result<serde_json::Value> {
    item_summary_counted(item, &HostCounts::of(item))
}

/// `item_summary` of an item whose hosts `counts` counts (its own host
/// results left out, `by_hosts`).
pub fn item_summary_counted(
    item: &ItemResult,
    counts: &HostCounts,
) -> serde_json::Result<serde_json::Value> {
    let light = ItemResult {
        hosts: Arc::default(),
        evidence: Arc::default(),
        rows: item
            .rows
            .iter()
            .map(|r| RowResult {
                hosts: Arc::default(),
                ..r.clone()
            })
            .collect(),
        ..item.clone()
    };
    let mut v = serde_json::to_value(&light)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("hosts");
        o.remove("evidence");
        o.insert(
            "hostCounts".into(),
            serde_json::to_value(named(&counts.item))?,
        );
    }
    if let Some(rows) = v.get_mut("rows").and_then(|r| r.as_array_mut()) {
        for (i, row) in rows.iter_mut().enumerate() {
            if let Some(o) = row.as_object_mut() {
                o.remove("hosts");
                let none = BTreeMap::new();
                let c = counts.rows.get(i).unwrap_or(&none);
                o.insert("hostCounts".into(), serde_json::to_value(named(c))?);
            }
        }
    }
    Ok(v)
}
