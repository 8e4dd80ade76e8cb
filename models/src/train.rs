//! `edgeheal train`: labelled runs in, a model set out.
//!
//! 1. Replay each run through a model-less [`Filter`] recording every family
//!    evaluation (the edge's own features).
//! 2. Per family, fit an isolation forest on the warm evaluations outside
//!    every labelled window of their workload (and a margin after it).
//! 3. Calibrate each family's thresholds on the labelled runs ([`calibrate`]).
//! 4. Replay again with the forests alone; at records whose verdict is a
//!    candidate (some family at or above its warning threshold) and whose
//!    entity state just changed, take the classifier's combined features,
//!    labelled by the window's kind when inside exactly one kind of labelled
//!    window, or `unknown` when on fault-free time, and fit the classifier.
//!    At the edge it confirms warning-level candidates or vetoes them
//!    ([`edgeheal_plugin::scorer::verdict`]), so the warning thresholds can
//!    sit below the scores the forests saturate at on fault-free data.
//! 5. Write one file per model and `manifest.json` (seed, data digests,
//!    parameters, thresholds, calibration figures).
//!
//! The output is a pure function of the data bytes, the seed and the
//! parameters: retraining reproduces every file byte for byte.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use edgeheal_plugin::features::{self, CLASSIFIER_LEN};
use edgeheal_plugin::forest::IsolationForest;
use edgeheal_plugin::manifest::{Manifest, Role, MANIFEST};
use edgeheal_plugin::model::{ModelSet, Thresholds};
use edgeheal_plugin::verdict::{Family, Incident};
use edgeheal_plugin::{Filter, FilterConfig};
use ndarray::Array2;
use serde_json::{json, Map, Value};

use crate::alarm::{WindowIndex, DEFAULT_GAP_NS};
use crate::calibrate::{calibrate, Calibration, CalibrationParams, ScoreSeries};
use crate::dataset::{Dataset, Window};
use crate::error::Error;
use crate::isolation::IsolationForestParams;
use crate::random_forest::RandomForestParams;
use crate::replay::replay;

/// File name of the classifier in a model set.
pub const CLASSIFIER_FILE: &str = "incident.json";

/// Everything `edgeheal train` needs.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Labelled runs to train and calibrate on.
    pub data: Vec<PathBuf>,
    /// Seed of every random draw.
    pub seed: u64,
    /// Name of the model set (the part of its id before `@`).
    pub name: String,
    /// The edge filter's configuration (window geometry, warm-up).
    pub filter: FilterConfig,
    /// Forest hyperparameters (their `seed` is derived from `seed`).
    pub forest: IsolationForestParams,
    /// Classifier hyperparameters (their `seed` is derived from `seed`).
    pub classifier: RandomForestParams,
    /// False alarms per entity-hour each family's warning (candidate)
    /// threshold may cause before the classifier's veto.
    pub false_alarm_budget: f64,
    /// False alarms per entity-hour each family's critical threshold (which
    /// the classifier vetoes only when it finds fault-free time more likely
    /// than not) may cause.
    pub critical_budget: f64,
    /// Time after a window still counted as faulty, seconds.
    pub margin_s: u32,
    /// Time after a window's end in which a detection still counts, seconds.
    pub grace_s: u32,
}

impl TrainConfig {
    /// The defaults for `data` and `seed`.
    pub fn new(data: Vec<PathBuf>, seed: u64) -> TrainConfig {
        TrainConfig {
            data,
            seed,
            name: "default".into(),
            filter: FilterConfig::default(),
            forest: IsolationForestParams::default(),
            classifier: RandomForestParams::default(),
            false_alarm_budget: 0.3,
            critical_budget: 0.01,
            margin_s: 300,
            grace_s: 60,
        }
    }
}

/// A trained model set: file names and bytes, manifest last.
#[derive(Debug, Clone)]
pub struct TrainedSet {
    /// (file name, bytes), model files then `manifest.json`.
    pub files: Vec<(String, Vec<u8>)>,
    /// Per-family calibration.
    pub calibration: BTreeMap<&'static str, Calibration>,
    /// Rows the classifier was fitted on.
    pub classifier_rows: usize,
}

impl TrainedSet {
    /// Writes every file into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        for (name, bytes) in &self.files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(Error::io(&path))?;
        }
        Ok(())
    }

    /// Loads the set the way the plugin does.
    pub fn model_set(&self) -> Result<ModelSet, Error> {
        let manifest = self.file(MANIFEST).unwrap_or_default();
        Ok(ModelSet::from_manifest(manifest, |p| self.file(p))?)
    }

    /// The bytes of one file.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
}

/// One recorded family evaluation.
struct Point {
    entity: u32,
    ts: i64,
    features: [f64; features::MAX_FAMILY_FEATURES],
}

/// What the first replay collects.
#[derive(Default)]
struct Collected {
    entities: Vec<String>,
    entity_ids: HashMap<String, u32>,
    spans: Vec<(i64, i64)>,
    points: [Vec<Point>; 6],
}

impl Collected {
    fn entity(&mut self, key: String, ts: i64) -> u32 {
        let id = match self.entity_ids.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.entities.len() as u32;
                self.entity_ids.insert(key.clone(), id);
                self.entities.push(key);
                self.spans.push((ts, ts));
                id
            }
        };
        let span = &mut self.spans[id as usize];
        span.0 = span.0.min(ts);
        span.1 = span.1.max(ts);
        id
    }
}

/// Entity key unique across data sets: `<data set index>:<namespace/workload>`.
fn key(set: usize, entity: &str) -> String {
    format!("{set}:{entity}")
}

/// Trains a model set from `cfg.data`.
pub fn train(cfg: &TrainConfig) -> Result<TrainedSet, Error> {
    if cfg.data.is_empty() {
        return Err(Error::parameter("data", "no data directory given"));
    }
    if !(cfg.false_alarm_budget.is_finite() && cfg.false_alarm_budget > 0.0) {
        return Err(Error::parameter("false_alarm_budget", "must be positive"));
    }
    if !(cfg.critical_budget.is_finite()
        && cfg.critical_budget > 0.0
        && cfg.critical_budget <= cfg.false_alarm_budget)
    {
        return Err(Error::parameter(
            "critical_budget",
            "must be positive and at most false_alarm_budget",
        ));
    }
    cfg.filter
        .validate()
        .map_err(|e| Error::parameter("filter", e.to_string()))?;
    let sets: Vec<Dataset> = cfg
        .data
        .iter()
        .map(|d| Dataset::open(d))
        .collect::<Result<_, _>>()?;
    let margin_ns = i64::from(cfg.margin_s) * 1_000_000_000;
    let grace_ns = i64::from(cfg.grace_s) * 1_000_000_000;

    let mut index = WindowIndex::default();
    let mut windows: Vec<(String, Window)> = Vec::new();
    for (i, d) in sets.iter().enumerate() {
        for w in d.windows() {
            let k = key(i, &w.entity);
            index.add(&k, w.start_ns, w.end_ns);
            windows.push((k, w.clone()));
        }
    }

    // 1. Evaluations from the edge's own feature code.
    let mut c = Collected::default();
    for (i, d) in sets.iter().enumerate() {
        let mut filter = Filter::new(cfg.filter.clone(), None);
        filter.record_evaluations(true);
        replay(d, &mut filter, "features", |step| {
            let Some(entity) = step.entity else { return };
            let ts = step.observation.ts_ns;
            let id = c.entity(key(i, entity), ts);
            for e in step.filter.evaluations() {
                if e.warm {
                    c.points[e.family.index()].push(Point {
                        entity: id,
                        ts: e.ts_ns,
                        features: e.features,
                    });
                }
            }
        })?;
    }
    let mut fault_free_ns: i64 = 0;
    for (k, (from, to)) in c.entities.iter().zip(&c.spans) {
        fault_free_ns += (to - from) - index.covered_ns(k, *from, *to, margin_ns);
    }
    let hours = fault_free_ns as f64 / 3.6e12;

    // 2 + 3. Forests and thresholds, per family.
    let params = CalibrationParams {
        false_alarm_budget: cfg.false_alarm_budget,
        critical_share: cfg.critical_budget / cfg.false_alarm_budget,
        gap_ns: DEFAULT_GAP_NS,
        margin_ns,
        grace_ns,
    };
    let mut forests = Vec::new();
    let mut forest_files = Vec::new();
    let mut calibration = BTreeMap::new();
    let mut fit_rows = Map::new();
    for family in Family::ALL {
        let points = &c.points[family.index()];
        let width = features::names(family).len();
        let clean: Vec<&Point> = points
            .iter()
            .filter(|p| !index.contains(&c.entities[p.entity as usize], p.ts, 0, margin_ns))
            .collect();
        if clean.len() < 2 {
            continue;
        }
        let x = Array2::from_shape_fn((clean.len(), width), |(r, j)| clean[r].features[j]);
        let forest_params = IsolationForestParams {
            seed: cfg
                .seed
                .wrapping_mul(31)
                .wrapping_add(family.index() as u64),
            ..cfg.forest
        };
        let fitted = forest_params.fit(x.view())?;
        let scorer = fitted.scorer(family)?;
        let mut by_entity: BTreeMap<u32, Vec<(i64, f64)>> = BTreeMap::new();
        for p in points {
            by_entity.entry(p.entity).or_default().push((p.ts, {
                let x = &p.features[..width];
                features::family_score(family, x, scorer.score(x))
            }));
        }
        let series: Vec<ScoreSeries> = by_entity
            .into_iter()
            .map(|(e, points)| ScoreSeries {
                entity: c.entities[e as usize].clone(),
                points,
            })
            .collect();
        let own: Vec<(String, Window)> = windows
            .iter()
            .filter(|(_, w)| w.incident.family() == Some(family))
            .cloned()
            .collect();
        let cal = calibrate(&series, &own, &index, hours, &params);
        let file = fitted.to_file(
            family,
            Thresholds {
                warning: cal.warning,
                critical: cal.critical,
            },
        )?;
        forests.push(IsolationForest::from_file(&file, family.as_str())?);
        forest_files.push((family, file));
        calibration.insert(family.as_str(), cal);
        fit_rows.insert(family.as_str().into(), Value::from(clean.len()));
    }
    if forests.is_empty() {
        return Err(Error::NoData {
            what: "model set".into(),
            problem: "no family has fault-free warm evaluations".into(),
        });
    }

    // 4. The classifier, on anomalous verdicts inside labelled windows.
    let detector = ModelSet::from_parts(format!("{}@training", cfg.name), forests, None)?;
    let mut rows: Vec<[f64; CLASSIFIER_LEN]> = Vec::new();
    let mut labels: Vec<Incident> = Vec::new();
    for (i, d) in sets.iter().enumerate() {
        let mut filter = Filter::new(cfg.filter.clone(), Some(detector.clone()));
        filter.record_evaluations(true);
        replay(d, &mut filter, "classifier", |step| {
            let (Some(entity), true) = (step.entity, step.verdict.anomaly) else {
                return;
            };
            if step.filter.evaluations().is_empty() {
                return;
            }
            let ts = step.observation.ts_ns;
            let k = key(i, entity);
            let mut kinds = windows
                .iter()
                .filter(|(wk, w)| *wk == k && ts >= w.start_ns && ts <= w.end_ns)
                .map(|(_, w)| w.incident);
            let label = match kinds.next() {
                Some(first) if kinds.all(|other| other == first) => first,
                Some(_) => return,
                // A candidate on fault-free time (outside every window and
                // its after-effects): what the classifier must veto.
                None if !index.contains(&k, ts, 0, margin_ns) => Incident::Unknown,
                None => return,
            };
            rows.push(step.filter.last_combined().features);
            labels.push(label);
        })?;
    }
    let classifier = if rows.is_empty() {
        None
    } else {
        let x = Array2::from_shape_fn((rows.len(), CLASSIFIER_LEN), |(r, j)| rows[r][j]);
        let params = RandomForestParams {
            seed: cfg.seed.wrapping_mul(31).wrapping_add(97),
            ..cfg.classifier
        };
        Some(params.fit("incident", x.view(), &labels)?)
    };

    // 5. Files and manifest.
    let mut manifest = Manifest::new(cfg.name.clone());
    let mut files = Vec::new();
    for (family, file) in &forest_files {
        let name = format!("{}.json", family.as_str());
        let bytes = file.to_json();
        manifest.add_file(name.clone(), &bytes, Role::Forest, Some(*family));
        files.push((name, bytes));
    }
    if let Some(file) = &classifier {
        let bytes = file.to_json();
        manifest.add_file(CLASSIFIER_FILE, &bytes, Role::Classifier, None);
        files.push((CLASSIFIER_FILE.to_owned(), bytes));
    }
    let mut data = Vec::new();
    for d in &sets {
        data.push(json!({
            "run": d.description(),
            "generation": d.generation(),
            "sha256": d.digest()?,
            "windows": d.windows().len(),
        }));
    }
    let mut class_counts = BTreeMap::new();
    for l in &labels {
        *class_counts.entry(l.as_str()).or_insert(0usize) += 1;
    }
    let t = &mut manifest.training;
    t.insert("seed".into(), json!(cfg.seed));
    t.insert("data".into(), Value::Array(data));
    t.insert(
        "trainer".into(),
        json!(format!("edgeheal-models {}", env!("CARGO_PKG_VERSION"))),
    );
    t.insert(
        "forest".into(),
        json!({
            "algorithm": "isolation forest (scikit-learn)",
            "n_estimators": cfg.forest.n_estimators,
            "max_samples": cfg.forest.max_samples,
            "fit_rows": fit_rows,
        }),
    );
    t.insert(
        "classifier".into(),
        json!({
            "algorithm": "random forest (CART, gini, bootstrap, sqrt features)",
            "n_estimators": cfg.classifier.n_estimators,
            "max_depth": cfg.classifier.max_depth,
            "min_samples_leaf": cfg.classifier.min_samples_leaf,
            "rows": class_counts,
        }),
    );
    t.insert(
        "calibration".into(),
        json!({
            "false_alarm_budget_per_family": cfg.false_alarm_budget,
            "critical_budget_per_family": cfg.critical_budget,
            "margin_s": cfg.margin_s,
            "grace_s": cfg.grace_s,
            "alarm_gap_s": DEFAULT_GAP_NS / 1_000_000_000,
            "fault_free_entity_hours": hours,
            "families": calibration,
        }),
    );
    t.insert("filter".into(), filter_json(&cfg.filter));
    let bytes = manifest.to_json();
    files.push((MANIFEST.to_owned(), bytes));
    Ok(TrainedSet {
        files,
        calibration,
        classifier_rows: rows.len(),
    })
}

fn filter_json(f: &FilterConfig) -> Value {
    json!({
        "bucket_seconds": f.bucket_seconds,
        "window_buckets": f.window_buckets,
        "baseline_half_life": f.baseline_half_life,
        "warmup": f.warmup,
        "restart_window_seconds": f.restart_window_seconds,
    })
}
