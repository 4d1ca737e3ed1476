//! Recording control: pause and resume with Data Shield's auto-resume, and what the media
//! engine reports about recordings (persisted and published).

use super::*;

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
        if !self.settings.recording_pause_during_consult && self.consults.contains_key(interaction)
        {
            return Err(EndRefused::RecordingLockedInConsult);
        }
        let recording = RecordingId(interaction.0.clone());
        match action {
            RecordingAction::Pause { behavior, who, why } => {
                if paused.is_some() {
                    return Err(EndRefused::RecordingAlready("paused"));
                }
                self.next_pause += 1;
                let pause = self.next_pause;
                self.recordings.insert(interaction.clone(), Some(pause));
                self.pause_reasons
                    .insert(interaction.clone(), (who.clone(), why.clone()));
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
            RecordingAction::Resume { who } => {
                self.pause_reasons.insert(interaction.clone(), (who, None));
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

    /// Sends the media engine a command about `interaction`'s recording, if it has one.
    pub(super) fn command_recording(
        &mut self,
        interaction: &InteractionId,
        command: impl FnOnce(RecordingId) -> MediaCommand,
    ) {
        if self.recordings.contains_key(interaction) {
            let recording = RecordingId(interaction.0.clone());
            self.effects.push(Effect::Media(command(recording)));
        }
    }

    /// Names a party in the sidecar of `interaction`'s recording, if it has one.
    pub(super) fn name_in_recording(&mut self, interaction: &InteractionId, who: String) {
        self.command_recording(interaction, |recording| {
            MediaCommand::RecordingParticipant { recording, who }
        });
    }

    /// What the media engine reports about a recording: persisted and published.
    pub fn on_recording_event(&mut self, event: MediaEvent) {
        let (kind, id, data) = match event {
            MediaEvent::RecordingStarted { recording, path } => {
                let id = InteractionId(recording.0);
                self.recordings.insert(id.clone(), None);
                if let Some(ani) = self.acd.interaction(&id).map(|ix| ix.ani.clone()) {
                    self.name_in_recording(&id, format!("customer:{ani}"));
                }
                if let Some(agent) = self.connected_agent(&id) {
                    self.name_in_recording(&id, format!("agent:{agent}"));
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
                let (who, why) = self.pause_reasons.get(&id).cloned().unwrap_or_default();
                let data = json!({"interaction": id, "by": who, "reason": why,
                    "auto_resume_secs": self.settings.data_shield.then_some(self.settings.data_shield_pause_seconds)});
                ("recording.paused", id, data)
            }
            MediaEvent::RecordingResumed {
                recording, auto, ..
            } => {
                let id = InteractionId(recording.0);
                let by = match self.pause_reasons.remove(&id) {
                    _ if auto => "data_shield".to_owned(),
                    Some((who, _)) => who,
                    None => String::new(),
                };
                (
                    "recording.resumed",
                    id.clone(),
                    json!({"interaction": id, "auto_resumed": auto, "by": by}),
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
}
