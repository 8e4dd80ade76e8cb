//! The soft-heal hook: a signed POST to the endpoint the workload names in an annotation (the
//! URL was validated by the policy to be a Service in the workload's own namespace). Signed with
//! the same `X-Edgeheal-Signature` scheme the healer accepts, with an idempotency key so a retry
//! is recognisable by the application.

use std::time::Duration;

use crate::auth::{sign_hmac, KEY_ID_HEADER, SIGNATURE_HEADER};
use crate::config::SoftHealConfig;

/// Calls soft-heal hooks.
#[derive(Debug, Clone)]
pub struct SoftHealer {
    client: reqwest::Client,
    key_id: String,
    secret: Vec<u8>,
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
    /// The hook failed.
    #[error("hook failed: {0}")]
    Hook(String),
}

impl SoftHealer {
    /// Loads the key and builds the client.
    pub fn new(cfg: &SoftHealConfig) -> Result<Self, SoftHealError> {
        let path = cfg.key_file.display().to_string();
        let mut secret = std::fs::read(&cfg.key_file)
            .map_err(|e| SoftHealError::Key(path.clone(), e.to_string()))?;
        while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            secret.pop();
        }
        if secret.len() < crate::keys::MIN_SECRET_BYTES {
            return Err(SoftHealError::Key(path, "shorter than 16 bytes".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SoftHealError::Client(e.to_string()))?;
        Ok(Self {
            client,
            key_id: cfg.key_id.clone(),
            secret,
        })
    }

    /// POSTs the incident to the hook; up to 3 attempts on 5xx/transport errors.
    pub async fn call(
        &self,
        url: &str,
        payload: &serde_json::Value,
        idempotency_key: &str,
        now_unix: i64,
    ) -> Result<String, SoftHealError> {
        let body = serde_json::to_vec(payload).map_err(|e| SoftHealError::Hook(e.to_string()))?;
        let mut last = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let res = self
                .client
                .post(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(KEY_ID_HEADER, &self.key_id)
                .header(SIGNATURE_HEADER, sign_hmac(&self.secret, now_unix, &body))
                .header("x-edgeheal-idempotency-key", idempotency_key)
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    return Ok(format!("hook answered {}", r.status().as_u16()))
                }
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                    last = format!("hook answered {}", r.status())
                }
                Ok(r) => return Err(SoftHealError::Hook(format!("hook answered {}", r.status()))),
                Err(e) => last = e.to_string(),
            }
        }
        Err(SoftHealError::Hook(last))
    }
}
