//! Checklist answers over HTTP: catalogs, items with verdicts, an item with
//! the evidence behind it, and (operators) documentary evidence and NA marks.

use super::ApiError;
use crate::actor::Actor;
use crate::operations::{self, NewAttestation, OpError, MAX_DOCUMENT};
use crate::state::AppState;
use crate::verdict::ItemResult;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct GroupParam {
    group: Option<String>,
}

fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
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

async fn evaluate(
    state: &AppState,
    catalog: &str,
    group: Option<&str>,
) -> Result<Vec<ItemResult>, ApiError> {
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
    state
        .checklists
        .evaluate(state.store.as_ref(), &[catalog], group)
        .await
        .map_err(internal)
}

pub async fn list_items(
    State(state): State<AppState>,
    Path(catalog): Path<String>,
    Query(q): Query<GroupParam>,
) -> Result<Json<Value>, ApiError> {
    let items = evaluate(&state, &catalog, q.group.as_deref()).await?;
    let list: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "titleKo": i.title_ko, "titleEn": i.title_en,
                "verdict": i.verdict, "reason": i.reason_en, "reasonKo": i.reason_ko,
                "hosts": i.hosts, "evaluatedAt": i.evaluated_at,
            })
        })
        .collect();
    Ok(Json(json!({
        "catalog": catalog,
        "group": q.group,
        "counts": crate::report::counts(&items),
        "items": list,
    })))
}

pub async fn get_item(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path((catalog, id)): Path<(String, String)>,
    Query(q): Query<GroupParam>,
) -> Result<Json<Value>, ApiError> {
    let items = evaluate(&state, &catalog, q.group.as_deref()).await?;
    let result = items
        .into_iter()
        .find(|i| i.id == id)
        .ok_or_else(|| not_found(format!("no item {catalog}/{id}")))?;
    let def = state
        .checklists
        .catalog(&catalog)
        .and_then(|c| c.item(&id))
        .cloned();
    let evidence = state
        .store
        .evidence_by_ids(result.evidence.to_vec())
        .await?;
    let evidence = super::evidence_json(&state, &evidence).await?;
    crate::access_log::record(
        state.store.as_ref(),
        &caller.who(),
        caller.role_name(),
        crate::access_log::ITEM_VIEW,
        &format!("{catalog}/{id}"),
    )
    .await?;
    Ok(Json(
        json!({ "item": def, "result": result, "evidence": evidence }),
    ))
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
    Ok(Json(json!({ "naMark": m })))
}
