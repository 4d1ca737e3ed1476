//! Click-to-dial, the switch's half (issue 15 item 3): the contact center asks for a call
//! between an agent and a number; the switch rings the agent's phone first (with a
//! `Call-Info: answer-after=0` hint, which phones that auto-answer take up), and once it
//! answers dials the number out through a trunk (`trunk_calls`: E.164, the agent
//! extension's calling class, routes, failover), the agent's phone showing the customer's
//! number. When the customer answers, its leg takes the caller side and the call is a
//! connected interaction exactly like a queue call: the agent is the callee side, the
//! customer the caller side, so hold, consult, transfer, conference, recording and noise
//! suppression work unchanged. That is the shape FreeSWITCH's `originate` to the agent then
//! `bridge` to the gateway gives, and Webex Contact Center's outdial.
//!
//! Until the customer answers, the caller side is a placeholder: a dialog nobody holds (it is
//! never in the switch's dialog map, so nothing is ever sent on it). A failure on either leg
//! ends the call and tells the contact center why ([`QueueEvent::OutdialFailed`]).

use super::model::*;
use super::switch::Switch;
use super::trunk_calls::TrunkRoute;
use crate::sip::dialog::{Dialog, DialogKey};
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use std::time::Instant;

/// The customer leg of a click-to-dial call.
#[derive(Debug)]
pub struct OutdialLeg {
    /// The switch's leg to the gateway (its endpoint is the caller side's).
    pub leg: OutboundLeg,
    /// The customer's phone rings.
    pub ringing: bool,
    /// When a customer who has not answered is given up (the profile's ring timeout).
    pub ring_deadline: Option<Instant>,
    /// The customer answered: its leg is the caller side now.
    pub connected: bool,
    /// Why the call did not connect, for the contact center.
    pub failure: Option<String>,
    /// The customer's network sent early media, which the agent hears instead of our tone.
    pub early_media: bool,
}

impl Switch {
    /// Whether `extension` may dial `number` out, before anything rings: the number as the
    /// gateway will see it (E.164), with a new interaction id for the call; or the reason it
    /// is refused (`not_a_number`, `number_characters`, `calling_class_national`,
    /// `no_route`, ...), the same checks and words as a phone's own call out.
    pub fn plan_outdial(
        &mut self,
        extension: &str,
        agent: &crate::ids::AgentId,
        number: &str,
    ) -> Result<(InteractionId, String), &'static str> {
        match self.plan_outbound_for(extension, Some(agent), number) {
            Ok(Some(route)) => {
                let id = self.new_interaction_id();
                Ok((id, route.number.as_str().to_owned()))
            }
            Ok(None) => Err("not_a_number"),
            Err(why) => Err(why.reason().unwrap_or("refused")),
        }
    }

    /// Whether a customer's callback number is one to dial: normalised to E.164 by the dial
    /// plan, within the default calling class and clear of blocked prefixes (a public form
    /// must not make the switch call premium or foreign numbers), with an outbound route.
    /// Busy trunks and the org's outbound limit do not matter here: the call is made later.
    pub fn check_callback_number(&self, number: &str) -> Result<String, &'static str> {
        // No extension is named "": the default class applies.
        match self.vet_number("", None, number) {
            Ok(Some(number)) if self.cfg.dialing.routes.trunks_for(&number).is_some() => {
                Ok(number.as_str().to_owned())
            }
            Ok(Some(_)) => Err("no_route"),
            Ok(None) => Err("not_a_number"),
            Err(why) => Err(why.reason().unwrap_or("refused")),
        }
    }

    /// A new interaction id.
    pub fn new_interaction_id(&mut self) -> InteractionId {
        InteractionId(format!("ix-{}", self.token(16)))
    }

    /// Starts a click-to-dial call; its failure comes back as [`QueueEvent::OutdialFailed`].
    pub(super) fn start_outdial(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: Party,
        extension: String,
        number: String,
        queue: QueueId,
    ) {
        if self.interactions.contains_key(&interaction) {
            return;
        }
        let failed = |reason: &str| {
            Output::Queue(QueueEvent::OutdialFailed {
                interaction: interaction.clone(),
                reason: reason.to_owned(),
            })
        };
        let targets = self.targets_of(now, &extension);
        if targets.is_empty() {
            self.outputs.push_back(failed("agent_unavailable"));
            return;
        }
        let agent_id = match &agent {
            Party::Agent(id) => Some(id.clone()),
            _ => None,
        };
        let route = match self.plan_outbound_for(&extension, agent_id.as_ref(), &number) {
            Ok(Some(route)) => route,
            Ok(None) => {
                self.outputs.push_back(failed("not_a_number"));
                return;
            }
            Err(why) => {
                self.outputs
                    .push_back(failed(why.reason().unwrap_or("refused")));
                return;
            }
        };
        let Some(customer_endpoint) = self.open_endpoint() else {
            self.outputs.push_back(failed("media_ports"));
            return;
        };
        let Some(agent_endpoint) = self.open_endpoint() else {
            self.close_endpoint(&customer_endpoint);
            self.outputs.push_back(failed("media_ports"));
            return;
        };
        let number = route.number.as_str().to_owned();
        let route = TrunkRoute {
            presented: self.dial_plan.queue_caller_ids.get(queue.as_str()).cloned(),
            ..route
        };
        let customer = self.placeholder_customer(&number, &extension);
        let local_tag = self.token(10);
        let Some(dialog) =
            Dialog::as_uas(&customer, local_tag, self.cfg.advertised, Transport::Udp)
        else {
            self.close_endpoint(&customer_endpoint);
            self.close_endpoint(&agent_endpoint);
            self.outputs.push_back(failed("internal"));
            return;
        };
        let call_key = CallKey(self.next_id());
        self.stats.calls_started += 1;
        let call = Call {
            key: call_key,
            cdr_id: self.record_id(now),
            caller_user: number.clone(),
            callee_user: extension.clone(),
            state: CallState::Routing,
            caller: InboundLeg {
                invite: customer.clone(),
                server_txn: None,
                dialog,
                endpoint: customer_endpoint.clone(),
                delayed_offer: false,
                pending_2xx: None,
                awaiting_final: false,
                trusted: true,
            },
            callee: OutboundLeg::new(agent_endpoint),
            started_unix_ms: self.unix_ms(now),
            answered_unix_ms: None,
            relay: None,
            callee_pending_2xx: None,
            queue: Some(QueueLeg {
                courtesy: None,
                interaction: interaction.clone(),
                offered_to: vec![agent.clone()],
                held: false,
                recording: false,
                queue,
            }),
            consult: None,
            past_consults: Vec::new(),
            transfer: None,
            transferred_to: None,
            first_fork: 0,
            ring_deadline: Some(now + self.cfg.ring_timeout),
            scheduled: None,
            outdial: Some(OutdialLeg {
                leg: OutboundLeg {
                    trunk: Some(route),
                    ..OutboundLeg::new(customer_endpoint)
                },
                ringing: false,
                ring_deadline: None,
                connected: false,
                failure: None,
                early_media: false,
            }),
            outputs: std::collections::VecDeque::new(),
        };
        self.calls.insert(call_key, Box::new(call));
        self.route_endpoints(call_key);
        self.interactions.insert(interaction, call_key);
        self.schedule(call_key);
        let auto_answer = (
            "Call-Info",
            format!("<sip:{}>;answer-after=0", self.cfg.domain),
        );
        let rung = self.ring(
            now,
            call_key,
            LegRole::Callee,
            &customer,
            &extension,
            targets,
            Some(auto_answer),
            Some(&agent),
        );
        if rung == 0 {
            self.fail_outdial(now, call_key, "agent_unavailable", 480);
            return;
        }
        self.persist_cdr_in_progress(now, call_key);
    }

    /// The caller side of a click-to-dial call until the customer answers: the customer as
    /// the agent's phone shows it (From), and a dialog nobody holds.
    fn placeholder_customer(&mut self, number: &str, extension: &str) -> Message {
        let domain = self.cfg.domain.clone();
        let advertised = self.cfg.advertised;
        let call_id = format!("{}@{}", self.token(20), self.advertised_ip());
        let tag = self.token(10);
        let branch = self.token(12);
        Message::request(Method::Invite, format!("sip:{extension}@{domain}"))
            .with(
                "Via",
                format!("SIP/2.0/UDP {advertised};branch=z9hG4bK{branch}"),
            )
            .with("From", format!("<sip:{number}@{domain}>;tag={tag}"))
            .with("To", format!("<sip:{extension}@{domain}>"))
            .with("Call-ID", call_id)
            .with("CSeq", "1 INVITE")
            .with("Contact", format!("<sip:{number}@{advertised}>"))
    }

    /// Whether `call_key` is a click-to-dial call whose customer has not answered yet.
    pub(super) fn placing_customer(&self, call_key: CallKey) -> bool {
        self.calls
            .get(&call_key)
            .and_then(|c| c.outdial.as_ref())
            .is_some_and(|o| !o.connected)
    }

    /// The agent's phone answered a click-to-dial call: the customer is dialled now, and the
    /// agent hears the ringing tone until it answers (FreeSWITCH's `ringback` on an
    /// originate; a silent line makes agents think the call is dead).
    pub(super) fn on_outdial_agent_answered(&mut self, now: Instant, call_key: CallKey) {
        let deadline = now + self.cfg.ring_timeout;
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        call.ring_deadline = None;
        let agent = call.callee.endpoint.id;
        if let Some(outdial) = call.outdial.as_mut() {
            outdial.ringing = true;
            outdial.ring_deadline = Some(deadline);
        }
        if !self.ring_next_gateway(now, call_key, LegRole::Outdial) {
            self.fail_outdial(now, call_key, "no_gateway", 503);
            return;
        }
        self.outputs
            .push_back(Output::Media(MediaCommand::PlayRingback {
                endpoint: agent,
            }));
        self.schedule(call_key);
    }

    /// The customer answered (fork `index` of the customer leg won): the call takes its leg
    /// as the caller side ([`Call::outdial_answered`]); the switch routes its dialog and
    /// endpoint to the call, counts the answer and connects the agent as a queue call's.
    pub(super) fn on_outdial_answered(&mut self, now: Instant, call_key: CallKey, index: usize) {
        let answered_at = self.unix_ms(now);
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let Some((key, agent_fork)) = call.outdial_answered(index, answered_at) else {
            return;
        };
        self.dialogs.insert(key, (call_key, Side::Caller));
        self.route_endpoints(call_key);
        self.stats.calls_answered += 1;
        self.drain_call(now, call_key);
        if let Some(agent_fork) = agent_fork {
            self.on_agent_answered(now, call_key, agent_fork);
        }
    }

    /// The click-to-dial call `call_key` failed for `reason` (the customer's status `code`
    /// for the record): it ends, and the contact center hears why.
    pub(super) fn fail_outdial(
        &mut self,
        now: Instant,
        call_key: CallKey,
        reason: &str,
        code: u16,
    ) {
        let Some(outdial) = self
            .calls
            .get_mut(&call_key)
            .and_then(|c| c.outdial.as_mut())
        else {
            return;
        };
        outdial.ringing = false;
        outdial.failure.get_or_insert_with(|| reason.to_owned());
        self.end_call(now, call_key, Ending::Failed(code), None);
    }

    /// The event that reports the end of click-to-dial call `call` before its customer
    /// answered; `None` for every other call.
    pub(super) fn outdial_failure(call: &Call) -> Option<QueueEvent> {
        let outdial = call.outdial.as_ref().filter(|o| !o.connected)?;
        Some(QueueEvent::OutdialFailed {
            interaction: call.queue.as_ref()?.interaction.clone(),
            reason: outdial.failure.clone().unwrap_or_else(|| {
                let reason = if call.callee.winner.is_none() {
                    "agent_no_answer"
                } else {
                    "cancelled"
                };
                reason.into()
            }),
        })
    }
}

impl Call {
    /// Fork `index` of the click-to-dial customer leg answered (at `answered_unix_ms`): its
    /// dialog, INVITE and endpoint become the caller side, the call is answered and the
    /// agent's ringing tone stops. Returns the caller dialog's key and the agent's winning
    /// fork, if the agent answered; `None` when there is no such answered fork.
    pub(super) fn outdial_answered(
        &mut self,
        index: usize,
        answered_unix_ms: i64,
    ) -> Option<(DialogKey, Option<usize>)> {
        let outdial = self.outdial.as_mut()?;
        let fork = outdial.leg.forks.get(index)?;
        let dialog = fork.dialog.clone()?;
        let invite = fork.invite.clone();
        outdial.ringing = false;
        outdial.connected = true;
        self.caller.endpoint = outdial.leg.endpoint.clone();
        self.caller.dialog = dialog;
        self.caller.invite = invite;
        self.state = CallState::Answered;
        self.answered_unix_ms = Some(answered_unix_ms);
        // The ringing tone stops before the agent is bridged to the customer.
        let agent = self.callee.endpoint.id;
        self.media(MediaCommand::StopMusic { endpoint: agent });
        Some((self.caller.dialog.key(), self.callee.winner))
    }

    /// The customer's network sends early media (a 183 with SDP: its own ringback, or an
    /// announcement such as "the number is not in service"): the agent hears it in place of
    /// our ringing tone, as FreeSWITCH's bridge passes early media on. The media goes one way,
    /// customer to agent: nothing is sent to the gateway before its dialog is confirmed. The
    /// first usable early SDP is taken, its media latching as `latch` says; the answer's SDP
    /// configures the endpoint again.
    pub(super) fn outdial_early_media(&mut self, latch: LatchPolicy, response: &Message) {
        let agent = self.callee.endpoint.id;
        let Some(outdial) = self
            .outdial
            .as_mut()
            .filter(|o| !o.connected && !o.early_media)
        else {
            return;
        };
        let Some(commands) = super::outbound::early_media_to_agent(
            &mut outdial.leg.endpoint,
            agent,
            response,
            latch,
        ) else {
            return;
        };
        outdial.early_media = true;
        for command in commands {
            self.media(command);
        }
    }
}
