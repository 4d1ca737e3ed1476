//! Profiles: the TOML files under `sip-profiles/` that configure one switch.
//!
//! Unknown keys and bad values are start-up errors naming the key and the file, because a
//! typo in a profile must never silently fall back to a default on a live switch.

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod tls;
mod trunks;

pub use tls::{TlsFiles, TlsSettings};
pub use trunks::{
    DialingSettings, DidSettings, GatewayAddress, GatewayTransport, Nameserver, ProfileTrunks,
    RouteSettings, StoredTrunks, TrunkConfigError, TrunkSettings, check_codecs, check_trunks,
};

/// A profile that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read profile {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("profile {file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("profile {file}: key `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        message: String,
    },
}

/// The whole profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub sip: SipSettings,
    pub http: HttpSettings,
    pub media: MediaSettings,
    pub registrar: RegistrarSettings,
    pub database: DatabaseSettings,
    pub recordings: RecordingSettings,
    /// The CTI API's first administrator; optional.
    #[serde(default)]
    pub cti: CtiSettings,
    /// What one source address may start and hold before its calls are confirmed.
    #[serde(default)]
    pub admission: AdmissionSettings,
    #[serde(default)]
    pub extensions: Vec<Extension>,
    /// Trunks whose calls reach queue numbers without authenticating (`[[trunks]]`).
    #[serde(default)]
    pub trunks: Vec<TrunkSettings>,
    /// External numbers: how they are typed, who may dial what, which trunks carry them.
    #[serde(default)]
    pub dialing: DialingSettings,
    /// Where the profile was read from, for error messages and relative paths.
    #[serde(skip)]
    pub source: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSettings {
    /// The SIP domain of our extensions (`sip:1000@domain`).
    pub domain: String,
    /// UDP and TCP listen address.
    pub listen: SocketAddr,
    /// The address we put in Via, Contact and SDP; defaults to the listen IP. Set it when
    /// listening on 0.0.0.0.
    #[serde(default)]
    pub advertised_address: Option<IpAddr>,
    /// RFC 3261 T1 (RTT estimate), milliseconds.
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// RFC 3261 T2 (maximum retransmit interval for non-INVITE requests and INVITE responses).
    #[serde(default = "default_t2")]
    pub t2_ms: u64,
    /// RFC 3261 T4 (maximum duration a message remains in the network).
    #[serde(default = "default_t4")]
    pub t4_ms: u64,
    /// How long a callee may ring before the caller gets 408.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u64,
    /// Upper bound on concurrent calls; beyond it new INVITEs get 503.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
    /// Digest algorithms offered in challenges, most preferred first (RFC 8760 §2.4).
    /// Phones that only read the first challenge use the first entry.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<String>,
    /// `[sip.auth_guard]`: brakes on digest password guessing.
    #[serde(default)]
    pub auth_guard: AuthGuardSettings,
    /// `[sip.tcp]`: limits on SIP over TCP (and on TLS connections, which count with them).
    #[serde(default)]
    pub tcp: TcpSettings,
    /// `[sip.tls]`: SIP over TLS on `listen`; absent, no TLS listener.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
}

/// `[sip.auth_guard]` (see `src/sip/auth_guard.rs`): from `backoff_after` failed digest
/// attempts within `window_secs` a source address gets one attempt per interval, starting
/// at `backoff_base_ms` and doubling up to `backoff_max_secs`; `ban_after` failures ban it
/// for `ban_secs`; `user_backoff_after` failures for one user, whatever the sources, slow
/// that user's attempts from sources that failed too (never from a clean one).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthGuardSettings {
    pub backoff_after: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    pub ban_after: u32,
    pub ban_secs: u64,
    pub user_backoff_after: u32,
    pub window_secs: u64,
}

impl Default for AuthGuardSettings {
    fn default() -> Self {
        let p = crate::sip::auth_guard::AuthPolicy::default();
        AuthGuardSettings {
            backoff_after: p.backoff_after,
            backoff_base_ms: u64::try_from(p.backoff_base.as_millis()).unwrap_or(u64::MAX),
            backoff_max_secs: p.backoff_max.as_secs(),
            ban_after: p.ban_after,
            ban_secs: p.ban.as_secs(),
            user_backoff_after: p.user_backoff_after,
            window_secs: p.window.as_secs(),
        }
    }
}

impl AuthGuardSettings {
    /// The policy these settings describe.
    #[must_use]
    pub fn policy(&self) -> crate::sip::auth_guard::AuthPolicy {
        crate::sip::auth_guard::AuthPolicy {
            backoff_after: self.backoff_after,
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_secs(self.backoff_max_secs),
            ban_after: self.ban_after,
            ban: Duration::from_secs(self.ban_secs),
            user_backoff_after: self.user_backoff_after,
            window: Duration::from_secs(self.window_secs),
        }
    }
}

/// `[sip.tcp]`: at most `max_connections` SIP TCP connections at once, `max_per_source` of
/// them from one IP address (beyond either, new ones are closed at once), and a connection
/// with no traffic either way for `idle_timeout_secs` is closed (Kamailio's
/// `tcp_connection_lifetime`; phones keep theirs open with CRLF keep-alives, RFC 5626).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpSettings {
    pub max_connections: usize,
    pub max_per_source: usize,
    pub idle_timeout_secs: u64,
}

impl Default for TcpSettings {
    fn default() -> Self {
        TcpSettings {
            max_connections: 4096,
            max_per_source: 64,
            idle_timeout_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// A client must send a request's whole header section within this many seconds of
    /// starting it (or of connecting), else the connection is closed: slowloris clients
    /// trickling headers would otherwise hold connections forever.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Most connections served at once (event streams included); beyond it new connections
    /// are closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// `[http.tls]`: serve HTTPS (and WSS) instead of plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    /// First RTP port (even); RTCP uses RTP port + 1.
    pub rtp_port_min: u16,
    /// Last usable port of the range.
    pub rtp_port_max: u16,
    /// A call whose media has been silent this long is ended with BYE on both legs.
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_secs: u64,
    /// Music on hold (a WAV file), relative to the profile's directory.
    #[serde(default = "default_music_on_hold")]
    pub music_on_hold: PathBuf,
    /// Signalling addresses (trunks needing no NAT traversal) whose legs' media is latched to
    /// the SDP address; every other leg's only to the IP its signalling came from.
    #[serde(default)]
    pub sdp_latch_sources: Vec<IpAddr>,
    /// SDES-keyed SRTP (`RTP/SAVP`): `"when-offered-over-tls"` (default) answers a caller's
    /// `RTP/SAVP` offer made over TLS and offers it to callees registered over TLS; `"off"`
    /// refuses every `RTP/SAVP` offer (488). See `call::srtp_policy`.
    #[serde(default)]
    pub srtp: SrtpSetting,
    /// Lab only (refused off loopback): accept `RTP/SAVP` offers over UDP and TCP too, so
    /// tests can exercise SRTP without TLS. The keys then cross the network in clear.
    #[serde(default)]
    pub sdes_over_plain_signalling: bool,
}

/// The profile's `media.srtp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SrtpSetting {
    Off,
    #[default]
    WhenOfferedOverTls,
}

impl MediaSettings {
    /// The call layer's view of the SRTP settings.
    #[must_use]
    pub fn srtp_policy(&self) -> crate::call::SrtpPolicy {
        crate::call::SrtpPolicy {
            mode: match self.srtp {
                SrtpSetting::Off => crate::call::SrtpMode::Off,
                SrtpSetting::WhenOfferedOverTls => crate::call::SrtpMode::WhenOfferedOverTls,
            },
            sdes_over_plain_signalling: self.sdes_over_plain_signalling,
        }
    }
}

/// Per-source limits (see `call::admission`); 0 turns a limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionSettings {
    /// New calls one source IP may start per second (and in one burst); more get 503 with
    /// Retry-After.
    #[serde(default = "default_calls_per_second_per_source")]
    pub calls_per_second_per_source: u32,
    /// RTP port pairs (two per call) the calls of one source IP may hold while ringing or
    /// waiting for their ACK; more get 486.
    #[serde(default = "default_unconfirmed_port_pairs_per_source")]
    pub unconfirmed_port_pairs_per_source: usize,
    /// How long an answered call waits for the caller's ACK before it is ended and its ports
    /// freed, milliseconds; default 16·T1, at most 64·T1.
    #[serde(default)]
    pub ack_timeout_ms: Option<u64>,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        AdmissionSettings {
            calls_per_second_per_source: default_calls_per_second_per_source(),
            unconfirmed_port_pairs_per_source: default_unconfirmed_port_pairs_per_source(),
            ack_timeout_ms: None,
        }
    }
}

fn default_calls_per_second_per_source() -> u32 {
    50
}
fn default_unconfirmed_port_pairs_per_source() -> usize {
    100
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarSettings {
    #[serde(default = "default_min_expires")]
    pub min_expires_secs: u32,
    #[serde(default = "default_max_expires")]
    pub max_expires_secs: u32,
    #[serde(default = "default_expires")]
    pub default_expires_secs: u32,
    /// How long a digest nonce stays fresh before it is answered with `stale=true`.
    #[serde(default = "default_nonce_lifetime")]
    pub nonce_lifetime_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path.db` (created if missing) or `postgres://...`.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingSettings {
    pub dir: PathBuf,
}

/// `[cti]`: the first admin of the CTI API and the login brakes. At the first start of a
/// database (never again, even if every admin is deleted later), agent `admin_id` is created
/// as an admin. Its password is, in order: the `SWITCHBOARD_ADMIN_PASSWORD` environment
/// variable, the file `admin_password_file` (relative to the profile), `admin_password`, or
/// else one generated from the OS's CSPRNG and printed once on standard output. Change it
/// through the API after the first login.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtiSettings {
    /// The seeded admin's agent id.
    #[serde(default)]
    pub admin_id: Option<String>,
    /// The seeded admin's password, at least 8 bytes. The shipped lab value only works on
    /// loopback.
    #[serde(default)]
    pub admin_password: Option<String>,
    /// A file holding the seeded admin's password (a container secret), relative to the
    /// profile.
    #[serde(default)]
    pub admin_password_file: Option<PathBuf>,
    /// `[cti.login]`: password-guessing brakes on `POST /api/v1/sessions`.
    #[serde(default)]
    pub login: LoginSettings,
}

/// `[cti.login]`: each client address gets `attempts_burst` login attempts at once and one
/// more every `attempt_refill_secs`; `lockout_after` failures of one (agent, address) pair
/// within `window_secs` lock that address out of that agent for `lockout_secs`, and
/// `ban_after` failures from one address (whatever the agents) ban it for `ban_secs`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    pub attempts_burst: u32,
    pub attempt_refill_secs: u64,
    pub lockout_after: u32,
    pub lockout_secs: u64,
    pub ban_after: u32,
    pub ban_secs: u64,
    pub window_secs: u64,
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            attempts_burst: 5,
            attempt_refill_secs: 12,
            lockout_after: 5,
            lockout_secs: 15 * 60,
            ban_after: 20,
            ban_secs: 60 * 60,
            window_secs: 15 * 60,
        }
    }
}

/// The lab admin password `sip-profiles/default.toml` ships with.
pub const LAB_ADMIN_PASSWORD: &str = "lab-admin-secret";

/// Whether `password` looks like a shipped lab extension password (`lab-<extension>-secret`,
/// printed in the README): such secrets only work on loopback.
#[must_use]
pub fn is_lab_extension_password(password: &str) -> bool {
    password.len() > "lab--secret".len()
        && password.starts_with("lab-")
        && password.ends_with("-secret")
}

// The password never reaches logs.
impl std::fmt::Debug for CtiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtiSettings")
            .field("admin_id", &self.admin_id)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("admin_password_file", &self.admin_password_file)
            .field("login", &self.login)
            .finish()
    }
}

/// A SIP user (a desk phone or softphone) allowed to register and call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    pub user: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// This extension's digest algorithms, replacing `sip.digest_algorithms` for it: it is
    /// challenged with these, and credentials computed with any other are refused (so
    /// `["SHA-256"]` makes an extension SHA-256 only).
    #[serde(default)]
    pub digest_algorithms: Option<Vec<String>>,
    /// What it may dial outside (`internal`, `national`, `international`); unset:
    /// `dialing.default_class`.
    #[serde(default)]
    pub calling_class: Option<crate::dialing::CallingClass>,
}

fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4000
}
fn default_t4() -> u64 {
    5000
}
fn default_ring_timeout() -> u64 {
    30
}
/// MD5 alone, as FreeSWITCH, Asterisk and Kamailio challenge unless told otherwise: some
/// phones (baresip 1.0, SIPp 3.6) refuse the whole challenge when any offer names SHA-256.
fn default_digest_algorithms() -> Vec<String> {
    vec!["MD5".into()]
}

fn valid_digest_algorithms(list: &[String]) -> bool {
    !list.is_empty() && list.iter().all(|a| a == "SHA-256" || a == "MD5")
}
fn default_max_calls() -> usize {
    20_000
}
fn default_rtp_timeout() -> u64 {
    60
}
fn default_music_on_hold() -> PathBuf {
    PathBuf::from("music-on-hold.wav")
}
fn default_min_expires() -> u32 {
    60
}
fn default_max_expires() -> u32 {
    3600
}
fn default_expires() -> u32 {
    3600
}
fn default_nonce_lifetime() -> u64 {
    300
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_max_connections() -> usize {
    1024
}

impl Profile {
    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Profile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates profile text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Profile, ConfigError> {
        let mut profile: Profile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        profile.source = path.to_owned();
        profile.validate()?;
        Ok(profile)
    }

    fn invalid(&self, key: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.source.clone(),
            key,
            message: message.into(),
        }
    }

    /// Checks values serde cannot: ranges, orderings, duplicates.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.sip;
        if s.domain.is_empty() || s.domain.contains(char::is_whitespace) {
            return Err(self.invalid("sip.domain", "must be a host name without spaces"));
        }
        if s.t1_ms == 0 || s.t1_ms > 10_000 {
            return Err(self.invalid("sip.t1_ms", "must be between 1 and 10000"));
        }
        if s.t2_ms < s.t1_ms {
            return Err(self.invalid("sip.t2_ms", "must not be smaller than sip.t1_ms"));
        }
        if s.t4_ms == 0 {
            return Err(self.invalid("sip.t4_ms", "must be positive"));
        }
        if s.ring_timeout_secs == 0 {
            return Err(self.invalid("sip.ring_timeout_secs", "must be positive"));
        }
        if !valid_digest_algorithms(&s.digest_algorithms) {
            return Err(self.invalid("sip.digest_algorithms", "must list SHA-256 and/or MD5"));
        }
        if s.max_calls == 0 {
            return Err(self.invalid("sip.max_calls", "must be positive"));
        }
        self.validate_sip_limits()?;
        let m = &self.media;
        if !m.rtp_port_min.is_multiple_of(2) || m.rtp_port_min < 1024 {
            return Err(self.invalid("media.rtp_port_min", "must be an even port of 1024 or more"));
        }
        if m.rtp_port_max <= m.rtp_port_min {
            return Err(self.invalid("media.rtp_port_max", "must be above media.rtp_port_min"));
        }
        if m.rtp_timeout_secs == 0 {
            return Err(self.invalid("media.rtp_timeout_secs", "must be positive"));
        }
        if let Some(ack) = self.admission.ack_timeout_ms
            && !(s.t1_ms..=s.t1_ms * 64).contains(&ack)
        {
            return Err(self.invalid(
                "admission.ack_timeout_ms",
                "must lie between sip.t1_ms and 64 times sip.t1_ms",
            ));
        }
        let r = &self.registrar;
        if r.min_expires_secs == 0 || r.min_expires_secs > r.max_expires_secs {
            return Err(self.invalid(
                "registrar.min_expires_secs",
                "must be positive and not above registrar.max_expires_secs",
            ));
        }
        if !(r.min_expires_secs..=r.max_expires_secs).contains(&r.default_expires_secs) {
            return Err(self.invalid(
                "registrar.default_expires_secs",
                "must lie between min_expires_secs and max_expires_secs",
            ));
        }
        if r.nonce_lifetime_secs == 0 {
            return Err(self.invalid("registrar.nonce_lifetime_secs", "must be positive"));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(self.invalid(
                "database.url",
                "must start with sqlite:, postgres: or postgresql:",
            ));
        }
        if self.http.header_read_timeout_secs == 0 {
            return Err(self.invalid("http.header_read_timeout_secs", "must be positive"));
        }
        if self.http.max_connections == 0 {
            return Err(self.invalid("http.max_connections", "must be positive"));
        }
        self.validate_cti()?;
        self.validate_trunks()?;
        self.validate_tls()?;
        let mut seen = std::collections::HashSet::new();
        for e in &self.extensions {
            if e.user.is_empty()
                || !e
                    .user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(self.invalid(
                    "extensions.user",
                    format!("`{}` is not a valid SIP user", e.user),
                ));
            }
            if e.password.len() < 4 {
                return Err(
                    self.invalid("extensions.password", format!("too short for `{}`", e.user))
                );
            }
            if e.digest_algorithms
                .as_ref()
                .is_some_and(|list| !valid_digest_algorithms(list))
            {
                return Err(self.invalid(
                    "extensions.digest_algorithms",
                    format!("must list SHA-256 and/or MD5 for `{}`", e.user),
                ));
            }
            if !seen.insert(e.user.as_str()) {
                return Err(
                    self.invalid("extensions.user", format!("`{}` is listed twice", e.user))
                );
            }
        }
        Ok(())
    }

    fn validate_sip_limits(&self) -> Result<(), ConfigError> {
        let g = &self.sip.auth_guard;
        let t = &self.sip.tcp;
        for (key, value) in [
            ("sip.auth_guard.backoff_after", u64::from(g.backoff_after)),
            ("sip.auth_guard.backoff_base_ms", g.backoff_base_ms),
            ("sip.auth_guard.backoff_max_secs", g.backoff_max_secs),
            ("sip.auth_guard.ban_after", u64::from(g.ban_after)),
            ("sip.auth_guard.ban_secs", g.ban_secs),
            (
                "sip.auth_guard.user_backoff_after",
                u64::from(g.user_backoff_after),
            ),
            ("sip.auth_guard.window_secs", g.window_secs),
            ("sip.tcp.max_connections", t.max_connections as u64),
            ("sip.tcp.max_per_source", t.max_per_source as u64),
            ("sip.tcp.idle_timeout_secs", t.idle_timeout_secs),
        ] {
            if value == 0 {
                return Err(self.invalid(key, "must be positive"));
            }
        }
        if g.ban_after < g.backoff_after {
            return Err(self.invalid(
                "sip.auth_guard.ban_after",
                "must not be below sip.auth_guard.backoff_after",
            ));
        }
        Ok(())
    }

    fn validate_cti(&self) -> Result<(), ConfigError> {
        let cti = &self.cti;
        let valid_id = |id: &str| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        match &cti.admin_id {
            Some(id) if !valid_id(id) => {
                return Err(self.invalid("cti.admin_id", "must be 1 to 64 of A-Z a-z 0-9 . _ -"));
            }
            None if cti.admin_password.is_some() || cti.admin_password_file.is_some() => {
                return Err(self.invalid("cti.admin_id", "is required with an admin password"));
            }
            _ => {}
        }
        if cti.admin_password.is_some() && cti.admin_password_file.is_some() {
            return Err(self.invalid(
                "cti.admin_password_file",
                "give cti.admin_password or cti.admin_password_file, not both",
            ));
        }
        if cti.admin_password.as_ref().is_some_and(|p| p.len() < 8) {
            return Err(self.invalid("cti.admin_password", "must be at least 8 bytes"));
        }
        let l = &cti.login;
        for (key, value) in [
            ("cti.login.attempts_burst", u64::from(l.attempts_burst)),
            ("cti.login.attempt_refill_secs", l.attempt_refill_secs),
            ("cti.login.lockout_after", u64::from(l.lockout_after)),
            ("cti.login.lockout_secs", l.lockout_secs),
            ("cti.login.ban_after", u64::from(l.ban_after)),
            ("cti.login.ban_secs", l.ban_secs),
            ("cti.login.window_secs", l.window_secs),
        ] {
            if value == 0 {
                return Err(self.invalid(key, "must be positive"));
            }
        }
        Ok(())
    }

    /// The listeners that are not on loopback, by profile key.
    #[must_use]
    pub fn public_listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        [
            ("sip.listen", Some(self.sip.listen)),
            (
                "sip.tls.listen",
                self.sip.tls.as_ref().and_then(|t| t.listen),
            ),
            ("http.listen", Some(self.http.listen)),
        ]
        .into_iter()
        .filter_map(|(key, addr)| Some((key, addr?)))
        .filter(|(_, addr)| !addr.ip().is_loopback())
        .collect()
    }

    /// The shipped lab secrets and lab-only settings this profile itself uses, described for
    /// an operator (which key, never the secret): each keeps the switch on loopback.
    #[must_use]
    pub fn lab_secrets(&self) -> Vec<String> {
        let mut found = Vec::new();
        let users: Vec<&str> = self
            .extensions
            .iter()
            .filter(|e| is_lab_extension_password(&e.password))
            .map(|e| e.user.as_str())
            .collect();
        if !users.is_empty() {
            found.push(format!(
                "extensions {} have lab passwords (lab-<extension>-secret)",
                users.join(", ")
            ));
        }
        if self.cti.admin_password.as_deref() == Some(LAB_ADMIN_PASSWORD) {
            found.push("cti.admin_password is the lab admin password".to_owned());
        }
        if self.media.sdes_over_plain_signalling {
            found.push(
                "media.sdes_over_plain_signalling is on (SRTP keys in clear-text SIP)".to_owned(),
            );
        }
        found
    }

    /// The address we advertise in Via, Contact and SDP.
    pub fn advertised_ip(&self) -> IpAddr {
        match self.sip.advertised_address {
            Some(ip) => ip,
            None if self.sip.listen.ip().is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            None => self.sip.listen.ip(),
        }
    }

    pub fn t1(&self) -> Duration {
        Duration::from_millis(self.sip.t1_ms)
    }
    pub fn t2(&self) -> Duration {
        Duration::from_millis(self.sip.t2_ms)
    }
    pub fn t4(&self) -> Duration {
        Duration::from_millis(self.sip.t4_ms)
    }
    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.sip.ring_timeout_secs)
    }
    /// The music-on-hold file, resolved against the profile's directory.
    pub fn music_on_hold_path(&self) -> PathBuf {
        let dir = self.source.parent().unwrap_or(Path::new("."));
        dir.join(&self.media.music_on_hold)
    }

    pub fn rtp_timeout(&self) -> Duration {
        Duration::from_secs(self.media.rtp_timeout_secs)
    }
}

#[cfg(test)]
mod tests;
