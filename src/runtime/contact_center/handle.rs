//! The API's side of the core: requests with a reply each, over a bounded channel.

use super::*;

/// Requests waiting for the core; beyond this, API calls get 503 instead of piling up.
pub const REQUEST_QUEUE: usize = 1024;

/// What the CTI API asks the core.
#[derive(Debug)]
pub enum CoreRequest {
    /// A routing command (login, state change, accept, decline, wrap-up, configuration).
    Acd {
        command: Command,
        reply: oneshot::Sender<Result<(), RoutingError>>,
    },
    /// An agent's live state and the extension it is logged in with.
    AgentState {
        agent: AgentId,
        reply: oneshot::Sender<Option<(AgentState, Option<String>)>>,
    },
    /// Every agent and queue as the ACD sees them now (the desktop's directory).
    Snapshot {
        reply: oneshot::Sender<crate::routing::Snapshot>,
    },
    /// Where a waiting caller stands.
    Position {
        interaction: InteractionId,
        reply: oneshot::Sender<Option<QueuePosition>>,
    },
    /// Hang up a connected interaction; with `agent`, only if that agent is engaged on it.
    End {
        interaction: InteractionId,
        agent: Option<AgentId>,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// The org settings changed (offer pop-up keys, recording, noise suppression).
    Settings(Box<OrgSettings>),
    /// Pause or resume the recording of a connected interaction; with `agent`, only if that
    /// agent is engaged on it.
    Recording {
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: RecordingAction,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// Data Shield: the timer of a pause ran out.
    AutoResume {
        interaction: InteractionId,
        pause: u64,
    },
    /// Turn noise suppression of one live interaction on or off (supervisor override).
    Denoise {
        interaction: InteractionId,
        /// With an agent, only if that agent is engaged on it.
        agent: Option<AgentId>,
        enabled: bool,
        by: Actor,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// Blind transfer of a connected interaction; with `agent`, only if that agent is
    /// engaged on it.
    Transfer {
        interaction: InteractionId,
        agent: Option<AgentId>,
        target: TransferTarget,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// A consult step; with `agent`, only as that agent may (see [`ConsultAction`]).
    Consult {
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: ConsultAction,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// Hold (`true`) or resume (`false`) a connected interaction; with `agent`, only if
    /// that agent is engaged on it.
    Hold {
        interaction: InteractionId,
        agent: Option<AgentId>,
        held: bool,
        reply: oneshot::Sender<Result<(), EndRefused>>,
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
    Queue(crate::routing::model::QueueId),
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
    Queue(crate::routing::model::QueueId),
    /// Rung like an agent's phone (a normalised number or SIP user).
    Number(String),
}

/// Why a live command on an interaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndRefused {
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

impl EndRefused {
    /// A stable snake_case code for the refusal, for `<command>.failed` events.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            EndRefused::NotEngaged => "not_engaged",
            EndRefused::Held => "held",
            EndRefused::AlreadyThere("on hold") => "already_held",
            EndRefused::AlreadyThere("not on hold") => "not_held",
            EndRefused::AlreadyThere(_) => "already_in_conference",
            EndRefused::UnknownQueue => "unknown_queue",
            EndRefused::NotRecording => "not_recording",
            EndRefused::RecordingLockedInConsult => "recording_locked_in_consult",
            EndRefused::RecordingAlready("paused") => "already_paused",
            EndRefused::RecordingAlready(_) => "not_paused",
            EndRefused::ConsultInProgress => "consult_in_progress",
            EndRefused::NoConsult => "no_consult",
            EndRefused::ConsultNotAnswered => "consult_not_answered",
            EndRefused::TransferAgentUnavailable => "transfer_agent_unavailable",
            EndRefused::AgentUnavailable => "agent_unavailable",
            EndRefused::NobodyAvailable => "nobody_available",
            EndRefused::InConference => "in_conference",
            EndRefused::NotInConference => "not_in_conference",
            EndRefused::NoSuchParticipant => "no_such_participant",
        }
    }
}

impl From<EndRefused> for crate::cti::ApiError {
    fn from(refused: EndRefused) -> Self {
        crate::cti::ApiError::refused(refused.code(), refused.to_string())
    }
}

/// The API's handle on the core. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoreHandle {
    tx: mpsc::Sender<CoreRequest>,
}

/// The core is not running (shutting down) or is too busy to take the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the switch core is unavailable")]
pub struct CoreUnavailable;

impl CoreHandle {
    /// A handle and the receiving end the core loop reads.
    #[must_use]
    pub fn channel() -> (CoreHandle, mpsc::Receiver<CoreRequest>) {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        (CoreHandle { tx }, rx)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> CoreRequest,
    ) -> Result<T, CoreUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(make(reply)).map_err(|_| CoreUnavailable)?;
        answer.await.map_err(|_| CoreUnavailable)
    }

    /// Runs a routing command.
    pub async fn acd(&self, command: Command) -> Result<Result<(), RoutingError>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Acd { command, reply }).await
    }

    /// An agent's live state and extension (`None`: unknown to the ACD).
    pub async fn agent_state(
        &self,
        agent: AgentId,
    ) -> Result<Option<(AgentState, Option<String>)>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::AgentState { agent, reply })
            .await
    }

    /// Every agent and queue with their live state.
    pub async fn snapshot(&self) -> Result<crate::routing::Snapshot, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Snapshot { reply }).await
    }

    /// A waiting caller's position and expected wait.
    pub async fn position(
        &self,
        interaction: InteractionId,
    ) -> Result<Option<QueuePosition>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Position { interaction, reply })
            .await
    }

    /// Hangs up a connected interaction.
    pub async fn end(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::End {
            interaction,
            agent,
            reply,
        })
        .await
    }

    /// Blindly transfers a connected interaction.
    pub async fn transfer(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        target: TransferTarget,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Transfer {
            interaction,
            agent,
            target,
            reply,
        })
        .await
    }

    /// A consult step.
    pub async fn consult(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: ConsultAction,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Consult {
            interaction,
            agent,
            action,
            reply,
        })
        .await
    }

    /// Holds (`held`) or resumes a connected interaction.
    pub async fn hold(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        held: bool,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Hold {
            interaction,
            agent,
            held,
            reply,
        })
        .await
    }

    /// Tells the core the org settings changed (fire and forget).
    pub fn settings_changed(&self, settings: OrgSettings) {
        let _ = self.tx.try_send(CoreRequest::Settings(Box::new(settings)));
    }

    /// Data Shield's timer ran out for pause number `pause` (fire and forget; a pause that
    /// was already resumed is left alone).
    pub fn auto_resume(&self, interaction: InteractionId, pause: u64) {
        let _ = self
            .tx
            .try_send(CoreRequest::AutoResume { interaction, pause });
    }

    /// Pauses or resumes a recording.
    pub async fn recording(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: RecordingAction,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Recording {
            interaction,
            agent,
            action,
            reply,
        })
        .await
    }

    /// Turns noise suppression of one live interaction on or off.
    pub async fn denoise(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        enabled: bool,
        by: Actor,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Denoise {
            interaction,
            agent,
            enabled,
            by,
            reply,
        })
        .await
    }
}
