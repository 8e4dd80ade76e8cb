//! Status roll-ups, run in both controller modes: a ReplicaSet's status
//! from the pods it controls, a Deployment's status (replicas, updated,
//! ready, available, conditions, observedGeneration) and revision annotation
//! from its ReplicaSets. Written only when something changed.

use super::config::ControllerMode;
use super::controller::{
    label, ns_name, owned_pods, owned_replica_sets, pod_template_hash, revision, set_annotation,
    POD_TEMPLATE_HASH, REVISION,
};
use super::store::Store;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetStatus,
};
use k8s_openapi::api::core::v1::Pod;

/// Whether a pod's `Ready` condition is true.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

pub(crate) fn replica_sets(store: &mut Store) {
    let all: Vec<ReplicaSet> = store
        .list::<ReplicaSet>(None)
        .into_iter()
        .cloned()
        .collect();
    for rs in all {
        let (ns, _) = ns_name(&rs.metadata);
        let pods = owned_pods(store, &ns, rs.metadata.uid.as_deref().unwrap_or_default());
        let total = i32::try_from(pods.len()).unwrap_or(i32::MAX);
        let ready = i32::try_from(pods.iter().filter(|p| pod_ready(p)).count()).unwrap_or(i32::MAX);
        let old = rs.status.clone().unwrap_or_default();
        let status = ReplicaSetStatus {
            replicas: total,
            fully_labeled_replicas: nonzero(total),
            ready_replicas: nonzero(ready),
            available_replicas: nonzero(ready),
            observed_generation: rs.metadata.generation,
            ..old.clone()
        };
        if rs.status.is_none() || status != old {
            let mut rs = rs;
            rs.status = Some(status);
            store.put(rs);
        }
    }
}

pub(crate) fn deployments(store: &mut Store, mode: ControllerMode) {
    let deps: Vec<Deployment> = store
        .list::<Deployment>(None)
        .into_iter()
        .cloned()
        .collect();
    for d in deps {
        let Some(spec) = d.spec.clone() else { continue };
        let (ns, _) = ns_name(&d.metadata);
        let owned = owned_replica_sets(store, &ns, d.metadata.uid.as_deref().unwrap_or_default());
        let collisions = d
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let hash = pod_template_hash(&spec.template, collisions);
        let newest = match mode {
            ControllerMode::BuiltIn => owned
                .iter()
                .find(|r| label(&r.metadata, POD_TEMPLATE_HASH) == Some(hash.as_str()))
                .or_else(|| owned.iter().max_by_key(|r| revision(&r.metadata))),
            ControllerMode::External => owned.iter().max_by_key(|r| revision(&r.metadata)),
        };
        let desired = spec.replicas.unwrap_or(1);
        let sum = |f: &dyn Fn(&ReplicaSetStatus) -> i32| -> i32 {
            owned.iter().filter_map(|r| r.status.as_ref()).map(f).sum()
        };
        let replicas = sum(&|s| s.replicas);
        let ready = sum(&|s| s.ready_replicas.unwrap_or(0));
        let available = sum(&|s| s.available_replicas.unwrap_or(0));
        let updated = newest
            .and_then(|r| r.status.as_ref())
            .map_or(0, |s| s.replicas);
        let old = d.status.clone().unwrap_or_default();
        let paused = spec.paused == Some(true);
        let now = store.now_time();
        let cond = |ty: &str, ok: bool, reason: &str, message: String| {
            let status = if ok { "True" } else { "False" }.to_owned();
            let prev = old.conditions.iter().flatten().find(|c| c.type_ == ty);
            let same =
                prev.is_some_and(|p| p.status == status && p.reason.as_deref() == Some(reason));
            match prev {
                Some(p) if same => DeploymentCondition {
                    message: Some(message),
                    ..p.clone()
                },
                _ => DeploymentCondition {
                    type_: ty.to_owned(),
                    status,
                    reason: Some(reason.to_owned()),
                    message: Some(message),
                    last_update_time: Some(now.clone()),
                    last_transition_time: Some(now.clone()),
                },
            }
        };
        let available_ok = available >= desired;
        let complete = updated == desired && available >= desired && replicas == desired;
        let progressing = if paused {
            let mut c = cond(
                "Progressing",
                false,
                "DeploymentPaused",
                "Deployment is paused".into(),
            );
            c.status = "Unknown".into();
            c
        } else {
            let rs_name = newest
                .and_then(|r| r.metadata.name.clone())
                .unwrap_or_default();
            if complete {
                cond(
                    "Progressing",
                    true,
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet {rs_name:?} has successfully progressed."),
                )
            } else {
                cond(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    format!("ReplicaSet {rs_name:?} is progressing."),
                )
            }
        };
        let available_cond = if available_ok {
            cond(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            )
        } else {
            cond(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            )
        };
        let status = DeploymentStatus {
            replicas: nonzero(replicas),
            updated_replicas: nonzero(updated),
            ready_replicas: nonzero(ready),
            available_replicas: nonzero(available),
            unavailable_replicas: nonzero((desired - available).max(0)),
            observed_generation: d.metadata.generation,
            conditions: Some(vec![available_cond, progressing]),
            ..old.clone()
        };
        let rev = newest.map(|r| revision(&r.metadata)).filter(|r| *r > 0);
        let rev_changed = rev.is_some_and(|r| revision(&d.metadata) != r);
        if d.status.is_none() || status != old || rev_changed {
            let mut d = d;
            if let Some(r) = rev {
                set_annotation(&mut d.metadata, REVISION, r.to_string());
            }
            d.status = Some(status);
            store.put(d);
        }
    }
}
