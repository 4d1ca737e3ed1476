//! What desktops and supervisors ask of live interactions, and why the core refuses.

use crate::media::recorder::PauseBehavior;
use crate::routing::model::{Actor, AgentId, InteractionId, QueueId};

/// A command on a live interaction, from a desktop or a supervisor. With `agent`, only if
/// that agent is engaged on it (consult steps: see [`ConsultAction`] for who may do what).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Hang up a connected interaction.
    End {
        interaction: InteractionId,
        agent: Option<AgentId>,
    },
    /// Hold (`true`) or resume (`false`) a connected interaction.
    Hold {
        interaction: InteractionId,
        agent: Option<AgentId>,
        held: bool,
    },
    /// Blind transfer of a connected interaction.
    Transfer {
        interaction: InteractionId,
        agent: Option<AgentId>,
        target: TransferTarget,
    },
    /// A consult step.
    Consult {
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: ConsultAction,
    },
    /// Pause or resume the recording of a connected interaction.
    Recording {
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: RecordingAction,
    },
    /// Turn noise suppression of one live interaction on or off (supervisor override).
    Denoise {
        interaction: InteractionId,
        agent: Option<AgentId>,
        enabled: bool,
        by: Actor,
    },
}

/// A consult step asked from the desktop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsultAction {
    /// Consult an agent, a queue's next agent, or a number; the customer goes on hold.
    Start(ConsultTarget),
    /// End the consult (the consulting agent) or leave it (the consulted agent).
    End,
    /// Warm transfer: the customer talks to the consulted party; the agent wraps up.
    Transfer,
    /// Three-way conference.
    Conference,
    /// Leave the conference: the consulted agent leaves it to the other two; the consulting
    /// agent hands it to the consulted party.
    Leave,
    /// The consulting agent drops a participant (the consulted party) from the conference.
    Drop(String),
}

/// Who a consult rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsultTarget {
    /// An Available or Idle agent.
    Agent(AgentId),
    /// The agent the queue's strategy picks among its Available agents.
    Queue(QueueId),
    /// A normalised number or SIP user.
    Number(String),
}

/// What to do with a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingAction {
    /// Pause, writing silence or skipping the span.
    Pause {
        behavior: PauseBehavior,
        who: String,
        why: Option<String>,
    },
    /// Resume (a person did it).
    Resume { who: String },
}

/// Where a blind transfer sends the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Rung directly; only an Available agent (never one in wrap-up). If the agent does not
    /// answer, the customer waits at the head of the queue it came from.
    Agent(AgentId),
    /// Routed by the ACD like a new arrival in that queue.
    Queue(QueueId),
    /// Rung like an agent's phone (a normalised number or SIP user).
    Number(String),
}

/// Why a live command on an interaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The interaction is not connected to this agent (or not live at all).
    #[error("the interaction is not connected to this agent")]
    NotEngaged,
    /// The customer is on hold: resume first (Webex refuses ending a held call).
    #[error("the customer is on hold; resume before ending the call")]
    Held,
    /// Hold asked of a held call, or resume of one that is not held.
    #[error("the customer is already {0}")]
    AlreadyThere(&'static str),
    /// The transfer target queue does not exist.
    #[error("no such queue")]
    UnknownQueue,
    /// The interaction is not being recorded.
    #[error("the interaction is not being recorded")]
    NotRecording,
    /// Pause or resume during a consult or conference while the org setting forbids it.
    #[error(
        "recording cannot be paused or resumed during a consult or conference \
         (setting recording_pause_during_consult)"
    )]
    RecordingLockedInConsult,
    /// Pause of a paused recording, or resume of one that is not paused.
    #[error("the recording is already {0}")]
    RecordingAlready(&'static str),
    /// A consult is already going on.
    #[error("a consult is already in progress")]
    ConsultInProgress,
    /// No consult is going on.
    #[error("there is no consult on this interaction")]
    NoConsult,
    /// Transfer, conference, hold or resume before the consulted party answered.
    #[error("the consult has not been answered yet")]
    ConsultNotAnswered,
    /// A blind transfer's agent is not Available (or is the transferring agent).
    #[error("that agent cannot take a transfer now (only Available agents can)")]
    TransferAgentUnavailable,
    /// The agent to consult is not logged in, not Available or Idle, or is the caller.
    #[error("that agent cannot be consulted now (only Available or Idle agents can)")]
    AgentUnavailable,
    /// A consult to a queue found no Available agent.
    #[error("no agent of that queue is available")]
    NobodyAvailable,
    /// Hold or resume during a conference.
    #[error("refused during a conference")]
    InConference,
    /// Leave asked outside a conference.
    #[error("the interaction is not in a conference")]
    NotInConference,
    /// Drop of someone who is not in the conference.
    #[error("no such participant")]
    NoSuchParticipant,
}

impl Refused {
    /// A stable snake_case code for the refusal, for `<command>.failed` events.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Refused::NotEngaged => "not_engaged",
            Refused::Held => "held",
            Refused::AlreadyThere("on hold") => "already_held",
            Refused::AlreadyThere("not on hold") => "not_held",
            Refused::AlreadyThere(_) => "already_in_conference",
            Refused::UnknownQueue => "unknown_queue",
            Refused::NotRecording => "not_recording",
            Refused::RecordingLockedInConsult => "recording_locked_in_consult",
            Refused::RecordingAlready("paused") => "already_paused",
            Refused::RecordingAlready(_) => "not_paused",
            Refused::ConsultInProgress => "consult_in_progress",
            Refused::NoConsult => "no_consult",
            Refused::ConsultNotAnswered => "consult_not_answered",
            Refused::TransferAgentUnavailable => "transfer_agent_unavailable",
            Refused::AgentUnavailable => "agent_unavailable",
            Refused::NobodyAvailable => "nobody_available",
            Refused::InConference => "in_conference",
            Refused::NotInConference => "not_in_conference",
            Refused::NoSuchParticipant => "no_such_participant",
        }
    }
}
