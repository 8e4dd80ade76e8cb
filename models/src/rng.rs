//! Seeded randomness for fitting: one ChaCha8 stream per purpose, and the few
//! draws the algorithms need, written out so a model depends only on the seed
//! (never on a distribution crate's implementation details).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// A seeded generator.
#[derive(Debug, Clone)]
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// The generator for `seed` on an independent `stream` (one per tree,
    /// per family, ...), so adding a consumer never shifts another's draws.
    pub fn new(seed: u64, stream: u64) -> SeededRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        SeededRng(rng)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)` (`lo` when the range is empty).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        if hi <= lo {
            return lo;
        }
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `[0, n)`, without modulo bias (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let n = n as u64;
        // Lemire's multiply-shift with rejection of the biased zone.
        let zone = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.0.next_u64()) * u128::from(n);
            if (m as u64) >= zone {
                return (m >> 64) as usize;
            }
        }
    }

    /// `k` distinct indices of `0..n` in random order (partial Fisher–Yates);
    /// all of `0..n`, shuffled, when `k >= n`.
    pub fn sample_without_replacement(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }

    /// `n` indices of `0..n` drawn with replacement (a bootstrap sample).
    pub fn bootstrap(&mut self, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.below(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_same_draws() {
        let mut a = SeededRng::new(7, 3);
        let mut b = SeededRng::new(7, 3);
        let mut c = SeededRng::new(7, 4);
        let da: Vec<usize> = (0..32).map(|_| a.below(1000)).collect();
        let db: Vec<usize> = (0..32).map(|_| b.below(1000)).collect();
        let dc: Vec<usize> = (0..32).map(|_| c.below(1000)).collect();
        assert_eq!(da, db);
        assert_ne!(da, dc);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = SeededRng::new(1, 0);
        for n in [1usize, 2, 3, 10, 1 << 40] {
            for _ in 0..100 {
                assert!(r.below(n) < n.max(1));
            }
        }
        for _ in 0..1000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let x = r.uniform(-2.0, 3.0);
            assert!((-2.0..3.0).contains(&x));
        }
        assert_eq!(r.uniform(5.0, 5.0), 5.0);
    }

    #[test]
    fn sampling_without_replacement_is_distinct() {
        let mut r = SeededRng::new(2, 0);
        let mut s = r.sample_without_replacement(100, 30);
        assert_eq!(s.len(), 30);
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 30);
        let mut all = r.sample_without_replacement(5, 10);
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
    }
}
