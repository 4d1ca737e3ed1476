//! What every received message goes through before its transaction or call sees it: the
//! source stamped on a request's top Via, the checks any request must pass, stateless answers
//! to malformed ones, and where responses go.

use super::model::*;
use super::switch::Switch;
use crate::sip::message::{Message, Method, Rejection, is_sip_scheme};
use crate::sip::registrar::Transport;
use std::net::SocketAddr;

/// Option tags we support; anything else in Require gets 420.
const SUPPORTED: &[&str] = &[];

impl Switch {
    /// Checks every request must pass before its method is looked at.
    pub(super) fn precheck(&self, request: &Message) -> Option<Rejection> {
        let method = request.method()?;
        if matches!(method, Method::Ack | Method::Cancel) {
            return None;
        }
        if let Method::Other(_) = method {
            return Some(Rejection::new(501, "Not Implemented"));
        }
        if !is_sip_scheme(request.request_uri().unwrap_or_default()) {
            return Some(Rejection::new(416, "Unsupported URI Scheme"));
        }
        if request.max_forwards() == Some(0)
            && !matches!(method, Method::Options | Method::Register)
        {
            return Some(Rejection::new(483, "Too Many Hops"));
        }
        let required = request.option_tags("Require");
        if required.iter().any(|t| !SUPPORTED.contains(&t.as_str())) {
            return Some(Rejection::new(420, "Bad Extension"));
        }
        None
    }

    /// A response for a request we answer without creating state (malformed input).
    pub(super) fn reject_stateless(
        &mut self,
        request: &Message,
        from: SocketAddr,
        transport: Transport,
        rejection: Rejection,
    ) {
        self.stats.rejected_malformed += 1;
        if request.is_response() || matches!(request.method(), Some(Method::Ack)) {
            return;
        }
        // A response is routed by the top Via; without a usable one there is nowhere to send.
        let Some(via) = request.top_via() else { return };
        let mut response = Message::response_to(request, rejection.code, rejection.reason);
        // A To that does not parse is echoed as it came, not given a tag.
        if request.to().is_some() {
            self.add_to_tag(&mut response, request);
        }
        let to = response_destination(via, from, transport);
        self.outputs.push_back(Output::Transmit {
            to,
            transport,
            bytes: response.to_bytes(),
        });
    }
}

/// Where a response goes (RFC 3261 §18.2.2 and RFC 3581 §4): back over the connection for
/// TCP; for UDP to the source address and port when the client asked for rport, else to the
/// source address at the Via's port. The address is always the one the packet came from,
/// which is what `received` says once [`stamp_received`] ran: a `received` the sender wrote
/// itself is never trusted (it would let anyone aim our responses at a third party).
pub(super) fn response_destination(
    via: &crate::sip::message::Via,
    from: SocketAddr,
    transport: Transport,
) -> SocketAddr {
    if transport.is_reliable() || via.param("rport").is_some() {
        return from;
    }
    SocketAddr::new(from.ip(), via.port.unwrap_or(5060))
}

/// Adds `received` (and fills `rport`) to the top Via of a request (RFC 3261 §18.2.1, RFC 3581).
pub(super) fn stamp_received(request: &mut Message, from: SocketAddr) {
    let Some(mut via) = request.top_via().cloned() else {
        return;
    };
    let wants_rport = via.param("rport").is_some();
    if wants_rport {
        via.set_param("rport", Some(from.port().to_string()));
    }
    // A `received` already there came from the sender (RFC 5118 §4.5 sends one): replace it
    // with what we saw.
    let claims_received = via.param("received").is_some();
    let sent_by_is_source = via.host.parse::<std::net::IpAddr>().ok() == Some(from.ip());
    if wants_rport || claims_received || !sent_by_is_source {
        via.set_param("received", Some(from.ip().to_string()));
    }
    request.replace_top_via(via);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with_via(via: &str) -> Message {
        let text = format!(
            "OPTIONS sip:switch SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n\
             Call-ID: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_received_written_by_the_sender_is_replaced_by_the_source_address() {
        let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        for via in [
            "SIP/2.0/UDP 127.0.0.1:40000;received=[2001:db8::9:255];branch=z9hG4bKa",
            "SIP/2.0/UDP 127.0.0.1:40000;received=2001:db8::9:255;branch=z9hG4bKa",
            "SIP/2.0/UDP [2001:db8::9:1]:40000;received=192.0.2.9;branch=z9hG4bKa",
        ] {
            let mut request = request_with_via(via);
            stamp_received(&mut request, from);
            let stamped = request.top_via().unwrap();
            assert_eq!(stamped.param("received"), Some("127.0.0.1"), "{via}");
            assert_eq!(
                response_destination(stamped, from, Transport::Udp),
                from,
                "{via}"
            );
        }
    }

    #[test]
    fn responses_never_go_to_an_address_named_in_the_message() {
        let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let unstamped =
            request_with_via("SIP/2.0/UDP 127.0.0.1:5070;received=192.0.2.9;branch=z9hG4bKa");
        let to = response_destination(unstamped.top_via().unwrap(), from, Transport::Udp);
        assert_eq!(
            to,
            "127.0.0.1:5070".parse().unwrap(),
            "source address, Via port"
        );
        let rport = request_with_via("SIP/2.0/UDP 192.0.2.9:5070;rport;branch=z9hG4bKa");
        assert_eq!(
            response_destination(rport.top_via().unwrap(), from, Transport::Udp),
            from
        );
    }
}
