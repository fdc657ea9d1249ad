//! Snapshots over HTTP: list, take one (admins and operators), download
//! (anyone signed in, recorded in the access log, optionally encrypted to an
//! age recipient): the signed file, then each file it names by hash, or
//! everything in one tar; the public key auditors verify with, and the
//! items that changed verdict between two snapshots.

use super::ApiError;
use crate::actor::Actor;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/snapshots", get(list).post(create))
        .route("/api/v1/snapshots/public-key", get(public_key))
        .route("/api/v1/snapshots/diff", get(diff))
        .route("/api/v1/snapshots/{id}", get(download))
        .route("/api/v1/snapshots/objects/{sha256}", get(object))
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
}

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let key = state.snapshots.public_key().map_err(internal)?;
    Ok(Json(json!({
        "snapshots": state.snapshots.list().await.map_err(internal)?,
        "publicKeyFingerprint": crate::snapshot::key::fingerprint(&key),
    })))
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
) -> Result<Json<Value>, ApiError> {
    let c = crate::operations::create_snapshot(&state.snapshots, &caller).await?;
    Ok(Json(json!({
        "id": c.entry.id,
        "sequence": c.entry.sequence,
        "sha256": c.sha256,
        "removed": c.removed.iter().map(|e| &e.id).collect::<Vec<_>>(),
    })))
}

async fn public_key(State(state): State<AppState>) -> Result<Response, ApiError> {
    let key = state.snapshots.public_key().map_err(internal)?;
    Ok(crate::download::public_key(&key))
}

#[derive(Deserialize)]
pub struct DiffParams {
    from: String,
    to: String,
}

async fn diff(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Query(p): Query<DiffParams>,
) -> Result<Json<crate::snapshot::diff::Diff>, ApiError> {
    let diff = state
        .snapshots
        .diff(&p.from, &p.to)
        .await
        .map_err(|e| ApiError(StatusCode::NOT_FOUND, format!("{e:#}")))?;
    super::record(
        &state,
        &caller,
        crate::access_log::SNAPSHOT_DIFF,
        &format!("{} to {}", p.from, p.to),
    )
    .await?;
    Ok(Json(diff))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadParams {
    #[serde(default)]
    encrypt_to: String,
    /// "true": a tar of the signed file and every file it names.
    #[serde(default)]
    all: String,
}

/// The signed file alone (the files it names are fetched by name, from
/// `objects/`), or with `all=true` a tar of it and all of them.
async fn download(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
    Query(p): Query<DownloadParams>,
) -> Result<Response, ApiError> {
    let recipients = crate::export::recipients(&p.encrypt_to);
    let whole = crate::export::yes(&p.all);
    let out =
        crate::operations::download_snapshot(&state.snapshots, &caller, &id, whole, &recipients)
            .await?
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no snapshot {id}")))?;
    Ok(crate::download::file(out))
}

async fn object(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
    Query(p): Query<DownloadParams>,
) -> Result<Response, ApiError> {
    let recipients = crate::export::recipients(&p.encrypt_to);
    let out = crate::operations::snapshot_object(&state.snapshots, &sha256, &recipients)
        .await?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("no snapshot object {sha256}"),
            )
        })?;
    Ok(crate::download::file(out))
}
