//! Media that cannot be hijacked (issue 16, item 3), against the real switch on loopback:
//! RTP sprayed at the port range from another address reaches no phone and no recording; an
//! INVITE whose SDP names a third address gets nothing sent there, before its ACK or after;
//! no media leaves before the ACK; per-source limits on new calls and on the ports their
//! unconfirmed calls hold; ports drawn at random.
//!
//! Signalling here is a few raw UDP datagrams (queue numbers take unauthenticated callers),
//! so each test controls exactly what is sent and when; the sprayer test uses SIPp phones
//! playing real audio, as the other interop tests do.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

mod common;

use common::audio::{Frame, PayloadCapture};
use common::desktop::*;
use common::*;
use serde_json::json;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchboard::media::g711::Law;

/// Another host on loopback (Linux answers for all of 127/8).
const THIRD: [u8; 4] = [127, 0, 0, 9];
/// The sample value the sprayer's packets carry, loud and constant: no phone's audio has a
/// whole 20 ms packet of it.
const SPRAYED: i16 = 10_000;

/// Whether `samples` hold a packet's worth of the sprayer's constant (after any G.711
/// re-encoding on the way).
fn sprayed(samples: &[i16]) -> bool {
    samples.windows(160).any(|w| {
        w.iter()
            .all(|s| (i32::from(*s) - i32::from(SPRAYED)).abs() < 600)
    })
}

/// Sends RTP and RTCP from 127.0.0.9 to every port of the switch's range, every 10 ms, until
/// stopped; counts what comes back to it.
struct Sprayer {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sprayer {
    fn start(range: (u16, u16)) -> Sprayer {
        let socket = UdpSocket::bind(SocketAddr::from((THIRD, 0))).expect("127.0.0.9 binds");
        socket.set_nonblocking(true).unwrap();
        let (stop, sent, received) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let flags = (stop.clone(), sent.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            let (stop, sent, received) = flags;
            let mut buf = [0u8; 2048];
            let mut sequence: u16 = 0;
            let payload = [Law::A.encode(SPRAYED); 160];
            let rtcp = [0x80u8, 200, 0, 6, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
            while !stop.load(Ordering::SeqCst) {
                sequence = sequence.wrapping_add(1);
                let mut rtp = vec![0x80, 8];
                rtp.extend_from_slice(&sequence.to_be_bytes());
                rtp.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
                rtp.extend_from_slice(&0x5EED_u32.to_be_bytes());
                rtp.extend_from_slice(&payload);
                for port in range.0..range.0 + range.1 {
                    let packet: &[u8] = if port % 2 == 0 { &rtp } else { &rtcp };
                    if socket.send_to(packet, ("127.0.0.1", port)).is_ok() {
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                }
                while socket.recv_from(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sprayer {
            stop,
            sent,
            received,
            thread: Some(thread),
        }
    }

    /// Stops; (datagrams sent, datagrams the switch sent back).
    fn stop(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.sent.load(Ordering::SeqCst),
            self.received.load(Ordering::SeqCst),
        )
    }
}

/// Every WAV under `dir`, as its samples (both channels interleaved).
fn recorded_samples(dir: &std::path::Path) -> Vec<Vec<i16>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "wav") {
                let reader = hound::WavReader::open(&path).expect("a readable WAV");
                found.push(reader.into_samples::<i16>().map(Result::unwrap).collect());
            }
        }
    }
    found
}

/// One channel of interleaved stereo samples.
fn channel(samples: &[i16], index: usize) -> Vec<i16> {
    samples.iter().skip(index).step_by(2).copied().collect()
}

#[test]
fn rtp_sprayed_at_the_port_range_reaches_no_phone_and_no_recording() {
    let (sw, _) = recording_switch(json!({}));
    let mut alice = Desktop::open(&sw, "alice");
    let sprayer = Sprayer::start(sw.rtp_range);
    let agent_sip = free_udp_port();
    register(&sw, "1011", agent_sip);
    let (agent_media, customer_media) = (port_block(4), port_block(4));
    let capture = PayloadCapture::start(&[agent_media, customer_media]);
    let agent_phone = Sipp::new("uas_answer", agent_sip)
        .media(agent_media)
        .spawn(None);
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("4000")
        .auth("1001")
        .media(customer_media)
        .spawn(Some(sw.sip));
    alice.expect("interaction.connected", |_| true);
    customer.expect_success();
    agent_phone.expect_success();
    alice.expect("recording.stopped", |_| true);
    let (sent, came_back) = sprayer.stop();
    let frames: Vec<Frame> = capture.stop();

    assert!(sent > 1000, "the sprayer sent {sent} datagrams");
    assert_eq!(
        came_back, 0,
        "the switch sent the sprayer {came_back} datagrams"
    );
    for port in [agent_media, customer_media] {
        let heard: Vec<&Frame> = frames.iter().filter(|f| f.port == port).collect();
        assert!(
            heard.len() > 100,
            "port {port} heard only {} packets",
            heard.len()
        );
        let injected = heard.iter().filter(|f| sprayed(&f.samples)).count();
        assert_eq!(
            injected, 0,
            "port {port} got {injected} of the sprayer's packets"
        );
    }
    let wavs = recorded_samples(&sw.dir.join("recordings"));
    assert_eq!(wavs.len(), 1, "one recording");
    for side in 0..2 {
        let samples = channel(&wavs[0], side);
        assert!(
            samples.iter().filter(|s| s.unsigned_abs() > 500).count() > 8000,
            "channel {side} holds the phones' audio"
        );
        assert!(
            !sprayed(&samples),
            "channel {side} holds the sprayer's audio"
        );
    }
}

/// A caller scripted over raw UDP: INVITEs to queue 7000, ACKs, reads answers.
struct Caller {
    socket: UdpSocket,
    switch: SocketAddr,
    calls: u32,
}

/// What the switch answered to an INVITE.
#[derive(Debug)]
struct Answer {
    code: u16,
    headers: String,
    /// The RTP port of the switch's SDP, if any.
    media_port: Option<u16>,
    call_id: String,
}

impl Caller {
    fn new(ip: [u8; 4], switch: SocketAddr) -> Caller {
        let socket = UdpSocket::bind(SocketAddr::from((ip, 0))).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Caller {
            socket,
            switch,
            calls: 0,
        }
    }

    /// Sends an INVITE to 7000 whose SDP names `media` as where it listens.
    fn invite(&mut self, media: SocketAddr) -> String {
        self.calls += 1;
        let local = self.socket.local_addr().unwrap();
        let call_id = format!("ms-{}-{}@test", local.port(), self.calls);
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n",
            ip = media.ip(),
            port = media.port()
        );
        let invite = format!(
            "INVITE sip:7000@{sw} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}-1;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:5550100@example.com>;tag=t{n}\r\n\
             To: <sip:7000@{sw}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            sw = self.switch,
            n = self.calls,
            len = sdp.len()
        );
        self.socket.send_to(invite.as_bytes(), self.switch).unwrap();
        call_id
    }

    /// The final answer to the INVITE `call_id` (provisional ones skipped), within 5 s.
    fn final_answer(&self, call_id: &str) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let code: u16 = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if !text.starts_with("SIP/2.0") || code < 200 || !text.contains(call_id) {
                continue;
            }
            let media_port = text
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .and_then(|m| m.split_whitespace().next())
                .and_then(|p| p.parse().ok());
            let (headers, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            return Answer {
                code,
                headers: headers.to_owned(),
                media_port,
                call_id: call_id.to_owned(),
            };
        }
        panic!("no final answer to {call_id}");
    }

    /// Acknowledges a 2xx.
    fn ack(&self, answer: &Answer) {
        let header = |name: &str| {
            answer
                .headers
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_default()
                .to_owned()
        };
        let local = self.socket.local_addr().unwrap();
        let ack = format!(
            "ACK sip:switchboard@{sw} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK{id}-ack;rport\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {id}\r\n\
             CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            sw = self.switch,
            id = answer.call_id,
            from = header("From"),
            to = header("To"),
        );
        self.socket.send_to(ack.as_bytes(), self.switch).unwrap();
    }
}

/// Datagrams that reach `socket` within `window`.
fn received_within(socket: &UdpSocket, window: Duration) -> usize {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let deadline = Instant::now() + window;
    let mut buf = [0u8; 2048];
    let mut count = 0;
    while Instant::now() < deadline {
        if socket.recv_from(&mut buf).is_ok() {
            count += 1;
        }
    }
    count
}

/// A switch with queue 7000 and nobody to answer it: its callers hear music, at once.
fn queue_switch(extra_profile: &str, rtp_ports: u16) -> SwitchProcess {
    let sw = SwitchProcess::start(SwitchOptions {
        rtp_ports,
        extra_profile: extra_profile.to_owned(),
        ..SwitchOptions::default()
    });
    provision(&sw, 10, &[]);
    sw
}

#[test]
fn an_sdp_naming_a_third_address_gets_nothing_sent_there_before_the_ack_or_after() {
    let sw = queue_switch("", 40);
    let victim = UdpSocket::bind(SocketAddr::from((THIRD, 0))).unwrap();
    let mut caller = Caller::new([127, 0, 0, 1], sw.sip);
    let call = caller.invite(victim.local_addr().unwrap());
    let answer = caller.final_answer(&call);
    assert_eq!(answer.code, 200, "queue calls are answered at once");
    assert_eq!(
        received_within(&victim, Duration::from_millis(1500)),
        0,
        "music went to the SDP's address before the ACK"
    );
    caller.ack(&answer);
    assert_eq!(
        received_within(&victim, Duration::from_millis(1500)),
        0,
        "music went to an address the caller's signalling never came from"
    );
}

#[test]
fn music_waits_for_the_ack_then_goes_to_the_callers_own_address() {
    let sw = queue_switch("", 40);
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut caller = Caller::new([127, 0, 0, 1], sw.sip);
    let call = caller.invite(phone.local_addr().unwrap());
    let answer = caller.final_answer(&call);
    assert_eq!(answer.code, 200);
    assert_eq!(
        received_within(&phone, Duration::from_millis(1000)),
        0,
        "music before the ACK"
    );
    caller.ack(&answer);
    let music = received_within(&phone, Duration::from_millis(1000));
    assert!(
        music >= 30,
        "after the ACK the caller hears music: {music} packets"
    );
}

#[test]
fn a_source_over_its_call_rate_gets_503_with_retry_after_and_others_do_not() {
    let sw = queue_switch(
        "[admission]\ncalls_per_second_per_source = 3\nunconfirmed_port_pairs_per_source = 0\n",
        80,
    );
    let media: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut busy = Caller::new([127, 0, 0, 1], sw.sip);
    let codes: Vec<u16> = (0..4)
        .map(|_| {
            let call = busy.invite(media);
            let answer = busy.final_answer(&call);
            if answer.code == 503 {
                assert!(
                    answer.headers.contains("Retry-After: "),
                    "{}",
                    answer.headers
                );
            }
            answer.code
        })
        .collect();
    assert_eq!(codes, [200, 200, 200, 503]);
    let mut other = Caller::new([127, 0, 0, 2], sw.sip);
    let call = other.invite(media);
    assert_eq!(other.final_answer(&call).code, 200, "another source");
    std::thread::sleep(Duration::from_millis(1100));
    let call = busy.invite(media);
    assert_eq!(busy.final_answer(&call).code, 200, "a second later");
}

#[test]
fn unconfirmed_calls_of_a_source_hold_a_bounded_number_of_ports() {
    let sw = queue_switch(
        "[admission]\ncalls_per_second_per_source = 0\nunconfirmed_port_pairs_per_source = 4\n",
        80,
    );
    let media: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut caller = Caller::new([127, 0, 0, 1], sw.sip);
    let answers: Vec<Answer> = (0..3)
        .map(|_| {
            let call = caller.invite(media);
            caller.final_answer(&call)
        })
        .collect();
    let codes: Vec<u16> = answers.iter().map(|a| a.code).collect();
    assert_eq!(
        codes,
        [200, 200, 486],
        "two calls of two pairs each, unacknowledged"
    );
    let mut other = Caller::new([127, 0, 0, 2], sw.sip);
    let call = other.invite(media);
    assert_eq!(other.final_answer(&call).code, 200, "another source");
    // An ACK confirms a call: its pairs no longer count.
    caller.ack(&answers[0]);
    std::thread::sleep(Duration::from_millis(200));
    let call = caller.invite(media);
    assert_eq!(caller.final_answer(&call).code, 200);
}

#[test]
fn an_unacknowledged_call_frees_its_ports_within_the_ack_window() {
    let sw = queue_switch("[admission]\nack_timeout_ms = 2000\n", 40);
    let media: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut caller = Caller::new([127, 0, 0, 1], sw.sip);
    let call = caller.invite(media);
    assert_eq!(caller.final_answer(&call).code, 200);
    assert!(sw.media_port_pairs() > 0, "the call holds ports");
    let started = Instant::now();
    wait_until("the unacknowledged call's ports are free", || {
        sw.media_port_pairs() == 0
    });
    let freed = started.elapsed();
    assert!(
        freed < Duration::from_secs(5),
        "freed after {freed:?}, not within the 2 s ACK window"
    );
}

#[test]
fn consecutive_calls_get_ports_that_cannot_be_predicted() {
    let sw = queue_switch(TRUNK_ADMISSION, 800);
    let media: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut caller = Caller::new([127, 0, 0, 1], sw.sip);
    let ports: Vec<i32> = (0..12)
        .map(|_| {
            let call = caller.invite(media);
            let answer = caller.final_answer(&call);
            i32::from(answer.media_port.expect("the 200 has SDP"))
        })
        .collect();
    // In order, each call's caller port would be 4 above the last (two pairs per call);
    // drawn from 200 pairs, two calls land within 4 ports of each other 2 % of the time.
    let near = ports
        .windows(2)
        .filter(|w| (w[1] - w[0]).abs() <= 4)
        .count();
    assert!(
        near <= 2,
        "{near} of 11 consecutive calls got nearby ports: {ports:?}"
    );
}
