//! The seeded hasher of the RIB's tables: `foldhash`'s fast hasher with a fixed seed.
//!
//! Why not the standard `RandomState`: it reads process-wide randomness, and the pure
//! crates take none. Why not a fixed unseeded hash: a peer that knows it could choose
//! prefixes that collide. The seed comes from [`crate::RibConfig::hash_seed`], so a run is
//! reproducible and an operator can still pick a secret seed. `foldhash::fast::FixedState`
//! is exactly that (its shared constants are fixed, the per-hasher seed is ours; it reads
//! no global state), and is the folded-multiply design this module used to hand-write.

use std::hash::BuildHasher;

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
}
