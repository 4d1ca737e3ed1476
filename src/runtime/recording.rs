//! Call recording in the media path: the media shard holding a recorded endpoint hands each
//! decoded audio packet, with its RTP numbering, to the recording's [`Feeds`] (the relay's
//! [`Tap`]); one task per recording takes the frames its [`Timeline`] has ready and writes
//! them with [`crate::media::recorder::Recording`], so file IO never runs on a shard.
//!
//! The feeds are one mutex per recording, taken per packet by the shard and once per 20 ms
//! frame by the writer task. It is not contended: a recording's endpoints are relayed to each
//! other, so they share one shard (see [`media`](super::media)), and the writer holds it for
//! one frame's copy, never across a write. A channel per packet instead would copy every
//! packet once more for the same ordering the mutex gives.
//!
//! Packets are placed by their RTP timestamps, not by when they arrive (see
//! [`timeline`](crate::media::recorder::timeline)): jitter, reordering and stalls up to
//! [`DEPTH`](crate::media::recorder::timeline::DEPTH) move no audio, a longer stall loses
//! none, and silence is written only where no packet came. Frames leave the timeline that
//! depth behind the wall clock, and stopping writes what is still buffered, so the file lasts
//! as long as the recording did.
//!
//! Pausing is enforced where packets come in: from the pause command on, nothing is placed,
//! so audio (and in-band DTMF) from the paused span cannot reach the file even after a
//! resume, and RFC 4733 events are never decoded or kept at all; from the resume command on,
//! packets are placed again, whenever the recorder's task gets to note it. Nothing here logs
//! payloads.
//!
//! Recordings are the most sensitive thing the switch keeps (card numbers read aloud before
//! a pause, health details), so their folders are created 0700 and each WAV is made 0600
//! before a sample is written: no other local user can list or read them.

use crate::call::{EndpointId, MediaEvent};
use crate::media::recorder::timeline::{AudioPacket, Channel, Timeline};
use crate::media::recorder::{self, PauseBehavior, Recording, RecordingId};
use crate::media::relay::Tap;
use crate::runtime::clock;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Packets from the tapped endpoints, placed on the recording's timeline; shared between
/// the media shards and the recording task.
#[derive(Debug)]
pub struct Feeds {
    /// Cleared when the recording ends or fails: the shards stop feeding.
    active: bool,
    /// Which side each tapped endpoint feeds.
    channels: Vec<(EndpointId, Channel)>,
    timeline: Timeline<EndpointId>,
}

/// [`Feeds`] as the media shards and the recording task hold them.
pub type SharedFeeds = Arc<Mutex<Feeds>>;

impl Tap for SharedFeeds {
    fn push(&mut self, now: Instant, from: EndpointId, packet: &AudioPacket<'_>) -> bool {
        lock(self).push(now, from, packet)
    }
}

impl Feeds {
    fn new(start: Instant, customer: EndpointId, agent_side: &[EndpointId]) -> Feeds {
        let mut channels = vec![(customer, Channel::Customer)];
        channels.extend(
            agent_side
                .iter()
                .filter(|e| **e != customer)
                .map(|e| (*e, Channel::Agent)),
        );
        Feeds {
            active: true,
            channels,
            timeline: Timeline::new(start),
        }
    }

    /// Places a packet `from` an endpoint's phone (not while paused). `false` once the
    /// recording has ended (stopped or failed): the tap can go.
    pub fn push(&mut self, now: Instant, from: EndpointId, packet: &AudioPacket<'_>) -> bool {
        if !self.active {
            return false;
        }
        if let Some((_, channel)) = self.channels.iter().find(|(e, _)| *e == from) {
            self.timeline.handle_packet(now, from, *channel, packet);
        }
        true
    }

    /// Adds `endpoint` to the agent side (right channel), once.
    pub fn add_agent(&mut self, endpoint: EndpointId) {
        if !self.channels.iter().any(|(e, _)| *e == endpoint) {
            self.channels.push((endpoint, Channel::Agent));
        }
    }
}

enum Control {
    Pause {
        behavior: PauseBehavior,
        who: String,
        why: Option<String>,
        /// When capture stopped (Unix ms), which is what the sidecar notes: the recorder
        /// may hear of it late when its task waits for a busy thread (547 ms once in CI).
        at_ms: i64,
    },
    Resume {
        auto: bool,
        /// When capture resumed (Unix ms), for the sidecar, as for a pause.
        at_ms: i64,
    },
    Participant(String),
    Hold(bool),
    Stop,
}

/// The engine's handle on one running recording.
#[derive(Debug)]
pub struct RecordingHandle {
    /// Where the shards holding the tapped endpoints place their packets.
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
        let feeds = Arc::new(Mutex::new(Feeds::new(clock::now(), customer, agent_side)));
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
        lock(&self.feeds).timeline.pause(clock::now(), behavior);
        let at_ms = clock::unix_ms();
        let _ = self.control.send(Control::Pause {
            behavior,
            who,
            why,
            at_ms,
        });
    }

    /// Resumes capture at once, then tells the recorder. Capture used to wait for the
    /// recorder's task to note the resume, so what the customer said meanwhile was lost
    /// whenever that task waited for a busy thread.
    pub fn resume(&self, auto: bool) {
        lock(&self.feeds).timeline.resume(clock::now());
        let at_ms = clock::unix_ms();
        let _ = self.control.send(Control::Resume { auto, at_ms });
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
    let created = create_private_dir(&dir.join(&day))
        .and_then(|()| Recording::create(&dir, &day, &id.0, clock::unix_ms()))
        .and_then(|rec| make_private(rec.wav_path()).map(|()| rec));
    let mut rec = match created {
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
    loop {
        let due = lock(&feeds).timeline.poll_timeout();
        let result = tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Pause { behavior, who, why, at_ms }) => {
                    let was = rec.is_paused();
                    let r = rec.pause(at_ms, &who, why, behavior);
                    if r.is_ok() && !was {
                        let _ = events
                            .send(MediaEvent::RecordingPaused { recording: id.clone(), path: path.clone() })
                            .await;
                    }
                    r
                }
                Some(Control::Resume { auto, at_ms }) => {
                    let was = rec.is_paused();
                    let r = rec.resume(at_ms, auto);
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
                    let stats = {
                        let mut feeds = lock(&feeds);
                        feeds.active = false;
                        feeds.timeline.close(clock::now());
                        feeds.timeline.stats()
                    };
                    let result = write_due(&feeds, &mut rec)
                        .and_then(|()| rec.finish(clock::unix_ms()));
                    match result {
                        Ok(path) => {
                            tracing::info!(
                                recording = %id,
                                placed = stats.placed,
                                duplicates = stats.duplicates,
                                late = stats.late,
                                reanchored = stats.reanchored,
                                "recording stopped"
                            );
                            let _ = events.send(MediaEvent::RecordingStopped { recording: id, path }).await;
                        }
                        Err(error) => fail(&events, id, Some(&path), &error).await,
                    }
                    return;
                }
            },
            () = tokio::time::sleep_until(due.into()) => write_due(&feeds, &mut rec),
        };
        if let Err(error) = result {
            lock(&feeds).active = false;
            drop(rec);
            fail(&events, id, Some(&path), &error).await;
            return;
        }
    }
}

/// Creates `dir` and its missing parents readable by the switch's user alone (0700).
/// Folders that already exist keep the mode their owner gave them.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes a file readable and writable by the switch's user alone (0600).
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes every frame the timeline has ready (all of them once closed).
fn write_due(feeds: &SharedFeeds, rec: &mut Recording) -> std::io::Result<()> {
    loop {
        let now = clock::now();
        // One frame per lock, so shards never wait on the file.
        let Some((left, right)) = lock(feeds).timeline.poll_frame(now) else {
            return rec.flush_if_due(now);
        };
        rec.write_frame(&left, &right)?;
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
    fn agent_side_endpoints_are_mixed_into_the_right_channel_and_others_are_ignored() {
        #[allow(clippy::disallowed_methods)] // a base for virtual time
        let t0 = Instant::now();
        let mut feeds = Feeds::new(t0, EndpointId(1), &[EndpointId(2)]);
        feeds.add_agent(EndpointId(3));
        fn packet(ssrc: u32, samples: &[i16]) -> AudioPacket<'_> {
            AudioPacket {
                ssrc: crate::media::rtp::Ssrc(ssrc),
                sequence: 1,
                timestamp: 0,
                marker: false,
                samples,
            }
        }
        for (endpoint, value) in [(1, 100), (2, 200), (3, 30), (9, 5000)] {
            let samples = [value; crate::media::recorder::FRAME];
            assert!(feeds.push(
                t0,
                EndpointId(u64::from(endpoint)),
                &packet(endpoint, &samples)
            ));
        }
        feeds.timeline.close(t0);
        let (l, r) = feeds.timeline.poll_frame(t0).expect("one frame");
        assert_eq!((l[0], r[0]), (100, 230));
        assert!(feeds.timeline.poll_frame(t0).is_none());
        feeds.active = false;
        assert!(
            !feeds.push(t0, EndpointId(1), &packet(1, &[1])),
            "the tap can go"
        );
    }
}
