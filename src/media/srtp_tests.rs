//! The wrapper against RFC 3711 Appendix B: a reference AES-CM and HMAC-SHA1 built here from
//! the `aes`, `ctr`, `hmac` and `sha1` crates is checked against the RFC's keystream vector
//! (B.2), then fed the RFC's derived session keys (B.3) to predict, byte for byte, what our
//! wrapper must put on the wire for the RFC's master key.

use super::*;
use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::rngs::StdRng;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector is hex")
}

/// RFC 3711 §4.1.1: IV = (salt · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16).
fn reference_keystream(key: &[u8], salt: &[u8], ssrc: u32, index: u64, len: usize) -> Vec<u8> {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
        iv[4 + i] ^= b;
    }
    for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
        iv[8 + i] ^= b;
    }
    let mut out = vec![0u8; len];
    Aes128Ctr::new(key.into(), (&iv).into()).apply_keystream(&mut out);
    out
}

fn reference_tag(auth_key: &[u8], authenticated: &[u8], roc: u32, len: usize) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_key).expect("any key length");
    mac.update(authenticated);
    mac.update(&roc.to_be_bytes());
    mac.finalize().into_bytes()[..len].to_vec()
}

// RFC 3711 B.3.
const MASTER_KEY: &str = "e1f97a0d3e018be0d64fa32c06de4139";
const MASTER_SALT: &str = "0ec675ad498afeebb6960b3aabe6";
const SESSION_KEY: &str = "c61e7a93744f39ee10734afe3ff7a087";
const SESSION_SALT: &str = "30cbbc08863d8c85d49db34a9ae1";
const SESSION_AUTH_KEY: &str = "cebe321f6ff7716b6fd4ab49af256a156d38baa4";

fn rfc_master_key(suite: SrtpSuite) -> MasterKey {
    let mut material = [0u8; KEY_MATERIAL_LEN];
    material[..16].copy_from_slice(&unhex(MASTER_KEY));
    material[16..].copy_from_slice(&unhex(MASTER_SALT));
    MasterKey::from_material(suite, material)
}

fn rtp_packet(ssrc: u32, sequence: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&sequence.to_be_bytes());
    p.extend_from_slice(&160u32.wrapping_mul(u32::from(sequence)).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[test]
fn the_reference_aes_cm_reproduces_the_rfc_3711_b2_keystream() {
    let key = unhex("2b7e151628aed2a6abf7158809cf4f3c");
    let salt = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfd");
    let keystream = reference_keystream(&key, &salt, 0, 0, 48);
    assert_eq!(
        hex::encode(keystream),
        "e03ead0935c95e80e166b16dd92b4eb4\
         d23513162b02d0f72a43a2fe4a5f97ab\
         41e95b3bb0a2e8dd477901e4fca894c0"
    );
}

#[test]
fn the_rfc_3711_b3_master_key_encrypts_and_tags_as_its_derived_session_keys_predict() {
    for (suite, tag_len) in [
        (SrtpSuite::AesCm128HmacSha1_80, 10),
        (SrtpSuite::AesCm128HmacSha1_32, 4),
    ] {
        let ssrc = 0xcafe_babe;
        let payload = [0x55u8; 160];
        for sequence in [0u16, 1, 4242] {
            let plain = rtp_packet(ssrc, sequence, &payload);
            let mut buf = plain.clone();
            buf.resize(plain.len() + MAX_OVERHEAD, 0);
            let mut out = SrtpContext::outbound(&rfc_master_key(suite));
            // Each context starts the stream at this sequence number: ROC 0, index = sequence.
            let n = out.protect_rtp(&mut buf, plain.len()).expect("protects");
            assert_eq!(n, plain.len() + tag_len);

            let keystream = reference_keystream(
                &unhex(SESSION_KEY),
                &unhex(SESSION_SALT),
                ssrc,
                u64::from(sequence),
                payload.len(),
            );
            let expected_payload: Vec<u8> =
                payload.iter().zip(&keystream).map(|(p, k)| p ^ k).collect();
            assert_eq!(&buf[..12], &plain[..12], "the header stays in clear");
            assert_eq!(&buf[12..plain.len()], &expected_payload[..]);
            let tag = reference_tag(&unhex(SESSION_AUTH_KEY), &buf[..plain.len()], 0, tag_len);
            assert_eq!(&buf[plain.len()..n], &tag[..]);
        }
    }
}

#[test]
fn a_protected_packet_comes_back_unchanged_through_the_inbound_context() {
    let mut rng = StdRng::seed_from_u64(7);
    let key = MasterKey::generate(SrtpSuite::AesCm128HmacSha1_80, &mut rng);
    let mut out = SrtpContext::outbound(&key);
    let mut inbound = SrtpContext::inbound(&key);
    for sequence in 100..110u16 {
        let plain = rtp_packet(42, sequence, &[sequence as u8; 160]);
        let mut buf = [0u8; 2048];
        buf[..plain.len()].copy_from_slice(&plain);
        let n = out.protect_rtp(&mut buf, plain.len()).expect("protects");
        assert_ne!(
            &buf[12..plain.len()],
            &plain[12..],
            "the payload is encrypted"
        );
        let m = inbound.unprotect_rtp(&mut buf, n).expect("authentic");
        assert_eq!(&buf[..m], &plain[..]);
    }
}

#[test]
fn a_tampered_packet_fails_authentication_and_a_replayed_one_is_refused() {
    let key = MasterKey::from_material(SrtpSuite::AesCm128HmacSha1_80, [9; KEY_MATERIAL_LEN]);
    let mut out = SrtpContext::outbound(&key);
    let mut inbound = SrtpContext::inbound(&key);
    let plain = rtp_packet(1, 500, &[0xff; 160]);
    let mut buf = [0u8; 2048];
    buf[..plain.len()].copy_from_slice(&plain);
    let n = out.protect_rtp(&mut buf, plain.len()).expect("protects");
    let protected = buf[..n].to_vec();

    let mut tampered = protected.clone();
    tampered[20] ^= 1;
    let len = tampered.len();
    assert_eq!(
        inbound.unprotect_rtp(&mut tampered, len),
        Err(SrtpError::Authentication)
    );

    let mut first = protected.clone();
    assert!(inbound.unprotect_rtp(&mut first, n).is_ok());
    let mut again = protected;
    assert_eq!(inbound.unprotect_rtp(&mut again, n), Err(SrtpError::Replay));
}

#[test]
fn a_packet_under_another_key_fails_authentication() {
    let ours = MasterKey::from_material(SrtpSuite::AesCm128HmacSha1_80, [1; KEY_MATERIAL_LEN]);
    let theirs = MasterKey::from_material(SrtpSuite::AesCm128HmacSha1_80, [2; KEY_MATERIAL_LEN]);
    let plain = rtp_packet(1, 1, &[0; 160]);
    let mut buf = [0u8; 2048];
    buf[..plain.len()].copy_from_slice(&plain);
    let n = SrtpContext::outbound(&ours)
        .protect_rtp(&mut buf, plain.len())
        .expect("protects");
    assert_eq!(
        SrtpContext::inbound(&theirs).unprotect_rtp(&mut buf, n),
        Err(SrtpError::Authentication)
    );
}

#[test]
fn short_or_garbage_packets_are_malformed_never_a_panic() {
    let key = MasterKey::from_material(SrtpSuite::AesCm128HmacSha1_32, [3; KEY_MATERIAL_LEN]);
    let mut inbound = SrtpContext::inbound(&key);
    for len in 0..40 {
        let mut buf = vec![0x80u8; len];
        assert!(inbound.unprotect_rtp(&mut buf, len).is_err());
        let mut buf = vec![0x81u8; len];
        assert!(inbound.unprotect_rtcp(&mut buf, len).is_err());
    }
}

#[test]
fn srtcp_round_trips_and_refuses_a_tampered_report() {
    let key = MasterKey::from_material(SrtpSuite::AesCm128HmacSha1_32, [5; KEY_MATERIAL_LEN]);
    let mut out = SrtpContext::outbound(&key);
    let mut inbound = SrtpContext::inbound(&key);
    // A receiver report with no report blocks: V=2, RC=0, PT=201, length 1, SSRC.
    let report = [0x80, 201, 0, 1, 0, 0, 0, 7];
    let mut buf = [0u8; 64];
    buf[..8].copy_from_slice(&report);
    let n = out.protect_rtcp(&mut buf, 8).expect("protects");
    assert_eq!(
        n,
        8 + MAX_OVERHEAD,
        "index and 80-bit tag, whatever the RTP tag"
    );
    let mut tampered = buf[..n].to_vec();
    tampered[n - 1] ^= 0x80;
    assert_eq!(
        inbound.unprotect_rtcp(&mut tampered, n),
        Err(SrtpError::Authentication)
    );
    let m = inbound.unprotect_rtcp(&mut buf, n).expect("authentic");
    assert_eq!(&buf[..m], &report);
}

#[test]
fn generated_keys_differ_and_debug_never_shows_them() {
    let mut rng = StdRng::seed_from_u64(1);
    let a = MasterKey::generate(SrtpSuite::AesCm128HmacSha1_80, &mut rng);
    let b = MasterKey::generate(SrtpSuite::AesCm128HmacSha1_80, &mut rng);
    assert_ne!(a.material(), b.material());
    let shown = format!("{a:?}");
    assert!(!shown.contains(&hex::encode(a.material())));
    assert!(shown.contains("redacted"));
}

#[test]
fn suites_round_trip_through_their_sdp_names_case_sensitively() {
    for suite in SrtpSuite::ALL {
        assert_eq!(SrtpSuite::from_sdp_name(suite.sdp_name()), Some(suite));
    }
    assert_eq!(SrtpSuite::from_sdp_name("aes_cm_128_hmac_sha1_80"), None);
    assert_eq!(SrtpSuite::from_sdp_name("AES_256_CM_HMAC_SHA1_80"), None);
}

#[test]
fn a_forged_packet_far_ahead_does_not_shut_the_genuine_stream_out() {
    let key = MasterKey::from_material(SrtpSuite::AesCm128HmacSha1_80, [9; KEY_MATERIAL_LEN]);
    let forger_key =
        MasterKey::from_material(SrtpSuite::AesCm128HmacSha1_80, [8; KEY_MATERIAL_LEN]);
    let mut inbound = SrtpContext::inbound(&key);
    let mut buf = [0u8; 2048];
    let forged = rtp_packet(1, 30_000, &[0; 160]);
    buf[..forged.len()].copy_from_slice(&forged);
    let n = SrtpContext::outbound(&forger_key)
        .protect_rtp(&mut buf, forged.len())
        .expect("protects");
    assert_eq!(
        inbound.unprotect_rtp(&mut buf, n),
        Err(SrtpError::Authentication)
    );
    let mut phone = SrtpContext::outbound(&key);
    for sequence in 1..5 {
        let plain = rtp_packet(1, sequence, &[1; 160]);
        buf[..plain.len()].copy_from_slice(&plain);
        let n = phone.protect_rtp(&mut buf, plain.len()).expect("protects");
        assert!(inbound.unprotect_rtp(&mut buf, n).is_ok(), "{sequence}");
    }
}
