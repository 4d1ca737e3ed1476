//! Registration and calls through a real switch process, driven by SIPp over loopback: the
//! interop tests. Flows the virtual-time simulation runs over 200 seeds each with packet
//! loss, duplication and reordering (`src/sim/`) are kept here only where SIPp's own
//! behaviour adds something (CANCEL, glare, TCP, real RTP); a busy callee, forking to a
//! second contact and a caller that never ACKs are proven there instead.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::time::{Duration, Instant};

#[test]
fn register_refuses_a_wrong_password_accepts_the_right_one_and_unregisters() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let port = free_udp_port();
    // Wrong password: the second REGISTER is challenged again, never accepted.
    Sipp::new("register_refused", port)
        .arg("-s")
        .arg("1001")
        .arg("-au")
        .arg("1001")
        .arg("-ap")
        .arg("not-the-password")
        .key("expires", "300")
        .run(sw.sip);
    // An unknown user gets exactly the same answer.
    Sipp::new("register_refused", port)
        .arg("-s")
        .arg("7777")
        .arg("-au")
        .arg("7777")
        .arg("-ap")
        .arg("whatever")
        .key("expires", "300")
        .run(sw.sip);
    register(&sw, "1001", port);
    // Unregister with Expires: 0.
    Sipp::new("register", port)
        .arg("-s")
        .arg("1001")
        .auth("1001")
        .key("expires", "0")
        .run(sw.sip);
    // With no binding left, a call to 1001 gets 480.
    Sipp::new("uac_expect_480", free_udp_port())
        .arg("-s")
        .arg("1001")
        .auth("1000")
        .run(sw.sip);
}

/// Starts the callee's SIPp on the port it registered from.
fn callee(sw: &SwitchProcess, scenario: &str, user: &str) -> (SippRun, u16, u16) {
    let port = free_udp_port();
    register(sw, user, port);
    let media = port_block(4);
    let run = Sipp::new(scenario, port)
        .media(media)
        .arg("-d")
        .arg("2000")
        .spawn(None);
    std::thread::sleep(Duration::from_millis(300));
    (run, port, media)
}

/// SIPp 1000 calls SIPp 1001, they talk for `talk_ms`; RTP packets the callee and the caller
/// received.
fn talk(sw: &SwitchProcess, talk_ms: u32) -> (usize, usize) {
    let (uas, _, callee_media) = callee(sw, "uas_answer", "1001");
    let caller_media = port_block(4);
    let capture = Capture::start(&[caller_media, callee_media]);
    Sipp::new("uac_call", free_udp_port())
        .arg("-s")
        .arg("1001")
        .auth("1000")
        .media(caller_media)
        .arg("-d")
        .arg(&talk_ms.to_string())
        .run(sw.sip);
    uas.expect_success();
    let counts = capture.stop();
    (counts[&callee_media], counts[&caller_media])
}

#[test]
fn a_call_between_two_sipp_phones_connects_with_rtp_both_ways_and_leaves_a_cdr() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let (callee_received, caller_received) = talk(&sw, 4000);
    // g711a.pcap is 236 packets over 7 s; 4 s of talk carries well over 100 each way.
    assert!(callee_received >= 100, "callee received {callee_received}");
    assert!(caller_received >= 100, "caller received {caller_received}");
    let page = sw.wait_for_cdrs(1);
    let cdr = &page["items"][0];
    assert_eq!(cdr["caller"], "1000");
    assert_eq!(cdr["callee"], "1001");
    assert_eq!(cdr["hangup_cause"], "normal_clearing");
    assert_eq!(cdr["hangup_side"], "caller");
    assert_eq!(cdr["sip_code"], 200);
    assert!(cdr["duration_ms"].as_u64().unwrap() >= 3000, "{cdr}");
    assert_eq!(cdr["legs"].as_array().unwrap().len(), 2);
}

#[test]
fn cancel_before_answer_gives_the_caller_487_and_cancels_the_callee() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let (uas, _, _) = callee(&sw, "uas_ring_until_cancel", "1002");
    Sipp::new("uac_cancel", free_udp_port())
        .arg("-s")
        .arg("1002")
        .auth("1000")
        .run(sw.sip);
    uas.expect_success();
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["hangup_cause"], "cancelled");
    assert_eq!(cdr["sip_code"], 487);
}

#[test]
fn unknown_numbers_get_404() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    Sipp::new("uac_expect_404", free_udp_port())
        .arg("-s")
        .arg("5555")
        .auth("1000")
        .run(sw.sip);
}

/// Both phones re-INVITE at once: the switch, still relaying the caller's offer, answers the
/// callee's 491, relays the callee's own 491 back to the caller, and relays each retry
/// (RFC 3261 §14.1: retrying is the phones' job; the switch never re-offers on its own).
/// The scenarios fail on any other order; the caller's audio reaches the callee throughout.
#[test]
fn reinvite_glare_gets_491_on_both_sides_and_both_retries_go_through() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let (uas, _, callee_media) = callee(&sw, "uas_answer_glare", "1001");
    let caller_media = port_block(4);
    let capture = Capture::start(&[callee_media]);
    Sipp::new("uac_reinvite_glare", free_udp_port())
        .arg("-s")
        .arg("1001")
        .auth("1000")
        .media(caller_media)
        .arg("-d")
        .arg("1000")
        .run(sw.sip);
    uas.expect_success();
    let counts = capture.stop();
    // About 3.5 s of the caller's pcap (50 packets a second) across both offers.
    assert!(counts[&callee_media] >= 100, "callee received {counts:?}");
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["hangup_cause"], "normal_clearing");
    assert_eq!(cdr["hangup_side"], "caller");
}

#[test]
fn a_bye_from_the_callee_ends_the_call_on_both_legs() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let (uas, _, _) = callee(&sw, "uas_answer_then_hang_up", "1004");
    Sipp::new("uac_callee_hangs_up", free_udp_port())
        .arg("-s")
        .arg("1004")
        .auth("1000")
        .run(sw.sip);
    uas.expect_success();
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["hangup_side"], "callee");
    assert_eq!(cdr["hangup_cause"], "normal_clearing");
}

#[test]
fn rtp_inactivity_ends_the_call_with_bye_on_both_legs() {
    let sw = SwitchProcess::start(SwitchOptions {
        rtp_timeout_secs: 2,
        ..SwitchOptions::default()
    });
    let (uas, _, _) = callee(&sw, "uas_answer_silent", "1007");
    Sipp::new("uac_callee_hangs_up", free_udp_port())
        .arg("-s")
        .arg("1007")
        .auth("1000")
        .run(sw.sip);
    uas.expect_success();
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["hangup_cause"], "rtp_timeout");
    assert_eq!(cdr["hangup_side"], "switch");
}

#[test]
fn a_call_over_tcp_connects_both_legs() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let callee_port = free_port();
    Sipp::new("register", callee_port)
        .tcp()
        .arg("-s")
        .arg("1008")
        .auth("1008")
        .key("expires", "300")
        .run(sw.sip);
    let uas = Sipp::new("uas_answer", callee_port)
        .tcp()
        .media(port_block(4))
        .spawn(None);
    std::thread::sleep(Duration::from_millis(300));
    Sipp::new("uac_call", free_port())
        .tcp()
        .arg("-s")
        .arg("1008")
        .auth("1000")
        .arg("-d")
        .arg("500")
        .run(sw.sip);
    uas.expect_success();
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["hangup_cause"], "normal_clearing");
}

/// A phone registered over TCP is gone (its connection closed, nothing listens at its
/// address): the connection the switch opens to ring it is refused, and the call fails at
/// once (RFC 3261 §17.1.4) rather than when Timer B fires 32 s later.
#[test]
fn a_call_to_a_tcp_phone_that_is_gone_fails_at_once() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let gone = free_port();
    Sipp::new("register", gone)
        .tcp()
        .arg("-s")
        .arg("1009")
        .auth("1009")
        .key("expires", "300")
        .run(sw.sip);
    let started = Instant::now();
    Sipp::new("uac_expect_408", free_udp_port())
        .arg("-s")
        .arg("1009")
        .auth("1000")
        .run(sw.sip);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "the caller waited {waited:?} for its answer"
    );
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["legs"][1]["final_code"], 408, "{cdr}");
}

/// Another process holds most of the switch's media ports: calls draw the free pairs instead
/// of failing on a held one (before, a call that drew a held pair was ended with 503).
#[test]
fn calls_skip_media_ports_another_process_holds() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let (first, count) = sw.rtp_range;
    // Every pair's RTP port but the first two pairs': one call's two legs fit.
    let held: Vec<std::net::UdpSocket> = (first..first + count)
        .step_by(2)
        .skip(2)
        .map(|port| {
            std::net::UdpSocket::bind(("127.0.0.1", port)).expect("port in the test's block")
        })
        .collect();
    assert!(held.len() >= 10, "{} pairs held", held.len());
    for call in 0..3 {
        let (callee_received, caller_received) = talk(&sw, 1000);
        assert!(
            callee_received >= 20,
            "call {call}: callee received {callee_received}"
        );
        assert!(
            caller_received >= 20,
            "call {call}: caller received {caller_received}"
        );
    }
    assert!(
        !sw.log().contains("cannot bind media ports"),
        "no endpoint was handed a held pair"
    );
    drop(held);
}

#[test]
fn a_switch_at_max_calls_answers_another_invite_with_503_and_takes_calls_again_once_one_ends() {
    let sw = SwitchProcess::start(SwitchOptions {
        max_calls: Some(1),
        ..SwitchOptions::default()
    });
    let (uas, _, _) = callee(&sw, "uas_answer", "1001");
    let first = Sipp::new("uac_call", free_udp_port())
        .arg("-s")
        .arg("1001")
        .arg("-d")
        .arg("4000")
        .auth("1000")
        .spawn(Some(sw.sip));
    std::thread::sleep(Duration::from_millis(1500));
    // The profile allows one call and it is up: the next INVITE is refused before any
    // challenge.
    Sipp::new("uac_expect_503", free_udp_port())
        .arg("-s")
        .arg("1002")
        .key("caller", "1003")
        .run(sw.sip);
    first.expect_success();
    uas.expect_success();
    // The limit counts live calls, not calls ever made.
    let (uas, _, _) = callee(&sw, "uas_answer", "1001");
    Sipp::new("uac_call", free_udp_port())
        .arg("-s")
        .arg("1001")
        .auth("1000")
        .run(sw.sip);
    uas.expect_success();
}
