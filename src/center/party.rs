//! Parties of a queue call besides its customer. The switch names them by strings in its
//! queue commands and events (`agent`, `party`); inside the contact center they are
//! [`Party`], and this file is the one place that maps one to the other.

use serde_json::{Value, json};

use crate::routing::model::AgentId;

/// The switch's prefix of a consulted number.
const NUMBER: &str = "number:";
/// The switch's prefix of a number a customer was blindly transferred to.
const TRANSFER: &str = "transfer:";
/// The switch's prefix of a queue's overflow number.
const OVERFLOW: &str = "overflow:";

/// Who a queue call rings or connects besides the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Party {
    /// A logged-in agent, rung at its extension.
    Agent(AgentId),
    /// A normalised number or SIP user an agent consults (no agent's).
    Number(String),
    /// A number the customer was blindly transferred to; it returns to its queue if the
    /// number does not answer.
    Transfer(String),
    /// A queue's overflow number; the ACD has already let the caller go.
    Overflow(String),
}

impl Party {
    /// The switch's name for the party.
    pub(super) fn switch_name(&self) -> String {
        match self {
            Party::Agent(agent) => agent.0.clone(),
            Party::Number(number) => format!("{NUMBER}{number}"),
            Party::Transfer(number) => format!("{TRANSFER}{number}"),
            Party::Overflow(number) => format!("{OVERFLOW}{number}"),
        }
    }

    /// The party the switch names `name`.
    pub(super) fn from_switch_name(name: &str) -> Party {
        let prefixed = [
            (NUMBER, Party::Number as fn(String) -> Party),
            (TRANSFER, Party::Transfer),
            (OVERFLOW, Party::Overflow),
        ];
        prefixed
            .into_iter()
            .find_map(|(prefix, party)| Some(party(name.strip_prefix(prefix)?.to_owned())))
            .unwrap_or_else(|| Party::Agent(AgentId(name.to_owned())))
    }

    /// The party as the interaction's participants name it: an agent id or digits.
    pub(super) fn address(&self) -> &str {
        match self {
            Party::Agent(agent) => agent.as_str(),
            Party::Number(number) | Party::Transfer(number) | Party::Overflow(number) => number,
        }
    }

    /// The agent, when the party is one.
    pub(super) fn agent(&self) -> Option<&AgentId> {
        match self {
            Party::Agent(agent) => Some(agent),
            _ => None,
        }
    }

    /// As events name it: `{"type": "agent" | "number", "id": ...}`.
    pub(super) fn json(&self) -> Value {
        match self.agent() {
            Some(agent) => json!({"type": "agent", "id": agent}),
            None => json!({"type": "number", "id": self.address()}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_party_survives_the_round_trip_through_the_switchs_name() {
        let parties = [
            Party::Agent("alice".into()),
            Party::Number("5550100".into()),
            Party::Transfer("5550101".into()),
            Party::Overflow("5550102".into()),
        ];
        for party in parties {
            assert_eq!(Party::from_switch_name(&party.switch_name()), party);
        }
        assert_eq!(Party::Transfer("555".into()).switch_name(), "transfer:555");
        assert_eq!(Party::Number("555".into()).address(), "555");
    }
}
