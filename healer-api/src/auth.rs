//! Request authentication: AWS SigV4 (Fluent Bit `aws_auth On`, Vector `auth.strategy: aws`)
//! and `X-Edgeheal-Key-Id` + `X-Edgeheal-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"`.
//! Static cluster-internal keys, ±skew window in both directions, replay cache, constant-time
//! comparison. Failures carry a reason code for logs and metrics, never for the response body.
//!
//! Verification has two steps so that a request is judged as far as its headers go before its
//! body is read: [`Authenticator::claim`] (well-formed, one scheme, a key the ring holds, the
//! headers SigV4 must sign present, a signed time inside the window) and
//! [`Authenticator::prove`] (the signature over the body). A batch's signature is remembered
//! as used only once its batch is committed ([`Authenticator::accepted`]); until then a
//! refused batch (429, 503, a bad record) may be sent again as it was.

use http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::SharedClock;
use crate::keys::KeyRing;
use crate::replay::{ReplayCache, ReplayVerdict, Token};
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

/// What a request's headers claim, checked as far as the headers go by
/// [`Authenticator::claim`]; [`Authenticator::prove`] checks its signature over the body.
pub struct Claim {
    key_id: String,
    secret: Vec<u8>,
    signed_at: i64,
    proof: Proof,
}

/// The signature a request carries, parsed.
enum Proof {
    SigV4 {
        authorization: sigv4::SigV4Authorization,
        amz_date: String,
    },
    Hmac {
        /// `t=` as sent (it is signed as text).
        t: String,
        mac: [u8; 32],
    },
}

impl Claim {
    /// The key it names, which the ring holds.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// When the sender says it signed it (Unix seconds), inside the window.
    pub fn signed_at(&self) -> i64 {
        self.signed_at
    }
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("key_id", &self.key_id)
            .field("signed_at", &self.signed_at)
            .finish_non_exhaustive()
    }
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
    /// A verifier for `service`/`region` with a ±`max_skew_secs` window, remembering at most
    /// `replay_capacity` accepted signatures.
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

    /// Remembers a signature accepted before a restart (loaded from the store), so it is
    /// refused without being decoded while still inside the window, as long as the cache has
    /// room (the store's unique signatures refuse the rest).
    pub fn remember(&self, signature_hex: &str, signed_at: i64) {
        if let Some(token) = replay_token(signature_hex) {
            let now = self.clock.now().as_second();
            self.replay
                .insert_if_room(token, now, signed_at + self.max_skew_secs);
        }
    }

    /// Verifies a request whose body is at hand: [`Self::claim`] then [`Self::prove`].
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, AuthFailure> {
        let claim = self.claim(headers)?;
        self.prove(claim, method, uri, headers, body)
    }

    /// Checks everything the headers tell before the body is read: one authentication header
    /// of each kind and one scheme, well-formed, a key the ring holds, the headers SigV4 must
    /// sign present and signed, and a signed time inside the window. A request that fails here
    /// cannot be authentic whatever its body.
    pub fn claim(&self, headers: &HeaderMap) -> Result<Claim, AuthFailure> {
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
        let claim = match (authz, hmac_sig) {
            (Some(_), Some(_)) => return Err(AuthFailure::DuplicateHeader),
            (Some(a), None) => self.claim_sigv4(a, headers)?,
            (None, Some(s)) => self.claim_hmac(s, headers)?,
            (None, None) => return Err(AuthFailure::Missing),
        };
        self.check_window(claim.signed_at)?;
        Ok(claim)
    }

    /// Checks `claim`'s signature over the request as received, in constant time.
    pub fn prove(
        &self,
        claim: Claim,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, AuthFailure> {
        let Claim {
            key_id,
            secret,
            signed_at,
            proof,
        } = claim;
        let (scheme, signature) = match proof {
            Proof::SigV4 {
                authorization: a,
                amz_date,
            } => {
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
                let expected =
                    sigv4::signature(&secret, &amz_date, &a.date, &a.region, &a.service, &cr);
                if !bool::from(expected.ct_eq(&a.signature)) {
                    return Err(AuthFailure::BadSignature);
                }
                (Scheme::SigV4, a.signature)
            }
            Proof::Hmac { t, mac } => {
                let mut msg = Vec::with_capacity(t.len() + 1 + body.len());
                msg.extend_from_slice(t.as_bytes());
                msg.push(b'.');
                msg.extend_from_slice(body);
                let expected = sigv4::hmac_sha256(&secret, &msg);
                if !bool::from(expected.ct_eq(&mac)) {
                    return Err(AuthFailure::BadSignature);
                }
                (Scheme::Hmac, mac)
            }
        };
        Ok(Verified {
            key_id,
            scheme,
            signature_hex: hex::encode(signature),
            signed_at,
        })
    }

    /// Whether a verified mutation may go on: its signature was not accepted inside the
    /// window, and there is room to remember it once it is. Remembers nothing.
    pub fn check_replay(&self, verified: &Verified) -> ReplayVerdict {
        match replay_token(&verified.signature_hex) {
            Some(token) => self.replay.check(&token, self.clock.now().as_second()),
            None => ReplayVerdict::Replayed,
        }
    }

    /// Remembers the signature of a mutation that was accepted (its batch committed) until it
    /// leaves the window.
    pub fn accepted(&self, verified: &Verified) {
        if let Some(token) = replay_token(&verified.signature_hex) {
            self.replay.insert(
                token,
                self.clock.now().as_second(),
                verified.signed_at + self.max_skew_secs,
            );
        }
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

    fn claim_sigv4(&self, authz: &str, headers: &HeaderMap) -> Result<Claim, AuthFailure> {
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
        sigv4::check_signed_headers(headers, &a.signed_headers)
            .map_err(|_| AuthFailure::UnsignedHeader)?;
        Ok(Claim {
            key_id: a.key_id.clone(),
            secret,
            signed_at,
            proof: Proof::SigV4 {
                amz_date: amz_date.to_owned(),
                authorization: a,
            },
        })
    }

    fn claim_hmac(&self, value: &str, headers: &HeaderMap) -> Result<Claim, AuthFailure> {
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
        let t = t.ok_or(AuthFailure::Malformed)?;
        if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthFailure::Malformed);
        }
        let signed_at: i64 = t.parse().map_err(|_| AuthFailure::Malformed)?;
        let mut mac = [0u8; 32];
        let v1 = v1.ok_or(AuthFailure::Malformed)?;
        if v1.len() != 64 || hex::decode_to_slice(v1, &mut mac).is_err() {
            return Err(AuthFailure::Malformed);
        }
        let secret = self.keys.secret(key_id).ok_or(AuthFailure::UnknownKey)?;
        Ok(Claim {
            key_id: key_id.to_owned(),
            secret,
            signed_at,
            proof: Proof::Hmac {
                t: t.to_owned(),
                mac,
            },
        })
    }
}

/// The replay cache's token of a signature (see [`crate::replay`]).
fn replay_token(signature_hex: &str) -> Option<Token> {
    let signature = hex::decode(signature_hex).ok()?;
    let digest = Sha256::digest(signature);
    let mut token = [0u8; 16];
    token.copy_from_slice(&digest[..16]);
    Some(token)
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
