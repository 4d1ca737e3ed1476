//! Callbacks in the ACD, in virtual time (see `callback`).

use super::super::command::Command;
use super::super::model::{AgentState, InteractionState, OrgSettings};
use super::super::output::{Event, Output};
use super::super::test_harness::{Harness, agent, queue, secs};
use crate::call::{QueueCommand, QueueEvent};

/// Sales (7000) with alice staffed; retries after 60 s, 2 attempts.
fn floor() -> Harness {
    let mut h = Harness::new();
    h.ok(Command::SetOrgSettings(OrgSettings {
        callback_retry: secs(60),
        callback_max_attempts: 2,
        ..OrgSettings::default()
    }));
    h.add_queue(queue("sales", "7000"));
    h.staff(agent("alice", &[]));
    h.take();
    h
}

fn file(h: &mut Harness, id: &str, at: Option<std::time::Duration>) {
    let at = at.map(|d| h.now + d);
    h.ok(Command::Callback {
        interaction: id.into(),
        queue: "sales".into(),
        number: "+33123456789".into(),
        dnis: "7000".into(),
        at,
        attempts: 0,
    });
}

fn accept(h: &mut Harness, agent: &str, id: &str) {
    h.ok(Command::AcceptOffer {
        agent: agent.into(),
        interaction: id.into(),
    });
}

fn outdials(out: &[Output]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Queue(QueueCommand::Outdial {
                interaction,
                number,
                ..
            }) => Some((interaction.0.clone(), number.clone())),
            _ => None,
        })
        .collect()
}

/// (interaction, agent) of every pop-up offered so far.
fn popups(h: &Harness) -> Vec<(String, String)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::InteractionOffered {
                interaction, agent, ..
            } => Some((interaction.0, agent.0)),
            _ => None,
        })
        .collect()
}

fn failed(h: &mut Harness, id: &str, reason: &str) {
    h.switch(QueueEvent::OutdialFailed {
        interaction: id.into(),
        reason: reason.into(),
    });
}

#[test]
fn a_callback_is_offered_on_the_desktop_only_and_accepting_it_dials_the_customer() {
    let mut h = floor();
    file(&mut h, "cb-1", None);
    let out = h.take();
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Queue(QueueCommand::Offer { .. }))),
        "no phone rings before the agent accepts: {out:?}"
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::InteractionOffered { callback: true, ani, .. }) if ani == "+33123456789"
    )));
    accept(&mut h, "alice", "cb-1");
    assert_eq!(
        outdials(&h.take()),
        [("cb-1".to_owned(), "+33123456789".to_owned())]
    );
    // Dialling is the switch's to time out: no RONA while the phones ring.
    h.advance(secs(60));
    assert!(matches!(h.state("alice"), AgentState::Reserved { .. }));
    h.answer("cb-1", "alice");
    assert!(matches!(h.state("alice"), AgentState::Engaged { .. }));
    h.end("cb-1");
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
}

#[test]
fn a_customer_who_does_not_answer_is_retried_later_then_the_callback_fails() {
    let mut h = floor();
    file(&mut h, "cb-1", None);
    accept(&mut h, "alice", "cb-1");
    h.take();
    failed(&mut h, "cb-1", "customer_486");
    assert_eq!(h.state("alice"), AgentState::Available);
    let ix = h.acd.interaction(&"cb-1".into()).unwrap();
    assert_eq!(ix.state, InteractionState::Scheduled);
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::CallbackRetrying { attempts: 1, .. })
    )));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Event(Event::InteractionOffered { .. }))),
        "not offered again before the retry interval"
    );
    h.advance(secs(59));
    assert!(popups(&h).is_empty(), "still waiting out the interval");
    h.advance(secs(1));
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::InteractionOffered { callback: true, .. })
    )));
    accept(&mut h, "alice", "cb-1");
    failed(&mut h, "cb-1", "customer_no_answer");
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(Event::CallbackFailed { attempts: 2, reason, .. }) if reason == "customer_no_answer"
    )));
    assert!(h.acd.interaction(&"cb-1".into()).is_none());
    assert_eq!(h.state("alice"), AgentState::Available);
}

#[test]
fn an_agent_whose_phone_does_not_answer_hands_the_callback_on_uncounted() {
    let mut h = floor();
    h.staff(agent("bob", &[]));
    file(&mut h, "cb-1", None);
    let first = popups(&h)[0].1.clone();
    h.take();
    let second = if first == "alice" { "bob" } else { "alice" };
    accept(&mut h, &first, "cb-1");
    h.take();
    failed(&mut h, "cb-1", "agent_no_answer");
    assert_eq!(
        popups(&h),
        [("cb-1".to_owned(), second.to_owned())],
        "to the other agent at once"
    );
    assert_eq!(h.acd.interaction(&"cb-1".into()).unwrap().callback, Some(0));
}

#[test]
fn a_scheduled_callback_waits_for_its_time_and_a_cancelled_one_is_gone() {
    let mut h = floor();
    file(&mut h, "cb-later", Some(secs(3600)));
    assert!(popups(&h).is_empty());
    assert_eq!(
        h.acd.interaction(&"cb-later".into()).unwrap().state,
        InteractionState::Scheduled
    );
    h.advance(secs(3600));
    assert_eq!(popups(&h), [("cb-later".to_owned(), "alice".to_owned())]);

    // Cancelled while offered: the agent is released, the callback is gone.
    h.ok(Command::CancelCallback {
        interaction: "cb-later".into(),
    });
    assert_eq!(h.state("alice"), AgentState::Available);
    assert!(h.acd.interaction(&"cb-later".into()).is_none());
    assert_eq!(
        h.cmd(Command::CancelCallback {
            interaction: "cb-later".into()
        })
        .unwrap_err()
        .code(),
        "no_such_callback"
    );
}

#[test]
fn cancelling_a_callback_being_dialled_hangs_the_call_up() {
    let mut h = floor();
    file(&mut h, "cb-1", None);
    accept(&mut h, "alice", "cb-1");
    h.take();
    h.ok(Command::CancelCallback {
        interaction: "cb-1".into(),
    });
    let out = h.take();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Queue(QueueCommand::Hangup { interaction }) if interaction.as_str() == "cb-1"
    )));
    // The switch's report of the call it ended finds nothing left to retry.
    failed(&mut h, "cb-1", "cancelled");
    assert!(h.acd.interaction(&"cb-1".into()).is_none());
    assert_eq!(h.state("alice"), AgentState::Available);
}

#[test]
fn a_caller_who_takes_a_courtesy_callback_keeps_its_place_after_hanging_up() {
    let mut h = Harness::new();
    h.add_queue(queue("sales", "7000"));
    h.arrive("ix-first", "7000", "1001");
    h.arrive("ix-second", "7000", "1002");
    h.ok(Command::ConvertToCallback {
        interaction: "ix-first".into(),
        number: "+33612345678".into(),
    });
    // The switch hangs the caller up; the callback waits on where it stood.
    h.switch(QueueEvent::Abandoned {
        interaction: "ix-first".into(),
    });
    assert_eq!(h.waiting("sales"), ["ix-first", "ix-second"]);
    h.staff(agent("alice", &[]));
    let popups = popups(&h);
    assert_eq!(popups, [("ix-first".to_owned(), "alice".to_owned())]);
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::InteractionOffered { callback: true, ani, .. } if ani == "+33612345678"
    )));
    assert_eq!(
        h.cmd(Command::ConvertToCallback {
            interaction: "ix-first".into(),
            number: "+33612345678".into(),
        })
        .unwrap_err()
        .code(),
        "no_such_callback",
        "only a caller still waiting converts"
    );
}
