//! Why a new call is refused, and the one mapping from that reason to what the caller is
//! sent: status, reason phrase and the headers that tell the phone what to do instead
//! (`Accept`, `Retry-After`, `Warning`). Limits also carry an RFC 3326 `Reason` naming the
//! limit, so a carrier's or a phone's log says which one refused the call (FreeSWITCH and
//! Asterisk put the cause in `Reason` the same way).

use std::time::Duration;

use super::switch::Switch;
use crate::sip::message::Message;
use crate::sip::transaction::TransactionKey;
use std::time::Instant;

/// A new INVITE the switch will not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The switch already holds `sip.max_calls` calls.
    SwitchFull,
    /// A body that is not SDP.
    UnsupportedBody,
    /// An `Accept` that excludes SDP.
    SdpNotAccepted,
    /// No such user.
    UnknownUser,
    /// The user exists but has no registered contact.
    NotRegistered,
    /// The SDP does not parse.
    MalformedSdp,
    /// The offer has no codec the switch speaks.
    NoCommonCodec,
    /// An RTP/SAVP offer over signalling that is not TLS: SDES keys would cross in clear
    /// (see `srtp_policy`).
    SavpNeedsTls,
    /// An RTP/SAVP offer with no `a=crypto` line or codec the switch can use.
    NoUsableCrypto,
    /// No RTP port pair is free.
    NoMediaPorts,
    /// The request cannot start a dialog (no usable Contact, From tag or Call-ID).
    BadDialogRequest,
    /// The source is over its new-call rate (`admission.calls_per_second`).
    SourceRate { retry_after: Duration },
    /// The source's unanswered calls hold all the ports it may (`admission`).
    SourceUnconfirmed,
    /// The external number dialled is no valid number (the reason names why).
    BadNumber(&'static str),
    /// The caller may not dial that number: its calling class or a blocked prefix (named).
    TollBlocked(&'static str),
    /// No outbound route or gateway for that number.
    NoRoute,
    /// Every trunk of the number's route is at its `max_channels`.
    TrunkFull,
    /// The INVITE comes from an address that is neither a trunk's nor a registered device's.
    UnknownSource,
    /// The contact center holds its most calls (`max_concurrent_calls`, an org setting).
    OrgFull,
    /// The queue holds its most live calls (its `max_calls`).
    QueueFull,
    /// The org has its most calls out at once (`max_outbound_calls`, an org setting).
    OrgOutboundFull,
}

impl Rejection {
    /// Status code and reason phrase.
    #[must_use]
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Rejection::SwitchFull | Rejection::SourceRate { .. } => (503, "Service Unavailable"),
            Rejection::NoMediaPorts => (503, "No Media Ports"),
            Rejection::UnsupportedBody => (415, "Unsupported Media Type"),
            Rejection::SdpNotAccepted => (406, "Not Acceptable"),
            Rejection::UnknownUser => (404, "Not Found"),
            Rejection::NotRegistered => (480, "Temporarily Unavailable"),
            Rejection::MalformedSdp => (400, "Malformed SDP"),
            Rejection::BadDialogRequest => (400, "Bad Request"),
            Rejection::NoCommonCodec | Rejection::SavpNeedsTls | Rejection::NoUsableCrypto => {
                (488, "Not Acceptable Here")
            }
            Rejection::SourceUnconfirmed => (486, "Busy Here"),
            Rejection::BadNumber(_) => (484, "Address Incomplete"),
            Rejection::TollBlocked(_) | Rejection::UnknownSource => (403, "Forbidden"),
            Rejection::NoRoute => (404, "No Route"),
            Rejection::TrunkFull => (503, "Trunk Full"),
            Rejection::OrgFull | Rejection::OrgOutboundFull => (503, "Service Unavailable"),
            Rejection::QueueFull => (486, "Busy Here"),
        }
    }

    /// The limit that refused the call, as the `Reason` header's text names it.
    #[must_use]
    pub fn limit(self) -> Option<&'static str> {
        match self {
            Rejection::SwitchFull => Some("max_calls"),
            Rejection::SourceRate { .. } => Some("source_call_rate"),
            Rejection::SourceUnconfirmed => Some("source_unconfirmed_calls"),
            Rejection::NoMediaPorts => Some("media_ports"),
            Rejection::TrunkFull => Some("trunk_channels"),
            Rejection::OrgFull => Some("org_calls"),
            Rejection::OrgOutboundFull => Some("org_outbound_calls"),
            Rejection::QueueFull => Some("queue_calls"),
            _ => None,
        }
    }

    /// A concurrent-call limit of the business (org, queue, trunk), whose refusals are
    /// recorded, rather than a brake on one source or the switch's own capacity.
    #[must_use]
    pub fn is_business_limit(self) -> bool {
        matches!(
            self,
            Rejection::TrunkFull
                | Rejection::OrgFull
                | Rejection::QueueFull
                | Rejection::OrgOutboundFull
        )
    }

    /// What the `Reason` header (RFC 3326) names: the limit, or the rule that refused an
    /// external number (`calling_class_national`, `blocked_prefix`, `number_characters`...),
    /// so the caller's phone and the CDR tell a fraud refusal from a typo.
    #[must_use]
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Rejection::BadNumber(why) | Rejection::TollBlocked(why) => Some(why),
            Rejection::NoRoute => Some("no_route"),
            other => other.limit(),
        }
    }

    /// The response to `request`, without its To tag.
    #[must_use]
    pub fn response_to(self, request: &Message) -> Message {
        let (code, reason) = self.status();
        let mut response = Message::response_to(request, code, reason);
        match self {
            Rejection::UnsupportedBody | Rejection::SdpNotAccepted => {
                response.push("Accept", "application/sdp");
            }
            Rejection::NoCommonCodec => {
                response.push(
                    "Warning",
                    "304 switchboard \"Media type not available: PCMU or PCMA required\"",
                );
            }
            Rejection::SavpNeedsTls => {
                response.push(
                    "Warning",
                    "302 switchboard \"Incompatible transport protocol: RTP/SAVP needs SIP over TLS\"",
                );
            }
            Rejection::NoUsableCrypto => {
                response.push(
                    "Warning",
                    "305 switchboard \"Incompatible media format: no usable a=crypto line or G.711 codec\"",
                );
            }
            Rejection::SourceRate { retry_after } => {
                response.push("Retry-After", retry_after.as_secs().to_string());
            }
            Rejection::SwitchFull
            | Rejection::NoMediaPorts
            | Rejection::TrunkFull
            | Rejection::OrgFull
            | Rejection::OrgOutboundFull => {
                response.push("Retry-After", "5");
            }
            _ => {}
        }
        if let Some(reason) = self.reason() {
            response.push("Reason", format!("SIP;cause={code};text=\"{reason}\""));
        }
        response
    }
}

impl Switch {
    /// Refuses the new INVITE `request` (its server transaction `key`) for `why`.
    pub(super) fn reject(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: &Message,
        why: Rejection,
    ) {
        let mut response = why.response_to(request);
        self.add_to_tag(&mut response, request);
        self.respond(now, key, response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Message {
        Message::parse(
            b"INVITE sip:1002@switchboard.local SIP/2.0\r\n\
              Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n\
              From: <sip:1001@switchboard.local>;tag=a\r\n\
              To: <sip:1002@switchboard.local>\r\n\
              Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("a valid INVITE")
    }

    /// A rejection, its status and headers it must carry.
    type Case = (Rejection, u16, &'static [(&'static str, &'static str)]);

    #[test]
    fn each_rejection_has_its_status_and_the_headers_that_say_what_to_do_instead() {
        let request = invite();
        let cases: [Case; 13] = [
            (
                Rejection::SwitchFull,
                503,
                &[
                    ("Retry-After", "5"),
                    ("Reason", "SIP;cause=503;text=\"max_calls\""),
                ],
            ),
            (
                Rejection::UnsupportedBody,
                415,
                &[("Accept", "application/sdp")],
            ),
            (
                Rejection::SdpNotAccepted,
                406,
                &[("Accept", "application/sdp")],
            ),
            (Rejection::UnknownUser, 404, &[]),
            (Rejection::NotRegistered, 480, &[]),
            (Rejection::MalformedSdp, 400, &[]),
            (
                Rejection::NoCommonCodec,
                488,
                &[(
                    "Warning",
                    "304 switchboard \"Media type not available: PCMU or PCMA required\"",
                )],
            ),
            (
                Rejection::NoMediaPorts,
                503,
                &[("Reason", "SIP;cause=503;text=\"media_ports\"")],
            ),
            (Rejection::BadDialogRequest, 400, &[]),
            (
                Rejection::SavpNeedsTls,
                488,
                &[(
                    "Warning",
                    "302 switchboard \"Incompatible transport protocol: RTP/SAVP needs SIP over TLS\"",
                )],
            ),
            (
                Rejection::NoUsableCrypto,
                488,
                &[(
                    "Warning",
                    "305 switchboard \"Incompatible media format: no usable a=crypto line or G.711 codec\"",
                )],
            ),
            (
                Rejection::SourceRate {
                    retry_after: Duration::from_secs(2),
                },
                503,
                &[
                    ("Retry-After", "2"),
                    ("Reason", "SIP;cause=503;text=\"source_call_rate\""),
                ],
            ),
            (
                Rejection::SourceUnconfirmed,
                486,
                &[("Reason", "SIP;cause=486;text=\"source_unconfirmed_calls\"")],
            ),
        ];
        for (why, code, headers) in cases {
            let response = why.response_to(&request);
            assert_eq!(response.status(), Some(code), "{why:?}");
            for (name, value) in headers {
                assert_eq!(response.header(name), Some(*value), "{why:?}");
            }
            if why.reason().is_none() {
                assert!(response.header("Reason").is_none(), "{why:?}");
            }
        }
    }
}
