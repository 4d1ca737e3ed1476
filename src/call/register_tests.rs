//! Digest authentication of REGISTER through the switch core, in virtual time: which
//! algorithms are offered and accepted, the `uri` check and the one-credentials-per-realm rule.

use crate::call::{Output, Switch, SwitchConfig};
use crate::sip::digest::{Algorithm, Credentials, QopAuth, StoredSecret};
use crate::sip::message::Message;
use crate::sip::registrar::{RegistrarConfig, Transport};
use crate::sip::transaction::Timing;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const DOMAIN: &str = "switchboard.local";
const PHONE: &str = "127.0.0.1:40000";

/// A switch core with extensions 1000 and 1001, at the origin of virtual time.
pub(in crate::call) fn switch(
    global: &[&str],
    per_extension: &[(&str, &[&str])],
) -> (Switch, Instant) {
    let strings = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let extensions = ["1000", "1001"]
        .into_iter()
        .map(|u| (u.to_owned(), StoredSecret::Password(format!("pw-{u}"))))
        .collect();
    let cfg = SwitchConfig {
        domain: DOMAIN.into(),
        advertised: "127.0.0.1:5060".parse().unwrap(),
        tls_port: None,
        timing: Timing {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        },
        ring_timeout: Duration::from_secs(30),
        max_calls: 10,
        registrar: RegistrarConfig {
            default_expires: Duration::from_secs(3600),
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            max_bindings_per_aor: 10,
        },
        nonce_lifetime: Duration::from_secs(300),
        extensions,
        rtp_ports: (20_000, 20_100),
        digest_algorithms: strings(global),
        extension_digest_algorithms: per_extension
            .iter()
            .map(|(u, list)| (u.to_string(), strings(list)))
            .collect(),
        seed: crate::call::RngSeed::from_u64(7),
        auth_guard: Default::default(),
        trunks: vec![crate::call::lab::loopback_trunk()],
        outbound_trunks: Vec::new(),
        dialing: Default::default(),
        srtp: Default::default(),
    };
    // The origin of virtual time; only differences from it matter.
    let now = crate::runtime::clock::now();
    (
        Switch::new(cfg, now, Duration::from_secs(1_800_000_000)),
        now,
    )
}

/// A REGISTER; every one is a new transaction (its own branch and CSeq).
fn register(user: &str, authorizations: &[String]) -> Vec<u8> {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let cseq = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut text = format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};rport;branch=z9hG4bK-r{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@{DOMAIN}>;tag=f1\r\nTo: <sip:{user}@{DOMAIN}>\r\n\
         Call-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{PHONE}>\r\n"
    );
    for a in authorizations {
        text.push_str(&format!("Authorization: {a}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text.into_bytes()
}

/// Sends `bytes` and returns the one response the switch sends back.
fn exchange(sw: &mut Switch, now: Instant, bytes: &[u8]) -> Message {
    sw.handle_datagram(
        now,
        PHONE.parse::<SocketAddr>().unwrap(),
        Transport::Udp,
        bytes,
    );
    let mut responses = Vec::new();
    while let Some(out) = sw.poll_output() {
        if let Output::Transmit { bytes, .. } = out {
            responses.push(Message::parse(&bytes).unwrap());
        }
    }
    assert_eq!(responses.len(), 1, "one response expected");
    responses.pop().unwrap()
}

fn challenged_algorithms(response: &Message) -> Vec<String> {
    response
        .headers_named("WWW-Authenticate")
        .map(|c| {
            let at = c.find("algorithm=").expect("algorithm named");
            c[at + "algorithm=".len()..]
                .split([',', ' '])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn nonce_of(response: &Message) -> String {
    let c = response.header("WWW-Authenticate").unwrap();
    let at = c.find("nonce=\"").unwrap() + "nonce=\"".len();
    c[at..at + c[at..].find('"').unwrap()].to_owned()
}

fn answer(user: &str, password: &str, algorithm: Algorithm, nonce: &str, uri: &str) -> String {
    let qop = QopAuth {
        cnonce: "c0ffee".into(),
        nc: 1.into(),
    };
    Credentials::answer(
        algorithm,
        user,
        DOMAIN,
        password,
        nonce,
        "REGISTER",
        uri,
        Some(qop),
    )
    .to_string()
}

/// Challenges `user`, answers with `algorithm` and `uri`, returns the final status.
fn register_with(
    sw: &mut Switch,
    now: Instant,
    user: &str,
    algorithm: Algorithm,
    uri: &str,
) -> u16 {
    let challenge = exchange(sw, now, &register(user, &[]));
    assert_eq!(challenge.status(), Some(401));
    let creds = answer(
        user,
        &format!("pw-{user}"),
        algorithm,
        &nonce_of(&challenge),
        uri,
    );
    exchange(sw, now, &register(user, &[creds]))
        .status()
        .unwrap()
}

#[test]
fn the_default_challenge_offers_md5_alone_and_md5_registers() {
    let (mut sw, now) = switch(&["MD5"], &[]);
    let challenge = exchange(&mut sw, now, &register("1000", &[]));
    assert_eq!(challenged_algorithms(&challenge), ["MD5"]);
    let uri = format!("sip:{DOMAIN}");
    assert_eq!(
        register_with(&mut sw, now, "1000", Algorithm::Md5, &uri),
        200
    );
}

#[test]
fn an_extension_set_to_sha256_is_offered_and_accepts_only_sha256() {
    let (mut sw, now) = switch(&["MD5"], &[("1001", &["SHA-256"])]);
    let challenge = exchange(&mut sw, now, &register("1001", &[]));
    assert_eq!(challenged_algorithms(&challenge), ["SHA-256"]);
    let uri = format!("sip:{DOMAIN}");
    for refused in [Algorithm::Md5, Algorithm::Md5Sess, Algorithm::Sha256Sess] {
        assert_eq!(
            register_with(&mut sw, now, "1001", refused, &uri),
            401,
            "{refused}"
        );
    }
    assert_eq!(
        register_with(&mut sw, now, "1001", Algorithm::Sha256, &uri),
        200
    );
    // The others keep the switch's choice.
    assert_eq!(
        register_with(&mut sw, now, "1000", Algorithm::Md5, &uri),
        200
    );
    assert_eq!(
        register_with(&mut sw, now, "1000", Algorithm::Sha256, &uri),
        401
    );
}

#[test]
fn sess_variants_are_refused_unless_listed() {
    let (mut sw, now) = switch(&["SHA-256", "MD5"], &[]);
    let uri = format!("sip:{DOMAIN}");
    assert_eq!(
        register_with(&mut sw, now, "1000", Algorithm::Md5Sess, &uri),
        401
    );
    assert_eq!(
        register_with(&mut sw, now, "1000", Algorithm::Sha256, &uri),
        200
    );
}

#[test]
fn credentials_for_another_uri_than_the_request_uri_are_refused() {
    let (mut sw, now) = switch(&["MD5"], &[]);
    assert_eq!(
        register_with(
            &mut sw,
            now,
            "1000",
            Algorithm::Md5,
            "sip:elsewhere.example"
        ),
        401
    );
    // The same URI written differently (host case, a transport parameter) still matches.
    let same = "sip:SwitchBoard.Local;transport=udp";
    assert_eq!(
        register_with(&mut sw, now, "1000", Algorithm::Md5, same),
        200
    );
}

#[test]
fn only_the_first_credentials_for_our_realm_are_checked() {
    let (mut sw, now) = switch(&["MD5"], &[]);
    let challenge = exchange(&mut sw, now, &register("1000", &[]));
    let nonce = nonce_of(&challenge);
    let uri = format!("sip:{DOMAIN}");
    let wrong = answer("1000", "guess", Algorithm::Md5, &nonce, &uri);
    let right = answer("1000", "pw-1000", Algorithm::Md5, &nonce, &uri);
    let guesses = exchange(&mut sw, now, &register("1000", &[wrong, right.clone()]));
    assert_eq!(
        guesses.status(),
        Some(401),
        "a second guess in the same request is ignored"
    );
    // Credentials for another realm before ours do not hide ours.
    let other_realm = right.replace(&format!("realm=\"{DOMAIN}\""), "realm=\"other\"");
    let fresh = exchange(&mut sw, now, &register("1000", &[]));
    let right = answer("1000", "pw-1000", Algorithm::Md5, &nonce_of(&fresh), &uri);
    let ok = exchange(&mut sw, now, &register("1000", &[other_realm, right]));
    assert_eq!(ok.status(), Some(200));
}
