//! The media relay: every endpoint of one shard, sans-IO.
//!
//! A packet from a phone goes in with [`Relay::handle_packet`]; it is dropped unless it comes
//! from the phone as the leg's signalling names it, and may latch the phone's address (strict
//! symmetric RTP, see [`source`]: the first packet from the signalling's IP after each SDP
//! change decides where we send), passes the endpoint's inbound stage (digit detection, noise
//! suppression, recording taps, a conference's input) and, when the endpoint is bridged, the
//! peer's `StreamRewriter` (SSRC, sequence and timestamp kept continuous across re-bridges,
//! PCMU ↔ PCMA transcoded when the legs disagree). The packet is rewritten in the caller's
//! buffer and the answer says which endpoint's socket sends it where: no copy and no
//! allocation per packet.
//!
//! An SRTP leg (`RTP/SAVP`, keys from SDES) is decrypted on arrival, right after the source
//! check and before the latch moves, so every stage and the other leg see plain RTP; a packet
//! that fails authentication or is replayed is dropped and counted (`srtp_rejected`), never
//! relayed, recorded or mixed, and is no sign of life. What the switch sends to an SRTP leg,
//! relayed or generated, is encrypted last, after its rewriter numbered it. Each leg is
//! independent: SRTP on one side and plain RTP on the other is a call like any other. The
//! crypto crate allocates one buffer per transformed packet (see [`crate::media::srtp`]).
//!
//! Nothing is sent to a phone, relayed or generated, before its leg is
//! [established](Relay::establish) by its signalling.
//!
//! RTCP is terminated here: the switch is the media endpoint of each leg, so relaying one
//! leg's reports to the other would describe streams the other never saw. It still counts as
//! life for the inactivity timer.
//!
//! Time is an argument. Two timers drive the rest through [`Relay::handle_timeout`]:
//! - **Playout**: one 20 ms tick for the whole relay, armed while anything plays or mixes.
//!   Every announcement and conference of the shard sends on it, so a thousand callers on hold
//!   cost one wake-up per 20 ms, not a thousand. A late tick is skipped, not caught up
//!   (phones would hear a burst).
//! - **Inactivity sweep**: every eighth of the RTP timeout (20 ms to 1 s) the endpoints whose
//!   phones should send ([`Direction::sends`]) and have been quiet for the timeout are reported
//!   once as [`Event::Inactive`]. A sweep instead of a timer per endpoint: re-arming a timer
//!   per packet was a measurable share of the old relay's CPU, and the report is at most a
//!   sweep late.
//!
//! Endpoints live in a slab indexed by [`Slot`], the runtime's socket token; commands name
//! endpoints by [`EndpointId`].

mod endpoint;
pub mod source;

pub use endpoint::{MAX_DECODED_PAYLOAD, RelayEndpoint, Tap};
pub use source::LatchPolicy;

use crate::call::EndpointId;
use crate::media::mixer::{FRAME as MIX_FRAME, Frame, MixStream, mix_minus};
use crate::media::player::{Announcement, Player};
use crate::media::recorder::RecordingId;
use crate::media::rewrite::PayloadMap;
use crate::media::rtp::{Ssrc, is_rtcp};
use crate::media::sdp::{Direction, Negotiated};
use endpoint::{MapKey, Playout, Refused};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One packet of G.711 every 20 ms.
pub const PACKET_TIME: Duration = Duration::from_millis(20);

/// Bounds of the inactivity sweep's period.
const SWEEP_MIN: Duration = Duration::from_millis(20);
const SWEEP_MAX: Duration = Duration::from_secs(1);

/// An endpoint's place in the relay; stable while the endpoint stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot(pub usize);

/// Which of an endpoint's two ports a datagram came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Rtp,
    Rtcp,
}

/// Send a packet out of endpoint `from`'s RTP socket to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub from: Slot,
    pub to: SocketAddr,
}

/// What the relay reports to the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The phone should be sending and has been quiet for the RTP timeout.
    Inactive(EndpointId),
    /// The phone keyed `digit` (`0`-`9`, `*`, `#`, `A`-`D`), as a telephone-event or a tone
    /// in its audio; only while [`Relay::detect_digits`] is on for it.
    Digit { endpoint: EndpointId, digit: char },
}

/// Packets counted since the last [`Relay::take_counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rtp_in: u64,
    pub rtcp_in: u64,
    /// RTP and RTCP packets from a source that is not the leg's phone (see [`source`]):
    /// dropped before anything looked at them, counted in neither `rtp_in` nor `rtcp_in`.
    pub rejected: u64,
    /// RTP packets the relay decided not to send (no peer, not configured, rewriter refused).
    pub dropped: u64,
    /// SRTP and SRTCP packets from the phone's address that failed authentication or were
    /// replayed: dropped, counted in neither `rtp_in` nor `rtcp_in`.
    pub srtp_rejected: u64,
}

/// A packet generated on a playout tick, its buffer kept for the next tick.
struct Generated {
    transmit: Transmit,
    bytes: Vec<u8>,
}

/// One conference member as the mixer holds it.
struct Member {
    slot: Slot,
    id: EndpointId,
    ssrc: Ssrc,
    stream: Option<MixStream>,
}

/// A mix-minus conference of endpoints of this relay.
struct Mixer {
    id: u64,
    members: Vec<Member>,
}

/// See the module doc.
pub struct Relay {
    endpoints: Vec<Option<RelayEndpoint>>,
    free: Vec<usize>,
    slots: HashMap<EndpointId, Slot>,
    timeout: Duration,
    sweep_every: Duration,
    next_sweep: Option<Instant>,
    /// The playout tick, while anything plays or mixes.
    next_tick: Option<Instant>,
    /// Endpoints with an announcement; pruned on each tick.
    playing: Vec<Slot>,
    mixers: Vec<Mixer>,
    next_mixer: u64,
    generated: Vec<Generated>,
    /// Entries of `generated` filled this tick, and how many were polled.
    generated_len: usize,
    generated_polled: usize,
    events: VecDeque<Event>,
    counts: Counts,
    last_now: Option<Instant>,
    /// Mixer scratch frames, kept between ticks.
    mix_inputs: Vec<Frame>,
    mix_outputs: Vec<Frame>,
}

impl Relay {
    /// An empty relay reporting phones quiet for `timeout`.
    #[must_use]
    pub fn new(timeout: Duration) -> Relay {
        Relay {
            endpoints: Vec::new(),
            free: Vec::new(),
            slots: HashMap::new(),
            timeout,
            sweep_every: (timeout / 8).clamp(SWEEP_MIN, SWEEP_MAX),
            next_sweep: None,
            next_tick: None,
            playing: Vec::new(),
            mixers: Vec::new(),
            next_mixer: 0,
            generated: Vec::new(),
            generated_len: 0,
            generated_polled: 0,
            events: VecDeque::new(),
            counts: Counts::default(),
            last_now: None,
            mix_inputs: Vec::new(),
            mix_outputs: Vec::new(),
        }
    }

    /// Number of endpoints held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no endpoint is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Where `id` lives, if here.
    #[must_use]
    pub fn slot(&self, id: EndpointId) -> Option<Slot> {
        self.slots.get(&id).copied()
    }

    /// The endpoint `id`, if here.
    #[must_use]
    pub fn endpoint(&self, id: EndpointId) -> Option<&RelayEndpoint> {
        self.slot(id).and_then(|s| self.endpoints[s.0].as_ref())
    }

    fn get_mut(&mut self, id: EndpointId) -> Option<&mut RelayEndpoint> {
        let slot = self.slot(id)?;
        self.endpoints[slot.0].as_mut()
    }

    /// Takes an endpoint in (new, or moved from another relay) and arms its timers.
    pub fn insert(&mut self, now: Instant, endpoint: RelayEndpoint) -> Slot {
        if let Some(old) = self.slots.get(&endpoint.id).copied() {
            self.endpoints[old.0] = None;
            self.free.push(old.0);
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.endpoints.push(None);
            self.endpoints.len() - 1
        });
        let slot = Slot(index);
        if endpoint.playout.is_some() && !self.playing.contains(&slot) {
            self.playing.push(slot);
            self.next_tick.get_or_insert(now + PACKET_TIME);
        }
        self.slots.insert(endpoint.id, slot);
        self.endpoints[index] = Some(endpoint);
        self.next_sweep.get_or_insert(now + self.sweep_every);
        slot
    }

    /// Takes `id` out (closed, or moving to another relay). Whatever was bridged to it stops
    /// relaying to it (unless it comes back); its own bridge and conference go.
    pub fn remove(&mut self, id: EndpointId) -> Option<RelayEndpoint> {
        let slot = self.slots.remove(&id)?;
        let mut endpoint = self.endpoints[slot.0].take()?;
        self.free.push(slot.0);
        endpoint.peer = None;
        endpoint.mix = None;
        endpoint.mix_input.clear();
        if self.slots.is_empty() {
            self.next_sweep = None;
        }
        Some(endpoint)
    }

    /// Applies an SDP negotiation to `id` (see [`RelayEndpoint::configure`]).
    pub fn configure(
        &mut self,
        now: Instant,
        id: EndpointId,
        remote: Option<SocketAddr>,
        negotiated: Negotiated,
        direction: Direction,
        latch: LatchPolicy,
    ) {
        if let Some(e) = self.get_mut(id) {
            e.configure(now, remote, negotiated, direction, latch);
        }
    }

    /// `id`'s signalling established the leg: from now on the switch sends to its phone.
    pub fn establish(&mut self, id: EndpointId) {
        if let Some(e) = self.get_mut(id) {
            e.establish();
        }
    }

    /// Relays between `a` and `b` both ways; whatever either was bridged to, played or mixed
    /// before is dropped. Both streams re-anchor on the next packet.
    pub fn bridge(&mut self, a: EndpointId, b: EndpointId) {
        let (Some(sa), Some(sb)) = (self.slot(a), self.slot(b)) else {
            return;
        };
        for (from, to) in [(a, (sb, b)), (b, (sa, a))] {
            if let Some(e) = self.get_mut(from) {
                e.peer = Some(to);
                // Music left playing would go out beside the relayed stream.
                e.playout = None;
                e.mix = None;
                e.mix_input.clear();
                e.rewriter.on_source_change();
                e.map_key = MapKey::None;
            }
        }
    }

    /// Stops relaying to and from `id` (the other side keeps its own bridge settings unless
    /// it was bridged to `id`).
    pub fn unbridge(&mut self, id: EndpointId) {
        let Some(slot) = self.slot(id) else {
            return;
        };
        let Some(e) = self.endpoints[slot.0].as_mut() else {
            return;
        };
        e.mix = None;
        e.mix_input.clear();
        let Some(peer) = e.peer.take() else {
            return;
        };
        if let Some(p) = self.endpoints[peer.0.0].as_mut()
            && p.peer == Some((slot, id))
        {
            p.peer = None;
        }
    }

    /// Plays `announcement` to `id`'s phone in a loop as `ssrc`, replacing anything relayed
    /// to it; `id` is unbridged first.
    pub fn play(&mut self, now: Instant, id: EndpointId, announcement: Announcement, ssrc: Ssrc) {
        self.unbridge(id);
        let Some(slot) = self.slot(id) else {
            return;
        };
        if let Some(e) = self.endpoints[slot.0].as_mut() {
            e.playout = Some(Playout {
                announcement,
                ssrc,
                player: None,
            });
        }
        if !self.playing.contains(&slot) {
            self.playing.push(slot);
        }
        self.next_tick.get_or_insert(now + PACKET_TIME);
    }

    /// Stops `id`'s announcement, if any.
    pub fn stop_playing(&mut self, id: EndpointId) {
        if let Some(e) = self.get_mut(id) {
            e.playout = None;
        }
    }

    /// Cleans what `id`'s phone sends before it is relayed (or stops); `prepared` is used if
    /// a suppressor must be built.
    pub fn set_denoise(
        &mut self,
        id: EndpointId,
        enabled: bool,
        prepared: Option<Box<crate::media::denoise::Denoiser>>,
    ) {
        if let Some(e) = self.get_mut(id) {
            e.set_denoise(enabled, prepared);
        }
    }

    /// Reports the digits `id`'s phone keys as [`Event::Digit`] (or stops): its RFC 4733
    /// telephone-events, and DTMF tones in its G.711 audio until it sends one (see
    /// [`crate::media::dtmf`]). What is relayed stays as it was.
    pub fn detect_digits(&mut self, id: EndpointId, enabled: bool) {
        if let Some(e) = self.get_mut(id) {
            e.set_detect_digits(enabled);
        }
    }

    /// Sends `id`'s phone's audio to `recording` too.
    pub fn add_tap(&mut self, id: EndpointId, recording: RecordingId, tap: Box<dyn Tap>) {
        if let Some(e) = self.get_mut(id) {
            e.add_tap(recording, tap);
        }
    }

    /// Stops sending `id`'s phone's audio to `recording`.
    pub fn remove_tap(&mut self, id: EndpointId, recording: &RecordingId) {
        if let Some(e) = self.get_mut(id) {
            e.remove_tap(recording);
        }
    }

    /// Mixes `members` (endpoint, the SSRC of its mix stream) mix-minus: each phone hears the
    /// others. Their bridges and music stop. Fewer than two present members mix nothing:
    /// the lone one hears silence.
    pub fn mix(&mut self, now: Instant, members: &[(EndpointId, Ssrc)]) {
        let id = self.next_mixer;
        self.next_mixer += 1;
        let mut mixer = Mixer {
            id,
            members: Vec::with_capacity(members.len()),
        };
        for (member, ssrc) in members {
            self.unbridge(*member);
            self.stop_playing(*member);
            let Some(slot) = self.slot(*member) else {
                continue;
            };
            if let Some(e) = self.endpoints[slot.0].as_mut() {
                e.mix = Some(id);
                e.mix_input.clear();
                e.rewriter.on_source_change();
                e.map_key = MapKey::None;
            }
            mixer.members.push(Member {
                slot,
                id: *member,
                ssrc: *ssrc,
                stream: None,
            });
        }
        if mixer.members.len() >= 2 {
            self.mixers.push(mixer);
            self.next_tick.get_or_insert(now + PACKET_TIME);
        }
    }

    /// One datagram from `slot`'s phone on `port`, `buf[..len]`, rewritten in place for the
    /// peer; where to send it, if anywhere, and its length then. `buf` must have
    /// [`srtp::MAX_OVERHEAD`](crate::media::srtp::MAX_OVERHEAD) bytes beyond `len` for the
    /// tag of a peer on SRTP.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        slot: Slot,
        port: Port,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<(Transmit, usize)> {
        let now = self.monotonic(now);
        let endpoint = self.endpoints.get_mut(slot.0)?.as_mut()?;
        let len = match endpoint.receive(now, port, from, buf, len) {
            Ok(len) => len,
            Err(Refused::Source) => {
                self.counts.rejected += 1;
                return None;
            }
            Err(Refused::Srtp(_)) => {
                self.counts.srtp_rejected += 1;
                return None;
            }
        };
        let packet = &mut buf[..len];
        // rtcp-mux (RFC 5761) reports arrive on the RTP port; both kinds are terminated.
        if port == Port::Rtcp || is_rtcp(packet) {
            self.counts.rtcp_in += 1;
            return None;
        }
        self.counts.rtp_in += 1;
        endpoint.inbound_stage(now, packet, &mut self.events);
        if endpoint.mix.is_some() {
            return None;
        }
        let transmit = self.relay_to_peer(now, slot, buf, len);
        if transmit.is_none() {
            self.counts.dropped += 1;
        }
        transmit
    }

    /// Rewrites a packet from `slot`'s phone for its bridged peer (and encrypts it for an
    /// SRTP peer).
    fn relay_to_peer(
        &mut self,
        now: Instant,
        slot: Slot,
        buf: &mut [u8],
        len: usize,
    ) -> Option<(Transmit, usize)> {
        let (peer, peer_id) = self.endpoints[slot.0].as_ref()?.peer?;
        let [source, destination] = self.endpoints.get_disjoint_mut([slot.0, peer.0]).ok()?;
        let (Some(source), Some(p)) = (source.as_ref(), destination.as_mut()) else {
            return None;
        };
        if p.id != peer_id {
            return None;
        }
        let key = MapKey::Peer {
            source: source.id,
            source_config: source.config,
            own_config: p.config,
        };
        if p.map_key != key {
            let map = PayloadMap::between(source.negotiated.as_ref()?, p.negotiated.as_ref()?);
            p.rewriter.set_payload_map(map);
            p.map_key = key;
        }
        // Checked before the rewriter numbers the packet: a stream the phone never received
        // must not start with a gap once its leg is established.
        let to = p.remote?;
        if source.negotiated.is_none() || p.negotiated.is_none() {
            return None;
        }
        let forward = matches!(p.rewriter.rewrite(now, &mut buf[..len]), Ok(r) if r.is_forward());
        if !forward {
            return None;
        }
        let len = p.protect(buf, len)?;
        Some((Transmit { from: peer, to }, len))
    }

    /// Runs the timers due at `now`: playout and conference ticks, the inactivity sweep.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.monotonic(now);
        if self.next_tick.is_some_and(|t| t <= now) {
            self.playout(now);
            self.next_tick = if self.playing.is_empty() && self.mixers.is_empty() {
                None
            } else {
                let mut next = self.next_tick.unwrap_or(now) + PACKET_TIME;
                if next <= now {
                    next = now + PACKET_TIME;
                }
                Some(next)
            };
        }
        if self.next_sweep.is_some_and(|t| t <= now) {
            self.sweep(now);
            self.next_sweep = (!self.slots.is_empty()).then(|| now + self.sweep_every);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_tick, self.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next packet generated by the last tick, and where it goes.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(Transmit, &[u8])> {
        if self.generated_polled >= self.generated_len {
            self.generated_len = 0;
            self.generated_polled = 0;
            return None;
        }
        let g = &self.generated[self.generated_polled];
        self.generated_polled += 1;
        Some((g.transmit, &g.bytes))
    }

    /// The next event for the switch.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Packets counted since the last call.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }

    /// Time never goes backwards here, whatever the caller's clock does.
    fn monotonic(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| last.max(now));
        self.last_now = Some(now);
        now
    }

    /// Generates one packet toward `slot`'s phone: `fill` writes it in the leg's codec
    /// (`false`: nothing to send), the leg's rewriter numbers it. Buffers are reused across
    /// ticks.
    fn generate(
        &mut self,
        now: Instant,
        slot: Slot,
        fill: impl FnOnce(&mut RelayEndpoint, &mut Vec<u8>) -> bool,
    ) {
        if self.generated_len == self.generated.len() {
            self.generated.push(Generated {
                transmit: Transmit {
                    from: slot,
                    to: SocketAddr::from(([0, 0, 0, 0], 0)),
                },
                bytes: Vec::with_capacity(200),
            });
        }
        let index = self.generated_len;
        let mut bytes = std::mem::take(&mut self.generated[index].bytes);
        let transmit = self.endpoints[slot.0].as_mut().and_then(|e| {
            let to = e.remote?;
            if !fill(e, &mut bytes) {
                return None;
            }
            let forward = matches!(e.rewriter.rewrite(now, &mut bytes), Ok(r) if r.is_forward());
            if !forward {
                return None;
            }
            if let Some(srtp) = e.srtp.as_mut() {
                srtp.outbound.protect_rtp_vec(&mut bytes).ok()?;
            }
            Some(Transmit { from: slot, to })
        });
        let g = &mut self.generated[index];
        g.bytes = bytes;
        if let Some(transmit) = transmit {
            g.transmit = transmit;
            self.generated_len += 1;
        }
    }

    /// One 20 ms tick: every announcement, then every conference.
    fn playout(&mut self, now: Instant) {
        // Packets not polled since the last tick are stale.
        self.generated_len = 0;
        self.generated_polled = 0;
        let mut playing = std::mem::take(&mut self.playing);
        playing.retain(|slot| self.play_one(now, *slot));
        self.playing = playing;
        let mut mixers = std::mem::take(&mut self.mixers);
        mixers.retain_mut(|m| self.mix_one(now, m));
        self.mixers = mixers;
    }

    /// Sends the next packet of `slot`'s announcement; `false` once it stopped playing.
    fn play_one(&mut self, now: Instant, slot: Slot) -> bool {
        let plays = self.endpoints[slot.0]
            .as_ref()
            .is_some_and(|e| e.playout.is_some());
        if plays {
            self.generate(now, slot, |e, bytes| {
                let Some((law, pt)) = e.local_source() else {
                    return false;
                };
                let Some(p) = e.playout.as_mut() else {
                    return false;
                };
                p.player
                    .get_or_insert_with(|| Player::new(p.announcement.clone(), p.ssrc, law, pt))
                    .next_packet(bytes);
                true
            });
        }
        plays
    }

    /// One conference tick: a frame from each member (silence if none came), mix-minus, and
    /// each member's mix through its rewriter. Members bridged, given music or closed since
    /// are left out; `false` once none is left.
    fn mix_one(&mut self, now: Instant, mixer: &mut Mixer) -> bool {
        mixer.members.retain(|m| {
            self.endpoints[m.slot.0]
                .as_ref()
                .is_some_and(|e| e.id == m.id && e.mix == Some(mixer.id))
        });
        if mixer.members.is_empty() {
            return false;
        }
        self.mix_inputs.clear();
        for m in &mixer.members {
            let frame = self.endpoints[m.slot.0]
                .as_mut()
                .and_then(|e| e.mix_input.frames.pop_front());
            self.mix_inputs.push(frame.unwrap_or([0; MIX_FRAME]));
        }
        self.mix_outputs.resize(mixer.members.len(), [0; MIX_FRAME]);
        mix_minus(&self.mix_inputs, &mut self.mix_outputs);
        for (i, m) in mixer.members.iter_mut().enumerate() {
            let frame = self.mix_outputs[i];
            self.generate(now, m.slot, |e, bytes| {
                let Some((law, pt)) = e.local_source() else {
                    return false;
                };
                if m.stream.as_ref().is_none_or(|s| s.law() != law) {
                    m.stream = Some(MixStream::new(m.ssrc, law, pt));
                }
                let Some(stream) = m.stream.as_mut() else {
                    return false;
                };
                stream.next_packet(&frame, bytes);
                true
            });
        }
        true
    }

    /// Reports, once, every endpoint whose phone should send and has been quiet too long.
    fn sweep(&mut self, now: Instant) {
        for e in self.endpoints.iter_mut().flatten() {
            if !e.reported_inactive
                && e.direction.sends()
                && now.saturating_duration_since(e.last_activity) >= self.timeout
            {
                e.reported_inactive = true;
                self.events.push_back(Event::Inactive(e.id));
            }
        }
    }
}

#[cfg(test)]
mod tests;
