//! Call control on a connected queue call, from the desktop (CTI) and from the agent's phone
//! (SIP), with SIPp as customer and agent phone and media checked on the wire: RTP to each
//! party is captured with timestamps and counted per phase.
//!
//! ```text
//!  phase        customer hears            agent hears
//!  connected    agent's audio             customer's audio
//!  held         music on hold             nothing
//!  resumed      agent's audio             customer's audio
//! ```

mod common;

use common::desktop::*;
use common::phone::PjPhone;
use common::*;
use serde_json::json;
use std::time::Duration;

/// A connected call: alice's phone (`agent_scenario`) answered a customer who plays audio
/// and waits for the switch's BYE. Returns everything the test needs to drive and observe it.
struct Connected {
    sw: SwitchProcess,
    alice: Desktop,
    interaction: String,
    customer: SippRun,
    agent_phone: SippRun,
    customer_media: u16,
    agent_media: u16,
    capture: Capture,
}

fn connect(agent_scenario: &str) -> Connected {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let (customer_media, agent_media) = (port_block(4), port_block(4));
    let capture = Capture::start(&[customer_media, agent_media]);
    let agent_phone = Sipp::new(agent_scenario, phone)
        .media(agent_media)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_call", free_udp_port())
        .media(customer_media)
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let connected = alice.expect("interaction.connected", |_| true);
    let interaction = connected["data"]["interaction"]
        .as_str()
        .unwrap()
        .to_owned();
    Connected {
        sw,
        alice,
        interaction,
        customer,
        agent_phone,
        customer_media,
        agent_media,
        capture,
    }
}

/// Packets each party received in `[from, to)`, with a margin at both ends for packets in
/// flight when the bridge changed.
fn heard(packets: &[(f64, u16)], ports: (u16, u16), from: f64, to: f64) -> (usize, usize) {
    let (from, to) = (from + 0.3, to - 0.1);
    (
        packets_between(packets, ports.0, from, to),
        packets_between(packets, ports.1, from, to),
    )
}

#[test]
fn hold_from_the_desktop_plays_music_to_the_customer_and_silences_the_agent_until_resume() {
    let mut c = connect("uas_answer");
    let path = |what: &str| format!("/api/v1/interactions/{}/{what}", c.interaction);
    std::thread::sleep(Duration::from_millis(1200));
    let held_at = unix_seconds();
    let (status, json) = c.alice.post(&c.sw, &path("hold"), json!({}));
    assert_eq!(status, 200, "{json}");
    c.alice
        .expect("interaction.held", |e| e["data"]["by"] == "desktop");
    // The end button is refused while the customer is held.
    let (status, json) = c.alice.post(&c.sw, &path("end"), json!({}));
    assert_eq!(status, 409, "{json}");
    c.alice.expect("interaction.end.failed", |_| true);
    let (status, _) = c.alice.post(&c.sw, &path("hold"), json!({}));
    assert_eq!(status, 409, "holding a held call is refused");
    std::thread::sleep(Duration::from_millis(1800));
    let resumed_at = unix_seconds();
    let (status, json) = c.alice.post(&c.sw, &path("resume"), json!({}));
    assert_eq!(status, 200, "{json}");
    c.alice.expect("interaction.resumed", |_| true);
    std::thread::sleep(Duration::from_millis(1500));
    let ended_at = unix_seconds();
    let (status, json) = c.alice.post(&c.sw, &path("end"), json!({}));
    assert_eq!(status, 200, "{json}");
    c.customer.expect_success();
    c.agent_phone.expect_success();
    let ports = (c.customer_media, c.agent_media);
    let packets = c.capture.stop_timed();

    let (customer, agent) = heard(&packets, ports, held_at, resumed_at);
    assert!(
        customer > 40,
        "the held customer hears music: {customer} packets"
    );
    assert!(
        agent <= 2,
        "the agent hears nothing while the customer is held: {agent}"
    );
    let (customer, agent) = heard(&packets, ports, resumed_at, ended_at);
    assert!(
        customer > 30 && agent > 30,
        "two-way audio after resume: {customer}/{agent}"
    );
    let (_, stored) = call(
        &c.sw,
        "GET",
        &format!("/api/v1/interactions/{}", c.interaction),
        &c.alice.token,
        None,
    );
    assert_eq!(stored["state"], "ended", "{stored}");
    // The recording marks the hold, so a listener knows why the customer's side is quiet.
    let sidecar = recording_sidecar(&c.sw, &c.interaction);
    let holds = sidecar["holds"].as_array().cloned().unwrap_or_default();
    assert_eq!(holds.len(), 1, "{sidecar}");
    let held_ms = holds[0]["resumed_at_ms"].as_i64().unwrap_or(0)
        - holds[0]["held_at_ms"].as_i64().unwrap_or(0);
    assert!(held_ms >= 1000, "held {held_ms} ms: {sidecar}");
}

#[test]
fn hold_from_the_phone_with_a_sendonly_reinvite_leaves_the_same_state_as_the_desktop() {
    let mut c = connect("uas_answer_phone_hold");
    let held = c.alice.expect("interaction.held", |_| true);
    let held_at = unix_seconds();
    assert_eq!(held["data"]["by"], "phone");
    assert_eq!(held["data"]["agent"], "alice");
    let path = format!("/api/v1/interactions/{}", c.interaction);
    wait_until("the interaction is stored as held", || {
        call(&c.sw, "GET", &path, &c.alice.token, None).1["state"] == "held"
    });
    c.alice
        .expect("interaction.resumed", |e| e["data"]["by"] == "phone");
    let resumed_at = unix_seconds();
    std::thread::sleep(Duration::from_millis(1200));
    let ended_at = unix_seconds();
    let (status, json) = c.alice.post(&c.sw, &format!("{path}/end"), json!({}));
    assert_eq!(status, 200, "{json}");
    c.customer.expect_success();
    c.agent_phone.expect_success();
    let ports = (c.customer_media, c.agent_media);
    let packets = c.capture.stop_timed();
    let (customer, agent) = heard(&packets, ports, held_at, resumed_at);
    assert!(customer > 30, "music to the held customer: {customer}");
    assert!(agent <= 2, "nothing to the holding phone: {agent}");
    let (customer, agent) = heard(&packets, ports, resumed_at, ended_at);
    assert!(
        customer > 20 && agent > 20,
        "two-way audio after resume: {customer}/{agent}"
    );
}

/// Alice on a call with a customer; bob (1012) registered with `bob_scenario` and Available
/// in queue `support` (7002). Returns the pieces and bob's desktop and media port.
fn with_second_agent(bob_scenario: &str) -> (Connected, Desktop, SippRun, u16) {
    let c = connect("uas_answer");
    let admin = c.sw.cti_token().to_owned();
    ok(
        &c.sw,
        "POST",
        "/api/v1/queues",
        &admin,
        json!({"id": "support", "name": "Support", "number": "7002", "ring_timeout_secs": 10}),
    );
    ok(
        &c.sw,
        "POST",
        "/api/v1/agents",
        &admin,
        json!({"id": "bob", "name": "bob", "password": "bob-password", "extension": "1012",
               "team": "blue", "role": "agent"}),
    );
    let bob_port = free_udp_port();
    register(&c.sw, "1012", bob_port);
    let bob_media = port_block(4);
    let bob_phone = Sipp::new(bob_scenario, bob_port)
        .media(bob_media)
        .spawn(None);
    let bob = Desktop::open(&c.sw, "bob");
    bob.go_available(&c.sw);
    (c, bob, bob_phone, bob_media)
}

/// Alice blind-transfers her customer to `kind` `id`; returns the interaction's path.
fn blind_transfer(c: &Connected, kind: &str, id: &str) -> String {
    let path = format!("/api/v1/interactions/{}", c.interaction);
    let (status, json) = c.alice.post(
        &c.sw,
        &format!("{path}/transfer"),
        json!({"target": {"type": kind, "id": id}}),
    );
    assert_eq!(status, 200, "{json}");
    path
}

#[test]
fn blind_transfer_to_a_queue_reconnects_the_customer_to_that_queues_agent() {
    let (mut c, mut bob, bob_phone, bob_media) = with_second_agent("uas_answer");
    let capture = Capture::start(&[bob_media]);
    let path = blind_transfer(&c, "queue", "support");
    c.alice.expect("interaction.transferred", |_| true);
    c.agent_phone.expect_success(); // alice's phone got its BYE
    assert_eq!(c.alice.state(&c.sw), "wrap_up");
    bob.expect("interaction.offered", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    bob.expect("interaction.connected", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (status, json) = bob.post(&c.sw, &format!("{path}/end"), json!({}));
    assert_eq!(status, 200, "{json}");
    c.customer.expect_success();
    bob_phone.expect_success();
    let received = capture.stop()[&bob_media];
    assert!(received > 20, "bob hears the customer: {received} packets");
    let (_, stored) = call(&c.sw, "GET", &path, &bob.token, None);
    assert_eq!(stored["agent"], "bob", "{stored}");
    // Each agent's leg answered, talked and got a BYE, and its record says so.
    assert_agents_legs_answered(&c.sw.wait_for_cdrs(1)["items"][0], 2);
}

#[test]
fn blind_transfer_to_an_agent_connects_that_agent_and_never_one_in_wrap_up() {
    let (mut c, mut bob, bob_phone, bob_media) = with_second_agent("uas_answer");
    let capture = Capture::start(&[bob_media]);
    let path = blind_transfer(&c, "agent", "bob");
    c.alice.expect("interaction.transferred", |e| {
        e["data"]["target"]["id"] == "bob"
    });
    c.agent_phone.expect_success();
    assert_eq!(c.alice.state(&c.sw), "wrap_up");
    bob.expect("interaction.connected", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    // Alice is wrapping up: bob cannot hand the customer back to her.
    let (status, json) = bob.post(
        &c.sw,
        &format!("{path}/transfer"),
        json!({"target": {"type": "agent", "id": "alice"}}),
    );
    assert_eq!(status, 409, "{json}");
    bob.expect("interaction.transfer.failed", |_| true);
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _) = bob.post(&c.sw, &format!("{path}/end"), json!({}));
    assert_eq!(status, 200);
    c.customer.expect_success();
    bob_phone.expect_success();
    let received = capture.stop()[&bob_media];
    assert!(received > 20, "bob hears the customer: {received} packets");
}

#[test]
fn blind_transfer_to_an_agent_who_does_not_answer_puts_the_customer_back_in_the_queue() {
    let (c, mut bob, bob_phone, _) = with_second_agent("uas_ring_until_cancel");
    let path = blind_transfer(&c, "agent", "bob");
    c.agent_phone.expect_success();
    bob.expect("interaction.offered", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    // The queue's 10 s ring timeout: bob goes to RONA, his phone is CANCELled, and the
    // customer waits at the head of sales (alice is wrapping up, nobody else is free).
    bob_phone.expect_success();
    wait_until("bob is in RONA", || bob.state(&c.sw) == "rona");
    let admin = c.sw.cti_token().to_owned();
    let (status, position) = call(&c.sw, "GET", &format!("{path}/position"), &admin, None);
    assert_eq!(status, 200, "{position}");
    assert_eq!(
        (position["queue"].as_str(), position["position"].as_u64()),
        (Some("sales"), Some(1)),
        "{position}"
    );
    c.customer.kill();
}

#[test]
fn blind_transfer_to_a_number_that_does_not_answer_returns_the_customer_to_the_queue() {
    let (c, mut bob, bob_phone, _) = with_second_agent("uas_answer");
    let path = blind_transfer(&c, "number", "1-0-1-9");
    c.agent_phone.expect_success();
    // 1019 is not registered: the customer goes back to the head of sales, whose queue
    // serves every team, and bob is the Available agent.
    bob.expect("interaction.offered", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    bob.expect("interaction.connected", |_| true);
    let (status, _) = bob.post(&c.sw, &format!("{path}/end"), json!({}));
    assert_eq!(status, 200);
    c.customer.expect_success();
    bob_phone.expect_success();
    // A number that is not one is refused before anything is dialled.
    let (status, json) = c.alice.post(
        &c.sw,
        &format!("{path}/transfer"),
        json!({"target": {"type": "number", "id": "12"}}),
    );
    assert_eq!(
        (status, json["error"]["field"].as_str()),
        (422, Some("target.id"))
    );
}

#[test]
fn refer_from_the_agents_phone_transfers_the_customer_like_the_desktop_does() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let (alice_port, target_port) = (free_udp_port(), free_udp_port());
    register(&sw, "1011", alice_port);
    register(&sw, "1012", target_port);
    let target_media = port_block(4);
    let capture = Capture::start(&[target_media]);
    let alice_phone = Sipp::new("uas_answer_refer", alice_port)
        .key("target", "1012")
        .spawn(None);
    let target_phone = Sipp::new("uas_answer", target_port)
        .media(target_media)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("4500")
        .auth("1001")
        .spawn(Some(sw.sip));
    let connected = alice.expect("interaction.connected", |_| true);
    let ix = connected["data"]["interaction"]
        .as_str()
        .unwrap()
        .to_owned();
    let transferred = alice.expect("interaction.transferred", |_| true);
    assert_eq!(
        transferred["data"]["target"],
        json!({"type": "number", "id": "1012"})
    );
    alice_phone.expect_success(); // 202, NOTIFY, BYE
    customer.expect_success(); // talked to 1012 and hung up
    target_phone.expect_success();
    let received = capture.stop()[&target_media];
    assert!(
        received > 20,
        "the transfer target hears the customer: {received}"
    );
    // Same end state as the desktop path: alice in wrap-up for that interaction.
    alice.expect("interaction.wrapup_required", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    assert_eq!(alice.state(&sw), "wrap_up");
}

#[test]
fn attended_transfer_from_a_real_phone_hands_the_customer_over_like_the_desktop() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011"), ("bob", "1012")]);
    // Alice's desk phone is PJSIP (pjsua2); bob's is SIPp.
    let mut alice_phone = PjPhone::start(&sw, "1011", "1012");
    let bob_port = free_udp_port();
    register(&sw, "1012", bob_port);
    let bob_media = port_block(4);
    let bob_phone = Sipp::new("uas_answer", bob_port)
        .media(bob_media)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let customer_media = port_block(4);
    let customer = Sipp::new("uac_queue_call", free_udp_port())
        .media(customer_media)
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let connected = alice.expect("interaction.connected", |_| true);
    let interaction = connected["data"]["interaction"]
        .as_str()
        .unwrap()
        .to_owned();
    alice_phone.expect("answered");
    let mut bob = Desktop::open(&sw, "bob");
    bob.go_available(&sw);
    // The transfer key: hold, call 1012, REFER with Replaces once bob answers.
    alice_phone.send("attended");
    alice.expect("interaction.held", |e| e["data"]["by"] == "phone");
    alice_phone.expect("consult_answered");
    let transferred = alice.expect("interaction.transferred", |_| true);
    assert_eq!(transferred["data"]["warm"], true, "{transferred}");
    assert_eq!(transferred["data"]["by"], "phone", "{transferred}");
    assert_eq!(
        transferred["data"]["target"],
        json!({"type": "agent", "id": "bob"}),
        "{transferred}"
    );
    assert_eq!(alice_phone.expect("transfer"), "transfer 200");
    alice_phone.expect("done"); // the switch released both of the phone's calls
    alice_phone.expect_success();
    bob.expect("interaction.connected", |e| {
        e["data"]["interaction"] == interaction.as_str()
    });
    // The same end state as the desktop's warm transfer.
    assert_eq!(alice.state(&sw), "wrap_up");
    assert_eq!(bob.state(&sw), "engaged");
    let capture = Capture::start(&[bob_media, customer_media]);
    let from = unix_seconds();
    std::thread::sleep(Duration::from_millis(2000));
    let to = unix_seconds();
    let path = format!("/api/v1/interactions/{interaction}");
    let (status, json) = bob.post(&sw, &format!("{path}/end"), json!({}));
    assert_eq!(status, 200, "{json}");
    customer.expect_success();
    bob_phone.expect_success();
    let packets = capture.stop_timed();
    let (customer_heard, bob_heard) = heard(&packets, (customer_media, bob_media), from, to);
    assert!(
        customer_heard > 20 && bob_heard > 20,
        "customer and bob hear each other: {customer_heard}/{bob_heard}"
    );
    let (_, stored) = call(&sw, "GET", &path, &bob.token, None);
    assert_eq!(stored["agent"], "bob", "{stored}");
}

/// Alice blind-transfers to bob and lets go of her wrap-up with `alice_leaves` while bob
/// still talks; bob then ends and wraps up. Returns the stored interaction and its path.
fn transfer_then_both_wrap_up(
    alice_leaves: impl FnOnce(&SwitchProcess, &Desktop, &str),
) -> serde_json::Value {
    let (mut c, mut bob, bob_phone, _) = with_second_agent("uas_answer");
    let path = blind_transfer(&c, "agent", "bob");
    c.agent_phone.expect_success();
    // Alice is told to wrap up her part of the call, and may.
    c.alice.expect("interaction.wrapup_required", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    bob.expect("interaction.connected", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    alice_leaves(&c.sw, &c.alice, &path);
    c.alice.wait_for_state(&c.sw, "available");
    let (_, live) = call(&c.sw, "GET", &path, &bob.token, None);
    assert_eq!(
        live["state"], "connected",
        "alice's wrap-up left bob's call alone: {live}"
    );
    bob.post_ok(&c.sw, &format!("{path}/end"));
    c.customer.expect_success();
    bob_phone.expect_success();
    bob.expect("interaction.wrapup_required", |e| {
        e["data"]["interaction"] == c.interaction.as_str()
    });
    let wrapped = bob.post_body_ok(
        &c.sw,
        &format!("{path}/wrapup"),
        json!({"code": "sold", "notes": "bob closed the sale"}),
    );
    assert_eq!(wrapped["state"], "wrapped_up", "{wrapped}");
    bob.wait_for_state(&c.sw, "available");
    let (status, stored) = call(&c.sw, "GET", &path, c.sw.cti_token(), None);
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["agent"], "bob", "{stored}");
    assert_eq!(stored["state"], "wrapped_up", "{stored}");
    assert_eq!(stored["disposition"], "sold", "{stored}");
    assert_eq!(stored["notes"], "bob closed the sale", "{stored}");
    let (ended, wrapped_up) = (
        stored["ended_ms"].as_i64(),
        stored["wrapped_up_ms"].as_i64(),
    );
    assert!(
        matches!((ended, wrapped_up), (Some(e), Some(w)) if e <= w),
        "the customer's end, then bob's wrap-up: {stored}"
    );
    stored
}

/// Alice's part of the interaction, as history keeps it.
fn alices_part(stored: &serde_json::Value) -> serde_json::Value {
    let parts = stored["participants"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mine: Vec<_> = parts
        .into_iter()
        .filter(|p| p["role"] == "agent" && p["address"] == "alice")
        .collect();
    assert_eq!(mine.len(), 1, "alice's part is kept once: {stored}");
    assert!(mine[0]["ended_ms"].as_i64().is_some(), "{stored}");
    assert!(mine[0]["wrapped_up_ms"].as_i64().is_some(), "{stored}");
    mine[0].clone()
}

#[test]
fn a_transferring_agent_who_goes_available_leaves_the_new_agents_wrap_up_intact() {
    let stored = transfer_then_both_wrap_up(|sw, alice, _| {
        let (status, json) = call(
            sw,
            "PUT",
            "/api/v1/agents/alice/state",
            &alice.token,
            Some(json!({"state": "available"})),
        );
        assert_eq!(status, 200, "{json}");
    });
    let part = alices_part(&stored);
    assert_eq!(part["disposition"], serde_json::Value::Null, "{part}");
}

#[test]
fn a_transferring_agent_wraps_up_its_own_part_and_the_new_agent_the_interaction() {
    let stored = transfer_then_both_wrap_up(|sw, alice, path| {
        let part = alice.post_body_ok(
            sw,
            &format!("{path}/wrapup"),
            json!({"code": "sold", "notes": "alice passed it to bob"}),
        );
        // The answer is the interaction, still bob's and live.
        assert_eq!(part["state"], "connected", "{part}");
    });
    let part = alices_part(&stored);
    assert_eq!(part["disposition"], "sold", "{part}");
    assert_eq!(part["notes"], "alice passed it to bob", "{part}");
}
