//! Transfer of a plain bridged call (extension to extension) by either phone, as a PBX
//! transfers any call it bridges: blind with REFER (RFC 3515), attended with REFER carrying
//! Replaces (RFC 3891), following RFC 5589's flows. Queue calls have their own versions
//! ([`super::transfer`], [`super::attended`]), where the contact center owns the customer.
//!
//! Blind: the switch answers 202, reports `100 Trying` by NOTIFY, and rings every contact of
//! the target with its own outbound leg and media endpoint (the forking INVITE plain calls
//! use, with `Referred-By`), while the referrer and the transferee stay bridged. When the
//! target answers the switch NOTIFYs `200 OK`, releases the referrer's leg with BYE, bridges
//! the transferee with the target and, if the referrer had held it first, re-offers the
//! transferee `sendrecv`.
//!
//! ```text
//!  transferee        switch                     referrer          target
//!     |<== RTP =========|<========= RTP ===========|                 |
//!     |                 |<-------- REFER ----------|                 |
//!     |                 |--- 202, NOTIFY 100 ----->|                 |
//!     |                 |-- INVITE (Referred-By) ------------------->|
//!     |                 |<------------------------------------ 200 --|
//!     |                 |--- NOTIFY 200, BYE ----->|                 |
//!     |<- re-INVITE ----|                                            |
//!     |<== RTP ======================================== RTP ======>|
//! ```
//! **When the target fails** (busy, declined, not registered, rang out) the referrer gets a
//! NOTIFY with the target's final status and the two parties simply stay connected: the
//! referrer's phone takes its call back, as RFC 5589 §6.1 describes and as a phone that
//! transfers by itself behaves. Asterisk and FreeSWITCH instead release the referrer at once
//! and hang up the transferee if the target fails; the switch does that only when the
//! referrer's phone hangs up by itself while the target rings: the transferee then hears
//! music, is connected if the target answers and hung up if it fails (there is nobody to go
//! back to).
//!
//! Attended: the phone has this call and a second, answered one through the switch, and
//! sends REFER with Replaces on this one naming its leg of the second. The switch is the far
//! end of the replaced dialog, so no INVITE is needed: the second call's other party's leg
//! (dialog and media endpoint) moves into this call in place of the phone's leg, both of the
//! phone's legs get BYE, and the two remaining parties are bridged.
//!
//! Records: the conversation before the transfer is written when the transfer completes
//! (ended by the referrer's side); the transferee's conversation with the target is written
//! when the call ends, the transferee as caller and the target as callee; the second call of
//! an attended transfer is written when its leg moves.

use super::invite::failure_reason;
use super::machine::LocalSip;
use super::model::*;
use super::switch::{ClientPurpose, Switch};
use crate::media::sdp::Direction;
use crate::sip::dialog::Dialog;
use crate::sip::message::{Message, Method, Replaces};
use crate::sip::registrar::Transport;
use crate::sip::transaction::TransactionKey;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Instant;

/// An answered leg on its way into a call: to the transfer target, or out of the call an
/// attended transfer replaces.
struct MovedLeg {
    dialog: Dialog,
    endpoint: Endpoint,
    invite: Message,
    dest: SocketAddr,
    transport: Transport,
    ack: Option<Bytes>,
    user: String,
}

impl Switch {
    /// A REFER without Replaces from `referrer`'s phone on a plain call.
    pub(super) fn on_bridged_refer(
        &mut self,
        now: Instant,
        call_key: CallKey,
        referrer: Side,
        key: TransactionKey,
        request: Message,
        target: String,
    ) {
        if !self.transferable(call_key) {
            self.respond_simple_to(now, &key, &request, 491, "Request Pending");
            return;
        }
        self.respond_simple_to(now, &key, &request, 202, "Accepted");
        let known = self.secret_of(&target).is_some();
        let targets = if known {
            self.targets_of(now, &target)
        } else {
            Vec::new()
        };
        // A number outside goes out through a trunk, within the referrer's calling class.
        let referrer_user = self
            .calls
            .get(&call_key)
            .map(|c| c.user(referrer).to_owned())
            .unwrap_or_default();
        let route = match known {
            true => Ok(None),
            false => self.plan_outbound(&referrer_user, &target),
        };
        let route = match route {
            Ok(route) => route,
            Err(why) => {
                self.notify_failure(now, call_key, referrer, why.status().0);
                return;
            }
        };
        if targets.is_empty() && route.is_none() {
            let code = if known { 480 } else { 404 };
            self.notify_failure(now, call_key, referrer, code);
            return;
        }
        let Some(endpoint) = self.open_endpoint() else {
            self.notify_failure(now, call_key, referrer, 503);
            return;
        };
        self.notify_refer(now, call_key, referrer, "SIP/2.0 100 Trying");
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        // The target is called by the party it will talk to.
        let identity = Message::request(Method::Invite, "sip:transfer").with(
            "From",
            format!("<sip:{}@{}>", call.user(referrer.other()), self.cfg.domain),
        );
        let id = self.next_id();
        let referred_by = request
            .header("Referred-By")
            .map(|by| ("Referred-By", by.to_owned()));
        let ring_deadline = now + self.cfg.ring_timeout;
        let started_unix_ms = self.unix_ms(now);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        call.transfer = Some(TransferLeg {
            id,
            referrer,
            target: target.clone(),
            leg: OutboundLeg::new(endpoint),
            started_unix_ms,
            ring_deadline,
            ringing: true,
            referrer_left: false,
        });
        let role = LegRole::Transfer(id);
        let rung = match route {
            Some(route) => usize::from(self.ring_route(now, call_key, role, route)),
            None => self.ring(
                now,
                call_key,
                role,
                &identity,
                &target,
                targets,
                referred_by,
                None,
            ),
        };
        if rung == 0 {
            self.drop_transfer(now, call_key);
            self.notify_failure(now, call_key, referrer, 503);
            return;
        }
        self.schedule(call_key);
    }

    /// A plain call that may be transferred now: answered (the caller's ACK may still be on
    /// its way when the callee's phone refers), and no transfer of it rings.
    fn transferable(&self, call_key: CallKey) -> bool {
        self.calls.get(&call_key).is_some_and(|c| {
            matches!(c.state, CallState::Answered | CallState::Connected)
                && c.callee.winner.is_some()
                && !c.transfer_ringing()
        })
    }

    fn notify_failure(&mut self, now: Instant, call_key: CallKey, side: Side, code: u16) {
        let status = format!("SIP/2.0 {code} {}", failure_reason(code));
        self.notify_refer(now, call_key, side, &status);
    }

    /// The target did not answer: the referrer hears why and keeps its call, or, when it
    /// already hung up, the transferee is hung up too.
    pub(super) fn fail_transfer(&mut self, now: Instant, call_key: CallKey, code: u16) {
        let Some(transfer) = self.drop_transfer(now, call_key) else {
            return;
        };
        if transfer.referrer_left {
            let ending = Ending::Transferred {
                left: transfer.referrer,
            };
            self.end_call(now, call_key, ending, None);
        } else {
            self.notify_failure(now, call_key, transfer.referrer, code);
        }
    }

    /// Stops a ringing transfer ([`Call::drop_transfer`]) and closes its endpoint; returns
    /// who referred and whether that phone already left. `None` when nothing rang.
    pub(super) fn drop_transfer(&mut self, now: Instant, call_key: CallKey) -> Option<Referrer> {
        let (referrer, endpoint) = self.calls.get_mut(&call_key)?.drop_transfer()?;
        self.drain_call(now, call_key);
        self.close_endpoint(&endpoint);
        Some(referrer)
    }

    /// The target's phone answered (fork `index` of the ringing transfer won): the call
    /// takes its leg out of the transfer and tells the referrer ([`Call::transfer_answered`]);
    /// the switch puts it in the referrer's place (CDR, dialog routing, endpoints).
    pub(super) fn on_transfer_answered(&mut self, now: Instant, call_key: CallKey, index: usize) {
        let sip = self.local_sip();
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let Some((leg, referrer, started)) = call.transfer_answered(&sip, index) else {
            return;
        };
        self.drain_call(now, call_key);
        if let Some(old) = self.hand_over(now, call_key, referrer, leg, started) {
            self.close_endpoint(&old);
        }
    }

    /// The referrer's phone hung up (BYE on `side`) while its blind transfer rings: the
    /// transferee waits on music for the target. `false` when no such transfer rings.
    pub(super) fn referrer_leaves(&mut self, _now: Instant, call_key: CallKey, side: Side) -> bool {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return false;
        };
        let Some(transfer) = call
            .transfer
            .as_mut()
            .filter(|t| t.ringing && t.referrer == side && !t.referrer_left)
        else {
            return false;
        };
        transfer.referrer_left = true;
        if let Some(key) = call.dialog(side).map(Dialog::key) {
            self.dialogs.remove(&key);
        }
        let transferee = call.endpoint(side.other()).id;
        self.outputs
            .push_back(Output::Media(MediaCommand::PlayMusic {
                endpoint: transferee,
                music: None,
            }));
        true
    }

    /// Puts `leg` on `side` of `call_key` in place of the phone there
    /// ([`Call::take_over`]): the conversation so far is recorded as final, the call goes on
    /// under a new record, and the new leg's dialog routes to the call in place of the old
    /// one's. Returns the endpoint the old leg used, for the caller to close or hand on.
    fn hand_over(
        &mut self,
        now: Instant,
        call_key: CallKey,
        side: Side,
        leg: MovedLeg,
        started_unix_ms: i64,
    ) -> Option<Endpoint> {
        let _ = self.persist_cdr(now, call_key, Ending::Transferred { left: side });
        let record = NewRecord {
            cdr_id: self.record_id(now),
            started_unix_ms,
            answered_unix_ms: self.unix_ms(now),
        };
        let old_key = self.calls.get(&call_key)?.dialog(side).map(Dialog::key)?;
        let still_there = self.dialogs.get(&old_key) == Some(&(call_key, side));
        if still_there {
            self.dialogs.remove(&old_key);
        }
        self.dialogs.insert(leg.dialog.key(), (call_key, side));
        let sip = self.local_sip();
        let old = self
            .calls
            .get_mut(&call_key)?
            .take_over(&sip, side, leg, still_there, record);
        self.drain_call(now, call_key);
        self.route_endpoints(call_key);
        self.persist_cdr_in_progress(now, call_key);
        Some(old)
    }

    /// A REFER with Replaces from `side`'s phone on the plain call `call_key`.
    pub(super) fn on_bridged_attended_refer(
        &mut self,
        now: Instant,
        call_key: CallKey,
        side: Side,
        key: TransactionKey,
        request: Message,
        replaces: Replaces,
    ) {
        if !self.transferable(call_key) {
            self.respond_simple_to(now, &key, &request, 491, "Request Pending");
            return;
        }
        let Some(phone) = self
            .calls
            .get(&call_key)
            .and_then(|c| c.dialog(side))
            .map(|d| d.peer)
        else {
            return;
        };
        let replaced = self.find_replaced(call_key, phone, &replaces);
        self.respond_simple_to(now, &key, &request, 202, "Accepted");
        let Some((donor, phone_side)) = replaced else {
            tracing::info!(call_id = %replaces.call_id, "REFER names no call of this phone");
            self.notify_failure(now, call_key, side, 481);
            return;
        };
        self.notify_refer(now, call_key, side, "SIP/2.0 200 OK");
        let moving = phone_side.other();
        let Some(leg) = self.take_leg(donor, moving) else {
            return;
        };
        let started = self.unix_ms(now);
        let Some(old) = self.hand_over(now, call_key, side, leg, started) else {
            return;
        };
        // The second call now owns the phone's old endpoint of this one, closed when it ends;
        // the endpoint that moved is no longer its own to close.
        if let Some(call) = self.calls.get_mut(&donor) {
            *call.endpoint_mut(moving) = old;
        }
        self.end_call(now, donor, Ending::Transferred { left: moving }, None);
    }

    /// The answered leg on `side` of `call_key`, for another call to take over; its dialog
    /// stays behind only as a record (its routing entry is overwritten by the new owner).
    fn take_leg(&mut self, call_key: CallKey, side: Side) -> Option<MovedLeg> {
        let call = self.calls.get_mut(&call_key)?;
        let endpoint = call.endpoint(side).clone();
        let user = call.user(side).to_owned();
        match side {
            Side::Caller => {
                let dialog = call.caller.dialog.clone();
                Some(MovedLeg {
                    dest: dialog.peer,
                    transport: dialog.transport,
                    invite: call.caller.invite.clone(),
                    ack: None,
                    dialog,
                    endpoint,
                    user,
                })
            }
            Side::Callee => {
                let leg = call.winner_leg_mut()?;
                Some(MovedLeg {
                    dialog: leg.dialog.take()?,
                    invite: leg.invite.clone(),
                    dest: leg.dest,
                    transport: leg.transport,
                    ack: leg.ack.clone(),
                    endpoint,
                    user,
                })
            }
        }
    }
}

/// Who referred a transfer that stopped ringing.
pub(super) struct Referrer {
    referrer: Side,
    referrer_left: bool,
}

impl Referrer {
    /// The referrer's side if its phone already hung up.
    pub(super) fn left_side(&self) -> Option<Side> {
        self.referrer_left.then_some(self.referrer)
    }
}

/// The record a call goes on under once a transfer handed it over ([`Call::take_over`]).
struct NewRecord {
    cdr_id: String,
    /// When the transfer started: the new record's start.
    started_unix_ms: i64,
    /// When the new leg took over: the new record's answer.
    answered_unix_ms: i64,
}

impl Call {
    /// Puts `leg` on `side` in place of the phone there: that phone's leg gets BYE when
    /// `still_there` (a referrer that left while the target rang gets none, and the
    /// transferee, who heard music, stops hearing it), the other party is bridged with the
    /// new leg and re-offered `sendrecv`, and the call goes on under `record`. Returns the
    /// endpoint the old leg used.
    fn take_over(
        &mut self,
        sip: &LocalSip,
        side: Side,
        leg: MovedLeg,
        still_there: bool,
        record: NewRecord,
    ) -> Endpoint {
        if still_there {
            if let Some(dialog) = self.dialog_mut(side) {
                let bye = dialog.clone().request(Method::Bye);
                let (to, transport) = (dialog.peer, dialog.transport);
                self.send_bye(to, transport, bye);
            }
        } else {
            let endpoint = self.endpoint(side.other()).id;
            self.media(MediaCommand::StopMusic { endpoint });
        }
        let old = match side {
            Side::Caller => {
                self.caller.dialog = leg.dialog;
                self.caller.pending_2xx = None;
                self.caller.delayed_offer = false;
                self.caller_user = leg.user;
                std::mem::replace(&mut self.caller.endpoint, leg.endpoint)
            }
            Side::Callee => {
                self.callee.forks.push(Fork {
                    invite: leg.invite,
                    dest: leg.dest,
                    transport: leg.transport,
                    state: ForkState::Answered,
                    dialog: Some(leg.dialog),
                    ack: leg.ack,
                    agent: None,
                    released: None,
                });
                self.callee.winner = Some(self.callee.forks.len() - 1);
                self.callee_pending_2xx = None;
                self.callee_user = leg.user;
                std::mem::replace(&mut self.callee.endpoint, leg.endpoint)
            }
        };
        self.first_fork = self.callee.winner.unwrap_or_default();
        self.transferred_to = Some(side);
        self.started_unix_ms = record.started_unix_ms;
        self.answered_unix_ms = Some(record.answered_unix_ms);
        // The conversation from here on is a record of its own: the one written before is
        // final, and a final record is never rewritten.
        self.cdr_id = record.cdr_id;
        let (a, b) = (self.endpoint(side.other()).id, self.endpoint(side).id);
        self.media(MediaCommand::Bridge { a, b });
        self.reoffer(sip, side.other());
        old
    }

    /// Stops a ringing transfer: CANCEL to its forks. Returns who referred, and the
    /// transfer's endpoint for the switch to close; `None` when nothing rang.
    pub(super) fn drop_transfer(&mut self) -> Option<(Referrer, Endpoint)> {
        let transfer = self.transfer.as_mut().filter(|t| t.ringing)?;
        transfer.ringing = false;
        let id = transfer.id;
        let endpoint = transfer.leg.endpoint.clone();
        let referrer = Referrer {
            referrer: transfer.referrer,
            referrer_left: transfer.referrer_left,
        };
        self.cancel_forks(LegRole::Transfer(id), &[]);
        Some((referrer, endpoint))
    }

    /// Fork `index` of the ringing transfer answered: the transfer stops ringing, the
    /// referrer (unless it left) hears `200 OK` in a NOTIFY, and the answered leg comes out
    /// with the side it replaces and when the transfer started. `None` when the fork has no
    /// dialog.
    fn transfer_answered(&mut self, sip: &LocalSip, index: usize) -> Option<(MovedLeg, Side, i64)> {
        let transfer = self.transfer.as_mut()?;
        transfer.ringing = false;
        let fork = transfer.leg.forks.get_mut(index)?;
        let dialog = fork.dialog.take()?;
        let leg = MovedLeg {
            dialog,
            endpoint: transfer.leg.endpoint.clone(),
            invite: fork.invite.clone(),
            dest: fork.dest,
            transport: fork.transport,
            ack: fork.ack.clone(),
            user: transfer.target.clone(),
        };
        let (referrer, left) = (transfer.referrer, transfer.referrer_left);
        let started = transfer.started_unix_ms;
        if !left {
            self.notify_refer(sip, referrer, "SIP/2.0 200 OK");
        }
        Some((leg, referrer, started))
    }

    /// Offers `side`'s phone the switch's media afresh, `sendrecv`, when the referrer had put
    /// it on hold before transferring: the new party would never take it off.
    fn reoffer(&mut self, sip: &LocalSip, side: Side) {
        if self.relay.is_some() || self.endpoint(side).offered == Direction::SendRecv {
            return; // not held, or an offer is in flight already that the phones settle
        }
        let Some((mut invite, dest, transport)) = self.dialog_request(sip, side, Method::Invite)
        else {
            return;
        };
        let endpoint = self.endpoint_mut(side);
        endpoint.local.session_version += 1;
        endpoint.offered = Direction::SendRecv;
        let sdp = endpoint.local.render_offer();
        invite.push("Allow", super::switch::ALLOW);
        invite.set_body("application/sdp", Bytes::from(sdp));
        tracing::debug!("re-offering sendrecv to a transferee its referrer held");
        let purpose = ClientPurpose::Reoffer {
            call: self.key,
            side,
        };
        self.send_request(dest, transport, invite, purpose);
    }

    /// The answer to [`Call::reoffer`]: a 2xx is acknowledged and its SDP configures the
    /// endpoint (latching as `latch` says); a refusal leaves the media as it was.
    pub(super) fn on_reoffer_response(
        &mut self,
        side: Side,
        response: &Message,
        latch: LatchPolicy,
    ) {
        if !response.status().is_some_and(|c| (200..300).contains(&c)) {
            return;
        }
        if self.ack_2xx(side, response) {
            self.configure(side, latch, response);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Whole transfers in virtual time against scripted phones (see [`super::super::lab`]):
    //! 1000 calls 1001, and 1001 transfers 1000.
    use super::super::lab::{Lab, in_dialog, phone, sdp};
    use super::super::record::HangupSide;
    use super::*;
    use std::time::Duration;

    /// 1000 calls 1001, which sends REFER to `target`; returns the lab, the INVITE the switch
    /// sent 1001 (1001's dialog) and the 200 1000 got (1000's dialog).
    fn referred(target: &str) -> (Lab, Message, Message) {
        let mut lab = Lab::new();
        for user in ["1000", "1001", "1002"] {
            lab.register(user);
        }
        let (to_b, to_a) = lab.call("1000", "1001");
        let refer = in_dialog(
            &to_b,
            "REFER",
            1,
            phone("1001"),
            false,
            &format!(
                "Refer-To: <sip:{target}@switchboard.local>\n\
                 Referred-By: <sip:1001@switchboard.local>\n"
            ),
        );
        lab.send_text(phone("1001"), &refer);
        lab.take(phone("1001"), "202");
        (lab, to_b, to_a)
    }

    /// The sipfrags of every NOTIFY `to` got so far, in order.
    fn notified(lab: &mut Lab, to: SocketAddr) -> Vec<String> {
        std::iter::from_fn(|| lab.try_take(to, "NOTIFY"))
            .map(|n| String::from_utf8_lossy(n.body()).trim().to_owned())
            .collect()
    }

    /// The endpoints of the media plane's latest bridge.
    fn last_bridge(lab: &Lab) -> (EndpointId, EndpointId) {
        lab.media
            .iter()
            .rev()
            .find_map(|c| match c {
                MediaCommand::Bridge { a, b } => Some((*a, *b)),
                _ => None,
            })
            .expect("a bridge")
    }

    fn hang_up(lab: &mut Lab, dialog: &Message, user: &str, cseq: u32, uas: bool) {
        let bye = in_dialog(dialog, "BYE", cseq, phone(user), uas, "");
        lab.send_text(phone(user), &bye);
        lab.take(phone(user), "200");
    }

    #[test]
    fn a_blind_transfer_bridges_the_caller_with_the_target_once_it_answers_and_releases_the_referrer()
     {
        let (mut lab, _, to_a) = referred("1002");
        let (caller, _) = last_bridge(&lab);
        let invite = lab.take(phone("1002"), "INVITE");
        assert_eq!(
            invite.header("Referred-By"),
            Some("<sip:1001@switchboard.local>")
        );
        assert!(
            invite.header("From").unwrap().contains("sip:1000@"),
            "the target is called by the party it will talk to: {invite:?}"
        );
        // Referrer and caller stay connected while the target rings.
        assert!(lab.try_take(phone("1001"), "BYE").is_none());
        lab.reply(&invite, 200, phone("1002"));
        lab.take(phone("1002"), "ACK");
        assert_eq!(
            notified(&mut lab, phone("1001")),
            ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
        );
        lab.take(phone("1001"), "BYE");
        let (a, b) = last_bridge(&lab);
        assert_eq!(a, caller);
        assert_ne!(b, caller);
        // 1000 was never held: no new offer for it.
        assert!(lab.try_take(phone("1000"), "INVITE").is_none());
        assert_eq!(lab.cdrs.len(), 1, "the conversation before the transfer");
        assert_eq!(
            (lab.cdrs[0].caller.as_str(), lab.cdrs[0].callee.as_str()),
            ("1000", "1001")
        );
        assert_eq!(lab.cdrs[0].hangup_side, HangupSide::Callee);
        // The caller hangs up: the target gets BYE, and the record names them both.
        hang_up(&mut lab, &to_a, "1000", 3, true);
        lab.take(phone("1002"), "BYE");
        let after = &lab.cdrs[1];
        assert_eq!(
            (after.caller.as_str(), after.callee.as_str()),
            ("1000", "1002")
        );
        assert_eq!(after.hangup_side, HangupSide::Caller);
        let roles: Vec<&str> = after.legs.iter().map(|l| l.role.as_str()).collect();
        assert_eq!(roles, ["transferee", "transfer_target"]);
    }

    #[test]
    fn a_busy_target_is_reported_by_notify_and_the_two_parties_stay_connected() {
        let (mut lab, to_b, _) = referred("1002");
        let invite = lab.take(phone("1002"), "INVITE");
        lab.reply(&invite, 486, phone("1002"));
        assert_eq!(
            notified(&mut lab, phone("1001")),
            ["SIP/2.0 100 Trying", "SIP/2.0 486 Busy Here"]
        );
        assert!(lab.try_take(phone("1001"), "BYE").is_none());
        assert!(lab.try_take(phone("1000"), "BYE").is_none());
        assert!(lab.cdrs.is_empty());
        // Still one call: the referrer hanging up ends it for the caller.
        hang_up(&mut lab, &to_b, "1001", 2, false);
        lab.take(phone("1000"), "BYE");
        assert_eq!(
            (lab.cdrs[0].caller.as_str(), lab.cdrs[0].callee.as_str()),
            ("1000", "1001")
        );
    }

    #[test]
    fn a_transfer_to_an_unknown_number_is_reported_404_without_ringing_anything() {
        let (mut lab, _, _) = referred("7777");
        assert_eq!(notified(&mut lab, phone("1001")), ["SIP/2.0 404 Not Found"]);
        assert!(lab.try_take(phone("1002"), "INVITE").is_none());
        assert!(lab.try_take(phone("1001"), "BYE").is_none());
    }

    #[test]
    fn a_target_that_does_not_answer_is_cancelled_at_the_ring_timeout_and_reported_408() {
        let (mut lab, _, _) = referred("1002");
        let invite = lab.take(phone("1002"), "INVITE");
        lab.reply(&invite, 180, phone("1002"));
        lab.advance(Duration::from_secs(31));
        lab.take(phone("1002"), "CANCEL");
        let frags = notified(&mut lab, phone("1001"));
        assert_eq!(
            frags.last().map(String::as_str),
            Some("SIP/2.0 408 Request Timeout")
        );
        assert!(lab.try_take(phone("1001"), "BYE").is_none());
    }

    #[test]
    fn a_referrer_that_hangs_up_while_the_target_rings_leaves_the_caller_on_music_then_hung_up_if_it_fails()
     {
        let (mut lab, to_b, _) = referred("1002");
        let (caller, _) = last_bridge(&lab);
        let invite = lab.take(phone("1002"), "INVITE");
        hang_up(&mut lab, &to_b, "1001", 2, false);
        assert!(lab.try_take(phone("1000"), "BYE").is_none());
        assert!(lab.media.contains(&MediaCommand::PlayMusic {
            endpoint: caller,
            music: None
        }));
        lab.reply(&invite, 603, phone("1002"));
        lab.take(phone("1000"), "BYE");
        assert!(
            lab.try_take(phone("1001"), "BYE").is_none(),
            "it already left"
        );
        assert_eq!(lab.cdrs.len(), 1);
    }

    #[test]
    fn a_caller_hanging_up_while_the_target_rings_cancels_it_and_spares_a_referrer_that_left() {
        let (mut lab, to_b, to_a) = referred("1002");
        let invite = lab.take(phone("1002"), "INVITE");
        lab.reply(&invite, 180, phone("1002"));
        hang_up(&mut lab, &to_b, "1001", 2, false);
        hang_up(&mut lab, &to_a, "1000", 3, true);
        lab.take(phone("1002"), "CANCEL");
        assert!(
            lab.try_take(phone("1001"), "BYE").is_none(),
            "it already left"
        );
        assert_eq!(lab.cdrs.len(), 1);
        lab.advance(Duration::from_secs(40));
        assert_eq!(lab.sw.call_count(), 0, "forgotten after lingering");
    }

    #[test]
    fn an_attended_transfer_splices_the_other_two_parties_and_re_offers_the_held_one() {
        let mut lab = Lab::new();
        for user in ["1000", "1001", "1002"] {
            lab.register(user);
        }
        let (to_b, to_a) = lab.call("1000", "1001");
        let (caller, _) = last_bridge(&lab);
        // 1001 holds 1000 (the re-INVITE is relayed), then calls 1002.
        let hold = in_dialog(
            &to_b,
            "INVITE",
            1,
            phone("1001"),
            false,
            "Content-Type: application/sdp\n",
        )
        .replace(
            "Content-Length: 0\n\n",
            &format!(
                "Content-Length: {}\n\n{}",
                sdp(1).len(),
                sdp(1).replace("sendrecv", "sendonly")
            ),
        );
        lab.send_text(phone("1001"), &hold);
        let relayed = lab.take(phone("1000"), "INVITE");
        assert!(String::from_utf8_lossy(relayed.body()).contains("a=sendonly"));
        lab.reply(&relayed, 200, phone("1000"));
        lab.take(phone("1001"), "200");
        let (_, second) = lab.call("1001", "1002");
        // REFER on the first call naming 1001's dialog of the second one.
        let switch_tag = second.to_tag().unwrap();
        let refer_to = format!(
            "Refer-To: <sip:1002@switchboard.local?Replaces={}%3Bto-tag%3D{switch_tag}%3Bfrom-tag%3Dc1001>\n",
            second.call_id().unwrap()
        );
        let refer = in_dialog(&to_b, "REFER", 2, phone("1001"), false, &refer_to);
        lab.send_text(phone("1001"), &refer);
        lab.take(phone("1001"), "202");
        assert_eq!(notified(&mut lab, phone("1001")), ["SIP/2.0 200 OK"]);
        lab.take(phone("1001"), "BYE");
        lab.take(phone("1001"), "BYE");
        let (a, b) = last_bridge(&lab);
        assert_eq!(a, caller);
        assert_ne!(b, caller);
        // 1000 was held through the switch: it gets a sendrecv offer again.
        let reoffer = lab.take(phone("1000"), "INVITE");
        assert!(String::from_utf8_lossy(reoffer.body()).contains("a=sendrecv"));
        lab.reply(&reoffer, 200, phone("1000"));
        lab.take(phone("1000"), "ACK");
        // The first part of call 1 and call 2 are recorded; 1000 hanging up ends 1002's leg.
        let parts: Vec<(&str, &str)> = lab
            .cdrs
            .iter()
            .map(|c| (c.caller.as_str(), c.callee.as_str()))
            .collect();
        assert_eq!(parts, [("1000", "1001"), ("1001", "1002")]);
        hang_up(&mut lab, &to_a, "1000", 3, true);
        lab.take(phone("1002"), "BYE");
        let last = lab.cdrs.last().unwrap();
        assert_eq!(
            (last.caller.as_str(), last.callee.as_str()),
            ("1000", "1002")
        );
    }
}
