//! The simulated cluster as one piece: a [`Simulation`] bridged to the
//! simulated Kubernetes API server ([`ApiState`] in
//! [`ControllerMode::External`]).
//!
//! - API → simulation ([`SimWorld`], the [`World`] the server calls): a
//!   changed replica count scales the simulated workload (the same traffic
//!   spread over more pods), a changed pod template (`rollout restart`)
//!   replaces its pods (clearing leaks and other bad state), a deleted pod is
//!   replaced by its controller, and an HPA's `minReplicas` reaches the
//!   simulation through the HPA clamp (which scales the Deployment).
//! - Simulation → API ([`SimCluster::step`]): after every tick the
//!   Deployments' ReplicaSets and Pods are written back (new pods, readiness,
//!   restart counts, pods gone), and the server's clock follows simulated time.
//!
//! Lock order: the API server calls the world while it holds the store lock,
//! and the world then takes the simulation lock (store → simulation). The
//! driver never takes the store lock while holding the simulation lock: it
//! steps the simulation, releases it, and only then syncs the store (taking
//! the simulation lock again inside, in store → simulation order).
//!
//! Only Deployments are served by the API server; StatefulSets and DaemonSets
//! run in the simulation (their telemetry flows) but the API does not list
//! them, so a healer acting on them gets 404.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;

use crate::apiserver::{
    objects, sync_workload, ApiState, ClockMode, ClusterConfig, ControllerMode, PodSnapshot, Store,
    WorkloadSnapshot, World, WorldError, SIM_TOKEN,
};
use crate::fleet::{ControllerKind, WorkloadSpec};
use crate::sim::{SimConfig, Simulation, Workload};
use crate::sink::Sink;
use crate::ChaosError;

/// The label a workload must carry (value `"true"`) for the healer to act on it.
pub const OPT_IN_LABEL: &str = "edgeheal.io/heal";

/// Most replicas the simulated cluster runs for one workload (the simulator's
/// own limit; larger requests are refused with 403, as an admission plugin would).
pub const MAX_SIM_REPLICAS: i32 = 200;

/// How a simulated cluster is set up besides the simulation itself.
#[derive(Debug, Clone, Default)]
pub struct SimClusterConfig {
    /// Workloads (`namespace/name`) that do NOT carry the opt-in label; every
    /// other Deployment carries `edgeheal.io/heal: "true"`.
    pub not_opted_in: Vec<String>,
    /// HPAs to create: (`namespace/deployment`, minReplicas, maxReplicas).
    pub hpas: Vec<(String, i32, i32)>,
    /// Bearer token requests must carry (`None`: none required). The kubeconfig
    /// written by [`write_kubeconfig`](crate::apiserver::write_kubeconfig)
    /// carries [`SIM_TOKEN`].
    pub token: Option<String>,
}

impl SimClusterConfig {
    /// The demo set-up for fleet `a`: `payments/ledger` is not opted in, and
    /// `shop/storefront` is under an HPA (4..=20 replicas), with the token required.
    pub fn fleet_a_demo() -> Self {
        Self {
            not_opted_in: vec!["payments/ledger".into()],
            hpas: vec![("shop/storefront".into(), 4, 20)],
            token: Some(SIM_TOKEN.into()),
        }
    }
}

type Labels = Arc<BTreeMap<(String, String), BTreeMap<String, String>>>;

fn lock_sim(sim: &Mutex<Simulation>) -> MutexGuard<'_, Simulation> {
    sim.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn timestamp(ns: i64) -> Option<Timestamp> {
    Timestamp::from_nanosecond(i128::from(ns)).ok()
}

/// A Deployment of the simulation as the API server should show it.
fn snapshot(w: &Workload, labels: &Labels, now_ns: i64) -> Option<WorkloadSnapshot> {
    if w.spec.kind != ControllerKind::Deployment {
        return None;
    }
    let key = (w.spec.namespace.clone(), w.spec.name.clone());
    let pods = w
        .pods
        .iter()
        .map(|p| PodSnapshot {
            name: p.meta.pod.clone(),
            uid: Some(p.meta.uid.clone()),
            node: p.meta.node.clone(),
            ip: Some(p.meta.ip.clone()),
            ready: p.serving_at(now_ns),
            restarts: i32::try_from(p.meta.restart_count).unwrap_or(i32::MAX),
            template_hash: p.template_hash.clone(),
            created: timestamp(p.created_ns),
        })
        .collect();
    Some(WorkloadSnapshot {
        namespace: w.spec.namespace.clone(),
        name: w.spec.name.clone(),
        uid: Some(w.uid.clone()),
        labels: labels.get(&key).cloned().unwrap_or_default(),
        image: w.spec.image.clone(),
        replicas: i32::try_from(w.desired).unwrap_or(i32::MAX),
        template_hash: w.hash.clone(),
        pods,
    })
}

/// Syncs one workload of the simulation into the store (store locked by the caller).
fn sync_one(
    store: &mut Store,
    sim: &Mutex<Simulation>,
    labels: &Labels,
    ns: &str,
    name: &str,
) -> Result<(), WorldError> {
    let snap = {
        let sim = lock_sim(sim);
        let w = sim
            .workload(ns, name)
            .ok_or_else(|| WorldError::Failed(format!("{ns}/{name} is not simulated")))?;
        snapshot(w, labels, sim.now_ns())
    };
    if let Some(snap) = snap {
        sync_workload(store, &snap);
    }
    Ok(())
}

fn refused(e: ChaosError) -> WorldError {
    WorldError::Rejected(format!("the simulator refused: {e}"))
}

/// The [`World`] the API server tells about client writes: it carries them
/// out on the simulation and writes the result back into the store.
pub struct SimWorld {
    sim: Arc<Mutex<Simulation>>,
    labels: Labels,
}

impl World for SimWorld {
    fn on_scale(
        &mut self,
        store: &mut Store,
        ns: &str,
        deployment: &str,
        replicas: i32,
    ) -> Result<(), WorldError> {
        if !(0..=MAX_SIM_REPLICAS).contains(&replicas) {
            return Err(WorldError::Rejected(format!(
                "the simulator runs 0..={MAX_SIM_REPLICAS} replicas, not {replicas}"
            )));
        }
        lock_sim(&self.sim)
            .scale(ns, deployment, replicas.unsigned_abs())
            .map_err(refused)?;
        sync_one(store, &self.sim, &self.labels, ns, deployment)
    }

    fn on_restart(
        &mut self,
        store: &mut Store,
        ns: &str,
        deployment: &str,
        _restarted_at: Option<&str>,
    ) -> Result<(), WorldError> {
        lock_sim(&self.sim)
            .rollout_restart(ns, deployment)
            .map_err(refused)?;
        sync_one(store, &self.sim, &self.labels, ns, deployment)
    }

    fn on_pod_deleted(&mut self, store: &mut Store, ns: &str, pod: &str) -> Result<(), WorldError> {
        let owner = {
            let mut sim = lock_sim(&self.sim);
            let owner = sim
                .workloads()
                .iter()
                .find(|w| w.spec.namespace == ns && w.pods.iter().any(|p| p.meta.pod == pod))
                .map(|w| w.spec.name.clone());
            if owner.is_some() {
                sim.delete_pod(ns, pod).map_err(refused)?;
            }
            owner
        };
        match owner {
            Some(name) => sync_one(store, &self.sim, &self.labels, ns, &name),
            // A pod the simulation does not run (created by a client): nothing to replace.
            None => Ok(()),
        }
    }
}

/// A simulation and the API server that shows it, kept in step.
#[derive(Clone)]
pub struct SimCluster {
    sim: Arc<Mutex<Simulation>>,
    api: ApiState,
    labels: Labels,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

fn labels_for(spec: &WorkloadSpec, cfg: &SimClusterConfig) -> BTreeMap<String, String> {
    let key = format!("{}/{}", spec.namespace, spec.name);
    let mut labels = BTreeMap::from([("app.kubernetes.io/name".to_owned(), spec.name.clone())]);
    if !cfg.not_opted_in.contains(&key) {
        labels.insert(OPT_IN_LABEL.to_owned(), "true".to_owned());
    }
    labels
}

impl SimCluster {
    /// Builds the simulation and an API server showing its Deployments (with
    /// the opt-in label and the HPAs of `cfg`), clock at the simulation's start.
    pub fn new(sim: SimConfig, cfg: &SimClusterConfig) -> Result<Self, ChaosError> {
        let start = timestamp(sim.start_ns).ok_or_else(|| ChaosError::InvalidParameter {
            name: "start",
            reason: format!("{} ns is not a representable time", sim.start_ns),
        })?;
        let seed = sim.seed;
        let nodes = sim.fleet.nodes.clone();
        let simulation = Simulation::new(sim)?;
        let labels: Labels = Arc::new(
            simulation
                .workloads()
                .iter()
                .map(|w| {
                    (
                        (w.spec.namespace.clone(), w.spec.name.clone()),
                        labels_for(&w.spec, cfg),
                    )
                })
                .collect(),
        );
        for (key, _, _) in &cfg.hpas {
            let known = simulation.workloads().iter().any(|w| {
                w.spec.kind == ControllerKind::Deployment
                    && *key == format!("{}/{}", w.spec.namespace, w.spec.name)
            });
            if !known {
                return Err(ChaosError::InvalidParameter {
                    name: "hpas",
                    reason: format!("{key} is not a simulated Deployment"),
                });
            }
        }
        let api = ApiState::new(ClusterConfig {
            seed,
            controller: ControllerMode::External,
            clock: ClockMode::Manual(start),
            token: cfg.token.clone(),
            nodes,
            ..ClusterConfig::default()
        });
        let sim = Arc::new(Mutex::new(simulation));
        let cluster = Self {
            sim: sim.clone(),
            api: api.clone(),
            labels: labels.clone(),
        };
        cluster.sync();
        api.with_store(|store| {
            for (key, min, max) in &cfg.hpas {
                if let Some((ns, name)) = key.split_once('/') {
                    store.upsert(objects::hpa(ns, name, name, *min, *max));
                }
            }
        });
        api.set_world(SimWorld { sim, labels });
        Ok(cluster)
    }

    /// The API server's state (serve it with [`spawn`](crate::apiserver::spawn)).
    pub fn api(&self) -> &ApiState {
        &self.api
    }

    /// Runs `f` on the simulation (inject faults, read state). Do not call the
    /// API state from inside `f` (lock order: store before simulation).
    pub fn with_sim<R>(&self, f: impl FnOnce(&mut Simulation) -> R) -> R {
        f(&mut lock_sim(&self.sim))
    }

    /// Runs one tick into `sink`, then shows its result in the API server.
    pub fn step(&self, sink: &mut dyn Sink) -> Result<(), ChaosError> {
        lock_sim(&self.sim).step(sink)?;
        self.sync();
        Ok(())
    }

    /// Writes every simulated Deployment into the store and moves the
    /// server's clock to simulated time.
    pub fn sync(&self) {
        self.api.with_store(|store| {
            let (now, snaps): (i64, Vec<WorkloadSnapshot>) = {
                let sim = lock_sim(&self.sim);
                let now = sim.now_ns();
                let snaps = sim
                    .workloads()
                    .iter()
                    .filter_map(|w| snapshot(w, &self.labels, now))
                    .collect();
                (now, snaps)
            };
            if let Some(t) = timestamp(now) {
                store.set_now(t);
            }
            for snap in &snaps {
                sync_workload(store, snap);
            }
        });
    }

    /// Simulated time, ns.
    pub fn now_ns(&self) -> i64 {
        lock_sim(&self.sim).now_ns()
    }
}
