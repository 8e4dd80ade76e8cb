//! A simulated pod: identity (what the log shippers see), container
//! lifecycle, and the running state behind its telemetry (CPU counter, GC
//! sawtooth, leaked memory).

use crate::fleet::{ControllerKind, WorkloadSpec};
use crate::names;
use crate::random::{uniform, SimRng};
use crate::telemetry::PodMeta;

/// Whether the pod's container is running.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// The container runs (serving once `ready_at_ns` has passed).
    Up,
    /// The container is down until `until_ns` (restart delay or CrashLoopBackOff).
    Down {
        /// When the kubelet starts it again.
        until_ns: i64,
        /// Down because it crashed (BackOff events while waiting).
        crashed: bool,
    },
}

/// One pod.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Identity as the shippers report it.
    pub meta: PodMeta,
    /// Index of the node it runs on.
    pub node: usize,
    /// StatefulSet ordinal.
    pub ordinal: Option<u32>,
    /// Template hash / controller revision it was created from.
    pub template_hash: String,
    /// Creation time.
    pub created_ns: i64,
    /// When the current container started.
    pub container_started_ns: i64,
    /// When the current container passes readiness.
    pub ready_at_ns: i64,
    /// Container state.
    pub phase: Phase,
    /// CPU seconds of the current container (the cAdvisor counter).
    pub cpu_seconds: f64,
    /// GC cycle position, 0..1.
    pub gc_fill: f64,
    /// Leaked bytes of the current container.
    pub leak_bytes: f64,
    /// Working set without the leak, as of the last tick.
    pub mem_base_now: f64,
    /// Share of the workload's traffic relative to its siblings.
    pub weight: f64,
    /// Offset of this pod's scrape within a tick.
    pub scrape_offset_ns: i64,
    /// Consecutive crashes (sets the back-off).
    pub crash_streak: u32,
    /// Process id shown in text logs.
    pub pid: u32,
}

impl Pod {
    /// Whether the pod serves traffic at `ts_ns`.
    pub fn serving_at(&self, ts_ns: i64) -> bool {
        self.phase == Phase::Up && self.ready_at_ns <= ts_ns
    }

    /// Status text as `kubectl get pods` shows it.
    pub fn status_text(&self, now_ns: i64) -> &'static str {
        match self.phase {
            Phase::Up if self.ready_at_ns > now_ns => "ContainerCreating",
            Phase::Up => "Running",
            Phase::Down { crashed: true, .. } => "CrashLoopBackOff",
            Phase::Down { .. } => "Error",
        }
    }

    /// Starts a new container at `ts_ns` (after a crash, an OOM kill, or at creation).
    pub fn start_container(&mut self, rng: &mut SimRng, ts_ns: i64, readiness_s: f64) {
        self.meta.container_id = names::container_id(rng);
        self.container_started_ns = ts_ns;
        self.ready_at_ns = ts_ns + (readiness_s * 1e9) as i64;
        self.phase = Phase::Up;
        self.cpu_seconds = 0.0;
        self.leak_bytes = 0.0;
        self.gc_fill = uniform(rng, 0.0, 0.3);
        self.pid = 1 + rng_u32(rng) % 400;
    }
}

fn rng_u32(rng: &mut SimRng) -> u32 {
    (crate::random::next_u64(rng) >> 32) as u32
}

/// Everything needed to create a pod.
pub struct NewPod<'a> {
    /// The workload.
    pub spec: &'a WorkloadSpec,
    /// Pod name.
    pub name: String,
    /// Node index and name.
    pub node: (usize, &'a str),
    /// Template hash / revision.
    pub template_hash: &'a str,
    /// StatefulSet ordinal.
    pub ordinal: Option<u32>,
    /// Creation time.
    pub now_ns: i64,
    /// Scrape interval (for the scrape offset).
    pub interval_ns: i64,
}

/// Creates a pod whose container starts at `now_ns` and turns ready after a startup delay.
pub fn new_pod(rng: &mut SimRng, p: NewPod<'_>) -> Pod {
    let spec = p.spec;
    let mut labels = vec![("app".to_owned(), spec.name.clone())];
    let owner = match spec.kind {
        ControllerKind::Deployment => {
            labels.push(("pod-template-hash".into(), p.template_hash.to_owned()));
            format!("ReplicaSet/{}-{}", spec.name, p.template_hash)
        }
        ControllerKind::StatefulSet => {
            labels.push((
                "apps.kubernetes.io/pod-index".into(),
                p.ordinal.unwrap_or(0).to_string(),
            ));
            labels.push((
                "controller-revision-hash".into(),
                format!("{}-{}", spec.name, p.template_hash),
            ));
            labels.push(("statefulset.kubernetes.io/pod-name".into(), p.name.clone()));
            format!("StatefulSet/{}", spec.name)
        }
        ControllerKind::DaemonSet => {
            labels.push((
                "controller-revision-hash".into(),
                p.template_hash.to_owned(),
            ));
            labels.push(("pod-template-generation".into(), "1".into()));
            format!("DaemonSet/{}", spec.name)
        }
    };
    let weight = match p.ordinal {
        Some(0) => 1.4,
        _ => uniform(rng, 0.9, 1.1),
    };
    let meta = PodMeta {
        namespace: spec.namespace.clone(),
        pod: p.name,
        uid: names::uid(rng),
        node: p.node.1.to_owned(),
        ip: names::pod_ip(rng, p.node.0),
        container: spec.container.clone(),
        image: spec.image.clone(),
        container_id: String::new(),
        owner,
        labels,
        restart_count: 0,
    };
    let mut pod = Pod {
        meta,
        node: p.node.0,
        ordinal: p.ordinal,
        template_hash: p.template_hash.to_owned(),
        created_ns: p.now_ns,
        container_started_ns: p.now_ns,
        ready_at_ns: p.now_ns,
        phase: Phase::Up,
        cpu_seconds: 0.0,
        gc_fill: 0.0,
        leak_bytes: 0.0,
        mem_base_now: spec.mem_base_bytes,
        weight,
        scrape_offset_ns: ((uniform(rng, 0.05, 0.95) * p.interval_ns as f64) as i64 / 1_000_000)
            * 1_000_000,
        crash_streak: 0,
        pid: 1,
    };
    let startup = uniform(rng, 8.0, 30.0);
    pod.start_container(rng, p.now_ns, startup);
    pod
}

/// A pod name for a workload: `name-<hash>-<5>` (Deployment), `name-<ordinal>`
/// (StatefulSet), `name-<5>` (DaemonSet).
pub fn pod_name(rng: &mut SimRng, spec: &WorkloadSpec, hash: &str, ordinal: Option<u32>) -> String {
    match spec.kind {
        ControllerKind::Deployment => {
            format!("{}-{}-{}", spec.name, hash, names::pod_suffix(rng))
        }
        ControllerKind::StatefulSet => format!("{}-{}", spec.name, ordinal.unwrap_or(0)),
        ControllerKind::DaemonSet => format!("{}-{}", spec.name, names::pod_suffix(rng)),
    }
}
