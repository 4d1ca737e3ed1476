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
mod tests {
    use super::super::command::Command;
    use super::super::model::{AgentState, InteractionState, OrgSettings};
    use super::super::output::{Event, Output};
    use super::super::test_harness::{Harness, agent, queue, secs};
    use crate::call::{QueueCommand, QueueEvent};

    /// Sales (7000) with alice and bob staffed; retries after 60 s, 2 attempts.
    fn floor() -> Harness {
        let mut h = Harness::new();
        h.ok(Command::SetOrgSettings(OrgSettings {
            callback_retry: secs(60),
            callback_max_attempts: 2,
            ..OrgSettings::default()
        }));
        h.add_queue(queue("sales", "7000"));
        h.staff(agent("alice", &[]));
        h.take();
        h
    }

    fn file(h: &mut Harness, id: &str, at: Option<std::time::Duration>) {
        let at = at.map(|d| h.now + d);
        h.ok(Command::Callback {
            interaction: id.into(),
            queue: "sales".into(),
            number: "+33123456789".into(),
            dnis: "7000".into(),
            at,
            attempts: 0,
        });
    }

    fn accept(h: &mut Harness, agent: &str, id: &str) {
        h.ok(Command::AcceptOffer {
            agent: agent.into(),
            interaction: id.into(),
        });
    }

    fn outdials(out: &[Output]) -> Vec<(String, String)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Queue(QueueCommand::Outdial {
                    interaction,
                    number,
                    ..
                }) => Some((interaction.0.clone(), number.clone())),
                _ => None,
            })
            .collect()
    }

    /// (interaction, agent) of every pop-up offered so far.
    fn popups(h: &Harness) -> Vec<(String, String)> {
        h.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::InteractionOffered {
                    interaction, agent, ..
                } => Some((interaction.0, agent.0)),
                _ => None,
            })
            .collect()
    }

    fn failed(h: &mut Harness, id: &str, reason: &str) {
        h.switch(QueueEvent::OutdialFailed {
            interaction: id.into(),
            reason: reason.into(),
        });
    }

    #[test]
    fn a_callback_is_offered_on_the_desktop_only_and_accepting_it_dials_the_customer() {
        let mut h = floor();
        file(&mut h, "cb-1", None);
        let out = h.take();
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::Queue(QueueCommand::Offer { .. }))),
            "no phone rings before the agent accepts: {out:?}"
        );
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Event(Event::InteractionOffered { callback: true, ani, .. }) if ani == "+33123456789"
        )));
        accept(&mut h, "alice", "cb-1");
        assert_eq!(
            outdials(&h.take()),
            [("cb-1".to_owned(), "+33123456789".to_owned())]
        );
        // Dialling is the switch's to time out: no RONA while the phones ring.
        h.advance(secs(60));
        assert!(matches!(h.state("alice"), AgentState::Reserved { .. }));
        h.answer("cb-1", "alice");
        assert!(matches!(h.state("alice"), AgentState::Engaged { .. }));
        h.end("cb-1");
        assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
    }

    #[test]
    fn a_customer_who_does_not_answer_is_retried_later_then_the_callback_fails() {
        let mut h = floor();
        file(&mut h, "cb-1", None);
        accept(&mut h, "alice", "cb-1");
        h.take();
        failed(&mut h, "cb-1", "customer_486");
        assert_eq!(h.state("alice"), AgentState::Available);
        let ix = h.acd.interaction(&"cb-1".into()).unwrap();
        assert_eq!(ix.state, InteractionState::Scheduled);
        let out = h.take();
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Event(Event::CallbackRetrying { attempts: 1, .. })
        )));
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::Event(Event::InteractionOffered { .. }))),
            "not offered again before the retry interval"
        );
        h.advance(secs(59));
        assert!(popups(&h).is_empty(), "still waiting out the interval");
        h.advance(secs(1));
        let out = h.take();
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Event(Event::InteractionOffered { callback: true, .. })
        )));
        accept(&mut h, "alice", "cb-1");
        failed(&mut h, "cb-1", "customer_no_answer");
        let out = h.take();
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Event(Event::CallbackFailed { attempts: 2, reason, .. }) if reason == "customer_no_answer"
        )));
        assert!(h.acd.interaction(&"cb-1".into()).is_none());
        assert_eq!(h.state("alice"), AgentState::Available);
    }

    #[test]
    fn an_agent_whose_phone_does_not_answer_hands_the_callback_on_uncounted() {
        let mut h = floor();
        h.staff(agent("bob", &[]));
        file(&mut h, "cb-1", None);
        let first = popups(&h)[0].1.clone();
        h.take();
        let second = if first == "alice" { "bob" } else { "alice" };
        accept(&mut h, &first, "cb-1");
        h.take();
        failed(&mut h, "cb-1", "agent_no_answer");
        assert_eq!(
            popups(&h),
            [("cb-1".to_owned(), second.to_owned())],
            "to the other agent at once"
        );
        assert_eq!(h.acd.interaction(&"cb-1".into()).unwrap().callback, Some(0));
    }

    #[test]
    fn a_scheduled_callback_waits_for_its_time_and_a_cancelled_one_is_gone() {
        let mut h = floor();
        file(&mut h, "cb-later", Some(secs(3600)));
        assert!(popups(&h).is_empty());
        assert_eq!(
            h.acd.interaction(&"cb-later".into()).unwrap().state,
            InteractionState::Scheduled
        );
        h.advance(secs(3600));
        assert_eq!(popups(&h), [("cb-later".to_owned(), "alice".to_owned())]);

        // Cancelled while offered: the agent is released, the callback is gone.
        h.ok(Command::CancelCallback {
            interaction: "cb-later".into(),
        });
        assert_eq!(h.state("alice"), AgentState::Available);
        assert!(h.acd.interaction(&"cb-later".into()).is_none());
        assert_eq!(
            h.cmd(Command::CancelCallback {
                interaction: "cb-later".into()
            })
            .unwrap_err()
            .code(),
            "no_such_callback"
        );
    }

    #[test]
    fn cancelling_a_callback_being_dialled_hangs_the_call_up() {
        let mut h = floor();
        file(&mut h, "cb-1", None);
        accept(&mut h, "alice", "cb-1");
        h.take();
        h.ok(Command::CancelCallback {
            interaction: "cb-1".into(),
        });
        let out = h.take();
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Queue(QueueCommand::Hangup { interaction }) if interaction.as_str() == "cb-1"
        )));
        // The switch's report of the call it ended finds nothing left to retry.
        failed(&mut h, "cb-1", "cancelled");
        assert!(h.acd.interaction(&"cb-1".into()).is_none());
        assert_eq!(h.state("alice"), AgentState::Available);
    }

    #[test]
    fn a_caller_who_takes_a_courtesy_callback_keeps_its_place_after_hanging_up() {
        let mut h = Harness::new();
        h.add_queue(queue("sales", "7000"));
        h.arrive("ix-first", "7000", "1001");
        h.arrive("ix-second", "7000", "1002");
        h.ok(Command::ConvertToCallback {
            interaction: "ix-first".into(),
            number: "+33612345678".into(),
        });
        // The switch hangs the caller up; the callback waits on where it stood.
        h.switch(QueueEvent::Abandoned {
            interaction: "ix-first".into(),
        });
        assert_eq!(h.waiting("sales"), ["ix-first", "ix-second"]);
        h.staff(agent("alice", &[]));
        let popups = popups(&h);
        assert_eq!(popups, [("ix-first".to_owned(), "alice".to_owned())]);
        assert!(h.events().iter().any(|e| matches!(
            e,
            Event::InteractionOffered { callback: true, ani, .. } if ani == "+33612345678"
        )));
        assert_eq!(
            h.cmd(Command::ConvertToCallback {
                interaction: "ix-first".into(),
                number: "+33612345678".into(),
            })
            .unwrap_err()
            .code(),
            "no_such_callback",
            "only a caller still waiting converts"
        );
    }
}
