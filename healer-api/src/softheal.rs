//! The soft-heal hook: a signed POST to the endpoint the workload names in an annotation (the
//! URL was validated by the policy to be a Service in the workload's own namespace). Signed with
//! the same `X-Edgeheal-Signature` scheme the healer accepts, with an idempotency key so a retry
//! is recognisable by the application.
//!
//! Every call is bounded: `soft_heal.timeout_secs` an attempt, [`ATTEMPTS`] attempts, a 5xx,
//! a 429 or a transport error (a timeout among them) tried again after a backoff
//! ([`FIRST_BACKOFF`], doubled). Once the heal API is stopping ([`SoftHealer::stopping_on`])
//! no attempt is started, neither a retry nor a new call, and a backoff is cut short: the
//! attempt in flight is the last, so the engine's call ends within `timeout_secs` of the stop,
//! inside `engine.stop_timeout_secs` ([`SoftHealError::Stopped`]; a call not started at all is
//! [`SoftHealError::NotCalled`]), as a call to the Kubernetes API does ([`crate::kube_cluster`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;

use crate::auth::{sign_hmac, KEY_ID_HEADER, SIGNATURE_HEADER};
use crate::config::SoftHealConfig;
use crate::stop_signal::StopSignal;

/// Attempts at a call, the first included.
pub const ATTEMPTS: u32 = 3;

/// The wait before the second attempt; twice as long before each next one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// The header carrying `<incident id>-<step>`, the same on every attempt of a call.
pub const IDEMPOTENCY_KEY_HEADER: &str = "x-edgeheal-idempotency-key";

/// Calls soft-heal hooks.
#[derive(Debug, Clone)]
pub struct SoftHealer {
    client: reqwest::Client,
    key_id: String,
    secret: Vec<u8>,
    timeout: Duration,
    /// Turns true when the heal API is stopping: no attempt is started after that.
    stop: StopSignal,
}

/// Soft-heal failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoftHealError {
    /// Key file unreadable or too short.
    #[error("soft-heal key {0}: {1}")]
    Key(String, String),
    /// Client construction failed.
    #[error("http client: {0}")]
    Client(String),
    /// The hook failed: it refused the call (a 4xx other than 429, a 3xx), or every attempt
    /// failed.
    #[error("hook failed: {0}")]
    Hook(String),
    /// The heal API is stopping: an attempt failed and the call was not tried again (which
    /// it names). Whether the hook acted on the attempt that failed is unknown.
    #[error("the heal API is stopping: {0}")]
    Stopped(String),
    /// The heal API was stopping before the call: it was not made, nothing was sent.
    #[error("the heal API is stopping: {0}")]
    NotCalled(String),
}

impl SoftHealer {
    /// Loads the key and builds the client.
    pub fn new(cfg: &SoftHealConfig) -> Result<Self, SoftHealError> {
        Self::with_hosts(cfg, &[])
    }

    /// As [`SoftHealer::new`], the host names in `hosts` reached at their address instead of
    /// through DNS (the port is the URL's): for hooks outside a cluster's DNS, as in tests.
    pub fn with_hosts(
        cfg: &SoftHealConfig,
        hosts: &[(&str, SocketAddr)],
    ) -> Result<Self, SoftHealError> {
        // The heal API's own rules for a key file: trailing newlines dropped, at least 16
        // bytes, a key id of ASCII letters, digits, `-` or `_`.
        let secret = crate::keys::read_secret(&cfg.key_file, &cfg.key_id)
            .map_err(|e| SoftHealError::Key(cfg.key_file.display().to_string(), e.to_string()))?;
        let timeout = Duration::from_secs(cfg.timeout_secs);
        // Straight to the hook, as the incident-history client goes straight to the heal API:
        // a proxy from the environment (`HTTP_PROXY`) or a redirect would carry the signed
        // request elsewhere.
        let mut client = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        for (host, addr) in hosts {
            client = client.resolve(host, *addr);
        }
        let client = client
            .build()
            .map_err(|e| SoftHealError::Client(e.to_string()))?;
        Ok(Self {
            client,
            key_id: cfg.key_id.clone(),
            secret,
            timeout,
            stop: StopSignal::default(),
        })
    }

    /// The same healer, which starts no attempt at a call once `stop` is true (the heal API is
    /// stopping): a call in flight ends with its current attempt, a backoff before the next is
    /// cut short, and a call made after the stop is not tried; they then fail with
    /// [`SoftHealError::Stopped`], and [`SoftHealError::NotCalled`] for the last (an attempt
    /// that succeeded, or that was the last, is answered as usual).
    pub fn stopping_on(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = StopSignal::new(stop);
        self
    }

    /// POSTs `payload` as JSON to the hook at `url`, signed at `now_unix` with the key, the
    /// same `idempotency_key` on every attempt. A 2xx ends it; a 5xx, a 429 or a transport
    /// error (a timeout among them) is tried again, [`ATTEMPTS`] attempts in all; anything
    /// else (another 4xx, a 3xx, which is not followed) fails at once.
    pub async fn call(
        &self,
        url: &str,
        payload: &serde_json::Value,
        idempotency_key: &str,
        now_unix: i64,
    ) -> Result<String, SoftHealError> {
        if self.stop.is_raised() {
            return Err(SoftHealError::NotCalled(format!("POST {url}: not called")));
        }
        let body = serde_json::to_vec(payload).map_err(|e| SoftHealError::Hook(e.to_string()))?;
        let signature = sign_hmac(&self.secret, now_unix, &body);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let res = self
                .client
                .post(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(KEY_ID_HEADER, &self.key_id)
                .header(SIGNATURE_HEADER, &signature)
                .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
                .body(body.clone())
                .send()
                .await;
            let failed = match res {
                Ok(r) if r.status().is_success() => {
                    return Ok(format!("hook answered {}", r.status().as_u16()))
                }
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                    format!("hook answered {}", r.status())
                }
                Ok(r) => return Err(SoftHealError::Hook(format!("hook answered {}", r.status()))),
                Err(e) if e.is_timeout() => format!("timed out after {:?}", self.timeout),
                Err(e) => transport_error(&e),
            };
            if attempt >= ATTEMPTS {
                return Err(SoftHealError::Hook(failed));
            }
            let not_again = || {
                SoftHealError::Stopped(format!(
                    "POST {url}: not tried again after attempt {attempt} of {ATTEMPTS}: {failed}"
                ))
            };
            if self.stop.is_raised() {
                return Err(not_again());
            }
            tracing::warn!(
                %url,
                attempt,
                backoff_ms = backoff.as_millis() as u64,
                error = %failed,
                "retrying the soft-heal hook"
            );
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stop.raised() => return Err(not_again()),
            }
            backoff *= 2;
            attempt += 1;
        }
    }
}

/// A transport error with its causes (reqwest's own text names only the URL).
fn transport_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
