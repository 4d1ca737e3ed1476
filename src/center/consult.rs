//! Consult, warm transfer and conference for the desktop (CTI): checks who may do what, keeps
//! the consult's stage, and turns the switch's consult events into agent states (through the
//! ACD) and desktop events.
//!
//! ```text
//!  desktop              contact center                switch            ACD
//!  consult{agent:bob} ─▶ consult.requested ──Consult──▶ rings bob    bob: Reserved
//!                       consult.offered (bob)
//!                       ◀──ConsultAnswered──          bridged       bob: Engaged
//!  consult/transfer   ─▶ ──ConsultTransfer──▶ BYE alice
//!                       ◀──ConsultTransferred──                     alice: WrapUp, bob owns
//!  consult/conference ─▶ ──Conference──▶ mix-minus                   (both Engaged)
//! ```
//! Choices where the issue is silent (Webex Contact Center as the yardstick):
//! - Only the agent who owns the call starts, transfers or conferences; the consulted agent
//!   may leave (`consult/end`, `conference/leave`) without wrap-up.
//! - Hold and resume while consulting swap who the agent talks to; both are refused while the
//!   consult rings (the customer stays held until it is answered or fails) and during a
//!   conference.
//! - When the consulting agent leaves a conference, the consulted party takes the customer
//!   over (as if transferred) and the first agent wraps up.

use super::*;
use party::Party;

/// Who is consulted, and how far it got.
#[derive(Debug, Clone)]
pub(super) struct Consulting {
    /// The agent who owns the call and started the consult.
    pub(super) by: AgentId,
    /// Who is consulted.
    pub(super) party: Party,
    pub(super) stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Ringing,
    Answered,
    Conference,
}

impl ContactCenter {
    pub(super) fn consult_action(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        requester: Option<AgentId>,
        action: ConsultAction,
    ) -> Result<(), Refused> {
        let owner = self
            .connected_agent(&interaction)
            .ok_or(Refused::NotEngaged)?;
        let consult = self.consults.get(&interaction).cloned();
        let is_owner = requester.as_ref().is_none_or(|r| *r == owner);
        let is_party =
            |c: &Consulting| requester.is_some() && c.party.agent() == requester.as_ref();
        match (action, consult) {
            (ConsultAction::Start(_), Some(_)) => Err(Refused::ConsultInProgress),
            (ConsultAction::Start(target), None) => {
                if !is_owner {
                    return Err(Refused::NotEngaged);
                }
                self.start_consult(now, interaction, owner, target)
            }
            (_, None) => Err(Refused::NoConsult),
            (ConsultAction::End, Some(c)) if is_owner || is_party(&c) => {
                self.command_switch(QueueCommand::ConsultEnd { interaction });
                Ok(())
            }
            (ConsultAction::Drop(participant), Some(c)) if is_owner => {
                let named = participant == c.party.label() || participant == c.party.address();
                if !named {
                    return Err(Refused::NoSuchParticipant);
                }
                self.command_switch(QueueCommand::ConsultEnd { interaction });
                Ok(())
            }
            (ConsultAction::Transfer | ConsultAction::Conference, Some(c))
                if is_owner && c.stage == Stage::Ringing =>
            {
                Err(Refused::ConsultNotAnswered)
            }
            (ConsultAction::Transfer, Some(_)) if is_owner => {
                self.command_switch(QueueCommand::ConsultTransfer { interaction });
                Ok(())
            }
            (ConsultAction::Conference, Some(c)) if is_owner => {
                if c.stage == Stage::Conference {
                    return Err(Refused::AlreadyThere("in a conference"));
                }
                self.held.remove(&interaction);
                if let Some(c) = self.consults.get_mut(&interaction) {
                    c.stage = Stage::Conference;
                }
                self.command_switch(QueueCommand::Conference {
                    interaction: interaction.clone(),
                });
                self.publish_consult("conference.started", &interaction, &c, json!({}));
                self.add_participant(&interaction, "conference", c.party.address());
                Ok(())
            }
            (ConsultAction::Leave, Some(c)) if c.stage == Stage::Conference => {
                if is_party(&c) {
                    self.command_switch(QueueCommand::ConsultEnd { interaction });
                    Ok(())
                } else if is_owner {
                    // Agent 1 hands the conference to the party.
                    self.command_switch(QueueCommand::ConsultTransfer { interaction });
                    Ok(())
                } else {
                    Err(Refused::NotEngaged)
                }
            }
            (ConsultAction::Leave, Some(_)) => Err(Refused::NotInConference),
            _ => Err(Refused::NotEngaged),
        }
    }

    fn start_consult(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        owner: AgentId,
        target: ConsultTarget,
    ) -> Result<(), Refused> {
        let queue = self
            .acd
            .interaction(&interaction)
            .map(|ix| ix.queue.clone())
            .ok_or(Refused::NotEngaged)?;
        let agent = match &target {
            ConsultTarget::Agent(agent) => Some(agent.clone()),
            ConsultTarget::Queue(q) => {
                if self.acd.queue(q).is_none() {
                    return Err(Refused::UnknownQueue);
                }
                Some(
                    self.acd
                        .consult_pick(q, &owner)
                        .ok_or(Refused::NobodyAvailable)?,
                )
            }
            ConsultTarget::Number(_) => None,
        };
        let (party, extension) = match (&agent, &target) {
            (Some(agent), _) => {
                if *agent == owner {
                    return Err(Refused::AgentUnavailable);
                }
                let extension = self
                    .acd
                    .agent(agent)
                    .and_then(|a| a.extension().map(str::to_owned))
                    .ok_or(Refused::AgentUnavailable)?;
                self.acd
                    .consult_offer(now, agent, &interaction)
                    .map_err(|_| Refused::AgentUnavailable)?;
                (Party::Agent(agent.clone()), extension)
            }
            (None, ConsultTarget::Number(number)) => {
                (Party::Number(number.clone()), number.clone())
            }
            (None, _) => return Err(Refused::AgentUnavailable),
        };
        let ring_timeout = self
            .acd
            .queue(&queue)
            .map_or(Duration::from_secs(20), |q| q.config().ring_timeout);
        let consult = Consulting {
            by: owner.clone(),
            party,
            stage: Stage::Ringing,
        };
        self.consults.insert(interaction.clone(), consult.clone());
        self.command_switch(QueueCommand::Consult {
            interaction: interaction.clone(),
            party: consult.party.clone(),
            extension,
            ring_timeout,
        });
        let target_json = consult_target_json(&target, agent.as_ref());
        self.publish_consult(
            "consult.requested",
            &interaction,
            &consult,
            json!({"target": target_json}),
        );
        if let Some(agent) = &agent {
            // The consulted agent's pop-up: who is asking, and the CAD the admin chose.
            let from = self.acd.agent(&owner);
            let cad: Vec<Value> = self
                .cad
                .get(&interaction)
                .map(|vars| {
                    vars.iter()
                        .filter(|v| !v.secure && self.offered_cad_keys.contains(&v.key))
                        .map(|v| json!({"key": v.key, "value": v.value}))
                        .collect()
                })
                .unwrap_or_default();
            let data = json!({
                "interaction": interaction,
                "agent": agent,
                "from": {
                    "agent": owner,
                    "name": from.map(|a| a.config().name.clone()),
                    "extension": from.and_then(|a| a.extension().map(str::to_owned)),
                    "team": from.and_then(|a| a.config().team.clone()),
                },
                "cad": cad,
            });
            let audience = self.about(agent);
            self.publish_to("consult.offered", audience, data);
        }
        Ok(())
    }

    /// The switch's news about a consult; `true` when `event` was one.
    pub(super) fn on_consult_event(&mut self, now: Instant, event: &QueueEvent) -> bool {
        match event {
            QueueEvent::ConsultAnswered { interaction, .. } => {
                let id = interaction.clone();
                let Some(c) = self.consults.get_mut(&id) else {
                    return true;
                };
                c.stage = Stage::Answered;
                let c = c.clone();
                if let Some(agent) = c.party.agent() {
                    self.acd.consult_answered(now, agent, &id);
                }
                self.publish_consult("consult.answered", &id, &c, json!({}));
                self.add_participant(&id, "consult", c.party.address());
                true
            }
            QueueEvent::ConsultFailed {
                interaction,
                reason,
                agent_left,
                ..
            } => {
                let id = interaction.clone();
                let Some(c) = self.consults.remove(&id) else {
                    return true;
                };
                if let Some(agent) = c.party.agent() {
                    self.acd.consult_released(now, agent, true);
                }
                self.publish_consult(
                    "consult.failed",
                    &id,
                    &c,
                    json!({"reason": reason.as_str(), "agent_left": agent_left}),
                );
                if *agent_left {
                    self.requeue_orphan(now, &id);
                }
                true
            }
            QueueEvent::ConsultEnded {
                interaction,
                by_party,
                ..
            } => {
                let id = interaction.clone();
                let Some(c) = self.consults.remove(&id) else {
                    return true;
                };
                if c.stage == Stage::Conference {
                    self.held.remove(&id);
                }
                if let Some(agent) = c.party.agent() {
                    self.acd.consult_released(now, agent, false);
                }
                self.publish_consult(
                    "consult.ended",
                    &id,
                    &c,
                    json!({"by_party": by_party, "conference": c.stage == Stage::Conference}),
                );
                true
            }
            QueueEvent::ConsultTransferred { interaction, .. } => {
                let id = interaction.clone();
                let Some(c) = self.consults.remove(&id) else {
                    return true;
                };
                let number = c.party.address();
                let extra = json!({});
                self.hand_over(now, &id, &c.by, c.party.agent(), number, extra);
                true
            }
            QueueEvent::Ended { interaction } | QueueEvent::Abandoned { interaction } => {
                // The customer left: the consulted agent leaves without wrap-up.
                let id = interaction.clone();
                if let Some(c) = self.consults.remove(&id) {
                    if let Some(agent) = c.party.agent() {
                        self.acd.consult_released(now, agent, false);
                    }
                    self.publish_consult(
                        "consult.ended",
                        &id,
                        &c,
                        json!({"by_party": false, "customer_left": true}),
                    );
                }
                false
            }
            _ => false,
        }
    }

    /// The customer of `id` now talks to the consulted party (an agent, or a number that is
    /// no agent's): the agent `by` goes to wrap-up and the desktops hear of the warm transfer
    /// (`extra` adds to the event, e.g. what the phone sent).
    fn hand_over(
        &mut self,
        now: Instant,
        id: &InteractionId,
        by: &AgentId,
        to_agent: Option<&AgentId>,
        number: &str,
        extra: Value,
    ) {
        self.held.remove(id);
        match to_agent {
            Some(agent) => self.acd.consult_take_over(now, agent, id),
            None => {
                // A number took the customer over: the agent's conversation is over
                // (wrap-up) and the ACD lets the interaction go.
                let ended = QueueEvent::Ended {
                    interaction: id.clone(),
                };
                if let Err(error) = self.acd.handle_command(now, Command::Switch(ended)) {
                    tracing::debug!(%error, "warm transfer: the ACD had already let go");
                }
            }
        }
        let target = match to_agent {
            Some(agent) => json!({"type": "agent", "id": agent}),
            None => json!({"type": "number", "id": number}),
        };
        let address = to_agent.map_or(number, AgentId::as_str);
        self.add_participant(id, "transfer", address);
        let mut data = json!({"interaction": id, "agent": by, "target": target, "warm": true});
        if let (Value::Object(data), Value::Object(extra)) = (&mut data, extra) {
            data.extend(extra);
        }
        let audience = self.about(by);
        self.publish_to("interaction.transferred", audience, data);
    }

    /// The agent's phone finished an attended transfer (REFER with Replaces) to `target`:
    /// the switch already bridged the customer there. An Available or Idle agent logged in
    /// at `target` takes the interaction over, exactly as after the desktop's warm transfer;
    /// any other phone is treated as a number.
    pub(super) fn on_replaced(
        &mut self,
        now: Instant,
        id: InteractionId,
        target: String,
        referred_by: Option<String>,
    ) {
        let Some(by) = self.connected_agent(&id) else {
            tracing::warn!(%id, "attended transfer on an interaction with no agent");
            return;
        };
        let to_agent = self.acd.agent_at(&target).cloned().filter(|a| {
            *a != by
                && matches!(
                    self.acd.agent_state(a),
                    Some(AgentState::Available | AgentState::Idle { .. })
                )
        });
        tracing::info!(%id, %target, agent = ?to_agent, "attended transfer from the agent's phone");
        let extra = json!({"by": "phone", "referred_by": referred_by});
        self.hand_over(now, &id, &by, to_agent.as_ref(), &target, extra);
    }

    /// The agent's phone hung up while a consult rang and the consult failed: nobody has the
    /// customer, who goes back to the queue it came from (a blind transfer there, so the
    /// agent wraps up and the desktop hears `interaction.transferred`), never dropped.
    fn requeue_orphan(&mut self, now: Instant, id: &InteractionId) {
        let Some(queue) = self.acd.interaction(id).map(|ix| ix.queue.clone()) else {
            return;
        };
        if let Err(refused) = self.transfer(now, id.clone(), None, TransferTarget::Queue(queue)) {
            tracing::warn!(%id, %refused, "could not requeue a customer whose agent hung up");
        }
    }

    /// Whether hold/resume is refused because of a consult.
    pub(super) fn consult_blocks_hold(&self, interaction: &InteractionId) -> Option<Refused> {
        match self.consults.get(interaction)?.stage {
            Stage::Ringing => Some(Refused::ConsultNotAnswered),
            Stage::Conference => Some(Refused::InConference),
            Stage::Answered => None,
        }
    }

    /// Publishes a consult event to both agents (and their supervisors).
    fn publish_consult(
        &mut self,
        kind: &'static str,
        interaction: &InteractionId,
        c: &Consulting,
        extra: Value,
    ) {
        let mut data = json!({
            "interaction": interaction,
            "agent": c.by,
            "party": c.party.json(),
        });
        if let (Value::Object(data), Value::Object(extra)) = (&mut data, extra) {
            data.extend(extra);
        }
        self.publish_to(kind, self.about(&c.by), data.clone());
        if let Some(agent) = c.party.agent() {
            self.publish_to(kind, self.about(agent), data);
        }
    }
}

fn consult_target_json(target: &ConsultTarget, agent: Option<&AgentId>) -> Value {
    match (target, agent) {
        (ConsultTarget::Queue(q), Some(agent)) => {
            json!({"type": "queue", "id": q, "agent": agent})
        }
        (ConsultTarget::Number(n), _) => json!({"type": "number", "id": n}),
        (_, agent) => json!({"type": "agent", "id": agent}),
    }
}
