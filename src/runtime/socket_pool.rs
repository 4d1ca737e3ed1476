//! The sockets of ended media endpoints, kept bound for their port pair's next call.
//!
//! Every call opens two endpoints of two sockets each. Creating, binding, setting
//! non-blocking and closing them was 6 % of the switch's CPU at 2,000 calls per second
//! (`socket`, `bind`, `fcntl` and `close` in a profile), for sockets identical to the ones
//! just closed. So a shard hands an ended endpoint's sockets back here ([`SocketPool::keep`])
//! instead of closing them, and the port allocator's binder takes them when it draws that
//! pair again ([`SocketPool::take`]). Pairs are still drawn at random from every free pair,
//! pooled or not: the pool changes what a pair costs, not which one a call gets.
//!
//! A pooled socket is not polled, so what its last phone still sends waits in the kernel's
//! buffer; [`SocketPool::take`] reads it away before the next call sees the socket, as a
//! freshly bound one would start empty. The switch's strict latching (see
//! `media::relay::source`) is the defence against a stray stream either way.
//!
//! The pool holds at most a share of the process's file descriptors (an eighth of the soft
//! `RLIMIT_NOFILE` in pairs, so a quarter in sockets), so idle sockets never take the
//! descriptors a SIP connection or a recording needs; beyond it, sockets are closed as before.

use super::media_shard::Sockets;
use mio::net::UdpSocket;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Pairs kept at most, whatever the descriptor limit.
const MAX_PAIRS: usize = 4096;
/// Datagrams read away from a pooled socket before it is judged flooded and closed instead.
const MAX_DRAINED: usize = 256;

/// Idle, still-bound media sockets by RTP port (see the module doc). Clones share the pool.
#[derive(Clone)]
pub struct SocketPool {
    idle: Arc<Mutex<HashMap<u16, Sockets>>>,
    capacity: usize,
    max_drained: usize,
}

impl SocketPool {
    /// A pool of at most `capacity` pairs.
    pub fn new(capacity: usize) -> SocketPool {
        SocketPool {
            idle: Arc::default(),
            capacity,
            max_drained: MAX_DRAINED,
        }
    }

    /// A pool sized from this process's descriptor limit (see the module doc).
    pub fn for_this_process() -> SocketPool {
        let capacity = open_files_soft_limit().map_or(0, |limit| limit / 8);
        SocketPool::new(capacity.min(MAX_PAIRS))
    }

    /// Keeps an ended endpoint's sockets for their pair's next call; closes them (drops)
    /// when the pool is full.
    pub fn keep(&self, sockets: Sockets) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.capacity {
            idle.insert(sockets.port, sockets);
        }
    }

    /// Whether [`SocketPool::keep`] would keep a pair now rather than close it.
    pub fn has_room(&self) -> bool {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
            < self.capacity
    }

    /// The pooled sockets of the pair whose RTP port is `rtp_port`, emptied of what arrived
    /// while they waited; `None` when the pair is not pooled, or is being flooded (its
    /// sockets are closed then, and the pair binds afresh).
    pub fn take(&self, rtp_port: u16) -> Option<Sockets> {
        let sockets = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&rtp_port)?;
        (drain(&sockets.rtp, self.max_drained) && drain(&sockets.rtcp, self.max_drained))
            .then_some(sockets)
    }

    /// Pairs pooled now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Reads `socket` until it would block; `false` if it still had data after `most`
/// datagrams.
fn drain(socket: &UdpSocket, most: usize) -> bool {
    let mut buf = [0_u8; 64];
    for _ in 0..most {
        match socket.recv_from(&mut buf) {
            // A datagram longer than the buffer is read whole and truncated, which is all
            // draining needs.
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return true,
            // ICMP errors queued on the socket are read like datagrams.
            Err(_) => {}
        }
    }
    false
}

/// The soft limit on open files, from `/proc/self/limits`; `None` when unreadable (then
/// nothing is pooled).
fn open_files_soft_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    match line.split_whitespace().nth(3)? {
        "unlimited" => Some(MAX_PAIRS * 8),
        soft => soft.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    fn bound_pair() -> Sockets {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let rtp = std::net::UdpSocket::bind(any).unwrap();
        let rtcp = std::net::UdpSocket::bind(any).unwrap();
        rtp.set_nonblocking(true).unwrap();
        rtcp.set_nonblocking(true).unwrap();
        Sockets {
            port: rtp.local_addr().unwrap().port(),
            rtp: UdpSocket::from_std(rtp),
            rtcp: UdpSocket::from_std(rtcp),
        }
    }

    /// Sends `count` datagrams to `pair`'s RTP socket and waits (bounded) until the first is
    /// queued there, so a drain has something to read.
    fn queue_datagrams(pair: &Sockets, count: usize) {
        let sender = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let to = pair.rtp.local_addr().unwrap();
        for _ in 0..count {
            sender.send_to(b"late rtp from the last call", to).unwrap();
        }
        let mut buf = [0_u8; 8];
        let queued = (0..1000).any(|_| {
            pair.rtp.peek_from(&mut buf).is_ok() || {
                std::thread::yield_now();
                false
            }
        });
        assert!(queued, "a datagram reached the socket");
    }

    #[test]
    fn a_kept_pair_comes_back_bound_to_its_port_and_empty() {
        let pool = SocketPool::new(4);
        let pair = bound_pair();
        let (port, rtp_addr) = (pair.port, pair.rtp.local_addr().unwrap());
        queue_datagrams(&pair, 3);
        pool.keep(pair);
        assert_eq!(pool.take(port + 2).map(|s| s.port), None, "another pair");
        let pair = pool.take(port).expect("the pooled pair");
        assert_eq!(pair.rtp.local_addr().unwrap(), rtp_addr);
        let mut buf = [0_u8; 64];
        assert_eq!(
            pair.rtp.recv_from(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock,
            "what arrived while pooled was read away"
        );
        assert_eq!(pool.len(), 0);
        assert!(pool.take(port).is_none(), "taken once");
    }

    #[test]
    fn a_full_pool_closes_what_it_cannot_keep() {
        let pool = SocketPool::new(1);
        let (first, second) = (bound_pair(), bound_pair());
        let second_addr = second.rtp.local_addr().unwrap();
        pool.keep(first);
        pool.keep(second);
        assert_eq!(pool.len(), 1);
        // Closed: its port can be bound again.
        std::net::UdpSocket::bind(second_addr).expect("the closed socket's port is free");
    }

    #[test]
    fn a_flooded_pair_is_closed_rather_than_handed_out() {
        let pool = SocketPool {
            max_drained: 4,
            ..SocketPool::new(4)
        };
        let pair = bound_pair();
        let (port, rtp_addr) = (pair.port, pair.rtp.local_addr().unwrap());
        // Loopback queues each datagram as it is sent.
        queue_datagrams(&pair, 8);
        pool.keep(pair);
        assert!(pool.take(port).is_none());
        std::net::UdpSocket::bind(rtp_addr).expect("the flooded socket was closed");
    }

    #[test]
    fn the_descriptor_limit_of_this_process_is_read() {
        assert!(open_files_soft_limit().is_some_and(|n| n > 0));
    }
}
