//! The outgoing RTP stream toward one leg, kept continuous across source changes
//! (RFC 3550 §5.1 and §7, sequence validation per Appendix A.1; the switch behaves as the
//! "media-switching mixer" of RFC 7667).
//!
//! A B2BUA that anchors media re-bridges a leg's outgoing stream whenever the call changes:
//! hold puts music in, transfer swaps the far party, a conference swaps in the mixer. The
//! leg must keep seeing one RTP stream: our own SSRC, sequence numbers that go on from the
//! last one sent, and timestamps that advance with wall-clock time. [`StreamRewriter`] owns
//! that stream. Every packet meant for the leg, relayed or locally generated, goes through
//! [`StreamRewriter::rewrite`], which maps the packet's source numbering onto the output
//! numbering in place.
//!
//! Per incoming source (SSRC) it keeps a sequence and timestamp offset. Within a source,
//! losses, duplicates and reordering up to [`MAX_MISORDER`] packets keep the offsets, so the
//! leg sees exactly the gaps and reorders the network made. A new SSRC, a sequence jump
//! (more than [`MAX_DROPOUT`] ahead or [`MAX_MISORDER`] behind, RFC 3550 A.1) or an
//! explicit [`StreamRewriter::on_source_change`] re-anchors: the next packet gets the last
//! sent sequence number + 1, a timestamp advanced by the elapsed time (at least one packet
//! time) and the marker bit. Timestamp discontinuities within a continuous sequence (a
//! backwards step, or a step far beyond the elapsed time) re-anchor the timestamp alone.
//!
//! RFC 4733 telephone-event packets share their source's numbering, so they go through the
//! same offsets; only their payload type is mapped. PCMU ↔ PCMA is converted in place with
//! the G.711 tables.

use std::time::{Duration, Instant};

use rand::RngCore;

use super::g711::{self, Law};
use super::rtp::{PayloadType, RtpError, RtpPacketMut, Ssrc};
use super::sdp::Negotiated;

/// Sequence steps ahead of the highest seen that still count as the same stream (RFC 3550
/// A.1); a larger step is a jump and re-anchors.
pub const MAX_DROPOUT: u16 = 3000;
/// Sequence steps behind the highest seen that count as reordering (RFC 3550 A.1).
pub const MAX_MISORDER: u16 = 100;
/// How far an incoming timestamp may run ahead of wall-clock time before it is a jump.
pub const TIMESTAMP_SLACK: Duration = Duration::from_secs(1);
/// How long after its last packet a replaced source's late packets count as stragglers
/// (dropped) rather than the source coming back (re-anchored).
const STRAGGLER_WINDOW: Duration = Duration::from_secs(2);
/// Sources whose offsets are remembered, so stragglers of a replaced source are recognised.
const MAX_SOURCES: usize = 4;

/// Where the output stream starts: both random per RFC 3550 §5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStart {
    /// First sequence number sent.
    pub sequence: u16,
    /// First timestamp sent.
    pub timestamp: u32,
}

impl StreamStart {
    /// A random start drawn from `rng`.
    pub fn random(rng: &mut impl RngCore) -> StreamStart {
        let bits = rng.next_u64();
        StreamStart {
            sequence: (bits >> 32) as u16,
            timestamp: bits as u32,
        }
    }
}

/// What happens to the payload of one incoming payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadRoute {
    /// Audio relayed as is.
    Relay,
    /// RFC 4733 telephone-event, relayed as is.
    TelephoneEvent,
    /// G.711 audio converted from one law to the other.
    Transcode {
        /// The incoming law.
        from: Law,
        /// The outgoing law.
        to: Law,
    },
}

/// Incoming payload type → outgoing payload type and payload treatment. Payload types not
/// in the map are dropped: the leg never negotiated them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadMap {
    routes: [Option<(PayloadType, PayloadRoute)>; 128],
}

impl Default for PayloadMap {
    fn default() -> Self {
        PayloadMap::new()
    }
}

impl PayloadMap {
    /// An empty map: everything is dropped.
    #[must_use]
    pub fn new() -> PayloadMap {
        PayloadMap {
            routes: [None; 128],
        }
    }

    fn with(mut self, incoming: PayloadType, outgoing: PayloadType, route: PayloadRoute) -> Self {
        if let Some(slot) = self.routes.get_mut(usize::from(incoming.get())) {
            *slot = Some((outgoing, route));
        }
        self
    }

    /// Relays audio of `incoming` as `outgoing`.
    #[must_use]
    pub fn relay(self, incoming: PayloadType, outgoing: PayloadType) -> Self {
        self.with(incoming, outgoing, PayloadRoute::Relay)
    }

    /// Relays telephone-events of `incoming` as `outgoing`.
    #[must_use]
    pub fn telephone_event(self, incoming: PayloadType, outgoing: PayloadType) -> Self {
        self.with(incoming, outgoing, PayloadRoute::TelephoneEvent)
    }

    /// Transcodes G.711 `from` on `incoming` to `to` on `outgoing`.
    #[must_use]
    pub fn transcode(
        self,
        incoming: PayloadType,
        outgoing: PayloadType,
        from: Law,
        to: Law,
    ) -> Self {
        self.with(incoming, outgoing, PayloadRoute::Transcode { from, to })
    }

    /// The map from the leg media comes from to the leg it goes to: same codec → relay,
    /// PCMU ↔ PCMA → transcode, anything else → no audio route. telephone-event is mapped
    /// when both legs negotiated it.
    #[must_use]
    pub fn between(incoming: &Negotiated, outgoing: &Negotiated) -> PayloadMap {
        let (a, b) = (&incoming.codec, &outgoing.codec);
        let mut map = PayloadMap::new();
        if a.name == b.name && a.clock_rate == b.clock_rate {
            map = map.relay(a.payload_type, b.payload_type);
        } else if let (Some(from), Some(to)) = (a.name.law(), b.name.law()) {
            map = map.transcode(a.payload_type, b.payload_type, from, to);
        }
        if let (Some(a), Some(b)) = (&incoming.telephone_event, &outgoing.telephone_event) {
            map = map.telephone_event(a.payload_type, b.payload_type);
        }
        // An answerer may list both G.711 laws and send either (RFC 3264 §6.1 lets it switch
        // among the answered formats), so the other static G.711 type is accepted too.
        if let Some(to) = b.name.law() {
            for (pt, from) in [(PayloadType::PCMU, Law::Mu), (PayloadType::PCMA, Law::A)] {
                if map.route(pt).is_some() {
                    continue;
                }
                map = if from == to {
                    map.relay(pt, b.payload_type)
                } else {
                    map.transcode(pt, b.payload_type, from, to)
                };
            }
        }
        map
    }

    /// The outgoing payload type and treatment for an incoming payload type.
    #[must_use]
    pub fn route(&self, incoming: PayloadType) -> Option<(PayloadType, PayloadRoute)> {
        self.routes
            .get(usize::from(incoming.get()))
            .copied()
            .flatten()
    }
}

/// Why a packet is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The payload type has no route toward this leg.
    UnmappedPayloadType(PayloadType),
    /// A late packet from a source that has since been replaced.
    Stale,
    /// A reordered packet from before the current source's anchor point: sending it would
    /// reuse sequence numbers already sent for the previous source.
    BeforeSourceChange,
}

/// The outcome of [`StreamRewriter::rewrite`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewritten {
    /// The packet was rewritten in place; send it to the leg.
    Forward {
        /// This packet re-anchored the stream (new source, jump or explicit change); its
        /// marker bit is set.
        resynced: bool,
    },
    /// Do not send the packet.
    Drop(DropReason),
}

impl Rewritten {
    /// Whether the packet should be sent.
    #[must_use]
    pub fn is_forward(self) -> bool {
        matches!(self, Rewritten::Forward { .. })
    }
}

/// The newest packet sent on the output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentPosition {
    /// Its sequence number.
    pub sequence: u16,
    /// The media time it covers up to: its timestamp, plus the event duration for a
    /// telephone-event.
    pub timestamp: u32,
    /// When it was rewritten.
    pub at: Instant,
}

/// Per incoming SSRC: how its numbering maps onto the output.
#[derive(Debug, Clone)]
struct Source {
    ssrc: Ssrc,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest incoming sequence number seen.
    max_seq: u16,
    /// Incoming sequence number of the last re-anchor, while reorders could still reach
    /// before it.
    anchor_seq: Option<u16>,
    /// Incoming timestamp and arrival of the newest audio packet.
    last_audio: Option<(u32, Instant)>,
    /// Arrival of the newest packet, to tell a straggler from a source coming back.
    last_seen: Instant,
    last_used: u64,
}

/// Whether sequence number `a` is newer than `b`, modulo 2^16.
fn seq_newer(a: u16, b: u16) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000
}

/// The outgoing stream toward one leg: one SSRC, continuous numbering.
#[derive(Debug, Clone)]
pub struct StreamRewriter {
    ssrc: Ssrc,
    start: StreamStart,
    payloads: PayloadMap,
    clock_rate: u32,
    ptime: Duration,
    sources: Vec<Source>,
    current: Option<Ssrc>,
    resync: bool,
    newest: Option<SentPosition>,
    packets_sent: u64,
    octets_sent: u64,
    uses: u64,
}

enum Anchor {
    None,
    Timestamp,
    Full,
}

impl StreamRewriter {
    /// A stream with our `ssrc`, starting at `start`, for an 8 kHz clock and 20 ms packets.
    #[must_use]
    pub fn new(ssrc: Ssrc, start: StreamStart, payloads: PayloadMap) -> StreamRewriter {
        StreamRewriter {
            ssrc,
            start,
            payloads,
            clock_rate: 8000,
            ptime: Duration::from_millis(20),
            sources: Vec::with_capacity(MAX_SOURCES),
            current: None,
            resync: false,
            newest: None,
            packets_sent: 0,
            octets_sent: 0,
            uses: 0,
        }
    }

    /// Sets the RTP clock rate (Hz) and the packet time used as the minimum timestamp step
    /// when re-anchoring.
    #[must_use]
    pub fn with_timing(mut self, clock_rate: u32, ptime: Duration) -> StreamRewriter {
        self.clock_rate = clock_rate.max(1);
        self.ptime = ptime;
        self
    }

    /// Our SSRC on this stream.
    #[must_use]
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// The incoming source currently mapped onto the stream.
    #[must_use]
    pub fn current_source(&self) -> Option<Ssrc> {
        self.current
    }

    /// The newest packet sent, if any.
    #[must_use]
    pub fn newest_sent(&self) -> Option<SentPosition> {
        self.newest
    }

    /// Packets forwarded (for the RTCP sender report, RFC 3550 §6.4.1).
    #[must_use]
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    /// Payload octets forwarded (for the RTCP sender report, RFC 3550 §6.4.1).
    #[must_use]
    pub fn octets_sent(&self) -> u64 {
        self.octets_sent
    }

    /// Replaces the payload map (after a re-INVITE changed a leg's codecs).
    pub fn set_payload_map(&mut self, payloads: PayloadMap) {
        self.payloads = payloads;
    }

    /// The bridge changed what feeds this leg: the next packet re-anchors the stream even
    /// if it carries a known SSRC.
    pub fn on_source_change(&mut self) {
        self.resync = true;
    }

    /// Rewrites one packet for this leg in place: SSRC, sequence number, timestamp, payload
    /// type, marker, and payload when transcoding. Errors only on malformed RTP.
    pub fn rewrite(&mut self, now: Instant, packet: &mut [u8]) -> Result<Rewritten, RtpError> {
        let mut packet = RtpPacketMut::parse(packet)?;
        let header = packet.header();
        let Some((out_pt, route)) = self.payloads.route(header.payload_type) else {
            return Ok(Rewritten::Drop(DropReason::UnmappedPayloadType(
                header.payload_type,
            )));
        };
        let is_event = route == PayloadRoute::TelephoneEvent;
        let (seq, ts) = (header.sequence, header.timestamp);
        let is_current = self.current == Some(header.ssrc) && !self.resync;

        let index = self.sources.iter().position(|s| s.ssrc == header.ssrc);
        let (index, anchor) = match index {
            Some(i) => {
                let source = &self.sources[i];
                let ahead = seq.wrapping_sub(source.max_seq);
                let behind = source.max_seq.wrapping_sub(seq);
                let anchor = if is_current && ahead == 0 {
                    Anchor::None
                } else if is_current && ahead < MAX_DROPOUT {
                    if is_event {
                        Anchor::None
                    } else {
                        self.timestamp_check(source, ts, now)
                    }
                } else if behind <= MAX_MISORDER
                    && (is_current
                        || now.saturating_duration_since(source.last_seen) <= STRAGGLER_WINDOW)
                {
                    if !is_current {
                        return Ok(Rewritten::Drop(DropReason::Stale));
                    }
                    let before_anchor = source
                        .anchor_seq
                        .is_some_and(|a| behind > source.max_seq.wrapping_sub(a));
                    if before_anchor {
                        return Ok(Rewritten::Drop(DropReason::BeforeSourceChange));
                    }
                    Anchor::None
                } else {
                    Anchor::Full
                };
                (i, anchor)
            }
            None => (self.insert_source(header.ssrc, now), Anchor::Full),
        };

        self.uses += 1;
        let (next_seq, next_ts) = self.next_position(now);
        let uses = self.uses;
        let source = &mut self.sources[index];
        source.last_used = uses;
        match anchor {
            Anchor::Full => {
                source.seq_offset = next_seq.wrapping_sub(seq);
                source.ts_offset = next_ts.wrapping_sub(ts);
                source.max_seq = seq;
                source.anchor_seq = Some(seq);
                source.last_audio = None;
                self.current = Some(header.ssrc);
                self.resync = false;
            }
            Anchor::Timestamp => source.ts_offset = next_ts.wrapping_sub(ts),
            Anchor::None => {}
        }
        if seq_newer(seq, source.max_seq) {
            source.max_seq = seq;
            if source
                .anchor_seq
                .is_some_and(|a| seq.wrapping_sub(a) > MAX_MISORDER)
            {
                source.anchor_seq = None;
            }
        }
        source.last_seen = now;
        if !is_event && seq == source.max_seq {
            source.last_audio = Some((ts, now));
        }
        let out_seq = seq.wrapping_add(source.seq_offset);
        let out_ts = ts.wrapping_add(source.ts_offset);
        let resynced = !matches!(anchor, Anchor::None);

        packet.set_ssrc(self.ssrc);
        packet.set_sequence(out_seq);
        packet.set_timestamp(out_ts);
        packet.set_payload_type(out_pt);
        if resynced {
            packet.set_marker(true);
        }
        if let PayloadRoute::Transcode { from, to } = route {
            g711::transcode_in_place(from, to, packet.payload_mut());
        }

        let payload = packet.payload();
        let covered_to = if is_event {
            // RFC 4733 §2.3: bytes 2-3 are the event duration in timestamp units.
            match payload {
                [_, _, hi, lo, ..] => {
                    out_ts.wrapping_add(u32::from(u16::from_be_bytes([*hi, *lo])))
                }
                _ => out_ts,
            }
        } else {
            out_ts
        };
        self.packets_sent += 1;
        self.octets_sent += payload.len() as u64;
        if self.newest.is_none_or(|n| seq_newer(out_seq, n.sequence)) {
            self.newest = Some(SentPosition {
                sequence: out_seq,
                timestamp: covered_to,
                at: now,
            });
        }
        Ok(Rewritten::Forward { resynced })
    }

    /// Whether an in-order audio packet's timestamp is plausible for its source.
    fn timestamp_check(&self, source: &Source, ts: u32, now: Instant) -> Anchor {
        let Some((last_ts, last_at)) = source.last_audio else {
            return Anchor::None;
        };
        let step = ts.wrapping_sub(last_ts) as i32;
        let allowed = self.samples(now.saturating_duration_since(last_at) + TIMESTAMP_SLACK);
        if step < 0 || step as u64 > allowed {
            Anchor::Timestamp
        } else {
            Anchor::None
        }
    }

    fn samples(&self, duration: Duration) -> u64 {
        let samples = duration.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000;
        u64::try_from(samples).unwrap_or(u64::MAX)
    }

    /// Sequence number and timestamp for a packet that re-anchors the stream.
    fn next_position(&self, now: Instant) -> (u16, u32) {
        let Some(newest) = self.newest else {
            return (self.start.sequence, self.start.timestamp);
        };
        let frame = self.samples(self.ptime).max(1);
        let elapsed = self.samples(now.saturating_duration_since(newest.at));
        // Whole packet times, rounded to nearest, and always at least one.
        let frames = ((elapsed + frame / 2) / frame).max(1);
        // Timestamps are modulo 2^32 (RFC 3550 §5.1), so truncation is the intent.
        let advance = frames.saturating_mul(frame) as u32;
        (
            newest.sequence.wrapping_add(1),
            newest.timestamp.wrapping_add(advance),
        )
    }

    fn insert_source(&mut self, ssrc: Ssrc, now: Instant) -> usize {
        let source = Source {
            ssrc,
            seq_offset: 0,
            ts_offset: 0,
            max_seq: 0,
            anchor_seq: None,
            last_audio: None,
            last_seen: now,
            last_used: 0,
        };
        if self.sources.len() < MAX_SOURCES {
            self.sources.push(source);
            return self.sources.len() - 1;
        }
        let current = self.current;
        let victim = self
            .sources
            .iter()
            .enumerate()
            .filter(|(_, s)| Some(s.ssrc) != current)
            .min_by_key(|(_, s)| s.last_used)
            .map_or(0, |(i, _)| i);
        self.sources[victim] = source;
        victim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::{RtpHeader, RtpPacket};
    use crate::media::sdp::Codec;
    use proptest::prelude::*;

    const OURS: Ssrc = Ssrc(0x5157_0001);
    const A: Ssrc = Ssrc(0xaaaa_aaaa);
    const B: Ssrc = Ssrc(0xbbbb_bbbb);
    const START: StreamStart = StreamStart {
        sequence: 1000,
        timestamp: 50_000,
    };
    const MS20: Duration = Duration::from_millis(20);

    fn te() -> PayloadType {
        PayloadType::new(101).unwrap()
    }

    #[allow(clippy::disallowed_methods)] // the one real clock read: a base for virtual time
    fn t0() -> Instant {
        Instant::now()
    }

    fn map() -> PayloadMap {
        PayloadMap::new()
            .relay(PayloadType::PCMU, PayloadType::PCMU)
            .telephone_event(PayloadType::new(96).unwrap(), te())
    }

    fn packet(ssrc: Ssrc, sequence: u16, timestamp: u32) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: PayloadType::PCMU,
            sequence,
            timestamp,
            ssrc,
        }
        .write(&[0xff; 160], &mut out);
        out
    }

    /// What went out: (sequence, timestamp, marker).
    fn out(bytes: &[u8]) -> (u16, u32, bool) {
        let p = RtpPacket::parse(bytes).unwrap();
        assert_eq!(p.ssrc(), OURS);
        (p.sequence(), p.timestamp(), p.marker())
    }

    /// Feeds `count` in-order packets of one source, 20 ms apart, from `at`; returns outputs.
    fn feed(
        rewriter: &mut StreamRewriter,
        at: &mut Instant,
        ssrc: Ssrc,
        seq: u16,
        ts: u32,
        count: u16,
    ) -> Vec<(u16, u32, bool)> {
        (0..count)
            .map(|i| {
                let mut bytes = packet(
                    ssrc,
                    seq.wrapping_add(i),
                    ts.wrapping_add(160 * u32::from(i)),
                );
                let result = rewriter.rewrite(*at, &mut bytes).unwrap();
                assert!(result.is_forward(), "{result:?}");
                *at += MS20;
                out(&bytes)
            })
            .collect()
    }

    #[test]
    fn first_packet_starts_the_stream_at_the_given_start_with_our_ssrc_and_marker() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut bytes = packet(A, 7, 123);
        let result = rewriter.rewrite(t0(), &mut bytes).unwrap();
        assert_eq!(result, Rewritten::Forward { resynced: true });
        assert_eq!(out(&bytes), (1000, 50_000, true));
        assert_eq!(rewriter.current_source(), Some(A));
        assert_eq!(rewriter.packets_sent(), 1);
        assert_eq!(rewriter.octets_sent(), 160);
    }

    #[test]
    fn in_order_packets_keep_their_spacing_and_losses() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        let sent = feed(&mut rewriter, &mut at, A, 7, 123, 3);
        assert_eq!(
            sent,
            [
                (1000, 50_000, true),
                (1001, 50_160, false),
                (1002, 50_320, false)
            ]
        );
        // Two packets lost: the gap is passed on.
        let mut bytes = packet(A, 12, 123 + 5 * 160);
        assert!(rewriter.rewrite(at, &mut bytes).unwrap().is_forward());
        assert_eq!(out(&bytes), (1005, 50_800, false));
    }

    #[test]
    fn new_source_continues_sequence_and_timestamp_with_the_marker() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 10);
        let sent = feed(&mut rewriter, &mut at, B, 40_000, 3_000_000_000, 3);
        assert_eq!(
            sent,
            [
                (1010, 51_600, true),
                (1011, 51_760, false),
                (1012, 51_920, false)
            ]
        );
        assert_eq!(rewriter.current_source(), Some(B));
    }

    #[test]
    fn timestamp_advances_by_the_silence_between_sources() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 1);
        // at is now 20 ms after the first packet; B starts one second later still.
        at += Duration::from_secs(1);
        let sent = feed(&mut rewriter, &mut at, B, 1, 1, 1);
        assert_eq!(sent, [(1001, 50_000 + 8160, true)]);
    }

    #[test]
    fn an_immediate_switch_still_advances_one_packet_time() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let at = t0();
        let mut first = packet(A, 1, 1);
        let _ = rewriter.rewrite(at, &mut first).unwrap();
        let mut second = packet(B, 1, 1);
        let _ = rewriter.rewrite(at, &mut second).unwrap();
        assert_eq!(out(&second), (1001, 50_160, true));
    }

    #[test]
    fn sequence_wraparound_within_a_source_is_not_a_jump() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        let sent = feed(&mut rewriter, &mut at, A, 65534, u32::MAX - 159, 4);
        assert_eq!(
            sent,
            [
                (1000, 50_000, true),
                (1001, 50_160, false),
                (1002, 50_320, false),
                (1003, 50_480, false)
            ]
        );
    }

    #[test]
    fn output_sequence_wraps_around_too() {
        let start = StreamStart {
            sequence: 65535,
            timestamp: u32::MAX,
        };
        let mut rewriter = StreamRewriter::new(OURS, start, map());
        let mut at = t0();
        let sent = feed(&mut rewriter, &mut at, A, 10, 0, 2);
        assert_eq!(sent, [(65535, u32::MAX, true), (0, 159, false)]);
        let sent = feed(&mut rewriter, &mut at, B, 10, 0, 1);
        assert_eq!(sent, [(1, 319, true)]);
    }

    #[test]
    fn reordered_packets_keep_their_offsets() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let at = t0();
        let mut outputs = Vec::new();
        for seq in [100u16, 102, 101, 103] {
            let mut bytes = packet(A, seq, u32::from(seq) * 160);
            assert!(rewriter.rewrite(at, &mut bytes).unwrap().is_forward());
            outputs.push(out(&bytes).0);
        }
        assert_eq!(outputs, [1000, 1002, 1001, 1003]);
        let mut late = packet(A, 60, 60 * 160);
        assert_eq!(
            rewriter.rewrite(at, &mut late).unwrap(),
            Rewritten::Drop(DropReason::BeforeSourceChange),
            "behind the anchor"
        );
    }

    #[test]
    fn reorders_across_a_wrap_keep_their_offsets() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let at = t0();
        let mut outputs = Vec::new();
        for seq in [65530u16, 65531, 65532, 65533, 65534, 65535, 1, 0, 2] {
            let mut bytes = packet(A, seq, u32::from(seq.wrapping_sub(65530)) * 160);
            assert!(rewriter.rewrite(at, &mut bytes).unwrap().is_forward());
            outputs.push(out(&bytes).0);
        }
        assert_eq!(
            outputs,
            [1000, 1001, 1002, 1003, 1004, 1005, 1007, 1006, 1008]
        );
    }

    #[test]
    fn a_reorder_from_before_a_source_change_is_dropped() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 5);
        // B's packet 501 overtakes 500: 501 anchors, so 500 would reuse A's last number.
        feed(&mut rewriter, &mut at, B, 501, 160, 1);
        let mut early = packet(B, 500, 0);
        assert_eq!(
            rewriter.rewrite(at, &mut early).unwrap(),
            Rewritten::Drop(DropReason::BeforeSourceChange)
        );
    }

    #[test]
    fn stragglers_of_a_replaced_source_are_dropped() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 5);
        feed(&mut rewriter, &mut at, B, 1, 1, 2);
        let mut late = packet(A, 10, 123 + 3 * 160);
        assert_eq!(
            rewriter.rewrite(at, &mut late).unwrap(),
            Rewritten::Drop(DropReason::Stale)
        );
        assert_eq!(rewriter.current_source(), Some(B));
        let sent = feed(&mut rewriter, &mut at, B, 3, 321, 1);
        assert_eq!(sent, [(1007, 51_120, false)]);
    }

    #[test]
    fn a_source_coming_back_continues_the_stream() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 5); // out 1000..=1004
        feed(&mut rewriter, &mut at, B, 1, 1, 5); // out 1005..=1009
        // A kept sending while unbridged: its numbers moved on by 250 packets.
        let sent = feed(&mut rewriter, &mut at, A, 262, 123 + 255 * 160, 2);
        assert_eq!(sent, [(1010, 51_600, true), (1011, 51_760, false)]);
    }

    #[test]
    fn a_source_silent_for_long_is_not_taken_for_a_straggler() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 100, 0, 3);
        feed(&mut rewriter, &mut at, B, 1, 1, 1);
        at += Duration::from_secs(60);
        // Wrapped all the way round to just behind where it was.
        let sent = feed(&mut rewriter, &mut at, A, 90, 0, 1);
        assert!(sent[0].2, "re-anchored with the marker");
        assert_eq!(sent[0].0, 1004);
    }

    #[test]
    fn a_sequence_jump_within_a_source_reanchors() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 3);
        let sent = feed(&mut rewriter, &mut at, A, 20_000, 99_999, 2);
        assert_eq!(sent, [(1003, 50_480, true), (1004, 50_640, false)]);
        // And backwards beyond the reorder window.
        let sent = feed(&mut rewriter, &mut at, A, 10_000, 5, 1);
        assert_eq!(sent, [(1005, 50_800, true)]);
    }

    #[test]
    fn a_timestamp_jump_with_continuous_sequence_reanchors_the_timestamp_only() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 3);
        // Same SSRC, next sequence numbers, but the timestamp restarts (a media server
        // switching prompts) ...
        let sent = feed(&mut rewriter, &mut at, A, 10, 0, 2);
        assert_eq!(sent, [(1003, 50_480, true), (1004, 50_640, false)]);
        // ... or leaps ten minutes ahead.
        let sent = feed(&mut rewriter, &mut at, A, 12, 8000 * 600, 1);
        assert_eq!(sent, [(1005, 50_800, true)]);
    }

    #[test]
    fn silence_suppression_keeps_the_incoming_timestamp_gap() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 2);
        at += Duration::from_secs(3);
        let sent = feed(&mut rewriter, &mut at, A, 9, 123 + 2 * 160 + 3 * 8000, 1);
        assert_eq!(sent, [(1002, 50_320 + 24_000, false)]);
    }

    fn event(ssrc: Ssrc, sequence: u16, timestamp: u32, duration: u16, marker: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let [hi, lo] = duration.to_be_bytes();
        RtpHeader {
            marker,
            payload_type: PayloadType::new(96).unwrap(),
            sequence,
            timestamp,
            ssrc,
        }
        .write(&[5, 10, hi, lo], &mut out);
        out
    }

    #[test]
    fn telephone_events_get_the_leg_payload_type_and_the_source_offsets() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 2);
        // Digit 5 starts at timestamp 443; three updates share it, as RFC 4733 §2.5 says.
        let mut outputs = Vec::new();
        for (i, duration) in [160u16, 320, 480].into_iter().enumerate() {
            let mut bytes = event(A, 9 + i as u16, 443, duration, i == 0);
            assert!(rewriter.rewrite(at, &mut bytes).unwrap().is_forward());
            let p = RtpPacket::parse(&bytes).unwrap();
            assert_eq!(p.payload_type(), te());
            assert_eq!(p.payload(), &[5, 10, (duration >> 8) as u8, duration as u8]);
            outputs.push(out(&bytes));
            at += MS20;
        }
        assert_eq!(
            outputs,
            [
                (1002, 50_320, true),
                (1003, 50_320, false),
                (1004, 50_320, false)
            ]
        );
        // Audio resumes after the event on the same offsets.
        let sent = feed(&mut rewriter, &mut at, A, 12, 443 + 480, 1);
        assert_eq!(sent, [(1005, 50_800, false)]);
        // A switch right after an event starts after the event's end, not its start.
        let mut tail = event(A, 13, 923, 2000, false);
        let _ = rewriter.rewrite(at, &mut tail).unwrap();
        let sent = feed(&mut rewriter, &mut at, B, 1, 1, 1);
        assert_eq!(sent, [(1007, 50_800 + 2000 + 160, true)]);
    }

    #[test]
    fn payload_types_without_a_route_are_dropped() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut bytes = packet(A, 1, 1);
        bytes[1] = 13; // comfort noise
        let before = bytes.clone();
        assert_eq!(
            rewriter.rewrite(t0(), &mut bytes).unwrap(),
            Rewritten::Drop(DropReason::UnmappedPayloadType(
                PayloadType::new(13).unwrap()
            ))
        );
        assert_eq!(bytes, before, "a dropped packet is left untouched");
        assert_eq!(rewriter.current_source(), None);
    }

    #[test]
    fn pcmu_is_transcoded_to_pcma_in_place() {
        let payloads =
            PayloadMap::new().transcode(PayloadType::PCMU, PayloadType::PCMA, Law::Mu, Law::A);
        let mut rewriter = StreamRewriter::new(OURS, START, payloads);
        let mut bytes = packet(A, 1, 1);
        let _ = rewriter.rewrite(t0(), &mut bytes).unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.payload_type(), PayloadType::PCMA);
        assert!(p.payload().iter().all(|&b| b == g711::ULAW_TO_ALAW[0xff]));
        assert_eq!(
            g711::alaw_to_linear(p.payload()[0]),
            8,
            "µ-law silence is A-law's smallest level"
        );
    }

    #[test]
    fn on_source_change_reanchors_a_known_ssrc() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        feed(&mut rewriter, &mut at, A, 7, 123, 2);
        rewriter.on_source_change();
        let sent = feed(&mut rewriter, &mut at, A, 9, 443, 2);
        assert_eq!(sent, [(1002, 50_320, true), (1003, 50_480, false)]);
    }

    #[test]
    fn many_sources_evict_the_least_recent_but_never_the_current_one() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut at = t0();
        for i in 0..10u32 {
            feed(&mut rewriter, &mut at, Ssrc(i), 1, 1, 2);
        }
        assert_eq!(rewriter.current_source(), Some(Ssrc(9)));
        let sent = feed(&mut rewriter, &mut at, Ssrc(9), 3, 321, 1);
        assert_eq!(sent, [(1020, 50_000 + 20 * 160, false)]);
    }

    #[test]
    fn malformed_packets_are_errors_and_left_alone() {
        let mut rewriter = StreamRewriter::new(OURS, START, map());
        let mut bytes = vec![0x40; 20];
        assert_eq!(
            rewriter.rewrite(t0(), &mut bytes),
            Err(RtpError::BadVersion(1))
        );
        assert_eq!(bytes, vec![0x40; 20]);
    }

    #[test]
    fn payload_map_between_legs_relays_transcodes_and_maps_events() {
        let leg = |codec: Codec, te_pt: Option<u8>| Negotiated {
            codec,
            telephone_event: te_pt.map(|p| Codec::telephone_event(PayloadType::new(p).unwrap())),
            srtp: None,
        };
        let pcmu_101 = leg(Codec::pcmu(), Some(101));
        let pcma_96 = leg(Codec::pcma(), Some(96));
        let pcmu_plain = leg(Codec::pcmu(), None);

        let map = PayloadMap::between(&pcmu_101, &pcma_96);
        assert_eq!(
            map.route(PayloadType::PCMU),
            Some((
                PayloadType::PCMA,
                PayloadRoute::Transcode {
                    from: Law::Mu,
                    to: Law::A
                }
            ))
        );
        assert_eq!(
            map.route(te()),
            Some((PayloadType::new(96).unwrap(), PayloadRoute::TelephoneEvent))
        );
        // The source may switch to the other G.711 law it answered with: still delivered.
        assert_eq!(
            map.route(PayloadType::PCMA),
            Some((PayloadType::PCMA, PayloadRoute::Relay))
        );

        let map = PayloadMap::between(&pcmu_101, &pcmu_plain);
        assert_eq!(
            map.route(PayloadType::PCMU),
            Some((PayloadType::PCMU, PayloadRoute::Relay))
        );
        assert_eq!(map.route(te()), None);
    }

    #[test]
    fn seeded_start_is_reproducible() {
        use rand::SeedableRng;
        let a = StreamStart::random(&mut rand::rngs::SmallRng::seed_from_u64(7));
        let b = StreamStart::random(&mut rand::rngs::SmallRng::seed_from_u64(7));
        assert_eq!(a, b);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_rewriter(
            datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)
        ) {
            let mut rewriter = StreamRewriter::new(OURS, START, map()
                .transcode(PayloadType::PCMA, PayloadType::PCMU, Law::A, Law::Mu));
            let mut at = t0();
            for mut bytes in datagrams {
                if bytes.len() > 1 {
                    bytes[0] = 0x80 | (bytes[0] & 0x3f);
                    bytes[1] &= 0x88; // PT 0 or 8, marker either way
                }
                let _ = rewriter.rewrite(at, &mut bytes);
                at += Duration::from_millis(7);
            }
        }

        /// Sources take turns, each continuing its own in-order numbering: the leg must see
        /// one gapless sequence, strictly increasing timestamps, and a marker at each switch.
        #[test]
        fn switching_sources_yields_one_continuous_stream(
            turns in proptest::collection::vec((0usize..3, 1u16..30, 0u16..5000, 0u64..3000), 1..20),
            starts in proptest::collection::vec((any::<u16>(), any::<u32>()), 3),
            start in (any::<u16>(), any::<u32>()),
        ) {
            let start = StreamStart { sequence: start.0, timestamp: start.1 };
            let mut rewriter = StreamRewriter::new(OURS, start, map());
            let mut at = t0();
            let mut next: Vec<(u16, u32)> = starts;
            let mut previous: Option<(u16, u32)> = None;
            let mut last_ssrc = None;
            for (who, count, skip, pause_ms) in turns {
                at += Duration::from_millis(pause_ms);
                let (seq, ts) = &mut next[who];
                if last_ssrc != Some(who) {
                    // Unbridged sources keep sending; a continuing one's losses would show.
                    *seq = seq.wrapping_add(skip);
                    *ts = ts.wrapping_add(u32::from(skip) * 160);
                }
                for i in 0..count {
                    let mut bytes = packet(Ssrc(who as u32), *seq, *ts);
                    let result = rewriter.rewrite(at, &mut bytes).unwrap();
                    let switched = last_ssrc != Some(who);
                    prop_assert_eq!(result, Rewritten::Forward { resynced: switched && i == 0 });
                    let (out_seq, out_ts, marker) = out(&bytes);
                    prop_assert_eq!(marker, switched && i == 0);
                    match previous {
                        None => prop_assert_eq!((out_seq, out_ts), (start.sequence, start.timestamp)),
                        Some((p_seq, p_ts)) => {
                            prop_assert_eq!(out_seq, p_seq.wrapping_add(1));
                            let step = out_ts.wrapping_sub(p_ts);
                            prop_assert!((160..=160 + 8 * pause_ms as u32 + 80).contains(&step), "step {}", step);
                        }
                    }
                    previous = Some((out_seq, out_ts));
                    *seq = seq.wrapping_add(1);
                    *ts = ts.wrapping_add(160);
                    at += MS20;
                }
                last_ssrc = Some(who);
            }
        }
    }
}
