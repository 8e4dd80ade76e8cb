//! The request log: every request the server answered (method, path, query,
//! status, content type and body), kept in memory so closed-loop tests can
//! assert what the healer did, and the middleware that fills it.

use super::state::ApiState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;

/// Bodies above this size are not buffered for the log (the request is refused with 413).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Logged bodies are cut to this many bytes.
const MAX_LOGGED_BODY: usize = 64 * 1024;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path (`/apis/apps/v1/namespaces/shop/deployments/web/scale`).
    pub path: String,
    /// The raw query string (`dryRun=All&fieldManager=edgeheal`), if any.
    pub query: Option<String>,
    /// The response status code.
    pub status: u16,
    /// The request's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The request body (UTF-8, lossy, cut at 64 KiB); empty for GET.
    pub body: String,
}

impl RequestRecord {
    /// Whether the query has `key=value`.
    pub fn has_param(&self, key: &str, value: &str) -> bool {
        self.query.as_deref().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == key && v == value)
        })
    }

    /// Whether the request changed (or would have changed) something.
    pub fn is_mutation(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

/// A bounded log, oldest entries dropped first.
#[derive(Debug)]
pub(crate) struct RequestLog {
    max: usize,
    records: VecDeque<RequestRecord>,
}

impl RequestLog {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            records: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, r: RequestRecord) {
        if self.records.len() >= self.max {
            self.records.pop_front();
        }
        self.records.push_back(r);
    }

    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.records.iter().cloned().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.records.clear();
    }
}

/// Middleware: buffers the body, runs the request, logs it with its status.
pub(crate) async fn log_requests(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let resp = super::error::ApiError::bad_request("request body too large or unreadable")
                .into_response();
            state.record(RequestRecord {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                status: resp.status().as_u16(),
                content_type: None,
                body: String::new(),
            });
            return resp;
        }
    };
    let mut rec = RequestRecord {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        status: 0,
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: String::from_utf8_lossy(
            bytes
                .get(..bytes.len().min(MAX_LOGGED_BODY))
                .unwrap_or_default(),
        )
        .into_owned(),
    };
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    rec.status = resp.status().as_u16();
    state.record(rec);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_queryable() {
        let mut log = RequestLog::new(2);
        for i in 0..3u16 {
            log.push(RequestRecord {
                method: "PATCH".into(),
                path: format!("/p{i}"),
                query: Some("dryRun=All&fieldManager=edgeheal".into()),
                status: 200 + i,
                content_type: None,
                body: String::new(),
            });
        }
        let recs = log.records();
        assert_eq!(
            recs.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            vec!["/p1", "/p2"]
        );
        let r = &recs[0];
        assert!(
            r.has_param("dryRun", "All")
                && r.has_param("fieldManager", "edgeheal")
                && r.is_mutation()
        );
        assert!(!r.has_param("dryRun", "None"));
    }
}
