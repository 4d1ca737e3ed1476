//! SIP over TLS with SRTP against a real phone: pjsua2 registers over TLS (digest auth)
//! trusting only a CA made for this test and insisting on SRTP with SDES keys, calls a UDP
//! phone and is called by it, with SRTP-authenticated RTP counted at both ends and BYE in
//! both directions. A TLS phone is offered SRTP (`call::srtp_policy`); one that cannot do it
//! needs `media.srtp = "off"`. The switch reaches the TLS phone only over the connection it
//! registered on, and its Contact says `;transport=tls` on the TLS port, so
//! the phone's own in-dialog requests come back over TLS too.
//!
//! ```text
//!  1003 (TLS, SRTP)  switch          1004 (UDP, RTP)
//!     |--REGISTER/401/REGISTER-->|        |
//!     |--INVITE 1004------------>|--INVITE->|   call 1: the TLS phone calls, then hangs up
//!     |<=========SRTP===========>|<==RTP==>|
//!     |--BYE-------------------->|--BYE--->|
//!     |<-INVITE 1003 (its conn.)-|<-INVITE-|   call 2: the UDP phone calls, then hangs up
//!     |<=========SRTP===========>|<==RTP==>|
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

/// Issue 16's TLS+SRTP call: a pjsua2 phone over TLS that insists on SRTP (mandatory, SDES
/// keys only over secure signalling, PJSIP's default) registers with digest auth, calls a
/// plain UDP phone and is called by it, each call hung up by its caller (so BYE travels both
/// ways over TLS). The switch answers its RTP/SAVP offer with its own key and offers RTP/SAVP to it
/// as a callee (it registered over TLS); a phone that insists on SRTP refuses anything else,
/// so each answered call proves the SDP, and the packets it counts passed SRTP
/// authentication. The UDP phone hears plain RTP re-encrypted by the switch, both ways.
#[test]
fn a_tls_phone_insisting_on_srtp_calls_and_is_called_with_audio_both_ways() {
    let ca = TestCa::new("switchboard srtp test CA");
    let (sw, tls) = switch_with_tls(&ca);
    let ca_file = sw.dir.join("trusted-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();

    let mut secure = PjPhone::start_tls(&sw, "1003", tls, &ca_file, &["--srtp"]);
    secure.expect("registered");
    let mut plain = PjPhone::start(&sw, "1004", "");

    for (caller, callee) in [("secure", "plain"), ("plain", "secure")] {
        let (from, to, number) = if caller == "secure" {
            (&mut secure, &mut plain, "1004")
        } else {
            (&mut plain, &mut secure, "1003")
        };
        from.send(&format!("call {number}"));
        to.expect("answered");
        from.expect("call_answered");
        std::thread::sleep(Duration::from_secs(2));
        for (phone, who) in [(&mut *from, caller), (&mut *to, callee)] {
            let (received, sent) = phone.rtp_stats();
            assert!(
                received > 40 && sent > 40,
                "the {who} phone, {caller} calling: received {received}, sent {sent}"
            );
        }
        from.send("hangup");
        to.expect("disconnected");
    }
    let log = sw.log();
    assert!(!log.contains("sdes_refused"), "no SDES offer was refused");
    // The switch opened nothing: the INVITE and the BYE of the second call went over the
    // TLS phone's registration.
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
    let mut phone = PjPhone::start_tls(&sw, "1002", tls, &ca_file, &[]);
    phone.expect("registration_failed");
}
