//! Whose packets an endpoint takes, and where the switch may send: strict symmetric RTP.
//!
//! Plain symmetric RTP (RFC 4961) latches onto whatever address sends the first packet, so
//! anyone who sprays a switch's port range is latched by the next call and hears it, or
//! talks into it and its recording. Here a leg's media is bound to its signalling, as
//! rtpengine's strict source and Asterisk's `strictrtp` bind it:
//!
//! - **Who may latch.** Only the IP address the leg's signalling came from
//!   ([`LatchPolicy::SignallingIp`]: a phone behind a NAT sends its SIP and its RTP from the
//!   NAT's address), or for trunks that need no NAT traversal the IP of the SDP address
//!   ([`LatchPolicy::SdpAddress`]). The first RTP packet from that IP latches its port; from
//!   then on RTP from any other address is dropped (and counted) until the SDP changes: a
//!   re-INVITE naming a new address re-arms the latch under the same rule.
//! - **A port change from the same IP** (a NAT rebinding) takes over once the latched
//!   source has been quiet for [`TAKEOVER_AFTER`]: an outsider cannot use it, and two
//!   streams from the same host cannot flap the latch.
//! - **RTCP** is terminated by the relay, so its only effect is to keep the call alive; it
//!   is taken from the allowed IP on any port (phones send it from RTP + 1, or muxed).
//! - **Where to send.** With [`LatchPolicy::SignallingIp`] the latched source, and before
//!   it the SDP address only when its IP is the signalling IP: an SDP naming a third
//!   address gets nothing until a packet from the phone's own IP says where it is. With
//!   [`LatchPolicy::SdpAddress`] always the SDP address.
//! - **When to send.** Nothing at all until the leg's signalling established it
//!   ([`Source::establish`]: the caller's ACK, our ACK of a callee's 2xx, or an early answer
//!   to a caller's offer): a forged INVITE never gets a single packet sent anywhere.

use super::Port;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a latched RTP source must be quiet before another port of the same IP may take
/// over (a NAT that rebinds mid-call). Long enough that two live streams from one host never
/// alternate, short enough that a rebound phone is heard again within a second.
pub const TAKEOVER_AFTER: Duration = Duration::from_millis(500);

/// Which packets latch a leg's media; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchPolicy {
    /// Only from this IP, the one the leg's signalling came from (phones, NAT or not).
    SignallingIp(IpAddr),
    /// Only from the IP of the SDP's address, and always sent to that address (trunks the
    /// profile trusts to state their media address, e.g. across a private interconnect).
    SdpAddress,
}

impl LatchPolicy {
    /// [`LatchPolicy::SignallingIp`] for `ip`, an IPv4-mapped IPv6 address read as IPv4 (a
    /// dual-stack SIP socket reports them; the media sockets may not).
    #[must_use]
    pub fn signalling(ip: IpAddr) -> LatchPolicy {
        LatchPolicy::SignallingIp(ip.to_canonical())
    }
}

/// An endpoint's view of its phone; see the module doc.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// Set by each SDP negotiation; `None` until the first: nothing is admitted before.
    latch: Option<LatchPolicy>,
    /// The SDP's RTP address (never unspecified or port 0).
    sdp: Option<SocketAddr>,
    /// The latched RTP source and when it last sent.
    latched: Option<(SocketAddr, Instant)>,
    established: bool,
}

impl Source {
    /// A new SDP negotiation: a changed address or policy re-arms the latch; the same ones
    /// keep it (a re-INVITE for hold keeps the NATed source already found).
    pub fn configure(&mut self, remote: Option<SocketAddr>, latch: LatchPolicy) {
        let sdp = remote.filter(|r| !r.ip().is_unspecified() && r.port() != 0);
        if sdp != self.sdp || Some(latch) != self.latch {
            self.latched = None;
        }
        self.sdp = sdp;
        self.latch = Some(latch);
    }

    /// The leg's signalling established it: sending may start (irreversible for the leg).
    pub fn establish(&mut self) {
        self.established = true;
    }

    /// Whether the switch may send to the phone yet.
    #[must_use]
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The IP packets are taken from; `None` before any SDP (or with a policy that trusts an
    /// SDP that named no address): nothing is.
    fn allowed_ip(&self) -> Option<IpAddr> {
        match self.latch? {
            LatchPolicy::SignallingIp(ip) => Some(ip),
            LatchPolicy::SdpAddress => self.sdp.map(|a| a.ip().to_canonical()),
        }
    }

    /// Whether a packet `from` on `port` would be taken as the phone's, changing nothing: an
    /// SRTP leg asks before authenticating, so a forged packet latches nothing.
    #[must_use]
    pub fn would_admit(&self, now: Instant, port: Port, from: SocketAddr) -> bool {
        let Some(allowed) = self.allowed_ip() else {
            return false;
        };
        let from_allowed_ip = from.ip().to_canonical() == allowed;
        if port == Port::Rtcp {
            return from_allowed_ip;
        }
        match &self.latched {
            Some((source, _)) if *source == from => true,
            Some((_, last)) => {
                from_allowed_ip && now.saturating_duration_since(*last) >= TAKEOVER_AFTER
            }
            None => from_allowed_ip,
        }
    }

    /// Whether a packet `from` on `port` is the phone's. `Some(true)` when it moved the
    /// latch (the destination must be read again), `Some(false)` when it is the phone's and
    /// changed nothing, `None` when it must be dropped.
    pub fn admit(&mut self, now: Instant, port: Port, from: SocketAddr) -> Option<bool> {
        if !self.would_admit(now, port, from) {
            return None;
        }
        if port == Port::Rtcp {
            return Some(false);
        }
        match &mut self.latched {
            Some((source, last)) if *source == from => {
                *last = now;
                Some(false)
            }
            latched => {
                *latched = Some((from, now));
                Some(true)
            }
        }
    }

    /// Where to send the phone's stream, `None` while nothing may be sent.
    #[must_use]
    pub fn destination(&self) -> Option<SocketAddr> {
        if !self.established {
            return None;
        }
        match self.latch? {
            LatchPolicy::SdpAddress => self.sdp,
            LatchPolicy::SignallingIp(ip) => self
                .latched
                .map(|(source, _)| source)
                .or(self.sdp.filter(|a| a.ip().to_canonical() == ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    const PHONE: [u8; 4] = [192, 0, 2, 10];
    const NAT: [u8; 4] = [203, 0, 113, 5];
    const SPRAYER: [u8; 4] = [127, 0, 0, 9];

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods)] // a base for virtual time
        Instant::now()
    }

    fn phone_behind_nat() -> Source {
        let mut source = Source::default();
        // The phone's SDP names its private address; its SIP came from the NAT.
        source.configure(
            Some(at([10, 0, 0, 7], 4000)),
            LatchPolicy::signalling(IpAddr::from(NAT)),
        );
        source.establish();
        source
    }

    #[test]
    fn nothing_is_admitted_or_sent_before_the_first_sdp() {
        let mut source = Source::default();
        source.establish();
        assert_eq!(source.admit(t0(), Port::Rtp, at(PHONE, 4000)), None);
        assert_eq!(source.admit(t0(), Port::Rtcp, at(PHONE, 4001)), None);
        assert_eq!(source.destination(), None);
    }

    #[test]
    fn a_nated_phone_is_latched_from_its_signalling_ip_and_nothing_goes_to_its_private_sdp() {
        let now = t0();
        let mut source = phone_behind_nat();
        assert_eq!(
            source.destination(),
            None,
            "10.0.0.7 is not where SIP came from"
        );
        assert_eq!(source.admit(now, Port::Rtp, at(NAT, 61_000)), Some(true));
        assert_eq!(source.destination(), Some(at(NAT, 61_000)));
        assert_eq!(source.admit(now, Port::Rtp, at(NAT, 61_000)), Some(false));
    }

    #[test]
    fn a_sprayer_can_neither_latch_first_nor_take_over_later() {
        let now = t0();
        let mut source = phone_behind_nat();
        assert_eq!(source.admit(now, Port::Rtp, at(SPRAYER, 5000)), None);
        assert_eq!(source.admit(now, Port::Rtcp, at(SPRAYER, 5001)), None);
        source.admit(now, Port::Rtp, at(NAT, 61_000));
        let later = now + TAKEOVER_AFTER * 10;
        assert_eq!(source.admit(later, Port::Rtp, at(SPRAYER, 5000)), None);
        assert_eq!(source.destination(), Some(at(NAT, 61_000)));
    }

    #[test]
    fn another_port_of_the_same_ip_takes_over_only_once_the_latched_one_is_quiet() {
        let now = t0();
        let mut source = phone_behind_nat();
        source.admit(now, Port::Rtp, at(NAT, 61_000));
        let soon = now + TAKEOVER_AFTER / 2;
        assert_eq!(source.admit(soon, Port::Rtp, at(NAT, 62_000)), None);
        source.admit(soon, Port::Rtp, at(NAT, 61_000));
        let rebound = soon + TAKEOVER_AFTER;
        assert_eq!(
            source.admit(rebound, Port::Rtp, at(NAT, 62_000)),
            Some(true)
        );
        assert_eq!(source.destination(), Some(at(NAT, 62_000)));
    }

    #[test]
    fn an_sdp_address_at_the_signalling_ip_is_used_until_a_packet_latches() {
        let now = t0();
        let mut source = Source::default();
        let ip = IpAddr::from(PHONE);
        source.configure(Some(at(PHONE, 4000)), LatchPolicy::signalling(ip));
        assert_eq!(source.destination(), None, "not established yet");
        source.establish();
        assert_eq!(source.destination(), Some(at(PHONE, 4000)));
        source.admit(now, Port::Rtp, at(PHONE, 4100));
        assert_eq!(source.destination(), Some(at(PHONE, 4100)));
        // The same SDP again (a re-INVITE for hold) keeps the latch...
        source.configure(Some(at(PHONE, 4000)), LatchPolicy::signalling(ip));
        assert_eq!(source.destination(), Some(at(PHONE, 4100)));
        // ...a new address re-arms it, within the same rule.
        source.configure(Some(at(PHONE, 4200)), LatchPolicy::signalling(ip));
        assert_eq!(source.destination(), Some(at(PHONE, 4200)));
        assert_eq!(source.admit(now, Port::Rtp, at(SPRAYER, 4200)), None);
        assert_eq!(source.admit(now, Port::Rtp, at(PHONE, 4300)), Some(true));
    }

    #[test]
    fn a_trusted_trunk_is_sent_to_its_sdp_address_and_heard_only_from_that_ip() {
        let now = t0();
        let mut source = Source::default();
        source.configure(Some(at(PHONE, 4000)), LatchPolicy::SdpAddress);
        source.establish();
        assert_eq!(source.destination(), Some(at(PHONE, 4000)));
        assert_eq!(source.admit(now, Port::Rtp, at(NAT, 4000)), None);
        assert_eq!(source.admit(now, Port::Rtp, at(PHONE, 4002)), Some(true));
        assert_eq!(
            source.destination(),
            Some(at(PHONE, 4000)),
            "asymmetric trunks keep their SDP address"
        );
    }

    #[test]
    fn rtcp_is_taken_from_any_port_of_the_allowed_ip_only() {
        let now = t0();
        let mut source = phone_behind_nat();
        assert_eq!(source.admit(now, Port::Rtcp, at(NAT, 61_001)), Some(false));
        assert_eq!(source.admit(now, Port::Rtcp, at(NAT, 9)), Some(false));
        assert_eq!(source.admit(now, Port::Rtcp, at(SPRAYER, 61_001)), None);
        assert_eq!(source.destination(), None, "RTCP never latches RTP");
    }

    #[test]
    fn ipv4_mapped_signalling_addresses_match_ipv4_media() {
        let mapped: IpAddr = "::ffff:192.0.2.10".parse().unwrap();
        let mut source = Source::default();
        source.configure(None, LatchPolicy::signalling(mapped));
        assert_eq!(source.admit(t0(), Port::Rtp, at(PHONE, 4000)), Some(true));
    }
}
