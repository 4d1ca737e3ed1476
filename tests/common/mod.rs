//! Integration test harness: a real switch process on loopback, SIPp peers, RTP captures.
//!
//! Every test picks its own ports (below the kernel's ephemeral range, checked free, so
//! parallel tests never collide; see [`free_port`]) and writes its own profile with its own
//! RTP range and database. Every wait is bounded.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

pub mod audio;
pub mod baresip;
pub mod desktop;
pub mod phone;
pub mod tshark;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const SIPP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// Lab password of extension `user` in the test profile.
pub fn password(user: &str) -> String {
    format!("lab-{user}-secret")
}

/// A UDP port free a moment ago, for a peer to bind (see [`free_port`]).
pub fn free_udp_port() -> u16 {
    next_port(|port| UdpSocket::bind(("127.0.0.1", port)).is_ok())
}

/// A port free for both UDP and TCP a moment ago, for a switch or a peer to bind.
///
/// Drawn from this process's own stretch below Linux's ephemeral range (32768 and up), not
/// from port 0: a port the kernel picked is one it may hand to any other socket (a client
/// connection, another test's phone) before the process it was picked for binds it, and CI
/// once saw a switch fail to start with its SIP port taken that way. Below the ephemeral
/// range only sockets bound explicitly can take it, and every test takes its ports here or
/// from [`port_block`], which keeps to another stretch.
pub fn free_port() -> u16 {
    next_port(|port| {
        UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
    })
}

/// The next port of this process's stretch of 7000–11999 that `free` finds free. Stretches
/// are spread by process id, so test binaries run at once (worktrees, benches) rarely share
/// one, and a shared one is still checked port by port.
fn next_port(free: impl Fn(u16) -> bool) -> u16 {
    const FIRST: u16 = 7_000;
    const STRETCH: u16 = 125;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = FIRST + (std::process::id() % 40) as u16 * STRETCH;
    for _ in 0..STRETCH * 4 {
        let port = base + NEXT.fetch_add(1, Ordering::SeqCst) % STRETCH;
        if free(port) {
            return port;
        }
    }
    panic!("no free port in {base}..{}", base + STRETCH);
}

/// A block of `len` consecutive ports no other test in this process uses (RTP ranges, SIPp
/// media ports). Spread by process id so parallel test binaries don't collide either, and
/// kept below Linux's ephemeral range (32768 and up): a port the kernel hands to some other
/// socket (`free_udp_port`, a phone's own) could otherwise land inside a block after it was
/// checked free, and the media bound there later would fail.
pub fn port_block(len: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    if len > 400 {
        // Load runs: one large range above the small per-test blocks, where other processes'
        // ephemeral ports are scattered. The switch skips pairs it cannot bind, so a block
        // with a few of them taken (one in a hundred at most) will do.
        let mut start: u16 = 33_000;
        while start.checked_add(len).is_some_and(|end| end < 65_000) {
            let taken = (start..start + len)
                .filter(|p| UdpSocket::bind(("127.0.0.1", *p)).is_err())
                .count();
            if taken <= usize::from(len / 100) {
                return start;
            }
            start += 1000;
        }
        panic!("no free block of {len} UDP ports");
    }
    let base = 12_000 + (std::process::id() % 40) as u16 * 500;
    loop {
        let start = base + NEXT.fetch_add(len, Ordering::SeqCst) % 480;
        let start = start & !1;
        if (start..start + len).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return start;
        }
    }
}

/// Per-source limits off: one SIPp process stands for a trunk carrying every caller of a
/// load run, which a real deployment would lift the limits for too.
pub const TRUNK_ADMISSION: &str =
    "[admission]\ncalls_per_second_per_source = 0\nunconfirmed_port_pairs_per_source = 0\n";

/// Options for a switch under test.
#[derive(Clone)]
pub struct SwitchOptions {
    pub t1_ms: u64,
    pub ring_timeout_secs: u64,
    pub rtp_timeout_secs: u64,
    pub database: Option<String>,
    pub sip_port: Option<u16>,
    pub dir: Option<PathBuf>,
    /// `RUST_LOG` for the switch (load runs turn debug logging off).
    pub log_filter: &'static str,
    /// How many RTP ports the switch may use (two per leg, two legs per call).
    pub rtp_ports: u16,
    /// Lab extensions 2000, 2001, ... added to the profile's 1000-1019 (load runs with many
    /// agents' phones).
    pub extra_extensions: u16,
    /// The profile's `sip.max_calls`, when a test needs a small one.
    pub max_calls: Option<usize>,
    /// TOML tables appended to the profile (e.g. an `[admission]` with small limits).
    pub extra_profile: String,
    /// The profile's `http.header_read_timeout_secs`.
    pub header_read_timeout_secs: u64,
    /// The CTI listener speaks HTTPS (`[http.tls]` in `extra_profile`): readiness is then
    /// read from the log, as a plain health check cannot answer.
    pub https: bool,
    /// Lines added to the profile's `[media]` table (e.g. the SRTP lab switch).
    pub media_settings: String,
    /// Text of the default profile replaced (each must be found), e.g. the lab trunk's
    /// sources.
    pub profile_edits: Vec<(&'static str, String)>,
}

impl Default for SwitchOptions {
    fn default() -> Self {
        SwitchOptions {
            t1_ms: 500,
            ring_timeout_secs: 30,
            rtp_timeout_secs: 60,
            database: None,
            sip_port: None,
            dir: None,
            log_filter: "switchboard=debug,info",
            rtp_ports: 40,
            extra_extensions: 0,
            max_calls: None,
            extra_profile: String::new(),
            header_read_timeout_secs: 10,
            https: false,
            media_settings: String::new(),
            profile_edits: Vec::new(),
        }
    }
}

/// A running `switchboard` process, killed on drop.
pub struct SwitchProcess {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub dir: PathBuf,
    pub database: String,
    /// The profile's RTP port range (first, count).
    pub rtp_range: (u16, u16),
    pub log: PathBuf,
    /// A CTI session of the profile's seeded admin, opened on first use.
    cti_token: std::sync::OnceLock<String>,
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU16 = AtomicU16::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switchboard-test-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl SwitchProcess {
    pub fn start(opts: SwitchOptions) -> SwitchProcess {
        let dir = opts.dir.clone().unwrap_or_else(|| temp_dir("sw"));
        let sip_port = opts.sip_port.unwrap_or_else(free_port);
        let http_port = free_port();
        let rtp = port_block(opts.rtp_ports);
        let default = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sip-profiles/default.toml"
        ))
        .unwrap();
        let extra: String = (0..opts.extra_extensions)
            .map(|i| {
                let user = 2000 + u32::from(i);
                format!(
                    "  {{ user = \"{user}\", password = \"{}\", display_name = \"Load {user}\" }},\n",
                    password(&user.to_string())
                )
            })
            .collect();
        let profile = default
            .replace("extensions = [\n", &format!("extensions = [\n{extra}"))
            .replace(
                r#"music_on_hold = "music-on-hold.wav""#,
                concat!(
                    r#"music_on_hold = ""#,
                    env!("CARGO_MANIFEST_DIR"),
                    r#"/sip-profiles/music-on-hold.wav""#
                ),
            )
            .replace("t1_ms = 500", &format!("t1_ms = {}", opts.t1_ms))
            .replace(
                "ring_timeout_secs = 30",
                &format!("ring_timeout_secs = {}", opts.ring_timeout_secs),
            )
            .replace(
                "rtp_timeout_secs = 60",
                &format!("rtp_timeout_secs = {}", opts.rtp_timeout_secs),
            )
            .replace(
                "header_read_timeout_secs = 10",
                &format!(
                    "header_read_timeout_secs = {}",
                    opts.header_read_timeout_secs
                ),
            )
            .replace("[media]\n", &format!("[media]\n{}\n", opts.media_settings))
            .replace("rtp_port_min = 20000", &format!("rtp_port_min = {rtp}"))
            .replace(
                "rtp_port_max = 30000",
                &format!("rtp_port_max = {}", rtp + opts.rtp_ports - 1),
            );
        let profile = opts.profile_edits.iter().fold(profile, |text, (from, to)| {
            assert!(text.contains(from), "the default profile has {from}");
            text.replacen(from, to, 1)
        });
        let profile = match opts.max_calls {
            Some(n) => {
                let line = "max_calls = 20000";
                assert!(profile.contains(line), "the default profile sets {line}");
                profile.replacen(line, &format!("max_calls = {n}"), 1)
            }
            None => profile,
        } + "\n"
            + &opts.extra_profile;
        let profile_path = dir.join("profile.toml");
        std::fs::write(&profile_path, profile).unwrap();
        let database = opts
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("switchboard.db").display()));
        let log = dir.join("switch.log");
        // Worktrees that share one target folder overwrite each other's binary there; they
        // may point the tests at a copy of their own.
        let binary = std::env::var_os("SWITCHBOARD_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_switchboard").into());
        let child = Command::new(binary)
            .arg("--profile")
            .arg(&profile_path)
            .args(["--sip-listen", &format!("127.0.0.1:{sip_port}")])
            .args(["--http-listen", &format!("127.0.0.1:{http_port}")])
            .args(["--database", &database])
            .arg("--recordings")
            .arg(dir.join("recordings"))
            .env("RUST_LOG", opts.log_filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the switchboard binary runs");
        let sw = SwitchProcess {
            child,
            sip: format!("127.0.0.1:{sip_port}").parse().unwrap(),
            http: format!("127.0.0.1:{http_port}").parse().unwrap(),
            dir,
            database,
            rtp_range: (rtp, opts.rtp_ports),
            log,
            cti_token: std::sync::OnceLock::new(),
        };
        sw.wait_ready(opts.https);
        sw
    }

    fn wait_ready(&self, https: bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ready = if https {
                self.log().contains("CTI API listening")
            } else {
                matches!(http_get(self.http, "/api/v1/health"), Ok((200, _)))
            };
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("switch did not start; log:\n{}", self.log());
    }

    /// The RTP/RTCP port pairs live media endpoints hold, as the switch counts them
    /// (`GET /api/v1/status`): 0 once every call's endpoints are closed. Binding the range's
    /// ports is no measure: an ended call's sockets may stay bound for the pair's next call.
    pub fn media_port_pairs(&self) -> u64 {
        let (status, body) = http_request(
            self.http,
            "GET",
            "/api/v1/status",
            Some(self.cti_token()),
            None,
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["media_port_pairs"].as_u64().expect("media_port_pairs")
    }

    /// The switch's process id (load runs read its CPU time and memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("switch did not stop on SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills with SIGKILL (crash).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A bearer token of the admin that `sip-profiles/default.toml` seeds.
    pub fn cti_token(&self) -> &str {
        self.cti_token.get_or_init(|| {
            let login = r#"{"agent_id": "admin", "password": "lab-admin-secret"}"#;
            let (status, body) =
                http_request(self.http, "POST", "/api/v1/sessions", None, Some(login)).unwrap();
            assert_eq!(status, 201, "admin login: {body}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            json["token"].as_str().unwrap().to_owned()
        })
    }

    /// CDRs as JSON.
    pub fn cdrs(&self, query: &str) -> serde_json::Value {
        let path = format!("/api/v1/cdrs{query}");
        let (status, body) =
            http_request(self.http, "GET", &path, Some(self.cti_token()), None).unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `n` CDRs exist, bounded.
    pub fn wait_for_cdrs(&self, n: u64) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.cdrs("");
            if page["total"].as_u64() >= Some(n) || Instant::now() > deadline {
                return page;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SwitchProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that `cdr` (as JSON) lists the customer's leg then `agents` agents' legs, each
/// answered (200) with the codec it talked: what a queue call handed between agents records.
pub fn assert_agents_legs_answered(cdr: &serde_json::Value, agents: usize) {
    let legs = cdr["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 1 + agents, "the customer and each agent: {cdr}");
    for leg in &legs[1..] {
        assert_eq!(leg["role"], "agent", "{cdr}");
        assert_eq!(leg["final_code"], 200, "{cdr}");
        assert!(leg["codec"].is_string(), "{cdr}");
    }
}

/// A minimal HTTP/1.1 GET over loopback (the test must not depend on the code under test).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    http_request(addr, "GET", path, None, None)
}

/// A minimal HTTP/1.1 request over loopback, with an optional bearer token and JSON body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("Authorization", b))
        .into_iter()
        .collect();
    http_request_with(addr, method, path, &headers, json)
}

/// An HTTP/1.1 request with these extra `headers`.
pub fn http_request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = json.unwrap_or_default();
    if json.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(s, "{head}\r\n{body}")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    // Chunked bodies: axum sends JSON with Content-Length, so this is rare; strip chunk lines.
    let body = if raw
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Ok((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The Request-URI (without `sip:`, as `-auth_uri` wants it) of the request a SIPp scenario
/// sends with `[authentication]`, its keywords filled in.
pub fn sipp_auth_uri(scenario: &str, service: &str, target: SocketAddr) -> Option<String> {
    let send = scenario
        .split("<send")
        .find(|block| block.contains("[authentication"))?;
    let request_line = send
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with(" SIP/2.0") && l.contains(" sip:"))?;
    let uri = request_line.split_whitespace().nth(1)?;
    let uri = uri
        .replace("[service]", service)
        .replace("[remote_ip]", &target.ip().to_string())
        .replace("[remote_port]", &target.port().to_string());
    uri.strip_prefix("sip:").map(str::to_owned)
}

/// A caller (SIPp on `port`) that answers the switch's challenge and expects the final
/// answer `code`: `uac_expect_404.xml` with the code swapped, written to a scratch folder.
pub fn expect_final(code: u16, port: u16) -> Sipp {
    let template = std::fs::read_to_string(Path::new(SIPP_DIR).join("uac_expect_404.xml"))
        .expect("the 404 scenario exists");
    let scenario = template
        .replace("response=\"404\"", &format!("response=\"{code}\""))
        .replace("uac_expect_404", &format!("uac_expect_{code}"));
    let path = temp_dir("scenario").join(format!("uac_expect_{code}"));
    std::fs::write(path.with_extension("xml"), scenario).unwrap();
    // An absolute scenario path replaces SIPP_DIR when joined to it.
    Sipp::new(path.to_str().expect("a UTF-8 path"), port)
}

/// A caller (SIPp on `port`) that is not challenged (it calls from a trunk's address, or is
/// refused before any challenge) and expects the final answer `code` at once:
/// `uac_refused_unchallenged.xml` with the code swapped, written to a scratch folder.
pub fn refused_at_once(code: u16, port: u16) -> Sipp {
    let template =
        std::fs::read_to_string(Path::new(SIPP_DIR).join("uac_refused_unchallenged.xml"))
            .expect("the scenario exists");
    let scenario = template
        .replace("response=\"403\"", &format!("response=\"{code}\""))
        .replace("uac_refused_unchallenged", &format!("uac_refused_{code}"));
    let path = temp_dir("scenario").join(format!("uac_refused_{code}"));
    std::fs::write(path.with_extension("xml"), scenario).unwrap();
    Sipp::new(path.to_str().expect("a UTF-8 path"), port)
}

/// One SIPp run.
pub struct Sipp {
    pub scenario: String,
    pub port: u16,
    pub media_port: Option<u16>,
    pub args: Vec<String>,
    pub transport: &'static str,
    /// The loopback address SIPp sends from.
    pub ip: &'static str,
}

/// A SIPp process started in the background.
pub struct SippRun {
    child: Child,
    name: String,
    stdout: PathBuf,
    started: Instant,
}

impl Sipp {
    pub fn new(scenario: &str, port: u16) -> Sipp {
        Sipp {
            scenario: scenario.to_owned(),
            port,
            media_port: None,
            args: Vec::new(),
            transport: "u1",
            ip: "127.0.0.1",
        }
    }

    pub fn arg(mut self, a: &str) -> Sipp {
        self.args.push(a.to_owned());
        self
    }

    pub fn key(mut self, k: &str, v: &str) -> Sipp {
        self.args.extend(["-key".into(), k.into(), v.into()]);
        self
    }

    pub fn auth(self, user: &str) -> Sipp {
        let p = password(user);
        self.arg("-au")
            .arg(user)
            .arg("-ap")
            .arg(&p)
            .key("caller", user)
    }

    pub fn media(mut self, port: u16) -> Sipp {
        self.media_port = Some(port);
        self
    }

    /// Sends from `ip` (another loopback address) rather than 127.0.0.1.
    pub fn bind_ip(mut self, ip: &'static str) -> Sipp {
        self.ip = ip;
        self
    }

    pub fn tcp(mut self) -> Sipp {
        self.transport = "t1";
        self
    }

    /// Starts SIPp against `target` (client mode) or as a server when `target` is `None`.
    pub fn spawn(&self, target: Option<SocketAddr>) -> SippRun {
        let dir = temp_dir("sipp");
        let stdout = dir.join("sipp.out");
        let mut cmd = Command::new("sipp");
        cmd.current_dir(&dir)
            .arg("-sf")
            .arg(Path::new(SIPP_DIR).join(format!("{}.xml", self.scenario)))
            .args(["-i", self.ip, "-p", &self.port.to_string()])
            .args(["-t", self.transport])
            .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
            .args(["-trace_err", "-trace_msg"]);
        if let Some(mp) = self.media_port {
            cmd.args(["-mi", self.ip, "-mp", &mp.to_string()]);
        } else {
            cmd.args(["-mi", self.ip, "-mp", &port_block(4).to_string()]);
        }
        cmd.args(&self.args);
        if let Some(t) = target
            && self.args.iter().any(|a| a == "-au")
            && let Some(uri) = self.auth_uri(t)
        {
            cmd.args(["-auth_uri", &uri]);
        }
        if let Some(t) = target {
            cmd.arg(t.to_string());
        }
        let child = cmd
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp is installed (the README test command installs sip-tester)");
        SippRun {
            child,
            name: self.scenario.clone(),
            stdout: dir,
            started: Instant::now(),
        }
    }

    /// What SIPp must put in its credentials' `uri`: the switch checks it against the
    /// Request-URI (RFC 3261 §22.4), and SIPp 3.6 otherwise writes `sip:<remote ip>:<port>`.
    fn auth_uri(&self, target: SocketAddr) -> Option<String> {
        let path = Path::new(SIPP_DIR).join(format!("{}.xml", self.scenario));
        let service = self
            .args
            .iter()
            .position(|a| a == "-s")
            .and_then(|i| self.args.get(i + 1))
            .map_or("service", String::as_str);
        sipp_auth_uri(&std::fs::read_to_string(path).ok()?, service, target)
    }

    /// Runs to completion and asserts success.
    pub fn run(&self, target: SocketAddr) {
        self.spawn(Some(target)).expect_success();
    }
}

impl SippRun {
    /// Waits (bounded) and returns the exit code.
    pub fn wait(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break -2;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (code, self.traces())
    }

    /// How long it has been running.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn traces(&self) -> String {
        let mut out = format!("--- sipp {} ---\n", self.name);
        if let Ok(entries) = std::fs::read_dir(&self.stdout) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with("errors.log") || name.ends_with("messages.log") {
                    out.push_str(&format!("[{name}]\n"));
                    out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Asserts SIPp exited 0 (all calls successful).
    pub fn expect_success(self) {
        let (code, traces) = self.wait();
        assert_eq!(code, 0, "sipp failed with exit code {code}\n{traces}");
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers `user` from `port` with SIPp and asserts 200.
pub fn register(switch: &SwitchProcess, user: &str, port: u16) {
    Sipp::new("register", port)
        .arg("-s")
        .arg(user)
        .auth(user)
        .key("expires", "300")
        .run(switch.sip);
}

/// A packet capture on loopback (tshark), counting UDP datagrams per destination port.
pub struct Capture {
    tshark: tshark::Tshark,
    ports: Vec<u16>,
}

impl Capture {
    pub fn start(ports: &[u16]) -> Capture {
        let filter = tshark::Tshark::to_ports(ports);
        Capture {
            tshark: tshark::Tshark::start(
                &filter,
                ports,
                false,
                &["frame.time_epoch", "udp.dstport"],
            ),
            ports: ports.to_vec(),
        }
    }

    /// Stops and returns packets per destination port.
    pub fn stop(self) -> HashMap<u16, usize> {
        let ports = self.ports.clone();
        let mut counts: HashMap<u16, usize> = ports.iter().map(|p| (*p, 0)).collect();
        for (_, port) in self.stop_timed() {
            *counts.entry(port).or_default() += 1;
        }
        counts
    }

    /// Stops and returns every packet as (Unix time in seconds, destination port).
    pub fn stop_timed(self) -> Vec<(f64, u16)> {
        let out = self.tshark.stop();
        out.lines()
            .filter_map(|l| {
                let (time, port) = l.trim().split_once('\t')?;
                Some((time.parse().ok()?, port.trim().parse().ok()?))
            })
            .collect()
    }
}

/// Seconds since the Unix epoch (to compare with [`Capture::stop_timed`]).
pub fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Packets to `port` captured between `from` and `to` (Unix seconds).
pub fn packets_between(packets: &[(f64, u16)], port: u16, from: f64, to: f64) -> usize {
    packets
        .iter()
        .filter(|(t, p)| *p == port && *t >= from && *t < to)
        .count()
}

/// Sends raw bytes over UDP and returns the first response, if any arrives within `wait`.
pub fn udp_exchange(to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.send_to(bytes, to).unwrap();
    let mut buf = vec![0u8; 65_536];
    match s.recv_from(&mut buf) {
        Ok((n, _)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(_) => None,
    }
}

/// A load bench's command line: `cargo bench` passes `--bench` (a full run that reports),
/// `cargo test` does not (a small smoke run that asserts); `--flag value` overrides.
pub struct BenchArgs(Vec<String>);

impl BenchArgs {
    pub fn from_env() -> BenchArgs {
        BenchArgs(std::env::args().collect())
    }

    /// Whether this is the full run.
    pub fn full(&self) -> bool {
        self.0.iter().any(|a| a == "--bench")
    }

    /// Whether `flag` was given.
    pub fn flag(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }

    /// The value after `flag`, or `default`; an unparseable one stops the run.
    pub fn value<T: std::str::FromStr>(&self, flag: &str, default: T) -> T {
        self.0
            .iter()
            .position(|a| a == flag)
            .and_then(|i| self.0.get(i + 1))
            .map_or(default, |v| {
                v.parse().unwrap_or_else(|_| panic!("{flag} {v}"))
            })
    }
}
