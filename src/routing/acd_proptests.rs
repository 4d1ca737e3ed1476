//! Property tests of the ACD against a simple model of the switch and the agents: random
//! command sequences in virtual time must keep the routing invariants.
//!
//! Checked after every output and every input:
//! - a caller is never offered to two agents at once, except in ring-all queues;
//! - only an Available agent is ever Reserved (an agent in wrap-up, idle, RONA or logged out
//!   never rings), and published transitions chain (each `from` is the previous `to`);
//! - an agent is Reserved exactly while the switch has a live offer for it, so no agent is
//!   left Reserved without one, and no offer rings without a Reserved agent;
//! - callers of one queue and priority are first offered in arrival order (FIFO);
//! - after `handle_timeout(deadline)`, `poll_timeout()` is later or `None`.

use super::*;
use crate::call::{OfferFailure, QueueCommand, QueueEvent};
use crate::ids::Party;
use crate::routing::model::{OverflowTarget, Skill, Strategy as Distribution};
use crate::routing::test_harness::{Harness, agent, queue, secs};
use proptest::prelude::*;

const QUEUES: [&str; 4] = ["general", "french", "help", "all"];
const AGENTS: [&str; 4] = ["a0", "a1", "a2", "a3"];

#[derive(Debug, Clone)]
enum Op {
    Arrive { queue: usize, priority: u8, ani: u8 },
    Login(usize),
    Logout(usize),
    Available(usize),
    Idle(usize),
    FinishWrapUp(usize),
    Decline(usize),
    Answer(usize),
    Fail(usize, bool),
    Abandon(usize),
    End(usize),
    Transfer(usize, usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..QUEUES.len(), 0u8..3, 0u8..3)
            .prop_map(|(queue, priority, ani)| Op::Arrive { queue, priority, ani }),
        2 => (0..AGENTS.len()).prop_map(Op::Login),
        1 => (0..AGENTS.len()).prop_map(Op::Logout),
        3 => (0..AGENTS.len()).prop_map(Op::Available),
        1 => (0..AGENTS.len()).prop_map(Op::Idle),
        1 => (0..AGENTS.len()).prop_map(Op::FinishWrapUp),
        1 => (0..8usize).prop_map(Op::Decline),
        3 => (0..8usize).prop_map(Op::Answer),
        1 => (0..8usize, any::<bool>()).prop_map(|(i, d)| Op::Fail(i, d)),
        1 => (0..8usize).prop_map(Op::Abandon),
        2 => (0..8usize).prop_map(Op::End),
        1 => (0..8usize, 0..QUEUES.len()).prop_map(|(i, q)| Op::Transfer(i, q)),
        3 => (0u64..40).prop_map(Op::Advance),
    ]
}

struct Checker {
    h: Harness,
    /// Offers the switch is ringing: (interaction, agent).
    live: BTreeSet<(String, String)>,
    /// Agent states as the published transitions tell them.
    agents: BTreeMap<String, AgentState>,
    first_offered: BTreeSet<String>,
    queue_of: HashMap<String, String>,
    next_caller: usize,
    /// Last-agent routing is on, so FIFO is deliberately not kept.
    last_agent: bool,
}

impl Checker {
    fn new(last_agent: bool) -> Self {
        let mut h = Harness::new();
        h.ok(Command::SetOrgSettings(OrgSettings {
            max_waiting_per_queue: 4,
            default_wrap_up_max: secs(20),
            ..OrgSettings::default()
        }));
        let french = vec![Skill {
            name: "fr".into(),
            level: 3,
        }];
        h.add_queue(QueueConfig {
            max_wait: Some(secs(45)),
            overflow: Some(OverflowTarget::Queue("french".into())),
            ..queue("general", "7000")
        });
        h.add_queue(QueueConfig {
            strategy: Distribution::SkillsBased,
            required_skills: french,
            ring_timeout: secs(10),
            max_wait: Some(secs(90)),
            overflow: Some(OverflowTarget::Number("+15559999".into())),
            ..queue("french", "7001")
        });
        h.add_queue(QueueConfig {
            strategy: Distribution::RoundRobin,
            teams: vec!["t1".into()],
            wrap_up_max: None,
            ..queue("help", "7002")
        });
        h.add_queue(QueueConfig {
            strategy: Distribution::RingAll,
            ..queue("all", "7003")
        });
        if last_agent {
            for id in QUEUES {
                let mut config = h.acd.queue(&id.into()).unwrap().config().clone();
                config.last_agent_routing = true;
                h.add_queue(config);
            }
        }
        for (id, skills, team) in [
            ("a0", &[("fr", 5)][..], Some("t1")),
            ("a1", &[("fr", 2)][..], None),
            ("a2", &[("fr", 3)][..], Some("t1")),
            ("a3", &[][..], Some("t2")),
        ] {
            h.ok(Command::UpsertAgent(AgentConfig {
                team: team.map(Into::into),
                ..agent(id, skills)
            }));
        }
        // Half the floor starts logged in and Available, so sequences reach offers sooner.
        for id in ["a0", "a3"] {
            h.ok(Command::Login {
                agent: id.into(),
                extension: format!("ext-{id}"),
                actor: Actor::System,
            });
            h.available(id);
        }
        h.take();
        Checker {
            h,
            live: BTreeSet::new(),
            agents: AGENTS
                .iter()
                .map(|a| {
                    let state = match *a {
                        "a0" | "a3" => AgentState::Available,
                        _ => AgentState::LoggedOut,
                    };
                    ((*a).to_owned(), state)
                })
                .collect(),
            first_offered: BTreeSet::new(),
            queue_of: HashMap::new(),
            next_caller: 0,
            last_agent,
        }
    }

    fn nth_live(&self, i: usize) -> Option<(String, String)> {
        let n = self.live.len();
        (n > 0)
            .then(|| self.live.iter().nth(i % n).cloned())
            .flatten()
    }

    fn nth_interaction(&self, i: usize, connected: Option<bool>) -> Option<String> {
        let mut ids: Vec<String> = self
            .h
            .acd
            .interactions
            .values()
            .filter(|ix| connected.is_none_or(|c| c == (ix.state == InteractionState::Connected)))
            .map(|ix| ix.id.0.clone())
            .collect();
        ids.sort();
        (!ids.is_empty()).then(|| ids[i % ids.len()].clone())
    }

    fn command(&mut self, command: Command) {
        let _ = self.h.cmd(command);
        self.check_step();
    }

    fn apply(&mut self, op: Op) {
        let actor = |a: usize| Actor::Agent(AGENTS[a].into());
        match op {
            Op::Arrive {
                queue,
                priority,
                ani,
            } => {
                let ani = format!("10{ani}");
                self.next_caller += 1;
                let id = format!("c{:03}", self.next_caller);
                if priority == 0 {
                    self.command(Command::Switch(QueueEvent::Arrived {
                        interaction: id.as_str().into(),
                        queue: format!("700{queue}").as_str().into(),
                        ani,
                        dnis: "7000".into(),
                        cad: vec![],
                        priority: 0,
                    }));
                } else {
                    self.command(Command::Enqueue {
                        interaction: id.as_str().into(),
                        queue: QUEUES[queue].into(),
                        ani,
                        dnis: "7000".into(),
                        priority,
                    });
                }
            }
            Op::Login(a) => self.command(Command::Login {
                agent: AGENTS[a].into(),
                extension: format!("ext-{a}"),
                actor: actor(a),
            }),
            Op::Logout(a) => self.command(Command::Logout {
                agent: AGENTS[a].into(),
                actor: actor(a),
            }),
            Op::Available(a) => self.command(Command::SetState {
                agent: AGENTS[a].into(),
                state: RequestedState::Available,
                actor: actor(a),
            }),
            Op::Idle(a) => self.command(Command::SetState {
                agent: AGENTS[a].into(),
                state: RequestedState::Idle {
                    reason: "break".into(),
                },
                actor: actor(a),
            }),
            Op::FinishWrapUp(a) => self.command(Command::FinishWrapUp {
                agent: AGENTS[a].into(),
                disposition: None,
                actor: actor(a),
            }),
            Op::Decline(i) => {
                if let Some((ix, agent)) = self.nth_live(i) {
                    self.command(Command::DeclineOffer {
                        agent: agent.as_str().into(),
                        interaction: ix.as_str().into(),
                    });
                }
            }
            Op::Answer(i) => {
                if let Some((ix, agent)) = self.nth_live(i) {
                    self.live.remove(&(ix.clone(), agent.clone()));
                    self.command(Command::Switch(QueueEvent::OfferAnswered {
                        interaction: ix.as_str().into(),
                        party: Party::Agent(agent.as_str().into()),
                    }));
                }
            }
            Op::Fail(i, declined) => {
                if let Some((ix, agent)) = self.nth_live(i) {
                    self.live.remove(&(ix.clone(), agent.clone()));
                    let failure = if declined {
                        OfferFailure::Declined
                    } else {
                        OfferFailure::DeviceUnavailable
                    };
                    self.command(Command::Switch(QueueEvent::OfferFailed {
                        interaction: ix.as_str().into(),
                        party: Party::Agent(agent.as_str().into()),
                        failure,
                    }));
                }
            }
            Op::Abandon(i) => {
                if let Some(ix) = self.nth_interaction(i, Some(false)) {
                    self.command(Command::Switch(QueueEvent::Abandoned {
                        interaction: ix.as_str().into(),
                    }));
                }
            }
            Op::End(i) => {
                if let Some(ix) = self.nth_interaction(i, Some(true)) {
                    self.command(Command::Switch(QueueEvent::Ended {
                        interaction: ix.as_str().into(),
                    }));
                }
            }
            Op::Transfer(i, q) => {
                if let Some(ix) = self.nth_interaction(i, None) {
                    self.command(Command::Enqueue {
                        interaction: ix.as_str().into(),
                        queue: QUEUES[q].into(),
                        ani: "100".into(),
                        dnis: "7000".into(),
                        priority: 0,
                    });
                }
            }
            Op::Advance(s) => {
                let target = self.h.now + secs(s);
                while let Some(at) = self.h.acd.poll_timeout() {
                    if at > target {
                        break;
                    }
                    self.h.now = self.h.now.max(at);
                    self.h.acd.handle_timeout(self.h.now);
                    while let Some(output) = self.h.acd.poll_output() {
                        self.h.out.push(output);
                    }
                    if let Some(next) = self.h.acd.poll_timeout() {
                        assert!(next > self.h.now, "poll_timeout must move past {at:?}");
                    }
                    self.check_step();
                }
                self.h.now = target;
            }
        }
    }

    /// Replays one input's outputs against the model, then checks the invariants.
    fn check_step(&mut self) {
        let outputs = self.h.take();
        let mut first_offers: Vec<String> = Vec::new();
        for output in &outputs {
            match output {
                Output::Event(Event::AgentStateChanged(t)) => {
                    let model = self.agents.get_mut(t.agent.as_str()).unwrap();
                    assert_eq!(*model, t.from, "transitions chain for {}", t.agent);
                    if matches!(t.to, AgentState::Reserved { .. }) {
                        assert_eq!(t.from, AgentState::Available, "only Available agents ring");
                    }
                    *model = t.to.clone();
                }
                Output::Persist(Record::Interaction(change)) => {
                    if let Some(queue) = &change.queue {
                        self.queue_of
                            .insert(change.interaction.0.clone(), queue.0.clone());
                    }
                }
                Output::Queue(QueueCommand::Offer {
                    interaction,
                    party: Party::Agent(agent),
                    ..
                }) => {
                    let interaction = interaction.as_str();
                    assert_eq!(
                        self.agents[agent.as_str()],
                        AgentState::Reserved {
                            interaction: interaction.into()
                        },
                        "an offer rings only a Reserved agent"
                    );
                    assert!(self.live.insert((interaction.to_owned(), agent.0.clone())));
                    let ringing = self.live.iter().filter(|(ix, _)| ix == interaction).count();
                    if ringing > 1 {
                        assert_eq!(
                            self.queue_of.get(interaction).map(String::as_str),
                            Some("all"),
                            "{interaction} offered to {ringing} agents outside ring-all"
                        );
                    }
                    if self.first_offered.insert(interaction.to_owned()) {
                        first_offers.push(interaction.to_owned());
                    }
                }
                Output::Queue(QueueCommand::Withdraw {
                    interaction,
                    party: Party::Agent(agent),
                }) => {
                    assert!(
                        self.live.remove(&(interaction.0.clone(), agent.0.clone())),
                        "withdrew an offer that was not ringing"
                    );
                }
                _ => {}
            }
        }
        self.check_reservations();
        if !self.last_agent {
            self.check_fifo(&first_offers);
        }
    }

    fn check_reservations(&self) {
        for agent in AGENTS {
            let state = self.h.acd.agent_state(&agent.into()).unwrap();
            assert_eq!(state, &self.agents[agent], "published state of {agent}");
            if let AgentState::Reserved { interaction } = state {
                assert!(
                    self.live
                        .contains(&(interaction.0.clone(), agent.to_owned())),
                    "{agent} Reserved for {interaction} without a live offer"
                );
                let ix = self.h.acd.interaction(interaction).unwrap();
                assert_eq!(ix.state, InteractionState::Offered);
                assert!(ix.ringing.contains(&AgentId::from(agent)));
            }
        }
        for (interaction, agent) in &self.live {
            assert_eq!(
                self.agents[agent.as_str()],
                AgentState::Reserved {
                    interaction: interaction.as_str().into()
                },
                "{interaction} rings {agent}, who is not Reserved for it"
            );
        }
    }

    /// No caller offered for the first time jumped a never-offered caller of its queue with
    /// a higher priority, or the same priority and an earlier arrival.
    fn check_fifo(&self, first_offers: &[String]) {
        let acd = &self.h.acd;
        for (k, y) in first_offers.iter().enumerate() {
            let Some(y_ix) = acd.interaction(&y.as_str().into()) else {
                continue;
            };
            let ahead = |x: &Interaction| {
                x.queue == y_ix.queue
                    && (x.priority > y_ix.priority
                        || (x.priority == y_ix.priority && x.arrived_at < y_ix.arrived_at))
            };
            if let Some(queue) = acd.queue(&y_ix.queue) {
                for waiting in queue.iter() {
                    let x = &acd.interactions[&waiting.interaction];
                    assert!(
                        self.first_offered.contains(&x.id.0) || !ahead(x),
                        "{y} was offered before {} who waits ahead of it",
                        x.id
                    );
                }
            }
            for later in &first_offers[k + 1..] {
                if let Some(x) = acd.interaction(&later.as_str().into()) {
                    assert!(
                        !ahead(x),
                        "{y} was offered before {later} who was ahead of it"
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_routing_invariants(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let mut checker = Checker::new(false);
        for op in ops {
            checker.apply(op);
        }
    }

    #[test]
    fn with_last_agent_routing_offers_stay_single_and_reservations_stay_live(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let mut checker = Checker::new(true);
        for op in ops {
            checker.apply(op);
        }
    }
}
