//! The skills catalogue (admin writes, supervisors read): `GET/POST /api/v1/skills`,
//! `GET/PUT/DELETE /api/v1/skills/{name}`.

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
use crate::store::SkillDef;

/// Longest skill description.
const MAX_DESCRIPTION_LEN: usize = 1024;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/skills", get(list).post(create))
        .route(
            "/api/v1/skills/{name}",
            get(read).put(update).delete(remove),
        )
}

fn check(skill: &SkillDef) -> Result<(), ApiError> {
    validate::id("name", &skill.name)?;
    if skill.description.len() > MAX_DESCRIPTION_LEN {
        return Err(ApiError::field(
            "description",
            format!("at most {MAX_DESCRIPTION_LEN} bytes"),
        ));
    }
    Ok(())
}

/// Lists skills (supervisor).
#[utoipa::path(get, path = "/api/v1/skills", tag = "admin",
    responses((status = 200, body = Vec<SkillDef>), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<SkillDef>>, ApiError> {
    principal.require(Role::Supervisor)?;
    Ok(Json(state.store.list_skills().await?))
}

/// One skill (supervisor).
#[utoipa::path(get, path = "/api/v1/skills/{name}", tag = "admin",
    params(("name" = String, Path)), responses((status = 200, body = SkillDef), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SkillDef>, ApiError> {
    principal.require(Role::Supervisor)?;
    let skill = state.store.get_skill(&name).await?;
    skill.map(Json).ok_or(ApiError::NotFound)
}

/// Adds a skill (admin).
#[utoipa::path(post, path = "/api/v1/skills", tag = "admin", request_body = SkillDef,
    responses((status = 201, body = SkillDef), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(skill): ApiJson<SkillDef>,
) -> Result<(StatusCode, Json<SkillDef>), ApiError> {
    principal.require(Role::Admin)?;
    check(&skill)?;
    state.store.create_skill(&skill).await?;
    Ok((StatusCode::CREATED, Json(skill)))
}

/// Replaces a skill's description (admin).
#[utoipa::path(put, path = "/api/v1/skills/{name}", tag = "admin", request_body = SkillDef,
    params(("name" = String, Path)),
    responses((status = 200, body = SkillDef), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(skill): ApiJson<SkillDef>,
) -> Result<Json<SkillDef>, ApiError> {
    principal.require(Role::Admin)?;
    if name != skill.name {
        return Err(ApiError::field("name", "must match the name in the path"));
    }
    check(&skill)?;
    if state.store.update_skill(&skill).await? {
        Ok(Json(skill))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Removes a skill (admin).
#[utoipa::path(delete, path = "/api/v1/skills/{name}", tag = "admin",
    params(("name" = String, Path)), responses((status = 204), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if state.store.delete_skill(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
