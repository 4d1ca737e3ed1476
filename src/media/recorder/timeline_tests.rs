//! The timeline in virtual time: senders with jitter, reordering, duplicates, stalls and
//! loss, whose packets carry a sample counter so any sample missing, doubled or out of place
//! shows in the output.

use super::*;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

const PTIME: Duration = Duration::from_millis(20);
/// When the first packet of each test arrives: one frame in, so frames line up with packets.
const FIRST: Duration = Duration::from_millis(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ms_f(x: f64) -> Duration {
    Duration::from_secs_f64(x / 1000.0)
}

/// When packet `n` of a steady 20 ms sender is sent.
fn nominal(n: usize) -> Duration {
    FIRST + PTIME * u32::try_from(n).unwrap_or(u32::MAX)
}

#[allow(clippy::disallowed_methods)] // the one real clock read: a base for virtual time
fn t0() -> Instant {
    Instant::now()
}

/// One phone's stream. Packet `n` carries samples `first + 160 n + 1 ..` of a counter
/// (negated on the agent side, so the channels can be told apart and compared).
#[derive(Clone, Copy)]
struct Talker {
    ssrc: Ssrc,
    seq0: u16,
    ts0: u32,
    first: usize,
    sign: i16,
}

fn customer() -> Talker {
    Talker {
        ssrc: Ssrc(0x1111),
        seq0: 1000,
        ts0: 50_000,
        first: 0,
        sign: 1,
    }
}

fn agent() -> Talker {
    Talker {
        ssrc: Ssrc(0x2222),
        seq0: 65_500,
        ts0: u32::MAX - 3 * 160,
        first: 0,
        sign: -1,
    }
}

impl Talker {
    fn samples(&self, n: usize) -> Frame {
        let mut out = [0; FRAME];
        for (j, s) in out.iter_mut().enumerate() {
            let count = (self.first + n) * FRAME + j;
            *s = self.sign * (i16::try_from(count % 30_000).unwrap_or(0) + 1);
        }
        out
    }

    fn packet<'a>(&self, n: usize, samples: &'a [i16], marker: bool) -> AudioPacket<'a> {
        let n16 = n as u16;
        AudioPacket {
            ssrc: self.ssrc,
            sequence: self.seq0.wrapping_add(n16),
            timestamp: self.ts0.wrapping_add(160 * n as u32),
            marker,
            samples,
        }
    }

    /// What its channel should hold for packets `0..present.len()`: silence where absent.
    fn expected(&self, present: &[bool]) -> Vec<i16> {
        present
            .iter()
            .enumerate()
            .flat_map(|(n, p)| if *p { self.samples(n) } else { [0; FRAME] })
            .collect()
    }
}

/// One packet arriving: when, from which feed, on which channel, which talker's packet.
#[derive(Clone, Copy)]
struct Arrival {
    at: Duration,
    feed: u8,
    channel: Channel,
    talker: Talker,
    n: usize,
    marker: bool,
}

fn arrival(at: Duration, channel: Channel, talker: Talker, n: usize) -> Arrival {
    let feed = match channel {
        Channel::Customer => 1,
        Channel::Agent => 2,
    };
    Arrival {
        at,
        feed,
        channel,
        talker,
        n,
        marker: false,
    }
}

/// A steady sender: packet `n` arrives at `nominal(n)`.
fn steady(channel: Channel, talker: Talker, count: usize) -> Vec<Arrival> {
    (0..count)
        .map(|n| arrival(nominal(n), channel, talker, n))
        .collect()
}

/// What a recording made of: both channels as written, and the timeline's counts.
struct Written {
    left: Vec<i16>,
    right: Vec<i16>,
    stats: TimelineStats,
}

/// What happens to the timeline at one moment.
enum Event {
    Packet(Arrival),
    Pause(PauseBehavior),
    Resume,
}

/// Runs `arrivals` (in time order, stable for ties) through a timeline whose frames are
/// taken as soon as they are due, then closes it at `end`.
fn record(arrivals: Vec<Arrival>, end: Duration) -> Written {
    record_events(
        arrivals
            .into_iter()
            .map(|a| (a.at, Event::Packet(a)))
            .collect(),
        end,
    )
}

/// [`record`] with pauses and resumes among the packets.
fn record_events(mut events: Vec<(Duration, Event)>, end: Duration) -> Written {
    events.sort_by_key(|e| e.0);
    let t0 = t0();
    let mut timeline = Timeline::new(t0);
    let mut written = Written {
        left: Vec::new(),
        right: Vec::new(),
        stats: TimelineStats::default(),
    };
    let mut take = |timeline: &mut Timeline<u8>, now| {
        while let Some((l, r)) = timeline.poll_frame(now) {
            written.left.extend_from_slice(&l);
            written.right.extend_from_slice(&r);
        }
    };
    for (at, event) in events {
        let now = t0 + at;
        take(&mut timeline, now);
        match event {
            Event::Packet(a) => {
                let samples = a.talker.samples(a.n);
                let packet = a.talker.packet(a.n, &samples, a.marker);
                timeline.handle_packet(now, a.feed, a.channel, &packet);
            }
            Event::Pause(behavior) => timeline.pause(now, behavior),
            Event::Resume => timeline.resume(now),
        }
    }
    take(&mut timeline, t0 + end);
    timeline.close(t0 + end);
    take(&mut timeline, t0 + end);
    written.stats = timeline.stats();
    written
}

/// Asserts `channel` holds exactly `expected` somewhere (found by its first sound) and
/// silence everywhere else.
fn assert_holds(channel: &[i16], expected: &[i16]) {
    let first = |x: &[i16]| x.iter().position(|s| *s != 0);
    let start = first(channel).expect("the channel has sound") - first(expected).unwrap_or(0);
    assert!(
        channel.len() >= start + expected.len(),
        "the channel ends {} samples early",
        start + expected.len() - channel.len()
    );
    let got = &channel[start..start + expected.len()];
    if let Some(i) = got.iter().zip(expected).position(|(g, e)| g != e) {
        panic!(
            "sample {i} (packet {}): got {}, want {}",
            i / FRAME,
            got[i],
            expected[i]
        );
    }
    let outside = channel[..start]
        .iter()
        .chain(&channel[start + expected.len()..]);
    assert!(outside.clone().all(|s| *s == 0), "sound outside the speech");
}

/// Lengths of the runs of zeros strictly inside the sound of `channel`, in samples.
fn silences_inside(channel: &[i16]) -> Vec<usize> {
    let Some(first) = channel.iter().position(|s| *s != 0) else {
        return Vec::new();
    };
    let last = channel.iter().rposition(|s| *s != 0).unwrap_or(first);
    channel[first..=last]
        .split(|s| *s != 0)
        .map(<[i16]>::len)
        .filter(|n| *n > 0)
        .collect()
}

#[test]
fn jittered_and_reordered_packets_are_all_written_in_order_with_no_silence_inserted() {
    const N: usize = 250;
    for jitter_ms in [2.8, 40.0, 120.0] {
        let mut rng = SmallRng::seed_from_u64(13);
        let mut arrivals = Vec::new();
        for (channel, talker) in [(Channel::Customer, customer()), (Channel::Agent, agent())] {
            for n in 0..N {
                let u = f64::from(rng.next_u32()) / f64::from(u32::MAX) * 2.0 - 1.0;
                // Late only, never before the first packet: the sender cannot send early.
                let at = nominal(n) + ms_f(jitter_ms * (1.0 + u));
                arrivals.push(arrival(at, channel, talker, n));
            }
        }
        let w = record(arrivals, nominal(N) + ms(500));
        assert_holds(&w.left, &customer().expected(&[true; N]));
        assert_holds(&w.right, &agent().expected(&[true; N]));
        assert_eq!(
            (w.stats.placed, w.stats.late, w.stats.reanchored),
            (2 * N as u64, 0, 0),
            "±{jitter_ms} ms"
        );
    }
}

#[test]
fn duplicates_are_written_once() {
    const N: usize = 100;
    let mut arrivals = steady(Channel::Customer, customer(), N);
    for n in (0..N).step_by(5) {
        arrivals.push(arrival(
            nominal(n) + ms(45),
            Channel::Customer,
            customer(),
            n,
        ));
        arrivals.push(arrival(nominal(n), Channel::Customer, customer(), n));
    }
    let w = record(arrivals, nominal(N) + ms(500));
    assert_holds(&w.left, &customer().expected(&[true; N]));
    assert_eq!((w.stats.placed, w.stats.duplicates), (N as u64, 40));
}

/// A sender that stalls for `stall` at packet `at`, then sends its backlog at once (in
/// reverse when `reversed`) and goes on at its usual pace.
fn stall(arrivals: &mut [Arrival], at: usize, stall: Duration, reversed: bool) {
    let end = nominal(at) + stall;
    for a in arrivals.iter_mut() {
        if a.n >= at && nominal(a.n) <= end {
            let order = if reversed { 1000 - a.n as u32 } else { 0 };
            a.at = end + Duration::from_micros(u64::from(order));
        }
    }
}

#[test]
fn stalls_of_74_and_162_ms_then_bursts_lose_nothing_and_keep_the_channels_aligned() {
    const N: usize = 250;
    for reversed in [false, true] {
        let mut customer_side = steady(Channel::Customer, customer(), N);
        stall(&mut customer_side, 50, ms(74), reversed);
        stall(&mut customer_side, 150, ms(162), reversed);
        let mut arrivals = steady(Channel::Agent, agent(), N);
        arrivals.extend(customer_side);
        let w = record(arrivals, nominal(N) + ms(500));
        assert_holds(&w.left, &customer().expected(&[true; N]));
        assert_holds(&w.right, &agent().expected(&[true; N]));
        assert!(
            w.left.iter().zip(&w.right).all(|(l, r)| *l == -*r),
            "each customer sample sits beside the agent sample sent with it"
        );
        assert_eq!((w.stats.late, w.stats.reanchored), (0, 0));
    }
}

#[test]
fn a_stall_longer_than_the_buffer_loses_nothing_and_delays_its_channel_by_the_excess() {
    const N: usize = 150;
    // In order: a burst reordered past the buffer drops, as late, the packets it puts
    // behind slots already written.
    {
        let mut arrivals = steady(Channel::Customer, customer(), N);
        stall(&mut arrivals, 50, ms(500), false);
        let w = record(arrivals, nominal(N) + ms(500));
        let sound: Vec<i16> = w.left.iter().copied().filter(|s| *s != 0).collect();
        assert_eq!(
            sound,
            customer().expected(&[true; N]),
            "every packet, in order"
        );
        assert_eq!(
            silences_inside(&w.left),
            [samples_in(ms(500) - DEPTH) as usize],
            "silence for the stall beyond the buffer, once"
        );
        assert_eq!((w.stats.late, w.stats.reanchored), (0, 1));
    }
}

#[test]
fn lost_packets_leave_silence_exactly_where_they_were() {
    const N: usize = 300;
    let mut rng = SmallRng::seed_from_u64(7);
    let present: Vec<bool> = (0..N).map(|n| n == 0 || rng.next_u32() % 20 != 0).collect();
    assert!(present.iter().filter(|p| !**p).count() > 5);
    let arrivals = steady(Channel::Customer, customer(), N)
        .into_iter()
        .filter(|a| present[a.n])
        .collect();
    let w = record(arrivals, nominal(N) + ms(500));
    assert_holds(&w.left, &customer().expected(&present));
}

#[test]
fn a_packet_arriving_after_its_slot_was_written_is_dropped_and_counted() {
    const N: usize = 100;
    let mut arrivals = steady(Channel::Customer, customer(), N);
    arrivals[30].at += DEPTH + ms(100);
    let w = record(arrivals, nominal(N) + ms(500));
    let mut present = [true; N];
    present[30] = false;
    assert_holds(&w.left, &customer().expected(&present));
    assert_eq!((w.stats.placed, w.stats.late), (N as u64 - 1, 1));
}

#[test]
fn a_new_ssrc_continues_where_the_old_one_stopped_and_a_later_one_starts_where_it_arrived() {
    // A re-INVITE swaps the customer's source mid-stream (its first packet 3 ms late); then
    // the agent side is transferred to another phone (another feed) that starts talking a
    // second after the first stopped.
    let first = customer();
    let second = Talker {
        ssrc: Ssrc(0x3333),
        seq0: 7,
        ts0: 123_456,
        first: 60,
        sign: 1,
    };
    let mut arrivals = steady(Channel::Customer, first, 60);
    arrivals
        .extend((0..60).map(|n| arrival(nominal(60 + n) + ms(3), Channel::Customer, second, n)));
    let transferred_to = Talker {
        ssrc: Ssrc(0x4444),
        seq0: 30_000,
        ts0: 9,
        first: 100,
        sign: -1,
    };
    arrivals.extend(steady(Channel::Agent, agent(), 40));
    arrivals.extend((0..40).map(|n| Arrival {
        feed: 3,
        ..arrival(nominal(40 + 50 + n), Channel::Agent, transferred_to, n)
    }));
    let w = record(arrivals, nominal(200));
    let both = Talker { first: 0, ..first };
    assert_holds(&w.left, &both.expected(&[true; 120]));
    assert_eq!(
        &w.right[160..160 + 40 * FRAME],
        &agent().expected(&[true; 40])[..]
    );
    assert_eq!(
        silences_inside(&w.right),
        [50 * FRAME],
        "a second of silence"
    );
    let from = 160 + 90 * FRAME;
    assert_eq!(
        &w.right[from..from + 40 * FRAME],
        &transferred_to.expected(&[true; 40])[..]
    );
    assert_eq!((w.stats.late, w.stats.reanchored), (0, 0));
}

#[test]
fn a_channel_with_no_packets_is_silent_there_while_the_other_keeps_its_audio() {
    const N: usize = 150;
    let present: Vec<bool> = (0..N).map(|n| !(50..100).contains(&n)).collect();
    let mut arrivals = steady(Channel::Customer, customer(), N);
    arrivals.extend(
        steady(Channel::Agent, agent(), N)
            .into_iter()
            .filter(|a| present[a.n]),
    );
    let w = record(arrivals, nominal(N) + ms(500));
    assert_holds(&w.left, &customer().expected(&[true; N]));
    for (k, (l, r)) in w.left.iter().zip(&w.right).enumerate() {
        let talking = k < FRAME || present.get(k / FRAME - 1).copied().unwrap_or(false);
        assert_eq!(*r, if talking { -*l } else { 0 }, "sample {k}");
    }
}

#[test]
fn a_talkspurt_whose_timestamp_did_not_advance_starts_where_it_arrived() {
    // Packets 50.. come a second late but number on as if no time had passed; the marker
    // bit says a talkspurt starts.
    let mut arrivals = steady(Channel::Customer, customer(), 100);
    for a in &mut arrivals[50..] {
        a.at += ms(1000);
    }
    arrivals[50].marker = true;
    let w = record(arrivals, nominal(150));
    let sound: Vec<i16> = w.left.iter().copied().filter(|s| *s != 0).collect();
    assert_eq!(sound, customer().expected(&[true; 100]));
    assert_eq!(silences_inside(&w.left), [samples_in(ms(1000)) as usize]);
    assert_eq!(w.stats.reanchored, 1);
}

#[test]
fn a_timestamp_far_ahead_of_the_clock_goes_where_it_arrived() {
    let mut arrivals = steady(Channel::Customer, customer(), 100);
    let jumped = Talker {
        ts0: customer().ts0.wrapping_add(8000 * 3600),
        ..customer()
    };
    for a in &mut arrivals[50..] {
        a.talker = jumped;
    }
    let w = record(arrivals, nominal(150));
    assert_holds(&w.left, &customer().expected(&[true; 100]));
    assert_eq!((w.stats.late, w.stats.reanchored), (0, 1));
}

#[test]
fn a_sequence_jump_is_believed_once_the_next_packet_follows_it() {
    let mut arrivals = steady(Channel::Customer, customer(), 100);
    let restarted = Talker {
        seq0: customer().seq0.wrapping_add(20_000),
        ..customer()
    };
    for a in &mut arrivals[50..] {
        a.talker = restarted;
    }
    let w = record(arrivals, nominal(150));
    let mut present = [true; 100];
    present[50] = false;
    assert_holds(&w.left, &customer().expected(&present));
    assert_eq!((w.stats.late, w.stats.reanchored), (1, 1));
}

/// Pauses at `pause` and resumes at `resume` while the customer talks steadily.
fn record_with_pause(behavior: PauseBehavior, pause: Duration, resume: Duration) -> Written {
    const N: usize = 150;
    let mut events: Vec<(Duration, Event)> = steady(Channel::Customer, customer(), N)
        .into_iter()
        .map(|a| (a.at, Event::Packet(a)))
        .collect();
    events.extend([(pause, Event::Pause(behavior)), (resume, Event::Resume)]);
    record_events(events, nominal(N) + ms(500))
}

#[test]
fn a_silent_pause_takes_no_packet_and_keeps_the_length() {
    let (pause, resume) = (nominal(50) + ms(10), nominal(100) + ms(10));
    let w = record_with_pause(PauseBehavior::Silence, pause, resume);
    let present: Vec<bool> = (0..150).map(|n| !(51..=100).contains(&n)).collect();
    assert_holds(&w.left, &customer().expected(&present));
    assert_eq!(w.left.len(), samples_in(nominal(150) + ms(500)) as usize);
}

#[test]
fn a_skipping_pause_drops_its_span_but_keeps_audio_received_before_it() {
    // Paused 10 ms after packet 50 arrived, so packet 50 is still in the buffer then.
    let (pause, resume) = (nominal(50) + ms(10), nominal(100) + ms(10));
    let w = record_with_pause(PauseBehavior::Skip, pause, resume);
    let kept: Vec<i16> = (0..=50)
        .chain(101..150)
        .flat_map(|n| customer().samples(n))
        .collect();
    assert_holds(&w.left, &kept);
    assert!(silences_inside(&w.left).is_empty(), "nothing inserted");
    let skipped = samples_in(resume - pause) as usize;
    let full = samples_in(nominal(150) + ms(500)) as usize;
    assert!(
        w.left.len().abs_diff(full - skipped) <= FRAME,
        "{} samples",
        w.left.len()
    );
}

#[test]
fn closing_writes_what_is_buffered_and_the_file_lasts_as_long_as_the_recording() {
    let end = nominal(50);
    let w = record(steady(Channel::Customer, customer(), 50), end);
    assert_holds(&w.left, &customer().expected(&[true; 50]));
    assert_eq!(w.left.len(), samples_in(end) as usize);
    assert_eq!(w.left.len(), w.right.len());
}

#[test]
fn poll_timeout_is_when_the_next_frame_is_due_and_moves_forward() {
    let t0 = t0();
    let mut timeline: Timeline<u8> = Timeline::new(t0);
    let first = timeline.poll_timeout();
    assert_eq!(first, t0 + PTIME + DEPTH);
    assert!(timeline.poll_frame(first - ms(1)).is_none());
    assert!(timeline.poll_frame(first).is_some());
    assert!(timeline.poll_frame(first).is_none());
    assert_eq!(timeline.poll_timeout(), first + PTIME);
    // Time going backwards changes nothing.
    assert!(timeline.poll_frame(t0).is_none());
    assert_eq!(timeline.poll_timeout(), first + PTIME);
}
