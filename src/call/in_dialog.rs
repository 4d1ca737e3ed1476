//! In-dialog requests (RFC 3261 §12.2, §14, §15): ACK, BYE, and re-INVITE / UPDATE / INFO
//! relayed to the other leg with the switch's own SDP on each side.
//!
//! ```text
//!  leg X            switch              leg Y
//!    | re-INVITE(sdp x) |                   |
//!    |----------------->| re-INVITE(sdp y') |
//!    |                  |------------------>|
//!    |                  |<--- 200 (sdp y) --|
//!    |                  |---- ACK --------->|
//!    |<-- 200 (sdp x') -|                   |
//!    |---- ACK -------->|                   |
//! ```
//! A second offer while one is being relayed gets 491 (RFC 3261 §14.2, glare).

use super::model::*;
use super::switch::{ClientPurpose, Switch};
use crate::media::sdp::{SessionDescription, answer_direction};
use crate::sip::dialog::DialogKey;
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use crate::sip::transaction::TransactionKey;
use bytes::Bytes;
use std::time::Instant;

impl Switch {
    fn find_dialog(&self, request: &Message) -> Option<(CallKey, Side)> {
        let key = DialogKey {
            call_id: request.call_id()?.to_owned(),
            local_tag: request.to_tag()?,
        };
        self.dialogs.get(&key).copied()
    }

    fn find_consult_dialog(&self, request: &Message) -> Option<CallKey> {
        let key = DialogKey {
            call_id: request.call_id()?.to_owned(),
            local_tag: request.to_tag()?,
        };
        self.consult_dialogs.get(&key).copied()
    }

    /// ACK for a 2xx (no transaction): stops our retransmissions; may carry the SDP answer.
    pub(super) fn on_ack(&mut self, _now: Instant, ack: Message) {
        let Some((call_key, side)) = self.find_dialog(&ack) else {
            return;
        };
        let seq = ack.cseq().map(|c| c.seq);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let pending = match side {
            Side::Caller => &mut call.caller.pending_2xx,
            Side::Callee => &mut call.callee_pending_2xx,
        };
        if pending.as_ref().is_some_and(|p| Some(p.cseq) == seq) {
            *pending = None;
        }
        // Any ACK from the caller confirms its leg (idempotent): whatever state the call
        // moved on to meanwhile, the caller must not stay unestablished.
        let confirmed = side == Side::Caller && call.state != CallState::Ended;
        if side == Side::Caller && call.state == CallState::Answered {
            call.state = CallState::Connected;
            if call.caller.delayed_offer && !ack.body().is_empty() {
                call.caller.delayed_offer = false;
                self.configure_from_answer(call_key, Side::Caller, &ack);
            }
        }
        if confirmed {
            self.caller_confirmed(call_key);
        }
    }

    pub(super) fn on_in_dialog(&mut self, now: Instant, key: TransactionKey, request: Message) {
        if let Some(call_key) = self.find_consult_dialog(&request) {
            self.on_consult_request(now, call_key, key, request);
            return;
        }
        let Some((call_key, side)) = self.find_dialog(&request) else {
            if !matches!(request.method(), Some(Method::Ack)) {
                self.respond_simple_to(now, &key, &request, 481, "Call/Transaction Does Not Exist");
            }
            return;
        };
        let in_order = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.dialog_mut(side))
            .is_some_and(|d| d.accept_remote_cseq(&request));
        if !in_order {
            self.respond_simple_to(now, &key, &request, 500, "Out Of Order CSeq");
            return;
        }
        match request.method().cloned() {
            Some(Method::Bye) if side == Side::Callee && self.agent_hands_over(now, call_key) => {
                self.respond_simple_to(now, &key, &request, 200, "OK");
            }
            Some(Method::Bye) if self.referrer_leaves(now, call_key, side) => {
                self.respond_simple_to(now, &key, &request, 200, "OK");
            }
            Some(Method::Bye) => {
                let ending = match side {
                    Side::Caller => Ending::ByeFromCaller,
                    Side::Callee => Ending::ByeFromCallee,
                };
                self.end_call(now, call_key, ending, Some((key, request)));
            }
            Some(Method::Invite | Method::Update | Method::Info) => {
                self.relay_request(now, call_key, side, key, request)
            }
            Some(Method::Refer) => self.on_refer(now, call_key, side, key, request),
            Some(Method::Options) => {
                let mut ok = Message::response_to(&request, 200, "OK");
                ok.push("Allow", super::switch::ALLOW);
                self.respond(now, &key, ok);
            }
            _ => self.respond_simple_to(now, &key, &request, 405, "Method Not Allowed"),
        }
    }

    /// A request of the switch's own in `side`'s dialog, with our Via and Contact, and where
    /// it goes: the peer's address and transport.
    pub(super) fn dialog_request(
        &mut self,
        call_key: CallKey,
        side: Side,
        method: Method,
    ) -> Option<(Message, std::net::SocketAddr, Transport)> {
        let transport = self.calls.get(&call_key)?.transport(side)?;
        let via = self.our_via(transport);
        let contact = self.our_contact(transport);
        let dialog = self.calls.get_mut(&call_key)?.dialog_mut(side)?;
        let mut request = dialog.request(method);
        request.push_front("Via", via);
        request.push("Contact", contact);
        Some((request, dialog.peer, dialog.transport))
    }

    /// Relays an in-dialog request to the other leg.
    fn relay_request(
        &mut self,
        now: Instant,
        call_key: CallKey,
        from: Side,
        key: TransactionKey,
        request: Message,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let is_offer = matches!(request.method(), Some(Method::Invite | Method::Update));
        if call.state == CallState::Ended || call.callee.winner.is_none() {
            self.respond_simple_to(now, &key, &request, 481, "Call/Transaction Does Not Exist");
            return;
        }
        if call.relay.is_some() && is_offer {
            let mut r = Message::response_to(&request, 491, "Request Pending");
            r.push("Retry-After", "1");
            self.respond(now, &key, r);
            return;
        }
        // The agent's phone holding or resuming the customer: answered here, not relayed.
        if from == Side::Callee
            && call.queue.is_some()
            && matches!(request.method(), Some(Method::Invite))
            && self.answer_agent_reinvite(now, call_key, &key, &request)
        {
            return;
        }
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let to = from.other();
        let transport = match to {
            Side::Caller => call.caller.dialog.transport,
            Side::Callee => call.winner_leg().map_or(Transport::Udp, |l| l.transport),
        };
        // The sender's new media address and direction.
        let offer = SessionDescription::parse(request.body()).ok();
        if is_offer && offer.is_some() {
            self.configure_from_answer(call_key, from, &request);
        }
        let direction = offer
            .as_ref()
            .and_then(|o| o.audio().map(|(_, m)| m.direction))
            .unwrap_or_default();
        let via = self.our_via(transport);
        let contact = self.our_contact(transport);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let method = request.method().cloned().unwrap_or(Method::Info);
        let endpoint = call.endpoint_mut(to);
        let body = if is_offer && offer.is_some() {
            endpoint.local.session_version += 1;
            endpoint.offered = direction;
            let mut local = endpoint.local.clone();
            local.direction = direction;
            Some((
                "application/sdp".to_owned(),
                Bytes::from(local.render_offer()),
            ))
        } else if !request.body().is_empty() {
            Some((
                request
                    .header("Content-Type")
                    .unwrap_or("application/octet-stream")
                    .to_owned(),
                request.body().clone(),
            ))
        } else {
            None
        };
        let Some(dialog) = call.dialog_mut(to) else {
            return;
        };
        let mut out = dialog.request(method.clone());
        let peer = dialog.peer;
        let transport = dialog.transport;
        out.push_front("Via", via);
        if method == Method::Invite || method == Method::Update {
            out.push("Contact", contact);
        }
        if let Some((ct, body)) = body {
            out.set_body(&ct, body);
        }
        let Some(txn) = self.request(
            now,
            peer,
            transport,
            out,
            ClientPurpose::Relay { call: call_key },
        ) else {
            let r = Message::response_to(&request, 500, "Server Internal Error");
            self.respond(now, &key, r);
            return;
        };
        self.server_txns.insert(key.clone(), call_key);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        call.relay = Some(Relay {
            from,
            server_txn: key,
            request,
            client_txn: txn,
        });
    }

    /// A response to a relayed request: ACK a 2xx to re-INVITE and answer the original sender.
    pub(super) fn on_relay_response(
        &mut self,
        now: Instant,
        call_key: CallKey,
        txn: TransactionKey,
        response: Message,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let Some(relay) = call.relay.clone() else {
            return;
        };
        if relay.client_txn != txn {
            return;
        }
        let code = response.status().unwrap_or(500);
        if code < 200 {
            return; // provisional answers are absorbed; the sender already got our 100
        }
        let to = relay.from.other();
        let is_invite = matches!(relay.request.method(), Some(Method::Invite));
        if is_invite && (200..300).contains(&code) {
            let seq = response.cseq().map(|c| c.seq).unwrap_or_default();
            let transport = match to {
                Side::Caller => call.caller.dialog.transport,
                Side::Callee => call
                    .winner_leg()
                    .map(|l| l.transport)
                    .unwrap_or(Transport::Udp),
            };
            let via = self.our_via(transport);
            let Some(call) = self.calls.get_mut(&call_key) else {
                return;
            };
            if let Some(dialog) = call.dialog_mut(to) {
                dialog.refresh_target(&response);
                let mut ack = dialog.ack(seq);
                ack.push_front("Via", via);
                let (peer, t) = (dialog.peer, transport);
                self.outputs.push_back(Output::Transmit {
                    to: peer,
                    transport: t,
                    bytes: ack.to_bytes(),
                });
            }
        }
        let answered_offer = (200..300).contains(&code)
            && matches!(
                relay.request.method(),
                Some(Method::Invite | Method::Update)
            )
            && !response.body().is_empty();
        if answered_offer {
            self.configure_from_answer(call_key, to, &response);
        }
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        call.relay = None;
        let mut reply = Message::response_to(&relay.request, code, response.reason().unwrap_or(""));
        if (200..300).contains(&code) {
            if let Some(contact) =
                Some(self.our_contact(self.calls[&call_key].caller.dialog.transport))
            {
                reply.push("Contact", contact);
            }
            let call = self.calls.get(&call_key).expect("call exists");
            let their_direction = SessionDescription::parse(response.body())
                .ok()
                .and_then(|s| s.audio().map(|(_, m)| m.direction));
            if let Ok(offer) = SessionDescription::parse(relay.request.body()) {
                let mut local = call.endpoint(relay.from).local.clone();
                if let Some(d) = their_direction {
                    // Mirror what the far phone agreed to, seen from the sender's side.
                    local.direction = d.reversed();
                }
                if let Some((answer, _)) = local.to_answer(&offer) {
                    let _ = answer_direction;
                    reply.set_body("application/sdp", Bytes::from(answer.to_string()));
                }
            } else if !response.body().is_empty() {
                reply.set_body(
                    response
                        .header("Content-Type")
                        .unwrap_or("application/octet-stream"),
                    response.body().clone(),
                );
            }
        }
        if is_invite && (200..300).contains(&code) {
            self.send_relayed_2xx(now, call_key, relay.from, relay.server_txn, reply);
        } else {
            self.respond(now, &relay.server_txn, reply);
        }
    }

    pub(super) fn send_relayed_2xx(
        &mut self,
        now: Instant,
        call_key: CallKey,
        side: Side,
        key: TransactionKey,
        ok: Message,
    ) {
        // Same retransmission machinery as the initial 2xx, on whichever side asked: an
        // INVITE server transaction in Accepted leaves repeating a 2xx to its TU (RFC 6026).
        let t1 = self.cfg.timing.t1;
        if let Some(call) = self.calls.get_mut(&call_key) {
            let pending = Some(Pending2xx {
                bytes: ok.to_bytes(),
                cseq: ok.cseq().map(|c| c.seq).unwrap_or_default(),
                interval: t1,
                next: now + t1,
                give_up: now + t1 * 64,
            });
            match side {
                Side::Caller => call.caller.pending_2xx = pending,
                Side::Callee => call.callee_pending_2xx = pending,
            }
        }
        self.schedule(call_key);
        self.respond(now, &key, ok);
    }

    /// Routes a response to whatever client transaction of ours it belongs to.
    pub(super) fn on_response(&mut self, now: Instant, key: TransactionKey, response: Message) {
        let purpose = self.client_txns.get(&key).cloned();
        if let Some(p) = &purpose
            && let Some(call) = p.call()
            && self.on_late_response(now, call, p, &response)
        {
            if response.status().is_some_and(|c| c >= 300) {
                self.client_txns.remove(&key);
            }
            return;
        }
        match purpose {
            Some(ClientPurpose::Fork { call, role, index }) => {
                if response.status().is_some_and(|c| c >= 300) {
                    self.client_txns.remove(&key);
                }
                self.on_outbound_response(now, call, role, index, response);
            }
            Some(ClientPurpose::Relay { call }) => self.on_relay_response(now, call, key, response),
            Some(ClientPurpose::Reoffer { call, side }) => {
                self.on_reoffer_response(now, call, side, response)
            }
            Some(ClientPurpose::TrunkRegistration(index)) => {
                self.on_trunk_registration_response(now, index, &response)
            }
            Some(ClientPurpose::FireAndForget) | None => {}
        }
    }

    pub(super) fn on_client_timeout(&mut self, now: Instant, purpose: ClientPurpose) {
        // A buried call's leg that never answered has nothing left to do.
        if purpose
            .call()
            .is_some_and(|c| self.tombstones.contains_key(&c))
        {
            return;
        }
        match purpose {
            ClientPurpose::Fork { call, role, index } => {
                self.on_outbound_failure(now, call, role, index, 408)
            }
            ClientPurpose::Relay { call } => {
                // The other leg is gone: answer the sender 408 and end the call (§12.2.1.2).
                let relay = self.calls.get_mut(&call).and_then(|c| c.relay.take());
                if let Some(relay) = relay {
                    let r = Message::response_to(&relay.request, 408, "Request Timeout");
                    self.respond(now, &relay.server_txn, r);
                }
                self.end_call(now, call, Ending::Failed(408), None);
            }
            ClientPurpose::TrunkRegistration(index) => {
                self.on_trunk_registration_timeout(now, index)
            }
            ClientPurpose::Reoffer { .. } | ClientPurpose::FireAndForget => {}
        }
    }
}
