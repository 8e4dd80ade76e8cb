//! Isolation-forest scoring, exactly as scikit-learn computes it.
//!
//! STUB — being written (helper B).

use crate::model::Thresholds;

/// A fitted isolation forest (predict side only).
#[derive(Debug, Clone)]
pub struct IsolationForest {
    thresholds: Thresholds,
}

impl IsolationForest {
    /// Anomaly score in (0, 1]: `2^(-E[h(x)] / c(ψ))`, i.e. scikit-learn's
    /// `-score_samples(x)`.
    pub fn score(&self, x: &[f64]) -> f64 {
        let _ = x;
        0.0
    }

    /// Per-feature share of the score for `x`, written to `out` (one per feature).
    pub fn explain(&self, x: &[f64], out: &mut [f64]) {
        let _ = (x, out);
    }

    /// Calibrated thresholds.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }
}
