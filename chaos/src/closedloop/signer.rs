//! Signing requests to the heal API as the pipelines do: AWS SigV4 (service
//! `edgeheal`, region `local`), what Fluent Bit's `http` output with
//! `aws_auth On` and Vector's `auth.strategy: aws` send. The canonical request
//! and the signing-key chain are the heal API's own public functions
//! (`edgeheal_healer::sigv4`), which its tests check against the AWS SDK signer.

use edgeheal_healer::sigv4::{canonical_request, signature};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

/// SigV4 service name the heal API expects by default.
pub const SERVICE: &str = "edgeheal";
/// SigV4 region the heal API expects by default.
pub const REGION: &str = "local";

/// A static key pair, as mounted from the healer's Secret.
#[derive(Clone)]
pub struct SigV4Signer {
    key_id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Signing failed (a header value that HTTP cannot carry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A header value was not valid.
    #[error("invalid header value for {0}")]
    Header(&'static str),
    /// The canonical request could not be built.
    #[error("canonical request: {0}")]
    Canonical(String),
}

impl SigV4Signer {
    /// A signer with key id `key_id` and `secret`.
    pub fn new(key_id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        Self {
            key_id: key_id.into(),
            secret: secret.into(),
        }
    }

    /// The headers to add to a request (`host`, `x-amz-date`,
    /// `x-amz-content-sha256`, `authorization`, and `content-type` when given),
    /// signed at Unix second `unix_secs`.
    pub fn sign(
        &self,
        method: &str,
        host: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: &[u8],
        unix_secs: i64,
    ) -> Result<HeaderMap, SignError> {
        let t =
            jiff::Timestamp::from_second(unix_secs).map_err(|_| SignError::Header("x-amz-date"))?;
        let amz_date = t.strftime("%Y%m%dT%H%M%SZ").to_string();
        let date = t.strftime("%Y%m%d").to_string();
        let payload = hex::encode(Sha256::digest(body));
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| -> Result<(), SignError> {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).map_err(|_| SignError::Header(name))?,
            );
            Ok(())
        };
        if let Some(ct) = content_type {
            put("content-type", ct)?;
        }
        put("host", host)?;
        put("x-amz-content-sha256", &payload)?;
        put("x-amz-date", &amz_date)?;
        let mut signed: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
        signed.sort();
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let cr = canonical_request(method, path, query, &headers, &signed, &payload)
            .map_err(|e| SignError::Canonical(e.to_string()))?;
        let sig = signature(&self.secret, &amz_date, &date, REGION, SERVICE, &cr);
        let authz = format!(
            "AWS4-HMAC-SHA256 Credential={}/{date}/{REGION}/{SERVICE}/aws4_request, SignedHeaders={}, Signature={}",
            self.key_id,
            signed.join(";"),
            hex::encode(sig)
        );
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&authz).map_err(|_| SignError::Header("authorization"))?,
        );
        // `host` is set by the HTTP client from the URL; keep it out of the
        // headers we hand over so it is not sent twice.
        headers.remove(http::header::HOST);
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_the_listed_headers_and_changes_with_the_body() {
        let s = SigV4Signer::new("edge", b"0123456789abcdef0123".to_vec());
        let a = s
            .sign(
                "POST",
                "127.0.0.1:1",
                "/v1/anomalies",
                Some("application/x-ndjson"),
                b"{}",
                1_740_960_000,
            )
            .unwrap();
        let authz = a.get("authorization").unwrap().to_str().unwrap();
        assert!(authz.starts_with("AWS4-HMAC-SHA256 Credential=edge/20250303/local/edgeheal/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature="), "{authz}");
        assert_eq!(a.get("x-amz-date").unwrap(), "20250303T000000Z");
        assert!(a.get("host").is_none());
        let b = s
            .sign(
                "POST",
                "127.0.0.1:1",
                "/v1/anomalies",
                Some("application/x-ndjson"),
                b"[]",
                1_740_960_000,
            )
            .unwrap();
        assert_ne!(a.get("authorization"), b.get("authorization"));
    }
}
