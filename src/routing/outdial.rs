//! Outdials in the ACD: an agent's own call to a customer (click-to-dial now, callbacks
//! next). The ACD's part is the agent's state and the interaction's routing state; ringing
//! the agent's phone and then the customer is the switch's (`call::outdial`).
//!
//! ```text
//!  desktop                ACD                                     switch
//!    |-- Outdial -------->| agent Available|Idle -> Reserved{ix}    |
//!    |                    |-- QueueCommand::Outdial --------------->| rings the agent, then
//!    |                    |<-- OfferAnswered (customer answered) ---|   the customer
//!    |                    | Reserved -> Engaged; a connected call from here on
//!    |                    |<-- OutdialFailed -----------------------| (either never answered)
//!    |                    | Reserved -> the state before; interaction gone
//! ```
//!
//! An outdial interaction never waits in its queue and has no ring timer: the switch times
//! both phones out and says so. The queue it is made for gives it its wrap-up rules, its
//! media policy (recording, noise suppression) and its place in reports.

use super::acd::Acd;
use super::agent::AgentInput;
use super::error::RoutingError;
use super::interaction::Interaction;
use super::model::{Actor, AgentId, InteractionId, InteractionState, QueueId};
use super::output::{InteractionReason, Output};
use super::strategy;
use crate::call::QueueCommand;
use crate::ids::Party;
use std::time::Instant;

impl Acd {
    /// Starts `agent`'s outdial of `number` for `queue` as interaction `id`.
    ///
    /// # Errors
    /// An unknown agent or queue, an interaction id in use, or an agent who is not Available
    /// or Idle (or has no phone).
    pub(super) fn outdial(
        &mut self,
        now: Instant,
        id: InteractionId,
        agent: &AgentId,
        queue: &QueueId,
        number: String,
    ) -> Result<(), RoutingError> {
        if !self.queues.contains_key(queue) {
            return Err(RoutingError::UnknownQueue(queue.clone()));
        }
        let extension = self
            .agents
            .get(agent)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.clone()))?
            .extension()
            .map(str::to_owned);
        if self.interactions.contains_key(&id) {
            return Err(RoutingError::NotAvailable(agent.clone()));
        }
        let input = AgentInput::Outdial {
            interaction: id.clone(),
        };
        self.agent_input(now, agent, input, Actor::Agent(agent.clone()), None)?;
        // Logged in, so the agent has an extension; the state machine refused otherwise.
        let extension = extension.unwrap_or_default();
        let mut ix = Interaction::new(
            id.clone(),
            queue.clone(),
            number.clone(),
            extension.clone(),
            0,
            now,
        );
        ix.state = InteractionState::Offered;
        ix.ringing.insert(agent.clone());
        ix.outdial = true;
        self.interactions.insert(id.clone(), ix);
        self.push(Output::Queue(QueueCommand::Outdial {
            interaction: id.clone(),
            agent: Party::Agent(agent.clone()),
            extension,
            number,
            queue: queue.clone(),
        }));
        self.persist_interaction(
            now,
            &id,
            InteractionState::Offered,
            Some(queue),
            Some(agent),
            InteractionReason::Offered,
        );
        self.mark_dirty(queue);
        Ok(())
    }

    /// The switch could not connect outdial `id`: its agent goes back to the state it dialled
    /// from and the interaction ends.
    pub(super) fn on_outdial_failed(&mut self, now: Instant, id: &InteractionId, reason: &str) {
        let Some(ix) = self.interactions.get(id) else {
            return;
        };
        if ix.callback.is_some() {
            self.on_callback_failed(now, id, reason);
            return;
        }
        if !ix.outdial || ix.state == InteractionState::Connected {
            return;
        }
        let Some(ix) = self.interactions.remove(id) else {
            return;
        };
        for agent in &ix.ringing {
            // The agent may have been removed meanwhile; nothing to undo then.
            let _ = self.agent_input(now, agent, AgentInput::OutdialFailed, Actor::System, None);
        }
        self.persist_interaction(
            now,
            id,
            InteractionState::Ended,
            Some(&ix.queue),
            None,
            InteractionReason::OutdialFailed,
        );
        self.mark_dirty(&ix.queue);
    }

    /// The queue an agent's outdial is made for when the desktop names none: the first
    /// queue (by id) the agent serves.
    #[must_use]
    pub fn outdial_queue(&self, agent: &AgentId) -> Option<QueueId> {
        let agent = self.agents.get(agent)?;
        self.queues
            .values()
            .find(|queue| strategy::serves(agent.config(), queue.config()))
            .map(|queue| queue.config().id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::command::{Command, RequestedState};
    use super::super::model::{Actor, AgentState};
    use super::super::test_harness::{Harness, agent, queue, secs};
    use crate::call::{QueueCommand, QueueEvent};

    /// Sales (7000) with alice staffed, then made Idle ("lunch") if `idle`.
    fn alice(idle: bool) -> Harness {
        let mut h = Harness::new();
        h.add_queue(queue("sales", "7000"));
        h.staff(agent("alice", &[]));
        if idle {
            h.ok(Command::SetState {
                agent: "alice".into(),
                state: RequestedState::Idle {
                    reason: "lunch".into(),
                },
                actor: Actor::Agent("alice".into()),
            });
        }
        h.take();
        h
    }

    fn dial(h: &mut Harness, id: &str) -> Result<(), super::RoutingError> {
        h.cmd(Command::Outdial {
            interaction: id.into(),
            agent: "alice".into(),
            queue: "sales".into(),
            number: "+33123456789".into(),
        })
    }

    fn idle() -> AgentState {
        AgentState::Idle {
            reason: "lunch".into(),
        }
    }

    #[test]
    fn an_idle_agent_dials_out_talks_wraps_up_and_is_idle_again() {
        let mut h = alice(true);
        dial(&mut h, "ix-out").unwrap();
        assert_eq!(
            h.state("alice"),
            AgentState::Reserved {
                interaction: "ix-out".into()
            }
        );
        let rang: Vec<_> = h
            .take()
            .into_iter()
            .filter_map(|o| match o {
                super::Output::Queue(QueueCommand::Outdial {
                    extension, number, ..
                }) => Some((extension, number)),
                _ => None,
            })
            .collect();
        assert_eq!(rang, [("ext-alice".to_owned(), "+33123456789".to_owned())]);
        // No ring timer: the switch times both phones out, so no RONA however long it rings.
        h.advance(secs(120));
        assert!(matches!(h.state("alice"), AgentState::Reserved { .. }));

        h.answer("ix-out", "alice");
        assert_eq!(
            h.state("alice"),
            AgentState::Engaged {
                interaction: "ix-out".into()
            }
        );
        h.end("ix-out");
        assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
        h.ok(Command::FinishWrapUp {
            agent: "alice".into(),
            disposition: None,
            actor: Actor::Agent("alice".into()),
        });
        assert_eq!(
            h.state("alice"),
            idle(),
            "back to the state she dialled from"
        );
    }

    #[test]
    fn an_outdial_that_never_connects_returns_the_agent_without_wrap_up_or_rona() {
        let mut h = alice(false);
        dial(&mut h, "ix-out").unwrap();
        h.switch(QueueEvent::OutdialFailed {
            interaction: "ix-out".into(),
            reason: "customer_486".into(),
        });
        assert_eq!(h.state("alice"), AgentState::Available);
        assert!(h.acd.interaction(&"ix-out".into()).is_none());

        // Alice is routable again: a caller reaches her.
        h.arrive("ix-in", "7000", "1001");
        assert_eq!(h.offers(), [("ix-in".to_owned(), "alice".to_owned())]);
    }

    #[test]
    fn a_busy_agent_cannot_dial_out_and_a_second_outdial_is_refused() {
        let mut h = alice(false);
        dial(&mut h, "ix-1").unwrap();
        let refused = dial(&mut h, "ix-2").unwrap_err();
        assert_eq!(refused.code(), "offer_pending");
        h.answer("ix-1", "alice");
        assert_eq!(dial(&mut h, "ix-2").unwrap_err().code(), "engaged");
        h.end("ix-1");
        assert_eq!(dial(&mut h, "ix-2").unwrap_err().code(), "not_available");
    }

    #[test]
    fn declining_ones_own_outdial_cancels_it_through_the_switch() {
        let mut h = alice(true);
        dial(&mut h, "ix-out").unwrap();
        h.take();
        h.ok(Command::DeclineOffer {
            agent: "alice".into(),
            interaction: "ix-out".into(),
        });
        let hangups = h
            .take()
            .into_iter()
            .filter(|o| matches!(o, super::Output::Queue(QueueCommand::Hangup { .. })))
            .count();
        assert_eq!(hangups, 1);
        h.switch(QueueEvent::OutdialFailed {
            interaction: "ix-out".into(),
            reason: "cancelled".into(),
        });
        assert_eq!(h.state("alice"), idle());
    }

    #[test]
    fn the_default_queue_is_the_first_the_agent_serves() {
        let mut h = alice(false);
        let mut vip = queue("a-vip", "7001");
        vip.teams = vec!["vip".into()];
        h.add_queue(vip);
        assert_eq!(
            h.acd.outdial_queue(&"alice".into()),
            Some("sales".into()),
            "a-vip sorts first but is for another team"
        );
    }
}
