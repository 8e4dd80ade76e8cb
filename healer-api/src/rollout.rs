//! Whether a workload has rolled out its newest spec, judged from its status the way
//! `kubectl rollout status` does (kubectl's `DeploymentStatusViewer`,
//! `StatefulSetStatusViewer`, `DaemonSetStatusViewer`; a StatefulSet's partition and an
//! `OnDelete` strategy included, read by [`statefulset_strategy`] and [`daemonset_strategy`]), and an Argo Rollout the way
//! `kubectl argo rollouts status` does, or by its ReplicaSets while it is held at a step of its
//! strategy. The engine verifies an action only once the workload has rolled it out.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;
use serde_json::Value;

use crate::policy::UpdateStrategy;

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

/// How a StatefulSet's controller replaces its pods after a change of their template
/// (`spec.updateStrategy`): `OnDelete`, or `RollingUpdate` (the default) with its
/// `partition` (0 by default) above 0 or not.
pub fn statefulset_strategy(s: &StatefulSet) -> UpdateStrategy {
    let Some(strategy) = s.spec.as_ref().and_then(|s| s.update_strategy.as_ref()) else {
        return UpdateStrategy::Replaces;
    };
    if strategy.type_.as_deref() == Some("OnDelete") {
        return UpdateStrategy::OnDelete;
    }
    match strategy.rolling_update.as_ref().and_then(|r| r.partition) {
        Some(partition) if partition > 0 => UpdateStrategy::Partitioned { partition },
        _ => UpdateStrategy::Replaces,
    }
}

/// How a DaemonSet's controller replaces its pods after a change of their template:
/// `OnDelete`, or `RollingUpdate` (the default), which replaces them all.
pub fn daemonset_strategy(d: &DaemonSet) -> UpdateStrategy {
    let on_delete = d
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete");
    if on_delete {
        UpdateStrategy::OnDelete
    } else {
        UpdateStrategy::Replaces
    }
}

/// Every replica is ready, and as many are updated as the update strategy replaces, as
/// kubectl's `StatefulSetStatusViewer` judges: with a `partition`, the pods of ordinal
/// `partition` and up (`updatedReplicas >= replicas - partition`; the others keep the current
/// revision, so `updateRevision` never becomes `currentRevision`); without, every replica, on
/// the update revision once the controller has made it current (one step stricter than
/// kubectl, which counts the updated replicas only). With `OnDelete` the controller never
/// replaces pods itself: ready is all there is to wait for.
pub fn statefulset(s: &StatefulSet) -> bool {
    let Some(status) = &s.status else {
        return false;
    };
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0) >= desired;
    let updated_replicas = status.updated_replicas.unwrap_or(0);
    let updated = match statefulset_strategy(s) {
        UpdateStrategy::OnDelete => true,
        UpdateStrategy::Partitioned { partition } => updated_replicas >= desired - partition,
        UpdateStrategy::Replaces => {
            updated_replicas >= desired
                && status.update_revision.is_some()
                && status.update_revision == status.current_revision
        }
    };
    observed(&s.metadata, status.observed_generation) && ready && updated
}

/// The pod is available on every node it is scheduled to, and updated there unless the
/// DaemonSet updates `OnDelete` (its controller replaces no pod itself; kubectl's
/// `DaemonSetStatusViewer` reports no rollout for it, and available is all there is to wait
/// for).
pub fn daemonset(d: &DaemonSet) -> bool {
    let Some(status) = &d.status else {
        return false;
    };
    let desired = status.desired_number_scheduled;
    let updated = daemonset_strategy(d) == UpdateStrategy::OnDelete
        || status.updated_number_scheduled.unwrap_or(0) >= desired;
    observed(&d.metadata, status.observed_generation)
        && updated
        && status.number_available.unwrap_or(0) >= desired
}

/// An Argo Rollout, as `kubectl argo rollouts status` judges it (Argo's
/// `rolloututil.GetRolloutPhase`, for controllers from 1.0, which compute the phase): the
/// controller has caught up with it (its generation and a referenced workload's observed, not
/// unpausing, a restart over) and its phase is `Healthy`. One held at a step stays `Paused`
/// until someone promotes it, and is judged by its ReplicaSets instead ([`held_at_step`]).
pub fn argo_rollout(r: &DynamicObject) -> bool {
    caught_up(r) && r.data["status"]["phase"].as_str() == Some("Healthy")
}

/// The pause reasons of a Rollout held at a step of its own strategy: a canary `pause` step
/// and a blue-green Rollout awaiting promotion. Argo's controller still acts there: a change of
/// `spec.replicas` is a scaling event that `syncReplicasOnly` applies to the ReplicaSets before
/// any step logic, and `rolloutCanary` / `rolloutBlueGreen` run the pod restarter
/// (`RolloutPodRestarter.Reconcile`) ahead of the pause. An inconclusive analysis
/// (`InconclusiveAnalysisRun`) halts ReplicaSet scaling (`haltProgress`), and an inconclusive
/// experiment waits on a person too: a Rollout paused for either is not judged as held.
const STEP_PAUSES: &[&str] = &["CanaryPauseStep", "BlueGreenPause"];

/// An Argo Rollout the controller has caught up with, as for [`argo_rollout`], except that it
/// is held at a step: phase `Paused`, every pause condition a canary `pause` step's
/// (`CanaryPauseStep`) or a blue-green promotion's (`BlueGreenPause`), and not paused by hand
/// (`spec.paused`, which halts ReplicaSet scaling). Its status totals count canary pods and
/// blue-green previews alike, so whether it has rolled an action out is judged by its
/// ReplicaSets ([`replicasets_settled`]).
pub fn held_at_step(r: &DynamicObject) -> bool {
    let (spec, status) = (&r.data["spec"], &r.data["status"]);
    let at_step = status["pauseConditions"].as_array().is_some_and(|c| {
        !c.is_empty()
            && c.iter().all(|p| {
                p["reason"]
                    .as_str()
                    .is_some_and(|reason| STEP_PAUSES.contains(&reason))
            })
    });
    caught_up(r)
        && status["phase"].as_str() == Some("Paused")
        && spec["paused"].as_bool() != Some(true)
        && at_step
}

/// The controller has observed the Rollout's newest spec (`status.observedGeneration` is a
/// string, the generation's number; a non-numeric one, from before 0.10, or one above it counts
/// as observed), is not unpausing (`controllerPause` with no pause condition left), a workload
/// it references is observed too, and a restart (`spec.restartAt`) is over: the controller
/// copies it to `status.restartedAt` once no pod older than it is left. Asked of a held
/// Rollout too: Argo's `CalculateRolloutPhase` reports a pause before a pending restart, so
/// `Paused` says nothing about it.
fn caught_up(r: &DynamicObject) -> bool {
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
    observed && !unpausing && workload_observed && restarted
}

/// The label carrying a Rollout ReplicaSet's pod-template hash (Argo's
/// `DefaultRolloutUniqueLabelKey`).
const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";
/// The Rollout's `spec.replicas` as the controller last applied it to a ReplicaSet (Argo's
/// `DesiredReplicasAnnotation`).
const DESIRED_REPLICAS: &str = "rollout.argoproj.io/desired-replicas";

/// Whether the ReplicaSets of Rollout `r` (those among `rss` whose controller is `r`, by uid)
/// have rolled out what the controller asked of them: there is at least one, and each has
/// observed its generation, runs exactly as many pods as it wants (none left over from a scale
/// down, none missing) and has every wanted one available.
///
/// An old ReplicaSet that `scaleDownDelaySeconds` keeps up (blue-green, or canary with traffic
/// routing) still wants its pods until its deadline; Argo even rescales a blue-green one with
/// the Rollout (`scaleDownDelayHelper`). It is judged like the others, which is right either
/// way: its pods are the Rollout's too (the restarter replaces the pods of every ReplicaSet,
/// `getRolloutPods`), so it passes once they are all there and available, holds the judgement
/// back only while it is short of them, and passes again once scaled to 0 and emptied.
///
/// The stable and current ReplicaSets, when they want pods, must also carry the Rollout's
/// `spec.replicas` in their desired-replicas annotation, as Argo's `isScalingEvent` asks of
/// them: a scaling event (`syncReplicasOnly`) rescales the stable ReplicaSet and records the
/// Rollout observed before a next sync rescales the canary one, which until then looks settled
/// at its old size. Older ReplicaSets keep a stale annotation and are not asked.
pub fn replicasets_settled(r: &DynamicObject, rss: &[ReplicaSet]) -> bool {
    let Some(uid) = r.metadata.uid.as_deref() else {
        return false;
    };
    let replicas = r.data["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = &r.data["status"];
    let stable_and_current = [
        status["stableRS"].as_str(),
        status["currentPodHash"].as_str(),
    ];
    let owned: Vec<&ReplicaSet> = rss
        .iter()
        .filter(|rs| controlled_by(&rs.metadata, uid))
        .collect();
    !owned.is_empty()
        && owned.iter().all(|rs| {
            let hash = rs
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH))
                .map(String::as_str);
            let scaled_with_the_rollout = hash.is_some() && stable_and_current.contains(&hash);
            let rescaled = !scaled_with_the_rollout
                || wanted(rs) == 0
                || desired_replicas(rs).is_none_or(|d| d == replicas);
            replicaset_settled(rs) && rescaled
        })
}

/// Whether `meta`'s controller (the owner reference marked `controller`) has uid `uid`.
fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

/// The pods a ReplicaSet wants (`spec.replicas`, 1 when unset, as the API server defaults it).
fn wanted(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The ReplicaSet's desired-replicas annotation; `None` when it has none or not a number.
fn desired_replicas(rs: &ReplicaSet) -> Option<i64> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(DESIRED_REPLICAS)?
        .parse()
        .ok()
}

/// The ReplicaSet controller has seen its newest spec, runs as many pods as it wants and every
/// one is available.
fn replicaset_settled(rs: &ReplicaSet) -> bool {
    let Some(status) = &rs.status else {
        return false;
    };
    let want = wanted(rs);
    observed(&rs.metadata, status.observed_generation)
        && status.replicas == want
        && status.available_replicas.unwrap_or(0) >= want
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

    /// A StatefulSet of 3 replicas at generation 2 updating with `strategy`, its status
    /// `status`.
    fn sts3(strategy: Value, status: Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "db", "generation": 2},
            "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "db",
                     "updateStrategy": strategy},
            "status": status,
        }))
        .unwrap()
    }

    /// A partition holds the pods below it on the current revision: `updateRevision` never
    /// becomes `currentRevision`, and kubectl counts the pods from the partition up. Judged
    /// by the revisions, a partitioned StatefulSet was never rolled out, and every action on
    /// it waited out a whole verify window.
    #[test]
    fn a_partitioned_statefulset_is_rolled_out_once_the_pods_from_its_partition_are_updated() {
        let partition =
            |p: i32| json!({"type": "RollingUpdate", "rollingUpdate": {"partition": p}});
        let status = |observed: i64, ready: i32, updated: i32| {
            json!({"observedGeneration": observed, "replicas": 3, "readyReplicas": ready,
                   "updatedReplicas": updated, "currentReplicas": 3 - updated,
                   "currentRevision": "db-1", "updateRevision": "db-2"})
        };
        let cases = [
            (
                "partition 1: ordinals 1 and 2 updated",
                partition(1),
                status(2, 3, 2),
                true,
            ),
            (
                "partition 1: only ordinal 2 updated",
                partition(1),
                status(2, 3, 1),
                false,
            ),
            (
                "partition 1: updated, one pod not ready",
                partition(1),
                status(2, 2, 2),
                false,
            ),
            (
                "partition 1: spec not observed",
                partition(1),
                status(1, 3, 2),
                false,
            ),
            (
                "partition 2: ordinal 2 updated",
                partition(2),
                status(2, 3, 1),
                true,
            ),
            (
                "partition 3 of 3: nothing to update",
                partition(3),
                status(2, 3, 0),
                true,
            ),
            (
                "partition 5 of 3: nothing to update",
                partition(5),
                status(2, 3, 0),
                true,
            ),
            (
                "partition 0: a pod still to update",
                partition(0),
                status(2, 3, 2),
                false,
            ),
        ];
        for (case, strategy, status, want) in cases {
            assert_eq!(statefulset(&sts3(strategy, status)), want, "{case}");
        }
        let done = json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3,
                          "updatedReplicas": 3, "currentRevision": "db-2", "updateRevision": "db-2"});
        assert!(statefulset(&sts3(partition(0), done.clone())));
        assert!(statefulset(&sts3(json!({"type": "RollingUpdate"}), done)));
    }

    #[test]
    fn update_strategies_are_read_as_their_controllers_apply_them() {
        let ds = |strategy: Value| -> DaemonSet {
            serde_json::from_value(json!({
                "metadata": {"name": "agent"},
                "spec": {"selector": {}, "template": {}, "updateStrategy": strategy},
            }))
            .unwrap()
        };
        let cases = [
            (json!({"type": "OnDelete"}), UpdateStrategy::OnDelete),
            (
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
                UpdateStrategy::Partitioned { partition: 2 },
            ),
            (
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                UpdateStrategy::Replaces,
            ),
            (json!({"type": "RollingUpdate"}), UpdateStrategy::Replaces),
            (json!({}), UpdateStrategy::Replaces),
        ];
        for (strategy, want) in cases {
            let s = sts3(strategy.clone(), Value::Null);
            assert_eq!(statefulset_strategy(&s), want, "{strategy}");
        }
        assert_eq!(
            daemonset_strategy(&ds(json!({"type": "OnDelete"}))),
            UpdateStrategy::OnDelete
        );
        assert_eq!(
            daemonset_strategy(&ds(
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
            )),
            UpdateStrategy::Replaces
        );
        assert_eq!(daemonset_strategy(&ds(json!({}))), UpdateStrategy::Replaces);
    }

    /// An `OnDelete` DaemonSet's controller replaces no pod after a template change: its
    /// updated count stays short until someone deletes the old pods, and judged by it the
    /// DaemonSet never rolled out (every action on it waited out a whole verify window).
    #[test]
    fn an_on_delete_daemonset_is_rolled_out_once_its_pods_are_available() {
        let ds = |strategy: &str, status: Value| -> DaemonSet {
            serde_json::from_value(json!({
                "metadata": {"name": "agent", "generation": 7},
                "spec": {"selector": {}, "template": {}, "updateStrategy": {"type": strategy}},
                "status": status,
            }))
            .unwrap()
        };
        let status = |observed: i64, updated: i32, available: i32| {
            json!({"observedGeneration": observed, "currentNumberScheduled": 5,
                   "desiredNumberScheduled": 5, "numberMisscheduled": 0, "numberReady": available,
                   "updatedNumberScheduled": updated, "numberAvailable": available})
        };
        assert!(daemonset(&ds("OnDelete", status(7, 2, 5))));
        assert!(
            !daemonset(&ds("OnDelete", status(7, 2, 4))),
            "a pod unavailable"
        );
        assert!(
            !daemonset(&ds("OnDelete", status(6, 2, 5))),
            "spec not observed"
        );
        assert!(!daemonset(&ds("RollingUpdate", status(7, 2, 5))));
        assert!(daemonset(&ds("RollingUpdate", status(7, 5, 5))));
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

    /// A canary Rollout of 3 replicas held at its `pause: {}` step after `setWeight: 34`:
    /// stable ReplicaSet `6f`, canary `7c`, restarted, seen by its controller.
    fn held() -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "checkout", "uid": "ro-1", "generation": 9},
            "spec": {"replicas": 3, "restartAt": "2026-11-23T10:00:00Z",
                     "selector": {"matchLabels": {"app": "checkout"}},
                     "strategy": {"canary": {"steps": [{"setWeight": 34}, {"pause": {}}]}}},
            "status": {"observedGeneration": "9", "phase": "Paused", "message": "CanaryPauseStep",
                       "controllerPause": true,
                       "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-23T09:00:00Z"}],
                       "restartedAt": "2026-11-23T10:00:00Z",
                       "stableRS": "6f", "currentPodHash": "7c"},
        })
    }

    fn rollout_of(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    /// A ReplicaSet of pod-template hash `hash`, controlled by `owner`, at generation 2, that
    /// wants `wants` pods and runs `runs`, `available` of them available; its desired-replicas
    /// annotation `desired`.
    fn rs(
        hash: &str,
        owner: &str,
        wants: i32,
        runs: i32,
        available: i32,
        desired: &str,
    ) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": format!("checkout-{hash}"), "generation": 2,
                         "labels": {"app": "checkout", "rollouts-pod-template-hash": hash},
                         "annotations": {"rollout.argoproj.io/desired-replicas": desired},
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                              "name": "checkout", "uid": owner, "controller": true}]},
            "spec": {"replicas": wants, "selector": {"matchLabels": {"app": "checkout"}}},
            "status": {"observedGeneration": 2, "replicas": runs, "availableReplicas": available},
        }))
        .unwrap()
    }

    #[test]
    fn a_rollout_held_at_a_pause_step_is_rolled_out_when_its_replicasets_are_settled() {
        let r = rollout_of(held());
        let stable = || rs("6f", "ro-1", 2, 2, 2, "3");
        let canary = || rs("7c", "ro-1", 1, 1, 1, "3");
        let mut lagging = stable();
        lagging.metadata.generation = Some(3);
        let mut no_status = canary();
        no_status.status = None;
        let cases: Vec<(&str, Vec<ReplicaSet>, bool)> = vec![
            ("stable and canary settled", vec![stable(), canary()], true),
            (
                "the canary short of an available pod",
                vec![stable(), rs("7c", "ro-1", 1, 1, 0, "3")],
                false,
            ),
            (
                "a new pod not created yet",
                vec![rs("6f", "ro-1", 2, 1, 1, "3"), canary()],
                false,
            ),
            (
                "more pods than wanted: scaled down, a pod not removed yet",
                vec![rs("6f", "ro-1", 2, 3, 3, "3"), canary()],
                false,
            ),
            (
                "the ReplicaSet controller has not observed the new spec",
                vec![lagging, canary()],
                false,
            ),
            (
                "a ReplicaSet without status",
                vec![stable(), no_status],
                false,
            ),
            (
                "an old ReplicaSet kept by scaleDownDelaySeconds, its pods available",
                vec![stable(), canary(), rs("5a", "ro-1", 2, 2, 2, "2")],
                true,
            ),
            (
                "an old ReplicaSet kept by scaleDownDelaySeconds, a pod unavailable",
                vec![stable(), canary(), rs("5a", "ro-1", 2, 2, 1, "2")],
                false,
            ),
            (
                "an old ReplicaSet scaled to 0",
                vec![stable(), canary(), rs("5a", "ro-1", 0, 0, 0, "2")],
                true,
            ),
            (
                "an old ReplicaSet scaled to 0, a pod not removed yet",
                vec![stable(), canary(), rs("5a", "ro-1", 0, 1, 1, "2")],
                false,
            ),
            (
                "another owner's unsettled ReplicaSet is not the Rollout's",
                vec![stable(), canary(), rs("9d", "other", 4, 1, 0, "4")],
                true,
            ),
            (
                "only another owner's ReplicaSets",
                vec![rs("6f", "other", 2, 2, 2, "3")],
                false,
            ),
            ("no ReplicaSet at all", vec![], false),
        ];
        for (case, rss, want) in cases {
            assert_eq!(replicasets_settled(&r, &rss), want, "{case}");
        }
    }

    /// A scale of the Rollout is a scaling event: the controller rescales the stable
    /// ReplicaSet, records the Rollout observed, and rescales the canary one on its next sync.
    #[test]
    fn a_held_rollout_is_not_rolled_out_before_its_canary_replicaset_is_rescaled_to_a_scale() {
        let mut scaled = held();
        scaled["spec"]["replicas"] = json!(6);
        let r = rollout_of(scaled);
        let stable = rs("6f", "ro-1", 4, 4, 4, "6");
        assert!(!replicasets_settled(
            &r,
            &[stable.clone(), rs("7c", "ro-1", 1, 1, 1, "3")]
        ));
        assert!(replicasets_settled(
            &r,
            &[stable.clone(), rs("7c", "ro-1", 2, 2, 2, "6")]
        ));
        // An older ReplicaSet's annotation is not rewritten (Argo's isScalingEvent reads only
        // the stable and current ones); one without the annotation is not asked.
        let mut unannotated = rs("7c", "ro-1", 2, 2, 2, "6");
        unannotated.metadata.annotations = None;
        assert!(replicasets_settled(
            &r,
            &[stable, unannotated, rs("5a", "ro-1", 1, 1, 1, "3")]
        ));
    }

    /// A change to [`held`] a case makes.
    type Edit = fn(&mut Value);

    #[test]
    fn the_held_rule_applies_only_to_a_rollout_paused_at_a_step_its_controller_caught_up_with() {
        let with = |edit: Edit| {
            let mut v = held();
            edit(&mut v);
            held_at_step(&rollout_of(v))
        };
        let cases: Vec<(&str, Edit, bool)> = vec![
            ("a canary pause step", |_| {}, true),
            (
                "a blue-green Rollout awaiting promotion",
                |v| {
                    v["spec"]["strategy"] = json!({"blueGreen": {"activeService": "checkout"}});
                    v["status"]["pauseConditions"][0]["reason"] = json!("BlueGreenPause");
                },
                true,
            ),
            (
                "no restart asked",
                |v| {
                    v["spec"].as_object_mut().unwrap().remove("restartAt");
                },
                true,
            ),
            (
                "paused by hand (spec.paused)",
                |v| v["spec"]["paused"] = json!(true),
                false,
            ),
            (
                "restartAt not yet copied to restartedAt",
                |v| v["status"]["restartedAt"] = json!("2026-11-22T08:00:00Z"),
                false,
            ),
            (
                "no restartedAt yet",
                |v| {
                    v["status"].as_object_mut().unwrap().remove("restartedAt");
                },
                false,
            ),
            (
                "the controller has not observed the newest generation",
                |v| v["metadata"]["generation"] = json!(10),
                false,
            ),
            (
                "unpausing: promoted, the controller has not resumed yet",
                |v| v["status"]["pauseConditions"] = json!([]),
                false,
            ),
            (
                "a referenced workload's generation not observed",
                |v| {
                    v["metadata"]["annotations"] =
                        json!({"rollout.argoproj.io/workload-generation": "3"});
                    v["status"]["workloadObservedGeneration"] = json!("2");
                },
                false,
            ),
            (
                "an inconclusive analysis halts ReplicaSet scaling",
                |v| v["status"]["pauseConditions"][0]["reason"] = json!("InconclusiveAnalysisRun"),
                false,
            ),
            (
                "a step pause and an inconclusive experiment",
                |v| {
                    v["status"]["pauseConditions"] = json!([
                        {"reason": "CanaryPauseStep", "startTime": "2026-11-23T09:00:00Z"},
                        {"reason": "InconclusiveExperiment", "startTime": "2026-11-23T09:05:00Z"}]);
                },
                false,
            ),
            (
                "Degraded",
                |v| v["status"]["phase"] = json!("Degraded"),
                false,
            ),
            (
                "Progressing",
                |v| v["status"]["phase"] = json!("Progressing"),
                false,
            ),
            (
                "Healthy (argo_rollout's case)",
                |v| v["status"]["phase"] = json!("Healthy"),
                false,
            ),
        ];
        for (case, edit, want) in cases {
            assert_eq!(with(edit), want, "{case}");
        }
        // Held, not Healthy: kubectl argo rollouts status does not call it rolled out.
        assert!(!argo_rollout(&rollout_of(held())));
    }
}
