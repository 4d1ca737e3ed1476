//! tshark on loopback, the one packet capture every media test and load run shares: start it
//! with a capture filter and the fields to print, wait until it really captures, stop it
//! with SIGINT and read its lines.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tshark {
    child: Child,
}

impl Tshark {
    /// Captures UDP to `ports` (each decoded as RTP when `rtp`), printing `fields` tab-separated.
    pub fn start(filter: &str, ports: &[u16], rtp: bool, fields: &[&str]) -> Tshark {
        let mut command = Command::new("tshark");
        command.args(["-i", "lo", "-l", "-n", "-f", filter]);
        if rtp {
            for port in ports {
                command.args(["-d", &format!("udp.port=={port},rtp")]);
            }
        }
        command.args(["-T", "fields"]);
        for field in fields {
            command.args(["-e", field]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark is installed (the README test command installs it)");
        // Packets sent before "Capturing on" would be missed.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if err.read_line(&mut line).unwrap_or(0) == 0 || line.contains("Capturing on") {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        Tshark { child }
    }

    /// `udp dst port a or udp dst port b ...`
    pub fn to_ports(ports: &[u16]) -> String {
        ports
            .iter()
            .map(|p| format!("udp dst port {p}"))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// Stops after a moment for packets in flight and returns what it printed.
    pub fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let _ = self.child.wait();
        out
    }
}

impl Drop for Tshark {
    // A capture a test never stopped (it failed, or did not need the counts) must not outlive it.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
