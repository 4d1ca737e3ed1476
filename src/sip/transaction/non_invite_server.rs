//! Non-INVITE server transaction, RFC 3261 §17.2.2 (Figure 8).
//!
//! ```text
//!  request ──▶ Trying ──1xx from TU──▶ Proceeding ── request: re-send last 1xx
//!  (absorb      │                          │
//!  requests)    └──200-699 from TU──┐      │ 200-699 from TU
//!                                   ▼      ▼
//!                  Completed ── request: re-send final ── Timer J ──▶ Terminated
//! ```

use super::lingering::{Last, Lingering};
use super::timers::{Timer, TimerTable, Timing};
use super::{Output, TransactionError, is_provisional};
use crate::sip::message::Message;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Instant;

/// States of Figure 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the TU; retransmitted requests are absorbed silently.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; it answers retransmitted requests until Timer J.
    Completed,
    /// Over: the machine produces nothing more.
    Terminated,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Trying => "Trying",
            State::Proceeding => "Proceeding",
            State::Completed => "Completed",
            State::Terminated => "Terminated",
        }
    }
}

/// Everything that can happen to the machine, handled in one `match` in `step`.
enum Input {
    /// A retransmission of the request.
    Request,
    TuResponse(Message),
    Timer(Timer),
    TransportError,
}

/// A non-INVITE server transaction (§17.2.2).
#[derive(Debug)]
pub struct NonInviteServerTransaction {
    state: State,
    reliable: bool,
    timing: Timing,
    timers: TimerTable,
    last_response: Option<Bytes>,
    last_now: Instant,
    outputs: VecDeque<Output>,
}

impl NonInviteServerTransaction {
    /// Creates the transaction for a request, which the caller passes up to the TU itself.
    pub fn new(now: Instant, reliable: bool, timing: Timing) -> Self {
        NonInviteServerTransaction {
            state: State::Trying,
            reliable,
            timing,
            timers: TimerTable::new(),
            last_response: None,
            last_now: now,
            outputs: VecDeque::new(),
        }
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
            .get(Timer::J)
            .filter(|_| self.outputs.is_empty())?;
        let last = Last::NonInviteServerCompleted(self.last_response.clone());
        Some(Lingering::new(last, until, self.last_now))
    }

    /// True once the transaction is over and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// A retransmission of the request that created the transaction.
    pub fn handle_request(&mut self, now: Instant, _request: Message) {
        if self.advance(now) {
            let _ = self.step(now, Input::Request);
        }
    }

    /// The TU's response: provisional ones until a final one, nothing after it.
    pub fn send_response(
        &mut self,
        now: Instant,
        response: Message,
    ) -> Result<(), TransactionError> {
        // A TU command is never dropped: a stale `now` counts as the latest one.
        let now = now.max(self.last_now);
        self.last_now = now;
        self.step(now, Input::TuResponse(response))
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.advance(now) {
            return;
        }
        for timer in self.timers.take_expired(now) {
            let _ = self.step(now, Input::Timer(timer));
        }
    }

    /// The transport could not send a response (§17.2.4).
    pub fn handle_transport_error(&mut self, now: Instant) {
        if self.advance(now) {
            let _ = self.step(now, Input::TransportError);
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

    fn advance(&mut self, now: Instant) -> bool {
        if now < self.last_now {
            return false;
        }
        self.last_now = now;
        true
    }

    fn step(&mut self, now: Instant, input: Input) -> Result<(), TransactionError> {
        use State::*;
        match (self.state, input) {
            (Trying, Input::Request) => {}
            (Proceeding | Completed, Input::Request) => {
                if let Some(r) = &self.last_response {
                    self.outputs.push_back(Output::Transmit(r.clone()));
                }
            }
            (Trying | Proceeding, Input::TuResponse(r)) if is_provisional(&r) => {
                let bytes = r.to_bytes();
                self.outputs.push_back(Output::Transmit(bytes.clone()));
                self.last_response = Some(bytes);
                self.state = Proceeding;
            }
            (Trying | Proceeding, Input::TuResponse(r)) if r.status().is_some() => {
                let bytes = r.to_bytes();
                self.outputs.push_back(Output::Transmit(bytes.clone()));
                self.last_response = Some(bytes);
                let wait = self.timing.initial(Timer::J, self.reliable);
                if wait.is_zero() {
                    self.terminate();
                } else {
                    self.state = Completed;
                    self.timers.set(Timer::J, now + wait);
                }
            }
            (Completed, Input::Timer(Timer::J)) => self.terminate(),
            (Proceeding | Completed, Input::TransportError) => {
                self.outputs.push_back(Output::TransportError);
                self.terminate();
            }
            (state, Input::TuResponse(r)) => {
                return Err(TransactionError::ResponseNotAllowed {
                    status: r.status().unwrap_or(0),
                    state: state.name(),
                });
            }
            // Terminated ignores everything; Trying has sent nothing that could fail.
            (_, Input::Request | Input::Timer(_) | Input::TransportError) => {}
        }
        Ok(())
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

    fn udp() -> (Instant, NonInviteServerTransaction, Message) {
        let now = t0();
        let req = request(Method::Register, "UDP", "z9hG4bKnist");
        (
            now,
            NonInviteServerTransaction::new(now, false, Timing::default()),
            req,
        )
    }

    fn drain(tx: &mut NonInviteServerTransaction) -> Vec<Output> {
        std::iter::from_fn(|| tx.poll_output()).collect()
    }

    #[test]
    fn retransmitted_requests_are_absorbed_while_trying() {
        let (start, mut tx, req) = udp();
        tx.handle_request(start + ms(500), req.clone());
        tx.handle_request(start + ms(1500), req);
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn retransmitted_requests_get_the_last_provisional_then_the_final_response() {
        let (start, mut tx, req) = udp();
        let trying = response(&req, 100);
        tx.send_response(start, trying.clone()).unwrap();
        assert_eq!(drain(&mut tx), vec![Output::Transmit(trying.to_bytes())]);
        tx.handle_request(start + ms(500), req.clone());
        assert_eq!(drain(&mut tx), vec![Output::Transmit(trying.to_bytes())]);
        let ok = response(&req, 200);
        tx.send_response(start + ms(600), ok.clone()).unwrap();
        assert_eq!(drain(&mut tx), vec![Output::Transmit(ok.to_bytes())]);
        assert_eq!(tx.state(), State::Completed);
        tx.handle_request(start + ms(1500), req);
        assert_eq!(drain(&mut tx), vec![Output::Transmit(ok.to_bytes())]);
    }

    #[test]
    fn timer_j_ends_the_completed_state_after_64_t1_over_udp() {
        let (start, mut tx, req) = udp();
        tx.send_response(start + ms(100), response(&req, 200))
            .unwrap();
        let _ = drain(&mut tx);
        let deadline = tx.poll_timeout().unwrap();
        assert_eq!(deadline, start + ms(32_100));
        tx.handle_timeout(deadline);
        assert_eq!(drain(&mut tx), vec![Output::Terminated]);
        assert!(tx.poll_timeout().is_none_or(|next| next > deadline));
        assert!(tx.is_terminated());
    }

    #[test]
    fn final_response_over_tcp_terminates_at_once() {
        let start = t0();
        let req = request(Method::Bye, "TCP", "z9hG4bKnist");
        let mut tx = NonInviteServerTransaction::new(start, true, Timing::default());
        tx.send_response(start, response(&req, 200)).unwrap();
        assert!(matches!(
            drain(&mut tx)[..],
            [Output::Transmit(_), Output::Terminated]
        ));
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn a_second_final_response_is_refused() {
        let (start, mut tx, req) = udp();
        tx.send_response(start, response(&req, 200)).unwrap();
        assert!(matches!(
            tx.send_response(start, response(&req, 500)),
            Err(TransactionError::ResponseNotAllowed { status: 500, .. })
        ));
    }

    #[test]
    fn time_going_backwards_is_ignored() {
        let (start, mut tx, req) = udp();
        tx.send_response(start + ms(100), response(&req, 200))
            .unwrap();
        let _ = drain(&mut tx);
        tx.handle_request(start + ms(50), req);
        tx.handle_timeout(start + ms(40));
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(tx.state(), State::Completed);
        assert_eq!(tx.poll_timeout(), Some(start + ms(32_100)));
    }
}
