//! What the switch names things with: tags, branches, Call-ID parts and call record ids,
//! drawn from its CSPRNG so that none can be guessed from another.

use super::switch::Switch;
use rand::Rng;
use std::time::Instant;

impl Switch {
    pub(super) fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    /// A call record's id: the Unix time in milliseconds (9 base-36 digits) then 15 random
    /// characters (77 bits). Records are written in the order they are created, so their
    /// primary key grows at its end instead of touching a random page of the index on every
    /// insert, as with UUIDv7; the random part keeps ids unguessable.
    pub(super) fn record_id(&mut self, now: Instant) -> String {
        const DIGITS: usize = 9;
        let mut millis = u64::try_from(self.unix(now).as_millis()).unwrap_or(u64::MAX);
        let mut id = [b'0'; DIGITS];
        for digit in id.iter_mut().rev() {
            *digit = b"0123456789abcdefghijklmnopqrstuvwxyz"[(millis % 36) as usize];
            millis /= 36;
        }
        let mut id: String = id.iter().map(|&b| b as char).collect();
        id.push_str(&self.token(24 - DIGITS));
        id
    }

    pub(super) fn new_branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token(16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn record_ids_sort_in_creation_order_and_stay_unguessable() {
        let now = crate::clock::now();
        let mut sw = Switch::new(
            super::super::lab::config(3),
            now,
            Duration::from_secs(1_800_000_000),
        );
        let first = sw.record_id(now);
        let same_ms = sw.record_id(now);
        let later = sw.record_id(now + Duration::from_millis(1));
        let much_later = sw.record_id(now + Duration::from_secs(86_400 * 365));
        for id in [&first, &same_ms, &later, &much_later] {
            assert_eq!(id.len(), 24, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{id}"
            );
        }
        assert_eq!(first[..9], same_ms[..9], "the same millisecond");
        assert_ne!(first[9..], same_ms[9..], "random tails");
        assert!(first[..9] < later[..9] && later < much_later);
    }
}
