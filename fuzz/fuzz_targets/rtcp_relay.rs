//! Datagrams of any kind on a call's media ports (`media::relay`): RTP, RTCP (on its own port
//! or muxed, RFC 5761), STUN and garbage, from the phone or from anyone, through a bridge that
//! relays, one that transcodes µ-law ↔ A-law with telephone-event, or a three-way mix.
//!
//! The switch terminates RTCP rather than parsing it (`is_rtcp` and the port decide), so this
//! is where RTCP bytes meet the switch's code. Properties: no panic, RTCP is never forwarded,
//! whatever is forwarded is RTP with the receiving leg's SSRC, and it goes to a phone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchboard::call::EndpointId;
use switchboard::media::relay::{LatchPolicy, Port, Relay, RelayEndpoint};
use switchboard::media::rewrite::StreamStart;
use switchboard::media::rtp::{PayloadType, RtpPacket, Ssrc, is_rtcp};
use switchboard::media::sdp::{Codec, Direction, Negotiated};
use switchboard::media::srtp::MAX_OVERHEAD;

const IDS: [EndpointId; 3] = [EndpointId(1), EndpointId(2), EndpointId(3)];

fn phone(index: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + index as u16))
}

fn ssrc(index: usize) -> Ssrc {
    Ssrc(0xAB00 + index as u32)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    #[allow(clippy::disallowed_methods)] // a base for virtual time, as the relay's tests do
    let t0 = Instant::now();
    let mut relay = Relay::new(Duration::from_secs(2));
    for (index, id) in IDS.iter().enumerate() {
        let start = StreamStart {
            sequence: 1000,
            timestamp: 5000,
        };
        relay.insert(t0, RelayEndpoint::new(*id, ssrc(index), start, t0));
        // Leg 1 speaks A-law when transcoding; everyone keeps telephone-event on 101.
        let codec = if mode & 1 == 1 && index == 1 {
            Codec::pcma()
        } else {
            Codec::pcmu()
        };
        let negotiated = Negotiated {
            codec,
            telephone_event: PayloadType::new(101).map(Codec::telephone_event),
            srtp: None,
        };
        // Strict latching: the phone's signalling IP; the stranger below must be dropped.
        let latch = LatchPolicy::signalling(phone(index).ip());
        relay.configure(
            t0,
            *id,
            Some(phone(index)),
            negotiated,
            Direction::SendRecv,
            latch,
        );
    }
    let mixing = mode & 2 == 2;
    if mixing {
        let members: Vec<_> = IDS
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, Ssrc(0xCD00 + i as u32)))
            .collect();
        relay.mix(t0, &members);
    } else {
        relay.bridge(IDS[0], IDS[1]);
    }

    // Each datagram: a selector byte (leg, port, spoofed source, time step), a length byte,
    // then that many bytes.
    let mut now = t0;
    while let [selector, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        let index = usize::from(selector & 3) % IDS.len();
        let port = if selector & 4 == 0 {
            Port::Rtp
        } else {
            Port::Rtcp
        };
        let from = if selector & 8 == 0 {
            phone(index)
        } else {
            SocketAddr::from(([192, 0, 2, 1], 9))
        };
        now += Duration::from_millis(u64::from(selector >> 4) * 5);
        let Some(slot) = relay.slot(IDS[index]) else {
            continue;
        };
        // Room for an SRTP tag, as the shard's receive buffer has.
        let mut packet = datagram.to_vec();
        packet.resize(datagram.len() + MAX_OVERHEAD, 0);
        let rtcp = port == Port::Rtcp || is_rtcp(datagram);
        if let Some((transmit, sent_len)) =
            relay.handle_packet(now, slot, port, from, &mut packet, datagram.len())
        {
            assert!(!rtcp, "RTCP is terminated, never forwarded");
            assert!(
                !mixing,
                "a mixed leg's audio goes to the mixer, not straight to a phone"
            );
            let to = (0..IDS.len())
                .find(|i| phone(*i) == transmit.to || relay.slot(IDS[*i]) == Some(transmit.from));
            assert!(to.is_some(), "forwarded to {} from no leg", transmit.to);
            let sent = RtpPacket::parse(&packet[..sent_len]).expect("what is forwarded is RTP");
            let peer = (0..IDS.len())
                .find(|i| relay.slot(IDS[*i]) == Some(transmit.from))
                .unwrap();
            assert_eq!(sent.ssrc(), ssrc(peer), "the receiving leg's own stream");
        }
        relay.handle_timeout(now);
        while relay.poll_transmit().is_some() {}
        while relay.poll_event().is_some() {}
    }
});
