//! The switch attacked over loopback: a dictionary attack on REGISTER is slowed, then its
//! address banned while the real phone keeps registering from another address, and the admin
//! API lists and lifts the ban; a TCP REGISTER whose Contact names a third address never
//! makes the switch connect there; an extension created through the API is stored as digest
//! hashes and registers.
// Test harnesses are the IO side: they read the clock to bound waits.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const DOMAIN: &str = "switchboard.local";

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

/// `Authorization` (or `Proxy-Authorization`) for `challenge`, computed here from RFC 7616
/// so the test does not lean on the switch's own digest code.
fn digest(challenge: &str, user: &str, password: &str, method: &str, uri: &str) -> String {
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a nonce in the challenge");
    let ha1 = md5_hex(&format!("{user}:{DOMAIN}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\""
    )
}

/// The value of header `name` in `message`.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(message: &str) -> u16 {
    message
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A SIP client on a UDP socket or a TCP connection.
enum Wire {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
}

impl Wire {
    fn udp(ip: &str, switch: SocketAddr) -> Wire {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        Wire::Udp(socket, switch)
    }

    fn tcp(switch: SocketAddr) -> Wire {
        let stream = TcpStream::connect(switch).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        Wire::Tcp(stream)
    }

    fn local(&self) -> SocketAddr {
        match self {
            Wire::Udp(s, _) => s.local_addr().unwrap(),
            Wire::Tcp(s) => s.local_addr().unwrap(),
        }
    }

    fn send(&mut self, text: &str) {
        match self {
            Wire::Udp(s, to) => {
                s.send_to(text.as_bytes(), *to).unwrap();
            }
            Wire::Tcp(s) => s.write_all(text.as_bytes()).unwrap(),
        }
    }

    /// The next message (over TCP framed by Content-Length), `None` after 3 s of silence.
    fn recv(&mut self) -> Option<String> {
        match self {
            Wire::Udp(s, _) => {
                let mut buf = vec![0u8; 65_536];
                let (n, _) = s.recv_from(&mut buf).ok()?;
                Some(String::from_utf8_lossy(&buf[..n]).into_owned())
            }
            Wire::Tcp(s) => {
                let mut raw = Vec::new();
                let mut byte = [0u8; 1];
                while !raw.ends_with(b"\r\n\r\n") {
                    if s.read(&mut byte).ok()? == 0 {
                        return None;
                    }
                    raw.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&raw).into_owned();
                let len: usize = header(&head, "Content-Length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                s.read_exact(&mut body).ok()?;
                Some(head + &String::from_utf8_lossy(&body))
            }
        }
    }

    /// The next response (skipping 100 Trying and requests).
    fn response(&mut self) -> String {
        loop {
            let message = self.recv().expect("an answer from the switch");
            if message.starts_with("SIP/2.0") && status(&message) != 100 {
                return message;
            }
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Wire::Udp(..) => "UDP",
            Wire::Tcp(_) => "TCP",
        }
    }
}

/// A phone registering `user` with a Contact of its own choosing.
struct Registration {
    wire: Wire,
    user: String,
    contact: String,
    cseq: u32,
}

impl Registration {
    fn new(wire: Wire, user: &str) -> Registration {
        let contact = format!("sip:{user}@{}", wire.local());
        Registration {
            wire,
            user: user.into(),
            contact,
            cseq: 0,
        }
    }

    fn request(&mut self, authorization: Option<String>) -> String {
        self.cseq += 1;
        let (me, transport, user, n) = (
            self.wire.local(),
            self.wire.transport(),
            &self.user,
            self.cseq,
        );
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {me};branch=z9hG4bK-{n}-{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{DOMAIN}>;tag=t{}\r\n\
             To: <sip:{user}@{DOMAIN}>\r\n\
             Call-ID: reg-{user}-{me}\r\n\
             CSeq: {n} REGISTER\r\n\
             Contact: <{}>\r\n\
             Expires: 300\r\n{auth}\
             Content-Length: 0\r\n\r\n",
            me.port(),
            me.port(),
            self.contact
        )
    }

    /// One REGISTER with `password`: the final status (401 again for a wrong password).
    fn attempt(&mut self, password: &str) -> u16 {
        let first = self.request(None);
        self.wire.send(&first);
        let challenge = self.wire.response();
        if status(&challenge) != 401 {
            return status(&challenge);
        }
        let www = header(&challenge, "WWW-Authenticate").expect("a challenge");
        let auth = digest(
            www,
            &self.user,
            password,
            "REGISTER",
            &format!("sip:{DOMAIN}"),
        );
        let second = self.request(Some(auth));
        self.wire.send(&second);
        status(&self.wire.response())
    }
}

/// An admin API call on the switch: (status, JSON body).
fn api(
    sw: &SwitchProcess,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> (u16, serde_json::Value) {
    let (code, body) = http_request(sw.http, method, path, Some(sw.cti_token()), json).unwrap();
    (code, serde_json::from_str(&body).unwrap_or_default())
}

#[test]
fn a_dictionary_attack_on_register_is_slowed_then_banned_while_the_phone_keeps_registering() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let mut attacker = Registration::new(Wire::udp("127.0.0.1", sw.sip), "1001");
    let mut desk = Registration::new(Wire::udp("127.0.0.2", sw.sip), "1001");
    let mut answers = Vec::new();
    let started = Instant::now();
    for guess in 0..40 {
        // The dictionary holds the password, last.
        let word = if guess == 39 {
            password("1001")
        } else {
            format!("password{guess}")
        };
        answers.push(attacker.attempt(&word));
        if guess % 10 == 5 {
            assert_eq!(
                desk.attempt(&password("1001")),
                200,
                "the real phone, guess {guess}"
            );
        }
    }
    let took = started.elapsed();
    // Five guesses heard, then refused unheard (403) until the twentieth failure bans.
    assert_eq!(answers[..5], [401; 5], "{answers:?}");
    assert!(answers[5..].iter().all(|&s| s == 403), "{answers:?}");
    assert_eq!(desk.attempt(&password("1001")), 200);

    let (code, blocks) = api(&sw, "GET", "/api/v1/sip-blocks", None);
    assert_eq!(code, 200, "{blocks}");
    let ban = blocks
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["address"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("no ban listed: {blocks}"));
    assert_eq!(ban["kind"], "ban", "{blocks}");
    assert!(ban["remaining_secs"].as_u64().unwrap() > 3500, "{blocks}");
    assert!(
        sw.log().contains("sip_auth_ban"),
        "the ban is logged as a security event"
    );

    let (code, _) = api(&sw, "DELETE", "/api/v1/sip-blocks/127.0.0.1", None);
    assert_eq!(code, 204);
    let (code, _) = api(&sw, "DELETE", "/api/v1/sip-blocks/127.0.0.1", None);
    assert_eq!(code, 404, "nothing left to lift");
    let (code, error) = api(&sw, "DELETE", "/api/v1/sip-blocks/not-an-ip", None);
    assert_eq!(code, 400);
    assert_eq!(error["error"]["field"], "address", "{error}");
    assert_eq!(attacker.attempt(&password("1001")), 200, "lifted");
    eprintln!("40 guesses and 5 registrations took {took:?}");
}

#[test]
fn a_tcp_contact_naming_a_third_address_gets_no_connection() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    // Something on a third address the attacker would like the switch to talk to.
    let target = TcpListener::bind("127.0.0.3:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let mut phone = Registration::new(Wire::tcp(sw.sip), "1002");
    phone.contact = format!("sip:1002@{};transport=tcp", target.local_addr().unwrap());
    assert_eq!(phone.attempt(&password("1002")), 200);

    // 1001 calls 1002: the INVITE must come over 1002's own connection.
    let mut caller = Wire::udp("127.0.0.1", sw.sip);
    let me = caller.local();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let invite = |cseq: u32, auth: &str| {
        format!(
            "INVITE sip:1002@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-inv-{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:1001@{DOMAIN}>;tag=caller\r\n\
             To: <sip:1002@{DOMAIN}>\r\n\
             Call-ID: ssrf-call\r\n\
             CSeq: {cseq} INVITE\r\n\
             Contact: <sip:1001@{me}>\r\n{auth}\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    caller.send(&invite(1, ""));
    let challenge = caller.response();
    assert_eq!(status(&challenge), 407, "{challenge}");
    let proxy = header(&challenge, "Proxy-Authenticate").unwrap();
    let auth = digest(
        proxy,
        "1001",
        &password("1001"),
        "INVITE",
        &format!("sip:1002@{DOMAIN}"),
    );
    caller.send(&invite(2, &format!("Proxy-Authorization: {auth}\r\n")));

    let to_callee = phone
        .wire
        .recv()
        .expect("the INVITE over the phone's connection");
    assert!(to_callee.starts_with("INVITE "), "{to_callee}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok((_, from)) = target.accept() {
            panic!("the switch connected to the Contact's third address from {from}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_extension_created_through_the_api_is_stored_as_hashes_and_registers() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let secret = "a-desk-phone-secret-42";
    let body = format!(r#"{{"user": "1100", "password": "{secret}"}}"#);
    let (code, created) = api(&sw, "POST", "/api/v1/extensions", Some(&body));
    assert_eq!(code, 201, "{created}");
    let (code, error) = api(
        &sw,
        "POST",
        "/api/v1/extensions",
        Some(r#"{"user": "1101", "password": "short"}"#),
    );
    assert_eq!(code, 422);
    assert_eq!(error["error"]["field"], "password", "{error}");

    let mut phone = Registration::new(Wire::udp("127.0.0.1", sw.sip), "1100");
    assert_eq!(
        phone.attempt(secret),
        200,
        "the live switch knows it at once"
    );

    let db = std::fs::read(sw.database.trim_start_matches("sqlite://")).unwrap_or_default();
    let wal = std::fs::read(format!(
        "{}-wal",
        sw.database.trim_start_matches("sqlite://")
    ))
    .unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the password is nowhere in the database files"
        );
    }
}
