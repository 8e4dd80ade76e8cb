//! Time formats the simulated tools write (RFC 3339 at several precisions,
//! epoch milliseconds, epoch float seconds, nginx `$time_local`, log4j-style
//! text) and the one parser the CLI needs (RFC 3339 in UTC).

use edgeheal_plugin::timestamp::{civil_from_days, days_from_civil};
use std::fmt::Write as _;

/// Nanoseconds per second.
pub const NS_PER_S: i64 = 1_000_000_000;

/// Fraction digits of an RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `2025-03-03T12:00:00Z` (Kubernetes events).
    Seconds,
    /// `.123` (JSON app logs).
    Millis,
    /// `.123456` (Vector metrics).
    Micros,
    /// `.123456789` (container runtime log times).
    Nanos,
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
}

fn civil(ts_ns: i64) -> Civil {
    let secs = ts_ns.div_euclid(NS_PER_S);
    let nanos = ts_ns.rem_euclid(NS_PER_S);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: (sod / 60) % 60,
        second: sod % 60,
        nanos,
    }
}

/// Appends `ts_ns` as RFC 3339 UTC (`Z`) with the given fraction digits.
pub fn push_rfc3339(out: &mut String, ts_ns: i64, precision: Precision) {
    let c = civil(ts_ns);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    let _ = match precision {
        Precision::Seconds => Ok(()),
        Precision::Millis => write!(out, ".{:03}", c.nanos / 1_000_000),
        Precision::Micros => write!(out, ".{:06}", c.nanos / 1_000),
        Precision::Nanos => write!(out, ".{:09}", c.nanos),
    };
    out.push('Z');
}

/// `ts_ns` as RFC 3339 UTC with the given precision.
pub fn rfc3339(ts_ns: i64, precision: Precision) -> String {
    let mut s = String::with_capacity(32);
    push_rfc3339(&mut s, ts_ns, precision);
    s
}

/// Appends nginx `$time_local` in UTC: `03/Mar/2025:12:00:00 +0000`.
pub fn push_nginx_time(out: &mut String, ts_ns: i64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(ts_ns);
    let mon = MONTHS
        .get(c.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    let _ = write!(
        out,
        "{:02}/{mon}/{:04}:{:02}:{:02}:{:02} +0000",
        c.day, c.year, c.hour, c.minute, c.second
    );
}

/// Appends a log4j/logback-style time: `2025-03-03 12:00:00.123`.
pub fn push_text_time(out: &mut String, ts_ns: i64) {
    let c = civil(ts_ns);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.nanos / 1_000_000
    );
}

/// Epoch milliseconds.
pub fn epoch_ms(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(1_000_000)
}

/// Appends epoch seconds as a float with microsecond digits: `1741003200.123456`.
pub fn push_epoch_float(out: &mut String, ts_ns: i64) {
    let _ = write!(
        out,
        "{}.{:06}",
        ts_ns.div_euclid(NS_PER_S),
        ts_ns.rem_euclid(NS_PER_S) / 1_000
    );
}

/// Parses an RFC 3339 timestamp in UTC (`Z` or `+00:00`), with an optional
/// fraction of up to nine digits, into nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 9 {
                nanos = nanos * 10 + i64::from(c - b'0');
                digits += 1;
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        nanos *= 10i64.pow(9 - digits);
    }
    match s.get(i..)? {
        "Z" | "z" | "+00:00" | "-00:00" => {}
        _ => return None,
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second) * NS_PER_S + nanos)
}

/// The current wall-clock time in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_741_003_200_123_456_789; // 2025-03-03T12:00:00.123456789Z

    #[test]
    fn formats() {
        let mut nginx = String::new();
        push_nginx_time(&mut nginx, T);
        let mut text = String::new();
        push_text_time(&mut text, T);
        let mut float = String::new();
        push_epoch_float(&mut float, T);
        let cases: &[(&str, String)] = &[
            ("2025-03-03T12:00:00Z", rfc3339(T, Precision::Seconds)),
            ("2025-03-03T12:00:00.123Z", rfc3339(T, Precision::Millis)),
            ("2025-03-03T12:00:00.123456Z", rfc3339(T, Precision::Micros)),
            (
                "2025-03-03T12:00:00.123456789Z",
                rfc3339(T, Precision::Nanos),
            ),
            ("03/Mar/2025:12:00:00 +0000", nginx),
            ("2025-03-03 12:00:00.123", text),
            ("1741003200.123456", float),
            ("1741003200123", epoch_ms(T).to_string()),
        ];
        for (want, got) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn parses() {
        let cases: &[(&str, Option<i64>)] = &[
            ("2025-03-03T12:00:00.123456789Z", Some(T)),
            ("2025-03-03T12:00:00Z", Some(1_741_003_200 * NS_PER_S)),
            (
                "2025-03-03T12:00:00.5+00:00",
                Some(1_741_003_200_500_000_000),
            ),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2025-03-03T12:00:00+02:00", None),
            ("2025-13-03T12:00:00Z", None),
            ("yesterday", None),
            ("2025-03-03T12:00:00.Z", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_rfc3339(input), *want, "{input}");
        }
    }
}
