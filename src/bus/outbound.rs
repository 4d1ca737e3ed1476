//! Calls out asked of the core: a desktop's click-to-dial and a website's callback request.
//! Each needs the switch (the number checked by the dial plan) and the contact center (the
//! interaction filed) in one step, so nothing can change between them; `requests` carries
//! them to the core loop, which hands them the whole node.

use std::time::Instant;

use crate::call::CadFromSip;
use crate::center::{CallbackRequest, Outdial, OutdialRefused};
use crate::node::Node;
use crate::routing::model::{AgentId, InteractionId, QueueId};
use crate::routing::{QueuePosition, RoutingError};
use crate::store::UnixMillis;

/// A desktop's click-to-dial, before the switch planned the number.
#[derive(Debug, Clone)]
pub struct OutdialRequest {
    /// Who dials.
    pub agent: AgentId,
    /// The number as the desktop sent it (formatting stripped).
    pub number: String,
    /// The queue the call is made for, if the desktop named one.
    pub queue: Option<QueueId>,
    /// Call-associated data for the interaction.
    pub cad: Vec<CadFromSip>,
}

impl OutdialRequest {
    /// Plans the number for the agent's extension on the switch, then starts the call in the
    /// contact center: both in one step, so nothing can change between them.
    ///
    /// # Errors
    /// Why nothing was dialled.
    pub fn start(self, node: &mut Node, now: Instant) -> Result<InteractionId, OutdialRefused> {
        let extension = match node.center().agent_state(&self.agent) {
            None => {
                return Err(OutdialRefused::Routing(RoutingError::UnknownAgent(
                    self.agent,
                )));
            }
            Some((_, None)) => return Err(OutdialRefused::NotLoggedIn),
            Some((_, Some(extension))) => extension,
        };
        let (interaction, number) = node
            .switch_mut()
            .plan_outdial(&extension, &self.agent, &self.number)
            .map_err(OutdialRefused::Number)?;
        let outdial = Outdial {
            interaction: interaction.clone(),
            agent: self.agent,
            number,
            queue: self.queue,
            cad: self.cad,
        };
        node.center_at(now).outdial(now, outdial)?;
        Ok(interaction)
    }
}

/// A customer's callback request, before the switch checked the number.
#[derive(Debug, Clone)]
pub struct CallbackAsk {
    /// Where it waits.
    pub queue: QueueId,
    /// The number as the customer typed it.
    pub number: String,
    /// Not before then.
    pub at: Option<UnixMillis>,
    /// The widget that filed it.
    pub widget: Option<String>,
    /// Call-associated data for the pop-up.
    pub cad: Vec<CadFromSip>,
}

/// Why a callback request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRefused {
    /// The number is not one to call back (its reason code).
    #[error("the number cannot be called back: {0}")]
    Number(&'static str),
    /// The ACD refused (the widget's queue is gone).
    #[error(transparent)]
    Routing(#[from] RoutingError),
}

impl CallbackAsk {
    /// Checks the number on the switch, then files the callback in the contact center.
    ///
    /// # Errors
    /// Why nothing was filed.
    pub fn file(
        self,
        node: &mut Node,
        now: Instant,
    ) -> Result<(InteractionId, Option<QueuePosition>), CallbackRefused> {
        let number = node
            .switch()
            .check_callback_number(&self.number)
            .map_err(CallbackRefused::Number)?;
        let interaction = node.switch_mut().new_interaction_id();
        let request = CallbackRequest {
            interaction: interaction.clone(),
            queue: self.queue,
            number,
            dnis: String::new(),
            at: self.at,
            attempts: 0,
            widget: self.widget,
            cad: self.cad,
            restored: false,
        };
        let center = node.center_at(now);
        center.callback(now, request)?;
        let position = center.queue_position(&interaction);
        Ok((interaction, position))
    }
}
