//! Digest headers (`sip::digest`): `Authorization`/`Proxy-Authorization` credentials from any
//! phone through parsing and verification, a minted nonce coming back altered, and the
//! `WWW-Authenticate` challenge the switch renders (its quoting must survive a parser).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use switchboard::sip::digest::{
    Algorithm, Challenge, Credentials, NonceCount, NonceIssuer, StoredSecret, Verifier,
};

const REALM: &str = "switchboard.local";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = Duration::from_secs(1_000);
    let issuer = NonceIssuer::new([7; 32], Duration::from_secs(30), 64).expect("a long secret");
    let _ = NonceCount::parse(text);
    let _ = issuer.check(text, now);
    challenge_quoting_round_trips(text);

    let Ok(credentials) = Credentials::parse(text) else {
        return;
    };
    let mut verifier = Verifier::new(REALM, issuer);
    let secret = StoredSecret::Password("lab-1000-secret".into());
    let _ = verifier.verify(now, &credentials, "REGISTER", &secret);
    let _ = verifier.verify_unknown_user(now, &credentials, "INVITE");

    let rendered = credentials.to_string();
    assert_eq!(
        Credentials::parse(&rendered),
        Ok(credentials.clone()),
        "render → parse changed the credentials: {rendered}"
    );
});

/// A challenge whose realm and opaque are `text` reads back as `text` (the phone echoes both).
fn challenge_quoting_round_trips(text: &str) {
    // Realm and opaque come from the profile; a control character is one thing a quoted
    // string cannot carry (RFC 3261 §25.1), escaped or not.
    if text.chars().any(|c| c.is_ascii_control() && c != '\t') {
        return;
    }
    let challenge = Challenge {
        realm: text.to_owned(),
        nonce: "abc".into(),
        algorithm: Algorithm::Md5,
        qop_auth: true,
        opaque: Some(text.to_owned()),
        stale: false,
    };
    // The phone's answer: the challenge's parameters plus its own.
    let header = format!(
        "{challenge}, username=\"u\", uri=\"sip:x\", response=\"00\", cnonce=\"c\", nc=00000001"
    );
    let parsed = Credentials::parse(&header)
        .unwrap_or_else(|e| panic!("a rendered challenge did not parse back ({e}): {header}"));
    assert_eq!(parsed.realm, text);
    assert_eq!(parsed.opaque.as_deref(), Some(text));
}
