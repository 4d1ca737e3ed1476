//! An in-memory token-bucket rate limiter, used to slow down password guessing on
//! `POST /api/v1/sessions` (per client IP and per agent id).
//!
//! Buckets live in one process: a cluster of switches multiplies the allowance by its size,
//! which is acceptable for a brake on guessing (argon2's cost is the real defence).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock;

/// Beyond this many tracked keys, full buckets are forgotten.
const MAX_KEYS: usize = 10_000;

/// Token buckets keyed by string.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    refill_every: Duration,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `capacity` attempts at once, then one more every `refill_every`.
    #[must_use]
    pub fn new(capacity: u32, refill_every: Duration) -> RateLimiter {
        RateLimiter {
            capacity: f64::from(capacity.max(1)),
            refill_every,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt from every bucket in `keys`, or none if any is empty; `Err` holds the
    /// seconds until the emptiest refills.
    pub fn check(&self, keys: &[String]) -> Result<(), u64> {
        self.check_at(keys, clock::now())
    }

    fn check_at(&self, keys: &[String], now: Instant) -> Result<(), u64> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let per_sec = 1.0 / self.refill_every.as_secs_f64().max(f64::EPSILON);
        if buckets.len() > MAX_KEYS {
            let capacity = self.capacity;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec < capacity
            });
            // A flood of distinct keys (made-up agent ids) must not grow memory without bound;
            // forgetting everyone at once only hands out one fresh burst.
            if buckets.len() > MAX_KEYS {
                buckets.clear();
            }
        }
        let mut wait = 0.0_f64;
        for key in keys {
            let (tokens, at) = buckets.entry(key.clone()).or_insert((self.capacity, now));
            *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * per_sec)
                .min(self.capacity);
            *at = now;
            if *tokens < 1.0 {
                wait = wait.max((1.0 - *tokens) / per_sec);
            }
        }
        if wait > 0.0 {
            // Whole seconds for Retry-After; at least one.
            return Err((wait.ceil() as u64).max(1));
        }
        for key in keys {
            if let Some((tokens, _)) = buckets.get_mut(key) {
                *tokens -= 1.0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_then_refills_over_time() {
        let limiter = RateLimiter::new(2, Duration::from_secs(10));
        let t0 = clock::now();
        let keys = ["agent:alice".to_owned()];
        assert_eq!(limiter.check_at(&keys, t0), Ok(()));
        assert_eq!(limiter.check_at(&keys, t0), Ok(()));
        assert_eq!(limiter.check_at(&keys, t0), Err(10));
        assert_eq!(
            limiter.check_at(&["agent:bob".to_owned()], t0),
            Ok(()),
            "per key"
        );
        assert_eq!(limiter.check_at(&keys, t0 + Duration::from_secs(5)), Err(5));
        assert_eq!(
            limiter.check_at(&keys, t0 + Duration::from_secs(10)),
            Ok(())
        );
    }

    #[test]
    fn an_empty_bucket_refuses_without_draining_the_others() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        let t0 = clock::now();
        let ip = "ip:192.0.2.1".to_owned();
        assert!(limiter.check_at(std::slice::from_ref(&ip), t0).is_ok());
        assert!(
            limiter
                .check_at(&[ip.clone(), "agent:a".into()], t0)
                .is_err()
        );
        assert!(limiter.check_at(&["agent:a".to_owned()], t0).is_ok());
    }
}
