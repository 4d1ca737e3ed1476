//! Blind transfer of a connected queue call: the agent's leg is released with BYE and the
//! customer goes back to music, its call ready to be offered again: to a queue (the ACD
//! routes it like a new arrival) or to a number (rung like an agent's phone). The customer's
//! leg, its dialog and its media endpoint never change, so the customer sees nothing but
//! music, then the new party.
//!
//! ```text
//!  customer          switch                 agent 1           target
//!     |<== RTP ========|<======= RTP ==========|                  |
//!     |                |-- BYE --------------->|  (desktop: transfer)
//!     |<== music ======|<-- 200 ---------------|                  |
//!     |                |-- INVITE ------------------------------->|
//!     |<== RTP ========|<=========================== 200, RTP ====|
//! ```

use super::model::*;
use super::switch::{ClientPurpose, Switch};
use crate::sip::message::Method;
use crate::sip::registrar::Transport;
use std::time::Instant;

impl Switch {
    /// Releases the agent's leg of a connected queue call and puts the customer on music, so
    /// the call can be offered again. A no-op unless the call is connected.
    pub(super) fn detach_agent(&mut self, now: Instant, interaction: &str) {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return;
        };
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if call.state == CallState::Ended || call.queue.is_none() {
            return;
        }
        let Some(leg) = call.winner_leg() else { return };
        let transport = leg.transport;
        let via = self.our_via(transport);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let customer = call.caller.endpoint.id;
        let Some(leg) = call.winner_leg_mut() else {
            return;
        };
        let mut release = None;
        if let Some(mut dialog) = leg.dialog.take() {
            let mut bye = dialog.request(Method::Bye);
            bye.push_front("Via", via);
            release = Some((dialog.key(), bye, leg.dest, transport == Transport::Tcp));
        }
        // The old leg is over for this call: a late BYE from that phone must not end the
        // customer's call, and a new winner may be chosen.
        leg.state = ForkState::Cancelled;
        leg.agent = None;
        call.winner = None;
        call.callee_pending_2xx = None;
        if let Some(q) = call.queue.as_mut() {
            q.held = false;
            q.offered_to = None;
        }
        if let Some((key, bye, dest, reliable)) = release {
            self.dialogs.remove(&key);
            self.request(now, dest, reliable, bye, ClientPurpose::FireAndForget);
        }
        self.outputs
            .push_back(Output::Media(MediaCommand::PlayMusic {
                endpoint: customer,
            }));
    }
}
