//! The simulation bridged to the API server, driven by a real `kube::Client`:
//! the healer's writes change the simulation (scale spreads load, a rollout
//! restart replaces pods and clears a leak, a deleted pod is replaced, an
//! HPA's minReplicas scales), and the simulation's changes (new pods,
//! restarts) show in the API objects.

use edgeheal_chaos::apiserver::{router, SIM_TOKEN};
use edgeheal_chaos::fault::{FaultKind, FaultSpec, PodTarget};
use edgeheal_chaos::generate::DEFAULT_START_NS;
use edgeheal_chaos::simcluster::{SimCluster, SimClusterConfig, OPT_IN_LABEL};
use edgeheal_chaos::{FaultStatus, FleetName, SimConfig};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::Client;
use serde_json::json;

const NS_PER_S: i64 = 1_000_000_000;

fn cluster() -> (SimCluster, Client) {
    let cfg = SimClusterConfig {
        token: None,
        ..SimClusterConfig::fleet_a_demo()
    };
    let sim = SimConfig {
        seed: 3,
        start_ns: DEFAULT_START_NS,
        interval_s: 15,
        fleet: FleetName::A.build(),
    };
    let c = SimCluster::new(sim, &cfg).expect("cluster");
    let client = Client::new(router(c.api().clone()), "default");
    (c, client)
}

fn ticks(c: &SimCluster, n: usize) -> Vec<edgeheal_chaos::Record> {
    let mut out = Vec::new();
    for _ in 0..n {
        c.step(&mut out).expect("step");
    }
    out
}

async fn pod_names(client: &Client, ns: &str, app: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

fn sim_pod_names(c: &SimCluster, ns: &str, name: &str) -> Vec<String> {
    c.with_sim(|s| {
        let mut v: Vec<String> = s
            .workload(ns, name)
            .map(|w| w.pods.iter().map(|p| p.meta.pod.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v
    })
}

#[tokio::test]
async fn deployments_show_the_simulation_with_opt_in_labels_and_no_other_kinds() {
    let (c, client) = cluster();
    let deps: Api<Deployment> = Api::all(client.clone());
    let list = deps.list(&ListParams::default()).await.expect("list");
    let mut names: Vec<(String, Option<String>)> = list
        .items
        .iter()
        .map(|d| {
            (
                format!(
                    "{}/{}",
                    d.metadata.namespace.clone().unwrap_or_default(),
                    d.metadata.name.clone().unwrap_or_default()
                ),
                d.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(OPT_IN_LABEL).cloned()),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("ml/recommender".to_owned(), Some("true".to_owned())),
            ("payments/ledger".to_owned(), None),
            ("shop/cart".to_owned(), Some("true".to_owned())),
            ("shop/storefront".to_owned(), Some("true".to_owned())),
        ]
    );
    assert_eq!(
        pod_names(&client, "shop", "cart").await,
        sim_pod_names(&c, "shop", "cart")
    );
    let ready = deps
        .clone()
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some("storefront"))
        .and_then(|d| d.status)
        .and_then(|s| s.ready_replicas);
    assert_eq!(ready, Some(4));
}

#[tokio::test]
async fn scaling_through_the_api_spreads_the_same_traffic_over_more_pods() {
    let (c, client) = cluster();
    ticks(&c, 4);
    let per_pod = |c: &SimCluster| {
        c.with_sim(|s| {
            let w = s.workload("shop", "cart").expect("cart");
            let now = s.now_ns();
            (w.offered_rps, w.offered_rps / w.ready_pods(now - 1) as f64)
        })
    };
    let (rps_before, per_pod_before) = per_pod(&c);
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deps.patch_scale(
        "cart",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 6}})),
    )
    .await
    .expect("scale");
    assert_eq!(sim_pod_names(&c, "shop", "cart").len(), 6);
    assert_eq!(pod_names(&client, "shop", "cart").await.len(), 6);
    ticks(&c, 4);
    let (rps_after, per_pod_after) = per_pod(&c);
    assert!(
        (rps_after / rps_before - 1.0).abs() < 0.3,
        "offered traffic stays: {rps_before} -> {rps_after}"
    );
    assert!(
        per_pod_after < per_pod_before * 0.7,
        "per-pod load falls: {per_pod_before} -> {per_pod_after}"
    );
    let ready = deps
        .get("cart")
        .await
        .expect("get")
        .status
        .and_then(|s| s.ready_replicas);
    assert_eq!(ready, Some(6), "new pods turn ready as the simulation runs");
    let refused = deps
        .patch_scale(
            "cart",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 500}})),
        )
        .await
        .expect_err("above the simulator's limit");
    assert!(matches!(refused, kube::Error::Api(s) if s.code == 403));
}

#[tokio::test]
async fn rollout_restart_replaces_every_pod_and_clears_a_leak() {
    let (c, client) = cluster();
    ticks(&c, 2);
    let now = c.now_ns();
    c.with_sim(|s| {
        s.inject(FaultSpec {
            id: "leak".into(),
            kind: FaultKind::MemoryLeak,
            namespace: "shop".into(),
            workload: "cart".into(),
            pod: PodTarget::Index(0),
            start_ns: now,
            end_ns: now + 3600 * NS_PER_S,
            intensity: 0.8,
        })
    })
    .expect("inject");
    ticks(&c, 2);
    let status = |c: &SimCluster| c.with_sim(|s| s.faults()[0].status);
    assert_eq!(status(&c), FaultStatus::Active);
    let before = pod_names(&client, "shop", "cart").await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    deps.patch(
        "cart",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2025-03-03T00:01:00Z"}}}}})),
    )
    .await
    .expect("restart");
    // Rolling: one surge pod at a time, each waiting for readiness.
    ticks(&c, 20);
    let after = pod_names(&client, "shop", "cart").await;
    assert_eq!(after.len(), before.len());
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} -> {after:?}"
    );
    assert_eq!(after, sim_pod_names(&c, "shop", "cart"));
    assert_eq!(status(&c), FaultStatus::Cleared);
}

#[tokio::test]
async fn a_deleted_pod_is_replaced_and_a_crash_loop_shows_in_restart_counts() {
    let (c, client) = cluster();
    ticks(&c, 1);
    let now = c.now_ns();
    c.with_sim(|s| {
        s.inject(FaultSpec {
            id: "crash".into(),
            kind: FaultKind::CrashLoop,
            namespace: "ml".into(),
            workload: "recommender".into(),
            pod: PodTarget::Index(0),
            start_ns: now,
            end_ns: now + 3600 * NS_PER_S,
            intensity: 0.9,
        })
    })
    .expect("inject");
    ticks(&c, 12);
    let victim = c.with_sim(|s| s.faults()[0].pod.clone()).expect("pod hit");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "ml");
    let p = pods.get(&victim).await.expect("victim");
    let restarts = p
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.first().map(|c| c.restart_count))
        .unwrap_or(0);
    assert!(restarts > 0, "restarts reflect the crash loop");
    pods.delete(&victim, &DeleteParams::default())
        .await
        .expect("delete");
    let names = pod_names(&client, "ml", "recommender").await;
    assert_eq!(names.len(), 2, "replaced at once: {names:?}");
    assert!(!names.contains(&victim));
    assert_eq!(names, sim_pod_names(&c, "ml", "recommender"));
    assert_eq!(c.with_sim(|s| s.faults()[0].status), FaultStatus::Cleared);
}

#[tokio::test]
async fn raising_an_hpa_minimum_scales_the_simulated_workload() {
    let (c, client) = cluster();
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), "shop");
    hpas.patch(
        "storefront",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minReplicas": 6}})),
    )
    .await
    .expect("raise min");
    assert_eq!(sim_pod_names(&c, "shop", "storefront").len(), 6);
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let replicas = deps
        .get("storefront")
        .await
        .expect("get")
        .spec
        .and_then(|s| s.replicas);
    assert_eq!(replicas, Some(6));
    assert_eq!(pod_names(&client, "shop", "storefront").await.len(), 6);
}

#[tokio::test]
async fn the_token_is_required_when_configured() {
    let sim = SimConfig {
        seed: 3,
        start_ns: DEFAULT_START_NS,
        interval_s: 15,
        fleet: FleetName::A.build(),
    };
    let c = SimCluster::new(sim, &SimClusterConfig::fleet_a_demo()).expect("cluster");
    assert_eq!(c.api().token(), Some(SIM_TOKEN));
}
