//! Noise suppression in the relay path, end to end over loopback UDP: a customer phone sends
//! noisy speech as PCMU RTP, the agent phone captures what the switch relays.
//!
//! The engine does not care about pacing (the rewriter only re-anchors timestamps that run
//! ahead of the clock, which leaves payloads alone), so audio is sent at four times real
//! time.

use super::harness::{self, Call, Phone};
use crate::media::test_signals as sig;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

/// Eight seconds of a talker (0.6 s spurts, 0.6 s pauses) over white noise and babble.
fn noisy_speech() -> (Vec<i16>, Vec<bool>) {
    let n = 8000 * 8;
    let (speech, talking) = sig::talker(n, 0.6, 0.6, 8000.0);
    let white = sig::white_noise(n, 600.0, 9);
    let babble = sig::babble(n, 200.0);
    let mixed: Vec<f32> = (0..n).map(|i| speech[i] + white[i] + babble[i]).collect();
    (sig::to_pcm(&mixed), talking)
}

/// Sends `payloads` from `from` at 5 ms intervals while `to` captures; returns what `to` got.
async fn send_and_capture(from: &mut Phone, to: &Phone, payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let send = async {
        let mut ticker = tokio::time::interval(Duration::from_millis(5));
        for p in payloads {
            ticker.tick().await;
            from.send_audio(p).await;
        }
    };
    let (_, got) = tokio::join!(send, to.drain_audio(QUIET));
    got
}

/// (speech, pause) energy in dB over the interiors of spurts and pauses after the first two
/// seconds (RNNoise's noise estimate settles), with `out` shifted back by `lag` samples.
fn speech_and_pause_db(out: &[i16], talking: &[bool], lag: usize) -> (f32, f32) {
    let n = talking.len();
    let edge = 400;
    let interior = move |i: usize| {
        i >= 16_000
            && i + edge + lag < n
            && (i - edge..i + edge)
                .step_by(50)
                .all(|j| talking[j] == talking[i])
    };
    let shifted = &out[lag.min(out.len())..];
    (
        sig::energy_db(shifted, |i| interior(i) && talking[i]),
        sig::energy_db(shifted, |i| interior(i) && !talking[i]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denoising_the_customer_cuts_noise_in_pauses_by_10_db_and_keeps_speech_within_3_db() {
    let Call {
        mut engine,
        mut customer,
        agent,
        ..
    } = harness::call().await;
    engine.set_denoise(customer.endpoint, true);
    let (input, talking) = noisy_speech();
    let sent = harness::packets(&input);
    let got = send_and_capture(&mut customer, &agent, &sent).await;
    assert_eq!(got.len(), sent.len(), "every packet is relayed");
    let before = harness::decode(&sent);
    let after = harness::decode(&got);
    let (speech_in, noise_in) = speech_and_pause_db(&before, &talking, 0);
    // RNNoise plus the resamplers delay the cleaned stream by 106 samples (13.3 ms).
    let (speech_out, noise_out) = speech_and_pause_db(&after, &talking, 106);
    eprintln!(
        "speech {speech_in:.1} → {speech_out:.1} dB, pauses {noise_in:.1} → {noise_out:.1} dB"
    );
    assert!(
        noise_in - noise_out >= 10.0,
        "noise in pauses only {:.1} dB lower",
        noise_in - noise_out
    );
    assert!(
        (speech_in - speech_out).abs() <= 3.0,
        "speech moved by {:.1} dB",
        speech_out - speech_in
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_denoise_the_agent_receives_the_customers_bytes_unchanged() {
    // The engine is kept: dropping it stops its shards.
    let Call {
        engine: _engine,
        mut customer,
        agent,
        ..
    } = harness::call().await;
    let (input, _) = noisy_speech();
    let sent = harness::packets(&input[..8000 * 2]);
    let got = send_and_capture(&mut customer, &agent, &sent).await;
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denoise_toggled_mid_call_changes_what_arrives_and_only_in_that_direction() {
    let Call {
        mut engine,
        mut customer,
        mut agent,
        ..
    } = harness::call().await;
    let (input, _) = noisy_speech();
    let sent = harness::packets(&input[..8000 * 6]);
    let (first, rest) = sent.split_at(100);
    let (second, third) = rest.split_at(100);

    let got = send_and_capture(&mut customer, &agent, first).await;
    assert_eq!(got, first, "off: fast path");

    engine.set_denoise(customer.endpoint, true);
    let got = send_and_capture(&mut customer, &agent, second).await;
    assert_eq!(got.len(), second.len());
    assert_eq!(got[0], second[0], "the warm-up packet is relayed raw");
    let changed = got.iter().zip(second).filter(|(a, b)| a != b).count();
    assert!(changed > 95, "only {changed} packets cleaned");
    // The agent's direction is a separate switch, still on the fast path.
    let back = send_and_capture(&mut agent, &customer, first).await;
    assert_eq!(back, first);
    // Telephone-events pass the suppressor untouched.
    customer.send_event(5, false, 160).await;
    let event = agent.recv(QUIET).await;
    assert_eq!(event, Some((harness::EVENT_PT, vec![5, 10, 0, 160])));

    engine.set_denoise(customer.endpoint, false);
    let got = send_and_capture(&mut customer, &agent, third).await;
    assert_eq!(got.len(), third.len());
    assert_ne!(got[0], third[0], "one packet crossfades back to raw");
    assert_eq!(got[1..], third[1..], "then the fast path again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_bridged_across_shards_move_together_and_relay_both_ways() {
    use crate::call::EndpointId;
    use crate::media::player::Announcement;
    let (tx, _events) = tokio::sync::mpsc::channel(16);
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut engine = super::MediaEngine::with_shards(loopback, Duration::from_secs(30), tx, 2);
    let mut a = harness::phone(&mut engine, EndpointId(1), 0x1111).await;
    let mut b = harness::phone(&mut engine, EndpointId(2), 0x2222).await;
    // Each on hold alone: placed on the shards in turn.
    engine.play(a.endpoint, Announcement::chime());
    engine.play(b.endpoint, Announcement::chime());
    assert_ne!(engine.shard_of(a.endpoint), engine.shard_of(b.endpoint));
    engine.stop_playing(a.endpoint);
    engine.stop_playing(b.endpoint);
    engine.bridge(a.endpoint, b.endpoint);
    assert_eq!(engine.shard_of(a.endpoint), engine.shard_of(b.endpoint));
    a.drain_audio(QUIET).await;
    b.drain_audio(QUIET).await;
    let (input, _) = noisy_speech();
    let sent = harness::packets(&input[..8000]);
    assert_eq!(send_and_capture(&mut a, &b, &sent).await, sent);
    assert_eq!(send_and_capture(&mut b, &a, &sent).await, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_phone_is_reported_inactive_once_and_a_held_one_never() {
    use crate::call::{EndpointId, MediaEvent};
    use crate::media::sdp::Direction;
    let (tx, mut events) = tokio::sync::mpsc::channel(16);
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut engine = super::MediaEngine::new(loopback, Duration::from_millis(300), tx);
    let silent = harness::phone(&mut engine, EndpointId(1), 1).await;
    let held = harness::phone(&mut engine, EndpointId(2), 2).await;
    engine.bridge(silent.endpoint, held.endpoint);
    let negotiated = crate::media::sdp::Negotiated {
        codec: crate::media::sdp::Codec::pcmu(),
        telephone_event: None,
        srtp: None,
    };
    let latch = crate::media::relay::LatchPolicy::signalling(loopback);
    engine.configure(held.endpoint, None, negotiated, Direction::Inactive, latch);
    let first = harness::next_event(&mut events, Duration::from_secs(2)).await;
    assert_eq!(
        first,
        Some(MediaEvent::Inactive {
            endpoint: silent.endpoint
        })
    );
    assert_eq!(
        harness::next_event(&mut events, Duration::from_millis(800)).await,
        None
    );
}

/// One press of 5 as RFC 4733 events: starts and the three ends of one event share its
/// timestamp; the audio packet after moves the clock on, so the next press is a new event.
async fn press_five(customer: &mut Phone) {
    for i in 1..=3 {
        customer.send_event(5, false, i * 160).await;
    }
    for _ in 0..3 {
        customer.send_event(5, true, 640).await;
    }
    customer.send_audio(&[0xff; 160]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_customer_presses_reaches_the_core_once_detection_is_on_and_is_still_relayed() {
    use crate::call::MediaEvent;
    let Call {
        mut engine,
        mut events,
        mut customer,
        agent,
    } = harness::call().await;
    press_five(&mut customer).await;
    let wait = Duration::from_millis(300);
    assert_eq!(
        harness::next_event(&mut events, wait).await,
        None,
        "off by default"
    );
    engine.detect_digits(customer.endpoint, true);
    press_five(&mut customer).await;
    assert_eq!(
        harness::next_event(&mut events, Duration::from_secs(2)).await,
        Some(MediaEvent::Digit {
            endpoint: customer.endpoint,
            digit: '5'
        })
    );
    assert_eq!(harness::next_event(&mut events, wait).await, None, "once");
    let mut relayed = 0;
    while let Some((pt, _)) = agent.recv(QUIET).await {
        relayed += usize::from(pt == harness::EVENT_PT);
    }
    assert_eq!(relayed, 12, "both presses' events reach the agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_phone_sent_before_its_endpoint_was_placed_is_read_once_it_is() {
    use crate::call::EndpointId;
    let (tx, _events) = tokio::sync::mpsc::channel(16);
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut engine = super::MediaEngine::new(loopback, Duration::from_secs(30), tx);
    let mut a = harness::phone(&mut engine, EndpointId(1), 0x1111).await;
    let b = harness::phone(&mut engine, EndpointId(2), 0x2222).await;
    // Nothing polls `a`'s socket yet: the packet waits in the kernel.
    let sent = harness::packets(&[0i16; 160]);
    a.send_audio(&sent[0]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    // As the runtime does, the shard is woken once for the whole round of commands (placing
    // `a` and `b`, bridging them), so it applies them all before it polls.
    engine.defer_wakes();
    engine.bridge(a.endpoint, b.endpoint);
    engine.wake_shards();

    // Registering the readable socket with the shard's poll reported it: the packet is read
    // then, after the bridge, and reaches `b`.
    assert_eq!(b.drain_audio(QUIET).await, sent);
}
