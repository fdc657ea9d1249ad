//! Filled forms and checklists over HTTP (the same formats and options as
//! `gamsa-collector export`), and the access log for admins. Auditors may
//! export; every export is recorded before it is sent.

use super::{caller_name, ApiError};
use crate::export::ExportError;
use crate::state::AppState;
use crate::store::TokenRecord;
use axum::extract::{Query, State};
use axum::http::StatusCode;
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

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        let status = match e {
            ExportError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<TokenRecord>,
    Query(q): Query<crate::export::Query>,
) -> Result<Response, ApiError> {
    let req = q.request()?;
    let out = crate::export::deliver(
        &state.export_source(),
        &req,
        &crate::export::recipients(&q.encrypt_to),
        &caller_name(&caller),
        &caller.role,
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
    Extension(caller): Extension<TokenRecord>,
    Query(p): Query<LimitParam>,
) -> Result<Json<Value>, ApiError> {
    if caller.role != "admin" {
        crate::metrics::refusal("api_admin_only");
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("role {}: the access log is for admins", caller.role),
        ));
    }
    let records = state
        .store
        .access_log(p.limit.unwrap_or(1000).min(100_000))
        .await?;
    Ok(Json(json!({ "accessLog": records })))
}
