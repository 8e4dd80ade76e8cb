//! The simulated API server at the HTTP level (router + `oneshot`): Status
//! bodies and codes for every error class, discovery and version, bearer
//! tokens, patch types (JSON patch, server-side apply), validation,
//! garbage collection, determinism, and the world bridge in external mode.

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use edgeheal_chaos::apiserver::{
    objects, router, sync_workload, ApiState, ClockMode, ClusterConfig, ControllerMode,
    PodSnapshot, Store, WorkloadSnapshot, World, WorldError, SIMULATOR_HEADER,
};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments";

fn config(seed: u64) -> ClusterConfig {
    ClusterConfig {
        seed,
        clock: ClockMode::Manual(
            "2026-11-21T12:00:00Z"
                .parse()
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        ),
        ..ClusterConfig::default()
    }
}

fn cluster(seed: u64) -> (ApiState, Router) {
    let state = ApiState::new(config(seed));
    state.upsert(objects::deployment("shop", "web", 3, "web:1", &[]));
    (state.clone(), router(state))
}

/// The pods of namespace `shop`, by name.
fn pod_names(state: &ApiState) -> Vec<String> {
    let mut v: Vec<String> = state
        .list::<Pod>(Some("shop"))
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    v.sort();
    v
}

struct Reply {
    code: u16,
    body: Value,
    simulator: bool,
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: &str,
    token: Option<&str>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("response");
    let code = resp.status().as_u16();
    let simulator = resp.headers().get(SIMULATOR_HEADER).is_some();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        code,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        simulator,
    }
}

fn assert_status(r: &Reply, code: u16, reason: &str, what: &str) {
    assert_eq!(r.code, code, "{what}: {}", r.body);
    assert_eq!(r.body["kind"], "Status", "{what}");
    assert_eq!(r.body["apiVersion"], "v1", "{what}");
    assert_eq!(r.body["status"], "Failure", "{what}");
    assert_eq!(r.body["code"], code, "{what}");
    if !reason.is_empty() {
        assert_eq!(r.body["reason"], reason, "{what}");
    }
}

/// (what, method, uri, content type, body, code, reason)
type ErrorCase = (
    &'static str,
    &'static str,
    String,
    Option<&'static str>,
    String,
    u16,
    &'static str,
);

#[tokio::test]
async fn error_status_table() {
    let (_state, app) = cluster(1);
    let web = format!("{DEPLOY}/web");
    let bad_selector = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "other"}},
        "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}})
    .to_string();
    let cases: Vec<ErrorCase> = vec![
        (
            "unknown path",
            "GET",
            "/apis/nope/v9/things".into(),
            None,
            String::new(),
            404,
            "NotFound",
        ),
        (
            "missing object",
            "GET",
            format!("{DEPLOY}/nope"),
            None,
            String::new(),
            404,
            "NotFound",
        ),
        (
            "verb not served",
            "POST",
            web.clone(),
            Some("application/json"),
            "{}".into(),
            405,
            "MethodNotAllowed",
        ),
        (
            "unknown patch type",
            "PATCH",
            web.clone(),
            Some("text/plain"),
            "{}".into(),
            415,
            "UnsupportedMediaType",
        ),
        (
            "watch refused",
            "GET",
            format!("{DEPLOY}?watch=true"),
            None,
            String::new(),
            400,
            "BadRequest",
        ),
        (
            "bad dryRun",
            "PATCH",
            format!("{web}?dryRun=Some"),
            Some("application/merge-patch+json"),
            "{}".into(),
            400,
            "BadRequest",
        ),
        (
            "malformed JSON",
            "PATCH",
            web.clone(),
            Some("application/merge-patch+json"),
            "{".into(),
            400,
            "BadRequest",
        ),
        (
            "failed JSON patch test",
            "PATCH",
            web.clone(),
            Some("application/json-patch+json"),
            r#"[{"op":"test","path":"/spec/replicas","value":99}]"#.into(),
            422,
            "",
        ),
        (
            "negative replicas",
            "PATCH",
            web.clone(),
            Some("application/merge-patch+json"),
            r#"{"spec":{"replicas":-1}}"#.into(),
            422,
            "Invalid",
        ),
        (
            "stale resourceVersion",
            "PATCH",
            web.clone(),
            Some("application/merge-patch+json"),
            r#"{"metadata":{"resourceVersion":"1"},"spec":{"replicas":4}}"#.into(),
            409,
            "Conflict",
        ),
        (
            "selector does not match labels",
            "PUT",
            web.clone(),
            Some("application/json"),
            bad_selector,
            422,
            "Invalid",
        ),
        (
            "already exists",
            "POST",
            DEPLOY.into(),
            Some("application/json"),
            serde_json::to_string(&objects::deployment("shop", "web", 1, "web:1", &[]))
                .unwrap_or_default(),
            409,
            "AlreadyExists",
        ),
        (
            "apply without fieldManager",
            "PATCH",
            web.clone(),
            Some("application/apply-patch+yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n".into(),
            400,
            "BadRequest",
        ),
        (
            "name mismatch",
            "PATCH",
            web.clone(),
            Some("application/merge-patch+json"),
            r#"{"metadata":{"name":"other"}}"#.into(),
            400,
            "BadRequest",
        ),
    ];
    for (what, method, uri, ct, body, code, reason) in cases {
        let r = call(&app, method, &uri, ct, &body, None).await;
        assert_status(&r, code, reason, what);
        assert!(r.simulator, "{what}: simulator header");
    }
    let r = call(&app, "GET", &format!("{DEPLOY}?watch=true"), None, "", None).await;
    assert!(r.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("watch is not supported")));
    let r = call(&app, "GET", &format!("{DEPLOY}/nope"), None, "", None).await;
    assert_eq!(r.body["message"], r#"deployments.apps "nope" not found"#);
    assert_eq!(
        r.body["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );
    let r = call(
        &app,
        "PATCH",
        &format!("{DEPLOY}/web"),
        Some("application/merge-patch+json"),
        r#"{"spec":{"replicas":-1}}"#,
        None,
    )
    .await;
    assert_eq!(r.body["details"]["causes"][0]["field"], "spec.replicas");
    assert_eq!(
        r.body["message"],
        r#"Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#
    );
}

#[tokio::test]
async fn discovery_and_version() {
    let (_state, app) = cluster(1);
    let cases: &[(&str, &str, Value)] = &[
        ("/version", "/gitVersion", json!("v1.33.0-edgeheal-sim")),
        ("/api", "/versions/0", json!("v1")),
        ("/apis", "/groups/0/name", json!("apps")),
        (
            "/apis/apps",
            "/preferredVersion/groupVersion",
            json!("apps/v1"),
        ),
        (
            "/apis/apps/v1",
            "/resources/1/name",
            json!("deployments/scale"),
        ),
        (
            "/apis/autoscaling/v2",
            "/resources/0/name",
            json!("horizontalpodautoscalers"),
        ),
        (
            "/apis/coordination.k8s.io/v1",
            "/resources/0/kind",
            json!("Lease"),
        ),
        ("/api/v1", "/resources/0/name", json!("pods")),
    ];
    for (path, ptr, want) in cases {
        let r = call(&app, "GET", path, None, "", None).await;
        assert_eq!(r.code, 200, "{path}");
        assert_eq!(r.body.pointer(ptr), Some(want), "{path}{ptr}");
    }
}

#[tokio::test]
async fn bearer_token_table() {
    let state = ApiState::new(ClusterConfig {
        token: Some("s3cret".into()),
        ..config(1)
    });
    let app = router(state.clone());
    let cases: &[(&str, Option<&str>, u16)] = &[
        (DEPLOY, None, 401),
        (DEPLOY, Some("wrong"), 401),
        (DEPLOY, Some("s3cret"), 200),
        ("/version", None, 200),
        ("/healthz", None, 200),
    ];
    for (path, token, code) in cases {
        assert_eq!(
            call(&app, "GET", path, None, "", *token).await.code,
            *code,
            "{path} {token:?}"
        );
    }
    let logged = state.requests();
    assert_eq!(logged.len(), cases.len());
    assert_eq!(
        logged.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 401, 200, 200, 200]
    );
}

#[tokio::test]
async fn server_side_apply_creates_then_updates() {
    let (state, app) = cluster(1);
    let yaml = |replicas: i32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: cart}}\n  template:\n    metadata:\n      labels: {{app: cart}}\n    spec:\n      containers:\n      - name: app\n        image: cart:1\n"
        )
    };
    let uri = format!("{DEPLOY}/cart?fieldManager=edgeheal-test");
    let created = call(
        &app,
        "PATCH",
        &uri,
        Some("application/apply-patch+yaml"),
        &yaml(2),
        None,
    )
    .await;
    assert_eq!(created.code, 201, "{}", created.body);
    assert_eq!(
        created.body["metadata"]["managedFields"][0]["operation"],
        "Apply"
    );
    let updated = call(
        &app,
        "PATCH",
        &uri,
        Some("application/apply-patch+yaml"),
        &yaml(4),
        None,
    )
    .await;
    assert_eq!(updated.code, 200);
    assert_eq!(updated.body["spec"]["replicas"], 4);
    assert_eq!(updated.body["metadata"]["generation"], 2);
    assert_eq!(
        state
            .list::<Pod>(Some("shop"))
            .iter()
            .filter(|p| p
                .metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("cart-")))
            .count(),
        4
    );
    let jp = call(&app, "PATCH", &format!("{DEPLOY}/cart"), Some("application/json-patch+json"),
        r#"[{"op":"test","path":"/spec/replicas","value":4},{"op":"replace","path":"/spec/replicas","value":1}]"#, None).await;
    assert_eq!(jp.code, 200);
    assert_eq!(jp.body["spec"]["replicas"], 1);
}

#[tokio::test]
async fn delete_deployment_collects_garbage_and_dry_run_keeps_it() {
    let (state, app) = cluster(1);
    let dry = call(
        &app,
        "DELETE",
        &format!("{DEPLOY}/web"),
        Some("application/json"),
        r#"{"dryRun":["All"]}"#,
        None,
    )
    .await;
    assert_eq!(dry.code, 200);
    assert_eq!(dry.body["status"], "Success");
    assert!(state.get::<Deployment>("shop", "web").is_some());
    let done = call(&app, "DELETE", &format!("{DEPLOY}/web"), None, "", None).await;
    assert_eq!(done.code, 200);
    assert_eq!(done.body["details"]["name"], "web");
    let counts = (
        state.list::<Deployment>(None).len(),
        state.list::<ReplicaSet>(None).len(),
        state.list::<Pod>(None).len(),
    );
    assert_eq!(counts, (0, 0, 0));
}

#[tokio::test]
async fn same_seed_same_names() {
    let run = |seed: u64| async move {
        let (state, app) = cluster(seed);
        call(
            &app,
            "PATCH",
            &format!("{DEPLOY}/web/scale"),
            Some("application/merge-patch+json"),
            r#"{"spec":{"replicas":5}}"#,
            None,
        )
        .await;
        let mut names: Vec<(String, String)> = state
            .list::<Pod>(None)
            .into_iter()
            .map(|p| {
                (
                    p.metadata.name.unwrap_or_default(),
                    p.metadata.uid.unwrap_or_default(),
                )
            })
            .collect();
        names.sort();
        names
    };
    let (a, b, c) = (run(3).await, run(3).await, run(4).await);
    assert_eq!(a.len(), 5);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// What the world was told.
#[derive(Debug, Clone, PartialEq)]
enum Told {
    Scale(String, i32),
    Restart(String, Option<String>),
    PodDeleted(String),
}

/// A miniature simulation: one workload whose pods it names itself, synced
/// into the store after every change; refuses more than 8 replicas.
struct MiniSim {
    told: Arc<Mutex<Vec<Told>>>,
    snapshot: WorkloadSnapshot,
    next: u32,
}

impl MiniSim {
    fn pod(&mut self) -> PodSnapshot {
        self.next += 1;
        PodSnapshot {
            name: format!("web-{}-sim{:02}", self.snapshot.template_hash, self.next),
            uid: None,
            node: "node-a".into(),
            ip: Some(format!("10.1.0.{}", self.next)),
            ready: true,
            restarts: 0,
            template_hash: self.snapshot.template_hash.clone(),
            created: None,
        }
    }
}

impl World for MiniSim {
    fn on_scale(
        &mut self,
        store: &mut Store,
        _ns: &str,
        deployment: &str,
        replicas: i32,
    ) -> Result<(), WorldError> {
        if replicas > 8 {
            return Err(WorldError::Rejected(format!(
                "the simulator runs at most 8 replicas, not {replicas}"
            )));
        }
        self.told
            .lock()
            .expect("lock")
            .push(Told::Scale(deployment.into(), replicas));
        let want = usize::try_from(replicas).unwrap_or(0);
        while self.snapshot.pods.len() < want {
            let p = self.pod();
            self.snapshot.pods.push(p);
        }
        self.snapshot.pods.truncate(want);
        sync_workload(store, &self.snapshot);
        Ok(())
    }

    fn on_restart(
        &mut self,
        store: &mut Store,
        _ns: &str,
        deployment: &str,
        at: Option<&str>,
    ) -> Result<(), WorldError> {
        self.told
            .lock()
            .expect("lock")
            .push(Told::Restart(deployment.into(), at.map(str::to_owned)));
        self.snapshot.template_hash = "n3wh4sh".into();
        let n = self.snapshot.pods.len();
        self.snapshot.pods.clear();
        for _ in 0..n {
            let p = self.pod();
            self.snapshot.pods.push(p);
        }
        sync_workload(store, &self.snapshot);
        Ok(())
    }

    fn on_pod_deleted(
        &mut self,
        store: &mut Store,
        _ns: &str,
        pod: &str,
    ) -> Result<(), WorldError> {
        self.told
            .lock()
            .expect("lock")
            .push(Told::PodDeleted(pod.into()));
        self.snapshot.pods.retain(|p| p.name != pod);
        let p = self.pod();
        self.snapshot.pods.push(p);
        sync_workload(store, &self.snapshot);
        Ok(())
    }
}

#[tokio::test]
async fn external_world_is_told_and_writes_back() {
    let told = Arc::new(Mutex::new(Vec::new()));
    let mut sim = MiniSim {
        told: told.clone(),
        snapshot: WorkloadSnapshot {
            namespace: "shop".into(),
            name: "web".into(),
            uid: Some("11111111-1111-4111-8111-111111111111".into()),
            labels: [("edgeheal.io/heal".to_owned(), "true".to_owned())].into(),
            image: "web:1".into(),
            replicas: 2,
            template_hash: "0ldh4sh".into(),
            pods: Vec::new(),
        },
        next: 0,
    };
    for _ in 0..2 {
        let p = sim.pod();
        sim.snapshot.pods.push(p);
    }
    let state = ApiState::new(ClusterConfig {
        controller: ControllerMode::External,
        ..config(1)
    });
    let initial = sim.snapshot.clone();
    state.with_store(|s| sync_workload(s, &initial));
    state.set_world(sim);
    let app = router(state.clone());
    assert_eq!(
        pod_names(&state),
        vec!["web-0ldh4sh-sim01", "web-0ldh4sh-sim02"]
    );
    let dep = state.get::<Deployment>("shop", "web").expect("deployment");
    assert_eq!(dep.status.as_ref().and_then(|s| s.ready_replicas), Some(2));

    let scale = format!("{DEPLOY}/web/scale");
    let merge = Some("application/merge-patch+json");
    let r = call(
        &app,
        "PATCH",
        &scale,
        merge,
        r#"{"spec":{"replicas":3}}"#,
        None,
    )
    .await;
    assert_eq!(r.code, 200);
    assert_eq!(pod_names(&state).len(), 3);
    let r = call(
        &app,
        "PATCH",
        &format!("{scale}?dryRun=All"),
        merge,
        r#"{"spec":{"replicas":4}}"#,
        None,
    )
    .await;
    assert_eq!(r.code, 200);
    let refused = call(
        &app,
        "PATCH",
        &scale,
        merge,
        r#"{"spec":{"replicas":20}}"#,
        None,
    )
    .await;
    assert_status(&refused, 403, "Forbidden", "world refuses");
    assert_eq!(
        state
            .get::<Deployment>("shop", "web")
            .and_then(|d| d.spec)
            .and_then(|s| s.replicas),
        Some(3),
        "rolled back"
    );

    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-21T12:01:00Z"}}}}});
    let r = call(
        &app,
        "PATCH",
        &format!("{DEPLOY}/web"),
        Some("application/strategic-merge-patch+json"),
        &restart.to_string(),
        None,
    )
    .await;
    assert_eq!(r.code, 200);
    assert!(pod_names(&state)
        .iter()
        .all(|n| n.starts_with("web-n3wh4sh-")));
    let dep = state.get::<Deployment>("shop", "web").expect("deployment");
    assert_eq!(
        dep.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .map(String::as_str),
        Some("2")
    );

    let victim = pod_names(&state).first().cloned().expect("a pod");
    let r = call(
        &app,
        "DELETE",
        &format!("/api/v1/namespaces/shop/pods/{victim}"),
        None,
        "",
        None,
    )
    .await;
    assert_eq!(r.code, 200);
    let after = pod_names(&state);
    assert_eq!(after.len(), 3);
    assert!(!after.contains(&victim));
    let replacement = state
        .get::<Pod>("shop", after.last().expect("pod"))
        .expect("pod");
    let owner = replacement
        .metadata
        .owner_references
        .and_then(|o| o.into_iter().next())
        .expect("owner");
    assert_eq!(
        (owner.name.as_str(), owner.controller),
        ("web-n3wh4sh", Some(true))
    );

    let told = told.lock().expect("lock").clone();
    assert_eq!(
        told,
        vec![
            Told::Scale("web".into(), 3),
            Told::Restart("web".into(), Some("2026-11-21T12:01:00Z".into())),
            Told::PodDeleted(victim),
        ]
    );
}

/// POST `pods/{name}/eviction` as the API server handles it with no PodDisruptionBudget:
/// the preconditions in `deleteOptions` hold or it is 409, a dry run (query or body) keeps
/// the pod, a name that is not the URL's is 400, and an accepted eviction is 201 and the
/// pod is replaced.
#[tokio::test]
async fn pods_are_evicted_with_preconditions_and_dry_run() {
    let (state, app) = cluster(5);
    let victim = pod_names(&state).first().cloned().expect("a pod");
    let pod = state.get::<Pod>("shop", &victim).expect("pod");
    let uid = pod.metadata.uid.clone().expect("uid");
    let rv = pod.metadata.resource_version.clone().expect("rv");
    let uri = format!("/api/v1/namespaces/shop/pods/{victim}/eviction");
    let body = |name: &str, uid: &str, extra: &str| {
        format!(
            r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{name}","namespace":"shop"}},"deleteOptions":{{"preconditions":{{"uid":"{uid}","resourceVersion":"{rv}"}}{extra}}}}}"#
        )
    };
    let ct = Some("application/json");

    let wrong_uid = call(&app, "POST", &uri, ct, &body(&victim, "other", ""), None).await;
    assert_status(&wrong_uid, 409, "Conflict", "uid precondition");
    let wrong_name = call(&app, "POST", &uri, ct, &body("other", &uid, ""), None).await;
    assert_status(&wrong_name, 400, "BadRequest", "name");
    let dry_query = call(
        &app,
        "POST",
        &format!("{uri}?dryRun=All"),
        ct,
        &body(&victim, &uid, ""),
        None,
    )
    .await;
    assert_eq!(dry_query.code, 201, "{}", dry_query.body);
    let dry_body = call(
        &app,
        "POST",
        &uri,
        ct,
        &body(&victim, &uid, r#","dryRun":["All"]"#),
        None,
    )
    .await;
    assert_eq!(dry_body.code, 201, "{}", dry_body.body);
    assert!(
        pod_names(&state).contains(&victim),
        "a dry run keeps the pod"
    );

    let done = call(&app, "POST", &uri, ct, &body(&victim, &uid, ""), None).await;
    assert_eq!(done.code, 201, "{}", done.body);
    assert_eq!(done.body["status"], "Success");
    let after = pod_names(&state);
    assert!(!after.contains(&victim));
    assert_eq!(after.len(), 3, "the ReplicaSet replaced it");
    let gone = call(&app, "POST", &uri, ct, &body(&victim, &uid, ""), None).await;
    assert_status(&gone, 404, "NotFound", "evicted already");
}
