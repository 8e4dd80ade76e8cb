//! Writing a simulated workload into the store ([`ControllerMode::External`](super::ControllerMode)):
//! the simulation describes a Deployment's pods as it runs them (names,
//! UIDs, nodes, readiness, template hashes) and [`sync_workload`] makes the
//! store's Deployment, ReplicaSets and Pods match — ownerReferences,
//! `pod-template-hash` labels and revisions included — writing only what changed.

use super::controller::{controlled_by, controller_ref, revision, POD_TEMPLATE_HASH, REVISION};
use super::objects;
use super::store::Store;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateWaiting, ContainerStatus, Pod,
    PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::{BTreeMap, BTreeSet};

/// One pod as the simulation runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSnapshot {
    /// Pod name (`web-7d9c6b5f4-x2x9k`).
    pub name: String,
    /// Pod UID (kept by the store when absent).
    pub uid: Option<String>,
    /// Node name.
    pub node: String,
    /// Pod IP.
    pub ip: Option<String>,
    /// Whether the container is up and ready.
    pub ready: bool,
    /// Container restarts.
    pub restarts: i32,
    /// The template hash (ReplicaSet) it belongs to.
    pub template_hash: String,
    /// Creation time (now when absent).
    pub created: Option<Timestamp>,
}

/// A Deployment as the simulation runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSnapshot {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub name: String,
    /// Deployment UID (used when the store creates it).
    pub uid: Option<String>,
    /// Extra Deployment labels (the Deployment selects `app=<name>`).
    pub labels: BTreeMap<String, String>,
    /// Container image.
    pub image: String,
    /// Desired replicas (used only when the store creates the Deployment:
    /// afterwards `spec.replicas` belongs to the API clients).
    pub replicas: i32,
    /// The current template hash (the newest ReplicaSet).
    pub template_hash: String,
    /// The pods, of every template hash.
    pub pods: Vec<PodSnapshot>,
}

/// Makes the store match `w`: creates the Deployment if missing, a
/// ReplicaSet per template hash (the current one newest), upserts the pods
/// that changed and removes the workload's pods that are gone. Returns the
/// number of objects written.
pub fn sync_workload(store: &mut Store, w: &WorkloadSnapshot) -> usize {
    let ns = w.namespace.as_str();
    let mut writes = 0;
    let dep = match store.get::<Deployment>(ns, &w.name).cloned() {
        Some(d) => d,
        None => {
            let labels: Vec<(&str, &str)> = w
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let mut d = objects::deployment(ns, &w.name, w.replicas, &w.image, &labels);
            d.metadata.uid.clone_from(&w.uid);
            writes += 1;
            let d = store.upsert(d);
            let hash = super::controller::pod_template_hash(
                &d.spec.clone().unwrap_or_default().template,
                0,
            );
            store
                .rolled_out
                .insert(d.metadata.uid.clone().unwrap_or_default(), hash);
            d
        }
    };
    let dep_uid = dep.metadata.uid.clone().unwrap_or_default();
    let desired = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let mut hashes: Vec<&str> = Vec::new();
    for p in &w.pods {
        if p.template_hash != w.template_hash && !hashes.contains(&p.template_hash.as_str()) {
            hashes.push(&p.template_hash);
        }
    }
    hashes.push(&w.template_hash);
    let mut rs_by_hash: BTreeMap<String, ReplicaSet> = BTreeMap::new();
    for hash in hashes {
        let count = w.pods.iter().filter(|p| p.template_hash == hash).count();
        let want = if hash == w.template_hash {
            desired
        } else {
            i32::try_from(count).unwrap_or(i32::MAX)
        };
        let rs_name = format!("{}-{hash}", w.name);
        let rs = match store.get::<ReplicaSet>(ns, &rs_name).cloned() {
            Some(rs) if rs.spec.as_ref().and_then(|s| s.replicas) == Some(want) => rs,
            Some(mut rs) => {
                if let Some(s) = rs.spec.as_mut() {
                    s.replicas = Some(want);
                }
                rs.metadata.generation = Some(rs.metadata.generation.unwrap_or(1) + 1);
                writes += 1;
                store.put(rs)
            }
            None => {
                let max_rev = store
                    .list::<ReplicaSet>(Some(ns))
                    .into_iter()
                    .filter(|r| controlled_by(&r.metadata, &dep_uid))
                    .map(|r| revision(&r.metadata))
                    .max()
                    .unwrap_or(0);
                writes += 1;
                store.upsert(replica_set(&dep, hash, max_rev + 1, want))
            }
        };
        rs_by_hash.insert(hash.to_owned(), rs);
    }
    let now = store.now();
    let mut keep = BTreeSet::new();
    for p in &w.pods {
        let Some(rs) = rs_by_hash.get(&p.template_hash) else {
            continue;
        };
        keep.insert(p.name.clone());
        let want = pod(rs, &w.image, p, now);
        let same = store.get::<Pod>(ns, &p.name).is_some_and(|cur| {
            cur.spec == want.spec
                && cur.status == want.status
                && cur.metadata.labels == want.metadata.labels
                && cur.metadata.owner_references == want.metadata.owner_references
        });
        if !same {
            writes += 1;
            store.upsert(want);
        }
    }
    let rs_uids: BTreeSet<String> = store
        .list::<ReplicaSet>(Some(ns))
        .into_iter()
        .filter(|r| controlled_by(&r.metadata, &dep_uid))
        .filter_map(|r| r.metadata.uid.clone())
        .collect();
    let gone: Vec<String> = store
        .list::<Pod>(Some(ns))
        .into_iter()
        .filter(|p| rs_uids.iter().any(|u| controlled_by(&p.metadata, u)))
        .filter_map(|p| p.metadata.name.clone())
        .filter(|n| !keep.contains(n))
        .collect();
    for name in gone {
        writes += 1;
        store.remove::<Pod>(ns, &name);
    }
    writes
}

fn replica_set(dep: &Deployment, hash: &str, rev: i64, replicas: i32) -> ReplicaSet {
    let spec = dep.spec.clone().unwrap_or_default();
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
    let name = dep.metadata.name.clone().unwrap_or_default();
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{hash}")),
            namespace: dep.metadata.namespace.clone(),
            labels,
            annotations: Some(BTreeMap::from([(REVISION.to_owned(), rev.to_string())])),
            owner_references: Some(vec![controller_ref("apps/v1", "Deployment", &dep.metadata)]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    }
}

fn pod(rs: &ReplicaSet, image: &str, p: &PodSnapshot, now: Timestamp) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    spec.node_name = Some(p.node.clone());
    for c in &mut spec.containers {
        c.image = Some(image.to_owned());
    }
    let created = Time(p.created.unwrap_or(now));
    let truth = |b: bool| if b { "True" } else { "False" }.to_owned();
    let conditions = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .into_iter()
        .map(|ty| PodCondition {
            type_: ty.to_owned(),
            status: truth(p.ready || ty == "Initialized" || ty == "PodScheduled"),
            last_transition_time: Some(created.clone()),
            ..PodCondition::default()
        })
        .collect();
    let statuses = spec
        .containers
        .iter()
        .map(|c| ContainerStatus {
            name: c.name.clone(),
            image: image.to_owned(),
            image_id: image.to_owned(),
            ready: p.ready,
            started: Some(p.ready),
            restart_count: p.restarts,
            state: Some(if p.ready {
                ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(created.clone()),
                    }),
                    ..ContainerState::default()
                }
            } else {
                ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(
                            if p.restarts > 0 {
                                "CrashLoopBackOff"
                            } else {
                                "ContainerCreating"
                            }
                            .to_owned(),
                        ),
                        message: None,
                    }),
                    ..ContainerState::default()
                }
            }),
            ..ContainerStatus::default()
        })
        .collect();
    Pod {
        metadata: ObjectMeta {
            name: Some(p.name.clone()),
            generate_name: rs.metadata.name.as_ref().map(|n| format!("{n}-")),
            namespace: rs.metadata.namespace.clone(),
            uid: p.uid.clone(),
            creation_timestamp: Some(created.clone()),
            labels: template.metadata.and_then(|m| m.labels),
            owner_references: Some(vec![controller_ref("apps/v1", "ReplicaSet", &rs.metadata)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: Some(PodStatus {
            phase: Some("Running".to_owned()),
            conditions: Some(conditions),
            pod_ip: p.ip.clone(),
            pod_ips: p.ip.clone().map(|ip| vec![PodIP { ip }]),
            start_time: Some(created),
            qos_class: Some("BestEffort".to_owned()),
            container_statuses: Some(statuses),
            ..PodStatus::default()
        }),
    }
}
