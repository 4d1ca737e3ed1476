//! Calls that end without anyone pressing "end": a customer who gives up while queued (on
//! music, with or without an agent's phone ringing) and media that stops flowing, on a
//! plain call and on a queue call. Also a plain call's transfers from the phone: blind
//! (REFER) and attended (REFER with Replaces), where no contact center is involved.
//!
//! ```text
//!  customer 1001 ──INVITE 7000──▶ switch (music) ──BYE──▶ interaction ended, abandoned
//!  1001 ◀──▶ switch ◀──▶ 1002 ──REFER 1003──▶ switch ──INVITE──▶ 1003
//! ```

use std::time::Duration;

use super::invariants::Expect;
use super::over_seeds;
use super::phone::{Incoming, Stage};
use super::world::{PhoneId, World};
use crate::call::MediaEvent;
use crate::call::lab::phone;
use crate::store::{HangupCause, OrgSettings};

const SECOND: Duration = Duration::from_secs(1);

/// Queue `sales` at 7000 (ringing an agent 8 s before RONA) and the customer's phone.
fn queue_world(seed: u64) -> (World, PhoneId) {
    let mut sales = crate::routing::test_harness::queue("sales", "7000");
    sales.ring_timeout = 8 * SECOND;
    let mut w = World::new(seed, OrgSettings::default(), vec![sales]);
    let customer = w.add_phone("1001", phone("1001"), Incoming::Ring);
    (w, customer)
}

/// The `interaction.ended` events published, as (abandoned, agent).
fn endings(w: &World) -> Vec<(bool, Option<String>)> {
    w.events
        .iter()
        .filter(|e| e.kind == "interaction.ended")
        .map(|e| {
            let abandoned = e.data["abandoned"].as_bool().unwrap_or(false);
            let agent = e.data["agent"].as_str().map(str::to_owned);
            (abandoned, agent)
        })
        .collect()
}

/// The customer hangs up while queued; `ringing` says whether an agent's phone was being
/// offered the call meanwhile (it must stop ringing, and the agent stays Available).
fn abandoned(seed: u64, ringing: bool) {
    let (mut w, customer) = queue_world(seed);
    let alice = ringing.then(|| {
        let phone = w.registered_phone("1011", Incoming::Ring);
        w.log_in("alice", "1011");
        phone
    });
    let call = w.with_phone(customer, |p| p.dial("7000"));
    w.run_until("the customer hears the queue", 10 * SECOND, |w| {
        w.call(customer, &call).stage == Stage::Up
    });
    if let Some(alice) = alice {
        w.run_until("alice's phone rings", 10 * SECOND, |w| {
            w.phone(alice)
                .last_call()
                .is_some_and(|c| c.stage == Stage::Early)
        });
    }
    let wait = w.millis(100..=3000);
    w.run_for(wait);
    let played = w.media.music.len();
    w.check(played == 1, || {
        format!("{played} endpoints hear music while queued")
    });
    w.with_phone(customer, |p| p.hang_up(&call));
    w.run_until("the customer's BYE is answered", 10 * SECOND, |w| {
        w.call(customer, &call).bye_answered
    });
    if let Some(alice) = alice {
        w.run_until("alice's phone stops ringing", 10 * SECOND, |w| {
            w.phone(alice)
                .last_call()
                .is_some_and(|c| c.stage != Stage::Early)
        });
    }
    w.run_until("the interaction ends", 5 * SECOND, |w| {
        !endings(w).is_empty()
    });
    let ended = endings(&w);
    // The agent who was being offered the call is told too: its desktop's offer goes away.
    let offered = alice.map(|_| "alice".to_owned());
    w.check(ended == [(true, offered)], || {
        format!("interaction.ended published as {ended:?}")
    });
    let agents: &[(&str, &str)] = if ringing {
        &[("alice", "available")]
    } else {
        &[]
    };
    w.finish(Expect {
        cdrs: &[HangupCause::NormalClearing],
        agents,
    });
}

#[test]
fn a_customer_who_hangs_up_in_the_queue_is_an_abandoned_interaction_over_200_seeds() {
    over_seeds(|seed| abandoned(seed, false));
}

#[test]
fn a_customer_who_hangs_up_while_an_agent_is_offered_the_call_stops_the_ringing_over_200_seeds() {
    over_seeds(|seed| abandoned(seed, true));
}

/// A plain call between 1001 and 1002, answered and with media established on both legs.
fn plain_call(seed: u64) -> (World, PhoneId, PhoneId, String) {
    let mut w = World::new(seed, OrgSettings::default(), Vec::new());
    let caller = w.add_phone("1001", phone("1001"), Incoming::Ring);
    let answer = w.millis(200..=1500);
    let callee = w.registered_phone("1002", Incoming::Answer(answer));
    let call = w.with_phone(caller, |p| p.dial("1002"));
    w.run_until("both legs' media is established", 10 * SECOND, |w| {
        w.call(caller, &call).stage == Stage::Up
            && !w.media.bridges.is_empty()
            && w.media
                .bridges
                .keys()
                .all(|e| w.media.established.contains(e))
    });
    (w, caller, callee, call)
}

/// The media plane reports one of the call's endpoints silent (what the relay does after the
/// profile's RTP timeout): both phones get BYE and the CDR says RTP timeout.
#[test]
fn a_plain_call_whose_media_stops_is_hung_up_on_both_legs_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, callee, call) = plain_call(seed);
        let talk = w.millis(500..=5000);
        w.run_for(talk);
        let endpoints: Vec<_> = w.media.bridges.keys().copied().collect();
        let silent = endpoints[usize::try_from(seed).unwrap_or(0) % endpoints.len()];
        let at = w.now;
        w.media
            .events
            .push((at, MediaEvent::Inactive { endpoint: silent }));
        w.run_until("both phones get BYE", 10 * SECOND, |w| {
            w.call(caller, &call).bye_received
                && w.phone(callee).last_call().is_some_and(|c| c.bye_received)
        });
        w.finish(Expect {
            cdrs: &[HangupCause::RtpTimeout],
            agents: &[],
        });
    });
}

/// A digit the media plane reports (once asked to detect them) reaches the switch, which
/// counts it; the call is untouched and ends as any other.
#[test]
fn a_keyed_digit_reaches_the_switch_and_the_call_goes_on() {
    let (mut w, caller, callee, call) = plain_call(7);
    let endpoint = *w.media.bridges.keys().min().expect("the caller is bridged");
    let at = w.now;
    w.media.events.push((
        at,
        MediaEvent::Digit {
            endpoint,
            digit: '1',
        },
    ));
    w.run_for(SECOND);
    let counted = w.node.switch().stats.digits_received;
    w.check(counted == 1, || format!("{counted} digits counted"));
    let up = w.call(caller, &call).stage == Stage::Up;
    w.check(up, || "the call went down on a digit".to_owned());
    w.with_phone(caller, |p| p.hang_up(&call));
    w.run_until("the callee gets BYE", 10 * SECOND, |w| {
        w.phone(callee).last_call().is_some_and(|c| c.bye_received)
    });
    w.finish(Expect {
        cdrs: &[HangupCause::NormalClearing],
        agents: &[],
    });
}

/// The same on a queue call: the agent's phone and the customer get BYE, the interaction
/// ends (not abandoned: it was answered) and the agent wraps up.
#[test]
fn a_queue_call_whose_media_stops_ends_the_interaction_and_the_agent_wraps_up_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer) = queue_world(seed);
        let answer = w.millis(200..=1500);
        let alice = w.registered_phone("1011", Incoming::Answer(answer));
        w.log_in("alice", "1011");
        let call = w.with_phone(customer, |p| p.dial("7000"));
        w.run_until("alice talks to the customer", 30 * SECOND, |w| {
            w.engaged_on("alice").is_some() && w.call(customer, &call).stage == Stage::Up
        });
        w.linger();
        let customer_side = *w
            .media
            .bridges
            .keys()
            .min()
            .expect("the customer is bridged");
        let at = w.now;
        w.media.events.push((
            at,
            MediaEvent::Inactive {
                endpoint: customer_side,
            },
        ));
        w.run_until("both phones get BYE", 10 * SECOND, |w| {
            w.call(customer, &call).bye_received
                && w.phone(alice).last_call().is_some_and(|c| c.bye_received)
        });
        w.run_until("alice wraps up", 5 * SECOND, |w| {
            w.agent_state_name("alice") == "wrap_up"
        });
        let ended = endings(&w);
        w.check(ended == [(false, Some("alice".into()))], || {
            format!("interaction.ended published as {ended:?}")
        });
        w.wrap_up("alice");
        w.finish(Expect {
            cdrs: &[HangupCause::RtpTimeout],
            agents: &[("alice", "available")],
        });
    });
}

/// 1002 sends REFER to 1003 on its leg of a plain call: 202, a NOTIFY ending in 200, the
/// caller talks to 1003 and 1002's leg is hung up. Like Asterisk's CDRs, a plain call
/// leaves one record per pair of parties it bridged: 1001–1002, then 1001–1003.
#[test]
fn a_plain_call_transferred_by_refer_reaches_the_new_party_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, callee, call) = plain_call(seed);
        let answer = w.millis(200..=1500);
        let target = w.registered_phone("1003", Incoming::Answer(answer));
        w.linger();
        let leg = w.phone(callee).last_call().expect("rung").call_id.clone();
        w.with_phone(callee, |p| p.refer(&leg, "1003"));
        w.run_until("the REFER is answered", 5 * SECOND, |w| {
            w.call(callee, &leg).refer_answer.is_some()
        });
        let answer = w.call(callee, &leg).refer_answer;
        w.check(answer == Some(202), || format!("REFER answered {answer:?}"));
        w.run_until("1003 talks", 10 * SECOND, |w| {
            w.phone(target)
                .last_call()
                .is_some_and(|c| c.stage == Stage::Up)
        });
        w.run_until("1002 is told and let go", 10 * SECOND, |w| {
            w.call(callee, &leg).notified().last().map(String::as_str) == Some("SIP/2.0 200 OK")
                && w.call(callee, &leg).bye_received
        });
        w.check(w.call(caller, &call).stage == Stage::Up, || {
            "the caller's call dropped in the transfer".into()
        });
        w.linger();
        w.with_phone(caller, |p| p.hang_up(&call));
        w.run_until("1003 gets BYE", 10 * SECOND, |w| {
            w.phone(target).last_call().is_some_and(|c| c.bye_received)
        });
        w.finish(Expect {
            cdrs: &[HangupCause::NormalClearing; 2],
            agents: &[],
        });
    });
}

/// Attended transfer on a plain call (RFC 3891): 1002 holds the caller, calls 1003, then
/// REFERs the caller's call with Replaces naming its call to 1003. The caller ends up
/// talking to 1003, and both of 1002's calls end: records for 1001–1002, 1002–1003 (the
/// consult call) and 1001–1003.
#[test]
fn a_plain_call_transferred_with_replaces_joins_the_caller_to_the_consulted_party_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, callee, call) = plain_call(seed);
        let answer = w.millis(200..=1500);
        let target = w.registered_phone("1003", Incoming::Answer(answer));
        let leg = w.phone(callee).last_call().expect("rung").call_id.clone();
        w.linger();
        w.with_phone(callee, |p| p.reinvite(&leg, "sendonly"));
        w.run_until("the hold is accepted", 5 * SECOND, |w| {
            w.call(callee, &leg).reinvites_done.len() == 1
        });
        let second = w.with_phone(callee, |p| p.dial("1003"));
        w.run_until("1003 answers 1002", 10 * SECOND, |w| {
            w.call(callee, &second).stage == Stage::Up
        });
        w.linger();
        w.with_phone(callee, |p| p.refer_replaces(&leg, &second, "1003"));
        w.run_until("both of 1002's calls end", 10 * SECOND, |w| {
            w.call(callee, &leg).bye_received && w.call(callee, &second).bye_received
        });
        w.run_for(SECOND);
        let up = w.call(caller, &call).stage == Stage::Up
            && w.phone(target)
                .last_call()
                .is_some_and(|c| c.stage == Stage::Up);
        w.check(up, || "the caller and 1003 are not both up".into());
        w.with_phone(caller, |p| p.hang_up(&call));
        w.run_until("1003 gets BYE", 10 * SECOND, |w| {
            w.phone(target).last_call().is_some_and(|c| c.bye_received)
        });
        w.finish(Expect {
            cdrs: &[HangupCause::NormalClearing; 3],
            agents: &[],
        });
    });
}
