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
        let scale = self.dev.max(rel_floor * self.mean.abs()).max(abs_floor);
        let z = (x - self.mean) / scale;
        if z.is_finite() {
            z.clamp(-1e6, 1e6)
        } else {
            0.0
        }
    }

    /// Folds `x` into the baseline with smoothing `alpha` (0..1). The first
    /// updates average evenly so the baseline converges fast.
    pub fn update(&mut self, x: f64, alpha: f64, rel_floor: f64, abs_floor: f64) {
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
        if self.n >= 4 && self.z(x, rel_floor, abs_floor).abs() > GATE_Z {
            a *= GATED_WEIGHT;
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
