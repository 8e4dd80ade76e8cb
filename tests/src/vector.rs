//! Support for the Vector parity tests: deterministic model sets to score
//! with, and the native core's tags for a stream of records.
//!
//! The default model set may be empty (before training lands), so parity of
//! the scoring path is checked against synthetic but valid model sets: random
//! isolation trees and a random incident classifier, sealed and listed in a
//! manifest exactly as the trainer writes them, with thresholds calibrated on
//! the stream itself so that a share of records is anomalous.

use std::fs;
use std::io;
use std::path::Path;

use edgeheal_plugin::classifier::{ClassifierFile, ClassifierTreeFile};
use edgeheal_plugin::config::FilterConfig;
use edgeheal_plugin::features;
use edgeheal_plugin::forest::{IsolationForestFile, IsolationTreeFile};
use edgeheal_plugin::manifest::{Manifest, Role, MANIFEST};
use edgeheal_plugin::model::{ModelSet, Thresholds};
use edgeheal_plugin::verdict::{Family, Incident};
use edgeheal_plugin::Filter;

/// The shipped Vector configuration, `pipeline-configs/vector/`.
pub fn vector_dir() -> std::path::PathBuf {
    crate::repo_root().join("pipeline-configs/vector")
}

/// A YAML file of the shipped `pipeline-configs/vector/` (`vector.yaml`, `helm-values.yaml`).
pub fn shipped_file(name: &str) -> serde_norway::Value {
    let path = vector_dir().join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The event time the native filter gets for records without a time of
/// their own (2024-05-01T10:00:00Z).
pub const EVENT_TIME_NS: i64 = 1_714_557_600_000_000_000;

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Roughly normal with mean 0 and deviation 1 (sum of uniforms).
    pub fn normal(&mut self) -> f64 {
        (0..6).map(|_| self.unit()).sum::<f64>() * 2.0 - 6.0
    }
}

/// Typical scale of each feature, so random splits fall where values are.
fn feature_scale(name: &str) -> (f64, f64) {
    match name {
        "error_ratio" | "slow_share" => (0.3, 0.3),
        "error_ratio_delta" => (0.0, 0.2),
        "restarts" | "backoffs" | "oom_kills" | "unhealthy" => (1.0, 2.0),
        "mem_trend" => (0.0, 0.5),
        n if n.ends_with("log_ratio") || n.ends_with("_held") => (0.0, 0.7),
        _ => (0.0, 3.0),
    }
}

struct Grown {
    left: Vec<i32>,
    right: Vec<i32>,
    feature: Vec<i32>,
    threshold: Vec<f64>,
    n_samples: Vec<u32>,
}

/// Grows one random tree in scikit-learn's depth-first layout.
fn grow(rng: &mut Rng, names: &[&str], samples: u32, max_depth: usize) -> Grown {
    let mut t = Grown {
        left: Vec::new(),
        right: Vec::new(),
        feature: Vec::new(),
        threshold: Vec::new(),
        n_samples: Vec::new(),
    };
    fn node(
        t: &mut Grown,
        rng: &mut Rng,
        names: &[&str],
        n: u32,
        depth: usize,
        max_depth: usize,
    ) -> usize {
        let i = t.left.len();
        t.left.push(-1);
        t.right.push(-1);
        t.feature.push(-2);
        t.threshold.push(-2.0);
        t.n_samples.push(n);
        if depth >= max_depth || n <= 1 {
            return i;
        }
        let f = rng.below(names.len() as u64) as usize;
        let (mean, dev) = feature_scale(names[f]);
        let left_n = 1 + rng.below(u64::from(n - 1)) as u32;
        t.feature[i] = f as i32;
        t.threshold[i] = mean + dev * rng.normal();
        let l = node(t, rng, names, left_n, depth + 1, max_depth);
        let r = node(t, rng, names, n - left_n, depth + 1, max_depth);
        t.left[i] = l as i32;
        t.right[i] = r as i32;
        i
    }
    node(&mut t, rng, names, samples, 0, max_depth);
    t
}

/// A random isolation forest for `family`.
pub fn random_forest(
    rng: &mut Rng,
    family: Family,
    trees: usize,
    thresholds: Thresholds,
) -> IsolationForestFile {
    let names = features::names(family);
    let trees = (0..trees)
        .map(|_| {
            let g = grow(rng, names, 256, 8);
            IsolationTreeFile {
                left: g.left,
                right: g.right,
                feature: g.feature,
                threshold: g.threshold,
                n_samples: g.n_samples,
            }
        })
        .collect();
    let mut file = IsolationForestFile::new(family.as_str(), family, 256, thresholds, trees);
    file.seal();
    file
}

/// A random incident classifier over every class.
pub fn random_classifier(rng: &mut Rng, trees: usize) -> ClassifierFile {
    let names: Vec<&str> = features::classifier_names().collect();
    let n_classes = Incident::CLASSES.len();
    let trees = (0..trees)
        .map(|_| {
            let g = grow(rng, &names, 64, 6);
            let value = g
                .left
                .iter()
                .map(|_| {
                    // Nearly pure leaves, as a fitted forest has: one class
                    // takes most of the mass, so the forest names kinds with
                    // the confidence that renames an ongoing incident.
                    let top = rng.below(n_classes as u64) as usize;
                    let counts: Vec<u64> = (0..n_classes)
                        .map(|k| {
                            if k == top {
                                40 + rng.below(20)
                            } else {
                                rng.below(3)
                            }
                        })
                        .collect();
                    let total: u64 = counts.iter().sum();
                    counts.iter().map(|c| *c as f64 / total as f64).collect()
                })
                .collect();
            ClassifierTreeFile {
                left: g.left,
                right: g.right,
                feature: g.feature,
                threshold: g.threshold,
                value,
            }
        })
        .collect();
    let mut file = ClassifierFile::new("incident", &Incident::CLASSES, trees);
    file.seal();
    file
}

/// Writes a model set (forests for every family, a classifier) to `dir`,
/// with per-family thresholds from `thresholds`.
pub fn write_model_set(
    dir: &Path,
    seed: u64,
    trees: usize,
    thresholds: &dyn Fn(Family) -> Thresholds,
) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    let mut manifest = Manifest::new("parity");
    for family in Family::ALL {
        let file = random_forest(&mut rng, family, trees, thresholds(family));
        let bytes = file.to_json();
        let path = format!("{}.json", family.as_str());
        fs::write(dir.join(&path), &bytes)?;
        manifest.add_file(path, &bytes, Role::Forest, Some(family));
    }
    let classifier = random_classifier(&mut rng, trees.min(5));
    let bytes = classifier.to_json();
    fs::write(dir.join("incident.json"), &bytes)?;
    manifest.add_file("incident.json", &bytes, Role::Classifier, None);
    fs::write(dir.join(MANIFEST), manifest.to_json())
}

/// Loads the model set in `dir` as the plugin does (`None` without a manifest).
pub fn load_model_set(dir: &Path) -> Option<ModelSet> {
    let manifest = fs::read(dir.join(MANIFEST)).ok()?;
    ModelSet::from_manifest(&manifest, |p| fs::read(dir.join(p)).ok()).ok()
}

/// The configuration the Vector scorer runs with: the defaults, with
/// Kubernetes events counted as the polls list them
/// ([`FilterConfig::events_polled`]; `scorer_lua` always sets it).
pub fn vector_filter_config() -> FilterConfig {
    as_vector_runs(&FilterConfig::default())
}

/// `config` as the Vector scorer runs it: Kubernetes events counted as the
/// polls list them ([`FilterConfig::events_polled`]).
pub fn as_vector_runs(config: &FilterConfig) -> FilterConfig {
    FilterConfig {
        events_polled: true,
        ..config.clone()
    }
}

/// The native core's `edgeheal` object for each record (JSON lines), run as
/// the Vector scorer runs ([`vector_filter_config`]).
pub fn native_tags(models: Option<ModelSet>, records: &[String]) -> Vec<serde_json::Value> {
    native_tags_with(vector_filter_config(), models, records)
}

/// [`native_tags`] with `config`.
pub fn native_tags_with(
    config: FilterConfig,
    models: Option<ModelSet>,
    records: &[String],
) -> Vec<serde_json::Value> {
    let mut filter = Filter::new(config, models);
    let mut out = Vec::new();
    records
        .iter()
        .map(|r| {
            filter.process(b"kube.vector", EVENT_TIME_NS, r.as_bytes(), &mut out);
            serde_json::from_slice::<serde_json::Value>(&out)
                .ok()
                .and_then(|mut v| v.get_mut("edgeheal").map(serde_json::Value::take))
                .unwrap_or(serde_json::Value::Null)
        })
        .collect()
}

/// Calibrates thresholds on the stream: per family, the warning threshold at
/// the 97th and the critical at the 99.5th percentile of the scores the native
/// core reaches with the uncalibrated set in `dir`; then rewrites the set.
pub fn calibrate(dir: &Path, seed: u64, trees: usize, records: &[String]) -> io::Result<()> {
    let loose = Thresholds {
        warning: 0.99,
        critical: 0.995,
    };
    write_model_set(dir, seed, trees, &|_| loose)?;
    let mut per_family: Vec<Vec<f64>> = vec![Vec::new(); 6];
    let mut filter = Filter::new(FilterConfig::default(), load_model_set(dir));
    filter.record_evaluations(true);
    let mut out = Vec::new();
    for r in records {
        filter.process(b"kube.vector", EVENT_TIME_NS, r.as_bytes(), &mut out);
        for e in filter.evaluations() {
            if let Some(s) = e.score {
                per_family[e.family.index()].push(s);
            }
        }
    }
    // The lowest threshold at or above which at most `1 - q` of the scores
    // fall: above the quantile itself when it is tied (one-sided features
    // give many evaluations the same score at the baseline).
    let quantile = |v: &mut Vec<f64>, q: f64, fallback: f64| {
        if v.is_empty() {
            return fallback;
        }
        v.sort_by(f64::total_cmp);
        let at = ((v.len() - 1) as f64 * q) as usize;
        let t = v[at];
        if at > 0 && v[at - 1] == t {
            v[at..].iter().copied().find(|s| *s > t).unwrap_or(1.0)
        } else {
            t
        }
    };
    let mut cut = [(0.6, 0.7); 6];
    for (i, scores) in per_family.iter_mut().enumerate() {
        let w = quantile(scores, 0.97, 0.6);
        let c = quantile(scores, 0.995, 0.7).max(w);
        cut[i] = (w, c);
    }
    write_model_set(dir, seed, trees, &|f| Thresholds {
        warning: cut[f.index()].0,
        critical: cut[f.index()].1,
    })
}

/// A fault injected into [`mixed_stream`], as a fraction of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fault {
    kind: Incident,
    workload: usize,
    from: f64,
    to: f64,
}

/// One workload of the synthetic fleet: name, pods, controller, log format.
struct Workload {
    name: &'static str,
    pods: &'static [&'static str],
    owner: Option<&'static str>,
    format: LineFormat,
    rps: f64,
    cpu: f64,
    mem: f64,
}

#[derive(Clone, Copy)]
enum LineFormat {
    JsonLatencyMs,
    Nginx,
    Logfmt,
    JsonDuration,
    Text,
    SlogNanos,
    ZapSeconds,
}

const FLEET: &[Workload] = &[
    Workload {
        name: "web",
        pods: &["web-7d4b9c8f6-x2x9z", "web-7d4b9c8f6-b5k2m"],
        owner: Some("ReplicaSet/web-7d4b9c8f6"),
        format: LineFormat::JsonLatencyMs,
        rps: 6.0,
        cpu: 0.4,
        mem: 300e6,
    },
    Workload {
        name: "api",
        pods: &["api-5f9c7d8b4d-qwh4z", "api-5f9c7d8b4d-m2n8p"],
        owner: Some("ReplicaSet/api-5f9c7d8b4d"),
        format: LineFormat::Nginx,
        rps: 4.0,
        cpu: 0.8,
        mem: 500e6,
    },
    Workload {
        name: "worker",
        pods: &["worker-6c8d7f9b5-zt4wq"],
        owner: None,
        format: LineFormat::Logfmt,
        rps: 2.0,
        cpu: 0.2,
        mem: 200e6,
    },
    Workload {
        name: "db",
        pods: &["db-0", "db-1"],
        owner: Some("StatefulSet/db"),
        format: LineFormat::Text,
        rps: 1.0,
        cpu: 1.5,
        mem: 2e9,
    },
    Workload {
        name: "cache",
        pods: &["cache-x7k2p"],
        owner: None,
        format: LineFormat::JsonDuration,
        rps: 1.5,
        cpu: 0.1,
        mem: 100e6,
    },
];

const FAULTS: &[Fault] = &[
    Fault {
        kind: Incident::ErrorBurst,
        workload: 0,
        from: 0.20,
        to: 0.28,
    },
    Fault {
        kind: Incident::CpuSaturation,
        workload: 3,
        from: 0.25,
        to: 0.33,
    },
    Fault {
        kind: Incident::LatencySpike,
        workload: 1,
        from: 0.38,
        to: 0.46,
    },
    Fault {
        kind: Incident::MemoryLeak,
        workload: 4,
        from: 0.45,
        to: 0.65,
    },
    Fault {
        kind: Incident::TrafficSurge,
        workload: 2,
        from: 0.55,
        to: 0.63,
    },
    Fault {
        kind: Incident::CrashLoop,
        workload: 1,
        from: 0.72,
        to: 0.82,
    },
];

/// `ts_ns` as the core writes times (RFC 3339, UTC).
pub fn rfc3339(ts_ns: i64) -> String {
    let mut out = Vec::new();
    edgeheal_plugin::timestamp::write_rfc3339(&mut out, ts_ns);
    String::from_utf8(out).unwrap_or_default()
}

/// A deterministic mixed stream of Vector-shaped records (`kubernetes_logs`
/// lines in five formats, `metric_to_log` cAdvisor samples, flat
/// kube-state-metrics samples, Kubernetes events) over `seconds` of a small
/// fleet, with one fault of every kind. `rate` scales the log volume.
pub fn mixed_stream(seed: u64, seconds: i64, rate: f64) -> Vec<String> {
    fleet_stream(seed, seconds, rate, &|w| w.format)
}

/// A Go logging library, as [`mixed_stream_go`] writes its request lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GoLogger {
    /// `slog.NewJSONHandler`: a request's `duration` in integer nanoseconds.
    Slog,
    /// `zap.NewProduction`: epoch seconds under `ts`, a `caller`, a
    /// request's `latency` in float seconds.
    Zap,
}

/// [`mixed_stream`] with two workloads written in Go: `api` (whose latency
/// spikes) logs with `api_logger` and `cache` with the other one. The same
/// faults at the same times; the random draws of the replaced formats
/// differ, so the rest of the stream is not the same record for record.
pub fn mixed_stream_go(seed: u64, seconds: i64, rate: f64, api_logger: GoLogger) -> Vec<String> {
    let (api, cache) = match api_logger {
        GoLogger::Slog => (LineFormat::SlogNanos, LineFormat::ZapSeconds),
        GoLogger::Zap => (LineFormat::ZapSeconds, LineFormat::SlogNanos),
    };
    fleet_stream(seed, seconds, rate, &|w| match w.name {
        "api" => api,
        "cache" => cache,
        _ => w.format,
    })
}

fn fleet_stream(
    seed: u64,
    seconds: i64,
    rate: f64,
    format: &dyn Fn(&Workload) -> LineFormat,
) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut cpu_total: Vec<Vec<f64>> = FLEET.iter().map(|w| vec![0.0; w.pods.len()]).collect();
    let mut restarts: Vec<Vec<u32>> = FLEET.iter().map(|w| vec![0; w.pods.len()]).collect();
    let active = |w: usize, kind: Incident, t: i64| {
        let f = t as f64 / seconds as f64;
        FAULTS
            .iter()
            .any(|x| x.workload == w && x.kind == kind && f >= x.from && f < x.to)
    };
    let leak_start = |w: usize| {
        FAULTS
            .iter()
            .find(|x| x.workload == w && x.kind == Incident::MemoryLeak)
            .map_or(i64::MAX, |x| (x.from * seconds as f64) as i64)
    };
    for t in 0..seconds {
        let base_ns = EVENT_TIME_NS + t * 1_000_000_000;
        for (wi, w) in FLEET.iter().enumerate() {
            let surge = if active(wi, Incident::TrafficSurge, t) {
                6.0
            } else {
                1.0
            };
            for (pi, pod) in w.pods.iter().enumerate() {
                let lines = w.rps * rate * surge * (0.7 + 0.6 * rng.unit());
                let n = lines.floor() as u32 + u32::from(rng.unit() < lines.fract());
                for k in 0..n {
                    let ts = base_ns
                        + i64::from(k) * 1_000_000_000 / i64::from(n.max(1))
                        + rng.below(1000) as i64;
                    let error_p = if active(wi, Incident::ErrorBurst, t) {
                        0.45
                    } else {
                        0.01
                    };
                    let status = if rng.unit() < error_p { 503 } else { 200 };
                    let slow = if active(wi, Incident::LatencySpike, t) {
                        12.0
                    } else {
                        1.0
                    };
                    let latency = (20.0 + 15.0 * rng.normal().abs()) * slow;
                    let line = LogLine {
                        ts,
                        status,
                        latency,
                    };
                    out.push(vector_log(w, format(w), pod, &line, &mut rng));
                }
                // cAdvisor every 15 s.
                if t % 15 == (pi as i64 * 3) % 15 {
                    let mut cores = w.cpu * (0.9 + 0.2 * rng.unit());
                    if active(wi, Incident::CpuSaturation, t) && pi == 0 {
                        cores *= 6.0;
                    }
                    cpu_total[wi][pi] += cores * 15.0;
                    let mut mem = w.mem * (0.97 + 0.06 * rng.unit());
                    let ls = leak_start(wi);
                    if t >= ls {
                        mem *= 1.0 + 0.03 * ((t - ls) as f64 / 60.0);
                    }
                    let ts = base_ns + 250_000;
                    out.push(vector_metric(
                        "container_cpu_usage_seconds_total",
                        "counter",
                        cpu_total[wi][pi],
                        w,
                        pod,
                        ts,
                    ));
                    out.push(vector_metric(
                        "container_memory_working_set_bytes",
                        "gauge",
                        mem.round(),
                        w,
                        pod,
                        ts,
                    ));
                    if t % 60 == 0 {
                        out.push(flat_restarts(w, pod, restarts[wi][pi], base_ns));
                    }
                }
                // Crash loop: the first pod restarts every 20 s.
                if pi == 0 && active(wi, Incident::CrashLoop, t) && t % 20 == 0 {
                    restarts[wi][pi] += 1;
                    out.push(k8s_event(
                        w,
                        pod,
                        "Started",
                        "Normal",
                        "Started container",
                        base_ns,
                    ));
                    out.push(k8s_event(
                        w,
                        pod,
                        "BackOff",
                        "Warning",
                        "Back-off restarting failed container",
                        base_ns + 1_000_000,
                    ));
                }
            }
        }
        if t % 300 == 7 {
            out.push(k8s_event(
                &FLEET[0],
                FLEET[0].pods[1],
                "Pulled",
                "Normal",
                "Container image already present",
                base_ns,
            ));
        }
    }
    out
}

/// What a request log line says: when, its status and its latency (ms).
struct LogLine {
    ts: i64,
    status: u16,
    latency: f64,
}

fn vector_log(
    w: &Workload,
    format: LineFormat,
    pod: &str,
    &LogLine {
        ts,
        status,
        latency,
    }: &LogLine,
    rng: &mut Rng,
) -> String {
    let error = status >= 500;
    let stamp = rfc3339(ts);
    let path = ["/cart", "/api/items", "/checkout", "/health"][rng.below(4) as usize];
    let line = match format {
        LineFormat::JsonLatencyMs => serde_json::json!({
            "ts": stamp, "level": if error { "error" } else { "info" }, "msg": "request completed",
            "method": "GET", "path": path, "status": status, "latency_ms": (latency * 100.0).round() / 100.0,
        })
        .to_string(),
        LineFormat::JsonDuration => serde_json::json!({
            "time": stamp, "level": if error { "ERROR" } else { "INFO" }, "msg": "handled request",
            "method": "POST", "path": path, "status": status, "duration": format!("{:.3}s", latency / 1000.0),
        })
        .to_string(),
        // slog.NewJSONHandler: `slog.Duration` as integer nanoseconds.
        LineFormat::SlogNanos => serde_json::json!({
            "time": stamp, "level": if error { "ERROR" } else { "INFO" }, "msg": "request",
            "method": "GET", "path": path, "status": status, "duration": (latency * 1e6).round() as i64,
        })
        .to_string(),
        // zap.NewProduction: epoch seconds, caller, `zap.Duration` as float seconds.
        LineFormat::ZapSeconds => serde_json::json!({
            "level": if error { "error" } else { "info" }, "ts": ts as f64 / 1e9,
            "caller": "server/http.go:87", "msg": "served", "method": "GET", "path": path,
            "status": status, "latency": latency / 1000.0,
        })
        .to_string(),
        LineFormat::Nginx => format!(
            "10.0.{}.{} - - [01/May/2024:10:00:00 +0000] \"GET {path} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" {:.3}",
            rng.below(4),
            rng.below(250),
            200 + rng.below(5000),
            latency / 1000.0
        ),
        LineFormat::Logfmt => format!(
            "time=\"{stamp}\" level={} msg=\"{}\" op=GET target={path} status={status} duration={:.1}ms",
            if error { "error" } else { "info" },
            if error { "flush failed" } else { "flushed chunk" },
            latency
        ),
        LineFormat::Text => {
            if error {
                format!("2024-05-01 10:00:00.000 UTC [42] ERROR:  canceling statement due to statement timeout after {latency:.3} ms")
            } else {
                format!("2024-05-01 10:00:00.000 UTC [42] LOG:  duration: {latency:.3} ms  statement: SELECT * FROM items WHERE id = 7")
            }
        }
    };
    let mut kubernetes = serde_json::json!({
        "container_name": w.name,
        "pod_labels": {"app.kubernetes.io/name": w.name},
        "pod_name": pod,
        "pod_namespace": "shop",
        "pod_node_name": "node-1",
    });
    if let Some(owner) = w.owner {
        kubernetes["pod_owner"] = serde_json::Value::from(owner);
    }
    serde_json::json!({
        "file": format!("/var/log/pods/shop_{pod}_uid/{}/0.log", w.name),
        "kubernetes": kubernetes,
        "message": line,
        "source_type": "kubernetes_logs",
        "stream": if error { "stderr" } else { "stdout" },
        "timestamp": stamp,
    })
    .to_string()
}

fn vector_metric(name: &str, kind: &str, value: f64, w: &Workload, pod: &str, ts: i64) -> String {
    serde_json::json!({
        "name": name,
        "kind": "absolute",
        kind: {"value": value},
        "tags": {"container": w.name, "namespace": "shop", "pod": pod, "instance": "10.0.0.5:10250"},
        "timestamp": rfc3339(ts),
    })
    .to_string()
}

fn flat_restarts(w: &Workload, pod: &str, n: u32, ts: i64) -> String {
    serde_json::json!({
        "metric": "kube_pod_container_status_restarts_total",
        "value": n,
        "labels": {"namespace": "shop", "pod": pod, "container": w.name},
        "timestamp": ts / 1_000_000,
    })
    .to_string()
}

fn k8s_event(w: &Workload, pod: &str, reason: &str, kind: &str, message: &str, ts: i64) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{pod}.17c"), "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "shop", "fieldPath": format!("spec.containers{{{}}}", w.name)},
        "reason": reason,
        "message": message,
        "type": kind,
        "count": 1,
        "source": {"component": "kubelet", "host": "node-1"},
        "lastTimestamp": rfc3339(ts - ts.rem_euclid(1_000_000_000)),
    })
    .to_string()
}
