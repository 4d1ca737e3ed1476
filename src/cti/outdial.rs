//! Click-to-dial from the desktop (issue 15 item 3):
//! `POST /api/v1/agents/{id}/outdial` `{"number": "+33 1 23 45 67 89", "queue": "sales",
//! "cad": {"account": "A-1"}}` answers 201 `{"interaction": "ix-..."}` once the agent's phone
//! is being rung; the switch then dials the customer when the agent's phone answers
//! (auto-answer where the phone honours `Call-Info: answer-after=0`). What follows arrives as
//! events: `interaction.outdial`, `interaction.connected`, or `interaction.outdial_failed`
//! with its `reason` (see `center::outdial`).
//!
//! Only the agent itself may dial (a supervisor's token placing calls on an agent's phone
//! would be a way to listen in). Refusals, each also an `agent.outdial.failed` event:
//! - 422 naming `number` for a number that is no number (letters, too short: the desktop's
//!   number rules, then the dial plan's), `queue` for an unknown queue or none served, or a
//!   `cad` entry;
//! - 409 with the reason for a number the agent may not dial (`calling_class_national`,
//!   `calling_class_internal`, `blocked_prefix`), one with no route or no free trunk channel
//!   (`no_route`, `trunk_channels`), or an agent who is not Available or Idle or not logged in.
//!
//! The agent must be Available or Idle (Webex lets an Idle agent dial out); while the call
//! rings and talks it is Reserved then Engaged, so the ACD offers it nothing else.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::command_events::{Concerning, reported};
use super::dial_number::normalise;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use crate::bus::requests::OutdialRequest;
use crate::call::CadFromSip;
use crate::center::OutdialRefused;
use crate::routing::RoutingError;
use crate::routing::model::{AgentId, QueueId};

/// Most CAD entries a desktop may attach to a call out.
const MAX_CAD: usize = 16;
/// Longest CAD key and value.
const MAX_CAD_KEY: usize = 64;
const MAX_CAD_VALUE: usize = 256;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/agents/{id}/outdial", post(outdial))
}

/// A call out.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutdialBody {
    /// The customer's number (formatting characters are stripped).
    pub number: String,
    /// The queue the call is made for (its wrap-up rules, recording and noise suppression
    /// apply); default: the first queue the agent serves.
    #[serde(default)]
    pub queue: Option<String>,
    /// Call-associated data for the interaction, key to value.
    #[serde(default)]
    pub cad: BTreeMap<String, String>,
}

/// The call out started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutdialStarted {
    /// The new interaction's id.
    pub interaction: String,
}

/// Rings the agent's phone, then dials the customer.
#[utoipa::path(post, path = "/api/v1/agents/{id}/outdial", tag = "agent",
    params(("id" = String, Path)), request_body = OutdialBody,
    responses((status = 201, body = OutdialStarted), (status = 403), (status = 404),
              (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn outdial(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OutdialBody>,
) -> Result<(StatusCode, Json<OutdialStarted>), ApiError> {
    let agent = AgentId(id);
    let result = start(&state, &principal, &agent, body).await;
    let about = Concerning::Agent(&agent);
    reported(&state, &principal, "agent.outdial", about, result).await
}

async fn start(
    state: &ApiState,
    principal: &Principal,
    agent: &AgentId,
    body: OutdialBody,
) -> Result<(StatusCode, Json<OutdialStarted>), ApiError> {
    if principal.agent.as_ref() != Some(agent) {
        return Err(ApiError::Forbidden);
    }
    let number = normalise(&body.number).map_err(|e| ApiError::field("number", e.to_string()))?;
    let queue = match body.queue.as_deref().map(str::trim) {
        Some("") => return Err(ApiError::field("queue", "must not be empty")),
        other => other.map(|q| QueueId(q.to_owned())),
    };
    let request = OutdialRequest {
        agent: agent.clone(),
        number,
        queue,
        cad: cad(body.cad)?,
    };
    match state.core()?.outdial(request).await? {
        Ok(interaction) => Ok((
            StatusCode::CREATED,
            Json(OutdialStarted {
                interaction: interaction.0,
            }),
        )),
        Err(refused) => Err(refusal(&refused)),
    }
}

/// The desktop's CAD, checked: every entry editable, none secure (a desktop cannot mark its
/// own data secure).
pub(super) fn cad(entries: BTreeMap<String, String>) -> Result<Vec<CadFromSip>, ApiError> {
    if entries.len() > MAX_CAD {
        return Err(ApiError::field("cad", format!("at most {MAX_CAD} entries")));
    }
    entries
        .into_iter()
        .map(|(key, value)| {
            let valid_key = !key.is_empty()
                && key.len() <= MAX_CAD_KEY
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !valid_key {
                return Err(ApiError::field(
                    "cad",
                    format!("keys are 1 to {MAX_CAD_KEY} of A-Z a-z 0-9 _ - ."),
                ));
            }
            if value.chars().count() > MAX_CAD_VALUE {
                return Err(ApiError::field(
                    format!("cad.{key}"),
                    format!("at most {MAX_CAD_VALUE} characters"),
                ));
            }
            Ok(CadFromSip {
                key: key.to_ascii_lowercase(),
                value,
                secure: false,
            })
        })
        .collect()
}

/// The API's answer to a refused outdial.
fn refusal(refused: &OutdialRefused) -> ApiError {
    match refused {
        OutdialRefused::NoQueue => ApiError::field("queue", refused.to_string()),
        OutdialRefused::Number(why @ ("not_a_number" | "number_characters" | "number_format")) => {
            ApiError::field(
                "number",
                format!("not a number the dial plan reads ({why})"),
            )
        }
        OutdialRefused::Number(why) => ApiError::Conflict {
            message: refused.to_string(),
            field: Some("number".into()),
            current: None,
            reason: Some(why),
        },
        OutdialRefused::NotLoggedIn => ApiError::refused("logged_out", refused.to_string()),
        OutdialRefused::Routing(RoutingError::UnknownAgent(_)) => ApiError::NotFound,
        OutdialRefused::Routing(RoutingError::UnknownQueue(_)) => {
            ApiError::field("queue", "no such queue")
        }
        OutdialRefused::Routing(error) => ApiError::refused(error.code(), error.to_string()),
    }
}
