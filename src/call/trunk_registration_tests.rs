//! The switch registering with a carrier (see `trunk_registration`), in virtual time: the
//! carrier is the registration client's test registrar, answering what the lab delivers to
//! its gateway address.
//!
//! ```text
//!  switch                         carrier 192.0.2.10
//!    | REGISTER ------------------->|
//!    |<------------------------ 401 |
//!    | REGISTER + Authorization --->|
//!    |<-------- 200 ;expires=120 ---|
//!    :  90 s                        :
//!    | REGISTER (refresh) --------->|  ...
//! ```

use super::lab::{Lab, config};
use super::trunk_registration::{TrunkRegistrationState, TrunkRegistrationStatus};
use super::trunks::{OutboundTrunk, TrunkCredentials};
use crate::sip::digest::Credentials;
use crate::sip::message::Message;
use crate::sip::outbound_registration::tests::Carrier;
use std::net::SocketAddr;
use std::time::Duration;

const PASSWORD: &str = "carrier-issued-secret";

fn gateway() -> SocketAddr {
    "192.0.2.10:5060".parse().unwrap()
}

/// A lab switch with one trunk registering with [`gateway`] for 600 s, as `trunk1`.
pub(crate) fn lab() -> Lab {
    let mut cfg = config(11);
    cfg.outbound_trunks = vec![OutboundTrunk {
        name: "carrier".into(),
        gateways: vec![gateway(), "192.0.2.11:5060".parse().unwrap()],
        max_channels: 30,
        caller_id: None,
        credentials: Some(TrunkCredentials {
            username: "trunk1".into(),
            password: PASSWORD.into(),
        }),
        register: Some(Duration::from_secs(600)),
        ..Default::default()
    }];
    Lab::with_config(cfg)
}

fn status(lab: &Lab) -> TrunkRegistrationStatus {
    let mut all = lab.sw.trunk_registrations(lab.now);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// The carrier answers the REGISTER waiting at its gateway, then the switch's answer to
/// its challenge; returns the REGISTER that carried credentials.
fn register_through_challenge(lab: &mut Lab, carrier: &mut Carrier) -> Message {
    let register = lab.take(gateway(), "REGISTER");
    let challenge = carrier.answer(&register);
    assert_eq!(challenge.status(), Some(401));
    lab.send(gateway(), &challenge);
    let answered = lab.take(gateway(), "REGISTER");
    let ok = carrier.answer(&answered);
    assert_eq!(
        ok.status(),
        Some(200),
        "the carrier accepts the switch's digest"
    );
    lab.send(gateway(), &ok);
    answered
}

/// [`lab`] registered with its carrier for 120 s.
pub(crate) fn registered() -> Lab {
    let mut lab = lab();
    lab.advance(Duration::ZERO);
    register_through_challenge(&mut lab, &mut Carrier::new(PASSWORD));
    lab
}

#[test]
fn the_switch_registers_with_the_first_gateway_answering_the_challenge_and_refreshes_in_time() {
    let mut lab = lab();
    let mut carrier = Carrier::new(PASSWORD);
    assert_eq!(status(&lab).state, TrunkRegistrationState::Unregistered);
    // The first REGISTER leaves at the switch's first timeout, which is due at once.
    assert_eq!(lab.sw.poll_timeout(), Some(lab.now));
    lab.advance(Duration::ZERO);
    assert_eq!(status(&lab).state, TrunkRegistrationState::Registering);
    let first = lab.try_take(gateway(), "REGISTER").expect("a REGISTER");
    assert_eq!(first.request_uri(), Some("sip:192.0.2.10"));
    assert_eq!(first.header("To"), Some("<sip:trunk1@192.0.2.10>"));
    assert_eq!(
        first.header("Contact"),
        Some("<sip:switchboard@127.0.0.1:5060>")
    );
    assert_eq!(first.header("Expires"), Some("600"));
    assert!(first.top_via().is_some_and(|v| v.branch().is_some()));
    lab.send(gateway(), &carrier.answer(&first));
    let answered = lab.take(gateway(), "REGISTER");
    let credentials = answered
        .header("Authorization")
        .and_then(|a| Credentials::parse(a).ok())
        .expect("credentials");
    assert_eq!(credentials.username, "trunk1");
    assert_eq!(credentials.uri, "sip:192.0.2.10", "the Request-URI (§22.4)");
    assert_eq!(answered.call_id(), first.call_id());
    lab.send(gateway(), &carrier.answer(&answered));

    let registered = status(&lab);
    assert_eq!(registered.state, TrunkRegistrationState::Registered);
    // The carrier granted 120 s in our Contact's expires.
    assert_eq!(registered.expires_in, Some(Duration::from_secs(120)));
    assert_eq!(registered.last_status, Some(200));
    assert_eq!(registered.registrar, gateway());
    assert!(lab.take_all("192.0.2.11:5060".parse().unwrap()).is_empty());

    // Refreshed 30 s before the binding ends, in the same Call-ID.
    lab.advance(Duration::from_secs(89));
    assert!(lab.try_take(gateway(), "REGISTER").is_none(), "not yet");
    lab.advance(Duration::from_secs(1));
    let refreshed = register_through_challenge(&mut lab, &mut carrier);
    assert_eq!(refreshed.call_id(), first.call_id());
    assert_eq!(refreshed.cseq().map(|c| c.seq), Some(4));
    assert_eq!(
        status(&lab).expires_in,
        Some(Duration::from_secs(120)),
        "a new binding from now"
    );
}

#[test]
fn a_carrier_that_stops_answering_gets_retries_that_back_off_until_it_answers_again() {
    let mut lab = lab();
    let mut carrier = Carrier::new(PASSWORD);
    lab.advance(Duration::ZERO);
    register_through_challenge(&mut lab, &mut carrier);

    // The refresh at 90 s goes unanswered: the transaction gives up after 64·T1 (32 s),
    // by which time the binding (120 s) ran out.
    lab.advance(Duration::from_secs(90));
    assert!(lab.try_take(gateway(), "REGISTER").is_some());
    lab.advance(Duration::from_secs(30));
    assert_eq!(
        status(&lab).state,
        TrunkRegistrationState::Registering,
        "the binding ended while the refresh was out"
    );
    lab.advance(Duration::from_secs(2));
    let failed = status(&lab);
    assert_eq!(failed.state, TrunkRegistrationState::Failed);
    assert_eq!(failed.last_status, None, "no response at all");
    assert_eq!(failed.retry_in, Some(Duration::from_secs(5)));
    let retransmissions = lab.take_all(gateway());
    assert!(
        retransmissions.iter().all(|m| m == "REGISTER"),
        "{retransmissions:?}"
    );

    // It answers the retry with an error: the next wait doubles.
    lab.advance(Duration::from_secs(5));
    let retry = lab.take(gateway(), "REGISTER");
    lab.send(
        gateway(),
        &Message::response_to(&retry, 503, "Service Unavailable"),
    );
    let refused = status(&lab);
    assert_eq!(refused.state, TrunkRegistrationState::Failed);
    assert_eq!(refused.last_status, Some(503));
    assert_eq!(refused.retry_in, Some(Duration::from_secs(10)));
    lab.advance(Duration::from_secs(9));
    assert!(
        lab.try_take(gateway(), "REGISTER").is_none(),
        "not before 10 s"
    );

    // Back up: registered again, and the backoff starts over at the next failure.
    lab.advance(Duration::from_secs(1));
    register_through_challenge(&mut lab, &mut carrier);
    assert_eq!(status(&lab).state, TrunkRegistrationState::Registered);
    lab.advance(Duration::from_secs(90));
    let refresh = lab.take(gateway(), "REGISTER");
    lab.send(
        gateway(),
        &Message::response_to(&refresh, 500, "Server Error"),
    );
    assert_eq!(status(&lab).retry_in, Some(Duration::from_secs(5)));
}

#[test]
fn a_switch_whose_trunks_do_not_register_sends_nothing_and_sets_no_timer() {
    let mut cfg = config(12);
    cfg.outbound_trunks = vec![OutboundTrunk {
        name: "carrier".into(),
        gateways: vec![gateway()],
        max_channels: 0,
        caller_id: None,
        credentials: None,
        register: None,
        ..Default::default()
    }];
    let mut lab = Lab::with_config(cfg);
    assert!(lab.sw.trunk_registrations(lab.now).is_empty());
    assert_eq!(lab.sw.poll_timeout(), None);
    lab.advance(Duration::from_secs(60));
    assert!(lab.take_all(gateway()).is_empty());
}

#[test]
fn a_tls_trunk_registers_over_tls_naming_the_transport_in_its_uris() {
    let mut lab = lab();
    let mut trunk = lab.sw.cfg.outbound_trunks[0].clone();
    trunk.transport = crate::sip::transport::Transport::Tls;
    trunk.gateways = vec!["192.0.2.10:5061".parse().unwrap()];
    lab.set_trunks(super::trunks::TrunkSet {
        outbound: vec![trunk],
        ..Default::default()
    });
    lab.advance(Duration::ZERO);
    let at: SocketAddr = "192.0.2.10:5061".parse().unwrap();
    let register = lab.take(at, "REGISTER");
    assert_eq!(lab.sent_over[&at], crate::sip::transport::Transport::Tls);
    assert_eq!(
        register.request_uri(),
        Some("sip:192.0.2.10;transport=tls"),
        "5061 is TLS's own port"
    );
    assert!(register.header("Via").unwrap().starts_with("SIP/2.0/TLS "));
    assert!(
        register
            .header("Contact")
            .is_some_and(|c| c.ends_with(";transport=tls>")),
        "{:?}",
        register.header("Contact")
    );
}
