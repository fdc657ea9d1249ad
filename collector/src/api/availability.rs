//! Service availability over HTTP: one month's services, outages, vantage
//! point problems, availability against the target and MTTR
//! (`availability.rs` computes it from the stored synthetic evidence).

use super::ApiError;
use crate::availability::{month_of, month_report, AvailabilityError, MonthReport};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/availability", get(availability))
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
