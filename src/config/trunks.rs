//! `[[trunks]]` and `[dialing]`: where calls may come from without authenticating, where
//! calls to external numbers go, and who may dial what (see `call::trunks` and `dialing`).

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

use super::{ConfigError, Profile};
use crate::call::trunks::{
    Dialing, InboundTrunk, IpPrefix, OutboundTrunk, TrunkCodec, TrunkCredentials, TrunkSet,
    default_trunk_codecs, did_key,
};
use crate::dialing::{
    CallingClass, DEFAULT_BLOCKED, E164, NumberPlan, OutboundPlan, OutboundRoute, RouteError,
    TollPolicy,
};
use crate::sip::transport::Transport;

/// A trunk: a carrier, an SBC or an IVR in front (`[[trunks]]`, see `call::trunks`). It has
/// inbound sources, gateways, or both.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSettings {
    /// A name for logs, routes and the API.
    pub name: String,
    /// Addresses or prefixes its INVITEs come from (`192.0.2.10`, `198.51.100.0/24`),
    /// parsed as the profile is read: a bad one is a syntax error quoting it.
    #[serde(default)]
    pub inbound_sources: Vec<IpPrefix>,
    /// Believe its caller number, `X-Cad-*` and `Priority` (false: stripped).
    #[serde(default)]
    pub trusted: bool,
    /// Where calls out through it go, tried in order: the next when one does not answer or
    /// answers 408 or 5xx. Each is located as RFC 3263 says (see [`GatewayAddress`]), so one
    /// name may stand for several addresses.
    #[serde(default)]
    pub gateways: Vec<GatewayAddress>,
    /// Transport towards the gateways: `udp`, `tcp` or `tls`. Over TCP and TLS the switch
    /// opens the connection (one per gateway, kept while it carries traffic); over TLS it
    /// checks the gateway's certificate against `tls_ca` for the name written in `gateways`
    /// (RFC 5922 §4.1), and its SRV lookup asks for `_sips._tcp`.
    #[serde(default)]
    pub transport: GatewayTransport,
    /// The CA certificates (PEM) a TLS gateway's certificate must chain to. Unset: the
    /// system's bundle (`/etc/ssl/certs/ca-certificates.crt`).
    #[serde(default)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Codecs its calls carry, in preference order (`PCMU`, `PCMA`, `telephone-event`):
    /// calls out offer these only and calls in are answered from them (488 when the
    /// carrier's offer has none). The switch transcodes between the laws, so a trunk's
    /// law need not be the phones'. Default: all three, µ-law first.
    #[serde(default = "default_trunk_codecs")]
    pub codecs: Vec<TrunkCodec>,
    /// Calls through it at once, both ways (a carrier sells channels, not directions);
    /// more are refused with 503 and `Reason: ...;text="trunk_channels"`. 0: no limit.
    #[serde(default)]
    pub max_channels: u32,
    /// The number outbound calls present (From and `P-Asserted-Identity`), in E.164: a
    /// carrier refuses an extension number as caller ID. Unset: the caller's own number.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Digest credentials the carrier challenges our INVITEs (and REGISTERs) with.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Register with the first gateway (with `username` and `password`), as carriers that
    /// reach us at a registered contact want: re-registered before the binding ends, retried
    /// after 5 s doubling to 300 s when it fails, its state in `GET /api/v1/trunks`. Calls
    /// from the trunk's gateways then count as the trunk's, as if they were listed in
    /// `inbound_sources`.
    #[serde(default)]
    pub register: bool,
    /// The registration lifetime asked for.
    #[serde(default = "default_register_expires")]
    pub register_expires_secs: u32,
}

// The carrier's password never reaches logs.
impl fmt::Debug for TrunkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkSettings")
            .field("name", &self.name)
            .field("inbound_sources", &self.inbound_sources)
            .field("trusted", &self.trusted)
            .field("gateways", &self.gateways)
            .field("transport", &self.transport)
            .field("tls_ca", &self.tls_ca)
            .field("codecs", &self.codecs)
            .field("max_channels", &self.max_channels)
            .field("caller_id", &self.caller_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("register", &self.register)
            .field("register_expires_secs", &self.register_expires_secs)
            .finish()
    }
}

fn default_register_expires() -> u32 {
    600
}

/// The transports a gateway may be reached over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayTransport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

impl GatewayTransport {
    /// The SIP transport calls and registrations to the gateway use.
    #[must_use]
    pub fn protocol(self) -> Transport {
        match self {
            GatewayTransport::Udp => Transport::Udp,
            GatewayTransport::Tcp => Transport::Tcp,
            GatewayTransport::Tls => Transport::Tls,
        }
    }

    /// As the profile and the API write it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayTransport::Udp => "udp",
            GatewayTransport::Tcp => "tcp",
            GatewayTransport::Tls => "tls",
        }
    }
}

impl FromStr for GatewayTransport {
    type Err = String;

    fn from_str(text: &str) -> Result<GatewayTransport, String> {
        [
            GatewayTransport::Udp,
            GatewayTransport::Tcp,
            GatewayTransport::Tls,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
        .ok_or_else(|| "must be udp, tcp or tls".to_owned())
    }
}

/// A gateway as the profile or the API names it: a host (an IP address or a domain name) and
/// the port if one was written. How it becomes addresses (RFC 3263 §4.2, see `dns::locate`):
/// an IP address is used as it is (port 5060 unless given); a name with a port is looked up
/// by address (A/AAAA); a name without one by SRV (`_sip._udp.<name>`), its targets tried in
/// RFC 2782 order on the records' ports, or by address on port 5060 when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct GatewayAddress {
    pub host: String,
    /// The port written; `None` lets SRV records (or 5060) decide.
    pub port: Option<u16>,
}

impl GatewayAddress {
    /// The host as an IP address, when it is one.
    #[must_use]
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }
}

/// As written, so the API shows it and the store keeps it unchanged: `[2001:db8::5]:5062`,
/// `sip.carrier.example` (no port added: that would turn the SRV lookup off).
impl fmt::Display for GatewayAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) if self.host.contains(':') => write!(f, "[{}]:{port}", self.host),
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Why a gateway address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a gateway address (say 192.0.2.10, 192.0.2.10:5080 or sip.example.net)")]
pub struct BadGateway(pub String);

impl FromStr for GatewayAddress {
    type Err = BadGateway;

    fn from_str(text: &str) -> Result<GatewayAddress, BadGateway> {
        let bad = || BadGateway(text.to_owned());
        if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
            if addr.port() == 0 {
                return Err(bad());
            }
            return Ok(GatewayAddress {
                host: addr.ip().to_string(),
                port: Some(addr.port()),
            });
        }
        if let Ok(ip) = text.parse::<std::net::IpAddr>() {
            return Ok(GatewayAddress {
                host: ip.to_string(),
                port: None,
            });
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse::<u16>().map_err(|_| bad())?)),
            None => (text, None),
        };
        // A domain name the DNS can be asked about: labels of letters, digits and hyphens.
        let host_ok = crate::dns::Name::from_dotted(host).is_ok()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !host_ok || port == Some(0) {
            return Err(bad());
        }
        Ok(GatewayAddress {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl TryFrom<String> for GatewayAddress {
    type Error = BadGateway;

    fn try_from(text: String) -> Result<GatewayAddress, BadGateway> {
        text.parse()
    }
}

/// `[dialing]`: how people type external numbers here, who may dial what, and which trunks
/// carry which numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialingSettings {
    /// The home country code, without `+`.
    #[serde(default = "default_country_code")]
    pub country_code: String,
    /// The trunk prefix of national numbers (empty in NANP).
    #[serde(default = "default_national_prefix")]
    pub national_prefix: String,
    /// International direct-dialling prefixes.
    #[serde(default = "default_idd_prefixes")]
    pub idd_prefixes: Vec<String>,
    /// What an extension may dial unless it says otherwise (`[[extensions]] calling_class`,
    /// the database's `calling_class`).
    #[serde(default = "default_class")]
    pub default_class: CallingClass,
    /// E.164 prefixes never dialled, whatever the class (default: the ITU's shared
    /// satellite and premium-rate codes).
    #[serde(default = "default_blocked")]
    pub blocked_prefixes: Vec<String>,
    /// Outbound routes: the longest prefix matching the number picks the trunks to try.
    #[serde(default)]
    pub routes: Vec<RouteSettings>,
    /// Numbers trunks deliver calls to (DIDs), and where each goes.
    #[serde(default)]
    pub dids: Vec<DidSettings>,
    /// The DNS server gateway names are looked up at (`"127.0.0.1:5353"`, or an IP alone
    /// for port 53). Unset: the first `nameserver` of `/etc/resolv.conf`.
    #[serde(default)]
    pub nameserver: Option<Nameserver>,
}

/// A DNS server's address, as `[dialing] nameserver` gives it: an IP address (port 53) or
/// IP and port. Not a name: it would need a nameserver to be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Nameserver(pub std::net::SocketAddr);

/// Why a nameserver address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a nameserver address (say 192.0.2.53, 127.0.0.1:5353 or [2001:db8::53]:53: an IP address, not a name)"
)]
pub struct BadNameserver(pub String);

/// The DNS port (RFC 1035 §4.2).
const DNS_PORT: u16 = 53;

impl FromStr for Nameserver {
    type Err = BadNameserver;

    fn from_str(text: &str) -> Result<Nameserver, BadNameserver> {
        let addr = match text.parse::<std::net::SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => text
                .parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, DNS_PORT))
                .map_err(|_| BadNameserver(text.to_owned()))?,
        };
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return Err(BadNameserver(text.to_owned()));
        }
        Ok(Nameserver(addr))
    }
}

impl TryFrom<String> for Nameserver {
    type Error = BadNameserver;

    fn try_from(text: String) -> Result<Nameserver, BadNameserver> {
        text.parse()
    }
}

/// A number a trunk delivers calls to, and the internal number it reaches: a queue number or
/// an extension. A trunk's call to a DID needs no digest (the trunk is known by its address),
/// whatever it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidSettings {
    /// As the carrier sends it; matched after normalising both to E.164 when they parse.
    pub number: String,
    /// A queue number, an extension, or an external number the call is forwarded to
    /// through the outbound routes (another trunk, in the international class: blocked
    /// prefixes still apply).
    pub to: String,
}

impl Default for DialingSettings {
    fn default() -> DialingSettings {
        DialingSettings {
            country_code: default_country_code(),
            national_prefix: default_national_prefix(),
            idd_prefixes: default_idd_prefixes(),
            default_class: default_class(),
            blocked_prefixes: default_blocked(),
            routes: Vec::new(),
            dids: Vec::new(),
            nameserver: None,
        }
    }
}

/// One outbound route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// `+` and digits; `+` alone matches every number.
    pub prefix: String,
    /// Trunk names, tried in order.
    pub trunks: Vec<String>,
}

fn default_country_code() -> String {
    "33".into()
}
fn default_national_prefix() -> String {
    "0".into()
}
fn default_idd_prefixes() -> Vec<String> {
    vec!["00".into()]
}
fn default_class() -> CallingClass {
    CallingClass::National
}
fn default_blocked() -> Vec<String> {
    DEFAULT_BLOCKED.iter().map(|p| (*p).to_owned()).collect()
}

impl DialingSettings {
    /// The number plan.
    #[must_use]
    pub fn number_plan(&self) -> NumberPlan {
        NumberPlan {
            country_code: self.country_code.clone(),
            national_prefix: self.national_prefix.clone(),
            idd_prefixes: self.idd_prefixes.clone(),
        }
    }

    /// The blocked prefixes.
    #[must_use]
    pub fn toll_policy(&self) -> TollPolicy {
        TollPolicy {
            blocked: self.blocked_prefixes.clone(),
        }
    }

    /// The outbound routes (checked by `Profile::validate`).
    #[must_use]
    pub fn outbound_plan(&self) -> OutboundPlan {
        OutboundPlan::new(
            self.routes
                .iter()
                .map(|r| OutboundRoute {
                    prefix: r.prefix.clone(),
                    trunks: r.trunks.clone(),
                })
                .collect(),
        )
        .unwrap_or_default()
    }
}

impl Profile {
    /// `[dialing]` and the extensions' calling classes, as the switch checks outbound calls.
    #[must_use]
    pub fn dialing(&self) -> Dialing {
        let d = &self.dialing;
        Dialing {
            plan: d.number_plan(),
            toll: d.toll_policy(),
            routes: d.outbound_plan(),
            default_class: d.default_class,
            classes: self
                .extensions
                .iter()
                .filter_map(|e| Some((e.user.clone(), e.calling_class?)))
                .collect(),
            dids: d
                .dids
                .iter()
                .map(|did| (did_key(&d.number_plan(), &did.number), did.to.clone()))
                .collect(),
        }
    }

    /// The trunks with gateways, as the switch sends calls through them; `resolve` turns each
    /// gateway into its addresses (a name may have several, an unresolvable one none).
    pub fn outbound_trunks(
        &self,
        mut resolve: impl FnMut(GatewayTransport, &GatewayAddress) -> Vec<std::net::SocketAddr>,
    ) -> Vec<OutboundTrunk> {
        self.trunks
            .iter()
            .filter(|t| !t.gateways.is_empty())
            .map(|t| OutboundTrunk {
                name: t.name.clone(),
                gateways: t
                    .gateways
                    .iter()
                    .flat_map(|g| resolve(t.transport, g))
                    .collect(),
                max_channels: t.max_channels,
                caller_id: t.caller_id.as_deref().and_then(|id| E164::parse(id).ok()),
                credentials: t
                    .username
                    .clone()
                    .zip(t.password.clone())
                    .map(|(username, password)| TrunkCredentials { username, password }),
                register: t
                    .register
                    .then(|| std::time::Duration::from_secs(t.register_expires_secs.into())),
                transport: t.transport.protocol(),
                codecs: t.codecs.clone(),
            })
            .collect()
    }

    /// The profile's trunks, as the switch checks calls against them. A trunk that
    /// registers also takes calls from its gateways (`outbound`, resolved): the carrier sends
    /// them to the contact we registered, from the registrar or its other gateways, and
    /// listing them in `inbound_sources` too would only repeat them.
    #[must_use]
    pub fn inbound_trunks(&self, outbound: &[OutboundTrunk]) -> Vec<InboundTrunk> {
        self.trunks
            .iter()
            .map(|t| {
                let mut sources = t.inbound_sources.clone();
                let gateways = outbound
                    .iter()
                    .filter(|o| t.register && o.name == t.name)
                    .flat_map(|o| &o.gateways);
                for gateway in gateways {
                    let ip = gateway.ip();
                    if !sources.iter().any(|p| p.contains(ip)) {
                        sources.push(IpPrefix::from(ip));
                    }
                }
                InboundTrunk {
                    name: t.name.clone(),
                    sources,
                    trusted: t.trusted,
                    max_channels: t.max_channels,
                    codecs: t.codecs.clone(),
                }
            })
            .filter(|t| !t.sources.is_empty())
            .collect()
    }

    pub(super) fn validate_trunks(&self) -> Result<(), ConfigError> {
        self.validate_number_plan()?;
        check_trunks(&self.trunks, &self.dialing).map_err(|e| self.invalid(e.key, e.message))?;
        self.check_trunk_cas()
    }

    /// Reads each TLS trunk's CA file as the switch will, so a bad one stops it now.
    #[cfg(feature = "server")]
    fn check_trunk_cas(&self) -> Result<(), ConfigError> {
        for trunk in &self.trunks {
            if let Some(ca) = self.trunk_ca(trunk) {
                crate::tls::trust_anchors(&ca).map_err(|e| {
                    self.invalid("trunks.tls_ca", format!("trunk `{}`: {e}", trunk.name))
                })?;
            }
        }
        Ok(())
    }

    /// The protocol cores alone (the fuzz targets) open no TLS connections.
    #[cfg(not(feature = "server"))]
    fn check_trunk_cas(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// A trunk's `tls_ca`, resolved against the profile's directory.
    #[must_use]
    pub fn trunk_ca(&self, trunk: &TrunkSettings) -> Option<std::path::PathBuf> {
        let dir = self.source.parent().unwrap_or(std::path::Path::new("."));
        trunk.tls_ca.as_ref().map(|ca| dir.join(ca))
    }

    fn validate_number_plan(&self) -> Result<(), ConfigError> {
        let d = &self.dialing;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&d.country_code) || d.country_code.len() > 3 {
            return Err(self.invalid("dialing.country_code", "must be 1 to 3 digits"));
        }
        if !(d.national_prefix.is_empty() || digits(&d.national_prefix)) {
            return Err(self.invalid("dialing.national_prefix", "must be digits or empty"));
        }
        if !d.idd_prefixes.iter().all(|p| digits(p)) {
            return Err(self.invalid("dialing.idd_prefixes", "must each be digits"));
        }
        if let Some(bad) = d
            .blocked_prefixes
            .iter()
            .find(|p| !p.strip_prefix('+').is_some_and(digits))
        {
            return Err(self.invalid(
                "dialing.blocked_prefixes",
                format!("{bad:?} must be '+' and digits"),
            ));
        }
        Ok(())
    }

    /// The profile's trunks and dialing, which stored ones are merged after and checked
    /// against.
    #[must_use]
    pub fn profile_trunks(&self) -> ProfileTrunks {
        ProfileTrunks {
            trunks: self.trunks.clone(),
            dialing: self.dialing.clone(),
        }
    }

    /// This profile with the database's trunks, DIDs and routes after its own (see
    /// [`ProfileTrunks::merged`]).
    #[must_use]
    pub fn with_stored(&self, stored: &StoredTrunks) -> Profile {
        let (trunks, dialing) = self.profile_trunks().merged(stored);
        Profile {
            trunks,
            dialing,
            ..self.clone()
        }
    }

    /// Everything the switch needs of trunks, DIDs and routes, gateways resolved by
    /// `resolve` (see [`Profile::outbound_trunks`]).
    pub fn trunk_set(
        &self,
        resolve: impl FnMut(GatewayTransport, &GatewayAddress) -> Vec<std::net::SocketAddr>,
    ) -> TrunkSet {
        let outbound = self.outbound_trunks(resolve);
        let dialing = self.dialing();
        TrunkSet {
            inbound: self.inbound_trunks(&outbound),
            outbound,
            routes: dialing.routes,
            dids: dialing.dids,
        }
    }
}

/// Trunks, DIDs and outbound routes kept in the database (the admin API's), used after the
/// profile's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredTrunks {
    pub trunks: Vec<TrunkSettings>,
    pub dids: Vec<DidSettings>,
    pub routes: Vec<RouteSettings>,
}

/// The profile's own trunks and `[dialing]`: what stored trunks are merged after, checked
/// against, and may not replace.
#[derive(Debug, Clone, Default)]
pub struct ProfileTrunks {
    pub trunks: Vec<TrunkSettings>,
    pub dialing: DialingSettings,
}

impl ProfileTrunks {
    /// The profile's trunks, routes and DIDs, then the stored ones. A stored entry with a
    /// profile trunk's name, a profile route's prefix or a profile DID's number is left out
    /// (logged): the API refuses those, so only a profile edited since can cause it, and the
    /// profile wins.
    #[must_use]
    pub fn merged(&self, stored: &StoredTrunks) -> (Vec<TrunkSettings>, DialingSettings) {
        let mut trunks = self.trunks.clone();
        let mut dialing = self.dialing.clone();
        let plan = dialing.number_plan();
        for trunk in &stored.trunks {
            if self.trunks.iter().any(|t| t.name == trunk.name) {
                tracing::warn!(trunk = %trunk.name, "stored trunk has a profile trunk's name; left out");
            } else {
                trunks.push(trunk.clone());
            }
        }
        for route in &stored.routes {
            if self.dialing.routes.iter().any(|r| r.prefix == route.prefix) {
                tracing::warn!(prefix = %route.prefix, "stored route has a profile route's prefix; left out");
            } else {
                dialing.routes.push(route.clone());
            }
        }
        for did in &stored.dids {
            let key = did_key(&plan, &did.number);
            if self
                .dialing
                .dids
                .iter()
                .any(|d| did_key(&plan, &d.number) == key)
            {
                tracing::warn!("stored DID is also the profile's; left out");
            } else {
                dialing.dids.push(did.clone());
            }
        }
        (trunks, dialing)
    }

    /// Whether the profile's trunks, DIDs and routes with `stored` after them follow the
    /// profile's rules (see [`check_trunks`]).
    pub fn check(&self, stored: &StoredTrunks) -> Result<(), TrunkConfigError> {
        let (trunks, dialing) = self.merged(stored);
        check_trunks(&trunks, &dialing)
    }
}

/// Why trunks, DIDs or routes are refused: the profile key at fault (`trunks.caller_id`,
/// `dialing.dids.number`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: {message}")]
pub struct TrunkConfigError {
    pub key: &'static str,
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> TrunkConfigError {
    TrunkConfigError {
        key,
        message: message.into(),
    }
}

/// The rules trunks, outbound routes and DIDs follow, wherever they are written (the profile
/// or the admin API): unique names, sources or gateways, credentials in pairs, routes naming
/// trunks with gateways, DIDs listed once.
pub fn check_trunks(
    trunks: &[TrunkSettings],
    dialing: &DialingSettings,
) -> Result<(), TrunkConfigError> {
    let mut names = std::collections::HashSet::new();
    for trunk in trunks {
        if trunk.name.trim().is_empty() || !names.insert(trunk.name.as_str()) {
            return Err(invalid(
                "trunks.name",
                format!("`{}` is empty or listed twice", trunk.name),
            ));
        }
        check_trunk(trunk)?;
    }
    let d = dialing;
    let routes = d
        .routes
        .iter()
        .map(|r| OutboundRoute {
            prefix: r.prefix.clone(),
            trunks: r.trunks.clone(),
        })
        .collect();
    if let Err(e) = OutboundPlan::new(routes) {
        let key = match e {
            RouteError::NoTrunk(_) => "dialing.routes.trunks",
            RouteError::BadPrefix(_) | RouteError::Duplicate(_) => "dialing.routes.prefix",
        };
        return Err(invalid(key, e.to_string()));
    }
    let plan = d.number_plan();
    let mut dids = std::collections::HashSet::new();
    for did in &d.dids {
        if did.number.trim().is_empty() || !dids.insert(did_key(&plan, &did.number)) {
            return Err(invalid(
                "dialing.dids.number",
                format!("{:?} is empty or listed twice", did.number),
            ));
        }
        if did.to.trim().is_empty() || did.to.contains(['@', ' ', ';']) {
            return Err(invalid(
                "dialing.dids.to",
                format!(
                    "{:?} must be a queue number, an extension or a number",
                    did.to
                ),
            ));
        }
    }
    for route in &d.routes {
        for name in &route.trunks {
            let gateways = trunks
                .iter()
                .find(|t| &t.name == name)
                .map(|t| !t.gateways.is_empty());
            if gateways != Some(true) {
                return Err(invalid(
                    "dialing.routes.trunks",
                    format!(
                        "route {} names `{name}`, which is no trunk with gateways",
                        route.prefix
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One trunk's own rules.
fn check_trunk(trunk: &TrunkSettings) -> Result<(), TrunkConfigError> {
    if trunk.inbound_sources.is_empty() && trunk.gateways.is_empty() {
        return Err(invalid(
            "trunks.inbound_sources",
            format!(
                "trunk `{}` lists neither a source nor a gateway",
                trunk.name
            ),
        ));
    }
    if let Some(id) = &trunk.caller_id
        && E164::parse(id).is_err()
    {
        return Err(invalid(
            "trunks.caller_id",
            format!("trunk `{}`: {id:?} is not +CC and digits", trunk.name),
        ));
    }
    if trunk.username.is_some() != trunk.password.is_some() {
        return Err(invalid(
            "trunks.password",
            format!("trunk `{}`: username and password go together", trunk.name),
        ));
    }
    if trunk.register && (trunk.username.is_none() || trunk.gateways.is_empty()) {
        return Err(invalid(
            "trunks.register",
            format!(
                "trunk `{}` registers, so it needs a gateway, a username and a password",
                trunk.name
            ),
        ));
    }
    if trunk.register && !(60..=86_400).contains(&trunk.register_expires_secs) {
        return Err(invalid(
            "trunks.register_expires_secs",
            "must lie between 60 and 86400",
        ));
    }
    check_codecs(&trunk.codecs).map_err(|message| {
        invalid(
            "trunks.codecs",
            format!("trunk `{}`: {message}", trunk.name),
        )
    })?;
    if trunk.tls_ca.is_some() && trunk.transport != GatewayTransport::Tls {
        return Err(invalid(
            "trunks.tls_ca",
            format!("trunk `{}`: tls_ca is for transport = \"tls\"", trunk.name),
        ));
    }
    Ok(())
}

/// A trunk's codec list: at least one G.711 law (telephone-event alone carries no voice),
/// each once.
pub fn check_codecs(codecs: &[TrunkCodec]) -> Result<(), String> {
    if !codecs.iter().any(|c| *c != TrunkCodec::TelephoneEvent) {
        return Err("needs PCMU or PCMA".to_owned());
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = codecs.iter().find(|c| !seen.insert(**c)) {
        return Err(format!("lists {} twice", twice.as_str()));
    }
    Ok(())
}
