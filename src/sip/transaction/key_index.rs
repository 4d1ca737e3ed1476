//! Live transactions by key, with each key held once: the entry holds it, and the index maps
//! the key's hash to the entry. At thousands of calls per second each call leaves four or
//! five transactions lingering for up to 64·T1, and a second copy of every key (its branch
//! and sent-by strings, and a map slot sized for it) was a fifth of the switch's memory.
//!
//! Two keys with the same 64-bit hash (keyed SipHash, so not something a peer can aim for)
//! both work: the second goes to a small map of its own.

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::MatchKey;

/// What the index returns; the layer's own id for an entry.
pub(super) type TxId = u64;

#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    hasher: std::collections::hash_map::RandomState,
    by_hash: HashMap<u64, TxId>,
    collisions: HashMap<MatchKey, TxId>,
}

impl KeyIndex {
    /// The id of `key`'s transaction; `key_of` reads the key an id's entry holds.
    pub(super) fn get<'a>(
        &self,
        key: &MatchKey,
        key_of: impl Fn(TxId) -> Option<&'a MatchKey>,
    ) -> Option<TxId> {
        let found = self
            .by_hash
            .get(&self.hash(key))
            .copied()
            .filter(|id| key_of(*id) == Some(key));
        found.or_else(|| self.collisions.get(key).copied())
    }

    /// Indexes a new transaction (its key is not in the index yet).
    pub(super) fn insert(&mut self, key: &MatchKey, id: TxId) {
        let hash = self.hash(key);
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.insert(key.clone(), id);
            }
        }
    }

    /// Forgets transaction `id`, whose key is `key`.
    pub(super) fn remove(&mut self, key: &MatchKey, id: TxId) {
        let hash = self.hash(key);
        if self.by_hash.get(&hash) == Some(&id) {
            self.by_hash.remove(&hash);
        } else {
            self.collisions.remove(key);
        }
    }

    fn hash(&self, key: &MatchKey) -> u64 {
        self.hasher.hash_one(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Method;

    fn key(branch: &str) -> MatchKey {
        MatchKey::Client {
            branch: branch.into(),
            method: Method::Invite,
        }
    }

    #[test]
    fn keys_whose_hashes_collide_each_find_their_own_transaction() {
        let mut index = KeyIndex::default();
        let (a, b) = (key("z9hG4bKa"), key("z9hG4bKb"));
        let keys: HashMap<TxId, MatchKey> = [(1, a.clone()), (2, b.clone())].into();
        let key_of = |id: TxId| keys.get(&id);
        index.insert(&a, 1);
        // Force what a real collision does: `b` finds `a`'s slot taken.
        let hash_of_b = index.hash(&b);
        index.by_hash.insert(hash_of_b, 1);
        index.insert(&b, 2);
        assert_eq!(index.get(&a, key_of), Some(1));
        assert_eq!(index.get(&b, key_of), Some(2));
        index.remove(&b, 2);
        assert_eq!(index.get(&b, key_of), None);
        assert_eq!(index.get(&a, key_of), Some(1));
    }

    #[test]
    fn a_removed_key_is_gone_and_others_stay() {
        let mut index = KeyIndex::default();
        let (a, b) = (key("z9hG4bKa"), key("z9hG4bKb"));
        let keys: HashMap<TxId, MatchKey> = [(1, a.clone()), (2, b.clone())].into();
        index.insert(&a, 1);
        index.insert(&b, 2);
        index.remove(&a, 1);
        assert_eq!(index.get(&a, |id| keys.get(&id)), None);
        assert_eq!(index.get(&b, |id| keys.get(&id)), Some(2));
    }
}
