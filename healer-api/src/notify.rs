//! Notifications to a Slack-compatible webhook (`{"text": ...}`), sent by a background worker
//! with bounded retries and exponential backoff. The queue is bounded: when it is full the
//! notification is logged, counted and dropped, so a notification storm cannot stall the engine.
//! At a stop the heal API waits for what is queued within what is left of
//! `engine.stop_timeout_secs` after the engine ([`Notifier::flushed`], [`crate::runtime`]):
//! before, the worker was dropped with the process, and an escalation notified just before
//! SIGTERM (a rollout of the heal API, a node drain) never paged anyone.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::NotifyConfig;
use crate::metrics::Metrics;
use crate::worker_queue::{self, Item};

/// Sends notifications; cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: Option<mpsc::Sender<Item<String>>>,
    metrics: Arc<Metrics>,
}

/// Errors starting the notifier.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The URL file could not be read.
    #[error("cannot read webhook URL file {0}: {1}")]
    Read(String, std::io::Error),
    /// The URL is not usable.
    #[error("invalid webhook URL in {0}")]
    InvalidUrl(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(String),
}

impl Notifier {
    /// A notifier that only logs.
    pub fn log_only(metrics: Arc<Metrics>) -> Self {
        Self { tx: None, metrics }
    }

    /// Starts the webhook worker.
    pub fn start(cfg: &NotifyConfig, metrics: Arc<Metrics>) -> Result<Self, NotifyError> {
        let path = cfg.webhook_url_file.display().to_string();
        let raw = std::fs::read_to_string(&cfg.webhook_url_file)
            .map_err(|e| NotifyError::Read(path.clone(), e))?;
        let url =
            reqwest::Url::parse(raw.trim()).map_err(|_| NotifyError::InvalidUrl(path.clone()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NotifyError::InvalidUrl(path));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .build()
            .map_err(|e| NotifyError::Client(e.to_string()))?;
        let (tx, mut rx) = mpsc::channel::<Item<String>>(cfg.queue_capacity.max(1));
        let attempts = cfg.max_attempts.max(1);
        let m = metrics.clone();
        tokio::spawn(async move {
            while let Some(text) = worker_queue::next(&mut rx).await {
                let ok = deliver(&client, &url, &text, attempts).await;
                m.notifications
                    .get_or_create(&crate::metrics::ResultLabel {
                        result: if ok { "sent" } else { "failed" }.into(),
                    })
                    .inc();
            }
        });
        Ok(Self {
            tx: Some(tx),
            metrics,
        })
    }

    /// Queues a notification (never blocks).
    pub fn notify(&self, text: String) {
        tracing::info!(notification = %text, "notify");
        if let Some(tx) = &self.tx {
            if tx.try_send(Item::Job(text)).is_err() {
                self.metrics
                    .notifications
                    .get_or_create(&crate::metrics::ResultLabel {
                        result: "dropped".into(),
                    })
                    .inc();
            }
        }
    }

    /// How many notifications are queued, not yet taken by the worker.
    pub fn queued(&self) -> usize {
        worker_queue::queued(self.tx.as_ref())
    }

    /// Waits until every notification queued before this call was sent or given up.
    pub async fn flushed(&self) {
        worker_queue::flushed(self.tx.as_ref()).await;
    }
}

/// Posts `{"text": text}`; retries 429, 5xx and transport errors with backoff.
pub async fn deliver(
    client: &reqwest::Client,
    url: &reqwest::Url,
    text: &str,
    attempts: u32,
) -> bool {
    let body = serde_json::json!({ "text": text });
    let mut backoff = Duration::from_millis(250);
    for attempt in 1..=attempts {
        match client.post(url.clone()).json(&body).send().await {
            Ok(resp) if resp.status().is_success() => return true,
            Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                tracing::warn!(status = %resp.status(), attempt, "webhook refused, retrying");
            }
            Ok(resp) => {
                tracing::error!(status = %resp.status(), "webhook rejected the notification");
                return false;
            }
            Err(e) => tracing::warn!(error = %e, attempt, "webhook unreachable, retrying"),
        }
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn retries_server_errors_then_delivers() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::Json<serde_json::Value>| {
                let h = h.clone();
                async move {
                    assert!(body["text"].as_str().unwrap().contains("escalated"));
                    if h.fetch_add(1, Ordering::SeqCst) < 2 {
                        http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        http::StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let url = reqwest::Url::parse(&format!("http://{addr}/hook")).unwrap();
        let client = reqwest::Client::new();
        assert!(deliver(&client, &url, "incident 1 escalated", 5).await);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        assert!(
            !deliver(&client, &url.join("/missing").unwrap(), "x escalated", 5).await,
            "404 is not retried"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }
}
