//! Load benchmark (not a timed test): verified ingest requests per second and latency
//! percentiles on ONE core (a current-thread tokio runtime; the SQLite writer thread shares the
//! machine). Each request is a SigV4-signed (aws-sigv4, as Vector signs) JSON batch of 10
//! records, verified, decoded, validated and durably committed before its 202.
//!
//! Run: `cargo bench -p edgeheal-healer --bench ingest` (env BENCH_REQUESTS, BENCH_CONCURRENCY,
//! BENCH_SYNC=full|normal).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use edgeheal_healer::auth::Authenticator;
use edgeheal_healer::clock::SystemClock;
use edgeheal_healer::keys::KeyRing;
use edgeheal_healer::metrics::Metrics;
use edgeheal_healer::store::Store;
use edgeheal_healer::{app, Config, Shared};
use tokio::sync::Notify;
use tower::ServiceExt;

const SECRET: &str = "bench-secret-0123456789abcdef";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn signed_request(i: usize, now: SystemTime) -> http::Request<Body> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let recs: Vec<serde_json::Value> = (0..10)
        .map(|j| {
            serde_json::json!({"log": format!("req {i} rec {j}"), "edgeheal": {"kind": "log", "entity": format!("shop/svc-{}", i % 500),
            "pod": null, "ts": "2026-11-21T10:00:00Z", "score": 0.42, "anomaly": false, "severity": "none",
            "incident": "unknown", "action": "none", "why": [], "model": "m@1"}})
        })
        .collect();
    let body = serde_json::to_vec(&recs).unwrap();
    let identity =
        aws_credential_types::Credentials::new("vector", SECRET, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("local")
        .name("edgeheal")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", "healer:8080"),
        ("content-type", "application/json"),
    ];
    let signable = SignableRequest::new(
        "POST",
        "http://healer:8080/v1/anomalies",
        headers.iter().copied(),
        SignableBody::Bytes(&body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method("POST").uri("/v1/anomalies");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req
}

fn main() {
    let requests = env_or("BENCH_REQUESTS", 4000);
    let concurrency = env_or("BENCH_CONCURRENCY", 32);
    let sync = std::env::var("BENCH_SYNC").unwrap_or_else(|_| "full".into());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/vector"), SECRET).unwrap();
    let config = Config::from_yaml(&format!(
        "store: {{ path: {}, synchronous: {sync}, queue_capacity: 1024 }}\nauth: {{ keys_dir: {}, replay_cache_capacity: 1000000 }}\nguards: {{ namespaces: [shop] }}\n",
        dir.path().join("bench.db").display(),
        dir.path().join("keys").display()
    ))
    .unwrap();
    let now = SystemTime::now();
    eprintln!("signing {requests} requests…");
    let reqs: Vec<http::Request<Body>> = (0..requests).map(|i| signed_request(i, now)).collect();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let clock = Arc::new(SystemClock);
        let auth = Authenticator::new(KeyRing::load(&config.auth.keys_dir).unwrap(), "edgeheal", "local", 300, 1_000_000, clock.clone());
        let store = Store::open(&config.store.path, config.store.synchronous).unwrap();
        let state = Arc::new(Shared::new(
            Arc::new(config),
            auth,
            store,
            Arc::new(Metrics::new()),
            clock,
            Arc::new(Notify::new()),
            Arc::new(AtomicBool::new(true)),
        ));
        let router = app(state);
        let started = Instant::now();
        let mut latencies: Vec<Duration> = Vec::with_capacity(requests);
        let mut it = reqs.into_iter();
        let mut inflight = tokio::task::JoinSet::new();
        let mut accepted = 0usize;
        loop {
            while inflight.len() < concurrency {
                let Some(req) = it.next() else { break };
                let r = router.clone();
                inflight.spawn(async move {
                    let t = Instant::now();
                    let status = r.oneshot(req).await.unwrap().status();
                    (status, t.elapsed())
                });
            }
            match inflight.join_next().await {
                Some(res) => {
                    let (status, lat) = res.unwrap();
                    if status == http::StatusCode::ACCEPTED {
                        accepted += 1;
                    }
                    latencies.push(lat);
                }
                None => break,
            }
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "ingest: {accepted}/{requests} accepted, concurrency {concurrency}, synchronous={sync}: {:.0} verified req/s ({:.0} records/s), p50 {:?}, p99 {:?}, max {:?}",
            accepted as f64 / elapsed.as_secs_f64(),
            accepted as f64 * 10.0 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            latencies[latencies.len() - 1]
        );
    });
}
