//! A call as its own machine: the endpoint/connection split of issue 14 item 1, after
//! quinn-proto's `Endpoint`/`Connection`. What a call decides from its own state is a method
//! of [`Call`] that queues what it wants done on the call itself ([`Call::poll_output`]); the
//! switch, as the endpoint, finds the call (by dialog, transaction or interaction), hands it
//! the event and carries out its outputs in order ([`Switch::drain_call`]), so nothing the
//! call queued can overtake what it queued before.
//!
//! A call's outputs ([`CallOutput`]) are outputs for the runtime (media, events) or SIP it
//! asks the endpoint to send: an in-dialog request in a new client transaction, a response
//! in a server transaction, an ACK for a 2xx. The call builds the message from its own
//! dialogs with our Contact and the profile's timers handed in ([`LocalSip`]); the switch adds
//! what only it has (a fresh branch from its RNG in our Via, the transaction layer, the maps
//! that route answers back to the call) and tells the call which client transaction it got
//! ([`Call::request_started`]). Policy reaches the call as arguments too: the queue's
//! treatment from the dial plan, the latching of a leg's media from the source limits
//! ([`Latching`]: a leg's by its signalling peer, or a fork's by where its INVITE went, worked
//! out only for the one the step needs).
//!
//! Moved here so far: connecting an answering agent, hold, resume, the consult swap and the
//! conference (this file); the courtesy offer's start, keys and end (`courtesy.rs`); the ACK of
//! a 2xx, the relay of re-INVITE, UPDATE and INFO to the other leg with its 491 glare, the ACK
//! of a relayed 2xx and the 2xx sent again until its ACK (`in_dialog.rs`); the agent's phone
//! holding by re-INVITE (`hold.rs`); hanging up the call's own legs when it ends (final answer
//! or BYE to the caller, BYE or CANCEL to the callee side, 487 to a relay: `Call::hang_up` in
//! `invite.rs`), the caller's 2xx kept until its ACK and every 2xx of ours sent again on its
//! timer until then (`Call::retransmit_2xx`, `invite.rs`), and cancelling a leg's ringing
//! forks, the callee's, a consult's or a transfer's (`Call::cancel_forks`); the switch's own requests in a call's dialogs (`Call::dialog_request`): the NOTIFYs
//! of a REFER's progress (`transfer.rs`), the re-offer to a transferee its referrer held and
//! the ACK of its 2xx (`bridged_transfer.rs`); the consulted party's requests in the consult
//! leg's dialog, its re-INVITE answered and its BYE (`Call::on_consult_request`, `consult.rs`),
//! the switch forgetting the dialog and ending the consult; the answers to an outbound leg's
//! forks (`outbound.rs`): a CANCEL that waited for a provisional answer, the callee's ringing
//! and early media relayed to the caller with our SDP (`Call::relay_provisional`, `invite.rs`)
//! and a click-to-dial customer's early media to its agent (`outdial.rs`), the winning 2xx
//! acknowledged (the ACK kept to send again as it was), the other forks cancelled, a late one
//! hung up, the caller answered and bridged (`Call::answer_caller`), and what a failed fork
//! comes to for its leg, the best failure once every fork failed (`Call::on_fork_failure`);
//! what the winning fork of each role does to the call: the agent bridged to the consulted
//! party and the contact center told (`Call::consult_answered`, `consult.rs`), the answered
//! transfer leg taken out with the referrer's NOTIFY (`Call::transfer_answered`,
//! `bridged_transfer.rs`), a click-to-dial customer's leg made the caller side with the
//! agent's ringing stopped (`Call::outdial_answered`, `outdial.rs`); a dropped consult's
//! forks cancelled, its ringing tone stopped and its party sent BYE (`Call::drop_consult`);
//! the warm transfer, the consult leg taking the agent's place with the agent's leg released
//! and the customer bridged to the party (`Call::consult_transfer`, `consult.rs`); a
//! transfer's hand-over, the new leg put in the old phone's place with that phone sent BYE
//! and the other party bridged and re-offered (`Call::take_over`, `bridged_transfer.rs`); a
//! ringing transfer stopped (`Call::drop_transfer`); ending the call, its ringing transfer
//! and consult dropped, its legs hung up and its recording stopped (`Call::end`,
//! `invite.rs`); and which of its deadlines are due (`Call::due`, `timers.rs`). The switch
//! passes the fork's latching in and keeps each follow-up that needs its maps or its
//! resources: dialog and consult dialog routing, the endpoint index, the port pool (closing
//! endpoints), stats, admission, trunk channels and failover, the agent's queue, CDRs (a
//! record id comes from its RNG) and tombstones. Each feature keeps its call methods beside
//! its switch side. Setting up legs stays a switch method that looks the call up, because it
//! needs the port pool and the registrar; and CANCELs for a call already ended come from its
//! tombstone, which is the endpoint's memory of the call, not the call.

use super::dial_plan::QueueTreatment;
use super::model::*;
use super::switch::{ClientPurpose, Switch};
use crate::sip::message::Message;
use crate::sip::registrar::Transport;
use crate::sip::transaction::{Timing, TransactionKey};
use std::net::SocketAddr;
use std::time::Instant;

/// What a call asks of the switch: an output for the runtime, or SIP that only the endpoint
/// can send, because it goes through the transaction layer or needs a fresh branch.
#[derive(Debug)]
pub(super) enum CallOutput {
    /// For the runtime as it is (media, events, a 2xx sent again as it was).
    Output(Output),
    /// Start a client transaction for `request` (built from one of the call's dialogs)
    /// towards `to`, after putting our Via with a fresh branch on top; the call hears how it
    /// went ([`Call::request_started`]). `relays` is the server transaction whose request
    /// this one relays: the switch routes it (a CANCEL) to the call while it lives.
    Request {
        to: SocketAddr,
        transport: Transport,
        request: Message,
        purpose: ClientPurpose,
        relays: Option<TransactionKey>,
    },
    /// Answer the server transaction `key` with `response`.
    Respond {
        key: TransactionKey,
        response: Message,
    },
    /// Send `cancel`, the CANCEL of one of the call's INVITEs, which carries that INVITE's
    /// Via (RFC 3261 §9.1); its answer does not matter.
    Cancel {
        to: SocketAddr,
        transport: Transport,
        cancel: Message,
    },
    /// Send `ack` (for a 2xx, RFC 3261 §13.2.2.4) outside any transaction, with our Via and a
    /// fresh branch on top. When it acknowledges the 2xx of `fork` (the leg's role and the
    /// fork's index), the call keeps what was sent, to send it again as it is should the 2xx
    /// come again ([`Call::ack_sent`]).
    Ack {
        to: SocketAddr,
        transport: Transport,
        ack: Message,
        fork: Option<(super::outbound::LegRole, usize)>,
    },
}

/// What a call needs to know of the endpoint it runs in to build its own SIP: where the
/// switch is reached (our Contact) and the profile's timers. The switch hands a copy to each
/// step; what comes from its RNG (branches) it adds as it sends.
#[derive(Debug, Clone, Copy)]
pub(super) struct LocalSip {
    /// The address and port we put in Via and Contact.
    pub(super) advertised: SocketAddr,
    /// Our port on TLS legs, when TLS is on.
    pub(super) tls_port: Option<u16>,
    pub(super) timing: Timing,
}

impl LocalSip {
    /// Our port on `transport`.
    fn port(&self, transport: Transport) -> u16 {
        match (transport, self.tls_port) {
            (Transport::Tls, Some(port)) => port,
            _ => self.advertised.port(),
        }
    }

    fn host(&self) -> String {
        crate::sip::message::host_for_uri(&self.advertised.ip().to_string()).into_owned()
    }

    /// Our Contact for a leg on `transport`.
    pub(super) fn contact(&self, transport: Transport) -> String {
        let mut c = format!(
            "<sip:{}@{}:{}",
            super::switch::CONTACT_USER,
            self.host(),
            self.port(transport)
        );
        if let Some(param) = transport.uri_param() {
            c.push_str(";transport=");
            c.push_str(param);
        }
        c.push('>');
        c
    }

    /// A 2xx to the (re-)INVITE `request` from a leg on `transport`, with our Contact, what
    /// we allow and our SDP `answer`.
    pub(super) fn ok_with_answer(
        &self,
        request: &Message,
        transport: Transport,
        answer: String,
    ) -> Message {
        let mut ok = Message::response_to(request, 200, "OK");
        ok.push("Contact", self.contact(transport));
        ok.push("Allow", super::switch::ALLOW);
        ok.set_body("application/sdp", bytes::Bytes::from(answer));
        ok
    }

    /// Our Via for a request leaving on `transport` with `branch`.
    pub(super) fn via(&self, transport: Transport, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {}:{};branch={branch};rport",
            transport.via_name(),
            self.host(),
            self.port(transport)
        )
    }
}

impl Call {
    /// The next thing the call wants done, in the order it decided them.
    pub(super) fn poll_output(&mut self) -> Option<CallOutput> {
        self.outputs.pop_front()
    }

    /// Queues `output` for the runtime.
    pub(super) fn output(&mut self, output: Output) {
        self.outputs.push_back(CallOutput::Output(output));
    }

    /// Queues the answer to server transaction `key`.
    pub(super) fn respond(&mut self, key: TransactionKey, response: Message) {
        self.outputs
            .push_back(CallOutput::Respond { key, response });
    }

    /// Queues the answer `code` to `request`, in server transaction `key`, with nothing of
    /// ours in it (see [`super::switch::simple_response`]).
    pub(super) fn respond_simple(
        &mut self,
        key: TransactionKey,
        request: &Message,
        code: u16,
        reason: &str,
    ) {
        let response = super::switch::simple_response(request, code, reason);
        self.respond(key, response);
    }

    /// Queues `request` (one of the call's dialogs', see [`Call::dialog_request`]) for a new
    /// client transaction towards `to`, for `purpose`.
    pub(super) fn send_request(
        &mut self,
        to: SocketAddr,
        transport: Transport,
        request: Message,
        purpose: ClientPurpose,
    ) {
        self.outputs.push_back(CallOutput::Request {
            to,
            transport,
            request,
            purpose,
            relays: None,
        });
    }

    /// How the request the call asked for with `purpose` went: `txn` is its client
    /// transaction, `None` when it could not be sent.
    pub(super) fn request_started(&mut self, purpose: &ClientPurpose, txn: Option<TransactionKey>) {
        if let ClientPurpose::Relay { .. } = purpose {
            self.relay_started(txn);
        }
    }

    /// CANCELs every fork of the outbound leg `role` still ringing whose index is not in
    /// `keep` (a fork without a provisional answer yet is cancelled once it has one).
    pub(super) fn cancel_forks(&mut self, role: LegRole, keep: &[usize]) {
        let Some(leg) = self.outbound_mut(role) else {
            return;
        };
        for (cancel, to, transport) in leg.cancel_ringing(keep) {
            self.outputs.push_back(CallOutput::Cancel {
                to,
                transport,
                cancel,
            });
        }
    }

    /// Puts the customer of a connected queue call on or off hold: music to the customer
    /// (which unbridges it, so the agent hears nothing) or the two bridged again; during an
    /// answered consult, hold and resume swap whom the agent talks to instead. A no-op when
    /// the customer already is in that state or the call is not connected.
    pub fn set_held(&mut self, held: bool, by_phone: bool) {
        if self.swap_consult(held) {
            return;
        }
        if self.state == CallState::Ended || self.callee.winner.is_none() {
            return;
        }
        let (customer, agent) = (self.caller.endpoint.id, self.callee.endpoint.id);
        let Some(q) = self.queue.as_mut() else { return };
        if q.held == held {
            return;
        }
        q.held = held;
        let interaction = q.interaction.clone();
        if held {
            self.media(MediaCommand::PlayMusic {
                endpoint: customer,
                music: None,
            });
        } else {
            self.media(MediaCommand::StopMusic { endpoint: customer });
            self.media(MediaCommand::Bridge {
                a: customer,
                b: agent,
            });
        }
        self.output(Output::Event(SwitchEvent::QueueCallHeld {
            interaction,
            held,
            by_phone,
        }));
    }

    /// Hold and resume while a consult is answered swap who the agent talks to: the
    /// customer (the consulted party parked on music) or the party (the customer on music).
    /// `true` when handled here.
    fn swap_consult(&mut self, hold_customer: bool) -> bool {
        let Some(consult) = self.consult.as_mut() else {
            return false;
        };
        let (customer, agent, party) = (
            self.caller.endpoint.id,
            self.callee.endpoint.id,
            consult.leg.endpoint.id,
        );
        let (parked, talking, bridge) = match (consult.mode, hold_customer) {
            (ConsultMode::Parked, true) => {
                consult.mode = ConsultMode::Talking;
                (customer, party, (agent, party))
            }
            (ConsultMode::Talking, false) => {
                consult.mode = ConsultMode::Parked;
                (party, customer, (customer, agent))
            }
            _ => return false,
        };
        let Some(q) = self.queue.as_mut() else {
            return false;
        };
        q.held = hold_customer;
        let interaction = q.interaction.clone();
        self.media(MediaCommand::PlayMusic {
            endpoint: parked,
            music: None,
        });
        self.media(MediaCommand::StopMusic { endpoint: talking });
        self.media(MediaCommand::Bridge {
            a: bridge.0,
            b: bridge.1,
        });
        self.output(Output::Event(SwitchEvent::QueueCallHeld {
            interaction,
            held: hold_customer,
            by_phone: false,
        }));
        true
    }

    /// Customer, agent and the answered consult's party all hear each other (mix-minus);
    /// a recorded call adds the party to its agent channel. A no-op while the consult
    /// rings or once the call ended.
    pub fn conference(&mut self) {
        let Some(consult) = self.consult.as_mut() else {
            return;
        };
        if consult.mode == ConsultMode::Ringing || self.state == CallState::Ended {
            return;
        }
        consult.mode = ConsultMode::Conference;
        let party = consult.leg.endpoint.id;
        let (customer, agent) = (self.caller.endpoint.id, self.callee.endpoint.id);
        let mut recording = None;
        if let Some(q) = self.queue.as_mut() {
            q.held = false;
            if q.recording {
                recording = Some(crate::media::recorder::RecordingId(q.interaction.0.clone()));
            }
        }
        for endpoint in [customer, party] {
            self.media(MediaCommand::StopMusic { endpoint });
        }
        self.media(MediaCommand::Mix {
            endpoints: vec![customer, agent, party],
        });
        if let Some(recording) = recording {
            self.media(MediaCommand::RecordAgentSide {
                recording,
                endpoint: party,
            });
        }
    }

    /// The offered party's phone answered (fork `index` of the callee side): the music
    /// stops, customer and agent are bridged with `treatment`'s noise suppression, the first
    /// agent to connect starts the recording (after a transfer the new agent answers on the
    /// same switch endpoint, so the recording goes on), and the contact center hears who
    /// answered. `false` when the fork was no offer.
    pub fn connect_agent(&mut self, index: usize, treatment: QueueTreatment) -> bool {
        let (a, b) = (self.caller.endpoint.id, self.callee.endpoint.id);
        let Some(party) = self.callee.forks.get(index).and_then(|f| f.agent.clone()) else {
            return false;
        };
        let Some(q) = self.queue.as_mut() else {
            return false;
        };
        q.offered_to.clear();
        let interaction = q.interaction.clone();
        let courtesy = q.courtesy.take().is_some();
        let start_recording = treatment.record && !q.recording;
        q.recording |= start_recording;
        self.media(MediaCommand::StopMusic { endpoint: a });
        if courtesy {
            // An agent answered while the caller was being offered a callback.
            self.media(MediaCommand::DetectDigits {
                endpoint: a,
                enabled: false,
            });
        }
        self.media(MediaCommand::Bridge { a, b });
        self.media(MediaCommand::Denoise {
            endpoint: a,
            enabled: treatment.denoise_customer,
        });
        self.media(MediaCommand::Denoise {
            endpoint: b,
            enabled: treatment.denoise_agent,
        });
        if start_recording {
            self.media(MediaCommand::StartRecording {
                recording: crate::media::recorder::RecordingId(interaction.0.clone()),
                customer: a,
                agent_side: vec![b],
                dir: treatment.recordings_dir,
            });
        }
        self.output(Output::Queue(QueueEvent::OfferAnswered {
            interaction,
            party,
        }));
        true
    }

    pub(super) fn media(&mut self, command: MediaCommand) {
        self.output(Output::Media(command));
    }

    /// Takes what the phone agreed to in `message`'s SDP into `side`'s endpoint, its media
    /// latching as `latch` says.
    pub(super) fn configure(&mut self, side: Side, latch: LatchPolicy, message: &Message) {
        if let Some(command) =
            super::outbound::configure_endpoint(self.endpoint_mut(side), message, latch)
        {
            self.media(command);
        }
    }
}

/// Whose media latching a step of a call gets ([`Switch::step_call`]).
pub(super) enum Latching {
    /// The caller or callee leg's, by its signalling peer.
    Leg(Side),
    /// Already decided by the endpoint (a fork's, by the address its INVITE went to), so no
    /// leg's latching is worked out for nothing.
    Decided(LatchPolicy),
}

impl From<Side> for Latching {
    fn from(side: Side) -> Self {
        Latching::Leg(side)
    }
}

impl From<LatchPolicy> for Latching {
    fn from(latch: LatchPolicy) -> Self {
        Latching::Decided(latch)
    }
}

impl Switch {
    /// What a call needs to know of the switch to build its own SIP.
    pub(super) fn local_sip(&self) -> LocalSip {
        LocalSip {
            advertised: self.cfg.advertised,
            tls_port: self.cfg.tls_port,
            timing: self.cfg.timing,
        }
    }

    /// Carries out what `call_key`'s call queued, in order: outputs for the runtime go onto
    /// the switch's, SIP goes through the transaction layer with what only the endpoint adds
    /// (our Via with a fresh branch), and the layer's transmissions follow each send at once,
    /// so nothing the call queued later overtakes them. Then wakes the call at its earliest
    /// deadline, which the step may have brought nearer.
    pub(super) fn drain_call(&mut self, now: Instant, call_key: CallKey) {
        while let Some(output) = self.calls.get_mut(&call_key).and_then(|c| c.poll_output()) {
            match output {
                CallOutput::Output(output) => self.outputs.push_back(output),
                CallOutput::Request {
                    to,
                    transport,
                    mut request,
                    purpose,
                    relays,
                } => {
                    request.push_front("Via", self.our_via(transport));
                    let txn = self.request(now, to, transport, request, purpose.clone());
                    self.take_layer_transmits();
                    if let (Some(_), Some(server_txn)) = (&txn, relays) {
                        self.server_txns.insert(server_txn, call_key);
                    }
                    if let Some(call) = self.calls.get_mut(&call_key) {
                        call.request_started(&purpose, txn);
                    }
                }
                CallOutput::Cancel {
                    to,
                    transport,
                    cancel,
                } => {
                    self.request(now, to, transport, cancel, ClientPurpose::FireAndForget);
                    self.take_layer_transmits();
                }
                CallOutput::Respond { key, response } => {
                    self.respond(now, &key, response);
                    self.take_layer_transmits();
                }
                CallOutput::Ack {
                    to,
                    transport,
                    mut ack,
                    fork,
                } => {
                    ack.push_front("Via", self.our_via(transport));
                    let bytes = ack.to_bytes();
                    if let (Some((role, index)), Some(call)) = (fork, self.calls.get_mut(&call_key))
                    {
                        call.ack_sent(role, index, bytes.clone());
                    }
                    self.outputs.push_back(Output::Transmit {
                        to,
                        transport,
                        bytes,
                    });
                }
            }
        }
        self.schedule(call_key);
    }

    /// Hands `call_key`'s call `step` with what it needs of the endpoint (our SIP, and how
    /// the media of the leg `latching` names latches) and carries out what it decided; `None`
    /// when there is no such call.
    pub(super) fn step_call<R>(
        &mut self,
        now: Instant,
        call_key: CallKey,
        latching: impl Into<Latching>,
        step: impl FnOnce(&mut Call, &LocalSip, LatchPolicy) -> R,
    ) -> Option<R> {
        let latch = match latching.into() {
            Latching::Leg(side) => self.latch_for_leg(self.calls.get(&call_key)?.peer_ip(side)),
            Latching::Decided(latch) => latch,
        };
        self.step_call_sip(now, call_key, |call, sip| step(call, sip, latch))
    }

    /// [`Switch::step_call`] for a step that touches no media, so no latching is worked out.
    pub(super) fn step_call_sip<R>(
        &mut self,
        now: Instant,
        call_key: CallKey,
        step: impl FnOnce(&mut Call, &LocalSip) -> R,
    ) -> Option<R> {
        let sip = self.local_sip();
        let result = step(self.calls.get_mut(&call_key)?, &sip);
        self.drain_call(now, call_key);
        Some(result)
    }

    /// Moves the transaction layer's transmissions onto the switch's outputs now; its events
    /// wait for [`Switch::drain_layer`] at the end of the step.
    fn take_layer_transmits(&mut self) {
        let outputs = &mut self.outputs;
        self.layer.take_transmits(|to, transport, bytes| {
            outputs.push_back(Output::Transmit {
                to,
                transport,
                bytes,
            })
        });
    }

    /// Hands `interaction`'s call `step` and drains what it decided.
    fn on_interaction_call(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        step: impl FnOnce(&mut Call),
    ) {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return;
        };
        if let Some(call) = self.calls.get_mut(&call_key) {
            step(call);
        }
        self.drain_call(now, call_key);
    }

    /// Puts the customer of `interaction`'s call on or off hold (see [`Call::set_held`]).
    pub(super) fn set_held(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        held: bool,
        by_phone: bool,
    ) {
        self.on_interaction_call(now, interaction, |call| call.set_held(held, by_phone));
    }

    /// Starts a conference on `interaction`'s call (see [`Call::conference`]).
    pub(super) fn conference(&mut self, now: Instant, interaction: &InteractionId) {
        self.on_interaction_call(now, interaction, Call::conference);
    }
}

#[cfg(test)]
mod tests {
    use super::super::lab::{Lab, phone};
    use super::*;
    use crate::sip::message::Method;

    /// A lab where 1001 called 1002, who answered.
    fn a_call() -> Lab {
        let mut lab = Lab::new();
        lab.register("1001");
        lab.register("1002");
        let _ = lab.call("1001", "1002");
        lab
    }

    #[test]
    fn a_calls_request_leaves_with_our_via_in_a_client_transaction_in_order_with_its_media() {
        let mut lab = a_call();
        let (&call_key, call) = lab.sw.calls.iter_mut().next().expect("a live call");
        let endpoint = call.caller.endpoint.id;
        let dialog = call.dialog_mut(Side::Callee).expect("the callee answered");
        let (to, transport) = (dialog.peer, dialog.transport);
        let request = dialog.request(Method::Info);
        call.media(MediaCommand::StopMusic { endpoint });
        call.outputs.push_back(CallOutput::Request {
            to,
            transport,
            request,
            purpose: ClientPurpose::FireAndForget,
            relays: None,
        });
        call.media(MediaCommand::PlayRingback { endpoint });
        let client_txns = lab.sw.client_txns.len();

        lab.sw.drain_call(lab.now, call_key);

        let outputs: Vec<Output> = std::iter::from_fn(|| lab.sw.poll_output()).collect();
        assert!(matches!(
            outputs.as_slice(),
            [
                Output::Media(MediaCommand::StopMusic { .. }),
                Output::Transmit { .. },
                Output::Media(MediaCommand::PlayRingback { .. }),
            ]
        ));
        let Output::Transmit {
            to: sent_to, bytes, ..
        } = &outputs[1]
        else {
            unreachable!()
        };
        assert_eq!(*sent_to, phone("1002"));
        let sent = Message::parse(bytes).expect("valid SIP");
        assert_eq!(sent.method(), Some(&Method::Info));
        let via = sent.top_via().expect("our Via on top");
        assert_eq!(via.host, lab.sw.cfg.advertised.ip().to_string());
        assert!(
            via.param("branch")
                .is_some_and(|b| b.starts_with("z9hG4bK"))
        );
        assert_eq!(lab.sw.client_txns.len(), client_txns + 1);
        assert!(lab.sw.calls[&call_key].outputs.is_empty());
    }

    /// ```text
    ///  switch                      1001
    ///    |--- 200 (t = 0) ----------->|   no ACK comes
    ///    |--- 200 at 0.5, 1.5, 3.5 -->|   T1, doubling...
    ///    |--- 200 every 4 s --------->|   ...up to T2
    ///    |  32 s (64·T1): the call must end
    /// ```
    #[test]
    fn a_2xx_without_its_ack_is_sent_again_doubling_to_t2_until_the_call_gives_up() {
        let mut lab = a_call();
        let sip = lab.sw.local_sip();
        let call = lab.sw.calls.values_mut().next().expect("a live call");
        let ok = Message::response_to(&call.caller.invite, 200, "OK");
        let (start, t1) = (lab.now, sip.timing.t1);
        *call.pending_2xx_mut(Side::Caller) =
            Some(Pending2xx::new(&ok, start, t1, start + t1 * 64));

        let mut now = start;
        let mut sent = Vec::new();
        loop {
            let at = call.poll_timeout().expect("the 2xx waits for its ACK");
            assert!(at > now, "the deadline moves forward");
            now = at;
            if call.retransmit_2xx(now, &sip) {
                break;
            }
            while let Some(output) = call.poll_output() {
                assert!(matches!(
                    output,
                    CallOutput::Output(Output::Transmit { .. })
                ));
                sent.push((now - start).as_millis());
            }
        }

        assert_eq!(
            sent,
            [
                500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
            ]
        );
        assert_eq!(now - start, t1 * 64);
        assert!(call.caller.pending_2xx.is_none());
        assert_eq!(call.poll_timeout(), None);
    }
}
