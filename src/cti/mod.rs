//! CTI REST API: the HTTP interface agent desktops and wallboards use, built with axum.
//!
//! [`app`] returns the whole [`Router`]; the runtime serves it, and tests call
//! `app(state).oneshot(request)` without a server. One file per resource; every error,
//! including unknown routes and methods, answers with the JSON of [`ApiError`].
//!
//! # Authentication and roles
//! Every route except `GET /api/v1/health`, `GET /api/v1/openapi.json` and
//! `POST /api/v1/sessions` needs `Authorization: Bearer <token>` (401 otherwise). Tokens come
//! from a password login (`sessions`) or are minted by an admin (`tokens`). Roles are ordered
//! agent < supervisor < admin; each handler states the least role it needs (403 otherwise)
//! and scopes interactions: an agent sees its own, a supervisor its teams' agents', an admin
//! all. See [`auth`].

mod agent_session;
mod agent_states;
mod agents;
pub mod auth;
mod cad;
mod callbacks;
mod cdrs;
mod command_events;
mod consult_control;
mod dial_number;
mod dids;
mod directory;
mod dispositions;
mod error;
mod event_stream;
mod extensions;
mod idle_reasons;
mod interaction_control;
mod interactions;
mod json;
mod limiter;
mod login_blocks;
pub mod login_guard;
pub mod openapi;
mod outbound_routes;
mod outdial;
mod params;
mod queues;
mod recordings;
#[cfg(test)]
mod security_tests;
mod sessions;
mod settings;
mod sip_blocks;
mod skills;
mod status;
mod teams;
#[cfg(test)]
pub(crate) mod test_support;
mod tickets;
mod tokens;
mod trunks;
mod validate;

pub use auth::Principal;
pub use error::ApiError;
pub use json::ApiJson;
pub use limiter::RateLimiter;
pub use login_guard::{LoginGuard, LoginPolicy};
pub use params::{ApiPath, Params, QueryParams, parse_timestamp};

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::bus::events::EventBus;
use crate::bus::requests::CoreHandle;
use crate::store::Store;

/// Login attempts allowed at once per client address ...
pub const LOGIN_BURST: u32 = 5;
/// ... and how often one more is allowed after that.
pub const LOGIN_REFILL: Duration = Duration::from_secs(12);

/// Largest request body accepted by any route.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share. Cheap to clone: every field is a handle. New handles (the ACD's
/// command channel) are added as fields here and set by [`ApiState::new`] or a builder
/// method, so handlers do not change.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// Brakes password guessing on `POST /api/v1/sessions` (per client address).
    pub login_limiter: Arc<RateLimiter>,
    /// Locks an address out of an agent, then bans it, after repeated failed logins.
    pub login_guard: Arc<LoginGuard>,
    /// Single-use tickets for opening the event stream.
    pub tickets: Arc<tickets::TicketBook>,
    /// The switch core (ACD and calls); `None` when the API runs without one (route tests),
    /// where live commands answer 503.
    pub core: Option<CoreHandle>,
    /// Events for desktops.
    pub bus: EventBus,
    /// The SIP realm (the profile's domain) extension passwords are hashed for; `None` where
    /// the API runs without a switch profile, and extensions cannot be written then.
    pub sip_realm: Option<String>,
    /// The profile's trunks and `[dialing]`: stored trunks, DIDs and routes are checked
    /// against them and may not replace them (empty where the API runs without a profile).
    pub profile_trunks: Arc<crate::config::ProfileTrunks>,
    /// Held across a trunk, DID or route write, from its check to the switch using it, so
    /// two writes never pass their checks against the same state.
    pub trunk_writes: Arc<tokio::sync::Mutex<()>>,
    /// Brakes on the public callback endpoint (per client address, per number).
    pub callback_limits: Arc<callbacks::CallbackLimits>,
}

impl ApiState {
    /// State over `store`, with the default login rate limit.
    #[must_use]
    pub fn new(store: Store) -> ApiState {
        ApiState {
            store,
            login_limiter: Arc::new(RateLimiter::new(LOGIN_BURST, LOGIN_REFILL)),
            login_guard: Arc::new(LoginGuard::default()),
            tickets: Arc::new(tickets::TicketBook::default()),
            core: None,
            bus: EventBus::new(),
            sip_realm: None,
            profile_trunks: Arc::default(),
            trunk_writes: Arc::default(),
            callback_limits: Arc::default(),
        }
    }

    /// The same state checking stored trunks against the profile's `trunks`.
    #[must_use]
    pub fn with_profile_trunks(mut self, trunks: crate::config::ProfileTrunks) -> ApiState {
        self.profile_trunks = Arc::new(trunks);
        self
    }

    /// The same state hashing extension passwords for `realm` (the profile's SIP domain).
    #[must_use]
    pub fn with_sip_realm(mut self, realm: impl Into<String>) -> ApiState {
        self.sip_realm = Some(realm.into());
        self
    }

    /// The same state driving a live core and publishing on `bus`.
    #[must_use]
    pub fn with_core(mut self, core: CoreHandle, bus: EventBus) -> ApiState {
        self.core = Some(core);
        self.bus = bus;
        self
    }

    /// The same state with these login brakes (the profile's `[cti.login]`).
    #[must_use]
    pub fn with_login_protection(mut self, limiter: RateLimiter, guard: LoginGuard) -> ApiState {
        self.login_limiter = Arc::new(limiter);
        self.login_guard = Arc::new(guard);
        self
    }

    /// The core, or 503 when there is none.
    pub fn core(&self) -> Result<&CoreHandle, ApiError> {
        self.core.as_ref().ok_or(ApiError::CoreUnavailable)
    }

    /// Applies a configuration change to the live ACD; a refusal (a queue that still holds
    /// callers, an agent on a call) is a 409. Without a core there is nothing to change.
    pub(crate) async fn reconfigure(
        &self,
        command: crate::routing::Command,
    ) -> Result<(), ApiError> {
        let Some(core) = &self.core else {
            return Ok(());
        };
        match core.acd(command).await? {
            Ok(()) => Ok(()),
            Err(refusal) => Err(ApiError::conflict(refusal.to_string(), None)),
        }
    }
}

/// The CTI API:
/// - `GET /api/v1/health`: `{"status":"ok"}` while the process serves requests (open);
/// - `GET /api/v1/openapi.json`: the OpenAPI document (open);
/// - `POST /api/v1/sessions`, `DELETE /api/v1/sessions/current`: log in and out;
/// - `/api/v1/tokens`: API tokens (admin);
/// - `/api/v1/login-blocks`: login lockouts and bans in force, and lifting them (admin);
/// - `/api/v1/sip-blocks`: SIP digest-guessing bans and backoffs, and lifting them (admin);
/// - `/api/v1/trunks`, `/api/v1/dids`, `/api/v1/routes`: trunks with their registrations,
///   DIDs and outbound routes, the profile's and those kept in the database (admin writes,
///   supervisors read);
/// - `/api/v1/extensions`: SIP extensions, kept as digest hashes (admin);
/// - `GET /api/v1/events`, `POST /api/v1/events/tickets`: the event stream and its tickets;
/// - `/api/v1/{agents,teams,queues,skills,dispositions,idle-reasons}` and
///   `/api/v1/settings`: configuration (admin writes, supervisors read);
/// - `GET /api/v1/directory/{agents,queues}`: the consult and transfer picker (any role);
/// - `/api/v1/callback-widgets`, `/api/v1/callbacks`: web callback forms (admin) and the
///   callbacks they filed (supervisor); `/api/v1/public/callbacks`: the forms' own endpoint,
///   open but for the widget's key (see `callbacks`);
/// - `/api/v1/interactions`: history search, notes, wrap-up and CAD (scoped by role);
/// - `GET /api/v1/cdrs`: call detail records (supervisor; see the `cdrs` module).
pub fn app(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .merge(cdrs::routes())
        .merge(sessions::routes())
        .merge(tokens::routes())
        .merge(login_blocks::routes())
        .merge(sip_blocks::routes())
        .merge(status::routes())
        .merge(trunks::routes())
        .merge(dids::routes())
        .merge(outbound_routes::routes())
        .merge(extensions::routes())
        .merge(tickets::routes())
        .merge(agents::routes())
        .merge(agent_states::routes())
        .merge(directory::routes())
        .merge(agent_session::routes())
        .merge(interaction_control::routes())
        .merge(consult_control::routes())
        .merge(outdial::routes())
        .merge(callbacks::routes())
        .merge(event_stream::routes())
        .merge(recordings::routes())
        .merge(teams::routes())
        .merge(queues::routes())
        .merge(skills::routes())
        .merge(dispositions::routes())
        .merge(idle_reasons::routes())
        .merge(settings::routes())
        .merge(interactions::routes())
        .merge(cad::routes())
        .merge(openapi::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Liveness (open).
#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses((status = 200, description = "{\"status\": \"ok\"}")))]
pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn send(request: Request<Body>) -> (StatusCode, Value) {
        let db = TempDb::new().await;
        let response = app(ApiState::new(db.store.clone()))
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn health_says_ok() {
        let request = Request::get("/api/v1/health").body(Body::empty()).unwrap();
        assert_eq!(
            send(request).await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
    }

    #[tokio::test]
    async fn unknown_routes_are_json_404s() {
        let request = Request::get("/api/v1/nope").body(Body::empty()).unwrap();
        let (status, json) = send(request).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(json["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn wrong_methods_are_json_405s() {
        let request = Request::delete("/api/v1/cdrs").body(Body::empty()).unwrap();
        let (status, json) = send(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(json["error"]["code"], "method_not_allowed");
    }
}
