//! The HTTP/JSON API (axum), authenticated by bearer token.
//!
//! Evidence is returned in its proto3 canonical JSON form, the same form the
//! agent prints, so what an auditor downloads is what the agent observed.

use crate::actor::{Actor, Role};
use crate::export::ExportError;
use crate::operations::OpError;
use crate::state::AppState;
use crate::store::{EvidenceQuery, TokenKind};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use gamsa_proto::v1::{collector_message, CollectorMessage, Control};
use serde::Deserialize;
use serde_json::json;

mod availability;
mod checklists;
mod credentials;
pub mod exports;
pub mod openapi;
pub mod snapshots;

/// An error answered as `{"error": "..."}` with a status code.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The client sees the message; the operator must too.
        if self.0.is_server_error() {
            tracing::error!(status = self.0.as_u16(), error = %self.1, "API request failed");
        }
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        let status = match e {
            ExportError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ExportError::NotYet(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        let message = e.to_string();
        let status = match e {
            OpError::ReadOnly(_) => {
                crate::metrics::refusal("api_read_only");
                StatusCode::FORBIDDEN
            }
            OpError::AdminOnly(_) | OpError::NotAdmin(_) => {
                crate::metrics::refusal("api_admin_only");
                StatusCode::FORBIDDEN
            }
            OpError::NoItem { .. } | OpError::NotFound(_) => StatusCode::NOT_FOUND,
            OpError::Invalid(_) | OpError::TooLarge => StatusCode::BAD_REQUEST,
            OpError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            OpError::Export(e) => return e.into(),
            OpError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, message)
    }
}

/// The API's routes: health and metrics for anyone, the rest with a token.
pub fn routes(state: &AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/api/v1/agents", get(list_agents))
        .route("/api/v1/agents/{id}/control", post(control_agent))
        .route("/api/v1/evidence", get(list_evidence))
        .route("/api/v1/catalogs", get(checklists::list_catalogs))
        .route(
            "/api/v1/catalogs/{catalog}/items",
            get(checklists::list_items),
        )
        .route(
            "/api/v1/catalogs/{catalog}/items/{id}",
            get(checklists::get_item),
        )
        .route(
            "/api/v1/catalogs/{catalog}/items/{id}/attestations",
            post(checklists::add_attestation),
        )
        .route(
            "/api/v1/catalogs/{catalog}/items/{id}/na",
            post(checklists::mark_na),
        )
        .merge(availability::routes())
        .merge(snapshots::routes())
        .merge(exports::routes())
        .merge(credentials::routes())
        .layer(middleware::map_response(json_rejections))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .merge(api)
}

/// axum's own refusals of a malformed path, query or body (plain text) as
/// the API's `{"error": ...}`, as its description promises every error is.
async fn json_rejections(res: Response) -> Response {
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !res.status().is_client_error() || !plain {
        return res;
    }
    let status = res.status();
    let text = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    ApiError(status, String::from_utf8_lossy(&text).into_owned()).into_response()
}

async fn ready(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ready")
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}

async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        crate::metrics::refusal("api_no_token");
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing bearer token".into(),
        ));
    };
    let record = state
        .store
        .use_token(
            &crate::tokens::hash(token),
            TokenKind::Api,
            crate::clock::now_ms(),
        )
        .await?;
    // A token whose role is none of the three is not a valid token.
    let Some((record, role)) =
        record.and_then(|r| r.role.parse::<Role>().ok().map(|role| (r, role)))
    else {
        crate::metrics::refusal("api_bad_token");
        return Err(ApiError(StatusCode::UNAUTHORIZED, "invalid token".into()));
    };
    req.extensions_mut().insert(Actor::Token {
        name: record.name,
        role,
    });
    Ok(next.run(req).await)
}

/// Records a read by `caller` in the access log before it is answered.
pub(crate) async fn record(
    state: &AppState,
    caller: &Actor,
    action: &str,
    what: &str,
) -> Result<(), ApiError> {
    crate::access_log::record(
        state.store.as_ref(),
        &caller.who(),
        caller.role_name(),
        action,
        what,
    )
    .await?;
    Ok(())
}

/// Agents in one answer of `GET /api/v1/agents`, by default and at most:
/// about 250 kB of JSON.
pub const AGENTS_PAGE: u32 = 1000;

#[derive(Deserialize)]
struct AgentsParams {
    limit: Option<u32>,
    /// Agents skipped first: the `nextOffset` of the previous answer.
    #[serde(default)]
    offset: u32,
}

async fn list_agents(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(p): Query<AgentsParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = p.limit.unwrap_or(AGENTS_PAGE);
    if !(1..=AGENTS_PAGE).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit: from 1 to {AGENTS_PAGE}, not {limit}"),
        ));
    }
    let (page, total) = state.store.agents_page(p.offset, limit).await?;
    record(
        &state,
        &caller,
        crate::access_log::HOST_LIST,
        &format!("{} agents (from {} of {total})", page.len(), p.offset),
    )
    .await?;
    let next = u64::from(p.offset) + page.len() as u64;
    let list: Vec<_> = {
        let connected = state.agents.lock();
        page.into_iter()
            .map(|a| {
                let mut v = serde_json::to_value(&a).unwrap_or_default();
                let on = connected
                    .as_ref()
                    .is_ok_and(|c| c.contains_key(&a.agent_id));
                v["connected"] = json!(on);
                v
            })
            .collect()
    };
    let mut answer = json!({ "agents": list });
    if next < total {
        answer["nextOffset"] = json!(next);
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct EvidenceParams {
    probe: Option<String>,
    host: Option<String>,
    agent: Option<String>,
    /// RFC 3339 time, or a duration back from now ("15m", "24h").
    since: Option<String>,
    limit: Option<u32>,
    /// Rows skipped first: the `nextOffset` of the previous answer.
    offset: Option<u32>,
}

/// Most evidence bytes (protobuf encoding) one answer of
/// `GET /api/v1/evidence` reads; the rest is on the next page. Its JSON
/// stays under about 1 MB, unless a single evidence is larger.
pub const EVIDENCE_ANSWER_BYTES: u64 = 256 << 10;

/// Parses `since`: an RFC 3339 time or a duration back from now.
pub fn parse_since(s: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    humantime::parse_duration(s)
        .map(|d| now_ms - d.as_millis() as i64)
        .map_err(|_| format!("since={s:?}: expected an RFC 3339 time or a duration like 15m"))
}

async fn list_evidence(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(p): Query<EvidenceParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let asked: Vec<String> = [
        ("probe", &p.probe),
        ("host", &p.host),
        ("agent", &p.agent),
        ("since", &p.since),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect();
    let since_ms = p
        .since
        .as_deref()
        .map(|s| parse_since(s, crate::clock::now_ms()))
        .transpose()
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let (limit, offset) = (p.limit.unwrap_or(1000).min(10_000), p.offset.unwrap_or(0));
    let evidence = state
        .store
        .query_evidence(EvidenceQuery {
            probe: p.probe,
            host: p.host,
            hosts: Vec::new(),
            agent_id: p.agent,
            since_ms,
            until_ms: None,
            limit,
            offset,
            max_bytes: EVIDENCE_ANSWER_BYTES,
        })
        .await?;
    let more = evidence.len() >= limit.max(1) as usize
        || crate::store::cut_by_bytes(&evidence, EVIDENCE_ANSWER_BYTES);
    record(
        &state,
        &caller,
        crate::access_log::EVIDENCE_QUERY,
        &format!("{} records: {}", evidence.len(), asked.join(" ")),
    )
    .await?;
    let evidence = evidence_json(&state, &evidence).await?;
    let mut answer = json!({ "count": evidence.len(), "evidence": evidence });
    if more {
        answer["nextOffset"] = json!(u64::from(offset) + evidence.len() as u64);
    }
    Ok(Json(answer))
}

/// Evidence in its canonical JSON form; that of a revoked agent marked
/// `"agentRevoked": true` (kept for history, no longer counted in verdicts).
pub async fn evidence_json(
    state: &AppState,
    evidence: &[gamsa_proto::v1::Evidence],
) -> Result<Vec<serde_json::Value>, ApiError> {
    let revoked = state.store.revoked_agents().await?;
    evidence
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).map_err(|err| {
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("evidence {}: {err}", e.id),
                )
            })?;
            if revoked.contains(&e.agent_id) {
                v["agentRevoked"] = json!(true);
            }
            Ok(v)
        })
        .collect()
}

async fn control_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
    Json(control): Json<Control>,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::operations::require_write(&caller)?;
    let sender = state.agents.lock().ok().and_then(|a| a.get(&id).cloned());
    let Some(sender) = sender else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("agent {id} is not connected"),
        ));
    };
    let msg = CollectorMessage {
        msg: Some(collector_message::Msg::Control(control)),
    };
    sender
        .send(Ok(msg))
        .await
        .map_err(|_| ApiError(StatusCode::GONE, format!("agent {id} disconnected")))?;
    tracing::info!(agent_id = %id, by = %caller.name(), "control message sent");
    Ok(Json(json!({ "sent": true })))
}
