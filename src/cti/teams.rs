//! Teams (admin writes, supervisors read): `GET/POST /api/v1/teams`,
//! `GET/PUT/DELETE /api/v1/teams/{id}`. Every listed supervisor must be an existing agent.

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
use crate::routing::model::{Role, TeamId};
use crate::store::Team;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/teams", get(list).post(create))
        .route("/api/v1/teams/{id}", get(read).put(update).delete(remove))
}

async fn check(state: &ApiState, team: &mut Team) -> Result<(), ApiError> {
    validate::id("id", team.id.as_str())?;
    validate::name("name", &team.name)?;
    for (i, agent) in team.supervisors.iter().enumerate() {
        if state.store.get_agent(agent).await?.is_none() {
            return Err(ApiError::field(
                format!("supervisors[{i}]"),
                "no such agent",
            ));
        }
    }
    team.supervisors.sort();
    team.supervisors.dedup();
    Ok(())
}

/// Lists teams (supervisor).
#[utoipa::path(get, path = "/api/v1/teams", tag = "admin",
    responses((status = 200, body = Vec<Team>), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<Team>>, ApiError> {
    principal.require(Role::Supervisor)?;
    Ok(Json(state.store.list_teams().await?))
}

/// One team (supervisor).
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = Team), (status = 404)), security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Team>, ApiError> {
    principal.require(Role::Supervisor)?;
    let team = state.store.get_team(&TeamId(id)).await?;
    team.map(Json).ok_or(ApiError::NotFound)
}

/// Creates a team (admin).
#[utoipa::path(post, path = "/api/v1/teams", tag = "admin", request_body = Team,
    responses((status = 201, body = Team), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(mut team): ApiJson<Team>,
) -> Result<(StatusCode, Json<Team>), ApiError> {
    principal.require(Role::Admin)?;
    check(&state, &mut team).await?;
    state.store.create_team(&team).await?;
    Ok((StatusCode::CREATED, Json(team)))
}

/// Replaces a team (admin).
#[utoipa::path(put, path = "/api/v1/teams/{id}", tag = "admin", request_body = Team,
    params(("id" = String, Path)),
    responses((status = 200, body = Team), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut team): ApiJson<Team>,
) -> Result<Json<Team>, ApiError> {
    principal.require(Role::Admin)?;
    validate::same_id(&id, team.id.as_str())?;
    check(&state, &mut team).await?;
    if state.store.update_team(&team).await? {
        Ok(Json(team))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Deletes a team (admin).
#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if state.store.delete_team(&TeamId(id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
