//! The CTI API and its event WebSocket over TLS (`[http.tls]`), against the real switch
//! with a certificate from a CA made for this test: login, an authenticated REST call and
//! an event over WSS, every client trusting that CA alone. The listener then speaks only
//! TLS (a plain-HTTP request gets no HTTP answer), a client trickling its headers is still
//! cut off at the header-read timeout, and a botched handshake costs only its connection.

// A real-socket test: it reads the clock to time the server's cut-off.
#![allow(clippy::disallowed_methods)]

mod common;

#[path = "common/test_ca.rs"]
mod test_ca;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_ca::TestCa;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ClientConnection, StreamOwned};
use tokio_tungstenite::tungstenite;

type Tls = StreamOwned<ClientConnection, TcpStream>;

struct Https {
    sw: SwitchProcess,
    client: Arc<ClientConfig>,
}

impl Https {
    fn start(header_read_timeout_secs: u64) -> Https {
        let ca = TestCa::new("switchboard https test CA");
        static N: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("switchboard-https-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = ca.write_server(&dir);
        let sw = SwitchProcess::start(SwitchOptions {
            extra_profile: format!(
                "[http.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
                cert.display(),
                key.display()
            ),
            header_read_timeout_secs,
            https: true,
            ..SwitchOptions::default()
        });
        Https {
            sw,
            client: ca.client_config(),
        }
    }

    /// A TLS connection to the CTI listener, its handshake done.
    fn connect(&self) -> Tls {
        let tcp = TcpStream::connect(self.sw.http).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = ClientConnection::new(Arc::clone(&self.client), name).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        tls
    }

    /// One request over a fresh connection; the status and the JSON body.
    fn request(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut tls = self.connect();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            tls,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        // A peer that closes without close_notify is an error to rustls; the bytes are in.
        let _ = tls.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw);
        let status = raw.split_whitespace().nth(1).and_then(|c| c.parse().ok());
        let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (
            status.unwrap_or(0),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    fn login(&self) -> String {
        let login = r#"{"agent_id": "admin", "password": "lab-admin-secret"}"#;
        let (status, body) = self.request("POST", "/api/v1/sessions", None, login);
        assert_eq!(status, 201, "admin login over HTTPS: {body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

#[test]
fn login_rest_and_the_event_websocket_work_over_tls_and_plain_http_gets_nothing() {
    let https = Https::start(10);
    let token = https.login();
    let (status, agents) = https.request("GET", "/api/v1/agents", Some(&token), "");
    assert_eq!(status, 200, "{agents}");
    assert!(agents.to_string().contains("admin"), "{agents}");

    let (status, ticket) = https.request("POST", "/api/v1/events/tickets", Some(&token), "");
    assert_eq!(status, 201, "{ticket}");
    let url = format!(
        "wss://{}/api/v1/events?ticket={}",
        https.sw.http,
        ticket["ticket"].as_str().unwrap()
    );
    let (mut socket, response) = tungstenite::client::client(url, https.connect()).unwrap();
    assert_eq!(response.status().as_u16(), 101);
    // A refused command raises an event to its sender: the admin has no extension.
    let (status, _) = https.request("POST", "/api/v1/agents/admin/login", Some(&token), "{}");
    assert!(status >= 200, "answered");
    let event = loop {
        match socket.read().expect("an event over WSS") {
            tungstenite::Message::Text(text) => {
                break serde_json::from_str::<Value>(&text).unwrap();
            }
            _ => continue,
        }
    };
    assert!(
        event["type"].as_str().unwrap_or("").starts_with("agent."),
        "{event}"
    );

    // An error (a TLS alert is not text) or no status line: refused either way.
    if let Ok((status, body)) = http_request(https.sw.http, "GET", "/api/v1/health", None, None) {
        assert_eq!(status, 0, "plain HTTP was answered: {body}");
    }
    // Neither the plain request nor garbage stopped the listener.
    let mut garbage = TcpStream::connect(https.sw.http).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0])
        .unwrap();
    drop(garbage);
    assert_eq!(https.request("GET", "/api/v1/health", None, "").0, 200);
}

#[test]
fn a_tls_client_trickling_its_headers_is_cut_off_at_the_header_timeout() {
    let https = Https::start(1);
    let mut slow = https.connect();
    let started = Instant::now();
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut closed = false;
    for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        std::thread::sleep(Duration::from_millis(100));
        if slow
            .write_all(&[*byte])
            .and_then(|()| slow.flush())
            .is_err()
        {
            closed = true;
            break;
        }
    }
    let waited = started.elapsed();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let answer = String::from_utf8_lossy(&rest);
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(
        closed && waited < Duration::from_secs(3),
        "cut off after {waited:?} (closed: {closed}), not at the 1 s timeout"
    );
    // Someone quick is still served.
    assert_eq!(https.request("GET", "/api/v1/health", None, "").0, 200);
}
