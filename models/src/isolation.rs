//! Fitting isolation forests: validated hyperparameters in, the plugin's
//! immutable model file out (fit and predict are different types; scoring is
//! the plugin's [`IsolationForest`] alone).
//!
//! The algorithm is scikit-learn's `IsolationForest` (`_iforest.py` over
//! `ExtraTreeRegressor(max_features=1, splitter="random")`):
//!
//! - ψ = `min(max_samples, n)`; each tree is grown on ψ rows drawn without
//!   replacement, with the depth limit `ceil(log2(max(ψ, 2)))`;
//! - at a node, features are drawn at random without replacement until one is
//!   not constant on the node's rows (`max - min > 1e-7`); with none, or at
//!   the depth limit, or with at most one row, the node is a leaf;
//! - the split threshold is uniform in `[min, max)` of that feature on the
//!   node's rows (`min` if the draw lands on `max`), stored as `f64`, and a
//!   row goes left when `x as f32 as f64 <= threshold` (scikit-learn
//!   validates `X` to `float32`);
//! - nodes are numbered depth-first, left subtree first, so every child comes
//!   after its parent; `n_samples` counts the rows that reached each node.
//!
//! Every tree draws from its own ChaCha8 stream of the seed, so a forest is a
//! pure function of (data, parameters, seed).

use edgeheal_plugin::features;
use edgeheal_plugin::forest::{IsolationForest, IsolationForestFile, IsolationTreeFile};
use edgeheal_plugin::model::Thresholds;
use edgeheal_plugin::verdict::Family;
use ndarray::ArrayView2;

use crate::error::Error;
use crate::rng::SeededRng;

/// scikit-learn's `FEATURE_THRESHOLD`: a feature whose range on a node is
/// not above this is constant there.
const FEATURE_THRESHOLD: f64 = 1e-7;

/// Most trees a forest may have (the plugin's limit).
const MAX_ESTIMATORS: usize = 1024;

/// Hyperparameters of an isolation forest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsolationForestParams {
    /// Number of trees (scikit-learn's default: 100).
    pub n_estimators: usize,
    /// ψ, rows per tree (default 256; capped at the number of rows).
    pub max_samples: usize,
    /// Depth limit; `None` for `ceil(log2(max(ψ, 2)))`.
    pub max_depth: Option<usize>,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        IsolationForestParams {
            n_estimators: 100,
            max_samples: 256,
            max_depth: None,
            seed: 0,
        }
    }
}

impl IsolationForestParams {
    /// Default parameters with `seed`.
    pub fn with_seed(seed: u64) -> IsolationForestParams {
        IsolationForestParams {
            seed,
            ..IsolationForestParams::default()
        }
    }

    /// Checks every parameter is in range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=MAX_ESTIMATORS).contains(&self.n_estimators) {
            return Err(Error::parameter(
                "n_estimators",
                format!("{} is not in 1..={MAX_ESTIMATORS}", self.n_estimators),
            ));
        }
        if !(2..=1 << 20).contains(&self.max_samples) {
            return Err(Error::parameter(
                "max_samples",
                format!("{} is not in 2..=1048576", self.max_samples),
            ));
        }
        if let Some(d) = self.max_depth {
            if !(1..=edgeheal_plugin::tree::MAX_DEPTH).contains(&d) {
                return Err(Error::parameter(
                    "max_depth",
                    format!("{d} is not in 1..={}", edgeheal_plugin::tree::MAX_DEPTH),
                ));
            }
        }
        Ok(())
    }

    /// Fits a forest on the rows of `x` (one column per feature). Rows with a
    /// non-finite value are rejected: the plugin's features are finite.
    pub fn fit(&self, x: ArrayView2<'_, f64>) -> Result<FittedIsolationForest, Error> {
        self.validate()?;
        let (n, d) = x.dim();
        if n == 0 || d == 0 {
            return Err(Error::NoData {
                what: "isolation forest".into(),
                problem: format!("{n} rows of {d} features"),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NoData {
                what: "isolation forest".into(),
                problem: "a feature value is not finite".into(),
            });
        }
        // Column-major float32 copy: what scikit-learn's trees see.
        let columns: Vec<Vec<f32>> = (0..d)
            .map(|j| x.column(j).iter().map(|v| *v as f32).collect())
            .collect();
        let psi = self.max_samples.min(n);
        let max_depth = self
            .max_depth
            .unwrap_or_else(|| (psi.max(2) as f64).log2().ceil() as usize);
        let trees = (0..self.n_estimators)
            .map(|t| {
                let mut rng = SeededRng::new(self.seed, t as u64);
                let rows = rng.sample_without_replacement(n, psi);
                grow(&columns, rows, max_depth, &mut rng)
            })
            .collect();
        Ok(FittedIsolationForest {
            max_samples: psi as u32,
            n_features: d,
            trees,
        })
    }
}

/// A fitted forest's trees, before thresholds are calibrated.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedIsolationForest {
    max_samples: u32,
    n_features: usize,
    trees: Vec<IsolationTreeFile>,
}

impl FittedIsolationForest {
    /// ψ, the rows each tree was grown from.
    pub fn max_samples(&self) -> u32 {
        self.max_samples
    }

    /// The trees, in scikit-learn's `tree_` layout.
    pub fn trees(&self) -> &[IsolationTreeFile] {
        &self.trees
    }

    /// The sealed model file for `family` with `thresholds`, named after the
    /// family. Fails when the forest was fitted on another number of features
    /// than the family has.
    pub fn to_file(
        &self,
        family: Family,
        thresholds: Thresholds,
    ) -> Result<IsolationForestFile, Error> {
        let expected = features::names(family).len();
        if self.n_features != expected {
            return Err(Error::parameter(
                "family",
                format!(
                    "the forest has {} features, family {} has {expected}",
                    self.n_features,
                    family.as_str()
                ),
            ));
        }
        let mut file = IsolationForestFile::new(
            family.as_str(),
            family,
            self.max_samples,
            thresholds,
            self.trees.clone(),
        );
        file.seal();
        Ok(file)
    }

    /// The plugin's scorer for this forest (thresholds at 1: never anomalous),
    /// to score data before thresholds are calibrated.
    pub fn scorer(&self, family: Family) -> Result<IsolationForest, Error> {
        let file = self.to_file(
            family,
            Thresholds {
                warning: 1.0,
                critical: 1.0,
            },
        )?;
        Ok(IsolationForest::from_file(&file, family.as_str())?)
    }
}

/// A node waiting to be built: its parent (and side), rows and depth.
struct Pending {
    parent: Option<(usize, bool)>,
    start: usize,
    end: usize,
    depth: usize,
}

/// Grows one isolation tree on `rows` (reordered in place as nodes split).
fn grow(
    columns: &[Vec<f32>],
    mut rows: Vec<usize>,
    max_depth: usize,
    rng: &mut SeededRng,
) -> IsolationTreeFile {
    let mut tree = IsolationTreeFile {
        left: Vec::new(),
        right: Vec::new(),
        feature: Vec::new(),
        threshold: Vec::new(),
        n_samples: Vec::new(),
    };
    let mut stack = vec![Pending {
        parent: None,
        start: 0,
        end: rows.len(),
        depth: 0,
    }];
    while let Some(node) = stack.pop() {
        let id = tree.left.len();
        if let Some((parent, is_left)) = node.parent {
            let side = if is_left {
                &mut tree.left
            } else {
                &mut tree.right
            };
            side[parent] = id as i32;
        }
        let n = node.end - node.start;
        tree.n_samples.push(n as u32);
        let split = if node.depth >= max_depth || n <= 1 {
            None
        } else {
            choose_split(columns, &rows[node.start..node.end], rng)
        };
        let Some((feature, threshold)) = split else {
            tree.left.push(-1);
            tree.right.push(-1);
            tree.feature.push(-2);
            tree.threshold.push(-2.0);
            continue;
        };
        tree.left.push(0);
        tree.right.push(0);
        tree.feature.push(feature as i32);
        tree.threshold.push(threshold);
        let col = &columns[feature];
        let mid = partition(&mut rows[node.start..node.end], |r| {
            f64::from(col[r]) <= threshold
        }) + node.start;
        // Right pushed first so the left subtree is numbered first.
        stack.push(Pending {
            parent: Some((id, false)),
            start: mid,
            end: node.end,
            depth: node.depth + 1,
        });
        stack.push(Pending {
            parent: Some((id, true)),
            start: node.start,
            end: mid,
            depth: node.depth + 1,
        });
    }
    tree
}

/// A random non-constant feature and a uniform threshold in its range, or
/// `None` when every feature is constant on `rows`.
fn choose_split(columns: &[Vec<f32>], rows: &[usize], rng: &mut SeededRng) -> Option<(usize, f64)> {
    let mut candidates: Vec<usize> = (0..columns.len()).collect();
    while !candidates.is_empty() {
        let pick = rng.below(candidates.len());
        let feature = candidates.swap_remove(pick);
        let col = &columns[feature];
        let (lo, hi) = rows
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(col[*r]), hi.max(col[*r]))
            });
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        if hi <= lo + FEATURE_THRESHOLD {
            continue;
        }
        let mut threshold = rng.uniform(lo, hi);
        if threshold == hi {
            threshold = lo;
        }
        return Some((feature, threshold));
    }
    None
}

/// Moves the rows for which `left` holds to the front; returns how many.
fn partition(rows: &mut [usize], left: impl Fn(usize) -> bool) -> usize {
    let mut mid = 0;
    for i in 0..rows.len() {
        if left(rows[i]) {
            rows.swap(i, mid);
            mid += 1;
        }
    }
    mid
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A blob of 500 normal points around the origin plus far outliers.
    fn blob(seed: u64) -> Array2<f64> {
        let mut rng = SeededRng::new(seed, 99);
        Array2::from_shape_fn((500, 3), |_| {
            rng.uniform(-1.0, 1.0) + rng.uniform(-1.0, 1.0)
        })
    }

    #[test]
    fn separates_obvious_outliers() {
        let x = blob(1);
        let fit = IsolationForestParams::with_seed(3).fit(x.view()).unwrap();
        let forest = fit.scorer(Family::Errors).unwrap();
        let inlier = forest.score(&[0.0, 0.1, -0.1]);
        for outlier in [[8.0, 0.0, 0.0], [0.0, -9.0, 0.0], [5.0, 5.0, 5.0]] {
            let s = forest.score(&outlier);
            assert!(
                s > 0.5 && s > inlier + 0.1,
                "{outlier:?}: {s} vs inlier {inlier}"
            );
        }
        assert!(inlier < 0.5, "{inlier}");
    }

    #[test]
    fn deterministic_for_a_seed() {
        let x = blob(2);
        let a = IsolationForestParams::with_seed(5).fit(x.view()).unwrap();
        let b = IsolationForestParams::with_seed(5).fit(x.view()).unwrap();
        let c = IsolationForestParams::with_seed(6).fit(x.view()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn trees_follow_the_sklearn_layout() {
        let x = blob(3);
        let fit = IsolationForestParams::with_seed(1).fit(x.view()).unwrap();
        assert_eq!(fit.max_samples(), 256);
        assert_eq!(fit.trees().len(), 100);
        for t in fit.trees() {
            assert_eq!(t.n_samples[0], 256);
            for i in 0..t.left.len() {
                if t.left[i] == -1 {
                    assert_eq!(t.right[i], -1);
                    assert!(t.n_samples[i] >= 1);
                } else {
                    let (l, r) = (t.left[i] as usize, t.right[i] as usize);
                    assert!(l > i && r > i);
                    assert_eq!(t.n_samples[l] + t.n_samples[r], t.n_samples[i]);
                }
            }
        }
    }

    #[test]
    fn small_data_caps_psi_and_depth() {
        let x = Array2::from_shape_fn((10, 3), |(i, j)| (i * 3 + j) as f64);
        let fit = IsolationForestParams::with_seed(1).fit(x.view()).unwrap();
        assert_eq!(fit.max_samples(), 10);
        // Depth limit ceil(log2(10)) = 4: at most 2^5 - 1 nodes.
        assert!(fit.trees().iter().all(|t| t.left.len() <= 31));
    }

    #[test]
    fn constant_data_gives_single_leaves() {
        let x = Array2::from_elem((50, 2), 1.5);
        let fit = IsolationForestParams::with_seed(1).fit(x.view()).unwrap();
        assert!(fit.trees().iter().all(|t| t.left == vec![-1]));
    }

    #[test]
    fn round_trip_file_load_identical_scores() {
        let x = blob(4);
        let fit = IsolationForestParams::with_seed(9).fit(x.view()).unwrap();
        let thresholds = Thresholds {
            warning: 0.6,
            critical: 0.7,
        };
        let file = fit.to_file(Family::Errors, thresholds).unwrap();
        let bytes = file.to_json();
        let loaded = IsolationForest::from_json(&bytes, "errors.json").unwrap();
        let direct = IsolationForest::from_file(&file, "errors.json").unwrap();
        assert_eq!(loaded.thresholds(), thresholds);
        let mut rng = SeededRng::new(11, 0);
        for _ in 0..500 {
            let p = [
                rng.uniform(-4.0, 4.0),
                rng.uniform(-4.0, 4.0),
                rng.uniform(-4.0, 4.0),
            ];
            assert_eq!(loaded.score(&p).to_bits(), direct.score(&p).to_bits());
        }
        // Re-serializing the loaded file gives the same bytes.
        let again = IsolationForestFile::from_json(&bytes, "errors.json").unwrap();
        assert_eq!(again.to_json(), bytes);
    }

    #[test]
    fn rejects_bad_parameters_and_data() {
        let x = blob(5);
        let cases = [
            (
                IsolationForestParams {
                    n_estimators: 0,
                    ..Default::default()
                },
                "n_estimators",
            ),
            (
                IsolationForestParams {
                    max_samples: 1,
                    ..Default::default()
                },
                "max_samples",
            ),
            (
                IsolationForestParams {
                    max_depth: Some(0),
                    ..Default::default()
                },
                "max_depth",
            ),
            (
                IsolationForestParams {
                    max_depth: Some(65),
                    ..Default::default()
                },
                "max_depth",
            ),
        ];
        for (p, name) in cases {
            let e = p.fit(x.view()).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
        let empty = Array2::<f64>::zeros((0, 3));
        assert!(IsolationForestParams::default().fit(empty.view()).is_err());
        let mut nan = blob(6);
        nan[[3, 1]] = f64::NAN;
        assert!(IsolationForestParams::default().fit(nan.view()).is_err());
        let fit = IsolationForestParams::default().fit(x.view()).unwrap();
        assert!(fit
            .to_file(
                Family::Memory,
                Thresholds {
                    warning: 0.5,
                    critical: 0.6
                }
            )
            .is_err());
    }
}
