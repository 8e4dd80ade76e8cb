//! A shutdown over real sockets: the lame-duck period, an engine stopped in the middle of an
//! action, and one left behind in a store that does not answer.
//!
//! At SIGTERM the heal API first goes on accepting and serving for `server.shutdown_delay_secs`,
//! `/readyz` answering 503, while Kubernetes takes the pod out of its endpoints; then it closes
//! its listener. Before, the listener closed at once, and the Fluent Bit and Vector that
//! kube-proxy still sent here for a few seconds were refused. The tests end the delay with an
//! explicit signal ([`Shutdown::cut_short_by`]), not a timer.
//!
//! The engine is told to stop at SIGTERM; a call to the Kubernetes API in flight then ends with
//! its current attempt, and the action is left for the next start to find `interrupted`.
//! Before, the client went on through its retries (4 attempts of `call_timeout_secs` 10 s and
//! the backoffs, about 41 s) while the engine was waited for 15 s: the process exited mid-way,
//! and the kubelet's SIGKILL could cut the action anywhere.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use edgeheal_healer::clock::SystemClock;
use edgeheal_healer::runtime::{RunError, Shutdown};
use edgeheal_healer::Config;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// A Kubernetes API whose Deployment `shop/cart` is opted in; `updates` counts its scale
/// updates, and `called` is notified of each; `events` are the reasons of the Events posted.
struct ScaleApi {
    addr: SocketAddr,
    updates: Arc<AtomicUsize>,
    called: Arc<Notify>,
    events: Arc<Mutex<Vec<String>>>,
}

/// A [`ScaleApi`]'s updates counted, each notified, and when they answer.
type ScaleState = (Arc<AtomicUsize>, Arc<Notify>, Option<Arc<Notify>>);

/// A [`ScaleApi`] whose scale updates never answer.
async fn api_that_never_scales() -> ScaleApi {
    scale_api(None).await
}

/// A [`ScaleApi`] whose scale updates answer (scaled) once `answer` is notified, or never.
async fn scale_api(answer: Option<Arc<Notify>>) -> ScaleApi {
    scale_api_with(answer, false).await
}

/// A [`ScaleApi`], its Events API taking each Event (`events`: its reason and note) and
/// answering at once, or never if `events_hang`.
async fn scale_api_with(answer: Option<Arc<Notify>>, events_hang: bool) -> ScaleApi {
    let updates = Arc::new(AtomicUsize::new(0));
    let called = Arc::new(Notify::new());
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
            .put(
                |State((updates, called, answer)): State<ScaleState>,
                 Path((ns, name)): Path<(String, String)>| async move {
                    updates.fetch_add(1, Ordering::SeqCst);
                    called.notify_one();
                    match answer {
                        Some(answer) => answer.notified().await,
                        None => std::future::pending().await,
                    }
                    Json(json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                        "metadata": {"name": name, "namespace": ns, "resourceVersion": "2"},
                        "spec": {"replicas": 2}}))
                },
            ),
        )
        .route(
            "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
            get(|| async {
                Json(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscalerList",
                    "metadata": {}, "items": []}))
            }),
        )
        .with_state((updates.clone(), called.clone(), answer));
    let events = Arc::new(Mutex::new(Vec::new()));
    let posted = events.clone();
    let app = app.route(
        "/apis/events.k8s.io/v1/namespaces/{ns}/events",
        post(move |Json(event): Json<Value>| async move {
            posted.lock().unwrap().push(format!(
                "{} {}",
                event["reason"].as_str().unwrap_or_default(),
                event["note"].as_str().unwrap_or_default()
            ));
            if events_hang {
                std::future::pending::<()>().await;
            }
            (axum::http::StatusCode::CREATED, Json(event))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    ScaleApi {
        addr,
        updates,
        called,
        events,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A heal API serving `config` on a loopback port, ready: `stop` is its SIGTERM, `cut_short`
/// the end of its lame-duck period.
struct Running {
    base: String,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    cut_short: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), RunError>>,
}

async fn start(dir: &std::path::Path, extra: &str) -> Running {
    let port = free_port();
    let yaml = config_yaml(dir, &format!("listen: 127.0.0.1:{port}\n{extra}"));
    let config = Config::from_yaml(&yaml).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (cut_short, cut) = oneshot::channel::<()>();
    let shutdown = Shutdown::on(async {
        let _ = stopped.await;
    })
    .cut_short_by(async {
        let _ = cut.await;
    });
    let task = tokio::spawn(edgeheal_healer::runtime::run_until(
        config,
        Arc::new(SystemClock),
        Arc::default(),
        shutdown,
    ));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        assert!(
            !task.is_finished(),
            "the heal API stopped: port {port} taken?"
        );
        let answer = http.get(format!("{base}/readyz")).send().await;
        if answer.is_ok_and(|r| r.status() == 200) {
            return Running {
                base,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                stop: Some(stop),
                cut_short: Some(cut_short),
                task,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the heal API did not become ready");
}

impl Running {
    /// Waits for the heal API to end (a minute at most: a hang fails the test).
    async fn ended(&mut self) {
        tokio::time::timeout(Duration::from_secs(60), &mut self.task)
            .await
            .expect("the heal API did not stop within a minute")
            .unwrap()
            .unwrap();
    }
}

/// Posts one anomaly of `shop/cart`, stamped and signed now, on a connection of its own.
async fn post_anomaly(base: &str) -> reqwest::Response {
    post_anomaly_of(base, "shop/cart", "cart-1").await
}

/// Posts one anomaly of `entity` (its pod `pod`), as [`post_anomaly`].
async fn post_anomaly_of(base: &str, entity: &str, pod: &str) -> reqwest::Response {
    let mut anomaly = record(entity, "cpu_saturation", Some(pod));
    anomaly["edgeheal"]["ts"] = Value::from(jiff::Timestamp::now().to_string());
    let body = body_of(&[anomaly]);
    reqwest::Client::new()
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
        .unwrap()
}

/// The config of a heal API in `dir` (its keys and kubeconfig written there) that scales
/// shop/cart up through `api` at its first anomaly, in enforce mode, each attempt at a call
/// bounded by 1 s, its retries by `retry`, the engine waited for 3 s at a stop, which comes
/// with no shutdown delay.
fn scaling_config(dir: &std::path::Path, api: &ScaleApi, retry: &str) -> String {
    write_keys(dir);
    let kubeconfig = write_kubeconfig(dir, api.addr);
    format!(
        "mode: enforce\n\
         kubernetes: {{ kubeconfig: {kc}, call_timeout_secs: 1, retry: {{ {retry} }} }}\n\
         server: {{ shutdown_delay_secs: 0, shutdown_timeout_secs: 1 }}\n\
         engine: {{ debounce_count: 1, stop_timeout_secs: 3 }}\n\
         policy: {{ cpu_saturation: [scale_up] }}",
        kc = kubeconfig.display()
    )
}

/// A heal API started in `dir` with `extra` ([`scaling_config`]), its engine in its call to
/// update the scale on `api`: an anomaly posted, the call seen.
async fn scaling(dir: &std::path::Path, api: &ScaleApi, extra: &str) -> Running {
    let heal_api = start(dir, extra).await;
    let called = api.called.notified();
    assert_eq!(post_anomaly(&heal_api.base).await.status(), 202);
    tokio::time::timeout(Duration::from_secs(30), called)
        .await
        .expect("the engine did not call the scale update");
    heal_api
}

/// The stored batches, and how many of them the engine has processed.
fn batches(dir: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(dir.join("healer.db")).unwrap();
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(processed), 0) FROM batches",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The actions in the store: (action, result).
fn actions(dir: &std::path::Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(dir.join("healer.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT action, result FROM actions ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// During the shutdown delay the heal API is not ready (503 `shutting down`, so Kubernetes
/// takes it out of its Service), and still accepts connections and batches: a signed batch
/// is answered 202 and committed, and waits in the store (the engine was told to stop at
/// SIGTERM). Once the delay is over the listener is closed: connections are refused. Before,
/// the listener closed at SIGTERM, and the batch was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_the_shutdown_delay_the_heal_api_is_not_ready_and_still_takes_batches() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    // A delay far longer than the test: only the explicit signal ends it.
    let mut heal_api = start(
        dir.path(),
        "termination_grace_period_secs: 600\n\
         server: { shutdown_delay_secs: 300, shutdown_timeout_secs: 5 }\n\
         engine: { debounce_count: 1 }\npolicy: { cpu_saturation: [scale_up] }",
    )
    .await;
    let _ = heal_api.stop.take().unwrap().send(());

    // Not ready, once the signal is seen, on new connections.
    let mut readiness = None;
    for _ in 0..300 {
        let answer = reqwest::Client::new()
            .get(format!("{}/readyz", heal_api.base))
            .send()
            .await
            .expect("the listener was closed during the shutdown delay");
        if answer.status() == 503 {
            readiness = Some(answer.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(readiness.as_deref(), Some("shutting down"));
    assert!(!heal_api.task.is_finished());

    let answer = post_anomaly(&heal_api.base).await;
    assert_eq!(answer.status(), 202);
    assert_eq!(batches(dir.path()), (1, 0), "committed, not processed");

    // The end of the delay: the listener closes, the requests drain, the heal API stops.
    let _ = heal_api.cut_short.take().unwrap().send(());
    heal_api.ended().await;
    let refused = tokio::net::TcpStream::connect(heal_api.addr)
        .await
        .expect_err("connected after the shutdown");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The batch waits for the next start, which processes it.
    assert_eq!(batches(dir.path()), (1, 0));
    assert!(actions(dir.path()).is_empty());
}

/// `server.shutdown_delay_secs: 0` closes the listener at SIGTERM, as before the delay
/// existed; a delay that is not cut short is waited out whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_shutdown_delay_the_listener_closes_at_sigterm() {
    for delay in [0, 1] {
        let dir = tempfile::tempdir().unwrap();
        write_keys(dir.path());
        let mut heal_api = start(
            dir.path(),
            &format!("server: {{ shutdown_delay_secs: {delay}, shutdown_timeout_secs: 1 }}"),
        )
        .await;
        let started = Instant::now();
        let _ = heal_api.stop.take().unwrap().send(());
        heal_api.ended().await;
        assert!(
            started.elapsed() >= Duration::from_secs(delay),
            "delay {delay}: stopped after {:?}",
            started.elapsed()
        );
        let refused = tokio::net::TcpStream::connect(heal_api.addr)
            .await
            .expect_err("connected after the shutdown");
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}

/// SIGTERM while the engine's call to scale is in flight, with 4 attempts allowed: the call
/// ends with that attempt (one update sent, none after it), the heal API stops without
/// waiting out `engine.stop_timeout_secs`, and the action is left `pending`. The next start
/// finds it `interrupted` and does not send it again. Before, the client went on retrying
/// after the stop: more updates, until the engine's wait ran out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_retried_call_ends_the_action_after_the_attempt_in_flight() {
    let api = api_that_never_scales().await;
    let dir = tempfile::tempdir().unwrap();
    // One attempt (1 s) + the margin fits the engine's stop (3 s); four would not.
    let extra = scaling_config(dir.path(), &api, "max_attempts: 4, initial_backoff_ms: 50");
    let mut heal_api = scaling(dir.path(), &api, &extra).await;

    // SIGTERM, the update in flight.
    let _ = heal_api.stop.take().unwrap().send(());
    heal_api.ended().await;
    assert_eq!(
        api.updates.load(Ordering::SeqCst),
        1,
        "attempts after the stop"
    );
    assert_eq!(
        actions(dir.path()),
        [("scale_up".to_owned(), "pending".to_owned())]
    );

    // The next start: interrupted, verified, not sent again.
    let mut next = start(dir.path(), &extra).await;
    assert_eq!(
        actions(dir.path()),
        [("scale_up".to_owned(), "interrupted".to_owned())]
    );
    let _ = next.stop.take().unwrap().send(());
    next.ended().await;
    assert_eq!(api.updates.load(Ordering::SeqCst), 1, "sent again");
}

/// The Events the engine recorded go out while the heal API stops: the scale update is
/// answered after SIGTERM, and its "Remediated" Event, recorded once the stop was raised, is
/// posted before the process ends (one attempt). Before, the Kubernetes client made no call
/// once stopping, and it was dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_recorded_before_the_engine_stopped_are_posted() {
    let answer = Arc::new(Notify::new());
    let api = scale_api(Some(answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let kubeconfig = write_kubeconfig(dir.path(), api.addr);
    // Room for the update in flight to be answered after the stop.
    let extra = format!(
        "mode: enforce\n\
         kubernetes: {{ kubeconfig: {kc}, call_timeout_secs: 10, retry: {{ max_attempts: 1 }} }}\n\
         server: {{ shutdown_delay_secs: 0, shutdown_timeout_secs: 1 }}\n\
         engine: {{ debounce_count: 1, stop_timeout_secs: 15 }}\n\
         policy: {{ cpu_saturation: [scale_up] }}",
        kc = kubeconfig.display()
    );
    let mut heal_api = scaling(dir.path(), &api, &extra).await;
    let _ = heal_api.stop.take().unwrap().send(());
    // The stop is raised before the heal API stops being ready; wait for that.
    let http = reqwest::Client::new();
    while http
        .get(format!("{}/readyz", heal_api.base))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    answer.notify_one();
    heal_api.ended().await;
    assert_eq!(
        actions(dir.path()),
        [("scale_up".to_owned(), "ok".to_owned())]
    );
    let reasons: Vec<String> = api
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["Remediating", "Remediated"], "the Events posted");
}

/// An Events API that does not answer holds the stop no longer than `engine.stop_timeout_secs`
/// (3 s): six Events are queued behind one in flight at SIGTERM, an attempt takes
/// `call_timeout_secs` (1 s), and the heal API stops with the last ones not tried. Posting
/// all of them would take six seconds or more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_still_queued_at_the_stop_timeout_are_left() {
    let answer = Arc::new(Notify::new());
    let api = scale_api_with(Some(answer.clone()), true).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = scaling_config(dir.path(), &api, "max_attempts: 4, initial_backoff_ms: 50");
    let mut heal_api = start(dir.path(), &extra).await;
    for name in ["cart", "web", "api"] {
        let called = api.called.notified();
        let posted = post_anomaly_of(
            &heal_api.base,
            &format!("shop/{name}"),
            &format!("{name}-1"),
        )
        .await;
        assert_eq!(posted.status(), 202);
        tokio::time::timeout(Duration::from_secs(30), called)
            .await
            .expect("the engine did not call the scale update");
        answer.notify_one();
    }
    let scaled = async {
        while actions(dir.path())
            .iter()
            .filter(|(_, r)| r == "ok")
            .count()
            < 3
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), scaled)
        .await
        .expect("three scale-ups");
    let _ = heal_api.stop.take().unwrap().send(());
    heal_api.ended().await;
    let tried: std::collections::HashSet<String> =
        api.events.lock().unwrap().iter().cloned().collect();
    assert!((1..6).contains(&tried.len()), "Events tried: {tried:?}");
}

/// A notification queued just before SIGTERM is sent before the heal API ends: a refusal
/// (`namespace_not_allowed`) notifies, and the webhook takes a second to answer it. Before,
/// the worker was dropped with the process: the heal API ended at once and the page was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_queued_before_the_stop_is_sent() {
    let sent = Arc::new(Mutex::new(Vec::<String>::new()));
    let received = sent.clone();
    let hook = Router::new().route(
        "/hook",
        post(move |Json(body): Json<Value>| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            received
                .lock()
                .unwrap()
                .push(body["text"].as_str().unwrap_or_default().to_owned());
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let api = api_that_never_scales().await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("webhook-url");
    std::fs::write(&url_file, format!("http://{hook_addr}/hook\n")).unwrap();
    let extra = format!(
        "{}\nnotify: {{ webhook_url_file: {} }}",
        scaling_config(dir.path(), &api, "max_attempts: 1"),
        url_file.display()
    );
    let mut heal_api = start(dir.path(), &extra).await;
    let posted = post_anomaly_of(&heal_api.base, "kube-system/coredns", "coredns-1").await;
    assert_eq!(posted.status(), 202);
    let escalated = async {
        loop {
            let conn = rusqlite::Connection::open(dir.path().join("healer.db")).unwrap();
            let state: Option<String> = conn
                .query_row("SELECT state FROM incidents", [], |r| r.get(0))
                .ok();
            if state.as_deref() == Some("escalated") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), escalated)
        .await
        .expect("the incident was not escalated");
    let _ = heal_api.stop.take().unwrap().send(());
    heal_api.ended().await;
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("refused scale_up") && sent[0].contains("kube-system/coredns"),
        "{sent:?}"
    );
}

/// A store that does not answer (another process holds its write lock) when the engine
/// records what its action did: the heal API waits `engine.stop_timeout_secs` (3 s) for the
/// engine and then stops without it, rather than overrun the pod's grace period and be killed
/// mid-way. The action's result was not written: it is `pending`, for the next start to find
/// `interrupted` (`a_stop_during_a_retried_call_ends_the_action_after_the_attempt_in_flight`).
/// The engine was left in its write, not waited for: here, where no process exit ends it, the
/// write lands once the lock is let go within the store's busy timeout (5 s). Had the heal API
/// waited for the engine, the write would have failed at the busy timeout first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_still_busy_after_its_stop_timeout_is_left_behind() {
    let answer = Arc::new(Notify::new());
    let api = scale_api(Some(answer.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = scaling_config(dir.path(), &api, "max_attempts: 1");
    let mut heal_api = scaling(dir.path(), &api, &extra).await;

    // The store's write lock taken (the heal API's busy timeout is 5 s), then the update
    // answered: the engine's write of its result waits for the lock.
    let lock = rusqlite::Connection::open(dir.path().join("healer.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    answer.notify_one();
    let sigterm = Instant::now();
    let _ = heal_api.stop.take().unwrap().send(());
    heal_api.ended().await;
    let waited = sigterm.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "stopped after {waited:?}: it did not wait for the engine"
    );
    // Readers are not blocked by the write lock (WAL).
    assert_eq!(
        actions(dir.path()),
        [("scale_up".to_owned(), "pending".to_owned())]
    );
    assert_eq!(api.updates.load(Ordering::SeqCst), 1);

    // The engine left behind is still in its write, which lands once the lock is let go.
    lock.execute_batch("ROLLBACK").unwrap();
    let written = async {
        while actions(dir.path())[0].1 == "pending" {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), written)
        .await
        .expect("the engine's write never landed: it had ended before the heal API stopped");
    assert_eq!(
        actions(dir.path()),
        [("scale_up".to_owned(), "ok".to_owned())]
    );
}
