//! SDP (RFC 8866) parsing and rendering. The offer/answer model (RFC 3264) built on it is
//! [`super::offer_answer`], re-exported here so callers name one module.
//!
//! Parsing keeps what the switch acts on — origin, connection addresses (session or media
//! level, IPv4 and IPv6), `m=` lines, `a=rtpmap`/`a=fmtp`, `a=ptime`/`a=maxptime`,
//! direction (media level overrides session level, RFC 8866 §6.7), `a=rtcp` (RFC 3605) and
//! `a=rtcp-mux` (RFC 5761 §5.1.1), `a=crypto` (RFC 4568, read on demand by
//! [`MediaDescription::crypto`]) — and carries other media attributes through untouched.
//! Media-level values are resolved at parse time, so a [`MediaDescription`] holds the
//! *effective* connection address and direction.
//!
//! Errors are classified for the SIP layer: [`SdpError::Unsupported`] is a well-formed
//! description we cannot use (488 Not Acceptable Here); every other variant is malformed
//! input (400 Bad Request). An offer with no usable audio stream is not an error:
//! [`answer_codecs`] and [`LocalMedia::to_answer`] return `None` and the SIP layer answers 488.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use thiserror::Error;

use super::g711::Law;
use super::rtp::PayloadType;
use super::sdes::{self, CryptoAttribute};

pub use super::offer_answer::{LocalMedia, LocalSrtp, Negotiated, SrtpKeys, answer_codecs};

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body is not UTF-8 text (malformed).
    #[error("SDP body is not UTF-8")]
    NotUtf8,
    /// A line violates the RFC 8866 grammar (malformed).
    #[error("SDP line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A mandatory line is absent (malformed).
    #[error("SDP has no {0} line")]
    Missing(&'static str),
    /// Well-formed, but uses something the switch cannot (e.g. a host name as address).
    #[error("unsupported SDP at line {line}: {reason}")]
    Unsupported {
        /// 1-based line number.
        line: usize,
        /// What is not supported.
        reason: &'static str,
    },
}

impl SdpError {
    /// Whether the description was valid but unusable (488), as opposed to malformed (400).
    #[must_use]
    pub fn is_unsupported(&self) -> bool {
        matches!(self, SdpError::Unsupported { .. })
    }
}

/// An RTP encoding name (RFC 4855), case-insensitive on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodecName {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// RFC 4733 named telephone events (DTMF).
    TelephoneEvent,
    /// Any other encoding, with the name as received.
    Other(String),
}

impl CodecName {
    /// Recognises an encoding name, ignoring ASCII case.
    #[must_use]
    pub fn from_encoding(name: &str) -> CodecName {
        if name.eq_ignore_ascii_case("PCMU") {
            CodecName::Pcmu
        } else if name.eq_ignore_ascii_case("PCMA") {
            CodecName::Pcma
        } else if name.eq_ignore_ascii_case("telephone-event") {
            CodecName::TelephoneEvent
        } else {
            CodecName::Other(name.to_owned())
        }
    }

    /// The name as written in `a=rtpmap`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            CodecName::Pcmu => "PCMU",
            CodecName::Pcma => "PCMA",
            CodecName::TelephoneEvent => "telephone-event",
            CodecName::Other(name) => name,
        }
    }

    /// The G.711 law, for PCMU and PCMA.
    #[must_use]
    pub fn law(&self) -> Option<Law> {
        match self {
            CodecName::Pcmu => Some(Law::Mu),
            CodecName::Pcma => Some(Law::A),
            _ => None,
        }
    }
}

impl fmt::Display for CodecName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One RTP payload format of a media description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Payload type number used on this leg.
    pub payload_type: PayloadType,
    /// Encoding name.
    pub name: CodecName,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters of `a=rtpmap` (channel count for audio), when given.
    pub channels: Option<u16>,
    /// `a=fmtp` parameters, when given.
    pub fmtp: Option<String>,
}

impl Codec {
    /// PCMU on its static payload type 0.
    #[must_use]
    pub fn pcmu() -> Codec {
        Codec::plain(PayloadType::PCMU, CodecName::Pcmu, 8000)
    }

    /// PCMA on its static payload type 8.
    #[must_use]
    pub fn pcma() -> Codec {
        Codec::plain(PayloadType::PCMA, CodecName::Pcma, 8000)
    }

    /// telephone-event/8000 with events 0-16 (DTMF digits, `*`, `#`, A-D, flash).
    #[must_use]
    pub fn telephone_event(payload_type: PayloadType) -> Codec {
        Codec {
            fmtp: Some("0-16".to_owned()),
            ..Codec::plain(payload_type, CodecName::TelephoneEvent, 8000)
        }
    }

    fn plain(payload_type: PayloadType, name: CodecName, clock_rate: u32) -> Codec {
        Codec {
            payload_type,
            name,
            clock_rate,
            channels: None,
            fmtp: None,
        }
    }

    /// The codec a static payload type stands for without `a=rtpmap` (RFC 3551 §6).
    #[must_use]
    pub fn from_static(payload_type: PayloadType) -> Option<Codec> {
        let (name, clock_rate) = match payload_type.get() {
            0 => (CodecName::Pcmu, 8000),
            3 => (CodecName::Other("GSM".to_owned()), 8000),
            4 => (CodecName::Other("G723".to_owned()), 8000),
            8 => (CodecName::Pcma, 8000),
            // G.722's RTP clock is 8000 though it samples at 16 kHz (RFC 3551 §4.5.2).
            9 => (CodecName::Other("G722".to_owned()), 8000),
            13 => (CodecName::Other("CN".to_owned()), 8000),
            18 => (CodecName::Other("G729".to_owned()), 8000),
            _ => return None,
        };
        Some(Codec::plain(payload_type, name, clock_rate))
    }
}

/// Media direction attribute (RFC 8866 §6.7, RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Send and receive (the default).
    #[default]
    SendRecv,
    /// Send only; the peer puts us on hold this way (RFC 3264 §8.4).
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// From the two capabilities.
    #[must_use]
    pub fn from_flags(send: bool, receive: bool) -> Direction {
        match (send, receive) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the side that wrote this attribute sends media.
    #[must_use]
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side that wrote this attribute receives media.
    #[must_use]
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: sendonly ↔ recvonly.
    #[must_use]
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// The attribute name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The direction to answer with (RFC 3264 §6.1): the offer reversed, narrowed to what we
/// want. sendonly → recvonly, recvonly → sendonly, inactive → inactive, sendrecv → `wanted`.
#[must_use]
pub fn answer_direction(offered: Direction, wanted: Direction) -> Direction {
    let allowed = offered.reversed();
    Direction::from_flags(
        allowed.sends() && wanted.sends(),
        allowed.receives() && wanted.receives(),
    )
}

/// The `o=` line (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when none.
    pub username: String,
    /// Session id, compared as a token.
    pub session_id: String,
    /// Session version: a changed version means a changed description (RFC 3264 §8).
    pub session_version: u64,
    /// Address type, `IP4` or `IP6`.
    pub address_type: String,
    /// Address of the originating host (an IP literal or a host name).
    pub address: String,
}

/// `a=rtcp`: where the peer wants RTCP when not at RTP port + 1 (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpAttribute {
    /// RTCP port.
    pub port: u16,
    /// RTCP address, when it differs from the connection address.
    pub address: Option<IpAddr>,
}

/// An attribute the parser does not interpret, kept in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Name (before the colon).
    pub name: String,
    /// Value (after the colon), for value attributes.
    pub value: Option<String>,
}

/// One `m=` section, with session-level defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: `audio`, `video`, `image`, ...
    pub media: String,
    /// Transport port; 0 means the stream is disabled or rejected (RFC 3264 §5.1).
    pub port: u16,
    /// Number of ports, from `<port>/<number>`.
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP`.
    pub protocol: String,
    /// Formats as listed on the `m=` line, in preference order.
    pub formats: Vec<String>,
    /// The RTP formats whose encoding is known (from `a=rtpmap` or the static table), in
    /// `m=` order. Dynamic formats without `a=rtpmap` are left out.
    pub codecs: Vec<Codec>,
    /// Effective connection address: media-level `c=`, else session-level.
    pub connection: Option<IpAddr>,
    /// Effective direction: media-level attribute, else session-level, else sendrecv.
    pub direction: Direction,
    /// `a=ptime`.
    pub ptime: Option<Duration>,
    /// `a=maxptime`.
    pub maxptime: Option<Duration>,
    /// `a=rtcp` (RFC 3605).
    pub rtcp: Option<RtcpAttribute>,
    /// `a=rtcp-mux`: RTP and RTCP share the port (RFC 5761).
    pub rtcp_mux: bool,
    /// Other media-level attributes, in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// Whether this is an `m=audio` section.
    #[must_use]
    pub fn is_audio(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio")
    }

    /// Whether the stream is SRTP keyed in the SDP (`RTP/SAVP`, RFC 4568 §3.1.4).
    #[must_use]
    pub fn is_savp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case(SAVP)
    }

    /// The `a=crypto` lines we can use, in the writer's order of preference; the others are
    /// skipped (see [`sdes`]).
    pub fn crypto(&self) -> impl Iterator<Item = CryptoAttribute> + '_ {
        self.attributes
            .iter()
            .filter(|a| a.name == sdes::ATTRIBUTE)
            .filter_map(|a| CryptoAttribute::parse(a.value.as_deref()?).ok())
    }

    /// Whether the protocol carries RTP (`RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...).
    #[must_use]
    pub fn is_rtp(&self) -> bool {
        is_rtp_protocol(&self.protocol)
    }

    /// Whether the stream is disabled (port 0).
    #[must_use]
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The codec for a payload type.
    #[must_use]
    pub fn codec(&self, payload_type: PayloadType) -> Option<&Codec> {
        self.codecs.iter().find(|c| c.payload_type == payload_type)
    }

    /// Where to send RTP, when the stream is enabled and has an address.
    #[must_use]
    pub fn rtp_address(&self) -> Option<SocketAddr> {
        if self.port == 0 {
            return None;
        }
        Some(SocketAddr::new(self.connection?, self.port))
    }

    /// Where to send RTCP: the RTP address with `a=rtcp-mux`, else `a=rtcp`, else port + 1.
    #[must_use]
    pub fn rtcp_address(&self) -> Option<SocketAddr> {
        let rtp = self.rtp_address()?;
        if self.rtcp_mux {
            return Some(rtp);
        }
        match self.rtcp {
            Some(RtcpAttribute { port, address }) => {
                Some(SocketAddr::new(address.unwrap_or(rtp.ip()), port))
            }
            None => Some(SocketAddr::new(rtp.ip(), rtp.port().checked_add(1)?)),
        }
    }

    /// Whether the peer is holding this stream: it will not receive (sendonly or inactive,
    /// RFC 3264 §8.4) or it uses the old `c=0.0.0.0` convention (RFC 2543).
    #[must_use]
    pub fn is_held(&self) -> bool {
        !self.direction.receives() || self.connection.is_some_and(|ip| ip.is_unspecified())
    }
}

/// A parsed or built session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    /// The `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

/// Plain RTP (RFC 3551).
pub(super) const AVP: &str = "RTP/AVP";
/// SRTP (RFC 3711 §12).
pub(super) const SAVP: &str = "RTP/SAVP";

fn is_rtp_protocol(protocol: &str) -> bool {
    protocol
        .split('/')
        .any(|part| part.eq_ignore_ascii_case("RTP"))
}

/// Media-level state while parsing, before defaults are applied.
struct MediaDraft {
    media: MediaDescription,
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    /// `a=rtpmap` entries: (payload type, name, clock rate, channels).
    rtpmaps: Vec<(u8, CodecName, u32, Option<u16>)>,
    fmtps: Vec<(u8, String)>,
}

struct Parser {
    line: usize,
}

impl Parser {
    fn malformed(&self, reason: &'static str) -> SdpError {
        SdpError::Malformed {
            line: self.line,
            reason,
        }
    }

    fn unsupported(&self, reason: &'static str) -> SdpError {
        SdpError::Unsupported {
            line: self.line,
            reason,
        }
    }

    fn origin(&self, value: &str) -> Result<Origin, SdpError> {
        let fields: Vec<&str> = value.split_ascii_whitespace().collect();
        let &[
            username,
            session_id,
            version,
            net_type,
            address_type,
            address,
        ] = &fields[..]
        else {
            return Err(self.malformed("o= needs six fields"));
        };
        if !net_type.eq_ignore_ascii_case("IN") {
            return Err(self.unsupported("network type other than IN"));
        }
        let session_version = version
            .parse()
            .map_err(|_| self.malformed("o= session version is not a number"))?;
        Ok(Origin {
            username: username.to_owned(),
            session_id: session_id.to_owned(),
            session_version,
            address_type: address_type.to_owned(),
            address: address.to_owned(),
        })
    }

    fn connection(&self, value: &str) -> Result<IpAddr, SdpError> {
        let fields: Vec<&str> = value.split_ascii_whitespace().collect();
        let &[net_type, address_type, address] = &fields[..] else {
            return Err(self.malformed("c= needs three fields"));
        };
        if !net_type.eq_ignore_ascii_case("IN") {
            return Err(self.unsupported("network type other than IN"));
        }
        // Multicast TTL and address count follow a slash (RFC 8866 §5.7).
        let address = address.split('/').next().unwrap_or_default();
        self.address(address_type, address)
    }

    fn address(&self, address_type: &str, address: &str) -> Result<IpAddr, SdpError> {
        if address_type.eq_ignore_ascii_case("IP4") {
            match address.parse::<Ipv4Addr>() {
                Ok(ip) => Ok(IpAddr::V4(ip)),
                Err(_) if address.parse::<Ipv6Addr>().is_ok() => {
                    Err(self.malformed("IPv6 address given as IP4"))
                }
                Err(_) => Err(self.unsupported("connection address is not an IP literal")),
            }
        } else if address_type.eq_ignore_ascii_case("IP6") {
            match address.parse::<Ipv6Addr>() {
                Ok(ip) => Ok(IpAddr::V6(ip)),
                Err(_) if address.parse::<Ipv4Addr>().is_ok() => {
                    Err(self.malformed("IPv4 address given as IP6"))
                }
                Err(_) => Err(self.unsupported("connection address is not an IP literal")),
            }
        } else {
            Err(self.unsupported("address type other than IP4 or IP6"))
        }
    }

    fn media(&self, value: &str) -> Result<MediaDescription, SdpError> {
        let mut fields = value.split_ascii_whitespace();
        let (Some(media), Some(port), Some(protocol)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(self.malformed("m= needs media, port and protocol"));
        };
        let (port, port_count) = match port.split_once('/') {
            Some((port, count)) => (
                port,
                Some(
                    count
                        .parse()
                        .map_err(|_| self.malformed("m= port count is not a number"))?,
                ),
            ),
            None => (port, None),
        };
        let port = port
            .parse()
            .map_err(|_| self.malformed("m= port is not a number up to 65535"))?;
        let formats: Vec<String> = fields.map(str::to_owned).collect();
        if is_rtp_protocol(protocol) && formats.iter().any(|f| self.payload_type(f).is_err()) {
            return Err(self.malformed("RTP format is not a payload type 0-127"));
        }
        Ok(MediaDescription {
            media: media.to_owned(),
            port,
            port_count,
            protocol: protocol.to_owned(),
            formats,
            codecs: Vec::new(),
            connection: None,
            direction: Direction::SendRecv,
            ptime: None,
            maxptime: None,
            rtcp: None,
            rtcp_mux: false,
            attributes: Vec::new(),
        })
    }

    fn payload_type(&self, text: &str) -> Result<u8, SdpError> {
        text.parse::<u8>()
            .ok()
            .filter(|&pt| pt <= 127)
            .ok_or_else(|| self.malformed("payload type is not a number 0-127"))
    }

    fn rtpmap(&self, value: &str) -> Result<(u8, CodecName, u32, Option<u16>), SdpError> {
        let (pt, encoding) = value
            .split_once(' ')
            .ok_or_else(|| self.malformed("a=rtpmap needs a payload type and an encoding"))?;
        let pt = self.payload_type(pt)?;
        let mut parts = encoding.trim().split('/');
        let name = parts.next().unwrap_or_default();
        let rate = parts.next().unwrap_or_default();
        if name.is_empty() {
            return Err(self.malformed("a=rtpmap has an empty encoding name"));
        }
        let rate = rate
            .parse::<u32>()
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| self.malformed("a=rtpmap clock rate is not a positive number"))?;
        let channels = match parts.next() {
            Some(c) => Some(
                c.parse()
                    .map_err(|_| self.malformed("a=rtpmap channels is not a number"))?,
            ),
            None => None,
        };
        if parts.next().is_some() {
            return Err(self.malformed("a=rtpmap has too many fields"));
        }
        Ok((pt, CodecName::from_encoding(name), rate, channels))
    }

    fn milliseconds(&self, value: &str, what: &'static str) -> Result<Duration, SdpError> {
        // Some phones write "20.0"; the grammar allows only digits but the meaning is clear.
        // Below a millisecond is no packet time; whole microseconds are all a time renders
        // back with, so the description re-renders the same (the fuzzer's find: 0.0001 ms
        // rendered as "0", which no longer parsed).
        let ms = value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|ms| ms.is_finite() && *ms >= 1.0 && *ms <= 60_000.0)
            .ok_or_else(|| self.malformed(what))?;
        Ok(Duration::from_micros((ms * 1000.0).round() as u64))
    }

    fn rtcp(&self, value: &str) -> Result<RtcpAttribute, SdpError> {
        let fields: Vec<&str> = value.split_ascii_whitespace().collect();
        let port = fields
            .first()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| self.malformed("a=rtcp port is not a number up to 65535"))?;
        let address = match &fields[1..] {
            [] => None,
            [net_type, address_type, address] => {
                if !net_type.eq_ignore_ascii_case("IN") {
                    return Err(self.unsupported("network type other than IN"));
                }
                Some(self.address(address_type, address)?)
            }
            _ => return Err(self.malformed("a=rtcp needs a port and optionally an address")),
        };
        Ok(RtcpAttribute { port, address })
    }
}

impl SessionDescription {
    /// Parses an SDP body. Lines may end in CRLF or LF.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let mut parser = Parser { line: 0 };
        let mut seen_version = false;
        let mut origin = None;
        let mut session_name = String::new();
        let mut connection = None;
        let mut direction = None;
        let mut drafts: Vec<MediaDraft> = Vec::new();

        for (index, raw) in text.split('\n').enumerate() {
            parser.line = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            let (kind, value) = match line.as_bytes() {
                [kind, b'=', ..] if kind.is_ascii_alphabetic() => (*kind, line.get(2..)),
                _ => return Err(parser.malformed("not a <type>=<value> line")),
            };
            let value = value.unwrap_or_default().trim_end();
            if !seen_version {
                if kind != b'v' {
                    return Err(parser.malformed("the first line must be v="));
                }
                if value != "0" {
                    return Err(parser.unsupported("SDP version other than 0"));
                }
                seen_version = true;
                continue;
            }
            match (kind, drafts.last_mut()) {
                (b'v', _) => return Err(parser.malformed("second v= line")),
                (b'm', _) => drafts.push(MediaDraft {
                    media: parser.media(value)?,
                    connection: None,
                    direction: None,
                    rtpmaps: Vec::new(),
                    fmtps: Vec::new(),
                }),
                (b'o', None) if origin.is_none() => origin = Some(parser.origin(value)?),
                (b's', None) => session_name = value.to_owned(),
                (b'c', None) => connection = Some(parser.connection(value)?),
                (b'c', Some(draft)) => draft.connection = Some(parser.connection(value)?),
                (b'a', None) => {
                    if let Some(d) = Direction::from_attribute(value) {
                        direction = Some(d);
                    }
                }
                (b'a', Some(draft)) => parser.media_attribute(draft, value)?,
                // i, u, e, p, b, t, r, z, k: nothing the switch acts on.
                _ => {}
            }
        }
        if !seen_version {
            return Err(SdpError::Missing("v="));
        }
        let origin = origin.ok_or(SdpError::Missing("o="))?;
        let media = drafts
            .into_iter()
            .map(|draft| draft.finish(connection, direction))
            .collect();
        Ok(SessionDescription {
            origin,
            session_name,
            connection,
            direction,
            media,
        })
    }

    /// The first enabled `m=audio` section and its index.
    #[must_use]
    pub fn audio(&self) -> Option<(usize, &MediaDescription)> {
        self.media
            .iter()
            .enumerate()
            .find(|(_, m)| m.is_audio() && !m.is_rejected())
    }
}

impl Parser {
    fn media_attribute(&self, draft: &mut MediaDraft, value: &str) -> Result<(), SdpError> {
        let (name, attr_value) = match value.split_once(':') {
            Some((name, v)) => (name, Some(v)),
            None => (value, None),
        };
        match (name, attr_value) {
            ("rtpmap", Some(v)) => draft.rtpmaps.push(self.rtpmap(v)?),
            ("fmtp", Some(v)) => {
                let (format, params) = v.split_once(' ').unwrap_or((v, ""));
                if let Ok(pt) = format.parse::<u8>() {
                    draft.fmtps.push((pt, params.trim().to_owned()));
                }
            }
            ("ptime", Some(v)) => {
                draft.media.ptime = Some(self.milliseconds(v, "a=ptime is not a duration")?);
            }
            ("maxptime", Some(v)) => {
                draft.media.maxptime = Some(self.milliseconds(v, "a=maxptime is not a duration")?);
            }
            ("rtcp", Some(v)) => draft.media.rtcp = Some(self.rtcp(v)?),
            ("rtcp-mux", None) => draft.media.rtcp_mux = true,
            (name, None) if Direction::from_attribute(name).is_some() => {
                draft.direction = Direction::from_attribute(name);
            }
            (name, value) => draft.media.attributes.push(Attribute {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            }),
        }
        Ok(())
    }
}

impl MediaDraft {
    fn finish(
        self,
        session_connection: Option<IpAddr>,
        session_direction: Option<Direction>,
    ) -> MediaDescription {
        let MediaDraft {
            mut media,
            connection,
            direction,
            rtpmaps,
            fmtps,
        } = self;
        media.connection = connection.or(session_connection);
        media.direction = direction.or(session_direction).unwrap_or_default();
        if media.is_rtp() {
            media.codecs = media
                .formats
                .iter()
                .filter_map(|f| f.parse::<u8>().ok().and_then(PayloadType::new))
                .filter_map(|pt| {
                    let mut codec = match rtpmaps.iter().find(|m| m.0 == pt.get()) {
                        Some((_, name, clock_rate, channels)) => Codec {
                            payload_type: pt,
                            name: name.clone(),
                            clock_rate: *clock_rate,
                            channels: *channels,
                            fmtp: None,
                        },
                        None => Codec::from_static(pt)?,
                    };
                    codec.fmtp = fmtps
                        .iter()
                        .find(|(p, _)| *p == pt.get())
                        .map(|(_, params)| params.clone());
                    Some(codec)
                })
                .collect();
        }
        media
    }
}

fn write_connection(out: &mut String, ip: IpAddr) {
    let kind = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(out, "c=IN {kind} {ip}\r\n");
}

fn write_milliseconds(out: &mut String, name: &str, duration: Duration) {
    let micros = duration.as_micros();
    if micros.is_multiple_of(1000) {
        let _ = write!(out, "a={name}:{}\r\n", micros / 1000);
    } else {
        let _ = write!(out, "a={name}:{}\r\n", duration.as_secs_f64() * 1000.0);
    }
}

impl fmt::Display for SessionDescription {
    /// Renders the description with CRLF line ends, attributes in RFC 8866 order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(512);
        let o = &self.origin;
        let _ = write!(
            out,
            "v=0\r\no={} {} {} IN {} {}\r\n",
            o.username, o.session_id, o.session_version, o.address_type, o.address
        );
        let name = if self.session_name.is_empty() {
            "-"
        } else {
            &self.session_name
        };
        let _ = write!(out, "s={name}\r\n");
        if let Some(ip) = self.connection {
            write_connection(&mut out, ip);
        }
        out.push_str("t=0 0\r\n");
        if let Some(direction) = self.direction {
            let _ = write!(out, "a={direction}\r\n");
        }
        for m in &self.media {
            let _ = write!(out, "m={} {}", m.media, m.port);
            if let Some(count) = m.port_count {
                let _ = write!(out, "/{count}");
            }
            let _ = write!(out, " {}", m.protocol);
            for format in &m.formats {
                let _ = write!(out, " {format}");
            }
            out.push_str("\r\n");
            if m.is_rejected() {
                // A rejected stream carries no attributes (RFC 3264 §6).
                continue;
            }
            if let Some(ip) = m.connection.filter(|ip| Some(*ip) != self.connection) {
                write_connection(&mut out, ip);
            }
            for c in &m.codecs {
                let _ = write!(
                    out,
                    "a=rtpmap:{} {}/{}",
                    c.payload_type, c.name, c.clock_rate
                );
                if let Some(channels) = c.channels {
                    let _ = write!(out, "/{channels}");
                }
                out.push_str("\r\n");
                if let Some(fmtp) = &c.fmtp {
                    let _ = write!(out, "a=fmtp:{} {fmtp}\r\n", c.payload_type);
                }
            }
            if let Some(ptime) = m.ptime {
                write_milliseconds(&mut out, "ptime", ptime);
            }
            if let Some(maxptime) = m.maxptime {
                write_milliseconds(&mut out, "maxptime", maxptime);
            }
            if self.direction != Some(m.direction) {
                let _ = write!(out, "a={}\r\n", m.direction);
            }
            if let Some(rtcp) = m.rtcp {
                let _ = write!(out, "a=rtcp:{}", rtcp.port);
                if let Some(ip) = rtcp.address {
                    let kind = if ip.is_ipv4() { "IP4" } else { "IP6" };
                    let _ = write!(out, " IN {kind} {ip}");
                }
                out.push_str("\r\n");
            }
            if m.rtcp_mux {
                out.push_str("a=rtcp-mux\r\n");
            }
            for a in &m.attributes {
                match &a.value {
                    Some(v) => {
                        let _ = write!(out, "a={}:{v}\r\n", a.name);
                    }
                    None => {
                        let _ = write!(out, "a={}\r\n", a.name);
                    }
                }
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "sdp_crypto_tests.rs"]
mod crypto_tests;
