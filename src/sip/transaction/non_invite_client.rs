//! Non-INVITE client transaction, RFC 3261 §17.1.2 (Figure 6).
//!
//! ```text
//!            send request ──▶ Trying ──1xx──▶ Proceeding
//!  Timer E: retransmit        │   │              │  Timer E: retransmit (every T2)
//!  (T1 doubling up to T2)     │   └─200-699──┐   │
//!                  Timer F or │              ▼   ▼ 200-699
//!                transport err│            Completed ──Timer K──▶ Terminated
//!                             └────────────────────────────────▶ Terminated
//! ```

use super::lingering::{Last, Lingering};
use super::timers::{Timer, TimerTable, Timing};
use super::{Output, is_provisional};
use crate::sip::message::Message;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// States of Figure 6, named as in the RFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Request sent, waiting for any response.
    Trying,
    /// A provisional response arrived, waiting for a final one.
    Proceeding,
    /// Final response passed up; absorbing its retransmissions until Timer K.
    Completed,
    /// Over: the machine produces nothing more.
    Terminated,
}

/// Everything that can happen to the machine; [`NonInviteClientTransaction::step`] handles
/// each in one `match`.
enum Input {
    Response(Message),
    Timer(Timer),
    TransportError,
}

/// A non-INVITE client transaction (§17.1.2).
#[derive(Debug)]
pub struct NonInviteClientTransaction {
    state: State,
    request: Bytes,
    reliable: bool,
    timing: Timing,
    timers: TimerTable,
    /// The current Timer E interval.
    interval: Duration,
    last_now: Instant,
    outputs: VecDeque<Output>,
}

impl NonInviteClientTransaction {
    /// Starts the transaction: the request is queued for transmission, Timer F armed and, on
    /// an unreliable transport, Timer E (§17.1.2.2).
    pub fn new(now: Instant, request: &Message, reliable: bool, timing: Timing) -> Self {
        let mut tx = NonInviteClientTransaction {
            state: State::Trying,
            request: request.to_bytes(),
            reliable,
            timing,
            timers: TimerTable::new(),
            interval: timing.initial(Timer::E, reliable),
            last_now: now,
            outputs: VecDeque::new(),
        };
        tx.outputs.push_back(Output::Transmit(tx.request.clone()));
        if !reliable {
            tx.timers.set(Timer::E, now + tx.interval);
        }
        tx.timers
            .set(Timer::F, now + timing.initial(Timer::F, reliable));
        tx
    }

    /// The current state (named as in the RFC figure).
    pub fn state(&self) -> State {
        self.state
    }

    /// Frees the output queue's buffer once the machine only waits out its last timer
    /// (64·T1 for some): it rarely sends again, and thousands of them linger at once.
    pub fn release_buffers(&mut self) {
        if matches!(self.state, State::Completed) && self.outputs.is_empty() {
            self.outputs = VecDeque::new();
        }
    }

    /// Its last form once Completed with nothing left to send.
    pub(super) fn linger(&self) -> Option<Lingering> {
        if self.state != State::Completed {
            return None;
        }
        let until = self
            .timers
            .get(Timer::K)
            .filter(|_| self.outputs.is_empty())?;
        Some(Lingering::new(
            Last::NonInviteClientCompleted,
            until,
            self.last_now,
        ))
    }

    /// True once the transaction is over and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// A response whose top Via branch and CSeq method matched this transaction.
    pub fn handle_response(&mut self, now: Instant, response: Message) {
        if self.advance(now) {
            self.step(now, Input::Response(response));
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.advance(now) {
            return;
        }
        for timer in self.timers.take_expired(now) {
            self.step(now, Input::Timer(timer));
        }
    }

    /// The transport could not send the request (§17.1.4).
    pub fn handle_transport_error(&mut self, now: Instant) {
        if self.advance(now) {
            self.step(now, Input::TransportError);
        }
    }

    /// The next output; drain to `None` after every `handle_*`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When `handle_timeout` is next due, `None` when no timer is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// False (and the input is to be ignored) when time went backwards.
    fn advance(&mut self, now: Instant) -> bool {
        if now < self.last_now {
            return false;
        }
        self.last_now = now;
        true
    }

    fn step(&mut self, now: Instant, input: Input) {
        use State::*;
        match (self.state, input) {
            (Trying | Proceeding, Input::Response(r)) if is_provisional(&r) => {
                self.state = Proceeding;
                self.outputs.push_back(Output::Response(r));
            }
            (Trying | Proceeding, Input::Response(r)) if r.status().is_some() => {
                self.outputs.push_back(Output::Response(r));
                self.timers.cancel(Timer::E);
                self.timers.cancel(Timer::F);
                // Nothing is sent again from here on.
                self.request = Bytes::new();
                let wait = self.timing.initial(Timer::K, self.reliable);
                if wait.is_zero() {
                    self.terminate();
                } else {
                    self.state = Completed;
                    self.timers.set(Timer::K, now + wait);
                }
            }
            (Trying, Input::Timer(Timer::E)) => {
                self.outputs
                    .push_back(Output::Transmit(self.request.clone()));
                self.interval = (self.interval * 2).min(self.timing.t2);
                self.timers.set(Timer::E, now + self.interval);
            }
            (Proceeding, Input::Timer(Timer::E)) => {
                self.outputs
                    .push_back(Output::Transmit(self.request.clone()));
                self.interval = self.timing.t2;
                self.timers.set(Timer::E, now + self.interval);
            }
            (Trying | Proceeding, Input::Timer(Timer::F)) => {
                // The TU treats this as a 408 (§8.1.3.1).
                self.outputs.push_back(Output::Timeout);
                self.terminate();
            }
            (Trying | Proceeding, Input::TransportError) => {
                self.outputs.push_back(Output::TransportError);
                self.terminate();
            }
            (Completed, Input::Timer(Timer::K)) => self.terminate(),
            // Completed absorbs response retransmissions; Terminated ignores everything; a
            // timer of another machine cannot be armed here.
            (_, Input::Response(_) | Input::Timer(_) | Input::TransportError) => {}
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timers.clear();
        self.outputs.push_back(Output::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Method;
    use crate::sip::transaction::test_support::{ms, request, response, t0};

    fn udp() -> (Instant, NonInviteClientTransaction, Message) {
        let now = t0();
        let req = request(Method::Options, "UDP", "z9hG4bKnict");
        let tx = NonInviteClientTransaction::new(now, &req, false, Timing::default());
        (now, tx, req)
    }

    fn drain(tx: &mut NonInviteClientTransaction) -> Vec<Output> {
        std::iter::from_fn(|| tx.poll_output()).collect()
    }

    /// Runs the machine in virtual time, jumping to each deadline, until it stops asking.
    fn run(start: Instant, tx: &mut NonInviteClientTransaction) -> Vec<(Duration, Output)> {
        let mut log: Vec<(Duration, Output)> =
            drain(tx).into_iter().map(|o| (Duration::ZERO, o)).collect();
        while let Some(deadline) = tx.poll_timeout() {
            tx.handle_timeout(deadline);
            for o in drain(tx) {
                log.push((deadline - start, o));
            }
            assert!(tx.poll_timeout().is_none_or(|next| next > deadline));
        }
        log
    }

    #[test]
    fn udp_request_is_sent_eleven_times_then_timer_f_fires() {
        let (start, mut tx, req) = udp();
        let log = run(start, &mut tx);
        let sends: Vec<u64> = log
            .iter()
            .filter(|(_, o)| matches!(o, Output::Transmit(b) if *b == req.to_bytes()))
            .map(|(at, _)| at.as_millis() as u64)
            .collect();
        assert_eq!(
            sends,
            vec![
                0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        let rest: Vec<&(Duration, Output)> = log
            .iter()
            .filter(|(_, o)| !matches!(o, Output::Transmit(_)))
            .collect();
        assert_eq!(
            rest,
            vec![
                &(ms(32_000), Output::Timeout),
                &(ms(32_000), Output::Terminated)
            ]
        );
        assert!(tx.is_terminated());
    }

    #[test]
    fn tcp_request_is_sent_once_then_timer_f_fires() {
        let start = t0();
        let req = request(Method::Options, "TCP", "z9hG4bKnict");
        let mut tx = NonInviteClientTransaction::new(start, &req, true, Timing::default());
        let log = run(start, &mut tx);
        assert_eq!(
            log,
            vec![
                (Duration::ZERO, Output::Transmit(req.to_bytes())),
                (ms(32_000), Output::Timeout),
                (ms(32_000), Output::Terminated),
            ]
        );
    }

    #[test]
    fn provisional_response_slows_retransmissions_to_t2() {
        let (start, mut tx, req) = udp();
        let _ = drain(&mut tx);
        tx.handle_response(start + ms(100), response(&req, 100));
        assert_eq!(tx.state(), State::Proceeding);
        assert!(matches!(drain(&mut tx)[..], [Output::Response(_)]));
        // Timer E still fires at 0.5 s, then every T2 = 4 s.
        let mut sends = Vec::new();
        while let Some(deadline) = tx.poll_timeout().filter(|d| *d < start + ms(13_000)) {
            tx.handle_timeout(deadline);
            if drain(&mut tx)
                .iter()
                .any(|o| matches!(o, Output::Transmit(_)))
            {
                sends.push((deadline - start).as_millis());
            }
        }
        assert_eq!(sends, vec![500, 4500, 8500, 12500]);
    }

    #[test]
    fn final_response_is_passed_up_once_and_retransmissions_absorbed_until_timer_k() {
        let (start, mut tx, req) = udp();
        let _ = drain(&mut tx);
        let ok = response(&req, 200);
        tx.handle_response(start + ms(10), ok.clone());
        assert_eq!(drain(&mut tx), vec![Output::Response(ok.clone())]);
        assert_eq!(tx.state(), State::Completed);
        tx.handle_response(start + ms(600), ok);
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(tx.poll_timeout(), Some(start + ms(5010)));
        tx.handle_timeout(start + ms(5010));
        assert_eq!(drain(&mut tx), vec![Output::Terminated]);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn final_response_over_tcp_terminates_at_once() {
        let start = t0();
        let req = request(Method::Bye, "TCP", "z9hG4bKnict");
        let mut tx = NonInviteClientTransaction::new(start, &req, true, Timing::default());
        let _ = drain(&mut tx);
        tx.handle_response(start + ms(10), response(&req, 481));
        assert!(matches!(
            drain(&mut tx)[..],
            [Output::Response(_), Output::Terminated]
        ));
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn time_going_backwards_is_ignored() {
        let (start, mut tx, req) = udp();
        let _ = drain(&mut tx);
        tx.handle_timeout(start + ms(500));
        assert_eq!(drain(&mut tx).len(), 1);
        tx.handle_response(start + ms(400), response(&req, 200));
        tx.handle_timeout(start + ms(100));
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(tx.state(), State::Trying);
    }

    #[test]
    fn transport_error_informs_the_tu_and_terminates() {
        let (start, mut tx, _) = udp();
        let _ = drain(&mut tx);
        tx.handle_transport_error(start);
        assert_eq!(
            drain(&mut tx),
            vec![Output::TransportError, Output::Terminated]
        );
        assert_eq!(tx.poll_timeout(), None);
    }
}
