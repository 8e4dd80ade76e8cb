//! Structured log lines: the members of a JSON line (or of a record a log
//! parser merged the line into) that say a level, an HTTP status, a latency,
//! a request's method or path, or the line's own time.

use std::borrow::Cow;

use super::duration::{latency_key, parse_duration_ms};
use super::LineInfo;
use crate::json::{value_of_raw, Record, Value};
use crate::observation::{LogLevel, LogSignal};
use crate::timestamp;

/// Accumulates what the fields of a structured line say.
#[derive(Default)]
pub(super) struct Fields {
    level: Option<LogLevel>,
    status: Option<u16>,
    code: Option<u16>,
    latency_ms: Option<f64>,
    method: bool,
    path: bool,
    ts_ns: Option<i64>,
}

impl Fields {
    pub(super) fn info(self) -> LineInfo {
        let has_request_shape = self.method || self.path;
        let status = self
            .status
            .or_else(|| self.code.filter(|_| has_request_shape));
        LineInfo {
            signal: LogSignal {
                level: self.level,
                status,
                latency_ms: self.latency_ms,
                is_request: status.is_some() && (has_request_shape || self.latency_ms.is_some()),
            },
            ts_ns: self.ts_ns,
        }
    }

    /// Takes one `key = value` pair, where `num` is the value as a number if
    /// it is one and `text` the value as text.
    pub(super) fn take(&mut self, key: &str, num: Option<f64>, text: Option<&str>) {
        self.take_field(FieldKey::of(key), num, text);
    }

    /// As [`Fields::take`], with the key already classified.
    fn take_field(&mut self, key: FieldKey, num: Option<f64>, text: Option<&str>) {
        match key {
            FieldKey::Level => {
                if self.level.is_none() {
                    self.level = text
                        .and_then(level_word)
                        .or_else(|| num.and_then(numeric_level));
                }
            }
            FieldKey::Status => {
                if self.status.is_none() {
                    self.status = http_status(num, text);
                }
            }
            FieldKey::Code => self.code = http_status(num, text),
            FieldKey::Time => {
                if self.ts_ns.is_none() {
                    self.ts_ns = match (num, text) {
                        (_, Some(t)) => timestamp::parse_value(&Value::Str(t.into())),
                        (Some(n), None) => timestamp::parse_epoch_f64(n),
                        _ => None,
                    };
                }
            }
            FieldKey::Method => self.method = text.is_some_and(is_http_method),
            FieldKey::Path => self.path = text.is_some(),
            FieldKey::Request => {
                if let Some((m, _)) = text.and_then(|t| t.split_once(' ')) {
                    self.method |= is_http_method(m);
                    self.path = self.method;
                }
            }
            FieldKey::Latency(default_ms) => {
                if self.latency_ms.is_none() {
                    self.latency_ms = match (num, text) {
                        (Some(n), _) => Some(n * default_ms),
                        (None, Some(t)) => parse_duration_ms(t, default_ms),
                        _ => None,
                    }
                    .filter(|v| v.is_finite() && *v >= 0.0);
                }
            }
            FieldKey::Other => {}
        }
    }
}

/// What a field of a structured line is, by its key (compared without case).
#[derive(Debug, Clone, Copy, PartialEq)]
enum FieldKey {
    Level,
    Status,
    /// `code`: a status only beside a request's method or path.
    Code,
    Time,
    Method,
    Path,
    /// `request`: `"GET /path HTTP/1.1"`.
    Request,
    /// A latency, with the multiplier that turns a bare number into milliseconds.
    Latency(f64),
    /// Says nothing [`Fields`] reads.
    Other,
}

impl FieldKey {
    fn of(key: &str) -> FieldKey {
        let lower_buf;
        let key = if key.bytes().any(|c| c.is_ascii_uppercase()) {
            lower_buf = key.to_ascii_lowercase();
            lower_buf.as_str()
        } else {
            key
        };
        match key {
            "level" | "severity" | "lvl" | "loglevel" | "log_level" | "levelname" | "log.level"
            | "severity_text" | "@l" => FieldKey::Level,
            "status" | "status_code" | "statuscode" | "http_status" | "http.status_code"
            | "response_code" | "http_status_code" => FieldKey::Status,
            "code" => FieldKey::Code,
            "time" | "timestamp" | "ts" | "@timestamp" | "@t" => FieldKey::Time,
            "method" | "http_method" | "request_method" | "http.method" | "verb" => {
                FieldKey::Method
            }
            "path" | "url" | "uri" | "request_uri" | "route" | "http.url" | "http.path"
            | "endpoint" => FieldKey::Path,
            "request" => FieldKey::Request,
            _ => latency_key(key).map_or(FieldKey::Other, FieldKey::Latency),
        }
    }
}

/// Does `key` name a field [`read_fields`] takes a level, status or latency
/// from? Lets callers skip reading records that have none.
pub fn is_signal_key(key: &str) -> bool {
    let lower;
    let key = if key.bytes().any(|c| c.is_ascii_uppercase()) {
        lower = key.to_ascii_lowercase();
        lower.as_str()
    } else {
        key
    };
    matches!(
        key,
        "level"
            | "severity"
            | "lvl"
            | "loglevel"
            | "log_level"
            | "levelname"
            | "log.level"
            | "severity_text"
            | "@l"
            | "status"
            | "status_code"
            | "statuscode"
            | "http_status"
            | "http.status_code"
            | "response_code"
            | "http_status_code"
            | "code"
            | "http"
            | "request"
            | "response"
    ) || latency_key(key).is_some()
}

/// Reads the signal in the fields of a JSON log line (or of a record a log
/// parser merged the line into).
pub fn from_fields(obj: &Value<'_>) -> LogSignal {
    read_fields(obj).signal
}

/// Reads the fields of a JSON log line: signal and time.
pub fn read_fields(obj: &Value<'_>) -> LineInfo {
    fields_of(obj.members_raw())
}

/// As [`read_fields`], over a record's top-level members (as its parse
/// indexed them, so the text is not scanned again).
pub fn read_record_fields(record: &Record<'_>) -> LineInfo {
    fields_of(record.members_raw())
}

/// Reads members given as (key, raw value text): a value is decoded only
/// when its key says something (or names a nested object read below).
fn fields_of<'a>(members: impl Iterator<Item = (Cow<'a, str>, &'a [u8])>) -> LineInfo {
    let mut f = Fields::default();
    for (key, raw) in members {
        let nested = raw.first() == Some(&b'{') && matches!(&*key, "http" | "request" | "response");
        let field = FieldKey::of(&key);
        if field == FieldKey::Other && !nested {
            continue;
        }
        let Some(value) = value_of_raw(raw) else {
            continue;
        };
        let (num, text) = match &value {
            Value::Number(n) => (n.parse().ok(), Some(*n)),
            Value::Str(s) => (None, Some(s.as_ref())),
            Value::Object(_) if nested => {
                // One level of nesting: `http.status_code`, `request.method`, ...
                for (k2, v2) in value.members() {
                    let n2 = v2.as_f64();
                    let full = [key.as_ref(), ".", k2.as_ref()].concat();
                    f.take(&full, n2, v2.as_str());
                    f.take(&k2, n2, v2.as_str());
                }
                continue;
            }
            _ => continue,
        };
        f.take_field(field, num, text);
    }
    f.info()
}

fn http_status(num: Option<f64>, text: Option<&str>) -> Option<u16> {
    let v = match (num, text) {
        (Some(n), _) => n,
        (None, Some(t)) => t.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (v.fract() == 0.0 && (100.0..=599.0).contains(&v)).then_some(v as u16)
}

pub(crate) fn is_http_method(m: &str) -> bool {
    matches!(
        m,
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "CONNECT" | "TRACE"
    ) || matches!(
        m,
        "get" | "post" | "put" | "delete" | "patch" | "head" | "options"
    )
}

pub(crate) fn level_word(w: &str) -> Option<LogLevel> {
    let w = w.trim();
    if w.len() > 9 {
        return None;
    }
    let mut buf = [0u8; 9];
    for (slot, c) in buf.iter_mut().zip(w.bytes()) {
        *slot = c.to_ascii_lowercase();
    }
    Some(match buf.get(..w.len())? {
        b"trace" | b"debug" | b"dbug" | b"trce" | b"d" | b"t" | b"verbose" => LogLevel::Debug,
        b"info" | b"information" | b"notice" | b"i" | b"inf" => LogLevel::Info,
        b"warn" | b"warning" | b"w" | b"wrn" => LogLevel::Warn,
        b"error" | b"err" | b"e" | b"eror" => LogLevel::Error,
        b"fatal" | b"critical" | b"crit" | b"panic" | b"dpanic" | b"emerg" | b"emergency"
        | b"alert" | b"f" | b"ftl" => LogLevel::Fatal,
        _ => return None,
    })
}

/// pino / bunyan numeric levels (10 trace ... 60 fatal).
fn numeric_level(n: f64) -> Option<LogLevel> {
    Some(match n as i64 {
        10..=29 => LogLevel::Debug,
        30..=39 => LogLevel::Info,
        40..=49 => LogLevel::Warn,
        50..=59 => LogLevel::Error,
        60..=69 => LogLevel::Fatal,
        _ => return None,
    })
}
