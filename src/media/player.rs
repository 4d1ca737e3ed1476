//! Announcements and music on hold: a WAV file looped as 20 ms G.711 RTP packets.
//!
//! The file is decoded once ([`Announcement::from_wav`]) into 8 kHz mono samples, shared by
//! every call that plays it. Each playing leg has its own [`Player`] cursor, so callers who
//! join the queue at different times hear the music from the start, as on Asterisk's MOH.

use super::g711::{self, Law};
use super::rtp::{PayloadType, RtpHeader, Ssrc};
use std::io::Cursor;
use std::sync::Arc;

/// Samples per 20 ms packet at 8 kHz.
pub const FRAME: usize = 160;

/// Why a WAV file cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum PlayerError {
    #[error("not a readable WAV file: {0}")]
    Wav(#[from] hound::Error),
    #[error("unsupported WAV format: {0}")]
    Unsupported(&'static str),
    #[error("the WAV file holds no audio")]
    Empty,
}

/// Decoded audio, 8 kHz mono, at least one frame long.
#[derive(Debug, Clone)]
pub struct Announcement {
    samples: Arc<[i16]>,
}

impl Announcement {
    /// Decodes a PCM WAV (8, 16 or 24-bit integer, or 32-bit float; any rate; channels mixed
    /// down). Rates other than 8 kHz are resampled linearly: music on hold is background, and
    /// a telephone channel band-limits it anyway.
    pub fn from_wav(bytes: &[u8]) -> Result<Announcement, PlayerError> {
        let mut reader = hound::WavReader::new(Cursor::new(bytes))?;
        let spec = reader.spec();
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(PlayerError::Unsupported("no channels or no sample rate"));
        }
        let raw: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, 8..=16) => reader
                .samples::<i16>()
                .map(|s| s.map(|v| f32::from(v) * (1 << (16 - spec.bits_per_sample)) as f32))
                .collect::<Result<_, _>>()?,
            (hound::SampleFormat::Int, 17..=32) => reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / (1u32 << (spec.bits_per_sample - 16)) as f32))
                .collect::<Result<_, _>>()?,
            (hound::SampleFormat::Float, 32) => reader
                .samples::<f32>()
                .map(|s| s.map(|v| v * 32767.0))
                .collect::<Result<_, _>>()?,
            _ => return Err(PlayerError::Unsupported("sample format")),
        };
        let channels = usize::from(spec.channels);
        let mono: Vec<f32> = raw
            .chunks(channels)
            .map(|c| c.iter().sum::<f32>() / channels as f32)
            .collect();
        let step = spec.sample_rate as f64 / 8000.0;
        let out_len = (mono.len() as f64 / step) as usize;
        let samples: Vec<i16> = (0..out_len)
            .map(|i| {
                let x = i as f64 * step;
                let i0 = x as usize;
                let frac = (x - i0 as f64) as f32;
                let a = mono.get(i0).copied().unwrap_or(0.0);
                let b = mono.get(i0 + 1).copied().unwrap_or(a);
                (a + (b - a) * frac).clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        if samples.len() < FRAME {
            return Err(PlayerError::Empty);
        }
        Ok(Announcement {
            samples: samples.into(),
        })
    }

    /// A generated fallback when no file is configured: a soft two-tone chime, then silence.
    pub fn chime() -> Announcement {
        let mut samples = Vec::with_capacity(8000 * 4);
        for (freq, ms) in [(523.25f32, 400usize), (659.25, 400), (0.0, 3200)] {
            for n in 0..ms * 8 {
                let t = n as f32 / 8000.0;
                // A short fade in and out keeps the tone from clicking.
                let env = (n as f32 / 400.0).min(1.0) * (((ms * 8 - n) as f32) / 400.0).min(1.0);
                let v = (2.0 * std::f32::consts::PI * freq * t).sin() * 6000.0 * env;
                samples.push(v as i16);
            }
        }
        Announcement {
            samples: samples.into(),
        }
    }

    /// The ringing tone a caller hears while the far end rings: France's (the default
    /// number plan's country), 440 Hz for 1.5 s then 3.5 s of silence (ITU-T E.180
    /// supplement 2), at -16 dBm0 or so, looped.
    pub fn ringback() -> Announcement {
        const ON: usize = 8000 * 3 / 2;
        const PERIOD: usize = 8000 * 5;
        // 20 ms ramps keep the cadence from clicking.
        const RAMP: f32 = 160.0;
        let samples: Vec<i16> = (0..PERIOD)
            .map(|n| {
                if n >= ON {
                    return 0;
                }
                let env = (n as f32 / RAMP).min(1.0) * ((ON - n) as f32 / RAMP).min(1.0);
                let t = n as f32 / 8000.0;
                ((2.0 * std::f32::consts::PI * 440.0 * t).sin() * 5000.0 * env) as i16
            })
            .collect();
        Announcement {
            samples: samples.into(),
        }
    }

    /// Length in samples (8 kHz).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// One leg's playback cursor and RTP numbering.
#[derive(Debug)]
pub struct Player {
    announcement: Announcement,
    position: usize,
    header: RtpHeader,
    law: Law,
    first: bool,
}

impl Player {
    pub fn new(
        announcement: Announcement,
        ssrc: Ssrc,
        law: Law,
        payload_type: PayloadType,
    ) -> Player {
        Player {
            announcement,
            position: 0,
            header: RtpHeader {
                marker: true,
                payload_type,
                sequence: 0,
                timestamp: 0,
                ssrc,
            },
            law,
            first: true,
        }
    }

    /// Writes the next 20 ms packet into `out` (cleared first), looping at the end.
    pub fn next_packet(&mut self, out: &mut Vec<u8>) {
        let samples = &self.announcement.samples;
        let mut frame = [0i16; FRAME];
        for slot in &mut frame {
            *slot = samples[self.position];
            self.position = (self.position + 1) % samples.len();
        }
        let mut payload = [0u8; FRAME];
        g711::encode_into(self.law, &frame, &mut payload);
        out.clear();
        self.header.marker = self.first;
        self.first = false;
        self.header.write(&payload, out);
        self.header.sequence = self.header.sequence.wrapping_add(1);
        self.header.timestamp = self.header.timestamp.wrapping_add(FRAME as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::RtpPacket;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
        for s in samples {
            w.write_sample(*s).unwrap();
        }
        w.finalize().unwrap();
        buf.into_inner()
    }

    /// The power of `freq` in `samples` at 8 kHz (Goertzel), per sample.
    fn power_at(samples: &[i16], freq: f32) -> f32 {
        let coeff = 2.0 * (2.0 * std::f32::consts::PI * freq / 8000.0).cos();
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for x in samples {
            let s0 = f32::from(*x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        (s1 * s1 + s2 * s2 - coeff * s1 * s2) / samples.len() as f32
    }

    #[test]
    fn the_ringing_tone_is_440_hz_for_a_second_and_a_half_in_every_five() {
        let tone = Announcement::ringback();
        assert_eq!(tone.len(), 40_000, "a 5 s cadence, looped");
        let on = &tone.samples[800..11_200];
        let at_440 = power_at(on, 440.0);
        assert!(at_440 > 100.0 * power_at(on, 1000.0), "{at_440}");
        assert!(at_440 > 100.0 * power_at(on, 350.0), "{at_440}");
        assert!(tone.samples[12_000..].iter().all(|s| *s == 0));
    }

    #[test]
    fn a_16khz_stereo_file_becomes_8khz_mono() {
        let samples: Vec<i16> = (0..16000 * 2)
            .map(|i| if i % 2 == 0 { 1000 } else { 3000 })
            .collect();
        let a = Announcement::from_wav(&wav(16000, 2, &samples)).unwrap();
        assert_eq!(a.len(), 8000);
        assert!(a.samples.iter().all(|s| *s == 2000));
    }

    #[test]
    fn packets_loop_and_advance_sequence_and_timestamp() {
        let samples: Vec<i16> = (0..240).map(|i| i as i16 * 100).collect();
        let a = Announcement::from_wav(&wav(8000, 1, &samples)).unwrap();
        let mut p = Player::new(a, Ssrc(7), Law::Mu, PayloadType::PCMU);
        let mut out = Vec::new();
        p.next_packet(&mut out);
        let first_bytes = out.clone();
        let first = RtpPacket::parse(&first_bytes).unwrap();
        assert!(first.marker());
        assert_eq!(first.payload().len(), FRAME);
        assert_eq!(g711::ulaw_to_linear(first.payload()[1]) / 100, 1);
        p.next_packet(&mut out);
        let second = RtpPacket::parse(&out).unwrap();
        assert!(!second.marker());
        assert_eq!(second.sequence(), 1);
        assert_eq!(second.timestamp(), 160);
        // Sample 240 wraps to sample 0: the second packet's 81st sample is the file's first.
        assert_eq!(
            g711::ulaw_to_linear(second.payload()[80]),
            g711::ulaw_to_linear(first.payload()[0])
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Announcement::from_wav(b"RIFF....WAVEfmt ").is_err());
        assert!(Announcement::from_wav(&wav(8000, 1, &[1, 2, 3])).is_err());
    }
}
