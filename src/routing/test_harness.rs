//! A test harness for the ACD: configuration builders and an [`Acd`] driven in virtual time
//! (an `Instant` origin plus durations; the clock is never read again) with every output
//! collected. Test-only.

use super::acd::Acd;
use super::command::{Command, RequestedState};
use super::error::RoutingError;
use super::model::{Actor, AgentConfig, AgentState, QueueConfig, Role, Skill, Strategy};
use super::output::{Event, InteractionChange, Output, Record};
use crate::call::{QueueCommand, QueueEvent};
use crate::ids::Party;
use std::time::{Duration, Instant};

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A queue answering `number`, longest-idle, 15 s ring timeout, no max wait.
pub fn queue(id: &str, number: &str) -> QueueConfig {
    QueueConfig {
        id: id.into(),
        name: id.into(),
        number: number.into(),
        strategy: Strategy::LongestIdle,
        required_skills: vec![],
        teams: vec![],
        ring_timeout: secs(15),
        max_wait: None,
        overflow: None,
        wrap_up_max: Some(secs(30)),
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

pub fn agent(id: &str, skills: &[(&str, u8)]) -> AgentConfig {
    AgentConfig {
        id: id.into(),
        name: id.into(),
        team: None,
        skills: skills
            .iter()
            .map(|(name, level)| Skill {
                name: (*name).to_owned(),
                level: *level,
            })
            .collect(),
        role: Role::Agent,
        calling_class: None,
    }
}

/// An ACD in virtual time with every output collected.
pub struct Harness {
    pub acd: Acd,
    pub t0: Instant,
    pub now: Instant,
    pub out: Vec<Output>,
}

impl Harness {
    pub fn new() -> Self {
        let t0 = crate::runtime::clock::now();
        Harness {
            acd: Acd::default(),
            t0,
            now: t0,
            out: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(output) = self.acd.poll_output() {
            self.out.push(output);
        }
    }

    pub fn cmd(&mut self, command: Command) -> Result<(), RoutingError> {
        let result = self.acd.handle_command(self.now, command);
        self.drain();
        result
    }

    pub fn ok(&mut self, command: Command) {
        self.cmd(command).unwrap();
    }

    /// Moves virtual time forward by `d`, firing every timer due on the way, each at its own
    /// deadline, and checking that deadlines move forward.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.acd.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.acd.handle_timeout(self.now);
            self.drain();
            if let Some(next) = self.acd.poll_timeout() {
                assert!(
                    next > self.now,
                    "poll_timeout must move past a handled deadline"
                );
            }
        }
        self.now = target;
    }

    pub fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    pub fn switch(&mut self, event: QueueEvent) {
        self.ok(Command::Switch(event));
    }

    pub fn add_queue(&mut self, config: QueueConfig) {
        self.ok(Command::UpsertQueue(config));
    }

    /// Configures, logs in and makes Available an agent at extension `1<id>`.
    pub fn staff(&mut self, config: AgentConfig) {
        let id = config.id.clone();
        self.ok(Command::UpsertAgent(config));
        self.ok(Command::Login {
            agent: id.clone(),
            extension: format!("ext-{id}"),
            actor: Actor::Agent(id.clone()),
        });
        self.available(id.as_str());
    }

    pub fn available(&mut self, id: &str) {
        self.ok(Command::SetState {
            agent: id.into(),
            state: RequestedState::Available,
            actor: Actor::Agent(id.into()),
        });
    }

    pub fn arrive(&mut self, interaction: &str, number: &str, ani: &str) {
        self.switch(QueueEvent::Arrived {
            interaction: interaction.into(),
            queue: number.into(),
            ani: ani.into(),
            dnis: number.into(),
            cad: vec![],
            priority: 0,
        });
    }

    pub fn answer(&mut self, interaction: &str, agent: &str) {
        self.switch(QueueEvent::OfferAnswered {
            interaction: interaction.into(),
            party: Party::Agent(agent.into()),
        });
    }

    pub fn end(&mut self, interaction: &str) {
        self.switch(QueueEvent::Ended {
            interaction: interaction.into(),
        });
    }

    pub fn state(&self, agent: &str) -> AgentState {
        self.acd.agent_state(&agent.into()).cloned().unwrap()
    }

    /// (interaction, agent) of every Offer sent to the switch since the last `take`.
    pub fn offers(&self) -> Vec<(String, String)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Queue(QueueCommand::Offer {
                    interaction,
                    party: Party::Agent(agent),
                    ..
                }) => Some((interaction.0.clone(), agent.0.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn withdrawals(&self) -> Vec<(String, String)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Queue(QueueCommand::Withdraw {
                    interaction,
                    party: Party::Agent(agent),
                }) => Some((interaction.0.clone(), agent.0.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn events(&self) -> Vec<Event> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn interaction_records(&self) -> Vec<InteractionChange> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Persist(Record::Interaction(c)) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn waiting(&self, queue: &str) -> Vec<String> {
        self.acd
            .queue(&queue.into())
            .unwrap()
            .iter()
            .map(|w| w.interaction.0)
            .collect()
    }
}
