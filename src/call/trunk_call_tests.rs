//! Calls to external numbers through trunk gateways, in virtual time (see `trunk_calls`).

use super::dial_plan::DialPlan;
use super::lab::{Lab, config, in_dialog, phone, queue_call_invite};
use super::model::{InteractionId, Party, QueueCommand, QueueEvent};
use super::trunks::{InboundTrunk, OutboundTrunk, TrunkCodec, TrunkCredentials};
use crate::dialing::{CallingClass, E164, OutboundPlan, OutboundRoute};
use crate::ids::AgentId;
use crate::sip::digest::{Algorithm, Credentials, compute_response};
use crate::sip::message::Message;
use crate::sip::transport::Transport;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

const GW_A1: &str = "192.0.2.10:5060";
const GW_A2: &str = "192.0.2.11:5060";
const GW_B: &str = "198.51.100.7:5080";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn trunk(name: &str, gateways: &[&str], max_channels: u32) -> OutboundTrunk {
    OutboundTrunk {
        name: name.into(),
        gateways: gateways.iter().map(|g| addr(g)).collect(),
        max_channels,
        caller_id: Some(E164::parse("+33900000001").unwrap()),
        credentials: None,
        register: None,
        ..Default::default()
    }
}

/// A lab where every number goes out through `primary` (two gateways) then `backup`; 1001
/// is national (the default), 1002 international, 1003 internal.
fn lab_with(primary: OutboundTrunk, backup: OutboundTrunk) -> Lab {
    let mut cfg = config(11);
    cfg.dialing.routes = OutboundPlan::new(vec![OutboundRoute {
        prefix: "+".into(),
        trunks: vec![primary.name.clone(), backup.name.clone()],
    }])
    .unwrap();
    cfg.dialing
        .classes
        .insert("1002".into(), CallingClass::International);
    cfg.dialing
        .classes
        .insert("1003".into(), CallingClass::Internal);
    cfg.outbound_trunks = vec![primary, backup];
    let mut lab = Lab::with_config(cfg);
    for user in ["1001", "1002", "1003"] {
        lab.register(user);
    }
    lab
}

fn default_lab() -> Lab {
    lab_with(
        trunk("primary", &[GW_A1, GW_A2], 0),
        trunk("backup", &[GW_B], 0),
    )
}

/// The gateway at `gw` answers `invite` 200, and the switch acknowledges.
fn answer(lab: &mut Lab, invite: &Message, gw: SocketAddr) {
    lab.reply(invite, 100, gw);
    lab.reply(invite, 180, gw);
    lab.reply(invite, 200, gw);
    lab.take(gw, "ACK");
}

#[test]
fn a_national_number_goes_out_in_e164_with_the_trunks_caller_id_and_connects() {
    let mut lab = default_lab();
    lab.dial("1001", "0123456789");
    let invite = lab.take(addr(GW_A1), "INVITE");
    assert_eq!(
        invite.request_uri(),
        Some("sip:+33123456789@192.0.2.10:5060")
    );
    assert!(
        invite
            .header("To")
            .unwrap()
            .contains("sip:+33123456789@192.0.2.10:5060")
    );
    assert!(
        invite.header("From").unwrap().contains("sip:+33900000001@"),
        "the trunk's number, not the extension: {:?}",
        invite.header("From")
    );
    assert!(
        invite
            .header("P-Asserted-Identity")
            .is_some_and(|p| p.contains("+33900000001"))
    );
    assert!(
        !invite.body().is_empty(),
        "the switch offers its own media endpoint"
    );
    answer(&mut lab, &invite, addr(GW_A1));
    let ok = lab.take(phone("1001"), "200");
    let ack = in_dialog(&ok, "ACK", 2, phone("1001"), true, "");
    lab.send_text(phone("1001"), &ack);
    assert!(
        lab.take_all(addr(GW_A2)).is_empty(),
        "one gateway at a time"
    );
    let bye = in_dialog(&ok, "BYE", 3, phone("1001"), true, "");
    lab.send_text(phone("1001"), &bye);
    lab.take(addr(GW_A1), "BYE");
    assert_eq!(lab.cdrs.len(), 1);
    assert_eq!(lab.cdrs[0].callee, "+33123456789");
    assert_eq!(
        lab.sw.trunk_channels.in_use("primary"),
        0,
        "the channel is back"
    );
}

#[test]
fn a_gateway_answering_503_hands_the_call_to_the_next_then_the_next_trunk() {
    let mut lab = default_lab();
    lab.dial("1001", "+33123456789");
    let first = lab.take(addr(GW_A1), "INVITE");
    lab.reply(&first, 503, addr(GW_A1));
    lab.take(addr(GW_A1), "ACK");
    let second = lab.take(addr(GW_A2), "INVITE");
    lab.reply(&second, 500, addr(GW_A2));
    let third = lab.take(addr(GW_B), "INVITE");
    assert_eq!(
        third.request_uri(),
        Some("sip:+33123456789@198.51.100.7:5080")
    );
    assert_eq!(lab.sw.trunk_channels.in_use("primary"), 0);
    assert_eq!(lab.sw.trunk_channels.in_use("backup"), 1);
    answer(&mut lab, &third, addr(GW_B));
    lab.take(phone("1001"), "200");
}

#[test]
fn a_silent_gateway_is_given_up_after_eight_t1_and_the_next_one_tried() {
    let mut lab = default_lab();
    lab.dial("1001", "+33123456789");
    let first = lab.take(addr(GW_A1), "INVITE");
    lab.advance(Duration::from_millis(3_900));
    assert!(
        lab.try_take(addr(GW_A2), "INVITE").is_none(),
        "still waiting"
    );
    lab.advance(Duration::from_millis(200));
    let second = lab.take(addr(GW_A2), "INVITE");
    // The first gateway wakes up late: its ringing is cancelled.
    lab.reply(&first, 180, addr(GW_A1));
    lab.take(addr(GW_A1), "CANCEL");
    answer(&mut lab, &second, addr(GW_A2));
    lab.take(phone("1001"), "200");
}

#[test]
fn a_busy_callee_ends_the_call_without_trying_another_gateway() {
    let mut lab = default_lab();
    lab.dial("1001", "+33123456789");
    let first = lab.take(addr(GW_A1), "INVITE");
    lab.reply(&first, 486, addr(GW_A1));
    lab.take(phone("1001"), "486");
    assert!(lab.take_all(addr(GW_A2)).is_empty());
    assert!(lab.take_all(addr(GW_B)).is_empty());
    assert_eq!(lab.sw.trunk_channels.in_use("primary"), 0);
}

#[test]
fn a_carriers_challenge_is_answered_with_the_trunks_credentials() {
    let mut primary = trunk("primary", &[GW_A1], 0);
    primary.credentials = Some(TrunkCredentials {
        username: "acme".into(),
        password: "carrier-secret".into(),
    });
    let mut lab = lab_with(primary, trunk("backup", &[GW_B], 0));
    lab.dial("1001", "+33123456789");
    let first = lab.take(addr(GW_A1), "INVITE");
    let mut challenge = Message::response_to(&first, 407, "Proxy Authentication Required");
    challenge.set("To", format!("{};tag=gw", first.header("To").unwrap()));
    challenge.push(
        "Proxy-Authenticate",
        "Digest realm=\"carrier\", nonce=\"n0nce\", qop=\"auth\", algorithm=MD5",
    );
    lab.send(addr(GW_A1), &challenge);
    lab.take(addr(GW_A1), "ACK");
    let again = lab.take(addr(GW_A1), "INVITE");
    assert_eq!(
        again.call_id(),
        first.call_id(),
        "the same call, asked again"
    );
    assert_eq!(again.cseq().unwrap().seq, first.cseq().unwrap().seq + 1);
    let credentials =
        Credentials::parse(again.header("Proxy-Authorization").expect("credentials")).unwrap();
    assert_eq!(credentials.username, "acme");
    let ha1 = Algorithm::Md5.ha1("acme", "carrier", "carrier-secret");
    let expected = compute_response(
        Algorithm::Md5,
        &ha1,
        "n0nce",
        "INVITE",
        again.request_uri().unwrap(),
        credentials.qop.as_ref(),
    );
    assert_eq!(credentials.response, expected);
    // A second challenge means the credentials are wrong: the next trunk is tried.
    let mut refused = Message::response_to(&again, 407, "Proxy Authentication Required");
    refused.set("To", format!("{};tag=gw", again.header("To").unwrap()));
    refused.push(
        "Proxy-Authenticate",
        "Digest realm=\"carrier\", nonce=\"other\", algorithm=MD5",
    );
    lab.send(addr(GW_A1), &refused);
    let backup = lab.take(addr(GW_B), "INVITE");
    lab.reply(&backup, 503, addr(GW_B));
    lab.take(phone("1001"), "503");
}

/// Refused before any port is taken or any gateway hears of the call, with an RFC 3326
/// `Reason` naming the rule.
fn assert_refused(lab: &mut Lab, caller: &str, number: &str, code: &str, reason: &str) {
    let calls = lab.sw.holdings().calls;
    lab.dial(caller, number);
    let refusal = lab.take(phone(caller), code);
    assert_eq!(
        refusal.header("Reason"),
        Some(format!("SIP;cause={code};text=\"{reason}\"").as_str()),
        "{caller} dialling {number}"
    );
    for gw in [GW_A1, GW_A2, GW_B] {
        assert!(lab.take_all(addr(gw)).is_empty(), "{gw} heard of {number}");
    }
    assert_eq!(lab.sw.holdings().calls, calls, "no call was set up");
}

#[test]
fn toll_fraud_controls_refuse_with_their_reason_and_send_nothing() {
    let mut lab = default_lab();
    assert_refused(
        &mut lab,
        "1001",
        "+442079460958",
        "403",
        "calling_class_national",
    );
    assert_refused(
        &mut lab,
        "1003",
        "0123456789",
        "403",
        "calling_class_internal",
    );
    assert_refused(&mut lab, "1002", "+881234567890", "403", "blocked_prefix");
    assert_refused(&mut lab, "1002", "0800FLOWERS", "484", "number_characters");
    assert_refused(&mut lab, "1002", "0123", "484", "number_format");
    // The international extension may dial London.
    lab.dial("1002", "+442079460958");
    lab.take(addr(GW_A1), "INVITE");
}

#[test]
fn a_trunk_at_its_channel_limit_is_skipped_and_a_full_route_refused() {
    let mut lab = lab_with(trunk("primary", &[GW_A1], 1), trunk("backup", &[GW_B], 1));
    lab.dial("1001", "+33123456789");
    lab.take(addr(GW_A1), "INVITE");
    lab.dial("1002", "+33123456780");
    let second = lab.take(addr(GW_B), "INVITE");
    assert_eq!(
        second.request_uri(),
        Some("sip:+33123456780@198.51.100.7:5080")
    );
    assert_refused(&mut lab, "1002", "+33123456781", "503", "trunk_channels");
}

#[test]
fn the_orgs_outbound_limit_counts_every_trunk_and_frees_with_the_call() {
    let mut lab = lab_with(trunk("primary", &[GW_A1], 0), trunk("backup", &[GW_B], 0));
    lab.sw.set_org_outbound_limit(1);
    lab.dial("1001", "+33123456789");
    let first = lab.take(addr(GW_A1), "INVITE");
    assert_refused(
        &mut lab,
        "1002",
        "+33123456781",
        "503",
        "org_outbound_calls",
    );
    // The first call fails at its gateway: the org's slot is free again.
    lab.reply(&first, 486, addr(GW_A1));
    lab.dial("1002", "+33123456782");
    lab.take(addr(GW_A1), "INVITE");
}

#[test]
fn a_name_that_is_no_extension_is_still_not_found() {
    let mut lab = default_lab();
    lab.dial("1001", "alice");
    lab.take(phone("1001"), "404");
}

/// A customer's call from a trusted carrier at 192.0.2.20 to queue 7000, offered to agent
/// 1001 (the desk phone at `phone("1001")`), who answers: the interaction, and the INVITE
/// the agent's phone got.
fn connected_queue_call(lab: &mut Lab) -> (InteractionId, Message) {
    lab.sw.cfg.trunks.push(InboundTrunk {
        name: "customers".into(),
        sources: vec!["192.0.2.20".parse().unwrap()],
        trusted: true,
        max_channels: 0,
        ..Default::default()
    });
    lab.sw.set_dial_plan(DialPlan {
        queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
        ..DialPlan::default()
    });
    let customer = addr(CUSTOMER);
    let invite = queue_call_invite(customer, "+33612345678", "customer-call", 31_000);
    lab.send(customer, &invite);
    lab.take(customer, "200");
    let interaction = lab.arrived();
    let offer = QueueCommand::Offer {
        interaction: interaction.clone(),
        party: Party::Agent(AgentId("alice".into())),
        extension: "1001".into(),
    };
    lab.queue_command(offer);
    let to_agent = lab.take(phone("1001"), "INVITE");
    lab.reply(&to_agent, 200, phone("1001"));
    lab.take(phone("1001"), "ACK");
    (interaction, to_agent)
}

const CUSTOMER: &str = "192.0.2.20:5060";

#[test]
fn an_agents_consult_of_a_number_goes_out_through_the_trunk_and_fails_over() {
    let mut lab = default_lab();
    let (interaction, _) = connected_queue_call(&mut lab);
    let consult = QueueCommand::Consult {
        interaction: interaction.clone(),
        party: Party::Number("+33123456789".into()),
        extension: "+33123456789".into(),
        ring_timeout: Duration::from_secs(30),
    };
    lab.queue_command(consult);
    let first = lab.take(addr(GW_A1), "INVITE");
    lab.reply(&first, 503, addr(GW_A1));
    let second = lab.take(addr(GW_A2), "INVITE");
    assert!(
        second.header("From").unwrap().contains("+33900000001"),
        "the trunk's caller ID"
    );
    answer(&mut lab, &second, addr(GW_A2));
    assert!(
        lab.queue_events
            .iter()
            .any(|e| matches!(e, QueueEvent::ConsultAnswered { .. })),
        "{:?}",
        lab.queue_events
    );
    assert_eq!(lab.sw.trunk_channels.in_use("primary"), 1);
}

#[test]
fn a_national_agents_consult_abroad_fails_and_sends_nothing() {
    let mut lab = default_lab();
    let (interaction, _) = connected_queue_call(&mut lab);
    let consult = QueueCommand::Consult {
        interaction,
        party: Party::Number("+442079460958".into()),
        extension: "+442079460958".into(),
        ring_timeout: Duration::from_secs(30),
    };
    lab.queue_command(consult);
    assert!(
        lab.queue_events
            .iter()
            .any(|e| matches!(e, QueueEvent::ConsultFailed { .. }))
    );
    assert!(lab.take_all(addr(GW_A1)).is_empty());
}

#[test]
fn a_blind_transfer_to_a_number_rings_it_through_the_trunk_and_connects_the_customer() {
    let mut lab = default_lab();
    let (interaction, _) = connected_queue_call(&mut lab);
    lab.queue_command(QueueCommand::ReleaseAgent {
        interaction: interaction.clone(),
    });
    lab.take(phone("1001"), "BYE");
    let number = Party::Transfer("+33123456789".into());
    lab.queue_command(QueueCommand::Offer {
        interaction,
        party: number.clone(),
        extension: "+33123456789".into(),
    });
    lab.take(addr(GW_A1), "INVITE");
    // The first gateway stays silent: the second one takes it.
    lab.advance(Duration::from_secs(5));
    let second = lab.take(addr(GW_A2), "INVITE");
    assert_eq!(
        second.request_uri(),
        Some("sip:+33123456789@192.0.2.11:5060")
    );
    answer(&mut lab, &second, addr(GW_A2));
    assert!(
        lab.queue_events
            .iter()
            .any(|e| matches!(e, QueueEvent::OfferAnswered { party, .. } if *party == number)),
        "{:?}",
        lab.queue_events
    );
}

#[test]
fn a_phones_blind_transfer_to_a_number_goes_out_through_the_trunk() {
    let mut lab = default_lab();
    let (to_callee, _) = lab.call("1001", "1002");
    let refer = in_dialog(
        &to_callee,
        "REFER",
        2,
        phone("1002"),
        false,
        "Refer-To: <sip:+33123456789@switchboard.local>\nReferred-By: <sip:1002@switchboard.local>\n",
    );
    lab.send_text(phone("1002"), &refer);
    lab.take(phone("1002"), "202");
    let out = lab.take(addr(GW_A1), "INVITE");
    assert_eq!(out.request_uri(), Some("sip:+33123456789@192.0.2.10:5060"));
    answer(&mut lab, &out, addr(GW_A1));
    // The transferee (1001) now talks to the number; the referrer is hung up.
    lab.take(phone("1002"), "BYE");
    assert!(lab.take_all(phone("1001")).iter().all(|m| m != "BYE"));
}

#[test]
fn a_class_given_while_running_applies_to_the_next_call() {
    let mut lab = default_lab();
    assert_refused(
        &mut lab,
        "1001",
        "+442079460958",
        "403",
        "calling_class_national",
    );
    lab.sw
        .set_calling_class("1001", Some(CallingClass::International));
    lab.dial("1001", "+442079460959");
    lab.take(addr(GW_A1), "INVITE");
    lab.sw.set_calling_class("1001", None);
    assert_refused(
        &mut lab,
        "1001",
        "+442079460950",
        "403",
        "calling_class_national",
    );
}

/// What an SDP body offers: the `m=audio` line's payload types.
fn offered_payloads(message: &Message) -> String {
    let body = String::from_utf8_lossy(message.body()).into_owned();
    let m = body
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .expect("an audio offer");
    m.split_whitespace().skip(3).collect::<Vec<_>>().join(" ")
}

#[test]
fn a_tcp_trunk_is_dialled_over_tcp_with_its_own_codecs_and_failover_offers_the_next_trunks() {
    let primary = OutboundTrunk {
        transport: Transport::Tcp,
        codecs: vec![TrunkCodec::Pcma],
        ..trunk("primary", &[GW_A1], 0)
    };
    let mut lab = lab_with(primary, trunk("backup", &[GW_B], 0));
    lab.dial("1001", "+33123456789");
    let invite = lab.take(addr(GW_A1), "INVITE");
    assert_eq!(lab.sent_over[&addr(GW_A1)], Transport::Tcp);
    assert_eq!(
        invite.request_uri(),
        Some("sip:+33123456789@192.0.2.10:5060;transport=tcp")
    );
    assert!(invite.header("Via").unwrap().starts_with("SIP/2.0/TCP "));
    assert!(invite.header("Contact").unwrap().contains(";transport=tcp"));
    assert_eq!(offered_payloads(&invite), "8", "PCMA alone, no events");
    // The TCP gateway is unavailable: the UDP backup is offered its own codecs.
    lab.reply(&invite, 503, addr(GW_A1));
    let next = lab.take(addr(GW_B), "INVITE");
    assert_eq!(lab.sent_over[&addr(GW_B)], Transport::Udp);
    assert_eq!(
        next.request_uri(),
        Some("sip:+33123456789@198.51.100.7:5080")
    );
    assert_eq!(offered_payloads(&next), "0 8 101");
}

#[test]
fn a_trunks_codecs_answer_its_inbound_calls_and_an_offer_without_them_gets_488() {
    let mut lab = default_lab();
    lab.sw.cfg.trunks.push(InboundTrunk {
        name: "alaw-carrier".into(),
        sources: vec!["192.0.2.20".parse().unwrap()],
        trusted: true,
        codecs: vec![TrunkCodec::Pcma],
        ..Default::default()
    });
    lab.sw.set_dial_plan(DialPlan {
        queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
        ..DialPlan::default()
    });
    let customer = addr(CUSTOMER);
    // Offered both laws, µ-law first: the trunk carries A-law only, so A-law is answered.
    let mut invite = queue_call_invite(customer, "+33612345678", "both-laws", 31_000);
    let both = String::from_utf8_lossy(invite.body())
        .replace("RTP/AVP 0\r\n", "RTP/AVP 0 8\r\n")
        .replace(
            "a=rtpmap:0 PCMU/8000\r\n",
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n",
        );
    assert!(both.contains("RTP/AVP 0 8"), "{both}");
    invite.set_body("application/sdp", bytes::Bytes::from(both));
    lab.send(customer, &invite);
    let ok = lab.take(customer, "200");
    assert_eq!(offered_payloads(&ok), "8");

    // Nor can it answer a µ-law offer.
    let mut invite = queue_call_invite(customer, "+33612345678", "ulaw-only", 31_002);
    invite.set("Via", format!("SIP/2.0/UDP {customer};branch=z9hG4bKulaw"));
    lab.send(customer, &invite);
    lab.take(customer, "488");
}

#[test]
fn a_did_forwarded_to_a_number_goes_out_through_the_outbound_route_and_connects() {
    let mut lab = default_lab();
    lab.sw.cfg.trunks.push(InboundTrunk {
        name: "customers".into(),
        sources: vec!["192.0.2.20".parse().unwrap()],
        trusted: true,
        ..Default::default()
    });
    // The admin forwards one DID abroad: a caller of class national could not dial it,
    // the forward may; a premium number stays blocked whoever sets it.
    let dids = &mut lab.sw.cfg.dialing.dids;
    dids.insert("+33123450001".into(), "+442079460958".into());
    dids.insert("+33123450002".into(), "+88212345678".into());
    let customer = addr(CUSTOMER);
    let mut invite = queue_call_invite(customer, "+33612345678", "forwarded", 31_000);
    invite.set_request_uri("sip:0123450001@switchboard.local".to_owned());
    lab.send(customer, &invite);
    let out = lab.take(addr(GW_A1), "INVITE");
    assert_eq!(out.request_uri(), Some("sip:+442079460958@192.0.2.10:5060"));
    answer(&mut lab, &out, addr(GW_A1));
    lab.take(customer, "200");
    assert_eq!(lab.sw.trunk_channels.in_use("customers"), 1);
    assert_eq!(lab.sw.trunk_channels.in_use("primary"), 1);

    let mut premium = queue_call_invite(customer, "+33612345678", "premium", 31_002);
    premium.set_request_uri("sip:+33123450002@switchboard.local".to_owned());
    premium.set(
        "Via",
        format!("SIP/2.0/UDP {customer};branch=z9hG4bKpremium"),
    );
    lab.send(customer, &premium);
    lab.take(customer, "403");
    assert!(lab.take_all(addr(GW_A2)).is_empty());
}
