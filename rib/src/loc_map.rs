//! The Loc-RIB's map from prefix to entry, split into shards by hash.
//!
//! Why: a hash table grows by doubling, and while it moves its entries the old table and
//! the new one (twice as large) are both allocated. For one table of a million prefixes
//! that transient is a third of the table (33 MiB at 1M IPv4 prefixes, on top of the 66 MiB
//! the table holds) and it sets the process's peak memory. Split into [`SHARDS`] tables,
//! each grows on its own, so the transient is a [`SHARDS`]th of that; what is held, and
//! every lookup, stays as before (one extra hash of the 8- or 20-byte key to pick the
//! shard).

use std::hash::{BuildHasher, Hash};

use hashbrown::hash_table;
use hashbrown::HashTable;

use crate::hash::SeededState;

/// How many tables the map is split into. Eight keeps the transient under a sixth of
/// the table; with many more, the shards' tables are small enough for the C allocator to
/// serve from its heap rather than map them, and freed ones stay in the process's RSS
/// (measured: 32 shards left withdrawing a million routes 9 MiB above where it started).
pub(crate) const SHARDS: usize = 8;

/// Each shard's share of the keys, in 256ths: shard `i` gets 2^(i/8) parts (rounded; the
/// largest takes the rounding), so from one shard to the next the share grows by 2^(1/8).
///
/// Why unequal: a hashbrown table doubles its buckets when it is 7/8 full, so right after
/// growing it is 7/16 full. Equal shards all grow at the same count, and between one
/// doubling and the next the whole map swings from 7/8 to 7/16 full: at exactly 1M IPv4
/// prefixes it sat at 48% (66 MiB of buckets for 32 MiB of entries). With shares a
/// twelfth of an octave apart, the shards double at eight different counts spread evenly
/// over each doubling of the total, so the map's fill stays near its average (about 61%)
/// whatever the count: 54 MiB at 1M. What is given up: counts where equal shards
/// happened to be nearly full (750k, or 1.75M) now cost more. Modelled over counts
/// log-uniform in 100k..3M, the mean bytes per prefix are the same (52 MiB per million
/// both ways), and the worst case drops from 72 to 56 MiB per million.
const SHARES: [u8; SHARDS] = [23, 25, 28, 30, 33, 36, 39, 42];

/// The shard of each value of the hash's byte that picks shards, after [`SHARES`].
const SHARD_OF: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut shard = 0;
    let mut start = 0usize;
    while shard < SHARDS {
        let end = start + SHARES[shard] as usize;
        let mut byte = start;
        while byte < end {
            table[byte] = shard as u8;
            byte += 1;
        }
        start = end;
        shard += 1;
    }
    assert!(start == 256, "the shares add up to 256");
    table
};

/// A hash map split into [`SHARDS`] hash tables by bits of the key's hash that the tables
/// themselves do not use to place or tag entries (hashbrown takes the low bits for the
/// bucket and the top seven for the tag).
///
/// Each key is hashed once per operation: the one hash picks the shard and is handed to
/// the shard's [`HashTable`] (a `HashMap` per shard would hash the key a second time). A
/// shard's table re-hashes its keys only when it grows.
#[derive(Clone)]
pub(crate) struct ShardedMap<K, V, S = SeededState> {
    shards: Box<[HashTable<(K, V)>]>,
    hasher: S,
}

/// A place in a [`ShardedMap`] for one key: its entry, or room for it.
pub(crate) enum Entry<'a, K, V, S = SeededState> {
    /// The key is there.
    Occupied(OccupiedEntry<'a, K, V, S>),
    /// The key is not there; inserting puts it where the lookup ended.
    Vacant(VacantEntry<'a, K, V>),
}

/// A key that is in the map, and its value.
pub(crate) struct OccupiedEntry<'a, K, V, S = SeededState> {
    entry: hash_table::OccupiedEntry<'a, (K, V)>,
    /// The map's hasher, for [`OccupiedEntry::remove_and_shrink`].
    hasher: &'a S,
}

/// Room for a key that is not in the map.
pub(crate) struct VacantEntry<'a, K, V> {
    entry: hash_table::VacantEntry<'a, (K, V)>,
    key: K,
}

impl<'a, K, V, S> Entry<'a, K, V, S> {
    /// The key's value, inserted from `default` when the key is not there.
    pub(crate) fn or_insert_with(self, default: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Occupied(occupied) => occupied.into_mut(),
            Entry::Vacant(vacant) => vacant.insert(default()),
        }
    }
}

impl<'a, K, V, S> OccupiedEntry<'a, K, V, S> {
    pub(crate) fn key(&self) -> &K {
        &self.entry.get().0
    }

    pub(crate) fn get(&self) -> &V {
        &self.entry.get().1
    }

    pub(crate) fn get_mut(&mut self) -> &mut V {
        &mut self.entry.get_mut().1
    }

    pub(crate) fn into_mut(self) -> &'a mut V {
        &mut self.entry.into_mut().1
    }

    /// Removes the key; its value.
    pub(crate) fn remove(self) -> V {
        self.entry.remove().0 .1
    }
}

impl<K: Hash, V, S: BuildHasher> OccupiedEntry<'_, K, V, S> {
    /// Removes the key, then shrinks its shard if that left it less than a quarter full
    /// (shrinking again needs the shard to lose three quarters again, so the rehashing
    /// costs a constant per removal); its value.
    pub(crate) fn remove_and_shrink(self) -> V {
        let hasher = self.hasher;
        let ((_, value), vacant) = self.entry.remove();
        let shard = vacant.into_table();
        if shard.len() < shard.capacity() / 4 {
            shard.shrink_to_fit(|(k, _)| hasher.hash_one(k));
        }
        value
    }
}

impl<'a, K, V> VacantEntry<'a, K, V> {
    pub(crate) fn key(&self) -> &K {
        &self.key
    }

    pub(crate) fn insert(self, value: V) -> &'a mut V {
        &mut self.entry.insert((self.key, value)).into_mut().1
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Clone> ShardedMap<K, V, S> {
    pub(crate) fn with_hasher(hasher: S) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            hasher,
        }
    }

    /// The key's hash and the shard it picks.
    #[inline]
    fn locate(&self, key: &K) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        // Bits 40 to 47, below the tag's: a shard of 2^40 buckets is out of reach.
        (hash, usize::from(SHARD_OF[usize::from((hash >> 40) as u8)]))
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let (hash, shard) = self.locate(key);
        self.shards[shard]
            .find(hash, |(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (hash, shard) = self.locate(key);
        self.shards[shard]
            .find_mut(hash, |(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub(crate) fn entry(&mut self, key: K) -> Entry<'_, K, V, S> {
        let (hash, shard) = self.locate(&key);
        let hasher = &self.hasher;
        match self.shards[shard].entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k)) {
            hash_table::Entry::Occupied(entry) => Entry::Occupied(OccupiedEntry { entry, hasher }),
            hash_table::Entry::Vacant(entry) => Entry::Vacant(VacantEntry { entry, key }),
        }
    }

    /// Only the tests remove by key: the table removes through [`ShardedMap::entry`], which
    /// spares a second probe.
    #[cfg(test)]
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (hash, shard) = self.locate(key);
        let entry = self.shards[shard]
            .find_entry(hash, |(k, _)| k == key)
            .ok()?;
        Some(entry.remove().0 .1)
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(HashTable::len).sum()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.shards.iter().map(HashTable::capacity).sum()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        let hasher = &self.hasher;
        for shard in self.shards.iter_mut() {
            shard.shrink_to_fit(|(k, _)| hasher.hash_one(k));
        }
    }

    /// Heap bytes of the tables (not of what their values own).
    pub(crate) fn allocation_size(&self) -> usize {
        self.shards
            .iter()
            .map(HashTable::allocation_size)
            .sum::<usize>()
            + self.shards.len() * size_of::<HashTable<(K, V)>>()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards
            .iter()
            .flat_map(HashTable::iter)
            .map(|(k, v)| (k, v))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.shards
            .iter_mut()
            .flat_map(HashTable::iter_mut)
            .map(|(k, v)| (&*k, v))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(HashTable::iter).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_their_formula_and_cover_every_byte() {
        // From the design (256 * 2^(i/8) / sum_j 2^(j/8), rounded), not from the table.
        let total: f64 = (0..SHARDS).map(|j| (j as f64 / 8.0).exp2()).sum();
        for (i, &share) in SHARES.iter().enumerate() {
            let designed = 256.0 * (i as f64 / 8.0).exp2() / total;
            assert!((f64::from(share) - designed).abs() <= 1.0, "shard {i}");
        }
        let mut counted = [0usize; SHARDS];
        for shard in SHARD_OF {
            counted[usize::from(shard)] += 1;
        }
        assert_eq!(counted.map(|n| n as u8), SHARES);
    }

    #[test]
    fn a_sharded_map_finds_updates_and_removes_every_key() {
        let mut map: ShardedMap<u64, u64> = ShardedMap::with_hasher(SeededState::new(7));
        for k in 0..10_000u64 {
            *map.entry(k).or_insert_with(|| 0) += k;
        }
        assert_eq!(map.len(), 10_000);
        // The keys spread over the shards: shard i gets 2^(i/8) / sum_j 2^(j/8) of them
        // (the shares' design, computed here from that formula), within 15%.
        let weights: Vec<f64> = (0..SHARDS).map(|i| (i as f64 / 8.0).exp2()).collect();
        let total: f64 = weights.iter().sum();
        let per_shard: Vec<usize> = map.shards.iter().map(HashTable::len).collect();
        for (n, weight) in per_shard.iter().zip(&weights) {
            let expected = 10_000.0 * weight / total;
            assert!(
                (*n as f64 - expected).abs() < 0.15 * expected,
                "{per_shard:?}"
            );
        }
        for k in (0..10_000u64).step_by(2) {
            assert_eq!(map.remove(&k), Some(k));
        }
        if let Some(v) = map.get_mut(&1) {
            *v = 100;
        }
        assert_eq!(
            (map.get(&1), map.get(&2), map.get(&3)),
            (Some(&100), None, Some(&3))
        );
        assert_eq!(map.len(), 5_000);
        assert_eq!(map.iter().count(), 5_000);
        assert_eq!(map.values().filter(|&&v| v % 2 == 1).count(), 4_999);
        let before = map.capacity();
        for k in 0..9_990u64 {
            map.remove(&k);
        }
        map.shrink_to_fit();
        assert!(map.capacity() < before / 4);
        for (_, v) in map.iter_mut() {
            *v = 0;
        }
        assert!(map.values().all(|&v| v == 0));
    }
}
