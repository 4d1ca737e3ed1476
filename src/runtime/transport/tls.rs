//! SIP over TLS (RFC 3261 §26.2, `[sip.tls]`): a listener whose connections, once their
//! handshake is done, run the TCP stream code of [`super::Transports`] over the TLS session.
//!
//! A connection is counted against the TCP caps before its handshake, so a flood of
//! half-open handshakes cannot go beyond them, and a handshake has the idle timeout (at most
//! [`HANDSHAKE_TIMEOUT`]) to finish: a client that connects and says nothing, or garbage,
//! loses its connection without holding up anyone else's.

use super::{TransportKind, Transports};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// Longest a TLS handshake may take, whatever the idle timeout.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Transports {
    /// Listens for SIP over TLS on `listen` with `config`; returns the bound address.
    pub async fn listen_tls(
        &self,
        listen: SocketAddr,
        config: Arc<ServerConfig>,
    ) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(self.clone().tls_accept_loop(listener, acceptor));
        Ok(local)
    }

    async fn tls_accept_loop(self, listener: TcpListener, acceptor: TlsAcceptor) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "tls accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = self.reserve(peer.ip()) else {
                self.stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "tls connection refused: too many connections");
                continue;
            };
            let this = self.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let limit = this.limits.idle_timeout.min(HANDSHAKE_TIMEOUT);
                let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        this.stats
                            .tls_handshake_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, %error, "tls handshake failed");
                        return;
                    }
                    Err(_) => {
                        this.stats
                            .tls_handshake_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "tls handshake timed out");
                        return;
                    }
                };
                this.stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
                let (reader, writer) = tokio::io::split(stream);
                this.start_connection(reader, writer, (peer, TransportKind::Tls), slot);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::transport::{Inbound, Peer, TcpLimits};
    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::mpsc;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::ServerName;

    const OPTIONS: &[u8] = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n";

    struct Fixture {
        transports: Transports,
        tls: SocketAddr,
        inbound: mpsc::Receiver<Inbound>,
        failures: mpsc::Receiver<Peer>,
        connector: TlsConnector,
    }

    async fn fixture(idle_timeout: Duration) -> Fixture {
        let (ca, files) = crate::tls::test_files("transport");
        let (inbound_tx, inbound) = mpsc::channel(16);
        let (failures_tx, failures) = mpsc::channel(16);
        let limits = TcpLimits {
            max_connections: 8,
            max_per_source: 8,
            idle_timeout,
        };
        let listen = "127.0.0.1:0".parse().unwrap();
        let transports = Transports::bind(listen, inbound_tx, failures_tx, limits)
            .await
            .unwrap();
        let config = crate::tls::server_config(&files, &[]).unwrap();
        let tls = transports.listen_tls(listen, config).await.unwrap();
        Fixture {
            transports,
            tls,
            inbound,
            failures,
            connector: TlsConnector::from(ca.client_config()),
        }
    }

    impl Fixture {
        async fn connect(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
            let tcp = TcpStream::connect(self.tls).await.unwrap();
            let name = ServerName::try_from("127.0.0.1").unwrap();
            self.connector.connect(name, tcp).await.unwrap()
        }

        async fn next_inbound(&mut self) -> Inbound {
            tokio::time::timeout(Duration::from_secs(5), self.inbound.recv())
                .await
                .expect("a message within 5 s")
                .unwrap()
        }
    }

    #[tokio::test]
    async fn a_message_over_tls_arrives_as_tls_and_the_answer_goes_back_on_its_connection() {
        let mut f = fixture(Duration::from_secs(60)).await;
        let mut phone = f.connect().await;
        phone.write_all(OPTIONS).await.unwrap();
        let got = f.next_inbound().await;
        assert_eq!(got.transport, TransportKind::Tls);
        assert_eq!(&got.bytes[..], OPTIONS);
        let answer = Bytes::from_static(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        f.transports
            .send(got.from, TransportKind::Tls, answer.clone())
            .await;
        let mut read = vec![0u8; answer.len()];
        tokio::time::timeout(Duration::from_secs(5), phone.read_exact(&mut read))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, answer);
    }

    #[tokio::test]
    async fn a_tls_peer_without_a_connection_fails_at_once_and_nothing_is_opened() {
        let mut f = fixture(Duration::from_secs(60)).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        f.transports
            .send(target, TransportKind::Tls, Bytes::from_static(b"x"))
            .await;
        let failed = tokio::time::timeout(Duration::from_secs(1), f.failures.recv())
            .await
            .unwrap();
        assert_eq!(failed, Some((target, TransportKind::Tls)));
        let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(accepted.is_err(), "the switch must not connect out");
    }

    #[tokio::test]
    async fn garbage_or_silence_on_the_tls_port_costs_only_that_connection() {
        let mut f = fixture(Duration::from_millis(500)).await;
        let mut garbage = TcpStream::connect(f.tls).await.unwrap();
        garbage.write_all(OPTIONS).await.unwrap();
        let mut silent = TcpStream::connect(f.tls).await.unwrap();
        let mut byte = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            // A TLS alert may come before the close.
            while garbage.read(&mut byte).await.is_ok_and(|n| n > 0) {}
        })
        .await;
        assert!(closed.is_ok(), "garbage gets its connection closed");
        let closed = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut byte)).await;
        assert!(
            matches!(closed, Ok(Ok(0) | Err(_))),
            "a silent handshake is closed at the idle timeout"
        );
        let mut phone = f.connect().await;
        phone.write_all(OPTIONS).await.unwrap();
        assert_eq!(f.next_inbound().await.transport, TransportKind::Tls);
        let failures = f
            .transports
            .stats
            .tls_handshake_failures
            .load(Ordering::Relaxed);
        assert_eq!(failures, 2);
    }
}
