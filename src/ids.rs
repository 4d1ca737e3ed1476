//! The identifiers every layer shares: agents, queues, teams and interactions as newtypes,
//! and the parties of a queue call as an enum, so the switch, the contact center, the store
//! and the API never pass them as bare strings (nor a party as a prefixed one).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        // Maps keyed by the id are looked up by text (what a URL or a SIP header carried).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl $name {
            /// The identifier as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

id_newtype!(
    /// An agent's login id, e.g. `"alice"`.
    AgentId
);
id_newtype!(
    /// A queue's id, e.g. `"sales"`.
    QueueId
);
id_newtype!(
    /// One customer contact, e.g. `"ix-3f9c…"`; the same string the switch uses for the call.
    InteractionId
);
id_newtype!(
    /// A team of agents, the unit a supervisor oversees.
    TeamId
);

/// Who a queue call rings or connects besides the customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Party {
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
