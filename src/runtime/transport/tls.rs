//! SIP over TLS (RFC 3261 §26.2, `[sip.tls]`): a listener whose connections, once their
//! handshake is done, run the TCP stream code of [`super::Transports`] over the TLS session.
//!
//! A connection is counted against the TCP caps before its handshake, so a flood of
//! half-open handshakes cannot go beyond them, and a handshake has the idle timeout (at most
//! [`HANDSHAKE_TIMEOUT`]) to finish: a client that connects and says nothing, or garbage,
//! loses its connection without holding up anyone else's.

use super::{TransportKind, Transports};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Longest a TLS handshake may take, whatever the idle timeout.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A trunk gateway the switch may open TLS connections to: the name its certificate must
/// show (the host the trunk's settings write, not an SRV target: RFC 5922 §4.1) and the CAs
/// it must chain to.
#[derive(Clone)]
pub struct TlsGateway {
    pub name: ServerName<'static>,
    pub config: Arc<ClientConfig>,
}

/// The located addresses of every `transport = "tls"` trunk's gateways. Anywhere else the
/// switch opens no TLS connection: a phone's certificate could not be verified, and a
/// Contact must not make the switch connect where it says.
#[derive(Clone, Default)]
pub struct TlsGateways(Arc<RwLock<HashMap<SocketAddr, TlsGateway>>>);

impl TlsGateways {
    /// Replaces the register (after each trunk change or DNS refresh).
    pub fn replace(&self, gateways: HashMap<SocketAddr, TlsGateway>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = gateways;
    }

    fn get(&self, addr: SocketAddr) -> Option<TlsGateway> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&addr)
            .cloned()
    }

    pub(super) fn contains(&self, addr: SocketAddr) -> bool {
        self.get(addr).is_some()
    }
}

impl Transports {
    /// The TLS session over a connection we opened to a gateway, its certificate checked;
    /// `None` (counted, logged) when it is no known gateway or the handshake fails.
    pub(super) async fn handshake(
        &self,
        addr: SocketAddr,
        stream: TcpStream,
    ) -> Option<TlsStream<TcpStream>> {
        let gateway = self.tls_gateways.get(addr)?;
        let connector = TlsConnector::from(gateway.config);
        let limit = self.limits.idle_timeout.min(HANDSHAKE_TIMEOUT);
        let why = match tokio::time::timeout(limit, connector.connect(gateway.name, stream)).await {
            Ok(Ok(stream)) => return Some(stream),
            Ok(Err(error)) => error.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        self.stats
            .tls_handshake_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(peer = %addr, %why, "tls handshake with a gateway failed");
        None
    }

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

    /// A carrier's TLS gateway on loopback with a certificate from the fixture's CA kind:
    /// what it reads on its first connection goes to the returned channel, and it answers
    /// `reply` on that connection.
    async fn gateway(
        reply: &'static [u8],
    ) -> (SocketAddr, std::path::PathBuf, mpsc::Receiver<Vec<u8>>) {
        let (_ca, files) = crate::tls::test_files("gateway");
        let ca_file = files.cert.parent().unwrap().join("ca.pem");
        let acceptor = TlsAcceptor::from(crate::tls::server_config(&files, &[]).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut buf = vec![0u8; OPTIONS.len()];
            if tls.read_exact(&mut buf).await.is_ok() {
                let _ = tx.send(buf).await;
                let _ = tls.write_all(reply).await;
                let _ = tls.flush().await;
            }
            // Held open until the test ends.
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        (addr, ca_file, rx)
    }

    fn register(f: &Fixture, addr: SocketAddr, name: &str, ca_file: &std::path::Path) {
        let gateway = TlsGateway {
            name: ServerName::try_from(name.to_owned()).unwrap(),
            config: crate::tls::client_config(Some(ca_file)).unwrap(),
        };
        f.transports
            .tls_gateways()
            .replace(HashMap::from([(addr, gateway)]));
    }

    #[tokio::test]
    async fn the_switch_opens_tls_to_a_known_gateway_and_hears_its_answer_on_that_connection() {
        let mut f = fixture(Duration::from_secs(60)).await;
        const ANSWER: &[u8] = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        let (addr, ca_file, mut heard) = gateway(ANSWER).await;
        register(&f, addr, "127.0.0.1", &ca_file);
        f.transports
            .send(addr, TransportKind::Tls, Bytes::from_static(OPTIONS))
            .await;
        let got = tokio::time::timeout(Duration::from_secs(5), heard.recv())
            .await
            .expect("the gateway hears the request")
            .unwrap();
        assert_eq!(got, OPTIONS);
        let answer = f.next_inbound().await;
        assert_eq!((answer.from, answer.transport), (addr, TransportKind::Tls));
        assert_eq!(&answer.bytes[..], ANSWER);
    }

    #[tokio::test]
    async fn a_gateway_whose_certificate_is_not_for_its_name_fails_the_send_and_hears_nothing() {
        let mut f = fixture(Duration::from_secs(60)).await;
        let (addr, ca_file, mut heard) = gateway(b"").await;
        // The certificate is for 127.0.0.1 and localhost, not the carrier's name.
        register(&f, addr, "sbc.carrier.example", &ca_file);
        f.transports
            .send(addr, TransportKind::Tls, Bytes::from_static(OPTIONS))
            .await;
        let failed = tokio::time::timeout(Duration::from_secs(5), f.failures.recv())
            .await
            .unwrap();
        assert_eq!(failed, Some((addr, TransportKind::Tls)));
        assert!(
            heard.recv().await.is_none(),
            "nothing crossed the handshake"
        );
        let failures = f
            .transports
            .stats
            .tls_handshake_failures
            .load(Ordering::Relaxed);
        assert_eq!(failures, 1);
    }
}
