//! Idle reason codes (admin writes; every role reads, since agents choose one when going
//! idle): `GET/POST /api/v1/idle-reasons`, `GET/PUT/DELETE /api/v1/idle-reasons/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::validate;
use crate::routing::model::Role;
use crate::store::IdleReason;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/idle-reasons", get(list).post(create))
        .route(
            "/api/v1/idle-reasons/{id}",
            get(read).put(update).delete(remove),
        )
}

fn check(reason: &IdleReason) -> Result<(), ApiError> {
    validate::id("id", &reason.id)?;
    validate::name("name", &reason.name)
}

/// Lists idle reasons (any role).
#[utoipa::path(get, path = "/api/v1/idle-reasons", tag = "admin",
    responses((status = 200, body = Vec<IdleReason>)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    _principal: Principal,
) -> Result<Json<Vec<IdleReason>>, ApiError> {
    Ok(Json(state.store.list_idle_reasons().await?))
}

/// One idle reason (any role).
#[utoipa::path(get, path = "/api/v1/idle-reasons/{id}", tag = "admin",
    params(("id" = String, Path)), responses((status = 200, body = IdleReason), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IdleReason>, ApiError> {
    let reason = state.store.get_idle_reason(&id).await?;
    reason.map(Json).ok_or(ApiError::NotFound)
}

/// Adds an idle reason (admin).
#[utoipa::path(post, path = "/api/v1/idle-reasons", tag = "admin", request_body = IdleReason,
    responses((status = 201, body = IdleReason), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(reason): ApiJson<IdleReason>,
) -> Result<(StatusCode, Json<IdleReason>), ApiError> {
    principal.require(Role::Admin)?;
    check(&reason)?;
    state.store.create_idle_reason(&reason).await?;
    Ok((StatusCode::CREATED, Json(reason)))
}

/// Renames an idle reason (admin).
#[utoipa::path(put, path = "/api/v1/idle-reasons/{id}", tag = "admin", request_body = IdleReason,
    params(("id" = String, Path)),
    responses((status = 200, body = IdleReason), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(reason): ApiJson<IdleReason>,
) -> Result<Json<IdleReason>, ApiError> {
    principal.require(Role::Admin)?;
    validate::same_id(&id, &reason.id)?;
    check(&reason)?;
    if state.store.update_idle_reason(&reason).await? {
        Ok(Json(reason))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Removes an idle reason (admin).
#[utoipa::path(delete, path = "/api/v1/idle-reasons/{id}", tag = "admin",
    params(("id" = String, Path)), responses((status = 204), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if state.store.delete_idle_reason(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
