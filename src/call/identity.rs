//! The caller's identity on the legs the switch places. An extension's INVITE is challenged,
//! so the switch knows who it is: the callee sees that, whatever the phone wrote in From
//! (caller-ID spoofing between extensions, issue 16). The display name may stay, as
//! FreeSWITCH and Asterisk let a phone name itself; the user and domain may not.

use super::model::CallKey;
use super::switch::Switch;
use crate::sip::message::Message;

impl Switch {
    /// `request` with its From naming the call's authenticated caller in our domain, the
    /// display name and parameters kept (the fork replaces the tag).
    pub(super) fn with_authenticated_from(&self, request: &Message, call_key: CallKey) -> Message {
        let (Some(call), Some(mut from)) = (self.calls.get(&call_key), request.from().cloned())
        else {
            return request.clone();
        };
        from.uri = format!("sip:{}@{}", call.caller_user, self.cfg.domain);
        let mut rewritten = request.clone();
        rewritten.set("From", from.render());
        rewritten
    }
}
