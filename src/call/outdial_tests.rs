//! Click-to-dial in virtual time (see `outdial`): the agent's phone first, then the customer
//! through a trunk, then a call like any connected queue call.

use super::lab::{Lab, config, in_dialog, one_carrier, phone};
use super::model::{InteractionId, MediaCommand, Party, QueueCommand, QueueEvent};
use crate::dialing::E164;
use crate::ids::AgentId;
use crate::sip::message::Message;
use std::net::SocketAddr;
use std::time::Duration;

const GATEWAY: &str = "192.0.2.10:5060";

fn gateway() -> SocketAddr {
    GATEWAY.parse().unwrap()
}

/// A lab whose numbers go out through one carrier; agent alice's phone is 1001.
fn lab() -> Lab {
    let mut cfg = config(21);
    one_carrier(&mut cfg, gateway(), E164::parse("+33900000001").ok());
    let mut lab = Lab::with_config(cfg);
    lab.register("1001");
    lab
}

fn alice() -> Party {
    Party::Agent(AgentId("alice".into()))
}

fn outdial(lab: &mut Lab, number: &str) -> InteractionId {
    let interaction = InteractionId("ix-out-1".into());
    lab.queue_command(QueueCommand::Outdial {
        interaction: interaction.clone(),
        agent: alice(),
        extension: "1001".into(),
        number: number.into(),
        queue: "sales".into(),
    });
    interaction
}

fn failure(lab: &Lab) -> Option<String> {
    lab.queue_events.iter().find_map(|e| match e {
        QueueEvent::OutdialFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// The agent's phone answers the switch's INVITE; the INVITE it got.
fn agent_answers(lab: &mut Lab) -> Message {
    let to_agent = lab.take(phone("1001"), "INVITE");
    lab.reply(&to_agent, 200, phone("1001"));
    lab.take(phone("1001"), "ACK");
    to_agent
}

#[test]
fn the_agents_phone_rings_first_then_the_customer_and_they_talk_like_a_queue_call() {
    let mut lab = lab();
    let interaction = outdial(&mut lab, "0123456789");
    assert!(
        lab.take_all(gateway()).is_empty(),
        "the customer waits for the agent"
    );
    let to_agent = agent_answers(&mut lab);
    assert!(
        to_agent
            .header("Call-Info")
            .is_some_and(|c| c.contains("answer-after=0")),
        "phones that auto-answer are asked to"
    );
    assert!(
        to_agent.header("From").unwrap().contains("+33123456789"),
        "the agent's phone shows the customer"
    );
    let to_customer = lab.take(gateway(), "INVITE");
    assert_eq!(
        to_customer.request_uri(),
        Some("sip:+33123456789@192.0.2.10:5060")
    );
    assert!(to_customer.header("From").unwrap().contains("+33900000001"));
    // The agent hears the ringing tone while the customer's phone rings, until it answers.
    let ringback = lab
        .media
        .iter()
        .position(|c| matches!(c, MediaCommand::PlayRingback { .. }))
        .expect("the agent hears ringing");
    let MediaCommand::PlayRingback { endpoint: agent } = lab.media[ringback] else {
        unreachable!()
    };
    lab.reply(&to_customer, 180, gateway());
    lab.reply(&to_customer, 200, gateway());
    lab.take(gateway(), "ACK");
    let stopped = lab
        .media
        .iter()
        .position(|c| *c == MediaCommand::StopMusic { endpoint: agent })
        .expect("the tone stops");
    let bridged_at = lab
        .media
        .iter()
        .rposition(|c| matches!(c, MediaCommand::Bridge { a, b } if *a == agent || *b == agent))
        .expect("the agent is bridged");
    assert!(
        ringback < stopped && stopped < bridged_at,
        "{:?}",
        lab.media
    );
    assert!(
        lab.queue_events.iter().any(|e| matches!(
            e,
            QueueEvent::OfferAnswered { interaction: i, party } if *i == interaction && *party == alice()
        )),
        "{:?}",
        lab.queue_events
    );
    let bridged = lab
        .media
        .iter()
        .rev()
        .find_map(|c| match c {
            MediaCommand::Bridge { a, b } => Some((*a, *b)),
            _ => None,
        })
        .expect("customer and agent are bridged");
    // Hold works as on any queue call: music to the customer.
    lab.queue_command(QueueCommand::Hold {
        interaction: interaction.clone(),
    });
    assert!(
        lab.media.iter().any(
            |c| matches!(c, MediaCommand::PlayMusic { endpoint, .. } if *endpoint == bridged.0)
        )
    );
    // The customer hangs up: the agent's phone gets BYE, the call ends.
    let bye = in_dialog(&to_customer, "BYE", 2, gateway(), false, "");
    lab.send_text(gateway(), &bye);
    lab.take(gateway(), "200");
    lab.take(phone("1001"), "BYE");
    assert!(
        lab.queue_events
            .iter()
            .any(|e| matches!(e, QueueEvent::Ended { interaction: i } if *i == interaction))
    );
    assert_eq!(failure(&lab), None);
    let cdr = lab.cdrs.last().expect("a record");
    assert_eq!(cdr.caller, "+33123456789");
    assert_eq!(cdr.sip_code, 200);
}

#[test]
fn a_busy_customer_ends_the_call_and_hangs_up_the_agent() {
    let mut lab = lab();
    outdial(&mut lab, "+33123456789");
    agent_answers(&mut lab);
    let to_customer = lab.take(gateway(), "INVITE");
    lab.reply(&to_customer, 486, gateway());
    lab.take(phone("1001"), "BYE");
    assert_eq!(failure(&lab).as_deref(), Some("customer_486"));
    assert_eq!(lab.sw.holdings().calls, 0);
}

#[test]
fn a_customer_who_does_not_answer_is_given_up_at_the_ring_timeout() {
    let mut lab = lab();
    outdial(&mut lab, "+33123456789");
    agent_answers(&mut lab);
    let to_customer = lab.take(gateway(), "INVITE");
    lab.reply(&to_customer, 180, gateway());
    lab.advance(Duration::from_secs(31));
    lab.take(gateway(), "CANCEL");
    lab.take(phone("1001"), "BYE");
    assert_eq!(failure(&lab).as_deref(), Some("customer_no_answer"));
}

#[test]
fn an_agents_phone_that_refuses_ends_it_before_any_number_is_dialled() {
    let mut lab = lab();
    outdial(&mut lab, "+33123456789");
    let to_agent = lab.take(phone("1001"), "INVITE");
    lab.reply(&to_agent, 486, phone("1001"));
    assert_eq!(failure(&lab).as_deref(), Some("agent_unavailable"));
    assert!(lab.take_all(gateway()).is_empty());
}

#[test]
fn a_number_the_agent_may_not_dial_is_refused_before_its_phone_rings() {
    let mut lab = lab();
    outdial(&mut lab, "+442079460958");
    assert_eq!(failure(&lab).as_deref(), Some("calling_class_national"));
    assert!(lab.take_all(phone("1001")).is_empty());
    assert_eq!(lab.sw.holdings().calls, 0);
}

#[test]
fn a_queue_with_its_own_caller_id_presents_it_instead_of_the_trunks() {
    let mut lab = lab();
    lab.sw.set_queue_caller_ids(
        [("sales".to_owned(), "+33900000099".to_owned())]
            .into_iter()
            .collect(),
    );
    outdial(&mut lab, "0123456789");
    agent_answers(&mut lab);
    let to_customer = lab.take(gateway(), "INVITE");
    for header in ["From", "P-Asserted-Identity"] {
        let value = to_customer.header(header).unwrap();
        assert!(value.contains("+33900000099"), "{header}: {value}");
    }
}

#[test]
fn an_agent_whose_own_class_is_internal_cannot_dial_out_from_a_national_extension() {
    let mut lab = lab();
    lab.sw.set_agent_classes(
        [("alice".to_owned(), crate::dialing::CallingClass::Internal)]
            .into_iter()
            .collect(),
    );
    let refused = lab
        .sw
        .plan_outdial("1001", &AgentId("alice".into()), "0123456789");
    assert_eq!(refused.unwrap_err(), "calling_class_internal");
    assert!(
        lab.sw
            .plan_outdial("1001", &AgentId("bob".into()), "0123456789")
            .is_ok(),
        "another agent on the same phone has the extension's class"
    );
    outdial(&mut lab, "0123456789");
    assert_eq!(failure(&lab).as_deref(), Some("calling_class_internal"));
    assert!(lab.take_all(gateway()).is_empty());
}

#[test]
fn a_callback_number_is_accepted_while_the_orgs_outbound_calls_are_at_their_limit() {
    let mut lab = lab();
    lab.sw.set_org_outbound_limit(1);
    outdial(&mut lab, "0123456789");
    agent_answers(&mut lab);
    lab.take(gateway(), "INVITE");
    // The callback is dialled later; only the number itself is checked now.
    assert_eq!(
        lab.sw.check_callback_number("0123456788").as_deref(),
        Ok("+33123456788")
    );
    assert_eq!(
        lab.sw.check_callback_number("00442079460958"),
        Err("calling_class_national")
    );
}

#[test]
fn the_carriers_early_media_replaces_the_ringing_tone_one_way_until_the_answer() {
    let mut lab = lab();
    outdial(&mut lab, "0123456789");
    agent_answers(&mut lab);
    let to_customer = lab.take(gateway(), "INVITE");
    let agent = lab.ringback_endpoint().expect("the ringing tone");
    lab.media.clear();
    // The carrier's announcement comes as early media.
    lab.reply(&to_customer, 183, gateway());
    let customer = lab
        .configured_endpoint()
        .expect("the customer's endpoint takes the early SDP");
    assert!(
        lab.media.contains(&MediaCommand::Bridge {
            a: agent,
            b: customer
        }),
        "{:?}",
        lab.media
    );
    assert!(
        !lab.media
            .contains(&MediaCommand::Establish { endpoint: customer }),
        "nothing goes to the gateway before its dialog is confirmed"
    );
    // A second early SDP changes nothing; the answer connects as usual.
    lab.media.clear();
    lab.reply(&to_customer, 183, gateway());
    assert!(lab.media.is_empty(), "{:?}", lab.media);
    lab.reply(&to_customer, 200, gateway());
    lab.take(gateway(), "ACK");
    assert!(
        lab.media
            .contains(&MediaCommand::Establish { endpoint: customer })
    );
    assert!(
        lab.queue_events
            .iter()
            .any(|e| matches!(e, QueueEvent::OfferAnswered { .. }))
    );
    assert_eq!(failure(&lab), None);
}
