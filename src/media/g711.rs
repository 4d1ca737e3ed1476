//! G.711 companding (ITU-T G.711, 1988): µ-law and A-law to and from 16-bit linear PCM,
//! and direct µ-law ↔ A-law byte transcoding for relaying PCMU (payload type 0) to PCMA
//! (payload type 8) without a decode path (RFC 3551 §4.5.14).
//!
//! The algorithms are the classic segment/quantization ones (as in Sun's reference
//! `g711.c`); every table is computed at compile time from them, so the tables and the
//! functions cannot disagree. Decoded values are the midpoints of the quantization
//! intervals, scaled to i16: µ-law spans ±32124, A-law ±32256.
//!
//! The transcoding tables go through linear: each code maps to the code of the other law
//! whose interval contains its decoded value. They are not claimed bit-exact with the
//! conversion tables printed in G.711; the tests bound their error to one quantization step
//! and show A-law → µ-law → A-law is exact except for 16 codes, which move one step.

/// Which G.711 law a payload uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// µ-law, used in North America and Japan; RTP payload type 0, "PCMU".
    Mu,
    /// A-law, used elsewhere; RTP payload type 8, "PCMA".
    A,
}

impl Law {
    /// Decodes one code to linear PCM.
    #[must_use]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mu => ulaw_to_linear(code),
            Law::A => alaw_to_linear(code),
        }
    }

    /// Encodes one linear PCM sample.
    #[must_use]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => linear_to_ulaw(sample),
            Law::A => linear_to_alaw(sample),
        }
    }

    /// The code for digital silence (linear 0 for µ-law, the smallest positive step for A-law).
    #[must_use]
    pub fn silence(self) -> u8 {
        match self {
            Law::Mu => 0xff,
            Law::A => 0xd5,
        }
    }
}

const QUANT_MASK: i32 = 0x0f;
const SEG_SHIFT: i32 = 4;
const SEG_MASK: i32 = 0x70;
const SIGN_BIT: i32 = 0x80;
const ULAW_BIAS: i32 = 0x84;
// 14-bit magnitude ceiling before biasing; larger inputs saturate (G.711 Table 2a).
const ULAW_CLIP: i32 = 8159;

/// Index of the first segment end that `value` does not exceed, or 8 when above all.
const fn segment(value: i32, ends: &[i32; 8]) -> i32 {
    let mut i = 0;
    while i < 8 {
        if value <= ends[i] {
            return i as i32;
        }
        i += 1;
    }
    8
}

const ULAW_SEG_END: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const ALAW_SEG_END: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

/// µ-law encoding of a 14-bit sample (the i16 sample shifted right by two).
const fn ulaw_encode_14(value: i32) -> u8 {
    let (mut magnitude, mask) = if value < 0 {
        (-value, 0x7f)
    } else {
        (value, 0xff)
    };
    if magnitude > ULAW_CLIP {
        magnitude = ULAW_CLIP;
    }
    magnitude += ULAW_BIAS >> 2;
    let seg = segment(magnitude, &ULAW_SEG_END);
    let code = if seg >= 8 {
        0x7f
    } else {
        (seg << 4) | ((magnitude >> (seg + 1)) & QUANT_MASK)
    };
    (code ^ mask) as u8
}

/// A-law encoding of a 13-bit sample (the i16 sample shifted right by three).
const fn alaw_encode_13(value: i32) -> u8 {
    let (magnitude, mask) = if value >= 0 {
        (value, 0xd5)
    } else {
        (-value - 1, 0x55)
    };
    let seg = segment(magnitude, &ALAW_SEG_END);
    let code = if seg >= 8 {
        0x7f
    } else if seg < 2 {
        (seg << SEG_SHIFT) | ((magnitude >> 1) & QUANT_MASK)
    } else {
        (seg << SEG_SHIFT) | ((magnitude >> seg) & QUANT_MASK)
    };
    (code ^ mask) as u8
}

const fn ulaw_decode(code: u8) -> i16 {
    let u = !code as i32;
    let t = (((u & QUANT_MASK) << 3) + ULAW_BIAS) << ((u & SEG_MASK) >> SEG_SHIFT);
    if u & SIGN_BIT != 0 {
        (ULAW_BIAS - t) as i16
    } else {
        (t - ULAW_BIAS) as i16
    }
}

const fn alaw_decode(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & QUANT_MASK) << 4;
    let seg = (a & SEG_MASK) >> SEG_SHIFT;
    t += match seg {
        0 => 8,
        _ => 0x108,
    };
    if seg > 1 {
        t <<= seg - 1;
    }
    if a & SIGN_BIT != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn decode_table(law_a: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if law_a {
            alaw_decode(i as u8)
        } else {
            ulaw_decode(i as u8)
        };
        i += 1;
    }
    table
}

/// µ-law code → linear PCM.
pub static ULAW_TO_LINEAR: [i16; 256] = decode_table(false);
/// A-law code → linear PCM.
pub static ALAW_TO_LINEAR: [i16; 256] = decode_table(true);

const fn ulaw_encode_table() -> [u8; 1 << 14] {
    let mut table = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Index is the 14-bit two's-complement value.
        let value = ((i as i32) << 18) >> 18;
        table[i] = ulaw_encode_14(value);
        i += 1;
    }
    table
}

const fn alaw_encode_table() -> [u8; 1 << 13] {
    let mut table = [0u8; 1 << 13];
    let mut i = 0;
    while i < (1 << 13) {
        let value = ((i as i32) << 19) >> 19;
        table[i] = alaw_encode_13(value);
        i += 1;
    }
    table
}

static LINEAR14_TO_ULAW: [u8; 1 << 14] = ulaw_encode_table();
static LINEAR13_TO_ALAW: [u8; 1 << 13] = alaw_encode_table();

const fn transcode_table(from_a: bool) -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if from_a {
            ulaw_encode_14((alaw_decode(i as u8) as i32) >> 2)
        } else {
            alaw_encode_13((ulaw_decode(i as u8) as i32) >> 3)
        };
        i += 1;
    }
    table
}

/// µ-law code → A-law code.
pub static ULAW_TO_ALAW: [u8; 256] = transcode_table(false);
/// A-law code → µ-law code.
pub static ALAW_TO_ULAW: [u8; 256] = transcode_table(true);

/// Decodes a µ-law code.
#[must_use]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decodes an A-law code.
#[must_use]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encodes a sample to µ-law.
#[must_use]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // The arithmetic shift keeps the sign; the mask makes the 14-bit index.
    LINEAR14_TO_ULAW[((sample >> 2) as u16 & 0x3fff) as usize]
}

/// Encodes a sample to A-law.
#[must_use]
pub fn linear_to_alaw(sample: i16) -> u8 {
    LINEAR13_TO_ALAW[((sample >> 3) as u16 & 0x1fff) as usize]
}

/// Converts µ-law codes to A-law in place.
pub fn ulaw_to_alaw_in_place(codes: &mut [u8]) {
    for code in codes {
        *code = ULAW_TO_ALAW[usize::from(*code)];
    }
}

/// Converts A-law codes to µ-law in place.
pub fn alaw_to_ulaw_in_place(codes: &mut [u8]) {
    for code in codes {
        *code = ALAW_TO_ULAW[usize::from(*code)];
    }
}

/// Converts codes from one law to the other in place (no-op when the laws are equal).
pub fn transcode_in_place(from: Law, to: Law, codes: &mut [u8]) {
    match (from, to) {
        (Law::Mu, Law::A) => ulaw_to_alaw_in_place(codes),
        (Law::A, Law::Mu) => alaw_to_ulaw_in_place(codes),
        (Law::Mu, Law::Mu) | (Law::A, Law::A) => {}
    }
}

/// Decodes `codes` into `pcm`, sample by sample, up to the shorter of the two.
pub fn decode_into(law: Law, codes: &[u8], pcm: &mut [i16]) {
    let table = match law {
        Law::Mu => &ULAW_TO_LINEAR,
        Law::A => &ALAW_TO_LINEAR,
    };
    for (sample, &code) in pcm.iter_mut().zip(codes) {
        *sample = table[usize::from(code)];
    }
}

/// Encodes `pcm` into `codes`, sample by sample, up to the shorter of the two.
pub fn encode_into(law: Law, pcm: &[i16], codes: &mut [u8]) {
    for (code, &sample) in codes.iter_mut().zip(pcm) {
        *code = law.encode(sample);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width of the quantization interval for a value of this magnitude: µ-law segment k
    /// starts at decoded value (132 << k) - 132 with step 8 << k; A-law segment k ≥ 1
    /// starts at 256 << (k - 1) with step 16 << (k - 1).
    fn step_at(law: Law, magnitude: i32) -> i32 {
        let mut k = 0u32;
        while k < 7 {
            let next_segment_start = match law {
                Law::Mu => (132 << (k + 1)) - 132,
                Law::A => 256 << k,
            };
            if magnitude < next_segment_start {
                break;
            }
            k += 1;
        }
        match law {
            Law::Mu => 8 << k,
            Law::A => 16 << k.saturating_sub(1),
        }
    }

    #[test]
    fn known_values_decode_as_in_the_standard() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xfe), 8);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(alaw_to_linear(0x2a), -32256);
    }

    #[test]
    fn known_values_encode_as_in_the_standard() {
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xaa);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2a);
        assert_eq!(Law::Mu.silence(), linear_to_ulaw(0));
        assert_eq!(Law::A.silence(), linear_to_alaw(0));
    }

    #[test]
    fn encoder_tables_agree_with_the_algorithm_for_every_sample() {
        for sample in i16::MIN..=i16::MAX {
            assert_eq!(
                linear_to_ulaw(sample),
                ulaw_encode_14(i32::from(sample) >> 2),
                "{sample}"
            );
            assert_eq!(
                linear_to_alaw(sample),
                alaw_encode_13(i32::from(sample) >> 3),
                "{sample}"
            );
        }
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#04x}"
            );
            // µ-law has two zeros (0x7f and 0xff); both decode to 0, which encodes to 0xff.
            let expected = if code == 0x7f { 0xff } else { code };
            assert_eq!(
                linear_to_ulaw(ulaw_to_linear(code)),
                expected,
                "µ-law {code:#04x}"
            );
        }
    }

    #[test]
    fn decoding_is_monotonic_in_magnitude_and_odd() {
        for law in [Law::Mu, Law::A] {
            let mut positives: Vec<i16> = (0..=255u8)
                .map(|c| law.decode(c))
                .filter(|&v| v > 0)
                .collect();
            positives.sort_unstable();
            positives.dedup();
            assert_eq!(positives.len(), if law == Law::Mu { 127 } else { 128 });
            for code in 0..=255u8 {
                // Flipping the sign bit negates the value.
                assert_eq!(
                    law.decode(code),
                    -law.decode(code ^ 0x80),
                    "{law:?} {code:#04x}"
                );
            }
        }
    }

    #[test]
    fn transcoding_tables_match_the_path_through_linear() {
        for code in 0..=255u8 {
            assert_eq!(
                ULAW_TO_ALAW[usize::from(code)],
                linear_to_alaw(ulaw_to_linear(code))
            );
            assert_eq!(
                ALAW_TO_ULAW[usize::from(code)],
                linear_to_ulaw(alaw_to_linear(code))
            );
        }
    }

    #[test]
    fn transcoding_stays_within_one_quantization_step() {
        for code in 0..=255u8 {
            let before = i32::from(ulaw_to_linear(code));
            let after = i32::from(alaw_to_linear(ULAW_TO_ALAW[usize::from(code)]));
            assert!(
                (before - after).abs() <= step_at(Law::A, before.abs()),
                "µ {code:#04x}: {before} -> {after}"
            );
            let before = i32::from(alaw_to_linear(code));
            let after = i32::from(ulaw_to_linear(ALAW_TO_ULAW[usize::from(code)]));
            assert!(
                (before - after).abs() <= step_at(Law::Mu, before.abs()),
                "A {code:#04x}: {before} -> {after}"
            );
        }
    }

    #[test]
    fn a_law_through_mu_law_and_back_moves_few_codes_by_one_step() {
        let moved: Vec<(i32, i32)> = (0..=255u8)
            .map(|c| {
                let back = ULAW_TO_ALAW[usize::from(ALAW_TO_ULAW[usize::from(c)])];
                (
                    i32::from(alaw_to_linear(c)),
                    i32::from(alaw_to_linear(back)),
                )
            })
            .filter(|(before, after)| before != after)
            .collect();
        // Where a µ-law interval is wider than an A-law one (near µ-law segment edges), the
        // tandem lands on the neighbouring A-law level: 8 codes per sign, one step away.
        assert_eq!(moved.len(), 16, "{moved:?}");
        for (before, after) in moved {
            let step = step_at(Law::A, before.abs()).max(step_at(Law::A, after.abs()));
            assert!((before - after).abs() <= step, "{before} -> {after}");
        }
    }

    fn sine(amplitude: f64, frequency: f64, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|n| {
                let t = n as f64 / 8000.0;
                (amplitude * (2.0 * std::f64::consts::PI * frequency * t).sin()).round() as i16
            })
            .collect()
    }

    /// Signal-to-noise ratio in dB of `got` against `reference`.
    fn snr(reference: &[i16], got: &[i16]) -> f64 {
        let signal: f64 = reference.iter().map(|&s| f64::from(s).powi(2)).sum();
        let noise: f64 = reference
            .iter()
            .zip(got)
            .map(|(&r, &g)| (f64::from(r) - f64::from(g)).powi(2))
            .sum();
        10.0 * (signal / noise).log10()
    }

    #[test]
    fn transcoding_preserves_a_sine_within_tolerance() {
        let pcm = sine(12000.0, 1004.0, 1600);
        let mut mu = vec![0u8; pcm.len()];
        encode_into(Law::Mu, &pcm, &mut mu);
        let mut decoded_mu = vec![0i16; pcm.len()];
        decode_into(Law::Mu, &mu, &mut decoded_mu);

        let mut a = mu.clone();
        transcode_in_place(Law::Mu, Law::A, &mut a);
        let mut decoded_a = vec![0i16; pcm.len()];
        decode_into(Law::A, &a, &mut decoded_a);

        let direct = snr(&pcm, &decoded_mu);
        let transcoded = snr(&pcm, &decoded_a);
        // G.711 gives about 38 dB on a full-scale-ish sine; a tandem costs a few dB at most.
        assert!(direct > 35.0, "µ-law SNR {direct:.1} dB");
        assert!(transcoded > 30.0, "µ-law→A-law SNR {transcoded:.1} dB");
        assert!(direct - transcoded < 5.0);

        let mut back = a.clone();
        transcode_in_place(Law::A, Law::Mu, &mut back);
        let mut decoded_back = vec![0i16; pcm.len()];
        decode_into(Law::Mu, &back, &mut decoded_back);
        assert!(snr(&pcm, &decoded_back) > 30.0);
    }

    #[test]
    fn transcoding_between_equal_laws_is_a_no_op() {
        let mut codes = vec![1u8, 2, 3];
        transcode_in_place(Law::A, Law::A, &mut codes);
        assert_eq!(codes, [1, 2, 3]);
    }

    #[test]
    fn every_sample_round_trips_within_one_step_and_keeps_its_sign() {
        for sample in i16::MIN..=i16::MAX {
            for law in [Law::Mu, Law::A] {
                let decoded = i32::from(law.decode(law.encode(sample)));
                let sample = i32::from(sample);
                // Near a segment edge the sample can land in the coarser neighbour.
                let step = step_at(law, sample.abs()).max(step_at(law, decoded.abs()));
                assert!(
                    (decoded - sample).abs() <= step,
                    "{law:?}: {sample} -> {decoded}"
                );
                assert!(
                    decoded.signum() * sample.signum() >= 0,
                    "{law:?}: {sample} -> {decoded}"
                );
            }
        }
    }
}
