//! The CTI API under load, against the real switch process over loopback:
//!
//! 1. request latency: `--rps` requests per second for `--secs` seconds over 32 keep-alive
//!    connections, half reading an agent's live state (`GET /api/v1/agents/{id}/state`), half
//!    changing it (`PUT .../state`, Available ⇄ Idle, which goes through the ACD, the state
//!    log and the event bus); p50, p99 and max per kind. Requests are sent on a fixed
//!    schedule (open loop) and latency counts from the scheduled time, so a stall shows up
//!    as latency instead of silently lowering the rate.
//! 2. event fan-out: `--desktops` WebSocket desktops follow the event stream; one state change
//!    is made and the time until the last desktop has received it is measured, 10 times.
//!
//! 3. the public callback endpoint (`POST /api/v1/public/callbacks` with a widget key) at
//!    `--callback-rps` (500) for `--secs`, open loop as above, from 64 connections each bound
//!    to its own loopback address, every request for a different number: the per-address
//!    limiter (a burst of 10, then one every 6 s) answers most of them 429 at this rate, the
//!    rest are filed (201: widget lookup, the core files the callback); p50, p99 and max for
//!    each answer.
//!
//! `cargo bench --bench cti_load` runs the issues' targets (2,000 requests per second, 1,000
//! desktops, 500 callback requests per second); under `cargo test` it runs a small smoke
//! version that asserts every request succeeded and every desktop got every event.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

struct Plan {
    rps: u32,
    callback_rps: u32,
    secs: u32,
    desktops: usize,
    smoke: bool,
}

impl Plan {
    fn from_args() -> Plan {
        let args = BenchArgs::from_env();
        if args.full() {
            Plan {
                rps: args.value("--rps", 2000),
                callback_rps: args.value("--callback-rps", 500),
                secs: args.value("--secs", 10),
                desktops: args.value("--desktops", 1000),
                smoke: false,
            }
        } else {
            Plan {
                rps: 100,
                callback_rps: 50,
                secs: 2,
                desktops: 20,
                smoke: true,
            }
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    host: SocketAddr,
}

impl Client {
    async fn connect(host: SocketAddr) -> Client {
        let stream = TcpStream::connect(host).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (read, writer) = stream.into_split();
        Client {
            reader: BufReader::new(read),
            writer,
            host,
        }
    }

    /// A connection from `local` (a loopback address of its own).
    async fn connect_from(host: SocketAddr, local: std::net::IpAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(local, 0)).unwrap();
        let stream = socket.connect(host).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (read, writer) = stream.into_split();
        Client {
            reader: BufReader::new(read),
            writer,
            host,
        }
    }

    async fn send(&mut self, method: &str, path: &str, token: &str, body: Option<&str>) -> u16 {
        let auth = format!("Bearer {token}");
        self.send_with(method, path, ("Authorization", &auth), body)
            .await
    }

    async fn send_with(
        &mut self,
        method: &str,
        path: &str,
        (name, value): (&str, &str),
        body: Option<&str>,
    ) -> u16 {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{name}: {value}\r\n",
            self.host
        );
        if let Some(body) = body {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            request.push_str("\r\n");
        }
        self.writer.write_all(request.as_bytes()).await.unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).await.unwrap();
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).await.unwrap();
        status
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "p50 … ms p99 … ms max … ms" of sorted latencies.
fn spread(sorted: &[Duration]) -> String {
    format!(
        "p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99)),
        ms(percentile(sorted, 1.0)),
    )
}

fn admin_post(sw: &SwitchProcess, path: &str, body: Value) -> Value {
    let (status, text) = http_request(
        sw.http,
        "POST",
        path,
        Some(sw.cti_token()),
        Some(&body.to_string()),
    )
    .unwrap();
    assert!((200..300).contains(&status), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A queue for callbacks and a widget filing into it: its key. The queue is served by a
/// team nobody is in, so the callbacks wait and the agents stay free for the other phases.
fn widget(sw: &SwitchProcess) -> String {
    admin_post(sw, "/api/v1/teams", json!({"id": "web", "name": "Web"}));
    admin_post(
        sw,
        "/api/v1/queues",
        json!({"id": "web", "name": "Web", "number": "7900", "ring_timeout_secs": 10,
               "teams": ["web"]}),
    );
    let created = admin_post(
        sw,
        "/api/v1/callback-widgets",
        json!({"id": "web", "name": "Web", "queue": "web"}),
    );
    created["key"].as_str().unwrap().to_owned()
}

/// Agents logged in with an admin-minted API token (the login rate limit is for people).
fn provision(sw: &SwitchProcess, agents: usize) -> String {
    admin_post(sw, "/api/v1/teams", json!({"id": "load", "name": "Load"}));
    admin_post(
        sw,
        "/api/v1/idle-reasons",
        json!({"id": "break", "name": "Break"}),
    );
    let minted = admin_post(
        sw,
        "/api/v1/tokens",
        json!({"role": "admin", "name": "load", "expires_in": 3600}),
    );
    let token = minted["token"].as_str().unwrap().to_owned();
    for i in 0..agents {
        let id = format!("agent{i}");
        admin_post(
            sw,
            "/api/v1/agents",
            json!({"id": id, "name": id, "password": format!("{id}-password"),
                   "extension": format!("2{i:03}"), "team": "load", "role": "agent"}),
        );
        let (status, text) = http_request(
            sw.http,
            "POST",
            &format!("/api/v1/agents/{id}/login"),
            Some(&token),
            Some("{}"),
        )
        .unwrap();
        assert_eq!(status, 200, "{text}");
    }
    token
}

async fn latency(sw: &SwitchProcess, plan: &Plan, token: &str, agents: usize) {
    const CONNECTIONS: usize = 32;
    let total = (plan.rps * plan.secs) as usize;
    let interval = Duration::from_secs_f64(f64::from(plan.secs) / total as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let host = sw.http;
        let token = token.to_owned();
        let agent = format!("agent{}", c % agents);
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(host).await;
            let (mut reads, mut writes, mut failed) = (Vec::new(), Vec::new(), 0usize);
            let mut idle = false;
            for n in (c..total).step_by(CONNECTIONS) {
                let scheduled = start + interval * n as u32;
                tokio::time::sleep_until(scheduled).await;
                let path = format!("/api/v1/agents/{agent}/state");
                if n % 2 == 0 {
                    let status = client.send("GET", &path, &token, None).await;
                    failed += usize::from(status != 200);
                    reads.push(scheduled.elapsed());
                } else {
                    idle = !idle;
                    let body = if idle {
                        r#"{"state":"idle","reason":"break"}"#
                    } else {
                        r#"{"state":"available"}"#
                    };
                    let status = client.send("PUT", &path, &token, Some(body)).await;
                    failed += usize::from(status != 200);
                    writes.push(scheduled.elapsed());
                }
            }
            (reads, writes, failed)
        }));
    }
    let (mut reads, mut writes, mut failed) = (Vec::new(), Vec::new(), 0);
    for task in tasks {
        let (r, w, f) = task.await.unwrap();
        reads.extend(r);
        writes.extend(w);
        failed += f;
    }
    let elapsed = start.elapsed();
    reads.sort();
    writes.sort();
    println!(
        "CTI latency: {} requests in {:.1} s ({:.0}/s, asked {}/s), {failed} failed; \
         read state {}; change state {}",
        reads.len() + writes.len(),
        elapsed.as_secs_f64(),
        (reads.len() + writes.len()) as f64 / elapsed.as_secs_f64(),
        plan.rps,
        spread(&reads),
        spread(&writes),
    );
    if plan.smoke {
        assert_eq!(failed, 0, "smoke requests failed");
    }
}

/// Phase 3: the public callback endpoint under its rate limiter.
async fn callbacks(sw: &SwitchProcess, plan: &Plan, key: &str) {
    const CONNECTIONS: usize = 64;
    let total = (plan.callback_rps * plan.secs) as usize;
    let interval = Duration::from_secs_f64(f64::from(plan.secs) / total as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let host = sw.http;
        let key = key.to_owned();
        let local = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 3, c as u8 + 1));
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect_from(host, local).await;
            let (mut filed, mut limited, mut other) = (Vec::new(), Vec::new(), 0usize);
            for n in (c..total).step_by(CONNECTIONS) {
                let scheduled = start + interval * n as u32;
                tokio::time::sleep_until(scheduled).await;
                let body = format!(r#"{{"number":"01{:08}"}}"#, 23_000_000 + n);
                let status = client
                    .send_with(
                        "POST",
                        "/api/v1/public/callbacks",
                        ("X-Widget-Key", &key),
                        Some(&body),
                    )
                    .await;
                match status {
                    201 => filed.push(scheduled.elapsed()),
                    429 => limited.push(scheduled.elapsed()),
                    _ => other += 1,
                }
            }
            (filed, limited, other)
        }));
    }
    let (mut filed, mut limited, mut other) = (Vec::new(), Vec::new(), 0);
    for task in tasks {
        let (f, l, o) = task.await.unwrap();
        filed.extend(f);
        limited.extend(l);
        other += o;
    }
    let elapsed = start.elapsed();
    let mut all: Vec<Duration> = filed.iter().chain(&limited).copied().collect();
    all.sort();
    filed.sort();
    limited.sort();
    println!(
        "Public callbacks: {} requests in {:.1} s ({:.0}/s, asked {}/s), {} other answers; \
         all {}; filed (201) {} {}; rate-limited (429) {} {}",
        all.len() + other,
        elapsed.as_secs_f64(),
        (all.len() + other) as f64 / elapsed.as_secs_f64(),
        plan.callback_rps,
        other,
        spread(&all),
        filed.len(),
        spread(&filed),
        limited.len(),
        spread(&limited),
    );
    if plan.smoke {
        assert_eq!(other, 0, "every request is filed or rate-limited");
        assert!(!filed.is_empty(), "some callbacks were filed");
    }
}

async fn fan_out(sw: &SwitchProcess, plan: &Plan, token: &str) {
    // Admin desktops see every agent's events; one API token serves them all.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut sockets = Vec::new();
    for _ in 0..plan.desktops {
        // Each socket opens with its own single-use ticket, as a browser's would.
        let (status, text) =
            http_request(sw.http, "POST", "/api/v1/events/tickets", Some(token), None).unwrap();
        assert_eq!(status, 201, "event ticket: {text}");
        let ticket = serde_json::from_str::<Value>(&text).unwrap()["ticket"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = format!("ws://{}/api/v1/events?ticket={ticket}", sw.http);
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        sockets.push(socket);
    }
    let ready = Arc::new(tokio::sync::Barrier::new(plan.desktops + 1));
    for (i, socket) in sockets.into_iter().enumerate() {
        let tx = tx.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let mut socket = socket;
            ready.wait().await;
            while let Some(Ok(message)) = socket.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = message
                    && text.contains("\"agent.state_changed\"")
                {
                    let _ = tx.send((i, Instant::now()));
                }
            }
        });
    }
    ready.wait().await;
    let mut client = Client::connect(sw.http).await;
    let mut samples = Vec::new();
    let mut idle = false;
    for _ in 0..10 {
        idle = !idle;
        let body = if idle {
            r#"{"state":"idle","reason":"break"}"#
        } else {
            r#"{"state":"available"}"#
        };
        let sent = Instant::now();
        let status = client
            .send("PUT", "/api/v1/agents/agent0/state", token, Some(body))
            .await;
        assert_eq!(status, 200);
        let mut got = 0;
        let mut last = sent;
        while got < plan.desktops {
            let (_, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("every desktop receives the state change")
                .unwrap();
            got += 1;
            last = last.max(at);
        }
        samples.push(last - sent);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    samples.sort();
    println!(
        "event fan-out to {} WebSocket desktops: state change to last desktop p50 {:.1} ms, \
         max {:.1} ms over {} changes",
        plan.desktops,
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 1.0)),
        samples.len()
    );
}

fn main() {
    let plan = Plan::from_args();
    let sw = SwitchProcess::start(SwitchOptions {
        log_filter: "warn",
        // Callback numbers must have a route out; nothing is dialled (no agent accepts).
        extra_profile: "[[trunks]]\nname = \"carrier\"\ngateways = [\"127.0.0.1:9\"]\n\n\
                        [dialing]\n[[dialing.routes]]\nprefix = \"+\"\ntrunks = [\"carrier\"]\n"
            .into(),
        ..SwitchOptions::default()
    });
    const AGENTS: usize = 8;
    let token = provision(&sw, AGENTS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let key = widget(&sw);
    runtime.block_on(async {
        latency(&sw, &plan, &token, AGENTS).await;
        // Before the fan-out: its desktops stay connected, and every filed callback's events
        // would go to all of them.
        callbacks(&sw, &plan, &key).await;
        fan_out(&sw, &plan, &token).await;
    });
}
