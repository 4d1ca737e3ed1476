//! A real phone in tests: baresip 1.0.0 (Debian's `baresip` package) run headless, next to
//! pjsua2 ([`super::phone`]). Each phone gets its own config folder (`baresip -f DIR`): an
//! account for one extension of the default profile, SIP and RTP on loopback ports the test
//! picks, a sine tone of its own frequency as microphone (`ausine`), nothing as speaker (an
//! `aubridge` device nobody reads), and every call's decoded audio dumped to WAV (`sndfile`)
//! so a test can tell which tone a phone heard. The test drives it through `ctrl_tcp`
//! (netstring JSON commands, the same as its keyboard menu's: `dial`, `accept`, `hold`,
//! `resume`, `transfer`, `hangup`, `reginfo`) and follows its events (`CALL_INCOMING`,
//! `CALL_ESTABLISHED`, `CALL_CLOSED`...). scripts/test-all installs baresip; without it the
//! test fails, naming the command.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{SwitchProcess, free_port, password, port_block};

const MODULES: &str = "/usr/lib/baresip/modules";
/// Ports in each phone's RTP range (an even RTP port and its RTCP port per call).
const RTP_PORTS: u16 = 8;

/// A running baresip phone, registered with the switch.
pub struct Baresip {
    child: Child,
    ctrl: TcpStream,
    events: mpsc::Receiver<serde_json::Value>,
    pending: std::collections::VecDeque<serde_json::Value>,
    /// Everything the phone reported so far, for failure messages.
    pub seen: Vec<serde_json::Value>,
    pub user: String,
    pub dir: PathBuf,
    /// The first port of its RTP range.
    pub rtp: u16,
    token: u64,
}

impl Baresip {
    /// Starts a phone for extension `user` that sends a `tone_hz` sine and waits (bounded)
    /// until it registered.
    pub fn start(sw: &SwitchProcess, user: &str, tone_hz: u32) -> Baresip {
        assert!(
            Path::new(&format!("{MODULES}/ctrl_tcp.so")).exists(),
            "baresip is not installed: run scripts/test-all (it installs the baresip package)"
        );
        let dir = sw.dir.join(format!("baresip-{user}"));
        std::fs::create_dir_all(&dir).unwrap();
        // baresip listens on the SIP port for UDP and TCP and on the next one for TLS.
        let sip = port_block(2);
        let ctrl_port = free_port();
        let rtp = port_block(RTP_PORTS);
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip}\n\
             call_local_timeout 120\n\
             call_max_calls 4\n\
             audio_source ausine,{tone_hz}\n\
             ausrc_srate 48000\n\
             ausrc_channels 2\n\
             audio_player aubridge,nobody-{user}\n\
             audio_alert aubridge,nobody-{user}\n\
             rtp_ports {rtp}-{last}\n\
             rtp_timeout 0\n\
             module_path {MODULES}\n\
             module g711.so\n\
             module ausine.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             snd_path {dumps}\n",
            last = rtp + RTP_PORTS - 1,
            dumps = dir.display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        // The switch's own address as outbound proxy: the domain does not resolve.
        let account = format!(
            "<sip:{user}@switchboard.local>;auth_pass={};outbound=\"sip:{}\";regint=300;\
             answermode=manual;audio_codecs=pcmu,pcma\n",
            password(user),
            sw.sip
        );
        std::fs::write(dir.join("accounts"), account).unwrap();
        std::fs::write(dir.join("contacts"), "").unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip runs (scripts/test-all installs it)");
        let ctrl = connect(ctrl_port);
        let events = read_netstrings(ctrl.try_clone().unwrap());
        let mut phone = Baresip {
            child,
            ctrl,
            events,
            pending: Default::default(),
            seen: Vec::new(),
            user: user.to_owned(),
            dir,
            rtp,
            token: 0,
        };
        // It registers as it starts, before the control connection can hear the event: ask.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !phone.command("reginfo", "").contains("OK") {
            assert!(
                Instant::now() < deadline,
                "baresip {user} did not register; log:\n{}",
                phone.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        phone
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// The ports of its RTP range, for a capture.
    pub fn rtp_ports(&self) -> Vec<u16> {
        (self.rtp..self.rtp + RTP_PORTS).collect()
    }

    /// Runs a menu command (`dial`, `accept`, `hold`, `resume`, `transfer`, `hangup`),
    /// asserts baresip took it and returns what it printed.
    pub fn command(&mut self, command: &str, params: &str) -> String {
        self.token += 1;
        let token = format!("t{}", self.token);
        let body =
            serde_json::json!({"command": command, "params": params, "token": token}).to_string();
        write!(self.ctrl, "{}:{body},", body.len()).unwrap();
        self.ctrl.flush().unwrap();
        let response = self.next_matching(|m| m["response"] == true && m["token"] == token);
        assert_eq!(
            response["ok"], true,
            "baresip {}: `{command} {params}` refused: {response}",
            self.user
        );
        response["data"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits (bounded) for the event `kind` (`CALL_ESTABLISHED`...); returns it.
    pub fn expect(&mut self, kind: &str) -> serde_json::Value {
        self.next_matching(|m| m["event"] == true && m["type"] == kind)
    }

    /// The first message, kept or new, that is `wanted`; the others are kept for later
    /// (events arrive while a command waits for its response).
    fn next_matching(&mut self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        if let Some(i) = self.pending.iter().position(&wanted) {
            return self.pending.remove(i).expect("found");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(message) = self.events.recv_timeout(left) else {
                break;
            };
            self.seen.push(message.clone());
            if wanted(&message) {
                return message;
            }
            self.pending.push_back(message);
        }
        let log = self.log();
        let tail: String = log
            .chars()
            .rev()
            .take(4000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!(
            "baresip {}: not seen; saw {:?}\nlog tail:\n{tail}",
            self.user,
            self.seen
                .iter()
                .map(|m| m["type"].clone())
                .collect::<Vec<_>>()
        );
    }

    /// The decoded audio of each of its finished calls (what its speaker would have played),
    /// 8 kHz samples, oldest call first.
    pub fn heard(&self) -> Vec<Vec<i16>> {
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        dumps.sort();
        dumps
            .iter()
            .map(|path| {
                let mut reader = hound::WavReader::open(path).unwrap();
                reader.samples::<i16>().map_while(Result::ok).collect()
            })
            .collect()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to the control port once baresip listens (bounded).
fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => return stream,
            Err(error) if Instant::now() > deadline => {
                panic!("baresip's ctrl_tcp did not open on {port}: {error}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A thread that reads `len:json,` netstrings and sends each parsed message on.
fn read_netstrings(stream: TcpStream) -> mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = BufReader::new(stream).bytes();
        loop {
            let mut len = 0usize;
            for byte in bytes.by_ref() {
                match byte {
                    Ok(b':') => break,
                    Ok(digit @ b'0'..=b'9') => len = len * 10 + usize::from(digit - b'0'),
                    _ => return,
                }
            }
            let body: Vec<u8> = bytes.by_ref().take(len).map_while(Result::ok).collect();
            let _comma = bytes.next();
            let Ok(message) = serde_json::from_slice(&body) else {
                return;
            };
            if tx.send(message).is_err() {
                return;
            }
        }
    });
    rx
}
