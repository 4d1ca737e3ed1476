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

pub mod acd;
pub mod agent;
pub mod command;
pub mod error;
pub mod interaction;
pub mod last_agent;
pub mod model;
mod offer;
pub mod output;
pub mod queue;
pub mod strategy;
pub mod timer;

#[cfg(test)]
mod test_harness;

pub use acd::{Acd, AgentSnapshot, QueuePosition, QueueSnapshot, Snapshot};
pub use agent::{AgentError, AgentTransition, TransitionReason};
pub use command::{Command, RequestedState};
pub use error::RoutingError;
pub use offer::MAX_OVERFLOW_HOPS;
pub use output::{Event, InteractionChange, InteractionReason, Output, Record, RejectReason};
