//! Synthetic 8 kHz test signals for the media tests: a speech-like talker, white and
//! babble-like noise, tones, and the measurements the tests make on them. Deterministic (no
//! RNG state), so every run hears the same call.

use std::f32::consts::PI;

/// Sample rate of everything here.
pub const RATE: f32 = 8000.0;

/// A deterministic xorshift noise source, uniform in ±`amplitude`.
pub fn white_noise(n: usize, amplitude: f32, seed: u32) -> Vec<f32> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ((x as f32 / u32::MAX as f32) * 2.0 - 1.0) * amplitude
        })
        .collect()
}

/// A voiced harmonic complex: fundamental `f0` (with a slow vibrato), harmonics up to
/// 3.4 kHz falling off at 6 dB per octave, the glottal-source tilt of a voice.
fn voice(t: f32, f0: f32, phase: f32) -> f32 {
    // Frequency modulation: ±4 % at 5 Hz; the phase is the integral of the frequency.
    let beta = 0.04 * f0 / 5.0;
    let theta = 2.0 * PI * f0 * t + beta * (2.0 * PI * 5.0 * t + phase).sin();
    let mut v = 0.0;
    let mut k = 1.0;
    while k * f0 < 3400.0 {
        v += (theta * k + phase * k).sin() / k;
        k += 1.0;
    }
    v
}

/// A talker: `on` seconds of syllables (4 per second, amplitude-modulated voice) then `off`
/// seconds of silence, repeated to `n` samples, peaking around `peak`. Returns the samples
/// and, per sample, whether it belongs to a talk spurt.
pub fn talker(n: usize, on: f32, off: f32, peak: f32) -> (Vec<f32>, Vec<bool>) {
    let period = on + off;
    let mut samples = Vec::with_capacity(n);
    let mut talking = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f32 / RATE;
        let within = t % period;
        let spurt = (t / period).floor();
        if within < on {
            // Syllables: raised-cosine envelope, never fully closed inside the spurt.
            let syllable = 0.6 - 0.4 * (2.0 * PI * 4.0 * within).cos();
            let f0 = 120.0 + 25.0 * (spurt % 3.0);
            samples.push(voice(t, f0, spurt) * syllable * peak / 2.0);
            talking.push(true);
        } else {
            samples.push(0.0);
            talking.push(false);
        }
    }
    (samples, talking)
}

/// Babble: several distant talkers at once (harmonic complexes at different pitches, each
/// with its own syllable rhythm), scaled to RMS `rms`.
pub fn babble(n: usize, rms: f32) -> Vec<f32> {
    let voices = [
        (105.0, 3.1, 0.3),
        (165.0, 3.7, 1.1),
        (210.0, 4.3, 2.0),
        (240.0, 2.9, 2.9),
    ];
    let raw: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / RATE;
            voices
                .iter()
                .map(|&(f0, rate, phase)| {
                    voice(t, f0, phase) * (0.5 - 0.5 * (2.0 * PI * rate * t + phase).cos())
                })
                .sum()
        })
        .collect();
    let scale = rms / rms_of(&raw);
    raw.into_iter().map(|v| v * scale).collect()
}

/// A sine tone.
pub fn tone(freq: f32, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (2.0 * PI * freq * i as f32 / RATE).sin() * amplitude)
        .collect()
}

/// Rounds to i16 with saturation.
pub fn to_pcm(x: &[f32]) -> Vec<i16> {
    x.iter()
        .map(|v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Root mean square.
pub fn rms_of(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Mean energy in dB (re 1.0²) of the samples where `keep` holds.
pub fn energy_db(x: &[i16], keep: impl Fn(usize) -> bool) -> f32 {
    let (mut sum, mut n) = (0f64, 0usize);
    for (i, v) in x.iter().enumerate() {
        if keep(i) {
            sum += f64::from(*v).powi(2);
            n += 1;
        }
    }
    (10.0 * (sum / n.max(1) as f64 + 1e-9).log10()) as f32
}

/// Goertzel power of `freq` in `x`.
pub fn goertzel(x: &[i16], freq: f32) -> f32 {
    let w = 2.0 * PI * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for v in x {
        let s = f32::from(*v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Peak amplitude of a sine at `dbm0` (see [`crate::media::dtmf::DBM0_PEAK`]).
pub fn dbm0(level: f32) -> f32 {
    crate::media::dtmf::DBM0_PEAK * 10f32.powf(level / 20.0)
}

/// The DTMF pair of `key`, each tone at `level` dBm0, for `n` samples.
///
/// # Panics
/// When `key` is not a DTMF key.
pub fn dtmf(key: char, n: usize, level: f32) -> Vec<f32> {
    let (row, column) = crate::media::dtmf::frequencies(key).expect("a DTMF key");
    let (a, b) = (tone(row, n, dbm0(level)), tone(column, n, dbm0(level)));
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

/// A linear sine sweep from `from` to `to` Hz over `n` samples.
pub fn sweep(from: f32, to: f32, n: usize, amplitude: f32) -> Vec<f32> {
    let rate = (to - from) / n as f32;
    let mut phase = 0f32;
    (0..n)
        .map(|i| {
            phase = (phase + 2.0 * PI * (from + rate * i as f32) / RATE) % (2.0 * PI);
            phase.sin() * amplitude
        })
        .collect()
}
