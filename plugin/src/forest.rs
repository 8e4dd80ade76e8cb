//! Isolation-forest scoring, exactly as scikit-learn computes it, and the
//! forest's model file.
//!
//! # Score
//!
//! For each tree, `x` (each value cast to `f32`, as scikit-learn validates `X`
//! to `float32`; thresholds stay `f64`) walks from the root, going left when
//! `x[feature] <= threshold`, to a leaf at depth `d` (edges) holding `n`
//! training samples. The tree's path length is `d + c(n)`, where `c` is
//! [`average_path_length`]. With `E` the mean path length over the trees and
//! ψ = `max_samples`, the score is `2^(-E / c(ψ))`: scikit-learn's
//! `-score_samples(x)`, summed in the same order (`_compute_score_samples`
//! adds `(d + 1) + c(n) - 1` tree by tree, then divides by
//! `n_trees * c(ψ)`). Leaf path lengths are precomputed at load, so scoring is
//! a walk and an add per tree. Scores are in (0, 1]; higher is more anomalous.
//! A forest grown from one sample has `c(ψ) = 0`: scikit-learn then leaves
//! the ratio at 1 (`np.divide(..., out=np.ones_like(depths), where=denominator != 0)`),
//! so every score is `2^-1 = 0.5`.
//!
//! NaN features go right at every split, like +inf (scikit-learn routes them
//! by a per-node rule the file format does not carry); the plugin's features
//! are finite by construction. Missing trailing features count as 0.
//!
//! # Explanation
//!
//! [`IsolationForest::explain`] credits, in every tree, each split on `x`'s
//! path with weight `1 / (d + c(n))` — the inverse of that tree's path
//! length — to the split's feature, sums over trees and normalizes the sum
//! to one. A tree that isolates `x` in a few splits gives those splits a large
//! share; a tree where `x` ends deep in a crowded leaf gives each split little.
//! The result is deterministic and depends only on `x` and the model.
//!
//! # File
//!
//! ```json
//! {"schema_version":1,"type":"isolation_forest","name":"cpu","family":"cpu",
//!  "feature_names":["cpu_log_ratio","cpu_held"],"max_samples":256,
//!  "thresholds":{"warning":0.62,"critical":0.7},
//!  "trees":[{"left":[1,-1,-1],"right":[2,-1,-1],"feature":[0,-2,-2],
//!            "threshold":[1.5,-2.0,-2.0],"n_samples":[256,200,56]}],
//!  "sha256":"<hex>"}
//! ```

use serde::{Deserialize, Serialize};

use crate::features::{self, MAX_FAMILY_FEATURES};
use crate::manifest::check_name;
use crate::model::{
    canonical_digest, model_json, parse_versioned, ModelError, Thresholds, Versioned,
    SCHEMA_VERSION,
};
use crate::tree::{cast, Cast, Cuts, Payloads, TreeArrays, TreeProblem, Trees, MAX_TREES};
use crate::verdict::Family;

/// The `type` of an isolation-forest file.
pub const ISOLATION_FOREST_TYPE: &str = "isolation_forest";

/// Euler–Mascheroni constant, as `np.euler_gamma`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// `c(n)`: the average path length of an unsuccessful search in a binary
/// search tree of `n` nodes, scikit-learn's `_average_path_length`:
/// 0 for `n <= 1`, 1 for `n = 2`, else `2(ln(n-1) + γ) - 2(n-1)/n`.
pub fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n == 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// The anomaly score from the summed path lengths of a forest's trees and
/// `denominator` = trees × `c(max_samples)`: `2^(-depths / denominator)`.
/// A forest grown from one sample has `c(1) = 0`; scikit-learn takes the
/// ratio as 1 there, so every score is `2^-1`.
pub fn isolation_score(depths: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        return 0.5;
    }
    2f64.powf(-(depths / denominator))
}

/// One isolation tree as flat arrays (scikit-learn's `tree_` layout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationTreeFile {
    /// Left child per node, -1 at leaves.
    pub left: Vec<i32>,
    /// Right child per node, -1 at leaves.
    pub right: Vec<i32>,
    /// Split feature per node (any value at leaves; scikit-learn writes -2).
    pub feature: Vec<i32>,
    /// Split threshold per node: `x <= threshold` goes left.
    pub threshold: Vec<f64>,
    /// Training samples that reached each node (at least 1 at leaves).
    pub n_samples: Vec<u32>,
}

/// An isolation forest as stored in a model file (the writer's side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationForestFile {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always [`ISOLATION_FOREST_TYPE`].
    #[serde(rename = "type")]
    pub model_type: String,
    /// Model name.
    pub name: String,
    /// Signal family (`cpu`, `memory`, ...).
    pub family: String,
    /// Must equal [`features::names`] of the family.
    pub feature_names: Vec<String>,
    /// ψ, the subsample size each tree was grown from (for `c(ψ)`).
    pub max_samples: u32,
    /// Calibrated thresholds on the score.
    pub thresholds: Thresholds,
    /// The trees.
    pub trees: Vec<IsolationTreeFile>,
    /// Hex SHA-256 of the canonical serialization with this field `""`.
    pub sha256: String,
}

impl Versioned for IsolationForestFile {
    fn schema_version(&self) -> u64 {
        self.schema_version.into()
    }
    fn model_type(&self) -> Option<&str> {
        Some(&self.model_type)
    }
}

impl IsolationForestFile {
    /// An unsealed file for `family`, with the family's feature names.
    pub fn new(
        name: impl Into<String>,
        family: Family,
        max_samples: u32,
        thresholds: Thresholds,
        trees: Vec<IsolationTreeFile>,
    ) -> IsolationForestFile {
        IsolationForestFile {
            schema_version: SCHEMA_VERSION,
            model_type: ISOLATION_FOREST_TYPE.to_owned(),
            name: name.into(),
            family: family.as_str().to_owned(),
            feature_names: features::names(family)
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            max_samples,
            thresholds,
            trees,
            sha256: String::new(),
        }
    }

    /// Parses a file (schema version and type checked; digest and structure
    /// are checked by [`IsolationForest::from_json`]).
    pub fn from_json(bytes: &[u8], file: &str) -> Result<IsolationForestFile, ModelError> {
        parse_versioned(bytes, file, Some(ISOLATION_FOREST_TYPE))
    }

    /// The digest this model should carry: hex SHA-256 of its canonical
    /// serialization with `sha256` set to `""`.
    pub fn digest(&self) -> String {
        let mut unsealed = self.clone();
        unsealed.sha256.clear();
        canonical_digest(&unsealed)
    }

    /// Sets `sha256` to [`IsolationForestFile::digest`].
    pub fn seal(&mut self) {
        self.sha256.clear();
        self.sha256 = canonical_digest(self);
    }

    /// The file's bytes: compact JSON, floats as shortest round-trip decimals.
    pub fn to_json(&self) -> Vec<u8> {
        model_json(self)
    }
}

/// A validated isolation forest, ready to score (the predict side only).
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    name: String,
    family: Family,
    max_samples: u32,
    thresholds: Thresholds,
    trees: Trees,
    /// What each leaf adds, by payload index.
    leaves: Vec<Leaf>,
    /// `n_trees * c(ψ)`.
    denominator: f64,
    /// The trees' split thresholds per feature, which say when two inputs
    /// walk alike (see [`IsolationForest::score_explained_remembered`]).
    cuts: Cuts,
}

/// What a leaf adds to a walk: its path length and its credits, side by
/// side so a walk reads one place per tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Leaf {
    /// `(d + 1) + c(n) - 1`, scikit-learn's per-tree addend.
    path: f64,
    /// One entry per feature ([`features::names`]`(family)`, then zeros):
    /// the credit [`IsolationForest::explain`] gives each feature for the
    /// tree, `n / h` computed as `n as f64 * (1 / h)` with `n` the splits on
    /// the path from the root to the leaf that test the feature and `h` the
    /// leaf's `path` (all 0 when the path is empty or `h` is not positive).
    /// The path to a leaf is fixed, so explaining needs only the leaf. A
    /// fixed width lets the walk keep its sums in registers.
    credit: [f64; MAX_FAMILY_FEATURES],
}

const NO_LEAF: Leaf = Leaf {
    path: 0.0,
    credit: [0.0; MAX_FAMILY_FEATURES],
};

/// Per feature of a forest's input, how many of the forest's split
/// thresholds on that feature lie below the value: inputs with the same cell
/// reach the same leaf in every tree.
pub type Cell = [u32; MAX_FAMILY_FEATURES];

/// One walk of a forest, remembered: the cell of its input, the score and the
/// shares it gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Walk {
    cell: Cell,
    score: f64,
    shares: [f64; MAX_FAMILY_FEATURES],
}

impl IsolationForest {
    /// Parses a model file, verifies its `sha256` against its content and
    /// validates it (see [`IsolationForest::from_file`]).
    pub fn from_json(bytes: &[u8], file: &str) -> Result<IsolationForest, ModelError> {
        let mut model = IsolationForestFile::from_json(bytes, file)?;
        let claimed = std::mem::take(&mut model.sha256);
        let actual = canonical_digest(&model);
        if !actual.eq_ignore_ascii_case(&claimed) {
            return Err(ModelError::ModelDigest {
                file: file.to_owned(),
                expected: claimed,
                actual,
            });
        }
        IsolationForest::from_file(&model, file)
    }

    /// Validates an in-memory model file (its `sha256` is not checked) and
    /// compiles it: known family, the family's feature names, `max_samples`
    /// ≥ 1, thresholds with `0 < warning <= critical <= 1` (scores lie in
    /// (0, 1]: a threshold outside flags everything or nothing), 1 to
    /// [`MAX_TREES`] trees, each structurally valid (see [`crate::tree`])
    /// with `n_samples` ≥ 1 at every leaf and at most `max_samples` at the
    /// root. (A tree is grown from `max_samples` draws: scikit-learn's root
    /// holds exactly that many without bootstrap and the distinct ones,
    /// fewer, with `bootstrap=True`, so only "at most" always holds.) `file`
    /// names the source in errors.
    pub fn from_file(
        model: &IsolationForestFile,
        file: &str,
    ) -> Result<IsolationForest, ModelError> {
        if model.schema_version != SCHEMA_VERSION {
            return Err(ModelError::SchemaVersion {
                file: file.to_owned(),
                found: model.schema_version.into(),
            });
        }
        if model.model_type != ISOLATION_FOREST_TYPE {
            return Err(ModelError::ModelType {
                file: file.to_owned(),
                found: model.model_type.clone(),
                expected: ISOLATION_FOREST_TYPE,
            });
        }
        check_name(&model.name).map_err(|p| ModelError::invalid(file, "name", p))?;
        let family = Family::parse(&model.family).ok_or_else(|| ModelError::UnknownFamily {
            file: file.to_owned(),
            family: model.family.clone(),
        })?;
        let expected = features::names(family);
        if !model
            .feature_names
            .iter()
            .map(String::as_str)
            .eq(expected.iter().copied())
        {
            return Err(ModelError::FeatureNames {
                file: file.to_owned(),
                what: family.as_str(),
                expected: expected.to_vec(),
                found: model.feature_names.clone(),
            });
        }
        if model.max_samples == 0 {
            return Err(ModelError::invalid(
                file,
                "max_samples",
                "must be at least 1",
            ));
        }
        let Thresholds { warning, critical } = model.thresholds;
        // Scores lie in (0, 1]; written so that NaN fails.
        for (field, value) in [
            ("thresholds.warning", warning),
            ("thresholds.critical", critical),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(ModelError::invalid(
                    file,
                    field,
                    format!("is {value}, not a score in (0, 1]"),
                ));
            }
        }
        if warning > critical {
            return Err(ModelError::invalid(
                file,
                "thresholds",
                format!("must have warning <= critical (warning {warning}, critical {critical})"),
            ));
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
        let mut leaves = Payloads::default();
        let stride = expected.len();
        for (t, tree) in model.trees.iter().enumerate() {
            let at = |(node, problem)| ModelError::Tree {
                file: file.to_owned(),
                tree: t,
                node,
                problem,
            };
            if tree.n_samples.len() != tree.left.len() {
                return Err(at((
                    None,
                    TreeProblem::Length {
                        field: "n_samples",
                        len: tree.n_samples.len(),
                        expected: tree.left.len(),
                    },
                )));
            }
            if let Some(&root) = tree.n_samples.first().filter(|n| **n > model.max_samples) {
                return Err(ModelError::invalid(
                    file,
                    "max_samples",
                    format!(
                        "is {} but tree {t} was grown from {root} samples (a tree's root holds at most max_samples)",
                        model.max_samples
                    ),
                ));
            }
            let arrays = TreeArrays {
                left: &tree.left,
                right: &tree.right,
                feature: &tree.feature,
                threshold: &tree.threshold,
            };
            let splits = path_splits(arrays, stride);
            trees
                .push(arrays, expected.len(), |node, depth| {
                    let n = tree.n_samples.get(node).copied().unwrap_or(0);
                    if n == 0 {
                        return Err(TreeProblem::NoSamples);
                    }
                    // Exactly scikit-learn's order: node depth (root = 1) plus
                    // c(n), minus one.
                    let value = ((depth + 1) as f64 + average_path_length(f64::from(n))) - 1.0;
                    let counts = splits
                        .get(node * stride..(node + 1) * stride)
                        .unwrap_or(&[]);
                    // As `explain` once skipped a tree: no split on the way,
                    // or a path length that is NaN or not positive.
                    let w = if depth == 0 || value.is_nan() || value <= 0.0 {
                        0.0
                    } else {
                        1.0 / value
                    };
                    let mut credit = [0.0; MAX_FAMILY_FEATURES];
                    for (c, n) in credit.iter_mut().zip(counts) {
                        *c = f64::from(*n) * w;
                    }
                    let mut key = [value.to_bits(); MAX_FAMILY_FEATURES + 1];
                    for (k, c) in key.iter_mut().skip(1).zip(credit) {
                        *k = c.to_bits();
                    }
                    Ok(leaves.intern(
                        key,
                        Leaf {
                            path: value,
                            credit,
                        },
                    ))
                })
                .map_err(at)?;
        }
        Ok(IsolationForest {
            name: model.name.clone(),
            family,
            max_samples: model.max_samples,
            thresholds: model.thresholds,
            cuts: trees.cuts(expected.len()),
            trees,
            leaves: leaves.into_values(),
            denominator: n_trees as f64 * average_path_length(f64::from(model.max_samples)),
        })
    }

    /// Anomaly score in (0, 1]: `2^(-E[h(x)] / c(ψ))`, i.e. scikit-learn's
    /// `-score_samples(x)`.
    pub fn score(&self, x: &[f64]) -> f64 {
        let depths = self.walk(&cast(x), |_| {});
        self.score_of(depths)
    }

    /// Per-feature share of the score for `x`, written to `out` (one per
    /// feature): each tree credits each feature with `n / h`, `n` the splits
    /// testing it on `x`'s path and `h` the tree's path length (the credits
    /// summed per feature in tree order), and the sums are divided by their
    /// total (taken in feature order), so the shares sum to 1. All zeros when
    /// no tree splits on the way to `x`'s leaf. Entries past the model's
    /// features are 0. The Lua scorer computes exactly these sums.
    pub fn explain(&self, x: &[f64], out: &mut [f64]) {
        self.score_explained(x, out);
    }

    /// [`IsolationForest::score`] and [`IsolationForest::explain`] from one
    /// walk of the trees: returns the score and writes the shares to `out`.
    pub fn score_explained(&self, x: &[f64], out: &mut [f64]) -> f64 {
        self.score_explained_cast(&cast(x), out)
    }

    /// [`IsolationForest::score_explained`], remembering the walk in `memo`
    /// (which belongs to this forest): when `x` lies in the cell of the input
    /// `memo` remembers, it reaches the same leaf in every tree, so the score
    /// and shares are `memo`'s, bit for bit, and the trees are not walked.
    /// Otherwise the trees are walked and `memo` remembers this walk.
    pub fn score_explained_remembered(
        &self,
        x: &[f64],
        memo: &mut Option<Walk>,
        out: &mut [f64],
    ) -> f64 {
        let x = cast(x);
        let Some(cell) = self.cuts.cell(&x) else {
            return self.score_explained_cast(&x, out);
        };
        let walk = match memo.filter(|w| w.cell == cell) {
            Some(walk) => walk,
            None => {
                let mut shares = [0.0; MAX_FAMILY_FEATURES];
                let score = self.score_explained_cast(&x, &mut shares);
                let walk = Walk {
                    cell,
                    score,
                    shares,
                };
                *memo = Some(walk);
                walk
            }
        };
        out.iter_mut().for_each(|o| *o = 0.0);
        for (o, s) in out.iter_mut().zip(&walk.shares) {
            *o = *s;
        }
        walk.score
    }

    fn score_explained_cast(&self, x: &Cast, out: &mut [f64]) -> f64 {
        let mut sums = [0.0; MAX_FAMILY_FEATURES];
        let depths = self.walk(x, |leaf| {
            // Past the features, credits are 0 and their sums unread.
            for (s, c) in sums.iter_mut().zip(&leaf.credit) {
                *s += c;
            }
        });
        let sums = sums.get(..self.n_features()).unwrap_or(&[]);
        out.iter_mut().for_each(|o| *o = 0.0);
        let total: f64 = sums.iter().fold(0.0, |t, s| t + s);
        if total > 0.0 {
            for (o, s) in out.iter_mut().zip(sums.iter()) {
                *o = s / total;
            }
        }
        self.score_of(depths)
    }

    /// The sum of the path lengths of `x`'s leaf in every tree (tree order),
    /// calling `at_leaf` with each leaf.
    #[inline]
    fn walk(&self, x: &Cast, mut at_leaf: impl FnMut(&Leaf)) -> f64 {
        let mut depths = 0.0;
        self.trees.for_each_leaf(x, |leaf| {
            let leaf = self.leaves.get(leaf as usize).unwrap_or(&NO_LEAF);
            depths += leaf.path;
            at_leaf(leaf);
        });
        depths
    }

    fn score_of(&self, depths: f64) -> f64 {
        isolation_score(depths, self.denominator)
    }

    /// Calibrated thresholds.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The signal family the forest scores.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Model name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Number of features (`features::names(family).len()`).
    pub fn n_features(&self) -> usize {
        features::names(self.family).len()
    }

    /// ψ, the subsample size the trees were grown from.
    pub fn max_samples(&self) -> u32 {
        self.max_samples
    }
}

/// Per node of a file tree, `stride` entries: how many splits on the path
/// from the root to the node test each feature. Children come after their
/// parents in a valid tree; entries of an invalid one are never read.
fn path_splits(tree: TreeArrays<'_>, stride: usize) -> Vec<u8> {
    let n = tree.left.len();
    let mut counts = vec![0u8; n.saturating_mul(stride)];
    for i in 0..n {
        let (Some(&l), Some(&r), Some(&f)) =
            (tree.left.get(i), tree.right.get(i), tree.feature.get(i))
        else {
            continue;
        };
        let mut here = [0u8; MAX_FAMILY_FEATURES];
        if let (Some(h), Some(c)) = (
            here.get_mut(..stride),
            counts.get(i * stride..(i + 1) * stride),
        ) {
            h.copy_from_slice(c);
        }
        if let Some(h) = usize::try_from(f).ok().and_then(|f| here.get_mut(f)) {
            *h = h.saturating_add(1);
        }
        for child in [l, r] {
            let Ok(c) = usize::try_from(child) else {
                continue;
            };
            if c <= i {
                continue;
            }
            if let (Some(slot), Some(h)) = (
                counts.get_mut(c * stride..(c + 1) * stride),
                here.get(..stride),
            ) {
                slot.copy_from_slice(h);
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    /// One stump on `cpu_log_ratio` at 1.0: 255 samples left, 1 right.
    fn stump() -> IsolationForestFile {
        let tree = IsolationTreeFile {
            left: vec![1, -1, -1],
            right: vec![2, -1, -1],
            feature: vec![0, -2, -2],
            threshold: vec![1.0, -2.0, -2.0],
            n_samples: vec![256, 255, 1],
        };
        let mut m = IsolationForestFile::new(
            "cpu",
            Family::Cpu,
            256,
            Thresholds {
                warning: 0.6,
                critical: 0.7,
            },
            vec![tree],
        );
        m.seal();
        m
    }

    #[test]
    fn average_path_length_matches_sklearn() {
        // np values from sklearn.ensemble._iforest._average_path_length.
        assert_eq!(average_path_length(0.0), 0.0);
        assert_eq!(average_path_length(1.0), 0.0);
        assert_eq!(average_path_length(2.0), 1.0);
        assert!((average_path_length(256.0) - 10.244_770_920_119_917).abs() < 1e-12);
        assert!((average_path_length(3.0) - 1.207_392_357_589_623).abs() < 1e-12);
    }

    #[test]
    fn stump_scores_by_hand() {
        let f = IsolationForest::from_file(&stump(), "cpu.json").unwrap();
        let c = average_path_length(256.0);
        let inlier = 2f64.powf(-(1.0 + average_path_length(255.0)) / c);
        let outlier = 2f64.powf(-1.0 / c);
        assert!((f.score(&[0.0, 0.0, 0.0]) - inlier).abs() < 1e-15);
        assert!((f.score(&[5.0, 0.0, 0.0]) - outlier).abs() < 1e-15);
        // Exactly at the threshold goes left; the next f32 up goes right.
        assert_eq!(f.score(&[1.0]), f.score(&[0.0]));
        assert_eq!(
            f.score(&[f64::from(1.0f32 + f32::EPSILON)]),
            f.score(&[5.0])
        );
    }

    #[test]
    fn explain_credits_the_isolating_feature_and_sums_to_one() {
        let f = IsolationForest::from_file(&stump(), "cpu.json").unwrap();
        let mut out = [9.0; 3];
        f.explain(&[5.0, 0.0, 0.0], &mut out);
        assert_eq!(out, [1.0, 0.0, 0.0]);
        // Longer `out` gets zeros; shorter gets what fits.
        let mut long = [9.0; 5];
        f.explain(&[0.0], &mut long);
        assert_eq!(long, [1.0, 0.0, 0.0, 0.0, 0.0]);
        let mut none: [f64; 0] = [];
        f.explain(&[0.0], &mut none);
    }

    /// Explanation as a walk of each path computes it: per tree, the splits
    /// on the way are counted per feature, and each feature is credited with
    /// its count times `1 / h`.
    fn explain_by_walking(f: &IsolationForest, x: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        let x = cast(x);
        let mut sums = vec![0.0; f.n_features()];
        f.trees.paths(&x, |_, path, leaf| {
            let h = f.leaves[leaf as usize].path;
            if path.is_empty() || h.is_nan() || h <= 0.0 {
                return;
            }
            let w = 1.0 / h;
            for (feature, s) in sums.iter_mut().enumerate() {
                let n = path.iter().filter(|p| **p as usize == feature).count();
                *s += n as f64 * w;
            }
        });
        let total: f64 = sums.iter().fold(0.0, |t, s| t + s);
        if total > 0.0 {
            for (o, s) in out.iter_mut().zip(&sums) {
                *o = s / total;
            }
        }
    }

    /// 37 random trees of uneven depth over the restarts family's 4 features.
    fn random_forest(rnd: &mut dyn FnMut() -> f64) -> IsolationForest {
        fn grow(t: &mut IsolationTreeFile, rnd: &mut dyn FnMut() -> f64, depth: u32) -> i32 {
            let i = t.left.len();
            t.left.push(-1);
            t.right.push(-1);
            t.feature.push(-2);
            t.threshold.push(-2.0);
            t.n_samples.push(1 + (rnd() * 40.0) as u32);
            if depth < 9 && (depth == 0 || rnd() < 0.8) {
                t.feature[i] = (rnd() * 4.0) as i32;
                t.threshold[i] = rnd() * 4.0 - 2.0;
                let l = grow(t, rnd, depth + 1);
                let r = grow(t, rnd, depth + 1);
                t.left[i] = l;
                t.right[i] = r;
            }
            i as i32
        }
        let trees = (0..37)
            .map(|_| {
                let mut t = IsolationTreeFile {
                    left: vec![],
                    right: vec![],
                    feature: vec![],
                    threshold: vec![],
                    n_samples: vec![],
                };
                grow(&mut t, rnd, 0);
                t
            })
            .collect();
        let file = IsolationForestFile::new(
            "restarts",
            Family::Restarts,
            256,
            Thresholds {
                warning: 0.6,
                critical: 0.7,
            },
            trees,
        );
        IsolationForest::from_file(&file, "restarts.json").unwrap()
    }

    #[test]
    fn explain_matches_walking_each_path_bit_for_bit() {
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        let mut rnd = move || rng.next_f64();
        let f = random_forest(&mut rnd);
        for _ in 0..2000 {
            let x: Vec<f64> = (0..4).map(|_| rnd() * 5.0 - 2.5).collect();
            for len in [4, 2, 6] {
                let (mut fast, mut slow) = (vec![0.0; len], vec![0.0; len]);
                f.explain(&x, &mut fast);
                explain_by_walking(&f, &x, &mut slow);
                let bits = |v: &[f64]| v.iter().map(|c| c.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&slow), "{x:?}");
            }
        }
    }

    /// Leaves with the same path length and credits are kept once: three
    /// copies of the stump and a stump that splits on another feature keep
    /// the stump's two leaves and that stump's two, and score as walked.
    #[test]
    fn equal_leaves_are_kept_once() {
        let mut m = stump();
        let mut other = m.trees[0].clone();
        other.feature[0] = 1;
        m.trees = vec![
            m.trees[0].clone(),
            m.trees[0].clone(),
            other,
            m.trees[0].clone(),
        ];
        let f = IsolationForest::from_file(&m, "cpu.json").unwrap();
        assert_eq!(f.leaves.len(), 4);
        // A forest equals its copy (its leaves' thresholds are NaNs).
        assert_eq!(f, f.clone());
        let x = [2.0, 0.0, 0.0];
        let mut out = [0.0; 3];
        let score = f.score_explained(&x, &mut out);
        let mut walked = [0.0; 3];
        explain_by_walking(&f, &x, &mut walked);
        assert_eq!(out, walked);
        // Three trees put `x` in the 1-sample leaf (depth 1, c(1) = 0), one
        // in the 255-sample one.
        let depths = 3.0 + (1.0 + average_path_length(255.0));
        let expected = 2f64.powf(-(depths / (4.0 * average_path_length(256.0))));
        assert_eq!(score.to_bits(), expected.to_bits());
    }

    #[test]
    fn explain_is_all_zero_when_no_tree_splits() {
        let mut m = stump();
        m.trees = vec![IsolationTreeFile {
            left: vec![-1],
            right: vec![-1],
            feature: vec![-2],
            threshold: vec![-2.0],
            n_samples: vec![256],
        }];
        let f = IsolationForest::from_file(&m, "cpu.json").unwrap();
        let mut out = [9.0; 3];
        f.explain(&[1.0, 2.0, 3.0], &mut out);
        assert_eq!(out, [0.0; 3]);
    }

    /// Inputs that drift by small steps (staying in a cell for a while) and
    /// jump at times: the remembered walk gives what a walk gives, bit for
    /// bit, for every output length, and is reused when the cell is the same.
    #[test]
    fn a_remembered_walk_scores_and_explains_as_a_walk() {
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        let mut rnd = move || rng.next_f64();
        let f = random_forest(&mut rnd);
        let mut memo = None;
        let mut x = [0.0f64; 4];
        let mut reused = 0;
        for i in 0..5000 {
            for v in &mut x {
                *v += if i % 200 == 0 {
                    rnd() * 5.0 - 2.5
                } else {
                    (rnd() - 0.5) * 1e-3
                };
            }
            let before = memo;
            for len in [4, 2, 6] {
                let (mut remembered, mut walked) = (vec![9.0; len], vec![9.0; len]);
                let a = f.score_explained_remembered(&x, &mut memo, &mut remembered);
                let b = f.score_explained(&x, &mut walked);
                assert_eq!(a.to_bits(), b.to_bits(), "{x:?}");
                let bits = |v: &[f64]| v.iter().map(|c| c.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&remembered), bits(&walked), "{x:?}");
            }
            reused += usize::from(before.is_some() && before == memo);
        }
        assert!(reused > 2500, "reused {reused} of 5000");
        // A memo of the input's cell is taken as it is: the trees are not walked.
        let Some(mut kept) = memo else {
            panic!("no walk kept")
        };
        kept.score = 0.123;
        kept.shares = [0.5, 0.25, 0.25, 0.0];
        let mut memo = Some(kept);
        let mut out = [0.0; 4];
        assert_eq!(f.score_explained_remembered(&x, &mut memo, &mut out), 0.123);
        assert_eq!(out, [0.5, 0.25, 0.25, 0.0]);
        // Elsewhere the trees are walked and the memo moves on.
        let far = [if x[0] > 0.0 { -10.0 } else { 10.0 }, x[1], x[2], x[3]];
        let walked = f.score(&far);
        assert_eq!(
            f.score_explained_remembered(&far, &mut memo, &mut out),
            walked
        );
        assert_ne!(memo, Some(kept));
    }

    /// One leaf grown from `root` samples, in a forest of `max_samples`.
    fn one_leaf(max_samples: u32, root: u32, warning: f64, critical: f64) -> IsolationForestFile {
        let tree = IsolationTreeFile {
            left: vec![-1],
            right: vec![-1],
            feature: vec![-2],
            threshold: vec![-2.0],
            n_samples: vec![root],
        };
        let thresholds = Thresholds { warning, critical };
        let mut m =
            IsolationForestFile::new("cpu", Family::Cpu, max_samples, thresholds, vec![tree]);
        m.seal();
        m
    }

    /// scikit-learn (`_iforest.py`, `_compute_score_samples`): when
    /// `c(max_samples_)` is 0 (one training sample) the ratio of depths to
    /// the denominator is left at 1 (`out=np.ones_like(depths)`), so the
    /// score is `2^-1`, where it once was 1 here.
    #[test]
    fn a_forest_grown_from_one_sample_scores_as_sklearn() {
        let f = IsolationForest::from_file(&one_leaf(1, 1, 0.6, 0.7), "cpu.json").unwrap();
        for x in [[0.0, 0.0], [1e9, -1e9], [f64::NAN, 0.0]] {
            assert_eq!(f.score(&x), 0.5, "{x:?}");
            let mut out = [9.0; 2];
            assert_eq!(f.score_explained(&x, &mut out), 0.5);
            assert_eq!(out, [0.0; 2]);
        }
    }

    /// Scores lie in (0, 1]: thresholds outside it made a model that loads
    /// and flags everything (or nothing), and a `max_samples` below a
    /// tree's root sample count gave `c(ψ)` of the wrong subsample; both
    /// once loaded. A root below `max_samples` is scikit-learn's
    /// `bootstrap=True` (the distinct draws) and loads.
    /// (max_samples, root samples, warning, critical, the error's field.)
    #[test]
    fn thresholds_outside_the_score_range_and_roots_above_max_samples_are_rejected() {
        let cases: &[(u32, u32, f64, f64, Option<&str>)] = &[
            (256, 256, 0.6, 0.7, None),
            (256, 256, 1.0, 1.0, None),
            (256, 160, 0.6, 0.7, None),
            (256, 256, -1.0, 0.0, Some("thresholds.warning")),
            (256, 256, 0.0, 0.5, Some("thresholds.warning")),
            (256, 256, 0.5, 0.0, Some("thresholds.critical")),
            (256, 256, 2.0, 3.0, Some("thresholds.warning")),
            (
                256,
                256,
                0.6,
                1.0 + f64::EPSILON,
                Some("thresholds.critical"),
            ),
            (256, 256, 0.8, 0.7, Some("thresholds")),
            (256, 256, f64::NAN, 0.7, Some("thresholds.warning")),
            (256, 256, 0.6, f64::INFINITY, Some("thresholds.critical")),
            (200, 256, 0.6, 0.7, Some("max_samples")),
        ];
        for (max_samples, root, warning, critical, field) in cases {
            let m = one_leaf(*max_samples, *root, *warning, *critical);
            let got = match IsolationForest::from_file(&m, "cpu.json") {
                Ok(_) => None,
                Err(ModelError::Invalid { field, .. }) => Some(field),
                Err(e) => panic!("{e}"),
            };
            assert_eq!(
                got.as_deref(),
                *field,
                "max_samples {max_samples}, root {root}, warning {warning}, critical {critical}"
            );
        }
    }
}
