//! Trunks against SIPp playing the carrier on loopback: outbound calls through its gateways
//! (failover from a gateway answering 503 to one that answers, audio checked both ways) and
//! the toll-fraud refusals as a phone sees them. The rules themselves (classes, prefixes,
//! channel limits, silent gateways, carrier challenges) are proven in virtual time in
//! `src/call/trunk_call_tests.rs`.
// Test harnesses are the IO side: they read the clock to bound waits.
#![allow(clippy::disallowed_methods)]

/// Calls the switch places for agents and customers: click-to-dial, web and courtesy
/// callbacks.
#[path = "trunks/calls_out.rs"]
mod calls_out;
mod common;
/// Gateways over TCP and TLS, and a trunk's codecs.
#[path = "trunks/gateway_transports.rs"]
mod gateway_transports;
#[path = "common/test_ca.rs"]
mod test_ca;

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

/// Extension 1000 dialling a national number as people type it (without separators: it is
/// a SIP user), streaming from `media`, hanging up after `talk_ms`.
fn national_call(media: u16, talk_ms: u32) -> Sipp {
    Sipp::new("uac_call", free_udp_port())
        .arg("-s")
        .arg("0123456789")
        .auth("1000")
        .media(media)
        .arg("-d")
        .arg(&talk_ms.to_string())
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
    national_call(caller_media, 3000).run(sw.sip);
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
    // The nameserver's thread records the question on its own time: wait for it.
    wait_until("the switch asked the nameserver", || {
        !dns.asked().is_empty()
    });
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
