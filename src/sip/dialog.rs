//! Dialogs (RFC 3261 §12): the state both ends of a call leg share, and the requests built
//! from it (BYE, re-INVITE, ACK for 2xx, CANCEL).
//!
//! The switch is a B2BUA, so every leg is a dialog in which the switch is one end: the caller's
//! leg as UAS, each callee leg as UAC. In-dialog requests go to `peer`, the transport address
//! the leg's messages come from, rather than to the remote target's host: phones behind NAT
//! advertise Contacts they cannot be reached at, and this is what they expect a registrar-side
//! element to do (the behaviour FreeSWITCH calls NDLB, and RFC 5626 formalises as flows).

use super::message::{Message, Method, NameAddr};
use super::transport::Transport;
use std::net::SocketAddr;

/// Identifies a dialog from the switch's side (Call-ID and the switch's own tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogKey {
    pub call_id: String,
    pub local_tag: String,
}

/// One dialog with the switch as one end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: Option<String>,
    /// Our URI (From of our requests), rendered as a name-addr without tag.
    pub local_uri: String,
    /// The peer's URI (To of our requests), rendered as a name-addr without tag.
    pub remote_uri: String,
    /// Request-URI of our in-dialog requests: the peer's Contact (§12.1.1).
    pub remote_target: String,
    /// Route set, in the order our requests must carry it (§12.1.1/§12.1.2).
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: Option<u32>,
    /// Where the peer's packets come from and ours go.
    pub peer: SocketAddr,
    /// The transport of `peer`: our requests leave by it and our Contact names it.
    pub transport: Transport,
}

impl Dialog {
    /// The dialog created when the switch answers `request` as UAS with `local_tag` (§12.1.1).
    pub fn as_uas(
        request: &Message,
        local_tag: String,
        peer: SocketAddr,
        transport: Transport,
    ) -> Option<Dialog> {
        let from = request.from()?;
        let to = request.to()?;
        let remote_target = first_contact(request).unwrap_or_else(|| from.uri.clone());
        Some(Dialog {
            call_id: request.call_id()?.to_owned(),
            local_tag,
            remote_tag: from.param("tag").map(str::to_owned),
            local_uri: without_tag(to),
            remote_uri: without_tag(from),
            remote_target,
            route_set: request
                .header_list("Record-Route")
                .map(str::to_owned)
                .collect(),
            local_cseq: 0,
            remote_cseq: request.cseq().map(|c| c.seq),
            peer,
            transport,
        })
    }

    /// Completes a UAC dialog from a response carrying a To tag (§12.1.2).
    pub fn as_uac(
        request: &Message,
        response: &Message,
        peer: SocketAddr,
        transport: Transport,
    ) -> Option<Dialog> {
        let from = request.from()?;
        let to = response.to()?;
        let mut route_set: Vec<String> = response
            .header_list("Record-Route")
            .map(str::to_owned)
            .collect();
        route_set.reverse();
        Some(Dialog {
            call_id: request.call_id()?.to_owned(),
            local_tag: from.param("tag")?.to_owned(),
            remote_tag: to.param("tag").map(str::to_owned),
            local_uri: without_tag(from),
            remote_uri: without_tag(to),
            remote_target: first_contact(response)
                .unwrap_or_else(|| request.request_uri().unwrap_or_default().to_owned()),
            route_set,
            local_cseq: request.cseq()?.seq,
            remote_cseq: None,
            peer,
            transport,
        })
    }

    pub fn key(&self) -> DialogKey {
        DialogKey {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
        }
    }

    /// A new in-dialog request with the next local CSeq (§12.2.1.1). The caller adds Via.
    pub fn request(&mut self, method: Method) -> Message {
        self.local_cseq += 1;
        self.build(method, self.local_cseq)
    }

    /// The ACK for a 2xx to our INVITE with CSeq `seq` (§13.2.2.4). The caller adds Via.
    pub fn ack(&self, seq: u32) -> Message {
        self.build(Method::Ack, seq)
    }

    fn build(&self, method: Method, seq: u32) -> Message {
        let mut m = Message::request(method.clone(), self.remote_target.clone());
        m.push("Max-Forwards", "70");
        m.push("From", format!("{};tag={}", self.local_uri, self.local_tag));
        let to = match &self.remote_tag {
            Some(tag) => format!("{};tag={tag}", self.remote_uri),
            None => self.remote_uri.clone(),
        };
        m.push("To", to);
        m.push("Call-ID", self.call_id.clone());
        m.push("CSeq", format!("{seq} {method}"));
        for route in &self.route_set {
            m.push("Route", route.clone());
        }
        m
    }

    /// Checks an in-dialog request's CSeq (§12.2.2): lower than the last one is out of order.
    pub fn accept_remote_cseq(&mut self, request: &Message) -> bool {
        let Some(cseq) = request.cseq() else {
            return false;
        };
        if matches!(cseq.method, Method::Ack | Method::Cancel) {
            return true;
        }
        match self.remote_cseq {
            Some(last) if cseq.seq <= last => false,
            _ => {
                self.remote_cseq = Some(cseq.seq);
                true
            }
        }
    }

    /// Updates the remote target from a target-refresh request or response (§12.2).
    pub fn refresh_target(&mut self, message: &Message) {
        if let Some(contact) = first_contact(message) {
            self.remote_target = contact;
        }
    }
}

fn without_tag(addr: &NameAddr) -> String {
    let mut a = addr.clone();
    a.params.retain(|(n, _)| n != "tag");
    a.render()
}

fn first_contact(m: &Message) -> Option<String> {
    m.header_list("Contact")
        .next()
        .and_then(NameAddr::parse)
        .map(|c| c.uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Message {
        Message::request(Method::Invite, "sip:1001@sb")
            .with("Via", "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1")
            .with("From", "\"A\" <sip:1000@sb>;tag=abc")
            .with("To", "<sip:1001@sb>")
            .with("Call-ID", "c1")
            .with("CSeq", "7 INVITE")
            .with("Contact", "<sip:1000@10.0.0.1:5062>")
            .with("Record-Route", "<sip:p1;lr>, <sip:p2;lr>")
    }

    #[test]
    fn a_uas_dialog_targets_the_callers_contact_with_the_route_set_in_order() {
        let peer: SocketAddr = "127.0.0.1:5062".parse().unwrap();
        let mut d = Dialog::as_uas(&invite(), "xyz".into(), peer, Transport::Udp).unwrap();
        let bye = d.request(Method::Bye);
        assert_eq!(bye.request_uri(), Some("sip:1000@10.0.0.1:5062"));
        assert_eq!(bye.to_tag().as_deref(), Some("abc"));
        assert_eq!(bye.from_tag().as_deref(), Some("xyz"));
        let routes: Vec<&str> = bye.header_list("Route").collect();
        assert_eq!(routes, vec!["<sip:p1;lr>", "<sip:p2;lr>"]);
        assert_eq!(bye.cseq().unwrap().seq, 1);
    }

    #[test]
    fn a_uac_dialog_reverses_the_record_route_and_keeps_the_cseq_space() {
        let peer: SocketAddr = "127.0.0.1:5062".parse().unwrap();
        let req = invite();
        let mut resp = Message::response_to(&req, 200, "OK");
        resp.set("To", "<sip:1001@sb>;tag=remote");
        resp.push("Contact", "<sip:1001@10.0.0.2>");
        let mut d = Dialog::as_uac(&req, &resp, peer, Transport::Udp).unwrap();
        assert_eq!(d.route_set, vec!["<sip:p2;lr>", "<sip:p1;lr>"]);
        assert_eq!(d.ack(7).cseq().unwrap().seq, 7);
        assert_eq!(d.request(Method::Bye).cseq().unwrap().seq, 8);
        assert_eq!(d.remote_target, "sip:1001@10.0.0.2");
    }

    #[test]
    fn an_older_remote_cseq_is_refused() {
        let peer: SocketAddr = "127.0.0.1:5062".parse().unwrap();
        let mut d = Dialog::as_uas(&invite(), "xyz".into(), peer, Transport::Udp).unwrap();
        let mut bye = Message::request(Method::Bye, "sip:x").with("CSeq", "6 BYE");
        assert!(!d.accept_remote_cseq(&bye));
        bye.set("CSeq", "8 BYE");
        assert!(d.accept_remote_cseq(&bye));
    }
}
