//! Live commands on an interaction from the agent's desktop:
//! - `POST /api/v1/interactions/{id}/accept`: the desktop accepts the ringing offer (the
//!   phone's answer is what connects the call; this records the agent's intent);
//! - `POST /api/v1/interactions/{id}/decline`: refuses the offer: counted as Declined (not
//!   RONA), the caller goes back to the head of the queue;
//! - `POST /api/v1/interactions/{id}/end`: hangs up a connected call (BYE on every leg); the
//!   agent goes to wrap-up;
//! - `POST /api/v1/interactions/{id}/hold` and `.../resume`: music on hold to the customer,
//!   silence to the agent, and back (the end button is refused while the customer is held);
//! - `POST /api/v1/interactions/{id}/transfer`
//!   `{"target": {"type": "agent"|"queue"|"number", "id"}}`: blind transfer; the agent's leg
//!   is released and the agent goes to wrap-up; the customer hears music until the agent, the
//!   queue's agent or the number answers, and goes back to the head of its queue if the agent
//!   or the number does not (an agent who lets it ring goes to RONA);
//! - `GET /api/v1/interactions/{id}/position`: a waiting caller's position and expected wait.
//!
//! Accept, decline and end act on the caller's own offer or call (a supervisor or admin may
//! end any call in scope). Refusals are 4xx with the reason, mirrored as
//! `interaction.<command>.failed` events (see `command_events`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ApiState;
use super::agent_session::run;
use super::auth::Principal;
use super::command_events::{Concerning, reported, succeeded};
use super::dial_number::normalise;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use crate::center::{ConsultAction, TransferTarget};
use crate::routing::Command;
use crate::routing::model::{AgentId, InteractionId, QueueId, Role};

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/interactions/{id}/accept", post(accept))
        .route("/api/v1/interactions/{id}/decline", post(decline))
        .route("/api/v1/interactions/{id}/end", post(end))
        .route("/api/v1/interactions/{id}/hold", post(hold))
        .route("/api/v1/interactions/{id}/transfer", post(transfer))
        .route("/api/v1/interactions/{id}/resume", post(resume))
        .route("/api/v1/interactions/{id}/position", get(position))
}

/// The outcome of a live command.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Done {
    /// The interaction.
    pub interaction: String,
    /// What was done: `accepted`, `declined`, `ending`, `held`, `resumed`, `transferred`,
    /// or for consults `consulting`, `consult_ending`, `transferring`, `conferencing`,
    /// `leaving`, `dropping` (the outcome follows as an event).
    pub status: &'static str,
}

/// Where a waiting caller stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Position {
    /// The interaction.
    pub interaction: String,
    /// The queue.
    pub queue: String,
    /// 1 is next.
    pub position: usize,
    /// Estimated seconds until an agent is offered the call.
    pub expected_wait_secs: u64,
}

fn own_agent(principal: &Principal) -> Result<AgentId, ApiError> {
    principal.agent.clone().ok_or(ApiError::Forbidden)
}

/// Accepts the offer ringing this agent.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/accept", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 409)), security(("bearer" = [])))]
pub(super) async fn accept(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    answer_offer(&state, &principal, id, true).await
}

/// Declines the offer ringing this agent.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/decline", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 409)), security(("bearer" = [])))]
pub(super) async fn decline(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    answer_offer(&state, &principal, id, false).await
}

/// Accepts or declines the offer ringing the caller, reported as
/// `interaction.accepted`/`interaction.declined` or `interaction.<command>.failed`.
async fn answer_offer(
    state: &ApiState,
    principal: &Principal,
    id: String,
    accept: bool,
) -> Result<Json<Done>, ApiError> {
    let (name, status) = if accept {
        ("interaction.accept", "accepted")
    } else {
        ("interaction.decline", "declined")
    };
    let result = async {
        let agent = own_agent(principal)?;
        let interaction = InteractionId(id.clone());
        let command = if accept {
            Command::AcceptOffer { agent, interaction }
        } else {
            Command::DeclineOffer { agent, interaction }
        };
        run(state, command).await
    }
    .await;
    let about = Concerning::Interaction(&id);
    reported(state, principal, name, about, result).await?;
    let kind = format!("interaction.{status}");
    succeeded(state, principal, &kind, about, json!({})).await?;
    Ok(Json(Done {
        interaction: id,
        status,
    }))
}

/// Ends a connected call (refused while the customer is on hold).
#[utoipa::path(post, path = "/api/v1/interactions/{id}/end", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn end(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    live(&state, &principal, id, Live::End).await
}

/// Puts the customer on hold: music on hold to the customer, silence to the agent.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/hold", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn hold(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    live(&state, &principal, id, Live::Hold).await
}

/// Takes the customer off hold.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/resume", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Done), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn resume(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Done>, ApiError> {
    live(&state, &principal, id, Live::Resume).await
}

/// A blind transfer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// Where the customer goes.
    pub target: TransferTargetBody,
}

/// A transfer target.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferTargetBody {
    /// `agent` (Available agents only), `queue` or `number`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The queue's id, or the number (formatting characters are stripped).
    pub id: String,
}

/// Blind transfer to an Available agent, a queue or a number.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/transfer", tag = "interactions",
    params(("id" = String, Path)), request_body = TransferBody,
    responses((status = 200, body = Done), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn transfer(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<Done>, ApiError> {
    let target = match body.target.kind.as_str() {
        "agent" => Ok(TransferTarget::Agent(AgentId(body.target.id))),
        "queue" => Ok(TransferTarget::Queue(QueueId(body.target.id))),
        "number" => normalise(&body.target.id)
            .map(TransferTarget::Number)
            .map_err(|e| ApiError::field("target.id", e.to_string())),
        _ => Err(ApiError::field(
            "target.type",
            "must be agent, queue or number",
        )),
    };
    match target {
        Ok(target) => live(&state, &principal, id, Live::Transfer(target)).await,
        Err(invalid) => {
            let about = Concerning::Interaction(&id);
            reported(
                &state,
                &principal,
                "interaction.transfer",
                about,
                Err(invalid),
            )
            .await
        }
    }
}

/// A live command, as [`live`] runs it.
#[derive(Clone)]
pub(super) enum Live {
    End,
    Hold,
    Resume,
    Transfer(TransferTarget),
    Consult(ConsultAction),
}

impl Live {
    /// The command's name after `interaction.` in its `.failed` event.
    fn name(&self) -> &'static str {
        match self {
            Live::End => "end",
            Live::Hold => "hold",
            Live::Resume => "resume",
            Live::Transfer(_) => "transfer",
            Live::Consult(ConsultAction::Start(_)) => "consult",
            Live::Consult(ConsultAction::End) => "consult.end",
            Live::Consult(ConsultAction::Transfer) => "consult.transfer",
            Live::Consult(ConsultAction::Conference) => "conference",
            Live::Consult(ConsultAction::Leave) => "conference.leave",
            Live::Consult(ConsultAction::Drop(_)) => "conference.drop",
        }
    }

    /// The `status` of a successful command.
    fn done(&self) -> &'static str {
        match self {
            Live::End => "ending",
            Live::Hold => "held",
            Live::Resume => "resumed",
            Live::Transfer(_) => "transferred",
            Live::Consult(ConsultAction::Start(_)) => "consulting",
            Live::Consult(ConsultAction::End) => "consult_ending",
            Live::Consult(ConsultAction::Transfer) => "transferring",
            Live::Consult(ConsultAction::Conference) => "conferencing",
            Live::Consult(ConsultAction::Leave) => "leaving",
            Live::Consult(ConsultAction::Drop(_)) => "dropping",
        }
    }
}

/// Runs a live command on a connected call: an agent on its own call, a supervisor on its
/// teams' calls, an admin on any. A refusal is a 4xx and an
/// `interaction.<command>.failed` event; success events come from the core as it acts.
pub(super) async fn live(
    state: &ApiState,
    principal: &Principal,
    id: String,
    command: Live,
) -> Result<Json<Done>, ApiError> {
    let name = format!("interaction.{}", command.name());
    let result = run_live(state, principal, &id, command).await;
    reported(
        state,
        principal,
        &name,
        Concerning::Interaction(&id),
        result,
    )
    .await
}

async fn run_live(
    state: &ApiState,
    principal: &Principal,
    id: &str,
    command: Live,
) -> Result<Json<Done>, ApiError> {
    let interaction = InteractionId(id.to_owned());
    let only = principal.own_agent_if_agent()?;
    // Supervisors act on calls of their teams' agents; the stored record tells whose.
    if principal.role == Role::Supervisor {
        super::interactions::visible(state, principal, id).await?;
    }
    let core = state.core()?;
    match command.clone() {
        Live::Transfer(target) => core.transfer(interaction, only, target).await?,
        Live::End => core.end(interaction, only).await?,
        Live::Hold => core.hold(interaction, only, true).await?,
        Live::Resume => core.hold(interaction, only, false).await?,
        Live::Consult(action) => core.consult(interaction, only, action).await?,
    }?;
    Ok(Json(Done {
        interaction: id.to_owned(),
        status: command.done(),
    }))
}

/// A waiting caller's position (supervisors and admins; agents see queue stats events).
#[utoipa::path(get, path = "/api/v1/interactions/{id}/position", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Position), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn position(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Position>, ApiError> {
    principal.require(Role::Supervisor)?;
    let found = state
        .core()?
        .position(InteractionId(id.clone()))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(Position {
        interaction: id,
        queue: found.queue.0,
        position: found.position,
        expected_wait_secs: found.expected_wait.as_secs(),
    }))
}
