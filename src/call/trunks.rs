//! Inbound trunks: the carriers, SBCs and IVRs allowed to send calls to queue numbers
//! without digest authentication, known by their source addresses (issue 15 item 1, the
//! inbound half). Anyone else dialling a queue number is challenged like any extension
//! call: a registered device authenticates and calls in as its extension; an address that is
//! neither a trunk nor a device cannot answer the challenge and never reaches the queue
//! (after repeated tries the digest guard bans it). That is Asterisk's PJSIP `identify` by
//! IP and FreeSWITCH's ACL-gated public context.
//!
//! What a call's INVITE says about itself, call-associated data (`X-Cad-*`), `Priority` and
//! the caller's number, is believed only from a trunk marked trusted: from an untrusted
//! trunk the number becomes `anonymous` and the rest is dropped; from a device the caller is
//! the authenticated extension and the rest is dropped.

use crate::dialing::{CallingClass, E164, NumberPlan, OutboundPlan, TollPolicy};
use crate::media::rtp::PayloadType;
use crate::media::sdp::Codec;
use crate::sip::transport::Transport;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// An address prefix (`192.0.2.0/24`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct IpPrefix {
    net: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// Whether `ip` is in the prefix; an IPv4-mapped IPv6 address (a dual-stack socket's) is
    /// read as IPv4.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                32,
                self.len,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(net.to_bits(), ip.to_bits(), 128, self.len)
            }
            _ => false,
        }
    }
}

/// Whether the first `len` of `width` bits of `a` and `b` agree.
fn prefix_eq(a: u128, b: u128, width: u8, len: u8) -> bool {
    if len == 0 {
        return true;
    }
    let shift = u32::from(width - len);
    (a >> shift) == (b >> shift)
}

/// Why a prefix does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or prefix (say 192.0.2.0/24 or 2001:db8::1)")]
pub struct BadPrefix(pub String);

impl FromStr for IpPrefix {
    type Err = BadPrefix;

    fn from_str(text: &str) -> Result<IpPrefix, BadPrefix> {
        let bad = || BadPrefix(text.to_owned());
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let width = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => len
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= width)
                .ok_or_else(bad)?,
            None => width,
        };
        Ok(IpPrefix { net, len })
    }
}

/// One address.
impl From<IpAddr> for IpPrefix {
    fn from(ip: IpAddr) -> IpPrefix {
        let len = if ip.is_ipv4() { 32 } else { 128 };
        IpPrefix { net: ip, len }
    }
}

impl TryFrom<String> for IpPrefix {
    type Error = BadPrefix;

    fn try_from(text: String) -> Result<IpPrefix, BadPrefix> {
        text.parse()
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// A codec a trunk may carry (`codecs = ["PCMA", "telephone-event"]`): the switch relays
/// and transcodes G.711 in both laws, and RFC 4733 events beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum TrunkCodec {
    Pcmu,
    Pcma,
    /// RFC 4733 events. Left out, keys from the trunk are only heard in-band (the DTMF
    /// detector listens to G.711) and none are offered to it.
    TelephoneEvent,
}

/// The payload type the switch offers telephone-event on.
const TELEPHONE_EVENT_PT: u8 = 101;

impl TrunkCodec {
    /// As written in SDP, the profile and the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TrunkCodec::Pcmu => "PCMU",
            TrunkCodec::Pcma => "PCMA",
            TrunkCodec::TelephoneEvent => "telephone-event",
        }
    }

    /// The codec the switch offers and answers with.
    #[must_use]
    pub fn codec(self) -> Codec {
        match self {
            TrunkCodec::Pcmu => Codec::pcmu(),
            TrunkCodec::Pcma => Codec::pcma(),
            TrunkCodec::TelephoneEvent => Codec::telephone_event(
                PayloadType::new(TELEPHONE_EVENT_PT).expect("101 is a dynamic payload type"),
            ),
        }
    }
}

/// Why a codec name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a codec the switch carries (say PCMU, PCMA or telephone-event)")]
pub struct BadCodec(pub String);

impl FromStr for TrunkCodec {
    type Err = BadCodec;

    /// Case as SDP allows (RFC 4855: encoding names are case-insensitive).
    fn from_str(text: &str) -> Result<TrunkCodec, BadCodec> {
        [
            TrunkCodec::Pcmu,
            TrunkCodec::Pcma,
            TrunkCodec::TelephoneEvent,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
        .ok_or_else(|| BadCodec(text.to_owned()))
    }
}

impl TryFrom<String> for TrunkCodec {
    type Error = BadCodec;

    fn try_from(text: String) -> Result<TrunkCodec, BadCodec> {
        text.parse()
    }
}

impl From<TrunkCodec> for String {
    fn from(codec: TrunkCodec) -> String {
        codec.as_str().to_owned()
    }
}

/// What a trunk carries unless its settings say otherwise: both G.711 laws, µ-law first,
/// and RFC 4733 events (what `local_media` offers phones).
#[must_use]
pub fn default_trunk_codecs() -> Vec<TrunkCodec> {
    vec![
        TrunkCodec::Pcmu,
        TrunkCodec::Pcma,
        TrunkCodec::TelephoneEvent,
    ]
}

/// The codecs the switch offers or answers a trunk with, in the trunk's order.
#[must_use]
pub fn trunk_media_codecs(codecs: &[TrunkCodec]) -> Vec<Codec> {
    codecs.iter().map(|c| c.codec()).collect()
}

/// A trunk calls come in from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundTrunk {
    pub name: String,
    /// Where its INVITEs come from.
    pub sources: Vec<IpPrefix>,
    /// Whether its INVITEs' caller number, CAD and priority are believed.
    pub trusted: bool,
    /// Calls through it at once, both ways; 0: no limit.
    pub max_channels: u32,
    /// What its calls are answered with, in preference order: an offer with none of them
    /// gets 488.
    pub codecs: Vec<TrunkCodec>,
}

impl Default for InboundTrunk {
    fn default() -> InboundTrunk {
        InboundTrunk {
            name: String::new(),
            sources: Vec::new(),
            trusted: false,
            max_channels: 0,
            codecs: default_trunk_codecs(),
        }
    }
}

impl InboundTrunk {
    /// Whether a request from `ip` comes from this trunk.
    #[must_use]
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.sources.iter().any(|p| p.contains(ip))
    }
}

/// The trunk `ip` belongs to, the first listed when several claim it.
#[must_use]
pub fn trunk_of(trunks: &[InboundTrunk], ip: IpAddr) -> Option<&InboundTrunk> {
    trunks.iter().find(|t| t.admits(ip))
}

/// A trunk calls go out through: its gateways, resolved, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTrunk {
    pub name: String,
    pub gateways: Vec<SocketAddr>,
    /// Calls through it at once, both ways; 0: no limit.
    pub max_channels: u32,
    /// The number outbound calls present; `None`: the caller's own.
    pub caller_id: Option<E164>,
    /// What the carrier's digest challenges are answered with.
    pub credentials: Option<TrunkCredentials>,
    /// Register with the first gateway for this long, when the carrier wants that.
    pub register: Option<Duration>,
    /// How its gateways are reached: UDP, or TCP and TLS connections the switch opens.
    pub transport: Transport,
    /// What calls out through it are offered, in preference order.
    pub codecs: Vec<TrunkCodec>,
}

impl Default for OutboundTrunk {
    fn default() -> OutboundTrunk {
        OutboundTrunk {
            name: String::new(),
            gateways: Vec::new(),
            max_channels: 0,
            caller_id: None,
            credentials: None,
            register: None,
            transport: Transport::Udp,
            codecs: default_trunk_codecs(),
        }
    }
}

/// A username and password for a carrier.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkCredentials {
    pub username: String,
    pub password: String,
}

// A password never reaches logs.
impl fmt::Debug for TrunkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Every trunk, outbound route and DID the switch uses, as the runtime hands them over at
/// start-up and after each change through the admin API (see `Switch::set_trunks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrunkSet {
    pub inbound: Vec<InboundTrunk>,
    pub outbound: Vec<OutboundTrunk>,
    pub routes: OutboundPlan,
    /// DIDs (by [`did_key`]) and the internal number each reaches.
    pub dids: HashMap<String, String>,
}

/// Who may dial what outside, and which trunks carry it: the switch's copy of `[dialing]`
/// and the extensions' calling classes.
#[derive(Debug, Clone)]
pub struct Dialing {
    pub plan: NumberPlan,
    pub toll: TollPolicy,
    pub routes: OutboundPlan,
    pub default_class: CallingClass,
    /// Extensions whose class is not the default.
    pub classes: HashMap<String, CallingClass>,
    /// DIDs (by [`did_key`]) and the internal number each reaches.
    pub dids: HashMap<String, String>,
}

/// How a DID is looked up: its E.164 form when it parses under `plan` (a carrier may send
/// `+33123450000`, `0123450000` or `33123450000` for one number), else as sent.
#[must_use]
pub fn did_key(plan: &NumberPlan, number: &str) -> String {
    plan.normalise(number)
        .map_or_else(|_| number.trim().to_owned(), |n| n.as_str().to_owned())
}

/// `[dialing]`'s defaults, with no route: nothing goes out.
impl Default for Dialing {
    fn default() -> Dialing {
        Dialing {
            plan: NumberPlan::france(),
            toll: TollPolicy::default(),
            routes: OutboundPlan::default(),
            default_class: CallingClass::National,
            classes: HashMap::new(),
            dids: HashMap::new(),
        }
    }
}

impl Dialing {
    /// What `user` may dial: its own class, else the default.
    #[must_use]
    pub fn class_of(&self, user: &str) -> CallingClass {
        self.classes
            .get(user)
            .copied()
            .unwrap_or(self.default_class)
    }

    /// The internal number the DID `dialled` reaches, if it is one.
    #[must_use]
    pub fn did_target(&self, dialled: &str) -> Option<&str> {
        if self.dids.is_empty() {
            return None;
        }
        self.dids
            .get(&did_key(&self.plan, dialled))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(text: &str) -> IpPrefix {
        text.parse().expect("a valid prefix")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_contain_their_addresses_and_only_those() {
        let lan = prefix("192.0.2.0/24");
        assert!(lan.contains(ip("192.0.2.77")));
        assert!(!lan.contains(ip("192.0.3.1")));
        assert!(
            lan.contains(ip("::ffff:192.0.2.9")),
            "a dual-stack socket's form"
        );
        assert!(!lan.contains(ip("2001:db8::1")));
        let one = prefix("127.0.0.1");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(prefix("0.0.0.0/0").contains(ip("203.0.113.5")));
        let v6 = prefix("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert_eq!(prefix(" 10.0.0.0 / 8 ").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn a_bad_prefix_is_refused_naming_it() {
        for bad in [
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "example.com",
            "10.0.0.0/x",
        ] {
            let error = bad.parse::<IpPrefix>().unwrap_err();
            assert_eq!(error, BadPrefix(bad.into()));
        }
    }

    #[test]
    fn the_first_trunk_claiming_an_address_takes_its_calls() {
        let trunks = vec![
            InboundTrunk {
                name: "ivr".into(),
                sources: vec![prefix("10.0.0.5")],
                trusted: true,
                max_channels: 0,
                ..Default::default()
            },
            InboundTrunk {
                name: "carrier".into(),
                sources: vec![prefix("10.0.0.0/8"), prefix("198.51.100.0/24")],
                trusted: false,
                max_channels: 0,
                ..Default::default()
            },
        ];
        let name = |a: &str| trunk_of(&trunks, ip(a)).map(|t| t.name.as_str());
        assert_eq!(name("10.0.0.5"), Some("ivr"));
        assert_eq!(name("10.9.9.9"), Some("carrier"));
        assert_eq!(name("198.51.100.20"), Some("carrier"));
        assert_eq!(name("203.0.113.1"), None);
    }
}
