//! Read-only views of what the contact center holds, for tests that check nothing is
//! leaked (the simulation's invariants). Counts only.

use super::ContactCenter;

/// How much live state the contact center holds. All zero once every interaction is over
/// and every recording stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Interactions the ACD still routes or connects.
    pub interactions: usize,
    /// Customers on hold.
    pub held: usize,
    /// Consults going on.
    pub consults: usize,
    /// Blind transfers to numbers waiting for an answer.
    pub transfers: usize,
    /// Recordings being written.
    pub recordings: usize,
    /// CAD kept for offers.
    pub cad: usize,
    /// Armed timers of this core (Data Shield).
    pub timers: usize,
}

impl Holdings {
    /// Nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Holdings::default()
    }
}

impl ContactCenter {
    /// What the contact center holds now.
    #[must_use]
    pub fn holdings(&self) -> Holdings {
        Holdings {
            interactions: self.acd.interaction_count(),
            held: self.held.len(),
            consults: self.consults.len(),
            transfers: self.transfers.len(),
            recordings: self.recordings.len(),
            cad: self.cad.len(),
            timers: self.timers.len(),
        }
    }
}
