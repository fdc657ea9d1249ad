//! What a snapshot freezes: every catalog's verdicts, each host's results
//! and the full evidence they cite, the documentary evidence (attestations
//! with their files' SHA-256, NA marks), the catalog versions, who took it
//! (collector id and signing key) and when, and the previous snapshot's
//! hash. Together they let an auditor re-read, long after the fleet
//! changed, exactly what gamsa answered and why.
//!
//! The signed file is a manifest: the items' verdicts with each row's host
//! counts, and for every host the SHA-256 of its part ([`HostPart`]: its
//! results on every row and the evidence they cite, each evidence's content
//! by hash). Parts and contents are files of their own (`objects`), so a
//! fleet's snapshot is written one host at a time in bounded memory and
//! costs, day after day, what changed. Format 1 (everything in one file)
//! is still read and verified.

use super::objects::{ObjectError, Objects};
use crate::checklists::Checklists;
use crate::records::{Attestation, NaMark};
use crate::store::Store;
use crate::verdict::{ItemResult, Outcome, RowResult};
use gamsa_proto::v1::Evidence;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The format tag of the snapshot envelope this collector writes.
pub const FORMAT: &str = "gamsa-snapshot/2";
/// The earlier format: verdicts, host results and evidence in one file.
pub const FORMAT_1: &str = "gamsa-snapshot/1";
/// The format tag of a host's part.
pub const HOST_FORMAT: &str = "gamsa-snapshot-host/1";

/// Whether `format` is one this collector reads.
pub fn known_format(format: &str) -> bool {
    format == FORMAT || format == FORMAT_1
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
    /// Each item's verdict and rows, with how many hosts had each outcome
    /// (`hostCounts`); which host had which is in its part.
    pub items: Vec<serde_json::Value>,
    /// Every host with a result, by name, and its part's hash.
    pub hosts: Vec<HostEntry>,
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

/// One host's part of a snapshot: its result on every row that has one and
/// the evidence those results cite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPart {
    pub format: String,
    pub host: String,
    pub results: Vec<PartResult>,
    pub evidence: Vec<EvidenceRef>,
}

/// A host's result on one row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartResult {
    pub catalog: String,
    pub item: String,
    pub row: String,
    /// PASS, FAIL, UNKNOWN, NA.
    pub outcome: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
    /// Ids of the evidence it stands on (in the part's `evidence`).
    pub evidence: Vec<String>,
}

/// One cited evidence: its id and time of observation, and its content
/// (everything else an agent sent) by the hash of its file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceRef {
    pub id: String,
    pub observed_at: String,
    pub content: String,
}

/// Verdicts and documents as of now; the evidence is read host by host
/// when the parts are written ([`write_hosts`]).
pub struct Frozen {
    pub catalogs: Vec<CatalogVersion>,
    pub items: Vec<ItemResult>,
    pub documents: DocumentEvidence,
}

/// Evaluates every catalog (without an applicant group: a group only turns
/// items NA) and reads the documents.
pub async fn freeze(checklists: &Checklists, store: &dyn Store) -> anyhow::Result<Frozen> {
    let items = checklists.evaluate(store, &[], None).await?;
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
        documents: DocumentEvidence {
            attestations: documents.attestations,
            na_marks: documents.na_marks,
        },
    })
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Unknown => "UNKNOWN",
        Outcome::Na => "NA",
    }
}

fn counts(outcomes: impl Iterator<Item = Outcome>) -> BTreeMap<&'static str, u64> {
    let mut c = BTreeMap::new();
    for o in outcomes {
        *c.entry(outcome_name(o)).or_default() += 1;
    }
    c
}

/// An item as the manifest keeps it: everything but which host had which
/// outcome, which each host's part says; instead, how many had each.
pub fn item_summary(item: &ItemResult) -> serde_json::Result<serde_json::Value> {
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
            serde_json::to_value(counts(item.hosts.values().copied()))?,
        );
    }
    if let Some(rows) = v.get_mut("rows").and_then(|r| r.as_array_mut()) {
        for (row, r) in rows.iter_mut().zip(&item.rows) {
            if let Some(o) = row.as_object_mut() {
                o.remove("hosts");
                o.insert(
                    "hostCounts".into(),
                    serde_json::to_value(counts(r.hosts.iter().map(|h| h.outcome)))?,
                );
            }
        }
    }
    Ok(v)
}

/// Hosts written a batch at a time: one store read for their evidence.
const HOSTS_PER_BATCH: usize = 200;

/// Where a host's results are in the evaluation: (item, row, result).
type Place = (u32, u32, u32);

/// Writes every host's part, and the content of the evidence it cites, into
/// `objects`, a batch of hosts at a time (their evidence read from the
/// store, written, dropped); returns the manifest's host list.
pub async fn write_hosts(
    items: Arc<Vec<ItemResult>>,
    store: &dyn Store,
    objects: Objects,
) -> anyhow::Result<Vec<HostEntry>> {
    let mut places: BTreeMap<String, Vec<Place>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        for (r, row) in item.rows.iter().enumerate() {
            for (h, result) in row.hosts.iter().enumerate() {
                places
                    .entry(result.host.clone())
                    .or_default()
                    .push((i as u32, r as u32, h as u32));
            }
        }
    }
    let places: Vec<(String, Vec<Place>)> = places.into_iter().collect();
    let mut entries = Vec::with_capacity(places.len());
    for batch in places.chunks(HOSTS_PER_BATCH) {
        let ids: HashSet<&String> = batch
            .iter()
            .flat_map(|(_, ps)| ps.iter())
            .flat_map(|p| result(&items, *p).evidence.iter())
            .collect();
        let evidence = store
            .evidence_by_ids(ids.into_iter().cloned().collect())
            .await?;
        let batch = batch.to_vec();
        let (items, objects) = (items.clone(), objects.clone());
        let written = tokio::task::spawn_blocking(move || {
            let evidence: HashMap<String, Evidence> =
                evidence.into_iter().map(|e| (e.id.clone(), e)).collect();
            batch
                .iter()
                .map(|(host, ps)| write_host(&items, host, ps, &evidence, &objects))
                .collect::<std::io::Result<Vec<HostEntry>>>()
        })
        .await??;
        entries.extend(written);
    }
    objects.sync()?;
    Ok(entries)
}

fn result(items: &[ItemResult], (i, r, h): Place) -> &crate::verdict::HostResult {
    &items[i as usize].rows[r as usize].hosts[h as usize]
}

/// Writes one host's part and the contents it cites.
fn write_host(
    items: &[ItemResult],
    host: &str,
    places: &[Place],
    evidence: &HashMap<String, Evidence>,
    objects: &Objects,
) -> std::io::Result<HostEntry> {
    let mut refs: BTreeMap<&str, EvidenceRef> = BTreeMap::new();
    let mut results = Vec::with_capacity(places.len());
    for &p in places {
        let (item, row, hr) = (
            &items[p.0 as usize],
            &items[p.0 as usize].rows[p.1 as usize],
            result(items, p),
        );
        for id in &hr.evidence {
            if refs.contains_key(id.as_str()) {
                continue;
            }
            if let Some(ev) = evidence.get(id) {
                refs.insert(id, evidence_ref(ev, objects)?);
            }
        }
        results.push(PartResult {
            catalog: item.catalog.clone(),
            item: item.id.clone(),
            row: row.id.clone(),
            outcome: outcome_name(hr.outcome).into(),
            reason: hr.reason.clone(),
            detail: hr.detail.clone(),
            evidence: hr.evidence.clone(),
        });
    }
    let part = HostPart {
        format: HOST_FORMAT.into(),
        host: host.into(),
        results,
        evidence: refs.into_values().collect(),
    };
    let (sha256, bytes) = objects.put(&part)?;
    Ok(HostEntry {
        host: host.into(),
        sha256,
        bytes,
    })
}

/// Keeps an evidence's content (all but its id and time) as an object.
fn evidence_ref(ev: &Evidence, objects: &Objects) -> std::io::Result<EvidenceRef> {
    let observed_at = ev
        .observed_at
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default();
    let content = Evidence {
        id: String::new(),
        observed_at: None,
        ..ev.clone()
    };
    let (sha256, _) = objects.put(&content)?;
    Ok(EvidenceRef {
        id: ev.id.clone(),
        observed_at,
        content: sha256,
    })
}

/// What checking a manifest's parts found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PartsChecked {
    pub hosts: usize,
    pub evidence: usize,
}

#[derive(Deserialize)]
struct Hosts {
    #[serde(default)]
    hosts: Vec<HostEntry>,
}

/// Checks that every host part the manifest `body` names, and every
/// evidence content those parts name, is in `objects`, unaltered, and says
/// what it is named for. `checked` holds contents already checked (a chain
/// shares most of them); a format-1 body names none.
pub fn check_parts(
    body: &serde_json::Value,
    objects: &Objects,
    checked: &mut HashSet<String>,
) -> Result<PartsChecked, ObjectError> {
    let hosts = Hosts::deserialize(body)
        .map_err(|e| ObjectError::Parse {
            path: objects.dir.clone(),
            what: "the manifest's hosts".into(),
            message: e.to_string(),
        })?
        .hosts;
    let mut out = PartsChecked::default();
    for entry in &hosts {
        let what = format!("host {}", entry.host);
        if checked.contains(&entry.sha256) {
            out.hosts += 1;
            continue;
        }
        let part: HostPart = objects.get(&entry.sha256, &what)?;
        if part.format != HOST_FORMAT || part.host != entry.host {
            return Err(ObjectError::Parse {
                path: objects.path(&entry.sha256),
                what,
                message: format!(
                    "it is the part of host {:?} in format {:?}",
                    part.host, part.format
                ),
            });
        }
        for r in &part.evidence {
            if checked.insert(r.content.clone()) {
                objects.get::<serde_json::Value>(
                    &r.content,
                    &format!("evidence {} of host {}", r.id, entry.host),
                )?;
                out.evidence += 1;
            }
        }
        checked.insert(entry.sha256.clone());
        out.hosts += 1;
    }
    Ok(out)
}
