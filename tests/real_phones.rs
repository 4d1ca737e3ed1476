//! Real phones on plain extension-to-extension calls through the real switch on loopback:
//! baresip 1.0.0 (Debian's package, headless, see `common/baresip.rs`) and PJSIP's pjsua2
//! (`common/phone.rs`), with SIPp where a scripted party is enough. They prove interop: a
//! phone's own registration, offers, holds and transfers, with audio checked on the wire (RTP
//! counted at the far end) or in what a phone decoded (each baresip sends its own tone).
//!
//! ```text
//!  blind transfer (REFER)                attended transfer (REFER with Replaces)
//!  caller    switch    referrer  target   caller    switch    referrer  target
//!    |<==RTP==>|<==RTP==>|          |       |<==RTP==>|<==RTP==>|          |
//!    |         |<-REFER--|          |       |<-reINV--|<-hold---|          |
//!    |         |-202/NOTIFY->       |       |         |<-INVITE-|---INVITE->|
//!    |         |------INVITE------->|       |         |<-REFER (Replaces)--|
//!    |         |-NOTIFY 200, BYE--->|       |         |-NOTIFY 200, BYE x2>|
//!    |<=======RTP=================>|       |<-reINV--| (sendrecv again)   |
//!                                           |<=======RTP================>|
//! ```

mod common;

use common::audio::tone_db;
use common::baresip::Baresip;
use common::phone::PjPhone;
use common::*;
use std::time::Duration;

/// Tones the baresip phones send, far enough apart to tell them apart.
const A_TONE: u32 = 440;
const B_TONE: u32 = 1000;
const C_TONE: u32 = 700;

/// `caller` dials `callee` (both baresip); returns once both say the call is established.
fn connect(caller: &mut Baresip, callee: &mut Baresip) {
    let user = callee.user.clone();
    caller.command("dial", &user);
    answer(callee);
    caller.expect("CALL_ESTABLISHED");
}

fn answer(phone: &mut Baresip) {
    phone.expect("CALL_INCOMING");
    phone.command("accept", "");
    phone.expect("CALL_ESTABLISHED");
}

/// Ends `phone`'s call and waits until both ends know.
fn hang_up(phone: &mut Baresip, other: &mut Baresip) {
    phone.command("hangup", "");
    phone.expect("CALL_CLOSED");
    other.expect("CALL_CLOSED");
}

/// Asserts the last `secs` of `samples` carry tone `hz` well above tone `other_hz`.
fn assert_hears(samples: &[i16], secs: f64, hz: u32, other_hz: u32, who: &str) {
    let tail = &samples[samples.len().saturating_sub((secs * 8000.0) as usize)..];
    let (wanted, other) = (
        tone_db(tail, f64::from(hz)),
        tone_db(tail, f64::from(other_hz)),
    );
    assert!(
        tail.len() >= 4000 && wanted > other + 20.0 && wanted > 30.0,
        "{who}: {hz} Hz at {wanted:.1} dB, {other_hz} Hz at {other:.1} dB over {} samples",
        tail.len()
    );
}

/// RTP packets to any of `ports` captured between `from` and `to`.
fn packets_to(packets: &[(f64, u16)], ports: &[u16], from: f64, to: f64) -> usize {
    ports
        .iter()
        .map(|port| packets_between(packets, *port, from, to))
        .sum()
}

/// The CDR in `page` whose caller and callee are these.
fn cdr<'a>(page: &'a serde_json::Value, caller: &str, callee: &str) -> &'a serde_json::Value {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["caller"] == caller && c["callee"] == callee)
        .unwrap_or_else(|| panic!("no CDR {caller} -> {callee}: {page}"))
}

#[test]
fn baresip_registers_with_the_default_profile() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    // The digest challenge is the default profile's own.
    let digest = |profile: &str| {
        profile
            .lines()
            .find(|l| l.starts_with("digest_algorithms"))
            .map(str::to_owned)
    };
    let default = include_str!("../sip-profiles/default.toml");
    let used = std::fs::read_to_string(sw.dir.join("profile.toml")).unwrap();
    assert_eq!(digest(&used), digest(default));
    let _phone = Baresip::start(&sw, "1000", A_TONE); // returns once it is registered
    assert!(
        sw.log().contains("registered aor=1000@switchboard.local"),
        "{}",
        sw.log()
    );
}

#[test]
fn two_baresip_phones_talk_through_the_switch_and_each_hears_the_others_tone() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let mut a = Baresip::start(&sw, "1000", A_TONE);
    let mut b = Baresip::start(&sw, "1001", B_TONE);
    connect(&mut a, &mut b);
    std::thread::sleep(Duration::from_secs(3));
    hang_up(&mut a, &mut b);
    std::thread::sleep(Duration::from_millis(300));
    assert_hears(&a.heard()[0], 2.0, B_TONE, A_TONE, "1000");
    assert_hears(&b.heard()[0], 2.0, A_TONE, B_TONE, "1001");
    let page = sw.wait_for_cdrs(1);
    let record = cdr(&page, "1000", "1001");
    assert_eq!(record["hangup_cause"], "normal_clearing", "{record}");
    assert_eq!(record["hangup_side"], "caller", "{record}");
}

#[test]
fn baresip_holds_and_resumes_and_audio_flows_again_both_ways() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let mut a = Baresip::start(&sw, "1000", A_TONE);
    let mut b = Baresip::start(&sw, "1001", B_TONE);
    connect(&mut a, &mut b);
    let (a_ports, b_ports) = (a.rtp_ports(), b.rtp_ports());
    let capture = Capture::start(&[a_ports.clone(), b_ports.clone()].concat());
    std::thread::sleep(Duration::from_secs(1));
    a.command("hold", "");
    // The re-INVITE goes through the switch to 1001, which stops sending.
    std::thread::sleep(Duration::from_millis(1500));
    let held = unix_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let held_end = unix_seconds();
    a.command("resume", "");
    std::thread::sleep(Duration::from_millis(1500));
    let resumed = unix_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let resumed_end = unix_seconds();
    let packets = capture.stop_timed();
    hang_up(&mut a, &mut b);
    let to_a_held = packets_to(&packets, &a_ports, held, held_end);
    assert!(
        to_a_held < 10,
        "1001 is held yet 1000 got {to_a_held} packets"
    );
    let to_a = packets_to(&packets, &a_ports, resumed, resumed_end);
    let to_b = packets_to(&packets, &b_ports, resumed, resumed_end);
    assert!(
        to_a > 60 && to_b > 60,
        "after resume: to 1000 {to_a}, to 1001 {to_b}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_hears(&a.heard()[0], 1.5, B_TONE, A_TONE, "1000 after resume");
}

#[test]
fn baresip_blind_transfers_a_plain_call_and_the_caller_talks_to_the_target() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let mut a = Baresip::start(&sw, "1000", A_TONE);
    let mut b = Baresip::start(&sw, "1001", B_TONE);
    let mut c = Baresip::start(&sw, "1002", C_TONE);
    connect(&mut a, &mut b);
    std::thread::sleep(Duration::from_secs(1));
    b.command("transfer", "1002");
    answer(&mut c);
    // NOTIFY 200, then the switch's BYE: 1001 is out of the call.
    b.expect("CALL_CLOSED");
    std::thread::sleep(Duration::from_secs(3));
    hang_up(&mut a, &mut c);
    std::thread::sleep(Duration::from_millis(300));
    // 1000 never left its call: it heard 1001, then 1002.
    assert_hears(
        &a.heard()[0],
        2.0,
        C_TONE,
        B_TONE,
        "1000 after the transfer",
    );
    assert_hears(&c.heard()[0], 2.0, A_TONE, B_TONE, "1002");
    let page = sw.wait_for_cdrs(2);
    let before = cdr(&page, "1000", "1001");
    assert_eq!(
        before["hangup_side"], "callee",
        "the referrer ended it: {before}"
    );
    let after = cdr(&page, "1000", "1002");
    assert_eq!(after["hangup_side"], "caller", "{after}");
    let roles: Vec<_> = after["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, ["transferee", "transfer_target"], "{after}");
}

/// SIPp 1001 calling pjsua 1011 (which answers), with SIPp 1012 registered and waiting to
/// answer: the blind transfers' cast. RTP to the caller and to 1012 is captured.
struct PlainCall {
    sw: SwitchProcess,
    referrer: PjPhone,
    caller: SippRun,
    target: SippRun,
    caller_media: u16,
    target_media: u16,
    capture: Capture,
}

impl PlainCall {
    fn answered() -> PlainCall {
        let sw = SwitchProcess::start(SwitchOptions::default());
        let mut referrer = PjPhone::start(&sw, "1011", "");
        let target_port = free_udp_port();
        register(&sw, "1012", target_port);
        let (caller_media, target_media) = (port_block(4), port_block(4));
        let target = Sipp::new("uas_answer", target_port)
            .media(target_media)
            .spawn(None);
        let capture = Capture::start(&[caller_media, target_media]);
        let caller = Sipp::new("uac_call", free_udp_port())
            .arg("-s")
            .arg("1011")
            .auth("1001")
            .media(caller_media)
            .arg("-d")
            .arg("9000")
            .spawn(Some(sw.sip));
        referrer.expect("answered");
        PlainCall {
            sw,
            referrer,
            caller,
            target,
            caller_media,
            target_media,
            capture,
        }
    }

    /// The referrer transfers to 1012 and the switch releases it; returns when that was.
    fn transfer_to_1012(&mut self) -> f64 {
        self.referrer.send("blind 1012");
        assert_eq!(self.referrer.expect("transfer"), "transfer 200");
        self.referrer.expect("released");
        unix_seconds()
    }

    /// The caller talks on and hangs up, which 1012 hears through the switch; returns the RTP
    /// captured.
    fn finish(self) -> (SwitchProcess, Vec<(f64, u16)>) {
        self.caller.expect_success();
        self.target.expect_success();
        let packets = self.capture.stop_timed();
        let mut referrer = self.referrer;
        referrer.send("quit");
        referrer.expect_success();
        (self.sw, packets)
    }
}

#[test]
fn a_pjsua_phone_blind_transfers_a_plain_call_and_the_caller_talks_to_the_target() {
    let mut call = PlainCall::answered();
    std::thread::sleep(Duration::from_secs(1));
    let transferred = call.transfer_to_1012();
    let (caller_media, target_media) = (call.caller_media, call.target_media);
    let (sw, packets) = call.finish();
    let end = unix_seconds();
    let to_target = packets_between(&packets, target_media, transferred, end);
    let to_caller = packets_between(&packets, caller_media, transferred, end);
    assert!(
        to_target > 100 && to_caller > 100,
        "after the transfer: to the target {to_target}, to the caller {to_caller}"
    );
    let page = sw.wait_for_cdrs(2);
    assert_eq!(cdr(&page, "1001", "1011")["hangup_side"], "callee");
    assert_eq!(cdr(&page, "1001", "1012")["hangup_side"], "caller");
}

#[test]
fn a_blind_transfer_to_a_phone_that_is_not_registered_leaves_the_call_as_it_was() {
    let mut call = PlainCall::answered();
    // 1013 has no phone registered: NOTIFY says 480 and the two stay connected.
    call.referrer.send("blind 1013");
    assert_eq!(call.referrer.expect("transfer"), "transfer 480");
    let failed = unix_seconds();
    std::thread::sleep(Duration::from_secs(2));
    let still = unix_seconds();
    // The call can still be transferred.
    call.transfer_to_1012();
    let caller_media = call.caller_media;
    let (_sw, packets) = call.finish();
    let to_caller = packets_between(&packets, caller_media, failed, still);
    assert!(
        to_caller > 60,
        "the referrer still talks to the caller: {to_caller}"
    );
}

#[test]
fn a_pjsua_phone_attended_transfer_of_a_plain_call_connects_the_other_two() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let mut caller = PjPhone::start(&sw, "1001", "");
    let mut referrer = PjPhone::start(&sw, "1011", "1012");
    let target_port = free_udp_port();
    register(&sw, "1012", target_port);
    let target_media = port_block(4);
    let target = Sipp::new("uas_answer", target_port)
        .media(target_media)
        .spawn(None);
    let caller_ports: Vec<u16> = (caller.rtp..caller.rtp + 4).collect();
    let capture = Capture::start(&[caller_ports.clone(), vec![target_media]].concat());
    caller.send("call 1011");
    referrer.expect("answered");
    caller.expect("call_answered");
    // The transfer key: hold 1001, call 1012, REFER with Replaces once it answers.
    referrer.send("attended");
    referrer.expect("consult_answered");
    assert_eq!(referrer.expect("transfer"), "transfer 200");
    referrer.expect("done"); // the switch released both of its calls
    referrer.expect_success();
    let transferred = unix_seconds();
    std::thread::sleep(Duration::from_secs(3));
    let talked = unix_seconds();
    caller.send("hangup");
    caller.expect("hung_up");
    target.expect_success(); // got 1001's BYE through the switch
    let packets = capture.stop_timed();
    let to_target = packets_between(&packets, target_media, transferred, talked);
    let to_caller = packets_to(&packets, &caller_ports, transferred, talked);
    // 1001 was on hold: the switch's fresh sendrecv offer gets it sending again. SIPp's
    // g711a.pcap carries about 33 packets a second, pjsua 50.
    assert!(
        to_target > 100 && to_caller > 60,
        "after the transfer: to 1012 {to_target}, to 1001 {to_caller}"
    );
    caller.send("quit");
    caller.expect_success();
    let page = sw.wait_for_cdrs(3);
    assert_eq!(cdr(&page, "1001", "1011")["hangup_side"], "callee");
    assert_eq!(
        cdr(&page, "1011", "1012")["legs"].as_array().unwrap().len(),
        2
    );
    assert_eq!(cdr(&page, "1001", "1012")["hangup_side"], "caller");
}
