//! What a crash leaves behind, closed at the next start; and the heartbeat that dates it.
//!
//! A switch killed with calls up (`kill -9`, an OOM kill, power loss) ends nothing: no BYE,
//! no final CDR, no interaction end, no agent logout. At start-up, before anything new is
//! written:
//! - every CDR still marked in progress becomes final with hangup cause `interrupted` (it
//!   already says so, and holds caller, callee, legs and answer time as of its last write);
//! - every interaction still live becomes `interrupted`;
//! - every agent whose logged state is not `logged_out` gets a logged transition to
//!   `logged_out` with reason `switch_restart` (the restarted ACD starts everyone logged out).
//!
//! All three are dated at the switch's last heartbeat, written every [`HEARTBEAT`]: the crash
//! happened within that much after it. The restart time would be wrong by however long the
//! switch stayed down; the heartbeat makes an interrupted call's duration short by at most
//! [`HEARTBEAT`]. Nothing is dated before what the record itself already knew.

use super::clock;
use crate::routing::model::{Actor, AgentState};
use crate::store::{AgentStateChange, Store, UnixMillis};
use std::time::Duration;

/// How often the switch records that it is alive.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(5);

/// The reason on the agent state transitions a restart writes.
pub(super) const SWITCH_RESTART: &str = "switch_restart";

/// Closes the CDRs, interactions and agent sessions a crash left open. Failures are logged:
/// a switch that cannot tidy history must still start and take calls.
pub(super) async fn close_what_a_crash_left(store: &Store) {
    let now = UnixMillis(clock::unix_ms());
    let last_alive = match store.last_heartbeat().await {
        Ok(at) => at.unwrap_or(now),
        Err(error) => {
            tracing::error!(%error, "reading the last heartbeat failed");
            now
        }
    };
    match store.interrupt_unfinished_cdrs(last_alive, now).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(calls = n, "CDRs of calls a crash interrupted closed"),
        Err(error) => tracing::error!(%error, "closing interrupted CDRs failed"),
    }
    match store.interrupt_live_interactions(last_alive).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(interactions = n, "interactions a crash interrupted closed"),
        Err(error) => tracing::error!(%error, "closing interrupted interactions failed"),
    }
    if let Err(error) = log_agents_out(store, last_alive).await {
        tracing::error!(%error, "logging agents out after a restart failed");
    }
}

/// Ends in the state log every agent session the previous run left open.
async fn log_agents_out(
    store: &Store,
    last_alive: UnixMillis,
) -> Result<(), crate::store::StoreError> {
    let mut logged_out = 0;
    for agent in store.list_agents().await? {
        let Some(last) = store.list_agent_states(&agent.id, 1).await?.pop() else {
            continue;
        };
        if last.to == AgentState::LoggedOut {
            continue;
        }
        store
            .record_agent_state(&AgentStateChange {
                agent: agent.id,
                from: last.to,
                to: AgentState::LoggedOut,
                reason: Some(SWITCH_RESTART.to_owned()),
                actor: Actor::System,
                // After the last logged transition even when that came after the heartbeat:
                // the log is read newest first by time, and a tie would read either way.
                at: UnixMillis(last_alive.0.max(last.at.0 + 1)),
            })
            .await?;
        logged_out += 1;
    }
    if logged_out > 0 {
        tracing::warn!(agents = logged_out, "agents logged out by the restart");
    }
    Ok(())
}

/// Records every [`HEARTBEAT`] that the switch is alive, for as long as it runs.
pub(super) async fn heartbeat(store: Store) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = store.heartbeat(UnixMillis(clock::unix_ms())).await {
            tracing::warn!(%error, "writing the heartbeat failed");
        }
    }
}
