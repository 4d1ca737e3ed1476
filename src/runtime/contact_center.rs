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
use crate::call::{CadFromSip, MediaCommand, MediaEvent, MediaPolicy, QueueCommand, QueueEvent};
use crate::cti::events::{Audience, EventBus};
use crate::media::recorder::{PauseBehavior, RecordingId};
use crate::routing::model::{Actor, AgentId, AgentState, InteractionId, InteractionState, TeamId};
use crate::routing::{Acd, Command, Event, Output, QueuePosition, Record, RoutingError};
use crate::store::{
    AgentStateChange, CadVariable, Direction, Interaction, InteractionProgress, OrgSettings,
    RecordingStatus, UnixMillis,
};

/// Requests waiting for the core; beyond this, API calls get 503 instead of piling up.
pub const REQUEST_QUEUE: usize = 1024;

/// What the CTI API asks the core.
#[derive(Debug)]
pub enum CoreRequest {
    /// A routing command (login, state change, accept, decline, wrap-up, configuration).
    Acd {
        command: Command,
        reply: oneshot::Sender<Result<(), RoutingError>>,
    },
    /// An agent's live state and the extension it is logged in with.
    AgentState {
        agent: AgentId,
        reply: oneshot::Sender<Option<(AgentState, Option<String>)>>,
    },
    /// Where a waiting caller stands.
    Position {
        interaction: InteractionId,
        reply: oneshot::Sender<Option<QueuePosition>>,
    },
    /// Hang up a connected interaction; with `agent`, only if that agent is engaged on it.
    End {
        interaction: InteractionId,
        agent: Option<AgentId>,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// The org settings changed (offer pop-up keys, recording, noise suppression).
    Settings(Box<OrgSettings>),
    /// Pause or resume the recording of a connected interaction; with `agent`, only if that
    /// agent is engaged on it.
    Recording {
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: RecordingAction,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// Data Shield: the timer of a pause ran out.
    AutoResume {
        interaction: InteractionId,
        pause: u64,
    },
    /// Turn noise suppression of one live interaction on or off (supervisor override).
    Denoise {
        interaction: InteractionId,
        enabled: bool,
        by: Actor,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// Blind transfer of a connected interaction; with `agent`, only if that agent is
    /// engaged on it.
    Transfer {
        interaction: InteractionId,
        agent: Option<AgentId>,
        target: TransferTarget,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
    /// Hold (`true`) or resume (`false`) a connected interaction; with `agent`, only if
    /// that agent is engaged on it.
    Hold {
        interaction: InteractionId,
        agent: Option<AgentId>,
        held: bool,
        reply: oneshot::Sender<Result<(), EndRefused>>,
    },
}

/// What to do with a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingAction {
    /// Pause, writing silence or skipping the span.
    Pause {
        behavior: PauseBehavior,
        who: String,
        why: Option<String>,
    },
    /// Resume (a person did it).
    Resume { who: String },
}

/// Where a blind transfer sends the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Routed by the ACD like a new arrival in that queue.
    Queue(crate::routing::model::QueueId),
    /// Rung like an agent's phone (a normalised number or SIP user).
    Number(String),
}

/// Why a live command on an interaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndRefused {
    /// The interaction is not connected to this agent (or not live at all).
    #[error("the interaction is not connected to this agent")]
    NotEngaged,
    /// The customer is on hold: resume first (Webex refuses ending a held call).
    #[error("the customer is on hold; resume before ending the call")]
    Held,
    /// Hold asked of a held call, or resume of one that is not held.
    #[error("the customer is already {0}")]
    AlreadyThere(&'static str),
    /// The transfer target queue does not exist.
    #[error("no such queue")]
    UnknownQueue,
    /// The interaction is not being recorded.
    #[error("the interaction is not being recorded")]
    NotRecording,
    /// Pause of a paused recording, or resume of one that is not paused.
    #[error("the recording is already {0}")]
    RecordingAlready(&'static str),
}

/// The API's handle on the core. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoreHandle {
    tx: mpsc::Sender<CoreRequest>,
}

/// The core is not running (shutting down) or is too busy to take the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the switch core is unavailable")]
pub struct CoreUnavailable;

impl CoreHandle {
    /// A handle and the receiving end the core loop reads.
    #[must_use]
    pub fn channel() -> (CoreHandle, mpsc::Receiver<CoreRequest>) {
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        (CoreHandle { tx }, rx)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> CoreRequest,
    ) -> Result<T, CoreUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(make(reply)).map_err(|_| CoreUnavailable)?;
        answer.await.map_err(|_| CoreUnavailable)
    }

    /// Runs a routing command.
    pub async fn acd(&self, command: Command) -> Result<Result<(), RoutingError>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Acd { command, reply }).await
    }

    /// An agent's live state and extension (`None`: unknown to the ACD).
    pub async fn agent_state(
        &self,
        agent: AgentId,
    ) -> Result<Option<(AgentState, Option<String>)>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::AgentState { agent, reply })
            .await
    }

    /// A waiting caller's position and expected wait.
    pub async fn position(
        &self,
        interaction: InteractionId,
    ) -> Result<Option<QueuePosition>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Position { interaction, reply })
            .await
    }

    /// Hangs up a connected interaction.
    pub async fn end(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::End {
            interaction,
            agent,
            reply,
        })
        .await
    }

    /// Blindly transfers a connected interaction.
    pub async fn transfer(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        target: TransferTarget,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Transfer {
            interaction,
            agent,
            target,
            reply,
        })
        .await
    }

    /// Holds (`held`) or resumes a connected interaction.
    pub async fn hold(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        held: bool,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Hold {
            interaction,
            agent,
            held,
            reply,
        })
        .await
    }

    /// Tells the core the org settings changed (fire and forget).
    pub fn settings_changed(&self, settings: OrgSettings) {
        let _ = self.tx.try_send(CoreRequest::Settings(Box::new(settings)));
    }

    /// Data Shield's timer ran out for pause number `pause` (fire and forget; a pause that
    /// was already resumed is left alone).
    pub fn auto_resume(&self, interaction: InteractionId, pause: u64) {
        let _ = self
            .tx
            .try_send(CoreRequest::AutoResume { interaction, pause });
    }

    /// Pauses or resumes a recording.
    pub async fn recording(
        &self,
        interaction: InteractionId,
        agent: Option<AgentId>,
        action: RecordingAction,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Recording {
            interaction,
            agent,
            action,
            reply,
        })
        .await
    }

    /// Turns noise suppression of one live interaction on or off.
    pub async fn denoise(
        &self,
        interaction: InteractionId,
        enabled: bool,
        by: Actor,
    ) -> Result<Result<(), EndRefused>, CoreUnavailable> {
        self.ask(|reply| CoreRequest::Denoise {
            interaction,
            enabled,
            by,
            reply,
        })
        .await
    }
}

/// What the contact center asks the rest of the loop to do.
#[derive(Debug)]
pub enum Effect {
    /// A command for the switch.
    Switch(QueueCommand),
    /// Something to persist, in order.
    Store(ContactCenterJob),
    /// The numbers that reach queues changed: dialled number → queue id, and queue id →
    /// its own music on hold.
    QueueNumbers(HashMap<String, String>, HashMap<String, String>),
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
}

/// Where a customer transferred to a number returns if the number does not answer.
#[derive(Debug, Clone)]
struct Returning {
    queue: crate::routing::model::QueueId,
    ani: String,
    dnis: String,
    priority: u8,
}

/// The agent-id prefix of offers that ring a transfer target, not an agent.
const TRANSFER_PREFIX: &str = "transfer:";

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
    /// Recordings being written, and their current pause if any.
    recordings: HashMap<InteractionId, Option<u64>>,
    /// Priorities of callers about to be admitted (bounded by the calls arriving at once).
    priorities: HashMap<InteractionId, u8>,
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
            priorities: HashMap::new(),
            next_pause: 0,
            settings,
            recordings_dir,
            handle,
            held: HashSet::new(),
            transfers: HashMap::new(),
            effects: Vec::new(),
        }
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
        if self.on_transfer_outcome(now, &event) {
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
                    let numbers = queues
                        .into_iter()
                        .map(|q| (q.config.number, q.config.id.0))
                        .collect();
                    self.effects.push(Effect::QueueNumbers(numbers, music));
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
                enabled,
                by,
                reply,
            } => {
                let result = if self.engaged(&interaction, None) {
                    self.effects.push(Effect::Denoise {
                        interaction: interaction.0.clone(),
                        enabled,
                    });
                    let agent = self.connected_agent(&interaction);
                    let audience = match &agent {
                        Some(agent) => self.about(agent),
                        None => Audience::Supervisors,
                    };
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
        }
    }

    fn transfer(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: Option<&AgentId>,
        target: TransferTarget,
    ) -> Result<(), EndRefused> {
        if !self.engaged(&interaction, agent) {
            return Err(EndRefused::NotEngaged);
        }
        let Some(ix) = self.acd.interaction(&interaction) else {
            return Err(EndRefused::NotEngaged);
        };
        let returning = Returning {
            queue: ix.queue.clone(),
            ani: ix.ani.clone(),
            dnis: ix.dnis.clone(),
            priority: ix.priority,
        };
        let from_agent = ix.connected.as_ref().map(|(a, _)| a.clone());
        if let TransferTarget::Queue(queue) = &target
            && self.acd.queue(queue).is_none()
        {
            return Err(EndRefused::UnknownQueue);
        }
        self.held.remove(&interaction);
        self.effects
            .push(Effect::Switch(QueueCommand::ReleaseAgent {
                interaction: interaction.0.clone(),
            }));
        let target_json = match &target {
            TransferTarget::Queue(queue) => json!({"type": "queue", "id": queue}),
            TransferTarget::Number(number) => json!({"type": "number", "id": number}),
        };
        match target {
            TransferTarget::Queue(queue) => {
                let enqueue = Command::Enqueue {
                    interaction: interaction.clone(),
                    queue,
                    ani: returning.ani,
                    dnis: returning.dnis,
                    priority: returning.priority,
                };
                if let Err(error) = self.acd.handle_command(now, enqueue) {
                    tracing::warn!(%error, "transfer to queue refused after release");
                }
            }
            TransferTarget::Number(number) => {
                // The agent's conversation is over (wrap-up); the switch rings the number.
                let ended = QueueEvent::Ended {
                    interaction: interaction.0.clone(),
                };
                if let Err(error) = self.acd.handle_command(now, Command::Switch(ended)) {
                    tracing::debug!(%error, "transfer: the ACD had already let go");
                }
                self.effects.push(Effect::Switch(QueueCommand::Offer {
                    interaction: interaction.0.clone(),
                    agent: format!("{TRANSFER_PREFIX}{number}"),
                    extension: number,
                }));
                self.transfers.insert(interaction.clone(), returning);
            }
        }
        let audience = match &from_agent {
            Some(agent) => self.about(agent),
            None => Audience::Supervisors,
        };
        let data = json!({"interaction": interaction, "agent": from_agent, "target": target_json});
        self.bus
            .publish("interaction.transferred", clock::unix_ms(), audience, data);
        Ok(())
    }

    /// Whether the number a customer was transferred to answered or failed; a failure
    /// returns the customer to the head of its queue. `true` when the event was about such a
    /// transfer (the ACD knows nothing of it).
    fn on_transfer_outcome(&mut self, now: Instant, event: &QueueEvent) -> bool {
        let (interaction, agent, answered) = match event {
            QueueEvent::OfferAnswered { interaction, agent } => (interaction, agent, true),
            QueueEvent::OfferFailed {
                interaction, agent, ..
            } => (interaction, agent, false),
            QueueEvent::Ended { interaction } | QueueEvent::Abandoned { interaction } => {
                self.transfers.remove(&InteractionId(interaction.clone()));
                return false;
            }
            _ => return false,
        };
        if !agent.starts_with(TRANSFER_PREFIX) {
            return false;
        }
        let id = InteractionId(interaction.clone());
        let Some(returning) = self.transfers.remove(&id) else {
            return true;
        };
        if !answered {
            tracing::info!(%id, "transfer target did not answer; back to the queue");
            let enqueue = Command::Enqueue {
                interaction: id.clone(),
                queue: returning.queue.clone(),
                ani: returning.ani,
                dnis: returning.dnis,
                priority: returning.priority,
            };
            if let Err(error) = self.acd.handle_command(now, enqueue) {
                tracing::warn!(%error, "could not return a transferred customer to its queue");
            }
            let data = json!({"interaction": id, "queue": returning.queue,
                              "reason": "target did not answer"});
            self.bus.publish(
                "interaction.transfer.failed",
                clock::unix_ms(),
                Audience::Supervisors,
                data,
            );
        }
        true
    }

    /// What the switch does with queue calls' media under the current settings.
    #[must_use]
    pub fn media_policy(&self) -> MediaPolicy {
        MediaPolicy {
            record: self.settings.recording,
            recordings_dir: self.recordings_dir.clone(),
            denoise_customer: self.settings.noise_suppression,
        }
    }

    fn connected_agent(&self, interaction: &InteractionId) -> Option<AgentId> {
        self.acd
            .interaction(interaction)
            .and_then(|ix| ix.connected.as_ref().map(|(agent, _)| agent.clone()))
    }

    fn recording(
        &mut self,
        interaction: &InteractionId,
        agent: Option<&AgentId>,
        action: RecordingAction,
    ) -> Result<(), EndRefused> {
        if !self.engaged(interaction, agent) {
            return Err(EndRefused::NotEngaged);
        }
        let Some(paused) = self.recordings.get(interaction).copied() else {
            return Err(EndRefused::NotRecording);
        };
        let recording = RecordingId(interaction.0.clone());
        match action {
            RecordingAction::Pause { behavior, who, why } => {
                if paused.is_some() {
                    return Err(EndRefused::RecordingAlready("paused"));
                }
                self.next_pause += 1;
                let pause = self.next_pause;
                self.recordings.insert(interaction.clone(), Some(pause));
                self.effects
                    .push(Effect::Media(MediaCommand::PauseRecording {
                        recording,
                        behavior,
                        who,
                        why,
                    }));
                // Data Shield: the pause ends by itself; the timer comes back as a request so
                // the recording's state stays owned here.
                if self.settings.data_shield
                    && let Some(handle) = self.handle.clone()
                {
                    let after =
                        Duration::from_secs(u64::from(self.settings.data_shield_pause_seconds));
                    let interaction = interaction.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        handle.auto_resume(interaction, pause);
                    });
                }
            }
            RecordingAction::Resume { who: _ } => {
                if paused.is_none() {
                    return Err(EndRefused::RecordingAlready("recording"));
                }
                self.recordings.insert(interaction.clone(), None);
                self.effects
                    .push(Effect::Media(MediaCommand::ResumeRecording {
                        recording,
                        auto: false,
                    }));
            }
        }
        Ok(())
    }

    /// What the media engine reports about a recording: persisted and published.
    pub fn on_recording_event(&mut self, event: MediaEvent) {
        let (kind, id, data) = match event {
            MediaEvent::RecordingStarted { recording, path } => {
                let id = InteractionId(recording.0);
                self.recordings.insert(id.clone(), None);
                if let Some(agent) = self.connected_agent(&id) {
                    self.recording_agents.insert(id.clone(), agent);
                }
                let path = path.display().to_string();
                self.effects
                    .push(Effect::Store(ContactCenterJob::RecordingStarted(
                        id.clone(),
                        path.clone(),
                    )));
                (
                    "recording.started",
                    id.clone(),
                    json!({"interaction": id, "path": path}),
                )
            }
            MediaEvent::RecordingPaused { recording, .. } => {
                let id = InteractionId(recording.0);
                let data = json!({"interaction": id,
                    "auto_resume_secs": self.settings.data_shield.then_some(self.settings.data_shield_pause_seconds)});
                ("recording.paused", id, data)
            }
            MediaEvent::RecordingResumed {
                recording, auto, ..
            } => {
                let id = InteractionId(recording.0);
                (
                    "recording.resumed",
                    id.clone(),
                    json!({"interaction": id, "autoResumed": auto}),
                )
            }
            MediaEvent::RecordingStopped { recording, path } => {
                let id = InteractionId(recording.0);
                self.recordings.remove(&id);
                self.effects
                    .push(Effect::Store(ContactCenterJob::RecordingEnded(
                        id.clone(),
                        RecordingStatus::Complete,
                        None,
                    )));
                let data = json!({"interaction": id, "path": path.display().to_string()});
                ("recording.stopped", id, data)
            }
            MediaEvent::RecordingFailed { recording, error } => {
                let id = InteractionId(recording.0);
                self.recordings.remove(&id);
                self.effects
                    .push(Effect::Store(ContactCenterJob::RecordingEnded(
                        id.clone(),
                        RecordingStatus::Failed,
                        Some(error.clone()),
                    )));
                (
                    "recording.failed",
                    id.clone(),
                    json!({"interaction": id, "error": error}),
                )
            }
            _ => return,
        };
        let agent = self
            .recording_agents
            .get(&id)
            .cloned()
            .or_else(|| self.connected_agent(&id));
        if matches!(kind, "recording.stopped" | "recording.failed") {
            self.recording_agents.remove(&id);
        }
        let audience = match agent {
            Some(agent) => self.about(&agent),
            None => Audience::Supervisors,
        };
        self.bus.publish(kind, clock::unix_ms(), audience, data);
    }

    /// The interaction is connected, and to `agent` when one is named.
    fn engaged(&self, interaction: &InteractionId, agent: Option<&AgentId>) -> bool {
        let live = self
            .acd
            .interaction(interaction)
            .is_some_and(|ix| ix.state == InteractionState::Connected);
        live && agent.is_none_or(|agent| {
            self.acd.agent_state(agent)
                == Some(&AgentState::Engaged {
                    interaction: interaction.clone(),
                })
        })
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

    /// The offer pop-up's CAD: the admin-chosen keys, in the admin's order, never secure ones.
    fn offered_cad(&self, interaction: &InteractionId) -> Value {
        let Some(cad) = self.cad.get(interaction) else {
            return json!({});
        };
        let mut shown = serde_json::Map::new();
        for key in self.offered_cad_keys.iter().take(6) {
            if let Some(c) = cad.iter().find(|c| &c.key == key && !c.secure) {
                shown.insert(c.key.clone(), Value::String(c.value.clone()));
            }
        }
        Value::Object(shown)
    }

    fn publish(&mut self, event: Event) {
        let at = clock::unix_ms();
        let (kind, audience, data) = match event {
            Event::AgentStateChanged(t) => {
                let audience = self.about(&t.agent);
                let data = json!({
                    "agent": t.agent, "from": t.from, "to": t.to,
                    "actor": t.actor, "reason": t.reason.as_str(),
                });
                ("agent.state_changed", audience, data)
            }
            Event::InteractionOffered {
                interaction,
                agent,
                queue,
                ani,
                dnis,
            } => {
                let cad = self.offered_cad(&interaction);
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "ani": ani, "dnis": dnis, "cad": cad,
                });
                ("interaction.offered", self.about(&agent), data)
            }
            Event::InteractionConnected {
                interaction,
                agent,
                queue,
            } => {
                let data = json!({"interaction": interaction, "agent": agent, "queue": queue});
                ("interaction.connected", self.about(&agent), data)
            }
            Event::InteractionEnded {
                interaction,
                agent,
                queue,
                abandoned,
            } => {
                let audience = match &agent {
                    Some(agent) => self.about(agent),
                    None => Audience::Supervisors,
                };
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "abandoned": abandoned,
                });
                ("interaction.ended", audience, data)
            }
            Event::WrapUpRequired {
                interaction,
                agent,
                queue,
                disposition_required,
            } => {
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "disposition_required": disposition_required,
                });
                ("interaction.wrapup_required", self.about(&agent), data)
            }
            Event::AgentRona { agent, interaction } => {
                let data = json!({"agent": agent, "interaction": interaction});
                ("agent.rona", self.about(&agent), data)
            }
            Event::QueueStats {
                queue,
                waiting,
                longest_wait,
                available_agents,
            } => {
                let data = json!({
                    "queue": queue, "waiting": waiting,
                    "longest_wait_secs": longest_wait.as_secs(),
                    "available_agents": available_agents,
                });
                ("queue.stats", Audience::Everyone, data)
            }
        };
        self.bus.publish(kind, at, audience, data);
    }
}

/// Wall-clock milliseconds of a monotonic instant in the recent past.
fn unix_at(at: Instant) -> UnixMillis {
    let ago = clock::now().saturating_duration_since(at);
    UnixMillis(clock::unix_ms() - i64::try_from(ago.as_millis()).unwrap_or(0))
}

/// How long a CTI request may wait for the core before the API answers 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
