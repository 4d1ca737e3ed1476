//! Read-only views of what the switch holds, for tests that check nothing is leaked (the
//! simulation's invariants). Counts only: the state itself stays private to the core.

use super::switch::Switch;

/// How much of each kind of state the switch holds. All zero once every call has ended and
/// 64·T1 has passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Live calls.
    pub calls: usize,
    /// Ended calls kept for late answers.
    pub tombstones: usize,
    /// Transactions of the transaction layer.
    pub transactions: usize,
    /// Media port pairs allocated.
    pub ports: usize,
    /// Dialogs routed to calls (legs and answered consult legs).
    pub dialogs: usize,
    /// Transactions routed to calls (server and client side).
    pub routed_transactions: usize,
    /// Answers to BYEs waiting for their CDR to be written.
    pub held_replies: usize,
    /// Queue calls by interaction.
    pub interactions: usize,
    /// Outputs calls queued and the switch has not drained (0 between steps).
    pub undrained: usize,
    /// Media endpoints routed to calls.
    pub endpoint_routes: usize,
    /// Sides of live calls whose media endpoint does not route to their call (0 always).
    pub misrouted_endpoints: usize,
}

impl Holdings {
    /// Nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Holdings::default()
    }
}

impl Switch {
    /// What the switch holds now.
    #[must_use]
    pub fn holdings(&self) -> Holdings {
        Holdings {
            calls: self.calls.len(),
            tombstones: self.tombstones.len(),
            transactions: self.layer.len(),
            ports: self.ports.in_use(),
            dialogs: self.dialogs.len() + self.consult_dialogs.len(),
            routed_transactions: self.server_txns.len() + self.client_txns.len(),
            held_replies: self.held_replies.len(),
            interactions: self.interactions.len(),
            undrained: self.calls.values().map(|c| c.outputs.len()).sum(),
            endpoint_routes: self.endpoint_calls.len(),
            misrouted_endpoints: self
                .calls
                .values()
                .flat_map(|c| [(c.key, c.caller.endpoint.id), (c.key, c.callee.endpoint.id)])
                .filter(|&(key, e)| self.call_of_endpoint(e) != Some(key))
                .count(),
        }
    }
}
