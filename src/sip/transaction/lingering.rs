//! A transaction in its last state, where it only absorbs retransmissions until one timer
//! ends it: what each of the four machines becomes once it has nothing left to decide.
//!
//! ```text
//!  INVITE server   Accepted  (RFC 6026)  INVITE absorbed, ACK passed up,
//!                                        TU's 2xx sent                        ── Timer L ─┐
//!  INVITE server   Confirmed             everything absorbed                  ── Timer I ─┤
//!  INVITE client   Accepted  (RFC 6026)  2xx passed up                        ── Timer M ─┤
//!  INVITE client   Completed             non-2xx re-ACKed                     ── Timer D ─┼▶ Terminated
//!  non-INVITE srv  Completed             request answered with the final      ── Timer J ─┤
//!  non-INVITE cli  Completed             responses absorbed                   ── Timer K ─┘
//! ```
//!
//! Each call leaves four or five transactions in these states for up to 64·T1; the full
//! machines (their timing, timer table, interval and output queue) were two to four times the
//! size of this, and at 1,000 calls per second they were a sixth of the switch's memory. The
//! layer swaps a machine for its [`Lingering`] form as soon as it reaches one of these
//! states with nothing left to output; each row behaves as the machine's own `step` does in
//! that state (the machines' tests cover the states themselves, the layer's tests the swap).

use super::{Output, TransactionError, is_failure, is_success};
use crate::sip::message::{Message, Method};
use bytes::Bytes;
use std::time::Instant;

/// The last state of a transaction, with the one thing it may still send.
#[derive(Debug)]
pub(super) enum Last {
    InviteServerAccepted,
    InviteServerConfirmed,
    InviteClientAccepted,
    /// The ACK for the non-2xx final response, when one was built.
    InviteClientCompleted(Option<Bytes>),
    /// The final response, re-sent for each retransmitted request.
    NonInviteServerCompleted(Option<Bytes>),
    NonInviteClientCompleted,
}

/// Whether the transaction still lives, and whether its end was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Live,
    /// Over; `Output::Terminated` not yet polled.
    Ending,
    Over,
}

/// A transaction waiting out its last timer (see the module doc).
#[derive(Debug)]
pub(super) struct Lingering {
    last: Last,
    until: Instant,
    last_now: Instant,
    phase: Phase,
    /// At most one output waits at a time; boxed, since it is rare and a message is large.
    pending: Option<Box<Output>>,
}

impl Lingering {
    pub(super) fn new(last: Last, until: Instant, last_now: Instant) -> Lingering {
        Lingering {
            last,
            until,
            last_now,
            phase: Phase::Live,
            pending: None,
        }
    }

    fn state_name(&self) -> &'static str {
        match self.last {
            Last::InviteServerAccepted | Last::InviteClientAccepted => "Accepted",
            Last::InviteServerConfirmed => "Confirmed",
            Last::InviteClientCompleted(_)
            | Last::NonInviteServerCompleted(_)
            | Last::NonInviteClientCompleted => "Completed",
        }
    }

    fn advance(&mut self, now: Instant) -> bool {
        if now < self.last_now || self.phase != Phase::Live {
            return false;
        }
        self.last_now = now;
        true
    }

    fn emit(&mut self, output: Output) {
        self.pending = Some(Box::new(output));
    }

    /// A request (server) or response (client) matched to the transaction.
    pub(super) fn handle_message(&mut self, now: Instant, msg: Message) {
        if !self.advance(now) {
            return;
        }
        match &self.last {
            Last::InviteServerAccepted if msg.method() == Some(&Method::Ack) => {
                self.emit(Output::Request(msg));
            }
            Last::InviteClientAccepted if is_success(&msg) => self.emit(Output::Response(msg)),
            Last::InviteClientCompleted(Some(ack)) if is_failure(&msg) => {
                let ack = ack.clone();
                self.emit(Output::Transmit(ack));
            }
            Last::NonInviteServerCompleted(Some(response)) if msg.is_request() => {
                let response = response.clone();
                self.emit(Output::Transmit(response));
            }
            _ => {}
        }
    }

    /// The TU's response: only the 2xx retransmissions of an INVITE server in Accepted.
    pub(super) fn send_response(
        &mut self,
        now: Instant,
        response: Message,
    ) -> Result<(), TransactionError> {
        self.last_now = now.max(self.last_now);
        match self.last {
            Last::InviteServerAccepted if self.phase == Phase::Live && is_success(&response) => {
                self.emit(Output::Transmit(response.to_bytes()));
                Ok(())
            }
            _ => Err(TransactionError::ResponseNotAllowed {
                status: response.status().unwrap_or(0),
                state: if self.phase == Phase::Live {
                    self.state_name()
                } else {
                    "Terminated"
                },
            }),
        }
    }

    /// The last timer, once due.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.advance(now) && now >= self.until {
            self.phase = Phase::Ending;
        }
    }

    /// The transport failed (§17.1.4, §17.2.4; RFC 6026 Figure 7 for Accepted).
    pub(super) fn handle_transport_error(&mut self, now: Instant) {
        if !self.advance(now) {
            return;
        }
        match self.last {
            Last::InviteServerAccepted => self.emit(Output::TransportError),
            Last::InviteClientCompleted(_) | Last::NonInviteServerCompleted(_) => {
                self.emit(Output::TransportError);
                self.phase = Phase::Ending;
            }
            _ => {}
        }
    }

    #[must_use]
    pub(super) fn poll_output(&mut self) -> Option<Output> {
        if let Some(output) = self.pending.take() {
            return Some(*output);
        }
        if self.phase == Phase::Ending {
            self.phase = Phase::Over;
            return Some(Output::Terminated);
        }
        None
    }

    #[must_use]
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        (self.phase == Phase::Live).then_some(self.until)
    }
}
