//! Who may call a queue number, and what of its INVITE is believed (see `trunks`).

use super::dial_plan::DialPlan;
use super::lab::{DOMAIN, Lab, answer_challenge, phone, sdp};
use super::model::QueueEvent;
use super::trunks::InboundTrunk;
use crate::sip::message::{Message, Method};
use std::collections::HashMap;
use std::net::SocketAddr;

/// A lab whose 7000 reaches queue `sales`, with `trunks` instead of the lab's loopback one.
pub(super) fn lab_with(trunks: Vec<InboundTrunk>) -> Lab {
    let mut lab = Lab::new();
    lab.sw.cfg.trunks = trunks;
    lab.sw.set_dial_plan(DialPlan {
        queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
        ..DialPlan::default()
    });
    lab
}

pub(super) fn carrier(trusted: bool) -> InboundTrunk {
    InboundTrunk {
        name: "carrier".into(),
        sources: vec!["192.0.2.0/24".parse().unwrap()],
        trusted,
        max_channels: 0,
        ..Default::default()
    }
}

/// A customer's INVITE to 7000 from `from`, with caller number +33123456789, a CAD
/// variable and `Priority: emergency`.
pub(super) fn queue_invite(from: SocketAddr, cseq: u32, auth: Option<String>) -> Message {
    let mut m = Message::request(Method::Invite, format!("sip:7000@{DOMAIN}"))
        .with("Via", format!("SIP/2.0/UDP {from};branch=z9hG4bKq{cseq}"))
        .with("Max-Forwards", "70")
        .with("From", "<sip:+33123456789@carrier.example>;tag=ft")
        .with("To", format!("<sip:7000@{DOMAIN}>"))
        .with("Call-ID", format!("queue-{from}"))
        .with("CSeq", format!("{cseq} INVITE"))
        .with("Contact", format!("<sip:c@{from}>"))
        .with("X-Cad-Account", "4242")
        .with("Priority", "emergency");
    if let Some(auth) = auth {
        m.push("Proxy-Authorization", auth);
    }
    m.set_body("application/sdp", bytes::Bytes::from(sdp(30_000)));
    m
}

/// The arrival the contact center was told of: (ani, number of CAD variables, priority).
pub(super) fn arrival(lab: &Lab) -> (String, usize, u8) {
    let arrived = lab.queue_events.iter().find_map(|e| match e {
        QueueEvent::Arrived {
            ani, cad, priority, ..
        } => Some((ani.clone(), cad.len(), *priority)),
        _ => None,
    });
    arrived.expect("the call reached the queue")
}

#[test]
fn a_trusted_trunks_caller_number_cad_and_priority_reach_the_queue() {
    let mut lab = lab_with(vec![carrier(true)]);
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    lab.send(gateway, &queue_invite(gateway, 1, None));
    lab.take(gateway, "200");
    assert_eq!(arrival(&lab), ("+33123456789".into(), 1, 9));
}

#[test]
fn an_untrusted_trunks_caller_number_cad_and_priority_are_stripped() {
    let mut lab = lab_with(vec![carrier(false)]);
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    lab.send(gateway, &queue_invite(gateway, 1, None));
    lab.take(gateway, "200");
    assert_eq!(arrival(&lab), ("anonymous".into(), 0, 0));
}

#[test]
fn an_address_that_is_neither_a_trunk_nor_a_device_is_refused_403_without_a_challenge() {
    let mut lab = lab_with(vec![carrier(true)]);
    let stranger: SocketAddr = "203.0.113.9:5060".parse().unwrap();
    lab.send(stranger, &queue_invite(stranger, 1, None));
    let refused = lab.take(stranger, "403");
    assert!(refused.header("Proxy-Authenticate").is_none());
    // Not for an extension either.
    let mut to_extension = queue_invite(stranger, 2, None);
    to_extension.set_request_uri(format!("sip:1001@{DOMAIN}"));
    lab.send(stranger, &to_extension);
    lab.take(stranger, "403");
    assert!(lab.queue_events.is_empty());
    assert!(lab.media.is_empty(), "no port is opened for it");
}

#[test]
fn a_registered_extension_calls_the_queue_as_itself_without_cad_or_priority() {
    let mut lab = lab_with(Vec::new());
    lab.register("1001");
    let desk = phone("1001");
    lab.send(desk, &queue_invite(desk, 1, None));
    let challenge = lab.take(desk, "407");
    let credentials = answer_challenge(&challenge, "1001", "7000");
    lab.send(desk, &queue_invite(desk, 2, Some(credentials.to_string())));
    lab.take(desk, "200");
    assert_eq!(arrival(&lab), ("1001".into(), 0, 0));
}

#[test]
fn a_trunk_at_its_channel_limit_gets_503_naming_the_limit() {
    let mut trunk = carrier(true);
    trunk.max_channels = 1;
    let mut lab = lab_with(vec![trunk]);
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    lab.send(gateway, &queue_invite(gateway, 1, None));
    lab.take(gateway, "200");
    let other: SocketAddr = "192.0.2.11:5060".parse().unwrap();
    lab.send(other, &queue_invite(other, 1, None));
    let full = lab.take(other, "503");
    assert_eq!(
        full.header("Reason"),
        Some("SIP;cause=503;text=\"trunk_channels\"")
    );
    assert_eq!(lab.sw.trunk_channels.in_use("carrier"), 1);
    assert_eq!(
        lab.cdrs.last().and_then(|c| c.refused_by.as_deref()),
        Some("trunk_channels")
    );
}

/// The lab of [`lab_with`] with a trusted carrier whose DIDs +33123450000 and +33123450001
/// reach queue 7000 and extension 1001, and +33123450009 nothing.
fn lab_with_dids() -> Lab {
    let mut lab = lab_with(vec![carrier(true)]);
    for (did, to) in [
        ("+33123450000", "7000"),
        ("+33123450001", "1001"),
        ("+33123450009", "4444"),
    ] {
        lab.sw.cfg.dialing.dids.insert(did.into(), to.into());
    }
    lab.register("1001");
    lab
}

/// `queue_invite`, sent to `number` instead.
fn did_invite(from: SocketAddr, number: &str) -> Message {
    let mut invite = queue_invite(from, 1, None);
    invite.set_request_uri(format!("sip:{number}@{DOMAIN}"));
    invite
}

#[test]
fn a_trunks_did_reaches_its_queue_without_a_challenge_in_any_usual_form() {
    let mut lab = lab_with_dids();
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    // The national form of +33123450000.
    lab.send(gateway, &did_invite(gateway, "0123450000"));
    lab.take(gateway, "200");
    assert_eq!(arrival(&lab), ("+33123456789".into(), 1, 9));
}

#[test]
fn a_trunks_did_rings_its_extension_as_the_caller_number_without_a_challenge() {
    let mut lab = lab_with_dids();
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    lab.send(gateway, &did_invite(gateway, "+33123450001"));
    let ringing = lab.take(phone("1001"), "INVITE");
    assert!(
        ringing
            .header("From")
            .unwrap()
            .contains("sip:+33123456789@"),
        "{:?}",
        ringing.header("From")
    );
    assert!(
        ringing.header("X-Cad-Account").is_none(),
        "CAD is for queues"
    );
}

#[test]
fn a_trunk_calling_a_number_that_is_no_did_is_challenged_and_a_did_to_nowhere_is_404() {
    let mut lab = lab_with_dids();
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    lab.send(gateway, &did_invite(gateway, "1001"));
    lab.take(gateway, "407");
    let other: SocketAddr = "192.0.2.11:5060".parse().unwrap();
    lab.send(other, &did_invite(other, "+33123450009"));
    lab.take(other, "404");
}

#[test]
fn a_call_a_carrier_sends_to_our_registered_contact_is_routed_by_the_number_in_to() {
    let mut lab = lab_with_dids();
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    let mut invite = did_invite(gateway, "switchboard");
    invite.set("To", "<sip:+33123450000@carrier.example>");
    lab.send(gateway, &invite);
    lab.take(gateway, "200");
    assert_eq!(arrival(&lab).0, "+33123456789");
}

#[test]
fn a_trusted_trunks_asserted_identity_wins_over_from_and_numbers_arrive_in_e164() {
    let mut lab = lab_with(vec![carrier(true)]);
    let gateway: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    let mut invite = queue_invite(gateway, 1, None);
    invite.set("From", "\"Withheld\" <sip:0000@carrier.example>;tag=ft");
    invite.push("P-Asserted-Identity", "<sip:0612345678@carrier.example>");
    lab.send(gateway, &invite);
    lab.take(gateway, "200");
    assert_eq!(arrival(&lab).0, "+33612345678");
}
