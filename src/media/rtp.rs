//! RTP packet views, RFC 3550 §5.1, and RTP/RTCP demultiplexing on one port, RFC 5761 §4.
//!
//! [`RtpPacket`] and [`RtpPacketMut`] borrow a datagram and validate its layout once
//! (fixed header, CSRC list, header extension, padding); after that every accessor is
//! infallible. Setters rewrite the header in place so the relay path never copies a packet.
//! Nothing here panics on bytes from the network.

use std::fmt;
use std::ops::Range;

use thiserror::Error;

/// Length of the fixed RTP header (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;

/// The only RTP version in use (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;

/// Synchronization source identifier (RFC 3550 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(pub u32);

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// An RTP payload type, a 7-bit number (RFC 3550 §5.1, RFC 3551 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// Static payload type 0, G.711 µ-law (RFC 3551 §6).
    pub const PCMU: PayloadType = PayloadType(0);
    /// Static payload type 8, G.711 A-law (RFC 3551 §6).
    pub const PCMA: PayloadType = PayloadType(8);

    /// A payload type, or `None` when `value` does not fit in 7 bits.
    #[must_use]
    pub const fn new(value: u8) -> Option<PayloadType> {
        if value <= 127 {
            Some(PayloadType(value))
        } else {
            None
        }
    }

    /// The number carried on the wire.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a datagram is not a well-formed RTP packet. All variants are malformed input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the header announces.
    #[error("RTP packet truncated: {len} bytes, header needs {needed}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes the header layout requires.
        needed: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or covers the header.
    #[error("RTP padding of {padding} bytes does not fit a {len}-byte packet")]
    BadPadding {
        /// The padding count (last byte of the packet).
        padding: u8,
        /// Bytes received.
        len: usize,
    },
}

/// The fixed-header fields a relay reads and writes (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit: for audio, the first packet of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// Payload type.
    pub payload_type: PayloadType,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp, in units of the payload's clock rate.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: Ssrc,
}

impl RtpHeader {
    /// Appends a 12-byte header (no CSRC, no extension, no padding) and `payload` to `out`.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.reserve(FIXED_HEADER_LEN + payload.len());
        out.push(RTP_VERSION << 6);
        out.push((u8::from(self.marker) << 7) | self.payload_type.get());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.0.to_be_bytes());
        out.extend_from_slice(payload);
    }
}

/// Byte layout of a validated packet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    csrc_count: u8,
    /// Header extension: profile-defined id and the data range (RFC 3550 §5.3.1).
    extension: Option<(u16, Range<usize>)>,
    payload: Range<usize>,
    padding: u8,
}

fn be16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn be32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn layout(buf: &[u8]) -> Result<Layout, RtpError> {
    let len = buf.len();
    let truncated = |needed| RtpError::Truncated { len, needed };
    if len < FIXED_HEADER_LEN {
        return Err(truncated(FIXED_HEADER_LEN));
    }
    let b0 = buf.first().copied().unwrap_or_default();
    let version = b0 >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion(version));
    }
    let has_padding = b0 & 0x20 != 0;
    let has_extension = b0 & 0x10 != 0;
    let csrc_count = b0 & 0x0f;
    let mut header_len = FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
    if len < header_len {
        return Err(truncated(header_len));
    }
    let mut extension = None;
    if has_extension {
        if len < header_len + 4 {
            return Err(truncated(header_len + 4));
        }
        let profile = be16(buf, header_len);
        let words = usize::from(be16(buf, header_len + 2));
        let start = header_len + 4;
        let end = start + 4 * words;
        if len < end {
            return Err(truncated(end));
        }
        extension = Some((profile, start..end));
        header_len = end;
    }
    let mut padding = 0;
    if has_padding {
        // The last octet counts the padding, itself included (RFC 3550 §5.1).
        let count = buf.last().copied().unwrap_or(0);
        if count == 0 || usize::from(count) > len - header_len {
            return Err(RtpError::BadPadding {
                padding: count,
                len,
            });
        }
        padding = count;
    }
    Ok(Layout {
        csrc_count,
        extension,
        payload: header_len..len - usize::from(padding),
        padding,
    })
}

fn read_header(buf: &[u8]) -> RtpHeader {
    let b1 = buf.get(1).copied().unwrap_or(0);
    RtpHeader {
        marker: b1 & 0x80 != 0,
        payload_type: PayloadType(b1 & 0x7f),
        sequence: be16(buf, 2),
        timestamp: be32(buf, 4),
        ssrc: Ssrc(be32(buf, 8)),
    }
}

/// A validated, read-only view of an RTP packet.
#[derive(Debug, Clone)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    layout: Layout,
}

impl<'a> RtpPacket<'a> {
    /// Validates `buf` as an RTP packet.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let layout = layout(buf)?;
        Ok(RtpPacket { buf, layout })
    }

    /// The fixed-header fields.
    #[must_use]
    pub fn header(&self) -> RtpHeader {
        read_header(self.buf)
    }

    /// Marker bit.
    #[must_use]
    pub fn marker(&self) -> bool {
        self.header().marker
    }

    /// Payload type.
    #[must_use]
    pub fn payload_type(&self) -> PayloadType {
        self.header().payload_type
    }

    /// Sequence number.
    #[must_use]
    pub fn sequence(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// Timestamp.
    #[must_use]
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }

    /// Synchronization source.
    #[must_use]
    pub fn ssrc(&self) -> Ssrc {
        Ssrc(be32(self.buf, 8))
    }

    /// Number of contributing sources.
    #[must_use]
    pub fn csrc_count(&self) -> u8 {
        self.layout.csrc_count
    }

    /// The contributing sources.
    pub fn csrcs(&self) -> impl Iterator<Item = Ssrc> + '_ {
        (0..usize::from(self.layout.csrc_count))
            .map(|i| Ssrc(be32(self.buf, FIXED_HEADER_LEN + 4 * i)))
    }

    /// Whether the padding bit is set.
    #[must_use]
    pub fn has_padding(&self) -> bool {
        self.layout.padding != 0
    }

    /// Number of padding bytes after the payload (0 without padding).
    #[must_use]
    pub fn padding_len(&self) -> u8 {
        self.layout.padding
    }

    /// The header extension's profile-defined id and data (RFC 3550 §5.3.1).
    #[must_use]
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        let (profile, range) = self.layout.extension.clone()?;
        Some((profile, self.buf.get(range).unwrap_or_default()))
    }

    /// Length of everything before the payload.
    #[must_use]
    pub fn header_len(&self) -> usize {
        self.layout.payload.start
    }

    /// The payload, without header or padding.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.buf
            .get(self.layout.payload.clone())
            .unwrap_or_default()
    }

    /// The whole datagram.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
}

/// A validated, writable view of an RTP packet: header setters and payload access in place.
#[derive(Debug)]
pub struct RtpPacketMut<'a> {
    buf: &'a mut [u8],
    layout: Layout,
}

impl<'a> RtpPacketMut<'a> {
    /// Validates `buf` as an RTP packet.
    pub fn parse(buf: &'a mut [u8]) -> Result<Self, RtpError> {
        let layout = layout(buf)?;
        Ok(RtpPacketMut { buf, layout })
    }

    /// A read-only view of the same packet.
    #[must_use]
    pub fn as_packet(&self) -> RtpPacket<'_> {
        RtpPacket {
            buf: self.buf,
            layout: self.layout.clone(),
        }
    }

    /// The fixed-header fields.
    #[must_use]
    pub fn header(&self) -> RtpHeader {
        read_header(self.buf)
    }

    /// Sets or clears the marker bit.
    pub fn set_marker(&mut self, marker: bool) {
        if let Some(b1) = self.buf.get_mut(1) {
            *b1 = (*b1 & 0x7f) | (u8::from(marker) << 7);
        }
    }

    /// Sets the payload type, keeping the marker bit.
    pub fn set_payload_type(&mut self, payload_type: PayloadType) {
        if let Some(b1) = self.buf.get_mut(1) {
            *b1 = (*b1 & 0x80) | payload_type.get();
        }
    }

    /// Sets the sequence number.
    pub fn set_sequence(&mut self, sequence: u16) {
        self.put(2, &sequence.to_be_bytes());
    }

    /// Sets the timestamp.
    pub fn set_timestamp(&mut self, timestamp: u32) {
        self.put(4, &timestamp.to_be_bytes());
    }

    /// Sets the synchronization source.
    pub fn set_ssrc(&mut self, ssrc: Ssrc) {
        self.put(8, &ssrc.0.to_be_bytes());
    }

    /// The payload, without header or padding.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        self.buf
            .get(self.layout.payload.clone())
            .unwrap_or_default()
    }

    /// The payload, writable in place.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buf
            .get_mut(self.layout.payload.clone())
            .unwrap_or_default()
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
}

/// What a datagram received on an RTP port is, RFC 5761 §4 and RFC 7983 §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// An RTP packet (version 2, second byte outside 192..=223).
    Rtp,
    /// An RTCP packet (version 2, packet type 192..=223) on a muxed port.
    Rtcp,
    /// Anything else: STUN, DTLS, garbage.
    Other,
}

/// Classifies a datagram from a port that may carry RTP and RTCP together (`a=rtcp-mux`).
///
/// RFC 5761 §4: the second byte is the RTCP packet type (200 SR, 201 RR, ...) or the RTP
/// marker bit plus payload type; values 192..=223 are RTCP, which is why RTP payload types
/// 64..=95 are not used on muxed ports.
#[must_use]
pub fn classify(buf: &[u8]) -> PacketKind {
    match buf {
        [b0, b1, ..] if b0 >> 6 == RTP_VERSION => {
            if (192..=223).contains(b1) {
                PacketKind::Rtcp
            } else {
                PacketKind::Rtp
            }
        }
        _ => PacketKind::Other,
    }
}

/// Whether a datagram on a muxed port is RTCP (RFC 5761 §4).
#[must_use]
pub fn is_rtcp(buf: &[u8]) -> bool {
    classify(buf) == PacketKind::Rtcp
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pcmu_packet(sequence: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: PayloadType::PCMU,
            sequence,
            timestamp,
            ssrc: Ssrc(ssrc),
        }
        .write(payload, &mut out);
        out
    }

    #[test]
    fn parses_fixed_header_fields() {
        let bytes = [
            0x80, 0x88, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0xaa, 0xbb,
        ];
        let packet = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(
            packet.header(),
            RtpHeader {
                marker: true,
                payload_type: PayloadType::PCMA,
                sequence: 0x1234,
                timestamp: 0xdead_beef,
                ssrc: Ssrc(0x0102_0304),
            }
        );
        assert_eq!(packet.payload(), &[0xaa, 0xbb]);
        assert_eq!(packet.csrc_count(), 0);
        assert!(!packet.has_padding());
        assert!(packet.extension().is_none());
        assert_eq!(packet.header_len(), 12);
    }

    #[test]
    fn write_then_parse_round_trips() {
        let bytes = pcmu_packet(65535, 4_000_000_000, 7, &[1, 2, 3]);
        let packet = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(packet.sequence(), 65535);
        assert_eq!(packet.timestamp(), 4_000_000_000);
        assert_eq!(packet.ssrc(), Ssrc(7));
        assert_eq!(packet.payload_type(), PayloadType::PCMU);
        assert!(!packet.marker());
        assert_eq!(packet.payload(), &[1, 2, 3]);
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped_to_find_the_payload() {
        let mut bytes = vec![0xb2, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 11]); // two CSRCs
        bytes.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]); // one-word extension
        bytes.extend_from_slice(&[9, 9, 9]); // payload
        bytes.extend_from_slice(&[0, 0, 3]); // padding of 3
        let packet = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(packet.csrc_count(), 2);
        assert_eq!(packet.csrcs().collect::<Vec<_>>(), vec![Ssrc(10), Ssrc(11)]);
        assert_eq!(packet.extension(), Some((0xbede, &[0x10, 0xff, 0, 0][..])));
        assert_eq!(packet.padding_len(), 3);
        assert_eq!(packet.payload(), &[9, 9, 9]);
    }

    #[test]
    fn version_other_than_two_is_rejected() {
        let mut bytes = pcmu_packet(1, 1, 1, &[]);
        bytes[0] = 0x40;
        assert_eq!(
            RtpPacket::parse(&bytes).unwrap_err(),
            RtpError::BadVersion(1)
        );
    }

    #[test]
    fn short_packets_are_rejected() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]).unwrap_err(),
            RtpError::Truncated {
                len: 11,
                needed: 12
            }
        );
        let mut bytes = pcmu_packet(1, 1, 1, &[0; 4]);
        bytes[0] |= 0x02; // two CSRCs: needs 20 bytes, has 16
        assert_eq!(
            RtpPacket::parse(&bytes).unwrap_err(),
            RtpError::Truncated {
                len: 16,
                needed: 20
            }
        );
        let mut bytes = pcmu_packet(1, 1, 1, &[0xbe, 0xde, 0, 2, 0, 0, 0, 0]);
        bytes[0] |= 0x10; // extension of two words, only one present
        assert_eq!(
            RtpPacket::parse(&bytes).unwrap_err(),
            RtpError::Truncated {
                len: 20,
                needed: 24
            }
        );
    }

    #[test]
    fn padding_longer_than_the_payload_is_rejected() {
        let mut bytes = pcmu_packet(1, 1, 1, &[1, 2, 5]);
        bytes[0] |= 0x20;
        assert!(matches!(
            RtpPacket::parse(&bytes),
            Err(RtpError::BadPadding { padding: 5, .. })
        ));
        let mut bytes = pcmu_packet(1, 1, 1, &[1, 0]);
        bytes[0] |= 0x20;
        assert!(matches!(
            RtpPacket::parse(&bytes),
            Err(RtpError::BadPadding { padding: 0, .. })
        ));
    }

    #[test]
    fn setters_rewrite_in_place_and_keep_the_rest() {
        let mut bytes = pcmu_packet(10, 20, 30, &[1, 2, 3]);
        bytes[1] |= 0x80;
        let mut packet = RtpPacketMut::parse(&mut bytes).unwrap();
        packet.set_sequence(0xfffe);
        packet.set_timestamp(0x8000_0001);
        packet.set_ssrc(Ssrc(0xcafe_babe));
        packet.set_payload_type(PayloadType::new(101).unwrap());
        packet.payload_mut()[0] = 42;
        assert!(
            packet.header().marker,
            "payload type setter keeps the marker"
        );
        packet.set_marker(false);
        let header = packet.header();
        assert_eq!(header.sequence, 0xfffe);
        assert_eq!(header.timestamp, 0x8000_0001);
        assert_eq!(header.ssrc, Ssrc(0xcafe_babe));
        assert_eq!(header.payload_type.get(), 101);
        assert!(!header.marker);
        assert_eq!(packet.payload(), &[42, 2, 3]);
        assert_eq!(packet.as_packet().payload(), &[42, 2, 3]);
    }

    #[test]
    fn payload_type_must_fit_seven_bits() {
        assert_eq!(PayloadType::new(127).map(PayloadType::get), Some(127));
        assert_eq!(PayloadType::new(128), None);
    }

    #[test]
    fn rtcp_is_told_from_rtp_on_a_muxed_port() {
        // RTCP receiver report: V=2, RC=1, PT=201.
        assert_eq!(classify(&[0x81, 201, 0, 7]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x80, 200, 0, 6]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x80, 223]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x80, 192]), PacketKind::Rtcp);
        // PCMU with and without marker; telephone-event 101 with marker is 229.
        assert_eq!(classify(&pcmu_packet(1, 1, 1, &[])), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 0x80]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 0x80 | 101]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 224]), PacketKind::Rtp);
        // STUN binding request starts with 0x00, DTLS with 20..=63.
        assert_eq!(classify(&[0x00, 0x01, 0, 0]), PacketKind::Other);
        assert_eq!(classify(&[22, 0xfe, 0xfd]), PacketKind::Other);
        assert_eq!(classify(&[0x80]), PacketKind::Other);
        assert!(is_rtcp(&[0x81, 201]));
        assert!(!is_rtcp(&[0x80, 0]));
    }

    #[test]
    fn ssrc_displays_as_hex() {
        assert_eq!(Ssrc(0xab).to_string(), "000000ab");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(mut bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(packet) = RtpPacket::parse(&bytes) {
                let _ = (packet.header(), packet.csrcs().count(), packet.extension());
                prop_assert!(packet.header_len() + packet.payload().len() <= bytes.len());
            }
            if let Ok(mut packet) = RtpPacketMut::parse(&mut bytes) {
                packet.set_sequence(1);
                packet.set_timestamp(2);
                packet.set_ssrc(Ssrc(3));
                packet.set_payload_type(PayloadType::PCMA);
                packet.payload_mut().fill(0);
            }
            let _ = classify(&bytes);
        }

        #[test]
        fn version_two_headers_with_room_always_parse(
            b1 in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 10..40)
        ) {
            let mut bytes = vec![0x80, b1];
            bytes.extend_from_slice(&rest);
            let packet = RtpPacket::parse(&bytes).unwrap();
            prop_assert_eq!(packet.payload().len(), bytes.len() - 12);
        }
    }
}
