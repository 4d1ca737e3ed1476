//! Concurrent-call limits of the org, a queue and a trunk (see `limits`), in virtual time.

use super::dial_plan::DialPlan;
use super::lab::{Lab, phone, queue_call_invite};
use super::model::QueueEvent;
use super::record::HangupCause;
use super::trunks::InboundTrunk;
use crate::sip::message::Message;
use std::collections::HashMap;
use std::net::SocketAddr;

/// A lab whose 7000 reaches queue `sales` (at most `queue_max` live calls, 0: none), whose
/// carrier at 192.0.2.0/24 has `channels` channels (0: none).
fn lab(queue_max: u32, channels: u32) -> Lab {
    let mut lab = Lab::new();
    lab.sw.cfg.trunks = vec![InboundTrunk {
        name: "carrier".into(),
        sources: vec!["192.0.2.0/24".parse().unwrap()],
        trusted: true,
        max_channels: channels,
        ..Default::default()
    }];
    let mut queue_limits = HashMap::new();
    if queue_max > 0 {
        queue_limits.insert("sales".to_owned(), queue_max);
    }
    lab.sw.set_dial_plan(DialPlan {
        queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
        queue_limits,
        ..DialPlan::default()
    });
    lab
}

/// A customer's INVITE to 7000 from `from` (its own Call-ID).
fn customer_invite(from: SocketAddr) -> Message {
    let caller = format!("+3361234{}", from.port());
    queue_call_invite(from, &caller, &format!("customer-{from}"), from.port() + 10)
}

fn customer(n: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 10], 5000 + n))
}

/// The refusal `code` with its `Reason` naming `limit`, a CDR saying so, and for a queue call
/// the contact center told to record an interaction saying so.
fn assert_refused(lab: &Lab, refusal: &Message, code: u16, limit: &str, queue_call: bool) {
    assert_eq!(
        refusal.header("Reason"),
        Some(format!("SIP;cause={code};text=\"{limit}\"").as_str())
    );
    let cdr = lab.cdrs.last().expect("a record of the refusal");
    assert_eq!(cdr.hangup_cause, HangupCause::Refused);
    assert_eq!(cdr.refused_by.as_deref(), Some(limit));
    assert_eq!(cdr.sip_code, code);
    let refused = lab.queue_events.iter().find_map(|e| match e {
        QueueEvent::Refused {
            interaction, limit, ..
        } => Some((interaction.0.clone(), limit.clone())),
        _ => None,
    });
    if queue_call {
        let (interaction, named) = refused.expect("the contact center hears of it");
        assert_eq!(named, limit);
        assert_eq!(cdr.interaction.as_deref(), Some(interaction.as_str()));
    } else {
        assert!(refused.is_none());
    }
}

#[test]
fn a_full_queue_refuses_the_next_caller_486_and_takes_one_again_once_a_call_ends() {
    let mut lab = lab(1, 0);
    lab.send(customer(1), &customer_invite(customer(1)));
    let ok = lab.take(customer(1), "200");
    lab.send(customer(2), &customer_invite(customer(2)));
    let busy = lab.take(customer(2), "486");
    assert_refused(&lab, &busy, 486, "queue_calls", true);
    // The first caller hangs up: the queue takes a call again.
    let ack = super::lab::in_dialog(&ok, "ACK", 1, customer(1), true, "");
    lab.send_text(customer(1), &ack);
    let bye = super::lab::in_dialog(&ok, "BYE", 2, customer(1), true, "");
    lab.send_text(customer(1), &bye);
    lab.take(customer(1), "200");
    lab.send(customer(3), &customer_invite(customer(3)));
    lab.take(customer(3), "200");
}

#[test]
fn the_orgs_limit_counts_every_call_and_refuses_503() {
    let mut lab = lab(0, 0);
    lab.sw.set_org_call_limit(1);
    lab.register("1002");
    lab.ring("1001", "1002");
    lab.send(customer(1), &customer_invite(customer(1)));
    let full = lab.take(customer(1), "503");
    assert_refused(&lab, &full, 503, "org_calls", true);
    assert!(full.header("Retry-After").is_some());
}

#[test]
fn a_trunks_full_channels_refuse_503_and_record_it() {
    let mut lab = lab(0, 1);
    lab.send(customer(1), &customer_invite(customer(1)));
    lab.take(customer(1), "200");
    lab.send(customer(2), &customer_invite(customer(2)));
    let full = lab.take(customer(2), "503");
    assert_refused(&lab, &full, 503, "trunk_channels", true);
}

#[test]
fn a_phone_over_no_limit_leaves_no_refusal_record() {
    let mut lab = lab(0, 0);
    lab.register("1002");
    lab.dial("1001", "1003");
    lab.take(phone("1001"), "480");
    assert!(lab.cdrs.iter().all(|c| c.refused_by.is_none()));
}
