//! SIP messages from the network (`sip::message`): framing, parsing, validation, the typed
//! headers the call layer reads, and the render → parse round trip the B2BUA relies on when
//! it forwards what it parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::sip::message::{
    Contacts, MAX_HEADER_COUNT, MAX_HEADER_SECTION, Message, NameAddr, ParseError, Replaces,
    SipUri, Via, frame_stream, split_list,
};
use switchboard::sip::validate::validate_request;

fuzz_target!(|data: &[u8]| {
    // TCP framing sees the same bytes before the parser does.
    let _ = frame_stream(data);
    let message = match Message::parse(data) {
        Ok(message) => message,
        // A malformed request is still answered, so the switch reads the partial message.
        Err(ParseError::Malformed { partial, .. }) => {
            read_everything(&partial);
            return;
        }
        Err(ParseError::Unparseable(_)) => return,
    };
    read_everything(&message);
    if message.is_request() {
        let _ = validate_request(&message);
    }

    let bytes = message.to_bytes();
    // What the switch sends on has no line break but the CRLFs it wrote itself.
    let head = &bytes[..bytes.len() - message.body().len()];
    let lines = head.split(|b| *b == b'\n').count() - 1;
    assert_eq!(
        lines,
        message
            .headers()
            .iter()
            .filter(|h| h.name != "Content-Length")
            .count()
            + 3
    );
    let crlfs = head.windows(2).filter(|w| w == b"\r\n").count();
    let crs = head.iter().filter(|b| **b == b'\r').count();
    assert!(
        crlfs == lines && crs == lines,
        "a bare CR or LF in {head:?}"
    );
    match Message::parse(&bytes) {
        Ok(again) => assert_eq!(
            without_content_length(&again),
            without_content_length(&message),
            "render → parse changed the message"
        ),
        // Rendering writes one Content-Length and long header names, so a message at the
        // limits may grow past them; anything else is a round-trip bug.
        Err(ParseError::Unparseable(why)) => {
            let head = bytes.len() - message.body().len();
            assert!(
                (why == "header section too large" && head > MAX_HEADER_SECTION)
                    || (why == "too many header fields"
                        && message.headers().len() >= MAX_HEADER_COUNT - 1),
                "a parsed message rendered unparseable ({why}): {bytes:?}"
            );
        }
        Err(ParseError::Malformed { rejection, .. }) => {
            panic!("a parsed message rendered malformed ({})", rejection.reason)
        }
    }
});

/// The message with its Content-Length headers removed: rendering rewrites them from the body.
fn without_content_length(message: &Message) -> Message {
    let mut copy = message.clone();
    copy.remove("Content-Length");
    copy
}

/// Every typed accessor the call layer uses, plus the header round trips.
fn read_everything(m: &Message) {
    let _ = (m.call_id(), m.cseq(), m.max_forwards(), m.expires());
    let _ = (
        m.content_type(),
        m.session_expires(),
        m.option_tags("Supported"),
    );
    let _ = (m.from_tag(), m.to_tag(), m.refer_to(), m.referred_by());
    if let Some(parsed) = m.request_uri().and_then(SipUri::parse) {
        assert!(parsed.same_resource(&parsed), "a URI is its own resource");
    }
    for value in m.header_list("Via") {
        if let Some(via) = Via::parse(value) {
            assert_eq!(
                Via::parse(&via.render()),
                Some(via.clone()),
                "Via round trip"
            );
        }
    }
    for name in ["From", "To", "Refer-To", "Referred-By"] {
        for value in m.headers_named(name) {
            name_addr_round_trips(value);
        }
    }
    if let Contacts::List(contacts) = m.contacts() {
        for contact in contacts {
            let _ = contact.sip_uri();
            name_addr_round_trips(&contact.render());
        }
    }
    for value in m.headers_named("Contact") {
        for item in split_list(value) {
            let _ = NameAddr::parse(item);
        }
    }
    if let Some(replaces) = m.replaces() {
        assert_eq!(
            Replaces::parse(&replaces.render()),
            Some(replaces.clone()),
            "Replaces round trip"
        );
    }
    if let Some(refer_to) = m.refer_to() {
        let _ = Replaces::from_refer_to_uri(&refer_to.uri);
    }
}

fn name_addr_round_trips(value: &str) {
    if let Some(parsed) = NameAddr::parse(value) {
        let _ = (parsed.sip_uri(), parsed.user());
        assert_eq!(
            NameAddr::parse(&parsed.render()),
            Some(parsed.clone()),
            "name-addr round trip of {value:?}"
        );
    }
}
