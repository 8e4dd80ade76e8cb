//! The raw isolation-forest baseline: one isolation forest per metric type on
//! raw values pooled over all workloads — no per-entity baselines — fitted
//! with the crate's own [`IsolationForestParams`] on fault-free training rows
//! and calibrated with the edge's own [`calibrate`] (the same false-alarm
//! budget per family). Only the features differ from the edge's models.
//!
//! Features per type (the family whose incident a firing forest names):
//! cpu: cores; memory: working-set bytes; traffic: request rate; errors:
//! error ratio; latency: p50 and p95 ms; restarts: restarts, `BackOff`,
//! `OOMKilled` in the restart window.

use std::collections::BTreeMap;

use edgeheal_plugin::forest::{average_path_length, isolation_score, IsolationTreeFile};
use edgeheal_plugin::verdict::{Family, Incident};
use ndarray::Array2;
use serde::Serialize;

use super::raw::{RawRow, RawRun};
use crate::alarm::{WindowIndex, DEFAULT_GAP_NS};
use crate::calibrate::{calibrate, CalibrationParams, ScoreSeries};
use crate::dataset::Window;
use crate::error::Error;
use crate::isolation::IsolationForestParams;

const NS: i64 = 1_000_000_000;

/// The raw features of one family in `row`, when the row has them.
pub fn raw_features(family: Family, row: &RawRow) -> Option<Vec<f64>> {
    match family {
        Family::Cpu => row.cpu_cores.map(|v| vec![v]),
        Family::Memory => row.mem_bytes.map(|v| vec![v]),
        Family::Traffic => row.request_rate.map(|v| vec![v]),
        Family::Errors => row.error_ratio.map(|v| vec![v]),
        Family::Latency => match (row.latency_p50_ms, row.latency_p95_ms) {
            (Some(a), Some(b)) => Some(vec![a, b]),
            _ => None,
        },
        Family::Restarts => Some(vec![row.restarts, row.backoffs, row.oom_kills]),
    }
}

/// An isolation forest on raw values, scored the scikit-learn way
/// (`2^(-E[h(x)] / c(ψ))`, rows compared as `f32` like its trees).
#[derive(Debug, Clone)]
pub struct RawForest {
    trees: Vec<IsolationTreeFile>,
    denominator: f64,
    /// Calibrated warning threshold on the score.
    pub threshold: f64,
}

impl RawForest {
    /// Anomaly score of `x` in (0, 1].
    pub fn score(&self, x: &[f64]) -> f64 {
        let mut depths = 0.0;
        for t in &self.trees {
            let mut node = 0usize;
            let mut depth = 0usize;
            while let (Some(&l), Some(&r)) = (t.left.get(node), t.right.get(node)) {
                if l < 0 || r < 0 {
                    break;
                }
                let f = usize::try_from(t.feature[node]).unwrap_or(0);
                let v = f64::from(x.get(f).copied().unwrap_or(0.0) as f32);
                node = if v <= t.threshold[node] {
                    l as usize
                } else {
                    r as usize
                };
                depth += 1;
            }
            let n = f64::from(t.n_samples.get(node).copied().unwrap_or(1));
            depths += (depth + 1) as f64 + average_path_length(n) - 1.0;
        }
        isolation_score(depths, self.denominator)
    }
}

/// What fitting measured, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct RawFamilyFit {
    /// Fault-free rows the forest was fitted on.
    pub fit_rows: usize,
    /// Calibrated threshold.
    pub threshold: f64,
    /// False alarms per entity-hour on the training data at the threshold.
    pub false_alarms_per_entity_hour: f64,
}

/// The fitted baseline: a forest per family that had fault-free rows.
#[derive(Debug, Clone, Default)]
pub struct RawForests {
    /// Family → forest.
    pub forests: BTreeMap<Family, RawForest>,
    /// Family → fit figures.
    pub fits: BTreeMap<&'static str, RawFamilyFit>,
}

impl RawForests {
    /// Fits on training `runs` with their labelled `windows` (keys as in
    /// the runs), `seed` for the forests and the edge's false-alarm budget.
    pub fn fit(
        runs: &RawRun,
        windows: &[(String, Window)],
        seed: u64,
        false_alarm_budget: f64,
    ) -> Result<RawForests, Error> {
        let margin_ns = 300 * NS;
        let mut index = WindowIndex::default();
        for (k, w) in windows {
            index.add(k, w.start_ns, w.end_ns);
        }
        let mut fault_free_ns = 0i64;
        for (k, rows) in runs {
            if let (Some(a), Some(b)) = (rows.first(), rows.last()) {
                fault_free_ns +=
                    (b.ts_ns - a.ts_ns) - index.covered_ns(k, a.ts_ns, b.ts_ns, margin_ns);
            }
        }
        let hours = fault_free_ns as f64 / 3.6e12;
        let params = CalibrationParams {
            false_alarm_budget,
            critical_share: 0.1,
            gap_ns: DEFAULT_GAP_NS,
            margin_ns,
            grace_ns: 60 * NS,
        };
        let mut out = RawForests::default();
        for family in Family::ALL {
            let mut clean: Vec<Vec<f64>> = Vec::new();
            for (k, rows) in runs {
                for r in rows {
                    if index.contains(k, r.ts_ns, 0, margin_ns) {
                        continue;
                    }
                    if let Some(x) =
                        raw_features(family, r).filter(|x| x.iter().all(|v| v.is_finite()))
                    {
                        clean.push(x);
                    }
                }
            }
            if clean.len() < 2 {
                continue;
            }
            let width = clean[0].len();
            let x = Array2::from_shape_fn((clean.len(), width), |(r, j)| clean[r][j]);
            let fitted = IsolationForestParams::with_seed(
                seed.wrapping_mul(31).wrapping_add(family.index() as u64),
            )
            .fit(x.view())?;
            let mut forest = RawForest {
                trees: fitted.trees().to_vec(),
                denominator: fitted.trees().len() as f64
                    * average_path_length(f64::from(fitted.max_samples())),
                threshold: 1.0,
            };
            let series: Vec<ScoreSeries> = runs
                .iter()
                .map(|(k, rows)| ScoreSeries {
                    entity: k.clone(),
                    points: rows
                        .iter()
                        .filter_map(|r| {
                            raw_features(family, r).map(|x| (r.ts_ns, forest.score(&x)))
                        })
                        .collect(),
                })
                .collect();
            let own: Vec<(String, Window)> = windows
                .iter()
                .filter(|(_, w)| w.incident.family() == Some(family))
                .cloned()
                .collect();
            let cal = calibrate(&series, &own, &index, hours, &params);
            forest.threshold = cal.warning;
            out.fits.insert(
                family.as_str(),
                RawFamilyFit {
                    fit_rows: clean.len(),
                    threshold: cal.warning,
                    false_alarms_per_entity_hour: cal.false_alarms_per_entity_hour,
                },
            );
            out.forests.insert(family, forest);
        }
        if out.forests.is_empty() {
            return Err(Error::NoData {
                what: "raw isolation forests".into(),
                problem: "no metric type has fault-free rows".into(),
            });
        }
        Ok(out)
    }

    /// The incident the forests name for `row` (the family whose score is
    /// furthest above its threshold), or `None` when none fires.
    pub fn fire(&self, row: &RawRow) -> Option<Incident> {
        let mut best: Option<(f64, Family)> = None;
        for (family, forest) in &self.forests {
            let Some(x) = raw_features(*family, row) else {
                continue;
            };
            let s = forest.score(&x);
            if s >= forest.threshold {
                let excess = s - forest.threshold;
                if best.is_none_or(|(e, _)| excess > e) {
                    best = Some((excess, *family));
                }
            }
        }
        best.map(|(_, f)| f.incident())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_the_plugin_scorer_on_the_same_trees() {
        // A forest as wide as the errors family, scored both ways.
        let family = Family::Errors;
        let width = edgeheal_plugin::features::names(family).len();
        let x = Array2::from_shape_fn((300, width), |(r, j)| {
            ((r * 7 + j * 13) % 101) as f64 / 10.0
        });
        let fitted = IsolationForestParams::with_seed(5).fit(x.view()).unwrap();
        let plugin = fitted.scorer(family).unwrap();
        let raw = RawForest {
            trees: fitted.trees().to_vec(),
            denominator: fitted.trees().len() as f64
                * average_path_length(f64::from(fitted.max_samples())),
            threshold: 1.0,
        };
        let probes: [&[f64]; 4] = [
            &[0.0, 0.0, 0.0, 0.0],
            &[5.0, 5.0, 5.0, 5.0],
            &[100.0, -3.0, 2.5, 7.0],
            &[1.3, 9.9, 0.1, -1.0],
        ];
        for probe in probes {
            let probe = &probe[..width.min(probe.len())];
            let (a, b) = (raw.score(probe), plugin.score(probe));
            assert!((a - b).abs() < 1e-12, "{probe:?}: {a} vs {b}");
        }
    }
}
