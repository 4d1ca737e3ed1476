//! INVITE server transaction, RFC 3261 §17.2.1 (Figure 7) as updated by RFC 6026 §8.5-8.7.
//!
//! ```text
//!  INVITE ──▶ Proceeding ── 1xx from TU: send; INVITE: re-send last 1xx
//!  (100 Trying per TryingPolicy) │  │
//!            300-699 from TU ────┘  └──── 2xx from TU ──▶ Accepted ── 2xx from TU: send
//!                 ▼                                         │ INVITE: absorb; ACK: to TU
//!   Completed ── Timer G: re-send (UDP, T1 doubling to T2)  │ Timer L
//!     │  │       INVITE: re-send final                      ▼
//!     │  └─ Timer H: timeout ─────────────────────────▶ Terminated
//!     └─ ACK ─▶ Confirmed ── Timer I ──────────────────────▲
//! ```
//!
//! The transaction never retransmits a 2xx on its own (RFC 6026 §8.5): the TU (the dialog)
//! does, by calling [`InviteServerTransaction::send_response`] again while Accepted.

use super::lingering::{Last, Lingering};
use super::timers::{Timer, TimerTable, Timing};
use super::{Output, TransactionError, is_failure, is_provisional, is_success};
use crate::sip::message::{Message, Method};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// States of Figure 7 plus Accepted (RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the TU's final response; provisional ones may go out meanwhile.
    Proceeding,
    /// A 300-699 was sent; retransmitting it (UDP) until the ACK comes or Timer H fires.
    Completed,
    /// The ACK came; absorbing ACK retransmissions until Timer I.
    Confirmed,
    /// A 2xx was sent; absorbing INVITE retransmissions until Timer L (RFC 6026).
    Accepted,
    /// Over: the machine produces nothing more.
    Terminated,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Proceeding => "Proceeding",
            State::Completed => "Completed",
            State::Confirmed => "Confirmed",
            State::Accepted => "Accepted",
            State::Terminated => "Terminated",
        }
    }
}

/// When the transaction sends 100 Trying on its own (§17.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryingPolicy {
    /// The standard rule: send 100 Trying only if the TU has not sent a provisional or final
    /// response within this delay (RFC 3261 says 200 ms; see [`TryingPolicy::default`]).
    After(Duration),
    /// Send 100 Trying as soon as the transaction is created. A B2BUA whose TU answers after
    /// a database lookup or a routing decision uses this to stop the caller's Timer A early.
    Immediately,
}

impl Default for TryingPolicy {
    /// `After(200 ms)`, the rule of §17.2.1.
    fn default() -> Self {
        TryingPolicy::After(Duration::from_millis(200))
    }
}

/// Everything that can happen to the machine, handled in one `match` in `step`.
enum Input {
    /// A retransmitted INVITE or an ACK matched to this transaction.
    Request(Message),
    /// A response from the TU.
    TuResponse(Message),
    Timer(Timer),
    TransportError,
}

/// An INVITE server transaction (§17.2.1, RFC 6026).
#[derive(Debug)]
pub struct InviteServerTransaction {
    state: State,
    reliable: bool,
    timing: Timing,
    timers: TimerTable,
    /// The automatic 100 Trying, until it is sent or made pointless by the TU.
    trying: Option<Box<Message>>,
    last_provisional: Option<Bytes>,
    final_response: Option<Bytes>,
    /// The current Timer G interval.
    interval: Duration,
    last_now: Instant,
    outputs: VecDeque<Output>,
}

impl InviteServerTransaction {
    /// Creates the transaction for `invite`, which the caller passes up to the TU itself.
    pub fn new(
        now: Instant,
        invite: &Message,
        reliable: bool,
        timing: Timing,
        trying: TryingPolicy,
    ) -> Self {
        let mut hundred = Message::response_to(invite, 100, "Trying");
        // A 100 Trying echoes Timestamp (§8.2.6.1).
        if let Some(ts) = invite.header("Timestamp") {
            hundred.push("Timestamp", ts);
        }
        let mut tx = InviteServerTransaction {
            state: State::Proceeding,
            reliable,
            timing,
            timers: TimerTable::new(),
            trying: None,
            last_provisional: None,
            final_response: None,
            interval: timing.initial(Timer::G, reliable),
            last_now: now,
            outputs: VecDeque::new(),
        };
        match trying {
            TryingPolicy::Immediately => {
                let bytes = hundred.to_bytes();
                tx.outputs.push_back(Output::Transmit(bytes.clone()));
                tx.last_provisional = Some(bytes);
            }
            TryingPolicy::After(delay) => {
                tx.trying = Some(Box::new(hundred));
                tx.timers.set(Timer::Trying, now + delay);
            }
        }
        tx
    }

    /// The current state (named as in the RFC figure).
    pub fn state(&self) -> State {
        self.state
    }

    /// Frees the output queue's buffer once the machine only waits out its last timer
    /// (64·T1 for some): it rarely sends again, and thousands of them linger at once.
    pub fn release_buffers(&mut self) {
        if matches!(
            self.state,
            State::Completed | State::Confirmed | State::Accepted
        ) && self.outputs.is_empty()
        {
            self.outputs = VecDeque::new();
        }
    }

    /// Its last form once Accepted or Confirmed with nothing left to send.
    pub(super) fn linger(&self) -> Option<Lingering> {
        let (last, timer) = match self.state {
            State::Accepted => (Last::InviteServerAccepted, Timer::L),
            State::Confirmed => (Last::InviteServerConfirmed, Timer::I),
            _ => return None,
        };
        let until = self.timers.get(timer).filter(|_| self.outputs.is_empty())?;
        Some(Lingering::new(last, until, self.last_now))
    }

    /// True once the transaction is over and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// A retransmitted INVITE, or an ACK, matched to this transaction.
    pub fn handle_request(&mut self, now: Instant, request: Message) {
        if self.advance(now) {
            let _ = self.step(now, Input::Request(request));
        }
    }

    /// The TU's response. Provisional and 2xx responses are allowed in Proceeding, further
    /// 2xx (the TU's retransmissions) in Accepted; anything else is refused.
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
            (Proceeding, Input::Timer(Timer::Trying)) => {
                if let Some(hundred) = self.trying.take() {
                    let bytes = hundred.to_bytes();
                    self.outputs.push_back(Output::Transmit(bytes.clone()));
                    self.last_provisional = Some(bytes);
                }
            }
            (Proceeding, Input::Request(r)) if r.method() == Some(&Method::Invite) => {
                if let Some(p) = &self.last_provisional {
                    self.outputs.push_back(Output::Transmit(p.clone()));
                }
            }
            (Proceeding, Input::TuResponse(r)) if is_provisional(&r) => {
                self.stop_trying();
                let bytes = r.to_bytes();
                self.outputs.push_back(Output::Transmit(bytes.clone()));
                self.last_provisional = Some(bytes);
            }
            (Proceeding, Input::TuResponse(r)) if is_success(&r) => {
                self.stop_trying();
                self.outputs.push_back(Output::Transmit(r.to_bytes()));
                self.state = Accepted;
                // Accepted absorbs INVITE retransmissions without answering them (the TU
                // retransmits its 2xx), so the provisional is never sent again.
                self.last_provisional = None;
                self.timers
                    .set(Timer::L, now + self.timing.initial(Timer::L, self.reliable));
            }
            (Proceeding, Input::TuResponse(r)) if is_failure(&r) => {
                self.stop_trying();
                let bytes = r.to_bytes();
                self.outputs.push_back(Output::Transmit(bytes.clone()));
                self.final_response = Some(bytes);
                // Only Proceeding repeats a provisional.
                self.last_provisional = None;
                self.state = Completed;
                if !self.reliable {
                    self.timers.set(Timer::G, now + self.interval);
                }
                self.timers
                    .set(Timer::H, now + self.timing.initial(Timer::H, self.reliable));
            }
            (Accepted, Input::TuResponse(r)) if is_success(&r) => {
                self.outputs.push_back(Output::Transmit(r.to_bytes()));
            }
            (Accepted, Input::Request(r)) if r.method() == Some(&Method::Ack) => {
                self.outputs.push_back(Output::Request(r));
            }
            (Completed, Input::Request(r)) if r.method() == Some(&Method::Invite) => {
                self.retransmit_final();
            }
            (Completed, Input::Request(r)) if r.method() == Some(&Method::Ack) => {
                self.timers.cancel(Timer::G);
                self.timers.cancel(Timer::H);
                let wait = self.timing.initial(Timer::I, self.reliable);
                if wait.is_zero() {
                    self.terminate();
                } else {
                    // Confirmed absorbs retransmissions without answering: the final
                    // response is not needed again (a 407 for every challenged call would
                    // otherwise linger T4 more).
                    self.final_response = None;
                    self.state = Confirmed;
                    self.timers.set(Timer::I, now + wait);
                }
            }
            (Completed, Input::Timer(Timer::G)) => {
                self.retransmit_final();
                self.interval = (self.interval * 2).min(self.timing.t2);
                self.timers.set(Timer::G, now + self.interval);
            }
            (Completed, Input::Timer(Timer::H)) => {
                // The ACK never came (§17.2.1).
                self.outputs.push_back(Output::Timeout);
                self.terminate();
            }
            (Confirmed, Input::Timer(Timer::I)) | (Accepted, Input::Timer(Timer::L)) => {
                self.terminate();
            }
            (Proceeding | Completed, Input::TransportError) => {
                self.outputs.push_back(Output::TransportError);
                self.terminate();
            }
            // RFC 6026 Figure 7: the TU is told, the transaction stays to absorb INVITEs.
            (Accepted, Input::TransportError) => {
                self.outputs.push_back(Output::TransportError);
            }
            (state, Input::TuResponse(r)) => {
                return Err(TransactionError::ResponseNotAllowed {
                    status: r.status().unwrap_or(0),
                    state: state.name(),
                });
            }
            // Absorbed: INVITE retransmissions in Accepted, ACKs in Proceeding and Confirmed,
            // any other request, everything once Terminated, timers this machine never arms.
            (_, Input::Request(_) | Input::Timer(_) | Input::TransportError) => {}
        }
        Ok(())
    }

    fn stop_trying(&mut self) {
        self.trying = None;
        self.timers.cancel(Timer::Trying);
    }

    fn retransmit_final(&mut self) {
        if let Some(f) = &self.final_response {
            self.outputs.push_back(Output::Transmit(f.clone()));
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timers.clear();
        self.trying = None;
        self.outputs.push_back(Output::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::test_support::{ms, request, response, t0};

    fn udp(policy: TryingPolicy) -> (Instant, InviteServerTransaction, Message) {
        let now = t0();
        let req = request(Method::Invite, "UDP", "z9hG4bKist");
        let tx = InviteServerTransaction::new(now, &req, false, Timing::default(), policy);
        (now, tx, req)
    }

    fn drain(tx: &mut InviteServerTransaction) -> Vec<Output> {
        std::iter::from_fn(|| tx.poll_output()).collect()
    }

    fn ack(req: &Message) -> Message {
        super::super::ack_for_non_2xx(req, &response(req, 486))
    }

    fn run(start: Instant, tx: &mut InviteServerTransaction) -> Vec<(u128, Output)> {
        let mut log = Vec::new();
        while let Some(deadline) = tx.poll_timeout() {
            tx.handle_timeout(deadline);
            for o in drain(tx) {
                log.push(((deadline - start).as_millis(), o));
            }
            assert!(tx.poll_timeout().is_none_or(|next| next > deadline));
        }
        log
    }

    fn is_100(o: &Output) -> bool {
        matches!(o, Output::Transmit(b) if Message::parse(b).unwrap().status() == Some(100))
    }

    #[test]
    fn hundred_trying_goes_out_after_200_ms_when_the_tu_is_silent() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(tx.poll_timeout(), Some(start + ms(200)));
        tx.handle_timeout(start + ms(200));
        let out = drain(&mut tx);
        assert!(out.len() == 1 && is_100(&out[0]), "{out:?}");
        assert_eq!(tx.poll_timeout(), None);
        // A retransmitted INVITE gets the 100 again.
        tx.handle_request(start + ms(500), req);
        assert_eq!(drain(&mut tx), out);
    }

    #[test]
    fn no_hundred_trying_when_the_tu_answers_within_200_ms() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        tx.send_response(start + ms(150), response(&req, 180))
            .unwrap();
        assert_eq!(drain(&mut tx).len(), 1);
        tx.handle_timeout(start + ms(300));
        assert_eq!(drain(&mut tx), vec![]);
    }

    #[test]
    fn immediate_policy_sends_hundred_trying_on_creation() {
        let (_, mut tx, _) = udp(TryingPolicy::Immediately);
        let out = drain(&mut tx);
        assert!(out.len() == 1 && is_100(&out[0]), "{out:?}");
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn retransmitted_invite_in_proceeding_gets_the_last_provisional() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        tx.handle_request(start + ms(100), req.clone());
        assert_eq!(drain(&mut tx), vec![], "nothing to resend yet");
        let ringing = response(&req, 180);
        tx.send_response(start + ms(120), ringing.clone()).unwrap();
        let _ = drain(&mut tx);
        tx.handle_request(start + ms(500), req);
        assert_eq!(drain(&mut tx), vec![Output::Transmit(ringing.to_bytes())]);
    }

    #[test]
    fn timer_g_retransmits_the_failure_until_timer_h_times_out() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        let busy = response(&req, 486);
        tx.send_response(start, busy.clone()).unwrap();
        let sent = Output::Transmit(busy.to_bytes());
        assert_eq!(drain(&mut tx), vec![sent.clone()]);
        let log = run(start, &mut tx);
        let sends: Vec<u128> = log
            .iter()
            .filter(|(_, o)| *o == sent)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            sends,
            vec![
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert_eq!(
            &log[log.len() - 2..],
            &[(32_000, Output::Timeout), (32_000, Output::Terminated)]
        );
    }

    #[test]
    fn ack_stops_retransmissions_and_confirmed_absorbs_until_timer_i() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        let busy = response(&req, 486);
        tx.send_response(start, busy.clone()).unwrap();
        let _ = drain(&mut tx);
        tx.handle_timeout(start + ms(500));
        assert_eq!(drain(&mut tx).len(), 1);
        // A retransmitted INVITE gets the final response again.
        tx.handle_request(start + ms(600), req.clone());
        assert_eq!(drain(&mut tx), vec![Output::Transmit(busy.to_bytes())]);
        tx.handle_request(start + ms(700), ack(&req));
        assert_eq!(tx.state(), State::Confirmed);
        assert_eq!(drain(&mut tx), vec![]);
        // ACK and INVITE retransmissions are absorbed while Confirmed.
        tx.handle_request(start + ms(800), ack(&req));
        tx.handle_request(start + ms(900), req);
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(run(start, &mut tx), vec![(5700, Output::Terminated)]);
    }

    #[test]
    fn over_tcp_the_failure_is_sent_once_and_ack_terminates_at_once() {
        let start = t0();
        let req = request(Method::Invite, "TCP", "z9hG4bKist");
        let mut tx = InviteServerTransaction::new(
            start,
            &req,
            true,
            Timing::default(),
            TryingPolicy::Immediately,
        );
        let _ = drain(&mut tx);
        tx.send_response(start, response(&req, 486)).unwrap();
        assert_eq!(drain(&mut tx).len(), 1);
        assert_eq!(tx.poll_timeout(), Some(start + ms(32_000)), "only Timer H");
        tx.handle_request(start + ms(10), ack(&req));
        assert_eq!(drain(&mut tx), vec![Output::Terminated]);
    }

    #[test]
    fn accepted_absorbs_invites_passes_acks_up_and_sends_the_tus_2xx_retransmissions() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        let ok = response(&req, 200);
        tx.send_response(start + ms(50), ok.clone()).unwrap();
        assert_eq!(drain(&mut tx), vec![Output::Transmit(ok.to_bytes())]);
        assert_eq!(tx.state(), State::Accepted);
        tx.handle_request(start + ms(500), req.clone());
        assert_eq!(drain(&mut tx), vec![], "INVITE retransmission absorbed");
        tx.send_response(start + ms(550), ok.clone()).unwrap();
        assert_eq!(drain(&mut tx), vec![Output::Transmit(ok.to_bytes())]);
        let ack2xx = Message::request(Method::Ack, "sip:1001@example.com");
        tx.handle_request(start + ms(600), ack2xx.clone());
        assert_eq!(drain(&mut tx), vec![Output::Request(ack2xx)]);
        assert!(
            tx.send_response(start + ms(600), response(&req, 486))
                .is_err()
        );
        assert_eq!(run(start, &mut tx), vec![(32_050, Output::Terminated)]);
    }

    #[test]
    fn responses_after_the_final_one_are_refused() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        tx.send_response(start, response(&req, 404)).unwrap();
        assert_eq!(
            tx.send_response(start, response(&req, 200)),
            Err(TransactionError::ResponseNotAllowed {
                status: 200,
                state: "Completed"
            })
        );
    }

    #[test]
    fn time_going_backwards_is_ignored() {
        let (start, mut tx, req) = udp(TryingPolicy::default());
        tx.send_response(start + ms(10), response(&req, 486))
            .unwrap();
        let _ = drain(&mut tx);
        tx.handle_timeout(start + ms(510));
        assert_eq!(drain(&mut tx).len(), 1);
        tx.handle_request(start + ms(400), ack(&req));
        tx.handle_timeout(start + ms(300));
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(tx.state(), State::Completed);
        assert_eq!(tx.poll_timeout(), Some(start + ms(1510)));
    }
}
