//! Fitting the incident classifier: a random forest of CART trees (Gini
//! impurity, bootstrap rows, √features per split), scikit-learn's
//! `RandomForestClassifier` algorithm, written to the plugin's immutable
//! classifier file. Scoring is the plugin's `RandomForestClassifier` alone.
//!
//! Per tree (its own ChaCha8 stream of the seed): draw n rows with
//! replacement; grow depth-first, left subtree first. At a node, features are
//! drawn without replacement until `max_features` non-constant ones have been
//! tried; for each, rows are sorted by the feature's `f32` value and every
//! cut between distinct values that leaves `min_samples_leaf` rows per side
//! is scored by the weighted Gini impurity of the children. The best cut (the
//! first on ties) sets the threshold at the midpoint of the two values
//! (`x as f32 as f64 <= threshold` goes left). A node is a leaf at
//! `max_depth`, when pure, when it cannot be cut, or with fewer than
//! `2 × min_samples_leaf` rows. Every node stores its class fractions.

use edgeheal_plugin::classifier::{ClassifierFile, ClassifierTreeFile};
use edgeheal_plugin::verdict::Incident;
use ndarray::ArrayView2;

use crate::error::Error;
use crate::rng::SeededRng;

/// A feature whose range on a node is not above this is constant there.
const FEATURE_THRESHOLD: f32 = 1e-7;

/// How many features each split considers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxFeatures {
    /// `max(1, floor(sqrt(n_features)))` (scikit-learn's default).
    Sqrt,
    /// All features.
    All,
    /// A fixed number (capped at the number of features).
    Count(usize),
}

/// Hyperparameters of the incident classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomForestParams {
    /// Number of trees.
    pub n_estimators: usize,
    /// Depth limit (`None`: grow until pure or too small).
    pub max_depth: Option<usize>,
    /// Fewest rows a leaf may hold.
    pub min_samples_leaf: usize,
    /// Features tried per split.
    pub max_features: MaxFeatures,
    /// Draw each tree's rows with replacement.
    pub bootstrap: bool,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for RandomForestParams {
    fn default() -> Self {
        RandomForestParams {
            n_estimators: 50,
            max_depth: Some(10),
            min_samples_leaf: 2,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            seed: 0,
        }
    }
}

impl RandomForestParams {
    /// Default parameters with `seed`.
    pub fn with_seed(seed: u64) -> RandomForestParams {
        RandomForestParams {
            seed,
            ..RandomForestParams::default()
        }
    }

    /// Checks every parameter is in range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=1024).contains(&self.n_estimators) {
            return Err(Error::parameter(
                "n_estimators",
                format!("{} is not in 1..=1024", self.n_estimators),
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
        if self.min_samples_leaf == 0 {
            return Err(Error::parameter("min_samples_leaf", "must be at least 1"));
        }
        if self.max_features == MaxFeatures::Count(0) {
            return Err(Error::parameter("max_features", "must be at least 1"));
        }
        Ok(())
    }

    /// Fits the classifier on rows of `x` (the plugin's classifier features)
    /// labelled `y`, and returns the sealed model file named `name`. Classes
    /// are the incident kinds present in `y`, in [`Incident::CLASSES`] order.
    pub fn fit(
        &self,
        name: &str,
        x: ArrayView2<'_, f64>,
        y: &[Incident],
    ) -> Result<ClassifierFile, Error> {
        self.validate()?;
        let (n, d) = x.dim();
        let no_data = |problem: String| Error::NoData {
            what: "classifier".into(),
            problem,
        };
        if n == 0 || d == 0 {
            return Err(no_data(format!("{n} rows of {d} features")));
        }
        if y.len() != n {
            return Err(no_data(format!("{n} rows but {} labels", y.len())));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(no_data("a feature value is not finite".into()));
        }
        let classes: Vec<Incident> = Incident::CLASSES
            .into_iter()
            .chain([Incident::Unknown])
            .filter(|c| y.contains(c))
            .collect();
        let labels: Vec<usize> = y
            .iter()
            .map(|c| classes.iter().position(|k| k == c).unwrap_or(0))
            .collect();
        let columns: Vec<Vec<f32>> = (0..d)
            .map(|j| x.column(j).iter().map(|v| *v as f32).collect())
            .collect();
        let max_features = match self.max_features {
            MaxFeatures::Sqrt => ((d as f64).sqrt().floor() as usize).max(1),
            MaxFeatures::All => d,
            MaxFeatures::Count(k) => k.min(d),
        };
        let grower = Grower {
            columns: &columns,
            labels: &labels,
            n_classes: classes.len(),
            max_depth: self.max_depth.unwrap_or(edgeheal_plugin::tree::MAX_DEPTH),
            min_samples_leaf: self.min_samples_leaf,
            max_features,
        };
        let trees = (0..self.n_estimators)
            .map(|t| {
                let mut rng = SeededRng::new(self.seed, t as u64);
                let rows = if self.bootstrap {
                    rng.bootstrap(n)
                } else {
                    (0..n).collect()
                };
                grower.grow(rows, &mut rng)
            })
            .collect();
        let mut file = ClassifierFile::new(name, &classes, trees);
        file.seal();
        Ok(file)
    }
}

/// What every tree of one fit shares.
struct Grower<'a> {
    columns: &'a [Vec<f32>],
    labels: &'a [usize],
    n_classes: usize,
    max_depth: usize,
    min_samples_leaf: usize,
    max_features: usize,
}

struct Pending {
    parent: Option<(usize, bool)>,
    start: usize,
    end: usize,
    depth: usize,
}

impl Grower<'_> {
    fn counts(&self, rows: &[usize]) -> Vec<f64> {
        let mut c = vec![0.0; self.n_classes];
        for r in rows {
            c[self.labels[*r]] += 1.0;
        }
        c
    }

    fn grow(&self, mut rows: Vec<usize>, rng: &mut SeededRng) -> ClassifierTreeFile {
        let mut tree = ClassifierTreeFile {
            left: Vec::new(),
            right: Vec::new(),
            feature: Vec::new(),
            threshold: Vec::new(),
            value: Vec::new(),
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
            let slice = &mut rows[node.start..node.end];
            let n = slice.len();
            let counts = self.counts(slice);
            tree.value
                .push(counts.iter().map(|c| c / n as f64).collect());
            let pure = counts.iter().filter(|c| **c > 0.0).count() <= 1;
            let split = if node.depth >= self.max_depth || pure || n < 2 * self.min_samples_leaf {
                None
            } else {
                self.best_split(slice, &counts, rng)
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
            let col = &self.columns[feature];
            // Stable partition keeps the row order deterministic.
            let (l, r): (Vec<usize>, Vec<usize>) = slice
                .iter()
                .partition(|row| f64::from(col[**row]) <= threshold);
            let mid = node.start + l.len();
            for (dst, src) in slice.iter_mut().zip(l.into_iter().chain(r)) {
                *dst = src;
            }
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

    /// The best Gini cut over up to `max_features` random non-constant features.
    fn best_split(
        &self,
        rows: &[usize],
        total: &[f64],
        rng: &mut SeededRng,
    ) -> Option<(usize, f64)> {
        let n = rows.len();
        let mut candidates: Vec<usize> = (0..self.columns.len()).collect();
        let mut tried = 0;
        // (proxy, feature, threshold): maximize Σ_k (l_k² / n_l + r_k² / n_r).
        let mut best: Option<(f64, usize, f64)> = None;
        let mut sorted: Vec<(f32, usize)> = Vec::with_capacity(n);
        while tried < self.max_features && !candidates.is_empty() {
            let pick = rng.below(candidates.len());
            let feature = candidates.swap_remove(pick);
            let col = &self.columns[feature];
            sorted.clear();
            sorted.extend(rows.iter().map(|r| (col[*r], self.labels[*r])));
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (lo, hi) = (sorted[0].0, sorted[n - 1].0);
            if hi <= lo + FEATURE_THRESHOLD {
                continue;
            }
            tried += 1;
            let mut left = vec![0.0; self.n_classes];
            for p in 1..n {
                left[sorted[p - 1].1] += 1.0;
                if p < self.min_samples_leaf || n - p < self.min_samples_leaf {
                    continue;
                }
                let (a, b) = (sorted[p - 1].0, sorted[p].0);
                if b <= a + FEATURE_THRESHOLD {
                    continue;
                }
                let (nl, nr) = (p as f64, (n - p) as f64);
                let proxy: f64 = left
                    .iter()
                    .zip(total)
                    .map(|(l, t)| l * l / nl + (t - l) * (t - l) / nr)
                    .sum();
                if best.is_none_or(|(b, _, _)| proxy > b) {
                    let (a, b) = (f64::from(a), f64::from(b));
                    let mut threshold = a / 2.0 + b / 2.0;
                    if threshold == b || !threshold.is_finite() {
                        threshold = a;
                    }
                    best = Some((proxy, feature, threshold));
                }
            }
        }
        best.map(|(_, f, t)| (f, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeheal_plugin::classifier::RandomForestClassifier;
    use edgeheal_plugin::features::CLASSIFIER_LEN;
    use ndarray::Array2;

    /// Three classes, each lit up on its own feature, plus noise elsewhere.
    fn data(seed: u64) -> (Array2<f64>, Vec<Incident>) {
        let kinds = [
            Incident::CpuSaturation,
            Incident::TrafficSurge,
            Incident::CrashLoop,
        ];
        let signal = [0usize, 7, 15];
        let mut rng = SeededRng::new(seed, 0);
        let n = 300;
        let mut x = Array2::zeros((n, CLASSIFIER_LEN));
        let mut y = Vec::new();
        for i in 0..n {
            let k = i % 3;
            for j in 0..CLASSIFIER_LEN {
                x[[i, j]] = rng.uniform(-1.0, 1.0);
            }
            x[[i, signal[k]]] += 6.0;
            y.push(kinds[k]);
        }
        (x, y)
    }

    #[test]
    fn learns_separable_classes_and_round_trips() {
        let (x, y) = data(1);
        let file = RandomForestParams::with_seed(4)
            .fit("incident", x.view(), &y)
            .unwrap();
        assert_eq!(
            file.classes,
            vec!["cpu_saturation", "traffic_surge", "crash_loop"]
        );
        let bytes = file.to_json();
        let c = RandomForestClassifier::from_json(&bytes, "incident.json").unwrap();
        let direct = RandomForestClassifier::from_file(&file, "incident.json").unwrap();
        let (xt, yt) = data(2);
        let mut right = 0;
        for (row, want) in xt.rows().into_iter().zip(&yt) {
            let v: Vec<f64> = row.to_vec();
            let (got, p) = c.predict(&v);
            assert_eq!((got, p.to_bits()), {
                let (g, q) = direct.predict(&v);
                (g, q.to_bits())
            });
            right += usize::from(got == *want);
        }
        assert!(
            right as f64 / yt.len() as f64 > 0.95,
            "{right}/{}",
            yt.len()
        );
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (x, y) = data(3);
        let a = RandomForestParams::with_seed(1)
            .fit("i", x.view(), &y)
            .unwrap();
        let b = RandomForestParams::with_seed(1)
            .fit("i", x.view(), &y)
            .unwrap();
        let c = RandomForestParams::with_seed(2)
            .fit("i", x.view(), &y)
            .unwrap();
        assert_eq!(a.to_json(), b.to_json());
        assert_ne!(a.to_json(), c.to_json());
    }

    #[test]
    fn respects_depth_and_leaf_size() {
        let (x, y) = data(5);
        let p = RandomForestParams {
            max_depth: Some(2),
            min_samples_leaf: 10,
            ..RandomForestParams::with_seed(1)
        };
        let file = p.fit("i", x.view(), &y).unwrap();
        for t in &file.trees {
            assert!(t.left.len() <= 7);
            let sum: f64 = t.value[0].iter().sum();
            assert!((sum - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn rejects_bad_parameters_and_data() {
        let (x, y) = data(6);
        for (p, name) in [
            (
                RandomForestParams {
                    n_estimators: 0,
                    ..Default::default()
                },
                "n_estimators",
            ),
            (
                RandomForestParams {
                    max_depth: Some(0),
                    ..Default::default()
                },
                "max_depth",
            ),
            (
                RandomForestParams {
                    min_samples_leaf: 0,
                    ..Default::default()
                },
                "min_samples_leaf",
            ),
            (
                RandomForestParams {
                    max_features: MaxFeatures::Count(0),
                    ..Default::default()
                },
                "max_features",
            ),
        ] {
            let e = p.fit("i", x.view(), &y).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
        assert!(RandomForestParams::default()
            .fit("i", x.view(), &y[1..])
            .is_err());
    }
}
