//! The registration client against a carrier played by the switch's own digest verifier
//! (the switch's trunk registration tests borrow the carrier).

use super::*;
use crate::sip::digest::{Credentials, NonceIssuer, StoredSecret, Verdict, Verifier};
use rand::SeedableRng;
use rand::rngs::SmallRng;

pub(crate) const REALM: &str = "carrier.example";

fn config() -> RegistrationConfig {
    RegistrationConfig {
        registrar_uri: "sip:carrier.example".into(),
        aor: "sip:trunk1@carrier.example".into(),
        username: "trunk1".into(),
        password: "carrier-issued-secret".into(),
        contact: "<sip:trunk1@192.0.2.10:5060>".into(),
        expires: Duration::from_secs(3600),
        retry_base: Duration::from_secs(5),
        retry_max: Duration::from_secs(300),
    }
}

/// A registrar that challenges every REGISTER without valid credentials and grants
/// `grant` seconds to the rest. Its one user is `trunk1`.
pub(crate) struct Carrier {
    verifier: Verifier,
    secret: StoredSecret,
    rng: SmallRng,
    pub(crate) grant: u32,
    /// Time since the carrier started, as its nonces count it.
    clock: Duration,
}

impl Carrier {
    pub(crate) fn new(password: &str) -> Carrier {
        let issuer = NonceIssuer::new(
            b"a carrier's nonce secret, 32 bytes!".to_vec(),
            Duration::from_secs(300),
            64,
        )
        .expect("a long enough secret");
        Carrier {
            verifier: Verifier::new(REALM, issuer),
            secret: StoredSecret::ha1_from_password("trunk1", REALM, password),
            rng: SmallRng::seed_from_u64(7),
            grant: 120,
            clock: Duration::from_secs(1),
        }
    }

    /// Its final response to `register`.
    pub(crate) fn answer(&mut self, register: &Message) -> Message {
        let credentials = register
            .header("Authorization")
            .and_then(|a| Credentials::parse(a).ok());
        let verdict = credentials.map(|c| {
            self.verifier
                .verify(self.clock, &c, "REGISTER", &self.secret)
        });
        if verdict == Some(Verdict::Ok) {
            let mut ok = Message::response_to(register, 200, "OK");
            let contact = register.header("Contact").unwrap_or_default();
            ok.push("Contact", format!("{contact};expires={}", self.grant));
            return ok;
        }
        let stale = verdict == Some(Verdict::Stale);
        let [challenge, _] = self.verifier.challenges(self.clock, &mut self.rng, stale);
        let mut unauthorized = Message::response_to(register, 401, "Unauthorized");
        unauthorized.push("WWW-Authenticate", challenge);
        unauthorized
    }
}

/// A registration with [`config`] and Call-ID `reg-<seed>`, started (its first REGISTER
/// waits), the origin of virtual time, and an RNG seeded with `seed`.
fn started(seed: u64) -> (Instant, SmallRng, OutboundRegistration) {
    let mut reg = OutboundRegistration::new(config(), format!("reg-{seed}"), "ft".into());
    reg.start();
    (crate::clock::now(), SmallRng::seed_from_u64(seed), reg)
}

fn next(registration: &mut OutboundRegistration) -> Message {
    registration.poll_request().expect("a REGISTER to send")
}

/// `first` (a REGISTER without credentials) goes to the carrier, which challenges it; the
/// answer goes too, and the carrier's verdict on it comes back.
fn challenge_and_answer(
    reg: &mut OutboundRegistration,
    carrier: &mut Carrier,
    first: &Message,
    now: Instant,
    rng: &mut SmallRng,
) {
    reg.handle_response(now, &carrier.answer(first), rng);
    let answered = next(reg);
    reg.handle_response(now, &carrier.answer(&answered), rng);
}

#[test]
fn it_answers_the_challenge_registers_and_refreshes_before_the_binding_ends() {
    let (t0, mut rng, mut reg) = started(1);
    let mut carrier = Carrier::new("carrier-issued-secret");
    let first = next(&mut reg);
    assert_eq!(first.request_uri(), Some("sip:carrier.example"));
    assert_eq!(first.header("Expires"), Some("3600"));
    assert!(first.header("Authorization").is_none());
    assert_eq!(reg.state(), &RegistrationState::Registering);

    reg.handle_response(t0, &carrier.answer(&first), &mut rng);
    let second = next(&mut reg);
    assert_eq!(second.cseq().map(|c| c.seq), Some(2));
    assert_eq!(second.call_id(), Some("reg-1"));
    let ok = carrier.answer(&second);
    assert_eq!(ok.status(), Some(200), "the carrier accepts our digest");
    reg.handle_response(t0, &ok, &mut rng);
    // Granted 120 s by the Contact's expires; refreshed 30 s before the end.
    let until = t0 + Duration::from_secs(120);
    assert_eq!(reg.state(), &RegistrationState::Registered { until });
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(90)));
    assert!(reg.poll_request().is_none());

    reg.handle_timeout(t0 + Duration::from_secs(89));
    assert!(reg.poll_request().is_none(), "not due yet");
    let t1 = t0 + Duration::from_secs(90);
    reg.handle_timeout(t1);
    let refresh = next(&mut reg);
    assert_eq!(refresh.cseq().map(|c| c.seq), Some(3));
    // Still registered while the refresh is out.
    assert!(matches!(reg.state(), RegistrationState::Registered { .. }));
    challenge_and_answer(&mut reg, &mut carrier, &refresh, t1, &mut rng);
    let until = t1 + Duration::from_secs(120);
    assert_eq!(reg.state(), &RegistrationState::Registered { until });
}

#[test]
fn wrong_credentials_fail_without_looping_and_retries_back_off_up_to_the_cap() {
    let (t0, mut rng, mut reg) = started(2);
    let mut carrier = Carrier::new("another-password");
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..8 {
        let first = next(&mut reg);
        reg.handle_response(now, &carrier.answer(&first), &mut rng);
        let answered = next(&mut reg);
        let refused = carrier.answer(&answered);
        assert_eq!(refused.status(), Some(401));
        reg.handle_response(now, &refused, &mut rng);
        // Challenged again although it sent credentials: the password is wrong; no third
        // REGISTER.
        assert!(reg.poll_request().is_none());
        let RegistrationState::Failed { status, retry_at } = reg.state().clone() else {
            panic!("{:?}", reg.state());
        };
        assert_eq!(status, Some(401));
        waits.push((retry_at - now).as_secs());
        now = retry_at;
        reg.handle_timeout(now);
    }
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300]);
}

#[test]
fn no_response_fails_and_a_later_success_resets_the_backoff() {
    let (t0, mut rng, mut reg) = started(3);
    let mut carrier = Carrier::new("carrier-issued-secret");
    let _lost = next(&mut reg);
    reg.handle_no_response(t0);
    let retry_at = t0 + Duration::from_secs(5);
    assert_eq!(
        reg.state(),
        &RegistrationState::Failed {
            status: None,
            retry_at
        }
    );
    reg.handle_timeout(retry_at);
    let again = next(&mut reg);
    challenge_and_answer(&mut reg, &mut carrier, &again, retry_at, &mut rng);
    assert!(matches!(reg.state(), RegistrationState::Registered { .. }));
    // The binding was granted; a later failure starts the backoff from the beginning.
    let refresh_at = reg.poll_timeout().expect("a refresh");
    reg.handle_timeout(refresh_at);
    let _lost = next(&mut reg);
    reg.handle_no_response(refresh_at);
    assert_eq!(
        reg.poll_timeout(),
        Some(refresh_at + Duration::from_secs(5))
    );
}

#[test]
fn interval_too_brief_is_retried_at_once_with_the_registrars_minimum() {
    let t0 = crate::clock::now();
    let mut rng = SmallRng::seed_from_u64(4);
    let mut cfg = config();
    cfg.expires = Duration::from_secs(60);
    let mut reg = OutboundRegistration::new(cfg, "reg-4".into(), "ft".into());
    reg.start();
    let first = next(&mut reg);
    let mut brief = Message::response_to(&first, 423, "Interval Too Brief");
    brief.push("Min-Expires", "600");
    reg.handle_response(t0, &brief, &mut rng);
    let second = next(&mut reg);
    assert_eq!(second.header("Expires"), Some("600"));
    // A 2xx without a Contact expires falls back to the Expires header.
    let mut ok = Message::response_to(&second, 200, "OK");
    ok.push("Expires", "600");
    reg.handle_response(t0, &ok, &mut rng);
    let until = t0 + Duration::from_secs(600);
    assert_eq!(reg.state(), &RegistrationState::Registered { until });
}

#[test]
fn a_response_to_an_older_register_or_a_provisional_one_changes_nothing() {
    let (t0, mut rng, mut reg) = started(5);
    let mut carrier = Carrier::new("carrier-issued-secret");
    let first = next(&mut reg);
    let challenge = carrier.answer(&first);
    reg.handle_response(t0, &challenge, &mut rng);
    let _second = next(&mut reg);
    // The first REGISTER's 401 again (a retransmission): ignored, nothing sent.
    reg.handle_response(t0, &challenge, &mut rng);
    assert!(reg.poll_request().is_none());
    let trying = Message::response_to(&first, 100, "Trying");
    reg.handle_response(t0, &trying, &mut rng);
    assert_eq!(reg.state(), &RegistrationState::Registering);
}

#[test]
fn a_registrar_that_calls_every_answer_stale_is_answered_once_more_then_failed() {
    let (t0, mut rng, mut reg) = started(6);
    let stale_challenge = |request: &Message, stale: bool| {
        let mut r = Message::response_to(request, 401, "Unauthorized");
        let flag = if stale { ", stale=true" } else { "" };
        r.push(
            "WWW-Authenticate",
            format!(
                "Digest realm=\"{REALM}\", nonce=\"n{}\"{flag}",
                request.cseq().unwrap().seq
            ),
        );
        r
    };
    let first = next(&mut reg);
    reg.handle_response(t0, &stale_challenge(&first, false), &mut rng);
    let answered = next(&mut reg);
    reg.handle_response(t0, &stale_challenge(&answered, true), &mut rng);
    let again = next(&mut reg);
    assert!(
        again.header("Authorization").is_some(),
        "a stale nonce is answered"
    );
    reg.handle_response(t0, &stale_challenge(&again, true), &mut rng);
    assert!(reg.poll_request().is_none(), "but not for ever");
    assert!(matches!(
        reg.state(),
        RegistrationState::Failed {
            status: Some(401),
            ..
        }
    ));
}

#[test]
fn a_2xx_that_keeps_no_binding_is_a_failure_not_a_refresh_loop() {
    let (t0, mut rng, mut reg) = started(7);
    let first = next(&mut reg);
    let mut ok = Message::response_to(&first, 200, "OK");
    ok.push("Contact", "<sip:trunk1@192.0.2.10:5060>;expires=0");
    reg.handle_response(t0, &ok, &mut rng);
    assert!(reg.poll_request().is_none());
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    assert!(matches!(
        reg.state(),
        RegistrationState::Failed {
            status: Some(200),
            ..
        }
    ));
}

#[test]
fn the_first_challenge_it_can_answer_is_taken_and_a_stray_timeout_is_ignored() {
    let (t0, mut rng, mut reg) = started(8);
    let mut carrier = Carrier::new("carrier-issued-secret");
    let first = next(&mut reg);
    let mut challenge = carrier.answer(&first);
    // An algorithm we do not speak, listed first.
    challenge.push_front(
        "WWW-Authenticate",
        format!("Digest realm=\"{REALM}\", nonce=\"x\", algorithm=SHA-512-256"),
    );
    reg.handle_response(t0, &challenge, &mut rng);
    let answered = next(&mut reg);
    let ok = carrier.answer(&answered);
    assert_eq!(ok.status(), Some(200), "the MD5 challenge was answered");
    reg.handle_response(t0, &ok, &mut rng);
    let registered = reg.state().clone();
    assert!(matches!(registered, RegistrationState::Registered { .. }));
    // Nothing is out: a timeout now belongs to some older transaction.
    reg.handle_no_response(t0);
    assert_eq!(reg.state(), &registered);
}
