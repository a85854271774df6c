//! numpy's legacy `np.random.RandomState`, bit for bit, as far as dataset
//! loaders need it: MT19937 seeded from a 32-bit integer, numpy's bounded
//! integer draw (`random_interval`: a bit mask and rejection), and `shuffle`,
//! a Fisher–Yates pass from the end. Keras shuffles IMDB with
//! `RandomState(113)`, so matching its order needs exactly these.

use anyhow::{bail, Result};

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// numpy's legacy `RandomState`, seeded from an integer.
#[derive(Clone)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl RandomState {
    /// `np.random.RandomState(seed)`; numpy accepts seeds from 0 to 2^32 - 1.
    pub fn new(seed: u64) -> Result<Self> {
        let Ok(seed) = u32::try_from(seed) else {
            bail!("random seed {seed} is out of range: numpy's RandomState needs 0 to 2**32 - 1");
        };
        Ok(Self::from_u32(seed))
    }

    /// MT19937's `init_genrand`, which numpy's `mt19937_seed` implements.
    pub fn from_u32(seed: u32) -> Self {
        let mut key = [0u32; N];
        key[0] = seed;
        for i in 1..N {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self { key, pos: N }
    }

    /// The next 32-bit output of MT19937.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos == N {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `next_uint64` for MT19937: two 32-bit outputs, high word first.
    pub fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.next_u32());
        (high << 32) | u64::from(self.next_u32())
    }

    /// numpy's `random_interval(max)`: a uniform integer in `[0, max]`, drawn
    /// by masking to the smallest all-ones value covering `max` and rejecting
    /// draws above it.
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        if max <= u64::from(u32::MAX) {
            loop {
                let value = u64::from(self.next_u32()) & mask;
                if value <= max {
                    return value;
                }
            }
        }
        loop {
            let value = self.next_u64() & mask;
            if value <= max {
                return value;
            }
        }
    }

    /// `RandomState.shuffle` on a 1-D array: for `i` from `n - 1` down to 1,
    /// swap element `i` with element `random_interval(i)`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // `i` fits in u64, and the result is at most `i`.
            let j = self.random_interval(i as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `rng.shuffle(np.arange(n))`: the permutation Keras indexes its arrays with.
    pub fn shuffled_indices(&mut self, n: usize) -> Vec<usize> {
        let mut indices: Vec<usize> = (0..n).collect();
        self.shuffle(&mut indices);
        indices
    }

    fn generate(&mut self) {
        let key = &mut self.key;
        let twist = |upper: u32, lower: u32| {
            let y = (upper & UPPER_MASK) | (lower & LOWER_MASK);
            (y >> 1) ^ if y & 1 == 1 { MATRIX_A } else { 0 }
        };
        for i in 0..N - M {
            key[i] = key[i + M] ^ twist(key[i], key[i + 1]);
        }
        for i in N - M..N - 1 {
            key[i] = key[i + M - N] ^ twist(key[i], key[i + 1]);
        }
        key[N - 1] = key[M - 1] ^ twist(key[N - 1], key[0]);
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_mt19937() {
        // The reference implementation's default seed; its first output and
        // the C++ standard's required 10000th output of std::mt19937.
        let mut rng = RandomState::from_u32(5489);
        assert_eq!(rng.next_u32(), 3_499_211_612);
        let mut rng = RandomState::from_u32(5489);
        let tenth_thousand = (0..10_000).map(|_| rng.next_u32()).last();
        assert_eq!(tenth_thousand, Some(4_123_659_995));
    }

    #[test]
    fn seeds_outside_u32_are_rejected() {
        assert!(RandomState::new(u64::from(u32::MAX)).is_ok());
        let msg = format!("{:#}", RandomState::new(1 << 32).unwrap_err());
        assert!(msg.contains("2**32 - 1"), "{msg}");
    }

    #[test]
    fn interval_stays_in_bounds() {
        let mut rng = RandomState::from_u32(1);
        assert_eq!(rng.random_interval(0), 0);
        for max in [1u64, 2, 3, 7, 8, 1000, u64::from(u32::MAX), 1 << 40] {
            for _ in 0..200 {
                assert!(rng.random_interval(max) <= max);
            }
        }
    }
}
