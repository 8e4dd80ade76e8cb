//! The simulated cluster: a [`Simulation`] stepped one scrape interval at a
//! time, emitting every record of that interval (in time order) into a
//! [`Sink`], and exposing the operations a remediator performs
//! ([`Simulation::scale`], [`Simulation::rollout_restart`],
//! [`Simulation::delete_pod`]) and fault injection ([`Simulation::inject`]).
//!
//! Effects of the operations follow Kubernetes: scaling adds or removes pods
//! and spreads the same traffic over them (per-pod CPU and latency fall);
//! a rollout restart replaces pods one at a time with new names (new
//! ReplicaSet hash), which clears faults bound to the old pods' state (leaks,
//! crash loops, bad-state error bursts and latency spikes); deleting a pod
//! makes its controller create a replacement.

use serde::Serialize;

use crate::clock::NS_PER_S;
use crate::emitter::Emitter;
use crate::fault::{FaultKind, FaultSpec, PodTarget};
use crate::fleet::{ControllerKind, Fleet, WorkloadSpec};
use crate::labels::Label;
use crate::pod::Pod;
use crate::random::{rng_for, uniform, SimRng};
use crate::schedule::{Maintenance, MaintenanceKind, Plan};
use crate::sink::Sink;
use crate::traffic::LoadVariation;
use crate::ChaosError;

/// Parameters of a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Simulated start time, ns since the epoch.
    pub start_ns: i64,
    /// Scrape interval (one tick), seconds.
    pub interval_s: u32,
    /// The fleet.
    pub fleet: Fleet,
}

/// Lifecycle of an injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultStatus {
    /// Not started yet.
    Pending,
    /// Started, window not over.
    Active,
    /// The window ended.
    Ended,
    /// A remediation (restart, pod delete) removed the fault before its window ended.
    Cleared,
    /// Never applied (its target did not exist at onset).
    Skipped,
}

/// An injected fault and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultState {
    /// What was asked.
    pub spec: FaultSpec,
    /// Where it is in its life.
    pub status: FaultStatus,
    /// The pod it hit, for pod-level faults (resolved at onset).
    pub pod: Option<String>,
    /// That pod's UID.
    pub pod_uid: Option<String>,
    /// When it took effect.
    pub activated_ns: Option<i64>,
    /// When a remediation cleared it.
    pub cleared_ns: Option<i64>,
    /// Leak rate in bytes/s (memory leaks).
    pub(crate) leak_rate: f64,
}

impl FaultState {
    /// End of the effect: the window end, or earlier if cleared.
    pub fn effective_end_ns(&self) -> i64 {
        self.cleared_ns
            .map_or(self.spec.end_ns, |c| c.min(self.spec.end_ns))
    }

    /// Whether the fault is in effect at `ts_ns`.
    pub fn active_at(&self, ts_ns: i64) -> bool {
        self.activated_ns.is_some()
            && self.spec.start_ns <= ts_ns
            && ts_ns < self.effective_end_ns()
    }

    /// Fraction of `[t0, t1)` during which the fault is in effect.
    pub fn overlap(&self, t0: i64, t1: i64) -> f64 {
        if self.activated_ns.is_none() || t1 <= t0 {
            return 0.0;
        }
        let a = self.spec.start_ns.max(t0);
        let b = self.effective_end_ns().min(t1);
        ((b - a).max(0) as f64) / ((t1 - t0) as f64)
    }

    /// Whether it affects `pod` (pod-level: that pod; bad-state faults: pods
    /// that existed at onset; load faults: every pod).
    pub fn hits(&self, pod: &Pod) -> bool {
        match &self.pod_uid {
            Some(uid) => *uid == pod.meta.uid,
            None if self.spec.kind.cleared_by_restart() => {
                self.activated_ns.is_some_and(|a| pod.created_ns <= a)
            }
            None => true,
        }
    }

    /// The ground-truth window as a label (`None` before onset or if skipped).
    pub fn label(&self) -> Option<Label> {
        self.activated_ns?;
        Some(Label {
            id: self.spec.id.clone(),
            kind: self.spec.kind,
            start: crate::clock::rfc3339(self.spec.start_ns, crate::clock::Precision::Millis),
            end: Some(crate::clock::rfc3339(
                self.effective_end_ns(),
                crate::clock::Precision::Millis,
            )),
            namespace: self.spec.namespace.clone(),
            workload: self.spec.workload.clone(),
            pod: self.pod.clone(),
            intensity: self.spec.intensity,
        })
    }
}

/// A rolling replacement in progress.
#[derive(Debug, Clone)]
pub(crate) struct Rollout {
    /// UIDs of pods still to replace, in order.
    pub old: Vec<String>,
    /// The replacement we wait on, and the old pod to delete once it is ready (surge).
    pub waiting: Option<(String, Option<String>)>,
}

/// A workload's runtime state.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Its spec and normal levels.
    pub spec: WorkloadSpec,
    /// Desired replicas.
    pub desired: u32,
    /// Pods.
    pub pods: Vec<Pod>,
    /// Current template hash (ReplicaSet hash / controller revision).
    pub hash: String,
    /// UID of the controller object.
    pub uid: String,
    pub(crate) load: LoadVariation,
    pub(crate) rollout: Option<Rollout>,
    /// Fraction of request lines written to the log.
    pub(crate) log_sample: f64,
    /// Mean per-pod request rate at normal size and load.
    pub(crate) normal_pod_rps: f64,
    /// Offered request rate in the last tick.
    pub offered_rps: f64,
}

impl Workload {
    /// Pods that serve at `ts_ns`.
    pub fn ready_pods(&self, ts_ns: i64) -> usize {
        self.pods.iter().filter(|p| p.serving_at(ts_ns)).count()
    }
}

/// Normal levels of a workload, as written to `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct NormalLevels {
    /// Namespace.
    pub namespace: String,
    /// Workload.
    pub workload: String,
    /// Controller kind.
    pub kind: ControllerKind,
    /// Pods at normal size.
    pub replicas: u32,
    /// Mean request rate of the workload.
    pub requests_per_s: f64,
    /// Mean request rate per pod.
    pub requests_per_s_per_pod: f64,
    /// Mean CPU per pod, cores.
    pub cpu_cores_per_pod: f64,
    /// CPU limit, cores.
    pub cpu_limit_cores: f64,
    /// Idle working set per pod, bytes.
    pub memory_bytes_per_pod: f64,
    /// Memory limit, bytes.
    pub memory_limit_bytes: f64,
    /// Mean latency at normal load, ms.
    pub latency_ms: f64,
    /// Background 5xx rate.
    pub error_rate: f64,
    /// Fraction of requests that get a log line.
    pub log_sample: f64,
    /// Log format, shipper and metric path.
    pub log_format: crate::fleet::LogFormat,
    /// Log shipper.
    pub log_pipeline: crate::fleet::LogPipeline,
    /// Metric path.
    pub metric_pipeline: crate::fleet::MetricPipeline,
}

/// Target log lines per pod per tick at normal load.
const LOG_LINES_PER_POD_TICK: f64 = 4.0;

/// The simulated cluster.
pub struct Simulation {
    pub(crate) fleet: Fleet,
    pub(crate) interval_ns: i64,
    pub(crate) now_ns: i64,
    pub(crate) tick: u64,
    pub(crate) rng: SimRng,
    pub(crate) workloads: Vec<Workload>,
    pub(crate) faults: Vec<FaultState>,
    pub(crate) maintenance: Vec<Maintenance>,
    pub(crate) out: Emitter,
    pub(crate) node_offsets: Vec<i64>,
}

impl Simulation {
    /// Builds the fleet's workloads and pods at `cfg.start_ns` (pods already
    /// running and ready; no creation events).
    pub fn new(cfg: SimConfig) -> Result<Self, ChaosError> {
        if cfg.interval_s == 0 || cfg.interval_s > 3600 {
            return Err(ChaosError::InvalidParameter {
                name: "interval",
                reason: format!("{} s is outside 1..=3600", cfg.interval_s),
            });
        }
        if cfg.fleet.nodes.is_empty() {
            return Err(ChaosError::InvalidParameter {
                name: "fleet",
                reason: "no nodes".into(),
            });
        }
        let interval_ns = i64::from(cfg.interval_s) * NS_PER_S;
        let mut rng = rng_for(cfg.seed, 0);
        let nodes = cfg.fleet.nodes.len();
        let node_offsets = (0..nodes)
            .map(|_| {
                ((uniform(&mut rng, 0.05, 0.95) * interval_ns as f64) as i64 / 1_000_000)
                    * 1_000_000
            })
            .collect();
        let mut sim = Simulation {
            fleet: cfg.fleet.clone(),
            interval_ns,
            now_ns: cfg.start_ns,
            tick: 0,
            rng,
            workloads: Vec::new(),
            faults: Vec::new(),
            maintenance: Vec::new(),
            out: Emitter::default(),
            node_offsets,
        };
        for spec in cfg.fleet.workloads {
            let hash = crate::names::template_hash(&mut sim.rng);
            let uid = crate::names::uid(&mut sim.rng);
            let normal_pod_rps = spec.normal_pod_rps(nodes);
            let log_sample =
                (LOG_LINES_PER_POD_TICK / (normal_pod_rps * f64::from(cfg.interval_s))).min(1.0);
            let desired = spec.normal_replicas(nodes);
            sim.workloads.push(Workload {
                spec,
                desired,
                pods: Vec::new(),
                hash,
                uid,
                load: LoadVariation::default(),
                rollout: None,
                log_sample,
                normal_pod_rps,
                offered_rps: 0.0,
            });
            let wi = sim.workloads.len() - 1;
            for i in 0..desired {
                let pi = sim.create_pod_quiet(wi, Some(i));
                if let Some(p) = sim.workloads.get_mut(wi).and_then(|w| w.pods.get_mut(pi)) {
                    p.created_ns -= 3 * 86_400 * NS_PER_S;
                    p.container_started_ns = p.created_ns;
                    p.ready_at_ns = p.created_ns;
                    p.cpu_seconds = uniform(&mut sim.rng, 1_000.0, 50_000.0) * p.weight;
                }
            }
        }
        Ok(sim)
    }

    /// The current simulated time (start of the next tick), ns.
    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }

    /// The tick length, ns.
    pub fn interval_ns(&self) -> i64 {
        self.interval_ns
    }

    /// Ticks run so far.
    pub fn ticks(&self) -> u64 {
        self.tick
    }

    /// The fleet being simulated.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Every workload's runtime state.
    pub fn workloads(&self) -> &[Workload] {
        &self.workloads
    }

    /// One workload's runtime state.
    pub fn workload(&self, namespace: &str, name: &str) -> Option<&Workload> {
        self.workloads
            .iter()
            .find(|w| w.spec.namespace == namespace && w.spec.name == name)
    }

    /// Every injected fault and its state.
    pub fn faults(&self) -> &[FaultState] {
        &self.faults
    }

    /// Labels of every fault that took effect, sorted by start.
    pub fn labels(&self) -> Vec<Label> {
        let mut faults: Vec<&FaultState> = self.faults.iter().collect();
        faults.sort_by_key(|f| f.spec.start_ns);
        faults.iter().filter_map(|f| f.label()).collect()
    }

    /// Normal levels per workload.
    pub fn normal_levels(&self) -> Vec<NormalLevels> {
        let nodes = self.fleet.nodes.len();
        self.workloads
            .iter()
            .map(|w| {
                let s = &w.spec;
                let rho = (w.normal_pod_rps / s.capacity_rps_per_pod).min(0.95);
                NormalLevels {
                    namespace: s.namespace.clone(),
                    workload: s.name.clone(),
                    kind: s.kind,
                    replicas: s.normal_replicas(nodes),
                    requests_per_s: w.normal_pod_rps * f64::from(s.normal_replicas(nodes)),
                    requests_per_s_per_pod: w.normal_pod_rps,
                    cpu_cores_per_pod: s.normal_pod_cpu(nodes),
                    cpu_limit_cores: s.cpu_limit_cores,
                    memory_bytes_per_pod: s.mem_base_bytes,
                    memory_limit_bytes: s.mem_limit_bytes,
                    latency_ms: s.service_ms / (1.0 - rho),
                    error_rate: s.error_rate,
                    log_sample: w.log_sample,
                    log_format: s.log_format,
                    log_pipeline: s.log_pipeline,
                    metric_pipeline: s.metric_pipeline,
                }
            })
            .collect()
    }

    pub(crate) fn find(&self, namespace: &str, name: &str) -> Result<usize, ChaosError> {
        self.workloads
            .iter()
            .position(|w| w.spec.namespace == namespace && w.spec.name == name)
            .ok_or_else(|| ChaosError::UnknownWorkload {
                namespace: namespace.to_owned(),
                workload: name.to_owned(),
            })
    }

    /// Schedules a fault. It takes effect at `spec.start_ns` (immediately if
    /// that is already past); pod targets are resolved then.
    pub fn inject(&mut self, spec: FaultSpec) -> Result<(), ChaosError> {
        spec.validate()?;
        let wi = self.find(&spec.namespace, &spec.workload)?;
        if !spec.kind.applies_to(
            self.workloads
                .get(wi)
                .map_or(ControllerKind::Deployment, |w| w.spec.kind),
        ) {
            return Err(ChaosError::InvalidParameter {
                name: "kind",
                reason: format!("{} does not apply to {}", spec.kind.as_str(), spec.workload),
            });
        }
        self.faults.push(FaultState {
            spec,
            status: FaultStatus::Pending,
            pod: None,
            pod_uid: None,
            activated_ns: None,
            cleared_ns: None,
            leak_rate: 0.0,
        });
        Ok(())
    }

    /// Schedules a maintenance action (a deploy or an eviction that is not an incident).
    pub fn schedule_maintenance(&mut self, m: Maintenance) -> Result<(), ChaosError> {
        self.find(&m.namespace, &m.workload)?;
        let at = self.maintenance.partition_point(|x| x.at_ns <= m.at_ns);
        self.maintenance.insert(at, m);
        Ok(())
    }

    /// Injects a whole plan.
    pub fn apply_plan(&mut self, plan: &Plan) -> Result<(), ChaosError> {
        for f in &plan.faults {
            self.inject(f.clone())?;
        }
        for m in &plan.maintenance {
            self.schedule_maintenance(m.clone())?;
        }
        Ok(())
    }

    /// Runs one tick: every record of `[now, now + interval)` goes to `sink`
    /// in time order.
    pub fn step(&mut self, sink: &mut dyn Sink) -> Result<(), ChaosError> {
        let t0 = self.now_ns;
        let t1 = t0 + self.interval_ns;
        self.run_maintenance(t1);
        self.activate_faults(t1);
        for wi in 0..self.workloads.len() {
            self.progress_rollout(wi, t0 + self.interval_ns / 10);
        }
        let mut nodes = vec![crate::tick::NodeLoad::default(); self.fleet.nodes.len()];
        for wi in 0..self.workloads.len() {
            crate::tick::tick_workload(self, wi, t0, t1, &mut nodes);
        }
        crate::tick::node_records(self, t0, &nodes);
        for f in &mut self.faults {
            if f.status == FaultStatus::Active && f.spec.end_ns <= t1 {
                f.status = FaultStatus::Ended;
            }
        }
        self.now_ns = t1;
        self.tick += 1;
        self.out.flush(sink)
    }

    /// Steps until `now >= end_ns`.
    pub fn run_until(&mut self, end_ns: i64, sink: &mut dyn Sink) -> Result<(), ChaosError> {
        while self.now_ns < end_ns {
            self.step(sink)?;
        }
        Ok(())
    }

    fn run_maintenance(&mut self, t1: i64) {
        while self.maintenance.first().is_some_and(|m| m.at_ns < t1) {
            let m = self.maintenance.remove(0);
            let at = m.at_ns.max(self.now_ns);
            let Ok(wi) = self.find(&m.namespace, &m.workload) else {
                continue;
            };
            match m.kind {
                MaintenanceKind::Deploy => {
                    let _ = self.rollout_restart(&m.namespace, &m.workload);
                }
                MaintenanceKind::Evict { pod_index } => {
                    let n = self.workloads.get(wi).map_or(0, |w| w.pods.len());
                    if n > 0 {
                        self.replace_pod(wi, pod_index % n, at);
                    }
                }
            }
        }
    }

    fn activate_faults(&mut self, t1: i64) {
        for fi in 0..self.faults.len() {
            let Some(f) = self.faults.get(fi) else {
                continue;
            };
            if f.status != FaultStatus::Pending || f.spec.start_ns >= t1 {
                continue;
            }
            let Ok(wi) = self.find(&f.spec.namespace, &f.spec.workload) else {
                continue;
            };
            let Some(w) = self.workloads.get(wi) else {
                continue;
            };
            let target = match &f.spec.pod {
                PodTarget::Workload => Some(None),
                PodTarget::Index(i) => {
                    let mut pods: Vec<&Pod> = w.pods.iter().collect();
                    pods.sort_by(|a, b| a.meta.pod.cmp(&b.meta.pod));
                    let n = pods.len();
                    (n > 0).then(|| {
                        pods.get(i % n)
                            .map(|p| (p.meta.pod.clone(), p.meta.uid.clone()))
                    })
                }
                PodTarget::Name(name) => w
                    .pods
                    .iter()
                    .find(|p| p.meta.pod == *name)
                    .map(|p| Some((p.meta.pod.clone(), p.meta.uid.clone()))),
            };
            let spec = w.spec.clone();
            let Some(f) = self.faults.get_mut(fi) else {
                continue;
            };
            let Some(target) = target else {
                f.status = FaultStatus::Skipped;
                continue;
            };
            f.status = FaultStatus::Active;
            f.activated_ns = Some(f.spec.start_ns.max(self.now_ns));
            if let Some((name, uid)) = target {
                f.pod = Some(name);
                f.pod_uid = Some(uid);
            }
            if f.spec.kind == FaultKind::MemoryLeak {
                let dur_s = (f.spec.end_ns - f.spec.start_ns) as f64 / 1e9;
                let typical = spec.mem_base_bytes * (1.0 + spec.gc_fraction * 0.5);
                let headroom = (spec.mem_limit_bytes - typical).max(spec.mem_limit_bytes * 0.05);
                let frac = crate::fault::effect::leak_first_oom_fraction(f.spec.intensity);
                f.leak_rate = headroom / (frac * dur_s).max(30.0);
            }
        }
    }
}
