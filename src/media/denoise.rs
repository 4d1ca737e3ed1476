//! Background-noise suppression with RNNoise (`nnnoiseless`'s features and model, our
//! [`FrameDenoiser`] running the network) on 8 kHz telephone audio.
//!
//! RNNoise works on 480-sample frames at 48 kHz with samples as `f32` in the i16 range. One
//! 20 ms G.711 packet (160 samples) becomes 960 samples at 48 kHz, exactly two RNNoise frames,
//! so a packet goes in and a packet comes out with no extra buffering. Added latency: RNNoise's
//! one-frame overlap (10 ms) plus the resamplers' group delay (about 3.3 ms up and down).
//!
//! RNNoise's first output frame is the tail of its zero-initialised window, not audio, so it is
//! replaced by silence (10 ms at the very start of a stream) rather than played as a click.
//!
//! [`SwitchableDenoiser`] puts a [`Denoiser`] in one relay direction of a bridge, on G.711
//! payloads, and lets it be switched on and off mid-call without clicks: switching on spends
//! one packet warming RNNoise up (the raw packet is relayed, so the discarded first frame is
//! never heard) and crossfades raw → cleaned over the next; switching off crossfades
//! cleaned → raw over one packet, then the direction is back on the undecoded fast path.
//!
//! Added latency while on: one RNNoise frame (480 samples at 48 kHz, 10 ms) plus the two
//! resamplers' group delay (82 up + 77 down samples at 48 kHz, about 3.3 ms): about 13.3 ms
//! (measured in the tests below: the cleaned stream lags the raw one by 106 samples at 8 kHz,
//! 13.3 ms).

use super::g711::{self, Law};
use super::resample::{Downsampler, Upsampler};
use super::rnnoise::FrameDenoiser;

/// Samples per 20 ms packet at 8 kHz.
pub const PACKET: usize = 160;
const FRAME: usize = FrameDenoiser::FRAME_SIZE;

/// One direction of one leg: keeps every filter's state across packets.
pub struct Denoiser {
    state: FrameDenoiser,
    up: Upsampler,
    down: Downsampler,
    wide: Vec<f32>,
    cleaned: Vec<f32>,
    narrow: Vec<f32>,
    frames_done: u64,
    /// RNNoise's voice-activity probability for the last frame.
    pub last_vad: f32,
}

impl std::fmt::Debug for Denoiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denoiser")
            .field("frames_done", &self.frames_done)
            .finish()
    }
}

impl Default for Denoiser {
    fn default() -> Self {
        Self::new()
    }
}

impl Denoiser {
    pub fn new() -> Denoiser {
        Denoiser {
            state: FrameDenoiser::new(),
            up: Upsampler::new(),
            down: Downsampler::new(),
            wide: Vec::with_capacity(PACKET * 6),
            cleaned: Vec::with_capacity(PACKET * 6),
            narrow: Vec::with_capacity(PACKET),
            frames_done: 0,
            last_vad: 0.0,
        }
    }

    /// Cleans one packet in place. Packets of other lengths pass through untouched (they are
    /// not what a 20 ms G.711 phone sends; resampling them would shift the stream's timing).
    pub fn process(&mut self, pcm: &mut [i16]) {
        if pcm.len() != PACKET {
            return;
        }
        self.wide.clear();
        let input: [f32; PACKET] = std::array::from_fn(|i| f32::from(pcm[i]));
        self.up.process(&input, &mut self.wide);
        self.cleaned.clear();
        let mut frame_out = [0f32; FRAME];
        for frame in self.wide.chunks_exact(FRAME) {
            self.last_vad = self.state.process_frame(&mut frame_out, frame);
            if self.frames_done == 0 {
                frame_out = [0.0; FRAME];
            }
            self.frames_done += 1;
            self.cleaned.extend_from_slice(&frame_out);
        }
        self.narrow.clear();
        self.down.process(&self.cleaned, &mut self.narrow);
        for (o, v) in pcm.iter_mut().zip(&self.narrow) {
            *o = v.round().clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// Where a [`SwitchableDenoiser`] is between off and on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Packets pass untouched, undecoded.
    Off,
    /// RNNoise sees the packet, the raw packet is relayed.
    Warming,
    /// One packet crossfaded from raw to cleaned.
    FadingIn,
    /// Cleaned packets are relayed.
    On,
    /// One packet crossfaded from cleaned to raw, then off.
    FadingOut,
}

/// Noise suppression for one relay direction (what one leg's phone sends), switchable
/// mid-stream. Filter state lives as long as the direction stays on, so packet boundaries
/// are seamless.
#[derive(Debug)]
pub struct SwitchableDenoiser {
    stage: Stage,
    denoiser: Option<Box<Denoiser>>,
}

impl Default for SwitchableDenoiser {
    fn default() -> Self {
        Self::new()
    }
}

impl SwitchableDenoiser {
    /// Starts off.
    pub fn new() -> SwitchableDenoiser {
        SwitchableDenoiser {
            stage: Stage::Off,
            denoiser: None,
        }
    }

    /// Asks for suppression on or off; takes effect over the next one or two packets.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.set_enabled_with(enabled, None);
    }

    /// [`set_enabled`](Self::set_enabled) with a suppressor built elsewhere, used if one is
    /// needed: building one is the costly part, and the media shard that runs this relays
    /// every other call of the shard meanwhile.
    pub fn set_enabled_with(&mut self, enabled: bool, prepared: Option<Box<Denoiser>>) {
        self.stage = match (self.stage, enabled) {
            (Stage::Off, true) => {
                self.denoiser = Some(prepared.unwrap_or_default());
                Stage::Warming
            }
            // Still warm: fade straight back in.
            (Stage::FadingOut, true) => Stage::FadingIn,
            (Stage::Warming, false) => {
                self.denoiser = None;
                Stage::Off
            }
            (Stage::FadingIn | Stage::On, false) => Stage::FadingOut,
            (stage, _) => stage,
        };
    }

    /// Whether suppression is asked for (it may still be fading in or out).
    pub fn is_enabled(&self) -> bool {
        matches!(self.stage, Stage::Warming | Stage::FadingIn | Stage::On)
    }

    /// Whether packets must be decoded at all; `false` is the relay's fast path.
    pub fn is_active(&self) -> bool {
        self.stage != Stage::Off
    }

    /// Cleans one G.711 payload in place. Payloads that are not one 20 ms packet pass
    /// untouched.
    pub fn process_payload(&mut self, law: Law, payload: &mut [u8]) {
        let Some(denoiser) = self.denoiser.as_mut() else {
            return;
        };
        if payload.len() != PACKET {
            return;
        }
        let mut raw = [0i16; PACKET];
        g711::decode_into(law, payload, &mut raw);
        let mut clean = raw;
        denoiser.process(&mut clean);
        let out = match self.stage {
            Stage::Off => return,
            Stage::Warming => {
                self.stage = Stage::FadingIn;
                // The raw payload is relayed as it came.
                return;
            }
            Stage::FadingIn => {
                self.stage = Stage::On;
                crossfade(&raw, &clean)
            }
            Stage::On => clean,
            Stage::FadingOut => {
                self.stage = Stage::Off;
                self.denoiser = None;
                crossfade(&clean, &raw)
            }
        };
        g711::encode_into(law, &out, payload);
    }
}

/// A linear crossfade over one packet, from `from` to `to`.
fn crossfade(from: &[i16; PACKET], to: &[i16; PACKET]) -> [i16; PACKET] {
    std::array::from_fn(|i| {
        let w = (i as f32 + 0.5) / PACKET as f32;
        (f32::from(from[i]) * (1.0 - w) + f32::from(to[i]) * w).round() as i16
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic noise source (xorshift), so the test needs no RNG crate state.
    fn white_noise(n: usize, amplitude: f32, seed: u32) -> Vec<i16> {
        let mut x = seed.max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                ((x as f32 / u32::MAX as f32) * 2.0 - 1.0) * amplitude
            })
            .map(|v| v as i16)
            .collect()
    }

    fn energy_db(x: &[i16]) -> f32 {
        let e = x.iter().map(|v| f32::from(*v).powi(2)).sum::<f32>() / x.len() as f32;
        10.0 * (e + 1e-9).log10()
    }

    #[test]
    fn steady_white_noise_is_suppressed_by_more_than_10_db() {
        // Uniform noise peaking at 1000 is about -35 dBFS RMS: a busy room behind a caller.
        // (Measured here: 46 dB less at -45 dBFS, 27 dB at -35, 8 dB at -25, 1 dB at -17;
        // RNNoise leaves noise as loud as speech mostly alone.)
        let noise = white_noise(8000 * 4, 1000.0, 7);
        let mut d = Denoiser::new();
        let mut out = noise.clone();
        for packet in out.chunks_mut(PACKET) {
            d.process(packet);
        }
        // Judge the last two seconds, after RNNoise has estimated the noise.
        let before = energy_db(&noise[16_000..]);
        let after = energy_db(&out[16_000..]);
        assert!(before - after > 10.0, "only {} dB", before - after);
    }

    #[test]
    fn the_first_frame_is_silence_not_a_click() {
        let mut d = Denoiser::new();
        let mut packet = white_noise(PACKET, 8000.0, 3);
        d.process(&mut packet);
        // The first 10 ms at 48 kHz become the first ~5 ms after the filters' delay.
        assert!(
            packet[..40].iter().all(|s| s.abs() < 50),
            "{:?}",
            &packet[..40]
        );
    }

    #[test]
    fn switching_on_relays_one_raw_packet_then_fades_in_and_off_fades_out() {
        let noise = white_noise(PACKET * 60, 1000.0, 11);
        let encoded: Vec<u8> = noise.iter().map(|s| Law::Mu.encode(*s)).collect();
        let mut d = SwitchableDenoiser::new();
        let mut first = encoded[..PACKET].to_vec();
        d.process_payload(Law::Mu, &mut first);
        assert_eq!(first, encoded[..PACKET], "off is untouched");
        d.set_enabled(true);
        let mut out = Vec::new();
        for packet in encoded.chunks(PACKET) {
            let mut p = packet.to_vec();
            d.process_payload(Law::Mu, &mut p);
            out.push(p);
        }
        assert_eq!(
            out[0],
            encoded[..PACKET],
            "the warm-up packet is relayed raw"
        );
        assert_ne!(out[1], encoded[PACKET..2 * PACKET]);
        d.set_enabled(false);
        assert!(d.is_active(), "still fading out");
        let mut p = encoded[..PACKET].to_vec();
        d.process_payload(Law::Mu, &mut p);
        assert!(!d.is_active());
        let mut q = encoded[..PACKET].to_vec();
        d.process_payload(Law::Mu, &mut q);
        assert_eq!(q, encoded[..PACKET]);
    }

    #[test]
    fn the_cleaned_stream_lags_the_raw_one_by_about_13_ms() {
        use crate::media::test_signals as sig;
        let n = 8000 * 4;
        let (speech, _) = sig::talker(n, 0.6, 0.6, 8000.0);
        let white = sig::white_noise(n, 300.0, 9);
        let mixed: Vec<f32> = (0..n).map(|i| speech[i] + white[i]).collect();
        let coded: Vec<u8> = sig::to_pcm(&mixed)
            .iter()
            .map(|s| Law::Mu.encode(*s))
            .collect();
        let raw: Vec<i16> = coded.iter().map(|c| Law::Mu.decode(*c)).collect();
        let mut d = SwitchableDenoiser::new();
        d.set_enabled(true);
        let mut out = Vec::new();
        for p in coded.chunks(PACKET) {
            let mut p = p.to_vec();
            d.process_payload(Law::Mu, &mut p);
            out.extend(p.iter().map(|c| Law::Mu.decode(*c)));
        }
        let correlation = |lag: usize| -> f64 {
            (8000..n - 200)
                .map(|i| f64::from(raw[i]) * f64::from(out[i + lag]))
                .sum()
        };
        let lag = (0..200)
            .max_by(|a, b| correlation(*a).total_cmp(&correlation(*b)))
            .unwrap_or(0);
        // 480 samples at 48 kHz (RNNoise) + 82 + 77 (resamplers) = 639 / 6 = 106.5 at 8 kHz.
        assert!((104..=109).contains(&lag), "lag {lag} samples");
    }

    #[test]
    fn odd_sized_packets_pass_through_untouched() {
        let mut d = Denoiser::new();
        let mut packet = white_noise(80, 3000.0, 5);
        let copy = packet.clone();
        d.process(&mut packet);
        assert_eq!(packet, copy);
    }
}
