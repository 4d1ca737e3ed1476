//! One 172-byte PCMU packet (12-byte header, 160 bytes = 20 ms) through the relay path:
//! parse, then `StreamRewriter::rewrite` in place, with and without PCMU → PCMA
//! transcoding. An anchored call is 100 packets per second each way, so this is the
//! per-packet CPU the media path adds on top of the socket calls.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::media::g711::Law;
use switchboard::media::rewrite::{PayloadMap, StreamRewriter, StreamStart};
use switchboard::media::rtp::{PayloadType, RtpHeader, RtpPacket, RtpPacketMut, Ssrc};

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
    let template = template();
    let mut rewriter = StreamRewriter::new(
        Ssrc(0xfeed_f00d),
        StreamStart {
            sequence: 100,
            timestamp: 1000,
        },
        payloads,
    );
    // Virtual time: a packet every 20 ms, as a live stream would arrive.
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut sequence = 1u16;
    let mut buf = template.clone();
    c.bench_function(name, |b| {
        b.iter(|| {
            buf.copy_from_slice(&template);
            sequence = sequence.wrapping_add(1);
            now += Duration::from_millis(20);
            {
                let mut incoming = RtpPacketMut::parse(&mut buf).expect("valid RTP");
                incoming.set_sequence(sequence);
                incoming.set_timestamp(u32::from(sequence) * 160);
            }
            let packet = RtpPacket::parse(black_box(&buf)).expect("valid RTP");
            black_box(packet.header());
            let action = rewriter
                .rewrite(now, black_box(&mut buf))
                .expect("valid RTP");
            black_box(action)
        });
    });
}

fn benches(c: &mut Criterion) {
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
