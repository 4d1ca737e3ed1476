//! RTP/RTCP port pairs from the profile's range: RTP on an even port, RTCP on the next odd
//! one (RFC 3550 §11; with rtcp-mux, RFC 5761, the odd port simply stays reserved).
//!
//! Pure bookkeeping: the runtime binds the sockets, and when a bind fails (another process
//! holds the port) it releases the pair and asks again. Allocation is round-robin so a pair
//! just released is reused last, which keeps late packets of an ended call away from the
//! next one.

use std::ops::RangeInclusive;

use thiserror::Error;

/// Why a pair could not be allocated or released.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortError {
    /// The configured range holds no even/odd pair above port 0 (configuration error).
    #[error("RTP port range {first}-{last} holds no even/odd port pair")]
    InvalidRange {
        /// First port of the range.
        first: u16,
        /// Last port of the range.
        last: u16,
    },
    /// Every pair is in use: the call must be refused (503).
    #[error("all {0} RTP port pairs are in use")]
    Exhausted(usize),
    /// Released a pair that was not allocated (internal error in the caller).
    #[error("RTP port {0} is not an allocated pair")]
    NotAllocated(u16),
}

/// An RTP port and its RTCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortPair {
    rtp: u16,
}

impl PortPair {
    /// The even RTP port.
    #[must_use]
    pub fn rtp(self) -> u16 {
        self.rtp
    }

    /// The odd RTCP port, RTP + 1.
    #[must_use]
    pub fn rtcp(self) -> u16 {
        self.rtp + 1
    }
}

/// Hands out RTP/RTCP port pairs from a range, round-robin.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    first_rtp: u16,
    in_use: Vec<bool>,
    used: usize,
    cursor: usize,
}

impl PortAllocator {
    /// An allocator over the pairs that fit inside `range` (an odd first port is skipped).
    pub fn new(range: RangeInclusive<u16>) -> Result<PortAllocator, PortError> {
        let (first, last) = (*range.start(), *range.end());
        let invalid = PortError::InvalidRange { first, last };
        let first_rtp = first.max(2).checked_add(first % 2).ok_or(invalid.clone())?;
        if last < first_rtp.saturating_add(1) || first_rtp == u16::MAX {
            return Err(invalid);
        }
        let pairs = usize::from((last - first_rtp).div_ceil(2));
        Ok(PortAllocator {
            first_rtp,
            in_use: vec![false; pairs],
            used: 0,
            cursor: 0,
        })
    }

    /// Allocates the next free pair after the last one handed out.
    pub fn allocate(&mut self) -> Result<PortPair, PortError> {
        let pairs = self.in_use.len();
        if self.used == pairs {
            return Err(PortError::Exhausted(pairs));
        }
        for step in 0..pairs {
            let index = (self.cursor + step) % pairs;
            if let Some(slot) = self.in_use.get_mut(index).filter(|used| !**used) {
                *slot = true;
                self.used += 1;
                self.cursor = (index + 1) % pairs;
                return Ok(self.pair(index));
            }
        }
        Err(PortError::Exhausted(pairs))
    }

    /// Returns a pair, by its RTP port.
    pub fn release(&mut self, rtp: u16) -> Result<(), PortError> {
        let slot = self
            .index(rtp)
            .and_then(|i| self.in_use.get_mut(i))
            .filter(|used| **used)
            .ok_or(PortError::NotAllocated(rtp))?;
        *slot = false;
        self.used -= 1;
        Ok(())
    }

    /// Whether the pair with this RTP port is allocated.
    #[must_use]
    pub fn is_allocated(&self, rtp: u16) -> bool {
        self.index(rtp)
            .and_then(|i| self.in_use.get(i).copied())
            .unwrap_or(false)
    }

    /// Pairs in the range.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.in_use.len()
    }

    /// Pairs currently allocated.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.used
    }

    /// Pairs free.
    #[must_use]
    pub fn available(&self) -> usize {
        self.in_use.len() - self.used
    }

    fn pair(&self, index: usize) -> PortPair {
        // index < pairs, and the last pair's RTCP port fits the range, so no overflow.
        PortPair {
            rtp: self.first_rtp + 2 * index as u16,
        }
    }

    fn index(&self, rtp: u16) -> Option<usize> {
        let offset = rtp.checked_sub(self.first_rtp)?;
        if offset % 2 != 0 {
            return None;
        }
        Some(usize::from(offset / 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn pairs_are_even_rtp_and_odd_rtcp_within_the_range() {
        let mut ports = PortAllocator::new(10001..=10008).unwrap();
        assert_eq!(
            ports.capacity(),
            3,
            "10002, 10004, 10006 (10008 has no RTCP port)"
        );
        let pairs: Vec<PortPair> = (0..3).map(|_| ports.allocate().unwrap()).collect();
        assert_eq!(
            pairs
                .iter()
                .map(|p| (p.rtp(), p.rtcp()))
                .collect::<Vec<_>>(),
            [(10002, 10003), (10004, 10005), (10006, 10007)]
        );
    }

    #[test]
    fn exhaustion_is_an_error_until_a_pair_is_released() {
        let mut ports = PortAllocator::new(20000..=20003).unwrap();
        let a = ports.allocate().unwrap();
        let b = ports.allocate().unwrap();
        assert_eq!(ports.allocate(), Err(PortError::Exhausted(2)));
        assert_eq!(ports.available(), 0);
        ports.release(a.rtp()).unwrap();
        assert_eq!(ports.allocate(), Ok(a));
        assert!(ports.is_allocated(b.rtp()));
    }

    #[test]
    fn a_released_pair_is_reused_last() {
        let mut ports = PortAllocator::new(30000..=30009).unwrap();
        let first = ports.allocate().unwrap();
        ports.release(first.rtp()).unwrap();
        let next: Vec<u16> = (0..4).map(|_| ports.allocate().unwrap().rtp()).collect();
        assert_eq!(next, [30002, 30004, 30006, 30008]);
        assert_eq!(ports.allocate().unwrap(), first);
    }

    #[test]
    fn double_or_foreign_release_is_refused() {
        let mut ports = PortAllocator::new(40000..=40009).unwrap();
        let pair = ports.allocate().unwrap();
        ports.release(pair.rtp()).unwrap();
        assert_eq!(
            ports.release(pair.rtp()),
            Err(PortError::NotAllocated(40000))
        );
        assert_eq!(ports.release(40001), Err(PortError::NotAllocated(40001)));
        assert_eq!(ports.release(39998), Err(PortError::NotAllocated(39998)));
        assert_eq!(ports.release(40010), Err(PortError::NotAllocated(40010)));
        assert_eq!(ports.in_use(), 0);
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // a reversed range from a profile must be refused
    fn ranges_without_a_pair_are_invalid() {
        for range in [5000..=5000, 5001..=5002, 0..=1, 65535..=65535, 6000..=5000] {
            assert!(
                matches!(
                    PortAllocator::new(range.clone()),
                    Err(PortError::InvalidRange { .. })
                ),
                "{range:?}"
            );
        }
        assert_eq!(PortAllocator::new(0..=3).unwrap().capacity(), 1);
        assert_eq!(PortAllocator::new(65532..=65535).unwrap().capacity(), 2);
    }

    proptest! {
        #[test]
        fn a_pair_is_never_handed_out_twice(
            first in 1024u16..2000, width in 4u16..64, ops in proptest::collection::vec(any::<(bool, u8)>(), 0..300)
        ) {
            let mut ports = PortAllocator::new(first..=first + width).unwrap();
            let mut held: Vec<PortPair> = Vec::new();
            for (allocate, pick) in ops {
                if allocate || held.is_empty() {
                    match ports.allocate() {
                        Ok(pair) => {
                            prop_assert!(!held.contains(&pair));
                            prop_assert!(pair.rtp() % 2 == 0 && pair.rtp() >= first && pair.rtcp() <= first + width);
                            held.push(pair);
                        }
                        Err(PortError::Exhausted(n)) => prop_assert_eq!(held.len(), n),
                        Err(e) => prop_assert!(false, "{e}"),
                    }
                } else {
                    let pair = held.swap_remove(usize::from(pick) % held.len());
                    prop_assert_eq!(ports.release(pair.rtp()), Ok(()));
                }
                prop_assert_eq!(ports.in_use(), held.len());
                let distinct: HashSet<_> = held.iter().collect();
                prop_assert_eq!(distinct.len(), held.len());
            }
        }
    }
}
