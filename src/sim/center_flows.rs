//! Queue calls through the contact center: answered, RONA, ring-all, hold, consult, warm
//! transfer, conference, blind transfer from the desktop and by REFER from the agent's
//! phone, attended transfer (REFER with Replaces) from the phone, and a recording paused
//! with Data Shield resuming it.
//!
//! ```text
//!  customer 1001 ──INVITE 7000──▶ switch ──Arrived──▶ center ──Offer──▶ switch ──INVITE──▶ agent phone
//! ```
//! Agents: alice at 1011, bob at 1012, carol at 1013; queue `sales` at 7000 rings an agent
//! for 8 s before RONA. Every connected call is recorded (the org default).

use std::time::Duration;

use super::desktop::Ask;
use super::invariants::Expect;
use super::over_seeds;
use super::phone::{Incoming, Stage};
use super::world::{PhoneId, World};
use crate::call::lab::phone;
use crate::center::{ConsultTarget, TransferTarget};
use crate::routing::model::Strategy;
use crate::store::{HangupCause, OrgSettings};

const SECOND: Duration = Duration::from_secs(1);

/// A contact center with queue `sales` (7000) using `strategy`, and the customer's phone.
fn contact_center(seed: u64, strategy: Strategy, settings: OrgSettings) -> (World, PhoneId) {
    let mut sales = crate::routing::test_harness::queue("sales", "7000");
    sales.strategy = strategy;
    sales.ring_timeout = 8 * SECOND;
    let mut w = World::new(seed, settings, vec![sales]);
    let customer = w.add_phone("1001", phone("1001"), Incoming::Ring);
    (w, customer)
}

/// `agent`'s phone at `extension`, registered, and the agent logged in and Available. The
/// phone answers after a seeded 200–1,500 ms unless `incoming` says otherwise.
fn agent(w: &mut World, agent: &str, extension: &str, incoming: Option<Incoming>) -> PhoneId {
    let answer = Incoming::Answer(w.millis(200..=1500));
    let phone = w.registered_phone(extension, incoming.unwrap_or(answer));
    w.log_in(agent, extension);
    phone
}

/// The customer calls the queue and `who` ends up talking to them: the customer's Call-ID.
fn connected_to(w: &mut World, customer: PhoneId, who: &str) -> String {
    let call = w.with_phone(customer, |p| p.dial("7000"));
    w.run_until(&format!("{who} talks to the customer"), 30 * SECOND, |w| {
        w.engaged_on(who).is_some() && w.call(customer, &call).stage == Stage::Up
    });
    call
}

/// The Call-ID of the latest call `phone` got or made.
fn last_call(w: &World, phone: PhoneId) -> String {
    w.phone(phone).last_call().expect("a call").call_id.clone()
}

/// Waits until `phone`'s latest call got a BYE.
fn hung_up(w: &mut World, phone: PhoneId, what: &str) {
    w.run_until(what, 10 * SECOND, |w| {
        w.phone(phone).last_call().is_some_and(|c| c.bye_received)
    });
}

/// `agent` ends the call from the desktop: both phones get BYE, and the agent wraps up.
fn end_from_desktop(w: &mut World, customer: PhoneId, agent: &str, agent_phone: PhoneId) {
    w.press(agent, Ask::End);
    hung_up(w, customer, "the customer gets BYE");
    hung_up(w, agent_phone, "the agent's phone gets BYE");
    let state = w.agent_state_name(agent);
    w.check(state == "wrap_up", || {
        format!("{agent} is {state} after the call")
    });
    w.wrap_up(agent);
}

/// The customer hangs up; the agent's phone gets BYE, and the agent wraps up.
fn customer_hangs_up(
    w: &mut World,
    customer: PhoneId,
    call: &str,
    agent: &str,
    agent_phone: PhoneId,
) {
    w.with_phone(customer, |p| p.hang_up(call));
    w.run_until("the customer's BYE is answered", 10 * SECOND, |w| {
        w.call(customer, call).bye_answered
    });
    hung_up(w, agent_phone, "the agent's phone gets BYE");
    w.run_until(&format!("{agent} wraps up"), 5 * SECOND, |w| {
        w.agent_state_name(agent) == "wrap_up"
    });
    w.wrap_up(agent);
}

/// Queue `sales` answered by alice (1011), who talks to the customer: the world, the
/// customer's phone, alice's phone and the customer's Call-ID.
fn alice_talks(seed: u64, settings: OrgSettings) -> (World, PhoneId, PhoneId, String) {
    let (mut w, customer) = contact_center(seed, Strategy::LongestIdle, settings);
    let alice = agent(&mut w, "alice", "1011", None);
    let call = connected_to(&mut w, customer, "alice");
    (w, customer, alice, call)
}

/// Alice handed the customer over: her phone gets BYE and she wraps up.
fn alice_wraps_up(w: &mut World, alice: PhoneId) {
    hung_up(w, alice, "alice's phone gets BYE");
    w.run_until("alice wraps up", 5 * SECOND, |w| {
        w.agent_state_name("alice") == "wrap_up"
    });
    w.wrap_up("alice");
}

/// Alice handed the customer to bob: she wraps up, bob talks until the customer hangs up,
/// and the call leaves one CDR and both agents Available.
fn bob_keeps_the_customer(
    w: &mut World,
    customer: PhoneId,
    call: &str,
    alice: PhoneId,
    bob: PhoneId,
) {
    alice_wraps_up(w, alice);
    w.run_until("bob owns the interaction", 5 * SECOND, |w| {
        w.engaged_on("bob").is_some()
    });
    w.linger();
    customer_hangs_up(w, customer, call, "bob", bob);
    w.finish(Expect {
        cdrs: &[HangupCause::NormalClearing],
        agents: &[("alice", "available"), ("bob", "available")],
    });
}

/// Alice takes the customer off hold.
fn resume(w: &mut World) {
    w.press("alice", Ask::Resume);
    w.run_until("the resume is published", 5 * SECOND, |w| {
        w.published("interaction.resumed") > 0
    });
}

/// `agent` (at `phone`) ends the call from the desktop and wraps up; it leaves one CDR,
/// and `agents` (`agent` among them) Available.
fn agent_ends(w: &mut World, customer: PhoneId, agent: &str, phone: PhoneId, agents: &[&str]) {
    end_from_desktop(w, customer, agent, phone);
    let states: Vec<(&str, &str)> = agents.iter().map(|a| (*a, "available")).collect();
    w.finish(Expect {
        cdrs: &[HangupCause::NormalClearing],
        agents: &states,
    });
}

#[test]
fn a_queue_call_is_answered_by_an_agent_and_ended_from_the_desktop_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer) = contact_center(seed, Strategy::LongestIdle, OrgSettings::default());
        let alice = agent(&mut w, "alice", "1011", None);
        let call = w.with_phone(customer, |p| p.dial("7000"));
        w.run_until("alice is offered the call", 10 * SECOND, |w| {
            w.agent_state_name("alice") == "reserved"
        });
        // Accepting on the desktop is news only: the phone's answer connects.
        if let Err(error) = w.accept("alice") {
            w.fail(&format!("alice's accept refused: {error}"));
        }
        w.run_until("alice talks to the customer", 10 * SECOND, |w| {
            w.engaged_on("alice").is_some() && w.call(customer, &call).stage == Stage::Up
        });
        let talk = w.millis(500..=3000);
        w.run_for(talk);
        agent_ends(&mut w, customer, "alice", alice, &["alice"]);
    });
}

/// Alice's phone never answers: after the ring timeout she is in RONA, the customer goes
/// back to the head of the queue and bob gets the call.
#[test]
fn an_unanswered_offer_puts_the_agent_in_rona_and_the_next_agent_gets_the_call_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer) = contact_center(seed, Strategy::LongestIdle, OrgSettings::default());
        let alice = agent(&mut w, "alice", "1011", Some(Incoming::Ring));
        // Alice has been idle longest, so she is offered first.
        w.run_for(SECOND);
        let bob = agent(&mut w, "bob", "1012", None);
        let call = connected_to(&mut w, customer, "bob");
        let state = w.agent_state_name("alice");
        w.check(state == "rona", || format!("alice is {state}"));
        // The CANCEL may be lost and repeated.
        w.run_until("alice's phone stops ringing", 10 * SECOND, |w| {
            w.phone(alice)
                .last_call()
                .is_some_and(|c| c.final_code.is_some())
        });
        let rung = w.phone(alice).last_call().and_then(|c| c.final_code);
        w.check(rung == Some(487), || {
            format!("alice's phone ended {rung:?}")
        });
        w.linger();
        customer_hangs_up(&mut w, customer, &call, "bob", bob);
        w.finish(Expect {
            cdrs: &[HangupCause::NormalClearing],
            agents: &[("alice", "rona"), ("bob", "available")],
        });
    });
}

/// Ring-all rings every Available agent; the first phone to answer wins and the others
/// stop ringing (CANCEL, or BYE when their 2xx crossed it).
#[test]
fn ring_all_rings_every_agent_and_the_first_answer_wins_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer) = contact_center(seed, Strategy::RingAll, OrgSettings::default());
        let agents = [("alice", "1011"), ("bob", "1012"), ("carol", "1013")];
        let phones: Vec<PhoneId> = agents
            .iter()
            .map(|(a, e)| agent(&mut w, a, e, None))
            .collect();
        let call = w.with_phone(customer, |p| p.dial("7000"));
        w.run_until("an agent talks to the customer", 30 * SECOND, |w| {
            w.call(customer, &call).stage == Stage::Up
                && agents.iter().any(|(a, _)| w.engaged_on(a).is_some())
        });
        let engaged: Vec<usize> = (0..3)
            .filter(|i| w.engaged_on(agents[*i].0).is_some())
            .collect();
        w.check(engaged.len() == 1, || {
            format!("{} agents engaged", engaged.len())
        });
        let winner = engaged[0];
        // A loser whose 2xx crossed the CANCEL is hung up; the BYE may be lost and repeated.
        w.run_until("only the winner's phone is up", 10 * SECOND, |w| {
            phones.iter().enumerate().all(|(i, phone)| {
                let up = w
                    .phone(*phone)
                    .last_call()
                    .is_some_and(|c| c.stage == Stage::Up);
                up == (i == winner)
            })
        });
        let names = agents.map(|(a, _)| a);
        agent_ends(&mut w, customer, names[winner], phones[winner], &names);
    });
}

/// Hold from the desktop puts the customer on music (the end button is refused meanwhile);
/// resume bridges them again.
#[test]
fn hold_and_resume_from_the_desktop_play_music_to_the_customer_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, _) = alice_talks(seed, OrgSettings::default());
        w.linger();
        w.press("alice", Ask::Hold);
        w.run_until("the hold is published", 5 * SECOND, |w| {
            w.published("interaction.held") == 1
        });
        w.check(!w.media.music.is_empty(), || "nobody hears music".into());
        let refused = w.ask("alice", Ask::End);
        w.check(refused.is_err(), || {
            "ending a held call was accepted".into()
        });
        w.linger();
        resume(&mut w);
        w.check(w.media.music.is_empty(), || "music still plays".into());
        agent_ends(&mut w, customer, "alice", alice, &["alice"]);
    });
}

/// Alice consults bob, who answers; the customer waits on music.
fn consulting(seed: u64) -> (World, PhoneId, PhoneId, PhoneId, String) {
    let (mut w, customer, alice, call) = alice_talks(seed, OrgSettings::default());
    let bob = agent(&mut w, "bob", "1012", None);
    w.linger();
    w.press("alice", Ask::Consult(ConsultTarget::Agent("bob".into())));
    w.run_until("bob's phone rings", 10 * SECOND, |w| {
        w.phone(bob).last_call().is_some()
    });
    // The customer hears music, alice the ringing tone.
    let playing = w.media.music.len();
    w.check(playing == 2, || format!("{playing} endpoints play"));
    w.run_until("bob answers the consult", 10 * SECOND, |w| {
        w.published("consult.answered") > 0 && w.engaged_on("bob").is_some()
    });
    let playing = w.media.music.len();
    w.check(playing == 1, || format!("{playing} play once bob answered"));
    w.linger();
    (w, customer, alice, bob, call)
}

#[test]
fn a_consult_the_agent_ends_leaves_the_customer_held_with_the_first_agent_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, bob, _) = consulting(seed);
        w.press("alice", Ask::ConsultEnd);
        hung_up(&mut w, bob, "bob's phone gets BYE");
        w.run_until("bob is available again", 5 * SECOND, |w| {
            w.agent_state_name("bob") == "available"
        });
        resume(&mut w);
        agent_ends(&mut w, customer, "alice", alice, &["alice", "bob"]);
    });
}

#[test]
fn a_warm_transfer_hands_the_customer_to_the_consulted_agent_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, bob, call) = consulting(seed);
        w.press("alice", Ask::ConsultTransfer);
        bob_keeps_the_customer(&mut w, customer, &call, alice, bob);
    });
}

#[test]
fn a_conference_mixes_all_three_and_the_consulting_agent_ends_it_for_everyone_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, bob, _) = consulting(seed);
        conference(&mut w);
        w.press("alice", Ask::End);
        for (phone, who) in [(customer, "the customer"), (bob, "bob")] {
            hung_up(&mut w, phone, &format!("{who}'s phone gets BYE"));
        }
        alice_wraps_up(&mut w, alice);
        // The consulted agent's part ends without a wrap-up of its own.
        w.run_until("bob is available again", 5 * SECOND, |w| {
            w.agent_state_name("bob") == "available"
        });
        w.finish(Expect {
            cdrs: &[HangupCause::NormalClearing],
            agents: &[("alice", "available"), ("bob", "available")],
        });
    });
}

/// Alice joins the consult to the customer: all three are mixed.
fn conference(w: &mut World) {
    w.press("alice", Ask::Conference);
    w.run_until("the conference starts", 5 * SECOND, |w| {
        w.published("conference.started") > 0
    });
    let mixed = w.media.mixed.len();
    w.check(mixed == 3, || format!("{mixed} endpoints mixed"));
    w.linger();
}

/// The consulting agent leaves the conference: the consulted agent keeps the customer.
#[test]
fn the_consulting_agent_leaving_a_conference_hands_the_customer_over_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, bob, call) = consulting(seed);
        conference(&mut w);
        w.press("alice", Ask::Leave);
        w.run_until("the mix ends", 5 * SECOND, |w| w.media.mixed.is_empty());
        bob_keeps_the_customer(&mut w, customer, &call, alice, bob);
    });
}

/// The consulted agent's phone declines: the consult fails, bob stays Available, and alice
/// takes the customer off hold.
#[test]
fn a_declined_consult_fails_and_the_agent_resumes_the_customer_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, _) = alice_talks(seed, OrgSettings::default());
        let refuse = Incoming::Decline(w.millis(200..=1500));
        let bob = agent(&mut w, "bob", "1012", Some(refuse));
        w.linger();
        w.press("alice", Ask::Consult(ConsultTarget::Agent("bob".into())));
        w.run_until("the consult fails", 10 * SECOND, |w| {
            w.published("consult.failed") > 0
        });
        let playing = w.media.music.len();
        w.check(playing == 1, || {
            format!("{playing} endpoints play: alice's ringing tone must stop")
        });
        let rung = w.phone(bob).last_call().and_then(|c| c.final_code);
        w.check(rung == Some(603), || format!("bob's phone ended {rung:?}"));
        w.run_until("bob is available again", 5 * SECOND, |w| {
            w.agent_state_name("bob") == "available"
        });
        resume(&mut w);
        agent_ends(&mut w, customer, "alice", alice, &["alice", "bob"]);
    });
}

#[test]
fn a_blind_transfer_from_the_desktop_connects_the_customer_to_another_agent_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, call) = alice_talks(seed, OrgSettings::default());
        let bob = agent(&mut w, "bob", "1012", None);
        w.linger();
        w.press("alice", Ask::Transfer(TransferTarget::Agent("bob".into())));
        w.run_until("bob's phone talks", 10 * SECOND, |w| {
            w.phone(bob)
                .last_call()
                .is_some_and(|c| c.stage == Stage::Up)
        });
        bob_keeps_the_customer(&mut w, customer, &call, alice, bob);
    });
}

/// The agent's phone sends REFER: 202, NOTIFYs ending in 200, the customer is rung at the
/// number and talks there; the agent wraps up.
#[test]
fn a_refer_from_the_agents_phone_transfers_the_customer_to_a_number_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, call) = alice_talks(seed, OrgSettings::default());
        let answer = w.millis(200..=1500);
        let target = w.registered_phone("1013", Incoming::Answer(answer));
        w.linger();
        let leg = last_call(&w, alice);
        w.with_phone(alice, |p| p.refer(&leg, "1013"));
        w.run_until("the REFER is accepted", 5 * SECOND, |w| {
            w.call(alice, &leg).refer_answer.is_some()
        });
        let answer = w.call(alice, &leg).refer_answer;
        w.check(answer == Some(202), || format!("REFER answered {answer:?}"));
        w.run_until(
            "the phone is told the transfer succeeded",
            10 * SECOND,
            |w| w.call(alice, &leg).notified().last().map(String::as_str) == Some("SIP/2.0 200 OK"),
        );
        w.run_until("the number talks to the customer", 10 * SECOND, |w| {
            w.phone(target)
                .last_call()
                .is_some_and(|c| c.stage == Stage::Up)
        });
        alice_wraps_up(&mut w, alice);
        w.linger();
        w.with_phone(customer, |p| p.hang_up(&call));
        hung_up(&mut w, target, "the number's phone gets BYE");
        w.finish(Expect {
            cdrs: &[HangupCause::NormalClearing],
            agents: &[("alice", "available")],
        });
    });
}

/// Attended transfer from the agent's phone (RFC 3891): it holds the customer, calls bob's
/// extension, then REFERs the customer's call with Replaces naming that call. The switch
/// splices bob's leg into the customer's call and bob owns the interaction. Alice's call
/// to bob has its own CDR.
#[test]
fn an_attended_transfer_from_the_agents_phone_hands_the_customer_over_over_200_seeds() {
    over_seeds(|seed| {
        let (mut w, customer, alice, call) = alice_talks(seed, OrgSettings::default());
        let bob = agent(&mut w, "bob", "1012", None);
        let leg = last_call(&w, alice);
        w.linger();
        w.with_phone(alice, |p| p.reinvite(&leg, "sendonly"));
        w.run_until("the phone's hold is accepted", 5 * SECOND, |w| {
            w.call(alice, &leg).reinvites_done.len() == 1
        });
        let second = w.with_phone(alice, |p| p.dial("1012"));
        w.run_until("bob answers alice's call", 10 * SECOND, |w| {
            w.call(alice, &second).stage == Stage::Up
        });
        w.linger();
        w.with_phone(alice, |p| p.refer_replaces(&leg, &second, "1012"));
        w.run_until("both of alice's calls end", 10 * SECOND, |w| {
            w.call(alice, &leg).bye_received && w.call(alice, &second).bye_received
        });
        alice_wraps_up(&mut w, alice);
        w.run_until("bob owns the interaction", 5 * SECOND, |w| {
            w.engaged_on("bob").is_some()
        });
        w.linger();
        customer_hangs_up(&mut w, customer, &call, "bob", bob);
        w.finish(Expect {
            cdrs: &[HangupCause::NormalClearing, HangupCause::NormalClearing],
            agents: &[("alice", "available"), ("bob", "available")],
        });
    });
}

/// Pauses the recording once it has started: `then` says how the pause ends; the
/// recording's history must read `expected`.
fn paused_recording(
    seed: u64,
    settings: OrgSettings,
    then: impl FnOnce(&mut World),
    expected: [&str; 4],
) {
    let (mut w, customer, alice, _) = alice_talks(seed, settings);
    w.run_until("the recording starts", 5 * SECOND, |w| {
        w.published("recording.started") == 1
    });
    w.linger();
    w.press("alice", Ask::PauseRecording);
    then(&mut w);
    w.linger();
    agent_ends(&mut w, customer, "alice", alice, &["alice"]);
    let log: Vec<_> = w.media.log.values().cloned().collect();
    w.check(log == [expected.to_vec()], || {
        format!("recordings went {log:?}")
    });
}

/// Data Shield: a paused recording resumes by itself when the pause runs out.
#[test]
fn a_paused_recording_resumes_by_itself_when_data_shield_runs_out_over_200_seeds() {
    over_seeds(|seed| {
        let settings = OrgSettings {
            data_shield: true,
            data_shield_pause_seconds: 5,
            ..OrgSettings::default()
        };
        let shield = |w: &mut World| {
            w.run_for(4 * SECOND);
            w.check(w.published("recording.resumed") == 0, || {
                "resumed early".into()
            });
            w.run_until("Data Shield resumes it", 2 * SECOND, |w| {
                w.published("recording.resumed") == 1
            });
        };
        paused_recording(
            seed,
            settings,
            shield,
            ["started", "paused", "auto-resumed", "stopped"],
        );
    });
}

/// A pause the agent ends before Data Shield does: resumed once, by the agent.
#[test]
fn a_recording_paused_and_resumed_by_the_agent_is_not_resumed_again_over_200_seeds() {
    over_seeds(|seed| {
        let by_hand = |w: &mut World| {
            w.linger();
            w.press("alice", Ask::ResumeRecording);
            // Past the default 60 s of Data Shield: its timer was cancelled.
            w.run_for(Duration::from_secs(61));
        };
        let expected = ["started", "paused", "resumed", "stopped"];
        paused_recording(seed, OrgSettings::default(), by_hand, expected);
    });
}
