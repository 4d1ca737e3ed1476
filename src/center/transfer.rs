//! Blind transfers carried out for the desktop (CTI) or the agent's phone (REFER): the agent's
//! leg is released and the customer offered again, to a queue or a number; a number that does
//! not answer sends the customer back to the head of its queue.

use super::*;
use crate::routing::Requeue;
use party::Party;

/// Where a customer transferred to a number returns if the number does not answer.
#[derive(Debug, Clone)]
pub(super) struct Returning {
    pub(super) queue: crate::routing::model::QueueId,
    pub(super) ani: String,
    pub(super) dnis: String,
    pub(super) priority: u8,
}

impl ContactCenter {
    pub(super) fn transfer(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: Option<&AgentId>,
        target: TransferTarget,
    ) -> Result<(), Refused> {
        if !self.engaged(&interaction, agent) {
            return Err(Refused::NotEngaged);
        }
        let Some(ix) = self.acd.interaction(&interaction) else {
            return Err(Refused::NotEngaged);
        };
        let returning = Returning {
            queue: ix.queue.clone(),
            ani: ix.ani.clone(),
            dnis: ix.dnis.clone(),
            priority: ix.priority,
        };
        let from_agent = ix.connected.as_ref().map(|(a, _)| a.clone());
        if let TransferTarget::Queue(queue) = &target
            && self.acd.queue(queue).is_none()
        {
            return Err(Refused::UnknownQueue);
        }
        if let TransferTarget::Agent(target) = &target {
            let available = self
                .acd
                .agent(target)
                .is_some_and(|a| a.is_available() && a.extension().is_some());
            if !available || from_agent.as_ref() == Some(target) {
                return Err(Refused::TransferAgentUnavailable);
            }
        }
        self.held.remove(&interaction);
        self.command_switch(QueueCommand::ReleaseAgent {
            interaction: interaction.clone(),
        });
        let target_json = match &target {
            TransferTarget::Agent(agent) => json!({"type": "agent", "id": agent}),
            TransferTarget::Queue(queue) => json!({"type": "queue", "id": queue}),
            TransferTarget::Number(number) => json!({"type": "number", "id": number}),
        };
        let (role, address) = match &target {
            TransferTarget::Agent(agent) => ("transfer", agent.to_string()),
            TransferTarget::Queue(queue) => ("transfer_queue", queue.to_string()),
            TransferTarget::Number(number) => ("transfer", number.clone()),
        };
        self.add_participant(&interaction, role, &address);
        match target {
            TransferTarget::Agent(agent) => {
                let requeue = Requeue {
                    queue: returning.queue,
                    ani: returning.ani,
                    dnis: returning.dnis,
                    priority: returning.priority,
                };
                if let Err(error) =
                    self.acd
                        .transfer_to_agent(now, interaction.clone(), requeue, &agent)
                {
                    tracing::warn!(%error, "transfer to agent refused after release");
                }
            }
            TransferTarget::Queue(queue) => {
                let enqueue = Command::Enqueue {
                    interaction: interaction.clone(),
                    queue,
                    ani: returning.ani,
                    dnis: returning.dnis,
                    priority: returning.priority,
                };
                if let Err(error) = self.acd.handle_command(now, enqueue) {
                    tracing::warn!(%error, "transfer to queue refused after release");
                }
            }
            TransferTarget::Number(number) => {
                // The agent's conversation is over (wrap-up); the switch rings the number.
                let ended = QueueEvent::Ended {
                    interaction: interaction.clone(),
                };
                if let Err(error) = self.acd.handle_command(now, Command::Switch(ended)) {
                    tracing::debug!(%error, "transfer: the ACD had already let go");
                }
                self.command_switch(QueueCommand::Offer {
                    interaction: interaction.clone(),
                    party: Party::Transfer(number.clone()),
                    extension: number,
                });
                self.transfers.insert(interaction.clone(), returning);
            }
        }
        let audience = match &from_agent {
            Some(agent) => self.about(agent),
            None => Audience::Supervisors,
        };
        let data = json!({"interaction": interaction, "agent": from_agent, "target": target_json});
        self.publish_to("interaction.transferred", audience, data);
        Ok(())
    }

    /// Whether the number a customer was transferred to answered or failed; a failure
    /// returns the customer to the head of its queue. `true` when the event was about such a
    /// transfer (the ACD knows nothing of it).
    pub(super) fn on_transfer_outcome(&mut self, now: Instant, event: &QueueEvent) -> bool {
        let (interaction, party, answered) = match event {
            QueueEvent::OfferAnswered { interaction, party } => (interaction, party, true),
            QueueEvent::OfferFailed {
                interaction, party, ..
            } => (interaction, party, false),
            QueueEvent::Ended { interaction } | QueueEvent::Abandoned { interaction } => {
                self.transfers.remove(interaction);
                return false;
            }
            _ => return false,
        };
        if !matches!(party, Party::Transfer(_)) {
            return false;
        }
        let id = interaction.clone();
        let Some(returning) = self.transfers.remove(&id) else {
            return true;
        };
        if !answered {
            tracing::info!(%id, "transfer target did not answer; back to the queue");
            let enqueue = Command::Enqueue {
                interaction: id.clone(),
                queue: returning.queue.clone(),
                ani: returning.ani,
                dnis: returning.dnis,
                priority: returning.priority,
            };
            if let Err(error) = self.acd.handle_command(now, enqueue) {
                tracing::warn!(%error, "could not return a transferred customer to its queue");
            }
            let data = json!({"interaction": id, "queue": returning.queue,
                              "reason": "no_answer", "message": "the target did not answer"});
            self.publish_to("interaction.transfer.failed", Audience::Supervisors, data);
        }
        true
    }
}
