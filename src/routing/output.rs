//! What the ACD asks of the runtime: commands for the switch, events for agent desktops and
//! records for the store. Outputs are data; the runtime acts on them.
//!
//! Wiring notes: `Queue` maps onto the switch's existing `QueueCommand`s. `Overflow` and
//! `Reject` are new for the switch (transfer the answered caller to a number; play a refusal
//! and hang up). Timestamps are `Instant`s; the runtime turns them into wall-clock time
//! (`runtime::clock`) when it persists or publishes them.

use super::agent::AgentTransition;
use super::model::{AgentId, InteractionId, InteractionState, QueueId};
use crate::call::QueueCommand;
use serde::Serialize;
use std::time::{Duration, Instant};

/// One output, drained with [`super::Acd::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Ring or stop ringing an agent's phone.
    Queue(QueueCommand),
    /// The caller waited too long (or the queue is full): send the call to `number`.
    Overflow {
        /// The interaction.
        interaction: InteractionId,
        /// The number or SIP user to transfer the caller to.
        number: String,
    },
    /// The ACD cannot take the call: play a refusal and hang up.
    Reject {
        /// The interaction.
        interaction: InteractionId,
        /// Why.
        reason: RejectReason,
    },
    /// For agent desktops and supervisors (WebSocket/SSE).
    Event(Event),
    /// For the store.
    Persist(Record),
}

/// Why the ACD turned a caller away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The dialled queue number matches no queue.
    UnknownQueue,
    /// The queue (and its overflow chain) is full.
    QueueFull,
}

/// Events for desktops; the runtime publishes them (e.g. `agent.state_changed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An agent changed state.
    AgentStateChanged(AgentTransition),
    /// An interaction rings the agent.
    InteractionOffered {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The queue it came from.
        queue: QueueId,
        /// The caller's number.
        ani: String,
        /// The dialled number.
        dnis: String,
        /// A callback: the desktop accepts it to dial the customer (`ani`).
        callback: bool,
    },
    /// A callback's attempt did not reach the customer; it is tried again later.
    CallbackRetrying {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Attempts made so far.
        attempts: u32,
        /// Why the last one failed.
        reason: String,
        /// When the next attempt becomes due (whole seconds in JSON).
        #[serde(with = "crate::routing::model::duration_secs")]
        retry_in: Duration,
    },
    /// A callback ran out of attempts.
    CallbackFailed {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        reason: String,
    },
    /// The agent answered; caller and agent talk.
    InteractionConnected {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The queue.
        queue: QueueId,
    },
    /// The customer's contact is over.
    InteractionEnded {
        /// The interaction.
        interaction: InteractionId,
        /// The agent it was connected to (or ringing), if any.
        agent: Option<AgentId>,
        /// The queue.
        queue: QueueId,
        /// The caller hung up before being connected.
        abandoned: bool,
    },
    /// The agent must wrap the interaction up.
    WrapUpRequired {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The queue.
        queue: QueueId,
        /// A disposition code must be given.
        disposition_required: bool,
        /// The agent handed the call over: the wrap-up is of the agent's own part.
        handed_over: bool,
    },
    /// The offer rang out; the agent is in RONA.
    AgentRona {
        /// The agent.
        agent: AgentId,
        /// The interaction that rang out.
        interaction: InteractionId,
    },
    /// A queue's figures changed.
    QueueStats {
        /// The queue.
        queue: QueueId,
        /// Callers waiting (not ringing).
        waiting: usize,
        /// The longest-waiting caller's wait, since reaching the ACD (whole seconds in JSON).
        #[serde(with = "crate::routing::model::duration_secs")]
        longest_wait: Duration,
        /// Available agents who serve the queue.
        available_agents: usize,
    },
}

/// Rows for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An agent state change.
    AgentTransition(AgentTransition),
    /// An interaction state change.
    Interaction(InteractionChange),
    /// An agent handed a connected interaction over (transfer): its own part ended.
    HandedOver(AgentPart),
    /// The wrap-up of a part handed over ended (finished or expired), `at`.
    PartWrappedUp {
        /// The interaction.
        interaction: InteractionId,
        /// The agent whose part it was.
        agent: AgentId,
        /// The disposition code given to the ACD, if any.
        disposition: Option<String>,
        /// When.
        at: Instant,
    },
}

/// An agent's part of an interaction it handed over to someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPart {
    /// The interaction.
    pub interaction: InteractionId,
    /// The agent.
    pub agent: AgentId,
    /// When the agent answered.
    pub answered_at: Instant,
    /// When it handed the interaction over.
    pub at: Instant,
}

/// One interaction state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionChange {
    /// The interaction.
    pub interaction: InteractionId,
    /// The state entered.
    pub state: InteractionState,
    /// The queue involved, if any.
    pub queue: Option<QueueId>,
    /// The agent involved, if any.
    pub agent: Option<AgentId>,
    /// Why.
    pub reason: InteractionReason,
    /// The disposition code (wrap-up done).
    pub disposition: Option<String>,
    /// When (the runtime maps it to wall-clock time).
    pub at: Instant,
}

/// Why an interaction changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionReason {
    /// The caller reached a queue number.
    Arrived,
    /// An `Enqueue` command (transfer to queue) put it in the queue.
    Enqueued,
    /// It overflowed in from another queue.
    OverflowedIn,
    /// It was offered to an agent.
    Offered,
    /// The offer rang out (RONA); back to the head of the queue.
    RingTimeout,
    /// The agent declined; back to the head of the queue.
    Declined,
    /// The agent's phone could not be reached; back to the head of the queue.
    DeviceUnavailable,
    /// A ring-all round was not answered; back to the head of the queue.
    RingAllTimeout,
    /// The agent answered.
    Answered,
    /// The caller hung up before being connected.
    Abandoned,
    /// The connected call ended.
    CallEnded,
    /// The agent transferred the call away (to a queue).
    Transferred,
    /// It overflowed to an outside number and left the ACD.
    OverflowedOut,
    /// The ACD turned it away.
    Rejected,
    /// An outdial did not connect.
    OutdialFailed,
    /// A callback was cancelled before it connected.
    Cancelled,
    /// A callback waits for its time.
    Scheduled,
    /// Wrap-up finished (or expired).
    WrappedUp,
}

impl InteractionReason {
    /// The reason as the database spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionReason::Arrived => "arrived",
            InteractionReason::Enqueued => "enqueued",
            InteractionReason::OverflowedIn => "overflowed_in",
            InteractionReason::Offered => "offered",
            InteractionReason::RingTimeout => "ring_timeout",
            InteractionReason::Declined => "declined",
            InteractionReason::DeviceUnavailable => "device_unavailable",
            InteractionReason::RingAllTimeout => "ring_all_timeout",
            InteractionReason::Answered => "answered",
            InteractionReason::Abandoned => "abandoned",
            InteractionReason::CallEnded => "call_ended",
            InteractionReason::Transferred => "transferred",
            InteractionReason::OverflowedOut => "overflowed_out",
            InteractionReason::Rejected => "rejected",
            InteractionReason::OutdialFailed => "outdial_failed",
            InteractionReason::Cancelled => "cancelled",
            InteractionReason::Scheduled => "scheduled",
            InteractionReason::WrappedUp => "wrapped_up",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::agent::TransitionReason;
    use crate::routing::model::{Actor, AgentState};

    #[test]
    fn desktop_events_serialise_with_a_type_tag() {
        let event = Event::AgentStateChanged(AgentTransition {
            agent: "alice".into(),
            from: AgentState::Available,
            to: AgentState::Rona,
            actor: Actor::System,
            reason: TransitionReason::RingTimeout,
            at: crate::runtime::clock::now(),
        });
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "type": "agent_state_changed",
                "agent": "alice",
                "from": {"state": "available"},
                "to": {"state": "rona"},
                "actor": {"type": "system"},
                "reason": "ring_timeout",
            })
        );
        let rona = Event::AgentRona {
            agent: "alice".into(),
            interaction: "ix-1".into(),
        };
        assert_eq!(
            serde_json::to_value(&rona).unwrap(),
            serde_json::json!({"type": "agent_rona", "agent": "alice", "interaction": "ix-1"})
        );
        let stats = Event::QueueStats {
            queue: "sales".into(),
            waiting: 2,
            longest_wait: Duration::from_millis(61_500),
            available_agents: 1,
        };
        assert_eq!(serde_json::to_value(&stats).unwrap()["longest_wait"], 61);
    }
}
