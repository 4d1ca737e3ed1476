//! Agents (admin writes, supervisors read): `GET/POST /api/v1/agents`,
//! `GET/PUT/DELETE /api/v1/agents/{id}`.
//!
//! A password is required on create and optional on update; it is hashed by the store and
//! never returned. The team and every skill must exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::validate;
use crate::routing::Command;
use crate::routing::model::{AgentId, Role, Skill, TeamId};
use crate::store::Agent;

/// Shortest password accepted.
const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted.
const MAX_PASSWORD_LEN: usize = 1024;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/agents", get(list).post(create))
        .route("/api/v1/agents/{id}", get(read).put(update).delete(remove))
}

/// A skill and level in a request body.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillLevel {
    /// A skill from the catalogue.
    pub name: String,
    /// 1 to 10.
    pub level: u8,
}

/// An agent as an admin writes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentBody {
    /// Login id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Required on create; on update, changes the password when present.
    #[serde(default)]
    pub password: Option<String>,
    /// The SIP extension of the agent's phone.
    #[serde(default)]
    pub extension: Option<String>,
    /// The agent's team (must exist).
    #[serde(default)]
    pub team: Option<String>,
    /// Skills (each must exist in the catalogue).
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
    /// `agent`, `supervisor` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
    /// Defaults to true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What the agent may dial from the desktop at most: `internal`, `national` or
    /// `international`; absent: its extension's class alone.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub calling_class: Option<crate::dialing::CallingClass>,
}

fn yes() -> bool {
    true
}

impl AgentBody {
    async fn validate(&self, state: &ApiState) -> Result<Agent, ApiError> {
        validate::id("id", &self.id)?;
        validate::name("name", &self.name)?;
        if let Some(ext) = &self.extension {
            validate::id("extension", ext)?;
        }
        if let Some(pw) = &self.password
            && !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&pw.len())
        {
            return Err(ApiError::field(
                "password",
                format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} bytes"),
            ));
        }
        let team = match &self.team {
            Some(team) => {
                let team = TeamId(team.clone());
                if state.store.get_team(&team).await?.is_none() {
                    return Err(ApiError::field("team", "no such team"));
                }
                Some(team)
            }
            None => None,
        };
        let mut skills = Vec::with_capacity(self.skills.len());
        for (i, skill) in self.skills.iter().enumerate() {
            validate::level(&format!("skills[{i}].level"), skill.level)?;
            if state.store.get_skill(&skill.name).await?.is_none() {
                return Err(ApiError::field(
                    format!("skills[{i}].name"),
                    "no such skill",
                ));
            }
            if skills.iter().any(|s: &Skill| s.name == skill.name) {
                return Err(ApiError::field(format!("skills[{i}].name"), "listed twice"));
            }
            skills.push(Skill {
                name: skill.name.clone(),
                level: skill.level,
            });
        }
        Ok(Agent {
            id: AgentId(self.id.clone()),
            name: self.name.clone(),
            extension: self.extension.clone(),
            team,
            skills,
            role: self.role,
            enabled: self.enabled,
            calling_class: self.calling_class,
        })
    }
}

/// Lists agents (supervisor).
#[utoipa::path(get, path = "/api/v1/agents", tag = "admin",
    responses((status = 200, body = Vec<Agent>), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<Agent>>, ApiError> {
    principal.require(Role::Supervisor)?;
    Ok(Json(state.store.list_agents().await?))
}

/// One agent (supervisor).
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "admin",
    params(("id" = String, Path)), responses((status = 200, body = Agent), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Agent>, ApiError> {
    principal.require(Role::Supervisor)?;
    let agent = state.store.get_agent(&AgentId(id)).await?;
    agent.map(Json).ok_or(ApiError::NotFound)
}

/// Creates an agent (admin).
#[utoipa::path(post, path = "/api/v1/agents", tag = "admin", request_body = AgentBody,
    responses((status = 201, body = Agent), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<AgentBody>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    principal.require(Role::Admin)?;
    let agent = body.validate(&state).await?;
    let password = body
        .password
        .as_deref()
        .ok_or_else(|| ApiError::field("password", "is required"))?;
    state.store.create_agent(&agent, password).await?;
    if agent.enabled {
        state
            .reconfigure(Command::UpsertAgent(agent.config()))
            .await?;
    }
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Replaces an agent (admin); the password changes only if given. An admin cannot disable or
/// demote itself (409).
#[utoipa::path(put, path = "/api/v1/agents/{id}", tag = "admin", request_body = AgentBody,
    params(("id" = String, Path)),
    responses((status = 200, body = Agent), (status = 404), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AgentBody>,
) -> Result<Json<Agent>, ApiError> {
    principal.require(Role::Admin)?;
    validate::same_id(&id, &body.id)?;
    let agent = body.validate(&state).await?;
    // As with delete: an admin who locks itself out may leave the org with no admin at all,
    // and its own session would be revoked mid-request.
    if principal.agent.as_ref() == Some(&agent.id) {
        if !agent.enabled {
            return Err(ApiError::conflict(
                "an admin cannot disable itself",
                Some("enabled"),
            ));
        }
        if agent.role != Role::Admin {
            return Err(ApiError::conflict(
                "an admin cannot demote itself",
                Some("role"),
            ));
        }
    }
    if state
        .store
        .update_agent(&agent, body.password.as_deref())
        .await?
    {
        let command = if agent.enabled {
            Command::UpsertAgent(agent.config())
        } else {
            Command::RemoveAgent(agent.id.clone())
        };
        state.reconfigure(command).await?;
        Ok(Json(agent))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Deletes an agent (admin). An admin cannot delete itself.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "admin",
    params(("id" = String, Path)), responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    let id = AgentId(id);
    if principal.agent.as_ref() == Some(&id) {
        return Err(ApiError::conflict(
            "an admin cannot delete itself",
            Some("id"),
        ));
    }
    // The ACD first: it refuses to forget an agent whose phone rings or who is on a call.
    state.reconfigure(Command::RemoveAgent(id.clone())).await?;
    if state.store.delete_agent(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};

    use crate::cti::MAX_BODY_BYTES;
    use crate::cti::test_support::Api;
    use crate::routing::model::Role;

    const AGENTS: &str = "/api/v1/agents";

    #[tokio::test]
    async fn an_agent_is_forbidden_from_admin_routes() {
        let api = Api::new().await;
        let agent = api.agent("alice", Role::Agent, None).await;
        let body = r#"{"id": "bob", "name": "Bob", "password": "long-enough", "role": "agent"}"#;
        for (method, uri, body) in [
            (Method::GET, AGENTS, None),
            (Method::POST, AGENTS, Some(body)),
            (Method::GET, "/api/v1/teams", None),
            (Method::GET, "/api/v1/queues", None),
            (Method::GET, "/api/v1/settings", None),
        ] {
            let (status, json) = api.call(method, uri, Some(&agent), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
            assert_eq!(json["error"]["code"], "forbidden");
        }
    }

    #[tokio::test]
    async fn an_admin_manages_agents_whose_passwords_are_never_returned() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let sup = api.agent("sue", Role::Supervisor, None).await;
        api.call(
            Method::POST,
            "/api/v1/teams",
            Some(&admin),
            Some(r#"{"id": "t1", "name": "One"}"#),
        )
        .await;
        api.call(
            Method::POST,
            "/api/v1/skills",
            Some(&admin),
            Some(r#"{"name": "french"}"#),
        )
        .await;
        let body = r#"{"id": "bob", "name": "Bob", "password": "bob-secret-1", "role": "agent",
                       "team": "t1", "skills": [{"name": "french", "level": 4}]}"#;
        let (status, json) = api
            .call(Method::POST, AGENTS, Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        assert!(json.get("password").is_none() && !json.to_string().contains("bob-secret-1"));
        assert_eq!(json["skills"][0]["level"], 4);
        let (status, json) = api
            .call(Method::POST, AGENTS, Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{json}");

        let (status, json) = api
            .call(Method::GET, "/api/v1/agents/bob", Some(&sup), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["team"], "t1");
        let (status, _) = api
            .call(Method::DELETE, "/api/v1/agents/bob", Some(&sup), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "supervisors only read");

        let update = r#"{"id": "bob", "name": "Robert", "role": "supervisor"}"#;
        let (status, json) = api
            .call(
                Method::PUT,
                "/api/v1/agents/bob",
                Some(&admin),
                Some(update),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert!(
            api.store()
                .authenticate_agent(&"bob".into(), "bob-secret-1")
                .await
                .unwrap()
                .is_some()
        );
        let (status, _) = api
            .call(Method::DELETE, "/api/v1/agents/bob", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = api
            .call(Method::GET, "/api/v1/agents/bob", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn every_bad_agent_field_is_a_422_naming_it() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let cases = [
            (
                r#"{"id": "bob", "name": "Bob", "role": "agent"}"#,
                "password",
            ),
            (
                r#"{"id": "bob", "name": "Bob", "password": "short", "role": "agent"}"#,
                "password",
            ),
            (
                r#"{"id": "b b", "name": "Bob", "password": "long-enough", "role": "agent"}"#,
                "id",
            ),
            (
                r#"{"id": "bob", "name": " ", "password": "long-enough", "role": "agent"}"#,
                "name",
            ),
            (
                r#"{"id": "bob", "name": "B", "password": "long-enough", "role": "boss"}"#,
                "role",
            ),
            (
                r#"{"id": "bob", "name": "B", "password": "long-enough", "role": "agent", "team": "t9"}"#,
                "team",
            ),
            (
                r#"{"id": "bob", "name": "B", "password": "long-enough", "role": "agent", "skills": [{"name": "x", "level": 1}]}"#,
                "skills[0].name",
            ),
            (
                r#"{"id": "bob", "name": "B", "password": "long-enough", "role": "agent", "skills": [{"name": "x", "level": 11}]}"#,
                "skills[0].level",
            ),
            (
                r#"{"id": "bob", "name": "B", "password": "long-enough", "role": "agent", "enabled": "yes"}"#,
                "enabled",
            ),
            (
                r#"{"id": "bob", "name": "B", "password": "long-enough", "role": "agent", "colour": "red"}"#,
                "colour",
            ),
            (
                r#"{"id": 7, "name": "B", "password": "long-enough", "role": "agent"}"#,
                "id",
            ),
        ];
        for (body, field) in cases {
            let (status, json) = api
                .call(Method::POST, AGENTS, Some(&admin), Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
            assert_eq!(json["error"]["field"], field, "{body}: {json}");
        }
        let (status, json) = api
            .call(
                Method::POST,
                AGENTS,
                Some(&admin),
                Some(r#"{"id": "x", "name": "#),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["error"]["code"], "malformed_json");
        let (status, json) = api
            .call(
                Method::POST,
                AGENTS,
                Some(&admin),
                Some(r#"{"id": "x", "colour": 1}"#),
            )
            .await;
        assert_eq!(
            (status.as_u16(), &json["error"]["code"]),
            (422, &"unknown_field".into())
        );
        assert_eq!(json["error"]["field"], "colour");
    }

    #[tokio::test]
    async fn oversized_or_untyped_bodies_get_json_errors() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let huge = format!(r#"{{"id": "x", "name": "{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        let (status, json) = api
            .call(Method::POST, AGENTS, Some(&admin), Some(&huge))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json["error"]["code"], "payload_too_large");

        let request = Request::post(AGENTS)
            .header("authorization", format!("Bearer {admin}"))
            .body(Body::from(r#"{"id": "x"}"#))
            .unwrap();
        let (status, json) = api.send(request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(json["error"]["code"], "unsupported_media_type");

        let (status, json) = api
            .call(Method::GET, "/api/v1/agents/%FF", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["error"]["field"], "path");
    }

    #[tokio::test]
    async fn an_admin_cannot_delete_itself() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let (status, json) = api
            .call(Method::DELETE, "/api/v1/agents/root", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{json}");
    }

    #[tokio::test]
    async fn an_admin_cannot_disable_or_demote_itself_but_may_another_admin() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        api.agent("deputy", Role::Admin, None).await;
        for (body, field) in [
            (
                r#"{"id": "root", "name": "Root", "role": "admin", "enabled": false}"#,
                "enabled",
            ),
            (
                r#"{"id": "root", "name": "Root", "role": "supervisor"}"#,
                "role",
            ),
        ] {
            let (status, json) = api
                .call(Method::PUT, "/api/v1/agents/root", Some(&admin), Some(body))
                .await;
            assert_eq!(status, StatusCode::CONFLICT, "{json}");
            assert_eq!(json["error"]["field"], field, "{json}");
        }
        // Still an admin: the token works for admin routes.
        let (status, _) = api.call(Method::GET, AGENTS, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK);

        let body = r#"{"id": "deputy", "name": "Deputy", "role": "supervisor"}"#;
        let (status, json) = api
            .call(
                Method::PUT,
                "/api/v1/agents/deputy",
                Some(&admin),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["role"], "supervisor", "{json}");
    }
}
