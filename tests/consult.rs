//! Consult, warm transfer and three-way conference from the desktop, with SIPp as the
//! customer and as both agents' phones, and what each party hears checked on the wire.
//!
//! ```text
//!  phase         customer hears         alice hears         bob hears
//!  consulting    music on hold          bob                 alice
//!  conference    alice + bob            customer + bob      customer + alice
//!  transferred   bob                    (released: BYE)     customer
//! ```
//! In the conference test every party plays its own tone (customer 500 Hz, alice 900 Hz, bob
//! 1400 Hz) and the decoded RTP each receives is checked per frequency (Goertzel): each hears
//! the other two and not itself.

mod common;

use common::audio::{PayloadCapture, heard, streaming_scenario, tone, tone_db};
use common::desktop::*;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const CUSTOMER_HZ: f64 = 500.0;
const ALICE_HZ: f64 = 900.0;
const BOB_HZ: f64 = 1400.0;

/// Alice (1011) on a queue call with a customer; bob (1012) logged in and Available with his
/// phone running `bob_scenario`. `tones` makes every party play its own tone instead of the
/// pcap (and turns noise suppression off, which would take pure tones for noise).
struct Consult {
    sw: SwitchProcess,
    alice: Desktop,
    bob: Desktop,
    interaction: String,
    customer: SippRun,
    alice_phone: SippRun,
    bob_phone: SippRun,
    customer_media: u16,
    alice_media: u16,
    bob_media: u16,
}

fn scenario(sw: &SwitchProcess, tones: bool, template: &str, hz: f64) -> String {
    if !tones || template == "uas_ring_until_cancel" {
        return template.to_owned();
    }
    let stream = sw.dir.join(format!("{hz}.al"));
    std::fs::write(&stream, tone(hz, 1.0)).unwrap();
    streaming_scenario(&sw.dir, template, &format!("{template}_{hz}"), &stream)
}

/// Options of [`start`] beyond the defaults.
#[derive(Default)]
struct Setup {
    /// The queue's ring timeout (default 10 s).
    ring_timeout_secs: Option<u64>,
    /// Bob's phone (default `uas_answer`).
    bob_scenario: Option<&'static str>,
    /// Every party plays its own tone.
    tones: bool,
    /// Alice's phone hangs up this long after it answered.
    alice_hangs_up_after_ms: Option<u64>,
    /// Bob's phone hangs up this long after it answered.
    bob_hangs_up_after_ms: Option<u64>,
    /// The customer hangs up this long after the call connected.
    customer_hangs_up_after_ms: Option<u64>,
}

fn start(setup: Setup) -> Consult {
    let ring_timeout_secs = setup.ring_timeout_secs.unwrap_or(10);
    let bob_scenario = match setup.bob_hangs_up_after_ms {
        Some(_) => "uas_answer_then_hang_up",
        None => setup.bob_scenario.unwrap_or("uas_answer"),
    };
    let tones = setup.tones;
    let sw = SwitchProcess::start(SwitchOptions::default());
    provision(
        &sw,
        ring_timeout_secs,
        &[("alice", "1011"), ("bob", "1012")],
    );
    if tones {
        let admin = sw.cti_token().to_owned();
        ok(
            &sw,
            "PUT",
            "/api/v1/settings",
            &admin,
            json!({"noise_suppression": false}),
        );
    }
    let (alice_port, bob_port) = (free_udp_port(), free_udp_port());
    register(&sw, "1011", alice_port);
    register(&sw, "1012", bob_port);
    let (customer_media, alice_media, bob_media) = (port_block(4), port_block(4), port_block(4));
    let alice_scenario = match setup.alice_hangs_up_after_ms {
        Some(_) => "uas_answer_then_hang_up",
        None => "uas_answer",
    };
    let mut alice_phone =
        Sipp::new(&scenario(&sw, tones, alice_scenario, ALICE_HZ), alice_port).media(alice_media);
    if let Some(ms) = setup.alice_hangs_up_after_ms {
        alice_phone = alice_phone.arg("-d").arg(&ms.to_string());
    }
    let alice_phone = alice_phone.spawn(None);
    let mut alice = Desktop::open(&sw, "alice");
    alice.go_available(&sw);
    let customer = match setup.customer_hangs_up_after_ms {
        Some(ms) => Sipp::new("uac_queue_hangup", free_udp_port())
            .arg("-d")
            .arg(&ms.to_string()),
        None => Sipp::new(
            &scenario(&sw, tones, "uac_queue_call", CUSTOMER_HZ),
            free_udp_port(),
        ),
    }
    .auth("1001")
    .media(customer_media)
    .arg("-s")
    .arg("7000")
    .spawn(Some(sw.sip));
    let connected = alice.expect("interaction.connected", |_| true);
    let interaction = connected["data"]["interaction"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob goes Available only now, so the customer's call went to alice.
    let mut bob_phone =
        Sipp::new(&scenario(&sw, tones, bob_scenario, BOB_HZ), bob_port).media(bob_media);
    if let Some(ms) = setup.bob_hangs_up_after_ms {
        bob_phone = bob_phone.arg("-d").arg(&ms.to_string());
    }
    let bob_phone = bob_phone.spawn(None);
    let bob = Desktop::open(&sw, "bob");
    bob.go_available(&sw);
    Consult {
        sw,
        alice,
        bob,
        interaction,
        customer,
        alice_phone,
        bob_phone,
        customer_media,
        alice_media,
        bob_media,
    }
}

/// The path of a command on `interaction`.
fn path(interaction: &str, what: &str) -> String {
    format!("/api/v1/interactions/{interaction}/{what}")
}

impl Consult {
    /// Alice consults bob, and bob's phone answers.
    fn consult_bob(&mut self) {
        let (status, json) = self.alice.post(
            &self.sw,
            &path(&self.interaction, "consult"),
            json!({"target": {"type": "agent", "id": "bob"}}),
        );
        assert_eq!(
            (status, json["status"].as_str()),
            (200, Some("consulting")),
            "{json}"
        );
        let offered = self.bob.expect("consult.offered", |_| true);
        assert_eq!(offered["data"]["from"]["agent"], "alice", "{offered}");
        self.alice.expect("consult.answered", |_| true);
        self.bob.expect("consult.answered", |_| true);
    }

    /// The conference ended for everyone: every phone got its BYE, and by the seed's
    /// participant table the consulted agent is free without wrap-up while the consulting
    /// agent wraps up; no RTP port is left.
    fn expect_conference_over(mut self) {
        self.customer.expect_success();
        self.alice_phone.expect_success();
        self.bob_phone.expect_success();
        self.alice.expect("interaction.ended", |_| true);
        self.bob.wait_for_state(&self.sw, "available");
        self.alice.wait_for_state(&self.sw, "wrap_up");
        expect_ports_released(&self.sw);
    }

    /// Alice asks for a consult to `target`; the desktop's request is accepted.
    fn consult(&self, target: Value) {
        self.alice
            .post_body_ok(&self.sw, &path(&self.interaction, "consult"), target);
    }

    /// Alice consults bob, then turns the consult into a three-way conference.
    fn conference_with_bob(&mut self) {
        self.consult_bob();
        let (status, json) = self.alice.post(
            &self.sw,
            &path(&self.interaction, "consult/conference"),
            json!({}),
        );
        assert_eq!(
            (status, json["status"].as_str()),
            (200, Some("conferencing")),
            "{json}"
        );
        self.alice.expect("conference.started", |_| true);
        self.bob.expect("conference.started", |_| true);
    }
}

/// No media endpoint of the switch holds a port pair any more.
fn expect_ports_released(sw: &SwitchProcess) {
    wait_until("every RTP port is released", || sw.media_port_pairs() == 0);
}

/// The interaction as the API stores it (read as the admin).
fn stored(sw: &SwitchProcess, interaction: &str) -> Value {
    call(
        sw,
        "GET",
        &format!("/api/v1/interactions/{interaction}"),
        sw.cti_token(),
        None,
    )
    .1
}

/// The agent alone with the customer ends the call: both phones get their BYE, the agent
/// wraps up and no RTP port is left.
fn agent_ends_the_call(
    sw: &SwitchProcess,
    agent: &Desktop,
    interaction: &str,
    customer: SippRun,
    phone: SippRun,
) {
    agent.post_ok(sw, &path(interaction, "end"));
    customer.expect_success();
    phone.expect_success();
    wait_until("the agent wraps up", || agent.state(sw) == "wrap_up");
    expect_ports_released(sw);
}

/// Packets to `port` in `[from, to)`, leaving a margin for packets in flight at a change.
fn count(packets: &[(f64, u16)], port: u16, from: f64, to: f64) -> usize {
    packets_between(packets, port, from + 0.3, to - 0.1)
}

#[test]
fn a_warm_transfer_to_an_agent_hands_the_customer_over_after_they_talked() {
    let mut c = start(Setup {
        tones: true,
        ..Setup::default()
    });
    let capture = PayloadCapture::start(&[c.customer_media, c.alice_media, c.bob_media]);
    c.consult_bob();
    let consulting_from = unix_seconds() + 0.5;
    // The consulted agent's pop-up carries who asks and the CAD the admin offers, never a
    // secure value.
    let offered = c.bob.expect("consult.offered", |_| true);
    let cad = offered["data"]["cad"].as_array().unwrap().clone();
    assert!(
        cad.iter().any(|v| v["key"] == "account"),
        "offered CAD: {offered}"
    );
    assert!(
        !cad.iter().any(|v| v["key"] == "card"),
        "secure CAD offered: {offered}"
    );
    assert_eq!(c.alice.state(&c.sw), "engaged");
    assert_eq!(c.bob.state(&c.sw), "engaged");
    // A second consult while one is going on is refused, and bob may not transfer alice's
    // customer.
    let consult_again = json!({"target": {"type": "number", "id": "1019"}});
    let (status, _) = c
        .alice
        .post(&c.sw, &path(&c.interaction, "consult"), consult_again);
    assert_eq!(status, 409);
    let transfer = path(&c.interaction, "consult/transfer");
    let (status, _) = c.bob.post(&c.sw, &transfer, json!({}));
    assert_eq!(status, 409);
    std::thread::sleep(Duration::from_millis(2000));
    let consulting_to = unix_seconds();
    c.alice.post_ok(&c.sw, &transfer);
    let transferred = c.alice.expect("interaction.transferred", |_| true);
    assert_eq!(transferred["data"]["warm"], true, "{transferred}");
    assert_eq!(transferred["data"]["target"]["id"], "bob", "{transferred}");
    c.alice_phone.expect_success(); // alice's leg got its BYE
    assert_eq!(c.alice.state(&c.sw), "wrap_up");
    assert_eq!(c.bob.state(&c.sw), "engaged");
    let transferred_from = unix_seconds() + 0.5;
    std::thread::sleep(Duration::from_millis(2000));
    let transferred_to = unix_seconds();
    c.bob.post_ok(&c.sw, &path(&c.interaction, "end"));
    c.customer.expect_success();
    c.bob_phone.expect_success();
    assert_eq!(c.bob.state(&c.sw), "wrap_up");
    let frames = capture.stop();

    let (from, to) = (consulting_from, consulting_to);
    let customer = tones_heard(&frames, c.customer_media, from, to);
    let alice = tones_heard(&frames, c.alice_media, from, to);
    let bob = tones_heard(&frames, c.bob_media, from, to);
    println!("consulting: customer {customer:.1?} alice {alice:.1?} bob {bob:.1?}");
    assert_hears("alice", alice, &[2], 0);
    assert_hears("bob", bob, &[1], 0);
    assert!(
        customer[1] < 40.0 && customer[2] < 40.0,
        "the held customer hears music, not the agents: {customer:.1?}"
    );
    let (from, to) = (transferred_from, transferred_to);
    let customer = tones_heard(&frames, c.customer_media, from, to);
    let bob = tones_heard(&frames, c.bob_media, from, to);
    println!("transferred: customer {customer:.1?} bob {bob:.1?}");
    assert_hears("the customer", customer, &[2], 1);
    assert_hears("bob", bob, &[0], 1);
    let stored = stored(&c.sw, &c.interaction);
    assert_eq!(stored["agent"], "bob", "{stored}");
    // Who took part, in the roles they came in; alice keeps her own part, to wrap up.
    let participants = stored["participants"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (parts, others): (Vec<Value>, Vec<Value>) =
        participants.into_iter().partition(|p| p["role"] == "agent");
    assert_eq!(
        others,
        [
            json!({"role": "consult", "address": "bob"}),
            json!({"role": "transfer", "address": "bob"})
        ],
        "{stored}"
    );
    assert!(
        matches!(&parts[..], [p] if p["address"] == "alice" && p["ended_ms"].is_i64()),
        "{stored}"
    );
    // The recording's sidecar names them too, after the customer and the first agent.
    let sidecar = recording_sidecar(&c.sw, &c.interaction);
    let names: Vec<&str> = sidecar["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names[0].starts_with("customer:"), "{sidecar}");
    assert_eq!(
        names[1..],
        ["agent:alice", "consult:bob", "transfer:bob"],
        "{sidecar}"
    );
    // Alice's leg answered, talked and got a BYE; bob's took over: both records say so.
    assert_agents_legs_answered(&c.sw.wait_for_cdrs(1)["items"][0], 2);
}

/// Each party's tones in `[from, to)`: (customer's, alice's, bob's) in dB.
fn tones_heard(frames: &[common::audio::Frame], port: u16, from: f64, to: f64) -> [f64; 3] {
    let samples = heard(frames, port, from, to);
    assert!(
        samples.len() > 8000,
        "{port} received {} samples",
        samples.len()
    );
    [CUSTOMER_HZ, ALICE_HZ, BOB_HZ].map(|hz| tone_db(&samples, hz))
}

/// `heard[i]` loud and `heard[silent]` at least 25 dB below every loud one.
fn assert_hears(who: &str, heard: [f64; 3], loud: &[usize], silent: usize) {
    for &i in loud {
        assert!(
            heard[i] > 50.0 && heard[i] - heard[silent] > 25.0,
            "{who} hears (customer, alice, bob) = {heard:.1?} dB"
        );
    }
}

#[test]
fn in_a_conference_each_party_hears_the_other_two_and_not_itself() {
    let mut c = start(Setup {
        tones: true,
        ..Setup::default()
    });
    let capture = PayloadCapture::start(&[c.customer_media, c.alice_media, c.bob_media]);
    c.conference_with_bob();
    let conference_from = unix_seconds() + 0.5;
    std::thread::sleep(Duration::from_millis(2500));
    let conference_to = unix_seconds();
    // Hold is refused in a conference; bob cannot drop anyone; alice drops bob.
    let (status, _) = c
        .alice
        .post(&c.sw, &path(&c.interaction, "hold"), json!({}));
    assert_eq!(status, 409);
    let drop_bob = path(&c.interaction, "conference/participants/bob/drop");
    let (status, _) = c.bob.post(&c.sw, &drop_bob, json!({}));
    assert_eq!(status, 409);
    c.alice.post_ok(&c.sw, &drop_bob);
    let ended = c.alice.expect("consult.ended", |_| true);
    assert_eq!(ended["data"]["conference"], true, "{ended}");
    c.bob_phone.expect_success(); // bob's phone got its BYE
    c.bob.wait_for_state(&c.sw, "available");
    let two_way_from = unix_seconds() + 0.5;
    std::thread::sleep(Duration::from_millis(2000));
    let two_way_to = unix_seconds();
    c.alice.post_ok(&c.sw, &path(&c.interaction, "end"));
    c.customer.expect_success();
    c.alice_phone.expect_success();
    let frames = capture.stop();

    let (from, to) = (conference_from, conference_to);
    let customer = tones_heard(&frames, c.customer_media, from, to);
    let alice = tones_heard(&frames, c.alice_media, from, to);
    let bob = tones_heard(&frames, c.bob_media, from, to);
    println!("conference: customer {customer:.1?} alice {alice:.1?} bob {bob:.1?}");
    assert_hears("the customer", customer, &[1, 2], 0);
    assert_hears("alice", alice, &[0, 2], 1);
    assert_hears("bob", bob, &[0, 1], 2);
    // After bob is dropped, customer and alice hear each other only.
    let customer = tones_heard(&frames, c.customer_media, two_way_from, two_way_to);
    let alice = tones_heard(&frames, c.alice_media, two_way_from, two_way_to);
    println!("after the drop: customer {customer:.1?} alice {alice:.1?}");
    assert_hears("the customer", customer, &[1], 2);
    assert_hears("alice", alice, &[0], 2);
}

#[test]
fn a_consult_nobody_answers_fails_and_the_agent_resumes_the_customer() {
    let mut c = start(Setup {
        ring_timeout_secs: Some(3),
        bob_scenario: Some("uas_ring_until_cancel"),
        ..Setup::default()
    });
    c.consult(json!({"target": {"type": "queue", "id": "sales"}}));
    // The queue's strategy picks its only other Available agent.
    c.bob.expect("consult.offered", |_| true);
    assert_eq!(c.bob.state(&c.sw), "reserved");
    // Nothing to transfer to, and the customer stays held, while the consult rings.
    let (status, _) = c
        .alice
        .post(&c.sw, &path(&c.interaction, "consult/transfer"), json!({}));
    assert_eq!(status, 409);
    c.alice
        .expect("interaction.consult.transfer.failed", |_| true);
    let (status, _) = c
        .alice
        .post(&c.sw, &path(&c.interaction, "resume"), json!({}));
    assert_eq!(status, 409);
    let failed = c.alice.expect("consult.failed", |_| true);
    assert_eq!(failed["data"]["reason"], "no_answer", "{failed}");
    c.bob_phone.expect_success(); // CANCELled
    assert_eq!(
        c.bob.state(&c.sw),
        "available",
        "a consult is not an ACD offer: no RONA"
    );
    let capture = Capture::start(&[c.customer_media, c.alice_media]);
    c.alice.post_ok(&c.sw, &path(&c.interaction, "resume"));
    let resumed_at = unix_seconds();
    std::thread::sleep(Duration::from_millis(1500));
    let ended_at = unix_seconds();
    let (status, _) = c.alice.post(&c.sw, &path(&c.interaction, "end"), json!({}));
    assert_eq!(status, 200);
    c.customer.expect_success();
    c.alice_phone.expect_success();
    let packets = capture.stop_timed();
    assert!(count(&packets, c.customer_media, resumed_at, ended_at) > 20);
    assert!(count(&packets, c.alice_media, resumed_at, ended_at) > 20);
}

#[test]
fn a_customer_hanging_up_during_a_consult_frees_both_agents() {
    // The customer hangs up 6 s into the call, while alice consults bob.
    let mut c = start(Setup {
        customer_hangs_up_after_ms: Some(6000),
        ..Setup::default()
    });
    // First a consult to a number: a phone that is not an agent's (1019, answering).
    let number_port = free_udp_port();
    register(&c.sw, "1019", number_port);
    let number_phone = Sipp::new("uas_answer", number_port)
        .media(port_block(4))
        .spawn(None);
    c.consult(json!({"target": {"type": "number", "id": "10-19"}}));
    c.alice
        .expect("consult.answered", |e| e["data"]["party"]["id"] == "1019");
    c.alice.post_ok(&c.sw, &path(&c.interaction, "consult/end"));
    c.alice.expect("consult.ended", |_| true);
    number_phone.expect_success(); // BYE to the number
    // Then bob; the customer hangs up while alice and bob talk.
    c.consult_bob();
    c.customer.expect_success();
    c.bob_phone.expect_success();
    c.alice_phone.expect_success();
    c.bob.wait_for_state(&c.sw, "available");
    c.alice.wait_for_state(&c.sw, "wrap_up");
    let stored = stored(&c.sw, &c.interaction);
    assert_eq!(stored["state"], "ended", "{stored}");
    expect_ports_released(&c.sw);
}

#[test]
fn a_customer_hanging_up_during_a_conference_ends_it_for_everyone() {
    let mut c = start(Setup {
        customer_hangs_up_after_ms: Some(4000),
        ..Setup::default()
    });
    c.conference_with_bob();
    assert!(c.sw.media_port_pairs() > 0, "a live conference holds ports");
    // The customer's BYE ends the interaction: both agents' phones get theirs.
    c.expect_conference_over();
}

#[test]
fn the_consulting_agent_ending_a_conference_hangs_up_everyone() {
    let mut c = start(Setup::default());
    c.conference_with_bob();
    // Bob was brought in: he may leave, but ending it for everyone is the owner's call.
    let (status, json) = c.bob.post(&c.sw, &path(&c.interaction, "end"), json!({}));
    assert_eq!(status, 409, "{json}");
    assert_eq!(c.bob.state(&c.sw), "engaged");
    c.alice.post_ok(&c.sw, &path(&c.interaction, "end"));
    // The customer and both agents' phones each get a BYE.
    c.expect_conference_over();
}

#[test]
fn the_consulting_agent_leaving_a_conference_hands_the_customer_to_the_consulted_one() {
    let mut c = start(Setup {
        tones: true,
        ..Setup::default()
    });
    let capture = PayloadCapture::start(&[c.customer_media, c.alice_media, c.bob_media]);
    c.conference_with_bob();
    std::thread::sleep(Duration::from_millis(500));
    c.alice
        .post_ok(&c.sw, &path(&c.interaction, "conference/leave"));
    // As after a warm transfer: alice's desktop hears where the customer went, bob's that
    // the interaction is now his.
    let transferred = c.alice.expect("interaction.transferred", |_| true);
    assert_eq!(transferred["data"]["target"]["id"], "bob", "{transferred}");
    let connected = c.bob.expect("interaction.connected", |_| true);
    assert_eq!(
        connected["data"]["interaction"],
        c.interaction.as_str(),
        "{connected}"
    );
    c.alice_phone.expect_success(); // alice's leg got its BYE
    c.alice.wait_for_state(&c.sw, "wrap_up");
    assert_eq!(c.bob.state(&c.sw), "engaged");
    let handed_from = unix_seconds() + 0.5;
    std::thread::sleep(Duration::from_millis(2000));
    let handed_to = unix_seconds();
    // Bob owns the call now: he ends it and wraps up.
    c.bob.post_ok(&c.sw, &path(&c.interaction, "end"));
    c.customer.expect_success();
    c.bob_phone.expect_success();
    c.bob.wait_for_state(&c.sw, "wrap_up");
    let frames = capture.stop();

    let customer = tones_heard(&frames, c.customer_media, handed_from, handed_to);
    let bob = tones_heard(&frames, c.bob_media, handed_from, handed_to);
    println!("handed over: customer {customer:.1?} bob {bob:.1?}");
    assert_hears("the customer", customer, &[2], 1);
    assert_hears("bob", bob, &[0], 1);
    expect_ports_released(&c.sw);
}

#[test]
fn the_consulted_agent_leaving_a_conference_leaves_the_customer_with_the_first() {
    let mut c = start(Setup::default());
    c.conference_with_bob();
    c.bob
        .post_ok(&c.sw, &path(&c.interaction, "conference/leave"));
    c.alice.expect("consult.ended", |_| true);
    c.bob_phone.expect_success(); // bob's leg got its BYE
    c.bob.wait_for_state(&c.sw, "available");
    assert_eq!(c.alice.state(&c.sw), "engaged");
    // Alice still has her customer: hold works, and the call ends normally after resume.
    c.alice.post_ok(&c.sw, &path(&c.interaction, "hold"));
    c.alice.post_ok(&c.sw, &path(&c.interaction, "resume"));
    c.alice.post_ok(&c.sw, &path(&c.interaction, "end"));
    c.customer.expect_success();
    c.alice_phone.expect_success();
    c.alice.wait_for_state(&c.sw, "wrap_up");
}

#[test]
fn the_consulted_phone_hanging_up_mid_consult_leaves_the_customer_held_with_the_first_agent() {
    let mut c = start(Setup {
        bob_hangs_up_after_ms: Some(1500),
        ..Setup::default()
    });
    c.consult_bob();
    // Bob's phone sends BYE: the consult is over, the customer still on hold with alice.
    c.bob_phone.expect_success();
    c.alice.expect("consult.ended", |_| true);
    c.bob.wait_for_state(&c.sw, "available");
    assert_eq!(c.alice.state(&c.sw), "engaged");
    let (status, _) = c.alice.post(&c.sw, &path(&c.interaction, "end"), json!({}));
    assert_eq!(status, 409, "the customer is held: end is refused");
    c.alice.post_ok(&c.sw, &path(&c.interaction, "resume"));
    agent_ends_the_call(&c.sw, &c.alice, &c.interaction, c.customer, c.alice_phone);
}

#[test]
fn the_consulted_phone_hanging_up_mid_conference_leaves_the_first_agent_with_the_customer() {
    let mut c = start(Setup {
        bob_hangs_up_after_ms: Some(2500),
        ..Setup::default()
    });
    c.conference_with_bob();
    c.bob_phone.expect_success();
    let ended = c.alice.expect("consult.ended", |_| true);
    assert_eq!(ended["data"]["conference"], true, "{ended}");
    c.bob.wait_for_state(&c.sw, "available");
    assert_eq!(c.alice.state(&c.sw), "engaged");
    agent_ends_the_call(&c.sw, &c.alice, &c.interaction, c.customer, c.alice_phone);
}

/// Asterisk's and FreeSWITCH's attended-transfer habit: the consulting agent hanging up the
/// phone while the consulted agent is on the line completes the transfer.
#[test]
fn the_first_agents_phone_hanging_up_mid_consult_hands_the_customer_to_the_consulted_agent() {
    let mut c = start(Setup {
        alice_hangs_up_after_ms: Some(4000),
        ..Setup::default()
    });
    c.consult_bob();
    c.alice_phone.expect_success(); // alice's phone sent its BYE, and got 200
    let transferred = c.alice.expect("interaction.transferred", |_| true);
    assert_eq!(transferred["data"]["target"]["id"], "bob", "{transferred}");
    assert_eq!(transferred["data"]["warm"], true, "{transferred}");
    c.bob.expect("interaction.connected", |_| true);
    c.alice.wait_for_state(&c.sw, "wrap_up");
    assert_eq!(c.bob.state(&c.sw), "engaged");
    agent_ends_the_call(&c.sw, &c.bob, &c.interaction, c.customer, c.bob_phone);
}

/// Webex refuses pausing the recording during a consult or conference; here that is the
/// default of an org setting the admin may turn off.
#[test]
fn recording_pause_is_refused_during_a_consult_unless_the_admin_allows_it() {
    let mut c = start(Setup::default());
    let pause = path(&c.interaction, "recording/pause");
    let resume = path(&c.interaction, "recording/resume");
    c.consult_bob();
    let (status, json) = c.alice.post(&c.sw, &pause, json!({"behavior": "silence"}));
    assert_eq!(status, 409, "{json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("recording_pause_during_consult"), "{json}");
    let admin = c.sw.cti_token().to_owned();
    ok(
        &c.sw,
        "PUT",
        "/api/v1/settings",
        &admin,
        json!({"recording_pause_during_consult": true}),
    );
    c.alice
        .post_body_ok(&c.sw, &pause, json!({"behavior": "silence"}));
    c.alice.expect("recording.paused", |_| true);
    c.alice.post_ok(&c.sw, &resume);
    c.alice.expect("recording.resumed", |_| true);
    // Done: end the consult, take the customer back and hang up.
    for step in ["consult/end", "resume", "end"] {
        c.alice.post_ok(&c.sw, &path(&c.interaction, step));
    }
    c.customer.expect_success();
    c.alice_phone.expect_success();
    c.bob_phone.expect_success();
}

/// The first agent's phone hangs up while bob's still rings: the customer stays on music and
/// bob answering completes the transfer (Asterisk's and FreeSWITCH's attended transfer).
#[test]
fn the_first_agents_phone_hanging_up_while_the_consult_rings_transfers_on_answer() {
    // Alice's phone hangs up 2.5 s after answering: after the consult is asked for, before
    // bob's phone answers it (it rings 5 s), with room for a slow machine on both sides.
    let mut c = start(Setup {
        alice_hangs_up_after_ms: Some(2500),
        bob_scenario: Some("uas_ring_then_answer"),
        ..Setup::default()
    });
    c.consult(json!({"target": {"type": "agent", "id": "bob"}}));
    c.alice_phone.expect_success(); // alice's BYE got its 200 while bob rang
    assert_eq!(c.bob.state(&c.sw), "reserved", "bob's phone still rings");
    let stored = stored(&c.sw, &c.interaction);
    assert_ne!(stored["state"], "ended", "the customer was kept: {stored}");
    c.bob.expect("consult.answered", |_| true);
    let transferred = c.alice.expect("interaction.transferred", |_| true);
    assert_eq!(transferred["data"]["target"]["id"], "bob", "{transferred}");
    c.bob.expect("interaction.connected", |_| true);
    c.alice.wait_for_state(&c.sw, "wrap_up");
    assert_eq!(c.bob.state(&c.sw), "engaged");
    agent_ends_the_call(&c.sw, &c.bob, &c.interaction, c.customer, c.bob_phone);
}

/// ... and when bob never answers, the customer goes back to the queue, not to nobody.
#[test]
fn the_first_agents_phone_hanging_up_before_a_failed_consult_requeues_the_customer() {
    let mut c = start(Setup {
        ring_timeout_secs: Some(5),
        alice_hangs_up_after_ms: Some(2500),
        bob_scenario: Some("uas_ring_until_cancel"),
        ..Setup::default()
    });
    c.consult(json!({"target": {"type": "agent", "id": "bob"}}));
    c.alice_phone.expect_success();
    let failed = c.alice.expect("consult.failed", |_| true);
    assert_eq!(failed["data"]["agent_left"], true, "{failed}");
    c.bob_phone.expect_success(); // bob's ring was CANCELled
    let transferred = c.alice.expect("interaction.transferred", |_| true);
    assert_eq!(
        transferred["data"]["target"]["type"], "queue",
        "{transferred}"
    );
    c.alice.wait_for_state(&c.sw, "wrap_up");
    wait_until("the customer waits in the queue again", || {
        let stored = stored(&c.sw, &c.interaction);
        matches!(stored["state"].as_str(), Some("queued" | "offered"))
    });
}
