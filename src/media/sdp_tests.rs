//! Tests of `sdp`.
use super::*;
use proptest::prelude::*;

fn parse(text: &str) -> SessionDescription {
    SessionDescription::parse(text.as_bytes()).unwrap()
}

fn pt(n: u8) -> PayloadType {
    PayloadType::new(n).unwrap()
}

fn all_supported() -> Vec<CodecName> {
    vec![CodecName::Pcmu, CodecName::Pcma, CodecName::TelephoneEvent]
}

// SIPp's built-in uac scenario body.
const SIPP: &str = "v=0\r\n\
    o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n\
    s=-\r\n\
    c=IN IP4 127.0.1.1\r\n\
    t=0 0\r\n\
    m=audio 6000 RTP/AVP 0\r\n\
    a=rtpmap:0 PCMU/8000\r\n";

// Linphone-style offer: several codecs, dynamic types, fmtp, rtcp-fb, media-level c=.
const LINPHONE: &str = "v=0\r\n\
    o=alice 3172 1409 IN IP4 192.168.1.20\r\n\
    s=Talk\r\n\
    c=IN IP4 192.168.1.20\r\n\
    t=0 0\r\n\
    a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
    m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n\
    a=rtpmap:96 opus/48000/2\r\n\
    a=fmtp:96 useinbandfec=1\r\n\
    a=rtpmap:97 speex/16000\r\n\
    a=fmtp:97 vbr=on\r\n\
    a=rtpmap:98 speex/8000\r\n\
    a=fmtp:98 vbr=on\r\n\
    a=fmtp:18 annexb=yes\r\n\
    a=rtpmap:101 telephone-event/48000\r\n\
    a=rtpmap:99 telephone-event/16000\r\n\
    a=rtpmap:100 telephone-event/8000\r\n\
    a=rtcp-fb:* trr-int 1000\r\n\
    a=rtcp-fb:* ccm tmmbr\r\n\
    m=video 9078 RTP/AVP 96 97\r\n\
    a=rtpmap:96 VP8/90000\r\n\
    a=rtpmap:97 H264/90000\r\n\
    a=fmtp:97 profile-level-id=42801F\r\n\
    a=rtcp-fb:* trr-int 1000\r\n";

const IPV6: &str = "v=0\n\
    o=- 1 1 IN IP6 2001:db8::10\n\
    s=-\n\
    t=0 0\n\
    m=audio 40000 RTP/AVP 8 0 101\n\
    c=IN IP6 2001:db8::20\n\
    a=rtpmap:101 telephone-event/8000\n\
    a=fmtp:101 0-15\n\
    a=ptime:30\n\
    a=sendonly\n";

// An rtcp-mux offer with a fallback a=rtcp, as browsers and Asterisk send.
const RTCP_MUX: &str = "v=0\r\n\
    o=- 4611731400430051336 2 IN IP4 203.0.113.5\r\n\
    s=-\r\n\
    t=0 0\r\n\
    a=recvonly\r\n\
    m=audio 50000 RTP/AVP 8 101\r\n\
    c=IN IP4 203.0.113.5\r\n\
    a=rtcp:50001 IN IP4 203.0.113.6\r\n\
    a=rtcp-mux\r\n\
    a=rtpmap:8 PCMA/8000\r\n\
    a=rtpmap:101 telephone-event/8000\r\n\
    a=maxptime:150\r\n";

#[test]
fn sipp_default_offer_parses() {
    let sdp = parse(SIPP);
    assert_eq!(sdp.origin.username, "user1");
    assert_eq!(sdp.origin.session_id, "53655765");
    assert_eq!(sdp.origin.session_version, 2_353_687_637);
    assert_eq!(sdp.session_name, "-");
    let (index, audio) = sdp.audio().unwrap();
    assert_eq!(index, 0);
    assert_eq!(audio.port, 6000);
    assert_eq!(audio.codecs, vec![Codec::pcmu()]);
    assert_eq!(audio.direction, Direction::SendRecv);
    assert_eq!(audio.rtp_address(), Some("127.0.1.1:6000".parse().unwrap()));
    assert_eq!(
        audio.rtcp_address(),
        Some("127.0.1.1:6001".parse().unwrap())
    );
    assert!(!audio.is_held());
}

#[test]
fn linphone_offer_keeps_codec_order_rtpmaps_and_fmtps() {
    let sdp = parse(LINPHONE);
    assert_eq!(sdp.media.len(), 2);
    let audio = &sdp.media[0];
    let names: Vec<&str> = audio.codecs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "opus",
            "speex",
            "speex",
            "PCMU",
            "PCMA",
            "G729",
            "telephone-event",
            "telephone-event",
            "telephone-event"
        ]
    );
    let opus = audio.codec(pt(96)).unwrap();
    assert_eq!(opus.clock_rate, 48000);
    assert_eq!(opus.channels, Some(2));
    assert_eq!(opus.fmtp.as_deref(), Some("useinbandfec=1"));
    assert_eq!(
        audio.codec(pt(18)).unwrap().fmtp.as_deref(),
        Some("annexb=yes")
    );
    assert!(audio.attributes.iter().any(|a| a.name == "rtcp-fb"));
    assert_eq!(sdp.media[1].media, "video");
    assert_eq!(sdp.media[1].connection, sdp.connection);
}

#[test]
fn linphone_offer_is_answered_with_pcmu_and_the_8khz_telephone_event() {
    let sdp = parse(LINPHONE);
    let negotiated = answer_codecs(&sdp.media[0], &all_supported()).unwrap();
    assert_eq!(negotiated.codec, Codec::pcmu());
    let te = negotiated.telephone_event.unwrap();
    assert_eq!(te.payload_type, pt(100));
    assert_eq!(te.clock_rate, 8000);
}

#[test]
fn ipv6_media_level_connection_and_direction_are_resolved() {
    let sdp = parse(IPV6);
    assert_eq!(sdp.connection, None);
    assert_eq!(sdp.origin.address_type, "IP6");
    let audio = &sdp.media[0];
    assert_eq!(audio.connection, Some("2001:db8::20".parse().unwrap()));
    assert_eq!(
        audio.rtp_address(),
        Some("[2001:db8::20]:40000".parse().unwrap())
    );
    assert_eq!(audio.direction, Direction::SendOnly);
    assert!(audio.is_held());
    assert_eq!(audio.ptime, Some(Duration::from_millis(30)));
    assert_eq!(audio.codecs[0], Codec::pcma());
    let negotiated = answer_codecs(audio, &all_supported()).unwrap();
    assert_eq!(negotiated.codec, Codec::pcma());
    assert_eq!(
        negotiated.telephone_event.unwrap().fmtp.as_deref(),
        Some("0-15")
    );
}

#[test]
fn rtcp_mux_sends_rtcp_to_the_rtp_port_and_media_direction_overrides_session() {
    let sdp = parse(RTCP_MUX);
    assert_eq!(sdp.direction, Some(Direction::RecvOnly));
    let audio = &sdp.media[0];
    assert!(audio.rtcp_mux);
    assert_eq!(audio.direction, Direction::RecvOnly);
    assert_eq!(
        audio.rtcp,
        Some(RtcpAttribute {
            port: 50001,
            address: Some("203.0.113.6".parse().unwrap())
        })
    );
    assert_eq!(audio.rtcp_address(), audio.rtp_address());
    assert_eq!(audio.maxptime, Some(Duration::from_millis(150)));

    let with_override = RTCP_MUX.replace("a=rtcp-mux\r\n", "a=sendrecv\r\n");
    let audio = parse(&with_override).media[0].clone();
    assert_eq!(audio.direction, Direction::SendRecv);
    assert_eq!(
        audio.rtcp_address(),
        Some("203.0.113.6:50001".parse().unwrap())
    );
}

#[test]
fn static_types_without_rtpmap_are_known_and_dynamic_ones_are_skipped() {
    let sdp = parse(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 8 0 96\r\n",
    );
    let audio = &sdp.media[0];
    assert_eq!(audio.formats, ["8", "0", "96"]);
    assert_eq!(audio.codecs, vec![Codec::pcma(), Codec::pcmu()]);
}

#[test]
fn encoding_names_are_case_insensitive() {
    let sdp = parse(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 pcmu/8000\r\n\
         a=rtpmap:101 Telephone-Event/8000\r\n",
    );
    assert_eq!(sdp.media[0].codecs[0].name, CodecName::Pcmu);
    assert_eq!(sdp.media[0].codecs[1].name, CodecName::TelephoneEvent);
}

#[test]
fn hold_with_zero_address_is_detected() {
    let sdp = parse(&SIPP.replace("c=IN IP4 127.0.1.1", "c=IN IP4 0.0.0.0"));
    assert!(sdp.media[0].is_held());
}

#[test]
fn multicast_ttl_suffix_is_ignored() {
    let sdp = parse(&SIPP.replace("c=IN IP4 127.0.1.1", "c=IN IP4 224.2.1.1/127"));
    assert_eq!(sdp.connection, Some("224.2.1.1".parse().unwrap()));
}

#[test]
fn malformed_descriptions_are_rejected_with_the_line() {
    let cases: &[(&str, SdpError)] = &[
        ("", SdpError::Missing("v=")),
        ("v=0\r\ns=-\r\n", SdpError::Missing("o=")),
        (
            "o=- 1 1 IN IP4 1.2.3.4\r\n",
            SdpError::Malformed {
                line: 1,
                reason: "the first line must be v=",
            },
        ),
        (
            "v=0\r\no=- 1 x IN IP4 1.2.3.4\r\n",
            SdpError::Malformed {
                line: 2,
                reason: "o= session version is not a number",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nno equals\r\n",
            SdpError::Malformed {
                line: 3,
                reason: "not a <type>=<value> line",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n",
            SdpError::Malformed {
                line: 3,
                reason: "m= port is not a number up to 65535",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0 200\r\n",
            SdpError::Malformed {
                line: 3,
                reason: "RTP format is not a payload type 0-127",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 96\r\na=rtpmap:96 opus\r\n",
            SdpError::Malformed {
                line: 4,
                reason: "a=rtpmap clock rate is not a positive number",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 ::1\r\n",
            SdpError::Malformed {
                line: 3,
                reason: "IPv6 address given as IP4",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0\r\na=ptime:-20\r\n",
            SdpError::Malformed {
                line: 4,
                reason: "a=ptime is not a duration",
            },
        ),
        // The fuzzer's find: a sub-microsecond time rendered as 0, which did not parse back.
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0\r\na=ptime:.0001\r\n",
            SdpError::Malformed {
                line: 4,
                reason: "a=ptime is not a duration",
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            SessionDescription::parse(text.as_bytes()).unwrap_err(),
            *expected,
            "{text:?}"
        );
        assert!(!expected.is_unsupported());
    }
    assert_eq!(
        SessionDescription::parse(&[b'v', b'=', 0xff]).unwrap_err(),
        SdpError::NotUtf8
    );
}

#[test]
fn host_names_as_connection_address_are_unsupported_not_malformed() {
    let err = SessionDescription::parse(
        SIPP.replace("c=IN IP4 127.0.1.1", "c=IN IP4 media.example.com")
            .as_bytes(),
    )
    .unwrap_err();
    assert!(err.is_unsupported(), "{err}");
}

#[test]
fn answer_direction_follows_rfc_3264() {
    use Direction::*;
    assert_eq!(answer_direction(SendRecv, SendRecv), SendRecv);
    assert_eq!(answer_direction(SendOnly, SendRecv), RecvOnly);
    assert_eq!(answer_direction(RecvOnly, SendRecv), SendOnly);
    assert_eq!(answer_direction(Inactive, SendRecv), Inactive);
    // We hold: we only send.
    assert_eq!(answer_direction(SendRecv, SendOnly), SendOnly);
    assert_eq!(answer_direction(SendOnly, SendOnly), Inactive);
    assert_eq!(answer_direction(RecvOnly, Inactive), Inactive);
    for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
        assert_eq!(d.reversed().reversed(), d);
    }
}

#[test]
fn no_common_codec_rejected_stream_or_keyless_srtp_yield_no_answer() {
    let g729 = parse(
        &SIPP
            .replace("RTP/AVP 0", "RTP/AVP 18")
            .replace("a=rtpmap:0 PCMU/8000\r\n", ""),
    );
    assert!(answer_codecs(&g729.media[0], &all_supported()).is_none());

    let rejected = parse(&SIPP.replace("audio 6000", "audio 0"));
    assert!(answer_codecs(&rejected.media[0], &all_supported()).is_none());
    assert!(rejected.audio().is_none());

    let srtp = parse(&SIPP.replace("RTP/AVP", "RTP/SAVP"));
    assert!(
        local("127.0.0.1").to_answer(&srtp).is_none(),
        "no keys offered"
    );
    let dtls = parse(&SIPP.replace("RTP/AVP", "UDP/TLS/RTP/SAVPF"));
    assert!(answer_codecs(&dtls.media[0], &all_supported()).is_none());

    let pcma_only = parse(SIPP);
    assert!(answer_codecs(&pcma_only.media[0], &[CodecName::Pcma]).is_none());
}

#[test]
fn telephone_event_is_dropped_when_not_supported() {
    let sdp = parse(RTCP_MUX);
    let negotiated = answer_codecs(&sdp.media[0], &[CodecName::Pcma]).unwrap();
    assert_eq!(negotiated.telephone_event, None);
}

fn local(address: &str) -> LocalMedia {
    LocalMedia {
        address: address.parse().unwrap(),
        port: 20000,
        codecs: vec![
            Codec::pcmu(),
            Codec::pcma(),
            Codec::telephone_event(pt(101)),
        ],
        direction: Direction::SendRecv,
        session_id: 42,
        session_version: 7,
        rtcp_mux: true,
        ptime: Some(Duration::from_millis(20)),
        srtp: None,
    }
}

#[test]
fn offer_renders_as_expected() {
    let text = local("10.0.0.5").render_offer();
    assert_eq!(
        text,
        "v=0\r\n\
         o=switchboard 42 7 IN IP4 10.0.0.5\r\n\
         s=switchboard\r\n\
         c=IN IP4 10.0.0.5\r\n\
         t=0 0\r\n\
         m=audio 20000 RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n\
         a=rtcp-mux\r\n"
    );
    let parsed = parse(&text);
    assert_eq!(parsed, local("10.0.0.5").to_offer());
}

#[test]
fn ipv6_offer_round_trips() {
    let offer = local("2001:db8::5").to_offer();
    let text = offer.to_string();
    assert!(text.contains("c=IN IP6 2001:db8::5\r\n"));
    assert!(text.contains("o=switchboard 42 7 IN IP6 2001:db8::5\r\n"));
    assert_eq!(parse(&text), offer);
}

#[test]
fn real_world_offers_survive_print_then_parse() {
    for text in [SIPP, LINPHONE, IPV6, RTCP_MUX] {
        let sdp = parse(text);
        assert_eq!(parse(&sdp.to_string()), sdp, "{text}");
    }
}

#[test]
fn answer_to_linphone_rejects_video_and_uses_offerer_payload_types() {
    let offer = parse(LINPHONE);
    let (answer, negotiated) = local("10.0.0.5").to_answer(&offer).unwrap();
    assert_eq!(answer.media.len(), 2);
    let audio = &answer.media[0];
    assert_eq!(audio.formats, ["0", "100"]);
    assert_eq!(audio.codecs, negotiated.codecs());
    assert!(!audio.rtcp_mux, "offer had no rtcp-mux");
    let video = &answer.media[1];
    assert_eq!((video.media.as_str(), video.port), ("video", 0));
    let text = answer.to_string();
    assert!(
        text.contains("m=video 0 RTP/AVP 96 97\r\nm=")
            || text.ends_with("m=video 0 RTP/AVP 96 97\r\n")
    );
    assert!(!text.contains("VP8"));
    assert_eq!(parse(&text), answer);
}

#[test]
fn answer_to_a_sendonly_rtcp_mux_offer_is_recvonly_with_rtcp_mux() {
    let offer = parse(&RTCP_MUX.replace("a=recvonly", "a=sendonly"));
    let (answer, negotiated) = local("10.0.0.5").to_answer(&offer).unwrap();
    assert_eq!(negotiated.codec, Codec::pcma());
    let audio = &answer.media[0];
    assert_eq!(audio.direction, Direction::RecvOnly);
    assert!(audio.rtcp_mux);
    assert_eq!(audio.formats, ["8", "101"]);
}

#[test]
fn answer_skips_a_rejected_first_audio_stream() {
    let offer = parse(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=audio 0 RTP/AVP 0\r\nm=audio 5004 RTP/AVP 8\r\n",
    );
    let (answer, negotiated) = local("10.0.0.5").to_answer(&offer).unwrap();
    assert_eq!(negotiated.codec, Codec::pcma());
    assert_eq!(answer.media[0].port, 0);
    assert_eq!(answer.media[1].port, 20000);
}

#[test]
fn an_offer_without_audio_gets_no_answer() {
    let offer = parse(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=image 5004 udptl t38\r\n",
    );
    assert_eq!(offer.media[0].formats, ["t38"]);
    assert!(local("10.0.0.5").to_answer(&offer).is_none());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = SessionDescription::parse(&bytes);
    }

    #[test]
    fn arbitrary_lines_after_a_valid_header_never_panic(
        lines in proptest::collection::vec("[vocmast]=[ -~]{0,40}", 0..12)
    ) {
        let mut text = String::from("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 8 101\r\n");
        for line in &lines {
            text.push_str(line);
            text.push_str("\r\n");
        }
        if let Ok(sdp) = SessionDescription::parse(text.as_bytes()) {
            let _ = sdp.to_string();
            if let Some((_, audio)) = sdp.audio() {
                let _ = (audio.rtcp_address(), answer_codecs(audio, &[CodecName::Pcmu]));
            }
        }
    }

    #[test]
    fn rendered_offers_parse_back(
        port in 1u16.., version in any::<u64>(), v6 in any::<bool>(), mux in any::<bool>(),
        dir in 0usize..4, te in 96u8..128
    ) {
        let mut media = local(if v6 { "::1" } else { "127.0.0.1" });
        media.port = port;
        media.session_version = version;
        media.rtcp_mux = mux;
        media.direction = [Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive][dir];
        media.codecs[2] = Codec::telephone_event(pt(te));
        let offer = media.to_offer();
        prop_assert_eq!(parse(&offer.to_string()), offer);
    }
}

#[test]
fn a_fractional_packet_time_renders_back_as_it_was_read() {
    let text = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n\
                m=audio 7000 RTP/AVP 0\r\na=ptime:20.5\r\n";
    let parsed = SessionDescription::parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.media[0].ptime, Some(Duration::from_micros(20_500)));
    let rendered = parsed.to_string();
    assert!(rendered.contains("a=ptime:20.5\r\n"), "{rendered}");
    assert_eq!(
        SessionDescription::parse(rendered.as_bytes()).unwrap(),
        parsed
    );
}
