//! The faults a closed-loop run injects: kind, target, onset (after warm-up),
//! length and strength, and the demo's schedule covering every kind.

use crate::fault::{FaultKind, FaultSpec, PodTarget};

/// One fault of a closed-loop run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFault {
    /// What breaks.
    pub kind: FaultKind,
    /// Target `namespace/workload`.
    pub workload: String,
    /// Target pod(s).
    pub pod: PodTarget,
    /// Onset, seconds after the warm-up.
    pub at_s: u64,
    /// Length of the fault window, seconds (the fault may be cleared earlier).
    pub duration_s: u64,
    /// Strength in `[0, 1]`.
    pub intensity: f64,
}

impl PlannedFault {
    /// A fault of `kind` on `workload` (pod 0 for kinds that hit one pod).
    pub fn new(kind: FaultKind, workload: &str, at_s: u64, duration_s: u64) -> Self {
        let pod = match kind.scopes() {
            (true, _) => PodTarget::Workload,
            (false, _) => PodTarget::Index(0),
        };
        Self {
            kind,
            workload: workload.to_owned(),
            pod,
            at_s,
            duration_s,
            intensity: 0.7,
        }
    }

    /// The fault as the simulation takes it, its window starting at `t0_ns + at_s`.
    pub fn spec(&self, id: String, t0_ns: i64) -> FaultSpec {
        let (namespace, workload) = self
            .workload
            .split_once('/')
            .unwrap_or(("", self.workload.as_str()));
        let start_ns = t0_ns + secs_ns(self.at_s);
        FaultSpec {
            id,
            kind: self.kind,
            namespace: namespace.to_owned(),
            workload: workload.to_owned(),
            pod: self.pod.clone(),
            start_ns,
            end_ns: start_ns + secs_ns(self.duration_s.max(1)),
            intensity: self.intensity,
        }
    }
}

fn secs_ns(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 2_000_000_000) * 1_000_000_000
}

/// The demo's schedule on fleet `a`: every kind once on an opted-in
/// Deployment, at most one fault per workload at a time (in two waves 18
/// minutes apart, so the first wave's remediation has settled), plus one fault
/// on `payments/ledger`, which is not opted in (the healer must leave it alone).
pub fn demo_schedule() -> Vec<PlannedFault> {
    use FaultKind::*;
    let with = |mut f: PlannedFault, intensity: f64| {
        f.intensity = intensity;
        f
    };
    vec![
        with(PlannedFault::new(CpuStress, "shop/cart", 0, 900), 0.35),
        with(
            PlannedFault::new(TrafficFlood, "shop/storefront", 0, 900),
            0.3,
        ),
        with(PlannedFault::new(MemoryLeak, "ml/recommender", 0, 900), 0.9),
        with(
            PlannedFault::new(ErrorBurst, "payments/ledger", 120, 600),
            0.7,
        ),
        with(PlannedFault::new(CrashLoop, "shop/cart", 1080, 900), 0.8),
        with(
            PlannedFault::new(ErrorBurst, "shop/storefront", 1080, 900),
            0.7,
        ),
        with(
            PlannedFault::new(LatencySpike, "ml/recommender", 1080, 900),
            0.7,
        ),
    ]
}
