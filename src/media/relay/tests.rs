//! The relay in virtual time: packets in, transmits out, no sockets and no sleeps.

use super::endpoint::audio_law;
use super::*;
use crate::media::g711::Law;
use crate::media::recorder::timeline::AudioPacket;
use crate::media::rewrite::StreamStart;
use crate::media::rtp::{PayloadType, RtpHeader, RtpPacket};
use crate::media::sdp::Codec;
use std::sync::{Arc, Mutex};

const TIMEOUT: Duration = Duration::from_secs(2);
const A: EndpointId = EndpointId(1);
const B: EndpointId = EndpointId(2);
const C: EndpointId = EndpointId(3);
/// Every test phone signals from loopback.
const LOOPBACK: LatchPolicy =
    LatchPolicy::SignallingIp(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn pcmu() -> Negotiated {
    Negotiated {
        codec: Codec::pcmu(),
        telephone_event: None,
        srtp: None,
    }
}

fn pcma() -> Negotiated {
    Negotiated {
        codec: Codec::pcma(),
        telephone_event: None,
        srtp: None,
    }
}

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods)] // a base for virtual time
    Instant::now()
}

fn packet(pt: PayloadType, ssrc: u32, sequence: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeader {
        marker: false,
        payload_type: pt,
        sequence,
        timestamp: u32::from(sequence) * 160,
        ssrc: Ssrc(ssrc),
    }
    .write(payload, &mut out);
    out
}

/// A relay holding `ids`, each configured for PCMU with its phone at port 40000 + id, and
/// established (its call's signalling is done).
fn relay(now: Instant, ids: &[EndpointId]) -> Relay {
    let mut relay = unestablished(now, ids);
    for id in ids {
        relay.establish(*id);
    }
    relay
}

/// [`relay`] before the calls' ACKs: configured, nothing may be sent yet.
fn unestablished(now: Instant, ids: &[EndpointId]) -> Relay {
    let mut relay = Relay::new(TIMEOUT);
    for id in ids {
        let start = StreamStart {
            sequence: 1000,
            timestamp: 5000,
        };
        let ssrc = Ssrc(0xAB00 + u32::try_from(id.0).unwrap_or(0));
        relay.insert(now, RelayEndpoint::new(*id, ssrc, start, now));
        relay.configure(
            now,
            *id,
            Some(phone(*id)),
            pcmu(),
            Direction::SendRecv,
            LOOPBACK,
        );
    }
    relay
}

fn phone(id: EndpointId) -> SocketAddr {
    addr(40_000 + u16::try_from(id.0).unwrap_or(0))
}

/// Sends one PCMU packet from `id`'s phone; what the relay transmits and the packet as sent.
fn send(
    relay: &mut Relay,
    now: Instant,
    id: EndpointId,
    from: SocketAddr,
    sequence: u16,
) -> Option<(Transmit, Vec<u8>)> {
    let mut bytes = packet(PayloadType::PCMU, 0x5000, sequence, &[0x55; 160]);
    let slot = relay.slot(id).expect("endpoint held");
    feed(relay, now, slot, Port::Rtp, from, &mut bytes).map(|t| (t, bytes))
}

/// One datagram into the relay, with the headroom the shard keeps; `bytes` becomes what the
/// relay would send (or the plain packet it took).
fn feed(
    relay: &mut Relay,
    now: Instant,
    slot: Slot,
    port: Port,
    from: SocketAddr,
    bytes: &mut Vec<u8>,
) -> Option<Transmit> {
    let len = bytes.len();
    bytes.resize(len + crate::media::srtp::MAX_OVERHEAD, 0);
    match relay.handle_packet(now, slot, port, from, bytes, len) {
        Some((transmit, sent)) => {
            bytes.truncate(sent);
            Some(transmit)
        }
        None => {
            bytes.truncate(len);
            None
        }
    }
}

#[test]
fn bridged_endpoints_relay_both_ways_out_of_the_peers_socket_to_its_phone() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.bridge(A, B);
    let (t, bytes) = send(&mut relay, now, A, phone(A), 1).expect("relayed");
    assert_eq!(t.from, relay.slot(B).unwrap());
    assert_eq!(t.to, phone(B));
    let rtp = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(rtp.ssrc(), Ssrc(0xAB02), "B's own stream toward B's phone");
    let (t, _) = send(&mut relay, now, B, phone(B), 1).expect("relayed back");
    assert_eq!((t.from, t.to), (relay.slot(A).unwrap(), phone(A)));
    assert_eq!(relay.take_counts().rtp_in, 2);
}

#[test]
fn the_first_packet_after_each_sdp_change_latches_the_phones_address() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.bridge(A, B);
    let nat = addr(50_000);
    send(&mut relay, now, B, nat, 1);
    let (t, _) = send(&mut relay, now, A, phone(A), 1).unwrap();
    assert_eq!(t.to, nat, "B's packets came from behind a NAT");
    assert!(send(&mut relay, now, B, addr(50_001), 2).is_none());
    let (t, _) = send(&mut relay, now, A, phone(A), 2).unwrap();
    assert_eq!(t.to, nat, "latched once until the SDP changes");
    relay.configure(
        now,
        B,
        Some(phone(B)),
        pcmu(),
        Direction::SendRecv,
        LOOPBACK,
    );
    let (t, _) = send(&mut relay, now, A, phone(A), 3).unwrap();
    assert_eq!(t.to, nat, "the same SDP again (a hold) keeps the latch");
    relay.configure(
        now,
        B,
        Some(addr(45_000)),
        pcmu(),
        Direction::SendRecv,
        LOOPBACK,
    );
    let (t, _) = send(&mut relay, now, A, phone(A), 4).unwrap();
    assert_eq!(
        t.to,
        addr(45_000),
        "a new SDP address counts until a packet latches"
    );
    send(&mut relay, now, B, addr(50_002), 3);
    let (t, _) = send(&mut relay, now, A, phone(A), 5).unwrap();
    assert_eq!(t.to, addr(50_002));
}

/// Another host on loopback, spraying the switch's ports.
fn sprayer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 9], 6000))
}

#[test]
fn packets_from_another_address_reach_neither_the_peer_nor_a_recording_nor_latch() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.bridge(A, B);
    let capture = Capture::default();
    relay.add_tap(A, RecordingId("r".into()), Box::new(capture.clone()));
    // Before the phone's first packet, and after it.
    assert!(send(&mut relay, now, A, sprayer(), 1).is_none());
    assert!(send(&mut relay, now, A, phone(A), 2).is_some());
    for sequence in 3..10 {
        let at = now + PACKET_TIME * u32::from(sequence);
        assert!(send(&mut relay, at, A, sprayer(), sequence).is_none());
    }
    let slot = relay.slot(A).unwrap();
    let mut report = vec![0x80, 201, 0, 1, 0, 0, 0, 1];
    let rtcp = feed(&mut relay, now, slot, Port::Rtcp, sprayer(), &mut report);
    assert!(rtcp.is_none());
    let counts = relay.take_counts();
    assert_eq!((counts.rejected, counts.rtp_in, counts.rtcp_in), (9, 1, 0));
    assert_eq!(
        capture.0.lock().unwrap().packets.len(),
        1,
        "only the phone's"
    );
    let (t, _) = send(&mut relay, now, B, phone(B), 1).unwrap();
    assert_eq!(t.to, phone(A), "the sprayer never latched A");
}

#[test]
fn nothing_is_sent_to_a_phone_before_its_leg_is_established() {
    let now = t0();
    let mut relay = unestablished(now, &[A, B]);
    relay.bridge(A, B);
    relay.play(now, B, Announcement::chime(), Ssrc(9));
    relay.bridge(A, B);
    assert!(
        send(&mut relay, now, A, phone(A), 1).is_none(),
        "B not established"
    );
    let tick = relay.poll_timeout().unwrap();
    relay.handle_timeout(tick);
    assert!(relay.poll_transmit().is_none());
    relay.establish(B);
    let (t, bytes) = send(&mut relay, tick, A, phone(A), 2).expect("relayed once established");
    assert_eq!(t.to, phone(B));
    let rtp = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(rtp.sequence(), 1000, "the stream starts with no gap");
    assert!(
        send(&mut relay, tick, B, phone(B), 1).is_none(),
        "A not established"
    );
}

#[test]
fn music_waits_for_the_leg_to_be_established() {
    let now = t0();
    let mut relay = unestablished(now, &[A]);
    relay.play(now, A, Announcement::chime(), Ssrc(9));
    let mut sent = 0;
    for tick in 0..10 {
        if tick == 5 {
            relay.establish(A);
        }
        let at = relay.poll_timeout().unwrap();
        relay.handle_timeout(at);
        while relay.poll_transmit().is_some() {
            sent += 1;
        }
    }
    assert_eq!(sent, 5, "only the ticks after the ACK");
}

#[test]
fn an_unbridged_endpoint_drops_and_counts_what_its_phone_sends() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    assert!(send(&mut relay, now, A, phone(A), 1).is_none());
    relay.bridge(A, B);
    relay.unbridge(B);
    assert!(send(&mut relay, now, A, phone(A), 2).is_none());
    assert!(send(&mut relay, now, B, phone(B), 1).is_none());
    let counts = relay.take_counts();
    assert_eq!((counts.rtp_in, counts.dropped), (3, 3));
}

#[test]
fn rtcp_is_terminated_on_either_port_and_counted() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.bridge(A, B);
    let slot = relay.slot(A).unwrap();
    let mut report = vec![0x80, 201, 0, 1, 0, 0, 0, 1];
    assert!(feed(&mut relay, now, slot, Port::Rtp, phone(A), &mut report).is_none());
    let mut any = vec![0u8; 8];
    assert!(feed(&mut relay, now, slot, Port::Rtcp, phone(A), &mut any).is_none());
    assert_eq!(relay.take_counts().rtcp_in, 2);
}

#[test]
fn pcmu_is_transcoded_for_a_pcma_peer() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.configure(
        now,
        B,
        Some(phone(B)),
        pcma(),
        Direction::SendRecv,
        LOOPBACK,
    );
    relay.bridge(A, B);
    let (_, bytes) = send(&mut relay, now, A, phone(A), 1).unwrap();
    let rtp = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(rtp.payload_type(), PayloadType::PCMA);
    let expected = Law::A.encode(Law::Mu.decode(0x55));
    assert!(rtp.payload().iter().all(|b| *b == expected));
}

#[test]
fn a_rebridge_keeps_the_stream_toward_a_phone_continuous() {
    let now = t0();
    let mut relay = relay(now, &[A, B, C]);
    relay.bridge(A, B);
    let mut seen = Vec::new();
    for i in 0..3 {
        let at = now + PACKET_TIME * i;
        let (_, bytes) = send(&mut relay, at, B, phone(B), 100 + i as u16).unwrap();
        seen.push(RtpPacket::parse(&bytes).unwrap().header());
    }
    // A is moved to C, whose phone numbers its stream far away.
    relay.bridge(A, C);
    for i in 3..6 {
        let at = now + PACKET_TIME * i;
        let mut bytes = packet(PayloadType::PCMU, 0x7777, 60_000 + i as u16, &[1; 160]);
        let slot = relay.slot(C).unwrap();
        let t = feed(&mut relay, at, slot, Port::Rtp, phone(C), &mut bytes);
        assert_eq!(t.map(|t| t.to), Some(phone(A)));
        seen.push(RtpPacket::parse(&bytes).unwrap().header());
    }
    assert!(seen.iter().all(|h| h.ssrc == seen[0].ssrc), "one SSRC");
    for pair in seen.windows(2) {
        assert_eq!(pair[1].sequence, pair[0].sequence.wrapping_add(1));
        assert!(pair[1].timestamp.wrapping_sub(pair[0].timestamp) >= 160);
    }
    assert!(seen[3].marker, "the new source starts with a marker");
}

#[test]
fn music_goes_out_every_20_ms_on_the_playout_tick_until_stopped() {
    let now = t0();
    let mut relay = relay(now, &[A]);
    relay.play(now, A, Announcement::chime(), Ssrc(9));
    let mut at = now;
    let mut sent = Vec::new();
    let slot = relay.slot(A).unwrap();
    for _ in 0..5 {
        at = relay.poll_timeout().expect("the playout tick");
        relay.handle_timeout(at);
        while let Some((t, bytes)) = relay.poll_transmit() {
            assert_eq!((t.from, t.to), (slot, phone(A)));
            sent.push((at, RtpPacket::parse(bytes).unwrap().header()));
        }
    }
    assert_eq!(sent.len(), 5);
    for pair in sent.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, PACKET_TIME);
        assert_eq!(pair[1].1.sequence, pair[0].1.sequence.wrapping_add(1));
    }
    relay.stop_playing(A);
    relay.handle_timeout(at + PACKET_TIME);
    assert!(relay.poll_transmit().is_none());
    let next = relay.poll_timeout().expect("the inactivity sweep");
    assert!(
        next > at + PACKET_TIME,
        "no playout tick once nothing plays"
    );
}

#[test]
fn bridging_an_endpoint_that_plays_stops_its_music() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.play(now, A, Announcement::ringback(), Ssrc(9));
    let tick = relay.poll_timeout().expect("the playout tick");
    relay.handle_timeout(tick);
    assert!(relay.poll_transmit().is_some(), "the tone plays");
    while relay.poll_transmit().is_some() {}
    relay.bridge(A, B);
    relay.handle_timeout(tick + PACKET_TIME);
    assert!(
        relay.poll_transmit().is_none(),
        "only B's packets reach A's phone now"
    );
    let (t, _) = send(&mut relay, now, B, phone(B), 1).expect("relayed");
    assert_eq!(t.to, phone(A));
}

#[test]
fn a_conference_sends_each_member_the_others_mixed() {
    let now = t0();
    let mut relay = relay(now, &[A, B, C]);
    relay.mix(now, &[(A, Ssrc(1)), (B, Ssrc(2)), (C, Ssrc(3))]);
    for (id, value) in [(A, 100i16), (B, 200)] {
        let payload = [Law::Mu.encode(value); 160];
        let mut bytes = packet(PayloadType::PCMU, 5, 1, &payload);
        let slot = relay.slot(id).unwrap();
        assert!(feed(&mut relay, now, slot, Port::Rtp, phone(id), &mut bytes).is_none());
    }
    relay.handle_timeout(relay.poll_timeout().unwrap());
    let mut heard = HashMap::new();
    while let Some((t, bytes)) = relay.poll_transmit() {
        let rtp = RtpPacket::parse(bytes).unwrap();
        heard.insert(t.to, Law::Mu.decode(rtp.payload()[0]));
    }
    let near = |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs() < 16;
    assert!(near(heard[&phone(A)], 200), "{heard:?}");
    assert!(near(heard[&phone(B)], 100), "{heard:?}");
    assert!(near(heard[&phone(C)], 300), "{heard:?}");
}

#[test]
fn inactivity_is_reported_once_and_only_while_the_phone_should_send() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.configure(
        now,
        B,
        Some(phone(B)),
        pcmu(),
        Direction::Inactive,
        LOOPBACK,
    );
    let mut at = now;
    while at < now + TIMEOUT * 3 {
        at = relay.poll_timeout().expect("the sweep");
        relay.handle_timeout(at);
        if at < now + TIMEOUT / 2 {
            send(&mut relay, at, A, phone(A), 1);
        }
    }
    let events: Vec<Event> = std::iter::from_fn(|| relay.poll_event()).collect();
    assert_eq!(events, vec![Event::Inactive(A)]);
    let first_quiet = now + TIMEOUT / 2;
    assert!(at >= first_quiet + TIMEOUT);
}

#[test]
fn poll_timeout_moves_forward_after_handle_timeout() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.play(now, A, Announcement::chime(), Ssrc(9));
    let mut last = now;
    for _ in 0..200 {
        let due = relay.poll_timeout().expect("timers armed");
        relay.handle_timeout(due);
        while relay.poll_transmit().is_some() {}
        let next = relay.poll_timeout().expect("timers armed");
        assert!(next > due && due >= last);
        last = due;
    }
}

#[test]
fn time_going_backwards_is_ignored() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.bridge(A, B);
    relay.handle_timeout(now + TIMEOUT);
    assert!(send(&mut relay, now, A, phone(A), 1).is_some());
    relay.handle_timeout(now);
    assert!(relay.poll_timeout().unwrap() > now + TIMEOUT);
}

/// A recording's side as the runtime implements it: every packet kept, until told to stop.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    /// (from, samples) per packet.
    packets: Vec<(EndpointId, usize)>,
    ended: bool,
}

impl Tap for Capture {
    fn push(&mut self, _now: Instant, from: EndpointId, packet: &AudioPacket<'_>) -> bool {
        let mut c = self.0.lock().unwrap();
        c.packets.push((from, packet.samples.len()));
        !c.ended
    }
}

#[test]
fn taps_get_decoded_audio_until_their_recording_ends_then_the_fast_path_returns() {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    relay.bridge(A, B);
    let capture = Capture::default();
    relay.add_tap(A, RecordingId("r".into()), Box::new(capture.clone()));
    send(&mut relay, now, A, phone(A), 1);
    assert_eq!(capture.0.lock().unwrap().packets, vec![(A, 160)]);
    capture.0.lock().unwrap().ended = true;
    send(&mut relay, now, A, phone(A), 2);
    assert_eq!(relay.endpoint(A).unwrap().tap_count(), 0);
    send(&mut relay, now, A, phone(A), 3);
    assert_eq!(capture.0.lock().unwrap().packets.len(), 2);
}

#[test]
fn an_endpoint_moved_out_stops_its_peer_relaying_to_it_and_keeps_its_own_state() {
    let now = t0();
    let mut relay = relay(now, &[A, B, C]);
    relay.bridge(A, B);
    relay.play(now, C, Announcement::chime(), Ssrc(4));
    let moved = relay.remove(B).expect("held");
    assert!(send(&mut relay, now, A, phone(A), 1).is_none());
    let playing = relay.remove(C).expect("held");
    let mut other = Relay::new(TIMEOUT);
    other.insert(now, moved);
    other.insert(now, playing);
    assert!(
        other.poll_timeout().unwrap() <= now + PACKET_TIME,
        "its music plays on"
    );
}

#[test]
fn only_g711_audio_is_decoded_telephone_events_and_comfort_noise_are_not() {
    let pt = |n| PayloadType::new(n).unwrap_or(PayloadType::PCMU);
    assert_eq!(audio_law(&pcma(), pt(8)), Some(Law::A));
    assert_eq!(audio_law(&pcma(), pt(0)), Some(Law::Mu));
    for other in [13, 101, 18, 96] {
        assert_eq!(audio_law(&pcma(), pt(other)), None, "PT {other}");
    }
}

/// PCMU with telephone-event on payload type 101, as most phones negotiate it.
fn pcmu_with_events() -> Negotiated {
    Negotiated {
        telephone_event: Some(Codec::telephone_event(PayloadType::new(101).unwrap())),
        ..pcmu()
    }
}

/// What A's phone sends when its user presses 5 with RFC 4733 on, between audio packets:
/// the event's start five times, then its end three times, all with the event's timestamp.
fn key_press_as_events() -> Vec<Vec<u8>> {
    let te = PayloadType::new(101).unwrap();
    let mut stream = Vec::new();
    let mut sequence = 1;
    let mut next = |pt, timestamp, marker, payload: &[u8]| {
        let mut out = Vec::new();
        RtpHeader {
            marker,
            payload_type: pt,
            sequence,
            timestamp,
            ssrc: Ssrc(0x5000),
        }
        .write(payload, &mut out);
        sequence += 1;
        out
    };
    for i in 0..3 {
        stream.push(next(PayloadType::PCMU, i * 160, false, &[0xff; 160]));
    }
    for i in 1..=8u16 {
        let event = crate::media::dtmf::TelephoneEvent {
            event: 5,
            end: i > 5,
            volume: 10,
            duration: i.min(6) * 160,
        };
        stream.push(next(te, 480, i == 1, &event.to_bytes()));
    }
    for i in 0..3 {
        stream.push(next(PayloadType::PCMU, 1600 + i * 160, false, &[0xff; 160]));
    }
    stream
}

/// What A's phone sends when its user presses 7 with no telephone-event: the tone in its
/// µ-law audio, 100 ms between silences.
fn key_press_in_band() -> Vec<Vec<u8>> {
    use crate::media::test_signals::{dtmf, to_pcm};
    let mut signal = vec![0f32; 480];
    signal.extend(dtmf('7', 800, -10.0));
    signal.extend(vec![0f32; 800]);
    to_pcm(&signal)
        .chunks(160)
        .zip(1u16..)
        .map(|(samples, sequence)| {
            let codes: Vec<u8> = samples.iter().map(|s| Law::Mu.encode(*s)).collect();
            packet(PayloadType::PCMU, 0x5000, sequence, &codes)
        })
        .collect()
}

/// Plays `stream` from A's phone with A bridged to B, both on `negotiated`, digit detection
/// on A as `detect` says: what B's phone is sent, and the relay's events.
fn through_bridge(
    stream: &[Vec<u8>],
    negotiated: &Negotiated,
    detect: bool,
) -> (Vec<Vec<u8>>, Vec<Event>) {
    let now = t0();
    let mut relay = relay(now, &[A, B]);
    for id in [A, B] {
        let remote = Some(phone(id));
        relay.configure(
            now,
            id,
            remote,
            negotiated.clone(),
            Direction::SendRecv,
            LOOPBACK,
        );
    }
    relay.bridge(A, B);
    relay.detect_digits(A, detect);
    assert_eq!(relay.endpoint(A).unwrap().detects_digits(), detect);
    let slot = relay.slot(A).unwrap();
    let mut sent = Vec::new();
    for (i, bytes) in stream.iter().enumerate() {
        let at = now + PACKET_TIME * u32::try_from(i).unwrap();
        let mut bytes = bytes.clone();
        let t = feed(&mut relay, at, slot, Port::Rtp, phone(A), &mut bytes);
        assert_eq!(t.map(|t| t.to), Some(phone(B)), "packet {i} relayed");
        sent.push(bytes);
    }
    (sent, std::iter::from_fn(|| relay.poll_event()).collect())
}

/// `stream` from A's phone, bridged to B on `negotiated`: one `digit` with detection on,
/// none with it off (the default), and B's phone sent the same packets either way, with
/// the payloads A's phone sent.
fn one_digit_and_relayed_unchanged(stream: &[Vec<u8>], negotiated: &Negotiated, digit: char) {
    let (sent_on, events) = through_bridge(stream, negotiated, true);
    assert_eq!(events, vec![Event::Digit { endpoint: A, digit }]);
    let (sent_off, events) = through_bridge(stream, negotiated, false);
    assert_eq!(events, vec![], "detection off");
    assert_eq!(sent_on, sent_off, "detection changes nothing relayed");
    for (sent, original) in sent_on.iter().zip(stream) {
        let sent = RtpPacket::parse(sent).unwrap();
        assert_eq!(
            sent.payload(),
            RtpPacket::parse(original).unwrap().payload()
        );
    }
}

#[test]
fn a_key_pressed_as_telephone_events_is_one_digit_and_the_events_are_still_relayed() {
    one_digit_and_relayed_unchanged(&key_press_as_events(), &pcmu_with_events(), '5');
}

#[test]
fn a_key_pressed_in_band_is_one_digit_and_the_audio_is_relayed_unchanged() {
    one_digit_and_relayed_unchanged(&key_press_in_band(), &pcmu(), '7');
}

#[test]
fn a_queued_caller_hearing_music_is_heard_keying_until_detection_stops() {
    let now = t0();
    let mut relay = relay(now, &[A]);
    relay.configure(
        now,
        A,
        Some(phone(A)),
        pcmu_with_events(),
        Direction::SendRecv,
        LOOPBACK,
    );
    relay.play(now, A, Announcement::chime(), Ssrc(9));
    relay.detect_digits(A, true);
    let slot = relay.slot(A).unwrap();
    let keyed = |relay: &mut Relay, stream: Vec<Vec<u8>>| {
        for mut bytes in stream {
            assert!(feed(relay, now, slot, Port::Rtp, phone(A), &mut bytes).is_none());
        }
        std::iter::from_fn(|| relay.poll_event()).collect::<Vec<_>>()
    };
    let digit = |digit| vec![Event::Digit { endpoint: A, digit }];
    assert_eq!(keyed(&mut relay, key_press_as_events()), digit('5'));
    relay.detect_digits(A, false);
    assert_eq!(keyed(&mut relay, key_press_as_events()), vec![]);
    relay.detect_digits(A, true);
    assert_eq!(
        keyed(&mut relay, key_press_as_events()),
        digit('5'),
        "afresh"
    );
}

#[path = "srtp_tests.rs"]
mod srtp;
