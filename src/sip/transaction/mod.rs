//! The SIP transaction layer (RFC 3261 §17, with the RFC 6026 Accepted states), sans-IO.
//!
//! Four state machines, one per file, each driven the same way: `handle_*(now, ..)` mutates,
//! then `poll_output()` is drained to `None` and the caller sleeps until `poll_timeout()`.
//! They never read the clock, touch a socket or draw randomness; [`Output`]s are data.
//!
//! - [`InviteClientTransaction`]: Figure 5, plus Accepted and Timer M (RFC 6026 §8.4).
//! - [`NonInviteClientTransaction`]: Figure 6.
//! - [`InviteServerTransaction`]: Figure 7, plus Accepted and Timer L (RFC 6026 §8.7).
//! - [`NonInviteServerTransaction`]: Figure 8.
//! - `lingering`: any of the four in its last state, which only absorbs retransmissions
//!   until one timer ends it, in a form a fraction of the size (the layer swaps it in).
//! - [`TransactionLayer`]: owns every live transaction, matches messages to them
//!   (§17.1.3, §17.2.3), adds destinations to transmissions and merges their timers.
//!
//! Time: machines ignore network inputs and timeouts whose `now` is earlier than the latest
//! `now` they have seen (as if the packet were lost); TU commands (`send_response`) are
//! never dropped, a stale `now` is treated as the latest one.

mod invite_client;
mod invite_server;
mod key_index;
mod layer;
mod lingering;
mod non_invite_client;
mod non_invite_server;
pub mod timers;

pub use invite_client::{InviteClientTransaction, State as InviteClientState, ack_for_non_2xx};
pub use invite_server::{InviteServerTransaction, State as InviteServerState, TryingPolicy};
pub use layer::{
    Incoming, LayerConfig, LayerOutput, MatchKey, TransactionEvent, TransactionKey,
    TransactionLayer,
};
pub use non_invite_client::{NonInviteClientTransaction, State as NonInviteClientState};
pub use non_invite_server::{NonInviteServerTransaction, State as NonInviteServerState};
pub use timers::{Timer, TimerTable, Timing};

use crate::sip::message::Message;
use bytes::Bytes;

/// The RFC 3261 magic cookie that starts every branch we generate (§8.1.1.7).
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// A new Via branch: the magic cookie followed by 96 random bits in hex, so it is unique
/// across space and time (§8.1.1.7). The RNG is passed in so traces are reproducible.
pub fn new_branch(rng: &mut impl rand::RngCore) -> String {
    let mut bytes = [0u8; 12];
    rng.fill_bytes(&mut bytes);
    let mut branch = String::with_capacity(BRANCH_COOKIE.len() + 24);
    branch.push_str(BRANCH_COOKIE);
    branch.push_str(&hex::encode(bytes));
    branch
}

/// What a transaction state machine asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes to the transaction's peer (the layer adds the destination).
    Transmit(Bytes),
    /// Pass this request up to the TU: the ACK for a 2xx reaching an INVITE server
    /// transaction in Accepted (RFC 6026 §8.7).
    Request(Message),
    /// Pass this response up to the TU.
    Response(Message),
    /// Timer B or F (no final response: the TU treats it as a 408) or Timer H (the ACK for
    /// our non-2xx never came).
    Timeout,
    /// The transport failed to send for this transaction (§17.1.4, §17.2.4).
    TransportError,
    /// The transaction is over; it will produce nothing more and may be dropped.
    Terminated,
}

/// Transaction-layer errors, by blame: [`TransactionError::Malformed`] is the peer's (or
/// the TU's, for requests it builds); the others are the TU misusing the layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// The message lacks what transaction matching needs. Requests should have passed
    /// `sip::validate::validate_request` first; a malformed response is dropped.
    #[error("message cannot be matched to a transaction: {0}")]
    Malformed(&'static str),
    /// ACKs are not sent inside a client transaction (§17.1.1.3): the INVITE client
    /// transaction ACKs non-2xx itself and the TU sends the ACK for a 2xx statelessly.
    #[error("ACK is not sent in a client transaction")]
    AckOutsideTransaction,
    /// A live transaction already has this key (a branch was reused).
    #[error("a transaction with this key already exists")]
    Duplicate,
    /// No live server transaction has this key (it terminated, or it is a client one).
    #[error("no live server transaction with this key")]
    UnknownTransaction,
    /// The response is not allowed in the transaction's state (e.g. after a final response).
    #[error("a {status} response is not allowed in state {state}")]
    ResponseNotAllowed { status: u16, state: &'static str },
}

fn is_provisional(msg: &Message) -> bool {
    msg.status().is_some_and(|c| (100..200).contains(&c))
}

fn is_success(msg: &Message) -> bool {
    msg.status().is_some_and(|c| (200..300).contains(&c))
}

fn is_failure(msg: &Message) -> bool {
    msg.status().is_some_and(|c| (300..700).contains(&c))
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared fixtures for the transaction tests: virtual time and small messages.
    use crate::sip::message::{Message, Method};
    use std::time::{Duration, Instant};

    /// The origin of virtual time; only differences from it matter.
    pub fn t0() -> Instant {
        crate::runtime::clock::now()
    }

    pub fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A request as a UA would build it, with the given top Via transport and branch.
    pub fn request(method: Method, transport: &str, branch: &str) -> Message {
        let method_name = method.as_str().to_owned();
        Message::request(method, "sip:1001@example.com")
            .with(
                "Via",
                format!("SIP/2.0/{transport} 192.0.2.1:5060;branch={branch}"),
            )
            .with("Route", "<sip:proxy1.example.com;lr>")
            .with("Route", "<sip:proxy2.example.com;lr>")
            .with("Max-Forwards", "69")
            .with("From", "\"Alice\" <sip:1000@example.com>;tag=from1")
            .with("To", "<sip:1001@example.com>")
            .with("Call-ID", "call-1@192.0.2.1")
            .with("CSeq", format!("7 {method_name}"))
    }

    /// A response to `request` with a To tag (except for 100 Trying).
    pub fn response(request: &Message, code: u16) -> Message {
        let mut resp = Message::response_to(request, code, "Reason");
        if code != 100 {
            resp.set("To", "<sip:1001@example.com>;tag=to9");
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn branches_carry_the_magic_cookie_and_are_reproducible_from_a_seed() {
        let mut a = SmallRng::seed_from_u64(7);
        let mut b = SmallRng::seed_from_u64(7);
        let first = new_branch(&mut a);
        assert!(first.starts_with("z9hG4bK"));
        assert_eq!(first.len(), 7 + 24);
        assert_eq!(first, new_branch(&mut b));
        assert_ne!(first, new_branch(&mut a));
    }
}
