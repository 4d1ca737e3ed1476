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

use super::machine::LocalSip;
use super::model::*;
use super::outbound::{configure_endpoint, early_media_to_agent};
use super::switch::Switch;
use crate::media::sdp::SessionDescription;
use crate::sip::dialog::DialogKey;
use crate::sip::message::{Message, Method, NO_SUCH_DIALOG};
use crate::sip::registrar::Transport;
use crate::sip::transaction::TransactionKey;
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
            early_media: false,
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
    /// call connects it ([`Call::consult_answered`]); the switch routes the consult dialog to
    /// the call and, when the agent already hung up, hands the customer over to the party.
    pub(super) fn on_consult_answered(&mut self, now: Instant, call_key: CallKey, index: usize) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let Some(answered) = call.consult_answered(index) else {
            return;
        };
        if let Some(dialog) = answered.dialog {
            self.consult_dialogs.insert(dialog, call_key);
        }
        self.drain_call(now, call_key);
        if answered.agent_left {
            self.consult_transfer(now, &answered.interaction, true);
        }
    }

    /// Hangs up the consult leg however it stands (CANCEL or BYE), releases its endpoint and
    /// keeps its forks for stragglers. The bridges of the other legs are the caller's business.
    pub(super) fn drop_consult(&mut self, now: Instant, call_key: CallKey) -> Option<Party> {
        let dropped = self.calls.get_mut(&call_key)?.drop_consult()?;
        self.drain_call(now, call_key);
        self.forget_consult(&dropped);
        Some(dropped.party)
    }

    /// Stops routing a dropped consult's dialog and closes its endpoint.
    pub(super) fn forget_consult(&mut self, dropped: &DroppedConsult) {
        if let Some(key) = &dropped.dialog {
            self.consult_dialogs.remove(key);
        }
        self.close_endpoint(&dropped.endpoint);
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

    /// Warm transfer: the consulted party takes the agent's place ([`Call::consult_transfer`]);
    /// the switch routes the party's dialog to the call as its callee side, forgets the
    /// agent's, closes the agent's endpoint and records the new callee. `false` when there is
    /// no answered consult.
    pub(super) fn consult_transfer(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        agent_left: bool,
    ) -> bool {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(&call_key) else {
            return false;
        };
        let Some(takeover) = call.consult_transfer(agent_left) else {
            return false;
        };
        if let Some(key) = takeover.party_dialog {
            self.consult_dialogs.remove(&key);
            self.dialogs.insert(key, (call_key, Side::Callee));
        }
        if let Some(key) = takeover.agent_dialog {
            self.dialogs.remove(&key);
        }
        self.drain_call(now, call_key);
        self.close_endpoint(&takeover.agent_endpoint);
        self.route_endpoints(call_key);
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
        let Some(left) = self
            .calls
            .get_mut(&call_key)
            .and_then(|call| call.agent_leaves_ringing_consult())
        else {
            return false;
        };
        if let Some(key) = left {
            self.dialogs.remove(&key);
        }
        true
    }

    /// A request inside the consult leg's dialog, for its call (see
    /// [`Call::on_consult_request`]): when the party hung up, its dialog is forgotten and the
    /// consult ends.
    pub(super) fn on_consult_request(
        &mut self,
        now: Instant,
        call_key: CallKey,
        key: TransactionKey,
        request: Message,
    ) {
        let Some(call) = self.calls.get(&call_key) else {
            self.respond_simple_to(now, &key, &request, 481, NO_SUCH_DIALOG);
            return;
        };
        let party = call.consult.as_ref().and_then(|c| c.leg.winner_leg());
        let latch = self.latch_for_leg(party.map(|l| l.dest.ip()));
        let sip = self.local_sip();
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let left = call.on_consult_request(&sip, key, &request, latch);
        self.drain_call(now, call_key);
        if let Some(dialog) = left {
            self.consult_dialogs.remove(&dialog);
            if let Some(interaction) = self.interaction_of(call_key) {
                self.end_consult(now, &interaction, true);
            }
        }
    }
}

/// What a consult's answer leaves to the switch (see [`Call::consult_answered`]).
pub(super) struct ConsultAnswered {
    /// The consult leg's new dialog, to route its requests to the call.
    dialog: Option<DialogKey>,
    interaction: InteractionId,
    /// The agent hung up while the consult rang: the party takes the customer over.
    agent_left: bool,
}

/// What a warm transfer leaves for the switch to do ([`Call::consult_transfer`]).
pub(super) struct ConsultTakeover {
    /// The party's dialog, now the callee side's: the switch routes it to the call.
    party_dialog: Option<DialogKey>,
    /// The first agent's dialog, over: the switch stops routing it.
    agent_dialog: Option<DialogKey>,
    /// The first agent's media endpoint, to close.
    agent_endpoint: Endpoint,
}

impl Call {
    /// Warm transfer of an answered consult: the consulted party takes the agent's place. The
    /// agent's leg is released (with a BYE, unless `agent_left`: its phone already hung up),
    /// the consult leg becomes the callee side with its endpoint, the customer is bridged to
    /// the party (off hold and music, a recording following the party as the agent side) and
    /// the contact center hears of it. `None` when the call ended or no consult answered.
    pub(super) fn consult_transfer(&mut self, agent_left: bool) -> Option<ConsultTakeover> {
        let answered = self
            .consult
            .as_ref()
            .is_some_and(|c| c.mode != ConsultMode::Ringing && c.leg.winner.is_some());
        if self.state == CallState::Ended || !answered {
            return None;
        }
        let mut consult = self.consult.take()?;
        let winner = consult.leg.winner?;
        // Release the first agent's leg.
        let codec = self.callee_codec();
        let mut agent_dialog = None;
        let mut bye = None;
        if let Some(leg) = self.winner_leg_mut() {
            if let Some(mut dialog) = leg.dialog.take() {
                agent_dialog = Some(dialog.key());
                if !agent_left {
                    bye = Some((leg.dest, leg.transport, dialog.request(Method::Bye)));
                }
            }
            leg.release(codec);
        }
        if let Some((to, transport, request)) = bye {
            self.send_bye(to, transport, request);
        }
        // The consult leg becomes the agent's leg.
        let mut leg = consult.leg.forks.swap_remove(winner);
        leg.agent = Some(consult.party.clone());
        let party_dialog = leg.dialog.as_ref().map(|d| d.key());
        self.callee.forks.push(leg);
        self.callee.winner = Some(self.callee.forks.len() - 1);
        self.callee_pending_2xx = None;
        let agent_endpoint = std::mem::replace(&mut self.callee.endpoint, consult.leg.endpoint);
        let (customer, party) = (self.caller.endpoint.id, self.callee.endpoint.id);
        let mut recording = None;
        let mut interaction = None;
        if let Some(q) = self.queue.as_mut() {
            q.held = false;
            interaction = Some(q.interaction.clone());
            if q.recording {
                recording = Some(crate::media::recorder::RecordingId(q.interaction.0.clone()));
            }
        }
        for endpoint in [customer, party] {
            self.media(MediaCommand::StopMusic { endpoint });
        }
        self.media(MediaCommand::Bridge {
            a: customer,
            b: party,
        });
        if let Some(recording) = recording {
            self.media(MediaCommand::RecordAgentSide {
                recording,
                endpoint: party,
            });
        }
        if let Some(interaction) = interaction {
            self.output(Output::Queue(QueueEvent::ConsultTransferred {
                interaction,
                party: consult.party,
            }));
        }
        Some(ConsultTakeover {
            party_dialog,
            agent_dialog,
            agent_endpoint,
        })
    }

    /// The agent's phone hung up while its consult still rings: the customer, held, must not
    /// be dropped with the agent. The phone's leg is over (no BYE back: it sent one) and the
    /// consult goes on without it. Returns the agent's dialog, over, for the switch to forget;
    /// `None` (the call ends as usual) when no consult rings.
    pub(super) fn agent_leaves_ringing_consult(&mut self) -> Option<Option<DialogKey>> {
        let ringing = self.state != CallState::Ended
            && self
                .consult
                .as_ref()
                .is_some_and(|c| c.mode == ConsultMode::Ringing);
        if !ringing {
            return None;
        }
        let gone = self
            .winner_leg_mut()
            .and_then(|leg| leg.dialog.take())
            .map(|dialog| dialog.key());
        if let Some(consult) = self.consult.as_mut() {
            consult.agent_left = true;
        }
        Some(gone)
    }
}

/// What is left of a consult the call dropped ([`Call::drop_consult`]).
pub(super) struct DroppedConsult {
    pub(super) party: Party,
    pub(super) endpoint: Endpoint,
    /// Its dialog, if it was answered: the switch stops routing to it.
    pub(super) dialog: Option<DialogKey>,
}

impl Call {
    /// Drops the consult: its ringing forks are cancelled, its ringing tone stops if the
    /// agent heard it, a BYE goes to the party if it answered, and the consult is kept a
    /// while so late answers to its INVITEs can be hung up.
    pub(super) fn drop_consult(&mut self) -> Option<DroppedConsult> {
        let agent = self.callee.endpoint.id;
        let id = self.consult.as_ref()?.id;
        self.cancel_forks(LegRole::Consult(id), &[]);
        let mut consult = self.consult.take()?;
        if consult.mode == ConsultMode::Ringing && !consult.agent_left {
            // Its ringing tone stops; the agent is back with the customer on hold.
            self.media(MediaCommand::StopMusic { endpoint: agent });
        }
        let mut dialog = None;
        if let Some(leg) = consult.leg.winner_leg_mut()
            && let Some(consult_dialog) = leg.dialog.as_mut()
        {
            dialog = Some(consult_dialog.key());
            self.send_bye(leg.dest, leg.transport, consult_dialog.request(Method::Bye));
        }
        let dropped = DroppedConsult {
            party: consult.party.clone(),
            endpoint: consult.leg.endpoint.clone(),
            dialog,
        };
        // A few past consults are kept so late answers to their INVITEs can be hung up.
        if self.past_consults.len() >= 4 {
            self.past_consults.remove(0);
        }
        self.past_consults.push(consult);
        Some(dropped)
    }
    /// The consulted party's network sends early media (a 183 with SDP: a carrier's ringback
    /// or announcement, "the number you have dialled..."): the agent hears it instead of our
    /// ringing tone, one way until the answer, as Asterisk and FreeSWITCH let a transferring
    /// party hear a consult's early media. Nothing is sent to the party before its answer
    /// (the endpoint is configured, not established), and the customer stays on music.
    pub(super) fn consult_early_media(&mut self, id: u64, latch: LatchPolicy, response: &Message) {
        let agent = self.callee.endpoint.id;
        let Some(consult) = self.consult.as_mut().filter(|c| {
            c.id == id && c.mode == ConsultMode::Ringing && !c.agent_left && !c.early_media
        }) else {
            return;
        };
        let Some(commands) =
            early_media_to_agent(&mut consult.leg.endpoint, agent, response, latch)
        else {
            return;
        };
        consult.early_media = true;
        for command in commands {
            self.media(command);
        }
    }

    /// Fork `index` of the current consult answered: the agent, still on the call, talks to
    /// the party, and the contact center hears who answered. `None` when the call is no
    /// queue call or has no consult.
    pub(super) fn consult_answered(&mut self, index: usize) -> Option<ConsultAnswered> {
        let agent = self.callee.endpoint.id;
        let interaction = self.queue.as_ref()?.interaction.clone();
        let consult = self.consult.as_mut()?;
        let dialog = consult
            .leg
            .forks
            .get(index)?
            .dialog
            .as_ref()
            .map(|d| d.key());
        consult.mode = ConsultMode::Talking;
        let (party, agent_left) = (consult.party.clone(), consult.agent_left);
        let consult_endpoint = consult.leg.endpoint.id;
        if !agent_left {
            self.media(MediaCommand::Bridge {
                a: agent,
                b: consult_endpoint,
            });
        }
        self.output(Output::Queue(QueueEvent::ConsultAnswered {
            interaction: interaction.clone(),
            party,
        }));
        Some(ConsultAnswered {
            dialog,
            interaction,
            agent_left,
        })
    }

    /// A request from the consulted party's phone inside the consult leg's dialog, in server
    /// transaction `key`, answered here: a re-INVITE (the party's phone holding, or
    /// refreshing) with the consult endpoint's SDP, its media latching as `latch` says, the
    /// other legs none the wiser. A BYE returns the dialog it ended (no BYE goes back): the
    /// switch forgets it and ends the consult.
    pub(super) fn on_consult_request(
        &mut self,
        sip: &LocalSip,
        key: TransactionKey,
        request: &Message,
        latch: LatchPolicy,
    ) -> Option<DialogKey> {
        let dialog = self
            .consult
            .as_mut()
            .and_then(|c| c.leg.winner_leg_mut())
            .and_then(|l| l.dialog.as_mut());
        // A dialog that is gone is 481; one that is there refuses an old CSeq with 500
        // (RFC 3261 §12.2.2).
        let Some(dialog) = dialog else {
            self.respond_simple(key, request, 481, NO_SUCH_DIALOG);
            return None;
        };
        if !dialog.accept_remote_cseq(request) {
            self.respond_simple(key, request, 500, "Out Of Order CSeq");
            return None;
        }
        match request.method() {
            Some(Method::Bye) => {
                self.respond_simple(key, request, 200, "OK");
                let leg = self.consult.as_mut()?.leg.winner_leg_mut()?;
                return leg.dialog.take().map(|d| d.key());
            }
            Some(Method::Invite) => self.answer_consult_reinvite(sip, key, request, latch),
            Some(Method::Ack) => {}
            Some(Method::Options | Method::Info | Method::Update) => {
                self.respond_simple(key, request, 200, "OK");
            }
            _ => self.respond_simple(key, request, 405, "Method Not Allowed"),
        }
        None
    }

    /// The consulted party's re-INVITE, answered with the consult endpoint's SDP (488 when
    /// nothing in the offer is acceptable).
    fn answer_consult_reinvite(
        &mut self,
        sip: &LocalSip,
        key: TransactionKey,
        request: &Message,
        latch: LatchPolicy,
    ) {
        let Some(consult) = self.consult.as_mut() else {
            return;
        };
        let answer = SessionDescription::parse(request.body())
            .ok()
            .and_then(|offer| consult.leg.endpoint.local.to_answer(&offer))
            .map(|(answer, _)| answer.to_string());
        let Some(answer) = answer else {
            self.respond_simple(key, request, 488, "Not Acceptable Here");
            return;
        };
        let configure = configure_endpoint(&mut consult.leg.endpoint, request, latch);
        let transport = consult
            .leg
            .winner_leg()
            .map(|l| l.transport)
            .unwrap_or(Transport::Udp);
        if let Some(command) = configure {
            self.media(command);
        }
        self.respond(key, sip.ok_with_answer(request, transport, answer));
    }
}

#[cfg(test)]
mod tests {
    use super::super::dial_plan::DialPlan;
    use super::super::lab::{Lab, in_dialog, phone, queue_call_invite, sdp};
    use super::*;
    use std::collections::HashMap;
    use std::net::SocketAddr;

    const CUSTOMER: &str = "127.0.0.1:30000";

    /// A customer of queue 7000 talks to agent 1001, who consults 1002, whose phone rings:
    /// the lab, the interaction and the INVITE ringing the party's phone.
    fn consult_ringing() -> (Lab, InteractionId, Message) {
        let mut lab = Lab::new();
        lab.register("1001");
        lab.register("1002");
        lab.sw.set_dial_plan(DialPlan {
            queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
            ..DialPlan::default()
        });
        let customer: SocketAddr = CUSTOMER.parse().unwrap();
        lab.send(
            customer,
            &queue_call_invite(customer, "+33612345678", "c-1", 30_002),
        );
        let ok = lab.take(customer, "200");
        lab.send_text(customer, &in_dialog(&ok, "ACK", 1, customer, true, ""));
        let interaction = lab.arrived();
        lab.queue_command(QueueCommand::Offer {
            interaction: interaction.clone(),
            party: Party::Agent(crate::ids::AgentId("alice".into())),
            extension: "1001".into(),
        });
        let to_agent = lab.take(phone("1001"), "INVITE");
        lab.reply(&to_agent, 200, phone("1001"));
        lab.take(phone("1001"), "ACK");
        lab.queue_command(QueueCommand::Consult {
            interaction: interaction.clone(),
            party: Party::Agent(crate::ids::AgentId("bob".into())),
            extension: "1002".into(),
            ring_timeout: Duration::from_secs(30),
        });
        let to_party = lab.take(phone("1002"), "INVITE");
        for at in [customer, phone("1001"), phone("1002")] {
            let _ = lab.take_all(at);
        }
        (lab, interaction, to_party)
    }

    /// [`consult_ringing`], and the party answered: the lab, the interaction and the INVITE
    /// the party's phone answered.
    fn consulting() -> (Lab, InteractionId, Message) {
        let (mut lab, interaction, to_party) = consult_ringing();
        lab.reply(&to_party, 200, phone("1002"));
        lab.take(phone("1002"), "ACK");
        for at in [CUSTOMER.parse().unwrap(), phone("1001"), phone("1002")] {
            let _ = lab.take_all(at);
        }
        (lab, interaction, to_party)
    }

    /// ```text
    ///  switch                        1002 (consulted)
    ///    |--- INVITE -------------------->|
    ///    |<-- 180 ------------------------|
    ///    |  the agent ends the consult: its ringing tone stops
    ///    |--- CANCEL (the INVITE's Via) ->|
    /// ```
    #[test]
    fn a_consult_the_agent_ends_while_it_rings_is_cancelled_and_the_agents_ringing_stops() {
        let (mut lab, interaction, to_party) = consult_ringing();
        lab.reply(&to_party, 180, phone("1002"));
        lab.media.clear();

        lab.queue_command(QueueCommand::ConsultEnd { interaction });

        let cancel = lab.take(phone("1002"), "CANCEL");
        assert!(cancel.header("Via").is_some());
        assert_eq!(cancel.header("Via"), to_party.header("Via"));
        assert!(
            lab.media
                .iter()
                .any(|m| matches!(m, MediaCommand::StopMusic { .. }))
        );
        assert!(lab.queue_events.iter().any(|e| matches!(
            e,
            QueueEvent::ConsultEnded {
                by_party: false,
                ..
            }
        )));
    }

    /// ```text
    ///  switch                        1002 (consulted)
    ///    |--- INVITE -------------------->|
    ///    |<-- 183 with SDP ---------------|   the agent hears the party's early media,
    ///    |                                |   not our ringing tone; the customer, music
    ///    |<-- 200 ------------------------|   the agent talks to the party
    /// ```
    #[test]
    fn a_consulted_partys_early_media_reaches_the_agent_instead_of_the_ringing_tone() {
        let (mut lab, interaction, to_party) = consult_ringing();
        let agent = lab.ringback_endpoint().expect("the agent hears ringing");
        lab.media.clear();
        lab.reply(&to_party, 183, phone("1002"));
        let party = lab
            .configured_endpoint()
            .expect("the consult endpoint takes the early SDP");
        assert_ne!(party, agent);
        assert!(
            lab.media
                .contains(&MediaCommand::Bridge { a: agent, b: party }),
            "{:?}",
            lab.media
        );
        assert!(
            !lab.media
                .contains(&MediaCommand::Establish { endpoint: party }),
            "nothing goes to the party before its answer"
        );
        assert!(lab.take_all(CUSTOMER.parse().unwrap()).is_empty());
        // A second early SDP changes nothing; the answer connects the agent as usual.
        lab.media.clear();
        lab.reply(&to_party, 183, phone("1002"));
        assert!(lab.media.is_empty(), "{:?}", lab.media);
        lab.reply(&to_party, 200, phone("1002"));
        lab.take(phone("1002"), "ACK");
        assert!(
            lab.media
                .contains(&MediaCommand::Establish { endpoint: party })
        );
        assert!(lab.queue_events.iter().any(|e| matches!(
            e,
            QueueEvent::ConsultAnswered { interaction: i, .. } if *i == interaction
        )));
    }

    /// ```text
    ///  customer   switch                     1002 (consulted)
    ///     |         |<-- re-INVITE sendonly ----|
    ///     |         |--- 200 recvonly --------->|   nobody else hears of it
    ///     |         |<-- BYE -------------------|
    ///     |         |--- 200 ------------------>|   consult ended by the party
    /// ```
    #[test]
    fn the_consulted_partys_reinvite_is_answered_here_and_its_bye_ends_the_consult() {
        let (mut lab, _, to_party) = consulting();
        let party = phone("1002");
        let held = sdp(party.port() + 5).replace("sendrecv", "sendonly");
        let reinvite = in_dialog(&to_party, "INVITE", 1, party, false, "").replace(
            "Content-Length: 0\n",
            &format!(
                "Content-Type: application/sdp\nContent-Length: {}\n",
                held.len()
            ),
        ) + &held;
        lab.send_text(party, &reinvite);
        let ok = lab.take(party, "200");
        assert!(String::from_utf8_lossy(ok.body()).contains("a=recvonly"));
        assert!(
            ok.header("Contact")
                .is_some_and(|c| c.contains("127.0.0.1:5060"))
        );
        assert!(lab.take_all(CUSTOMER.parse().unwrap()).is_empty());
        assert!(lab.take_all(phone("1001")).is_empty());

        lab.send_text(party, &in_dialog(&to_party, "BYE", 2, party, false, ""));
        lab.take(party, "200");
        assert!(
            lab.queue_events
                .iter()
                .any(|e| matches!(e, QueueEvent::ConsultEnded { by_party: true, .. }))
        );
        lab.send_text(party, &in_dialog(&to_party, "OPTIONS", 3, party, false, ""));
        lab.take(party, "481");
    }

    /// ```text
    ///  customer      switch                  1001 (agent)     1002 (consulted)
    ///     |  warm transfer: C<->P bridged      |                  |
    ///     |            |--- BYE -------------->|                  |
    ///     |            |<-- BYE --------------------------------- |  the party hangs up
    ///     |<-- BYE ----|--- 200 ---------------------------------->|  the call ends
    /// ```
    #[test]
    fn a_warm_transfer_bridges_the_customer_to_the_party_and_releases_the_agent() {
        let (mut lab, interaction, to_party) = consulting();
        lab.media.clear();

        lab.queue_command(QueueCommand::ConsultTransfer {
            interaction: interaction.clone(),
        });

        lab.take(phone("1001"), "BYE");
        let bridged = lab.media.iter().rev().find_map(|m| match m {
            MediaCommand::Bridge { a, b } => Some((*a, *b)),
            _ => None,
        });
        let closed: Vec<EndpointId> = lab
            .media
            .iter()
            .filter_map(|m| match m {
                MediaCommand::Close { endpoint } => Some(*endpoint),
                _ => None,
            })
            .collect();
        let (customer, party) = bridged.expect("the customer is bridged");
        assert_eq!(closed.len(), 1, "only the agent's endpoint closes");
        assert!(![customer, party].contains(&closed[0]));
        assert!(lab.queue_events.iter().any(|e| matches!(
            e,
            QueueEvent::ConsultTransferred { party: Party::Agent(a), .. } if a.0 == "bob"
        )));
        // The party's dialog is the call's callee side now: its BYE ends the call.
        let party_phone = phone("1002");
        lab.send_text(
            party_phone,
            &in_dialog(&to_party, "BYE", 2, party_phone, false, ""),
        );
        lab.take(party_phone, "200");
        lab.take(CUSTOMER.parse().unwrap(), "BYE");
        assert!(lab.take_all(phone("1001")).is_empty());
        let cdr = lab.cdrs.last().expect("a call record");
        assert_eq!(cdr.interaction.as_deref(), Some(interaction.0.as_str()));
    }
}
