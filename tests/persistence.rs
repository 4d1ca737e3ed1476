//! What survives a restart: registrations and CDRs, on SQLite and on PostgreSQL; and a clean
//! shutdown that ends live calls with BYE.

mod common;

use common::*;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A fresh PostgreSQL database for one test, from the server the test command started.
/// Fails (never skips silently) when no server was given, unless explicitly skipped.
fn postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL") else {
        if std::env::var("SWITCHBOARD_SKIP_POSTGRES").as_deref() == Ok("1") {
            eprintln!("SKIPPED: SWITCHBOARD_SKIP_POSTGRES=1");
            return None;
        }
        panic!("SWITCHBOARD_TEST_POSTGRES_URL is not set: run the tests with scripts/test-all");
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "sb_it_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let status = Command::new("psql")
        .arg(&base)
        .args(["-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql is installed with PostgreSQL");
    assert!(status.success(), "cannot create database {name}");
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Some(format!("{prefix}/{name}"))
}

/// Registers 1001 on a first switch, restarts it on the same database and SIP port, and calls
/// 1001 through the second one: the binding came back from the database.
fn registration_survives_a_restart_and_the_call_connects(database: Option<String>) {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-restart-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sip_port = free_port();
    let opts = SwitchOptions {
        database: database.clone(),
        sip_port: Some(sip_port),
        dir: Some(dir.clone()),
        ..SwitchOptions::default()
    };
    let callee_port = free_udp_port();
    {
        let first = SwitchProcess::start(opts.clone());
        register(&first, "1001", callee_port);
        let status = first.stop();
        assert!(status.success(), "switch exited with {status}");
    }
    let second = SwitchProcess::start(opts);
    let uas = Sipp::new("uas_answer", callee_port)
        .media(port_block(4))
        .spawn(None);
    std::thread::sleep(Duration::from_millis(300));
    Sipp::new("uac_call", free_udp_port())
        .arg("-s")
        .arg("1001")
        .auth("1000")
        .arg("-d")
        .arg("500")
        .run(second.sip);
    uas.expect_success();
    let page = second.wait_for_cdrs(1);
    assert_eq!(
        page["items"][0]["hangup_cause"], "normal_clearing",
        "{page}"
    );
    assert!(
        second.log().contains("registrations restored bindings=1"),
        "{}",
        second.log()
    );
}

fn rand_suffix() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn registrations_survive_a_restart_on_sqlite() {
    registration_survives_a_restart_and_the_call_connects(None);
}

#[test]
fn registrations_survive_a_restart_on_postgresql() {
    if let Some(db) = postgres_database() {
        registration_survives_a_restart_and_the_call_connects(Some(db));
    }
}

#[test]
fn a_call_on_postgresql_writes_its_cdr_there() {
    let Some(db) = postgres_database() else {
        return;
    };
    let sw = SwitchProcess::start(SwitchOptions {
        database: Some(db.clone()),
        ..SwitchOptions::default()
    });
    let port = free_udp_port();
    register(&sw, "1002", port);
    let uas = Sipp::new("uas_answer", port)
        .media(port_block(4))
        .spawn(None);
    std::thread::sleep(Duration::from_millis(300));
    Sipp::new("uac_call", free_udp_port())
        .arg("-s")
        .arg("1002")
        .auth("1000")
        .arg("-d")
        .arg("500")
        .run(sw.sip);
    uas.expect_success();
    sw.wait_for_cdrs(1);
    // Read it back with psql, not through the switch.
    let out = Command::new("psql")
        .arg(&db)
        .args([
            "-t",
            "-A",
            "-c",
            "SELECT caller, callee, hangup_cause, sip_code FROM cdrs",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), "1000|1002|normal_clearing|200");
}

#[test]
fn sigterm_ends_live_calls_with_bye_and_records_them() {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-shutdown-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = SwitchOptions {
        dir: Some(dir),
        ..SwitchOptions::default()
    };
    let sw = SwitchProcess::start(opts.clone());
    let port = free_udp_port();
    register(&sw, "1003", port);
    // Both phones wait for a BYE they do not send themselves.
    let uas = Sipp::new("uas_answer_silent", port).spawn(None);
    std::thread::sleep(Duration::from_millis(300));
    let uac = Sipp::new("uac_callee_hangs_up", free_udp_port())
        .arg("-s")
        .arg("1003")
        .auth("1000")
        .spawn(Some(sw.sip));
    std::thread::sleep(Duration::from_millis(1500));
    let status = sw.stop();
    assert!(status.success(), "switch exited with {status}");
    uac.expect_success();
    uas.expect_success();
    let again = SwitchProcess::start(opts);
    let page = again.wait_for_cdrs(1);
    assert_eq!(page["items"][0]["hangup_cause"], "shutdown", "{page}");
}

/// Three extension-to-extension calls and one queue call answered by alice are up when the
/// switch is killed with SIGKILL; the switch restarts on the same database.
///
/// ```text
///  1000 ─▶ 1003, 1004, 1005 (answered, silent)      1001 ─▶ 7000 ─▶ alice's phone 1011
///                       ── kill -9 ──▶  restart
///  GET /cdrs: four records, interrupted, with caller, callee, answer time and legs;
///  the interaction is interrupted; alice's state log says engaged → logged_out (switch_restart)
/// ```
fn a_crash_leaves_every_call_that_was_up_recorded_as_interrupted(database: Option<String>) {
    use common::desktop::*;
    use serde_json::Value;

    let dir = std::env::temp_dir().join(format!(
        "switchboard-crash-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = SwitchOptions {
        database,
        dir: Some(dir),
        ..SwitchOptions::default()
    };
    let sw = SwitchProcess::start(opts.clone());
    provision(&sw, 30, &[("alice", "1011")]);
    let mut phones = Vec::new();
    let callees = ["1003", "1004", "1005"];
    for callee in callees {
        let port = free_udp_port();
        register(&sw, callee, port);
        phones.push(Sipp::new("uas_answer_silent", port).spawn(None));
    }
    let agent_port = free_udp_port();
    register(&sw, "1011", agent_port);
    phones.push(Sipp::new("uas_answer", agent_port).spawn(None));
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    std::thread::sleep(Duration::from_millis(300));
    for callee in callees {
        phones.push(
            Sipp::new("uac_callee_hangs_up", free_udp_port())
                .arg("-s")
                .arg(callee)
                .auth("1000")
                .spawn(Some(sw.sip)),
        );
    }
    phones.push(
        Sipp::new("uac_queue_call", free_udp_port())
            .arg("-s")
            .arg("7000")
            .auth("1001")
            .spawn(Some(sw.sip)),
    );
    alice.expect("interaction.connected", |_| true);
    // The extension calls were answered long before the queue call's agent. The store
    // writer journals in-progress records up to 250 ms late (`JOURNAL_DELAY`): twice that
    // lets the agent's answer reach the database before the crash. No API shows a record in
    // progress, so there is nothing to wait on instead.
    std::thread::sleep(Duration::from_millis(500));
    sw.kill();
    for phone in phones {
        phone.kill();
    }

    let again = SwitchProcess::start(opts);
    let page = again.cdrs("");
    assert_eq!(page["total"], 4, "{page}");
    let items = page["items"].as_array().unwrap();
    for cdr in items {
        assert_eq!(cdr["hangup_cause"], "interrupted", "{cdr}");
        assert_eq!(cdr["hangup_side"], "switch", "{cdr}");
        let answer = cdr["answer_ms"].as_i64().expect("answered");
        assert!(cdr["end_ms"].as_i64().unwrap() >= answer, "{cdr}");
        assert_eq!(cdr["legs"][0]["role"], "caller", "{cdr}");
    }
    let mut extension_calls: Vec<(&str, &str)> = items
        .iter()
        .filter(|c| c["callee"] != "7000")
        .map(|c| (c["caller"].as_str().unwrap(), c["callee"].as_str().unwrap()))
        .collect();
    extension_calls.sort_unstable();
    assert_eq!(
        extension_calls,
        [("1000", "1003"), ("1000", "1004"), ("1000", "1005")]
    );
    let queue_call = items.iter().find(|c| c["callee"] == "7000").unwrap();
    assert_eq!(queue_call["caller"], "1001");
    let agent_leg = &queue_call["legs"][1];
    assert_eq!(agent_leg["role"], "agent", "{queue_call}");
    assert_eq!(agent_leg["final_code"], 200, "{queue_call}");
    assert!(agent_leg["codec"].is_string(), "{queue_call}");

    let admin = again.cti_token().to_owned();
    let (_, interactions) = call(&again, "GET", "/api/v1/interactions", &admin, None);
    let ix: &Value = &interactions["items"][0];
    assert_eq!(ix["state"], "interrupted", "{interactions}");
    assert_eq!(ix["agent"], "alice");
    assert!(ix["ended_ms"].as_i64().is_some(), "{ix}");

    let (_, states) = call(&again, "GET", "/api/v1/agents/alice/states", &admin, None);
    let last = &states[0];
    assert_eq!(last["to"]["state"], "logged_out", "{states}");
    assert_eq!(last["from"]["state"], "engaged", "{states}");
    assert_eq!(last["reason"], "switch_restart", "{states}");
    assert_eq!(last["actor"]["type"], "system", "{states}");
}

#[test]
fn a_crash_leaves_every_call_that_was_up_recorded_as_interrupted_on_sqlite() {
    a_crash_leaves_every_call_that_was_up_recorded_as_interrupted(None);
}

#[test]
fn a_crash_leaves_every_call_that_was_up_recorded_as_interrupted_on_postgresql() {
    if let Some(db) = postgres_database() {
        a_crash_leaves_every_call_that_was_up_recorded_as_interrupted(Some(db));
    }
}
