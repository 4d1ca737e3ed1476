//! INVITE client transaction, RFC 3261 §17.1.1 (Figure 5) as updated by RFC 6026 §8.4.
//!
//! ```text
//!  send INVITE ──▶ Calling ──1xx──▶ Proceeding ──1xx (pass up)
//!  Timer A: retransmit │  │  │           │  │
//!  (UDP, T1 doubling)  │  │  └───2xx─────┼──┼──▶ Accepted ──2xx: pass up
//!                      │  │              │  │       │ Timer M
//!      Timer B: timeout│  └──300-699─────┴──┼──▶ Completed ──300-699: re-send ACK
//!                      │  pass up, send ACK │       │ Timer D
//!                      ▼                    ▼       ▼
//!                             Terminated
//! ```
//!
//! The transaction ACKs non-2xx final responses itself (§17.1.1.3); the ACK for a 2xx is the
//! TU's (dialog's) job, which is why 2xx retransmissions are passed up in Accepted.

use super::lingering::{Last, Lingering};
use super::timers::{Timer, TimerTable, Timing};
use super::{Output, is_failure, is_provisional, is_success};
use crate::sip::message::{Message, Method};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// States of Figure 5 plus Accepted (RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// INVITE sent, waiting for any response.
    Calling,
    /// A provisional response arrived, waiting for a final one.
    Proceeding,
    /// A 300-699 was ACKed; re-ACKing its retransmissions until Timer D.
    Completed,
    /// A 2xx was passed up; passing its retransmissions up until Timer M (RFC 6026).
    Accepted,
    /// Over: the machine produces nothing more.
    Terminated,
}

/// Everything that can happen to the machine, handled in one `match` in `step`.
enum Input {
    Response(Message),
    Timer(Timer),
    TransportError,
}

/// An INVITE client transaction (§17.1.1, RFC 6026).
#[derive(Debug)]
pub struct InviteClientTransaction {
    state: State,
    /// Kept to build the ACK for a non-2xx final response; released, with its bytes, at the
    /// final response (the transaction then lingers 64·T1 with only what it still needs).
    request: Option<Message>,
    request_bytes: Bytes,
    /// The ACK generated for the non-2xx final response, re-sent for its retransmissions.
    ack: Option<Bytes>,
    /// The TU sent a CANCEL: Timer B bounds the wait for the final answer.
    cancelled: bool,
    reliable: bool,
    timing: Timing,
    timers: TimerTable,
    /// The current Timer A interval.
    interval: Duration,
    last_now: Instant,
    outputs: VecDeque<Output>,
}

impl InviteClientTransaction {
    /// Starts the transaction: the INVITE is queued for transmission, Timer B armed and, on an
    /// unreliable transport, Timer A (§17.1.1.2).
    pub fn new(now: Instant, request: Message, reliable: bool, timing: Timing) -> Self {
        let request_bytes = request.to_bytes();
        let mut tx = InviteClientTransaction {
            state: State::Calling,
            request: Some(request),
            request_bytes,
            ack: None,
            cancelled: false,
            reliable,
            timing,
            timers: TimerTable::new(),
            interval: timing.initial(Timer::A, reliable),
            last_now: now,
            outputs: VecDeque::new(),
        };
        tx.outputs
            .push_back(Output::Transmit(tx.request_bytes.clone()));
        if !reliable {
            tx.timers.set(Timer::A, now + tx.interval);
        }
        tx.timers
            .set(Timer::B, now + timing.initial(Timer::B, reliable));
        tx
    }

    /// The current state (named as in the RFC figure).
    pub fn state(&self) -> State {
        self.state
    }

    /// Frees the output queue's buffer once the machine only waits out its last timer
    /// (64·T1 for some): it rarely sends again, and thousands of them linger at once.
    pub fn release_buffers(&mut self) {
        if matches!(self.state, State::Completed | State::Accepted) && self.outputs.is_empty() {
            self.outputs = VecDeque::new();
        }
    }

    /// Its last form once Accepted or Completed with nothing left to send.
    pub(super) fn linger(&self) -> Option<Lingering> {
        let (last, timer) = match self.state {
            State::Accepted => (Last::InviteClientAccepted, Timer::M),
            State::Completed => (Last::InviteClientCompleted(self.ack.clone()), Timer::D),
            _ => return None,
        };
        let until = self.timers.get(timer).filter(|_| self.outputs.is_empty())?;
        Some(Lingering::new(last, until, self.last_now))
    }

    /// True once the transaction is over and may be dropped.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// The INVITE this transaction sends, until its final answer.
    pub fn request(&self) -> Option<&Message> {
        self.request.as_ref()
    }

    /// The TU sent a CANCEL for this INVITE: without a final answer 64·T1 from now the
    /// transaction gives up (RFC 3261 §9.1), as Timer B would in Calling. A phone that
    /// ignores the CANCEL (no 487) would otherwise keep it forever: Timer B does not run
    /// once a provisional arrived.
    pub fn cancel_sent(&mut self, now: Instant) {
        if self.advance(now) && matches!(self.state, State::Calling | State::Proceeding) {
            self.cancelled = true;
            self.timers
                .set(Timer::B, now + self.timing.initial(Timer::B, self.reliable));
        }
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

    /// The transport could not send the INVITE or the ACK (§17.1.4).
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
            (Calling, Input::Timer(Timer::A)) => {
                self.outputs
                    .push_back(Output::Transmit(self.request_bytes.clone()));
                // Timer A doubles without the T2 cap (§17.1.1.2).
                self.interval *= 2;
                self.timers.set(Timer::A, now + self.interval);
            }
            (Calling | Proceeding, Input::Timer(Timer::B)) => {
                self.outputs.push_back(Output::Timeout);
                self.terminate();
            }
            (Calling | Proceeding, Input::Response(r)) if is_provisional(&r) => {
                // Timer B only guards Calling (Figure 5); the TU bounds ringing with CANCEL,
                // and after a CANCEL it bounds the wait for the final answer (§9.1).
                self.timers.cancel(Timer::A);
                if !self.cancelled {
                    self.timers.cancel(Timer::B);
                }
                self.state = Proceeding;
                self.outputs.push_back(Output::Response(r));
            }
            (Calling | Proceeding, Input::Response(r)) if is_success(&r) => {
                self.timers.cancel(Timer::A);
                self.timers.cancel(Timer::B);
                self.state = Accepted;
                self.release_request();
                self.timers
                    .set(Timer::M, now + self.timing.initial(Timer::M, self.reliable));
                self.outputs.push_back(Output::Response(r));
            }
            (Calling | Proceeding, Input::Response(r)) if is_failure(&r) => {
                self.timers.cancel(Timer::A);
                self.timers.cancel(Timer::B);
                let ack = self
                    .request
                    .as_ref()
                    .map(|request| ack_for_non_2xx(request, &r).to_bytes());
                self.release_request();
                self.outputs.push_back(Output::Response(r));
                if let Some(ack) = &ack {
                    self.outputs.push_back(Output::Transmit(ack.clone()));
                }
                self.ack = ack;
                let wait = self.timing.initial(Timer::D, self.reliable);
                if wait.is_zero() {
                    self.terminate();
                } else {
                    self.state = Completed;
                    self.timers.set(Timer::D, now + wait);
                }
            }
            (Completed, Input::Response(r)) if is_failure(&r) => {
                if let Some(ack) = &self.ack {
                    self.outputs.push_back(Output::Transmit(ack.clone()));
                }
            }
            (Accepted, Input::Response(r)) if is_success(&r) => {
                self.outputs.push_back(Output::Response(r));
            }
            (Completed, Input::Timer(Timer::D)) | (Accepted, Input::Timer(Timer::M)) => {
                self.terminate();
            }
            (Calling | Proceeding | Completed, Input::TransportError) => {
                self.outputs.push_back(Output::TransportError);
                self.terminate();
            }
            // Everything else is absorbed: provisional or failure responses in Accepted, 2xx in
            // Completed, any input once Terminated, timers this machine does not arm.
            (_, Input::Response(_) | Input::Timer(_) | Input::TransportError) => {}
        }
    }

    fn release_request(&mut self) {
        self.request = None;
        self.request_bytes = Bytes::new();
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.timers.clear();
        self.outputs.push_back(Output::Terminated);
    }
}

/// The ACK for a non-2xx final response (§17.1.1.3): the INVITE's Request-URI, Call-ID, From,
/// CSeq number and top Via only, the response's To (with its tag), the INVITE's Route set,
/// Max-Forwards 70 and no body.
pub fn ack_for_non_2xx(invite: &Message, response: &Message) -> Message {
    let mut ack = Message::request(Method::Ack, invite.request_uri().unwrap_or_default());
    if let Some(via) = invite.header_list("Via").next() {
        ack.push("Via", via);
    }
    for route in invite.headers_named("Route") {
        ack.push("Route", route);
    }
    ack.push("Max-Forwards", "70");
    if let Some(from) = invite.header("From") {
        ack.push("From", from);
    }
    if let Some(to) = response.header("To") {
        ack.push("To", to);
    }
    if let Some(call_id) = invite.header("Call-ID") {
        ack.push("Call-ID", call_id);
    }
    if let Some(cseq) = invite.cseq() {
        ack.push("CSeq", format!("{} ACK", cseq.seq));
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::test_support::{ms, request, response, t0};

    fn udp() -> (Instant, InviteClientTransaction, Message) {
        let now = t0();
        let req = request(Method::Invite, "UDP", "z9hG4bKict");
        let mut tx = InviteClientTransaction::new(now, req.clone(), false, Timing::default());
        assert_eq!(drain(&mut tx), vec![Output::Transmit(req.to_bytes())]);
        (now, tx, req)
    }

    fn drain(tx: &mut InviteClientTransaction) -> Vec<Output> {
        std::iter::from_fn(|| tx.poll_output()).collect()
    }

    /// Jumps to each deadline until the machine stops asking; checks deadlines move forward.
    fn run(start: Instant, tx: &mut InviteClientTransaction) -> Vec<(u128, Output)> {
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

    #[test]
    fn timer_a_retransmits_doubling_until_timer_b_times_out() {
        let (start, mut tx, req) = udp();
        let log = run(start, &mut tx);
        let sent = Output::Transmit(req.to_bytes());
        assert_eq!(
            log,
            vec![
                (500, sent.clone()),
                (1500, sent.clone()),
                (3500, sent.clone()),
                (7500, sent.clone()),
                (15500, sent.clone()),
                (31500, sent),
                (32000, Output::Timeout),
                (32000, Output::Terminated),
            ]
        );
    }

    #[test]
    fn invite_over_tcp_is_sent_once_and_times_out_with_timer_b() {
        let start = t0();
        let req = request(Method::Invite, "TCP", "z9hG4bKict");
        let mut tx = InviteClientTransaction::new(start, req, true, Timing::default());
        let _ = drain(&mut tx);
        assert_eq!(
            run(start, &mut tx),
            vec![(32000, Output::Timeout), (32000, Output::Terminated)]
        );
    }

    #[test]
    fn provisional_response_stops_retransmissions_and_timer_b() {
        let (start, mut tx, req) = udp();
        tx.handle_response(start + ms(100), response(&req, 180));
        assert!(matches!(drain(&mut tx)[..], [Output::Response(_)]));
        assert_eq!(tx.state(), State::Proceeding);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn a_cancelled_invite_without_a_final_answer_gives_up_64_t1_after_the_cancel() {
        let (start, mut tx, req) = udp();
        tx.handle_response(start + ms(100), response(&req, 180));
        let _ = drain(&mut tx);
        tx.cancel_sent(start + ms(1_000));
        // Another provisional does not stop the wait (§9.1).
        tx.handle_response(start + ms(2_000), response(&req, 183));
        let _ = drain(&mut tx);
        assert_eq!(
            run(start, &mut tx),
            vec![(33_000, Output::Timeout), (33_000, Output::Terminated)]
        );
    }

    #[test]
    fn non_2xx_gets_exactly_one_generated_ack_with_the_rfc_headers() {
        let (start, mut tx, req) = udp();
        tx.handle_response(start + ms(100), response(&req, 180));
        let _ = drain(&mut tx);
        let busy = response(&req, 486);
        tx.handle_response(start + ms(200), busy.clone());
        let out = drain(&mut tx);
        let [Output::Response(up), Output::Transmit(ack_bytes)] = &out[..] else {
            panic!("{out:?}");
        };
        assert_eq!(up, &busy);
        let ack = Message::parse(ack_bytes).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.request_uri(), req.request_uri());
        assert_eq!(ack.call_id(), req.call_id());
        assert_eq!(ack.header("From"), req.header("From"));
        assert_eq!(ack.header("To"), Some("<sip:1001@example.com>;tag=to9"));
        assert_eq!(ack.header("CSeq"), Some("7 ACK"));
        assert_eq!(ack.header_list("Via").count(), 1);
        assert_eq!(ack.top_via(), req.top_via());
        let routes: Vec<&str> = ack.headers_named("Route").collect();
        assert_eq!(
            routes,
            vec!["<sip:proxy1.example.com;lr>", "<sip:proxy2.example.com;lr>"]
        );
        assert_eq!(ack.max_forwards(), Some(70));
        assert!(ack.body().is_empty());
        assert_eq!(tx.state(), State::Completed);

        // Retransmissions of the 486 are answered with the same ACK and not passed up.
        for t in [700, 1700] {
            tx.handle_response(start + ms(t), busy.clone());
            assert_eq!(drain(&mut tx), vec![Output::Transmit(ack_bytes.clone())]);
        }
        assert_eq!(
            run(start, &mut tx),
            vec![(32_200, Output::Terminated)],
            "Timer D is 32 s after the 486"
        );
    }

    #[test]
    fn non_2xx_over_tcp_is_acked_and_terminates_at_once() {
        let start = t0();
        let req = request(Method::Invite, "TCP", "z9hG4bKict");
        let mut tx = InviteClientTransaction::new(start, req.clone(), true, Timing::default());
        let _ = drain(&mut tx);
        tx.handle_response(start + ms(5), response(&req, 603));
        assert!(matches!(
            drain(&mut tx)[..],
            [Output::Response(_), Output::Transmit(_), Output::Terminated]
        ));
    }

    #[test]
    fn accepted_passes_2xx_retransmissions_up_until_timer_m() {
        let (start, mut tx, req) = udp();
        let ok = response(&req, 200);
        tx.handle_response(start + ms(100), ok.clone());
        assert_eq!(drain(&mut tx), vec![Output::Response(ok.clone())]);
        assert_eq!(tx.state(), State::Accepted);
        tx.handle_response(start + ms(600), ok.clone());
        assert_eq!(drain(&mut tx), vec![Output::Response(ok.clone())]);
        // A late failure or provisional response is absorbed.
        tx.handle_response(start + ms(700), response(&req, 500));
        tx.handle_response(start + ms(700), response(&req, 180));
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(
            run(start, &mut tx),
            vec![(32_100, Output::Terminated)],
            "Timer M is 64*T1 after the 200"
        );
    }

    #[test]
    fn time_going_backwards_is_ignored() {
        let (start, mut tx, req) = udp();
        tx.handle_timeout(start + ms(500));
        assert_eq!(drain(&mut tx).len(), 1);
        tx.handle_response(start + ms(499), response(&req, 486));
        tx.handle_timeout(start);
        assert_eq!(drain(&mut tx), vec![]);
        assert_eq!(tx.state(), State::Calling);
        assert_eq!(tx.poll_timeout(), Some(start + ms(1500)));
    }

    #[test]
    fn transport_error_informs_the_tu_and_terminates() {
        let (start, mut tx, _) = udp();
        tx.handle_transport_error(start + ms(1));
        assert_eq!(
            drain(&mut tx),
            vec![Output::TransportError, Output::Terminated]
        );
    }
}
