//! SIP over TLS against a real phone: pjsua2 registers over TLS (digest auth) trusting only
//! a CA made for this test, calls a UDP phone and is called by it, with RTP counted at both
//! ends and BYE in both directions. The switch reaches the TLS phone only over the
//! connection it registered on, and its Contact says `;transport=tls` on the TLS port, so
//! the phone's own in-dialog requests come back over TLS too.
//!
//! ```text
//!  1000 (TLS)        switch          1001 (UDP)
//!     |--REGISTER/401/REGISTER-->|        |
//!     |--INVITE 1001------------>|--INVITE->|   call 1: the TLS phone calls, then hangs up
//!     |<=========RTP============>|<==RTP==>|
//!     |--BYE-------------------->|--BYE--->|
//!     |<-INVITE 1000 (its conn.)-|<-INVITE-|   call 2: the UDP phone calls, then hangs up
//!     |<=========RTP============>|<==RTP==>|
//!     |<-BYE---------------------|<-BYE----|
//! ```

mod common;

#[path = "common/test_ca.rs"]
mod test_ca;

use common::phone::PjPhone;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use test_ca::TestCa;

/// A switch with `[sip.tls]` on a port of its own, its certificate signed by `ca`.
fn switch_with_tls(ca: &TestCa) -> (SwitchProcess, SocketAddr) {
    static N: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchboard-sip-tls-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = ca.write_server(&dir);
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sw = SwitchProcess::start(SwitchOptions {
        extra_profile: format!(
            "[sip.tls]\nlisten = \"{tls}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        ..SwitchOptions::default()
    });
    (sw, tls)
}

fn assert_audio(phone: &mut PjPhone, who: &str) {
    let received = phone.rtp_received();
    // Two seconds of 20 ms packets are 100; allow for the first answer's slack.
    assert!(received > 40, "{who} received {received} RTP packets");
}

#[test]
fn a_tls_phone_registers_calls_and_is_called_with_audio_and_bye_both_ways() {
    let ca = TestCa::new("switchboard sip test CA");
    let (sw, tls) = switch_with_tls(&ca);
    let ca_file = sw.dir.join("trusted-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();

    let mut secure = PjPhone::start_tls(&sw, "1000", tls, &ca_file);
    secure.expect("registered");
    let mut plain = PjPhone::start(&sw, "1001", "");

    secure.send("call 1001");
    plain.expect("answered");
    secure.expect("call_answered");
    std::thread::sleep(Duration::from_secs(2));
    assert_audio(&mut plain, "the UDP phone, called from TLS");
    assert_audio(&mut secure, "the TLS phone, calling");
    secure.send("hangup");
    plain.expect("disconnected");
    secure.expect("disconnected");

    // The switch must open nothing: the INVITE and the BYE go over 1000's registration.
    plain.send("call 1000");
    secure.expect("answered");
    plain.expect("call_answered");
    std::thread::sleep(Duration::from_secs(2));
    assert_audio(&mut secure, "the TLS phone, called");
    assert_audio(&mut plain, "the UDP phone, calling TLS");
    plain.send("hangup");
    secure.expect("disconnected");
    plain.expect("disconnected");

    let log = sw.log();
    assert!(
        !log.contains("no tls connection to send on"),
        "every request to the TLS phone went over its connection"
    );
    secure.send("quit");
    plain.send("quit");
    secure.expect_success();
    plain.expect_success();
}

#[test]
fn a_phone_that_trusts_another_ca_refuses_the_switch() {
    let ca = TestCa::new("switchboard sip test CA");
    let (sw, tls) = switch_with_tls(&ca);
    let stranger = TestCa::new("some other CA");
    let ca_file = sw.dir.join("wrong-ca.pem");
    std::fs::write(&ca_file, &stranger.pem).unwrap();
    let mut phone = PjPhone::start_tls(&sw, "1002", tls, &ca_file);
    phone.expect("registration_failed");
}
