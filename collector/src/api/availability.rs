//! Service availability over HTTP: one month's services, outages, vantage
//! point problems, availability by both of seed 003's measures against the
//! target and MTTR (`availability.rs` computes it from the stored synthetic
//! evidence); planned maintenance windows (admins add and delete them,
//! anyone reads them); the monthly operation report (HTML or PDF).

use super::ApiError;
use crate::actor::Actor;
use crate::availability::{month_of, month_report, AvailabilityError, Maintenance, MonthReport};
use crate::operations::NewMaintenance;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/availability", get(availability))
        .route(
            "/api/v1/maintenance",
            get(list_maintenance).post(add_maintenance),
        )
        .route("/api/v1/maintenance/{id}", delete(delete_maintenance))
        .route("/api/v1/reports/monthly", get(monthly_report))
}

#[derive(serde::Deserialize)]
struct Params {
    /// "YYYY-MM"; default: this month (UTC).
    month: Option<String>,
}

impl From<AvailabilityError> for ApiError {
    fn from(e: AvailabilityError) -> Self {
        match e {
            AvailabilityError::Month(_) => ApiError(StatusCode::BAD_REQUEST, e.to_string()),
            AvailabilityError::Store(e) => e.into(),
        }
    }
}

async fn availability(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<MonthReport>, ApiError> {
    let now = crate::clock::now_ms();
    let month = p.month.unwrap_or_else(|| month_of(now));
    let report = month_report(state.store.as_ref(), &state.availability, &month, now).await?;
    Ok(Json(report))
}

async fn list_maintenance(
    State(state): State<AppState>,
    Query(p): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let windows =
        crate::operations::list_maintenance(state.store.as_ref(), p.month.as_deref()).await?;
    Ok(Json(json!({ "maintenance": windows })))
}

async fn add_maintenance(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Json(body): Json<NewMaintenance>,
) -> Result<(StatusCode, Json<Maintenance>), ApiError> {
    let window = crate::operations::add_maintenance(state.store.as_ref(), &caller, body).await?;
    Ok((StatusCode::CREATED, Json(window)))
}

async fn delete_maintenance(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("maintenance window id {id:?}: a number"),
        )
    })?;
    crate::operations::delete_maintenance(state.store.as_ref(), &caller, id).await?;
    Ok(Json(json!({ "deleted": id })))
}

#[derive(serde::Deserialize)]
struct ReportParams {
    /// "YYYY-MM"; default: this month (UTC).
    month: Option<String>,
    /// "all" (default) or a host label such as "role=web".
    #[serde(default)]
    scope: String,
    /// "html" (default) or "pdf"; given but empty is an error, as the API's schema says.
    format: Option<String>,
}

async fn monthly_report(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(p): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let format = p
        .format
        .as_deref()
        .unwrap_or("html")
        .parse()
        .map_err(crate::export::ExportError::BadRequest)?;
    let month = p.month.unwrap_or_else(|| month_of(crate::clock::now_ms()));
    let out = crate::operations::monthly_report(
        &state.export_source(),
        &state.availability,
        &caller,
        &month,
        &p.scope,
        format,
    )
    .await?;
    Ok(crate::download::file(out))
}
