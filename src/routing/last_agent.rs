//! Last-agent memory: which agent handled a caller's (ANI's) last interaction, bounded to a
//! fixed number of callers, forgetting the least recently handled first.
//!
//! In memory only; the runtime may seed it at start-up from the store's recent interactions.

use super::model::AgentId;
use std::collections::{HashMap, VecDeque};

/// A bounded ANI → agent map with least-recently-remembered eviction.
#[derive(Debug, Clone)]
pub struct LastAgents {
    capacity: usize,
    by_ani: HashMap<String, (AgentId, u64)>,
    // Insertion order with generations; entries whose generation no longer matches
    // `by_ani` are stale and skipped on eviction.
    order: VecDeque<(String, u64)>,
    generation: u64,
}

impl LastAgents {
    /// An empty memory holding at most `capacity` callers.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        LastAgents {
            capacity,
            by_ani: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    /// Remembers that `agent` handled `ani`'s latest interaction. Empty and anonymous
    /// callers are not remembered: they are not one person.
    pub fn remember(&mut self, ani: &str, agent: AgentId) {
        if self.capacity == 0 || is_anonymous(ani) {
            return;
        }
        self.generation += 1;
        self.by_ani
            .insert(ani.to_owned(), (agent, self.generation));
        self.order.push_back((ani.to_owned(), self.generation));
        while self.by_ani.len() > self.capacity {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.by_ani.get(&old).is_some_and(|(_, g)| *g == generation) {
                self.by_ani.remove(&old);
            }
        }
        if self.order.len() > self.capacity.saturating_mul(2).max(16) {
            let by_ani = &self.by_ani;
            self.order
                .retain(|(ani, g)| by_ani.get(ani).is_some_and(|(_, live)| live == g));
        }
    }

    /// The agent of `ani`'s last interaction, if remembered.
    #[must_use]
    pub fn get(&self, ani: &str) -> Option<&AgentId> {
        self.by_ani.get(ani).map(|(agent, _)| agent)
    }

    /// Forgets everything about `agent` (e.g. the agent was removed).
    pub fn forget_agent(&mut self, agent: &AgentId) {
        self.by_ani.retain(|_, (a, _)| a != agent);
    }

    /// Changes the bound, evicting the oldest callers if needed.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        if capacity == 0 {
            self.by_ani.clear();
            self.order.clear();
            return;
        }
        while self.by_ani.len() > capacity {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.by_ani.get(&old).is_some_and(|(_, g)| *g == generation) {
                self.by_ani.remove(&old);
            }
        }
    }

    /// How many callers are remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_ani.len()
    }

    /// Nobody is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_ani.is_empty()
    }
}

fn is_anonymous(ani: &str) -> bool {
    ani.is_empty() || ani.eq_ignore_ascii_case("anonymous") || ani.eq_ignore_ascii_case("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_remembered_caller_is_forgotten_first() {
        let mut memory = LastAgents::new(2);
        memory.remember("100", "alice".into());
        memory.remember("200", "bob".into());
        memory.remember("100", "carol".into());
        memory.remember("300", "dave".into());
        assert_eq!(memory.len(), 2);
        assert_eq!(memory.get("200"), None);
        assert_eq!(memory.get("100"), Some(&AgentId::from("carol")));
        assert_eq!(memory.get("300"), Some(&AgentId::from("dave")));
    }

    #[test]
    fn anonymous_callers_are_not_remembered() {
        let mut memory = LastAgents::new(8);
        memory.remember("anonymous", "alice".into());
        memory.remember("", "alice".into());
        assert!(memory.is_empty());
    }

    #[test]
    fn repeated_callers_keep_the_bookkeeping_bounded() {
        let mut memory = LastAgents::new(4);
        for i in 0..1000 {
            memory.remember("100", AgentId(format!("agent-{i}")));
        }
        assert_eq!(memory.len(), 1);
        assert!(memory.order.len() <= 16);
    }
}
