//! The routing layer's error: why the ACD refused a command. Timeouts, hang-ups and stale
//! switch events are outputs or no-ops, never errors.

use super::agent::AgentError;
use super::model::{AgentId, InteractionId, QueueId};

/// Why a command was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// No agent with that id is configured.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// No queue with that id is configured.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// The agent's state does not allow the request.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The queue still holds callers.
    #[error("queue {queue} still holds {callers} callers")]
    QueueBusy {
        /// The queue.
        queue: QueueId,
        /// How many callers are in it.
        callers: usize,
    },
    /// The agent is not Available (or has no device to ring).
    #[error("agent {0} is not available")]
    NotAvailable(AgentId),
    /// The interaction is not a connected call.
    #[error("interaction {0} is not connected")]
    NotConnected(InteractionId),
    /// No callback with that id is waiting or ringing (it connected, ended or never was).
    #[error("no callback {0} is waiting")]
    NoSuchCallback(InteractionId),
    /// The queue requires a disposition code to finish wrap-up.
    #[error("a disposition is required to finish wrap-up of {0}")]
    DispositionRequired(InteractionId),
}

impl RoutingError {
    /// A stable snake_case code for the refusal, for `<command>.failed` events.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RoutingError::UnknownAgent(_) => "unknown_agent",
            RoutingError::UnknownQueue(_) => "unknown_queue",
            RoutingError::Agent(e) => e.code(),
            RoutingError::QueueBusy { .. } => "queue_busy",
            RoutingError::NotAvailable(_) => "agent_not_available",
            RoutingError::NotConnected(_) => "not_connected",
            RoutingError::DispositionRequired(_) => "disposition_required",
            RoutingError::NoSuchCallback(_) => "no_such_callback",
        }
    }
}
