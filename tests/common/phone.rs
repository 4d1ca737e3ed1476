//! A real phone in tests: `tests/phones/agent_phone.py`, PJSIP's pjsua2 driven from Python,
//! for behaviour only a real phone shows (a desk phone's attended-transfer key, its blind
//! transfer, its own calls; the script's doc lists the commands). The README's
//! test command installs pjsua2 in `target/test-venv`; without it the test fails, naming
//! the command.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{SwitchProcess, free_udp_port, password, port_block};

const PHONES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/phones");

/// The Python that has pjsua2.
fn python() -> String {
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python");
    std::env::var("SWITCHBOARD_TEST_PYTHON").unwrap_or_else(|_| {
        assert!(
            std::path::Path::new(venv).exists(),
            "pjsua2 is not installed: run scripts/test-all (it creates {venv})"
        );
        venv.to_owned()
    })
}

/// A running pjsua2 agent phone.
pub struct PjPhone {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    pub rtp: u16,
    /// The switch's log and the phone's own, shown when a wait fails.
    logs: [std::path::PathBuf; 2],
}

impl PjPhone {
    /// Registers `user` with the switch; `consult` is the extension its transfer key calls
    /// (empty when the test never presses it).
    pub fn start(sw: &SwitchProcess, user: &str, consult: &str) -> PjPhone {
        let port = free_udp_port().to_string();
        let mut phone = Self::spawn(
            sw,
            user,
            &sw.sip.to_string(),
            &["--consult", consult, "--port", &port],
        );
        phone.expect("registered");
        phone
    }

    /// [`PjPhone::start`] with more of the script's flags (`--srtp`, `--tone 1000`); the
    /// caller waits for `registered`.
    pub fn start_with(sw: &SwitchProcess, user: &str, consult: &str, flags: &[&str]) -> PjPhone {
        let port = free_udp_port().to_string();
        let mut args = vec!["--consult", consult, "--port", &port];
        args.extend_from_slice(flags);
        Self::spawn(sw, user, &sw.sip.to_string(), &args)
    }

    /// Starts `user` over TLS to the switch's `tls` address, trusting only the CA in `ca`,
    /// with more of the script's flags; the caller waits for `registered` (or
    /// `registration_failed`).
    pub fn start_tls(
        sw: &SwitchProcess,
        user: &str,
        tls: SocketAddr,
        ca: &Path,
        flags: &[&str],
    ) -> PjPhone {
        let ca = ca.to_str().unwrap();
        // Port 0: PJSIP's TLS listener is never used (the switch answers on our connection).
        let mut args = vec!["--tls-ca", ca, "--port", "0"];
        args.extend_from_slice(flags);
        Self::spawn(sw, user, &tls.to_string(), &args)
    }

    /// A carrier's TLS gateway listening on 127.0.0.1:`port` with `cert` and `key`: it
    /// registers nowhere and answers the calls it gets; the caller waits for `listening`.
    pub fn start_tls_gateway(sw: &SwitchProcess, port: u16, cert: &Path, key: &Path) -> PjPhone {
        let port = port.to_string();
        let args = [
            "--gateway-cert",
            cert.to_str().unwrap(),
            "--gateway-key",
            key.to_str().unwrap(),
            "--port",
            &port,
        ];
        Self::spawn(sw, "gateway", "unused", &args)
    }

    fn spawn(sw: &SwitchProcess, user: &str, registrar: &str, extra: &[&str]) -> PjPhone {
        let rtp = port_block(4);
        let phone_log = sw.dir.join(format!("pjsua-{user}.log"));
        let log = std::fs::File::create(&phone_log).unwrap();
        let mut child = Command::new(python())
            .arg(format!("{PHONES_DIR}/agent_phone.py"))
            .args(["--registrar", registrar])
            .args(["--user", user, "--password", &password(user)])
            .args(["--rtp", &rtp.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("python runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PjPhone {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            rtp,
            logs: [sw.log.clone(), phone_log],
        }
    }

    /// Waits (bounded) for a progress line starting with `word`; returns it.
    pub fn expect(&mut self, word: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            self.seen.push(line.clone());
            if line.starts_with(word) {
                return line;
            }
        }
        let tails: Vec<String> = self.logs.iter().map(|p| log_tail(p, 60)).collect();
        panic!(
            "pjsua phone: no `{word}`; saw {:?}\n--- switch log ---\n{}\n--- phone log ---\n{}",
            self.seen, tails[0], tails[1]
        );
    }

    /// Sends a command line (`attended`, `call 1012`, `blind 1012`, `hangup`, `quit`).
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// RTP packets the phone's latest call has received and sent (for SRTP, received ones
    /// passed authentication).
    pub fn rtp_stats(&mut self) -> (u64, u64) {
        self.send("stats");
        let line = self.expect("stats");
        let counts: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().expect("a packet count"))
            .collect();
        match counts.as_slice() {
            [rx, tx] => (*rx, *tx),
            _ => panic!("bad stats line {line:?}"),
        }
    }

    /// RTP packets the phone's latest call has received.
    pub fn rtp_received(&mut self) -> u64 {
        self.rtp_stats().0
    }

    /// Waits (bounded) for the phone to exit and asserts it succeeded.
    pub fn expect_success(mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "pjsua phone failed: {status}; saw {:?}",
                    self.seen
                );
                return;
            }
            assert!(Instant::now() < deadline, "pjsua phone did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The last `lines` lines of a log file (empty when it cannot be read).
fn log_tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Drop for PjPhone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
