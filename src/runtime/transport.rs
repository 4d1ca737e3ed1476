//! SIP transports (RFC 3261 §18): one UDP socket and a TCP listener on the same address.
//!
//! Inbound bytes go to the switch core through a bounded channel; when it is full, UDP
//! datagrams are dropped and counted (the peer retransmits) rather than queued without bound.
//! TCP connections are framed by Content-Length; CRLF keep-alive pings get a CRLF pong.

use crate::sip::framing::{Frame, frame_stream};
use crate::sip::message::MAX_MESSAGE_SIZE;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Which transport a message came in on or must leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
}

impl TransportKind {
    pub fn is_reliable(self) -> bool {
        matches!(self, TransportKind::Tcp)
    }
    pub fn as_via(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
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
}

/// Sending side shared by the core's output loop.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<UdpSocket>,
    tcp: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    inbound: mpsc::Sender<Inbound>,
    pub stats: Arc<TransportStats>,
    pub local: SocketAddr,
}

/// Per-connection write queue bound: a peer that stops reading loses its connection.
const TCP_WRITE_QUEUE: usize = 256;

impl Transports {
    /// Binds UDP and TCP on `listen` and starts the receive tasks.
    pub async fn bind(
        listen: SocketAddr,
        inbound: mpsc::Sender<Inbound>,
    ) -> std::io::Result<Transports> {
        let udp = Arc::new(UdpSocket::bind(listen).await?);
        let local = udp.local_addr()?;
        // Same port for TCP, even when the caller asked for port 0.
        let tcp_listener = TcpListener::bind(local).await?;
        let transports = Transports {
            udp,
            tcp: Arc::default(),
            inbound,
            stats: Arc::default(),
            local,
        };
        tokio::spawn(transports.clone().udp_loop());
        tokio::spawn(transports.clone().accept_loop(tcp_listener));
        Ok(transports)
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
                    self.stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
                    self.clone().start_connection(stream, peer);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn start_connection(self, stream: TcpStream, peer: SocketAddr) -> mpsc::Sender<Bytes> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(TCP_WRITE_QUEUE);
        self.tcp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, tx.clone());
        let (mut reader, mut writer) = stream.into_split();
        let pong = tx.clone();
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(8192);
            'conn: loop {
                match reader.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
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
                                from: peer,
                                transport: TransportKind::Tcp,
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
                            tracing::debug!(%peer, why, "closing tcp connection");
                            break 'conn;
                        }
                    }
                }
            }
            self.tcp
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer);
        });
        tx
    }

    /// Sends bytes; over TCP reuses the peer's connection or opens one.
    pub async fn send(&self, to: SocketAddr, transport: TransportKind, bytes: Bytes) {
        match transport {
            TransportKind::Udp => {
                if self.udp.send_to(&bytes, to).await.is_err() {
                    self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            TransportKind::Tcp => {
                let existing = self
                    .tcp
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&to)
                    .cloned();
                let sender = match existing {
                    Some(s) => s,
                    None => match TcpStream::connect(to).await {
                        Ok(stream) => self.clone().start_connection(stream, to),
                        Err(_) => {
                            self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    },
                };
                if sender.try_send(bytes).is_err() {
                    self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
