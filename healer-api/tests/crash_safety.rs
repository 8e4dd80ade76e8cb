//! Crash safety, over real processes and sockets: the healer runs in enforce mode against a
//! fake Kubernetes API (reached through a kubeconfig, as the closed-loop demo does), a client
//! streams signed batches, the healer is SIGKILLed mid-stream and restarted. Every batch that
//! got a 202 must be in the store, and no scale happened twice on any deployment.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use edgeheal_healer::auth::sign_hmac;
use serde_json::{json, Value};

const SECRET: &str = "crash-test-secret-0123456789";

#[derive(Default)]
struct FakeApi {
    replicas: Mutex<HashMap<String, i64>>,
    puts: Mutex<HashMap<String, usize>>,
}

async fn deployment(Path((ns, name)): Path<(String, String)>) -> Json<Value> {
    Json(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "resourceVersion": "1", "labels": {"edgeheal.io/heal": "true"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
}

async fn get_scale(
    State(api): State<Arc<FakeApi>>,
    Path((ns, name)): Path<(String, String)>,
) -> Json<Value> {
    let r = *api.replicas.lock().unwrap().get(&name).unwrap_or(&1);
    Json(
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name, "namespace": ns, "resourceVersion": r.to_string()}, "spec": {"replicas": r}}),
    )
}

async fn put_scale(
    State(api): State<Arc<FakeApi>>,
    Path((_ns, name)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Json<Value> {
    // Slow enough that a kill can land between the intent and the result.
    tokio::time::sleep(Duration::from_millis(30)).await;
    *api.puts.lock().unwrap().entry(name.clone()).or_default() += 1;
    api.replicas
        .lock()
        .unwrap()
        .insert(name, body["spec"]["replicas"].as_i64().unwrap());
    Json(body)
}

async fn start_fake_api() -> (SocketAddr, Arc<FakeApi>) {
    let api = Arc::new(FakeApi::default());
    let app = Router::new()
        .route("/apis/apps/v1/namespaces/{ns}/deployments/{name}", get(deployment))
        .route("/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", get(get_scale).put(put_scale))
        .route(
            "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
            get(|| async { Json(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": []})) }),
        )
        .route(
            "/apis/events.k8s.io/v1/namespaces/{ns}/events",
            axum::routing::post(|Json(mut b): Json<Value>| async move {
                b["metadata"]["name"] = json!("e");
                (http::StatusCode::CREATED, Json(b))
            }),
        )
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, api)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_healer(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edgeheal-healer"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("healer did not become ready");
}

fn batch(i: usize) -> Vec<u8> {
    // 40 deployments; each batch carries 3 anomalous records for one of them.
    let entity = format!("shop/svc-{}", i % 40);
    let rec = json!({"log": format!("batch {i}"), "edgeheal": {"kind": "metric", "entity": entity, "pod": null,
        "ts": jiff::Timestamp::now().to_string(), "score": 0.97, "anomaly": true, "severity": "critical",
        "incident": "cpu_saturation", "action": "scale_up", "why": [], "model": "m@1", "workload_kind": "deployment"}});
    serde_json::to_vec(&vec![rec; 3]).unwrap()
}

async fn stream(
    client: &reqwest::Client,
    base: &str,
    from: usize,
    to: usize,
    acked: &Arc<Mutex<Vec<(usize, i64)>>>,
) {
    for i in from..to {
        let body = batch(i);
        let now = jiff::Timestamp::now().as_second();
        let res = client
            .post(format!("{base}/v1/anomalies"))
            .header("content-type", "application/json")
            .header("x-edgeheal-key-id", "loadgen")
            .header(
                "x-edgeheal-signature",
                sign_hmac(SECRET.as_bytes(), now, &body),
            )
            .body(body)
            .send()
            .await;
        match res {
            Ok(r) if r.status() == http::StatusCode::ACCEPTED => {
                let v: Value = r.json().await.unwrap();
                acked
                    .lock()
                    .unwrap()
                    .push((i, v["batch_id"].as_i64().unwrap()));
            }
            Ok(r) => assert!(
                r.status() == 429 || r.status() == 503,
                "unexpected status {}",
                r.status()
            ),
            Err(_) => return, // the process died under us
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_acknowledged_batch_and_repeats_no_action() {
    let dir = tempfile::tempdir().unwrap();
    let (api_addr, api) = start_fake_api().await;
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/loadgen"), SECRET).unwrap();
    let kubeconfig = common::write_kubeconfig(dir.path(), api_addr);
    let port = free_port();
    let config = dir.path().join("healer.yaml");
    let mut f = std::fs::File::create(&config).unwrap();
    write!(
        f,
        "listen: 127.0.0.1:{port}\nmode: enforce\nstore: {{ path: {db} }}\nauth: {{ keys_dir: {keys} }}\n\
         kubernetes: {{ kubeconfig: {kc}, call_timeout_secs: 2, retry: {{ max_attempts: 2, initial_backoff_ms: 10 }} }}\n\
         engine: {{ debounce_count: 3, debounce_window_secs: 60, verify_window_secs: 5, cooldown_secs: 3600 }}\n\
         guards: {{ namespaces: [shop], max_replicas: 10 }}\nbudget: {{ max_actions: 1000, window_secs: 600 }}\n\
         policy: {{ cpu_saturation: [scale_up] }}\n",
        db = dir.path().join("healer.db").display(),
        keys = dir.path().join("keys").display(),
        kc = kubeconfig.display(),
    )
    .unwrap();
    drop(f);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let acked = Arc::new(Mutex::new(Vec::new()));

    let mut healer = spawn_healer(&config);
    wait_ready(&client, &base).await;
    let streamer = {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        tokio::spawn(async move { stream(&client, &base, 0, 400, &acked).await })
    };
    // Kill it mid-stream.
    while acked.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    healer.kill().unwrap(); // SIGKILL
    healer.wait().unwrap();
    streamer.await.unwrap();
    let acked_before = acked.lock().unwrap().len();
    assert!(
        (60..400).contains(&acked_before),
        "the kill must land mid-stream ({acked_before})"
    );

    // Restart on the same store and keep streaming: every deployment sees new anomalies.
    let mut healer = spawn_healer(&config);
    wait_ready(&client, &base).await;
    stream(&client, &base, 400, 520, &acked).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    healer.kill().unwrap();
    healer.wait().unwrap();

    let conn = rusqlite::Connection::open(dir.path().join("healer.db")).unwrap();
    for (i, batch_id) in acked.lock().unwrap().iter() {
        let (n, log): (i64, String) = conn
            .query_row(
                "SELECT b.record_count, (SELECT body FROM records WHERE batch_id = b.id LIMIT 1) FROM batches b WHERE b.id = ?1",
                [batch_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("acknowledged batch {i} (id {batch_id}) is missing: {e}"));
        assert_eq!(n, 3);
        assert!(
            log.contains(&format!("\"batch {i}\"")),
            "batch {i} stored with the wrong body"
        );
    }
    let puts = api.puts.lock().unwrap().clone();
    assert!(!puts.is_empty(), "the healer acted at all");
    for (name, n) in &puts {
        assert_eq!(*n, 1, "{name} was scaled {n} times");
    }
    let executed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM actions WHERE result IN ('ok', 'interrupted')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(executed as usize >= puts.len());
    let pending: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM actions WHERE result = 'pending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        pending <= 1,
        "at most the action cut by the final kill is pending"
    );
}
