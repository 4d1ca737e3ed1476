//! A small table of named timers: each key has at most one deadline, and the table answers
//! "which deadline is next" and "which keys have expired" in logarithmic time.
//!
//! The ACD keeps one table for its own timers (ring timeouts, max waits) and each agent
//! keeps one for its own (wrap-up expiry), in the manner of quinn-proto's `TimerTable`.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Named timers keyed by `K`; setting a key again replaces its deadline.
#[derive(Debug, Clone)]
pub struct TimerTable<K> {
    deadlines: HashMap<K, Instant>,
    order: BTreeSet<(Instant, K)>,
}

impl<K> Default for TimerTable<K> {
    fn default() -> Self {
        TimerTable {
            deadlines: HashMap::new(),
            order: BTreeSet::new(),
        }
    }
}

impl<K: Clone + Ord + Hash> TimerTable<K> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `key` to fire at `at`, replacing any earlier deadline for it.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.deadlines.insert(key.clone(), at) {
            self.order.remove(&(old, key.clone()));
        }
        self.order.insert((at, key));
    }

    /// Disarms `key`; returns its deadline if it was armed.
    pub fn cancel(&mut self, key: &K) -> Option<Instant> {
        let at = self.deadlines.remove(key)?;
        self.order.remove(&(at, key.clone()));
        Some(at)
    }

    /// The deadline of `key`, if armed.
    #[must_use]
    pub fn get(&self, key: &K) -> Option<Instant> {
        self.deadlines.get(key).copied()
    }

    /// The earliest deadline of all armed timers.
    #[must_use]
    pub fn earliest(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Disarms and returns the earliest timer due at or before `now`, if any.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.order.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.order.pop_first()?;
        self.deadlines.remove(&key);
        Some(key)
    }

    /// Disarms everything.
    pub fn clear(&mut self) {
        self.deadlines.clear();
        self.order.clear();
    }

    /// How many timers are armed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// No timer is armed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_fire_in_deadline_order_and_resetting_replaces_the_deadline() {
        let t0 = crate::runtime::clock::now();
        let mut table = TimerTable::new();
        table.set("b", t0 + Duration::from_secs(2));
        table.set("a", t0 + Duration::from_secs(5));
        table.set("a", t0 + Duration::from_secs(1));
        assert_eq!(table.len(), 2);
        assert_eq!(table.earliest(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(t0), None);
        let now = t0 + Duration::from_secs(3);
        assert_eq!(table.pop_expired(now), Some("a"));
        assert_eq!(table.pop_expired(now), Some("b"));
        assert_eq!(table.pop_expired(now), None);
        assert!(table.is_empty());
    }

    #[test]
    fn a_cancelled_timer_never_fires() {
        let t0 = crate::runtime::clock::now();
        let mut table = TimerTable::new();
        table.set(1u8, t0);
        assert_eq!(table.cancel(&1), Some(t0));
        assert_eq!(table.cancel(&1), None);
        assert_eq!(table.earliest(), None);
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(9)), None);
    }
}
