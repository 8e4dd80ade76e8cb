//! Seeded randomness: the one generator type the simulation uses and the few
//! distributions it needs, written out so the output never depends on a
//! distribution crate's implementation details.

use rand::{Rng, RngExt, SeedableRng};

/// The generator behind every random choice: ChaCha8, explicitly seeded.
pub type SimRng = rand_chacha::ChaCha8Rng;

/// A generator for `seed`, on an independent `stream` (schedule, world, ...).
pub fn rng_for(seed: u64, stream: u64) -> SimRng {
    let mut rng = SimRng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Uniform in `[lo, hi)`; `lo` when the range is empty.
pub fn uniform(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        return lo;
    }
    lo + (hi - lo) * rng.random::<f64>()
}

/// A standard normal deviate (Box–Muller, one of the pair).
pub fn std_normal(rng: &mut SimRng) -> f64 {
    let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal deviate whose *mean* is `mean` and whose log has deviation `sigma`.
pub fn lognormal_mean(rng: &mut SimRng, mean: f64, sigma: f64) -> f64 {
    let mu = mean.max(f64::MIN_POSITIVE).ln() - sigma * sigma / 2.0;
    (mu + sigma * std_normal(rng)).exp()
}

/// A Poisson deviate with mean `lambda` (Knuth for small means, a rounded
/// normal approximation above 30).
pub fn poisson(rng: &mut SimRng, lambda: f64) -> u32 {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    if lambda > 30.0 {
        let x = lambda + lambda.sqrt() * std_normal(rng);
        return x.round().max(0.0) as u32;
    }
    let l = (-lambda).exp();
    let mut k = 0u32;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// `true` with probability `p`.
pub fn chance(rng: &mut SimRng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// A uniformly chosen index below `n` (0 when `n` is 0).
pub fn index(rng: &mut SimRng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        rng.random_range(0..n)
    }
}

/// `n` characters drawn from `alphabet`.
pub fn chars_from(rng: &mut SimRng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| {
            let i = index(rng, alphabet.len());
            char::from(alphabet.get(i).copied().unwrap_or(b'x'))
        })
        .collect()
}

/// A random 64-bit value (for ids).
pub fn next_u64(rng: &mut SimRng) -> u64 {
    rng.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_same_values() {
        let cases: &[(u64, u64)] = &[(0, 0), (1, 0), (1, 1), (42, 7)];
        for &(seed, stream) in cases {
            let mut a = rng_for(seed, stream);
            let mut b = rng_for(seed, stream);
            for _ in 0..10 {
                assert_eq!(next_u64(&mut a), next_u64(&mut b));
            }
        }
        let mut a = rng_for(1, 0);
        let mut b = rng_for(1, 1);
        assert_ne!(next_u64(&mut a), next_u64(&mut b), "streams differ");
    }

    #[test]
    fn distribution_means() {
        // (name, lambda or mean, sample mean tolerance)
        let cases: &[(&str, f64, f64)] = &[
            ("poisson small", 3.0, 0.15),
            ("poisson large", 120.0, 1.5),
            ("lognormal", 40.0, 2.0),
        ];
        let mut rng = rng_for(9, 0);
        for &(name, mean, tol) in cases {
            let n = 20_000;
            let sum: f64 = (0..n)
                .map(|_| match name {
                    "lognormal" => lognormal_mean(&mut rng, mean, 0.5),
                    _ => f64::from(poisson(&mut rng, mean)),
                })
                .sum();
            let got = sum / f64::from(n);
            assert!((got - mean).abs() < tol, "{name}: mean {got} vs {mean}");
        }
    }
}
