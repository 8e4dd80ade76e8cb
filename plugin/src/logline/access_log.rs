//! Common / combined / nginx access-log lines, with an nginx `$request_time`.

use super::fields::is_http_method;
use crate::observation::LogSignal;

/// Common / combined / nginx access-log lines:
/// `host ident user [time] "METHOD path PROTO" status bytes ...`.
pub(super) fn read(line: &str) -> Option<LogSignal> {
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
