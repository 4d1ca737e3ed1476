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
//! The first REGISTERs leave at the switch's first timeout, not from [`Switch::new`], so
//! they go out through the drain contract like every other output.

use super::switch::{ClientPurpose, Switch};
use super::trunks::OutboundTrunk;
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
    /// When the first REGISTERs go out (`None` once they did, or when no trunk registers).
    start_at: Option<Instant>,
}

#[derive(Debug)]
struct TrunkRegistration {
    trunk: String,
    registrar: SocketAddr,
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

impl Switch {
    /// Sets up a registration for each outbound trunk that registers and has a gateway and
    /// credentials (the profile insists on both), to start at `now`'s timeout.
    pub(super) fn set_up_trunk_registrations(&mut self, now: Instant) {
        let trunks: Vec<OutboundTrunk> = self.cfg.outbound_trunks.clone();
        for trunk in trunks {
            let (Some(expires), Some(&registrar), Some(credentials)) =
                (trunk.register, trunk.gateways.first(), &trunk.credentials)
            else {
                continue;
            };
            let host = crate::sip::message::host_for_uri(&registrar.ip().to_string()).into_owned();
            let registrar_uri = match registrar.port() {
                5060 => format!("sip:{host}"),
                port => format!("sip:{host}:{port}"),
            };
            let cfg = RegistrationConfig {
                registrar_uri,
                aor: format!("sip:{}@{host}", credentials.username),
                username: credentials.username.clone(),
                password: credentials.password.clone(),
                contact: self.our_contact(Transport::Udp),
                expires,
                retry_base: RETRY_BASE,
                retry_max: RETRY_MAX,
            };
            let call_id = format!("{}@{}", self.token(20), self.advertised_ip());
            let from_tag = self.token(10);
            self.trunk_registrations.trunks.push(TrunkRegistration {
                trunk: trunk.name.clone(),
                registrar,
                client: OutboundRegistration::new(cfg, call_id, from_tag),
                last_status: None,
            });
        }
        if !self.trunk_registrations.trunks.is_empty() {
            self.trunk_registrations.start_at = Some(now);
        }
    }

    /// Starts the registrations at the first timeout, then refreshes and retries what is due.
    pub(super) fn fire_trunk_registrations(&mut self, now: Instant) {
        let start = self
            .trunk_registrations
            .start_at
            .is_some_and(|at| at <= now);
        if start {
            self.trunk_registrations.start_at = None;
        }
        for index in 0..self.trunk_registrations.trunks.len() {
            let client = &mut self.trunk_registrations.trunks[index].client;
            if start {
                client.start();
            }
            client.handle_timeout(now);
            self.send_trunk_register(now, index);
        }
    }

    /// A response to trunk `index`'s REGISTER.
    pub(super) fn on_trunk_registration_response(
        &mut self,
        now: Instant,
        index: usize,
        response: &crate::sip::message::Message,
    ) {
        let Some(entry) = self.trunk_registrations.trunks.get_mut(index) else {
            return;
        };
        if let Some(code) = response.status().filter(|c| *c >= 200) {
            entry.last_status = Some(code);
        }
        let was = entry.client.state().clone();
        entry.client.handle_response(now, response, &mut self.rng);
        self.log_trunk_registration(index, &was);
        self.send_trunk_register(now, index);
    }

    /// Trunk `index`'s REGISTER got no response (Timer F) or could not be sent.
    pub(super) fn on_trunk_registration_timeout(&mut self, now: Instant, index: usize) {
        let Some(entry) = self.trunk_registrations.trunks.get_mut(index) else {
            return;
        };
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
        let registrar = entry.registrar;
        let via = self.our_via(Transport::Udp);
        register.push_front("Via", via);
        let purpose = ClientPurpose::TrunkRegistration(index);
        if self
            .request(now, registrar, Transport::Udp, register, purpose)
            .is_none()
        {
            self.on_trunk_registration_timeout(now, index);
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
