//! The seeded hasher of the RIB's tables: `foldhash`'s fast hasher with a fixed seed.
//!
//! Why not the standard `RandomState`: it reads process-wide randomness, and the pure
//! crates take none. Why not a fixed unseeded hash: a peer that knows it could choose
//! prefixes that collide. The seed comes from [`crate::RibConfig::hash_seed`], so a run is
//! reproducible and an operator can still pick a secret seed. `foldhash::fast::FixedState`
//! is exactly that (its shared constants are fixed, the per-hasher seed is ours; it reads
//! no global state), and is the folded-multiply design this module used to hand-write.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::{FixedState, FoldHasher};

/// Builds hashers that all start from the same seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeededState(FixedState);

impl SeededState {
    pub(crate) fn new(seed: u64) -> Self {
        Self(FixedState::with_seed(seed))
    }
}

impl BuildHasher for SeededState {
    type Hasher = FoldHasher;

    #[inline]
    fn build_hasher(&self) -> FoldHasher {
        self.0.build_hasher()
    }
}

/// Builds [`LocalityHasher`]s: the hash of the IPv4 Loc-RIB's keys.
///
/// Why: a hash table spreads neighbouring keys over the whole table, so a pass over a
/// million prefixes in order (an UPDATE carries neighbouring prefixes; a full table is
/// sent in order) misses the cache, and in a virtual machine the TLB, on every prefix:
/// measured, the largest single item of storing or withdrawing 1M routes. Here 256
/// neighbouring prefixes of one length (the /24s of a /16) occupy a run of consecutive
/// buckets, so they share a few pages; where a run starts is a seeded hash of what names
/// it, so runs land at random and a peer cannot aim two at each other any better than it
/// could aim two keys before (and runs are short: see `V4Key`'s `Hash`). The tag hashbrown
/// compares first (the top seven bits) comes from a seeded hash of the whole key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalityState(FixedState);

impl LocalityState {
    pub(crate) fn new(seed: u64) -> Self {
        Self(FixedState::with_seed(seed))
    }
}

impl BuildHasher for LocalityState {
    type Hasher = LocalityHasher;

    #[inline]
    fn build_hasher(&self) -> LocalityHasher {
        LocalityHasher {
            state: self.0,
            packed: 0,
        }
    }
}

/// The top seven bits: hashbrown's tag.
const TAG_BITS: u64 = 0xFE00_0000_0000_0000;

/// See [`LocalityState`]. Expects one `write_u64` of a key packed as
/// `block << 16 | offset`, where `block` names the run (the /16 and the length) and
/// `offset` (16 bits) the key's place in it; any other input is folded in too, so the hash
/// stays a function of everything written.
#[derive(Clone, Debug)]
pub(crate) struct LocalityHasher {
    state: FixedState,
    packed: u64,
}

impl Hasher for LocalityHasher {
    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.packed = self.packed.rotate_left(29) ^ value;
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        let run = self.state.hash_one(self.packed >> 16);
        let tag = self.state.hash_one(self.packed);
        (tag & TAG_BITS) | (run.wrapping_add(self.packed & 0xFFFF) & !TAG_BITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_hash_different_seed_different_hash() {
        let a = SeededState::new(1);
        let b = SeededState::new(2);
        assert_eq!(a.hash_one(0x0a00_0000u32), a.hash_one(0x0a00_0000u32));
        assert_ne!(a.hash_one(0x0a00_0000u32), b.hash_one(0x0a00_0000u32));
    }

    #[test]
    fn neighbouring_keys_spread_over_low_bits() {
        let state = SeededState::new(0);
        let mut buckets = [0u32; 64];
        for i in 0..64_000u32 {
            // Consecutive /24s: only bits 8.. change.
            buckets[(state.hash_one(i << 8) & 63) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (700..1300).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    fn locality_keeps_a_run_together_and_spreads_runs_and_tags() {
        let state = LocalityState::new(3);
        let hash = |packed: u64| {
            let mut hasher = state.build_hasher();
            hasher.write_u64(packed);
            hasher.finish()
        };
        // One run (block 7): consecutive offsets, consecutive positions.
        let base = hash(7 << 16) & !TAG_BITS;
        for offset in 0..256u64 {
            assert_eq!(
                hash(7 << 16 | offset) & !TAG_BITS,
                base.wrapping_add(offset) & !TAG_BITS
            );
        }
        // The tags of one run's keys vary: all 128 values within 4,096 keys.
        let mut tags = [false; 128];
        for offset in 0..4096u64 {
            tags[(hash(7 << 16 | offset) >> 57) as usize] = true;
        }
        assert!(tags.iter().all(|&seen| seen));
        // Runs start all over the table: 64 low-bit buckets, 64,000 blocks.
        let mut buckets = [0u32; 64];
        for block in 0..64_000u64 {
            buckets[(hash(block << 16) & 63) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (700..1300).contains(&n)),
            "{buckets:?}"
        );
    }
}
