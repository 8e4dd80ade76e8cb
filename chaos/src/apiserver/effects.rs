//! What a client's write means for the simulated world: a changed replica
//! count is a scale, a changed pod template (while not paused) is a rollout,
//! a deleted pod is a pod to replace. Called by the write path after the
//! object is in the store; an error rolls the write back.

use super::controller::{pod_template_hash, RESTARTED_AT};
use super::store::Store;
use super::world::{World, WorldError};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;

/// A Deployment was written (`new`) or deleted (`new` is `None`).
pub fn deployment_changed(
    store: &mut Store,
    world: &mut dyn World,
    old: Option<&Deployment>,
    new: Option<&Deployment>,
) -> Result<(), WorldError> {
    let Some(new) = new else {
        if let Some(uid) = old.and_then(|o| o.metadata.uid.as_ref()) {
            store.rolled_out.remove(uid);
        }
        return Ok(());
    };
    let Some(spec) = &new.spec else { return Ok(()) };
    let ns = new.metadata.namespace.clone().unwrap_or_default();
    let name = new.metadata.name.clone().unwrap_or_default();
    let uid = new.metadata.uid.clone().unwrap_or_default();
    let collisions = new
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let hash = pod_template_hash(&spec.template, collisions);
    let Some(old) = old else {
        store.rolled_out.insert(uid, hash);
        return Ok(());
    };
    let old_replicas = old.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let new_replicas = spec.replicas.unwrap_or(1);
    if old_replicas != new_replicas {
        world.on_scale(store, &ns, &name, new_replicas)?;
    }
    let last = match store.rolled_out.get(&uid) {
        Some(h) => h.clone(),
        None => old
            .spec
            .as_ref()
            .map(|s| pod_template_hash(&s.template, collisions))
            .unwrap_or_default(),
    };
    if spec.paused != Some(true) && hash != last {
        let restarted_at = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_AT))
            .cloned();
        world.on_restart(store, &ns, &name, restarted_at.as_deref())?;
        store.rolled_out.insert(uid, hash);
    }
    Ok(())
}

/// A pod was deleted by a client.
pub fn pod_changed(
    store: &mut Store,
    world: &mut dyn World,
    old: Option<&Pod>,
    new: Option<&Pod>,
) -> Result<(), WorldError> {
    match (old, new) {
        (Some(old), None) => {
            let ns = old.metadata.namespace.clone().unwrap_or_default();
            let name = old.metadata.name.clone().unwrap_or_default();
            world.on_pod_deleted(store, &ns, &name)
        }
        _ => Ok(()),
    }
}

/// An HPA was created or changed by a client.
pub fn hpa_changed(
    store: &mut Store,
    world: &mut dyn World,
    _old: Option<&HorizontalPodAutoscaler>,
    new: Option<&HorizontalPodAutoscaler>,
) -> Result<(), WorldError> {
    match new {
        Some(h) => world.on_hpa_changed(store, h),
        None => Ok(()),
    }
}
