//! Noise suppression on a real queue call, switched through the API mid-call.
//!
//! The customer (SIPp's rtpstream) loops one second of a generated "talker in a noisy room":
//! half a second of voiced harmonics, half a second of pause, white noise throughout. What
//! reaches the agent's phone is captured (tshark, RTP payloads) and decoded; the quietest
//! 20 ms frames are the pauses, so their energy is the noise the agent hears. With the org
//! default (on) the pauses are quiet; a supervisor turns suppression off for this call and
//! the noise comes back, at least 10 dB louder, while the voiced frames keep their level.

mod common;

use common::audio::{PayloadCapture, level_db, streaming_scenario};
use common::desktop::*;
use common::*;
use serde_json::json;
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
    // Sam supervises alice's team; the change below is his, not the admin's.
    ok(
        &sw,
        "POST",
        "/api/v1/agents",
        &admin,
        json!({"id": "sam", "name": "Sam", "password": "sam-password", "team": "blue",
               "role": "supervisor"}),
    );
    let sam = Desktop::open(&sw, "sam");
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_media = port_block(4);
    let capture = PayloadCapture::start(&[agent_media]);
    let agent_phone = Sipp::new("uas_answer_silent", phone)
        .media(agent_media)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let stream = sw.dir.join("noisy.al");
    std::fs::write(&stream, noisy_talker()).unwrap();
    let scenario = streaming_scenario(&sw.dir, "uac_queue_call", "uac_noisy_customer", &stream);
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
    let switch = |token: &str, enabled: bool| {
        call(
            &sw,
            "PUT",
            &format!("/api/v1/interactions/{ix}/noise-suppression"),
            token,
            Some(json!({"enabled": enabled})),
        )
    };
    // Agents may not switch it unless the admin allows it.
    let (status, json) = switch(&alice.token, false);
    assert_eq!(status, 403, "{json}");
    let (status, json) = switch(&sam.token, false);
    assert_eq!(status, 200, "{json}");
    alice.expect("interaction.noise_suppression_changed", |e| {
        e["data"]["enabled"] == false
    });
    let off_from = unix_seconds() + 0.3;
    std::thread::sleep(Duration::from_millis(3000));
    let off_to = unix_seconds();
    // Once the admin allows it, the agent may switch it on its own call.
    ok(
        &sw,
        "PUT",
        "/api/v1/settings",
        &admin,
        json!({"agents_may_toggle_noise_suppression": true}),
    );
    let (status, json) = switch(&alice.token, true);
    assert_eq!(status, 200, "{json}");
    let (status, _) = alice.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    assert_eq!(status, 200);
    customer.expect_success();
    agent_phone.expect_success();
    // The change is kept on the interaction: what, when and who.
    let (_, stored) = call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{ix}"),
        &admin,
        None,
    );
    let changes = stored["media_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(changes.len(), 2, "{stored}");
    assert_eq!(changes[0]["setting"], "noise_suppression", "{stored}");
    assert_eq!(changes[0]["enabled"], false, "{stored}");
    assert_eq!(changes[0]["by"], "sam", "{stored}");
    assert_eq!(changes[1]["enabled"], true, "{stored}");
    assert_eq!(changes[1]["by"], "alice", "{stored}");
    let frames: Vec<(f64, f64)> = capture
        .stop()
        .iter()
        .map(|f| (f.time, level_db(&f.samples)))
        .collect();

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
