//! Tests of `digest`.
use super::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const REALM: &str = "sip.example.com";

fn verifier() -> Verifier {
    Verifier::new(
        REALM,
        NonceIssuer::new(SECRET, Duration::from_secs(300), 16).unwrap(),
    )
}

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(7)
}

fn qop(nc: u32) -> Option<QopAuth> {
    Some(QopAuth {
        cnonce: "0a4f113b".into(),
        nc: nc.into(),
    })
}

fn alice(alg: Algorithm, nonce: &str, password: &str, nc: u32) -> Credentials {
    Credentials::answer(
        alg,
        "alice",
        REALM,
        password,
        nonce,
        "REGISTER",
        "sip:sip.example.com",
        qop(nc),
    )
}

#[test]
fn rfc2617_example_gives_the_published_md5_response() {
    let creds = Credentials::parse(
        r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    )
    .unwrap();
    let ha1 = Algorithm::Md5.ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
    let response = compute_response(
        creds.algorithm,
        &ha1,
        &creds.nonce,
        "GET",
        &creds.uri,
        creds.qop.as_ref(),
    );
    assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(response, creds.response);
}

#[test]
fn rfc7616_example_gives_the_published_sha256_response() {
    let creds = Credentials::parse(
        r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
    )
    .unwrap();
    assert_eq!(creds.algorithm, Algorithm::Sha256);
    let ha1 = Algorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
    let response = compute_response(
        creds.algorithm,
        &ha1,
        &creds.nonce,
        "GET",
        &creds.uri,
        creds.qop.as_ref(),
    );
    assert_eq!(
        response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn hmac_matches_rfc4231_test_case_2() {
    let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn parser_accepts_any_order_case_escapes_and_commas_in_quotes() {
    let c = Credentials::parse(
        "digest  NC=0000000A ,QOP=\"auth\",\tResponse=\"ABCDEF\", X-Unknown=\"a, b\" ,, \
         USERNAME=\"o\\\"brien, jr\", realm=\"r\\\\x\", Nonce=n, uri=sip:bob@example.com, \
         cnonce=\"c\", algorithm=sha-256-SESS",
    )
    .unwrap();
    assert_eq!(c.username, "o\"brien, jr");
    assert_eq!(c.realm, "r\\x");
    assert_eq!(c.nonce, "n");
    assert_eq!(c.uri, "sip:bob@example.com");
    assert_eq!(c.response, "abcdef");
    assert_eq!(c.algorithm, Algorithm::Sha256Sess);
    let q = c.qop.unwrap();
    assert_eq!(q.nc.value(), 10);
    assert_eq!(q.nc.as_str(), "0000000A");
}

#[test]
fn parser_rejects_duplicates_missing_and_malformed_input() {
    let base = r#"Digest username="a", realm="r", nonce="n", uri="u", response="00""#;
    assert!(Credentials::parse(base).is_ok());
    assert_eq!(
        Credentials::parse(&format!("{base}, Realm=\"x\"")),
        Err(DigestError::DuplicateParam("realm".into()))
    );
    assert_eq!(
        Credentials::parse(r#"Digest realm="r", nonce="n", uri="u", response="00""#),
        Err(DigestError::MissingParam("username"))
    );
    assert_eq!(
        Credentials::parse(&format!("{base}, qop=auth, cnonce=\"c\"")),
        Err(DigestError::MissingParam("nc"))
    );
    assert_eq!(
        Credentials::parse(&format!("{base}, qop=auth, cnonce=\"c\", nc=1")),
        Err(DigestError::Malformed("nc must be 8 hex digits"))
    );
    assert_eq!(
        Credentials::parse(&format!("{base}, qop=auth-int, cnonce=\"c\", nc=00000001")),
        Err(DigestError::UnsupportedQop("auth-int".into()))
    );
    assert_eq!(
        Credentials::parse(&format!("{base}, algorithm=SHA-512-256")),
        Err(DigestError::UnsupportedAlgorithm("SHA-512-256".into()))
    );
    assert_eq!(
        Credentials::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        Err(DigestError::NotDigest)
    );
    assert!(matches!(
        Credentials::parse(r#"Digest username="a"#),
        Err(DigestError::Malformed(_))
    ));
    assert!(matches!(
        Credentials::parse(r#"Digest username="a" realm="r""#),
        Err(DigestError::Malformed(_))
    ));
    assert!(matches!(
        Credentials::parse("Digest username=\"a\r\nVia: x\""),
        Err(DigestError::Malformed(_))
    ));
    assert!(matches!(
        Credentials::parse(&format!("{base}, response2=")),
        Err(DigestError::Malformed(_))
    ));
    assert!(matches!(
        Credentials::parse(r#"Digest username="a", realm="r", nonce="n", uri="u", response="zz""#),
        Err(DigestError::Malformed(_))
    ));
    assert!(matches!(
        Credentials::parse(""),
        Err(DigestError::Malformed(_))
    ));
}

#[test]
fn challenges_offer_sha256_then_md5_with_one_nonce() {
    let v = verifier().with_opaque(Some("op".into()));
    let [sha, md5] = v.challenges(Duration::from_secs(10), &mut rng(), true);
    assert!(sha.starts_with("Digest realm=\"sip.example.com\", nonce=\""));
    assert!(sha.contains("algorithm=SHA-256, qop=\"auth\", opaque=\"op\", stale=true"));
    assert!(md5.contains("algorithm=MD5, qop=\"auth\""));
    let nonce_of = |h: &str| h.split("nonce=\"").nth(1).unwrap()[..64].to_owned();
    assert_eq!(nonce_of(&sha), nonce_of(&md5));
    let plain = Challenge {
        realm: "a\"b".into(),
        nonce: "n".into(),
        algorithm: Algorithm::Md5,
        qop_auth: false,
        opaque: None,
        stale: false,
    };
    assert_eq!(
        plain.to_string(),
        r#"Digest realm="a\"b", nonce="n", algorithm=MD5"#
    );
}

#[test]
fn right_password_is_ok_for_every_algorithm_and_both_secret_kinds() {
    let mut v = verifier();
    let t = Duration::from_secs(100);
    let mut r = rng();
    for alg in [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
    ] {
        for secret in [
            StoredSecret::Password("s3cret".into()),
            StoredSecret::ha1_from_password("alice", REALM, "s3cret"),
        ] {
            let nonce = v.issuer().mint(t, &mut r);
            let creds = alice(alg, &nonce, "s3cret", 1);
            // Round-trip through the header text, as the glue will see it.
            let creds = Credentials::parse(&creds.to_string()).unwrap();
            assert_eq!(
                v.verify(t, &creds, "REGISTER", &secret),
                Verdict::Ok,
                "{alg}"
            );
        }
    }
}

#[test]
fn wrong_password_fails() {
    let mut v = verifier();
    let t = Duration::from_secs(100);
    let nonce = v.issuer().mint(t, &mut rng());
    let creds = alice(Algorithm::Sha256, &nonce, "guess", 1);
    let secret = StoredSecret::Password("s3cret".into());
    assert_eq!(v.verify(t, &creds, "REGISTER", &secret), Verdict::Fail);
    // Also the method is covered by the response.
    let creds = alice(Algorithm::Sha256, &nonce, "s3cret", 2);
    assert_eq!(v.verify(t, &creds, "INVITE", &secret), Verdict::Fail);
}

#[test]
fn missing_ha1_for_the_chosen_algorithm_fails() {
    let mut v = verifier();
    let t = Duration::from_secs(100);
    let nonce = v.issuer().mint(t, &mut rng());
    let creds = alice(Algorithm::Sha256, &nonce, "s3cret", 1);
    let secret = StoredSecret::Ha1 {
        md5: Some(Algorithm::Md5.ha1("alice", REALM, "s3cret")),
        sha256: None,
    };
    assert_eq!(v.verify(t, &creds, "REGISTER", &secret), Verdict::Fail);
}

#[test]
fn stale_nonce_with_right_password_is_stale_and_with_wrong_password_fails() {
    let mut v = verifier();
    let issued = Duration::from_secs(100);
    let nonce = v.issuer().mint(issued, &mut rng());
    let secret = StoredSecret::Password("s3cret".into());
    let at_limit = issued + Duration::from_secs(300);
    let creds = alice(Algorithm::Md5, &nonce, "s3cret", 1);
    assert_eq!(v.verify(at_limit, &creds, "REGISTER", &secret), Verdict::Ok);
    let later = at_limit + Duration::from_millis(1);
    let creds = alice(Algorithm::Md5, &nonce, "s3cret", 2);
    assert_eq!(v.verify(later, &creds, "REGISTER", &secret), Verdict::Stale);
    let creds = alice(Algorithm::Md5, &nonce, "nope", 3);
    assert_eq!(v.verify(later, &creds, "REGISTER", &secret), Verdict::Fail);
    // A nonce from the future (epoch moved) is stale too, never valid forever.
    let future = v.issuer().mint(Duration::from_secs(10_000), &mut rng());
    assert_eq!(v.issuer().check(&future, issued), NonceStatus::Stale);
}

#[test]
fn tampered_or_foreign_nonce_is_invalid_and_fails() {
    let mut v = verifier();
    let t = Duration::from_secs(100);
    let nonce = v.issuer().mint(t, &mut rng());
    assert_eq!(v.issuer().check(&nonce, t), NonceStatus::Valid);
    // Flip the timestamp to "now" on an old nonce: the MAC no longer matches.
    let mut tampered = nonce.clone().into_bytes();
    tampered[15] = if tampered[15] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(v.issuer().check(&tampered, t), NonceStatus::Invalid);
    let other = NonceIssuer::new(
        b"another secret, 16+ bytes".to_vec(),
        Duration::from_secs(300),
        4,
    )
    .unwrap()
    .mint(t, &mut rng());
    assert_eq!(v.issuer().check(&other, t), NonceStatus::Invalid);
    assert_eq!(v.issuer().check("xyz", t), NonceStatus::Invalid);
    assert_eq!(v.issuer().check(&"g".repeat(64), t), NonceStatus::Invalid);
    let secret = StoredSecret::Password("s3cret".into());
    let creds = alice(Algorithm::Md5, &tampered, "s3cret", 1);
    assert_eq!(v.verify(t, &creds, "REGISTER", &secret), Verdict::Fail);
}

#[test]
fn replayed_nonce_count_fails_but_reordered_counts_pass() {
    let mut v = verifier();
    let t = Duration::from_secs(100);
    let nonce = v.issuer().mint(t, &mut rng());
    let secret = StoredSecret::Password("s3cret".into());
    let first = alice(Algorithm::Sha256, &nonce, "s3cret", 1);
    assert_eq!(v.verify(t, &first, "REGISTER", &secret), Verdict::Ok);
    assert_eq!(v.verify(t, &first, "REGISTER", &secret), Verdict::Fail);
    let third = alice(Algorithm::Sha256, &nonce, "s3cret", 3);
    let second = alice(Algorithm::Sha256, &nonce, "s3cret", 2);
    assert_eq!(v.verify(t, &third, "REGISTER", &secret), Verdict::Ok);
    assert_eq!(v.verify(t, &second, "REGISTER", &secret), Verdict::Ok);
    assert_eq!(v.verify(t, &second, "REGISTER", &secret), Verdict::Fail);
    let far = alice(Algorithm::Sha256, &nonce, "s3cret", 200);
    assert_eq!(v.verify(t, &far, "REGISTER", &secret), Verdict::Ok);
    let too_old = alice(Algorithm::Sha256, &nonce, "s3cret", 100);
    assert_eq!(v.verify(t, &too_old, "REGISTER", &secret), Verdict::Fail);
}

#[test]
fn replay_table_stays_bounded_and_evicted_nonces_become_stale_not_replayable() {
    let mut issuer = NonceIssuer::new(SECRET, Duration::from_secs(300), 3).unwrap();
    let t = Duration::from_secs(100);
    let mut r = rng();
    let nonces: Vec<String> = (0..5u64)
        .map(|i| issuer.mint(t + Duration::from_millis(i), &mut r))
        .collect();
    let now = t + Duration::from_millis(10);
    let older = issuer.mint(t - Duration::from_millis(1), &mut r);
    for n in &nonces {
        assert_eq!(issuer.accept_nc(n, 1, now), NcStatus::Fresh);
        assert!(issuer.tracked() <= 3);
    }
    // The two oldest were evicted: replaying them is refused, not accepted.
    assert_eq!(issuer.accept_nc(&nonces[0], 1, now), NcStatus::Evicted);
    assert_eq!(issuer.accept_nc(&nonces[1], 2, now), NcStatus::Evicted);
    assert_eq!(issuer.accept_nc(&nonces[4], 1, now), NcStatus::Replayed);
    assert_eq!(issuer.accept_nc(&nonces[4], 2, now), NcStatus::Fresh);
    // A newcomer older than everything tracked does not evict the younger ones.
    assert_eq!(issuer.accept_nc(&older, 1, now), NcStatus::Evicted);
    assert_eq!(issuer.accept_nc(&nonces[2], 2, now), NcStatus::Fresh);
    assert_eq!(issuer.tracked(), 3);
    // Expired entries are purged as time passes.
    let later = t + Duration::from_secs(400);
    let fresh = issuer.mint(later, &mut r);
    assert_eq!(issuer.accept_nc(&fresh, 1, later), NcStatus::Fresh);
    assert_eq!(issuer.tracked(), 1);
}

#[test]
fn rfc2069_response_needs_opt_in() {
    let t = Duration::from_secs(100);
    let secret = StoredSecret::Password("s3cret".into());
    let mut v = verifier();
    let nonce = v.issuer().mint(t, &mut rng());
    let creds = Credentials::answer(
        Algorithm::Md5,
        "alice",
        REALM,
        "s3cret",
        &nonce,
        "REGISTER",
        "sip:sip.example.com",
        None,
    );
    let creds = Credentials::parse(&creds.to_string()).unwrap();
    assert_eq!(v.verify(t, &creds, "REGISTER", &secret), Verdict::Fail);
    let mut v = v.allow_rfc2069(true);
    assert_eq!(v.verify(t, &creds, "REGISTER", &secret), Verdict::Ok);
}

#[test]
fn unknown_user_fails_like_a_wrong_password() {
    let t = Duration::from_secs(100);
    for ha1 in [false, true] {
        let mut v = verifier().dummy_uses_ha1(ha1);
        let nonce = v.issuer().mint(t, &mut rng());
        let creds = alice(Algorithm::Sha256, &nonce, "anything", 1);
        assert_eq!(v.verify_unknown_user(t, &creds, "REGISTER"), Verdict::Fail);
        // Even a stale nonce answers Fail, exactly as a wrong password would.
        let later = t + Duration::from_secs(301);
        assert_eq!(
            v.verify_unknown_user(later, &creds, "REGISTER"),
            Verdict::Fail
        );
        assert_eq!(v.issuer().tracked(), 0);
    }
}

#[test]
fn wrong_realm_fails() {
    let mut v = verifier();
    let t = Duration::from_secs(100);
    let nonce = v.issuer().mint(t, &mut rng());
    let mut creds = Credentials::answer(
        Algorithm::Md5,
        "alice",
        "other.realm",
        "s3cret",
        &nonce,
        "REGISTER",
        "sip:x",
        qop(1),
    );
    let secret = StoredSecret::Password("s3cret".into());
    assert_eq!(v.verify(t, &creds, "REGISTER", &secret), Verdict::Fail);
    creds.realm = REALM.into();
    assert_eq!(v.verify(t, &creds, "REGISTER", &secret), Verdict::Fail);
}

#[test]
fn short_secret_is_refused() {
    assert_eq!(
        NonceIssuer::new(b"short".to_vec(), Duration::from_secs(1), 1).err(),
        Some(DigestError::SecretTooShort)
    );
}

fn printable() -> impl Strategy<Value = String> {
    // Quotes, backslashes, commas, spaces and non-ASCII: everything but control chars.
    "[a-zA-Z0-9 ,=\"\\\\:@;/é€-]{0,24}"
}

proptest! {
    #[test]
    fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = Credentials::parse(&s);
        let _ = Credentials::parse(&format!("Digest {s}"));
    }

    #[test]
    fn parsing_digest_like_text_never_panics(s in "Digest[ a-z=\",\\\\0-9\t\r\n]{0,80}") {
        let _ = Credentials::parse(&s);
    }

    #[test]
    fn printed_credentials_parse_back_identically(
        username in printable(), realm in printable(), nonce in printable(),
        uri in printable(), response in "[0-9a-f]{1,64}", cnonce in printable(),
        nc in any::<u32>(), with_qop in any::<bool>(),
        opaque in proptest::option::of(printable()), alg in 0usize..4,
    ) {
        let algorithm = [Algorithm::Md5, Algorithm::Md5Sess, Algorithm::Sha256, Algorithm::Sha256Sess][alg];
        let creds = Credentials {
            username, realm, nonce, uri, response, algorithm, opaque,
            qop: with_qop.then(|| QopAuth { cnonce, nc: nc.into() }),
        };
        prop_assert_eq!(Credentials::parse(&creds.to_string()), Ok(creds));
    }

    #[test]
    fn checking_any_nonce_text_never_panics(s in ".{0,80}") {
        let issuer = NonceIssuer::new(SECRET, Duration::from_secs(300), 4).unwrap();
        prop_assert_ne!(issuer.check(&s, Duration::from_secs(1)), NonceStatus::Valid);
    }
}

#[test]
fn a_servers_challenge_is_parsed_and_answered_as_its_verifier_expects() {
    let header = r#"Digest realm="carrier.example", nonce="abc123", algorithm=MD5, qop="auth,auth-int", opaque="xyz", stale=TRUE"#;
    let challenge = Challenge::parse(header).expect("a valid challenge");
    assert_eq!(challenge.realm, "carrier.example");
    assert_eq!(challenge.nonce, "abc123");
    assert_eq!(challenge.algorithm, Algorithm::Md5);
    assert!(challenge.qop_auth);
    assert_eq!(challenge.opaque.as_deref(), Some("xyz"));
    assert!(challenge.stale);
    // What the switch renders, it reads back.
    assert_eq!(
        Challenge::parse(&challenge.to_string()),
        Ok(challenge.clone())
    );

    let credentials = challenge.answer(
        "trunk1",
        "s3cret",
        "REGISTER",
        "sip:carrier.example",
        "c0ffee",
        1,
    );
    assert_eq!(credentials.opaque.as_deref(), Some("xyz"));
    assert_eq!(
        credentials.qop.as_ref().map(|q| q.nc.as_str()),
        Some("00000001")
    );
    let ha1 = Algorithm::Md5.ha1("trunk1", "carrier.example", "s3cret");
    let expected = compute_response(
        Algorithm::Md5,
        &ha1,
        "abc123",
        "REGISTER",
        "sip:carrier.example",
        credentials.qop.as_ref(),
    );
    assert_eq!(credentials.response, expected);
    // The rendered credentials parse back as a server would read them.
    assert_eq!(
        Credentials::parse(&credentials.to_string()),
        Ok(credentials)
    );
}

#[test]
fn a_challenge_without_realm_or_nonce_or_with_only_auth_int_is_refused() {
    assert_eq!(
        Challenge::parse(r#"Digest nonce="n""#),
        Err(DigestError::MissingParam("realm"))
    );
    assert_eq!(
        Challenge::parse(r#"Digest realm="r""#),
        Err(DigestError::MissingParam("nonce"))
    );
    assert!(matches!(
        Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-int""#),
        Err(DigestError::UnsupportedQop(_))
    ));
    assert_eq!(
        Challenge::parse(r#"Basic realm="r""#),
        Err(DigestError::NotDigest)
    );
    let rfc2069 = Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=SHA-256"#).unwrap();
    assert!(!rfc2069.qop_auth);
    assert!(
        rfc2069
            .answer("u", "p", "INVITE", "sip:x", "c", 1)
            .qop
            .is_none()
    );
}
