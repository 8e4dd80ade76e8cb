//! Shared helpers for the integration tests: a healer on a temp dir with a manual clock, and
//! request signers built the way Fluent Bit and Vector (the AWS SDK signer) build them.
#![allow(dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use edgeheal_healer::auth::{sign_hmac, Authenticator};
use edgeheal_healer::clock::{Clock, ManualClock};
use edgeheal_healer::keys::KeyRing;
use edgeheal_healer::metrics::Metrics;
use edgeheal_healer::store::Store;
use edgeheal_healer::{Config, Shared};
use http::Request;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

pub const FB_KEY_ID: &str = "fluent-bit";
pub const FB_SECRET: &str = "fb-secret-0123456789abcdef";
pub const VEC_KEY_ID: &str = "vector";
pub const VEC_SECRET: &str = "vector-secret-0123456789abcdef";
pub const HOST: &str = "edgeheal-healer.edgeheal.svc:8080";
/// 2026-11-21T10:00:00Z
pub const T0: i64 = 1_795_255_200;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub state: Arc<Shared>,
}

impl Env {
    /// A shadow-mode engine over this healer's store and clock (no cluster), recovered.
    pub async fn shadow_engine(&self) -> edgeheal_healer::engine::Engine {
        let metrics = Arc::new(Metrics::new());
        let mut engine = edgeheal_healer::engine::Engine::new(
            self.state.config.clone(),
            self.state.store.clone(),
            None,
            None,
            edgeheal_healer::notify::Notifier::log_only(metrics.clone()),
            metrics,
            self.clock.clone(),
        );
        engine.recover().await.unwrap();
        engine
    }
}

/// Writes `dir/kubeconfig` for a plain-HTTP API server at `api` (a stand-in), with a token,
/// and returns its path.
pub fn write_kubeconfig(dir: &std::path::Path, api: std::net::SocketAddr) -> std::path::PathBuf {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: http://{api}\n\
             contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: sim\ncurrent-context: sim\n\
             users:\n- name: sim\n  user:\n    token: sim-token\n"
        ),
    )
    .unwrap();
    kubeconfig
}

/// The value of the sample `line` (a metric name with its labels) in the Prometheus text
/// `text`; 0 when it is not there.
pub fn metric(text: &str, line: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line).map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0.0)
}

/// Asserts that each sample line rose from `before` to `after` (Prometheus texts) by its amount.
pub fn assert_increases(before: &str, after: &str, increases: &[(&str, f64)]) {
    for (line, increase) in increases {
        assert_eq!(
            metric(after, line) - metric(before, line),
            *increase,
            "{line}\n{after}"
        );
    }
}

impl Env {
    /// Whether the engine was woken since the last call (and takes the wake-up).
    pub fn engine_woken(&self) -> bool {
        use futures::FutureExt;
        self.state.engine_wake.notified().now_or_never().is_some()
    }
}

pub fn config_yaml(dir: &std::path::Path, extra: &str) -> String {
    config_yaml_with_auth(dir, "", extra)
}

/// [`config_yaml`] with more `auth` keys (`, read_only_keys: [vector]`).
pub fn config_yaml_with_auth(dir: &std::path::Path, auth: &str, extra: &str) -> String {
    format!(
        "store: {{ path: {db} }}\nauth: {{ keys_dir: {keys}{auth} }}\nguards: {{ namespaces: [shop] }}\n{extra}\n",
        db = dir.join("healer.db").display(),
        keys = dir.join("keys").display(),
    )
}

pub fn write_keys(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys").join(FB_KEY_ID), FB_SECRET).unwrap();
    std::fs::write(dir.join("keys").join(VEC_KEY_ID), VEC_SECRET).unwrap();
}

pub fn env(extra: &str) -> Env {
    env_with_auth("", extra)
}

/// [`env`] with more `auth` keys ([`config_yaml_with_auth`]).
pub fn env_with_auth(auth: &str, extra: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let yaml = config_yaml_with_auth(dir.path(), auth, extra);
    env_from_yaml(dir, &yaml)
}

/// A healer on `dir` (its keys written) with the config `yaml`.
pub fn env_from_yaml(dir: tempfile::TempDir, yaml: &str) -> Env {
    let config = Config::from_yaml(yaml).unwrap();
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(T0).unwrap()));
    let keys = KeyRing::load(&config.auth.keys_dir).unwrap();
    let auth = Authenticator::new(
        keys,
        &config.auth.service,
        &config.auth.region,
        config.auth.max_clock_skew_secs,
        config.auth.replay_cache_capacity,
        clock.clone(),
    );
    let store = Store::open(&config.store.path, config.store.synchronous).unwrap();
    let state = Arc::new(Shared::new(
        Arc::new(config),
        auth,
        store,
        Arc::new(Metrics::new()),
        clock.clone(),
        Arc::new(Notify::new()),
        Arc::new(AtomicBool::new(true)),
    ));
    Env { dir, clock, state }
}

pub fn record(entity: &str, incident: &str, pod: Option<&str>) -> serde_json::Value {
    serde_json::json!({"log": "something bad", "kubernetes": {"pod_name": pod},
        "edgeheal": {
            "kind": "log", "entity": entity, "pod": pod, "ts": "2026-11-21T10:00:00Z",
            "score": 0.93, "anomaly": true, "severity": "critical", "incident": incident,
            "action": "rollout_restart", "why": [{"feature": "err_rate", "value": 0.5, "contribution": 0.4}],
            "model": "default@abc123", "workload_kind": "deployment"}})
}

pub fn body_of(records: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(records).unwrap()
}

fn system_time(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix as u64)
}

/// Signs like Vector: the AWS SDK signer (`aws-sigv4`), default settings.
pub fn sign_vector(
    key_id: &str,
    secret: &str,
    at: i64,
    body: &[u8],
    extra_headers: &[(&str, &str)],
) -> Request<Body> {
    sign_sigv4(
        "POST",
        "/v1/anomalies",
        key_id,
        secret,
        at,
        body,
        extra_headers,
    )
}

/// `method path` signed with SigV4 by the AWS SDK signer (`aws-sigv4`), default settings.
pub fn sign_sigv4(
    method: &str,
    path: &str,
    key_id: &str,
    secret: &str,
    at: i64,
    body: &[u8],
    extra_headers: &[(&str, &str)],
) -> Request<Body> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let identity =
        aws_credential_types::Credentials::new(key_id, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("local")
        .name("edgeheal")
        .time(system_time(at))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut headers: Vec<(&str, &str)> = vec![("host", HOST), ("content-type", "application/json")];
    headers.extend_from_slice(extra_headers);
    let uri = format!("http://{HOST}{path}");
    let signable = SignableRequest::new(
        method,
        uri.clone(),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _sig) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method(method).uri(path);
    for (k, v) in &headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body.to_vec())).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req
}

/// Signs like Fluent Bit's `flb_signv4_do`: every header it sends is signed (lower-cased,
/// trimmed, sorted), the body hash is over the bytes sent, the path is encoded once. Written
/// independently of the healer's verifier; the HMAC chain is the aws-sigv4 crate's.
pub fn sign_fluent_bit(
    key_id: &str,
    secret: &str,
    at: i64,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Request<Body> {
    let amz_date = jiff::Timestamp::from_second(at)
        .unwrap()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let date = &amz_date[..8];
    let content_length = body.len().to_string();
    let mut all: Vec<(String, String)> = vec![
        ("Host".into(), HOST.into()),
        ("Content-Length".into(), content_length),
        ("User-Agent".into(), "Fluent-Bit".into()),
        ("x-amz-date".into(), amz_date.clone()),
    ];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut canon: Vec<(String, String)> = all
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.trim().to_string()))
        .collect();
    canon.sort();
    let signed_headers = canon
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut cr = String::from("POST\n/v1/anomalies\n\n");
    for (k, v) in &canon {
        cr.push_str(&format!("{k}:{v}\n"));
    }
    cr.push('\n');
    cr.push_str(&signed_headers);
    cr.push('\n');
    cr.push_str(&hex::encode(Sha256::digest(body)));
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/local/edgeheal/aws4_request\n{}",
        hex::encode(Sha256::digest(cr.as_bytes()))
    );
    let key =
        aws_sigv4::sign::v4::generate_signing_key(secret, system_time(at), "local", "edgeheal");
    let sig = aws_sigv4::sign::v4::calculate_signature(key, sts.as_bytes());
    let authz = format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{date}/local/edgeheal/aws4_request, SignedHeaders={signed_headers}, Signature={sig}"
    );
    let mut req = http::Request::builder().method("POST").uri("/v1/anomalies");
    for (k, v) in &all {
        req = req.header(k.as_str(), v.as_str());
    }
    req.header("Authorization", authz)
        .body(Body::from(body.to_vec()))
        .unwrap()
}

/// Signs with `X-Edgeheal-Key-Id` + `X-Edgeheal-Signature`.
pub fn sign_header(
    method: &str,
    uri: &str,
    key_id: &str,
    secret: &str,
    at: i64,
    body: &[u8],
) -> Request<Body> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST)
        .header("content-type", "application/json")
        .header("x-edgeheal-key-id", key_id)
        .header(
            "x-edgeheal-signature",
            sign_hmac(secret.as_bytes(), at, body),
        )
        .body(Body::from(body.to_vec()))
        .unwrap()
}

/// One request through the heal API's router: the status, the body's bytes and the headers.
pub async fn send_raw(
    state: &Arc<Shared>,
    req: Request<Body>,
) -> (http::StatusCode, axum::body::Bytes, http::HeaderMap) {
    use tower::ServiceExt;
    let resp = edgeheal_healer::app(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, bytes, headers)
}

/// [`send_raw`], the body read as JSON (`null` if it is not).
pub async fn send(
    state: &Arc<Shared>,
    req: Request<Body>,
) -> (http::StatusCode, serde_json::Value, http::HeaderMap) {
    let (status, bytes, headers) = send_raw(state, req).await;
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json, headers)
}

pub async fn stored(state: &Arc<Shared>) -> (i64, i64) {
    state
        .store
        .read(edgeheal_healer::store::counts)
        .await
        .unwrap()
}

pub fn now(clock: &ManualClock) -> i64 {
    clock.now().as_second()
}
