//! Credentials over HTTP, for admin tokens: list and revoke API and
//! enrolment tokens, list and delete users and change their roles, revoke
//! and reinstate agents. Each is one operation (`operations.rs`), recorded
//! in the access log; a token's secret is never shown again.

use super::ApiError;
use crate::actor::{Actor, Role};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tokens", get(list_tokens))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{name}", delete(delete_user))
        .route("/api/v1/users/{name}/role", put(set_role))
        .route("/api/v1/agents/{id}/revoke", post(revoke_agent))
        .route("/api/v1/agents/{id}/reinstate", post(reinstate_agent))
}

async fn list_tokens(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
) -> Result<Json<Value>, ApiError> {
    let tokens = crate::operations::list_tokens(state.store.as_ref(), &caller).await?;
    Ok(Json(json!({ "tokens": tokens })))
}

async fn revoke_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let token = crate::operations::revoke_token(state.store.as_ref(), &caller, &id).await?;
    Ok(Json(json!({ "revoked": token })))
}

async fn list_users(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
) -> Result<Json<Value>, ApiError> {
    let users = crate::operations::list_users(state.store.as_ref(), &caller).await?;
    Ok(Json(json!({ "users": users })))
}

async fn delete_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::operations::delete_user(state.store.as_ref(), &caller, &name).await?;
    Ok(Json(json!({ "deleted": name })))
}

#[derive(Deserialize)]
struct RoleBody {
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(name): Path<String>,
    Json(body): Json<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    let role: Role = body
        .role
        .parse()
        .map_err(|e: crate::actor::UnknownRole| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    crate::operations::set_user_role(state.store.as_ref(), &caller, &name, role).await?;
    Ok(Json(json!({ "name": name, "role": role.as_str() })))
}

async fn revoke_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::operations::revoke_agent(state.store.as_ref(), &caller, &id).await?;
    state.verdicts.include_writes(state.store.as_ref()).await;
    Ok(Json(json!({ "revoked": id })))
}

/// `{"ttl": "24h"}` (optional): how long the enrolment token lives.
#[derive(Deserialize, Default)]
struct ReinstateBody {
    ttl: Option<String>,
}

async fn reinstate_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Actor>,
    Path(id): Path<String>,
    body: Option<Json<ReinstateBody>>,
) -> Result<Json<Value>, ApiError> {
    let ttl = body
        .and_then(|Json(b)| b.ttl)
        .map(|t| {
            humantime::parse_duration(&t)
                .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("ttl: {t:?}: {e}")))
        })
        .transpose()?;
    let token = crate::operations::reinstate_agent(state.store.as_ref(), &caller, &id, ttl).await?;
    state.verdicts.include_writes(state.store.as_ref()).await;
    Ok(Json(json!({ "reinstated": id, "enrolToken": token })))
}
