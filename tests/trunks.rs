//! Trunks against SIPp playing the carrier on loopback: outbound calls through its gateways
//! (failover from a gateway answering 503 to one that answers, audio checked both ways) and
//! the toll-fraud refusals as a phone sees them. The rules themselves (classes, prefixes,
//! channel limits, silent gateways, carrier challenges) are proven in virtual time in
//! `src/call/trunk_call_tests.rs`.
// Test harnesses are the IO side: they read the clock to bound waits.
#![allow(clippy::disallowed_methods)]

mod common;

use common::desktop::{provision, wait_until};
use common::*;
use std::time::Duration;

/// A switch whose every external number goes out through `carrier`, whose gateways are
/// SIPp processes on `gateways` (loopback ports), tried in order.
fn switch_with_carrier(gateways: &[u16]) -> SwitchProcess {
    SwitchProcess::start(carrier_options(gateways))
}

/// The options of [`switch_with_carrier`].
fn carrier_options(gateways: &[u16]) -> SwitchOptions {
    let list: Vec<String> = gateways
        .iter()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect();
    carrier_options_at(&list.join(", "), "")
}

/// A switch whose every external number goes out through `carrier`, its `gateways` as the
/// profile writes them, `dialing` lines added to its `[dialing]`.
fn switch_with_carrier_at(gateways: &str, dialing: &str) -> SwitchProcess {
    SwitchProcess::start(carrier_options_at(gateways, dialing))
}

/// The options of [`switch_with_carrier_at`].
fn carrier_options_at(gateways: &str, dialing: &str) -> SwitchOptions {
    SwitchOptions {
        extra_profile: format!(
            "[[trunks]]\nname = \"carrier\"\ngateways = [{gateways}]\ncaller_id = \"+33900000001\"\n\
             max_channels = 10\n\n[dialing]\n{dialing}[[dialing.routes]]\nprefix = \"+\"\ntrunks = [\"carrier\"]\n",
        ),
        ..SwitchOptions::default()
    }
}

#[test]
fn an_outbound_call_fails_over_from_a_503_gateway_to_one_that_answers_with_audio_both_ways() {
    let (refusing, answering) = (free_udp_port(), free_udp_port());
    let sw = switch_with_carrier(&[refusing, answering]);
    call_fails_over_from_503_to_the_answering_gateway(&sw, refusing, answering);
}

/// A national number dialled by 1000 through `sw`'s carrier: SIPp on `refusing` answers 503,
/// the one on `answering` answers with audio both ways for 3 s.
fn call_fails_over_from_503_to_the_answering_gateway(
    sw: &SwitchProcess,
    refusing: u16,
    answering: u16,
) {
    let first = Sipp::new("uas_503", refusing).spawn(None);
    let gateway_media = port_block(4);
    let second = Sipp::new("uas_answer", answering)
        .media(gateway_media)
        .spawn(None);
    std::thread::sleep(Duration::from_millis(300));
    let caller_media = port_block(4);
    let capture = Capture::start(&[caller_media, gateway_media]);
    // A national number as people type it (without separators: it is a SIP user).
    Sipp::new("uac_call", free_udp_port())
        .arg("-s")
        .arg("0123456789")
        .auth("1000")
        .media(caller_media)
        .arg("-d")
        .arg("3000")
        .run(sw.sip);
    first.expect_success();
    second.expect_success();
    let counts = capture.stop();
    assert!(
        counts[&gateway_media] >= 100,
        "the gateway heard {counts:?}"
    );
    assert!(counts[&caller_media] >= 100, "the caller heard {counts:?}");
    let cdr = &sw.wait_for_cdrs(1)["items"][0];
    assert_eq!(cdr["caller"], "1000");
    assert_eq!(cdr["callee"], "+33123456789", "recorded in E.164: {cdr}");
    assert_eq!(cdr["sip_code"], 200);
    assert_eq!(cdr["hangup_cause"], "normal_clearing");
}

#[test]
fn a_national_extension_dialling_abroad_is_refused_403_and_no_gateway_hears_of_it() {
    let gateway = free_udp_port();
    let sw = switch_with_carrier(&[gateway]);
    // Nothing listens on the gateway's port: an INVITE sent there would leave the caller
    // waiting for the silent-gateway timeout and a 408, not a 403 at once.
    expect_final(403, free_udp_port())
        .arg("-s")
        .arg("00442079460958")
        .auth("1000")
        .run(sw.sip);
    assert!(
        sw.log()
            .contains("calling class national may not dial international numbers"),
        "the refusal is logged with its rule"
    );
}

#[test]
fn a_carriers_did_reaches_its_queue_and_an_unknown_address_is_refused_403_unchallenged() {
    // The carrier is 127.0.0.1 alone; 127.0.0.2 is nobody (no trunk, no registered phone).
    let sw = SwitchProcess::start(SwitchOptions {
        profile_edits: vec![(
            r#"inbound_sources = ["127.0.0.0/8", "::1"]"#,
            r#"inbound_sources = ["127.0.0.1"]"#.into(),
        )],
        extra_profile: "[dialing]\n[[dialing.dids]]\nnumber = \"+33123450000\"\nto = \"7000\"\n"
            .into(),
        ..SwitchOptions::default()
    });
    provision(&sw, 10, &[]);
    let admin = sw.cti_token().to_owned();
    // The carrier delivers the DID in national form; the caller waits 1.5 s, then hangs up.
    Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("0123450000")
        .arg("-d")
        .arg("1500")
        .key("caller", "+33612345678")
        .run(sw.sip);
    wait_until("the DID's caller waited in queue sales", || {
        let (_, page) = desktop::call(
            &sw,
            "GET",
            "/api/v1/interactions?number=%2B33612345678",
            &admin,
            None,
        );
        page["items"][0]["queue"] == "sales" && page["items"][0]["state"] == "ended"
    });
    Sipp::new("uac_refused_unchallenged", free_udp_port())
        .bind_ip("127.0.0.2")
        .arg("-s")
        .arg("7000")
        .run(sw.sip);
    assert!(
        sw.log().contains("unknown_source"),
        "the refusal is logged as a security event"
    );
}

#[test]
fn a_queue_at_its_call_limit_refuses_the_next_caller_486_and_the_cdr_and_interaction_say_why() {
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(&sw, 10, &[]);
    let admin = sw.cti_token().to_owned();
    desktop::ok(
        &sw,
        "POST",
        "/api/v1/queues",
        &admin,
        serde_json::json!({"id": "vip", "name": "VIP", "number": "7100",
                           "ring_timeout_secs": 10, "max_calls": 1}),
    );
    // The first caller waits in the queue for 4 s.
    let first = Sipp::new("uac_queue_hangup", free_udp_port())
        .arg("-s")
        .arg("7100")
        .arg("-d")
        .arg("4000")
        .key("caller", "+33600000001")
        .spawn(Some(sw.sip));
    wait_until("the first caller waits in queue vip", || {
        let (_, page) = desktop::call(&sw, "GET", "/api/v1/interactions?queue=vip", &admin, None);
        page["items"][0]["state"] == "queued"
    });
    refused_at_once(486, free_udp_port())
        .arg("-s")
        .arg("7100")
        .run(sw.sip);
    first.expect_success();
    let (_, cdrs) = desktop::call(&sw, "GET", "/api/v1/cdrs", &admin, None);
    let refused = cdrs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["hangup_cause"] == "refused")
        .unwrap_or_else(|| panic!("no refused CDR in {cdrs}"))
        .clone();
    assert_eq!(refused["refused_by"], "queue_calls");
    assert_eq!(refused["sip_code"], 486);
    let (_, page) = desktop::call(&sw, "GET", "/api/v1/interactions?queue=vip", &admin, None);
    let refused_ix = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ix| ix["refused_by"] == "queue_calls")
        .unwrap_or_else(|| panic!("no refused interaction in {page}"))
        .clone();
    assert_eq!(refused_ix["state"], "ended");
    assert_eq!(refused["interaction"], refused_ix["id"]);
}

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
fn click_to_dial_to_a_busy_customer_fails_with_the_reason_and_refusals_name_the_field() {
    let gateway = free_udp_port();
    let customer = Sipp::new("uas_486", gateway).spawn(None);
    let (sw, mut alice, _agent_phone, _) = alice_with_carrier(gateway, "uas_answer");
    let (status, json) = alice.post(
        &sw,
        "/api/v1/agents/alice/outdial",
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
    let (status, json) = alice.post(
        &sw,
        "/api/v1/agents/alice/outdial",
        serde_json::json!({"number": "call me"}),
    );
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

    let (status, started) = alice.post(
        &sw,
        "/api/v1/agents/alice/outdial",
        serde_json::json!({"number": "0123456789"}),
    );
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

    // The same number a third time is heard; a fourth is refused for a while.
    assert_eq!(filing(&key, "0123456789").0, 201);
    let (status, json) = filing(&key, "0123456789");
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
fn pending_callbacks_survive_a_crash_in_their_order() {
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
        let (status, filed) = public(
            &sw,
            "POST",
            "/api/v1/public/callbacks",
            &key,
            Some(serde_json::json!({"number": number})),
        );
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

/// A nameserver on a loopback port that knows one zone: `_sip._udp.carrier.test` has two
/// SRV targets on loopback (the records listed backup first, so only their priorities can
/// order them), given with their A records in the additional section. Every other name
/// is NXDOMAIN. Stops when dropped.
struct FakeNameserver {
    port: u16,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FakeNameserver {
    /// `targets`: (priority, SIP port) of `gw1.carrier.test`, `gw2.carrier.test`, ...
    fn start(targets: &[(u16, u16)]) -> FakeNameserver {
        use switchboard::dns::{Message, Name, Rcode, Record, RecordData, RecordType, Srv};
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let name = |text: &str| Name::from_dotted(text).unwrap();
        let mut srvs = Vec::new();
        let mut glue = Vec::new();
        for (i, (priority, sip_port)) in targets.iter().enumerate().rev() {
            let target = name(&format!("gw{}.carrier.test", i + 1));
            let srv = RecordData::Srv(Srv {
                priority: *priority,
                weight: 0,
                port: *sip_port,
                target: target.clone(),
            });
            srvs.push(Record::new(name("_sip._udp.carrier.test"), 300, srv));
            let a = RecordData::A(std::net::Ipv4Addr::LOCALHOST);
            glue.push(Record::new(target, 300, a));
        }
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, stopped) = (asked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(query) = Message::parse(&buf[..len]) else {
                    continue;
                };
                let Some(question) = query.questions.first() else {
                    continue;
                };
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", question.name, question.qtype.0));
                let known = question.qtype == RecordType::SRV
                    && question.name == name("_sip._udp.carrier.test");
                let mut answer = Message::response_to(
                    &query,
                    if known {
                        Rcode::NoError
                    } else {
                        Rcode::NxDomain
                    },
                );
                if known {
                    answer.answers = srvs.clone();
                    answer.additional = glue.clone();
                }
                let _ = socket.send_to(&answer.to_bytes().unwrap(), from);
            }
        });
        FakeNameserver { port, asked, stop }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for FakeNameserver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_gateway_named_without_a_port_is_located_by_srv_and_fails_over_in_priority_order() {
    let (refusing, answering) = (free_udp_port(), free_udp_port());
    let dns = FakeNameserver::start(&[(10, refusing), (20, answering)]);
    let sw = switch_with_carrier_at(
        "\"carrier.test\"",
        &format!("nameserver = \"127.0.0.1:{}\"\n", dns.port),
    );
    assert_eq!(
        dns.asked(),
        ["_sip._udp.carrier.test 33"],
        "one SRV question; the addresses came with it"
    );
    let (status, trunks) = desktop::call(&sw, "GET", "/api/v1/trunks", sw.cti_token(), None);
    assert_eq!(status, 200, "{trunks}");
    let carrier = trunks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "carrier")
        .unwrap_or_else(|| panic!("no carrier in {trunks}"));
    assert_eq!(
        carrier["gateways"],
        serde_json::json!([
            format!("127.0.0.1:{refusing}"),
            format!("127.0.0.1:{answering}")
        ]),
        "the SRV targets, priority 10 first"
    );
    call_fails_over_from_503_to_the_answering_gateway(&sw, refusing, answering);
}
