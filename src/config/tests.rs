use super::*;

fn default_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sip-profiles/default.toml"
    ))
    .unwrap()
}

#[test]
fn the_default_profile_loads_with_twenty_extensions() {
    let p = Profile::parse(&default_text(), Path::new("default.toml")).unwrap();
    assert_eq!(p.extensions.len(), 20);
    assert_eq!(p.extensions[0].user, "1000");
    assert_eq!(p.extensions[19].user, "1019");
    assert_eq!(p.sip.listen.port(), 5060);
}

#[test]
fn every_phone_can_answer_the_default_challenge() {
    // baresip 1.0 and SIPp 3.6 give up on a challenge set that names SHA-256 at all.
    let p = Profile::parse(&default_text(), Path::new("default.toml")).unwrap();
    assert_eq!(p.sip.digest_algorithms, ["MD5"]);
    let bare = default_text().replace("digest_algorithms = [\"MD5\"]\n", "");
    let p = Profile::parse(&bare, Path::new("default.toml")).unwrap();
    assert_eq!(p.sip.digest_algorithms, ["MD5"], "the built-in default");
}

#[test]
fn an_extension_may_be_set_to_sha256_alone_but_not_to_an_unknown_algorithm() {
    let sha = default_text().replace(
        "display_name = \"Extension 1000\" }",
        "display_name = \"Extension 1000\", digest_algorithms = [\"SHA-256\"] }",
    );
    let p = Profile::parse(&sha, Path::new("default.toml")).unwrap();
    assert_eq!(
        p.extensions[0].digest_algorithms.as_deref(),
        Some(&["SHA-256".to_owned()][..])
    );
    let bad = sha.replace("[\"SHA-256\"] }", "[\"SHA-512\"] }");
    let err = Profile::parse(&bad, Path::new("default.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("extensions.digest_algorithms"), "{err}");
}

#[test]
fn an_unknown_key_names_the_key_and_the_file() {
    let text = default_text().replace("[sip]\n", "[sip]\nringtimeout = 3\n");
    let err = Profile::parse(&text, Path::new("lab.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lab.toml") && err.contains("ringtimeout"),
        "{err}"
    );
}

#[test]
fn the_default_profile_seeds_a_lab_admin() {
    let p = Profile::parse(&default_text(), Path::new("default.toml")).unwrap();
    assert_eq!(p.cti.admin_id.as_deref(), Some("admin"));
    assert!(!format!("{p:?}").contains(p.cti.admin_password.as_deref().unwrap()));
}

#[test]
fn an_unknown_cti_key_or_a_lone_admin_id_is_an_error_naming_the_key() {
    let text = default_text().replace("[cti]\n", "[cti]\nadmin_pw = \"x\"\n");
    let err = Profile::parse(&text, Path::new("lab.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lab.toml") && err.contains("admin_pw"),
        "{err}"
    );

    let text = default_text().replace("admin_id = ", "# admin_id = ");
    let err = Profile::parse(&text, Path::new("lab.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cti.admin_id"), "{err}");

    let text = default_text().replace("admin_password = ", "# admin_password = ");
    let p = Profile::parse(&text, Path::new("lab.toml")).unwrap();
    assert_eq!(
        p.cti.admin_id.as_deref(),
        Some("admin"),
        "generated at first start"
    );
    assert_eq!(p.cti.admin_password, None);
}

#[test]
fn sip_guard_and_tcp_limits_are_read_and_zeroes_refused_naming_the_key() {
    let p = Profile::parse(&default_text(), Path::new("lab.toml")).unwrap();
    assert_eq!(
        p.sip.auth_guard.policy(),
        crate::sip::auth_guard::AuthPolicy::default()
    );
    assert_eq!(p.sip.tcp.idle_timeout_secs, 300);
    let p = Profile::parse(&container_text(), Path::new("c.toml")).unwrap();
    assert_eq!(p.sip.tcp.max_per_source, 64, "the built-in default");
    for (line, key) in [
        ("ban_after = 20", "sip.auth_guard.ban_after"),
        ("max_per_source = 64", "sip.tcp.max_per_source"),
        ("idle_timeout_secs = 300", "sip.tcp.idle_timeout_secs"),
    ] {
        let (name, _) = line.split_once(" = ").unwrap();
        let text = default_text().replacen(line, &format!("{name} = 0"), 1);
        let err = Profile::parse(&text, Path::new("lab.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{err}");
    }
    let text = default_text().replacen("ban_after = 20", "ban_after = 2", 1);
    let err = Profile::parse(&text, Path::new("lab.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sip.auth_guard.ban_after"), "{err}");
}

fn container_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sip-profiles/container.toml"
    ))
    .unwrap()
}

#[test]
fn the_default_profile_names_its_lab_secrets_and_listens_on_loopback_only() {
    let p = Profile::parse(&default_text(), Path::new("default.toml")).unwrap();
    assert!(p.public_listeners().is_empty());
    let secrets = p.lab_secrets();
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    assert!(secrets[0].contains("1000, 1001") && secrets[0].contains("1019"));
    assert!(secrets[1].contains("cti.admin_password"));
    assert!(
        !secrets.concat().contains("lab-admin-secret"),
        "never the secret itself"
    );
}

#[test]
fn the_container_profile_has_no_extensions_and_no_secrets() {
    let p = Profile::parse(&container_text(), Path::new("container.toml")).unwrap();
    assert!(p.extensions.is_empty());
    assert!(p.lab_secrets().is_empty());
    assert_eq!(p.cti.admin_password, None);
    assert_eq!(p.cti.admin_id.as_deref(), Some("admin"));
    let public: Vec<&str> = p.public_listeners().iter().map(|(key, _)| *key).collect();
    assert_eq!(public, ["sip.listen", "http.listen"]);
}

#[test]
fn srtp_defaults_to_tls_only_and_the_plain_signalling_switch_keeps_the_switch_on_loopback() {
    let p = Profile::parse(&container_text(), Path::new("container.toml")).unwrap();
    assert_eq!(p.media.srtp_policy(), crate::call::SrtpPolicy::default());
    let text = container_text().replace(
        "[media]\n",
        "[media]\nsrtp = \"off\"\nsdes_over_plain_signalling = true\n",
    );
    let p = Profile::parse(&text, Path::new("container.toml")).unwrap();
    assert_eq!(p.media.srtp_policy().mode, crate::call::SrtpMode::Off);
    let refused = p.lab_secrets();
    assert!(
        refused
            .iter()
            .any(|s| s.contains("media.sdes_over_plain_signalling")),
        "{refused:?}"
    );
    let typo = container_text().replace("[media]\n", "[media]\nsrtp = \"always\"\n");
    assert!(Profile::parse(&typo, Path::new("container.toml")).is_err());
}

#[test]
fn lab_extension_passwords_are_recognised_by_their_shape() {
    assert!(is_lab_extension_password("lab-1000-secret"));
    assert!(is_lab_extension_password("lab-2042-secret"));
    assert!(!is_lab_extension_password("lab--secret"));
    assert!(!is_lab_extension_password("a-long-random-secret"));
}

#[test]
fn a_bad_value_names_the_key_and_the_file() {
    let text = default_text().replace("rtp_port_min = 20000", "rtp_port_min = 20001");
    let err = Profile::parse(&text, Path::new("lab.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lab.toml") && err.contains("media.rtp_port_min"),
        "{err}"
    );
}

#[cfg(feature = "server")]
/// The default profile with `section` appended, as if read from `dir/lab.toml`.
fn with_section(dir: &Path, section: &str) -> Result<Profile, String> {
    let text = format!("{}\n{section}", default_text());
    Profile::parse(&text, &dir.join("lab.toml")).map_err(|e| e.to_string())
}

#[cfg(feature = "server")]
#[test]
fn tls_sections_are_read_with_files_relative_to_the_profile() {
    let (_, files) = crate::tls::test_files("config");
    let dir = files.cert.parent().unwrap();
    let p = with_section(
        dir,
        "[sip.tls]\nlisten = \"127.0.0.1:5061\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let tls = p.sip.tls.as_ref().unwrap();
    assert_eq!(tls.listen, Some("127.0.0.1:5061".parse().unwrap()));
    assert_eq!(p.tls_files(tls), files);
    assert!(p.http.tls.is_none());
    let text = default_text().replace(
        "[http]\n",
        "[http.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n[http]\n",
    );
    let p = Profile::parse(&text, &dir.join("lab.toml")).unwrap();
    assert_eq!(p.tls_files(p.http.tls.as_ref().unwrap()), files);
}

#[test]
fn the_default_profile_has_no_tls() {
    let p = Profile::parse(&default_text(), Path::new("default.toml")).unwrap();
    assert!(p.sip.tls.is_none() && p.http.tls.is_none());
}

#[cfg(feature = "server")]
#[test]
fn a_bad_tls_section_names_the_key_and_the_file() {
    let (_, files) = crate::tls::test_files("config-bad");
    let dir = files.cert.parent().unwrap();
    std::fs::write(dir.join("junk.pem"), "-----BEGIN NOTHING-----\n").unwrap();
    let sip = |body: &str| with_section(dir, &format!("[sip.tls]\n{body}")).unwrap_err();
    let listen = "listen = \"127.0.0.1:5061\"\n";
    for (body, key) in [
        (
            format!("{listen}cert = \"cert.pem\"\nkey = \"key.pem\"\nciphers = 1\n"),
            "ciphers",
        ),
        (
            "cert = \"cert.pem\"\nkey = \"key.pem\"\n".to_owned(),
            "sip.tls.listen",
        ),
        (format!("{listen}key = \"key.pem\"\n"), "cert"),
        (
            format!("{listen}cert = \"missing.pem\"\nkey = \"key.pem\"\n"),
            "sip.tls.cert",
        ),
        (
            format!("{listen}cert = \"junk.pem\"\nkey = \"key.pem\"\n"),
            "sip.tls.cert",
        ),
        (
            format!("{listen}cert = \"cert.pem\"\nkey = \"cert.pem\"\n"),
            "sip.tls.key",
        ),
        (
            "listen = \"127.0.0.1:5060\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n".to_owned(),
            "sip.tls.listen",
        ),
    ] {
        let err = sip(&body);
        assert!(
            err.contains("lab.toml") && err.contains(key),
            "{key}: {err}"
        );
    }
    let err = with_section(
        dir,
        "[http.tls]\nlisten = \"127.0.0.1:8443\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap_err();
    assert!(err.contains("http.tls.listen"), "{err}");
    let (_, other) = crate::tls::test_files("config-other");
    let foreign = format!(
        "[http.tls]\ncert = \"cert.pem\"\nkey = \"{}\"\n",
        other.key.display()
    );
    let err = with_section(dir, &foreign).unwrap_err();
    assert!(
        err.contains("http.tls.key") && err.contains("does not fit"),
        "{err}"
    );
}

#[cfg(feature = "server")]
#[test]
fn a_public_tls_listener_counts_as_public() {
    let (_, files) = crate::tls::test_files("config-public");
    let dir = files.cert.parent().unwrap();
    let p = with_section(
        dir,
        "[sip.tls]\nlisten = \"0.0.0.0:5061\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let public: Vec<&str> = p.public_listeners().iter().map(|(key, _)| *key).collect();
    assert_eq!(public, ["sip.tls.listen"]);
}

#[test]
fn trunks_are_read_and_a_bad_source_or_a_twice_listed_name_is_refused() {
    let p = Profile::parse(&default_text(), Path::new("default.toml")).unwrap();
    let trunks = p.inbound_trunks(&[]);
    assert_eq!(trunks.len(), 1);
    assert!(trunks[0].trusted && trunks[0].admits("127.0.0.9".parse().unwrap()));
    let bad = default_text().replace(
        r#"inbound_sources = ["127.0.0.0/8", "::1"]"#,
        r#"inbound_sources = ["127.0.0.0/33"]"#,
    );
    let err = Profile::parse(&bad, Path::new("default.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("127.0.0.0/33") && err.contains("default.toml"),
        "{err}"
    );
    let twice = format!(
        "{}\n[[trunks]]\nname = \"lab-loopback\"\ninbound_sources = [\"10.0.0.1\"]\n",
        default_text()
    );
    let err = Profile::parse(&twice, Path::new("default.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("trunks.name"), "{err}");
}

#[test]
fn gateways_routes_and_classes_are_read_and_checked() {
    let carrier = "\n[[trunks]]\nname = \"carrier\"\ngateways = [\"192.0.2.77\", \"sip.carrier.example:5080\"]\n\
                   max_channels = 30\ncaller_id = \"+33900000001\"\nusername = \"acme\"\npassword = \"pw\"\n";
    let dialing = "\n[dialing]\ncountry_code = \"44\"\ndefault_class = \"internal\"\n\
                   [[dialing.routes]]\nprefix = \"+44\"\ntrunks = [\"carrier\"]\n";
    let text = format!("{}{carrier}{dialing}", default_text());
    let p = Profile::parse(&text, Path::new("default.toml")).unwrap();
    let trunks = p.outbound_trunks(|_, g| {
        vec![
            format!("192.0.2.99:{}", g.port.unwrap_or(5060))
                .parse()
                .unwrap(),
        ]
    });
    assert_eq!(trunks.len(), 1, "the lab trunk has no gateway");
    assert_eq!(trunks[0].gateways.len(), 2);
    assert_eq!(trunks[0].gateways[1].port(), 5080);
    assert_eq!(trunks[0].max_channels, 30);
    assert!(trunks[0].credentials.is_some() && trunks[0].register.is_none());
    let dialing = p.dialing();
    assert_eq!(dialing.plan.country_code, "44");
    assert_eq!(
        dialing.class_of("1001"),
        crate::dialing::CallingClass::Internal
    );
    let refused = |from: &str, to: &str, key: &str| {
        assert!(text.contains(from), "{from}");
        let bad = text.replacen(from, to, 1);
        let err = match Profile::parse(&bad, Path::new("default.toml")) {
            Ok(_) => panic!("{to:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(key), "{to}: {err}");
    };
    refused(
        "trunks = [\"carrier\"]",
        "trunks = [\"lab-loopback\"]",
        "dialing.routes.trunks",
    );
    refused(
        "caller_id = \"+33900000001\"",
        "caller_id = \"0900\"",
        "trunks.caller_id",
    );
    refused("password = \"pw\"\n", "", "trunks.password");
    refused("\"192.0.2.77\"", "\"bad host!\"", "bad host!");
    refused("prefix = \"+44\"", "prefix = \"44\"", "dialing.routes");
    refused(
        "country_code = \"44\"",
        "country_code = \"x\"",
        "dialing.country_code",
    );
}

#[test]
fn a_registering_trunks_gateways_count_as_its_inbound_sources() {
    let text = format!(
        "{}\n[[trunks]]\nname = \"carrier\"\ngateways = [\"sbc.carrier.example\"]\n\
         username = \"trunk1\"\npassword = \"carrier-secret\"\nregister = true\n\
         [[trunks]]\nname = \"other\"\ngateways = [\"192.0.2.30\"]\n",
        default_text()
    );
    let p = Profile::parse(&text, Path::new("default.toml")).unwrap();
    // The name resolves to two addresses; the trunk that does not register gets no sources.
    let outbound = p.outbound_trunks(|_, g| match g.host.as_str() {
        "sbc.carrier.example" => vec![
            "192.0.2.10:5060".parse().unwrap(),
            "[2001:db8::10]:5060".parse().unwrap(),
        ],
        _ => vec!["192.0.2.30:5060".parse().unwrap()],
    });
    assert_eq!(
        outbound[0].register,
        Some(std::time::Duration::from_secs(600))
    );
    let inbound = p.inbound_trunks(&outbound);
    let names: Vec<&str> = inbound.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["lab-loopback", "carrier"]);
    let carrier = &inbound[1];
    assert!(carrier.admits("192.0.2.10".parse().unwrap()));
    assert!(carrier.admits("2001:db8::10".parse().unwrap()));
    assert!(!carrier.admits("192.0.2.30".parse().unwrap()));
    assert!(!carrier.trusted);
}

#[test]
fn a_gateway_keeps_its_port_only_when_one_is_written() {
    for (text, host, port, shown) in [
        (
            "sip.carrier.example",
            "sip.carrier.example",
            None,
            "sip.carrier.example",
        ),
        (
            "SIP.Carrier.example:5080",
            "sip.carrier.example",
            Some(5080),
            "sip.carrier.example:5080",
        ),
        ("192.0.2.10", "192.0.2.10", None, "192.0.2.10"),
        (
            "192.0.2.10:5080",
            "192.0.2.10",
            Some(5080),
            "192.0.2.10:5080",
        ),
        (
            "[2001:db8::5]:5062",
            "2001:db8::5",
            Some(5062),
            "[2001:db8::5]:5062",
        ),
    ] {
        let gateway: GatewayAddress = text.parse().unwrap();
        assert_eq!(
            (gateway.host.as_str(), gateway.port),
            (host, port),
            "{text}"
        );
        assert_eq!(gateway.to_string(), shown);
        assert_eq!(
            shown.parse::<GatewayAddress>(),
            Ok(gateway),
            "as shown, as stored"
        );
    }
    for bad in [
        "",
        "a..b",
        "a b",
        "sip.example:0",
        "192.0.2.10:0",
        "host:x",
        "_sip._udp.x",
    ] {
        assert!(bad.parse::<GatewayAddress>().is_err(), "{bad:?}");
    }
}

#[test]
fn the_nameserver_is_an_ip_with_an_optional_port_and_a_name_is_refused_quoting_it() {
    let with = |nameserver: &str| {
        let text = format!(
            "{}\n[dialing]\nnameserver = \"{nameserver}\"\n",
            default_text()
        );
        Profile::parse(&text, Path::new("default.toml"))
    };
    let p = Profile::parse(&default_text(), Path::new("default.toml")).unwrap();
    assert_eq!(p.dialing.nameserver, None, "/etc/resolv.conf's by default");
    let p = with("127.0.0.1:5353").unwrap();
    assert_eq!(
        p.dialing.nameserver.unwrap().0.to_string(),
        "127.0.0.1:5353"
    );
    let p = with("192.0.2.53").unwrap();
    assert_eq!(p.dialing.nameserver.unwrap().0.to_string(), "192.0.2.53:53");
    for bad in ["dns.example", "0.0.0.0", "127.0.0.1:0"] {
        let error = with(bad).unwrap_err().to_string();
        assert!(
            error.contains(&format!("{bad:?} is not a nameserver address"))
                && error.contains("nameserver"),
            "{error}"
        );
    }
}

#[test]
fn a_trunks_transport_codecs_and_ca_file_are_read_and_checked() {
    use crate::call::trunks::TrunkCodec;
    use crate::config::GatewayTransport;
    let (ca, files) = crate::tls::test_files("trunk-ca");
    let ca_file = files.cert.parent().unwrap().join("carrier-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let carrier = format!(
        "\n[[trunks]]\nname = \"carrier\"\ngateways = [\"sbc.carrier.example\"]\n\
         transport = \"tls\"\ntls_ca = \"{}\"\ncodecs = [\"pcma\", \"telephone-event\"]\n",
        ca_file.display()
    );
    let text = format!("{}{carrier}", default_text());
    let p = Profile::parse(&text, Path::new("default.toml")).unwrap();
    let mut asked = Vec::new();
    let trunks = p.outbound_trunks(|transport, g| {
        asked.push((transport, g.to_string()));
        vec!["192.0.2.5:5061".parse().unwrap()]
    });
    assert_eq!(
        asked,
        [(GatewayTransport::Tls, "sbc.carrier.example".to_owned())]
    );
    assert_eq!(trunks[0].transport, crate::sip::transport::Transport::Tls);
    assert_eq!(
        trunks[0].codecs,
        [TrunkCodec::Pcma, TrunkCodec::TelephoneEvent]
    );
    assert_eq!(p.trunk_ca(&p.trunks[1]), Some(ca_file.clone()));
    let inbound = p.inbound_trunks(&trunks);
    assert!(inbound.iter().all(|t| t.name != "carrier"), "no sources");
    assert_eq!(inbound[0].codecs.len(), 3, "the lab trunk's default");

    let refused = |from: &str, to: &str, needle: &str| {
        assert!(text.contains(from), "{from}");
        let bad = text.replacen(from, to, 1);
        let err = match Profile::parse(&bad, Path::new("default.toml")) {
            Ok(_) => panic!("{to:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(needle), "{to}: {err}");
    };
    let codecs = "codecs = [\"pcma\", \"telephone-event\"]";
    refused(codecs, "codecs = [\"telephone-event\"]", "trunks.codecs");
    refused(codecs, "codecs = [\"PCMA\", \"pcma\"]", "twice");
    refused(codecs, "codecs = [\"G729\"]", "G729");
    refused("transport = \"tls\"", "transport = \"sctp\"", "sctp");
    let tls_ca = format!("tls_ca = \"{}\"", ca_file.display());
    refused(&tls_ca, "tls_ca = \"/no/such/ca.pem\"", "trunks.tls_ca");
    refused(
        "transport = \"tls\"",
        "transport = \"tcp\"",
        "trunks.tls_ca",
    );
    let garbage = files.cert.parent().unwrap().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    refused(
        &tls_ca,
        &format!("tls_ca = \"{}\"", garbage.display()),
        "no CERTIFICATE",
    );
}
