//! One tick of one workload: container lifecycle (crash loops, OOM kills,
//! restarts), traffic split over the pods that serve, and the telemetry that
//! results (log lines, events, metric samples), plus the node-level records.

use crate::applog::{message_line, request_line, Level, Request};
use crate::emitter::{Emitter, Involved};
use crate::fault::{effect, FaultKind};
use crate::fleet::{LogPipeline, MetricPipeline, WorkloadSpec};
use crate::pod::{Phase, Pod};
use crate::random::{
    chance, index, lognormal_mean, next_u64, poisson, std_normal, uniform, SimRng,
};
use crate::sim::{FaultState, Simulation};
use crate::telemetry::{
    flat_metric, fluent_bit_cpu, fluent_bit_log, fluent_bit_mem, vector_log, vector_metric,
    MetricSample, Stream,
};
use crate::traffic::{diurnal, serve};

/// CPU and memory of one node in the current tick.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NodeLoad {
    cores: f64,
    mem: f64,
}

/// A span of the tick during which one container ran.
#[derive(Debug, Clone, Copy)]
struct Segment {
    from: i64,
    to: i64,
    ready_from: i64,
    /// The container was already running at the start of the tick.
    continues: bool,
    leak0: f64,
    leak_rate: f64,
    leak_from: i64,
    leak_to: i64,
}

impl Segment {
    fn serving_ns(&self) -> i64 {
        (self.to - self.from.max(self.ready_from)).max(0)
    }
    fn leak_at(&self, ts: i64) -> f64 {
        let a = self.leak_from.max(self.from);
        let b = ts.min(self.leak_to);
        self.leak0 + self.leak_rate * ((b - a).max(0) as f64 / 1e9)
    }
}

fn emit_line(
    out: &mut Emitter,
    spec: &WorkloadSpec,
    pod: &Pod,
    ts: i64,
    stream: Stream,
    text: &str,
) {
    let rec = match spec.log_pipeline {
        LogPipeline::FluentBit => fluent_bit_log(&pod.meta, ts, stream, text),
        LogPipeline::Vector => vector_log(&pod.meta, ts, stream, text),
    };
    out.push(rec);
}

fn emit_message(
    out: &mut Emitter,
    spec: &WorkloadSpec,
    pod: &Pod,
    ts: i64,
    level: Level,
    msg: &str,
) {
    let mut text = String::with_capacity(160);
    let stream = message_line(spec.log_format, pod.pid, ts, level, msg, &mut text);
    emit_line(out, spec, pod, ts, stream, &text);
}

/// The log line a container writes when it is stopped.
pub(crate) fn shutdown_line(sim: &mut Simulation, wi: usize, pod: &Pod, ts: i64) {
    if let Some(w) = sim.workloads.get(wi) {
        emit_message(
            &mut sim.out,
            &w.spec,
            pod,
            ts,
            Level::Info,
            "received SIGTERM, shutting down gracefully",
        );
    }
}

fn pod_obj(pod: &Pod) -> Involved<'_> {
    Involved {
        kind: "Pod",
        name: &pod.meta.pod,
        namespace: &pod.meta.namespace,
        uid: &pod.meta.uid,
        container: Some(&pod.meta.container),
    }
}

const CRASH_MESSAGES: [&str; 3] = [
    "failed to connect to database: dial tcp 10.96.14.7:5432: connect: connection refused",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "fatal: could not load configuration: missing required key \"upstream.url\"",
];

/// Runs the container lifecycle of one pod over `[t0, t1)`.
#[allow(clippy::too_many_arguments)]
fn lifecycle(
    pod: &mut Pod,
    spec: &WorkloadSpec,
    faults: &[&FaultState],
    t0: i64,
    t1: i64,
    rng: &mut SimRng,
    out: &mut Emitter,
    segs: &mut Vec<Segment>,
) {
    segs.clear();
    let crash = faults
        .iter()
        .find(|f| f.spec.kind == FaultKind::CrashLoop && f.hits(pod) && f.overlap(t0, t1) > 0.0)
        .copied();
    let leak = faults
        .iter()
        .find(|f| f.spec.kind == FaultKind::MemoryLeak && f.hits(pod) && f.overlap(t0, t1) > 0.0)
        .copied();
    if leak.is_none() {
        // The leaking code path stopped: the leaked memory is released.
        pod.leak_bytes = 0.0;
    }
    let mut t = t0;
    let mut first = true;
    let mut guard = 0;
    while t < t1 && guard < 64 {
        guard += 1;
        match pod.phase {
            Phase::Up => {
                let crash_at = crash.and_then(|f| {
                    let uptime = (effect::crash_uptime_s(f.spec.intensity) * 1e9) as i64;
                    let c = t
                        .max(f.spec.start_ns)
                        .max(pod.container_started_ns + uptime);
                    (c < f.effective_end_ns()).then_some(c)
                });
                let (leak_rate, leak_from, leak_to) = leak
                    .map(|f| (f.leak_rate, f.spec.start_ns, f.effective_end_ns()))
                    .unwrap_or((0.0, t1, t1));
                let oom_at = (leak_rate > 0.0)
                    .then(|| {
                        let headroom = spec.mem_limit_bytes - pod.mem_base_now - pod.leak_bytes;
                        let start = t.max(leak_from);
                        let at = start + ((headroom.max(0.0) / leak_rate) * 1e9) as i64;
                        (at < leak_to).then_some(at)
                    })
                    .flatten();
                let end = [Some(t1), crash_at, oom_at]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(t1);
                let seg = Segment {
                    from: t,
                    to: end,
                    ready_from: pod.ready_at_ns,
                    continues: first,
                    leak0: pod.leak_bytes,
                    leak_rate,
                    leak_from,
                    leak_to,
                };
                pod.leak_bytes = seg.leak_at(end);
                segs.push(seg);
                t = end;
                if end >= t1 {
                    break;
                }
                pod.meta.restart_count += 1;
                if Some(end) == oom_at {
                    let kb = (spec.mem_limit_bytes / 1024.0) as u64;
                    let node = pod.meta.node.clone();
                    out.event(
                        &Involved {
                            kind: "Node",
                            name: &node,
                            namespace: "",
                            uid: &node,
                            container: None,
                        },
                        "OOMKilling",
                        true,
                        format!(
                            "Memory cgroup out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:{}kB oom_score_adj:{}",
                            pod.pid,
                            pod.meta.container,
                            kb + kb / 3,
                            kb,
                            kb / 500,
                            if spec.cpu_limit_cores >= 1.0 { 984 } else { 999 }
                        ),
                        end,
                        "kernel-monitor",
                        Some(&node),
                    );
                    pod.phase = Phase::Down {
                        until_ns: end + (uniform(rng, 1.0, 4.0) * 1e9) as i64,
                        crashed: false,
                    };
                } else {
                    let msg = CRASH_MESSAGES[index(rng, CRASH_MESSAGES.len())];
                    emit_message(out, spec, pod, end - 1_000_000, Level::Fatal, msg);
                    pod.crash_streak += 1;
                    let backoff = (10.0
                        * 2f64.powi(pod.crash_streak.saturating_sub(1).min(5) as i32))
                    .min(300.0);
                    pod.phase = Phase::Down {
                        until_ns: end + (backoff * 1e9) as i64,
                        crashed: true,
                    };
                    let bo_ts = (end + 1_000_000_000).min(t1 - 1);
                    let msg = format!(
                        "Back-off restarting failed container {} in pod {}_{}({})",
                        pod.meta.container, pod.meta.pod, pod.meta.namespace, pod.meta.uid
                    );
                    out.event(
                        &pod_obj(pod),
                        "BackOff",
                        true,
                        msg,
                        bo_ts,
                        "kubelet",
                        Some(&pod.meta.node.clone()),
                    );
                }
            }
            Phase::Down { until_ns, crashed } => {
                if crashed && first {
                    let ts = (t + ((t1 - t) as f64 * uniform(rng, 0.1, 0.9)) as i64).min(t1 - 1);
                    let msg = format!(
                        "Back-off restarting failed container {} in pod {}_{}({})",
                        pod.meta.container, pod.meta.pod, pod.meta.namespace, pod.meta.uid
                    );
                    out.event(
                        &pod_obj(pod),
                        "BackOff",
                        true,
                        msg,
                        ts,
                        "kubelet",
                        Some(&pod.meta.node.clone()),
                    );
                }
                if until_ns >= t1 {
                    break;
                }
                let still_crashing = crash.is_some_and(|f| f.active_at(until_ns));
                if !still_crashing {
                    pod.crash_streak = 0;
                }
                let readiness = if still_crashing {
                    5.0
                } else {
                    uniform(rng, 4.0, 10.0)
                };
                pod.start_container(rng, until_ns, readiness);
                let host = pod.meta.node.clone();
                let obj = pod_obj(pod);
                out.event(
                    &obj,
                    "Pulled",
                    false,
                    format!(
                        "Container image \"{}\" already present on machine",
                        pod.meta.image
                    ),
                    until_ns,
                    "kubelet",
                    Some(&host),
                );
                out.event(
                    &obj,
                    "Created",
                    false,
                    format!("Created container: {}", pod.meta.container),
                    until_ns,
                    "kubelet",
                    Some(&host),
                );
                out.event(
                    &obj,
                    "Started",
                    false,
                    format!("Started container {}", pod.meta.container),
                    until_ns,
                    "kubelet",
                    Some(&host),
                );
                let ts = (until_ns + 300_000_000).min(t1 - 1);
                emit_message(
                    out,
                    spec,
                    pod,
                    ts,
                    Level::Info,
                    &format!(
                        "starting {} (version {})",
                        spec.name,
                        image_tag(&spec.image)
                    ),
                );
                t = until_ns;
            }
        }
        first = false;
    }
}

fn image_tag(image: &str) -> &str {
    image.rsplit(':').next().unwrap_or("latest")
}

const INFO_MESSAGES: [&str; 4] = [
    "cache refreshed",
    "connection pool stats: active=12 idle=20 waiting=0",
    "configuration reloaded",
    "health check ok",
];
const WARN_MESSAGES: [&str; 2] = [
    "slow call to downstream dependency, retrying",
    "request queue above 80% of capacity",
];
const ERROR_MESSAGES: [&str; 2] = [
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    "transaction rolled back: deadline exceeded",
];

fn pick_status(rng: &mut SimRng, method: &str, shed: f64, err: f64) -> u16 {
    let r = uniform(rng, 0.0, 1.0);
    if r < shed {
        503
    } else if r < shed + err {
        [500, 502, 504][index(rng, 3)]
    } else if r < shed + err + 0.02 {
        [404, 429][index(rng, 2)]
    } else if method == "POST" {
        201
    } else {
        200
    }
}

/// Advances workload `wi` over `[t0, t1)`.
pub(crate) fn tick_workload(
    sim: &mut Simulation,
    wi: usize,
    t0: i64,
    t1: i64,
    nodes: &mut [NodeLoad],
) {
    let dt_s = (t1 - t0) as f64 / 1e9;
    let tick = sim.tick;
    let Simulation {
        workloads,
        faults,
        rng,
        out,
        ..
    } = sim;
    let Some(w) = workloads.get_mut(wi) else {
        return;
    };
    let spec = w.spec.clone();
    let wf: Vec<&FaultState> = faults
        .iter()
        .filter(|f| {
            f.spec.namespace == spec.namespace
                && f.spec.workload == spec.name
                && f.overlap(t0, t1) > 0.0
        })
        .collect();
    // Fault effects at an instant and averaged over a span: a record (or the
    // part of a counter) timed before a fault's onset must not carry it.
    let level_over = |kind: FaultKind, a: i64, b: i64| -> f64 {
        1.0 + wf
            .iter()
            .filter(|f| f.spec.kind == kind)
            .map(|f| (effect_multiplier(f) - 1.0) * f.overlap(a, b))
            .sum::<f64>()
    };
    let level_at = |kind: FaultKind, ts: i64| -> f64 {
        1.0 + wf
            .iter()
            .filter(|f| f.spec.kind == kind && f.active_at(ts))
            .map(|f| effect_multiplier(f) - 1.0)
            .sum::<f64>()
    };
    let flood_max = 1.0
        + wf.iter()
            .filter(|f| f.spec.kind == FaultKind::TrafficFlood)
            .map(|f| effect_multiplier(f) - 1.0)
            .sum::<f64>();
    let mut flood = 1.0;
    let mut cost_mult = 1.0;
    for f in &wf {
        let o = f.overlap(t0, t1);
        match f.spec.kind {
            FaultKind::TrafficFlood => {
                flood += (effect::traffic_multiplier(f.spec.intensity) - 1.0) * o
            }
            FaultKind::CpuStress => {
                cost_mult += (effect::cpu_cost_multiplier(f.spec.intensity) - 1.0) * o
            }
            _ => {}
        }
    }
    // Phase A: lifecycle.
    let mut segs: Vec<Vec<Segment>> = Vec::with_capacity(w.pods.len());
    let cpu_at_t0: Vec<f64> = w.pods.iter().map(|p| p.cpu_seconds).collect();
    for pod in &mut w.pods {
        let mut s = Vec::new();
        lifecycle(pod, &spec, &wf, t0, t1, rng, out, &mut s);
        segs.push(s);
    }
    // Phase B: offered load and its split.
    let mid = t0 + (t1 - t0) / 2;
    let variation = w.load.step(rng, dt_s);
    let level = diurnal(mid, spec.diurnal_amplitude) * variation * flood;
    let daemon = spec.kind == crate::fleet::ControllerKind::DaemonSet;
    w.offered_rps = if daemon {
        spec.base_rps * level * w.pods.len() as f64
    } else {
        spec.base_rps * level
    };
    let serving_s: Vec<f64> = segs
        .iter()
        .map(|s| s.iter().map(|g| g.serving_ns()).sum::<i64>() as f64 / 1e9)
        .collect();
    let denom: f64 = w
        .pods
        .iter()
        .zip(&serving_s)
        .map(|(p, s)| p.weight * s / dt_s)
        .sum();
    // Phase C: per-pod telemetry.
    let cap_cpu = (spec.cpu_limit_cores - spec.cpu_idle_cores).max(0.001)
        / (spec.cpu_per_request * cost_mult);
    let capacity = spec.capacity_rps_per_pod.min(cap_cpu);
    let mut text = String::with_capacity(256);
    let limits_now = tick.is_multiple_of(4);
    for (pi, pod) in w.pods.iter_mut().enumerate() {
        let pod_segs = segs.get(pi).map(Vec::as_slice).unwrap_or(&[]);
        let serve_s = serving_s.get(pi).copied().unwrap_or(0.0);
        let requests = if serve_s <= 0.0 {
            0.0
        } else if daemon {
            spec.base_rps * level * serve_s
        } else if denom > 0.0 {
            w.offered_rps * dt_s * pod.weight * (serve_s / dt_s) / denom
        } else {
            0.0
        };
        let rate = if serve_s > 0.0 {
            requests / serve_s
        } else {
            0.0
        };
        let svc = serve(rate, capacity);
        let handled = requests * (1.0 - svc.shed);
        let up_s: f64 = pod_segs.iter().map(|g| (g.to - g.from) as f64 / 1e9).sum();
        // Cores over the tick, and over its parts before and after this
        // pod's scrape: the counter read at the scrape holds only what the
        // faults did before it.
        let noise = 1.0 + 0.04 * std_normal(rng);
        let cores_with = |cost: f64, load: f64| {
            if up_s > 0.0 {
                ((spec.cpu_idle_cores * up_s + spec.cpu_per_request * cost * handled * load) / up_s
                    * noise)
                    .clamp(0.0, spec.cpu_limit_cores)
            } else {
                0.0
            }
        };
        let cores = cores_with(cost_mult, 1.0);
        let scrape = t0 + pod.scrape_offset_ns;
        let cores_pre = cores_with(
            level_over(FaultKind::CpuStress, t0, scrape),
            level_over(FaultKind::TrafficFlood, t0, scrape) / flood,
        );
        let cores_post = cores_with(
            level_over(FaultKind::CpuStress, scrape, t1),
            level_over(FaultKind::TrafficFlood, scrape, t1) / flood,
        );
        let load_ratio = (rate / w.normal_pod_rps.max(1e-9)).clamp(0.0, 10.0);
        pod.gc_fill += dt_s / spec.gc_period_s * (0.4 + 0.6 * load_ratio) * uniform(rng, 0.8, 1.2);
        if pod.gc_fill >= 1.0 {
            pod.gc_fill = (pod.gc_fill - 1.0).min(0.5);
        }
        // In-flight requests add to the working set with the load: over the
        // tick (the OOM headroom, the node's memory), and at the scrape,
        // where a flood counts only once it has started.
        let mem_noise = 1.0 + 0.005 * std_normal(rng);
        let mem_with = |load_ratio: f64| {
            spec.mem_base_bytes
                * (1.0 + 0.08 * (load_ratio - 1.0)).clamp(0.85, 1.5)
                * (1.0 + spec.gc_fraction * pod.gc_fill)
                * mem_noise
        };
        let mem_at_scrape =
            mem_with(load_ratio * level_at(FaultKind::TrafficFlood, scrape) / flood);
        pod.mem_base_now = mem_with(load_ratio);
        // Request log lines: drawn at the tick's peak flood level and thinned
        // by the level at each line's time, so lines before a flood's onset
        // (or after its end) come at the normal rate.
        let peak = flood_max / flood;
        let n_lines = poisson(rng, requests * w.log_sample * peak).min((80.0 * peak) as u32);
        let total_serving_ns: i64 = pod_segs.iter().map(Segment::serving_ns).sum();
        let mut kept = 0;
        for _ in 0..n_lines {
            let mut off = (uniform(rng, 0.0, 1.0) * total_serving_ns as f64) as i64;
            let mut ts = t0;
            for g in pod_segs {
                let s = g.serving_ns();
                if off < s {
                    ts = g.from.max(g.ready_from) + off;
                    break;
                }
                off -= s;
            }
            let ts = ts.clamp(t0, t1 - 1);
            let flood_ts = level_at(FaultKind::TrafficFlood, ts);
            if flood_ts < flood_max && !chance(rng, flood_ts / flood_max) {
                continue;
            }
            if kept >= 80 {
                break;
            }
            kept += 1;
            let cost_ts = level_at(FaultKind::CpuStress, ts);
            let capacity_ts = spec.capacity_rps_per_pod.min(
                (spec.cpu_limit_cores - spec.cpu_idle_cores).max(0.001)
                    / (spec.cpu_per_request * cost_ts),
            );
            let svc = serve(rate * flood_ts / flood, capacity_ts);
            let (mut err, mut lat) = (spec.error_rate, 1.0);
            for f in wf.iter().filter(|f| f.active_at(ts) && f.hits(pod)) {
                match f.spec.kind {
                    FaultKind::ErrorBurst => err += effect::error_fraction(f.spec.intensity),
                    FaultKind::LatencySpike => lat *= effect::latency_multiplier(f.spec.intensity),
                    _ => {}
                }
            }
            let (method, path) = spec
                .routes
                .get(index(rng, spec.routes.len()))
                .map(|(m, p)| (m.as_str(), p.as_str()))
                .unwrap_or(("GET", "/"));
            let status = pick_status(rng, method, svc.shed, err.min(0.95));
            let mean_ms = match status {
                503 => spec.service_ms * 0.2,
                504 => 10_000.0 * uniform(rng, 0.9, 1.0),
                _ => spec.service_ms * svc.latency_factor * lat,
            };
            let latency_ms = lognormal_mean(rng, mean_ms, 0.45);
            let ip = format!(
                "10.{}.{}.{}",
                40 + index(rng, 4),
                index(rng, 250),
                2 + index(rng, 250)
            );
            let req = Request {
                ts_ns: ts,
                method,
                path,
                status,
                latency_ms,
                bytes: if status >= 400 {
                    150
                } else {
                    200 + next_u64(rng) % 20_000
                },
                client_ip: &ip,
                request_id: next_u64(rng),
            };
            let stream = request_line(spec.log_format, pod.pid, &req, &mut text);
            emit_line(out, &spec, pod, ts, stream, &text);
        }
        // Background and symptom messages.
        if up_s > 0.0 {
            let some_ts = |rng: &mut SimRng| {
                let g = pod_segs.get(index(rng, pod_segs.len()));
                g.map_or(t0, |g| {
                    g.from + (uniform(rng, 0.0, 1.0) * (g.to - g.from) as f64) as i64
                })
                .clamp(t0, t1 - 1)
            };
            // Symptom messages follow the fault at their own time: drawn at
            // the tick's highest rate, then thinned by the rate at `ts`.
            let spike_at = |ts: i64| {
                wf.iter().any(|f| {
                    f.spec.kind == FaultKind::LatencySpike && f.hits(pod) && f.active_at(ts)
                })
            };
            let burst_at = |ts: i64| {
                wf.iter()
                    .any(|f| f.spec.kind == FaultKind::ErrorBurst && f.hits(pod) && f.active_at(ts))
            };
            let spike = wf
                .iter()
                .any(|f| f.spec.kind == FaultKind::LatencySpike && f.hits(pod));
            let burst = wf
                .iter()
                .any(|f| f.spec.kind == FaultKind::ErrorBurst && f.hits(pod));
            for _ in 0..poisson(rng, 0.04 * dt_s / 15.0) {
                let ts = some_ts(rng);
                emit_message(
                    out,
                    &spec,
                    pod,
                    ts,
                    Level::Info,
                    INFO_MESSAGES[index(rng, INFO_MESSAGES.len())],
                );
            }
            let warn_rate = if spike || svc.utilisation > 0.9 {
                0.8
            } else {
                0.006
            };
            for _ in 0..poisson(rng, warn_rate * dt_s / 15.0) {
                let ts = some_ts(rng);
                let rate_ts = if spike_at(ts) || svc.utilisation > 0.9 {
                    0.8
                } else {
                    0.006
                };
                if rate_ts < warn_rate && !chance(rng, rate_ts / warn_rate) {
                    continue;
                }
                emit_message(
                    out,
                    &spec,
                    pod,
                    ts,
                    Level::Warn,
                    WARN_MESSAGES[index(rng, WARN_MESSAGES.len())],
                );
            }
            let err_rate = if burst { 1.0 } else { 0.002 };
            for _ in 0..poisson(rng, err_rate * dt_s / 15.0) {
                let ts = some_ts(rng);
                let rate_ts = if burst_at(ts) { 1.0 } else { 0.002 };
                if rate_ts < err_rate && !chance(rng, rate_ts / err_rate) {
                    continue;
                }
                emit_message(
                    out,
                    &spec,
                    pod,
                    ts,
                    Level::Error,
                    ERROR_MESSAGES[index(rng, ERROR_MESSAGES.len())],
                );
            }
            let ts = some_ts(rng);
            let unhealthy_p = if spike_at(ts) || svc.utilisation > 0.97 {
                0.3
            } else {
                0.0005
            };
            if pod.serving_at(ts) && chance(rng, unhealthy_p) {
                let msg = format!(
                    "Readiness probe failed: Get \"http://{}:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    pod.meta.ip
                );
                let host = pod.meta.node.clone();
                out.event(
                    &pod_obj(pod),
                    "Unhealthy",
                    true,
                    msg,
                    ts,
                    "kubelet",
                    Some(&host),
                );
            }
        }
        // Metrics at this pod's scrape time.
        let cpu_t0 = cpu_at_t0.get(pi).copied().unwrap_or(0.0);
        let node = pod.meta.node.clone();
        let base_labels = [
            ("namespace", spec.namespace.as_str()),
            ("pod", pod.meta.pod.as_str()),
            ("container", spec.container.as_str()),
            ("node", node.as_str()),
        ];
        let emit_metric =
            |out: &mut Emitter, name: &str, value: f64, counter: bool, labels: &[(&str, &str)]| {
                let s = MetricSample {
                    name,
                    value,
                    counter,
                    labels,
                    ts_ns: scrape,
                };
                out.push(match spec.metric_pipeline {
                    MetricPipeline::Flat => flat_metric(&s),
                    MetricPipeline::Vector => vector_metric(&s),
                });
            };
        if let Some(g) = pod_segs.iter().find(|g| g.from <= scrape && scrape < g.to) {
            let counter0 = if g.continues { cpu_t0 } else { 0.0 };
            let cpu = counter0 + cores_pre * (scrape - g.from) as f64 / 1e9;
            let mem = mem_at_scrape + g.leak_at(scrape);
            emit_metric(
                out,
                "container_cpu_usage_seconds_total",
                round6(cpu),
                true,
                &base_labels,
            );
            emit_metric(
                out,
                "container_memory_working_set_bytes",
                mem.round(),
                false,
                &base_labels,
            );
        }
        // The counter as of the scrape: restarts later in this tick are not
        // visible yet (a segment that ends before `t1` ended in a restart).
        let later = pod_segs
            .iter()
            .filter(|g| g.to < t1 && g.to > scrape)
            .count();
        let restarts = f64::from(pod.meta.restart_count.saturating_sub(later as u32));
        let uid = pod.meta.uid.clone();
        let ksm = [
            ("namespace", spec.namespace.as_str()),
            ("pod", pod.meta.pod.as_str()),
            ("uid", uid.as_str()),
            ("container", spec.container.as_str()),
            ("node", node.as_str()),
        ];
        emit_metric(
            out,
            "kube_pod_container_status_restarts_total",
            restarts,
            true,
            &ksm,
        );
        if limits_now || pod.created_ns >= t0 - (t1 - t0) {
            let cpu_l = [&ksm[..], &[("resource", "cpu"), ("unit", "core")]].concat();
            emit_metric(
                out,
                "kube_pod_container_resource_limits",
                spec.cpu_limit_cores,
                false,
                &cpu_l,
            );
            let mem_l = [&ksm[..], &[("resource", "memory"), ("unit", "byte")]].concat();
            emit_metric(
                out,
                "kube_pod_container_resource_limits",
                spec.mem_limit_bytes,
                false,
                &mem_l,
            );
        }
        // Carry the CPU counter to the next tick.
        pod.cpu_seconds = match pod_segs.last() {
            Some(g) if g.to >= t1 && pod.phase == Phase::Up => {
                let counter0 = if g.continues { cpu_t0 } else { 0.0 };
                let pre = (scrape.min(g.to) - g.from).max(0) as f64 / 1e9;
                let post = (g.to - scrape.max(g.from)).max(0) as f64 / 1e9;
                counter0 + cores_pre * pre + cores_post * post
            }
            _ => pod.cpu_seconds,
        };
        if let Some(n) = nodes.get_mut(pod.node) {
            n.cores += cores * up_s / dt_s;
            if pod.phase == Phase::Up {
                n.mem += pod.mem_base_now + pod.leak_bytes;
            }
        }
    }
}

/// The multiplier a fault applies to the load (traffic flood) or to the CPU
/// cost of a request (CPU stress); 1 for the other kinds.
fn effect_multiplier(f: &FaultState) -> f64 {
    match f.spec.kind {
        FaultKind::TrafficFlood => effect::traffic_multiplier(f.spec.intensity),
        FaultKind::CpuStress => effect::cpu_cost_multiplier(f.spec.intensity),
        _ => 1.0,
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Fluent Bit `cpu` and `mem` records for every node.
pub(crate) fn node_records(sim: &mut Simulation, t0: i64, nodes: &[NodeLoad]) {
    let cores = sim.fleet.node_cores.max(1) as usize;
    for (i, name) in sim.fleet.nodes.iter().enumerate() {
        let load = nodes.get(i).copied().unwrap_or_default();
        let ts = t0 + sim.node_offsets.get(i).copied().unwrap_or(0);
        let busy = ((load.cores + 0.4) / cores as f64 * 100.0).min(100.0);
        let per_cpu: Vec<(f64, f64)> = (0..cores)
            .map(|_| {
                let c = (busy * (1.0 + 0.25 * std_normal(&mut sim.rng))).clamp(0.0, 100.0);
                (c * 0.85, c * 0.15)
            })
            .collect();
        sim.out.push(fluent_bit_cpu(name, ts, &per_cpu));
        let total_kb = (sim.fleet.node_memory_bytes / 1024.0) as u64;
        let used = (load.mem + 3.0 * 1024.0 * 1024.0 * 1024.0) / 1024.0;
        sim.out.push(fluent_bit_mem(
            name,
            ts,
            total_kb,
            (used as u64).min(total_kb),
        ));
    }
}
