//! One agent's state machine (`LoggedOut → Idle → Available → Reserved → Engaged →
//! WrapUp`, with `Rona` after an unanswered offer) and the agent's own wrap-up timer.
//!
//! ```text
//!  from                        input                                 to
//!  LoggedOut                   login {extension}                     Idle{"logged_in"}
//!  Idle | Available | Rona     set Available / set Idle{r} / logout  Available / Idle{r} /
//!  WrapUp (ends the wrap-up)                                         LoggedOut
//!  Available                   offer                                 Reserved{ix}
//!  Reserved{ix}                phone answered                        Engaged{ix}
//!  Reserved{ix}                ring timeout                          Rona
//!  Reserved{ix}                declined (desktop or 603)             Available
//!  Reserved{ix}                device unavailable                    Idle{"device_unavailable"}
//!  Reserved{ix}                abandoned / answered elsewhere /      Available
//!                              ring-all round over / withdrawn
//!  Available | Rona | Idle     answer that crossed a withdrawal      Engaged{ix}
//!  Engaged{ix}                 call ended / transferred away         WrapUp{ix}, wrap-up timer
//!  WrapUp{ix}                  finish wrap-up / wrap-up timer        Available
//!  Reserved | Engaged          logout / set state                    refused (typed error)
//!  Available | Idle            consulted by another agent            Reserved{ix}
//!  Reserved | Engaged (consult) consult failed / ended                the state before it
//!  Engaged (consult)           takes the customer over               Engaged (own call now)
//!  Available | Idle            handed a customer by a phone's        Engaged{ix}
//!                              attended transfer
//!  Available | Idle            places an outdial (click-to-dial)     Reserved{ix}
//!  Reserved{ix} (outdial)      the call did not connect              the state before it
//!  WrapUp{ix} (outdial)        finish wrap-up / wrap-up timer        the state before it
//! ```
//!
//! Choices where the issue is silent, with Webex Contact Center and FreeSWITCH
//! mod_callcenter as yardsticks:
//! - Login lands in `Idle{reason: "logged_in"}` (Webex: agents sign in to an idle code and
//!   choose Available themselves).
//! - `Rona` is sticky: the agent stays out of rotation until they (or a supervisor) set
//!   Available or Idle, as in Webex.
//! - A declined offer returns the agent to Available at once, keeping their idle time (they
//!   did not take a call); the ACD never offers them that interaction again.
//! - An unreachable phone (`DeviceUnavailable`: unregistered, busy, erroring) moves the agent
//!   to `Idle{reason: "device_unavailable"}`. Staying Available would drag every caller
//!   through a failed offer; Webex likewise takes an agent whose device cannot be reached out
//!   of rotation. The agent sets Available once the phone is back.
//! - Setting a state during wrap-up ends the wrap-up (Available or Idle, as asked); logging
//!   out during wrap-up is allowed. While Reserved or Engaged every state change is refused.
//! - A consulted agent may be Available or Idle (Webex lets an agent consult an idle
//!   colleague); when the consult ends or fails they return to exactly that state, without
//!   wrap-up and without RONA (the consulting agent, not the queue, rang them).
//! - An agent places an outdial from Available or Idle (Webex lets an Idle agent dial out, and
//!   an Available one is taken out of rotation while it rings). While the agent's phone and
//!   then the customer ring, the agent is Reserved; if the call never connects the agent goes
//!   straight back to the state before it, without wrap-up or RONA (nothing the queue sent
//!   was missed). A connected outdial is wrapped up like any call, and afterwards the agent
//!   returns to the state before the outdial (an Idle agent who called a customer back is not
//!   made Available by it), as Webex Contact Center does.
//! - Idle time (for longest-idle) runs from when the agent's last call ended, or from when
//!   they last became Available from LoggedOut, Idle or Rona; a withdrawn or declined offer
//!   does not reset it.

use super::model::{Actor, AgentConfig, AgentId, AgentState, InteractionId, QueueId};
use super::timer::TimerTable;
use serde::Serialize;
use std::time::{Duration, Instant};

/// The idle reason an agent gets when logging in.
pub const LOGIN_IDLE_REASON: &str = "logged_in";
/// The idle reason an agent gets when their phone cannot be reached.
pub const DEVICE_UNAVAILABLE_REASON: &str = "device_unavailable";

/// Why an agent changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionReason {
    /// The agent logged in.
    Login,
    /// The agent (or a supervisor) logged the agent out.
    Logout,
    /// The agent (or a supervisor) asked for the new state.
    Requested,
    /// The ACD offered an interaction.
    Offered,
    /// The agent's phone answered the offer.
    Answered,
    /// The offer rang out (RONA).
    RingTimeout,
    /// The agent declined the offer (desktop or phone).
    Declined,
    /// The agent's phone could not be reached.
    DeviceUnavailable,
    /// The caller hung up while the offer rang.
    Abandoned,
    /// Ring-all: another agent answered first.
    AnsweredElsewhere,
    /// Ring-all: nobody answered in time; the round is over.
    RingAllTimeout,
    /// The offer was withdrawn because the caller left the queue (transfer, removal).
    Withdrawn,
    /// The connected call ended.
    CallEnded,
    /// The agent transferred the call away.
    Transferred,
    /// The agent finished wrap-up.
    WrapUpFinished,
    /// The wrap-up time ran out.
    WrapUpExpired,
    /// Another agent consults this one: the phone rings.
    ConsultOffered,
    /// The consult is over (ended, or the consulted agent left); no wrap-up for them.
    ConsultEnded,
    /// The consult was not answered or was declined.
    ConsultFailed,
    /// A colleague's phone handed this agent its customer (attended transfer from the phone)
    /// without a desktop consult first.
    TransferReceived,
    /// The agent placed an outdial: its phone rings first.
    Outdial,
    /// The outdial did not connect (a phone did not answer, the number was refused).
    OutdialFailed,
}

impl TransitionReason {
    /// The reason as the API and the database spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionReason::Login => "login",
            TransitionReason::Logout => "logout",
            TransitionReason::Requested => "requested",
            TransitionReason::Offered => "offered",
            TransitionReason::Answered => "answered",
            TransitionReason::RingTimeout => "ring_timeout",
            TransitionReason::Declined => "declined",
            TransitionReason::DeviceUnavailable => "device_unavailable",
            TransitionReason::Abandoned => "abandoned",
            TransitionReason::AnsweredElsewhere => "answered_elsewhere",
            TransitionReason::RingAllTimeout => "ring_all_timeout",
            TransitionReason::Withdrawn => "withdrawn",
            TransitionReason::CallEnded => "call_ended",
            TransitionReason::Transferred => "transferred",
            TransitionReason::WrapUpFinished => "wrap_up_finished",
            TransitionReason::WrapUpExpired => "wrap_up_expired",
            TransitionReason::ConsultOffered => "consult_offered",
            TransitionReason::ConsultEnded => "consult_ended",
            TransitionReason::ConsultFailed => "consult_failed",
            TransitionReason::TransferReceived => "transfer_received",
            TransitionReason::Outdial => "outdial",
            TransitionReason::OutdialFailed => "outdial_failed",
        }
    }
}

/// One agent state change, for persistence and for `agent.state_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentTransition {
    /// The agent.
    pub agent: AgentId,
    /// The state left.
    pub from: AgentState,
    /// The state entered.
    pub to: AgentState,
    /// Who caused it.
    pub actor: Actor,
    /// Why.
    pub reason: TransitionReason,
    /// When (the runtime maps it to wall-clock time).
    #[serde(skip)]
    pub at: Instant,
}

/// Why an agent refused a request; the CTI layer maps these to 409s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The agent must log in first.
    #[error("agent is logged out")]
    NotLoggedIn,
    /// The agent is already logged in.
    #[error("agent is already logged in")]
    AlreadyLoggedIn,
    /// An offer is ringing the agent; it must be answered, declined or time out first.
    #[error("an offer for interaction {interaction} is pending")]
    OfferPending {
        /// The interaction ringing.
        interaction: InteractionId,
    },
    /// The agent is on a call.
    #[error("agent is engaged on interaction {interaction}")]
    Engaged {
        /// The connected interaction.
        interaction: InteractionId,
    },
    /// The agent is not Available for an offer.
    #[error("agent is {state}, not available")]
    NotAvailable {
        /// The agent's state name.
        state: &'static str,
    },
    /// No such offer is ringing the agent.
    #[error("no offer for that interaction is ringing the agent")]
    NoSuchOffer,
    /// The agent is not in wrap-up.
    #[error("agent is not in wrap-up")]
    NotInWrapUp,
    /// The agent is not on a call.
    #[error("agent is not on a call")]
    NotOnCall,
}

impl AgentError {
    /// A stable snake_case code for the refusal.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AgentError::NotLoggedIn => "logged_out",
            AgentError::AlreadyLoggedIn => "already_logged_in",
            AgentError::OfferPending { .. } => "offer_pending",
            AgentError::Engaged { .. } => "engaged",
            AgentError::NotAvailable { .. } => "not_available",
            AgentError::NoSuchOffer => "no_such_offer",
            AgentError::NotInWrapUp => "not_in_wrap_up",
            AgentError::NotOnCall => "not_on_call",
        }
    }
}

/// What the ACD knows about the call an agent wraps up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapUpContext {
    /// The interaction wrapped up.
    pub interaction: InteractionId,
    /// The queue it came from.
    pub queue: QueueId,
    /// When the agent answered it.
    pub answered_at: Instant,
    /// A disposition code must be given to finish.
    pub disposition_required: bool,
    /// The agent handed the interaction over (transfer): its wrap-up closes only its own
    /// part, never the interaction the next agent now owns.
    pub handed_over: bool,
}

/// Inputs to the agent state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentInput {
    /// Log in with a phone extension.
    Login {
        /// The extension the ACD rings.
        extension: String,
    },
    /// Log out.
    Logout,
    /// Become Available.
    SetAvailable,
    /// Become Idle for a reason code.
    SetIdle {
        /// The idle reason code.
        reason: String,
    },
    /// Ring the agent for an interaction.
    Offer {
        /// The interaction offered.
        interaction: InteractionId,
    },
    /// The phone answered the offer.
    Answer {
        /// The interaction answered.
        interaction: InteractionId,
    },
    /// The phone answered an offer the ACD had already withdrawn (the answer crossed the
    /// CANCEL). The switch has bridged the call, so the agent is engaged after all.
    AnswerAfterWithdrawal {
        /// The interaction answered.
        interaction: InteractionId,
    },
    /// The offer rang out.
    RingTimeout,
    /// The agent declined.
    Decline,
    /// The phone could not be reached.
    DeviceUnavailable,
    /// Another agent consults this one (Available or Idle) on `interaction`.
    ConsultOffer {
        /// The consulting agent's interaction.
        interaction: InteractionId,
    },
    /// The consult rang out, was declined, or is over: back to the state before it.
    ConsultRelease {
        /// Why.
        reason: TransitionReason,
    },
    /// The consulted agent took the customer over (warm transfer, or the consulting agent
    /// left the conference): from now on this is the agent's own call.
    ConsultTakeOver {
        /// The interaction taken over.
        interaction: InteractionId,
    },
    /// The ACD took the offer back for `reason` (abandon, ring-all, withdrawal).
    Rescind {
        /// Why.
        reason: TransitionReason,
    },
    /// The connected call ended (or was transferred away): start wrap-up.
    EndCall {
        /// What is being wrapped up.
        context: WrapUpContext,
        /// How long wrap-up may last.
        wrap_up_max: Duration,
        /// `CallEnded` or `Transferred`.
        reason: TransitionReason,
    },
    /// Wrap-up done.
    FinishWrapUp,
    /// The agent places an outdial for `interaction` (click-to-dial, a callback).
    Outdial {
        /// The outbound interaction.
        interaction: InteractionId,
    },
    /// The outdial did not connect: back to the state before it.
    OutdialFailed,
}

/// The agent's own timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgentTimer {
    /// Wrap-up runs out; the agent becomes Available.
    WrapUp,
}

/// One agent: configuration, device and live state.
#[derive(Debug, Clone)]
pub struct Agent {
    config: AgentConfig,
    extension: Option<String>,
    state: AgentState,
    since: Instant,
    idle_since: Instant,
    call_ended_at: Option<Instant>,
    wrap_up: Option<WrapUpContext>,
    timers: TimerTable<AgentTimer>,
    /// While consulted: the state to return to when the consult is over.
    before_consult: Option<AgentState>,
    /// From an outdial until its wrap-up ends: the state the agent dialled out from, where
    /// it returns.
    before_outdial: Option<AgentState>,
}

impl Agent {
    /// A configured agent, logged out.
    #[must_use]
    pub fn new(config: AgentConfig, now: Instant) -> Self {
        Agent {
            config,
            extension: None,
            state: AgentState::LoggedOut,
            since: now,
            idle_since: now,
            call_ended_at: None,
            wrap_up: None,
            timers: TimerTable::new(),
            before_consult: None,
            before_outdial: None,
        }
    }

    /// The agent's id.
    #[must_use]
    pub fn id(&self) -> &AgentId {
        &self.config.id
    }

    /// The agent's configuration.
    #[must_use]
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Replaces the configuration (skills, team); the live state stays.
    pub fn set_config(&mut self, config: AgentConfig) {
        self.config = config;
    }

    /// The extension rung for offers, while logged in.
    #[must_use]
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> &AgentState {
        &self.state
    }

    /// When the current state was entered.
    #[must_use]
    pub fn since(&self) -> Instant {
        self.since
    }

    /// Since when the agent counts as idle for longest-idle routing.
    #[must_use]
    pub fn idle_since(&self) -> Instant {
        self.idle_since
    }

    /// The call being wrapped up, while in `WrapUp`.
    #[must_use]
    pub fn wrap_up(&self) -> Option<&WrapUpContext> {
        self.wrap_up.as_ref()
    }

    /// The interaction ringing this agent, while Reserved.
    #[must_use]
    pub fn reserved_for(&self) -> Option<&InteractionId> {
        match &self.state {
            AgentState::Reserved { interaction } => Some(interaction),
            _ => None,
        }
    }

    /// Whether the agent can be offered an interaction now.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.state == AgentState::Available
    }

    /// The agent's next timer deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// Fires the agent's expired timers; returns the transition they caused, if any.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<AgentTransition> {
        let mut transition = None;
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                AgentTimer::WrapUp => {
                    if matches!(self.state, AgentState::WrapUp { .. }) {
                        let to = self.after_wrap_up();
                        transition = Some(self.enter(
                            now,
                            to,
                            Actor::System,
                            TransitionReason::WrapUpExpired,
                        ));
                    }
                }
            }
        }
        transition
    }

    /// Applies one input; `Ok(None)` means it changed nothing (e.g. Available → Available).
    ///
    /// # Errors
    /// An [`AgentError`] when the input is not allowed in the current state; the agent is
    /// then unchanged.
    pub fn handle(
        &mut self,
        now: Instant,
        input: AgentInput,
        actor: Actor,
    ) -> Result<Option<AgentTransition>, AgentError> {
        use AgentInput as In;
        use AgentState as S;
        let (to, reason) = match (&self.state, input) {
            (S::LoggedOut, In::Login { extension }) => {
                self.extension = Some(extension);
                (
                    S::Idle {
                        reason: LOGIN_IDLE_REASON.to_owned(),
                    },
                    TransitionReason::Login,
                )
            }
            (S::LoggedOut, _) => return Err(AgentError::NotLoggedIn),
            (_, In::Login { .. }) => return Err(AgentError::AlreadyLoggedIn),

            (S::Reserved { interaction }, In::Logout | In::SetAvailable | In::SetIdle { .. }) => {
                return Err(AgentError::OfferPending {
                    interaction: interaction.clone(),
                });
            }
            (S::Engaged { interaction }, In::Logout | In::SetAvailable | In::SetIdle { .. }) => {
                return Err(AgentError::Engaged {
                    interaction: interaction.clone(),
                });
            }
            (_, In::Logout) => (S::LoggedOut, TransitionReason::Logout),
            (S::Available, In::SetAvailable) => return Ok(None),
            (S::Idle { reason: old }, In::SetIdle { reason }) if *old == reason => {
                return Ok(None);
            }
            (_, In::SetAvailable) => (S::Available, TransitionReason::Requested),
            (_, In::SetIdle { reason }) => (S::Idle { reason }, TransitionReason::Requested),

            (S::Available | S::Idle { .. }, In::ConsultOffer { interaction }) => {
                self.before_consult = Some(self.state.clone());
                (
                    S::Reserved { interaction },
                    TransitionReason::ConsultOffered,
                )
            }
            (state, In::ConsultOffer { .. }) => {
                return Err(AgentError::NotAvailable {
                    state: state.name(),
                });
            }
            (S::Reserved { .. } | S::Engaged { .. }, In::ConsultRelease { reason })
                if self.before_consult.is_some() =>
            {
                let to = self.before_consult.take().unwrap_or(S::Available);
                (to, reason)
            }
            (_, In::ConsultRelease { .. }) => return Err(AgentError::NoSuchOffer),
            (S::Engaged { .. }, In::ConsultTakeOver { .. }) if self.before_consult.is_some() => {
                self.before_consult = None;
                return Ok(None);
            }
            // A phone's attended transfer reaches an agent the desktop never consulted.
            (S::Available | S::Idle { .. }, In::ConsultTakeOver { interaction }) => (
                S::Engaged { interaction },
                TransitionReason::TransferReceived,
            ),
            (_, In::ConsultTakeOver { .. }) => return Err(AgentError::NotOnCall),
            (S::Available | S::Idle { .. }, In::Outdial { interaction }) => {
                self.before_outdial = Some(self.state.clone());
                (S::Reserved { interaction }, TransitionReason::Outdial)
            }
            (S::Reserved { interaction }, In::Outdial { .. }) => {
                return Err(AgentError::OfferPending {
                    interaction: interaction.clone(),
                });
            }
            (S::Engaged { interaction }, In::Outdial { .. }) => {
                return Err(AgentError::Engaged {
                    interaction: interaction.clone(),
                });
            }
            (state, In::Outdial { .. }) => {
                return Err(AgentError::NotAvailable {
                    state: state.name(),
                });
            }
            (S::Reserved { .. }, In::OutdialFailed) if self.before_outdial.is_some() => {
                let to = self.before_outdial.take().unwrap_or(S::Available);
                (to, TransitionReason::OutdialFailed)
            }
            (_, In::OutdialFailed) => return Err(AgentError::NoSuchOffer),
            (S::Available, In::Offer { interaction }) => {
                (S::Reserved { interaction }, TransitionReason::Offered)
            }
            (S::Reserved { interaction }, In::Offer { .. }) => {
                return Err(AgentError::OfferPending {
                    interaction: interaction.clone(),
                });
            }
            (state, In::Offer { .. }) => {
                return Err(AgentError::NotAvailable {
                    state: state.name(),
                });
            }

            (
                S::Reserved { interaction },
                In::Answer {
                    interaction: answered,
                },
            ) if *interaction == answered => (
                S::Engaged {
                    interaction: answered,
                },
                TransitionReason::Answered,
            ),
            (
                S::Available | S::Rona | S::Idle { .. },
                In::AnswerAfterWithdrawal { interaction },
            ) => (S::Engaged { interaction }, TransitionReason::Answered),
            (S::Reserved { .. }, In::RingTimeout) => (S::Rona, TransitionReason::RingTimeout),
            (S::Reserved { .. }, In::Decline) => (S::Available, TransitionReason::Declined),
            (S::Reserved { .. }, In::DeviceUnavailable) => (
                S::Idle {
                    reason: DEVICE_UNAVAILABLE_REASON.to_owned(),
                },
                TransitionReason::DeviceUnavailable,
            ),
            (S::Reserved { .. }, In::Rescind { reason }) => (S::Available, reason),
            (
                _,
                In::Answer { .. }
                | In::AnswerAfterWithdrawal { .. }
                | In::RingTimeout
                | In::Decline
                | In::DeviceUnavailable
                | In::Rescind { .. },
            ) => return Err(AgentError::NoSuchOffer),

            (
                S::Engaged { interaction },
                In::EndCall {
                    context,
                    wrap_up_max,
                    reason,
                },
            ) => {
                let to = S::WrapUp {
                    interaction: interaction.clone(),
                };
                self.call_ended_at = Some(now);
                self.wrap_up = Some(context);
                self.timers.set(AgentTimer::WrapUp, now + wrap_up_max);
                (to, reason)
            }
            (_, In::EndCall { .. }) => return Err(AgentError::NotOnCall),

            (S::WrapUp { .. }, In::FinishWrapUp) => {
                (self.after_wrap_up(), TransitionReason::WrapUpFinished)
            }
            (_, In::FinishWrapUp) => return Err(AgentError::NotInWrapUp),
        };
        Ok(Some(self.enter(now, to, actor, reason)))
    }

    /// Where wrap-up leads: Available, or the state an outdial was placed from.
    fn after_wrap_up(&mut self) -> AgentState {
        self.before_outdial.take().unwrap_or(AgentState::Available)
    }

    /// Enters `to`, keeping the idle clock and the timers consistent with it.
    fn enter(
        &mut self,
        now: Instant,
        to: AgentState,
        actor: Actor,
        reason: TransitionReason,
    ) -> AgentTransition {
        let from = std::mem::replace(&mut self.state, to.clone());
        if matches!(from, AgentState::WrapUp { .. }) && !matches!(to, AgentState::WrapUp { .. }) {
            self.timers.cancel(&AgentTimer::WrapUp);
            self.wrap_up = None;
        }
        if to == AgentState::Available {
            match from {
                AgentState::WrapUp { .. } => {
                    self.idle_since = self.call_ended_at.unwrap_or(now);
                }
                AgentState::Reserved { .. } | AgentState::Available => {}
                _ => self.idle_since = now,
            }
        }
        // An outdial's return state lasts while its call does (Reserved, Engaged, WrapUp);
        // any other state, asked for or reached, ends it.
        if !matches!(
            to,
            AgentState::Reserved { .. } | AgentState::Engaged { .. } | AgentState::WrapUp { .. }
        ) {
            self.before_outdial = None;
        }
        if to == AgentState::LoggedOut {
            self.extension = None;
            self.timers.clear();
        }
        self.since = now;
        AgentTransition {
            agent: self.config.id.clone(),
            from,
            to,
            actor,
            reason,
            at: now,
        }
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
