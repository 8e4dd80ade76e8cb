//! The HTTP API: `fn app(state) -> Router`. Authentication is an extractor
//! ([`crate::signed`]), so a handler that takes one is protected; what the headers tell is
//! judged before a body is read. A batch takes a commit slot (`store.queue_capacity`) only
//! once its signature verified, so an overloaded server sheds load with 429 and what is
//! unauthenticated never holds one. A batch is decoded on tokio's blocking pool, so that the
//! runtime's workers keep serving the other requests (the probes among them) meanwhile.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::Deserialize;
use tokio::sync::{Notify, Semaphore};

use crate::app_error::AppError;
use crate::auth::{AuthFailure, Authenticator, Scheme, Verified};
use crate::body_budget::{BodyBudget, BodyHold, Refusal};
use crate::clock::SharedClock;
use crate::config::{Access, Config, IngestConfig};
use crate::decode::{self, AnomalyRecord, DecodeError, DecodeLimits, Format};
use crate::hpa_floor;
use crate::metrics::Metrics;
use crate::replay::ReplayVerdict;
use crate::signed::{over_budget, reads_take_no_body, SignedBatch, SignedRead};
use crate::store::{self, Committed, IncidentFilter, NewBatch, Store, StoreError, StoredBatch};

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
    /// Bounds batches between "verified" and "committed" (`store.queue_capacity`).
    pub ingest_slots: Arc<Semaphore>,
    /// The memory request bodies may take at once (`ingest.max_inflight_bytes`).
    pub body_budget: BodyBudget,
    /// Set by the engine and leader election; `/readyz` reports it.
    pub ready: Arc<AtomicBool>,
    /// Set at the start of a shutdown ([`Shared::begin_shutdown`]): `/readyz` answers 503
    /// `shutting down` while the heal API goes on serving for `server.shutdown_delay_secs`.
    shutting_down: AtomicBool,
}

impl Shared {
    /// The handlers' state, its commit slots and bodies' budget sized from `config`.
    pub fn new(
        config: Arc<Config>,
        auth: Authenticator,
        store: Store,
        metrics: Arc<Metrics>,
        clock: SharedClock,
        engine_wake: Arc<Notify>,
        ready: Arc<AtomicBool>,
    ) -> Self {
        Self {
            ingest_slots: Arc::new(Semaphore::new(config.store.queue_capacity)),
            body_budget: BodyBudget::new(config.ingest.max_inflight_bytes),
            config,
            auth,
            store,
            metrics,
            clock,
            engine_wake,
            ready,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Marks the heal API as shutting down: `/readyz` answers 503 from now on, so Kubernetes
    /// takes the pod out of its Service while requests are still served.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
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
        .layer(middleware::from_fn(reads_take_no_body))
        .with_state(state)
}

/// Whether the verified key `key_id` may do `access` (see
/// [`crate::config::AuthConfig::allows`]); otherwise 403, counted in `auth_failures` as
/// `read_only_key` (posting) or `ingest_only_key` (reading).
fn authorized(state: &AppState, key_id: &str, access: Access) -> Result<(), AppError> {
    if state.config.auth.allows(key_id, access) {
        return Ok(());
    }
    let reason = match access {
        Access::Post => "read_only_key",
        Access::Read => "ingest_only_key",
    };
    state.metrics.auth_failure(reason);
    tracing::warn!(%key_id, ?access, "key refused: {reason}");
    Err(AppError::Forbidden(access))
}

async fn ingest(
    State(state): State<AppState>,
    signed: Result<SignedBatch, AppError>,
) -> Result<impl IntoResponse, AppError> {
    let started = Instant::now();
    let result = ingest_inner(&state, signed).await;
    match &result {
        Ok(ingested) => {
            state.metrics.request(ingested.result());
            state
                .metrics
                .ingest_latency
                .observe(started.elapsed().as_secs_f64());
        }
        Err(e) => state.metrics.request(e.code()),
    }
    result
}

/// What became of a batch answered with success.
#[derive(Debug)]
struct Ingested {
    /// The batch holding its records.
    batch_id: i64,
    records: u64,
    not_actionable: u64,
    delivery: Delivery,
}

/// How a batch answered with success came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// New: committed as its batch.
    Committed,
    /// Its body was stored already and nothing was stored: a sender's retry of a batch whose
    /// answer it did not get (the connection reset, its timeout), which Fluent Bit and Vector
    /// sign anew.
    Redelivered,
    /// The same signed request as a committed batch, sent again: a retry within the second
    /// it was signed (Vector's retries wait a random part of a second), or a copy someone
    /// captured. Nothing was stored or decoded.
    Replayed,
}

impl Ingested {
    /// The `result` label of `edgeheal_healer_ingest_requests_total`.
    fn result(&self) -> &'static str {
        match self.delivery {
            Delivery::Committed => "accepted",
            Delivery::Redelivered => "redelivered",
            Delivery::Replayed => "replayed",
        }
    }
}

impl IntoResponse for Ingested {
    fn into_response(self) -> axum::response::Response {
        let mut body = serde_json::json!({
            "batch_id": self.batch_id,
            "records": self.records,
            "not_actionable": self.not_actionable,
        });
        // A redelivery or a replay gets 200, which both senders take for success as any 2xx
        // (Fluent Bit's `http` output 200 to 205, Vector's `http` sink any 2xx): the batch is
        // not sent again. A committed batch gets 202.
        let status = if self.delivery == Delivery::Committed {
            StatusCode::ACCEPTED
        } else {
            body["redelivered"] = serde_json::Value::Bool(true);
            StatusCode::OK
        };
        (status, Json(body)).into_response()
    }
}

async fn ingest_inner(
    state: &AppState,
    signed: Result<SignedBatch, AppError>,
) -> Result<Ingested, AppError> {
    let SignedBatch {
        identity,
        body,
        content_type,
        content_encoding,
        hold,
    } = signed?;
    // A key for people reads the history; it does not feed the engine.
    authorized(state, &identity.key_id, Access::Post)?;
    // A replay is answered here without decoding when its signature names a stored batch.
    // Nothing is remembered before the commit: a batch refused below (429, 503, a bad record)
    // may be sent again as it was.
    let replay = match state.auth.check_replay(&identity) {
        ReplayVerdict::Fresh => false,
        ReplayVerdict::Replayed => {
            match batch_signed(state, &identity).await? {
                Some(batch) => return replayed(state, &identity, Some(batch)),
                // The replay of a redelivery, which stored nothing under its signature: its
                // body names the batch (below). Or its batch was pruned.
                None => true,
            }
        }
        ReplayVerdict::Full { retry_after_secs } => {
            tracing::warn!(
                retry_after_secs,
                capacity = state.config.auth.replay_cache_capacity,
                "replay cache full: batch refused with 429 (raise auth.replay_cache_capacity)"
            );
            return Err(AppError::ReplayCacheFull { retry_after_secs });
        }
    };
    // Held until the batch is committed and answered.
    let _slot = state
        .ingest_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            tracing::debug!("commit queue full: batch refused with 429");
            AppError::Overloaded
        })?;
    // Decoded off the runtime's workers; what the records take stays held until the batch is
    // answered.
    let (
        DecodedBatch {
            records,
            body_sha256,
        },
        _hold,
    ) = decode_off_runtime(
        body,
        content_type,
        content_encoding,
        state.config.clone(),
        hold,
    )
    .await?;
    if replay {
        let stored = state
            .store
            .read(move |c| store::batch_with_body(c, &body_sha256))
            .await?;
        return replayed(state, &identity, stored);
    }
    let n = records.len() as u64;
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
        key_id: identity.key_id.clone(),
        scheme: match identity.scheme {
            Scheme::SigV4 => "sigv4",
            Scheme::Hmac => "hmac",
        },
        signature: identity.signature_hex.clone(),
        signed_at_ms: Some(identity.signed_at.saturating_mul(1000)),
        body_sha256,
        records,
    };
    state.metrics.queue_depth.inc();
    let res = state.store.insert_batch(batch).await;
    state.metrics.queue_depth.dec();
    let batch_id = match res {
        Ok(Committed::New(id)) => id,
        // The body is stored already: a retry signed anew. Its records were counted once and
        // the engine has them; nothing changes. Its signature is remembered as any accepted
        // one, so the same request again is a replay.
        Ok(Committed::Redelivered(id)) => {
            state.auth.accepted(&identity);
            tracing::info!(
                batch_id = id,
                records = n,
                key_id = %identity.key_id,
                "batch redelivered (its body is stored already): nothing stored"
            );
            return Ok(Ingested {
                batch_id: id,
                records: n,
                not_actionable: not_actionable.values().sum(),
                delivery: Delivery::Redelivered,
            });
        }
        // The same request in flight twice at once, or accepted before a restart and no
        // longer in the cache: the store's unique signature committed the other copy.
        Err(StoreError::DuplicateBatch) => {
            return replayed(state, &identity, batch_signed(state, &identity).await?);
        }
        Err(e) => return Err(e.into()),
    };
    state.auth.accepted(&identity);
    state.metrics.records.inc_by(n);
    for (scope, k) in &not_actionable {
        state.metrics.not_actionable(scope, *k);
    }
    state.engine_wake.notify_one();
    tracing::debug!(batch_id, records = n, key_id = %identity.key_id, "batch committed");
    Ok(Ingested {
        batch_id,
        records: n,
        not_actionable: not_actionable.values().sum(),
        delivery: Delivery::Committed,
    })
}

/// The stored batch committed with `identity`'s signature.
async fn batch_signed(
    state: &AppState,
    identity: &Verified,
) -> Result<Option<StoredBatch>, AppError> {
    let (key_id, signature) = (identity.key_id.clone(), identity.signature_hex.clone());
    Ok(state
        .store
        .read(move |c| store::batch_signed(c, &key_id, &signature))
        .await?)
}

/// The answer to the same signed request as a stored batch: the same body (the signature
/// covers it), so it names that batch with 200, as a redelivery, and changes nothing. A retry
/// that Vector sends within the second it signed the first attempt is no authentication
/// failure, and neither sender drops or resends what is stored. A replay is refused (401) only
/// when its batch is no longer stored (pruned for size): nothing then says what the sender was
/// answered, and storing it again would act on it twice.
fn replayed(
    state: &AppState,
    identity: &Verified,
    stored: Option<StoredBatch>,
) -> Result<Ingested, AppError> {
    let Some(batch) = stored else {
        state.metrics.auth_failure(AuthFailure::Replayed.code());
        return Err(AppError::Unauthorized(AuthFailure::Replayed));
    };
    tracing::info!(
        batch_id = batch.id,
        records = batch.records,
        key_id = %identity.key_id,
        "the same signed request again (a retry within the second it was signed, or a copy): answered as its batch, nothing stored"
    );
    Ok(Ingested {
        batch_id: batch.id,
        records: batch.records,
        not_actionable: batch.not_actionable,
        delivery: Delivery::Replayed,
    })
}

/// A verified batch, decoded.
struct DecodedBatch {
    /// Its records, validated.
    records: Vec<AnomalyRecord>,
    /// [`store::body_digest`] of its body as decoded.
    body_sha256: [u8; 32],
}

/// [`decode_batch`] on tokio's blocking pool: gunzipping and parsing up to
/// `ingest.max_decompressed_bytes` takes long enough that, on a runtime worker, it would hold
/// up every other request that worker serves, the probes among them. `hold` goes with the work
/// and comes back with the records; a request dropped meanwhile (its client gone) gives it back
/// once the work is over, as the memory is in use until then. A panic is resumed here, as it
/// was when decoding ran in the handler.
async fn decode_off_runtime(
    body: Bytes,
    content_type: Option<String>,
    content_encoding: Option<String>,
    config: Arc<Config>,
    mut hold: BodyHold,
) -> Result<(DecodedBatch, BodyHold), AppError> {
    let work = tokio::task::spawn_blocking(move || {
        let decoded = decode_batch(
            body,
            content_type.as_deref(),
            content_encoding.as_deref(),
            &config.ingest,
            &mut hold,
        );
        decoded.map(|d| (d, hold))
    });
    match work.await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(AppError::Unavailable(format!(
            "decoding did not finish: {e}"
        ))),
    }
}

/// Decompresses and decodes a verified batch, charging the bodies' budget for what that takes
/// before it is taken. Once done, `hold` holds what the records take: the body and its
/// decompressed copy are gone.
fn decode_batch(
    body: Bytes,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    cfg: &IngestConfig,
    hold: &mut BodyHold,
) -> Result<DecodedBatch, AppError> {
    let mut refusal = None;
    let refused = |e: DecodeError, refusal: Option<Refusal>| match (e, refusal) {
        (DecodeError::OverBudget, Some(r)) => over_budget(r),
        (e, _) => AppError::from(e),
    };
    let wire = hold.held();
    let plain = decode::decompress(
        content_encoding,
        &body,
        cfg.max_decompressed_bytes,
        &mut charger(hold, &mut refusal),
    );
    let plain = match plain {
        Ok(Cow::Borrowed(_)) => body.clone(),
        Ok(Cow::Owned(inflated)) => {
            drop(body);
            hold.release(wire);
            Bytes::from(inflated)
        }
        Err(e) => return Err(refused(e, refusal)),
    };
    let format = decode::format_for(content_type, &plain)?;
    let before = hold.held();
    let mut records = decode::decode_charged(
        format,
        &plain,
        DecodeLimits::of(cfg),
        &mut charger(hold, &mut refusal),
    );
    // Fluent Bit's `format json` writes an infinite double as `inf` (and, unless
    // `json.convert_nan_to_null` is on, a NaN as `nan`), which is not JSON: a batch that holds
    // one is read again with them as `null`, as a msgpack body's are read, instead of refused.
    // Only after a malformed body, so no other pays for the look.
    if let (Err(DecodeError::Malformed(_)), Format::Json) = (&records, format) {
        if let Some(text) = decode::non_finite_as_null(&plain) {
            // What the first reading kept is gone; the new text is charged while it is read.
            hold.release(hold.held().saturating_sub(before));
            let text_len = text.len();
            if let Err(r) = hold.try_grow(text_len) {
                return Err(over_budget(r));
            }
            records = decode::decode_charged(
                format,
                &text,
                DecodeLimits::of(cfg),
                &mut charger(hold, &mut refusal),
            );
            drop(text);
            hold.release(text_len);
        }
    }
    let records = records.map_err(|e| refused(e, refusal))?;
    let body_sha256 = store::body_digest(&plain);
    drop(plain);
    hold.release(before);
    Ok(DecodedBatch {
        records,
        body_sha256,
    })
}

/// Charges `hold` for what decoding is about to take, noting why it refused.
fn charger<'a>(
    hold: &'a mut BodyHold,
    refusal: &'a mut Option<Refusal>,
) -> impl FnMut(usize) -> bool + 'a {
    move |n| match hold.try_grow(n) {
        Ok(()) => true,
        Err(r) => {
            *refusal = Some(r);
            false
        }
    }
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
pub const INCIDENT_STATES: [&str; 7] = crate::engine::State::NAMES;
/// Incidents a page holds unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 50;
/// The largest `limit` a page takes.
pub const MAX_PAGE: usize = 500;

async fn list_incidents(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    signed: Result<SignedRead, AppError>,
) -> Result<impl IntoResponse, AppError> {
    authorized(&state, &signed?.identity.key_id, Access::Read)?;
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
    signed: Result<SignedRead, AppError>,
) -> Result<impl IntoResponse, AppError> {
    authorized(&state, &signed?.identity.key_id, Access::Read)?;
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
    if state.shutting_down.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if state.ready.load(Ordering::Relaxed) && state.store.is_writer_alive() {
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
