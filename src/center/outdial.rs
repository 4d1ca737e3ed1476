//! Click-to-dial in the contact center: an agent's call out to a customer becomes an
//! outbound interaction, recorded, denoised, controllable and wrapped up like a queue call
//! (issue 15 item 3). The number was planned by the switch first (E.164, the agent's calling
//! class, a route), so a refusal reaches the desktop as the API's answer, not as an event.
//!
//! Events, to the agent and its supervisors:
//! - `interaction.outdial`: the agent's phone rings (then the customer's);
//! - `interaction.connected`: the customer answered (as for a queue call);
//! - `interaction.outdial_failed` with a `reason`: it never connected (`agent_no_answer`,
//!   `agent_unavailable`, `cancelled`, `customer_486`, `customer_no_answer`, `no_gateway`, ...);
//!   the agent is back in the state it dialled from.

use super::{ContactCenter, Job};
use crate::call::CadFromSip;
use crate::routing::model::{AgentId, InteractionId, InteractionState, QueueId};
use crate::routing::{Command, RoutingError};
use crate::store::{Direction, Interaction, InteractionProgress};
use serde_json::json;
use std::time::Instant;

/// An agent's call out, as the desktop asked for it and the switch planned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outdial {
    /// The id the switch gave the call.
    pub interaction: InteractionId,
    /// Who dials.
    pub agent: AgentId,
    /// The customer's number in E.164, as the gateway will see it.
    pub number: String,
    /// The queue the call is made for; `None`: the first queue the agent serves.
    pub queue: Option<QueueId>,
    /// Call-associated data for the interaction (the desktop's, all editable).
    pub cad: Vec<CadFromSip>,
}

/// Why an outdial was refused before anything rang.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutdialRefused {
    /// No queue was named and the agent serves none.
    #[error("no queue was named and the agent serves none")]
    NoQueue,
    /// The switch will not dial the number for the agent's extension (its reason code).
    #[error("the number cannot be dialled: {0}")]
    Number(&'static str),
    /// The agent is not logged in (so has no phone to ring).
    #[error("the agent is not logged in")]
    NotLoggedIn,
    /// The ACD refused (unknown queue, the agent busy).
    #[error(transparent)]
    Routing(#[from] RoutingError),
}

impl ContactCenter {
    /// Starts `outdial`: the agent is Reserved and the switch rings its phone.
    ///
    /// # Errors
    /// Why nothing was started ([`OutdialRefused`]).
    pub fn outdial(&mut self, now: Instant, outdial: Outdial) -> Result<(), OutdialRefused> {
        let now = self.advance(now);
        let Outdial {
            interaction,
            agent,
            number,
            queue,
            cad,
        } = outdial;
        let queue = match queue {
            Some(queue) => queue,
            None => self
                .acd
                .outdial_queue(&agent)
                .ok_or(OutdialRefused::NoQueue)?,
        };
        let extension = self
            .acd
            .agent(&agent)
            .and_then(|a| a.extension())
            .unwrap_or_default()
            .to_owned();
        // The record goes first: the ACD's progress of it follows among its outputs.
        let record = Interaction {
            direction: Direction::Outbound,
            state: InteractionState::Offered,
            agent: Some(agent.clone()),
            offered_ms: Some(self.unix_at(now)),
            ..self.inbound_record(now, &interaction, &queue, &extension, &number)
        };
        self.acd.handle_command(
            now,
            Command::Outdial {
                interaction: interaction.clone(),
                agent: agent.clone(),
                queue: queue.clone(),
                number: number.clone(),
            },
        )?;
        self.persist(Job::Arrived(Box::new(record)));
        self.on_arrival_cad(&interaction, &cad);
        let data = json!({"interaction": interaction, "agent": agent, "queue": queue,
                          "number": number, "extension": extension});
        self.publish_to("interaction.outdial", self.about(&agent), data);
        Ok(())
    }

    /// `interaction` is an outdial that has not connected, placed by `agent` when one is
    /// named.
    pub(super) fn placing_outdial(
        &self,
        interaction: &InteractionId,
        agent: Option<&AgentId>,
    ) -> bool {
        self.acd.interaction(interaction).is_some_and(|ix| {
            ix.outdial
                && ix.state != InteractionState::Connected
                && agent.is_none_or(|agent| ix.ringing.contains(agent))
        })
    }

    /// The switch could not connect an outdial: its record ends with the reason, and the
    /// agent's desktop hears why. The ACD releases the agent.
    pub(super) fn on_outdial_failed(&mut self, interaction: &InteractionId, reason: &str) {
        let agent = self
            .acd
            .interaction(interaction)
            .filter(|ix| ix.outdial)
            .and_then(|ix| ix.ringing.iter().next().cloned());
        let audience = self.about_or_supervisors(agent.as_ref());
        let data = json!({"interaction": interaction, "agent": agent, "reason": reason});
        if self.is_pending_callback(interaction) {
            // The callback lives on (retried, or back in its queue): the ACD says how.
            self.publish_to("interaction.outdial_failed", audience, data);
            return;
        }
        self.cad.remove(interaction);
        self.persist(Job::Progress(InteractionProgress {
            id: interaction.clone(),
            state: InteractionState::Ended,
            queue: None,
            agent: None,
            at: self.unix_at(self.now),
            abandoned: false,
            disposition: None,
            failure: Some(reason.to_owned()),
        }));
        self.publish_to("interaction.outdial_failed", audience, data);
    }
}
