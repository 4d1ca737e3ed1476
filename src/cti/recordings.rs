//! Recording control and retrieval:
//! - `POST /api/v1/interactions/{id}/recording/pause` `{"behavior": "silence"|"skip",
//!   "reason": "..."}`: the agent pauses (silence keeps the timeline, the default); with Data
//!   Shield on, the recording resumes by itself after the org's `data_shield_pause_seconds`
//!   (`recording.resumed` with `autoResumed: true`);
//! - `POST /api/v1/interactions/{id}/recording/resume`;
//! - `PUT /api/v1/interactions/{id}/noise-suppression` `{"enabled": false}`: a supervisor or
//!   admin turns noise suppression off (or on) for this one live call, e.g. so the agent can
//!   hear the customer's faulty machine (Webex only offers the org-wide switch);
//! - `GET /api/v1/recordings` and `GET /api/v1/recordings/{interaction}`: supervisors (their
//!   teams' calls) and admins list and download recordings; downloads honour one HTTP
//!   `Range` (206), so a player can seek. Agents may only when the org setting
//!   `agents_may_download_recordings` says so, and only their own.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::agent_session::actor;
use super::auth::Principal;
use super::command_events::{Concerning, reported};
use super::error::ApiError;
use super::json::ApiJson;
use super::params::{ApiPath, QueryParams};
use crate::center::RecordingAction;
use crate::media::recorder::PauseBehavior;
use crate::routing::model::{InteractionId, Role};
use crate::store::RecordingRow;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/interactions/{id}/recording/pause", post(pause))
        .route("/api/v1/interactions/{id}/recording/resume", post(resume))
        .route("/api/v1/interactions/{id}/noise-suppression", put(noise))
        .route("/api/v1/recordings", get(list))
        .route("/api/v1/recordings/{id}", get(download))
}

/// Pausing a recording.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseBody {
    /// `silence` (default: the file keeps its length) or `skip`.
    #[serde(default)]
    pub behavior: Option<String>,
    /// Why, for the sidecar (never the card number itself).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Turning noise suppression on or off for one call.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoiseBody {
    /// Whether the customer's audio is cleaned.
    pub enabled: bool,
}

/// A recording command's outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordingDone {
    /// The interaction.
    pub interaction: String,
    /// `paused`, `resumed`, `noise_suppression_on` or `noise_suppression_off`.
    pub status: &'static str,
}

async fn run(
    state: &ApiState,
    principal: &Principal,
    id: String,
    action: RecordingAction,
    status: &'static str,
) -> Result<Json<RecordingDone>, ApiError> {
    let only = principal.own_agent_if_agent()?;
    if principal.role == Role::Supervisor {
        super::interactions::visible(state, principal, &id).await?;
    }
    match state
        .core()?
        .recording(InteractionId(id.clone()), only, action)
        .await?
    {
        Ok(()) => Ok(Json(RecordingDone {
            interaction: id,
            status,
        })),
        Err(refused) => Err(refused.into()),
    }
}

/// Pauses the recording of the caller's connected interaction.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/recording/pause", tag = "recordings",
    params(("id" = String, Path)), request_body = PauseBody,
    responses((status = 200, body = RecordingDone), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn pause(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PauseBody>,
) -> Result<Json<RecordingDone>, ApiError> {
    let result = async {
        let behavior = match body.behavior.as_deref() {
            None | Some("silence") => PauseBehavior::Silence,
            Some("skip") => PauseBehavior::Skip,
            Some(_) => {
                return Err::<Json<RecordingDone>, _>(ApiError::field(
                    "behavior",
                    "must be silence or skip",
                ));
            }
        };
        if body
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 256)
        {
            return Err::<Json<RecordingDone>, _>(ApiError::field(
                "reason",
                "at most 256 characters",
            ));
        }
        let who = actor(&principal).label();
        let action = RecordingAction::Pause {
            behavior,
            who,
            why: body.reason,
        };
        run(&state, &principal, id.clone(), action, "paused").await
    }
    .await;
    let about = Concerning::Interaction(&id);
    reported(&state, &principal, "recording.pause", about, result).await
}

/// Resumes a paused recording.
#[utoipa::path(post, path = "/api/v1/interactions/{id}/recording/resume", tag = "recordings",
    params(("id" = String, Path)),
    responses((status = 200, body = RecordingDone), (status = 409)), security(("bearer" = [])))]
pub(super) async fn resume(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RecordingDone>, ApiError> {
    let who = principal
        .agent
        .as_ref()
        .map_or_else(|| principal.token_id.clone(), |a| a.0.clone());
    let action = RecordingAction::Resume { who };
    let result = run(&state, &principal, id.clone(), action, "resumed").await;
    let about = Concerning::Interaction(&id);
    reported(&state, &principal, "recording.resume", about, result).await
}

/// Turns noise suppression of one live call on or off (supervisors and admins; agents on
/// their own call when the org allows it).
#[utoipa::path(put, path = "/api/v1/interactions/{id}/noise-suppression", tag = "recordings",
    params(("id" = String, Path)), request_body = NoiseBody,
    responses((status = 200, body = RecordingDone), (status = 403), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn noise(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NoiseBody>,
) -> Result<Json<RecordingDone>, ApiError> {
    let result = async {
        let only = principal.own_agent_if_agent()?;
        if principal.role == Role::Agent
            && !state
                .store
                .get_settings()
                .await?
                .agents_may_toggle_noise_suppression
        {
            return Err::<Json<RecordingDone>, _>(ApiError::Forbidden);
        }
        if principal.role == Role::Supervisor {
            super::interactions::visible(&state, &principal, &id).await?;
        }
        match state
            .core()?
            .denoise(
                InteractionId(id.clone()),
                only,
                body.enabled,
                actor(&principal),
            )
            .await?
        {
            Ok(()) => Ok(Json(RecordingDone {
                interaction: id.clone(),
                status: if body.enabled {
                    "noise_suppression_on"
                } else {
                    "noise_suppression_off"
                },
            })),
            Err(refused) => Err(refused.into()),
        }
    }
    .await;
    let about = Concerning::Interaction(&id);
    reported(
        &state,
        &principal,
        "interaction.noise_suppression",
        about,
        result,
    )
    .await
}

/// The latest recordings (supervisors and admins).
#[utoipa::path(get, path = "/api/v1/recordings", tag = "recordings",
    params(("limit" = Option<u32>, Query)),
    responses((status = 200, body = Vec<RecordingRow>), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    params: QueryParams,
) -> Result<Json<Vec<RecordingRow>>, ApiError> {
    may_download(&state, &principal).await?;
    let params = params.only(&["limit"])?;
    let limit = match params.u64("limit")? {
        None => 50,
        Some(n @ 1..=500) => n as u32,
        Some(_) => return Err(ApiError::out_of_range("limit", "must be 1 to 500")),
    };
    let mut rows = state.store.list_recordings(limit).await?;
    if principal.role != Role::Admin {
        let mut visible = Vec::with_capacity(rows.len());
        for row in rows {
            if super::interactions::visible(&state, &principal, row.interaction.as_str())
                .await
                .is_ok()
            {
                visible.push(row);
            }
        }
        rows = visible;
    }
    Ok(Json(rows))
}

/// Downloads a recording's WAV (supervisors of the team and admins), with `Range` support.
#[utoipa::path(get, path = "/api/v1/recordings/{id}", tag = "recordings",
    params(("id" = String, Path)),
    responses((status = 200, description = "audio/wav"), (status = 206, description = "a byte range"),
        (status = 403), (status = 404), (status = 416)),
    security(("bearer" = [])))]
pub(super) async fn download(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    may_download(&state, &principal).await?;
    super::interactions::visible(&state, &principal, &id).await?;
    let row = state
        .store
        .get_recording(&InteractionId(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let bytes = tokio::fs::read(&row.path)
        .await
        .map_err(|_| ApiError::NotFound)?;
    let total = bytes.len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, total));
    let (status, body, content_range) = match range {
        None => (StatusCode::OK, bytes, None),
        Some(Some((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            bytes[start..=end].to_vec(),
            Some(format!("bytes {start}-{end}/{total}")),
        ),
        Some(None) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(response);
        }
    };
    let mut response = (status, Body::from(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(v) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// Supervisors and admins may; agents only when the org allows it (their own calls).
async fn may_download(state: &ApiState, principal: &Principal) -> Result<(), ApiError> {
    if principal.role == Role::Agent
        && !state
            .store
            .get_settings()
            .await?
            .agents_may_download_recordings
    {
        return Err(ApiError::Forbidden);
    }
    Ok(())
}

/// One `bytes=` range (RFC 9110 §14.1.2) as inclusive offsets; `None` when unsatisfiable or
/// not understood (several ranges are not served: the caller asks again).
fn parse_range(value: &str, total: usize) -> Option<(usize, usize)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: usize = suffix.parse().ok()?;
            (total.saturating_sub(n), total - 1)
        }
        (start, "") => (start.parse().ok()?, total - 1),
        (start, end) => (
            start.parse().ok()?,
            end.parse::<usize>().ok()?.min(total - 1),
        ),
    };
    (start <= end && start < total).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn byte_ranges_are_parsed_and_clamped() {
        assert_eq!(parse_range("bytes=0-43", 1000), Some((0, 43)));
        assert_eq!(parse_range("bytes=990-", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=-10", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=900-5000", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }
}
