//! Registrar and location service, RFC 3261 §10.3 (binding matching by `+sip.instance` and
//! `reg-id` as in RFC 5626 §6 when the phone sends them).
//!
//! Sans-IO: the caller passes `now` ([`Instant`]) into every mutation, then drains
//! [`Registrar::poll_output`] and sleeps until [`Registrar::poll_timeout`]. The glue extracts
//! plain values from the REGISTER (AOR from To, Call-ID, CSeq, Contacts, Expires, the source
//! address) and turns [`RegisterOutcome`] into a 200 OK or [`RegisterError`] into its status.
//!
//! ```text
//!  phone                    glue                       Registrar
//!    | REGISTER ------------> | handle_register(now, in) ->|
//!    |                        | <- Ok(outcome) / Err(e)    | Persist(Upsert), Registered
//!    | <-- 200 (Contacts;     |                            |
//!    |     expires=N)         |   ... poll_timeout() ...   |
//!    |                        | handle_timeout(deadline) ->| BindingExpired, Persist(Remove)
//! ```
//!
//! Choices:
//! - Every binding records the REGISTER's source address in `received` and the glue routes
//!   requests there (phones behind NAT put private addresses in Contact).
//! - Too many bindings for one AOR answers 403 "Too Many Registrations": it is a policy
//!   refusal, and a 5xx would only make RFC 3263 clients retry another server with the same
//!   policy. Refreshes of an AOR already over the cap (after the cap was lowered) still pass.
//! - Contact URIs are matched on a simplified form of RFC 3261 §19.1.4: scheme, host and
//!   parameter names/values compared case-insensitively, parameters order-insensitive,
//!   user part and port exact.
//! - An absent `q` ranks as 1.0 when ordering bindings.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Rejections of a REGISTER, classified by blame; [`RegisterError::status`] is the one place
/// that maps them to SIP status codes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegisterError {
    /// Malformed input: the address-of-record is not a usable `user@domain`.
    #[error("invalid address-of-record: {0}")]
    InvalidAor(&'static str),
    /// Malformed input or protocol violation (400), e.g. `*` with other contacts.
    #[error("bad REGISTER: {0}")]
    BadRequest(&'static str),
    /// Policy: a non-zero expiry below the minimum (423, with a `Min-Expires` header).
    #[error("registration interval too brief, minimum is {min_expires:?}")]
    IntervalTooBrief {
        /// Value for the `Min-Expires` header.
        min_expires: Duration,
    },
    /// Peer misbehaved: same Call-ID with a CSeq not higher than the stored one (§10.3 step
    /// 6/7); the update is aborted (500).
    #[error("REGISTER out of order: same Call-ID and CSeq not higher than stored")]
    OutOfOrder,
    /// Policy: the AOR would exceed its binding cap (403).
    #[error("too many bindings for this address-of-record (max {max})")]
    TooManyBindings {
        /// The configured cap.
        max: usize,
    },
}

impl RegisterError {
    /// The SIP status code and reason phrase to answer with.
    #[must_use]
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Self::InvalidAor(_) | Self::BadRequest(_) => (400, "Bad Request"),
            Self::IntervalTooBrief { .. } => (423, "Interval Too Brief"),
            Self::OutOfOrder => (500, "Out Of Order Request"),
            Self::TooManyBindings { .. } => (403, "Too Many Registrations"),
        }
    }
}

/// A canonical address-of-record, `user@domain` (RFC 3261 §10.3 step 5): no scheme, port,
/// parameters or password; domain lowercased; user case kept, unreserved `%XX` decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Aor(String);

impl Aor {
    /// Canonicalises `sip:user@Domain:5060;params`, `sips:…`, `<sip:…>` or `user@domain`.
    pub fn parse(uri: &str) -> Result<Self, RegisterError> {
        let s = uri.trim();
        let s = s
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .unwrap_or(s);
        let s = strip_prefix_ignore_case(s, "sips:")
            .or_else(|| strip_prefix_ignore_case(s, "sip:"))
            .unwrap_or(s);
        let s = s.split_once('?').map_or(s, |(before, _)| before);
        let (userinfo, hostpart) = s
            .split_once('@')
            .ok_or(RegisterError::InvalidAor("no user part"))?;
        let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
        let host = hostpart.split_once(';').map_or(hostpart, |(h, _)| h);
        let host = if host.starts_with('[') {
            host.find(']')
                .and_then(|i| host.get(..=i))
                .ok_or(RegisterError::InvalidAor("unterminated IPv6 reference"))?
        } else {
            host.split_once(':').map_or(host, |(h, _)| h)
        };
        Self::new(user, host)
    }

    /// Builds an AOR from its parts, validating and normalising them.
    pub fn new(user: &str, domain: &str) -> Result<Self, RegisterError> {
        if user.is_empty() {
            return Err(RegisterError::InvalidAor("empty user"));
        }
        if domain.is_empty() {
            return Err(RegisterError::InvalidAor("empty domain"));
        }
        if user
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '<' | '>' | '"'))
        {
            return Err(RegisterError::InvalidAor("invalid character in user"));
        }
        let name_ok = domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
        let ipv6_ok = domain
            .strip_prefix('[')
            .and_then(|d| d.strip_suffix(']'))
            .is_some_and(|d| {
                d.bytes()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
            });
        if !name_ok && !ipv6_ok {
            return Err(RegisterError::InvalidAor("invalid character in domain"));
        }
        Ok(Self(format!(
            "{}@{}",
            decode_unreserved(user),
            domain.to_ascii_lowercase()
        )))
    }

    /// The canonical `user@domain` text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user part.
    #[must_use]
    pub fn user(&self) -> &str {
        self.0.split_once('@').map_or("", |(u, _)| u)
    }

    /// The (lowercase) domain.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Aor {
    type Error = RegisterError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Aor> for String {
    fn from(a: Aor) -> Self {
        a.0
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3261 §19.1.4: escaped and unescaped
/// forms are equivalent), leaving every other escape as is with uppercase hex.
fn decode_unreserved(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let decoded = after
            .get(..2)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(b) if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) => {
                out.push(char::from(b));
                rest = &after[2..];
            }
            Some(b) => {
                out.push_str(&format!("%{b:02X}"));
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The transport a REGISTER arrived on, and so the one to reach the binding on.
pub use super::transport::Transport;

/// A binding of an AOR to a contact (RFC 3261 §10.3 step 7).
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The Contact URI as the phone sent it.
    pub contact_uri: String,
    /// When the binding lapses; it is gone at exactly this instant.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that last wrote it.
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// `q` preference, 0.0 to 1.0.
    pub q: Option<f32>,
    /// Source address of the REGISTER: where to send requests (NAT traversal).
    pub received: Option<SocketAddr>,
    /// Transport of the REGISTER.
    pub transport: Transport,
    /// `+sip.instance` (RFC 5626), without the angle brackets or quotes.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626).
    pub reg_id: Option<u32>,
    /// When the binding was last written (orders equal-q bindings, most recent first).
    pub updated_at: Instant,
}

impl Binding {
    /// Time left before expiry (zero once expired).
    #[must_use]
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// The persisted form; `now_unix` (seconds since the UNIX epoch) is the wall clock at
    /// `now`. The expiry is rounded up to the next whole second.
    #[must_use]
    pub fn to_persisted(&self, now: Instant, now_unix: u64) -> PersistedBinding {
        PersistedBinding {
            contact_uri: self.contact_uri.clone(),
            expires_unix: now_unix.saturating_add(ceil_secs(self.remaining(now))),
            updated_unix: now_unix
                .saturating_sub(now.saturating_duration_since(self.updated_at).as_secs()),
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            q: self.q,
            received: self.received,
            transport: self.transport,
            instance: self.instance.clone(),
            reg_id: self.reg_id,
        }
    }

    fn key(&self) -> ContactKey {
        ContactKey::new(&self.contact_uri, self.instance.as_deref(), self.reg_id)
    }

    fn rank_q(&self) -> f32 {
        self.q.unwrap_or(1.0)
    }
}

/// A binding as stored in the database, with wall-clock times (seconds since the UNIX epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedBinding {
    /// See [`Binding::contact_uri`].
    pub contact_uri: String,
    /// Absolute expiry.
    pub expires_unix: u64,
    /// Last write.
    pub updated_unix: u64,
    /// See [`Binding::call_id`].
    pub call_id: String,
    /// See [`Binding::cseq`].
    pub cseq: u32,
    /// See [`Binding::q`].
    pub q: Option<f32>,
    /// See [`Binding::received`].
    pub received: Option<SocketAddr>,
    /// See [`Binding::transport`].
    pub transport: Transport,
    /// See [`Binding::instance`].
    pub instance: Option<String>,
    /// See [`Binding::reg_id`].
    pub reg_id: Option<u32>,
}

/// Registrar policy, from the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Expiry when neither the contact nor the request says (RFC 3261 suggests 3600 s).
    pub default_expires: Duration,
    /// Shortest accepted non-zero expiry; shorter answers 423.
    pub min_expires: Duration,
    /// Longer requested expiries are cut down to this.
    pub max_expires: Duration,
    /// Most bindings one AOR may hold.
    pub max_bindings_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            default_expires: Duration::from_secs(3600),
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
            max_bindings_per_aor: 10,
        }
    }
}

/// One Contact of a REGISTER, as plain values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContactInput {
    /// The contact URI (without angle brackets or header parameters).
    pub uri: String,
    /// The `expires` header parameter, in seconds.
    pub expires: Option<u32>,
    /// The `q` header parameter.
    pub q: Option<f32>,
    /// The `+sip.instance` header parameter, without quotes or angle brackets.
    pub instance: Option<String>,
    /// The `reg-id` header parameter.
    pub reg_id: Option<u32>,
}

impl ContactInput {
    /// A contact with no parameters.
    #[must_use]
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            ..Self::default()
        }
    }

    /// With an `expires` parameter.
    #[must_use]
    pub fn expires(mut self, secs: u32) -> Self {
        self.expires = Some(secs);
        self
    }

    /// With a `q` parameter.
    #[must_use]
    pub fn q(mut self, q: f32) -> Self {
        self.q = Some(q);
        self
    }

    /// With RFC 5626 `+sip.instance` and `reg-id`.
    #[must_use]
    pub fn instance(mut self, instance: impl Into<String>, reg_id: Option<u32>) -> Self {
        self.instance = Some(instance.into());
        self.reg_id = reg_id;
        self
    }
}

/// The Contact header fields of a REGISTER.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ContactsSpec {
    /// No Contact: a query for the current bindings.
    #[default]
    None,
    /// `Contact: *`: remove all bindings (only valid with `Expires: 0`).
    Wildcard,
    /// The listed contacts (an empty list is a query too).
    List(Vec<ContactInput>),
}

/// The parts of a REGISTER the registrar needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterInput {
    /// From the To header, canonicalised.
    pub aor: Aor,
    /// The Call-ID.
    pub call_id: String,
    /// The CSeq number.
    pub cseq: u32,
    /// The Contact header fields.
    pub contacts: ContactsSpec,
    /// The Expires header, in seconds.
    pub expires_header: Option<u32>,
    /// Where the REGISTER came from.
    pub source: SocketAddr,
    /// What it came over.
    pub transport: Transport,
}

/// A binding as listed in the 200 OK.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentBinding {
    /// The Contact URI.
    pub contact_uri: String,
    /// Time left.
    pub expires_in: Duration,
    /// `q`, to echo back.
    pub q: Option<f32>,
    /// `+sip.instance`, to echo back.
    pub instance: Option<String>,
    /// `reg-id`, to echo back.
    pub reg_id: Option<u32>,
}

impl CurrentBinding {
    /// The `expires=` Contact parameter in whole seconds, rounded up so a live binding never
    /// shows 0 (which would read as "removed").
    #[must_use]
    pub fn expires_param(&self) -> u32 {
        u32::try_from(ceil_secs(self.expires_in)).unwrap_or(u32::MAX)
    }
}

/// A successful REGISTER: the AOR's bindings after the update, ordered as [`Registrar::lookup`].
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterOutcome {
    /// One Contact header each in the 200 OK.
    pub bindings: Vec<CurrentBinding>,
}

/// A change for the database to mirror.
#[derive(Debug, Clone, PartialEq)]
pub enum BindingChange {
    /// Insert or replace the binding keyed by (AOR, contact URI); convert with
    /// [`Binding::to_persisted`].
    Upsert {
        /// The AOR.
        aor: Aor,
        /// The binding as now stored.
        binding: Binding,
    },
    /// Delete the binding keyed by (AOR, contact URI).
    Remove {
        /// The AOR.
        aor: Aor,
        /// The contact URI.
        contact_uri: String,
    },
}

/// What the registrar asks the runtime to do or know.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A new binding appeared (not emitted for refreshes or restores).
    Registered {
        /// The AOR.
        aor: Aor,
        /// The contact URI.
        contact: String,
    },
    /// A REGISTER removed a binding (`expires=0` or `*`).
    Unregistered {
        /// The AOR.
        aor: Aor,
        /// The contact URI.
        contact: String,
    },
    /// A binding lapsed without refresh.
    BindingExpired {
        /// The AOR.
        aor: Aor,
        /// The contact URI.
        contact: String,
    },
    /// Mirror this in the database.
    Persist(BindingChange),
}

/// How a contact is recognised across REGISTERs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ContactKey {
    /// RFC 5626: the same instance (and reg-id) is the same binding whatever its URI.
    Instance(String, Option<u32>),
    /// Otherwise the normalised URI.
    Uri(String),
}

impl ContactKey {
    fn new(uri: &str, instance: Option<&str>, reg_id: Option<u32>) -> Self {
        match instance {
            Some(i) => Self::Instance(i.to_owned(), reg_id),
            None => Self::Uri(normalise_uri(uri)),
        }
    }
}

/// A simplified RFC 3261 §19.1.4 comparison form; see the module doc.
fn normalise_uri(uri: &str) -> String {
    let uri = uri.trim();
    let (scheme, rest) = uri.split_once(':').unwrap_or(("", uri));
    let (rest, headers) = rest.split_once('?').unwrap_or((rest, ""));
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let mut params = hostpart.split(';');
    let hostport = params.next().unwrap_or("").to_ascii_lowercase();
    let mut params: Vec<String> = params
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    params.sort_unstable();
    let mut out = scheme.to_ascii_lowercase();
    out.push(':');
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(&hostport);
    for p in &params {
        out.push(';');
        out.push_str(p);
    }
    if !headers.is_empty() {
        out.push('?');
        out.push_str(headers);
    }
    out
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[derive(Debug, Clone)]
struct Slot {
    id: u64,
    key: ContactKey,
    binding: Binding,
}

/// The location service: AOR → bindings, with expiry.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    aors: HashMap<Aor, Vec<Slot>>,
    /// Expiry index: (deadline, slot id) → AOR. Ids make keys unique.
    expiry: BTreeMap<(Instant, u64), Aor>,
    next_id: u64,
    outputs: VecDeque<Output>,
    last_now: Option<Instant>,
    /// Live bindings per source IP (the REGISTER's `received`): whether an address is a
    /// registered device's is asked of every unauthenticated INVITE, so it is a lookup, not
    /// a scan of every binding.
    sources: HashMap<IpAddr, u32>,
}

impl Registrar {
    /// An empty registrar.
    #[must_use]
    pub fn new(config: RegistrarConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The policy in force.
    #[must_use]
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Whether a live binding was registered from `ip` (a device's address).
    #[must_use]
    pub fn has_binding_from(&self, ip: IpAddr) -> bool {
        self.sources.contains_key(&ip)
    }

    /// Number of live bindings across all AORs.
    #[must_use]
    pub fn binding_count(&self) -> usize {
        self.expiry.len()
    }

    /// Handles a REGISTER (RFC 3261 §10.3 steps 6–8). All contact updates are applied, or
    /// none are.
    pub fn handle_register(
        &mut self,
        now: Instant,
        input: RegisterInput,
    ) -> Result<RegisterOutcome, RegisterError> {
        let now = self.advance(now);
        // Lapsed bindings must not be matched or counted.
        self.expire_due(now);
        let RegisterInput {
            aor,
            call_id,
            cseq,
            contacts,
            expires_header,
            source,
            transport,
        } = input;

        let contacts = match contacts {
            ContactsSpec::None => return Ok(self.outcome(now, &aor)),
            ContactsSpec::List(list) if list.is_empty() => return Ok(self.outcome(now, &aor)),
            ContactsSpec::Wildcard => {
                self.unregister_all(&aor, &call_id, cseq, expires_header)?;
                return Ok(self.outcome(now, &aor));
            }
            ContactsSpec::List(list) => list,
        };

        // Validate every contact before touching anything (400, then 423).
        let mut planned: Vec<(ContactKey, ContactInput, Duration)> =
            Vec::with_capacity(contacts.len());
        for c in contacts {
            if c.uri.trim().is_empty() {
                return Err(RegisterError::BadRequest("empty Contact URI"));
            }
            if c.uri.trim() == "*" {
                return Err(RegisterError::BadRequest("`*` must be the only Contact"));
            }
            if c.q.is_some_and(|q| !(0.0..=1.0).contains(&q)) {
                return Err(RegisterError::BadRequest("q must be between 0 and 1"));
            }
            let key = ContactKey::new(&c.uri, c.instance.as_deref(), c.reg_id);
            if planned.iter().any(|(k, ..)| *k == key) {
                return Err(RegisterError::BadRequest("same Contact listed twice"));
            }
            let expires = self.expiry_for(c.expires.or(expires_header))?;
            planned.push((key, c, expires));
        }

        // Tentative update on a copy (§10.3 step 7: commit all or nothing).
        let old = self.aors.get(&aor).cloned().unwrap_or_default();
        let mut slots = old.clone();
        let mut events = Vec::new();
        for (key, c, expires) in planned {
            let pos = slots.iter().position(|s| s.key == key);
            if let Some(i) = pos {
                let b = &slots[i].binding;
                if b.call_id == call_id && cseq <= b.cseq {
                    return Err(RegisterError::OutOfOrder);
                }
            }
            match (pos, expires.is_zero()) {
                (None, true) => {}
                (Some(i), true) => {
                    let gone = slots.remove(i);
                    events.push(Output::Unregistered {
                        aor: aor.clone(),
                        contact: gone.binding.contact_uri.clone(),
                    });
                    events.push(remove(&aor, gone.binding.contact_uri));
                }
                (pos, false) => {
                    let binding = Binding {
                        contact_uri: c.uri,
                        expires_at: now + expires,
                        call_id: call_id.clone(),
                        cseq,
                        q: c.q,
                        received: Some(source),
                        transport,
                        instance: c.instance,
                        reg_id: c.reg_id,
                        updated_at: now,
                    };
                    match pos {
                        Some(i) => {
                            let prev = std::mem::replace(&mut slots[i].binding, binding.clone());
                            if prev.contact_uri != binding.contact_uri {
                                events.push(remove(&aor, prev.contact_uri));
                            }
                        }
                        None => {
                            events.push(Output::Registered {
                                aor: aor.clone(),
                                contact: binding.contact_uri.clone(),
                            });
                            slots.push(Slot {
                                id: self.fresh_id(),
                                key,
                                binding: binding.clone(),
                            });
                        }
                    }
                    events.push(Output::Persist(BindingChange::Upsert {
                        aor: aor.clone(),
                        binding,
                    }));
                }
            }
        }
        let max = self.config.max_bindings_per_aor;
        if slots.len() > max && slots.len() > old.len() {
            return Err(RegisterError::TooManyBindings { max });
        }

        self.replace_slots(&aor, &old, slots);
        self.outputs.extend(events);
        Ok(self.outcome(now, &aor))
    }

    /// `Contact: *` (§10.3 step 6).
    fn unregister_all(
        &mut self,
        aor: &Aor,
        call_id: &str,
        cseq: u32,
        expires_header: Option<u32>,
    ) -> Result<(), RegisterError> {
        if expires_header != Some(0) {
            return Err(RegisterError::BadRequest("`*` Contact needs Expires: 0"));
        }
        let old = self.aors.get(aor).cloned().unwrap_or_default();
        if old
            .iter()
            .any(|s| s.binding.call_id == call_id && cseq <= s.binding.cseq)
        {
            return Err(RegisterError::OutOfOrder);
        }
        for s in &old {
            self.outputs.push_back(Output::Unregistered {
                aor: aor.clone(),
                contact: s.binding.contact_uri.clone(),
            });
            self.outputs
                .push_back(remove(aor, s.binding.contact_uri.clone()));
        }
        self.replace_slots(aor, &old, Vec::new());
        Ok(())
    }

    /// Requested seconds (contact param, else header, else default) → the granted expiry.
    fn expiry_for(&self, requested: Option<u32>) -> Result<Duration, RegisterError> {
        let requested = requested.map_or(self.config.default_expires, |s| {
            Duration::from_secs(u64::from(s))
        });
        if requested.is_zero() {
            return Ok(Duration::ZERO);
        }
        if requested < self.config.min_expires {
            return Err(RegisterError::IntervalTooBrief {
                min_expires: self.config.min_expires,
            });
        }
        Ok(requested.min(self.config.max_expires))
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Swaps an AOR's slots and keeps the expiry index in step.
    fn replace_slots(&mut self, aor: &Aor, old: &[Slot], new: Vec<Slot>) {
        for s in old {
            self.expiry.remove(&(s.binding.expires_at, s.id));
            forget_source(&mut self.sources, &s.binding);
        }
        for s in &new {
            self.expiry
                .insert((s.binding.expires_at, s.id), aor.clone());
            if let Some(source) = s.binding.received {
                *self.sources.entry(source.ip()).or_default() += 1;
            }
        }
        if new.is_empty() {
            self.aors.remove(aor);
        } else {
            self.aors.insert(aor.clone(), new);
        }
    }

    fn outcome(&self, now: Instant, aor: &Aor) -> RegisterOutcome {
        RegisterOutcome {
            bindings: self
                .lookup(now, aor)
                .into_iter()
                .map(|b| CurrentBinding {
                    contact_uri: b.contact_uri.clone(),
                    expires_in: b.remaining(now),
                    q: b.q,
                    instance: b.instance.clone(),
                    reg_id: b.reg_id,
                })
                .collect(),
        }
    }

    /// The unexpired bindings of `aor`, highest q first (absent q = 1.0), then most
    /// recently written first.
    #[must_use]
    pub fn lookup(&self, now: Instant, aor: &Aor) -> Vec<&Binding> {
        let mut found: Vec<&Binding> = self
            .aors
            .get(aor)
            .map(|slots| {
                slots
                    .iter()
                    .map(|s| &s.binding)
                    .filter(|b| b.expires_at > now)
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by(|a, b| {
            b.rank_q()
                .total_cmp(&a.rank_q())
                .then(b.updated_at.cmp(&a.updated_at))
        });
        found
    }

    /// Expires every binding whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.last_now.is_some_and(|last| now < last) {
            return;
        }
        let now = self.advance(now);
        self.expire_due(now);
    }

    fn expire_due(&mut self, now: Instant) {
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), aor) = entry.remove_entry();
            let Some(slots) = self.aors.get_mut(&aor) else {
                continue;
            };
            if let Some(i) = slots.iter().position(|s| s.id == id) {
                let gone = slots.remove(i);
                forget_source(&mut self.sources, &gone.binding);
                self.outputs.push_back(Output::BindingExpired {
                    aor: aor.clone(),
                    contact: gone.binding.contact_uri.clone(),
                });
                self.outputs
                    .push_back(remove(&aor, gone.binding.contact_uri));
            }
            if slots.is_empty() {
                self.aors.remove(&aor);
            }
        }
    }

    /// The earliest binding expiry, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.first_key_value().map(|((at, _), _)| *at)
    }

    /// The next pending output.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Reloads a binding from the database at start-up. `now_unix` is the wall clock at
    /// `now`. Returns false (and asks for the row's removal) if it has already lapsed.
    /// Replaces a binding with the same contact; skips the per-AOR cap and emits no
    /// `Registered` event.
    pub fn restore(
        &mut self,
        now: Instant,
        now_unix: u64,
        aor: Aor,
        snapshot: PersistedBinding,
    ) -> bool {
        let now = self.advance(now);
        if snapshot.expires_unix <= now_unix {
            self.outputs.push_back(remove(&aor, snapshot.contact_uri));
            return false;
        }
        // A row claiming more than the maximum (clock jump, edited database) is cut down.
        let remaining =
            Duration::from_secs(snapshot.expires_unix - now_unix).min(self.config.max_expires);
        let age = Duration::from_secs(now_unix.saturating_sub(snapshot.updated_unix));
        let binding = Binding {
            contact_uri: snapshot.contact_uri,
            expires_at: now + remaining,
            call_id: snapshot.call_id,
            cseq: snapshot.cseq,
            q: snapshot.q,
            received: snapshot.received,
            transport: snapshot.transport,
            instance: snapshot.instance,
            reg_id: snapshot.reg_id,
            updated_at: now.checked_sub(age).unwrap_or(now),
        };
        let key = binding.key();
        let old = self.aors.get(&aor).cloned().unwrap_or_default();
        let mut slots = old.clone();
        slots.retain(|s| s.key != key);
        slots.push(Slot {
            id: self.fresh_id(),
            key,
            binding,
        });
        self.replace_slots(&aor, &old, slots);
        true
    }

    /// Time never goes backwards: an earlier `now` is taken as the last one seen.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| last.max(now));
        self.last_now = Some(now);
        now
    }
}

/// One binding fewer from its source address.
fn forget_source(sources: &mut HashMap<IpAddr, u32>, binding: &Binding) {
    let Some(ip) = binding.received.map(|r| r.ip()) else {
        return;
    };
    if let Some(n) = sources.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            sources.remove(&ip);
        }
    }
}

fn remove(aor: &Aor, contact_uri: String) -> Output {
    Output::Persist(BindingChange::Remove {
        aor: aor.clone(),
        contact_uri,
    })
}

#[cfg(test)]
#[path = "registrar_tests.rs"]
mod tests;
