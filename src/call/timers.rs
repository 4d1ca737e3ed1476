//! A call's timers are its own: each deadline lives in the state it bounds (the ring timeout
//! of a call that rings, a 2xx waiting for its ACK, a consult or a transfer that rings), and
//! [`Call::poll_timeout`] is the earliest of them. The switch, like an endpoint routing to
//! its connections, keeps one entry per call at that earliest deadline and, when it falls
//! due, asks the call what is due ([`Call::due`]) and carries out each follow-up that needs
//! its maps (failing over to the next gateway, ending the call, dropping a consult or a
//! transfer) in the order the call gives them: nothing is cancelled when a deadline goes away (an
//! ACK, an answer), the entry simply finds nothing due and the next one is scheduled.
//!
//! Ended calls linger 64·T1 as tombstones; every one lingers as long, so they wait in a
//! plain first-in first-out queue rather than a heap.

use super::model::*;
use super::switch::Switch;
use std::cmp::Reverse;
use std::time::Instant;

impl Call {
    /// When the call next needs to be told the time; `None` when nothing waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == CallState::Ended {
            return None;
        }
        self.deadlines()
            .into_iter()
            .filter_map(|(_, at)| at)
            .chain(self.silent_gateway_deadline())
            .min()
    }
}

/// A deadline of a call that fell due ([`Call::due`]), in the order they are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallTimer {
    /// The gateway a leg tries has not answered at all: the next one is tried.
    GatewaySilent(LegRole),
    /// Nobody answered the call in time.
    Ring,
    /// A 2xx of ours is due to be sent again, or gave up waiting for its ACK.
    Retransmit2xx,
    /// The consulted party did not answer in time.
    ConsultRing,
    /// A transfer's target did not answer in time.
    TransferRing,
    /// A click-to-dial customer did not answer in time.
    CustomerRing,
    /// A courtesy callback offer went unanswered.
    CourtesyOffer,
}

impl Call {
    /// Which of the call's deadlines are due at `now` (the ones [`Call::poll_timeout`] is
    /// the earliest of).
    pub(super) fn due(&self, now: Instant) -> Vec<CallTimer> {
        if self.state == CallState::Ended {
            return Vec::new();
        }
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        let mut timers: Vec<CallTimer> = self
            .trunk_legs()
            .into_iter()
            .filter(|role| {
                due(self
                    .outbound(*role)
                    .and_then(|l| l.trunk.as_ref()?.poll_timeout()))
            })
            .map(CallTimer::GatewaySilent)
            .collect();
        timers.extend(
            self.deadlines()
                .into_iter()
                .filter(|(_, at)| due(*at))
                .map(|(timer, _)| timer),
        );
        timers
    }
}

impl Call {
    /// Each deadline of the call but its gateways', with the timer it belongs to.
    fn deadlines(&self) -> [(CallTimer, Option<Instant>); 6] {
        let ringing = self.state == CallState::Routing && self.callee.winner.is_none();
        let pending_2xx = [&self.caller.pending_2xx, &self.callee_pending_2xx];
        [
            (CallTimer::Ring, self.ring_deadline.filter(|_| ringing)),
            (
                CallTimer::Retransmit2xx,
                pending_2xx
                    .into_iter()
                    .filter_map(|p| p.as_ref().map(|p| p.next))
                    .min(),
            ),
            (
                CallTimer::ConsultRing,
                self.consult
                    .as_ref()
                    .filter(|c| c.mode == ConsultMode::Ringing)
                    .map(|c| c.ring_deadline),
            ),
            (
                CallTimer::TransferRing,
                self.transfer
                    .as_ref()
                    .filter(|t| t.ringing)
                    .map(|t| t.ring_deadline),
            ),
            (
                CallTimer::CustomerRing,
                self.outdial
                    .as_ref()
                    .filter(|o| o.ringing)
                    .and_then(|o| o.ring_deadline),
            ),
            (
                CallTimer::CourtesyOffer,
                self.queue
                    .as_ref()
                    .and_then(|q| q.courtesy.as_ref())
                    .map(|o| o.deadline),
            ),
        ]
    }

    /// The legs trying gateways now (see `trunk_calls`).
    fn trunk_legs(&self) -> Vec<LegRole> {
        let consult = self.consult.as_ref().map(|c| LegRole::Consult(c.id));
        let transfer = self.transfer.as_ref().map(|t| LegRole::Transfer(t.id));
        let outdial = self.outdial.as_ref().map(|_| LegRole::Outdial);
        std::iter::once(LegRole::Callee)
            .chain(consult)
            .chain(transfer)
            .chain(outdial)
            .filter(|role| {
                self.outbound(*role)
                    .is_some_and(|l| l.trunk.as_ref().is_some_and(|r| r.current.is_some()))
            })
            .collect()
    }

    /// The earliest deadline of a gateway that has not answered yet, on any leg.
    fn silent_gateway_deadline(&self) -> Option<Instant> {
        self.trunk_legs()
            .into_iter()
            .filter_map(|role| self.outbound(role)?.trunk.as_ref()?.poll_timeout())
            .min()
    }
}

impl Switch {
    /// Makes sure the switch wakes `call_key` at its earliest deadline: called whenever a
    /// deadline of the call may have come nearer.
    pub(super) fn schedule(&mut self, call_key: CallKey) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let Some(at) = call.poll_timeout() else {
            return;
        };
        if call.scheduled.is_none_or(|scheduled| at < scheduled) {
            call.scheduled = Some(at);
            self.call_timers.push(Reverse((at, call_key)));
        }
    }

    /// Fires every call deadline and forgets every tombstone due by `now`.
    pub(super) fn fire_call_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, call_key))) = self.call_timers.peek() {
            if at > now {
                break;
            }
            self.call_timers.pop();
            if let Some(call) = self.calls.get_mut(&call_key)
                && call.scheduled == Some(at)
            {
                call.scheduled = None;
            }
            self.on_call_due(now, call_key);
        }
        while let Some(&(until, call_key)) = self.lingering.front() {
            if until > now {
                break;
            }
            self.lingering.pop_front();
            if self
                .tombstones
                .get(&call_key)
                .is_some_and(|t| t.until <= now)
            {
                self.tombstones.remove(&call_key);
            }
        }
    }

    /// The earliest call deadline or tombstone expiry.
    pub(super) fn next_call_timeout(&self) -> Option<Instant> {
        let call = self.call_timers.peek().map(|Reverse((at, _))| *at);
        let linger = self.lingering.front().map(|(until, _)| *until);
        call.into_iter().chain(linger).min()
    }

    /// Carries out whatever of `call_key`'s deadlines is due ([`Call::due`]), in order. Each
    /// may end the call, so each follow-up checks again that what it ends still stands.
    fn on_call_due(&mut self, now: Instant, call_key: CallKey) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        for timer in call.due(now) {
            match timer {
                CallTimer::GatewaySilent(role) => self.on_gateway_silent(now, call_key, role),
                CallTimer::Ring => self.on_ring_timeout(now, call_key),
                CallTimer::Retransmit2xx => self.retransmit_2xx(now, call_key),
                CallTimer::ConsultRing => {
                    self.fail_consult(now, call_key, ConsultFailure::NoAnswer)
                }
                CallTimer::TransferRing => self.fail_transfer(now, call_key, 408),
                CallTimer::CustomerRing => {
                    self.fail_outdial(now, call_key, "customer_no_answer", 408)
                }
                CallTimer::CourtesyOffer => self.courtesy_lapsed(now, call_key),
            }
        }
        self.schedule(call_key);
    }
}

#[cfg(test)]
mod tests {
    use super::super::lab::Lab;
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_ringing_call_is_due_its_ring_timeout_at_its_deadline_and_not_before() {
        let mut lab = Lab::new();
        lab.register("1001");
        lab.register("1002");
        lab.ring("1001", "1002");
        let call = lab.sw.calls.values().next().expect("a call");
        let deadline = call.poll_timeout().expect("a ring deadline");
        assert!(call.due(deadline - Duration::from_millis(1)).is_empty());
        assert_eq!(call.due(deadline), vec![CallTimer::Ring]);
    }
}
