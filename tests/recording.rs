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

#[test]
fn a_connected_call_is_recorded_in_stereo_with_a_data_shield_pause_that_resumes_by_itself() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let admin = sw.cti_token().to_owned();
    ok(
        &sw,
        "PUT",
        "/api/v1/settings",
        &admin,
        json!({"recording": true, "data_shield": true, "data_shield_pause_seconds": 1,
               "noise_suppression": false}),
    );
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_phone = Sipp::new("uas_answer", phone).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_call", free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let started = alice.expect("recording.started", |_| true);
    let ix = started["data"]["interaction"].as_str().unwrap().to_owned();
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
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_call", free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let started = alice.expect("recording.started", |_| true);
    let ix = started["data"]["interaction"].as_str().unwrap().to_owned();
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
