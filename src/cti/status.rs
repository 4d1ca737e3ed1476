//! What the switch holds now (admin): `GET /api/v1/status` counts live calls, the ended
//! calls still answering late retransmissions, transactions, dialogs and the media port
//! pairs in use, as FreeSWITCH's `show calls count` or Asterisk's `core show channels`
//! give an operator. A port pair in use is a live endpoint's: an ended call's sockets may
//! stay bound for the pair's next call (see `runtime::socket_pool`), so the ports the
//! process holds are not the measure, this count is.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use crate::call::Holdings;
use crate::routing::model::Role;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/status", get(read))
}

/// What the switch holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SwitchStatus {
    /// Calls up or being set up.
    pub calls: usize,
    /// Ended calls kept for 64·T1 to answer late retransmissions.
    pub ended_calls_lingering: usize,
    /// SIP transactions.
    pub transactions: usize,
    /// SIP dialogs routed to calls.
    pub dialogs: usize,
    /// RTP/RTCP port pairs held by live media endpoints.
    pub media_port_pairs: usize,
}

impl From<Holdings> for SwitchStatus {
    fn from(h: Holdings) -> SwitchStatus {
        SwitchStatus {
            calls: h.calls,
            ended_calls_lingering: h.tombstones,
            transactions: h.transactions,
            dialogs: h.dialogs,
            media_port_pairs: h.ports,
        }
    }
}

/// What the switch holds now (admin).
#[utoipa::path(get, path = "/api/v1/status", tag = "health",
    responses((status = 200, body = SwitchStatus), (status = 403), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<SwitchStatus>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(state.core()?.holdings().await?.into()))
}
