//! Attended transfer from the agent's phone (RFC 3891 inside RFC 3515): the phone holds the
//! customer, calls a colleague through the switch (an ordinary extension call), then sends
//! REFER on the customer's call with `Refer-To: <sip:colleague?Replaces=...>` naming its
//! leg of that second call. The switch is the transferee *and* the far end of the replaced
//! dialog, so it needs no new INVITE: it splices the colleague's leg (dialog and media
//! endpoint) into the customer's call, releases both of the phone's legs with BYE, and
//! reports the hand-over like a warm transfer from the desktop.
//!
//! ```text
//!  customer        switch                     agent phone            colleague
//!     |<== music ====|<---- re-INVITE sendonly --|                        |
//!     |              |<---- INVITE 1012 ---------|---- INVITE ----------->|
//!     |              |                           |<==== RTP ============>|
//!     |              |<---- REFER (Replaces) ----|                        |
//!     |              |----- 202, NOTIFY 200 ---->|                        |
//!     |              |----- BYE (both legs) ---->|                        |
//!     |<=========================== RTP ================================>|
//! ```
//! Only a call the same phone placed (its source address is the REFER's) and that is
//! answered can be replaced; the Replaces tags are matched either way round, since phones
//! disagree about whose tag is `to-tag` when the switch is the far end. Anything else gets a
//! NOTIFY with `481`, and the phone keeps both calls.

use super::model::*;
use super::switch::{ClientPurpose, Switch};
use crate::sip::dialog::Dialog;
use crate::sip::message::{Message, Method, NO_SUCH_DIALOG, Replaces};
use crate::sip::transaction::TransactionKey;
use std::time::Instant;

/// Whether `dialog` is the one `replaces` names.
pub(super) fn names(dialog: &Dialog, replaces: &Replaces) -> bool {
    let remote = dialog.remote_tag.as_deref().unwrap_or_default();
    dialog.call_id == replaces.call_id
        && ((dialog.local_tag == replaces.to_tag && remote == replaces.from_tag)
            || (dialog.local_tag == replaces.from_tag && remote == replaces.to_tag))
}

impl Switch {
    /// The answered plain call, other than `except`, with a leg to `phone` (on the side
    /// returned) whose dialog is the one `replaces` names.
    pub(super) fn find_replaced(
        &self,
        except: CallKey,
        phone: std::net::SocketAddr,
        replaces: &Replaces,
    ) -> Option<(CallKey, Side)> {
        self.calls
            .iter()
            .filter(|(k, c)| {
                **k != except
                    && c.state == CallState::Connected
                    && c.queue.is_none()
                    && c.consult.is_none()
                    && !c.transfer_ringing()
                    && c.winner_leg().is_some_and(|l| l.dialog.is_some())
            })
            .find_map(|(k, c)| {
                [Side::Caller, Side::Callee]
                    .into_iter()
                    .find(|side| {
                        c.dialog(*side)
                            .is_some_and(|d| d.peer == phone && names(d, replaces))
                    })
                    .map(|side| (*k, side))
            })
    }

    /// A REFER with Replaces on the agent's leg of the connected queue call `call_key`.
    pub(super) fn on_attended_refer(
        &mut self,
        now: Instant,
        call_key: CallKey,
        key: TransactionKey,
        request: Message,
        replaces: Replaces,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if call.consult.is_some() {
            // The desktop's consult owns the second party; one at a time.
            self.respond_simple_to(now, &key, &request, 403, "Consult In Progress");
            return;
        }
        let Some(phone) = call
            .winner_leg()
            .and_then(|l| l.dialog.as_ref())
            .map(|d| d.peer)
        else {
            return;
        };
        let Some(interaction) = call.queue.as_ref().map(|q| q.interaction.clone()) else {
            return;
        };
        // The phone placed the replaced call: its leg there is the caller's.
        let replaced = self
            .find_replaced(call_key, phone, &replaces)
            .filter(|(_, side)| *side == Side::Caller)
            .map(|(k, _)| k);
        let referred_by = request.referred_by().map(|r| r.uri);
        self.respond_simple_to(now, &key, &request, 202, "Accepted");
        let Some(replaced) = replaced else {
            tracing::info!(%interaction, call_id = %replaces.call_id, "REFER names no call of this phone");
            self.notify_refer(
                now,
                call_key,
                Side::Callee,
                &format!("SIP/2.0 481 {NO_SUCH_DIALOG}"),
            );
            return;
        };
        self.notify_refer(now, call_key, Side::Callee, "SIP/2.0 200 OK");
        let Some(target) = self.splice(now, call_key, replaced) else {
            return;
        };
        self.outputs
            .push_back(Output::Event(SwitchEvent::QueueCallReplaced {
                interaction,
                target,
                referred_by,
            }));
    }

    /// Moves the answered callee leg of `from` (dialog and media endpoint) into the queue
    /// call `into` in place of the agent's leg, releases the agent's legs of both calls and
    /// ends `from`. Returns the user the moved leg reached.
    fn splice(&mut self, now: Instant, into: CallKey, from: CallKey) -> Option<String> {
        // The colleague's leg, out of the second call (which keeps an empty winner, so its
        // CDR still says answered and ending it sends nothing that way).
        let donor = self.calls.get_mut(&from)?;
        let target = donor.callee_user.clone();
        let donor_leg = donor.winner_leg_mut()?;
        let dialog = donor_leg.dialog.take()?;
        let moved = Fork {
            invite: donor_leg.invite.clone(),
            dest: donor_leg.dest,
            transport: donor_leg.transport,
            state: ForkState::Answered,
            dialog: Some(dialog),
            ack: donor_leg.ack.clone(),
            agent: Some(Party::Number(target.clone())),
            released: None,
        };
        let colleague_endpoint = donor.callee.endpoint.clone();
        // The agent's leg of the customer's call is released.
        let agent_transport = self.calls.get(&into)?.winner_leg()?.transport;
        let via = self.our_via(agent_transport);
        let call = self.calls.get_mut(&into)?;
        let mut release = None;
        let codec = call.callee_codec();
        if let Some(leg) = call.winner_leg_mut() {
            if let Some(mut dialog) = leg.dialog.take() {
                let mut bye = dialog.request(Method::Bye);
                bye.push_front("Via", via);
                release = Some((dialog.key(), bye, leg.dest, leg.transport));
            }
            leg.release(codec);
        }
        let moved_key = moved.dialog.as_ref().map(Dialog::key);
        call.callee.forks.push(moved);
        call.callee.winner = Some(call.callee.forks.len() - 1);
        call.callee_pending_2xx = None;
        let old_agent_endpoint =
            std::mem::replace(&mut call.callee.endpoint, colleague_endpoint.clone());
        let customer = call.caller.endpoint.id;
        let mut recording = None;
        if let Some(q) = call.queue.as_mut() {
            q.held = false;
            q.offered_to.clear();
            if q.recording {
                recording = Some(crate::media::recorder::RecordingId(q.interaction.0.clone()));
            }
        }
        // The second call now owns the agent's old endpoint, closed when it ends.
        if let Some(donor) = self.calls.get_mut(&from) {
            donor.callee.endpoint = old_agent_endpoint;
        }
        self.route_endpoints(into);
        self.route_endpoints(from);
        if let Some(key) = moved_key {
            self.dialogs.insert(key, (into, Side::Callee));
        }
        if let Some((key, bye, dest, transport)) = release {
            self.dialogs.remove(&key);
            self.request(now, dest, transport, bye, ClientPurpose::FireAndForget);
        }
        // BYE to the phone's leg of the second call; its other endpoint closes.
        self.end_call(now, from, Ending::Hangup, None);
        self.outputs
            .push_back(Output::Media(MediaCommand::StopMusic {
                endpoint: customer,
            }));
        self.outputs.push_back(Output::Media(MediaCommand::Bridge {
            a: customer,
            b: colleague_endpoint.id,
        }));
        if let Some(recording) = recording {
            self.outputs
                .push_back(Output::Media(MediaCommand::RecordAgentSide {
                    recording,
                    endpoint: colleague_endpoint.id,
                }));
        }
        Some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transport::Transport;

    fn dialog(local: &str, remote: &str) -> Dialog {
        Dialog {
            call_id: "c1@phone".into(),
            local_tag: local.into(),
            remote_tag: Some(remote.into()),
            local_uri: "<sip:switch>".into(),
            remote_uri: "<sip:1011@phone>".into(),
            remote_target: "sip:1011@127.0.0.1:5070".into(),
            route_set: vec![],
            local_cseq: 1,
            remote_cseq: Some(1),
            peer: "127.0.0.1:5070".parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    #[test]
    fn replaces_matches_the_dialog_with_tags_either_way_round() {
        let d = dialog("sw", "ph");
        let r = |call_id: &str, to: &str, from: &str| Replaces {
            call_id: call_id.into(),
            to_tag: to.into(),
            from_tag: from.into(),
            early_only: false,
        };
        assert!(names(&d, &r("c1@phone", "sw", "ph")));
        assert!(names(&d, &r("c1@phone", "ph", "sw")));
        assert!(!names(&d, &r("c1@phone", "sw", "other")));
        assert!(!names(&d, &r("c2@phone", "sw", "ph")));
    }
}
