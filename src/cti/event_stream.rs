//! `GET /api/v1/events`: the desktop's event stream, as a WebSocket when the request asks
//! for an upgrade, else as Server-Sent Events.
//!
//! Each message is one event's JSON: `{"seq", "type", "at", "data"}`, limited to what the
//! caller may see (see [`crate::bus::events::Audience`]). `?since=SEQ` (or SSE's standard
//! `Last-Event-ID` header) resumes after the last event the desktop saw, with nothing lost
//! or repeated. Browsers cannot put headers on a WebSocket request, so the bearer token may
//! also come as `?token=...`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::params::QueryParams;
use crate::bus::events::{Follower, Viewer};

/// How often an idle stream sends a keep-alive (proxies drop silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/events", get(stream))
}

/// The event stream (WebSocket or SSE).
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("since" = Option<u64>, Query, description = "resume after this sequence number"),
        ("token" = Option<String>, Query, description = "bearer token, for browsers' WebSocket")),
    responses((status = 101, description = "WebSocket of event JSON"),
        (status = 200, description = "text/event-stream of event JSON"), (status = 401)),
    security(("bearer" = [])))]
pub(super) async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: QueryParams,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let params = params.only(&["since", "token"])?;
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let token = bearer
        .or_else(|| params.get("token").map(str::to_owned))
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let principal = Principal::from_token(&state, &token).await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let since = params.u64("since")?.or(last_event_id);
    let viewer = Viewer {
        agent: principal
            .agent
            .clone()
            .unwrap_or_else(|| principal.token_id.as_str().into()),
        role: principal.role,
        teams: principal.teams.clone(),
    };
    let follower = Follower::new(&state.bus, viewer, since);
    Ok(match upgrade {
        Ok(ws) => ws.on_upgrade(move |socket| websocket(socket, follower)),
        Err(_) => sse(follower).into_response(),
    })
}

async fn websocket(mut socket: WebSocket, mut follower: Follower) {
    loop {
        tokio::select! {
            next = follower.next() => {
                let Some((_, json)) = next else { break };
                if socket.send(Message::Text(json.as_ref().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                // Desktops only listen; pings are answered by axum, anything else is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

fn sse(follower: Follower) -> impl IntoResponse {
    let events = futures_util::stream::unfold(follower, |mut follower| async move {
        let (seq, json) = follower.next().await?;
        let event = Event::default().id(seq.to_string()).data(json.as_ref());
        Some((Ok::<_, Infallible>(event), follower))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
