//! DTMF digits a phone sends, found two ways: RFC 4733 telephone-events, and in-band tones in
//! G.711 audio (ITU-T Q.23 frequencies, Q.24 reception rules), for phones and gateways that
//! never negotiated the first.
//!
//! - [`TelephoneEvent`] reads the 4-byte event payload (RFC 4733 §2.3);
//!   [`TelephoneEventReceiver`] turns a stream of them into digits, each once: a sender
//!   repeats an event's packets while the key is down and sends its end three times
//!   (§2.5.1.4), and every packet of one event carries the event's RTP timestamp (§2.5.1.1),
//!   so a new timestamp is a new digit.
//! - [`InbandDetector`] runs Goertzel filters on the eight DTMF frequencies over 12.75 ms
//!   blocks of 8 kHz audio and takes a block as a key only when a row and a column tone are
//!   both loud enough, neither outweighs the other by more than a line's twist, each stands
//!   well above the other rows or columns, and the pair carries most of the block's energy:
//!   speech, music and noise spread their energy, a single tone names no key. The pair
//!   must also last the whole block (each third of it carries its share of the energy), and
//!   a key must hold for two blocks in a row (a 40 ms tone always does, one under 22 ms
//!   never) and be gone for two before the next is taken: a held key is one digit.
//! - [`DigitDetector`] is both for one phone's stream, as the relay runs it.
//!
//! Sans-IO and allocation-free per packet: no clock (RTP timestamps and sample counts are
//! the time), state in fixed arrays, samples decoded one at a time from the G.711 codes.

use crate::media::g711::{ALAW_TO_LINEAR, Law, ULAW_TO_LINEAR};
use crate::media::rtp::Ssrc;

/// The keys in RFC 4733 event-code order (§3.2): events 0-9, then `*` (10), `#` (11) and
/// A-D (12-15).
const EVENT_KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// The low-group (row) frequencies in Hz (Q.23).
pub const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// The high-group (column) frequencies in Hz (Q.23).
pub const COLUMNS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad: the key at a row and a column frequency.
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The (row, column) frequencies of a key, `None` for anything but 0-9, `*`, `#` and A-D.
#[must_use]
pub fn frequencies(key: char) -> Option<(f32, f32)> {
    KEYPAD.iter().enumerate().find_map(|(row, keys)| {
        let column = keys.iter().position(|k| *k == key.to_ascii_uppercase())?;
        Some((ROWS[row], COLUMNS[column]))
    })
}

/// A telephone-event payload that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// Fewer than the 4 bytes of an event (malformed input).
    #[error("telephone-event payload of {len} bytes, shorter than 4")]
    Truncated { len: usize },
}

/// One RFC 4733 named-event payload (§2.3):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (0-15 are the DTMF keys, 16 is flash).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0-63), for DTMF.
    pub volume: u8,
    /// How long the event has lasted so far, in RTP timestamp units from the event's
    /// timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of `payload`; the R bit is ignored as §2.3 asks.
    ///
    /// # Errors
    /// [`DtmfError::Truncated`] when the payload is shorter than an event.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        let [event, flags, high, low, ..] = *payload else {
            return Err(DtmfError::Truncated { len: payload.len() });
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([high, low]),
        })
    }

    /// The payload bytes (R bit clear).
    #[must_use]
    pub fn to_bytes(self) -> [u8; 4] {
        let [high, low] = self.duration.to_be_bytes();
        let end = if self.end { 0x80 } else { 0 };
        [self.event, end | (self.volume & 0x3f), high, low]
    }

    /// The key the event is, for the DTMF events 0-15.
    #[must_use]
    pub fn key(self) -> Option<char> {
        EVENT_KEYS.get(usize::from(self.event)).copied()
    }
}

/// The event a receiver is in, or last saw.
#[derive(Debug, Clone, Copy)]
struct CurrentEvent {
    ssrc: Ssrc,
    timestamp: u32,
    event: u8,
    ended: bool,
    duration: u16,
}

/// Telephone-event packets of one stream in, each event's key out once (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct TelephoneEventReceiver {
    current: Option<CurrentEvent>,
}

impl TelephoneEventReceiver {
    /// One telephone-event packet, its RTP SSRC, timestamp and payload: the key it starts, if
    /// it starts a DTMF event. The first packet of an event that arrives reports it, so a lost
    /// start packet costs nothing.
    pub fn receive(&mut self, ssrc: Ssrc, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload).ok()?;
        let fresh = CurrentEvent {
            ssrc,
            timestamp,
            event: event.event,
            ended: event.end,
            duration: event.duration,
        };
        let Some(current) = self.current.as_mut().filter(|c| c.ssrc == ssrc) else {
            self.current = Some(fresh);
            return event.key();
        };
        // Signed distance: timestamps wrap, and a later event always has a later one.
        let age = timestamp.wrapping_sub(current.timestamp) as i32;
        if age == 0 {
            current.ended |= event.end;
            current.duration = current.duration.max(event.duration);
            return None;
        }
        if age < 0 && event.end {
            // A late repeat of an earlier event's end, reordered behind the next event.
            return None;
        }
        if age < 0 {
            // A start behind the current event: the sender's clock jumped back (a gateway
            // that restarted its stream, a replayed capture). Reordering would have to hold a
            // packet back for a whole key press to look like this, so it is a new key.
            *current = fresh;
            return event.key();
        }
        // An event longer than the duration field holds goes on in a new segment with a new
        // timestamp (§2.5.1.3): the same key still held, not pressed again.
        let continued =
            current.event == event.event && !current.ended && current.duration == u16::MAX;
        *current = fresh;
        if continued { None } else { event.key() }
    }
}

/// Samples per Goertzel block (12.75 ms): the frequency resolution (78 Hz) must part the
/// rows, 73 Hz apart at the closest, and two blocks must fit in a 40 ms tone at any alignment.
const BLOCK: usize = 102;
/// Samples per third of a block, where the pair's steadiness is measured.
const THIRD: usize = BLOCK / 3;
/// The least energy any third of a key's block may carry, against the block's mean per
/// third: a block the tone fills only in part (its first or last) is no key, so two blocks
/// span at least 22 ms of tone.
const STEADY: f32 = 0.7;
/// Consecutive blocks of one key before it is reported.
const HITS_TO_BEGIN: u8 = 2;
/// Consecutive blocks without the key before it has ended and another may begin.
const MISSES_TO_END: u8 = 2;
/// Peak amplitude of a 0 dBm0 sine in the 16-bit scale G.711 decodes to: the codecs'
/// largest sine is +3.17 dBm0 (µ-law, peak 32,636) or +3.14 dBm0 (A-law, peak 32,768).
pub const DBM0_PEAK: f32 = 22_700.0;
/// The quietest tone of a pair taken as a key, per tone (Q.24 asks for -25 dBm0 at least).
const MIN_TONE_DBM0: f32 = -36.0;
/// How much weaker the column tone may be than the row tone (normal twist, a line
/// attenuating high frequencies more): 8 dB.
const NORMAL_TWIST: f32 = 6.3;
/// How much weaker the row tone may be than the column tone (reverse twist): 4 dB.
const REVERSE_TWIST: f32 = 2.5;
/// How far the strongest row (column) must stand above every other row (column): 8 dB.
const RELATIVE_PEAK: f32 = 6.3;
/// The share of the block's energy the pair must carry: a pure pair carries it all (less
/// G.711 noise and a little leakage), speech, music and noise far less.
const PAIR_TO_TOTAL: f32 = 0.7;

/// In-band DTMF in 8 kHz audio; see the module doc.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    /// `2 cos ω` per frequency, rows then columns.
    coefficients: [f32; 8],
    /// Goertzel state per frequency over the block so far.
    s1: [f32; 8],
    s2: [f32; 8],
    /// Sum of squares over each third of the block so far.
    energy: [f32; 3],
    filled: usize,
    /// Goertzel power of a tone at [`MIN_TONE_DBM0`] over a block.
    threshold: f32,
    /// The key the last blocks agreed on, and in how many in a row.
    candidate: Option<char>,
    hits: u8,
    /// The key reported and not yet released, and for how many blocks it has been missing.
    held: Option<char>,
    misses: u8,
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector::new()
    }
}

impl InbandDetector {
    /// A detector that has heard nothing yet.
    #[must_use]
    pub fn new() -> InbandDetector {
        let mut coefficients = [0f32; 8];
        for (c, f) in coefficients.iter_mut().zip(ROWS.iter().chain(&COLUMNS)) {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / 8000.0).cos();
        }
        let amplitude = DBM0_PEAK * 10f32.powf(MIN_TONE_DBM0 / 20.0);
        let half_block = BLOCK as f32 / 2.0;
        InbandDetector {
            coefficients,
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: [0.0; 3],
            filled: 0,
            threshold: (amplitude * half_block).powi(2),
            candidate: None,
            hits: 0,
            held: None,
            misses: 0,
        }
    }

    /// One packet of G.711 `codes` in `law`; `report` is called with each key found.
    pub fn push_g711(&mut self, law: Law, codes: &[u8], mut report: impl FnMut(char)) {
        let table = match law {
            Law::Mu => &ULAW_TO_LINEAR,
            Law::A => &ALAW_TO_LINEAR,
        };
        for &code in codes {
            self.push_sample(f32::from(table[usize::from(code)]), &mut report);
        }
    }

    /// Linear 8 kHz samples; `report` is called with each key found.
    pub fn push_pcm(&mut self, samples: &[i16], mut report: impl FnMut(char)) {
        for &sample in samples {
            self.push_sample(f32::from(sample), &mut report);
        }
    }

    #[inline]
    fn push_sample(&mut self, x: f32, report: &mut impl FnMut(char)) {
        for k in 0..8 {
            let s = x + self.coefficients[k] * self.s1[k] - self.s2[k];
            self.s2[k] = self.s1[k];
            self.s1[k] = s;
        }
        self.energy[self.filled / THIRD] += x * x;
        self.filled += 1;
        if self.filled == BLOCK {
            let key = self.classify();
            self.s1 = [0.0; 8];
            self.s2 = [0.0; 8];
            self.energy = [0.0; 3];
            self.filled = 0;
            if let Some(key) = self.step(key) {
                report(key);
            }
        }
    }

    /// The key the finished block holds, if it passes every check of the module doc.
    fn classify(&self) -> Option<char> {
        let mut power = [0f32; 8];
        for (k, p) in power.iter_mut().enumerate() {
            let (s1, s2) = (self.s1[k], self.s2[k]);
            *p = s1 * s1 + s2 * s2 - self.coefficients[k] * s1 * s2;
        }
        let (rows, columns) = power.split_at(4);
        let (row, row_power) = strongest(rows)?;
        let (column, column_power) = strongest(columns)?;
        let loud = row_power >= self.threshold && column_power >= self.threshold;
        let twist_ok =
            column_power * NORMAL_TWIST >= row_power && row_power * REVERSE_TWIST >= column_power;
        let stands_out = |group: &[f32], peak: usize, peak_power: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, p)| i == peak || p * RELATIVE_PEAK <= peak_power)
        };
        let energy: f32 = self.energy.iter().sum();
        // A pure pair's Goertzel powers sum to the block's energy times BLOCK / 2.
        let carries_block =
            row_power + column_power >= PAIR_TO_TOTAL * energy * (BLOCK as f32 / 2.0);
        let steady = self.energy.iter().all(|e| *e >= STEADY * energy / 3.0);
        (loud
            && twist_ok
            && stands_out(rows, row, row_power)
            && stands_out(columns, column, column_power)
            && carries_block
            && steady)
            .then_some(KEYPAD[row][column])
    }

    /// One block's verdict through the hit and miss counts; the key to report, if one begins.
    fn step(&mut self, key: Option<char>) -> Option<char> {
        if let Some(held) = self.held {
            if key == Some(held) {
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= MISSES_TO_END {
                    self.held = None;
                }
            }
            // Blocks while a key is held never count toward the next: the pause comes first.
            self.candidate = None;
            self.hits = 0;
            return None;
        }
        if key.is_some() && key == self.candidate {
            self.hits += 1;
        } else {
            self.candidate = key;
            self.hits = u8::from(key.is_some());
        }
        if self.hits < HITS_TO_BEGIN {
            return None;
        }
        self.held = key;
        self.misses = 0;
        self.candidate = None;
        self.hits = 0;
        key
    }
}

/// The index and power of the largest of `powers`.
fn strongest(powers: &[f32]) -> Option<(usize, f32)> {
    powers
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Digit detection for one phone's stream: its telephone-events, and in-band tones in its
/// G.711 audio until it sends a telephone-event.
///
/// A phone that sends telephone-events may still leave the tone in its audio (or a trace
/// of it): once it has sent one, its audio is not searched, or each key would count twice.
#[derive(Debug, Clone, Default)]
pub struct DigitDetector {
    events: TelephoneEventReceiver,
    inband: InbandDetector,
    out_of_band: bool,
}

impl DigitDetector {
    /// A telephone-event packet from the phone; the key it starts, if any.
    pub fn telephone_event(&mut self, ssrc: Ssrc, timestamp: u32, payload: &[u8]) -> Option<char> {
        self.out_of_band |= payload.len() >= 4;
        self.events.receive(ssrc, timestamp, payload)
    }

    /// An audio packet from the phone; `report` is called with each key heard in it.
    pub fn audio(&mut self, law: Law, codes: &[u8], report: impl FnMut(char)) {
        if !self.out_of_band {
            self.inband.push_g711(law, codes, report);
        }
    }
}

#[cfg(test)]
#[path = "dtmf_tests.rs"]
mod tests;
