//! The simulated network: every datagram is delayed by a seeded 1–50 ms (so packets
//! overtake each other), one in ten is duplicated, and one in ten of those the sender
//! marks lossy is dropped. Only what a sender repeats until answered is marked lossy (the
//! switch's requests but ACK, its 2xx to INVITEs): the scripted phones never retransmit, so
//! losing what they send would end a flow rather than test it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use rand::rngs::SmallRng;

/// One datagram in flight.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Bytes,
}

/// Datagrams in flight, by delivery time.
pub struct Net {
    rng: SmallRng,
    /// Delivery time and sequence (ties go in sending order), then the datagram.
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    datagrams: HashMap<u64, Datagram>,
    sent: u64,
}

impl Net {
    pub fn new(rng: SmallRng) -> Net {
        Net {
            rng,
            queue: BinaryHeap::new(),
            datagrams: HashMap::new(),
            sent: 0,
        }
    }

    /// Puts a datagram on the wire at `now`.
    pub fn send(&mut self, now: Instant, datagram: Datagram, lossy: bool) {
        if lossy && self.rng.random_bool(0.1) {
            return;
        }
        let copies = if self.rng.random_bool(0.1) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = Duration::from_millis(self.rng.random_range(1..=50));
            self.sent += 1;
            self.queue.push(Reverse((now + delay, self.sent)));
            self.datagrams.insert(self.sent, datagram.clone());
        }
    }

    /// When the next datagram arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// The next datagram to arrive.
    pub fn deliver(&mut self) -> Option<Datagram> {
        let Reverse((_, seq)) = self.queue.pop()?;
        self.datagrams.remove(&seq)
    }
}
