//! The ACD's side of consults: the consulted agent's state, and who owns the interaction after
//! a warm transfer. The switch does the calling; the contact-center core (`center`) tells the
//! ACD what happened, so agent state keeps one owner.

use super::acd::Acd;
use super::agent::{AgentInput, TransitionReason};
use super::error::RoutingError;
use super::model::{Actor, AgentId, InteractionId, InteractionState};
use super::output::{Event, InteractionReason, Output};
use std::time::Instant;

impl Acd {
    /// `agent` is rung for a consult on the connected `interaction` (Available or Idle only).
    ///
    /// # Errors
    /// Unknown agent or interaction, an interaction not connected, or an agent who is not
    /// Available or Idle.
    pub fn consult_offer(
        &mut self,
        now: Instant,
        agent: &AgentId,
        interaction: &InteractionId,
    ) -> Result<(), RoutingError> {
        let now = self.clock(now);
        let connected = self
            .interactions
            .get(interaction)
            .is_some_and(|ix| ix.connected.is_some());
        if !connected {
            return Err(RoutingError::NotConnected(interaction.clone()));
        }
        let input = AgentInput::ConsultOffer {
            interaction: interaction.clone(),
        };
        self.agent_input(now, agent, input, Actor::System, None)?;
        self.settle(now);
        Ok(())
    }

    /// The consulted agent's phone answered.
    pub fn consult_answered(&mut self, now: Instant, agent: &AgentId, interaction: &InteractionId) {
        let now = self.clock(now);
        let input = AgentInput::Answer {
            interaction: interaction.clone(),
        };
        if let Err(error) = self.agent_input(now, agent, input, Actor::System, None) {
            tracing::debug!(%error, "consult answer for an agent not ringing");
        }
        self.settle(now);
    }

    /// The consult is over for the consulted agent (failed, ended, or the customer left):
    /// back to the state before it, no wrap-up.
    pub fn consult_released(&mut self, now: Instant, agent: &AgentId, failed: bool) {
        let now = self.clock(now);
        let reason = if failed {
            TransitionReason::ConsultFailed
        } else {
            TransitionReason::ConsultEnded
        };
        let input = AgentInput::ConsultRelease { reason };
        if let Err(error) = self.agent_input(now, agent, input, Actor::System, None) {
            tracing::debug!(%error, "consult release for an agent not consulted");
        }
        self.settle(now);
    }

    /// The consulted agent took the customer over: the interaction is theirs, and the agent
    /// it was connected to goes to wrap-up. An Available or Idle agent may take over too (an
    /// attended transfer done on the phones, with no desktop consult).
    pub fn consult_take_over(
        &mut self,
        now: Instant,
        agent: &AgentId,
        interaction: &InteractionId,
    ) {
        let now = self.clock(now);
        let Some(ix) = self.interactions.get_mut(interaction) else {
            return;
        };
        let previous = ix.connected.replace((agent.clone(), now));
        let ix = ix.clone();
        let take_over = AgentInput::ConsultTakeOver {
            interaction: interaction.clone(),
        };
        if let Err(error) = self.agent_input(now, agent, take_over, Actor::System, None) {
            tracing::debug!(%error, "take-over by an agent not on the consult");
        }
        if let Some((first, answered_at)) = previous
            && first != *agent
        {
            self.end_call(now, &ix, &first, answered_at, TransitionReason::Transferred);
        }
        self.push(Output::Event(Event::InteractionConnected {
            interaction: interaction.clone(),
            agent: agent.clone(),
            queue: ix.queue.clone(),
        }));
        self.persist_interaction(
            now,
            interaction,
            InteractionState::Connected,
            Some(&ix.queue),
            Some(agent),
            InteractionReason::Transferred,
        );
        self.settle(now);
    }
}

impl Acd {
    /// The logged-in agent whose device is `extension`.
    #[must_use]
    pub fn agent_at(&self, extension: &str) -> Option<&AgentId> {
        self.agents
            .values()
            .find(|a| a.extension() == Some(extension))
            .map(super::agent::Agent::id)
    }

    /// The agent a consult to `queue` rings: chosen by the queue's strategy among its
    /// Available agents, other than `except` (the consulting agent). Ring-all picks the
    /// first of its round: a consult rings one phone.
    #[must_use]
    pub fn consult_pick(&self, queue: &super::model::QueueId, except: &AgentId) -> Option<AgentId> {
        let queue = self.queues.get(queue)?;
        let candidates: Vec<&super::agent::Agent> = self
            .agents
            .values()
            .filter(|a| {
                a.is_available()
                    && a.id() != except
                    && super::strategy::serves(a.config(), queue.config())
            })
            .collect();
        super::strategy::choose(queue, &candidates)
            .into_iter()
            .next()
    }
}
