//! The switch registering with carriers (issue 15 item 1): one
//! [`OutboundRegistration`] per outbound trunk with `register`, with the trunk's first
//! gateway as registrar, over UDP. Its REGISTERs go through the switch's transaction layer
//! like any request of ours (purpose [`ClientPurpose::TrunkRegistration`]); final responses
//! and transaction timeouts come back to it here, and its refresh and retry deadlines join
//! the switch's timeout.
//!
//! ```text
//!  switch                                   carrier registrar
//!    | REGISTER sip:gw  (Expires: 600) --------->|
//!    |<------------------ 401 WWW-Authenticate --|
//!    | REGISTER + Authorization ---------------->|
//!    |<------------------ 200 (Contact;expires) -|
//!    :   min(expires / 2, 30 s) before it ends   :
//!    | REGISTER sip:gw (same Call-ID, CSeq + 1) ->|   refresh, challenged again
//!    :   no answer (Timer F), 4xx–6xx            :
//!    :   retry after 5 s, 10 s, ... up to 300 s  :
//! ```
//!
//! The first REGISTERs leave at the switch's first timeout, not from [`Switch::new`] or
//! [`Switch::set_trunks`], so they go out through the drain contract like every other output.
//! When the admin API removes a trunk or changes what it registers with, its registration
//! stops: a binding still held is removed with one `Expires: 0` REGISTER (RFC 3261 §10.2.2),
//! sent without waiting for an answer (a carrier that challenges it lets the binding lapse
//! instead); a trunk whose registration did not change keeps it untouched, so a change to
//! one trunk sends no REGISTER to the others.

use super::switch::{ClientPurpose, Switch};
use super::trunks::{OutboundTrunk, TrunkCredentials};
use crate::sip::outbound_registration::{
    OutboundRegistration, RegistrationConfig, RegistrationState,
};
use crate::sip::registrar::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// First wait after a failed registration, doubled per failure.
const RETRY_BASE: Duration = Duration::from_secs(5);
/// The longest wait between attempts.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Every trunk's registration.
#[derive(Debug, Default)]
pub(super) struct TrunkRegistrations {
    trunks: Vec<TrunkRegistration>,
    /// When the registrations not started yet start (`None` when every one has).
    start_at: Option<Instant>,
    /// The id the next registration gets.
    next_id: u64,
}

#[derive(Debug)]
struct TrunkRegistration {
    /// Names it in its REGISTERs' transactions ([`ClientPurpose::TrunkRegistration`]): a
    /// position would name another registration once one before it is removed.
    id: u64,
    trunk: String,
    registrar: SocketAddr,
    /// What it registers with; a trunk changed in any of these registers anew.
    wanted: Wanted,
    started: bool,
    client: OutboundRegistration,
    /// The status of the last final response to one of its REGISTERs, a challenge included;
    /// `None` before any, or when the last one got no response at all.
    last_status: Option<u16>,
}

impl TrunkRegistrations {
    /// When a registration next needs the time.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.trunks
            .iter()
            .filter_map(|t| t.client.poll_timeout())
            .chain(self.start_at)
            .min()
    }
}

/// Where a trunk's registration stands, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkRegistrationState {
    /// Not started yet.
    Unregistered,
    /// A REGISTER is out and no binding holds (the first one, a retry, or a refresh that
    /// outlived the binding).
    Registering,
    /// The carrier holds our binding.
    Registered,
    /// The last attempt failed; another goes out after the backoff.
    Failed,
}

impl TrunkRegistrationState {
    /// The API's name for it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TrunkRegistrationState::Unregistered => "unregistered",
            TrunkRegistrationState::Registering => "registering",
            TrunkRegistrationState::Registered => "registered",
            TrunkRegistrationState::Failed => "failed",
        }
    }
}

/// One trunk's registration, seen at some `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkRegistrationStatus {
    /// The trunk's name.
    pub trunk: String,
    /// Where it registers (its first gateway).
    pub registrar: SocketAddr,
    pub state: TrunkRegistrationState,
    /// How long the binding has left, when registered.
    pub expires_in: Option<Duration>,
    /// How long until the next attempt, when failed.
    pub retry_in: Option<Duration>,
    /// The status of the last final response (a 401 challenge included); `None` before any
    /// or when the last REGISTER got no response.
    pub last_status: Option<u16>,
}

/// What a trunk registers with: its registrar, credentials and lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    registrar: SocketAddr,
    /// The trunk's: a carrier reached over TLS is registered with over TLS.
    transport: Transport,
    credentials: TrunkCredentials,
    expires: Duration,
}

impl Wanted {
    /// What `trunk` registers with, if it registers and has a gateway and credentials (the
    /// profile and the API insist on both).
    fn of(trunk: &OutboundTrunk) -> Option<Wanted> {
        Some(Wanted {
            registrar: *trunk.gateways.first()?,
            transport: trunk.transport,
            credentials: trunk.credentials.clone()?,
            expires: trunk.register?,
        })
    }
}

impl Switch {
    /// Brings the registrations in line with the outbound trunks: those of trunks gone or
    /// changed stop, those of new (or changed) registering trunks start at `now`'s timeout,
    /// the rest go on untouched.
    pub(super) fn sync_trunk_registrations(&mut self, now: Instant) {
        let wanted: Vec<(String, Wanted)> = self
            .cfg
            .outbound_trunks
            .iter()
            .filter_map(|t| Some((t.name.clone(), Wanted::of(t)?)))
            .collect();
        let current = std::mem::take(&mut self.trunk_registrations.trunks);
        for entry in current {
            let keep = wanted
                .iter()
                .any(|(name, w)| *name == entry.trunk && *w == entry.wanted);
            if keep {
                self.trunk_registrations.trunks.push(entry);
            } else {
                self.stop_trunk_registration(now, entry);
            }
        }
        for (name, wanted) in wanted {
            if self
                .trunk_registrations
                .trunks
                .iter()
                .any(|t| t.trunk == name)
            {
                continue;
            }
            let registrar = wanted.registrar;
            let credentials = &wanted.credentials;
            let host = crate::sip::message::host_for_uri(&registrar.ip().to_string()).into_owned();
            // A registrar is a domain: its port is written only when not the transport's.
            let default_port = crate::dns::locate::service_of(wanted.transport).1;
            let port = Some(registrar.port()).filter(|p| *p != default_port);
            let registrar_uri = gateway_uri(None, &host, port, wanted.transport);
            let cfg = RegistrationConfig {
                registrar_uri,
                aor: format!("sip:{}@{host}", credentials.username),
                username: credentials.username.clone(),
                password: credentials.password.clone(),
                contact: self.our_contact(wanted.transport),
                expires: wanted.expires,
                retry_base: RETRY_BASE,
                retry_max: RETRY_MAX,
            };
            let call_id = format!("{}@{}", self.token(20), self.advertised_ip());
            let from_tag = self.token(10);
            let id = self.trunk_registrations.next_id;
            self.trunk_registrations.next_id += 1;
            self.trunk_registrations.trunks.push(TrunkRegistration {
                id,
                trunk: name,
                registrar,
                wanted,
                started: false,
                client: OutboundRegistration::new(cfg, call_id, from_tag),
                last_status: None,
            });
            self.trunk_registrations.start_at = Some(now);
        }
    }

    /// Ends `entry`'s registration, removing a binding the carrier still holds.
    fn stop_trunk_registration(&mut self, now: Instant, mut entry: TrunkRegistration) {
        tracing::info!(trunk = %entry.trunk, registrar = %entry.registrar, "registration with the carrier ends");
        let Some(mut unregister) = entry.client.stop(now) else {
            return;
        };
        let transport = entry.wanted.transport;
        unregister.push_front("Via", self.our_via(transport));
        let _ = self.request(
            now,
            entry.registrar,
            transport,
            unregister,
            ClientPurpose::FireAndForget,
        );
    }

    /// Starts the registrations due to start, then refreshes and retries what is due.
    pub(super) fn fire_trunk_registrations(&mut self, now: Instant) {
        let start = self
            .trunk_registrations
            .start_at
            .is_some_and(|at| at <= now);
        if start {
            self.trunk_registrations.start_at = None;
        }
        for index in 0..self.trunk_registrations.trunks.len() {
            let entry = &mut self.trunk_registrations.trunks[index];
            if start && !entry.started {
                entry.started = true;
                entry.client.start();
            }
            entry.client.handle_timeout(now);
            self.send_trunk_register(now, index);
        }
    }

    /// The position of registration `id`, if it still exists.
    fn trunk_registration(&self, id: u64) -> Option<usize> {
        self.trunk_registrations
            .trunks
            .iter()
            .position(|t| t.id == id)
    }

    /// A response to registration `id`'s REGISTER (one stopped since is ignored).
    pub(super) fn on_trunk_registration_response(
        &mut self,
        now: Instant,
        id: u64,
        response: &crate::sip::message::Message,
    ) {
        let Some(index) = self.trunk_registration(id) else {
            return;
        };
        let entry = &mut self.trunk_registrations.trunks[index];
        if let Some(code) = response.status().filter(|c| *c >= 200) {
            entry.last_status = Some(code);
        }
        let was = entry.client.state().clone();
        entry.client.handle_response(now, response, &mut self.rng);
        self.log_trunk_registration(index, &was);
        self.send_trunk_register(now, index);
    }

    /// Registration `id`'s REGISTER got no response (Timer F) or could not be sent.
    pub(super) fn on_trunk_registration_timeout(&mut self, now: Instant, id: u64) {
        let Some(index) = self.trunk_registration(id) else {
            return;
        };
        let entry = &mut self.trunk_registrations.trunks[index];
        let was = entry.client.state().clone();
        entry.client.handle_no_response(now);
        if entry.client.state() != &was {
            entry.last_status = None;
        }
        self.log_trunk_registration(index, &was);
    }

    /// Sends the REGISTER trunk `index`'s client has queued, if any.
    fn send_trunk_register(&mut self, now: Instant, index: usize) {
        let entry = &mut self.trunk_registrations.trunks[index];
        let Some(mut register) = entry.client.poll_request() else {
            return;
        };
        let (registrar, id, transport) = (entry.registrar, entry.id, entry.wanted.transport);
        let via = self.our_via(transport);
        register.push_front("Via", via);
        let purpose = ClientPurpose::TrunkRegistration(id);
        if self
            .request(now, registrar, transport, register, purpose)
            .is_none()
        {
            self.on_trunk_registration_timeout(now, id);
        }
    }

    /// Logs a registration that was `was` and now holds, or failed.
    fn log_trunk_registration(&self, index: usize, was: &RegistrationState) {
        let entry = &self.trunk_registrations.trunks[index];
        match entry.client.state() {
            // Refreshes are routine: only a new binding is news.
            RegistrationState::Registered { .. }
                if !matches!(was, RegistrationState::Registered { .. }) =>
            {
                tracing::info!(trunk = %entry.trunk, registrar = %entry.registrar, "registered with the carrier");
            }
            RegistrationState::Failed { status, .. } if entry.client.state() != was => {
                tracing::warn!(trunk = %entry.trunk, registrar = %entry.registrar, ?status, "registration with the carrier failed");
            }
            _ => {}
        }
    }

    /// Every registering trunk's registration as it stands at `now`.
    #[must_use]
    pub fn trunk_registrations(&self, now: Instant) -> Vec<TrunkRegistrationStatus> {
        self.trunk_registrations
            .trunks
            .iter()
            .map(|t| {
                let (state, expires_in, retry_in) = match *t.client.state() {
                    RegistrationState::Unregistered => {
                        (TrunkRegistrationState::Unregistered, None, None)
                    }
                    RegistrationState::Registering => {
                        (TrunkRegistrationState::Registering, None, None)
                    }
                    // A refresh still out when the binding ran out: the carrier no longer
                    // reaches us, whatever the client last heard.
                    RegistrationState::Registered { until } if until <= now => {
                        (TrunkRegistrationState::Registering, None, None)
                    }
                    RegistrationState::Registered { until } => {
                        (TrunkRegistrationState::Registered, Some(until - now), None)
                    }
                    RegistrationState::Failed { retry_at, .. } => (
                        TrunkRegistrationState::Failed,
                        None,
                        Some(retry_at.saturating_duration_since(now)),
                    ),
                };
                TrunkRegistrationStatus {
                    trunk: t.trunk.clone(),
                    registrar: t.registrar,
                    state,
                    expires_in,
                    retry_in,
                    last_status: t.last_status,
                }
            })
            .collect()
    }
}

/// A gateway's SIP URI: `user@` and `:port` when given, and `;transport=` for TCP and TLS
/// (RFC 3261 §19.1.1: a `sip:` URI defaults to UDP, and `sips:` would ask for TLS on every
/// hop beyond the gateway too).
pub(super) fn gateway_uri(
    user: Option<&str>,
    host: &str,
    port: Option<u16>,
    transport: Transport,
) -> String {
    let user = user.map(|u| format!("{u}@")).unwrap_or_default();
    let mut uri = match port {
        Some(port) => format!("sip:{user}{host}:{port}"),
        None => format!("sip:{user}{host}"),
    };
    if let Some(param) = transport.uri_param() {
        uri.push_str(";transport=");
        uri.push_str(param);
    }
    uri
}
