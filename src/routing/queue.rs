//! One queue: its configuration and its waiting callers, ordered by priority (higher first)
//! and arrival (FIFO within a priority).
//!
//! A caller whose offer failed (RONA, decline, unreachable phone) goes back to the head of
//! its priority band, ahead of callers who were never offered, so a failed offer never costs
//! a caller their place. Across priorities the order stays strict: a higher-priority caller
//! who arrived during the ringing still goes first (mod_callcenter's score ordering works the
//! same way). A caller overflowing in from another queue keeps its original arrival time.

use super::model::{AgentId, InteractionId, QueueConfig};
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Where a waiting caller sorts: priority band, then returning callers, then arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    priority: Reverse<u8>,
    // false sorts first: callers put back at the head.
    fresh: bool,
    arrived_at: Instant,
    seq: u64,
}

/// A caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The caller's interaction.
    pub interaction: InteractionId,
    /// Higher goes first.
    pub priority: u8,
    /// When the caller first reached the ACD (kept across overflow and transfers).
    pub arrived_at: Instant,
}

/// A queue's live state.
#[derive(Debug, Clone)]
pub struct Queue {
    config: QueueConfig,
    waiting: BTreeMap<Place, InteractionId>,
    places: HashMap<InteractionId, Place>,
    seq: u64,
    /// The agent offered last, for round-robin.
    pub(super) last_offered: Option<AgentId>,
    /// Moving average of handle time (answer to wrap-up done), for expected-wait estimates.
    average_handle_time: Option<Duration>,
}

impl Queue {
    /// An empty queue.
    #[must_use]
    pub fn new(config: QueueConfig) -> Self {
        Queue {
            config,
            waiting: BTreeMap::new(),
            places: HashMap::new(),
            seq: 0,
            last_offered: None,
            average_handle_time: None,
        }
    }

    /// The queue's configuration.
    #[must_use]
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Replaces the configuration; waiting callers stay.
    pub fn set_config(&mut self, config: QueueConfig) {
        self.config = config;
    }

    /// Adds a caller behind everyone of its priority who arrived before it.
    pub fn enqueue(&mut self, waiting: Waiting) {
        self.insert(waiting, true);
    }

    /// Puts a caller back at the head of its priority band (after a failed offer).
    pub fn requeue_at_head(&mut self, waiting: Waiting) {
        self.insert(waiting, false);
    }

    fn insert(&mut self, waiting: Waiting, fresh: bool) {
        self.remove(&waiting.interaction);
        self.seq += 1;
        let place = Place {
            priority: Reverse(waiting.priority),
            fresh,
            arrived_at: waiting.arrived_at,
            seq: self.seq,
        };
        self.places.insert(waiting.interaction.clone(), place);
        self.waiting.insert(place, waiting.interaction);
    }

    /// Takes a caller out of the queue; returns it if it was waiting.
    pub fn remove(&mut self, interaction: &InteractionId) -> Option<Waiting> {
        let place = self.places.remove(interaction)?;
        let interaction = self.waiting.remove(&place)?;
        Some(Waiting {
            interaction,
            priority: place.priority.0,
            arrived_at: place.arrived_at,
        })
    }

    /// The caller's 1-based position, if waiting.
    #[must_use]
    pub fn position(&self, interaction: &InteractionId) -> Option<usize> {
        let place = self.places.get(interaction)?;
        Some(self.waiting.range(..place).count() + 1)
    }

    /// Whether the caller is waiting here.
    #[must_use]
    pub fn contains(&self, interaction: &InteractionId) -> bool {
        self.places.contains_key(interaction)
    }

    /// Waiting callers, head first, with their priority and arrival.
    pub fn iter(&self) -> impl Iterator<Item = Waiting> + '_ {
        self.waiting.iter().map(|(place, interaction)| Waiting {
            interaction: interaction.clone(),
            priority: place.priority.0,
            arrived_at: place.arrived_at,
        })
    }

    /// How many callers wait.
    #[must_use]
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Nobody waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// How long the longest-waiting caller has waited since reaching the ACD.
    #[must_use]
    pub fn longest_wait(&self, now: Instant) -> Duration {
        self.places
            .values()
            .map(|place| now.saturating_duration_since(place.arrived_at))
            .max()
            .unwrap_or_default()
    }

    /// Folds one observed handle time into the queue's moving average.
    pub fn observe_handle_time(&mut self, handle_time: Duration) {
        self.average_handle_time = Some(match self.average_handle_time {
            // An exponential moving average (weight 1/5) follows shifts in call length
            // within a few calls without remembering every call.
            Some(average) => (average * 4 + handle_time) / 5,
            None => handle_time,
        });
    }

    /// The observed average handle time, if any call has been handled yet.
    #[must_use]
    pub fn average_handle_time(&self) -> Option<Duration> {
        self.average_handle_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::model::Strategy;

    fn config() -> QueueConfig {
        QueueConfig {
            id: "sales".into(),
            name: "Sales".into(),
            number: "7000".into(),
            strategy: Strategy::LongestIdle,
            required_skills: vec![],
            teams: vec![],
            ring_timeout: Duration::from_secs(15),
            max_wait: None,
            overflow: None,
            wrap_up_max: None,
            last_agent_routing: false,
            disposition_required: false,
            music: None,
            recording: None,
            noise_suppression: None,
            max_calls: 0,
            outdial_caller_id: None,
            courtesy_callback_after: None,
            courtesy_prompt: None,
        }
    }

    fn caller(id: &str, priority: u8, arrived_at: Instant) -> Waiting {
        Waiting {
            interaction: id.into(),
            priority,
            arrived_at,
        }
    }

    fn order(queue: &Queue) -> Vec<String> {
        queue.iter().map(|w| w.interaction.0).collect()
    }

    #[test]
    fn higher_priority_goes_first_and_fifo_holds_within_a_priority() {
        let t0 = crate::runtime::clock::now();
        let s = Duration::from_secs;
        let mut queue = Queue::new(config());
        queue.enqueue(caller("a", 0, t0));
        queue.enqueue(caller("b", 5, t0 + s(1)));
        queue.enqueue(caller("c", 0, t0 + s(2)));
        queue.enqueue(caller("d", 5, t0 + s(3)));
        assert_eq!(order(&queue), ["b", "d", "a", "c"]);
        assert_eq!(queue.position(&"a".into()), Some(3));
        assert_eq!(queue.longest_wait(t0 + s(10)), s(10));
    }

    #[test]
    fn a_requeued_caller_goes_to_the_head_of_its_priority_band() {
        let t0 = crate::runtime::clock::now();
        let s = Duration::from_secs;
        let mut queue = Queue::new(config());
        queue.enqueue(caller("a", 0, t0 + s(1)));
        queue.enqueue(caller("hi", 9, t0 + s(2)));
        queue.requeue_at_head(caller("late", 0, t0 + s(5)));
        assert_eq!(order(&queue), ["hi", "late", "a"]);
    }

    #[test]
    fn an_overflowed_caller_keeps_its_arrival_time() {
        let t0 = crate::runtime::clock::now();
        let s = Duration::from_secs;
        let mut queue = Queue::new(config());
        queue.enqueue(caller("new", 0, t0 + s(30)));
        queue.enqueue(caller("old", 0, t0));
        assert_eq!(order(&queue), ["old", "new"]);
        assert_eq!(queue.remove(&"old".into()).map(|w| w.arrived_at), Some(t0));
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn handle_time_average_moves_towards_new_observations() {
        let mut queue = Queue::new(config());
        assert_eq!(queue.average_handle_time(), None);
        queue.observe_handle_time(Duration::from_secs(100));
        queue.observe_handle_time(Duration::from_secs(200));
        assert_eq!(queue.average_handle_time(), Some(Duration::from_secs(120)));
    }
}
