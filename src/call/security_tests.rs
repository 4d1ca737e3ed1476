//! The switch core against an attacker, in virtual time: password guessing throttled then
//! banned while the real phone keeps registering, a spoofed From, and a TCP Contact naming a
//! third address.

use crate::call::lab::{Lab, answer_challenge, persisted_binding, phone, sdp};
use crate::sip::digest::{Algorithm, Credentials, QopAuth};
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use std::net::SocketAddr;
use std::time::Duration;

const DOMAIN: &str = "switchboard.local";

fn register(user: &str, from: SocketAddr, cseq: u32, auth: Option<&Credentials>) -> Message {
    let mut m = Message::request(Method::Register, format!("sip:{DOMAIN}"))
        .with(
            "Via",
            format!("SIP/2.0/UDP {from};branch=z9hG4bK-r{cseq};rport"),
        )
        .with("Max-Forwards", "70")
        .with(
            "From",
            format!("<sip:{user}@{DOMAIN}>;tag=r{}", from.port()),
        )
        .with("To", format!("<sip:{user}@{DOMAIN}>"))
        .with("Call-ID", format!("reg-{user}-{from}"))
        .with("CSeq", format!("{cseq} REGISTER"))
        .with("Contact", format!("<sip:{user}@{from}>"))
        .with("Expires", "3600");
    if let Some(creds) = auth {
        m.push("Authorization", creds.to_string());
    }
    m
}

/// One REGISTER exchange with `password`: the challenge, then the answer's status.
fn attempt(lab: &mut Lab, from: SocketAddr, cseq: &mut u32, user: &str, password: &str) -> u16 {
    *cseq += 1;
    lab.send(from, &register(user, from, *cseq, None));
    let Some(challenge) = lab.try_take(from, "401") else {
        return lab.take_all(from)[0].parse().expect("a status");
    };
    let header = challenge.header("WWW-Authenticate").unwrap_or_default();
    let nonce = header
        .split("nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a nonce");
    let creds = Credentials::answer(
        Algorithm::Md5,
        user,
        DOMAIN,
        password,
        nonce,
        "REGISTER",
        &format!("sip:{DOMAIN}"),
        Some(QopAuth {
            cnonce: "c".into(),
            nc: 1.into(),
        }),
    );
    *cseq += 1;
    lab.send(from, &register(user, from, *cseq, Some(&creds)));
    let answers = lab.take_all(from);
    answers
        .last()
        .expect("an answer")
        .parse()
        .expect("a status")
}

#[test]
fn a_dictionary_attack_is_slowed_then_banned_while_the_phone_keeps_registering() {
    let mut lab = Lab::new();
    let attacker: SocketAddr = "127.0.0.66:5060".parse().unwrap();
    let desk: SocketAddr = "127.0.0.2:5060".parse().unwrap();
    let (mut a, mut d) = (0, 0);
    let mut answers = Vec::new();
    for guess in 0..40 {
        let word = if guess == 39 {
            "lab-1001-secret".to_owned()
        } else {
            format!("guess-{guess}")
        };
        answers.push(attempt(&mut lab, attacker, &mut a, "1001", &word));
        lab.advance(Duration::from_millis(50));
        if guess % 10 == 0 {
            assert_eq!(
                attempt(&mut lab, desk, &mut d, "1001", "lab-1001-secret"),
                200
            );
        }
    }
    // Five wrong guesses are heard (401 again), then the source waits and is refused unheard
    // (403), and its twentieth failure bans it: the right password, last, never gets in.
    assert_eq!(answers[..5], [401; 5], "{answers:?}");
    assert!(answers[5..].iter().all(|&s| s == 403), "{answers:?}");
    let blocks = lab.sw.auth_blocks(lab.now);
    assert_eq!(blocks[0].address, Some(attacker.ip()), "{blocks:?}");
    assert_eq!(blocks[0].kind.as_str(), "ban");
    assert_eq!(
        attempt(&mut lab, desk, &mut d, "1001", "lab-1001-secret"),
        200
    );

    // A banned source gets no challenge (no nonce, nothing to amplify) ...
    a += 1;
    lab.send(attacker, &register("1001", attacker, a, None));
    let refused = lab.take(attacker, "403");
    let retry: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!((3590..=3600).contains(&retry), "{retry}");
    // An INVITE from there is refused the same way, before any challenge.
    let invite = Message::request(Method::Invite, format!("sip:1002@{DOMAIN}"))
        .with(
            "Via",
            format!("SIP/2.0/UDP {attacker};branch=z9hG4bK-banned-invite"),
        )
        .with("Max-Forwards", "70")
        .with("From", format!("<sip:1001@{DOMAIN}>;tag=x"))
        .with("To", format!("<sip:1002@{DOMAIN}>"))
        .with("Call-ID", "banned-invite")
        .with("CSeq", "1 INVITE")
        .with("Contact", format!("<sip:1001@{attacker}>"));
    lab.send(attacker, &invite);
    assert_eq!(lab.take_all(attacker), ["403"]);
    // ... until an admin lifts the ban.
    assert!(lab.sw.lift_auth_block(lab.now, attacker.ip()));
    assert_eq!(
        attempt(&mut lab, attacker, &mut a, "1001", "lab-1001-secret"),
        200
    );
}

#[test]
fn a_stale_nonce_and_a_nonce_from_before_a_restart_are_not_failures() {
    let mut lab = Lab::new();
    let phone = phone("1001");
    for cseq in 0..30 {
        let foreign = Credentials::answer(
            Algorithm::Md5,
            "1001",
            DOMAIN,
            "lab-1001-secret",
            "not-a-nonce-of-ours",
            "REGISTER",
            &format!("sip:{DOMAIN}"),
            Some(QopAuth {
                cnonce: "c".into(),
                nc: 1.into(),
            }),
        );
        lab.send(phone, &register("1001", phone, cseq, Some(&foreign)));
        lab.take(phone, "401");
    }
    assert!(lab.sw.auth_blocks(lab.now).is_empty());
}

#[test]
fn an_invite_with_a_forged_from_reaches_the_callee_and_the_cdr_as_its_extension() {
    let mut lab = Lab::new();
    lab.register("1001");
    lab.register("1002");
    let invite = |auth: Option<String>| {
        let mut m = Message::request(Method::Invite, format!("sip:1002@{DOMAIN}"))
            .with(
                "Via",
                format!(
                    "SIP/2.0/UDP {};branch=z9hG4bKspoof{}",
                    phone("1001"),
                    auth.is_some()
                ),
            )
            .with("Max-Forwards", "70")
            .with("From", "\"Boss\" <sip:1000@evil.example;user=phone>;tag=ft")
            .with("To", format!("<sip:1002@{DOMAIN}>"))
            .with("Call-ID", "spoof-1")
            .with(
                "CSeq",
                if auth.is_some() {
                    "2 INVITE"
                } else {
                    "1 INVITE"
                },
            )
            .with("Contact", format!("<sip:1001@{}>", phone("1001")));
        if let Some(auth) = auth {
            m.push("Proxy-Authorization", auth);
        }
        m.set_body("application/sdp", bytes::Bytes::from(sdp(30_000)));
        m
    };
    lab.send(phone("1001"), &invite(None));
    let challenge = lab.take(phone("1001"), "407");
    let creds = answer_challenge(&challenge, "1001", "1002");
    lab.send(phone("1001"), &invite(Some(creds.to_string())));
    let to_callee = lab.take(phone("1002"), "INVITE");
    let from = to_callee.from().unwrap();
    assert_eq!(from.uri, format!("sip:1001@{DOMAIN}"));
    assert_eq!(
        from.display.as_deref(),
        Some("Boss"),
        "a display name may stay"
    );
    assert!(from.param("tag").is_some_and(|t| t != "ft"));

    lab.reply(&to_callee, 486, phone("1002"));
    lab.take(phone("1001"), "486");
    assert_eq!(lab.cdrs.len(), 1);
    assert_eq!(lab.cdrs[0].caller, "1001");
}

#[test]
fn a_tcp_contact_naming_a_third_address_is_never_connected_to() {
    let mut lab = Lab::new();
    lab.register("1001");
    let source: SocketAddr = "127.0.0.1:45000".parse().unwrap();
    for (user, contact, expected) in [
        // A third host: the REGISTER's connection instead.
        ("1002", "sip:1002@192.0.2.80:8080;transport=tcp", source),
        // The phone's own address: its listening port, once its connection is gone.
        (
            "1003",
            "sip:1003@127.0.0.1:5070;transport=tcp",
            "127.0.0.1:5070".parse().unwrap(),
        ),
    ] {
        let mut binding = persisted_binding(user);
        binding.contact_uri = contact.into();
        binding.received = Some(source);
        binding.transport = Transport::Tcp;
        lab.sw
            .restore_binding(lab.now, &format!("{user}@{DOMAIN}"), binding);
        let targets = lab.sw.targets_of(lab.now, user);
        assert_eq!(targets.len(), 1, "{targets:?}");
        assert_eq!(targets[0].1, expected, "{contact}");
    }
}
