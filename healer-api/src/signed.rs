//! The extractors that authenticate a request, so that a handler taking one is protected:
//! [`SignedBatch`] for `POST /v1/anomalies`, [`SignedRead`] for the reads.
//!
//! What the headers tell is judged before anything else ([`crate::auth::Authenticator::claim`]): a request
//! with no credentials, a malformed or duplicated one, a key the heal API does not hold, a
//! signed time outside the window or SigV4's required headers unsigned is refused with 401
//! before its body is read, and holds neither memory nor a commit slot. A batch's body is then
//! read within `server.body_read_timeout_secs` (408 after), never past
//! `ingest.max_body_bytes` (413), its memory charged to the bodies' budget as it arrives (429
//! when the rest is taken), and its signature checked over it. A read takes no body.

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::app_error::AppError;
use crate::auth::{AuthFailure, Verified};
use crate::body_budget::{BodyHold, Refusal};
use crate::server::AppState;

/// A batch whose signature verified: its body exactly as received (the signed bytes) and the
/// share of the bodies' budget it holds until it is answered.
#[derive(Debug)]
pub struct SignedBatch {
    /// Who signed it.
    pub identity: Verified,
    /// The body as received.
    pub body: Bytes,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// The memory the request holds (its body so far).
    pub hold: BodyHold,
}

/// A read whose signature (over the empty body) verified.
#[derive(Debug)]
pub struct SignedRead {
    /// Who signed it.
    pub identity: Verified,
}

fn unauthorized(state: &AppState, failure: AuthFailure) -> AppError {
    state.metrics.auth_failure(failure.code());
    AppError::Unauthorized(failure)
}

/// The error a refused charge of the bodies' budget answers with.
pub fn over_budget(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Busy => AppError::BodiesInFlight,
        Refusal::TooLarge => AppError::PayloadTooLarge,
    }
}

impl FromRequest<AppState> for SignedBatch {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let claim = state
            .auth
            .claim(&parts.headers)
            .map_err(|f| unauthorized(state, f))?;
        let limit = state.config.ingest.max_body_bytes;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(AppError::PayloadTooLarge);
        }
        let mut hold = state.body_budget.hold();
        let secs = state.config.server.body_read_timeout_secs;
        let body = tokio::time::timeout(
            Duration::from_secs(secs),
            read_body(body, limit, declared, &mut hold),
        )
        .await
        .map_err(|_| AppError::BodyTimeout { secs })??;
        let identity = state
            .auth
            .prove(claim, &parts.method, &parts.uri, &parts.headers, &body)
            .map_err(|f| unauthorized(state, f))?;
        let header_str = |h: header::HeaderName| {
            parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(SignedBatch {
            identity,
            content_type: header_str(header::CONTENT_TYPE),
            content_encoding: header_str(header::CONTENT_ENCODING),
            body,
            hold,
        })
    }
}

/// Reads a body of at most `limit` bytes, its buffer charged to `hold` before it grows (by
/// doubling, at most to what `Content-Length` declared): what the request holds is at most
/// twice what it sent.
async fn read_body(
    body: Body,
    limit: usize,
    declared: Option<usize>,
    hold: &mut BodyHold,
) -> Result<Bytes, AppError> {
    let mut frames = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| {
            tracing::debug!(error = %e, "request body not read");
            AppError::BadRequest("the request body could not be read".into())
        })?;
        let needed = buf.len() + frame.len();
        if needed > limit {
            return Err(AppError::PayloadTooLarge);
        }
        if needed > buf.capacity() {
            let capacity = (buf.capacity() * 2)
                .min(declared.unwrap_or(limit))
                .max(needed);
            hold.try_grow(capacity - buf.capacity())
                .map_err(over_budget)?;
            buf.reserve_exact(capacity - buf.len());
        }
        buf.extend_from_slice(&frame);
    }
    Ok(Bytes::from(buf))
}

impl FromRequestParts<AppState> for SignedRead {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A read's body is empty: [`reads_take_no_body`] refuses one that is not.
        let identity = state
            .auth
            .verify(&parts.method, &parts.uri, &parts.headers, b"")
            .map_err(|f| unauthorized(state, f))?;
        Ok(SignedRead { identity })
    }
}

/// GET and HEAD take no body: a request of theirs that declares one (a `Content-Length` above
/// 0, or chunked) is refused with 400 before anything reads it. 400 rather than 413: no size
/// would do, a read's signature covers an empty body, and nothing in this API sends one.
pub async fn reads_take_no_body(req: Request, next: Next) -> Response {
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    if read && req.body().size_hint().exact() != Some(0) {
        return AppError::BadRequest(format!(
            "a {} request takes no body (no Content-Length, or 0)",
            req.method()
        ))
        .into_response();
    }
    next.run(req).await
}
