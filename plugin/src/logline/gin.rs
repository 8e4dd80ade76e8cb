//! Gin's default request log (Go's most used web framework):
//! `[GIN] 2006/01/02 - 15:04:05 | 500 |   12.345ms |   10.0.0.1 | GET      "/path"`.

use super::fields::Fields;
use super::LineInfo;
use crate::decimal::parse_f64;

/// Reads a Gin request line as the pairs `status`, `latency` (a Go duration
/// such as `12.345ms` or `1.2345s`), `method` and `path`; `None` for any other
/// line. The colours Gin adds on a terminal are off when its output is not
/// one, as in a container.
pub(super) fn read(line: &str) -> Option<LineInfo> {
    let rest = line.strip_prefix("[GIN] ")?;
    let mut columns = rest.split('|');
    let (_time, status, latency, _client, request) = (
        columns.next()?,
        columns.next()?,
        columns.next()?,
        columns.next()?,
        columns.next()?,
    );
    let (method, path) = request.trim().split_once(' ')?;
    let mut f = Fields::default();
    for (key, value) in [("status", status.trim()), ("latency", latency.trim())] {
        f.take(key, parse_f64(value), Some(value));
    }
    f.take("method", None, Some(method));
    f.take("path", None, Some(path.trim().trim_matches('"')));
    Some(f.info())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, latency (ms) and request-ness, or `None` for a line that is not Gin's.
    type Reading = Option<(Option<u16>, Option<f64>, bool)>;

    #[test]
    fn gin_lines_give_status_latency_and_request() {
        let cases: &[(&str, Reading)] = &[
            (
                "[GIN] 2026/11/23 - 10:00:00 | 500 |   12.345ms |       10.0.0.1 | GET      \"/api/items\"\n",
                Some((Some(500), Some(12.345), true)),
            ),
            (
                "[GIN] 2026/11/23 - 10:00:00 | 200 |     1.2345s |  ::1 | POST     \"/api/items\"",
                Some((Some(200), Some(1234.5), true)),
            ),
            (
                "[GIN] 2026/11/23 - 10:00:00 | 404 |     512.3µs |  10.0.0.1 | DELETE   \"/a|b\"",
                Some((Some(404), Some(0.5123), true)),
            ),
            // Gin's debug lines and anything else are not request lines.
            ("[GIN-debug] GET /ping --> main.main.func1 (3 handlers)", None),
            ("[GIN] 2026/11/23 - 10:00:00 | 500", None),
        ];
        for (line, want) in cases {
            let got = read(line).map(|i| {
                let s = i.signal;
                (
                    s.status,
                    s.latency_ms.map(|v| (v * 1e4).round() / 1e4),
                    s.is_request,
                )
            });
            assert_eq!(got, *want, "{line}");
        }
    }
}
