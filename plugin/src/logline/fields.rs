//! Structured log lines: the members of a JSON line (or of a record a log
//! parser merged the line into) that say a level, an HTTP status, a latency,
//! a request's method or path, or the line's own time.

use super::duration::{latency_key, parse_duration_ms, LATENCY_BASES, LATENCY_UNITS};
use super::LineInfo;
use crate::decimal::parse_f64;
use crate::json::{value_of_raw, RawKey, Record, Value};
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
    /// A `caller` like `server/http.go:87`: a Go program's zap logger.
    zap_caller: bool,
    /// A `logger` named `http.log.access…`: Caddy's access log, which zap
    /// writes without a `caller`.
    caddy_access: bool,
    /// The latency was a bare number under a key that names no unit
    /// (`latency`, `duration`), read as milliseconds.
    bare_unitless: bool,
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
            level_from_text: false,
            continuation: false,
        }
    }

    /// Takes one `key = value` pair, where `num` is the value as a number if
    /// it is one and `text` the value as text.
    pub(super) fn take(&mut self, key: &str, num: Option<f64>, text: Option<&str>) {
        self.take_field(FieldKey::of(key), num, text);
    }

    /// Takes member `key` of an object nested under `prefix` (`http`,
    /// `http.response`) by its full name (`http.response.status_code`), then
    /// by its own (`status_code`).
    fn take_nested(&mut self, prefix: &str, key: &str, value: &Value<'_>) {
        let (num, text) = (value.as_f64(), value.as_str());
        self.take(&[prefix, ".", key].concat(), num, text);
        self.take(key, num, text);
    }

    /// As [`Fields::take`], with the key already classified.
    fn take_field(&mut self, key: FieldKey, num: Option<f64>, text: Option<&str>) {
        match key {
            FieldKey::Level => {
                if self.level.is_none() {
                    self.level = text
                        .and_then(field_level)
                        .or_else(|| num.and_then(numeric_level));
                }
            }
            FieldKey::PgSeverity => {
                if let Some(level) = text.and_then(pg_severity) {
                    self.level = Some(level);
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
            FieldKey::Latency(default_ms, unitless) => {
                if self.latency_ms.is_none() {
                    self.bare_unitless = num.is_some() && default_ms == 1.0 && unitless;
                    self.latency_ms = match (num, text) {
                        (Some(n), _) => Some(n * default_ms),
                        (None, Some(t)) => parse_duration_ms(t, default_ms),
                        _ => None,
                    }
                    .filter(|v| v.is_finite() && *v >= 0.0);
                }
            }
            FieldKey::Caller => self.zap_caller = text.is_some_and(is_go_caller),
            FieldKey::Logger => {
                self.caddy_access |= text.is_some_and(|t| t.starts_with("http.log.access"));
            }
            FieldKey::Other => {}
        }
    }

    /// zap's JSON encoder (Go) writes a `time.Duration` field as float
    /// seconds by default (`SecondsDurationEncoder`; `0.0123`), or as
    /// integer nanoseconds with `NanosDurationEncoder`. So a bare number
    /// under a key naming no unit, in a line with zap's `caller`, is seconds
    /// when it is below 1000 (no request takes 1000 s, none takes 1000 ns),
    /// and left as it is above (nanoseconds, which the latency sketch spans:
    /// see `sketch.rs`). Only JSON lines: zap writes no logfmt. Caddy's
    /// access log is zap's too (`"duration": 0.000929675`, no `caller`).
    fn zap_durations(&mut self) {
        if (self.zap_caller || self.caddy_access) && self.bare_unitless {
            if let Some(v) = self.latency_ms.as_mut().filter(|v| **v < 1000.0) {
                *v *= 1e3;
            }
        }
    }
}

/// zap's `caller`: `pkg/file.go:42` (its short and full caller encoders
/// both end in `.go:` and a line number).
fn is_go_caller(text: &str) -> bool {
    let line = text.trim_end_matches(|c: char| c.is_ascii_digit());
    line.len() < text.len() && line.ends_with(".go:")
}

/// What a field of a structured line is, by its key (compared without case).
#[derive(Debug, Clone, Copy, PartialEq)]
enum FieldKey {
    Level,
    /// PostgreSQL's `error_severity` (its `jsonlog`, and the `record` of
    /// CloudNativePG's log, whose own `level` is always `info`): the line's
    /// level, over any other level field.
    PgSeverity,
    Status,
    /// `code`: a status only beside a request's method or path.
    Code,
    Time,
    Method,
    Path,
    /// `request`: `"GET /path HTTP/1.1"`.
    Request,
    /// A latency, with the multiplier that turns a bare number into
    /// milliseconds, and whether the key names no unit (`latency`, not
    /// `latency_ms`).
    Latency(f64, bool),
    /// `caller`: the source line of a Go logger (zap).
    Caller,
    /// `logger`: the logger's name (Caddy's access log, `http.log.access`).
    Logger,
    /// Says nothing [`Fields`] reads.
    Other,
}

impl FieldKey {
    /// Longer keys name nothing (the longest name is a latency's, 35 bytes:
    /// `upstream_response_time_milliseconds`; every key [`is_signal_key`]
    /// accepts is classified, which a test checks).
    const MAX_LEN: usize = 40;

    fn of(key: &str) -> FieldKey {
        FieldKey::of_bytes(key.as_bytes())
    }

    /// As [`FieldKey::of`], from the key's bytes (invalid UTF-8 names
    /// nothing either way: every name is ASCII or `µ`).
    fn of_bytes(key: &[u8]) -> FieldKey {
        let mut lower = [0u8; FieldKey::MAX_LEN];
        let Some(buf) = lower.get_mut(..key.len()) else {
            return FieldKey::Other;
        };
        for (l, c) in buf.iter_mut().zip(key) {
            *l = c.to_ascii_lowercase();
        }
        let key: &[u8] = buf;
        match key {
            b"level" | b"severity" | b"lvl" | b"loglevel" | b"log_level" | b"levelname"
            | b"log.level" | b"severity_text" | b"@l" | b"s" => FieldKey::Level,
            b"error_severity" => FieldKey::PgSeverity,
            b"status"
            | b"status_code"
            | b"statuscode"
            | b"http_status"
            | b"http.status_code"
            | b"response_code"
            | b"http_status_code"
            | b"http.response.status_code"
            | b"downstreamstatus" => FieldKey::Status,
            b"code" => FieldKey::Code,
            // `t.$date`: MongoDB's `"t": {"$date": "…"}` (Extended JSON).
            b"time" | b"timestamp" | b"ts" | b"@timestamp" | b"@t" | b"t.$date" => FieldKey::Time,
            b"method"
            | b"http_method"
            | b"request_method"
            | b"http.method"
            | b"verb"
            | b"http.request.method"
            | b"requestmethod" => FieldKey::Method,
            b"path" | b"url" | b"uri" | b"request_uri" | b"route" | b"http.url" | b"http.path"
            | b"endpoint" | b"url.path" | b"url.original" | b"url.full" | b"requesturl"
            | b"requestpath" => FieldKey::Path,
            b"request" => FieldKey::Request,
            b"caller" => FieldKey::Caller,
            b"logger" => FieldKey::Logger,
            _ => latency_key(key).map_or(FieldKey::Other, |(mul, unitless)| {
                FieldKey::Latency(mul, unitless)
            }),
        }
    }
}

/// The names [`is_signal_key`] accepts besides latencies (lowercase): the
/// level, status, nested-object and `caller` keys [`FieldKey`] reads.
const SIGNAL_NAMES: [&str; 32] = [
    "level",
    "severity",
    "lvl",
    "loglevel",
    "log_level",
    "levelname",
    "log.level",
    "severity_text",
    "@l",
    "s",
    "error_severity",
    "status",
    "status_code",
    "statuscode",
    "http_status",
    "http.status_code",
    "response_code",
    "http_status_code",
    "http.response.status_code",
    // Traefik's JSON access log: the status returned to the client.
    "downstreamstatus",
    "code",
    "http",
    "request",
    "response",
    "res",
    "httprequest",
    "caller",
    "state",
    "properties",
    "fields",
    "attr",
    "record",
];

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
    SIGNAL_NAMES.contains(&key) || latency_key(key.as_bytes()).is_some()
}

/// Whether `key` can be one [`is_signal_key`] accepts, from its length and
/// its first two and last bytes (ASCII case aside): most keys of a record are
/// ruled out without being decoded or compared. An escaped key always can.
#[inline]
pub(crate) fn may_be_signal_key(key: RawKey<'_>) -> bool {
    let Some(raw) = key.plain() else {
        return true;
    };
    let (Some(&first), Some(&last)) = (raw.first(), raw.last()) else {
        return false;
    };
    // A one-byte key (MongoDB's `s`) stands for its own second byte.
    let second = raw.get(1).copied().unwrap_or(first);
    let bit = pair_bit(first, second, last);
    SIGNAL_KEY_FILTER
        .get(raw.len().min(31))
        .and_then(|class| class.get(bit / 64))
        .is_some_and(|word| word & (1 << (bit % 64)) != 0)
}

/// Per key length (lengths past 31 share a class), a 256-bit set of the
/// [`pair_bit`]s of the keys [`is_signal_key`] accepts.
static SIGNAL_KEY_FILTER: [[u64; 4]; 32] = signal_key_filter();

/// A key's first two and last bytes (lowercase), hashed to 0..256.
const fn pair_bit(first: u8, second: u8, last: u8) -> usize {
    let (a, b, c) = (
        first.to_ascii_lowercase() as usize,
        second.to_ascii_lowercase() as usize,
        last.to_ascii_lowercase() as usize,
    );
    ((a * 31 + b) * 31 + c) & 255
}

/// Adds a key of `len` bytes starting `first`, `second` and ending `last`.
#[allow(clippy::indexing_slicing)]
const fn mark(filter: &mut [[u64; 4]; 32], len: usize, first: u8, second: u8, last: u8) {
    let class = if len < 31 { len } else { 31 };
    let bit = pair_bit(first, second, last);
    filter[class][bit / 64] |= 1 << (bit % 64);
}

/// [`SIGNAL_KEY_FILTER`], from [`SIGNAL_NAMES`] and every latency base with
/// every unit suffix; evaluated at compile time.
#[allow(clippy::indexing_slicing)]
const fn signal_key_filter() -> [[u64; 4]; 32] {
    let mut filter = [[0u64; 4]; 32];
    let mut i = 0;
    while i < SIGNAL_NAMES.len() {
        let k = SIGNAL_NAMES[i].as_bytes();
        let second = if k.len() > 1 { k[1] } else { k[0] };
        mark(&mut filter, k.len(), k[0], second, k[k.len() - 1]);
        i += 1;
    }
    let mut b = 0;
    while b < LATENCY_BASES.len() {
        let base = LATENCY_BASES[b].as_bytes();
        let mut u = 0;
        while u < LATENCY_UNITS.len() {
            let unit = LATENCY_UNITS[u].0.as_bytes();
            let last = if unit.is_empty() {
                base[base.len() - 1]
            } else {
                unit[unit.len() - 1]
            };
            mark(&mut filter, base.len() + unit.len(), base[0], base[1], last);
            u += 1;
        }
        b += 1;
    }
    filter
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

/// Reads members given as (key, raw value text).
fn fields_of<'a>(members: impl Iterator<Item = (RawKey<'a>, &'a [u8])>) -> LineInfo {
    let mut f = Fields::default();
    f.take_members(members);
    f.finish()
}

/// A line of zap's console encoder ([`super::zap_console`]): its level column
/// and the members of its context object, read as a zap JSON line's (a bare
/// duration below 1000 is float seconds, as beside zap's `caller`).
pub(super) fn zap_console_fields(level: &str, context: &Record<'_>) -> LineInfo {
    let mut f = Fields::default();
    f.take("level", None, Some(level));
    f.take_members(context.members_raw());
    f.zap_caller = true;
    f.finish()
}

impl Fields {
    /// Takes members given as (key, raw value text): a value is decoded only
    /// when its key says something (or names a nested object read below).
    fn take_members<'a>(&mut self, members: impl Iterator<Item = (RawKey<'a>, &'a [u8])>) {
        for (key, raw) in members {
            // Keys are matched as bytes; only an escaped one is decoded.
            let decoded;
            let name = match key.plain() {
                Some(bytes) => bytes,
                None => {
                    decoded = key.text();
                    decoded.as_bytes()
                }
            };
            let nested = if raw.first() == Some(&b'{') {
                nested_members(name)
            } else {
                None
            };
            let field = FieldKey::of_bytes(name);
            if field == FieldKey::Other && nested.is_none() {
                continue;
            }
            let Some(value) = value_of_raw(raw) else {
                continue;
            };
            let (num, text) = match &value {
                Value::Number(n) => (parse_f64(n), Some(*n)),
                Value::Str(s) => (None, Some(s.as_ref())),
                Value::Object(_) => {
                    let Some(read) = nested else {
                        continue;
                    };
                    // `http.status_code`, `request.method`, `url.path`, and ECS's
                    // two levels: `http.response.status_code`, `http.request.method`.
                    let key = key.text();
                    for (k2, v2) in value.members() {
                        if !read.reads(&k2) {
                            continue;
                        }
                        let inner = matches!(v2, Value::Object(_))
                            && matches!(k2.as_ref(), "request" | "response");
                        if inner {
                            let prefix = [key.as_ref(), ".", k2.as_ref()].concat();
                            for (k3, v3) in v2.members() {
                                self.take_nested(&prefix, &k3, &v3);
                            }
                        } else {
                            self.take_nested(&key, &k2, &v2);
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            self.take_field(field, num, text);
        }
    }

    /// What the fields taken say, zap's durations read as such.
    fn finish(mut self) -> LineInfo {
        self.zap_durations();
        self.info()
    }
}

/// Which members of a nested object are read as the line's own.
#[derive(Clone, Copy)]
enum Nested {
    All,
    /// The one member read of an object whose name is too common to read
    /// all of (an app's own `record` or `t`).
    Only(&'static str),
}

impl Nested {
    fn reads(self, member: &str) -> bool {
        match self {
            Nested::All => true,
            Nested::Only(m) => m == member,
        }
    }
}

/// Objects whose members are read as the line's own (one level down):
/// `http`, `request`, `response`, `url` (ECS and most JSON loggers); `req` and
/// `res` (pino-http's and bunyan's serializers: `req.method`, `req.url`,
/// `res.statusCode`); `httpRequest` (Google Cloud's structured logging:
/// `requestMethod`, `requestUrl`, `status`, `latency` as `"0.350s"`);
/// `State` (ASP.NET Core's JSON console logger: a request's `StatusCode`,
/// `ElapsedMilliseconds`, `Method`, `Path`); `Properties` and `fields`
/// (Serilog's `JsonFormatter` and its Elasticsearch formatter: the request
/// logging's `StatusCode`, `Elapsed` ms, `RequestMethod`, `RequestPath`);
/// `attr` (MongoDB's structured log: a slow operation's `durationMillis`).
/// Of `t` only MongoDB's time `t.$date`, and of `record` only
/// CloudNativePG's PostgreSQL severity `record.error_severity`.
fn nested_members(name: &[u8]) -> Option<Nested> {
    match name {
        b"http" | b"request" | b"response" | b"url" | b"req" | b"res" | b"httpRequest"
        | b"State" | b"Properties" | b"fields" | b"attr" => Some(Nested::All),
        b"t" => Some(Nested::Only("$date")),
        b"record" => Some(Nested::Only("error_severity")),
        _ => None,
    }
}

fn http_status(num: Option<f64>, text: Option<&str>) -> Option<u16> {
    let v = match (num, text) {
        (Some(n), _) => n,
        (None, Some(t)) => parse_f64(t.trim())?,
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

/// The level a level field names: a level word ([`level_word`]), or a debug
/// word with its verbosity (MongoDB's `D1`…`D5`, PostgreSQL's `DEBUG1`…`DEBUG5`).
fn field_level(text: &str) -> Option<LogLevel> {
    level_word(text).or_else(|| {
        let head = text.trim().strip_suffix(|c| ('1'..='5').contains(&c))?;
        level_word(head).filter(|l| *l == LogLevel::Debug)
    })
}

/// PostgreSQL's severities: `DEBUG1`…`DEBUG5`, `INFO`, `NOTICE`, `WARNING`,
/// `ERROR`, `FATAL`, `PANIC`, and `LOG`, which it writes for what it reports
/// to the server log (checkpoints, slow statements, connections).
fn pg_severity(text: &str) -> Option<LogLevel> {
    if text.trim().eq_ignore_ascii_case("log") {
        return Some(LogLevel::Info);
    }
    field_level(text)
}

pub(crate) fn level_word(w: &str) -> Option<LogLevel> {
    level_token(w.trim().as_bytes())
}

/// [`level_word`] of a word without surrounding whitespace. The word is
/// compared as one integer, its bytes lower-cased into a `u64` ([`word_key`]),
/// which LLVM turns into a switch: byte-string patterns compare byte by byte,
/// in the `.wasm` a call of the byte-loop `memcmp` for each candidate of the
/// word's length, and free-text lines ask this of every word.
pub(crate) fn level_token(w: &[u8]) -> Option<LogLevel> {
    if w.len() > 8 {
        // .NET's `Information` (Microsoft.Extensions.Logging's JSON console,
        // Serilog's JSON), syslog's `Informational`.
        return if w.eq_ignore_ascii_case(b"emergency") {
            Some(LogLevel::Fatal)
        } else if w.eq_ignore_ascii_case(b"information") || w.eq_ignore_ascii_case(b"informational")
        {
            Some(LogLevel::Info)
        } else {
            None
        };
    }
    let key = word_key(w);
    macro_rules! levels {
        ($($level:ident: $($word:literal)|+;)+) => {
            $(if $(key == const { word_key($word) })||+ {
                return Some(LogLevel::$level);
            })+
        };
    }
    levels! {
        Debug: b"trace" | b"debug" | b"dbug" | b"trce" | b"d" | b"t" | b"verbose";
        Info: b"info" | b"notice" | b"i" | b"inf";
        Warn: b"warn" | b"warning" | b"w" | b"wrn";
        // `severe`: java.util.logging's (Tomcat's) error level; `fail`: .NET's
        // console logger (`fail: Microsoft.AspNetCore...[1]`).
        Error: b"error" | b"err" | b"e" | b"eror" | b"severe" | b"fail";
        Fatal: b"fatal" | b"critical" | b"crit" | b"panic" | b"dpanic" | b"emerg" | b"alert"
            | b"f" | b"ftl";
    }
    None
}

/// The first eight bytes of `w`, each with bit 5 set (ASCII letters
/// lower-cased), little-endian in a `u64`. Distinct for distinct
/// lower-cased letter words of up to eight letters, and no other word of up
/// to eight bytes has the key of a letter word: only letters map to
/// letters, and every byte sets its slot's bit 5, so lengths differ too.
const fn word_key(w: &[u8]) -> u64 {
    let mut key = 0u64;
    let mut shift = 0;
    let mut rest = w;
    while let [c, tail @ ..] = rest {
        if shift == 64 {
            break;
        }
        key |= ((*c | 0x20) as u64) << shift;
        shift += 8;
        rest = tail;
    }
    key
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `level_word` as first written, matching byte strings.
    fn level_word_by_patterns(w: &str) -> Option<LogLevel> {
        let w = w.trim();
        if w.len() > 13 {
            return None;
        }
        let lower = w.to_ascii_lowercase();
        Some(match lower.as_bytes() {
            b"trace" | b"debug" | b"dbug" | b"trce" | b"d" | b"t" | b"verbose" => LogLevel::Debug,
            b"info" | b"notice" | b"i" | b"inf" | b"information" | b"informational" => {
                LogLevel::Info
            }
            b"warn" | b"warning" | b"w" | b"wrn" => LogLevel::Warn,
            b"error" | b"err" | b"e" | b"eror" | b"severe" | b"fail" => LogLevel::Error,
            b"fatal" | b"critical" | b"crit" | b"panic" | b"dpanic" | b"emerg" | b"emergency"
            | b"alert" | b"f" | b"ftl" => LogLevel::Fatal,
            _ => return None,
        })
    }

    #[test]
    fn level_words_are_told_apart_as_numbers_as_by_their_bytes() {
        let words = [
            "trace",
            "debug",
            "dbug",
            "trce",
            "d",
            "t",
            "verbose",
            "info",
            "information",
            "Information",
            "informational",
            "INFORMATIONAL",
            "informationa",
            "informations",
            "notice",
            "i",
            "inf",
            "warn",
            "warning",
            "w",
            "wrn",
            "error",
            "err",
            "e",
            "eror",
            "severe",
            "fail",
            "FAIL",
            "failed",
            "fai",
            "fatal",
            "critical",
            "crit",
            "panic",
            "dpanic",
            "emerg",
            "emergency",
            "alert",
            "f",
            "ftl",
            "",
            " ",
            "ERROR",
            "Warn",
            " info ",
            "\tdebug\n",
            "EMERGENCY",
            "emergenc",
            "emergencyy",
            "errors",
            "er",
            "in",
            "info@",
            "inf\u{0}",
            "\u{0}",
            "warning!",
            "critica",
            "Fatal",
            "x",
            "xerror",
            "é",
            "errör",
            "ÉRROR",
            "\u{a0}info",
            "info\u{2003}",
            "@",
            "[",
            "`",
            "{",
        ];
        for w in words {
            assert_eq!(level_word(w), level_word_by_patterns(w), "{w:?}");
        }
        // Every word of up to nine letters from the level words' letters.
        let letters = b"acdefgilmnoprstvwxyz";
        let mut seed = 0x0123_4567_89ab_cdefu64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 10) as usize;
            let word: String = (0..len)
                .map(|k| {
                    let c = letters[((seed >> (6 * k)) % letters.len() as u64) as usize];
                    if (seed >> (40 + k)) & 1 == 1 {
                        c.to_ascii_uppercase() as char
                    } else {
                        c as char
                    }
                })
                .collect();
            assert_eq!(level_word(&word), level_word_by_patterns(&word), "{word:?}");
        }
    }

    #[test]
    fn go_callers_are_file_and_line() {
        for (caller, want) in [
            ("server/http.go:87", true),
            ("/go/src/app/main.go:1", true),
            ("main.go:1234567", true),
            ("http.go:", false),
            ("http.go", false),
            ("http.go:87a", false),
            ("http.go :87", false),
            ("views.py:12", false),
            ("", false),
            ("87", false),
        ] {
            assert_eq!(is_go_caller(caller), want, "{caller}");
        }
    }

    #[test]
    fn keys_are_classified_from_their_bytes() {
        let long = "latency_".repeat(5);
        let cases: &[(&str, FieldKey)] = &[
            ("level", FieldKey::Level),
            ("Log.Level", FieldKey::Level),
            ("HTTP_STATUS_CODE", FieldKey::Status),
            ("code", FieldKey::Code),
            ("@timestamp", FieldKey::Time),
            ("Request", FieldKey::Request),
            ("latency", FieldKey::Latency(1.0, true)),
            ("latency_ms", FieldKey::Latency(1.0, false)),
            ("Latency_Seconds", FieldKey::Latency(1e3, false)),
            ("latency_µs", FieldKey::Latency(1e-3, false)),
            ("LATENCY_µS", FieldKey::Latency(1e-3, false)),
            ("upstream_response_time", FieldKey::Latency(1e3, true)),
            (
                "upstream_response_time_seconds",
                FieldKey::Latency(1e3, false),
            ),
            ("Caller", FieldKey::Caller),
            ("logger", FieldKey::Logger),
            ("ElapsedMilliseconds", FieldKey::Latency(1.0, false)),
            ("duration_milliseconds", FieldKey::Latency(1.0, false)),
            (
                "upstream_response_time_milliseconds",
                FieldKey::Latency(1.0, false),
            ),
            ("upstream_response_time_secondsx", FieldKey::Other),
            (&long, FieldKey::Other),
            ("msg", FieldKey::Other),
            ("", FieldKey::Other),
        ];
        for (key, want) in cases {
            assert_eq!(FieldKey::of(key), *want, "{key}");
        }
        // Invalid UTF-8 names nothing.
        assert_eq!(FieldKey::of_bytes(b"level\xff"), FieldKey::Other);
    }

    /// Every key `is_signal_key` accepts passes the filter, in any ASCII
    /// case; the keys container logs, events and samples carry do not (the
    /// filter is what keeps reading merged fields cheap).
    #[test]
    fn the_signal_key_filter_lets_every_signal_key_through() {
        let passes = |key: &str| {
            let json = format!(r#"{{"{key}":1}}"#);
            let rec = Record::parse(json.as_bytes()).unwrap();
            let raw = rec.members_raw().next().unwrap().0;
            may_be_signal_key(raw)
        };
        let mut accepted: Vec<String> = SIGNAL_NAMES.iter().map(|s| s.to_string()).collect();
        for base in LATENCY_BASES {
            for (unit, _) in LATENCY_UNITS {
                accepted.push(format!("{base}{unit}"));
            }
        }
        let nested = [
            "http",
            "response",
            "res",
            "httprequest",
            "state",
            "properties",
            "fields",
            "attr",
            "record",
        ];
        for key in &accepted {
            for k in [key.clone(), key.to_ascii_uppercase(), {
                let mut c = key.clone();
                c[..1].make_ascii_uppercase();
                c
            }] {
                assert!(is_signal_key(&k), "{k}");
                assert!(passes(&k), "{k}");
                // Each is classified (no longer than `MAX_LEN`), but for
                // the names of nested objects, which are read by name.
                assert!(
                    FieldKey::of(&k) != FieldKey::Other || nested.contains(&key.as_str()),
                    "{k}"
                );
            }
        }
        let others = [
            "log",
            "stream",
            "time",
            "_p",
            "kubernetes",
            "message",
            "msg",
            "file",
            "source_type",
            "timestamp",
            "container_id",
            "container_image",
            "host",
            "hostname",
            "labels",
            "tags",
            "name",
            "value",
            "gauge",
            "counter",
            "kind",
            "metric",
            "metadata",
            "involvedObject",
            "reason",
            "count",
            "type",
            "firstTimestamp",
            "lastTimestamp",
            "logger",
            "pid",
            "hostname",
            "v",
            "err",
            "error",
            "trace_id",
            "span_id",
        ];
        for key in others {
            assert!(!is_signal_key(key), "{key}");
            assert!(!passes(key), "{key} passes the filter");
        }
        // An escaped key is decoded and checked in full.
        let rec = Record::parse(br#"{"st\u0061tus":503}"#).unwrap();
        assert!(may_be_signal_key(rec.members_raw().next().unwrap().0));
    }

    #[test]
    fn escaped_and_invalid_keys_read_as_decoded() {
        let cases: &[(&[u8], Option<LogLevel>, Option<u16>)] = &[
            (br#"{"le\u0076el":"warn"}"#, Some(LogLevel::Warn), None),
            (
                br#"{"\u0068ttp":{"status_code":502},"verb":"GET"}"#,
                None,
                Some(502),
            ),
            (b"{\"level\xff\":\"warn\",\"status\":404}", None, Some(404)),
        ];
        for (text, level, status) in cases {
            let rec = Record::parse(text).unwrap();
            let info = read_record_fields(&rec);
            assert_eq!((info.signal.level, info.signal.status), (*level, *status));
            let info = read_fields(&rec.as_value());
            assert_eq!((info.signal.level, info.signal.status), (*level, *status));
        }
    }
}
