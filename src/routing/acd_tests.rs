//! Tests of the ACD core: whole queue-call flows in virtual time.
use super::*;
use crate::call::{OfferFailure, QueueCommand, QueueEvent};
use crate::ids::Party;
use crate::routing::agent::AgentError;
use crate::routing::model::{Skill, Strategy, TeamId};
use crate::routing::output::RejectReason;
use crate::routing::test_harness::{Harness, agent, queue, secs};

fn pair(interaction: &str, agent: &str) -> (String, String) {
    (interaction.to_owned(), agent.to_owned())
}

fn reserved(interaction: &str) -> AgentState {
    AgentState::Reserved {
        interaction: interaction.into(),
    }
}

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
fn a_caller_is_offered_to_an_available_agent_and_connected_on_answer() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "+15550001");
    assert_eq!(h.offers(), [pair("c1", "alice")]);
    assert!(h.out.contains(&Output::Queue(QueueCommand::Offer {
        interaction: "c1".into(),
        party: Party::Agent("alice".into()),
        extension: "ext-alice".into(),
    })));
    assert!(h.events().contains(&Event::InteractionOffered {
        interaction: "c1".into(),
        agent: "alice".into(),
        queue: "sales".into(),
        ani: "+15550001".into(),
        dnis: "7000".into(),
        callback: false,
    }));
    assert_eq!(h.state("alice"), reserved("c1"));
    h.take();
    h.answer("c1", "alice");
    assert_eq!(
        h.state("alice"),
        AgentState::Engaged {
            interaction: "c1".into()
        }
    );
    assert!(h.events().contains(&Event::InteractionConnected {
        interaction: "c1".into(),
        agent: "alice".into(),
        queue: "sales".into(),
    }));
    assert_eq!(
        h.acd.interaction(&"c1".into()).map(|ix| ix.state),
        Some(InteractionState::Connected)
    );
}

#[test]
fn a_queue_is_found_by_its_id_when_no_number_matches() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "sales", "100");
    assert_eq!(h.offers(), [pair("c1", "alice")]);
}

#[test]
fn an_unknown_queue_number_is_rejected() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7999", "100");
    assert!(h.out.contains(&Output::Reject {
        interaction: "c1".into(),
        reason: RejectReason::UnknownQueue,
    }));
    assert!(h.acd.interaction(&"c1".into()).is_none());
}

#[test]
fn longest_idle_agent_is_chosen() {
    // bob became Available first, then alice, then carol.
    let mut h = sales_with(&["bob", "alice", "carol"]);
    h.arrive("c1", "7000", "100");
    h.arrive("c2", "7000", "101");
    assert_eq!(h.offers(), [pair("c1", "bob"), pair("c2", "alice")]);
}

#[test]
fn idle_time_counts_from_the_end_of_the_last_call() {
    let mut h = sales_with(&["alice", "bob"]);
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    h.advance(secs(10));
    h.end("c1");
    h.ok(Command::FinishWrapUp {
        agent: "alice".into(),
        disposition: None,
        actor: Actor::Agent("alice".into()),
    });
    // alice's call ended after bob became Available, so bob has been idle longer.
    h.advance(secs(5));
    h.take();
    h.arrive("c2", "7000", "101");
    assert_eq!(h.offers(), [pair("c2", "bob")]);
}

#[test]
fn round_robin_continues_after_the_last_agent_offered() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        strategy: Strategy::RoundRobin,
        ..queue("sales", "7000")
    });
    for id in ["a", "b", "c"] {
        h.staff(agent(id, &[]));
    }
    h.take();
    for (n, expected) in [("c1", "a"), ("c2", "b"), ("c3", "c")] {
        h.arrive(n, "7000", "100");
        assert_eq!(h.offers(), [pair(n, expected)]);
        h.take();
        h.answer(n, expected);
        h.end(n);
        h.ok(Command::FinishWrapUp {
            agent: expected.into(),
            disposition: None,
            actor: Actor::System,
        });
        h.take();
    }
    h.arrive("c4", "7000", "100");
    assert_eq!(
        h.offers(),
        [pair("c4", "a")],
        "wraps around after the last agent"
    );
}

#[test]
fn ring_all_rings_every_available_agent_and_the_first_answer_wins() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        strategy: Strategy::RingAll,
        ..queue("help", "7100")
    });
    for id in ["a", "b", "c"] {
        h.staff(agent(id, &[]));
    }
    h.ok(Command::SetState {
        agent: "c".into(),
        state: RequestedState::Idle {
            reason: "lunch".into(),
        },
        actor: Actor::Agent("c".into()),
    });
    h.take();
    h.arrive("c1", "7100", "100");
    assert_eq!(h.offers(), [pair("c1", "a"), pair("c1", "b")]);
    h.take();
    h.answer("c1", "b");
    assert_eq!(h.withdrawals(), [pair("c1", "a")]);
    assert_eq!(h.state("a"), AgentState::Available);
    assert_eq!(
        h.state("b"),
        AgentState::Engaged {
            interaction: "c1".into()
        }
    );
    assert_eq!(h.offers(), []);
}

#[test]
fn a_ring_all_round_nobody_answers_starts_again_without_rona() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        strategy: Strategy::RingAll,
        ..queue("help", "7100")
    });
    h.staff(agent("a", &[]));
    h.staff(agent("b", &[]));
    h.arrive("c1", "7100", "100");
    h.take();
    h.advance(secs(15));
    assert_eq!(h.withdrawals(), [pair("c1", "a"), pair("c1", "b")]);
    assert_eq!(
        h.offers(),
        [pair("c1", "a"), pair("c1", "b")],
        "a new round at once"
    );
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::AgentRona { .. }))
    );
}

#[test]
fn in_ring_all_one_decline_leaves_the_others_ringing() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        strategy: Strategy::RingAll,
        ..queue("help", "7100")
    });
    h.staff(agent("a", &[]));
    h.staff(agent("b", &[]));
    h.arrive("c1", "7100", "100");
    h.take();
    h.ok(Command::DeclineOffer {
        agent: "a".into(),
        interaction: "c1".into(),
    });
    assert_eq!(h.withdrawals(), [pair("c1", "a")]);
    assert_eq!(h.offers(), [], "a is not offered c1 again");
    assert_eq!(h.state("a"), AgentState::Available);
    assert_eq!(h.state("b"), reserved("c1"));
}

#[test]
fn only_qualified_agent_is_offered_skills_based_call() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        strategy: Strategy::SkillsBased,
        required_skills: vec![Skill {
            name: "french".into(),
            level: 5,
        }],
        ..queue("fr", "7200")
    });
    h.staff(agent("novice", &[("french", 3)]));
    h.staff(agent("none", &[]));
    h.staff(agent("fluent", &[("french", 7)]));
    h.take();
    h.arrive("c1", "7200", "100");
    assert_eq!(h.offers(), [pair("c1", "fluent")]);
    h.take();
    h.arrive("c2", "7200", "101");
    assert_eq!(h.offers(), [], "nobody else qualifies; the caller waits");
    assert_eq!(h.waiting("fr"), ["c2"]);
}

#[test]
fn skills_based_prefers_the_most_skilled_then_the_longest_idle() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        strategy: Strategy::SkillsBased,
        required_skills: vec![Skill {
            name: "french".into(),
            level: 3,
        }],
        ..queue("fr", "7200")
    });
    h.staff(agent("good", &[("french", 5)]));
    h.advance(secs(1));
    h.staff(agent("best", &[("french", 9)]));
    h.advance(secs(1));
    h.staff(agent("good2", &[("french", 5)]));
    h.take();
    for n in ["c1", "c2", "c3"] {
        h.arrive(n, "7200", "100");
    }
    assert_eq!(
        h.offers(),
        [pair("c1", "best"), pair("c2", "good"), pair("c3", "good2")]
    );
}

#[test]
fn the_team_filter_keeps_other_teams_agents_out() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        teams: vec![TeamId::from("north")],
        ..queue("sales", "7000")
    });
    h.staff(AgentConfig {
        team: Some("south".into()),
        ..agent("s", &[])
    });
    h.staff(AgentConfig {
        team: Some("north".into()),
        ..agent("n", &[])
    });
    h.take();
    h.arrive("c1", "7000", "100");
    assert_eq!(h.offers(), [pair("c1", "n")]);
}

#[test]
fn higher_priority_caller_is_offered_first_and_fifo_holds_within_a_priority() {
    let mut h = sales_with(&[]);
    h.arrive("low1", "7000", "100");
    h.advance(secs(1));
    h.ok(Command::Enqueue {
        interaction: "high".into(),
        queue: "sales".into(),
        ani: "101".into(),
        dnis: "7000".into(),
        priority: 5,
    });
    h.advance(secs(1));
    h.arrive("low2", "7000", "102");
    assert_eq!(h.waiting("sales"), ["high", "low1", "low2"]);
    h.staff(agent("a", &[]));
    h.staff(agent("b", &[]));
    h.staff(agent("c", &[]));
    let offered: Vec<String> = h.offers().into_iter().map(|(ix, _)| ix).collect();
    assert_eq!(offered, ["high", "low1", "low2"]);
}

#[test]
fn rona_returns_call_to_head_of_queue() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.arrive("c2", "7000", "101");
    assert_eq!(h.offers(), [pair("c1", "alice")]);
    h.take();
    h.advance(secs(14));
    assert_eq!(h.withdrawals(), []);
    h.advance(secs(1));
    assert_eq!(h.withdrawals(), [pair("c1", "alice")]);
    assert_eq!(h.state("alice"), AgentState::Rona);
    assert!(h.events().contains(&Event::AgentRona {
        agent: "alice".into(),
        interaction: "c1".into(),
    }));
    assert_eq!(h.waiting("sales"), ["c1", "c2"]);
    assert!(
        h.interaction_records()
            .iter()
            .any(|r| r.state == InteractionState::Queued
                && r.reason == InteractionReason::RingTimeout)
    );
}

#[test]
fn after_rona_the_next_agent_is_tried_immediately() {
    let mut h = sales_with(&["alice", "bob"]);
    h.arrive("c1", "7000", "100");
    h.arrive("c2", "7000", "101");
    assert_eq!(h.offers(), [pair("c1", "alice"), pair("c2", "bob")]);
    h.answer("c2", "bob");
    h.end("c2");
    h.ok(Command::FinishWrapUp {
        agent: "bob".into(),
        disposition: None,
        actor: Actor::System,
    });
    h.take();
    h.advance(secs(15));
    assert_eq!(h.offers(), [pair("c1", "bob")]);
}

#[test]
fn a_rona_agent_stays_out_of_rotation_until_they_set_available() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.advance(secs(15));
    h.take();
    h.advance(secs(100));
    assert_eq!(h.offers(), []);
    assert_eq!(h.state("alice"), AgentState::Rona);
    h.available("alice");
    assert_eq!(h.offers(), [pair("c1", "alice")]);
}

#[test]
fn desktop_decline_is_not_rona_and_requeues_the_caller_at_the_head() {
    let mut h = sales_with(&["alice", "bob"]);
    h.arrive("c1", "7000", "100");
    assert_eq!(h.offers(), [pair("c1", "alice")]);
    h.take();
    h.ok(Command::DeclineOffer {
        agent: "alice".into(),
        interaction: "c1".into(),
    });
    assert_eq!(h.withdrawals(), [pair("c1", "alice")]);
    assert_eq!(h.state("alice"), AgentState::Available);
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::AgentRona { .. }))
    );
    assert_eq!(h.offers(), [pair("c1", "bob")], "the next agent at once");
    let declined = h.out.iter().any(|o| {
        matches!(o, Output::Persist(Record::AgentTransition(t))
            if t.reason == TransitionReason::Declined && t.actor == Actor::Agent("alice".into()))
    });
    assert!(declined);
}

#[test]
fn a_declining_agent_is_not_offered_the_same_caller_again_but_takes_the_next() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.take();
    h.ok(Command::DeclineOffer {
        agent: "alice".into(),
        interaction: "c1".into(),
    });
    assert_eq!(h.offers(), []);
    h.arrive("c2", "7000", "101");
    assert_eq!(h.offers(), [pair("c2", "alice")]);
    assert_eq!(h.waiting("sales"), ["c1"]);
}

#[test]
fn declining_an_offer_that_is_not_ringing_is_refused() {
    let mut h = sales_with(&["alice"]);
    let refused = h.cmd(Command::DeclineOffer {
        agent: "alice".into(),
        interaction: "c9".into(),
    });
    assert_eq!(refused, Err(RoutingError::Agent(AgentError::NoSuchOffer)));
    h.arrive("c1", "7000", "100");
    assert_eq!(
        h.cmd(Command::AcceptOffer {
            agent: "alice".into(),
            interaction: "c1".into()
        }),
        Ok(())
    );
    assert_eq!(
        h.state("alice"),
        reserved("c1"),
        "accepting is informational"
    );
}

#[test]
fn a_phone_decline_counts_as_declined_not_rona() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.take();
    h.switch(QueueEvent::OfferFailed {
        interaction: "c1".into(),
        party: Party::Agent("alice".into()),
        failure: OfferFailure::Declined,
    });
    assert_eq!(h.state("alice"), AgentState::Available);
    assert_eq!(
        h.withdrawals(),
        [],
        "the phone already refused; nothing to cancel"
    );
    assert_eq!(h.waiting("sales"), ["c1"]);
}

#[test]
fn an_unreachable_phone_idles_the_agent_and_requeues_the_caller_at_the_head() {
    let mut h = sales_with(&["alice", "bob"]);
    h.arrive("c1", "7000", "100");
    h.take();
    h.switch(QueueEvent::OfferFailed {
        interaction: "c1".into(),
        party: Party::Agent("alice".into()),
        failure: OfferFailure::DeviceUnavailable,
    });
    assert_eq!(
        h.state("alice"),
        AgentState::Idle {
            reason: "device_unavailable".into()
        }
    );
    assert_eq!(h.offers(), [pair("c1", "bob")]);
}

#[test]
fn abandon_while_ringing_frees_the_agent() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.take();
    h.switch(QueueEvent::Abandoned {
        interaction: "c1".into(),
    });
    assert_eq!(h.withdrawals(), [pair("c1", "alice")]);
    assert_eq!(
        h.state("alice"),
        AgentState::Available,
        "Available, not Rona"
    );
    assert!(h.events().contains(&Event::InteractionEnded {
        interaction: "c1".into(),
        agent: Some("alice".into()),
        queue: "sales".into(),
        abandoned: true,
    }));
    assert!(h.acd.interaction(&"c1".into()).is_none());
    h.take();
    h.advance(secs(60));
    assert_eq!(h.out, [], "the ring timer died with the caller");
}

#[test]
fn abandon_while_queued_ends_the_interaction() {
    let mut h = sales_with(&[]);
    h.arrive("c1", "7000", "100");
    h.take();
    h.switch(QueueEvent::Abandoned {
        interaction: "c1".into(),
    });
    assert!(h.waiting("sales").is_empty());
    let records = h.interaction_records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].state, records[0].reason),
        (InteractionState::Ended, InteractionReason::Abandoned)
    );
}

#[test]
fn agent_cannot_log_out_while_reserved() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    let refused = h.cmd(Command::Logout {
        agent: "alice".into(),
        actor: Actor::Agent("alice".into()),
    });
    assert_eq!(
        refused,
        Err(RoutingError::Agent(AgentError::OfferPending {
            interaction: "c1".into()
        }))
    );
    assert_eq!(h.state("alice"), reserved("c1"));
}

#[test]
fn agent_cannot_log_out_while_engaged_but_can_during_wrap_up() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    let logout = Command::Logout {
        agent: "alice".into(),
        actor: Actor::Agent("boss".into()),
    };
    assert!(matches!(
        h.cmd(logout.clone()),
        Err(RoutingError::Agent(AgentError::Engaged { .. }))
    ));
    h.end("c1");
    h.take();
    h.ok(logout);
    assert_eq!(h.state("alice"), AgentState::LoggedOut);
    assert!(
        h.interaction_records()
            .iter()
            .any(|r| r.state == InteractionState::WrappedUp)
    );
}

#[test]
fn ended_call_puts_the_agent_in_wrap_up_and_asks_for_it() {
    let mut h = sales_with(&["alice"]);
    h.ok(Command::UpsertQueue(QueueConfig {
        disposition_required: true,
        ..queue("sales", "7000")
    }));
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    h.take();
    h.end("c1");
    assert_eq!(
        h.state("alice"),
        AgentState::WrapUp {
            interaction: "c1".into()
        }
    );
    assert!(h.events().contains(&Event::WrapUpRequired {
        interaction: "c1".into(),
        agent: "alice".into(),
        queue: "sales".into(),
        disposition_required: true,
        handed_over: false,
    }));
    assert!(h.events().contains(&Event::InteractionEnded {
        interaction: "c1".into(),
        agent: Some("alice".into()),
        queue: "sales".into(),
        abandoned: false,
    }));
}

#[test]
fn wrap_up_expires_to_available() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    h.end("c1");
    h.advance(secs(29));
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
    h.take();
    h.advance(secs(1));
    assert_eq!(h.state("alice"), AgentState::Available);
    let records = h.interaction_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, InteractionState::WrappedUp);
    assert_eq!(records[0].disposition, None);
}

#[test]
fn wrap_up_uses_the_org_default_when_the_queue_has_none() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        wrap_up_max: None,
        ..queue("sales", "7000")
    });
    h.staff(agent("alice", &[]));
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    h.end("c1");
    let default = h.acd.settings().default_wrap_up_max;
    assert_eq!(h.acd.poll_timeout(), Some(h.now + default));
}

#[test]
fn finishing_wrap_up_early_makes_the_agent_available_and_needs_a_disposition_if_required() {
    let mut h = sales_with(&["alice"]);
    h.ok(Command::UpsertQueue(QueueConfig {
        disposition_required: true,
        ..queue("sales", "7000")
    }));
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    h.advance(secs(60));
    h.end("c1");
    let mut finish = Command::FinishWrapUp {
        agent: "alice".into(),
        disposition: None,
        actor: Actor::Agent("alice".into()),
    };
    assert_eq!(
        h.cmd(finish.clone()),
        Err(RoutingError::DispositionRequired("c1".into()))
    );
    if let Command::FinishWrapUp { disposition, .. } = &mut finish {
        *disposition = Some("sold".into());
    }
    h.take();
    h.advance(secs(5));
    h.ok(finish);
    assert_eq!(h.state("alice"), AgentState::Available);
    let records = h.interaction_records();
    assert_eq!(records[0].disposition.as_deref(), Some("sold"));
    assert_eq!(
        h.acd.queue(&"sales".into()).unwrap().average_handle_time(),
        Some(secs(65))
    );
    h.take();
    h.advance(secs(60));
    assert_eq!(h.out, [], "the wrap-up timer was cancelled");
}

#[test]
fn last_agent_routing_prefers_the_previous_agent() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        last_agent_routing: true,
        ..queue("sales", "7000")
    });
    h.staff(agent("alice", &[]));
    h.advance(secs(1));
    h.staff(agent("bob", &[]));
    h.ok(Command::RememberLastAgent {
        ani: "+15550001".into(),
        agent: "bob".into(),
    });
    h.take();
    h.arrive("c1", "7000", "+15550001");
    assert_eq!(
        h.offers(),
        [pair("c1", "bob")],
        "bob, though alice is idle longer"
    );
    h.answer("c1", "bob");
    h.take();
    h.arrive("c2", "7000", "+15550002");
    assert_eq!(h.offers(), [pair("c2", "alice")]);
}

#[test]
fn a_caller_is_remembered_with_the_agent_who_answered() {
    let mut h = Harness::new();
    h.add_queue(QueueConfig {
        last_agent_routing: true,
        ..queue("sales", "7000")
    });
    h.staff(agent("alice", &[]));
    h.advance(secs(1));
    h.staff(agent("bob", &[]));
    h.arrive("c1", "7000", "+15550001");
    h.answer("c1", "alice");
    h.end("c1");
    h.ok(Command::FinishWrapUp {
        agent: "alice".into(),
        disposition: None,
        actor: Actor::System,
    });
    h.take();
    h.arrive("c2", "7000", "+15550001");
    assert_eq!(h.offers(), [pair("c2", "alice")]);
}

#[test]
fn blind_transfer_to_a_queue_wraps_the_agent_up_and_queues_the_caller() {
    let mut h = sales_with(&["alice"]);
    h.add_queue(queue("billing", "7300"));
    let arrived = h.now;
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    h.advance(secs(40));
    h.take();
    h.ok(Command::Enqueue {
        interaction: "c1".into(),
        queue: "billing".into(),
        ani: "100".into(),
        dnis: "7000".into(),
        priority: 0,
    });
    assert!(matches!(h.state("alice"), AgentState::WrapUp { .. }));
    assert_eq!(h.waiting("billing"), ["c1"]);
    assert_eq!(h.acd.interaction(&"c1".into()).unwrap().arrived_at, arrived);
    assert_eq!(
        h.cmd(Command::Enqueue {
            interaction: "c2".into(),
            queue: "nowhere".into(),
            ani: "100".into(),
            dnis: "7000".into(),
            priority: 0,
        }),
        Err(RoutingError::UnknownQueue("nowhere".into()))
    );
}

#[test]
fn an_answer_that_crossed_the_withdrawal_still_connects_the_agent() {
    let mut h = sales_with(&["alice", "bob"]);
    h.arrive("c1", "7000", "100");
    h.advance(secs(15));
    assert_eq!(h.state("alice"), AgentState::Rona);
    assert_eq!(h.state("bob"), reserved("c1"));
    h.take();
    h.answer("c1", "alice");
    assert_eq!(
        h.state("alice"),
        AgentState::Engaged {
            interaction: "c1".into()
        }
    );
    assert_eq!(h.withdrawals(), [pair("c1", "bob")]);
    assert_eq!(h.state("bob"), AgentState::Available);
}

#[test]
fn queue_position_and_expected_wait_follow_the_handle_time() {
    let mut h = sales_with(&[]);
    for n in ["c1", "c2", "c3"] {
        h.arrive(n, "7000", "100");
    }
    let position = h.acd.queue_position(&"c3".into()).unwrap();
    assert_eq!(position.position, 3);
    assert_eq!(position.queue, QueueId::from("sales"));
    let default = h.acd.settings().default_handle_time;
    assert_eq!(position.expected_wait, default * 3);
    h.ok(Command::UpsertAgent(agent("alice", &[])));
    h.ok(Command::Login {
        agent: "alice".into(),
        extension: "1".into(),
        actor: Actor::System,
    });
    h.available("alice");
    h.answer("c1", "alice");
    assert_eq!(
        h.acd.queue_position(&"c1".into()),
        None,
        "connected callers have no position"
    );
    assert_eq!(h.acd.queue_position(&"c3".into()).unwrap().position, 2);
}

#[test]
fn queue_stats_are_published_once_per_change() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.arrive("c2", "7000", "101");
    let stats: Vec<Event> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::QueueStats { .. }))
        .collect();
    assert_eq!(
        stats,
        [
            Event::QueueStats {
                queue: "sales".into(),
                waiting: 0,
                longest_wait: Duration::ZERO,
                available_agents: 0,
            },
            Event::QueueStats {
                queue: "sales".into(),
                waiting: 1,
                longest_wait: Duration::ZERO,
                available_agents: 0,
            },
        ]
    );
}

#[test]
fn every_agent_transition_is_published_and_persisted() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.answer("c1", "alice");
    h.end("c1");
    h.advance(secs(30));
    let published: Vec<AgentTransition> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::AgentStateChanged(t) => Some(t),
            _ => None,
        })
        .collect();
    let persisted: Vec<AgentTransition> = h
        .out
        .iter()
        .filter_map(|o| match o {
            Output::Persist(Record::AgentTransition(t)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(published, persisted);
    let reasons: Vec<TransitionReason> = published.iter().map(|t| t.reason).collect();
    assert_eq!(
        reasons,
        [
            TransitionReason::Offered,
            TransitionReason::Answered,
            TransitionReason::CallEnded,
            TransitionReason::WrapUpExpired
        ]
    );
    for pair in published.windows(2) {
        assert_eq!(pair[0].to, pair[1].from, "transitions chain");
    }
}

#[test]
fn time_never_goes_backwards() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    let deadline = h.acd.poll_timeout().unwrap();
    h.acd.handle_timeout(h.t0);
    assert_eq!(h.state("alice"), reserved("c1"));
    h.acd.handle_timeout(deadline);
    assert_eq!(h.state("alice"), AgentState::Rona);
    // An earlier `now` afterwards is read as the latest seen.
    h.acd
        .handle_command(
            h.t0,
            Command::SetState {
                agent: "alice".into(),
                state: RequestedState::Available,
                actor: Actor::System,
            },
        )
        .unwrap();
    assert_eq!(h.acd.agent(&"alice".into()).unwrap().since(), deadline);
}

#[test]
fn a_queue_with_callers_cannot_be_removed_and_a_busy_agent_cannot_be_removed() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    assert_eq!(
        h.cmd(Command::RemoveQueue("sales".into())),
        Err(RoutingError::QueueBusy {
            queue: "sales".into(),
            callers: 1
        })
    );
    assert!(matches!(
        h.cmd(Command::RemoveAgent("alice".into())),
        Err(RoutingError::Agent(AgentError::OfferPending { .. }))
    ));
    h.switch(QueueEvent::Abandoned {
        interaction: "c1".into(),
    });
    h.ok(Command::RemoveAgent("alice".into()));
    h.ok(Command::RemoveQueue("sales".into()));
    assert!(h.acd.snapshot(h.now).queues.is_empty());
}

#[test]
fn the_snapshot_shows_agents_and_queues() {
    let mut h = sales_with(&["alice"]);
    h.arrive("c1", "7000", "100");
    h.arrive("c2", "7000", "101");
    h.advance(secs(3));
    let snapshot = h.acd.snapshot(h.now);
    assert_eq!(snapshot.agents.len(), 1);
    assert_eq!(snapshot.agents[0].state, reserved("c1"));
    assert_eq!(snapshot.agents[0].in_state_for, secs(3));
    let sales = &snapshot.queues[0];
    assert_eq!(sales.waiting, [InteractionId::from("c2")]);
    assert_eq!((sales.ringing, sales.connected), (1, 0));
    assert_eq!(sales.longest_wait, secs(3));
}

#[test]
fn unknown_agents_are_refused() {
    let mut h = sales_with(&[]);
    assert_eq!(
        h.cmd(Command::Login {
            agent: "ghost".into(),
            extension: "1".into(),
            actor: Actor::System,
        }),
        Err(RoutingError::UnknownAgent("ghost".into()))
    );
}

#[test]
fn stale_switch_events_are_ignored() {
    let mut h = sales_with(&["alice"]);
    h.answer("nobody", "alice");
    h.end("nobody");
    h.switch(QueueEvent::OfferFailed {
        interaction: "nobody".into(),
        party: Party::Agent("alice".into()),
        failure: OfferFailure::Declined,
    });
    assert_eq!(h.state("alice"), AgentState::Available);
}

#[test]
fn an_agent_serving_two_queues_takes_the_longest_waiting_caller() {
    let mut h = Harness::new();
    h.add_queue(queue("a", "7000"));
    h.add_queue(queue("b", "7001"));
    h.arrive("first", "7001", "100");
    h.advance(secs(1));
    h.arrive("second", "7000", "101");
    h.take();
    h.staff(agent("alice", &[]));
    assert_eq!(h.offers(), [pair("first", "alice")]);
}
