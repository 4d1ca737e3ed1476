//! Call recordings: stereo 8 kHz 16-bit WAV files (customer left, agent side right) with a
//! JSON sidecar, written so that a crash loses at most the last second.
//!
//! Crash safety: `hound` rewrites the RIFF and data sizes on every [`Recording::flush_if_due`]
//! (once a second), so a file cut off by SIGKILL is a valid WAV up to its last flush; samples
//! written after it are recovered by [`repair`], which recomputes both sizes from the file
//! length when the switch starts again.
//!
//! What goes in the file, and where, is decided by the sans-IO [`timeline`]: packets placed by
//! their RTP timestamps behind a jitter buffer of [`timeline::DEPTH`], so a crash also loses
//! the audio still in that buffer.
//!
//! This module does file IO (it is one of the IO modules the architecture allows) but reads
//! no clock: times are passed in.

pub mod timeline;

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Samples per channel in one 20 ms frame.
pub const FRAME: usize = 160;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Names one recording: the interaction id it records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingId(pub String);

impl std::fmt::Display for RecordingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a pause writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PauseBehavior {
    /// Digital silence keeps the timeline's length (the default).
    #[default]
    Silence,
    /// Nothing is written: the file is shorter by the paused span.
    Skip,
}

/// One pause as the sidecar records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseRecord {
    pub paused_at_ms: i64,
    pub resumed_at_ms: Option<i64>,
    pub by: String,
    pub reason: Option<String>,
    pub behavior: PauseBehavior,
    pub auto_resumed: bool,
}

/// A span during which the customer was on hold (music to the customer, not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    pub held_at_ms: i64,
    pub resumed_at_ms: Option<i64>,
}

/// The JSON written beside the WAV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub interaction: String,
    pub participants: Vec<String>,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub pauses: Vec<PauseRecord>,
    /// Holds, so a listener knows why the customer's side is quiet there.
    #[serde(default)]
    pub holds: Vec<HoldRecord>,
    /// Set when the recording stopped because of a crash or a write failure.
    pub interrupted: bool,
}

/// An open recording.
pub struct Recording {
    writer: hound::WavWriter<BufWriter<File>>,
    wav_path: PathBuf,
    sidecar_path: PathBuf,
    sidecar: Sidecar,
    paused: bool,
    last_flush: Option<Instant>,
    frames: u64,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("wav", &self.wav_path)
            .finish()
    }
}

fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

impl Recording {
    /// Creates `dir/<day>/<interaction>.wav` and its `.json` sidecar. `day` is the dated
    /// folder (`2026-11-22`) the caller derives from the wall clock.
    pub fn create(
        dir: &Path,
        day: &str,
        interaction: &str,
        started_at_ms: i64,
    ) -> std::io::Result<Recording> {
        let folder = dir.join(day);
        std::fs::create_dir_all(&folder)?;
        // Interaction ids come from us, but a path separator must never reach the file system.
        let safe: String = interaction
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // A second recording of the same interaction (restarted after a stop or a failure)
        // gets its own file: an existing recording is evidence and is never truncated.
        let mut name = safe.clone();
        let mut n = 1;
        while folder.join(format!("{name}.wav")).is_file() {
            n += 1;
            name = format!("{safe}-{n}");
        }
        let wav_path = folder.join(format!("{name}.wav"));
        let sidecar_path = folder.join(format!("{name}.json"));
        let writer = hound::WavWriter::create(&wav_path, spec()).map_err(to_io)?;
        let sidecar = Sidecar {
            interaction: interaction.to_owned(),
            participants: Vec::new(),
            started_at_ms,
            ended_at_ms: None,
            pauses: Vec::new(),
            holds: Vec::new(),
            interrupted: false,
        };
        let mut recording = Recording {
            writer,
            wav_path,
            sidecar_path,
            sidecar,
            paused: false,
            last_flush: None,
            frames: 0,
        };
        recording.write_sidecar()?;
        Ok(recording)
    }

    pub fn wav_path(&self) -> &Path {
        &self.wav_path
    }

    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// 20 ms frames written so far (silence included).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn add_participant(&mut self, who: &str) -> std::io::Result<()> {
        if !self.sidecar.participants.iter().any(|p| p == who) {
            self.sidecar.participants.push(who.to_owned());
            self.write_sidecar()?;
        }
        Ok(())
    }

    /// Writes one 20 ms stereo frame as given. What a pause leaves out is decided before,
    /// on the [`timeline`]: frames written after a pause began may hold audio received
    /// before it.
    pub fn write_frame(
        &mut self,
        left: &[i16; FRAME],
        right: &[i16; FRAME],
    ) -> std::io::Result<()> {
        for (l, r) in left.iter().zip(right) {
            self.writer.write_sample(*l).map_err(to_io)?;
            self.writer.write_sample(*r).map_err(to_io)?;
        }
        self.frames += 1;
        Ok(())
    }

    /// Updates the WAV header once a second so a crash leaves a readable file.
    pub fn flush_if_due(&mut self, now: Instant) -> std::io::Result<()> {
        if self
            .last_flush
            .is_none_or(|t| now.saturating_duration_since(t) >= FLUSH_EVERY)
        {
            self.writer.flush().map_err(to_io)?;
            self.last_flush = Some(now);
        }
        Ok(())
    }

    pub fn pause(
        &mut self,
        at_ms: i64,
        by: &str,
        reason: Option<String>,
        behavior: PauseBehavior,
    ) -> std::io::Result<()> {
        if self.paused {
            return Ok(());
        }
        self.paused = true;
        self.sidecar.pauses.push(PauseRecord {
            paused_at_ms: at_ms,
            resumed_at_ms: None,
            by: by.to_owned(),
            reason,
            behavior,
            auto_resumed: false,
        });
        self.write_sidecar()
    }

    pub fn resume(&mut self, at_ms: i64, auto: bool) -> std::io::Result<()> {
        if !self.paused {
            return Ok(());
        }
        self.paused = false;
        if let Some(p) = self.sidecar.pauses.last_mut() {
            p.resumed_at_ms = Some(at_ms);
            p.auto_resumed = auto;
        }
        self.write_sidecar()
    }

    /// Marks the customer held (or taken off hold) at `at_ms`; repeats change nothing.
    pub fn mark_hold(&mut self, at_ms: i64, held: bool) -> std::io::Result<()> {
        let open = self
            .sidecar
            .holds
            .last()
            .is_some_and(|h| h.resumed_at_ms.is_none());
        match (held, open) {
            (true, false) => self.sidecar.holds.push(HoldRecord {
                held_at_ms: at_ms,
                resumed_at_ms: None,
            }),
            (false, true) => {
                if let Some(h) = self.sidecar.holds.last_mut() {
                    h.resumed_at_ms = Some(at_ms);
                }
            }
            _ => return Ok(()),
        }
        self.write_sidecar()
    }

    /// Finalises the WAV header and the sidecar.
    pub fn finish(mut self, ended_at_ms: i64) -> std::io::Result<PathBuf> {
        self.sidecar.ended_at_ms = Some(ended_at_ms);
        if let Some(h) = self.sidecar.holds.last_mut()
            && h.resumed_at_ms.is_none()
        {
            h.resumed_at_ms = Some(ended_at_ms);
        }
        if self.paused
            && let Some(p) = self.sidecar.pauses.last_mut()
        {
            p.resumed_at_ms = Some(ended_at_ms);
        }
        self.write_sidecar()?;
        self.writer.finalize().map_err(to_io)?;
        Ok(self.wav_path)
    }

    fn write_sidecar(&mut self) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(&self.sidecar).map_err(std::io::Error::other)?;
        // Write then rename, so a crash never leaves half a sidecar.
        let tmp = self.sidecar_path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, &self.sidecar_path)
    }
}

fn to_io(e: hound::Error) -> std::io::Error {
    match e {
        hound::Error::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

/// Recomputes the RIFF and data chunk sizes of a WAV cut short by a crash, from the file's
/// length. Returns `true` when the header was changed. Our files have the canonical 44-byte
/// header hound writes for 16-bit PCM; anything else is left alone.
pub fn repair(path: &Path) -> std::io::Result<bool> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut header = [0u8; 44];
    if file.read(&mut header)? < 44
        || &header[0..4] != b"RIFF"
        || &header[8..12] != b"WAVE"
        || &header[36..40] != b"data"
    {
        return Ok(false);
    }
    let len = file.seek(SeekFrom::End(0))?;
    // Whole stereo 16-bit sample frames only.
    let data = ((len - 44) / 4 * 4).min(u64::from(u32::MAX - 36)) as u32;
    let riff = data + 36;
    let current_riff = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let current_data = u32::from_le_bytes([header[40], header[41], header[42], header[43]]);
    if current_riff == riff && current_data == data {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&riff.to_le_bytes())?;
    file.seek(SeekFrom::Start(40))?;
    file.write_all(&data.to_le_bytes())?;
    file.set_len(44 + u64::from(data))?;
    file.sync_all()?;
    Ok(true)
}

/// Marks a sidecar as interrupted (the switch restarted while it was recording).
pub fn mark_interrupted(sidecar_path: &Path) -> std::io::Result<()> {
    let mut sidecar: Sidecar =
        serde_json::from_slice(&std::fs::read(sidecar_path)?).map_err(std::io::Error::other)?;
    if sidecar.ended_at_ms.is_none() {
        sidecar.interrupted = true;
        std::fs::write(
            sidecar_path,
            serde_json::to_vec_pretty(&sidecar).map_err(std::io::Error::other)?,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "sb-rec-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn tone(v: i16) -> [i16; FRAME] {
        [v; FRAME]
    }

    #[test]
    fn left_is_the_customer_right_is_the_agent() {
        let d = dir();
        let mut r = Recording::create(&d, "2026-11-22", "ix-1", 0).unwrap();
        for _ in 0..50 {
            r.write_frame(&tone(1000), &tone(-2000)).unwrap();
        }
        let path = r.finish(1000).unwrap();
        let mut reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec(), spec());
        assert_eq!(reader.duration(), 50 * FRAME as u32);
        let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
        assert!(samples.chunks(2).all(|c| c == [1000, -2000]));
        let sidecar: Sidecar =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
        assert_eq!(sidecar.ended_at_ms, Some(1000));
    }

    #[test]
    fn a_pause_is_noted_in_the_sidecar_and_frames_are_written_as_given() {
        for behavior in [PauseBehavior::Silence, PauseBehavior::Skip] {
            let d = dir();
            let mut r = Recording::create(&d, "day", "ix-2", 0).unwrap();
            for i in 0..30 {
                if i == 10 {
                    r.pause(200, "agent-1", Some("card number".into()), behavior)
                        .unwrap();
                    assert!(r.is_paused());
                }
                if i == 20 {
                    r.resume(400, true).unwrap();
                }
                // Audio received before the pause is still leaving the jitter buffer.
                r.write_frame(&tone(500), &tone(500)).unwrap();
            }
            let path = r.finish(600).unwrap();
            let samples: Vec<i16> = hound::WavReader::open(&path)
                .unwrap()
                .samples::<i16>()
                .map(Result::unwrap)
                .collect();
            assert_eq!(samples, vec![500; 30 * FRAME * 2]);
            let sidecar: Sidecar =
                serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap())
                    .unwrap();
            assert_eq!(sidecar.pauses[0].behavior, behavior);
            assert!(sidecar.pauses[0].auto_resumed);
            assert_eq!(sidecar.pauses[0].resumed_at_ms, Some(400));
        }
    }

    #[test]
    fn a_file_cut_off_by_a_crash_is_repaired_to_its_full_length() {
        let d = dir();
        let mut r = Recording::create(&d, "day", "ix-3", 0).unwrap();
        let t0 = crate::runtime::clock::now();
        r.write_frame(&tone(1), &tone(2)).unwrap();
        r.flush_if_due(t0).unwrap();
        for _ in 0..9 {
            r.write_frame(&tone(1), &tone(2)).unwrap();
        }
        // Simulate SIGKILL: push the bytes out without finalising the header.
        r.writer.flush().ok();
        let path = r.wav_path.clone();
        std::mem::forget(r);
        // Rewind the header to what the last once-a-second flush wrote.
        {
            let mut f = OpenOptions::new().write(true).open(&path).unwrap();
            f.seek(SeekFrom::Start(40)).unwrap();
            f.write_all(&((FRAME * 4) as u32).to_le_bytes()).unwrap();
        }
        assert_eq!(
            hound::WavReader::open(&path).unwrap().duration(),
            FRAME as u32
        );
        assert!(repair(&path).unwrap());
        assert_eq!(
            hound::WavReader::open(&path).unwrap().duration(),
            10 * FRAME as u32
        );
        assert!(!repair(&path).unwrap());
    }

    #[test]
    fn recording_an_interaction_again_never_overwrites_the_first_file() {
        let d = dir();
        let first = Recording::create(&d, "day", "ix-4", 0).unwrap();
        let first = first.finish(10).unwrap();
        let second = Recording::create(&d, "day", "ix-4", 20).unwrap();
        assert_eq!(second.wav_path(), d.join("day").join("ix-4-2.wav"));
        assert!(first.exists());
    }
}
