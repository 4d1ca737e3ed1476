//! Noise suppression on a real queue call, switched through the API mid-call.
//!
//! The customer (SIPp's rtpstream) loops one second of a generated "talker in a noisy room":
//! half a second of voiced harmonics, half a second of pause, white noise throughout. What
//! reaches the agent's phone is captured (tshark, RTP payloads) and decoded; the quietest
//! 20 ms frames are the pauses, so their energy is the noise the agent hears. With the org
//! default (on) the pauses are quiet; a supervisor turns suppression off for this call and
//! the noise comes back, at least 10 dB louder, while the voiced frames keep their level.

mod common;

use common::desktop::*;
use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use switchboard::media::g711::Law;

/// One second of A-law: voiced harmonics for 500 ms, then a pause; white noise throughout.
fn noisy_talker() -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    (0..8000)
        .map(|n| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let noise = (f64::from(seed) / f64::from(u32::MAX) - 0.5) * 2400.0;
            let t = f64::from(n) / 8000.0;
            let voice = if n < 4000 {
                let envelope = (std::f64::consts::PI * t / 0.5).sin();
                [
                    (180.0, 5000.0),
                    (360.0, 3000.0),
                    (540.0, 2000.0),
                    (720.0, 1000.0),
                ]
                .iter()
                .map(|(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum::<f64>()
                    * envelope
            } else {
                0.0
            };
            Law::A.encode((voice + noise).clamp(-32000.0, 32000.0) as i16)
        })
        .collect()
}

/// The customer scenario with the stream file's absolute path written in.
fn customer_scenario(dir: &std::path::Path, stream: &std::path::Path) -> String {
    let template = std::fs::read_to_string(format!("{SIPP_DIR}/uac_queue_call.xml")).unwrap();
    let scenario = template
        .replace("m=audio [media_port]", "m=audio [auto_media_port]")
        .replace(
            r#"<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>"#,
            &format!(r#"<exec rtp_stream="{},-1,8"/>"#, stream.display()),
        );
    let path = dir.join("uac_noisy_customer.xml");
    std::fs::write(&path, scenario).unwrap();
    path.with_extension("").display().to_string()
}

/// Decoded 20 ms frames arriving at `port`, with their arrival time (Unix seconds).
struct PayloadCapture {
    child: std::process::Child,
}

impl PayloadCapture {
    fn start(port: u16) -> PayloadCapture {
        let mut child = Command::new("tshark")
            .args([
                "-i",
                "lo",
                "-l",
                "-n",
                "-f",
                &format!("udp dst port {port}"),
            ])
            .args(["-d", &format!("udp.port=={port},rtp")])
            .args([
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
                "-e",
                "rtp.p_type",
                "-e",
                "rtp.payload",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark is installed");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while err.read_line(&mut line).unwrap_or(0) > 0 && !line.contains("Capturing on") {
            line.clear();
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        PayloadCapture { child }
    }

    fn stop(mut self) -> Vec<(f64, f64)> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let _ = self.child.wait();
        out.lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let time: f64 = f.next()?.parse().ok()?;
                let law = match f.next()?.trim() {
                    "0" => Law::Mu,
                    "8" => Law::A,
                    _ => return None,
                };
                // tshark prints payload bytes as `aa:bb:..` or, in newer versions, `aabb..`.
                let hex: String = f.next()?.chars().filter(char::is_ascii_hexdigit).collect();
                let bytes: Vec<u8> = (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect();
                let energy = bytes
                    .iter()
                    .map(|b| f64::from(law.decode(*b)).powi(2))
                    .sum::<f64>()
                    / bytes.len().max(1) as f64;
                Some((time, 10.0 * (energy + 1.0).log10()))
            })
            .collect()
    }
}

/// The mean level (dB) of the quietest and loudest quarter of frames in `[from, to)`.
fn pause_and_voice(frames: &[(f64, f64)], from: f64, to: f64) -> (f64, f64) {
    let mut levels: Vec<f64> = frames
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, db)| *db)
        .collect();
    levels.sort_by(f64::total_cmp);
    assert!(
        levels.len() > 40,
        "too few frames in the window: {}",
        levels.len()
    );
    let quarter = levels.len() / 4;
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    (
        mean(&levels[..quarter]),
        mean(&levels[levels.len() - quarter..]),
    )
}

#[test]
fn a_supervisor_turning_suppression_off_mid_call_lets_the_noise_through() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let admin = sw.cti_token().to_owned();
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_media = port_block(4);
    let capture = PayloadCapture::start(agent_media);
    let agent_phone = Sipp::new("uas_answer_silent", phone)
        .media(agent_media)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let stream = sw.dir.join("noisy.al");
    std::fs::write(&stream, noisy_talker()).unwrap();
    let scenario = customer_scenario(&sw.dir, &stream);
    let customer = Sipp::new(&scenario, free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let connected = alice.expect("interaction.connected", |_| true);
    let ix = connected["data"]["interaction"]
        .as_str()
        .unwrap()
        .to_owned();
    // The org default (on) applies to this new call.
    let on_from = unix_seconds() + 0.5;
    std::thread::sleep(Duration::from_millis(3500));
    let on_to = unix_seconds();
    // Agents may not switch it unless the admin allows it.
    let (status, _) = call(
        &sw,
        "PUT",
        &format!("/api/v1/interactions/{ix}/noise-suppression"),
        &alice.token,
        Some(json!({"enabled": false})),
    );
    assert_eq!(status, 403);
    let (status, json) = call(
        &sw,
        "PUT",
        &format!("/api/v1/interactions/{ix}/noise-suppression"),
        &admin,
        Some(json!({"enabled": false})),
    );
    assert_eq!(status, 200, "{json}");
    alice.expect("interaction.noise_suppression_changed", |e| {
        e["data"]["enabled"] == false
    });
    let off_from = unix_seconds() + 0.3;
    std::thread::sleep(Duration::from_millis(3000));
    let off_to = unix_seconds();
    let (status, _) = alice.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    assert_eq!(status, 200);
    customer.expect_success();
    agent_phone.expect_success();
    let frames = capture.stop();

    let (pause_on, voice_on) = pause_and_voice(&frames, on_from, on_to);
    let (pause_off, voice_off) = pause_and_voice(&frames, off_from, off_to);
    println!(
        "pauses {pause_on:.1} dB (suppressed) vs {pause_off:.1} dB; voice {voice_on:.1} vs {voice_off:.1} dB"
    );
    assert!(
        pause_off - pause_on >= 10.0,
        "noise in pauses: {pause_on:.1} dB suppressed, {pause_off:.1} dB not"
    );
    assert!(
        (voice_off - voice_on).abs() <= 3.0,
        "voice: {voice_on:.1} dB suppressed, {voice_off:.1} dB not"
    );
}
