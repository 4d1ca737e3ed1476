//! Call set-up: the caller's INVITE, forking to every contact of the callee, the first 2xx
//! winning (RFC 3261 §16.7 style best-response selection otherwise), CANCEL, the ring timeout
//! and the UAS's 2xx retransmission until ACK (§13.3.1.4).

use super::invite_routing::Routed;
use super::machine::{CallOutput, LocalSip};
use super::model::*;
use super::outbound::Target;
use super::rejection::Rejection;
use super::srtp_policy::sdes_allowed;
use super::switch::{ClientPurpose, Switch};
use crate::media::sdp::SessionDescription;
use crate::sip::dialog::Dialog;
use crate::sip::message::{Message, Method, NO_SUCH_DIALOG, uri_host_port};
use crate::sip::registrar::{Aor, Transport};
use crate::sip::transaction::TransactionKey;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Instant;

/// At most this many contacts are rung in parallel for one call.
const MAX_FORKS: usize = 8;

impl Switch {
    pub(super) fn on_new_invite(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        key: TransactionKey,
        request: Message,
    ) {
        if self.calls.len() >= self.cfg.max_calls {
            self.reject(now, &key, &request, Rejection::SwitchFull);
            return;
        }
        // Nobody but a trunk or a device that registered from the address may start a call:
        // a scanner or a fraudster gets no challenge to work on.
        let source = from.ip();
        if !self.registrar.has_binding_from(source)
            && super::trunks::trunk_of(&self.cfg.trunks, source).is_none()
        {
            tracing::info!(target: "security", event = "unknown_source", %source);
            self.reject(now, &key, &request, Rejection::UnknownSource);
            return;
        }
        // Body checks come before authentication so a phone learns at once what we accept.
        if !request.body().is_empty()
            && request.content_type().as_deref() != Some("application/sdp")
        {
            self.reject(now, &key, &request, Rejection::UnsupportedBody);
            return;
        }
        if let Some(accept) = request.header("Accept") {
            let ok = accept.split(',').any(|t| {
                let t = t
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                t == "application/sdp" || t == "application/*" || t == "*/*"
            });
            if !ok {
                self.reject(now, &key, &request, Rejection::SdpNotAccepted);
                return;
            }
        }
        let Some(routed) = self.route_new_invite(now, from, &key, &request) else {
            return;
        };
        let offer = if request.body().is_empty() {
            None
        } else {
            match SessionDescription::parse(request.body()) {
                Ok(sdp) => Some(sdp),
                Err(_) => {
                    self.reject(now, &key, &request, Rejection::MalformedSdp);
                    return;
                }
            }
        };
        if !self.admit_call(now, &key, &request, from.ip())
            || self.over_call_limit(now, from, &key, &request, &routed)
        {
            return;
        }
        let Routed {
            caller_user,
            callee_user,
            queue,
            targets,
            trunk_route,
            trusted,
            inbound_channel,
            trunk_codecs,
        } = routed;
        let Some(mut caller_endpoint) = self.open_endpoint() else {
            self.reject(now, &key, &request, Rejection::NoMediaPorts);
            return;
        };
        if let Some(codecs) = &trunk_codecs {
            caller_endpoint.local.codecs = super::trunks::trunk_media_codecs(codecs);
        }
        if let Some(offer) = &offer {
            let savp = offer.audio().is_some_and(|(_, m)| m.is_savp());
            if savp && sdes_allowed(self.cfg.srtp, transport) {
                caller_endpoint.local.srtp = Some(self.fresh_srtp());
            }
            match caller_endpoint.local.to_answer(offer) {
                Some((_, negotiated)) => caller_endpoint.negotiated = Some(negotiated),
                None => {
                    self.close_endpoint(&caller_endpoint);
                    let why = match (savp, &caller_endpoint.local.srtp) {
                        (true, None) => {
                            let source = from.ip();
                            tracing::info!(target: "security", event = "sdes_refused", %source, ?transport);
                            Rejection::SavpNeedsTls
                        }
                        (true, Some(_)) => Rejection::NoUsableCrypto,
                        (false, _) => Rejection::NoCommonCodec,
                    };
                    self.reject(now, &key, &request, why);
                    return;
                }
            }
        }
        let Some(callee_endpoint) = self.open_endpoint() else {
            self.close_endpoint(&caller_endpoint);
            self.reject(now, &key, &request, Rejection::NoMediaPorts);
            return;
        };
        let local_tag = self.token(10);
        let Some(dialog) = Dialog::as_uas(&request, local_tag, from, transport) else {
            self.close_endpoint(&caller_endpoint);
            self.close_endpoint(&callee_endpoint);
            self.reject(now, &key, &request, Rejection::BadDialogRequest);
            return;
        };
        let trying = Message::response_to(&request, 100, "Trying");
        self.respond(now, &key, trying);

        if let (Some(offer), Some(negotiated)) = (&offer, &caller_endpoint.negotiated) {
            let audio = offer.audio().map(|(_, m)| m);
            self.outputs
                .push_back(Output::Media(MediaCommand::Configure {
                    endpoint: caller_endpoint.id,
                    remote: audio.and_then(|m| m.rtp_address()),
                    negotiated: negotiated.clone(),
                    direction: audio.map(|m| m.direction).unwrap_or_default(),
                    rtcp_mux: audio.is_some_and(|m| m.rtcp_mux),
                    latch: self.latch_for(from.ip()),
                }));
        }
        if queue.is_none() {
            self.outputs.push_back(Output::Media(MediaCommand::Bridge {
                a: caller_endpoint.id,
                b: callee_endpoint.id,
            }));
        }

        let call_key = CallKey(self.next_id());
        self.stats.calls_started += 1;
        self.outputs
            .push_back(Output::Event(SwitchEvent::CallStarted {
                call_id: request.call_id().unwrap_or_default().to_owned(),
                caller: caller_user.clone(),
                callee: callee_user.clone(),
            }));
        self.dialogs.insert(dialog.key(), (call_key, Side::Caller));
        self.server_txns.insert(key.clone(), call_key);
        let cdr_id = self.record_id(now);
        let call = Call {
            key: call_key,
            cdr_id,
            caller_user,
            callee_user: callee_user.clone(),
            state: CallState::Routing,
            caller: InboundLeg {
                invite: request.clone(),
                server_txn: Some(key),
                dialog,
                endpoint: caller_endpoint,
                delayed_offer: offer.is_none(),
                pending_2xx: None,
                awaiting_final: true,
                trusted,
            },
            callee: OutboundLeg {
                trunk: trunk_route,
                ..OutboundLeg::new(callee_endpoint)
            },
            started_unix_ms: self.unix_ms(now),
            answered_unix_ms: None,
            relay: None,
            callee_pending_2xx: None,
            queue: None,
            consult: None,
            past_consults: Vec::new(),
            transfer: None,
            transferred_to: None,
            first_fork: 0,
            ring_deadline: None,
            scheduled: None,
            outdial: None,
            outputs: std::collections::VecDeque::new(),
        };
        self.calls.insert(call_key, Box::new(call));
        self.route_endpoints(call_key);
        if let Some((trunk, max)) = inbound_channel {
            self.trunk_channels.acquire(call_key, None, &trunk, max);
        }
        if let Some(queue) = &queue {
            let max = self.dial_plan.queue_limits.get(queue).copied().unwrap_or(0);
            self.queue_calls.acquire(call_key, None, queue, max);
        }
        self.admission
            .hold(call_key, from.ip(), super::admission::PAIRS_PER_CALL);
        if let Some(queue) = queue {
            self.answer_queue_call(now, call_key, queue);
            return;
        }
        self.persist_cdr_in_progress(now, call_key);
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.ring_deadline = Some(now + self.cfg.ring_timeout);
        }
        self.schedule(call_key);
        if self
            .calls
            .get(&call_key)
            .is_some_and(|c| c.callee.trunk.is_some())
        {
            if !self.ring_next_gateway(now, call_key, LegRole::Callee) {
                self.end_call(now, call_key, Ending::Failed(503), None);
            }
            return;
        }
        let request = self.with_authenticated_from(&request, call_key);
        self.ring(
            now,
            call_key,
            LegRole::Callee,
            &request,
            &callee_user,
            targets,
            None,
            None,
        );
    }

    /// The registered contacts of an extension, as (contact, destination, transport).
    pub(super) fn targets_of(&self, now: Instant, user: &str) -> Vec<Target> {
        let Ok(aor) = Aor::new(user, &self.cfg.domain) else {
            return Vec::new();
        };
        self.registrar
            .lookup(now, &aor)
            .into_iter()
            .filter_map(|b| Some((b.contact_uri.clone(), binding_destination(b)?, b.transport)))
            .take(MAX_FORKS)
            .collect()
    }

    /// An INVITE for a new outbound leg to `contact`, with its own Call-ID and From tag, the
    /// caller's identity and `offer` as SDP.
    pub(super) fn fork_invite(
        &mut self,
        original: &Message,
        callee_user: &str,
        contact: String,
        transport: Transport,
        offer: String,
    ) -> Message {
        let via = self.our_via(transport);
        let call_id = format!("{}@{}", self.token(20), self.advertised_ip());
        let from_tag = self.token(10);
        let mut from = original
            .from()
            .cloned()
            .expect("validated request has From");
        from.params.retain(|(n, _)| n != "tag");
        from.set_param("tag", Some(from_tag));
        let max_forwards = original
            .max_forwards()
            .unwrap_or(70)
            .saturating_sub(1)
            .max(1);
        let contact_header = self.our_contact(transport);
        let domain = self.cfg.domain.clone();
        let mut invite = Message::request(Method::Invite, contact)
            .with("Via", via)
            .with("Max-Forwards", max_forwards.to_string())
            .with("From", from.render())
            .with("To", format!("<sip:{callee_user}@{domain}>"))
            .with("Call-ID", call_id)
            .with("CSeq", "1 INVITE")
            .with("Contact", contact_header)
            .with("Allow", super::switch::ALLOW)
            .with("User-Agent", "Switchboard");
        invite.set_body("application/sdp", Bytes::from(offer));
        invite
    }

    /// The callee side's fork `index` won (see [`super::outbound`]): a queue call's agent
    /// connects; a plain call is answered to the caller ([`Call::answer_caller`]).
    pub(super) fn on_callee_answered(&mut self, now: Instant, call_key: CallKey, index: usize) {
        let answered_at = self.unix_ms(now);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        if let Some(dialog) = call.callee.forks[index].dialog.as_ref() {
            self.dialogs.insert(dialog.key(), (call_key, Side::Callee));
        }
        if call.queue.is_some() {
            if self.placing_customer(call_key) {
                self.on_outdial_agent_answered(now, call_key);
            } else {
                self.on_agent_answered(now, call_key, index);
            }
            return;
        }
        self.stats.calls_answered += 1;
        let ack_window = self.ack_window();
        self.step_call_sip(now, call_key, |call, sip| {
            call.answer_caller(now, sip, ack_window, answered_at)
        });
        self.persist_cdr_in_progress(now, call_key);
    }

    /// Sends a 2xx to the caller and keeps retransmitting it (see [`Call::send_caller_2xx`]),
    /// waiting for its ACK as long as the source limits say.
    pub(super) fn send_caller_2xx(&mut self, now: Instant, call_key: CallKey, ok: Message) {
        let ack_window = self.ack_window();
        self.step_call_sip(now, call_key, |call, sip| {
            call.send_caller_2xx(now, sip, ack_window, ok)
        });
    }

    /// Sends again the call's 2xx waiting for their ACK where due, and ends the call when one
    /// waited in vain (see [`Call::retransmit_2xx`]).
    pub(super) fn retransmit_2xx(&mut self, now: Instant, call_key: CallKey) {
        let no_ack = self.step_call_sip(now, call_key, |call, sip| call.retransmit_2xx(now, sip));
        if no_ack == Some(true) {
            self.end_call(now, call_key, Ending::NoAck, None);
        }
    }

    pub(super) fn on_ring_timeout(&mut self, now: Instant, call_key: CallKey) {
        let ringing = self
            .calls
            .get(&call_key)
            .is_some_and(|c| c.state == CallState::Routing && c.callee.winner.is_none());
        if ringing {
            self.end_call(now, call_key, Ending::NoAnswer, None);
        }
    }

    /// CANCEL from the caller (RFC 3261 §9.2).
    pub(super) fn on_cancel(&mut self, now: Instant, key: TransactionKey, cancel: Message) {
        let invite_key = self.layer.find_invite_server_for_cancel(&cancel);
        let call_key = invite_key
            .as_ref()
            .and_then(|k| self.server_txns.get(k))
            .copied();
        match (invite_key, call_key) {
            (Some(_), Some(call_key)) => {
                let mut ok = Message::response_to(&cancel, 200, "OK");
                if let Some(call) = self.calls.get(&call_key) {
                    ok.set(
                        "To",
                        tagged_to(&call.caller.invite, &call.caller.dialog.local_tag),
                    );
                }
                self.respond(now, &key, ok);
                let ringing = self
                    .calls
                    .get(&call_key)
                    .is_some_and(|c| c.state == CallState::Routing && c.caller.awaiting_final);
                if ringing {
                    self.end_call(now, call_key, Ending::Cancelled, None);
                }
            }
            (Some(_), None) => {
                // The INVITE is still being authenticated or already answered: nothing to stop.
                let ok = Message::response_to(&cancel, 200, "OK");
                self.respond(now, &key, ok);
            }
            (None, _) => self.respond_simple_to(now, &key, &cancel, 481, NO_SUCH_DIALOG),
        }
    }

    /// Ends a call however it stands ([`Call::end`]): the switch closes its endpoints, settles
    /// its admission, trunk channel and queue slot, writes the CDR and keeps a tombstone.
    /// `bye` is the BYE that ended it, whose 200 waits for the CDR.
    pub(super) fn end_call(
        &mut self,
        now: Instant,
        call_key: CallKey,
        ending: Ending,
        bye: Option<(TransactionKey, Message)>,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if call.state == CallState::Ended {
            if let Some((key, request)) = bye {
                let ok = Message::response_to(&request, 200, "OK");
                self.respond(now, &key, ok);
            }
            return;
        }
        // A customer leg the switch is still placing has no dialog yet (click-to-dial), and
        // a leg a transfer moved to another call keeps its dialog there.
        let caller_dialog =
            self.dialogs.get(&call.caller.dialog.key()) == Some(&(call_key, Side::Caller));
        let sip = self.local_sip();
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let ended = call.end(&sip, ending, caller_dialog);
        self.drain_call(now, call_key);
        if let Some(endpoint) = &ended.transfer_endpoint {
            self.close_endpoint(endpoint);
        }
        if let Some(consult) = &ended.consult {
            self.forget_consult(consult);
        }
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let linger = now + self.cfg.timing.t1 * 64;
        let endpoints = [call.caller.endpoint.clone(), call.callee.endpoint.clone()];
        for endpoint in &endpoints {
            self.close_endpoint(endpoint);
        }
        self.admission.settle(call_key);
        self.trunk_channels.release_call(call_key);
        self.queue_calls.release_call(call_key);
        let token = self.persist_cdr(now, call_key, ending);
        if let (Some(token), Some((key, request))) = (token, bye) {
            let ok = Message::response_to(&request, 200, "OK");
            self.held_replies.insert(token, (key, ok));
        }
        self.bury(call_key, linger);
        self.lingering.push_back((linger, call_key));
    }
}

impl Call {
    /// A callee's phone rings (or sends early media, which configures the callee side's
    /// endpoint, its media latching as `latch` says): the caller hears of it as 180 or 183
    /// with our Contact (and our answer to its offer when the phone sent SDP) while the call
    /// still rings. Queue callers were answered already and hear music instead.
    pub(super) fn relay_provisional(
        &mut self,
        sip: &LocalSip,
        latch: LatchPolicy,
        response: &Message,
    ) {
        if self.queue.is_some() || self.state != CallState::Routing || !self.caller.awaiting_final {
            return;
        }
        let early_sdp = response.carries_sdp();
        if early_sdp {
            self.configure(Side::Callee, latch, response);
        }
        let code = response.status().unwrap_or(180);
        let reason = response.reason().unwrap_or("Ringing");
        let mut relay = self.caller_response(sip, code, reason);
        if early_sdp
            && !self.caller.delayed_offer
            && let Some(sdp) = caller_answer_sdp(self)
        {
            relay.set_body("application/sdp", Bytes::from(sdp));
            // The caller offered, and our early answer takes its offer up: early media may
            // flow to it (only to its own signalling IP, see `media::relay::source`).
            let endpoint = self.caller.endpoint.id;
            self.media(MediaCommand::Establish { endpoint });
        }
        if let Some(key) = self.caller.server_txn.clone() {
            self.respond(key, relay);
        }
    }

    /// The callee answered a plain call: the call is answered at `answered_unix_ms`, the
    /// caller gets our 2xx (our answer to its offer, or our offer when it sent none), kept
    /// until its ACK ([`Call::send_caller_2xx`]), and the runtime hears of it.
    pub(super) fn answer_caller(
        &mut self,
        now: Instant,
        sip: &LocalSip,
        ack_window: std::time::Duration,
        answered_unix_ms: i64,
    ) {
        self.state = CallState::Answered;
        self.answered_unix_ms = Some(answered_unix_ms);
        let mut ok = self.caller_response(sip, 200, "OK");
        ok.push("Allow", super::switch::ALLOW);
        let sdp = if self.caller.delayed_offer {
            Some(self.caller.endpoint.local.render_offer())
        } else {
            caller_answer_sdp(self)
        };
        if let Some(sdp) = sdp {
            ok.set_body("application/sdp", Bytes::from(sdp));
        }
        self.output(Output::Event(SwitchEvent::CallAnswered {
            call_id: self.caller.dialog.call_id.clone(),
        }));
        self.send_caller_2xx(now, sip, ack_window, ok);
    }

    /// Answers the caller's INVITE with the 2xx `ok` through its transaction and keeps it
    /// until the ACK, `ack_window` at most: sent again from T1 on over UDP; over TCP or TLS
    /// not sent again, but the ACK must still come (a Timer H analogue).
    pub(super) fn send_caller_2xx(
        &mut self,
        now: Instant,
        sip: &LocalSip,
        ack_window: std::time::Duration,
        ok: Message,
    ) {
        let Some(key) = self.caller.server_txn.clone() else {
            return;
        };
        self.caller.awaiting_final = false;
        let first = if self.caller.dialog.transport.is_reliable() {
            ack_window
        } else {
            sip.timing.t1
        };
        self.caller.pending_2xx = Some(Pending2xx::new(&ok, now, first, now + ack_window));
        self.respond(key, ok);
    }

    /// Our 2xx waiting for their ACK (the caller's INVITE's, or a re-INVITE's relayed from
    /// either phone) are sent again when due, doubling up to T2, until they give up
    /// (§13.3.1.4): `true` when one did, and the call must end.
    pub(super) fn retransmit_2xx(&mut self, now: Instant, sip: &LocalSip) -> bool {
        [Side::Caller, Side::Callee]
            .into_iter()
            .any(|side| self.retransmit_2xx_on(now, sip, side))
    }

    /// [`Call::retransmit_2xx`] on `side`.
    fn retransmit_2xx_on(&mut self, now: Instant, sip: &LocalSip, side: Side) -> bool {
        let peer = match side {
            Side::Caller => Some((self.caller.dialog.peer, self.caller.dialog.transport)),
            Side::Callee => self.winner_leg().map(|leg| (leg.dest, leg.transport)),
        };
        let Some((to, transport)) = peer else {
            return false;
        };
        let pending = self.pending_2xx_mut(side);
        let Some(state) = pending.as_mut() else {
            return false;
        };
        if state.next > now {
            return false;
        }
        if now >= state.give_up {
            *pending = None;
            tracing::info!(call_id = %self.caller.dialog.call_id, ?side, "no ACK for 2xx: ending call");
            return true;
        }
        let bytes = state.bytes.clone();
        state.interval = (state.interval * 2).min(sip.timing.t2);
        state.next = (now + state.interval).min(state.give_up);
        if !transport.is_reliable() {
            self.output(Output::Transmit {
                to,
                transport,
                bytes,
            });
        }
        false
    }

    /// A response to the caller's INVITE with our To tag (and our Contact when it is one
    /// that may establish the dialog).
    pub(super) fn caller_response(&self, sip: &LocalSip, code: u16, reason: &str) -> Message {
        let mut r = Message::response_to(&self.caller.invite, code, reason);
        r.set(
            "To",
            tagged_to(&self.caller.invite, &self.caller.dialog.local_tag),
        );
        if (101..300).contains(&code) {
            r.push("Contact", sip.contact(self.caller.dialog.transport));
        }
        r
    }

    /// Hangs up the call's own legs as `ending` says: a caller still waiting for a final
    /// answer gets one, else a BYE (unless its phone `left` already or `caller_dialog` is
    /// false: the dialog is not the call's); an answered callee a BYE (the same way), ringing
    /// forks (the callee's, a click-to-dial customer's) a CANCEL, and a re-INVITE or UPDATE
    /// still being relayed 487 (RFC 3261 §15.1.2).
    pub(super) fn hang_up(
        &mut self,
        sip: &LocalSip,
        ending: Ending,
        left: Option<Side>,
        caller_dialog: bool,
    ) {
        let byes = |side: Side| ending.byes(side) && left != Some(side);
        if self.caller.awaiting_final {
            let (code, reason) = match ending {
                Ending::Cancelled => (487, "Request Terminated"),
                Ending::NoAnswer => (408, "Request Timeout"),
                Ending::Failed(code) => (code, failure_reason(code)),
                Ending::Shutdown => (503, "Service Unavailable"),
                _ => (500, "Server Internal Error"),
            };
            let response = self.caller_response(sip, code, reason);
            if let Some(key) = self.caller.server_txn.clone() {
                self.respond(key, response);
            }
        } else if byes(Side::Caller) && caller_dialog {
            let dialog = &mut self.caller.dialog;
            let bye = dialog.request(Method::Bye);
            let (to, transport) = (dialog.peer, dialog.transport);
            self.send_bye(to, transport, bye);
        }
        if self.callee.winner.is_some() {
            if byes(Side::Callee)
                && let Some(leg) = self.winner_leg_mut()
                && let Some(dialog) = leg.dialog.as_mut()
            {
                let bye = dialog.request(Method::Bye);
                let (to, transport) = (leg.dest, leg.transport);
                self.send_bye(to, transport, bye);
            }
        } else {
            self.cancel_forks(LegRole::Callee, &[]);
        }
        if self.outdial.as_ref().is_some_and(|o| !o.connected) {
            self.cancel_forks(LegRole::Outdial, &[]);
        }
        self.end_relay(487, "Request Terminated");
    }

    /// Ends the call however it stands: a ringing transfer is cancelled, the call's own legs
    /// are hung up ([`Call::hang_up`], sparing a referrer that already left), a consult is
    /// dropped with it, its recording stops, and nothing is kept to send again. Returns what
    /// the switch must close and stop routing.
    pub(super) fn end(&mut self, sip: &LocalSip, ending: Ending, caller_dialog: bool) -> EndedLegs {
        let transfer = self.drop_transfer();
        let left = transfer.as_ref().and_then(|(r, _)| r.left_side());
        self.hang_up(sip, ending, left, caller_dialog);
        let consult = self.drop_consult();
        if let Some(q) = self.queue.as_ref()
            && q.recording
        {
            let recording = crate::media::recorder::RecordingId(q.interaction.0.clone());
            self.media(MediaCommand::StopRecording { recording });
        }
        self.state = CallState::Ended;
        self.caller.awaiting_final = false;
        self.caller.pending_2xx = None;
        EndedLegs {
            transfer_endpoint: transfer.map(|(_, endpoint)| endpoint),
            consult,
        }
    }

    /// Sends `bye`, whose answer does not matter.
    pub(super) fn send_bye(&mut self, to: SocketAddr, transport: Transport, bye: Message) {
        self.outputs.push_back(CallOutput::Request {
            to,
            transport,
            request: bye,
            purpose: ClientPurpose::FireAndForget,
            relays: None,
        });
    }
}

/// The legs an ended call leaves for the switch ([`Call::end`]).
pub(super) struct EndedLegs {
    /// A ringing transfer's endpoint.
    transfer_endpoint: Option<Endpoint>,
    /// A consult dropped with the call.
    consult: Option<super::consult::DroppedConsult>,
}

/// Where to send requests for a binding: the REGISTER's source (NAT-friendly, RFC 3581
/// spirit; over TCP, the connection it came on while it lasts). Over TCP the Contact's port
/// is used when the Contact names the source's own IP (the phone listens there once that
/// connection is gone); any other address is never connected to, or a REGISTER could make
/// the switch open connections wherever it names (SSRF).
///
/// A TLS binding has no such fallback: the switch opens no TLS connections (a phone seldom
/// has a certificate the switch could verify), so its connection is its only way in.
fn binding_destination(b: &crate::sip::registrar::Binding) -> Option<SocketAddr> {
    let source = b.received?;
    if b.transport == Transport::Tcp
        && let Some((host, port)) = uri_host_port(&b.contact_uri)
        && host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical() == source.ip().to_canonical())
    {
        return Some(SocketAddr::new(source.ip(), port.unwrap_or(5060)));
    }
    Some(source)
}

fn tagged_to(invite: &Message, tag: &str) -> String {
    let to = invite.header("To").unwrap_or_default();
    format!("{to};tag={tag}")
}

fn caller_answer_sdp(call: &Call) -> Option<String> {
    let offer = SessionDescription::parse(call.caller.invite.body()).ok()?;
    let (answer, _) = call.caller.endpoint.local.to_answer(&offer)?;
    Some(answer.to_string())
}

pub(super) fn failure_reason(code: u16) -> &'static str {
    match code {
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Call Failed",
    }
}
