//! The API's OpenAPI 3.0 description (`openapi.json` beside this file),
//! served as written. Hand-written so that it says what the handlers' JSON
//! means; `collector/tests/openapi.rs` fails when a route of the router is
//! missing from it or it describes a route the router lacks, and
//! `tests/deploy/schemathesis.sh` checks real responses against it.

use axum::http::header;
use axum::response::IntoResponse;

/// The description, as served at `/api/v1/openapi.json`.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
