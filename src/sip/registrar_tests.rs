//! Tests of `registrar`.
use super::*;
use proptest::prelude::*;

const SRC: &str = "203.0.113.7:5062";

/// The origin of virtual time; only the differences from it matter.
fn t0() -> Instant {
    crate::runtime::clock::now()
}

fn aor() -> Aor {
    Aor::parse("sip:alice@example.com").unwrap()
}

fn reg(call_id: &str, cseq: u32, contacts: ContactsSpec, expires: Option<u32>) -> RegisterInput {
    RegisterInput {
        aor: aor(),
        call_id: call_id.into(),
        cseq,
        contacts,
        expires_header: expires,
        source: SRC.parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn list(contacts: &[ContactInput]) -> ContactsSpec {
    ContactsSpec::List(contacts.to_vec())
}

fn drain(r: &mut Registrar) -> Vec<Output> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

fn contacts(r: &Registrar, now: Instant) -> Vec<String> {
    r.lookup(now, &aor())
        .iter()
        .map(|b| b.contact_uri.clone())
        .collect()
}

#[test]
fn aor_is_canonical_user_at_lowercase_domain() {
    let a = Aor::parse("<SIPS:Alice:pw@Example.COM:5061;transport=tls?subject=x>").unwrap();
    assert_eq!(a.as_str(), "Alice@example.com");
    assert_eq!(a.user(), "Alice");
    assert_eq!(a.domain(), "example.com");
    assert_eq!(
        Aor::parse("al%69ce@[2001:DB8::1]:5060").unwrap().as_str(),
        "alice@[2001:db8::1]"
    );
    assert_eq!(Aor::parse("a%40b@x").unwrap().as_str(), "a%40b@x");
    assert!(Aor::parse("sip:example.com").is_err());
    assert!(Aor::parse("sip:@example.com").is_err());
    assert!(Aor::parse("sip:a@").is_err());
    assert!(Aor::parse("sip:a b@x").is_err());
    assert!(Aor::parse("sip:a@b@c").is_err());
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<Aor>(&json).unwrap(), a);
}

#[test]
fn register_creates_binding_routed_to_the_source_and_persisted() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    let out = r
        .handle_register(
            t0,
            reg(
                "c1",
                1,
                list(&[ContactInput::new("sip:alice@10.0.0.5:5060")]),
                Some(600),
            ),
        )
        .unwrap();
    assert_eq!(out.bindings.len(), 1);
    assert_eq!(out.bindings[0].expires_param(), 600);
    let b = r.lookup(t0, &aor())[0];
    assert_eq!(b.received, Some(SRC.parse().unwrap()));
    let outputs = drain(&mut r);
    assert!(
        matches!(&outputs[0], Output::Registered { contact, .. } if contact == "sip:alice@10.0.0.5:5060")
    );
    assert!(
        matches!(&outputs[1], Output::Persist(BindingChange::Upsert { binding, .. }) if binding.cseq == 1)
    );
    assert_eq!(outputs.len(), 2);
}

#[test]
fn bindings_expire_exactly_on_time() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg("c1", 1, list(&[ContactInput::new("sip:a@h1")]), Some(120)),
    )
    .unwrap();
    r.handle_register(
        t0 + Duration::from_secs(10),
        reg("c2", 1, list(&[ContactInput::new("sip:a@h2")]), Some(300)),
    )
    .unwrap();
    drain(&mut r);

    let first = r.poll_timeout().unwrap();
    assert_eq!(first, t0 + Duration::from_secs(120));
    // One nanosecond before, still there; at the deadline, gone.
    let just_before = first - Duration::from_nanos(1);
    r.handle_timeout(just_before);
    assert_eq!(drain(&mut r), vec![]);
    assert_eq!(contacts(&r, just_before), vec!["sip:a@h2", "sip:a@h1"]);
    assert_eq!(contacts(&r, first), vec!["sip:a@h2"]);
    r.handle_timeout(first);
    assert_eq!(
        drain(&mut r),
        vec![
            Output::BindingExpired {
                aor: aor(),
                contact: "sip:a@h1".into()
            },
            remove(&aor(), "sip:a@h1".into()),
        ]
    );
    let second = r.poll_timeout().unwrap();
    assert_eq!(second, t0 + Duration::from_secs(310));
    r.handle_timeout(second);
    assert_eq!(drain(&mut r).len(), 2);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.binding_count(), 0);
}

#[test]
fn poll_timeout_is_never_at_or_before_a_handled_deadline() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    for (i, secs) in [60u32, 60, 61, 3600, 90].into_iter().enumerate() {
        let c = ContactInput::new(format!("sip:a@h{i}")).expires(secs);
        r.handle_register(t0, reg(&format!("c{i}"), 1, list(&[c]), None))
            .unwrap();
    }
    let mut steps = 0;
    while let Some(deadline) = r.poll_timeout() {
        r.handle_timeout(deadline);
        assert!(r.poll_timeout().is_none_or(|next| next > deadline));
        steps += 1;
    }
    assert_eq!(steps, 4); // two bindings share the 60 s deadline
    // Time going backwards changes nothing.
    r.handle_register(
        t0 + Duration::from_secs(4000),
        reg("z", 1, list(&[ContactInput::new("sip:z@h")]), None),
    )
    .unwrap();
    r.handle_timeout(t0);
    assert_eq!(r.binding_count(), 1);
}

#[test]
fn too_brief_interval_is_423_and_changes_nothing() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    let err = r
        .handle_register(
            t0,
            reg(
                "c1",
                1,
                list(&[
                    ContactInput::new("sip:a@h1"),
                    ContactInput::new("sip:a@h2").expires(59),
                ]),
                Some(600),
            ),
        )
        .unwrap_err();
    assert_eq!(
        err,
        RegisterError::IntervalTooBrief {
            min_expires: Duration::from_secs(60)
        }
    );
    assert_eq!(err.status().0, 423);
    // The header value applies when the contact has no parameter.
    let err = r
        .handle_register(
            t0,
            reg("c1", 2, list(&[ContactInput::new("sip:a@h1")]), Some(30)),
        )
        .unwrap_err();
    assert_eq!(err.status().0, 423);
    assert_eq!(r.binding_count(), 0);
    assert_eq!(drain(&mut r), vec![]);
    // Exactly the minimum is fine; longer than the maximum is cut down.
    let out = r
        .handle_register(
            t0,
            reg(
                "c1",
                3,
                list(&[
                    ContactInput::new("sip:a@h1").expires(60),
                    ContactInput::new("sip:a@h2").expires(86_400),
                ]),
                None,
            ),
        )
        .unwrap();
    let mut granted: Vec<u32> = out
        .bindings
        .iter()
        .map(CurrentBinding::expires_param)
        .collect();
    granted.sort_unstable();
    assert_eq!(granted, vec![60, 3600]);
}

#[test]
fn default_expiry_applies_without_header_or_parameter() {
    let t0 = t0();
    let config = RegistrarConfig {
        default_expires: Duration::from_secs(1800),
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(config);
    let out = r
        .handle_register(
            t0,
            reg("c1", 1, list(&[ContactInput::new("sip:a@h1")]), None),
        )
        .unwrap();
    assert_eq!(out.bindings[0].expires_in, Duration::from_secs(1800));
}

#[test]
fn wildcard_unregisters_everything_but_only_with_expires_zero_and_alone() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg(
            "c1",
            1,
            list(&[ContactInput::new("sip:a@h1"), ContactInput::new("sip:a@h2")]),
            None,
        ),
    )
    .unwrap();
    r.handle_register(
        t0,
        reg("other", 7, list(&[ContactInput::new("sip:a@h3")]), None),
    )
    .unwrap();
    drain(&mut r);
    let err = r
        .handle_register(t0, reg("c1", 2, ContactsSpec::Wildcard, None))
        .unwrap_err();
    assert_eq!(err.status().0, 400);
    let err = r
        .handle_register(t0, reg("c1", 2, ContactsSpec::Wildcard, Some(3600)))
        .unwrap_err();
    assert_eq!(err.status().0, 400);
    let err = r
        .handle_register(
            t0,
            reg(
                "c1",
                2,
                list(&[ContactInput::new("sip:a@h1"), ContactInput::new("*")]),
                Some(0),
            ),
        )
        .unwrap_err();
    assert_eq!(err.status().0, 400);
    assert_eq!(r.binding_count(), 3);

    let out = r
        .handle_register(t0, reg("c1", 2, ContactsSpec::Wildcard, Some(0)))
        .unwrap();
    assert!(out.bindings.is_empty());
    assert_eq!(r.binding_count(), 0);
    assert_eq!(r.poll_timeout(), None);
    let outputs = drain(&mut r);
    assert_eq!(
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Unregistered { .. }))
            .count(),
        3
    );
    assert_eq!(
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Persist(BindingChange::Remove { .. })))
            .count(),
        3
    );
}

#[test]
fn wildcard_with_stale_cseq_is_out_of_order() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg("c1", 5, list(&[ContactInput::new("sip:a@h1")]), None),
    )
    .unwrap();
    let err = r
        .handle_register(t0, reg("c1", 5, ContactsSpec::Wildcard, Some(0)))
        .unwrap_err();
    assert_eq!(err, RegisterError::OutOfOrder);
    assert_eq!(r.binding_count(), 1);
}

#[test]
fn expires_zero_removes_one_of_two_contacts() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg(
            "c1",
            1,
            list(&[ContactInput::new("sip:a@h1"), ContactInput::new("sip:a@h2")]),
            Some(600),
        ),
    )
    .unwrap();
    drain(&mut r);
    let t1 = t0 + Duration::from_secs(5);
    let out = r
        .handle_register(
            t1,
            reg(
                "c1",
                2,
                list(&[ContactInput::new("SIP:a@H1").expires(0)]),
                Some(600),
            ),
        )
        .unwrap();
    assert_eq!(out.bindings.len(), 1);
    assert_eq!(out.bindings[0].contact_uri, "sip:a@h2");
    assert_eq!(out.bindings[0].expires_in, Duration::from_secs(595));
    assert_eq!(
        drain(&mut r),
        vec![
            Output::Unregistered {
                aor: aor(),
                contact: "sip:a@h1".into()
            },
            remove(&aor(), "sip:a@h1".into()),
        ]
    );
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(600)));
    // Removing a contact that is not bound is a no-op, not an error.
    r.handle_register(
        t1,
        reg(
            "c1",
            3,
            list(&[ContactInput::new("sip:a@nowhere").expires(0)]),
            None,
        ),
    )
    .unwrap();
    assert_eq!(drain(&mut r), vec![]);
}

#[test]
fn refresh_extends_the_binding_without_a_new_registered_event() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg("c1", 1, list(&[ContactInput::new("sip:a@h1")]), Some(300)),
    )
    .unwrap();
    drain(&mut r);
    let t1 = t0 + Duration::from_secs(250);
    let out = r
        .handle_register(
            t1,
            reg("c1", 2, list(&[ContactInput::new("sip:a@h1")]), Some(300)),
        )
        .unwrap();
    assert_eq!(out.bindings[0].expires_in, Duration::from_secs(300));
    let outputs = drain(&mut r);
    assert_eq!(outputs.len(), 1);
    assert!(
        matches!(&outputs[0], Output::Persist(BindingChange::Upsert { binding, .. })
        if binding.expires_at == t1 + Duration::from_secs(300) && binding.cseq == 2)
    );
    assert_eq!(r.poll_timeout(), Some(t1 + Duration::from_secs(300)));
    r.handle_timeout(t0 + Duration::from_secs(300));
    assert_eq!(
        contacts(&r, t0 + Duration::from_secs(300)),
        vec!["sip:a@h1"]
    );
    assert_eq!(r.binding_count(), 1);
    // A rebooted phone (new Call-ID, lower CSeq) may refresh too.
    r.handle_register(
        t1,
        reg("c9", 1, list(&[ContactInput::new("sip:a@h1")]), Some(300)),
    )
    .unwrap();
}

#[test]
fn out_of_order_cseq_is_refused_and_nothing_is_applied() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg("c1", 10, list(&[ContactInput::new("sip:a@h1")]), Some(300)),
    )
    .unwrap();
    drain(&mut r);
    for stale in [9, 10] {
        let input = reg(
            "c1",
            stale,
            list(&[
                ContactInput::new("sip:a@new"),
                ContactInput::new("sip:a@h1").expires(0),
            ]),
            Some(300),
        );
        let err = r.handle_register(t0, input).unwrap_err();
        assert_eq!(err, RegisterError::OutOfOrder);
        assert_eq!(err.status().0, 500);
    }
    assert_eq!(contacts(&r, t0), vec!["sip:a@h1"]);
    assert_eq!(drain(&mut r), vec![]);
}

#[test]
fn binding_cap_is_403_but_refreshes_still_pass() {
    let t0 = t0();
    let config = RegistrarConfig {
        max_bindings_per_aor: 2,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(config);
    r.handle_register(
        t0,
        reg(
            "c1",
            1,
            list(&[ContactInput::new("sip:a@h1"), ContactInput::new("sip:a@h2")]),
            None,
        ),
    )
    .unwrap();
    let err = r
        .handle_register(
            t0,
            reg("c3", 1, list(&[ContactInput::new("sip:a@h3")]), None),
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::TooManyBindings { max: 2 });
    assert_eq!(err.status().0, 403);
    // Swapping one contact for another in one request stays within the cap.
    r.handle_register(
        t0,
        reg(
            "c1",
            2,
            list(&[
                ContactInput::new("sip:a@h1").expires(0),
                ContactInput::new("sip:a@h3"),
            ]),
            None,
        ),
    )
    .unwrap();
    assert_eq!(r.binding_count(), 2);
}

#[test]
fn duplicate_contact_and_bad_q_are_400() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    let dup = list(&[ContactInput::new("sip:a@h1"), ContactInput::new("sip:a@H1")]);
    assert_eq!(
        r.handle_register(t0, reg("c1", 1, dup, None))
            .unwrap_err()
            .status()
            .0,
        400
    );
    for q in [1.5, -0.1, f32::NAN] {
        let bad = list(&[ContactInput::new("sip:a@h1").q(q)]);
        assert_eq!(
            r.handle_register(t0, reg("c1", 1, bad, None))
                .unwrap_err()
                .status()
                .0,
            400
        );
    }
}

#[test]
fn lookup_orders_by_q_then_most_recent_and_query_lists_bindings() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg(
            "c1",
            1,
            list(&[ContactInput::new("sip:a@low").q(0.1)]),
            None,
        ),
    )
    .unwrap();
    r.handle_register(
        t0 + Duration::from_secs(1),
        reg("c2", 1, list(&[ContactInput::new("sip:a@old")]), None),
    )
    .unwrap();
    r.handle_register(
        t0 + Duration::from_secs(2),
        reg("c3", 1, list(&[ContactInput::new("sip:a@new")]), None),
    )
    .unwrap();
    r.handle_register(
        t0 + Duration::from_secs(3),
        reg(
            "c4",
            1,
            list(&[ContactInput::new("sip:a@mid").q(0.5)]),
            None,
        ),
    )
    .unwrap();
    let t = t0 + Duration::from_secs(4);
    assert_eq!(
        contacts(&r, t),
        vec!["sip:a@new", "sip:a@old", "sip:a@mid", "sip:a@low"]
    );
    let out = r
        .handle_register(t, reg("q", 1, ContactsSpec::None, None))
        .unwrap();
    let listed: Vec<&str> = out
        .bindings
        .iter()
        .map(|b| b.contact_uri.as_str())
        .collect();
    assert_eq!(
        listed,
        vec!["sip:a@new", "sip:a@old", "sip:a@mid", "sip:a@low"]
    );
    assert_eq!(
        r.lookup(t, &Aor::parse("sip:bob@example.com").unwrap()),
        Vec::<&Binding>::new()
    );
}

#[test]
fn outbound_instance_replaces_binding_whatever_its_uri() {
    let t0 = t0();
    let mut r = Registrar::new(RegistrarConfig::default());
    let inst = "urn:uuid:00000000-0000-1000-8000-000A95A0E128";
    r.handle_register(
        t0,
        reg(
            "c1",
            1,
            list(&[ContactInput::new("sip:a@10.0.0.1").instance(inst, Some(1))]),
            None,
        ),
    )
    .unwrap();
    drain(&mut r);
    r.handle_register(
        t0,
        reg(
            "c2",
            1,
            list(&[ContactInput::new("sip:a@10.0.0.2").instance(inst, Some(1))]),
            None,
        ),
    )
    .unwrap();
    assert_eq!(contacts(&r, t0), vec!["sip:a@10.0.0.2"]);
    let outputs = drain(&mut r);
    assert_eq!(outputs[0], remove(&aor(), "sip:a@10.0.0.1".into()));
    assert!(matches!(
        &outputs[1],
        Output::Persist(BindingChange::Upsert { .. })
    ));
}

#[test]
fn restore_reloads_persisted_bindings_with_remaining_time() {
    let t0 = t0();
    let unix0 = 1_700_000_000;
    let mut r = Registrar::new(RegistrarConfig::default());
    r.handle_register(
        t0,
        reg(
            "c1",
            4,
            list(&[ContactInput::new("sip:a@h1").q(0.7)]),
            Some(600),
        ),
    )
    .unwrap();
    let t1 = t0 + Duration::from_millis(100_500);
    let persisted = r.lookup(t1, &aor())[0].to_persisted(t1, unix0 + 100);
    assert_eq!(persisted.expires_unix, unix0 + 600); // 499.5 s left, rounded up
    let json = serde_json::to_string(&persisted).unwrap();
    let persisted: PersistedBinding = serde_json::from_str(&json).unwrap();

    // A fresh process 200 s later (wall clock), with its own monotonic clock.
    let s0 = t0 + Duration::from_secs(7);
    let mut restarted = Registrar::new(RegistrarConfig::default());
    assert!(restarted.restore(s0, unix0 + 200, aor(), persisted.clone()));
    assert_eq!(drain(&mut restarted), vec![]);
    let b = restarted.lookup(s0, &aor())[0].clone();
    assert_eq!(b.expires_at, s0 + Duration::from_secs(400));
    assert_eq!((b.cseq, b.call_id.as_str(), b.q), (4, "c1", Some(0.7)));
    assert_eq!(b.received, Some(SRC.parse().unwrap()));
    assert_eq!(
        restarted.poll_timeout(),
        Some(s0 + Duration::from_secs(400))
    );
    // Restoring twice does not duplicate; ordering checks still apply afterwards.
    assert!(restarted.restore(s0, unix0 + 200, aor(), persisted.clone()));
    assert_eq!(restarted.binding_count(), 1);
    let err = restarted.handle_register(
        s0,
        reg("c1", 4, list(&[ContactInput::new("sip:a@h1")]), None),
    );
    assert_eq!(err.unwrap_err(), RegisterError::OutOfOrder);
    // A lapsed row is dropped and its removal requested.
    let mut late = Registrar::new(RegistrarConfig::default());
    assert!(!late.restore(s0, unix0 + 600, aor(), persisted));
    assert_eq!(drain(&mut late), vec![remove(&aor(), "sip:a@h1".into())]);
    assert_eq!(late.binding_count(), 0);
}

#[test]
fn contact_uris_match_on_a_normalised_form() {
    assert_eq!(
        normalise_uri("SIP:Bob@Host.COM;Transport=UDP;lr"),
        normalise_uri("sip:Bob@host.com;lr;transport=udp")
    );
    assert_ne!(
        normalise_uri("sip:Bob@host.com"),
        normalise_uri("sip:bob@host.com")
    );
    assert_ne!(
        normalise_uri("sip:bob@host.com"),
        normalise_uri("sip:bob@host.com:5060")
    );
}

proptest! {
    #[test]
    fn parsing_any_aor_text_never_panics(s in ".{0,60}") {
        if let Ok(a) = Aor::parse(&s) {
            prop_assert_eq!(Aor::parse(a.as_str()), Ok(a.clone()));
        }
        let _ = normalise_uri(&s);
    }

    #[test]
    fn random_register_sequences_keep_index_and_poll_timeout_consistent(
        ops in proptest::collection::vec((0u8..4, 0u8..4, 0u32..5000, 0u64..2000), 1..40)
    ) {
        let t0 = t0();
        let config = RegistrarConfig { max_bindings_per_aor: 3, ..RegistrarConfig::default() };
        let mut r = Registrar::new(config);
        let mut now = t0;
        let mut cseq = 0;
        for (contact, call, expires, dt) in ops {
            now += Duration::from_secs(dt);
            cseq += 1;
            let c = ContactInput::new(format!("sip:a@h{contact}")).expires(expires);
            let _ = r.handle_register(now, reg(&format!("c{call}"), cseq, list(&[c]), None));
            let live: usize = r.aors.values().map(Vec::len).sum();
            prop_assert_eq!(live, r.binding_count());
            prop_assert!(r.aors.values().all(|s| s.len() <= 3));
            prop_assert!(r.poll_timeout().is_none_or(|t| t > now));
            if let Some(deadline) = r.poll_timeout() {
                r.handle_timeout(deadline);
                prop_assert!(r.poll_timeout().is_none_or(|t| t > deadline));
                now = deadline;
            }
        }
    }
}

#[test]
fn a_source_address_is_a_devices_while_a_binding_from_it_lives() {
    let t0 = t0();
    let ip = SRC.parse::<SocketAddr>().unwrap().ip();
    let mut r = Registrar::new(RegistrarConfig::default());
    assert!(!r.has_binding_from(ip));
    let two = list(&[
        ContactInput::new("sip:alice@10.0.0.5:5060"),
        ContactInput::new("sip:alice@10.0.0.6:5060").expires(120),
    ]);
    r.handle_register(t0, reg("c1", 1, two, Some(600))).unwrap();
    assert!(r.has_binding_from(ip));
    assert!(!r.has_binding_from("203.0.113.8".parse().unwrap()));
    // One binding lapses; the other still makes the address a device's.
    r.handle_timeout(t0 + Duration::from_secs(121));
    assert!(r.has_binding_from(ip));
    // Unregistering the last one forgets the address.
    let last = list(&[ContactInput::new("sip:alice@10.0.0.5:5060").expires(0)]);
    r.handle_register(t0 + Duration::from_secs(122), reg("c1", 2, last, None))
        .unwrap();
    assert!(!r.has_binding_from(ip));
}
