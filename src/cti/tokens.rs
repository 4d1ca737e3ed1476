//! API tokens for integrations, minted and revoked by admins:
//! `POST /api/v1/tokens`, `GET /api/v1/tokens`, `DELETE /api/v1/tokens/{id}`.
//!
//! A token may act for an agent (`agent_id`), in which case it sees what that agent's teams
//! allow and is revoked when the agent's password or role changes or the agent is disabled or
//! deleted; otherwise it acts with its role alone. An agent-role token must name its agent.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use crate::clock;
use crate::routing::model::{AgentId, Role};
use crate::store::{ApiToken, TokenKind, UnixMillis};

/// Longest lifetime of a minted token: one year.
const MAX_EXPIRES_IN_SECS: u64 = 366 * 24 * 3600;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(mint))
        .route("/api/v1/tokens/{id}", delete(revoke))
}

/// A token to mint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// The role the token acts with.
    #[schema(value_type = String)]
    pub role: Role,
    /// A label, e.g. `"wallboard"`.
    pub name: String,
    /// Lifetime in seconds, 1 to one year.
    pub expires_in: u64,
    /// The agent the token acts for, if any.
    #[serde(default)]
    pub agent_id: Option<String>,
}

/// A minted token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MintResponse {
    /// The bearer token; shown only now.
    pub token: String,
    /// The token's record.
    pub record: ApiToken,
}

/// Mints an API token (admin).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = MintRequest,
    responses((status = 201, body = MintResponse), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn mint(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(req): ApiJson<MintRequest>,
) -> Result<(StatusCode, Json<MintResponse>), ApiError> {
    principal.require(Role::Admin)?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::field("name", "must be 1 to 128 bytes"));
    }
    if !(1..=MAX_EXPIRES_IN_SECS).contains(&req.expires_in) {
        return Err(ApiError::field(
            "expires_in",
            format!("must be 1 to {MAX_EXPIRES_IN_SECS} seconds"),
        ));
    }
    let agent = match req.agent_id {
        Some(id) => {
            let id = AgentId(id);
            if state.store.get_agent(&id).await?.is_none() {
                return Err(ApiError::field("agent_id", "no such agent"));
            }
            Some(id)
        }
        // An agent-role token is an agent's desktop: without an agent it would own no calls
        // and pass no ownership check (agent-scoped commands refuse such tokens as well).
        None if req.role == Role::Agent => {
            return Err(ApiError::field(
                "agent_id",
                "is required for a token with the agent role",
            ));
        }
        None => None,
    };
    let now = UnixMillis(clock::unix_ms());
    let expires = now.saturating_add(Duration::from_secs(req.expires_in));
    let (token, record) = state
        .store
        .issue_token(TokenKind::Api, name, req.role, agent.as_ref(), now, expires)
        .await?;
    Ok((StatusCode::CREATED, Json(MintResponse { token, record })))
}

/// Lists API tokens (admin); never the tokens themselves.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth",
    responses((status = 200, body = Vec<ApiToken>), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(state.store.list_tokens(TokenKind::Api).await?))
}

/// Revokes a token (admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn revoke(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if state.store.revoke_token(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use crate::cti::test_support::Api;
    use crate::routing::model::Role;

    #[tokio::test]
    async fn an_admin_mints_a_token_that_works_until_it_is_revoked() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let body = r#"{"role": "supervisor", "name": "wallboard", "expires_in": 3600}"#;
        let (status, json) = api
            .call(Method::POST, "/api/v1/tokens", Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        let token = json["token"].as_str().unwrap().to_owned();
        let id = json["record"]["id"].as_str().unwrap().to_owned();
        assert_eq!(json["record"]["role"], "supervisor");

        let (status, _) = api
            .call(Method::GET, "/api/v1/cdrs", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, listed) = api
            .call(Method::GET, "/api/v1/tokens", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !listed.to_string().contains(&token),
            "tokens are never listed"
        );

        let uri = format!("/api/v1/tokens/{id}");
        let (status, _) = api.call(Method::DELETE, &uri, Some(&admin), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = api
            .call(Method::GET, "/api/v1/cdrs", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn only_admins_mint_tokens_and_bad_lifetimes_are_named() {
        let api = Api::new().await;
        let sup = api.agent("sue", Role::Supervisor, None).await;
        let admin = api.agent("root", Role::Admin, None).await;
        let body = r#"{"role": "admin", "name": "x", "expires_in": 60}"#;
        let (status, json) = api
            .call(Method::POST, "/api/v1/tokens", Some(&sup), Some(body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(json["error"]["code"], "forbidden");
        let body = r#"{"role": "admin", "name": "x", "expires_in": 0}"#;
        let (status, json) = api
            .call(Method::POST, "/api/v1/tokens", Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["error"]["field"], "expires_in");
        let body = r#"{"role": "agent", "name": "x", "expires_in": 60}"#;
        let (status, json) = api
            .call(Method::POST, "/api/v1/tokens", Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["error"]["field"], "agent_id");
        let body = r#"{"role": "overlord", "name": "x", "expires_in": 60}"#;
        let (status, json) = api
            .call(Method::POST, "/api/v1/tokens", Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["error"]["field"], "role");
    }
}
