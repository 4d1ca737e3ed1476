//! Who may call a queue number, and what of its INVITE is believed (see `trunks`).

use super::dial_plan::DialPlan;
use super::lab::{DOMAIN, Lab, answer_challenge, phone, sdp};
use super::model::QueueEvent;
use super::trunks::InboundTrunk;
use crate::sip::message::{Message, Method};
use std::collections::HashMap;
use std::net::SocketAddr;

/// A lab whose 7000 reaches queue `sales`, with `trunks` instead of the lab's loopback one.
fn lab_with(trunks: Vec<InboundTrunk>) -> Lab {
    let mut lab = Lab::new();
    lab.sw.cfg.trunks = trunks;
    lab.sw.set_dial_plan(DialPlan {
        queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
        ..DialPlan::default()
    });
    lab
}

fn carrier(trusted: bool) -> InboundTrunk {
    InboundTrunk {
        name: "carrier".into(),
        sources: vec!["192.0.2.0/24".parse().unwrap()],
        trusted,
        max_channels: 0,
    }
}

/// A customer's INVITE to 7000 from `from`, with caller number +33123456789, a CAD
/// variable and `Priority: emergency`.
fn queue_invite(from: SocketAddr, cseq: u32, auth: Option<String>) -> Message {
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
fn arrival(lab: &Lab) -> (String, usize, u8) {
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
fn an_address_that_is_no_trunk_is_challenged_and_never_reaches_the_queue() {
    let mut lab = lab_with(vec![carrier(true)]);
    let stranger: SocketAddr = "203.0.113.9:5060".parse().unwrap();
    lab.send(stranger, &queue_invite(stranger, 1, None));
    lab.take(stranger, "407");
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
}
