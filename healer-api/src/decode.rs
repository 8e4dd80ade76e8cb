//! Decoding what the pipelines send to `POST /v1/anomalies`: a JSON array (Fluent Bit
//! `format json`), NDJSON or concatenated objects (`json_lines`, `json_stream`, Vector
//! newline-delimited), a single object, or msgpack (`format msgpack`: a stream of
//! `[[time, meta], record]`, `[time, record]` or bare maps), each optionally gzip-compressed.

use std::borrow::Cow;
use std::io::Read;

use edgeheal_plugin::json::NonFinite;
use serde::de::{self, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::Value;

use crate::bounded_value::{BoundedValue, ValueBudget};
use crate::tags::{TagError, Tags};

mod msgpack;

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
    /// One record holds more values than allowed.
    #[error("record {index} holds more than {max} values (objects, arrays, strings, numbers)")]
    TooManyValues {
        /// Zero-based position in the batch.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// The records, re-encoded as JSON to be stored, are larger than allowed.
    #[error("the records re-encoded as JSON exceed {0} bytes")]
    RecordsTooLarge(usize),
    /// The memory the heal API gives bodies in flight is taken; nothing is wrong with this
    /// body, and it may be sent again.
    #[error("the memory for request bodies in flight is in use")]
    OverBudget,
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
    /// Largest decompressed body, and largest sum of the records re-encoded as JSON.
    pub max_decompressed_bytes: usize,
    /// Most records.
    pub max_records: usize,
    /// Most values (objects, arrays, strings, numbers, booleans, nulls) one record may hold.
    pub max_record_values: usize,
}

impl DecodeLimits {
    /// The limits `ingest` configures.
    pub fn of(ingest: &crate::config::IngestConfig) -> Self {
        Self {
            max_decompressed_bytes: ingest.max_decompressed_bytes,
            max_records: ingest.max_records,
            max_record_values: ingest.max_record_values,
        }
    }
}

/// `body` with each non-finite number Fluent Bit's JSON writes for a double
/// (`flb_msgpack_to_json`, C's `%.16g`: `inf`, `-inf`, and without its
/// `json.convert_nan_to_null` `nan`, `-nan`) where a value stands replaced by `null`, as a
/// non-finite float in a msgpack body is read (JSON has no such number); `None` when there is
/// none. The tokens and what may follow them are the edge filter's
/// ([`edgeheal_plugin::json::NonFinite::at`]); a value stands outside strings, after `:`, `,`
/// or `[` (whitespace aside). `Infinity`, `NaN` or `nans` are left alone, and the body stays
/// malformed. The result is at most a third longer than `body` (`inf` is the shortest token).
pub fn non_finite_as_null(body: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let (mut copied, mut i) = (0, 0);
    let (mut in_string, mut escaped) = (false, false);
    // The last byte outside strings that was not whitespace.
    let mut last = b'[';
    while i < body.len() {
        let b = body[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            last = b;
            i += 1;
            continue;
        }
        if matches!(last, b':' | b',' | b'[') {
            if let Some(number) = NonFinite::at(body, i) {
                let o = out.get_or_insert_with(|| Vec::with_capacity(body.len() + body.len() / 3));
                o.extend_from_slice(&body[copied..i]);
                o.extend_from_slice(b"null");
                i += number.token().len();
                copied = i;
                last = b'l';
                continue;
            }
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
        i += 1;
    }
    let mut out = out?;
    out.extend_from_slice(&body[copied..]);
    Some(out)
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

/// Undoes `Content-Encoding`, bounded by `limit` bytes of output. An identity body is
/// returned as it is; a gzip body's output is charged to `charge` (bytes about to be allocated;
/// `false` refuses them) before it grows, so its memory is paid for before it is taken.
pub fn decompress<'a>(
    encoding: Option<&str>,
    body: &'a [u8],
    limit: usize,
    charge: &mut dyn FnMut(usize) -> bool,
) -> Result<Cow<'a, [u8]>, DecodeError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(Cow::Borrowed(body)),
        Some(e) if e.is_empty() || e == "identity" => Ok(Cow::Borrowed(body)),
        Some(e) if e == "gzip" || e == "x-gzip" => gunzip(body, limit, charge).map(Cow::Owned),
        Some(e) => Err(DecodeError::UnsupportedEncoding(e)),
    }
}

fn gunzip(
    body: &[u8],
    limit: usize,
    charge: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<u8>, DecodeError> {
    // Every member: a gzip body is a series of them (RFC 1952 2.2), and `GzDecoder` reads the
    // first and ignores the rest, so the records after it were dropped unsaid. Bytes after the
    // last member that do not start another are an error.
    let mut dec = flate2::read::MultiGzDecoder::new(body);
    let mut out: Vec<u8> = Vec::new();
    // The gzip trailer's ISIZE (the input's size modulo 2^32) sizes the buffer at once, as a
    // hint only: a body that inflates past it grows by doubling as any other.
    if let Some(trailer) = body.len().checked_sub(4).map(|at| &body[at..]) {
        let hint = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize;
        let capacity = hint.min(limit);
        if !charge(capacity) {
            return Err(DecodeError::OverBudget);
        }
        out.reserve_exact(capacity);
    }
    let mut chunk = [0u8; 16 << 10];
    loop {
        let n = dec
            .read(&mut chunk)
            .map_err(|e| DecodeError::Gzip(e.to_string()))?;
        if n == 0 {
            return Ok(out);
        }
        let needed = out.len() + n;
        if needed > limit {
            return Err(DecodeError::TooLarge(limit));
        }
        if needed > out.capacity() {
            // Grow by doubling (at most to the limit), charging the growth first.
            let capacity = needed.max(out.capacity() * 2).max(body.len()).min(limit);
            if !charge(capacity - out.capacity()) {
                return Err(DecodeError::OverBudget);
            }
            out.reserve_exact(capacity - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Decodes a (decompressed) body into validated records: [`decode_charged`] with nothing
/// to charge.
pub fn decode(
    format: Format,
    body: &[u8],
    limits: DecodeLimits,
) -> Result<Vec<AnomalyRecord>, DecodeError> {
    decode_charged(format, body, limits, &mut |_| true)
}

/// Decodes a (decompressed) body into validated records, one record at a time: each is built
/// under [`DecodeLimits::max_record_values`], checked against the tag contract, re-encoded
/// and dropped before the next is read, and the record after [`DecodeLimits::max_records`] is
/// never built. Each record kept is charged to `charge` (its text, its tags' strings and lists,
/// and the list of records' growth; `false` refuses them) before it is kept, and the sum of
/// the texts is bounded by
/// [`DecodeLimits::max_decompressed_bytes`]. The first record that fails stops the decoding.
pub fn decode_charged(
    format: Format,
    body: &[u8],
    limits: DecodeLimits,
    charge: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<AnomalyRecord>, DecodeError> {
    let mut sink = RecordSink {
        limits,
        charge,
        records: Vec::new(),
        json_bytes: 0,
        error: None,
    };
    match format {
        Format::Json => json_records(body, &mut sink)?,
        Format::Msgpack => msgpack::records(body, &mut sink)?,
    }
    if sink.records.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(sink.records)
}

/// Where the parsers put records: counts them, validates each as it comes and keeps only its
/// tags and JSON text. A parser's visitor can only return the format's own error type, so the
/// sink keeps the [`DecodeError`] that stopped it in `error`.
struct RecordSink<'c> {
    limits: DecodeLimits,
    charge: &'c mut dyn FnMut(usize) -> bool,
    records: Vec<AnomalyRecord>,
    json_bytes: usize,
    error: Option<DecodeError>,
}

impl RecordSink<'_> {
    /// Whether every record the limit allows is in: one more is [`DecodeError::TooManyRecords`].
    fn full(&self) -> bool {
        self.records.len() >= self.limits.max_records
    }

    /// Builds the next record with `build` (which gets a fresh [`ValueBudget`]) and keeps it.
    /// `Ok(false)`: `build` found no more records.
    fn next<E: de::Error>(
        &mut self,
        build: impl FnOnce(&ValueBudget) -> Result<Option<Value>, E>,
    ) -> Result<bool, E> {
        let index = self.records.len();
        let budget = ValueBudget::new(self.limits.max_record_values);
        let value = match build(&budget) {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(false),
            Err(_) if budget.exceeded() => {
                return Err(self.fail(DecodeError::TooManyValues {
                    index,
                    max: self.limits.max_record_values,
                }))
            }
            Err(e) => return Err(e),
        };
        self.keep(index, value).map_err(|e| self.fail(e))?;
        Ok(true)
    }

    /// Refuses one more record.
    fn too_many<E: de::Error>(&mut self) -> E {
        self.fail(DecodeError::TooManyRecords(self.limits.max_records))
    }

    fn keep(&mut self, index: usize, value: Value) -> Result<(), DecodeError> {
        let tags =
            Tags::from_record(&value).map_err(|source| DecodeError::Record { index, source })?;
        let mut json = value.to_string();
        drop(value);
        json.shrink_to_fit();
        self.json_bytes += json.len();
        if self.json_bytes > self.limits.max_decompressed_bytes {
            return Err(DecodeError::RecordsTooLarge(
                self.limits.max_decompressed_bytes,
            ));
        }
        let mut cost = json.capacity() + tags.heap_bytes();
        if self.records.len() == self.records.capacity() {
            let capacity = (self.records.capacity() * 2)
                .max(16)
                .min(self.limits.max_records)
                .max(self.records.len() + 1);
            cost += (capacity - self.records.capacity()) * std::mem::size_of::<AnomalyRecord>();
            if !(self.charge)(cost) {
                return Err(DecodeError::OverBudget);
            }
            self.records.reserve_exact(capacity - self.records.len());
        } else if !(self.charge)(cost) {
            return Err(DecodeError::OverBudget);
        }
        self.records.push(AnomalyRecord { tags, json });
        Ok(())
    }

    fn fail<E: de::Error>(&mut self, e: DecodeError) -> E {
        let message = E::custom(&e);
        self.error = Some(e);
        message
    }

    /// The error that stopped a parser: the sink's own if it set one, else the syntax error.
    fn error_of(&mut self, e: impl std::fmt::Display) -> DecodeError {
        self.error
            .take()
            .unwrap_or_else(|| DecodeError::Malformed(e.to_string()))
    }
}

fn json_records(body: &[u8], sink: &mut RecordSink<'_>) -> Result<(), DecodeError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let mut de = serde_json::Deserializer::from_slice(body);
    match first {
        None => return Err(DecodeError::Empty),
        Some(b'[') => {
            de.deserialize_seq(JsonArray { sink: &mut *sink })
                .map_err(|e| sink.error_of(e))?;
            de.end()
                .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        }
        // NDJSON, concatenated objects or one object: values one after the other.
        Some(_) => loop {
            if de.end().is_ok() {
                break;
            }
            if sink.full() {
                return Err(DecodeError::TooManyRecords(sink.limits.max_records));
            }
            sink.next(|budget| BoundedValue { budget }.deserialize(&mut de).map(Some))
                .map_err(|e: serde_json::Error| sink.error_of(e))?;
        },
    }
    Ok(())
}

/// A JSON array of records, read one element at a time.
struct JsonArray<'s, 'c> {
    sink: &'s mut RecordSink<'c>,
}

impl<'de> Visitor<'de> for JsonArray<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        records_of_seq(self.sink, seq)
    }
}

/// Every element of `seq` is a record.
fn records_of_seq<'de, A: SeqAccess<'de>>(
    sink: &mut RecordSink<'_>,
    mut seq: A,
) -> Result<(), A::Error> {
    loop {
        if sink.full() {
            // One more element, even `0`, is one record too many; it is skipped, not built.
            return match seq.next_element::<IgnoredAny>()? {
                Some(_) => Err(sink.too_many()),
                None => Ok(()),
            };
        }
        if !sink.next(|budget| seq.next_element_seed(BoundedValue { budget }))? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    const LIMITS: DecodeLimits = DecodeLimits {
        max_decompressed_bytes: 1 << 20,
        max_records: 100,
        max_record_values: 1000,
    };

    /// Fluent Bit's tokens where a value stands become `null`; in strings, as keys, or
    /// spelled otherwise they stay, and a body without one is `None`.
    #[test]
    fn fluent_bits_non_finite_numbers_are_read_as_null() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"[{"a":inf,"b":[-inf, nan ,-nan],"c":{"d":inf}}]"#,
                Some(r#"[{"a":null,"b":[null, null ,null],"c":{"d":null}}]"#),
            ),
            (
                "{\"a\": inf}\n{\"b\":\t-inf\n}\n",
                Some("{\"a\": null}\n{\"b\":\tnull\n}\n"),
            ),
            (
                r#"[{"inf":"inf","s":"a\"inf","t":"x\\","u":inf}]"#,
                Some(r#"[{"inf":"inf","s":"a\"inf","t":"x\\","u":null}]"#),
            ),
            (r#"[{"a":"inf","b":"-nan"}]"#, None),
            (r#"[{"a":Infinity}]"#, None),
            (r#"[{"a":nans}]"#, None),
            (r#"[{"a":inf1}]"#, None),
            (r#"[{"a":-in}]"#, None),
            (r#"[{"a":+inf}]"#, None),
            (r#"[{"a":1.5}]"#, None),
        ];
        for (body, want) in cases {
            let got = non_finite_as_null(body.as_bytes());
            assert_eq!(
                got.as_deref().map(|b| std::str::from_utf8(b).unwrap()),
                *want,
                "{body}"
            );
            if let Some(text) = &got {
                assert!(text.len() <= body.len() + body.len() / 3, "{body}");
            }
        }
    }

    fn unzip(encoding: Option<&str>, body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        decompress(encoding, body, limit, &mut |_| true).map(Cow::into_owned)
    }

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
                    unzip(gz.then_some("gzip"), &wire, LIMITS.max_decompressed_bytes).unwrap();
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
            (unzip(Some("gzip"), b"not gzip", 10).map(|_| vec![]), "gzip"),
            (
                unzip(Some("gzip"), &gzip(&big), 100).map(|_| vec![]),
                "exceeds 100",
            ),
            (unzip(Some("zstd"), b"x", 10).map(|_| vec![]), "zstd"),
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

    fn msgpack_map(r: &serde_json::Value) -> Vec<u8> {
        rmp_serde::to_vec_named(r).unwrap()
    }

    /// An msgpack array header of `n` elements.
    fn msgpack_array(n: u32) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_array_len(&mut out, n).unwrap();
        out
    }

    #[test]
    fn limits_are_counted_while_parsing_in_every_format() {
        let r = rec("shop/a");
        let json_array = |n| serde_json::to_vec(&vec![r.clone(); n]).unwrap();
        let ndjson = |n| format!("{r}\n").repeat(n).into_bytes();
        let msgpack_stream = |n: usize| msgpack_map(&r).repeat(n);
        let msgpack_many = |n: u32| {
            let mut v = msgpack_array(n);
            for _ in 0..n {
                v.extend(msgpack_map(&r));
            }
            v
        };
        let mut deep = r.clone();
        deep["x"] = serde_json::Value::from(vec![0; 2000]);
        let mut record_of_nils = msgpack_map(&r);
        // One more key (fixmap count + 1) whose value is an array of 5000 nils.
        record_of_nils[0] += 1;
        record_of_nils.extend([0xa1, b'x']);
        record_of_nils.extend(msgpack_array(5000));
        record_of_nils.extend(std::iter::repeat_n(0xc0, 5000));
        // A header of 2^32 - 1 elements, all missing: nothing is allocated for them.
        let mut lying_header = msgpack_array(u32::MAX);
        lying_header.push(0xc0);
        // Name, format, body, and the records decoded or what the error says.
        type Case<'a> = (&'a str, Format, Vec<u8>, Result<usize, &'a str>);
        let cases: Vec<Case> = vec![
            ("array at the limit", Format::Json, json_array(100), Ok(100)),
            (
                "array over it",
                Format::Json,
                json_array(101),
                Err("more than 100 records"),
            ),
            ("ndjson at the limit", Format::Json, ndjson(100), Ok(100)),
            (
                "ndjson over it",
                Format::Json,
                ndjson(101),
                Err("more than 100 records"),
            ),
            (
                "array of zeros",
                Format::Json,
                b"[0,0,0,0]".to_vec(),
                Err("record 0: "),
            ),
            (
                "a record too deep in values",
                Format::Json,
                serde_json::to_vec(&json!([r, deep])).unwrap(),
                Err("record 1 holds more than 1000 values"),
            ),
            (
                "msgpack stream at the limit",
                Format::Msgpack,
                msgpack_stream(100),
                Ok(100),
            ),
            (
                "msgpack stream over it",
                Format::Msgpack,
                msgpack_stream(101),
                Err("more than 100 records"),
            ),
            (
                "msgpack array at the limit",
                Format::Msgpack,
                msgpack_many(100),
                Ok(100),
            ),
            (
                "msgpack array over it",
                Format::Msgpack,
                msgpack_many(101),
                Err("more than 100 records"),
            ),
            (
                "msgpack array of two records",
                Format::Msgpack,
                msgpack_many(2),
                Ok(2),
            ),
            (
                "msgpack record of nils",
                Format::Msgpack,
                record_of_nils,
                Err("record 0 holds more than 1000 values"),
            ),
            (
                "msgpack array that lies",
                Format::Msgpack,
                lying_header,
                Err("msgpack entry 1 is not"),
            ),
            (
                "msgpack event of three",
                Format::Msgpack,
                {
                    let mut v = msgpack_array(3);
                    v.push(0x01);
                    v.extend(msgpack_map(&r));
                    v.extend(msgpack_map(&r));
                    v
                },
                Err("msgpack entry 1 is not"),
            ),
            (
                "msgpack nested too deep",
                Format::Msgpack,
                {
                    let mut v = vec![0x81, 0xa1, b'x'];
                    v.extend(std::iter::repeat_n(0x91, 200));
                    v.push(0xc0);
                    v
                },
                Err("msgpack entry 1 is not"),
            ),
        ];
        for (name, format, body, want) in cases {
            let got = decode(format, &body, LIMITS).map(|r| r.len());
            match want {
                Ok(n) => assert_eq!(got.unwrap_or_else(|e| panic!("{name}: {e}")), n, "{name}"),
                Err(msg) => {
                    let err = got
                        .err()
                        .unwrap_or_else(|| panic!("{name}: accepted"))
                        .to_string();
                    assert!(err.contains(msg), "{name}: {err}");
                }
            }
        }
    }

    #[test]
    fn memory_is_charged_before_it_is_taken() {
        let body = serde_json::to_vec(&vec![rec("shop/a"); 10]).unwrap();
        let mut charged = 0;
        let records = decode_charged(Format::Json, &body, LIMITS, &mut |n| {
            charged += n;
            true
        })
        .unwrap();
        let kept: usize = records.iter().map(|r| r.json.len()).sum();
        assert!(charged >= kept, "{charged} < {kept}");
        // Refused half-way: the decoding stops there.
        let mut left = charged / 2;
        let refused = decode_charged(Format::Json, &body, LIMITS, &mut |n| {
            left = match left.checked_sub(n) {
                Some(l) => l,
                None => return false,
            };
            true
        });
        assert!(
            matches!(refused, Err(DecodeError::OverBudget)),
            "{refused:?}"
        );

        let plain = vec![b'x'; 300_000];
        let gz = gzip(&plain);
        let mut charged = 0;
        let out = decompress(Some("gzip"), &gz, 1 << 20, &mut |n| {
            charged += n;
            true
        })
        .unwrap();
        assert_eq!(out.len(), plain.len());
        assert!(
            (plain.len()..=2 * plain.len()).contains(&charged),
            "{charged} charged for {} bytes",
            plain.len()
        );
        let refused = decompress(Some("gzip"), &gz, 1 << 20, &mut |n| n < 100_000);
        assert!(
            matches!(refused, Err(DecodeError::OverBudget)),
            "{refused:?}"
        );
        // An identity body is not copied.
        assert!(matches!(
            decompress(None, &plain, 1 << 20, &mut |_| false),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn records_reencoded_past_the_limit_are_refused() {
        // msgpack strings of control characters grow sixfold as JSON (`\u0001`).
        let mut r = rec("shop/a");
        r["log"] = serde_json::Value::from("\u{1}".repeat(4000));
        let body = msgpack_map(&r);
        let limits = DecodeLimits {
            max_decompressed_bytes: 10_000,
            ..LIMITS
        };
        assert!(body.len() < limits.max_decompressed_bytes);
        let err = decode(Format::Msgpack, &body, limits).unwrap_err();
        assert!(matches!(err, DecodeError::RecordsTooLarge(10_000)), "{err}");
    }
}
