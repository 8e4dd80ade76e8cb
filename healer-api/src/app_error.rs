//! The one error type of the HTTP layer: every failure maps to a status code and a stable
//! error code; internal details and authentication reasons stay in the logs.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::AuthFailure;
use crate::config::Access;
use crate::decode::DecodeError;
use crate::store::StoreError;

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// Not authenticated; the reason goes to the log and metrics only.
    #[error("unauthorized ({0})")]
    Unauthorized(AuthFailure),
    /// Authenticated with a key that may not do this: a read-only key posting anomalies
    /// ([`Access::Post`]), an ingest-only key reading the history ([`Access::Read`]).
    #[error("forbidden ({0:?})")]
    Forbidden(Access),
    /// The input is wrong; the message is about the caller's input and safe to return.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Body over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Unsupported content type or encoding.
    #[error("unsupported media: {0}")]
    UnsupportedMedia(String),
    /// The ingest queue is full; retry later. Nothing was stored.
    #[error("overloaded")]
    Overloaded,
    /// The memory for request bodies in flight (`ingest.max_inflight_bytes`) is taken by other
    /// requests; retry later. Nothing was stored.
    #[error("bodies in flight")]
    BodiesInFlight,
    /// The body did not arrive within `server.body_read_timeout_secs`.
    #[error("body not received within {secs} s")]
    BodyTimeout {
        /// The timeout.
        secs: u64,
    },
    /// The replay cache holds as many live signatures as it may; retry once the oldest
    /// expires. Nothing was stored.
    #[error("replay cache full")]
    ReplayCacheFull {
        /// Seconds until the oldest remembered signature expires.
        retry_after_secs: u64,
    },
    /// No such resource.
    #[error("not found")]
    NotFound,
    /// The store is unavailable; nothing was acknowledged.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl AppError {
    /// The stable code used in bodies and the `result` metric label.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::BadRequest(_) => "bad_request",
            AppError::PayloadTooLarge => "too_large",
            AppError::UnsupportedMedia(_) => "unsupported",
            AppError::Overloaded | AppError::BodiesInFlight => "overloaded",
            AppError::BodyTimeout { .. } => "timeout",
            AppError::ReplayCacheFull { .. } => "replay_cache_full",
            AppError::NotFound => "not_found",
            AppError::Unavailable(_) => "unavailable",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Overloaded | AppError::BodiesInFlight | AppError::ReplayCacheFull { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<DecodeError> for AppError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::UnsupportedEncoding(_) | DecodeError::UnsupportedMediaType(_) => {
                AppError::UnsupportedMedia(e.to_string())
            }
            DecodeError::TooLarge(_) | DecodeError::RecordsTooLarge(_) => AppError::PayloadTooLarge,
            DecodeError::OverBudget => AppError::BodiesInFlight,
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

/// The most characters of a message that quotes the caller's input (a tag's value, a header).
/// Fluent Bit's `http` output reads an answer into 4,096 bytes, status line and headers
/// included, and takes a longer one for a broken connection: it retries the batch rather than
/// drop it, and never logs why it was refused. 512 characters JSON-escaped are at most 3,072
/// bytes (`\u0001` for a control character), which leaves room for the rest.
const MAX_MESSAGE_CHARS: usize = 512;

/// `message`, cut to [`MAX_MESSAGE_CHARS`] (ending in `…`) when longer.
fn within_an_answer(message: &str) -> String {
    if message.chars().nth(MAX_MESSAGE_CHARS).is_none() {
        return message.to_owned();
    }
    let mut cut: String = message.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            AppError::BadRequest(m) | AppError::UnsupportedMedia(m) => within_an_answer(m),
            AppError::Unauthorized(reason) => {
                tracing::warn!(reason = reason.code(), "authentication failed");
                "request is not authenticated".into()
            }
            AppError::Forbidden(Access::Post) => {
                "this key may only read the incident history".into()
            }
            AppError::Forbidden(Access::Read) => "this key may only post anomalies".into(),
            AppError::PayloadTooLarge => "body exceeds the configured limit".into(),
            AppError::Overloaded => "ingest queue is full; retry later".into(),
            AppError::BodiesInFlight => {
                "the memory for request bodies in flight is in use; retry later".into()
            }
            AppError::BodyTimeout { secs } => {
                format!("the request body did not arrive within {secs} s")
            }
            AppError::ReplayCacheFull { .. } => {
                "too many batches inside the signature window to guard against replays; retry later"
                    .into()
            }
            AppError::NotFound => "not found".into(),
            AppError::Unavailable(detail) => {
                tracing::error!(%detail, "store unavailable");
                "temporarily unavailable; nothing was stored".into()
            }
        };
        let mut resp = (
            status,
            Json(serde_json::json!({"error": self.code(), "message": message})),
        )
            .into_response();
        let retry_after = match &self {
            AppError::Overloaded | AppError::BodiesInFlight | AppError::Unavailable(_) => Some(1),
            AppError::ReplayCacheFull { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, AppError::BodyTimeout { .. }) {
            // RFC 9110 15.5.9: the server closes the connection, whose body is still coming.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}
