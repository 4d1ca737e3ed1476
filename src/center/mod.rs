//! The contact center as a sans-IO core: the ACD and the business stages of queue calls
//! beside it (hold, consult, blind transfer, recording, Data Shield). It takes the switch's
//! reports, the media engine's recording reports, CTI requests and timeouts, and answers with
//! outputs as data: commands for the switch and the media engine, writes for the store and
//! events for desktops. It never reads the clock, spawns a task or touches a channel; the
//! runtime drives it in the same task as the switch, so a queue call's SIP side and its
//! routing side never disagree.
//!
//! ```text
//!  switch ──QueueEvent / SwitchEvent──▶ ContactCenter ──Output::Switch(QueueCommand)──▶ switch
//!  media  ──MediaEvent (recordings)───▶   (ACD inside)  ──Output::Media(MediaCommand)──▶ media
//!  CTI    ──Request / Command────────▶               ──Output::Persist(Job)─────────▶ store writer
//!  clock  ──handle_timeout(now)──────▶               ──Output::Publish(Publication)─▶ event bus
//! ```
//!
//! # Who owns which fact
//! - **SIP and media facts** belong to the switch (`call::Switch`): dialogs, which leg hears
//!   music (its `QueueLeg::held`), whether a consult leg rings, whether a recorder was
//!   started for the call. It reports them ([`QueueEvent`], [`SwitchEvent`]) and this core
//!   never guesses them. One arrival is one report: `QueueEvent::Arrived` carries the
//!   caller's numbers, CAD and priority.
//! - **Agent state, the interaction's routing state and the caller's priority** (queued,
//!   offered, connected, who owns it) belong to the ACD inside this core ([`Acd`]); the
//!   consulted agent's state goes through it too (`consult_offer`, `consult_answered`, ...).
//! - **Business stages** belong to this core, each in one field:
//!   - the hold stage in `held`: set only from the switch's hold reports, and cleared where
//!     a conference, a warm or blind transfer ends the hold as a business matter (the switch
//!     takes the legs off music there without a report);
//!   - the consult stage (ringing, answered, conference) and who is consulted in `consults`
//!     (`consult.rs`; a party is an agent or a number, never a name and an optional agent);
//!   - where a customer blindly transferred to a number returns, in `transfers`
//!     (`transfer.rs`);
//!   - a recording's pause, who paused or resumed it and whose desktop hears of it in
//!     `recordings` (`recording.rs`), with Data Shield's auto-resume
//!     as the named timer `Timer::DataShieldResume` in `timers`, armed by a pause and
//!     cancelled by a manual resume, the recording's end or the call's;
//!   - the CAD shown in offer pop-ups in `cad` (the store keeps the editable copy).
//!
//! # Time
//! Every `handle_*` takes `now`; wall-clock milliseconds for records and events come from
//! an anchor taken when the core was built (`anchor`), as the switch does for CDRs. Time
//! never goes backwards: an earlier `now` is treated as the latest one seen.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bus::events::{Audience, Publication};
use crate::call::{
    CadFromSip, MediaCommand, MediaEvent, MediaPolicy, QueueCommand, QueueEvent, QueueMedia,
    SwitchEvent,
};
use crate::media::recorder::RecordingId;
use crate::routing::model::{Actor, AgentId, AgentState, InteractionId, InteractionState, TeamId};
use crate::routing::timer::TimerTable;
use crate::routing::{
    Acd, Command, Event, Output as AcdOutput, QueuePosition, Record, RoutingError, Snapshot,
};
use crate::store::{
    AgentStateChange, CadVariable, Direction, Interaction, InteractionProgress, OrgSettings,
    RecordingStatus, UnixMillis,
};

mod callback;
mod consult;
mod events;
mod inspect;
mod outdial;
mod party;
mod recording;
mod request;
#[cfg(test)]
mod tests;
mod transfer;

pub use callback::{CallbackJob, CallbackRequest};
pub use inspect::Holdings;
pub use outdial::{Outdial, OutdialRefused};
pub use request::{
    ConsultAction, ConsultTarget, RecordingAction, Refused, Request, TransferTarget,
};
use transfer::Returning;

/// What the contact center asks the rest of the loop to do.
#[derive(Debug)]
pub enum Output {
    /// A command for the switch.
    Switch(QueueCommand),
    /// A command for the media engine.
    Media(MediaCommand),
    /// Something to persist, in order.
    Persist(Job),
    /// An event for desktops.
    Publish(Publication),
    /// The numbers that reach queues, their music and media overrides changed.
    QueueRouting(QueueRouting),
    /// What the switch does with queue calls' media changed.
    MediaPolicy(MediaPolicy),
    /// The org's concurrent-call limits changed (0: none): all calls, outbound calls.
    OrgCallLimits { calls: u32, outbound: u32 },
    /// Noise suppression of one live call's customer.
    Denoise {
        interaction: InteractionId,
        enabled: bool,
    },
}

/// How the switch reaches queues: what it needs to answer their numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueRouting {
    /// Dialled number → queue id.
    pub numbers: HashMap<String, String>,
    /// Queue id → its own music on hold.
    pub music: HashMap<String, String>,
    /// Queue id → its overrides of the org's media settings.
    pub media: HashMap<String, QueueMedia>,
    /// Queue id → the most live calls it takes (queues without a limit are absent).
    pub limits: HashMap<String, u32>,
    /// Queue id → the caller ID its calls out present (queues without one are absent).
    pub caller_ids: HashMap<String, String>,
    /// Agent id → its own calling class (agents without one are absent).
    pub agent_classes: HashMap<String, crate::dialing::CallingClass>,
}

/// Writes for the store writer.
#[derive(Debug, Clone)]
pub enum Job {
    /// A caller reached a queue.
    Arrived(Box<Interaction>),
    /// CAD variables from the caller's INVITE.
    Cad(InteractionId, Vec<CadVariable>),
    /// A live interaction progressed.
    Progress(InteractionProgress),
    /// An agent changed state.
    AgentState(AgentStateChange),
    /// A recording started, at this path.
    RecordingStarted(InteractionId, String, UnixMillis),
    /// A recording ended (complete or failed).
    RecordingEnded(InteractionId, RecordingStatus, Option<String>, UnixMillis),
    /// Someone joined the interaction (consult, conference, transfer target).
    Participant(InteractionId, crate::store::Participant),
    /// Its media processing changed while live.
    MediaChange(InteractionId, crate::store::MediaChange),
    /// A callback's row changed.
    Callback(CallbackJob),
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

/// The contact center's named timers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Timer {
    /// Data Shield: a paused recording of this interaction resumes by itself.
    DataShieldResume(InteractionId),
}

/// The ACD and the business stages of live queue calls.
pub struct ContactCenter {
    acd: Acd,
    /// Wall clock at a monotonic instant, so records and events need no clock reads.
    anchor: (Instant, Duration),
    /// The latest `now` handed in.
    now: Instant,
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
    /// Recordings being written: their pause and whose desktop hears of them.
    recordings: HashMap<InteractionId, recording::Recording>,
    /// Callbacks that have not connected yet.
    callbacks: HashSet<InteractionId>,
    /// The creation time stamped on the last callback filed: each is stamped at least a
    /// millisecond later, so their order survives a restart (see `callback_stamp`).
    last_callback_ms: i64,
    settings: OrgSettings,
    recordings_dir: std::path::PathBuf,
    timers: TimerTable<Timer>,
    outputs: VecDeque<Output>,
}

impl ContactCenter {
    /// Wraps a configured ACD; `unix_now` is the wall clock at `now`.
    #[must_use]
    pub fn new(
        acd: Acd,
        settings: OrgSettings,
        recordings_dir: std::path::PathBuf,
        now: Instant,
        unix_now: Duration,
    ) -> ContactCenter {
        ContactCenter {
            acd,
            anchor: (now, unix_now),
            now,
            cad: HashMap::new(),
            offered_cad_keys: settings.offered_cad_keys.clone(),
            recordings: HashMap::new(),
            callbacks: HashSet::new(),
            last_callback_ms: 0,
            settings,
            recordings_dir,
            held: HashSet::new(),
            transfers: HashMap::new(),
            consults: HashMap::new(),
            timers: TimerTable::new(),
            outputs: VecDeque::new(),
        }
    }

    /// An empty contact center on default settings with no switch behind it, for tests.
    #[cfg(test)]
    pub(crate) fn detached(now: Instant) -> ContactCenter {
        ContactCenter::new(
            Acd::default(),
            OrgSettings::default(),
            std::env::temp_dir(),
            now,
            Duration::from_secs(1_700_000_000),
        )
    }

    /// Takes `now` as the latest time, unless time went backwards.
    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// The earliest of the ACD's timers and this core's own.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.acd.poll_timeout(), self.timers.earliest()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires due ACD timers and this core's own.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.acd.handle_timeout(now);
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::DataShieldResume(interaction) => self.auto_resume(&interaction),
            }
        }
    }

    /// What the switch reports beyond queue events: hold changes and transfers the agent's
    /// phone made. Other switch events are not the contact center's.
    pub fn handle_switch_event(&mut self, now: Instant, event: SwitchEvent) {
        let now = self.advance(now);
        match event {
            SwitchEvent::QueueCallHeld {
                interaction,
                held,
                by_phone,
            } => self.on_held(interaction, held, by_phone),
            SwitchEvent::QueueCallReferred {
                interaction,
                target,
                referred_by,
            } => self.on_referred(now, interaction, target, referred_by),
            SwitchEvent::QueueCallReplaced {
                interaction,
                target,
                referred_by,
            } => self.on_replaced(now, interaction, target, referred_by),
            _ => {}
        }
    }

    /// The CAD a queue call's INVITE carried: kept for offers and persisted.
    fn on_arrival_cad(&mut self, id: &InteractionId, cad: &[CadFromSip]) {
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
        self.persist(Job::Cad(id.clone(), variables));
        self.cad.insert(id.clone(), cad.to_vec());
    }

    /// A connected call went on or off hold (desktop or phone): recorded and published.
    fn on_held(&mut self, id: InteractionId, held: bool, by_phone: bool) {
        let agent = self.connected_agent(&id);
        // After a blind or warm transfer to a number the ACD has let the interaction go and
        // its record is ended; the far end's hold is news, not a new state for the record.
        if agent.is_some() {
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
            self.persist(Job::Progress(InteractionProgress {
                id: id.clone(),
                state,
                queue: None,
                agent: None,
                at: self.unix_at(self.now),
                abandoned: false,
                disposition: None,
                failure: None,
            }));
        }
        let audience = self.about_or_supervisors(agent.as_ref());
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
        self.publish_to(kind, audience, data);
    }

    /// The agent's phone transferred the customer with REFER: the same blind transfer to a
    /// number as the desktop's.
    fn on_referred(
        &mut self,
        now: Instant,
        id: InteractionId,
        target: String,
        referred_by: Option<String>,
    ) {
        tracing::info!(%id, referred_by = referred_by.as_deref().unwrap_or("-"), "REFER from the agent's phone");
        if let Err(refused) = self.transfer(now, id.clone(), None, TransferTarget::Number(target)) {
            tracing::warn!(%id, %refused, "REFER accepted but the transfer was refused");
        }
    }

    /// The record of a caller who reached `queue` now, waiting.
    fn inbound_record(
        &self,
        now: Instant,
        id: &InteractionId,
        queue: &crate::routing::model::QueueId,
        ani: &str,
        dnis: &str,
    ) -> Interaction {
        // The switch names the queue by id (it maps dialled numbers to ids).
        let queue_id = self.acd.queue(queue).map(|q| q.config().id.clone());
        Interaction {
            id: id.clone(),
            media: Default::default(),
            direction: Direction::Inbound,
            ani: ani.to_owned(),
            dnis: dnis.to_owned(),
            queue: queue_id,
            state: InteractionState::Queued,
            agent: None,
            participants: Vec::new(),
            media_changes: Vec::new(),
            notes: String::new(),
            disposition: None,
            created_ms: self.unix_at(now),
            offered_ms: None,
            connected_ms: None,
            ended_ms: None,
            wrapped_up_ms: None,
            abandoned: false,
            refused_by: None,
            failure: None,
        }
    }

    /// News from the switch about a queue call.
    pub fn handle_queue_event(&mut self, now: Instant, event: QueueEvent) {
        let now = self.advance(now);
        if let QueueEvent::Arrived {
            interaction,
            queue,
            ani,
            dnis,
            cad,
            ..
        } = &event
        {
            self.on_arrival_cad(interaction, cad);
            let record = self.inbound_record(now, interaction, queue, ani, dnis);
            self.persist(Job::Arrived(Box::new(record)));
        }
        if let QueueEvent::Refused {
            interaction,
            queue,
            ani,
            dnis,
            limit,
        } = &event
        {
            // The caller was refused before it was answered: its interaction is born ended,
            // naming the limit, so supervisors see the calls a limit turned away.
            let record = Interaction {
                state: InteractionState::Ended,
                refused_by: Some(limit.clone()),
                ..self.inbound_record(now, interaction, queue, ani, dnis)
            };
            let record = Interaction {
                ended_ms: Some(record.created_ms),
                ..record
            };
            self.persist(Job::Arrived(Box::new(record)));
            return;
        }
        if let QueueEvent::OutdialFailed {
            interaction,
            reason,
        } = &event
        {
            self.on_outdial_failed(interaction, reason);
        }
        if let QueueEvent::CallbackChosen {
            interaction,
            number,
        } = &event
        {
            self.on_callback_chosen(now, interaction, number);
            return;
        }
        if let QueueEvent::Ended { interaction } | QueueEvent::Abandoned { interaction } = &event
            && !self.is_pending_callback(interaction)
        {
            let id = interaction.clone();
            self.cad.remove(&id);
            self.held.remove(&id);
            self.forget_pause(&id);
        }
        if self.on_consult_event(now, &event) || self.on_transfer_outcome(now, &event) {
            return;
        }
        let arrived = match &event {
            QueueEvent::Arrived { interaction, .. } => Some(interaction.clone()),
            _ => None,
        };
        // Stale or unknown events (a call the ACD already let go) are no-ops in the ACD.
        if let Err(error) = self.acd.handle_command(now, Command::Switch(event)) {
            tracing::debug!(%error, "switch event refused by the ACD");
        }
        if let Some(interaction) = arrived {
            self.maybe_offer_courtesy(&interaction);
        }
    }

    /// A routing command from the API (login, state change, accept, wrap-up, configuration).
    /// A change of queues tells the switch the numbers, music and media that reach them, and
    /// a change of agents their calling classes.
    ///
    /// # Errors
    /// The ACD's refusal, as it gave it.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<(), RoutingError> {
        let now = self.advance(now);
        let queues_changed = matches!(
            command,
            Command::UpsertQueue(_)
                | Command::RemoveQueue(_)
                | Command::UpsertAgent(_)
                | Command::RemoveAgent(_)
        );
        let result = self.acd.handle_command(now, command);
        if queues_changed && result.is_ok() {
            let routing = self.queue_routing();
            self.outputs.push_back(Output::QueueRouting(routing));
        }
        result
    }

    /// The numbers, music and media overrides of the configured queues, for the switch.
    #[must_use]
    pub fn queue_routing(&self) -> QueueRouting {
        let snapshot = self.acd.snapshot(self.now);
        let queues = snapshot.queues;
        QueueRouting {
            agent_classes: snapshot
                .agents
                .iter()
                .filter_map(|a| Some((a.config.id.0.clone(), a.config.calling_class?)))
                .collect(),
            music: queues
                .iter()
                .filter_map(|q| Some((q.config.id.0.clone(), q.config.music.clone()?)))
                .collect(),
            media: queues
                .iter()
                .map(|q| (q.config.id.0.clone(), queue_media(&q.config)))
                .collect(),
            limits: queues
                .iter()
                .filter(|q| q.config.max_calls > 0)
                .map(|q| (q.config.id.0.clone(), q.config.max_calls))
                .collect(),
            caller_ids: queues
                .iter()
                .filter_map(|q| Some((q.config.id.0.clone(), q.config.outdial_caller_id.clone()?)))
                .collect(),
            numbers: queues
                .into_iter()
                .map(|q| (q.config.number, q.config.id.0))
                .collect(),
        }
    }

    /// An agent's live state and the extension it is logged in with.
    #[must_use]
    pub fn agent_state(&self, agent: &AgentId) -> Option<(AgentState, Option<String>)> {
        self.acd
            .agent(agent)
            .map(|a| (a.state().clone(), a.extension().map(str::to_owned)))
    }

    /// Every agent and queue as the ACD sees them at `now`.
    #[must_use]
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        self.acd.snapshot(now.max(self.now))
    }

    /// Where a waiting caller stands.
    #[must_use]
    pub fn queue_position(&self, interaction: &InteractionId) -> Option<QueuePosition> {
        self.acd.queue_position(interaction)
    }

    /// The org settings changed (offer pop-up keys, recording, noise suppression).
    pub fn handle_settings(&mut self, now: Instant, settings: OrgSettings) {
        self.advance(now);
        self.offered_cad_keys = settings.offered_cad_keys.clone();
        let limit_changed = settings.max_concurrent_calls != self.settings.max_concurrent_calls
            || settings.max_outbound_calls != self.settings.max_outbound_calls;
        self.settings = settings;
        self.outputs
            .push_back(Output::MediaPolicy(self.media_policy()));
        if limit_changed {
            self.outputs.push_back(Output::OrgCallLimits {
                calls: self.settings.max_concurrent_calls,
                outbound: self.settings.max_outbound_calls,
            });
        }
    }

    /// The org's concurrent-call limit (0: none).
    #[must_use]
    pub fn org_call_limit(&self) -> u32 {
        self.settings.max_concurrent_calls
    }

    /// The org's limit of concurrent outbound calls (0: none).
    #[must_use]
    pub fn org_outbound_limit(&self) -> u32 {
        self.settings.max_outbound_calls
    }

    /// A command on a live interaction from the API: carried out (its effects follow as
    /// outputs) or refused, with the reason.
    ///
    /// # Errors
    /// Why the request was refused ([`Refused`]); nothing was changed then.
    pub fn handle_request(&mut self, now: Instant, request: Request) -> Result<(), Refused> {
        let now = self.advance(now);
        match request {
            Request::End { interaction, agent } => {
                if self.placing_outdial(&interaction, agent.as_ref()) {
                    // Ending a call out that has not connected cancels it.
                    self.command_switch(QueueCommand::Hangup { interaction });
                    return Ok(());
                }
                if !self.engaged(&interaction, agent.as_ref()) {
                    return Err(Refused::NotEngaged);
                }
                if self.held.contains(&interaction) {
                    return Err(Refused::Held);
                }
                self.command_switch(QueueCommand::Hangup { interaction });
                Ok(())
            }
            Request::Transfer {
                interaction,
                agent,
                target,
            } => self.transfer(now, interaction, agent.as_ref(), target),
            Request::Hold {
                interaction,
                agent,
                held,
            } => {
                if !self.engaged(&interaction, agent.as_ref()) {
                    return Err(Refused::NotEngaged);
                }
                if let Some(refused) = self.consult_blocks_hold(&interaction) {
                    return Err(refused);
                }
                if self.held.contains(&interaction) == held {
                    return Err(Refused::AlreadyThere(if held {
                        "on hold"
                    } else {
                        "not on hold"
                    }));
                }
                // The hold stage changes when the switch reports it did (`QueueCallHeld`).
                self.command_switch(if held {
                    QueueCommand::Hold { interaction }
                } else {
                    QueueCommand::Resume { interaction }
                });
                Ok(())
            }
            Request::Consult {
                interaction,
                agent,
                action,
            } => self.consult_action(now, interaction, agent, action),
            Request::Recording {
                interaction,
                agent,
                action,
            } => self.recording(now, &interaction, agent.as_ref(), action),
            Request::Denoise {
                interaction,
                agent,
                enabled,
                by,
            } => self.denoise(&interaction, agent.as_ref(), enabled, by),
        }
    }

    /// A supervisor's override of noise suppression on one live call.
    fn denoise(
        &mut self,
        interaction: &InteractionId,
        agent: Option<&AgentId>,
        enabled: bool,
        by: Actor,
    ) -> Result<(), Refused> {
        if !self.engaged(interaction, agent) {
            return Err(Refused::NotEngaged);
        }
        self.outputs.push_back(Output::Denoise {
            interaction: interaction.clone(),
            enabled,
        });
        let agent = self.connected_agent(interaction);
        let audience = self.about_or_supervisors(agent.as_ref());
        let change = crate::store::MediaChange {
            at_ms: self.unix_at(self.now).0,
            setting: "noise_suppression".into(),
            enabled,
            by: by.label(),
        };
        self.persist(Job::MediaChange(interaction.clone(), change));
        let data = json!({"interaction": interaction, "agent": agent,
                          "enabled": enabled, "by": by});
        self.publish_to("interaction.noise_suppression_changed", audience, data);
        Ok(())
    }

    /// The next thing for the loop to do, in the order it was decided.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(output) = self.outputs.pop_front() {
            return Some(output);
        }
        // The ACD's outputs come after this core's own: they were decided inside them.
        let output = match self.acd.poll_output()? {
            AcdOutput::Queue(command) => Output::Switch(command),
            AcdOutput::Overflow {
                interaction,
                number,
            } => {
                // The number rings like an agent's extension; when it answers the caller
                // is bridged to it and the ACD has already let the interaction go.
                Output::Switch(QueueCommand::Offer {
                    interaction,
                    party: party::Party::Overflow(number.clone()),
                    extension: number,
                })
            }
            AcdOutput::Reject {
                interaction,
                reason,
            } => {
                tracing::info!(%interaction, ?reason, "caller turned away");
                Output::Switch(QueueCommand::Hangup { interaction })
            }
            AcdOutput::Event(event) => {
                self.on_callback_news(&event);
                Output::Publish(self.publication(event))
            }
            AcdOutput::Persist(record) => Output::Persist(self.record(record)),
        };
        Some(output)
    }

    fn record(&self, record: Record) -> Job {
        match record {
            Record::AgentTransition(t) => Job::AgentState(AgentStateChange {
                agent: t.agent,
                from: t.from,
                to: t.to,
                reason: Some(t.reason.as_str().to_owned()),
                actor: t.actor,
                at: self.unix_at(t.at),
            }),
            Record::Interaction(change) => Job::Progress(InteractionProgress {
                id: change.interaction,
                state: change.state,
                queue: change.queue,
                // Only the agent who connects owns the interaction (history scoping); an
                // agent whose phone merely rang does not.
                agent: (change.state == InteractionState::Connected)
                    .then_some(change.agent)
                    .flatten(),
                at: self.unix_at(change.at),
                abandoned: change.reason == crate::routing::InteractionReason::Abandoned,
                disposition: change.disposition,
                failure: None,
            }),
            Record::HandedOver(part) => Job::Participant(
                part.interaction,
                crate::store::Participant {
                    connected_ms: Some(self.unix_at(part.answered_at).0),
                    ended_ms: Some(self.unix_at(part.at).0),
                    ..crate::store::Participant::new(crate::store::AGENT_PART, part.agent.as_str())
                },
            ),
            Record::PartWrappedUp {
                interaction,
                agent,
                disposition,
                at,
            } => Job::PartWrappedUp {
                interaction,
                agent,
                disposition,
                at: self.unix_at(at),
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
        self.persist(Job::Participant(interaction.clone(), participant));
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

    /// The agent's audience, or supervisors' when no agent is concerned.
    fn about_or_supervisors(&self, agent: Option<&AgentId>) -> Audience {
        agent.map_or(Audience::Supervisors, |agent| self.about(agent))
    }

    fn command_switch(&mut self, command: QueueCommand) {
        self.outputs.push_back(Output::Switch(command));
    }

    fn persist(&mut self, job: Job) {
        self.outputs.push_back(Output::Persist(job));
    }

    /// Publishes an event of `kind` now.
    fn publish_to(&mut self, kind: &'static str, audience: Audience, data: Value) {
        let at_ms = self.unix_at(self.now).0;
        self.outputs.push_back(Output::Publish(Publication {
            kind,
            at_ms,
            audience,
            data,
        }));
    }

    /// Wall-clock milliseconds of a monotonic instant, from the anchor.
    /// The creation time of a callback filed at `now`: its wall-clock millisecond, or one
    /// past the last callback's. Pending callbacks are restored at start-up in creation
    /// order, and two filed in one millisecond would otherwise come back in either order.
    fn callback_stamp(&mut self, now: Instant) -> UnixMillis {
        let ms = self.unix_at(now).0.max(self.last_callback_ms + 1);
        self.last_callback_ms = ms;
        UnixMillis(ms)
    }

    fn unix_at(&self, at: Instant) -> UnixMillis {
        let (anchor, unix) = self.anchor;
        let wall = match at.checked_duration_since(anchor) {
            Some(after) => unix + after,
            None => unix.saturating_sub(anchor - at),
        };
        UnixMillis(i64::try_from(wall.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A queue's overrides of the org's media settings.
#[must_use]
fn queue_media(config: &crate::routing::model::QueueConfig) -> QueueMedia {
    QueueMedia {
        record: config.recording,
        denoise_customer: config.noise_suppression,
    }
}

/// The routing core's view of the org settings.
#[must_use]
pub fn routing_settings(settings: &OrgSettings) -> crate::routing::model::OrgSettings {
    crate::routing::model::OrgSettings {
        default_wrap_up_max: Duration::from_secs(u64::from(settings.wrap_up_max_seconds)),
        default_ring_timeout: Duration::from_secs(u64::from(settings.rona_timeout_seconds)),
        callback_retry: Duration::from_secs(u64::from(settings.callback_retry_seconds)),
        callback_max_attempts: settings.callback_max_attempts,
        ..Default::default()
    }
}
