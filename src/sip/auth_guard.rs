//! Digest brute-force protection: fail2ban built into the registrar and the INVITE
//! challenge (RFC 3261 §22 leaves throttling to the implementation). Sans-IO: every call takes
//! `now` from its caller.
//!
//! A *failure* is a request whose first credentials for our realm do not verify: a wrong
//! response, an unknown user, or an algorithm or `uri` the switch refuses. A right answer to
//! a stale nonce, an answer to a nonce the switch never issued (a phone's from before a
//! restart: it cannot be checked, so it proves nothing) and a request without credentials
//! are not counted. Failures are counted per
//! source address (IP, any port) and per user, and forgotten once their counter has been
//! quiet for [`AuthPolicy::window`] (counting from the last failure, so a guesser pacing
//! itself under the window never starts over):
//!
//! - **Source backoff.** From [`AuthPolicy::backoff_after`] failures on, a source may make
//!   one attempt per interval, [`AuthPolicy::backoff_base`] doubling with each failure up to
//!   [`AuthPolicy::backoff_max`]. An attempt inside the interval is refused unchecked (so a
//!   right guess teaches nothing) and counts as a failure.
//! - **Source ban.** [`AuthPolicy::ban_after`] failures ban the source for
//!   [`AuthPolicy::ban`]: every request it sends that needs authentication is refused,
//!   before any hashing and without a challenge, so a banned source gets no nonce and no
//!   amplification. Bans are listed and lifted by the admin API.
//! - **User slowdown.** [`AuthPolicy::user_backoff_after`] failures for one user, whatever the
//!   sources, slow attempts for that user on the same schedule, but only from sources that
//!   have failed themselves within the window. A source with a clean record always has its
//!   credentials checked, so a distributed attack cannot lock the real phone out; it gets one
//!   guess per address, then the slowdown applies.
//!
//! Refusals are answered `403 Forbidden` with `Retry-After`, the answer FreeSWITCH gives a
//! failed registration and Kamailio configurations give a pike or htable hit. SIP has no 429
//! (RFC 6228's 429 means "Provide Referrer Identity"), and 503 would send RFC 3263 clients to
//! another server of the same cluster to keep guessing. A success resets nothing: an
//! attacker who knows one extension's password must not be able to wipe its record with it.
//! Every backoff, ban, slowdown and lift is logged with tracing target `security` (event
//! names `sip_auth_*`), and each failure too, so an external fail2ban can act on the log.
//!
//! State is in memory, per switch: a restart forgives everyone.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Beyond this many counters, those that block nothing are forgotten (made-up user names and
/// spoofed sources must not grow memory without bound).
const MAX_COUNTERS: usize = 50_000;

/// Thresholds and durations (the profile's `[sip.auth_guard]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Failures from one source before it is slowed down.
    pub backoff_after: u32,
    /// The first interval of a slowed-down source or user; doubles with each failure.
    pub backoff_base: Duration,
    /// The longest interval.
    pub backoff_max: Duration,
    /// Failures from one source before it is banned.
    pub ban_after: u32,
    /// How long a ban lasts.
    pub ban: Duration,
    /// Failures for one user (from any source) before that user's attempts from sources that
    /// failed too are slowed down.
    pub user_backoff_after: u32,
    /// A counter quiet for this long is forgotten.
    pub window: Duration,
}

impl Default for AuthPolicy {
    /// Five free guesses, then one per 1, 2, 4 … 60 s, and a one-hour ban at twenty: a phone
    /// with a stale password (which retries every 30 s or more) is slowed but seldom banned,
    /// and a dictionary gets about twenty tries an hour.
    fn default() -> Self {
        AuthPolicy {
            backoff_after: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            ban_after: 20,
            ban: Duration::from_secs(60 * 60),
            user_backoff_after: 10,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Why an attempt is refused before its credentials are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The source is banned.
    Banned { retry_after: Duration },
    /// The source failed too often lately and must wait.
    Backoff { retry_after: Duration },
    /// The user was guessed at too often lately and this source failed too.
    UserSlowdown { retry_after: Duration },
}

impl Refusal {
    /// How long until an attempt would be checked again.
    #[must_use]
    pub fn retry_after(self) -> Duration {
        match self {
            Refusal::Banned { retry_after }
            | Refusal::Backoff { retry_after }
            | Refusal::UserSlowdown { retry_after } => retry_after,
        }
    }
}

/// What a block in force is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    Ban,
    Backoff,
    UserSlowdown,
}

impl BlockKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Ban => "ban",
            BlockKind::Backoff => "backoff",
            BlockKind::UserSlowdown => "user_slowdown",
        }
    }
}

/// A block in force, as the admin API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthBlock {
    pub kind: BlockKind,
    /// The source, for a ban or backoff.
    pub address: Option<IpAddr>,
    /// The user, for a slowdown.
    pub user: Option<String>,
    /// Failures counted.
    pub failures: u32,
    /// Until the block ends by itself (a backoff: until the next attempt is checked).
    pub remaining: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Counter {
    failures: u32,
    last: Instant,
    banned_until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Counter {
        Counter {
            failures: 0,
            last: now,
            banned_until: None,
        }
    }

    fn banned_for(&self, now: Instant) -> Option<Duration> {
        self.banned_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Whether the counter has nothing left to say: no ban in force and quiet for `window`.
    fn expired(&self, now: Instant, window: Duration) -> bool {
        self.banned_for(now).is_none()
            && (self.banned_until.is_some() || now.saturating_duration_since(self.last) > window)
    }

    /// How long until the next attempt may be checked, from `after` failures on.
    fn wait(&self, now: Instant, after: u32, p: &AuthPolicy) -> Option<Duration> {
        if self.failures < after {
            return None;
        }
        let doublings = (self.failures - after).min(16);
        let interval = p
            .backoff_base
            .saturating_mul(1 << doublings)
            .min(p.backoff_max);
        (self.last + interval)
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
    }
}

/// The failed-digest bookkeeping of one switch.
#[derive(Debug, Default)]
pub struct AuthGuard {
    policy: AuthPolicy,
    sources: HashMap<IpAddr, Counter>,
    users: HashMap<String, Counter>,
}

impl AuthGuard {
    #[must_use]
    pub fn new(policy: AuthPolicy) -> AuthGuard {
        AuthGuard {
            policy,
            ..AuthGuard::default()
        }
    }

    fn source(&self, ip: IpAddr, now: Instant) -> Option<&Counter> {
        self.sources
            .get(&ip.to_canonical())
            .filter(|c| !c.expired(now, self.policy.window))
    }

    /// How long `source` stays banned, if it is.
    #[must_use]
    pub fn banned(&self, source: IpAddr, now: Instant) -> Option<Duration> {
        self.source(source, now)?.banned_for(now)
    }

    /// Whether credentials for `user` from `source` may be checked now.
    pub fn admit(&self, source: IpAddr, user: &str, now: Instant) -> Result<(), Refusal> {
        let p = &self.policy;
        let Some(record) = self.source(source, now) else {
            // A clean source is always heard, whatever happened to the user.
            return Ok(());
        };
        if let Some(retry_after) = record.banned_for(now) {
            return Err(Refusal::Banned { retry_after });
        }
        if let Some(retry_after) = record.wait(now, p.backoff_after, p) {
            return Err(Refusal::Backoff { retry_after });
        }
        let user = self.users.get(user).filter(|c| !c.expired(now, p.window));
        if let Some(retry_after) = user.and_then(|c| c.wait(now, p.user_backoff_after, p)) {
            return Err(Refusal::UserSlowdown { retry_after });
        }
        Ok(())
    }

    /// Counts a failure of `source` on `user`'s credentials. `checked` is false for an
    /// attempt refused by [`Self::admit`]: it counts against the source, not the user (whose
    /// slowdown would otherwise grow with every refusal).
    pub fn failed(&mut self, source: IpAddr, user: &str, checked: bool, now: Instant) {
        let p = self.policy;
        let source = source.to_canonical();
        if self.sources.len() + self.users.len() > MAX_COUNTERS {
            self.sources.retain(|_, c| !c.expired(now, p.window));
            self.users.retain(|_, c| !c.expired(now, p.window));
        }
        if checked {
            tracing::info!(target: "security", event = "sip_auth_failed", %source, user,
                "SIP digest authentication failed");
            if count(self.users.entry(user.to_owned()), now, &p) == p.user_backoff_after {
                tracing::warn!(target: "security", event = "sip_auth_user_slowdown", user,
                    "SIP authentication for this user slowed down for sources that fail");
            }
        }
        let failures = count(self.sources.entry(source), now, &p);
        let record = self.sources.get_mut(&source).expect("just counted");
        if failures >= p.ban_after && record.banned_for(now).is_none() {
            record.banned_until = Some(now + p.ban);
            tracing::warn!(target: "security", event = "sip_auth_ban", %source, failures,
                ban_secs = p.ban.as_secs(), "address banned from SIP authentication");
        } else if failures == p.backoff_after {
            tracing::warn!(target: "security", event = "sip_auth_backoff", %source, failures,
                "SIP authentication from this address slowed down");
        }
    }

    /// Bans and backoffs of sources, then users' slowdowns, each in address or user order.
    #[must_use]
    pub fn blocks(&self, now: Instant) -> Vec<AuthBlock> {
        let p = &self.policy;
        let mut sources: Vec<AuthBlock> = self
            .sources
            .iter()
            .filter(|(_, c)| !c.expired(now, p.window))
            .filter_map(|(ip, c)| {
                let (kind, remaining) = match c.banned_for(now) {
                    Some(left) => (BlockKind::Ban, left),
                    None => (BlockKind::Backoff, c.wait(now, p.backoff_after, p)?),
                };
                Some(AuthBlock {
                    kind,
                    address: Some(*ip),
                    user: None,
                    failures: c.failures,
                    remaining,
                })
            })
            .collect();
        sources.sort_by_key(|b| b.address);
        let mut users: Vec<AuthBlock> = self
            .users
            .iter()
            .filter(|(_, c)| !c.expired(now, p.window))
            .filter_map(|(user, c)| {
                Some(AuthBlock {
                    kind: BlockKind::UserSlowdown,
                    address: None,
                    user: Some(user.clone()),
                    failures: c.failures,
                    remaining: c.wait(now, p.user_backoff_after, p)?,
                })
            })
            .collect();
        users.sort_by(|a, b| a.user.cmp(&b.user));
        sources.extend(users);
        sources
    }

    /// Lifts the ban or backoff of `source` and forgets its failures. `false` if it was not
    /// blocked.
    pub fn lift(&mut self, source: IpAddr, now: Instant) -> bool {
        let p = self.policy;
        let source = source.to_canonical();
        let lifted = self.sources.remove(&source).is_some_and(|c| {
            !c.expired(now, p.window)
                && (c.banned_for(now).is_some() || c.wait(now, p.backoff_after, &p).is_some())
        });
        if lifted {
            tracing::info!(target: "security", event = "sip_auth_block_lifted", %source,
                "SIP authentication block lifted by an admin");
        }
        lifted
    }
}

/// Counts one failure on the counter at `entry`, starting it over when it had expired;
/// returns its count.
fn count<K>(
    entry: std::collections::hash_map::Entry<'_, K, Counter>,
    now: Instant,
    p: &AuthPolicy,
) -> u32 {
    let counter = entry.or_insert_with(|| Counter::new(now));
    if counter.expired(now, p.window) {
        *counter = Counter::new(now);
    }
    counter.failures = counter.failures.saturating_add(1);
    counter.last = now;
    counter.failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AuthPolicy {
        AuthPolicy {
            backoff_after: 3,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
            ban_after: 6,
            ban: Duration::from_secs(600),
            user_backoff_after: 4,
            window: Duration::from_secs(300),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    const S: Duration = Duration::from_secs(1);

    /// Tries `user` from `source` at `now`, counting a failure whatever the outcome (every
    /// guess of a dictionary is wrong); returns the refusal, if any.
    fn guess(g: &mut AuthGuard, source: IpAddr, user: &str, now: Instant) -> Option<Refusal> {
        let refusal = g.admit(source, user, now).err();
        g.failed(source, user, refusal.is_none(), now);
        refusal
    }

    #[test]
    fn a_source_is_slowed_down_with_doubling_intervals_then_banned() {
        let mut g = AuthGuard::new(policy());
        let t0 = crate::clock::now();
        for _ in 0..3 {
            assert_eq!(guess(&mut g, ip(66), "1001", t0), None);
        }
        assert_eq!(
            g.admit(ip(66), "1001", t0),
            Err(Refusal::Backoff { retry_after: S })
        );
        let t1 = t0 + S;
        assert_eq!(
            guess(&mut g, ip(66), "1001", t1),
            None,
            "one more after 1 s"
        );
        assert_eq!(
            g.admit(ip(66), "1001", t1 + S),
            Err(Refusal::Backoff { retry_after: S }),
            "the interval doubled to 2 s"
        );
        assert!(matches!(
            guess(&mut g, ip(66), "1001", t1 + S),
            Some(Refusal::Backoff { .. })
        ));
        // The refused attempt counted: the sixth failure bans.
        assert!(matches!(
            guess(&mut g, ip(66), "1001", t1 + S * 2),
            Some(Refusal::Backoff { .. })
        ));
        let t2 = t1 + S * 2;
        assert_eq!(g.banned(ip(66), t2), Some(Duration::from_secs(600)));
        assert!(matches!(
            g.admit(ip(66), "1002", t2 + S * 599),
            Err(Refusal::Banned { .. })
        ));
        assert_eq!(
            g.admit(ip(66), "1002", t2 + S * 601),
            Ok(()),
            "the ban ends by itself and forgets the failures"
        );
    }

    #[test]
    fn a_ban_of_one_source_leaves_other_sources_and_the_user_alone() {
        let mut g = AuthGuard::new(policy());
        let t0 = crate::clock::now();
        for i in 0..10 {
            guess(&mut g, ip(66), "1001", t0 + S * i);
        }
        assert!(g.banned(ip(66), t0 + S * 10).is_some());
        assert_eq!(
            g.admit(ip(10), "1001", t0 + S * 10),
            Ok(()),
            "the real phone"
        );
    }

    #[test]
    fn a_distributed_attack_slows_dirty_sources_but_never_a_clean_one() {
        let mut g = AuthGuard::new(policy());
        let t0 = crate::clock::now();
        for attacker in 100..110 {
            assert_eq!(guess(&mut g, ip(attacker), "1001", t0), None);
        }
        assert!(matches!(
            g.admit(ip(100), "1001", t0),
            Err(Refusal::UserSlowdown { .. })
        ));
        assert_eq!(
            g.admit(ip(100), "1002", t0),
            Ok(()),
            "other users are not slowed"
        );
        assert_eq!(
            g.admit(ip(10), "1001", t0),
            Ok(()),
            "a clean source is heard"
        );
        let blocks = g.blocks(t0);
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        assert_eq!(blocks[0].kind, BlockKind::UserSlowdown);
        assert_eq!(blocks[0].user.as_deref(), Some("1001"));
        assert_eq!(blocks[0].failures, 10);
    }

    #[test]
    fn refused_attempts_do_not_grow_the_users_count() {
        let mut g = AuthGuard::new(policy());
        let t0 = crate::clock::now();
        for _ in 0..5 {
            guess(&mut g, ip(66), "1001", t0);
        }
        assert_eq!(
            g.users["1001"].failures, 3,
            "only checked guesses count for the user"
        );
        assert_eq!(g.sources[&ip(66)].failures, 5);
    }

    #[test]
    fn a_quiet_window_forgives_and_a_lift_forgets() {
        let mut g = AuthGuard::new(policy());
        let t0 = crate::clock::now();
        for _ in 0..3 {
            guess(&mut g, ip(66), "1001", t0);
        }
        let quiet = t0 + Duration::from_secs(301);
        assert_eq!(g.admit(ip(66), "1001", quiet), Ok(()));
        assert!(g.blocks(quiet).is_empty());
        for i in 0..6 {
            guess(&mut g, ip(66), "1001", quiet + S * 10 * i);
        }
        let now = quiet + S * 60;
        let blocks = g.blocks(now);
        assert_eq!(blocks[0].kind, BlockKind::Ban);
        assert_eq!(blocks[0].address, Some(ip(66)));
        assert!(g.lift(ip(66), now));
        assert_eq!(g.admit(ip(66), "1001", now), Ok(()));
        assert!(!g.lift(ip(66), now), "nothing left to lift");
    }

    #[test]
    fn ipv4_mapped_addresses_share_their_ipv4_counter() {
        let mut g = AuthGuard::new(policy());
        let t0 = crate::clock::now();
        let mapped: IpAddr = "::ffff:192.0.2.66".parse().unwrap();
        for _ in 0..6 {
            guess(&mut g, mapped, "1001", t0);
        }
        assert!(g.banned(ip(66), t0).is_some());
    }
}
