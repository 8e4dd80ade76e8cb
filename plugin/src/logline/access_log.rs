//! Common / combined / nginx access-log lines, with an nginx `$request_time`.

use super::fields::is_http_method;
use crate::decimal::parse_f64;
use crate::observation::LogSignal;

/// Common / combined / nginx access-log lines:
/// `host ident user [time] "METHOD path PROTO" status bytes ...`.
pub(super) fn read(line: &str) -> Option<LogSignal> {
    let open = request_open(line.as_bytes())?;
    let rest = line.get(open..)?;
    // Bytes, not `char` patterns: a `str` search by `char` costs a
    // searcher's setup, more than these short scans.
    let close = memchr::memchr(b'"', rest.as_bytes())?;
    let request = rest.get(..close)?;
    let method_end = request.bytes().position(|c| c == b' ');
    let method = request.get(..method_end.unwrap_or(request.len()))?;
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

/// Just past the first `] "` (the end of the time, the request's quote):
/// found from each `]`, which costs less than setting up a substring search
/// for every line.
fn request_open(line: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b']', line)
        .find(|&i| line.get(i + 1..i + 3) == Some(b" \""))
        .map(|i| i + 3)
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
    let trimmed = after_request.trim_end();
    let last = match memchr::memrchr(b' ', trimmed.as_bytes()) {
        Some(i) => trimmed.get(i + 1..)?,
        None => trimmed,
    };
    let three_tokens = after_request.split_ascii_whitespace().nth(2).is_some();
    if !three_tokens || !last.as_bytes().contains(&b'.') {
        return None;
    }
    seconds_token(last)
}

fn seconds_token(v: &str) -> Option<f64> {
    let s = parse_f64(v)?;
    (s.is_finite() && s >= 0.0).then_some(s * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_opens_after_the_first_bracket_space_quote() {
        let cases: &[(&str, Option<usize>)] = &[
            (r#"a [t] "GET / HTTP/1.1" 200"#, Some(7)),
            (r#"a [x]] "GET"#, Some(8)),
            (r#"a ] x ] "GET"#, Some(9)),
            (r#"a [t]""#, None),
            (r#"a [t] "#, None),
            ("]", None),
            ("", None),
        ];
        for (line, want) in cases {
            let naive = line.find("] \"").map(|i| i + 3);
            assert_eq!(naive, *want, "{line}");
            assert_eq!(request_open(line.as_bytes()), *want, "{line}");
        }
    }
}
