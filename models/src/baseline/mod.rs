//! Baselines `edgeheal eval` compares the edge models against, scored on the
//! same runs by the same event-level rules ([`score_detections`]):
//!
//! - [`static_rules`]: fixed global thresholds on raw values (an HPA target
//!   or an alert rule); needs no training;
//! - [`raw_forest`]: isolation forests on raw values per metric type, pooled
//!   over workloads without per-entity baselines, fitted on the fault-free
//!   time of separate training runs (`edgeheal eval --baseline-train DIR`).
//!
//! Both read the raw per-workload, per-interval signals of [`raw`].

pub mod raw;
pub mod raw_forest;
pub mod static_rules;

use edgeheal_plugin::verdict::Incident;

use crate::dataset::{Dataset, Window};
use crate::error::Error;
use crate::evaluate::{score_detections, Detections, EvalConfig, Metrics};
use raw::{raw_rows, RawConfig, RawRow, RawRun};
use raw_forest::RawForests;
use static_rules::StaticThresholds;

/// Raw rows of several runs (keys prefixed with the run's index) and their
/// labelled windows.
#[derive(Debug, Clone, Default)]
pub struct RawRuns {
    /// Workload key → rows.
    pub rows: RawRun,
    /// (workload key, window).
    pub windows: Vec<(String, Window)>,
    /// Scrape interval of the first run, seconds.
    pub interval_s: u32,
}

impl RawRuns {
    /// Aggregates `sets` with `cfg`.
    pub fn read(sets: &[Dataset], cfg: &RawConfig) -> Result<RawRuns, Error> {
        let mut out = RawRuns {
            interval_s: sets.first().map_or(15, Dataset::interval_s),
            ..RawRuns::default()
        };
        for (i, set) in sets.iter().enumerate() {
            for w in set.windows() {
                out.windows.push((format!("{i}:{}", w.entity), w.clone()));
            }
            out.rows.extend(raw_rows(set, i, cfg)?);
        }
        Ok(out)
    }

    /// What a row-by-row detector flags.
    pub fn detections(&self, fire: impl Fn(&RawRow) -> Option<Incident>) -> Detections {
        let mut d = Detections::default();
        for (k, rows) in &self.rows {
            for r in rows {
                d.see(k, r.ts_ns, fire(r));
            }
        }
        d
    }

    /// Event-level metrics of a row-by-row detector.
    pub fn score(&self, fire: impl Fn(&RawRow) -> Option<Incident>, cfg: &EvalConfig) -> Metrics {
        score_detections(&self.detections(fire), &self.windows, self.interval_s, cfg)
    }
}

/// Both baselines measured on evaluation runs.
#[derive(Debug, Clone)]
pub struct BaselineMetrics {
    /// The raw aggregation's windows.
    pub raw: RawConfig,
    /// The static thresholds used.
    pub thresholds: StaticThresholds,
    /// Static-threshold figures.
    pub static_thresholds: Metrics,
    /// The raw forests (when training runs were given).
    pub raw_forests: Option<RawForests>,
    /// Raw isolation-forest figures (when training runs were given).
    pub raw_isolation_forest: Option<Metrics>,
}

/// Seed of the raw forests (fixed: the baseline is not tuned by seed).
pub const RAW_FOREST_SEED: u64 = 7;

/// Measures both baselines on `sets`; the raw forests are fitted on `train`
/// (skipped when it is empty) with the edge's default false-alarm budget.
pub fn evaluate_baselines(
    sets: &[Dataset],
    train: &[Dataset],
    cfg: &EvalConfig,
) -> Result<BaselineMetrics, Error> {
    let raw_cfg = RawConfig {
        window_intervals: cfg.filter.window_buckets.max(1),
        restart_window_s: cfg.filter.restart_window_seconds,
    };
    let eval = RawRuns::read(sets, &raw_cfg)?;
    let thresholds = StaticThresholds::default();
    let static_thresholds = eval.score(|r| thresholds.fire(r), cfg);
    let (raw_forests, raw_isolation_forest) = if train.is_empty() {
        (None, None)
    } else {
        let t = RawRuns::read(train, &raw_cfg)?;
        let forests = RawForests::fit(&t.rows, &t.windows, RAW_FOREST_SEED, 0.01)?;
        let m = eval.score(|r| forests.fire(r), cfg);
        (Some(forests), Some(m))
    };
    Ok(BaselineMetrics {
        raw: raw_cfg,
        thresholds,
        static_thresholds,
        raw_forests,
        raw_isolation_forest,
    })
}
