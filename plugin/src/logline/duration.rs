//! Latencies: which keys name one (and in what unit a bare number under them
//! is), and duration strings (`"250ms"`, `"0.25s"`, `"1m2.5s"`).

use crate::decimal::parse_f64;

/// The names a latency key starts with (lowercase).
pub(super) const LATENCY_BASES: [&str; 10] = [
    "latency",
    "duration",
    "response_time",
    "request_time",
    "upstream_response_time",
    "elapsed",
    "took",
    "responsetime",
    "request_duration",
    "http.duration",
];
/// The unit suffixes after a [`LATENCY_BASES`] name, with the multiplier
/// that turns a bare number under the key into milliseconds.
pub(super) const LATENCY_UNITS: [(&str, f64); 16] = [
    ("", 1.0),
    ("_ms", 1.0),
    ("ms", 1.0),
    ("_millis", 1.0),
    // MongoDB's `durationMillis`.
    ("millis", 1.0),
    // ASP.NET Core's `ElapsedMilliseconds`.
    ("milliseconds", 1.0),
    ("_milliseconds", 1.0),
    ("_us", 1e-3),
    ("_µs", 1e-3),
    ("_micros", 1e-3),
    ("_ns", 1e-6),
    ("_nanos", 1e-6),
    ("_s", 1e3),
    ("_sec", 1e3),
    ("_secs", 1e3),
    ("_seconds", 1e3),
];

/// If `key` names a latency, the multiplier that turns a bare number under it
/// into milliseconds, and whether the key names no unit of its own.
pub(super) fn latency_key(key: &[u8]) -> Option<(f64, bool)> {
    for base in LATENCY_BASES.iter() {
        if let Some(suffix) = key.strip_prefix(base.as_bytes()) {
            for (unit, mul) in LATENCY_UNITS.iter() {
                if suffix == unit.as_bytes() {
                    if unit.is_empty() && matches!(*base, "request_time" | "upstream_response_time")
                    {
                        return Some((1e3, true));
                    }
                    return Some((*mul, unit.is_empty()));
                }
            }
        }
    }
    None
}

/// Parses a duration string into milliseconds: `250ms`, `0.25s`, `250µs`,
/// `250us`, `15ns`, `1m2.5s`, `1h`; a bare number is multiplied by `bare_mul`.
pub fn parse_duration_ms(s: &str, bare_mul: f64) -> Option<f64> {
    let s = s.trim();
    if let Some(v) = parse_f64(s) {
        return Some(v * bare_mul).filter(|v| v.is_finite());
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    let mut any = false;
    while i < b.len() {
        let start = i;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
            i += 1;
        }
        let num = parse_f64(s.get(start..i)?)?;
        let ustart = i;
        while b.get(i).is_some_and(|c| !c.is_ascii_digit() && *c != b'.') {
            i += 1;
        }
        total += num * unit_ms(s.get(ustart..i)?.trim())?;
        any = true;
    }
    (any && total.is_finite()).then_some(total)
}

/// Milliseconds in one `unit` of a duration (`ms`, `s`, `µs`, ...).
pub(crate) fn unit_ms(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-6,
        "us" | "µs" | "μs" => 1e-3,
        "ms" => 1.0,
        "s" | "sec" | "secs" => 1e3,
        "m" | "min" => 60e3,
        "h" => 3600e3,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Option<f64>)] = &[
            ("250ms", Some(250.0)),
            ("0.25s", Some(250.0)),
            ("250µs", Some(0.25)),
            ("250μs", Some(0.25)),
            ("1h", Some(3_600_000.0)),
            ("1m2.5s", Some(62_500.0)),
            ("15", Some(15.0)),
            ("fast", None),
            ("", None),
            ("12parsecs", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration_ms(s, 1.0), *want, "{s}");
        }
    }
}
