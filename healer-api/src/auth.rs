//! Request authentication: AWS SigV4 (Fluent Bit `aws_auth On`, Vector `auth.strategy: aws`)
//! and `X-Edgeheal-Key-Id` + `X-Edgeheal-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"`.
//! Static cluster-internal keys, ±skew window in both directions, replay cache, constant-time
//! comparison. Failures carry a reason code for logs and metrics, never for the response body.

use http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::SharedClock;
use crate::keys::KeyRing;
use crate::replay::{ReplayCache, ReplayVerdict};
use crate::sigv4;

/// Header carrying the key id of the HMAC scheme.
pub const KEY_ID_HEADER: &str = "x-edgeheal-key-id";
/// Header carrying `t=<unix>,v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-edgeheal-signature";

/// Why a request was not authenticated (the log/metric reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No credentials at all.
    #[error("missing")]
    Missing,
    /// Credentials present but unparseable.
    #[error("malformed")]
    Malformed,
    /// An authentication header appears more than once, or both schemes are used.
    #[error("duplicate_header")]
    DuplicateHeader,
    /// The key id is not active.
    #[error("unknown_key")]
    UnknownKey,
    /// The SigV4 scope names another service or region, or another date than `x-amz-date`.
    #[error("scope_mismatch")]
    ScopeMismatch,
    /// A required header is not signed or a signed one is absent.
    #[error("unsigned_header")]
    UnsignedHeader,
    /// `x-amz-content-sha256` does not match the body.
    #[error("payload_hash")]
    PayloadHash,
    /// Signature does not verify (wrong key, tampered request).
    #[error("bad_signature")]
    BadSignature,
    /// Timestamp older than the window.
    #[error("expired")]
    Expired,
    /// Timestamp ahead of the window.
    #[error("future")]
    Future,
    /// Already accepted once.
    #[error("replayed")]
    Replayed,
    /// The replay cache is full; refusing is the safe choice.
    #[error("replay_cache_full")]
    ReplayCacheFull,
}

impl AuthFailure {
    /// The reason code.
    pub fn code(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::DuplicateHeader => "duplicate_header",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::ScopeMismatch => "scope_mismatch",
            AuthFailure::UnsignedHeader => "unsigned_header",
            AuthFailure::PayloadHash => "payload_hash",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::Future => "future",
            AuthFailure::Replayed => "replayed",
            AuthFailure::ReplayCacheFull => "replay_cache_full",
        }
    }
}

/// Which scheme authenticated the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// AWS SigV4.
    SigV4,
    /// `X-Edgeheal-Signature`.
    Hmac,
}

/// A verified request's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key that signed it.
    pub key_id: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The signature (hex), unique per accepted mutation: the durable replay backstop.
    pub signature_hex: String,
    /// When the sender signed it by its own clock (`x-amz-date` or the HMAC `t=`, Unix
    /// seconds): tells the engine how far the sender's clock is from ours.
    pub signed_at: i64,
}

/// Verifies requests against the key ring.
#[derive(Debug)]
pub struct Authenticator {
    keys: KeyRing,
    service: String,
    region: String,
    max_skew_secs: i64,
    replay: ReplayCache,
    clock: SharedClock,
}

fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, AuthFailure> {
    let mut it = headers.get_all(name).iter();
    let Some(first) = it.next() else {
        return Ok(None);
    };
    if it.next().is_some() {
        return Err(AuthFailure::DuplicateHeader);
    }
    first.to_str().map(Some).map_err(|_| AuthFailure::Malformed)
}

impl Authenticator {
    /// A verifier for `service`/`region` with a ±`max_skew_secs` window.
    pub fn new(
        keys: KeyRing,
        service: &str,
        region: &str,
        max_skew_secs: u64,
        replay_capacity: usize,
        clock: SharedClock,
    ) -> Self {
        Self {
            keys,
            service: service.to_owned(),
            region: region.to_owned(),
            max_skew_secs: i64::try_from(max_skew_secs).unwrap_or(300),
            replay: ReplayCache::new(replay_capacity),
            clock,
        }
    }

    /// Remembers a signature accepted before a restart (loaded from the store), so it cannot be
    /// replayed while still inside the window.
    pub fn remember(&self, signature_hex: &str, signed_at: i64) {
        if let Ok(sig) = hex::decode(signature_hex) {
            let token = replay_token(&sig);
            let now = self.clock.now().as_second();
            let _ = self
                .replay
                .check_and_insert(token, now, signed_at + self.max_skew_secs);
        }
    }

    /// Verifies a request. Safe methods (GET, HEAD) are not entered in the replay cache:
    /// they change nothing.
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, AuthFailure> {
        for name in [
            http::header::AUTHORIZATION.as_str(),
            "x-amz-date",
            "x-amz-content-sha256",
            "x-amz-security-token",
            KEY_ID_HEADER,
            SIGNATURE_HEADER,
            "host",
            "content-encoding",
            "content-type",
        ] {
            single(headers, name)?;
        }
        let authz = single(headers, http::header::AUTHORIZATION.as_str())?;
        let hmac_sig = single(headers, SIGNATURE_HEADER)?;
        let verified = match (authz, hmac_sig) {
            (Some(_), Some(_)) => return Err(AuthFailure::DuplicateHeader),
            (Some(a), None) => self.verify_sigv4(a, method, uri, headers, body)?,
            (None, Some(s)) => self.verify_hmac(s, headers, body)?,
            (None, None) => return Err(AuthFailure::Missing),
        };
        if method != Method::GET && method != Method::HEAD {
            let sig = hex::decode(&verified.signature_hex).map_err(|_| AuthFailure::Malformed)?;
            let now = self.clock.now().as_second();
            match self.replay.check_and_insert(
                replay_token(&sig),
                now,
                verified.signed_at + self.max_skew_secs,
            ) {
                ReplayVerdict::Fresh => {}
                ReplayVerdict::Replayed => return Err(AuthFailure::Replayed),
                ReplayVerdict::Full => return Err(AuthFailure::ReplayCacheFull),
            }
        }
        Ok(verified)
    }

    fn check_window(&self, signed_at: i64) -> Result<(), AuthFailure> {
        let now = self.clock.now().as_second();
        if signed_at < now - self.max_skew_secs {
            Err(AuthFailure::Expired)
        } else if signed_at > now + self.max_skew_secs {
            Err(AuthFailure::Future)
        } else {
            Ok(())
        }
    }

    fn verify_sigv4(
        &self,
        authz: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, AuthFailure> {
        let a = sigv4::parse_authorization(authz).map_err(|e| match e {
            sigv4::SigV4Error::Scope => AuthFailure::ScopeMismatch,
            _ => AuthFailure::Malformed,
        })?;
        let amz_date = single(headers, "x-amz-date")?.ok_or(AuthFailure::UnsignedHeader)?;
        let signed_at = sigv4::parse_amz_date(amz_date).ok_or(AuthFailure::Malformed)?;
        if a.service != self.service || a.region != self.region || !amz_date.starts_with(&a.date) {
            return Err(AuthFailure::ScopeMismatch);
        }
        let secret = self.keys.secret(&a.key_id).ok_or(AuthFailure::UnknownKey)?;
        let payload_hash = hex::encode(Sha256::digest(body));
        let cr = sigv4::canonical_request(
            method.as_str(),
            uri.path(),
            uri.query(),
            headers,
            &a.signed_headers,
            &payload_hash,
        )
        .map_err(|e| match e {
            sigv4::SigV4Error::PayloadHash => AuthFailure::PayloadHash,
            _ => AuthFailure::UnsignedHeader,
        })?;
        let expected = sigv4::signature(&secret, amz_date, &a.date, &a.region, &a.service, &cr);
        if !bool::from(expected.ct_eq(&a.signature)) {
            return Err(AuthFailure::BadSignature);
        }
        // Only a correctly signed timestamp is worth judging.
        self.check_window(signed_at)?;
        Ok(Verified {
            key_id: a.key_id,
            scheme: Scheme::SigV4,
            signature_hex: hex::encode(a.signature),
            signed_at,
        })
    }

    fn verify_hmac(
        &self,
        value: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, AuthFailure> {
        let key_id = single(headers, KEY_ID_HEADER)?.ok_or(AuthFailure::Malformed)?;
        let (mut t, mut v1) = (None, None);
        for part in value.split(',') {
            let (k, v) = part.trim().split_once('=').ok_or(AuthFailure::Malformed)?;
            let slot = match k {
                "t" => &mut t,
                "v1" => &mut v1,
                _ => return Err(AuthFailure::Malformed),
            };
            if slot.replace(v).is_some() {
                return Err(AuthFailure::DuplicateHeader);
            }
        }
        let t_str = t.ok_or(AuthFailure::Malformed)?;
        if t_str.is_empty() || t_str.len() > 12 || !t_str.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthFailure::Malformed);
        }
        let signed_at: i64 = t_str.parse().map_err(|_| AuthFailure::Malformed)?;
        let mut claimed = [0u8; 32];
        let v1 = v1.ok_or(AuthFailure::Malformed)?;
        if v1.len() != 64 || hex::decode_to_slice(v1, &mut claimed).is_err() {
            return Err(AuthFailure::Malformed);
        }
        let secret = self.keys.secret(key_id).ok_or(AuthFailure::UnknownKey)?;
        let mut msg = Vec::with_capacity(t_str.len() + 1 + body.len());
        msg.extend_from_slice(t_str.as_bytes());
        msg.push(b'.');
        msg.extend_from_slice(body);
        let expected = sigv4::hmac_sha256(&secret, &msg);
        if !bool::from(expected.ct_eq(&claimed)) {
            return Err(AuthFailure::BadSignature);
        }
        self.check_window(signed_at)?;
        Ok(Verified {
            key_id: key_id.to_owned(),
            scheme: Scheme::Hmac,
            signature_hex: hex::encode(claimed),
            signed_at,
        })
    }
}

fn replay_token(sig: &[u8]) -> [u8; 32] {
    Sha256::digest(sig).into()
}

/// Builds `X-Edgeheal-Signature` for a body (clients, tests, the soft-heal hook).
pub fn sign_hmac(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let mut msg = format!("{unix_secs}.").into_bytes();
    msg.extend_from_slice(body);
    format!(
        "t={unix_secs},v1={}",
        hex::encode(sigv4::hmac_sha256(secret, &msg))
    )
}
