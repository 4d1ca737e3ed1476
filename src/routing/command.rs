//! What the runtime feeds the ACD: agent requests from desktops and supervisors, the switch's
//! queue events, configuration, and transfers into a queue.

use super::model::{Actor, AgentConfig, AgentId, InteractionId, OrgSettings, QueueConfig, QueueId};
use crate::call::QueueEvent;
use std::time::Instant;

/// A state an agent (or a supervisor for them) may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedState {
    /// Ready for offers.
    Available,
    /// Not taking offers, for an idle reason code.
    Idle {
        /// The idle reason code, e.g. `"lunch"`.
        reason: String,
    },
}

/// One input to [`super::Acd::handle_command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Log an agent in at a phone extension; the agent lands in Idle.
    Login {
        /// The agent.
        agent: AgentId,
        /// The extension the ACD rings for offers.
        extension: String,
        /// Who asked.
        actor: Actor,
    },
    /// Log an agent out (refused while an offer rings or a call is connected).
    Logout {
        /// The agent.
        agent: AgentId,
        /// Who asked (the agent or a supervisor).
        actor: Actor,
    },
    /// Set an agent Available or Idle (refused while Reserved or Engaged; ends wrap-up).
    SetState {
        /// The agent.
        agent: AgentId,
        /// The state asked for.
        state: RequestedState,
        /// Who asked (the agent or a supervisor).
        actor: Actor,
    },
    /// The agent finished wrap-up, with a disposition code if the queue requires one.
    FinishWrapUp {
        /// The agent.
        agent: AgentId,
        /// The disposition code.
        disposition: Option<String>,
        /// Who asked.
        actor: Actor,
    },
    /// The agent accepted the offer on the desktop; informational only, since the phone's
    /// answer is what connects. Refused if no such offer rings the agent.
    AcceptOffer {
        /// The agent.
        agent: AgentId,
        /// The offered interaction.
        interaction: InteractionId,
    },
    /// The agent declined the offer on the desktop: the offer is withdrawn, the agent stays
    /// Available (not RONA) and the caller goes back to the head of the queue.
    DeclineOffer {
        /// The agent.
        agent: AgentId,
        /// The offered interaction.
        interaction: InteractionId,
    },
    /// Put an interaction into a queue: a blind transfer to a queue, or any re-entry. A
    /// connected interaction's agent goes to wrap-up; a queued or ringing one moves over. A
    /// known interaction keeps its arrival time.
    Enqueue {
        /// The interaction.
        interaction: InteractionId,
        /// The target queue.
        queue: QueueId,
        /// The caller's number.
        ani: String,
        /// The dialled number.
        dnis: String,
        /// Higher goes first.
        priority: u8,
    },
    /// The agent calls `number` for `queue` (click-to-dial): the agent's phone rings first,
    /// then the customer's. Refused unless the agent is Available or Idle.
    Outdial {
        /// The new interaction's id.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// The queue the call is made for.
        queue: QueueId,
        /// The customer's number, as the switch dials it.
        number: String,
    },
    /// A customer asked to be called back at `number` (web form, or a caller who pressed 1
    /// in a queue): it waits in `queue` like a caller, from `at` when that is later than
    /// now, having been tried `attempts` times already (a callback restored after a restart).
    Callback {
        /// The interaction.
        interaction: InteractionId,
        /// Where it waits.
        queue: QueueId,
        /// The customer's number, as the switch dials it.
        number: String,
        /// What the customer reached (the widget's or the queue's number), for the pop-up.
        dnis: String,
        /// Not before then.
        at: Option<Instant>,
        /// Attempts already made.
        attempts: u32,
    },
    /// A waiting caller chose a courtesy callback to `number`: the interaction becomes a
    /// callback where it stands in its queue, and the caller may hang up. Refused unless it
    /// is waiting in a queue.
    ConvertToCallback {
        /// The interaction.
        interaction: InteractionId,
        /// The number to call back (E.164).
        number: String,
    },
    /// A callback that has not connected is cancelled (by the customer or a supervisor).
    CancelCallback {
        /// The interaction.
        interaction: InteractionId,
    },
    /// An event from the switch about a queue call.
    Switch(QueueEvent),
    /// Create or change a queue.
    UpsertQueue(QueueConfig),
    /// Remove a queue (refused while callers are in it).
    RemoveQueue(QueueId),
    /// Create or change an agent (skills and team apply to the next offer).
    UpsertAgent(AgentConfig),
    /// Remove an agent (refused while Reserved or Engaged; logs them out otherwise).
    RemoveAgent(AgentId),
    /// Replace the organisation's settings.
    SetOrgSettings(OrgSettings),
    /// Seed last-agent routing: `agent` handled `ani`'s last interaction.
    RememberLastAgent {
        /// The caller's number.
        ani: String,
        /// The agent.
        agent: AgentId,
    },
}
