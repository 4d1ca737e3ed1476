//! A model of the media plane: it carries out the switch's and the contact center's media
//! commands on plain maps (open endpoints and their ports, bridges, music, mixes, recordings
//! with their pause state) and answers recording commands with the events the real
//! recorder sends, a millisecond later. A command that names an endpoint or recording that
//! is not there is kept in `errors`: the real engine ignores it, which hides the core's
//! mistake.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::call::{EndpointId, MediaCommand, MediaEvent};
use crate::media::recorder::RecordingId;

/// One recording's state.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub paused: bool,
    /// Endpoints recorded on the agent side.
    pub agent_side: Vec<EndpointId>,
}

/// What happened to a recording, in order: `started`, `paused`, `resumed`, `auto-resumed`,
/// `stopped`.
pub type RecordingLog = BTreeMap<String, Vec<&'static str>>;

#[derive(Default)]
pub struct MediaPlane {
    /// Open endpoints and their RTP port.
    pub open: BTreeMap<EndpointId, u16>,
    /// Who relays to whom (both directions are entered).
    pub bridges: BTreeMap<EndpointId, EndpointId>,
    /// Endpoints hearing music on hold.
    pub music: BTreeSet<EndpointId>,
    /// Endpoints in a mix-minus conference.
    pub mixed: BTreeSet<EndpointId>,
    /// Endpoints whose leg's signalling let the media plane send to them (see
    /// [`MediaCommand::Establish`]).
    pub established: BTreeSet<EndpointId>,
    pub recordings: BTreeMap<RecordingId, Recording>,
    pub log: RecordingLog,
    /// Events to report, with when.
    pub events: Vec<(Instant, MediaEvent)>,
    /// Commands the model could not carry out.
    pub errors: Vec<String>,
}

impl MediaPlane {
    /// When the next event is due.
    pub fn next_event(&self) -> Option<Instant> {
        self.events.iter().map(|(at, _)| *at).min()
    }

    /// Takes the next event due at or before `now`.
    pub fn take_event(&mut self, now: Instant) -> Option<MediaEvent> {
        let index = (0..self.events.len())
            .filter(|&i| self.events[i].0 <= now)
            .min_by_key(|&i| self.events[i].0)?;
        Some(self.events.remove(index).1)
    }

    fn known(&mut self, endpoint: EndpointId, command: &MediaCommand) -> bool {
        let known = self.open.contains_key(&endpoint);
        if !known {
            self.errors
                .push(format!("{command:?} names a closed endpoint"));
        }
        known
    }

    /// Takes `endpoint` out of whatever it heard before.
    fn detach(&mut self, endpoint: EndpointId) {
        if let Some(peer) = self.bridges.remove(&endpoint) {
            self.bridges.remove(&peer);
        }
        self.music.remove(&endpoint);
        self.mixed.remove(&endpoint);
    }

    /// Logs `what` happened to `recording` and reports it as the recorder does, a
    /// millisecond later.
    fn note(
        &mut self,
        now: Instant,
        recording: &RecordingId,
        what: &'static str,
        event: impl FnOnce(RecordingId, std::path::PathBuf) -> MediaEvent,
    ) {
        self.log.entry(recording.0.clone()).or_default().push(what);
        let path = format!("{recording}.wav").into();
        let event = event(recording.clone(), path);
        self.events.push((now + Duration::from_millis(1), event));
    }

    pub fn apply(&mut self, now: Instant, command: MediaCommand) {
        match &command {
            MediaCommand::Open { endpoint, rtp_port } => {
                if self.open.values().any(|p| p == rtp_port) {
                    self.errors.push(format!("port {rtp_port} opened twice"));
                }
                if self.open.insert(*endpoint, *rtp_port).is_some() {
                    self.errors.push(format!("{endpoint:?} opened twice"));
                }
            }
            MediaCommand::Close { endpoint } => {
                if self.known(*endpoint, &command) {
                    self.detach(*endpoint);
                    self.open.remove(endpoint);
                    self.established.remove(endpoint);
                }
            }
            MediaCommand::Establish { endpoint } => {
                if self.known(*endpoint, &command) {
                    self.established.insert(*endpoint);
                }
            }
            MediaCommand::Configure { endpoint, .. }
            | MediaCommand::StopMusic { endpoint }
            | MediaCommand::Denoise { endpoint, .. }
            | MediaCommand::DetectDigits { endpoint, .. } => {
                if self.known(*endpoint, &command)
                    && matches!(command, MediaCommand::StopMusic { .. })
                {
                    self.music.remove(endpoint);
                }
            }
            MediaCommand::PlayMusic { endpoint, .. } | MediaCommand::PlayRingback { endpoint } => {
                if self.known(*endpoint, &command) {
                    self.detach(*endpoint);
                    self.music.insert(*endpoint);
                }
            }
            MediaCommand::Bridge { a, b } => {
                if self.known(*a, &command) && self.known(*b, &command) {
                    self.detach(*a);
                    self.detach(*b);
                    self.bridges.insert(*a, *b);
                    self.bridges.insert(*b, *a);
                }
            }
            MediaCommand::Mix { endpoints } => {
                for endpoint in endpoints {
                    if self.known(*endpoint, &command) {
                        self.detach(*endpoint);
                        self.mixed.insert(*endpoint);
                    }
                }
            }
            MediaCommand::StartRecording {
                recording,
                customer,
                agent_side,
                ..
            } => {
                self.known(*customer, &command);
                let fresh = Recording {
                    paused: false,
                    agent_side: agent_side.clone(),
                };
                if self.recordings.insert(recording.clone(), fresh).is_some() {
                    self.errors.push(format!("{recording} started twice"));
                }
                self.note(now, recording, "started", |recording, path| {
                    MediaEvent::RecordingStarted { recording, path }
                });
            }
            MediaCommand::PauseRecording { recording, .. } => {
                let Some(current) = self.recording(recording, &command) else {
                    return;
                };
                if !std::mem::replace(&mut current.paused, true) {
                    self.note(now, recording, "paused", |recording, path| {
                        MediaEvent::RecordingPaused { recording, path }
                    });
                }
            }
            MediaCommand::ResumeRecording { recording, auto } => {
                let Some(current) = self.recording(recording, &command) else {
                    return;
                };
                if std::mem::replace(&mut current.paused, false) {
                    let what = if *auto { "auto-resumed" } else { "resumed" };
                    let auto = *auto;
                    self.note(now, recording, what, |recording, path| {
                        MediaEvent::RecordingResumed {
                            recording,
                            path,
                            auto,
                        }
                    });
                }
            }
            MediaCommand::StopRecording { recording } => {
                if self.recordings.remove(recording).is_none() {
                    self.errors.push(format!("{command:?} names no recording"));
                    return;
                }
                self.note(now, recording, "stopped", |recording, path| {
                    MediaEvent::RecordingStopped { recording, path }
                });
            }
            MediaCommand::RecordAgentSide {
                recording,
                endpoint,
            } => {
                let endpoint = *endpoint;
                if let Some(current) = self.recording(recording, &command) {
                    current.agent_side.push(endpoint);
                }
            }
            MediaCommand::RecordingHold { recording, .. }
            | MediaCommand::RecordingParticipant { recording, .. } => {
                self.recording(recording, &command);
            }
        }
    }

    fn recording(&mut self, id: &RecordingId, command: &MediaCommand) -> Option<&mut Recording> {
        if !self.recordings.contains_key(id) {
            self.errors.push(format!("{command:?} names no recording"));
        }
        self.recordings.get_mut(id)
    }
}
