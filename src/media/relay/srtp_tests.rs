//! SRTP legs in the relay: `A`'s phone speaks SRTP, `B`'s plain RTP.

use super::*;
use crate::media::sdp::SrtpKeys;
use crate::media::srtp::{KEY_MATERIAL_LEN, MasterKey, SrtpContext, SrtpSuite};

const SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

/// What `A`'s phone encrypts with (written in its SDP).
fn phone_key() -> MasterKey {
    MasterKey::from_material(SUITE, [0x11; KEY_MATERIAL_LEN])
}

/// What the switch encrypts toward `A` with (written in our SDP).
fn our_key() -> MasterKey {
    MasterKey::from_material(SUITE, [0x22; KEY_MATERIAL_LEN])
}

fn savp(phone: MasterKey) -> Negotiated {
    Negotiated {
        srtp: Some(Box::new(SrtpKeys {
            local: our_key(),
            remote: phone,
        })),
        ..pcmu()
    }
}

/// `A` on SRTP bridged to plain `B`, both established.
fn mixed_call(now: Instant) -> Relay {
    let mut relay = relay(now, &[A, B]);
    keyed(&mut relay, now, phone_key());
    relay.bridge(A, B);
    relay
}

/// A new SDP exchange for `A` in which its phone writes `phone`.
fn keyed(relay: &mut Relay, now: Instant, phone: MasterKey) {
    relay.configure(
        now,
        A,
        Some(super::phone(A)),
        savp(phone),
        Direction::SendRecv,
        LOOPBACK,
    );
}

/// [`mixed_call`] and `A`'s phone's sending context.
fn call_and_phone() -> (Instant, Relay, SrtpContext) {
    let now = t0();
    (now, mixed_call(now), SrtpContext::outbound(&phone_key()))
}

/// `A`'s phone: an encrypted packet of `payload`.
fn encrypted(phone: &mut SrtpContext, sequence: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = packet(PayloadType::PCMU, 0x5000, sequence, payload);
    let len = bytes.len();
    bytes.resize(len + crate::media::srtp::MAX_OVERHEAD, 0);
    let n = phone.protect_rtp(&mut bytes, len).expect("protects");
    bytes.truncate(n);
    bytes
}

fn from_a(
    relay: &mut Relay,
    now: Instant,
    from: SocketAddr,
    bytes: &mut Vec<u8>,
) -> Option<Transmit> {
    let slot = relay.slot(A).expect("held");
    feed(relay, now, slot, Port::Rtp, from, bytes)
}

#[test]
fn srtp_from_one_leg_reaches_the_plain_leg_decrypted_and_its_recording_hears_it() {
    let now = t0();
    let mut relay = mixed_call(now);
    let capture = Capture::default();
    relay.add_tap(A, RecordingId("r".into()), Box::new(capture.clone()));
    let mut phone_a = SrtpContext::outbound(&phone_key());
    let speech: Vec<u8> = (0..160u8).collect();
    for sequence in 1..=3 {
        let mut bytes = encrypted(&mut phone_a, sequence, &speech);
        let t = from_a(&mut relay, now, phone(A), &mut bytes).expect("relayed");
        assert_eq!(t.to, phone(B));
        let rtp = RtpPacket::parse(&bytes).expect("plain RTP toward B");
        assert_eq!(rtp.payload(), &speech[..], "decrypted, not re-encrypted");
        assert_eq!(bytes.len(), 12 + 160, "no tag toward a plain leg");
    }
    let counts = relay.take_counts();
    assert_eq!((counts.rtp_in, counts.srtp_rejected), (3, 0));
    assert_eq!(capture.0.lock().unwrap().packets, vec![(A, 160); 3]);
}

#[test]
fn plain_rtp_toward_an_srtp_leg_is_encrypted_under_our_key() {
    let now = t0();
    let mut relay = mixed_call(now);
    let mut phone_a = SrtpContext::inbound(&our_key());
    for sequence in 1..=3 {
        let (t, mut bytes) = send(&mut relay, now, B, phone(B), sequence).expect("relayed");
        assert_eq!(t.to, phone(A));
        assert_eq!(bytes.len(), 12 + 160 + 10, "80-bit tag");
        assert_ne!(&bytes[12..172], &[0x55; 160][..], "not in clear");
        let len = bytes.len();
        let n = phone_a
            .unprotect_rtp(&mut bytes, len)
            .expect("authentic under the key of our SDP");
        let rtp = RtpPacket::parse(&bytes[..n]).expect("RTP");
        assert_eq!(rtp.payload(), &[0x55; 160][..]);
    }
}

#[test]
fn a_tampered_packet_is_dropped_and_counted_never_relayed_or_recorded() {
    let now = t0();
    let mut relay = mixed_call(now);
    let capture = Capture::default();
    relay.add_tap(A, RecordingId("r".into()), Box::new(capture.clone()));
    let mut phone_a = SrtpContext::outbound(&phone_key());
    let mut bytes = encrypted(&mut phone_a, 1, &[0x55; 160]);
    bytes[30] ^= 0x01;
    assert!(from_a(&mut relay, now, phone(A), &mut bytes).is_none());
    let counts = relay.take_counts();
    assert_eq!(
        (counts.srtp_rejected, counts.rtp_in, counts.dropped),
        (1, 0, 0)
    );
    assert!(capture.0.lock().unwrap().packets.is_empty());
}

#[test]
fn a_replayed_packet_is_dropped_and_counted() {
    let (now, mut relay, mut phone_a) = call_and_phone();
    let original = encrypted(&mut phone_a, 1, &[0x55; 160]);
    let mut first = original.clone();
    assert!(from_a(&mut relay, now, phone(A), &mut first).is_some());
    let mut replay = original;
    assert!(from_a(&mut relay, now, phone(A), &mut replay).is_none());
    let counts = relay.take_counts();
    assert_eq!((counts.rtp_in, counts.srtp_rejected), (1, 1));
}

#[test]
fn a_packet_under_another_key_latches_nothing() {
    let now = t0();
    let mut relay = mixed_call(now);
    let impostor_port = addr(41_999);
    let mut forger = SrtpContext::outbound(&MasterKey::from_material(SUITE, [0x33; 30]));
    let mut forged = encrypted(&mut forger, 1, &[0; 160]);
    assert!(from_a(&mut relay, now, impostor_port, &mut forged).is_none());
    let (t, _) = send(&mut relay, now, B, phone(B), 1).expect("relayed");
    assert_eq!(
        t.to,
        phone(A),
        "still the SDP address, not the forger's port"
    );
    assert_eq!(relay.take_counts().srtp_rejected, 1);
}

#[test]
fn music_to_an_srtp_leg_is_encrypted() {
    let now = t0();
    let mut relay = mixed_call(now);
    relay.play(now, A, Announcement::chime(), Ssrc(9));
    relay.handle_timeout(now + PACKET_TIME);
    let (t, bytes) = relay.poll_transmit().expect("a music packet");
    assert_eq!(t.to, phone(A));
    let mut bytes = bytes.to_vec();
    let len = bytes.len();
    let n = SrtpContext::inbound(&our_key())
        .unprotect_rtp(&mut bytes, len)
        .expect("authentic");
    assert_eq!(n, 12 + 160);
}

#[test]
fn srtcp_is_authenticated_then_terminated() {
    let (now, mut relay, mut phone_a) = call_and_phone();
    let report = [0x80, 201, 0, 1, 0, 0, 0x50, 0];
    let mut buf = vec![0u8; 64];
    buf[..8].copy_from_slice(&report);
    let n = phone_a.protect_rtcp(&mut buf, 8).expect("protects");
    buf.truncate(n);
    let mut tampered = buf.clone();
    tampered[9] ^= 0xff;
    let slot = relay.slot(A).expect("held");
    assert!(feed(&mut relay, now, slot, Port::Rtcp, phone(A), &mut tampered).is_none());
    assert!(feed(&mut relay, now, slot, Port::Rtcp, phone(A), &mut buf).is_none());
    let counts = relay.take_counts();
    assert_eq!((counts.rtcp_in, counts.srtp_rejected), (1, 1));
}

#[test]
fn a_new_sdp_with_the_same_keys_keeps_the_replay_window_and_new_keys_replace_it() {
    let (now, mut relay, mut phone_a) = call_and_phone();
    let first = encrypted(&mut phone_a, 1, &[0x55; 160]);
    assert!(from_a(&mut relay, now, phone(A), &mut first.clone()).is_some());
    // A hold re-INVITE that keeps the keys: an old packet is still a replay.
    keyed(&mut relay, now, phone_key());
    assert!(from_a(&mut relay, now, phone(A), &mut first.clone()).is_none());
    // The phone re-keys: its old key no longer authenticates, the new one does.
    let new_key = MasterKey::from_material(SUITE, [0x44; 30]);
    keyed(&mut relay, now, new_key.clone());
    let mut old = encrypted(&mut phone_a, 2, &[0x55; 160]);
    assert!(from_a(&mut relay, now, phone(A), &mut old).is_none());
    let mut rekeyed = SrtpContext::outbound(&new_key);
    let mut fresh = encrypted(&mut rekeyed, 3, &[0x55; 160]);
    assert!(from_a(&mut relay, now, phone(A), &mut fresh).is_some());
    assert_eq!(relay.take_counts().srtp_rejected, 2);
}

#[test]
fn an_srtp_member_of_a_conference_is_mixed_decrypted_and_hears_the_mix_encrypted() {
    let (now, mut relay, mut phone_a) = call_and_phone();
    relay.mix(now, &[(A, Ssrc(1)), (B, Ssrc(2))]);
    let mut from_phone_a = encrypted(&mut phone_a, 1, &[Law::Mu.encode(100); 160]);
    assert!(from_a(&mut relay, now, phone(A), &mut from_phone_a).is_none());
    let mut from_b = packet(PayloadType::PCMU, 5, 1, &[Law::Mu.encode(200); 160]);
    let slot = relay.slot(B).expect("held");
    assert!(feed(&mut relay, now, slot, Port::Rtp, phone(B), &mut from_b).is_none());
    relay.handle_timeout(relay.poll_timeout().expect("a tick"));
    let mut heard = HashMap::new();
    let mut phone_a_in = SrtpContext::inbound(&our_key());
    while let Some((t, bytes)) = relay.poll_transmit() {
        let mut bytes = bytes.to_vec();
        if t.to == phone(A) {
            let len = bytes.len();
            let n = phone_a_in
                .unprotect_rtp(&mut bytes, len)
                .expect("authentic");
            bytes.truncate(n);
        }
        let rtp = RtpPacket::parse(&bytes).expect("RTP");
        heard.insert(t.to, Law::Mu.decode(rtp.payload()[0]));
    }
    let near = |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs() < 16;
    assert!(near(heard[&phone(A)], 200), "A hears B: {heard:?}");
    assert!(
        near(heard[&phone(B)], 100),
        "B hears A's decrypted audio: {heard:?}"
    );
}
