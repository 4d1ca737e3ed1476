//! Legs over TLS, in virtual time: what the switch sends a TLS phone leaves over TLS, on the
//! phone's own address (its connection), with a `TLS` Via and a Contact naming
//! `;transport=tls` on the TLS port; a `sips:` call from a TLS phone is challenged over TLS
//! and bridged to a UDP phone (see `crate::sip::transport` for why).
//!
//! ```text
//!  1001 (UDP)      switch        1002 (TLS)       1003 (TLS)     switch     1001 (UDP)
//!     |--INVITE---->|                |               |--INVITE sips:->|           |
//!     |<---407------|                |               |<--407 (TLS)----|           |
//!     |--INVITE---->|--INVITE (TLS)->|               |--INVITE sips:->|--INVITE-->|
//!     |             |<--200 (TLS)----|               |                |<--200-----|
//!     |<---200------|--ACK (TLS)---->|               |<--200 (TLS)----|           |
//!     |--BYE------->|--BYE (TLS)---->|
//! ```

use super::lab::{DOMAIN, config, digest_answer, persisted_binding, phone, sdp};
use super::model::Output;
use super::switch::Switch;
use crate::sip::message::Message;
use crate::sip::registrar::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const TLS_PORT: u16 = 5061;

struct Net {
    sw: Switch,
    now: Instant,
    sent: Vec<(SocketAddr, Transport, Message)>,
}

impl Net {
    /// 1001 registered over UDP, 1002 over TLS from `tls_phone()`.
    fn new() -> Net {
        let mut cfg = config(11);
        cfg.tls_port = Some(TLS_PORT);
        let now = crate::clock::now();
        let mut sw = Switch::new(cfg, now, Duration::from_secs(1_800_000_000));
        sw.restore_binding(now, &format!("1001@{DOMAIN}"), persisted_binding("1001"));
        let mut tls = persisted_binding("1002");
        tls.contact_uri = format!("sips:1002@{};transport=tls", tls_phone());
        tls.received = Some(tls_phone());
        tls.transport = Transport::Tls;
        sw.restore_binding(now, &format!("1002@{DOMAIN}"), tls);
        Net {
            sw,
            now,
            sent: Vec::new(),
        }
    }

    fn send(&mut self, from: SocketAddr, transport: Transport, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
        self.sw
            .handle_datagram(self.now, from, transport, text.as_bytes());
        while let Some(output) = self.sw.poll_output() {
            if let Output::Transmit {
                to,
                transport,
                bytes,
            } = output
            {
                let message = Message::parse(&bytes).expect("the switch sends valid SIP");
                self.sent.push((to, transport, message));
            }
        }
    }

    /// Takes the first message to `to` that is request `what` or status `what`; with the
    /// transport it left by.
    fn take(&mut self, to: SocketAddr, what: &str) -> (Transport, Message) {
        let index = self
            .sent
            .iter()
            .position(|(t, _, m)| *t == to && super::lab::summary(m) == what)
            .unwrap_or_else(|| panic!("no {what} to {to}"));
        let (_, transport, message) = self.sent.remove(index);
        (transport, message)
    }
}

fn tls_phone() -> SocketAddr {
    "127.0.0.1:45002".parse().unwrap()
}

/// An INVITE from `user` at `from` over `via` to `uri`, with `auth` header lines.
fn invite(user: &str, from: SocketAddr, via: &str, uri: &str, cseq: u32, auth: &str) -> String {
    let body = sdp(from.port() + 1);
    format!(
        "INVITE {uri} SIP/2.0\n\
         Via: SIP/2.0/{via} {from};branch=z9hG4bK-{user}-{cseq}\n\
         From: <sip:{user}@{DOMAIN}>;tag=c{user}\n\
         To: <{uri}>\n\
         Call-ID: tls-{user}\n\
         CSeq: {cseq} INVITE\n\
         Contact: <sip:{user}@{from}>\n\
         Max-Forwards: 70\n{auth}\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{body}",
        body.len()
    )
}

/// `user` calls `uri` answering the 407; returns the transport the 407 left by.
fn call(net: &mut Net, user: &str, from: SocketAddr, transport: Transport, uri: &str) -> Transport {
    let via = transport.via_name();
    net.send(from, transport, &invite(user, from, via, uri, 1, ""));
    let (over, challenge) = net.take(from, "407");
    let header = challenge.header("Proxy-Authenticate").unwrap().to_owned();
    let credentials = digest_answer(&header, user, "INVITE", uri);
    let auth = format!("Proxy-Authorization: {credentials}\n");
    net.send(from, transport, &invite(user, from, via, uri, 2, &auth));
    over
}

fn answer(net: &mut Net, request: &Message, from: SocketAddr, transport: Transport) {
    let mut ok = Message::response_to(request, 200, "OK");
    let to = request.header("To").unwrap_or_default().to_owned();
    ok.set("To", format!("{to};tag=t{}", from.port()));
    ok.push("Contact", format!("<sip:phone@{from}>"));
    ok.set_body("application/sdp", bytes::Bytes::from(sdp(from.port() + 1)));
    net.send(from, transport, &String::from_utf8_lossy(&ok.to_bytes()));
}

fn assert_tls_headers(message: &Message) {
    let via = message.header("Via").unwrap();
    assert!(via.starts_with("SIP/2.0/TLS 127.0.0.1:5061;"), "{via}");
    let contact = message.header("Contact").unwrap();
    assert!(
        contact.contains(":5061;transport=tls"),
        "a phone must come back over TLS: {contact}"
    );
}

#[test]
fn a_tls_phone_is_rung_acked_and_hung_up_over_its_own_tls_address() {
    let mut net = Net::new();
    let caller = phone("1001");
    let uri = format!("sip:1002@{DOMAIN}");
    assert_eq!(
        call(&mut net, "1001", caller, Transport::Udp, &uri),
        Transport::Udp
    );
    let (over, to_callee) = net.take(tls_phone(), "INVITE");
    assert_eq!(over, Transport::Tls);
    assert_tls_headers(&to_callee);

    answer(&mut net, &to_callee, tls_phone(), Transport::Tls);
    let (over, _) = net.take(tls_phone(), "ACK");
    assert_eq!(over, Transport::Tls);
    let (over, ok) = net.take(caller, "200");
    assert_eq!(over, Transport::Udp);
    let contact = ok.header("Contact").unwrap();
    assert!(!contact.contains("transport="), "the UDP leg: {contact}");

    let bye = super::lab::in_dialog(&ok, "BYE", 3, caller, true, "");
    net.send(caller, Transport::Udp, &bye);
    let (over, bye) = net.take(tls_phone(), "BYE");
    assert_eq!(over, Transport::Tls);
    assert!(bye.header("Via").unwrap().starts_with("SIP/2.0/TLS "));
}

#[test]
fn a_sips_call_from_a_tls_phone_is_challenged_over_tls_and_bridged_to_a_udp_phone() {
    let mut net = Net::new();
    let caller: SocketAddr = "127.0.0.1:46003".parse().unwrap();
    let uri = format!("sips:1001@{DOMAIN}");
    assert_eq!(
        call(&mut net, "1003", caller, Transport::Tls, &uri),
        Transport::Tls
    );
    let (over, to_callee) = net.take(phone("1001"), "INVITE");
    assert_eq!(over, Transport::Udp);
    assert!(to_callee.header("Via").unwrap().starts_with("SIP/2.0/UDP "));

    answer(&mut net, &to_callee, phone("1001"), Transport::Udp);
    let (over, ok) = net.take(caller, "200");
    assert_eq!(over, Transport::Tls);
    let contact = ok.header("Contact").unwrap();
    assert!(contact.contains(":5061;transport=tls"), "{contact}");
}

#[test]
fn the_2xx_to_a_tls_phones_relayed_reinvite_names_our_tls_contact() {
    let mut net = Net::new();
    let caller = phone("1001");
    let uri = format!("sip:1002@{DOMAIN}");
    call(&mut net, "1001", caller, Transport::Udp, &uri);
    let (_, to_callee) = net.take(tls_phone(), "INVITE");
    answer(&mut net, &to_callee, tls_phone(), Transport::Tls);
    let (_, ok) = net.take(caller, "200");
    let ack = super::lab::in_dialog(&ok, "ACK", 2, caller, true, "");
    net.send(caller, Transport::Udp, &ack);

    // The TLS phone (the callee) re-offers; the switch relays it to the UDP caller.
    let text = super::lab::in_dialog(&to_callee, "INVITE", 1, tls_phone(), false, "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TLS");
    let mut reinvite = Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap();
    reinvite.set_body(
        "application/sdp",
        bytes::Bytes::from(sdp(tls_phone().port() + 3)),
    );
    net.send(
        tls_phone(),
        Transport::Tls,
        &String::from_utf8_lossy(&reinvite.to_bytes()),
    );
    let (over, relayed) = net.take(caller, "INVITE");
    assert_eq!(over, Transport::Udp);
    let mut relayed_ok = Message::response_to(&relayed, 200, "OK");
    relayed_ok.push("Contact", format!("<sip:1001@{caller}>"));
    relayed_ok.set_body(
        "application/sdp",
        bytes::Bytes::from(sdp(caller.port() + 1)),
    );
    net.send(
        caller,
        Transport::Udp,
        &String::from_utf8_lossy(&relayed_ok.to_bytes()),
    );

    let (over, ok) = net.take(tls_phone(), "200");
    assert_eq!(over, Transport::Tls);
    let contact = ok.header("Contact").unwrap();
    assert!(
        contact.contains(":5061;transport=tls"),
        "the TLS phone must come back over TLS: {contact}"
    );
}
