//! Safe defaults, against the real binary: the lab profile refuses to listen beyond loopback,
//! and the container profile (no shipped secret) starts there with a first admin password
//! generated, printed once, and never seeded again.
// Test harnesses are the IO side: they read the clock to bound waits.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{free_port, http_get, http_request};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn binary() -> std::ffi::OsString {
    std::env::var_os("SWITCHBOARD_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_switchboard").into())
}

fn profile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sip-profiles")
        .join(name)
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-safe-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The switch on `profile` with its state under `dir`, listening on every address.
fn switch(profile_name: &str, dir: &Path, http_port: u16) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("--profile")
        .arg(profile(profile_name))
        .args(["--sip-listen", &format!("0.0.0.0:{}", free_port())])
        .args(["--http-listen", &format!("0.0.0.0:{http_port}")])
        .args([
            "--database",
            &format!("sqlite://{}", dir.join("switchboard.db").display()),
        ])
        .arg("--recordings")
        .arg(dir.join("recordings"))
        .env_remove("SWITCHBOARD_ADMIN_PASSWORD")
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env("RUST_LOG", "info");
    command
}

/// Runs until exit, bounded.
fn run_to_exit(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the switchboard binary runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the switch kept running with lab secrets on 0.0.0.0");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn the_lab_profile_on_every_address_refuses_to_start_and_names_the_secrets() {
    let dir = scratch("lab");
    let http_port = free_port();
    let out = run_to_exit(switch("default.toml", &dir, http_port));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for expected in [
        "refusing to listen on 0.0.0.0:",
        "(sip.listen)",
        "(http.listen)",
        "extensions 1000, 1001",
        "1019",
        "cti.admin_password is the lab admin password",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("lab-1000-secret"),
        "the error names keys, not secrets"
    );
    assert!(
        http_get(
            format!("127.0.0.1:{http_port}").parse().unwrap(),
            "/api/v1/health"
        )
        .is_err(),
        "nothing listens"
    );
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the container profile and waits for its API; the process and the lines of its
/// standard output, as they come.
fn start_container(dir: &Path, http_port: u16) -> (Running, mpsc::Receiver<String>) {
    let mut child = switch("container.toml", dir, http_port)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("switch.log")).unwrap())
        .spawn()
        .expect("the switchboard binary runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(http_get(addr, "/api/v1/health"), Ok((200, _))) {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let log = std::fs::read_to_string(dir.join("switch.log")).unwrap_or_default();
            panic!("the container profile did not start:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (Running(child), rx)
}

fn login(http_port: u16, password: &str) -> u16 {
    let body = format!(r#"{{"agent_id": "admin", "password": "{password}"}}"#);
    let addr = format!("127.0.0.1:{http_port}").parse().unwrap();
    http_request(addr, "POST", "/api/v1/sessions", None, Some(&body))
        .unwrap()
        .0
}

#[test]
fn the_container_profile_starts_on_every_address_with_a_generated_admin_password_shown_once() {
    let dir = scratch("container");
    let http_port = free_port();
    let (first, stdout) = start_container(&dir, http_port);
    let banner = stdout
        .recv_timeout(Duration::from_secs(5))
        .expect("the generated password is printed on standard output");
    let password = banner
        .split("generated password ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in {banner:?}"))
        .to_owned();
    assert!(password.len() >= 32, "{password}");
    assert_eq!(login(http_port, "lab-admin-secret"), 401);
    assert_eq!(login(http_port, &password), 201);
    let log = std::fs::read_to_string(dir.join("switch.log")).unwrap();
    assert!(!log.contains(&password), "the log never holds the password");
    drop(first);

    // A second start on the same database seeds nothing and prints nothing.
    let (_second, stdout) = start_container(&dir, http_port);
    assert!(stdout.recv_timeout(Duration::from_millis(500)).is_err());
    assert_eq!(login(http_port, &password), 201);
}
