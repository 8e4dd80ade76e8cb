//! Raw signals per workload and scrape interval: what a dashboard, an alert
//! rule or an HPA sees — absolute values, no per-entity baseline.
//!
//! Records go through the plugin's normalization only (no filter state). Per
//! workload, at the end of every scrape interval that had records, one
//! [`RawRow`] holds:
//! - CPU cores and memory bytes summed over the workload's containers that
//!   reported in the last two intervals (CPU counters turned into rates), and
//!   their limits when every such container has one;
//! - request rate, error ratio and latency quantiles over the log lines of
//!   the last `window_intervals` intervals (a `rate(...[1m])` with the
//!   default 4 × 15 s);
//! - container restarts (counter increments), `BackOff` and `OOMKilled`
//!   events in the last `restart_window_s` seconds.

use std::collections::{BTreeMap, HashMap, VecDeque};

use edgeheal_plugin::observation::{EventReason, MetricName, Observation, Signal};
use edgeheal_plugin::sketch::LatencySketch;

use crate::dataset::Dataset;
use crate::error::Error;
use crate::replay::{about_a_workload, observe};
use edgeheal_plugin::normalize::MERGE_LOG_KEY;

const NS: i64 = 1_000_000_000;

/// Raw values of one workload at the end of one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RawRow {
    /// Time of the last record of the interval, ns.
    pub ts_ns: i64,
    /// CPU in use, cores (`None` without CPU samples).
    pub cpu_cores: Option<f64>,
    /// Summed CPU limit, cores.
    pub cpu_limit: Option<f64>,
    /// Memory working set, bytes.
    pub mem_bytes: Option<f64>,
    /// Summed memory limit, bytes.
    pub mem_limit: Option<f64>,
    /// Log lines in the window.
    pub lines: u32,
    /// Requests (or lines, for workloads without request logs) per second.
    pub request_rate: Option<f64>,
    /// Error lines over lines in the window.
    pub error_ratio: Option<f64>,
    /// Median request latency in the window, ms.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile request latency in the window, ms.
    pub latency_p95_ms: Option<f64>,
    /// Container restarts in the restart window.
    pub restarts: f64,
    /// `BackOff` events in the restart window.
    pub backoffs: f64,
    /// `OOMKilled` events in the restart window.
    pub oom_kills: f64,
}

/// Window sizes of the raw aggregation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawConfig {
    /// Intervals the log-derived values cover.
    pub window_intervals: u32,
    /// Seconds the restart counts cover.
    pub restart_window_s: u32,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            window_intervals: 4,
            restart_window_s: 600,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Container {
    cpu_counter: Option<(i64, f64)>,
    cpu_cores: Option<f64>,
    cpu_limit: Option<f64>,
    mem_bytes: Option<f64>,
    mem_limit: Option<f64>,
    restarts_total: Option<f64>,
    seen_ns: i64,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    idx: i64,
    lines: u32,
    requests: u32,
    errors: u32,
    latency: LatencySketch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestartKind {
    Restart,
    BackOff,
    OomKill,
}

#[derive(Debug, Default)]
struct Workload {
    containers: HashMap<String, Container>,
    buckets: VecDeque<Bucket>,
    restarts: VecDeque<(i64, RestartKind, f64)>,
    current: Option<i64>,
    last_ts: i64,
    ever_requests: bool,
    rows: Vec<RawRow>,
}

impl Workload {
    fn bucket(&mut self, idx: i64) -> &mut Bucket {
        if self.buckets.back().is_none_or(|b| b.idx != idx) {
            self.buckets.push_back(Bucket {
                idx,
                ..Bucket::default()
            });
        }
        let last = self.buckets.len() - 1;
        &mut self.buckets[last]
    }

    fn close(&mut self, idx: i64, interval_ns: i64, cfg: &RawConfig) {
        let now = self.last_ts;
        let mut row = RawRow {
            ts_ns: now,
            ..RawRow::default()
        };
        let stale = 2 * interval_ns + NS;
        let (mut cores, mut cpu_limit, mut cpu_limited, mut cpu_any) = (0.0, 0.0, true, false);
        let (mut bytes, mut mem_limit, mut mem_limited, mut mem_any) = (0.0, 0.0, true, false);
        for c in self.containers.values() {
            if now - c.seen_ns > stale {
                continue;
            }
            if let Some(v) = c.cpu_cores {
                cpu_any = true;
                cores += v;
                match c.cpu_limit {
                    Some(l) if l > 0.0 => cpu_limit += l,
                    _ => cpu_limited = false,
                }
            }
            if let Some(v) = c.mem_bytes {
                mem_any = true;
                bytes += v;
                match c.mem_limit {
                    Some(l) if l > 0.0 => mem_limit += l,
                    _ => mem_limited = false,
                }
            }
        }
        if cpu_any {
            row.cpu_cores = Some(cores);
            row.cpu_limit = cpu_limited.then_some(cpu_limit);
        }
        if mem_any {
            row.mem_bytes = Some(bytes);
            row.mem_limit = mem_limited.then_some(mem_limit);
        }
        let w = i64::from(cfg.window_intervals.max(1));
        while self.buckets.front().is_some_and(|b| b.idx <= idx - w) {
            self.buckets.pop_front();
        }
        let mut total = Bucket::default();
        for b in &self.buckets {
            total.lines += b.lines;
            total.requests += b.requests;
            total.errors += b.errors;
            total.latency.merge(&b.latency);
        }
        if let Some(first) = self.buckets.front() {
            let covered = (idx - first.idx + 1).clamp(1, w);
            let seconds = (covered * interval_ns) as f64 / 1e9;
            let count = if self.ever_requests {
                total.requests
            } else {
                total.lines
            };
            row.lines = total.lines;
            row.request_rate = Some(f64::from(count) / seconds);
            if total.lines > 0 {
                row.error_ratio = Some(f64::from(total.errors) / f64::from(total.lines));
            }
            row.latency_p50_ms = total.latency.quantile(0.5);
            row.latency_p95_ms = total.latency.quantile(0.95);
        }
        let horizon = now - i64::from(cfg.restart_window_s) * NS;
        while self.restarts.front().is_some_and(|(t, _, _)| *t <= horizon) {
            self.restarts.pop_front();
        }
        for (_, kind, n) in &self.restarts {
            match kind {
                RestartKind::Restart => row.restarts += n,
                RestartKind::BackOff => row.backoffs += n,
                RestartKind::OomKill => row.oom_kills += n,
            }
        }
        self.rows.push(row);
    }

    fn add(&mut self, obs: &Observation<'_>) {
        let ts = obs.ts_ns;
        match obs.signal {
            Signal::Log(log) => {
                let idx = self.current.unwrap_or(0);
                self.ever_requests |= log.is_request;
                let b = self.bucket(idx);
                b.lines += 1;
                b.requests += u32::from(log.is_request);
                b.errors += u32::from(log.is_error());
                if let Some(ms) = log.latency_ms {
                    b.latency.add(ms);
                }
            }
            Signal::Event(e) => {
                let kind = match e.reason {
                    EventReason::BackOff => RestartKind::BackOff,
                    EventReason::OomKilled => RestartKind::OomKill,
                    _ => return,
                };
                self.restarts
                    .push_back((ts, kind, f64::from(e.count.max(1))));
            }
            Signal::Metric(m) => {
                let v = m.value;
                if !v.is_finite() {
                    return;
                }
                let key = format!(
                    "{}/{}",
                    obs.identity.pod.as_deref().unwrap_or(""),
                    obs.identity.container.as_deref().unwrap_or("")
                );
                let c = self.containers.entry(key).or_default();
                c.seen_ns = ts;
                let mut restarted = 0.0;
                match m.name {
                    MetricName::CpuSecondsTotal => {
                        if let Some((t0, v0)) = c.cpu_counter.replace((ts, v)) {
                            if ts > t0 && v >= v0 {
                                c.cpu_cores = Some((v - v0) / ((ts - t0) as f64 / 1e9));
                            }
                        }
                    }
                    MetricName::CpuCores => c.cpu_cores = Some(v.max(0.0)),
                    MetricName::NodeCpuPercent => {
                        c.cpu_cores = Some(v.max(0.0) / 100.0);
                        c.cpu_limit = Some(1.0);
                    }
                    MetricName::CpuLimitCores => c.cpu_limit = Some(v),
                    MetricName::MemoryWorkingSetBytes => c.mem_bytes = Some(v.max(0.0)),
                    MetricName::NodeMemoryPercent => {
                        c.mem_bytes = Some(v.max(0.0));
                        c.mem_limit = Some(100.0);
                    }
                    MetricName::MemoryLimitBytes => c.mem_limit = Some(v),
                    MetricName::RestartsTotal => {
                        if let Some(prev) = c.restarts_total.replace(v) {
                            if v > prev {
                                restarted = v - prev;
                            }
                        }
                    }
                    MetricName::CpuRequestCores
                    | MetricName::MemoryRequestBytes
                    | MetricName::RequestsTotal
                    | MetricName::Other => {}
                }
                if restarted > 0.0 {
                    self.restarts
                        .push_back((ts, RestartKind::Restart, restarted));
                }
            }
            Signal::None => {}
        }
    }
}

/// Workload key (`<data set index>:<namespace/workload>`, as in
/// [`crate::evaluate`]) → its rows in time order.
pub type RawRun = BTreeMap<String, Vec<RawRow>>;

/// Aggregates one run into raw rows; `set` prefixes the workload keys.
pub fn raw_rows(data: &Dataset, set: usize, cfg: &RawConfig) -> Result<RawRun, Error> {
    let interval_ns = i64::from(data.interval_s().max(1)) * NS;
    let mut workloads: HashMap<String, Workload> = HashMap::new();
    let mut key = String::new();
    observe(data, "raw signals", MERGE_LOG_KEY, |obs, entity| {
        let Some(entity) = entity else { return };
        if !about_a_workload(obs) {
            return;
        }
        key.clear();
        key.push_str(&set.to_string());
        key.push(':');
        key.push_str(entity);
        let w = match workloads.get_mut(key.as_str()) {
            Some(w) => w,
            None => workloads.entry(key.clone()).or_default(),
        };
        let idx = obs.ts_ns.div_euclid(interval_ns);
        match w.current {
            Some(cur) if idx > cur => {
                w.close(cur, interval_ns, cfg);
                w.current = Some(idx);
            }
            None => w.current = Some(idx),
            Some(_) => {}
        }
        w.last_ts = w.last_ts.max(obs.ts_ns);
        w.add(obs);
    })?;
    let mut out = RawRun::new();
    for (k, mut w) in workloads {
        if let Some(cur) = w.current {
            w.close(cur, interval_ns, cfg);
        }
        out.insert(k, w.rows);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// A tiny run: one workload, 15 s scrapes of a CPU counter at 0.5
    /// cores/s with a 1-core limit, 10 access-log lines per interval of which
    /// 2 are 5xx, and one restart (counter 0 → 1) at 60 s.
    fn run() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut t = String::new();
        let base = 1_740_960_000i64;
        let labels = r#""namespace":"shop","pod":"cart-7d9f8b6c5d-x2x9z","container":"app""#;
        for i in 0..8i64 {
            let ms = (base + 15 * i) * 1000;
            let _ = writeln!(
                t,
                r#"{{"metric":"container_cpu_usage_seconds_total","value":{:.1},"labels":{{{labels}}},"timestamp":{ms}}}"#,
                0.5 * (15 * i) as f64
            );
            let _ = writeln!(
                t,
                r#"{{"metric":"kube_pod_container_resource_limits","value":1.0,"labels":{{{labels},"resource":"cpu","unit":"core"}},"timestamp":{ms}}}"#
            );
            let _ = writeln!(
                t,
                r#"{{"metric":"kube_pod_container_status_restarts_total","value":{}.0,"labels":{{{labels}}},"timestamp":{ms}}}"#,
                i64::from(i >= 4)
            );
        }
        std::fs::write(dir.path().join("telemetry.ndjson"), t).unwrap();
        std::fs::write(dir.path().join("labels.json"), "[]").unwrap();
        dir
    }

    #[test]
    fn cpu_counters_become_rates_and_restarts_are_counted() {
        let dir = run();
        let data = Dataset::open(dir.path()).unwrap();
        let rows = raw_rows(&data, 0, &RawConfig::default()).unwrap();
        let cart = rows.get("0:shop/cart").expect("the workload is named");
        assert_eq!(cart.len(), 8);
        let last = cart.last().unwrap();
        assert!((last.cpu_cores.unwrap() - 0.5).abs() < 1e-9, "{last:?}");
        assert_eq!(last.cpu_limit, Some(1.0));
        assert_eq!(last.restarts, 1.0);
        assert_eq!(cart[0].cpu_cores, None);
        assert_eq!(cart[3].restarts, 0.0);
    }
}
