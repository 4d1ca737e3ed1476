//! REGISTER handling (RFC 3261 §10.3) and digest authentication of requests (§22, RFC 8760).

use super::switch::Switch;
use crate::sip::auth_guard::Refusal;
use crate::sip::digest::{Credentials, NonceStatus, Verdict};
use crate::sip::message::{Contacts, Message, same_uri, uri_user};
use crate::sip::registrar::{Aor, ContactInput, ContactsSpec, RegisterInput, Transport};
use crate::sip::transaction::TransactionKey;
use std::net::SocketAddr;
use std::time::Instant;

/// The outcome of checking a request's credentials.
pub(super) enum Auth {
    /// The authenticated user.
    User(String),
    /// A challenge or a refusal was sent.
    Answered,
}

impl Switch {
    /// Verifies `Authorization` (REGISTER, 401) or `Proxy-Authorization` (others, 407) and
    /// challenges when it is missing, wrong or stale. Unknown users and wrong passwords get
    /// byte-for-byte the same kind of answer, so extensions cannot be enumerated. Guessing is
    /// braked per source and user by [`crate::sip::auth_guard`]: a banned or slowed-down
    /// source gets 403 before any hashing.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        from: SocketAddr,
        key: &TransactionKey,
        request: &Message,
        registrar: bool,
    ) -> Auth {
        let source = from.ip();
        if let Some(retry_after) = self.auth_guard.banned(source, now) {
            self.refuse_guessing(now, key, request, Refusal::Banned { retry_after });
            return Auth::Answered;
        }
        let header = if registrar {
            "Authorization"
        } else {
            "Proxy-Authorization"
        };
        let method = request
            .method()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default();
        let unix = self.unix(now);
        let mut stale = false;
        let realm = self.cfg.domain.clone();
        // Only the first credentials for our realm are checked (RFC 3261 §22.3): trying every
        // header would hand a guesser as many tries per request as it has headers.
        let credentials = request
            .headers_named(header)
            .filter_map(|value| Credentials::parse(value).ok())
            .find(|creds| creds.realm.eq_ignore_ascii_case(&realm));
        if let Some(creds) = credentials {
            if let Err(refusal) = self.auth_guard.admit(source, &creds.username, now) {
                self.auth_guard.failed(source, &creds.username, false, now);
                self.refuse_guessing(now, key, request, refusal);
                return Auth::Answered;
            }
            let verdict = match self.secret_of(&creds.username).cloned() {
                Some(secret) => self.verifier.verify(unix, &creds, &method, &secret),
                None => self.verifier.verify_unknown_user(unix, &creds, &method),
            };
            // Checked after the hash so a refused algorithm or URI costs the same work.
            let algorithm_allowed = self
                .digest_algorithms_of(&creds.username)
                .iter()
                .any(|a| a.eq_ignore_ascii_case(creds.algorithm.as_str()));
            let uri_matches = request
                .request_uri()
                .is_some_and(|request_uri| same_uri(&creds.uri, request_uri));
            match verdict {
                Verdict::Ok if algorithm_allowed && uri_matches => {
                    return Auth::User(creds.username);
                }
                Verdict::Stale if algorithm_allowed && uri_matches => stale = true,
                // A nonce we never issued proves no guess (a phone's from before a restart),
                // so a restart does not count one failure per phone behind a NAT.
                _ if self.verifier.issuer().check(&creds.nonce, unix) != NonceStatus::Invalid => {
                    self.auth_guard.failed(source, &creds.username, true, now);
                }
                _ => {}
            }
        }
        let (code, reason, challenge_header) = if registrar {
            (401, "Unauthorized", "WWW-Authenticate")
        } else {
            (407, "Proxy Authentication Required", "Proxy-Authenticate")
        };
        let mut response = Message::response_to(request, code, reason);
        self.add_to_tag(&mut response, request);
        let challenges = self.verifier.challenges(unix, &mut self.rng, stale);
        // The user the request speaks for (To of a REGISTER, From of the rest) picks the
        // algorithms offered, so an extension set to SHA-256 alone is offered nothing else.
        let claimed = if registrar {
            request.to()
        } else {
            request.from()
        };
        let claimed_user = claimed.and_then(|n| uri_user(&n.uri)).unwrap_or_default();
        for algorithm in &self.digest_algorithms_of(&claimed_user).to_vec() {
            let wanted = format!("algorithm={algorithm},");
            if let Some(c) = challenges
                .iter()
                .find(|c| c.replace(' ', "").contains(&wanted))
            {
                response.push(challenge_header, c.clone());
            }
        }
        self.respond(now, key, response);
        Auth::Answered
    }

    /// Answers an attempt the guard refused: 403 with `Retry-After`, no challenge (see
    /// [`crate::sip::auth_guard`] for why 403).
    fn refuse_guessing(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: &Message,
        refusal: Refusal,
    ) {
        let reason = match refusal {
            Refusal::Banned { .. } => "Forbidden",
            Refusal::Backoff { .. } | Refusal::UserSlowdown { .. } => "Too Many Failed Attempts",
        };
        let mut response = Message::response_to(request, 403, reason);
        self.add_to_tag(&mut response, request);
        let secs = refusal.retry_after().as_secs_f64().ceil().max(1.0);
        response.push("Retry-After", format!("{secs:.0}"));
        self.respond(now, key, response);
    }

    /// The digest algorithms `user` may use: its own when configured, else the switch's.
    fn digest_algorithms_of(&self, user: &str) -> &[String] {
        self.cfg
            .extension_digest_algorithms
            .get(user)
            .unwrap_or(&self.cfg.digest_algorithms)
    }

    pub(super) fn on_register(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        key: TransactionKey,
        request: Message,
    ) {
        let to_uri = request.to().map(|t| t.uri.clone()).unwrap_or_default();
        let Ok(aor) = Aor::parse(&to_uri) else {
            self.respond_simple_to(now, &key, &request, 400, "Bad To Address");
            return;
        };
        if !aor.domain().eq_ignore_ascii_case(&self.cfg.domain) && !self.is_our_host(aor.domain()) {
            self.respond_simple_to(now, &key, &request, 403, "Not Our Domain");
            return;
        }
        let user = match self.authenticate(now, from, &key, &request, true) {
            Auth::User(user) => user,
            Auth::Answered => return,
        };
        if user != aor.user() {
            // An extension may only register itself.
            self.respond_simple_to(now, &key, &request, 403, "Forbidden");
            return;
        }
        // Bindings are stored under the canonical AOR of our domain, whatever host the phone used.
        let Ok(aor) = Aor::new(aor.user(), &self.cfg.domain) else {
            self.respond_simple_to(now, &key, &request, 400, "Bad To Address");
            return;
        };
        let contacts = match request.contacts() {
            Contacts::None => ContactsSpec::None,
            Contacts::Wildcard => ContactsSpec::Wildcard,
            Contacts::Invalid => {
                self.respond_simple_to(now, &key, &request, 400, "Bad Contact");
                return;
            }
            Contacts::List(list) => ContactsSpec::List(
                list.into_iter()
                    .map(|c| ContactInput {
                        uri: c.uri.clone(),
                        expires: c.param("expires").and_then(|e| e.parse().ok()),
                        q: c.param("q").and_then(|q| q.parse().ok()),
                        instance: c
                            .param("+sip.instance")
                            .map(|i| i.trim_matches(['"', '<', '>']).to_owned()),
                        reg_id: c.param("reg-id").and_then(|r| r.parse().ok()),
                    })
                    .collect(),
            ),
        };
        let input = RegisterInput {
            aor,
            call_id: request.call_id().unwrap_or_default().to_owned(),
            cseq: request.cseq().map(|c| c.seq).unwrap_or_default(),
            contacts,
            expires_header: request.expires(),
            source: from,
            transport,
        };
        match self.registrar.handle_register(now, input) {
            Ok(outcome) => {
                let mut ok = Message::response_to(&request, 200, "OK");
                self.add_to_tag(&mut ok, &request);
                for b in outcome.bindings {
                    ok.push(
                        "Contact",
                        format!("<{}>;expires={}", b.contact_uri, b.expires_param()),
                    );
                }
                ok.push("Date", httpdate(self.unix(now)));
                self.respond(now, &key, ok);
            }
            Err(error) => {
                let (code, reason) = error.status();
                let mut response = Message::response_to(&request, code, reason);
                self.add_to_tag(&mut response, &request);
                if let crate::sip::registrar::RegisterError::IntervalTooBrief { min_expires } =
                    error
                {
                    response.push("Min-Expires", min_expires.as_secs().to_string());
                }
                self.respond(now, &key, response);
            }
        }
    }

    /// Whether `host` names this switch (its advertised IP), as phones often register to it.
    pub(super) fn is_our_host(&self, host: &str) -> bool {
        host.trim_matches(['[', ']']) == self.advertised_ip().to_string()
    }
}

/// RFC 7231 IMF-fixdate for the Date header.
fn httpdate(unix: std::time::Duration) -> String {
    let secs = unix.as_secs();
    let days = secs / 86_400;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(month - 1) as usize],
        year,
        h,
        m,
        s
    )
}

#[cfg(test)]
#[path = "register_tests.rs"]
pub(super) mod auth_tests;

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_rendered_in_imf_fixdate() {
        assert_eq!(
            super::httpdate(std::time::Duration::from_secs(0)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            super::httpdate(std::time::Duration::from_secs(1_794_830_400)),
            "Mon, 16 Nov 2026 12:00:00 GMT"
        );
    }
}
