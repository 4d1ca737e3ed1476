//! Trunks (supervisor): `GET /api/v1/trunks` lists the profile's trunks as the switch uses
//! them, gateways resolved, with each registering trunk's registration as it stands (see
//! `src/call/trunk_registration.rs`). Asked of the switch core through the request channel.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use crate::call::{TrunkOverview, TrunkRegistrationStatus};
use crate::routing::model::Role;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/trunks", get(list))
}

/// A trunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrunkView {
    pub name: String,
    /// Where calls out through it go (`ip:port`, names resolved at start-up), tried in order.
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

impl From<TrunkOverview> for TrunkView {
    fn from(t: TrunkOverview) -> TrunkView {
        TrunkView {
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
    Ok(Json(trunks.into_iter().map(TrunkView::from).collect()))
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use crate::cti::test_support::{Api, token_for_role};
    use crate::routing::model::Role;

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
}
