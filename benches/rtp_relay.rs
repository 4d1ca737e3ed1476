//! One 172-byte PCMU packet (12-byte header, 160 bytes = 20 ms) through the relay path:
//! parse, then `StreamRewriter::rewrite` in place, with and without PCMU → PCMA
//! transcoding. An anchored call is 100 packets per second each way, so this is the
//! per-packet CPU the media path adds on top of the socket calls.
//!
//! `relay_handle_packet_pcmu` is the same packet through the whole sans-IO relay a media
//! shard runs: latching, the bridged peer's lookup, the rewriter, the counters.
//! `relay_handle_packet_srtp_to_plain` adds authenticating and decrypting the phone's SRTP
//! (AES_CM_128_HMAC_SHA1_80) on the way in, `relay_handle_packet_plain_to_srtp` encrypting
//! and tagging on the way out; the three run side by side so their difference is SRTP's cost.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use switchboard::call::EndpointId;
use switchboard::media::g711::Law;
use switchboard::media::relay::{LatchPolicy, Port, Relay, RelayEndpoint};
use switchboard::media::rewrite::{PayloadMap, StreamRewriter, StreamStart};
use switchboard::media::rtp::{PayloadType, RtpHeader, RtpPacket, RtpPacketMut, Ssrc};
use switchboard::media::sdp::{Codec, Direction, Negotiated, SrtpKeys};
use switchboard::media::srtp::{KEY_MATERIAL_LEN, MAX_OVERHEAD, MasterKey, SrtpContext, SrtpSuite};

const SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

fn template() -> Vec<u8> {
    let payload: Vec<u8> = (0..160u16).map(|i| (i * 37 % 256) as u8).collect();
    let mut out = Vec::with_capacity(172);
    RtpHeader {
        marker: false,
        payload_type: PayloadType::PCMU,
        sequence: 1,
        timestamp: 160,
        ssrc: Ssrc(0x1234_5678),
    }
    .write(&payload, &mut out);
    assert_eq!(out.len(), 172);
    out
}

fn relay(c: &mut Criterion, name: &str, payloads: PayloadMap) {
    let mut rewriter = StreamRewriter::new(
        Ssrc(0xfeed_f00d),
        StreamStart {
            sequence: 100,
            timestamp: 1000,
        },
        payloads,
    );
    let mut stream = Stream::new();
    let mut buf = template();
    c.bench_function(name, |b| {
        b.iter(|| {
            let now = stream.next(&mut buf);
            let packet = RtpPacket::parse(black_box(&buf)).expect("valid RTP");
            black_box(packet.header());
            let action = rewriter
                .rewrite(now, black_box(&mut buf))
                .expect("valid RTP");
            black_box(action)
        });
    });
}

/// A live stream in virtual time: the template packet numbered on, one every 20 ms.
struct Stream {
    template: Vec<u8>,
    sequence: u16,
    now: Instant,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            template: template(),
            sequence: 1,
            #[allow(clippy::disallowed_methods)]
            now: Instant::now(),
        }
    }

    /// Writes the next packet into `buf`; when it arrives.
    fn next(&mut self, buf: &mut [u8]) -> Instant {
        buf.copy_from_slice(&self.template);
        self.sequence = self.sequence.wrapping_add(1);
        self.now += Duration::from_millis(20);
        let mut incoming = RtpPacketMut::parse(buf).expect("valid RTP");
        incoming.set_sequence(self.sequence);
        incoming.set_timestamp(u32::from(self.sequence) * 160);
        self.now
    }
}

/// Endpoint 1's phone sends to endpoint 2's; either leg may be SRTP.
fn relay_core(c: &mut Criterion, name: &str, caller_srtp: bool, callee_srtp: bool) {
    let mut stream = Stream::new();
    let now = stream.now;
    let mut relay = Relay::new(Duration::from_secs(60));
    let phone = |port| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let phone_key = MasterKey::from_material(SUITE, [0x11; KEY_MATERIAL_LEN]);
    for (id, port, srtp) in [(1, 40_000, caller_srtp), (2, 40_002, callee_srtp)] {
        let start = StreamStart {
            sequence: 100,
            timestamp: 1000,
        };
        let endpoint = RelayEndpoint::new(EndpointId(id), Ssrc(id as u32), start, now);
        relay.insert(now, endpoint);
        let negotiated = Negotiated {
            codec: Codec::pcmu(),
            telephone_event: None,
            srtp: srtp.then(|| {
                Box::new(SrtpKeys {
                    local: MasterKey::from_material(SUITE, [0x22; KEY_MATERIAL_LEN]),
                    remote: phone_key.clone(),
                })
            }),
        };
        relay.configure(
            now,
            EndpointId(id),
            Some(phone(port)),
            negotiated,
            Direction::SendRecv,
            LatchPolicy::signalling(phone(port).ip()),
        );
        relay.establish(EndpointId(id));
    }
    relay.bridge(EndpointId(1), EndpointId(2));
    let slot = relay.slot(EndpointId(1)).expect("held");
    let mut sender = caller_srtp.then(|| SrtpContext::outbound(&phone_key));
    c.bench_function(name, |b| {
        // The phone's encryption is set-up, outside the measured relay.
        b.iter_batched(
            || {
                let mut buf = [0u8; 172 + MAX_OVERHEAD];
                let now = stream.next(&mut buf[..172]);
                let len = match sender.as_mut() {
                    Some(phone) => phone.protect_rtp(&mut buf, 172).expect("protects"),
                    None => 172,
                };
                (now, buf, len)
            },
            |(now, mut buf, len)| {
                let out = relay.handle_packet(now, slot, Port::Rtp, phone(40_000), &mut buf, len);
                black_box(out.expect("relayed"))
            },
            BatchSize::SmallInput,
        );
    });
}

fn benches(c: &mut Criterion) {
    relay_core(c, "relay_handle_packet_pcmu", false, false);
    relay_core(c, "relay_handle_packet_srtp_to_plain", true, false);
    relay_core(c, "relay_handle_packet_plain_to_srtp", false, true);
    c.bench_function("rtp_parse_172", |b| {
        let packet = template();
        b.iter(|| {
            let parsed = RtpPacket::parse(black_box(&packet)).expect("valid RTP");
            black_box((parsed.header(), parsed.payload().len()))
        });
    });
    relay(
        c,
        "rtp_relay_pcmu",
        PayloadMap::new().relay(PayloadType::PCMU, PayloadType::PCMU),
    );
    relay(
        c,
        "rtp_relay_pcmu_to_pcma",
        PayloadMap::new().transcode(PayloadType::PCMU, PayloadType::PCMA, Law::Mu, Law::A),
    );
}

criterion_group!(rtp_relay, benches);
criterion_main!(rtp_relay);
