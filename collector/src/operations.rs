//! What people do to the collector, one operation each — record an
//! attestation, mark an item NA, take or download a snapshot, take an
//! export, read the access log, revoke an agent — called alike by the API, the dashboard and the command line.
//! Each decides here whether the actor may, checks the request against the
//! catalogs, and records in the access log what leaves the collector before
//! it is handed out. The front ends only translate requests and answers, so
//! the API and the dashboard cannot drift apart.

use crate::access_log;
use crate::actor::Actor;
use crate::checklists::Checklists;
use crate::export::{self, ExportError, Output};
use crate::records::{Access, Attestation, NaMark};
use crate::snapshot::{Created, Snapshots};
use crate::store::{Store, StoreError};
use crate::verdict::Verdict;
use sha2::{Digest, Sha256};

/// Largest document an attestation may carry.
pub const MAX_DOCUMENT: usize = 20 * 1024 * 1024;

/// How long an attestation counts unless the request says.
const DEFAULT_VALID_DAYS: u32 = 365;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The actor's role only reads.
    #[error("role {0} is read-only")]
    ReadOnly(&'static str),
    #[error("role {0}: the access log is for admins")]
    AdminOnly(&'static str),
    #[error("no item {catalog}/{item}")]
    NoItem { catalog: String, item: String },
    /// The request does not fit the catalog; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("document: larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// Refuses an actor whose role only reads.
pub fn require_write(actor: &Actor) -> Result<(), OpError> {
    if actor.may_write() {
        Ok(())
    } else {
        Err(OpError::ReadOnly(actor.role_name()))
    }
}

/// An attestation as asked for.
#[derive(Debug, Clone, Default)]
pub struct NewAttestation {
    pub catalog: String,
    pub item: String,
    pub row: String,
    /// Y, P, N or NA.
    pub verdict: String,
    pub comment: String,
    /// The uploaded document: the name it came with, and its bytes.
    pub document: Option<(String, Vec<u8>)>,
    /// How long the attestation counts; a year when not given.
    pub valid_days: Option<u32>,
}

/// The name an uploaded document is kept under: its last path component
/// (some clients send a whole path), "document" when it has none.
fn document_name(given: &str) -> String {
    let name = given.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() {
        "document".into()
    } else {
        name.into()
    }
}

/// Records documentary evidence for a row of an item. A document is stored
/// by its SHA-256; an attestation without one names no file.
pub async fn attest(
    store: &dyn Store,
    checklists: &Checklists,
    actor: &Actor,
    new: NewAttestation,
) -> Result<Attestation, OpError> {
    require_write(actor)?;
    let item = checklists
        .catalog(&new.catalog)
        .and_then(|c| c.item(&new.item))
        .ok_or_else(|| OpError::NoItem {
            catalog: new.catalog.clone(),
            item: new.item.clone(),
        })?;
    if !item.rows.iter().any(|r| r.id == new.row) {
        return Err(OpError::Invalid(format!(
            "row: {}/{} has no row {}",
            new.catalog, new.item, new.row
        )));
    }
    if Verdict::parse(&new.verdict).is_none() {
        return Err(OpError::Invalid(format!(
            "verdict: {:?} is not one of Y, P, N, NA",
            new.verdict
        )));
    }
    let document = new.document.filter(|(_, bytes)| !bytes.is_empty());
    if document
        .as_ref()
        .is_some_and(|(_, bytes)| bytes.len() > MAX_DOCUMENT)
    {
        return Err(OpError::TooLarge);
    }
    let (file_name, file_sha256) = match &document {
        Some((name, bytes)) => (document_name(name), hex::encode(Sha256::digest(bytes))),
        None => (String::new(), String::new()),
    };
    let now = crate::clock::now_ms();
    let days = new.valid_days.unwrap_or(DEFAULT_VALID_DAYS);
    let a = Attestation {
        catalog: new.catalog,
        item: new.item,
        row: new.row,
        verdict: new.verdict,
        comment: new.comment,
        file_name,
        file_sha256,
        by: actor.name().to_string(),
        at_ms: now,
        expires_ms: Some(now + i64::from(days) * 86_400_000),
    };
    store
        .add_attestation(a.clone(), document.map(|(_, bytes)| bytes))
        .await?;
    tracing::info!(by = %actor.who(), catalog = %a.catalog, item = %a.item, row = %a.row, "attestation recorded");
    Ok(a)
}

/// Marks an item not applicable, with why.
pub async fn mark_na(
    store: &dyn Store,
    checklists: &Checklists,
    actor: &Actor,
    catalog: &str,
    item: &str,
    justification: &str,
) -> Result<NaMark, OpError> {
    require_write(actor)?;
    if checklists
        .catalog(catalog)
        .and_then(|c| c.item(item))
        .is_none()
    {
        return Err(OpError::NoItem {
            catalog: catalog.into(),
            item: item.into(),
        });
    }
    if justification.trim().is_empty() {
        return Err(OpError::Invalid("justification: required".into()));
    }
    let m = NaMark {
        catalog: catalog.into(),
        item: item.into(),
        justification: justification.into(),
        by: actor.name().to_string(),
        at_ms: crate::clock::now_ms(),
    };
    store.add_na_mark(m.clone()).await?;
    tracing::info!(by = %actor.who(), catalog, item, "item marked not applicable");
    Ok(m)
}

/// Takes a signed snapshot now, recorded in the access log.
pub async fn create_snapshot(snapshots: &Snapshots, actor: &Actor) -> Result<Created, OpError> {
    require_write(actor)?;
    let who = actor.who();
    let c = snapshots.create(&who).await.map_err(OpError::Failed)?;
    access_log::record(
        snapshots.store(),
        &who,
        actor.role_name(),
        access_log::SNAPSHOT_CREATE,
        &c.entry.id,
    )
    .await?;
    tracing::info!(by = %who, id = %c.entry.id, "snapshot taken");
    Ok(c)
}

/// Builds the export `req` asks for, encrypts it to `recipients` (when any)
/// and records who took it before it is handed out. Anyone may export.
pub async fn take_export(
    src: &export::Source<'_>,
    actor: &Actor,
    req: &export::Request,
    recipients: &[String],
) -> Result<Output, OpError> {
    let out = export::export(src, req).await?.encrypted_to(recipients)?;
    let mut what = req.describe();
    if !recipients.is_empty() {
        what.push_str(" encrypted");
    }
    access_log::record(
        src.store,
        &actor.who(),
        actor.role_name(),
        access_log::EXPORT,
        &what,
    )
    .await
    .map_err(ExportError::from)?;
    tracing::info!(by = %actor.who(), export = %what, "exported");
    Ok(out)
}

/// The snapshot `id` (file stem or sequence number) as a download,
/// encrypted to `recipients` when any, recorded before it is handed out.
pub async fn download_snapshot(
    snapshots: &Snapshots,
    actor: &Actor,
    id: &str,
    recipients: &[String],
) -> Result<Option<Output>, OpError> {
    let Some((entry, bytes)) = snapshots.read(id).map_err(ExportError::Failed)? else {
        return Ok(None);
    };
    let out = Output {
        bytes,
        content_type: "application/json",
        file_name: format!("{}.json", entry.id),
    }
    .encrypted_to(recipients)?;
    let mut what = entry.id.clone();
    if !recipients.is_empty() {
        what.push_str(" encrypted");
    }
    access_log::record(
        snapshots.store(),
        &actor.who(),
        actor.role_name(),
        access_log::SNAPSHOT_DOWNLOAD,
        &what,
    )
    .await
    .map_err(ExportError::from)?;
    tracing::info!(by = %actor.who(), id = %entry.id, "snapshot downloaded");
    Ok(Some(out))
}

/// Revokes agent `agent`: its streams are refused from now on, on every
/// collector sharing the store. A name never seen is revoked before it
/// first connects.
pub async fn revoke_agent(store: &dyn Store, actor: &Actor, agent: &str) -> Result<(), OpError> {
    require_write(actor)?;
    store.set_revoked(agent, true).await?;
    tracing::info!(by = %actor.who(), agent, "agent revoked");
    Ok(())
}

/// The newest `limit` access records, for admins.
pub async fn read_access_log(
    store: &dyn Store,
    actor: &Actor,
    limit: u32,
) -> Result<Vec<Access>, OpError> {
    if !actor.may_read_access_log() {
        return Err(OpError::AdminOnly(actor.role_name()));
    }
    Ok(store.access_log(limit).await?)
}

#[cfg(test)]
mod tests {
    use super::document_name;

    #[test]
    fn documents_keep_their_last_path_component() {
        assert_eq!(
            document_name("restore-procedure.txt"),
            "restore-procedure.txt"
        );
        assert_eq!(
            document_name("C:\\fakepath\\복구 절차.pdf"),
            "복구 절차.pdf"
        );
        assert_eq!(document_name("../../etc/passwd"), "passwd");
        assert_eq!(document_name("dir/"), "document");
        assert_eq!(document_name("  "), "document");
    }
}
