//! The ACD core: agents, queues and interactions tied together, sans-IO.
//!
//! Driven like every core in the crate (see the drain contract in `lib.rs`): one
//! `handle_command(now, ..)` or `handle_timeout(now)`, then `poll_output()` until `None`, then
//! sleep until `poll_timeout()`. After every input the ACD matches waiting callers with
//! Available agents until no pair is left, so an Available agent who qualifies for a waiting
//! caller never stays idle across inputs.
//!
//! This file holds the core's state, its verbs, agent and configuration commands and the
//! queries; `offer.rs` holds the call flow (dispatch, offers, switch events, timers).
//!
//! Choices where the issue is silent:
//! - Queue stats are coalesced: at most one `QueueStats` per queue per input, and only when
//!   its waiting or available count changed. Beyond [`MAX_PENDING_OUTPUTS`] undrained outputs
//!   stats are dropped (counted in [`Acd::dropped_events`]); switch commands, other events
//!   and records never are, since losing them would desynchronise the switch or the store.
//! - Expected wait is `position × average handle time ÷ staffed agents` (staffed: logged in
//!   and not Idle or RONA, serving the queue; at least one), with the org's default handle
//!   time until the queue has observed a call from answer to wrap-up done.
//! - A queue with callers in it cannot be removed; an agent cannot be removed while Reserved
//!   or Engaged (removing otherwise logs them out).
//! - The cap on waiting callers is org-wide (`OrgSettings::max_waiting_per_queue`), so
//!   `QueueConfig` keeps the shape the store and the API already use; beyond it a caller
//!   overflows to the queue's overflow target or is rejected.
//! - The ACD does not check permissions: `Actor` records who asked; the CTI layer decides
//!   whether a supervisor may change another agent's state.

use super::agent::{Agent, AgentInput, AgentTransition, TransitionReason, WrapUpContext};
use super::command::{Command, RequestedState};
use super::error::RoutingError;
use super::interaction::Interaction;
use super::last_agent::LastAgents;
use super::model::{
    Actor, AgentConfig, AgentId, AgentState, InteractionId, InteractionState, OrgSettings,
    QueueConfig, QueueId,
};
use super::output::{Event, InteractionChange, InteractionReason, Output, Record};
use super::queue::Queue;
use super::strategy;
use super::timer::TimerTable;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Undrained outputs beyond which informational queue stats are dropped.
pub const MAX_PENDING_OUTPUTS: usize = 65_536;

/// The shortest ring timeout and max wait the ACD arms: a zero from configuration would
/// otherwise re-arm a timer at the very instant it fired (two queues overflowing into each
/// other with no max wait would spin forever inside one `handle_timeout`).
pub const MIN_TIMER: Duration = Duration::from_secs(1);

/// The ACD's own timers (agents keep theirs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Timer {
    /// The current offer of an interaction rings out.
    Ring(InteractionId),
    /// An interaction has waited its queue's `max_wait`.
    MaxWait(InteractionId),
    /// A scheduled callback, or one retrying, becomes due.
    CallbackDue(InteractionId),
}

/// Where a waiting caller stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePosition {
    /// The queue.
    pub queue: QueueId,
    /// 1 is next.
    pub position: usize,
    /// The estimated wait until an agent is offered the call.
    pub expected_wait: Duration,
}

/// One agent in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// The agent's configuration.
    pub config: AgentConfig,
    /// The extension, while logged in.
    pub extension: Option<String>,
    /// The state.
    pub state: AgentState,
    /// How long the agent has been in that state.
    pub in_state_for: Duration,
}

/// One queue in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// The queue's configuration.
    pub config: QueueConfig,
    /// Waiting callers, head first.
    pub waiting: Vec<InteractionId>,
    /// Interactions ringing agents.
    pub ringing: usize,
    /// Interactions connected to agents.
    pub connected: usize,
    /// The longest-waiting caller's wait.
    pub longest_wait: Duration,
    /// Available agents who serve the queue.
    pub available_agents: usize,
}

/// Everything the API shows at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// All agents, by id.
    pub agents: Vec<AgentSnapshot>,
    /// All queues, by id.
    pub queues: Vec<QueueSnapshot>,
}

/// The automatic call distributor.
#[derive(Debug)]
pub struct Acd {
    pub(super) settings: OrgSettings,
    pub(super) agents: BTreeMap<AgentId, Agent>,
    pub(super) queues: BTreeMap<QueueId, Queue>,
    pub(super) interactions: HashMap<InteractionId, Interaction>,
    pub(super) timers: TimerTable<Timer>,
    pub(super) last_agents: LastAgents,
    outputs: VecDeque<Output>,
    dirty: BTreeSet<QueueId>,
    last_stats: HashMap<QueueId, (usize, usize)>,
    last_now: Option<Instant>,
    dropped_events: u64,
}

impl Default for Acd {
    fn default() -> Self {
        Acd::new(OrgSettings::default())
    }
}

impl Acd {
    /// An ACD with no agents and no queues.
    #[must_use]
    pub fn new(settings: OrgSettings) -> Self {
        Acd {
            last_agents: LastAgents::new(settings.last_agent_memory),
            settings,
            agents: BTreeMap::new(),
            queues: BTreeMap::new(),
            interactions: HashMap::new(),
            timers: TimerTable::new(),
            outputs: VecDeque::new(),
            dirty: BTreeSet::new(),
            last_stats: HashMap::new(),
            last_now: None,
            dropped_events: 0,
        }
    }

    /// Applies one command, then routes whatever became routable.
    ///
    /// # Errors
    /// A [`RoutingError`] when the command is refused; nothing changed then. Switch events
    /// never fail: stale or unknown ones are ignored.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<(), RoutingError> {
        let now = self.clock(now);
        let result = match command {
            Command::Login {
                agent,
                extension,
                actor,
            } => self
                .agent_input(now, &agent, AgentInput::Login { extension }, actor, None)
                .map(drop),
            Command::Logout { agent, actor } => self
                .agent_input(now, &agent, AgentInput::Logout, actor, None)
                .map(drop),
            Command::SetState {
                agent,
                state,
                actor,
            } => {
                let input = match state {
                    RequestedState::Available => AgentInput::SetAvailable,
                    RequestedState::Idle { reason } => AgentInput::SetIdle { reason },
                };
                self.agent_input(now, &agent, input, actor, None).map(drop)
            }
            Command::FinishWrapUp {
                agent,
                disposition,
                actor,
            } => self.finish_wrap_up(now, &agent, disposition, actor),
            Command::AcceptOffer { agent, interaction } => {
                let known = self
                    .agents
                    .get(&agent)
                    .ok_or_else(|| RoutingError::UnknownAgent(agent.clone()))?;
                if known.reserved_for() != Some(&interaction) {
                    Err(super::agent::AgentError::NoSuchOffer.into())
                } else {
                    self.accept_callback(&agent, &interaction);
                    Ok(())
                }
            }
            Command::DeclineOffer { agent, interaction } => self.decline(now, &agent, &interaction),
            Command::Outdial {
                interaction,
                agent,
                queue,
                number,
            } => self.outdial(now, interaction, &agent, &queue, number),
            Command::Callback {
                interaction,
                queue,
                number,
                dnis,
                at,
                attempts,
            } => self.callback(now, interaction, queue, number, dnis, at, attempts),
            Command::CancelCallback { interaction } => self.cancel_callback(now, &interaction),
            Command::ConvertToCallback {
                interaction,
                number,
            } => self.convert_to_callback(&interaction, number),
            Command::Enqueue {
                interaction,
                queue,
                ani,
                dnis,
                priority,
            } => self.enqueue(now, interaction, queue, ani, dnis, priority),
            Command::Switch(event) => {
                self.on_switch_event(now, event);
                Ok(())
            }
            Command::UpsertQueue(config) => {
                self.upsert_queue(now, config);
                Ok(())
            }
            Command::RemoveQueue(id) => self.remove_queue(&id),
            Command::UpsertAgent(config) => {
                self.upsert_agent(now, config);
                Ok(())
            }
            Command::RemoveAgent(id) => self.remove_agent(now, &id),
            Command::SetOrgSettings(settings) => {
                self.last_agents.set_capacity(settings.last_agent_memory);
                self.settings = settings;
                Ok(())
            }
            Command::RememberLastAgent { ani, agent } => {
                self.last_agents.remember(&ani, agent);
                Ok(())
            }
        };
        self.settle(now);
        result
    }

    /// Fires every timer due at `now` (ring timeouts, max waits, agents' wrap-up expiry).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Ring(interaction) => self.on_ring_timeout(now, &interaction),
                Timer::MaxWait(interaction) => self.on_max_wait(now, &interaction),
                Timer::CallbackDue(interaction) => self.on_callback_due(now, &interaction),
            }
        }
        let due: Vec<AgentId> = self
            .agents
            .values()
            .filter(|agent| agent.poll_timeout().is_some_and(|at| at <= now))
            .map(|agent| agent.id().clone())
            .collect();
        for id in due {
            let Some(agent) = self.agents.get_mut(&id) else {
                continue;
            };
            let wrap_up = agent.wrap_up().cloned();
            if let Some(transition) = agent.handle_timeout(now) {
                self.transitioned(now, transition, wrap_up, None);
            }
        }
        self.settle(now);
    }

    /// The next output to act on; drain until `None` after every `handle_*`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call `handle_timeout` next, if any timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let agents = self.agents.values().filter_map(Agent::poll_timeout).min();
        match (self.timers.earliest(), agents) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- queries ----

    /// The organisation's settings.
    #[must_use]
    pub fn settings(&self) -> &OrgSettings {
        &self.settings
    }

    /// An agent's state, if the agent is configured.
    #[must_use]
    pub fn agent_state(&self, agent: &AgentId) -> Option<&AgentState> {
        self.agents.get(agent).map(Agent::state)
    }

    /// An agent, if configured.
    #[must_use]
    pub fn agent(&self, agent: &AgentId) -> Option<&Agent> {
        self.agents.get(agent)
    }

    /// A queue, if configured.
    #[must_use]
    pub fn queue(&self, queue: &QueueId) -> Option<&Queue> {
        self.queues.get(queue)
    }

    /// A live interaction (queued, ringing or connected), if known.
    #[must_use]
    pub fn interaction(&self, interaction: &InteractionId) -> Option<&Interaction> {
        self.interactions.get(interaction)
    }

    /// A waiting caller's position and expected wait; `None` unless the caller is waiting.
    #[must_use]
    pub fn queue_position(&self, interaction: &InteractionId) -> Option<QueuePosition> {
        let ix = self.interactions.get(interaction)?;
        let queue = self.queues.get(&ix.queue)?;
        let position = queue.position(interaction)?;
        let handle_time = queue
            .average_handle_time()
            .unwrap_or(self.settings.default_handle_time);
        let staffed = self
            .agents
            .values()
            .filter(|agent| {
                matches!(
                    agent.state(),
                    AgentState::Available
                        | AgentState::Reserved { .. }
                        | AgentState::Engaged { .. }
                        | AgentState::WrapUp { .. }
                ) && strategy::serves(agent.config(), queue.config())
            })
            .count()
            .max(1);
        let expected_wait = handle_time.saturating_mul(u32::try_from(position).unwrap_or(u32::MAX))
            / staffed as u32;
        Some(QueuePosition {
            queue: ix.queue.clone(),
            position,
            expected_wait,
        })
    }

    /// All agents and queues, for the API.
    #[must_use]
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let agents = self
            .agents
            .values()
            .map(|agent| AgentSnapshot {
                config: agent.config().clone(),
                extension: agent.extension().map(str::to_owned),
                state: agent.state().clone(),
                in_state_for: now.saturating_duration_since(agent.since()),
            })
            .collect();
        let queues = self
            .queues
            .values()
            .map(|queue| {
                let id = &queue.config().id;
                let count = |state| {
                    self.interactions
                        .values()
                        .filter(|ix| &ix.queue == id && ix.state == state)
                        .count()
                };
                QueueSnapshot {
                    config: queue.config().clone(),
                    waiting: queue.iter().map(|w| w.interaction).collect(),
                    ringing: count(InteractionState::Offered),
                    connected: count(InteractionState::Connected),
                    longest_wait: queue.longest_wait(now),
                    available_agents: self.available_agents(queue),
                }
            })
            .collect();
        Snapshot { agents, queues }
    }

    /// How many queue-stats events were dropped because outputs were not drained.
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Interactions the ACD still tracks (queued, ringing or connected).
    #[must_use]
    pub fn interaction_count(&self) -> usize {
        self.interactions.len()
    }

    // ---- internals shared with offer.rs ----

    /// Time never goes backwards: an earlier `now` is treated as the latest seen.
    pub(super) fn clock(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| last.max(now));
        self.last_now = Some(now);
        now
    }

    /// After every input: route, then publish changed queue figures.
    pub(super) fn settle(&mut self, now: Instant) {
        self.dispatch(now);
        for id in std::mem::take(&mut self.dirty) {
            let Some(queue) = self.queues.get(&id) else {
                self.last_stats.remove(&id);
                continue;
            };
            let figures = (queue.len(), self.available_agents(queue));
            if self.last_stats.get(&id) == Some(&figures) {
                continue;
            }
            self.last_stats.insert(id.clone(), figures);
            if self.outputs.len() >= MAX_PENDING_OUTPUTS {
                self.dropped_events += 1;
                continue;
            }
            let stats = Event::QueueStats {
                queue: id,
                waiting: figures.0,
                longest_wait: queue.longest_wait(now),
                available_agents: figures.1,
            };
            self.outputs.push_back(Output::Event(stats));
        }
    }

    pub(super) fn available_agents(&self, queue: &Queue) -> usize {
        self.agents
            .values()
            .filter(|agent| {
                agent.is_available() && strategy::serves(agent.config(), queue.config())
            })
            .count()
    }

    pub(super) fn push(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    pub(super) fn mark_dirty(&mut self, queue: &QueueId) {
        self.dirty.insert(queue.clone());
    }

    /// Records an interaction state change.
    pub(super) fn persist_interaction(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        state: InteractionState,
        queue: Option<&QueueId>,
        agent: Option<&AgentId>,
        reason: InteractionReason,
    ) {
        self.push(Output::Persist(Record::Interaction(InteractionChange {
            interaction: interaction.clone(),
            state,
            queue: queue.cloned(),
            agent: agent.cloned(),
            reason,
            disposition: None,
            at: now,
        })));
    }

    /// Feeds one input to an agent and publishes the transition.
    pub(super) fn agent_input(
        &mut self,
        now: Instant,
        agent: &AgentId,
        input: AgentInput,
        actor: Actor,
        disposition: Option<String>,
    ) -> Result<Option<AgentState>, RoutingError> {
        let known = self
            .agents
            .get_mut(agent)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.clone()))?;
        let wrap_up = known.wrap_up().cloned();
        let transition = known.handle(now, input, actor)?;
        Ok(transition.map(|t| {
            let to = t.to.clone();
            self.transitioned(now, t, wrap_up, disposition);
            to
        }))
    }

    /// Publishes and records a transition; closes the wrap-up it ended, if any.
    pub(super) fn transitioned(
        &mut self,
        now: Instant,
        transition: AgentTransition,
        wrap_up: Option<WrapUpContext>,
        disposition: Option<String>,
    ) {
        if let (AgentState::WrapUp { .. }, Some(context)) = (&transition.from, wrap_up) {
            if let Some(queue) = self.queues.get_mut(&context.queue) {
                queue.observe_handle_time(now.saturating_duration_since(context.answered_at));
            }
            let record = if context.handed_over {
                Record::PartWrappedUp {
                    interaction: context.interaction,
                    agent: transition.agent.clone(),
                    disposition,
                    at: now,
                }
            } else {
                Record::Interaction(InteractionChange {
                    interaction: context.interaction,
                    state: InteractionState::WrappedUp,
                    queue: Some(context.queue),
                    agent: Some(transition.agent.clone()),
                    reason: InteractionReason::WrappedUp,
                    disposition,
                    at: now,
                })
            };
            self.push(Output::Persist(record));
        }
        if (transition.from == AgentState::Available || transition.to == AgentState::Available)
            && let Some(agent) = self.agents.get(&transition.agent)
        {
            let serving: Vec<QueueId> = self
                .queues
                .values()
                .filter(|q| strategy::serves(agent.config(), q.config()))
                .map(|q| q.config().id.clone())
                .collect();
            self.dirty.extend(serving);
        }
        self.push(Output::Event(Event::AgentStateChanged(transition.clone())));
        self.push(Output::Persist(Record::AgentTransition(transition)));
    }

    fn finish_wrap_up(
        &mut self,
        now: Instant,
        agent: &AgentId,
        disposition: Option<String>,
        actor: Actor,
    ) -> Result<(), RoutingError> {
        let known = self
            .agents
            .get(agent)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.clone()))?;
        if let Some(context) = known.wrap_up()
            && context.disposition_required
            && disposition.is_none()
        {
            return Err(RoutingError::DispositionRequired(
                context.interaction.clone(),
            ));
        }
        self.agent_input(now, agent, AgentInput::FinishWrapUp, actor, disposition)
            .map(drop)
    }

    /// The wrap-up limit for a queue's calls.
    pub(super) fn wrap_up_max(&self, queue: &QueueId) -> Duration {
        self.queues
            .get(queue)
            .and_then(|q| q.config().wrap_up_max)
            .unwrap_or(self.settings.default_wrap_up_max)
    }

    /// The ring timeout for a queue's offers.
    pub(super) fn ring_timeout(&self, queue: &QueueId) -> Duration {
        let timeout = match self.queues.get(queue).map(|q| q.config().ring_timeout) {
            Some(timeout) if !timeout.is_zero() => timeout,
            _ => self.settings.default_ring_timeout,
        };
        timeout.max(MIN_TIMER)
    }

    fn upsert_queue(&mut self, now: Instant, config: QueueConfig) {
        let id = config.id.clone();
        let max_wait = config.max_wait;
        match self.queues.get_mut(&id) {
            Some(queue) => queue.set_config(config),
            None => {
                self.queues.insert(id.clone(), Queue::new(config));
            }
        }
        // A changed max wait applies to callers already in the queue, counted from when
        // they entered it.
        let waiting: Vec<(InteractionId, Instant)> = self
            .interactions
            .values()
            .filter(|ix| ix.queue == id && !ix.overdue && ix.state != InteractionState::Connected)
            .map(|ix| (ix.id.clone(), ix.enqueued_at))
            .collect();
        for (interaction, enqueued_at) in waiting {
            let timer = Timer::MaxWait(interaction);
            match max_wait {
                Some(max_wait) => {
                    let at = enqueued_at + max_wait.max(MIN_TIMER);
                    self.timers.set(timer, at.max(now));
                }
                None => {
                    self.timers.cancel(&timer);
                }
            }
        }
        self.mark_dirty(&id);
    }

    fn remove_queue(&mut self, id: &QueueId) -> Result<(), RoutingError> {
        if !self.queues.contains_key(id) {
            return Err(RoutingError::UnknownQueue(id.clone()));
        }
        let callers = self
            .interactions
            .values()
            .filter(|ix| &ix.queue == id)
            .count();
        if callers > 0 {
            return Err(RoutingError::QueueBusy {
                queue: id.clone(),
                callers,
            });
        }
        self.queues.remove(id);
        self.mark_dirty(id);
        Ok(())
    }

    fn upsert_agent(&mut self, now: Instant, config: AgentConfig) {
        match self.agents.get_mut(&config.id) {
            Some(agent) => agent.set_config(config),
            None => {
                self.agents
                    .insert(config.id.clone(), Agent::new(config, now));
            }
        }
        // Skills or team may have changed which queues the agent counts for.
        let all: Vec<QueueId> = self.queues.keys().cloned().collect();
        self.dirty.extend(all);
    }

    fn remove_agent(&mut self, now: Instant, id: &AgentId) -> Result<(), RoutingError> {
        let agent = self
            .agents
            .get(id)
            .ok_or_else(|| RoutingError::UnknownAgent(id.clone()))?;
        if agent.state() != &AgentState::LoggedOut {
            self.agent_input(now, id, AgentInput::Logout, Actor::System, None)?;
        }
        self.agents.remove(id);
        self.last_agents.forget_agent(id);
        let all: Vec<QueueId> = self.queues.keys().cloned().collect();
        self.dirty.extend(all);
        Ok(())
    }

    /// Withdraws an agent's ringing offer and returns the agent to Available for `reason`.
    pub(super) fn rescind(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        agent: &AgentId,
        reason: TransitionReason,
    ) {
        self.push(Output::Queue(crate::call::QueueCommand::Withdraw {
            interaction: interaction.clone(),
            party: crate::ids::Party::Agent(agent.clone()),
        }));
        // The agent may have been removed or already moved on; nothing to undo then.
        let _ = self.agent_input(
            now,
            agent,
            AgentInput::Rescind { reason },
            Actor::System,
            None,
        );
    }
}

#[cfg(test)]
#[path = "acd_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "acd_proptests.rs"]
mod proptests;
