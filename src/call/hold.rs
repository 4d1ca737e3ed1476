//! Hold and resume of a connected queue call. The switch anchors both legs, so hold is a
//! change of bridge, not of signalling: the customer's endpoint plays music on hold (which
//! unbridges it) and the agent's endpoint hears nothing; resume stops the music and bridges
//! the two again. The phones need not know.
//!
//! The agent's phone may ask too: a re-INVITE from the agent's leg with `a=sendonly` or
//! `a=inactive` (RFC 3264 §8.4) is answered by the switch itself (`a=recvonly`/`a=inactive`)
//! instead of being relayed to the customer, and puts the customer on hold exactly as the
//! desktop's hold button does; a later re-INVITE with `a=sendrecv` resumes. Both ways leave
//! the same state and raise the same event. The change itself is the call's own
//! ([`super::model::Call::set_held`], in `machine.rs`); this module answers the phone.
//!
//! ```text
//!  customer           switch                     agent phone
//!     |<== RTP ===========|<========= RTP ===========|
//!     |                   |<-- re-INVITE sendonly ---|
//!     |                   |--- 200 recvonly -------->|
//!     |<== music ========|    (agent hears nothing)  |
//!     |                   |<-- re-INVITE sendrecv ---|
//!     |<== RTP ===========|=========== RTP =========>|
//! ```

use super::machine::LocalSip;
use super::model::*;
use crate::media::sdp::{Direction, SessionDescription};
use crate::sip::message::Message;
use crate::sip::transaction::TransactionKey;
use std::time::Instant;

impl Call {
    /// A re-INVITE from the agent's phone on a connected queue call, in server transaction
    /// `key`: answered here, as hold or resume, its media taken with `latch`. `false` when
    /// it is not such a request (the call relays it as usual).
    pub(super) fn answer_agent_reinvite(
        &mut self,
        now: Instant,
        sip: &LocalSip,
        key: &TransactionKey,
        request: &Message,
        latch: LatchPolicy,
    ) -> bool {
        if self.queue.is_none() {
            return false;
        }
        let Ok(offer) = SessionDescription::parse(request.body()) else {
            return false;
        };
        let Some((_, audio)) = offer.audio() else {
            return false;
        };
        let hold = matches!(audio.direction, Direction::SendOnly | Direction::Inactive);
        let Some((answer, _)) = self.callee.endpoint.local.to_answer(&offer) else {
            return false;
        };
        let Some(transport) = self.winner_leg().map(|l| l.transport) else {
            return false;
        };
        self.configure(Side::Callee, latch, request);
        let ok = sip.ok_with_answer(request, transport, answer.to_string());
        self.send_relayed_2xx(now, sip, Side::Callee, key.clone(), ok);
        self.set_held(hold, true);
        true
    }
}
