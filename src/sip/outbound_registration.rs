//! Registering the switch with a carrier's registrar, as a trunk does when the carrier
//! wants it (issue 15 item 1): REGISTER, answer the digest challenge, re-register before the
//! binding runs out, back off after failures. Sans-IO: the owner sends what
//! [`OutboundRegistration::poll_request`] returns (adding its own Via, so the transaction
//! layer keeps owning branches), feeds back the final response or the transaction's
//! timeout, and calls [`OutboundRegistration::handle_timeout`] at
//! [`OutboundRegistration::poll_timeout`].
//!
//! Timing choices, where RFC 3261 §10.2 leaves them to the UA: a refresh goes out
//! `min(expires / 2, 30 s)` before the binding ends (Asterisk and PJSIP refresh a few
//! seconds early; half the interval protects short bindings); after a failure the next
//! attempt waits `retry_base · 2^(failures − 1)` up to `retry_max` (FreeSWITCH retries a
//! failed gateway every 30 s by default; doubling spares a carrier that is down). A 423
//! (Interval Too Brief) is retried at once with the registrar's `Min-Expires`.

use std::time::{Duration, Instant};

use rand::RngCore;

use super::digest::Challenge;
use super::message::{Message, Method};

/// What a registration is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// The Request-URI: the registrar's domain (`sip:carrier.example`).
    pub registrar_uri: String,
    /// The address of record registered (`sip:+33123456789@carrier.example`).
    pub aor: String,
    /// Digest user name and password the carrier issued.
    pub username: String,
    pub password: String,
    /// Our Contact (`<sip:trunk1@192.0.2.10:5060>`).
    pub contact: String,
    /// Binding lifetime asked for.
    pub expires: Duration,
    /// First wait after a failure, and the most any wait grows to.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

/// Where a registration stands, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not started, or stopped.
    Unregistered,
    /// A REGISTER is out.
    Registering,
    /// Bound until `until`.
    Registered { until: Instant },
    /// The last attempt failed with `status` (`None`: no response at all); the next goes out
    /// at `retry_at`.
    Failed {
        status: Option<u16>,
        retry_at: Instant,
    },
}

/// One trunk's registration with its carrier.
#[derive(Debug)]
pub struct OutboundRegistration {
    cfg: RegistrationConfig,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// Lifetime asked for next (raised by a 423's Min-Expires).
    expires: Duration,
    state: RegistrationState,
    /// Consecutive failed attempts, for the backoff.
    failures: u32,
    /// When to act next: refresh when registered, retry when failed.
    wake: Option<Instant>,
    /// The request to send next, if any.
    pending: Option<Message>,
    /// Whether the REGISTER last sent carried credentials: a fresh (not stale) challenge
    /// to it means they are wrong, and answering again would loop (carriers mint a new
    /// nonce per challenge, so the nonce alone cannot tell).
    sent_credentials: bool,
    /// Challenges answered since the last REGISTER without credentials: a registrar that
    /// calls every answer stale would otherwise be answered at once, forever.
    answers: u8,
    /// Whether a REGISTER is out (queued or sent) and no final response or timeout has come
    /// back for it: a timeout reported at any other moment is not ours.
    awaiting: bool,
    /// The nonce last answered, for the nonce count.
    answered_nonce: Option<String>,
    /// Nonce count for the current nonce.
    nc: u32,
}

impl OutboundRegistration {
    /// A registration with its own Call-ID and From tag (RFC 3261 §10.2: one Call-ID for
    /// all of a UA's registrations with a registrar).
    #[must_use]
    pub fn new(cfg: RegistrationConfig, call_id: String, from_tag: String) -> Self {
        let expires = cfg.expires;
        OutboundRegistration {
            cfg,
            call_id,
            from_tag,
            cseq: 0,
            expires,
            state: RegistrationState::Unregistered,
            failures: 0,
            wake: None,
            pending: None,
            sent_credentials: false,
            answers: 0,
            awaiting: false,
            answered_nonce: None,
            nc: 0,
        }
    }

    /// Where it stands.
    #[must_use]
    pub fn state(&self) -> &RegistrationState {
        &self.state
    }

    /// Sends the first REGISTER.
    pub fn start(&mut self) {
        self.answered_nonce = None;
        self.send(None);
    }

    /// Ends the registration: nothing more goes out, and while a binding holds at `now`
    /// the REGISTER returned (without Via) removes it with `Expires: 0` (RFC 3261
    /// §10.2.2). It carries no credentials and its answer is not awaited: a carrier that
    /// challenges it lets the binding lapse at its expiry instead.
    pub fn stop(&mut self, now: Instant) -> Option<Message> {
        let bound = matches!(self.state, RegistrationState::Registered { until } if until > now);
        self.wake = None;
        self.pending = None;
        let unregister = if bound {
            self.expires = Duration::ZERO;
            self.send(None);
            self.pending.take()
        } else {
            None
        };
        self.awaiting = false;
        self.state = RegistrationState::Unregistered;
        unregister
    }

    /// The next REGISTER to send (without Via).
    pub fn poll_request(&mut self) -> Option<Message> {
        self.pending.take()
    }

    /// When [`Self::handle_timeout`] is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wake
    }

    /// Refreshes or retries if it is time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.wake.is_some_and(|at| at <= now) {
            self.wake = None;
            self.answered_nonce = None;
            self.send(None);
        }
    }

    /// The REGISTER's transaction gave up with no response (Timer F) or could not be sent.
    pub fn handle_no_response(&mut self, now: Instant) {
        if self.awaiting {
            self.fail(now, None);
        }
    }

    /// A final response to the REGISTER last sent; responses to older ones are ignored.
    pub fn handle_response(&mut self, now: Instant, response: &Message, rng: &mut impl RngCore) {
        let (Some(code), Some(cseq)) = (response.status(), response.cseq()) else {
            return;
        };
        if cseq.seq != self.cseq || code < 200 {
            return;
        }
        self.awaiting = false;
        match code {
            200..=299 => {
                let granted = granted_expires(response, &self.cfg.contact).unwrap_or(self.expires);
                if granted.is_zero() {
                    // The registrar kept no binding for us (`expires=0`): refreshing it "before
                    // it ends" would mean registering again at once, as fast as it answers.
                    self.fail(now, Some(code));
                    return;
                }
                let until = now + granted;
                self.state = RegistrationState::Registered { until };
                self.failures = 0;
                self.wake = Some(until - refresh_margin(granted));
            }
            401 | 407 => {
                let header = if code == 401 {
                    "WWW-Authenticate"
                } else {
                    "Proxy-Authenticate"
                };
                // A registrar may offer several algorithms, preferred first (RFC 8760 §2.4);
                // the first we can answer is taken.
                let challenge = response
                    .headers_named(header)
                    .find_map(|h| Challenge::parse(h).ok());
                match challenge {
                    Some(c) if (c.stale || !self.sent_credentials) && self.answers < 2 => {
                        self.answer(&c, code, rng);
                    }
                    _ => self.fail(now, Some(code)),
                }
            }
            423 => match response
                .header("Min-Expires")
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(min) if Duration::from_secs(min) > self.expires => {
                    self.expires = Duration::from_secs(min);
                    self.send(None);
                }
                _ => self.fail(now, Some(code)),
            },
            _ => self.fail(now, Some(code)),
        }
    }

    fn answer(&mut self, challenge: &Challenge, code: u16, rng: &mut impl RngCore) {
        if self.answered_nonce.as_deref() == Some(&challenge.nonce) {
            self.nc += 1;
        } else {
            self.nc = 1;
        }
        self.answered_nonce = Some(challenge.nonce.clone());
        self.answers += 1;
        let cnonce = format!("{:016x}", rng.next_u64());
        let credentials = challenge.answer(
            &self.cfg.username,
            &self.cfg.password,
            "REGISTER",
            &self.cfg.registrar_uri,
            &cnonce,
            self.nc,
        );
        let header = if code == 401 {
            "Authorization"
        } else {
            "Proxy-Authorization"
        };
        self.send(Some((header, credentials.to_string())));
    }

    fn fail(&mut self, now: Instant, status: Option<u16>) {
        self.awaiting = false;
        self.failures = self.failures.saturating_add(1);
        let doublings = self.failures.saturating_sub(1).min(16);
        let wait = self
            .cfg
            .retry_base
            .saturating_mul(1 << doublings)
            .min(self.cfg.retry_max);
        let retry_at = now + wait;
        self.state = RegistrationState::Failed { status, retry_at };
        self.wake = Some(retry_at);
    }

    fn send(&mut self, authorization: Option<(&str, String)>) {
        self.cseq += 1;
        let mut register = Message::request(Method::Register, self.cfg.registrar_uri.clone());
        register
            .push("Max-Forwards", "70")
            .push("From", format!("<{}>;tag={}", self.cfg.aor, self.from_tag))
            .push("To", format!("<{}>", self.cfg.aor))
            .push("Call-ID", self.call_id.clone())
            .push("CSeq", format!("{} REGISTER", self.cseq))
            .push("Contact", self.cfg.contact.clone())
            .push("Expires", self.expires.as_secs().to_string());
        self.sent_credentials = authorization.is_some();
        if !self.sent_credentials {
            self.answers = 0;
        }
        self.awaiting = true;
        if let Some((name, value)) = authorization {
            register.push(name, value);
        }
        register.push("Content-Length", "0");
        if !matches!(self.state, RegistrationState::Registered { .. }) {
            self.state = RegistrationState::Registering;
        }
        self.pending = Some(register);
    }
}

/// How long before a binding of `granted` ends to refresh it.
fn refresh_margin(granted: Duration) -> Duration {
    (granted / 2).min(Duration::from_secs(30))
}

/// The lifetime the registrar granted our binding: the `expires` parameter of our Contact
/// in the 2xx (RFC 3261 §10.2.4), else the Expires header.
fn granted_expires(response: &Message, contact: &str) -> Option<Duration> {
    let ours = super::headers::NameAddr::parse(contact)?;
    let from_contact = match response.contacts() {
        super::headers::Contacts::List(list) => list
            .iter()
            .find(|c| c.uri.eq_ignore_ascii_case(&ours.uri))
            .and_then(|c| c.param("expires"))
            .and_then(|v| v.trim().parse::<u64>().ok()),
        _ => None,
    };
    from_contact
        .or_else(|| response.expires().map(u64::from))
        .map(Duration::from_secs)
}

#[cfg(test)]
#[path = "outbound_registration_tests.rs"]
pub(crate) mod tests;
