//! Recording control: pause and resume with Data Shield's auto-resume, and what the media
//! engine reports about recordings (persisted and published).
//!
//! The media engine owns the recorder (file, samples, whether it writes silence); this core
//! owns the recording's business state in one [`Recording`] per interaction: paused or not,
//! who paused or resumed it last, and whose desktop hears of it. Data Shield's auto-resume
//! is the named timer [`Timer::DataShieldResume`], armed by a pause and cancelled by a
//! manual resume, the recording's end or the call's.

use super::*;

/// A recording being written, as the business sees it.
#[derive(Debug, Clone, Default)]
pub(super) struct Recording {
    /// Paused (by a person; Data Shield may end the pause).
    pub(super) paused: bool,
    /// Who paused or resumed it last, and why, for the media engine's reports.
    pub(super) by: Option<(String, Option<String>)>,
    /// The agent whose desktop hears of it (the call may be over when it stops).
    pub(super) agent: Option<AgentId>,
}

impl ContactCenter {
    /// What the switch does with queue calls' media under the current settings.
    #[must_use]
    pub fn media_policy(&self) -> MediaPolicy {
        MediaPolicy {
            record: self.settings.recording,
            recordings_dir: self.recordings_dir.clone(),
            denoise_customer: self.settings.noise_suppression,
            denoise_agent: self.settings.noise_suppression_agent_audio,
        }
    }

    pub(super) fn recording(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        agent: Option<&AgentId>,
        action: RecordingAction,
    ) -> Result<(), Refused> {
        if !self.engaged(interaction, agent) {
            return Err(Refused::NotEngaged);
        }
        let locked = !self.settings.recording_pause_during_consult
            && self.consults.contains_key(interaction);
        let Some(current) = self.recordings.get_mut(interaction) else {
            return Err(Refused::NotRecording);
        };
        if locked {
            return Err(Refused::RecordingLockedInConsult);
        }
        let recording = RecordingId(interaction.0.clone());
        let timer = Timer::DataShieldResume(interaction.clone());
        match action {
            RecordingAction::Pause { behavior, who, why } => {
                if current.paused {
                    return Err(Refused::RecordingAlready("paused"));
                }
                current.paused = true;
                current.by = Some((who.clone(), why.clone()));
                self.outputs
                    .push_back(Output::Media(MediaCommand::PauseRecording {
                        recording,
                        behavior,
                        who,
                        why,
                    }));
                if self.settings.data_shield {
                    let after =
                        Duration::from_secs(u64::from(self.settings.data_shield_pause_seconds));
                    self.timers.set(timer, now + after);
                }
            }
            RecordingAction::Resume { who } => {
                current.by = Some((who, None));
                if !current.paused {
                    return Err(Refused::RecordingAlready("recording"));
                }
                current.paused = false;
                self.timers.cancel(&timer);
                self.outputs
                    .push_back(Output::Media(MediaCommand::ResumeRecording {
                        recording,
                        auto: false,
                    }));
            }
        }
        Ok(())
    }

    /// Data Shield's timer ran out: the pause ends by itself.
    pub(super) fn auto_resume(&mut self, interaction: &InteractionId) {
        let Some(current) = self.recordings.get_mut(interaction) else {
            return;
        };
        if !current.paused {
            return;
        }
        current.paused = false;
        self.outputs
            .push_back(Output::Media(MediaCommand::ResumeRecording {
                recording: RecordingId(interaction.0.clone()),
                auto: true,
            }));
    }

    /// The call is over: a pause no longer needs to end by itself.
    pub(super) fn forget_pause(&mut self, interaction: &InteractionId) {
        self.timers
            .cancel(&Timer::DataShieldResume(interaction.clone()));
    }

    /// Sends the media engine a command about `interaction`'s recording, if it has one.
    pub(super) fn command_recording(
        &mut self,
        interaction: &InteractionId,
        command: impl FnOnce(RecordingId) -> MediaCommand,
    ) {
        if self.recordings.contains_key(interaction) {
            let recording = RecordingId(interaction.0.clone());
            self.outputs.push_back(Output::Media(command(recording)));
        }
    }

    /// Names a party in the sidecar of `interaction`'s recording, if it has one.
    pub(super) fn name_in_recording(&mut self, interaction: &InteractionId, who: String) {
        self.command_recording(interaction, |recording| {
            MediaCommand::RecordingParticipant { recording, who }
        });
    }

    /// What the media engine reports about a recording: persisted and published. Other
    /// media events are not the contact center's.
    pub fn handle_media_event(&mut self, now: Instant, event: MediaEvent) {
        let now = self.advance(now);
        let at = self.unix_at(now);
        let (kind, id, data) = match event {
            MediaEvent::RecordingStarted { recording, path } => {
                let id = InteractionId(recording.0);
                let agent = self.connected_agent(&id);
                let current = self.recordings.entry(id.clone()).or_default();
                current.paused = false;
                if agent.is_some() {
                    current.agent.clone_from(&agent);
                }
                if let Some(ani) = self.acd.interaction(&id).map(|ix| ix.ani.clone()) {
                    self.name_in_recording(&id, format!("customer:{ani}"));
                }
                if let Some(agent) = agent {
                    self.name_in_recording(&id, format!("agent:{agent}"));
                }
                // The path is the store's (downloads go through the API by interaction);
                // desktops are never told where the server keeps files.
                let path = path.display().to_string();
                self.persist(Job::RecordingStarted(id.clone(), path, at));
                let data = json!({"interaction": id});
                ("recording.started", id, data)
            }
            MediaEvent::RecordingPaused { recording, .. } => {
                let id = InteractionId(recording.0);
                let (who, why) = self
                    .recordings
                    .get(&id)
                    .and_then(|r| r.by.clone())
                    .unwrap_or_default();
                let data = json!({"interaction": id, "by": who, "reason": why,
                    "auto_resume_secs": self.settings.data_shield.then_some(self.settings.data_shield_pause_seconds)});
                ("recording.paused", id, data)
            }
            MediaEvent::RecordingResumed {
                recording, auto, ..
            } => {
                let id = InteractionId(recording.0);
                let by = match self.recordings.get_mut(&id).and_then(|r| r.by.take()) {
                    _ if auto => "data_shield".to_owned(),
                    Some((who, _)) => who,
                    None => String::new(),
                };
                let data = json!({"interaction": id, "auto_resumed": auto, "by": by});
                ("recording.resumed", id, data)
            }
            MediaEvent::RecordingStopped { recording, .. } => {
                let id = InteractionId(recording.0);
                let status = RecordingStatus::Complete;
                self.persist(Job::RecordingEnded(id.clone(), status, None, at));
                let data = json!({"interaction": id});
                ("recording.stopped", id, data)
            }
            MediaEvent::RecordingFailed { recording, error } => {
                let id = InteractionId(recording.0);
                let status = RecordingStatus::Failed;
                let job = Job::RecordingEnded(id.clone(), status, Some(error.clone()), at);
                self.persist(job);
                let data = json!({"interaction": id, "error": error});
                ("recording.failed", id, data)
            }
            _ => return,
        };
        let agent = self
            .recordings
            .get(&id)
            .and_then(|r| r.agent.clone())
            .or_else(|| self.connected_agent(&id));
        if matches!(kind, "recording.stopped" | "recording.failed") {
            self.recordings.remove(&id);
            self.forget_pause(&id);
        }
        let audience = self.about_or_supervisors(agent.as_ref());
        self.publish_to(kind, audience, data);
    }
}
