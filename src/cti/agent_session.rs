//! An agent's live session, driven by its desktop: log in with an extension, log out, go
//! Available or Idle with a reason code, read the live state. The ACD owns the state; these
//! routes ask it and answer with what it decided.
//!
//! - `POST /api/v1/agents/{id}/login` `{}` (the agent's own extension, as an admin
//!   configured it) or `{"extension": "1001"}`: another extension only when an admin logs
//!   the agent in or the `agents_may_choose_extension` setting allows it, and never one
//!   configured for another agent (422 naming `extension`). Otherwise anyone could log in
//!   on a colleague's phone and take or listen to its calls;
//! - `POST /api/v1/agents/{id}/logout`;
//! - `PUT /api/v1/agents/{id}/state` `{"state": "available"}` or
//!   `{"state": "idle", "reason": "lunch"}`;
//! - `GET /api/v1/agents/{id}/state`.
//!
//! An agent acts on itself; a supervisor on agents of its teams (Webex lets supervisors change
//! an agent's state and log it out); an admin on anyone. A refusal by the ACD (logging out
//! with an offer ringing, Available while engaged) is a 409 naming the reason; every refusal
//! also goes to the agent's desktops as an `agent.<command>.failed` event (see
//! `command_events`), so a desktop that did not send the command still learns why nothing
//! changed.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::command_events::{Concerning, reported};
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use crate::routing::model::{Actor, AgentId, AgentState, Role};
use crate::routing::{Command, RequestedState, RoutingError};

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/agents/{id}/login", post(login))
        .route("/api/v1/agents/{id}/logout", post(logout))
        .route("/api/v1/agents/{id}/state", get(read).put(set))
}

/// Logging in.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The SIP extension the agent's phone is registered as; defaults to the agent's own.
    #[serde(default)]
    pub extension: Option<String>,
}

/// A requested state.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    /// `available` or `idle`.
    pub state: String,
    /// An idle reason code's id; required for `idle`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An agent's live state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiveState {
    /// The agent.
    #[schema(value_type = String)]
    pub agent: AgentId,
    /// `{"state": "available"}`, `{"state": "idle", "reason": "lunch"}`, ...
    #[schema(value_type = Object)]
    pub state: AgentState,
    /// The extension it is logged in with.
    pub extension: Option<String>,
}

/// The actor of a principal's commands.
pub(super) fn actor(principal: &Principal) -> Actor {
    match &principal.agent {
        Some(agent) => Actor::Agent(agent.clone()),
        None => Actor::Token(principal.token_id.clone()),
    }
}

/// 403 unless `principal` may act on `agent`: itself, its teams' agents as a supervisor,
/// anyone as an admin. 404 when the agent does not exist (to those allowed to know).
async fn may_act_on(
    state: &ApiState,
    principal: &Principal,
    agent: &AgentId,
) -> Result<(), ApiError> {
    if principal.agent.as_ref() == Some(agent) || principal.role == Role::Admin {
        return Ok(());
    }
    principal.require(Role::Supervisor)?;
    let team = state
        .store
        .get_agent(agent)
        .await?
        .ok_or(ApiError::NotFound)?
        .team;
    if team.is_some_and(|t| principal.teams.contains(&t)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Runs a routing command; a refusal is a 409 naming its reason (the caller reports it).
pub(super) async fn run(state: &ApiState, command: Command) -> Result<(), ApiError> {
    match state.core()?.acd(command).await? {
        Ok(()) => Ok(()),
        Err(RoutingError::UnknownAgent(_)) => Err(ApiError::NotFound),
        Err(refusal) => Err(ApiError::refused(refusal.code(), refusal.to_string())),
    }
}

/// Logs the agent in with its phone's extension; it starts Idle (Webex's default).
#[utoipa::path(post, path = "/api/v1/agents/{id}/login", tag = "agent",
    params(("id" = String, Path)), request_body = LoginBody,
    responses((status = 200, body = LiveState), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn login(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<LiveState>, ApiError> {
    let agent = AgentId(id);
    let result = log_in(&state, &principal, &agent, body).await;
    reported(
        &state,
        &principal,
        "agent.login",
        Concerning::Agent(&agent),
        result,
    )
    .await
}

async fn log_in(
    state: &ApiState,
    principal: &Principal,
    agent: &AgentId,
    body: LoginBody,
) -> Result<Json<LiveState>, ApiError> {
    may_act_on(state, principal, agent).await?;
    let configured = state
        .store
        .get_agent(agent)
        .await?
        .ok_or(ApiError::NotFound)?
        .extension;
    let extension = match (body.extension, configured) {
        (Some(chosen), Some(own)) if chosen == own => own,
        (None, Some(own)) => own,
        (Some(chosen), _) => {
            let allowed = principal.role == Role::Admin
                || state
                    .store
                    .get_settings()
                    .await?
                    .agents_may_choose_extension;
            if !allowed {
                return Err(ApiError::field(
                    "extension",
                    "must be the agent's own extension (an admin may allow others with the \
                     agents_may_choose_extension setting)",
                ));
            }
            chosen
        }
        (None, None) => {
            return Err(ApiError::field(
                "extension",
                "is required (the agent has none)",
            ));
        }
    };
    if extension.is_empty()
        || extension.len() > 64
        || !extension
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
    {
        return Err(ApiError::field(
            "extension",
            "must be a SIP user (letters, digits, . _ - +)",
        ));
    }
    // Whoever asks and whatever the setting: a colleague's phone is the colleague's.
    let taken = state
        .store
        .list_agents()
        .await?
        .into_iter()
        .any(|other| other.id != *agent && other.extension.as_deref() == Some(&extension));
    if taken {
        return Err(ApiError::field("extension", "is another agent's extension"));
    }
    let command = Command::Login {
        agent: agent.clone(),
        extension,
        actor: actor(principal),
    };
    run(state, command).await?;
    live(state, agent.clone()).await
}

/// Logs the agent out (refused while an offer rings or a call is connected).
#[utoipa::path(post, path = "/api/v1/agents/{id}/logout", tag = "agent",
    params(("id" = String, Path)),
    responses((status = 200, body = LiveState), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn logout(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LiveState>, ApiError> {
    let agent = AgentId(id);
    let result = log_out(&state, &principal, &agent).await;
    reported(
        &state,
        &principal,
        "agent.logout",
        Concerning::Agent(&agent),
        result,
    )
    .await
}

async fn log_out(
    state: &ApiState,
    principal: &Principal,
    agent: &AgentId,
) -> Result<Json<LiveState>, ApiError> {
    may_act_on(state, principal, agent).await?;
    let command = Command::Logout {
        agent: agent.clone(),
        actor: actor(principal),
    };
    run(state, command).await?;
    live(state, agent.clone()).await
}

/// Sets Available, or Idle with a reason code.
#[utoipa::path(put, path = "/api/v1/agents/{id}/state", tag = "agent",
    params(("id" = String, Path)), request_body = StateBody,
    responses((status = 200, body = LiveState), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn set(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StateBody>,
) -> Result<Json<LiveState>, ApiError> {
    let agent = AgentId(id);
    let result = change_state(&state, &principal, &agent, body).await;
    let about = Concerning::Agent(&agent);
    reported(&state, &principal, "agent.state_change", about, result).await
}

async fn change_state(
    state: &ApiState,
    principal: &Principal,
    agent: &AgentId,
    body: StateBody,
) -> Result<Json<LiveState>, ApiError> {
    may_act_on(state, principal, agent).await?;
    let requested = match (body.state.as_str(), body.reason) {
        ("available", None) => RequestedState::Available,
        ("available", Some(_)) => {
            return Err(ApiError::field("reason", "only idle takes a reason"));
        }
        ("idle", Some(reason)) => {
            if state.store.get_idle_reason(&reason).await?.is_none() {
                return Err(ApiError::field("reason", "no such idle reason code"));
            }
            RequestedState::Idle { reason }
        }
        ("idle", None) => return Err(ApiError::field("reason", "is required for idle")),
        _ => return Err(ApiError::field("state", "must be available or idle")),
    };
    let command = Command::SetState {
        agent: agent.clone(),
        state: requested,
        actor: actor(principal),
    };
    run(state, command).await?;
    live(state, agent.clone()).await
}

/// The agent's live state.
#[utoipa::path(get, path = "/api/v1/agents/{id}/state", tag = "agent",
    params(("id" = String, Path)),
    responses((status = 200, body = LiveState), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LiveState>, ApiError> {
    let agent = AgentId(id);
    may_act_on(&state, &principal, &agent).await?;
    live(&state, agent).await
}

async fn live(state: &ApiState, agent: AgentId) -> Result<Json<LiveState>, ApiError> {
    let (live, extension) = state
        .core()?
        .agent_state(agent.clone())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(LiveState {
        agent,
        state: live,
        extension,
    }))
}
