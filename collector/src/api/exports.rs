//! Filled forms and checklists over HTTP (the same formats and options as
//! `gamsa-collector export`), the findings history and its report (as
//! `gamsa-collector findings`), the host inventory one page at a time (as
//! `gamsa-collector inventory`), and the access log for admins. Auditors may
//! export; every export, findings and inventory read is recorded before it
//! is sent.

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
        .route("/api/v1/findings", get(findings))
        .route("/api/v1/findings/report", get(findings_report))
        .route("/api/v1/inventory", get(inventory))
        .route("/api/v1/access-log", get(access_log))
}

async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(q): Query<crate::export::Query>,
) -> Result<Response, ApiError> {
    let req = q.request()?;
    let (out, next) = crate::operations::take_export(
        &state.export_source(),
        &caller,
        &req,
        &crate::export::recipients(&q.encrypt_to),
    )
    .await?;
    let mut answer = crate::download::file(out);
    if let Some(after) = next {
        // The query is form-encoded, so the value is a valid header.
        if let Ok(link) = format!("</api/v1/exports?{}>; rel=\"next\"", q.next(&after)).parse() {
            answer.headers_mut().insert(axum::http::header::LINK, link);
        }
    }
    Ok(answer)
}

/// Findings in one answer of `/api/v1/findings` unless `limit` says
/// otherwise, and at most: a page stays well under 1 MB of JSON at a
/// fleet's size (each finding carries its titles and remediation).
pub const FINDINGS_PAGE: u32 = 200;
pub const MAX_FINDINGS_PAGE: u32 = 1000;

/// Which findings: of one host and one catalog when named; the API's
/// answer is one page (`offset`, `limit`), the report holds them all.
#[derive(Deserialize)]
pub struct FindingsParams {
    #[serde(default)]
    host: String,
    #[serde(default)]
    catalog: String,
    /// Only findings still open.
    #[serde(default)]
    open: bool,
    #[serde(default)]
    offset: u32,
    limit: Option<u32>,
    /// The report's format: csv, html or pdf.
    #[serde(default)]
    format: String,
    #[serde(default, rename = "encryptTo")]
    encrypt_to: String,
}

impl FindingsParams {
    fn filter(&self) -> crate::assessment::Filter {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        crate::assessment::Filter {
            host: some(&self.host),
            catalog: some(&self.catalog),
            open_only: self.open,
            page: None,
        }
    }

    /// The filter of one page of the API's answer.
    fn page(&self) -> Result<crate::assessment::Filter, ApiError> {
        let limit = self.limit.unwrap_or(FINDINGS_PAGE);
        if !(1..=MAX_FINDINGS_PAGE).contains(&limit) {
            return Err(ApiError(
                axum::http::StatusCode::BAD_REQUEST,
                format!("limit: from 1 to {MAX_FINDINGS_PAGE}, not {limit}"),
            ));
        }
        Ok(crate::assessment::Filter {
            page: Some(crate::store::KeyPage {
                offset: self.offset,
                limit,
            }),
            ..self.filter()
        })
    }
}

async fn findings(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(p): Query<FindingsParams>,
) -> Result<Json<crate::assessment::History>, ApiError> {
    let history = crate::operations::read_findings(
        state.store.as_ref(),
        &state.checklists,
        &state.tallies,
        &caller,
        &p.page()?,
    )
    .await?;
    Ok(Json(history))
}

async fn findings_report(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(p): Query<FindingsParams>,
) -> Result<Response, ApiError> {
    let format = p
        .format
        .parse()
        .map_err(crate::export::ExportError::BadRequest)?;
    let out = crate::operations::findings_report(
        &state.export_source(),
        &caller,
        &p.filter(),
        format,
        &crate::export::recipients(&p.encrypt_to),
    )
    .await?;
    Ok(crate::download::file(out))
}

async fn inventory(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(request): Query<crate::inventory::Request>,
) -> Result<Json<crate::inventory::Page>, ApiError> {
    use crate::inventory::{MAX_PAGE, MAX_PAGE_INDEX};
    let refuse = |why: String| ApiError(axum::http::StatusCode::BAD_REQUEST, why);
    if !(1..=MAX_PAGE).contains(&request.limit) {
        return Err(refuse(format!(
            "limit: from 1 to {MAX_PAGE}, not {}",
            request.limit
        )));
    }
    if request.page > MAX_PAGE_INDEX {
        return Err(refuse(format!(
            "page: at most {MAX_PAGE_INDEX}, not {}",
            request.page
        )));
    }
    let page = crate::operations::read_inventory(
        state.store.as_ref(),
        &state.inventory,
        &caller,
        &request,
        state.data_dir(),
    )
    .await?;
    Ok(Json(page))
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
