//! Calibrating a family's thresholds on labelled data: the lowest warning
//! threshold whose alarms on fault-free time stay within a budget of false
//! alarms per entity-hour, then the event recall that threshold reaches on
//! the family's own incident windows; the critical threshold is the lowest
//! keeping false alarms within a tenth of the budget.
//!
//! Alarms are formed as [`crate::alarm`] says; an alarm is false when it
//! starts outside every labelled window of its entity (widened by `margin`
//! after the end, when the fault's after-effects fade).

use serde::Serialize;

use crate::alarm::{alarms, WindowIndex};
use crate::dataset::Window;

/// One entity's scores for one family, in time order.
#[derive(Debug, Clone, Default)]
pub struct ScoreSeries {
    /// Entity key (unique across data sets).
    pub entity: String,
    /// (time ns, score) of each warm evaluation.
    pub points: Vec<(i64, f64)>,
}

/// How thresholds are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationParams {
    /// False alarms per entity-hour the warning threshold may cause.
    pub false_alarm_budget: f64,
    /// Share of the budget the critical threshold may cause.
    pub critical_share: f64,
    /// Gap that ends an alarm, ns.
    pub gap_ns: i64,
    /// Time after a window's end still counted as the fault's, ns.
    pub margin_ns: i64,
    /// Time after a window's end in which a detection still counts, ns.
    pub grace_ns: i64,
}

/// What calibration chose and what it measured on the calibration data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibration {
    /// Warning threshold.
    pub warning: f64,
    /// Critical threshold.
    pub critical: f64,
    /// False alarms per fault-free entity-hour at `warning`.
    pub false_alarms_per_entity_hour: f64,
    /// Share of the family's own windows detected at `warning`.
    pub recall: Option<f64>,
    /// Number of the family's own windows.
    pub windows: usize,
}

fn false_alarm_rate(
    series: &[ScoreSeries],
    index: &WindowIndex,
    hours: f64,
    t: f64,
    p: &CalibrationParams,
) -> f64 {
    let mut n = 0usize;
    for s in series {
        let hot = s.points.iter().filter(|(_, v)| *v >= t).map(|(ts, _)| *ts);
        n += alarms(hot, p.gap_ns)
            .iter()
            .filter(|a| !index.contains(&s.entity, a.start_ns, 0, p.margin_ns))
            .count();
    }
    n as f64 / hours.max(1e-9)
}

/// Lowest candidate meeting `budget` (false alarms fall as the threshold
/// rises; a binary search over the sorted candidates).
fn lowest_within(candidates: &[f64], budget: f64, rate: impl Fn(f64) -> f64) -> f64 {
    let (mut lo, mut hi) = (0usize, candidates.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if rate(candidates[mid]) <= budget {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    candidates.get(lo).copied().unwrap_or(1.0)
}

/// The next `f64` above a non-negative finite `v`.
fn next_up(v: f64) -> f64 {
    if v >= 0.0 {
        f64::from_bits(v.to_bits() + 1)
    } else {
        v
    }
}

/// Calibrates one family. `own` are the windows of the incident kinds the
/// family speaks for (for recall), `index` every labelled window, `hours` the
/// fault-free entity-hours of the data.
pub fn calibrate(
    series: &[ScoreSeries],
    own: &[(String, Window)],
    index: &WindowIndex,
    hours: f64,
    p: &CalibrationParams,
) -> Calibration {
    // Candidates: the fault-free scores (the rate only changes there), plus 1.
    let mut candidates: Vec<f64> = series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .filter(|(ts, _)| !index.contains(&s.entity, *ts, 0, p.margin_ns))
                .map(|(_, v)| *v)
        })
        .collect();
    // Just above each score too: `score >= t` changes there.
    let above: Vec<f64> = candidates.iter().map(|v| next_up(*v)).collect();
    candidates.extend(above);
    candidates.push(1.0);
    candidates.retain(|v| v.is_finite() && *v <= 1.0);
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    // Only the top of the distribution matters; keep the search short.
    let skip = candidates.len().saturating_sub(20_000);
    let candidates = &candidates[skip..];
    let rate = |t: f64| false_alarm_rate(series, index, hours, t, p);
    let warning = lowest_within(candidates, p.false_alarm_budget, rate);
    let critical =
        lowest_within(candidates, p.false_alarm_budget * p.critical_share, rate).max(warning);
    let detected = own
        .iter()
        .filter(|(entity, w)| {
            series.iter().filter(|s| &s.entity == entity).any(|s| {
                s.points.iter().any(|(ts, v)| {
                    *v >= warning && *ts >= w.start_ns && *ts <= w.end_ns + p.grace_ns
                })
            })
        })
        .count();
    Calibration {
        warning,
        critical,
        false_alarms_per_entity_hour: rate(warning),
        recall: (!own.is_empty()).then(|| detected as f64 / own.len() as f64),
        windows: own.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeheal_plugin::verdict::Incident;

    const S: i64 = 1_000_000_000;

    #[test]
    fn picks_the_lowest_threshold_within_budget_and_measures_recall() {
        // One hour of evaluations every 15 s at 0.4, two fault-free blips
        // (0.6 and 0.7) and a window scoring 0.8.
        let mut points: Vec<(i64, f64)> = (0..240).map(|i| (i * 15 * S, 0.4)).collect();
        points[10].1 = 0.6;
        points[100].1 = 0.7;
        points[200].1 = 0.8;
        let series = vec![ScoreSeries {
            entity: "0:a/b".into(),
            points,
        }];
        let w = Window {
            id: "w".into(),
            incident: Incident::CpuSaturation,
            start_ns: 199 * 15 * S,
            end_ns: 205 * 15 * S,
            entity: "a/b".into(),
            pod: None,
        };
        let mut index = WindowIndex::default();
        index.add("0:a/b", w.start_ns, w.end_ns);
        let p = CalibrationParams {
            false_alarm_budget: 1.0,
            critical_share: 0.1,
            gap_ns: 60 * S,
            margin_ns: 0,
            grace_ns: 60 * S,
        };
        let c = calibrate(&series, &[("0:a/b".into(), w)], &index, 1.0, &p);
        // Budget 1/h: the 0.6 blip alone would be two alarms; 0.7 is one.
        assert_eq!(c.warning, next_up(0.6));
        assert_eq!(c.false_alarms_per_entity_hour, 1.0);
        assert_eq!(c.recall, Some(1.0));
        assert_eq!(c.critical, next_up(0.7));
    }
}
