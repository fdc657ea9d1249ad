//! What a snapshot freezes: every catalog's verdicts with their per-host
//! results, the full evidence those verdicts cite, the documentary evidence
//! (attestations with their files' SHA-256, NA marks), the catalog versions,
//! who took it (collector id and signing key) and when, and the previous
//! snapshot's hash. Together they let an auditor re-read, long after the
//! fleet changed, exactly what gamsa answered and why.

use crate::checklists::Checklists;
use crate::records::{Attestation, NaMark};
use crate::store::Store;
use crate::verdict::ItemResult;
use gamsa_proto::v1::Evidence;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The format tag of the snapshot envelope.
pub const FORMAT: &str = "gamsa-snapshot/1";

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

#[derive(Debug, Clone, Serialize)]
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
    /// Who asked for it: "schedule", "cli:<login>", "dashboard:<user>", "api:<token>".
    pub taken_by: String,
    pub collector: CollectorIdentity,
    pub catalogs: Vec<CatalogVersion>,
    pub items: Vec<ItemResult>,
    pub evidence: Vec<Evidence>,
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

/// Verdicts, cited evidence and documents as of now.
pub struct Frozen {
    pub catalogs: Vec<CatalogVersion>,
    pub items: Vec<ItemResult>,
    pub evidence: Vec<Evidence>,
    pub documents: DocumentEvidence,
}

/// Evaluates every catalog (without an applicant group: a group only turns
/// items NA) and gathers what the verdicts stand on.
pub async fn freeze(checklists: &Checklists, store: &dyn Store) -> anyhow::Result<Frozen> {
    let items = checklists.evaluate(store, &[], None).await?;
    let ids: BTreeSet<String> = items
        .iter()
        .flat_map(|i| i.evidence.iter().cloned())
        .collect();
    let mut evidence = store.evidence_by_ids(ids.into_iter().collect()).await?;
    evidence.sort_by(|a, b| a.id.cmp(&b.id));
    let documents = store.documents().await?;
    Ok(Frozen {
        catalogs: checklists
            .catalogs
            .iter()
            .map(|c| CatalogVersion {
                id: c.catalog.id.clone(),
                version: c.catalog.version.clone(),
                title_ko: c.catalog.title_ko.clone(),
                source: c.catalog.source.clone(),
            })
            .collect(),
        items,
        evidence,
        documents: DocumentEvidence {
            attestations: documents.attestations,
            na_marks: documents.na_marks,
        },
    })
}
