//! The agent desktop's directory, for the consult and transfer pickers (every role):
//! - `GET /api/v1/directory/agents`: `[{"id", "name", "state", "team"}]`, `state` being the
//!   live state's name (`available`, `idle`, `engaged`, ...);
//! - `GET /api/v1/directory/queues`: `[{"id", "name", "number", "waiting"}]`, `waiting` being
//!   the callers waiting (as in `queue.stats`).
//!
//! Read-only and deliberately narrow: the admin routes (`/api/v1/agents`, `/api/v1/queues`)
//! stay supervisor-only because they hold extensions, skills, roles and routing settings an
//! agent has no business reading. Both lists come from the live ACD (disabled agents are not
//! in it), sorted by id; without a core they answer 503 like other live routes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/directory/agents", get(agents))
        .route("/api/v1/directory/queues", get(queues))
}

/// An agent as a picker shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectoryAgent {
    /// The agent's id (a consult or transfer target's `id`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The live state's name: `logged_out`, `idle`, `available`, `reserved`, `engaged`,
    /// `wrap_up` or `rona`.
    pub state: &'static str,
    /// The agent's team.
    pub team: Option<String>,
}

/// A queue as a picker shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectoryQueue {
    /// The queue's id (a consult or transfer target's `id`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The number that reaches it.
    pub number: String,
    /// Callers waiting (not ringing).
    pub waiting: usize,
}

/// Agents with their live state (any role).
#[utoipa::path(get, path = "/api/v1/directory/agents", tag = "directory",
    responses((status = 200, body = Vec<DirectoryAgent>), (status = 401), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn agents(
    State(state): State<ApiState>,
    _principal: Principal,
) -> Result<Json<Vec<DirectoryAgent>>, ApiError> {
    let mut agents: Vec<DirectoryAgent> = state
        .core()?
        .snapshot()
        .await?
        .agents
        .into_iter()
        .map(|a| DirectoryAgent {
            id: a.config.id.0,
            name: a.config.name,
            state: a.state.name(),
            team: a.config.team.map(|t| t.0),
        })
        .collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(agents))
}

/// Queues with their callers waiting (any role).
#[utoipa::path(get, path = "/api/v1/directory/queues", tag = "directory",
    responses((status = 200, body = Vec<DirectoryQueue>), (status = 401), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn queues(
    State(state): State<ApiState>,
    _principal: Principal,
) -> Result<Json<Vec<DirectoryQueue>>, ApiError> {
    let mut queues: Vec<DirectoryQueue> = state
        .core()?
        .snapshot()
        .await?
        .queues
        .into_iter()
        .map(|q| DirectoryQueue {
            id: q.config.id.0,
            name: q.config.name,
            number: q.config.number,
            waiting: q.waiting.len(),
        })
        .collect();
    queues.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(queues))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::{Method, StatusCode};
    use serde_json::{Value, json};

    use crate::cti::test_support::Api;
    use crate::routing::model::Role;

    fn keys(item: &Value) -> BTreeSet<&str> {
        item.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[tokio::test]
    async fn an_agent_token_lists_agents_and_queues_with_exactly_the_picker_fields() {
        let api = Api::with_core().await;
        let root = api.agent("root", Role::Admin, None).await;
        let alice = api.agent("alice", Role::Agent, Some("t1")).await;
        for (uri, body) in [
            ("/api/v1/teams", json!({"id": "t1", "name": "Blue"})),
            ("/api/v1/skills", json!({"name": "french"})),
            (
                "/api/v1/agents",
                json!({"id": "bob", "name": "Bob", "password": "bob-password-1",
                       "extension": "1012", "team": "t1", "role": "agent",
                       "skills": [{"name": "french", "level": 3}]}),
            ),
            (
                "/api/v1/queues",
                json!({"id": "sales", "name": "Sales", "number": "7000", "ring_timeout_secs": 15}),
            ),
        ] {
            let (status, json) = api
                .call(Method::POST, uri, Some(&root), Some(&body.to_string()))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{uri}: {json}");
        }

        let (status, agents) = api
            .call(Method::GET, "/api/v1/directory/agents", Some(&alice), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{agents}");
        let bob = agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "bob")
            .unwrap_or_else(|| panic!("bob is listed: {agents}"));
        assert_eq!(
            bob,
            &json!({"id": "bob", "name": "Bob", "state": "logged_out", "team": "t1"})
        );
        for agent in agents.as_array().unwrap() {
            assert_eq!(keys(agent), BTreeSet::from(["id", "name", "state", "team"]));
        }
        assert!(
            !agents.to_string().contains("1012") && !agents.to_string().contains("french"),
            "no extension, no skills: {agents}"
        );

        let (status, queues) = api
            .call(Method::GET, "/api/v1/directory/queues", Some(&alice), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{queues}");
        assert_eq!(
            queues,
            json!([{"id": "sales", "name": "Sales", "number": "7000", "waiting": 0}])
        );

        let (status, _) = api
            .call(Method::GET, "/api/v1/directory/agents", None, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}
