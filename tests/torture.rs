//! The RFC 4475 and RFC 5118 torture messages sent to a real switch over loopback.
//!
//! `../shared/testdata/sip-torture/*/manifest.csv` says what a compliant element does with each
//! message: `accept` (parsed and processed: any answer but 400), `reject` (a 4xx, the manifest's
//! `also_ok` code, or dropped), `either`, or `drop` (responses with no transaction: no answer).
//! Every message goes over its own TCP connection, so the answer is read from the connection it
//! arrived on and a message that closes its connection cannot disturb the next. The two
//! UDP-only cases (`tcp = no`) go over UDP with the top Via's sent-by pointed at the test's
//! socket, since their documentation addresses (192.0.2.x) would otherwise be where §18.2.2
//! sends the answer. After all of them the switch must still answer OPTIONS with 200.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for an answer that should come (TCP and UDP on loopback answer in µs).
const ANSWER_WAIT: Duration = Duration::from_secs(3);
/// How long silence must last before "no answer" counts as dropped.
const SILENCE_WAIT: Duration = Duration::from_millis(700);

struct Case {
    file: String,
    rfc_class: String,
    expect: String,
    also_ok: Option<u16>,
    tcp: bool,
    sha256: String,
    path: PathBuf,
}

fn torture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/sip-torture")
}

/// Parses a manifest (simple CSV: quoted fields may hold commas; none hold newlines).
fn manifest(set: &str) -> Vec<Case> {
    let dir = torture_dir().join(set);
    let text = std::fs::read_to_string(dir.join("manifest.csv"))
        .unwrap_or_else(|e| panic!("{set}/manifest.csv: {e}"));
    let mut lines = text.lines();
    let header = split_csv(lines.next().expect("a header line"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (file, class, expect, also, tcp, sha) = (
        col("file"),
        col("rfc_class"),
        col("expect"),
        col("also_ok"),
        col("tcp"),
        col("sha256"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f = split_csv(l);
            Case {
                file: f[file].clone(),
                rfc_class: f[class].clone(),
                expect: f[expect].clone(),
                also_ok: f[also].parse().ok(),
                tcp: f[tcp] == "yes",
                sha256: f[sha].clone(),
                path: dir.join(&f[file]),
            }
        })
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The status code of the first answer, `None` when nothing came back (or the connection closed).
fn send_tcp(to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<u16> {
    let mut s = TcpStream::connect(to).unwrap();
    s.write_all(bytes).unwrap();
    read_status(&mut s, wait)
}

fn read_status(s: &mut TcpStream, wait: Duration) -> Option<u16> {
    let deadline = Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(code) = status_of(&buf) {
                    return Some(code);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

fn status_of(buf: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(buf);
    let line = text.split("\r\n").next()?;
    if !text.contains("\r\n") {
        return None;
    }
    let code = line.strip_prefix("SIP/2.0 ")?.get(..3)?;
    code.parse().ok()
}

/// Rewrites the top Via's sent-by to `addr` (UDP-only cases, see the module doc).
fn point_top_via_at(bytes: &[u8], addr: SocketAddr) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut done = false;
    for line in text.split_inclusive("\r\n") {
        if !done && line.starts_with("Via: SIP/2.0/UDP ") {
            let rest = &line["Via: SIP/2.0/UDP ".len()..];
            let params = rest.find(';').map_or("\r\n", |i| &rest[i..]);
            out.push_str(&format!("Via: SIP/2.0/UDP {addr}{params}"));
            done = true;
        } else {
            out.push_str(line);
        }
    }
    assert!(done, "no UDP Via to point at the test");
    out.into_bytes()
}

fn send_udp(to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<u16> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let bytes = point_top_via_at(bytes, s.local_addr().unwrap());
    s.set_read_timeout(Some(wait)).unwrap();
    s.send_to(&bytes, to).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    status_of(&buf[..n])
}

fn options(to: SocketAddr) -> Option<u16> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = s.local_addr().unwrap();
    let msg = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};rport;branch=z9hG4bK-torture-ping\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:{to}>\r\n\
         Call-ID: torture-ping@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    s.set_read_timeout(Some(ANSWER_WAIT)).unwrap();
    s.send_to(msg.as_bytes(), to).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    status_of(&buf[..n])
}

/// What the switch did with one message, judged against the manifest; `Err` explains a failure.
fn judge(case: &Case, answer: Option<u16>) -> Result<(), String> {
    let verdict = match (case.expect.as_str(), answer) {
        ("accept", Some(code)) => code != 400,
        ("accept", None) => false,
        ("reject", Some(code)) => (400..500).contains(&code) || Some(code) == case.also_ok,
        ("reject", None) => true,
        ("either", _) => true,
        ("drop", answer) => answer.is_none(),
        (other, _) => return Err(format!("unknown expectation {other:?}")),
    };
    if verdict {
        Ok(())
    } else {
        Err(format!(
            "{} ({}, expect {}): answered {answer:?}",
            case.file, case.rfc_class, case.expect
        ))
    }
}

fn run_set(sw: &SwitchProcess, set: &str) -> Vec<String> {
    let cases = manifest(set);
    assert!(!cases.is_empty(), "{set}: empty manifest");
    let handles: Vec<_> = cases
        .into_iter()
        .map(|case| {
            let sip = sw.sip;
            std::thread::spawn(move || {
                let bytes = std::fs::read(&case.path).unwrap();
                let digest = hex(&Sha256::digest(&bytes));
                if digest != case.sha256 {
                    return Err(format!(
                        "{}: test data changed (sha256 {digest})",
                        case.file
                    ));
                }
                let wait = if case.expect == "drop" {
                    SILENCE_WAIT
                } else {
                    ANSWER_WAIT
                };
                let answer = if case.tcp {
                    send_tcp(sip, &bytes, wait)
                } else {
                    send_udp(sip, &bytes, wait)
                };
                judge(&case, answer)
            })
        })
        .collect();
    handles
        .into_iter()
        .filter_map(|h| h.join().unwrap().err())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rfc4475_and_rfc5118_messages_get_the_compliant_answer_and_the_switch_keeps_serving() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let mut failures = run_set(&sw, "rfc4475");
    failures.extend(run_set(&sw, "rfc5118"));
    assert!(
        failures.is_empty(),
        "torture failures:\n{}\nlog tail:\n{}",
        failures.join("\n"),
        tail(&sw.log(), 40)
    );
    assert_eq!(options(sw.sip), Some(200), "OPTIONS after the torture run");
    assert!(sw.stop().success(), "clean exit after the torture run");
}

/// RFC 5118 §4.5's messages carry a `received` the sender wrote. Over UDP, with the sent-by
/// pointed at the test's socket, the answer must come back to the address the switch saw, not
/// to the `received` in the message (before, it went to 2001:db8::9:255 and was lost).
#[test]
fn a_received_in_the_message_does_not_steer_the_answer_over_udp() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    for file in [
        "via-received-param-with-delim.dat",
        "via-received-param-no-delim.dat",
    ] {
        let bytes = std::fs::read(torture_dir().join("rfc5118").join(file)).unwrap();
        let answer = send_udp(sw.sip, &bytes, ANSWER_WAIT);
        assert!(
            answer.is_some_and(|code| code != 400),
            "{file}: answered {answer:?} over UDP"
        );
    }
    assert!(sw.stop().success());
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<_> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
