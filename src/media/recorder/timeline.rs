//! The recording timeline: where each recorded RTP packet's audio goes in the stereo file,
//! placed by its sequence number and timestamp (RFC 3550 §5.1), not by when it arrived.
//!
//! Positions count 8 kHz samples from the recording's start. Each source (a feed and an
//! SSRC) is anchored once: its first packet goes where the wall clock says it arrived, and
//! every later packet at `anchor + (timestamp − first timestamp)`, whatever its arrival.
//! Frames leave the timeline [`DEPTH`] behind the wall clock, so a packet may be up to that
//! late (jitter, reordering, a stalled sender) and still land in its slot; a slot no packet
//! filled by then is silence. Both channels share the one position axis, so they stay
//! aligned: a channel nobody sends on is silent there while the other keeps its audio.
//!
//! What a packet that does not fit its slot becomes:
//! - A copy of a packet already placed is a duplicate and is written once.
//! - A packet older than the newest of its source whose slot was already written out is
//!   dropped and counted in [`TimelineStats::late`]: writing it elsewhere would put audio
//!   out of order.
//! - The newest packet of its source whose slot was already written out means the source's
//!   timeline moved under us: a stall longer than [`DEPTH`] (then the burst goes at the
//!   first unwritten slot, leaving room for packets still missing before it, so the burst
//!   loses nothing and the channel runs late by the excess), or a talkspurt whose timestamp
//!   did not advance over the silence before it (marker bit set, RFC 3551 §4.1: it goes
//!   where it arrived). A timestamp far ahead of the wall clock goes where it arrived too.
//!   Either way the source is re-anchored there and counted in
//!   [`TimelineStats::reanchored`].
//! - A new SSRC on a feed (a re-INVITE, a transfer, a consult) is a new source, anchored
//!   where it arrived, or right after the feed's last audio when that ends less than one
//!   packet before it: a source change in a continuous stream leaves no gap and no overlap.
//! - A sequence jump within a source (more than `MAX_DROPOUT` ahead or `MAX_MISORDER`
//!   behind, RFC 3550 A.1) is believed when the next packet follows it, and the source is
//!   anchored again as new; the packet that jumped is dropped as late (a straggler looks the
//!   same).
//!
//! Pauses are enforced here too: while paused no packet is taken. A silent pause needs
//! nothing more (unfilled slots are silence); a skipping pause also drops the empty frames
//! of its span, so audio received before the pause (still in the buffer) is kept.
//!
//! Sans-IO: `now` is passed in; nothing here reads a clock or touches a file.

use super::{FRAME, PauseBehavior};
use crate::media::rewrite::{MAX_DROPOUT, MAX_MISORDER};
use crate::media::rtp::Ssrc;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far behind the wall clock frames are written: the lateness a packet may have and
/// still land in its slot.
///
/// 300 ms. Real networks stall for more than a playout buffer would hide: Wi-Fi roaming and
/// power save, cellular handovers and VPN concentrators pause a stream for 100–300 ms and
/// then deliver the backlog at once, and a loaded sender stalled 74 ms and 162 ms on
/// loopback (issue 13). Unlike a playout buffer, a recording's depth costs no conversational
/// delay: only memory (15 frames, under 10 KB per recording) and the depth's worth of audio
/// a crash loses on top of the header's once-a-second flush. A longer stall still loses
/// nothing (see the module doc), it only makes its channel run late by the excess.
pub const DEPTH: Duration = Duration::from_millis(300);

/// How far ahead of the wall clock a packet may be placed. A source anchored by a late first
/// packet, or whose clock runs fast, places audio ahead of its arrival; beyond this it is a
/// timestamp jump. Also bounds the buffer: [`DEPTH`] + this, about 65 frames.
pub const MAX_AHEAD: Duration = Duration::from_secs(1);

/// Samples per second on the timeline (G.711).
const RATE: u64 = 8000;
/// Sources remembered at once, so a source that comes back keeps its anchor.
const MAX_SOURCES: usize = 8;
/// Sequence numbers behind the newest remembered for duplicate detection; more than
/// `MAX_MISORDER`, so every reordered packet is covered.
const REPLAY_WINDOW: u16 = 128;

/// One 20 ms frame of one channel.
pub type Frame = [i16; FRAME];

/// Which side of the stereo file a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Left.
    Customer,
    /// Right, mixed over every agent-side feed.
    Agent,
}

/// One decoded audio packet as the timeline needs it.
#[derive(Debug, Clone, Copy)]
pub struct AudioPacket<'a> {
    pub ssrc: Ssrc,
    pub sequence: u16,
    pub timestamp: u32,
    /// First packet of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// 8 kHz linear PCM, one sample per timestamp unit.
    pub samples: &'a [i16],
}

/// What happened to the packets a timeline was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimelineStats {
    /// Packets placed (their audio will be written).
    pub placed: u64,
    /// Copies of a packet already placed: not written again.
    pub duplicates: u64,
    /// Packets that came after their slot had been written out: dropped.
    pub late: u64,
    /// Times a source was anchored again (a stall longer than [`DEPTH`], a timestamp or
    /// sequence jump). New SSRCs are not counted.
    pub reanchored: u64,
}

/// A frame not yet written: both channels and whether any packet filled part of it.
#[derive(Clone, Copy)]
struct Slot {
    left: Frame,
    right: Frame,
    audio: bool,
}

const SILENT: Slot = Slot {
    left: [0; FRAME],
    right: [0; FRAME],
    audio: false,
};

/// One RTP source on one feed.
#[derive(Debug, Clone, Copy)]
struct Source<F> {
    feed: F,
    ssrc: Ssrc,
    /// Timeline position of extended timestamp 0: a packet goes at `offset + timestamp`.
    offset: i64,
    highest_seq: u16,
    /// The newest packet's timestamp, extended past 32-bit wraps.
    highest_ts: i64,
    /// Bit `n` set: sequence `highest_seq − n` was placed.
    seen: u128,
    /// End of the furthest audio placed from this source.
    end: u64,
    /// After a sequence jump, the sequence number that confirms it (RFC 3550 A.1 probation).
    probation: Option<u16>,
}

/// Places packets from any number of feeds on a two-channel timeline and hands out frames
/// once [`DEPTH`] has passed. `F` names a feed (an endpoint).
#[derive(Debug)]
pub struct Timeline<F> {
    start: Instant,
    last_now: Instant,
    /// Position of `slots[0]`, a multiple of [`FRAME`]: everything before it is written.
    cursor: u64,
    slots: VecDeque<Slot>,
    sources: Vec<Source<F>>,
    paused: bool,
    /// Position spans `[from, to)` of skipping pauses; `to` is `None` while still paused.
    skips: VecDeque<(u64, Option<u64>)>,
    /// Set by [`Timeline::close`]: where the file ends.
    end: Option<u64>,
    stats: TimelineStats,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("audio", &self.audio).finish()
    }
}

fn samples_in(d: Duration) -> u64 {
    u64::try_from(d.as_micros() * u128::from(RATE) / 1_000_000).unwrap_or(u64::MAX)
}

fn as_position(p: i64) -> u64 {
    u64::try_from(p).unwrap_or(0)
}

impl<F: Copy + PartialEq> Timeline<F> {
    /// An empty timeline whose position 0 is `start`.
    #[must_use]
    pub fn new(start: Instant) -> Timeline<F> {
        Timeline {
            start,
            last_now: start,
            cursor: 0,
            slots: VecDeque::new(),
            sources: Vec::new(),
            paused: false,
            skips: VecDeque::new(),
            end: None,
            stats: TimelineStats::default(),
        }
    }

    #[must_use]
    pub fn stats(&self) -> TimelineStats {
        self.stats
    }

    /// Places one packet from `feed` on `channel`. Ignored while paused or once closed.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        feed: F,
        channel: Channel,
        packet: &AudioPacket<'_>,
    ) {
        let now = self.advance(now);
        if self.paused || self.end.is_some() || packet.samples.is_empty() {
            return;
        }
        if let Some(at) = self.place(now, feed, packet) {
            self.stats.placed += 1;
            self.write(at, channel, packet.samples);
        }
    }

    /// Stops taking packets at once. Audio already received is still written.
    pub fn pause(&mut self, now: Instant, behavior: PauseBehavior) {
        let now = self.advance(now);
        if self.paused {
            return;
        }
        self.paused = true;
        if behavior == PauseBehavior::Skip {
            self.skips.push_back((self.position(now), None));
        }
    }

    /// Takes packets again.
    pub fn resume(&mut self, now: Instant) {
        let now = self.advance(now);
        self.paused = false;
        let at = self.position(now);
        if let Some((_, to @ None)) = self.skips.back_mut() {
            *to = Some(at);
        }
    }

    /// Ends the timeline at `now` (or after the furthest audio placed, if later): no more
    /// packets are taken, and [`Timeline::poll_frame`] hands out every remaining frame at once.
    pub fn close(&mut self, now: Instant) {
        let now = self.advance(now);
        if self.end.is_none() {
            let buffered = self.cursor + FRAME as u64 * self.slots.len() as u64;
            self.end = Some(
                self.position(now)
                    .next_multiple_of(FRAME as u64)
                    .max(buffered),
            );
        }
    }

    /// The next (left, right) frame due at `now`, in order; `None` until one is due.
    #[must_use]
    pub fn poll_frame(&mut self, now: Instant) -> Option<(Frame, Frame)> {
        let now = self.advance(now);
        let limit = self
            .end
            .unwrap_or_else(|| self.position(now).saturating_sub(samples_in(DEPTH)));
        while self.cursor + FRAME as u64 <= limit {
            let at = self.cursor;
            let slot = self.slots.pop_front().unwrap_or(SILENT);
            self.cursor += FRAME as u64;
            while self
                .skips
                .front()
                .is_some_and(|(_, to)| to.is_some_and(|to| to <= at))
            {
                self.skips.pop_front();
            }
            let skipped = self
                .skips
                .front()
                .is_some_and(|(from, to)| *from <= at && to.is_none_or(|to| at < to));
            if skipped && !slot.audio {
                continue;
            }
            return Some((slot.left, slot.right));
        }
        None
    }

    /// When the next frame is due (now, once closed).
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        if self.end.is_some() {
            return self.last_now;
        }
        let due = self.cursor + FRAME as u64;
        self.start + Duration::from_micros(due * 1_000_000 / RATE) + DEPTH
    }

    /// Time never goes backwards. Packets from two receive tasks read the clock before they
    /// take the lock, so an older `now` can follow a newer one: it counts as the newer.
    fn advance(&mut self, now: Instant) -> Instant {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn position(&self, now: Instant) -> u64 {
        samples_in(now.saturating_duration_since(self.start))
    }

    /// Where `packet` goes, updating its source; `None` when it is dropped.
    fn place(&mut self, now: Instant, feed: F, packet: &AudioPacket<'_>) -> Option<u64> {
        let now_pos = self.position(now);
        let len = packet.samples.len() as u64;
        let (lo, hi) = (self.cursor, now_pos + samples_in(MAX_AHEAD));
        let feed_end = self
            .sources
            .iter()
            .filter(|s| s.feed == feed)
            .map(|s| s.end)
            .max()
            .unwrap_or(0);
        // Where a source starts: where it arrived, or straight after the feed's last audio.
        let fresh = if now_pos < feed_end + len {
            feed_end
        } else {
            now_pos
        }
        .clamp(lo, hi.saturating_sub(len).max(lo));
        let Some(i) = self
            .sources
            .iter()
            .position(|s| s.feed == feed && s.ssrc == packet.ssrc)
        else {
            self.anchor_new(feed, packet, fresh);
            return Some(fresh);
        };
        let source = &mut self.sources[i];
        let delta = packet.sequence.wrapping_sub(source.highest_seq) as i16;
        if delta >= MAX_DROPOUT as i16 || delta <= -(MAX_MISORDER as i16) {
            if source.probation == Some(packet.sequence) {
                self.sources.swap_remove(i);
                self.anchor_new(feed, packet, fresh);
                self.stats.reanchored += 1;
                return Some(fresh);
            }
            source.probation = Some(packet.sequence.wrapping_add(1));
            self.stats.late += 1;
            return None;
        }
        source.probation = None;
        let back = u32::from(delta.unsigned_abs());
        if delta <= 0 && back < u32::from(REPLAY_WINDOW) && source.seen & (1 << back) != 0 {
            self.stats.duplicates += 1;
            return None;
        }
        let ts = source.highest_ts
            + i64::from(packet.timestamp.wrapping_sub(source.highest_ts as u32) as i32);
        let mut at = source.offset + ts;
        if at < lo as i64 || as_position(at) + len > hi {
            if delta <= 0 {
                self.stats.late += 1;
                return None;
            }
            let target = if at < lo as i64 && !packet.marker {
                // A stall: the burst starts at the first unwritten slot, after room for the
                // packets still missing before it.
                let missing = u64::from(delta.unsigned_abs() - 1) * len;
                (lo + missing.min(now_pos.saturating_sub(lo))).max(source.end)
            } else {
                fresh
            };
            at = target.min(hi.saturating_sub(len)).max(lo) as i64;
            source.offset = at - ts;
            self.stats.reanchored += 1;
        }
        if delta > 0 {
            let shift = u32::from(delta.unsigned_abs());
            source.seen = if shift < 128 {
                (source.seen << shift) | 1
            } else {
                1
            };
            source.highest_seq = packet.sequence;
            source.highest_ts = ts;
        } else if back < u32::from(REPLAY_WINDOW) {
            source.seen |= 1 << back;
        }
        let at = as_position(at);
        source.end = source.end.max(at + len);
        Some(at)
    }

    /// Remembers a new source whose first packet goes `at`, forgetting the stalest if full.
    fn anchor_new(&mut self, feed: F, packet: &AudioPacket<'_>, at: u64) {
        if self.sources.len() >= MAX_SOURCES
            && let Some(stalest) = (0..self.sources.len()).min_by_key(|i| self.sources[*i].end)
        {
            self.sources.swap_remove(stalest);
        }
        let ts = i64::from(packet.timestamp);
        self.sources.push(Source {
            feed,
            ssrc: packet.ssrc,
            offset: at as i64 - ts,
            highest_seq: packet.sequence,
            highest_ts: ts,
            seen: 1,
            end: at + packet.samples.len() as u64,
            probation: None,
        });
    }

    /// Mixes `samples` into `channel` from position `at` (at or after the cursor).
    fn write(&mut self, at: u64, channel: Channel, samples: &[i16]) {
        let first = usize::try_from(at.saturating_sub(self.cursor)).unwrap_or(usize::MAX);
        let last_slot = (first + samples.len() - 1) / FRAME;
        if self.slots.len() <= last_slot {
            self.slots.resize(last_slot + 1, SILENT);
        }
        for (k, sample) in samples.iter().enumerate() {
            let (slot, i) = ((first + k) / FRAME, (first + k) % FRAME);
            let slot = &mut self.slots[slot];
            slot.audio = true;
            let out = match channel {
                Channel::Customer => &mut slot.left[i],
                Channel::Agent => &mut slot.right[i],
            };
            *out = out.saturating_add(*sample);
        }
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
