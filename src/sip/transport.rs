//! SIP transports as the protocol core sees them (RFC 3261 §18, RFC 3261 §26.2 for TLS,
//! RFC 7118 for WebSocket): which one a message came in on, and so which one its answers,
//! the requests of its dialog and the Via, Contact and Record-Route we write must name.
//!
//! `sips:` URIs, the way Asterisk and FreeSWITCH handle them as a B2BUA: the switch ends
//! every leg, so "TLS all the way" (RFC 3261 §19.1.2) can only ever mean "TLS on the leg we
//! talk to". A `sips:` Request-URI or Contact is accepted on a TLS leg and treated as the
//! same user as its `sip:` form (registrar and dial plan match on user and host, never on
//! scheme); the switch's own URIs are `sip:` with `;transport=tls`, which RFC 5630 §3.1.3
//! keeps valid and which every phone we test (pjsua2, baresip) sends back over TLS. A leg
//! towards a TLS phone goes over TLS whatever scheme its caller used, and a `sips:` call
//! from a TLS phone to a UDP phone is bridged rather than refused with 480 (Asterisk's and
//! FreeSWITCH's default too): the contact center decides which phones may use plain
//! transports, not the caller's URI scheme.

use serde::{Deserialize, Serialize};

/// The transport a message arrived on or must leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl Transport {
    /// Connection-oriented, so no retransmissions (§17.1.1.2) and answers follow the
    /// connection (§18.2.2).
    #[must_use]
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Encrypted hop: the leg's signalling (and so SDES keys in its SDP) cannot be read on
    /// the wire.
    #[must_use]
    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls | Transport::Wss)
    }

    /// The name in a Via's sent-protocol (§20.42).
    #[must_use]
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// The `transport` URI parameter our Contact and Record-Route carry on this transport
    /// (none for UDP, the default of a `sip:` URI).
    #[must_use]
    pub fn uri_param(self) -> Option<&'static str> {
        match self {
            Transport::Udp => None,
            Transport::Tcp => Some("tcp"),
            Transport::Tls => Some("tls"),
            Transport::Ws => Some("ws"),
            Transport::Wss => Some("wss"),
        }
    }

    /// The transport a Via names; anything unknown is taken as a stream (TCP), as the
    /// transaction layer did before TLS, so its answers follow the connection.
    #[must_use]
    pub fn from_via(name: &str) -> Transport {
        [
            Transport::Udp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ]
        .into_iter()
        .find(|t| t.via_name().eq_ignore_ascii_case(name))
        .unwrap_or(Transport::Tcp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_a_reliable_secure_transport_named_tls_everywhere() {
        assert!(Transport::Tls.is_reliable() && Transport::Tls.is_secure());
        assert!(Transport::Tcp.is_reliable() && !Transport::Tcp.is_secure());
        assert!(!Transport::Udp.is_reliable() && !Transport::Udp.is_secure());
        assert_eq!(Transport::Tls.via_name(), "TLS");
        assert_eq!(Transport::Tls.uri_param(), Some("tls"));
        assert_eq!(Transport::Udp.uri_param(), None);
    }

    #[test]
    fn a_via_transport_maps_back_case_blind_and_unknown_ones_count_as_streams() {
        assert_eq!(Transport::from_via("tls"), Transport::Tls);
        assert_eq!(Transport::from_via("UDP"), Transport::Udp);
        assert_eq!(Transport::from_via("TCP"), Transport::Tcp);
        assert_eq!(Transport::from_via("SCTP"), Transport::Tcp);
    }
}
