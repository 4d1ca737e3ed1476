//! RTP packets from phones (`media::rtp`): validation, the layout it reports, in-place header
//! rewriting, and the RTP/RTCP demultiplexing of muxed ports (RFC 5761 §4).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::media::rtp::{
    PacketKind, PayloadType, RtpHeader, RtpPacket, RtpPacketMut, Ssrc, classify,
};

fuzz_target!(|data: &[u8]| {
    let kind = classify(data);
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    assert_ne!(
        kind,
        PacketKind::Other,
        "a valid RTP packet is RTP or muxed RTCP"
    );
    // The layout accounts for every byte exactly once.
    let padding = usize::from(packet.padding_len());
    assert_eq!(
        packet.header_len() + packet.payload().len() + padding,
        data.len()
    );
    assert_eq!(packet.csrcs().count(), usize::from(packet.csrc_count()));
    if let Some((_, extension)) = packet.extension() {
        assert!(extension.len() % 4 == 0 && extension.len() + 16 <= packet.header_len());
    }
    let header = packet.header();
    let payload = packet.payload().to_vec();

    // The relay rewrites headers in place: the payload must not move and the fields must stick.
    let mut buf = data.to_vec();
    let mut writable = RtpPacketMut::parse(&mut buf).expect("the same bytes parse writable");
    let ssrc = Ssrc(header.ssrc.0.wrapping_add(1));
    let payload_type =
        PayloadType::new(header.payload_type.get() ^ 1).unwrap_or(header.payload_type);
    writable.set_ssrc(ssrc);
    writable.set_sequence(header.sequence.wrapping_add(1));
    writable.set_timestamp(header.timestamp.wrapping_add(160));
    writable.set_marker(!header.marker);
    writable.set_payload_type(payload_type);
    assert_eq!(writable.payload(), &payload[..]);
    let rewritten = writable.header();
    assert_eq!(
        rewritten,
        RtpHeader {
            marker: !header.marker,
            payload_type,
            sequence: header.sequence.wrapping_add(1),
            timestamp: header.timestamp.wrapping_add(160),
            ssrc,
        }
    );

    // A header written by the switch reads back as written.
    let mut out = Vec::new();
    header.write(&payload, &mut out);
    let again = RtpPacket::parse(&out).expect("a written packet parses");
    assert_eq!(again.header(), header);
    assert_eq!(again.payload(), &payload[..]);
});
