//! The switch's outbound leg (its UAC role): one INVITE to every registered contact of a
//! user (the forks), the first 2xx winning, the others cancelled or, when they answer too
//! late, acknowledged and hung up (RFC 3261 §13.2.2.4, §16.7 step 10 analogue), and a CANCEL
//! that waits for a provisional answer when none came yet (§9.1).
//!
//! One type serves every leg the switch places, whatever it is for: the callee side of a
//! call, an agent's consult of a third party, a phone's blind transfer to its target (and
//! later trunk, WebRTC and monitor legs). What each does once a fork wins or every fork
//! failed is its [`LegRole`]'s business; everything before that (ringing, answers, ACKs,
//! races, retransmitted 2xx) happens here once.
//!
//! The inbound leg (the UAS role, [`super::model::InboundLeg`]) is the other half: the
//! switch accepts it, answers it and retransmits its 2xx until the ACK.

use super::machine::{CallOutput, LocalSip};
use super::model::*;
use super::srtp_policy::offer_sdes_to;
use super::switch::{ClientPurpose, Switch};
use crate::dialing::AttemptEnd;
use crate::media::sdp::SessionDescription;
use crate::sip::dialog::Dialog;
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Instant;

/// What an outbound leg of a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegRole {
    /// The call's callee side: the extension dialled, or the agents a queue call is offered to.
    Callee,
    /// The agent's consult with this id.
    Consult(u64),
    /// The phone's blind transfer with this id.
    Transfer(u64),
    /// The customer leg of a click-to-dial call.
    Outdial,
}

/// A contact rung by an outbound leg, as (contact URI, destination, transport).
pub(super) type Target = (String, SocketAddr, Transport);

/// The switch's outbound leg: its forks, the one that won, and the switch's media endpoint
/// facing whichever phone answers.
#[derive(Debug)]
pub struct OutboundLeg {
    pub forks: Vec<Fork>,
    pub winner: Option<usize>,
    pub endpoint: Endpoint,
    /// Set when the leg reaches an external number through trunks (one gateway at a time).
    pub trunk: Option<super::trunk_calls::TrunkRoute>,
}

impl OutboundLeg {
    /// A leg that rings nothing yet.
    pub fn new(endpoint: Endpoint) -> OutboundLeg {
        OutboundLeg {
            forks: Vec::new(),
            winner: None,
            endpoint,
            trunk: None,
        }
    }

    pub fn winner_leg(&self) -> Option<&Fork> {
        self.winner.and_then(|i| self.forks.get(i))
    }

    pub fn winner_leg_mut(&mut self) -> Option<&mut Fork> {
        self.winner.and_then(|i| self.forks.get_mut(i))
    }

    /// The best failure once every fork failed or was cancelled; `None` while one still
    /// rings or answered.
    pub fn settled_failure(&self) -> Option<u16> {
        let mut codes = Vec::new();
        for fork in &self.forks {
            match fork.state {
                ForkState::Failed(code) => codes.push(code),
                ForkState::Cancelled => {}
                _ => return None,
            }
        }
        Some(best_failure(&codes))
    }

    /// A phone of the leg answered 603 Decline.
    pub fn declined(&self) -> bool {
        self.forks.iter().any(|f| f.state == ForkState::Failed(603))
    }

    /// Marks every ringing fork not in `keep` cancelled (or cancel-pending when it has not
    /// answered provisionally yet) and returns the CANCELs to send now.
    pub fn cancel_ringing(&mut self, keep: &[usize]) -> Vec<OutboundCancel> {
        let mut cancels = Vec::new();
        for (i, fork) in self.forks.iter_mut().enumerate() {
            if keep.contains(&i) {
                continue;
            }
            match fork.state {
                ForkState::Early => {
                    fork.state = ForkState::Cancelled;
                    cancels.push(fork.cancel());
                }
                ForkState::Trying => fork.state = ForkState::CancelPending,
                _ => {}
            }
        }
        cancels
    }
}

/// A CANCEL and where it goes.
pub(super) type OutboundCancel = (Message, SocketAddr, Transport);

impl Fork {
    /// A provisional answer reached this fork: it is early now, or, if a CANCEL waited for
    /// that (RFC 3261 §9.1), cancelled, and the CANCEL to send is returned.
    pub(super) fn provisional_seen(&mut self) -> Option<OutboundCancel> {
        match self.state {
            ForkState::CancelPending => {
                self.state = ForkState::Cancelled;
                Some(self.cancel())
            }
            ForkState::Trying => {
                self.state = ForkState::Early;
                None
            }
            _ => None,
        }
    }

    /// The ACK for a retransmission of this fork's 2xx, when it was already acknowledged.
    pub(super) fn ack_again(&self) -> Option<Output> {
        Some(Output::Transmit {
            to: self.dest,
            transport: self.transport,
            bytes: self.ack.clone()?,
        })
    }

    fn cancel(&self) -> OutboundCancel {
        (cancel_for(&self.invite), self.dest, self.transport)
    }
}

/// CANCEL for one of our INVITEs (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, CSeq
/// number and top Via.
pub(super) fn cancel_for(invite: &Message) -> Message {
    let mut cancel = Message::request(Method::Cancel, invite.request_uri().unwrap_or_default());
    for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
        if let Some(v) = invite.header_list(name).next() {
            cancel.push(name, v.to_owned());
        }
    }
    for route in invite.headers_named("Route") {
        cancel.push("Route", route.to_owned());
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    cancel.push("CSeq", format!("{seq} CANCEL"));
    cancel
}

/// Best final failure among forks, as a proxy would pick it (RFC 3261 §16.7 step 6,
/// simplified): a 6xx wins, then busy, then the lowest class seen.
pub(super) fn best_failure(codes: &[u16]) -> u16 {
    if let Some(c) = codes.iter().find(|c| **c >= 600) {
        return *c;
    }
    if codes.contains(&486) {
        return 486;
    }
    codes
        .iter()
        .copied()
        .min_by_key(|c| (c / 100, *c == 487))
        .unwrap_or(480)
}

impl Call {
    /// The outbound leg playing `role`, live or (for consults) already over: answers to its
    /// INVITEs may still arrive.
    pub fn outbound(&self, role: LegRole) -> Option<&OutboundLeg> {
        match role {
            LegRole::Callee => Some(&self.callee),
            LegRole::Consult(id) => self
                .consult
                .iter()
                .chain(&self.past_consults)
                .find(|c| c.id == id)
                .map(|c| &c.leg),
            LegRole::Transfer(id) => self
                .transfer
                .as_ref()
                .filter(|t| t.id == id)
                .map(|t| &t.leg),
            LegRole::Outdial => self.outdial.as_ref().map(|o| &o.leg),
        }
    }

    pub fn outbound_mut(&mut self, role: LegRole) -> Option<&mut OutboundLeg> {
        match role {
            LegRole::Callee => Some(&mut self.callee),
            LegRole::Consult(id) => self
                .consult
                .iter_mut()
                .chain(&mut self.past_consults)
                .find(|c| c.id == id)
                .map(|c| &mut c.leg),
            LegRole::Transfer(id) => self
                .transfer
                .as_mut()
                .filter(|t| t.id == id)
                .map(|t| &mut t.leg),
            LegRole::Outdial => self.outdial.as_mut().map(|o| &mut o.leg),
        }
    }

    /// Whether a fresh answer on the leg playing `role` is still wanted: the call rings it
    /// and nothing ended or replaced it.
    fn wants_answer(&self, role: LegRole) -> bool {
        if self.state == CallState::Ended {
            return false;
        }
        match role {
            // A queue call was answered by the switch itself; its agent legs ring after that.
            LegRole::Callee if self.queue.is_some() => true,
            LegRole::Callee => self.state == CallState::Routing,
            LegRole::Consult(id) => self
                .consult
                .as_ref()
                .is_some_and(|c| c.id == id && c.mode == ConsultMode::Ringing),
            LegRole::Transfer(id) => self
                .transfer
                .as_ref()
                .is_some_and(|t| t.id == id && t.ringing),
            LegRole::Outdial => self.outdial.as_ref().is_some_and(|o| o.ringing),
        }
    }
}

/// What a failed fork comes to for its leg (see [`Call::on_fork_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ForkFailure {
    /// Nothing yet: another fork still rings or answered, or the leg is no longer wanted.
    Pending,
    /// The leg's gateway failed: the switch tries the trunk's next one.
    Gateway,
    /// One of the agents a queue call is offered to did not take it.
    AgentLeg,
    /// Every fork failed: the leg failed with the best of their answers, `code`
    /// (`declined`: a phone answered 603).
    Settled { code: u16, declined: bool },
}

impl Call {
    /// A provisional answer to fork `index` of the leg `role`: a CANCEL that waited for one
    /// goes out (RFC 3261 §9.1); else the callee side's ringing or early media is relayed to
    /// the caller ([`Call::relay_provisional`]), and a click-to-dial customer's or a consulted
    /// party's early media reaches the agent ([`Call::outdial_early_media`],
    /// [`Call::consult_early_media`]). `latch` is how the fork's media latches.
    pub(super) fn on_fork_provisional(
        &mut self,
        sip: &LocalSip,
        role: LegRole,
        index: usize,
        latch: LatchPolicy,
        response: &Message,
    ) {
        let Some(fork) = self.outbound_mut(role).and_then(|l| l.forks.get_mut(index)) else {
            return;
        };
        if let Some((cancel, to, transport)) = fork.provisional_seen() {
            self.outputs.push_back(CallOutput::Cancel {
                to,
                transport,
                cancel,
            });
            return;
        }
        match role {
            LegRole::Callee => self.relay_provisional(sip, latch, response),
            LegRole::Outdial => self.outdial_early_media(latch, response),
            LegRole::Consult(id) => self.consult_early_media(id, latch, response),
            LegRole::Transfer(_) => {}
        }
    }

    /// A 2xx to fork `index` of the leg `role`: the same ACK again for a retransmission;
    /// otherwise acknowledged, then hung up when another fork won or the leg is no longer
    /// wanted, or else the winner: the other forks are cancelled and the leg's endpoint takes
    /// the answer's SDP, its media latching as `latch` says. `true` when the fork won, and
    /// the leg's role takes over.
    pub(super) fn on_fork_answer(
        &mut self,
        role: LegRole,
        index: usize,
        latch: LatchPolicy,
        response: &Message,
    ) -> bool {
        let wanted = self.wants_answer(role);
        let Some(fork) = self.outbound(role).and_then(|l| l.forks.get(index)) else {
            return false;
        };
        if let Some(again) = fork.ack_again() {
            self.output(again);
            return false;
        }
        let (to, transport) = (fork.dest, fork.transport);
        let Some(mut dialog) = Dialog::as_uac(&fork.invite, response, to, transport) else {
            return false;
        };
        let seq = fork.invite.cseq().map(|c| c.seq).unwrap_or(1);
        let ack = dialog.ack(seq);
        self.outputs.push_back(CallOutput::Ack {
            to,
            transport,
            ack,
            fork: Some((role, index)),
        });
        let Some(leg) = self.outbound_mut(role) else {
            return false;
        };
        let lost = !wanted
            || leg.winner.is_some()
            || matches!(
                leg.forks[index].state,
                ForkState::Cancelled | ForkState::CancelPending
            );
        if lost {
            // Another phone won, or the leg is no longer wanted: hang this one up.
            leg.forks[index].state = ForkState::Cancelled;
            let bye = dialog.request(Method::Bye);
            let (to, transport) = (dialog.peer, dialog.transport);
            self.send_request(to, transport, bye, ClientPurpose::FireAndForget);
            return false;
        }
        let fork = &mut leg.forks[index];
        fork.state = ForkState::Answered;
        fork.dialog = Some(dialog);
        leg.winner = Some(index);
        let configure = configure_endpoint(&mut leg.endpoint, response, latch);
        let endpoint = leg.endpoint.id;
        self.cancel_forks(role, &[index]);
        if let Some(command) = configure {
            self.media(command);
        }
        // Our ACK is sent: the dialog is confirmed on this side too.
        self.media(MediaCommand::Establish { endpoint });
        true
    }

    /// The switch sent `ack` for the 2xx of fork `index` of the leg `role`: kept to be sent
    /// again as it is when the 2xx is retransmitted.
    pub(super) fn ack_sent(&mut self, role: LegRole, index: usize, ack: Bytes) {
        if let Some(fork) = self.outbound_mut(role).and_then(|l| l.forks.get_mut(index)) {
            fork.ack = Some(ack);
        }
    }

    /// Fork `index` of the leg `role` failed with `code` (a final answer of 300 or more, or
    /// 408 when none came): what that comes to for the leg. A leg through trunks rings one
    /// gateway at a time; each agent offered a queue call fails on its own; any other leg
    /// fails once every fork did, with the best of their answers (RFC 3261 §16.7 step 6).
    pub(super) fn on_fork_failure(
        &mut self,
        role: LegRole,
        index: usize,
        code: u16,
    ) -> ForkFailure {
        let wanted = self.wants_answer(role);
        let queue = self.queue.is_some();
        let Some(leg) = self.outbound_mut(role) else {
            return ForkFailure::Pending;
        };
        let Some(fork) = leg.forks.get_mut(index) else {
            return ForkFailure::Pending;
        };
        if !matches!(fork.state, ForkState::Answered | ForkState::Cancelled) {
            fork.state = ForkState::Failed(code);
        }
        if leg.trunk.is_some() {
            return if !wanted || leg.winner.is_some() {
                ForkFailure::Pending
            } else {
                ForkFailure::Gateway
            };
        }
        if role == LegRole::Callee && queue {
            return ForkFailure::AgentLeg;
        }
        if !wanted || leg.winner.is_some() {
            return ForkFailure::Pending;
        }
        match leg.settled_failure() {
            Some(code) => ForkFailure::Settled {
                code,
                declined: leg.declined(),
            },
            None => ForkFailure::Pending,
        }
    }
}

impl Switch {
    /// The outbound leg playing `role` in the live call `call_key`.
    pub(super) fn outbound_mut(
        &mut self,
        call_key: CallKey,
        role: LegRole,
    ) -> Option<&mut OutboundLeg> {
        self.calls.get_mut(&call_key)?.outbound_mut(role)
    }

    /// Rings every target with its own INVITE for the outbound leg `role` of `call_key`,
    /// offering the leg's endpoint (see [`Self::fork_invite`]; `extra` is one more header;
    /// `agent` is who the forks offer a queue call to). Returns how many INVITEs went out.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ring(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        original: &Message,
        user: &str,
        targets: Vec<Target>,
        extra: Option<(&str, String)>,
        agent: Option<&Party>,
    ) -> usize {
        // The forks share one offer: SRTP only if every contact can be sent keys.
        let policy = self.cfg.srtp;
        let secure = !targets.is_empty()
            && targets
                .iter()
                .all(|(_, _, transport)| offer_sdes_to(policy, *transport));
        let keys = secure.then(|| self.fresh_srtp());
        let Some(offer) = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.outbound_mut(role))
            .map(|l| {
                l.endpoint.local.srtp = keys;
                l.endpoint.local.render_offer()
            })
        else {
            return 0;
        };
        let mut started = 0;
        for (contact, dest, transport) in targets {
            let mut invite = self.fork_invite(original, user, contact, transport, offer.clone());
            if let Some((name, value)) = &extra {
                invite.push(name, value.clone());
            }
            if !self.calls.contains_key(&call_key) {
                break;
            }
            let agent = agent.cloned();
            if self
                .start_fork(now, call_key, role, invite, dest, transport, agent)
                .is_some()
            {
                started += 1;
            }
        }
        started
    }

    /// Sends `invite` to `dest` as a new fork of `call_key`'s leg `role`; the fork's index,
    /// or `None` when the leg is gone or the request could not be sent.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_fork(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        invite: Message,
        dest: SocketAddr,
        transport: Transport,
        agent: Option<Party>,
    ) -> Option<usize> {
        let index = self
            .calls
            .get(&call_key)
            .and_then(|c| c.outbound(role))
            .map(|l| l.forks.len())?;
        let purpose = ClientPurpose::Fork {
            call: call_key,
            role,
            index,
        };
        self.request(now, dest, transport, invite.clone(), purpose)?;
        let leg = self.outbound_mut(call_key, role)?;
        leg.forks.push(Fork::trying(invite, dest, transport, agent));
        Some(index)
    }

    /// A response to one of the INVITEs of `call_key`'s outbound leg `role`.
    pub(super) fn on_outbound_response(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        index: usize,
        response: Message,
    ) {
        let Some(code) = response.status() else {
            return;
        };
        self.gateway_heard(call_key, role, index);
        if matches!(code, 401 | 407)
            && self.answer_gateway_challenge(now, call_key, role, index, &response)
        {
            return;
        }
        match code {
            100 => {}
            101..=199 => {
                self.step_fork(now, call_key, role, index, |call, sip, latch| {
                    call.on_fork_provisional(sip, role, index, latch, &response)
                });
            }
            200..=299 => {
                let won = self.step_fork(now, call_key, role, index, |call, _, latch| {
                    call.on_fork_answer(role, index, latch, &response)
                });
                if won == Some(true) {
                    self.fork_won(now, call_key, role, index);
                }
            }
            _ => self.on_outbound_failure(now, call_key, role, index, code),
        }
    }

    /// Hands `call_key`'s call `step` for fork `index` of its leg `role` (see
    /// [`Switch::step_call`]), with how the fork's media latches: by the address it was sent
    /// to. `None` when there is no such fork.
    fn step_fork<R>(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        index: usize,
        step: impl FnOnce(&mut Call, &LocalSip, LatchPolicy) -> R,
    ) -> Option<R> {
        let call = self.calls.get(&call_key)?;
        let dest = call.outbound(role)?.forks.get(index)?.dest;
        let latch = self.latch_for(dest.ip());
        self.step_call(now, call_key, latch, step)
    }

    /// Fork `index` of the leg `role` won (see [`Call::on_fork_answer`]): the role takes over.
    fn fork_won(&mut self, now: Instant, call_key: CallKey, role: LegRole, index: usize) {
        match role {
            LegRole::Callee => self.on_callee_answered(now, call_key, index),
            LegRole::Consult(_) => self.on_consult_answered(now, call_key, index),
            LegRole::Transfer(_) => self.on_transfer_answered(now, call_key, index),
            LegRole::Outdial => self.on_outdial_answered(now, call_key, index),
        }
    }

    /// One of the leg's INVITEs failed: a final answer of 300 or more, or no answer at all
    /// (408). The call says what that comes to ([`Call::on_fork_failure`]); a leg through
    /// trunks first tries its next gateway.
    pub(super) fn on_outbound_failure(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        index: usize,
        code: u16,
    ) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        match call.on_fork_failure(role, index, code) {
            ForkFailure::Pending => {}
            ForkFailure::Gateway => {
                // One gateway at a time: its failure decides, not the best of every fork's.
                if !self.trunk_attempt_failed(now, call_key, role, index, AttemptEnd::Status(code))
                {
                    // The carrier refusing the switch's credentials is no challenge for the
                    // caller.
                    let code = if matches!(code, 401 | 407) { 403 } else { code };
                    self.outbound_leg_failed(now, call_key, role, code, code == 603);
                }
            }
            // Each agent offered the call fails on its own (ring-all rings several).
            ForkFailure::AgentLeg => self.on_agent_leg_failed(now, call_key),
            ForkFailure::Settled { code, declined } => {
                self.outbound_leg_failed(now, call_key, role, code, declined)
            }
        }
    }

    /// The leg `role` failed for good with `code` (`declined`: a 603): what that means is
    /// its role's business.
    pub(super) fn outbound_leg_failed(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        code: u16,
        declined: bool,
    ) {
        let queue = self.calls.get(&call_key).is_some_and(|c| c.queue.is_some());
        match role {
            LegRole::Callee if queue => self.on_agent_leg_failed(now, call_key),
            LegRole::Callee => self.end_call(now, call_key, Ending::Failed(code), None),
            LegRole::Consult(_) => {
                let reason = if declined {
                    ConsultFailure::Declined
                } else {
                    ConsultFailure::Unavailable
                };
                self.fail_consult(now, call_key, reason);
            }
            LegRole::Transfer(_) => self.fail_transfer(now, call_key, code),
            LegRole::Outdial => self.fail_outdial(now, call_key, &format!("customer_{code}"), code),
        }
    }

    /// CANCEL every fork of the leg `role` still ringing whose index is not in `keep`.
    pub(super) fn cancel_forks_except(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        keep: &[usize],
    ) {
        if let Some(call) = self.calls.get_mut(&call_key) {
            call.cancel_forks(role, keep);
        }
        self.drain_call(now, call_key);
    }

    /// Sends CANCELs made by [`OutboundLeg::cancel_ringing`] or [`Fork::provisional_seen`].
    pub(super) fn send_cancels(&mut self, now: Instant, cancels: Vec<OutboundCancel>) {
        for (cancel, dest, transport) in cancels {
            self.request(now, dest, transport, cancel, ClientPurpose::FireAndForget);
        }
    }

    /// The dialog a 2xx to our `invite` creates, and the ACK for it (already sent).
    pub(super) fn acknowledge(
        &mut self,
        invite: &Message,
        dest: SocketAddr,
        transport: Transport,
        response: &Message,
    ) -> Option<(Dialog, Bytes)> {
        let dialog = Dialog::as_uac(invite, response, dest, transport)?;
        let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
        let via = self.our_via(transport);
        let mut ack = dialog.ack(seq);
        ack.push_front("Via", via);
        let bytes = ack.to_bytes();
        self.outputs.push_back(Output::Transmit {
            to: dest,
            transport,
            bytes: bytes.clone(),
        });
        Some((dialog, bytes))
    }

    /// Sends BYE in `dialog` (whose answer does not matter).
    pub(super) fn send_bye(&mut self, now: Instant, dialog: &mut Dialog) {
        let transport = dialog.transport;
        let via = self.our_via(transport);
        let mut bye = dialog.request(Method::Bye);
        bye.push_front("Via", via);
        let dest = dialog.peer;
        self.request(now, dest, transport, bye, ClientPurpose::FireAndForget);
    }
}

/// Takes what the phone agreed to in `message`'s SDP into `endpoint`; the media command that
/// tells the runtime, or `None` when the SDP is unusable.
pub(super) fn configure_endpoint(
    endpoint: &mut Endpoint,
    message: &Message,
    latch: LatchPolicy,
) -> Option<MediaCommand> {
    let sdp = SessionDescription::parse(message.body()).ok()?;
    let (_, audio) = sdp.audio()?;
    let negotiated = endpoint.local.negotiate(audio)?;
    endpoint.negotiated = Some(negotiated.clone());
    Some(MediaCommand::Configure {
        endpoint: endpoint.id,
        remote: audio.rtp_address(),
        negotiated,
        direction: audio.direction,
        rtcp_mux: audio.rtcp_mux,
        latch,
    })
}

/// Early media (a 183 with SDP) on a leg the agent waits on, heard in place of its ringing
/// tone: `endpoint` takes the SDP, configured but not established, so nothing is sent before
/// the answer, and is bridged to the agent's `agent`, which ends the tone. The two media
/// commands, or `None` when the response has no usable SDP.
pub(super) fn early_media_to_agent(
    endpoint: &mut Endpoint,
    agent: EndpointId,
    response: &Message,
    latch: LatchPolicy,
) -> Option<[MediaCommand; 2]> {
    if !response.carries_sdp() {
        return None;
    }
    let configure = configure_endpoint(endpoint, response, latch)?;
    Some([
        configure,
        MediaCommand::Bridge {
            a: agent,
            b: endpoint.id,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::super::lab::{DOMAIN, Lab, persisted_binding, phone};
    use super::*;

    /// 1001 calls 1002, which has two phones (a softphone at its lab address and a desk
    /// phone): returns each phone's address with the INVITE it got.
    fn ringing_two_phones() -> (Lab, SocketAddr, Message, SocketAddr, Message) {
        let mut lab = Lab::new();
        lab.register("1001");
        lab.register("1002");
        let desk: SocketAddr = "127.0.0.1:30002".parse().unwrap();
        let mut binding = persisted_binding("1002");
        binding.contact_uri = format!("sip:1002@{desk}");
        binding.received = Some(desk);
        binding.call_id = "reg-1002-desk".into();
        lab.sw
            .restore_binding(lab.now, &format!("1002@{DOMAIN}"), binding);
        let to_soft = lab.ring("1001", "1002");
        let to_desk = lab.take(desk, "INVITE");
        (lab, phone("1002"), to_soft, desk, to_desk)
    }

    /// ```text
    ///  1001        switch        1002 (soft)   1002 (desk)
    ///   │── INVITE ──▶│── INVITE ───▶│             │
    ///   │             │── INVITE ─────────────────▶│
    ///   │             │◀── 180 ──────│◀── 180 ─────│
    ///   │             │◀── 200 ─────────────────────│   the desk phone wins
    ///   │             │── ACK, CANCEL ▶│            │
    ///   │◀── 200 ─────│                             │   one Contact, the switch's
    ///   │             │◀── 200 ──────│               the soft phone answered anyway:
    ///   │             │── ACK, BYE ──▶│              acknowledged and hung up
    /// ```
    #[test]
    fn the_first_phone_to_answer_wins_and_a_late_answer_is_acknowledged_and_hung_up() {
        let (mut lab, soft, to_soft, desk, to_desk) = ringing_two_phones();
        assert_ne!(
            to_soft.call_id(),
            to_desk.call_id(),
            "each fork is its own dialog"
        );
        lab.reply(&to_soft, 180, soft);
        lab.reply(&to_desk, 180, desk);
        lab.reply(&to_desk, 200, desk);
        lab.take(desk, "ACK");
        let cancel = lab.take(soft, "CANCEL");
        assert_eq!(cancel.call_id(), to_soft.call_id());
        let ok = lab.take(phone("1001"), "200");
        assert_eq!(
            ok.headers_named("Contact").count(),
            1,
            "a 2xx names one Contact: {ok:?}"
        );
        lab.reply(&to_soft, 200, soft);
        lab.take(soft, "ACK");
        let bye = lab.take(soft, "BYE");
        assert_eq!(bye.call_id(), to_soft.call_id());
        assert!(
            lab.take_all(desk).is_empty(),
            "the winner hears nothing more"
        );
    }

    /// Every phone of the callee refuses: the caller gets the best of their answers.
    #[test]
    fn when_every_phone_refuses_the_caller_hears_the_best_refusal() {
        let (mut lab, soft, to_soft, desk, to_desk) = ringing_two_phones();
        lab.reply(&to_soft, 480, soft);
        assert!(
            lab.try_take(phone("1001"), "480").is_none(),
            "one still rings"
        );
        lab.reply(&to_desk, 486, desk);
        lab.take(phone("1001"), "486");
        assert_eq!(lab.cdrs.len(), 1);
        assert_eq!(lab.cdrs[0].sip_code, 486);
    }

    /// ```text
    ///  1001        switch        1002
    ///   │◀── 183 ─────│◀── 183 ──────│   early media: our SDP and Contact, not the phone's
    ///   │◀── 200 ─────│◀── 200 ──────│
    ///   │             │── ACK ──────▶│
    ///   │             │◀── 200 ──────│   sent again
    ///   │             │── ACK ──────▶│   the same ACK; the caller hears nothing more
    /// ```
    #[test]
    fn early_media_reaches_the_caller_as_ours_and_a_repeated_2xx_gets_the_same_ack() {
        let mut lab = Lab::new();
        lab.register("1001");
        lab.register("1002");
        let invite = lab.ring("1001", "1002");
        let (caller, callee) = (phone("1001"), phone("1002"));
        lab.reply(&invite, 183, callee);

        let relayed = lab.take(caller, "183");
        let contact = relayed.header("Contact").expect("our Contact");
        assert!(contact.contains(&lab.sw.cfg.advertised.ip().to_string()));
        let body = String::from_utf8_lossy(relayed.body()).into_owned();
        assert!(body.starts_with("v=0"), "our SDP: {body}");
        let theirs = format!("m=audio {}", callee.port() + 1);
        assert!(!body.contains(&theirs), "not the phone's: {body}");

        lab.reply(&invite, 200, callee);
        let ack = lab.take(callee, "ACK");
        lab.take(caller, "200");
        lab.reply(&invite, 200, callee);
        let again = lab.take(callee, "ACK");
        assert_eq!(again.to_bytes(), ack.to_bytes());
        assert!(lab.try_take(caller, "200").is_none());
    }

    #[test]
    fn busy_beats_other_failures_and_decline_beats_busy() {
        assert_eq!(best_failure(&[480, 486]), 486);
        assert_eq!(best_failure(&[486, 603]), 603);
        assert_eq!(best_failure(&[487, 480]), 480);
        assert_eq!(best_failure(&[]), 480);
    }
}
