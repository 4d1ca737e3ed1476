//! SRTP with SDES keys over real sockets: a pjsua2 phone that insists on SRTP
//! (`PJMEDIA_SRTP_MANDATORY`) calls a queue over UDP, with the lab switch
//! `media.sdes_over_plain_signalling` on, and a plain SIPp agent phone answers. The switch
//! decrypts the customer's SRTP for the agent and the recording and encrypts the agent's audio
//! for the customer; the customer's 1 kHz tone must be in the recording's customer channel.
//! With default settings the same phone is refused (488): keys do not cross plain UDP.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

mod common;

use common::desktop::*;
use common::phone::PjPhone;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const TONE_HZ: f64 = 1000.0;

fn switch(media_settings: &str) -> (SwitchProcess, String) {
    let opts = SwitchOptions {
        media_settings: media_settings.to_owned(),
        ..SwitchOptions::default()
    };
    recording_switch_with(opts, json!({}))
}

fn wav(sw: &SwitchProcess, interaction: &str, token: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(sw.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /api/v1/recordings/{interaction} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\n\r\n",
        sw.http
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw[..split])
    );
    raw[split + 4..].to_vec()
}

/// Power of `frequency` in `samples` (Goertzel), over the total power: near 1 for a pure tone.
fn tone_share(samples: &[f64], frequency: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * frequency / 8000.0;
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in samples {
        let s0 = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let total: f64 = samples.iter().map(|x| x * x).sum();
    if total == 0.0 {
        return 0.0;
    }
    2.0 * power / (samples.len() as f64 * total)
}

#[test]
fn an_srtp_phone_talks_to_a_plain_agent_both_ways_and_the_recording_holds_its_tone() {
    let (sw, admin) = switch("sdes_over_plain_signalling = true");
    let agent_sip = free_udp_port();
    let agent_rtp = port_block(4);
    register(&sw, "1011", agent_sip);
    let agent_phone = Sipp::new("uas_answer", agent_sip)
        .media(agent_rtp)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let mut customer = PjPhone::start_with(
        &sw,
        "1001",
        "",
        &[
            "--srtp",
            "--srtp-over-udp",
            "--tone",
            &(TONE_HZ as u32).to_string(),
        ],
    );
    let capture = Capture::start(&[agent_rtp, customer.rtp]);
    customer.send("call 7000");
    customer.expect("call_answered");
    let started = alice.expect("recording.started", |_| true);
    let ix = started["data"]["interaction"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_secs(3));

    customer.send("stats");
    let stats = customer.expect("stats");
    let fields: Vec<u64> = stats
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let (received, sent) = (fields[0], fields[1]);
    assert!(sent > 50, "the SRTP phone sent {sent} packets");
    assert!(
        received > 50,
        "the SRTP phone authenticated and decrypted {received} of the agent's packets"
    );

    let (status, body) = alice.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    assert_eq!(status, 200, "{body}");
    customer.send("quit");
    agent_phone.expect_success();
    alice.expect("recording.stopped", |_| true);
    let counts = capture.stop();
    assert!(
        counts[&agent_rtp] > 50,
        "the plain agent received {} packets",
        counts[&agent_rtp]
    );
    assert!(
        counts[&customer.rtp] > 50,
        "the SRTP phone received {} packets",
        counts[&customer.rtp]
    );

    wait_until("the recording is complete", || {
        let (_, list) = call(&sw, "GET", "/api/v1/recordings", &admin, None);
        list[0]["interaction"] == ix.as_str() && list[0]["status"] == "complete"
    });
    let wav = wav(&sw, &ix, &admin);
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let customer_channel: Vec<f64> = samples.iter().step_by(2).map(|s| f64::from(*s)).collect();
    let agent_channel: Vec<f64> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|s| f64::from(*s))
        .collect();
    assert!(customer_channel.len() > 8000, "at least a second recorded");
    // The second second: past any start-up transient.
    let second = &customer_channel[8000..16000.min(customer_channel.len())];
    let share = tone_share(second, TONE_HZ);
    assert!(
        share > 0.8,
        "the customer channel is the decrypted {TONE_HZ} Hz tone ({share:.2} of its power)"
    );
    assert!(
        tone_share(second, 1500.0) < 0.05,
        "and not noise that happens to contain it"
    );
    let agent_energy: f64 = agent_channel.iter().map(|x| x.abs()).sum();
    assert!(
        agent_energy > 0.0,
        "the agent's plain audio is recorded too"
    );
}

#[test]
fn by_default_an_srtp_offer_over_udp_is_refused_with_488() {
    let (sw, _admin) = switch("");
    let mut customer = PjPhone::start_with(&sw, "1001", "", &["--srtp", "--srtp-over-udp"]);
    customer.send("call 7000");
    let failed = customer.expect("call_failed");
    assert_eq!(failed, "call_failed 488", "{:?}", customer.seen);
    customer.send("quit");
    customer.expect_success();
}
