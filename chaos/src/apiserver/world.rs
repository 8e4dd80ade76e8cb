//! The bridge between the API server and the simulated world: the server
//! tells a [`World`] about the changes a client made (scale, restart, pod
//! deleted, HPA changed), and the world writes what follows back into the
//! [`Store`] it is handed (new pods, statuses), so the store always reflects
//! the simulation.

use super::store::Store;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

/// The world refused or failed to carry out a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorldError {
    /// The world does not allow the change (answered 403 Forbidden, as an
    /// admission plugin would; the write is rolled back).
    #[error("{0}")]
    Rejected(String),
    /// The world failed (answered 500; the write is rolled back; the detail
    /// goes to the log only).
    #[error("{0}")]
    Failed(String),
}

/// What the simulation learns from the API server. Every method runs while
/// the store is locked, after the client's write is in the store and before
/// the response is sent; an error rolls the write back. Methods default to
/// doing nothing.
pub trait World: Send + 'static {
    /// A Deployment's `spec.replicas` changed (scale subresource, patch,
    /// replace, or the HPA clamp).
    fn on_scale(
        &mut self,
        _store: &mut Store,
        _ns: &str,
        _deployment: &str,
        _replicas: i32,
    ) -> Result<(), WorldError> {
        Ok(())
    }

    /// A Deployment's pod template changed while not paused (or it was
    /// unpaused with a changed template): a new ReplicaSet revision whose pods
    /// replace the old ones. `restarted_at` is the template's
    /// `kubectl.kubernetes.io/restartedAt` annotation, when set.
    fn on_restart(
        &mut self,
        _store: &mut Store,
        _ns: &str,
        _deployment: &str,
        _restarted_at: Option<&str>,
    ) -> Result<(), WorldError> {
        Ok(())
    }

    /// A client deleted a pod (the controller is expected to replace it under a new name).
    fn on_pod_deleted(
        &mut self,
        _store: &mut Store,
        _ns: &str,
        _pod: &str,
    ) -> Result<(), WorldError> {
        Ok(())
    }

    /// A client created or changed an HPA (min/max replicas).
    fn on_hpa_changed(
        &mut self,
        _store: &mut Store,
        _hpa: &HorizontalPodAutoscaler,
    ) -> Result<(), WorldError> {
        Ok(())
    }
}

/// A world that does nothing: the built-in controller alone drives the store.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWorld;

impl World for NoWorld {}
