//! What a log line says: level, HTTP status, latency, and whether it
//! describes a served request.
//!
//! A line is read as, in order:
//! 1. a JSON object (`{"level":"error","status":500,"latency_ms":12}`);
//! 2. an access log: common / combined / nginx (`... "GET /x HTTP/1.1" 200 512
//!    ...`), with an nginx `$request_time` (seconds) as the last token or as
//!    `rt=` / `request_time=`;
//! 3. logfmt (`level=warn status=503 duration=25ms method=GET`);
//! 4. free text with level words (`ERROR`, `[warn]`, klog `E0501`, Go
//!    `panic:`, Java `Exception`, Python `Traceback`) and, where the text
//!    says so, a request and a duration (see [`freetext`]).
//!
//! Latency units: a key suffix (`_ms`, `_us`/`_µs`, `_ns`, `_s`/`_sec`/
//! `_seconds`) or a duration string (`"250ms"`, `"0.25s"`, `"1m2.5s"`) decides;
//! a bare number under `request_time` / `upstream_response_time` (nginx) is
//! seconds, under any other latency key milliseconds.

use std::borrow::Cow;

use crate::freetext;
use crate::json::{value_of_raw, Record, RecordIndex, Value};
use crate::observation::{LogLevel, LogSignal};
use crate::timestamp;

/// What a line says, with the time it carries when it has one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LineInfo {
    /// Level, status, latency, request-ness.
    pub signal: LogSignal,
    /// A `time` / `timestamp` / `ts` / `@timestamp` field of a structured line.
    pub ts_ns: Option<i64>,
}

/// Lines longer than this are scanned for level words only in their head.
pub(crate) const SCAN_HEAD: usize = 512;

/// Reads a log line (its signal only).
pub fn classify_line(line: &str) -> LogSignal {
    read_line(line).signal
}

/// Buffers for reading log lines, reused from line to line: a caller that
/// keeps one allocates nothing per line once they have grown.
#[derive(Debug, Clone, Default)]
pub struct LineBuffers {
    /// An escaped line, decoded.
    pub(crate) text: Vec<u8>,
    /// The index of a JSON line.
    pub(crate) index: RecordIndex,
}

impl LineBuffers {
    /// Empty buffers.
    pub fn new() -> LineBuffers {
        LineBuffers::default()
    }
}

/// Reads a log line: its signal and, for structured lines, its own time.
pub fn read_line(line: &str) -> LineInfo {
    read_line_in(line, &mut RecordIndex::new())
}

/// As [`read_line`], indexing a JSON line in `index`.
pub fn read_line_in(line: &str, index: &mut RecordIndex) -> LineInfo {
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(rec) = Record::parse_in(trimmed.trim_end().as_bytes(), index) {
            return read_record_fields(&rec);
        }
    }
    if let Some(signal) = access_log(line) {
        return LineInfo {
            signal,
            ts_ns: None,
        };
    }
    let info = logfmt(line);
    if info.signal.level.is_some() || info.signal.status.is_some() {
        return info;
    }
    LineInfo {
        signal: freetext::read(line),
        ts_ns: None,
    }
}

/// Accumulates what the fields of a structured line say.
#[derive(Default)]
struct Fields {
    level: Option<LogLevel>,
    status: Option<u16>,
    code: Option<u16>,
    latency_ms: Option<f64>,
    method: bool,
    path: bool,
    ts_ns: Option<i64>,
}

impl Fields {
    fn info(self) -> LineInfo {
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
    fn take(&mut self, key: &str, num: Option<f64>, text: Option<&str>) {
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

/// If `key` names a latency, the multiplier that turns a bare number under it
/// into milliseconds.
fn latency_key(key: &str) -> Option<f64> {
    const BASES: &[&str] = &[
        "latency",
        "duration",
        "response_time",
        "request_time",
        "upstream_response_time",
        "elapsed",
        "took",
        "responsetime",
        "request_duration",
        "http.duration",
    ];
    const UNITS: &[(&str, f64)] = &[
        ("", 1.0),
        ("_ms", 1.0),
        ("ms", 1.0),
        ("_millis", 1.0),
        ("_us", 1e-3),
        ("_µs", 1e-3),
        ("_micros", 1e-3),
        ("_ns", 1e-6),
        ("_nanos", 1e-6),
        ("_s", 1e3),
        ("_sec", 1e3),
        ("_secs", 1e3),
        ("_seconds", 1e3),
    ];
    for base in BASES {
        if let Some(suffix) = key.strip_prefix(base) {
            for (unit, mul) in UNITS {
                if suffix == *unit {
                    if unit.is_empty() && matches!(*base, "request_time" | "upstream_response_time")
                    {
                        return Some(1e3);
                    }
                    return Some(*mul);
                }
            }
        }
    }
    None
}

/// Parses a duration string into milliseconds: `250ms`, `0.25s`, `250µs`,
/// `250us`, `15ns`, `1m2.5s`, `1h`; a bare number is multiplied by `bare_mul`.
pub fn parse_duration_ms(s: &str, bare_mul: f64) -> Option<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Some(v * bare_mul).filter(|v| v.is_finite());
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    let mut any = false;
    while i < b.len() {
        let start = i;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
            i += 1;
        }
        let num: f64 = s.get(start..i)?.parse().ok()?;
        let ustart = i;
        while b.get(i).is_some_and(|c| !c.is_ascii_digit() && *c != b'.') {
            i += 1;
        }
        total += num * unit_ms(s.get(ustart..i)?.trim())?;
        any = true;
    }
    (any && total.is_finite()).then_some(total)
}

/// Milliseconds in one `unit` of a duration (`ms`, `s`, `µs`, ...).
pub(crate) fn unit_ms(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-6,
        "us" | "µs" | "μs" => 1e-3,
        "ms" => 1.0,
        "s" | "sec" | "secs" => 1e3,
        "m" | "min" => 60e3,
        "h" => 3600e3,
        _ => return None,
    })
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

/// Common / combined / nginx access-log lines:
/// `host ident user [time] "METHOD path PROTO" status bytes ...`.
fn access_log(line: &str) -> Option<LogSignal> {
    let open = memchr::memmem::find(line.as_bytes(), b"] \"")? + 3;
    let rest = line.get(open..)?;
    let close = rest.find('"')?;
    let request = rest.get(..close)?;
    let method = request.split(' ').next()?;
    if !is_http_method(method) && request != "-" {
        return None;
    }
    let mut tokens = rest.get(close + 1..)?.split_ascii_whitespace();
    let status: u16 = tokens.next()?.parse().ok()?;
    if !(100..=599).contains(&status) {
        return None;
    }
    let after = rest.get(close + 1..)?;
    let latency_ms = nginx_request_time(after);
    Some(LogSignal {
        level: None,
        status: Some(status),
        latency_ms,
        is_request: true,
    })
}

/// An nginx `$request_time` (seconds, millisecond resolution): the last token
/// of the line as `0.005`, or a `rt=` / `request_time=` pair.
fn nginx_request_time(after_request: &str) -> Option<f64> {
    // Every pair has an `=`; most lines have none.
    if memchr::memchr(b'=', after_request.as_bytes()).is_some() {
        for tok in after_request.split_ascii_whitespace() {
            for prefix in ["rt=", "request_time=", "urt=", "upstream_response_time="] {
                if let Some(v) = tok.strip_prefix(prefix) {
                    return seconds_token(v.trim_matches('"'));
                }
            }
        }
    }
    // Combined format ends with `"referer" "agent"`; a bare trailing number is $request_time.
    let last = after_request.trim_end().rsplit(' ').next()?;
    let three_tokens = after_request.split_ascii_whitespace().nth(2).is_some();
    if !three_tokens || !last.contains('.') {
        return None;
    }
    seconds_token(last)
}

fn seconds_token(v: &str) -> Option<f64> {
    let s: f64 = v.parse().ok()?;
    (s.is_finite() && s >= 0.0).then_some(s * 1e3)
}

/// `key=value` pairs (values may be quoted).
fn logfmt(line: &str) -> LineInfo {
    let mut f = Fields::default();
    let mut pairs = 0;
    let mut rest = line.get(..line.len().min(4 * SCAN_HEAD)).unwrap_or(line);
    while let Some(eq) = rest.find('=') {
        let key = rest
            .get(..eq)
            .unwrap_or("")
            .rsplit(' ')
            .next()
            .unwrap_or("");
        let after = rest.get(eq + 1..).unwrap_or("");
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (q.get(..end).unwrap_or(""), q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (
                after.get(..end).unwrap_or(""),
                after.get(end..).unwrap_or(""),
            )
        };
        if !key.is_empty()
            && key
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'@'))
        {
            pairs += 1;
            f.take(key, value.parse().ok(), Some(value));
        }
        rest = next;
    }
    if pairs < 2 {
        return LineInfo::default();
    }
    f.info()
}

#[cfg(test)]
mod tests {
    use super::*;
    use LogLevel::*;

    fn sig(
        level: Option<LogLevel>,
        status: Option<u16>,
        latency: Option<f64>,
        req: bool,
    ) -> LogSignal {
        LogSignal {
            level,
            status,
            latency_ms: latency,
            is_request: req,
        }
    }

    #[test]
    fn lines() {
        let cases: &[(&str, LogSignal)] = &[
            // JSON app logs.
            (
                r#"{"level":"error","msg":"db down"}"#,
                sig(Some(Error), None, None, false),
            ),
            (
                r#"{"severity":"WARNING","message":"slow"}"#,
                sig(Some(Warn), None, None, false),
            ),
            (r#"{"lvl":"info"}"#, sig(Some(Info), None, None, false)),
            (
                r#"{"level":50,"msg":"pino"}"#,
                sig(Some(Error), None, None, false),
            ),
            (
                r#"{"level":"info","method":"GET","path":"/api","status":200,"latency_ms":12.5}"#,
                sig(Some(Info), Some(200), Some(12.5), true),
            ),
            (
                r#"{"method":"POST","url":"/x","status_code":"503","duration":"0.25s"}"#,
                sig(None, Some(503), Some(250.0), true),
            ),
            (
                r#"{"status":502,"latency":"250µs"}"#,
                sig(None, Some(502), Some(0.25), true),
            ),
            (
                r#"{"status":200,"latency":"250us"}"#,
                sig(None, Some(200), Some(0.25), true),
            ),
            (
                r#"{"status":200,"request_time":0.25}"#,
                sig(None, Some(200), Some(250.0), true),
            ),
            (
                r#"{"status":200,"duration_ms":7}"#,
                sig(None, Some(200), Some(7.0), true),
            ),
            (
                r#"{"status":200,"response_time":40}"#,
                sig(None, Some(200), Some(40.0), true),
            ),
            (
                r#"{"status":200,"latency_seconds":0.5}"#,
                sig(None, Some(200), Some(500.0), true),
            ),
            (
                r#"{"status":200,"duration_ns":1500000}"#,
                sig(None, Some(200), Some(1.5), true),
            ),
            (
                r#"{"status":200,"latency":"1m2.5s"}"#,
                sig(None, Some(200), Some(62_500.0), true),
            ),
            (
                r#"{"code":500,"method":"GET"}"#,
                sig(None, Some(500), None, true),
            ),
            (r#"{"code":13,"msg":"grpc"}"#, sig(None, None, None, false)),
            (r#"{"status":"ok"}"#, sig(None, None, None, false)),
            (
                r#"{"http":{"method":"GET","status_code":404},"level":"warn"}"#,
                sig(Some(Warn), Some(404), None, true),
            ),
            // Access logs.
            (
                r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
                sig(None, Some(200), None, true),
            ),
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "POST /api HTTP/1.1" 502 157 "-" "curl/8.0""#,
                sig(None, Some(502), None, true),
            ),
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0" 0.005"#,
                sig(None, Some(200), Some(5.0), true),
            ),
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl" rt=0.250 uct="0.000""#,
                sig(None, Some(200), Some(250.0), true),
            ),
            // logfmt.
            (
                "time=2024-05-01T10:00:00Z level=warn msg=\"slow query\" duration=1.5s",
                sig(Some(Warn), None, Some(1500.0), false),
            ),
            (
                "level=info method=GET path=/x status=500 latency=25ms",
                sig(Some(Info), Some(500), Some(25.0), true),
            ),
            // Free text.
            (
                "2024-05-01 10:00:00 ERROR something broke",
                sig(Some(Error), None, None, false),
            ),
            ("WARN disk almost full", sig(Some(Warn), None, None, false)),
            (
                "2024/05/01 10:00:00 [error] 7#7: *1 connect() failed",
                sig(Some(Error), None, None, false),
            ),
            (
                "E0501 10:00:00.000000       1 reflector.go:1] failed",
                sig(Some(Error), None, None, false),
            ),
            (
                "I0501 10:00:00.000000       1 main.go:1] started",
                sig(Some(Info), None, None, false),
            ),
            (
                "panic: runtime error: index out of range",
                sig(Some(Fatal), None, None, false),
            ),
            (
                "java.lang.NullPointerException: boom",
                sig(Some(Error), None, None, false),
            ),
            (
                "Traceback (most recent call last):",
                sig(Some(Error), None, None, false),
            ),
            (
                "INFO caught Exception in handler",
                sig(Some(Error), None, None, false),
            ),
            ("FATAL out of memory", sig(Some(Fatal), None, None, false)),
            (
                "Error: connection refused",
                sig(Some(Error), None, None, false),
            ),
            ("processed 0 errors today", sig(None, None, None, false)),
            ("hello world", sig(None, None, None, false)),
            ("", sig(None, None, None, false)),
            ("{not json", sig(None, None, None, false)),
        ];
        for (line, want) in cases {
            assert_eq!(classify_line(line), *want, "{line}");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Option<f64>)] = &[
            ("250ms", Some(250.0)),
            ("0.25s", Some(250.0)),
            ("250µs", Some(0.25)),
            ("250μs", Some(0.25)),
            ("1h", Some(3_600_000.0)),
            ("1m2.5s", Some(62_500.0)),
            ("15", Some(15.0)),
            ("fast", None),
            ("", None),
            ("12parsecs", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration_ms(s, 1.0), *want, "{s}");
        }
    }
}
