//! Answers built octet by octet as a recursive resolver sends them (compressed names,
//! additional records, EDNS), then broken in the ways an attacker or a bad server would.

use super::*;

/// An answer's bytes, written as a capture reads: header, then sections.
struct Wire(Vec<u8>);

impl Wire {
    fn header(id: u16, flags: u16, counts: [u16; 4]) -> Wire {
        let mut w = Wire(Vec::new());
        w.u16(id).u16(flags);
        for c in counts {
            w.u16(c);
        }
        w
    }
    fn u16(&mut self, v: u16) -> &mut Wire {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Wire {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Wire {
        self.0.extend(b);
        self
    }
    /// Labels, then either the root or a pointer to `then`.
    fn name(&mut self, labels: &[&str], then: Option<usize>) -> &mut Wire {
        for l in labels {
            self.0.push(l.len() as u8);
            self.0.extend(l.as_bytes());
        }
        match then {
            Some(at) => self.u16(0xc000 | at as u16),
            None => self.bytes(&[0]),
        }
    }
    fn at(&self) -> usize {
        self.0.len()
    }
}

fn name(text: &str) -> Name {
    Name::from_dotted(text).unwrap()
}

/// `_sip._udp.carrier.test` SRV: two targets under the zone, written compressed, and their
/// A records in the additional section, the targets' names pointing into the SRV data.
fn srv_answer_with_glue() -> Vec<u8> {
    let mut w = Wire::header(0xbeef, 0x8180, [1, 2, 0, 3]);
    let question = w.at();
    w.name(&["_sip", "_udp", "carrier", "test"], None);
    let zone = question + 1 + 4 + 1 + 4; // "carrier.test" inside the question
    w.u16(33).u16(1);
    let mut targets = Vec::new();
    for (priority, weight, port, host) in [(10, 60, 5060, "gw1"), (20, 0, 5080, "gw2")] {
        w.u16(0xc000 | question as u16).u16(33).u16(1).u32(300);
        w.u16(6 + 1 + 3 + 2).u16(priority).u16(weight).u16(port);
        targets.push(w.at());
        w.name(&[host], Some(zone));
    }
    for (target, ip) in targets.iter().zip([[127, 0, 0, 1], [127, 0, 0, 2]]) {
        w.u16(0xc000 | *target as u16).u16(1).u16(1).u32(60).u16(4);
        w.bytes(&ip);
    }
    // The EDNS OPT record a resolver returns: root name, class = its payload size.
    w.bytes(&[0]).u16(41).u16(1232).u32(0).u16(0);
    w.0
}

#[test]
fn an_srv_answer_with_compressed_targets_and_additional_addresses_is_read() {
    let m = Message::parse(&srv_answer_with_glue()).unwrap();
    assert_eq!(m.id, 0xbeef);
    assert!(m.is_response() && !m.truncated());
    assert_eq!(m.rcode(), Rcode::NoError);
    assert_eq!(
        m.questions,
        [Question::new(
            name("_sip._udp.carrier.test"),
            RecordType::SRV
        )]
    );
    let srvs: Vec<&Srv> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RecordData::Srv(srv) => srv,
            other => panic!("not an SRV: {other:?}"),
        })
        .collect();
    assert_eq!(srvs[0].target, name("gw1.carrier.test"));
    assert_eq!(
        (srvs[0].priority, srvs[0].weight, srvs[0].port),
        (10, 60, 5060)
    );
    assert_eq!(srvs[1].target, name("gw2.carrier.test"));
    assert_eq!(
        (srvs[1].priority, srvs[1].weight, srvs[1].port),
        (20, 0, 5080)
    );
    assert_eq!(m.answers[0].name, name("_sip._udp.carrier.test"));
    assert_eq!(m.answers[0].ttl(), Duration::from_secs(300));
    assert_eq!(m.additional.len(), 3);
    assert_eq!(m.additional[0].name, name("gw1.carrier.test"));
    assert_eq!(
        m.additional[0].data,
        RecordData::A(Ipv4Addr::new(127, 0, 0, 1))
    );
    assert_eq!(m.additional[1].name, name("gw2.carrier.test"));
    assert_eq!(m.additional[2].data.rtype(), RecordType::OPT);
}

#[test]
fn a_query_is_a_recursive_question_with_an_edns_record() {
    let q = Message::query(
        0x1234,
        Question::new(name("_sip._udp.Carrier.Test"), RecordType::SRV),
    );
    let bytes = q.to_bytes().unwrap();
    let mut expected = Wire::header(0x1234, 0x0100, [1, 0, 0, 1]);
    expected
        .name(&["_sip", "_udp", "carrier", "test"], None)
        .u16(33)
        .u16(1);
    expected.bytes(&[0]).u16(41).u16(1232).u32(0).u16(0);
    assert_eq!(bytes, expected.0);
    assert_eq!(Message::parse(&bytes).unwrap(), q);
}

#[test]
fn a_response_answers_only_the_query_with_its_id_and_question() {
    let query = Message::query(7, Question::new(name("carrier.test"), RecordType::A));
    let response = Message::response_to(&query, Rcode::NoError);
    assert!(response.answers(&query));
    assert!(!query.answers(&query), "a query is no response");
    let other_id = Message {
        id: 8,
        ..response.clone()
    };
    assert!(!other_id.answers(&query));
    let other_question = Message {
        questions: vec![Question::new(name("evil.test"), RecordType::A)],
        ..response.clone()
    };
    assert!(!other_question.answers(&query));
    let upper = Message {
        questions: vec![Question::new(name("CARRIER.test"), RecordType::A)],
        ..response
    };
    assert!(
        upper.answers(&query),
        "names compare without regard to case"
    );
}

#[test]
fn nxdomain_is_read_as_its_rcode_with_the_soa_in_authority() {
    let mut w = Wire::header(9, 0x8183, [1, 0, 1, 0]);
    w.name(&["_sip", "_udp", "nowhere", "test"], None)
        .u16(33)
        .u16(1);
    // The zone's SOA, its data kept as octets.
    w.name(&["test"], None)
        .u16(6)
        .u16(1)
        .u32(900)
        .u16(4)
        .bytes(&[1, 2, 3, 4]);
    let m = Message::parse(&w.0).unwrap();
    assert_eq!(m.rcode(), Rcode::NxDomain);
    assert!(m.answers.is_empty());
    assert_eq!(
        m.authority[0].data,
        RecordData::Other {
            rtype: RecordType(6),
            data: vec![1, 2, 3, 4]
        }
    );
}

#[test]
fn a_truncated_answer_keeps_the_records_read_whole_before_the_cut() {
    let mut bytes = srv_answer_with_glue();
    bytes[2] |= 0x02; // TC
    // Cut inside the second SRV record's data.
    let second = Message::parse(&srv_answer_with_glue()).unwrap();
    assert_eq!(second.answers.len(), 2);
    let cut = 12 + 24 + 4 + (12 + 12) + 14;
    let m = Message::parse(&bytes[..cut]).unwrap();
    assert!(m.truncated());
    assert_eq!(m.answers.len(), 1);
    assert!(m.additional.is_empty());
}

#[test]
fn a_message_cut_short_without_tc_is_refused() {
    let bytes = srv_answer_with_glue();
    for cut in [0, 5, 11, 20, 40, 60, bytes.len() - 1] {
        assert!(Message::parse(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn a_pointer_to_itself_or_forward_or_in_a_cycle_is_refused() {
    // A question whose name is a pointer to itself.
    let mut w = Wire::header(1, 0x8180, [1, 0, 0, 0]);
    w.u16(0xc000 | 12).u16(1).u16(1);
    assert!(matches!(Message::parse(&w.0), Err(DnsError::Malformed(_))));

    // A label, then a pointer back to that label: `a.a.a...` forever without the rule.
    let mut w = Wire::header(1, 0x8180, [1, 0, 0, 0]);
    w.name(&["a"], Some(12)).u16(1).u16(1);
    assert!(matches!(Message::parse(&w.0), Err(DnsError::Malformed(_))));

    // Two names pointing at each other: the second points back to the first, whose
    // pointer leads forward to the second.
    let mut w = Wire::header(1, 0x8180, [2, 0, 0, 0]);
    w.name(&["x"], Some(12 + 2 + 2 + 4)).u16(1).u16(1);
    w.name(&["y"], Some(12)).u16(1).u16(1);
    assert!(matches!(Message::parse(&w.0), Err(DnsError::Malformed(_))));

    // A pointer past the end.
    let mut w = Wire::header(1, 0x8180, [1, 0, 0, 0]);
    w.u16(0xc000 | 0x3fff).u16(1).u16(1);
    assert!(Message::parse(&w.0).is_err());
}

#[test]
fn a_long_chain_of_backward_pointers_is_read_within_the_name_limit() {
    // Each name is one label and a pointer to the one before: legal, and ends at 255 octets.
    let mut w = Wire::header(1, 0x8180, [200, 0, 0, 0]);
    let mut previous = None;
    for _ in 0..200 {
        let here = w.at();
        w.name(&["a"], previous).u16(1).u16(1);
        previous = Some(here);
    }
    assert!(
        matches!(Message::parse(&w.0), Err(DnsError::Malformed(_))),
        "the 128th name is longer than 255 octets"
    );
}

#[test]
fn record_data_whose_length_does_not_fit_its_type_is_refused() {
    for (rtype, data) in [
        (1u16, &[127, 0, 0, 1, 9][..]),
        (28, &[0; 15][..]),
        (33, &[0, 10, 0, 0, 19][..]),
    ] {
        let mut w = Wire::header(1, 0x8180, [0, 1, 0, 0]);
        w.name(&["x"], None).u16(rtype).u16(1).u32(5);
        w.u16(data.len() as u16).bytes(data);
        assert!(
            matches!(Message::parse(&w.0), Err(DnsError::Malformed(_))),
            "type {rtype}"
        );
    }
    // An SRV target running past its record's data into the next field.
    let mut w = Wire::header(1, 0x8180, [0, 1, 0, 0]);
    w.name(&["x"], None).u16(33).u16(1).u32(5).u16(8);
    w.u16(1).u16(1).u16(5060).bytes(&[5, b'a', b'b']);
    assert!(Message::parse(&w.0).is_err());
}

#[test]
fn extended_label_types_and_long_labels_are_refused() {
    let mut w = Wire::header(1, 0x8180, [1, 0, 0, 0]);
    w.bytes(&[0x41, 0]).u16(1).u16(1);
    assert!(matches!(Message::parse(&w.0), Err(DnsError::Malformed(_))));
}

#[test]
fn a_negative_ttl_counts_as_zero() {
    let record = Record::new(
        name("x.test"),
        0x8000_0000,
        RecordData::A(Ipv4Addr::LOCALHOST),
    );
    assert_eq!(record.ttl(), Duration::ZERO);
}

#[test]
fn odd_octets_in_a_name_print_escaped() {
    let mut w = Wire::header(1, 0x8180, [1, 0, 0, 0]);
    w.bytes(&[3, b'a', b'.', b'\n', 4])
        .bytes(b"test")
        .bytes(&[0])
        .u16(1)
        .u16(1);
    let m = Message::parse(&w.0).unwrap();
    assert_eq!(m.questions[0].name.to_string(), "a\\046\\010.test");
}

proptest::proptest! {
    /// Any octets: parsing never panics, and what parses writes back to a message that
    /// parses to the same thing.
    #[test]
    fn any_octets_parse_without_panic_and_round_trip(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        if let Ok(message) = Message::parse(&bytes) {
            let written = message.to_bytes().unwrap();
            proptest::prop_assert_eq!(Message::parse(&written), Ok(message));
        }
    }

    /// Real answers mutated in one octet: the same.
    #[test]
    fn a_mutated_answer_parses_without_panic(at in 0usize..200, value in proptest::prelude::any::<u8>()) {
        let mut bytes = srv_answer_with_glue();
        let at = at % bytes.len();
        bytes[at] = value;
        if let Ok(message) = Message::parse(&bytes) {
            let written = message.to_bytes().unwrap();
            proptest::prop_assert_eq!(Message::parse(&written), Ok(message));
        }
    }
}
