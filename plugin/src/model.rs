//! The versioned JSON model format, and the set of models the filter embeds.
//!
//! STUB — being written (helper B). The API below is the contract.

use crate::classifier::RandomForestClassifier;
use crate::forest::IsolationForest;
use crate::verdict::Family;

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The manifest or a model file is not valid JSON of the expected shape.
    #[error("{file}: {source}")]
    Syntax {
        /// File name.
        file: String,
        /// Parser error.
        #[source]
        source: serde_json::Error,
    },
}

/// Warning and critical thresholds on a family's anomaly score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Score at or above which the family is anomalous.
    pub warning: f64,
    /// Score at or above which the anomaly is critical.
    pub critical: f64,
}

/// The models the filter scores with: one isolation forest per family and the
/// incident classifier, loaded from a manifest.
#[derive(Debug, Clone)]
pub struct ModelSet {
    id: String,
    forests: Vec<(Family, IsolationForest)>,
    classifier: Option<RandomForestClassifier>,
}

impl ModelSet {
    /// `name@sha256-prefix`, as written to the `model` tag.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The forest of a family, if the set has one.
    pub fn forest(&self, family: Family) -> Option<&IsolationForest> {
        self.forests
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, forest)| forest)
    }

    /// The incident classifier, if the set has one.
    pub fn classifier(&self) -> Option<&RandomForestClassifier> {
        self.classifier.as_ref()
    }
}
