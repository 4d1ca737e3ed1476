//! One 20 ms G.711 packet (160 µ-law bytes) through the noise-suppression path the relay
//! uses when a direction is cleaned: decode → 8 → 48 kHz → two RNNoise frames → 48 → 8 kHz →
//! encode, with filter state carried across packets as on a live call. Also the same call
//! with suppression off, which is the relay's undecoded fast path, and the two halves of
//! the cost on their own: the resamplers, and RNNoise's two 480-sample frames (through our
//! network, `media::rnnoise`, and through `nnnoiseless::DenoiseState` for reference), on the
//! packet's audio and on digital silence.
//!
//! The `media_frame_dtmf` group prices in-band digit detection (`media::dtmf`) on one 20 ms
//! µ-law packet, on the voiced sound above and on a keyed tone, beside the G.711 decode of
//! the same packet for scale: what a queued caller's leg costs while a callback is offered.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::media::denoise::{PACKET, SwitchableDenoiser};
use switchboard::media::dtmf::{DBM0_PEAK, InbandDetector, frequencies};
use switchboard::media::g711::{self, Law};
use switchboard::media::resample::{Downsampler, Upsampler};
use switchboard::media::rnnoise::FrameDenoiser;

/// One second of a noisy voiced sound (a 150 Hz harmonic complex plus xorshift noise),
/// µ-law encoded, as 50 packets: RNNoise's cost depends on content, digital silence is cheaper.
fn packets() -> Vec<Vec<u8>> {
    let mut x = 7u32;
    let samples = (0..8000).map(|i| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let t = i as f32 / 8000.0;
        let voice: f32 = (1..20)
            .map(|k| (2.0 * std::f32::consts::PI * 150.0 * k as f32 * t).sin() / k as f32)
            .sum();
        let noise = (x as f32 / u32::MAX as f32 - 0.5) * 1200.0;
        (voice * 3000.0 + noise) as i16
    });
    mu_law_packets(samples)
}

/// 8 kHz samples as 20 ms µ-law payloads.
fn mu_law_packets(samples: impl Iterator<Item = i16>) -> Vec<Vec<u8>> {
    let samples: Vec<i16> = samples.collect();
    samples
        .chunks_exact(PACKET)
        .map(|c| c.iter().map(|s| Law::Mu.encode(*s)).collect())
        .collect()
}

fn benches(c: &mut Criterion) {
    let packets = packets();
    let mut denoiser = SwitchableDenoiser::new();
    denoiser.set_enabled(true);
    // Past the warm-up and crossfade packets: steady state.
    for p in &packets[..4] {
        denoiser.process_payload(Law::Mu, &mut p.clone());
    }
    let mut i = 0;
    let mut payload = vec![0u8; PACKET];
    c.bench_function("media_frame_pcmu_20ms_denoised", |b| {
        b.iter(|| {
            payload.copy_from_slice(&packets[i % packets.len()]);
            i += 1;
            denoiser.process_payload(Law::Mu, black_box(&mut payload));
            black_box(&payload);
        });
    });
    let mut off = SwitchableDenoiser::new();
    c.bench_function("media_frame_pcmu_20ms_fast_path", |b| {
        b.iter(|| {
            payload.copy_from_slice(&packets[i % packets.len()]);
            i += 1;
            if off.is_active() {
                off.process_payload(Law::Mu, black_box(&mut payload));
            }
            black_box(&payload);
        });
    });
    let pcm: Vec<f32> = packets[10]
        .iter()
        .map(|c| f32::from(Law::Mu.decode(*c)))
        .collect();
    let (mut up, mut down) = (Upsampler::new(), Downsampler::new());
    let (mut wide, mut narrow) = (Vec::with_capacity(960), Vec::with_capacity(160));
    c.bench_function("media_frame_resample_up_and_down_only", |b| {
        b.iter(|| {
            wide.clear();
            narrow.clear();
            up.process(black_box(&pcm), &mut wide);
            down.process(&wide, &mut narrow);
            black_box(&narrow);
        });
    });
    // RNNoise alone on the same packet at 48 kHz (filled here, so a filtered run of only
    // these benches still has audio), through our network and through nnnoiseless's own.
    wide.clear();
    up.process(&pcm, &mut wide);
    let silence = [0f32; 960];
    let mut out = [0f32; 480];
    for (name, input) in [("speech", &wide[..]), ("digital_silence", &silence[..])] {
        let mut ours = FrameDenoiser::new();
        c.bench_function(&format!("media_frame_rnnoise_two_frames_{name}"), |b| {
            b.iter(|| {
                for frame in input.chunks_exact(480) {
                    black_box(ours.process_frame(&mut out, black_box(frame)));
                }
            });
        });
        let mut reference = nnnoiseless::DenoiseState::new();
        c.bench_function(
            &format!("media_frame_rnnoise_two_frames_{name}_nnnoiseless_reference"),
            |b| {
                b.iter(|| {
                    for frame in input.chunks_exact(480) {
                        black_box(reference.process_frame(&mut out, black_box(frame)));
                    }
                });
            },
        );
    }
}

/// One second of the key 5 at -10 dBm0 per tone, µ-law encoded, as 50 packets.
fn keyed_packets() -> Vec<Vec<u8>> {
    let (row, column) = frequencies('5').expect("a key");
    let amplitude = DBM0_PEAK * 10f32.powf(-10.0 / 20.0);
    let samples = (0..8000).map(|i| {
        let t = i as f32 / 8000.0;
        let pair = (2.0 * std::f32::consts::PI * row * t).sin()
            + (2.0 * std::f32::consts::PI * column * t).sin();
        (pair * amplitude) as i16
    });
    mu_law_packets(samples)
}

fn dtmf_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("media_frame_dtmf");
    let mut i = 0;
    for (name, packets) in [("speech", packets()), ("keyed_tone", keyed_packets())] {
        let mut detector = InbandDetector::new();
        let mut keys = 0u32;
        group.bench_function(format!("inband_detect_20ms_{name}"), |b| {
            b.iter(|| {
                let packet = &packets[i % packets.len()];
                i += 1;
                detector.push_g711(Law::Mu, black_box(packet), |_| keys += 1);
            });
        });
        black_box(keys);
    }
    let packets = packets();
    let mut pcm = [0i16; PACKET];
    group.bench_function("g711_decode_20ms_reference", |b| {
        b.iter(|| {
            let packet = &packets[i % packets.len()];
            i += 1;
            g711::decode_into(Law::Mu, black_box(packet), &mut pcm);
            black_box(&pcm);
        });
    });
    group.finish();
}

criterion_group!(media_frame, benches, dtmf_benches);
criterion_main!(media_frame);
