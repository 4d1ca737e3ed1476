//! The HTTP/1.1 server the CTI API runs on: hyper's connection driver with two limits
//! `axum::serve` does not set.
//!
//! - A header-read timeout: a client must send a request's whole header section within
//!   [`HttpLimits::header_read_timeout`], else its connection is closed. Without one (axum's
//!   `serve` gives hyper no timer) a slowloris client trickling one header byte at a time
//!   holds a connection, a task and a socket forever.
//! - A connection cap: at most [`HttpLimits::max_connections`] connections are served at
//!   once; further ones are closed as soon as they are accepted, so a flood of idle
//!   connections cannot exhaust file descriptors the SIP and media sockets also need.
//!   Event streams count against the cap while they are open.
//!
//! Each request carries the peer's address as axum's `ConnectInfo<SocketAddr>`, as
//! `into_make_service_with_connect_info` gave it (login throttling keys on it).
//!
//! With `[http.tls]` the listener speaks only HTTPS (and WSS for the event WebSocket, an
//! upgrade of an HTTPS request): the TLS handshake must end within the header-read timeout
//! too, so a client stalling in the handshake is cut off like one trickling headers, and a
//! plain-HTTP client gets its connection closed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tower::ServiceExt;

/// What one CTI server allows its clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a request's header section.
    pub header_read_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until the task is dropped, over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<Arc<ServerConfig>>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, most likely: pause instead of spinning.
                tracing::warn!(%error, "accepting a CTI connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(target: "security", event = "http_connection_cap", %peer,
                "CTI connection refused: too many open");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Some(acceptor) = acceptor else {
                return serve_connection(stream, peer, app, limits).await;
            };
            let handshake = acceptor.accept(stream);
            match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                Ok(Ok(stream)) => serve_connection(stream, peer, app, limits).await,
                Ok(Err(error)) => tracing::debug!(%error, %peer, "CTI TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "CTI TLS handshake timed out"),
            }
        });
    }
}

/// Serves one connection, plain or TLS, until it closes.
async fn serve_connection<I>(io: I, peer: SocketAddr, app: Router, limits: HttpLimits)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        tracing::debug!(%error, %peer, "CTI connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    // These tests time real sockets.
    #![allow(clippy::disallowed_methods)]

    use super::*;
    use axum::routing::get;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn server(limits: HttpLimits) -> SocketAddr {
        server_over(limits, None).await
    }

    async fn server_over(limits: HttpLimits, tls: Option<Arc<ServerConfig>>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        tokio::spawn(serve(listener, app, limits, tls));
        addr
    }

    /// Reads until the server closes the connection (or `limit` passes); what was read.
    async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<String> {
        let mut out = Vec::new();
        let read = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
        match read {
            Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
            Err(_) => None,
        }
    }

    async fn get_peer(addr: SocketAddr) -> Option<String> {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).await.ok()?;
        read_to_close(&mut stream, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn a_client_trickling_its_headers_is_cut_off_at_the_header_timeout() {
        let addr = server(HttpLimits {
            header_read_timeout: Duration::from_millis(500),
            max_connections: 16,
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        slow.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // One more header byte every 100 ms: always busy, never done.
        let trickle = async {
            for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if slow.write_all(&[*byte]).await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), trickle).await;
        let closed = read_to_close(&mut slow, Duration::from_secs(3)).await;
        let waited = started.elapsed();
        let answer = closed.expect("the server closes the trickling connection");
        assert!(!answer.contains("200 OK"), "{answer}");
        assert!(
            waited < Duration::from_millis(2500),
            "closed after {waited:?}, not at the 500 ms timeout"
        );
        let peer = get_peer(addr).await.unwrap();
        assert!(
            peer.contains("200 OK") && peer.contains("127.0.0.1:"),
            "{peer}"
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed_until_one_is_freed() {
        let addr = server(HttpLimits {
            header_read_timeout: Duration::from_secs(30),
            max_connections: 2,
        })
        .await;
        let first = TcpStream::connect(addr).await.unwrap();
        let _second = TcpStream::connect(addr).await.unwrap();
        // Let the server accept both before the third arrives.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let refused = get_peer(addr).await.unwrap_or_default();
        assert_eq!(refused, "", "a third connection gets no answer");

        drop(first);
        let mut served = String::new();
        for _ in 0..20 {
            served = get_peer(addr).await.unwrap_or_default();
            if served.contains("200 OK") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            served.contains("200 OK"),
            "a freed slot serves again: {served:?}"
        );
    }

    #[tokio::test]
    async fn https_serves_a_trusting_client_and_cuts_off_a_stalled_handshake() {
        let (ca, files) = crate::tls::test_files("https");
        let config = crate::tls::server_config(&files, &[b"http/1.1"]).unwrap();
        let limits = HttpLimits {
            header_read_timeout: Duration::from_millis(500),
            max_connections: 16,
        };
        let addr = server_over(limits, Some(config)).await;

        let started = Instant::now();
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        let closed = read_to_close(&mut stalled, Duration::from_secs(3)).await;
        assert_eq!(closed.as_deref(), Some(""), "closed without a word");
        assert!(started.elapsed() < Duration::from_millis(2500));

        let connector = tokio_rustls::TlsConnector::from(ca.client_config());
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let request = "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.contains("200 OK") && answer.contains("127.0.0.1:"),
            "{answer}"
        );

        let plain = get_peer(addr).await.unwrap_or_default();
        assert!(
            !plain.contains("HTTP/1.1"),
            "plain HTTP is not answered: {plain:?}"
        );
    }
}
