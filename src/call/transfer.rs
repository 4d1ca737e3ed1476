//! Blind transfer of a connected queue call: the agent's leg is released with BYE and the
//! customer goes back to music, its call ready to be offered again: to a queue (the ACD
//! routes it like a new arrival) or to a number (rung like an agent's phone). The customer's
//! leg, its dialog and its media endpoint never change, so the customer sees nothing but
//! music, then the new party.
//!
//! The agent's phone may ask too, with REFER (RFC 3515) on its leg: the switch accepts it
//! (202), reports with one NOTIFY carrying `SIP/2.0 200 OK` as sipfrag (the switch, not the
//! phone, now owns the customer's fate: it returns them to the queue if the target fails),
//! and transfers exactly as the desktop's transfer to a number does. `Referred-By` is kept
//! on the event. A REFER with `Replaces` (attended transfer) is in [`super::attended`].
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
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use crate::sip::transaction::TransactionKey;
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
        let codec = call.callee_codec();
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
        leg.release(codec);
        leg.agent = None;
        call.winner = None;
        call.callee_pending_2xx = None;
        if let Some(q) = call.queue.as_mut() {
            q.held = false;
            q.offered_to.clear();
        }
        if let Some((key, bye, dest, reliable)) = release {
            self.dialogs.remove(&key);
            self.request(now, dest, reliable, bye, ClientPurpose::FireAndForget);
        }
        self.outputs
            .push_back(Output::Media(MediaCommand::PlayMusic {
                endpoint: customer,
                music: None,
            }));
    }
}

impl Switch {
    /// A REFER on a call's leg. Only the agent's leg of a connected queue call may transfer;
    /// anything else is refused like before (405).
    pub(super) fn on_refer(
        &mut self,
        now: Instant,
        call_key: CallKey,
        side: Side,
        key: TransactionKey,
        request: Message,
    ) {
        let interaction = self
            .calls
            .get(&call_key)
            .filter(|c| side == Side::Callee && c.winner.is_some() && c.state != CallState::Ended)
            .and_then(|c| c.queue.as_ref())
            .map(|q| q.interaction.clone());
        let Some(interaction) = interaction else {
            self.respond_simple_to(now, &key, &request, 405, "Method Not Allowed");
            return;
        };
        let Some(refer_to) = request.refer_to() else {
            self.respond_simple_to(now, &key, &request, 400, "Missing Refer-To");
            return;
        };
        if refer_to.uri.to_ascii_lowercase().contains("replaces") {
            match crate::sip::message::Replaces::from_refer_to_uri(&refer_to.uri) {
                Some(replaces) => self.on_attended_refer(now, call_key, key, request, replaces),
                None => self.respond_simple_to(now, &key, &request, 400, "Bad Replaces"),
            }
            return;
        }
        let Some(target) = crate::sip::uri::uri_user(&refer_to.uri).filter(|u| !u.is_empty())
        else {
            self.respond_simple_to(now, &key, &request, 400, "Bad Refer-To");
            return;
        };
        let referred_by = request.referred_by().map(|r| r.uri);
        self.respond_simple_to(now, &key, &request, 202, "Accepted");
        self.notify_refer_outcome(now, call_key, "SIP/2.0 200 OK");
        self.outputs
            .push_back(Output::Event(SwitchEvent::QueueCallReferred {
                interaction,
                target,
                referred_by,
            }));
    }

    /// The one NOTIFY of an accepted REFER (`status_line` as its sipfrag), ending its
    /// implicit subscription.
    pub(super) fn notify_refer_outcome(
        &mut self,
        now: Instant,
        call_key: CallKey,
        status_line: &str,
    ) {
        let Some(transport) = self
            .calls
            .get(&call_key)
            .and_then(|c| c.winner_leg())
            .map(|l| l.transport)
        else {
            return;
        };
        let via = self.our_via(transport);
        let contact = self.our_contact(transport);
        let Some(leg) = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.winner_leg_mut())
        else {
            return;
        };
        let dest = leg.dest;
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let mut notify = dialog.request(Method::Notify);
        notify.push_front("Via", via);
        notify.push("Contact", contact);
        notify.push("Event", "refer");
        notify.push("Subscription-State", "terminated;reason=noresource");
        notify.set_body(
            "message/sipfrag;version=2.0",
            bytes::Bytes::from(format!("{status_line}\r\n")),
        );
        self.request(
            now,
            dest,
            transport == Transport::Tcp,
            notify,
            ClientPurpose::FireAndForget,
        );
    }
}
