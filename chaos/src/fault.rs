//! Faults: the six kinds, what one injected fault is (kind, target, window,
//! intensity), and how its intensity translates into the simulated world.
//!
//! `intensity` is in `[0, 1]` for every kind (1 = strong); [`FaultKind`]'s
//! methods map it to a multiplier or a rate, so labels stay comparable across
//! kinds.

use serde::{Deserialize, Serialize};

use crate::fleet::ControllerKind;

/// The kinds of fault, as written in `labels.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Extra CPU per request on every pod of a workload (saturation; scaling helps).
    CpuStress,
    /// One pod's memory grows until it is OOM-killed, restarts, and leaks again.
    MemoryLeak,
    /// The workload's traffic multiplies (scaling helps).
    TrafficFlood,
    /// One pod's container exits shortly after every start: restarts, BackOff events.
    CrashLoop,
    /// A fraction of requests fail with 5xx.
    ErrorBurst,
    /// Requests take many times longer (a slow dependency, lock contention).
    LatencySpike,
}

/// Every kind, in a fixed order.
pub const ALL_KINDS: [FaultKind; 6] = [
    FaultKind::CpuStress,
    FaultKind::MemoryLeak,
    FaultKind::TrafficFlood,
    FaultKind::CrashLoop,
    FaultKind::ErrorBurst,
    FaultKind::LatencySpike,
];

impl FaultKind {
    /// The snake_case name used in labels and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::CpuStress => "cpu_stress",
            FaultKind::MemoryLeak => "memory_leak",
            FaultKind::TrafficFlood => "traffic_flood",
            FaultKind::CrashLoop => "crash_loop",
            FaultKind::ErrorBurst => "error_burst",
            FaultKind::LatencySpike => "latency_spike",
        }
    }

    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        ALL_KINDS.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the fault can target a workload of this controller kind
    /// (a DaemonSet's load is per node, so it is never flooded).
    pub fn applies_to(self, kind: ControllerKind) -> bool {
        !(self == FaultKind::TrafficFlood && kind == ControllerKind::DaemonSet)
    }

    /// Which targets the kind takes: (workload-wide allowed, single pod allowed).
    pub fn scopes(self) -> (bool, bool) {
        match self {
            FaultKind::CpuStress | FaultKind::TrafficFlood => (true, false),
            FaultKind::MemoryLeak | FaultKind::CrashLoop => (false, true),
            FaultKind::ErrorBurst | FaultKind::LatencySpike => (true, true),
        }
    }

    /// Range of window lengths in seconds.
    pub fn duration_range_s(self) -> (f64, f64) {
        match self {
            FaultKind::MemoryLeak => (900.0, 2400.0),
            FaultKind::CrashLoop => (300.0, 1200.0),
            FaultKind::CpuStress | FaultKind::TrafficFlood => (300.0, 1200.0),
            FaultKind::ErrorBurst | FaultKind::LatencySpike => (180.0, 900.0),
        }
    }

    /// Whether replacing the affected pods (rollout restart, pod delete) ends
    /// the fault. Load-driven faults (flood, CPU stress) are only mitigated by
    /// scaling out.
    pub fn cleared_by_restart(self) -> bool {
        !matches!(self, FaultKind::CpuStress | FaultKind::TrafficFlood)
    }
}

/// How an intensity in `[0, 1]` shows in the world.
pub mod effect {
    /// CPU per request is multiplied by this.
    pub fn cpu_cost_multiplier(intensity: f64) -> f64 {
        1.0 + 6.0 * intensity
    }
    /// Offered traffic is multiplied by this.
    pub fn traffic_multiplier(intensity: f64) -> f64 {
        1.0 + 9.0 * intensity
    }
    /// Fraction of requests that fail with 5xx.
    pub fn error_fraction(intensity: f64) -> f64 {
        (0.05 + 0.55 * intensity).min(0.95)
    }
    /// Request latency is multiplied by this.
    pub fn latency_multiplier(intensity: f64) -> f64 {
        1.0 + 12.0 * intensity
    }
    /// Fraction of the window after which the first OOM kill happens.
    pub fn leak_first_oom_fraction(intensity: f64) -> f64 {
        0.9 - 0.5 * intensity
    }
    /// Seconds a crash-looping container stays up after each start.
    pub fn crash_uptime_s(intensity: f64) -> f64 {
        20.0 - 17.0 * intensity
    }
}

/// Which pod a fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PodTarget {
    /// Every pod of the workload.
    Workload,
    /// The pod at this position (modulo the pod count) when the fault starts.
    Index(usize),
    /// The pod with this name.
    Name(String),
}

/// One fault to inject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Label id.
    pub id: String,
    /// What breaks.
    pub kind: FaultKind,
    /// Target namespace.
    pub namespace: String,
    /// Target workload.
    pub workload: String,
    /// Target pod(s).
    pub pod: PodTarget,
    /// Onset, ns since the epoch.
    pub start_ns: i64,
    /// End of the window, ns since the epoch.
    pub end_ns: i64,
    /// Strength in `[0, 1]`.
    pub intensity: f64,
}

impl FaultSpec {
    /// Checks kind/target compatibility, window order and intensity range.
    pub fn validate(&self) -> Result<(), crate::ChaosError> {
        let invalid = |name, reason: &str| {
            Err(crate::ChaosError::InvalidParameter {
                name,
                reason: format!("fault {}: {reason}", self.id),
            })
        };
        if self.end_ns <= self.start_ns {
            return invalid("end", "ends before it starts");
        }
        if !(0.0..=1.0).contains(&self.intensity) {
            return invalid("intensity", "must be within [0, 1]");
        }
        let (workload_ok, pod_ok) = self.kind.scopes();
        match self.pod {
            PodTarget::Workload if !workload_ok => invalid("pod", "this kind needs a pod"),
            PodTarget::Index(_) | PodTarget::Name(_) if !pod_ok => {
                invalid("pod", "this kind hits the whole workload")
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in ALL_KINDS {
            assert_eq!(FaultKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(FaultKind::parse("meteor"), None);
    }

    #[test]
    fn validation() {
        let spec = |kind, pod, intensity, len| FaultSpec {
            id: "t".into(),
            kind,
            namespace: "ns".into(),
            workload: "w".into(),
            pod,
            start_ns: 0,
            end_ns: len,
            intensity,
        };
        let cases: &[(FaultSpec, bool)] = &[
            (
                spec(FaultKind::MemoryLeak, PodTarget::Index(0), 0.5, 10),
                true,
            ),
            (
                spec(FaultKind::MemoryLeak, PodTarget::Workload, 0.5, 10),
                false,
            ),
            (
                spec(
                    FaultKind::TrafficFlood,
                    PodTarget::Name("p".into()),
                    0.5,
                    10,
                ),
                false,
            ),
            (
                spec(FaultKind::ErrorBurst, PodTarget::Workload, 0.5, 10),
                true,
            ),
            (
                spec(FaultKind::ErrorBurst, PodTarget::Workload, 1.5, 10),
                false,
            ),
            (
                spec(FaultKind::CpuStress, PodTarget::Workload, 0.5, 0),
                false,
            ),
        ];
        for (s, ok) in cases {
            assert_eq!(s.validate().is_ok(), *ok, "{s:?}");
        }
    }

    type EffectCase = (&'static str, fn(f64) -> f64, bool);

    #[test]
    fn effects_grow_with_intensity() {
        let cases: &[EffectCase] = &[
            ("cpu", effect::cpu_cost_multiplier, true),
            ("traffic", effect::traffic_multiplier, true),
            ("errors", effect::error_fraction, true),
            ("latency", effect::latency_multiplier, true),
            ("oom earlier", effect::leak_first_oom_fraction, false),
            ("crash sooner", effect::crash_uptime_s, false),
        ];
        for (name, f, increasing) in cases {
            assert_eq!(f(1.0) > f(0.3), *increasing, "{name}");
            assert!(f(0.0) > 0.0, "{name}");
        }
    }
}
