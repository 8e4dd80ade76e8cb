//! End-to-end checks of `generate`: determinism, every shape present, labels
//! consistent with the telemetry, normal levels spread across workloads, and
//! the simulation's remediation operations.

use std::collections::BTreeMap;
use std::path::Path;

use edgeheal_chaos::clock::parse_rfc3339;
use edgeheal_chaos::fault::{FaultKind, ALL_KINDS};
use edgeheal_chaos::generate::{generate, GenerateConfig, DEFAULT_START_NS};
use edgeheal_chaos::{
    FaultSpec, FaultStatus, FleetName, PodTarget, Record, ScheduleConfig, SimConfig, Simulation,
};
use serde_json::Value;

fn config(dir: &Path, seed: u64, hours: f64, fleet: FleetName) -> GenerateConfig {
    GenerateConfig {
        seed,
        hours,
        interval_s: 15,
        fleet,
        start_ns: DEFAULT_START_NS,
        schedule: ScheduleConfig {
            kinds: ALL_KINDS.to_vec(),
            overlap_rate: 0.3,
            warmup_s: 600.0,
            gap_s: (900.0, 1800.0),
            ..ScheduleConfig::default()
        },
        split: true,
        out: dir.to_owned(),
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Time of a record of any shape, ns.
fn ts_of(v: &Value) -> i64 {
    if let Some(t) = v.get("time").and_then(Value::as_str) {
        return parse_rfc3339(t).unwrap();
    }
    if let Some(t) = v.get("lastTimestamp").and_then(Value::as_str) {
        return parse_rfc3339(t).unwrap();
    }
    if let Some(d) = v.get("date").and_then(Value::as_f64) {
        return (d * 1e9) as i64;
    }
    match v.get("timestamp") {
        Some(Value::String(s)) => parse_rfc3339(s).unwrap(),
        Some(Value::Number(n)) => n.as_i64().unwrap() * 1_000_000,
        _ => panic!("no time in {v}"),
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    generate(&config(a.path(), 5, 1.0, FleetName::A)).unwrap();
    generate(&config(b.path(), 5, 1.0, FleetName::A)).unwrap();
    generate(&config(c.path(), 6, 1.0, FleetName::A)).unwrap();
    for file in [
        "telemetry.ndjson",
        "labels.json",
        "run.json",
        "k8s_events.ndjson",
    ] {
        let x = std::fs::read(a.path().join(file)).unwrap();
        let y = std::fs::read(b.path().join(file)).unwrap();
        assert!(x == y, "{file} differs for the same seed");
    }
    let x = std::fs::read(a.path().join("telemetry.ndjson")).unwrap();
    let z = std::fs::read(c.path().join("telemetry.ndjson")).unwrap();
    assert!(x != z, "different seeds give different telemetry");
}

#[test]
fn every_shape_present_and_time_ordered() {
    let dir = tempfile::tempdir().unwrap();
    generate(&config(dir.path(), 2, 1.0, FleetName::B)).unwrap();
    let all = lines(&dir.path().join("telemetry.ndjson"));
    let ts: Vec<i64> = all.iter().map(ts_of).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "merged file is time ordered"
    );
    // (file, JSON pointer that must exist in every record)
    let cases: &[(&str, &str)] = &[
        ("fluentbit_logs", "/kubernetes/namespace_name"),
        ("vector_logs", "/kubernetes/pod_owner"),
        ("k8s_events", "/involvedObject/kind"),
        ("flat_metrics", "/labels/namespace"),
        ("vector_metrics", "/tags/pod"),
        ("fluentbit_cpu", "/cpu_p"),
        ("fluentbit_mem", "/Mem.total"),
    ];
    let mut total = 0;
    for (file, ptr) in cases {
        let recs = lines(&dir.path().join(format!("{file}.ndjson")));
        assert!(!recs.is_empty(), "{file} is empty");
        assert!(
            recs.iter().all(|r| r.pointer(ptr).is_some()),
            "{file} lacks {ptr}"
        );
        let ts: Vec<i64> = recs.iter().map(ts_of).collect();
        assert!(
            ts.windows(2).all(|w| w[0] <= w[1]),
            "{file} is time ordered"
        );
        total += recs.len();
    }
    assert_eq!(total, all.len(), "split files add up to the merged file");
    let metric_names: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|v| {
            v.get("metric")
                .or_else(|| v.get("name"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned)
        .collect();
    for m in [
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "kube_pod_container_resource_limits",
        "kube_pod_container_status_restarts_total",
    ] {
        assert!(metric_names.contains(m), "{m} missing");
    }
}

/// Memory samples of a pod, (ts, bytes), and its restart counter.
fn pod_series(all: &[Value], pod: &str, metric: &str) -> Vec<(i64, f64)> {
    all.iter()
        .filter(|v| {
            let name = v
                .get("metric")
                .or_else(|| v.get("name"))
                .and_then(Value::as_str);
            let p = v
                .pointer("/labels/pod")
                .or_else(|| v.pointer("/tags/pod"))
                .and_then(Value::as_str);
            name == Some(metric) && p == Some(pod)
        })
        .map(|v| {
            let val = v
                .get("value")
                .or_else(|| v.pointer("/gauge/value"))
                .or_else(|| v.pointer("/counter/value"))
                .and_then(Value::as_f64)
                .unwrap();
            (ts_of(v), val)
        })
        .collect()
}

#[test]
fn labels_match_the_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(&config(dir.path(), 11, 6.0, FleetName::A)).unwrap();
    let all = lines(&dir.path().join("telemetry.ndjson"));
    let kinds: std::collections::BTreeSet<FaultKind> =
        summary.labels.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds.len(),
        ALL_KINDS.len(),
        "every kind labelled: {kinds:?}"
    );
    let mut checked = BTreeMap::new();
    for l in &summary.labels {
        let (s, e) = (l.start_ns().unwrap(), l.end_ns().unwrap());
        match l.kind {
            FaultKind::MemoryLeak => {
                let pod = l.pod.as_deref().unwrap();
                let mem = pod_series(&all, pod, "container_memory_working_set_bytes");
                let before: Vec<f64> = mem
                    .iter()
                    .filter(|(t, _)| *t < s && *t > s - 600_000_000_000)
                    .map(|x| x.1)
                    .collect();
                let during_max = mem
                    .iter()
                    .filter(|(t, _)| *t >= s && *t < e)
                    .map(|x| x.1)
                    .fold(0.0, f64::max);
                let before_max = before.iter().cloned().fold(0.0, f64::max);
                assert!(
                    during_max > 1.2 * before_max,
                    "{}: memory rises ({before_max} -> {during_max})",
                    l.id
                );
                let restarts = pod_series(&all, pod, "kube_pod_container_status_restarts_total");
                let r0 = restarts
                    .iter()
                    .filter(|(t, _)| *t < s)
                    .map(|x| x.1)
                    .next_back()
                    .unwrap_or(0.0);
                let r1 = restarts
                    .iter()
                    .filter(|(t, _)| *t < e + 30_000_000_000)
                    .map(|x| x.1)
                    .next_back()
                    .unwrap();
                assert!(r1 >= r0 + 1.0, "{}: OOM restart ({r0} -> {r1})", l.id);
                let oom = all.iter().any(|v| {
                    v["reason"] == "OOMKilling" && (s..e + 1_000_000_000).contains(&ts_of(v))
                });
                assert!(oom, "{}: an OOMKilling event in the window", l.id);
            }
            FaultKind::CrashLoop => {
                let pod = l.pod.as_deref().unwrap();
                let backoff = all
                    .iter()
                    .filter(|v| v["reason"] == "BackOff" && v["involvedObject"]["name"] == pod)
                    .filter(|v| (s..e + 30_000_000_000).contains(&ts_of(v)))
                    .count();
                assert!(backoff >= 2, "{}: BackOff events ({backoff})", l.id);
                let restarts = pod_series(&all, pod, "kube_pod_container_status_restarts_total");
                let r0 = restarts
                    .iter()
                    .filter(|(t, _)| *t < s)
                    .map(|x| x.1)
                    .next_back()
                    .unwrap_or(0.0);
                let r1 = restarts
                    .iter()
                    .filter(|(t, _)| *t < e + 30_000_000_000)
                    .map(|x| x.1)
                    .next_back()
                    .unwrap();
                assert!(r1 >= r0 + 2.0, "{}: restarts climb ({r0} -> {r1})", l.id);
            }
            _ => {}
        }
        *checked.entry(l.kind).or_insert(0) += 1;
    }
    assert!(
        checked.contains_key(&FaultKind::MemoryLeak) && checked.contains_key(&FaultKind::CrashLoop)
    );
}

#[test]
fn fleets_are_disjoint_and_levels_spread() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ra = generate(&config(a.path(), 1, 0.25, FleetName::A)).unwrap();
    let rb = generate(&config(b.path(), 1, 0.25, FleetName::B)).unwrap();
    let names = |r: &edgeheal_chaos::generate::RunSummary| -> Vec<String> {
        r.manifest
            .workloads
            .iter()
            .map(|w| format!("{}/{}", w.namespace, w.workload))
            .collect()
    };
    for n in names(&ra) {
        assert!(!names(&rb).contains(&n), "{n} in both fleets");
    }
    for r in [&ra, &rb] {
        let spread = |f: &dyn Fn(&edgeheal_chaos::sim::NormalLevels) -> f64| {
            let v: Vec<f64> = r.manifest.workloads.iter().map(f).collect();
            v.iter().cloned().fold(f64::MIN, f64::max) / v.iter().cloned().fold(f64::MAX, f64::min)
        };
        // (what, spread, at least)
        let cases: &[(&str, f64, f64)] = &[
            ("requests/s", spread(&|w| w.requests_per_s), 300.0),
            ("memory", spread(&|w| w.memory_bytes_per_pod), 60.0),
            ("cpu", spread(&|w| w.cpu_cores_per_pod), 100.0),
        ];
        for (what, got, min) in cases {
            assert!(
                got >= min,
                "fleet {}: {what} spread {got}",
                r.manifest.fleet
            );
        }
    }
}

fn sim(seed: u64) -> Simulation {
    Simulation::new(SimConfig {
        seed,
        start_ns: DEFAULT_START_NS + 14 * 3_600_000_000_000,
        interval_s: 15,
        fleet: FleetName::A.build(),
    })
    .unwrap()
}

fn cpu_of(records: &[Record], prefix: &str) -> f64 {
    // Mean of per-pod CPU counter increases per second over the window.
    let by_pod = series_of(records, "container_cpu_usage_seconds_total", prefix);
    let rates: Vec<f64> = by_pod
        .values()
        .filter(|s| s.len() > 2)
        .map(|s| {
            let (a, b) = (s[0], s[s.len() - 1]);
            (b.1 - a.1) / ((b.0 - a.0) as f64 / 1e9)
        })
        .collect();
    rates.iter().sum::<f64>() / rates.len().max(1) as f64
}

#[test]
fn scaling_spreads_load_and_restart_clears_a_leak() {
    // Scale storefront from 4 to 8: per-pod CPU roughly halves.
    let mut s = sim(3);
    let mut before = Vec::new();
    for _ in 0..40 {
        s.step(&mut before).unwrap();
    }
    s.scale("shop", "storefront", 8).unwrap();
    let mut settle = Vec::new();
    for _ in 0..8 {
        s.step(&mut settle).unwrap();
    }
    let mut after = Vec::new();
    for _ in 0..40 {
        s.step(&mut after).unwrap();
    }
    assert_eq!(s.workload("shop", "storefront").unwrap().pods.len(), 8);
    let (b, a) = (
        cpu_of(&before, "storefront-"),
        cpu_of(&after, "storefront-"),
    );
    assert!(a < 0.75 * b, "per-pod CPU falls after scaling: {b} -> {a}");

    // A memory leak is cleared by a rollout restart; the pods get new names.
    let mut s = sim(4);
    let now = s.now_ns();
    s.inject(FaultSpec {
        id: "leak".into(),
        kind: FaultKind::MemoryLeak,
        namespace: "shop".into(),
        workload: "cart".into(),
        pod: PodTarget::Index(0),
        start_ns: now,
        end_ns: now + 3_600_000_000_000,
        intensity: 0.8,
    })
    .unwrap();
    let mut out = Vec::new();
    for _ in 0..20 {
        s.step(&mut out).unwrap();
    }
    assert_eq!(s.faults()[0].status, FaultStatus::Active);
    let old: Vec<String> = s
        .workload("shop", "cart")
        .unwrap()
        .pods
        .iter()
        .map(|p| p.meta.pod.clone())
        .collect();
    s.rollout_restart("shop", "cart").unwrap();
    for _ in 0..30 {
        s.step(&mut out).unwrap();
    }
    assert_eq!(s.faults()[0].status, FaultStatus::Cleared);
    let new: Vec<String> = s
        .workload("shop", "cart")
        .unwrap()
        .pods
        .iter()
        .map(|p| p.meta.pod.clone())
        .collect();
    assert_eq!(new.len(), old.len());
    assert!(new.iter().all(|n| !old.contains(n)), "{old:?} -> {new:?}");
    assert!(
        s.labels()[0].end_ns().unwrap() < now + 3_600_000_000_000,
        "label ends when cleared"
    );

    // Deleting a pod: a replacement with a new name; StatefulSet keeps the name.
    let victim = s.workload("shop", "cart").unwrap().pods[0].meta.pod.clone();
    s.delete_pod("shop", &victim).unwrap();
    let w = s.workload("shop", "cart").unwrap();
    assert_eq!(w.pods.len(), 3);
    assert!(w.pods.iter().all(|p| p.meta.pod != victim));
    s.delete_pod("data", "orders-db-1").unwrap();
    assert!(s
        .workload("data", "orders-db")
        .unwrap()
        .pods
        .iter()
        .any(|p| p.meta.pod == "orders-db-1"));
    assert!(
        s.scale("platform", "node-agent", 5).is_err(),
        "DaemonSets do not scale"
    );
    assert!(s.delete_pod("shop", "nope").is_err());
}

/// Each pod's working set in `records` for pods named `prefix*`: (time, bytes).
fn memory_of(records: &[Record], prefix: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    series_of(records, "container_memory_working_set_bytes", prefix)
}

/// Each pod's samples of `metric` in `records` for pods named `prefix*`:
/// (time, value), flat (`metric`, `labels`, `value`) or `metric_to_log`
/// (`name`, `tags`, `counter` / `gauge`).
fn series_of(records: &[Record], metric: &str, prefix: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut by_pod: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for r in records {
        let v: Value = serde_json::from_str(&r.line).unwrap();
        let name = v
            .get("metric")
            .or_else(|| v.get("name"))
            .and_then(Value::as_str);
        if name != Some(metric) {
            continue;
        }
        let pod = v
            .pointer("/labels/pod")
            .or_else(|| v.pointer("/tags/pod"))
            .and_then(Value::as_str)
            .unwrap();
        if !pod.starts_with(prefix) {
            continue;
        }
        let val = v
            .get("value")
            .or_else(|| v.pointer("/counter/value"))
            .or_else(|| v.pointer("/gauge/value"))
            .and_then(Value::as_f64)
            .unwrap();
        by_pod
            .entry(pod.to_owned())
            .or_default()
            .push((r.ts_ns, val));
    }
    by_pod
}

/// A flood's in-flight requests raise a pod's working set (up to 1.5×), but
/// only from its onset: a sample scraped before the onset, in the tick the
/// flood starts, reads the memory of the load before it. (It carried the
/// whole tick's load, so alarms started seconds before the labelled window
/// and counted as false.)
#[test]
fn memory_scraped_before_a_flood_starts_does_not_carry_it() {
    let mut s = sim(5);
    let mut before = Vec::new();
    for _ in 0..20 {
        s.step(&mut before).unwrap();
    }
    // The flood starts a third into the next tick, and weighs on two thirds
    // of its load. A pod scrapes at the same offset every tick.
    let t0 = s.now_ns();
    let onset = t0 + s.interval_ns() / 3;
    let early: Vec<String> = memory_of(&before, "storefront-")
        .into_iter()
        .filter(|(_, v)| t0 + v.last().unwrap().0.rem_euclid(s.interval_ns()) < onset)
        .map(|(pod, _)| pod)
        .collect();
    assert!(!early.is_empty());
    s.inject(FaultSpec {
        id: "flood".into(),
        kind: FaultKind::TrafficFlood,
        namespace: "shop".into(),
        workload: "storefront".into(),
        pod: PodTarget::Workload,
        start_ns: onset,
        end_ns: onset + 600_000_000_000,
        intensity: 1.0,
    })
    .unwrap();
    let mut onset_tick = Vec::new();
    s.step(&mut onset_tick).unwrap();
    let mut flooded = Vec::new();
    for _ in 0..2 {
        s.step(&mut flooded).unwrap();
    }
    let prev = memory_of(&before, "storefront-");
    let at = memory_of(&onset_tick, "storefront-");
    let after = memory_of(&flooded, "storefront-");
    for pod in &early {
        let samples = &at[pod];
        let (ts, mem) = samples[0];
        assert!(ts < onset);
        let last = prev[pod].last().unwrap().1;
        assert!(
            mem < 1.2 * last,
            "{pod}: {last} -> {mem} scraped {} ms before the onset",
            (onset - ts) / 1_000_000
        );
        // Once the flood runs, its step shows.
        let flooded = after[pod].last().unwrap().1;
        assert!(flooded > 1.3 * last, "{pod}: {last} -> {flooded}");
    }
}
