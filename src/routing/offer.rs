//! The call flow of the ACD: matching waiting callers with agents, offers and their
//! outcomes (answer, RONA, decline, unreachable phone), abandon and end, max wait and
//! overflow, and transfers into a queue.
//!
//! ```text
//!  switch                       ACD                              agent
//!    |-- Arrived ------------->| queue (priority, FIFO)            |
//!    |<-- Offer(agent) --------| Available -> Reserved, ring timer |
//!    |-- OfferAnswered ------->| Reserved -> Engaged               |
//!    |-- Ended --------------->| Engaged -> WrapUp, wrap-up timer  |
//!    |                         |<-- FinishWrapUp (or expiry) ------|
//!  ring timer expiry:  Withdraw, agent -> Rona, caller to the head, next agent at once
//! ```
//!
//! Choices where the issue is silent:
//! - Ring-all rounds that nobody answers withdraw every offer and put the agents back to
//!   Available without RONA (no single agent let the caller down, and RONA for all would
//!   empty the floor); the caller goes back to the head and a new round starts at once.
//! - Last-agent routing offers the caller to the remembered agent alone (even in a ring-all
//!   queue), and only if that agent is Available and qualifies for the queue.
//! - Max wait counts from entering the current queue. If it passes while an offer rings,
//!   the offer is allowed to finish; the caller overflows only if it fails. Overflowing to a
//!   queue keeps the caller's arrival time; a missing overflow target keeps the caller
//!   waiting. Overflow chains for full queues stop after [`MAX_OVERFLOW_HOPS`] hops.
//! - Interactions are dispatched across queues by priority, then arrival, so an agent
//!   serving two queues takes the longest-waiting caller of the highest priority.
//! - An answer from a phone whose offer was already withdrawn (the 200 OK crossed the
//!   CANCEL) wins: the switch has bridged the call, so the ACD connects that agent too.

use super::acd::{Acd, MIN_TIMER, Timer};
use super::agent::{Agent, AgentInput, TransitionReason, WrapUpContext};
use super::error::RoutingError;
use super::interaction::Interaction;
use super::model::{
    Actor, AgentId, InteractionId, InteractionState, OverflowTarget, QueueId, Strategy,
};
use super::output::{AgentPart, Event, InteractionReason, Output, Record, RejectReason};
use super::queue::Waiting;
use super::strategy;
use crate::call::{OfferFailure, QueueCommand, QueueEvent};
use crate::ids::Party;
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::time::Instant;

/// Most queue-to-queue overflow hops when queues are full.
pub const MAX_OVERFLOW_HOPS: usize = 4;

/// What trying to offer one waiting caller found.
enum Match {
    /// Offered.
    Offered,
    /// No agent for this caller, and none for anyone behind it in the queue either.
    QueueBlocked,
    /// No agent for this caller (some declined it), but maybe for those behind it.
    Skipped,
}

impl Acd {
    /// Offers waiting callers to Available agents until no pair is left.
    pub(super) fn dispatch(&mut self, now: Instant) {
        if !self.agents.values().any(Agent::is_available) {
            return;
        }
        let mut lines: Vec<(QueueId, VecDeque<Waiting>)> = self
            .queues
            .values()
            .filter(|queue| !queue.is_empty())
            .map(|queue| (queue.config().id.clone(), queue.iter().collect()))
            .collect();
        // Each offer only takes agents away, so one pass in global order is enough: a
        // caller nobody could take earlier in the pass cannot be taken later in it.
        loop {
            let next = lines
                .iter()
                .enumerate()
                .filter_map(|(i, (_, line))| {
                    line.front().map(|w| (Reverse(w.priority), w.arrived_at, i))
                })
                .min();
            let Some((_, _, i)) = next else { break };
            let Some(waiting) = lines[i].1.pop_front() else {
                break;
            };
            let queue = lines[i].0.clone();
            match self.try_offer(now, &queue, &waiting.interaction) {
                Match::Offered => {
                    if !self.agents.values().any(Agent::is_available) {
                        break;
                    }
                }
                Match::QueueBlocked => lines[i].1.clear(),
                Match::Skipped => {}
            }
        }
    }

    fn try_offer(&mut self, now: Instant, queue_id: &QueueId, id: &InteractionId) -> Match {
        let (Some(ix), Some(queue)) = (self.interactions.get(id), self.queues.get(queue_id)) else {
            return Match::Skipped;
        };
        let candidates: Vec<&Agent> = self
            .agents
            .values()
            .filter(|agent| {
                agent.is_available()
                    && strategy::serves(agent.config(), queue.config())
                    && !ix.declined_by.contains(agent.id())
            })
            .collect();
        if candidates.is_empty() {
            return if ix.declined_by.is_empty() {
                Match::QueueBlocked
            } else {
                Match::Skipped
            };
        }
        let last_agent = queue
            .config()
            .last_agent_routing
            .then(|| self.last_agents.get(&ix.ani))
            .flatten()
            .filter(|last| candidates.iter().any(|agent| agent.id() == *last))
            .cloned();
        let (mut chosen, mut ring_all) = match last_agent {
            Some(last) => (vec![last], false),
            None => (
                strategy::choose(queue, &candidates),
                queue.config().strategy == Strategy::RingAll,
            ),
        };
        if ix.callback.is_some() {
            // Only one agent can make the call: a callback is offered to one at a time.
            chosen.truncate(1);
            ring_all = false;
        }
        if chosen.is_empty() {
            return Match::Skipped;
        }
        self.offer(now, id, chosen, ring_all);
        Match::Offered
    }

    /// Rings `agents` for a waiting caller.
    pub(super) fn offer(
        &mut self,
        now: Instant,
        id: &InteractionId,
        agents: Vec<AgentId>,
        ring_all: bool,
    ) {
        let Some(ix) = self.interactions.get(id) else {
            return;
        };
        let (queue_id, ani, dnis) = (ix.queue.clone(), ix.ani.clone(), ix.dnis.clone());
        let callback = ix.callback.is_some();
        let ring_timeout = self.ring_timeout(&queue_id);
        if let Some(queue) = self.queues.get_mut(&queue_id) {
            queue.remove(id);
            queue.last_offered = agents.last().cloned();
        }
        let mut ringing = Vec::new();
        for agent in agents {
            let Some(extension) = self
                .agents
                .get(&agent)
                .and_then(Agent::extension)
                .map(str::to_owned)
            else {
                continue;
            };
            let input = AgentInput::Offer {
                interaction: id.clone(),
            };
            if !matches!(
                self.agent_input(now, &agent, input, Actor::System, None),
                Ok(Some(_))
            ) {
                continue;
            }
            // A callback's offer is the desktop's pop-up alone: the phone rings on accept.
            if !callback {
                self.push(Output::Queue(QueueCommand::Offer {
                    interaction: id.clone(),
                    party: Party::Agent(agent.clone()),
                    extension,
                }));
            }
            self.push(Output::Event(Event::InteractionOffered {
                interaction: id.clone(),
                agent: agent.clone(),
                queue: queue_id.clone(),
                ani: ani.clone(),
                dnis: dnis.clone(),
                callback,
            }));
            self.persist_interaction(
                now,
                id,
                InteractionState::Offered,
                Some(&queue_id),
                Some(&agent),
                InteractionReason::Offered,
            );
            ringing.push(agent);
        }
        self.mark_dirty(&queue_id);
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        if ringing.is_empty() {
            // Selection only picks Available agents, so this is unreachable in practice;
            // never lose the caller if it happens.
            self.requeue(now, id, InteractionReason::Offered);
            return;
        }
        ix.state = InteractionState::Offered;
        ix.ring_all = ring_all;
        ix.ringing = ringing.into_iter().collect();
        self.timers.set(Timer::Ring(id.clone()), now + ring_timeout);
    }

    /// Applies one of the switch's queue events; stale ones are ignored.
    pub(super) fn on_switch_event(&mut self, now: Instant, event: QueueEvent) {
        match event {
            QueueEvent::Arrived {
                interaction,
                queue,
                ani,
                dnis,
                priority,
                cad: _,
            } => {
                self.on_arrived(now, interaction, queue.as_str(), ani, dnis, priority);
            }
            QueueEvent::OfferAnswered {
                interaction,
                party: Party::Agent(agent),
            } => {
                self.on_answered(now, &interaction, &agent);
            }
            QueueEvent::OfferFailed {
                interaction,
                party: Party::Agent(agent),
                failure,
            } => {
                let declined = failure == OfferFailure::Declined;
                self.offer_failed(now, &interaction, &agent, declined, Actor::System);
            }
            QueueEvent::Abandoned { interaction } | QueueEvent::Ended { interaction } => {
                self.on_caller_gone(now, &interaction);
            }
            // Numbers a transfer or an overflow rang are the contact center's business.
            QueueEvent::OfferAnswered { .. } | QueueEvent::OfferFailed { .. } => {}
            // Consults are the contact-center core's to translate (`Acd::consult_*`).
            // A refused call never waited: the contact center records it, the ACD has nothing
            // to route.
            QueueEvent::OutdialFailed {
                interaction,
                reason,
            } => {
                self.on_outdial_failed(now, &interaction, &reason);
            }
            // The contact center turns a chosen courtesy callback into a command.
            QueueEvent::Refused { .. }
            | QueueEvent::CallbackChosen { .. }
            | QueueEvent::ConsultAnswered { .. }
            | QueueEvent::ConsultFailed { .. }
            | QueueEvent::ConsultEnded { .. }
            | QueueEvent::ConsultTransferred { .. } => {}
        }
    }

    fn on_arrived(
        &mut self,
        now: Instant,
        id: InteractionId,
        dialled: &str,
        ani: String,
        dnis: String,
        priority: u8,
    ) {
        if self.interactions.contains_key(&id) {
            return;
        }
        let queue = self
            .queues
            .values()
            .find(|queue| queue.config().number == dialled)
            .or_else(|| self.queues.get(&QueueId(dialled.to_owned())))
            .map(|queue| queue.config().id.clone());
        match queue {
            Some(queue) => {
                let ix = Interaction::new(id, queue, ani, dnis, priority, now);
                self.admit(now, ix, InteractionReason::Arrived);
            }
            None => self.reject(now, &id, None, RejectReason::UnknownQueue),
        }
    }

    /// Puts a caller (not in the table) into its `queue`, or overflows or rejects it when
    /// the queue is full.
    fn admit(&mut self, now: Instant, mut ix: Interaction, mut reason: InteractionReason) {
        let mut hops = 0;
        loop {
            let Some(queue) = self.queues.get(&ix.queue) else {
                self.reject(now, &ix.id, None, RejectReason::UnknownQueue);
                return;
            };
            if queue.len() < self.settings.max_waiting_per_queue {
                break;
            }
            match queue.config().overflow.clone() {
                Some(OverflowTarget::Queue(next))
                    if hops < MAX_OVERFLOW_HOPS && self.queues.contains_key(&next) =>
                {
                    ix.queue = next;
                    reason = InteractionReason::OverflowedIn;
                    hops += 1;
                }
                Some(OverflowTarget::Number(number)) => {
                    let queue = ix.queue.clone();
                    self.overflow_out(now, &ix.id, &queue, number);
                    return;
                }
                _ => {
                    let queue = ix.queue.clone();
                    self.reject(now, &ix.id, Some(&queue), RejectReason::QueueFull);
                    return;
                }
            }
        }
        let id = ix.id.clone();
        let queue_id = ix.queue.clone();
        ix.state = InteractionState::Queued;
        ix.enqueued_at = now;
        ix.ringing.clear();
        ix.ring_all = false;
        ix.overdue = false;
        let waiting = Waiting {
            interaction: id.clone(),
            priority: ix.priority,
            arrived_at: ix.arrived_at,
        };
        let Some(queue) = self.queues.get_mut(&queue_id) else {
            return;
        };
        queue.enqueue(waiting);
        match queue.config().max_wait {
            Some(max_wait) => {
                let at = now + max_wait.max(MIN_TIMER);
                self.timers.set(Timer::MaxWait(id.clone()), at);
            }
            None => {
                self.timers.cancel(&Timer::MaxWait(id.clone()));
            }
        }
        self.interactions.insert(id.clone(), ix);
        self.persist_interaction(
            now,
            &id,
            InteractionState::Queued,
            Some(&queue_id),
            None,
            reason,
        );
        self.mark_dirty(&queue_id);
    }

    fn reject(
        &mut self,
        now: Instant,
        id: &InteractionId,
        queue: Option<&QueueId>,
        reason: RejectReason,
    ) {
        self.push(Output::Reject {
            interaction: id.clone(),
            reason,
        });
        self.persist_interaction(
            now,
            id,
            InteractionState::Ended,
            queue,
            None,
            InteractionReason::Rejected,
        );
    }

    fn overflow_out(&mut self, now: Instant, id: &InteractionId, queue: &QueueId, number: String) {
        self.timers.cancel(&Timer::MaxWait(id.clone()));
        self.timers.cancel(&Timer::Ring(id.clone()));
        self.push(Output::Overflow {
            interaction: id.clone(),
            number,
        });
        self.persist_interaction(
            now,
            id,
            InteractionState::Ended,
            Some(queue),
            None,
            InteractionReason::OverflowedOut,
        );
    }

    /// Moves a caller that is in the table (waiting or just returned from an offer) to its
    /// queue's overflow target; `false` if the queue has none (the caller stays put).
    fn overflow(&mut self, now: Instant, id: &InteractionId) -> bool {
        let Some(ix) = self.interactions.get(id) else {
            return false;
        };
        let from = ix.queue.clone();
        let target = self
            .queues
            .get(&from)
            .and_then(|q| q.config().overflow.clone());
        match target {
            Some(OverflowTarget::Queue(next))
                if next != from && self.queues.contains_key(&next) =>
            {
                let Some(mut ix) = self.take(id) else {
                    return false;
                };
                ix.queue = next;
                self.admit(now, ix, InteractionReason::OverflowedIn);
                true
            }
            Some(OverflowTarget::Number(number)) => {
                if self.take(id).is_none() {
                    return false;
                }
                self.overflow_out(now, id, &from, number);
                true
            }
            _ => false,
        }
    }

    /// Removes an interaction from the table, its queue and its timers.
    fn take(&mut self, id: &InteractionId) -> Option<Interaction> {
        let ix = self.interactions.remove(id)?;
        if let Some(queue) = self.queues.get_mut(&ix.queue) {
            queue.remove(id);
        }
        self.timers.cancel(&Timer::Ring(id.clone()));
        self.timers.cancel(&Timer::MaxWait(id.clone()));
        self.mark_dirty(&ix.queue);
        Some(ix)
    }

    /// A caller whose offer failed goes back to the head of its queue (or overflows, if its
    /// max wait passed meanwhile).
    fn requeue(&mut self, now: Instant, id: &InteractionId, reason: InteractionReason) {
        self.timers.cancel(&Timer::Ring(id.clone()));
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        ix.state = InteractionState::Queued;
        ix.ringing.clear();
        ix.ring_all = false;
        if ix.overdue && self.overflow(now, id) {
            return;
        }
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        ix.overdue = false;
        let queue_id = ix.queue.clone();
        let waiting = Waiting {
            interaction: id.clone(),
            priority: ix.priority,
            arrived_at: ix.arrived_at,
        };
        if let Some(queue) = self.queues.get_mut(&queue_id) {
            queue.requeue_at_head(waiting);
        }
        self.persist_interaction(
            now,
            id,
            InteractionState::Queued,
            Some(&queue_id),
            None,
            reason,
        );
        self.mark_dirty(&queue_id);
    }

    fn on_answered(&mut self, now: Instant, id: &InteractionId, agent: &AgentId) {
        let Some(ix) = self.interactions.get(id) else {
            return;
        };
        if ix.state == InteractionState::Connected {
            return;
        }
        let input = if ix.ringing.contains(agent) {
            AgentInput::Answer {
                interaction: id.clone(),
            }
        } else {
            AgentInput::AnswerAfterWithdrawal {
                interaction: id.clone(),
            }
        };
        if !matches!(
            self.agent_input(now, agent, input, Actor::System, None),
            Ok(Some(_))
        ) {
            return;
        }
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        let others: Vec<AgentId> = std::mem::take(&mut ix.ringing)
            .into_iter()
            .filter(|other| other != agent)
            .collect();
        ix.state = InteractionState::Connected;
        ix.connected = Some((agent.clone(), now));
        ix.ring_all = false;
        let (queue_id, ani) = (ix.queue.clone(), ix.ani.clone());
        if let Some(queue) = self.queues.get_mut(&queue_id) {
            queue.remove(id);
        }
        self.timers.cancel(&Timer::Ring(id.clone()));
        self.timers.cancel(&Timer::MaxWait(id.clone()));
        for other in others {
            self.rescind(now, id, &other, TransitionReason::AnsweredElsewhere);
        }
        self.last_agents.remember(&ani, agent.clone());
        self.push(Output::Event(Event::InteractionConnected {
            interaction: id.clone(),
            agent: agent.clone(),
            queue: queue_id.clone(),
        }));
        self.persist_interaction(
            now,
            id,
            InteractionState::Connected,
            Some(&queue_id),
            Some(agent),
            InteractionReason::Answered,
        );
        self.mark_dirty(&queue_id);
    }

    /// The desktop declined an offer: withdraw it and treat it as a decline.
    pub(super) fn decline(
        &mut self,
        now: Instant,
        agent: &AgentId,
        id: &InteractionId,
    ) -> Result<(), RoutingError> {
        let known = self
            .agents
            .get(agent)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.clone()))?;
        let ringing = self
            .interactions
            .get(id)
            .is_some_and(|ix| ix.ringing.contains(agent));
        if known.reserved_for() != Some(id) || !ringing {
            return Err(super::agent::AgentError::NoSuchOffer.into());
        }
        if self.interactions.get(id).is_some_and(|ix| ix.outdial) {
            // Declining one's own outdial cancels it; the switch's report of the cancelled
            // call releases the agent.
            self.push(Output::Queue(QueueCommand::Hangup {
                interaction: id.clone(),
            }));
            return Ok(());
        }
        self.push(Output::Queue(QueueCommand::Withdraw {
            interaction: id.clone(),
            party: Party::Agent(agent.clone()),
        }));
        self.offer_failed(now, id, agent, true, Actor::Agent(agent.clone()));
        Ok(())
    }

    fn offer_failed(
        &mut self,
        now: Instant,
        id: &InteractionId,
        agent: &AgentId,
        declined: bool,
        actor: Actor,
    ) {
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        if !ix.ringing.remove(agent) {
            return;
        }
        if declined {
            ix.declined_by.insert(agent.clone());
        }
        let now_empty = ix.ringing.is_empty();
        let (input, reason) = if declined {
            (AgentInput::Decline, InteractionReason::Declined)
        } else {
            (
                AgentInput::DeviceUnavailable,
                InteractionReason::DeviceUnavailable,
            )
        };
        let _ = self.agent_input(now, agent, input, actor, None);
        if now_empty {
            self.requeue(now, id, reason);
        }
    }

    pub(super) fn on_ring_timeout(&mut self, now: Instant, id: &InteractionId) {
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        if ix.state != InteractionState::Offered {
            return;
        }
        let ringing = std::mem::take(&mut ix.ringing);
        let ring_all = ix.ring_all;
        for agent in ringing {
            if ring_all {
                self.rescind(now, id, &agent, TransitionReason::RingAllTimeout);
                continue;
            }
            self.push(Output::Queue(QueueCommand::Withdraw {
                interaction: id.clone(),
                party: Party::Agent(agent.clone()),
            }));
            let rona = self.agent_input(now, &agent, AgentInput::RingTimeout, Actor::System, None);
            if matches!(rona, Ok(Some(_))) {
                self.push(Output::Event(Event::AgentRona {
                    agent,
                    interaction: id.clone(),
                }));
            }
        }
        let reason = if ring_all {
            InteractionReason::RingAllTimeout
        } else {
            InteractionReason::RingTimeout
        };
        self.requeue(now, id, reason);
    }

    pub(super) fn on_max_wait(&mut self, now: Instant, id: &InteractionId) {
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        match ix.state {
            InteractionState::Queued => {
                self.overflow(now, id);
            }
            InteractionState::Offered => ix.overdue = true,
            _ => {}
        }
    }

    /// The caller hung up (abandon) or the connected call ended.
    fn on_caller_gone(&mut self, now: Instant, id: &InteractionId) {
        let waiting_callback = self
            .interactions
            .get(id)
            .is_some_and(|ix| ix.callback.is_some() && !ix.outdial && ix.connected.is_none());
        if waiting_callback {
            // A caller who took a courtesy callback was hung up; the callback waits on.
            return;
        }
        let Some(ix) = self.take(id) else {
            return;
        };
        match ix.connected.clone() {
            Some((agent, answered_at)) => {
                self.end_call(now, &ix, &agent, answered_at, TransitionReason::CallEnded);
                self.push(Output::Event(Event::InteractionEnded {
                    interaction: id.clone(),
                    agent: Some(agent.clone()),
                    queue: ix.queue.clone(),
                    abandoned: false,
                }));
                self.persist_interaction(
                    now,
                    id,
                    InteractionState::Ended,
                    Some(&ix.queue),
                    Some(&agent),
                    InteractionReason::CallEnded,
                );
            }
            None => {
                for agent in &ix.ringing {
                    self.rescind(now, id, agent, TransitionReason::Abandoned);
                }
                self.push(Output::Event(Event::InteractionEnded {
                    interaction: id.clone(),
                    agent: ix.ringing.iter().next().cloned(),
                    queue: ix.queue.clone(),
                    abandoned: true,
                }));
                self.persist_interaction(
                    now,
                    id,
                    InteractionState::Ended,
                    Some(&ix.queue),
                    None,
                    InteractionReason::Abandoned,
                );
            }
        }
    }

    /// The agent's part of a connected call is over: wrap-up starts. An agent who hands the
    /// call over (transfer) wraps up its own part, as Webex Contact Center's transferring
    /// agent does; the interaction stays the next agent's to wrap up.
    pub(super) fn end_call(
        &mut self,
        now: Instant,
        ix: &Interaction,
        agent: &AgentId,
        answered_at: Instant,
        reason: TransitionReason,
    ) {
        let disposition_required = self
            .queues
            .get(&ix.queue)
            .is_some_and(|q| q.config().disposition_required);
        let handed_over = reason == TransitionReason::Transferred;
        if handed_over {
            self.push(Output::Persist(Record::HandedOver(AgentPart {
                interaction: ix.id.clone(),
                agent: agent.clone(),
                answered_at,
                at: now,
            })));
        }
        let input = AgentInput::EndCall {
            context: WrapUpContext {
                interaction: ix.id.clone(),
                queue: ix.queue.clone(),
                answered_at,
                disposition_required,
                handed_over,
            },
            wrap_up_max: self.wrap_up_max(&ix.queue),
            reason,
        };
        if matches!(
            self.agent_input(now, agent, input, Actor::System, None),
            Ok(Some(_))
        ) {
            self.push(Output::Event(Event::WrapUpRequired {
                interaction: ix.id.clone(),
                agent: agent.clone(),
                queue: ix.queue.clone(),
                disposition_required,
                handed_over,
            }));
        }
    }

    /// Puts an interaction into a queue (transfer to queue, re-entry).
    pub(super) fn enqueue(
        &mut self,
        now: Instant,
        id: InteractionId,
        queue: QueueId,
        ani: String,
        dnis: String,
        priority: u8,
    ) -> Result<(), RoutingError> {
        if !self.queues.contains_key(&queue) {
            return Err(RoutingError::UnknownQueue(queue));
        }
        let Some(mut ix) = self.take(&id) else {
            let ix = Interaction::new(id, queue, ani, dnis, priority, now);
            self.admit(now, ix, InteractionReason::Enqueued);
            return Ok(());
        };
        for agent in std::mem::take(&mut ix.ringing) {
            self.rescind(now, &id, &agent, TransitionReason::Withdrawn);
        }
        if let Some((agent, answered_at)) = ix.connected.take() {
            self.end_call(now, &ix, &agent, answered_at, TransitionReason::Transferred);
        }
        ix.queue = queue;
        ix.ani = ani;
        ix.dnis = dnis;
        ix.priority = priority;
        ix.declined_by.clear();
        self.admit(now, ix, InteractionReason::Enqueued);
        Ok(())
    }
}

#[cfg(test)]
#[path = "offer_tests.rs"]
mod tests;
