//! Tests of `agent`: every transition of one agent's state machine, in virtual time.
use super::*;
use crate::routing::model::Role;

fn t0() -> Instant {
    crate::runtime::clock::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn alice(now: Instant) -> Agent {
    Agent::new(
        AgentConfig {
            id: "alice".into(),
            name: "Alice".into(),
            team: None,
            skills: vec![],
            role: Role::Agent,
            calling_class: None,
        },
        now,
    )
}

fn ix(id: &str) -> InteractionId {
    id.into()
}

fn sys(
    agent: &mut Agent,
    now: Instant,
    input: AgentInput,
) -> Result<Option<AgentTransition>, AgentError> {
    agent.handle(now, input, Actor::System)
}

fn available(now: Instant) -> Agent {
    let mut agent = alice(now);
    sys(
        &mut agent,
        now,
        AgentInput::Login {
            extension: "1001".into(),
        },
    )
    .unwrap();
    sys(&mut agent, now, AgentInput::SetAvailable).unwrap();
    agent
}

fn end_call(interaction: &str, now: Instant, wrap_up_max: Duration) -> AgentInput {
    AgentInput::EndCall {
        context: WrapUpContext {
            handed_over: false,
            interaction: ix(interaction),
            queue: "sales".into(),
            answered_at: now,
            disposition_required: false,
        },
        wrap_up_max,
        reason: TransitionReason::CallEnded,
    }
}

#[test]
fn login_lands_in_idle_and_logout_forgets_the_extension() {
    let t0 = t0();
    let mut agent = alice(t0);
    let t = sys(
        &mut agent,
        t0,
        AgentInput::Login {
            extension: "1001".into(),
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(t.from, AgentState::LoggedOut);
    assert_eq!(
        t.to,
        AgentState::Idle {
            reason: LOGIN_IDLE_REASON.into()
        }
    );
    assert_eq!(t.reason, TransitionReason::Login);
    assert_eq!(agent.extension(), Some("1001"));
    assert_eq!(
        sys(
            &mut agent,
            t0,
            AgentInput::Login {
                extension: "1002".into()
            }
        ),
        Err(AgentError::AlreadyLoggedIn)
    );
    sys(&mut agent, t0, AgentInput::Logout).unwrap();
    assert_eq!(agent.extension(), None);
    assert_eq!(
        sys(&mut agent, t0, AgentInput::SetAvailable),
        Err(AgentError::NotLoggedIn)
    );
}

#[test]
fn transitions_carry_the_actor_and_the_time() {
    let t0 = t0();
    let mut agent = alice(t0);
    sys(
        &mut agent,
        t0,
        AgentInput::Login {
            extension: "1001".into(),
        },
    )
    .unwrap();
    let boss = Actor::Agent("boss".into());
    let t = agent
        .handle(
            t0 + secs(5),
            AgentInput::SetIdle {
                reason: "lunch".into(),
            },
            boss.clone(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(t.actor, boss);
    assert_eq!(t.at, t0 + secs(5));
    assert_eq!(agent.since(), t0 + secs(5));
    assert_eq!(
        sys(
            &mut agent,
            t0,
            AgentInput::SetIdle {
                reason: "lunch".into()
            }
        ),
        Ok(None),
        "the same idle reason again changes nothing"
    );
}

#[test]
fn only_an_available_agent_can_be_offered() {
    let t0 = t0();
    let mut agent = alice(t0);
    sys(
        &mut agent,
        t0,
        AgentInput::Login {
            extension: "1001".into(),
        },
    )
    .unwrap();
    assert_eq!(
        sys(
            &mut agent,
            t0,
            AgentInput::Offer {
                interaction: ix("c1")
            }
        ),
        Err(AgentError::NotAvailable { state: "idle" })
    );
    sys(&mut agent, t0, AgentInput::SetAvailable).unwrap();
    sys(
        &mut agent,
        t0,
        AgentInput::Offer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    assert_eq!(
        sys(
            &mut agent,
            t0,
            AgentInput::Offer {
                interaction: ix("c2")
            }
        ),
        Err(AgentError::OfferPending {
            interaction: ix("c1")
        }),
        "an agent is never Reserved for two interactions"
    );
}

#[test]
fn agent_cannot_log_out_or_change_state_while_reserved_or_engaged() {
    let t0 = t0();
    let mut agent = available(t0);
    sys(
        &mut agent,
        t0,
        AgentInput::Offer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    let pending = Err(AgentError::OfferPending {
        interaction: ix("c1"),
    });
    assert_eq!(sys(&mut agent, t0, AgentInput::Logout), pending);
    assert_eq!(
        sys(&mut agent, t0, AgentInput::SetIdle { reason: "x".into() }),
        pending
    );
    sys(
        &mut agent,
        t0,
        AgentInput::Answer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    let engaged = Err(AgentError::Engaged {
        interaction: ix("c1"),
    });
    assert_eq!(sys(&mut agent, t0, AgentInput::Logout), engaged);
    assert_eq!(sys(&mut agent, t0, AgentInput::SetAvailable), engaged);
}

#[test]
fn an_answer_for_another_interaction_is_refused() {
    let t0 = t0();
    let mut agent = available(t0);
    sys(
        &mut agent,
        t0,
        AgentInput::Offer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    assert_eq!(
        sys(
            &mut agent,
            t0,
            AgentInput::Answer {
                interaction: ix("c2")
            }
        ),
        Err(AgentError::NoSuchOffer)
    );
}

#[test]
fn ring_timeout_is_rona_and_rona_is_sticky_until_available() {
    let t0 = t0();
    let mut agent = available(t0);
    sys(
        &mut agent,
        t0,
        AgentInput::Offer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    let t = sys(&mut agent, t0 + secs(15), AgentInput::RingTimeout)
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.to, t.reason),
        (AgentState::Rona, TransitionReason::RingTimeout)
    );
    assert!(!agent.is_available());
    assert_eq!(
        sys(
            &mut agent,
            t0,
            AgentInput::Offer {
                interaction: ix("c2")
            }
        ),
        Err(AgentError::NotAvailable { state: "rona" })
    );
    sys(&mut agent, t0 + secs(20), AgentInput::SetAvailable).unwrap();
    assert!(agent.is_available());
    assert_eq!(agent.idle_since(), t0 + secs(20));
}

#[test]
fn decline_device_unavailable_and_rona_are_distinct_outcomes() {
    let t0 = t0();
    let mut outcomes = Vec::new();
    for input in [
        AgentInput::Decline,
        AgentInput::DeviceUnavailable,
        AgentInput::RingTimeout,
    ] {
        let mut agent = available(t0);
        sys(
            &mut agent,
            t0,
            AgentInput::Offer {
                interaction: ix("c1"),
            },
        )
        .unwrap();
        let t = sys(&mut agent, t0, input).unwrap().unwrap();
        outcomes.push((t.to, t.reason));
    }
    assert_eq!(
        outcomes,
        [
            (AgentState::Available, TransitionReason::Declined),
            (
                AgentState::Idle {
                    reason: DEVICE_UNAVAILABLE_REASON.into()
                },
                TransitionReason::DeviceUnavailable
            ),
            (AgentState::Rona, TransitionReason::RingTimeout),
        ]
    );
}

#[test]
fn a_withdrawn_or_declined_offer_keeps_the_agents_idle_time() {
    let t0 = t0();
    let mut agent = available(t0);
    sys(
        &mut agent,
        t0 + secs(3),
        AgentInput::Offer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    sys(
        &mut agent,
        t0 + secs(4),
        AgentInput::Rescind {
            reason: TransitionReason::Abandoned,
        },
    )
    .unwrap();
    assert_eq!(agent.idle_since(), t0);
    sys(
        &mut agent,
        t0 + secs(5),
        AgentInput::Offer {
            interaction: ix("c2"),
        },
    )
    .unwrap();
    sys(&mut agent, t0 + secs(6), AgentInput::Decline).unwrap();
    assert_eq!(agent.idle_since(), t0);
}

#[test]
fn wrap_up_expires_to_available_with_idle_time_from_the_call_end() {
    let t0 = t0();
    let mut agent = available(t0);
    sys(
        &mut agent,
        t0,
        AgentInput::Offer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    sys(
        &mut agent,
        t0,
        AgentInput::Answer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    let ended = t0 + secs(100);
    let t = sys(&mut agent, ended, end_call("c1", t0, secs(30)))
        .unwrap()
        .unwrap();
    assert_eq!(
        t.to,
        AgentState::WrapUp {
            interaction: ix("c1")
        }
    );
    assert_eq!(agent.poll_timeout(), Some(ended + secs(30)));
    assert_eq!(agent.handle_timeout(ended + secs(29)), None);
    let t = agent.handle_timeout(ended + secs(30)).unwrap();
    assert_eq!(
        (t.to, t.reason),
        (AgentState::Available, TransitionReason::WrapUpExpired)
    );
    assert_eq!(t.actor, Actor::System);
    assert_eq!(agent.poll_timeout(), None);
    assert_eq!(agent.idle_since(), ended);
    assert_eq!(agent.wrap_up(), None);
}

#[test]
fn finishing_or_changing_state_ends_wrap_up_and_its_timer() {
    let t0 = t0();
    for (input, expected) in [
        (AgentInput::FinishWrapUp, AgentState::Available),
        (
            AgentInput::SetIdle {
                reason: "break".into(),
            },
            AgentState::Idle {
                reason: "break".into(),
            },
        ),
        (AgentInput::Logout, AgentState::LoggedOut),
    ] {
        let mut agent = available(t0);
        sys(
            &mut agent,
            t0,
            AgentInput::Offer {
                interaction: ix("c1"),
            },
        )
        .unwrap();
        sys(
            &mut agent,
            t0,
            AgentInput::Answer {
                interaction: ix("c1"),
            },
        )
        .unwrap();
        sys(&mut agent, t0, end_call("c1", t0, secs(30))).unwrap();
        assert!(agent.wrap_up().is_some());
        let t = sys(&mut agent, t0 + secs(5), input).unwrap().unwrap();
        assert_eq!(t.to, expected);
        assert_eq!(agent.poll_timeout(), None);
        assert_eq!(agent.handle_timeout(t0 + secs(60)), None);
    }
}

#[test]
fn finishing_wrap_up_outside_wrap_up_is_refused() {
    let t0 = t0();
    let mut agent = available(t0);
    assert_eq!(
        sys(&mut agent, t0, AgentInput::FinishWrapUp),
        Err(AgentError::NotInWrapUp)
    );
    assert_eq!(
        sys(&mut agent, t0, end_call("c1", t0, secs(1))),
        Err(AgentError::NotOnCall)
    );
}

#[test]
fn an_answer_after_withdrawal_engages_an_agent_who_is_free() {
    let t0 = t0();
    let mut agent = available(t0);
    sys(
        &mut agent,
        t0,
        AgentInput::Offer {
            interaction: ix("c1"),
        },
    )
    .unwrap();
    sys(&mut agent, t0, AgentInput::RingTimeout).unwrap();
    let t = sys(
        &mut agent,
        t0,
        AgentInput::AnswerAfterWithdrawal {
            interaction: ix("c1"),
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        t.to,
        AgentState::Engaged {
            interaction: ix("c1")
        }
    );
}
