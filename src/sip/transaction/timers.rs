//! Transaction timers (RFC 3261 §17 and Table 4, RFC 6026 §8.4): their names, their initial
//! values, and the small table each transaction keeps them in.
//!
//! The table never reads the clock: deadlines are `Instant`s computed by the caller from the
//! `now` it was given, and [`TimerTable::take_expired`] is asked about a `now` too.

use std::time::{Duration, Instant};

/// A transaction timer, by its RFC name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: request retransmission (UDP only), T1 doubling (§17.1.1.2).
    A,
    /// INVITE client: transaction timeout while Calling, 64*T1.
    B,
    /// Proxy INVITE timer (> 3 min, §16.6). Named for completeness; no machine here arms it:
    /// a B2BUA's TU decides how long a call may ring.
    C,
    /// INVITE client: wait in Completed for response retransmissions, 32 s UDP, 0 reliable.
    D,
    /// Non-INVITE client: request retransmission (UDP only), T1 doubling up to T2.
    E,
    /// Non-INVITE client: transaction timeout, 64*T1.
    F,
    /// INVITE server: final response retransmission (UDP only), T1 doubling up to T2.
    G,
    /// INVITE server: wait for the ACK, 64*T1.
    H,
    /// INVITE server: absorb ACK retransmissions in Confirmed, T4 UDP, 0 reliable.
    I,
    /// Non-INVITE server: absorb request retransmissions in Completed, 64*T1 UDP, 0 reliable.
    J,
    /// Non-INVITE client: absorb response retransmissions in Completed, T4 UDP, 0 reliable.
    K,
    /// INVITE server (RFC 6026): stay in Accepted to absorb INVITE retransmissions, 64*T1.
    L,
    /// INVITE client (RFC 6026): stay in Accepted to pass up 2xx retransmissions, 64*T1.
    M,
    /// Not an RFC timer name: the INVITE server's "send 100 Trying if the TU has not
    /// answered within 200 ms" rule (§17.2.1), kept in the same table so it is polled the same way.
    Trying,
}

impl Timer {
    /// Number of distinct timers (the table's size).
    pub const COUNT: usize = 14;
    /// Every timer, in declaration order (the index of each is `timer as usize`).
    pub const ALL: [Timer; Timer::COUNT] = [
        Timer::A,
        Timer::B,
        Timer::C,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
        Timer::Trying,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The base timer values; the profile supplies them (RFC 3261 §17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Maximum duration a message remains in the network (5 s).
    pub t4: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timing {
    /// The initial value of `timer` (RFC 3261 Table 4, RFC 6026 §8.4). Zero means "fire
    /// at once": machines then skip the wait and move on immediately.
    pub fn initial(&self, timer: Timer, reliable: bool) -> Duration {
        let unreliable_only = |d: Duration| if reliable { Duration::ZERO } else { d };
        match timer {
            Timer::A | Timer::E | Timer::G => self.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => self.t1 * 64,
            Timer::C => Duration::from_secs(180),
            Timer::D => unreliable_only(Duration::from_secs(32)),
            Timer::I | Timer::K => unreliable_only(self.t4),
            Timer::J => unreliable_only(self.t1 * 64),
            Timer::Trying => Duration::from_millis(200),
        }
    }
}

/// Timers one transaction can have armed at once: no RFC machine arms more than two
/// (Timers A and B in Calling, G and H in Completed, E and F in Trying), plus room to spare.
pub const TIMER_SLOTS: usize = 4;

/// The armed timers of one transaction: at most one deadline per [`Timer`], in a few slots
/// rather than one per timer kind, because finished transactions linger for 64·T1 by the
/// thousand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    slots: [Option<(Instant, Timer)>; TIMER_SLOTS],
}

impl TimerTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `timer` to fire at `at`, replacing any earlier deadline for it.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        let slot = self
            .slots
            .iter()
            .position(|s| s.is_some_and(|(_, t)| t == timer))
            .or_else(|| self.slots.iter().position(Option::is_none));
        debug_assert!(slot.is_some(), "more than {TIMER_SLOTS} timers armed");
        // Never reached by the RFC machines; if it were, the latest deadline gives way.
        let slot = slot.unwrap_or_else(|| {
            (0..TIMER_SLOTS)
                .max_by_key(|i| self.slots[*i].map(|(at, _)| at))
                .unwrap_or(0)
        });
        self.slots[slot] = Some((at, timer));
    }

    /// Disarms `timer` (a no-op when it is not armed).
    pub fn cancel(&mut self, timer: Timer) {
        for slot in &mut self.slots {
            if slot.is_some_and(|(_, t)| t == timer) {
                *slot = None;
            }
        }
    }

    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.slots = [None; TIMER_SLOTS];
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .find(|(_, t)| *t == timer)
            .map(|(at, _)| *at)
    }

    /// The soonest deadline of all armed timers.
    pub fn earliest(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|(at, _)| *at).min()
    }

    /// Disarms and returns every timer whose deadline is at or before `now`, soonest first
    /// (ties in declaration order, so Timer F's timeout comes after an E due at the same time).
    pub fn take_expired(&mut self, now: Instant) -> Expired {
        let mut due: [Option<(Instant, Timer)>; TIMER_SLOTS] = [None; TIMER_SLOTS];
        let mut len = 0;
        for slot in &mut self.slots {
            if let Some((at, timer)) = slot.filter(|(at, _)| *at <= now) {
                *slot = None;
                due[len] = Some((at, timer));
                len += 1;
            }
        }
        due[..len].sort_unstable_by_key(|d| d.map(|(at, timer)| (at, timer.index())));
        Expired { due, next: 0, len }
    }
}

/// Timers taken from a [`TimerTable`] by [`TimerTable::take_expired`], soonest first.
/// Detached from the table, so the machine may re-arm timers while iterating.
#[derive(Debug, Clone)]
pub struct Expired {
    due: [Option<(Instant, Timer)>; TIMER_SLOTS],
    next: usize,
    len: usize,
}

impl Iterator for Expired {
    type Item = Timer;

    fn next(&mut self) -> Option<Timer> {
        if self.next >= self.len {
            return None;
        }
        let item = self.due.get(self.next).copied().flatten();
        self.next += 1;
        item.map(|(_, timer)| timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::test_support::t0;

    #[test]
    fn expired_timers_come_out_soonest_first_and_are_disarmed() {
        let t0 = t0();
        let mut table = TimerTable::new();
        table.set(Timer::F, t0 + Duration::from_secs(32));
        table.set(Timer::E, t0 + Duration::from_millis(500));
        table.set(Timer::K, t0 + Duration::from_secs(40));
        assert_eq!(table.earliest(), Some(t0 + Duration::from_millis(500)));
        let fired: Vec<Timer> = table.take_expired(t0 + Duration::from_secs(32)).collect();
        assert_eq!(fired, vec![Timer::E, Timer::F]);
        assert_eq!(table.earliest(), Some(t0 + Duration::from_secs(40)));
        assert_eq!(table.take_expired(t0 + Duration::from_secs(39)).count(), 0);
    }

    #[test]
    fn timers_due_at_the_same_instant_fire_in_declaration_order() {
        let t0 = t0();
        let mut table = TimerTable::new();
        table.set(Timer::F, t0);
        table.set(Timer::E, t0);
        let fired: Vec<Timer> = table.take_expired(t0).collect();
        assert_eq!(fired, vec![Timer::E, Timer::F]);
    }

    #[test]
    fn cancelled_timers_do_not_fire() {
        let t0 = t0();
        let mut table = TimerTable::new();
        table.set(Timer::A, t0);
        table.cancel(Timer::A);
        assert_eq!(table.earliest(), None);
        assert_eq!(table.take_expired(t0).count(), 0);
    }

    #[test]
    fn reliable_transports_zero_the_wait_timers_but_not_the_timeouts() {
        let timing = Timing::default();
        for timer in [Timer::D, Timer::I, Timer::J, Timer::K] {
            assert_eq!(timing.initial(timer, true), Duration::ZERO, "{timer:?}");
            assert!(timing.initial(timer, false) > Duration::ZERO, "{timer:?}");
        }
        assert_eq!(timing.initial(Timer::B, true), Duration::from_secs(32));
        assert_eq!(timing.initial(Timer::D, false), Duration::from_secs(32));
        assert_eq!(timing.initial(Timer::K, false), Duration::from_secs(5));
    }
}
