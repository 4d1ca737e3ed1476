//! RTP/RTCP port pairs from the profile's range: RTP on an even port, RTCP on the next odd
//! one (RFC 3550 §11; with rtcp-mux, RFC 5761, the odd port simply stays reserved).
//!
//! Bookkeeping plus one injected act of IO: a pair is handed out only once its two sockets
//! are bound ([`PortBinder`], which the runtime implements and tests fake). That settles two
//! races the books alone cannot see: a pair whose previous sockets are still closing (the
//! media tasks of an ended call drop them a moment later) and a pair another process holds.
//! Either fails to bind and is skipped for another free pair, so a call is refused only when
//! no free pair at all can be bound.
//!
//! Pairs are drawn at random by a CSPRNG, not round-robin: a predictable next port helps
//! whoever sprays RTP at the range hoping to be latched by the next call (the relay's strict
//! latching is the real defence, see `media::relay::source`; unpredictable ports make
//! guessing a live call's port a search of the whole range).

use std::ops::RangeInclusive;

use rand::Rng;
use rand_chacha::ChaCha20Rng;
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
    /// Every pair is in use or cannot be bound: the call must be refused (503).
    #[error("none of the {0} RTP port pairs is free and bindable")]
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

/// Binds a pair's two sockets and keeps them for the endpoint that will use the pair.
pub trait PortBinder: Send {
    /// `true` when both ports are now bound (and held) for the caller.
    fn bind(&mut self, pair: PortPair) -> bool;
}

/// A binder for cores run without sockets (tests, simulations): every pair binds.
#[derive(Debug, Default, Clone, Copy)]
pub struct BooksOnly;

impl PortBinder for BooksOnly {
    fn bind(&mut self, _pair: PortPair) -> bool {
        true
    }
}

/// Random draws among the free pairs before falling back to a scan of all of them (only
/// reached when many free pairs cannot be bound, e.g. another process holds them).
const RANDOM_DRAWS: usize = 16;

/// Marks a pair in use in [`PortAllocator::position`].
const IN_USE: u32 = u32::MAX;

/// Hands out RTP/RTCP port pairs from a range, each drawn by a CSPRNG from the free ones.
///
/// The free pairs are kept in a vector with each pair's position in it, so a draw, an
/// allocation and a release are O(1) whatever the range's size or occupancy (a draw among
/// all pairs, skipping the used ones, degrades as the range fills up).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    first_rtp: u16,
    /// Indexes of the free pairs, in no order.
    free: Vec<u16>,
    /// Each pair's place in `free`, or [`IN_USE`].
    position: Vec<u32>,
    /// ChaCha20 seeded by the caller (from the OS in the runtime): whoever sees the ports of
    /// some calls cannot tell the next one's.
    rng: ChaCha20Rng,
}

impl PortAllocator {
    /// An allocator over the pairs that fit inside `range` (an odd first port is skipped),
    /// drawing with `rng`.
    pub fn new(range: RangeInclusive<u16>, rng: ChaCha20Rng) -> Result<PortAllocator, PortError> {
        let (first, last) = (*range.start(), *range.end());
        let invalid = PortError::InvalidRange { first, last };
        let first_rtp = first.max(2).checked_add(first % 2).ok_or(invalid.clone())?;
        if last < first_rtp.saturating_add(1) || first_rtp == u16::MAX {
            return Err(invalid);
        }
        let pairs = (last - first_rtp).div_ceil(2);
        Ok(PortAllocator {
            first_rtp,
            free: (0..pairs).collect(),
            position: (0..u32::from(pairs)).collect(),
            rng,
        })
    }

    /// Allocates a free pair drawn at random that `binder` could bind. A pair that does not
    /// bind stays free in the books (its holder may let go) and another is tried: first a few
    /// random draws, then every free pair from a random start.
    pub fn allocate(&mut self, binder: &mut dyn PortBinder) -> Result<PortPair, PortError> {
        let capacity = self.capacity();
        let free = self.free.len();
        if free == 0 {
            return Err(PortError::Exhausted(capacity));
        }
        for _ in 0..RANDOM_DRAWS.min(free) {
            let place = self.rng.random_range(0..free);
            if let Some(pair) = self.bind_at(place, binder) {
                return Ok(pair);
            }
        }
        let start = self.rng.random_range(0..free);
        for step in 0..free {
            if let Some(pair) = self.bind_at((start + step) % free, binder) {
                return Ok(pair);
            }
        }
        Err(PortError::Exhausted(capacity))
    }

    /// The free pair at `place`, taken if `binder` binds it.
    fn bind_at(&mut self, place: usize, binder: &mut dyn PortBinder) -> Option<PortPair> {
        let pair = self.pair(self.free[place]);
        binder.bind(pair).then(|| {
            self.take(place);
            pair
        })
    }

    /// Marks the pair at `place` in `free` used, moving the last free pair into its place.
    fn take(&mut self, place: usize) {
        let index = self.free.swap_remove(place);
        self.position[usize::from(index)] = IN_USE;
        if let Some(&moved) = self.free.get(place) {
            self.position[usize::from(moved)] = place as u32;
        }
    }

    /// Returns a pair, by its RTP port.
    pub fn release(&mut self, rtp: u16) -> Result<(), PortError> {
        let index = self
            .index(rtp)
            .filter(|&i| self.position.get(i) == Some(&IN_USE))
            .ok_or(PortError::NotAllocated(rtp))?;
        self.position[index] = self.free.len() as u32;
        // `index` < pairs, which fit a u16.
        self.free.push(index as u16);
        Ok(())
    }

    /// Whether the pair with this RTP port is allocated.
    #[must_use]
    pub fn is_allocated(&self, rtp: u16) -> bool {
        self.index(rtp)
            .and_then(|i| self.position.get(i))
            .is_some_and(|p| *p == IN_USE)
    }

    /// Pairs in the range.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.position.len()
    }

    /// Pairs currently allocated.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.capacity() - self.free.len()
    }

    /// Pairs free.
    #[must_use]
    pub fn available(&self) -> usize {
        self.free.len()
    }

    fn pair(&self, index: u16) -> PortPair {
        // index < pairs, and the last pair's RTCP port fits the range, so no overflow.
        PortPair {
            rtp: self.first_rtp + 2 * index,
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
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(11)
    }

    fn ports(range: RangeInclusive<u16>) -> PortAllocator {
        PortAllocator::new(range, rng()).unwrap()
    }

    /// A binder that refuses the pairs another process holds.
    struct Held(HashSet<u16>);

    impl PortBinder for Held {
        fn bind(&mut self, pair: PortPair) -> bool {
            !self.0.contains(&pair.rtp())
        }
    }

    #[test]
    fn pairs_are_even_rtp_and_odd_rtcp_within_the_range() {
        let mut ports = ports(10001..=10008);
        assert_eq!(
            ports.capacity(),
            3,
            "10002, 10004, 10006 (10008 has no RTCP port)"
        );
        let mut pairs: Vec<(u16, u16)> = (0..3)
            .map(|_| ports.allocate(&mut BooksOnly).unwrap())
            .map(|p| (p.rtp(), p.rtcp()))
            .collect();
        pairs.sort();
        assert_eq!(pairs, [(10002, 10003), (10004, 10005), (10006, 10007)]);
    }

    #[test]
    fn exhaustion_is_an_error_until_a_pair_is_released() {
        let mut ports = ports(20000..=20003);
        let a = ports.allocate(&mut BooksOnly).unwrap();
        let b = ports.allocate(&mut BooksOnly).unwrap();
        assert_eq!(ports.allocate(&mut BooksOnly), Err(PortError::Exhausted(2)));
        assert_eq!(ports.available(), 0);
        ports.release(a.rtp()).unwrap();
        assert_eq!(ports.allocate(&mut BooksOnly), Ok(a));
        assert!(ports.is_allocated(b.rtp()));
    }

    #[test]
    fn a_pair_that_cannot_be_bound_is_skipped_for_the_next_free_one() {
        let mut ports = ports(30000..=30199);
        // Another process holds every pair but one.
        let mut held = Held((30000..30200).step_by(2).filter(|p| *p != 30150).collect());
        let pair = ports.allocate(&mut held).unwrap();
        assert_eq!(pair.rtp(), 30150);
        assert_eq!(ports.allocate(&mut held), Err(PortError::Exhausted(100)));
        // The refused pairs stay free in the books: once their holder lets go they bind.
        held.0.clear();
        assert!(ports.allocate(&mut held).is_ok());
        assert_eq!(ports.in_use(), 2);
    }

    #[test]
    fn the_next_pair_cannot_be_predicted_from_the_previous_ones() {
        let mut ports = ports(20000..=29999);
        let drawn: Vec<i32> = (0..200)
            .map(|_| i32::from(ports.allocate(&mut BooksOnly).unwrap().rtp()))
            .collect();
        // Round-robin would step by 2 every time; random draws almost never do.
        let steps_of_two = drawn.windows(2).filter(|w| w[1] - w[0] == 2).count();
        assert!(
            steps_of_two < 5,
            "{steps_of_two} consecutive pairs in {drawn:?}"
        );
        let spread = drawn.iter().max().unwrap() - drawn.iter().min().unwrap();
        assert!(spread > 8_000, "draws cover the range: spread {spread}");
    }

    #[test]
    fn double_or_foreign_release_is_refused() {
        let mut ports = ports(40000..=40009);
        let pair = ports.allocate(&mut BooksOnly).unwrap();
        ports.release(pair.rtp()).unwrap();
        assert_eq!(
            ports.release(pair.rtp()),
            Err(PortError::NotAllocated(pair.rtp()))
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
                    PortAllocator::new(range.clone(), rng()),
                    Err(PortError::InvalidRange { .. })
                ),
                "{range:?}"
            );
        }
        assert_eq!(ports(0..=3).capacity(), 1);
        assert_eq!(ports(65532..=65535).capacity(), 2);
    }

    proptest! {
        #[test]
        fn a_pair_is_never_handed_out_twice(
            first in 1024u16..2000, width in 4u16..64, seed in any::<u64>(),
            ops in proptest::collection::vec(any::<(bool, u8)>(), 0..300)
        ) {
            let mut ports = PortAllocator::new(first..=first + width, ChaCha20Rng::seed_from_u64(seed)).unwrap();
            let mut held: Vec<PortPair> = Vec::new();
            for (allocate, pick) in ops {
                if allocate || held.is_empty() {
                    match ports.allocate(&mut BooksOnly) {
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
