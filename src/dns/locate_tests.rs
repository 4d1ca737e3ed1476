//! The locator against scripted nameservers: which questions it asks, in which order its
//! answers put the gateways, and how long they hold.

use super::*;
use crate::dns::message::Record;
use std::net::{Ipv4Addr, Ipv6Addr};

fn name(text: &str) -> Name {
    Name::from_dotted(text).unwrap()
}

/// Drains the locator: the questions asked, or where it located the gateway.
fn drain(locator: &mut Locator) -> Result<Located, Vec<Question>> {
    let mut questions = Vec::new();
    while let Some(output) = locator.poll_output() {
        match output {
            LocatorOutput::Query(q) => questions.push(q),
            LocatorOutput::Located(located) => {
                assert!(questions.is_empty(), "asked {questions:?} yet done");
                assert_eq!(locator.poll_output(), None);
                return Ok(located);
            }
        }
    }
    Err(questions)
}

fn asked(locator: &mut Locator) -> Vec<(String, RecordType)> {
    drain(locator)
        .expect_err("a question")
        .into_iter()
        .map(|q| (q.name.to_string(), q.qtype))
        .collect()
}

/// A nameserver's answer to `question` with `records` (NOERROR), or `rcode` and none.
fn answer(question: &Question, records: Vec<Record>, additional: Vec<Record>) -> Message {
    let query = Message::query(1, question.clone());
    let mut response = Message::response_to(&query, Rcode::NoError);
    response.answers = records;
    response.additional = additional;
    response
}

fn a(owner: &str, ip: [u8; 4], ttl: u32) -> Record {
    Record::new(name(owner), ttl, RecordData::A(Ipv4Addr::from(ip)))
}

fn srv(priority: u16, port: u16, target: &str, ttl: u32) -> Record {
    Record::new(
        name("_sip._udp.carrier.test"),
        ttl,
        RecordData::Srv(Srv {
            priority,
            weight: 0,
            port,
            target: name(target),
        }),
    )
}

fn q(owner: &str, qtype: RecordType) -> Question {
    Question::new(name(owner), qtype)
}

/// Hands `locator` the nameserver's answer to `owner`'s `qtype` question.
fn reply(locator: &mut Locator, owner: &str, qtype: RecordType, records: Vec<Record>) {
    reply_with(locator, owner, qtype, records, Vec::new());
}

fn reply_with(
    locator: &mut Locator,
    owner: &str,
    qtype: RecordType,
    records: Vec<Record>,
    additional: Vec<Record>,
) {
    let question = q(owner, qtype);
    locator.handle_answer(&question, Some(&answer(&question, records, additional)));
}

/// Hands `locator` the SRV answer for `carrier.test` with `additional` records.
fn reply_srv(locator: &mut Locator, records: Vec<Record>, additional: Vec<Record>) {
    let service = "_sip._udp.carrier.test";
    reply_with(locator, service, RecordType::SRV, records, additional);
}

/// Where `locator` located the gateway: the addresses, how, and the TTL in seconds.
fn located(locator: &mut Locator) -> (Vec<String>, Via, Option<u64>) {
    let located = drain(locator).expect("located");
    let ttl = located.ttl.map(|t| t.as_secs());
    (addrs(&located), located.via, ttl)
}

fn addrs(located: &Located) -> Vec<String> {
    located.addrs.iter().map(ToString::to_string).collect()
}

#[test]
fn an_ip_address_is_located_at_once_on_5060_or_its_port() {
    let mut locator = Locator::new("192.0.2.10", None, 0);
    let literal = (vec!["192.0.2.10:5060".to_owned()], Via::Literal, None);
    assert_eq!(located(&mut locator), literal);
    let mut locator = Locator::new("2001:db8::5", Some(5062), 0);
    assert_eq!(addrs(&drain(&mut locator).unwrap()), ["[2001:db8::5]:5062"]);
}

#[test]
fn a_name_with_a_port_is_looked_up_by_address_only() {
    let mut locator = Locator::new("sbc.carrier.test", Some(5080), 0);
    assert_eq!(
        asked(&mut locator),
        [
            ("sbc.carrier.test".into(), RecordType::A),
            ("sbc.carrier.test".into(), RecordType::AAAA)
        ]
    );
    let v4 = a("sbc.carrier.test", [192, 0, 2, 7], 120);
    reply(&mut locator, "sbc.carrier.test", RecordType::A, vec![v4]);
    assert!(drain(&mut locator).is_err(), "still waiting for AAAA");
    let v6 = Record::new(
        name("sbc.carrier.test"),
        90,
        RecordData::Aaaa(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
    );
    reply(&mut locator, "sbc.carrier.test", RecordType::AAAA, vec![v6]);
    let both = vec!["192.0.2.7:5080".to_owned(), "[2001:db8::7]:5080".to_owned()];
    assert_eq!(located(&mut locator), (both, Via::Address, Some(90)));
}

#[test]
fn srv_targets_with_additional_addresses_need_no_further_question() {
    let mut locator = Locator::new("carrier.test", None, 0);
    assert_eq!(
        asked(&mut locator),
        [("_sip._udp.carrier.test".into(), RecordType::SRV)]
    );
    reply_srv(
        &mut locator,
        // Listed backup first: the order comes from the priorities.
        vec![
            srv(20, 5070, "gw2.carrier.test", 600),
            srv(10, 5060, "gw1.carrier.test", 600),
        ],
        vec![
            a("gw1.carrier.test", [127, 0, 0, 1], 300),
            a("gw2.carrier.test", [127, 0, 0, 2], 300),
        ],
    );
    let both = vec!["127.0.0.1:5060".to_owned(), "127.0.0.2:5070".to_owned()];
    assert_eq!(located(&mut locator), (both, Via::Srv, Some(300)));
}

#[test]
fn srv_targets_without_additional_addresses_are_asked_about_and_kept_in_srv_order() {
    let mut locator = Locator::new("carrier.test", None, 0);
    let _ = asked(&mut locator);
    reply_srv(
        &mut locator,
        vec![
            srv(20, 5070, "gw2.carrier.test", 600),
            srv(10, 5060, "gw1.carrier.test", 60),
            // The same target on another port is asked about once.
            srv(30, 5090, "gw1.carrier.test", 600),
        ],
        vec![a("unrelated.test", [10, 0, 0, 1], 5)],
    );
    assert_eq!(
        asked(&mut locator),
        [
            ("gw1.carrier.test".into(), RecordType::A),
            ("gw1.carrier.test".into(), RecordType::AAAA),
            ("gw2.carrier.test".into(), RecordType::A),
            ("gw2.carrier.test".into(), RecordType::AAAA),
        ]
    );
    // Answers come back in any order; gw2 has no IPv6 address, gw1 no answer to AAAA.
    let gw2 = a("gw2.carrier.test", [192, 0, 2, 2], 600);
    reply(&mut locator, "gw2.carrier.test", RecordType::A, vec![gw2]);
    reply(&mut locator, "gw2.carrier.test", RecordType::AAAA, vec![]);
    let gw1 = a("gw1.carrier.test", [192, 0, 2, 1], 600);
    reply(&mut locator, "gw1.carrier.test", RecordType::A, vec![gw1]);
    assert!(drain(&mut locator).is_err());
    locator.handle_answer(&q("gw1.carrier.test", RecordType::AAAA), None);
    let (addrs, via, ttl) = located(&mut locator);
    assert_eq!(
        addrs,
        ["192.0.2.1:5060", "192.0.2.2:5070", "192.0.2.1:5090"]
    );
    assert_eq!(via, Via::Srv);
    assert_eq!(
        ttl,
        Some(60),
        "the smallest TTL used, not the unrelated record's"
    );
}

#[test]
fn no_srv_record_falls_back_to_the_names_addresses_on_5060() {
    for response in [
        Some(Rcode::NxDomain),
        Some(Rcode::NoError),
        Some(Rcode::ServFail),
        None,
    ] {
        let mut locator = Locator::new("carrier.test", None, 0);
        let _ = asked(&mut locator);
        let qs = q("_sip._udp.carrier.test", RecordType::SRV);
        let message =
            response.map(|rcode| Message::response_to(&Message::query(1, qs.clone()), rcode));
        locator.handle_answer(&qs, message.as_ref());
        assert_eq!(
            asked(&mut locator),
            [
                ("carrier.test".into(), RecordType::A),
                ("carrier.test".into(), RecordType::AAAA)
            ],
            "after {response:?}"
        );
        let v4 = a("carrier.test", [192, 0, 2, 9], 3600);
        reply(&mut locator, "carrier.test", RecordType::A, vec![v4]);
        locator.handle_answer(&q("carrier.test", RecordType::AAAA), None);
        let one = vec!["192.0.2.9:5060".to_owned()];
        assert_eq!(located(&mut locator), (one, Via::Address, Some(3600)));
    }
}

#[test]
fn a_cname_chain_is_followed_and_its_ttl_counts() {
    let mut locator = Locator::new("sip.carrier.test", Some(5060), 0);
    let _ = asked(&mut locator);
    let cname = |owner: &str, ttl, alias: &str| {
        Record::new(name(owner), ttl, RecordData::Cname(name(alias)))
    };
    let records = vec![
        cname("sip.carrier.test", 30, "edge.cdn.test"),
        cname("edge.cdn.test", 600, "pop1.cdn.test"),
        a("pop1.cdn.test", [198, 51, 100, 1], 600),
        // An address of a name the chain never reaches is not the gateway's.
        a("elsewhere.test", [203, 0, 113, 66], 600),
    ];
    reply(&mut locator, "sip.carrier.test", RecordType::A, records);
    locator.handle_answer(&q("sip.carrier.test", RecordType::AAAA), None);
    let one = vec!["198.51.100.1:5060".to_owned()];
    assert_eq!(located(&mut locator), (one, Via::Address, Some(30)));
}

#[test]
fn a_single_root_target_means_no_sip_service_and_nothing_is_located() {
    let mut locator = Locator::new("carrier.test", None, 0);
    let _ = asked(&mut locator);
    let none = Record::new(
        name("_sip._udp.carrier.test"),
        600,
        RecordData::Srv(Srv {
            priority: 0,
            weight: 0,
            port: 0,
            target: Name::root(),
        }),
    );
    reply(
        &mut locator,
        "_sip._udp.carrier.test",
        RecordType::SRV,
        vec![none],
    );
    assert_eq!(located(&mut locator), (vec![], Via::Srv, None));
}

#[test]
fn answers_to_questions_not_asked_are_ignored() {
    let mut locator = Locator::new("carrier.test", None, 0);
    let _ = asked(&mut locator);
    let evil = a("carrier.test", [6, 6, 6, 6], 600);
    reply(
        &mut locator,
        "carrier.test",
        RecordType::A,
        vec![evil.clone()],
    );
    assert_eq!(
        locator.poll_output(),
        None,
        "still waiting for the SRV answer"
    );
    locator.handle_answer(&q("_sip._udp.carrier.test", RecordType::SRV), None);
    let _ = asked(&mut locator);
    // Answered twice: the first counts.
    let good = a("carrier.test", [192, 0, 2, 1], 600);
    reply(&mut locator, "carrier.test", RecordType::A, vec![good]);
    reply(&mut locator, "carrier.test", RecordType::A, vec![evil]);
    locator.handle_answer(&q("carrier.test", RecordType::AAAA), None);
    assert_eq!(addrs(&drain(&mut locator).unwrap()), ["192.0.2.1:5060"]);
}

#[test]
fn a_name_that_is_no_domain_name_is_located_nowhere() {
    let mut locator = Locator::new("bad..name", None, 0);
    assert!(drain(&mut locator).unwrap().addrs.is_empty());
}

#[test]
fn equal_priority_targets_are_ordered_by_the_seed() {
    let order = |seed| {
        let mut locator = Locator::new("carrier.test", None, seed);
        let _ = asked(&mut locator);
        let records = (1..=4)
            .map(|i| {
                let mut r = srv(10, 5060, &format!("gw{i}.carrier.test"), 600);
                if let RecordData::Srv(s) = &mut r.data {
                    s.weight = 10;
                }
                r
            })
            .collect();
        let glue = (1..=4)
            .map(|i| a(&format!("gw{i}.carrier.test"), [127, 0, 0, i], 600))
            .collect();
        reply_srv(&mut locator, records, glue);
        addrs(&drain(&mut locator).unwrap())
    };
    assert_eq!(order(3), order(3));
    assert!(
        (0..20).any(|seed| order(seed) != order(3)),
        "some seed orders them otherwise"
    );
}

#[test]
fn tcp_and_tls_gateways_ask_their_own_srv_service_and_tls_defaults_to_5061() {
    let mut tcp = Locator::for_transport("carrier.test", None, Transport::Tcp, 0);
    assert_eq!(
        asked(&mut tcp),
        [("_sip._tcp.carrier.test".to_owned(), RecordType::SRV)]
    );

    let mut tls = Locator::for_transport("carrier.test", None, Transport::Tls, 0);
    assert_eq!(
        asked(&mut tls),
        [("_sips._tcp.carrier.test".to_owned(), RecordType::SRV)]
    );
    // No SRV record: the name's own addresses, on the TLS port.
    tls.handle_answer(&q("_sips._tcp.carrier.test", RecordType::SRV), None);
    let _ = asked(&mut tls);
    let address = a("carrier.test", [192, 0, 2, 8], 600);
    reply(&mut tls, "carrier.test", RecordType::A, vec![address]);
    tls.handle_answer(&q("carrier.test", RecordType::AAAA), None);
    assert_eq!(addrs(&drain(&mut tls).unwrap()), ["192.0.2.8:5061"]);

    let mut literal = Locator::for_transport("192.0.2.9", None, Transport::Tls, 0);
    assert_eq!(addrs(&drain(&mut literal).unwrap()), ["192.0.2.9:5061"]);
}
