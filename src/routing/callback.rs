//! Callbacks in the ACD (issue 15 items 4 and 5): a customer who asked to be called back
//! waits in a queue like a caller, but off the line. Its offer is a pop-up on one agent's
//! desktop (never ring-all: only one agent can make the call), under the queue's ring
//! timeout and RONA like any offer; accepting it dials out (`outdial.rs`: the agent's phone
//! rings, then the customer's).
//!
//! ```text
//!  Callback ──▶ Scheduled ──(due)──▶ Queued ──offer──▶ Offered ──accept──▶ dialling ──▶ Connected
//!                   ▲                  ▲                  │ RONA/decline        │
//!                   │                  └──────────────────┘ (head of queue)     │ failed
//!                   └──── the customer did not answer: attempt counted ◀────────┤
//!                         (after `callback_max_attempts`: ended, failed)        │
//!                         the agent's side failed: head of the queue, uncounted ◀┘
//! ```
//!
//! Choices where the issue is silent, with Webex Contact Center's callbacks as yardstick:
//! - A failed attempt is counted only when the customer's side failed (busy, no answer, the
//!   carrier or the number refused); when the agent's phone did not answer or the agent
//!   cancelled, the callback goes back to the head of its queue for another agent,
//!   uncounted, and is never offered to that agent again.
//! - A retry waits `callback_retry` off the queue, then goes back to the head of the queue:
//!   it already waited its turn once. A callback scheduled for later joins the queue's tail
//!   at that time.
//! - The agent is Available again after a failed attempt (nothing to wrap up: nobody
//!   answered); the ACD's persisted progress and the contact center's events say why.

use super::acd::{Acd, Timer};
use super::agent::{AgentInput, TransitionReason};
use super::error::RoutingError;
use super::interaction::Interaction;
use super::model::{Actor, AgentId, InteractionId, InteractionState, QueueId};
use super::output::{Event, InteractionReason, Output};
use super::queue::Waiting;
use crate::call::QueueCommand;
use crate::ids::Party;
use std::time::Instant;

/// Outdial failures that are the agent's side, not the customer's.
const AGENT_SIDE: &[&str] = &["agent_no_answer", "agent_unavailable", "cancelled"];

impl Acd {
    /// A new (or restored) callback.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn callback(
        &mut self,
        now: Instant,
        id: InteractionId,
        queue: QueueId,
        number: String,
        dnis: String,
        at: Option<Instant>,
        attempts: u32,
    ) -> Result<(), RoutingError> {
        if !self.queues.contains_key(&queue) {
            return Err(RoutingError::UnknownQueue(queue));
        }
        if self.interactions.contains_key(&id) {
            return Ok(());
        }
        // The public form must not grow a queue without bound: callbacks count towards the
        // cap on waiting callers like callers on the line.
        let callers = self.queues.get(&queue).map_or(0, super::queue::Queue::len);
        if callers >= self.settings.max_waiting_per_queue {
            return Err(RoutingError::QueueBusy { queue, callers });
        }
        let mut ix = Interaction::new(id.clone(), queue.clone(), number, dnis, 0, now);
        ix.callback = Some(attempts);
        match at.filter(|at| *at > now) {
            Some(at) => {
                ix.state = InteractionState::Scheduled;
                self.interactions.insert(id.clone(), ix);
                self.timers.set(Timer::CallbackDue(id.clone()), at);
                self.persist_interaction(
                    now,
                    &id,
                    InteractionState::Scheduled,
                    Some(&queue),
                    None,
                    InteractionReason::Scheduled,
                );
            }
            None => self.admit_callback(now, ix, false),
        }
        Ok(())
    }

    /// A waiting caller took a courtesy callback: the interaction stays where it is in its
    /// queue (a caller who arrived later is still behind it), now a callback to `number`.
    pub(super) fn convert_to_callback(
        &mut self,
        id: &InteractionId,
        number: String,
    ) -> Result<(), RoutingError> {
        let ix = self
            .interactions
            .get_mut(id)
            .filter(|ix| ix.state == InteractionState::Queued && ix.callback.is_none())
            .ok_or_else(|| RoutingError::NoSuchCallback(id.clone()))?;
        ix.callback = Some(0);
        ix.ani = number;
        // Max wait and overflow are for callers on the line.
        self.timers.cancel(&Timer::MaxWait(id.clone()));
        Ok(())
    }

    /// Puts a callback into its queue: at the tail when new, at the head when retried.
    fn admit_callback(&mut self, now: Instant, mut ix: Interaction, at_head: bool) {
        let id = ix.id.clone();
        let queue_id = ix.queue.clone();
        ix.state = InteractionState::Queued;
        ix.enqueued_at = now;
        let waiting = Waiting {
            interaction: id.clone(),
            priority: ix.priority,
            arrived_at: ix.arrived_at,
        };
        self.interactions.insert(id.clone(), ix);
        if let Some(queue) = self.queues.get_mut(&queue_id) {
            if at_head {
                queue.requeue_at_head(waiting);
            } else {
                queue.enqueue(waiting);
            }
        }
        self.persist_interaction(
            now,
            &id,
            InteractionState::Queued,
            Some(&queue_id),
            None,
            InteractionReason::Enqueued,
        );
        self.mark_dirty(&queue_id);
    }

    pub(super) fn on_callback_due(&mut self, now: Instant, id: &InteractionId) {
        let Some(ix) = self.interactions.remove(id) else {
            return;
        };
        if ix.state != InteractionState::Scheduled {
            self.interactions.insert(id.clone(), ix);
            return;
        }
        let retried = ix.callback.is_some_and(|attempts| attempts > 0);
        self.admit_callback(now, ix, retried);
    }

    /// The agent accepted a callback offered to it: dial (agent's phone, then customer).
    pub(super) fn accept_callback(&mut self, agent: &AgentId, id: &InteractionId) {
        let Some(extension) = self
            .agents
            .get(agent)
            .and_then(|a| a.extension())
            .map(str::to_owned)
        else {
            return;
        };
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        if ix.callback.is_none() || ix.outdial {
            return;
        }
        ix.outdial = true;
        let (queue, number) = (ix.queue.clone(), ix.ani.clone());
        // The switch times the phones out from here; the offer's ring timer is done.
        self.timers.cancel(&Timer::Ring(id.clone()));
        self.push(Output::Queue(QueueCommand::Outdial {
            interaction: id.clone(),
            agent: Party::Agent(agent.clone()),
            extension,
            number,
            queue,
        }));
    }

    /// An accepted callback did not connect (`reason` as the switch reports it).
    pub(super) fn on_callback_failed(&mut self, now: Instant, id: &InteractionId, reason: &str) {
        let Some(ix) = self.interactions.get_mut(id) else {
            return;
        };
        let Some(attempts) = ix.callback else {
            return;
        };
        ix.outdial = false;
        let ringing = std::mem::take(&mut ix.ringing);
        let agent_side = AGENT_SIDE.contains(&reason);
        if agent_side {
            ix.declined_by.extend(ringing.iter().cloned());
        }
        for agent in &ringing {
            let input = AgentInput::Rescind {
                reason: TransitionReason::OutdialFailed,
            };
            let _ = self.agent_input(now, agent, input, Actor::System, None);
        }
        let Some(ix) = self.interactions.remove(id) else {
            return;
        };
        if agent_side {
            self.admit_callback(now, ix, true);
            return;
        }
        let attempts = attempts + 1;
        let queue = ix.queue.clone();
        if attempts >= self.settings.callback_max_attempts {
            self.push(Output::Event(Event::CallbackFailed {
                interaction: id.clone(),
                queue: queue.clone(),
                attempts,
                reason: reason.to_owned(),
            }));
            self.persist_interaction(
                now,
                id,
                InteractionState::Ended,
                Some(&queue),
                None,
                InteractionReason::OutdialFailed,
            );
            self.mark_dirty(&queue);
            return;
        }
        let retry_in = self.settings.callback_retry;
        let mut ix = ix;
        ix.callback = Some(attempts);
        ix.state = InteractionState::Scheduled;
        self.interactions.insert(id.clone(), ix);
        self.timers
            .set(Timer::CallbackDue(id.clone()), now + retry_in);
        self.push(Output::Event(Event::CallbackRetrying {
            interaction: id.clone(),
            queue: queue.clone(),
            attempts,
            reason: reason.to_owned(),
            retry_in,
        }));
        self.persist_interaction(
            now,
            id,
            InteractionState::Scheduled,
            Some(&queue),
            None,
            InteractionReason::OutdialFailed,
        );
        self.mark_dirty(&queue);
    }

    /// Cancels a callback that has not connected.
    ///
    /// # Errors
    /// [`RoutingError::NotConnected`]'s opposite: a callback already talking, or no such
    /// callback, is refused as [`RoutingError::NoSuchCallback`].
    pub(super) fn cancel_callback(
        &mut self,
        now: Instant,
        id: &InteractionId,
    ) -> Result<(), RoutingError> {
        let live = self
            .interactions
            .get(id)
            .filter(|ix| ix.callback.is_some() && ix.state != InteractionState::Connected);
        let Some(ix) = live else {
            return Err(RoutingError::NoSuchCallback(id.clone()));
        };
        if ix.outdial {
            // Dialling: the switch ends the call and reports it; what remains is a
            // cancelled callback, not a failed attempt.
            self.push(Output::Queue(QueueCommand::Hangup {
                interaction: id.clone(),
            }));
        }
        let Some(ix) = self.interactions.remove(id) else {
            return Err(RoutingError::NoSuchCallback(id.clone()));
        };
        if let Some(queue) = self.queues.get_mut(&ix.queue) {
            queue.remove(id);
        }
        for timer in [
            Timer::Ring(id.clone()),
            Timer::MaxWait(id.clone()),
            Timer::CallbackDue(id.clone()),
        ] {
            self.timers.cancel(&timer);
        }
        for agent in &ix.ringing {
            self.rescind(now, id, agent, TransitionReason::Withdrawn);
        }
        self.persist_interaction(
            now,
            id,
            InteractionState::Ended,
            Some(&ix.queue),
            None,
            InteractionReason::Cancelled,
        );
        self.mark_dirty(&ix.queue);
        Ok(())
    }
}

#[cfg(test)]
#[path = "callback_tests.rs"]
mod tests;
