//! The HTTP surface: [`router`] maps kube-apiserver paths onto the verbs,
//! with bearer-token checking, the request log, Status bodies for unknown
//! paths (404) and verbs (405), and [`serve`] / [`spawn`] to run it.

use super::discovery::{self, SIM_GIT_VERSION};
use super::error::{ApiError, ServerError};
use super::kinds::Kind;
use super::ops::{self, Writer};
use super::patch::{parse_body, PatchKind};
use super::query::Query;
use super::requestlog::log_requests;
use super::scale;
use super::state::ApiState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
use serde_json::Value;
use std::future::Future;

/// The header on every response that says the answer came from the simulator.
pub const SIMULATOR_HEADER: &str = "x-edgeheal-simulator";

/// The router of a simulated cluster.
pub fn router(state: ApiState) -> Router {
    let mut r = Router::new()
        .route(
            "/version",
            get(|| async { json(StatusCode::OK, &discovery::version()) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/api",
            get(|| async { json(StatusCode::OK, &discovery::core_versions()) }),
        )
        .route(
            "/apis",
            get(|| async { json(StatusCode::OK, &discovery::groups()) }),
        )
        .route(
            "/api/v1",
            get(|| async { found(discovery::resources("v1")) }),
        )
        .route(
            "/apis/{group}",
            get(|Path(g): Path<String>| async move { found(discovery::api_group(&g)) }),
        )
        .route(
            "/apis/{group}/{version}",
            get(|Path((g, v)): Path<(String, String)>| async move {
                found(discovery::resources(&format!("{g}/{v}")))
            }),
        );
    r = kind_routes::<Pod>(r);
    r = kind_routes::<Deployment>(r);
    r = kind_routes::<ReplicaSet>(r);
    r = kind_routes::<HorizontalPodAutoscaler>(r);
    r = kind_routes::<Event>(r);
    r = kind_routes::<Lease>(r);
    r = r.route(
        "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale",
        get(scale_get).put(scale_put).patch(scale_patch),
    );
    r = r.route("/api/v1/namespaces/{ns}/pods/{name}/eviction", post(evict));
    r.fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn_with_state(state.clone(), authenticate))
        .layer(from_fn_with_state(state.clone(), log_requests))
        .with_state(state)
}

/// Serves `state` on `listener` until the task is dropped or fails.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState) -> Result<(), ServerError> {
    serve_until(listener, state, std::future::pending()).await
}

/// Serves `state` on `listener` until `shutdown` completes (graceful).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(
        %addr,
        version = SIM_GIT_VERSION,
        "edgeheal simulated Kubernetes API server on http://{addr}: a SIMULATOR serving a subset of the Kubernetes API, not a real cluster"
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}

/// Binds `127.0.0.1:0`, serves `state` on a background task, and returns the
/// base URL (`http://127.0.0.1:PORT`) and the task (abort it to stop).
pub async fn spawn(
    state: ApiState,
) -> Result<(String, tokio::task::JoinHandle<Result<(), ServerError>>), ServerError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(ServerError::Serve)?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    let task = tokio::spawn(serve(listener, state));
    Ok((format!("http://{addr}"), task))
}

fn json(code: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn found(v: Option<Value>) -> Response {
    match v {
        Some(v) => json(StatusCode::OK, &v),
        None => ApiError::NoRoute.into_response(),
    }
}

fn reply(code: StatusCode, r: Result<Value, ApiError>) -> Response {
    match r {
        Ok(v) => json(code, &v),
        Err(e) => e.into_response(),
    }
}

/// Constant-time equality of two byte strings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authenticate(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let open = matches!(
        req.uri().path(),
        "/version" | "/healthz" | "/livez" | "/readyz"
    );
    if let (Some(token), false) = (state.token(), open) {
        let want = format!("Bearer {token}");
        let got = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !same(got, want.as_bytes()) {
            return with_marker(ApiError::Unauthorized.into_response());
        }
    }
    with_marker(next.run(req).await)
}

fn with_marker(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(SIMULATOR_HEADER, HeaderValue::from_static("true"));
    resp
}

fn base<K: Kind>() -> String {
    if K::GROUP.is_empty() {
        format!("/api/{}", K::VERSION)
    } else {
        format!("/apis/{}/{}", K::GROUP, K::VERSION)
    }
}

fn kind_routes<K: Kind>(r: Router<ApiState>) -> Router<ApiState> {
    let base = base::<K>();
    let plural = K::URL_PATH_SEGMENT;
    r.route(&format!("{base}/{plural}"), get(list_all::<K>))
        .route(
            &format!("{base}/namespaces/{{ns}}/{plural}"),
            get(list_ns::<K>).post(create::<K>),
        )
        .route(
            &format!("{base}/namespaces/{{ns}}/{plural}/{{name}}"),
            get(get_one::<K>)
                .put(replace::<K>)
                .patch(patch::<K>)
                .delete(delete::<K>),
        )
}

/// The field manager: `fieldManager`, else the user agent's product token, as kube-apiserver defaults it.
fn manager(q: &Query, headers: &HeaderMap) -> String {
    q.field_manager.clone().unwrap_or_else(|| {
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_owned()
    })
}

/// A create/replace body: JSON or YAML; anything else is 415.
fn object_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    match ct.split(';').next().unwrap_or("").trim() {
        "application/json" | "" | "*/*" => parse_body(body, false),
        "application/yaml" => parse_body(body, true),
        _ => Err(ApiError::UnsupportedMediaType {
            accepted: "application/json, application/yaml",
        }),
    }
}

fn patch_kind(headers: &HeaderMap) -> Result<PatchKind, ApiError> {
    PatchKind::from_content_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
}

async fn list_all<K: Kind>(State(s): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let r = Query::parse(raw.as_deref()).and_then(|q| ops::list::<K>(&s.lock(), None, &q));
    reply(StatusCode::OK, r)
}

async fn list_ns<K: Kind>(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = Query::parse(raw.as_deref()).and_then(|q| ops::list::<K>(&s.lock(), Some(&ns), &q));
    reply(StatusCode::OK, r)
}

async fn get_one<K: Kind>(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = Query::parse(raw.as_deref()).and_then(|_| ops::get::<K>(&s.lock(), &ns, &name));
    reply(StatusCode::OK, r)
}

async fn create<K: Kind>(
    State(s): State<ApiState>,
    Path(ns): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = (|| {
        let q = Query::parse(raw.as_deref())?;
        let obj = object_body(&headers, &body)?;
        let m = manager(&q, &headers);
        ops::create::<K>(
            &mut s.lock(),
            &ns,
            &q,
            obj,
            &Writer {
                manager: &m,
                subresource: None,
            },
        )
    })();
    reply(StatusCode::CREATED, r)
}

async fn replace<K: Kind>(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = (|| {
        let q = Query::parse(raw.as_deref())?;
        let obj = object_body(&headers, &body)?;
        let m = manager(&q, &headers);
        ops::replace::<K>(
            &mut s.lock(),
            &ns,
            &name,
            &q,
            obj,
            &Writer {
                manager: &m,
                subresource: None,
            },
        )
    })();
    reply(StatusCode::OK, r)
}

async fn patch<K: Kind>(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = (|| {
        let q = Query::parse(raw.as_deref())?;
        let kind = patch_kind(&headers)?;
        let m = manager(&q, &headers);
        ops::patch::<K>(
            &mut s.lock(),
            &ns,
            &name,
            &q,
            kind,
            &body,
            &Writer {
                manager: &m,
                subresource: None,
            },
        )
    })();
    match r {
        Ok((code, v)) => json(code, &v),
        Err(e) => e.into_response(),
    }
}

async fn delete<K: Kind>(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let r = (|| {
        let q = Query::parse(raw.as_deref())?;
        let opts: DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
            DeleteOptions::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
        };
        ops::delete::<K>(&mut s.lock(), &ns, &name, &q, &opts)
    })();
    reply(StatusCode::OK, r)
}

async fn scale_get(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let r = Query::parse(raw.as_deref()).and_then(|_| scale::get(&s.lock(), &ns, &name));
    reply(StatusCode::OK, r)
}

async fn scale_put(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = (|| {
        let q = Query::parse(raw.as_deref())?;
        let obj = object_body(&headers, &body)?;
        let m = manager(&q, &headers);
        scale::replace(
            &mut s.lock(),
            &ns,
            &name,
            &q,
            obj,
            &Writer {
                manager: &m,
                subresource: None,
            },
        )
    })();
    reply(StatusCode::OK, r)
}

/// POST `pods/{name}/eviction` (policy/v1 `Eviction`), as
/// `pkg/registry/core/pod/storage/eviction.go` handles it with no
/// PodDisruptionBudget in the namespace (the simulator has none): the name
/// must be the URL's, `dryRun` comes from the query or the body's
/// `deleteOptions` (both set and different is an error), and the pod is
/// deleted with the body's `deleteOptions` (preconditions too). Answers 201
/// with a `Status`.
async fn evict(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let r = (|| {
        let q = Query::parse(raw.as_deref())?;
        let eviction: Eviction = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("error decoding Eviction: {e}")))?;
        if eviction.metadata.name.as_deref() != Some(name.as_str()) {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Eviction object".to_string(),
            ));
        }
        let mut opts = eviction.delete_options.unwrap_or_default();
        let query_dry_run: Vec<String> = if q.dry_run {
            vec!["All".to_string()]
        } else {
            Vec::new()
        };
        match &opts.dry_run {
            Some(d) if !q.dry_run || *d == query_dry_run => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "DryRun in query and body differ".to_string(),
                ))
            }
            None if q.dry_run => opts.dry_run = Some(query_dry_run),
            None => {}
        }
        ops::delete::<Pod>(&mut s.lock(), &ns, &name, &Query::default(), &opts)?;
        Ok(serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }))
    })();
    reply(StatusCode::CREATED, r)
}

async fn scale_patch(
    State(s): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = (|| {
        let q = Query::parse(raw.as_deref())?;
        let kind = patch_kind(&headers)?;
        let m = manager(&q, &headers);
        scale::patch(
            &mut s.lock(),
            &ns,
            &name,
            &q,
            kind,
            &body,
            &Writer {
                manager: &m,
                subresource: None,
            },
        )
    })();
    reply(StatusCode::OK, r)
}
