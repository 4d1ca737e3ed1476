//! SIP digest-guessing blocks in force (admin): `GET /api/v1/sip-blocks` lists the switch's
//! bans and backoffs of source addresses and its per-user slowdowns,
//! `DELETE /api/v1/sip-blocks/{address}` lifts an address's ban or backoff and forgets its
//! failures. See `src/sip/auth_guard.rs` for how they arise; both go to the switch core
//! through the request channel.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::params::ApiPath;
use crate::routing::model::Role;
use crate::sip::auth_guard::AuthBlock;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/sip-blocks", get(list))
        .route("/api/v1/sip-blocks/{address}", delete(lift))
}

/// A block in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SipBlock {
    /// `ban` (the address may not authenticate at all), `backoff` (the address waits between
    /// attempts) or `user_slowdown` (the user's attempts from addresses that failed wait).
    pub kind: String,
    /// The source address, for a ban or backoff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The user, for a slowdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Failures counted.
    pub failures: u32,
    /// Seconds until the block ends by itself (a backoff: until the next attempt is heard).
    pub remaining_secs: u64,
}

impl From<AuthBlock> for SipBlock {
    fn from(b: AuthBlock) -> SipBlock {
        SipBlock {
            kind: b.kind.as_str().to_owned(),
            address: b.address.map(|a| a.to_string()),
            user: b.user,
            failures: b.failures,
            remaining_secs: b.remaining.as_secs_f64().ceil() as u64,
        }
    }
}

/// SIP authentication blocks in force (admin).
#[utoipa::path(get, path = "/api/v1/sip-blocks", tag = "auth",
    responses((status = 200, body = Vec<SipBlock>), (status = 403), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<SipBlock>>, ApiError> {
    principal.require(Role::Admin)?;
    let blocks = state.core()?.auth_blocks().await?;
    Ok(Json(blocks.into_iter().map(SipBlock::from).collect()))
}

/// Lifts an address's SIP authentication ban or backoff (admin).
#[utoipa::path(delete, path = "/api/v1/sip-blocks/{address}", tag = "auth",
    params(("address" = String, Path, description = "IPv4 or IPv6 address")),
    responses((status = 204), (status = 400), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn lift(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(address): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    let source: IpAddr = address
        .parse()
        .map_err(|_| ApiError::invalid("address", "must be an IPv4 or IPv6 address"))?;
    if state.core()?.lift_auth_block(source).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use crate::cti::test_support::{Api, token_for_role};
    use crate::routing::model::Role;

    #[tokio::test]
    async fn only_admins_see_and_lift_sip_blocks() {
        let api = Api::new().await;
        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        let admin = token_for_role(api.store(), Role::Admin).await;
        for (method, uri) in [
            (Method::GET, "/api/v1/sip-blocks"),
            (Method::DELETE, "/api/v1/sip-blocks/192.0.2.1"),
        ] {
            let (status, _) = api.call(method, uri, Some(&supervisor), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        }
        let (status, error) = api
            .call(
                Method::DELETE,
                "/api/v1/sip-blocks/nope",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"]["field"], "address", "{error}");
        let (status, _) = api
            .call(Method::GET, "/api/v1/sip-blocks", Some(&admin), None)
            .await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "no switch behind this API"
        );
    }
}
