//! The SIPp load harness: starts the real switch (release build), registers a SIPp callee and
//! drives calls at it from a SIPp caller over loopback, then prints what the issue asks for:
//!
//! 1. calls per second: `--cps` new calls per second for `--cps-secs` seconds, each call
//!    INVITE → 407 → INVITE with digest → 180 → 200 with SDP → ACK, `--talk-ms` of talk
//!    (1,000 by default: a call that lasts shows what a live call costs, its media endpoints
//!    and dialogs included; 0 gives the old zero-length calls) → BYE; sustained rate,
//!    failed-call ratio, switch CPU per call, and the switch's resident memory at the end
//!    and at its peak (ended calls are remembered for 64·T1 to absorb retransmissions, so
//!    memory grows for the first 32 s of a run and must then stay flat);
//! 2. idle anchored calls: `--calls` calls established and held without media; resident
//!    memory per call;
//! 3. concurrent calls with RTP: `--calls` calls, each streaming G.711 A-law both ways through
//!    the switch (SIPp rtpstream, 50 packets per second per direction per leg), held
//!    `--hold-secs`; switch CPU per core, and datagrams the kernel dropped because the
//!    switch did not read its sockets in time (zero: the switch kept up with every packet).
//!
//! 4. with `--outbound`, only the first, twice in one process: the reference (extension to
//!    extension), then the same calls to an external number, out through a trunk whose
//!    gateway is the SIPp callee (E.164 normalisation, calling class, route and trunk channel
//!    accounting on the way), so the cost of the trunk path reads against a run of the same
//!    machine at the same moment.
//!
//! `cargo bench --bench load` runs the full targets; `cargo bench --bench load -- --cps 500
//! --calls 300 --hold-secs 30` overrides them. Under `cargo test` (no `--bench` argument) it
//! runs a seconds-long smoke version that asserts every call succeeded, so the harness itself
//! is tested with everything else.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/support.rs"]
mod support;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

struct Plan {
    cps: u32,
    cps_secs: u32,
    /// How long each call of the calls-per-second run talks.
    talk_ms: u32,
    calls: u32,
    hold_secs: u32,
    /// Smoke runs assert; full runs report.
    smoke: bool,
    /// Compare calls out through a trunk with extension calls (and run nothing else).
    outbound: bool,
}

/// Where the calls-per-second run sends its calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialled {
    /// Extension 1002, the SIPp callee registered.
    Extension,
    /// A national number, out through a trunk whose gateway is the SIPp callee.
    Trunk,
}

impl Plan {
    fn from_args() -> Plan {
        let args = BenchArgs::from_env();
        if args.full() {
            Plan {
                cps: args.value("--cps", 2000),
                cps_secs: args.value("--cps-secs", 20),
                talk_ms: args.value("--talk-ms", 1000),
                calls: args.value("--calls", 1500),
                hold_secs: args.value("--hold-secs", 60),
                smoke: false,
                outbound: args.flag("--outbound"),
            }
        } else {
            Plan {
                cps: 20,
                cps_secs: 2,
                talk_ms: 1000,
                calls: 10,
                hold_secs: 4,
                smoke: true,
                outbound: false,
            }
        }
    }
}

/// UDP datagrams sent on this machine so far (`OutDatagrams` of /proc/net/snmp): SIPp's
/// streams plus what the switch relays, so relaying shows as twice what SIPp sends alone.
fn udp_datagrams_sent() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap();
    let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    let names: Vec<&str> = udp[0].split_whitespace().collect();
    let values: Vec<&str> = udp[1].split_whitespace().collect();
    let i = names.iter().position(|n| *n == "OutDatagrams").unwrap();
    values[i].parse().unwrap()
}

/// Resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

struct Run {
    dir: PathBuf,
    sw: SwitchProcess,
    callee_port: u16,
}

impl Run {
    fn start(calls: u32) -> Run {
        Run::start_for(calls, Dialled::Extension)
    }

    fn start_for(calls: u32, dialled: Dialled) -> Run {
        let callee_port = free_udp_port();
        let mut extra_profile = TRUNK_ADMISSION.to_owned();
        if dialled == Dialled::Trunk {
            extra_profile.push_str(&format!(
                "[[trunks]]\nname = \"carrier\"\ngateways = [\"127.0.0.1:{callee_port}\"]\n\
                 caller_id = \"+33900000001\"\nmax_channels = 20000\n\n[dialing]\n\
                 [[dialing.routes]]\nprefix = \"+33\"\ntrunks = [\"carrier\"]\n"
            ));
        }
        let sw = SwitchProcess::start(SwitchOptions {
            log_filter: "warn",
            rtp_ports: u16::try_from(calls * 4 + 40).expect("calls fit the port range"),
            // Idle anchored calls send no RTP; they must outlive the hold time.
            rtp_timeout_secs: 900,
            extra_profile,
            ..SwitchOptions::default()
        });
        let dir = sw.dir.join("load");
        std::fs::create_dir_all(&dir).unwrap();
        if dialled == Dialled::Extension {
            register(&sw, "1002", callee_port);
        }
        Run {
            dir,
            sw,
            callee_port,
        }
    }

    fn sipp(&self, scenario: &Path, port: u16, tag: &str, media_base: &str) -> Command {
        let mut cmd = Command::new("sipp");
        cmd.current_dir(&self.dir)
            .arg("-sf")
            .arg(scenario)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mi", "127.0.0.1", "-t", "u1", "-nostdin"])
            // [auto_media_port] counts up from -mp: keep SIPp's media ports below the
            // switch's range (36000 and up), callers and callees apart.
            .args(["-mp", media_base])
            .args(["-trace_stat", "-fd", "1", "-stf"])
            .arg(self.dir.join(format!("{tag}.csv")))
            .args(["-trace_err", "-error_file"])
            .arg(self.dir.join(format!("{tag}-errors.log")))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    fn callee(&self, media: &str, calls: u32) -> Reaped {
        let uas = scenario("uas", &self.dir, &[("<!-- media -->", media)]);
        Reaped(
            self.sipp(&uas, self.callee_port, "uas", "22000")
                .args(["-m", &calls.to_string()])
                .spawn()
                .expect("sipp is installed (scripts/test-all installs sip-tester)"),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn caller(
        &self,
        media: &str,
        rate: u32,
        calls: u32,
        limit: u32,
        hold: Duration,
        dialled: Dialled,
    ) -> Reaped {
        let uac = scenario("uac", &self.dir, &[("<!-- media -->", media)]);
        let password = password("1001");
        let service = match dialled {
            Dialled::Extension => "1002",
            Dialled::Trunk => "0123456789",
        };
        let scenario_text = std::fs::read_to_string(&uac).expect("the load scenario was written");
        let auth_uri = sipp_auth_uri(&scenario_text, service, self.sw.sip)
            .expect("the load caller's INVITE carries [authentication]");
        Reaped(
            self.sipp(&uac, free_udp_port(), "uac", "10000")
                .args(["-s", service, "-au", "1001", "-ap", &password])
                .args(["-auth_uri", &auth_uri])
                .args(["-key", "caller", "1001"])
                .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
                .args(["-l", &limit.to_string()])
                .args(["-d", &hold.as_millis().to_string()])
                .args(["-timeout", &format!("{}s", hold.as_secs() + 120)])
                .arg(self.sw.sip.to_string())
                .spawn()
                .expect("sipp is installed"),
        )
    }

    /// Successful and failed calls from a SIPp statistics file's last line.
    fn stats(&self, tag: &str) -> (u64, u64) {
        let text = std::fs::read_to_string(self.dir.join(format!("{tag}.csv"))).unwrap_or_default();
        let mut lines = text.lines();
        let (Some(header), Some(last)) = (lines.next(), lines.last()) else {
            return (0, 0);
        };
        let names: Vec<&str> = header.split(';').collect();
        let values: Vec<&str> = last.split(';').collect();
        let get = |name: &str| {
            names
                .iter()
                .position(|n| *n == name)
                .and_then(|i| values.get(i)?.parse().ok())
                .unwrap_or(0)
        };
        (get("SuccessfulCall(C)"), get("FailedCall(C)"))
    }
}

fn calls_per_second(plan: &Plan, dialled: Dialled) {
    let total = plan.cps * plan.cps_secs;
    let talk = Duration::from_millis(u64::from(plan.talk_ms));
    // Calls overlap: each talks `talk` and takes a moment to set up and tear down.
    let overlap = f64::from(plan.cps) * (talk.as_secs_f64() + 0.5);
    let limit = (overlap as u32 + 1000).min(6000);
    let run = Run::start_for(limit.min(total.max(16)), dialled);
    let pid = run.sw.pid();
    let rss0 = rss_kib(pid);
    let mut callee = run.callee("", total);
    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();
    let mut caller = run.caller("", plan.cps, total, limit, talk, dialled);
    let budget = Duration::from_secs(u64::from(plan.cps_secs) * 3 + 60) + talk;
    let mut peak = rss0;
    let code = loop {
        if let Some(status) = caller.0.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > budget {
            break wait(&mut caller, Duration::ZERO);
        }
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(250));
    };
    // The last calls talked `talk` after the last was placed: the rate is over placing time.
    let elapsed = (started.elapsed() - talk).as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    let rss = rss_kib(pid);
    let _ = wait(&mut callee, Duration::from_secs(5));
    let (ok, failed) = run.stats("uac");
    let failed_ratio = failed as f64 / (ok + failed).max(1) as f64;
    let to = match dialled {
        Dialled::Extension => "to an extension",
        Dialled::Trunk => "out through a trunk",
    };
    println!(
        "calls per second ({to}): {ok} calls of {} ms in {elapsed:.1} s = {:.0} calls/s sustained \
         (asked {} calls/s), {failed} failed ({:.3}%), switch CPU {:.0} µs per call; switch \
         RSS {} MiB at the start, {} MiB at the end, {} MiB at its peak",
        plan.talk_ms,
        ok as f64 / elapsed,
        plan.cps,
        failed_ratio * 100.0,
        cpu / ok.max(1) as f64 * 1e6,
        rss0 / 1024,
        rss / 1024,
        peak / 1024,
    );
    if plan.smoke {
        assert_eq!(
            (code, ok, failed),
            (0, u64::from(total), 0),
            "smoke calls failed"
        );
    }
}

fn concurrent_calls(plan: &Plan, with_media: bool) {
    let run = Run::start(plan.calls);
    let pid = run.sw.pid();
    let media = if with_media {
        let tone = write_tone(&run.dir);
        format!(
            "<nop><action><exec rtp_stream=\"{},-1,8\"/></action></nop>",
            tone.display()
        )
    } else {
        String::new()
    };
    let rss0 = rss_kib(pid);
    let mut callee = run.callee(&media, plan.calls);
    let hold = Duration::from_secs(u64::from(plan.hold_secs));
    // Ramp up at 200 calls per second, so setup load does not blur the steady state.
    let rate = 200.min(plan.calls);
    let mut caller = run.caller(
        &media,
        rate,
        plan.calls,
        plan.calls,
        hold,
        Dialled::Extension,
    );
    let ramp =
        Duration::from_secs_f64(f64::from(plan.calls) / f64::from(rate)) + Duration::from_secs(2);
    std::thread::sleep(ramp.min(hold / 2));
    // Steady state: every call up; measure over the middle of the hold time.
    let window = (hold - ramp.min(hold / 2)) / 2;
    let (cpu0, drops0, sent0) = (
        cpu_seconds(pid),
        switch_socket_drops(pid),
        udp_datagrams_sent(),
    );
    std::thread::sleep(window);
    let cpu = cpu_seconds(pid) - cpu0;
    let drops = switch_socket_drops(pid) - drops0;
    let sent = (udp_datagrams_sent() - sent0) as f64 / window.as_secs_f64();
    let rss = rss_kib(pid);
    let code = wait(&mut caller, hold + Duration::from_secs(120));
    let _ = wait(&mut callee, Duration::from_secs(10));
    let (ok, failed) = run.stats("uac");
    let per_call = (rss.saturating_sub(rss0)) as f64 / f64::from(plan.calls);
    if with_media {
        // Each call: two legs, each receiving 50 and sending 50 packets per second.
        let received = f64::from(plan.calls) * 100.0;
        let packets = received * 2.0 * window.as_secs_f64();
        println!(
            "concurrent calls with RTP: {} calls held {} s, {ok} ok, {failed} failed; switch CPU \
             {:.2} cores over {:.0} s; UDP datagrams sent/s on the machine {sent:.0} (SIPp + \
             switch; nominal {:.0}), \
             {:.2} µs CPU per packet in or out; packets dropped at the switch's sockets \
             {drops}; RSS {:.1} KiB per call",
            plan.calls,
            plan.hold_secs,
            cpu / window.as_secs_f64(),
            window.as_secs_f64(),
            received * 2.0,
            cpu / packets * 1e6,
            per_call
        );
        if plan.smoke {
            // Without relaying only SIPp's half would be sent.
            assert!(
                sent > received * 1.5,
                "RTP was not relayed: {sent:.0} datagrams/s"
            );
        }
    } else {
        println!(
            "idle anchored calls: {} calls held {} s, {ok} ok, {failed} failed; RSS {rss0} KiB \
             before, {rss} KiB with the calls up = {per_call:.1} KiB per call",
            plan.calls, plan.hold_secs
        );
    }
    if plan.smoke {
        assert_eq!(
            (code, ok, failed),
            (0, u64::from(plan.calls), 0),
            "smoke calls failed"
        );
    }
}

fn main() {
    let plan = Plan::from_args();
    if plan.outbound {
        calls_per_second(&plan, Dialled::Extension);
        calls_per_second(&plan, Dialled::Trunk);
        return;
    }
    calls_per_second(&plan, Dialled::Extension);
    if plan.smoke {
        // The trunk path, asserted like the rest.
        calls_per_second(&plan, Dialled::Trunk);
    }
    concurrent_calls(&plan, false);
    concurrent_calls(&plan, true);
}
