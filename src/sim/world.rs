//! The simulated world: one [`Node`] (switch and contact center, wired as the runtime wires
//! them), scripted phones on the seeded [`Net`], the [`MediaPlane`] model, a store model
//! that keeps what the node persists, and a script of actions at virtual times.
//!
//! [`World::step`] jumps the clock to the earliest of: the next datagram, the next scripted
//! action, a phone's next action, the media plane's next report, the store's next
//! acknowledgement, and the node's `poll_timeout`; does that one thing; drains the node; and
//! checks the invariants that are cheap enough to check every time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::media::MediaPlane;
use super::net::{Datagram, Net};
use super::phone::{Incoming, Phone};
use crate::bus::events::Publication;
use crate::call::Switch;
use crate::call::lab::config;
use crate::center::{ContactCenter, Job};
use crate::node::{Node, Output};
use crate::routing::model::{AgentId, InteractionId, InteractionState, QueueConfig};
use crate::routing::{Acd, Command};
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use crate::store::{Cdr, OrgSettings};

pub const SWITCH: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5060);

/// A phone of the world, by index.
pub type PhoneId = usize;

type Action = Box<dyn FnOnce(&mut World)>;

/// What the node persisted, as a store would keep it.
#[derive(Default)]
pub struct Store {
    /// Final CDRs, in the order written.
    pub cdrs: Vec<Cdr>,
    /// The states each interaction was persisted in, in order.
    pub interactions: BTreeMap<InteractionId, Vec<InteractionState>>,
    /// Agents' state changes, in order: (agent, new state name).
    pub agent_states: Vec<(AgentId, String)>,
}

pub struct World {
    pub seed: u64,
    pub now: Instant,
    start: Instant,
    pub node: Node,
    net: Net,
    pub media: MediaPlane,
    pub phones: Vec<Phone>,
    /// Scripted actions: when, then the order they were scheduled in (ties keep it).
    script: BTreeMap<(Instant, u64), (String, Action)>,
    scheduled: u64,
    /// Final CDR writes not acknowledged yet: when the store answers, the token.
    cdr_acks: Vec<(Instant, u64)>,
    pub store: Store,
    /// Events published for desktops.
    pub events: Vec<Publication>,
    rng: SmallRng,
    trace: bool,
}

impl World {
    /// A switch for extensions 1000–1019 and a contact center on `settings` with `queues`,
    /// everything seeded with `seed`.
    pub fn new(seed: u64, settings: OrgSettings, queues: Vec<QueueConfig>) -> World {
        let now = crate::runtime::clock::now();
        let unix = Duration::from_secs(1_800_000_000);
        let switch = Switch::new(config(seed), now, unix);
        let mut acd = Acd::new(crate::center::routing_settings(&settings));
        for queue in queues {
            acd.handle_command(now, Command::UpsertQueue(queue))
                .expect("a valid queue");
        }
        while acd.poll_output().is_some() {}
        let center = ContactCenter::new(acd, settings, "recordings".into(), now, unix);
        let mut world = World {
            seed,
            now,
            start: now,
            node: Node::new(switch, center, now),
            net: Net::new(SmallRng::seed_from_u64(seed)),
            media: MediaPlane::default(),
            phones: Vec::new(),
            script: BTreeMap::new(),
            scheduled: 0,
            cdr_acks: Vec::new(),
            store: Store::default(),
            events: Vec::new(),
            rng: SmallRng::seed_from_u64(seed ^ 0x5eed),
            trace: std::env::var_os("SIM_TRACE").is_some(),
        };
        world.pump();
        world
    }

    /// A phone for `user` at `addr`, not registered.
    pub fn add_phone(&mut self, user: &str, addr: SocketAddr, incoming: Incoming) -> PhoneId {
        let rng = SmallRng::seed_from_u64(
            self.seed
                .wrapping_mul(31)
                .wrapping_add(self.phones.len() as u64),
        );
        self.phones.push(Phone::new(user, addr, incoming, rng));
        self.phones.len() - 1
    }

    /// A phone for extension `user` at its lab address, registered as if before a restart
    /// (no REGISTER on the wire; the register flow sends real ones).
    pub fn registered_phone(&mut self, user: &str, incoming: Incoming) -> PhoneId {
        let addr = crate::call::lab::phone(user);
        let aor = format!("{user}@{}", crate::call::lab::DOMAIN);
        self.node.switch_mut().restore_binding(
            self.now,
            &aor,
            crate::call::lab::persisted_binding(user),
        );
        self.pump();
        self.add_phone(user, addr, incoming)
    }

    pub fn phone(&self, id: PhoneId) -> &Phone {
        &self.phones[id]
    }

    /// Lets phone `id` act now (dial, hang up, re-INVITE, REFER...).
    pub fn with_phone<T>(&mut self, id: PhoneId, act: impl FnOnce(&mut Phone) -> T) -> T {
        let result = act(&mut self.phones[id]);
        self.pump();
        result
    }

    /// A random duration in `range` (milliseconds), from the seed.
    pub fn millis(&mut self, range: std::ops::RangeInclusive<u64>) -> Duration {
        Duration::from_millis(self.rng.random_range(range))
    }

    /// Does `action` `after` from now.
    pub fn after(
        &mut self,
        after: Duration,
        label: &str,
        action: impl FnOnce(&mut World) + 'static,
    ) {
        self.scheduled += 1;
        self.script.insert(
            (self.now + after, self.scheduled),
            (label.to_owned(), Box::new(action)),
        );
    }

    /// Virtual time since the world began.
    pub fn elapsed(&self) -> Duration {
        self.now.duration_since(self.start)
    }

    // ----- time -----

    /// Does the next thing; `false` when nothing is left to happen at all.
    pub fn step(&mut self) -> bool {
        let packet = self.net.next_arrival();
        let scripted = self.script.keys().next().map(|(at, _)| *at);
        let phone = self.phones.iter().filter_map(Phone::next_due).min();
        let media = self.media.next_event();
        let stored = self.cdr_acks.iter().map(|(at, _)| *at).min();
        let timeout = self.node.poll_timeout();
        let Some(at) = [packet, scripted, phone, media, stored, timeout]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        if packet == Some(at) {
            let datagram = self.net.deliver().expect("one is due");
            self.deliver(datagram);
        } else if scripted == Some(at) {
            let (_, (label, action)) = self.script.pop_first().expect("one is due");
            self.say(|| format!("script: {label}"));
            action(self);
        } else if phone == Some(at) {
            for phone in &mut self.phones {
                phone.fire(now);
            }
        } else if media == Some(at) {
            while let Some(event) = self.media.take_event(now) {
                self.say(|| format!("media: {event:?}"));
                self.node.handle_media_event(now, event);
                self.pump();
            }
        } else if stored == Some(at) {
            let due: Vec<u64> = self
                .cdr_acks
                .iter()
                .filter(|(t, _)| *t <= now)
                .map(|(_, token)| *token)
                .collect();
            self.cdr_acks.retain(|(t, _)| *t > now);
            for token in due {
                self.node.handle_persisted(now, token);
                self.pump();
            }
        } else {
            self.node.handle_timeout(now);
        }
        self.pump();
        self.check_every_step();
        true
    }

    /// Steps until `done` holds; fails the seed if it does not within `limit`.
    pub fn run_until(&mut self, what: &str, limit: Duration, done: impl Fn(&World) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            if self.now > end || !self.step() {
                self.fail(&format!("{what}: not reached within {limit:?}"));
            }
        }
    }

    /// Steps through everything due in the next `span`.
    pub fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        while self.next_at().is_some_and(|at| at <= end) {
            self.step();
        }
        self.now = self.now.max(end);
    }

    fn next_at(&self) -> Option<Instant> {
        [
            self.net.next_arrival(),
            self.script.keys().next().map(|(at, _)| *at),
            self.phones.iter().filter_map(Phone::next_due).min(),
            self.media.next_event(),
            self.cdr_acks.iter().map(|(at, _)| *at).min(),
            self.node.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- plumbing -----

    fn say(&self, line: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("{:>9.3?} {}", self.elapsed(), line());
        }
    }

    fn deliver(&mut self, datagram: Datagram) {
        self.say(|| {
            let text = String::from_utf8_lossy(&datagram.bytes);
            let first = text.lines().next().unwrap_or_default().to_owned();
            let cseq = text
                .lines()
                .find(|l| l.starts_with("CSeq"))
                .unwrap_or_default()
                .to_owned();
            let call = text
                .lines()
                .find(|l| l.starts_with("Call-ID"))
                .unwrap_or_default()
                .to_owned();
            format!(
                "{} -> {}: {first} [{cseq}] [{call}]",
                datagram.from.port(),
                datagram.to.port()
            )
        });
        if datagram.to == SWITCH {
            self.node
                .handle_datagram(self.now, datagram.from, Transport::Udp, &datagram.bytes);
            return;
        }
        let now = self.now;
        let message = Message::parse(&datagram.bytes).expect("the switch sends valid SIP");
        if let Some(phone) = self.phones.iter_mut().find(|p| p.addr == datagram.to) {
            phone.receive(now, message);
        }
    }

    /// Carries out everything the node asks, then puts what the phones said on the wire.
    pub fn pump(&mut self) {
        let now = self.now;
        while let Some(output) = self.node.poll_output() {
            match output {
                Output::Transmit { to, bytes, .. } => {
                    let message = Message::parse(&bytes).expect("the switch sends valid SIP");
                    // What the switch repeats by itself may be lost; the rest is not. An ACK
                    // is repeated only when its 2xx is, which these phones never do.
                    let lossy = (message.is_request() && message.method() != Some(&Method::Ack))
                        || (message.status().is_some_and(|c| (200..300).contains(&c))
                            && message.cseq().is_some_and(|c| c.method == Method::Invite));
                    self.net.send(
                        now,
                        Datagram {
                            from: SWITCH,
                            to,
                            bytes,
                        },
                        lossy,
                    );
                }
                Output::Media(command) => {
                    self.say(|| format!("media command: {command:?}"));
                    self.media.apply(now, command);
                }
                Output::PersistCdr { token, cdr } => {
                    if self.store.cdrs.iter().any(|c| c.id == cdr.id) {
                        self.fail(&format!("CDR written twice: {cdr:?}"));
                    }
                    self.say(|| {
                        format!(
                            "cdr: {} {:?} {}",
                            cdr.call_id, cdr.hangup_cause, cdr.sip_code
                        )
                    });
                    self.store.cdrs.push(*cdr);
                    // The store answers a few milliseconds later, as the writer does.
                    let at = now + Duration::from_millis(self.rng.random_range(0..=5));
                    self.cdr_acks.push((at, token));
                }
                Output::PersistCdrInProgress(_) | Output::PersistBinding(_) => {}
                Output::Persist(job) => self.keep(job),
                Output::Publish(event) => {
                    self.say(|| format!("event: {} {}", event.kind, event.data));
                    self.events.push(event);
                }
            }
        }
        for phone in &mut self.phones {
            for message in phone.outbox.drain(..) {
                let datagram = Datagram {
                    from: phone.addr,
                    to: SWITCH,
                    bytes: message.to_bytes(),
                };
                self.net.send(now, datagram, false);
            }
        }
    }

    /// The store model's share of a contact-center write.
    fn keep(&mut self, job: Job) {
        match job {
            Job::Arrived(ix) => {
                let states = self.store.interactions.entry(ix.id.clone()).or_default();
                if !states.is_empty() {
                    self.fail(&format!("{} arrived twice", ix.id));
                }
                states.push(ix.state);
            }
            Job::Progress(progress) => {
                let states = self
                    .store
                    .interactions
                    .entry(progress.id.clone())
                    .or_default();
                if states.last() == Some(&InteractionState::WrappedUp) {
                    let id = progress.id.clone();
                    self.fail(&format!(
                        "{id} moved on after its wrap-up: {:?}",
                        progress.state
                    ));
                }
                self.store
                    .interactions
                    .get_mut(&progress.id)
                    .expect("entered above")
                    .push(progress.state);
            }
            Job::AgentState(change) => {
                self.store
                    .agent_states
                    .push((change.agent, change.to.name().to_owned()));
            }
            _ => {}
        }
    }

    /// Fails the flow for this seed, saying how to replay it.
    pub fn fail(&self, why: &str) -> ! {
        panic!(
            "seed {}: {why} (at {:?}; replay with SIM_SEED={} SIM_TRACE=1)",
            self.seed,
            self.elapsed(),
            self.seed
        )
    }

    /// Fails the seed unless `holds`.
    pub fn check(&self, holds: bool, what: impl FnOnce() -> String) {
        if !holds {
            self.fail(&what());
        }
    }

    /// The invariants cheap enough for every step.
    fn check_every_step(&self) {
        let holdings = self.node.switch().holdings();
        if holdings.undrained > 0 {
            self.fail(&format!(
                "calls hold {} outputs the switch never drained",
                holdings.undrained
            ));
        }
        if holdings.misrouted_endpoints > 0 {
            self.fail(&format!(
                "{} sides of live calls have a media endpoint that does not route to their call",
                holdings.misrouted_endpoints
            ));
        }
        let ports = holdings.ports;
        if ports != self.media.open.len() {
            self.fail(&format!(
                "the switch holds {ports} port pairs, the media plane has {} endpoints open",
                self.media.open.len()
            ));
        }
        if let Some(error) = self.media.errors.first() {
            self.fail(&format!("media plane: {error}"));
        }
    }
}

impl World {
    /// Phone `phone`'s call `call_id`.
    pub fn call(&self, phone: PhoneId, call_id: &str) -> &super::phone::Call {
        self.phones[phone].call(call_id)
    }
}

impl World {
    /// How many events of `kind` were published.
    pub fn published(&self, kind: &str) -> usize {
        self.events.iter().filter(|e| e.kind == kind).count()
    }
}

impl World {
    /// Lets a seeded 200–1,500 ms pass: the time a person takes to press the next button.
    pub fn linger(&mut self) {
        let span = self.millis(200..=1500);
        self.run_for(span);
    }
}
