//! Consult, warm transfer and three-way conference from the agent's desktop:
//! - `POST /api/v1/interactions/{id}/consult` `{"target": {"type": "agent"|"queue"|"number",
//!   "id"}}`: the customer goes on hold (music) and the agent's phone is bridged to the
//!   consulted party once it answers; `consult.offered` rings a consulted agent's desktop;
//! - `POST .../consult/end`: the consulting agent ends the consult and is back with the
//!   customer; the consulted agent uses it to leave;
//! - `POST .../consult/transfer`: warm transfer: the customer is bridged to the consulted
//!   party, the first agent's leg is released and it goes to wrap-up;
//! - `POST .../consult/conference`: all three hear each other (the switch mixes, each hears
//!   the other two);
//! - `POST .../conference/leave`: the consulted agent leaves the conference to the other two;
//!   the consulting agent leaving hands the customer over to the consulted party;
//! - `POST .../conference/participants/{participant}/drop`: the consulting agent drops the
//!   consulted party (an agent id or the dialled number).
//!
//! Each answer is 200 once the switch has the command; how it ends (`consult.answered`,
//! `consult.failed` with `no_answer`/`declined`/`unavailable`, `consult.ended`,
//! `interaction.transferred`) arrives as events. Refusals are 4xx with the reason and an
//! `interaction.<command>.failed` event (`consult`, `consult.end`, `consult.transfer`,
//! `conference`, `conference.leave`, `conference.drop`).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiState;
use super::auth::Principal;
use super::command_events::{Concerning, reported};
use super::dial_number::normalise;
use super::error::ApiError;
use super::interaction_control::{Done, Live, live};
use super::json::ApiJson;
use super::params::ApiPath;
use crate::center::{ConsultAction, ConsultTarget};
use crate::routing::model::{AgentId, QueueId};

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/interactions/{id}/consult", post(consult))
        .route("/api/v1/interactions/{id}/consult/end", post(end))
        .route("/api/v1/interactions/{id}/consult/transfer", post(transfer))
        .route(
            "/api/v1/interactions/{id}/consult/conference",
            post(conference),
        )
        .route("/api/v1/interactions/{id}/conference/leave", post(leave))
        .route(
            "/api/v1/interactions/{id}/conference/participants/{participant}/drop",
            post(drop_participant),
        )
}

/// Whom to consult.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsultBody {
    /// The consulted party.
    pub target: ConsultTargetBody,
}

/// A consult target.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsultTargetBody {
    /// `agent`, `queue` (its strategy picks an Available agent) or `number`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The agent's or queue's id, or the number (formatting characters are stripped).
    pub id: String,
}

/// Starts a consult; the customer is held while it lasts.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/consult", tag = "interactions",
    params(("id" = String, Path)), request_body = ConsultBody,
    responses((status = 200, body = Done), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn consult(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ConsultBody>,
) -> Result<Json<Done>, ApiError> {
    match target(body.target) {
        Ok(target) => {
            let action = ConsultAction::Start(target);
            live(&state, &principal, id, Live::Consult(action)).await
        }
        Err(invalid) => {
            let about = Concerning::Interaction(&id);
            reported(
                &state,
                &principal,
                "interaction.consult",
                about,
                Err(invalid),
            )
            .await
        }
    }
}

/// Validates a consult target: an id must not be blank; a number must be dialable.
fn target(body: ConsultTargetBody) -> Result<ConsultTarget, ApiError> {
    let id = body.id.trim();
    match body.kind.as_str() {
        "agent" | "queue" if id.is_empty() => {
            Err(ApiError::field("target.id", "must not be empty"))
        }
        "agent" => Ok(ConsultTarget::Agent(AgentId(id.to_owned()))),
        "queue" => Ok(ConsultTarget::Queue(QueueId(id.to_owned()))),
        "number" => normalise(id)
            .map(ConsultTarget::Number)
            .map_err(|e| ApiError::field("target.id", e.to_string())),
        _ => Err(ApiError::field(
            "target.type",
            "must be agent, queue or number",
        )),
    }
}

/// Ends the consult: back to the customer (or, for the consulted agent, leaves it).
#[utoipa::path(post, path = "/api/v1/interactions/{id}/consult/end", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn end(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    live(&state, &principal, id, Live::Consult(ConsultAction::End)).await
}

/// Warm transfer to the consulted party.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/consult/transfer", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn transfer(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    live(
        &state,
        &principal,
        id,
        Live::Consult(ConsultAction::Transfer),
    )
    .await
}

/// Brings the customer, the agent and the consulted party into one conference.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/consult/conference", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn conference(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    live(
        &state,
        &principal,
        id,
        Live::Consult(ConsultAction::Conference),
    )
    .await
}

/// Leaves the conference.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/conference/leave", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn leave(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    live(&state, &principal, id, Live::Consult(ConsultAction::Leave)).await
}

/// Drops the consulted party from the conference (the consulting agent only).
#[utoipa::path(post,
    path = "/api/v1/interactions/{id}/conference/participants/{participant}/drop",
    tag = "interactions",
    params(("id" = String, Path), ("participant" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn drop_participant(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath((id, participant)): ApiPath<(String, String)>,
) -> Result<Json<Done>, ApiError> {
    let action = ConsultAction::Drop(participant);
    live(&state, &principal, id, Live::Consult(action)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, id: &str) -> ConsultTargetBody {
        ConsultTargetBody {
            kind: kind.into(),
            id: id.into(),
        }
    }

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::InvalidField { field, .. } => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn targets_are_validated_and_numbers_normalised() {
        assert_eq!(
            target(body("agent", " bob ")).unwrap(),
            ConsultTarget::Agent(AgentId("bob".into()))
        );
        assert_eq!(
            target(body("queue", "sales")).unwrap(),
            ConsultTarget::Queue(QueueId("sales".into()))
        );
        assert_eq!(
            target(body("number", "+1 (201) 553-2447")).unwrap(),
            ConsultTarget::Number("+12015532447".into())
        );
        assert_eq!(
            field_of(target(body("number", "+1 123 456 7890")).unwrap_err()),
            "target.id"
        );
        assert_eq!(
            field_of(target(body("agent", "  ")).unwrap_err()),
            "target.id"
        );
        assert_eq!(
            field_of(target(body("team", "x")).unwrap_err()),
            "target.type"
        );
    }
}
