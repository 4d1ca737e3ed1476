//! Login lockouts and bans in force (admin): `GET /api/v1/login-blocks` lists them,
//! `DELETE /api/v1/login-blocks/{address}` lifts an address's ban and its lockouts
//! (`?agent=ID`: only its lockout for that agent). See `login_guard` for how they arise.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::login_guard::LoginBlock;
use super::params::{ApiPath, QueryParams};
use crate::clock;
use crate::routing::model::{AgentId, Role};

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/login-blocks", get(list))
        .route("/api/v1/login-blocks/{address}", delete(lift))
}

/// Lockouts and bans in force (admin).
#[utoipa::path(get, path = "/api/v1/login-blocks", tag = "auth",
    responses((status = 200, body = Vec<LoginBlock>), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<LoginBlock>>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(state.login_guard.blocks(clock::now())))
}

/// Lifts an address's ban and lockouts (admin).
#[utoipa::path(delete, path = "/api/v1/login-blocks/{address}", tag = "auth",
    params(("address" = String, Path, description = "IPv4 or IPv6 address"),
        ("agent" = Option<String>, Query, description = "only this agent's lockout")),
    responses((status = 204), (status = 400), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn lift(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(address): ApiPath<String>,
    params: QueryParams,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    let params = params.only(&["agent"])?;
    let source: IpAddr = address
        .parse()
        .map_err(|_| ApiError::invalid("address", "must be an IPv4 or IPv6 address"))?;
    let agent = params.get("agent").map(AgentId::from);
    if state
        .login_guard
        .lift(source.to_canonical(), agent.as_ref(), clock::now())
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
