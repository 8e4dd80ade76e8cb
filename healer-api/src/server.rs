//! The HTTP API: `fn app(state) -> Router`. Authentication is an extractor ([`Signed`]), so a
//! handler that takes it is protected; the ingest permit is another ([`IngestPermit`]), taken
//! before the body is read so an overloaded server sheds load cheaply with 429.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::app_error::AppError;
use crate::auth::{AuthFailure, Authenticator, Scheme, Verified};
use crate::clock::SharedClock;
use crate::config::{Access, Config};
use crate::decode::{self, DecodeLimits};
use crate::hpa_floor;
use crate::metrics::Metrics;
use crate::replay::ReplayVerdict;
use crate::store::{self, IncidentFilter, NewBatch, Store, StoreError};

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: Arc<Config>,
    /// Request verifier.
    pub auth: Authenticator,
    /// The store.
    pub store: Store,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Time source.
    pub clock: SharedClock,
    /// Wakes the incident engine after a batch is committed.
    pub engine_wake: Arc<Notify>,
    /// Bounds batches between "accepted for commit" and "committed".
    pub ingest_slots: Arc<Semaphore>,
    /// Set by the engine and leader election; `/readyz` reports it.
    pub ready: Arc<AtomicBool>,
}

/// The router state.
pub type AppState = Arc<Shared>;

/// Builds the router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/anomalies", post(ingest))
        .route("/v1/incidents", get(list_incidents))
        .route("/v1/incidents/{id}", get(get_incident))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A request whose signature verified; holds the raw body.
#[derive(Debug)]
pub struct Signed {
    /// Who signed it.
    pub identity: Verified,
    /// The body exactly as received (the signed bytes).
    pub body: Bytes,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
}

impl FromRequest<AppState> for Signed {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.ingest.max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(AppError::PayloadTooLarge);
        }
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| AppError::PayloadTooLarge)?;
        let identity = state
            .auth
            .verify(&parts.method, &parts.uri, &parts.headers, &body)
            .inspect_err(|f| state.metrics.auth_failure(f.code()))
            .map_err(AppError::Unauthorized)?;
        let header_str = |h: header::HeaderName| {
            parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Signed {
            identity,
            content_type: header_str(header::CONTENT_TYPE),
            content_encoding: header_str(header::CONTENT_ENCODING),
            body,
        })
    }
}

/// The verified request if its key may do `access` (see [`crate::config::AuthConfig::allows`]);
/// otherwise 403, counted in `auth_failures` as `read_only_key` (posting) or `ingest_only_key`
/// (reading).
fn authorized(
    state: &AppState,
    signed: Result<Signed, AppError>,
    access: Access,
) -> Result<Signed, AppError> {
    let signed = signed?;
    let key_id = &signed.identity.key_id;
    if state.config.auth.allows(key_id, access) {
        return Ok(signed);
    }
    let reason = match access {
        Access::Post => "read_only_key",
        Access::Read => "ingest_only_key",
    };
    state.metrics.auth_failure(reason);
    tracing::warn!(%key_id, ?access, "key refused: {reason}");
    Err(AppError::Forbidden(access))
}

/// A slot in the bounded ingest queue, held until the batch is committed.
#[derive(Debug)]
pub struct IngestPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl FromRequestParts<AppState> for IngestPermit {
    type Rejection = AppError;

    async fn from_request_parts(
        _parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state
            .ingest_slots
            .clone()
            .try_acquire_owned()
            .map(IngestPermit)
            .map_err(|_| {
                state.metrics.request("overloaded");
                AppError::Overloaded
            })
    }
}

async fn ingest(
    State(state): State<AppState>,
    _permit: IngestPermit,
    signed: Result<Signed, AppError>,
) -> Result<impl IntoResponse, AppError> {
    let started = Instant::now();
    let result = ingest_inner(&state, signed).await;
    match &result {
        Ok(_) => {
            state.metrics.request("accepted");
            state
                .metrics
                .ingest_latency
                .observe(started.elapsed().as_secs_f64());
        }
        Err(e) => state.metrics.request(e.code()),
    }
    result
}

async fn ingest_inner(
    state: &AppState,
    signed: Result<Signed, AppError>,
) -> Result<impl IntoResponse + use<>, AppError> {
    // A key for people reads the history; it does not feed the engine.
    let signed = authorized(state, signed, Access::Post)?;
    // Refused here, a replay costs no decoding. Nothing is remembered before the commit: a
    // batch refused below (429, 503, a bad record) may be sent again as it was.
    match state.auth.check_replay(&signed.identity) {
        ReplayVerdict::Fresh => {}
        ReplayVerdict::Replayed => {
            state.metrics.auth_failure(AuthFailure::Replayed.code());
            return Err(AppError::Unauthorized(AuthFailure::Replayed));
        }
        ReplayVerdict::Full { retry_after_secs } => {
            tracing::warn!(
                retry_after_secs,
                capacity = state.config.auth.replay_cache_capacity,
                "replay cache full: batch refused with 429 (raise auth.replay_cache_capacity)"
            );
            return Err(AppError::ReplayCacheFull { retry_after_secs });
        }
    }
    let cfg = &state.config.ingest;
    let plain = decode::decompress(
        signed.content_encoding.as_deref(),
        &signed.body,
        cfg.max_decompressed_bytes,
        &mut |_| true,
    )?;
    let format = decode::format_for(signed.content_type.as_deref(), &plain)?;
    let records = decode::decode(format, &plain, DecodeLimits::of(cfg))?;
    let n = records.len();
    // Records about no workload (a node's `_/<node>`, a null entity) are authenticated and
    // well-formed: stored with their batch, counted, never actionable.
    let mut not_actionable: BTreeMap<&'static str, u64> = BTreeMap::new();
    for r in &records {
        let scope = r.tags.scope();
        if scope.workload().is_none() {
            *not_actionable.entry(scope.as_str()).or_default() += 1;
        }
    }
    let batch = NewBatch {
        received_at_ms: state.clock.now().as_millisecond(),
        key_id: signed.identity.key_id.clone(),
        scheme: match signed.identity.scheme {
            Scheme::SigV4 => "sigv4",
            Scheme::Hmac => "hmac",
        },
        signature: signed.identity.signature_hex.clone(),
        signed_at_ms: Some(signed.identity.signed_at.saturating_mul(1000)),
        records,
    };
    state.metrics.queue_depth.inc();
    let res = state.store.insert_batch(batch).await;
    state.metrics.queue_depth.dec();
    let batch_id = match res {
        Ok(id) => id,
        // The same request in flight twice at once, or accepted before a restart and no
        // longer in the cache: the store's unique signature commits one.
        Err(StoreError::DuplicateBatch) => {
            state.metrics.auth_failure(AuthFailure::Replayed.code());
            return Err(AppError::Unauthorized(AuthFailure::Replayed));
        }
        Err(e) => return Err(e.into()),
    };
    state.auth.accepted(&signed.identity);
    state.metrics.records.inc_by(n as u64);
    for (scope, k) in &not_actionable {
        state.metrics.not_actionable(scope, *k);
    }
    state.engine_wake.notify_one();
    tracing::debug!(batch_id, records = n, key_id = %signed.identity.key_id, "batch committed");
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "batch_id": batch_id,
            "records": n,
            "not_actionable": not_actionable.values().sum::<u64>(),
        })),
    ))
}

/// Query parameters of `GET /v1/incidents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    namespace: Option<String>,
    entity: Option<String>,
    kind: Option<String>,
    cursor: Option<i64>,
    limit: Option<usize>,
}

/// The states `GET /v1/incidents?state=` filters on.
pub const INCIDENT_STATES: [&str; 6] = [
    "open",
    "acting",
    "verifying",
    "resolved",
    "escalated",
    "failed",
];
/// Incidents a page holds unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 50;
/// The largest `limit` a page takes.
pub const MAX_PAGE: usize = 500;

async fn list_incidents(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    signed: Result<Signed, AppError>,
) -> Result<impl IntoResponse, AppError> {
    authorized(&state, signed, Access::Read)?;
    let Query(q) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    if let Some(s) = &q.state {
        if !INCIDENT_STATES.contains(&s.as_str()) {
            return Err(AppError::BadRequest(format!(
                "state must be one of {INCIDENT_STATES:?}"
            )));
        }
    }
    if let Some(k) = &q.kind {
        if crate::tags::IncidentKind::parse(k).is_none() {
            return Err(AppError::BadRequest(format!("unknown incident kind {k:?}")));
        }
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "limit must be within 1..={MAX_PAGE}"
        )));
    }
    let filter = IncidentFilter {
        state: q.state,
        namespace: q.namespace,
        entity: q.entity,
        kind: q.kind,
        before_id: q.cursor,
        limit,
    };
    let rows = state
        .store
        .read(move |c| store::list_incidents(c, &filter))
        .await?;
    let next_cursor = if rows.len() == limit {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(
        serde_json::json!({"incidents": rows, "next_cursor": next_cursor}),
    ))
}

async fn get_incident(
    State(state): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    signed: Result<Signed, AppError>,
) -> Result<impl IntoResponse, AppError> {
    authorized(&state, signed, Access::Read)?;
    let Path(id) = id.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let found = state
        .store
        .read(move |c| {
            let Some(history) = store::get_incident(c, id)? else {
                return Ok(None);
            };
            Ok(Some((history, hpa_floor::raises_of_incident(c, id)?)))
        })
        .await?;
    let ((incident, decisions, actions), hpa_raises) = found.ok_or(AppError::NotFound)?;
    Ok(Json(serde_json::json!({
        "incident": incident, "decisions": decisions, "actions": actions, "hpa_raises": hpa_raises,
    })))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) && state.store.is_writer_alive() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
