//! The replay list of RFC 3711 §3.3.2: a 64-packet sliding window per SSRC, moved only by
//! packets that authenticated.
//!
//! Ours rather than the crypto crate's: the crate's window anchors itself on the first index
//! it is asked about, before the packet is authenticated, so one forged packet from the
//! phone's address with an index far ahead would make every genuine packet "too old" (a
//! denial of service that needs no key). Here a packet is checked first (a replay is refused
//! without spending a MAC on it) and [`ReplayList::accept`]ed only once authentic.

/// Packets remembered behind the newest, the RFC 3711 minimum.
const WINDOW: u64 = 64;
/// SSRCs remembered per direction; a phone uses one, a few cover a re-INVITE's new stream.
const STREAMS: usize = 4;

/// One stream's window over indexes that wrap at `modulus`.
#[derive(Debug, Clone, Copy)]
struct Window {
    ssrc: u32,
    newest: u64,
    /// Bit `n`: index `newest - n` was received.
    seen: u64,
}

/// The windows of one direction; see the module doc.
#[derive(Debug)]
pub(super) struct ReplayList {
    modulus: u64,
    windows: Vec<Window>,
}

impl ReplayList {
    /// Windows over indexes modulo `modulus` (2^16 for SRTP sequence numbers, 2^31 for the
    /// SRTCP index).
    pub fn new(modulus: u64) -> ReplayList {
        ReplayList {
            modulus,
            windows: Vec::with_capacity(STREAMS),
        }
    }

    /// How far `index` is behind the newest (negative: ahead), on the shorter way round.
    fn behind(&self, window: &Window, index: u64) -> i64 {
        let half = self.modulus / 2;
        let diff = (window.newest + self.modulus - index) % self.modulus;
        if diff > half {
            diff as i64 - self.modulus as i64
        } else {
            diff as i64
        }
    }

    /// Whether `index` of `ssrc` may be new: not seen, not older than the window.
    #[must_use]
    pub fn check(&self, ssrc: u32, index: u64) -> bool {
        let Some(window) = self.windows.iter().find(|w| w.ssrc == ssrc) else {
            return true;
        };
        match self.behind(window, index) {
            behind if behind < 0 => true,
            behind if behind as u64 >= WINDOW => false,
            behind => window.seen & (1 << behind) == 0,
        }
    }

    /// Records `index` of `ssrc`, which authenticated.
    pub fn accept(&mut self, ssrc: u32, index: u64) {
        let Some(position) = self.windows.iter().position(|w| w.ssrc == ssrc) else {
            if self.windows.len() == STREAMS {
                self.windows.remove(0);
            }
            self.windows.push(Window {
                ssrc,
                newest: index,
                seen: 1,
            });
            return;
        };
        let behind = self.behind(&self.windows[position], index);
        let window = &mut self.windows[position];
        if behind < 0 {
            let ahead = behind.unsigned_abs();
            window.seen = if ahead >= WINDOW {
                0
            } else {
                window.seen << ahead
            } | 1;
            window.newest = index;
        } else if (behind as u64) < WINDOW {
            window.seen |= 1 << behind;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_list_takes_anything_then_refuses_exact_repeats() {
        let mut list = ReplayList::new(1 << 16);
        assert!(list.check(1, 500));
        list.accept(1, 500);
        assert!(!list.check(1, 500));
        assert!(list.check(1, 499), "late but inside the window");
        list.accept(1, 499);
        assert!(!list.check(1, 499));
        assert!(list.check(2, 500), "another stream has its own window");
    }

    #[test]
    fn packets_older_than_the_window_are_refused() {
        let mut list = ReplayList::new(1 << 16);
        list.accept(1, 1000);
        assert!(list.check(1, 1000 - 63));
        assert!(!list.check(1, 1000 - 64));
    }

    #[test]
    fn the_window_slides_across_the_sequence_wrap() {
        let mut list = ReplayList::new(1 << 16);
        list.accept(1, 65_534);
        list.accept(1, 65_535);
        assert!(list.check(1, 0), "0 follows 65535");
        list.accept(1, 0);
        list.accept(1, 1);
        assert!(!list.check(1, 65_535), "seen before the wrap");
        assert!(list.check(1, 65_533), "still in the window");
    }

    #[test]
    fn a_checked_but_never_accepted_index_moves_nothing() {
        let mut list = ReplayList::new(1 << 16);
        list.accept(1, 10);
        assert!(
            list.check(1, 30_000),
            "a forgery far ahead is only looked at"
        );
        assert!(list.check(1, 11), "the genuine next packet still fits");
    }

    #[test]
    fn a_jump_ahead_clears_the_window_and_old_streams_are_forgotten_in_order() {
        let mut list = ReplayList::new(1 << 31);
        list.accept(1, 5);
        list.accept(1, 5 + 1000);
        assert!(!list.check(1, 5), "far behind now");
        for ssrc in 2..=5 {
            list.accept(ssrc, 1);
        }
        assert!(list.check(1, 1005), "stream 1 was the oldest and went");
        assert!(!list.check(5, 1));
    }
}
