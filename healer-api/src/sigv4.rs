//! AWS Signature Version 4 verification, recomputed from the request as received.
//!
//! Fluent Bit (`src/flb_signv4.c`) signs *every* header it sends (`host`, `content-length`,
//! `content-type`, `user-agent`, `x-amz-date`, `content-encoding` when compressing…), hashes
//! the body as sent (after gzip), URI-encodes the path once and sorts query pairs. The AWS SDK
//! signer (`aws-sigv4`, used by Vector) signs the headers it chooses and double-encodes the
//! path, which is the same thing for a path already in its encoded form. Both put the list of
//! signed headers in the `Authorization` header, so the verifier rebuilds the canonical request
//! from exactly that list, as AWS services do. `host` and `x-amz-date` must be signed, and so
//! must `content-encoding` when present (it changes how the body is read).

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// Reasons a SigV4 header cannot be used; the caller maps them to auth failure reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// The `Authorization` header does not follow the SigV4 grammar.
    #[error("malformed authorization header")]
    Malformed,
    /// The credential scope names another service, region or terminator.
    #[error("credential scope does not match")]
    Scope,
    /// A header listed in SignedHeaders is absent, or a required one is not signed.
    #[error("signed headers incomplete")]
    SignedHeaders,
    /// The `x-amz-content-sha256` header does not match the body (or is UNSIGNED-PAYLOAD).
    #[error("payload hash mismatch")]
    PayloadHash,
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Authorization {
    /// Access key id (our key id).
    pub key_id: String,
    /// `YYYYMMDD` of the scope.
    pub date: String,
    /// Region of the scope.
    pub region: String,
    /// Service of the scope.
    pub service: String,
    /// Lower-case signed header names, in order.
    pub signed_headers: Vec<String>,
    /// The 32-byte signature.
    pub signature: [u8; 32],
}

/// Parses the `Authorization` header value.
pub fn parse_authorization(value: &str) -> Result<SigV4Authorization, SigV4Error> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(SigV4Error::Malformed)?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SigV4Error::Malformed)?;
        let slot = match k {
            "Credential" => &mut cred,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut sig,
            _ => return Err(SigV4Error::Malformed),
        };
        if slot.replace(v).is_some() {
            return Err(SigV4Error::Malformed);
        }
    }
    let (cred, signed, sig) = (
        cred.ok_or(SigV4Error::Malformed)?,
        signed.ok_or(SigV4Error::Malformed)?,
        sig.ok_or(SigV4Error::Malformed)?,
    );
    let scope: Vec<&str> = cred.split('/').collect();
    let [key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(SigV4Error::Malformed);
    };
    if key_id.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::Malformed);
    }
    if *terminator != "aws4_request" {
        return Err(SigV4Error::Scope);
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
    let well_formed = signed_headers.iter().all(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    });
    // Strictly ascending: sorted and no duplicates, as both signers produce.
    let ascending = signed_headers.windows(2).all(|w| w[0] < w[1]);
    if !well_formed || !ascending {
        return Err(SigV4Error::Malformed);
    }
    let mut signature = [0u8; 32];
    if sig.len() != 64 || hex::decode_to_slice(sig, &mut signature).is_err() {
        return Err(SigV4Error::Malformed);
    }
    Ok(SigV4Authorization {
        key_id: (*key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature,
    })
}

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const UNRESERVED_AND_SLASH: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'/');

/// The canonical URI: the path as received, each byte outside the unreserved set and `/`
/// percent-encoded (so an already-encoded `%2F` becomes `%252F`, as both signers produce).
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    percent_encoding::utf8_percent_encode(path, UNRESERVED_AND_SLASH).to_string()
}

/// The canonical query string: pairs decoded, re-encoded, sorted by key then value.
pub fn canonical_query(query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let enc = |s: &str| {
                let decoded = percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned();
                percent_encoding::utf8_percent_encode(&decoded, UNRESERVED).to_string()
            };
            (enc(k), enc(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_header_value(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `signed_headers` names what must be signed (`host`, `x-amz-date`, and
/// `content-encoding` when present) and every header it names is present: all a request's
/// headers tell of its signature before its body is read.
pub fn check_signed_headers(
    headers: &HeaderMap,
    signed_headers: &[String],
) -> Result<(), SigV4Error> {
    for required in ["host", "x-amz-date"] {
        if !signed_headers.iter().any(|h| h == required) {
            return Err(SigV4Error::SignedHeaders);
        }
    }
    if headers.contains_key(http::header::CONTENT_ENCODING)
        && !signed_headers.iter().any(|h| h == "content-encoding")
    {
        return Err(SigV4Error::SignedHeaders);
    }
    if signed_headers
        .iter()
        .any(|h| !headers.contains_key(h.as_str()))
    {
        return Err(SigV4Error::SignedHeaders);
    }
    Ok(())
}

/// Builds the canonical request from the headers named in `signed_headers`.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    signed_headers: &[String],
    payload_sha256_hex: &str,
) -> Result<String, SigV4Error> {
    check_signed_headers(headers, signed_headers)?;
    if let Some(claimed) = headers.get("x-amz-content-sha256") {
        if claimed.as_bytes() != payload_sha256_hex.as_bytes() {
            return Err(SigV4Error::PayloadHash);
        }
    }
    let mut cr = String::with_capacity(512);
    cr.push_str(method);
    cr.push('\n');
    cr.push_str(&canonical_uri(path));
    cr.push('\n');
    cr.push_str(&canonical_query(query));
    cr.push('\n');
    for name in signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| canonical_header_value(v.as_bytes()))
            .collect();
        if values.is_empty() {
            return Err(SigV4Error::SignedHeaders);
        }
        cr.push_str(name);
        cr.push(':');
        cr.push_str(&values.join(","));
        cr.push('\n');
    }
    cr.push('\n');
    cr.push_str(&signed_headers.join(";"));
    cr.push('\n');
    cr.push_str(payload_sha256_hex);
    Ok(cr)
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The expected signature for a canonical request.
pub fn signature(
    secret: &[u8],
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> [u8; 32] {
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let cr_hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{cr_hash}");
    let mut k = b"AWS4".to_vec();
    k.extend_from_slice(secret);
    let k_date = hmac(&k, date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hmac(&k_signing, string_to_sign.as_bytes())
}

/// SHA-256 of an empty payload, in hex: what a request without a body signs.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A request without a body to sign: what its SigV4 signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Bodiless<'a> {
    /// `GET`, `HEAD`.
    pub method: &'a str,
    /// The `Host` header as sent: `host` or `host:port`.
    pub host: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query as sent, without `?`.
    pub query: Option<&'a str>,
}

/// Signs `request` with key `key_id`'s `secret` for `region` and `service` at `unix_secs`,
/// signing `host` and `x-amz-date`: the values of the `Authorization` and `x-amz-date` headers
/// to send. The signature covers the method, path, query and host, so unlike the header HMAC
/// scheme over an empty body it is good for this one request only. `None` if the host is not
/// a header value or the time not representable.
pub fn sign_bodiless(
    secret: &[u8],
    key_id: &str,
    region: &str,
    service: &str,
    request: Bodiless<'_>,
    unix_secs: i64,
) -> Option<(String, String)> {
    let amz_date = jiff::Timestamp::from_second(unix_secs)
        .ok()?
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let date = amz_date.get(..8)?;
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, request.host.parse().ok()?);
    headers.insert("x-amz-date", amz_date.parse().ok()?);
    let signed = ["host".to_owned(), "x-amz-date".to_owned()];
    let cr = canonical_request(
        request.method,
        request.path,
        request.query,
        &headers,
        &signed,
        EMPTY_PAYLOAD_SHA256,
    )
    .ok()?;
    let sig = signature(secret, &amz_date, date, region, service, &cr);
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{date}/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        hex::encode(sig)
    );
    Some((authorization, amz_date))
}

/// Parses `x-amz-date` (`YYYYMMDDTHHMMSSZ`) to a Unix second.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || !s.ends_with('Z') || s.as_bytes()[8] != b'T' {
        return None;
    }
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", s).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// HMAC-SHA256 of a message (used by the `X-Edgeheal-Signature` scheme too).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    hmac(key, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS documentation example (IAM ListUsers, GET with query), "get-vanilla-query"-style:
    /// a fixed secret, date and request whose signature AWS publishes.
    #[test]
    fn matches_the_aws_documented_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
            .map(String::from)
            .to_vec();
        let cr = canonical_request(
            "GET",
            "/",
            Some("Action=ListUsers&Version=2010-05-08"),
            &headers,
            &signed,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(cr.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let sig = signature(
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "iam",
            &cr,
        );
        assert_eq!(
            hex::encode(sig),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// [`sign_bodiless`] writes the `Authorization` header the AWS SDK signer (`aws-sigv4`,
    /// as Vector signs) writes for the same GET, to the byte.
    #[test]
    fn a_bodiless_request_is_signed_as_the_aws_sdk_signs_it() {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;
        assert_eq!(EMPTY_PAYLOAD_SHA256, hex::encode(Sha256::digest(b"")));
        let (at, host) = (1_795_255_200, "127.0.0.1:8080");
        for (path, query) in [
            ("/v1/incidents", Some("limit=10&state=open")),
            ("/v1/incidents/42", None),
            ("/v1/incidents", Some("entity=shop%2Fcart&limit=100")),
        ] {
            let (authorization, amz_date) = sign_bodiless(
                b"vector-secret",
                "vector",
                "local",
                "edgeheal",
                Bodiless {
                    method: "GET",
                    host,
                    path,
                    query,
                },
                at,
            )
            .unwrap();
            assert_eq!(amz_date, "20261121T100000Z");
            let identity = aws_credential_types::Credentials::new(
                "vector",
                "vector-secret",
                None,
                None,
                "test",
            )
            .into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region("local")
                .name("edgeheal")
                .time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(at as u64))
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let uri = match query {
                Some(q) => format!("http://{host}{path}?{q}"),
                None => format!("http://{host}{path}"),
            };
            let signable = SignableRequest::new(
                "GET",
                uri.as_str(),
                [("host", host)].into_iter(),
                SignableBody::Bytes(b""),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            let sdk = instructions
                .headers()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.to_owned())
                .unwrap();
            assert_eq!(authorization, sdk, "{uri}");
        }
    }

    #[test]
    fn authorization_header_grammar() {
        let ok = "AWS4-HMAC-SHA256 Credential=fb/20261121/local/edgeheal/aws4_request, SignedHeaders=host;x-amz-date, Signature=".to_string()
            + &"ab".repeat(32);
        let a = parse_authorization(&ok).unwrap();
        assert_eq!(a.key_id, "fb");
        assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
        let bad = [
            "Bearer x".to_string(),
            ok.replace("Signature=", "Signature=zz"),
            ok.replace("host;x-amz-date", "x-amz-date;host"),
            ok.replace("host;x-amz-date", "host;host;x-amz-date"),
            ok.replace("20261121", "2026112"),
            ok.replace(", Signature", ", Credential=x, Signature"),
        ];
        for b in bad {
            assert_eq!(parse_authorization(&b), Err(SigV4Error::Malformed), "{b}");
        }
        assert_eq!(
            parse_authorization(&ok.replace("aws4_request", "aws5_request")),
            Err(SigV4Error::Scope)
        );
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_uri("/v1/anomalies"), "/v1/anomalies");
        assert_eq!(canonical_uri("/a b/%2F"), "/a%20b/%252F");
        assert_eq!(canonical_query(Some("b=2&a=1&a=0")), "a=0&a=1&b=2");
        assert_eq!(canonical_query(Some("x=a%20b")), "x=a%20b");
        assert_eq!(parse_amz_date("20261121T100000Z"), Some(1_795_255_200));
        assert_eq!(parse_amz_date("2026-11-21T10:00:00Z"), None);
    }
}
