//! Calls between extensions, no contact center involved: register, basic call, busy,
//! CANCEL, ring timeout, a callee ignoring CANCEL, no ACK, forking to two contacts, hold and
//! resume from the callee's phone, a hang-up while that hold is relayed, and re-INVITE
//! glare.
//!
//! ```text
//!  1001 ──INVITE (407, again with credentials)──▶ switch ──INVITE──▶ 1002 (or 1003's contacts)
//! ```

use std::time::Duration;

use super::invariants::Expect;
use super::over_seeds;
use super::phone::{Incoming, Stage};
use super::world::{PhoneId, World};
use crate::call::lab::phone;
use crate::store::{HangupCause, OrgSettings};

const SECOND: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A world with no queues, caller 1001 (not registered: callers need not be) and callee
/// 1002 registered, answering as `callee` says.
fn two_phones(seed: u64, callee: Incoming) -> (World, PhoneId, PhoneId) {
    let mut w = World::new(seed, OrgSettings::default(), Vec::new());
    let caller = w.add_phone("1001", phone("1001"), Incoming::Ring);
    let callee = w.registered_phone("1002", callee);
    (w, caller, callee)
}

/// 1001 dials 1002 and the call is answered: returns the caller's Call-ID once both legs'
/// media is established (the callee's by our ACK, the caller's by its own).
fn answered(w: &mut World, caller: PhoneId, callee: PhoneId) -> String {
    let call = w.with_phone(caller, |p| p.dial("1002"));
    w.run_until("the caller hears the answer", 10 * SECOND, |w| {
        w.call(caller, &call).stage == Stage::Up
            && w.phone(callee)
                .last_call()
                .is_some_and(|c| c.stage == Stage::Up)
    });
    w.run_until("both legs' media is established", 10 * SECOND, |w| {
        !w.media.bridges.is_empty()
            && w.media
                .bridges
                .keys()
                .all(|e| w.media.established.contains(e))
    });
    call
}

/// The caller hangs up the answered call: its BYE is answered and it all ends clean.
fn caller_hangs_up(w: &mut World, caller: PhoneId, call: &str) {
    w.with_phone(caller, |p| p.hang_up(call));
    w.run_until("the BYE is answered", 10 * SECOND, |w| {
        w.call(caller, call).bye_answered
    });
    ends(w, HangupCause::NormalClearing);
}

/// Nothing is left once every timer has run, and the one CDR says `cause`.
fn ends(w: &mut World, cause: HangupCause) {
    w.finish(Expect {
        cdrs: &[cause],
        agents: &[],
    });
}

#[test]
fn an_answered_call_hung_up_by_the_caller_ends_cleanly_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, callee) = two_phones(seed, Incoming::Answer(ms(400)));
        let call = answered(&mut w, caller, callee);
        w.run_for(ms(500 + seed * 7));
        w.with_phone(caller, |p| p.hang_up(&call));
        // The caller's BYE is answered once the CDR is written; the callee's BYE may be
        // lost and repeated.
        w.run_until("both BYEs are answered", 10 * SECOND, |w| {
            w.call(caller, &call).bye_answered
                && w.phone(callee).last_call().is_some_and(|c| c.bye_received)
        });
        ends(&mut w, HangupCause::NormalClearing);
    });
}

#[test]
fn a_busy_callee_ends_the_call_busy_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, _) = two_phones(seed, Incoming::Busy(ms(300)));
        let call = w.with_phone(caller, |p| p.dial("1002"));
        w.run_until("a final answer", 10 * SECOND, |w| {
            w.call(caller, &call).final_code.is_some()
        });
        let code = w.call(caller, &call).final_code;
        w.check(code == Some(486), || format!("answered {code:?}"));
        ends(&mut w, HangupCause::Busy);
    });
}

/// The caller gives up while it rings; `callee` answers the CANCEL as it says.
fn cancelled(seed: u64, callee: Incoming) {
    let (mut w, caller, _) = two_phones(seed, callee);
    let call = w.with_phone(caller, |p| p.dial("1002"));
    w.run_until("ringing", 10 * SECOND, |w| {
        w.call(caller, &call).stage == Stage::Early
    });
    w.run_for(ms(100 + seed * 5));
    w.with_phone(caller, |p| p.hang_up(&call));
    w.run_until("a final answer", 10 * SECOND, |w| {
        w.call(caller, &call).final_code.is_some()
    });
    let code = w.call(caller, &call).final_code;
    w.check(code == Some(487), || format!("answered {code:?}"));
    ends(&mut w, HangupCause::Cancelled);
}

#[test]
fn a_caller_who_cancels_while_it_rings_ends_the_call_cancelled_over_200_seeds() {
    over_seeds(|seed| cancelled(seed, Incoming::Ring));
}

/// RFC 3261 §9.1: the INVITE a CANCEL could not end is given up 64·T1 after the CANCEL.
#[test]
fn a_callee_that_ignores_cancel_leaves_nothing_behind_over_200_seeds() {
    over_seeds(|seed| cancelled(seed, Incoming::IgnoreCancel));
}

#[test]
fn a_callee_who_never_answers_ends_the_call_at_the_ring_timeout_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, _) = two_phones(seed, Incoming::Ring);
        let call = w.with_phone(caller, |p| p.dial("1002"));
        w.run_until("a final answer", 40 * SECOND, |w| {
            w.call(caller, &call).final_code.is_some()
        });
        let code = w.call(caller, &call).final_code;
        w.check(code.is_some_and(|c| c >= 400), || {
            format!("answered {code:?}")
        });
        ends(&mut w, HangupCause::NoAnswer);
    });
}

/// The switch repeats its 2xx for the ACK window (16·T1, not RFC 3261 §13.3.1.4's 64·T1:
/// see `call::admission`), then hangs up both legs; nothing was ever sent to the caller.
#[test]
fn a_caller_that_never_acks_is_hung_up_after_the_ack_window_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, _) = two_phones(seed, Incoming::Answer(ms(300)));
        w.phones[caller].acks = false;
        let dialled = w.now;
        let call = w.with_phone(caller, |p| p.dial("1002"));
        w.run_until("the 2xx is repeated", 10 * SECOND, |w| {
            w.call(caller, &call).oks >= 2
        });
        let bridged = w.media.bridges.len();
        let established = w
            .media
            .bridges
            .keys()
            .filter(|e| w.media.established.contains(e));
        let established = established.count();
        w.check(bridged == 2 && established == 1, || {
            format!("{established} of {bridged} bridged legs established before the ACK")
        });
        w.run_until("the switch hangs up", 60 * SECOND, |w| {
            w.call(caller, &call).bye_received
        });
        let after = w.now - dialled;
        // 16·T1 is 8 s after the 2xx; ringing, answering and the BYE's trip add a little.
        w.check(after < 12 * SECOND, || {
            format!("hung up only after {after:?}")
        });
        let oks = w.call(caller, &call).oks;
        w.check(oks >= 3, || format!("only {oks} 2xx"));
        ends(&mut w, HangupCause::RtpTimeout);
    });
}

/// A plain call's hold and resume from the callee's phone reach the caller as re-INVITEs,
/// each answered end to end.
#[test]
fn a_hold_and_resume_from_the_callee_reach_the_caller_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, callee) = two_phones(seed, Incoming::Answer(ms(300)));
        let call = answered(&mut w, caller, callee);
        let leg = w.phone(callee).last_call().expect("rung").call_id.clone();
        w.run_for(ms(300));
        w.with_phone(callee, |p| p.reinvite(&leg, "sendonly"));
        w.run_until("the hold is answered", 10 * SECOND, |w| {
            w.call(callee, &leg).reinvites_done.len() == 1
        });
        w.run_for(ms(500));
        w.with_phone(callee, |p| p.reinvite(&leg, "sendrecv"));
        w.run_until("the resume is answered", 10 * SECOND, |w| {
            w.call(callee, &leg).reinvites_done.len() == 2
        });
        let asked = w.call(caller, &call).reinvites_in.clone();
        w.check(asked == ["sendonly", "sendrecv"], || {
            format!("the caller was asked {asked:?}")
        });
        caller_hangs_up(&mut w, caller, &call);
    });
}

/// The caller hangs up while the callee's hold is still being relayed to it: the pending
/// re-INVITE is answered (RFC 3261 §15.1.2) and nothing is left behind.
#[test]
fn a_hang_up_during_a_relayed_hold_answers_the_hold_and_leaves_nothing_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, caller, callee) = two_phones(seed, Incoming::Answer(ms(300)));
        let call = answered(&mut w, caller, callee);
        let leg = w.phone(callee).last_call().expect("rung").call_id.clone();
        w.after(ms(300), "the callee holds", move |w| {
            w.with_phone(callee, |p| p.reinvite(&leg, "sendonly"));
        });
        let bye = call.clone();
        w.after(ms(seed * 3), "the caller hangs up", move |w| {
            w.with_phone(caller, |p| p.hang_up(&bye));
        });
        w.run_until("the BYE is answered", 10 * SECOND, |w| {
            w.call(caller, &call).bye_answered
        });
        ends(&mut w, HangupCause::NormalClearing);
    });
}

/// Both phones re-INVITE at once (RFC 3261 §14.1): the switch answers one offer 491 or
/// relays the phone's 491, each phone retries after its random wait, and both holds end up
/// accepted.
#[test]
fn re_invite_glare_is_answered_491_and_both_retries_succeed_over_200_seeds() {
    let mut glared = 0;
    over_seeds(|seed| {
        let (mut w, caller, callee) = two_phones(seed, Incoming::Answer(ms(300)));
        let call = answered(&mut w, caller, callee);
        let leg = w.phone(callee).last_call().expect("rung").call_id.clone();
        w.run_for(ms(200));
        let skew = w.millis(0..=20);
        let first = call.clone();
        w.with_phone(caller, |p| p.reinvite(&first, "sendonly"));
        let second = leg.clone();
        w.after(skew, "the callee re-INVITEs too", move |w| {
            w.with_phone(callee, |p| p.reinvite(&second, "sendonly"));
        });
        w.run_until("both offers accepted", 30 * SECOND, |w| {
            w.call(caller, &call).reinvites_done == ["sendonly"]
                && w.call(callee, &leg).reinvites_done == ["sendonly"]
        });
        glared += w.call(caller, &call).glare_received + w.call(callee, &leg).glare_received;
        caller_hangs_up(&mut w, caller, &call);
    });
    // Offers 0-20 ms apart over 1-50 ms of latency: most seeds collide.
    assert!(
        u64::from(glared) >= super::SEEDS / 2,
        "only {glared} 491s over all seeds"
    );
}

/// A phone registers with digest (401, then credentials) and then gets calls.
#[test]
fn a_phone_registers_with_digest_and_is_then_reachable_over_200_seeds() {
    over_seeds(|seed| {
        let mut w = World::new(seed, OrgSettings::default(), Vec::new());
        let caller = w.add_phone("1001", phone("1001"), Incoming::Ring);
        let callee = w.add_phone("1003", phone("1003"), Incoming::Answer(ms(200)));
        w.with_phone(callee, |p| p.register());
        w.run_until("registered", 10 * SECOND, |w| {
            w.phone(callee).registered.is_some()
        });
        let code = w.phone(callee).registered;
        w.check(code == Some(200), || format!("REGISTER answered {code:?}"));
        let call = w.with_phone(caller, |p| p.dial("1003"));
        w.run_until("answered", 10 * SECOND, |w| {
            w.call(caller, &call).stage == Stage::Up
        });
        w.run_for(ms(300));
        caller_hangs_up(&mut w, caller, &call);
    });
}

/// A user with two registered contacts: both ring, the first 2xx wins, the other is
/// cancelled (or, when its 2xx crossed the CANCEL, hung up).
#[test]
fn a_call_to_a_user_with_two_contacts_forks_and_the_first_answer_wins_over_200_seeds() {
    over_seeds(|seed| {
        let mut w = World::new(seed, OrgSettings::default(), Vec::new());
        let caller = w.add_phone("1001", phone("1001"), Incoming::Ring);
        let desk = w.millis(300..=800);
        let mobile = w.millis(300..=800);
        let first = w.add_phone("1003", phone("1003"), Incoming::Answer(desk));
        let second = w.add_phone(
            "1003",
            "127.0.0.1:12003".parse().unwrap(),
            Incoming::Answer(mobile),
        );
        for p in [first, second] {
            w.with_phone(p, |p| p.register());
        }
        w.run_until("both registered", 10 * SECOND, |w| {
            [first, second]
                .iter()
                .all(|p| w.phone(*p).registered == Some(200))
        });
        let call = w.with_phone(caller, |p| p.dial("1003"));
        w.run_until("answered", 10 * SECOND, |w| {
            w.call(caller, &call).stage == Stage::Up
        });
        w.run_for(ms(1000));
        let up: Vec<PhoneId> = [first, second]
            .into_iter()
            .filter(|p| {
                w.phone(*p)
                    .last_call()
                    .is_some_and(|c| c.stage == Stage::Up)
            })
            .collect();
        w.check(up.len() == 1, || {
            format!("{} contacts still talk", up.len())
        });
        caller_hangs_up(&mut w, caller, &call);
    });
}
