//! Trunk gateways over TCP and TLS (issue 15 item 1): the switch opens the connection
//! itself, one per gateway, and offers the gateway only its trunk's codecs. The TCP gateway
//! is SIPp in TCP server mode; the TLS gateway is pjsua2 presenting a certificate from a CA
//! made for the test, which the trunk's `tls_ca` names.
//!
//! ```text
//!  1000 (SIPp, UDP)        switch                    gateway (TCP: SIPp; TLS: pjsua2)
//!     |--INVITE 0123456789-->|                          |
//!     |<-407 / INVITE+auth-->|--TCP or TLS connect----->|
//!     |                      |--INVITE +33123456789---->|  offer: the trunk's codecs only
//!     |<--------200----------|<--------200--------------|
//!     |<=========RTP========>|<=========RTP============>|  PCMU one side, PCMA the other
//!     |--BYE---------------->|--BYE (same connection)-->|
//! ```

use super::common::phone::PjPhone;
use super::common::*;
use super::test_ca::TestCa;
use std::time::Duration;

/// A switch whose every external number goes out through one trunk with `settings` (the
/// `[[trunks]]` lines after its name).
fn switch_with_trunk(settings: &str) -> SwitchProcess {
    SwitchProcess::start(SwitchOptions {
        extra_profile: format!(
            "[[trunks]]\nname = \"carrier\"\n{settings}\n\n[dialing]\n\
             [[dialing.routes]]\nprefix = \"+\"\ntrunks = [\"carrier\"]\n"
        ),
        ..SwitchOptions::default()
    })
}

/// The CDR legs' codecs, caller's first.
fn leg_codecs(cdr: &serde_json::Value) -> Vec<String> {
    cdr["legs"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|leg| leg["codec"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_tcp_trunk_reaches_its_gateway_over_a_connection_the_switch_opens_with_the_trunks_codec() {
    let gateway = free_port();
    let sw = switch_with_trunk(&format!(
        "gateways = [\"127.0.0.1:{gateway}\"]\ntransport = \"tcp\"\ncodecs = [\"PCMA\"]"
    ));
    let gateway_media = port_block(4);
    let answering = Sipp::new("uas_answer", gateway)
        .tcp()
        .media(gateway_media)
        .spawn(None);
    std::thread::sleep(Duration::from_millis(300));
    let caller_media = port_block(4);
    let capture = Capture::start(&[caller_media, gateway_media]);
    super::national_call(caller_media, 3000).run(sw.sip);
    answering.expect_success();
    let counts = capture.stop();
    assert!(
        counts[&gateway_media] >= 100,
        "the gateway heard {counts:?}"
    );
    assert!(counts[&caller_media] >= 100, "the caller heard {counts:?}");
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["callee"], "+33123456789", "{cdr}");
    assert_eq!(cdr["hangup_cause"], "normal_clearing", "{cdr}");
    // SIPp's gateway answers `0 8 101` whatever it is offered, µ-law first: A-law on its
    // leg shows the switch offered the A-law-only trunk nothing else.
    assert_eq!(leg_codecs(cdr)[1], "PCMA", "{cdr}");
    let log = sw.log();
    assert!(
        log.contains("outbound call tries a gateway"),
        "the trunk was used"
    );
}

#[test]
fn a_tls_trunk_checks_its_gateways_certificate_and_carries_a_call_with_audio_both_ways() {
    let ca = TestCa::new("switchboard carrier CA");
    let dir = std::env::temp_dir().join(format!("switchboard-tls-gw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = ca.write_server(&dir);
    let ca_file = dir.join("ca.pem");
    let gateway = free_port();
    let sw = switch_with_trunk(&format!(
        "gateways = [\"127.0.0.1:{gateway}\"]\ntransport = \"tls\"\ntls_ca = \"{}\"",
        ca_file.display()
    ));
    let mut carrier = PjPhone::start_tls_gateway(&sw, gateway, &cert, &key);
    carrier.expect("listening");
    let caller_media = port_block(4);
    let capture = Capture::start(&[caller_media]);
    let caller = super::national_call(caller_media, 4000).spawn(Some(sw.sip));
    carrier.expect("answered");
    std::thread::sleep(Duration::from_secs(2));
    carrier.send("stats");
    let stats = carrier.expect("stats");
    let numbers: Vec<u64> = stats
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        numbers[0] >= 50 && numbers[1] >= 50,
        "the gateway received and sent RTP: {stats}"
    );
    caller.expect_success();
    carrier.expect("disconnected");
    let counts = capture.stop();
    assert!(counts[&caller_media] >= 100, "the caller heard {counts:?}");
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["hangup_cause"], "normal_clearing", "{cdr}");
    carrier.send("quit");
}
