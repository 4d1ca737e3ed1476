//! A call's timers are its own: each deadline lives in the state it bounds (the ring timeout
//! of a call that rings, a 2xx waiting for its ACK, a consult or a transfer that rings), and
//! [`Call::poll_timeout`] is the earliest of them. The switch, like an endpoint routing to
//! its connections, keeps one entry per call at that earliest deadline and, when it falls
//! due, lets the call see what is due: nothing is cancelled when a deadline goes away (an
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
        let ringing = self.state == CallState::Routing && self.callee.winner.is_none();
        [
            self.ring_deadline.filter(|_| ringing),
            self.caller.pending_2xx.as_ref().map(|p| p.next),
            self.callee_pending_2xx.as_ref().map(|p| p.next),
            self.consult
                .as_ref()
                .filter(|c| c.mode == ConsultMode::Ringing)
                .map(|c| c.ring_deadline),
            self.transfer
                .as_ref()
                .filter(|t| t.ringing)
                .map(|t| t.ring_deadline),
            self.silent_gateway_deadline(),
            self.outdial
                .as_ref()
                .filter(|o| o.ringing)
                .and_then(|o| o.ring_deadline),
            self.queue
                .as_ref()
                .and_then(|q| q.courtesy.as_ref())
                .map(|o| o.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl Call {
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

    /// Whatever of `call_key`'s deadlines is due; each may end the call.
    fn on_call_due(&mut self, now: Instant, call_key: CallKey) {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        for role in call.trunk_legs() {
            let silent = self
                .calls
                .get(&call_key)
                .and_then(|c| c.outbound(role)?.trunk.as_ref()?.poll_timeout());
            if due(silent) {
                self.on_gateway_silent(now, call_key, role);
            }
        }
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if due(call.ring_deadline) {
            self.on_ring_timeout(now, call_key);
        }
        self.retransmit_2xx(now, call_key);
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let consult = call
            .consult
            .as_ref()
            .filter(|c| c.mode == ConsultMode::Ringing)
            .map(|c| c.ring_deadline);
        if due(consult) {
            self.fail_consult(now, call_key, ConsultFailure::NoAnswer);
        }
        let transfer = self
            .calls
            .get(&call_key)
            .and_then(|c| c.transfer.as_ref())
            .filter(|t| t.ringing)
            .map(|t| t.ring_deadline);
        if due(transfer) {
            self.fail_transfer(now, call_key, 408);
        }
        let customer = self
            .calls
            .get(&call_key)
            .and_then(|c| c.outdial.as_ref())
            .filter(|o| o.ringing)
            .and_then(|o| o.ring_deadline);
        if due(customer) {
            self.fail_outdial(now, call_key, "customer_no_answer", 408);
        }
        self.courtesy_lapsed(now, call_key);
        self.schedule(call_key);
    }
}
