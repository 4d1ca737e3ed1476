//! The media plane: the [`MediaEngine`] the switch's core drives, and the shards that carry
//! the packets.
//!
//! Each endpoint has an RTP and an RTCP socket, bound when the switch allocates its port pair
//! ([`SocketBinder`]), or the sockets an ended endpoint left bound on that pair (see
//! `socket_pool.rs`). The packets are relayed by a few shards (`media_shard.rs`), OS
//! threads that each run one sans-IO [`Relay`](crate::media::relay::Relay) over the sockets
//! of their endpoints: latching, bridging, digit detection, noise suppression, recording
//! taps, music and conferences are all the relay's (see its doc).
//!
//! **Which shard.** Endpoints relayed to each other must share a shard, so an endpoint joins
//! one only when it first needs one: the first bridge, announcement or conference that names
//! it. A bridge places a new endpoint on its partner's shard; an endpoint nobody was bridged
//! to yet goes to the next shard in turn. A direct call's two legs (bridged as the INVITE
//! arrives) and a queue call's customer, agent, consult and conference legs (each joins an
//! endpoint already placed) so never move. Only a bridge or conference between endpoints
//! already on different shards (a transfer joining two calls) moves one: its shard hands the
//! endpoint and its sockets back (`Command::Evict`, a round trip of microseconds on a rare
//! path) and the other adopts them, state and all (its stream, suppressor, taps and music).
//! Until then the endpoint waits here with its sockets unread: what its phone sent is read
//! once it is placed (the shard's poll reports a socket already readable when it registers
//! it), latching the endpoint and counting as life. A shard applies every command it has
//! been sent before it polls, and is woken once per round of the core's outputs, so such a
//! packet usually goes where a bridge of the same round sends it; a shard already awake may
//! read it between two commands and drop it, as one with nothing bridged would. Its inactivity is not watched before that: nothing expects
//! media from an endpoint the switch has connected to nothing. A recording places the
//! endpoints it taps at once, beside its other endpoints.

use crate::call::{EndpointId, MediaEvent};
use crate::media::denoise::Denoiser;
use crate::media::player::Announcement;
use crate::media::ports::{PortBinder, PortPair};
use crate::media::recorder::{PauseBehavior, RecordingId};
use crate::media::relay::{LatchPolicy, RelayEndpoint};
use crate::media::rewrite::StreamStart;
use crate::media::rtp::Ssrc;
use crate::media::sdp::{Direction, Negotiated};
use crate::runtime::clock;
use crate::runtime::media_shard::{Command, ShardHandle, Sockets};
use crate::runtime::recording::RecordingHandle;
use crate::runtime::socket_pool::SocketPool;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// At most this many shards, whatever the core count: each is a thread polling its own
/// sockets, and beyond the cores the switch's other tasks need they only add switching.
const MAX_SHARDS: usize = 4;

/// Counters for the whole media plane, added to by the shards every 100 ms.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub rtp_in: AtomicU64,
    pub rtp_out: AtomicU64,
    pub rtcp_in: AtomicU64,
    /// Packets from sources that are not the leg's phone (see [`crate::media::relay::source`]).
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    /// SRTP/SRTCP packets from the phone's address that failed authentication or replayed.
    pub srtp_rejected: AtomicU64,
}

/// Where an endpoint is.
enum Home {
    /// Not on a shard yet: its state and sockets wait here (see the module doc).
    Waiting(Box<(RelayEndpoint, Sockets)>),
    Shard(usize),
}

/// Sockets bound for a pair by the switch's allocator, waiting for their endpoint's `open`.
type BoundPairs = Arc<Mutex<HashMap<u16, Sockets>>>;

/// The runtime's [`PortBinder`]: binds a pair's two sockets on the media address when the
/// switch allocates it, and parks them for [`MediaEngine::open`]. A pair whose sockets are
/// still closing after its last call, or that another process holds, fails here and the
/// allocator moves on to another.
pub struct SocketBinder {
    bind_ip: IpAddr,
    bound: BoundPairs,
    /// The sockets of ended endpoints, still bound (see `socket_pool`).
    pool: SocketPool,
}

impl PortBinder for SocketBinder {
    fn bind(&mut self, pair: PortPair) -> bool {
        let sockets = match self.pool.take(pair.rtp()) {
            Some(pooled) => Ok(pooled),
            None => bind_pair(self.bind_ip, pair.rtp()),
        };
        match sockets {
            Ok(sockets) => {
                lock(&self.bound).insert(pair.rtp(), sockets);
                true
            }
            Err(error) => {
                tracing::debug!(port = pair.rtp(), %error, "media pair skipped: cannot bind");
                false
            }
        }
    }
}

/// Binds the RTP and RTCP sockets of the pair at `rtp_port`, non-blocking.
fn bind_pair(ip: IpAddr, rtp_port: u16) -> std::io::Result<Sockets> {
    let bind = |port| {
        let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
        socket.set_nonblocking(true)?;
        Ok::<_, std::io::Error>(mio::net::UdpSocket::from_std(socket))
    };
    Ok(Sockets {
        rtp: bind(rtp_port)?,
        rtcp: bind(rtp_port + 1)?,
        port: rtp_port,
    })
}

/// The media plane as the switch's core sees it: one call per media command, never waiting
/// for packets. See the module doc.
pub struct MediaEngine {
    bind_ip: IpAddr,
    bound: BoundPairs,
    /// The sockets of closed endpoints, still bound for their pair's next call.
    pool: SocketPool,
    endpoints: HashMap<EndpointId, Home>,
    recordings: HashMap<RecordingId, RecordingHandle>,
    shards: Vec<ShardHandle>,
    /// The shard the next endpoint placed on its own goes to.
    next_shard: usize,
    events: mpsc::Sender<MediaEvent>,
    rng: SmallRng,
    pub stats: Arc<MediaStats>,
}

impl MediaEngine {
    /// An engine with one shard per core, at most `MAX_SHARDS`.
    pub fn new(
        bind_ip: IpAddr,
        rtp_timeout: Duration,
        events: mpsc::Sender<MediaEvent>,
    ) -> MediaEngine {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        MediaEngine::with_shards(bind_ip, rtp_timeout, events, cores.clamp(1, MAX_SHARDS))
    }

    /// An engine with `shards` shard threads (at least one).
    ///
    /// # Panics
    /// When not even one shard thread can be started.
    pub fn with_shards(
        bind_ip: IpAddr,
        rtp_timeout: Duration,
        events: mpsc::Sender<MediaEvent>,
        shards: usize,
    ) -> MediaEngine {
        let stats = Arc::<MediaStats>::default();
        let pool = SocketPool::for_this_process();
        let shards: Vec<ShardHandle> = (0..shards.max(1))
            .filter_map(|index| {
                ShardHandle::spawn(
                    index,
                    rtp_timeout,
                    events.clone(),
                    stats.clone(),
                    pool.clone(),
                )
                .inspect_err(|error| tracing::error!(%error, "cannot start a media shard"))
                .ok()
            })
            .collect();
        assert!(!shards.is_empty(), "no media shard could be started");
        MediaEngine {
            bind_ip,
            bound: BoundPairs::default(),
            pool,
            endpoints: HashMap::new(),
            recordings: HashMap::new(),
            shards,
            next_shard: 0,
            events,
            rng: SmallRng::from_os_rng(),
            stats,
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
            pool: self.pool.clone(),
        }
    }

    pub fn open(&mut self, id: EndpointId, rtp_port: u16) {
        let parked = lock(&self.bound).remove(&rtp_port);
        let sockets = match parked {
            Some(sockets) => Ok(sockets),
            // Not allocated through `port_binder` (the media test harness).
            None => self
                .pool
                .take(rtp_port)
                .map_or_else(|| bind_pair(self.bind_ip, rtp_port), Ok),
        };
        let sockets = match sockets {
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
        let endpoint = RelayEndpoint::new(id, ssrc, start, clock::now());
        self.endpoints
            .insert(id, Home::Waiting(Box::new((endpoint, sockets))));
        // A recording may name an endpoint before it is opened (a conference joiner).
        let named: Vec<RecordingId> = self
            .recordings
            .iter()
            .filter(|(_, r)| r.endpoints.contains(&id))
            .map(|(name, _)| name.clone())
            .collect();
        for name in named {
            self.tap(id, &name);
        }
    }

    /// The shard `id` is on, if placed.
    pub(crate) fn shard_of(&self, id: EndpointId) -> Option<usize> {
        match self.endpoints.get(&id)? {
            Home::Shard(s) => Some(*s),
            Home::Waiting(_) => None,
        }
    }

    /// Puts `id` on shard `to` (moving it if it is on another), or on the next shard in turn
    /// if `to` is `None` and it waits; the shard it is on, `None` if it is not open.
    fn place(&mut self, id: EndpointId, to: Option<usize>) -> Option<usize> {
        let shard = match self.endpoints.get(&id)? {
            Home::Shard(s) if to.is_none_or(|to| to == *s) => return Some(*s),
            Home::Shard(_) | Home::Waiting(_) => to.unwrap_or_else(|| {
                self.next_shard = (self.next_shard + 1) % self.shards.len();
                self.next_shard
            }),
        };
        let moving = match self.endpoints.insert(id, Home::Shard(shard))? {
            Home::Waiting(waiting) => Some(waiting),
            Home::Shard(from) => {
                let (reply, answer) = sync_channel(1);
                self.shards[from].send(Command::Evict { id, reply });
                answer.recv().ok().flatten()
            }
        };
        let Some(moving) = moving else {
            // The shard lost it (it cannot, short of a crashed shard thread).
            self.endpoints.remove(&id);
            return None;
        };
        self.shards[shard].send(Command::Adopt(moving));
        Some(shard)
    }

    /// Sends `command` to `id`'s shard, or applies `waiting` to it while it waits.
    fn apply(
        &mut self,
        id: EndpointId,
        command: impl FnOnce() -> Command,
        waiting: impl FnOnce(&mut RelayEndpoint),
    ) {
        match self.endpoints.get_mut(&id) {
            Some(Home::Shard(s)) => self.shards[*s].send(command()),
            Some(Home::Waiting(w)) => waiting(&mut w.0),
            None => {}
        }
    }

    pub fn configure(
        &mut self,
        id: EndpointId,
        remote: Option<SocketAddr>,
        negotiated: Negotiated,
        direction: Direction,
        latch: LatchPolicy,
    ) {
        match self.endpoints.get_mut(&id) {
            Some(Home::Shard(s)) => self.shards[*s].send(Command::Configure {
                id,
                remote,
                negotiated,
                direction,
                latch,
            }),
            Some(Home::Waiting(w)) => {
                w.0.configure(clock::now(), remote, negotiated, direction, latch)
            }
            None => {}
        }
    }

    /// The leg's signalling established it: the switch may send to its phone from now on.
    pub fn establish(&mut self, id: EndpointId) {
        self.apply(id, || Command::Establish(id), RelayEndpoint::establish);
    }

    /// Relays between `a` and `b` both ways; whatever either was bridged to before is dropped.
    pub fn bridge(&mut self, a: EndpointId, b: EndpointId) {
        if !self.endpoints.contains_key(&a) || !self.endpoints.contains_key(&b) {
            return;
        }
        let home = self.shard_of(a).or_else(|| self.shard_of(b));
        let Some(shard) = self.place(a, home) else {
            return;
        };
        if self.place(b, Some(shard)).is_some() {
            self.shards[shard].send(Command::Bridge(a, b));
        }
    }

    /// Stops relaying to and from `id` (the other side keeps its own bridge settings).
    pub fn unbridge(&mut self, id: EndpointId) {
        self.apply(id, || Command::Unbridge(id), |_| {});
    }

    /// Plays `announcement` to the endpoint's phone in a loop, replacing anything relayed to
    /// it; the endpoint is unbridged first.
    pub fn play(&mut self, id: EndpointId, announcement: Announcement) {
        let ssrc = Ssrc(self.rng.next_u32());
        if let Some(shard) = self.place(id, None) {
            self.shards[shard].send(Command::Play {
                id,
                announcement,
                ssrc,
            });
        }
    }

    /// Stops the endpoint's announcement, if any.
    pub fn stop_playing(&mut self, id: EndpointId) {
        self.apply(id, || Command::StopPlaying(id), |_| {});
    }

    /// Cleans what `id`'s phone sends before it is relayed (or stops cleaning it). Takes
    /// effect within two packets, crossfaded.
    pub fn set_denoise(&mut self, id: EndpointId, enabled: bool) {
        // Built here, on the core, when one may be needed: a shard building it would hold up
        // every other call it relays.
        let prepared = enabled.then(Box::<Denoiser>::default);
        match self.endpoints.get_mut(&id) {
            Some(Home::Shard(s)) => self.shards[*s].send(Command::Denoise {
                id,
                enabled,
                prepared,
            }),
            Some(Home::Waiting(w)) => w.0.set_denoise(enabled, prepared),
            None => {}
        }
    }

    /// Reports the digits `id`'s phone keys as [`MediaEvent::Digit`], or stops.
    pub fn detect_digits(&mut self, id: EndpointId, enabled: bool) {
        self.apply(
            id,
            || Command::DetectDigits { id, enabled },
            |e| e.set_detect_digits(enabled),
        );
    }

    /// Sends `id`'s audio to `recording` too. A waiting endpoint joins the shard of the
    /// recording's other endpoints: a recording's feeds are then fed by one shard.
    fn tap(&mut self, id: EndpointId, recording: &RecordingId) {
        let Some(r) = self.recordings.get(recording) else {
            return;
        };
        let feeds = r.feeds.clone();
        let home = match self.shard_of(id) {
            Some(_) => None,
            None => r.endpoints.iter().find_map(|e| self.shard_of(*e)),
        };
        if let Some(shard) = self.place(id, home) {
            self.shards[shard].send(Command::Tap {
                id,
                recording: recording.clone(),
                feeds,
            });
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
        let endpoints = handle.endpoints.clone();
        self.recordings.insert(recording.clone(), handle);
        for id in endpoints {
            self.tap(id, &recording);
        }
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
        self.tap(endpoint, recording);
    }

    /// Mixes `ids` mix-minus: each phone hears the others. Their bridges and music stop.
    /// Members on different shards join the first placed member's.
    pub fn mix(&mut self, ids: &[EndpointId]) {
        let mut shard = ids.iter().find_map(|id| self.shard_of(*id));
        let mut members = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = self.place(*id, shard) {
                shard = Some(s);
                members.push((*id, Ssrc(self.rng.next_u32())));
            }
        }
        if let Some(shard) = shard {
            self.shards[shard].send(Command::Mix(members));
        }
    }

    /// Finalises the recording; [`MediaEvent::RecordingStopped`] follows.
    pub fn stop_recording(&mut self, recording: &RecordingId) {
        let Some(r) = self.recordings.remove(recording) else {
            return;
        };
        for id in &r.endpoints {
            let id = *id;
            self.apply(
                id,
                || Command::Untap {
                    id,
                    recording: recording.clone(),
                },
                |e| e.remove_tap(recording),
            );
        }
        r.stop();
    }

    pub fn close(&mut self, id: EndpointId) {
        match self.endpoints.remove(&id) {
            Some(Home::Shard(s)) => self.shards[s].send(Command::Close(id)),
            Some(Home::Waiting(waiting)) => self.pool.keep(waiting.1),
            None => {}
        }
    }

    /// How many recordings `id`'s audio goes to; asks its shard (tests).
    #[cfg(test)]
    fn tap_count(&mut self, id: EndpointId) -> usize {
        let (reply, answer) = sync_channel(1);
        let mut waiting = 0;
        self.apply(
            id,
            || Command::TapCount { id, reply },
            |e| waiting = e.tap_count(),
        );
        answer.recv().unwrap_or(waiting)
    }

    /// Urgent commands wake their shard at [`MediaEngine::wake_shards`] only (see
    /// `ShardHandle::defer_wakes`); the runtime calls it after each round of outputs.
    pub fn defer_wakes(&mut self) {
        for shard in &mut self.shards {
            shard.defer_wakes();
        }
    }

    /// Wakes the shards that urgent commands have waited for since the last call.
    pub fn wake_shards(&self) {
        for shard in &self.shards {
            shard.flush();
        }
    }
}

impl Drop for MediaEngine {
    /// The shards end with the engine, closing their sockets.
    fn drop(&mut self) {
        for shard in &self.shards {
            shard.send(Command::Shutdown);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
