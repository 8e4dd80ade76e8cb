//! The engine's view of Kubernetes: inspect a target, carry out a [`Plan`], record an Event.
//! [`crate::kube_cluster::KubeCluster`] implements it with kube-rs; tests use fakes.

use async_trait::async_trait;

use crate::action::ActionKind;
use crate::policy::{Facts, Plan};
use crate::tags::WorkloadKind;

/// The workload an incident is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Namespace.
    pub namespace: String,
    /// Workload kind.
    pub kind: WorkloadKind,
    /// Workload name.
    pub name: String,
}

impl Target {
    /// `namespace/kind/name`, the cooldown key.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind.as_str(), self.name)
    }

    /// The same name as the other of a Deployment and an Argo Rollout, whose pods are named
    /// alike: records that show no Rollout label (events, metrics) name a Rollout's pods as a
    /// Deployment's. [`crate::kube_cluster::KubeCluster`] acts on the Rollout when a
    /// Deployment target does not exist, and the cooldown of one is the other's.
    pub fn twin(&self) -> Option<Target> {
        let kind = match self.kind {
            WorkloadKind::Deployment => WorkloadKind::Rollout,
            WorkloadKind::Rollout => WorkloadKind::Deployment,
            _ => return None,
        };
        Some(Target {
            kind,
            ..self.clone()
        })
    }
}

/// Kubernetes call failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The API server refused (status code and reason), after retries where retryable.
    #[error("API error {code} {reason}: {message}")]
    Api {
        /// HTTP status.
        code: u16,
        /// Kubernetes reason.
        reason: String,
        /// Message.
        message: String,
    },
    /// A precondition did not hold (the object changed); never retried blindly.
    #[error("precondition failed: {0}")]
    Conflict(String),
    /// Transport failure or timeout, after retries.
    #[error("transport: {0}")]
    Transport(String),
    /// The healer cannot act on this kind of object.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The object is not in the expected shape.
    #[error("unexpected object: {0}")]
    Unexpected(String),
    /// The heal API is stopping: the call was not tried again after an attempt that failed
    /// (which it names), so it ended within the engine's stop. After a failed attempt at a
    /// change, whether the change landed is unknown.
    #[error("the heal API is stopping: {0}")]
    Stopped(String),
    /// The heal API was stopping before the call: it was not made, nothing was sent.
    #[error("the heal API is stopping: {0}")]
    NotCalled(String),
}

/// One Event to record on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNote {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// CamelCase reason (`Remediating`, `Refused`, …).
    pub reason: &'static str,
    /// The action considered.
    pub action: String,
    /// Human text.
    pub note: String,
    /// When the engine recorded it: the Event's `eventTime`, however late it is posted.
    pub at: jiff::Timestamp,
}

/// What the engine needs from Kubernetes.
#[async_trait]
pub trait Cluster: Send + Sync + std::fmt::Debug {
    /// Reads the target and what the guards need for `action`. `pod` is the pod the records
    /// named; it is looked up and its ownership checked, never trusted.
    async fn facts(
        &self,
        target: &Target,
        action: ActionKind,
        pod: Option<&str>,
    ) -> Result<Facts, ClusterError>;

    /// Carries out a plan; with `dry_run` every mutation is sent with `dryRun=All`. Returns a
    /// short description of what changed.
    async fn execute(
        &self,
        target: &Target,
        plan: &Plan,
        dry_run: bool,
    ) -> Result<String, ClusterError>;

    /// Whether the target has rolled out what was last asked of it, as `kubectl rollout
    /// status` judges: its controller observed the newest spec and every replica is updated
    /// and available. The engine starts verifying an action only then (records from pods
    /// still being replaced say nothing about the action). A Deployment or StatefulSet whose HPA
    /// asks for more replicas than it has (a raised minimum the HPA has not applied yet) has
    /// not rolled out. Clusters that cannot tell say `true`.
    async fn rolled_out(&self, target: &Target) -> Result<bool, ClusterError> {
        let _ = target;
        Ok(true)
    }

    /// The `minReplicas` of HPA `namespace/hpa` now (`None`: it is gone): how the engine
    /// settles a raise whose outcome it does not know.
    async fn hpa_min_replicas(
        &self,
        namespace: &str,
        hpa: &str,
    ) -> Result<Option<i32>, ClusterError>;

    /// Records an `events.k8s.io/v1` Event regarding the target.
    async fn record_event(
        &self,
        target: &Target,
        uid: Option<&str>,
        event: &EventNote,
        dry_run: bool,
    ) -> Result<(), ClusterError>;
}
