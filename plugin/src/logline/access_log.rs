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
    if let Some(ms) = ingress_nginx_request_time(after_request) {
        return Some(ms);
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

/// ingress-nginx's default `log-format-upstream`, the most common access log
/// in Kubernetes: `... "$http_referer" "$http_user_agent" $request_length
/// $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name]
/// $upstream_addr ...`. After the fourth quote (nginx escapes quotes inside
/// variables as `\x22`): an integer, a time with a `.`, a `[`-token.
fn ingress_nginx_request_time(after_request: &str) -> Option<f64> {
    let agent_close = memchr::memchr_iter(b'"', after_request.as_bytes()).nth(3)?;
    let mut tokens = after_request
        .get(agent_close + 1..)?
        .split_ascii_whitespace();
    let (length, time, upstream) = (tokens.next()?, tokens.next()?, tokens.next()?);
    let is_int = !length.is_empty() && length.bytes().all(|c| c.is_ascii_digit());
    if !is_int || !upstream.starts_with('[') || !time.contains('.') {
        return None;
    }
    seconds_token(time)
}

fn seconds_token(v: &str) -> Option<f64> {
    let s = parse_f64(v)?;
    (s.is_finite() && s >= 0.0).then_some(s * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_nginx_request_time_follows_the_request_length() {
        let ingress = r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET /api/items HTTP/1.1" 504 160 "-" "curl/8.5.0" 87 0.512 [shop-web-80] [] 10.244.1.7:8080 0 0.511 504 0d1b5a8e4f6c2b3a9e8d7c6b5a4f3e2d"#;
        let cases: &[(&str, Option<f64>)] = &[
            (ingress, Some(512.0)),
            // No upstream (a 404 from the default backend): `- - -` after.
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 404 548 "-" "Mozilla/5.0 (X11; Linux x86_64)" 412 0.000 [] [] - - - - 5b0a"#,
                Some(0.0),
            ),
            // A plain combined line with a trailing `$request_time`.
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" 0.031"#,
                Some(31.0),
            ),
            // Combined, nothing after the agent.
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0""#,
                None,
            ),
            // Not ingress-nginx's order: a time without the `[upstream]` after it.
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" 87 0.5 x"#,
                None,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(read(line).and_then(|s| s.latency_ms), *want, "{line}");
        }
    }

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
