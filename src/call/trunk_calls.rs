//! Calls to external numbers, out through a trunk's gateways (issue 15 item 2).
//!
//! A Request-URI user that is no extension, when the profile has outbound routes, is a number
//! to dial: it is normalised to E.164 (a letter is refused, not guessed at), checked against
//! the caller's calling class and the blocked prefixes, and routed by the longest matching
//! prefix to an ordered list of trunks. All of that happens before any port is taken or any
//! gateway hears of the call, so a refused number costs nothing and leaks nothing.
//!
//! The same path serves every outbound leg that reaches a number: the callee side of a call,
//! an agent's consult, a transfer. The leg tries one gateway at a time, in order: each trunk's
//! gateways, then the next trunk's. A gateway that does not answer at all within [`GATEWAY_SILENCE_T1S`]·T1
//! (not even `100 Trying`), or answers 408 or 5xx, hands the call to the next; a callee's
//! answer (busy, declined, not found) ends the call with that answer, as FreeSWITCH's
//! `continue_on_fail` and Asterisk's `Dial` fallbacks are usually set up for carriers. A
//! carrier's 401/407 to the INVITE is answered once per attempt with the trunk's
//! credentials.
//!
//! What the far end sees: Request-URI and To `sip:+E164@gateway`, From and
//! `P-Asserted-Identity` carrying the trunk's `caller_id` (the company's number: a carrier
//! refuses an extension's), else the caller's own number. Each trunk's concurrent calls, both
//! ways, are counted against its `max_channels`: a trunk at its limit is skipped, and a call
//! finding every trunk of its route full is refused 503 with `Reason: ...;text="trunk_channels"`.

use super::model::*;
use super::outbound::LegRole;
use super::rejection::Rejection;
use super::switch::{ClientPurpose, Switch};
use super::trunk_registration::gateway_uri;
use super::trunks::trunk_media_codecs;
use crate::dialing::{AttemptEnd, CallingClass, E164, NumberError, TollRefusal, fails_over};
use crate::sip::digest::Challenge;
use crate::sip::message::Message;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// How many T1 (4 s at the default 500 ms) a gateway may stay silent, not even `100 Trying`,
/// before the next is tried: a live gateway answers an INVITE within a round trip, and
/// waiting for Timer B (64·T1) would outlast the ring timeout.
pub const GATEWAY_SILENCE_T1S: u32 = 8;

/// An outbound call's way out: the number and the gateways still to try.
#[derive(Debug)]
pub struct TrunkRoute {
    pub number: E164,
    /// What From and `P-Asserted-Identity` carry when the trunk names no caller ID.
    pub caller_number: String,
    /// (trunk name, gateway) still to try, in order. By name, not by position in the
    /// switch's outbound trunks: the admin API may replace those while the call rings.
    pub remaining: VecDeque<(String, SocketAddr)>,
    /// The attempt in flight: its trunk and the index of its fork in the leg.
    pub current: Option<Attempt>,
    /// Who the leg's forks offer a queue call to (a transfer to a number), as `ring` marks
    /// an agent's forks.
    pub party: Option<Party>,
    /// What From and `P-Asserted-Identity` carry whatever the trunk says: the caller ID of
    /// the queue an agent calls out for.
    pub presented: Option<String>,
}

/// One gateway being tried.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The trunk's name.
    pub trunk: String,
    pub fork: usize,
    /// Until a first answer (any, even `100 Trying`) comes, when the gateway is given up.
    pub silence_deadline: Option<Instant>,
    /// The carrier's challenge was answered already.
    pub authenticated: bool,
}

impl TrunkRoute {
    /// The silent gateway's deadline, while one waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.as_ref().and_then(|a| a.silence_deadline)
    }
}

impl Switch {
    /// Whether `dialled` is an external number `caller` (an extension: its calling class
    /// applies) may dial, and its route: `Ok(None)` when it is no number to send out (no
    /// routes at all, or a name rather than a number).
    pub(super) fn plan_outbound(
        &self,
        caller: &str,
        dialled: &str,
    ) -> Result<Option<TrunkRoute>, Rejection> {
        self.plan_outbound_for(caller, None, dialled)
    }

    /// [`Switch::plan_outbound`] for `agent` working on extension `caller`: the agent's own
    /// calling class, when it has one, caps the extension's.
    pub(super) fn plan_outbound_for(
        &self,
        caller: &str,
        agent: Option<&crate::ids::AgentId>,
        dialled: &str,
    ) -> Result<Option<TrunkRoute>, Rejection> {
        self.plan_outbound_in(caller, self.caller_class(caller, agent), dialled)
    }

    /// [`Switch::plan_outbound`] within `class`, whoever `caller` is: a DID the admin
    /// forwards to a number goes out in the international class (the admin chose the
    /// number; blocked prefixes still apply).
    pub(super) fn plan_outbound_in(
        &self,
        caller: &str,
        class: CallingClass,
        dialled: &str,
    ) -> Result<Option<TrunkRoute>, Rejection> {
        let Some(number) = self.vet_number_in(caller, class, dialled)? else {
            return Ok(None);
        };
        let dialing = &self.cfg.dialing;
        if !self.trunk_channels.has_outbound_room() {
            tracing::info!(%caller, %number, "the org's outbound calls are at their limit");
            return Err(Rejection::OrgOutboundFull);
        }
        let trunks = dialing.routes.trunks_for(&number).unwrap_or_default();
        let mut remaining = VecDeque::new();
        let mut full = false;
        for name in trunks {
            let Some(trunk) = self.cfg.outbound_trunks.iter().find(|t| &t.name == name) else {
                continue;
            };
            if !self
                .trunk_channels
                .has_room(&trunk.name, trunk.max_channels)
            {
                full = true;
                continue;
            }
            remaining.extend(trunk.gateways.iter().map(|g| (trunk.name.clone(), *g)));
        }
        if remaining.is_empty() {
            return Err(if full {
                Rejection::TrunkFull
            } else {
                Rejection::NoRoute
            });
        }
        Ok(Some(TrunkRoute {
            number,
            caller_number: caller.to_owned(),
            remaining,
            current: None,
            party: None,
            presented: None,
        }))
    }

    /// Whether `dialled` is an external number `caller` (and `agent`, whose own class caps
    /// the extension's) may dial: normalised to E.164 and checked against the calling class
    /// and the blocked prefixes; `Ok(None)` when it is no number to send out (no routes at
    /// all, or a name rather than a number). Routes, channels and limits are not looked at.
    pub(super) fn vet_number(
        &self,
        caller: &str,
        agent: Option<&crate::ids::AgentId>,
        dialled: &str,
    ) -> Result<Option<E164>, Rejection> {
        self.vet_number_in(caller, self.caller_class(caller, agent), dialled)
    }

    /// The calling class of extension `caller`, capped by `agent`'s own when it has one.
    fn caller_class(&self, caller: &str, agent: Option<&crate::ids::AgentId>) -> CallingClass {
        let class = self.cfg.dialing.class_of(caller);
        agent
            .and_then(|a| self.dial_plan.agent_classes.get(a.as_str()))
            .map_or(class, |capped| class.min(*capped))
    }

    /// [`Switch::vet_number`] within `class`.
    fn vet_number_in(
        &self,
        caller: &str,
        class: CallingClass,
        dialled: &str,
    ) -> Result<Option<E164>, Rejection> {
        let dialing = &self.cfg.dialing;
        let looks_like_number = dialled
            .chars()
            .next()
            .is_some_and(|c| c == '+' || c.is_ascii_digit());
        if dialing.routes.is_empty() || !looks_like_number {
            return Ok(None);
        }
        let number = dialing.plan.normalise(dialled).map_err(|error| {
            tracing::info!(target: "security", event = "outbound_refused", %caller, %dialled, %error);
            Rejection::BadNumber(match error {
                NumberError::Character { .. } => "number_characters",
                _ => "number_format",
            })
        })?;
        if let Err(refusal) = dialing.toll.check(&dialing.plan, class, &number) {
            tracing::info!(target: "security", event = "outbound_refused", %caller, %number, %refusal);
            return Err(match refusal {
                TollRefusal::Blocked(_) => Rejection::TollBlocked("blocked_prefix"),
                TollRefusal::Class { .. } if class == CallingClass::Internal => {
                    Rejection::TollBlocked("calling_class_internal")
                }
                TollRefusal::Class { .. } => Rejection::TollBlocked("calling_class_national"),
            });
        }
        Ok(Some(number))
    }

    /// The route to `number` for a leg an agent's action starts on `call_key` (a consult, a
    /// transfer, an overflow), within the calling class of the agent who has or last had the
    /// call; `None` when `number` is an extension, no number, or refused (logged).
    pub(super) fn agents_route(&self, call_key: CallKey, number: &str) -> Option<TrunkRoute> {
        if self.secret_of(number).is_some() {
            return None;
        }
        let call = self.calls.get(&call_key);
        let extension = call.and_then(|c| c.agent_extension()).unwrap_or_default();
        let agent = call.and_then(|c| c.agent_party());
        self.plan_outbound_for(&extension, agent.as_ref(), number)
            .ok()
            .flatten()
    }

    fn route_mut(&mut self, call_key: CallKey, role: LegRole) -> Option<&mut TrunkRoute> {
        self.calls
            .get_mut(&call_key)?
            .outbound_mut(role)?
            .trunk
            .as_mut()
    }

    /// Sends `call_key`'s leg `role` out along `route`: its first gateway is tried now.
    /// `false` when none could be (the leg then failed).
    pub(super) fn ring_route(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        route: TrunkRoute,
    ) -> bool {
        let Some(leg) = self.outbound_mut(call_key, role) else {
            return false;
        };
        leg.trunk = Some(route);
        self.ring_next_gateway(now, call_key, role)
    }

    /// Tries the next gateway of the route of `call_key`'s leg `role`; `false` when none is
    /// left (or the call is gone).
    pub(super) fn ring_next_gateway(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
    ) -> bool {
        loop {
            let Some(route) = self.route_mut(call_key, role) else {
                return false;
            };
            let Some((trunk_name, gateway)) = route.remaining.pop_front() else {
                route.current = None;
                return false;
            };
            let number = route.number.clone();
            let caller_number = route.caller_number.clone();
            let party = route.party.clone();
            let route_presented = route.presented.clone();
            // A trunk the admin API removed since the route was planned is skipped.
            let Some(trunk) = self
                .cfg
                .outbound_trunks
                .iter()
                .find(|t| t.name == trunk_name)
            else {
                continue;
            };
            if !self
                .trunk_channels
                .acquire(call_key, Some(role), &trunk.name, trunk.max_channels)
            {
                continue;
            }
            let presented = match (route_presented, &trunk.caller_id) {
                (Some(queue_id), _) => queue_id,
                (None, Some(id)) => id.as_str().to_owned(),
                (None, None) => caller_number,
            };
            let Some(original) = self.calls.get(&call_key).map(|c| c.caller.invite.clone()) else {
                return false;
            };
            let transport = trunk.transport;
            let codecs = trunk_media_codecs(&trunk.codecs);
            let offer = match self.outbound_mut(call_key, role) {
                Some(leg) => {
                    // Each gateway tried is offered its own trunk's codecs.
                    leg.endpoint.local.codecs = codecs;
                    leg.endpoint.local.render_offer()
                }
                None => return false,
            };
            let host = crate::sip::message::host_for_uri(&gateway.ip().to_string()).into_owned();
            let uri = gateway_uri(
                Some(number.as_str()),
                &host,
                Some(gateway.port()),
                transport,
            );
            let mut invite =
                self.fork_invite(&original, number.as_str(), uri.clone(), transport, offer);
            let tag = invite.from_tag().unwrap_or_default();
            let display = invite
                .from()
                .and_then(|f| f.display.as_deref())
                .map(|d| format!("\"{}\" ", d.replace('"', "")))
                .unwrap_or_default();
            let host =
                crate::sip::message::host_for_uri(&self.advertised_ip().to_string()).into_owned();
            invite.set(
                "From",
                format!("{display}<sip:{presented}@{host}>;tag={tag}"),
            );
            invite.set("To", format!("<{uri}>"));
            invite.set("P-Asserted-Identity", format!("<sip:{presented}@{host}>"));
            let silence = self.cfg.timing.t1 * GATEWAY_SILENCE_T1S;
            let Some(fork) =
                self.start_fork(now, call_key, role, invite, gateway, transport, party)
            else {
                continue;
            };
            tracing::info!(call = call_key.0, trunk = %trunk_name, %gateway, "outbound call tries a gateway");
            if let Some(route) = self.route_mut(call_key, role) {
                route.current = Some(Attempt {
                    trunk: trunk_name,
                    fork,
                    silence_deadline: Some(now + silence),
                    authenticated: false,
                });
            }
            self.schedule(call_key);
            return true;
        }
    }

    /// A gateway's answer of any kind arrived for fork `index` of leg `role`: it is alive.
    pub(super) fn gateway_heard(&mut self, call_key: CallKey, role: LegRole, index: usize) {
        if let Some(attempt) = self
            .route_mut(call_key, role)
            .and_then(|r| r.current.as_mut())
            .filter(|a| a.fork == index)
        {
            attempt.silence_deadline = None;
        }
    }

    /// The attempt through fork `index` failed with `end`: `true` when the call went on to
    /// another gateway, or the failure was of an attempt given up already (nothing more to
    /// do); `false` when the call must end with the failure.
    pub(super) fn trunk_attempt_failed(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        index: usize,
        end: AttemptEnd,
    ) -> bool {
        let Some(route) = self.route_mut(call_key, role) else {
            return false;
        };
        if route.current.as_ref().is_none_or(|a| a.fork != index) {
            return true;
        }
        route.current = None;
        // A carrier refusing our credentials is that trunk's trouble: another may take it.
        let refused_us = matches!(end, AttemptEnd::Status(401 | 407));
        if (fails_over(end) || refused_us) && self.ring_next_gateway(now, call_key, role) {
            return true;
        }
        self.trunk_channels.release(call_key, Some(role));
        false
    }

    /// The gateway of leg `role`'s attempt in flight said nothing for too long: given up (a
    /// CANCEL follows its first provisional answer, should one come) and the next one tried;
    /// with none left, the leg failed as if it answered 408.
    pub(super) fn on_gateway_silent(&mut self, now: Instant, call_key: CallKey, role: LegRole) {
        let Some(leg) = self.outbound_mut(call_key, role) else {
            return;
        };
        let Some(attempt) = leg.trunk.as_ref().and_then(|r| r.current.clone()) else {
            return;
        };
        if let Some(fork) = leg.forks.get_mut(attempt.fork)
            && fork.state == ForkState::Trying
        {
            fork.state = ForkState::CancelPending;
        }
        tracing::info!(call = call_key.0, "gateway silent; trying the next");
        if !self.trunk_attempt_failed(now, call_key, role, attempt.fork, AttemptEnd::NoResponse) {
            self.outbound_leg_failed(now, call_key, role, 408, false);
        }
    }

    /// A 401/407 to the INVITE of fork `index`: answered once with the trunk's credentials,
    /// the INVITE sent again with the next CSeq. `false` when it cannot be answered (no
    /// credentials, already answered, not a gateway attempt) and counts as a failure.
    pub(super) fn answer_gateway_challenge(
        &mut self,
        now: Instant,
        call_key: CallKey,
        role: LegRole,
        index: usize,
        response: &Message,
    ) -> bool {
        let Some(leg) = self.calls.get(&call_key).and_then(|c| c.outbound(role)) else {
            return false;
        };
        let Some(attempt) = leg
            .trunk
            .as_ref()
            .and_then(|r| r.current.as_ref())
            .filter(|a| a.fork == index && !a.authenticated)
        else {
            return false;
        };
        let Some(credentials) = self
            .cfg
            .outbound_trunks
            .iter()
            .find(|t| t.name == attempt.trunk)
            .and_then(|t| t.credentials.clone())
        else {
            return false;
        };
        let Some(fork) = leg.forks.get(index) else {
            return false;
        };
        let (header, answer_header) = match response.status() {
            Some(401) => ("WWW-Authenticate", "Authorization"),
            _ => ("Proxy-Authenticate", "Proxy-Authorization"),
        };
        let Some(challenge) = response
            .header(header)
            .and_then(|h| Challenge::parse(h).ok())
        else {
            return false;
        };
        let mut invite = fork.invite.clone();
        let (dest, transport) = (fork.dest, fork.transport);
        let uri = invite.request_uri().unwrap_or_default().to_owned();
        let cnonce = self.token(16);
        let answer = challenge.answer(
            &credentials.username,
            &credentials.password,
            "INVITE",
            &uri,
            &cnonce,
            1,
        );
        let seq = invite.cseq().map_or(1, |c| c.seq) + 1;
        invite.set("CSeq", format!("{seq} INVITE"));
        invite.remove("Via");
        invite.push_front("Via", self.our_via(transport));
        invite.set(answer_header, answer.to_string());
        let purpose = ClientPurpose::Fork {
            call: call_key,
            role,
            index,
        };
        if self
            .request(now, dest, transport, invite.clone(), purpose)
            .is_none()
        {
            return false;
        }
        let Some(leg) = self.outbound_mut(call_key, role) else {
            return false;
        };
        if let Some(fork) = leg.forks.get_mut(index) {
            fork.invite = invite;
            fork.state = ForkState::Trying;
        }
        if let Some(attempt) = leg.trunk.as_mut().and_then(|r| r.current.as_mut()) {
            attempt.authenticated = true;
        }
        true
    }
}
