//! The contact center in virtual time: scripted switch reports, desktop requests and media
//! reports go in, every output is collected, and the clock only moves by jumping to the next
//! `poll_timeout`.
//!
//! ```text
//!  caller ──INVITE──▶ switch ──Arrived──▶ center ──Offer──▶ switch ──INVITE──▶ alice's phone
//!                            ◀──Offer────         ◀──OfferAnswered── (200 OK)
//!                     interaction.offered, then .connected; Arrived and Connected persisted
//! ```

use super::*;
use crate::ids::Party;
use crate::routing::model::Actor;
use crate::routing::test_harness::{agent, queue, secs};
use crate::routing::{Command, RequestedState};
use proptest::prelude::*;

const IX: &str = "ix-1";

/// A contact center in virtual time with every output collected.
struct Harness {
    cc: ContactCenter,
    now: Instant,
    out: Vec<Output>,
}

impl Harness {
    /// Queue `sales` (number 7000, 15 s ring timeout) and agents alice and bob, both
    /// Available at `ext-alice` and `ext-bob`.
    fn new(settings: OrgSettings) -> Harness {
        let now = crate::clock::now();
        let mut h = Harness {
            cc: ContactCenter::new(
                Acd::default(),
                settings,
                std::env::temp_dir(),
                now,
                secs(1_700_000_000),
            ),
            now,
            out: Vec::new(),
        };
        h.command(Command::UpsertQueue(queue("sales", "7000")));
        for id in ["alice", "bob"] {
            h.command(Command::UpsertAgent(agent(id, &[])));
            h.command(Command::Login {
                agent: id.into(),
                extension: format!("ext-{id}"),
                actor: Actor::Agent(id.into()),
            });
        }
        h.available("alice");
        h.take();
        h
    }

    fn with_data_shield(seconds: u32) -> Harness {
        Harness::new(data_shield(seconds))
    }

    fn drain(&mut self) {
        while let Some(output) = self.cc.poll_output() {
            self.out.push(output);
        }
    }

    fn command(&mut self, command: Command) {
        self.cc.handle_command(self.now, command).unwrap();
        self.drain();
    }

    fn available(&mut self, id: &str) {
        self.command(Command::SetState {
            agent: id.into(),
            state: RequestedState::Available,
            actor: Actor::Agent(id.into()),
        });
    }

    fn switch(&mut self, event: QueueEvent) {
        self.cc.handle_queue_event(self.now, event);
        self.drain();
    }

    fn report(&mut self, event: SwitchEvent) {
        self.cc.handle_switch_event(self.now, event);
        self.drain();
    }

    fn media(&mut self, event: MediaEvent) {
        self.cc.handle_media_event(self.now, event);
        self.drain();
    }

    /// A request whose refusal is as good as its success (random scripts).
    fn attempt(&mut self, request: Request) {
        let _ = self.request(request);
    }

    fn request(&mut self, request: Request) -> Result<(), Refused> {
        let result = self.cc.handle_request(self.now, request);
        self.drain();
        result
    }

    /// Moves virtual time forward by `d`, firing every timer due on the way at its own
    /// deadline, and checking that deadlines move forward.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(at) = self.cc.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.cc.handle_timeout(self.now);
            self.drain();
            if let Some(next) = self.cc.poll_timeout() {
                assert!(
                    next > self.now,
                    "poll_timeout must move past a handled deadline"
                );
            }
        }
        self.now = target;
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Kinds of the events published since the last `take`, in order.
    fn published(&self) -> Vec<&'static str> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Publish(p) => Some(p.kind),
                _ => None,
            })
            .collect()
    }

    fn publication(&self, kind: &str) -> &Publication {
        self.out
            .iter()
            .find_map(|o| match o {
                Output::Publish(p) if p.kind == kind => Some(p),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {kind} in {:?}", self.out))
    }

    fn to_switch(&self) -> Vec<QueueCommand> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Switch(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn to_media(&self) -> Vec<MediaCommand> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Media(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    /// The interaction states persisted since the last `take`, in order.
    fn progress(&self) -> Vec<InteractionState> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Persist(Job::Progress(p)) => Some(p.state),
                _ => None,
            })
            .collect()
    }

    fn arrive(&mut self) {
        self.switch(QueueEvent::Arrived {
            interaction: IX.into(),
            queue: "sales".into(),
            ani: "+15550001".into(),
            dnis: "7000".into(),
            cad: vec![CadFromSip {
                key: "account".into(),
                value: "42".into(),
                secure: false,
            }],
            priority: 0,
        });
    }

    /// A call connected to alice, with nothing collected yet.
    fn connected() -> Harness {
        Harness::connected_with(OrgSettings::default())
    }

    fn connected_with(settings: OrgSettings) -> Harness {
        let mut h = Harness::new(settings);
        h.arrive();
        h.switch(QueueEvent::OfferAnswered {
            interaction: IX.into(),
            party: Party::Agent("alice".into()),
        });
        h.take();
        h
    }

    /// `connected_with`, and the switch started recording the call.
    fn recorded(settings: OrgSettings) -> Harness {
        let mut h = Harness::connected_with(settings);
        h.media(MediaEvent::RecordingStarted {
            recording: RecordingId(IX.into()),
            path: "recordings/ix-1.wav".into(),
        });
        h.take();
        h
    }

    fn held_report(&mut self, held: bool) {
        self.report(SwitchEvent::QueueCallHeld {
            interaction: IX.into(),
            held,
            by_phone: false,
        });
    }

    fn end(&mut self) {
        self.switch(QueueEvent::Ended {
            interaction: IX.into(),
        });
    }

    fn state(&self, id: &str) -> AgentState {
        self.cc.agent_state(&id.into()).unwrap().0
    }

    /// Nothing is left of a call that is over: no stage, no pause, no timer of its own.
    fn assert_nothing_left(&self) {
        let cc = &self.cc;
        assert!(cc.cad.is_empty(), "CAD left: {:?}", cc.cad.keys());
        assert!(cc.held.is_empty(), "hold stage left");
        assert!(cc.consults.is_empty(), "consult left");
        assert!(cc.transfers.is_empty(), "transfer left");
        assert!(cc.timers.is_empty(), "timer left");
    }
}

/// Default settings with Data Shield ending pauses after `seconds`.
fn data_shield(seconds: u32) -> OrgSettings {
    OrgSettings {
        data_shield: true,
        data_shield_pause_seconds: seconds,
        ..OrgSettings::default()
    }
}

fn pause() -> Request {
    Request::Recording {
        interaction: IX.into(),
        agent: Some("alice".into()),
        action: RecordingAction::Pause {
            behavior: crate::media::recorder::PauseBehavior::Silence,
            who: "alice".into(),
            why: Some("card number".into()),
        },
    }
}

fn resume() -> Request {
    Request::Recording {
        interaction: IX.into(),
        agent: Some("alice".into()),
        action: RecordingAction::Resume {
            who: "alice".into(),
        },
    }
}

fn hold(held: bool) -> Request {
    Request::Hold {
        interaction: IX.into(),
        agent: Some("alice".into()),
        held,
    }
}

fn consult(action: ConsultAction) -> Request {
    Request::Consult {
        interaction: IX.into(),
        agent: Some("alice".into()),
        action,
    }
}

fn auto_resumes(commands: &[MediaCommand]) -> usize {
    commands
        .iter()
        .filter(|c| matches!(c, MediaCommand::ResumeRecording { auto: true, .. }))
        .count()
}

#[test]
fn a_queue_call_is_offered_to_the_available_agent_then_connected_when_the_phone_answers() {
    let mut h = Harness::new(OrgSettings {
        offered_cad_keys: vec!["account".into()],
        ..OrgSettings::default()
    });
    h.arrive();
    assert!(
        matches!(&h.out[0], Output::Persist(Job::Cad(id, vars)) if id.0 == IX && vars.len() == 1)
    );
    assert!(
        matches!(&h.out[1], Output::Persist(Job::Arrived(ix)) if ix.id.0 == IX && ix.ani == "+15550001")
    );
    assert_eq!(
        h.to_switch(),
        vec![QueueCommand::Offer {
            interaction: IX.into(),
            party: Party::Agent("alice".into()),
            extension: "ext-alice".into(),
        }]
    );
    let offered = h.publication("interaction.offered");
    assert_eq!(offered.data["cad"], json!({"account": "42"}));
    assert_eq!(
        offered.audience,
        Audience::Agent {
            agent: "alice".into(),
            team: None
        }
    );
    assert_eq!(
        h.progress(),
        vec![InteractionState::Queued, InteractionState::Offered]
    );
    h.take();

    h.command(Command::AcceptOffer {
        agent: "alice".into(),
        interaction: IX.into(),
    });
    h.switch(QueueEvent::OfferAnswered {
        interaction: IX.into(),
        party: Party::Agent("alice".into()),
    });
    assert!(h.published().contains(&"interaction.connected"));
    let connected = h.out.iter().find_map(|o| match o {
        Output::Persist(Job::Progress(p)) if p.state == InteractionState::Connected => Some(p),
        _ => None,
    });
    assert_eq!(connected.unwrap().agent, Some("alice".into()));
    assert_eq!(
        h.state("alice"),
        AgentState::Engaged {
            interaction: IX.into()
        }
    );
}

#[test]
fn an_urgent_caller_from_the_one_arrival_event_is_offered_before_one_who_waited_longer() {
    let mut h = Harness::new(OrgSettings::default());
    h.command(Command::SetState {
        agent: "alice".into(),
        state: RequestedState::Idle {
            reason: "lunch".into(),
        },
        actor: Actor::Agent("alice".into()),
    });
    for (interaction, priority) in [("ix-normal", 0), ("ix-urgent", 5)] {
        h.switch(QueueEvent::Arrived {
            interaction: interaction.into(),
            queue: "sales".into(),
            ani: "+15550001".into(),
            dnis: "7000".into(),
            cad: vec![],
            priority,
        });
        h.advance(secs(1));
    }
    h.take();
    h.available("alice");
    assert!(matches!(
        &h.to_switch()[..],
        [QueueCommand::Offer { interaction, .. }] if interaction == "ix-urgent"
    ));
}

#[test]
fn events_and_records_carry_the_wall_clock_of_the_anchor_plus_virtual_time() {
    let mut h = Harness::connected();
    h.advance(secs(90));
    h.held_report(true);
    let at = h.publication("interaction.held").at_ms;
    // The harness anchors virtual time at 1,700,000,000 s; setup took no virtual time.
    assert_eq!(at, 1_700_000_090_000);
    let persisted = h.out.iter().find_map(|o| match o {
        Output::Persist(Job::Progress(p)) => Some(p.at),
        _ => None,
    });
    assert_eq!(persisted, Some(UnixMillis(1_700_000_090_000)));
}

#[test]
fn hold_asks_the_switch_and_the_stage_changes_only_when_the_switch_reports_it() {
    let mut h = Harness::connected();
    assert_eq!(h.request(hold(true)), Ok(()));
    assert_eq!(
        h.to_switch(),
        vec![QueueCommand::Hold {
            interaction: IX.into()
        }]
    );
    assert!(
        h.published().is_empty(),
        "nothing is held until the switch says so"
    );
    h.take();

    h.held_report(true);
    assert_eq!(h.published(), vec!["interaction.held"]);
    assert_eq!(h.progress(), vec![InteractionState::Held]);
    assert_eq!(h.publication("interaction.held").data["by"], "desktop");
    h.take();

    assert_eq!(h.request(hold(true)), Err(Refused::AlreadyThere("on hold")));
    let end = Request::End {
        interaction: IX.into(),
        agent: Some("alice".into()),
    };
    assert_eq!(h.request(end.clone()), Err(Refused::Held));
    assert_eq!(h.request(hold(false)), Ok(()));
    h.held_report(false);
    assert_eq!(h.published(), vec!["interaction.resumed"]);
    assert_eq!(h.progress(), vec![InteractionState::Connected]);
    h.take();

    assert_eq!(h.request(end), Ok(()));
    assert_eq!(
        h.to_switch(),
        vec![QueueCommand::Hangup {
            interaction: IX.into()
        }]
    );
}

#[test]
fn another_agent_may_not_hold_end_or_pause_a_call_that_is_not_theirs() {
    let mut h = Harness::connected();
    let bob = Some(AgentId::from("bob"));
    let refused = [
        Request::Hold {
            interaction: IX.into(),
            agent: bob.clone(),
            held: true,
        },
        Request::End {
            interaction: IX.into(),
            agent: bob.clone(),
        },
        Request::Denoise {
            interaction: IX.into(),
            agent: bob,
            enabled: false,
            by: Actor::System,
        },
    ];
    for request in refused {
        assert_eq!(h.request(request), Err(Refused::NotEngaged));
    }
    assert!(h.out.is_empty(), "a refusal changes nothing");
}

#[test]
fn data_shield_resumes_a_paused_recording_exactly_when_the_pause_runs_out() {
    let mut h = Harness::recorded(data_shield(30));
    let paused_at = h.now;
    assert_eq!(h.request(pause()), Ok(()));
    assert!(matches!(
        h.to_media()[..],
        [MediaCommand::PauseRecording { .. }]
    ));
    assert_eq!(h.cc.poll_timeout(), Some(paused_at + secs(30)));
    h.take();

    h.advance(secs(30) - Duration::from_millis(1));
    assert_eq!(auto_resumes(&h.to_media()), 0, "not a millisecond early");
    h.advance(Duration::from_millis(1));
    assert_eq!(auto_resumes(&h.to_media()), 1);
    assert_eq!(h.cc.poll_timeout(), None);
    h.take();

    h.media(MediaEvent::RecordingResumed {
        recording: RecordingId(IX.into()),
        path: "recordings/ix-1.wav".into(),
        auto: true,
    });
    let resumed = h.publication("recording.resumed");
    assert_eq!(resumed.data["by"], "data_shield");
    assert_eq!(resumed.data["auto_resumed"], true);
    h.take();
    assert_eq!(
        h.request(resume()),
        Err(Refused::RecordingAlready("recording"))
    );
}

#[test]
fn a_manual_resume_cancels_data_shields_timer() {
    let mut h = Harness::recorded(data_shield(30));
    h.request(pause()).unwrap();
    h.advance(secs(10));
    assert_eq!(h.request(resume()), Ok(()));
    assert_eq!(h.cc.poll_timeout(), None);
    h.take();
    // A second pause gets its own full 30 s, not what was left of the first.
    h.request(pause()).unwrap();
    assert_eq!(h.cc.poll_timeout(), Some(h.now + secs(30)));
    h.advance(secs(29));
    assert_eq!(auto_resumes(&h.to_media()), 0);
    h.advance(secs(1));
    assert_eq!(auto_resumes(&h.to_media()), 1);
}

#[test]
fn a_hang_up_cancels_data_shields_timer() {
    let mut h = Harness::recorded(data_shield(30));
    h.request(pause()).unwrap();
    h.advance(secs(5));
    h.end();
    h.advance(secs(60));
    assert_eq!(auto_resumes(&h.to_media()), 0);
    h.assert_nothing_left();
}

#[test]
fn without_data_shield_a_pause_lasts_until_someone_resumes_it() {
    let mut h = Harness::recorded(OrgSettings {
        data_shield: false,
        ..OrgSettings::default()
    });
    h.request(pause()).unwrap();
    assert_eq!(h.cc.poll_timeout(), None);
    assert_eq!(h.request(pause()), Err(Refused::RecordingAlready("paused")));
}

#[test]
fn a_call_that_is_not_recorded_cannot_be_paused() {
    let mut h = Harness::connected();
    assert_eq!(h.request(pause()), Err(Refused::NotRecording));
}

#[test]
fn recording_reports_are_persisted_and_published_to_the_agent_even_after_the_call() {
    let mut h = Harness::recorded(OrgSettings::default());
    h.end();
    h.take();
    h.media(MediaEvent::RecordingStopped {
        recording: RecordingId(IX.into()),
        path: "recordings/ix-1.wav".into(),
    });
    assert!(matches!(
        &h.out[0],
        Output::Persist(Job::RecordingEnded(id, RecordingStatus::Complete, None, _)) if id.0 == IX
    ));
    assert_eq!(
        h.publication("recording.stopped").audience,
        Audience::Agent {
            agent: "alice".into(),
            team: None
        }
    );
    assert!(h.cc.recordings.is_empty());
}

#[test]
fn poll_timeout_moves_forward_after_handle_timeout() {
    let mut h = Harness::with_data_shield(5);
    h.arrive();
    h.media(MediaEvent::RecordingStarted {
        recording: RecordingId(IX.into()),
        path: "recordings/ix-1.wav".into(),
    });
    // The offer's ring timeout (15 s, the ACD's) and nothing of the center's yet.
    let first = h.cc.poll_timeout().unwrap();
    h.cc.handle_timeout(first);
    h.drain();
    assert!(h.cc.poll_timeout().is_none_or(|next| next > first));

    let mut h = Harness::with_data_shield(5);
    h.arrive();
    h.switch(QueueEvent::OfferAnswered {
        interaction: IX.into(),
        party: Party::Agent("alice".into()),
    });
    h.media(MediaEvent::RecordingStarted {
        recording: RecordingId(IX.into()),
        path: "recordings/ix-1.wav".into(),
    });
    h.request(pause()).unwrap();
    let deadline = h.cc.poll_timeout().unwrap();
    h.cc.handle_timeout(deadline);
    assert!(h.cc.poll_timeout().is_none_or(|next| next > deadline));
}

#[test]
fn time_never_goes_backwards_a_late_timeout_from_the_past_fires_nothing_early() {
    let mut h = Harness::recorded(data_shield(30));
    h.advance(secs(10));
    h.request(pause()).unwrap();
    let deadline = h.cc.poll_timeout().unwrap();
    h.take();
    // A request stamped before the latest `now` is handled at the latest `now`...
    let earlier = h.now - secs(5);
    h.cc.handle_request(earlier, resume()).unwrap();
    h.cc.handle_request(earlier, pause()).unwrap();
    assert_eq!(h.cc.poll_timeout(), Some(deadline));
    // ...and a timeout from the past fires nothing that is not due.
    h.cc.handle_timeout(earlier);
    h.drain();
    assert_eq!(auto_resumes(&h.to_media()), 0);
}

#[test]
fn a_consult_rings_is_answered_and_the_warm_transfer_hands_the_customer_over() {
    let mut h = Harness::connected();
    h.available("bob");
    h.take();
    let start = consult(ConsultAction::Start(ConsultTarget::Agent("bob".into())));
    assert_eq!(h.request(start.clone()), Ok(()));
    assert!(matches!(
        &h.to_switch()[..],
        [QueueCommand::Consult { party, extension, .. }] if *party == Party::Agent("bob".into()) && extension == "ext-bob"
    ));
    // The request goes to both agents; the pop-up to bob.
    let kinds = h.published();
    assert_eq!(
        kinds.iter().filter(|k| **k == "consult.requested").count(),
        2
    );
    assert!(kinds.contains(&"consult.offered"));
    assert_eq!(
        h.cc.consults[&InteractionId::from(IX)].stage,
        consult::Stage::Ringing
    );
    h.take();

    // While it rings: no second consult, no hold, no transfer yet.
    assert_eq!(h.request(start), Err(Refused::ConsultInProgress));
    assert_eq!(h.request(hold(false)), Err(Refused::ConsultNotAnswered));
    assert_eq!(
        h.request(consult(ConsultAction::Transfer)),
        Err(Refused::ConsultNotAnswered)
    );

    h.switch(QueueEvent::ConsultAnswered {
        interaction: IX.into(),
        party: Party::Agent("bob".into()),
    });
    assert_eq!(
        h.cc.consults[&InteractionId::from(IX)].stage,
        consult::Stage::Answered
    );
    assert!(h.published().contains(&"consult.answered"));
    assert!(h.out.iter().any(
        |o| matches!(o, Output::Persist(Job::Participant(_, p)) if p.address == "bob" && p.role == "consult")
    ));
    h.take();

    assert_eq!(h.request(consult(ConsultAction::Transfer)), Ok(()));
    assert_eq!(
        h.to_switch(),
        vec![QueueCommand::ConsultTransfer {
            interaction: IX.into()
        }]
    );
    h.switch(QueueEvent::ConsultTransferred {
        interaction: IX.into(),
        party: Party::Agent("bob".into()),
    });
    assert!(h.published().contains(&"interaction.transferred"));
    assert!(h.cc.consults.is_empty());
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
    assert_eq!(
        h.state("bob"),
        AgentState::Engaged {
            interaction: IX.into()
        }
    );
    h.end();
    h.assert_nothing_left();
}

#[test]
fn a_consulted_number_is_named_number_to_the_switch_and_by_its_digits_everywhere_else() {
    let mut h = Harness::connected();
    let start = consult(ConsultAction::Start(ConsultTarget::Number(
        "5550100".into(),
    )));
    assert_eq!(h.request(start), Ok(()));
    assert!(matches!(
        &h.to_switch()[..],
        [QueueCommand::Consult { party, extension, .. }]
            if *party == Party::Number("5550100".into()) && extension == "5550100"
    ));
    let requested = h.publication("consult.requested");
    assert_eq!(
        requested.data["party"],
        json!({"type": "number", "id": "5550100"})
    );
    assert!(
        !h.published().contains(&"consult.offered"),
        "no desktop to pop up"
    );
    h.take();
    h.switch(QueueEvent::ConsultAnswered {
        interaction: IX.into(),
        party: Party::Number("5550100".into()),
    });
    assert!(
        h.out.iter().any(
            |o| matches!(o, Output::Persist(Job::Participant(_, p)) if p.address == "5550100")
        )
    );
    h.take();
    // Dropped by either name.
    for name in ["5550100", "number:5550100"] {
        assert_eq!(h.request(consult(ConsultAction::Drop(name.into()))), Ok(()));
    }
    assert_eq!(
        h.request(consult(ConsultAction::Drop("bob".into()))),
        Err(Refused::NoSuchParticipant)
    );
}

#[test]
fn a_conference_refuses_hold_and_ends_back_to_the_two_parties_when_the_consult_ends() {
    let mut h = Harness::connected();
    h.available("bob");
    h.request(consult(ConsultAction::Start(ConsultTarget::Agent(
        "bob".into(),
    ))))
    .unwrap();
    h.switch(QueueEvent::ConsultAnswered {
        interaction: IX.into(),
        party: Party::Agent("bob".into()),
    });
    h.take();
    assert_eq!(h.request(consult(ConsultAction::Conference)), Ok(()));
    assert_eq!(
        h.cc.consults[&InteractionId::from(IX)].stage,
        consult::Stage::Conference
    );
    assert!(h.published().contains(&"conference.started"));
    assert_eq!(h.request(hold(true)), Err(Refused::InConference));
    assert_eq!(
        h.request(consult(ConsultAction::Conference)),
        Err(Refused::AlreadyThere("in a conference"))
    );
    h.take();

    h.switch(QueueEvent::ConsultEnded {
        interaction: IX.into(),
        party: Party::Agent("bob".into()),
        by_party: true,
    });
    let ended = h.publication("consult.ended");
    assert_eq!(ended.data["conference"], true);
    assert!(h.cc.consults.is_empty());
    assert_eq!(h.state("bob"), AgentState::Available);
    assert_eq!(
        h.state("alice"),
        AgentState::Engaged {
            interaction: IX.into()
        }
    );
}

#[test]
fn a_consult_that_fails_leaves_the_customer_with_the_agent() {
    let mut h = Harness::connected();
    h.available("bob");
    h.request(consult(ConsultAction::Start(ConsultTarget::Agent(
        "bob".into(),
    ))))
    .unwrap();
    h.take();
    h.switch(QueueEvent::ConsultFailed {
        interaction: IX.into(),
        party: Party::Agent("bob".into()),
        reason: crate::call::ConsultFailure::NoAnswer,
        agent_left: false,
    });
    assert_eq!(h.publication("consult.failed").data["reason"], "no_answer");
    assert!(h.cc.consults.is_empty());
    assert_eq!(
        h.state("alice"),
        AgentState::Engaged {
            interaction: IX.into()
        }
    );
}

#[test]
fn a_blind_transfer_to_a_number_that_does_not_answer_returns_the_customer_to_its_queue() {
    let mut h = Harness::connected();
    let transfer = Request::Transfer {
        interaction: IX.into(),
        agent: Some("alice".into()),
        target: TransferTarget::Number("5551234".into()),
    };
    assert_eq!(h.request(transfer), Ok(()));
    assert_eq!(
        h.to_switch()[..2],
        [
            QueueCommand::ReleaseAgent {
                interaction: IX.into()
            },
            QueueCommand::Offer {
                interaction: IX.into(),
                party: Party::Transfer("5551234".into()),
                extension: "5551234".into(),
            }
        ]
    );
    assert!(h.published().contains(&"interaction.transferred"));
    assert!(h.cc.transfers.contains_key(&InteractionId::from(IX)));
    h.take();

    h.available("bob");
    h.take();
    h.switch(QueueEvent::OfferFailed {
        interaction: IX.into(),
        party: Party::Transfer("5551234".into()),
        failure: crate::call::OfferFailure::DeviceUnavailable,
    });
    assert_eq!(
        h.publication("interaction.transfer.failed").audience,
        Audience::Supervisors
    );
    assert!(h.cc.transfers.is_empty());
    // Back at the head of the queue, offered to the next Available agent.
    assert!(h.to_switch().iter().any(|c| matches!(
        c,
        QueueCommand::Offer { party, .. } if *party == Party::Agent("bob".into())
    )));
}

#[test]
fn a_blind_transfer_to_an_agent_in_wrap_up_is_refused() {
    let mut h = Harness::connected();
    let transfer = Request::Transfer {
        interaction: IX.into(),
        agent: Some("alice".into()),
        target: TransferTarget::Agent("bob".into()),
    };
    // bob is logged in but Idle.
    assert_eq!(h.request(transfer), Err(Refused::TransferAgentUnavailable));
}

#[test]
fn a_refer_from_the_agents_phone_is_the_same_blind_transfer_as_the_desktops() {
    let mut h = Harness::connected();
    h.report(SwitchEvent::QueueCallReferred {
        interaction: IX.into(),
        target: "5551234".into(),
        referred_by: Some("sip:ext-alice@lab".into()),
    });
    assert!(h.to_switch().contains(&QueueCommand::Offer {
        interaction: IX.into(),
        party: Party::Transfer("5551234".into()),
        extension: "5551234".into(),
    }));
    assert!(h.published().contains(&"interaction.transferred"));
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
}

#[test]
fn an_attended_transfer_from_the_phone_to_an_available_agent_hands_the_interaction_over() {
    let mut h = Harness::connected();
    h.available("bob");
    h.take();
    h.report(SwitchEvent::QueueCallReplaced {
        interaction: IX.into(),
        target: "ext-bob".into(),
        referred_by: None,
    });
    let transferred = h.publication("interaction.transferred");
    assert_eq!(
        transferred.data["target"],
        json!({"type": "agent", "id": "bob"})
    );
    assert_eq!(transferred.data["by"], "phone");
    assert_eq!(
        h.state("bob"),
        AgentState::Engaged {
            interaction: IX.into()
        }
    );
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
}

#[test]
fn a_supervisor_turning_noise_suppression_off_is_carried_out_recorded_and_published() {
    let mut h = Harness::connected();
    let request = Request::Denoise {
        interaction: IX.into(),
        agent: None,
        enabled: false,
        by: Actor::Agent("sue".into()),
    };
    assert_eq!(h.request(request), Ok(()));
    assert!(matches!(
        &h.out[0],
        Output::Denoise { interaction, enabled: false } if interaction == IX
    ));
    assert!(matches!(
        &h.out[1],
        Output::Persist(Job::MediaChange(_, change))
            if change.setting == "noise_suppression" && !change.enabled
    ));
    let changed = h.publication("interaction.noise_suppression_changed");
    assert_eq!(changed.data["agent"], "alice");
}

#[test]
fn a_pause_is_published_with_who_paused_it_why_and_when_it_resumes_by_itself() {
    let mut h = Harness::recorded(data_shield(45));
    h.request(pause()).unwrap();
    h.media(MediaEvent::RecordingPaused {
        recording: RecordingId(IX.into()),
        path: "recordings/ix-1.wav".into(),
    });
    let paused = h.publication("recording.paused");
    assert_eq!(paused.data["by"], "alice");
    assert_eq!(paused.data["reason"], "card number");
    assert_eq!(paused.data["auto_resume_secs"], 45);
}

#[test]
fn settings_changes_reach_the_switchs_media_policy() {
    let mut h = Harness::new(OrgSettings::default());
    h.cc.handle_settings(
        h.now,
        OrgSettings {
            recording: false,
            ..OrgSettings::default()
        },
    );
    h.drain();
    assert!(matches!(
        &h.out[..],
        [Output::MediaPolicy(policy)] if !policy.record
    ));
}

#[test]
fn changing_queues_tells_the_switch_which_numbers_reach_them() {
    let mut h = Harness::new(OrgSettings::default());
    h.command(Command::UpsertQueue(queue("support", "7001")));
    let routing = h.out.iter().find_map(|o| match o {
        Output::QueueRouting(r) => Some(r.clone()),
        _ => None,
    });
    let numbers = routing.unwrap().numbers;
    assert_eq!(numbers.get("7001").map(String::as_str), Some("support"));
    assert_eq!(numbers.get("7000").map(String::as_str), Some("sales"));
}

/// One step of a random script against one queue call.
#[derive(Debug, Clone)]
enum Step {
    Answer,
    HoldReport(bool),
    Hold(bool),
    ConsultBob,
    ConsultAnswered,
    ConsultFailed,
    ConsultEnded,
    Conference,
    WarmTransfer,
    BlindToNumber,
    NumberFails,
    StartRecording,
    Pause,
    Resume,
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Answer),
        any::<bool>().prop_map(Step::HoldReport),
        any::<bool>().prop_map(Step::Hold),
        Just(Step::ConsultBob),
        Just(Step::ConsultAnswered),
        Just(Step::ConsultFailed),
        Just(Step::ConsultEnded),
        Just(Step::Conference),
        Just(Step::WarmTransfer),
        Just(Step::BlindToNumber),
        Just(Step::NumberFails),
        Just(Step::StartRecording),
        Just(Step::Pause),
        Just(Step::Resume),
        (1u64..40).prop_map(Step::Wait),
    ]
}

impl Harness {
    fn play(&mut self, step: Step) {
        let ix = || InteractionId::from(IX);
        match step {
            Step::Answer => {
                let party = self.to_switch().iter().rev().find_map(|c| match c {
                    QueueCommand::Offer { party, .. } => Some(party.clone()),
                    _ => None,
                });
                if let Some(party) = party {
                    self.switch(QueueEvent::OfferAnswered {
                        interaction: ix(),
                        party,
                    });
                }
            }
            Step::HoldReport(held) => self.held_report(held),
            Step::Hold(held) => self.attempt(hold(held)),
            Step::ConsultBob => {
                self.attempt(consult(ConsultAction::Start(ConsultTarget::Agent(
                    "bob".into(),
                ))));
            }
            Step::ConsultAnswered => self.switch(QueueEvent::ConsultAnswered {
                interaction: ix(),
                party: Party::Agent("bob".into()),
            }),
            Step::ConsultFailed => self.switch(QueueEvent::ConsultFailed {
                interaction: ix(),
                party: Party::Agent("bob".into()),
                reason: crate::call::ConsultFailure::Declined,
                agent_left: false,
            }),
            Step::ConsultEnded => self.switch(QueueEvent::ConsultEnded {
                interaction: ix(),
                party: Party::Agent("bob".into()),
                by_party: true,
            }),
            Step::Conference => self.attempt(consult(ConsultAction::Conference)),
            Step::WarmTransfer => {
                if self.request(consult(ConsultAction::Transfer)).is_ok() {
                    self.switch(QueueEvent::ConsultTransferred {
                        interaction: ix(),
                        party: Party::Agent("bob".into()),
                    });
                }
            }
            Step::BlindToNumber => self.attempt(Request::Transfer {
                interaction: IX.into(),
                agent: None,
                target: TransferTarget::Number("555".into()),
            }),
            Step::NumberFails => self.switch(QueueEvent::OfferFailed {
                interaction: ix(),
                party: Party::Transfer("555".into()),
                failure: crate::call::OfferFailure::DeviceUnavailable,
            }),
            Step::StartRecording => self.media(MediaEvent::RecordingStarted {
                recording: RecordingId(IX.into()),
                path: "recordings/ix-1.wav".into(),
            }),
            Step::Pause => self.attempt(Request::Recording {
                interaction: IX.into(),
                agent: None,
                action: RecordingAction::Pause {
                    behavior: crate::media::recorder::PauseBehavior::Silence,
                    who: "sue".into(),
                    why: None,
                },
            }),
            Step::Resume => self.attempt(Request::Recording {
                interaction: IX.into(),
                agent: None,
                action: RecordingAction::Resume { who: "sue".into() },
            }),
            Step::Wait(seconds) => self.advance(secs(seconds)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever happens while the call is live, once the customer hangs up and wrap-ups run
    /// out: the interaction's last persisted state is terminal, nothing of it is left in the
    /// core, no agent is still Engaged or Reserved on it, and time only moved forward.
    #[test]
    fn every_interaction_ends_in_a_terminal_state_and_leaves_nothing_behind(
        steps in proptest::collection::vec(step(), 0..25),
    ) {
        let mut h = Harness::with_data_shield(20);
        h.available("bob");
        h.arrive();
        for step in steps {
            h.play(step);
        }
        h.end();
        h.advance(secs(120));
        let last = h.out.iter().rev().find_map(|o| match o {
            Output::Persist(Job::Progress(p)) if p.id.0 == IX => Some(p.state),
            _ => None,
        });
        prop_assert!(
            matches!(last, Some(InteractionState::Ended | InteractionState::WrappedUp)),
            "last persisted state {:?}", last
        );
        h.assert_nothing_left();
        prop_assert!(h.cc.acd.interaction(&IX.into()).is_none());
        for agent in ["alice", "bob"] {
            prop_assert!(
                !matches!(h.state(agent), AgentState::Engaged { .. } | AgentState::Reserved { .. }),
                "{agent} is {:?}", h.state(agent)
            );
        }
        prop_assert_eq!(h.cc.poll_timeout(), None);
    }
}

#[test]
fn a_call_a_limit_refused_is_recorded_ended_naming_the_limit_and_offered_to_nobody() {
    let mut h = Harness::new(OrgSettings::default());
    h.switch(QueueEvent::Refused {
        interaction: IX.into(),
        queue: "sales".into(),
        ani: "+15550001".into(),
        dnis: "7000".into(),
        limit: "queue_calls".into(),
    });
    let record = h.out.iter().find_map(|o| match o {
        Output::Persist(Job::Arrived(ix)) => Some(ix.clone()),
        _ => None,
    });
    let record = record.expect("the refusal is recorded");
    assert_eq!(record.state, InteractionState::Ended);
    assert_eq!(record.refused_by.as_deref(), Some("queue_calls"));
    assert_eq!(record.ended_ms, Some(record.created_ms));
    assert_eq!(record.queue.as_ref().map(|q| q.0.as_str()), Some("sales"));
    assert!(h.to_switch().is_empty(), "nobody is offered a refused call");
}

#[test]
fn callbacks_filed_in_one_millisecond_are_stamped_in_filing_order() {
    let mut h = Harness::new(OrgSettings::default());
    for n in 0..3 {
        let request = super::CallbackRequest {
            interaction: InteractionId(format!("cb-{n}")),
            queue: "sales".into(),
            number: "+33123456789".into(),
            dnis: "7000".into(),
            at: None,
            attempts: 0,
            widget: None,
            cad: Vec::new(),
            restored: false,
        };
        h.cc.callback(h.now, request).unwrap();
    }
    h.drain();
    let stamps: Vec<i64> = h
        .out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(Job::Callback(super::CallbackJob::Created(c))) => Some(c.created_ms.0),
            _ => None,
        })
        .collect();
    assert_eq!(stamps.len(), 3);
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "restored newest-first by this stamp: {stamps:?}"
    );
}
