//! Re-bridges under load: `--calls` queue calls (100) up at once, each agent's phone pressing
//! hold and resume `--cycles` times (5), `--hold-ms` apart (2,000), while every customer and
//! every agent streams a tone. Each press is a re-INVITE the switch answers itself and a
//! bridge change (customer to music, and back to the agent).
//!
//! What is measured is the customer's side, the direction that must never break: what the
//! customer hears switches between the agent and music on hold, and must do so without a
//! gap, without a sequence-number jump and without a new SSRC (the switch keeps one
//! continuous stream per leg across bridges). Every RTP packet reaching the customers is
//! captured (tshark) and per call the largest gap between packets, the sequence jumps and the
//! SSRC changes are counted; the switch's CPU over the run and its socket drops are printed.
//!
//! `cargo bench --bench rebridge` runs the full target; `-- --calls N --cycles N --hold-ms N`
//! override it. Under `cargo test` a small run asserts that no call broke.
//!
//! The same harness measures noise suppression at scale: `--cycles 0` keeps every call
//! talking for `--hold-ms` with no hold at all, `--denoise off|customer|both` sets which
//! directions RNNoise cleans (org settings; the default is the lab profile's, customer) and
//! `--record on|off` whether calls are recorded (default on). For instance, 100 calls with
//! both directions cleaned are 200 denoised legs:
//! `cargo bench --bench rebridge -- --calls 100 --cycles 0 --hold-ms 30000 --denoise both
//! --record off`, against the same with `--denoise off` for the relay alone.
// Test harnesses are the IO side: they read the clock to bound waits and time phases.
#![allow(clippy::disallowed_methods)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/support.rs"]
mod support;

use common::desktop::{ok, provision};
use common::tshark::Tshark;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// SIPp's media ports: customers count up from here by 4 per call; agents from AGENT_MEDIA.
const CUSTOMER_MEDIA: u16 = 10_000;
const AGENT_MEDIA: u16 = 22_000;

struct Plan {
    calls: u16,
    /// Zero: no hold at all, the agents' phones just talk.
    cycles: u32,
    hold_ms: u64,
    /// `--denoise` as given (`off`, `customer`, `both`), or the profile's default.
    denoise: String,
    record: bool,
    /// The org settings PUT before the calls: recording and noise suppression.
    settings: Value,
    smoke: bool,
}

impl Plan {
    fn from_args() -> Plan {
        let args = BenchArgs::from_env();
        let smoke = !args.full();
        let (calls, cycles, hold_ms) = if smoke { (4, 1, 1500) } else { (100, 5, 2000) };
        let record = args.value("--record", "on".to_owned()) != "off";
        let denoise = args.value("--denoise", "profile default".to_owned());
        let mut settings = json!({ "recording": record });
        let directions = match denoise.as_str() {
            "profile default" => None,
            "off" => Some((false, false)),
            "customer" => Some((true, false)),
            "both" => Some((true, true)),
            other => panic!("--denoise {other}: off, customer or both"),
        };
        if let Some((customer, agent)) = directions {
            settings["noise_suppression"] = json!(customer);
            settings["noise_suppression_agent_audio"] = json!(agent);
        }
        Plan {
            calls: args.value("--calls", calls),
            cycles: args.value("--cycles", cycles),
            hold_ms: args.value("--hold-ms", hold_ms),
            denoise,
            record,
            settings,
            smoke,
        }
    }
}

/// tshark on the customers' media ports: (time, sequence, SSRC) of every RTP packet.
struct RtpCapture {
    tshark: Tshark,
}

impl RtpCapture {
    fn start(ports: &[u16]) -> RtpCapture {
        let (low, high) = (ports[0], ports[ports.len() - 1]);
        let filter = format!("udp dst portrange {low}-{high}");
        let fields = ["frame.time_epoch", "udp.dstport", "rtp.seq", "rtp.ssrc"];
        RtpCapture {
            tshark: Tshark::start(&filter, ports, true, &fields),
        }
    }

    /// Packets per stream (SSRC): SIPp 3.6 gives every call the same [auto_media_port], so
    /// the switch's streams to the customers share one port and only their SSRCs tell them
    /// apart.
    fn stop(self) -> BTreeMap<String, Vec<(f64, u16)>> {
        let out = self.tshark.stop();
        let mut streams: BTreeMap<String, Vec<(f64, u16)>> = BTreeMap::new();
        for line in out.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let (Some(time), Some(seq), Some(ssrc)) = (
                f.first().and_then(|v| v.parse().ok()),
                f.get(2).and_then(|v| v.trim().parse().ok()),
                f.get(3)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty()),
            ) else {
                continue;
            };
            streams.entry(ssrc).or_default().push((time, seq));
        }
        streams
    }
}

/// One stream: its largest gap (s) and its sequence jumps, between its first and last half
/// second, and how long it lasted (s).
fn continuity(packets: &mut [(f64, u16)]) -> (f64, usize, f64) {
    packets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (Some(first), Some(last)) = (packets.first(), packets.last()) else {
        return (f64::INFINITY, 0, 0.0);
    };
    let (from, to) = (first.0 + 0.5, last.0 - 0.5);
    let steady: Vec<_> = packets
        .iter()
        .filter(|p| p.0 >= from && p.0 <= to)
        .collect();
    let mut gap: f64 = 0.0;
    let mut jumps = 0;
    for pair in steady.windows(2) {
        gap = gap.max(pair[1].0 - pair[0].0);
        if pair[1].1 != pair[0].1.wrapping_add(1) {
            jumps += 1;
        }
    }
    (gap, jumps, last.0 - first.0)
}

fn sipp(dir: &Path, scenario: &Path, port: u16, tag: &str, media_base: u16) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.current_dir(dir)
        .arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mi", "127.0.0.1", "-t", "u1", "-nostdin"])
        .args(["-mp", &media_base.to_string()])
        .args(["-trace_err", "-error_file"])
        .arg(dir.join(format!("{tag}-errors.log")))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn main() {
    let plan = Plan::from_args();
    let calls = plan.calls;
    let sw = SwitchProcess::start(SwitchOptions {
        log_filter: "warn",
        rtp_ports: calls * 4 + 40,
        extra_extensions: calls,
        extra_profile: TRUNK_ADMISSION.into(),
        ..SwitchOptions::default()
    });
    let dir = sw.dir.join("rebridge");
    std::fs::create_dir_all(&dir).unwrap();
    // One agent per call, all their phones one SIPp process.
    let agents: Vec<(String, String)> = (0..calls)
        .map(|i| (format!("a{i:03}"), (2000 + u32::from(i)).to_string()))
        .collect();
    let named: Vec<(&str, &str)> = agents
        .iter()
        .map(|(a, e)| (a.as_str(), e.as_str()))
        .collect();
    provision(&sw, 30, &named);
    let phones = free_udp_port();
    for (_, extension) in &agents {
        register(&sw, extension, phones);
    }
    let media = format!(
        "<nop><action><exec rtp_stream=\"{},-1,8\"/></action></nop>",
        write_tone(&dir).display()
    );
    let hold_ms = plan.hold_ms.to_string();
    let cycles = plan.cycles.to_string();
    let agent_scenario = scenario(
        if plan.cycles == 0 {
            "uas"
        } else {
            "holding_agent"
        },
        &dir,
        &[
            ("<!-- media -->", &media),
            ("HOLD_MS", &hold_ms),
            ("CYCLES", &cycles),
        ],
    );
    let mut agent_phones = Reaped(
        sipp(&dir, &agent_scenario, phones, "agents", AGENT_MEDIA)
            .args(["-m", &calls.to_string()])
            .spawn()
            .expect("sipp is installed"),
    );
    // The admin logs the agents in: session logins are rate limited per client address, and
    // the phones drive everything else.
    let admin = sw.cti_token().to_owned();
    for (agent, _) in &agents {
        ok(
            &sw,
            "POST",
            &format!("/api/v1/agents/{agent}/login"),
            &admin,
            json!({}),
        );
        ok(
            &sw,
            "PUT",
            &format!("/api/v1/agents/{agent}/state"),
            &admin,
            json!({"state": "available"}),
        );
    }
    ok(
        &sw,
        "PUT",
        "/api/v1/settings",
        &admin,
        plan.settings.clone(),
    );
    let ports: Vec<u16> = (0..calls).map(|i| CUSTOMER_MEDIA + 4 * i).collect();
    let capture = RtpCapture::start(&ports);
    let talk = Duration::from_millis(plan.hold_ms * (2 * u64::from(plan.cycles) + 1) + 1000);
    let caller_scenario = scenario("queue_caller", &dir, &[("<!-- media -->", &media)]);
    let pid = sw.pid();
    let (cpu0, drops0, started) = (cpu_seconds(pid), switch_socket_drops(pid), Instant::now());
    let mut customers = Reaped(
        sipp(
            &dir,
            &caller_scenario,
            free_udp_port(),
            "customers",
            CUSTOMER_MEDIA,
        )
        .args(["-s", "7000", "-r", "20", "-m", &calls.to_string()])
        .args([
            "-l",
            &calls.to_string(),
            "-d",
            &talk.as_millis().to_string(),
        ])
        .args(["-timeout", &format!("{}s", talk.as_secs() + 120)])
        .arg(sw.sip.to_string())
        .spawn()
        .expect("sipp is installed"),
    );
    // While every call is up (after the 20-per-second ramp, before the first hangs up), the
    // switch's CPU is that of `calls` calls in steady state.
    let ramp = Duration::from_millis(u64::from(calls) * 50 + 2000);
    let steady = talk.checked_sub(ramp + Duration::from_secs(2));
    let steady_cpu = steady
        .filter(|s| *s >= Duration::from_secs(5))
        .map(|window| {
            std::thread::sleep(ramp);
            let cpu1 = cpu_seconds(pid);
            std::thread::sleep(window);
            (cpu_seconds(pid) - cpu1) / window.as_secs_f64()
        });
    let customers_code = wait(&mut customers, talk + Duration::from_secs(180));
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu, drops) = (cpu_seconds(pid) - cpu0, switch_socket_drops(pid) - drops0);
    let agents_code = wait(&mut agent_phones, Duration::from_secs(20));
    let mut streams = capture.stop();
    // Kept next to the switch's log for a look when a run goes wrong.
    let dump: String = streams
        .iter()
        .flat_map(|(ssrc, packets)| {
            packets
                .iter()
                .map(move |(t, seq)| format!("{t:.4}\t{ssrc}\t{seq}\n"))
        })
        .collect();
    std::fs::write(dir.join("customers-rtp.tsv"), dump).unwrap();

    // One stream per call, lasting the whole call: a new SSRC at a re-bridge would show as
    // more streams than calls.
    let (mut worst_gap, mut jumps, mut broken, mut shortest) = (0.0_f64, 0, 0, f64::INFINITY);
    for packets in streams.values_mut() {
        let (gap, j, lasted) = continuity(packets);
        worst_gap = worst_gap.max(gap);
        jumps += j;
        shortest = shortest.min(lasted);
        if gap > 0.1 || j > 0 {
            broken += 1;
        }
    }
    let ssrc_changes = streams.len().saturating_sub(usize::from(calls));
    let packets: usize = streams.values().map(Vec::len).sum();
    let rebridges = u64::from(calls) * u64::from(plan.cycles) * 2;
    println!(
        "re-bridges under load: {calls} concurrent queue calls, {rebridges} hold/resume \
         re-bridges in {elapsed:.1} s; customers received {packets} RTP packets: largest gap \
         {:.0} ms, {jumps} sequence jumps, {ssrc_changes} SSRC changes ({} streams), {broken} \
         streams with a gap over 100 ms or a jump; switch CPU {:.2} cores (noise suppression: \
         {}; recording {}); packets dropped at the switch's sockets {drops}; SIPp exit \
         codes customers {customers_code}, agents {agents_code}; {}",
        worst_gap * 1000.0,
        streams.len(),
        cpu / elapsed,
        plan.denoise,
        if plan.record { "on" } else { "off" },
        steady_cpu.map_or("no steady window (talk too short)".to_owned(), |c| format!(
            "with all {calls} calls up: switch CPU {c:.3} cores"
        )),
    );
    for (tag, code) in [("customers", customers_code), ("agents", agents_code)] {
        if code != 0 {
            let log =
                std::fs::read_to_string(dir.join(format!("{tag}-errors.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!(
                "{tag}' SIPp errors (last lines first):\n{}",
                tail.join("\n")
            );
        }
    }
    if plan.smoke {
        assert_eq!(
            (customers_code, agents_code),
            (0, 0),
            "every call completed"
        );
        assert_eq!(
            (jumps, ssrc_changes),
            (0, 0),
            "the customer's stream stayed continuous"
        );
        assert!(worst_gap < 0.25, "largest gap {:.0} ms", worst_gap * 1000.0);
    }
}
