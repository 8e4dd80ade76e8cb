//! Alarms: what an operator (or the healer's dedupe) sees of a stream of
//! anomaly tags. For one entity, anomalous points closer than `gap` merge into
//! one alarm; an alarm starts at its first anomalous point. The same rule
//! serves calibration (on family evaluations), evaluation (on tagged records)
//! and the baselines, so their figures compare.

use std::collections::HashMap;

/// Default gap that ends an alarm: 60 s (4 scrape intervals).
pub const DEFAULT_GAP_NS: i64 = 60_000_000_000;

/// One alarm for one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm {
    /// First anomalous point, ns.
    pub start_ns: i64,
    /// Last anomalous point, ns.
    pub end_ns: i64,
}

/// Merges time-ordered anomalous timestamps into alarms.
pub fn alarms(anomalous: impl IntoIterator<Item = i64>, gap_ns: i64) -> Vec<Alarm> {
    let mut out: Vec<Alarm> = Vec::new();
    for ts in anomalous {
        match out.last_mut() {
            Some(a) if ts - a.end_ns <= gap_ns => a.end_ns = a.end_ns.max(ts),
            _ => out.push(Alarm {
                start_ns: ts,
                end_ns: ts,
            }),
        }
    }
    out
}

/// Labelled intervals per entity, for fast "is this inside a window" checks.
#[derive(Debug, Clone, Default)]
pub struct WindowIndex {
    by_entity: HashMap<String, Vec<(i64, i64)>>,
}

impl WindowIndex {
    /// Adds the interval `[start, end]` for `entity`.
    pub fn add(&mut self, entity: &str, start_ns: i64, end_ns: i64) {
        self.by_entity
            .entry(entity.to_owned())
            .or_default()
            .push((start_ns, end_ns));
    }

    /// Whether `ts` lies in one of `entity`'s intervals widened by `before`
    /// and `after`.
    pub fn contains(&self, entity: &str, ts: i64, before_ns: i64, after_ns: i64) -> bool {
        self.by_entity.get(entity).is_some_and(|v| {
            v.iter()
                .any(|(s, e)| ts >= s - before_ns && ts <= e + after_ns)
        })
    }

    /// Total length of the union of `entity`'s intervals (each widened by
    /// `after`) inside `[from, to]`, ns.
    pub fn covered_ns(&self, entity: &str, from: i64, to: i64, after_ns: i64) -> i64 {
        let Some(v) = self.by_entity.get(entity) else {
            return 0;
        };
        let mut spans: Vec<(i64, i64)> = v
            .iter()
            .map(|(s, e)| ((*s).max(from), (e + after_ns).min(to)))
            .filter(|(s, e)| e > s)
            .collect();
        spans.sort_unstable();
        let mut total = 0;
        let mut cur: Option<(i64, i64)> = None;
        for (s, e) in spans {
            match cur {
                Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
                Some((cs, ce)) => {
                    total += ce - cs;
                    cur = Some((s, e));
                }
                None => cur = Some((s, e)),
            }
        }
        if let Some((cs, ce)) = cur {
            total += ce - cs;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case<'a> = (&'a [i64], &'a [(i64, i64)]);

    #[test]
    fn points_closer_than_the_gap_merge() {
        let cases: &[Case<'_>] = &[
            (&[], &[]),
            (&[5], &[(5, 5)]),
            (&[0, 10, 20, 100, 105], &[(0, 20), (100, 105)]),
            (&[0, 30, 61], &[(0, 30), (61, 61)]),
        ];
        for (points, want) in cases {
            let got: Vec<(i64, i64)> = alarms(points.iter().copied(), 30)
                .iter()
                .map(|a| (a.start_ns, a.end_ns))
                .collect();
            assert_eq!(&got, want, "{points:?}");
        }
    }

    #[test]
    fn coverage_is_the_union_of_widened_windows() {
        let mut w = WindowIndex::default();
        w.add("a", 10, 20);
        w.add("a", 15, 30);
        w.add("a", 50, 60);
        assert_eq!(w.covered_ns("a", 0, 100, 0), 30);
        assert_eq!(w.covered_ns("a", 0, 100, 5), 25 + 15);
        assert_eq!(w.covered_ns("a", 0, 55, 0), 25);
        assert_eq!(w.covered_ns("b", 0, 100, 0), 0);
        assert!(w.contains("a", 32, 0, 2));
        assert!(!w.contains("a", 33, 0, 2));
        assert!(w.contains("a", 8, 2, 0));
    }
}
