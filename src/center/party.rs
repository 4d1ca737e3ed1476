//! How the contact center names the parties of a queue call besides its customer
//! ([`Party`], shared with the switch in [`crate::ids`]) in events and participant lists.

use serde_json::{Value, json};

pub use crate::ids::Party;
use crate::routing::model::AgentId;

impl Party {
    /// The party's prefixed label (`alice`, `number:5550100`, `transfer:…`, `overflow:…`),
    /// which a desktop may also use to name the participant it drops.
    pub(super) fn label(&self) -> String {
        match self {
            Party::Agent(agent) => agent.0.clone(),
            Party::Number(number) => format!("number:{number}"),
            Party::Transfer(number) => format!("transfer:{number}"),
            Party::Overflow(number) => format!("overflow:{number}"),
        }
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
    fn a_party_is_addressed_by_its_number_and_labelled_by_its_kind() {
        assert_eq!(Party::Transfer("555".into()).label(), "transfer:555");
        assert_eq!(Party::Number("555".into()).address(), "555");
        assert_eq!(Party::Agent("alice".into()).label(), "alice");
        assert_eq!(Party::Overflow("555".into()).agent(), None);
    }
}
