//! How a simulated cluster is set up: the seed, who manages ReplicaSets and
//! Pods, the clock, the bearer token and the node names.

use jiff::Timestamp;

/// Who creates and deletes ReplicaSets and Pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ControllerMode {
    /// The built-in controller: Deployment → ReplicaSet → Pods, reconciled
    /// after every change, so the server is usable on its own.
    #[default]
    BuiltIn,
    /// The [`World`](super::World) owns ReplicaSets and Pods and writes them
    /// into the store (see [`sync_workload`](super::sync_workload)); the server
    /// only rolls statuses up and runs the HPA clamp.
    External,
}

/// Where timestamps (`creationTimestamp`, managed-field times) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// The machine's clock.
    #[default]
    Wall,
    /// Starts at the given instant and moves only through
    /// [`ApiState::set_now`](super::ApiState::set_now) (simulated time).
    Manual(Timestamp),
}

/// The set-up of a simulated cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Seed of UIDs and generated names.
    pub seed: u64,
    /// Who manages ReplicaSets and Pods.
    pub controller: ControllerMode,
    /// Where timestamps come from.
    pub clock: ClockMode,
    /// Bearer token every request must carry (`None`: any or none). The
    /// kubeconfig from [`write_kubeconfig`](super::write_kubeconfig) carries
    /// [`SIM_TOKEN`](super::SIM_TOKEN).
    pub token: Option<String>,
    /// Node names the built-in controller schedules pods on, round robin.
    pub nodes: Vec<String>,
    /// Most request-log entries kept (oldest dropped first).
    pub max_logged_requests: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            controller: ControllerMode::BuiltIn,
            clock: ClockMode::Wall,
            token: None,
            nodes: (0..3).map(|i| format!("sim-node-{i}")).collect(),
            max_logged_requests: 100_000,
        }
    }
}
