//! Random-forest classification of the incident kind, with scikit-learn's
//! `RandomForestClassifier.predict_proba` semantics, and the classifier's
//! model file.
//!
//! `x` is the concatenation of every family's features
//! ([`features::classifier_names`]), each value cast to `f32` like
//! scikit-learn does. Each tree routes `x` to a leaf (`x[feature] <=
//! threshold` goes left) whose `value` holds the class fractions; the forest's
//! probabilities are their mean over the trees, summed in tree order then
//! divided by the tree count, as `ForestClassifier.predict_proba` does.
//!
//! ```json
//! {"schema_version":1,"type":"random_forest_classifier","name":"incident",
//!  "feature_names":["cpu_log_ratio", "...", "unhealthy"],"classes":["cpu_saturation","memory_leak"],
//!  "trees":[{"left":[1,-1,-1],"right":[2,-1,-1],"feature":[0,-2,-2],"threshold":[2.5,-2.0,-2.0],
//!            "value":[[0.5,0.5],[1.0,0.0],[0.0,1.0]]}],
//!  "sha256":"<hex>"}
//! ```

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::features;
use crate::manifest::check_name;
use crate::model::{
    canonical_digest, model_json, parse_versioned, ModelError, Versioned, SCHEMA_VERSION,
};
use crate::tree::{cast, Payloads, TreeArrays, TreeProblem, Trees, MAX_TREES};
use crate::verdict::Incident;

/// The `type` of a classifier file.
pub const CLASSIFIER_TYPE: &str = "random_forest_classifier";

/// Most classes a classifier may have: every [`Incident`], once.
pub const MAX_CLASSES: usize = Incident::CLASSES.len() + 1;

const NO_VALUES: [f64; MAX_CLASSES] = [0.0; MAX_CLASSES];

/// How far a leaf's class fractions may sum from 1.
const FRACTION_SUM_TOLERANCE: f64 = 1e-6;

/// One classification tree as flat arrays (scikit-learn's `tree_` layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierTreeFile {
    /// Left child per node, -1 at leaves.
    pub left: Vec<i32>,
    /// Right child per node, -1 at leaves.
    pub right: Vec<i32>,
    /// Split feature per node (any value at leaves; scikit-learn writes -2).
    pub feature: Vec<i32>,
    /// Split threshold per node: `x <= threshold` goes left.
    pub threshold: Vec<f64>,
    /// Class fractions per node (`tree_.value[:, 0, :]`), one per class; at
    /// leaves finite, non-negative and summing to 1.
    pub value: Vec<Vec<f64>>,
}

/// A random-forest classifier as stored in a model file (the writer's side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierFile {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always [`CLASSIFIER_TYPE`].
    #[serde(rename = "type")]
    pub model_type: String,
    /// Model name.
    pub name: String,
    /// Must equal [`features::classifier_names`].
    pub feature_names: Vec<String>,
    /// Incident kinds, in probability order.
    pub classes: Vec<String>,
    /// The trees.
    pub trees: Vec<ClassifierTreeFile>,
    /// Hex SHA-256 of the canonical serialization with this field `""`.
    pub sha256: String,
}

impl Versioned for ClassifierFile {
    fn schema_version(&self) -> u64 {
        self.schema_version.into()
    }
    fn model_type(&self) -> Option<&str> {
        Some(&self.model_type)
    }
}

impl ClassifierFile {
    /// An unsealed file over the plugin's classifier features.
    pub fn new(
        name: impl Into<String>,
        classes: &[Incident],
        trees: Vec<ClassifierTreeFile>,
    ) -> ClassifierFile {
        ClassifierFile {
            schema_version: SCHEMA_VERSION,
            model_type: CLASSIFIER_TYPE.to_owned(),
            name: name.into(),
            feature_names: features::classifier_names().map(str::to_owned).collect(),
            classes: classes.iter().map(|c| c.as_str().to_owned()).collect(),
            trees,
            sha256: String::new(),
        }
    }

    /// Parses a file (schema version and type checked; digest and structure
    /// are checked by [`RandomForestClassifier::from_json`]).
    pub fn from_json(bytes: &[u8], file: &str) -> Result<ClassifierFile, ModelError> {
        parse_versioned(bytes, file, Some(CLASSIFIER_TYPE))
    }

    /// The digest this model should carry: hex SHA-256 of its canonical
    /// serialization with `sha256` set to `""`.
    pub fn digest(&self) -> String {
        let mut unsealed = self.clone();
        unsealed.sha256.clear();
        canonical_digest(&unsealed)
    }

    /// Sets `sha256` to [`ClassifierFile::digest`].
    pub fn seal(&mut self) {
        self.sha256.clear();
        self.sha256 = canonical_digest(self);
    }

    /// The file's bytes: compact JSON, floats as shortest round-trip decimals.
    pub fn to_json(&self) -> Vec<u8> {
        model_json(self)
    }
}

/// A fitted random-forest classifier over the concatenated family features.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomForestClassifier {
    name: String,
    classes: Vec<Incident>,
    trees: Trees,
    /// Per leaf, the class fractions (`classes.len()` of them, then zeros):
    /// a fixed width lets the walk keep its sums in registers.
    leaf_values: Vec<[f64; MAX_CLASSES]>,
    /// Where [`Incident::Unknown`] is in `classes`, if it is one.
    unknown: Option<usize>,
}

impl RandomForestClassifier {
    /// Parses a model file, verifies its `sha256` against its content and
    /// validates it (see [`RandomForestClassifier::from_file`]).
    pub fn from_json(bytes: &[u8], file: &str) -> Result<RandomForestClassifier, ModelError> {
        let mut model = ClassifierFile::from_json(bytes, file)?;
        let claimed = std::mem::take(&mut model.sha256);
        let actual = canonical_digest(&model);
        if !actual.eq_ignore_ascii_case(&claimed) {
            return Err(ModelError::ModelDigest {
                file: file.to_owned(),
                expected: claimed,
                actual,
            });
        }
        RandomForestClassifier::from_file(&model, file)
    }

    /// Validates an in-memory model file (its `sha256` is not checked) and
    /// compiles it: the plugin's classifier feature names, 1 to
    /// [`MAX_CLASSES`] distinct known classes, 1 to [`MAX_TREES`] trees, each
    /// structurally valid (see [`crate::tree`]) with one `value` entry per class
    /// at every node and class fractions at leaves. `file` names the source in
    /// errors.
    pub fn from_file(
        model: &ClassifierFile,
        file: &str,
    ) -> Result<RandomForestClassifier, ModelError> {
        if model.schema_version != SCHEMA_VERSION {
            return Err(ModelError::SchemaVersion {
                file: file.to_owned(),
                found: model.schema_version.into(),
            });
        }
        if model.model_type != CLASSIFIER_TYPE {
            return Err(ModelError::ModelType {
                file: file.to_owned(),
                found: model.model_type.clone(),
                expected: CLASSIFIER_TYPE,
            });
        }
        check_name(&model.name).map_err(|p| ModelError::invalid(file, "name", p))?;
        if !model
            .feature_names
            .iter()
            .map(String::as_str)
            .eq(features::classifier_names())
        {
            return Err(ModelError::FeatureNames {
                file: file.to_owned(),
                what: "classifier",
                expected: features::classifier_names().collect(),
                found: model.feature_names.clone(),
            });
        }
        let n_features = features::CLASSIFIER_LEN;
        let n_classes = model.classes.len();
        if n_classes == 0 || n_classes > MAX_CLASSES {
            return Err(ModelError::invalid(
                file,
                "classes",
                format!("has {n_classes} classes (must have 1 to {MAX_CLASSES})"),
            ));
        }
        let mut classes = Vec::with_capacity(n_classes);
        for (i, name) in model.classes.iter().enumerate() {
            let class = Incident::parse(name).ok_or_else(|| {
                ModelError::invalid(
                    file,
                    format!("classes[{i}]"),
                    format!("{name:?} is not an incident kind"),
                )
            })?;
            if classes.contains(&class) {
                return Err(ModelError::invalid(
                    file,
                    format!("classes[{i}]"),
                    format!("{name:?} is listed twice"),
                ));
            }
            classes.push(class);
        }
        let n_trees = model.trees.len();
        if n_trees == 0 || n_trees > MAX_TREES {
            return Err(ModelError::invalid(
                file,
                "trees",
                format!("has {n_trees} trees (must have 1 to {MAX_TREES})"),
            ));
        }
        let mut trees = Trees::default();
        let mut leaf_values = Payloads::default();
        for (t, tree) in model.trees.iter().enumerate() {
            let at = |(node, problem)| ModelError::Tree {
                file: file.to_owned(),
                tree: t,
                node,
                problem,
            };
            if tree.value.len() != tree.left.len() {
                return Err(at((
                    None,
                    TreeProblem::Length {
                        field: "value",
                        len: tree.value.len(),
                        expected: tree.left.len(),
                    },
                )));
            }
            if let Some((node, v)) = tree
                .value
                .iter()
                .enumerate()
                .find(|(_, v)| v.len() != n_classes)
            {
                return Err(at((
                    Some(node),
                    TreeProblem::ValueLength {
                        len: v.len(),
                        n_classes,
                    },
                )));
            }
            let arrays = TreeArrays {
                left: &tree.left,
                right: &tree.right,
                feature: &tree.feature,
                threshold: &tree.threshold,
            };
            trees
                .push(arrays, n_features, |node, _| {
                    let v = tree.value.get(node).map_or(&[][..], Vec::as_slice);
                    let sum: f64 = v.iter().sum();
                    let fractions = v.iter().all(|p| p.is_finite() && *p >= 0.0);
                    let sums_to_one = (sum - 1.0).abs() <= FRACTION_SUM_TOLERANCE;
                    if !fractions || !sums_to_one {
                        return Err(TreeProblem::Fractions { sum });
                    }
                    let mut row = [0.0; MAX_CLASSES];
                    for (r, p) in row.iter_mut().zip(v) {
                        *r = *p;
                    }
                    Ok(leaf_values.intern(row.map(f64::to_bits), row))
                })
                .map_err(at)?;
        }
        Ok(RandomForestClassifier {
            name: model.name.clone(),
            unknown: classes.iter().position(|c| *c == Incident::Unknown),
            classes,
            trees,
            leaf_values: leaf_values.into_values(),
        })
    }

    /// Class labels, in probability order.
    pub fn classes(&self) -> &[Incident] {
        &self.classes
    }

    /// The index of [`Incident::Unknown`] in [`RandomForestClassifier::classes`],
    /// if the classifier has that class.
    pub fn unknown_index(&self) -> Option<usize> {
        self.unknown
    }

    /// Model name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Mean class probabilities over the trees, written to `out` (one per
    /// class; entries past the classes are 0, classes past `out` are dropped).
    pub fn predict_proba(&self, x: &[f64], out: &mut [f64]) {
        self.write_proba(&self.proba(x), out);
    }

    /// Writes `proba` to `out` as [`RandomForestClassifier::predict_proba`] says.
    fn write_proba(&self, proba: &[f64; MAX_CLASSES], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (o, p) in out.iter_mut().zip(proba.iter().take(self.classes.len())) {
            *o = *p;
        }
    }

    /// The most probable incident kind (the first on ties, like scikit-learn's
    /// `predict`) and its probability.
    pub fn predict(&self, x: &[f64]) -> (Incident, f64) {
        let proba = self.proba(x);
        let mut best = (Incident::Unknown, f64::NEG_INFINITY);
        for (class, p) in self.classes.iter().zip(proba.iter()) {
            if *p > best.1 {
                best = (*class, *p);
            }
        }
        best
    }

    /// [`RandomForestClassifier::predict_proba`], unless the probability of
    /// the class at `class` (an index into [`RandomForestClassifier::classes`])
    /// is sure to reach `at_least`: then it stops walking trees and returns
    /// `true`, leaving `out` unspecified. Exact: class fractions are never
    /// negative, so the running sum only grows, and the comparison is the
    /// one the full mean would be put to.
    pub fn predict_proba_unless(
        &self,
        x: &[f64],
        out: &mut [f64],
        class: usize,
        at_least: f64,
    ) -> bool {
        let n_trees = self.trees.len() as f64;
        let Some(proba) = self.proba_until(x, |acc| {
            acc.get(class).is_some_and(|a| a / n_trees >= at_least)
        }) else {
            return true;
        };
        self.write_proba(&proba, out);
        false
    }

    fn proba(&self, x: &[f64]) -> [f64; MAX_CLASSES] {
        self.proba_until(x, |_| false).unwrap_or([0.0; MAX_CLASSES])
    }

    /// The mean class probabilities, or `None` as soon as `done` holds for
    /// the running sums (checked after each tree, in tree order).
    fn proba_until(
        &self,
        x: &[f64],
        mut done: impl FnMut(&[f64; MAX_CLASSES]) -> bool,
    ) -> Option<[f64; MAX_CLASSES]> {
        let x = cast(x);
        let mut acc = [0.0; MAX_CLASSES];
        let mut stopped = false;
        self.trees.for_each_leaf_until(&x, |leaf| {
            // Past the classes, fractions are 0 and their sums unread.
            let values = self.leaf_values.get(leaf as usize).unwrap_or(&NO_VALUES);
            for (a, v) in acc.iter_mut().zip(values) {
                *a += *v;
            }
            stopped = done(&acc);
            if stopped {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if stopped {
            return None;
        }
        let n_trees = self.trees.len() as f64;
        if n_trees > 0.0 {
            acc.iter_mut().for_each(|a| *a /= n_trees);
        }
        Some(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump() -> ClassifierFile {
        let tree = ClassifierTreeFile {
            left: vec![1, -1, -1],
            right: vec![2, -1, -1],
            feature: vec![0, -2, -2],
            threshold: vec![2.5, -2.0, -2.0],
            value: vec![vec![0.5, 0.5], vec![1.0, 0.0], vec![0.25, 0.75]],
        };
        let mut m = ClassifierFile::new(
            "incident",
            &[Incident::CpuSaturation, Incident::MemoryLeak],
            vec![tree],
        );
        m.seal();
        m
    }

    #[test]
    fn predicts_the_leaf_fractions() {
        let c = RandomForestClassifier::from_file(&stump(), "incident.json").unwrap();
        let mut out = [9.0; 3];
        c.predict_proba(&[3.0], &mut out);
        assert_eq!(out, [0.25, 0.75, 0.0]);
        assert_eq!(c.predict(&[3.0]), (Incident::MemoryLeak, 0.75));
        assert_eq!(c.predict(&[2.5]), (Incident::CpuSaturation, 1.0));
        let mut short = [9.0; 1];
        c.predict_proba(&[0.0], &mut short);
        assert_eq!(short, [1.0]);
    }

    /// Equal leaves are kept once, whichever tree they are in, and each
    /// tree still reads its own: a second tree whose leaves repeat the
    /// first's, with its split elsewhere, adds no leaf value.
    #[test]
    fn equal_leaf_values_are_kept_once() {
        let mut m = stump();
        let mut second = m.trees[0].clone();
        second.threshold[0] = 0.5;
        m.trees.push(second);
        let c = RandomForestClassifier::from_file(&m, "incident.json").unwrap();
        assert_eq!(c.leaf_values.len(), 2);
        // A classifier equals its copy (its leaves' thresholds are NaNs).
        assert_eq!(c, c.clone());
        let mut out = [9.0; 2];
        // Left in the first tree, right in the second.
        c.predict_proba(&[1.0], &mut out);
        assert_eq!(out, [0.625, 0.375]);
        c.predict_proba(&[3.0], &mut out);
        assert_eq!(out, [0.25, 0.75]);
    }

    #[test]
    fn ties_go_to_the_first_class() {
        let mut m = stump();
        m.trees[0].value[2] = vec![0.5, 0.5];
        let c = RandomForestClassifier::from_file(&m, "incident.json").unwrap();
        assert_eq!(c.predict(&[3.0]), (Incident::CpuSaturation, 0.5));
    }
}
