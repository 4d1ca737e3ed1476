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

use super::machine::{CallOutput, LocalSip};
use super::model::*;
use super::switch::{ClientPurpose, Switch};
use crate::media::sdp::SessionDescription;
use crate::sip::dialog::DialogKey;
use crate::sip::message::{Message, Method, NO_SUCH_DIALOG};
use crate::sip::registrar::Transport;
use crate::sip::transaction::TransactionKey;
use bytes::Bytes;
use std::net::SocketAddr;
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

    /// ACK for a 2xx (no transaction): handed to its call (see [`Call::on_ack`]); the
    /// caller's confirming its leg releases the ports it held against its source.
    pub(super) fn on_ack(&mut self, now: Instant, ack: Message) {
        let Some((call_key, side)) = self.find_dialog(&ack) else {
            return;
        };
        let confirmed = self.step_call(now, call_key, side, |call, _, latch| {
            call.on_ack(side, &ack, latch)
        });
        if confirmed == Some(true) {
            self.admission.settle(call_key);
        }
    }

    pub(super) fn on_in_dialog(&mut self, now: Instant, key: TransactionKey, request: Message) {
        if let Some(call_key) = self.find_consult_dialog(&request) {
            self.on_consult_request(now, call_key, key, request);
            return;
        }
        let Some((call_key, side)) = self.find_dialog(&request) else {
            if !matches!(request.method(), Some(Method::Ack)) {
                self.respond_simple_to(now, &key, &request, 481, NO_SUCH_DIALOG);
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

    /// Hands an in-dialog re-INVITE, UPDATE or INFO to its call (see
    /// [`Call::relay_request`]).
    fn relay_request(
        &mut self,
        now: Instant,
        call_key: CallKey,
        from: Side,
        key: TransactionKey,
        request: Message,
    ) {
        self.step_call(now, call_key, from, |call, sip, latch| {
            call.relay_request(now, sip, from, key, request, latch)
        });
    }

    /// A response to a relayed request, for its call (see [`Call::on_relay_response`]).
    pub(super) fn on_relay_response(
        &mut self,
        now: Instant,
        call_key: CallKey,
        txn: TransactionKey,
        response: Message,
    ) {
        let Some(relay) = self.calls.get(&call_key).and_then(|c| c.relay.as_ref()) else {
            return;
        };
        let to = relay.from.other();
        self.step_call(now, call_key, to, |call, sip, latch| {
            call.on_relay_response(now, sip, &txn, &response, latch)
        });
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
                self.step_call(now, call, side, |call, _, latch| {
                    call.on_reoffer_response(side, &response, latch)
                });
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
            ClientPurpose::Relay { call: call_key } => {
                // The other leg is gone: answer the sender 408 and end the call (§12.2.1.2).
                if let Some(call) = self.calls.get_mut(&call_key) {
                    call.end_relay(408, "Request Timeout");
                }
                self.drain_call(now, call_key);
                self.end_call(now, call_key, Ending::Failed(408), None);
            }
            ClientPurpose::TrunkRegistration(index) => {
                self.on_trunk_registration_timeout(now, index)
            }
            ClientPurpose::Reoffer { .. } | ClientPurpose::FireAndForget => {}
        }
    }
}

impl Call {
    /// An ACK on `side`'s dialog (for a 2xx of ours, so outside any transaction): stops our
    /// retransmissions of the 2xx it acknowledges. Any ACK from the caller confirms its leg
    /// (idempotent: whatever state the call moved on to meanwhile, the caller must not stay
    /// unestablished), and the first one may carry the answer to a delayed offer, taken with
    /// `latch`. `true` when the caller's leg is confirmed.
    pub(super) fn on_ack(&mut self, side: Side, ack: &Message, latch: LatchPolicy) -> bool {
        let seq = ack.cseq().map(|c| c.seq);
        let pending = self.pending_2xx_mut(side);
        if pending.as_ref().is_some_and(|p| Some(p.cseq) == seq) {
            *pending = None;
        }
        let confirmed = side == Side::Caller && self.state != CallState::Ended;
        if side == Side::Caller && self.state == CallState::Answered {
            self.state = CallState::Connected;
            if self.caller.delayed_offer && !ack.body().is_empty() {
                self.caller.delayed_offer = false;
                self.configure(Side::Caller, latch, ack);
            }
        }
        if confirmed {
            // The switch may send to the caller's phone now.
            let endpoint = self.caller.endpoint.id;
            self.media(MediaCommand::Establish { endpoint });
        }
        confirmed
    }

    /// A request of the switch's own in `side`'s dialog, with our Contact, and where it goes:
    /// the peer's address and transport. The switch adds our Via as it sends it.
    pub(super) fn dialog_request(
        &mut self,
        sip: &LocalSip,
        side: Side,
        method: Method,
    ) -> Option<(Message, SocketAddr, Transport)> {
        let dialog = self.dialog_mut(side)?;
        let mut request = dialog.request(method);
        request.push("Contact", sip.contact(dialog.transport));
        Some((request, dialog.peer, dialog.transport))
    }

    /// Acknowledges `response`, a 2xx to our (re-)INVITE in `side`'s dialog, whose Contact
    /// becomes the dialog's target (RFC 3261 §12.2.1.2). `false` when the side has no dialog.
    pub(super) fn ack_2xx(&mut self, side: Side, response: &Message) -> bool {
        let Some(dialog) = self.dialog_mut(side) else {
            return false;
        };
        let seq = response.cseq().map(|c| c.seq).unwrap_or_default();
        dialog.refresh_target(response);
        let ack = dialog.ack(seq);
        let (to, transport) = (dialog.peer, dialog.transport);
        self.outputs.push_back(CallOutput::Ack {
            to,
            transport,
            ack,
            fork: None,
        });
        true
    }

    /// A re-INVITE, UPDATE or INFO from `from`'s phone in server transaction `key`, relayed
    /// to the other leg with our own SDP there; `latch` is how `from`'s media latches once
    /// its new offer is taken. Answered here instead with 481 when no leg answered or the
    /// call ended, 491 while another offer is being relayed (glare), and as hold or resume
    /// when it is the agent's phone on a queue call.
    pub(super) fn relay_request(
        &mut self,
        now: Instant,
        sip: &LocalSip,
        from: Side,
        key: TransactionKey,
        request: Message,
        latch: LatchPolicy,
    ) {
        let is_offer = matches!(request.method(), Some(Method::Invite | Method::Update));
        if self.state == CallState::Ended || self.callee.winner.is_none() {
            let r = Message::response_to(&request, 481, NO_SUCH_DIALOG);
            self.respond(key, r);
            return;
        }
        if self.relay.is_some() && is_offer {
            let mut r = Message::response_to(&request, 491, "Request Pending");
            r.push("Retry-After", "1");
            self.respond(key, r);
            return;
        }
        // The agent's phone holding or resuming the customer: answered here, not relayed.
        if from == Side::Callee
            && self.queue.is_some()
            && matches!(request.method(), Some(Method::Invite))
            && self.answer_agent_reinvite(now, sip, &key, &request, latch)
        {
            return;
        }
        let to = from.other();
        // The sender's new media address and direction.
        let offer = SessionDescription::parse(request.body()).ok();
        if is_offer && offer.is_some() {
            self.configure(from, latch, &request);
        }
        let direction = offer
            .as_ref()
            .and_then(|o| o.audio().map(|(_, m)| m.direction))
            .unwrap_or_default();
        let method = request.method().cloned().unwrap_or(Method::Info);
        let endpoint = self.endpoint_mut(to);
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
        let Some(dialog) = self.dialog_mut(to) else {
            return;
        };
        let mut out = dialog.request(method.clone());
        let (peer, transport) = (dialog.peer, dialog.transport);
        if method == Method::Invite || method == Method::Update {
            out.push("Contact", sip.contact(transport));
        }
        if let Some((ct, body)) = body {
            out.set_body(&ct, body);
        }
        self.relay = Some(Relay {
            from,
            server_txn: key.clone(),
            request,
            client_txn: None,
        });
        self.outputs.push_back(CallOutput::Request {
            to: peer,
            transport,
            request: out,
            purpose: ClientPurpose::Relay { call: self.key },
            relays: Some(key),
        });
    }

    /// The relayed request's client transaction started (`txn`), or it could not be sent
    /// (`None`: the sender gets 500).
    pub(super) fn relay_started(&mut self, txn: Option<TransactionKey>) {
        match txn {
            Some(txn) => {
                if let Some(relay) = self.relay.as_mut() {
                    relay.client_txn = Some(txn);
                }
            }
            None => self.end_relay(500, "Server Internal Error"),
        }
    }

    /// Gives up the request being relayed, if any: its sender gets `code`.
    pub(super) fn end_relay(&mut self, code: u16, reason: &str) {
        if let Some(relay) = self.relay.take() {
            let r = Message::response_to(&relay.request, code, reason);
            self.respond(relay.server_txn, r);
        }
    }

    /// A response in client transaction `txn`, which may be the relayed request's: a
    /// provisional one is absorbed (the sender already got our 100); a final one is answered
    /// to the sender with our own SDP, after the ACK of a re-INVITE's 2xx, and an answer to
    /// the relayed offer configures the other leg's endpoint (latching as `latch` says).
    pub(super) fn on_relay_response(
        &mut self,
        now: Instant,
        sip: &LocalSip,
        txn: &TransactionKey,
        response: &Message,
        latch: LatchPolicy,
    ) {
        let Some(relay) = self.relay.as_ref() else {
            return;
        };
        if relay.client_txn.as_ref() != Some(txn) {
            return;
        }
        let code = response.status().unwrap_or(500);
        if code < 200 {
            return; // provisional answers are absorbed; the sender already got our 100
        }
        let to = relay.from.other();
        let is_invite = matches!(relay.request.method(), Some(Method::Invite));
        if is_invite && (200..300).contains(&code) {
            self.ack_2xx(to, response);
        }
        let Some(relay) = self.relay.take() else {
            return;
        };
        let answered_offer = (200..300).contains(&code)
            && matches!(
                relay.request.method(),
                Some(Method::Invite | Method::Update)
            )
            && !response.body().is_empty();
        if answered_offer {
            self.configure(to, latch, response);
        }
        let mut reply = Message::response_to(&relay.request, code, response.reason().unwrap_or(""));
        if (200..300).contains(&code) {
            // Our Contact on the sender's own transport: a TLS agent bridged to a UDP
            // customer must come back over TLS.
            if let Some(transport) = self.transport(relay.from) {
                reply.push("Contact", sip.contact(transport));
            }
            let their_direction = SessionDescription::parse(response.body())
                .ok()
                .and_then(|s| s.audio().map(|(_, m)| m.direction));
            if let Ok(offer) = SessionDescription::parse(relay.request.body()) {
                let mut local = self.endpoint(relay.from).local.clone();
                if let Some(d) = their_direction {
                    // Mirror what the far phone agreed to, seen from the sender's side.
                    local.direction = d.reversed();
                }
                if let Some((answer, _)) = local.to_answer(&offer) {
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
            self.send_relayed_2xx(now, sip, relay.from, relay.server_txn, reply);
        } else {
            self.respond(relay.server_txn, reply);
        }
    }

    /// Answers a re-INVITE from `side`'s phone with the 2xx `ok` and sends it again until its
    /// ACK, the same retransmission machinery as the initial 2xx: an INVITE server
    /// transaction in Accepted leaves repeating a 2xx to its TU (RFC 6026).
    pub(super) fn send_relayed_2xx(
        &mut self,
        now: Instant,
        sip: &LocalSip,
        side: Side,
        key: TransactionKey,
        ok: Message,
    ) {
        let t1 = sip.timing.t1;
        *self.pending_2xx_mut(side) = Some(Pending2xx::new(&ok, now, t1, now + t1 * 64));
        self.respond(key, ok);
    }
}
