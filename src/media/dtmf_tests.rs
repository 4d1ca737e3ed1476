//! RFC 4733 decoding and the in-band detector against generated tones, noise and speech.

use super::*;
use crate::media::test_signals::{babble, dbm0, dtmf, sweep, talker, to_pcm, tone, white_noise};

/// Samples in `ms` milliseconds at 8 kHz.
fn ms(ms: usize) -> usize {
    ms * 8
}

fn silence(n: usize) -> Vec<f32> {
    vec![0.0; n]
}

/// The keys a fresh detector hears in `signal`, G.711-encoded in `law` and fed as 20 ms
/// packets.
fn heard_in(law: Law, signal: &[f32]) -> String {
    let codes: Vec<u8> = to_pcm(signal).iter().map(|s| law.encode(*s)).collect();
    let mut detector = InbandDetector::new();
    let mut keys = String::new();
    for packet in codes.chunks(160) {
        detector.push_g711(law, packet, |key| keys.push(key));
    }
    keys
}

fn heard(signal: &[f32]) -> String {
    heard_in(Law::Mu, signal)
}

/// `key` for `on` ms then `off` ms of silence, at -10 dBm0 per tone.
fn press(key: char, on: usize, off: usize) -> Vec<f32> {
    let mut signal = dtmf(key, ms(on), -10.0);
    signal.extend(silence(ms(off)));
    signal
}

const KEYS: &str = "123A456B789C*0#D";

#[test]
fn every_key_is_heard_once_in_pcmu_and_in_pcma() {
    for law in [Law::Mu, Law::A] {
        for key in KEYS.chars() {
            let signal = press(key, 100, 100);
            assert_eq!(heard_in(law, &signal), key.to_string(), "{law:?}");
        }
    }
}

#[test]
fn a_sequence_with_pauses_is_heard_in_order_and_a_repeated_key_twice() {
    let mut signal = silence(ms(30));
    for key in "1211".chars() {
        signal.extend(press(key, 70, 60));
    }
    assert_eq!(heard(&signal), "1211");
}

#[test]
fn a_key_held_for_half_a_second_is_one_digit() {
    assert_eq!(heard(&press('5', 500, 100)), "5");
}

#[test]
fn a_forty_ms_tone_is_heard_wherever_it_falls_in_the_blocks() {
    for offset in (0..BLOCK).step_by(3) {
        let mut signal = silence(offset);
        signal.extend(press('9', 40, 60));
        assert_eq!(heard(&signal), "9", "offset {offset}");
    }
}

#[test]
fn a_tone_of_22_ms_or_less_is_never_a_digit() {
    for offset in (0..BLOCK).step_by(3) {
        let mut signal = silence(offset);
        signal.extend(press('9', 20, 60));
        signal.extend(press('3', 22, 60));
        assert_eq!(heard(&signal), "", "offset {offset}");
    }
}

#[test]
fn a_key_changed_without_a_pause_is_heard_once_the_pause_rule_is_met() {
    // '1' straight into '2': the first blocks of '2' are the pause that ends '1'.
    let mut signal = dtmf('1', ms(80), -10.0);
    signal.extend(press('2', 80, 60));
    assert_eq!(heard(&signal), "12");
    // Too short a '2' after '1' to be both the pause and a key of its own.
    let mut signal = dtmf('1', ms(80), -10.0);
    signal.extend(press('2', 40, 60));
    assert_eq!(heard(&signal), "1");
}

#[test]
fn a_single_tone_of_either_group_is_not_a_key() {
    for f in ROWS.iter().chain(&COLUMNS) {
        let signal = tone(*f, ms(500), dbm0(-6.0));
        assert_eq!(heard(&signal), "", "{f} Hz");
    }
}

#[test]
fn tones_at_minus_20_dbm0_are_heard_and_far_below_the_threshold_are_not() {
    for key in KEYS.chars() {
        let mut signal = dtmf(key, ms(100), -20.0);
        signal.extend(silence(ms(100)));
        assert_eq!(heard(&signal), key.to_string());
    }
    let mut quiet = dtmf('5', ms(200), -45.0);
    quiet.extend(silence(ms(100)));
    assert_eq!(heard(&quiet), "");
}

#[test]
fn a_pair_off_its_frequencies_by_the_tolerance_q23_allows_is_heard() {
    for factor in [0.985f32, 1.015] {
        let mut signal: Vec<f32> = tone(852.0 * factor, ms(100), dbm0(-10.0))
            .iter()
            .zip(tone(1477.0 * factor, ms(100), dbm0(-10.0)))
            .map(|(a, b)| a + b)
            .collect();
        signal.extend(silence(ms(60)));
        assert_eq!(heard(&signal), "9", "factor {factor}");
    }
}

#[test]
fn twist_beyond_what_a_line_gives_is_not_a_key() {
    let pair = |row_level: f32, column_level: f32| -> Vec<f32> {
        tone(770.0, ms(100), dbm0(row_level))
            .iter()
            .zip(tone(1336.0, ms(100), dbm0(column_level)))
            .map(|(a, b)| a + b)
            .collect()
    };
    assert_eq!(heard(&pair(-10.0, -16.0)), "5", "6 dB normal twist");
    assert_eq!(heard(&pair(-13.0, -10.0)), "5", "3 dB reverse twist");
    assert_eq!(heard(&pair(-10.0, -22.0)), "", "12 dB normal twist");
    assert_eq!(heard(&pair(-18.0, -10.0)), "", "8 dB reverse twist");
}

#[test]
fn a_key_over_line_noise_is_heard() {
    let key = dtmf('0', ms(100), -15.0);
    let noise = white_noise(key.len() + ms(100), dbm0(-40.0), 3);
    let mut signal: Vec<f32> = key.iter().chain(&silence(ms(100))).copied().collect();
    for (s, n) in signal.iter_mut().zip(&noise) {
        *s += n;
    }
    assert_eq!(heard(&signal), "0");
}

#[test]
fn noise_speech_babble_and_a_sweep_make_no_digits() {
    let seconds = ms(5000);
    let (speech, _) = talker(seconds, 1.5, 0.5, dbm0(0.0));
    let loud_noise = white_noise(seconds, dbm0(0.0), 11);
    let crowd = babble(seconds, dbm0(-10.0));
    let slow_sweep = sweep(300.0, 3400.0, seconds, dbm0(-6.0));
    let fast_sweep = sweep(3400.0, 300.0, ms(500), dbm0(-6.0));
    for (name, signal) in [
        ("speech", speech),
        ("white noise", loud_noise),
        ("babble", crowd),
        ("slow sweep", slow_sweep),
        ("fast sweep", fast_sweep),
    ] {
        assert_eq!(heard(&signal), "", "{name}");
    }
}

#[test]
fn the_pcm_and_g711_entries_agree() {
    let signal = to_pcm(&press('#', 100, 100));
    let mut from_pcm = String::new();
    InbandDetector::new().push_pcm(&signal, |k| from_pcm.push(k));
    assert_eq!(from_pcm, "#");
}

// RFC 4733.

fn event(key: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent {
        event: key,
        end,
        volume: 10,
        duration,
    }
    .to_bytes()
}

#[test]
fn an_event_payload_is_read_field_by_field_and_written_back() {
    let bytes = [11, 0x80 | 0x40 | 7, 0x03, 0x20];
    let event = TelephoneEvent::parse(&bytes).unwrap();
    assert_eq!(
        event,
        TelephoneEvent {
            event: 11,
            end: true,
            volume: 7,
            duration: 800,
        },
        "the R bit is ignored"
    );
    assert_eq!(event.key(), Some('#'));
    assert_eq!(event.to_bytes(), [11, 0x87, 0x03, 0x20]);
    assert_eq!(
        TelephoneEvent::parse(&[1, 2, 3]),
        Err(DtmfError::Truncated { len: 3 })
    );
}

#[test]
fn events_0_to_15_are_the_sixteen_keys_and_flash_is_none() {
    let keys: String = (0..16)
        .filter_map(|e| TelephoneEvent::parse(&event(e, false, 0)).unwrap().key())
        .collect();
    assert_eq!(keys, "0123456789*#ABCD");
    assert_eq!(
        TelephoneEvent::parse(&event(16, false, 0)).unwrap().key(),
        None
    );
    for key in keys.chars() {
        assert!(frequencies(key).is_some(), "{key}");
    }
}

/// A sender's packets for one key press at `timestamp`: the start repeated every 20 ms,
/// then the end three times (RFC 4733 §2.5.1.4).
fn key_press(key: u8, timestamp: u32, packets: u16) -> Vec<(u32, [u8; 4])> {
    let mut out: Vec<(u32, [u8; 4])> = (1..=packets)
        .map(|i| (timestamp, event(key, false, i * 160)))
        .collect();
    for _ in 0..3 {
        out.push((timestamp, event(key, true, (packets + 1) * 160)));
    }
    out
}

fn received(receiver: &mut TelephoneEventReceiver, packets: &[(u32, [u8; 4])]) -> String {
    packets
        .iter()
        .filter_map(|(ts, payload)| receiver.receive(Ssrc(1), *ts, payload))
        .collect()
}

#[test]
fn a_key_press_is_one_digit_whatever_its_repeats_and_a_second_press_is_another() {
    let mut receiver = TelephoneEventReceiver::default();
    let mut stream = key_press(4, 16_000, 5);
    stream.extend(key_press(4, 17_600, 5));
    stream.extend(key_press(10, 19_200, 3));
    assert_eq!(received(&mut receiver, &stream), "44*");
}

#[test]
fn an_event_whose_start_packets_were_lost_is_reported_by_its_end() {
    let mut receiver = TelephoneEventReceiver::default();
    let stream = key_press(7, 800, 4);
    assert_eq!(received(&mut receiver, &stream[4..]), "7");
}

#[test]
fn a_late_end_of_the_previous_event_is_not_a_new_digit() {
    let mut receiver = TelephoneEventReceiver::default();
    let first = key_press(1, 1_000, 3);
    let second = key_press(2, 2_000, 3);
    let mut stream = first[..4].to_vec();
    stream.push(second[0]);
    stream.extend(&first[4..]);
    stream.extend(&second[1..]);
    assert_eq!(received(&mut receiver, &stream), "12");
}

#[test]
fn a_key_whose_timestamp_jumped_back_is_a_new_digit() {
    // Captures replayed one after another (SIPp's dtmf_2833_*.pcap) restart the clock.
    let mut receiver = TelephoneEventReceiver::default();
    let mut stream = key_press(2, 23_200, 5);
    stream.extend(key_press(0, 17_632, 5));
    stream.extend(key_press(1, 13_280, 5));
    assert_eq!(received(&mut receiver, &stream), "201");
}

#[test]
fn an_event_longer_than_the_duration_field_goes_on_in_a_new_segment_as_the_same_digit() {
    let mut receiver = TelephoneEventReceiver::default();
    let start = u32::MAX - 100;
    let next = start.wrapping_add(u32::from(u16::MAX));
    let stream = [
        (start, event(3, false, 160)),
        (start, event(3, false, u16::MAX)),
        (next, event(3, false, 160)),
        (next, event(3, true, 320)),
        (next.wrapping_add(8_000), event(3, false, 160)),
    ];
    assert_eq!(
        received(&mut receiver, &stream),
        "33",
        "the last is a new press"
    );
}

#[test]
fn a_new_ssrc_starts_afresh() {
    let mut receiver = TelephoneEventReceiver::default();
    assert_eq!(
        receiver.receive(Ssrc(1), 5_000, &event(8, false, 160)),
        Some('8')
    );
    assert_eq!(
        receiver.receive(Ssrc(2), 5_000, &event(8, false, 160)),
        Some('8')
    );
    assert_eq!(receiver.receive(Ssrc(2), 5_000, &event(8, true, 320)), None);
}

#[test]
fn truncated_and_non_dtmf_events_report_nothing() {
    let mut receiver = TelephoneEventReceiver::default();
    assert_eq!(receiver.receive(Ssrc(1), 0, &[5, 0]), None);
    assert_eq!(receiver.receive(Ssrc(1), 160, &event(16, false, 160)), None);
    assert_eq!(
        receiver.receive(Ssrc(1), 320, &event(5, false, 160)),
        Some('5')
    );
}

#[test]
fn once_a_phone_sends_telephone_events_its_audio_is_not_searched() {
    let law = Law::Mu;
    let tone_codes: Vec<u8> = to_pcm(&press('6', 100, 60))
        .iter()
        .map(|s| law.encode(*s))
        .collect();
    let mut detector = DigitDetector::default();
    let mut keys = String::new();
    for packet in tone_codes.chunks(160) {
        detector.audio(law, packet, |k| keys.push(k));
    }
    assert_eq!(keys, "6", "in band until then");
    keys.extend(detector.telephone_event(Ssrc(1), 0, &event(6, false, 160)));
    for packet in tone_codes.chunks(160) {
        detector.audio(law, packet, |k| keys.push(k));
    }
    assert_eq!(keys, "66", "the event's digit, not the tone's again");
}

#[test]
fn the_profiles_music_on_hold_makes_no_digits() {
    // What a caller's phone may echo back while it waits.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sip-profiles/music-on-hold.wav"
    );
    let mut wav = hound::WavReader::open(path).expect("the lab profile's music");
    let music: Vec<f32> = wav
        .samples::<i16>()
        .map(|s| f32::from(s.expect("a sample")))
        .collect();
    assert!(music.len() >= ms(5000));
    assert_eq!(heard(&music), "");
    let louder: Vec<f32> = music.iter().map(|s| s * 2.0).collect();
    assert_eq!(heard(&louder), "");
}
