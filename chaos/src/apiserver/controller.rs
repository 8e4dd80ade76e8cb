//! The built-in controllers, run after every change until nothing moves:
//! the HPA clamp (replicas kept within `minReplicas..=maxReplicas`), the
//! Deployment controller (a ReplicaSet per pod template, labelled with its
//! `pod-template-hash` and annotated with its revision; the current one
//! scaled to `spec.replicas`, older ones to zero; nothing rolled out while
//! `spec.paused`), the ReplicaSet controller (pods `<rs>-<5 chars>` with a
//! controller ownerReference, started at once), and the status roll-ups
//! ([`rollup`](super::rollup)).
//! In [`ControllerMode::External`] only the HPA clamp and the roll-ups run.

use super::config::ControllerMode;
use super::store::Store;
use super::world::World;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStatus, Pod, PodCondition, PodIP, PodStatus,
    PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// Label carrying a ReplicaSet's template hash.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Annotation carrying a ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The `pod-template-hash` of a Deployment's template (its own hash label ignored).
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: i32) -> String {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let json = serde_json::to_string(&t).unwrap_or_default();
    super::ids::template_hash(&json, collision_count)
}

/// The revision annotation of an object, 0 when absent.
pub fn revision(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Whether `meta` has a controller ownerReference to `uid`.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

/// A controller ownerReference to an object.
pub fn controller_ref(api_version: &str, kind: &str, meta: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Runs the controllers until the store stops changing (at most a few passes).
pub fn reconcile(store: &mut Store, world: &mut dyn World, mode: ControllerMode) {
    for _ in 0..6 {
        let before = store.resource_version();
        hpa_clamp(store, world);
        if mode == ControllerMode::BuiltIn {
            deployments(store);
            replica_sets(store);
            start_pods(store);
        }
        super::rollup::replica_sets(store);
        super::rollup::deployments(store, mode);
        if store.resource_version() == before {
            break;
        }
    }
}

pub(crate) fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn hpa_clamp(store: &mut Store, world: &mut dyn World) {
    let hpas: Vec<HorizontalPodAutoscaler> = store
        .list::<HorizontalPodAutoscaler>(None)
        .into_iter()
        .cloned()
        .collect();
    for hpa in hpas {
        let Some(spec) = &hpa.spec else { continue };
        if spec.scale_target_ref.kind != "Deployment" {
            continue;
        }
        let (ns, _) = ns_name(&hpa.metadata);
        let Some(dep) = store
            .get::<Deployment>(&ns, &spec.scale_target_ref.name)
            .cloned()
        else {
            continue;
        };
        let current = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let min = spec.min_replicas.unwrap_or(1);
        let desired = current.max(min).min(spec.max_replicas.max(min));
        let mut scaled = false;
        if desired != current {
            let mut d = dep.clone();
            if let Some(s) = d.spec.as_mut() {
                s.replicas = Some(desired);
            }
            d.metadata.generation = Some(d.metadata.generation.unwrap_or(1) + 1);
            store.put(d);
            if let Err(e) = world.on_scale(store, &ns, &spec.scale_target_ref.name, desired) {
                tracing::warn!(namespace = %ns, deployment = %spec.scale_target_ref.name, error = %e, "world refused the HPA scale");
            }
            scaled = true;
        }
        let observed = dep
            .status
            .as_ref()
            .map_or(current, |s| s.replicas.unwrap_or(0));
        let old = hpa.status.clone().unwrap_or_default();
        let status = HorizontalPodAutoscalerStatus {
            current_replicas: Some(observed),
            desired_replicas: desired,
            last_scale_time: if scaled {
                Some(store.now_time())
            } else {
                old.last_scale_time.clone()
            },
            observed_generation: hpa.metadata.generation,
            ..old.clone()
        };
        if status != old {
            let mut h = hpa.clone();
            h.status = Some(status);
            store.put(h);
        }
    }
}

pub(crate) fn owned_replica_sets(store: &Store, ns: &str, uid: &str) -> Vec<ReplicaSet> {
    store
        .list::<ReplicaSet>(Some(ns))
        .into_iter()
        .filter(|r| controlled_by(&r.metadata, uid))
        .cloned()
        .collect()
}

pub(crate) fn owned_pods(store: &Store, ns: &str, uid: &str) -> Vec<Pod> {
    store
        .list::<Pod>(Some(ns))
        .into_iter()
        .filter(|p| controlled_by(&p.metadata, uid))
        .cloned()
        .collect()
}

fn deployments(store: &mut Store) {
    let deps: Vec<Deployment> = store
        .list::<Deployment>(None)
        .into_iter()
        .cloned()
        .collect();
    for d in deps {
        let Some(spec) = d.spec.clone() else { continue };
        let (ns, _) = ns_name(&d.metadata);
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let paused = spec.paused == Some(true);
        let replicas = spec.replicas.unwrap_or(1);
        let collisions = d
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let hash = pod_template_hash(&spec.template, collisions);
        let owned = owned_replica_sets(store, &ns, &uid);
        let max_rev = owned
            .iter()
            .map(|r| revision(&r.metadata))
            .max()
            .unwrap_or(0);
        let matching = owned
            .iter()
            .find(|r| label(&r.metadata, POD_TEMPLATE_HASH) == Some(hash.as_str()))
            .cloned();
        let target = match (matching, paused) {
            (Some(rs), false) if revision(&rs.metadata) < max_rev => {
                // Rolled back to an older template: that ReplicaSet becomes the newest revision.
                let mut rs = rs;
                set_annotation(&mut rs.metadata, REVISION, (max_rev + 1).to_string());
                Some(store.put(rs))
            }
            (Some(rs), _) => Some(rs),
            (None, true) => owned.iter().max_by_key(|r| revision(&r.metadata)).cloned(),
            (None, false) => Some(new_replica_set(store, &d, &hash, max_rev + 1, replicas)),
        };
        let Some(target) = target else { continue };
        let target_name = target.metadata.name.clone().unwrap_or_default();
        for rs in owned_replica_sets(store, &ns, &uid) {
            let want = if rs.metadata.name.as_deref() == Some(target_name.as_str()) {
                replicas
            } else {
                0
            };
            if rs.spec.as_ref().and_then(|s| s.replicas) != Some(want) {
                let mut rs = rs;
                if let Some(s) = rs.spec.as_mut() {
                    s.replicas = Some(want);
                }
                rs.metadata.generation = Some(rs.metadata.generation.unwrap_or(1) + 1);
                store.put(rs);
            }
        }
        prune_history(
            store,
            &ns,
            &uid,
            &target_name,
            spec.revision_history_limit.unwrap_or(10),
        );
    }
}

fn prune_history(store: &mut Store, ns: &str, uid: &str, keep: &str, limit: i32) {
    let mut old: Vec<ReplicaSet> = owned_replica_sets(store, ns, uid)
        .into_iter()
        .filter(|r| r.metadata.name.as_deref() != Some(keep))
        .filter(|r| r.spec.as_ref().and_then(|s| s.replicas) == Some(0))
        .filter(|r| r.status.as_ref().is_none_or(|s| s.replicas == 0))
        .collect();
    old.sort_by_key(|r| revision(&r.metadata));
    let excess = old
        .len()
        .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    for rs in old.into_iter().take(excess) {
        let (ns, name) = ns_name(&rs.metadata);
        store.remove::<ReplicaSet>(&ns, &name);
    }
}

pub(crate) fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

pub(crate) fn set_annotation(meta: &mut ObjectMeta, key: &str, value: String) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_owned(), value);
}

fn new_replica_set(
    store: &mut Store,
    d: &Deployment,
    hash: &str,
    rev: i64,
    replicas: i32,
) -> ReplicaSet {
    let (ns, name) = ns_name(&d.metadata);
    let spec = d.spec.clone().unwrap_or_default();
    let mut template = spec.template.clone();
    let tmeta = template.metadata.get_or_insert_with(ObjectMeta::default);
    tmeta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.to_owned(), hash.to_owned());
    let labels = tmeta.labels.clone();
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.to_owned(), hash.to_owned());
    let mut annotations = BTreeMap::new();
    annotations.insert(REVISION.to_owned(), rev.to_string());
    annotations.insert(
        "deployment.kubernetes.io/desired-replicas".to_owned(),
        replicas.to_string(),
    );
    annotations.insert(
        "deployment.kubernetes.io/max-replicas".to_owned(),
        (replicas + 1).to_string(),
    );
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{hash}")),
            namespace: Some(ns),
            labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref("apps/v1", "Deployment", &d.metadata)]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    store.upsert(rs)
}

fn replica_sets(store: &mut Store) {
    let all: Vec<ReplicaSet> = store
        .list::<ReplicaSet>(None)
        .into_iter()
        .cloned()
        .collect();
    for rs in all {
        let (ns, _) = ns_name(&rs.metadata);
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let want = usize::try_from(
            rs.spec
                .as_ref()
                .and_then(|s| s.replicas)
                .unwrap_or(1)
                .max(0),
        )
        .unwrap_or(0);
        let mut pods = owned_pods(store, &ns, &uid);
        for _ in pods.len()..want {
            new_pod(store, &rs);
        }
        if pods.len() > want {
            // Newest first, as the ReplicaSet controller prefers younger pods.
            pods.sort_by(|a, b| {
                b.metadata
                    .creation_timestamp
                    .cmp(&a.metadata.creation_timestamp)
                    .then_with(|| b.metadata.name.cmp(&a.metadata.name))
            });
            for p in pods.iter().take(pods.len() - want) {
                let (ns, name) = ns_name(&p.metadata);
                store.remove::<Pod>(&ns, &name);
            }
        }
    }
}

fn new_pod(store: &mut Store, rs: &ReplicaSet) {
    let (ns, rs_name) = ns_name(&rs.metadata);
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut name = format!("{rs_name}-{}", store.ids.suffix(5));
    while store.get::<Pod>(&ns, &name).is_some() {
        name = format!("{rs_name}-{}", store.ids.suffix(5));
    }
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some(name),
            generate_name: Some(format!("{rs_name}-")),
            namespace: Some(ns),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            owner_references: Some(vec![controller_ref("apps/v1", "ReplicaSet", &rs.metadata)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    };
    start(store, &mut pod);
    store.upsert(pod);
}

/// Schedules a pod (when unscheduled) and marks it running and ready.
fn start(store: &mut Store, pod: &mut Pod) {
    let node = match pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
        Some(n) => n,
        None => store.pick_node(),
    };
    let node_index = store.nodes.iter().position(|n| *n == node).unwrap_or(0);
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node);
    }
    let now = store.now_time();
    let ip = store.ids.pod_ip();
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let statuses = containers
        .iter()
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            ContainerStatus {
                name: c.name.clone(),
                image_id: format!("{image}@sha256:{}", store.ids.hex(64)),
                image,
                container_id: Some(format!("containerd://{}", store.ids.hex(64))),
                ready: true,
                started: Some(true),
                restart_count: 0,
                state: Some(ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(now.clone()),
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }
        })
        .collect();
    let condition = |ty: &str| PodCondition {
        type_: ty.to_owned(),
        status: "True".to_owned(),
        last_transition_time: Some(now.clone()),
        ..PodCondition::default()
    };
    pod.status = Some(PodStatus {
        phase: Some("Running".to_owned()),
        conditions: Some(
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled",
            ]
            .into_iter()
            .map(condition)
            .collect(),
        ),
        host_ip: Some(format!("10.0.0.{}", 10 + node_index % 240)),
        pod_ip: Some(ip.clone()),
        pod_ips: Some(vec![PodIP { ip }]),
        start_time: Some(now.clone()),
        qos_class: Some("BestEffort".to_owned()),
        container_statuses: Some(statuses),
        ..PodStatus::default()
    });
}

fn start_pods(store: &mut Store) {
    let pending: Vec<Pod> = store
        .list::<Pod>(None)
        .into_iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_none_or(|ph| ph == "Pending")
        })
        .cloned()
        .collect();
    for mut pod in pending {
        start(store, &mut pod);
        store.put(pod);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::config::ClusterConfig;
    use crate::apiserver::objects;
    use crate::apiserver::world::NoWorld;

    #[test]
    fn template_hash_ignores_its_own_label() {
        let d = objects::deployment("ns", "web", 1, "web:1", &[]);
        let t = d.spec.map(|s| s.template).unwrap_or_default();
        let mut labelled = t.clone();
        if let Some(l) = labelled.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.insert(POD_TEMPLATE_HASH.into(), "x".into());
        }
        assert_eq!(pod_template_hash(&t, 0), pod_template_hash(&labelled, 0));
        assert_ne!(pod_template_hash(&t, 0), pod_template_hash(&t, 1));
    }

    #[test]
    fn deployment_to_pods_table() {
        // (replicas, paused, want pods); a Deployment created paused gets no
        // ReplicaSet, as in Kubernetes (sync without createIfNotExisted).
        let cases: &[(i32, bool, usize)] =
            &[(0, false, 0), (1, false, 1), (4, false, 4), (2, true, 0)];
        for &(replicas, paused, want) in cases {
            let mut store = Store::new(&ClusterConfig::default());
            let mut d = objects::deployment("ns", "web", replicas, "web:1", &[]);
            if let Some(s) = d.spec.as_mut() {
                s.paused = Some(paused);
            }
            store.upsert(d);
            reconcile(&mut store, &mut NoWorld, ControllerMode::BuiltIn);
            let rs = store.list::<ReplicaSet>(Some("ns"));
            let rs_name = rs
                .first()
                .and_then(|r| r.metadata.name.clone())
                .unwrap_or_default();
            let pods = store.list::<Pod>(Some("ns"));
            assert_eq!(pods.len(), want, "replicas {replicas} paused {paused}");
            assert_eq!(
                rs.len(),
                usize::from(!paused),
                "replicas {replicas} paused {paused}"
            );
            for p in pods {
                let name = p.metadata.name.clone().unwrap_or_default();
                assert_eq!(name.len(), rs_name.len() + 6, "{name}");
                assert!(crate::apiserver::rollup::pod_ready(p));
            }
        }
    }
}
