//! Agent sessions: `POST /api/v1/sessions` logs in with a password and returns a bearer
//! token; `DELETE /api/v1/sessions/current` logs that token out.
//!
//! A wrong password, an unknown agent and a disabled agent get the identical 401 (same body,
//! and about the same time, since an unknown id is checked against a dummy hash). Attempts are
//! rate limited per client address (429 `rate_limited` with `Retry-After`); repeated failures
//! lock that address out of that agent (429 `rate_limited`) and then ban the address (429
//! `address_banned`), never the agent itself: see `login_guard`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::login_guard::Refusal;
use crate::clock;
use crate::routing::model::{AgentId, Role};
use crate::store::{TokenKind, UnixMillis};

/// How long a session token stays valid.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Longest agent id looked up (ids are at most 64 bytes; longer ones cannot exist).
const MAX_AGENT_ID_BYTES: usize = 64;
/// Longest password accepted (argon2 cost grows with input; real passwords are short).
const MAX_PASSWORD_BYTES: usize = 1024;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/sessions", post(create))
        .route("/api/v1/sessions/current", delete(remove))
}

/// A login.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The agent's id.
    pub agent_id: String,
    /// The agent's password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    /// The bearer token; shown only now.
    pub token: String,
    /// The agent's role.
    #[schema(value_type = String)]
    pub role: Role,
    /// The agent's id.
    pub agent_id: String,
    /// When the token expires (epoch milliseconds).
    pub expires_at: i64,
}

/// Logs an agent in.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "auth", request_body = LoginRequest,
    responses((status = 201, body = SessionResponse), (status = 401), (status = 429)))]
pub(super) async fn create(
    State(state): State<ApiState>,
    extensions: Extensions,
    ApiJson(login): ApiJson<LoginRequest>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    if login.agent_id.len() > MAX_AGENT_ID_BYTES {
        return Err(ApiError::Unauthorized);
    }
    // Without a connection (route tests) every attempt shares one made-up address.
    let source = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
            addr.ip().to_canonical()
        });
    let id = AgentId(login.agent_id);
    let now = clock::now();
    state
        .login_guard
        .check(&id, source, now)
        .map_err(|refusal| match refusal {
            Refusal::LockedOut { retry_after } => ApiError::TooManyRequests {
                retry_after_secs: retry_after.as_secs().max(1),
            },
            Refusal::Banned { retry_after } => ApiError::AddressBanned {
                retry_after_secs: retry_after.as_secs().max(1),
            },
        })?;
    state
        .login_limiter
        .check(&[format!("ip:{source}")])
        .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
    let agent = if login.password.len() > MAX_PASSWORD_BYTES {
        None
    } else {
        state.store.authenticate_agent(&id, &login.password).await?
    };
    let Some(agent) = agent else {
        state.login_guard.failed(&id, source, now);
        return Err(ApiError::Unauthorized);
    };
    state.login_guard.succeeded(&id, source);
    let now = UnixMillis(clock::unix_ms());
    // Logins are rare enough to carry the housekeeping; a failure here must not block one.
    if let Err(error) = state.store.delete_expired_tokens(now).await {
        tracing::warn!(%error, "could not purge expired CTI tokens");
    }
    let expires = now.saturating_add(SESSION_TTL);
    let (token, _) = state
        .store
        .issue_token(
            TokenKind::Session,
            "",
            agent.role,
            Some(&agent.id),
            now,
            expires,
        )
        .await?;
    tracing::info!(agent = %agent.id, "CTI session opened");
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse {
            token,
            role: agent.role,
            agent_id: agent.id.0,
            expires_at: expires.0,
        }),
    ))
}

/// Logs out the token this request carries.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "auth",
    responses((status = 204), (status = 401)), security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_token(&principal.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use crate::cti::test_support::Api;
    use crate::routing::model::Role;

    const LOGIN: &str = "/api/v1/sessions";

    fn login_body(agent: &str, password: &str) -> String {
        serde_json::json!({"agent_id": agent, "password": password}).to_string()
    }

    #[tokio::test]
    async fn a_login_returns_a_token_that_works_until_logged_out() {
        let api = Api::new().await;
        api.agent("alice", Role::Agent, None).await;
        let (status, json) = api
            .call(
                Method::POST,
                LOGIN,
                None,
                Some(&login_body("alice", "pw-alice")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        assert_eq!(json["role"], "agent");
        assert_eq!(json["agent_id"], "alice");
        assert!(json["expires_at"].as_i64().unwrap() > 0);
        let token = json["token"].as_str().unwrap().to_owned();

        let (status, _) = api
            .call(Method::GET, "/api/v1/interactions", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = api
            .call(
                Method::DELETE,
                "/api/v1/sessions/current",
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, json) = api
            .call(Method::GET, "/api/v1/interactions", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(json["error"]["code"], "unauthorized");
    }

    #[tokio::test]
    async fn an_unknown_agent_and_a_wrong_password_get_the_identical_401() {
        let api = Api::new().await;
        api.agent("alice", Role::Agent, None).await;
        let wrong = api
            .call(
                Method::POST,
                LOGIN,
                None,
                Some(&login_body("alice", "nope")),
            )
            .await;
        let unknown = api
            .call(
                Method::POST,
                LOGIN,
                None,
                Some(&login_body("mallory", "nope")),
            )
            .await;
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong, unknown);
    }

    #[tokio::test]
    async fn requests_without_a_valid_token_are_401_but_health_stays_open() {
        let api = Api::new().await;
        for token in [None, Some("sb_not_a_token"), Some("")] {
            let (status, json) = api
                .call(Method::GET, "/api/v1/interactions", token, None)
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
            assert_eq!(json["error"]["code"], "unauthorized");
        }
        let (status, _) = api.call(Method::GET, "/api/v1/health", None, None).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn rapid_failed_logins_from_one_address_are_refused_with_429() {
        let api = Api::new().await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let (status, json) = api
                .call(
                    Method::POST,
                    LOGIN,
                    None,
                    Some(&login_body("alice", "guess")),
                )
                .await;
            statuses.push(status.as_u16());
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(json["error"]["code"], "rate_limited");
            }
        }
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    }

    #[tokio::test]
    async fn a_disabled_agents_session_stops_working_at_once() {
        let api = Api::new().await;
        let token = api.agent("alice", Role::Agent, None).await;
        let mut alice = api
            .store()
            .get_agent(&"alice".into())
            .await
            .unwrap()
            .unwrap();
        alice.enabled = false;
        api.store().update_agent(&alice, None).await.unwrap();
        let (status, _) = api
            .call(Method::GET, "/api/v1/interactions", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}
