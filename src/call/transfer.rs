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

use super::machine::LocalSip;
use super::model::*;
use super::switch::{ClientPurpose, Switch};
use crate::sip::message::{Message, Method};
use crate::sip::transaction::TransactionKey;
use std::time::Instant;

impl Switch {
    /// Releases the agent's leg of a connected queue call and puts the customer on music, so
    /// the call can be offered again. A no-op unless the call is connected.
    pub(super) fn detach_agent(&mut self, now: Instant, interaction: &InteractionId) {
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
            release = Some((dialog.key(), bye, leg.dest, transport));
        }
        // The old leg is over for this call: a late BYE from that phone must not end the
        // customer's call, and a new winner may be chosen.
        leg.release(codec);
        leg.agent = None;
        call.callee.winner = None;
        call.callee_pending_2xx = None;
        if let Some(q) = call.queue.as_mut() {
            q.held = false;
            q.offered_to.clear();
        }
        if let Some((key, bye, dest, transport)) = release {
            self.dialogs.remove(&key);
            self.request(now, dest, transport, bye, ClientPurpose::FireAndForget);
        }
        self.outputs
            .push_back(Output::Media(MediaCommand::PlayMusic {
                endpoint: customer,
                music: None,
            }));
    }
}

impl Switch {
    /// A REFER on a call's leg. A plain (extension to extension) call may be transferred by
    /// either phone ([`super::bridged_transfer`]); of a queue call only the agent's leg of a
    /// connected call may (405 otherwise).
    pub(super) fn on_refer(
        &mut self,
        now: Instant,
        call_key: CallKey,
        side: Side,
        key: TransactionKey,
        request: Message,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let bridged = call.queue.is_none();
        let interaction = call
            .queue
            .as_ref()
            .filter(|_| side == Side::Callee && call.callee.winner.is_some())
            .filter(|_| call.state != CallState::Ended)
            .map(|q| q.interaction.clone());
        if !bridged && interaction.is_none() {
            self.respond_simple_to(now, &key, &request, 405, "Method Not Allowed");
            return;
        }
        let Some(refer_to) = request.refer_to() else {
            self.respond_simple_to(now, &key, &request, 400, "Missing Refer-To");
            return;
        };
        if refer_to.uri.to_ascii_lowercase().contains("replaces") {
            match crate::sip::message::Replaces::from_refer_to_uri(&refer_to.uri) {
                Some(replaces) if bridged => {
                    self.on_bridged_attended_refer(now, call_key, side, key, request, replaces)
                }
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
        let Some(interaction) = interaction else {
            self.on_bridged_refer(now, call_key, side, key, request, target);
            return;
        };
        let referred_by = request.referred_by().map(|r| r.uri);
        self.respond_simple_to(now, &key, &request, 202, "Accepted");
        self.notify_refer(now, call_key, Side::Callee, "SIP/2.0 200 OK");
        self.outputs
            .push_back(Output::Event(SwitchEvent::QueueCallReferred {
                interaction,
                target,
                referred_by,
            }));
    }

    /// Reports an accepted REFER's progress to `side`'s phone (see [`Call::notify_refer`]).
    pub(super) fn notify_refer(
        &mut self,
        now: Instant,
        call_key: CallKey,
        side: Side,
        status_line: &str,
    ) {
        self.step_call_sip(now, call_key, |call, sip| {
            call.notify_refer(sip, side, status_line)
        });
    }
}

impl Call {
    /// A NOTIFY of an accepted REFER (`status_line` as its sipfrag) to `side`'s phone; a final
    /// status ends the REFER's implicit subscription.
    pub(super) fn notify_refer(&mut self, sip: &LocalSip, side: Side, status_line: &str) {
        let Some((mut notify, dest, transport)) = self.dialog_request(sip, side, Method::Notify)
        else {
            return;
        };
        notify.push("Event", "refer");
        let provisional = status_line.starts_with("SIP/2.0 1");
        notify.push(
            "Subscription-State",
            if provisional {
                "active;expires=60"
            } else {
                "terminated;reason=noresource"
            },
        );
        notify.set_body(
            "message/sipfrag;version=2.0",
            bytes::Bytes::from(format!("{status_line}\r\n")),
        );
        self.send_request(dest, transport, notify, ClientPurpose::FireAndForget);
    }
}
