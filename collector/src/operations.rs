//! What people do to the collector, one operation each — record an
//! attestation, mark an item NA, take or download a snapshot, take an
//! export or the findings report, read the findings history, the host inventory or the access log, revoke or reinstate an agent, list and
//! revoke tokens, list, delete and change users, enter planned maintenance
//! windows, take the monthly operation report — called alike by the API,
//! the dashboard and the command line.
//! Each decides here whether the actor may, checks the request against the
//! catalogs, and records in the access log what leaves the collector before
//! it is handed out. The front ends only translate requests and answers, so
//! the API and the dashboard cannot drift apart.

use crate::access_log;
use crate::actor::{Actor, Role};
use crate::assessment::{self, History};
use crate::availability::Maintenance;
use crate::checklists::Checklists;
use crate::export::{self, ExportError, Output};
use crate::inventory;
use crate::records::{Access, Attestation, MaintenanceWindow, NaMark};
use crate::snapshot::{Created, Snapshots};
use crate::store::{Store, StoreError, TokenInfo, TokenKind};
use crate::tokens::{self, NewToken};
use crate::verdict::Verdict;
use serde::Serialize;
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
    #[error(
        "role {0}: tokens, users, agents' reinstatement and maintenance windows are for admins"
    )]
    NotAdmin(&'static str),
    /// No such token, user or agent; the message names it.
    #[error("{0}")]
    NotFound(String),
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
) -> Result<(Output, Option<String>), OpError> {
    let (out, next) = export::export(src, req).await?;
    let out = out.encrypted_to(recipients)?;
    let mut what = req.describe();
    if !recipients.is_empty() {
        what.push_str(" encrypted");
    }
    access_log::record(
        src.store.as_ref(),
        &actor.who(),
        actor.role_name(),
        access_log::EXPORT,
        &what,
    )
    .await
    .map_err(ExportError::from)?;
    tracing::info!(by = %actor.who(), export = %what, "exported");
    Ok((out, next))
}

/// The findings history `filter` names (each host's findings, compared
/// with the previous assessment and a year earlier), recorded in the access
/// log before it is handed out. Anyone may read it.
pub async fn read_findings(
    store: &dyn Store,
    checklists: &Checklists,
    tallies: &assessment::Tallies,
    actor: &Actor,
    filter: &assessment::Filter,
) -> Result<History, OpError> {
    known_catalog(checklists, filter)?;
    let history = bounded_findings(store, checklists, filter, tallies).await?;
    recorded(store, actor, access_log::FINDINGS_VIEW, &filter.describe()).await?;
    Ok(history)
}

/// The most findings one read without a page holds (a report, the
/// dashboard's list, the command line): about 150 MB at most in memory,
/// where a whole large fleet's history could exhaust it.
pub const MAX_FINDINGS: u32 = 100_000;

/// The findings `filter` names: its page, or all of them up to
/// [`MAX_FINDINGS`]; more is refused with what narrows it, counted by
/// `tallies`.
async fn bounded_findings(
    store: &dyn Store,
    checklists: &Checklists,
    filter: &assessment::Filter,
    tallies: &assessment::Tallies,
) -> Result<History, OpError> {
    if filter.page.is_some() {
        return Ok(assessment::read(store, checklists, filter).await?);
    }
    let too_many = || {
        OpError::Invalid(format!(
            "findings ({}): more than {MAX_FINDINGS}; name a host or a catalog, \
             or read them a page at a time (GET /api/v1/findings)",
            filter.describe()
        ))
    };
    // Refused before any is read; the bounded read below still refuses
    // what an assessment added in between.
    if tallies.summary(store, filter).await?.findings > u64::from(MAX_FINDINGS) {
        return Err(too_many());
    }
    let bounded = assessment::Filter {
        page: Some(crate::store::KeyPage {
            offset: 0,
            limit: MAX_FINDINGS,
        }),
        ..filter.clone()
    };
    let history = assessment::read(store, checklists, &bounded).await?;
    if history.next_offset.is_some() {
        return Err(too_many());
    }
    Ok(history)
}

/// Page `page` of the host inventory (`limit` hosts, by name), with every IP
/// address replaced by the collector's keyed label when `redact_ips` (as
/// exports do, the key in `data_dir`), recorded in the access log before it
/// is handed out. Anyone may read it.
pub async fn read_inventory(
    store: &dyn Store,
    seen: &inventory::Seen,
    actor: &Actor,
    request: &inventory::Request,
    data_dir: &std::path::Path,
) -> Result<inventory::Page, OpError> {
    let mut page = inventory::page(store, seen, request.page, request.limit).await?;
    if request.redact_ips {
        let redactor = export::redact::Redactor::load_or_create(data_dir)
            .map_err(|e| OpError::Failed(e.into()))?;
        page.hosts = redactor
            .apply(&page.hosts)
            .map_err(|e| OpError::Failed(e.into()))?;
    }
    let what = format!(
        "page {} ({} of {} hosts){}",
        page.page,
        page.hosts.len(),
        page.total,
        if request.redact_ips { " redacted" } else { "" }
    );
    recorded(store, actor, access_log::INVENTORY_VIEW, &what).await?;
    Ok(page)
}

/// Refuses a filter naming a catalog there is not (a typo would read as no
/// findings).
fn known_catalog(checklists: &Checklists, filter: &assessment::Filter) -> Result<(), OpError> {
    match &filter.catalog {
        Some(c) if checklists.catalog(c).is_none() => {
            Err(OpError::NotFound(format!("no catalog {c}")))
        }
        _ => Ok(()),
    }
}

/// The findings report (CSV, HTML or PDF) of the findings `filter` names,
/// with each rule's remediation, encrypted to `recipients` when any and
/// recorded in the access log as an export before it is handed out.
pub async fn findings_report(
    src: &export::Source<'_>,
    actor: &Actor,
    filter: &assessment::Filter,
    format: export::Format,
    recipients: &[String],
) -> Result<Output, OpError> {
    known_catalog(src.checklists, filter)?;
    let history = bounded_findings(src.store.as_ref(), src.checklists, filter, src.tallies).await?;
    let scope = filter.describe();
    let out = export::findings::render(
        &history,
        format,
        &scope,
        src.collector_id,
        &src.config.pdf_font,
    )?
    .encrypted_to(recipients)?;
    let mut what = format!("findings report {scope} {}", format.extension());
    if !recipients.is_empty() {
        what.push_str(" encrypted");
    }
    recorded(src.store.as_ref(), actor, access_log::EXPORT, &what).await?;
    tracing::info!(by = %actor.who(), export = %what, "exported");
    Ok(out)
}

/// The monthly operation report of `month` ("YYYY-MM") for `scope` ("all",
/// "role=web"), HTML or PDF, from the stored evidence (a serving
/// collector hands out one made in the last minutes, `export::made`);
/// recorded in the access log as an export before it is handed out.
/// Anyone may take it.
pub async fn monthly_report(
    src: &export::Source<'_>,
    availability: &crate::availability::AvailabilityConfig,
    actor: &Actor,
    month: &str,
    scope: &str,
    format: export::Format,
) -> Result<Output, OpError> {
    let scope = export::monthly::Scope::parse(scope)?;
    let make = async {
        let report =
            export::monthly::build(src, availability, month, &scope, crate::clock::now_ms())
                .await?;
        export::monthly::render(&report, format, src.collector_id, &src.config.pdf_font)
    };
    let out = match src.made {
        Some(made) => {
            let key = format!(
                "monthly {month} {} {}",
                scope.describe(),
                format.extension()
            );
            made.get_or_make(&key, make).await?
        }
        None => make.await?,
    };
    let what = format!(
        "monthly report {month} {} {}",
        scope.describe(),
        format.extension()
    );
    recorded(src.store.as_ref(), actor, access_log::EXPORT, &what).await?;
    tracing::info!(by = %actor.who(), export = %what, "exported");
    Ok(out)
}

/// The snapshot `id` (file stem or sequence number) as a download: with
/// `whole`, a tar of its signed file and every file it names; else its
/// signed file alone, whose files are then fetched by name
/// ([`snapshot_object`]). Encrypted to `recipients` when any, recorded
/// before it is handed out.
pub async fn download_snapshot(
    snapshots: &Snapshots,
    actor: &Actor,
    id: &str,
    whole: bool,
    recipients: &[String],
) -> Result<Option<Output>, OpError> {
    let found = if whole {
        snapshots.bundle(id)
    } else {
        snapshots
            .read(id)
            .map(|f| f.map(|(entry, bytes)| (entry, bytes.into(), false)))
    };
    let Some((entry, body, tar)) = found.map_err(ExportError::Failed)? else {
        return Ok(None);
    };
    let out = Output {
        body,
        content_type: if tar {
            "application/x-tar"
        } else {
            "application/json"
        },
        file_name: format!("{}.{}", entry.id, if tar { "tar" } else { "json" }),
    }
    .encrypted_to(recipients)?;
    let mut what = entry.id.clone();
    if !tar {
        what.push_str(" signed file");
    }
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

/// A file a snapshot names, by its SHA-256 (what `objects/<aa>/<sha256>.json`
/// holds beside the signed file), encrypted to `recipients` when any. Not
/// recorded one by one: a fleet's snapshot names hundreds of thousands,
/// and their names come from the signed file, whose download is recorded.
pub async fn snapshot_object(
    snapshots: &Snapshots,
    sha256: &str,
    recipients: &[String],
) -> Result<Option<Output>, OpError> {
    let Some(bytes) = snapshots.object(sha256).map_err(ExportError::Failed)? else {
        return Ok(None);
    };
    Ok(Some(
        Output {
            body: bytes.into(),
            content_type: "application/json",
            file_name: format!("{sha256}.json"),
        }
        .encrypted_to(recipients)?,
    ))
}

/// Revokes agent `agent`: its streams are refused from now on, on every
/// collector sharing the store. A name never seen is revoked before it
/// first connects.
pub async fn revoke_agent(store: &dyn Store, actor: &Actor, agent: &str) -> Result<(), OpError> {
    require_write(actor)?;
    store.set_revoked(agent, true).await?;
    recorded(store, actor, access_log::AGENT_REVOKE, agent).await?;
    tracing::info!(by = %actor.who(), agent, "agent revoked");
    Ok(())
}

/// Takes back an agent revoked by mistake: it is no longer revoked, and its
/// stored evidence counts again. Its old certificate stays refused: the
/// agent enrols anew, with the one-use enrolment token bound to its name
/// that is returned (valid `ttl`, a day unless told), and from then on only
/// the certificate of that enrolment is accepted for the name.
pub async fn reinstate_agent(
    store: &dyn Store,
    actor: &Actor,
    agent: &str,
    ttl: Option<std::time::Duration>,
) -> Result<String, OpError> {
    require_admin(actor)?;
    crate::pki::validate_agent_name(agent).map_err(|e| OpError::Invalid(e.to_string()))?;
    if !store.reinstate_agent(agent).await? {
        return Err(OpError::NotFound(format!("agent {agent:?} is not revoked")));
    }
    recorded(store, actor, access_log::AGENT_REINSTATE, agent).await?;
    let token = NewToken::Enrol {
        agent: Some(agent.into()),
        uses: 1,
    };
    let secret = tokens::create(store, token, ttl)
        .await
        .map_err(|e| OpError::Failed(e.into()))?;
    tracing::info!(by = %actor.who(), agent, "agent reinstated; it enrols again for a new certificate");
    Ok(secret)
}

/// Refuses an actor who is not an admin.
fn require_admin(actor: &Actor) -> Result<(), OpError> {
    if actor.may_manage_credentials() {
        Ok(())
    } else {
        Err(OpError::NotAdmin(actor.role_name()))
    }
}

/// Records an admin's read or change in the access log.
async fn recorded(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    what: &str,
) -> Result<(), OpError> {
    access_log::record(store, &actor.who(), actor.role_name(), action, what).await?;
    Ok(())
}

/// How many hex digits of a token's hash are its id: enough to name one
/// token among millions, short enough to type.
pub const TOKEN_ID_LEN: usize = 16;

/// Fewest hex digits an id given to `revoke_token` may have.
const TOKEN_ID_MIN: usize = 8;

/// A token as admins see it: an id (the start of its SHA-256), never the
/// secret, which is kept nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    pub kind: &'static str,
    /// Enrolment: the agent name it is bound to ('' when shared). API: its name.
    pub name: String,
    /// API tokens' role; '' for enrolment tokens.
    pub role: String,
    pub created: String,
    pub expires: Option<String>,
    /// Enrolment tokens: uses left of `max_uses`.
    pub uses_left: Option<u32>,
    pub max_uses: Option<u32>,
    /// API tokens: to the minute; enrolment tokens: the last enrolment.
    pub last_used: Option<String>,
    pub expired: bool,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

impl TokenView {
    fn of(t: &TokenInfo, now_ms: i64) -> TokenView {
        let enrol = t.kind == TokenKind::Enrol;
        TokenView {
            id: t.hash.chars().take(TOKEN_ID_LEN).collect(),
            kind: t.kind.as_str(),
            name: t.name.clone(),
            role: t.role.clone(),
            created: rfc3339(t.created_ms),
            expires: t.expires_at_ms.map(rfc3339),
            uses_left: enrol.then(|| t.max_uses.saturating_sub(t.uses)),
            max_uses: enrol.then_some(t.max_uses),
            last_used: t.last_used_ms.map(rfc3339),
            expired: t.expires_at_ms.is_some_and(|e| e <= now_ms),
        }
    }
}

/// Every API and enrolment token, oldest first, for admins.
pub async fn list_tokens(store: &dyn Store, actor: &Actor) -> Result<Vec<TokenView>, OpError> {
    require_admin(actor)?;
    let now = crate::clock::now_ms();
    let tokens: Vec<TokenView> = store
        .list_tokens()
        .await?
        .iter()
        .map(|t| TokenView::of(t, now))
        .collect();
    recorded(
        store,
        actor,
        access_log::TOKEN_LIST,
        &format!("{} tokens", tokens.len()),
    )
    .await?;
    Ok(tokens)
}

/// Revokes the API or enrolment token whose id starts with `id` (at least
/// 8 hex digits, naming one token): it is refused from the next request on,
/// by every collector sharing the store.
pub async fn revoke_token(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
) -> Result<TokenView, OpError> {
    require_admin(actor)?;
    let id = id.trim().to_ascii_lowercase();
    if id.len() < TOKEN_ID_MIN || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(OpError::Invalid(format!(
            "token id {id:?}: give at least {TOKEN_ID_MIN} hex digits of the id `token list` shows"
        )));
    }
    let mut found: Vec<TokenInfo> = store
        .list_tokens()
        .await?
        .into_iter()
        .filter(|t| t.hash.starts_with(&id))
        .collect();
    let token = match found.len() {
        0 => return Err(OpError::NotFound(format!("no token with id {id}"))),
        1 => found.remove(0),
        n => {
            return Err(OpError::Invalid(format!(
                "token id {id}: {n} tokens start with it; give more digits"
            )))
        }
    };
    store.delete_token(&token.hash).await?;
    let view = TokenView::of(&token, crate::clock::now_ms());
    let what = format!("{} token {} {:?}", view.kind, view.id, view.name);
    recorded(store, actor, access_log::TOKEN_REVOKE, &what).await?;
    tracing::info!(by = %actor.who(), token = %view.id, kind = view.kind, name = %view.name, "token revoked");
    Ok(view)
}

/// A dashboard user as admins see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub name: String,
    pub role: String,
}

/// Every dashboard user, by name, for admins.
pub async fn list_users(store: &dyn Store, actor: &Actor) -> Result<Vec<UserView>, OpError> {
    require_admin(actor)?;
    let users: Vec<UserView> = store
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserView {
            name: u.name,
            role: u.role,
        })
        .collect();
    recorded(
        store,
        actor,
        access_log::USER_LIST,
        &format!("{} users", users.len()),
    )
    .await?;
    Ok(users)
}

/// Deletes a dashboard user; its sessions end at once.
pub async fn delete_user(store: &dyn Store, actor: &Actor, name: &str) -> Result<(), OpError> {
    require_admin(actor)?;
    if !store.delete_user(name).await? {
        return Err(OpError::NotFound(format!("no user {name:?}")));
    }
    recorded(store, actor, access_log::USER_DELETE, name).await?;
    tracing::info!(by = %actor.who(), user = name, "user deleted; its sessions ended");
    Ok(())
}

/// Changes a dashboard user's role. Its sessions end at once, so a demoted
/// user can do nothing more with the role it signed in with.
pub async fn set_user_role(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    role: Role,
) -> Result<(), OpError> {
    require_admin(actor)?;
    if !store.set_user_role(name, role.as_str()).await? {
        return Err(OpError::NotFound(format!("no user {name:?}")));
    }
    recorded(
        store,
        actor,
        access_log::USER_ROLE,
        &format!("{name}: {role}"),
    )
    .await?;
    tracing::info!(by = %actor.who(), user = name, %role, "user role changed; its sessions ended");
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

/// A planned maintenance window as asked for: times in RFC 3339.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMaintenance {
    /// The service as the synthetic checks name it; empty for every service.
    #[serde(default)]
    pub service: String,
    pub start: String,
    pub end: String,
    pub reason: String,
}

/// Longest maintenance window: a mistyped year should not excuse a year.
const MAX_WINDOW_DAYS: i64 = 31;

fn instant(field: &str, value: &str) -> Result<i64, OpError> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            OpError::Invalid(format!(
                "{field}: {value:?} is not an RFC 3339 time such as 2026-11-03T01:00:00+09:00 ({e})"
            ))
        })
}

/// Records a planned maintenance window (admins): down time of the service
/// inside it counts as a planned stop, not a failure.
pub async fn add_maintenance(
    store: &dyn Store,
    actor: &Actor,
    new: NewMaintenance,
) -> Result<Maintenance, OpError> {
    require_admin(actor)?;
    let (start_ms, end_ms) = (instant("start", &new.start)?, instant("end", &new.end)?);
    if end_ms <= start_ms {
        return Err(OpError::Invalid("end: must be after start".into()));
    }
    if end_ms - start_ms > MAX_WINDOW_DAYS * 86_400_000 {
        return Err(OpError::Invalid(format!(
            "end: a window lasts at most {MAX_WINDOW_DAYS} days"
        )));
    }
    let service = new.service.trim().to_string();
    if service.chars().count() > 200 || service.chars().any(char::is_control) {
        return Err(OpError::Invalid(
            "service: at most 200 characters, no control characters".into(),
        ));
    }
    let reason = new.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 2000 || reason.contains('\0') {
        return Err(OpError::Invalid(
            "reason: say why (1 to 2000 characters)".into(),
        ));
    }
    let mut window = MaintenanceWindow {
        id: 0,
        service,
        start_ms,
        end_ms,
        reason,
        by: actor.who(),
        created_ms: crate::clock::now_ms(),
    };
    window.id = store.add_maintenance(window.clone()).await?;
    let view = Maintenance::from(&window);
    let what = format!(
        "{} {} {} - {}",
        view.id,
        if view.service.is_empty() {
            "*"
        } else {
            &view.service
        },
        view.start.to_rfc3339(),
        view.end.to_rfc3339()
    );
    recorded(store, actor, access_log::MAINTENANCE_ADD, &what).await?;
    tracing::info!(by = %actor.who(), window = %what, "maintenance window added");
    Ok(view)
}

/// The maintenance windows overlapping `month` ("YYYY-MM"), or every window
/// from a year ago on when none is given. Anyone may read them: the
/// availability they change is shown to everyone.
pub async fn list_maintenance(
    store: &dyn Store,
    month: Option<&str>,
) -> Result<Vec<Maintenance>, OpError> {
    let (from, to) = match month {
        Some(m) => {
            let (f, t) = crate::availability::month_bounds(m)
                .map_err(|e| OpError::Invalid(e.to_string()))?;
            (f.timestamp_millis(), t.timestamp_millis())
        }
        None => (crate::clock::now_ms() - 366 * 86_400_000, i64::MAX),
    };
    Ok(store
        .maintenance(from, to)
        .await?
        .iter()
        .map(Maintenance::from)
        .collect())
}

/// Deletes maintenance window `id` (admins).
pub async fn delete_maintenance(store: &dyn Store, actor: &Actor, id: i64) -> Result<(), OpError> {
    require_admin(actor)?;
    if !store.delete_maintenance(id).await? {
        return Err(OpError::NotFound(format!("no maintenance window {id}")));
    }
    recorded(
        store,
        actor,
        access_log::MAINTENANCE_DELETE,
        &id.to_string(),
    )
    .await?;
    tracing::info!(by = %actor.who(), id, "maintenance window deleted");
    Ok(())
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
