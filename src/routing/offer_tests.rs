//! Tests of `offer`: max wait, overflow, full queues and the timer paths of the call flow,
//! in virtual time.
use crate::call::QueueEvent;
use crate::routing::acd::{MAX_PENDING_OUTPUTS, MIN_TIMER};
use crate::routing::command::Command;
use crate::routing::model::{AgentState, OrgSettings, OverflowTarget, QueueConfig};
use crate::routing::output::{Event, InteractionReason, Output, RejectReason};
use crate::routing::test_harness::{Harness, agent, queue, secs};
use std::time::Duration;

/// One queue "sales" at 7000 with the given agents staffed one second apart.
fn sales_with(agents: &[&str]) -> Harness {
    let mut h = Harness::new();
    h.add_queue(queue("sales", "7000"));
    for id in agents {
        h.staff(agent(id, &[]));
        h.advance(secs(1));
    }
    h.take();
    h
}

#[test]
fn max_wait_overflows_to_another_queue_keeping_arrival_time() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        max_wait: Some(secs(60)),
        overflow: Some(OverflowTarget::Queue("backup".into())),
        ..queue("sales", "7000")
    });
    h.add_queue(queue("backup", "7001"));
    h.arrive("old", "7000", "100");
    h.advance(secs(30));
    h.arrive("newer", "7001", "101");
    h.take();
    h.advance(secs(30));
    assert!(h.waiting("sales").is_empty());
    assert_eq!(
        h.waiting("backup"),
        ["old", "newer"],
        "the overflowed caller keeps its place"
    );
    assert!(
        h.interaction_records().iter().any(
            |r| r.reason == InteractionReason::OverflowedIn && r.queue == Some("backup".into())
        )
    );
    assert_eq!(h.acd.interaction(&"old".into()).unwrap().arrived_at, h.t0);
}

#[test]
fn max_wait_overflows_to_a_number() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        max_wait: Some(secs(60)),
        overflow: Some(OverflowTarget::Number("+15559999".into())),
        ..queue("sales", "7000")
    });
    h.arrive("c1", "7000", "100");
    h.take();
    h.advance(secs(60));
    assert_eq!(
        h.out.first(),
        Some(&Output::Overflow {
            interaction: "c1".into(),
            number: "+15559999".into(),
        })
    );
    assert!(h.acd.interaction(&"c1".into()).is_none());
    assert!(h.waiting("sales").is_empty());
}

#[test]
fn max_wait_while_ringing_lets_the_offer_finish_then_overflows() {
    let mut h = sales_with(&["alice"]);
    h.ok(Command::UpsertQueue(QueueConfig {
        max_wait: Some(secs(10)),
        overflow: Some(OverflowTarget::Number("+15559999".into())),
        ..queue("sales", "7000")
    }));
    h.arrive("c1", "7000", "100");
    h.take();
    h.advance(secs(10));
    assert!(!h.out.iter().any(|o| matches!(o, Output::Overflow { .. })));
    h.advance(secs(5));
    assert!(h.out.iter().any(|o| matches!(o, Output::Overflow { .. })));
    assert_eq!(h.state("alice"), AgentState::Rona);
}

#[test]
fn a_full_queue_overflows_or_turns_callers_away() {
    let mut h = Harness::new();
    h.ok(Command::SetOrgSettings(OrgSettings {
        max_waiting_per_queue: 2,
        ..OrgSettings::default()
    }));
    h.add_queue(QueueConfig {
        overflow: Some(OverflowTarget::Queue("backup".into())),
        ..queue("sales", "7000")
    });
    h.add_queue(queue("backup", "7001"));
    for n in ["c1", "c2", "c3", "c4", "c5"] {
        h.arrive(n, "7000", "100");
    }
    assert_eq!(h.waiting("sales"), ["c1", "c2"]);
    assert_eq!(h.waiting("backup"), ["c3", "c4"]);
    assert!(h.out.contains(&Output::Reject {
        interaction: "c5".into(),
        reason: RejectReason::QueueFull,
    }));
}

#[test]
fn a_changed_max_wait_applies_to_callers_already_waiting() {
    let mut h = sales_with(&[]);
    h.arrive("c1", "7000", "100");
    h.advance(secs(50));
    h.ok(Command::UpsertQueue(QueueConfig {
        max_wait: Some(secs(60)),
        overflow: Some(OverflowTarget::Number("+15559999".into())),
        ..queue("sales", "7000")
    }));
    h.take();
    h.advance(secs(9));
    assert!(h.out.is_empty());
    h.advance(secs(1));
    assert!(h.out.iter().any(|o| matches!(o, Output::Overflow { .. })));
}

#[test]
fn an_overflow_to_a_missing_queue_keeps_the_caller_waiting() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        max_wait: Some(secs(10)),
        overflow: Some(OverflowTarget::Queue("gone".into())),
        ..queue("sales", "7000")
    });
    h.arrive("c1", "7000", "100");
    h.advance(secs(30));
    assert_eq!(h.waiting("sales"), ["c1"]);
    assert_eq!(h.acd.poll_timeout(), None, "no timer left to spin on");
}

#[test]
fn a_call_ended_before_it_was_answered_counts_as_abandoned() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.take();
    h.end("c1");
    assert_eq!(h.state("alice"), AgentState::Available);
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::InteractionEnded {
            abandoned: true,
            ..
        }
    )));
}

#[test]
fn after_a_timeout_the_next_deadline_is_later() {
    let mut h = sales_with(&["alice"]);
    h.ok(Command::UpsertQueue(QueueConfig {
        max_wait: Some(secs(20)),
        overflow: Some(OverflowTarget::Number("+15559999".into())),
        ..queue("sales", "7000")
    }));
    h.arrive("c1", "7000", "100");
    h.arrive("c2", "7000", "101");
    let mut fired = 0;
    while let Some(deadline) = h.acd.poll_timeout() {
        h.acd.handle_timeout(deadline);
        while h.acd.poll_output().is_some() {}
        fired += 1;
        assert!(h.acd.poll_timeout().is_none_or(|next| next > deadline));
        assert!(fired < 10, "timers must run out");
    }
    assert!(fired >= 2);
}

#[test]
fn undrained_outputs_drop_only_queue_stats() {
    let mut h = Harness::new();
    h.ok(Command::SetOrgSettings(OrgSettings {
        max_waiting_per_queue: 1,
        ..OrgSettings::default()
    }));
    h.add_queue(queue("sales", "7000"));
    h.add_queue(queue("other", "7001"));
    h.take();
    // Never drained: every caller adds records and events, and changes the queue figures.
    let mut n = 0;
    while h.acd.dropped_events() == 0 {
        n += 1;
        assert!(n < MAX_PENDING_OUTPUTS, "stats should start being dropped");
        let event = QueueEvent::Arrived {
            interaction: format!("c{n}").as_str().into(),
            queue: if n % 2 == 0 { "7000" } else { "7001" }.into(),
            ani: "100".into(),
            dnis: "7000".into(),
            cad: vec![],
            priority: 0,
        };
        let _ = h.acd.handle_command(h.now, Command::Switch(event));
        // Free the queues again so every arrival changes the figures.
        for id in [format!("c{n}"), format!("c{}", n - 1)] {
            let gone = QueueEvent::Abandoned {
                interaction: id.as_str().into(),
            };
            let _ = h.acd.handle_command(h.now, Command::Switch(gone));
        }
    }
    let (mut records, mut ended) = (0, 0);
    while let Some(output) = h.acd.poll_output() {
        match output {
            Output::Persist(_) => records += 1,
            Output::Event(Event::InteractionEnded { .. }) => ended += 1,
            _ => {}
        }
    }
    assert_eq!(records, 2 * n, "records are never dropped");
    assert_eq!(ended, n, "nor are desktop events other than stats");
}

#[test]
fn queues_overflowing_into_each_other_with_zero_max_wait_do_not_spin() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        max_wait: Some(Duration::ZERO),
        overflow: Some(OverflowTarget::Queue("b".into())),
        ..queue("a", "7000")
    });
    h.add_queue(QueueConfig {
        max_wait: Some(Duration::ZERO),
        overflow: Some(OverflowTarget::Queue("a".into())),
        ring_timeout: Duration::ZERO,
        ..queue("b", "7001")
    });
    h.arrive("c1", "7000", "100");
    h.advance(secs(1));
    assert_eq!(h.waiting("b"), ["c1"]);
    h.advance(secs(1));
    assert_eq!(h.waiting("a"), ["c1"]);
    assert_eq!(h.acd.poll_timeout(), Some(h.now + MIN_TIMER));
}
