//! Consult, warm transfer and three-way conference of a connected queue call. The consult is
//! the switch's own outbound leg to a third party (another agent's phone, or a number), with
//! its own media endpoint; the customer's and the agent's legs never change, so every step is
//! a change of bridge and the phones see nothing but audio.
//!
//! ```text
//!  customer         switch (C | A | P endpoints)            agent 1        party
//!     |<== RTP ======|  C<->A                        ==========>|              |
//!     |              |-- INVITE (consult, own Call-ID) ------------------------>|
//!     |<== music ====|  C: music, A<->P  (consulting)          |<== RTP ======>|
//!     |              |  A<->C, P: music (party parked: `resume`)               |
//!     |              |  mix C+A+P        (conference)                          |
//!     |<== RTP ======|  C<->P, BYE to agent 1 (warm transfer) ->|              |
//! ```
//! Hold and resume while consulting swap who the agent talks to, so the customer and the
//! party are never both held. An agent who hangs up while the party is on the line hands the
//! customer over (as Asterisk's attended transfer does): the customer is never dropped.

use super::model::*;
use super::outbound::configure_endpoint;
use super::switch::{ClientPurpose, Switch};
use crate::media::sdp::SessionDescription;
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use crate::sip::transaction::TransactionKey;
use bytes::Bytes;
use std::time::{Duration, Instant};

impl Switch {
    /// Starts a consult on a connected queue call; failures come back as
    /// [`QueueEvent::ConsultFailed`].
    pub(super) fn start_consult(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        party: Party,
        extension: String,
        ring_timeout: Duration,
    ) {
        let failed = QueueEvent::ConsultFailed {
            interaction: interaction.clone(),
            party: party.clone(),
            reason: ConsultFailure::Unavailable,
            agent_left: false,
        };
        let fail = |switch: &mut Switch, _reason: ConsultFailure| {
            switch.outputs.push_back(Output::Queue(failed.clone()));
        };
        let Some(&call_key) = self.interactions.get(&interaction) else {
            return;
        };
        let ready = self.calls.get(&call_key).is_some_and(|c| {
            c.state != CallState::Ended && c.callee.winner.is_some() && c.consult.is_none()
        });
        let targets = self.targets_of(now, &extension);
        // A number outside is consulted through a trunk.
        let route = if targets.is_empty() {
            self.agents_route(call_key, &extension)
        } else {
            None
        };
        if !ready || (targets.is_empty() && route.is_none()) {
            fail(self, ConsultFailure::Unavailable);
            return;
        }
        let Some(endpoint) = self.open_endpoint() else {
            fail(self, ConsultFailure::Unavailable);
            return;
        };
        self.set_held(now, &interaction, true, false);
        let id = self.next_id();
        let deadline = now + ring_timeout;
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        call.consult = Some(ConsultLeg {
            id,
            party,
            leg: OutboundLeg::new(endpoint),
            mode: ConsultMode::Ringing,
            ring_deadline: deadline,
            agent_left: false,
        });
        let original = call.caller.invite.clone();
        self.schedule(call_key);
        let role = LegRole::Consult(id);
        let rung = match route {
            Some(route) => usize::from(self.ring_route(now, call_key, role, route)),
            None => self.ring(
                now, call_key, role, &original, &extension, targets, None, None,
            ),
        };
        if rung == 0 {
            self.drop_consult(now, call_key);
            fail(self, ConsultFailure::Unavailable);
            return;
        }
        // The agent hears ringing while the party's phone rings (the customer hears music):
        // an answer bridges the agent to the party, which ends the tone; a consult that ends
        // unanswered stops it (see `drop_consult`).
        if let Some(agent) = self.calls.get(&call_key).map(|c| c.callee.endpoint.id) {
            self.outputs
                .push_back(Output::Media(MediaCommand::PlayRingback {
                    endpoint: agent,
                }));
        }
    }

    /// The consulted party's phone answered (fork `index` of the current consult won): the
    /// agent talks to it, or, when the agent already hung up, it takes the customer over.
    pub(super) fn on_consult_answered(&mut self, now: Instant, call_key: CallKey, index: usize) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let agent = call.callee.endpoint.id;
        let Some(interaction) = call.queue.as_ref().map(|q| q.interaction.clone()) else {
            return;
        };
        let Some(consult) = call.consult.as_mut() else {
            return;
        };
        consult.mode = ConsultMode::Talking;
        let (party, agent_left) = (consult.party.clone(), consult.agent_left);
        let consult_endpoint = consult.leg.endpoint.id;
        if let Some(dialog) = consult.leg.forks[index].dialog.as_ref() {
            self.consult_dialogs.insert(dialog.key(), call_key);
        }
        if !agent_left {
            self.outputs.push_back(Output::Media(MediaCommand::Bridge {
                a: agent,
                b: consult_endpoint,
            }));
        }
        self.outputs
            .push_back(Output::Queue(QueueEvent::ConsultAnswered {
                interaction: interaction.clone(),
                party,
            }));
        if agent_left {
            self.consult_transfer(now, &interaction, true);
        }
    }

    /// CANCEL every consult fork still ringing except `keep`.
    fn cancel_consult_forks(&mut self, now: Instant, call_key: CallKey, keep: Option<usize>) {
        let Some(consult) = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.consult.as_mut())
        else {
            return;
        };
        let keep: Vec<usize> = keep.into_iter().collect();
        let cancels = consult.leg.cancel_ringing(&keep);
        self.send_cancels(now, cancels);
    }

    /// Hangs up the consult leg however it stands (CANCEL or BYE), releases its endpoint and
    /// keeps its forks for stragglers. The bridges of the other legs are the caller's business.
    pub(super) fn drop_consult(&mut self, now: Instant, call_key: CallKey) -> Option<Party> {
        self.cancel_consult_forks(now, call_key, None);
        let transport = self
            .calls
            .get(&call_key)
            .and_then(|c| c.consult.as_ref())
            .and_then(|c| c.leg.winner_leg())
            .map(|l| l.transport);
        let via = transport.map(|t| self.our_via(t));
        let call = self.calls.get_mut(&call_key)?;
        let agent = call.callee.endpoint.id;
        let mut consult = call.consult.take()?;
        if consult.mode == ConsultMode::Ringing && !consult.agent_left {
            // Its ringing tone stops; the agent is back with the customer on hold.
            self.outputs
                .push_back(Output::Media(MediaCommand::StopMusic { endpoint: agent }));
        }
        let mut bye = None;
        if let Some(via) = via
            && let Some(leg) = consult.leg.winner_leg_mut()
            && let Some(dialog) = leg.dialog.as_mut()
        {
            let mut request = dialog.request(Method::Bye);
            request.push_front("Via", via);
            bye = Some((dialog.key(), request, leg.dest, leg.transport));
        }
        let party = consult.party.clone();
        let endpoint = consult.leg.endpoint.clone();
        // A few past consults are kept so late answers to their INVITEs can be hung up.
        if call.past_consults.len() >= 4 {
            call.past_consults.remove(0);
        }
        call.past_consults.push(consult);
        if let Some((key, request, dest, transport)) = bye {
            self.consult_dialogs.remove(&key);
            self.request(now, dest, transport, request, ClientPurpose::FireAndForget);
        }
        self.close_endpoint(&endpoint);
        Some(party)
    }

    pub(super) fn fail_consult(&mut self, now: Instant, call_key: CallKey, reason: ConsultFailure) {
        let Some(interaction) = self.interaction_of(call_key) else {
            return;
        };
        let agent_left = self
            .calls
            .get(&call_key)
            .and_then(|c| c.consult.as_ref())
            .is_some_and(|c| c.agent_left);
        if let Some(party) = self.drop_consult(now, call_key) {
            self.outputs
                .push_back(Output::Queue(QueueEvent::ConsultFailed {
                    interaction,
                    party,
                    reason,
                    agent_left,
                }));
        }
    }

    fn interaction_of(&self, call_key: CallKey) -> Option<InteractionId> {
        self.calls
            .get(&call_key)
            .and_then(|c| c.queue.as_ref())
            .map(|q| q.interaction.clone())
    }

    /// Ends the consult: by the agent (`by_party: false`) or because the party hung up.
    pub(super) fn end_consult(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        by_party: bool,
    ) {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return;
        };
        let Some(mode) = self
            .calls
            .get(&call_key)
            .and_then(|c| c.consult.as_ref())
            .map(|c| c.mode)
        else {
            return;
        };
        let Some(party) = self.drop_consult(now, call_key) else {
            return;
        };
        if mode == ConsultMode::Conference {
            // Agent and customer go on talking.
            if let Some(call) = self.calls.get_mut(&call_key) {
                let (a, b) = (call.caller.endpoint.id, call.callee.endpoint.id);
                if let Some(q) = call.queue.as_mut() {
                    q.held = false;
                }
                self.outputs
                    .push_back(Output::Media(MediaCommand::Bridge { a, b }));
            }
        }
        self.outputs
            .push_back(Output::Queue(QueueEvent::ConsultEnded {
                interaction: interaction.clone(),
                party,
                by_party,
            }));
    }

    /// Warm transfer: the consulted party takes the agent's place; the agent's leg is
    /// released with BYE. `false` when there is no answered consult.
    pub(super) fn consult_transfer(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        agent_left: bool,
    ) -> bool {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return false;
        };
        let Some(call) = self.calls.get(&call_key) else {
            return false;
        };
        let answered = call
            .consult
            .as_ref()
            .is_some_and(|c| c.mode != ConsultMode::Ringing && c.leg.winner.is_some());
        if call.state == CallState::Ended || !answered {
            return false;
        }
        let agent_transport = call
            .winner_leg()
            .map(|l| l.transport)
            .filter(|_| !agent_left);
        let via = agent_transport.map(|t| self.our_via(t));
        let Some(call) = self.calls.get_mut(&call_key) else {
            return false;
        };
        // Release the first agent's leg.
        let mut release = None;
        let mut gone = None;
        let codec = call.callee_codec();
        if let Some(leg) = call.winner_leg_mut() {
            if let Some(mut dialog) = leg.dialog.take() {
                gone = Some(dialog.key());
                if let Some(via) = via {
                    let mut bye = dialog.request(Method::Bye);
                    bye.push_front("Via", via);
                    release = Some((bye, leg.dest, leg.transport));
                }
            }
            leg.release(codec);
        }
        // The consult leg becomes the agent's leg.
        let Some(mut consult) = call.consult.take() else {
            return false;
        };
        let Some(winner) = consult.leg.winner else {
            return false;
        };
        let mut leg = consult.leg.forks.swap_remove(winner);
        leg.agent = Some(consult.party.clone());
        let dialog_key = leg.dialog.as_ref().map(|d| d.key());
        call.callee.forks.push(leg);
        call.callee.winner = Some(call.callee.forks.len() - 1);
        call.callee_pending_2xx = None;
        let old_agent = std::mem::replace(&mut call.callee.endpoint, consult.leg.endpoint);
        let (customer, party_endpoint) = (call.caller.endpoint.id, call.callee.endpoint.id);
        let mut recording = None;
        if let Some(q) = call.queue.as_mut() {
            q.held = false;
            if q.recording {
                recording = Some(crate::media::recorder::RecordingId(q.interaction.0.clone()));
            }
        }
        if let Some(key) = dialog_key {
            self.consult_dialogs.remove(&key);
            self.dialogs.insert(key, (call_key, Side::Callee));
        }
        if let Some(key) = gone {
            self.dialogs.remove(&key);
        }
        if let Some((bye, dest, transport)) = release {
            self.request(now, dest, transport, bye, ClientPurpose::FireAndForget);
        }
        self.close_endpoint(&old_agent);
        for endpoint in [customer, party_endpoint] {
            self.outputs
                .push_back(Output::Media(MediaCommand::StopMusic { endpoint }));
        }
        self.outputs.push_back(Output::Media(MediaCommand::Bridge {
            a: customer,
            b: party_endpoint,
        }));
        if let Some(recording) = recording {
            self.outputs
                .push_back(Output::Media(MediaCommand::RecordAgentSide {
                    recording,
                    endpoint: party_endpoint,
                }));
        }
        self.outputs
            .push_back(Output::Queue(QueueEvent::ConsultTransferred {
                interaction: interaction.clone(),
                party: consult.party,
            }));
        self.persist_cdr_in_progress(now, call_key);
        true
    }

    /// The agent's phone hung up: with the party on the line (consulting, parked or in
    /// conference) the party takes the customer over; while the consult still rings, it goes
    /// on without the agent (see [`ConsultLeg::agent_left`]). `false` when there is no
    /// consult (the call ends as usual).
    pub(super) fn agent_hands_over(&mut self, now: Instant, call_key: CallKey) -> bool {
        let Some(interaction) = self.interaction_of(call_key) else {
            return false;
        };
        if self.consult_transfer(now, &interaction, true) {
            return true;
        }
        // The consult still rings: the customer, held, must not be dropped with the agent.
        // The phone's leg is over (no BYE back: it sent one); the consult goes on.
        let Some(call) = self.calls.get_mut(&call_key) else {
            return false;
        };
        let ringing = call.state != CallState::Ended
            && call
                .consult
                .as_ref()
                .is_some_and(|c| c.mode == ConsultMode::Ringing);
        if !ringing {
            return false;
        }
        let gone = call
            .winner_leg_mut()
            .and_then(|leg| leg.dialog.take())
            .map(|dialog| dialog.key());
        if let Some(consult) = call.consult.as_mut() {
            consult.agent_left = true;
        }
        if let Some(key) = gone {
            self.dialogs.remove(&key);
        }
        true
    }

    /// A request inside the consult leg's dialog (from the consulted party's phone).
    pub(super) fn on_consult_request(
        &mut self,
        now: Instant,
        call_key: CallKey,
        key: TransactionKey,
        request: Message,
    ) {
        let in_order = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.consult.as_mut())
            .and_then(|c| c.leg.winner_leg_mut())
            .and_then(|l| l.dialog.as_mut())
            .is_some_and(|d| d.accept_remote_cseq(&request));
        if !in_order {
            self.respond_simple_to(now, &key, &request, 500, "Out Of Order CSeq");
            return;
        }
        match request.method() {
            Some(Method::Bye) => {
                self.respond_simple_to(now, &key, &request, 200, "OK");
                let interaction = self.interaction_of(call_key);
                // The party's dialog is over: no BYE back.
                if let Some(consult) = self
                    .calls
                    .get_mut(&call_key)
                    .and_then(|c| c.consult.as_mut())
                    && let Some(leg) = consult.leg.winner_leg_mut()
                    && let Some(dialog) = leg.dialog.take()
                {
                    self.consult_dialogs.remove(&dialog.key());
                }
                if let Some(interaction) = interaction {
                    self.end_consult(now, &interaction, true);
                }
            }
            Some(Method::Invite) => {
                // A re-INVITE (the party's phone holding, or refreshing): answered here with
                // the consult endpoint's SDP; the other legs need not know.
                let peer = self
                    .calls
                    .get(&call_key)
                    .and_then(|c| c.consult.as_ref()?.leg.winner_leg())
                    .map(|l| l.dest.ip());
                let latch = self.latch_for_leg(peer);
                let Some(consult) = self
                    .calls
                    .get_mut(&call_key)
                    .and_then(|c| c.consult.as_mut())
                else {
                    return;
                };
                let answer = SessionDescription::parse(request.body())
                    .ok()
                    .and_then(|offer| consult.leg.endpoint.local.to_answer(&offer))
                    .map(|(answer, _)| answer.to_string());
                let Some(answer) = answer else {
                    self.respond_simple_to(now, &key, &request, 488, "Not Acceptable Here");
                    return;
                };
                if let Some(command) =
                    configure_endpoint(&mut consult.leg.endpoint, &request, latch)
                {
                    self.outputs.push_back(Output::Media(command));
                }
                let transport = consult
                    .leg
                    .winner_leg()
                    .map(|l| l.transport)
                    .unwrap_or(Transport::Udp);
                let mut ok = Message::response_to(&request, 200, "OK");
                ok.push("Contact", self.our_contact(transport));
                ok.push("Allow", super::switch::ALLOW);
                ok.set_body("application/sdp", Bytes::from(answer));
                self.respond(now, &key, ok);
            }
            Some(Method::Ack) => {}
            Some(Method::Options | Method::Info | Method::Update) => {
                self.respond_simple_to(now, &key, &request, 200, "OK");
            }
            _ => self.respond_simple_to(now, &key, &request, 405, "Method Not Allowed"),
        }
    }
}
