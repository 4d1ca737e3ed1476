//! The courtesy callback offer in virtual time (see `courtesy`): the prompt and the digits
//! the caller keys, the number it chooses, and an offer that lapses.

use super::courtesy::{DEFAULT_PROMPT, OFFER_TIME};
use super::dial_plan::DialPlan;
use super::lab::{Lab, config, in_dialog, one_carrier, queue_call_invite};
use super::model::{EndpointId, InteractionId, MediaCommand, MediaEvent, QueueCommand, QueueEvent};
use super::trunks::InboundTrunk;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

const CUSTOMER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10)),
    5070,
);

/// A customer of a trusted carrier (+33612345678) waiting in queue `sales` (7000), whose
/// numbers go back out through the same carrier: the lab, the interaction and the
/// customer's endpoint.
fn waiting() -> (Lab, InteractionId, EndpointId) {
    let mut cfg = config(31);
    cfg.trunks = vec![InboundTrunk {
        name: "carrier".into(),
        sources: vec!["192.0.2.0/24".parse().unwrap()],
        trusted: true,
        max_channels: 0,
        ..Default::default()
    }];
    one_carrier(&mut cfg, "192.0.2.1:5060".parse().unwrap(), None);
    let mut lab = Lab::with_config(cfg);
    lab.sw.set_dial_plan(DialPlan {
        queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
        ..DialPlan::default()
    });
    let invite = queue_call_invite(CUSTOMER, "+33612345678", "courtesy-1", 7000);
    lab.send(CUSTOMER, &invite);
    let ok = lab.take(CUSTOMER, "200");
    lab.send_text(CUSTOMER, &in_dialog(&ok, "ACK", 1, CUSTOMER, true, ""));
    let interaction = lab.arrived();
    let endpoint = lab
        .media
        .iter()
        .find_map(|c| match c {
            MediaCommand::PlayMusic { endpoint, .. } => Some(*endpoint),
            _ => None,
        })
        .expect("music on hold");
    lab.media.clear();
    (lab, interaction, endpoint)
}

fn offer(lab: &mut Lab, interaction: &InteractionId) {
    lab.queue_command(QueueCommand::OfferCallback {
        interaction: interaction.clone(),
        prompt: None,
    });
}

fn keys(lab: &mut Lab, endpoint: EndpointId, digits: &str) {
    for digit in digits.chars() {
        lab.media_event(MediaEvent::Digit { endpoint, digit });
        lab.advance(Duration::from_millis(300));
    }
}

fn chosen(lab: &Lab) -> Vec<String> {
    lab.queue_events
        .iter()
        .filter_map(|e| match e {
            QueueEvent::CallbackChosen { number, .. } => Some(number.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_prompt_plays_and_one_chooses_the_number_the_caller_called_from() {
    let (mut lab, interaction, endpoint) = waiting();
    offer(&mut lab, &interaction);
    assert_eq!(
        lab.media,
        [
            MediaCommand::PlayMusic {
                endpoint,
                music: Some(DEFAULT_PROMPT.into())
            },
            MediaCommand::DetectDigits {
                endpoint,
                enabled: true
            },
        ]
    );
    lab.media.clear();
    keys(&mut lab, endpoint, "1");
    assert_eq!(chosen(&lab), ["+33612345678"]);
    // Silence until the hang-up: the queue's music does not start again.
    assert_eq!(
        lab.media,
        [
            MediaCommand::DetectDigits {
                endpoint,
                enabled: false
            },
            MediaCommand::StopMusic { endpoint },
        ]
    );
    // The caller stays on the line until the contact center hangs it up.
    let sent = lab.take_all(CUSTOMER);
    assert!(!sent.iter().any(|m| m == "BYE"), "{sent:?}");
}

#[test]
fn two_then_a_keyed_number_and_pound_chooses_that_number() {
    let (mut lab, interaction, endpoint) = waiting();
    offer(&mut lab, &interaction);
    keys(&mut lab, endpoint, "2069*0123456789#");
    assert_eq!(chosen(&lab), ["+33123456789"], "* starts the number again");
}

#[test]
fn an_offer_nobody_takes_lapses_to_music_and_later_keys_do_nothing() {
    let (mut lab, interaction, endpoint) = waiting();
    offer(&mut lab, &interaction);
    keys(&mut lab, endpoint, "7");
    lab.media.clear();
    lab.advance(OFFER_TIME);
    assert_eq!(
        lab.media,
        [
            MediaCommand::DetectDigits {
                endpoint,
                enabled: false
            },
            MediaCommand::PlayMusic {
                endpoint,
                music: None
            },
        ]
    );
    keys(&mut lab, endpoint, "1");
    assert!(chosen(&lab).is_empty());
}

#[test]
fn a_keyed_number_the_dial_plan_refuses_ends_the_offer_without_a_choice() {
    let (mut lab, interaction, endpoint) = waiting();
    offer(&mut lab, &interaction);
    keys(&mut lab, endpoint, "212#");
    assert!(chosen(&lab).is_empty());
    assert!(lab.media.contains(&MediaCommand::PlayMusic {
        endpoint,
        music: None
    }));
}

#[test]
fn a_digit_and_lost_media_find_the_call_by_its_endpoint_whose_route_ends_with_it() {
    let (mut lab, interaction, endpoint) = waiting();
    let call = lab.sw.call_of_endpoint(endpoint);
    assert_eq!(call, lab.sw.interactions.get(&interaction).copied());
    offer(&mut lab, &interaction);
    keys(&mut lab, EndpointId(endpoint.0 + 1_000), "1");
    assert!(chosen(&lab).is_empty(), "no call has that endpoint");
    keys(&mut lab, endpoint, "1");
    assert_eq!(chosen(&lab), ["+33612345678"]);

    lab.media_event(MediaEvent::Inactive { endpoint });
    assert!(lab.sw.calls.is_empty(), "the call ended on its lost media");
    assert_eq!(lab.sw.call_of_endpoint(endpoint), None);
    assert!(
        lab.sw.endpoint_calls.is_empty(),
        "closed endpoints route nowhere"
    );
}
