//! `GET /api/v1/events`: the desktop's event stream, as a WebSocket when the request asks
//! for an upgrade, else as Server-Sent Events.
//!
//! Each message is one event's JSON: `{"seq", "type", "at", "data"}`, limited to what the
//! caller may see (see [`crate::bus::events::Audience`]). `?since=SEQ` (or SSE's standard
//! `Last-Event-ID` header) resumes after the last event the desktop saw, with nothing lost
//! or repeated. Browsers cannot put headers on a WebSocket request, so they authenticate
//! with a single-use `?ticket=` (see `tickets`) instead of the bearer header; a long-lived
//! token is never accepted in the URL.
//!
//! A stream lives only as long as its token: it is re-checked at once when any token is
//! revoked (password change, demotion, disabling, deletion, logout) and every
//! [`RECHECK_EVERY`] otherwise, and at its expiry. Then the stream sends
//! `{"type": "session.ended", "data": {"reason": "revoked" | "expired"}}` and closes (a
//! WebSocket with close code 1008).

use std::convert::Infallible;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
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
use crate::clock;
use crate::store::UnixMillis;

/// How often an idle stream sends a keep-alive (proxies drop silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often an open stream re-checks its token without being told of a revocation (one
/// made by another switch on the same database, or straight in the database).
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/events", get(stream))
}

/// The event stream (WebSocket or SSE).
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("since" = Option<u64>, Query, description = "resume after this sequence number"),
        ("ticket" = Option<String>, Query,
            description = "single-use ticket from POST /api/v1/events/tickets, for browsers' WebSocket")),
    responses((status = 101, description = "WebSocket of event JSON"),
        (status = 200, description = "text/event-stream of event JSON"), (status = 401)),
    security(("bearer" = [])))]
pub(super) async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: QueryParams,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let params = params.only(&["since", "ticket"])?;
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    let principal = match (bearer, params.get("ticket")) {
        (Some(token), _) => Principal::from_token(&state, &token).await?,
        (None, Some(ticket)) => {
            let token_id = state
                .tickets
                .redeem(ticket, clock::now())
                .ok_or(ApiError::Unauthorized)?;
            Principal::from_token_id(&state, &token_id).await?
        }
        (None, None) => return Err(ApiError::Unauthorized),
    };
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
    let session = SessionWatch {
        revocations: state.store.token_revocations(),
        state,
        token_id: principal.token_id,
        expires_ms: principal.expires_ms,
    };
    Ok(match upgrade {
        Ok(ws) => ws.on_upgrade(move |socket| websocket(socket, follower, session)),
        Err(_) => sse(follower, session).into_response(),
    })
}

/// Why a stream's session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionEnd {
    Revoked,
    Expired,
}

impl SessionEnd {
    fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Revoked => "revoked",
            SessionEnd::Expired => "expired",
        }
    }

    /// The last message of a stream whose session ended.
    fn message(self, seq: u64) -> String {
        serde_json::json!({"seq": seq, "type": "session.ended", "data": {"reason": self.as_str()}})
            .to_string()
    }
}

/// Watches the token a stream was opened with.
struct SessionWatch {
    state: ApiState,
    token_id: String,
    expires_ms: UnixMillis,
    revocations: tokio::sync::watch::Receiver<u64>,
}

impl SessionWatch {
    /// Resolves when the token stops working: revoked (or its agent disabled or deleted) or
    /// expired. Keep one future for the stream's life: re-creating it restarts the wait.
    async fn ended(mut self) -> SessionEnd {
        loop {
            let left = self.expires_ms.0.saturating_sub(clock::unix_ms()).max(0);
            let wait = Duration::from_millis(left.unsigned_abs()).min(RECHECK_EVERY);
            tokio::select! {
                changed = self.revocations.changed() => {
                    if changed.is_err() {
                        // The store is gone (shutdown); the periodic check still runs.
                        self.revocations = tokio::sync::watch::channel(0).1;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
            match Principal::from_token_id(&self.state, &self.token_id).await {
                Ok(principal) => self.expires_ms = principal.expires_ms,
                Err(ApiError::Unauthorized) if clock::unix_ms() >= self.expires_ms.0 => {
                    return SessionEnd::Expired;
                }
                Err(ApiError::Unauthorized) => return SessionEnd::Revoked,
                // The database did not answer: keep the stream and ask again later rather
                // than drop every desktop on a hiccup.
                Err(error) => tracing::warn!(%error, "could not re-check an event stream's token"),
            }
        }
    }
}

async fn websocket(mut socket: WebSocket, mut follower: Follower, session: SessionWatch) {
    let mut ended = pin!(session.ended());
    loop {
        tokio::select! {
            end = &mut ended => {
                let last = end.message(follower.last_seq());
                let _ = socket.send(Message::Text(last.into())).await;
                let close = CloseFrame {
                    code: close_code::POLICY,
                    reason: format!("session {}", end.as_str()).into(),
                };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
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

/// Server-Sent Events: a task follows the bus and the session and feeds the response body;
/// it stops when the client goes away (the body, and so the receiver, is dropped).
fn sse(mut follower: Follower, session: SessionWatch) -> impl IntoResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let mut ended = pin!(session.ended());
        loop {
            let event = tokio::select! {
                () = tx.closed() => break,
                end = &mut ended => {
                    let last = end.message(follower.last_seq());
                    let _ = tx.send(Event::default().data(last)).await;
                    break;
                }
                next = follower.next() => match next {
                    Some((seq, json)) => Event::default().id(seq.to_string()).data(json.as_ref()),
                    None => break,
                },
            };
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        Some((Ok::<_, Infallible>(event), rx))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
