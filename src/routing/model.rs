//! The contact-center vocabulary shared by the ACD core, the store and the CTI API: agents,
//! their states, queues and their strategies, interactions and their states.
//!
//! These are plain data (serde-friendly, no IO); the ACD core owns the live state machines,
//! the store persists these shapes, and the CTI API renders them.

use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use crate::ids::{AgentId, InteractionId, QueueId, TeamId};

/// What an agent may do through the CTI API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Handles its own interactions.
    Agent,
    /// Oversees its teams' agents and interactions.
    Supervisor,
    /// Configures everything.
    Admin,
}

/// A skill an agent has, or a queue requires, with a level from 1 (basic) to 10 (expert).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Skill {
    /// The skill's name, e.g. `"french"`.
    pub name: String,
    /// 1..=10.
    pub level: u8,
}

/// The agent state machine's states (Webex Contact Center's vocabulary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    /// Not logged in: no device, never offered anything.
    LoggedOut,
    /// Logged in but not taking calls, for an admin-defined reason code.
    Idle {
        /// An idle reason code's id, e.g. `"lunch"`.
        reason: String,
    },
    /// Ready for the next offer.
    Available,
    /// An offer is ringing the agent's device.
    Reserved {
        /// The interaction being offered.
        interaction: InteractionId,
    },
    /// On a call.
    Engaged {
        /// The connected interaction.
        interaction: InteractionId,
    },
    /// After a call, filling in the disposition.
    WrapUp {
        /// The interaction being wrapped up.
        interaction: InteractionId,
    },
    /// Redirection on no answer: an offer rang out; the agent must make itself Available again.
    Rona,
}

impl AgentState {
    /// The state's name as the API spells it.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Idle { .. } => "idle",
            AgentState::Available => "available",
            AgentState::Reserved { .. } => "reserved",
            AgentState::Engaged { .. } => "engaged",
            AgentState::WrapUp { .. } => "wrap_up",
            AgentState::Rona => "rona",
        }
    }
}

/// How a queue picks the agent for its next caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The Available agent who has been idle longest (since their last call ended).
    #[default]
    LongestIdle,
    /// Agents in turn, continuing after the last one offered.
    RoundRobin,
    /// Every Available agent rings at once; the first to answer wins.
    RingAll,
    /// Only agents holding every required skill at the required level; the most skilled first,
    /// longest idle among equals.
    SkillsBased,
}

/// Where a caller goes after waiting `max_wait` in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum OverflowTarget {
    /// Another queue (the caller keeps its original arrival time for priority).
    Queue(QueueId),
    /// A number or SIP user the switch dials.
    Number(String),
}

/// A queue's routing configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// The queue's id.
    pub id: QueueId,
    /// Display name.
    pub name: String,
    /// The number or SIP user that reaches the queue, e.g. `"7000"`.
    pub number: String,
    /// How the next agent is chosen.
    pub strategy: Strategy,
    /// Skills an agent needs to be offered this queue's calls (skills-based routing; other
    /// strategies also honour them when present).
    pub required_skills: Vec<Skill>,
    /// Agents (by team) who serve the queue; empty means every team.
    pub teams: Vec<TeamId>,
    /// How long an offer rings before RONA.
    #[serde(with = "duration_secs")]
    pub ring_timeout: Duration,
    /// How long a caller waits before overflowing; `None` waits forever.
    #[serde(with = "opt_duration_secs")]
    pub max_wait: Option<Duration>,
    /// Where callers go after `max_wait`.
    pub overflow: Option<OverflowTarget>,
    /// Longest wrap-up before the agent is made Available again; `None` uses the org's.
    #[serde(with = "opt_duration_secs")]
    pub wrap_up_max: Option<Duration>,
    /// A returning caller goes first to the agent of their last interaction, if Available.
    pub last_agent_routing: bool,
    /// A disposition code is required before an interaction of this queue is done.
    pub disposition_required: bool,
    /// Music on hold while queued: a WAV path under `sip-profiles/`; `None` uses the profile's.
    pub music: Option<String>,
    /// Record this queue's calls; `None` follows the org setting.
    #[serde(default)]
    pub recording: Option<bool>,
    /// Clean this queue's callers' audio before agents hear it; `None` follows the org setting.
    #[serde(default)]
    pub noise_suppression: Option<bool>,
    /// Most live calls (waiting, ringing or talking) the queue takes at once; beyond it a
    /// caller is refused 486 with `Reason: ...;text="queue_calls"` before it is answered. 0:
    /// no limit.
    #[serde(default)]
    pub max_calls: u32,
    /// The number customers see when agents call out for this queue (click-to-dial,
    /// callbacks), in E.164; `None`: the trunk's caller ID.
    #[serde(default)]
    pub outdial_caller_id: Option<String>,
    /// A caller whose estimated wait exceeds this is offered a courtesy callback; `None`:
    /// never.
    #[serde(default, with = "opt_duration_secs")]
    pub courtesy_callback_after: Option<Duration>,
    /// The courtesy callback offer ("press 1 to be called back at this number, 2 to key in
    /// another"), a WAV path under `sip-profiles/`; `None`: the profile's.
    #[serde(default)]
    pub courtesy_prompt: Option<String>,
}

/// A routable agent's configuration (what the ACD needs; credentials live in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// The agent's id.
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// The agent's team.
    pub team: Option<TeamId>,
    /// Skills and levels.
    pub skills: Vec<Skill>,
    /// The agent's role.
    pub role: Role,
    /// What the agent may dial from the desktop, at most (the extension's class still
    /// applies); `None`: the extension's class alone.
    #[serde(default)]
    pub calling_class: Option<crate::dialing::CallingClass>,
}

/// Organisation-wide routing settings; queues override some of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgSettings {
    /// Wrap-up limit for queues without their own `wrap_up_max`.
    #[serde(with = "duration_secs")]
    pub default_wrap_up_max: Duration,
    /// Ring timeout for queues whose `ring_timeout` is zero.
    #[serde(with = "duration_secs")]
    pub default_ring_timeout: Duration,
    /// Most callers one queue holds (waiting or ringing); beyond it a caller overflows to the
    /// queue's overflow target or is turned away.
    pub max_waiting_per_queue: usize,
    /// Handle time assumed for expected-wait estimates until a queue has observed some.
    #[serde(with = "duration_secs")]
    pub default_handle_time: Duration,
    /// How many callers last-agent routing remembers.
    pub last_agent_memory: usize,
    /// How long a callback whose customer did not answer waits before the next attempt.
    #[serde(with = "duration_secs")]
    pub callback_retry: Duration,
    /// Attempts at a callback before it ends as failed.
    pub callback_max_attempts: u32,
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            default_wrap_up_max: Duration::from_secs(60),
            default_ring_timeout: Duration::from_secs(20),
            max_waiting_per_queue: 500,
            default_handle_time: Duration::from_secs(180),
            last_agent_memory: 10_000,
            callback_retry: Duration::from_secs(300),
            callback_max_attempts: 3,
        }
    }
}

/// Interaction states (one customer contact, whatever the media).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InteractionState {
    /// Waiting in a queue.
    Queued,
    /// A callback waiting for its time (scheduled, or a retry after an attempt failed).
    Scheduled,
    /// Ringing an agent.
    Offered,
    /// Customer and agent talk.
    Connected,
    /// The customer is on hold.
    Held,
    /// The agent consults a third party.
    Consulting,
    /// Three or more parties talk.
    Conferenced,
    /// The customer's contact is over; wrap-up may follow.
    Ended,
    /// Wrap-up is done; the interaction is closed.
    WrappedUp,
    /// The switch stopped (a crash) while the contact was live; closed at the next start.
    Interrupted,
}

impl InteractionState {
    /// The state's name as the API and the database spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            InteractionState::Queued => "queued",
            InteractionState::Scheduled => "scheduled",
            InteractionState::Offered => "offered",
            InteractionState::Connected => "connected",
            InteractionState::Held => "held",
            InteractionState::Consulting => "consulting",
            InteractionState::Conferenced => "conferenced",
            InteractionState::Ended => "ended",
            InteractionState::WrappedUp => "wrapped_up",
            InteractionState::Interrupted => "interrupted",
        }
    }

    /// Parses [`InteractionState::as_str`]'s spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<InteractionState> {
        [
            InteractionState::Queued,
            InteractionState::Scheduled,
            InteractionState::Offered,
            InteractionState::Connected,
            InteractionState::Held,
            InteractionState::Consulting,
            InteractionState::Conferenced,
            InteractionState::Ended,
            InteractionState::WrappedUp,
            InteractionState::Interrupted,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// Media of an interaction; only voice is routed today, the model leaves room for others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    /// A phone call.
    #[default]
    Voice,
    /// A web chat (not routed yet).
    Chat,
    /// An email (not routed yet).
    Email,
}

/// Who caused a change: an agent (through the API), the system (a timer, the SIP side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// The agent or supervisor with this id.
    Agent(AgentId),
    /// An API token with this id (integrations).
    Token(String),
    /// The switch itself (timers, SIP events).
    System,
}

impl Actor {
    /// As one string for logs and sidecars: the agent id, `token:<id>` or `system`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Actor::Agent(id) => id.to_string(),
            Actor::Token(id) => format!("token:{id}"),
            Actor::System => "system".into(),
        }
    }
}

pub(crate) mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod opt_duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_states_round_trip_through_their_names() {
        for name in [
            "queued",
            "offered",
            "connected",
            "held",
            "consulting",
            "conferenced",
            "ended",
            "wrapped_up",
        ] {
            assert_eq!(InteractionState::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(InteractionState::parse("lost"), None);
    }

    #[test]
    fn agent_states_serialise_with_a_state_tag() {
        let json = serde_json::to_value(AgentState::Idle {
            reason: "lunch".into(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "idle", "reason": "lunch"})
        );
    }
}
