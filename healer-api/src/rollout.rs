//! Whether a workload has rolled out its newest spec, judged from its status the way
//! `kubectl rollout status` does (kubectl's `DeploymentStatusViewer`,
//! `StatefulSetStatusViewer`, `DaemonSetStatusViewer`), and an Argo Rollout the way
//! `kubectl argo rollouts status` does. The engine verifies an action only once the workload
//! has rolled it out.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;
use serde_json::Value;

/// The controller has seen the newest spec.
fn observed(meta: &ObjectMeta, observed_generation: Option<i64>) -> bool {
    observed_generation.unwrap_or(0) >= meta.generation.unwrap_or(0)
}

/// Every desired replica runs the newest template and is available, and no old replica is
/// left.
pub fn deployment(d: &Deployment) -> bool {
    let Some(status) = &d.status else {
        return false;
    };
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    observed(&d.metadata, status.observed_generation)
        && updated >= desired
        && status.replicas.unwrap_or(0) <= updated
        && status.available_replicas.unwrap_or(0) >= updated
}

/// Every replica is ready and on the update revision (with an `OnDelete` strategy the
/// controller never replaces pods itself: ready is all there is to wait for).
pub fn statefulset(s: &StatefulSet) -> bool {
    let Some(status) = &s.status else {
        return false;
    };
    let spec = s.spec.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let on_delete = spec
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete");
    let ready = status.ready_replicas.unwrap_or(0) >= desired;
    let updated = on_delete
        || (status.updated_replicas.unwrap_or(0) >= desired
            && status.update_revision.is_some()
            && status.update_revision == status.current_revision);
    observed(&s.metadata, status.observed_generation) && ready && updated
}

/// The pod is updated and available on every node it is scheduled to.
pub fn daemonset(d: &DaemonSet) -> bool {
    let Some(status) = &d.status else {
        return false;
    };
    let desired = status.desired_number_scheduled;
    observed(&d.metadata, status.observed_generation)
        && status.updated_number_scheduled.unwrap_or(0) >= desired
        && status.number_available.unwrap_or(0) >= desired
}

/// An Argo Rollout, as `kubectl argo rollouts status` judges it (Argo's
/// `rolloututil.GetRolloutPhase`, for controllers from 1.0, which compute the phase): the
/// controller has observed the newest spec (`status.observedGeneration` is a string, the
/// generation's number; a non-numeric one, from before 0.10, or one above it counts as
/// observed), is not unpausing (`controllerPause` with no pause condition left), a workload it
/// references is observed too, and its phase is `Healthy`. A restart (`spec.restartAt`) is
/// over when the controller has copied it to `status.restartedAt`, which it does once no pod
/// older than it is left.
pub fn argo_rollout(r: &DynamicObject) -> bool {
    let (spec, status) = (&r.data["spec"], &r.data["status"]);
    let observed = numeric(&status["observedGeneration"])
        .is_none_or(|g| g >= r.metadata.generation.unwrap_or(0));
    let unpausing = status["controllerPause"].as_bool() == Some(true)
        && status["pauseConditions"]
            .as_array()
            .is_none_or(Vec::is_empty);
    let workload_generation = r
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("rollout.argoproj.io/workload-generation"))
        .and_then(|g| g.parse::<i64>().ok());
    let workload_observed = match (
        workload_generation,
        numeric(&status["workloadObservedGeneration"]),
    ) {
        (Some(want), Some(seen)) => seen == want,
        _ => true,
    };
    let restarted = match &spec["restartAt"] {
        Value::Null => true,
        want => status["restartedAt"] == *want,
    };
    observed
        && !unpausing
        && workload_observed
        && status["phase"].as_str() == Some("Healthy")
        && restarted
}

/// A number Argo writes as a string (its generations); `None` when it is not one.
fn numeric(v: &Value) -> Option<i64> {
    v.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_deployment_is_rolled_out_when_every_replica_is_new_and_available() {
        let done = json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3});
        assert!(deployment(&deploy(4, done.clone())));
        // The controller has not seen the restart yet.
        assert!(!deployment(&deploy(5, done)));
        // Two of three new pods; old ones still serving.
        let midway = json!({"observedGeneration": 5, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 3});
        assert!(!deployment(&deploy(5, midway)));
        // All new, one not available yet.
        let starting = json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2});
        assert!(!deployment(&deploy(5, starting)));
        // Every new pod up, an old one still terminating.
        let draining = json!({"observedGeneration": 5, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 4});
        assert!(!deployment(&deploy(5, draining)));
        assert!(!deployment(&deploy(5, serde_json::Value::Null)));
    }

    #[test]
    fn statefulsets_and_daemonsets_follow_kubectl() {
        let sts = |strategy: &str, status: serde_json::Value| -> StatefulSet {
            serde_json::from_value(json!({
                "metadata": {"name": "db", "generation": 2},
                "spec": {"replicas": 2, "selector": {}, "template": {}, "serviceName": "db",
                         "updateStrategy": {"type": strategy}},
                "status": status,
            }))
            .unwrap()
        };
        let rolled = json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
                            "currentRevision": "db-2", "updateRevision": "db-2"});
        assert!(statefulset(&sts("RollingUpdate", rolled)));
        let rolling = json!({"observedGeneration": 2, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 1,
                             "currentRevision": "db-1", "updateRevision": "db-2"});
        assert!(!statefulset(&sts("RollingUpdate", rolling.clone())));
        assert!(statefulset(&sts("OnDelete", rolling)));
        let ds = |status: serde_json::Value| -> DaemonSet {
            serde_json::from_value(json!({
                "metadata": {"name": "agent", "generation": 7},
                "spec": {"selector": {}, "template": {}},
                "status": status,
            }))
            .unwrap()
        };
        let base = json!({"observedGeneration": 7, "currentNumberScheduled": 5, "desiredNumberScheduled": 5,
                          "numberMisscheduled": 0, "numberReady": 5});
        let mut done = base.clone();
        done["updatedNumberScheduled"] = json!(5);
        done["numberAvailable"] = json!(5);
        assert!(daemonset(&ds(done)));
        let mut partial = base;
        partial["updatedNumberScheduled"] = json!(3);
        partial["numberAvailable"] = json!(5);
        assert!(!daemonset(&ds(partial)));
    }

    #[test]
    fn an_argo_rollout_is_rolled_out_when_healthy_observed_and_restarted() {
        let ro = |generation: i64,
                  annotations: Value,
                  spec: Value,
                  status: Value|
         -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "checkout", "generation": generation, "annotations": annotations},
                "spec": spec,
                "status": status,
            }))
            .unwrap()
        };
        let spec = json!({"replicas": 3});
        let healthy = json!({"observedGeneration": "4", "phase": "Healthy", "replicas": 3});
        assert!(argo_rollout(&ro(
            4,
            json!({}),
            spec.clone(),
            healthy.clone()
        )));
        // The controller has not seen generation 5 (a restart or scale) yet.
        assert!(!argo_rollout(&ro(
            5,
            json!({}),
            spec.clone(),
            healthy.clone()
        )));
        // A pre-0.10 hash, or a numeric one above: observed.
        let mut hashed = healthy.clone();
        hashed["observedGeneration"] = json!("7d4b9c8f6");
        assert!(argo_rollout(&ro(5, json!({}), spec.clone(), hashed)));
        for phase in ["Progressing", "Paused", "Degraded", ""] {
            let mut s = healthy.clone();
            s["phase"] = json!(phase);
            assert!(!argo_rollout(&ro(4, json!({}), spec.clone(), s)), "{phase}");
        }
        let mut no_phase = healthy.clone();
        no_phase.as_object_mut().unwrap().remove("phase");
        assert!(!argo_rollout(&ro(4, json!({}), spec.clone(), no_phase)));
        // Unpausing: the pause conditions were cleared, the controller has not resumed yet.
        let mut unpausing = healthy.clone();
        unpausing["controllerPause"] = json!(true);
        assert!(!argo_rollout(&ro(
            4,
            json!({}),
            spec.clone(),
            unpausing.clone()
        )));
        unpausing["pauseConditions"] =
            json!([{"reason": "CanaryPauseStep", "startTime": "2026-11-23T10:00:00Z"}]);
        assert!(argo_rollout(&ro(4, json!({}), spec.clone(), unpausing)));
        // A referenced Deployment's generation not observed yet.
        let workload = json!({"rollout.argoproj.io/workload-generation": "3"});
        let mut seen = healthy.clone();
        seen["workloadObservedGeneration"] = json!("2");
        assert!(!argo_rollout(&ro(
            4,
            workload.clone(),
            spec.clone(),
            seen.clone()
        )));
        seen["workloadObservedGeneration"] = json!("3");
        assert!(argo_rollout(&ro(4, workload, spec, seen)));
        // A restart is over once the controller copied restartAt to restartedAt.
        let restarting = json!({"replicas": 3, "restartAt": "2026-11-23T10:00:00Z"});
        assert!(!argo_rollout(&ro(
            4,
            json!({}),
            restarting.clone(),
            healthy.clone()
        )));
        let mut earlier = healthy.clone();
        earlier["restartedAt"] = json!("2026-11-22T09:00:00Z");
        assert!(!argo_rollout(&ro(
            4,
            json!({}),
            restarting.clone(),
            earlier
        )));
        let mut restarted = healthy;
        restarted["restartedAt"] = json!("2026-11-23T10:00:00Z");
        assert!(argo_rollout(&ro(4, json!({}), restarting, restarted)));
    }
}
