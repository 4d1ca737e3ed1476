//! The ACD's side of a blind transfer to one agent: the caller re-enters its queue and rings
//! that agent only. An agent who does not answer goes to RONA (or is counted as declining)
//! and the caller waits at the head of the queue for anyone, like any failed offer, so a
//! transferred customer is never dropped.

use super::acd::Acd;
use super::error::RoutingError;
use super::model::{AgentId, InteractionId, QueueId};
use std::time::Instant;

/// What the caller brings back into its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeue {
    /// The queue it came from.
    pub queue: QueueId,
    /// The caller's number.
    pub ani: String,
    /// The number it dialled.
    pub dnis: String,
    /// Its priority.
    pub priority: u8,
}

impl Acd {
    /// Transfers `interaction` to `agent`, who must be Available with a device. The agent it
    /// was connected to goes to wrap-up.
    ///
    /// # Errors
    /// Unknown agent or queue; an agent who is not Available (wrap-up, busy, idle) or has no
    /// extension. Nothing changed then.
    pub fn transfer_to_agent(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        requeue: Requeue,
        agent: &AgentId,
    ) -> Result<(), RoutingError> {
        let now = self.clock(now);
        let target = self
            .agent(agent)
            .ok_or_else(|| RoutingError::UnknownAgent(agent.clone()))?;
        if !target.is_available() || target.extension().is_none() {
            return Err(RoutingError::NotAvailable(agent.clone()));
        }
        let Requeue {
            queue,
            ani,
            dnis,
            priority,
        } = requeue;
        self.enqueue(now, interaction.clone(), queue, ani, dnis, priority)?;
        // Ring the chosen agent before the queue's strategy may pick anyone else.
        self.offer(now, &interaction, vec![agent.clone()], false);
        self.settle(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::model::{AgentState, InteractionState};
    use crate::routing::test_harness::{Harness, agent, queue, secs};
    use crate::routing::{Event, Output, Record};

    fn requeue() -> Requeue {
        Requeue {
            queue: "q".into(),
            ani: "555".into(),
            dnis: "7000".into(),
            priority: 0,
        }
    }

    #[test]
    fn the_chosen_agent_rings_and_a_missed_ring_puts_the_caller_back_for_anyone() {
        let mut h = Harness::new();
        h.add_queue(queue("q", "7000"));
        for id in ["a", "b", "c"] {
            h.staff(agent(id, &[]));
            h.advance(secs(1));
        }
        h.arrive("i1", "7000", "555");
        h.answer("i1", "a");
        h.take();
        // Longest idle would pick b; the transfer names c.
        h.acd
            .transfer_to_agent(h.now, "i1".into(), requeue(), &"c".into())
            .unwrap();
        let now = h.now;
        assert!(matches!(h.state("c"), AgentState::Reserved { .. }));
        assert!(matches!(h.state("a"), AgentState::WrapUp { .. }));
        assert_eq!(h.state("b"), AgentState::Available);
        // Nobody in wrap-up or already busy can be named.
        let refused = h
            .acd
            .transfer_to_agent(now, "i1".into(), requeue(), &"a".into());
        assert_eq!(refused, Err(RoutingError::NotAvailable("a".into())));
        // c lets it ring: RONA, and the caller goes to the next free agent.
        h.advance(secs(16));
        assert!(matches!(h.state("c"), AgentState::Rona));
        let offers = [
            ("i1".to_owned(), "c".to_owned()),
            ("i1".to_owned(), "b".to_owned()),
        ];
        assert_eq!(h.offers(), offers);
    }

    #[test]
    fn the_transferring_agents_wrap_up_closes_its_own_part_never_the_new_agents_interaction() {
        let mut h = Harness::new();
        h.add_queue(queue("q", "7000"));
        for id in ["a", "b"] {
            h.staff(agent(id, &[]));
            h.advance(secs(1));
        }
        h.arrive("i1", "7000", "555");
        h.answer("i1", "a");
        h.acd
            .transfer_to_agent(h.now, "i1".into(), requeue(), &"b".into())
            .unwrap();
        h.answer("i1", "b");
        // a's wrap-up runs out (30 s) while b still talks.
        h.advance(secs(31));
        assert_eq!(h.state("a"), AgentState::Available);
        let records: Vec<Record> = h
            .take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Persist(r @ (Record::HandedOver(_) | Record::PartWrappedUp { .. })) => {
                    Some(r)
                }
                Output::Persist(Record::Interaction(c)) => {
                    assert_ne!(c.state, InteractionState::WrappedUp, "{c:?}");
                    None
                }
                _ => None,
            })
            .collect();
        assert!(
            matches!(&records[..], [Record::HandedOver(p), Record::PartWrappedUp { agent, .. }]
                if p.agent.as_str() == "a" && agent.as_str() == "a"),
            "{records:?}"
        );
        // b's own end starts b's wrap-up, of the interaction itself.
        h.end("i1");
        assert!(matches!(h.state("b"), AgentState::WrapUp { .. }));
        assert!(h.events().iter().any(|e| matches!(e,
            Event::WrapUpRequired { agent, handed_over: false, .. } if agent.as_str() == "b")));
    }
}
