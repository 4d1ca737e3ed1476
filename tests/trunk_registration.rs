//! The switch registering a trunk with its carrier, over loopback, with SIPp as the
//! carrier's registrar (`tests/sipp/uas_registrar.xml`): the first REGISTER is challenged,
//! the answer verified by SIPp and granted 4 s, so the refresh comes 2 s later and is
//! challenged and granted too. SIPp then is gone: the next refresh goes unanswered, the
//! transaction gives up (64·T1), the API shows the registration failed, and the retry 5 s
//! later reaches a new SIPp and registers again.
//!
//! ```text
//!  switch                        SIPp (carrier)
//!    | REGISTER ------------------>|  401, REGISTER + Authorization, 200 ;expires=4
//!    | REGISTER (2 s later) ------>|  401, REGISTER + Authorization, 200; SIPp exits
//!    | REGISTER (2 s later) --x    |  retransmitted until Timer F: "failed"
//!    | REGISTER (5 s later) ------>|  a new SIPp: registered again
//! ```
// Test harnesses are the IO side: they read the clock to bound waits.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::time::{Duration, Instant};

/// The registration of trunk `carrier` as `GET /api/v1/trunks` shows it.
fn registration(sw: &SwitchProcess) -> serde_json::Value {
    let (status, body) =
        http_request(sw.http, "GET", "/api/v1/trunks", Some(sw.cti_token()), None).unwrap();
    assert_eq!(status, 200, "{body}");
    let trunks: serde_json::Value = serde_json::from_str(&body).unwrap();
    let carrier = trunks
        .as_array()
        .and_then(|all| all.iter().find(|t| t["name"] == "carrier"))
        .unwrap_or_else(|| panic!("no trunk `carrier` in {trunks}"));
    assert_eq!(carrier["registers"], true, "{carrier}");
    carrier["registration"].clone()
}

/// Polls the API until the registration is in `state`, for at most `within`.
fn wait_for_state(sw: &SwitchProcess, state: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let now = registration(sw);
        if now["state"] == state {
            return now;
        }
        if Instant::now() > deadline {
            panic!(
                "registration still {now} after {within:?}, not {state}; log:\n{}",
                sw.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_trunk_registers_refreshes_fails_when_the_carrier_goes_away_and_registers_again() {
    let registrar_port = free_udp_port();
    // SIPp listens before the switch starts; a REGISTER sent earlier would be retransmitted
    // anyway.
    let first = Sipp::new("uas_registrar", registrar_port).spawn(None);
    let sw = SwitchProcess::start(SwitchOptions {
        // Timer F (64·T1) decides how soon an unanswered REGISTER counts as failed: 12.8 s.
        t1_ms: 200,
        extra_profile: format!(
            "[[trunks]]\nname = \"carrier\"\ngateways = [\"127.0.0.1:{registrar_port}\"]\n\
             max_channels = 4\nusername = \"trunk1\"\npassword = \"carrier-secret-for-tests\"\n\
             register = true\nregister_expires_secs = 60\n"
        ),
        ..SwitchOptions::default()
    });
    let started = Instant::now();

    // SIPp exits 0 once it verified two authenticated REGISTERs: the registration and its
    // refresh, 2 s after the 4 s binding began.
    first.expect_success();
    let registered = registration(&sw);
    assert_eq!(registered["state"], "registered", "{registered}");
    assert_eq!(registered["last_status"], 200, "{registered}");
    assert_eq!(
        registered["registrar"],
        format!("127.0.0.1:{registrar_port}")
    );
    let left = registered["expires_in_secs"].as_u64().unwrap_or(99);
    assert!(left <= 4, "the carrier granted 4 s: {registered}");

    // The carrier is gone: the next refresh is never answered.
    let failed = wait_for_state(&sw, "failed", Duration::from_secs(25));
    assert!(failed.get("last_status").is_none(), "no response: {failed}");
    let retry = failed["retry_in_secs"].as_u64().unwrap_or(99);
    assert!(retry <= 5, "the first retry waits 5 s: {failed}");

    // Back: the retry registers, and the refresh after it too.
    let second = Sipp::new("uas_registrar", registrar_port).spawn(None);
    second.expect_success();
    let again = wait_for_state(&sw, "registered", Duration::from_secs(5));
    assert_eq!(again["last_status"], 200, "{again}");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "{:?}",
        started.elapsed()
    );
    assert!(
        sw.log().contains("registered with the carrier"),
        "{}",
        sw.log()
    );
}
