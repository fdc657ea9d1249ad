//! Filled forms and checklists over HTTP (the same formats and options as
//! `gamsa-collector export`), and the access log for admins. Auditors may
//! export; every export is recorded before it is sent.

use super::ApiError;
use crate::actor::Actor;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/exports", get(export))
        .route("/api/v1/access-log", get(access_log))
}

async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(q): Query<crate::export::Query>,
) -> Result<Response, ApiError> {
    let req = q.request()?;
    let out = crate::operations::take_export(
        &state.export_source(),
        &caller,
        &req,
        &crate::export::recipients(&q.encrypt_to),
    )
    .await?;
    Ok(crate::download::file(out))
}

#[derive(Deserialize)]
pub struct LimitParam {
    limit: Option<u32>,
}

async fn access_log(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(p): Query<LimitParam>,
) -> Result<Json<Value>, ApiError> {
    let records = crate::operations::read_access_log(
        state.store.as_ref(),
        &caller,
        p.limit.unwrap_or(1000).min(100_000),
    )
    .await?;
    Ok(Json(json!({ "accessLog": records })))
}
