//! One media endpoint as the relay holds it: where its phone is (symmetric RTP latching under a
//! [`LatchPolicy`], see [`super::source`]), whether its signalling lets the switch send to it
//! yet, what it negotiated, the continuous stream the switch sends it, and the stages its
//! phone's audio passes before it is relayed (digit detection, noise suppression, recording
//! taps, a conference's input), and on an SRTP leg its two crypto contexts: the phone's
//! packets are authenticated and decrypted before anything else looks at them, ours
//! encrypted last.
//!
//! A plain value with no sockets: the runtime builds one at `open`, configures it while no
//! shard holds it yet, and moves it between shards whole.

use super::Event;
use super::source::{LatchPolicy, Source};
use crate::call::EndpointId;
use crate::media::denoise::{Denoiser, SwitchableDenoiser};
use crate::media::dtmf::DigitDetector;
use crate::media::g711::{self, Law};
use crate::media::mixer::{FRAME as MIX_FRAME, Frame};
use crate::media::player::{Announcement, Player};
use crate::media::recorder::RecordingId;
use crate::media::recorder::timeline::AudioPacket;
use crate::media::rewrite::{PayloadMap, StreamRewriter, StreamStart};
use crate::media::rtp::is_rtcp;
use crate::media::rtp::{PayloadType, RtpPacketMut, Ssrc};
use crate::media::sdp::{Direction, Negotiated, SrtpKeys};
use crate::media::srtp::{SrtpContext, SrtpError};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// Largest payload decoded for a recording or a conference (200 ms of G.711); longer packets
/// are not audio we expect.
pub const MAX_DECODED_PAYLOAD: usize = 1600;

/// Frames a conference member may be ahead of the mixer before the oldest is dropped (60 ms):
/// bounds the delay a fast sender's clock can build up.
const MIX_QUEUE: usize = 3;

/// Where a recording takes the audio of the endpoints it taps.
///
/// The relay calls it once per audio packet from a tapped phone, decoded, after noise
/// suppression (what the other side heard). Implementations must not block for long: the
/// relay runs every endpoint of its shard.
pub trait Tap: Send {
    /// Places one packet `from` an endpoint's phone. `false` once the recording has ended
    /// (stopped or failed): the relay drops the tap and the endpoint's fast path comes back.
    fn push(&mut self, now: Instant, from: EndpointId, packet: &AudioPacket<'_>) -> bool;
}

/// What the outgoing rewriter's payload map was built for: the map is rebuilt when the source
/// or either side's negotiation changes, never per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MapKey {
    None,
    /// Packets relayed from the endpoint `source` configured for the `source_config`th time,
    /// toward this endpoint configured for the `own_config`th time.
    Peer {
        source: EndpointId,
        source_config: u64,
        own_config: u64,
    },
    /// Packets the switch generates in the leg's own codec (music, announcements, a mix).
    Local {
        own_config: u64,
    },
}

/// An announcement or music playing to the endpoint's phone; the cursor is made once the
/// leg's codec is known.
pub(super) struct Playout {
    pub announcement: Announcement,
    pub ssrc: Ssrc,
    pub player: Option<Player>,
}

/// Decoded audio from one conference member's phone, waiting for the mixer's next tick.
#[derive(Default)]
pub(super) struct MixInput {
    pub frames: VecDeque<Frame>,
    /// Samples not yet making a whole frame (phones sending 10 or 30 ms packets).
    carry: Vec<i16>,
}

impl MixInput {
    fn push(&mut self, pcm: &[i16]) {
        self.carry.extend_from_slice(pcm);
        while self.carry.len() >= MIX_FRAME {
            let mut frame = [0i16; MIX_FRAME];
            frame.copy_from_slice(&self.carry[..MIX_FRAME]);
            self.carry.drain(..MIX_FRAME);
            self.frames.push_back(frame);
            if self.frames.len() > MIX_QUEUE {
                self.frames.pop_front();
            }
        }
    }

    pub fn clear(&mut self) {
        self.frames.clear();
        self.carry.clear();
    }
}

/// An SRTP leg's contexts, and the keys they were made from (a re-negotiation that keeps
/// the keys keeps the contexts: their rollover counters and replay windows go on).
pub(super) struct SrtpLeg {
    keys: SrtpKeys,
    inbound: SrtpContext,
    pub outbound: SrtpContext,
}

impl SrtpLeg {
    fn new(keys: &SrtpKeys) -> SrtpLeg {
        SrtpLeg {
            inbound: SrtpContext::inbound(&keys.remote),
            outbound: SrtpContext::outbound(&keys.local),
            keys: keys.clone(),
        }
    }
}

/// Why a packet from the phone's socket was dropped on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not from the phone (see [`Source`]).
    Source,
    /// From the phone's address, but forged, corrupted or replayed SRTP/SRTCP.
    Srtp(SrtpError),
}

/// One endpoint's state; see the module doc.
pub struct RelayEndpoint {
    pub(super) id: EndpointId,
    /// Where the switch sends to the phone, `None` while it must not send (see
    /// [`Source::destination`]); kept up to date so the per-packet path only reads it.
    pub(super) remote: Option<SocketAddr>,
    /// Which sources are the phone, and where it listens.
    pub(super) source: Source,
    pub(super) negotiated: Option<Negotiated>,
    /// Counts `configure` calls, so payload maps know when they are stale.
    pub(super) config: u64,
    pub(super) direction: Direction,
    /// The endpoint this one's phone is relayed to, by slot and, because slots are reused,
    /// by id: a peer that left is noticed at its next packet, with no scan when it leaves.
    pub(super) peer: Option<(super::Slot, EndpointId)>,
    /// The stream we send to this endpoint's phone.
    pub(super) rewriter: StreamRewriter,
    pub(super) map_key: MapKey,
    denoise: SwitchableDenoiser,
    /// Set while the switch wants the digits the phone keys (off by default: searching the
    /// audio for tones decodes every packet).
    digits: Option<Box<DigitDetector>>,
    /// Recordings this endpoint's audio goes to.
    taps: Vec<(RecordingId, Box<dyn Tap>)>,
    pub(super) last_activity: Instant,
    /// Set once [`Event::Inactive`](super::Event::Inactive) went out: reported once.
    pub(super) reported_inactive: bool,
    pub(super) playout: Option<Playout>,
    /// The conference this endpoint's phone feeds, if any.
    pub(super) mix: Option<u64>,
    pub(super) mix_input: MixInput,
    /// Set while the leg negotiated `RTP/SAVP`.
    pub(super) srtp: Option<SrtpLeg>,
}

impl RelayEndpoint {
    /// A fresh endpoint sending as `ssrc` from `start`, idle since `now`.
    #[must_use]
    pub fn new(id: EndpointId, ssrc: Ssrc, start: StreamStart, now: Instant) -> RelayEndpoint {
        RelayEndpoint {
            id,
            remote: None,
            source: Source::default(),
            negotiated: None,
            config: 0,
            direction: Direction::SendRecv,
            peer: None,
            rewriter: StreamRewriter::new(ssrc, start, PayloadMap::new()),
            map_key: MapKey::None,
            denoise: SwitchableDenoiser::default(),
            digits: None,
            taps: Vec::new(),
            last_activity: now,
            reported_inactive: false,
            playout: None,
            mix: None,
            mix_input: MixInput::default(),
            srtp: None,
        }
    }

    /// The switch endpoint this is.
    #[must_use]
    pub fn id(&self) -> EndpointId {
        self.id
    }

    /// Applies an SDP negotiation: a new SDP address or policy is latched again, under
    /// `latch`, on the first packet from the phone (symmetric RTP, RFC 4961, so NATed phones
    /// work; see [`Source::configure`]).
    pub fn configure(
        &mut self,
        now: Instant,
        remote: Option<SocketAddr>,
        negotiated: Negotiated,
        direction: Direction,
        latch: LatchPolicy,
    ) {
        self.source.configure(remote, latch);
        self.remote = self.source.destination();
        if self.srtp.as_ref().map(|s| &s.keys) != negotiated.srtp.as_deref() {
            self.srtp = negotiated.srtp.as_deref().map(SrtpLeg::new);
        }
        self.negotiated = Some(negotiated);
        self.config += 1;
        self.direction = direction;
        self.last_activity = now;
    }

    /// Cleans what the phone sends before it is relayed (or stops); crossfaded over two
    /// packets. `prepared` is used if a suppressor must be built.
    pub fn set_denoise(&mut self, enabled: bool, prepared: Option<Box<Denoiser>>) {
        self.denoise.set_enabled_with(enabled, prepared);
    }

    /// Reports the digits the phone keys as [`Event::Digit`], or stops. Switched on again,
    /// detection starts afresh.
    pub fn set_detect_digits(&mut self, enabled: bool) {
        match (enabled, &self.digits) {
            (true, None) => self.digits = Some(Box::default()),
            (false, Some(_)) => self.digits = None,
            _ => {}
        }
    }

    /// Whether the digits the phone keys are reported.
    #[must_use]
    pub fn detects_digits(&self) -> bool {
        self.digits.is_some()
    }

    /// Sends the phone's audio to `recording` too (once per recording).
    pub fn add_tap(&mut self, recording: RecordingId, tap: Box<dyn Tap>) {
        if !self.taps.iter().any(|(r, _)| *r == recording) {
            self.taps.push((recording, tap));
        }
    }

    /// Stops sending the phone's audio to `recording`.
    pub fn remove_tap(&mut self, recording: &RecordingId) {
        self.taps.retain(|(r, _)| r != recording);
    }

    /// Recordings the phone's audio goes to.
    #[must_use]
    pub fn tap_count(&self) -> usize {
        self.taps.len()
    }

    /// The leg's signalling established it (see [`Source::establish`]): the switch may send
    /// to its phone from now on.
    pub fn establish(&mut self) {
        self.source.establish();
        self.remote = self.source.destination();
    }

    /// Takes the datagram `buf[..len]` from `from` on `port` if it is the phone's: on an
    /// SRTP leg authenticated and decrypted in place first. Its plain length, or why it must
    /// be dropped. Only a packet taken is life, and the first one after each SDP change may
    /// decide where we send.
    pub(super) fn receive(
        &mut self,
        now: Instant,
        port: super::Port,
        from: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, Refused> {
        let Some(srtp) = self.srtp.as_mut() else {
            return if self.admit(now, port, from) {
                Ok(len)
            } else {
                Err(Refused::Source)
            };
        };
        if !self.source.would_admit(now, port, from) {
            return Err(Refused::Source);
        }
        let rtcp = port == super::Port::Rtcp || buf.get(..len).is_some_and(is_rtcp);
        let plain = if rtcp {
            srtp.inbound.unprotect_rtcp(buf, len)
        } else {
            srtp.inbound.unprotect_rtp(buf, len)
        }
        .map_err(Refused::Srtp)?;
        self.admit(now, port, from);
        Ok(plain)
    }

    /// Whether a packet `from` on `port` is the phone's; if so it is alive, and the first
    /// one after each SDP change may decide where we send. Anything else must be dropped.
    fn admit(&mut self, now: Instant, port: super::Port, from: SocketAddr) -> bool {
        let Some(moved) = self.source.admit(now, port, from) else {
            return false;
        };
        self.last_activity = now;
        if moved {
            self.remote = self.source.destination();
        }
        true
    }

    /// Digit detection, suppression, recording taps and the conference input for one RTP
    /// packet from the phone, in place; digits found go to `events`. The fast path (nothing
    /// asked for) decodes nothing.
    pub(super) fn inbound_stage(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        events: &mut VecDeque<Event>,
    ) {
        if !self.denoise.is_active()
            && self.taps.is_empty()
            && self.mix.is_none()
            && self.digits.is_none()
        {
            return;
        }
        let Some(negotiated) = &self.negotiated else {
            return;
        };
        let Ok(mut rtp) = RtpPacketMut::parse(packet) else {
            return;
        };
        let header = rtp.header();
        let endpoint = self.id;
        if let Some(digits) = self.digits.as_deref_mut() {
            // Only the leg's negotiated event type: without one, the phone's keys can only
            // be heard in its audio.
            let events_pt = negotiated.telephone_event.as_ref().map(|c| c.payload_type);
            if events_pt == Some(header.payload_type) {
                let digit = digits.telephone_event(header.ssrc, header.timestamp, rtp.payload());
                events.extend(digit.map(|digit| Event::Digit { endpoint, digit }));
                return;
            }
        }
        let Some(law) = audio_law(negotiated, header.payload_type) else {
            return;
        };
        if let Some(digits) = self.digits.as_deref_mut() {
            // Before suppression, which takes a steady tone for noise.
            digits.audio(law, rtp.payload(), |digit| {
                events.push_back(Event::Digit { endpoint, digit });
            });
        }
        if self.denoise.is_active() {
            self.denoise.process_payload(law, rtp.payload_mut());
        }
        let payload = rtp.payload();
        if (self.taps.is_empty() && self.mix.is_none()) || payload.len() > MAX_DECODED_PAYLOAD {
            return;
        }
        let mut pcm = [0i16; MAX_DECODED_PAYLOAD];
        let pcm = &mut pcm[..payload.len()];
        g711::decode_into(law, payload, pcm);
        if self.mix.is_some() {
            self.mix_input.push(pcm);
        }
        if !self.taps.is_empty() {
            // Placed by its numbering, so packets of any length (10, 30, 40 ms) fit.
            let packet = AudioPacket {
                ssrc: header.ssrc,
                sequence: header.sequence,
                timestamp: header.timestamp,
                marker: header.marker,
                samples: pcm,
            };
            // Taps of recordings that ended go, so the fast path comes back.
            self.taps
                .retain_mut(|(_, tap)| tap.push(now, endpoint, &packet));
        }
    }

    /// Encrypts a packet rewritten for this leg's phone, `buf[..len]` in place, when the leg
    /// is SRTP; its length on the wire, `None` if it cannot be sent.
    pub(super) fn protect(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        match self.srtp.as_mut() {
            Some(srtp) => srtp.outbound.protect_rtp(buf, len).ok(),
            None => Some(len),
        }
    }

    /// Makes the rewriter's payload map fit packets the switch generates in the leg's codec;
    /// the codec's (law, payload type), or `None` while the leg has no G.711 codec.
    pub(super) fn local_source(&mut self) -> Option<(Law, PayloadType)> {
        let negotiated = self.negotiated.as_ref()?;
        let law = negotiated.codec.name.law()?;
        let pt = negotiated.codec.payload_type;
        let key = MapKey::Local {
            own_config: self.config,
        };
        if self.map_key != key {
            if !matches!(self.map_key, MapKey::Local { .. }) {
                self.rewriter.on_source_change();
            }
            self.rewriter
                .set_payload_map(PayloadMap::new().relay(pt, pt));
            self.map_key = key;
        }
        Some((law, pt))
    }
}

/// The G.711 law of an audio payload type from a leg that negotiated `negotiated`: its codec,
/// or the other static G.711 type (answerers may switch between them, RFC 3264 §6.1).
/// `None` for telephone-event, comfort noise (PT 13) and everything else.
pub(super) fn audio_law(negotiated: &Negotiated, pt: PayloadType) -> Option<Law> {
    if pt == negotiated.codec.payload_type {
        return negotiated.codec.name.law();
    }
    match pt {
        PayloadType::PCMU => Some(Law::Mu),
        PayloadType::PCMA => Some(Law::A),
        _ => None,
    }
}
