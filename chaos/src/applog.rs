//! The text an application writes on one log line, in each [`LogFormat`]:
//! request lines (method, path, status, latency) and plain messages with a level.

use std::fmt::Write as _;

use crate::clock::{push_nginx_time, push_rfc3339, push_text_time, Precision};
use crate::fleet::LogFormat;
use crate::jsonw::ObjectWriter;
use crate::telemetry::Stream;

/// Severity of a message line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// info.
    Info,
    /// warn.
    Warn,
    /// error.
    Error,
    /// fatal.
    Fatal,
}

impl Level {
    fn lower(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
    fn upper(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }
}

/// One served request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request<'a> {
    /// Time of the line, ns.
    pub ts_ns: i64,
    /// HTTP method (or SQL verb for databases).
    pub method: &'a str,
    /// Path (or table).
    pub path: &'a str,
    /// HTTP status.
    pub status: u16,
    /// Latency in milliseconds.
    pub latency_ms: f64,
    /// Response bytes.
    pub bytes: u64,
    /// Client address.
    pub client_ip: &'a str,
    /// A request id.
    pub request_id: u64,
}

fn reason(status: u16) -> &'static str {
    match status {
        500 => "internal error",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "upstream timeout",
        404 => "not found",
        429 => "too many requests",
        _ => "ok",
    }
}

/// Renders a request line; returns the stream it goes to.
pub fn request_line(format: LogFormat, pid: u32, r: &Request<'_>, out: &mut String) -> Stream {
    out.clear();
    let failed = r.status >= 500;
    match format {
        LogFormat::JsonLatencyMs => {
            let mut ts = String::new();
            push_rfc3339(&mut ts, r.ts_ns, Precision::Millis);
            let mut w = ObjectWriter::new(out);
            w.str("ts", &ts)
                .str("level", if failed { "error" } else { "info" })
                .str("logger", "http")
                .str(
                    "msg",
                    if failed {
                        "request failed"
                    } else {
                        "request completed"
                    },
                )
                .str("method", r.method)
                .str("path", r.path)
                .int("status", i64::from(r.status))
                .float("latency_ms", r.latency_ms, 2)
                .str("request_id", &format!("{:016x}", r.request_id));
            if failed {
                w.str("error", reason(r.status));
            }
            w.finish();
            Stream::Stdout
        }
        LogFormat::JsonDuration => {
            let mut ts = String::new();
            push_rfc3339(&mut ts, r.ts_ns, Precision::Millis);
            let mut w = ObjectWriter::new(out);
            w.str("time", &ts)
                .str("level", if failed { "ERROR" } else { "INFO" })
                .str(
                    "msg",
                    if failed {
                        "request failed"
                    } else {
                        "handled request"
                    },
                )
                .str("method", r.method)
                .str("path", r.path)
                .int("status", i64::from(r.status))
                .str("duration", &format!("{:.3}s", r.latency_ms / 1000.0))
                .int("bytes", r.bytes as i64);
            if failed {
                w.str("err", reason(r.status));
            }
            w.finish();
            Stream::Stderr
        }
        LogFormat::Nginx => {
            out.push_str(r.client_ip);
            out.push_str(" - - [");
            push_nginx_time(out, r.ts_ns);
            let _ = write!(
                out,
                "] \"{} {} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\" {:.3}",
                r.method,
                r.path,
                r.status,
                r.bytes,
                r.latency_ms / 1000.0
            );
            Stream::Stdout
        }
        LogFormat::SpringText => {
            push_text_time(out, r.ts_ns);
            let level = if failed { "ERROR" } else { " INFO" };
            let _ = write!(
                out,
                " {level} {pid} --- [nio-8080-exec-{}] c.e.web.RequestLoggingFilter    : ",
                1 + r.request_id % 10
            );
            if failed {
                let _ = write!(
                    out,
                    "{} {} failed with {} after {:.0}ms: {}",
                    r.method,
                    r.path,
                    r.status,
                    r.latency_ms,
                    reason(r.status)
                );
            } else {
                let _ = write!(
                    out,
                    "{} {} completed {} in {:.0}ms",
                    r.method, r.path, r.status, r.latency_ms
                );
            }
            Stream::Stdout
        }
        LogFormat::PostgresText => {
            push_text_time(out, r.ts_ns);
            if failed {
                let _ = write!(
                    out,
                    " UTC [{pid}] ERROR:  canceling statement due to statement timeout after {:.3} ms",
                    r.latency_ms
                );
            } else {
                let _ = write!(
                    out,
                    " UTC [{pid}] LOG:  duration: {:.3} ms  statement: {} * FROM {} WHERE id = {}",
                    r.latency_ms,
                    r.method,
                    r.path,
                    r.request_id % 100_000
                );
            }
            Stream::Stderr
        }
        LogFormat::Logfmt => {
            let mut ts = String::new();
            push_rfc3339(&mut ts, r.ts_ns, Precision::Millis);
            let _ = write!(
                out,
                "time=\"{ts}\" level={} msg=\"{}\" op={} target={} status={} duration={:.1}ms",
                if failed { "error" } else { "info" },
                if failed {
                    "flush failed"
                } else {
                    "flushed chunk"
                },
                r.method,
                r.path,
                r.status,
                r.latency_ms
            );
            Stream::Stderr
        }
    }
}

/// Renders a non-request message line with a level; returns the stream.
pub fn message_line(
    format: LogFormat,
    pid: u32,
    ts_ns: i64,
    level: Level,
    msg: &str,
    out: &mut String,
) -> Stream {
    out.clear();
    let stream = if matches!(level, Level::Error | Level::Fatal) {
        Stream::Stderr
    } else {
        Stream::Stdout
    };
    match format {
        LogFormat::JsonLatencyMs => {
            let mut ts = String::new();
            push_rfc3339(&mut ts, ts_ns, Precision::Millis);
            let mut w = ObjectWriter::new(out);
            w.str("ts", &ts)
                .str("level", level.lower())
                .str("logger", "main")
                .str("msg", msg);
            w.finish();
            stream
        }
        LogFormat::JsonDuration => {
            let mut ts = String::new();
            push_rfc3339(&mut ts, ts_ns, Precision::Millis);
            let mut w = ObjectWriter::new(out);
            w.str("time", &ts)
                .str("level", level.upper())
                .str("msg", msg);
            w.finish();
            Stream::Stderr
        }
        LogFormat::Nginx => {
            // nginx error_log format on stderr.
            let c = crate::clock::rfc3339(ts_ns, Precision::Seconds);
            let date = c.get(..10).unwrap_or("").replace('-', "/");
            let time = c.get(11..19).unwrap_or("");
            let lvl = match level {
                Level::Info => "notice",
                Level::Warn => "warn",
                Level::Error => "error",
                Level::Fatal => "emerg",
            };
            let _ = write!(out, "{date} {time} [{lvl}] {pid}#{pid}: {msg}");
            Stream::Stderr
        }
        LogFormat::SpringText => {
            push_text_time(out, ts_ns);
            let _ = write!(
                out,
                " {:>5} {pid} --- [           main] c.e.Application                 : {msg}",
                level.upper()
            );
            stream
        }
        LogFormat::PostgresText => {
            push_text_time(out, ts_ns);
            let lvl = match level {
                Level::Info => "LOG",
                Level::Warn => "WARNING",
                Level::Error => "ERROR",
                Level::Fatal => "FATAL",
            };
            let _ = write!(out, " UTC [{pid}] {lvl}:  {msg}");
            Stream::Stderr
        }
        LogFormat::Logfmt => {
            let mut ts = String::new();
            push_rfc3339(&mut ts, ts_ns, Precision::Millis);
            let _ = write!(
                out,
                "time=\"{ts}\" level={} msg=\"{}\"",
                level.lower(),
                msg.replace('"', "'")
            );
            Stream::Stderr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_741_003_200_123_456_789;

    fn req(status: u16) -> Request<'static> {
        Request {
            ts_ns: T,
            method: "GET",
            path: "/products",
            status,
            latency_ms: 250.0,
            bytes: 512,
            client_ip: "10.1.2.3",
            request_id: 7,
        }
    }

    #[test]
    fn request_lines() {
        // (format, status, substring expected in the line)
        let cases: &[(LogFormat, u16, &str)] = &[
            (LogFormat::JsonLatencyMs, 200, "\"latency_ms\":250.00"),
            (LogFormat::JsonLatencyMs, 503, "\"level\":\"error\""),
            (LogFormat::JsonDuration, 200, "\"duration\":\"0.250s\""),
            (LogFormat::Nginx, 200, "10.1.2.3 - - [03/Mar/2025:12:00:00 +0000] \"GET /products HTTP/1.1\" 200 512 \"-\""),
            (LogFormat::Nginx, 200, "Safari/537.36\" 0.250"),
            (LogFormat::SpringText, 200, "2025-03-03 12:00:00.123  INFO 1 --- "),
            (LogFormat::SpringText, 500, "ERROR 1 --- "),
            (LogFormat::PostgresText, 200, "LOG:  duration: 250.000 ms"),
            (LogFormat::PostgresText, 500, "ERROR:  canceling statement"),
            (LogFormat::Logfmt, 200, "level=info msg=\"flushed chunk\""),
        ];
        let mut out = String::new();
        for (format, status, want) in cases {
            request_line(*format, 1, &req(*status), &mut out);
            assert!(out.contains(want), "{format:?}: {out}");
            if matches!(format, LogFormat::JsonLatencyMs | LogFormat::JsonDuration) {
                let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                assert_eq!(v["status"], i64::from(*status));
            }
        }
    }

    #[test]
    fn message_lines() {
        let cases: &[(LogFormat, Level, &str)] = &[
            (
                LogFormat::JsonLatencyMs,
                Level::Fatal,
                "\"level\":\"fatal\"",
            ),
            (LogFormat::JsonDuration, Level::Warn, "\"level\":\"WARN\""),
            (
                LogFormat::Nginx,
                Level::Error,
                "2025/03/03 12:00:00 [error] 1#1: boom",
            ),
            (LogFormat::SpringText, Level::Warn, " WARN 1 --- "),
            (LogFormat::PostgresText, Level::Fatal, "FATAL:  boom"),
            (LogFormat::Logfmt, Level::Error, "level=error msg=\"boom\""),
        ];
        let mut out = String::new();
        for (format, level, want) in cases {
            message_line(*format, 1, T, *level, "boom", &mut out);
            assert!(out.contains(want), "{format:?}: {out}");
        }
    }
}
