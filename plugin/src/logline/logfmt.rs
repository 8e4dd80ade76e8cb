//! logfmt lines: `key=value` pairs (`level=warn status=503 duration=25ms`).

use super::fields::Fields;
use super::{LineInfo, SCAN_HEAD};
use crate::decimal::parse_f64;

/// `key=value` pairs (values may be quoted).
pub(super) fn read(line: &str) -> LineInfo {
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
            f.take(key, parse_f64(value), Some(value));
        }
        rest = next;
    }
    if pairs < 2 {
        return LineInfo::default();
    }
    f.info()
}
