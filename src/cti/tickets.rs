//! `POST /api/v1/events/tickets`: a short-lived, single-use ticket for opening the event
//! stream from a browser.
//!
//! Browsers cannot put an `Authorization` header on a WebSocket request, and a bearer token in
//! a URL ends up in proxy logs, browser history and `Referer` headers for its whole 12-hour
//! life. So a desktop trades its token (in the header, as usual) for a ticket and opens
//! `ws://.../api/v1/events?ticket=...` with it: the ticket works once, within
//! [`TICKET_TTL`], and only stands for the token it was made from (the stream re-checks that
//! token for as long as it stays open).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use crate::clock;
use crate::store::passwords::random_bytes;

/// How long a ticket may wait to be used.
pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// Most tickets outstanding at once; a desktop needs one per (re)connection.
const MAX_TICKETS: usize = 10_000;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/events/tickets", post(issue))
}

/// A ticket for the event stream.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketResponse {
    /// Pass as `?ticket=` to `GET /api/v1/events`; works once.
    pub ticket: String,
    /// Seconds left to use it.
    pub expires_in: u64,
}

/// Tickets not used yet: ticket -> (token id, deadline). In memory: a ticket lives for
/// seconds and is redeemed on the switch that issued it.
#[derive(Debug, Default)]
pub struct TicketBook {
    tickets: Mutex<HashMap<String, (String, Instant)>>,
}

impl TicketBook {
    /// A new ticket for `token_id`, or `None` when too many are outstanding.
    pub fn issue(&self, token_id: &str, now: Instant) -> Option<String> {
        let mut tickets = self.lock();
        if tickets.len() >= MAX_TICKETS {
            tickets.retain(|_, (_, deadline)| *deadline > now);
            if tickets.len() >= MAX_TICKETS {
                return None;
            }
        }
        let ticket = format!("tk_{}", hex::encode(random_bytes::<32>()));
        tickets.insert(ticket.clone(), (token_id.to_owned(), now + TICKET_TTL));
        Some(ticket)
    }

    /// The token id `ticket` stands for, if it is known and in time; it never works again.
    pub fn redeem(&self, ticket: &str, now: Instant) -> Option<String> {
        let (token_id, deadline) = self.lock().remove(ticket)?;
        (now < deadline).then_some(token_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.tickets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Issues a ticket for the token this request carries (any role).
#[utoipa::path(post, path = "/api/v1/events/tickets", tag = "events",
    responses((status = 201, body = TicketResponse), (status = 401), (status = 429)),
    security(("bearer" = [])))]
pub(super) async fn issue(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<(StatusCode, Json<TicketResponse>), ApiError> {
    let ticket = state
        .tickets
        .issue(&principal.token_id, clock::now())
        .ok_or(ApiError::TooManyRequests {
            retry_after_secs: TICKET_TTL.as_secs(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(TicketResponse {
            ticket,
            expires_in: TICKET_TTL.as_secs(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_works_once_and_only_in_time() {
        let book = TicketBook::default();
        let t0 = clock::now();
        let ticket = book.issue("tok-1", t0).unwrap();
        assert!(ticket.starts_with("tk_") && ticket.len() == 67, "{ticket}");
        assert_eq!(book.redeem(&ticket, t0), Some("tok-1".to_owned()));
        assert_eq!(book.redeem(&ticket, t0), None, "single use");

        let late = book.issue("tok-1", t0).unwrap();
        assert_eq!(book.redeem(&late, t0 + TICKET_TTL), None, "expired");
        assert_eq!(book.redeem("tk_guess", t0), None);
        assert_ne!(book.issue("tok-1", t0), book.issue("tok-1", t0));
    }
}
