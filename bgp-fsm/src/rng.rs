//! A small seeded PRNG (SplitMix64) for timer jitter: deterministic, no global state.

/// SplitMix64 (Steele, Lea and Flood, 2014): one 64-bit state word, full period.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `millis` scaled by a factor drawn uniformly from [0.75, 1.0] (RFC 4271 section 10).
    pub(crate) fn jitter_millis(&mut self, millis: u64) -> u64 {
        // 1024 steps of 1/4096 each: factor = (3072 + k) / 4096 with k in 0..=1024.
        let k = self.next_u64() % 1025;
        let scaled = u128::from(millis) * u128::from(3072 + k) / 4096;
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_three_quarters_and_one() {
        let mut rng = SplitMix64::new(7);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..10_000 {
            let j = rng.jitter_millis(120_000);
            assert!((90_000..=120_000).contains(&j), "{j}");
            seen_low |= j < 95_000;
            seen_high |= j > 115_000;
        }
        assert!(seen_low && seen_high, "jitter should spread over the range");
    }

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }
}
