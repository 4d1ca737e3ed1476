//! Who a new INVITE is from and where it goes: a trunk's call to a queue or one of its DIDs
//! (no digest: the trunk is known by its address), or a device's call, authenticated, to a
//! queue, an extension or an external number.

use super::outbound::Target;
use super::register::Auth;
use super::rejection::Rejection;
use super::switch::Switch;
use super::trunk_calls::TrunkRoute;
use super::trunks::TrunkCodec;
use crate::dialing::CallingClass;
use crate::sip::message::{Message, uri_user};
use crate::sip::transaction::TransactionKey;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a new call goes, once its INVITE is accepted so far.
pub(super) struct Routed {
    /// The caller: the extension it authenticated as, or a trunk's caller number.
    pub caller_user: String,
    /// What it reaches: a queue number, an extension or an E.164 number.
    pub callee_user: String,
    /// The queue, when it reaches one.
    pub queue: Option<String>,
    /// The extension's contacts to ring.
    pub targets: Vec<Target>,
    /// The way out, when it dials an external number.
    pub trunk_route: Option<TrunkRoute>,
    /// It came from a trusted trunk: its CAD and priority are believed.
    pub trusted: bool,
    /// The trunk whose channel it takes (name, limit).
    pub inbound_channel: Option<(String, u32)>,
    /// The codecs of the trunk it came from, which its offer is answered from.
    pub trunk_codecs: Option<Vec<TrunkCodec>>,
}

impl Switch {
    /// The caller's number a trusted trunk gives: `P-Asserted-Identity` when it sends one
    /// (RFC 3325: the identity a trusted network asserts, where From may carry what the
    /// caller chose to show), else From; in E.164 when the number plan reads it as a number
    /// (`0612345678` → `+33612345678`), as sent otherwise; `anonymous` when it says nothing.
    fn caller_number_from_trunk(&self, request: &Message) -> String {
        let asserted = request
            .header("P-Asserted-Identity")
            .and_then(|v| crate::sip::headers::NameAddr::parse(v.split(',').next()?))
            .and_then(|n| n.user());
        let Some(number) = asserted.or_else(|| request.from().and_then(|f| f.user())) else {
            return "anonymous".into();
        };
        self.cfg
            .dialing
            .plan
            .normalise(&number)
            .map_or(number, |n| n.as_str().to_owned())
    }

    /// Routes the new INVITE `request` from `from`, or answers it (challenge or refusal) and
    /// returns `None`.
    pub(super) fn route_new_invite(
        &mut self,
        now: Instant,
        from: SocketAddr,
        key: &TransactionKey,
        request: &Message,
    ) -> Option<Routed> {
        let mut dialled = match request.sip_request_uri() {
            Some(uri) => uri.user.clone(),
            None => request.request_uri().and_then(uri_user),
        }
        .unwrap_or_default();
        let trunk = super::trunks::trunk_of(&self.cfg.trunks, from.ip());
        if trunk.is_some()
            && (dialled.is_empty() || dialled == super::switch::CONTACT_USER)
            && let Some(to) = request.to().and_then(|t| t.user())
        {
            // A carrier we register with sends its calls to the Contact we registered; the
            // number the customer dialled is in To.
            dialled = to;
        }
        let did = trunk
            .as_ref()
            .and_then(|_| self.cfg.dialing.did_target(&dialled))
            .map(str::to_owned);
        let callee_user = did.clone().unwrap_or(dialled);
        let queue = self.dial_plan.queue_of(&callee_user).map(str::to_owned);
        // A trunk's call is taken on its address when it reaches a queue or one of its DIDs;
        // anything else from there (a phone on the trunk's network) authenticates.
        let trunk = trunk.filter(|_| queue.is_some() || did.is_some());
        let mut routed = Routed {
            caller_user: String::new(),
            callee_user,
            queue,
            targets: Vec::new(),
            trunk_route: None,
            trusted: trunk.is_some_and(|t| t.trusted),
            inbound_channel: trunk.map(|t| (t.name.clone(), t.max_channels)),
            trunk_codecs: trunk.map(|t| t.codecs.clone()),
        };
        // What routing still needs of the trunk is whether there is one.
        let trunk = trunk.is_some();
        if trunk {
            // A trunk's customers are no extensions: no challenge, and the caller's number is
            // what the trunk says if it is trusted to say it.
            routed.caller_user = if routed.trusted {
                self.caller_number_from_trunk(request)
            } else {
                "anonymous".into()
            };
        } else {
            // Anyone else calls as the extension it authenticates as.
            routed.caller_user = match self.authenticate(now, from, key, request, false) {
                Auth::User(u) => u,
                Auth::Answered => return None,
            };
        }
        if routed.queue.is_some() {
            return Some(routed);
        }
        if self.secret_of(&routed.callee_user).is_some() {
            routed.targets = self.targets_of(now, &routed.callee_user);
            if routed.targets.is_empty() {
                self.reject(now, key, request, Rejection::NotRegistered);
                return None;
            }
            return Some(routed);
        }
        if trunk {
            // A DID forwarded to a number goes out through the outbound routes (another
            // trunk, or the same one); anything else a trunk dials reaches nothing here.
            let forward = match did {
                Some(_) => self.plan_outbound_in(
                    &routed.caller_user,
                    CallingClass::International,
                    &routed.callee_user,
                ),
                None => Ok(None),
            };
            match forward {
                Ok(Some(route)) => {
                    routed.callee_user = route.number.as_str().to_owned();
                    routed.trunk_route = Some(route);
                    return Some(routed);
                }
                Ok(None) => {
                    tracing::warn!(did = %routed.callee_user, "a DID reaches nothing");
                    self.reject(now, key, request, Rejection::UnknownUser);
                }
                Err(why) => self.refuse(now, from, key, request, &routed, why),
            }
            return None;
        }
        // Not an extension: an external number, if the profile sends any out.
        match self.plan_outbound(&routed.caller_user, &routed.callee_user) {
            Ok(Some(route)) => {
                // An external number is recorded as what was dialled, in E.164.
                routed.callee_user = route.number.as_str().to_owned();
                routed.trunk_route = Some(route);
                Some(routed)
            }
            Ok(None) => {
                self.reject(now, key, request, Rejection::UnknownUser);
                None
            }
            Err(why) => {
                self.refuse(now, from, key, request, &routed, why);
                None
            }
        }
    }
}
