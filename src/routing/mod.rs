//! Contact-center routing: agents and their state machines, queues, distribution strategies
//! and RONA (sans-IO, like `sip` and `call`).
//!
//! - [`model`]: the shared vocabulary (ids, states, configurations).
//! - [`agent`]: one agent's state machine and its wrap-up timer.
//! - [`queue`]: one queue's waiting callers (priority, FIFO, head re-queue).
//! - [`strategy`]: which agents qualify and which one a strategy picks.
//! - [`interaction`]: one customer contact as the ACD tracks it.
//! - [`acd`] and `offer`: the core tying them together ([`Acd`]).
//! - [`command`], [`output`], [`error`]: what goes in, what comes out, what is refused.
//! - [`timer`]: the named-timer table; [`last_agent`]: bounded last-agent memory.
//!
//! Driving the ACD (the drain contract of `lib.rs`):
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard::call::{QueueCommand, QueueEvent};
//! use switchboard::routing::model::{Actor, AgentConfig, QueueConfig, Role, Strategy};
//! use switchboard::routing::{Acd, Command, Output, RequestedState};
//!
//! # fn main() -> Result<(), switchboard::routing::RoutingError> {
//! let t0 = switchboard::runtime::clock::now(); // the runtime's clock; cores never read it
//! let mut acd = Acd::default();
//! acd.handle_command(t0, Command::UpsertQueue(QueueConfig {
//!     id: "sales".into(), name: "Sales".into(), number: "7000".into(),
//!     strategy: Strategy::LongestIdle, required_skills: vec![], teams: vec![],
//!     ring_timeout: Duration::from_secs(15), max_wait: None, overflow: None,
//!     wrap_up_max: None, last_agent_routing: false, disposition_required: false, music: None,
//!     recording: None, noise_suppression: None,
//! }))?;
//! acd.handle_command(t0, Command::UpsertAgent(AgentConfig {
//!     id: "alice".into(), name: "Alice".into(), team: None, skills: vec![], role: Role::Agent,
//! }))?;
//! let alice = Actor::Agent("alice".into());
//! acd.handle_command(t0, Command::Login {
//!     agent: "alice".into(), extension: "1001".into(), actor: alice.clone(),
//! })?;
//! acd.handle_command(t0, Command::SetState {
//!     agent: "alice".into(), state: RequestedState::Available, actor: alice,
//! })?;
//! acd.handle_command(t0, Command::Switch(QueueEvent::Arrived {
//!     interaction: "ix-1".into(), queue: "7000".into(), ani: "+15550001".into(),
//!     dnis: "7000".into(), cad: vec![], priority: 0,
//! }))?;
//! let mut rang = false;
//! while let Some(output) = acd.poll_output() {
//!     match output {
//!         Output::Queue(QueueCommand::Offer { .. }) => rang = true, // to the switch
//!         Output::Queue(_) | Output::Overflow { .. } | Output::Reject { .. } => {}
//!         Output::Event(_) => {}   // publish to desktops
//!         Output::Persist(_) => {} // write to the store
//!     }
//! }
//! assert!(rang);
//! // Sleep until the ring timeout (or the next input), then:
//! let deadline: Instant = acd.poll_timeout().unwrap();
//! acd.handle_timeout(deadline);
//! # Ok(())
//! # }
//! ```

pub mod acd;
pub mod agent;
mod callback;
pub mod command;
mod consult;
pub mod error;
pub mod interaction;
pub mod last_agent;
pub mod model;
mod offer;
mod outdial;
pub mod output;
pub mod queue;
pub mod strategy;
pub mod timer;
mod transfer;

#[cfg(test)]
pub(crate) mod test_harness;

pub use acd::{Acd, AgentSnapshot, QueuePosition, QueueSnapshot, Snapshot};
pub use agent::{AgentError, AgentTransition, TransitionReason};
pub use command::{Command, RequestedState};
pub use error::RoutingError;
pub use offer::MAX_OVERFLOW_HOPS;
pub use output::{
    AgentPart, Event, InteractionChange, InteractionReason, Output, Record, RejectReason,
};
pub use transfer::Requeue;
