//! Trunks: `GET /api/v1/trunks` (supervisor) lists every trunk as the switch uses it,
//! gateways resolved, with each registering trunk's registration as it stands (see
//! `src/call/trunk_registration.rs`), asked of the switch core through the request channel.
//! Admins add trunks kept in the database (`POST /api/v1/trunks`) and change or remove them
//! (`PUT`/`DELETE /api/v1/trunks/{name}`); `GET /api/v1/trunks/{name}` (supervisor) shows one
//! trunk's configuration, profile or database, with `password_set` in place of the password,
//! which is never returned.
//!
//! Stored trunks follow the profile's rules (`config::check_trunks`, one function for both),
//! and the profile's trunks cannot be changed or shadowed here (409 naming `name`). Every
//! write is applied to the running switch before the answer: the runtime loads the stored
//! trunks, DIDs and routes, merges them after the profile's, resolves the gateways and hands
//! the switch the complete set. Calls up keep going; see `src/call/trunk_config.rs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::validate;
use crate::call::trunks::{IpPrefix, TrunkCodec, default_trunk_codecs};
use crate::call::{TrunkOverview, TrunkRegistrationStatus};
use crate::config::{
    GatewayAddress, GatewayTransport, StoredTrunks, TrunkConfigError, TrunkSettings, check_codecs,
};
use crate::routing::model::Role;

/// Most inbound sources or gateways one trunk lists.
const MAX_ADDRESSES: usize = 32;
/// Longest carrier username or password.
const MAX_CREDENTIAL_CHARS: usize = 128;
/// Most codec names one trunk lists (three exist; room for a repeat to be named as such).
const MAX_CODECS: usize = 8;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/trunks", get(list).post(create))
        .route(
            "/api/v1/trunks/{name}",
            get(read).put(update).delete(remove),
        )
}

/// A trunk as the switch uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrunkView {
    pub name: String,
    /// `profile` (read-only here) or `database`.
    pub source: &'static str,
    /// Where calls out through it go (`ip:port`, names resolved when it was last applied),
    /// tried in order.
    pub gateways: Vec<String>,
    /// Addresses and prefixes its calls come from (a registering trunk's gateways included).
    pub inbound_sources: Vec<String>,
    /// Whether its caller number, CAD and priority are believed.
    pub trusted: bool,
    /// Calls through it at once, both ways (0: no limit).
    pub max_channels: u32,
    /// Whether the switch registers with its first gateway.
    pub registers: bool,
    /// That registration, when it registers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<RegistrationView>,
}

/// A trunk's registration with its carrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RegistrationView {
    /// `unregistered` (not started yet), `registering` (a REGISTER is out and no binding
    /// holds), `registered`, or `failed` (waiting to retry).
    pub state: String,
    /// The registrar (`ip:port`).
    pub registrar: String,
    /// Seconds the binding has left, when registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    /// Seconds until the next attempt, when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
    /// The status of the carrier's last final response (a 401 challenge included); absent
    /// before any, or when the last REGISTER got no response at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
}

impl From<TrunkRegistrationStatus> for RegistrationView {
    fn from(r: TrunkRegistrationStatus) -> RegistrationView {
        // Rounded up: "0 s left" would read as expired while it still holds.
        let secs = |d: std::time::Duration| d.as_secs_f64().ceil() as u64;
        RegistrationView {
            state: r.state.as_str().to_owned(),
            registrar: r.registrar.to_string(),
            expires_in_secs: r.expires_in.map(secs),
            retry_in_secs: r.retry_in.map(secs),
            last_status: r.last_status,
        }
    }
}

impl TrunkView {
    fn new(t: TrunkOverview, state: &ApiState) -> TrunkView {
        TrunkView {
            source: source(state, &t.name),
            name: t.name,
            gateways: t.gateways.iter().map(ToString::to_string).collect(),
            inbound_sources: t.inbound_sources.iter().map(ToString::to_string).collect(),
            trusted: t.trusted,
            max_channels: t.max_channels,
            registers: t.registration.is_some(),
            registration: t.registration.map(RegistrationView::from),
        }
    }
}

/// Where trunk `name` is defined.
fn source(state: &ApiState, name: &str) -> &'static str {
    if is_profile_trunk(state, name) {
        "profile"
    } else {
        "database"
    }
}

fn is_profile_trunk(state: &ApiState, name: &str) -> bool {
    state.profile_trunks.trunks.iter().any(|t| t.name == name)
}

/// A trunk to add or replace (the fields of a profile `[[trunks]]` entry).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkBody {
    /// 1 to 64 of A-Z a-z 0-9 . _ -; not a profile trunk's.
    pub name: String,
    /// Addresses or prefixes its INVITEs come from (`192.0.2.10`, `198.51.100.0/24`).
    #[serde(default)]
    pub inbound_sources: Vec<String>,
    /// Believe its caller number, `X-Cad-*` and `Priority`.
    #[serde(default)]
    pub trusted: bool,
    /// Where calls out through it go (`host:port` or `host`, port 5060), tried in order.
    #[serde(default)]
    pub gateways: Vec<String>,
    /// `udp` (default), `tcp` or `tls`. A TLS gateway's certificate is checked against the
    /// system's CAs for the gateway's name as written (a profile trunk may name its own CAs
    /// with `tls_ca`).
    #[serde(default)]
    pub transport: Option<String>,
    /// Codecs its calls carry, in preference order: `PCMU`, `PCMA`, `telephone-event`
    /// (default: all three). At least one of PCMU and PCMA.
    #[serde(default)]
    pub codecs: Option<Vec<String>>,
    /// Calls through it at once, both ways (0: no limit).
    #[serde(default)]
    pub max_channels: u32,
    /// The number outbound calls present, E.164 (`+33900000001`).
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Digest username the carrier issued (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// Its password; never returned. On `PUT`, absent keeps the stored one while `username`
    /// is given.
    #[serde(default)]
    pub password: Option<String>,
    /// Register with the first gateway (needs `username`, `password` and a gateway).
    #[serde(default)]
    pub register: bool,
    /// The registration lifetime asked for, 60 to 86400 (default 600).
    #[serde(default)]
    pub register_expires_secs: Option<u32>,
}

/// A trunk's configuration: never its password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrunkConfigView {
    pub name: String,
    /// `profile` (read-only here) or `database`.
    pub source: &'static str,
    pub inbound_sources: Vec<String>,
    pub trusted: bool,
    /// As configured (names unresolved).
    pub gateways: Vec<String>,
    pub transport: &'static str,
    /// In preference order.
    pub codecs: Vec<String>,
    pub max_channels: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether a password is kept (it is never shown).
    pub password_set: bool,
    pub register: bool,
    pub register_expires_secs: u32,
}

impl TrunkConfigView {
    fn new(t: &TrunkSettings, source: &'static str) -> TrunkConfigView {
        TrunkConfigView {
            name: t.name.clone(),
            source,
            inbound_sources: t.inbound_sources.iter().map(ToString::to_string).collect(),
            trusted: t.trusted,
            gateways: t.gateways.iter().map(ToString::to_string).collect(),
            transport: t.transport.as_str(),
            codecs: t.codecs.iter().map(|c| c.as_str().to_owned()).collect(),
            max_channels: t.max_channels,
            caller_id: t.caller_id.clone(),
            username: t.username.clone(),
            password_set: t.password.is_some(),
            register: t.register,
            register_expires_secs: t.register_expires_secs,
        }
    }
}

/// A list of addresses, each parsed as the profile parses it.
fn addresses<T: std::str::FromStr>(field: &str, texts: &[String]) -> Result<Vec<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    if texts.len() > MAX_ADDRESSES {
        return Err(ApiError::field(field, format!("at most {MAX_ADDRESSES}")));
    }
    texts
        .iter()
        .map(|t| {
            t.parse()
                .map_err(|e: T::Err| ApiError::field(field, e.to_string()))
        })
        .collect()
}

/// A carrier credential: it goes into SIP headers and URIs, so no quote, backslash,
/// separator or control character.
fn credential(field: &str, value: &str) -> Result<(), ApiError> {
    let chars = value.chars().count();
    let bad = |c: char| c.is_control() || c.is_whitespace() || "\"\\".contains(c);
    let uri_bad = field == "username" && value.contains(['@', ':', ';', '<', '>', '?', '&']);
    if chars == 0 || chars > MAX_CREDENTIAL_CHARS || value.chars().any(bad) || uri_bad {
        return Err(ApiError::field(
            field,
            format!(
                "must be 1 to {MAX_CREDENTIAL_CHARS} characters without spaces, quotes or \
                 control characters{}",
                if field == "username" {
                    " (nor @ : ; < > ? &)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(())
}

/// The trunk `body` describes, each field checked on its own; `kept_password` is the stored
/// password a `PUT` without one keeps.
fn settings(body: TrunkBody, kept_password: Option<String>) -> Result<TrunkSettings, ApiError> {
    validate::id("name", &body.name)?;
    let inbound_sources: Vec<IpPrefix> = addresses("inbound_sources", &body.inbound_sources)?;
    let gateways: Vec<GatewayAddress> = addresses("gateways", &body.gateways)?;
    let transport = match body.transport.as_deref() {
        None => GatewayTransport::Udp,
        Some(text) => text
            .parse()
            .map_err(|message: String| ApiError::field("transport", message))?,
    };
    let codecs = match &body.codecs {
        None => default_trunk_codecs(),
        Some(names) if names.len() > MAX_CODECS => {
            return Err(ApiError::field("codecs", format!("at most {MAX_CODECS}")));
        }
        Some(names) => names
            .iter()
            .map(|n| n.parse::<TrunkCodec>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::field("codecs", e.to_string()))?,
    };
    check_codecs(&codecs).map_err(|message| ApiError::field("codecs", message))?;
    if let Some(id) = &body.caller_id
        && id.len() > 32
    {
        return Err(ApiError::field("caller_id", "must be +CC and digits"));
    }
    if let Some(username) = &body.username {
        credential("username", username)?;
    }
    if let Some(password) = &body.password {
        credential("password", password)?;
    }
    let password = match body.password {
        Some(password) => Some(password),
        None if body.username.is_some() => kept_password,
        None => None,
    };
    Ok(TrunkSettings {
        name: body.name,
        inbound_sources,
        trusted: body.trusted,
        gateways,
        transport,
        tls_ca: None,
        codecs,
        max_channels: body.max_channels,
        caller_id: body.caller_id,
        username: body.username,
        password,
        register: body.register,
        register_expires_secs: body.register_expires_secs.unwrap_or(600),
    })
}

/// A rule the profile's and stored trunks, DIDs and routes together break, as a 422 naming
/// the body field (`trunks.caller_id` → `caller_id`).
pub(super) fn rule_broken(e: TrunkConfigError) -> ApiError {
    let field = e.key.rsplit('.').next().unwrap_or(e.key);
    ApiError::field(field, e.message)
}

/// Checks `stored` (the database's trunks, DIDs and routes as they would be after a write)
/// with the profile's before it, by the profile's own rules.
pub(super) fn check(state: &ApiState, stored: &StoredTrunks) -> Result<(), ApiError> {
    state.profile_trunks.check(stored).map_err(rule_broken)
}

/// Has the running switch use the stored trunks, DIDs and routes (none in route tests);
/// returns once it does.
pub(super) async fn apply(state: &ApiState) -> Result<(), ApiError> {
    if let Some(core) = &state.core {
        core.reload_trunks().await?;
    }
    Ok(())
}

/// The profile's entries, then the stored ones, each shown with where it is defined.
pub(super) fn profile_then_stored<T, V>(
    profile: &[T],
    stored: &[T],
    view: impl Fn(&T, &'static str) -> V,
) -> Vec<V> {
    let profile = profile.iter().map(|t| view(t, "profile"));
    profile
        .chain(stored.iter().map(|t| view(t, "database")))
        .collect()
}

/// A 409 for a write to what the profile defines.
pub(super) fn defined_in_profile(field: &str, what: &str) -> ApiError {
    ApiError::conflict(
        format!("{what} is defined in the profile and cannot be changed here"),
        Some(field),
    )
}

/// The trunks and their registrations (supervisor).
#[utoipa::path(get, path = "/api/v1/trunks", tag = "admin",
    responses((status = 200, body = Vec<TrunkView>), (status = 403), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<TrunkView>>, ApiError> {
    principal.require(Role::Supervisor)?;
    let trunks = state.core()?.trunks().await?;
    Ok(Json(
        trunks
            .into_iter()
            .map(|t| TrunkView::new(t, &state))
            .collect(),
    ))
}

/// One trunk's configuration, from the profile or the database (supervisor).
#[utoipa::path(get, path = "/api/v1/trunks/{name}", tag = "admin",
    params(("name" = String, Path)),
    responses((status = 200, body = TrunkConfigView), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TrunkConfigView>, ApiError> {
    principal.require(Role::Supervisor)?;
    if let Some(t) = state.profile_trunks.trunks.iter().find(|t| t.name == name) {
        return Ok(Json(TrunkConfigView::new(t, "profile")));
    }
    let trunk = state
        .store
        .get_trunk(&name)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(TrunkConfigView::new(&trunk, "database")))
}

/// Adds a trunk kept in the database and applies it (admin).
#[utoipa::path(post, path = "/api/v1/trunks", tag = "admin", request_body = TrunkBody,
    responses((status = 201, body = TrunkConfigView), (status = 403), (status = 409),
        (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<TrunkBody>,
) -> Result<(StatusCode, Json<TrunkConfigView>), ApiError> {
    principal.require(Role::Admin)?;
    let trunk = settings(body, None)?;
    let _writing = state.trunk_writes.lock().await;
    if is_profile_trunk(&state, &trunk.name) {
        return Err(defined_in_profile("name", "a trunk with this name"));
    }
    let mut stored = state.store.stored_trunks().await?;
    if stored.trunks.iter().any(|t| t.name == trunk.name) {
        return Err(ApiError::conflict(
            "a trunk with this name exists",
            Some("name"),
        ));
    }
    stored.trunks.push(trunk.clone());
    check(&state, &stored)?;
    state.store.create_trunk(&trunk).await?;
    apply(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(TrunkConfigView::new(&trunk, "database")),
    ))
}

/// Replaces a stored trunk and applies it (admin). A trunk a route names keeps a gateway.
#[utoipa::path(put, path = "/api/v1/trunks/{name}", tag = "admin", request_body = TrunkBody,
    params(("name" = String, Path)),
    responses((status = 200, body = TrunkConfigView), (status = 403), (status = 404),
        (status = 409), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<TrunkBody>,
) -> Result<Json<TrunkConfigView>, ApiError> {
    principal.require(Role::Admin)?;
    if body.name != name {
        return Err(ApiError::field("name", "must match the name in the path"));
    }
    let _writing = state.trunk_writes.lock().await;
    if is_profile_trunk(&state, &name) {
        return Err(defined_in_profile("name", "this trunk"));
    }
    let mut stored = state.store.stored_trunks().await?;
    let Some(slot) = stored.trunks.iter_mut().find(|t| t.name == name) else {
        return Err(ApiError::NotFound);
    };
    let trunk = settings(body, slot.password.clone())?;
    *slot = trunk.clone();
    check(&state, &stored).map_err(|e| match e {
        // Only this trunk changed, so a route it breaks is one that names it.
        ApiError::InvalidField { field, message } if field == "trunks" => {
            ApiError::conflict(message, Some("gateways"))
        }
        other => other,
    })?;
    if !state.store.update_trunk(&trunk).await? {
        return Err(ApiError::NotFound);
    }
    apply(&state).await?;
    Ok(Json(TrunkConfigView::new(&trunk, "database")))
}

/// Removes a stored trunk and applies it (admin); one a route still names stays (409).
#[utoipa::path(delete, path = "/api/v1/trunks/{name}", tag = "admin",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    let _writing = state.trunk_writes.lock().await;
    if is_profile_trunk(&state, &name) {
        return Err(defined_in_profile("name", "this trunk"));
    }
    let stored = state.store.stored_trunks().await?;
    let routes = state
        .profile_trunks
        .dialing
        .routes
        .iter()
        .chain(&stored.routes);
    if let Some(route) = routes.into_iter().find(|r| r.trunks.contains(&name)) {
        return Err(ApiError::conflict(
            format!("route {} still names this trunk", route.prefix),
            Some("name"),
        ));
    }
    if !state.store.delete_trunk(&name).await? {
        return Err(ApiError::NotFound);
    }
    apply(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    use crate::config::ProfileTrunks;
    use crate::cti::test_support::{Api, token_for_role};
    use crate::routing::model::Role;
    use crate::store::test_support::trunk as trunk_fixture;

    #[tokio::test]
    async fn supervisors_and_admins_see_the_trunks_and_their_registration_agents_do_not() {
        let api = Api::with_switch(crate::call::trunk_registration_tests::registered().sw).await;
        let agent = token_for_role(api.store(), Role::Agent).await;
        let (status, error) = api
            .call(Method::GET, "/api/v1/trunks", Some(&agent), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(error["error"]["code"], "forbidden", "{error}");
        for role in [Role::Supervisor, Role::Admin] {
            let token = token_for_role(api.store(), role).await;
            let (status, trunks) = api
                .call(Method::GET, "/api/v1/trunks", Some(&token), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{trunks}");
            let carrier = &trunks[0];
            assert_eq!(carrier["name"], "carrier", "{trunks}");
            assert_eq!(
                carrier["gateways"],
                serde_json::json!(["192.0.2.10:5060", "192.0.2.11:5060"])
            );
            assert_eq!(carrier["max_channels"], 30);
            assert_eq!(carrier["registers"], true);
            let registration = &carrier["registration"];
            assert_eq!(registration["state"], "registered", "{trunks}");
            assert_eq!(registration["registrar"], "192.0.2.10:5060");
            assert_eq!(registration["last_status"], 200);
            // Granted 120 s in virtual time at about the moment the API's clock reads now.
            let left = registration["expires_in_secs"].as_u64().unwrap_or_default();
            assert!((100..=120).contains(&left), "{trunks}");
            assert!(registration.get("retry_in_secs").is_none(), "{trunks}");
            let loopback = &trunks[1];
            assert_eq!(loopback["name"], "lab-loopback");
            assert_eq!(loopback["registers"], false);
            assert!(loopback.get("registration").is_none(), "{trunks}");
            assert_eq!(loopback["max_channels"], 0, "{trunks}");
        }
    }

    #[tokio::test]
    async fn without_a_switch_the_trunks_are_unavailable_not_an_internal_error() {
        let api = Api::new().await;
        let admin = token_for_role(api.store(), Role::Admin).await;
        let (status, error) = api
            .call(Method::GET, "/api/v1/trunks", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(error["error"]["code"].is_string(), "{error}");
    }

    /// An API whose profile has trunk `lab-loopback` (sources only).
    async fn api() -> (Api, String) {
        let mut api = Api::new().await;
        let profile = ProfileTrunks {
            trunks: vec![trunk_fixture("lab-loopback", "127.0.0.0/8")],
            ..ProfileTrunks::default()
        };
        api.state = api.state.clone().with_profile_trunks(profile);
        let admin = token_for_role(api.store(), Role::Admin).await;
        (api, admin)
    }

    fn carrier() -> serde_json::Value {
        json!({
            "name": "carrier",
            "inbound_sources": ["198.51.100.0/24"],
            "trusted": true,
            "gateways": ["192.0.2.10:5080", "sip.carrier.example"],
            "max_channels": 30,
            "caller_id": "+33900000001",
            "username": "acct-17",
            "password": "carrier-issued-secret",
            "register": true,
            "register_expires_secs": 3600
        })
    }

    #[tokio::test]
    async fn an_admin_adds_reads_changes_and_deletes_a_trunk_and_its_password_never_comes_back() {
        let (api, admin) = api().await;
        let (status, view) = api
            .json(Method::POST, "/api/v1/trunks", &admin, Some(carrier()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        let expected = json!({
            "name": "carrier",
            "source": "database",
            "inbound_sources": ["198.51.100.0/24"],
            "trusted": true,
            "gateways": ["192.0.2.10:5080", "sip.carrier.example"],
            "transport": "udp",
            "codecs": ["PCMU", "PCMA", "telephone-event"],
            "max_channels": 30,
            "caller_id": "+33900000001",
            "username": "acct-17",
            "password_set": true,
            "register": true,
            "register_expires_secs": 3600
        });
        assert_eq!(view, expected);
        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        let (status, read) = api
            .json(Method::GET, "/api/v1/trunks/carrier", &supervisor, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read, expected);
        assert!(!read.to_string().contains("carrier-issued-secret"));
        let stored = api.store().get_trunk("carrier").await.unwrap().unwrap();
        assert_eq!(
            stored.password.as_deref(),
            Some("carrier-issued-secret"),
            "kept usable"
        );
        assert!(
            !format!("{stored:?}").contains("carrier-issued-secret"),
            "never logged"
        );
        let (status, _) = api
            .json(Method::POST, "/api/v1/trunks", &admin, Some(carrier()))
            .await;
        assert_eq!(status, StatusCode::CONFLICT);

        // A PUT without a password keeps the stored one.
        let mut changed = carrier();
        changed["password"] = serde_json::Value::Null;
        changed["max_channels"] = json!(10);
        changed["transport"] = json!("tls");
        changed["codecs"] = json!(["pcma", "telephone-event"]);
        let (status, view) = api
            .json(Method::PUT, "/api/v1/trunks/carrier", &admin, Some(changed))
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["max_channels"], 10);
        assert_eq!(view["transport"], "tls");
        assert_eq!(view["codecs"], json!(["PCMA", "telephone-event"]));
        assert_eq!(view["password_set"], true);
        let stored = api.store().get_trunk("carrier").await.unwrap().unwrap();
        assert_eq!(stored.password.as_deref(), Some("carrier-issued-secret"));

        for expected in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
            let (status, _) = api
                .json(Method::DELETE, "/api/v1/trunks/carrier", &admin, None)
                .await;
            assert_eq!(status, expected);
        }
        let (status, _) = api
            .json(Method::GET, "/api/v1/trunks/carrier", &admin, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = api
            .json(
                Method::PUT,
                "/api/v1/trunks/carrier",
                &admin,
                Some(carrier()),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "PUT does not create");
    }

    #[tokio::test]
    async fn bad_trunks_are_refused_naming_the_field() {
        let (api, admin) = api().await;
        let with = |key: &str, value: serde_json::Value| {
            let mut body = carrier();
            body[key] = value;
            body
        };
        for (body, field) in [
            (with("name", json!("bad name")), "name"),
            (
                with("inbound_sources", json!(["example.com"])),
                "inbound_sources",
            ),
            (with("gateways", json!(["192.0.2.10:99999"])), "gateways"),
            (with("caller_id", json!("0900")), "caller_id"),
            (with("transport", json!("sctp")), "transport"),
            (with("codecs", json!(["G729"])), "codecs"),
            (with("codecs", json!(["telephone-event"])), "codecs"),
            (with("codecs", json!(["PCMA", "pcma"])), "codecs"),
            (with("username", json!("a\"b")), "username"),
            (with("username", json!("a@b")), "username"),
            (with("password", json!("pw\r\nX: y")), "password"),
            (with("username", serde_json::Value::Null), "password"),
            (
                with("register_expires_secs", json!(30)),
                "register_expires_secs",
            ),
            (with("max_channels", json!(-1)), "max_channels"),
            (json!({"name": "empty"}), "inbound_sources"),
            (
                json!({"name": "r", "inbound_sources": ["10.0.0.1"], "register": true}),
                "register",
            ),
        ] {
            let (status, error) = api
                .json(Method::POST, "/api/v1/trunks", &admin, Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {error}");
            assert_eq!(error["error"]["field"], field, "{error}");
        }
        assert!(api.store().list_trunks().await.unwrap().is_empty());
        let (status, error) = api
            .json(Method::PUT, "/api/v1/trunks/other", &admin, Some(carrier()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["error"]["field"], "name");
    }

    #[tokio::test]
    async fn profile_trunks_are_read_only_and_their_names_cannot_be_taken() {
        let (api, admin) = api().await;
        let (status, view) = api
            .json(Method::GET, "/api/v1/trunks/lab-loopback", &admin, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["source"], "profile");
        assert_eq!(view["password_set"], false);
        let mut body = carrier();
        body["name"] = json!("lab-loopback");
        for (method, uri) in [
            (Method::POST, "/api/v1/trunks"),
            (Method::PUT, "/api/v1/trunks/lab-loopback"),
        ] {
            let (status, error) = api.json(method, uri, &admin, Some(body.clone())).await;
            assert_eq!(status, StatusCode::CONFLICT, "{error}");
            assert_eq!(error["error"]["field"], "name");
        }
        let (status, error) = api
            .json(Method::DELETE, "/api/v1/trunks/lab-loopback", &admin, None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error["error"]["field"], "name");
    }

    #[tokio::test]
    async fn only_admins_write_trunks_and_agents_read_none() {
        let (api, _) = api().await;
        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        for (method, uri, body) in [
            (Method::POST, "/api/v1/trunks", Some(carrier())),
            (Method::PUT, "/api/v1/trunks/carrier", Some(carrier())),
            (Method::DELETE, "/api/v1/trunks/carrier", None),
        ] {
            let (status, _) = api.json(method, uri, &supervisor, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        let agent = token_for_role(api.store(), Role::Agent).await;
        let (status, _) = api
            .json(Method::GET, "/api/v1/trunks/lab-loopback", &agent, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
