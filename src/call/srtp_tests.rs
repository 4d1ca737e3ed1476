//! SDES-keyed SRTP in the call layer: who is answered or offered `RTP/SAVP`.
//!
//! ```text
//!  caller (SAVP)          switch                 callee
//!     | INVITE (407, again)  |                      |
//!     |--------------------->| INVITE RTP/AVP       |   plain unless the callee is TLS
//!     |                      |--------------------->|
//!     |                      |<------ 200 ----------|
//!     |<-- 200 RTP/SAVP -----|                      |   our own key, the caller's tag
//! ```

use super::lab::{DOMAIN, Lab, answer_challenge, config, persisted_binding, phone};
use super::model::MediaCommand;
use super::srtp_policy::{SrtpMode, SrtpPolicy};
use crate::media::sdp::SessionDescription;
use crate::media::srtp::SrtpSuite;
use crate::sip::message::Message;
use crate::sip::registrar::Transport;

/// The default policy with the lab switch on.
const LAB_SWITCH: SrtpPolicy = SrtpPolicy {
    mode: SrtpMode::WhenOfferedOverTls,
    sdes_over_plain_signalling: true,
};

const CALLER_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn savp_sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{CALLER_KEY}\r\na=sendrecv\r\n"
    )
}

fn lab(policy: SrtpPolicy) -> Lab {
    let mut cfg = config(7);
    cfg.srtp = policy;
    let mut lab = Lab::with_config(cfg);
    lab.register("1001");
    lab.register("1002");
    lab
}

/// `1001` sends an authenticated INVITE to `1002` with `body` as its SDP; the switch's first
/// answer after the challenge is left in the inbox.
fn invite(lab: &mut Lab, body: &str) {
    let from = phone("1001");
    let invite = |cseq: u32, auth: &str| {
        format!(
            "INVITE sip:1002@{DOMAIN} SIP/2.0\n\
             Via: SIP/2.0/UDP {from};branch=z9hG4bK-srtp-{cseq}\n\
             From: <sip:1001@{DOMAIN}>;tag=c1001\n\
             To: <sip:1002@{DOMAIN}>\n\
             Call-ID: srtp-call\n\
             CSeq: {cseq} INVITE\n\
             Contact: <sip:1001@{from}>\n\
             Max-Forwards: 70\n{auth}\
             Content-Type: application/sdp\n\
             Content-Length: {}\n\n{body}",
            body.len(),
        )
    };
    lab.send_text(from, &invite(1, ""));
    let challenge = lab.take(from, "407");
    let credentials = answer_challenge(&challenge, "1001", "1002");
    lab.send_text(
        from,
        &invite(2, &format!("Proxy-Authorization: {credentials}\n")),
    );
}

fn audio(message: &Message) -> crate::media::sdp::MediaDescription {
    let sdp = SessionDescription::parse(message.body()).expect("SDP");
    sdp.audio().expect("audio").1.clone()
}

#[test]
fn by_default_a_savp_offer_over_udp_is_refused_with_488_naming_tls() {
    let mut lab = lab(SrtpPolicy::default());
    invite(&mut lab, &savp_sdp(4000));
    let refusal = lab.take(phone("1001"), "488");
    let warning = refusal.header("Warning").expect("a Warning");
    assert!(warning.starts_with("302 "), "{warning}");
    assert!(
        lab.try_take(phone("1002"), "INVITE").is_none(),
        "nobody rang"
    );
}

#[test]
fn with_srtp_off_a_savp_offer_is_refused_whatever_the_lab_switch() {
    let mut lab = lab(SrtpPolicy {
        mode: SrtpMode::Off,
        sdes_over_plain_signalling: true,
    });
    invite(&mut lab, &savp_sdp(4000));
    lab.take(phone("1001"), "488");
}

#[test]
fn with_the_lab_switch_a_savp_caller_gets_savp_with_a_fresh_key_and_the_callee_plain_rtp() {
    let mut lab = lab(LAB_SWITCH);
    invite(&mut lab, &savp_sdp(4000));
    let to_callee = lab.take(phone("1002"), "INVITE");
    let offered = audio(&to_callee);
    assert_eq!(offered.protocol, "RTP/AVP", "the UDP callee gets no keys");
    assert_eq!(offered.crypto().count(), 0);
    lab.reply(&to_callee, 200, phone("1002"));
    let ok = lab.take(phone("1001"), "200");
    let answered = audio(&ok);
    assert_eq!(answered.protocol, "RTP/SAVP");
    let crypto: Vec<_> = answered.crypto().collect();
    assert_eq!(crypto.len(), 1);
    assert_eq!(crypto[0].tag, 1);
    assert_eq!(crypto[0].key.suite(), SrtpSuite::AesCm128HmacSha1_80);
    assert!(
        !ok.to_bytes()
            .windows(CALLER_KEY.len())
            .any(|w| w == CALLER_KEY.as_bytes()),
        "our key is our own, not the caller's echoed"
    );
    let caller_keys = lab.media.iter().find_map(|c| match c {
        MediaCommand::Configure { negotiated, .. } => negotiated.srtp.clone(),
        _ => None,
    });
    let keys = caller_keys.expect("the caller's leg is configured for SRTP");
    assert_eq!(keys.local, crypto[0].key);
    let callee_plain = lab.media.iter().any(
        |c| matches!(c, MediaCommand::Configure { negotiated, .. } if negotiated.srtp.is_none()),
    );
    assert!(callee_plain, "the callee's leg stays plain");
}

/// The key the switch answers a SAVP caller with, on a switch seeded with `seed`.
fn answered_key(seed: u64) -> crate::media::srtp::MasterKey {
    let mut cfg = config(seed);
    cfg.srtp = LAB_SWITCH;
    let mut lab = Lab::with_config(cfg);
    lab.register("1001");
    lab.register("1002");
    invite(&mut lab, &savp_sdp(4000));
    let to_callee = lab.take(phone("1002"), "INVITE");
    lab.reply(&to_callee, 200, phone("1002"));
    let ok = lab.take(phone("1001"), "200");
    audio(&ok).crypto().next().expect("a key").key
}

#[test]
fn keys_come_from_the_switch_rng_reproducible_in_tests_and_different_per_seed() {
    assert_eq!(answered_key(7), answered_key(7));
    assert_ne!(answered_key(7), answered_key(8));
}

#[test]
fn a_callee_registered_over_tls_is_offered_savp_with_a_key_per_suite() {
    let mut lab = lab(SrtpPolicy::default());
    let mut binding = persisted_binding("1002");
    binding.transport = Transport::Tls;
    lab.sw
        .restore_binding(lab.now, &format!("1002@{DOMAIN}"), binding);
    invite(&mut lab, &crate::call::lab::sdp(4000));
    let to_callee = lab.take(phone("1002"), "INVITE");
    let offered = audio(&to_callee);
    assert_eq!(offered.protocol, "RTP/SAVP");
    let suites: Vec<_> = offered.crypto().map(|c| (c.tag, c.key.suite())).collect();
    assert_eq!(
        suites,
        vec![
            (1, SrtpSuite::AesCm128HmacSha1_80),
            (2, SrtpSuite::AesCm128HmacSha1_32)
        ]
    );
    let keys: Vec<_> = offered.crypto().map(|c| c.key).collect();
    assert_ne!(keys[0].material(), keys[1].material());
}
