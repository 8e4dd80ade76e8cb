//! The remediation actions the policy can name, in the vocabulary of the config file.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One remediation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Add `guards.scale_step` replicas through the scale subresource (under an HPA: raise its
    /// minimum to `guards.scale_step` above the replicas it runs).
    ScaleUp,
    /// Restart the pods by bumping `kubectl.kubernetes.io/restartedAt` in the pod template.
    RolloutRestart,
    /// Delete the one pod the record named, with uid/resourceVersion preconditions.
    DeletePod,
    /// Restore the previous ReplicaSet's pod template (`kubectl rollout undo`).
    Rollback,
    /// Signed POST to the hook URL the workload names in an annotation.
    SoftHeal,
}

impl ActionKind {
    /// Every action, for metrics and docs.
    pub const ALL: [ActionKind; 5] = [
        ActionKind::ScaleUp,
        ActionKind::RolloutRestart,
        ActionKind::DeletePod,
        ActionKind::Rollback,
        ActionKind::SoftHeal,
    ];

    /// The config/store name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ScaleUp => "scale_up",
            ActionKind::RolloutRestart => "rollout_restart",
            ActionKind::DeletePod => "delete_pod",
            ActionKind::Rollback => "rollback",
            ActionKind::SoftHeal => "soft_heal",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
