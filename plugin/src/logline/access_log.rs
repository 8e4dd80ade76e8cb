//! Common / combined / nginx access-log lines, with an nginx `$request_time`;
//! Envoy's and Istio's default access logs, with their duration; uvicorn's;
//! HAProxy's HTTP log.
//!
//! A proxy's line is not always a request the workload that logged it
//! served (see [`Origin`]): an Istio sidecar logs the calls its pod makes
//! (`outbound|8080||pay.shop.svc.cluster.local`), and an ingress-nginx
//! controller the requests its backends answer. Their statuses and latencies
//! are the other service's, and counting them as the logging workload's
//! blames (and restarts) the caller for its callee's failures.

use super::fields::is_http_method;
use crate::decimal::parse_f64;
use crate::observation::LogSignal;

/// Common / combined / nginx access-log lines:
/// `host ident user [time] "METHOD path PROTO" status bytes ...`,
/// uvicorn's (see [`uvicorn_open`]) and HAProxy's (see [`haproxy`]).
pub(super) fn read(line: &str) -> Option<LogSignal> {
    let quoted = |open: usize| {
        let rest = line.get(open..)?;
        // Bytes, not `char` patterns: a `str` search by `char` costs a
        // searcher's setup, more than these short scans.
        let close = memchr::memchr(b'"', rest.as_bytes())?;
        Some((rest, close))
    };
    let Some((rest, close)) = request_open(line.as_bytes())
        .and_then(quoted)
        .or_else(|| uvicorn_open(line.as_bytes()).and_then(quoted))
    else {
        return haproxy(line);
    };
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
    let envoy_line = if line.starts_with('[') {
        envoy(after)
    } else {
        None
    };
    let envoy_ms = envoy_line.and_then(|e| millis_token(e.duration));
    // Without an Envoy duration (none, or one past f64's range) the nginx
    // readings, in the VRL's order.
    let ingress_line = if envoy_ms.is_none() {
        ingress_nginx(after)
    } else {
        None
    };
    let origin = match (envoy_line, ingress_line) {
        (Some(e), _) => e.origin(),
        (None, Some(i)) => i.origin(status),
        (None, None) => Origin::Own,
    };
    Some(match origin {
        Origin::Own => LogSignal {
            level: None,
            status: Some(status),
            latency_ms: envoy_ms.or_else(|| nginx_request_time(after, ingress_line)),
            is_request: true,
        },
        Origin::Outbound => LogSignal::default(),
        Origin::Backend => LogSignal {
            is_request: true,
            ..LogSignal::default()
        },
    })
}

/// Whose request a proxy's access-log line describes, and so what of it
/// counts for the workload that logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A request the workload served: its status and latency are its own
    /// (every line not shown to be one of the others, an Istio sidecar's
    /// `inbound|` lines among them).
    Own,
    /// A call the workload made: an Istio sidecar's line whose upstream
    /// cluster is `outbound|…` (or `PassthroughCluster` / `BlackHoleCluster`,
    /// Istio's clusters for destinations outside its registry). Not a
    /// request the workload served, so neither a request, an error nor a
    /// latency of it: the line counts as a line only. Whatever the status,
    /// even one the sidecar answered itself (`503 UH`, no healthy upstream;
    /// `UO`, its circuit breaker): each says the callee is unreachable.
    /// (An Istio ingress gateway logs the requests it routes with outbound
    /// clusters too: they count as its lines, not its requests.)
    Outbound,
    /// A request an ingress controller handled for a backend: a request to
    /// the controller, but its status and latency are the backend's (whose
    /// own access log carries them). And a `503` the controller answered
    /// without any upstream (`$upstream_addr` `-`): ingress-nginx's answer
    /// when a backend has no ready endpoint, or when a `limit-req` /
    /// `limit-conn` limit turns a client away — a backend down or a policy
    /// at work, which restarting the controller cannot help. Other statuses
    /// the controller answered itself (a `500` from its Lua, a `400`, a
    /// `404`) stay its own.
    Backend,
}

/// An Envoy / Istio access-log line's fields past the request that matter
/// here (see [`envoy`]).
#[derive(Debug, Clone, Copy)]
struct EnvoyLine<'a> {
    /// `DURATION`, digits (milliseconds).
    duration: &'a str,
    /// The line after the duration.
    tail: &'a str,
}

impl EnvoyLine<'_> {
    /// Istio's format ends `"UPSTREAM_HOST" UPSTREAM_CLUSTER
    /// UPSTREAM_LOCAL_ADDRESS DOWNSTREAM_LOCAL_ADDRESS
    /// DOWNSTREAM_REMOTE_ADDRESS REQUESTED_SERVER_NAME ROUTE_NAME`, none of
    /// them quoted after the host: the cluster is the first token after the
    /// line's last quote (a quote inside the user agent cannot move it).
    /// Envoy's own default format ends at the quoted host, so it names no
    /// cluster, and its lines stay the workload's.
    fn origin(&self) -> Origin {
        let cluster = memchr::memrchr(b'"', self.tail.as_bytes())
            .and_then(|q| self.tail.get(q + 1..))
            .and_then(next_token)
            .map(|(cluster, _)| cluster);
        match cluster {
            Some(c)
                if c.starts_with("outbound|")
                    || c == "PassthroughCluster"
                    || c == "BlackHoleCluster" =>
            {
                Origin::Outbound
            }
            _ => Origin::Own,
        }
    }
}

/// An ingress-nginx `log-format-upstream` line's fields past the agent (see
/// [`ingress_nginx`]).
#[derive(Debug, Clone, Copy)]
struct IngressLine<'a> {
    /// `$request_time`, seconds with a `.`.
    request_time: &'a str,
    /// `$upstream_addr`: `-` when no upstream was tried, an address (or a
    /// list, `10.0.0.1:80, 10.0.0.2:80`) when one was; `None` when the line
    /// ends before it.
    upstream_addr: Option<&'a str>,
}

impl IngressLine<'_> {
    fn origin(&self, status: u16) -> Origin {
        match self.upstream_addr {
            Some("-") if status == 503 => Origin::Backend,
            Some("-") | None => Origin::Own,
            Some(_) => Origin::Backend,
        }
    }
}

/// Just past the first `] "` (the end of the time, the request's quote):
/// found from each `]`, which costs less than setting up a substring search
/// for every line.
fn request_open(line: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b']', line)
        .find(|&i| line.get(i + 1..i + 3) == Some(b" \""))
        .map(|i| i + 3)
}

/// Just past the request's quote in uvicorn's access log (FastAPI's and most
/// Python ASGI services'): `INFO:     10.0.0.1:52314 - "GET /x HTTP/1.1" 500
/// Internal Server Error` — a level, a colon, the client, ` - "`. Its status
/// lines are `INFO` whatever the status, so without this a burst of 500s
/// reads as nothing.
fn uvicorn_open(line: &[u8]) -> Option<usize> {
    let colon = memchr::memchr(b':', line)?;
    let level = line.get(..colon)?;
    if !matches!(
        level,
        b"INFO" | b"WARNING" | b"ERROR" | b"DEBUG" | b"CRITICAL" | b"TRACE"
    ) {
        return None;
    }
    let at = memchr::memmem::find(line.get(colon..)?, b" - \"")?;
    Some(colon + at + 4)
}

/// HAProxy's HTTP log (`option httplog`; the HAProxy ingress controllers'
/// default formats start the same): `client:port [accept_date] frontend
/// backend/server TR/Tw/Tc/Tr/Ta status bytes ... "METHOD uri HTTP/1.1"`.
/// The accept date is read as ending in milliseconds (`%tr` and `%t` do).
/// The five timers are milliseconds (`-1` for a phase that did not happen,
/// `+` before the last with `option logasap`); the last is the request's
/// total time. A status of `-1` (no response) is not a request read.
fn haproxy(line: &str) -> Option<LogSignal> {
    let bytes = line.as_bytes();
    let date_close = memchr::memchr_iter(b']', bytes).find(|&i| bytes.get(i + 1) == Some(&b' '))?;
    // The accept date ends in milliseconds (`12:14:14.655]`): most lines
    // with a `] ` (`[worker-3] `, klog's `file.go:42] `) are out here.
    match bytes.get(date_close.checked_sub(4)?..date_close) {
        Some([b'.', a, b, c]) if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {}
        _ => return None,
    }
    let after_date = line.get(date_close + 2..)?;
    let (_frontend, rest) = next_token(after_date)?;
    let (backend_server, rest) = next_token(rest)?;
    memchr::memchr(b'/', backend_server.as_bytes())?;
    let (timers, rest) = next_token(rest)?;
    let (status, rest) = next_token(rest)?;
    if !is_uint(status) {
        return None;
    }
    let mut total = None;
    let mut count = 0;
    for timer in timers.split('/') {
        count += 1;
        let timer = timer.strip_prefix('+').unwrap_or(timer);
        if !(timer == "-1" || is_uint(timer)) {
            return None;
        }
        total = Some(timer);
    }
    let status: u16 = status.parse().ok()?;
    if count != 5 || !(100..=599).contains(&status) {
        return None;
    }
    // The request, quoted, after the counters and captures.
    let open = memchr::memchr(b'"', rest.as_bytes())?;
    let request = rest.get(open + 1..)?;
    let method = request.get(..request.find(' ')?)?;
    if !is_http_method(method) {
        return None;
    }
    Some(LogSignal {
        level: None,
        status: Some(status),
        latency_ms: total.filter(|t| is_uint(t)).and_then(millis_token),
        is_request: true,
    })
}

/// An nginx `$request_time` (seconds, millisecond resolution): the last token
/// of the line as `0.005`, or a `rt=` / `request_time=` pair; or Traefik's
/// duration, the last token as `25ms`.
/// `ingress` is the line read as ingress-nginx's format, when it is.
fn nginx_request_time(after_request: &str, ingress: Option<IngressLine<'_>>) -> Option<f64> {
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
    if let Some(ms) = ingress.and_then(|i| seconds_token(i.request_time)) {
        return Some(ms);
    }
    // Combined format ends with `"referer" "agent"`; a bare trailing number is $request_time.
    let trimmed = after_request.trim_end();
    let last = match memchr::memrchr(b' ', trimmed.as_bytes()) {
        Some(i) => trimmed.get(i + 1..)?,
        None => trimmed,
    };
    let three_tokens = after_request.split_ascii_whitespace().nth(2).is_some();
    if !three_tokens {
        return None;
    }
    // Traefik's common log format ends with the duration as `25ms`.
    if let Some(ms) = last.strip_suffix("ms").filter(|n| is_uint(n)) {
        return millis_token(ms);
    }
    if !last.as_bytes().contains(&b'.') {
        return None;
    }
    seconds_token(last)
}

/// ingress-nginx's default `log-format-upstream`, the most common access log
/// in Kubernetes: `... "$http_referer" "$http_user_agent" $request_length
/// $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name]
/// $upstream_addr $upstream_response_length $upstream_response_time
/// $upstream_status $req_id` (before v0.22 without the alternative name).
/// After the fourth quote (nginx escapes quotes inside variables as `\x22`):
/// an integer, a time with a `.`, a `[`-token; then, past a second
/// `[name]`-token, the upstream address.
fn ingress_nginx(after_request: &str) -> Option<IngressLine<'_>> {
    let agent_close = memchr::memchr_iter(b'"', after_request.as_bytes()).nth(3)?;
    let rest = after_request.get(agent_close + 1..)?;
    let (length, rest) = next_token(rest)?;
    let (time, rest) = next_token(rest)?;
    let (upstream, rest) = next_token(rest)?;
    if !is_uint(length) || !upstream.starts_with('[') || !time.contains('.') {
        return None;
    }
    let upstream_addr = match next_token(rest) {
        Some((alternative, rest)) if alternative.starts_with('[') && alternative.ends_with(']') => {
            next_token(rest).map(|(addr, _)| addr)
        }
        other => other.map(|(addr, _)| addr),
    };
    Some(IngressLine {
        request_time: time,
        upstream_addr,
    })
}

/// Envoy's default access log and Istio's (a sidecar's `istio-proxy`
/// container), which start with the time: `[START_TIME] "METHOD PATH PROTO"
/// CODE FLAGS BYTES_RECEIVED BYTES_SENT DURATION ...`, Istio's with
/// `DETAILS TERMINATION_DETAILS "TRANSPORT_FAILURE_REASON"` after the flags.
/// `DURATION` is in milliseconds. `after_request` starts at the code.
fn envoy(after_request: &str) -> Option<EnvoyLine<'_>> {
    let (_code, rest) = next_token(after_request)?;
    let (flags, rest) = next_token(rest)?;
    let flags_ok = flags == "-" || flags.bytes().all(|c| c.is_ascii_uppercase() || c == b',');
    if !flags_ok {
        return None;
    }
    counts_then_duration(rest).or_else(|| {
        // Istio: two tokens, then the quoted reason (which may hold spaces).
        let open = memchr::memchr(b'"', rest.as_bytes())?;
        let before = rest.get(..open)?;
        let spaced = before
            .bytes()
            .last()
            .is_some_and(|c| c.is_ascii_whitespace());
        if !spaced || before.split_ascii_whitespace().count() != 2 {
            return None;
        }
        let reason = rest.get(open + 1..)?;
        let close = memchr::memchr(b'"', reason.as_bytes())?;
        counts_then_duration(reason.get(close + 1..)?)
    })
}

/// `BYTES_RECEIVED BYTES_SENT DURATION` at the start of `s`: the duration
/// and what follows it.
fn counts_then_duration(s: &str) -> Option<EnvoyLine<'_>> {
    let (received, tail) = next_token(s)?;
    let (sent, tail) = next_token(tail)?;
    let (duration, tail) = next_token(tail)?;
    if !(is_uint(received) && is_uint(sent) && is_uint(duration)) {
        return None;
    }
    Some(EnvoyLine { duration, tail })
}

/// The first whitespace-separated token of `s` and what follows it.
fn next_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let end = s
        .bytes()
        .position(|c| c.is_ascii_whitespace())
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((s.get(..end)?, s.get(end..)?))
}

fn is_uint(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())
}

/// A token of digits read as milliseconds (`None` past f64's range).
fn millis_token(v: &str) -> Option<f64> {
    parse_f64(v).filter(|ms| ms.is_finite())
}

fn seconds_token(v: &str) -> Option<f64> {
    let s = parse_f64(v)?;
    (s.is_finite() && s >= 0.0).then_some(s * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_http_logs_give_status_and_total_time() {
        // (line, what it reads: status and latency)
        type Case<'a> = (&'a str, Option<(u16, Option<f64>)>);
        let cases: &[Case] = &[
            // The configuration manual's example, with its syslog header.
            (
                r#"Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1""#,
                Some((200, Some(109.0))),
            ),
            // To stdout, as an ingress controller logs; TLS frontend `~`.
            (
                r#"10.244.0.1:51862 [23/Nov/2026:10:00:00.655] https~ shop_web_80/SRV_1 0/0/1/512/513 503 213 - - ---- 3/3/0/0/0 0/0 "POST /pay HTTP/2.0""#,
                Some((503, Some(513.0))),
            ),
            // `option logasap`: `+` before the total; an aborted server phase.
            (
                r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 9/0/7/-1/+147 502 +243 - - SH-- 3/3/3/1/0 0/0 "GET /x HTTP/1.1""#,
                Some((502, Some(147.0))),
            ),
            (
                r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 9/0/7/-1/-1 504 0 - - sH-- 3/3/3/1/0 0/0 "GET /x HTTP/1.1""#,
                Some((504, None)),
            ),
            // No response (`-1`), a bad request, tcplog's three timers.
            (
                r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/<NOSRV> -1/-1/-1/-1/0 -1 0 - - CR-- 1/1/0/0/0 0/0 "<BADREQ>""#,
                None,
            ),
            (
                r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/<NOSRV> 0/-1/-1/-1/3 400 187 - - PR-- 1/1/0/0/0 0/0 "<BADREQ>""#,
                None,
            ),
            (
                "10.0.1.2:33320 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0",
                None,
            ),
            (
                r#"[06/Feb/2009:12:14:14.655] http-in static 1/2/3/4/5 200 2750 "GET / HTTP/1.1""#,
                None,
            ),
            (
                r#"[06/Feb/2009:12:14:14.655] http-in static/s 1/2/3/4 200 2750 "GET / HTTP/1.1""#,
                None,
            ),
            (
                r#"10.0.1.2:33317 [06/Feb/2009:12:14:14] http-in static/srv1 1/2/3/4/5 200 2750 "GET / HTTP/1.1""#,
                None,
            ),
            (
                r#"E0501 [worker-3.655] http-in static/srv1 1/2/3/4/5 500 2750 "GET / HTTP/1.1""#,
                Some((500, Some(5.0))),
            ),
        ];
        for (line, want) in cases {
            let got = read(line).map(|s| (s.status.unwrap_or(0), s.latency_ms));
            assert_eq!(got, *want, "{line}");
        }
    }

    #[test]
    fn ingress_nginx_request_time_follows_the_request_length() {
        // (A line the controller proxied has no latency of the controller's:
        // see `proxy_lines_count_only_for_the_workload_that_served_them`.)
        let ingress = r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET /api/items HTTP/1.1" 500 160 "-" "curl/8.5.0" 87 0.512 [shop-web-80] [] - - - - 0d1b5a8e4f6c2b3a9e8d7c6b5a4f3e2d"#;
        let cases: &[(&str, Option<f64>)] = &[
            (ingress, Some(512.0)),
            // No upstream (a 404 from the default backend): `- - -` after.
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 404 548 "-" "Mozilla/5.0 (X11; Linux x86_64)" 412 0.000 [] [] - - - - 5b0a"#,
                Some(0.0),
            ),
            // Traefik's common log format: the duration last, in ms.
            (
                r#"192.168.1.1 - - [23/Nov/2026:10:00:00 +0000] "GET /x HTTP/1.1" 502 150 "-" "curl/8" 1 "default-shop-80@kubernetes" "http://10.42.0.8:80" 25ms"#,
                Some(25.0),
            ),
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" 2.5ms"#,
                None,
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
    fn envoy_and_istio_durations_are_read_in_milliseconds() {
        let cases: &[(&str, Option<(u16, f64)>)] = &[
            // Envoy's default format.
            (
                r#"[2026-11-23T10:00:00.123Z] "GET /api/cart HTTP/1.1" 503 UF 0 91 25 - "-" "curl/8.0" "5a1b" "cart:8080" "10.0.0.7:8080""#,
                Some((503, 25.0)),
            ),
            // Istio's: details, termination details and a quoted reason first
            // (the server's side: its sidecar's inbound lines).
            (
                r#"[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 outbound_.8000_._.httpbin.foo.svc.cluster.local default"#,
                Some((418, 3.0)),
            ),
            (
                r#"[2026-11-23T10:00:00.000Z] "POST /pay HTTP/2" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED" 0 91 1502 - "-" "grpc-go/1.60" "x" "pay:8080" "10.0.0.9:8080" inbound|8080|| - 10.0.0.1:8080 10.0.0.2:40000 - default"#,
                Some((503, 1502.0)),
            ),
            // Not Envoy's: the flags are not flags, or a count is not a number.
            (
                r#"[2026-11-23T10:00:00.000Z] "GET / HTTP/1.1" 200 ok 0 91 25"#,
                Some((200, f64::NAN)),
            ),
            (
                r#"[2026-11-23T10:00:00.000Z] "GET / HTTP/1.1" 200 - 0 x 25"#,
                Some((200, f64::NAN)),
            ),
            // A common-log line keeps its own reading.
            (
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0" 0.031"#,
                Some((200, 31.0)),
            ),
        ];
        for (line, want) in cases {
            let got = read(line).map(|s| (s.status, s.latency_ms));
            let want = want.map(|(st, ms)| (Some(st), (!ms.is_nan()).then_some(ms)));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn proxy_lines_count_only_for_the_workload_that_served_them() {
        // (line, (status, latency, is_request)): `Some((s, ms, true))` a
        // request of the logging workload's own, `None` a line that is no
        // request of it, `Some((0, NAN, true))` a request whose status and
        // latency are a backend's (none read).
        let own = |status: u16, ms: f64| (Some(status), (!ms.is_nan()).then_some(ms), true);
        let outbound = (None, None, false);
        let backend = (None, None, true);
        let istio = |code: &str, cluster: &str| {
            format!(
                r#"[2026-11-23T10:00:00.000Z] "POST /price HTTP/1.1" {code} - "-" 0 91 7 6 "-" "grpc-go/1.60" "7c2d" "pay:8080" "10.0.0.7:8080" {cluster} 10.0.0.9:51234 10.96.0.12:8080 10.0.0.9:40418 - default"#
            )
        };
        let nginx = |status: u16, upstream: &str| {
            format!(
                r#"10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET /api/items HTTP/1.1" {status} 160 "-" "curl/8.5.0" 87 0.512 {upstream}"#
            )
        };
        type Case = (String, (Option<u16>, Option<f64>, bool));
        let cases: Vec<Case> = vec![
            // Istio: a sidecar's inbound lines are its pod's requests...
            (istio("200 - via_upstream", "inbound|8080||"), own(200, 7.0)),
            (
                istio(
                    "503 UF upstream_reset_before_response_started{connection_failure}",
                    "inbound|8080||",
                ),
                own(503, 7.0),
            ),
            (
                istio("503 - via_upstream", "InboundPassthroughClusterIpv4"),
                own(503, 7.0),
            ),
            // ... its outbound ones calls the pod made, whatever the status
            // and whoever answered it (the sidecar itself: `UH`, `UO`).
            (
                istio(
                    "503 UF,URX upstream_reset_before_response_started{connection_failure}",
                    "outbound|8080||pay.shop.svc.cluster.local",
                ),
                outbound,
            ),
            (
                istio("200 - via_upstream", "outbound|8080||pay.shop.svc.cluster.local"),
                outbound,
            ),
            (
                istio("503 UH no_healthy_upstream", "outbound|8080|v2|pay.shop.svc.cluster.local"),
                outbound,
            ),
            (istio("502 - via_upstream", "PassthroughCluster"), outbound),
            (istio("502 - direct_response", "BlackHoleCluster"), outbound),
            // The cluster is the token after the host's quote, not a word in
            // the agent or the SNI (`outbound_.8080_._.cart…` on inbound lines).
            (
                r#"[2026-11-23T10:00:00.000Z] "GET /cart HTTP/1.1" 500 - via_upstream - "-" 0 91 7 6 "-" "curl "quoted" outbound|8080||x" "5a1b" "cart:8080" "10.0.0.9:8080" inbound|8080|| 127.0.0.6:44021 10.0.0.9:8080 10.0.0.2:40000 outbound_.8080_._.cart.shop.svc.cluster.local default"#.into(),
                own(500, 7.0),
            ),
            // Envoy's own default format names no cluster: the workload's.
            (
                r#"[2026-11-23T10:00:00.123Z] "GET /api/cart HTTP/1.1" 503 UF 0 91 25 - "-" "curl/8.0" "5a1b" "cart:8080" "10.0.0.7:8080""#.into(),
                own(503, 25.0),
            ),
            // ingress-nginx: a request passed to a backend is the backend's
            // to count, whatever it answered, retried or not, IPv6 or not.
            (
                nginx(502, "[blog-www-80] [] 10.1.2.3:8080 150 0.012 502 0d1b5a8e"),
                backend,
            ),
            (nginx(200, "[blog-www-80] [] 10.1.2.3:8080 150 0.012 200"), backend),
            (
                nginx(
                    502,
                    "[default-my-service-80] [] 10.244.2.36:80, 10.244.2.37:80 0, 0 0.004, 0.000 502, 502",
                ),
                backend,
            ),
            (nginx(504, "[shop-web-80] [] [fd00::7]:8080 0 0.511 504"), backend),
            (
                nginx(404, "[upstream-default-backend] [] 127.0.0.1:8181 146 0.001 404"),
                backend,
            ),
            // Before v0.22, no alternative upstream name.
            (nginx(504, "[shop-web-80] 10.244.1.7:8080 0 0.511 504"), backend),
            // A 503 with no upstream tried: the backend has no ready
            // endpoint, or a rate limit answered. Not the controller failing.
            (nginx(503, "[blog-www-80] [] - - - -"), backend),
            (nginx(503, "[blog-www-80] - - - -"), backend),
            // Other answers of the controller's own are its requests.
            (nginx(500, "[blog-www-80] [] - - - - 0d1b5a8e"), own(500, 512.0)),
            (nginx(404, "[] [] - - - -"), own(404, 512.0)),
            (nginx(400, "[] [] - - - -"), own(400, 512.0)),
            // A line ending before the upstream address says nothing of it.
            (nginx(502, "[blog-www-80] []"), own(502, 512.0)),
            (nginx(503, "[blog-www-80]"), own(503, 512.0)),
        ];
        for (line, (status, latency_ms, is_request)) in cases {
            let want = LogSignal {
                level: None,
                status,
                latency_ms,
                is_request,
            };
            assert_eq!(read(&line), Some(want), "{line}");
        }
    }

    #[test]
    fn uvicorn_status_lines_are_requests() {
        let cases: &[(&str, Option<u16>)] = &[
            (
                r#"INFO:     10.0.0.1:52314 - "GET /items/7 HTTP/1.1" 500 Internal Server Error"#,
                Some(500),
            ),
            (
                r#"INFO:     10.244.0.1:40000 - "POST /api/v1/pay?x=1 HTTP/1.1" 200 OK"#,
                Some(200),
            ),
            (
                r#"WARNING:  127.0.0.1:1 - "GET / HTTP/2" 404 Not Found"#,
                Some(404),
            ),
            // Not uvicorn's: no level before the colon, or not a request.
            (r#"Note:     10.0.0.1:1 - "GET / HTTP/1.1" 500 x"#, None),
            (r#"INFO:     Application startup complete."#, None),
            (r#"INFO:     10.0.0.1:1 - "hello" 500 x"#, None),
        ];
        for (line, want) in cases {
            assert_eq!(read(line).and_then(|s| s.status), *want, "{line}");
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
