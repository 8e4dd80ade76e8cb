//! The kube-rs executor against a tower-test mock API server: for every action, the exact
//! requests kube-rs sends (method, path, query, content type, body) including dry-run
//! parameters and preconditions, and the failure paths (conflicts, throttling, server errors,
//! timeouts, exhausted retries, objects that changed or vanished).

use std::sync::Arc;
use std::time::Duration;

use edgeheal_healer::action::ActionKind;
use edgeheal_healer::clock::ManualClock;
use edgeheal_healer::cluster::{Cluster, ClusterError, EventNote, Target};
use edgeheal_healer::config::RetryConfig;
use edgeheal_healer::kube_cluster::{KubeCluster, REQUIRED_PERMISSIONS};
use edgeheal_healer::policy::Plan;
use edgeheal_healer::tags::WorkloadKind;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{json, Value};
use tokio::sync::watch;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type BodyCheck = Box<dyn Fn(&Value) + Send>;

/// One expected request and the answer the fake API server gives.
struct Step {
    method: Method,
    path: String,
    /// Query pairs that must be present, and the only ones allowed besides them.
    query: Vec<(&'static str, String)>,
    content_type: Option<&'static str>,
    check_body: Option<BodyCheck>,
    status: u16,
    reply: Value,
    /// Do not answer at all (the client's per-call timeout fires).
    hang: bool,
}

fn step(method: Method, path: &str) -> Step {
    Step {
        method,
        path: path.into(),
        query: vec![],
        content_type: None,
        check_body: None,
        status: 200,
        reply: json!({}),
        hang: false,
    }
}

impl Step {
    fn query(mut self, k: &'static str, v: &str) -> Self {
        self.query.push((k, v.into()));
        self
    }
    fn content_type(mut self, ct: &'static str) -> Self {
        self.content_type = Some(ct);
        self
    }
    fn body(mut self, f: impl Fn(&Value) + Send + 'static) -> Self {
        self.check_body = Some(Box::new(f));
        self
    }
    fn reply(mut self, status: u16, v: Value) -> Self {
        self.status = status;
        self.reply = v;
        self
    }
    fn hang(mut self) -> Self {
        self.hang = true;
        self
    }
}

/// What the API server answers an accepted eviction (201).
fn eviction_accepted() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("{reason} from the mock"), "reason": reason, "code": code})
}

fn serve(mut handle: Handle, steps: Vec<Step>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut parked = Vec::new();
        for (i, s) in steps.into_iter().enumerate() {
            let (req, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
                .await
                .unwrap_or_else(|_| panic!("step {i}: no request for {} {}", s.method, s.path))
                .unwrap_or_else(|| panic!("step {i}: client gone before {} {}", s.method, s.path));
            assert_eq!(req.method(), s.method, "step {i}: {}", req.uri());
            assert_eq!(req.uri().path(), s.path, "step {i}");
            let (group, resource, verb) = rbac_of(req.method(), req.uri().path());
            assert!(
                REQUIRED_PERMISSIONS
                    .iter()
                    .any(|(g, r, vs)| *g == group && *r == resource && vs.contains(&verb)),
                "step {i}: {} {} needs {verb} on {group}/{resource}, which rbac.yaml does not grant",
                req.method(),
                req.uri()
            );
            let pairs: Vec<(String, String)> =
                form_urlencoded_pairs(req.uri().query().unwrap_or(""));
            for (k, v) in &s.query {
                assert!(
                    pairs.iter().any(|(pk, pv)| pk == k && pv == v),
                    "step {i}: {}: missing {k}={v}",
                    req.uri()
                );
            }
            for (k, _) in &pairs {
                assert!(
                    s.query.iter().any(|(sk, _)| sk == k),
                    "step {i}: {}: unexpected query {k}",
                    req.uri()
                );
            }
            if let Some(ct) = s.content_type {
                assert_eq!(req.headers().get("content-type").unwrap(), ct, "step {i}");
            }
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            if let Some(check) = &s.check_body {
                let v: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("step {i}: body not JSON: {e}"));
                check(&v);
            }
            if s.hang {
                parked.push(send);
                continue;
            }
            let resp = Response::builder()
                .status(s.status)
                .body(Body::from(serde_json::to_vec(&s.reply).unwrap()))
                .unwrap();
            send.send_response(resp);
        }
        // Nothing else may be sent: no double action.
        if let Ok(Some((req, _))) =
            tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await
        {
            panic!("unexpected extra request {} {}", req.method(), req.uri());
        }
    })
}

/// The RBAC (API group, resource[/subresource], verb) a namespaced request needs, as the API
/// server's request-info resolver derives it: GET of a name is `get`, of a collection `list`;
/// PUT `update`, PATCH `patch`, DELETE `delete`, POST `create` (of a subresource too:
/// POST `pods/x/eviction` needs `create` on `pods/eviction`).
fn rbac_of(method: &Method, path: &str) -> (String, String, &'static str) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", "namespaces", _ns, rest @ ..] => ("", rest),
        ["apis", group, _version, "namespaces", _ns, rest @ ..] => (*group, rest),
        _ => panic!("not a namespaced API path: {path}"),
    };
    let (resource, named) = match rest {
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => panic!("unexpected API path: {path}"),
    };
    let verb = match (method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("POST", _) => "create",
        (m, _) => panic!("unexpected method {m} on {path}"),
    };
    (group.to_owned(), resource, verb)
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn cluster(max_attempts: u32) -> (KubeCluster, Handle) {
    cluster_with(RetryConfig {
        max_attempts,
        initial_backoff_ms: 1,
        max_backoff_ms: 5,
    })
}

/// A client whose heal API is stopping once the sender is set: 4 attempts a call, `backoff_ms`
/// between two.
fn stoppable_cluster(backoff_ms: u64) -> (KubeCluster, Handle, watch::Sender<bool>) {
    let (c, h) = cluster_with(RetryConfig {
        max_attempts: 4,
        initial_backoff_ms: backoff_ms,
        max_backoff_ms: backoff_ms,
    });
    let (stop, stopped) = watch::channel(false);
    (c.stopping_on(stopped), h, stop)
}

fn cluster_with(retry: RetryConfig) -> (KubeCluster, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let clock = Arc::new(ManualClock::new(
        jiff::Timestamp::from_second(1_795_255_200).unwrap(),
    ));
    (
        KubeCluster::new(
            client,
            retry,
            Duration::from_millis(300),
            "healer-0".into(),
            clock,
        ),
        handle,
    )
}

fn target(kind: WorkloadKind) -> Target {
    Target {
        namespace: "shop".into(),
        kind,
        name: "cart".into(),
    }
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/cart";
const DEPLOY_UID: &str = "d-uid-1";

fn deployment(paused: bool) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cart", "namespace": "shop", "uid": DEPLOY_UID, "resourceVersion": "100",
                     "labels": {"edgeheal.io/heal": "true", "app": "cart"}},
        "spec": {"replicas": 2, "paused": paused, "selector": {"matchLabels": {"app": "cart"}},
                 "template": {"metadata": {"labels": {"app": "cart"}}, "spec": {"containers": [{"name": "cart", "image": "cart:v2"}]}}}})
}

fn scale(replicas: i32, rv: &str) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "cart", "namespace": "shop", "resourceVersion": rv},
           "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
}

async fn finish(mock: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(Duration::from_secs(10), mock)
        .await
        .expect("mock timed out")
        .expect("scenario failed");
}

#[tokio::test]
async fn scale_up_reads_facts_then_replaces_the_scale_subresource() {
    for dry_run in [false, true] {
        let (c, h) = cluster(3);
        let mut put = step(Method::PUT, &format!("{DEPLOY}/scale"))
            .query("fieldManager", "edgeheal-healer")
            .content_type("application/json")
            .body(|b| {
                assert_eq!(b["spec"]["replicas"], 3);
                assert_eq!(
                    b["metadata"]["resourceVersion"], "100",
                    "optimistic concurrency precondition"
                );
            })
            .reply(200, scale(3, "101"));
        if dry_run {
            put = put.query("dryRun", "All");
        }
        let mock = serve(
            h,
            vec![
                step(Method::GET, DEPLOY).reply(200, deployment(false)),
                step(Method::GET, "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers")
                    .reply(200, json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": []})),
                step(Method::GET, &format!("{DEPLOY}/scale")).reply(200, scale(2, "100")),
                put,
            ],
        );
        let t = target(WorkloadKind::Deployment);
        let f = c.facts(&t, ActionKind::ScaleUp, None).await.unwrap();
        assert_eq!((f.kind, f.replicas), (WorkloadKind::Deployment, Some(2)));
        assert!(f.hpa.is_none());
        let out = c
            .execute(&t, &Plan::Scale { from: 2, to: 3 }, dry_run)
            .await
            .unwrap();
        assert!(out.contains("2 -> 3"), "{out}");
        assert_eq!(out.starts_with("dry-run"), dry_run);
        finish(mock).await;
    }
}

#[tokio::test]
async fn scale_conflict_rereads_and_never_adds_twice() {
    let (c, h) = cluster(4);
    let mock = serve(
        h,
        vec![
            step(Method::GET, &format!("{DEPLOY}/scale")).reply(200, scale(2, "100")),
            step(Method::PUT, &format!("{DEPLOY}/scale"))
                .query("fieldManager", "edgeheal-healer")
                .reply(409, status(409, "Conflict")),
            // Someone (or our lost first write) already reached the target: stop there.
            step(Method::GET, &format!("{DEPLOY}/scale")).reply(200, scale(3, "102")),
        ],
    );
    let out = c
        .execute(
            &target(WorkloadKind::Deployment),
            &Plan::Scale { from: 2, to: 3 },
            false,
        )
        .await
        .unwrap();
    assert!(out.contains("already at 3"), "{out}");
    finish(mock).await;
}

#[tokio::test]
async fn scale_retries_throttling_and_server_errors_then_gives_up() {
    let (c, h) = cluster(3);
    let mock = serve(
        h,
        vec![
            step(
                Method::GET,
                "/apis/apps/v1/namespaces/shop/statefulsets/cart/scale",
            )
            .reply(429, status(429, "TooManyRequests")),
            step(
                Method::GET,
                "/apis/apps/v1/namespaces/shop/statefulsets/cart/scale",
            )
            .reply(503, status(503, "ServiceUnavailable")),
            step(
                Method::GET,
                "/apis/apps/v1/namespaces/shop/statefulsets/cart/scale",
            )
            .reply(500, status(500, "InternalError")),
        ],
    );
    let err = c
        .execute(
            &target(WorkloadKind::Statefulset),
            &Plan::Scale { from: 1, to: 2 },
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Api { code: 500, .. }), "{err}");
    finish(mock).await;
}

#[tokio::test]
async fn rollout_status_is_read_from_the_deployment_and_server_errors_are_retried() {
    let (c, h) = cluster(3);
    let with_status = |generation: i64, status: Value| {
        let mut d = deployment(false);
        d["metadata"]["generation"] = json!(generation);
        d["status"] = status;
        d
    };
    let midway = with_status(
        3,
        json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}),
    );
    let done = with_status(
        3,
        json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
    );
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, midway),
            step(Method::GET, DEPLOY).reply(503, status(503, "ServiceUnavailable")),
            step(Method::GET, DEPLOY).reply(200, done),
            step(Method::GET, HPAS).reply(200, hpa_list(&[])),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    assert!(!c.rolled_out(&t).await.unwrap());
    assert!(c.rolled_out(&t).await.unwrap());
    finish(mock).await;
}

const HPAS: &str = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers";

fn hpa_list(items: &[(&str, &str, i32, i32)]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(name, target, min, max)| {
            json!({"metadata": {"name": name},
                   "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                            "minReplicas": min, "maxReplicas": max}})
        })
        .collect();
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": items})
}

#[tokio::test]
async fn a_raised_hpa_minimum_is_rolled_out_only_once_the_hpa_has_scaled_to_it() {
    let (c, h) = cluster(3);
    let with = |generation: i64, replicas: i32| {
        let mut d = deployment(false);
        d["metadata"]["generation"] = json!(generation);
        d["spec"]["replicas"] = json!(replicas);
        d["status"] = json!({"observedGeneration": generation, "replicas": replicas,
                             "updatedReplicas": replicas, "availableReplicas": replicas});
        d
    };
    let mock = serve(
        h,
        vec![
            // Right after minReplicas 2 -> 3: the Deployment is still the settled 2 replicas
            // (the HPA controller applies a new minimum on its next sync, 15 s by default).
            step(Method::GET, DEPLOY).reply(200, with(4, 2)),
            step(Method::GET, HPAS).reply(
                200,
                hpa_list(&[("other", "web", 5, 9), ("cart-hpa", "cart", 3, 6)]),
            ),
            // The HPA scaled to its minimum and the new pod is available.
            step(Method::GET, DEPLOY).reply(200, with(5, 3)),
            step(Method::GET, HPAS).reply(200, hpa_list(&[("cart-hpa", "cart", 3, 6)])),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    assert!(
        !c.rolled_out(&t).await.unwrap(),
        "HPA minimum not reached yet"
    );
    assert!(c.rolled_out(&t).await.unwrap());
    finish(mock).await;
}

#[tokio::test]
async fn forbidden_is_not_retried() {
    let (c, h) = cluster(4);
    let mock = serve(
        h,
        vec![step(Method::GET, DEPLOY).reply(403, status(403, "Forbidden"))],
    );
    let err = c
        .facts(
            &target(WorkloadKind::Deployment),
            ActionKind::RolloutRestart,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Api { code: 403, .. }), "{err}");
    finish(mock).await;
}

/// KEDA's HPA (`keda-hpa-<ScaledObject>`, the ScaledObject its controller owner, as KEDA's
/// reconciler creates it with `SetControllerReference`) is read as managed by it, and the
/// policy refuses to raise its minimum (`hpa_managed`): KEDA writes the HPA's spec back from
/// the ScaledObject's at its next reconcile. Before, the raise was made, verified as the
/// replicas came, and silently undone.
#[tokio::test]
async fn an_hpa_a_scaled_object_owns_is_read_as_managed_by_it() {
    let (c, h) = cluster(3);
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            step(Method::GET, HPAS).reply(
                200,
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": [
                    {"metadata": {"name": "keda-hpa-cart", "labels": {"app.kubernetes.io/managed-by": "keda-operator"},
                                  "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "cart",
                                                       "uid": "so-uid", "controller": true, "blockOwnerDeletion": true}]},
                     "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "cart", "apiVersion": "apps/v1"}, "minReplicas": 2, "maxReplicas": 6}}]}),
            ),
        ],
    );
    let f = c
        .facts(&target(WorkloadKind::Deployment), ActionKind::ScaleUp, None)
        .await
        .unwrap();
    let hpa = f.hpa.unwrap();
    assert_eq!(
        hpa.managed_by.as_deref(),
        Some("ScaledObject cart (keda.sh/v1alpha1)")
    );
    finish(mock).await;
}

#[tokio::test]
async fn hpa_min_is_raised_with_a_json_patch_test() {
    let (c, h) = cluster(3);
    let hpa_path = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/cart-hpa";
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            step(Method::GET, "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers").reply(
                200,
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": [
                    {"metadata": {"name": "other"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 9}},
                    {"metadata": {"name": "cart-hpa"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "cart", "apiVersion": "apps/v1"}, "minReplicas": 2, "maxReplicas": 6}}]}),
            ),
            step(Method::PATCH, hpa_path)
                .query("dryRun", "All")
                .query("fieldManager", "edgeheal-healer")
                .content_type("application/json-patch+json")
                .body(|b| {
                    assert_eq!(b, &json!([{"op": "test", "path": "/spec/minReplicas", "value": 2}, {"op": "replace", "path": "/spec/minReplicas", "value": 3}]));
                })
                .reply(200, json!({"metadata": {"name": "cart-hpa"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "cart"}, "minReplicas": 3, "maxReplicas": 6}})),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let f = c.facts(&t, ActionKind::ScaleUp, None).await.unwrap();
    let hpa = f.hpa.unwrap();
    assert_eq!(
        (hpa.name.as_str(), hpa.min_replicas, hpa.max_replicas),
        ("cart-hpa", 2, 6)
    );
    assert_eq!(hpa.managed_by, None);
    let out = c
        .execute(
            &t,
            &Plan::RaiseHpaMin {
                hpa: "cart-hpa".into(),
                replicas: 2,
                from: 2,
                to: 3,
            },
            true,
        )
        .await
        .unwrap();
    assert!(out.contains("minReplicas 2 -> 3"), "{out}");
    finish(mock).await;
}

#[tokio::test]
async fn an_hpa_raise_whose_answer_was_lost_is_read_back_not_failed() {
    let (c, h) = cluster(3);
    let hpa_path = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/cart-hpa";
    let patch = || {
        step(Method::PATCH, hpa_path)
            .query("fieldManager", "edgeheal-healer")
            .content_type("application/json-patch+json")
    };
    let hpa = |min: i32| {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "cart-hpa", "namespace": "shop"},
               "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "cart"}, "minReplicas": min, "maxReplicas": 6}})
    };
    let mock = serve(
        h,
        vec![
            // The first patch lands but its answer is lost (the call times out)...
            patch().hang(),
            // ...so the retry's `test` of the old minimum fails: 422, as the API server
            // answers a failed JSON-patch operation (patch.go, applyJSPatch).
            patch().reply(422, status(422, "Invalid")),
            // The healer reads the HPA back (RBAC `get`) and finds its own raise.
            step(Method::GET, hpa_path).reply(200, hpa(3)),
        ],
    );
    let out = c
        .execute(
            &target(WorkloadKind::Deployment),
            &Plan::RaiseHpaMin {
                hpa: "cart-hpa".into(),
                replicas: 2,
                from: 2,
                to: 3,
            },
            false,
        )
        .await
        .unwrap();
    assert!(out.contains("minReplicas already 3"), "{out}");
    finish(mock).await;
}

/// How the engine settles a raise whose outcome it does not know: a GET of the HPA (RBAC
/// `get`), its minReplicas, `None` when it is gone, retried on a server error.
#[tokio::test]
async fn an_hpa_is_read_back_for_its_minimum() {
    let (c, h) = cluster(3);
    let hpa_path = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/cart-hpa";
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "cart-hpa", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "cart"}, "minReplicas": 7, "maxReplicas": 10}});
    let mock = serve(
        h,
        vec![
            step(Method::GET, hpa_path).reply(503, status(503, "ServiceUnavailable")),
            step(Method::GET, hpa_path).reply(200, hpa),
            step(Method::GET, hpa_path).reply(404, status(404, "NotFound")),
        ],
    );
    assert_eq!(c.hpa_min_replicas("shop", "cart-hpa").await, Ok(Some(7)));
    assert_eq!(c.hpa_min_replicas("shop", "cart-hpa").await, Ok(None));
    finish(mock).await;
}

/// Regression: an HPA already running above its minimum got a minimum one step above the old
/// minimum, which added no replica and passed the rollout check at once. The plan now raises
/// the minimum above the replicas that run, and the workload has rolled it out only once it
/// runs that many available replicas.
#[tokio::test]
async fn an_hpa_above_its_minimum_gets_a_minimum_above_its_replicas_and_is_verified_at_it() {
    let (c, h) = cluster(3);
    let hpa_path = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/cart-hpa";
    // The HPA controller runs cart at 5 replicas; its minimum is 2.
    let with = |generation: i64, spec: i32, available: i32| {
        let mut d = deployment(false);
        d["metadata"]["generation"] = json!(generation);
        d["spec"]["replicas"] = json!(spec);
        d["status"] = json!({"observedGeneration": generation, "replicas": available,
                             "updatedReplicas": available, "availableReplicas": available});
        d
    };
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, with(7, 5, 5)),
            step(Method::GET, HPAS).reply(200, hpa_list(&[("cart-hpa", "cart", 2, 10)])),
            step(Method::PATCH, hpa_path)
                .query("fieldManager", "edgeheal-healer")
                .content_type("application/json-patch+json")
                .body(|b| {
                    assert_eq!(
                        b,
                        &json!([{"op": "test", "path": "/spec/minReplicas", "value": 2},
                                {"op": "replace", "path": "/spec/minReplicas", "value": 6}])
                    );
                })
                .reply(200, json!({"metadata": {"name": "cart-hpa"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "cart"}, "minReplicas": 6, "maxReplicas": 10}})),
            // Before the HPA's next sync: still the settled 5 replicas, below the new minimum.
            step(Method::GET, DEPLOY).reply(200, with(7, 5, 5)),
            step(Method::GET, HPAS).reply(200, hpa_list(&[("cart-hpa", "cart", 6, 10)])),
            // The HPA asked for 6; the sixth pod is not available yet.
            step(Method::GET, DEPLOY).reply(200, with(8, 6, 5)),
            // Six available replicas: rolled out.
            step(Method::GET, DEPLOY).reply(200, with(8, 6, 6)),
            step(Method::GET, HPAS).reply(200, hpa_list(&[("cart-hpa", "cart", 6, 10)])),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let f = c.facts(&t, ActionKind::ScaleUp, None).await.unwrap();
    let plan = decide(&f, ActionKind::ScaleUp).unwrap();
    assert_eq!(
        plan,
        Plan::RaiseHpaMin {
            hpa: "cart-hpa".into(),
            replicas: 5,
            from: 2,
            to: 6
        }
    );
    let out = c.execute(&t, &plan, false).await.unwrap();
    assert!(out.contains("minReplicas 2 -> 6 (5 replicas ran)"), "{out}");
    assert!(!c.rolled_out(&t).await.unwrap(), "5 replicas, minimum 6");
    assert!(
        !c.rolled_out(&t).await.unwrap(),
        "sixth replica not available"
    );
    assert!(c.rolled_out(&t).await.unwrap());
    finish(mock).await;
}

/// Giving back a raised minimum: a JSON patch whose `test` is the value edgeheal left, in
/// enforce and dry-run; a minimum someone else changed is a conflict, left alone; a restore
/// whose answer was lost is read back.
#[tokio::test]
async fn a_raised_hpa_minimum_is_given_back_with_a_json_patch_test() {
    let hpa_path = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/cart-hpa";
    let hpa = |min: i32| {
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "cart-hpa", "namespace": "shop"},
               "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "cart"}, "minReplicas": min, "maxReplicas": 10}})
    };
    let restore = Plan::RestoreHpaMin {
        hpa: "cart-hpa".into(),
        from: 6,
        to: 2,
    };
    let patch = move |dry_run: bool| {
        let mut s = step(Method::PATCH, hpa_path)
            .query("fieldManager", "edgeheal-healer")
            .content_type("application/json-patch+json")
            .body(|b| {
                assert_eq!(
                    b,
                    &json!([{"op": "test", "path": "/spec/minReplicas", "value": 6},
                            {"op": "replace", "path": "/spec/minReplicas", "value": 2}])
                );
            });
        if dry_run {
            s = s.query("dryRun", "All");
        }
        s
    };
    let t = target(WorkloadKind::Deployment);
    for dry_run in [false, true] {
        let (c, h) = cluster(3);
        let mock = serve(h, vec![patch(dry_run).reply(200, hpa(2))]);
        let out = c.execute(&t, &restore, dry_run).await.unwrap();
        assert!(out.contains("HPA cart-hpa minReplicas 6 -> 2"), "{out}");
        assert_eq!(out.starts_with("dry-run"), dry_run, "{out}");
        finish(mock).await;
    }
    // Someone set the minimum to 9: the test fails (422), the HPA is read back and left.
    let (c, h) = cluster(3);
    let mock = serve(
        h,
        vec![
            patch(false).reply(422, status(422, "Invalid")),
            step(Method::GET, hpa_path).reply(200, hpa(9)),
        ],
    );
    let err = c.execute(&t, &restore, false).await.unwrap_err();
    assert!(
        matches!(&err, ClusterError::Conflict(m) if m.contains("minReplicas is 9, not the 6 edgeheal set")),
        "{err}"
    );
    finish(mock).await;
    // The first patch landed but its answer was lost: the retry's test fails, and the read
    // finds the minimum already given back.
    let (c, h) = cluster(3);
    let mock = serve(
        h,
        vec![
            patch(false).hang(),
            patch(false).reply(422, status(422, "Invalid")),
            step(Method::GET, hpa_path).reply(200, hpa(2)),
        ],
    );
    let out = c.execute(&t, &restore, false).await.unwrap();
    assert!(out.contains("minReplicas already 2"), "{out}");
    finish(mock).await;
    // The HPA is gone.
    let (c, h) = cluster(3);
    let mock = serve(h, vec![patch(false).reply(404, status(404, "NotFound"))]);
    let err = c.execute(&t, &restore, false).await.unwrap_err();
    assert!(matches!(err, ClusterError::NotFound(_)), "{err}");
    finish(mock).await;
}

#[tokio::test]
async fn restart_patches_restarted_at_and_retries_a_timeout_with_the_same_value() {
    let (c, h) = cluster(3);
    let check = |b: &Value| {
        assert_eq!(
            b,
            &json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-21T10:00:00Z"}}}}})
        );
    };
    let mock = serve(
        h,
        vec![
            step(Method::PATCH, DEPLOY)
                .query("fieldManager", "edgeheal-healer")
                .content_type("application/merge-patch+json")
                .body(check)
                .hang(),
            step(Method::PATCH, DEPLOY)
                .query("fieldManager", "edgeheal-healer")
                .content_type("application/merge-patch+json")
                .body(check)
                .reply(200, deployment(false)),
        ],
    );
    let out = c
        .execute(&target(WorkloadKind::Deployment), &Plan::Restart, false)
        .await
        .unwrap();
    assert!(out.contains("restartedAt=2026-11-21T10:00:00Z"), "{out}");
    finish(mock).await;
}

#[tokio::test]
async fn restart_dry_run_for_daemonsets() {
    let (c, h) = cluster(1);
    let mock = serve(
        h,
        vec![step(
            Method::PATCH,
            "/apis/apps/v1/namespaces/shop/daemonsets/cart",
        )
        .query("dryRun", "All")
        .query("fieldManager", "edgeheal-healer")
        .reply(200, json!({"metadata": {"name": "cart"}}))],
    );
    c.execute(&target(WorkloadKind::Daemonset), &Plan::Restart, true)
        .await
        .unwrap();
    finish(mock).await;
}

const STS: &str = "/apis/apps/v1/namespaces/shop/statefulsets/cart";
const DS: &str = "/apis/apps/v1/namespaces/shop/daemonsets/cart";

/// A StatefulSet `cart` of 3 replicas at generation 4 updating with `strategy`, its status
/// `status`.
fn statefulset(strategy: Value, status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "cart", "namespace": "shop", "uid": "s-uid-1", "resourceVersion": "40",
                     "generation": 4, "labels": {"edgeheal.io/heal": "true"}},
        "spec": {"replicas": 3, "serviceName": "cart", "selector": {"matchLabels": {"app": "cart"}},
                 "updateStrategy": strategy,
                 "template": {"metadata": {"labels": {"app": "cart"}}, "spec": {"containers": [{"name": "cart", "image": "cart:v2"}]}}},
        "status": status})
}

/// A DaemonSet `cart` at generation 7 on 5 nodes updating with `strategy`, its status
/// `status`.
fn daemonset(strategy: &str, status: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "cart", "namespace": "shop", "uid": "ds-uid-1", "resourceVersion": "70",
                     "generation": 7, "labels": {"edgeheal.io/heal": "true"}},
        "spec": {"selector": {"matchLabels": {"app": "cart"}}, "updateStrategy": {"type": strategy},
                 "template": {"metadata": {"labels": {"app": "cart"}}, "spec": {"containers": [{"name": "cart", "image": "cart:v2"}]}}},
        "status": status})
}

/// The guards of a config allowing namespace `shop`, and a moment's context.
fn decide(f: &edgeheal_healer::policy::Facts, action: ActionKind) -> Result<Plan, String> {
    use edgeheal_healer::policy::{evaluate, Context, Guards};
    let cfg = edgeheal_healer::Config::from_yaml(
        "store: { path: /tmp/x.db }\nauth: { keys_dir: /tmp/k }\nguards: { namespaces: [shop] }\n",
    )
    .unwrap();
    let guards = Guards {
        guards: &cfg.guards,
        budget: &cfg.budget,
        engine: &cfg.engine,
        soft_heal: None,
    };
    let now = jiff::Timestamp::from_second(1_795_255_200).unwrap();
    let ctx = Context {
        now,
        namespace: "shop",
        incident_opened_at: now,
        pod_named: None,
        last_action_on_target: None,
        evidence_at: now,
        actions_in_window: 0,
        failures_in_window: 0,
    };
    evaluate(guards, action, &ctx, Some(f)).map_err(|r| format!("{}: {}", r.code, r.reason))
}

/// The update strategy is read with the workload: a restart of a StatefulSet or DaemonSet
/// that updates `OnDelete`, or of a partitioned StatefulSet, is not planned (no PATCH of its
/// template is sent), and one of a StatefulSet that rolls every pod is.
#[tokio::test]
async fn a_restart_is_planned_only_for_a_workload_that_replaces_every_pod() {
    use edgeheal_healer::policy::UpdateStrategy;
    let partitioned = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}});
    let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
    let (c, h) = cluster(1);
    let mock = serve(
        h,
        vec![
            step(Method::GET, STS).reply(200, statefulset(json!({"type": "OnDelete"}), json!({}))),
            step(Method::GET, DS).reply(200, daemonset("OnDelete", json!({"desiredNumberScheduled": 5, "currentNumberScheduled": 5, "numberMisscheduled": 0, "numberReady": 5}))),
            step(Method::GET, STS).reply(200, statefulset(partitioned, json!({}))),
            step(Method::GET, STS).reply(200, statefulset(rolling, json!({}))),
        ],
    );
    let cases = [
        (
            WorkloadKind::Statefulset,
            UpdateStrategy::OnDelete,
            Err("on_delete: statefulset updates its pods OnDelete: a restart would change its template and replace no pod".to_owned()),
        ),
        (
            WorkloadKind::Daemonset,
            UpdateStrategy::OnDelete,
            Err("on_delete: daemonset updates its pods OnDelete: a restart would change its template and replace no pod".to_owned()),
        ),
        (
            WorkloadKind::Statefulset,
            UpdateStrategy::Partitioned { partition: 2 },
            Err("partitioned: statefulset rolls out with partition 2: a restart would replace only the pods of ordinal 2 and up (1 of 3)".to_owned()),
        ),
        (
            WorkloadKind::Statefulset,
            UpdateStrategy::Replaces,
            Ok(Plan::Restart),
        ),
    ];
    for (kind, strategy, plan) in cases {
        let f = c
            .facts(&target(kind), ActionKind::RolloutRestart, None)
            .await
            .unwrap();
        assert_eq!(f.update_strategy, strategy, "{kind:?}");
        assert_eq!(decide(&f, ActionKind::RolloutRestart), plan, "{kind:?}");
    }
    finish(mock).await;
}

/// A partitioned StatefulSet never makes its update revision current, and an `OnDelete`
/// DaemonSet never updates its pods itself: judged by those, neither was ever rolled out, and
/// the engine waited out a whole verify window before verifying any action on them.
#[tokio::test]
async fn a_partitioned_statefulset_and_an_on_delete_daemonset_are_judged_as_kubectl_does() {
    let (c, h) = cluster(1);
    let partitioned = || json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
    let sts_status = |updated: i32| {
        json!({"observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "updatedReplicas": updated,
               "currentReplicas": 3 - updated, "currentRevision": "cart-6b", "updateRevision": "cart-7c"})
    };
    let ds_status = |available: i32| {
        json!({"observedGeneration": 7, "desiredNumberScheduled": 5, "currentNumberScheduled": 5,
               "numberMisscheduled": 0, "numberReady": available, "updatedNumberScheduled": 1,
               "numberAvailable": available})
    };
    let mock = serve(
        h,
        vec![
            // Ordinal 2 updated, ordinal 1 still to go.
            step(Method::GET, STS).reply(200, statefulset(partitioned(), sts_status(1))),
            // Ordinals 1 and 2 updated; ordinal 0 stays below the partition.
            step(Method::GET, STS).reply(200, statefulset(partitioned(), sts_status(2))),
            step(Method::GET, HPAS).reply(200, hpa_list(&[])),
            // One pod of five replaced (an evicted one); one not available yet.
            step(Method::GET, DS).reply(200, daemonset("OnDelete", ds_status(4))),
            step(Method::GET, DS).reply(200, daemonset("OnDelete", ds_status(5))),
        ],
    );
    let sts = target(WorkloadKind::Statefulset);
    assert!(!c.rolled_out(&sts).await.unwrap(), "ordinal 1 not updated");
    assert!(c.rolled_out(&sts).await.unwrap());
    let ds = target(WorkloadKind::Daemonset);
    assert!(!c.rolled_out(&ds).await.unwrap(), "a pod not available");
    assert!(c.rolled_out(&ds).await.unwrap());
    finish(mock).await;
}

fn pod(uid: &str, rv: &str, owner: Option<(&str, &str, &str)>) -> Value {
    let owners: Vec<Value> = owner
        .into_iter()
        .map(|(kind, name, uid)| json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cart-5d-abc", "namespace": "shop", "uid": uid, "resourceVersion": rv, "ownerReferences": owners}})
}

fn replicaset(
    name: &str,
    uid: &str,
    owner_uid: &str,
    revision: &str,
    created: &str,
    image: &str,
) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "shop", "uid": uid, "creationTimestamp": created,
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart", "uid": owner_uid, "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "cart"}},
            "template": {"metadata": {"labels": {"app": "cart", "pod-template-hash": "5d"}}, "spec": {"containers": [{"name": "cart", "image": image}]}}}})
}

#[tokio::test]
async fn delete_pod_checks_ownership_and_evicts_with_preconditions() {
    let (c, h) = cluster(3);
    let pod_path = "/api/v1/namespaces/shop/pods/cart-5d-abc";
    let eviction = format!("{pod_path}/eviction");
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            step(Method::GET, pod_path).reply(
                200,
                pod("p-uid", "500", Some(("ReplicaSet", "cart-5d", "rs-uid"))),
            ),
            step(
                Method::GET,
                "/apis/apps/v1/namespaces/shop/replicasets/cart-5d",
            )
            .reply(
                200,
                replicaset(
                    "cart-5d",
                    "rs-uid",
                    DEPLOY_UID,
                    "2",
                    "2026-11-21T09:00:00Z",
                    "cart:v2",
                ),
            ),
            // An Eviction (PodDisruptionBudgets hold), its deleteOptions carrying the
            // preconditions under the key the API server reads.
            step(Method::POST, &eviction)
                .query("dryRun", "All")
                .query("fieldManager", "edgeheal-healer")
                .content_type("application/json")
                .body(|b| {
                    assert_eq!(b["apiVersion"], "policy/v1");
                    assert_eq!(b["kind"], "Eviction");
                    assert_eq!(
                        b["metadata"],
                        json!({"name": "cart-5d-abc", "namespace": "shop"})
                    );
                    assert_eq!(
                        b["deleteOptions"]["preconditions"],
                        json!({"uid": "p-uid", "resourceVersion": "500"})
                    );
                })
                .reply(409, status(409, "Conflict")),
            // The precondition failed: same pod (same uid), newer resourceVersion -> retry.
            step(Method::GET, pod_path).reply(
                200,
                pod("p-uid", "501", Some(("ReplicaSet", "cart-5d", "rs-uid"))),
            ),
            step(Method::POST, &eviction)
                .query("dryRun", "All")
                .query("fieldManager", "edgeheal-healer")
                .body(|b| {
                    assert_eq!(
                        b["deleteOptions"]["preconditions"],
                        json!({"uid": "p-uid", "resourceVersion": "501"})
                    )
                })
                .reply(201, eviction_accepted()),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let f = c
        .facts(&t, ActionKind::DeletePod, Some("cart-5d-abc"))
        .await
        .unwrap();
    let p = f.pod.unwrap();
    assert!(p.owned_by_target);
    let plan = Plan::DeletePod {
        name: p.name,
        uid: p.uid,
        resource_version: p.resource_version,
    };
    let out = c.execute(&t, &plan, true).await.unwrap();
    assert!(out.contains("evicted pod cart-5d-abc"), "{out}");
    finish(mock).await;
}

#[tokio::test]
async fn a_pod_of_another_deployment_is_not_owned_and_a_replaced_pod_is_left_alone() {
    let (c, h) = cluster(3);
    let pod_path = "/api/v1/namespaces/shop/pods/cart-5d-abc";
    let eviction = format!("{pod_path}/eviction");
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            step(Method::GET, pod_path).reply(
                200,
                pod("p-uid", "500", Some(("ReplicaSet", "billing-7", "rs-x"))),
            ),
            step(
                Method::GET,
                "/apis/apps/v1/namespaces/shop/replicasets/billing-7",
            )
            .reply(
                200,
                replicaset(
                    "billing-7",
                    "rs-x",
                    "another-deployment",
                    "1",
                    "2026-11-21T09:00:00Z",
                    "billing:v1",
                ),
            ),
            // Execution path: precondition fails and the pod now has another uid.
            step(Method::POST, &eviction)
                .query("fieldManager", "edgeheal-healer")
                .reply(409, status(409, "Conflict")),
            step(Method::GET, pod_path).reply(200, pod("new-uid", "9", None)),
            // And a pod that is already gone.
            step(Method::POST, &eviction)
                .query("fieldManager", "edgeheal-healer")
                .reply(404, status(404, "NotFound")),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let f = c
        .facts(&t, ActionKind::DeletePod, Some("cart-5d-abc"))
        .await
        .unwrap();
    assert!(
        !f.pod.unwrap().owned_by_target,
        "names in records are never trusted"
    );
    let plan = Plan::DeletePod {
        name: "cart-5d-abc".into(),
        uid: "p-uid".into(),
        resource_version: "500".into(),
    };
    assert!(c
        .execute(&t, &plan, false)
        .await
        .unwrap()
        .contains("already replaced"));
    assert!(c
        .execute(&t, &plan, false)
        .await
        .unwrap()
        .contains("already gone"));
    finish(mock).await;
}

/// The target's previous ReplicaSet (revision 1, `cart:v1`), the one rollbacks go back to.
fn cart_old() -> Value {
    replicaset(
        "cart-old",
        "rs-1",
        DEPLOY_UID,
        "1",
        "2026-11-20T09:00:00Z",
        "cart:v1",
    )
}

/// The rollback's read of [`cart_old`].
fn get_cart_old() -> Step {
    step(
        Method::GET,
        "/apis/apps/v1/namespaces/shop/replicasets/cart-old",
    )
    .reply(200, cart_old())
}

#[tokio::test]
async fn rollback_restores_the_previous_replicaset_template() {
    let (c, h) = cluster(3);
    let rs_list = json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": [
        cart_old(),
        replicaset("cart-new", "rs-2", DEPLOY_UID, "2", "2026-11-21T09:55:00Z", "cart:v2"),
        replicaset("stranger", "rs-9", "other-uid", "7", "2026-11-21T09:58:00Z", "evil:v9")]});
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            step(Method::GET, "/apis/apps/v1/namespaces/shop/replicasets")
                .query("labelSelector", "app=cart")
                .reply(200, rs_list),
            get_cart_old(),
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            step(Method::PATCH, DEPLOY)
                .query("fieldManager", "edgeheal-healer")
                .content_type("application/json-patch+json")
                .body(|b| {
                    assert_eq!(
                        b[0],
                        json!({"op": "test", "path": "/metadata/resourceVersion", "value": "100"})
                    );
                    assert_eq!(b[1]["op"], "replace");
                    assert_eq!(b[1]["path"], "/spec/template");
                    assert_eq!(b[1]["value"]["spec"]["containers"][0]["image"], "cart:v1");
                    assert_eq!(
                        b[1]["value"]["metadata"]["labels"],
                        json!({"app": "cart"}),
                        "pod-template-hash removed"
                    );
                })
                .reply(200, deployment(false)),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let f = c.facts(&t, ActionKind::Rollback, None).await.unwrap();
    let r = f.rollout.unwrap();
    assert_eq!(r.current_revision, 2);
    assert_eq!(r.previous, Some(("cart-old".to_string(), 1)));
    assert_eq!(r.current_since.to_string(), "2026-11-21T09:55:00Z");
    let out = c
        .execute(
            &t,
            &Plan::Rollback {
                replica_set: "cart-old".into(),
                revision: 1,
            },
            false,
        )
        .await
        .unwrap();
    assert!(out.contains("revision 1"), "{out}");
    finish(mock).await;
}

/// A Deployment selecting its pods with matchExpressions too: the ReplicaSets are listed
/// with the whole selector, set-based requirements included. Listing by matchLabels alone
/// would find ReplicaSets the Deployment does not select (the owner check keeps strangers
/// out, but the selector is what the API server and `kubectl rollout undo` go by); one that
/// selects everything gives no rollback facts.
#[tokio::test]
async fn rollback_lists_replicasets_with_the_whole_selector() {
    let (c, h) = cluster(3);
    let mut d = deployment(false);
    d["spec"]["selector"] = json!({"matchLabels": {"app": "cart"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web", "api"]},
        {"key": "canary", "operator": "DoesNotExist"}]});
    let mut everything = deployment(false);
    everything["spec"]["selector"] = json!({});
    let rs_list = json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": [
        cart_old(),
        replicaset("cart-new", "rs-2", DEPLOY_UID, "2", "2026-11-21T09:55:00Z", "cart:v2")]});
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, d),
            step(Method::GET, "/apis/apps/v1/namespaces/shop/replicasets")
                .query("labelSelector", "app=cart,tier in (api,web),!canary")
                .reply(200, rs_list),
            step(Method::GET, DEPLOY).reply(200, everything),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let f = c.facts(&t, ActionKind::Rollback, None).await.unwrap();
    let r = f.rollout.expect("rollout facts");
    assert_eq!(r.current_revision, 2);
    assert_eq!(r.previous, Some(("cart-old".to_string(), 1)));
    let f = c.facts(&t, ActionKind::Rollback, None).await.unwrap();
    assert!(f.rollout.is_none(), "a selector of everything: no facts");
    finish(mock).await;
}

#[tokio::test]
async fn a_rollback_racing_a_status_write_reads_again_instead_of_failing() {
    let (c, h) = cluster(3);
    let changed = || {
        let mut d = deployment(false);
        d["metadata"]["resourceVersion"] = json!("101");
        d["status"] = json!({"observedGeneration": 1, "replicas": 2, "unavailableReplicas": 1});
        d
    };
    let patch = |rv: &'static str| {
        step(Method::PATCH, DEPLOY)
            .query("fieldManager", "edgeheal-healer")
            .content_type("application/json-patch+json")
            .body(move |b| {
                assert_eq!(
                    b[0],
                    json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv})
                );
            })
    };
    let mock = serve(
        h,
        vec![
            get_cart_old(),
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            // The deployment controller wrote the status between the read and the patch: the
            // `test` of resourceVersion fails, which the API server answers 422, not 409.
            patch("100").reply(422, status(422, "Invalid")),
            step(Method::GET, DEPLOY).reply(200, changed()),
            // Read again, tested against the new resourceVersion.
            step(Method::GET, DEPLOY).reply(200, changed()),
            patch("101").reply(200, deployment(false)),
        ],
    );
    let out = c
        .execute(
            &target(WorkloadKind::Deployment),
            &Plan::Rollback {
                replica_set: "cart-old".into(),
                revision: 1,
            },
            false,
        )
        .await
        .unwrap();
    assert!(out.contains("rolled back to revision 1"), "{out}");
    finish(mock).await;
}

#[tokio::test]
async fn a_rollback_patch_the_api_server_rejects_is_not_retried() {
    let (c, h) = cluster(3);
    let mock = serve(
        h,
        vec![
            get_cart_old(),
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            // Invalid for another reason (e.g. an admission policy): same resourceVersion.
            step(Method::PATCH, DEPLOY)
                .query("fieldManager", "edgeheal-healer")
                .reply(422, status(422, "Invalid")),
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
        ],
    );
    let err = c
        .execute(
            &target(WorkloadKind::Deployment),
            &Plan::Rollback {
                replica_set: "cart-old".into(),
                revision: 1,
            },
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Api { code: 422, .. }), "{err}");
    finish(mock).await;
}

#[tokio::test]
async fn an_event_note_fits_the_api_servers_1024_byte_limit() {
    let (c, h) = cluster(1);
    let mock = serve(
        h,
        vec![step(
            Method::POST,
            "/apis/events.k8s.io/v1/namespaces/shop/events",
        )
        .query("fieldManager", "edgeheal-healer")
        .body(|b| {
            let note = b["note"].as_str().unwrap();
            // legacyValidateEvent: len(message) > 1024 is invalid; Go's len counts bytes.
            assert!(note.len() <= 1024, "{} bytes", note.len());
            assert!(note.starts_with("ééé"));
        })
        .reply(201, json!({"metadata": {"name": "cart.edgeheal-x"}}))],
    );
    let ev = EventNote {
        type_: "Warning",
        reason: "RemediationFailed",
        action: "rollback".into(),
        note: "é".repeat(900),
        at: "2026-11-21T10:00:00Z".parse().unwrap(),
    };
    c.record_event(
        &target(WorkloadKind::Deployment),
        Some(DEPLOY_UID),
        &ev,
        false,
    )
    .await
    .unwrap();
    finish(mock).await;
}

#[tokio::test]
async fn events_are_created_in_events_k8s_io_regarding_the_target() {
    let (c, h) = cluster(2);
    let mock = serve(
        h,
        vec![step(Method::POST, "/apis/events.k8s.io/v1/namespaces/shop/events")
            .query("dryRun", "All")
            .query("fieldManager", "edgeheal-healer")
            .body(|b| {
                assert_eq!(b["metadata"]["generateName"], "cart.edgeheal-");
                assert_eq!(b["regarding"], json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart", "namespace": "shop", "uid": "d-uid-1"}));
                assert_eq!(b["reason"], "Refused");
                assert_eq!(b["type"], "Warning");
                assert_eq!(b["action"], "scale_up");
                assert_eq!(b["reportingController"], "edgeheal.io/healer");
                assert_eq!(b["reportingInstance"], "healer-0");
                // When the engine recorded it, not when it was posted (the clock says 10:00):
                // Events are posted in the background, late under a brownout.
                assert_eq!(b["eventTime"], "2026-11-21T09:59:20.250000Z");
            })
            .reply(201, json!({"metadata": {"name": "cart.edgeheal-x"}}))],
    );
    let ev = EventNote {
        type_: "Warning",
        reason: "Refused",
        action: "scale_up".into(),
        note: "budget exhausted".into(),
        at: "2026-11-21T09:59:20.25Z".parse().unwrap(),
    };
    c.record_event(
        &target(WorkloadKind::Deployment),
        Some(DEPLOY_UID),
        &ev,
        true,
    )
    .await
    .unwrap();
    finish(mock).await;
}

#[tokio::test]
async fn missing_workload_is_not_found_and_jobs_are_unsupported() {
    let (c, h) = cluster(3);
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(404, status(404, "NotFound")),
            // No Rollout of that name either (or no Argo Rollouts CRD: also a 404).
            step(Method::GET, ROLLOUT).reply(404, status(404, "NotFound")),
            step(Method::GET, DEPLOY).reply(404, status(404, "NotFound")),
            // Nor RBAC for it: the Deployment's 404 is what is reported.
            step(Method::GET, ROLLOUT).reply(403, status(403, "Forbidden")),
        ],
    );
    for _ in 0..2 {
        let err = c
            .facts(&target(WorkloadKind::Deployment), ActionKind::ScaleUp, None)
            .await
            .unwrap_err();
        assert_eq!(err, ClusterError::NotFound("shop/deployment/cart".into()));
    }
    let err = c
        .facts(&target(WorkloadKind::Job), ActionKind::ScaleUp, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Unsupported(_)), "{err}");
    finish(mock).await;
}

/// A PodDisruptionBudget that does not allow the eviction now is a refusal: one request, no
/// retry, and the error says why. A 429 from API Priority and Fairness is throttling, retried.
#[tokio::test]
async fn an_eviction_a_disruption_budget_refuses_is_not_retried_but_throttling_is() {
    let (c, h) = cluster(3);
    let eviction = "/api/v1/namespaces/shop/pods/cart-5d-abc/eviction";
    let mock = serve(
        h,
        vec![
            step(Method::POST, eviction)
                .query("fieldManager", "edgeheal-healer")
                .reply(
                    429,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                        "reason": "TooManyRequests",
                        "details": {"causes": [{"reason": "DisruptionBudget",
                            "message": "The disruption budget cart-pdb needs 2 healthy pods and has 2 currently"}]},
                        "code": 429}),
                ),
            // The next plan: throttled once, then accepted.
            step(Method::POST, eviction)
                .query("fieldManager", "edgeheal-healer")
                .reply(429, status(429, "TooManyRequests")),
            step(Method::POST, eviction)
                .query("fieldManager", "edgeheal-healer")
                .reply(201, eviction_accepted()),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let plan = Plan::DeletePod {
        name: "cart-5d-abc".into(),
        uid: "p-uid".into(),
        resource_version: "500".into(),
    };
    match c.execute(&t, &plan, false).await {
        Err(ClusterError::Api {
            code: 429, reason, ..
        }) => assert_eq!(reason, "DisruptionBudget"),
        other => panic!("expected the budget's refusal, got {other:?}"),
    }
    let out = c.execute(&t, &plan, false).await.unwrap();
    assert!(out.contains("evicted pod cart-5d-abc"), "{out}");
    finish(mock).await;
}

const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/cart";
const ROLLOUT_UID: &str = "ro-uid-1";

fn argo_rollout(generation: i64, status: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "cart", "namespace": "shop", "uid": ROLLOUT_UID, "resourceVersion": "300",
                     "generation": generation, "labels": {"edgeheal.io/heal": "true"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "cart"}},
                 "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
                 "template": {"metadata": {"labels": {"app": "cart"}}, "spec": {"containers": [{"name": "cart", "image": "cart:v2"}]}}},
        "status": status})
}

fn rollout_hpa_list() -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {},
           "items": [{"metadata": {"name": "cart-hpa"},
                      "spec": {"scaleTargetRef": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "cart"},
                               "minReplicas": 2, "maxReplicas": 6}}]})
}

/// An Argo Rollout: its facts from the Rollout (its HPA names it by kind `Rollout`), scaled
/// through `rollouts/scale`, restarted as `kubectl argo rollouts restart` does (a merge patch
/// of `spec.restartAt`), and rolled out only when its controller reports it `Healthy` with the
/// restart done.
#[tokio::test]
async fn an_argo_rollout_is_scaled_restarted_and_verified_through_its_own_api() {
    let (c, h) = cluster(3);
    let healthy = json!({"observedGeneration": "8", "phase": "Healthy", "HPAReplicas": 2});
    let mut restarting = healthy.clone();
    restarting["observedGeneration"] = json!("9");
    restarting["restartedAt"] = json!("2026-11-20T08:00:00Z");
    let mut restarted = restarting.clone();
    restarted["restartedAt"] = json!("2026-11-21T10:00:00Z");
    let with_restart = |mut r: Value| {
        r["spec"]["restartAt"] = json!("2026-11-21T10:00:00Z");
        r
    };
    let mock = serve(
        h,
        vec![
            step(Method::GET, ROLLOUT).reply(200, argo_rollout(8, healthy.clone())),
            step(Method::GET, HPAS).reply(200, rollout_hpa_list()),
            step(Method::GET, ROLLOUT).reply(200, argo_rollout(8, healthy)),
            step(Method::GET, &format!("{ROLLOUT}/scale")).reply(200, scale(2, "300")),
            step(Method::PUT, &format!("{ROLLOUT}/scale"))
                .query("fieldManager", "edgeheal-healer")
                .body(|b| {
                    assert_eq!(b["spec"]["replicas"], 3);
                    assert_eq!(b["metadata"]["resourceVersion"], "300");
                })
                .reply(200, scale(3, "301")),
            step(Method::PATCH, ROLLOUT)
                .query("fieldManager", "edgeheal-healer")
                .content_type("application/merge-patch+json")
                .body(|b| assert_eq!(b, &json!({"spec": {"restartAt": "2026-11-21T10:00:00Z"}})))
                .reply(200, json!({})),
            // Seen by the controller, pods older than restartAt still running.
            step(Method::GET, ROLLOUT).reply(200, with_restart(argo_rollout(9, restarting))),
            step(Method::GET, ROLLOUT).reply(200, with_restart(argo_rollout(9, restarted))),
            step(Method::GET, HPAS).reply(200, rollout_hpa_list()),
        ],
    );
    let t = target(WorkloadKind::Rollout);
    let f = c.facts(&t, ActionKind::ScaleUp, None).await.unwrap();
    assert_eq!(
        (f.uid.as_str(), f.replicas, f.paused),
        (ROLLOUT_UID, Some(2), false)
    );
    assert_eq!(f.hpa.map(|h| h.name), Some("cart-hpa".to_owned()));
    let f = c.facts(&t, ActionKind::RolloutRestart, None).await.unwrap();
    assert!(f.hpa.is_none());
    let out = c
        .execute(&t, &Plan::Scale { from: 2, to: 3 }, false)
        .await
        .unwrap();
    assert!(out.contains("replicas 2 -> 3"), "{out}");
    let out = c.execute(&t, &Plan::Restart, false).await.unwrap();
    assert_eq!(out, "spec.restartAt=2026-11-21T10:00:00Z");
    assert!(!c.rolled_out(&t).await.unwrap());
    assert!(c.rolled_out(&t).await.unwrap());
    finish(mock).await;
}

/// A ReplicaSet of the Rollout `owner` of pod-template hash `hash` (at generation 2, observed)
/// that wants `wants` pods, `available` of them available, its desired-replicas annotation the
/// Rollout's 2 replicas.
fn argo_replicaset(hash: &str, owner: &str, wants: i32, available: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("cart-{hash}"), "namespace": "shop", "uid": format!("rs-{hash}"), "generation": 2,
            "labels": {"app": "cart", "rollouts-pod-template-hash": hash},
            "annotations": {"rollout.argoproj.io/desired-replicas": "2"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "cart", "uid": owner, "controller": true}]},
        "spec": {"replicas": wants, "selector": {"matchLabels": {"app": "cart", "rollouts-pod-template-hash": hash}}},
        "status": {"observedGeneration": 2, "replicas": wants, "availableReplicas": available}})
}

/// A canary Rollout held at its `pause: {}` step stays `Paused` until someone promotes it, so
/// whether a scale or restart there has rolled out is read from its ReplicaSets: listed in its
/// namespace with its selector, those it controls must run every pod they want, available.
/// A `Healthy` one is judged by its status alone (no list), and a held one whose selector
/// selects everything is not judged rolled out (no list either). One that takes its template
/// from a Deployment (`workloadRef`) and has no selector of its own lists with the
/// Deployment's, as Argo's controller does.
#[tokio::test]
async fn a_rollout_held_at_a_canary_pause_step_is_rolled_out_once_its_replicasets_are_settled() {
    let (c, h) = cluster(3);
    let held = json!({"observedGeneration": "9", "phase": "Paused", "message": "CanaryPauseStep",
        "controllerPause": true,
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-21T09:00:00Z"}],
        "stableRS": "6f", "currentPodHash": "7c"});
    let replicasets = |canary_available: i32| {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": [
            argo_replicaset("6f", ROLLOUT_UID, 2, 2),
            argo_replicaset("7c", ROLLOUT_UID, 1, canary_available),
            argo_replicaset("9d", "another-rollout", 3, 0)]})
    };
    let list = || {
        step(Method::GET, "/apis/apps/v1/namespaces/shop/replicasets")
            .query("labelSelector", "app=cart")
    };
    let mut selects_all = argo_rollout(9, held.clone());
    selects_all["spec"]["selector"] = json!({});
    let mut referencing = argo_rollout(9, held.clone());
    let spec = referencing["spec"].as_object_mut().unwrap();
    spec.remove("selector");
    spec.remove("template");
    spec.insert(
        "workloadRef".into(),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart-v1"}),
    );
    let referenced = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cart-v1", "namespace": "shop", "uid": "dep-uid-0"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "cart"}}, "template": {}}});
    let mock = serve(
        h,
        vec![
            // The canary's new pod is not available yet.
            step(Method::GET, ROLLOUT).reply(200, argo_rollout(9, held.clone())),
            list().reply(200, replicasets(0)),
            step(Method::GET, ROLLOUT).reply(200, argo_rollout(9, held)),
            list().reply(200, replicasets(1)),
            step(Method::GET, HPAS).reply(200, rollout_hpa_list()),
            step(Method::GET, ROLLOUT).reply(200, selects_all),
            step(Method::GET, ROLLOUT).reply(200, referencing),
            step(
                Method::GET,
                "/apis/apps/v1/namespaces/shop/deployments/cart-v1",
            )
            .reply(200, referenced),
            list().reply(200, replicasets(1)),
            step(Method::GET, HPAS).reply(200, rollout_hpa_list()),
            step(Method::GET, ROLLOUT).reply(
                200,
                argo_rollout(9, json!({"observedGeneration": "9", "phase": "Healthy"})),
            ),
            step(Method::GET, HPAS).reply(200, rollout_hpa_list()),
        ],
    );
    let t = target(WorkloadKind::Rollout);
    assert!(!c.rolled_out(&t).await.unwrap(), "a canary pod unavailable");
    assert!(c.rolled_out(&t).await.unwrap(), "settled at the step");
    assert!(!c.rolled_out(&t).await.unwrap(), "a selector of everything");
    assert!(
        c.rolled_out(&t).await.unwrap(),
        "the referenced Deployment's selector"
    );
    assert!(c.rolled_out(&t).await.unwrap(), "healthy");
    finish(mock).await;
}

/// A pod of a Rollout is owned through its ReplicaSet, whose controller is the Rollout; a
/// ReplicaSet a Deployment of the same name controls is not the Rollout's.
#[tokio::test]
async fn a_rollouts_pod_is_owned_through_its_replicaset() {
    let (c, h) = cluster(3);
    let pod_path = "/api/v1/namespaces/shop/pods/cart-5d-abc";
    let rs_path = "/apis/apps/v1/namespaces/shop/replicasets/cart-5d";
    let argo_rs = |owner_kind: &str| {
        let mut rs = replicaset(
            "cart-5d",
            "rs-uid",
            ROLLOUT_UID,
            "3",
            "2026-11-21T09:00:00Z",
            "cart:v2",
        );
        rs["metadata"]["ownerReferences"][0]["apiVersion"] = json!("argoproj.io/v1alpha1");
        rs["metadata"]["ownerReferences"][0]["kind"] = json!(owner_kind);
        rs
    };
    let the_pod = || pod("p-uid", "500", Some(("ReplicaSet", "cart-5d", "rs-uid")));
    let mock = serve(
        h,
        vec![
            step(Method::GET, ROLLOUT).reply(200, argo_rollout(8, json!({}))),
            step(Method::GET, pod_path).reply(200, the_pod()),
            step(Method::GET, rs_path).reply(200, argo_rs("Rollout")),
            step(Method::GET, ROLLOUT).reply(200, argo_rollout(8, json!({}))),
            step(Method::GET, pod_path).reply(200, the_pod()),
            step(Method::GET, rs_path).reply(200, argo_rs("Deployment")),
        ],
    );
    let t = target(WorkloadKind::Rollout);
    let f = c
        .facts(&t, ActionKind::DeletePod, Some("cart-5d-abc"))
        .await
        .unwrap();
    assert!(f.pod.unwrap().owned_by_target);
    let f = c
        .facts(&t, ActionKind::DeletePod, Some("cart-5d-abc"))
        .await
        .unwrap();
    assert!(!f.pod.unwrap().owned_by_target);
    finish(mock).await;
}

/// Events and metrics name a Rollout's pods as a Deployment's (`cart-5d-abc`): a Deployment
/// target that does not exist is looked up as a Rollout, and facts, scale, restart and
/// rollout status come from it. A rollback is not: its 404 is the ReplicaSet's own.
#[tokio::test]
async fn a_deployment_target_that_does_not_exist_is_acted_on_as_the_rollout_of_its_name() {
    let (c, h) = cluster(3);
    let not_found = || status(404, "NotFound");
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(404, not_found()),
            step(Method::GET, ROLLOUT).reply(200, argo_rollout(8, json!({}))),
            step(Method::GET, &format!("{DEPLOY}/scale")).reply(404, not_found()),
            step(Method::GET, &format!("{ROLLOUT}/scale")).reply(200, scale(2, "300")),
            step(Method::PUT, &format!("{ROLLOUT}/scale"))
                .query("fieldManager", "edgeheal-healer")
                .query("dryRun", "All")
                .reply(200, scale(3, "301")),
            step(Method::PATCH, DEPLOY)
                .query("fieldManager", "edgeheal-healer")
                .reply(404, not_found()),
            step(Method::PATCH, ROLLOUT)
                .query("fieldManager", "edgeheal-healer")
                .body(|b| assert!(b["spec"]["restartAt"].is_string(), "{b}"))
                .reply(200, json!({})),
            step(Method::GET, DEPLOY).reply(404, not_found()),
            step(Method::GET, ROLLOUT).reply(
                200,
                argo_rollout(8, json!({"observedGeneration": "8", "phase": "Healthy"})),
            ),
            step(Method::GET, HPAS).reply(200, hpa_list(&[])),
            step(
                Method::GET,
                "/apis/apps/v1/namespaces/shop/replicasets/cart-4c",
            )
            .reply(404, not_found()),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let f = c.facts(&t, ActionKind::RolloutRestart, None).await.unwrap();
    assert_eq!(
        (f.kind, f.uid.as_str()),
        (WorkloadKind::Rollout, ROLLOUT_UID)
    );
    let out = c
        .execute(&t, &Plan::Scale { from: 2, to: 3 }, true)
        .await
        .unwrap();
    assert_eq!(out, "dry-run (dryRun=All): replicas 2 -> 3");
    let out = c.execute(&t, &Plan::Restart, false).await.unwrap();
    assert!(out.starts_with("spec.restartAt="), "{out}");
    assert!(c.rolled_out(&t).await.unwrap());
    let err = c
        .execute(
            &t,
            &Plan::Rollback {
                replica_set: "cart-4c".into(),
                revision: 2,
            },
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::NotFound(_)), "{err}");
    finish(mock).await;
}

/// Argo's migration of a Deployment (`spec.workloadRef`) leaves the Deployment scaled to 0,
/// often under the Rollout's name: a Deployment target at 0 replicas is the Rollout of its name
/// when that Rollout references it. Otherwise (another reference, no Rollout, no RBAC for it,
/// replicas above 0) the Deployment is the target; a server error on the lookup is an error,
/// not a reason to act on the Deployment.
#[tokio::test]
async fn a_deployment_scaled_to_zero_under_a_rollouts_workload_ref_is_the_rollout() {
    let (c, h) = cluster(1);
    let mut zero = deployment(false);
    zero["spec"]["replicas"] = json!(0);
    let mut referencing = argo_rollout(8, json!({}));
    referencing["spec"]["workloadRef"] = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "cart", "scaleDown": "onsuccess"});
    let mut other = referencing.clone();
    other["spec"]["workloadRef"]["name"] = json!("cart-v1");
    let mock = serve(
        h,
        vec![
            step(Method::GET, DEPLOY).reply(200, zero.clone()),
            step(Method::GET, ROLLOUT).reply(200, referencing),
            step(Method::GET, DEPLOY).reply(200, zero.clone()),
            step(Method::GET, ROLLOUT).reply(200, other),
            step(Method::GET, DEPLOY).reply(200, zero.clone()),
            step(Method::GET, ROLLOUT).reply(404, status(404, "NotFound")),
            step(Method::GET, DEPLOY).reply(200, zero.clone()),
            step(Method::GET, ROLLOUT).reply(403, status(403, "Forbidden")),
            step(Method::GET, DEPLOY).reply(200, deployment(false)),
            step(Method::GET, DEPLOY).reply(200, zero),
            step(Method::GET, ROLLOUT).reply(500, status(500, "InternalError")),
        ],
    );
    let t = target(WorkloadKind::Deployment);
    let mut found = Vec::new();
    for _ in 0..5 {
        let f = c.facts(&t, ActionKind::RolloutRestart, None).await.unwrap();
        found.push((f.kind, f.uid, f.replicas));
    }
    let deploy = (WorkloadKind::Deployment, DEPLOY_UID.to_string(), Some(0));
    assert_eq!(
        found,
        vec![
            (WorkloadKind::Rollout, ROLLOUT_UID.to_string(), Some(2)),
            deploy.clone(),
            deploy.clone(),
            deploy,
            (WorkloadKind::Deployment, DEPLOY_UID.to_string(), Some(2)),
        ]
    );
    let err = c
        .facts(&t, ActionKind::RolloutRestart, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Api { code: 500, .. }), "{err}");
    finish(mock).await;
}

#[tokio::test]
async fn events_about_a_rollout_regard_it_in_its_api_group() {
    let (c, h) = cluster(2);
    let mock = serve(
        h,
        vec![step(Method::POST, "/apis/events.k8s.io/v1/namespaces/shop/events")
            .query("fieldManager", "edgeheal-healer")
            .body(|b| {
                assert_eq!(b["regarding"], json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "cart", "namespace": "shop", "uid": ROLLOUT_UID}));
            })
            .reply(201, json!({"metadata": {"name": "cart.edgeheal-x"}}))],
    );
    let ev = EventNote {
        type_: "Normal",
        reason: "Remediated",
        action: "rollout_restart".into(),
        note: "spec.restartAt".into(),
        at: "2026-11-21T10:00:00Z".parse().unwrap(),
    };
    c.record_event(
        &target(WorkloadKind::Rollout),
        Some(ROLLOUT_UID),
        &ev,
        false,
    )
    .await
    .unwrap();
    finish(mock).await;
}

/// The next request the client sends, and how to answer it.
async fn next_request(
    h: &mut Handle,
) -> (
    Request<Body>,
    tower_test::mock::SendResponse<Response<Body>>,
) {
    tokio::time::timeout(Duration::from_secs(10), h.next_request())
        .await
        .expect("no request")
        .expect("the client is gone")
}

fn answer(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, reply: &Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(reply).unwrap()))
            .unwrap(),
    );
}

/// Once the client is dropped: nothing more was sent (no further attempt).
async fn nothing_more(mut h: Handle) {
    let more = tokio::time::timeout(Duration::from_secs(10), h.next_request())
        .await
        .expect("the client is still there");
    if let Some((req, _)) = more {
        panic!(
            "another attempt after the stop: {} {}",
            req.method(),
            req.uri()
        );
    }
}

/// A stop while an attempt at a change is in flight: the attempt is answered (a server
/// error, worth a retry), and the call ends there, [`ClusterError::Stopped`] naming it, with
/// no further attempt; a call made after the stop is not tried at all
/// ([`ClusterError::NotCalled`]). Before, the client went
/// on through its `retry.max_attempts` attempts (up to 4 × `call_timeout_secs` and the
/// backoffs), past the engine's stop.
#[tokio::test]
async fn a_stop_during_a_call_ends_it_with_the_attempt_in_flight() {
    let (c, mut h, stop) = stoppable_cluster(1);
    let c = Arc::new(c);
    let call = tokio::spawn({
        let c = c.clone();
        async move {
            c.execute(
                &target(WorkloadKind::Deployment),
                &Plan::Scale { from: 2, to: 3 },
                false,
            )
            .await
        }
    });
    let (req, send) = next_request(&mut h).await;
    assert_eq!(
        (req.method(), req.uri().path()),
        (&Method::GET, &*format!("{DEPLOY}/scale"))
    );
    answer(send, 200, &scale(2, "100"));
    let (req, send) = next_request(&mut h).await;
    assert_eq!(
        (req.method(), req.uri().path()),
        (&Method::PUT, &*format!("{DEPLOY}/scale"))
    );
    // SIGTERM while the update is in flight; then its answer comes.
    stop.send_replace(true);
    answer(send, 503, &status(503, "ServiceUnavailable"));
    let err = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call did not end")
        .unwrap()
        .unwrap_err();
    let ClusterError::Stopped(why) = &err else {
        panic!("{err}");
    };
    assert!(
        why.contains("not tried again after attempt 1 of 4") && why.contains("503"),
        "{why}"
    );

    // After the stop, a new call is not tried.
    let err = c
        .execute(
            &target(WorkloadKind::Deployment),
            &Plan::Scale { from: 2, to: 3 },
            false,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::NotCalled(why) if why.ends_with("not called")),
        "{err}"
    );
    drop(c);
    nothing_more(h).await;
}

/// Events are the exception to the stop: one recorded before it is still posted after it, in
/// one attempt, and one the API server answers 503 then is not tried again (the next Event
/// is). Before, a call after the stop was not made, and the Events queued at SIGTERM were
/// dropped.
#[tokio::test]
async fn after_the_stop_an_event_is_posted_once() {
    let (c, mut h, stop) = stoppable_cluster(1);
    stop.send_replace(true);
    let c = Arc::new(c);
    let ev = |reason| EventNote {
        type_: "Normal",
        reason,
        action: "scale_up".into(),
        note: "replicas 2 -> 3".into(),
        at: "2026-11-21T10:00:00Z".parse().unwrap(),
    };
    let post = |reason| {
        let c = c.clone();
        tokio::spawn(async move {
            c.record_event(&target(WorkloadKind::Deployment), None, &ev(reason), false)
                .await
        })
    };
    let refused = post("Remediating");
    let (req, send) = next_request(&mut h).await;
    assert_eq!(
        (req.method(), req.uri().path()),
        (
            &Method::POST,
            "/apis/events.k8s.io/v1/namespaces/shop/events"
        )
    );
    answer(send, 503, &status(503, "ServiceUnavailable"));
    let err = refused.await.unwrap().unwrap_err();
    assert!(matches!(err, ClusterError::Api { code: 503, .. }), "{err}");
    let posted = post("Remediated");
    let (req, send) = next_request(&mut h).await;
    assert_eq!(req.method(), Method::POST);
    answer(send, 201, &json!({"metadata": {"name": "cart.edgeheal-x"}}));
    posted.await.unwrap().unwrap();
    drop(c);
    nothing_more(h).await;
}

/// A stop during the backoff before a retry cuts it short: no further attempt, and the call
/// ends at once rather than after the backoff (a minute here, 5 s at most as shipped).
#[tokio::test]
async fn a_stop_during_the_backoff_before_a_retry_ends_the_call() {
    let (c, mut h, stop) = stoppable_cluster(60_000);
    let call = tokio::spawn(async move {
        let out = c
            .execute(
                &target(WorkloadKind::Deployment),
                &Plan::Scale { from: 2, to: 3 },
                false,
            )
            .await;
        drop(c);
        out
    });
    let (_, send) = next_request(&mut h).await;
    answer(send, 200, &scale(2, "100"));
    let (_, send) = next_request(&mut h).await;
    answer(send, 429, &status(429, "TooManyRequests"));
    stop.send_replace(true);
    let err = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the backoff was waited out")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::Stopped(why) if why.contains("not tried again after attempt 1 of 4")),
        "{err}"
    );
    nothing_more(h).await;
}
