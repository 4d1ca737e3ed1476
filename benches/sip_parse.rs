//! A typical INVITE with SDP (a softphone's: seven headers a proxy reads, an SDP offer with
//! PCMU, PCMA and telephone-event): parse, read the typed headers a transaction and dialog
//! need, and serialise. Every request the switch handles goes through the first two; every
//! message it relays goes through all three.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::sip::message::{Message, SipUri};

const INVITE: &[u8] = b"INVITE sip:1002@switchboard.local SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bK-524287-1---4f0b6e6e1a\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@192.0.2.10:5062;transport=udp>\r\n\
To: <sip:1002@switchboard.local>\r\n\
From: \"Alice\" <sip:1001@switchboard.local>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@192.0.2.10\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE\r\n\
Content-Type: application/sdp\r\n\
Supported: replaces, timer\r\n\
User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)\r\n\
Content-Length: 256\r\n\
\r\n\
v=0\r\n\
o=1001 1234 5678 IN IP4 192.0.2.10\r\n\
s=Talk\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 7078 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=sendrecv\r\n\
a=rtcp:7079\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n";

fn benches(c: &mut Criterion) {
    let parsed = Message::parse(INVITE).expect("the sample parses");
    assert_eq!(
        parsed.body().len(),
        256,
        "the sample's Content-Length is right"
    );

    c.bench_function("sip_parse_invite_sdp", |b| {
        b.iter(|| Message::parse(black_box(INVITE)).expect("parses"));
    });
    c.bench_function("sip_parse_invite_sdp_typed_headers", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(INVITE)).expect("parses");
            black_box((
                m.top_via().cloned(),
                m.from().cloned(),
                m.to().cloned(),
                m.cseq(),
                m.contacts(),
            ))
        });
    });
    // The URIs routing reads on every INVITE (Request-URI, To, From, Contact), through rsip
    // behind `SipUri`, and the same with a dotted user and an IPv6 reference rsip cannot
    // read alone (the facade's own work).
    let uris = [
        parsed.request_uri().expect("a request").to_owned(),
        parsed.to().expect("To").uri.clone(),
        parsed.from().expect("From").uri.clone(),
        "sip:1001@192.0.2.10:5062;transport=udp".to_owned(),
    ];
    c.bench_function("sip_uri_parse_four_invite_uris", |b| {
        b.iter(|| {
            for uri in &uris {
                black_box(SipUri::parse(black_box(uri)).expect("parses"));
            }
        });
    });
    c.bench_function("sip_uri_parse_dotted_user_and_ipv6", |b| {
        b.iter(|| {
            black_box(SipUri::parse(black_box(
                "sip:j.doe@example.com;transport=tcp",
            )));
            black_box(SipUri::parse(black_box(
                "sip:1001@[2001:db8::10]:5070;transport=udp",
            )));
        });
    });
    c.bench_function("sip_serialise_invite_sdp", |b| {
        b.iter(|| black_box(&parsed).to_bytes());
    });
    c.bench_function("sip_parse_and_serialise_invite_sdp", |b| {
        b.iter(|| {
            Message::parse(black_box(INVITE))
                .expect("parses")
                .to_bytes()
        });
    });
}

criterion_group!(sip_parse, benches);
criterion_main!(sip_parse);
