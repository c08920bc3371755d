//! A small seeded hasher for the RIB's tables.
//!
//! Why not the standard `RandomState`: it reads process-wide randomness, and the pure
//! crates take none. Why not a fixed unseeded hash: a peer that knows it could choose
//! prefixes that collide. The seed comes from [`crate::RibConfig::hash_seed`], so a run is
//! reproducible and an operator can still pick a secret seed.

use std::hash::{BuildHasher, Hasher};

/// Odd constants with well-spread bits (from the digits of pi), one per mixing stage.
const MIX: u64 = 0x243f_6a88_85a3_08d3;
const FINISH: u64 = 0x1319_8a2e_0370_7345;

/// Multiplies into 128 bits and folds the halves together: every input bit reaches both
/// the low bits (hashbrown's bucket index) and the high bits (its control tag).
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Builds [`SeededHasher`]s that all start from the same seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeededState {
    seed: u64,
}

impl SeededState {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed: folded_multiply(seed ^ MIX, FINISH) | 1,
        }
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;

    #[inline]
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher { state: self.seed }
    }
}

/// Word-at-a-time multiply-fold hasher; fast on the fixed-size keys the RIB uses.
#[derive(Clone, Debug)]
pub(crate) struct SeededHasher {
    state: u64,
}

impl Hasher for SeededHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.state = folded_multiply(self.state ^ value, MIX);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.state, FINISH)
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
