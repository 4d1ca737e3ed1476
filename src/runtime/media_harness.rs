//! A loopback harness for [`MediaEngine`] tests: a customer and an agent "phone" (plain UDP
//! sockets on 127.0.0.1) and the two switch endpoints they talk to, configured for PCMU with
//! telephone-event 101 and bridged.

use super::MediaEngine;
use crate::call::{EndpointId, MediaEvent};
use crate::media::g711::Law;
use crate::media::rtp::{PayloadType, RtpHeader, RtpPacket, Ssrc};
use crate::media::sdp::{Codec, CodecName, Direction, Negotiated};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// RFC 4733 telephone-event payload type used on both legs.
pub const EVENT_PT: u8 = 101;
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One phone: where it sends (the switch endpoint) and its outgoing stream's numbering.
pub struct Phone {
    pub endpoint: EndpointId,
    socket: UdpSocket,
    switch: SocketAddr,
    sequence: u16,
    timestamp: u32,
    ssrc: Ssrc,
}

impl Phone {
    /// Sends one PCMU packet.
    pub async fn send_audio(&mut self, payload: &[u8]) {
        self.send(PayloadType::PCMU, payload).await;
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
    }

    /// Sends one RFC 4733 event packet for `event` (a digit is 0-9) at the current timestamp.
    pub async fn send_event(&mut self, event: u8, end: bool, duration: u16) {
        let [hi, lo] = duration.to_be_bytes();
        let flags = if end { 0x80 | 10 } else { 10 };
        let pt = PayloadType::new(EVENT_PT).unwrap_or(PayloadType::PCMU);
        self.send(pt, &[event, flags, hi, lo]).await;
    }

    async fn send(&mut self, payload_type: PayloadType, payload: &[u8]) {
        let mut out = Vec::with_capacity(12 + payload.len());
        RtpHeader {
            marker: false,
            payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        }
        .write(payload, &mut out);
        self.sequence = self.sequence.wrapping_add(1);
        self.socket
            .send_to(&out, self.switch)
            .await
            .expect("phone send");
    }

    /// The next packet the switch sends this phone: (payload type, payload), or `None` after
    /// `wait` of quiet.
    pub async fn recv(&self, wait: Duration) -> Option<(u8, Vec<u8>)> {
        let mut buf = [0u8; 2048];
        let (n, _) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let packet = RtpPacket::parse(&buf[..n]).ok()?;
        Some((packet.payload_type().get(), packet.payload().to_vec()))
    }

    /// Every audio payload received until `wait` of quiet, in arrival order.
    pub async fn drain_audio(&self, wait: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some((pt, payload)) = self.recv(wait).await {
            if pt == PayloadType::PCMU.get() {
                out.push(payload);
            }
        }
        out
    }
}

/// A bridged customer ↔ agent call through a fresh engine.
pub struct Call {
    pub engine: MediaEngine,
    pub events: mpsc::Receiver<MediaEvent>,
    pub customer: Phone,
    pub agent: Phone,
}

fn negotiated() -> Negotiated {
    Negotiated {
        codec: Codec::pcmu(),
        telephone_event: Some(Codec {
            payload_type: PayloadType::new(EVENT_PT).unwrap_or(PayloadType::PCMU),
            name: CodecName::TelephoneEvent,
            clock_rate: 8000,
            channels: None,
            fmtp: Some("0-16".into()),
        }),
        srtp: None,
    }
}

/// Opens `id` on a free port pair the test picks (bind port 0, then retry on a clash).
fn open(engine: &mut MediaEngine, id: EndpointId) -> SocketAddr {
    for _ in 0..50 {
        let Ok(probe) = std::net::UdpSocket::bind((LOOPBACK, 0)) else {
            continue;
        };
        let Ok(port) = probe.local_addr().map(|a| a.port()) else {
            continue;
        };
        drop(probe);
        if port == u16::MAX {
            continue;
        }
        engine.open(id, port);
        if engine.endpoints.contains_key(&id) {
            return SocketAddr::new(LOOPBACK, port);
        }
    }
    panic!("no free port pair on loopback");
}

/// Opens endpoint `id` and a phone for it, configured but not bridged.
pub async fn phone(engine: &mut MediaEngine, id: EndpointId, ssrc: u32) -> Phone {
    let switch = open(engine, id);
    let socket = UdpSocket::bind((LOOPBACK, 0)).await.expect("phone socket");
    let addr = socket.local_addr().expect("phone address");
    // Latched from the phone's own IP and established, as a call's ACK would leave it.
    let latch = crate::media::relay::LatchPolicy::signalling(addr.ip());
    engine.configure(id, Some(addr), negotiated(), Direction::SendRecv, latch);
    engine.establish(id);
    Phone {
        endpoint: id,
        socket,
        switch,
        sequence: 1000,
        timestamp: 50_000,
        ssrc: Ssrc(ssrc),
    }
}

/// Customer on endpoint 1, agent on endpoint 2, bridged.
pub async fn call() -> Call {
    let (tx, events) = mpsc::channel(256);
    let mut engine = MediaEngine::new(LOOPBACK, Duration::from_secs(30), tx);
    let customer = phone(&mut engine, EndpointId(1), 0x1111).await;
    let agent = phone(&mut engine, EndpointId(2), 0x2222).await;
    engine.bridge(customer.endpoint, agent.endpoint);
    // A round trip through each endpoint's shard: the commands above are applied before the
    // test sends anything (a loaded machine once let packets in ahead of the bridge, and a
    // test saw none of them relayed).
    engine.tap_count(customer.endpoint);
    engine.tap_count(agent.endpoint);
    Call {
        engine,
        events,
        customer,
        agent,
    }
}

/// PCMU-encodes 8 kHz samples into 20 ms payloads.
pub fn packets(samples: &[i16]) -> Vec<Vec<u8>> {
    samples
        .chunks_exact(160)
        .map(|c| c.iter().map(|s| Law::Mu.encode(*s)).collect())
        .collect()
}

/// Decodes PCMU payloads back to samples.
pub fn decode(payloads: &[Vec<u8>]) -> Vec<i16> {
    payloads
        .iter()
        .flatten()
        .map(|c| Law::Mu.decode(*c))
        .collect()
}

/// The next event, or `None` after `wait`.
pub async fn next_event(
    events: &mut mpsc::Receiver<MediaEvent>,
    wait: Duration,
) -> Option<MediaEvent> {
    tokio::time::timeout(wait, events.recv())
        .await
        .ok()
        .flatten()
}
