//! Filled forms and checklists over HTTP (the same formats and options as
//! `gamsa-collector export`), and the access log for admins. Auditors may
//! export; every export is recorded before it is sent.

use super::{caller_name, ApiError};
use crate::export::ExportError;
use crate::state::AppState;
use crate::store::TokenRecord;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
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

/// An export as a response: HTML inline (to read and print in the browser),
/// everything else as a download.
pub fn response(out: crate::export::Output) -> Response {
    let disposition = if out.content_type.starts_with("text/html") {
        "inline"
    } else {
        "attachment"
    };
    (
        [
            (header::CONTENT_TYPE, out.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{}\"", out.file_name),
            ),
        ],
        out.bytes,
    )
        .into_response()
}

async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<TokenRecord>,
    Query(q): Query<crate::export::Query>,
) -> Result<Response, ApiError> {
    let req = q.request()?;
    let out = crate::export::deliver(
        &crate::export::Source::of(&state),
        &req,
        &crate::export::recipients(&q.encrypt_to),
        &caller_name(&caller),
        &caller.role,
    )
    .await?;
    Ok(response(out))
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
