//! What a log line says: level, HTTP status, latency, and whether it
//! describes a served request.
//!
//! A line is read as, in order:
//! 1. a JSON object (`{"level":"error","status":500,"latency_ms":12}`);
//! 2. an access log: common / combined / nginx (`... "GET /x HTTP/1.1" 200 512
//!    ...`), with an nginx `$request_time` (seconds) as the last token or as
//!    `rt=` / `request_time=`; a proxy's line (an Istio sidecar's outbound
//!    call, a request ingress-nginx passed to a backend) without the other
//!    service's status and latency (see `access_log.rs`);
//! 3. zap's console encoder (`time\tERROR\tcaller\tmessage\t{"status": 503}`),
//!    Gin's request lines (`[GIN] ... | 500 |   12.345ms | ... | GET "/x"`), or
//!    logfmt (`level=warn status=503 duration=25ms method=GET`), with the
//!    level of the free text around the pairs when they name none (klog's
//!    `E0501 ... "request failed" statusCode=503` is an error);
//! 4. free text with level words (`ERROR`, `[warn]`, klog `E0501`, Go
//!    `panic:`; Java's `Exception` and Python's `Traceback` make a line with
//!    no level or status of its own an error) and, where the text says so, a
//!    request (`GET /x ... 200`, Rails' `Completed 500 ...`) and a duration.
//!
//! Before any of that, a line that only continues a stack trace printed one
//! line a record (`\tat com.x.Y.f(Y.java:12)`, `  File "x.py", line 3, in
//! f`, `goroutine 7 [running]:`, an exception's class line after the
//! logger's line that reported it, Python's `Traceback (most recent call
//! last):` alone, Ruby's `\tfrom x.rb:12:in 'f'`, Rust's `   0:
//! rust_begin_unwind`; see [`stack_trace`]) is read as a continuation, which
//! says nothing of its own ([`LineInfo::continuation`]); so is a blank line
//! (spaces, tabs and line ends only). A trace's own first line that names
//! no level (Rust's `thread 'main' panicked at ...`, Ruby's uncaught
//! `x.rb:12:in 'f': boom (RuntimeError)`) is read as free text, and is an
//! error when it states no level or status.
//!
//! Latency units: a key suffix (`_ms`, `_us`/`_µs`, `_ns`, `_s`/`_sec`/
//! `_seconds`) or a duration string (`"250ms"`, `"0.25s"`, `"1m2.5s"`) decides;
//! a bare number under `request_time` / `upstream_response_time` (nginx) is
//! seconds, under any other latency key milliseconds.

mod access_log;
mod duration;
mod fields;
mod gin;
mod logfmt;
pub mod stack_trace;
mod zap_console;

use crate::freetext;
use crate::json::{Record, RecordIndex};
use crate::observation::{LogLevel, LogSignal};
use stack_trace::TraceLine;

pub use duration::parse_duration_ms;
pub(crate) use duration::unit_ms;
pub(crate) use fields::may_be_signal_key;
pub use fields::{from_fields, is_signal_key, read_fields, read_record_fields};
pub(crate) use fields::{is_http_method, level_token};

/// What a line says, with the time it carries when it has one.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LineInfo {
    /// Level, status, latency, request-ness.
    pub signal: LogSignal,
    /// A `time` / `timestamp` / `ts` / `@timestamp` field of a structured line.
    pub ts_ns: Option<i64>,
    /// The level was read from free text (a level word, klog's letter, a
    /// crash), not from a field.
    pub level_from_text: bool,
    /// The line only continues a stack trace (a frame, `Caused by: ...`; see
    /// [`stack_trace`]), or is blank: it is not a line of its own, and
    /// `signal` is empty.
    pub continuation: bool,
}

impl LineInfo {
    /// A line that only continues a stack trace, or a blank line: it says
    /// nothing.
    pub const CONTINUATION: LineInfo = LineInfo {
        signal: LogSignal {
            level: None,
            status: None,
            latency_ms: None,
            is_request: false,
        },
        ts_ns: None,
        level_from_text: false,
        continuation: true,
    };

    /// What the line says, with what it left empty filled from `fields` (a
    /// record's own top-level members, read by [`read_record_fields`]): the
    /// line's status and latency when it has them, else the fields'; the
    /// fields' level when the line has none or only one from free text (a
    /// structured level says more than a word in the message); a request
    /// when either says so. The time stays the line's. A stack trace's
    /// continuation line stays one only while the fields say nothing either.
    pub fn filled_from(self, fields: LineInfo) -> LineInfo {
        let (line, top) = (self.signal, fields.signal);
        let level = if self.level_from_text {
            top.level.or(line.level)
        } else {
            line.level.or(top.level)
        };
        LineInfo {
            signal: LogSignal {
                level,
                status: line.status.or(top.status),
                latency_ms: line.latency_ms.or(top.latency_ms),
                is_request: line.is_request || top.is_request,
            },
            ts_ns: self.ts_ns,
            level_from_text: self.level_from_text && top.level.is_none(),
            continuation: self.continuation && top == LogSignal::default(),
        }
    }
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
    let trace = stack_trace::classify(line);
    if matches!(trace, TraceLine::Continuation | TraceLine::Blank) {
        return LineInfo::CONTINUATION;
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(rec) = Record::parse_in(trimmed.trim_end().as_bytes(), index) {
            return read_record_fields(&rec);
        }
    }
    if let Some(signal) = access_log::read(line) {
        return LineInfo {
            signal,
            ..LineInfo::default()
        };
    }
    if let Some(info) = zap_console::read(line, index) {
        return info;
    }
    let mut info = gin::read(line).unwrap_or_else(|| logfmt::read(line));
    if info.signal.level.is_some() || info.signal.status.is_some() {
        // A klog or free-text line with a few pairs (`E0501 ... statusCode=503`):
        // the level its text announces.
        if info.signal.level.is_none() {
            info.signal.level = freetext::read_stated_level(line);
            info.level_from_text = info.signal.level.is_some();
        }
        return info;
    }
    let (mut signal, stated) = freetext::read_stating(line);
    // A trace's own first line that names no level (Rust's `thread 'main'
    // panicked at ...`, Ruby's uncaught `x.rb:12:in 'f': boom (RuntimeError)`)
    // is an error, as a crash word makes one: unless the line states a
    // level or a request status.
    if trace == TraceLine::Crash && signal.level.is_none() && signal.status.is_none() {
        signal.level = Some(LogLevel::Error);
    }
    // Python's source line of a frame (four spaces in) states nothing: no
    // level of its own (a crash word in the code, `raise PaymentException()`,
    // is not one), no request, no duration.
    if trace == TraceLine::MaybeSource
        && !stated
        && signal.status.is_none()
        && signal.latency_ms.is_none()
    {
        return LineInfo::CONTINUATION;
    }
    LineInfo {
        signal,
        level_from_text: signal.level.is_some(),
        ..LineInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::LogLevel::{self, *};

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
            // pino-http (Node.js): numeric level, `req` / `res` objects, `responseTime` in ms.
            (
                r#"{"level":50,"time":1714557600000,"req":{"id":7,"method":"GET","url":"/cart","headers":{"host":"x"}},"res":{"statusCode":502,"headers":{}},"responseTime":1234,"msg":"request errored"}"#,
                sig(Some(Error), Some(502), Some(1234.0), true),
            ),
            (
                r#"{"level":30,"res":{"statusCode":200},"responseTime":4,"msg":"request completed"}"#,
                sig(Some(Info), Some(200), Some(4.0), true),
            ),
            // Google Cloud structured logging: `httpRequest` with a duration string.
            (
                r#"{"severity":"WARNING","message":"slow","httpRequest":{"requestMethod":"POST","requestUrl":"https://shop.example/pay","status":503,"latency":"0.350s","responseSize":"12"}}"#,
                sig(Some(Warn), Some(503), Some(350.0), true),
            ),
            // Go: slog's and logrus's JSON write a `time.Duration` as integer
            // nanoseconds, read as a number of ms (sketch.rs spans them).
            (
                r#"{"time":"2024-05-01T10:00:00.123456789Z","level":"ERROR","msg":"request","method":"GET","path":"/cart","status":503,"duration":1234567890}"#,
                sig(Some(Error), Some(503), Some(1_234_567_890.0), true),
            ),
            // zap: float seconds beside its `caller` (nanoseconds above 1000).
            (
                r#"{"level":"error","ts":1714557600.123,"caller":"server/http.go:87","msg":"request failed","method":"GET","path":"/x","status":503,"latency":0.25}"#,
                sig(Some(Error), Some(503), Some(250.0), true),
            ),
            (
                r#"{"level":"info","ts":1714557600.1,"caller":"/go/src/app/main.go:112","msg":"done","status":200,"duration":2}"#,
                sig(Some(Info), Some(200), Some(2000.0), true),
            ),
            (
                r#"{"level":"info","ts":1714557600.1,"caller":"http.go:87","msg":"done","status":200,"latency":12300000}"#,
                sig(Some(Info), Some(200), Some(12_300_000.0), true),
            ),
            (
                r#"{"latency":0.25,"caller":"http.go:87","status":200}"#,
                sig(None, Some(200), Some(250.0), true),
            ),
            // zap's console encoder: the level column, the context object.
            (
                "2026-11-24T10:00:00.000Z\tERROR\tserver/http.go:87\trequest failed\t{\"method\": \"GET\", \"status\": 503, \"latency\": 0.25}",
                sig(Some(Error), Some(503), Some(250.0), true),
            ),
            // Caddy's access log (zap, no `caller`): `duration` in float seconds.
            (
                r#"{"level":"error","ts":1732442400.5241024,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"10.42.0.1","remote_port":"41342","client_ip":"10.42.0.1","proto":"HTTP/2.0","method":"GET","host":"shop.example","uri":"/cart","headers":{"User-Agent":["curl/8.5.0"]}},"bytes_read":0,"user_id":"","duration":0.25,"size":0,"status":502,"resp_headers":{"Server":["Caddy"]}}"#,
                sig(Some(Error), Some(502), Some(250.0), true),
            ),
            (
                r#"{"level":"info","ts":1732442400.5,"logger":"http.log.access","msg":"handled request","request":{"method":"GET","uri":"/"},"duration":0.0012,"status":200}"#,
                sig(Some(Info), Some(200), Some(1.2), true),
            ),
            // Caddy's logger name holds whatever other `logger` the line has.
            (
                r#"{"request":{"logger":"http.log.access","method":"GET","uri":"/"},"logger":"caddy","duration":0.25,"status":200}"#,
                sig(None, Some(200), Some(250.0), true),
            ),
            // Another logger's name: as written.
            (
                r#"{"level":"info","logger":"http.handlers.reverse_proxy","status":200,"duration":0.25}"#,
                sig(Some(Info), Some(200), Some(0.25), true),
            ),
            // A unit in the key, a string, or a caller that is not Go's: as written.
            (
                r#"{"level":"info","caller":"http.go:87","status":200,"latency_ms":0.25}"#,
                sig(Some(Info), Some(200), Some(0.25), true),
            ),
            (
                r#"{"level":"info","caller":"http.go:87","status":200,"latency_s":0.25}"#,
                sig(Some(Info), Some(200), Some(250.0), true),
            ),
            (
                r#"{"level":"info","caller":"http.go:87","status":200,"latency":"0.25ms"}"#,
                sig(Some(Info), Some(200), Some(0.25), true),
            ),
            (
                r#"{"level":"info","caller":"views.py:12","status":200,"latency":0.25}"#,
                sig(Some(Info), Some(200), Some(0.25), true),
            ),
            (
                r#"{"level":"info","caller":"http.go:","status":200,"latency":0.25}"#,
                sig(Some(Info), Some(200), Some(0.25), true),
            ),
            // ASP.NET Core's JSON console logger: the request under `State`.
            (
                r#"{"EventId":2,"LogLevel":"Information","Category":"Microsoft.AspNetCore.Hosting.Diagnostics","Message":"Request finished HTTP/1.1 GET http://localhost:5000/api/items - 503 - text/plain 12.3456ms","State":{"Message":"Request finished HTTP/1.1 GET http://localhost:5000/api/items - 503 - text/plain 12.3456ms","ElapsedMilliseconds":12.3456,"StatusCode":503,"ContentType":"text/plain","ContentLength":null,"Protocol":"HTTP/1.1","Method":"GET","Scheme":"http","Host":"localhost:5000","PathBase":"","Path":"/api/items","QueryString":"","{OriginalFormat}":"Request finished {Protocol} {Method} {Scheme}://{Host}{PathBase}{Path}{QueryString} - {StatusCode} {ContentLength} {ContentType} {ElapsedMilliseconds}ms"}}"#,
                sig(Some(Info), Some(503), Some(12.3456), true),
            ),
            (
                r#"{"EventId":1,"LogLevel":"Error","Category":"Shop.Checkout","Message":"charge failed","State":{"Message":"charge failed","Order":7,"{OriginalFormat}":"charge failed"}}"#,
                sig(Some(Error), None, None, false),
            ),
            // Its simple console format: `fail` is its error level.
            (
                "fail: Microsoft.AspNetCore.Server.Kestrel[13]",
                sig(Some(Error), None, None, false),
            ),
            (
                "crit: Microsoft.AspNetCore.Hosting.Diagnostics[6]",
                sig(Some(Fatal), None, None, false),
            ),
            (
                "info: Microsoft.Hosting.Lifetime[14]",
                sig(Some(Info), None, None, false),
            ),
            // Serilog's JsonFormatter: the request logging's properties under
            // `Properties`; its Elasticsearch formatter's under `fields`.
            (
                r#"{"Timestamp":"2026-11-23T10:00:00.1234567+00:00","Level":"Error","MessageTemplate":"HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0000} ms","Properties":{"RequestMethod":"POST","RequestPath":"/api/pay","StatusCode":503,"Elapsed":812.5,"SourceContext":"Serilog.AspNetCore.RequestLoggingMiddleware"}}"#,
                sig(Some(Error), Some(503), Some(812.5), true),
            ),
            (
                r#"{"Timestamp":"2026-11-23T10:00:00+00:00","Level":"Information","MessageTemplate":"cart {CartId} saved","Properties":{"CartId":7}}"#,
                sig(Some(Info), None, None, false),
            ),
            (
                r#"{"@timestamp":"2026-11-23T10:00:00.1234567+00:00","level":"Warning","messageTemplate":"HTTP {RequestMethod} {RequestPath} responded {StatusCode} in {Elapsed:0.0000} ms","message":"HTTP GET /api/items responded 200 in 1500.1000 ms","fields":{"RequestMethod":"GET","RequestPath":"/api/items","StatusCode":200,"Elapsed":1500.1}}"#,
                sig(Some(Warn), Some(200), Some(1500.1), true),
            ),
            // syslog's `Informational` severity name.
            (
                r#"{"severity":"Informational","msg":"up"}"#,
                sig(Some(Info), None, None, false),
            ),
            // MongoDB's structured log: one-letter severity `s`, a slow
            // operation's `durationMillis` under `attr`.
            (
                r#"{"t":{"$date":"2026-11-24T10:00:00.180+00:00"},"s":"I","c":"COMMAND","id":51803,"ctx":"conn281","msg":"Slow query","attr":{"type":"command","ns":"shop.orders","command":{"find":"orders","filter":{"status":"open"}},"planSummary":"COLLSCAN","keysExamined":0,"docsExamined":1000001,"numYields":1001,"nreturned":0,"reslen":233,"protocol":"op_msg","durationMillis":1699}}"#,
                sig(Some(Info), None, Some(1699.0), false),
            ),
            (
                r#"{"t":{"$date":"2026-11-24T10:00:01.002+00:00"},"s":"E","c":"NETWORK","id":23256,"ctx":"conn9","msg":"Error receiving request from client","attr":{"error":{"code":141,"codeName":"SSLHandshakeFailed","errmsg":"SSL handshake received but server is started without SSL support"}}}"#,
                sig(Some(Error), None, None, false),
            ),
            (
                r#"{"t":{"$date":"2026-11-24T10:00:02.000+00:00"},"s":"W","c":"CONTROL","id":22120,"ctx":"initandlisten","msg":"Access control is not enabled for the database"}"#,
                sig(Some(Warn), None, None, false),
            ),
            (
                r#"{"t":{"$date":"2026-11-24T10:00:03.000+00:00"},"s":"F","c":"STORAGE","id":28595,"ctx":"initandlisten","msg":"Terminating.","attr":{"reason":"13: Permission denied"}}"#,
                sig(Some(Fatal), None, None, false),
            ),
            // MongoDB's debug levels carry their verbosity.
            (
                r#"{"t":{"$date":"2026-11-24T10:00:04.000+00:00"},"s":"D2","c":"QUERY","id":20967,"ctx":"conn3","msg":"Beginning planning"}"#,
                sig(Some(Debug), None, None, false),
            ),
            // CloudNativePG: PostgreSQL's record under the instance manager's
            // `level: info`; `record.error_severity` is the line's level.
            (
                r#"{"level":"info","ts":"2026-11-24T10:00:00.823314307Z","logger":"postgres","msg":"record","logging_pod":"pg-main-1","record":{"log_time":"2026-11-24 10:00:00.822 UTC","user_name":"app","database_name":"shop","process_id":"4003","connection_from":"10.42.0.17:51234","session_id":"69376dbf.fa3","session_line_num":"3","command_tag":"SELECT","session_start_time":"2026-11-24 09:58:55 UTC","virtual_transaction_id":"2/81","transaction_id":"0","error_severity":"ERROR","sql_state_code":"42P01","message":"relation \"orders\" does not exist","query":"SELECT * FROM orders","query_pos":"15","application_name":"cart","backend_type":"client backend"}}"#,
                sig(Some(Error), None, None, false),
            ),
            (
                r#"{"level":"info","ts":"2026-11-24T10:00:01Z","logger":"postgres","msg":"record","logging_pod":"pg-main-1","record":{"log_time":"2026-11-24 10:00:01.000 UTC","user_name":"app","database_name":"shop","process_id":"4010","connection_from":"10.42.0.17:51240","error_severity":"FATAL","sql_state_code":"28P01","message":"password authentication failed for user \"app\"","backend_type":"client backend"}}"#,
                sig(Some(Fatal), None, None, false),
            ),
            (
                r#"{"level":"info","ts":"2026-11-24T10:00:02Z","logger":"postgres","msg":"record","logging_pod":"pg-main-1","record":{"log_time":"2026-11-24 10:00:02.000 UTC","process_id":"27","error_severity":"LOG","sql_state_code":"00000","message":"checkpoint complete: wrote 3 buffers","backend_type":"checkpointer"}}"#,
                sig(Some(Info), None, None, false),
            ),
            (
                r#"{"level":"debug","ts":"2026-11-24T10:00:03Z","logger":"postgres","msg":"record","record":{"error_severity":"DEBUG1","message":"autovacuum: processing database \"shop\""}}"#,
                sig(Some(Debug), None, None, false),
            ),
            // PostgreSQL's own `jsonlog` (15+), read the same.
            (
                r#"{"timestamp":"2026-11-24 10:00:04.123 UTC","user":"app","dbname":"shop","pid":4020,"remote_host":"10.42.0.17","remote_port":51250,"session_id":"69376dc0.fb4","line_num":1,"ps":"INSERT","session_start":"2026-11-24 10:00:04 UTC","vxid":"3/12","txid":0,"error_severity":"WARNING","state_code":"01000","message":"there is no transaction in progress","backend_type":"client backend","query_id":0}"#,
                sig(Some(Warn), None, None, false),
            ),
            // PostgreSQL's severity wins over a level beside it, `LOG` too.
            (
                r#"{"level":"error","error_severity":"LOG","message":"checkpoint starting: time"}"#,
                sig(Some(Info), None, None, false),
            ),
            // An app's own `record` or `t` object: only `record.error_severity`
            // and `t.$date` are read of them.
            (
                r#"{"level":"info","msg":"saved","record":{"id":7,"status":503,"duration":2.5,"level":"error"}}"#,
                sig(Some(Info), None, None, false),
            ),
            (
                r#"{"t":{"status":503,"latency_ms":9},"level":"warn"}"#,
                sig(Some(Warn), None, None, false),
            ),
            // `LOG` and a verbosity digit are PostgreSQL's and MongoDB's only.
            (r#"{"level":"LOG","msg":"x"}"#, sig(None, None, None, false)),
            (r#"{"level":"info2","msg":"x"}"#, sig(None, None, None, false)),
            (r#"{"s":"D6","msg":"x"}"#, sig(None, None, None, false)),
            // Traefik's JSON access log: `DownstreamStatus`, `Duration` a Go
            // duration in ns (read as a number of ms, as slog's).
            (
                r#"{"ClientAddr":"10.42.0.1:40000","ClientHost":"10.42.0.1","ClientPort":"40000","ClientUsername":"-","DownstreamContentSize":21,"DownstreamStatus":502,"Duration":30001234567,"OriginContentSize":0,"OriginDuration":30000123456,"OriginStatus":0,"Overhead":1111111,"RequestAddr":"shop.example","RequestContentSize":0,"RequestCount":42,"RequestHost":"shop.example","RequestMethod":"GET","RequestPath":"/cart","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"http","RetryAttempts":0,"RouterName":"shop-web@kubernetescrd","ServiceName":"shop-web@kubernetescrd","StartLocal":"2026-11-24T10:00:00.1Z","StartUTC":"2026-11-24T10:00:00.1Z","entryPointName":"web","level":"info","msg":"","time":"2026-11-24T10:00:30Z"}"#,
                sig(Some(Info), Some(502), Some(30_001_234_567.0), true),
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
            // HAProxy's HTTP log: the status after the five timers, the last the total ms.
            (
                r#"10.244.0.1:51862 [23/Nov/2026:10:00:00.655] https~ shop_web_80/SRV_1 0/0/1/512/513 503 213 - - ---- 3/3/0/0/0 0/0 "POST /pay HTTP/2.0""#,
                sig(None, Some(503), Some(513.0), true),
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
            // logfmt pairs with no level in klog or free text: the text's.
            (
                r#"E0501 10:00:00.000000       1 client.go:88] "request failed" err="EOF" statusCode=503"#,
                sig(Some(Error), Some(503), None, false),
            ),
            (
                "ERROR upstream failed status=502 method=GET",
                sig(Some(Error), Some(502), None, true),
            ),
            (
                "upstream done status=200 method=GET",
                sig(None, Some(200), None, true),
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
            // An exception's class line and Python's traceback header
            // continue a trace: they say nothing (see `stack_trace`).
            ("java.lang.NullPointerException: boom", LogSignal::default()),
            ("Traceback (most recent call last):", LogSignal::default()),
            // A crash word makes an error of a line with no level of its
            // own; the level a line states wins over it.
            (
                "INFO caught Exception in handler",
                sig(Some(Info), None, None, false),
            ),
            ("FATAL out of memory", sig(Some(Fatal), None, None, false)),
            // java.util.logging / Tomcat.
            (
                "01-May-2024 10:00:00.000 SEVERE [http-nio-8080-exec-1] org.apache.catalina.core.StandardWrapperValve.invoke Servlet.service() threw exception",
                sig(Some(Error), None, None, false),
            ),
            (
                r#"{"level":"SEVERE","message":"db down"}"#,
                sig(Some(Error), None, None, false),
            ),
            ("Severe: db down", sig(Some(Error), None, None, false)),
            ("Info: started", sig(Some(Info), None, None, false)),
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

    /// The word `Exception` once made an error of every line that held it,
    /// whatever level the line stated: a flapping dependency's `WARN ...
    /// (java.net.SocketTimeoutException: Read timed out), retrying` lines
    /// opened an `error_burst` with `rollout_restart`. A crash word now makes
    /// an error only of a line that states no level (a level word, klog's
    /// letter, a JSON level field) and no request status.
    #[test]
    fn a_crash_word_does_not_override_the_level_a_line_states() {
        let cases: &[(&str, LogSignal)] = &[
            (
                "I0501 10:00:00.000000       1 stats.go:42] Exception count=0",
                sig(Some(Info), None, None, false),
            ),
            (
                "2024-05-01 10:00:00.123  INFO 1 --- [nio-8080-exec-1] c.e.web.ErrorAdvice          : handled NotFoundException for /api/items/7",
                sig(Some(Info), None, None, false),
            ),
            (
                "[INFO] Exception mapper ready",
                sig(Some(Info), None, None, false),
            ),
            (
                "GET /api/exceptions?type=NullPointerException 200 12ms",
                sig(None, Some(200), Some(12.0), true),
            ),
            (
                "2024-05-01 10:00:00.123  WARN 1 --- [nio-8080-exec-2] c.e.PriceClient              : price lookup timed out (java.net.SocketTimeoutException: Read timed out), retrying",
                sig(Some(Warn), None, None, false),
            ),
            (
                "DEBUG retry policy: IOException is retryable",
                sig(Some(Debug), None, None, false),
            ),
            (
                r#"{"level":"info","msg":"caught Exception in handler"}"#,
                sig(Some(Info), None, None, false),
            ),
            (
                "level=warn msg=\"Exception while polling, retrying\" attempt=2",
                sig(Some(Warn), None, None, false),
            ),
            // A failed request is told by its status.
            (
                "POST /pay 503 in 20ms: PaymentException",
                sig(None, Some(503), Some(20.0), true),
            ),
            // Errors still: stated so, or a crash with no level.
            (
                "2024-05-01 10:00:00.123 ERROR 1 --- [nio-8080-exec-1] c.e.Cart : handler threw IllegalStateException",
                sig(Some(Error), None, None, false),
            ),
            (
                "E0501 10:00:00.000000       1 sync.go:1] Exception in sync loop",
                sig(Some(Error), None, None, false),
            ),
            (
                "Exception in thread \"main\" java.lang.IllegalStateException: boom",
                sig(Some(Error), None, None, false),
            ),
            (
                "Unhandled exception. System.InvalidOperationException: boom",
                sig(Some(Error), None, None, false),
            ),
            (
                "caught Exception in handler",
                sig(Some(Error), None, None, false),
            ),
            // Go's `panic:` is a level word (fatal); a line merely starting
            // `goroutine ` is no crash.
            (
                "panic: runtime error: invalid memory address or nil pointer dereference",
                sig(Some(Fatal), None, None, false),
            ),
            (
                "goroutine leak suspected in worker",
                sig(None, None, None, false),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(classify_line(line), *want, "{line}");
        }
    }

    /// Each line of a stack trace printed one line a record once counted as
    /// a line (and, in a workload that logs no requests, as traffic): a
    /// 60-frame trace after every failed request hid the error burst. A
    /// continuation says nothing; the trace's first line is the error.
    #[test]
    fn stack_trace_continuations_say_nothing() {
        // (line, a continuation, what a line of its own says)
        let cases: &[(&str, bool, LogSignal)] = &[
            (
                "2024-05-01 10:00:00.123 ERROR 1 --- [nio-8080-exec-1] o.a.c.c.C.[dispatcherServlet] : Servlet.service() threw exception",
                false,
                sig(Some(Error), None, None, false),
            ),
            ("\tat com.example.Layer7.call(Layer7.java:7)", true, LogSignal::default()),
            ("\tat com.example.Cart.ERROR(Cart.java:1)", true, LogSignal::default()),
            ("\t... 58 more", true, LogSignal::default()),
            (
                "Caused by: java.net.ConnectException: Connection refused",
                true,
                LogSignal::default(),
            ),
            (
                "\tSuppressed: java.io.IOException: close failed",
                true,
                LogSignal::default(),
            ),
            (
                "  File \"/app/worker.py\", line 10, in handle",
                true,
                LogSignal::default(),
            ),
            // Python's source line: four spaces, stating nothing.
            ("    raise PaymentException(reply)", true, LogSignal::default()),
            ("    log.error(\"x\")", true, LogSignal::default()),
            ("    ~~~~~~~~^^^^^^", true, LogSignal::default()),
            // Four spaces that state something are lines (Python's
            // `%(levelname)8s`, a request).
            ("    INFO worker started", false, sig(Some(Info), None, None, false)),
            (
                "    GET /health 200 in 3ms",
                false,
                sig(None, Some(200), Some(3.0), true),
            ),
            ("goroutine 1 [running]:", true, LogSignal::default()),
            ("main.main()", true, LogSignal::default()),
            ("\t/app/main.go:12 +0x1d", true, LogSignal::default()),
            (
                "    at Layer0 (/app/src/layer.js:1:2)",
                true,
                LogSignal::default(),
            ),
            // The lines after a logger's line that reported the exception:
            // its class line, Python's traceback header and closing line.
            (
                "org.springframework.dao.DataAccessResourceFailureException: db down",
                true,
                LogSignal::default(),
            ),
            ("      System.InvalidOperationException: boom", true, LogSignal::default()),
            ("Traceback (most recent call last):", true, LogSignal::default()),
            ("ValueError: bad", true, LogSignal::default()),
            // First lines of traces are lines, errors when they state no
            // other level.
            (
                "Exception in thread \"main\" java.lang.IllegalStateException: boom",
                false,
                sig(Some(Error), None, None, false),
            ),
            (
                "panic: runtime error: index out of range [5] with length 3",
                false,
                sig(Some(Fatal), None, None, false),
            ),
            ("Error: db down", false, sig(Some(Error), None, None, false)),
            (
                "thread 'main' panicked at src/main.rs:2:5:",
                false,
                sig(Some(Error), None, None, false),
            ),
            (
                "/app/x.rb:12:in 'Db#connect': db down (RuntimeError)",
                false,
                sig(Some(Error), None, None, false),
            ),
            // A level the first line states wins, as over a crash word.
            (
                "/app/x.rb:12:in 'f': WARN retrying (Timeout::Error)",
                false,
                sig(Some(Warn), None, None, false),
            ),
            (
                "/app/x.rb:12:in 'f': GET /x 404 (NotFound)",
                false,
                sig(None, Some(404), None, true),
            ),
            // Ruby's, Go's and Rust's continuations.
            ("\tfrom /app/x.rb:20:in 'Layer#call'", true, LogSignal::default()),
            ("/app/x.rb:20:in `block in call'", true, LogSignal::default()),
            ("\tpanic: db down", true, LogSignal::default()),
            ("stack backtrace:", true, LogSignal::default()),
            ("   0: rust_begin_unwind", true, LogSignal::default()),
            (
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
                true,
                LogSignal::default(),
            ),
            // Blank lines say nothing either.
            ("", true, LogSignal::default()),
            ("   ", true, LogSignal::default()),
            ("\t\r\n", true, LogSignal::default()),
            // ASP.NET Core's indented request line is one of its own.
            (
                "      Request finished HTTP/1.1 GET http://localhost:5000/api/items - 500 - text/plain 12.3456ms",
                false,
                sig(None, Some(500), Some(12.3456), true),
            ),
        ];
        for (line, continuation, want) in cases {
            let info = read_line(line);
            assert_eq!(
                (info.continuation, info.signal),
                (*continuation, *want),
                "{line}"
            );
        }
        // A record's own fields that say something make it a line.
        let fields = LineInfo {
            signal: sig(Some(Error), None, None, false),
            ..LineInfo::default()
        };
        let info = read_line("\tat com.example.Cart.save(Cart.java:40)");
        assert!(info.filled_from(LineInfo::default()).continuation);
        let filled = info.filled_from(fields);
        assert!(!filled.continuation);
        assert_eq!(filled.signal.level, Some(Error));
    }

    /// Traces as the runtimes print them (Node.js 20's uncaught exception,
    /// Python 3.11's exception group, anyhow's and eyre's `Error: ...`, Go's
    /// fatal error and net/http's recovered panic, Rails' exception log):
    /// lines of them counted as lines of their own, some as errors. Each
    /// failure is one error now, the rest nothing.
    #[test]
    fn traces_of_more_runtimes_count_one_error() {
        let error = sig(Some(Error), None, None, false);
        let fatal = sig(Some(Fatal), None, None, false);
        let nothing = LogSignal::default();
        // (line, a continuation, what a line of its own says)
        let cases: &[(&str, bool, LogSignal)] = &[
            // Node.js's uncaught exception: where it was thrown, its source
            // line, a caret, a blank line, the error and its frames, the
            // version. `Error: ...` is the one error.
            ("/app/server.js:12", true, nothing),
            ("node:events:497", true, nothing),
            ("node:internal/process/promises:289", true, nothing),
            ("file:///app/server.mjs:12", true, nothing),
            ("    throw new Error('db down');", true, nothing),
            ("    ^", true, nothing),
            ("^", true, nothing),
            ("^^^^^", true, nothing),
            ("Error: db down", false, error),
            ("    at Object.<anonymous> (/app/server.js:12:11)", true, nothing),
            ("Node.js v20.11.0", true, nothing),
            ("Node.js v18.19.1\n", true, nothing),
            // Python's exception group (3.11 and later).
            ("  + Exception Group Traceback (most recent call last):", true, nothing),
            ("  |   File \"/app/worker.py\", line 12, in handle", true, nothing),
            ("  |     raise ExceptionGroup(\"batch failed\", errors)", true, nothing),
            ("  | ExceptionGroup: batch failed (2 sub-exceptions)", true, nothing),
            ("  +-+---------------- 1 ----------------", true, nothing),
            ("    | Traceback (most recent call last):", true, nothing),
            ("    | ValueError: x", true, nothing),
            ("    | ERROR in handler", true, nothing),
            ("    | ", true, nothing),
            ("    |", true, nothing),
            ("    +---------------- 2 ----------------", true, nothing),
            ("    +---------------- ... ----------------", true, nothing),
            ("    | and 3 more exceptions", true, nothing),
            ("    +------------------------------------", true, nothing),
            // anyhow's and eyre's report of an error returned from main.
            ("Error: connect failed", false, error),
            ("Caused by:", true, nothing),
            ("    0: tcp connect error", true, nothing),
            ("    1: Connection refused (os error 111)", true, nothing),
            ("   12: ERROR x", true, nothing),
            ("Stack backtrace:", true, nothing),
            ("   0: anyhow::error::<impl anyhow::Error>::msg", true, nothing),
            ("Location:", true, nothing),
            ("    src/main.rs:12:5", true, nothing),
            // Go: a fatal error's runtime stack, elided frames, `go run`'s
            // exit status; net/http's recovered panic is the one error.
            ("fatal error: runtime: out of memory", false, error),
            ("runtime stack:", true, nothing),
            ("runtime.throw({0x4b8a0e?, 0x0?})", true, nothing),
            ("goroutine 1 [chan receive, 5 minutes]:", true, nothing),
            ("...additional frames elided...", true, nothing),
            ("...12 frames elided...", true, nothing),
            ("exit status 2", true, nothing),
            (
                "2024/05/01 10:00:00 http: panic serving 10.0.0.1:54321: runtime error: invalid memory address or nil pointer dereference",
                false,
                error,
            ),
            ("net/http.(*conn).serve.func1()", true, nothing),
            // Rails' exception log: the logger's blank lines around it and
            // the backtrace say nothing (Rails 5.0 logged each frame at
            // FATAL, later versions the first, then the rest with the
            // request's tags); the exception's line is the one error.
            (
                "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] app/controllers/carts_controller.rb:12:in 'CartsController#show'",
                true,
                nothing,
            ),
            (
                "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : app/models/cart.rb:7:in `block in save'",
                true,
                nothing,
            ),
            ("F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3]   ", true, nothing),
            ("E, [2026-05-01T10:00:00.123456 #1] ERROR -- web: [a] [b] ", true, nothing),
            ("[a1b2c3] app/controllers/carts_controller.rb:12:in 'CartsController#show'", true, nothing),
            ("[a1b2c3]   ", true, nothing),
            (
                "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] ActiveRecord::RecordNotFound (Couldn't find Cart with 'id'=5):",
                false,
                fatal,
            ),
            (
                "[a1b2c3] ActiveRecord::RecordNotFound (Couldn't find Cart with 'id'=5):",
                false,
                error,
            ),
            ("NoMethodError (undefined method 'x' for nil):", false, error),
            // A logger's line whose message is more than a location or
            // nothing is what it says.
            (
                "F, [2026-05-01T10:00:00.123456 #1] FATAL -- : [a1b2c3] app/x.rb:12:in 'f' failed",
                false,
                fatal,
            ),
            ("I, [2026-05-01T10:00:00.123456 #1]  INFO -- : started", false, sig(Some(Info), None, None, false)),
            ("[worker] started", false, nothing),
            ("Processing (batch 5):", false, nothing),
            // Numbered lists are no Rust frames.
            ("   1: first step done", false, nothing),
            ("  10: check the disk", false, nothing),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(line, continuation, want)| {
                let info = read_line(line);
                ((info.continuation, info.signal) != (*continuation, *want))
                    .then(|| format!("{line:?}: {} {:?}", info.continuation, info.signal))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// A klog line with a couple of pairs, one a status: logfmt answered
    /// with the status and the line's `E` level was dropped.
    #[test]
    fn logfmt_status_keeps_the_line_level() {
        let line = r#"E0501 10:00:00.000000       1 client.go:88] "request failed" err="EOF" statusCode=503"#;
        let info = read_line(line);
        assert_eq!(
            (info.signal.level, info.signal.status, info.level_from_text),
            (Some(Error), Some(503), true)
        );
        // A structured level from the record's fields wins over it.
        let fields = LineInfo {
            signal: sig(Some(Warn), None, None, false),
            ..LineInfo::default()
        };
        assert_eq!(info.filled_from(fields).signal.level, Some(Warn));
    }
}
