//! A shutdown ends within the pod's grace period, also when the engine is in the middle of an
//! action. Before, the heal API waited 30 s for its engine after up to
//! `server.shutdown_timeout_secs` (10 s) of draining requests: 40 s against the Deployment's
//! 30 s `terminationGracePeriodSeconds`, so the kubelet's SIGKILL could land first. The engine
//! now gets `engine.stop_timeout_secs`, and the config refuses bounds that do not fit in
//! `termination_grace_period_secs` (`cargo test -p edgeheal-healer --lib config`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use edgeheal_healer::clock::SystemClock;
use edgeheal_healer::Config;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// A Kubernetes API whose Deployment `shop/cart` is opted in and whose scale updates never
/// answer; `called` is notified when one arrives.
async fn api_that_never_scales(called: Arc<Notify>) -> std::net::SocketAddr {
    let app = Router::new()
        .route(
            "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            get(|Path((ns, name)): Path<(String, String)>| async move {
                Json(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": ns, "uid": "uid-cart", "resourceVersion": "1",
                                 "labels": {"edgeheal.io/heal": "true"}},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                             "template": {"metadata": {"labels": {"app": name}},
                                          "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
            }),
        )
        .route(
            "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale",
            get(|Path((ns, name)): Path<(String, String)>| async move {
                Json(json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
                    "spec": {"replicas": 1}}))
            })
            .put(|State(called): State<Arc<Notify>>| async move {
                called.notify_one();
                std::future::pending::<Json<Value>>().await
            }),
        )
        .route(
            "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
            get(|| async {
                Json(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList",
                    "metadata": {}, "items": []}))
            }),
        )
        .with_state(called);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_does_not_wait_past_the_engine_stop_timeout_for_an_action() {
    let scaling = Arc::new(Notify::new());
    let api = api_that_never_scales(scaling.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let kubeconfig = write_kubeconfig(dir.path(), api);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The call to scale outlasts the stop: only `engine.stop_timeout_secs` ends the wait.
    let yaml = config_yaml(
        dir.path(),
        &format!(
            "mode: enforce\nlisten: 127.0.0.1:{port}\n\
             kubernetes: {{ kubeconfig: {kc}, call_timeout_secs: 600, retry: {{ max_attempts: 1 }} }}\n\
             server: {{ shutdown_timeout_secs: 1 }}\nengine: {{ debounce_count: 1, stop_timeout_secs: 2 }}\n\
             policy: {{ cpu_saturation: [scale_up] }}",
            kc = kubeconfig.display()
        ),
    );
    let config = Config::from_yaml(&yaml).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut heal_api = tokio::spawn(edgeheal_healer::runtime::run(
        config,
        Arc::new(SystemClock),
        async {
            let _ = stopped.await;
        },
    ));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        assert!(!heal_api.is_finished(), "the heal API stopped");
        let answer = http.get(format!("{base}/readyz")).send().await;
        if answer.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the heal API did not become ready");

    let mut anomaly = record("shop/cart", "cpu_saturation", Some("cart-1"));
    anomaly["edgeheal"]["ts"] = Value::from(jiff::Timestamp::now().to_string());
    let body = body_of(&[anomaly]);
    let answer = http
        .post(format!("{base}/v1/anomalies"))
        .header("content-type", "application/json")
        .header("x-edgeheal-key-id", FB_KEY_ID)
        .header(
            "x-edgeheal-signature",
            edgeheal_healer::auth::sign_hmac(
                FB_SECRET.as_bytes(),
                jiff::Timestamp::now().as_second(),
                &body,
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    tokio::time::timeout(Duration::from_secs(30), scaling.notified())
        .await
        .expect("the engine did not call the scale update");

    // SIGTERM, the engine waiting on the API server.
    let started = Instant::now();
    let _ = stop.send(());
    let ran = tokio::time::timeout(Duration::from_secs(60), &mut heal_api)
        .await
        .expect("the heal API did not stop within a minute")
        .unwrap();
    let took = started.elapsed();
    ran.unwrap();
    assert!(
        took >= Duration::from_secs(2),
        "the engine was waited for: {took:?}"
    );
    // The old wait was 30 s; 2 s here, and what the server's drain takes.
    assert!(took < Duration::from_secs(15), "{took:?}");

    // The action was recorded before it was called: the next start finds it interrupted.
    let conn = rusqlite::Connection::open(dir.path().join("healer.db")).unwrap();
    let actions: Vec<(String, String)> = conn
        .prepare("SELECT action, result FROM actions")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actions, [("scale_up".to_owned(), "pending".to_owned())]);
}
