//! The decision vocabulary shared by the edge and the healer: signal families,
//! incident kinds, severities, recommended actions, and the [`Verdict`] the
//! scorer reaches for an entity.
//!
//! The string forms are the tag contract in ARCHITECTURE.md: additions are
//! fine, renames are breaking.

/// A signal family: each has its own isolation forest and thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Pod CPU usage.
    Cpu,
    /// Pod memory working set.
    Memory,
    /// Workload request rate.
    Traffic,
    /// Workload error ratio.
    Errors,
    /// Workload latency quantiles.
    Latency,
    /// Pod restarts, back-offs and OOM kills from events and counters.
    Restarts,
}

impl Family {
    /// Every family, in the fixed order used for feature vectors and model sets.
    pub const ALL: [Family; 6] = [
        Family::Cpu,
        Family::Memory,
        Family::Traffic,
        Family::Errors,
        Family::Latency,
        Family::Restarts,
    ];

    /// Lower-case name, as used in model files.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Cpu => "cpu",
            Family::Memory => "memory",
            Family::Traffic => "traffic",
            Family::Errors => "errors",
            Family::Latency => "latency",
            Family::Restarts => "restarts",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The incident kind this family speaks for, used when no classifier is loaded.
    pub fn incident(self) -> Incident {
        match self {
            Family::Cpu => Incident::CpuSaturation,
            Family::Memory => Incident::MemoryLeak,
            Family::Traffic => Incident::TrafficSurge,
            Family::Errors => Incident::ErrorBurst,
            Family::Latency => Incident::LatencySpike,
            Family::Restarts => Incident::CrashLoop,
        }
    }

    /// Position in [`Family::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Incident kinds, as written to `edgeheal.incident`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Incident {
    /// CPU pinned well above the entity's normal.
    CpuSaturation,
    /// Memory growing towards the limit.
    MemoryLeak,
    /// Request rate far above normal.
    TrafficSurge,
    /// Error ratio far above normal.
    ErrorBurst,
    /// Latency far above normal.
    LatencySpike,
    /// Containers restarting with back-off.
    CrashLoop,
    /// No incident, or one the classifier cannot name.
    Unknown,
}

impl Incident {
    /// The incident kinds a classifier can predict, in class order.
    pub const CLASSES: [Incident; 6] = [
        Incident::CpuSaturation,
        Incident::MemoryLeak,
        Incident::TrafficSurge,
        Incident::ErrorBurst,
        Incident::LatencySpike,
        Incident::CrashLoop,
    ];

    /// Tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Incident::CpuSaturation => "cpu_saturation",
            Incident::MemoryLeak => "memory_leak",
            Incident::TrafficSurge => "traffic_surge",
            Incident::ErrorBurst => "error_burst",
            Incident::LatencySpike => "latency_spike",
            Incident::CrashLoop => "crash_loop",
            Incident::Unknown => "unknown",
        }
    }

    /// Parses a tag value.
    pub fn parse(name: &str) -> Option<Incident> {
        Incident::CLASSES
            .into_iter()
            .chain([Incident::Unknown])
            .find(|i| i.as_str() == name)
    }

    /// The action the edge recommends for this incident kind. The healer's
    /// policy has the final word.
    pub fn recommended_action(self) -> Action {
        match self {
            Incident::CpuSaturation | Incident::TrafficSurge | Incident::LatencySpike => {
                Action::ScaleUp
            }
            Incident::MemoryLeak | Incident::ErrorBurst => Action::RolloutRestart,
            Incident::CrashLoop => Action::DeletePod,
            Incident::Unknown => Action::None,
        }
    }

    /// The family whose forest speaks most directly for this incident kind.
    pub fn family(self) -> Option<Family> {
        match self {
            Incident::CpuSaturation => Some(Family::Cpu),
            Incident::MemoryLeak => Some(Family::Memory),
            Incident::TrafficSurge => Some(Family::Traffic),
            Incident::ErrorBurst => Some(Family::Errors),
            Incident::LatencySpike => Some(Family::Latency),
            Incident::CrashLoop => Some(Family::Restarts),
            Incident::Unknown => None,
        }
    }
}

/// Recommended actions, as written to `edgeheal.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Add replicas to the workload.
    ScaleUp,
    /// Restart the workload's pods (`kubectl rollout restart`).
    RolloutRestart,
    /// Delete the affected pod so its controller replaces it.
    DeletePod,
    /// Do nothing.
    None,
}

impl Action {
    /// Tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ScaleUp => "scale_up",
            Action::RolloutRestart => "rollout_restart",
            Action::DeletePod => "delete_pod",
            Action::None => "none",
        }
    }

    /// Parses a tag value.
    pub fn parse(name: &str) -> Option<Action> {
        [
            Action::ScaleUp,
            Action::RolloutRestart,
            Action::DeletePod,
            Action::None,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

/// Severity, as written to `edgeheal.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Not anomalous.
    None,
    /// Above the warning threshold of a family.
    Warning,
    /// Above the critical threshold of a family.
    Critical,
}

impl Severity {
    /// Tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses a tag value.
    pub fn parse(name: &str) -> Option<Severity> {
        [Severity::None, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Most features listed in `why`.
pub const MAX_WHY: usize = 3;

/// One feature that drove a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reason {
    /// Feature name (a `&'static str` from [`crate::features`]).
    pub feature: &'static str,
    /// The feature's value.
    pub value: f64,
    /// Its share of the score, in 0..=1.
    pub contribution: f64,
}

/// What the scorer concluded about an entity at its last evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Highest family anomaly score (scikit-learn's `-score_samples`, in 0..1),
    /// or `None` when no family could be scored (no models, or still warming up).
    pub score: Option<f64>,
    /// Whether a family crossed its critical threshold, or its warning
    /// threshold with the classifier confirming (see [`crate::scorer::verdict`]).
    pub anomaly: bool,
    /// Severity from the calibrated thresholds.
    pub severity: Severity,
    /// Incident kind from the classifier (`Unknown` when not anomalous).
    pub incident: Incident,
    /// Recommended action for `incident`.
    pub action: Action,
    /// The classifier's probability of `incident` (0 when no classifier
    /// named it). Not a tag: it decides whether an ongoing incident may be
    /// renamed ([`crate::scorer::keep_incident`]).
    pub confidence: f64,
    /// The family with the highest score, when any was scored.
    pub family: Option<Family>,
    /// Up to [`MAX_WHY`] features that drove the score, strongest first.
    pub why: [Option<Reason>; MAX_WHY],
}

impl Verdict {
    /// The verdict for an entity nothing could be said about.
    pub const UNSCORED: Verdict = Verdict {
        score: None,
        anomaly: false,
        severity: Severity::None,
        incident: Incident::Unknown,
        action: Action::None,
        confidence: 0.0,
        family: None,
        why: [None; MAX_WHY],
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Family::ALL {
            assert_eq!(Family::parse(f.as_str()), Some(f));
            assert_eq!(Family::ALL.get(f.index()), Some(&f));
        }
        for i in Incident::CLASSES.into_iter().chain([Incident::Unknown]) {
            assert_eq!(Incident::parse(i.as_str()), Some(i));
        }
        for a in [
            Action::ScaleUp,
            Action::RolloutRestart,
            Action::DeletePod,
            Action::None,
        ] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        for s in [Severity::None, Severity::Warning, Severity::Critical] {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn every_incident_class_has_an_action_and_a_family() {
        for i in Incident::CLASSES {
            assert_ne!(i.recommended_action(), Action::None, "{i:?}");
            assert_eq!(i.family().map(Family::incident), Some(i), "{i:?}");
        }
        assert_eq!(Incident::Unknown.recommended_action(), Action::None);
    }
}
