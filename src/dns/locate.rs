//! Locating a SIP server (RFC 3263 §4.2, without NAPTR): a gateway as the profile names it
//! becomes the addresses to try, in order.
//!
//! ```text
//!   192.0.2.10[:port]    ──────────────────────────────▶ that address (5060 by default)
//!   carrier.example:5080 ── A, AAAA ───────────────────▶ its addresses, port 5080
//!   carrier.example      ── SRV _sip._udp.carrier.example (_sip._tcp, _sips._tcp)
//!                            ├─ records ─▶ targets in RFC 2782 order; each target's
//!                            │             addresses from the additional section, or
//!                            │             A, AAAA ──▶ its addresses, the record's port
//!                            └─ none (NXDOMAIN, no record, no answer)
//!                                        ─▶ A, AAAA of the name ──▶ its addresses, port 5060
//! ```
//!
//! The locator asks and the runtime answers: [`LocatorOutput::Query`] questions come out
//! (several at once, to be asked concurrently), [`Locator::handle_answer`] takes each answer
//! (or `None` when the nameserver gave none), and [`LocatorOutput::Located`] ends it. It reads
//! no clock and draws its randomness (the SRV weights) from a seed it is given.

use super::message::{Message, Question, Rcode, RecordData, RecordType, Srv};
use super::name::Name;
use super::srv;
use crate::sip::transport::Transport;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The port of SIP over UDP and TCP (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;

/// The port of SIP over TLS (RFC 3261 §19.1.2).
pub const SIPS_PORT: u16 = 5061;

/// The SRV service and protocol labels for SIP over UDP (RFC 3263 §4.1).
pub const SIP_UDP_SERVICE: &str = "_sip._udp";

/// The SRV labels for `transport` (RFC 3263 §4.1, RFC 5630 §3.1.3 for TLS) and the port a
/// name without records is tried on.
#[must_use]
pub fn service_of(transport: Transport) -> (&'static str, u16) {
    match transport {
        Transport::Tls | Transport::Wss => ("_sips._tcp", SIPS_PORT),
        Transport::Tcp | Transport::Ws => ("_sip._tcp", SIP_PORT),
        Transport::Udp => (SIP_UDP_SERVICE, SIP_PORT),
    }
}

/// How the addresses were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The gateway was an IP address: no lookup.
    Literal,
    /// SRV records named the targets.
    Srv,
    /// A/AAAA of the name itself (a port was given, or there was no SRV record).
    Address,
}

/// Where a gateway is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// In the order to try them; empty when nothing was found.
    pub addrs: Vec<SocketAddr>,
    /// The smallest TTL of the records used: look again after it. `None` for a literal, or
    /// when no record was used.
    pub ttl: Option<Duration>,
    pub via: Via,
}

/// What the locator wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocatorOutput {
    /// Ask the nameserver this and hand the answer to [`Locator::handle_answer`].
    Query(Question),
    /// Done.
    Located(Located),
}

/// A target whose addresses are awaited or known.
#[derive(Debug)]
struct Target {
    name: Name,
    port: u16,
    /// A and AAAA answers: `None` until answered.
    v4: Option<Vec<IpAddr>>,
    v6: Option<Vec<IpAddr>>,
}

impl Target {
    fn new(name: Name, port: u16) -> Target {
        Target {
            name,
            port,
            v4: None,
            v6: None,
        }
    }
}

/// States, named for what each waits for.
#[derive(Debug)]
enum State {
    ExpectSrv { name: Name },
    ExpectAddresses { via: Via, targets: Vec<Target> },
    Done,
}

/// Locates one gateway (see the module doc).
#[derive(Debug)]
pub struct Locator {
    state: State,
    outputs: VecDeque<LocatorOutput>,
    rng: SmallRng,
    ttl: Option<Duration>,
    /// The port of a name located by address without one given (5060, or 5061 for TLS).
    default_port: u16,
}

impl Locator {
    /// Starts locating `host` (an IP address or a domain name) with `port` if the profile gave
    /// one; `seed` orders SRV targets of equal priority (see [`srv::order`]).
    #[must_use]
    pub fn new(host: &str, port: Option<u16>, seed: u64) -> Locator {
        Locator::for_transport(host, port, Transport::Udp, seed)
    }

    /// [`Locator::new`] for a gateway reached over `transport`: its SRV service and
    /// default port (see [`service_of`]).
    #[must_use]
    pub fn for_transport(
        host: &str,
        port: Option<u16>,
        transport: Transport,
        seed: u64,
    ) -> Locator {
        let (service, default_port) = service_of(transport);
        let mut locator = Locator {
            state: State::Done,
            outputs: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            ttl: None,
            default_port,
        };
        let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            let addr = SocketAddr::new(ip, port.unwrap_or(default_port));
            locator.finish(vec![addr], Via::Literal);
            return locator;
        }
        let Ok(name) = Name::from_dotted(host) else {
            locator.finish(Vec::new(), Via::Address);
            return locator;
        };
        match port {
            Some(port) => locator.expect_addresses(Via::Address, vec![Target::new(name, port)]),
            None => match Name::from_dotted(&format!("{service}.{host}")) {
                Ok(service) => {
                    let question = Question::new(service, RecordType::SRV);
                    locator.outputs.push_back(LocatorOutput::Query(question));
                    locator.state = State::ExpectSrv { name };
                }
                // Too long with the service labels in front: no SRV name can exist.
                Err(_) => {
                    locator.expect_addresses(Via::Address, vec![Target::new(name, default_port)]);
                }
            },
        }
        locator
    }

    /// The answer to `question` (`None`: none came, or it did not parse). An answer to a
    /// question not asked, or asked and answered already, is ignored.
    pub fn handle_answer(&mut self, question: &Question, answer: Option<&Message>) {
        match &mut self.state {
            State::ExpectSrv { name } => {
                if question.qtype != RecordType::SRV {
                    return;
                }
                let name = name.clone();
                let records = answer
                    .map(|a| self.records(a, question))
                    .unwrap_or_default();
                let srvs: Vec<Srv> = records
                    .into_iter()
                    .filter_map(|data| match data {
                        RecordData::Srv(srv) => Some(srv),
                        _ => None,
                    })
                    .collect();
                if srvs.is_empty() {
                    let port = self.default_port;
                    self.expect_addresses(Via::Address, vec![Target::new(name, port)]);
                    return;
                }
                let mut targets: Vec<Target> = srv::order(&srvs, &mut self.rng)
                    .into_iter()
                    .map(|s| Target::new(s.target, s.port))
                    .collect();
                if let Some(answer) = answer {
                    glue(answer, &mut targets, &mut self.ttl);
                }
                self.expect_addresses(Via::Srv, targets);
            }
            State::ExpectAddresses { targets, .. } => {
                let family = question.qtype;
                if family != RecordType::A && family != RecordType::AAAA {
                    return;
                }
                let (addresses, ttl) = match answer {
                    Some(a) => addresses(a, question),
                    None => (Vec::new(), None),
                };
                let mut used = false;
                for target in targets.iter_mut().filter(|t| t.name == question.name) {
                    let slot = if family == RecordType::A {
                        &mut target.v4
                    } else {
                        &mut target.v6
                    };
                    if slot.is_none() {
                        *slot = Some(addresses.clone());
                        used = true;
                    }
                }
                if used {
                    self.ttl = min_ttl(self.ttl, ttl);
                    self.finish_if_answered();
                }
            }
            State::Done => {}
        }
    }

    /// What to do next.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<LocatorOutput> {
        self.outputs.pop_front()
    }

    /// The records answering `question` (a CNAME chain followed), their TTLs counted.
    fn records(&mut self, answer: &Message, question: &Question) -> Vec<RecordData> {
        if answer.rcode() != Rcode::NoError {
            return Vec::new();
        }
        let (records, ttl) = answering(answer, question);
        self.ttl = min_ttl(self.ttl, ttl);
        records
    }

    /// Asks for the addresses of each distinct target name not known yet, A then AAAA.
    fn expect_addresses(&mut self, via: Via, targets: Vec<Target>) {
        let mut asked: Vec<&Name> = Vec::new();
        for target in targets.iter().filter(|t| t.v4.is_none()) {
            if !asked.contains(&&target.name) {
                asked.push(&target.name);
                for qtype in [RecordType::A, RecordType::AAAA] {
                    let question = Question::new(target.name.clone(), qtype);
                    self.outputs.push_back(LocatorOutput::Query(question));
                }
            }
        }
        self.state = State::ExpectAddresses { via, targets };
        self.finish_if_answered();
    }

    fn finish_if_answered(&mut self) {
        let State::ExpectAddresses { via, targets } = &self.state else {
            return;
        };
        if targets.iter().any(|t| t.v4.is_none() || t.v6.is_none()) {
            return;
        }
        let via = *via;
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for target in targets {
            let ips = target.v4.iter().chain(&target.v6).flatten();
            for addr in ips.map(|ip| SocketAddr::new(*ip, target.port)) {
                // Two targets on one address would only make failover try it twice.
                if !addrs.contains(&addr) {
                    addrs.push(addr);
                }
            }
        }
        self.finish(addrs, via);
    }

    fn finish(&mut self, addrs: Vec<SocketAddr>, via: Via) {
        let ttl = if addrs.is_empty() || via == Via::Literal {
            None
        } else {
            self.ttl
        };
        self.outputs
            .push_back(LocatorOutput::Located(Located { addrs, ttl, via }));
        self.state = State::Done;
    }
}

/// The addresses in the additional section (or the answer section: some servers put them
/// there) for the SRV targets, which then need no question of their own (RFC 2782: "…may be
/// used to avoid another query"). A target with none is still asked about.
fn glue(answer: &Message, targets: &mut [Target], ttl: &mut Option<Duration>) {
    for target in targets.iter_mut() {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for record in answer.additional.iter().chain(&answer.answers) {
            if record.name != target.name {
                continue;
            }
            match record.data {
                RecordData::A(ip) => v4.push(IpAddr::V4(ip)),
                RecordData::Aaaa(ip) => v6.push(IpAddr::V6(ip)),
                _ => continue,
            }
            *ttl = min_ttl(*ttl, Some(record.ttl()));
        }
        if !v4.is_empty() || !v6.is_empty() {
            target.v4 = Some(v4);
            target.v6 = Some(v6);
        }
    }
}

/// The A or AAAA addresses answering `question`, and the smallest TTL among the records used.
fn addresses(answer: &Message, question: &Question) -> (Vec<IpAddr>, Option<Duration>) {
    if answer.rcode() != Rcode::NoError {
        return (Vec::new(), None);
    }
    let (records, ttl) = answering(answer, question);
    let ips = records
        .into_iter()
        .filter_map(|data| match data {
            RecordData::A(ip) => Some(IpAddr::V4(ip)),
            RecordData::Aaaa(ip) => Some(IpAddr::V6(ip)),
            _ => None,
        })
        .collect();
    (ips, ttl)
}

/// The answer section's records of `question`'s type owned by its name or by an alias a
/// CNAME chain leads to (RFC 1034 §3.6.2), with the smallest TTL among them and the CNAMEs.
fn answering(answer: &Message, question: &Question) -> (Vec<RecordData>, Option<Duration>) {
    let mut names = vec![&question.name];
    let mut ttl = None;
    // Each pass adds at least one alias or stops; a chain is no longer than the section.
    for _ in 0..answer.answers.len() {
        let before = names.len();
        for record in &answer.answers {
            if let RecordData::Cname(alias) = &record.data
                && names.contains(&&record.name)
                && !names.contains(&alias)
            {
                names.push(alias);
                ttl = min_ttl(ttl, Some(record.ttl()));
            }
        }
        if names.len() == before {
            break;
        }
    }
    let mut found = Vec::new();
    for record in &answer.answers {
        if record.data.rtype() == question.qtype && names.contains(&&record.name) {
            ttl = min_ttl(ttl, Some(record.ttl()));
            found.push(record.data.clone());
        }
    }
    if found.is_empty() {
        // The aliases' TTLs say nothing about records that are not there.
        ttl = None;
    }
    (found, ttl)
}

fn min_ttl(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
#[path = "locate_tests.rs"]
mod tests;
