//! What desktops see of the ACD's events: typed JSON on the event bus, addressed to the agent
//! concerned (and its supervisors), with the offer pop-up's CAD.

use super::*;

impl ContactCenter {
    /// The offer pop-up's CAD: the admin-chosen keys, in the admin's order, never secure ones.
    pub(super) fn offered_cad(&self, interaction: &InteractionId) -> Value {
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

    /// The desktop event of an ACD event, stamped with the latest time handed in.
    pub(super) fn publication(&self, event: Event) -> Publication {
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
                callback,
            } => {
                // A callback's pop-up: the customer's number (`ani`), the queue, the DNIS and
                // the CAD; accepting it dials the customer.
                let cad = self.offered_cad(&interaction);
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "ani": ani, "dnis": dnis, "cad": cad, "callback": callback,
                });
                ("interaction.offered", self.about(&agent), data)
            }
            Event::CallbackRetrying {
                interaction,
                queue,
                attempts,
                reason,
                retry_in,
            } => {
                let data = json!({
                    "interaction": interaction, "queue": queue, "attempts": attempts,
                    "reason": reason, "retry_in_secs": retry_in.as_secs(),
                });
                ("callback.retrying", Audience::Supervisors, data)
            }
            Event::CallbackFailed {
                interaction,
                queue,
                attempts,
                reason,
            } => {
                let data = json!({
                    "interaction": interaction, "queue": queue, "attempts": attempts,
                    "reason": reason,
                });
                ("callback.failed", Audience::Supervisors, data)
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
                handed_over,
            } => {
                // `handed_over`: the agent transferred the call and wraps up its own part.
                let data = json!({
                    "interaction": interaction, "agent": agent, "queue": queue,
                    "disposition_required": disposition_required, "handed_over": handed_over,
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
        Publication {
            kind,
            at_ms: self.unix_at(self.now).0,
            audience,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::events::{EventBus, Viewer, non_snake_case_keys};
    use crate::clock;
    use crate::routing::model::Role;
    use crate::routing::{AgentTransition, TransitionReason};

    /// One of each ACD event; the match makes a new variant a compile error here, so it
    /// cannot skip this test.
    fn one_of_each() -> Vec<Event> {
        let ix = InteractionId::from("ix-1");
        let (agent, queue) = (
            AgentId::from("alice"),
            crate::routing::model::QueueId::from("sales"),
        );
        let events = vec![
            Event::AgentStateChanged(AgentTransition {
                agent: agent.clone(),
                from: AgentState::LoggedOut,
                to: AgentState::Idle {
                    reason: "lunch".into(),
                },
                actor: Actor::Agent(agent.clone()),
                reason: TransitionReason::Login,
                at: clock::now(),
            }),
            Event::InteractionOffered {
                interaction: ix.clone(),
                agent: agent.clone(),
                queue: queue.clone(),
                ani: "+15550001".into(),
                dnis: "7000".into(),
                callback: true,
            },
            Event::CallbackRetrying {
                interaction: ix.clone(),
                queue: queue.clone(),
                attempts: 1,
                reason: "customer_486".into(),
                retry_in: Duration::from_secs(300),
            },
            Event::CallbackFailed {
                interaction: ix.clone(),
                queue: queue.clone(),
                attempts: 3,
                reason: "customer_no_answer".into(),
            },
            Event::InteractionConnected {
                interaction: ix.clone(),
                agent: agent.clone(),
                queue: queue.clone(),
            },
            Event::InteractionEnded {
                interaction: ix.clone(),
                agent: Some(agent.clone()),
                queue: queue.clone(),
                abandoned: false,
            },
            Event::WrapUpRequired {
                interaction: ix.clone(),
                agent: agent.clone(),
                queue: queue.clone(),
                disposition_required: true,
                handed_over: true,
            },
            Event::AgentRona {
                agent,
                interaction: ix,
            },
            Event::QueueStats {
                queue,
                waiting: 1,
                longest_wait: Duration::from_secs(3),
                available_agents: 0,
            },
        ];
        for event in &events {
            match event {
                Event::AgentStateChanged(_)
                | Event::InteractionOffered { .. }
                | Event::CallbackRetrying { .. }
                | Event::CallbackFailed { .. }
                | Event::InteractionConnected { .. }
                | Event::InteractionEnded { .. }
                | Event::WrapUpRequired { .. }
                | Event::AgentRona { .. }
                | Event::QueueStats { .. } => {}
            }
        }
        events
    }

    /// One of each recording report the media engine sends.
    fn recording_reports() -> Vec<MediaEvent> {
        let recording = || RecordingId("ix-1".into());
        let path = std::path::PathBuf::from("recordings/ix-1.wav");
        vec![
            MediaEvent::RecordingStarted {
                recording: recording(),
                path: path.clone(),
            },
            MediaEvent::RecordingPaused {
                recording: recording(),
                path: path.clone(),
            },
            MediaEvent::RecordingResumed {
                recording: recording(),
                path: path.clone(),
                auto: true,
            },
            MediaEvent::RecordingStopped {
                recording: recording(),
                path,
            },
            MediaEvent::RecordingFailed {
                recording: recording(),
                error: "disk full".into(),
            },
        ]
    }

    #[test]
    fn every_acd_and_recording_event_payload_has_only_snake_case_keys() {
        let bus = EventBus::new();
        let now = clock::now();
        let mut cc = ContactCenter::detached(now);
        for event in one_of_each() {
            bus.send(cc.publication(event));
        }
        for report in recording_reports() {
            cc.handle_media_event(now, report);
        }
        while let Some(output) = cc.poll_output() {
            if let Output::Publish(publication) = output {
                bus.send(publication);
            }
        }
        let published = bus.after(0);
        assert_eq!(published.len(), 9 + 5, "every event was published");
        let root = Viewer {
            agent: "root".into(),
            role: Role::Admin,
            teams: vec![],
        };
        for event in published {
            assert!(event.audience.admits(&root));
            let json: Value = serde_json::from_str(&event.json).unwrap();
            assert_eq!(non_snake_case_keys(&json), Vec::<String>::new(), "{json}");
        }
    }

    #[test]
    fn recording_events_never_carry_a_server_file_path() {
        let now = clock::now();
        let mut cc = ContactCenter::detached(now);
        for report in recording_reports() {
            cc.handle_media_event(now, report);
        }
        let mut kinds = Vec::new();
        while let Some(output) = cc.poll_output() {
            if let Output::Publish(publication) = output {
                let json = serde_json::to_string(&publication.data).unwrap();
                assert!(
                    !json.contains("path")
                        && !json.contains(".wav")
                        && !json.contains("recordings/"),
                    "{}: {json}",
                    publication.kind
                );
                kinds.push(publication.kind);
            }
        }
        assert_eq!(
            kinds.len(),
            5,
            "every recording report was published: {kinds:?}"
        );
    }
}
