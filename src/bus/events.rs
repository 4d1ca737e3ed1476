//! The event stream desktops follow: every event gets the next sequence number, is kept in a
//! bounded ring, and is pushed to live subscribers, so a desktop that reconnects with
//! `?since=SEQ` (or SSE's `Last-Event-ID`) gets exactly the events it missed, then live ones.
//!
//! Events are rendered to JSON once, when published; a subscriber only filters by
//! [`Audience`] and writes bytes, which keeps fan-out to a thousand desktops cheap. A
//! subscriber that falls behind the live channel recovers from the ring instead of losing
//! events; only a desktop away for longer than the ring holds gets a `stream.gap` event
//! telling it which sequence numbers are gone (it should reload state through the API).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::routing::model::{AgentId, Role, TeamId};

/// How many events the ring keeps for resuming desktops.
pub const RING_CAPACITY: usize = 16_384;
/// Live channel depth per subscriber before it must catch up from the ring.
const LIVE_CAPACITY: usize = 4_096;

/// Who may see an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Audience {
    /// Every authenticated desktop (queue statistics).
    Everyone,
    /// The agent concerned, supervisors of its team, and admins.
    Agent {
        /// The agent the event is about.
        agent: AgentId,
        /// The agent's team, for its supervisors.
        team: Option<TeamId>,
    },
    /// Several agents (a consult or conference), with the same supervisor and admin rule.
    Agents(Vec<(AgentId, Option<TeamId>)>),
    /// Supervisors and admins only.
    Supervisors,
}

/// An event to publish: what happened (`kind`, e.g. `"agent.state_changed"`), when (Unix
/// milliseconds), who may see it and its payload. Cores emit these as data; the runtime
/// hands them to the [`EventBus`], which numbers and renders them.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// The event type.
    pub kind: &'static str,
    /// When it happened, in Unix milliseconds.
    pub at_ms: i64,
    /// Who may see it.
    pub audience: Audience,
    /// The payload (snake_case keys).
    pub data: Value,
}

/// Who is watching: the authenticated principal of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The agent (or API token) id.
    pub agent: AgentId,
    /// Its role.
    pub role: Role,
    /// Teams it belongs to or supervises.
    pub teams: Vec<TeamId>,
}

impl Audience {
    /// Whether `viewer` may see an event meant for this audience.
    #[must_use]
    pub fn admits(&self, viewer: &Viewer) -> bool {
        let concerns = |agent: &AgentId, team: &Option<TeamId>| match viewer.role {
            Role::Admin => true,
            Role::Supervisor => {
                agent == &viewer.agent || team.as_ref().is_some_and(|t| viewer.teams.contains(t))
            }
            Role::Agent => agent == &viewer.agent,
        };
        match self {
            Audience::Everyone => true,
            Audience::Agent { agent, team } => concerns(agent, team),
            Audience::Agents(list) => list.iter().any(|(agent, team)| concerns(agent, team)),
            Audience::Supervisors => viewer.role != Role::Agent,
        }
    }
}

/// One published event: its number, who may see it, and its JSON text.
#[derive(Debug)]
pub struct Published {
    /// Sequence number, from 1, strictly increasing.
    pub seq: u64,
    /// Who may see it.
    pub audience: Audience,
    /// `{"seq", "type", "at", "data"}` rendered once.
    pub json: Arc<str>,
}

struct Ring {
    next_seq: u64,
    events: VecDeque<Arc<Published>>,
}

/// The bus: publish from the core loop, subscribe from WebSocket/SSE handlers.
#[derive(Clone)]
pub struct EventBus {
    ring: Arc<Mutex<Ring>>,
    live: broadcast::Sender<Arc<Published>>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

/// What a subscriber receives first: the backlog it asked for, and whether some of it is gone.
pub struct Subscription {
    /// Events after `since`, oldest first.
    pub backlog: Vec<Arc<Published>>,
    /// Set when events after `since` have already left the ring: `(first_lost, last_lost)`.
    pub gap: Option<(u64, u64)>,
    /// Live events from here on (may repeat backlog sequence numbers; skip those).
    pub live: broadcast::Receiver<Arc<Published>>,
}

impl EventBus {
    /// An empty bus whose first event will be number 1.
    #[must_use]
    pub fn new() -> EventBus {
        EventBus::starting_after(0)
    }

    /// A bus whose first event will be `last_seq + 1` (a restarted switch continues numbering).
    #[must_use]
    pub fn starting_after(last_seq: u64) -> EventBus {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        EventBus {
            ring: Arc::new(Mutex::new(Ring {
                next_seq: last_seq + 1,
                events: VecDeque::with_capacity(1024),
            })),
            live,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring inconsistent (every mutation
        // is a single push/pop), so a poisoned lock is still usable.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last sequence number handed out (0 before the first event).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Publishes an event of `kind` (e.g. `"agent.state_changed"`) at `at_unix_ms`.
    pub fn publish(&self, kind: &str, at_unix_ms: i64, audience: Audience, data: Value) -> u64 {
        let mut ring = self.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let json = json!({"seq": seq, "type": kind, "at": at_unix_ms, "data": data}).to_string();
        let event = Arc::new(Published {
            seq,
            audience,
            json: json.into(),
        });
        if ring.events.len() == RING_CAPACITY {
            ring.events.pop_front();
        }
        ring.events.push_back(event.clone());
        // Sent under the lock so live order always equals sequence order. No receivers is fine.
        let _ = self.live.send(event);
        seq
    }

    /// Publishes a core's event; returns its sequence number.
    pub fn send(&self, event: Publication) -> u64 {
        self.publish(event.kind, event.at_ms, event.audience, event.data)
    }

    /// Subscribes: with `Some(since)`, the backlog holds the kept events after `since`;
    /// with `None`, the subscriber only wants live events.
    #[must_use]
    pub fn subscribe(&self, since: Option<u64>) -> Subscription {
        let ring = self.lock();
        let live = self.live.subscribe();
        let Some(since) = since else {
            return Subscription {
                backlog: Vec::new(),
                gap: None,
                live,
            };
        };
        let oldest = ring.events.front().map_or(ring.next_seq, |e| e.seq);
        let gap = (since + 1 < oldest).then(|| (since + 1, oldest - 1));
        let backlog = ring
            .events
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect();
        Subscription { backlog, gap, live }
    }

    /// Events after `since` still in the ring (a lagging subscriber catches up with this).
    #[must_use]
    pub fn after(&self, since: u64) -> Vec<Arc<Published>> {
        self.lock()
            .events
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect()
    }
}

/// Keys of `value` (at any depth) that are not snake_case: event payloads use snake_case
/// everywhere, and tests check every event they see with this. The keys of a `cad` object
/// are skipped: they are the caller's variable names (`X-Cad-<key>`), data rather than ours.
#[must_use]
pub fn non_snake_case_keys(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let snake = key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !snake {
                        found.push(key.clone());
                    }
                    if key != "cad" {
                        stack.push(inner);
                    }
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// Follows a subscription for one viewer: backlog first, then live events, catching up from
/// the ring after a lag, never yielding a sequence number twice or out of order.
pub struct Follower {
    bus: EventBus,
    viewer: Viewer,
    pending: VecDeque<(u64, Arc<str>)>,
    live: broadcast::Receiver<Arc<Published>>,
    last_seq: u64,
}

impl Follower {
    /// Starts following `bus` for `viewer` after `since` (`None`: live events only).
    #[must_use]
    pub fn new(bus: &EventBus, viewer: Viewer, since: Option<u64>) -> Follower {
        let sub = bus.subscribe(since);
        let mut follower = Follower {
            bus: bus.clone(),
            viewer,
            pending: VecDeque::new(),
            live: sub.live,
            last_seq: since.unwrap_or_else(|| bus.last_seq()),
        };
        if let Some((from, to)) = sub.gap {
            let gap = json!({"seq": to, "type": "stream.gap", "data": {"from": from, "to": to}});
            follower.pending.push_back((to, gap.to_string().into()));
        }
        for event in sub.backlog {
            follower.accept(&event);
        }
        follower
    }

    fn accept(&mut self, event: &Published) {
        if event.seq <= self.last_seq {
            return;
        }
        self.last_seq = event.seq;
        if event.audience.admits(&self.viewer) {
            self.pending.push_back((event.seq, event.json.clone()));
        }
    }

    /// The next event for this viewer, with its sequence number; `None` when the bus is gone.
    pub async fn next(&mut self) -> Option<(u64, Arc<str>)> {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return Some(next);
            }
            match self.live.recv().await {
                Ok(event) => self.accept(&event),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    for event in self.bus.after(self.last_seq) {
                        self.accept(&event);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The last sequence number this follower has passed (delivered or filtered out).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(agent: &str, role: Role, teams: &[&str]) -> Viewer {
        Viewer {
            agent: agent.into(),
            role,
            teams: teams.iter().map(|t| TeamId::from(*t)).collect(),
        }
    }

    fn about(agent: &str, team: &str) -> Audience {
        Audience::Agent {
            agent: agent.into(),
            team: Some(team.into()),
        }
    }

    #[test]
    fn agents_see_their_own_events_supervisors_their_teams_admins_all() {
        let event = about("alice", "blue");
        assert!(event.admits(&viewer("alice", Role::Agent, &[])));
        assert!(!event.admits(&viewer("bob", Role::Agent, &["blue"])));
        assert!(event.admits(&viewer("sue", Role::Supervisor, &["blue"])));
        assert!(!event.admits(&viewer("sam", Role::Supervisor, &["red"])));
        assert!(event.admits(&viewer("root", Role::Admin, &[])));
        assert!(!Audience::Supervisors.admits(&viewer("alice", Role::Agent, &[])));
        assert!(Audience::Everyone.admits(&viewer("alice", Role::Agent, &[])));
    }

    #[tokio::test]
    async fn a_resumed_follower_gets_exactly_the_missed_events_then_live_ones() {
        let bus = EventBus::new();
        let alice = viewer("alice", Role::Agent, &[]);
        bus.publish("a", 1, about("alice", "blue"), json!(1));
        let last_seen = bus.last_seq();
        for n in 0..3 {
            bus.publish("missed", 2, about("alice", "blue"), json!(n));
            bus.publish("not-mine", 2, about("bob", "blue"), json!(n));
        }
        let mut follower = Follower::new(&bus, alice, Some(last_seen));
        bus.publish("live", 3, about("alice", "blue"), json!("live"));
        let mut got = Vec::new();
        for _ in 0..4 {
            let json: Value = serde_json::from_str(&follower.next().await.unwrap().1).unwrap();
            got.push((
                json["type"].as_str().unwrap().to_owned(),
                json["seq"].as_u64().unwrap(),
            ));
        }
        assert_eq!(
            got,
            vec![
                ("missed".into(), 2),
                ("missed".into(), 4),
                ("missed".into(), 6),
                ("live".into(), 8)
            ]
        );
    }

    #[tokio::test]
    async fn a_follower_that_lags_behind_the_live_channel_catches_up_from_the_ring() {
        let bus = EventBus::new();
        let mut follower = Follower::new(&bus, viewer("root", Role::Admin, &[]), None);
        let total = LIVE_CAPACITY as u64 + 100;
        for n in 0..total {
            bus.publish("tick", 0, Audience::Everyone, json!(n));
        }
        for expected in 1..=total {
            let json: Value = serde_json::from_str(&follower.next().await.unwrap().1).unwrap();
            assert_eq!(json["seq"].as_u64(), Some(expected));
        }
    }

    #[tokio::test]
    async fn resuming_from_before_the_ring_reports_the_gap() {
        let bus = EventBus::starting_after(1000);
        bus.publish("x", 0, Audience::Everyone, json!(null));
        let mut follower = Follower::new(&bus, viewer("root", Role::Admin, &[]), Some(10));
        let gap: Value = serde_json::from_str(&follower.next().await.unwrap().1).unwrap();
        assert_eq!(gap["type"], "stream.gap");
        assert_eq!(gap["data"], json!({"from": 11, "to": 1000}));
        let next: Value = serde_json::from_str(&follower.next().await.unwrap().1).unwrap();
        assert_eq!(next["seq"], 1001);
    }

    #[test]
    fn camel_case_keys_are_found_at_any_depth_but_not_among_cad_names() {
        let event = json!({"seq": 1, "data": {"interaction": "ix", "autoResumed": true,
            "party": [{"agentId": "bob"}], "cad": {"accountNumber": "42"}}});
        let mut found = non_snake_case_keys(&event);
        found.sort();
        assert_eq!(found, ["agentId", "autoResumed"]);
    }
}
