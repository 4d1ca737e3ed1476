//! Password-guessing protection for `POST /api/v1/sessions`, fail2ban style.
//!
//! Failed logins are counted per (agent, source address) pair and per source address:
//! - a pair that fails [`LoginPolicy::lockout_after`] times within [`LoginPolicy::window`] is
//!   locked out for [`LoginPolicy::lockout`]: that address may not try that agent again, but
//!   the agent still logs in from anywhere else. Counting by agent alone (as the switch once
//!   did) let anyone lock a colleague out by typing wrong passwords under their id;
//! - a source address that fails [`LoginPolicy::ban_after`] times within the window, whatever
//!   the agents, is banned for [`LoginPolicy::ban`]: a dictionary attack moving from agent to
//!   agent stops there.
//!
//! A lockout or ban refuses even the right password (otherwise the attacker would simply keep
//! guessing), and is checked before the password is, so a blocked attempt costs no argon2 time.
//! A success clears its pair's count. Every lockout and ban is logged as a security event
//! (tracing target `security`), listed by the admin API and liftable there.
//!
//! State is in memory, per switch: a restart forgives everyone, and a cluster multiplies the
//! allowance by its size, which is fine for a brake (argon2's cost is the other defence).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::routing::model::AgentId;

/// Beyond this many counters, those that block nothing are forgotten (a flood of made-up
/// agent ids must not grow memory without bound).
const MAX_COUNTERS: usize = 50_000;

/// Thresholds and durations (the profile's `[cti.login]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failures of one (agent, address) pair before that pair is locked out.
    pub lockout_after: u32,
    /// How long a pair stays locked out.
    pub lockout: Duration,
    /// Failures from one address, whatever the agents, before the address is banned.
    pub ban_after: u32,
    /// How long an address stays banned.
    pub ban: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy {
            lockout_after: 5,
            lockout: Duration::from_secs(15 * 60),
            ban_after: 20,
            ban: Duration::from_secs(60 * 60),
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a login attempt is refused before its password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This address may not try this agent for a while.
    LockedOut { retry_after: Duration },
    /// This address may not log in at all for a while.
    Banned { retry_after: Duration },
}

/// A lockout or ban in force, as the admin API lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LoginBlock {
    /// The source address.
    pub address: String,
    /// The agent id tried, for a lockout; absent for an address ban.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Failures counted in the window.
    pub failures: u32,
    /// Seconds until the block ends by itself.
    pub remaining_secs: u64,
}

#[derive(Clone, Copy, Debug)]
struct Counter {
    failures: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

impl Counter {
    fn new(now: Instant) -> Counter {
        Counter {
            failures: 0,
            since: now,
            blocked_until: None,
        }
    }

    fn blocked_for(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Counts one failure; `true` when this one crosses `limit` and starts a block.
    fn fail(&mut self, now: Instant, policy_window: Duration, limit: u32, block: Duration) -> bool {
        if self.blocked_for(now).is_none()
            && now.saturating_duration_since(self.since) > policy_window
        {
            *self = Counter::new(now);
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= limit && self.blocked_for(now).is_none() {
            self.blocked_until = Some(now + block);
            return true;
        }
        false
    }

    fn forgettable(&self, now: Instant, window: Duration) -> bool {
        self.blocked_for(now).is_none() && now.saturating_duration_since(self.since) > window
    }
}

#[derive(Debug, Default)]
struct Counters {
    pairs: HashMap<(AgentId, IpAddr), Counter>,
    sources: HashMap<IpAddr, Counter>,
}

/// The failed-login bookkeeping of one switch.
#[derive(Debug)]
pub struct LoginGuard {
    policy: LoginPolicy,
    counters: Mutex<Counters>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(LoginPolicy::default())
    }
}

impl LoginGuard {
    #[must_use]
    pub fn new(policy: LoginPolicy) -> LoginGuard {
        LoginGuard {
            policy,
            counters: Mutex::new(Counters::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `source` may try `agent`'s password now.
    pub fn check(&self, agent: &AgentId, source: IpAddr, now: Instant) -> Result<(), Refusal> {
        let counters = self.lock();
        if let Some(left) = counters
            .sources
            .get(&source)
            .and_then(|c| c.blocked_for(now))
        {
            return Err(Refusal::Banned { retry_after: left });
        }
        let pair = (agent.clone(), source);
        if let Some(left) = counters.pairs.get(&pair).and_then(|c| c.blocked_for(now)) {
            return Err(Refusal::LockedOut { retry_after: left });
        }
        Ok(())
    }

    /// Counts a wrong password (or unknown agent) from `source`, and logs a security event
    /// when it starts a lockout or a ban.
    pub fn failed(&self, agent: &AgentId, source: IpAddr, now: Instant) {
        let p = self.policy;
        let mut counters = self.lock();
        if counters.pairs.len() + counters.sources.len() > MAX_COUNTERS {
            counters.pairs.retain(|_, c| !c.forgettable(now, p.window));
            counters
                .sources
                .retain(|_, c| !c.forgettable(now, p.window));
        }
        let pair = counters
            .pairs
            .entry((agent.clone(), source))
            .or_insert_with(|| Counter::new(now));
        let failures = pair.failures + 1;
        if pair.fail(now, p.window, p.lockout_after, p.lockout) {
            tracing::warn!(target: "security", event = "cti_login_lockout", %agent,
                %source, failures, lockout_secs = p.lockout.as_secs(),
                "CTI logins for this agent from this address locked out");
        }
        let from_source = counters
            .sources
            .entry(source)
            .or_insert_with(|| Counter::new(now));
        let failures = from_source.failures + 1;
        if from_source.fail(now, p.window, p.ban_after, p.ban) {
            tracing::warn!(target: "security", event = "cti_login_ban", %source, failures,
                ban_secs = p.ban.as_secs(), "address banned from CTI login");
        }
    }

    /// A correct password from `source`: its pair starts over. The address's own count stays:
    /// an attacker who knows one password must not be able to reset its ban counter with it.
    pub fn succeeded(&self, agent: &AgentId, source: IpAddr) {
        self.lock().pairs.remove(&(agent.clone(), source));
    }

    /// Lockouts and bans in force, bans first, then by address and agent.
    #[must_use]
    pub fn blocks(&self, now: Instant) -> Vec<LoginBlock> {
        let counters = self.lock();
        let mut blocks: Vec<LoginBlock> = counters
            .sources
            .iter()
            .filter_map(|(source, c)| Some((source, None, c, c.blocked_for(now)?)))
            .chain(counters.pairs.iter().filter_map(|((agent, source), c)| {
                Some((source, Some(agent), c, c.blocked_for(now)?))
            }))
            .map(|(source, agent, c, left)| LoginBlock {
                address: source.to_string(),
                agent: agent.map(|a| a.0.clone()),
                failures: c.failures,
                remaining_secs: left.as_secs().max(1),
            })
            .collect();
        blocks.sort_by(|a, b| {
            (a.agent.is_some(), &a.address, &a.agent).cmp(&(
                b.agent.is_some(),
                &b.address,
                &b.agent,
            ))
        });
        blocks
    }

    /// Lifts the ban of `source` and its lockouts (only the one for `agent` when given), and
    /// forgets their failures. `false` if nothing was blocked.
    pub fn lift(&self, source: IpAddr, agent: Option<&AgentId>, now: Instant) -> bool {
        let mut counters = self.lock();
        let mut lifted = false;
        if agent.is_none()
            && let Some(c) = counters.sources.remove(&source)
        {
            lifted |= c.blocked_for(now).is_some();
        }
        counters.pairs.retain(|(a, s), c| {
            let matches = *s == source && agent.is_none_or(|agent| agent == a);
            lifted |= matches && c.blocked_for(now).is_some();
            !matches
        });
        if lifted {
            tracing::info!(target: "security", event = "cti_login_block_lifted", %source,
                agent = agent.map(AgentId::as_str), "CTI login block lifted by an admin");
        }
        lifted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;

    fn policy() -> LoginPolicy {
        LoginPolicy {
            lockout_after: 3,
            lockout: Duration::from_secs(60),
            ban_after: 5,
            ban: Duration::from_secs(600),
            window: Duration::from_secs(300),
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_pair_is_locked_out_without_locking_the_agent_out_elsewhere() {
        let guard = LoginGuard::new(policy());
        let t0 = clock::now();
        let alice = AgentId::from("alice");
        for _ in 0..3 {
            assert_eq!(guard.check(&alice, ip(66), t0), Ok(()));
            guard.failed(&alice, ip(66), t0);
        }
        assert!(matches!(
            guard.check(&alice, ip(66), t0),
            Err(Refusal::LockedOut { .. })
        ));
        assert_eq!(guard.check(&alice, ip(10), t0), Ok(()), "alice's own desk");
        assert_eq!(
            guard.check(&alice, ip(66), t0 + Duration::from_secs(61)),
            Ok(()),
            "the lockout ends by itself"
        );
    }

    #[test]
    fn an_address_trying_many_agents_is_banned_for_all_of_them() {
        let guard = LoginGuard::new(policy());
        let t0 = clock::now();
        for agent in ["a", "b", "c", "d", "e"] {
            guard.failed(&AgentId::from(agent), ip(66), t0);
        }
        assert!(matches!(
            guard.check(&AgentId::from("zed"), ip(66), t0),
            Err(Refusal::Banned { .. })
        ));
        let blocks = guard.blocks(t0);
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        assert_eq!(blocks[0].address, "192.0.2.66");
        assert_eq!(blocks[0].agent, None);
        assert_eq!(blocks[0].remaining_secs, 600);

        assert!(guard.lift(ip(66), None, t0));
        assert_eq!(guard.check(&AgentId::from("zed"), ip(66), t0), Ok(()));
        assert!(!guard.lift(ip(66), None, t0), "nothing left to lift");
    }

    #[test]
    fn failures_outside_the_window_are_forgotten_and_a_success_resets_its_pair() {
        let guard = LoginGuard::new(policy());
        let t0 = clock::now();
        let alice = AgentId::from("alice");
        guard.failed(&alice, ip(1), t0);
        guard.failed(&alice, ip(1), t0);
        guard.succeeded(&alice, ip(1));
        guard.failed(&alice, ip(1), t0);
        assert_eq!(
            guard.check(&alice, ip(1), t0),
            Ok(()),
            "reset by the success"
        );
        guard.failed(&alice, ip(1), t0);
        let later = t0 + Duration::from_secs(301);
        guard.failed(&alice, ip(1), later);
        assert_eq!(
            guard.check(&alice, ip(1), later),
            Ok(()),
            "old failures expired"
        );
    }
}
