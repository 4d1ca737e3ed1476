//! SDP bodies from phones (`media::sdp`): parsing, the offer/answer the switch builds from
//! them, and the render → parse round trip (the switch re-renders descriptions it parsed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::media::sdp::{CodecName, SessionDescription, answer_codecs};

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = SessionDescription::parse(data) else {
        return;
    };
    for media in &parsed.media {
        let _ = (media.rtp_address(), media.rtcp_address(), media.is_held());
        let _ = answer_codecs(media, &[CodecName::Pcmu, CodecName::Pcma]);
    }
    let _ = parsed.audio();

    let rendered = parsed.to_string();
    let again = SessionDescription::parse(rendered.as_bytes())
        .unwrap_or_else(|e| panic!("a parsed description rendered unparseable ({e}):\n{rendered}"));
    assert_eq!(
        again.to_string(),
        rendered,
        "rendering is not a fixed point"
    );
    assert_eq!(again.media.len(), parsed.media.len());
    // An empty `s=` is rendered `s=-` (RFC 8866 §5.3 wants a name; "-" is the usual one), and
    // a rejected stream is rendered as its m= line alone (RFC 3264 §6): compare the rest.
    let mut expected = parsed;
    if expected.session_name.is_empty() {
        expected.session_name = "-".into();
    }
    let mut again = again;
    for (mine, theirs) in expected.media.iter_mut().zip(&mut again.media) {
        if mine.is_rejected() {
            assert_eq!(
                (
                    &mine.media,
                    mine.port,
                    mine.port_count,
                    &mine.protocol,
                    &mine.formats
                ),
                (
                    &theirs.media,
                    theirs.port,
                    theirs.port_count,
                    &theirs.protocol,
                    &theirs.formats
                ),
            );
            *theirs = mine.clone();
        }
    }
    assert_eq!(
        again, expected,
        "render → parse changed the description:\n{rendered}"
    );
});
