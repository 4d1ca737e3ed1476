//! Recording in the media path, end to end over loopback UDP at real-time pacing: what the
//! WAV and its sidecar hold after the phones talked through a [`MediaEngine`].

use super::harness::{self, Call};
use crate::call::MediaEvent;
use crate::media::recorder::timeline::DEPTH;
use crate::media::recorder::{PauseBehavior, RecordingId, Sidecar};
use crate::media::test_signals as sig;
use crate::runtime::clock;
use crate::runtime::recording::day_folder;
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(3);

fn temp_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "sb-media-rec-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// 440 Hz from the customer, 1 kHz from the agent, one packet each per 20 ms.
struct Tones {
    customer: Vec<Vec<u8>>,
    agent: Vec<Vec<u8>>,
}

fn tones(packets: usize) -> Tones {
    let n = packets * 160;
    Tones {
        customer: harness::packets(&sig::to_pcm(&sig::tone(440.0, n, 8000.0))),
        agent: harness::packets(&sig::to_pcm(&sig::tone(1000.0, n, 8000.0))),
    }
}

/// `packets` packets of a steady tone plus an in-band DTMF pair (`row` Hz and 1209 Hz).
fn keyed_packets(steady: f32, row: f32, packets: usize) -> Vec<Vec<u8>> {
    let n = packets * 160;
    let (a, b, c) = (
        sig::tone(steady, n, 8000.0),
        sig::tone(row, n, 6000.0),
        sig::tone(1209.0, n, 6000.0),
    );
    let mixed: Vec<f32> = (0..n).map(|i| a[i] + b[i] + c[i]).collect();
    harness::packets(&sig::to_pcm(&mixed))
}

async fn expect_started(call: &mut Call) -> PathBuf {
    match harness::next_event(&mut call.events, WAIT).await {
        Some(MediaEvent::RecordingStarted { path, .. }) => path,
        other => panic!("expected RecordingStarted, got {other:?}"),
    }
}

/// A bridged call whose recording `name` has started: the call, the recording, its WAV and
/// when it was asked for.
async fn recorded_call(name: &str) -> (Call, RecordingId, PathBuf, std::time::Instant) {
    let mut call = harness::call().await;
    let id = RecordingId(name.into());
    let (customer, agent) = (call.customer.endpoint, call.agent.endpoint);
    let began = clock::now();
    call.engine
        .start_recording(id.clone(), customer, &[agent], temp_dir());
    let path = expect_started(&mut call).await;
    (call, id, path, began)
}

async fn expect_stopped(call: &mut Call) -> PathBuf {
    loop {
        match harness::next_event(&mut call.events, WAIT).await {
            Some(MediaEvent::RecordingStopped { path, .. }) => return path,
            Some(MediaEvent::RecordingPaused { .. } | MediaEvent::RecordingResumed { .. }) => {}
            other => panic!("expected RecordingStopped, got {other:?}"),
        }
    }
}

/// Interleaved stereo samples of a WAV.
/// The JSON sidecar beside the WAV at `path`.
fn read_sidecar(path: &Path) -> Sidecar {
    serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap()
}

fn read_wav(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).expect("readable WAV");
    assert_eq!(reader.spec().channels, 2);
    assert_eq!(reader.spec().sample_rate, 8000);
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    (
        samples.iter().step_by(2).copied().collect(),
        samples.iter().skip(1).step_by(2).copied().collect(),
    )
}

fn ms(samples: usize) -> i64 {
    i64::try_from(samples / 8).unwrap_or(i64::MAX)
}

/// Longest run of stereo samples that are zero on both channels, in samples.
fn longest_digital_silence(left: &[i16], right: &[i16]) -> usize {
    let (mut best, mut run) = (0, 0);
    for (l, r) in left.iter().zip(right) {
        run = if *l == 0 && *r == 0 { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Plays `tones` from both phones at 20 ms pacing, calling `at(packet index, call)` before
/// each packet is sent; returns how long it took.
async fn talk<F>(call: &mut Call, tones: &Tones, mut at: F) -> Duration
where
    F: FnMut(usize, &mut Call) -> Option<Vec<u8>>,
{
    let started = clock::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for i in 0..tones.customer.len() {
        ticker.tick().await;
        if let Some(digit) = at(i, call) {
            for d in digit {
                call.customer.send_event(d, true, 400).await;
            }
        }
        call.customer.send_audio(&tones.customer[i]).await;
        call.agent.send_audio(&tones.agent[i]).await;
    }
    clock::now().duration_since(started)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_puts_the_customer_left_and_the_agent_right_for_the_length_of_the_call() {
    let (mut call, id, path, began) = recorded_call("ix-tones").await;
    assert!(
        path.ends_with(Path::new(&day_folder(clock::unix_now())).join("ix-tones.wav")),
        "{path:?}"
    );
    // No other local user may list or read a recording.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "the WAV");
        assert_eq!(mode(path.parent().unwrap()), 0o700, "its day folder");
        assert_eq!(
            mode(path.parent().unwrap().parent().unwrap()),
            0o700,
            "the root"
        );
    }
    let sent = tones(100);
    let took = talk(&mut call, &sent, |_, _| None).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    call.engine.stop_recording(&id);
    let lived_ms = i64::try_from(began.elapsed().as_millis()).unwrap_or(0);
    assert_eq!(expect_stopped(&mut call).await, path);

    let (left, right) = read_wav(&path);
    eprintln!(
        "sent {} ms of packets in {took:?}; WAV {} ms",
        100 * 20,
        ms(left.len())
    );
    // The timeline is the clock: the file is as long as the recording lived.
    assert!(
        (ms(left.len()) - lived_ms).abs() <= 80,
        "{} ms for {lived_ms} ms",
        ms(left.len())
    );
    let db = |x: &[i16], f: f32, g: f32| 10.0 * (sig::goertzel(x, f) / sig::goertzel(x, g)).log10();
    assert!(db(&left, 440.0, 1000.0) > 30.0, "left is the customer");
    assert!(db(&right, 1000.0, 440.0) > 30.0, "right is the agent");
    let sidecar = read_sidecar(&path);
    assert_eq!(sidecar.interaction, "ix-tones");
    assert!(sidecar.ended_at_ms.is_some() && !sidecar.interrupted);
    // Both phones still heard each other.
    assert!(call.agent.recv(WAIT).await.is_some());
    assert!(call.customer.recv(WAIT).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_pause_writes_digital_zero_for_its_span_and_dtmf_while_paused_is_kept_nowhere() {
    let (mut call, id, path, began) = recorded_call("ix-secure").await;
    // The card number is also heard in band while paused: DTMF 4 from the customer, 1 from
    // the agent, on top of their steady tones. Without the pause these reach the WAV.
    let mut sent = tones(150);
    let keyed = 60..76;
    sent.customer[keyed.clone()].clone_from_slice(&keyed_packets(440.0, 770.0, keyed.len()));
    sent.agent[keyed.clone()].clone_from_slice(&keyed_packets(1000.0, 697.0, keyed.len()));
    let mut paused_at = None;
    let mut span = Duration::ZERO;
    let rid = id.clone();
    talk(&mut call, &sent, |i, call| match i {
        50 => {
            paused_at = Some(clock::now());
            call.engine.pause_recording(
                &rid,
                PauseBehavior::Silence,
                "agent-7".into(),
                Some("card number".into()),
            );
            None
        }
        // The card number, keyed on the phone while paused: RFC 4733 events.
        60..=75 if i % 4 == 0 => Some(vec![4, 1, 1, 1]),
        100 => {
            span = paused_at
                .map(|t| clock::now().duration_since(t))
                .unwrap_or_default();
            call.engine.resume_recording(&rid, true);
            None
        }
        _ => None,
    })
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    call.engine.stop_recording(&id);
    let lived_ms = i64::try_from(began.elapsed().as_millis()).unwrap_or(0);
    let mut events = Vec::new();
    while let Some(event) = harness::next_event(&mut call.events, WAIT).await {
        let stopped = matches!(event, MediaEvent::RecordingStopped { .. });
        events.push(format!("{event:?}").to_lowercase());
        if stopped {
            break;
        }
    }
    assert!(
        events
            .last()
            .is_some_and(|e| e.contains("recordingstopped")),
        "{events:?}"
    );
    for word in ["dtmf", "digit", "telephone"] {
        assert!(
            events.iter().all(|e| !e.contains(word)),
            "a media event mentions {word}: {events:?}"
        );
    }

    let (left, right) = read_wav(&path);
    // No DTMF tone anywhere in the file, on either side: the only tones are 440 Hz and 1 kHz.
    for (side, x, steady) in [("customer", &left, 440.0), ("agent", &right, 1000.0)] {
        for f in [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0] {
            let leak = 10.0 * (sig::goertzel(x, f) / sig::goertzel(x, steady)).log10();
            assert!(leak < -30.0, "{side}: {f} Hz at {leak:.1} dB");
        }
    }
    let zero = longest_digital_silence(&left, &right);
    let span_ms = i64::try_from(span.as_millis()).unwrap_or(0);
    eprintln!(
        "paused {span_ms} ms, digital silence {} ms, WAV {} ms",
        ms(zero),
        ms(left.len())
    );
    assert!(
        (ms(zero) - span_ms).abs() <= 60,
        "{} ms of zero for {span_ms} ms",
        ms(zero)
    );
    assert!(
        (ms(left.len()) - lived_ms).abs() <= 80,
        "{} ms for {lived_ms} ms",
        ms(left.len())
    );
    let text = std::fs::read_to_string(path.with_extension("json")).unwrap();
    for word in ["event", "dtmf", "digit", "\"4\"", "\"1\""] {
        assert!(
            !text.to_lowercase().contains(word),
            "sidecar mentions {word}"
        );
    }
    let sidecar: Sidecar = serde_json::from_str(&text).unwrap();
    assert_eq!(sidecar.pauses.len(), 1);
    let pause = &sidecar.pauses[0];
    assert_eq!(pause.by, "agent-7");
    assert_eq!(pause.behavior, PauseBehavior::Silence);
    assert!(pause.auto_resumed);
    let recorded = pause.resumed_at_ms.unwrap_or(0) - pause.paused_at_ms;
    assert!(
        (recorded - span_ms).abs() <= 60,
        "sidecar span {recorded} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipping_pause_makes_the_file_shorter_by_the_paused_span() {
    let (mut call, id, path, began) = recorded_call("ix-skip").await;
    let sent = tones(150);
    let mut paused_at = None;
    let mut span = Duration::ZERO;
    let rid = id.clone();
    talk(&mut call, &sent, |i, call| {
        if i == 50 {
            paused_at = Some(clock::now());
            call.engine
                .pause_recording(&rid, PauseBehavior::Skip, "agent-7".into(), None);
        }
        if i == 100 {
            span = paused_at
                .map(|t| clock::now().duration_since(t))
                .unwrap_or_default();
            call.engine.resume_recording(&rid, false);
        }
        None
    })
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    call.engine.stop_recording(&id);
    // The timeline is the clock: on a loaded machine the talk loop can run past its 3 s, so
    // the file is compared with how long the recording really lived, not with 3 s.
    let lived_ms = i64::try_from(began.elapsed().as_millis()).unwrap_or(0);
    expect_stopped(&mut call).await;

    let (left, right) = read_wav(&path);
    let span_ms = i64::try_from(span.as_millis()).unwrap_or(0);
    let sidecar = read_sidecar(&path);
    let pause = &sidecar.pauses[0];
    let skipped_ms = pause.resumed_at_ms.unwrap_or(0) - pause.paused_at_ms;
    eprintln!(
        "paused {span_ms} ms (sidecar {skipped_ms} ms), lived {lived_ms} ms, WAV {} ms",
        ms(left.len())
    );
    assert!(
        (skipped_ms - span_ms).abs() <= 60,
        "sidecar span {skipped_ms} ms"
    );
    assert!(
        (ms(left.len()) - (lived_ms - skipped_ms)).abs() <= 80,
        "{} ms",
        ms(left.len())
    );
    assert!(longest_digital_silence(&left, &right) < 8 * 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_recordings_folder_fails_the_recording_but_not_the_call() {
    let mut call = harness::call().await;
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // A folder under a regular file: unwritable even for root.
    let file = dir.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let id = RecordingId("ix-fail".into());
    let (customer, agent) = (call.customer.endpoint, call.agent.endpoint);
    call.engine
        .start_recording(id.clone(), customer, &[agent], file.join("recordings"));
    match harness::next_event(&mut call.events, WAIT).await {
        Some(MediaEvent::RecordingFailed { recording, error }) => {
            assert_eq!(recording, id);
            assert!(!error.is_empty());
        }
        other => panic!("expected RecordingFailed, got {other:?}"),
    }
    let sent = tones(10);
    for p in &sent.customer {
        call.customer.send_audio(p).await;
    }
    assert_eq!(
        call.agent.drain_audio(Duration::from_millis(300)).await,
        sent.customer
    );
    let taps = call.engine.tap_count(customer);
    assert_eq!(taps, 0, "the customer's packets are back on the fast path");
    // Commands for the failed recording are harmless.
    call.engine
        .pause_recording(&id, PauseBehavior::Silence, "agent-7".into(), None);
    call.engine.stop_recording(&id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_mid_call_fails_the_recording_but_not_the_call() {
    let mut call = harness::call().await;
    let dir = temp_dir();
    let day = dir.join(day_folder(clock::unix_now()));
    std::fs::create_dir_all(&day).unwrap();
    // The WAV lands on /dev/full: creating it works, the first flush reports ENOSPC.
    std::os::unix::fs::symlink("/dev/full", day.join("ix-full.wav")).unwrap();
    let id = RecordingId("ix-full".into());
    let (customer, agent) = (call.customer.endpoint, call.agent.endpoint);
    call.engine
        .start_recording(id.clone(), customer, &[agent], dir.clone());
    let mut failed = None;
    while let Some(event) = harness::next_event(&mut call.events, WAIT).await {
        if let MediaEvent::RecordingFailed { error, .. } = event {
            failed = Some(error);
            break;
        }
    }
    let error = failed.expect("RecordingFailed");
    assert!(error.to_lowercase().contains("space"), "{error}");
    let sent = tones(10);
    for p in &sent.agent {
        call.agent.send_audio(p).await;
    }
    assert_eq!(
        call.customer.drain_audio(Duration::from_millis(300)).await,
        sent.agent
    );
    let taps = call.engine.tap_count(agent);
    assert_eq!(taps, 0, "the agent's packets are back on the fast path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn music_on_hold_is_never_recorded() {
    let mut call = harness::call().await;
    let dir = temp_dir();
    let id = RecordingId("ix-hold".into());
    let (customer, agent) = (call.customer.endpoint, call.agent.endpoint);
    call.engine
        .start_recording(id.clone(), customer, &[agent], dir.clone());
    let path = expect_started(&mut call).await;
    // Both legs on hold: the switch plays music to each phone, the phones say nothing.
    call.engine.recording_hold(&id, true);
    call.engine
        .play(customer, crate::media::player::Announcement::chime());
    call.engine
        .play(agent, crate::media::player::Announcement::chime());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        call.agent.recv(WAIT).await.is_some(),
        "music reaches the agent"
    );
    call.engine.recording_hold(&id, false);
    call.engine.recording_hold(&id, false);
    // Stop follows the marks on the same control queue: no wait needed.
    call.engine.stop_recording(&id);
    expect_stopped(&mut call).await;
    let (left, right) = read_wav(&path);
    assert!(ms(left.len()) >= 500);
    assert!(left.iter().chain(&right).all(|s| *s == 0));
    // The hold is marked in the sidecar, once, with its end.
    let sidecar = read_sidecar(&path);
    assert_eq!(sidecar.holds.len(), 1, "{sidecar:?}");
    let hold = &sidecar.holds[0];
    let held_ms = hold.resumed_at_ms.unwrap_or(0) - hold.held_at_ms;
    assert!((550..=1500).contains(&held_ms), "held {held_ms} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_cut_off_mid_call_is_already_a_readable_wav() {
    let (mut call, id, path, began) = recorded_call("ix-crash").await;
    talk(&mut call, &tones(100), |_, _| None).await;
    // What a SIGKILL now would leave: the header as of the last once-a-second flush, which
    // covers the frames that had left the jitter buffer by then.
    let reader = hound::WavReader::open(&path).expect("readable mid-call");
    let seconds = f64::from(reader.duration()) / 8000.0;
    let lag = began.elapsed().as_secs_f64() - seconds;
    let depth = DEPTH.as_secs_f64();
    assert!(
        (depth..=depth + 1.2).contains(&lag),
        "{seconds} s readable, {lag} s behind"
    );
    call.engine.stop_recording(&id);
    expect_stopped(&mut call).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conference_records_every_agent_side_phone_mixed_on_the_right() {
    let mut call = harness::call().await;
    let dir = temp_dir();
    let id = RecordingId("ix-conf".into());
    let (customer, agent) = (call.customer.endpoint, call.agent.endpoint);
    let supervisor_id = crate::call::EndpointId(3);
    // The supervisor's endpoint is named before it is opened, as when a conference is set up.
    call.engine
        .start_recording(id.clone(), customer, &[agent, supervisor_id], dir.clone());
    let path = expect_started(&mut call).await;
    let mut supervisor = harness::phone(&mut call.engine, supervisor_id, 0x3333).await;
    let third = harness::packets(&sig::to_pcm(&sig::tone(1500.0, 60 * 160, 8000.0)));
    talk(&mut call, &tones(60), |_, _| None).await;
    // Then agent and supervisor talk together.
    let agent_tone = tones(1).agent.remove(0);
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for p in &third {
        ticker.tick().await;
        supervisor.send_audio(p).await;
        call.agent.send_audio(&agent_tone).await;
    }
    call.engine.stop_recording(&id);
    expect_stopped(&mut call).await;
    let (left, right) = read_wav(&path);
    let second_half = &right[right.len() / 2 + 800..];
    let db = |f: f32, g: f32| {
        10.0 * (sig::goertzel(second_half, f) / sig::goertzel(second_half, g)).log10()
    };
    assert!(
        db(1000.0, 440.0) > 30.0 && db(1500.0, 440.0) > 30.0,
        "both agent-side phones"
    );
    assert!(sig::goertzel(&left, 1500.0) < sig::goertzel(&left, 440.0) / 1000.0);
}

/// The samples from the first to the last non-zero one, and the longest run of zeros there.
fn speech_span(channel: &[i16]) -> (usize, usize) {
    let first = channel.iter().position(|s| *s != 0).unwrap_or(0);
    let last = channel.iter().rposition(|s| *s != 0).unwrap_or(0);
    let speech = channel.get(first..=last).unwrap_or(&[]);
    let longest = speech
        .split(|s| *s != 0)
        .map(<[i16]>::len)
        .max()
        .unwrap_or(0);
    (speech.len(), longest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_stalls_then_bursts_is_recorded_whole_with_no_silence_inserted() {
    const PACKETS: usize = 150;
    let (mut call, id, path, began) = recorded_call("ix-bursty").await;
    // The customer's phone stalls for 74 ms at packet 40 and 162 ms at packet 100 (issue
    // 13's loopback figures), then sends its backlog at once; the agent's phone is steady.
    let start = clock::now() + Duration::from_millis(20);
    let due = |i: usize| start + Duration::from_millis(20) * u32::try_from(i).unwrap_or(0);
    let stalled = |i: usize| {
        [(40, 74), (100, 162)]
            .into_iter()
            .map(|(at, ms)| (due(at), due(at) + Duration::from_millis(ms)))
            .find(|(from, to)| (*from..=*to).contains(&due(i)))
            .map_or(due(i), |(_, to)| to)
    };
    let sent = tones(PACKETS);
    let mut sends: Vec<_> = (0..PACKETS)
        .flat_map(|i| [(stalled(i), true, i), (due(i), false, i)])
        .collect();
    sends.sort_by_key(|(at, _, _)| *at);
    for (at, from_customer, i) in sends {
        tokio::time::sleep_until(at.into()).await;
        if from_customer {
            call.customer.send_audio(&sent.customer[i]).await;
        } else {
            call.agent.send_audio(&sent.agent[i]).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    call.engine.stop_recording(&id);
    let lived_ms = i64::try_from(began.elapsed().as_millis()).unwrap_or(0);
    expect_stopped(&mut call).await;

    let (left, right) = read_wav(&path);
    for (side, channel) in [("customer", &left), ("agent", &right)] {
        let (span, longest_zero) = speech_span(channel);
        eprintln!("{side}: {span} samples of speech, longest zero run {longest_zero}");
        // A tone crosses zero on a sample now and then; a lost or inserted frame is 160.
        assert!(
            longest_zero <= 2,
            "{side}: {longest_zero} samples of silence inside"
        );
        assert!(
            (PACKETS * 160 - 2..=PACKETS * 160).contains(&span),
            "{side}: {span} samples for {} sent",
            PACKETS * 160
        );
    }
    assert!(
        (ms(left.len()) - lived_ms).abs() <= 80,
        "{} ms for {lived_ms} ms",
        ms(left.len())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn what_is_said_right_after_a_resume_is_kept_while_the_recorder_waits_for_its_thread() {
    use crate::call::EndpointId;
    use crate::media::recorder::timeline::AudioPacket;
    use crate::media::rtp::Ssrc;
    use crate::runtime::recording::RecordingHandle;

    let (events, mut rx) = tokio::sync::mpsc::channel(16);
    let (customer, agent) = (EndpointId(1), EndpointId(2));
    let id = RecordingId("ix-starved".into());
    let handle = RecordingHandle::spawn(id, temp_dir(), customer, &[agent], events);
    let path = match harness::next_event(&mut rx, WAIT).await {
        Some(MediaEvent::RecordingStarted { path, .. }) => path,
        other => panic!("expected RecordingStarted, got {other:?}"),
    };
    handle.pause(PauseBehavior::Silence, "agent-7".into(), None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.resume(false);
    // The customer talks on for half a second while this thread, the only one the recorder's
    // task can run on, is busy: the task cannot note the resume before the last packet.
    let tone = sig::to_pcm(&sig::tone(440.0, 25 * 160, 8000.0));
    for (i, samples) in tone.chunks_exact(160).enumerate() {
        let packet = AudioPacket {
            ssrc: Ssrc(7),
            sequence: u16::try_from(i).unwrap(),
            timestamp: u32::try_from(i * 160).unwrap(),
            marker: i == 0,
            samples,
        };
        assert!(
            handle
                .feeds
                .lock()
                .unwrap()
                .push(clock::now(), customer, &packet)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    tokio::time::sleep(DEPTH + Duration::from_millis(100)).await;
    handle.stop();
    loop {
        match harness::next_event(&mut rx, WAIT).await {
            Some(MediaEvent::RecordingStopped { .. }) => break,
            Some(MediaEvent::RecordingPaused { .. } | MediaEvent::RecordingResumed { .. }) => {}
            other => panic!("expected RecordingStopped, got {other:?}"),
        }
    }
    let (left, _) = read_wav(&path);
    // A 440 Hz tone at 8,000 is above 1,000 in 92 % of its samples: 3,680 of the 4,000.
    let loud = left.iter().filter(|s| s.unsigned_abs() > 1000).count();
    assert!(
        loud > 3_400,
        "{} ms of the 500 ms said after the resume are in the file",
        ms(loud)
    );
    let sidecar = read_sidecar(&path);
    assert_eq!(sidecar.pauses.len(), 1);
    assert!(sidecar.pauses[0].resumed_at_ms.is_some());
}
