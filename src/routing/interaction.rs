//! One customer contact as the ACD tracks it, from arrival until its agent is connected and
//! the call ends (wrap-up is then the agent's business, see `agent`).

use super::model::{AgentId, InteractionId, InteractionState, QueueId};
use std::collections::BTreeSet;
use std::time::Instant;

/// A live interaction: queued, ringing agents, or connected to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// The interaction's id (the switch's).
    pub id: InteractionId,
    /// The queue it is in (or was offered from).
    pub queue: QueueId,
    /// The caller's number.
    pub ani: String,
    /// The number the caller dialled.
    pub dnis: String,
    /// Higher goes first.
    pub priority: u8,
    /// When the caller first reached the ACD (kept across overflow and transfers).
    pub arrived_at: Instant,
    /// When it entered its current queue (max wait counts from here).
    pub enqueued_at: Instant,
    /// Queued, Offered or Connected.
    pub state: InteractionState,
    /// The agents whose phones ring for it (one, or several for ring-all).
    pub ringing: BTreeSet<AgentId>,
    /// The current offer is a ring-all round.
    pub ring_all: bool,
    /// The connected agent and when they answered.
    pub connected: Option<(AgentId, Instant)>,
    /// Agents who declined it; it is never offered to them again.
    pub declined_by: BTreeSet<AgentId>,
    /// The queue's max wait passed while an offer rang; it overflows if that offer fails.
    pub overdue: bool,
    /// An agent's own call out (click-to-dial, an accepted callback): the switch rings the
    /// agent's phone, then the customer.
    pub outdial: bool,
    /// A callback (web or courtesy): the customer waits off the line, the offer is a desktop
    /// pop-up, and accepting it dials out. `Some(attempts made so far)`.
    pub callback: Option<u32>,
}

impl Interaction {
    /// A new caller, not yet in any queue.
    #[must_use]
    pub fn new(
        id: InteractionId,
        queue: QueueId,
        ani: String,
        dnis: String,
        priority: u8,
        arrived_at: Instant,
    ) -> Self {
        Interaction {
            id,
            queue,
            ani,
            dnis,
            priority,
            arrived_at,
            enqueued_at: arrived_at,
            state: InteractionState::Queued,
            ringing: BTreeSet::new(),
            ring_all: false,
            connected: None,
            declined_by: BTreeSet::new(),
            overdue: false,
            outdial: false,
            callback: None,
        }
    }
}
