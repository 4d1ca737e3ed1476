//! The contact-center half of the core loop: the ACD lives in the same task as the switch,
//! so a queue call's SIP side and its routing side never disagree (no locks, no second copy
//! of agent state). The CTI API reaches it through [`CoreHandle`], a bounded request channel
//! with a reply per request; desktops see its effects on the [`EventBus`].
//!
//! ```text
//!  switch ──QueueEvent──▶ ACD ──QueueCommand──▶ switch        (same task, drained together)
//!                          │
//!                          ├──Event──▶ EventBus ──▶ WebSocket / SSE desktops
//!                          └──Record─▶ store writer (interactions, agent state log)
//!  CTI handlers ──CoreRequest──▶ ACD (reply: done, or why not)
//! ```

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::clock;
use crate::call::{
    CadFromSip, MediaCommand, MediaEvent, MediaPolicy, QueueCommand, QueueEvent, QueueMedia,
};
use crate::cti::events::{Audience, EventBus};
use crate::media::recorder::{PauseBehavior, RecordingId};
use crate::routing::model::{Actor, AgentId, AgentState, InteractionId, InteractionState, TeamId};
use crate::routing::{Acd, Command, Event, Output, QueuePosition, Record, RoutingError};
use crate::store::{
    AgentStateChange, CadVariable, Direction, Interaction, InteractionProgress, OrgSettings,
    RecordingStatus, UnixMillis,
};

mod consult;
mod events;
mod handle;
mod recording;
mod transfer;

pub use handle::{
    ConsultAction, ConsultTarget, CoreHandle, CoreRequest, CoreUnavailable, EndRefused,
    REQUEST_QUEUE, RecordingAction, TransferTarget,
};
use transfer::Returning;

/// What the contact center asks the rest of the loop to do.
#[derive(Debug)]
pub enum Effect {
    /// A command for the switch.
    Switch(QueueCommand),
    /// Something to persist, in order.
    Store(ContactCenterJob),
    /// The numbers that reach queues changed: dialled number → queue id, and queue id →
    /// its own music on hold.
    QueueNumbers(
        HashMap<String, String>,
        HashMap<String, String>,
        HashMap<String, QueueMedia>,
    ),
    /// A command for the media engine.
    Media(MediaCommand),
    /// What the switch does with queue calls' media changed.
    MediaPolicy(MediaPolicy),
    /// Noise suppression of one live call's customer.
    Denoise { interaction: String, enabled: bool },
}

/// Writes for the store writer.
#[derive(Debug)]
pub enum ContactCenterJob {
    /// A caller reached a queue.
    Arrived(Box<Interaction>),
    /// CAD variables from the caller's INVITE.
    Cad(InteractionId, Vec<CadVariable>),
    /// A live interaction progressed.
    Progress(InteractionProgress),
    /// An agent changed state.
    AgentState(AgentStateChange),
    /// A recording started, at this path.
    RecordingStarted(InteractionId, String),
    /// A recording ended (complete or failed).
    RecordingEnded(InteractionId, RecordingStatus, Option<String>),
    /// Someone joined the interaction (consult, conference, transfer target).
    Participant(InteractionId, crate::store::Participant),
    /// Its media processing changed while live.
    MediaChange(InteractionId, crate::store::MediaChange),
    /// The wrap-up of an agent's part handed over ended without the desktop closing it.
    PartWrappedUp {
        /// The interaction.
        interaction: InteractionId,
        /// The agent whose part it is.
        agent: AgentId,
        /// The code given to the ACD, if any.
        disposition: Option<String>,
        /// When.
        at: UnixMillis,
    },
}

/// The ACD and what the loop keeps beside it.
pub struct ContactCenter {
    acd: Acd,
    bus: EventBus,
    /// CAD of live queue calls, for offer pop-ups (the store has the editable copy).
    cad: HashMap<InteractionId, Vec<CadFromSip>>,
    offered_cad_keys: Vec<String>,
    /// Connected interactions whose customer is on hold.
    held: HashSet<InteractionId>,
    /// Customers blindly transferred to a number, until it answers: where they go back to
    /// if it does not (the customer is never dropped).
    transfers: HashMap<InteractionId, Returning>,
    /// Consults going on, by the consulting agent's interaction.
    consults: HashMap<InteractionId, consult::Consulting>,
    /// Recordings being written, and their current pause if any.
    recordings: HashMap<InteractionId, Option<u64>>,
    /// Priorities of callers about to be admitted (bounded by the calls arriving at once).
    priorities: HashMap<InteractionId, u8>,
    /// Who paused a recording and why, for its events.
    pause_reasons: HashMap<InteractionId, (String, Option<String>)>,
    /// Who a recording's events go to (the call may be over when it stops).
    recording_agents: HashMap<InteractionId, AgentId>,
    next_pause: u64,
    settings: OrgSettings,
    recordings_dir: std::path::PathBuf,
    /// For Data Shield timers, which come back as requests.
    handle: Option<CoreHandle>,
    effects: Vec<Effect>,
}

impl ContactCenter {
    /// Wraps a configured ACD.
    #[must_use]
    pub fn new(
        acd: Acd,
        bus: EventBus,
        settings: OrgSettings,
        recordings_dir: std::path::PathBuf,
        handle: Option<CoreHandle>,
    ) -> ContactCenter {
        ContactCenter {
            acd,
            bus,
            cad: HashMap::new(),
            offered_cad_keys: settings.offered_cad_keys.clone(),
            recordings: HashMap::new(),
            recording_agents: HashMap::new(),
            pause_reasons: HashMap::new(),
            priorities: HashMap::new(),
            next_pause: 0,
            settings,
            recordings_dir,
            handle,
            held: HashSet::new(),
            transfers: HashMap::new(),
            consults: HashMap::new(),
            effects: Vec::new(),
        }
    }

    /// An empty contact center on default settings with no switch behind it, for tests.
    #[cfg(test)]
    pub(crate) fn detached(bus: EventBus) -> ContactCenter {
        ContactCenter::new(
            Acd::default(),
            bus,
            OrgSettings::default(),
            std::env::temp_dir(),
            None,
        )
    }

    /// The ACD's next timer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.acd.poll_timeout()
    }

    /// Fires due ACD timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.acd.handle_timeout(now);
    }

    /// What the INVITE of a queue call carried beyond numbers: its CAD (kept for offers and
    /// persisted) and its priority (used when the ACD admits the caller, which comes next).
    pub fn on_arrival_details(&mut self, interaction: String, cad: Vec<CadFromSip>, priority: u8) {
        let id = InteractionId(interaction);
        if priority > 0 {
            self.priorities.insert(id.clone(), priority);
        }
        if cad.is_empty() {
            return;
        }
        let variables = cad
            .iter()
            .enumerate()
            .map(|(order, c)| CadVariable {
                key: c.key.clone(),
                value: c.value.clone(),
                editable: !c.secure,
                secure: c.secure,
                display_order: i32::try_from(order).unwrap_or(i32::MAX),
                version: 1,
            })
            .collect();
        self.effects
            .push(Effect::Store(ContactCenterJob::Cad(id.clone(), variables)));
        self.cad.insert(id, cad);
    }

    /// A connected call went on or off hold (desktop or phone): recorded and published.
    pub fn on_held(&mut self, interaction: String, held: bool, by_phone: bool) {
        let id = InteractionId(interaction);
        let agent = self
            .acd
            .interaction(&id)
            .and_then(|ix| ix.connected.as_ref().map(|(agent, _)| agent.clone()));
        if held {
            self.held.insert(id.clone());
        } else {
            self.held.remove(&id);
        }
        let state = if held {
            InteractionState::Held
        } else {
            InteractionState::Connected
        };
        self.effects.push(Effect::Store(ContactCenterJob::Progress(
            InteractionProgress {
                id: id.clone(),
                state,
                queue: None,
                agent: None,
                at: UnixMillis(clock::unix_ms()),
                abandoned: false,
                disposition: None,
            },
        )));
        let audience = match &agent {
            Some(agent) => self.about(agent),
            None => Audience::Supervisors,
        };
        self.command_recording(&id, |recording| MediaCommand::RecordingHold {
            recording,
            held,
        });
        let kind = if held {
            "interaction.held"
        } else {
            "interaction.resumed"
        };
        let by = if by_phone { "phone" } else { "desktop" };
        let data = json!({"interaction": id, "agent": agent, "by": by});
        self.bus.publish(kind, clock::unix_ms(), audience, data);
    }

    /// The agent's phone transferred the customer with REFER: the same blind transfer to a
    /// number as the desktop's.
    pub fn on_referred(
        &mut self,
        now: Instant,
        interaction: String,
        target: String,
        referred_by: Option<String>,
    ) {
        let id = InteractionId(interaction);
        tracing::info!(%id, referred_by = referred_by.as_deref().unwrap_or("-"), "REFER from the agent's phone");
        if let Err(refused) = self.transfer(now, id.clone(), None, TransferTarget::Number(target)) {
            tracing::warn!(%id, %refused, "REFER accepted but the transfer was refused");
        }
    }

    /// News from the switch about a queue call.
    pub fn on_switch(&mut self, now: Instant, event: QueueEvent) {
        if let QueueEvent::Arrived {
            interaction,
            queue,
            ani,
            dnis,
        } = &event
        {
            // The switch names the queue by id (it maps dialled numbers to ids).
            let queue_id = self
                .acd
                .queue(&crate::routing::model::QueueId(queue.clone()))
                .map(|q| q.config().id.clone());
            let record = Interaction {
                id: InteractionId(interaction.clone()),
                media: Default::default(),
                direction: Direction::Inbound,
                ani: ani.clone(),
                dnis: dnis.clone(),
                queue: queue_id,
                state: InteractionState::Queued,
                agent: None,
                participants: Vec::new(),
                media_changes: Vec::new(),
                notes: String::new(),
                disposition: None,
                created_ms: UnixMillis(clock::unix_ms()),
                offered_ms: None,
                connected_ms: None,
                ended_ms: None,
                wrapped_up_ms: None,
                abandoned: false,
            };
            self.effects
                .push(Effect::Store(ContactCenterJob::Arrived(Box::new(record))));
        }
        if let QueueEvent::Ended { interaction } | QueueEvent::Abandoned { interaction } = &event {
            let id = InteractionId(interaction.clone());
            self.cad.remove(&id);
            self.held.remove(&id);
        }
        if self.on_consult_event(now, &event) || self.on_transfer_outcome(now, &event) {
            return;
        }
        // A caller with a priority is admitted with it (the same admission as an arrival).
        if let QueueEvent::Arrived {
            interaction,
            queue,
            ani,
            dnis,
        } = &event
            && let Some(priority) = self.priorities.remove(&InteractionId(interaction.clone()))
        {
            let enqueue = Command::Enqueue {
                interaction: InteractionId(interaction.clone()),
                queue: crate::routing::model::QueueId(queue.clone()),
                ani: ani.clone(),
                dnis: dnis.clone(),
                priority,
            };
            if let Err(error) = self.acd.handle_command(now, enqueue) {
                tracing::debug!(%error, "priority caller refused by the ACD");
            }
            return;
        }
        // Stale or unknown events (a call the ACD already let go) are no-ops in the ACD.
        if let Err(error) = self.acd.handle_command(now, Command::Switch(event)) {
            tracing::debug!(%error, "switch event refused by the ACD");
        }
    }

    /// A request from the API. `End` needs the switch, so it comes back as an effect.
    pub fn on_request(&mut self, now: Instant, request: CoreRequest) {
        match request {
            CoreRequest::Acd { command, reply } => {
                let queues_changed =
                    matches!(command, Command::UpsertQueue(_) | Command::RemoveQueue(_));
                let result = self.acd.handle_command(now, command);
                if queues_changed && result.is_ok() {
                    let queues = self.acd.snapshot(now).queues;
                    let music = queues
                        .iter()
                        .filter_map(|q| Some((q.config.id.0.clone(), q.config.music.clone()?)))
                        .collect();
                    let media = queues
                        .iter()
                        .map(|q| (q.config.id.0.clone(), queue_media(&q.config)))
                        .collect();
                    let numbers = queues
                        .into_iter()
                        .map(|q| (q.config.number, q.config.id.0))
                        .collect();
                    self.effects
                        .push(Effect::QueueNumbers(numbers, music, media));
                }
                let _ = reply.send(result);
            }
            CoreRequest::AgentState { agent, reply } => {
                let state = self
                    .acd
                    .agent(&agent)
                    .map(|a| (a.state().clone(), a.extension().map(str::to_owned)));
                let _ = reply.send(state);
            }
            CoreRequest::Snapshot { reply } => {
                let _ = reply.send(self.acd.snapshot(now));
            }
            CoreRequest::Position { interaction, reply } => {
                let _ = reply.send(self.acd.queue_position(&interaction));
            }
            CoreRequest::End {
                interaction,
                agent,
                reply,
            } => {
                let result = if !self.engaged(&interaction, agent.as_ref()) {
                    Err(EndRefused::NotEngaged)
                } else if self.held.contains(&interaction) {
                    Err(EndRefused::Held)
                } else {
                    self.effects.push(Effect::Switch(QueueCommand::Hangup {
                        interaction: interaction.0,
                    }));
                    Ok(())
                };
                let _ = reply.send(result);
            }
            CoreRequest::Transfer {
                interaction,
                agent,
                target,
                reply,
            } => {
                let result = self.transfer(now, interaction, agent.as_ref(), target);
                let _ = reply.send(result);
            }
            CoreRequest::Hold {
                interaction,
                agent,
                held,
                reply,
            } => {
                let result = if !self.engaged(&interaction, agent.as_ref()) {
                    Err(EndRefused::NotEngaged)
                } else if let Some(refused) = self.consult_blocks_hold(&interaction) {
                    Err(refused)
                } else if self.held.contains(&interaction) == held {
                    Err(EndRefused::AlreadyThere(if held {
                        "on hold"
                    } else {
                        "not on hold"
                    }))
                } else {
                    let interaction = interaction.0;
                    self.effects.push(Effect::Switch(if held {
                        QueueCommand::Hold { interaction }
                    } else {
                        QueueCommand::Resume { interaction }
                    }));
                    Ok(())
                };
                let _ = reply.send(result);
            }
            CoreRequest::Consult {
                interaction,
                agent,
                action,
                reply,
            } => {
                let result = self.consult_action(now, interaction, agent, action);
                let _ = reply.send(result);
            }
            CoreRequest::Settings(settings) => {
                self.offered_cad_keys = settings.offered_cad_keys.clone();
                self.settings = *settings;
                self.effects.push(Effect::MediaPolicy(self.media_policy()));
            }
            CoreRequest::Recording {
                interaction,
                agent,
                action,
                reply,
            } => {
                let result = self.recording(&interaction, agent.as_ref(), action);
                let _ = reply.send(result);
            }
            CoreRequest::AutoResume { interaction, pause } => {
                if self.recordings.get(&interaction) == Some(&Some(pause)) {
                    self.recordings.insert(interaction.clone(), None);
                    self.effects
                        .push(Effect::Media(MediaCommand::ResumeRecording {
                            recording: RecordingId(interaction.0),
                            auto: true,
                        }));
                }
            }
            CoreRequest::Denoise {
                interaction,
                agent,
                enabled,
                by,
                reply,
            } => {
                let result = if self.engaged(&interaction, agent.as_ref()) {
                    self.effects.push(Effect::Denoise {
                        interaction: interaction.0.clone(),
                        enabled,
                    });
                    let agent = self.connected_agent(&interaction);
                    let audience = match &agent {
                        Some(agent) => self.about(agent),
                        None => Audience::Supervisors,
                    };
                    let change = crate::store::MediaChange {
                        at_ms: clock::unix_ms(),
                        setting: "noise_suppression".into(),
                        enabled,
                        by: by.label(),
                    };
                    self.effects
                        .push(Effect::Store(ContactCenterJob::MediaChange(
                            interaction.clone(),
                            change,
                        )));
                    let data = json!({"interaction": interaction, "agent": agent,
                                      "enabled": enabled, "by": by});
                    self.bus.publish(
                        "interaction.noise_suppression_changed",
                        clock::unix_ms(),
                        audience,
                        data,
                    );
                    Ok(())
                } else {
                    Err(EndRefused::NotEngaged)
                };
                let _ = reply.send(result);
            }
        }
    }

    /// The next thing for the loop to do; events are published on the way.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        loop {
            if !self.effects.is_empty() {
                return Some(self.effects.remove(0));
            }
            match self.acd.poll_output()? {
                Output::Queue(command) => return Some(Effect::Switch(command)),
                Output::Overflow {
                    interaction,
                    number,
                } => {
                    // The number rings like an agent's extension; when it answers the caller
                    // is bridged to it and the ACD has already let the interaction go.
                    return Some(Effect::Switch(QueueCommand::Offer {
                        interaction: interaction.0,
                        agent: format!("overflow:{number}"),
                        extension: number,
                    }));
                }
                Output::Reject {
                    interaction,
                    reason,
                } => {
                    tracing::info!(%interaction, ?reason, "caller turned away");
                    return Some(Effect::Switch(QueueCommand::Hangup {
                        interaction: interaction.0,
                    }));
                }
                Output::Event(event) => self.publish(event),
                Output::Persist(record) => return Some(Effect::Store(self.record(record))),
            }
        }
    }

    fn record(&self, record: Record) -> ContactCenterJob {
        match record {
            Record::AgentTransition(t) => ContactCenterJob::AgentState(AgentStateChange {
                agent: t.agent,
                from: t.from,
                to: t.to,
                reason: Some(t.reason.as_str().to_owned()),
                actor: t.actor,
                at: unix_at(t.at),
            }),
            Record::Interaction(change) => ContactCenterJob::Progress(InteractionProgress {
                id: change.interaction,
                state: change.state,
                queue: change.queue,
                // Only the agent who connects owns the interaction (history scoping); an
                // agent whose phone merely rang does not.
                agent: (change.state == InteractionState::Connected)
                    .then_some(change.agent)
                    .flatten(),
                at: unix_at(change.at),
                abandoned: change.reason == crate::routing::InteractionReason::Abandoned,
                disposition: change.disposition,
            }),
            Record::HandedOver(part) => ContactCenterJob::Participant(
                part.interaction,
                crate::store::Participant {
                    connected_ms: Some(unix_at(part.answered_at).0),
                    ended_ms: Some(unix_at(part.at).0),
                    ..crate::store::Participant::new(crate::store::AGENT_PART, part.agent.as_str())
                },
            ),
            Record::PartWrappedUp {
                interaction,
                agent,
                disposition,
                at,
            } => ContactCenterJob::PartWrappedUp {
                interaction,
                agent,
                disposition,
                at: unix_at(at),
            },
        }
    }

    fn connected_agent(&self, interaction: &InteractionId) -> Option<AgentId> {
        self.acd
            .interaction(interaction)
            .and_then(|ix| ix.connected.as_ref().map(|(agent, _)| agent.clone()))
    }

    /// The interaction is connected, and to `agent` when one is named: the agent who owns
    /// it, not one merely consulted on it.
    fn engaged(&self, interaction: &InteractionId, agent: Option<&AgentId>) -> bool {
        let live = self
            .acd
            .interaction(interaction)
            .is_some_and(|ix| ix.state == InteractionState::Connected);
        live && agent.is_none_or(|agent| {
            self.connected_agent(interaction).as_ref() == Some(agent)
                && self.acd.agent_state(agent)
                    == Some(&AgentState::Engaged {
                        interaction: interaction.clone(),
                    })
        })
    }

    /// Keeps `address` on the interaction's participants, in the role it came in.
    fn add_participant(&mut self, interaction: &InteractionId, role: &str, address: &str) {
        let participant = crate::store::Participant::new(role, address);
        self.effects
            .push(Effect::Store(ContactCenterJob::Participant(
                interaction.clone(),
                participant,
            )));
        self.name_in_recording(interaction, format!("{role}:{address}"));
    }

    fn team_of(&self, agent: &AgentId) -> Option<TeamId> {
        self.acd.agent(agent).and_then(|a| a.config().team.clone())
    }

    fn about(&self, agent: &AgentId) -> Audience {
        Audience::Agent {
            agent: agent.clone(),
            team: self.team_of(agent),
        }
    }
}

/// A queue's overrides of the org's media settings.
#[must_use]
pub fn queue_media(config: &crate::routing::model::QueueConfig) -> QueueMedia {
    QueueMedia {
        record: config.recording,
        denoise_customer: config.noise_suppression,
    }
}

/// Wall-clock milliseconds of a monotonic instant in the recent past.
fn unix_at(at: Instant) -> UnixMillis {
    let ago = clock::now().saturating_duration_since(at);
    UnixMillis(clock::unix_ms() - i64::try_from(ago.as_millis()).unwrap_or(0))
}

/// How long a CTI request may wait for the core before the API answers 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
