//! What one source address may make the switch hold before its calls are confirmed, and how
//! each leg's media is latched (see [`crate::media::relay::source`]).
//!
//! Every new call takes two RTP/RTCP port pairs (the caller's leg and the callee's) the
//! moment its INVITE passes routing, and a queue call is answered at once: without limits, one
//! host sending INVITEs (forged, never ACKed) exhausts the port range in seconds. So, per
//! source IP, as Kamailio's `pike` and FreeSWITCH's `limit` do:
//!
//! - **New calls per second**: a token bucket of [`SourceLimits::calls_per_second`], as deep
//!   as one second's worth. A call over it gets `503 Service Unavailable` with `Retry-After`
//!   (RFC 3261 §21.5.4: the server is overloaded for that client; try later).
//! - **Port pairs held by unconfirmed calls** (ringing, or answered and waiting for the
//!   caller's ACK): at most [`SourceLimits::unconfirmed_pairs`]. A call over it gets
//!   `486 Busy Here`, FreeSWITCH `limit`'s answer: the source has as many calls up as it
//!   may, which a trunk can route elsewhere and a phone shows as busy.
//! - **The ACK window** ([`SourceLimits::ack_timeout`], 16·T1 = 8 s by default): a caller's
//!   2xx that is still unacknowledged then ends the call (BYE) and frees its ports, instead of
//!   holding them for the whole 64·T1 that RFC 3261 §13.3.1.4 gives the 2xx retransmissions.
//!   By then the 2xx went out five times (0, 0.5, 1.5, 3.5 and 7.5 s with T1 = 500 ms), so a
//!   caller that answered none is gone or was never there; and nothing was sent to its media
//!   address meanwhile (no media before the ACK), so no peer depends on those ports.
//!
//! Buckets are kept per address seen in the last second; a flood of sources is bounded by
//! pruning full buckets, never by refusing.

use super::model::CallKey;
use super::rejection::Rejection;
use super::switch::Switch;
use crate::media::relay::LatchPolicy;
use crate::sip::message::Message;
use crate::sip::transaction::TransactionKey;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Per-source limits and media latching, from the profile (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLimits {
    /// New calls a source IP may start per second (and in one burst); 0: unlimited.
    pub calls_per_second: u32,
    /// Port pairs the unconfirmed calls of one source IP may hold; 0: unlimited.
    pub unconfirmed_pairs: usize,
    /// How long a caller's 2xx waits for its ACK before the call ends; `None`: 16·T1.
    pub ack_timeout: Option<Duration>,
    /// Signalling sources whose legs latch to their SDP address (trunks that need no NAT
    /// traversal and may send media from another port than they listen on).
    pub sdp_latch_sources: Vec<IpAddr>,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            calls_per_second: 50,
            unconfirmed_pairs: 100,
            ack_timeout: None,
            sdp_latch_sources: Vec::new(),
        }
    }
}

/// Why a source may not start a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over its new-call rate: `503`, try again after this long.
    TooFast { retry_after: Duration },
    /// Its unconfirmed calls hold all the ports it may: `486`.
    TooManyUnconfirmed,
}

/// A token bucket: `tokens` at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The books behind [`SourceLimits`]; see the module doc.
#[derive(Debug, Default)]
pub struct Admission {
    limits: SourceLimits,
    buckets: HashMap<IpAddr, Bucket>,
    /// Port pairs held by each source's unconfirmed calls.
    held: HashMap<IpAddr, usize>,
    /// Unconfirmed calls: their source and pairs.
    calls: HashMap<CallKey, (IpAddr, usize)>,
    /// Bucket count that triggers the next prune.
    prune_at: usize,
}

/// Buckets kept before full ones are pruned.
const MIN_PRUNE_AT: usize = 4096;

impl Admission {
    /// Books enforcing `limits`.
    #[must_use]
    pub fn new(limits: SourceLimits) -> Admission {
        Admission {
            limits,
            prune_at: MIN_PRUNE_AT,
            ..Admission::default()
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn limits(&self) -> &SourceLimits {
        &self.limits
    }

    /// How `source`'s legs latch their media.
    #[must_use]
    pub fn latch_for(&self, source: IpAddr) -> LatchPolicy {
        let source = source.to_canonical();
        if self
            .limits
            .sdp_latch_sources
            .iter()
            .any(|s| s.to_canonical() == source)
        {
            LatchPolicy::SdpAddress
        } else {
            LatchPolicy::signalling(source)
        }
    }

    /// Whether `source` may start a call taking `pairs` port pairs now; a call admitted is
    /// counted against its rate, and must be [`hold`](Self::hold)ed once it exists.
    pub fn admit(&mut self, now: Instant, source: IpAddr, pairs: usize) -> Result<(), Refusal> {
        let limit = self.limits.unconfirmed_pairs;
        let held = self.held.get(&source).copied().unwrap_or(0);
        if limit > 0 && held + pairs > limit {
            return Err(Refusal::TooManyUnconfirmed);
        }
        let rate = self.limits.calls_per_second;
        if rate == 0 {
            return Ok(());
        }
        let capacity = f64::from(rate);
        self.prune(now, capacity);
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * capacity).min(capacity);
        bucket.at = bucket.at.max(now);
        if bucket.tokens < 1.0 {
            let wait = (1.0 - bucket.tokens) / capacity;
            // Retry-After counts whole seconds (RFC 3261 §20.33).
            let retry_after = Duration::from_secs(wait.ceil().max(1.0) as u64);
            return Err(Refusal::TooFast { retry_after });
        }
        bucket.tokens -= 1.0;
        Ok(())
    }

    /// `call` from `source` holds `pairs` port pairs until [`settle`](Self::settle)d.
    pub fn hold(&mut self, call: CallKey, source: IpAddr, pairs: usize) {
        if self.calls.insert(call, (source, pairs)).is_none() {
            *self.held.entry(source).or_default() += pairs;
        }
    }

    /// `call` was confirmed (the caller's ACK) or ended: its pairs no longer count. Calling
    /// it again changes nothing.
    pub fn settle(&mut self, call: CallKey) {
        let Some((source, pairs)) = self.calls.remove(&call) else {
            return;
        };
        if let Some(held) = self.held.get_mut(&source) {
            *held = held.saturating_sub(pairs);
            if *held == 0 {
                self.held.remove(&source);
            }
        }
    }

    /// Port pairs `source`'s unconfirmed calls hold.
    #[must_use]
    pub fn unconfirmed_pairs(&self, source: IpAddr) -> usize {
        self.held.get(&source).copied().unwrap_or(0)
    }

    /// Drops buckets that have refilled (their source would start afresh anyway), when there
    /// are many: memory stays bounded by the sources of the last second.
    fn prune(&mut self, now: Instant, capacity: f64) {
        if self.buckets.len() < self.prune_at {
            return;
        }
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * capacity < capacity
        });
        self.prune_at = (self.buckets.len() * 2).max(MIN_PRUNE_AT);
    }
}

/// Pairs a new call takes at once: the caller's leg and the callee's.
pub(super) const PAIRS_PER_CALL: usize = 2;

impl Switch {
    /// Replaces the per-source limits and latching rules (the profile's; the defaults until
    /// set).
    pub fn set_source_limits(&mut self, limits: SourceLimits) {
        self.admission = Admission::new(limits);
    }

    /// How a leg whose signalling comes from `source` latches its media.
    pub(super) fn latch_for(&self, source: IpAddr) -> LatchPolicy {
        self.admission.latch_for(source)
    }

    /// [`Self::latch_for`] a leg whose signalling peer may be unknown: then nothing is
    /// admitted (no packet comes from the unspecified address) rather than anything.
    pub(super) fn latch_for_leg(&self, source: Option<IpAddr>) -> LatchPolicy {
        self.latch_for(source.unwrap_or(IpAddr::from([0, 0, 0, 0])))
    }

    /// Whether the INVITE from `source` may take ports now; when not it is answered here
    /// (503 with Retry-After, or 486) and logged as a security event.
    pub(super) fn admit_call(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: &Message,
        source: IpAddr,
    ) -> bool {
        let refusal = match self.admission.admit(now, source, PAIRS_PER_CALL) {
            Ok(()) => return true,
            Err(refusal) => refusal,
        };
        let why = match refusal {
            Refusal::TooFast { retry_after } => {
                tracing::info!(target: "security", event = "call_rate_limited", %source);
                Rejection::SourceRate { retry_after }
            }
            Refusal::TooManyUnconfirmed => {
                let held = self.admission.unconfirmed_pairs(source);
                tracing::info!(target: "security", event = "unconfirmed_calls_limited", %source, held);
                Rejection::SourceUnconfirmed
            }
        };
        self.reject(now, key, request, why);
        false
    }

    /// How long a caller's 2xx waits for its ACK: the profile's, 16·T1 by default, never
    /// more than the 64·T1 of RFC 3261 §13.3.1.4.
    pub(super) fn ack_window(&self) -> Duration {
        let t1 = self.cfg.timing.t1;
        self.admission
            .limits()
            .ack_timeout
            .unwrap_or(t1 * 16)
            .min(t1 * 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base for virtual time, from the crate's one clock reader.
    fn t0() -> Instant {
        crate::clock::now()
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn limits(calls_per_second: u32, unconfirmed_pairs: usize) -> SourceLimits {
        SourceLimits {
            calls_per_second,
            unconfirmed_pairs,
            ..SourceLimits::default()
        }
    }

    #[test]
    fn a_source_over_its_rate_is_told_to_retry_and_others_are_not_affected() {
        let now = t0();
        let mut books = Admission::new(limits(5, 0));
        for n in 0..5 {
            assert_eq!(books.admit(now, ip(1), 2), Ok(()), "call {n}");
        }
        assert_eq!(
            books.admit(now, ip(1), 2),
            Err(Refusal::TooFast {
                retry_after: Duration::from_secs(1)
            })
        );
        assert_eq!(books.admit(now, ip(2), 2), Ok(()), "another source");
        // A fifth of a second refills one call.
        let later = now + Duration::from_millis(200);
        assert_eq!(books.admit(later, ip(1), 2), Ok(()));
        assert!(books.admit(later, ip(1), 2).is_err());
    }

    #[test]
    fn unconfirmed_calls_hold_pairs_until_confirmed_or_ended() {
        let now = t0();
        let mut books = Admission::new(limits(0, 4));
        for call in 1..=2 {
            books.admit(now, ip(1), 2).unwrap();
            books.hold(CallKey(call), ip(1), 2);
        }
        assert_eq!(books.unconfirmed_pairs(ip(1)), 4);
        assert_eq!(books.admit(now, ip(1), 2), Err(Refusal::TooManyUnconfirmed));
        assert_eq!(books.admit(now, ip(2), 2), Ok(()));
        books.settle(CallKey(1));
        books.settle(CallKey(1));
        assert_eq!(books.unconfirmed_pairs(ip(1)), 2, "settled once");
        assert_eq!(books.admit(now, ip(1), 2), Ok(()));
    }

    #[test]
    fn zero_means_no_limit() {
        let now = t0();
        let mut books = Admission::new(limits(0, 0));
        for call in 0..10_000 {
            books.admit(now, ip(1), 2).unwrap();
            books.hold(CallKey(call), ip(1), 2);
        }
    }

    #[test]
    fn buckets_of_quiet_sources_are_pruned_when_many_sources_call() {
        let now = t0();
        let mut books = Admission::new(limits(10, 0));
        for n in 0..MIN_PRUNE_AT as u32 {
            books.admit(now, IpAddr::from(n.to_be_bytes()), 2).unwrap();
        }
        let later = now + Duration::from_secs(2);
        books.admit(later, ip(1), 2).unwrap();
        assert!(books.buckets.len() < 10, "{} kept", books.buckets.len());
    }

    #[test]
    fn trusted_trunks_latch_to_their_sdp_and_everyone_else_to_their_signalling_ip() {
        let books = Admission::new(SourceLimits {
            sdp_latch_sources: vec![ip(7)],
            ..SourceLimits::default()
        });
        assert_eq!(books.latch_for(ip(7)), LatchPolicy::SdpAddress);
        assert_eq!(books.latch_for(ip(8)), LatchPolicy::SignallingIp(ip(8)));
    }
}
