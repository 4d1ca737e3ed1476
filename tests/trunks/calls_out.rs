//! Calls out for agents and customers through the SIPp carrier: click-to-dial, web callbacks
//! (widget keys, the public endpoint's limits, retries, cancelling, a restart) and the
//! courtesy callback a waiting caller keys in.

use super::*;
use common::desktop;

/// A switch whose carrier's gateway is a SIPp process on `gateway`, queue `sales` and agent
/// alice (1011) whose phone (SIPp `agent_scenario`, answering with audio) is registered;
/// alice's desktop, logged in (Idle), and the phone's media port.
fn alice_with_carrier(
    gateway: u16,
    agent_scenario: &str,
) -> (SwitchProcess, desktop::Desktop, SippRun, u16) {
    alice_with_carrier_calls(gateway, agent_scenario, 1)
}

/// [`alice_with_carrier`] with a phone that takes `calls` calls.
fn alice_with_carrier_calls(
    gateway: u16,
    agent_scenario: &str,
    calls: u32,
) -> (SwitchProcess, desktop::Desktop, SippRun, u16) {
    let sw = switch_with_carrier(&[gateway]);
    provision(&sw, 10, &[("alice", "1011")]);
    let phone = free_udp_port();
    register(&sw, "1011", phone);
    let agent_media = port_block(4);
    let agent_phone = Sipp::new(agent_scenario, phone)
        .media(agent_media)
        .arg("-m")
        .arg(&calls.to_string())
        .spawn(None);
    let alice = desktop::Desktop::open(&sw, "alice");
    let (status, json) = alice.post(&sw, "/api/v1/agents/alice/login", serde_json::json!({}));
    assert_eq!(status, 200, "{json}");
    (sw, alice, agent_phone, agent_media)
}

/// A call out being placed: the customer's and the agent's SIPp, and their RTP capture.
struct Talk {
    customer: SippRun,
    agent_phone: SippRun,
    capture: Capture,
    /// The customer's and the agent's media ports.
    media: (u16, u16),
}

/// Alice (logged in, Idle) with a carrier whose customer answers, talks for three seconds
/// and hangs up, both phones' audio captured.
fn a_customer_who_answers() -> (SwitchProcess, desktop::Desktop, Talk) {
    let gateway = free_udp_port();
    let gateway_media = port_block(4);
    let customer = Sipp::new("uas_answer_then_hang_up", gateway)
        .media(gateway_media)
        .arg("-d")
        .arg("3000")
        .spawn(None);
    let (sw, alice, agent_phone, agent_media) = alice_with_carrier(gateway, "uas_answer");
    let capture = Capture::start(&[agent_media, gateway_media]);
    let talk = Talk {
        customer,
        agent_phone,
        capture,
        media: (gateway_media, agent_media),
    };
    (sw, alice, talk)
}

/// `ix` connects, the customer talks and hangs up with audio both ways, and alice wraps up
/// with `sold`.
fn talk_then_wrap_up(sw: &SwitchProcess, alice: &mut desktop::Desktop, ix: &str, talk: Talk) {
    alice.expect("interaction.connected", |e| e["data"]["interaction"] == ix);
    assert_eq!(alice.state(sw), "engaged");
    alice.expect("interaction.wrapup_required", |e| {
        e["data"]["interaction"] == ix
    });
    talk.customer.expect_success();
    talk.agent_phone.expect_success();
    let counts = talk.capture.stop();
    let (customer, agent) = talk.media;
    // Each side's pcap is about 2 s of audio (100 packets); most of it must arrive.
    assert!(counts[&customer] >= 80, "the customer heard {counts:?}");
    assert!(counts[&agent] >= 80, "the agent heard {counts:?}");
    let (status, json) = alice.post(
        sw,
        &format!("/api/v1/interactions/{ix}/wrapup"),
        serde_json::json!({"code": "sold"}),
    );
    assert_eq!(status, 200, "{json}");
}

#[test]
fn click_to_dial_rings_the_agent_then_the_customer_and_is_wrapped_up_like_a_queue_call() {
    let (sw, mut alice, talk) = a_customer_who_answers();
    let body = serde_json::json!({"number": "01 23 45 67 89", "cad": {"account": "A-1"}});
    let (status, started) = alice.post(&sw, "/api/v1/agents/alice/outdial", body);
    assert_eq!(status, 201, "{started}");
    let ix = started["interaction"].as_str().unwrap().to_owned();
    let placed = alice.expect("interaction.outdial", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    assert_eq!(placed["data"]["number"], "+33123456789", "{placed}");
    assert_eq!(
        placed["data"]["queue"], "sales",
        "the first queue alice serves"
    );
    talk_then_wrap_up(&sw, &mut alice, &ix, talk);
    // Alice dialled out from Idle, and wrap-up takes her back there, not into rotation.
    alice.wait_for_state(&sw, "idle");
    let (status, stored) = desktop::call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{ix}"),
        &alice.token,
        None,
    );
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["direction"], "outbound", "{stored}");
    assert_eq!(stored["dnis"], "+33123456789");
    assert_eq!(stored["ani"], "1011");
    assert_eq!(stored["agent"], "alice");
    assert_eq!(stored["state"], "wrapped_up");
    assert_eq!(stored["disposition"], "sold");
    assert!(stored["failure"].is_null(), "{stored}");
    let (_, cad) = desktop::call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{ix}/cad"),
        &alice.token,
        None,
    );
    assert!(cad.to_string().contains("A-1"), "{cad}");
}

#[test]
fn the_agent_hears_the_ringing_tone_while_the_customer_it_dialled_rings() {
    let gateway = free_udp_port();
    let gateway_media = port_block(4);
    // The customer's phone rings for 5 s before it answers.
    let customer = Sipp::new("uas_ring_then_answer", gateway)
        .media(gateway_media)
        .spawn(None);
    let (sw, mut alice, agent_phone, agent_media) = alice_with_carrier(gateway, "uas_answer");
    let capture = Capture::start(&[agent_media]);
    let dialled_at = unix_seconds();
    let (status, started) = outdial(&sw, &alice, serde_json::json!({"number": "0123456789"}));
    assert_eq!(status, 201, "{started}");
    let ix = started["interaction"].as_str().unwrap().to_owned();
    alice.expect("interaction.connected", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    let connected_at = unix_seconds();
    alice.post_ok(&sw, &format!("/api/v1/interactions/{ix}/end"));
    customer.expect_success();
    agent_phone.expect_success();
    let packets = capture.stop_timed();
    // The tone's packets run while the customer rings (silent 3.5 s of every 5, but sent):
    // about 50 a second for the 5 s before the answer, where a silent line sends none.
    let ringing = packets_between(&packets, agent_media, dialled_at + 1.0, connected_at - 0.5);
    let expected = ((connected_at - dialled_at - 1.5) * 40.0) as usize;
    assert!(
        connected_at - dialled_at > 4.0 && ringing >= expected,
        "{ringing} packets reached the agent in the {:.1} s before the answer",
        connected_at - dialled_at
    );
}

/// Alice's desktop asks to dial `body`'s number.
fn outdial(
    sw: &SwitchProcess,
    alice: &desktop::Desktop,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    alice.post(sw, "/api/v1/agents/alice/outdial", body)
}

#[test]
fn click_to_dial_to_a_busy_customer_fails_with_the_reason_and_refusals_name_the_field() {
    let gateway = free_udp_port();
    let customer = Sipp::new("uas_486", gateway).spawn(None);
    let (sw, mut alice, _agent_phone, _) = alice_with_carrier(gateway, "uas_answer");
    let (status, json) = outdial(
        &sw,
        &alice,
        serde_json::json!({"number": "00 44 20 7946 0958"}),
    );
    assert_eq!(status, 409, "a national extension dialling abroad: {json}");
    assert_eq!(json["error"]["field"], "number");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("calling_class_national")
    );
    let (status, json) = outdial(&sw, &alice, serde_json::json!({"number": "call me"}));
    assert_eq!(status, 422, "{json}");
    assert_eq!(json["error"]["field"], "number");
    let bob = desktop::call(
        &sw,
        "POST",
        "/api/v1/agents/alice/outdial",
        sw.cti_token(),
        Some(serde_json::json!({"number": "0123456789"})),
    );
    assert_eq!(bob.0, 403, "only the agent dials for itself: {}", bob.1);

    let (status, started) = outdial(&sw, &alice, serde_json::json!({"number": "0123456789"}));
    assert_eq!(status, 201, "{started}");
    let ix = started["interaction"].as_str().unwrap().to_owned();
    let failed = alice.expect("interaction.outdial_failed", |e| {
        e["data"]["interaction"] == ix.as_str()
    });
    assert_eq!(failed["data"]["reason"], "customer_486", "{failed}");
    customer.expect_success();
    alice.wait_for_state(&sw, "idle");
    let (_, stored) = desktop::call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{ix}"),
        &alice.token,
        None,
    );
    assert_eq!(stored["state"], "ended", "{stored}");
    assert_eq!(stored["failure"], "customer_486");
}

/// Alice, logged in, goes Available.
fn available(sw: &SwitchProcess, alice: &desktop::Desktop) {
    let (status, json) = desktop::call(
        sw,
        "PUT",
        "/api/v1/agents/alice/state",
        &alice.token,
        Some(serde_json::json!({"state": "available"})),
    );
    assert_eq!(status, 200, "{json}");
}

/// A callback widget for queue `sales`, created by the admin: its key.
fn widget(sw: &SwitchProcess) -> String {
    let created = desktop::ok(
        sw,
        "POST",
        "/api/v1/callback-widgets",
        sw.cti_token(),
        serde_json::json!({"id": "web", "name": "Website", "queue": "sales"}),
    );
    created["key"].as_str().unwrap().to_owned()
}

/// The website's request to the public callback endpoint with `key`.
fn public(
    sw: &SwitchProcess,
    method: &str,
    path: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) = http_request_with(
        sw.http,
        method,
        path,
        &[("X-Widget-Key", key)],
        body.as_deref(),
    )
    .unwrap();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// What the website reads of callback `id`.
fn callback_state(sw: &SwitchProcess, key: &str, id: &str) -> (u16, serde_json::Value) {
    public(
        sw,
        "GET",
        &format!("/api/v1/public/callbacks/{id}"),
        key,
        None,
    )
}

#[test]
fn a_web_callback_is_offered_accepted_dialled_through_the_carrier_and_wrapped_up() {
    let (sw, mut alice, talk) = a_customer_who_answers();
    let key = widget(&sw);
    let body = serde_json::json!({"number": "01 23 45 67 89", "cad": {"topic": "billing"}});
    let (status, filed) = public(&sw, "POST", "/api/v1/public/callbacks", &key, Some(body));
    assert_eq!(status, 201, "{filed}");
    assert_eq!(filed["status"], "queued");
    assert_eq!(filed["position"], 1, "nobody is Available yet: {filed}");
    let id = filed["id"].as_str().unwrap().to_owned();

    available(&sw, &alice);
    let offered = alice.expect("interaction.offered", |e| {
        e["data"]["interaction"] == id.as_str()
    });
    assert_eq!(offered["data"]["callback"], true, "{offered}");
    assert_eq!(offered["data"]["ani"], "+33123456789");
    assert_eq!(offered["data"]["dnis"], "7000");
    assert_eq!(offered["data"]["queue"], "sales");
    alice.post_ok(&sw, &format!("/api/v1/interactions/{id}/accept"));
    talk_then_wrap_up(&sw, &mut alice, &id, talk);
    alice.wait_for_state(&sw, "available");

    let (_, state) = callback_state(&sw, &key, &id);
    assert_eq!(state["outcome"], "connected", "{state}");
    assert_eq!(state["status"], "wrapped_up");
    let (_, stored) = desktop::call(
        &sw,
        "GET",
        &format!("/api/v1/interactions/{id}"),
        sw.cti_token(),
        None,
    );
    assert_eq!(stored["direction"], "outbound", "{stored}");
    assert_eq!(stored["agent"], "alice");
    assert_eq!(stored["disposition"], "sold");
}

#[test]
fn a_busy_customer_is_called_back_again_after_the_interval_then_the_callback_fails() {
    let gateway = free_udp_port();
    let customer = Sipp::new("uas_486", gateway).arg("-m").arg("2").spawn(None);
    // Alice's phone answers both attempts.
    let (sw, mut alice, agent_phone, _) = alice_with_carrier_calls(gateway, "uas_answer", 2);
    desktop::ok(
        &sw,
        "PUT",
        "/api/v1/settings",
        sw.cti_token(),
        serde_json::json!({"callback_retry_seconds": 1, "callback_max_attempts": 2}),
    );
    let key = widget(&sw);
    available(&sw, &alice);
    let (status, filed) = public(
        &sw,
        "POST",
        "/api/v1/public/callbacks",
        &key,
        Some(serde_json::json!({"number": "0123456789"})),
    );
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_str().unwrap().to_owned();
    for attempt in 1..=2 {
        alice.seen.clear();
        alice.expect("interaction.offered", |e| {
            e["data"]["interaction"] == id.as_str()
        });
        alice.post_ok(&sw, &format!("/api/v1/interactions/{id}/accept"));
        let failed = alice.expect("interaction.outdial_failed", |e| {
            e["data"]["interaction"] == id.as_str()
        });
        assert_eq!(
            failed["data"]["reason"], "customer_486",
            "attempt {attempt}: {failed}"
        );
    }
    agent_phone.expect_success();
    customer.expect_success();
    wait_until("the callback is failed", || {
        let (_, state) = callback_state(&sw, &key, &id);
        state["outcome"] == "failed"
    });
    let (_, state) = callback_state(&sw, &key, &id);
    assert_eq!(state["attempts"], 2, "{state}");
    assert_eq!(state["status"], "ended");
    alice.wait_for_state(&sw, "available");
}

#[test]
fn the_public_callback_endpoint_wants_a_widget_key_checks_numbers_limits_and_cancels() {
    let sw = switch_with_carrier(&[free_udp_port()]);
    provision(&sw, 10, &[("alice", "1011")]);
    let key = widget(&sw);
    let filing = |key: &str, number: &str| {
        public(
            &sw,
            "POST",
            "/api/v1/public/callbacks",
            key,
            Some(serde_json::json!({"number": number})),
        )
    };
    assert_eq!(filing("cbw_made_up", "0123456789").0, 401);
    let (status, _) = http_request(
        sw.http,
        "POST",
        "/api/v1/public/callbacks",
        Some(sw.cti_token()),
        Some(r#"{"number": "0123456789"}"#),
    )
    .unwrap();
    assert_eq!(status, 401, "an agent or admin token is no widget key");
    let (status, json) = filing(&key, "call me");
    assert_eq!(
        (status, json["error"]["field"].as_str()),
        (422, Some("number")),
        "{json}"
    );
    let (status, json) = filing(&key, "00 44 20 7946 0958");
    assert_eq!(
        status, 422,
        "abroad is beyond the default calling class: {json}"
    );
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("calling_class_national")
    );

    // Nobody is Available: the callbacks wait, in order.
    let (status, first) = filing(&key, "0123456789");
    assert_eq!(
        (status, first["position"].as_u64()),
        (201, Some(1)),
        "{first}"
    );
    let (_, second) = filing(&key, "0123456789");
    assert_eq!(second["position"], 2, "{second}");
    let id = first["id"].as_str().unwrap().to_owned();
    let (status, _) = public(
        &sw,
        "DELETE",
        &format!("/api/v1/public/callbacks/{id}"),
        &key,
        None,
    );
    assert_eq!(status, 204);
    let (_, state) = callback_state(&sw, &key, &id);
    assert_eq!(state["outcome"], "cancelled", "{state}");
    // The interaction's record follows through the store writer.
    wait_until("the cancelled callback's interaction has ended", || {
        callback_state(&sw, &key, &id).1["status"] == "ended"
    });
    let (status, _) = public(
        &sw,
        "DELETE",
        &format!("/api/v1/public/callbacks/{id}"),
        &key,
        None,
    );
    assert_eq!(status, 409, "already cancelled");
    let second_id = second["id"].as_str().unwrap();
    let (_, moved_up) = callback_state(&sw, &key, second_id);
    assert_eq!(moved_up["position"], 1, "{moved_up}");

    // The same number a third time is heard, however it is written; a fourth is refused for
    // a while.
    assert_eq!(filing(&key, "+33 1 23 45 67 89").0, 201);
    let (status, json) = filing(&key, "0033123456789");
    assert_eq!(status, 429, "{json}");
    let (_, listed) = desktop::call(
        &sw,
        "GET",
        "/api/v1/callbacks?status=pending",
        sw.cti_token(),
        None,
    );
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn pending_callbacks_survive_a_crash_in_their_order_with_their_cad() {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-callbacks-{}-{}",
        std::process::id(),
        free_udp_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = SwitchOptions {
        dir: Some(dir),
        ..carrier_options(&[free_udp_port()])
    };
    let sw = SwitchProcess::start(opts.clone());
    provision(&sw, 10, &[("alice", "1011")]);
    let key = widget(&sw);
    let mut ids = Vec::new();
    for number in ["0123456789", "0123456788"] {
        let body = serde_json::json!({"number": number, "cad": {"account": format!("A-{number}")}});
        let (status, filed) = public(&sw, "POST", "/api/v1/public/callbacks", &key, Some(body));
        assert_eq!(status, 201, "{filed}");
        ids.push(filed["id"].as_str().unwrap().to_owned());
    }
    wait_until("both callbacks are stored", || {
        let (_, listed) = desktop::call(
            &sw,
            "GET",
            "/api/v1/callbacks?status=pending",
            sw.cti_token(),
            None,
        );
        listed.as_array().is_some_and(|l| l.len() == 2)
    });
    sw.kill();

    let again = SwitchProcess::start(opts);
    for (place, id) in ids.iter().enumerate() {
        let (status, state) = callback_state(&again, &key, id);
        assert_eq!(status, 200, "{state}");
        assert_eq!(state["outcome"], "pending", "{state}");
        assert_eq!(
            state["status"], "queued",
            "not interrupted by the crash: {state}"
        );
        assert_eq!(state["position"], place + 1, "{state}");
    }
    // The first is offered to the first agent free, its pop-up with the CAD it was filed
    // with.
    register(&again, "1011", free_udp_port());
    let mut alice = desktop::Desktop::open(&again, "alice");
    let (status, json) = alice.post(&again, "/api/v1/agents/alice/login", serde_json::json!({}));
    assert_eq!(status, 200, "{json}");
    available(&again, &alice);
    let offered = alice.expect("interaction.offered", |_| true);
    assert_eq!(offered["data"]["interaction"], ids[0].as_str(), "{offered}");
    assert_eq!(
        offered["data"]["cad"]["account"], "A-0123456789",
        "{offered}"
    );
}

/// The admin changes queue `sales` with `changes` merged into its configuration.
fn change_queue(sw: &SwitchProcess, changes: serde_json::Value) {
    let (_, mut queue) = desktop::call(sw, "GET", "/api/v1/queues/sales", sw.cti_token(), None);
    for (key, value) in changes.as_object().unwrap() {
        queue[key] = value.clone();
    }
    desktop::ok(sw, "PUT", "/api/v1/queues/sales", sw.cti_token(), queue);
}

/// Where interaction `id` waits in its queue (1 is next).
fn position(sw: &SwitchProcess, id: &str) -> serde_json::Value {
    let path = format!("/api/v1/interactions/{id}/position");
    desktop::call(sw, "GET", &path, sw.cti_token(), None).1["position"].clone()
}

#[test]
fn a_courtesy_callback_keeps_the_callers_place_and_the_later_caller_stays_behind_it() {
    let (sw, mut alice, talk) = a_customer_who_answers();
    change_queue(&sw, serde_json::json!({"courtesy_callback_after_secs": 1}));
    let first = Sipp::new("uac_queue_courtesy", free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1001")
        .spawn(Some(sw.sip));
    let admin = sw.cti_token().to_owned();
    let queued = || {
        let (_, page) = desktop::call(&sw, "GET", "/api/v1/interactions?queue=sales", &admin, None);
        page["items"].as_array().cloned().unwrap_or_default()
    };
    wait_until("the first caller waits", || queued().len() == 1);
    let second = Sipp::new("uac_queue_call", free_udp_port())
        .arg("-s")
        .arg("7000")
        .auth("1002")
        .spawn(Some(sw.sip));
    wait_until("the second caller waits", || queued().len() == 2);
    // The first caller keys 2, the number and #, and is hung up once the callback is filed.
    first.expect_success();
    let (_, callbacks) = desktop::call(&sw, "GET", "/api/v1/callbacks", &admin, None);
    let callback = &callbacks[0];
    assert_eq!(callback["number"], "+33123456789", "{callbacks}");
    assert!(
        callback["widget"].is_null(),
        "a courtesy callback: {callback}"
    );
    let id = callback["interaction"].as_str().unwrap().to_owned();
    let later = queued()
        .into_iter()
        .find(|ix| ix["id"] != id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(position(&sw, &id), 1, "the callback kept the first place");
    assert_eq!(
        position(&sw, &later),
        2,
        "the later caller is still behind it"
    );

    available(&sw, &alice);
    let offered = alice.expect("interaction.offered", |_| true);
    assert_eq!(offered["data"]["interaction"], id.as_str(), "{offered}");
    assert_eq!(offered["data"]["callback"], true);
    alice.post_ok(&sw, &format!("/api/v1/interactions/{id}/accept"));
    talk_then_wrap_up(&sw, &mut alice, &id, talk);
    drop(second);
}
