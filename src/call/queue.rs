//! Queue calls: the switch answers a caller who dialled a queue number, plays music on hold,
//! and rings the agents the ACD chooses, one offer at a time.
//!
//! ```text
//!  customer          switch                     agent phone        ACD
//!    | INVITE q ------->|                              |              |
//!    |<-- 200 (SDP) ----|--- Arrived ---------------------------------->|
//!    |-- ACK ---------->|                              |              |
//!    |<== music ========|<-- Offer(agent) ----------------------------|
//!    |                  |-- INVITE ------------------->|              |
//!    |                  |<------------------ 180 ------|              |
//!    |                  |<------------------ 200 ------|              |
//!    |                  |-- ACK ---------------------->|              |
//!    |<=========== RTP bridged =======================>|-- Answered ->|
//! ```
//! The ACD owns the ring timeout: on RONA it sends `Withdraw` and the switch CANCELs.

use super::model::*;
use super::switch::Switch;
use bytes::Bytes;
use std::time::Instant;

/// Most CAD variables taken from one INVITE.
const MAX_CAD_VARIABLES: usize = 32;

impl Switch {
    /// Answers a caller who reached `queue` and hands the call to the ACD.
    pub(super) fn answer_queue_call(&mut self, now: Instant, call_key: CallKey, queue: String) {
        let interaction = InteractionId(format!("ix-{}", self.token(16)));
        let queue = QueueId(queue);
        let answered_at = self.unix_ms(now);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        call.queue = Some(QueueLeg {
            courtesy: None,
            interaction: interaction.clone(),
            offered_to: Vec::new(),
            held: false,
            recording: false,
            queue: queue.clone(),
        });
        call.state = CallState::Answered;
        call.answered_unix_ms = Some(answered_at);
        let ani = call.caller_user.clone();
        let dnis = call.callee_user.clone();
        let endpoint = call.caller.endpoint.id;
        // What the INVITE says about itself counts only from a trusted trunk.
        let trusted = call.caller.trusted;
        let cad = if trusted {
            CadFromSip::from_headers(&call.caller.invite, MAX_CAD_VARIABLES)
        } else {
            Vec::new()
        };
        let priority = match call.caller.invite.header("Priority").map(str::trim) {
            Some(p) if trusted && p.eq_ignore_ascii_case("emergency") => 9,
            Some(p) if trusted && p.eq_ignore_ascii_case("urgent") => 5,
            _ => 0,
        };
        let music = self.dial_plan.music_of(queue.as_str());
        self.interactions.insert(interaction.clone(), call_key);
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let mut ok = call.caller_response(&self.local_sip(), 200, "OK");
        ok.push("Allow", super::switch::ALLOW);
        let sdp = if call.caller.delayed_offer {
            Some(call.caller.endpoint.local.render_offer())
        } else {
            crate::media::sdp::SessionDescription::parse(call.caller.invite.body())
                .ok()
                .and_then(|offer| call.caller.endpoint.local.to_answer(&offer))
                .map(|(answer, _)| answer.to_string())
        };
        if let Some(sdp) = sdp {
            ok.set_body("application/sdp", Bytes::from(sdp));
        }
        self.send_caller_2xx(now, call_key, ok);
        self.outputs
            .push_back(Output::Media(MediaCommand::PlayMusic { endpoint, music }));
        self.outputs.push_back(Output::Queue(QueueEvent::Arrived {
            interaction,
            queue,
            ani,
            dnis,
            cad,
            priority,
        }));
        self.persist_cdr_in_progress(now, call_key);
    }

    pub(super) fn on_queue_command(&mut self, now: Instant, command: QueueCommand) {
        match command {
            QueueCommand::Offer {
                interaction,
                party,
                extension,
            } => self.offer_to(now, interaction, party, extension),
            QueueCommand::ReleaseAgent { interaction } => self.detach_agent(now, &interaction),
            QueueCommand::Consult {
                interaction,
                party,
                extension,
                ring_timeout,
            } => self.start_consult(now, interaction, party, extension, ring_timeout),
            QueueCommand::ConsultEnd { interaction } => self.end_consult(now, &interaction, false),
            QueueCommand::ConsultTransfer { interaction } => {
                self.consult_transfer(now, &interaction, false);
            }
            QueueCommand::Conference { interaction } => self.conference(now, &interaction),
            QueueCommand::Outdial {
                interaction,
                agent,
                extension,
                number,
                queue,
            } => self.start_outdial(now, interaction, agent, extension, number, queue),
            QueueCommand::OfferCallback {
                interaction,
                prompt,
            } => self.offer_callback(now, &interaction, prompt),
            QueueCommand::Hold { interaction } => self.set_held(now, &interaction, true, false),
            QueueCommand::Resume { interaction } => self.set_held(now, &interaction, false, false),
            QueueCommand::Hangup { interaction } => {
                if let Some(&call_key) = self.interactions.get(&interaction) {
                    if self.placing_customer(call_key) {
                        // The desktop cancelled its own call out before the customer answered.
                        self.fail_outdial(now, call_key, "cancelled", 487);
                    } else {
                        self.end_call(now, call_key, Ending::Hangup, None);
                    }
                }
            }
            QueueCommand::Withdraw { interaction, party } => {
                let Some(&call_key) = self.interactions.get(&interaction) else {
                    return;
                };
                let Some(call) = self.calls.get_mut(&call_key) else {
                    return;
                };
                let Some(q) = call.queue.as_mut() else { return };
                q.offered_to.retain(|a| a != &party);
                let keep: Vec<usize> = call
                    .callee
                    .forks
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.agent.as_ref() != Some(&party))
                    .map(|(i, _)| i)
                    .collect();
                self.cancel_forks_except(now, call_key, LegRole::Callee, &keep);
            }
        }
    }

    fn offer_to(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        party: Party,
        extension: String,
    ) {
        let Some(&call_key) = self.interactions.get(&interaction) else {
            // The caller left between the ACD's decision and now; the ACD already knows.
            return;
        };
        let targets = self.targets_of(now, &extension);
        // A number outside (a blind transfer or an overflow to it) goes out through a trunk.
        let route = match &party {
            Party::Agent(_) => None,
            _ if !targets.is_empty() => None,
            _ => self.agents_route(call_key, &extension),
        };
        let unavailable = QueueEvent::OfferFailed {
            interaction,
            party: party.clone(),
            failure: OfferFailure::DeviceUnavailable,
        };
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        if call.state == CallState::Ended || call.callee.winner.is_some() {
            return;
        }
        if targets.is_empty() && route.is_none() {
            self.outputs.push_back(Output::Queue(unavailable));
            return;
        }
        if let Some(q) = call.queue.as_mut()
            && !q.offered_to.contains(&party)
        {
            q.offered_to.push(party.clone());
        }
        let invite = call.caller.invite.clone();
        if call.callee.trunk.take().is_some() {
            // An earlier offer went out through a trunk: its channel is given back.
            self.trunk_channels.release(call_key, Some(LegRole::Callee));
        }
        if let Some(mut route) = route {
            route.party = Some(party.clone());
            if !self.ring_route(now, call_key, LegRole::Callee, route) {
                self.outputs.push_back(Output::Queue(unavailable));
            }
            return;
        }
        self.ring(
            now,
            call_key,
            LegRole::Callee,
            &invite,
            &extension,
            targets,
            None,
            Some(&party),
        );
    }

    /// The offered party's phone answered (see [`Call::connect_agent`]): the call
    /// connects with its queue's treatment as the dial plan has it now (a setting changed
    /// while the caller waited applies to this call), and its record is journaled.
    pub(super) fn on_agent_answered(&mut self, now: Instant, call_key: CallKey, index: usize) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let Some(queue) = call.queue.as_ref().map(|q| q.queue.clone()) else {
            return;
        };
        let connected = call.connect_agent(index, self.dial_plan.treatment(queue.as_str()));
        self.drain_call(now, call_key);
        if connected {
            self.persist_cdr_in_progress(now, call_key);
        }
    }

    /// A leg of a current offer failed; when every leg of one agent's phone has, the ACD is
    /// told about that agent (ring-all rings several agents; each fails on its own).
    pub(super) fn on_agent_leg_failed(&mut self, now: Instant, call_key: CallKey) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        if call.callee.winner.is_some() {
            return;
        }
        if call.outdial.is_some() {
            // A click-to-dial agent whose phone does not answer: the call is over.
            if let Some(code) = call.callee.settled_failure() {
                self.fail_outdial(now, call_key, "agent_unavailable", code);
            }
            return;
        }
        let Some(q) = call.queue.as_mut() else { return };
        let mut failed = Vec::new();
        for party in &q.offered_to {
            let legs: Vec<&Fork> = call
                .callee
                .forks
                .iter()
                .filter(|f| f.agent.as_ref() == Some(party))
                .collect();
            let done = legs
                .iter()
                .all(|f| matches!(f.state, ForkState::Failed(_) | ForkState::Cancelled));
            if done {
                let declined = legs
                    .iter()
                    .any(|f| matches!(f.state, ForkState::Failed(603)));
                failed.push((party.clone(), declined));
            }
        }
        q.offered_to.retain(|a| !failed.iter().any(|(f, _)| f == a));
        let interaction = q.interaction.clone();
        for (party, declined) in failed {
            self.outputs
                .push_back(Output::Queue(QueueEvent::OfferFailed {
                    interaction: interaction.clone(),
                    party,
                    failure: if declined {
                        OfferFailure::Declined
                    } else {
                        OfferFailure::DeviceUnavailable
                    },
                }));
        }
    }
}
