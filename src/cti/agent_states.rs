//! An agent's state history: `GET /api/v1/agents/{id}/states?limit=N` (newest first,
//! default 50, at most 500). Agents read their own, supervisors those of agents in their
//! teams, admins everyone's; anything else is 403.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::params::ApiPath;
use super::params::QueryParams;
use crate::routing::model::{AgentId, Role};
use crate::store::AgentStateChange;

/// Transitions returned when the caller does not choose.
const DEFAULT_LIMIT: u32 = 50;
/// Most transitions returned.
const MAX_LIMIT: u32 = 500;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/agents/{id}/states", get(list))
}

/// An agent's latest state transitions (own, team's as supervisor, any as admin).
#[utoipa::path(get, path = "/api/v1/agents/{id}/states", tag = "admin",
    params(("id" = String, Path), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = Vec<AgentStateChange>), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    params: QueryParams,
) -> Result<Json<Vec<AgentStateChange>>, ApiError> {
    let params = params.only(&["limit"])?;
    let limit = match params.u64("limit")? {
        None => DEFAULT_LIMIT,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::out_of_range("limit", format!("must be 1 to {MAX_LIMIT}")))?,
    };
    let id = AgentId(id);
    let own = principal.agent.as_ref() == Some(&id);
    if !own && principal.role < Role::Admin {
        principal.require(Role::Supervisor)?;
        let team = state.store.get_agent(&id).await?.and_then(|a| a.team);
        if !team.is_some_and(|t| principal.teams.contains(&t)) {
            return Err(ApiError::Forbidden);
        }
    }
    if !own && state.store.get_agent(&id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(Json(state.store.list_agent_states(&id, limit).await?))
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use crate::cti::test_support::Api;
    use crate::routing::model::{Actor, AgentState, Role};
    use crate::store::{AgentStateChange, UnixMillis};

    #[tokio::test]
    async fn state_history_is_visible_to_the_agent_its_supervisor_and_admins_only() {
        let api = Api::new().await;
        let alice = api.agent("alice", Role::Agent, Some("t1")).await;
        let bob = api.agent("bob", Role::Agent, Some("t2")).await;
        let sue = api.agent("sue", Role::Supervisor, Some("t1")).await;
        let root = api.agent("root", Role::Admin, None).await;
        for at in [1, 2] {
            let change = AgentStateChange {
                agent: "alice".into(),
                from: AgentState::LoggedOut,
                to: AgentState::Available,
                reason: None,
                actor: Actor::System,
                at: UnixMillis(at),
            };
            api.store().record_agent_state(&change).await.unwrap();
        }
        let uri = "/api/v1/agents/alice/states?limit=1";
        for (token, status) in [(&alice, 200), (&sue, 200), (&root, 200), (&bob, 403)] {
            let (got, json) = api.call(Method::GET, uri, Some(token), None).await;
            assert_eq!(got.as_u16(), status, "{json}");
            if got == StatusCode::OK {
                assert_eq!(json[0]["at"], 2);
                assert_eq!(json[0]["to"]["state"], "available");
                assert_eq!(json.as_array().unwrap().len(), 1);
            }
        }
    }
}
