//! The CTI API under a property-based API tester: schemathesis (from PyPI; `scripts/test-all`
//! installs it into `target/test-venv`) reads the switch's own OpenAPI document and sends each
//! operation a bounded number of generated requests, valid and invalid, as an admin and as an
//! agent, against a real switch on loopback with a fresh database.
//!
//! Properties: no response is a 5xx (`not_a_server_error`), and every 4xx is the API's JSON
//! error with a code and a message, naming the field when one is at fault
//! (`tests/api_property/switchboard_checks.py`). The seed is fixed so a failure replays; set
//! `SWITCHBOARD_API_PROPERTY_SEED` to explore others and `SWITCHBOARD_API_PROPERTY_EXAMPLES`
//! to send more per operation.
// Test harnesses are the IO side: they read the clock to bound waits.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{SwitchOptions, SwitchProcess, http_request};
use std::path::Path;
use std::process::Command;

const SCHEMATHESIS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/test-venv/bin/schemathesis"
);
const CHECKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api_property");

/// Logs `agent_id` in and returns its session token.
fn log_in(switch: &SwitchProcess, agent_id: &str, password: &str) -> String {
    let body = format!(r#"{{"agent_id": "{agent_id}", "password": "{password}"}}"#);
    let (status, body) =
        http_request(switch.http, "POST", "/api/v1/sessions", None, Some(&body)).unwrap();
    assert_eq!(status, 201, "login of {agent_id}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["token"].as_str().unwrap().to_owned()
}

/// Creates `id` with `role` (admin token `admin`) and logs it in.
fn agent_with_token(switch: &SwitchProcess, admin: &str, id: &str, role: &str) -> String {
    let password = format!("{id}-secret");
    let extension = if role == "agent" { r#""1011""# } else { "null" };
    let body = format!(
        r#"{{"id": "{id}", "name": "{id}", "password": "{password}", "extension": {extension}, "role": "{role}"}}"#
    );
    let (status, body) = http_request(
        switch.http,
        "POST",
        "/api/v1/agents",
        Some(admin),
        Some(&body),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    log_in(switch, id, &password)
}

/// Runs schemathesis's `phases` against `switch` with `token`; panics with its report on any
/// failure.
fn run_schemathesis(switch: &SwitchProcess, role: &str, token: &str, phases: &str) {
    let seed = std::env::var("SWITCHBOARD_API_PROPERTY_SEED").unwrap_or_else(|_| "16".into());
    let examples =
        std::env::var("SWITCHBOARD_API_PROPERTY_EXAMPLES").unwrap_or_else(|_| "15".into());
    let base = format!("http://{}", switch.http);
    let report = switch.dir.join(format!("schemathesis-{role}"));
    let output = Command::new(SCHEMATHESIS)
        // Its cache (`.schemathesis/`) goes where it runs: the test's own folder.
        .current_dir(&switch.dir)
        .env("SCHEMATHESIS_HOOKS", "switchboard_checks")
        .env("PYTHONPATH", CHECKS)
        .env("SWITCHBOARD_PROPERTY_SELF", format!("prop-{role}"))
        .env("SWITCHBOARD_PROPERTY_STAND_IN", "admin")
        .args([
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--url",
            &base,
        ])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,client_errors_are_json_naming_the_problem",
        ])
        .args([
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            "--workers",
            "2",
        ])
        // The event stream stays open by design: read a little of it, then move on.
        .args([
            "--request-timeout",
            "5",
            "--max-failures",
            "20",
            "--no-color",
        ])
        // Logging out would revoke the token every later request carries.
        .args([
            "--exclude-path",
            "/api/v1/sessions/current",
            "--phases",
            phases,
        ])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .output()
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis as {role} (seed {seed}) found failures:\n{stdout}\n{stderr}\n\
         switch log: {}",
        switch.log.display()
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let summary = lines[lines.len().saturating_sub(12)..].join("\n");
    println!("schemathesis as {role}:\n{summary}");
}

/// A switch, and a principal of `role` of its own, so the agent-scoped rules (own
/// interactions, own state) are hit too; requests that would disable or delete the one acting
/// go to the seeded admin instead (see `before_call` in switchboard_checks.py), whose token
/// is not needed again.
fn switch_for(role: &str) -> (SwitchProcess, String) {
    assert!(
        Path::new(SCHEMATHESIS).exists(),
        "{SCHEMATHESIS} is missing: scripts/test-all installs it \
         (python3 -m venv target/test-venv && target/test-venv/bin/pip install schemathesis)"
    );
    let switch = SwitchProcess::start(SwitchOptions::default());
    let seeded = switch.cti_token().to_owned();
    let token = agent_with_token(&switch, &seeded, &format!("prop-{role}"), role);
    (switch, token)
}

const EVERY_PHASE: &str = "examples,coverage,fuzzing,stateful";

// One test per role, each with its own switch, so the two runs go side by side.

#[test]
fn generated_requests_as_an_agent_get_no_5xx_and_only_json_4xx_naming_the_problem() {
    let (switch, token) = switch_for("agent");
    run_schemathesis(&switch, "agent", &token, EVERY_PHASE);
}

#[test]
fn generated_requests_as_an_admin_get_no_5xx_and_only_json_4xx_naming_the_problem() {
    let (switch, token) = switch_for("admin");
    run_schemathesis(&switch, "admin", &token, EVERY_PHASE);
}
