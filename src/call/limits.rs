//! Concurrent-call limits (issue 15 item 6): the org's (all calls), a queue's (its live
//! calls) and a trunk's (its channels, both ways), besides the profile's `sip.max_calls`.
//! A call over one is refused before it is answered, with the status its kind calls for and
//! an RFC 3326 `Reason` naming the limit; unlike the per-source brakes of `admission` (an
//! attacker's flood, counted and logged), these refuse real callers, so each refusal leaves
//! a CDR (`hangup_cause` `refused`, `refused_by` the limit) and, for a queue call, an
//! interaction saying the same. Checked after the per-source rate, so a flood from one
//! address is throttled there before it can write records here.

use super::invite_routing::Routed;
use super::model::*;
use super::outbound::LegRole;
use super::record::{Cdr, CdrId, CdrLeg, HangupCause, HangupSide, UnixMillis};
use super::rejection::Rejection;
use super::switch::Switch;
use crate::sip::message::Message;
use crate::sip::transaction::TransactionKey;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// Calls counted against named limits (a trunk's channels both ways, a queue's live calls),
/// and which leg of which call holds which: a call may hold two trunk channels (a customer in
/// through a trunk, consulting a number out through another).
#[derive(Debug, Default)]
pub struct CallCounts {
    in_use: HashMap<String, u32>,
    held: HashMap<CallKey, Vec<(Option<LegRole>, String)>>,
    /// Legs the switch placed out through any trunk (a leg role, not a caller side).
    outbound: u32,
    /// The org's most concurrent outbound calls (`max_outbound_calls`; 0: none).
    pub outbound_max: u32,
}

impl CallCounts {
    /// Counts `call`'s leg `role` (`None`: its caller side) against `trunk` (limit `max`, 0:
    /// none), giving back what that leg held against another; `false` when it is full.
    pub fn acquire(&mut self, call: CallKey, role: Option<LegRole>, trunk: &str, max: u32) -> bool {
        let held = self.held.get(&call).into_iter().flatten();
        if held.clone().any(|(r, t)| *r == role && t == trunk) {
            return true;
        }
        if !self.has_room(trunk, max) {
            return false;
        }
        self.release(call, role);
        if role.is_some() {
            if !self.has_outbound_room() {
                return false;
            }
            self.outbound += 1;
        }
        *self.in_use.entry(trunk.to_owned()).or_default() += 1;
        self.held
            .entry(call)
            .or_default()
            .push((role, trunk.to_owned()));
        true
    }

    /// Gives back the channel `call`'s leg `role` holds, if any.
    pub fn release(&mut self, call: CallKey, role: Option<LegRole>) {
        let Some(held) = self.held.get_mut(&call) else {
            return;
        };
        let mut gone = Vec::new();
        held.retain(|(r, t)| {
            let keep = *r != role;
            if !keep {
                gone.push(t.clone());
            }
            keep
        });
        if held.is_empty() {
            self.held.remove(&call);
        }
        for trunk in gone {
            self.give_back(role, &trunk);
        }
    }

    /// Gives back every channel `call` holds (it ended).
    pub fn release_call(&mut self, call: CallKey) {
        for (role, trunk) in self.held.remove(&call).unwrap_or_default() {
            self.give_back(role, &trunk);
        }
    }

    fn give_back(&mut self, role: Option<LegRole>, trunk: &str) {
        if let Some(used) = self.in_use.get_mut(trunk) {
            *used = used.saturating_sub(1);
        }
        if role.is_some() {
            self.outbound = self.outbound.saturating_sub(1);
        }
    }

    /// Whether the org may place one more outbound call.
    #[must_use]
    pub fn has_outbound_room(&self) -> bool {
        self.outbound_max == 0 || self.outbound < self.outbound_max
    }

    /// Channels of `trunk` in use.
    #[must_use]
    pub fn in_use(&self, trunk: &str) -> u32 {
        self.in_use.get(trunk).copied().unwrap_or(0)
    }

    /// Whether `trunk` (limit `max`) has a channel free.
    #[must_use]
    pub fn has_room(&self, trunk: &str, max: u32) -> bool {
        max == 0 || self.in_use(trunk) < max
    }
}

impl Switch {
    /// Refuses the new call `routed` when it is over the org's, its queue's or its trunk's
    /// limit; `true` when it was refused (answered and recorded).
    pub(super) fn over_call_limit(
        &mut self,
        now: Instant,
        from: SocketAddr,
        key: &TransactionKey,
        request: &Message,
        routed: &Routed,
    ) -> bool {
        let org = self.dial_plan.org_max_calls;
        let queue_limit = routed
            .queue
            .as_ref()
            .and_then(|q| Some((q, *self.dial_plan.queue_limits.get(q)?)));
        let why = if org > 0 && self.calls.len() >= org as usize {
            Rejection::OrgFull
        } else if let Some((queue, max)) = queue_limit
            && !self.queue_calls.has_room(queue, max)
        {
            Rejection::QueueFull
        } else if let Some((trunk, max)) = &routed.inbound_channel
            && !self.trunk_channels.has_room(trunk, *max)
        {
            Rejection::TrunkFull
        } else {
            return false;
        };
        self.refuse(now, from, key, request, routed, why);
        true
    }

    /// Answers `request` for `why` and, when a limit refused it, records the refusal: a CDR,
    /// and for a queue call an interaction, naming the limit.
    pub(super) fn refuse(
        &mut self,
        now: Instant,
        from: SocketAddr,
        key: &TransactionKey,
        request: &Message,
        routed: &Routed,
        why: Rejection,
    ) {
        self.reject(now, key, request, why);
        let Some(limit) = why.limit().filter(|_| why.is_business_limit()) else {
            return;
        };
        tracing::info!(event = "call_refused", limit, caller = %routed.caller_user, callee = %routed.callee_user);
        let at = UnixMillis(self.unix_ms(now));
        let code = why.status().0;
        let call_id = request.call_id().unwrap_or_default().to_owned();
        let interaction = routed
            .queue
            .as_ref()
            .map(|_| InteractionId(format!("ix-{}", self.token(16))));
        let cdr = Cdr {
            id: CdrId(self.record_id(now)),
            call_id: call_id.clone(),
            caller: routed.caller_user.clone(),
            callee: routed.callee_user.clone(),
            start_ms: at,
            answer_ms: None,
            end_ms: at,
            duration: std::time::Duration::ZERO,
            hangup_cause: HangupCause::Refused,
            hangup_side: HangupSide::Switch,
            sip_code: code,
            legs: vec![CdrLeg {
                call_id,
                role: "caller".into(),
                remote: from.to_string(),
                codec: None,
                final_code: Some(code),
            }],
            created_ms: at,
            interaction: interaction.as_ref().map(|i| i.0.clone()),
            refused_by: Some(limit.to_owned()),
        };
        let token = self.next_id();
        self.outputs.push_back(Output::PersistCdr {
            token,
            cdr: Box::new(cdr),
        });
        if let (Some(interaction), Some(queue)) = (interaction, &routed.queue) {
            self.outputs.push_back(Output::Queue(QueueEvent::Refused {
                interaction,
                queue: QueueId(queue.clone()),
                ani: routed.caller_user.clone(),
                dnis: routed.callee_user.clone(),
                limit: limit.to_owned(),
            }));
        }
    }

    /// The org's concurrent-call limit changed (0: none).
    pub fn set_org_call_limit(&mut self, limit: u32) {
        self.dial_plan.org_max_calls = limit;
    }

    /// The org's limit of concurrent outbound calls changed (0: none).
    pub fn set_org_outbound_limit(&mut self, limit: u32) {
        self.trunk_channels.outbound_max = limit;
    }

    /// The queues' limits changed (the CTI changed a queue).
    pub fn set_queue_limits(&mut self, limits: HashMap<String, u32>) {
        self.dial_plan.queue_limits = limits;
    }

    /// The agents' own calling classes changed.
    pub fn set_agent_classes(&mut self, classes: HashMap<String, crate::dialing::CallingClass>) {
        self.dial_plan.agent_classes = classes;
    }

    /// The caller IDs the queues' calls out present changed.
    pub fn set_queue_caller_ids(&mut self, caller_ids: HashMap<String, String>) {
        self.dial_plan.queue_caller_ids = caller_ids;
    }
}
