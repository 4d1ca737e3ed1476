//! `RTP/SAVP` offer/answer with SDES keys (RFC 4568 §5.1, RFC 3264).

use super::*;
use crate::media::srtp::MasterKey;
use crate::media::srtp::{KEY_MATERIAL_LEN, SrtpSuite};
use base64::Engine as _;

/// A pjsua-style SRTP offer: the 80-bit suite first, then the 32-bit one, each with its key.
fn savp_offer(lines: &[&str]) -> SessionDescription {
    let mut text = "v=0\r\n\
        o=phone 1 1 IN IP4 127.0.0.1\r\n\
        s=-\r\n\
        c=IN IP4 127.0.0.1\r\n\
        t=0 0\r\n\
        m=audio 4000 RTP/SAVP 0 101\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n"
        .to_owned();
    for line in lines {
        text.push_str(&format!("a=crypto:{line}\r\n"));
    }
    SessionDescription::parse(text.as_bytes()).expect("valid SDP")
}

const THEIR_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn key(suite: SrtpSuite, byte: u8) -> MasterKey {
    MasterKey::from_material(suite, [byte; KEY_MATERIAL_LEN])
}

fn local_with_keys(offer: bool) -> LocalMedia {
    LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: 20_000,
        codecs: vec![Codec::pcmu(), Codec::pcma()],
        direction: Direction::SendRecv,
        session_id: 1,
        session_version: 1,
        rtcp_mux: false,
        ptime: None,
        srtp: Some(LocalSrtp {
            keys: vec![
                key(SrtpSuite::AesCm128HmacSha1_80, 0xa0),
                key(SrtpSuite::AesCm128HmacSha1_32, 0xb0),
            ],
            offer,
        }),
    }
}

fn answer_crypto(answer: &SessionDescription) -> Vec<CryptoAttribute> {
    answer.media[0].crypto().collect()
}

#[test]
fn a_savp_offer_is_answered_savp_with_our_key_under_the_first_usable_tag() {
    let offer = savp_offer(&[
        &format!("1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}|2^20|1:4"),
        &format!("2 AES_CM_128_HMAC_SHA1_32 inline:{THEIR_KEY}"),
        &format!("3 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}"),
    ]);
    let (answer, negotiated) = local_with_keys(false).to_answer(&offer).expect("answered");
    let text = answer.to_string();
    assert!(text.contains("m=audio 20000 RTP/SAVP 0\r\n"), "{text}");
    let crypto = answer_crypto(&SessionDescription::parse(text.as_bytes()).unwrap());
    assert_eq!(crypto.len(), 1, "one line accepted");
    assert_eq!(crypto[0].tag, 2, "the MKI line is skipped");
    assert_eq!(crypto[0].key, key(SrtpSuite::AesCm128HmacSha1_32, 0xb0));
    let keys = negotiated.srtp.expect("an SRTP leg");
    assert_eq!(keys.local, key(SrtpSuite::AesCm128HmacSha1_32, 0xb0));
    assert_eq!(keys.remote.suite(), SrtpSuite::AesCm128HmacSha1_32);
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(keys.remote.material()),
        THEIR_KEY
    );
}

#[test]
fn a_savp_offer_with_no_usable_line_or_on_a_leg_without_keys_gets_no_answer() {
    let unusable = savp_offer(&[
        &format!("1 AES_256_CM_HMAC_SHA1_80 inline:{THEIR_KEY}"),
        &format!("2 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}|1:4"),
        "3 AES_CM_128_HMAC_SHA1_80 inline:short",
    ]);
    assert!(local_with_keys(false).to_answer(&unusable).is_none());
    let good = savp_offer(&[&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}")]);
    let keyless = LocalMedia {
        srtp: None,
        ..local_with_keys(false)
    };
    assert!(
        keyless.to_answer(&good).is_none(),
        "the caller layer answers 488"
    );
    assert!(local_with_keys(false).to_answer(&good).is_some());
}

#[test]
fn an_avp_offer_with_crypto_lines_is_answered_plainly() {
    let offer = savp_offer(&[&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}")]);
    let mut avp = offer.clone();
    avp.media[0].protocol = "RTP/AVP".into();
    let (answer, negotiated) = local_with_keys(false).to_answer(&avp).expect("answered");
    assert_eq!(answer.media[0].protocol, "RTP/AVP");
    assert!(answer_crypto(&answer).is_empty());
    assert!(negotiated.srtp.is_none());
}

#[test]
fn our_savp_offer_lists_each_key_and_the_answer_picks_ours_by_its_suite() {
    let local = local_with_keys(true);
    let offer = SessionDescription::parse(local.render_offer().as_bytes()).unwrap();
    assert_eq!(offer.media[0].protocol, "RTP/SAVP");
    let offered = answer_crypto(&offer);
    assert_eq!(
        offered
            .iter()
            .map(|c| (c.tag, c.key.suite()))
            .collect::<Vec<_>>(),
        vec![
            (1, SrtpSuite::AesCm128HmacSha1_80),
            (2, SrtpSuite::AesCm128HmacSha1_32)
        ]
    );
    // The phone accepts tag 2 with its own key.
    let answer = savp_offer(&[&format!("2 AES_CM_128_HMAC_SHA1_32 inline:{THEIR_KEY}")]);
    let negotiated = local.negotiate(&answer.media[0]).expect("fits");
    let keys = negotiated.srtp.expect("SRTP");
    assert_eq!(keys.local, key(SrtpSuite::AesCm128HmacSha1_32, 0xb0));
    let plain_offer = LocalMedia {
        srtp: None,
        ..local_with_keys(true)
    };
    assert_eq!(
        SessionDescription::parse(plain_offer.render_offer().as_bytes())
            .unwrap()
            .media[0]
            .protocol,
        "RTP/AVP"
    );
}

#[test]
fn a_savp_answer_with_nothing_usable_is_refused() {
    let answer = savp_offer(&["1 AES_CM_128_HMAC_SHA1_80 inline:bad"]);
    assert!(local_with_keys(true).negotiate(&answer.media[0]).is_none());
}
