//! Recording of a real queue call: the switch records what the customer and the agent's
//! phone send (SIPp playing the bundled G.711 audio both ways), the agent pauses with Data
//! Shield on, the pause resumes by itself, and the WAV downloaded through the API (with a
//! byte range too) holds both channels, the paused span as digital silence, and lasts as
//! long as the call.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

mod common;

use common::desktop::*;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A raw GET returning (status, headers, body bytes): recordings are binary.
fn get_bytes(
    sw: &SwitchProcess,
    path: &str,
    token: &str,
    range: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(sw.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n",
        sw.http
    );
    if let Some(range) = range {
        request.push_str(&format!("Range: {range}\r\n"));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

/// Alice goes Available and customer 1001 calls queue 7000 with `scenario`; returns the
/// customer's SIPp run and the interaction, once its recording has started.
fn customer_calls_the_queue(
    sw: &SwitchProcess,
    alice: &mut Desktop,
    scenario: &str,
) -> (SippRun, String) {
    alice.go_available(sw);
    let customer = Sipp::new(scenario, free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let started = alice.expect("recording.started", |_| true);
    let ix = started["data"]["interaction"].as_str().unwrap().to_owned();
    (customer, ix)
}

#[test]
fn a_connected_call_is_recorded_in_stereo_with_a_data_shield_pause_that_resumes_by_itself() {
    let (sw, admin) =
        recording_switch(json!({"data_shield": true, "data_shield_pause_seconds": 1}));
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_phone = Sipp::new("uas_answer", phone).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let (customer, ix) = customer_calls_the_queue(&sw, &mut alice, "uac_queue_call");
    let call_started = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));

    let pause = format!("/api/v1/interactions/{ix}/recording/pause");
    let (status, json) = alice.post(&sw, &pause, json!({"reason": "card number"}));
    assert_eq!(status, 200, "{json}");
    let paused = alice.expect("recording.paused", |_| true);
    assert_eq!(paused["data"]["auto_resume_secs"], 1);
    assert_eq!(
        (
            paused["data"]["by"].as_str(),
            paused["data"]["reason"].as_str()
        ),
        (Some("alice"), Some("card number"))
    );
    let (status, _) = alice.post(&sw, &pause, json!({}));
    assert_eq!(status, 409, "pausing a paused recording is refused");
    let resumed = alice.expect("recording.resumed", |_| true);
    assert_eq!(resumed["data"]["auto_resumed"], true, "{resumed}");
    std::thread::sleep(Duration::from_millis(1500));
    let (status, json) = alice.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    assert_eq!(status, 200, "{json}");
    let call_length = call_started.elapsed();
    customer.expect_success();
    agent_phone.expect_success();
    alice.expect("recording.stopped", |_| true);

    // Agents cannot download recordings; admins can, whole or by range.
    let path = format!("/api/v1/recordings/{ix}");
    assert_eq!(get_bytes(&sw, &path, &alice.token, None).0, 403);
    wait_until("the recording is listed as complete", || {
        let (_, list) = call(&sw, "GET", "/api/v1/recordings", &admin, None);
        list[0]["interaction"] == ix.as_str() && list[0]["status"] == "complete"
    });
    let (status, head, range) = get_bytes(&sw, &path, &admin, Some("bytes=0-11"));
    assert_eq!(status, 206, "{head}");
    assert_eq!(&range[..4], b"RIFF");
    assert_eq!(&range[8..12], b"WAVE");
    let (status, head, wav) = get_bytes(&sw, &path, &admin, None);
    assert_eq!(status, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("audio/wav"));

    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let frames = samples.len() / 2;
    let seconds = frames as f64 / 8000.0;
    assert!(
        (seconds - call_length.as_secs_f64()).abs() < 1.0,
        "the WAV lasts {seconds:.2} s for a {:.2} s call",
        call_length.as_secs_f64()
    );
    // Both parties are in the first second: left the customer, right the agent's phone.
    let energy = |channel: usize, from: usize, to: usize| {
        (from..to.min(frames))
            .map(|f| i64::from(samples[2 * f + channel]).abs())
            .sum::<i64>()
    };
    assert!(
        energy(0, 0, 8000) > 0 && energy(1, 0, 8000) > 0,
        "both channels carry audio in the first second: left {} right {}; whole call: left {} right {}",
        energy(0, 0, 8000),
        energy(1, 0, 8000),
        energy(0, 0, frames),
        energy(1, 0, frames)
    );
    // The paused second is digital silence on both channels, then audio again.
    let mut longest = 0;
    let mut run = 0;
    let mut run_end = 0;
    for f in 0..frames {
        if samples[2 * f] == 0 && samples[2 * f + 1] == 0 {
            run += 1;
            if run > longest {
                longest = run;
                run_end = f;
            }
        } else {
            run = 0;
        }
    }
    assert!(
        (6400..=12000).contains(&longest),
        "the paused span is {} ms of digital silence",
        longest / 8
    );
    assert!(
        energy(0, run_end + 1, run_end + 8001) > 0,
        "recording resumed after the pause"
    );
}

#[test]
fn a_recording_cut_by_sigkill_is_readable_and_marked_interrupted_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("switchboard-rec-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let opts = SwitchOptions {
        dir: Some(dir.clone()),
        ..SwitchOptions::default()
    };
    let sw = SwitchProcess::start(opts.clone());
    provision(&sw, 10, &[("alice", "1011")]);
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_phone = Sipp::new("uas_answer", phone).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let (customer, ix) = customer_calls_the_queue(&sw, &mut alice, "uac_queue_call");
    std::thread::sleep(Duration::from_millis(2500));
    sw.kill(); // SIGKILL mid-call
    customer.kill();
    agent_phone.kill();

    let sw = SwitchProcess::start(opts);
    let admin = sw.cti_token().to_owned();
    let (_, list) = call(&sw, "GET", "/api/v1/recordings", &admin, None);
    assert_eq!(list[0]["interaction"], ix.as_str(), "{list}");
    assert_eq!(list[0]["status"], "interrupted", "{list}");
    let (status, head, wav) = get_bytes(&sw, &format!("/api/v1/recordings/{ix}"), &admin, None);
    assert_eq!(status, 200, "{head}");
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a readable WAV");
    let seconds = reader.duration() as f64 / 8000.0;
    assert!(
        seconds >= 1.0,
        "the WAV keeps what was finalised: {seconds:.2} s"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_queue_that_says_no_recording_overrides_the_org_setting() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let admin = sw.cti_token().to_owned();
    let (status, queue) = call(&sw, "GET", "/api/v1/queues/sales", &admin, None);
    assert_eq!(status, 200);
    let mut queue = queue;
    queue["recording"] = json!(false);
    ok(&sw, "PUT", "/api/v1/queues/sales", &admin, queue);
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_phone = Sipp::new("uas_answer", phone).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("1500")
        .auth("1001")
        .spawn(Some(sw.sip));
    alice.expect("interaction.connected", |_| true);
    customer.expect_success();
    agent_phone.expect_success();
    alice.expect("interaction.ended", |_| true);
    let (_, list) = call(&sw, "GET", "/api/v1/recordings", &admin, None);
    assert_eq!(list, json!([]), "the org records, this queue does not");
    assert!(!alice.seen.iter().any(|e| e["type"] == "recording.started"));
}

/// The card number the customer keys while the recording is paused: distinctive enough that
/// finding it in a log, an event or a CDR cannot be a coincidence.
const KEYED: &str = "4#7*9";

/// The customer's side of the call, 20 ms packets from a single source: a steady 440 Hz tone
/// for 3 s, then [`KEYED`] as RFC 4733 events (3.0-4.0 s), then keyed in band as DTMF tones
/// (4.0-5.0 s), then the tone again until 8 s. Each digit has a 200 ms slot.
fn customer_keying_stream() -> Vec<(Duration, common::audio::RtpPacket)> {
    use common::audio::{RtpPacket, dtmf_tone, telephone_event_code, tone};
    let steady = tone(440.0, 8.0);
    let slot = |i: usize| (i % 50) / 10;
    let digit = |i: usize| KEYED.chars().nth(slot(i)).unwrap();
    let mut packets = Vec::new();
    for i in 0..400_usize {
        let at = Duration::from_millis(20 * i as u64);
        let timestamp = 160 * i as u32;
        let sequence = packets.len() as u16;
        let (payload_type, marker, timestamp, payload) = match i {
            // Five updates, then the end three times (RFC 4733 §2.5.1.4), then 40 ms quiet.
            150..200 if i % 10 < 8 => {
                let start = 160 * (i - i % 10) as u32;
                let updates = (i % 10).min(4) as u16 + 1;
                let end = if i % 10 >= 5 { 0x80 } else { 0 };
                let mut payload = vec![telephone_event_code(digit(i)), end | 10];
                payload.extend((160 * updates).to_be_bytes());
                (101, i % 10 == 0, start, payload)
            }
            150..200 => continue,
            // 120 ms of the tone pair, 80 ms of A-law silence.
            200..250 if i % 10 < 6 => (8, false, timestamp, dtmf_tone(digit(i), 0.02)),
            200..250 => (8, false, timestamp, vec![0xd5; 160]),
            _ => (
                8,
                i == 0,
                timestamp,
                steady[160 * i..160 * (i + 1)].to_vec(),
            ),
        };
        packets.push((
            at,
            RtpPacket {
                payload_type,
                marker,
                sequence,
                timestamp,
                payload,
            },
        ));
    }
    packets
}

/// RTP sent to `port` as tshark decodes it: (Unix time, payload type, RTP timestamp, the RFC
/// 4733 event code for telephone-events, the decoded G.711 samples for audio).
type Received = Vec<(f64, u8, u32, Option<u8>, Vec<i16>)>;

fn parse_received(out: &str) -> Received {
    use switchboard::media::g711::Law;
    out.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let time = f.first()?.parse().ok()?;
            let payload_type: u8 = f.get(1)?.trim().parse().ok()?;
            let timestamp = f.get(2)?.trim().parse().ok()?;
            let event = f.get(3).and_then(|e| e.trim().parse().ok());
            let hex: String = f.get(4)?.chars().filter(char::is_ascii_hexdigit).collect();
            let law = if payload_type == 0 { Law::Mu } else { Law::A };
            let samples = match payload_type {
                0 | 8 => (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .map(|b| law.decode(b))
                    .collect(),
                _ => Vec::new(),
            };
            Some((time, payload_type, timestamp, event, samples))
        })
        .collect()
}

#[test]
fn dtmf_keyed_while_the_recording_is_paused_is_kept_nowhere() {
    use common::audio::{dtmf_digits, telephone_event_code, write_rtp_pcap};
    use common::tshark::Tshark;
    let (sw, admin) = recording_switch(json!({"data_shield": false}));
    let watcher = follow(sw.http, &admin, None);
    let pcap = sw.dir.join("keying.pcap");
    write_rtp_pcap(&pcap, 0x4733_0dff, &customer_keying_stream());
    let template = std::fs::read_to_string(format!("{SIPP_DIR}/uac_queue_call.xml")).unwrap();
    let playback = "/usr/share/sip-tester/g711a.pcap";
    assert!(template.contains(playback));
    let scenario = sw.dir.join("uac_queue_call_keying.xml");
    std::fs::write(
        &scenario,
        template.replace(playback, &pcap.display().to_string()),
    )
    .unwrap();

    let phone = free_udp_port();
    let phone_media = port_block(4);
    register(&sw, "1011", phone);
    let capture = Tshark::start(
        &Tshark::to_ports(&[phone_media]),
        &[phone_media],
        true,
        &[
            "frame.time_epoch",
            "rtp.p_type",
            "rtp.timestamp",
            "rtpevent.event_id",
            "rtp.payload",
        ],
    );
    let agent_phone = Sipp::new("uas_answer", phone)
        .media(phone_media)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let scenario = scenario.with_extension("").display().to_string();
    let (customer, ix) = customer_calls_the_queue(&sw, &mut alice, &scenario);

    // The customer keys from 3 s to 5 s into the call; the pause spans 1.5 s to 6 s.
    std::thread::sleep(Duration::from_millis(1500));
    let paused_at = unix_seconds();
    let (status, body) = alice.post(
        &sw,
        &format!("/api/v1/interactions/{ix}/recording/pause"),
        json!({"behavior": "silence", "reason": "card number"}),
    );
    assert_eq!(status, 200, "{body}");
    alice.expect("recording.paused", |_| true);
    std::thread::sleep(Duration::from_millis(4500));
    let resumed_at = unix_seconds();
    let (status, body) = alice.post(
        &sw,
        &format!("/api/v1/interactions/{ix}/recording/resume"),
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    alice.expect("recording.resumed", |_| true);
    std::thread::sleep(Duration::from_millis(1000));
    let (status, body) = alice.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    assert_eq!(status, 200, "{body}");
    customer.expect_success();
    agent_phone.expect_success();
    alice.expect("recording.stopped", |_| true);
    alice.expect("interaction.ended", |_| true);
    let received = parse_received(&capture.stop());

    // The premise: the switch relayed both kinds of keying to the agent's phone, while paused.
    let mut events: Vec<(u32, u8)> = received
        .iter()
        .filter_map(|(_, _, timestamp, event, _)| Some((*timestamp, (*event)?)))
        .collect();
    events.dedup();
    let expected: Vec<u8> = KEYED.chars().map(telephone_event_code).collect();
    assert_eq!(
        events.iter().map(|e| e.1).collect::<Vec<_>>(),
        expected,
        "the agent's phone got {KEYED} as RFC 4733 events"
    );
    let heard: Vec<i16> = received.iter().flat_map(|r| r.4.iter().copied()).collect();
    assert_eq!(
        dtmf_digits(&heard),
        KEYED,
        "the agent's phone heard the tones"
    );
    let keying: Vec<f64> = received
        .iter()
        .filter(|r| r.3.is_some() || !dtmf_digits(&r.4).is_empty())
        .map(|r| r.0)
        .collect();
    assert!(
        keying.iter().all(|t| (paused_at..resumed_at).contains(t)),
        "keyed between {paused_at:.2} and {resumed_at:.2}: {keying:.2?}"
    );

    // The WAV: no DTMF on either channel, and the paused span is digital silence.
    let sidecar = recording_sidecar(&sw, &ix);
    let (status, head, wav) = get_bytes(&sw, &format!("/api/v1/recordings/{ix}"), &admin, None);
    assert_eq!(status, 200, "{head}");
    let samples: Vec<i16> = hound::WavReader::new(std::io::Cursor::new(wav))
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    let channel = |c: usize| -> Vec<i16> { samples.iter().skip(c).step_by(2).copied().collect() };
    let (left, right) = (channel(0), channel(1));
    assert_eq!(dtmf_digits(&left), "", "the customer's channel holds DTMF");
    assert_eq!(dtmf_digits(&right), "", "the agent's channel holds DTMF");
    let pauses = sidecar["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{sidecar}");
    assert_eq!(
        (
            pauses[0]["by"].as_str(),
            pauses[0]["behavior"].as_str(),
            pauses[0]["auto_resumed"].as_bool()
        ),
        (Some("alice"), Some("silence"), Some(false)),
        "{sidecar}"
    );
    let began = sidecar["started_at_ms"].as_i64().unwrap();
    let offset = |key: &str| ((pauses[0][key].as_i64().unwrap() - began) * 8) as usize;
    // 60 ms inside either edge: the sidecar's clock and the WAV's frames differ by a packet.
    let span = offset("paused_at_ms") + 480..offset("resumed_at_ms") - 480;
    assert!(span.len() > 8000 * 4, "paused {} ms", span.len() / 8);
    let loud = span
        .clone()
        .filter(|&n| left[n] != 0 || right[n] != 0)
        .count();
    assert_eq!(loud, 0, "non-zero samples in the paused span {span:?}");
    assert!(
        left[..span.start].iter().any(|s| *s != 0) && left[span.end..].iter().any(|s| *s != 0),
        "the customer is recorded before and after the pause"
    );

    // The sidecar, the events, the CDR and the log say nothing about the digits.
    let mut watched: Vec<serde_json::Value> = alice.seen.clone();
    watched.extend(watcher.try_iter());
    let cdrs = sw.wait_for_cdrs(1);
    let log = sw.log();
    let places = [
        ("the sidecar", sidecar.to_string()),
        ("an event", serde_json::Value::from(watched).to_string()),
        ("the CDR", cdrs.to_string()),
        ("the log", log),
    ];
    for (place, text) in places {
        let text = text.to_lowercase();
        for needle in [
            KEYED,
            "4%237*9",
            "dtmf",
            "digit",
            "rtpevent",
            "telephone_event",
        ] {
            assert!(!text.contains(needle), "{place} mentions {needle:?}");
        }
    }
}
