//! One 20 ms conference tick: every participant's G.711 payload decoded, mixed minus itself,
//! and encoded into its outgoing RTP packet; for 3 participants (a consult turned into a
//! three-way call) and 10. A conference runs 50 ticks a second, so the tick's time times 50
//! is the share of one core a conference costs.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use switchboard::media::g711::{self, Law};
use switchboard::media::mixer::{FRAME, Frame, MixStream, mix_minus};
use switchboard::media::rtp::{PayloadType, Ssrc};

fn payloads(participants: usize) -> Vec<[u8; FRAME]> {
    (0..participants)
        .map(|p| {
            let mut codes = [0u8; FRAME];
            for (i, c) in codes.iter_mut().enumerate() {
                *c = ((i * 37 + p * 11) % 256) as u8;
            }
            codes
        })
        .collect()
}

fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixer_tick");
    for participants in [3usize, 10] {
        let received = payloads(participants);
        let mut inputs = vec![[0i16; FRAME]; participants];
        let mut outputs: Vec<Frame> = vec![[0i16; FRAME]; participants];
        let mut streams: Vec<MixStream> = (0..participants)
            .map(|p| MixStream::new(Ssrc(p as u32), Law::A, PayloadType::PCMA))
            .collect();
        let mut packet = Vec::with_capacity(FRAME + 12);
        group.bench_with_input(
            BenchmarkId::from_parameter(participants),
            &participants,
            |b, _| {
                b.iter(|| {
                    for (codes, pcm) in received.iter().zip(inputs.iter_mut()) {
                        g711::decode_into(Law::A, black_box(codes), pcm);
                    }
                    mix_minus(&inputs, &mut outputs);
                    for (frame, stream) in outputs.iter().zip(streams.iter_mut()) {
                        stream.next_packet(frame, &mut packet);
                        black_box(&packet);
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
