//! A desktop for tests: plain HTTP requests to the CTI API and a WebSocket of events read
//! by a thread (tungstenite), plus the admin provisioning the contact-center tests share.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

use super::{Sipp, SwitchOptions, SwitchProcess, free_udp_port, http_request, register};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

pub const WAIT: Duration = Duration::from_secs(15);

pub fn call(
    sw: &SwitchProcess,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) = http_request(sw.http, method, path, Some(token), body.as_deref()).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json)
}

pub fn ok(sw: &SwitchProcess, method: &str, path: &str, token: &str, body: Value) -> Value {
    let (status, json) = call(sw, method, path, token, Some(body));
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {json}"
    );
    json
}

/// Admin set-up: a team, a queue on 7000, agents with extensions, a disposition code.
pub fn provision(sw: &SwitchProcess, ring_timeout_secs: u64, agents: &[(&str, &str)]) {
    let admin = sw.cti_token().to_owned();
    ok(
        sw,
        "POST",
        "/api/v1/teams",
        &admin,
        json!({"id": "blue", "name": "Blue"}),
    );
    ok(
        sw,
        "POST",
        "/api/v1/queues",
        &admin,
        json!({"id": "sales", "name": "Sales", "number": "7000",
               "ring_timeout_secs": ring_timeout_secs, "wrap_up_max_secs": 300}),
    );
    for (id, extension) in agents {
        ok(
            sw,
            "POST",
            "/api/v1/agents",
            &admin,
            json!({"id": id, "name": id, "password": format!("{id}-password"),
                   "extension": extension, "team": "blue", "role": "agent"}),
        );
    }
    ok(
        sw,
        "POST",
        "/api/v1/dispositions",
        &admin,
        json!({"id": "sold", "name": "Sold"}),
    );
    ok(
        sw,
        "PUT",
        "/api/v1/settings",
        &admin,
        json!({"offered_cad_keys": ["account", "card"]}),
    );
}

/// A switch with queue `sales` and agent alice (1011), recording every call with noise
/// suppression off (it would reshape the tones the tests look for), plus `settings`; and the
/// admin's token.
pub fn recording_switch(settings: serde_json::Value) -> (SwitchProcess, String) {
    recording_switch_with(SwitchOptions::default(), settings)
}

/// [`recording_switch`] started with `opts`.
pub fn recording_switch_with(
    opts: SwitchOptions,
    settings: serde_json::Value,
) -> (SwitchProcess, String) {
    let sw = SwitchProcess::start(opts);
    provision(&sw, 10, &[("alice", "1011")]);
    let admin = sw.cti_token().to_owned();
    let mut all = json!({"recording": true, "noise_suppression": false});
    all.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    ok(&sw, "PUT", "/api/v1/settings", &admin, all);
    (sw, admin)
}

/// An agent's desktop: a session token and a WebSocket of events read by a thread.
pub struct Desktop {
    pub agent: String,
    pub token: String,
    pub events: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Desktop {
    pub fn open(sw: &SwitchProcess, agent: &str) -> Desktop {
        let (status, text) = http_request(
            sw.http,
            "POST",
            "/api/v1/sessions",
            None,
            Some(&json!({"agent_id": agent, "password": format!("{agent}-password")}).to_string()),
        )
        .unwrap();
        assert_eq!(status, 201, "{agent} login: {text}");
        let token = serde_json::from_str::<Value>(&text).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let events = follow(sw.http, &token, None);
        Desktop {
            agent: agent.to_owned(),
            token,
            events,
            seen: Vec::new(),
        }
    }

    pub fn post(&self, sw: &SwitchProcess, path: &str, body: Value) -> (u16, Value) {
        call(sw, "POST", path, &self.token, Some(body))
    }

    pub fn go_available(&self, sw: &SwitchProcess) {
        let (status, json) = self.post(
            sw,
            &format!("/api/v1/agents/{}/login", self.agent),
            json!({}),
        );
        assert_eq!(status, 200, "{json}");
        let (status, json) = call(
            sw,
            "PUT",
            &format!("/api/v1/agents/{}/state", self.agent),
            &self.token,
            Some(json!({"state": "available"})),
        );
        // With callers waiting, the ACD offers one at once: Reserved is Available's next step.
        assert_eq!(status, 200, "{json}");
        assert!(
            matches!(
                json["state"]["state"].as_str(),
                Some("available" | "reserved")
            ),
            "{json}"
        );
    }

    /// Waits (bounded) for an event of `kind` matching `when`; every event read is kept.
    pub fn expect(&mut self, kind: &str, when: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        if let Some(e) = self.seen.iter().find(|e| e["type"] == kind && when(e)) {
            return e.clone();
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(event) = self.events.recv_timeout(left) else {
                break;
            };
            let camel = switchboard::bus::events::non_snake_case_keys(&event);
            assert!(
                camel.is_empty(),
                "event keys are snake_case: {camel:?} in {event}"
            );
            self.seen.push(event.clone());
            if event["type"] == kind && when(&event) {
                return event;
            }
        }
        panic!("{}: no {kind} event; saw {:#?}", self.agent, self.seen);
    }

    pub fn state(&self, sw: &SwitchProcess) -> String {
        let (status, json) = call(
            sw,
            "GET",
            &format!("/api/v1/agents/{}/state", self.agent),
            &self.token,
            None,
        );
        assert_eq!(status, 200, "{json}");
        json["state"]["state"].as_str().unwrap().to_owned()
    }

    /// POSTs an empty command to `path` and asserts it was accepted (200).
    pub fn post_ok(&self, sw: &SwitchProcess, path: &str) -> Value {
        self.post_body_ok(sw, path, json!({}))
    }

    /// POSTs `body` to `path` and asserts it was accepted (200).
    pub fn post_body_ok(&self, sw: &SwitchProcess, path: &str, body: Value) -> Value {
        let (status, json) = self.post(sw, path, body);
        assert_eq!(status, 200, "{path}: {json}");
        json
    }

    /// Waits (bounded) until the agent is in `state`.
    pub fn wait_for_state(&self, sw: &SwitchProcess, state: &str) {
        wait_until(&format!("{} is {state}", self.agent), || {
            self.state(sw) == state
        });
    }
}

/// Reads the event WebSocket in a thread; the receiver ends when the socket closes. Opened
/// as a browser must: the token buys a single-use ticket, and only the ticket is in the URL.
pub fn follow(http: SocketAddr, token: &str, since: Option<u64>) -> mpsc::Receiver<Value> {
    let (status, text) =
        http_request(http, "POST", "/api/v1/events/tickets", Some(token), None).unwrap();
    assert_eq!(status, 201, "event ticket: {text}");
    let ticket = serde_json::from_str::<Value>(&text).unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut url = format!("ws://{http}/api/v1/events?ticket={ticket}");
    if let Some(since) = since {
        url.push_str(&format!("&since={since}"));
    }
    let stream = TcpStream::connect(http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let (mut socket, response) = tungstenite::client::client(url, stream).unwrap();
    assert_eq!(response.status().as_u16(), 101);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(message) = socket.read() {
            if let tungstenite::Message::Text(text) = message {
                let Ok(event) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting until {what}");
}

/// The JSON sidecar of `interaction`'s recording, once the recording is complete.
pub fn recording_sidecar(sw: &SwitchProcess, interaction: &str) -> Value {
    let admin = sw.cti_token().to_owned();
    let mut listed = Value::Null;
    wait_until("the recording is complete", || {
        let (_, list) = call(sw, "GET", "/api/v1/recordings", &admin, None);
        listed = list
            .as_array()
            .and_then(|l| l.iter().find(|r| r["interaction"] == interaction))
            .cloned()
            .unwrap_or(Value::Null);
        listed["status"] == "complete"
    });
    let wav = std::path::PathBuf::from(listed["path"].as_str().unwrap_or_default());
    serde_json::from_slice(&std::fs::read(wav.with_extension("json")).unwrap()).unwrap()
}

/// One queue call, start to end: `extension`'s phone (SIPp) is registered and answers, the
/// agent behind `desktop` goes Available, customer 1001 calls 7000 and hangs up after
/// `talk_ms` of conversation. Returns once the desktop has seen the interaction end.
pub fn answered_queue_call(
    sw: &SwitchProcess,
    extension: &str,
    desktop: &mut Desktop,
    talk_ms: u32,
) -> Value {
    let phone = free_udp_port();
    register(sw, extension, phone);
    let agent_phone = Sipp::new("uas_answer", phone).spawn(None);
    desktop.go_available(sw);
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg(&talk_ms.to_string())
        .auth("1001")
        .spawn(Some(sw.sip));
    let connected = desktop.expect("interaction.connected", |_| true);
    customer.expect_success();
    agent_phone.expect_success();
    desktop.expect("interaction.ended", |_| true);
    connected
}

/// An open Server-Sent Events stream of `/api/v1/events`: the response's content type and
/// each event's `id:` with its JSON, read by a thread. Dropping it closes the connection.
pub struct SseStream {
    pub content_type: String,
    pub events: mpsc::Receiver<(u64, Value)>,
    socket: TcpStream,
}

impl SseStream {
    /// Opens the stream as a browser's `EventSource` does, resuming after `last_event_id`.
    pub fn open(http: SocketAddr, token: &str, last_event_id: Option<u64>) -> SseStream {
        use std::io::{BufRead, BufReader, Read, Write};
        let mut socket = TcpStream::connect(http).unwrap();
        let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        write!(
            socket,
            "GET /api/v1/events HTTP/1.1\r\nHost: {http}\r\nAccept: text/event-stream\r\n\
             Authorization: Bearer {token}\r\n{resume}\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(socket.try_clone().unwrap());
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let (mut content_type, mut chunked) = (String::new(), false);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-type" => content_type = value.trim().to_owned(),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // The body, de-chunked, then split into events at blank lines.
            let mut text = String::new();
            let mut next_body = || -> Option<Vec<u8>> {
                if !chunked {
                    let mut buf = [0; 4096];
                    let n = reader.read(&mut buf).ok().filter(|&n| n > 0)?;
                    return Some(buf[..n].to_vec());
                }
                let mut size = String::new();
                reader.read_line(&mut size).ok().filter(|&n| n > 0)?;
                let size = usize::from_str_radix(size.trim(), 16)
                    .ok()
                    .filter(|&n| n > 0)?;
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).ok()?;
                chunk.truncate(size);
                Some(chunk)
            };
            while let Some(bytes) = next_body() {
                text.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    let (mut id, mut data) = (None, String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = v.trim().parse::<u64>().ok();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        }
                    }
                    // Keep-alives are comments: no id, no data.
                    if let (Some(id), Ok(json)) = (id, serde_json::from_str::<Value>(&data))
                        && tx.send((id, json)).is_err()
                    {
                        return;
                    }
                }
            }
        });
        SseStream {
            content_type,
            events: rx,
            socket,
        }
    }

    /// Events read until one of `kind` matching `when` (inclusive), bounded by [`WAIT`].
    pub fn until(&self, kind: &str, when: impl Fn(&Value) -> bool) -> Vec<(u64, Value)> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok((id, event)) = self.events.recv_timeout(left) else {
                break;
            };
            let done = event["type"] == kind && when(&event);
            seen.push((id, event));
            if done {
                return seen;
            }
        }
        panic!("no {kind} event on the SSE stream; saw {seen:#?}");
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}
