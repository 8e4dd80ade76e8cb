//! Decoding what the pipelines send to `POST /v1/anomalies`: a JSON array (Fluent Bit
//! `format json`), NDJSON or concatenated objects (`json_lines`, `json_stream`, Vector
//! newline-delimited), a single object, or msgpack (`format msgpack`: a stream of
//! `[[time, meta], record]`, `[time, record]` or bare maps), each optionally gzip-compressed.

use std::io::Read;

use serde::Deserialize;

use crate::tags::{TagError, Tags};

/// One accepted record: its validated tags and its original body as JSON text.
#[derive(Debug, Clone)]
pub struct AnomalyRecord {
    /// The validated `edgeheal` tags.
    pub tags: Tags,
    /// The whole record, re-encoded as compact JSON.
    pub json: String,
}

/// Why a body is rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// `Content-Encoding` other than identity or gzip.
    #[error("unsupported content-encoding {0:?} (use gzip or none)")]
    UnsupportedEncoding(String),
    /// `Content-Type` that is neither JSON nor msgpack.
    #[error("unsupported content-type {0:?} (use application/json, application/x-ndjson or application/msgpack)")]
    UnsupportedMediaType(String),
    /// Decompressed body larger than allowed.
    #[error("decompressed body exceeds {0} bytes")]
    TooLarge(usize),
    /// gzip stream broken.
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    /// JSON or msgpack syntax error.
    #[error("malformed body: {0}")]
    Malformed(String),
    /// No records.
    #[error("body contains no records")]
    Empty,
    /// More records than allowed.
    #[error("batch has more than {0} records")]
    TooManyRecords(usize),
    /// One record failed the tag contract.
    #[error("record {index}: {source}")]
    Record {
        /// Zero-based position in the batch.
        index: usize,
        /// What is wrong with it.
        source: TagError,
    },
}

/// Wire format of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON array, object, NDJSON or JSON stream.
    Json,
    /// msgpack stream.
    Msgpack,
}

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest decompressed body.
    pub max_decompressed_bytes: usize,
    /// Most records.
    pub max_records: usize,
}

/// Picks the format from `Content-Type`, sniffing the first byte when it is absent.
pub fn format_for(content_type: Option<&str>, body: &[u8]) -> Result<Format, DecodeError> {
    match content_type.map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }) {
        Some(ct) if ct.is_empty() => Ok(sniff(body)),
        Some(ct) => match ct.as_str() {
            "application/json"
            | "application/x-ndjson"
            | "application/jsonlines"
            | "application/x-jsonlines"
            | "application/json-seq"
            | "application/ndjson" => Ok(Format::Json),
            "application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack" => {
                Ok(Format::Msgpack)
            }
            _ => Err(DecodeError::UnsupportedMediaType(ct)),
        },
        None => Ok(sniff(body)),
    }
}

fn sniff(body: &[u8]) -> Format {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Format::Json,
        _ => Format::Msgpack,
    }
}

/// Undoes `Content-Encoding`, bounded by `limit` bytes of output.
pub fn decompress(
    encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(body.to_vec()),
        Some(e) if e.is_empty() || e == "identity" => Ok(body.to_vec()),
        Some(e) if e == "gzip" || e == "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            let mut dec = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
            dec.read_to_end(&mut out)
                .map_err(|e| DecodeError::Gzip(e.to_string()))?;
            if out.len() > limit {
                return Err(DecodeError::TooLarge(limit));
            }
            Ok(out)
        }
        Some(e) => Err(DecodeError::UnsupportedEncoding(e)),
    }
}

/// Decodes a (decompressed) body into validated records.
pub fn decode(
    format: Format,
    body: &[u8],
    limits: DecodeLimits,
) -> Result<Vec<AnomalyRecord>, DecodeError> {
    let values = match format {
        Format::Json => json_values(body, limits.max_records)?,
        Format::Msgpack => msgpack_values(body, limits.max_records)?,
    };
    if values.is_empty() {
        return Err(DecodeError::Empty);
    }
    values
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let tags =
                Tags::from_record(&v).map_err(|source| DecodeError::Record { index, source })?;
            Ok(AnomalyRecord {
                tags,
                json: v.to_string(),
            })
        })
        .collect()
}

fn push(
    out: &mut Vec<serde_json::Value>,
    v: serde_json::Value,
    max: usize,
) -> Result<(), DecodeError> {
    if out.len() >= max {
        return Err(DecodeError::TooManyRecords(max));
    }
    out.push(v);
    Ok(())
}

fn json_values(body: &[u8], max: usize) -> Result<Vec<serde_json::Value>, DecodeError> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    let mut out = Vec::new();
    match first.map(|i| body[i]) {
        None => return Err(DecodeError::Empty),
        Some(b'[') => {
            let all: Vec<serde_json::Value> =
                serde_json::from_slice(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
            if all.len() > max {
                return Err(DecodeError::TooManyRecords(max));
            }
            out = all;
        }
        Some(_) => {
            for v in serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>() {
                push(
                    &mut out,
                    v.map_err(|e| DecodeError::Malformed(e.to_string()))?,
                    max,
                )?;
            }
        }
    }
    Ok(out)
}

/// One msgpack entry as the senders produce it.
#[derive(Deserialize)]
#[serde(untagged)]
enum MsgpackEntry {
    /// A bare record.
    Record(serde_json::Map<String, serde_json::Value>),
    /// Fluent Bit: `[[time, metadata], record]` (≥ 2.1) or `[time, record]`; the header (an
    /// EventTime extension or an integer) is ignored — the record carries `edgeheal.ts`.
    Event(
        (
            serde::de::IgnoredAny,
            serde_json::Map<String, serde_json::Value>,
        ),
    ),
    /// An array of records.
    Many(Vec<serde_json::Map<String, serde_json::Value>>),
}

fn msgpack_values(body: &[u8], max: usize) -> Result<Vec<serde_json::Value>, DecodeError> {
    let mut out = Vec::new();
    let mut de = rmp_serde::Deserializer::new(body);
    let mut pos = 0usize;
    while !de.get_ref().is_empty() {
        pos += 1;
        let entry = MsgpackEntry::deserialize(&mut de).map_err(|_| {
            DecodeError::Malformed(format!(
                "msgpack entry {pos} is not a record, [time, record] or [[time, meta], record]"
            ))
        })?;
        match entry {
            MsgpackEntry::Record(m) | MsgpackEntry::Event((_, m)) => {
                push(&mut out, serde_json::Value::Object(m), max)?
            }
            MsgpackEntry::Many(ms) => {
                for m in ms {
                    push(&mut out, serde_json::Value::Object(m), max)?;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    const LIMITS: DecodeLimits = DecodeLimits {
        max_decompressed_bytes: 1 << 20,
        max_records: 100,
    };

    pub(crate) fn rec(entity: &str) -> serde_json::Value {
        json!({"log": "x", "edgeheal": {
            "kind": "metric", "entity": entity, "pod": null, "ts": "2026-11-21T10:00:00Z",
            "score": 0.8, "anomaly": true, "severity": "warning", "incident": "cpu_saturation",
            "action": "scale_up", "why": [], "model": "m@1"}})
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn fluent_bit_msgpack(records: &[serde_json::Value]) -> Vec<u8> {
        // Fluent Bit v2 event: [[EventTime ext(0) 8 bytes, {}], record]
        let mut out = Vec::new();
        for r in records {
            rmp::encode::write_array_len(&mut out, 2).unwrap();
            rmp::encode::write_array_len(&mut out, 2).unwrap();
            rmp::encode::write_ext_meta(&mut out, 8, 0).unwrap();
            out.extend_from_slice(&[0x67, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
            rmp::encode::write_map_len(&mut out, 0).unwrap();
            out.extend(rmp_serde::to_vec_named(r).unwrap());
        }
        out
    }

    #[test]
    fn every_pipeline_format_decodes() {
        let a = rec("shop/a");
        let b = rec("shop/b");
        let array = serde_json::to_vec(&json!([a, b])).unwrap();
        let ndjson = format!("{a}\n{b}\n").into_bytes();
        let stream = format!("{a}{b}").into_bytes();
        let single = serde_json::to_vec(&a).unwrap();
        let msgpack = fluent_bit_msgpack(&[a.clone(), b.clone()]);
        let legacy_msgpack = {
            let mut v = Vec::new();
            for r in [&a, &b] {
                v.extend(rmp_serde::to_vec_named(&(1_700_000_000u32, r)).unwrap());
            }
            v
        };
        let cases: Vec<(&str, Option<&str>, Vec<u8>, usize)> = vec![
            ("array", Some("application/json"), array.clone(), 2),
            ("ndjson", Some("application/x-ndjson"), ndjson, 2),
            ("json_stream", Some("application/json"), stream, 2),
            ("single", None, single, 1),
            (
                "msgpack v2",
                Some("application/msgpack"),
                msgpack.clone(),
                2,
            ),
            (
                "msgpack legacy",
                Some("application/x-msgpack"),
                legacy_msgpack,
                2,
            ),
            ("msgpack sniffed", None, msgpack, 2),
        ];
        for (name, ct, body, n) in cases {
            for gz in [false, true] {
                let wire = if gz { gzip(&body) } else { body.clone() };
                let plain =
                    decompress(gz.then_some("gzip"), &wire, LIMITS.max_decompressed_bytes).unwrap();
                let fmt = format_for(ct, &plain).unwrap();
                let recs = decode(fmt, &plain, LIMITS).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(recs.len(), n, "{name}");
                assert_eq!(recs[0].tags.entity.as_deref(), Some("shop/a"), "{name}");
            }
        }
    }

    #[test]
    fn bad_bodies_get_clear_errors() {
        let big = vec![b' '; 4096];
        let cases: Vec<(Result<Vec<AnomalyRecord>, DecodeError>, &str)> = vec![
            (decode(Format::Json, b"[]", LIMITS), "no records"),
            (decode(Format::Json, b"   ", LIMITS), "no records"),
            (decode(Format::Json, b"{\"a\":", LIMITS), "malformed"),
            (decode(Format::Json, b"[{\"a\":1}]", LIMITS), "record 0"),
            (decode(Format::Msgpack, &[0xc1], LIMITS), "not a record"),
            (
                decode(Format::Msgpack, &rmp_serde::to_vec(&5u8).unwrap(), LIMITS),
                "not a record",
            ),
            (
                decode(
                    Format::Json,
                    serde_json::to_vec(&vec![rec("a/b"); 101])
                        .unwrap()
                        .as_slice(),
                    LIMITS,
                ),
                "more than 100",
            ),
            (
                decompress(Some("gzip"), b"not gzip", 10).map(|_| vec![]),
                "gzip",
            ),
            (
                decompress(Some("gzip"), &gzip(&big), 100).map(|_| vec![]),
                "exceeds 100",
            ),
            (decompress(Some("zstd"), b"x", 10).map(|_| vec![]), "zstd"),
            (
                format_for(Some("text/plain"), b"{}").map(|_| vec![]),
                "text/plain",
            ),
        ];
        for (res, want) in cases {
            let err = res.unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
