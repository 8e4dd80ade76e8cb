//! Random-forest classification of the incident kind.
//!
//! STUB — being written (helper B).

use crate::verdict::Incident;

/// A fitted random-forest classifier over the concatenated family features.
#[derive(Debug, Clone)]
pub struct RandomForestClassifier {
    classes: Vec<Incident>,
}

impl RandomForestClassifier {
    /// Class labels, in probability order.
    pub fn classes(&self) -> &[Incident] {
        &self.classes
    }

    /// Mean class probabilities over the trees, written to `out` (one per class).
    pub fn predict_proba(&self, x: &[f64], out: &mut [f64]) {
        let _ = (x, out);
    }
}
