//! A media shard: one OS thread running one [`Relay`] over the sockets of its endpoints.
//!
//! The thread owns its sockets through a `mio` poll (epoll, edge-triggered): each readiness
//! reads a socket until `WouldBlock`, each packet goes through the relay and out of the
//! peer's socket from the same stack buffer, so there is no task per endpoint, no lock and no
//! allocation per packet. The relay's timers (playout ticks, the inactivity sweep) are the
//! poll's timeout; the clock is read once per wake-up.
//!
//! Commands from the [`MediaEngine`](super::media::MediaEngine) come through a bounded
//! channel and a [`mio::Waker`], rung only when the shard sleeps and the command cannot wait
//! for its next packet or timer (see [`WakeState`]). Nothing here ever waits on the engine: events go back with
//! `try_send`, and those that find the channel full wait here, in order, and are retried a
//! few milliseconds later; so the engine may block on a shard (a full command channel, or the
//! reply to [`Command::Evict`]) without any risk of deadlock.
//!
//! Batching with `recvmmsg`/`sendmmsg` is left out: at 100 packets per second per call a
//! socket rarely holds more than one datagram when it is read, so a batch per socket saves
//! nothing, and the crate forbids the `unsafe` the libc calls need.

use super::media::MediaStats;
use super::recording::SharedFeeds;
use super::socket_pool::SocketPool;
use crate::call::{EndpointId, MediaEvent};
use crate::media::denoise::Denoiser;
use crate::media::player::Announcement;
use crate::media::recorder::RecordingId;
use crate::media::relay::{Counts, Event, LatchPolicy, Port, Relay, RelayEndpoint, Slot, Transmit};
use crate::media::rtp::Ssrc;
use crate::media::sdp::{Direction, Negotiated};
use crate::media::srtp::MAX_OVERHEAD;
use crate::runtime::clock;
use mio::net::UdpSocket;
use mio::{Interest, Poll, Token, Waker};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Commands a shard may hold before the engine waits for it.
const COMMAND_QUEUE: usize = 8192;
/// How soon events that found the switch's channel full are offered again.
const EVENT_RETRY: Duration = Duration::from_millis(5);
/// How often the shard adds its counts to [`MediaStats`]: every relay incrementing shared
/// atomics per packet made the cores fight over one cache line.
const STATS_EVERY: Duration = Duration::from_millis(100);
/// Errors (ICMP port unreachable and the like) read from one socket before moving on.
const MAX_ERRORS_PER_READ: usize = 64;
const WAKER: Token = Token(usize::MAX);

/// An endpoint's two sockets.
pub struct Sockets {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    /// The RTP port, which names the pair.
    pub port: u16,
}

/// What the engine asks of a shard.
pub enum Command {
    /// Take `endpoint` and its sockets in. What its phone sent before is read at once: it
    /// may latch and count as life (if its source is the phone's), and is dropped (nothing
    /// was bridged to it yet).
    Adopt(Box<(RelayEndpoint, Sockets)>),
    /// Give `id` and its sockets back (moving to another shard); `None` if not here.
    Evict {
        id: EndpointId,
        reply: SyncSender<Option<Box<(RelayEndpoint, Sockets)>>>,
    },
    Configure {
        id: EndpointId,
        remote: Option<SocketAddr>,
        negotiated: Negotiated,
        direction: Direction,
        latch: LatchPolicy,
    },
    /// The leg's signalling established it: sending to its phone may start.
    Establish(EndpointId),
    Bridge(EndpointId, EndpointId),
    Unbridge(EndpointId),
    Play {
        id: EndpointId,
        announcement: Announcement,
        ssrc: Ssrc,
    },
    StopPlaying(EndpointId),
    Denoise {
        id: EndpointId,
        enabled: bool,
        /// Built by the engine, so the shard never stalls its other calls building one.
        prepared: Option<Box<Denoiser>>,
    },
    /// Report the digits `id`'s phone keys, or stop.
    DetectDigits {
        id: EndpointId,
        enabled: bool,
    },
    Tap {
        id: EndpointId,
        recording: RecordingId,
        feeds: SharedFeeds,
    },
    Untap {
        id: EndpointId,
        recording: RecordingId,
    },
    Mix(Vec<(EndpointId, Ssrc)>),
    Close(EndpointId),
    /// How many recordings `id`'s audio goes to (tests).
    #[cfg(test)]
    TapCount {
        id: EndpointId,
        reply: SyncSender<usize>,
    },
    Shutdown,
}

impl Command {
    /// Whether the shard must act on it before its next packet or timer: it registers
    /// sockets, arms a timer, or the engine waits for the answer. The others (a new SDP, a
    /// bridge's end, suppression, digit detection, taps) matter only to packets, and the shard
    /// applies its commands before the packets that woke it, so they need no wake-up of
    /// their own.
    /// Whether the engine waits for the shard to act on it (so it cannot wait for a flush).
    fn awaits_answer(&self) -> bool {
        match self {
            Command::Evict { .. } | Command::Shutdown => true,
            #[cfg(test)]
            Command::TapCount { .. } => true,
            _ => false,
        }
    }

    fn is_urgent(&self) -> bool {
        !matches!(
            self,
            Command::Configure { .. }
                | Command::Unbridge(_)
                | Command::StopPlaying(_)
                | Command::Denoise { .. }
                | Command::DetectDigits { .. }
                | Command::Tap { .. }
                | Command::Untap { .. }
        )
    }
}

/// What the engine needs to know to wake a shard only when it must: a wake-up is a syscall
/// here and a context switch there, paid per command burst at every call's setup and end.
#[derive(Default)]
struct WakeState {
    /// Commands sent and not yet taken; the shard does not sleep while any is queued.
    queued: AtomicUsize,
    /// The shard is in (or about to enter) its poll; a shard awake reads its queue anyway.
    sleeping: AtomicBool,
    /// A wake-up is already on its way.
    woken: AtomicBool,
}

/// The engine's side of one shard.
pub struct ShardHandle {
    commands: SyncSender<Command>,
    waker: Arc<Waker>,
    wake: Arc<WakeState>,
    /// Whether urgent commands wait for [`ShardHandle::flush`] to wake the shard.
    defer: bool,
    /// An urgent command waits for [`ShardHandle::flush`].
    flush_wakes: AtomicBool,
}

impl ShardHandle {
    /// Starts shard `index` on its own thread.
    pub fn spawn(
        index: usize,
        timeout: Duration,
        events: mpsc::Sender<MediaEvent>,
        stats: Arc<MediaStats>,
        pool: SocketPool,
    ) -> std::io::Result<ShardHandle> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (commands, receiver) = sync_channel(COMMAND_QUEUE);
        let wake = Arc::new(WakeState::default());
        let shard = Shard {
            wake: wake.clone(),
            poll,
            relay: Relay::new(timeout),
            sockets: Vec::new(),
            commands: receiver,
            events,
            undelivered: VecDeque::new(),
            stats,
            counts: Counts::default(),
            rtp_out: 0,
            last_flush: clock::now(),
            pool,
        };
        std::thread::Builder::new()
            .name(format!("media-shard-{index}"))
            .spawn(move || shard.run())?;
        Ok(ShardHandle {
            commands,
            waker,
            wake,
            defer: false,
            flush_wakes: AtomicBool::new(false),
        })
    }

    /// From now on urgent commands wake the shard at the next [`ShardHandle::flush`], not at
    /// once: the core sends a burst of commands per round of messages (a call's answer
    /// configures, establishes and bridges two endpoints), and a shard woken by the first
    /// often slept again before the next, so it was woken several times per round. Commands
    /// whose answer the engine waits for still wake it at once.
    pub fn defer_wakes(&mut self) {
        self.defer = true;
    }

    /// Wakes the shard if an urgent command has waited since the last flush.
    pub fn flush(&self) {
        if self.flush_wakes.swap(false, Ordering::Relaxed) {
            self.wake_if_sleeping();
        }
    }

    /// Sequentially consistent with the shard (a Dekker handshake, see `send`).
    fn wake_if_sleeping(&self) {
        if self.wake.sleeping.load(Ordering::SeqCst)
            && !self.wake.woken.swap(true, Ordering::SeqCst)
        {
            let _ = self.waker.wake();
        }
    }

    /// Queues `command`, waking the shard only if it sleeps, no wake-up is on its way and the
    /// command is [urgent](Command::is_urgent); waits while the queue is full.
    pub fn send(&self, command: Command) {
        let urgent = command.is_urgent();
        let answer_awaited = command.awaits_answer();
        if self.commands.send(command).is_err() {
            return;
        }
        // Sequentially consistent on both sides (a Dekker handshake): either the shard, about
        // to sleep, sees the count go up, or this (or the flush after it) sees it sleeping.
        self.wake.queued.fetch_add(1, Ordering::SeqCst);
        if !urgent {
            return;
        }
        if self.defer && !answer_awaited {
            self.flush_wakes.store(true, Ordering::Relaxed);
        } else {
            self.wake_if_sleeping();
        }
    }
}

struct Shard {
    poll: Poll,
    wake: Arc<WakeState>,
    relay: Relay,
    /// Indexed by the relay's [`Slot`]; a socket's token is `2 × slot` (RTP) or `+ 1` (RTCP).
    sockets: Vec<Option<Sockets>>,
    commands: Receiver<Command>,
    events: mpsc::Sender<MediaEvent>,
    /// Events the switch's channel had no room for yet, oldest first.
    undelivered: VecDeque<MediaEvent>,
    stats: Arc<MediaStats>,
    counts: Counts,
    rtp_out: u64,
    last_flush: Instant,
    /// Where the sockets of closed endpoints go for their pair's next call.
    pool: SocketPool,
}

impl Shard {
    fn run(mut self) {
        let mut events = mio::Events::with_capacity(1024);
        let mut buf = [0u8; 2048];
        loop {
            let now = clock::now();
            let mut timeout = self
                .relay
                .poll_timeout()
                .map(|at| at.saturating_duration_since(now));
            if !self.undelivered.is_empty() {
                timeout = Some(timeout.map_or(EVENT_RETRY, |t| t.min(EVENT_RETRY)));
            }
            self.wake.sleeping.store(true, Ordering::SeqCst);
            let polled = if self.wake.queued.load(Ordering::SeqCst) > 0 {
                events.clear();
                Ok(())
            } else {
                self.poll.poll(&mut events, timeout)
            };
            self.wake.sleeping.store(false, Ordering::SeqCst);
            self.wake.woken.store(false, Ordering::SeqCst);
            if let Err(error) = polled {
                if error.kind() == ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(%error, "media shard cannot poll; its calls lose media");
                return;
            }
            let now = clock::now();
            // Commands first: a packet that woke the shard sees every command sent before it.
            if !self.apply_commands(now) {
                return;
            }
            for event in &events {
                match event.token() {
                    WAKER => {}
                    Token(token) => {
                        let port = if token % 2 == 0 {
                            Port::Rtp
                        } else {
                            Port::Rtcp
                        };
                        self.receive(now, Slot(token / 2), port, &mut buf);
                    }
                }
            }
            if self.relay.poll_timeout().is_some_and(|at| at <= now) {
                self.relay.handle_timeout(now);
            }
            while let Some((transmit, bytes)) = self.relay.poll_transmit() {
                self.rtp_out += u64::from(send(&self.sockets, transmit, bytes));
            }
            self.deliver_events();
            self.flush_stats(now, false);
        }
    }

    /// Reads `slot`'s socket until it is empty, relaying each packet.
    fn receive(&mut self, now: Instant, slot: Slot, port: Port, buf: &mut [u8]) {
        let mut errors = 0;
        loop {
            let Some(sockets) = self.sockets.get(slot.0).and_then(Option::as_ref) else {
                return;
            };
            let socket = match port {
                Port::Rtp => &sockets.rtp,
                Port::Rtcp => &sockets.rtcp,
            };
            // Room is kept after the datagram for the tag of a peer on SRTP.
            let room = buf.len() - MAX_OVERHEAD;
            let (n, from) = match socket.recv_from(&mut buf[..room]) {
                Ok(received) => received,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                // ICMP errors from earlier sends surface here; the queue behind them is
                // still to be read.
                Err(_) => {
                    errors += 1;
                    if errors >= MAX_ERRORS_PER_READ {
                        return;
                    }
                    continue;
                }
            };
            if let Some((transmit, len)) = self.relay.handle_packet(now, slot, port, from, buf, n) {
                if send(&self.sockets, transmit, &buf[..len]) {
                    self.rtp_out += 1;
                } else {
                    self.counts.dropped += 1;
                }
            }
        }
    }

    /// Applies every queued command; `false` when the engine is gone.
    fn apply_commands(&mut self, now: Instant) -> bool {
        while self.wake.queued.load(Ordering::SeqCst) > 0 {
            let command = match self.commands.try_recv() {
                Ok(command) => command,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            };
            self.wake.queued.fetch_sub(1, Ordering::SeqCst);
            match command {
                Command::Adopt(adopted) => self.adopt(now, *adopted),
                Command::Evict { id, reply } => {
                    let _ = reply.send(self.evict(id));
                }
                Command::Configure {
                    id,
                    remote,
                    negotiated,
                    direction,
                    latch,
                } => self
                    .relay
                    .configure(now, id, remote, negotiated, direction, latch),
                Command::Establish(id) => self.relay.establish(id),
                Command::Bridge(a, b) => self.relay.bridge(a, b),
                Command::Unbridge(id) => self.relay.unbridge(id),
                Command::Play {
                    id,
                    announcement,
                    ssrc,
                } => self.relay.play(now, id, announcement, ssrc),
                Command::StopPlaying(id) => self.relay.stop_playing(id),
                Command::Denoise {
                    id,
                    enabled,
                    prepared,
                } => self.relay.set_denoise(id, enabled, prepared),
                Command::DetectDigits { id, enabled } => self.relay.detect_digits(id, enabled),
                Command::Tap {
                    id,
                    recording,
                    feeds,
                } => self.relay.add_tap(id, recording, Box::new(feeds)),
                Command::Untap { id, recording } => self.relay.remove_tap(id, &recording),
                Command::Mix(members) => self.relay.mix(now, &members),
                Command::Close(id) => {
                    // Closing a socket takes it out of epoll; only one kept for another call
                    // (maybe another shard's) must be taken out first. Under load the pool is
                    // mostly full, and that was two `epoll_ctl` calls per endpoint for nothing.
                    if let Some((_, mut sockets)) = self.detach(id)
                        && self.pool.has_room()
                    {
                        self.deregister(&mut sockets);
                        self.pool.keep(sockets);
                    }
                }
                #[cfg(test)]
                Command::TapCount { id, reply } => {
                    let count = self.relay.endpoint(id).map_or(0, RelayEndpoint::tap_count);
                    let _ = reply.send(count);
                }
                Command::Shutdown => {
                    self.flush_stats(now, true);
                    return false;
                }
            }
        }
        true
    }

    fn adopt(&mut self, now: Instant, (endpoint, mut sockets): (RelayEndpoint, Sockets)) {
        let id = endpoint.id();
        let slot = self.relay.insert(now, endpoint);
        let registry = self.poll.registry();
        let registered = registry
            .register(&mut sockets.rtp, Token(slot.0 * 2), Interest::READABLE)
            .and_then(|()| {
                registry.register(&mut sockets.rtcp, Token(slot.0 * 2 + 1), Interest::READABLE)
            });
        if let Err(error) = registered {
            tracing::warn!(endpoint = id.0, %error, "cannot poll media sockets");
        }
        if self.sockets.len() <= slot.0 {
            self.sockets.resize_with(slot.0 + 1, || None);
        }
        self.sockets[slot.0] = Some(sockets);
        // What arrived before the endpoint was placed is not read here: registering a socket
        // that is already readable queues its readiness (epoll checks on `EPOLL_CTL_ADD`),
        // so the next poll reports it like any other. Reading here was two `recvfrom`s per
        // endpoint that almost always found nothing.
    }

    /// Takes `id`'s endpoint and sockets off this shard. The sockets are still registered with
    /// its poll: dropping them closes them, which unregisters them too.
    fn detach(&mut self, id: EndpointId) -> Option<(RelayEndpoint, Sockets)> {
        let slot = self.relay.slot(id)?;
        let sockets = self.sockets.get_mut(slot.0)?.take()?;
        let endpoint = self.relay.remove(id)?;
        Some((endpoint, sockets))
    }

    /// Takes `id`'s endpoint and sockets off this shard, for another shard to adopt.
    fn evict(&mut self, id: EndpointId) -> Option<Box<(RelayEndpoint, Sockets)>> {
        let (endpoint, mut sockets) = self.detach(id)?;
        self.deregister(&mut sockets);
        Some(Box::new((endpoint, sockets)))
    }

    fn deregister(&self, sockets: &mut Sockets) {
        let registry = self.poll.registry();
        let _ = registry.deregister(&mut sockets.rtp);
        let _ = registry.deregister(&mut sockets.rtcp);
    }

    /// Hands the relay's events to the switch, in order, without ever waiting.
    fn deliver_events(&mut self) {
        while let Some(event) = self.relay.poll_event() {
            self.undelivered.push_back(match event {
                Event::Inactive(endpoint) => MediaEvent::Inactive { endpoint },
                Event::Digit { endpoint, digit } => MediaEvent::Digit { endpoint, digit },
            });
        }
        while let Some(event) = self.undelivered.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.undelivered.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.undelivered.clear();
                    return;
                }
            }
        }
    }

    fn flush_stats(&mut self, now: Instant, force: bool) {
        if !force && now.saturating_duration_since(self.last_flush) < STATS_EVERY {
            return;
        }
        self.last_flush = now;
        let relay = self.relay.take_counts();
        for (total, local) in [
            (&self.stats.rtp_in, relay.rtp_in),
            (&self.stats.rtcp_in, relay.rtcp_in),
            (&self.stats.rejected, relay.rejected),
            (&self.stats.dropped, relay.dropped + self.counts.dropped),
            (&self.stats.rtp_out, self.rtp_out),
            (&self.stats.srtp_rejected, relay.srtp_rejected),
        ] {
            if local > 0 {
                total.fetch_add(local, Ordering::Relaxed);
            }
        }
        self.counts = Counts::default();
        self.rtp_out = 0;
    }
}

/// Sends `bytes` out of `transmit.from`'s RTP socket; whether the kernel took it.
fn send(sockets: &[Option<Sockets>], transmit: Transmit, bytes: &[u8]) -> bool {
    sockets
        .get(transmit.from.0)
        .and_then(Option::as_ref)
        .is_some_and(|s| s.rtp.send_to(bytes, transmit.to).is_ok())
}
