//! Checklist answers over HTTP: catalogs, items with verdicts, an item with
//! the evidence behind it, and (operators) documentary evidence and NA marks.
//!
//! Verdicts are read from the kept evaluation (`evaluation.rs`), never
//! evaluated per request, and every answer says as of when (`asOf`,
//! `changeCounter`, `pending`). Answers stay sized for people at any fleet
//! size: the item list counts each item's hosts per outcome, and an item
//! comes one page of its hosts at a time (worst first, `page` and `limit`),
//! with the evidence of those hosts only, up to `EVIDENCE_BUDGET` (the ids
//! past it in `evidenceLeftOut`), and their detail lines up to
//! `DETAIL_BUDGET` (the rest counted in `detailLeftOut`); following
//! `page.next` until it is null fetches every host.

use super::ApiError;
use crate::actor::Actor;
use crate::catalog::Catalog;
use crate::evaluation::Evaluation;
use crate::operations::{self, NewAttestation, OpError, MAX_DOCUMENT};
use crate::state::AppState;
use crate::verdict::{details_shown, ItemResult, Outcome};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct GroupParam {
    group: Option<String>,
}

/// An item's query: the applicant group, and which page of its hosts.
#[derive(Deserialize)]
pub struct ItemParams {
    group: Option<String>,
    /// Zero-based page of the item's hosts, worst first.
    #[serde(default)]
    page: usize,
    /// Hosts per page.
    #[serde(default = "default_limit")]
    limit: usize,
}

/// Hosts per page of an item unless asked: with the evidence behind them,
/// well under a megabyte.
pub const DEFAULT_LIMIT: usize = 50;
/// The most hosts one page of an item may ask for.
pub const MAX_LIMIT: usize = 1000;

fn default_limit() -> usize {
    DEFAULT_LIMIT
}

fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

pub async fn list_catalogs(State(state): State<AppState>) -> Json<Value> {
    let list: Vec<Value> = state
        .checklists
        .catalogs
        .iter()
        .map(|c| {
            json!({
                "id": c.catalog.id,
                "titleKo": c.catalog.title_ko,
                "titleEn": c.catalog.title_en,
                "version": c.catalog.version,
                "source": c.catalog.source,
                "freshness": humantime::format_duration(c.catalog.freshness).to_string(),
                "groups": c.groups.iter().map(|g| json!({"id": g.id, "titleKo": g.title_ko, "titleEn": g.title_en})).collect::<Vec<_>>(),
                "items": c.items.len(),
            })
        })
        .collect();
    Json(json!({ "catalogs": list }))
}

/// The catalog asked for, the applicant group checked against it, and the
/// kept evaluation (never evaluated for the request).
async fn kept<'a>(
    state: &'a AppState,
    catalog: &str,
    group: Option<&str>,
) -> Result<(&'a Catalog, Arc<Evaluation>), ApiError> {
    let c = state
        .checklists
        .catalog(catalog)
        .ok_or_else(|| not_found(format!("no catalog {catalog}")))?;
    if let Some(g) = group {
        if c.group(g).is_none() {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("{catalog} has no applicant group {g}"),
            ));
        }
    }
    let e = state
        .verdicts
        .get()
        .await
        .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok((c, e))
}

/// As of when an answer's verdicts are: the evaluation's time, the store
/// change it includes, and whether a newer one is on its way.
fn as_of(state: &AppState, e: &Evaluation) -> Value {
    json!({
        "asOf": e.as_of(),
        "changeCounter": e.counter,
        "pending": state.verdicts.pending(e),
    })
}

/// How many hosts have each outcome.
fn host_counts<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> BTreeMap<Outcome, usize> {
    let mut counts = BTreeMap::new();
    for o in outcomes {
        *counts.entry(*o).or_default() += 1;
    }
    counts
}

pub async fn list_items(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(catalog): Path<String>,
    Query(q): Query<GroupParam>,
) -> Result<Json<Value>, ApiError> {
    let (c, e) = kept(&state, &catalog, q.group.as_deref()).await?;
    let items = e.items_of(c, q.group.as_deref());
    let what = match &q.group {
        Some(g) => format!("{catalog} group {g}"),
        None => catalog.clone(),
    };
    super::record(&state, &caller, crate::access_log::ITEM_LIST, &what).await?;
    // Counts of hosts, not the hosts: an item's hosts are paged by the
    // item's own answer.
    let list: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "titleKo": i.title_ko, "titleEn": i.title_en,
                "verdict": i.verdict, "reason": i.reason_en, "reasonKo": i.reason_ko,
                "hostCounts": host_counts(i.hosts.values()), "evaluatedAt": i.evaluated_at,
            })
        })
        .collect();
    let mut answer = json!({
        "catalog": catalog,
        "group": q.group,
        "counts": crate::report::counts(&items),
        "items": list,
    });
    merge(&mut answer, as_of(&state, &e));
    Ok(Json(answer))
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// One page of `result`'s hosts, worst first then by name: the item's
/// hosts, each row's results and the evidence ids cut to the hosts of the
/// page; the counts stay those of every host.
fn page_of(result: &ItemResult, page: usize, limit: usize) -> (Value, usize) {
    let mut order: Vec<(&String, &Outcome)> = result.hosts.iter().collect();
    order.sort_by(|a, b| a.1.rank().cmp(&b.1.rank()).then(a.0.cmp(b.0)));
    let total = order.len();
    let shown: BTreeSet<&str> = order
        .into_iter()
        .skip(page.saturating_mul(limit))
        .take(limit)
        .map(|(h, _)| h.as_str())
        .collect();
    let part = result.of_hosts(|h| shown.contains(h));
    let lines = details_shown(
        part.rows.iter().flat_map(|r| r.hosts.iter().map(|h| &**h)),
        DETAIL_BUDGET,
    );
    let mut v = serde_json::to_value(&part).unwrap_or_default();
    v["hostCounts"] = json!(host_counts(result.hosts.values()));
    if let Some(rows) = v["rows"].as_array_mut() {
        for (row, r) in rows.iter_mut().zip(&result.rows) {
            row["hostCounts"] = json!(host_counts(r.hosts.iter().map(|h| &h.outcome)));
            for h in row["hosts"].as_array_mut().into_iter().flatten() {
                let detail = h.get_mut("detail").and_then(Value::as_array_mut);
                let left = detail.map_or(0, |d| {
                    let left = d.len().saturating_sub(lines);
                    d.truncate(lines);
                    left
                });
                if left > 0 {
                    h["detailLeftOut"] = json!(left);
                }
            }
        }
    }
    (v, total)
}

/// The most bytes of detail lines a page's host results carry: past it,
/// each host shows the same first lines and says how many it left out
/// (`verdict::details_shown`); a smaller `limit` carries them whole.
pub const DETAIL_BUDGET: usize = 256 * 1024;

/// What an item's answer is made to hold at most, its evidence taking what
/// the item and its page of results leave (at most `EVIDENCE_BUDGET`).
pub const ANSWER_BUDGET: usize = 900 * 1024;

/// The most bytes of evidence (as JSON) an item's answer carries: with a
/// page of hosts and the rows' results, under a megabyte (`ANSWER_BUDGET`).
/// Hosts' package lists alone are about 90 KB each, so fifty hosts'
/// evidence can reach several megabytes.
pub const EVIDENCE_BUDGET: usize = 640 * 1024;

pub async fn get_item(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path((catalog, id)): Path<(String, String)>,
    Query(q): Query<ItemParams>,
) -> Result<Json<Value>, ApiError> {
    if !(1..=MAX_LIMIT).contains(&q.limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {MAX_LIMIT}, not {}", q.limit),
        ));
    }
    let (c, e) = kept(&state, &catalog, q.group.as_deref()).await?;
    let result = e
        .item_of(c, &id, q.group.as_deref())
        .ok_or_else(|| not_found(format!("no item {catalog}/{id}")))?;
    let def = c.item(&id).cloned();
    let (paged, total) = page_of(&result, q.page, q.limit);
    let ids: Vec<String> = paged["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let around = [serde_json::to_vec(&def), serde_json::to_vec(&paged)]
        .iter()
        .map(|b| b.as_ref().map_or(0, Vec::len))
        .sum::<usize>();
    let budget = EVIDENCE_BUDGET.min(ANSWER_BUDGET.saturating_sub(around));
    // Read until the budget, each evidence's size as the answer shows it;
    // the ids past it are named, unread: each row's hosts name them, whose
    // evidence `/api/v1/evidence?host=` pages through, and a smaller
    // `limit` carries them whole.
    let json_len = |e: &gamsa_proto::v1::Evidence| serde_json::to_vec(e).map_or(0, |b| b.len());
    let (read, left_out) =
        crate::store::evidence_within(state.store.as_ref(), ids, budget, json_len).await?;
    let evidence = super::evidence_json(&state, &read).await?;
    crate::access_log::record(
        state.store.as_ref(),
        &caller.who(),
        caller.role_name(),
        crate::access_log::ITEM_VIEW,
        &format!("{catalog}/{id}"),
    )
    .await?;
    let next = (q.page.saturating_add(1).saturating_mul(q.limit) < total).then_some(q.page + 1);
    let mut answer = json!({
        "item": def,
        "result": paged,
        "evidence": evidence,
        "evidenceLeftOut": left_out,
        "page": { "page": q.page, "limit": q.limit, "hosts": total, "next": next },
    });
    merge(&mut answer, as_of(&state, &e));
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationRequest {
    row: String,
    verdict: String,
    comment: String,
    #[serde(default)]
    file_name: String,
    /// The document, base64.
    #[serde(default)]
    file_base64: String,
    /// How long the attestation counts; default 365 days.
    #[serde(default)]
    valid_days: Option<u32>,
}

pub async fn add_attestation(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path((catalog, id)): Path<(String, String)>,
    Json(req): Json<AttestationRequest>,
) -> Result<Json<Value>, ApiError> {
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let document = if req.file_base64.is_empty() {
        None
    } else {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&req.file_base64)
            .map_err(|e| bad(format!("fileBase64: {e}")))?;
        Some((req.file_name, bytes))
    };
    let new = NewAttestation {
        catalog,
        item: id,
        row: req.row,
        verdict: req.verdict,
        comment: req.comment,
        document,
        valid_days: req.valid_days,
    };
    let a = operations::attest(state.store.as_ref(), &state.checklists, &caller, new)
        .await
        .map_err(|e| match e {
            OpError::TooLarge => bad(format!("fileBase64: larger than {MAX_DOCUMENT} bytes")),
            e => e.into(),
        })?;
    state.verdicts.include_writes(state.store.as_ref()).await;
    Ok(Json(json!({ "attestation": a })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NaRequest {
    justification: String,
}

pub async fn mark_na(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path((catalog, id)): Path<(String, String)>,
    Json(req): Json<NaRequest>,
) -> Result<Json<Value>, ApiError> {
    let m = operations::mark_na(
        state.store.as_ref(),
        &state.checklists,
        &caller,
        &catalog,
        &id,
        &req.justification,
    )
    .await?;
    state.verdicts.include_writes(state.store.as_ref()).await;
    Ok(Json(json!({ "naMark": m })))
}
