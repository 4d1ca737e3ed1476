//! The media plane: one RTP and one RTCP socket per endpoint, relaying between bridged
//! endpoints.
//!
//! Each endpoint has one receive task per socket. A packet from the endpoint's phone latches
//! the phone's address (symmetric RTP, RFC 4961: the first packet after each SDP change
//! decides where we send, so NATed phones work), then goes through the bridged peer's
//! [`StreamRewriter`] (SSRC, sequence and timestamp kept continuous across re-bridges, PCMU ↔
//! PCMA transcoded when the legs disagree) and out of the peer's socket to the peer's phone.
//! RTCP is terminated here: the switch is the media endpoint of each leg, so relaying one
//! leg's reports to the other would describe streams the other never saw. It still counts as
//! life for the inactivity timer.
//!
//! Between receiving and rewriting, a packet passes the endpoint's inbound stage, which is
//! empty (no decoding, the fast path) unless asked for: noise suppression of what the phone
//! sends ([`SwitchableDenoiser`], G.711 audio only: RFC 4733 events, comfort noise and
//! anything else pass untouched) and taps for recordings ([`recording`](super::recording)),
//! which take the audio as relayed, after suppression: what the other side heard.

use crate::call::{EndpointId, MediaEvent};
use crate::media::denoise::SwitchableDenoiser;
use crate::media::g711::{self, Law};
use crate::media::mixer::{FRAME as MIX_FRAME, Frame, MixStream, mix_minus};
use crate::media::player::{Announcement, Player};
use crate::media::ports::{PortBinder, PortPair};
use crate::media::recorder::timeline::AudioPacket;
use crate::media::recorder::{PauseBehavior, RecordingId};
use crate::media::rewrite::{PayloadMap, StreamRewriter, StreamStart};
use crate::media::rtp::{PayloadType, RtpPacketMut, Ssrc, is_rtcp};
use crate::media::sdp::{Direction, Negotiated};
use crate::runtime::clock;
use crate::runtime::recording::{RecordingHandle, SharedFeeds};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One packet of G.711 every 20 ms.
const PACKET_TIME: Duration = Duration::from_millis(20);

/// Counters for the whole media plane.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub rtp_in: AtomicU64,
    pub rtp_out: AtomicU64,
    pub rtcp_in: AtomicU64,
    pub dropped: AtomicU64,
}

struct EndpointState {
    /// Where the phone listens: SDP first, then the latched source.
    remote: Option<SocketAddr>,
    latched: bool,
    negotiated: Option<Negotiated>,
    direction: Direction,
    peer: Option<Arc<Endpoint>>,
    /// The stream we send to this endpoint's phone.
    rewriter: StreamRewriter,
    /// Set while the endpoint is in a conference: what its phone sends goes to the mixer
    /// instead of a bridged peer.
    mix: Option<Arc<Mutex<MixInput>>>,
    /// What the rewriter's payload map was built for.
    map_key: MapKey,
}

/// The source the outgoing rewriter's payload map currently fits.
#[derive(Debug, Clone, PartialEq)]
enum MapKey {
    None,
    /// Packets relayed from a peer that negotiated this.
    Peer(Negotiated),
    /// Packets the switch generates in the leg's own codec (music, announcements).
    Local,
}

/// What happens to packets from the endpoint's phone before they are relayed. Its own lock,
/// so suppression never holds up the peer's task sending toward this endpoint.
#[derive(Default)]
struct Inbound {
    denoise: SwitchableDenoiser,
    /// Recordings this endpoint's audio goes to.
    taps: Vec<(RecordingId, SharedFeeds)>,
}

/// Largest payload recorded (200 ms of G.711); longer packets are not audio we expect.
const MAX_RECORDED_PAYLOAD: usize = 1600;

struct Endpoint {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    state: Mutex<EndpointState>,
    inbound: Mutex<Inbound>,
    /// Milliseconds since the engine started when the last packet arrived.
    last_activity: AtomicU64,
}

/// Decoded audio from one conference member's phone, waiting for the mixer's next tick.
#[derive(Default)]
struct MixInput {
    frames: std::collections::VecDeque<Frame>,
    /// Samples not yet making a whole frame (phones sending 10 or 30 ms packets).
    carry: Vec<i16>,
}

/// Frames a member may be ahead of the mixer before the oldest is dropped (60 ms): bounds the
/// delay a fast sender's clock can build up.
const MIX_QUEUE: usize = 3;

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
}

struct Handle {
    endpoint: Arc<Endpoint>,
    tasks: [JoinHandle<()>; 2],
    player: Option<JoinHandle<()>>,
}

/// The media plane. Owned by the runtime's core task; its receive tasks run on their own.
/// Sockets bound for a pair by the switch's allocator, waiting for their endpoint's `open`.
type BoundPairs = Arc<Mutex<HashMap<u16, (std::net::UdpSocket, std::net::UdpSocket)>>>;

/// The runtime's [`PortBinder`]: binds a pair's two sockets on the media address when the
/// switch allocates it, and parks them for [`MediaEngine::open`]. A pair whose sockets are
/// still closing after its last call, or that another process holds, fails here and the
/// allocator moves on to another.
pub struct SocketBinder {
    bind_ip: IpAddr,
    bound: BoundPairs,
}

impl PortBinder for SocketBinder {
    fn bind(&mut self, pair: PortPair) -> bool {
        let rtp = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, pair.rtp()));
        let rtcp = std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, pair.rtcp()));
        match (rtp, rtcp) {
            (Ok(rtp), Ok(rtcp)) => {
                lock(&self.bound).insert(pair.rtp(), (rtp, rtcp));
                true
            }
            (Err(error), _) | (_, Err(error)) => {
                tracing::debug!(port = pair.rtp(), %error, "media pair skipped: cannot bind");
                false
            }
        }
    }
}

pub struct MediaEngine {
    bind_ip: IpAddr,
    bound: BoundPairs,
    endpoints: HashMap<EndpointId, Handle>,
    recordings: HashMap<RecordingId, RecordingHandle>,
    /// Conference mixer tasks; each ends by itself when its members have all left.
    mixers: Vec<JoinHandle<()>>,
    events: mpsc::Sender<MediaEvent>,
    rtp_timeout: Duration,
    epoch: Instant,
    rng: SmallRng,
    pub stats: Arc<MediaStats>,
}

impl MediaEngine {
    pub fn new(
        bind_ip: IpAddr,
        rtp_timeout: Duration,
        events: mpsc::Sender<MediaEvent>,
    ) -> MediaEngine {
        MediaEngine {
            bind_ip,
            bound: BoundPairs::default(),
            endpoints: HashMap::new(),
            recordings: HashMap::new(),
            mixers: Vec::new(),
            events,
            rtp_timeout,
            epoch: clock::now(),
            rng: SmallRng::from_os_rng(),
            stats: Arc::default(),
        }
    }

    /// Number of open endpoints.
    pub fn open_count(&self) -> usize {
        self.endpoints.len()
    }

    /// The binder the switch's port allocator uses, sharing this engine's parked sockets.
    pub fn port_binder(&self) -> SocketBinder {
        SocketBinder {
            bind_ip: self.bind_ip,
            bound: self.bound.clone(),
        }
    }

    pub fn open(&mut self, id: EndpointId, rtp_port: u16) {
        let parked = lock(&self.bound).remove(&rtp_port);
        let (rtp, rtcp) = match parked {
            Some((rtp, rtcp)) => (Ok(rtp), Ok(rtcp)),
            // Not allocated through `port_binder` (the media test harness).
            None => (
                std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, rtp_port)),
                std::net::UdpSocket::bind(SocketAddr::new(self.bind_ip, rtp_port + 1)),
            ),
        };
        let sockets = match (rtp, rtcp) {
            (Ok(a), Ok(b)) => a
                .set_nonblocking(true)
                .and(b.set_nonblocking(true))
                .and_then(|_| Ok((UdpSocket::from_std(a)?, UdpSocket::from_std(b)?))),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let (rtp, rtcp) = match sockets {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(port = rtp_port, %error, "cannot bind media ports");
                let _ = self
                    .events
                    .try_send(MediaEvent::OpenFailed { endpoint: id });
                return;
            }
        };
        let ssrc = Ssrc(self.rng.next_u32());
        let start = StreamStart::random(&mut self.rng);
        let endpoint = Arc::new(Endpoint {
            rtp,
            rtcp,
            state: Mutex::new(EndpointState {
                remote: None,
                latched: false,
                negotiated: None,
                direction: Direction::SendRecv,
                peer: None,
                rewriter: StreamRewriter::new(ssrc, start, PayloadMap::new()),
                mix: None,
                map_key: MapKey::None,
            }),
            inbound: Mutex::new(Inbound::default()),
            last_activity: AtomicU64::new(self.elapsed_ms()),
        });
        let rtp_task = tokio::spawn(rtp_loop(
            id,
            endpoint.clone(),
            self.events.clone(),
            self.rtp_timeout,
            self.epoch,
            self.stats.clone(),
        ));
        let rtcp_task = tokio::spawn(rtcp_loop(endpoint.clone(), self.epoch, self.stats.clone()));
        // A recording may name an endpoint before it is opened (a conference joiner).
        for (name, r) in &self.recordings {
            if r.endpoints.contains(&id) {
                lock(&endpoint.inbound)
                    .taps
                    .push((name.clone(), r.feeds.clone()));
            }
        }
        self.endpoints.insert(
            id,
            Handle {
                endpoint,
                tasks: [rtp_task, rtcp_task],
                player: None,
            },
        );
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(clock::now().duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    pub fn configure(
        &mut self,
        id: EndpointId,
        remote: Option<SocketAddr>,
        negotiated: Negotiated,
        direction: Direction,
    ) {
        let Some(handle) = self.endpoints.get(&id) else {
            return;
        };
        let mut state = lock(&handle.endpoint.state);
        if remote != state.remote || !state.latched {
            // A new SDP address: latch again on the first packet from the phone.
            state.remote = remote.filter(|r| !r.ip().is_unspecified() && r.port() != 0);
            state.latched = false;
        }
        state.negotiated = Some(negotiated);
        state.direction = direction;
        handle
            .endpoint
            .last_activity
            .store(self.elapsed_ms(), Ordering::Relaxed);
    }

    /// Relays between `a` and `b` both ways; whatever either was bridged to before is dropped.
    pub fn bridge(&mut self, a: EndpointId, b: EndpointId) {
        let (Some(ha), Some(hb)) = (self.endpoints.get(&a), self.endpoints.get(&b)) else {
            return;
        };
        let (ea, eb) = (ha.endpoint.clone(), hb.endpoint.clone());
        for (from, to) in [(&ea, &eb), (&eb, &ea)] {
            let mut s = lock(&from.state);
            s.peer = Some(to.clone());
            s.mix = None;
            drop(s);
            let mut t = lock(&to.state);
            t.rewriter.on_source_change();
            t.map_key = MapKey::None;
        }
    }

    /// Stops relaying to and from `id` (the other side keeps its own bridge settings).
    pub fn unbridge(&mut self, id: EndpointId) {
        let Some(handle) = self.endpoints.get(&id) else {
            return;
        };
        let peer = {
            let mut s = lock(&handle.endpoint.state);
            s.mix = None;
            s.peer.take()
        };
        if let Some(peer) = peer {
            let mut p = lock(&peer.state);
            if p.peer
                .as_ref()
                .is_some_and(|x| Arc::ptr_eq(x, &handle.endpoint))
            {
                p.peer = None;
            }
        }
    }

    /// Plays `announcement` to the endpoint's phone in a loop, replacing anything relayed to
    /// it; the endpoint is unbridged first.
    pub fn play(&mut self, id: EndpointId, announcement: Announcement) {
        self.unbridge(id);
        self.stop_playing(id);
        let ssrc = Ssrc(self.rng.next_u32());
        let stats = self.stats.clone();
        let Some(handle) = self.endpoints.get_mut(&id) else {
            return;
        };
        let endpoint = handle.endpoint.clone();
        handle.player = Some(tokio::spawn(play_loop(endpoint, announcement, ssrc, stats)));
    }

    /// Stops the endpoint's announcement, if any.
    pub fn stop_playing(&mut self, id: EndpointId) {
        if let Some(handle) = self.endpoints.get_mut(&id)
            && let Some(task) = handle.player.take()
        {
            task.abort();
        }
    }

    /// Cleans what `id`'s phone sends before it is relayed (or stops cleaning it). Takes
    /// effect within two packets, crossfaded.
    pub fn set_denoise(&mut self, id: EndpointId, enabled: bool) {
        if let Some(handle) = self.endpoints.get(&id) {
            lock(&handle.endpoint.inbound).denoise.set_enabled(enabled);
        }
    }

    /// Starts recording `customer` (left) and `agent_side` (right, mixed) into
    /// `dir/YYYY-MM-DD/<recording>.wav`. Outcome: [`MediaEvent::RecordingStarted`] or
    /// [`MediaEvent::RecordingFailed`]; either way the call's media is untouched.
    pub fn start_recording(
        &mut self,
        recording: RecordingId,
        customer: EndpointId,
        agent_side: &[EndpointId],
        dir: PathBuf,
    ) {
        self.recordings.retain(|_, r| !r.is_finished());
        if self.recordings.contains_key(&recording) {
            tracing::warn!(%recording, "already recording");
            return;
        }
        let handle = RecordingHandle::spawn(
            recording.clone(),
            dir,
            customer,
            agent_side,
            self.events.clone(),
        );
        for id in &handle.endpoints {
            if let Some(h) = self.endpoints.get(id) {
                lock(&h.endpoint.inbound)
                    .taps
                    .push((recording.clone(), handle.feeds.clone()));
            }
        }
        self.recordings.insert(recording, handle);
    }

    /// Stops capturing for `recording` at once; see [`PauseBehavior`] for what is written.
    pub fn pause_recording(
        &mut self,
        recording: &RecordingId,
        behavior: PauseBehavior,
        who: String,
        why: Option<String>,
    ) {
        if let Some(r) = self.recordings.get(recording) {
            r.pause(behavior, who, why);
        }
    }

    /// Resumes capturing; `auto` when a timer asked.
    pub fn resume_recording(&mut self, recording: &RecordingId, auto: bool) {
        if let Some(r) = self.recordings.get(recording) {
            r.resume(auto);
        }
    }

    /// Marks a hold, or its end, in a running recording's sidecar.
    pub fn recording_hold(&mut self, recording: &RecordingId, held: bool) {
        if let Some(r) = self.recordings.get(recording) {
            r.hold(held);
        }
    }

    /// Names a party in a running recording's sidecar.
    pub fn recording_participant(&mut self, recording: &RecordingId, who: String) {
        if let Some(r) = self.recordings.get(recording) {
            r.participant(who);
        }
    }

    /// Adds `endpoint`'s audio to the agent side of a running recording.
    pub fn record_agent_side(&mut self, recording: &RecordingId, endpoint: EndpointId) {
        let Some(r) = self.recordings.get_mut(recording) else {
            return;
        };
        if r.endpoints.contains(&endpoint) {
            return;
        }
        lock(&r.feeds).add_agent(endpoint);
        r.endpoints.push(endpoint);
        if let Some(h) = self.endpoints.get(&endpoint) {
            lock(&h.endpoint.inbound)
                .taps
                .push((recording.clone(), r.feeds.clone()));
        }
    }

    /// Mixes `ids` mix-minus: each phone hears the others. Their bridges and music stop.
    pub fn mix(&mut self, ids: &[EndpointId]) {
        self.mixers.retain(|m| !m.is_finished());
        let mut members = Vec::new();
        for id in ids {
            self.unbridge(*id);
            self.stop_playing(*id);
            let Some(handle) = self.endpoints.get(id) else {
                continue;
            };
            let input = Arc::new(Mutex::new(MixInput::default()));
            let mut s = lock(&handle.endpoint.state);
            s.mix = Some(input.clone());
            s.rewriter.on_source_change();
            s.map_key = MapKey::None;
            drop(s);
            members.push(Member {
                endpoint: handle.endpoint.clone(),
                input,
                stream: None,
                ssrc: Ssrc(self.rng.next_u32()),
            });
        }
        if members.len() >= 2 {
            self.mixers
                .push(tokio::spawn(mix_loop(members, self.stats.clone())));
        }
    }

    /// Finalises the recording; [`MediaEvent::RecordingStopped`] follows.
    pub fn stop_recording(&mut self, recording: &RecordingId) {
        let Some(r) = self.recordings.remove(recording) else {
            return;
        };
        for id in &r.endpoints {
            if let Some(h) = self.endpoints.get(id) {
                lock(&h.endpoint.inbound)
                    .taps
                    .retain(|(name, _)| name != recording);
            }
        }
        r.stop();
    }

    pub fn close(&mut self, id: EndpointId) {
        if let Some(handle) = self.endpoints.remove(&id) {
            for task in handle.tasks.iter().chain(handle.player.iter()) {
                task.abort();
            }
            // Break reference cycles between bridged endpoints; leave any mix.
            let mut s = lock(&handle.endpoint.state);
            s.peer = None;
            s.mix = None;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn elapsed_ms(epoch: Instant) -> u64 {
    u64::try_from(clock::now().duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

async fn rtp_loop(
    id: EndpointId,
    endpoint: Arc<Endpoint>,
    events: mpsc::Sender<MediaEvent>,
    timeout: Duration,
    epoch: Instant,
    stats: Arc<MediaStats>,
) {
    let mut buf = vec![0u8; 2048];
    let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    // One inactivity timer per endpoint, re-armed only when it fires: arming a timer per
    // packet (100 per second per call) was a measurable share of the relay's CPU.
    let inactivity = tokio::time::sleep(timeout);
    tokio::pin!(inactivity);
    // Counted here and added to the shared statistics now and then: every relay task
    // incrementing the same atomics per packet made the cores fight over one cache line.
    let mut counts = LocalCounts::default();
    loop {
        counts.flush_if_due(&stats);
        let (n, from) = tokio::select! {
            biased;
            received = endpoint.rtp.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(_) => continue,
            },
            () = &mut inactivity => {
                let idle = elapsed_ms(epoch)
                    .saturating_sub(endpoint.last_activity.load(Ordering::Relaxed));
                let expects_media = lock(&endpoint.state).direction.sends();
                if expects_media && idle >= timeout_ms {
                    counts.flush(&stats);
                    let _ = events.send(MediaEvent::Inactive { endpoint: id }).await;
                    return;
                }
                let left = if expects_media { timeout_ms - idle } else { timeout_ms };
                let at = clock::now() + Duration::from_millis(left.max(1));
                inactivity.as_mut().reset(at.into());
                continue;
            }
        };
        endpoint
            .last_activity
            .store(elapsed_ms(epoch), Ordering::Relaxed);
        let packet = &mut buf[..n];
        if is_rtcp(packet) {
            // rtcp-mux (RFC 5761): terminated like the RTCP port's reports.
            counts.rtcp_in += 1;
            continue;
        }
        counts.rtp_in += 1;
        let (peer, source_negotiated, mix) = {
            let mut s = lock(&endpoint.state);
            if !s.latched || s.remote.is_none() {
                s.remote = Some(from);
                s.latched = true;
            }
            (s.peer.clone(), s.negotiated.clone(), s.mix.clone())
        };
        if let Some(negotiated) = &source_negotiated {
            inbound_stage(id, &endpoint.inbound, negotiated, packet);
            if let Some(mix) = mix {
                to_mixer(negotiated, packet, &mix);
                continue;
            }
        }
        let (Some(peer), Some(source_negotiated)) = (peer, source_negotiated) else {
            counts.dropped += 1;
            continue;
        };
        let destination = {
            let mut p = lock(&peer.state);
            let Some(peer_negotiated) = p.negotiated.clone() else {
                counts.dropped += 1;
                continue;
            };
            let key = MapKey::Peer(source_negotiated);
            if p.map_key != key {
                if let MapKey::Peer(source) = &key {
                    p.rewriter
                        .set_payload_map(PayloadMap::between(source, &peer_negotiated));
                }
                p.map_key = key;
            }
            let forward = matches!(
                p.rewriter.rewrite(clock::now(), packet),
                Ok(r) if r.is_forward()
            );
            match (forward, p.remote) {
                (true, Some(remote)) => remote,
                _ => {
                    counts.dropped += 1;
                    continue;
                }
            }
        };
        if peer.rtp.try_send_to(packet, destination).is_ok() {
            counts.rtp_out += 1;
        } else {
            counts.dropped += 1;
        }
    }
}

/// A relay task's own counters, added to [`MediaStats`] every [`FLUSH_EVERY`] packets.
#[derive(Default)]
struct LocalCounts {
    rtp_in: u64,
    rtp_out: u64,
    rtcp_in: u64,
    dropped: u64,
    since_flush: u32,
}

/// Packets between two flushes of a relay task's counters (about 2.5 s of one stream).
const FLUSH_EVERY: u32 = 128;

impl LocalCounts {
    fn flush_if_due(&mut self, stats: &MediaStats) {
        self.since_flush += 1;
        if self.since_flush >= FLUSH_EVERY {
            self.flush(stats);
        }
    }

    fn flush(&mut self, stats: &MediaStats) {
        for (total, local) in [
            (&stats.rtp_in, &mut self.rtp_in),
            (&stats.rtp_out, &mut self.rtp_out),
            (&stats.rtcp_in, &mut self.rtcp_in),
            (&stats.dropped, &mut self.dropped),
        ] {
            if *local > 0 {
                total.fetch_add(std::mem::take(local), Ordering::Relaxed);
            }
        }
        self.since_flush = 0;
    }
}

/// The G.711 law of an audio payload type from a leg that negotiated `negotiated`: its codec,
/// or the other static G.711 type (answerers may switch between them, RFC 3264 §6.1).
/// `None` for telephone-event, comfort noise (PT 13) and everything else.
fn audio_law(negotiated: &Negotiated, pt: PayloadType) -> Option<Law> {
    if pt == negotiated.codec.payload_type {
        return negotiated.codec.name.law();
    }
    match pt {
        PayloadType::PCMU => Some(Law::Mu),
        PayloadType::PCMA => Some(Law::A),
        _ => None,
    }
}

/// Suppression and recording taps for one packet from `id`'s phone, in place.
fn inbound_stage(
    id: EndpointId,
    inbound: &Mutex<Inbound>,
    negotiated: &Negotiated,
    packet: &mut [u8],
) {
    let mut inbound = lock(inbound);
    if !inbound.denoise.is_active() && inbound.taps.is_empty() {
        return;
    }
    let Ok(mut rtp) = RtpPacketMut::parse(packet) else {
        return;
    };
    let Some(law) = audio_law(negotiated, rtp.header().payload_type) else {
        return;
    };
    if inbound.denoise.is_active() {
        inbound.denoise.process_payload(law, rtp.payload_mut());
    }
    let payload = rtp.payload();
    if !inbound.taps.is_empty() && payload.len() <= MAX_RECORDED_PAYLOAD {
        let mut pcm = [0i16; MAX_RECORDED_PAYLOAD];
        let pcm = &mut pcm[..payload.len()];
        g711::decode_into(law, payload, pcm);
        let header = rtp.header();
        // Placed by its numbering, so packets of any length (10, 30, 40 ms) fit.
        let packet = AudioPacket {
            ssrc: header.ssrc,
            sequence: header.sequence,
            timestamp: header.timestamp,
            marker: header.marker,
            samples: pcm,
        };
        let now = clock::now();
        // Taps of recordings that failed go, so the fast path comes back.
        inbound
            .taps
            .retain(|(_, feeds)| lock(feeds).push(now, id, &packet));
    }
}

/// Decodes one packet from a conference member's phone for the mixer (audio only: RFC 4733
/// events and comfort noise do not mix).
fn to_mixer(negotiated: &Negotiated, packet: &[u8], mix: &Mutex<MixInput>) {
    let Ok(rtp) = crate::media::rtp::RtpPacket::parse(packet) else {
        return;
    };
    let Some(law) = audio_law(negotiated, rtp.payload_type()) else {
        return;
    };
    let payload = rtp.payload();
    if payload.len() > MAX_RECORDED_PAYLOAD {
        return;
    }
    let mut pcm = [0i16; MAX_RECORDED_PAYLOAD];
    let pcm = &mut pcm[..payload.len()];
    g711::decode_into(law, payload, pcm);
    lock(mix).push(pcm);
}

/// One conference member as the mixer task holds it.
struct Member {
    endpoint: Arc<Endpoint>,
    input: Arc<Mutex<MixInput>>,
    stream: Option<MixStream>,
    ssrc: Ssrc,
}

/// Every 20 ms: one frame from each member (silence if none came), mix-minus, and each
/// member's mix out to its phone through its rewriter. Members whose endpoint was bridged,
/// given music or closed since are left out; the task ends when none is left.
async fn mix_loop(mut members: Vec<Member>, stats: Arc<MediaStats>) {
    let mut ticker = tokio::time::interval(PACKET_TIME);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut inputs: Vec<Frame> = Vec::with_capacity(members.len());
    let mut outputs: Vec<Frame> = Vec::with_capacity(members.len());
    let mut packet = Vec::with_capacity(200);
    loop {
        ticker.tick().await;
        members.retain(|m| {
            lock(&m.endpoint.state)
                .mix
                .as_ref()
                .is_some_and(|x| Arc::ptr_eq(x, &m.input))
        });
        if members.is_empty() {
            return;
        }
        inputs.clear();
        for m in &members {
            inputs.push(lock(&m.input).frames.pop_front().unwrap_or([0; MIX_FRAME]));
        }
        outputs.resize(members.len(), [0; MIX_FRAME]);
        mix_minus(&inputs, &mut outputs);
        for (m, frame) in members.iter_mut().zip(&outputs) {
            let destination = {
                let mut s = lock(&m.endpoint.state);
                let (Some(negotiated), Some(remote)) = (s.negotiated.clone(), s.remote) else {
                    continue;
                };
                let Some(law) = negotiated.codec.name.law() else {
                    continue;
                };
                let pt = negotiated.codec.payload_type;
                if m.stream.as_ref().is_none_or(|st| st.law() != law) {
                    m.stream = Some(MixStream::new(m.ssrc, law, pt));
                }
                let Some(stream) = m.stream.as_mut() else {
                    continue;
                };
                stream.next_packet(frame, &mut packet);
                if s.map_key != MapKey::Local {
                    s.rewriter.set_payload_map(PayloadMap::new().relay(pt, pt));
                    s.rewriter.on_source_change();
                    s.map_key = MapKey::Local;
                }
                match s.rewriter.rewrite(clock::now(), &mut packet) {
                    Ok(r) if r.is_forward() => remote,
                    _ => continue,
                }
            };
            if m.endpoint.rtp.try_send_to(&packet, destination).is_ok() {
                stats.rtp_out.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn play_loop(
    endpoint: Arc<Endpoint>,
    announcement: Announcement,
    ssrc: Ssrc,
    stats: Arc<MediaStats>,
) {
    let mut ticker = tokio::time::interval(PACKET_TIME);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut player: Option<Player> = None;
    let mut packet = Vec::with_capacity(200);
    loop {
        ticker.tick().await;
        let destination = {
            let mut s = lock(&endpoint.state);
            let (Some(negotiated), Some(remote)) = (s.negotiated.clone(), s.remote) else {
                continue;
            };
            let Some(law) = negotiated.codec.name.law() else {
                continue;
            };
            let pt = negotiated.codec.payload_type;
            let player =
                player.get_or_insert_with(|| Player::new(announcement.clone(), ssrc, law, pt));
            player.next_packet(&mut packet);
            if s.map_key != MapKey::Local {
                s.rewriter.set_payload_map(PayloadMap::new().relay(pt, pt));
                s.rewriter.on_source_change();
                s.map_key = MapKey::Local;
            }
            match s.rewriter.rewrite(clock::now(), &mut packet) {
                Ok(r) if r.is_forward() => remote,
                _ => continue,
            }
        };
        if endpoint.rtp.try_send_to(&packet, destination).is_ok() {
            stats.rtp_out.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn rtcp_loop(endpoint: Arc<Endpoint>, epoch: Instant, stats: Arc<MediaStats>) {
    let mut buf = vec![0u8; 2048];
    while let Ok((_n, _from)) = endpoint.rtcp.recv_from(&mut buf).await {
        endpoint
            .last_activity
            .store(elapsed_ms(epoch), Ordering::Relaxed);
        stats.rtcp_in.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "media_harness.rs"]
mod harness;

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "recording_tests.rs"]
mod recording_tests;
