//! Per-entity state: bounded sliding windows and baselines for one workload or
//! one pod, and the family features computed from them.
//!
//! Workload entities hold the service signals from logs (request rate, error
//! ratio, latency quantiles in a window of `window_buckets` buckets); pod
//! entities hold the resource signals from metrics (CPU, memory per container)
//! and the restart signals from events and counters. Each family is evaluated
//! only when its inputs change — a bucket rolls, a metric sample or an event
//! arrives — and the entity's `version` moves so cached verdicts are refreshed.
//! All state is fixed-size per entity, and entities live in a bounded LRU.

use crate::baseline::Ewma;
use crate::config::FilterConfig;
use crate::features;
use crate::observation::{EventReason, EventSignal, LogSignal, MetricName, MetricSignal};
use crate::sketch::LatencySketch;
use crate::verdict::Family;

/// Containers tracked per pod; further containers share the last slot.
pub const MAX_CONTAINERS: usize = 4;
/// Sub-windows of the restart window.
const RESTART_SLOTS: usize = 16;
/// Restart window counters: restarts, back-offs, OOM kills, unhealthy probes.
const RESTART_KINDS: usize = 4;
/// Metric samples older than this (relative to the newest of the pod) no
/// longer count towards the pod's sum.
const STALE_NS: i64 = 5 * 60 * 1_000_000_000;

/// Counts of one window bucket.
#[derive(Debug, Clone, Default, PartialEq)]
struct Bucket {
    lines: u32,
    requests: u32,
    errors: u32,
    latency: LatencySketch,
}

impl Bucket {
    fn add(&mut self, other: &Bucket) {
        self.lines = self.lines.saturating_add(other.lines);
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.latency.merge(&other.latency);
    }

    /// What the request rate counts: requests once the entity has logged
    /// any, every line before.
    fn traffic(&self, requests: bool) -> u32 {
        if requests {
            self.requests
        } else {
            self.lines
        }
    }
}

/// The last values of one container's resource metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ContainerTrack {
    id: u64,
    used: bool,
    seen_ns: i64,
    cpu_counter: Option<(i64, f64)>,
    cpu_cores: Option<f64>,
    cpu_ns: i64,
    mem_bytes: Option<f64>,
    /// The memory sample before `mem_bytes` (a restart replaces the last one).
    mem_before: Option<f64>,
    mem_ns: i64,
    cpu_limit: Option<f64>,
    mem_limit: Option<f64>,
    restarts_total: Option<f64>,
}

/// Share of the memory limit at or above which a restart counts as an OOM kill.
const OOM_SHARE: f64 = 0.9;

impl ContainerTrack {
    /// Whether the container's memory was at its limit in one of its last two
    /// samples: a restart then is an OOM kill (the kernel reports those on the
    /// Node, naming no pod).
    fn near_memory_limit(&self) -> bool {
        let Some(limit) = self.mem_limit.filter(|l| *l > 0.0) else {
            return false;
        };
        [self.mem_bytes, self.mem_before]
            .into_iter()
            .flatten()
            .any(|m| m >= OOM_SHARE * limit)
    }
}

/// Which families an update evaluated, and which of them changed: their
/// features, context or warmth differ from the last evaluation's (bit
/// `Family::index()` of each mask). An unchanged family has the score it had,
/// so only changed ones are scored again and move the entity's version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evaluated {
    all: u8,
    changed: u8,
}

impl Evaluated {
    fn set(&mut self, f: Family, changed: bool) {
        self.all |= 1 << f.index();
        if changed {
            self.changed |= 1 << f.index();
        }
    }

    /// Whether `f` was evaluated.
    pub fn contains(self, f: Family) -> bool {
        self.all & (1 << f.index()) != 0
    }

    /// Whether nothing was evaluated.
    pub fn is_empty(self) -> bool {
        self.all == 0
    }

    /// The evaluated families, in [`Family::ALL`] order.
    pub fn families(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The evaluated families that changed, as a set of their own.
    pub fn changed(self) -> Evaluated {
        Evaluated {
            all: self.changed,
            changed: self.changed,
        }
    }
}

/// The state of one entity (a workload or a pod).
#[derive(Debug, Clone, PartialEq)]
pub struct EntityState {
    ring: Vec<Bucket>,
    ring_pos: usize,
    filled: usize,
    current: Bucket,
    current_idx: Option<i64>,
    ever_requests: bool,
    ever_lines: bool,
    rate_base: Ewma,
    rate_prev: f64,
    error_base: Ewma,
    p50_base: Ewma,
    p95_base: Ewma,

    containers: [ContainerTrack; MAX_CONTAINERS],
    cpu_base: Ewma,
    cpu_prev: f64,
    mem_base: Ewma,
    mem_prev: Option<(i64, f64)>,
    mem_trend: f64,
    mem_ratio_prev: f64,

    restart_slots: [[u16; RESTART_KINDS]; RESTART_SLOTS],
    restart_idx: Option<i64>,
    starts_seen: u32,

    features: [f64; features::CLASSIFIER_LEN],
    evaluated: [bool; 6],
    warm: [bool; 6],
    scores: [Option<f64>; 6],
    /// Per family, the shares of its score ([`crate::forest::IsolationForest::explain`]
    /// of its features; zeros while unscored).
    shares: [Shares; 6],
    version: u64,
}

/// A family's per-feature shares of its score.
pub type Shares = [f64; features::MAX_FAMILY_FEATURES];

const NO_SHARES: Shares = [0.0; features::MAX_FAMILY_FEATURES];

fn hash_str(s: &str) -> u64 {
    // FNV-1a: stable across targets; only distinguishes a pod's few containers.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl EntityState {
    /// A fresh entity for `config`'s window geometry.
    pub fn new(config: &FilterConfig) -> EntityState {
        EntityState::blank(vec![
            Bucket::default();
            config.window_buckets.max(1) as usize
        ])
    }

    fn blank(ring: Vec<Bucket>) -> EntityState {
        EntityState {
            ring,
            ring_pos: 0,
            filled: 0,
            current: Bucket::default(),
            current_idx: None,
            ever_requests: false,
            ever_lines: false,
            rate_base: Ewma::default(),
            rate_prev: 0.0,
            error_base: Ewma::default(),
            p50_base: Ewma::default(),
            p95_base: Ewma::default(),
            containers: [ContainerTrack::default(); MAX_CONTAINERS],
            cpu_base: Ewma::default(),
            cpu_prev: 0.0,
            mem_base: Ewma::default(),
            mem_prev: None,
            mem_trend: 0.0,
            mem_ratio_prev: 0.0,
            restart_slots: [[0; RESTART_KINDS]; RESTART_SLOTS],
            restart_idx: None,
            starts_seen: 0,
            features: [0.0; features::CLASSIFIER_LEN],
            evaluated: [false; 6],
            warm: [false; 6],
            scores: [None; 6],
            shares: [[0.0; features::MAX_FAMILY_FEATURES]; 6],
            version: 0,
        }
    }

    /// Resets the entity for reuse by another key, keeping its allocations.
    pub fn reset(&mut self) {
        let mut ring = std::mem::take(&mut self.ring);
        ring.iter_mut().for_each(|b| *b = Bucket::default());
        // Versions only move forward, so a cache keyed on the old key's version
        // can never match the new key's state.
        let version = self.version.wrapping_add(1);
        *self = EntityState::blank(ring);
        self.version = version;
    }

    /// Changes whenever any family is re-evaluated.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether `family` has been evaluated for this entity.
    pub fn has(&self, family: Family) -> bool {
        self.evaluated.get(family.index()).copied().unwrap_or(false)
    }

    /// Whether `family`'s baseline is past warm-up (its features can be scored).
    pub fn is_warm(&self, family: Family) -> bool {
        self.warm.get(family.index()).copied().unwrap_or(false)
    }

    /// The family's last features followed by its context (zeros before its
    /// first evaluation; see [`features::context`]).
    pub fn family_features(&self, family: Family) -> &[f64] {
        let off = features::classifier_offset(family);
        self.features
            .get(off..off + features::width(family))
            .unwrap_or(&[])
    }

    /// The family's last score (set by the scorer).
    pub fn score(&self, family: Family) -> Option<f64> {
        self.scores.get(family.index()).copied().flatten()
    }

    /// The shares of the family's last score (zeros while unscored).
    pub fn shares(&self, family: Family) -> &Shares {
        self.shares.get(family.index()).unwrap_or(&NO_SHARES)
    }

    /// Records the family's score and the shares of it (set by the scorer).
    pub fn set_score(&mut self, family: Family, score: Option<f64>, shares: Shares) {
        if let Some(s) = self.scores.get_mut(family.index()) {
            *s = score;
        }
        if let Some(s) = self.shares.get_mut(family.index()) {
            *s = shares;
        }
    }

    fn store(&mut self, family: Family, values: &[f64], warm: bool, done: &mut Evaluated) {
        let off = features::classifier_offset(family);
        let i = family.index();
        // Bit for bit, so a NaN equals itself and 0.0 differs from -0.0.
        let same = self.evaluated.get(i) == Some(&true)
            && self.warm.get(i) == Some(&warm)
            && self
                .features
                .get(off..off + values.len())
                .is_some_and(|old| {
                    old.iter()
                        .map(|v| v.to_bits())
                        .eq(values.iter().map(|v| v.to_bits()))
                });
        if !same {
            if let Some(slot) = self.features.get_mut(off..off + values.len()) {
                slot.copy_from_slice(values);
            }
            if let Some(e) = self.evaluated.get_mut(i) {
                *e = true;
            }
            if let Some(w) = self.warm.get_mut(i) {
                *w = warm;
            }
            self.version = self.version.wrapping_add(1);
        }
        done.set(family, !same);
    }

    // ---- service signals (logs) -------------------------------------------

    /// Rolls the log window forward to `ts_ns`, evaluating the service
    /// families when a bucket completes.
    pub fn advance(&mut self, ts_ns: i64, config: &FilterConfig, done: &mut Evaluated) {
        let bucket_ns = i64::from(config.bucket_seconds).saturating_mul(1_000_000_000);
        let idx = ts_ns.div_euclid(bucket_ns.max(1));
        let Some(cur) = self.current_idx else {
            self.current_idx = Some(idx);
            return;
        };
        if idx <= cur {
            return;
        }
        let len = self.ring.len().max(1);
        let gap = usize::try_from(idx.saturating_sub(cur)).unwrap_or(usize::MAX);
        // Close the current bucket, then the empty ones of the gap (at most a
        // window's worth), and evaluate once.
        for i in 0..gap.min(len + 1) {
            let bucket = if i == 0 {
                std::mem::take(&mut self.current)
            } else {
                Bucket::default()
            };
            if let Some(slot) = self.ring.get_mut(self.ring_pos) {
                *slot = bucket;
            }
            self.ring_pos = (self.ring_pos + 1) % len;
            self.filled = (self.filled + 1).min(len);
        }
        if self.ever_lines {
            self.evaluate_service(config, done);
        }
        self.current_idx = Some(idx);
    }

    /// Counts one log line into the current bucket.
    pub fn add_log(&mut self, log: &LogSignal) {
        self.ever_lines = true;
        self.current.lines = self.current.lines.saturating_add(1);
        if log.is_request {
            self.ever_requests = true;
            self.current.requests = self.current.requests.saturating_add(1);
        }
        if log.is_error() {
            self.current.errors = self.current.errors.saturating_add(1);
        }
        if let Some(ms) = log.latency_ms {
            self.current.latency.add(ms);
        }
    }

    fn evaluate_service(&mut self, config: &FilterConfig, done: &mut Evaluated) {
        let mut total = Bucket::default();
        for b in &self.ring {
            total.add(b);
        }
        let seconds = (self.filled.max(1) as f64) * f64::from(config.bucket_seconds);
        let alpha = Ewma::alpha_for_half_life(config.baseline_half_life);
        let warmup = config.warmup;

        let rate = f64::from(total.traffic(self.ever_requests)) / seconds;
        // The bucket that just closed (the newest in the ring).
        let len = self.ring.len().max(1);
        let newest = self
            .ring
            .get((self.ring_pos + len - 1) % len)
            .map_or(0, |b| b.traffic(self.ever_requests));
        let last = f64::from(newest) / f64::from(config.bucket_seconds.max(1));
        let warm = self.rate_base.count() >= warmup;
        let f = features::traffic(rate, &self.rate_base, self.rate_prev, last);
        self.rate_prev = f[0];
        self.store(Family::Traffic, &f, warm, done);
        self.rate_base.update(rate, alpha, 0.05, 0.01);

        let ratio = f64::from(total.errors) / f64::from(total.lines.max(1));
        let warm = self.error_base.count() >= warmup;
        let f = features::errors(ratio, &self.error_base);
        self.store(Family::Errors, &f, warm, done);
        self.error_base.update(ratio, alpha, 0.1, 0.005);

        if let (Some(p50), Some(p95)) = (total.latency.quantile(0.5), total.latency.quantile(0.95))
        {
            let warm = self.p95_base.count() >= warmup;
            let slow = if self.p50_base.count() > 0 {
                total
                    .latency
                    .share_above(features::SLOW_FACTOR * self.p50_base.mean())
            } else {
                0.0
            };
            let f = features::latency(p50, p95, slow, &self.p50_base, &self.p95_base);
            self.store(Family::Latency, &f, warm, done);
            self.p50_base.update(p50, alpha, 0.05, 0.1);
            self.p95_base.update(p95, alpha, 0.05, 0.1);
        }
    }

    // ---- resource signals (metrics) ----------------------------------------

    fn container(&mut self, container: &str) -> Option<&mut ContainerTrack> {
        let id = hash_str(container);
        let pos = self
            .containers
            .iter()
            .position(|c| c.used && c.id == id)
            .or_else(|| self.containers.iter().position(|c| !c.used))
            .unwrap_or(MAX_CONTAINERS - 1);
        let c = self.containers.get_mut(pos)?;
        if !c.used || c.id != id {
            *c = ContainerTrack {
                id,
                used: true,
                ..ContainerTrack::default()
            };
        }
        Some(c)
    }

    /// Folds a metric sample for `container` into the entity, evaluating the
    /// family it feeds.
    pub fn add_metric(
        &mut self,
        ts_ns: i64,
        container: &str,
        metric: &MetricSignal,
        config: &FilterConfig,
        done: &mut Evaluated,
    ) {
        let v = metric.value;
        if !v.is_finite() {
            return;
        }
        let mut restart_delta = 0.0;
        let mut oom = false;
        let family = {
            let Some(c) = self.container(container) else {
                return;
            };
            c.seen_ns = ts_ns;
            match metric.name {
                MetricName::CpuSecondsTotal => {
                    let prev = c.cpu_counter.replace((ts_ns, v));
                    match prev {
                        Some((t0, v0)) if ts_ns > t0 && v >= v0 => {
                            let dt = (ts_ns - t0) as f64 / 1e9;
                            c.cpu_cores = Some((v - v0) / dt);
                            c.cpu_ns = ts_ns;
                            Some(Family::Cpu)
                        }
                        // First sample, counter reset, or out of order: no rate yet.
                        _ => None,
                    }
                }
                MetricName::CpuCores => {
                    c.cpu_cores = Some(v.max(0.0));
                    c.cpu_ns = ts_ns;
                    Some(Family::Cpu)
                }
                MetricName::NodeCpuPercent => {
                    c.cpu_cores = Some(v.max(0.0) / 100.0);
                    c.cpu_limit = Some(1.0);
                    c.cpu_ns = ts_ns;
                    Some(Family::Cpu)
                }
                MetricName::MemoryWorkingSetBytes => {
                    c.mem_before = c.mem_bytes.replace(v.max(0.0));
                    c.mem_ns = ts_ns;
                    Some(Family::Memory)
                }
                MetricName::NodeMemoryPercent => {
                    c.mem_bytes = Some(v.max(0.0));
                    c.mem_limit = Some(100.0);
                    c.mem_ns = ts_ns;
                    Some(Family::Memory)
                }
                MetricName::CpuLimitCores => {
                    c.cpu_limit = Some(v);
                    None
                }
                MetricName::MemoryLimitBytes => {
                    c.mem_limit = Some(v);
                    None
                }
                MetricName::RestartsTotal => {
                    if let Some(prev) = c.restarts_total.replace(v) {
                        if v > prev {
                            restart_delta = v - prev;
                            oom = c.near_memory_limit();
                        }
                    }
                    None
                }
                MetricName::CpuRequestCores
                | MetricName::MemoryRequestBytes
                | MetricName::RequestsTotal
                | MetricName::Other => None,
            }
        };
        if restart_delta > 0.0 {
            self.advance_restarts(ts_ns, config, done);
            let n = restart_delta.min(f64::from(u16::MAX)) as u16;
            self.bump_restart(0, n);
            if oom {
                self.bump_restart(2, 1);
            }
            self.evaluate_restarts(done);
        }
        match family {
            Some(Family::Cpu) => self.evaluate_cpu(ts_ns, config, done),
            Some(Family::Memory) => self.evaluate_memory(ts_ns, config, done),
            _ => {}
        }
    }

    fn live(&self, at_ns: i64) -> impl Iterator<Item = &ContainerTrack> {
        self.containers
            .iter()
            .filter(move |c| c.used && at_ns.saturating_sub(c.seen_ns) <= STALE_NS)
    }

    fn evaluate_cpu(&mut self, ts_ns: i64, config: &FilterConfig, done: &mut Evaluated) {
        let cores: f64 = self.live(ts_ns).filter_map(|c| c.cpu_cores).sum();
        let warm = self.cpu_base.count() >= config.warmup;
        let f = features::cpu(cores, &self.cpu_base, self.cpu_prev);
        self.cpu_prev = f[0];
        self.store(Family::Cpu, &f, warm, done);
        let alpha = Ewma::alpha_for_half_life(config.baseline_half_life);
        self.cpu_base.update(cores, alpha, 0.05, 0.005);
    }

    fn evaluate_memory(&mut self, ts_ns: i64, config: &FilterConfig, done: &mut Evaluated) {
        let bytes: f64 = self.live(ts_ns).filter_map(|c| c.mem_bytes).sum();
        // Smoothed relative growth per minute, against the baseline level.
        if let Some((t0, m0)) = self.mem_prev {
            if ts_ns > t0 {
                let minutes = (ts_ns - t0) as f64 / 60e9;
                let scale = self.mem_base.mean().max(bytes).max(1.0);
                let inst = (bytes - m0) / scale / minutes;
                if inst.is_finite() {
                    self.mem_trend += 0.2 * (inst - self.mem_trend);
                }
            }
        }
        self.mem_prev = Some((ts_ns, bytes));
        let warm = self.mem_base.count() >= config.warmup;
        let f = features::memory(bytes, &self.mem_base, self.mem_trend, self.mem_ratio_prev);
        self.mem_ratio_prev = f[0];
        self.store(Family::Memory, &f, warm, done);
        let alpha = Ewma::alpha_for_half_life(config.baseline_half_life);
        self.mem_base.update(bytes, alpha, 0.02, 1024.0 * 1024.0);
    }

    // ---- restart signals (events, restart counters) ------------------------

    fn bump_restart(&mut self, kind: usize, n: u16) {
        let slot = self
            .restart_idx
            .map_or(0, |i| i.rem_euclid(RESTART_SLOTS as i64) as usize);
        if let Some(c) = self
            .restart_slots
            .get_mut(slot)
            .and_then(|s| s.get_mut(kind))
        {
            *c = c.saturating_add(n);
        }
    }

    /// Expires restart counts older than the restart window; re-evaluates the
    /// restarts family when anything expired.
    pub fn advance_restarts(&mut self, ts_ns: i64, config: &FilterConfig, done: &mut Evaluated) {
        let slot_ns = (i64::from(config.restart_window_seconds) * 1_000_000_000
            / RESTART_SLOTS as i64)
            .max(1);
        let idx = ts_ns.div_euclid(slot_ns);
        let Some(cur) = self.restart_idx else {
            self.restart_idx = Some(idx);
            return;
        };
        if idx <= cur {
            return;
        }
        let steps = usize::try_from(idx - cur)
            .unwrap_or(usize::MAX)
            .min(RESTART_SLOTS);
        let mut expired = false;
        for k in 1..=steps {
            let s = (cur + k as i64).rem_euclid(RESTART_SLOTS as i64) as usize;
            if let Some(slot) = self.restart_slots.get_mut(s) {
                expired |= slot.iter().any(|c| *c > 0);
                *slot = [0; RESTART_KINDS];
            }
        }
        self.restart_idx = Some(idx);
        if expired {
            self.evaluate_restarts(done);
        }
    }

    /// Folds a Kubernetes event about this entity into its restart window.
    pub fn add_event(
        &mut self,
        ts_ns: i64,
        event: &EventSignal,
        config: &FilterConfig,
        done: &mut Evaluated,
    ) {
        self.advance_restarts(ts_ns, config, done);
        let kind = match event.reason {
            EventReason::Started => {
                self.starts_seen = self.starts_seen.saturating_add(1);
                // The first start of a pod is its birth, not a restart.
                (self.starts_seen > 1).then_some(0)
            }
            EventReason::BackOff => Some(1),
            EventReason::OomKilled => Some(2),
            EventReason::Unhealthy => Some(3),
            EventReason::Killing
            | EventReason::Evicted
            | EventReason::FailedScheduling
            | EventReason::Other => None,
        };
        if let Some(kind) = kind {
            self.bump_restart(kind, 1);
            self.evaluate_restarts(done);
        }
    }

    fn evaluate_restarts(&mut self, done: &mut Evaluated) {
        let mut totals = [0.0f64; RESTART_KINDS];
        for slot in &self.restart_slots {
            for (t, c) in totals.iter_mut().zip(slot.iter()) {
                *t += f64::from(*c);
            }
        }
        self.store(Family::Restarts, &totals, true, done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::LogLevel;

    const S: i64 = 1_000_000_000;

    fn log(status: u16, ms: f64) -> LogSignal {
        LogSignal {
            level: Some(LogLevel::Info),
            status: Some(status),
            latency_ms: Some(ms),
            is_request: true,
        }
    }

    #[test]
    fn service_families_are_evaluated_when_a_bucket_rolls() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        for i in 0..15 {
            e.advance(i * S, &config, &mut done);
            e.add_log(&log(200, 10.0));
            e.add_log(&log(500, 30.0));
        }
        assert!(done.is_empty(), "no bucket completed yet");
        e.advance(15 * S, &config, &mut done);
        assert!(done.contains(Family::Traffic));
        assert!(done.contains(Family::Errors));
        assert!(done.contains(Family::Latency));
        assert!(!done.contains(Family::Cpu));
        // 30 requests in one 15 s bucket: 2/s; half of them errors.
        assert_eq!(e.family_features(Family::Errors)[0], 0.5);
        assert!(!e.is_warm(Family::Traffic));
    }

    #[test]
    fn a_traffic_surge_stands_out_after_warmup() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        let mut t = 0;
        for b in 0..40 {
            let n = if b < 30 { 20 } else { 200 };
            for _ in 0..n {
                e.advance(t, &config, &mut done);
                e.add_log(&log(200, 5.0));
            }
            t += 15 * S;
        }
        e.advance(t, &config, &mut done);
        assert!(e.is_warm(Family::Traffic));
        let f = e.family_features(Family::Traffic);
        assert!(f[0] > 1.0 && f[1] > 1.0, "{f:?}");
    }

    #[test]
    fn cpu_counter_becomes_a_rate_and_resets_are_skipped() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        let cpu = |v| MetricSignal {
            name: MetricName::CpuSecondsTotal,
            value: v,
        };
        e.add_metric(0, "app", &cpu(100.0), &config, &mut done);
        assert!(done.is_empty());
        e.add_metric(15 * S, "app", &cpu(107.5), &config, &mut done);
        assert!(done.contains(Family::Cpu));
        assert_eq!(e.containers[0].cpu_cores, Some(0.5));
        let mut done = Evaluated::default();
        e.add_metric(30 * S, "app", &cpu(1.0), &config, &mut done);
        assert!(done.is_empty(), "a reset gives no rate");
    }

    #[test]
    fn an_evaluation_that_changes_nothing_keeps_the_version() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let cpu = |v| MetricSignal {
            name: MetricName::CpuSecondsTotal,
            value: v,
        };
        let mut step = |t: i64, v: f64| {
            let before = e.version();
            let mut done = Evaluated::default();
            e.add_metric(t * S, "app", &cpu(v), &config, &mut done);
            (done, e.version() != before)
        };
        step(0, 100.0);
        // The first evaluation changes the family even if its features are
        // the zeros the state starts with.
        let (done, moved) = step(15, 107.5);
        assert!(done.contains(Family::Cpu) && done.changed().contains(Family::Cpu));
        assert!(moved);
        // Evaluated again (training records every evaluation).
        let (done, _) = step(30, 115.0);
        assert!(done.contains(Family::Cpu), "{done:?}");
        // During warm-up the baseline moves and so may the features; past it
        // a steady rate leaves them as they were.
        for t in 3..100 {
            let (done, moved) = step(15 * t, 100.0 + 7.5 * t as f64);
            assert!(done.contains(Family::Cpu));
            assert_eq!(moved, done.changed().contains(Family::Cpu));
        }
        let (done, moved) = step(15 * 100, 100.0 + 7.5 * 100.0);
        assert!(done.contains(Family::Cpu) && done.changed().is_empty() && !moved);
    }

    #[test]
    fn crash_loop_events_fill_the_restart_window_and_expire() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        let ev = |reason| EventSignal {
            reason,
            count: 1,
            warning: true,
        };
        e.add_event(0, &ev(EventReason::Started), &config, &mut done);
        assert!(done.is_empty(), "first start is a birth");
        for i in 1..=5 {
            e.add_event(i * 20 * S, &ev(EventReason::Started), &config, &mut done);
            e.add_event(i * 20 * S, &ev(EventReason::BackOff), &config, &mut done);
        }
        assert_eq!(e.family_features(Family::Restarts), &[5.0, 5.0, 0.0, 0.0]);
        let mut done = Evaluated::default();
        e.advance_restarts(3600 * S, &config, &mut done);
        assert!(done.contains(Family::Restarts));
        assert_eq!(e.family_features(Family::Restarts), &[0.0; 4]);
    }

    #[test]
    fn a_restart_at_the_memory_limit_counts_as_an_oom_kill() {
        let config = FilterConfig::default();
        let m = |name, value| MetricSignal { name, value };
        // (memory before the restart, memory after) -> OOM kills counted.
        for (before, after, want) in [(0.95e9, 0.2e9, 1.0), (0.5e9, 0.2e9, 0.0)] {
            let mut e = EntityState::new(&config);
            let mut done = Evaluated::default();
            e.add_metric(
                0,
                "c",
                &m(MetricName::MemoryLimitBytes, 1e9),
                &config,
                &mut done,
            );
            e.add_metric(
                0,
                "c",
                &m(MetricName::RestartsTotal, 0.0),
                &config,
                &mut done,
            );
            e.add_metric(
                0,
                "c",
                &m(MetricName::MemoryWorkingSetBytes, before),
                &config,
                &mut done,
            );
            let t = 15 * S;
            e.add_metric(
                t,
                "c",
                &m(MetricName::MemoryWorkingSetBytes, after),
                &config,
                &mut done,
            );
            e.add_metric(
                t,
                "c",
                &m(MetricName::RestartsTotal, 1.0),
                &config,
                &mut done,
            );
            assert_eq!(e.family_features(Family::Restarts), &[1.0, 0.0, want, 0.0]);
        }
    }

    #[test]
    fn reset_clears_state_and_moves_the_version() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        e.add_metric(
            0,
            "c",
            &MetricSignal {
                name: MetricName::MemoryWorkingSetBytes,
                value: 1e9,
            },
            &config,
            &mut done,
        );
        let v = e.version();
        e.reset();
        assert!(e.version() > v);
        assert!(!e.has(Family::Memory));
        assert_eq!(e.ring.len(), config.window_buckets as usize);
    }
}
