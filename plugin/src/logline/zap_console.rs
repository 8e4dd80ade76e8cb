//! zap's console encoder (Go: `zap.NewDevelopment`, controller-runtime's and
//! kubebuilder operators' `--zap-devel` / `--zap-encoder=console`): columns
//! separated by tabs, `time  LEVEL  [logger]  [caller]  message`, then the
//! context fields as one JSON object after the last tab:
//!
//! ```text
//! 2026-11-24T10:00:00.000Z\tERROR\tserver/http.go:87\trequest failed\t{"method": "GET", "status": 503, "latency": "250ms"}
//! ```
//!
//! (each `\t` a tab).

use super::fields::zap_console_fields;
use super::LineInfo;
use crate::json::{Record, RecordIndex};

/// zap's level names (its capital and lowercase level encoders).
const LEVELS: [&str; 7] = ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"];

/// Reads a zap console line: its level column (the first or, after the
/// time, the second) and its context object, as a zap JSON line's fields
/// (a bare duration below 1000 under a key naming no unit is float seconds;
/// the development config writes durations as strings, `"250ms"`). `None`
/// when the line does not end in a JSON object after a tab or has no zap
/// level in its first two columns (coloured levels included: they carry
/// escape codes).
pub(super) fn read(line: &str, index: &mut RecordIndex) -> Option<LineInfo> {
    let line = line.trim_end();
    if !line.ends_with('}') {
        return None;
    }
    let (head, context) = line.rsplit_once('\t')?;
    if !context.starts_with('{') {
        return None;
    }
    let mut columns = head.split('\t');
    let level = [columns.next(), columns.next()]
        .into_iter()
        .flatten()
        .find(|c| LEVELS.iter().any(|l| c.trim().eq_ignore_ascii_case(l)))?;
    let context = Record::parse_in(context.as_bytes(), index).ok()?;
    Some(zap_console_fields(level, &context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::LogLevel::{self, *};

    /// Level, status, latency (ms), request-ness; `None` for a line that is not zap's.
    type Reading = Option<(Option<LogLevel>, Option<u16>, Option<f64>, bool)>;

    #[test]
    fn zap_console_lines_give_level_and_context() {
        let cases: &[(&str, Reading)] = &[
            (
                "2026-11-24T10:00:00.000Z\tERROR\tserver/http.go:87\trequest failed\t{\"method\": \"GET\", \"path\": \"/cart\", \"status\": 503, \"latency\": \"250ms\"}",
                Some((Some(Error), Some(503), Some(250.0), true)),
            ),
            // A logger name column, lowercase levels, trailing whitespace.
            (
                "2026-11-24T10:00:00.000Z\tinfo\thttp\tserver/http.go:87\tdone\t{\"status\": 200, \"duration\": \"1.5s\"} \n",
                Some((Some(Info), Some(200), Some(1500.0), true)),
            ),
            // The production config's float seconds.
            (
                "1.7959552e+09\tWARN\tslow\t{\"status\": 200, \"latency\": 0.25, \"method\": \"POST\"}",
                Some((Some(Warn), Some(200), Some(250.0), true)),
            ),
            // No time column; a DPANIC; controller-runtime's reconciler error.
            (
                "DPANIC\tcontroller\tboom\t{\"controller\": \"cart\"}",
                Some((Some(Fatal), None, None, false)),
            ),
            (
                "2026-11-24T10:00:00Z\tERROR\tReconciler error\t{\"controller\": \"cart\", \"namespace\": \"shop\", \"name\": \"x\", \"reconcileID\": \"3f\", \"error\": \"conflict\"}",
                Some((Some(Error), None, None, false)),
            ),
            // Not zap's: no level column, no tab, not an object, bad JSON,
            // a level past the second column, a coloured level.
            ("2026-11-24T10:00:00Z\tstarted\t{\"status\": 500}", None),
            ("ERROR {\"status\": 500}", None),
            ("2026-11-24T10:00:00Z\tERROR\tfailed\t[1, 2]", None),
            ("2026-11-24T10:00:00Z\tERROR\tfailed\t{\"status\": }", None),
            ("a\tb\tERROR\t{\"status\": 500}", None),
            ("2026-11-24T10:00:00Z\t\u{1b}[31mERROR\u{1b}[0m\tfailed\t{\"status\": 500}", None),
            ("", None),
        ];
        let mut index = RecordIndex::new();
        for (line, want) in cases {
            let got = read(line, &mut index).map(|i| {
                let s = i.signal;
                (s.level, s.status, s.latency_ms, s.is_request)
            });
            assert_eq!(got, *want, "{line:?}");
        }
    }
}
