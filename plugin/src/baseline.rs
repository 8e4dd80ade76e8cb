//! Online baselines: an exponentially weighted mean and mean absolute deviation
//! per signal, so features measure how far an entity is from *its own* normal.
//!
//! Updates are gated: a value far outside the baseline moves it only slowly, so
//! an incident is not absorbed into "normal" while it lasts. The gate depends
//! only on the values, never on a model, so training and scoring see the same
//! features.

/// Deviations beyond which an update is damped.
const GATE_Z: f64 = 4.0;
/// Weight of a gated update, relative to a normal one.
const GATED_WEIGHT: f64 = 0.1;
/// Deviations beyond which a value updates a bounded baseline
/// ([`Ewma::update_bounded`]) as if it were this far out: one absurd value
/// (a cgroup counter's wrap, a unit mistake) would otherwise move the mean
/// by orders of magnitude, gated or not, and blind the entity for days.
/// For CPU and memory: 1,000 deviations is a pod's memory growing 21-fold
/// between two samples, CPU 5 cores over an idle baseline. (Latencies from a
/// near-zero baseline legitimately go further, past their 0.1 ms floor.)
const ABSURD_Z: f64 = 1e3;

/// An EWMA mean and deviation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ewma {
    mean: f64,
    dev: f64,
    n: u32,
}

impl Ewma {
    /// Number of updates so far (saturating).
    pub fn count(&self) -> u32 {
        self.n
    }

    /// The current mean (0 before the first update).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The current mean absolute deviation.
    pub fn dev(&self) -> f64 {
        self.dev
    }

    /// Standard score of `x` against the baseline, with the deviation floored at
    /// `rel_floor × |mean|` and `abs_floor` so a very steady signal does not turn
    /// noise into large scores.
    pub fn z(&self, x: f64, rel_floor: f64, abs_floor: f64) -> f64 {
        let z = (x - self.mean) / self.scale(rel_floor, abs_floor);
        if z.is_finite() {
            z.clamp(-1e6, 1e6)
        } else {
            0.0
        }
    }

    /// The deviation [`Ewma::z`] divides by.
    fn scale(&self, rel_floor: f64, abs_floor: f64) -> f64 {
        self.dev.max(rel_floor * self.mean.abs()).max(abs_floor)
    }

    /// Folds `x` into the baseline with smoothing `alpha` (0..1). The first
    /// updates average evenly so the baseline converges fast.
    pub fn update(&mut self, x: f64, alpha: f64, rel_floor: f64, abs_floor: f64) {
        self.fold(x, alpha, rel_floor, abs_floor, false);
    }

    /// As [`Ewma::update`], with a value more than `ABSURD_Z` (1000) deviations
    /// out taken as that far out.
    pub fn update_bounded(&mut self, x: f64, alpha: f64, rel_floor: f64, abs_floor: f64) {
        self.fold(x, alpha, rel_floor, abs_floor, true);
    }

    fn fold(&mut self, x: f64, alpha: f64, rel_floor: f64, abs_floor: f64, bounded: bool) {
        if !x.is_finite() {
            return;
        }
        if self.n == 0 {
            self.mean = x;
            self.dev = 0.0;
            self.n = 1;
            return;
        }
        let warm = 1.0 / (f64::from(self.n) + 1.0);
        let mut a = alpha.max(warm);
        let mut x = x;
        if self.n >= 4 {
            let z = self.z(x, rel_floor, abs_floor);
            if z.abs() > GATE_Z {
                a *= GATED_WEIGHT;
            }
            if bounded && z.abs() > ABSURD_Z {
                x = self.mean + ABSURD_Z * self.scale(rel_floor, abs_floor) * z.signum();
            }
        }
        let diff = x - self.mean;
        self.mean += a * diff;
        self.dev += a * (diff.abs() - self.dev);
        self.n = self.n.saturating_add(1);
    }

    /// Moves the mean by `by` (once there is one): the signal's level
    /// moved for a known reason, such as a container joining a pod's sum.
    pub fn shift(&mut self, by: f64) {
        if self.n > 0 && by.is_finite() {
            self.mean += by;
        }
    }

    /// Smoothing factor for a half-life in updates.
    pub fn alpha_for_half_life(half_life: f64) -> f64 {
        1.0 - 0.5f64.powf(1.0 / half_life.max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One absurd finite value (a cgroup v1 counter's 2^64-ish wrap, bytes
    /// read as kilobytes) moved a steady 200 MB baseline to exabytes: every
    /// later value scored as far below normal for days. It now moves the
    /// bounded baseline (CPU, memory) as a value ABSURD_Z deviations out
    /// would; values an incident produces (here 50 deviations out) move it
    /// as before.
    #[test]
    fn one_absurd_value_moves_the_baseline_a_bounded_step() {
        let a = Ewma::alpha_for_half_life(40.0);
        let steady = || {
            let mut e = Ewma::default();
            for i in 0..200 {
                e.update(2e8 + f64::from(i % 3) * 1e6, a, 0.02, 1024.0 * 1024.0);
            }
            e
        };
        for outlier in [1.8e19, -1.8e19, 1e13] {
            let mut e = steady();
            let scale = e.dev().max(0.02 * e.mean());
            let before = e.mean();
            e.update_bounded(outlier, a, 0.02, 1024.0 * 1024.0);
            let step = (e.mean() - before).abs();
            let bound = a * GATED_WEIGHT * ABSURD_Z * scale * (1.0 + 1e-9);
            assert!(step <= bound, "{outlier}: moved {step}, at most {bound}");
            assert!(e.mean() > 1e8 && e.mean() < 4e8, "{outlier}: {}", e.mean());
        }
        // An incident's value, 50 deviations out: the gated update as before.
        let mut e = steady();
        let before = e.mean();
        let x = before + 50.0 * e.dev().max(0.02 * before);
        e.update_bounded(x, a, 0.02, 1024.0 * 1024.0);
        assert_eq!(e.mean(), before + a * GATED_WEIGHT * (x - before));
        // Unbounded (latencies), the absurd value moves it all the way.
        let mut e = steady();
        e.update(1.8e19, a, 0.02, 1024.0 * 1024.0);
        assert!(e.mean() > 1e15, "{}", e.mean());
    }

    #[test]
    fn converges_to_a_steady_signal() {
        let mut e = Ewma::default();
        let a = Ewma::alpha_for_half_life(20.0);
        for i in 0..200 {
            e.update(100.0 + f64::from(i % 5), a, 0.01, 0.0);
        }
        assert!((e.mean() - 102.0).abs() < 1.0, "{}", e.mean());
        assert!(e.dev() > 0.5 && e.dev() < 2.0, "{}", e.dev());
    }

    #[test]
    fn outliers_are_damped() {
        let mut e = Ewma::default();
        let a = Ewma::alpha_for_half_life(20.0);
        for _ in 0..100 {
            e.update(10.0, a, 0.05, 0.0);
        }
        for _ in 0..10 {
            e.update(1000.0, a, 0.05, 0.0);
        }
        // Ten undamped updates would move the mean past 300.
        assert!(e.mean() < 150.0, "{}", e.mean());
        assert!(e.z(1000.0, 0.05, 0.0) > 4.0);
    }

    #[test]
    fn non_finite_values_are_ignored() {
        let mut e = Ewma::default();
        e.update(f64::NAN, 0.1, 0.0, 0.0);
        e.update(f64::INFINITY, 0.1, 0.0, 0.0);
        assert_eq!(e.count(), 0);
        assert_eq!(e.z(5.0, 0.0, 0.0), 0.0);
    }
}
