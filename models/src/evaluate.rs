//! `edgeheal eval`: event-level quality of a model set on labelled runs,
//! measured on what the edge emits — the full [`Filter`] with the models,
//! record by record, exactly as in the pipeline.
//!
//! Definitions (also written to `report.md`):
//! - an *alarm* is a run of anomaly-tagged records of one workload *and one
//!   incident kind*, points closer than the alarm gap merged
//!   ([`crate::alarm`]) — the healer dedupes incidents the same way (one
//!   open incident per entity and kind), so a fault that starts while an
//!   alarm of another kind is open is still seen as a new incident;
//! - a labelled window is *detected* when an alarm of its workload (of any
//!   kind) starts in `[start, end + grace]`; the detecting alarm is the
//!   earliest such, and time to detect is its start minus the window's;
//! - an alarm is *true* when it starts inside a window of its workload
//!   (widened by the grace), else *false*; false alarms are counted per
//!   fault-free workload-hour (time outside windows widened by the margin;
//!   a node's own records are no workload's, and count neither time nor
//!   alarms: [`about_a_workload`]);
//! - an alarm's incident is its kind; a detected window is classified
//!   correctly when its detecting alarm's kind is the window's kind.

use std::collections::{BTreeMap, HashMap};

use edgeheal_plugin::model::ModelSet;
use edgeheal_plugin::verdict::{Incident, Severity};
use edgeheal_plugin::{Filter, FilterConfig};
use serde::Serialize;

use crate::alarm::{alarms, Alarm, WindowIndex, DEFAULT_GAP_NS};
use crate::dataset::{Dataset, Window};
use crate::error::Error;
use crate::replay::{about_a_workload, replay};

const NS: i64 = 1_000_000_000;

/// How long before a window's start an alarm starting at `start_ns` still
/// starts in it: up to the start of its second when `start_ns` is a whole
/// second, else not at all. Kubernetes events carry whole seconds (core/v1
/// `firstTimestamp` / `lastTimestamp`, RFC 3339 without a fraction), so the
/// back-off of the second a crash loop began in is stamped up to a second
/// before the fault's start. Before, such an alarm was a false one, and, as
/// the records after it in the window joined it, the window went undetected
/// by it.
fn lead_ns(start_ns: i64) -> i64 {
    if start_ns.rem_euclid(NS) == 0 {
        NS - 1
    } else {
        0
    }
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The edge filter's configuration.
    pub filter: FilterConfig,
    /// Time after a window's end in which a detection still counts, seconds.
    pub grace_s: u32,
    /// Time after a window's end excluded from fault-free time, seconds.
    pub margin_s: u32,
    /// Gap that ends an alarm, seconds.
    pub gap_s: u32,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            filter: FilterConfig::default(),
            grace_s: 60,
            margin_s: 300,
            gap_s: (DEFAULT_GAP_NS / NS) as u32,
        }
    }
}

/// Anomalous points per entity: what a detector flagged, and as what.
#[derive(Debug, Clone, Default)]
pub struct Detections {
    /// Entity key → time-ordered (ts, incident) of anomalous records.
    pub anomalous: BTreeMap<String, Vec<(i64, Incident)>>,
    /// Entity key → (first, last) record time seen.
    pub spans: BTreeMap<String, (i64, i64)>,
    /// Entity key → time-ordered times of anomalous records that stood on a
    /// critical score alone (no classifier confirmation needed).
    pub critical: BTreeMap<String, Vec<i64>>,
}

impl Detections {
    /// Notes that `entity` was seen at `ts`, anomalous as `incident` or not.
    pub fn see(&mut self, entity: &str, ts: i64, anomalous: Option<Incident>) {
        match self.spans.get_mut(entity) {
            Some(s) => {
                s.0 = s.0.min(ts);
                s.1 = s.1.max(ts);
            }
            None => {
                self.spans.insert(entity.to_owned(), (ts, ts));
            }
        }
        if let Some(i) = anomalous {
            self.anomalous
                .entry(entity.to_owned())
                .or_default()
                .push((ts, i));
        }
    }

    /// Notes that the anomalous record of `entity` at `ts` was critical.
    pub fn critical(&mut self, entity: &str, ts: i64) {
        self.critical.entry(entity.to_owned()).or_default().push(ts);
    }

    fn was_critical(&self, entity: &str, ts: i64) -> bool {
        self.critical
            .get(entity)
            .is_some_and(|t| t.binary_search(&ts).is_ok())
    }
}

/// An alarm that did not start inside a labelled window of its workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UntrueAlarm {
    /// Entity key (`<run>:<namespace>/<workload>`).
    pub entity: String,
    /// First anomalous record, ns since the epoch.
    pub start_ns: i64,
    /// The alarm's incident kind.
    pub incident: String,
    /// Whether its first record was critical (past the classifier's
    /// stricter veto, or a Kubernetes failure verdict).
    pub critical: bool,
    /// `after_effect` when it starts in the margin after a window of its
    /// workload (counts against precision only), else `false`.
    pub class: &'static str,
    /// The latest window of the workload that ended before the alarm: its
    /// kind and the seconds from its end to the alarm's start.
    pub after: Option<(String, f64)>,
}

/// How one labelled window fared (a row of `windows.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowOutcome {
    /// Entity key (`<run>:<namespace>/<workload>`).
    pub entity: String,
    /// The window's incident kind.
    pub incident: String,
    /// Window start and end, ns since the epoch.
    pub start_ns: i64,
    /// Window end.
    pub end_ns: i64,
    /// The detecting alarm's kind and its delay in seconds, when detected.
    pub detected: Option<(String, f64)>,
    /// Kinds of the workload's alarms already open when the window started
    /// (begun before it, still running at its start): why a fault can go
    /// undetected while the workload is already being reported.
    pub open_at_start: Vec<String>,
}

/// Non-true alarms of one incident kind, by class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UntrueCounts {
    /// Outside every window and its margin.
    pub false_alarms: usize,
    /// In the margin after a window.
    pub after_effect: usize,
    /// Of both, how many started on a critical score.
    pub critical: usize,
}

/// Recall, precision and F1 for one incident kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindMetrics {
    /// Labelled windows of the kind.
    pub windows: usize,
    /// Of those, detected.
    pub detected: usize,
    /// `detected / windows`.
    pub recall: f64,
    /// True alarms named this kind over all alarms named this kind.
    pub precision: f64,
    /// Harmonic mean of recall and precision.
    pub f1: f64,
}

/// The figures `metrics.json` holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// Detected windows over all windows.
    pub recall: f64,
    /// True alarms over all alarms.
    pub precision: f64,
    /// Harmonic mean of recall and precision.
    pub f1: f64,
    /// Median time to detect, seconds.
    pub mttd_seconds_p50: f64,
    /// 95th percentile time to detect, seconds.
    pub mttd_seconds_p95: f64,
    /// Median time to detect, in sample (scrape) intervals.
    pub mttd_intervals_p50: f64,
    /// 95th percentile time to detect, in sample intervals.
    pub mttd_intervals_p95: f64,
    /// False alarms per fault-free workload-hour.
    pub false_alarms_per_entity_hour: f64,
    /// Detected windows whose incident was named right, over detected windows.
    pub classification_accuracy: f64,
    /// Labelled windows.
    pub windows: usize,
    /// Detected windows.
    pub detected: usize,
    /// All alarms.
    pub alarms: usize,
    /// False alarms.
    pub false_alarms: usize,
    /// Fault-free workload-hours.
    pub fault_free_entity_hours: f64,
    /// Per incident kind.
    pub per_kind: BTreeMap<String, KindMetrics>,
    /// True kind → predicted kind → detected windows.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// Alarm kind → alarms that were not true, by class.
    pub untrue: BTreeMap<String, UntrueCounts>,
    /// Every alarm that was not true (written to `untrue-alarms.csv`).
    #[serde(skip)]
    pub untrue_alarms: Vec<UntrueAlarm>,
    /// Every labelled window, in label order (written to `windows.csv`).
    #[serde(skip)]
    pub window_outcomes: Vec<WindowOutcome>,
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Scores `detections` against labelled `windows` (entity keys already
/// matching) with the scrape interval `interval_s`.
pub fn score_detections(
    d: &Detections,
    windows: &[(String, Window)],
    interval_s: u32,
    cfg: &EvalConfig,
) -> Metrics {
    let gap = i64::from(cfg.gap_s) * NS;
    let grace = i64::from(cfg.grace_s) * NS;
    let margin = i64::from(cfg.margin_s) * NS;
    let mut index = WindowIndex::default();
    for (k, w) in windows {
        index.add(k, w.start_ns, w.end_ns);
    }
    let mut by_entity: HashMap<&str, Vec<(Alarm, Incident)>> = HashMap::new();
    let mut m = Metrics::default();
    let mut named: BTreeMap<Incident, (usize, usize)> = BTreeMap::new();
    for (entity, points) in &d.anomalous {
        let mut kinds: Vec<Incident> = points.iter().map(|(_, i)| *i).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut list: Vec<(Alarm, Incident)> = Vec::new();
        for kind in kinds {
            let of_kind = points.iter().filter(|(_, i)| *i == kind).map(|(t, _)| *t);
            list.extend(alarms(of_kind, gap).into_iter().map(|a| (a, kind)));
        }
        // Earliest first (ties in kind order), so a window's first alarm is
        // found first.
        list.sort_by_key(|(a, kind)| (a.start_ns, *kind));
        for (a, inc) in &list {
            let true_alarm = index.contains(entity, a.start_ns, lead_ns(a.start_ns), grace);
            m.alarms += 1;
            let e = named.entry(*inc).or_insert((0, 0));
            e.1 += 1;
            if true_alarm {
                e.0 += 1;
                continue;
            }
            let after_effect = index.contains(entity, a.start_ns, 0, margin);
            m.false_alarms += usize::from(!after_effect);
            let critical = d.was_critical(entity, a.start_ns);
            let c = m.untrue.entry(inc.as_str().to_owned()).or_default();
            if after_effect {
                c.after_effect += 1;
            } else {
                c.false_alarms += 1;
            }
            c.critical += usize::from(critical);
            let after = windows
                .iter()
                .filter(|(k, w)| k == entity && w.end_ns <= a.start_ns)
                .max_by_key(|(_, w)| w.end_ns)
                .map(|(_, w)| {
                    (
                        w.incident.as_str().to_owned(),
                        (a.start_ns - w.end_ns) as f64 / 1e9,
                    )
                });
            m.untrue_alarms.push(UntrueAlarm {
                entity: entity.clone(),
                start_ns: a.start_ns,
                incident: inc.as_str().to_owned(),
                critical,
                class: if after_effect {
                    "after_effect"
                } else {
                    "false"
                },
                after,
            });
        }
        by_entity.insert(entity.as_str(), list);
    }
    let mut fault_free_ns = 0i64;
    for (entity, (from, to)) in &d.spans {
        fault_free_ns += (to - from) - index.covered_ns(entity, *from, *to, margin);
    }
    m.fault_free_entity_hours = fault_free_ns as f64 / 3.6e12;
    let mut delays = Vec::new();
    let mut correct = 0;
    for (k, w) in windows {
        let kind = m
            .per_kind
            .entry(w.incident.as_str().to_owned())
            .or_default();
        kind.windows += 1;
        m.windows += 1;
        let list = by_entity.get(k.as_str()).map_or(&[][..], Vec::as_slice);
        let hit = list.iter().find(|(a, _)| {
            a.start_ns + lead_ns(a.start_ns) >= w.start_ns && a.start_ns <= w.end_ns + grace
        });
        let open_at_start = list
            .iter()
            .filter(|(a, _)| {
                a.start_ns + lead_ns(a.start_ns) < w.start_ns && a.end_ns + gap >= w.start_ns
            })
            .map(|(_, inc)| inc.as_str().to_owned())
            .collect();
        m.window_outcomes.push(WindowOutcome {
            entity: k.clone(),
            incident: w.incident.as_str().to_owned(),
            start_ns: w.start_ns,
            end_ns: w.end_ns,
            detected: hit.map(|(a, inc)| {
                (
                    inc.as_str().to_owned(),
                    (a.start_ns - w.start_ns).max(0) as f64 / 1e9,
                )
            }),
            open_at_start,
        });
        let Some((a, inc)) = hit else { continue };
        kind.detected += 1;
        m.detected += 1;
        delays.push((a.start_ns - w.start_ns).max(0) as f64 / 1e9);
        correct += usize::from(*inc == w.incident);
        *m.confusion
            .entry(w.incident.as_str().to_owned())
            .or_default()
            .entry(inc.as_str().to_owned())
            .or_insert(0) += 1;
    }
    for (name, kind) in m.per_kind.iter_mut() {
        kind.recall = ratio(kind.detected, kind.windows);
        let (t, all) = Incident::parse(name)
            .and_then(|i| named.get(&i).copied())
            .unwrap_or((0, 0));
        kind.precision = ratio(t, all);
        kind.f1 = f1(kind.precision, kind.recall);
    }
    delays.sort_by(f64::total_cmp);
    let interval = f64::from(interval_s.max(1));
    m.recall = ratio(m.detected, m.windows);
    m.precision = ratio(
        m.alarms - m.false_alarms.min(m.alarms) - named_grey(&named, m.alarms, m.false_alarms),
        m.alarms,
    );
    m.f1 = f1(m.precision, m.recall);
    m.mttd_seconds_p50 = percentile(&delays, 0.5);
    m.mttd_seconds_p95 = percentile(&delays, 0.95);
    m.mttd_intervals_p50 = m.mttd_seconds_p50 / interval;
    m.mttd_intervals_p95 = m.mttd_seconds_p95 / interval;
    m.false_alarms_per_entity_hour = m.false_alarms as f64 / m.fault_free_entity_hours.max(1e-9);
    m.classification_accuracy = ratio(correct, m.detected);
    m
}

/// Alarms that are neither true nor false: they start in the margin after a
/// window (after-effects), and count against precision.
fn named_grey(
    named: &BTreeMap<Incident, (usize, usize)>,
    alarms: usize,
    false_alarms: usize,
) -> usize {
    let true_alarms: usize = named.values().map(|(t, _)| t).sum();
    alarms.saturating_sub(true_alarms + false_alarms)
}

/// One workload's score timeline (max score per interval) for plots.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// (interval start ns, max score, any anomaly) per interval.
    pub points: Vec<(i64, f64, bool)>,
}

/// What `evaluate` returns.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The figures.
    pub metrics: Metrics,
    /// Entity key → timeline.
    pub timelines: BTreeMap<String, Timeline>,
    /// Labelled windows, with entity keys.
    pub windows: Vec<(String, Window)>,
}

/// Replays `sets` through the edge filter with `models` and scores the tags.
pub fn evaluate(
    models: &ModelSet,
    sets: &[Dataset],
    cfg: &EvalConfig,
) -> Result<Evaluation, Error> {
    let mut d = Detections::default();
    let mut timelines: BTreeMap<String, Timeline> = BTreeMap::new();
    let mut windows = Vec::new();
    let interval_s = sets.first().map_or(15, |s| s.interval_s());
    let step_ns = i64::from(interval_s) * NS;
    for (i, set) in sets.iter().enumerate() {
        for w in set.windows() {
            windows.push((format!("{i}:{}", w.entity), w.clone()));
        }
        let mut filter = Filter::new(cfg.filter.clone(), Some(models.clone()));
        let mut key = String::new();
        replay(set, &mut filter, "evaluate", |step| {
            let Some(entity) = step.entity else { return };
            if !about_a_workload(step.observation) {
                return;
            }
            key.clear();
            key.push_str(&i.to_string());
            key.push(':');
            key.push_str(entity);
            let ts = step.observation.ts_ns;
            let v = step.verdict;
            d.see(&key, ts, v.anomaly.then_some(v.incident));
            if v.anomaly && v.severity == Severity::Critical {
                d.critical(&key, ts);
            }
            let tl = match timelines.get_mut(key.as_str()) {
                Some(t) => t,
                None => timelines.entry(key.clone()).or_default(),
            };
            let slot = ts.div_euclid(step_ns) * step_ns;
            let score = v.score.unwrap_or(0.0);
            match tl.points.last_mut() {
                Some(p) if p.0 == slot => {
                    p.1 = p.1.max(score);
                    p.2 |= v.anomaly;
                }
                _ => tl.points.push((slot, score, v.anomaly)),
            }
        })?;
    }
    let metrics = score_detections(&d, &windows, interval_s, cfg);
    Ok(Evaluation {
        metrics,
        timelines,
        windows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(kind: Incident, start_s: i64, end_s: i64) -> (String, Window) {
        (
            "0:a/b".into(),
            Window {
                id: "w".into(),
                incident: kind,
                start_ns: start_s * NS,
                end_ns: end_s * NS,
                entity: "a/b".into(),
                pod: None,
            },
        )
    }

    #[test]
    fn detections_score_by_the_documented_rules() {
        let windows = vec![
            window(Incident::CpuSaturation, 1000, 1300),
            window(Incident::CrashLoop, 5000, 5300),
            window(Incident::ErrorBurst, 9000, 9100),
        ];
        let mut d = Detections::default();
        d.see("0:a/b", 0, None);
        d.see("0:a/b", 36_000 * NS, None);
        // Window 1 detected 30 s late as cpu; window 2 detected at once but
        // named latency; window 3 missed; one false alarm at 20000 s.
        for t in [1030, 1045, 1060] {
            d.see("0:a/b", t * NS, Some(Incident::CpuSaturation));
        }
        d.see("0:a/b", 5000 * NS, Some(Incident::LatencySpike));
        d.see("0:a/b", 20_000 * NS, Some(Incident::ErrorBurst));
        let m = score_detections(&d, &windows, 15, &EvalConfig::default());
        assert_eq!(
            (m.windows, m.detected, m.alarms, m.false_alarms),
            (3, 2, 3, 1)
        );
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.mttd_seconds_p50, 0.0);
        assert_eq!(m.mttd_seconds_p95, 30.0);
        assert_eq!(m.mttd_intervals_p95, 2.0);
        assert_eq!(m.classification_accuracy, 0.5);
        assert_eq!(m.confusion["crash_loop"]["latency_spike"], 1);
        assert_eq!(m.per_kind["error_burst"].recall, 0.0);
        assert_eq!(m.per_kind["error_burst"].precision, 0.0);
        assert_eq!(m.untrue["error_burst"].false_alarms, 1);
        assert_eq!(m.untrue["error_burst"].after_effect, 0);
        assert_eq!(m.untrue_alarms.len(), 1);
        assert_eq!(
            m.untrue_alarms[0].after,
            Some(("error_burst".to_owned(), 10_900.0))
        );
        assert!(!m.untrue_alarms[0].critical);
        let outcomes: Vec<_> = m
            .window_outcomes
            .iter()
            .map(|o| (o.incident.as_str(), o.detected.clone()))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("cpu_saturation", Some(("cpu_saturation".to_owned(), 30.0))),
                ("crash_loop", Some(("latency_spike".to_owned(), 0.0))),
                ("error_burst", None),
            ]
        );
        // 10 h of span minus three windows (+300 s margin each).
        let hours = (36_000.0 - 600.0 - 600.0 - 400.0) / 3600.0;
        assert!((m.fault_free_entity_hours - hours).abs() < 1e-9);
        assert!((m.false_alarms_per_entity_hour - 1.0 / hours).abs() < 1e-9);
    }

    /// Kubernetes events carry whole seconds: a back-off of the second a
    /// crash loop began in is stamped up to a second before the window's
    /// start. It detects the window, at no delay, and is no false alarm;
    /// a record of the second before, or one with a fraction before the
    /// start, is still false.
    #[test]
    fn an_event_stamped_in_the_second_a_fault_began_detects_it() {
        let mut w = window(Incident::CrashLoop, 1000, 1600);
        w.1.start_ns += 131_000_000;
        let windows = vec![w];
        let run = |points: &[i64]| {
            let mut d = Detections::default();
            d.see("0:a/b", 0, None);
            d.see("0:a/b", 36_000 * NS, None);
            for t in points {
                d.see("0:a/b", *t, Some(Incident::CrashLoop));
            }
            score_detections(&d, &windows, 15, &EvalConfig::default())
        };
        let m = run(&[1000 * NS, 1010 * NS]);
        assert_eq!((m.detected, m.alarms, m.false_alarms), (1, 1, 0));
        assert_eq!(m.mttd_seconds_p50, 0.0);
        assert_eq!(
            m.window_outcomes[0].detected,
            Some(("crash_loop".to_owned(), 0.0))
        );
        assert!(m.window_outcomes[0].open_at_start.is_empty());
        for early in [999 * NS, 1000 * NS + 100_000_000] {
            let m = run(&[early, early + 120 * NS]);
            assert_eq!((m.alarms, m.false_alarms), (2, 1), "at {early}");
        }
    }

    #[test]
    fn alarms_after_a_window_are_after_effects_with_their_cause() {
        let windows = vec![window(Incident::MemoryLeak, 1000, 1300)];
        let mut d = Detections::default();
        d.see("0:a/b", 0, None);
        d.see("0:a/b", 36_000 * NS, None);
        d.see("0:a/b", 1010 * NS, Some(Incident::MemoryLeak));
        // 120 s after the end: inside the 300 s margin, on a critical score.
        d.see("0:a/b", 1420 * NS, Some(Incident::MemoryLeak));
        d.critical("0:a/b", 1420 * NS);
        let m = score_detections(&d, &windows, 15, &EvalConfig::default());
        assert_eq!((m.alarms, m.false_alarms), (2, 0));
        assert!((m.precision - 0.5).abs() < 1e-12);
        let c = &m.untrue["memory_leak"];
        assert_eq!((c.false_alarms, c.after_effect, c.critical), (0, 1, 1));
        assert_eq!(
            m.untrue_alarms,
            vec![UntrueAlarm {
                entity: "0:a/b".into(),
                start_ns: 1420 * NS,
                incident: "memory_leak".into(),
                critical: true,
                class: "after_effect",
                after: Some(("memory_leak".into(), 120.0)),
            }]
        );
    }

    /// One hour of a workload's access log next to a node's Fluent Bit
    /// `cpu` samples at 99 % and the node's `OOMKilling` events (the
    /// records a generated run carries about its nodes), no fault windows.
    fn workload_and_node_run() -> tempfile::TempDir {
        use edgeheal_chaos::clock::{rfc3339, Precision};
        let start_s: i64 = 1_740_960_000;
        let pod = r#""kubernetes":{"pod_name":"cart-7d4b9c8f6-x2x9z","namespace_name":"shop"}"#;
        let node_event = |i: i64, t: i64| {
            let time = rfc3339(t * NS, Precision::Seconds);
            format!(
                r#"{{"metadata":{{"name":"node-1.{i}","namespace":"default","uid":"u{i}","resourceVersion":"{i}"}},"involvedObject":{{"kind":"Node","name":"node-1","uid":"node-1"}},"reason":"OOMKilling","message":"Memory cgroup out of memory: Killed process 50 (cart)","source":{{"component":"kernel-monitor","host":"node-1"}},"firstTimestamp":"{time}","lastTimestamp":"{time}","count":1,"type":"Warning"}}"#
            )
        };
        let mut text = String::new();
        for i in 0..=240 {
            let t = start_s + i * 15;
            let time = rfc3339(t * NS, Precision::Seconds);
            text.push_str(&format!(
                r#"{{"time":"{time}","log":"GET /cart 200 12ms",{pod}}}"#
            ));
            text.push('\n');
            text.push_str(&format!(
                r#"{{"date":{t}.5,"cpu_p":99.0,"user_p":90.0,"system_p":9.0,"hostname":"node-1"}}"#
            ));
            text.push('\n');
            if i % 120 == 0 {
                text.push_str(&node_event(i, t));
                text.push('\n');
            }
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::dataset::TELEMETRY), text).unwrap();
        std::fs::write(dir.path().join(crate::dataset::LABELS), b"[]").unwrap();
        dir
    }

    /// False alarms are per fault-free *workload*-hour: a node's records
    /// (its `_/<node>` samples, its `default/<node>` events) name no
    /// workload, carry no fault window and never open a healer incident,
    /// so their hours must not thin the rate (they were more than half the
    /// fault-free hours of a generated run), nor their alarms count.
    #[test]
    fn nodes_are_not_workload_hours() {
        let dir = workload_and_node_run();
        let data = Dataset::open(dir.path()).unwrap();
        let models = ModelSet::from_embedded().unwrap().unwrap();
        let cfg = EvalConfig::default();
        let m = evaluate(&models, std::slice::from_ref(&data), &cfg)
            .unwrap()
            .metrics;
        assert!(
            (m.fault_free_entity_hours - 1.0).abs() < 1e-9,
            "edgeheal: {} fault-free hours",
            m.fault_free_entity_hours
        );
        let b = crate::baseline::evaluate_baselines(&[data], &[], &cfg).unwrap();
        let s = &b.static_thresholds;
        assert!(
            (s.fault_free_entity_hours - 1.0).abs() < 1e-9,
            "static thresholds: {} fault-free hours",
            s.fault_free_entity_hours
        );
        // The node's CPU at 99 % is over the 90 % rule, and is no workload's.
        assert_eq!(s.alarms, 0, "static thresholds: {:?}", s.untrue_alarms);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.95), 4.0);
    }
}
