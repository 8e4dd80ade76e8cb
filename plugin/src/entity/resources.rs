//! Resource signals from metrics: CPU and memory per container of a pod,
//! and the cpu and memory families.
//!
//! A pod's first [`MAX_CONTAINERS`](super::MAX_CONTAINERS) containers each have a slot. A further
//! container takes the slot of one not seen for [`STALE_NS`] (which no
//! longer counts towards the pod's sums); while every slot holds a live
//! container, its samples — CPU and memory alike — are ignored, so the
//! pod's sums undercount it but stay steady. (Containers once shared the
//! last slot, and each switch reset it: a pod with more containers than
//! slots had its memory sum flap and raised steady memory_leak alarms.)
//!
//! Each container keeps its own memory trend (its growth per minute since
//! its own last sample, against the pod's baseline level), and the pod's
//! `mem_trend` is their sum: containers whose samples carry their own
//! timestamps a few ms apart (cAdvisor stamps each series with its own
//! housekeeping time) once had one container's 15 s change divided by the
//! few ms since the other's sample, and flat memory read as a steep trend.
//!
//! A container's first CPU rate or memory sample joins it to the pod's sum:
//! the sum's baseline moves by as much, so a pod whose containers report
//! one after the other (a new pod's first round, a large sidecar after a
//! small app) does not read the joins as growth.

use super::{hash_str, EntityState, Evaluated};
use crate::baseline::Ewma;
use crate::config::FilterConfig;
use crate::features;
use crate::observation::{MetricName, MetricSignal};
use crate::verdict::Family;

/// Metric samples older than this (relative to the newest of the pod) no
/// longer count towards the pod's sum.
const STALE_NS: i64 = 5 * 60 * 1_000_000_000;

/// The last values of one container's resource metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ContainerTrack {
    id: u64,
    used: bool,
    seen_ns: i64,
    cpu_counter: Option<(i64, f64)>,
    cpu_cores: Option<f64>,
    mem_bytes: Option<f64>,
    /// The memory sample before `mem_bytes` (a restart replaces the last one).
    mem_before: Option<f64>,
    /// The time of the last memory sample (`mem_bytes`), for the trend.
    mem_ns: i64,
    /// The container's smoothed memory growth per minute, relative to the
    /// pod's baseline level; the pod's `mem_trend` is the live ones' sum.
    mem_trend: f64,
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

impl EntityState {
    /// The slot of `container` for a sample at `at_ns`: its own, else a
    /// free one, else that of a container gone stale; `None` when every
    /// slot holds a live container (see the module docs).
    fn container(&mut self, container: &str, at_ns: i64) -> Option<usize> {
        let id = hash_str(container);
        // Slots are taken in order and never freed: the used ones are a
        // prefix, and the first unused one is the free slot.
        let pos = self
            .containers
            .iter()
            .position(|c| !c.used || c.id == id)
            .or_else(|| {
                self.containers
                    .iter()
                    .position(|c| at_ns.saturating_sub(c.seen_ns) > STALE_NS)
            })?;
        let c = self.containers.get_mut(pos)?;
        if !c.used || c.id != id {
            *c = ContainerTrack {
                id,
                used: true,
                ..ContainerTrack::default()
            };
        }
        Some(pos)
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
        // What a container joining the pod's sum adds to it.
        let mut joined = 0.0;
        // The sampled container's memory sample before this one, for its trend.
        let mut mem_last = None;
        let Some(slot) = self.container(container, ts_ns) else {
            return;
        };
        let family = {
            let Some(c) = self.containers.get_mut(slot) else {
                return;
            };
            c.seen_ns = ts_ns;
            match metric.name {
                MetricName::CpuSecondsTotal => {
                    let prev = c.cpu_counter.replace((ts_ns, v));
                    match prev {
                        Some((t0, v0)) if ts_ns > t0 && v >= v0 => {
                            let dt = (ts_ns - t0) as f64 / 1e9;
                            let cores = (v - v0) / dt;
                            if c.cpu_cores.replace(cores).is_none() {
                                joined = cores;
                            }
                            Some(Family::Cpu)
                        }
                        // First sample, counter reset, or out of order: no rate yet.
                        _ => None,
                    }
                }
                MetricName::CpuCores => {
                    if c.cpu_cores.replace(v.max(0.0)).is_none() {
                        joined = v.max(0.0);
                    }
                    Some(Family::Cpu)
                }
                MetricName::NodeCpuPercent => {
                    if c.cpu_cores.replace(v.max(0.0) / 100.0).is_none() {
                        joined = v.max(0.0) / 100.0;
                    }
                    c.cpu_limit = Some(1.0);
                    Some(Family::Cpu)
                }
                MetricName::MemoryWorkingSetBytes => {
                    mem_last = c.mem_bytes.map(|m| (c.mem_ns, m));
                    c.mem_before = c.mem_bytes.replace(v.max(0.0));
                    if c.mem_before.is_none() {
                        joined = v.max(0.0);
                    }
                    c.mem_ns = ts_ns;
                    Some(Family::Memory)
                }
                MetricName::NodeMemoryPercent => {
                    mem_last = c.mem_bytes.map(|m| (c.mem_ns, m));
                    if c.mem_bytes.replace(v.max(0.0)).is_none() {
                        joined = v.max(0.0);
                    }
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
            Some(Family::Cpu) => {
                self.cpu_base.shift(joined);
                self.evaluate_cpu(ts_ns, config, done);
            }
            Some(Family::Memory) => {
                self.mem_base.shift(joined);
                self.evaluate_memory(ts_ns, slot, mem_last, config, done);
            }
            _ => {}
        }
    }

    /// The containers seen within [`STALE_NS`] of `at_ns` (the used slots
    /// are a prefix, see [`EntityState::container`]).
    fn live(&self, at_ns: i64) -> impl Iterator<Item = &ContainerTrack> {
        self.containers
            .iter()
            .take_while(|c| c.used)
            .filter(move |c| at_ns.saturating_sub(c.seen_ns) <= STALE_NS)
    }

    fn evaluate_cpu(&mut self, ts_ns: i64, config: &FilterConfig, done: &mut Evaluated) {
        let cores: f64 = self.live(ts_ns).filter_map(|c| c.cpu_cores).sum();
        let warm = self.cpu_base.count() >= config.warmup;
        let f = features::cpu(cores, &self.cpu_base, self.cpu_prev);
        self.cpu_prev = f[0];
        self.store(Family::Cpu, &f, warm, done);
        let alpha = Ewma::alpha_for_half_life(config.baseline_half_life);
        self.cpu_base.update_bounded(cores, alpha, 0.05, 0.005);
    }

    /// Evaluates the memory family after a sample of the container in
    /// `slot`, whose last sample before it was `last`.
    fn evaluate_memory(
        &mut self,
        ts_ns: i64,
        slot: usize,
        last: Option<(i64, f64)>,
        config: &FilterConfig,
        done: &mut Evaluated,
    ) {
        let bytes: f64 = self.live(ts_ns).filter_map(|c| c.mem_bytes).sum();
        // The container's smoothed relative growth per minute, against the
        // pod's baseline level. The weight 0.05 averages over about 20
        // samples (5 minutes at 15 s), longer than a garbage collector's
        // 45-120 s cycle, so a sawtooth's rising edges do not read as a leak
        // (with 0.2, about 5 samples, each cycle's peak did).
        let scale = self.mem_base.mean().max(bytes).max(1.0);
        if let (Some((t0, m0)), Some(c)) = (last, self.containers.get_mut(slot)) {
            if ts_ns > t0 {
                let minutes = (ts_ns - t0) as f64 / 60e9;
                let inst = (c.mem_bytes.unwrap_or(0.0) - m0) / scale / minutes;
                if inst.is_finite() {
                    c.mem_trend += 0.05 * (inst - c.mem_trend);
                }
            }
        }
        let trend: f64 = self.live(ts_ns).map(|c| c.mem_trend).sum();
        let warm = self.mem_base.count() >= config.warmup;
        let f = features::memory(bytes, &self.mem_base, trend, self.mem_ratio_prev);
        self.mem_ratio_prev = f[0];
        self.store(Family::Memory, &f, warm, done);
        let alpha = Ewma::alpha_for_half_life(config.baseline_half_life);
        self.mem_base
            .update_bounded(bytes, alpha, 0.02, 1024.0 * 1024.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{MAX_CONTAINERS, S};

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

    /// One absurd working-set sample (a counter's wrap: 1.8e19 bytes) moved
    /// a steady pod's memory baseline to about 3e15 bytes, so a later leak
    /// that doubles its memory read as far below normal (feature 0). The
    /// baseline now takes it as 1,000 deviations out: the leak shows.
    #[test]
    fn one_absurd_memory_sample_does_not_hide_a_later_leak() {
        let config = FilterConfig::default();
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        let mem = |v| MetricSignal {
            name: MetricName::MemoryWorkingSetBytes,
            value: v,
        };
        let mut t = 0;
        for i in 0..100 {
            e.add_metric(
                t * S,
                "app",
                &mem(2e8 + f64::from(i % 3) * 1e6),
                &config,
                &mut done,
            );
            t += 15;
        }
        e.add_metric(t * S, "app", &mem(1.8e19), &config, &mut done);
        t += 15;
        for _ in 0..20 {
            e.add_metric(t * S, "app", &mem(2e8), &config, &mut done);
            t += 15;
        }
        assert!(e.mem_base.mean() < 4e8, "baseline {}", e.mem_base.mean());
        e.add_metric(t * S, "app", &mem(4e8), &config, &mut done);
        let ratio = e.family_features(Family::Memory)[0];
        assert!(ratio > 0.3, "a doubled working set reads {ratio}");
    }

    /// `mem_trend` is growth that lasts: a garbage collector's sawtooth
    /// (30 % of the heap every 45 s, three samples a cycle, as
    /// `search/suggest`'s) grows nothing over a cycle, and must read less
    /// growth at its peak than a leak of 5 % of the heap a minute does after
    /// four minutes. Smoothed over 5 samples, the trend followed each
    /// cycle's rising edge and read 0.065 a minute at every peak (the leak
    /// 0.042): with the level at the peak, a memory_leak candidate.
    #[test]
    fn a_gc_sawtooth_reads_less_growth_than_a_leak() {
        let config = FilterConfig::default();
        let mem = |v| MetricSignal {
            name: MetricName::MemoryWorkingSetBytes,
            value: v,
        };
        let heap = 9e8;
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        let mut peak_trend: f64 = 0.0;
        for i in 0..240u32 {
            let fill = f64::from(i % 3) / 3.0;
            e.add_metric(
                i64::from(i) * 15 * S,
                "app",
                &mem(heap * (1.0 + 0.3 * fill)),
                &config,
                &mut done,
            );
            if i >= 200 && i % 3 == 2 {
                peak_trend = peak_trend.max(e.family_features(Family::Memory)[1]);
            }
        }
        let mut e = EntityState::new(&config);
        let level = heap * 1.15;
        for i in 0..200u32 {
            e.add_metric(
                i64::from(i) * 15 * S,
                "app",
                &mem(level),
                &config,
                &mut done,
            );
        }
        for i in 0..=16u32 {
            let grown = level * (1.0 + 0.05 * f64::from(i) / 4.0);
            e.add_metric(
                i64::from(200 + i) * 15 * S,
                "app",
                &mem(grown),
                &config,
                &mut done,
            );
        }
        let leak_trend = e.family_features(Family::Memory)[1];
        assert!(
            peak_trend < leak_trend,
            "sawtooth peak {peak_trend} against a leak's {leak_trend}"
        );
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

    /// A pod with more containers than slots: containers once shared the
    /// last slot and each switch reset it, so the pod's memory sum flapped
    /// (steady memory_leak alarms on a steady five-container pod). Now the
    /// first MAX_CONTAINERS are tracked, a further one is ignored while they
    /// are live, and the sums stay steady. (containers, the sum of the
    /// tracked ones' memory and CPU after each round.)
    #[test]
    fn a_pod_with_more_containers_than_slots_keeps_steady_sums() {
        let config = FilterConfig::default();
        let m = |name, value| MetricSignal { name, value };
        let mem = |k: usize| 1e8 * (k + 1) as f64;
        let cores = |k: usize| 0.1 * (k + 1) as f64;
        let tracked = |n: usize| n.min(MAX_CONTAINERS);
        for n in [1, 4, 5, MAX_CONTAINERS, MAX_CONTAINERS + 1, 12] {
            let mut e = EntityState::new(&config);
            let mut done = Evaluated::default();
            let want_mem: f64 = (0..tracked(n)).map(mem).sum();
            let want_cpu: f64 = (0..tracked(n)).map(cores).sum();
            for round in 0..20i64 {
                let t = round * 15 * S;
                for k in 0..n {
                    let c = format!("c{k}");
                    let counter = cores(k) * 15.0 * round as f64;
                    e.add_metric(
                        t,
                        &c,
                        &m(MetricName::CpuSecondsTotal, counter),
                        &config,
                        &mut done,
                    );
                    e.add_metric(
                        t,
                        &c,
                        &m(MetricName::MemoryWorkingSetBytes, mem(k)),
                        &config,
                        &mut done,
                    );
                }
                let sum_mem: f64 = e.live(t).filter_map(|c| c.mem_bytes).sum();
                assert_eq!(sum_mem, want_mem, "{n} containers, round {round}");
                if round > 0 {
                    let sum_cpu: f64 = e.live(t).filter_map(|c| c.cpu_cores).sum();
                    assert!(
                        (sum_cpu - want_cpu).abs() < 1e-9,
                        "{n} containers, round {round}: {sum_cpu}"
                    );
                }
            }
        }
        // A further container takes the slot of one that went stale.
        let mut e = EntityState::new(&config);
        let mut done = Evaluated::default();
        let mem_at = |e: &mut EntityState, t: i64, c: &str, v: f64, done: &mut Evaluated| {
            e.add_metric(
                t,
                c,
                &m(MetricName::MemoryWorkingSetBytes, v),
                &config,
                done,
            );
        };
        for k in 0..MAX_CONTAINERS {
            mem_at(&mut e, 0, &format!("c{k}"), 1e8, &mut done);
        }
        let later = STALE_NS + S;
        for k in 1..MAX_CONTAINERS {
            mem_at(&mut e, later, &format!("c{k}"), 1e8, &mut done);
        }
        mem_at(&mut e, later, "new", 5e8, &mut done);
        let sum: f64 = e.live(later).filter_map(|c| c.mem_bytes).sum();
        assert_eq!(sum, (MAX_CONTAINERS - 1) as f64 * 1e8 + 5e8);
    }

    /// Two containers whose samples carry their own timestamps `offset`
    /// apart (cAdvisor stamps each series with its own housekeeping time):
    /// the pod-level trend once divided one container's 15 s change by the
    /// few ms since the other's sample, so flat memory with 1 MB of jitter
    /// read as mem_trend ~10. Each container's trend now uses its own
    /// interval. (offset in ms, the app's growth in bytes per minute.)
    #[test]
    fn mem_trend_does_not_depend_on_per_container_timestamps() {
        let config = FilterConfig::default();
        let mem = |v| MetricSignal {
            name: MetricName::MemoryWorkingSetBytes,
            value: v,
        };
        for offset_ms in [0, 10, 1_000, 7_000] {
            for growth in [0.0, 5e6] {
                let mut e = EntityState::new(&config);
                let mut done = Evaluated::default();
                let mut app = 500e6;
                for i in 0..240i64 {
                    let t = i * 15 * S;
                    let jitter = if i % 2 == 0 { 1e6 } else { -1e6 };
                    app += growth / 4.0;
                    e.add_metric(t, "app", &mem(app + jitter), &config, &mut done);
                    let side = t + offset_ms * 1_000_000;
                    e.add_metric(side, "istio-proxy", &mem(50e6 - jitter), &config, &mut done);
                }
                let trend = e.family_features(Family::Memory)[1];
                // Relative to the pod's level (about app + 50 MB).
                let want = growth / (app + 50e6);
                assert!(
                    (trend - want).abs() < 0.1 * want + 0.005,
                    "offset {offset_ms} ms, growth {growth}: trend {trend}, want {want}"
                );
            }
        }
    }
}
