//! Queues (admin writes, supervisors read): `GET/POST /api/v1/queues`,
//! `GET/PUT/DELETE /api/v1/queues/{id}`.
//!
//! The body is [`QueueBody`]: `QueueConfig` with durations as whole seconds in fields named
//! `*_secs`. Required skills and teams must exist; an overflow queue must exist and not be
//! the queue itself.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::agents::SkillLevel;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::validate;
use crate::routing::Command;
use crate::routing::model::{OverflowTarget, QueueConfig, QueueId, Role, Skill, Strategy, TeamId};

/// Longest ring timeout, maximum wait or wrap-up: one day.
const MAX_SECS: u64 = 86_400;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/queues", get(list).post(create))
        .route("/api/v1/queues/{id}", get(read).put(update).delete(remove))
}

/// A queue as the API reads and writes it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueBody {
    /// The queue's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The number or SIP user that reaches the queue.
    pub number: String,
    /// `longest_idle`, `round_robin`, `ring_all` or `skills_based`.
    #[serde(default)]
    #[schema(value_type = String)]
    pub strategy: Strategy,
    /// Skills an agent needs.
    #[serde(default)]
    pub required_skills: Vec<SkillLevel>,
    /// Teams serving the queue; empty means every team.
    #[serde(default)]
    pub teams: Vec<String>,
    /// How long an offer rings before RONA.
    pub ring_timeout_secs: u64,
    /// How long a caller waits before overflowing; absent waits forever.
    #[serde(default)]
    pub max_wait_secs: Option<u64>,
    /// `{"type": "queue", "id": "..."}` or `{"type": "number", "id": "..."}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub overflow: Option<OverflowTarget>,
    /// Longest wrap-up; absent uses the org's setting.
    #[serde(default)]
    pub wrap_up_max_secs: Option<u64>,
    /// Returning callers go first to their last agent.
    #[serde(default)]
    pub last_agent_routing: bool,
    /// A disposition code is required at wrap-up.
    #[serde(default)]
    pub disposition_required: bool,
    /// Music on hold, a WAV path relative to `sip-profiles/`.
    #[serde(default)]
    pub music: Option<String>,
    /// Record this queue's calls; absent follows the org setting.
    #[serde(default)]
    pub recording: Option<bool>,
    /// Clean callers' audio before agents hear it; absent follows the org setting.
    #[serde(default)]
    pub noise_suppression: Option<bool>,
    /// Most live calls (waiting, ringing or talking) at once; more are refused 486 with
    /// `Reason: SIP;cause=486;text="queue_calls"`. 0 or absent: no limit.
    #[serde(default)]
    pub max_calls: u32,
    /// What customers see when agents call out for this queue (click-to-dial, callbacks),
    /// `+` and 8 to 15 digits; absent: the trunk's caller ID.
    #[serde(default)]
    pub outdial_caller_id: Option<String>,
    /// Offer callers a courtesy callback when their estimated wait exceeds this; absent:
    /// never.
    #[serde(default)]
    pub courtesy_callback_after_secs: Option<u64>,
    /// The courtesy callback offer, a WAV path relative to `sip-profiles/`.
    #[serde(default)]
    pub courtesy_prompt: Option<String>,
}

impl From<QueueConfig> for QueueBody {
    fn from(q: QueueConfig) -> QueueBody {
        QueueBody {
            id: q.id.0,
            name: q.name,
            number: q.number,
            strategy: q.strategy,
            required_skills: q
                .required_skills
                .into_iter()
                .map(|s| SkillLevel {
                    name: s.name,
                    level: s.level,
                })
                .collect(),
            teams: q.teams.into_iter().map(|t| t.0).collect(),
            ring_timeout_secs: q.ring_timeout.as_secs(),
            max_wait_secs: q.max_wait.map(|d| d.as_secs()),
            overflow: q.overflow,
            wrap_up_max_secs: q.wrap_up_max.map(|d| d.as_secs()),
            last_agent_routing: q.last_agent_routing,
            disposition_required: q.disposition_required,
            music: q.music,
            recording: q.recording,
            noise_suppression: q.noise_suppression,
            max_calls: q.max_calls,
            outdial_caller_id: q.outdial_caller_id,
            courtesy_callback_after_secs: q.courtesy_callback_after.map(|d| d.as_secs()),
            courtesy_prompt: q.courtesy_prompt,
        }
    }
}

/// A caller ID as carriers take it: `+` then 8 to 15 digits.
fn e164_caller_id(value: &str) -> Result<String, ApiError> {
    let digits = value.strip_prefix('+').unwrap_or_default();
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::field(
            "outdial_caller_id",
            "must be E.164: + then 8 to 15 digits",
        ))
    }
}

fn secs(field: &str, value: u64) -> Result<Duration, ApiError> {
    if (1..=MAX_SECS).contains(&value) {
        Ok(Duration::from_secs(value))
    } else {
        Err(ApiError::field(
            field,
            format!("must be 1 to {MAX_SECS} seconds"),
        ))
    }
}

impl QueueBody {
    async fn validate(&self, state: &ApiState) -> Result<QueueConfig, ApiError> {
        validate::id("id", &self.id)?;
        validate::name("name", &self.name)?;
        validate::id("number", &self.number)?;
        let mut required_skills: Vec<Skill> = Vec::new();
        for (i, skill) in self.required_skills.iter().enumerate() {
            validate::level(&format!("required_skills[{i}].level"), skill.level)?;
            if state.store.get_skill(&skill.name).await?.is_none() {
                return Err(ApiError::field(
                    format!("required_skills[{i}].name"),
                    "no such skill",
                ));
            }
            if required_skills.iter().any(|s| s.name == skill.name) {
                return Err(ApiError::field(
                    format!("required_skills[{i}].name"),
                    "listed twice",
                ));
            }
            required_skills.push(Skill {
                name: skill.name.clone(),
                level: skill.level,
            });
        }
        let mut teams = Vec::new();
        for (i, team) in self.teams.iter().enumerate() {
            let team = TeamId(team.clone());
            if state.store.get_team(&team).await?.is_none() {
                return Err(ApiError::field(format!("teams[{i}]"), "no such team"));
            }
            teams.push(team);
        }
        match &self.overflow {
            Some(OverflowTarget::Queue(q)) if q.as_str() == self.id => {
                return Err(ApiError::field(
                    "overflow",
                    "a queue cannot overflow to itself",
                ));
            }
            Some(OverflowTarget::Queue(q)) if state.store.get_queue(q).await?.is_none() => {
                return Err(ApiError::field("overflow", "no such queue"));
            }
            Some(OverflowTarget::Number(n)) => validate::id("overflow", n)?,
            _ => {}
        }
        for (field, path) in [
            ("music", &self.music),
            ("courtesy_prompt", &self.courtesy_prompt),
        ] {
            if let Some(path) = path
                && (path.is_empty()
                    || path.starts_with('/')
                    || path.split(['/', '\\']).any(|part| part == "..")
                    || !path.ends_with(".wav"))
            {
                return Err(ApiError::field(
                    field,
                    "must be a relative .wav path inside sip-profiles/",
                ));
            }
        }
        Ok(QueueConfig {
            id: QueueId(self.id.clone()),
            name: self.name.clone(),
            number: self.number.clone(),
            strategy: self.strategy,
            required_skills,
            teams,
            ring_timeout: secs("ring_timeout_secs", self.ring_timeout_secs)?,
            max_wait: self
                .max_wait_secs
                .map(|s| secs("max_wait_secs", s))
                .transpose()?,
            overflow: self.overflow.clone(),
            wrap_up_max: self
                .wrap_up_max_secs
                .map(|s| secs("wrap_up_max_secs", s))
                .transpose()?,
            last_agent_routing: self.last_agent_routing,
            disposition_required: self.disposition_required,
            music: self.music.clone(),
            recording: self.recording,
            noise_suppression: self.noise_suppression,
            max_calls: self.max_calls,
            outdial_caller_id: self
                .outdial_caller_id
                .as_deref()
                .map(e164_caller_id)
                .transpose()?,
            courtesy_callback_after: self
                .courtesy_callback_after_secs
                .map(|s| secs("courtesy_callback_after_secs", s))
                .transpose()?,
            courtesy_prompt: self.courtesy_prompt.clone(),
        })
    }
}

/// Lists queues (supervisor).
#[utoipa::path(get, path = "/api/v1/queues", tag = "admin",
    responses((status = 200, body = Vec<QueueBody>), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<QueueBody>>, ApiError> {
    principal.require(Role::Supervisor)?;
    let queues = state.store.list_queues().await?;
    Ok(Json(queues.into_iter().map(QueueBody::from).collect()))
}

/// One queue (supervisor).
#[utoipa::path(get, path = "/api/v1/queues/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = QueueBody), (status = 404)), security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<QueueBody>, ApiError> {
    principal.require(Role::Supervisor)?;
    let queue = state.store.get_queue(&QueueId(id)).await?;
    queue.map(|q| Json(q.into())).ok_or(ApiError::NotFound)
}

/// Creates a queue (admin).
#[utoipa::path(post, path = "/api/v1/queues", tag = "admin", request_body = QueueBody,
    responses((status = 201, body = QueueBody), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<QueueBody>,
) -> Result<(StatusCode, Json<QueueBody>), ApiError> {
    principal.require(Role::Admin)?;
    let queue = body.validate(&state).await?;
    state.store.create_queue(&queue).await?;
    state
        .reconfigure(Command::UpsertQueue(queue.clone()))
        .await?;
    Ok((StatusCode::CREATED, Json(queue.into())))
}

/// Replaces a queue (admin).
#[utoipa::path(put, path = "/api/v1/queues/{id}", tag = "admin", request_body = QueueBody,
    params(("id" = String, Path)),
    responses((status = 200, body = QueueBody), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<QueueBody>,
) -> Result<Json<QueueBody>, ApiError> {
    principal.require(Role::Admin)?;
    validate::same_id(&id, &body.id)?;
    let queue = body.validate(&state).await?;
    if state.store.update_queue(&queue).await? {
        state
            .reconfigure(Command::UpsertQueue(queue.clone()))
            .await?;
        Ok(Json(queue.into()))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Deletes a queue (admin).
#[utoipa::path(delete, path = "/api/v1/queues/{id}", tag = "admin",
    params(("id" = String, Path)), responses((status = 204), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    // The ACD first: it refuses to drop a queue that still holds callers.
    state
        .reconfigure(Command::RemoveQueue(QueueId(id.clone())))
        .await?;
    if state.store.delete_queue(&QueueId(id)).await? {
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
    async fn queues_round_trip_with_durations_in_seconds_and_checked_references() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let body = r#"{"id": "sales", "name": "Sales", "number": "7000", "strategy": "round_robin",
            "ring_timeout_secs": 20, "max_wait_secs": 300, "disposition_required": true}"#;
        let (status, json) = api
            .call(Method::POST, "/api/v1/queues", Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        let (_, json) = api
            .call(Method::GET, "/api/v1/queues/sales", Some(&admin), None)
            .await;
        assert_eq!(json["ring_timeout_secs"], 20);
        assert_eq!(json["max_wait_secs"], 300);
        assert_eq!(json["strategy"], "round_robin");
        assert_eq!(json["disposition_required"], true);

        let cases = [
            (
                r#"{"id": "q2", "name": "Q", "number": "7001", "ring_timeout_secs": 0}"#,
                "ring_timeout_secs",
            ),
            (
                r#"{"id": "q2", "name": "Q", "number": "7001", "ring_timeout_secs": 5, "required_skills": [{"name": "x", "level": 1}]}"#,
                "required_skills[0].name",
            ),
            (
                r#"{"id": "q2", "name": "Q", "number": "7001", "ring_timeout_secs": 5, "teams": ["nope"]}"#,
                "teams[0]",
            ),
            (
                r#"{"id": "q2", "name": "Q", "number": "7001", "ring_timeout_secs": 5, "overflow": {"type": "queue", "id": "q2"}}"#,
                "overflow",
            ),
            (
                r#"{"id": "q2", "name": "Q", "number": "7001", "ring_timeout_secs": 5, "music": "../../etc/passwd.wav"}"#,
                "music",
            ),
            (
                r#"{"id": "q2", "name": "Q", "number": "7001", "ring_timeout_secs": 5, "strategy": "random"}"#,
                "strategy",
            ),
        ];
        for (body, field) in cases {
            let (status, json) = api
                .call(Method::POST, "/api/v1/queues", Some(&admin), Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
            assert_eq!(json["error"]["field"], field, "{body}: {json}");
        }
        let dup = r#"{"id": "other", "name": "Q", "number": "7000", "ring_timeout_secs": 5}"#;
        let (status, _) = api
            .call(Method::POST, "/api/v1/queues", Some(&admin), Some(dup))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "same number");
    }
}
