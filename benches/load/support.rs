//! What the SIPp load harnesses (`benches/load.rs`, `benches/rebridge.rs`) share: reading
//! the switch's CPU time and socket drops from the kernel, the tone SIPp streams, bounded
//! waits for SIPp processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use switchboard::media::g711::Law;

const LOAD_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/load");

/// A scenario from benches/load written to `dir` with each `(placeholder, text)` replaced.
pub fn scenario(name: &str, dir: &Path, replacements: &[(&str, &str)]) -> PathBuf {
    let mut text =
        std::fs::read_to_string(Path::new(LOAD_DIR).join(format!("{name}.xml"))).unwrap();
    for (placeholder, value) in replacements {
        text = text.replace(placeholder, value);
    }
    let path = dir.join(format!("{name}.xml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Datagrams the kernel dropped because the switch's UDP sockets were full (the `d` counter
/// of `ss -m` summed over the sockets the process owns): packets the switch failed to read.
/// SIPp's rtpstream never reads what it receives, so machine-wide counters would count its
/// sockets too; this one only counts the switch.
pub fn switch_socket_drops(pid: u32) -> u64 {
    let out = Command::new("ss")
        .args(["-uanmp"])
        .output()
        .expect("ss (iproute2) is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let owner = format!("pid={pid},");
    let mut total = 0;
    let mut ours = false;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            ours = line.contains(&owner);
        }
        if let Some(at) = line.find("skmem:(").filter(|_| ours) {
            total += line[at + 7..]
                .trim_end_matches(')')
                .split(',')
                .find_map(|f| f.strip_prefix('d')?.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// One second of a 440 Hz tone, A-law, looped by rtpstream.
pub fn write_tone(dir: &Path) -> PathBuf {
    let path = dir.join("tone.al");
    let samples: Vec<u8> = (0..8000)
        .map(|n| {
            let s = (2.0 * std::f64::consts::PI * 440.0 * f64::from(n) / 8000.0).sin() * 8000.0;
            Law::A.encode(s as i16)
        })
        .collect();
    std::fs::write(&path, samples).unwrap();
    path
}

/// Waits for a SIPp process at most `limit`; its exit code, or -2 when it had to be killed.
pub fn wait(child: &mut Reaped, limit: Duration) -> i32 {
    let child = &mut child.0;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return -2;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A SIPp process that is killed if the run panics before waiting for it, so a failed run
/// does not leave SIPp holding its ports for the next one.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
