//! The contact center end to end: a real switch, SIPp as the customer and as the agents'
//! phones, and a desktop made of plain HTTP requests and a WebSocket (tungstenite), so
//! nothing here shares code with the switch.
//!
//! ```text
//!  customer (SIPp)      switch               agent phone (SIPp)     desktop (WS + REST)
//!    INVITE 7000 ───────▶ 200, music                                 login, Available
//!                        ACD picks alice ──── INVITE ──────▶ 180    ◀── interaction.offered
//!                                         ◀── 200 ───────────        ◀── interaction.connected
//!    RTP ══════════════════════════════════▶ (counted)
//!                        ◀──────────────────────────────────────── POST .../end
//!    ◀── BYE             BYE ────────────────▶                      ◀── wrapup_required
//!                                                                    POST .../wrapup {code}
//! ```

mod common;

use common::desktop::*;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn a_queued_call_is_offered_answered_ended_wrapped_up_and_found_in_history() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_media = port_block(4);
    let agent_phone = Sipp::new("uas_answer", phone)
        .media(agent_media)
        .spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);

    let capture = Capture::start(&[agent_media]);
    let customer = Sipp::new("uac_queue_call", free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let offered = alice.expect("interaction.offered", |_| true);
    let ix = offered["data"]["interaction"].as_str().unwrap().to_owned();
    assert_eq!(offered["data"]["ani"], "1001");
    assert_eq!(offered["data"]["dnis"], "7000");
    assert_eq!(offered["data"]["queue"], "sales");
    // The admin chose account and card for the pop-up; the card is secure and never shown.
    assert_eq!(offered["data"]["cad"], json!({"account": "ACME-42"}));
    alice.expect("interaction.connected", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    assert_eq!(alice.state(&sw), "engaged");

    // Customer audio reaches the agent's phone through the bridge.
    std::thread::sleep(Duration::from_secs(2));
    let (status, json) = alice.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    assert_eq!(status, 200, "{json}");
    customer.expect_success();
    agent_phone.expect_success();
    let received = capture.stop()[&agent_media];
    assert!(
        received > 20,
        "agent's phone got {received} RTP packets from the customer"
    );

    alice.expect("interaction.ended", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    alice.expect("interaction.wrapup_required", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    assert_eq!(alice.state(&sw), "wrap_up");
    let (status, json) = alice.post(
        &sw,
        &format!("/api/v1/interactions/{ix}/wrapup"),
        json!({"code": "sold", "notes": "upgraded to premium"}),
    );
    assert_eq!(status, 200, "{json}");
    alice.expect("agent.state_changed", |e| {
        e["data"]["to"]["state"] == "available"
    });
    assert_eq!(alice.state(&sw), "available");

    let (status, page) = call(
        &sw,
        "GET",
        "/api/v1/interactions?number=1001",
        &alice.token,
        None,
    );
    assert_eq!(status, 200, "{page}");
    let found = &page["items"][0];
    assert_eq!(found["id"], ix.as_str(), "{page}");
    assert_eq!(found["disposition"], "sold");
    assert_eq!(found["notes"], "upgraded to premium");
    assert_eq!(found["agent"], "alice");
    assert_eq!(found["state"], "wrapped_up");
    assert!(found["connected_ms"].as_i64().is_some() && found["ended_ms"].as_i64().is_some());
    assert_eq!(found["abandoned"], false);
}

#[test]
fn an_unanswered_offer_puts_the_agent_in_rona_and_the_next_agent_gets_the_call() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 2, &[("alice", "1011"), ("bob", "1012")]);
    let (alice_port, bob_port) = (free_udp_port(), free_udp_port());
    register(&sw, "1011", alice_port);
    register(&sw, "1012", bob_port);
    let alice_phone = Sipp::new("uas_ring_until_cancel", alice_port).spawn(None);
    let bob_phone = Sipp::new("uas_answer", bob_port).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let mut bob = Desktop::open(&sw, "bob");
    // Alice has been idle longest, so she is offered first (longest-idle strategy).
    alice.go_available(&sw);
    std::thread::sleep(Duration::from_millis(300));
    bob.go_available(&sw);

    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("8000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let first = alice.expect("interaction.offered", |_| true);
    let ix = first["data"]["interaction"].as_str().unwrap().to_owned();
    alice.expect("agent.rona", |e| e["data"]["interaction"] == ix.as_str());
    alice_phone.expect_success(); // its INVITE was CANCELled
    assert_eq!(alice.state(&sw), "rona");
    bob.expect("interaction.offered", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    bob.expect("interaction.connected", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    customer.expect_success();
    bob_phone.expect_success();
    bob.expect("interaction.wrapup_required", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    // RONA is distinct in the persisted state log.
    let (_, log) = call(
        &sw,
        "GET",
        "/api/v1/agents/alice/states",
        &alice.token,
        None,
    );
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|t| t["to"]["state"] == "rona"),
        "{log}"
    );
}

#[test]
fn a_caller_who_hangs_up_while_queued_or_ringing_leaves_no_agent_reserved() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 30, &[("alice", "1011")]);
    let alice_port = free_udp_port();
    register(&sw, "1011", alice_port);
    let mut alice = Desktop::open(&sw, "alice");
    let admin = sw.cti_token().to_owned();

    // Queued: nobody is Available; the caller gives up after 1.5 s of music.
    Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("1500")
        .auth("1001")
        .run(sw.sip);
    wait_until(
        "the queued caller's interaction is ended as abandoned",
        || {
            let (_, page) = call(&sw, "GET", "/api/v1/interactions?number=1001", &admin, None);
            page["items"][0]["abandoned"] == true && page["items"][0]["state"] == "ended"
        },
    );

    // Ringing: alice's phone rings; the caller hangs up before she answers.
    let alice_phone = Sipp::new("uas_ring_until_cancel", alice_port).spawn(None);
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("3000")
        .auth("1002")
        .spawn(Some(sw.sip));
    let offered = alice.expect("interaction.offered", |_| true);
    let ix = offered["data"]["interaction"].as_str().unwrap().to_owned();
    assert_eq!(alice.state(&sw), "reserved");
    customer.expect_success();
    alice_phone.expect_success(); // the offer was withdrawn with CANCEL
    alice.expect("interaction.ended", |e| {
        e["data"]["interaction"] == ix.as_str() && e["data"]["abandoned"] == true
    });
    wait_until("alice is Available again, not Reserved or RONA", || {
        alice.state(&sw) == "available"
    });
    let (_, got) = call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{ix}"),
        &admin,
        None,
    );
    assert_eq!(
        (got["state"].as_str(), got["abandoned"].as_bool()),
        (Some("ended"), Some(true))
    );
}

#[test]
fn agents_are_scoped_to_their_own_interactions_and_cad_is_masked_and_versioned() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011"), ("bob", "1012")]);
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_phone = Sipp::new("uas_answer", phone).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let bob = Desktop::open(&sw, "bob");
    alice.go_available(&sw);
    let customer = Sipp::new("uac_queue_call", free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let connected = alice.expect("interaction.connected", |_| true);
    let ix = connected["data"]["interaction"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_until("the connected interaction is stored", || {
        call(
            &sw,
            "GET",
            &format!("/api/v1/interactions/{ix}"),
            &alice.token,
            None,
        )
        .0 == 200
    });

    // Bob may neither read nor act on Alice's interaction; he sees none of her events.
    for (method, path) in [
        ("GET", format!("/api/v1/interactions/{ix}")),
        ("GET", format!("/api/v1/interactions/{ix}/cad")),
    ] {
        assert_eq!(call(&sw, method, &path, &bob.token, None).0, 403, "{path}");
    }
    let (status, _) = bob.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    assert_eq!(status, 409, "bob cannot end alice's call");

    // The secure card number is masked for the agent; the admin (allowed by default) sees it.
    let (_, cad) = call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{ix}/cad"),
        &alice.token,
        None,
    );
    let card = cad
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "card")
        .unwrap()
        .clone();
    assert_ne!(card["value"], "4111111111111111", "{cad}");
    let admin = sw.cti_token().to_owned();
    let (_, cad_admin) = call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{ix}/cad"),
        &admin,
        None,
    );
    assert!(cad_admin.to_string().contains("4111111111111111"));
    assert!(
        !alice
            .seen
            .iter()
            .any(|e| e.to_string().contains("4111111111111111"))
    );

    // Two saves of the same version: the first wins, the second is told (409, current value).
    let account = cad
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "account")
        .unwrap()
        .clone();
    let version = account["version"].clone();
    let patch = |value: &str| {
        call(
            &sw,
            "PATCH",
            &format!("/api/v1/interactions/{ix}/cad"),
            &alice.token,
            Some(json!({"key": "account", "value": value, "version": version})),
        )
    };
    assert_eq!(patch("ACME-43").0, 200);
    let (status, stale) = patch("ACME-44");
    assert_eq!(status, 409, "{stale}");
    assert!(stale.to_string().contains("ACME-43"), "{stale}");
    let (status, long) = patch(&"x".repeat(257));
    assert_eq!(status, 422);
    assert_eq!(long["error"]["field"], "value");

    alice.post(&sw, &format!("/api/v1/interactions/{ix}/end"), json!({}));
    customer.expect_success();
    agent_phone.expect_success();
}

#[test]
fn a_desktop_that_reconnects_with_since_gets_exactly_the_events_it_missed() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let admin = sw.cti_token().to_owned();
    ok(
        &sw,
        "POST",
        "/api/v1/idle-reasons",
        &admin,
        json!({"id": "lunch", "name": "Lunch"}),
    );
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let last = alice.expect("agent.state_changed", |e| {
        e["data"]["to"]["state"] == "available"
    });
    let since = last["seq"].as_u64().unwrap();
    drop(alice.events); // the desktop goes away
    let set = |state: Value| {
        let (status, json) = call(
            &sw,
            "PUT",
            "/api/v1/agents/alice/state",
            &alice.token,
            Some(state),
        );
        assert_eq!(status, 200, "{json}");
    };
    set(json!({"state": "idle", "reason": "lunch"}));
    set(json!({"state": "available"}));
    set(json!({"state": "idle", "reason": "lunch"}));

    let events = follow(sw.http, &alice.token, Some(since));
    let mut missed = Vec::new();
    let mut last_seq = since;
    while missed.len() < 3 {
        let event = events
            .recv_timeout(WAIT)
            .expect("three missed state changes");
        let seq = event["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "in order, no repeats: {event}");
        last_seq = seq;
        // Queue statistics go to every desktop too; this test follows the agent's state.
        if event["type"] == "agent.state_changed" {
            missed.push((
                event["type"].as_str().unwrap().to_owned(),
                event["data"]["to"]["state"].clone(),
            ));
        }
    }
    assert_eq!(
        missed,
        vec![
            ("agent.state_changed".to_owned(), json!("idle")),
            ("agent.state_changed".to_owned(), json!("available")),
            ("agent.state_changed".to_owned(), json!("idle")),
        ]
    );
    // Nothing more for the agent: whatever comes next is not a replayed state change.
    while let Ok(event) = events.recv_timeout(Duration::from_millis(500)) {
        assert_ne!(event["type"], "agent.state_changed", "{event}");
    }
}

#[test]
fn agents_queues_codes_and_finished_interactions_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("switchboard-cc-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let opts = SwitchOptions {
        dir: Some(dir.clone()),
        ..SwitchOptions::default()
    };
    let sw = SwitchProcess::start(opts.clone());
    provision(&sw, 10, &[("alice", "1011")]);
    Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("500")
        .auth("1001")
        .run(sw.sip);
    let admin = sw.cti_token().to_owned();
    wait_until("the abandoned interaction is stored", || {
        let (_, page) = call(&sw, "GET", "/api/v1/interactions", &admin, None);
        page["items"][0]["state"] == "ended"
    });
    assert!(sw.stop().success());

    let sw = SwitchProcess::start(opts);
    let admin = sw.cti_token().to_owned();
    let (_, agents) = call(&sw, "GET", "/api/v1/agents", &admin, None);
    assert!(agents.to_string().contains("\"alice\""), "{agents}");
    let (_, queues) = call(&sw, "GET", "/api/v1/queues/sales", &admin, None);
    assert_eq!(queues["number"], "7000");
    let (_, codes) = call(&sw, "GET", "/api/v1/dispositions", &admin, None);
    assert!(codes.to_string().contains("\"sold\""), "{codes}");
    let (_, page) = call(&sw, "GET", "/api/v1/interactions", &admin, None);
    assert_eq!(page["items"][0]["abandoned"], true, "{page}");
    // And the restarted ACD routes again: alice can log in and go Available.
    let alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_skills_based_queue_offers_only_qualified_agents_even_over_a_longer_idle_one() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    let admin = sw.cti_token().to_owned();
    provision(&sw, 10, &[]);
    ok(
        &sw,
        "POST",
        "/api/v1/skills",
        &admin,
        json!({"name": "french", "description": "French"}),
    );
    ok(
        &sw,
        "POST",
        "/api/v1/queues",
        &admin,
        json!({"id": "paris", "name": "Paris", "number": "7001", "strategy": "skills_based",
               "required_skills": [{"name": "french", "level": 5}], "ring_timeout_secs": 10}),
    );
    for (id, extension, level) in [("alice", "1011", 3), ("bob", "1012", 7)] {
        ok(
            &sw,
            "POST",
            "/api/v1/agents",
            &admin,
            json!({"id": id, "name": id, "password": format!("{id}-password"),
                   "extension": extension, "team": "blue", "role": "agent",
                   "skills": [{"name": "french", "level": level}]}),
        );
    }
    let bob_port = free_udp_port();
    register(&sw, "1012", bob_port);
    let bob_phone = Sipp::new("uas_answer", bob_port).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let mut bob = Desktop::open(&sw, "bob");
    alice.go_available(&sw); // idle longest, but only French level 3
    std::thread::sleep(Duration::from_millis(300));
    bob.go_available(&sw);
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7001")
        .arg("-d")
        .arg("2000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let offered = bob.expect("interaction.offered", |_| true);
    assert_eq!(offered["data"]["queue"], "paris");
    bob.expect("interaction.connected", |_| true);
    customer.expect_success();
    bob_phone.expect_success();
    let pending: Vec<Value> = alice.events.try_iter().collect();
    alice.seen.extend(pending);
    assert!(
        !alice
            .seen
            .iter()
            .any(|e| e["type"] == "interaction.offered"),
        "alice (French 3) must never be offered a French 5 call"
    );
    assert_eq!(alice.state(&sw), "available");
}

#[test]
fn an_urgent_caller_is_offered_before_a_caller_who_waited_longer() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_phone = Sipp::new("uas_ring_until_cancel", phone).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let admin = sw.cti_token().to_owned();
    // Nobody is Available: a normal caller, then an urgent one, wait.
    let normal = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("5000")
        .auth("1001")
        .spawn(Some(sw.sip));
    wait_until("the normal caller waits", || {
        call(&sw, "GET", "/api/v1/interactions?number=1001", &admin, None).1["items"][0]["state"]
            == "queued"
    });
    let urgent = Sipp::new("uac_queue_urgent", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("4000")
        .auth("1002")
        .spawn(Some(sw.sip));
    wait_until("the urgent caller waits", || {
        call(&sw, "GET", "/api/v1/interactions?number=1002", &admin, None).1["items"][0]["state"]
            == "queued"
    });
    alice.go_available(&sw);
    let offered = alice.expect("interaction.offered", |_| true);
    assert_eq!(
        offered["data"]["ani"], "1002",
        "the urgent caller goes first: {offered}"
    );
    normal.expect_success();
    urgent.expect_success();
    agent_phone.kill();
}

#[test]
fn ring_all_rings_every_available_agent_and_the_first_answer_wins() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011"), ("bob", "1012")]);
    let admin = sw.cti_token().to_owned();
    let (_, mut queue) = call(&sw, "GET", "/api/v1/queues/sales", &admin, None);
    queue["strategy"] = json!("ring_all");
    ok(&sw, "PUT", "/api/v1/queues/sales", &admin, queue);
    let (alice_port, bob_port) = (free_udp_port(), free_udp_port());
    register(&sw, "1011", alice_port);
    register(&sw, "1012", bob_port);
    let alice_phone = Sipp::new("uas_ring_until_cancel", alice_port).spawn(None);
    let bob_phone = Sipp::new("uas_answer", bob_port).spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    let mut bob = Desktop::open(&sw, "bob");
    alice.go_available(&sw);
    bob.go_available(&sw);
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("2500")
        .auth("1001")
        .spawn(Some(sw.sip));
    let offered = alice.expect("interaction.offered", |_| true);
    let ix = offered["data"]["interaction"].as_str().unwrap().to_owned();
    bob.expect("interaction.offered", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    bob.expect("interaction.connected", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    alice_phone.expect_success(); // CANCELled when bob answered
    wait_until("alice is Available again, not RONA", || {
        alice.state(&sw) == "available"
    });
    customer.expect_success();
    bob_phone.expect_success();
}

/// Last-agent routing remembers across a restart: the memory is seeded from stored
/// interactions. Bob took 1001's call before the restart; after it, alice has been idle
/// longer (longest-idle would pick her), yet 1001's next call is offered to bob.
#[test]
fn a_returning_caller_reaches_the_last_agent_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("switchboard-cc-last-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let opts = SwitchOptions {
        dir: Some(dir.clone()),
        ..SwitchOptions::default()
    };
    let sw = SwitchProcess::start(opts.clone());
    provision(&sw, 10, &[("alice", "1011"), ("bob", "1012")]);
    ok(
        &sw,
        "PUT",
        "/api/v1/queues/sales",
        sw.cti_token(),
        json!({"id": "sales", "name": "Sales", "number": "7000", "ring_timeout_secs": 10,
               "wrap_up_max_secs": 300, "last_agent_routing": true}),
    );
    let mut bob = Desktop::open(&sw, "bob");
    answered_queue_call(&sw, "1012", &mut bob, 3000);
    assert!(sw.stop().success());

    let sw = SwitchProcess::start(opts);
    wait_until("the restarted switch seeds one caller's last agent", || {
        sw.log().contains("remembered=1")
    });
    let (alice_port, bob_port) = (free_udp_port(), free_udp_port());
    register(&sw, "1011", alice_port);
    register(&sw, "1012", bob_port);
    let _alice_phone = Sipp::new("uas_answer", alice_port).spawn(None);
    let _bob_phone = Sipp::new("uas_answer", bob_port).spawn(None);
    let alice = Desktop::open(&sw, "alice");
    let mut bob = Desktop::open(&sw, "bob");
    alice.go_available(&sw);
    std::thread::sleep(Duration::from_millis(300));
    bob.go_available(&sw);
    let _customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("2000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let offered = bob.expect("interaction.offered", |_| true);
    assert_eq!(offered["data"]["ani"], "1001");
    let alice_saw: Vec<Value> = alice.events.try_iter().collect();
    assert!(
        alice_saw.iter().any(|e| e["type"] == "agent.state_changed"),
        "alice's stream is live: {alice_saw:?}"
    );
    assert!(
        !alice_saw.iter().any(|e| e["type"] == "interaction.offered"),
        "alice, idle longer, was not offered the returning caller: {alice_saw:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Alice's state changes to `state` (login first when `login`), as her desktop asks.
fn alice_goes(sw: &SwitchProcess, alice: &Desktop, login: bool, state: &str) {
    if login {
        alice.post_ok(sw, "/api/v1/agents/alice/login");
    }
    let (status, json) = call(
        sw,
        "PUT",
        "/api/v1/agents/alice/state",
        &alice.token,
        Some(json!({"state": state})),
    );
    assert_eq!(status, 200, "{json}");
}

#[test]
fn server_sent_events_resume_after_last_event_id_with_exactly_the_missed_events() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let admin = sw.cti_token().to_owned();
    let alice = Desktop::open(&sw, "alice");
    let to = |state: &'static str| move |e: &Value| e["data"]["to"]["state"] == state;
    // One stream stays open and sees everything; the other drops and comes back.
    let steady = SseStream::open(sw.http, &admin, None);
    let dropping = SseStream::open(sw.http, &admin, None);
    assert!(
        dropping.content_type.starts_with("text/event-stream"),
        "{}",
        dropping.content_type
    );
    alice_goes(&sw, &alice, true, "available");
    let before = dropping.until("agent.state_changed", to("available"));
    let last = before.last().unwrap().0;
    assert!(
        before.windows(2).all(|w| w[0].0 < w[1].0),
        "ids increase: {before:?}"
    );
    drop(dropping);
    // Missed while away: alice goes idle and available again.
    alice.post_ok(&sw, "/api/v1/agents/alice/logout");
    alice_goes(&sw, &alice, true, "available");
    let everything = steady.until("agent.state_changed", |e| {
        to("available")(e) && e["seq"].as_u64() > Some(last)
    });
    let missed: Vec<_> = everything
        .into_iter()
        .filter(|(id, _)| *id > last)
        .collect();
    assert!(missed.len() >= 3, "logout, login, available: {missed:?}");
    let resumed = SseStream::open(sw.http, &admin, Some(last));
    let got: Vec<_> = (0..missed.len())
        .map(|_| {
            resumed
                .events
                .recv_timeout(WAIT)
                .expect("a missed event comes back")
        })
        .collect();
    assert_eq!(
        got, missed,
        "exactly the missed events, in order, none before"
    );
    for (id, event) in &got {
        assert_eq!(
            event["seq"].as_u64(),
            Some(*id),
            "the SSE id is the event's seq"
        );
    }
}

#[test]
fn a_caller_waiting_in_a_queue_with_no_agent_hears_the_music_on_hold_file() {
    use common::audio::{PayloadCapture, level_db};
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[("alice", "1011")]);
    let customer_media = port_block(4);
    let capture = PayloadCapture::start(&[customer_media]);
    // Nobody is logged in: the caller waits, answered with music.
    let customer = Sipp::new("uac_queue_hangup", free_udp_port())
        .media(customer_media)
        .arg("-s")
        .arg("7000")
        .arg("-d")
        .arg("4000")
        .auth("1001")
        .spawn(Some(sw.sip));
    customer.expect_success();
    let frames: Vec<Vec<i16>> = capture
        .stop()
        .into_iter()
        .filter(|f| f.port == customer_media && f.samples.len() == 160)
        .map(|f| f.samples)
        .collect();
    assert!(
        frames.len() > 100,
        "about 4 s of RTP: {} packets",
        frames.len()
    );
    let loud = frames.iter().filter(|f| level_db(f) > 40.0).count();
    assert!(
        loud * 2 > frames.len(),
        "music, not silence: {loud} of {}",
        frames.len()
    );
    // Each packet is a 20 ms slice of the WAV, as G.711 carries it, in the file's order.
    let mut wav = hound::WavReader::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sip-profiles/music-on-hold.wav"
    ))
    .unwrap();
    assert_eq!((wav.spec().sample_rate, wav.spec().channels), (8000, 1));
    let law = switchboard::media::g711::Law::A;
    let music: Vec<i16> = wav
        .samples::<i16>()
        .map(|s| law.decode(law.encode(s.unwrap())))
        .collect();
    let slices: std::collections::HashMap<&[i16], usize> = music
        .chunks_exact(160)
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let found: Vec<Option<usize>> = frames
        .iter()
        .map(|f| slices.get(f.as_slice()).copied())
        .collect();
    let matched = found.iter().flatten().count();
    assert!(
        matched * 10 >= frames.len() * 9,
        "{matched} of {} packets are slices of the music file",
        frames.len()
    );
    let slices_in_file = music.len() / 160;
    let in_order = found
        .windows(2)
        .filter(|w| matches!(w, [Some(a), Some(b)] if *b == (a + 1) % slices_in_file))
        .count();
    assert!(
        in_order * 10 >= matched * 9,
        "{in_order} of {matched} packets follow the previous one"
    );
}
