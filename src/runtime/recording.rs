//! Call recording in the media path: the receive tasks of the recorded endpoints hand decoded
//! 20 ms frames to a recording's [`Feeds`]; one task per recording takes a frame per channel
//! every 20 ms of wall-clock time and writes it with [`crate::media::recorder::Recording`].
//!
//! The timeline is the clock, not the packets: every 20 ms tick writes one stereo frame, so
//! both channels stay in step and the file lasts as long as the recording did. A channel
//! with nothing queued at a tick gets silence. Jitter is handled simply: each endpoint has a
//! short FIFO; a late packet costs one silent frame and leaves its FIFO one frame deeper,
//! which absorbs the next late packet, up to [`MAX_QUEUE`] frames (then the oldest goes).
//!
//! Pausing is enforced where frames come in: while paused nothing is queued, so audio (and
//! in-band DTMF) from the paused span cannot reach the file even after a resume, and RFC 4733
//! events are never decoded or kept at all. Nothing here logs payloads.

use crate::call::{EndpointId, MediaEvent};
use crate::media::recorder::{self, FRAME, PauseBehavior, Recording, RecordingId};
use crate::runtime::clock;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One frame per channel every 20 ms.
const TICK: Duration = Duration::from_millis(20);
/// Frames an endpoint may have waiting (80 ms of jitter) before the oldest is dropped.
pub const MAX_QUEUE: usize = 4;

/// One 20 ms frame of 8 kHz linear PCM.
pub type Frame = [i16; FRAME];

/// Which side of the stereo file an endpoint feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// Left.
    Customer,
    /// Right, mixed over every agent-side endpoint.
    Agent,
}

#[derive(Debug)]
struct Queue {
    endpoint: EndpointId,
    channel: Channel,
    frames: VecDeque<Frame>,
}

/// Frames waiting for the next tick, shared between receive tasks and the recording task.
#[derive(Debug)]
pub struct Feeds {
    /// Cleared when the recording ends or fails: receive tasks stop queueing.
    active: bool,
    paused: bool,
    queues: Vec<Queue>,
}

/// [`Feeds`] as the receive tasks and the recording task hold them.
pub type SharedFeeds = Arc<Mutex<Feeds>>;

impl Feeds {
    fn new(customer: EndpointId, agent_side: &[EndpointId]) -> Feeds {
        let queue = |endpoint, channel| Queue {
            endpoint,
            channel,
            frames: VecDeque::with_capacity(MAX_QUEUE + 1),
        };
        let mut queues = vec![queue(customer, Channel::Customer)];
        queues.extend(
            agent_side
                .iter()
                .filter(|e| **e != customer)
                .map(|e| queue(*e, Channel::Agent)),
        );
        Feeds {
            active: true,
            paused: false,
            queues,
        }
    }

    /// Queues a frame `from` an endpoint's phone, unless paused or ended. `false` once the
    /// recording has ended (stopped or failed): the tap can go.
    pub fn push(&mut self, from: EndpointId, frame: &Frame) -> bool {
        if !self.active {
            return false;
        }
        if self.paused {
            return true;
        }
        if let Some(q) = self.queues.iter_mut().find(|q| q.endpoint == from) {
            q.frames.push_back(*frame);
            if q.frames.len() > MAX_QUEUE {
                q.frames.pop_front();
            }
        }
        true
    }

    /// Adds `endpoint` to the agent side (right channel), once.
    pub fn add_agent(&mut self, endpoint: EndpointId) {
        if self.queues.iter().any(|q| q.endpoint == endpoint) {
            return;
        }
        self.queues.push(Queue {
            endpoint,
            channel: Channel::Agent,
            frames: VecDeque::with_capacity(MAX_QUEUE + 1),
        });
    }

    /// The next (left, right) frame: one queued frame per endpoint, agent side mixed.
    fn next_frame(&mut self) -> (Frame, Frame) {
        let (mut left, mut right) = ([0i16; FRAME], [0i16; FRAME]);
        for q in &mut self.queues {
            if let Some(frame) = q.frames.pop_front() {
                let out = match q.channel {
                    Channel::Customer => &mut left,
                    Channel::Agent => &mut right,
                };
                for (o, s) in out.iter_mut().zip(frame) {
                    *o = o.saturating_add(s);
                }
            }
        }
        (left, right)
    }

    /// Stops queueing now; whatever is queued is still written (as silence once the
    /// recorder is paused too, or not at all when it skips).
    fn pause(&mut self) {
        self.paused = true;
    }
}

enum Control {
    Pause {
        behavior: PauseBehavior,
        who: String,
        why: Option<String>,
    },
    Resume {
        auto: bool,
    },
    Participant(String),
    Hold(bool),
    Stop,
}

/// The engine's handle on one running recording.
#[derive(Debug)]
pub struct RecordingHandle {
    /// Where the tapped endpoints' receive tasks queue their frames.
    pub feeds: SharedFeeds,
    /// Every endpoint tapped for this recording.
    pub endpoints: Vec<EndpointId>,
    control: mpsc::UnboundedSender<Control>,
    task: JoinHandle<()>,
}

impl RecordingHandle {
    /// Starts the recording task; the file is created there, and its outcome reported as
    /// [`MediaEvent::RecordingStarted`] or [`MediaEvent::RecordingFailed`].
    pub fn spawn(
        recording: RecordingId,
        dir: PathBuf,
        customer: EndpointId,
        agent_side: &[EndpointId],
        events: mpsc::Sender<MediaEvent>,
    ) -> RecordingHandle {
        let feeds = Arc::new(Mutex::new(Feeds::new(customer, agent_side)));
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(record_loop(
            recording,
            dir,
            feeds.clone(),
            control_rx,
            events,
        ));
        let mut endpoints = vec![customer];
        endpoints.extend(agent_side.iter().filter(|e| **e != customer));
        RecordingHandle {
            feeds,
            endpoints,
            control,
            task,
        }
    }

    /// Stops capture at once, then tells the recorder.
    pub fn pause(&self, behavior: PauseBehavior, who: String, why: Option<String>) {
        lock(&self.feeds).pause();
        let _ = self.control.send(Control::Pause { behavior, who, why });
    }

    /// Capture resumes once the recorder has noted the resume.
    pub fn resume(&self, auto: bool) {
        let _ = self.control.send(Control::Resume { auto });
    }

    /// Marks a hold, or its end, in the sidecar.
    pub fn hold(&self, held: bool) {
        let _ = self.control.send(Control::Hold(held));
    }

    /// Names a party in the sidecar.
    pub fn participant(&self, who: String) {
        let _ = self.control.send(Control::Participant(who));
    }

    /// Finalises the file; the task ends by itself.
    pub fn stop(self) {
        lock(&self.feeds).active = false;
        let _ = self.control.send(Control::Stop);
    }

    /// Whether the task has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `YYYY-MM-DD` (UTC) of a time since the Unix epoch (Howard Hinnant's `civil_from_days`).
pub fn day_folder(since_epoch: Duration) -> String {
    let days = i64::try_from(since_epoch.as_secs() / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

async fn record_loop(
    id: RecordingId,
    dir: PathBuf,
    feeds: SharedFeeds,
    mut control: mpsc::UnboundedReceiver<Control>,
    events: mpsc::Sender<MediaEvent>,
) {
    let day = day_folder(clock::unix_now());
    let mut rec = match Recording::create(&dir, &day, &id.0, clock::unix_ms()) {
        Ok(rec) => rec,
        Err(error) => {
            lock(&feeds).active = false;
            fail(&events, id, None, &error).await;
            return;
        }
    };
    let path = rec.wav_path().to_owned();
    tracing::info!(recording = %id, "recording started");
    let _ = events
        .send(MediaEvent::RecordingStarted {
            recording: id.clone(),
            path: path.clone(),
        })
        .await;
    let mut ticker = tokio::time::interval(TICK);
    // Burst: ticks missed while the runtime was busy are caught up, so the file's length
    // follows the wall clock.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        let result = tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Pause { behavior, who, why }) => {
                    let was = rec.is_paused();
                    let r = rec.pause(clock::unix_ms(), &who, why, behavior);
                    if r.is_ok() && !was {
                        let _ = events
                            .send(MediaEvent::RecordingPaused { recording: id.clone(), path: path.clone() })
                            .await;
                    }
                    r
                }
                Some(Control::Resume { auto }) => {
                    let was = rec.is_paused();
                    let r = rec.resume(clock::unix_ms(), auto);
                    lock(&feeds).paused = false;
                    if r.is_ok() && was {
                        let _ = events
                            .send(MediaEvent::RecordingResumed { recording: id.clone(), path: path.clone(), auto })
                            .await;
                    }
                    r
                }
                Some(Control::Participant(who)) => rec.add_participant(&who),
                Some(Control::Hold(held)) => rec.mark_hold(clock::unix_ms(), held),
                Some(Control::Stop) | None => {
                    lock(&feeds).active = false;
                    match rec.finish(clock::unix_ms()) {
                        Ok(path) => {
                            tracing::info!(recording = %id, "recording stopped");
                            let _ = events.send(MediaEvent::RecordingStopped { recording: id, path }).await;
                        }
                        Err(error) => fail(&events, id, Some(&path), &error).await,
                    }
                    return;
                }
            },
            _ = ticker.tick() => {
                let (left, right) = lock(&feeds).next_frame();
                rec.write_frame(&left, &right).and_then(|()| rec.flush_if_due(clock::now()))
            }
        };
        if let Err(error) = result {
            lock(&feeds).active = false;
            drop(rec);
            fail(&events, id, Some(&path), &error).await;
            return;
        }
    }
}

/// Reports a failed recording and marks what exists of it as interrupted.
async fn fail(
    events: &mpsc::Sender<MediaEvent>,
    id: RecordingId,
    wav: Option<&std::path::Path>,
    error: &std::io::Error,
) {
    tracing::warn!(recording = %id, %error, "recording failed; the call goes on");
    if let Some(wav) = wav {
        // Best effort: the disk that failed the WAV may fail this too.
        let _ = recorder::mark_interrupted(&wav.with_extension("json"));
    }
    let _ = events
        .send(MediaEvent::RecordingFailed {
            recording: id,
            error: error.to_string(),
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_folders_are_utc_calendar_dates() {
        assert_eq!(day_folder(Duration::ZERO), "1970-01-01");
        assert_eq!(day_folder(Duration::from_secs(1_796_083_200)), "2026-12-01");
        assert_eq!(day_folder(Duration::from_secs(951_782_400)), "2000-02-29");
    }

    #[test]
    fn agent_side_endpoints_are_mixed_into_the_right_channel() {
        let mut feeds = Feeds::new(EndpointId(1), &[EndpointId(2), EndpointId(3)]);
        feeds.push(EndpointId(1), &[100; FRAME]);
        feeds.push(EndpointId(2), &[200; FRAME]);
        feeds.push(EndpointId(3), &[30; FRAME]);
        feeds.push(EndpointId(9), &[5000; FRAME]);
        let (l, r) = feeds.next_frame();
        assert_eq!((l[0], r[0]), (100, 230));
        assert_eq!(feeds.next_frame(), ([0; FRAME], [0; FRAME]));
    }

    #[test]
    fn a_late_packet_costs_one_silent_frame_and_nothing_else() {
        let mut feeds = Feeds::new(EndpointId(1), &[EndpointId(2)]);
        let mut left = Vec::new();
        // Packets 1..=6; packet 3 misses its tick and arrives with packet 4.
        for arrivals in [
            vec![1],
            vec![2],
            vec![],
            vec![3, 4],
            vec![5],
            vec![6],
            vec![],
        ] {
            for v in arrivals {
                feeds.push(EndpointId(1), &[v; FRAME]);
            }
            left.push(feeds.next_frame().0[0]);
        }
        assert_eq!(left, [1, 2, 0, 3, 4, 5, 6], "one frame deeper from then on");
    }

    #[test]
    fn nothing_is_queued_while_paused_and_queues_stay_short() {
        let mut feeds = Feeds::new(EndpointId(1), &[EndpointId(2)]);
        feeds.pause();
        feeds.push(EndpointId(1), &[100; FRAME]);
        assert_eq!(feeds.next_frame(), ([0; FRAME], [0; FRAME]));
        feeds.paused = false;
        for v in 0..10 {
            feeds.push(EndpointId(1), &[v; FRAME]);
        }
        assert_eq!(feeds.next_frame().0[0], 10 - MAX_QUEUE as i16);
    }
}
