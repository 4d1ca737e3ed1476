//! SIP transports (RFC 3261 §18): one UDP socket and a TCP listener on the same address.
//!
//! Inbound bytes go to the switch core through a bounded channel; when it is full, UDP
//! datagrams are dropped and counted (the peer retransmits) rather than queued without bound.
//! TCP connections are framed by Content-Length; CRLF keep-alive pings get a CRLF pong.
//!
//! Each TCP connection has one writer task fed by a bounded queue, whether we accepted it or
//! opened it: messages to a peer leave in the order the core produced them, including those
//! queued while the connection was still being opened. When a connection cannot be opened or
//! written, or its queue is full (a peer that stopped reading), the peer's address goes back
//! to the core on the failures channel, and the transactions sending there fail at once
//! (RFC 3261 §17.1.4, §17.2.4) instead of waiting out Timer B.
//!
//! TCP connections are limited ([`TcpLimits`], the profile's `[sip.tcp]`): a connection
//! beyond the total or per-source cap is closed as soon as it is accepted (one we would
//! open fails instead), and one with no traffic either way for the idle timeout is closed,
//! so idle sockets cannot exhaust the switch's file descriptors.
//!
//! SIP over TLS (`[sip.tls]`, see `transport/tls.rs`) is the same stream code over a TLS session: the
//! same framing, writer, caps (TLS connections count with TCP's) and idle timeout. The
//! switch opens TLS connections only to trunk gateways ([`TlsGateways`]: the addresses the
//! runtime located for `transport = "tls"` trunks, each with the name its certificate must
//! show): a TLS phone is reached over the connection it registered or called on, and when
//! that is gone the send fails at once like a TCP one.

mod tls;

pub use tls::{TlsGateway, TlsGateways};

use crate::sip::framing::{Frame, frame_stream};
use crate::sip::message::MAX_MESSAGE_SIZE;
use crate::sip::transport::Transport;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Which transport a message came in on or must leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
    Tls,
}

impl TransportKind {
    pub fn is_reliable(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }
    /// Whether the hop is encrypted (the leg's SDP can carry SDES keys).
    pub fn is_secure(self) -> bool {
        matches!(self, TransportKind::Tls)
    }
    pub fn as_via(self) -> &'static str {
        self.protocol().via_name()
    }
    /// The protocol core's name for it.
    pub fn protocol(self) -> Transport {
        match self {
            TransportKind::Udp => Transport::Udp,
            TransportKind::Tcp => Transport::Tcp,
            TransportKind::Tls => Transport::Tls,
        }
    }
    /// The transport the runtime sends `transport` by; WebSocket transports are not served.
    pub fn for_protocol(transport: Transport) -> Option<TransportKind> {
        match transport {
            Transport::Udp => Some(TransportKind::Udp),
            Transport::Tcp => Some(TransportKind::Tcp),
            Transport::Tls => Some(TransportKind::Tls),
            Transport::Ws | Transport::Wss => None,
        }
    }
}

/// Bytes that arrived from the network.
#[derive(Debug)]
pub struct Inbound {
    pub from: SocketAddr,
    pub transport: TransportKind,
    pub bytes: Bytes,
}

/// Counters the transports keep; read by tests and the health endpoint.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub received: AtomicU64,
    pub dropped_overload: AtomicU64,
    pub tcp_connections: AtomicU64,
    pub tcp_framing_errors: AtomicU64,
    pub send_errors: AtomicU64,
    /// Connections closed at once for a cap ([`TcpLimits`]).
    pub tcp_refused: AtomicU64,
    /// Connections closed for being idle.
    pub tcp_idle_closed: AtomicU64,
    /// TLS connections whose handshake failed or did not finish in time.
    pub tls_handshake_failures: AtomicU64,
}

/// Caps and the idle timeout of SIP over TCP.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Connections open at once, accepted and opened.
    pub max_connections: usize,
    /// Connections open at once with one peer IP address.
    pub max_per_source: usize,
    /// A connection with no traffic either way for this long is closed.
    pub idle_timeout: Duration,
}

/// Open TCP connections, by peer IP, against [`TcpLimits`].
#[derive(Debug, Default)]
struct ConnectionCount {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// One counted connection; uncounted when dropped (its reader ended).
struct Slot {
    count: Arc<Mutex<ConnectionCount>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        count.total -= 1;
        if let Some(n) = count.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                count.by_ip.remove(&self.ip);
            }
        }
    }
}

/// Sending side shared by the core's output loop.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<UdpSocket>,
    /// Each stream peer's write queue, with the number of the connection it feeds.
    tcp: Arc<Mutex<HashMap<Peer, (u64, WriteQueue)>>>,
    next_connection: Arc<AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    /// Stream peers that could not be reached or written to.
    failures: mpsc::Sender<Peer>,
    limits: TcpLimits,
    open: Arc<Mutex<ConnectionCount>>,
    /// The only addresses TLS connections are opened to.
    tls_gateways: TlsGateways,
    pub stats: Arc<TransportStats>,
    pub local: SocketAddr,
}

/// Per-connection write queue bound: a peer that stops reading loses its connection.
const TCP_WRITE_QUEUE: usize = 256;

/// How long opening a connection may take before its messages fail.
const TCP_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

type WriteQueue = mpsc::Sender<Bytes>;

/// A stream peer: a TCP and a TLS connection from one address are different peers.
pub type Peer = (SocketAddr, TransportKind);

/// When a connection last carried traffic, for the idle timeout.
struct Activity {
    start: tokio::time::Instant,
    /// Milliseconds from `start` to the last read or write.
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            start: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn since_last(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// The receive buffer asked for the SIP UDP socket. The kernel's default (208 KiB on Linux)
/// holds a few hundred messages: a burst of calls (a core busy for a moment at 2,000 calls
/// per second) overflowed it, and each lost 180 or 200 cost a retransmission at best. Linux
/// caps the size at `net.core.rmem_max`; Kamailio and FreeSWITCH deployments raise that
/// sysctl for the same reason.
pub const SIP_UDP_RECV_BUFFER: usize = 4 << 20;

/// The SIP UDP socket, with [`SIP_UDP_RECV_BUFFER`] asked for (what the kernel granted is
/// logged: less means `net.core.rmem_max` is lower).
fn bind_udp(listen: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(listen)?;
    let sock = socket2::SockRef::from(&socket);
    if let Err(error) = sock.set_recv_buffer_size(SIP_UDP_RECV_BUFFER) {
        tracing::warn!(%error, "could not enlarge the SIP UDP receive buffer");
    }
    // Linux reports twice what it reserves for its own bookkeeping.
    let granted = sock.recv_buffer_size().unwrap_or(0);
    tracing::info!(
        asked = SIP_UDP_RECV_BUFFER,
        granted,
        "SIP UDP receive buffer"
    );
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Who reads the SIP UDP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpReading {
    /// A task of its own, handing each datagram to the `inbound` channel.
    Task,
    /// Whoever holds the [`UdpReader`] from [`Transports::udp_reader`]: the core loop, which
    /// then parses each datagram where it was read. Through a task and a channel, every
    /// datagram was copied, queued and woke the core on another thread (at 2,500 calls/s
    /// some 20,000 hand-offs a second).
    Caller,
}

/// Receive errors [`UdpReader::try_recv`] reads past before giving the core back its turn.
const MAX_RECEIVE_ERRORS: usize = 8;

/// Reads SIP datagrams from the UDP socket (see [`UdpReading::Caller`]).
pub struct UdpReader {
    udp: Arc<UdpSocket>,
    stats: Arc<TransportStats>,
    buf: Vec<u8>,
}

impl UdpReader {
    /// Waits until a datagram may be there to read.
    pub async fn readable(&self) {
        // An error here is the socket's (none on Linux for UDP); the next read reports it.
        let _ = self.udp.readable().await;
    }

    /// The next datagram waiting, without waiting; `None` when there is none (or after a
    /// few receive errors in a row, so the core never spins on a failing socket).
    pub fn try_recv(&mut self) -> Option<(SocketAddr, &[u8])> {
        for _ in 0..MAX_RECEIVE_ERRORS {
            match self.udp.try_recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    self.stats.received.fetch_add(1, Ordering::Relaxed);
                    return Some((from, &self.buf[..n]));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
                // ICMP port unreachable surfaces here on some systems; keep serving.
                Err(e) => tracing::debug!(error = %e, "udp receive error"),
            }
        }
        None
    }
}

impl Transports {
    /// Binds UDP and TCP on `listen` and starts the receive tasks. Stream peers that fail go
    /// to `failures` (dropped when it is full: the transactions then time out as before).
    pub async fn bind(
        listen: SocketAddr,
        inbound: mpsc::Sender<Inbound>,
        failures: mpsc::Sender<Peer>,
        limits: TcpLimits,
    ) -> std::io::Result<Transports> {
        Self::bind_with(listen, inbound, failures, limits, UdpReading::Task).await
    }

    /// [`Transports::bind`], with the UDP socket read by `udp`.
    pub async fn bind_with(
        listen: SocketAddr,
        inbound: mpsc::Sender<Inbound>,
        failures: mpsc::Sender<Peer>,
        limits: TcpLimits,
        udp: UdpReading,
    ) -> std::io::Result<Transports> {
        let reading = udp;
        let udp = Arc::new(bind_udp(listen)?);
        let local = udp.local_addr()?;
        // Same port for TCP, even when the caller asked for port 0.
        let tcp_listener = TcpListener::bind(local).await?;
        let transports = Transports {
            udp,
            tcp: Arc::default(),
            next_connection: Arc::default(),
            inbound,
            failures,
            limits,
            open: Arc::default(),
            tls_gateways: TlsGateways::default(),
            stats: Arc::default(),
            local,
        };
        if reading == UdpReading::Task {
            tokio::spawn(transports.clone().udp_loop());
        }
        tokio::spawn(transports.clone().accept_loop(tcp_listener));
        Ok(transports)
    }

    /// The reader of the UDP socket, for a caller that bound with [`UdpReading::Caller`].
    pub fn udp_reader(&self) -> UdpReader {
        UdpReader {
            udp: self.udp.clone(),
            stats: self.stats.clone(),
            buf: vec![0u8; MAX_MESSAGE_SIZE + 1],
        }
    }

    async fn udp_loop(self) {
        let mut buf = vec![0u8; MAX_MESSAGE_SIZE + 1];
        loop {
            let (n, from) = match self.udp.recv_from(&mut buf).await {
                Ok(r) => r,
                // ICMP port unreachable surfaces here on some systems; keep serving.
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive error");
                    continue;
                }
            };
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            let msg = Inbound {
                from,
                transport: TransportKind::Udp,
                bytes: Bytes::copy_from_slice(&buf[..n]),
            };
            if self.inbound.try_send(msg).is_err() {
                self.stats.dropped_overload.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let Some(slot) = self.reserve(peer.ip()) else {
                        // Dropping the stream closes it at once.
                        self.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "tcp connection refused: too many connections");
                        continue;
                    };
                    self.stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
                    let (reader, writer) = stream.into_split();
                    let peer = (peer, TransportKind::Tcp);
                    self.clone().start_connection(reader, writer, peer, slot);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Counts a connection with `ip`, or `None` when a cap is reached.
    fn reserve(&self, ip: IpAddr) -> Option<Slot> {
        let ip = ip.to_canonical();
        let mut count = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = count.by_ip.get(&ip).copied().unwrap_or(0);
        if count.total >= self.limits.max_connections || from_ip >= self.limits.max_per_source {
            return None;
        }
        count.total += 1;
        *count.by_ip.entry(ip).or_default() += 1;
        Some(Slot {
            count: Arc::clone(&self.open),
            ip,
        })
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<Peer, (u64, WriteQueue)>> {
        self.tcp.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new write queue for `peer`, replacing any older one. Its writer holds no
    /// sender, so a connection closes once its reader and the map let go of the queue.
    fn register(&self, peer: Peer) -> (u64, WriteQueue, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel::<Bytes>(TCP_WRITE_QUEUE);
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.connections().insert(peer, (id, tx.clone()));
        (id, tx, rx)
    }

    /// A connection a peer opened: its write queue is registered before anything is read,
    /// so our answers go back on it.
    fn start_connection<R, W>(self, reader: R, writer: W, peer: Peer, slot: Slot)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (id, tx, rx) = self.register(peer);
        let activity = Arc::new(Activity::default());
        tokio::spawn(
            self.clone()
                .write_loop(peer, id, writer, rx, Arc::clone(&activity)),
        );
        tokio::spawn(self.read_loop(peer, id, reader, tx, activity, slot));
    }

    /// A connection we open to send to `peer`; `rx` already holds what is to go first.
    async fn open_connection(
        self,
        peer: Peer,
        id: u64,
        pong: WriteQueue,
        rx: mpsc::Receiver<Bytes>,
    ) {
        let addr = peer.0;
        let Some(slot) = self.reserve(addr.ip()) else {
            self.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %addr, "tcp connection not opened: too many connections");
            self.fail(peer, id);
            return;
        };
        let connected = tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(addr)).await;
        let stream = match connected {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(peer = %addr, %error, "tcp connect failed");
                self.fail(peer, id);
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %addr, "tcp connect timed out");
                self.fail(peer, id);
                return;
            }
        };
        self.stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
        if peer.1 == TransportKind::Tls {
            let Some(stream) = self.handshake(addr, stream).await else {
                self.fail(peer, id);
                return;
            };
            let (reader, writer) = tokio::io::split(stream);
            self.run_opened(peer, id, (reader, writer), pong, rx, slot)
                .await;
        } else {
            let (reader, writer) = stream.into_split();
            self.run_opened(peer, id, (reader, writer), pong, rx, slot)
                .await;
        }
    }

    /// Reads a connection we opened in a task of its own and writes it in this one.
    async fn run_opened<R, W>(
        self,
        peer: Peer,
        id: u64,
        (reader, writer): (R, W),
        pong: WriteQueue,
        rx: mpsc::Receiver<Bytes>,
        slot: Slot,
    ) where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin,
    {
        let activity = Arc::new(Activity::default());
        let reading = self
            .clone()
            .read_loop(peer, id, reader, pong, Arc::clone(&activity), slot);
        tokio::spawn(reading);
        self.write_loop(peer, id, writer, rx, activity).await;
    }

    /// The connection's only writer: sends in queue order until the queue closes or a write
    /// fails.
    async fn write_loop(
        self,
        peer: Peer,
        id: u64,
        mut writer: impl AsyncWrite + Unpin,
        mut rx: mpsc::Receiver<Bytes>,
        activity: Arc<Activity>,
    ) {
        while let Some(bytes) = rx.recv().await {
            // A TLS writer buffers records until flushed; a TCP flush is free.
            let written = match writer.write_all(&bytes).await {
                Ok(()) => writer.flush().await,
                Err(error) => Err(error),
            };
            if let Err(error) = written {
                tracing::debug!(peer = %peer.0, transport = peer.1.as_via(), %error, "stream write failed");
                self.fail(peer, id);
                return;
            }
            activity.touch();
        }
    }

    /// Reads framed messages until the peer closes, sends garbage or the connection is idle
    /// too long; `pong` answers CRLF keep-alives on the same connection. The connection
    /// counts against the caps (`slot`) until this returns.
    async fn read_loop(
        self,
        peer: Peer,
        id: u64,
        mut reader: impl AsyncRead + Unpin,
        pong: WriteQueue,
        activity: Arc<Activity>,
        slot: Slot,
    ) {
        let idle = self.limits.idle_timeout;
        let mut buf = BytesMut::with_capacity(8192);
        'conn: loop {
            let read = loop {
                // Our own writes (requests to a phone that only answers) count as traffic.
                let quiet = activity.since_last();
                if quiet >= idle {
                    self.stats.tcp_idle_closed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %peer.0, "closing idle stream connection");
                    break 'conn;
                }
                if let Ok(read) =
                    tokio::time::timeout(idle - quiet, reader.read_buf(&mut buf)).await
                {
                    break read;
                }
            };
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => activity.touch(),
            }
            loop {
                match frame_stream(&buf) {
                    Frame::Incomplete => break,
                    Frame::KeepAlive { len, ping } => {
                        let _ = buf.split_to(len);
                        if ping {
                            let _ = pong.try_send(Bytes::from_static(b"\r\n"));
                        }
                    }
                    Frame::Message(len) => {
                        let bytes = buf.split_to(len).freeze();
                        self.stats.received.fetch_add(1, Ordering::Relaxed);
                        let msg = Inbound {
                            from: peer.0,
                            transport: peer.1,
                            bytes,
                        };
                        // Back-pressure on TCP: wait for room instead of dropping.
                        if self.inbound.send(msg).await.is_err() {
                            break 'conn;
                        }
                    }
                    Frame::Invalid(why) => {
                        self.stats
                            .tcp_framing_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(peer = %peer.0, why, "closing stream connection");
                        break 'conn;
                    }
                }
            }
        }
        self.forget(peer, id);
        drop(slot);
    }

    /// Forgets connection `id` as `peer`'s (a newer one may have replaced it).
    fn forget(&self, peer: Peer, id: u64) {
        let mut connections = self.connections();
        if connections.get(&peer).is_some_and(|(i, _)| *i == id) {
            connections.remove(&peer);
        }
    }

    /// `peer` cannot be sent to over connection `id`: forgotten, and reported to the core.
    fn fail(&self, peer: Peer, id: u64) {
        self.forget(peer, id);
        self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
        let _ = self.failures.try_send(peer);
    }

    /// Queues bytes on `to`'s connection, opening a TCP one when there is none (a TLS peer
    /// without a connection fails at once). Never waits: the connection's writer sends them
    /// in order.
    fn send_stream(&self, to: Peer, bytes: Bytes) {
        let existing = self
            .connections()
            .get(&to)
            .filter(|(_, queue)| !queue.is_closed())
            .cloned();
        let (id, queue) = match existing {
            Some(found) => found,
            None if to.1 == TransportKind::Tls && !self.tls_gateways.contains(to.0) => {
                tracing::debug!(peer = %to.0, "no tls connection to send on");
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                let _ = self.failures.try_send(to);
                return;
            }
            None => {
                let (id, tx, rx) = self.register(to);
                tokio::spawn(self.clone().open_connection(to, id, tx.clone(), rx));
                (id, tx)
            }
        };
        if queue.try_send(bytes).is_err() {
            tracing::debug!(peer = %to.0, "stream write queue full or closed");
            self.fail(to, id);
        }
    }

    /// The TLS gateways' register, which the runtime keeps current as it locates them.
    #[must_use]
    pub fn tls_gateways(&self) -> TlsGateways {
        self.tls_gateways.clone()
    }

    /// Sends bytes; over TCP reuses the peer's connection or opens one, over TLS reuses one
    /// or opens one to a trunk gateway.
    pub async fn send(&self, to: SocketAddr, transport: TransportKind, bytes: Bytes) {
        match transport {
            TransportKind::Udp => {
                if self.udp.send_to(&bytes, to).await.is_err() {
                    self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            TransportKind::Tcp | TransportKind::Tls => self.send_stream((to, transport), bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn transports(limits: TcpLimits) -> (Transports, mpsc::Receiver<Inbound>) {
        let (inbound, rx) = mpsc::channel(16);
        let (failures, _) = mpsc::channel(16);
        let listen = "127.0.0.1:0".parse().unwrap();
        let t = Transports::bind(listen, inbound, failures, limits)
            .await
            .unwrap();
        (t, rx)
    }

    /// Whether the switch closes `stream` within `wait` (a read returns end of file).
    async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(wait, stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    async fn connect_from(ip: &str, to: SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(ip.parse().unwrap(), 0))
            .unwrap();
        socket.connect(to).await.unwrap()
    }

    #[tokio::test]
    async fn the_sip_udp_socket_gets_the_large_receive_buffer_the_kernel_allows() {
        let socket = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let granted = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        assert!(
            granted >= SIP_UDP_RECV_BUFFER.min(cap),
            "{granted} bytes granted, net.core.rmem_max {cap}"
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_per_source_and_total_caps_are_closed_at_once() {
        let limits = TcpLimits {
            max_connections: 3,
            max_per_source: 2,
            idle_timeout: Duration::from_secs(60),
        };
        let (t, _rx) = transports(limits).await;
        let wait = Duration::from_millis(300);
        let mut a1 = connect_from("127.0.0.1", t.local).await;
        let mut a2 = connect_from("127.0.0.1", t.local).await;
        let mut a3 = connect_from("127.0.0.1", t.local).await;
        assert!(
            closed_within(&mut a3, wait).await,
            "a third from one source"
        );
        let mut b1 = connect_from("127.0.0.2", t.local).await;
        let mut b2 = connect_from("127.0.0.2", t.local).await;
        assert!(closed_within(&mut b2, wait).await, "a fourth in all");
        for kept in [&mut a1, &mut a2, &mut b1] {
            assert!(!closed_within(kept, Duration::from_millis(50)).await);
        }
        assert_eq!(t.stats.tcp_refused.load(Ordering::Relaxed), 2);

        // A closed connection frees its place.
        drop(a1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut a4 = connect_from("127.0.0.1", t.local).await;
        assert!(!closed_within(&mut a4, wait).await);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_keepalives_keep_one_open() {
        let limits = TcpLimits {
            max_connections: 10,
            max_per_source: 10,
            idle_timeout: Duration::from_millis(400),
        };
        let (t, _rx) = transports(limits).await;
        let mut idle = connect_from("127.0.0.1", t.local).await;
        let mut chatty = connect_from("127.0.0.1", t.local).await;
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            chatty.write_all(b"\r\n\r\n").await.unwrap();
            let mut pong = [0u8; 2];
            chatty.read_exact(&mut pong).await.unwrap();
        }
        assert!(closed_within(&mut idle, Duration::from_millis(50)).await);
        assert!(!closed_within(&mut chatty, Duration::from_millis(50)).await);
        assert_eq!(t.stats.tcp_idle_closed.load(Ordering::Relaxed), 1);
    }
}
