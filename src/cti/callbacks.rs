//! Web callbacks (issue 15 item 4): a website's "call me back" form files a callback into a
//! queue; when an agent is free it is offered on the desktop like a call (the pop-up has the
//! customer's number as `ani`, the queue, the DNIS and the CAD, with `"callback": true`),
//! and accepting it (`POST /api/v1/interactions/{id}/accept`) rings the agent's phone, then
//! dials the customer. Declining it puts it back at the head of its queue for another agent.
//!
//! Widgets (admin): `POST /api/v1/callback-widgets {"id","name","queue"}` answers 201 with the
//! widget and its `key`, shown this once; `GET` lists them (supervisor), `DELETE .../{id}`
//! removes one (its callbacks stay).
//!
//! The public side, for the website, authenticated by the widget's key in `X-Widget-Key`
//! (never an agent's token: the page is public), rate-limited per client address and per
//! number (429 with `Retry-After`):
//! - `POST /api/v1/public/callbacks {"number", "at_ms"?, "cad"?}` → 201 `{"id", "status",
//!   "position", "expected_wait_secs"}` (`status` `queued`, or `scheduled` for a later
//!   `at_ms`, at most 7 days ahead). The number must be one the dial plan's default calling
//!   class may dial and a route reaches (422 naming `number` otherwise): a public form must
//!   not make us call premium or foreign numbers;
//! - `GET /api/v1/public/callbacks/{id}`: where it stands (its widget's callbacks only);
//! - `DELETE /api/v1/public/callbacks/{id}`: the customer cancels it.
//!
//! Supervisors: `GET /api/v1/callbacks?status=pending&limit=50` and
//! `POST /api/v1/callbacks/{id}/cancel`. Retries (`callback_retry_seconds`,
//! `callback_max_attempts`) are org settings.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::dial_number::normalise;
use super::error::ApiError;
use super::json::ApiJson;
use super::limiter::RateLimiter;
use super::outdial::cad;
use super::params::{ApiPath, QueryParams};
use super::validate;
use crate::bus::requests::{CallbackAsk, CallbackRefused};
use crate::clock::{self, UnixMillis};
use crate::routing::RoutingError;
use crate::routing::model::{InteractionId, QueueId, Role};
use crate::store::{Callback, CallbackStatus, CallbackWidget};

/// The header a widget's key travels in.
pub const WIDGET_KEY_HEADER: &str = "x-widget-key";
/// Furthest ahead a callback may be scheduled.
const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest key a request may present (longer ones are not looked up).
const MAX_KEY_BYTES: usize = 128;

/// The public endpoint's brakes. Filing: a burst of 10 then one every 6 s per client
/// address, and 3 per number, then one every 20 minutes (a customer who asks three times has
/// been heard). Reading and cancelling, which a page may poll: a burst of 60 then one a
/// second per address. Requests with a bad key use up the address's allowance too, so
/// guessing keys is as slow as filing.
#[derive(Debug)]
pub struct CallbackLimits {
    per_address: RateLimiter,
    per_number: RateLimiter,
    reads: RateLimiter,
}

impl Default for CallbackLimits {
    fn default() -> Self {
        CallbackLimits::new(10, Duration::from_secs(6), 3, Duration::from_secs(1200))
    }
}

impl CallbackLimits {
    /// `address_burst` filings at once from one address, then one every `address_refill`;
    /// likewise per number.
    #[must_use]
    pub fn new(
        address_burst: u32,
        address_refill: Duration,
        number_burst: u32,
        number_refill: Duration,
    ) -> CallbackLimits {
        CallbackLimits {
            per_address: RateLimiter::new(address_burst, address_refill),
            per_number: RateLimiter::new(number_burst, number_refill),
            reads: RateLimiter::new(60, Duration::from_secs(1)),
        }
    }
}

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/callback-widgets",
            get(list_widgets).post(create_widget),
        )
        .route("/api/v1/callback-widgets/{id}", delete(remove_widget))
        .route("/api/v1/public/callbacks", post(file))
        .route(
            "/api/v1/public/callbacks/{id}",
            get(public_read).delete(public_cancel),
        )
        .route("/api/v1/callbacks", get(list))
        .route("/api/v1/callbacks/{id}/cancel", post(supervisor_cancel))
}

/// A widget to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetBody {
    /// The widget's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The queue its callbacks wait in.
    pub queue: String,
}

/// A new widget and its key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WidgetCreated {
    /// The widget.
    pub widget: CallbackWidget,
    /// Its key, for the website's `X-Widget-Key` header; shown only now.
    pub key: String,
}

/// Creates a widget (admin).
#[utoipa::path(post, path = "/api/v1/callback-widgets", tag = "admin", request_body = WidgetBody,
    responses((status = 201, body = WidgetCreated), (status = 403), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create_widget(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<WidgetBody>,
) -> Result<(StatusCode, Json<WidgetCreated>), ApiError> {
    principal.require(Role::Admin)?;
    validate::id("id", &body.id)?;
    validate::name("name", &body.name)?;
    validate::id("queue", &body.queue)?;
    let queue = QueueId(body.queue);
    if state.store.get_queue(&queue).await?.is_none() {
        return Err(ApiError::field("queue", "no such queue"));
    }
    let (key, widget) = state
        .store
        .create_callback_widget(&body.id, &body.name, &queue, UnixMillis(clock::unix_ms()))
        .await?;
    Ok((StatusCode::CREATED, Json(WidgetCreated { widget, key })))
}

/// Every widget (supervisor); keys are never shown again.
#[utoipa::path(get, path = "/api/v1/callback-widgets", tag = "admin",
    responses((status = 200, body = [CallbackWidget]), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list_widgets(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<CallbackWidget>>, ApiError> {
    principal.require(Role::Supervisor)?;
    Ok(Json(state.store.list_callback_widgets().await?))
}

/// Removes a widget (admin); its key stops working at once.
#[utoipa::path(delete, path = "/api/v1/callback-widgets/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn remove_widget(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if state.store.delete_callback_widget(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// A customer's request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackBody {
    /// The number to call back (formatting characters are stripped).
    pub number: String,
    /// Not before then (epoch milliseconds); default: as soon as an agent is free.
    #[serde(default)]
    pub at_ms: Option<i64>,
    /// What the form collected, key to value (shown on the agent's pop-up).
    #[serde(default)]
    pub cad: BTreeMap<String, String>,
}

/// Where a callback stands, for the website.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallbackState {
    /// The callback's id (its interaction's).
    pub id: String,
    /// `queued`, `scheduled`, `offered`, `connected`, `ended`, ... (the interaction's state).
    pub status: String,
    /// `pending`, `connected`, `failed` or `cancelled`.
    pub outcome: CallbackStatus,
    /// Its place in the queue (1 is next), while it waits there.
    pub position: Option<usize>,
    /// The estimated wait, while it waits in the queue.
    pub expected_wait_secs: Option<u64>,
    /// Attempts made.
    pub attempts: u32,
}

/// The widget behind the request's key; 401 without a valid one.
async fn widget(state: &ApiState, headers: &HeaderMap) -> Result<CallbackWidget, ApiError> {
    let key = headers
        .get(WIDGET_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_BYTES)
        .ok_or(ApiError::Unauthorized)?;
    state
        .store
        .find_callback_widget(key)
        .await?
        .ok_or(ApiError::Unauthorized)
}

fn client_address(extensions: &Extensions) -> IpAddr {
    // Without a connection (route tests) every request shares one made-up address.
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
            addr.ip().to_canonical()
        })
}

fn limited(limiter: &RateLimiter, key: String) -> Result<(), ApiError> {
    limiter
        .check(&[key])
        .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })
}

/// Files a callback (public, with a widget key).
#[utoipa::path(post, path = "/api/v1/public/callbacks", tag = "callbacks",
    request_body = CallbackBody,
    params(("X-Widget-Key" = String, Header, description = "the widget's key")),
    responses((status = 201, body = CallbackState), (status = 401), (status = 422),
              (status = 429), (status = 503)))]
pub(super) async fn file(
    State(state): State<ApiState>,
    extensions: Extensions,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CallbackBody>,
) -> Result<(StatusCode, Json<CallbackState>), ApiError> {
    // The address's brake comes first, so guessing keys costs the guesser too.
    limited(
        &state.callback_limits.per_address,
        client_address(&extensions).to_string(),
    )?;
    let widget = widget(&state, &headers).await?;
    let typed = normalise(&body.number).map_err(|e| ApiError::field("number", e.to_string()))?;
    let now = UnixMillis(clock::unix_ms());
    let at = match body.at_ms {
        None => None,
        Some(at) => {
            let ahead = i64::try_from(MAX_SCHEDULE_AHEAD.as_millis()).unwrap_or(i64::MAX);
            if at > now.0.saturating_add(ahead) {
                return Err(ApiError::field("at_ms", "at most 7 days ahead"));
            }
            // A time in the past means as soon as possible.
            Some(UnixMillis(at.max(now.0)))
        }
    };
    let cad = cad(body.cad)?;
    let ask = CallbackAsk {
        queue: widget.queue.clone(),
        number: typed.clone(),
        at,
        widget: Some(widget.id.clone()),
        cad,
    };
    // The number's brake is on its E.164 form under the org's number plan, so `01 23...`,
    // `+33 1 23...` and `0033 1 23...` share one allowance; a number the plan cannot read
    // is braked as typed (and then refused by the switch).
    let plan = state.profile_trunks.dialing.number_plan();
    let braked = plan
        .normalise(&typed)
        .map_or_else(|_| typed.clone(), |n| n.as_str().to_owned());
    limited(&state.callback_limits.per_number, braked)?;
    let (id, position) = match state.core()?.callback(ask).await? {
        Ok(filed) => filed,
        Err(CallbackRefused::Number(why)) => {
            return Err(ApiError::field(
                "number",
                format!("this number cannot be called back ({why})"),
            ));
        }
        Err(CallbackRefused::Routing(RoutingError::UnknownQueue(_))) => {
            tracing::warn!(widget = %widget.id, queue = %widget.queue, "callback widget's queue is gone");
            return Err(ApiError::CoreUnavailable);
        }
        Err(CallbackRefused::Routing(RoutingError::QueueBusy { queue, callers })) => {
            tracing::warn!(widget = %widget.id, %queue, callers, "callback queue full");
            return Err(ApiError::CoreUnavailable);
        }
        Err(CallbackRefused::Routing(error)) => {
            return Err(ApiError::refused(error.code(), error.to_string()));
        }
    };
    let status = if position.is_some() || at.is_none_or(|at| at <= now) {
        "queued"
    } else {
        "scheduled"
    };
    Ok((
        StatusCode::CREATED,
        Json(CallbackState {
            id: id.0,
            status: status.into(),
            outcome: CallbackStatus::Pending,
            position: position.as_ref().map(|p| p.position),
            expected_wait_secs: position.map(|p| p.expected_wait.as_secs()),
            attempts: 0,
        }),
    ))
}

/// The callback `id` if the widget whose key the request presents filed it; 404 otherwise
/// (another widget's callbacks do not exist for this one). Under the reads' brake.
async fn own_callback(
    state: &ApiState,
    extensions: &Extensions,
    headers: &HeaderMap,
    id: &str,
) -> Result<Callback, ApiError> {
    limited(
        &state.callback_limits.reads,
        client_address(extensions).to_string(),
    )?;
    let widget = widget(state, headers).await?;
    state
        .store
        .get_callback(&InteractionId(id.to_owned()))
        .await?
        .filter(|c| c.widget.as_deref() == Some(widget.id.as_str()))
        .ok_or(ApiError::NotFound)
}

/// Where a callback stands (public, with its widget's key).
#[utoipa::path(get, path = "/api/v1/public/callbacks/{id}", tag = "callbacks",
    params(("id" = String, Path),
           ("X-Widget-Key" = String, Header, description = "the widget's key")),
    responses((status = 200, body = CallbackState), (status = 401), (status = 404),
              (status = 429)))]
pub(super) async fn public_read(
    State(state): State<ApiState>,
    extensions: Extensions,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CallbackState>, ApiError> {
    let callback = own_callback(&state, &extensions, &headers, &id).await?;
    let position = match state.core() {
        Ok(core) => core.position(callback.interaction.clone()).await?,
        Err(_) => None,
    };
    let status = state
        .store
        .get_interaction(&callback.interaction)
        .await?
        .map_or_else(|| "queued".to_owned(), |ix| ix.state.as_str().to_owned());
    Ok(Json(CallbackState {
        id: callback.interaction.0,
        status,
        outcome: callback.status,
        position: position.as_ref().map(|p| p.position),
        expected_wait_secs: position.map(|p| p.expected_wait.as_secs()),
        attempts: callback.attempts,
    }))
}

/// The customer cancels a callback (public, with its widget's key).
#[utoipa::path(delete, path = "/api/v1/public/callbacks/{id}", tag = "callbacks",
    params(("id" = String, Path),
           ("X-Widget-Key" = String, Header, description = "the widget's key")),
    responses((status = 204), (status = 401), (status = 404), (status = 409), (status = 429)))]
pub(super) async fn public_cancel(
    State(state): State<ApiState>,
    extensions: Extensions,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let callback = own_callback(&state, &extensions, &headers, &id).await?;
    cancel(&state, callback.interaction, "customer".into()).await
}

async fn cancel(state: &ApiState, id: InteractionId, by: String) -> Result<StatusCode, ApiError> {
    match state.core()?.cancel_callback(id.clone(), by).await? {
        Ok(()) => {
            // The core's own write follows through the store writer; this one makes the
            // cancellation visible to the next read, as its answer says it happened.
            state
                .store
                .update_callback(&id, None, CallbackStatus::Cancelled)
                .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Err(error) => Err(ApiError::refused(error.code(), error.to_string())),
    }
}

/// Callbacks, newest first (supervisor).
#[utoipa::path(get, path = "/api/v1/callbacks", tag = "callbacks",
    params(("status" = Option<String>, Query, description = "pending, connected, failed or cancelled"),
           ("limit" = Option<u32>, Query, description = "1 to 500, default 50")),
    responses((status = 200, body = [Callback]), (status = 403)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    params: QueryParams,
) -> Result<Json<Vec<Callback>>, ApiError> {
    principal.require(Role::Supervisor)?;
    let params = params.only(&["status", "limit"])?;
    let status = match params.get("status") {
        None => None,
        Some("pending") => Some(CallbackStatus::Pending),
        Some("connected") => Some(CallbackStatus::Connected),
        Some("failed") => Some(CallbackStatus::Failed),
        Some("cancelled") => Some(CallbackStatus::Cancelled),
        Some(_) => {
            return Err(ApiError::out_of_range(
                "status",
                "pending, connected, failed or cancelled",
            ));
        }
    };
    let limit = match params.u64("limit")? {
        None => 50,
        Some(n @ 1..=500) => u32::try_from(n).unwrap_or(500),
        Some(_) => return Err(ApiError::out_of_range("limit", "must be 1 to 500")),
    };
    Ok(Json(state.store.list_callbacks(status, limit).await?))
}

/// A supervisor cancels a callback that has not connected.
#[utoipa::path(post, path = "/api/v1/callbacks/{id}/cancel", tag = "callbacks",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn supervisor_cancel(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Supervisor)?;
    let id = InteractionId(id);
    if state.store.get_callback(&id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let by = principal
        .agent
        .as_ref()
        .map_or_else(|| format!("token:{}", principal.token_id), |a| a.0.clone());
    cancel(&state, id, by).await
}
