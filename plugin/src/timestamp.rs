//! Time: civil-date arithmetic, RFC 3339 formatting, and the parsing of the
//! timestamp shapes records carry (RFC 3339 variants and epoch numbers in
//! seconds, milliseconds, microseconds or nanoseconds).
//!
//! Parsing never panics: out-of-range or garbage input gives `None`, and the
//! caller falls back to the pipeline's event time.

use crate::decimal::parse_f64;
use crate::json::Value;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2).div_euclid(5) + i64::from(day) - 1;
    let doe = yoe * 365 + yoe.div_euclid(4) - yoe.div_euclid(100) + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month 1..=12, day 1..=31).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe.div_euclid(1460) + doe.div_euclid(36_524) - doe.div_euclid(146_096))
        .div_euclid(365);
    let doy = doe - (365 * yoe + yoe.div_euclid(4) - yoe.div_euclid(100));
    let mp = (5 * doy + 2).div_euclid(153);
    let day = doy - (153 * mp + 2).div_euclid(5) + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // month is 1..=12 and day 1..=31 by construction.
    (year, month as u32, day as u32)
}

/// Appends `ts_ns` (nanoseconds since the epoch, UTC) as RFC 3339 with a `Z`
/// offset and the shortest of no, milli-, micro- or nanosecond fraction that is exact.
pub fn write_rfc3339(out: &mut Vec<u8>, ts_ns: i64) {
    Rfc3339Writer::default().write(out, ts_ns);
}

/// Writes RFC 3339 times as [`write_rfc3339`] does, keeping the text of the
/// last whole second: records arrive in time order, many in each second, so
/// most times need only their fraction formatted.
#[derive(Debug, Clone, Default)]
pub struct Rfc3339Writer {
    /// The second whose `YYYY-MM-DDThh:mm:ss` text `head` holds, if any.
    secs: Option<i64>,
    head: [u8; 19],
}

/// Writes `v` as `width` decimal digits into `buf` at `at` (the lowest
/// digits of `v`, zero-padded).
fn put_digits(buf: &mut [u8], at: usize, mut v: u64, width: usize) {
    for i in (at..at + width).rev() {
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
    }
}

impl Rfc3339Writer {
    /// Appends `ts_ns` as [`write_rfc3339`] does.
    pub fn write(&mut self, out: &mut Vec<u8>, ts_ns: i64) {
        let secs = ts_ns.div_euclid(1_000_000_000);
        let nanos = ts_ns.rem_euclid(1_000_000_000);
        if self.secs != Some(secs) {
            self.head = second_text(secs);
            self.secs = Some(secs);
        }
        out.extend_from_slice(&self.head);
        // `.nnnnnnnnn`, shortened as far as it stays exact, and the `Z`.
        let mut tail = *b".000000000Z";
        let n = if nanos == 0 {
            0
        } else if nanos % 1_000_000 == 0 {
            put_digits(&mut tail, 1, nanos.unsigned_abs() / 1_000_000, 3);
            4
        } else if nanos % 1_000 == 0 {
            put_digits(&mut tail, 1, nanos.unsigned_abs() / 1_000, 6);
            7
        } else {
            put_digits(&mut tail, 1, nanos.unsigned_abs(), 9);
            10
        };
        // The `Z` right after the digits kept, and the tail copied whole (a
        // constant length: see `tags::write_kind`), then cut back.
        if let Some(z) = tail.get_mut(n) {
            *z = b'Z';
        }
        let end = out.len() + n + 1;
        out.extend_from_slice(&tail);
        out.truncate(end);
    }
}

/// `YYYY-MM-DDThh:mm:ss` of a second since the epoch (the year clamped to 0..=9999).
fn second_text(secs: i64) -> [u8; 19] {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999);
    let mut buf = *b"0000-00-00T00:00:00";
    // Every field is non-negative here (`year` clamped, the rest from
    // `rem_euclid`), so digits come from unsigned division.
    put_digits(&mut buf, 0, year.unsigned_abs(), 4);
    put_digits(&mut buf, 5, u64::from(month), 2);
    put_digits(&mut buf, 8, u64::from(day), 2);
    put_digits(&mut buf, 11, sod.unsigned_abs() / 3600, 2);
    put_digits(&mut buf, 14, (sod.unsigned_abs() / 60) % 60, 2);
    put_digits(&mut buf, 17, sod.unsigned_abs() % 60, 2);
    buf
}

/// Earliest accepted time (exclusive): the epoch itself is treated as "unset".
const MIN_NS: i64 = 0;

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a fixed-width run of ASCII digits.
fn fixed(b: &[u8], at: usize, width: usize) -> Option<u32> {
    let d = b.get(at..at + width)?;
    d.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parses RFC 3339 and its common variants: `T`, `t` or a space between date
/// and time; 0 to 9 (or more, truncated) fractional digits; `Z`, `z`,
/// `+HH:MM`, `+HHMM`, `+HH`, or no offset (taken as UTC). Returns nanoseconds
/// since the epoch, or `None` for anything else or a time outside
/// 1970-01-01 .. 2262-04-11 (the `i64` nanosecond range).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let year = fixed(b, 0, 4)?;
    let month = fixed(b, 5, 2)?;
    let day = fixed(b, 8, 2)?;
    let (hour, min, sec) = (fixed(b, 11, 2)?, fixed(b, 14, 2)?, fixed(b, 17, 2)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut pos = 19;
    let mut nanos: i64 = 0;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let mut scale = 100_000_000i64;
        let start = pos;
        while let Some(c) = b.get(pos).filter(|c| c.is_ascii_digit()) {
            nanos += i64::from(c - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
        if pos == start {
            return None;
        }
    }
    let offset_s: i64 = match b.get(pos) {
        None => 0,
        Some(b'Z' | b'z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = i64::from(fixed(b, pos + 1, 2)?);
            let rest = b.get(pos + 3..)?;
            let om = match rest {
                [] => 0,
                [b':', m1, m2] | [m1, m2] => i64::from(fixed(&[*m1, *m2], 0, 2)?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec) - offset_s;
    secs.checked_mul(1_000_000_000)?
        .checked_add(nanos)
        .filter(|&ns| ns > MIN_NS)
}

/// Converts an epoch number to nanoseconds, choosing the unit by magnitude:
/// below 1e11 seconds (until year 5138), below 1e14 milliseconds, below 1e17
/// microseconds, else nanoseconds. `int` and `frac` are the digits before and
/// after the decimal point.
fn epoch_from_parts(int: u64, frac: &[u8]) -> Option<i64> {
    let (mul, frac_scale): (u64, u64) = match int {
        0..=99_999_999_999 => (1_000_000_000, 100_000_000),
        100_000_000_000..=99_999_999_999_999 => (1_000_000, 100_000),
        100_000_000_000_000..=99_999_999_999_999_999 => (1_000, 100),
        _ => (1, 0),
    };
    let mut ns = int.checked_mul(mul)?;
    let mut scale = frac_scale;
    for &c in frac {
        if scale == 0 {
            break;
        }
        ns = ns.checked_add(u64::from(c.wrapping_sub(b'0')) * scale)?;
        scale /= 10;
    }
    i64::try_from(ns).ok().filter(|&ns| ns > MIN_NS)
}

/// Parses an epoch number as text (`1714557600`, `1714557600.123456`,
/// `1714557600123`, `1.7145576e9`), unit by magnitude (see [`parse_epoch_f64`]).
pub fn parse_epoch(s: &str) -> Option<i64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let plain = !int.is_empty()
        && int.bytes().all(|c| c.is_ascii_digit())
        && frac.bytes().all(|c| c.is_ascii_digit());
    if plain {
        // Exact: no float rounding for nanosecond-precision text.
        let int: u64 = int.parse().ok()?;
        return epoch_from_parts(int, frac.as_bytes());
    }
    parse_epoch_f64(parse_f64(s)?)
}

/// Converts an epoch value in unknown units to nanoseconds: below 1e11 it is
/// seconds, below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
/// Negative, zero, non-finite or out-of-range values give `None`.
pub fn parse_epoch_f64(v: f64) -> Option<i64> {
    if !v.is_finite() || v <= 0.0 {
        return None;
    }
    let ns = if v < 1e11 {
        v * 1e9
    } else if v < 1e14 {
        v * 1e6
    } else if v < 1e17 {
        v * 1e3
    } else {
        v
    };
    // i64::MAX as f64 rounds up to 2^63, which does not fit: compare strictly.
    (ns < 9.223_372_036_854_775e18)
        .then_some(ns as i64)
        .filter(|&n| n > MIN_NS)
}

/// A timestamp from a record field: an RFC 3339 string, an epoch number, or a
/// string holding an epoch number.
pub fn parse_value(v: &Value<'_>) -> Option<i64> {
    match v {
        Value::Number(n) => parse_epoch(n),
        Value::Str(s) => {
            let t = s.trim();
            if t.bytes().next().is_some_and(|c| c.is_ascii_digit()) && t.contains('-') {
                parse_rfc3339(t)
            } else {
                parse_epoch(t)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    #[test]
    fn rfc3339_parsing() {
        const T: i64 = 1_714_557_600_000_000_000; // 2024-05-01T10:00:00Z
        let cases: &[(&str, Option<i64>)] = &[
            ("2024-05-01T10:00:00Z", Some(T)),
            ("2024-05-01T10:00:00.123456789Z", Some(T + 123_456_789)),
            ("2024-05-01T10:00:00.1Z", Some(T + 100_000_000)),
            ("2024-05-01T10:00:00.1234567891234Z", Some(T + 123_456_789)),
            ("2024-05-01t10:00:00z", Some(T)),
            ("2024-05-01 10:00:00", Some(T)),
            ("2024-05-01 10:00:00.5 ", Some(T + 500_000_000)),
            ("2024-05-01T12:00:00+02:00", Some(T)),
            ("2024-05-01T12:30:00+0230", Some(T)),
            ("2024-05-01T05:00:00-05", Some(T)),
            ("2024-05-01T10:00:00,25Z", Some(T + 250_000_000)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000_000_000)),
            ("2023-02-29T00:00:00Z", None),
            ("2024-13-01T10:00:00Z", None),
            ("2024-05-01T24:00:00Z", None),
            ("2024-05-01T10:00:00.Z", None),
            ("2024-05-01T10:00:00Zjunk", None),
            ("2024-05-01T10:00:00+25:00", None),
            ("2024-05-01", None),
            ("1970-01-01T00:00:00Z", None),
            ("1969-12-31T23:59:59Z", None),
            ("9999-12-31T23:59:59Z", None),
            ("", None),
            ("2024-05-01T10:00:00Z\u{0}", None),
            ("２０２４-05-01T10:00:00Z", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_rfc3339(s), *want, "{s}");
        }
    }

    #[test]
    fn epoch_parsing() {
        const S: i64 = 1_714_557_600;
        const NS: i64 = S * 1_000_000_000;
        let cases: &[(&str, Option<i64>)] = &[
            ("1714557600", Some(NS)),
            ("1714557600.123456789", Some(NS + 123_456_789)),
            ("1714557600.5", Some(NS + 500_000_000)),
            ("1714557600123", Some(NS + 123_000_000)),
            ("1714557600123.5", Some(NS + 123_500_000)),
            ("1714557600123456", Some(NS + 123_456_000)),
            ("1714557600123456789", Some(NS + 123_456_789)),
            ("1.7145576e9", Some(NS)),
            ("0", None),
            ("-5", None),
            ("99999999999999999999999", None),
            ("1e400", None),
            ("abc", None),
            ("", None),
            ("12.3.4", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_epoch(s), *want, "{s}");
        }
        let values: &[(Value<'_>, Option<i64>)] = &[
            (Value::Number("1714557600"), Some(NS)),
            (Value::Str("1714557600000".into()), Some(NS)),
            (Value::Str("2024-05-01T10:00:00Z".into()), Some(NS)),
            (Value::Bool(true), None),
            (Value::Null, None),
        ];
        for (v, want) in values {
            assert_eq!(parse_value(v), *want, "{v:?}");
        }
        assert_eq!(parse_epoch_f64(f64::NAN), None);
        assert_eq!(parse_epoch_f64(1e30), None);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_468, -1, 0, 1, 10_957, 19_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn rfc3339_formatting() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (1_700_000_000_000_000_000, "2023-11-14T22:13:20Z"),
            (1_700_000_000_123_000_000, "2023-11-14T22:13:20.123Z"),
            (1_700_000_000_123_456_000, "2023-11-14T22:13:20.123456Z"),
            (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
        ];
        for (ns, want) in cases {
            let mut out = Vec::new();
            write_rfc3339(&mut out, *ns);
            assert_eq!(std::str::from_utf8(&out).unwrap(), *want);
        }
    }

    #[test]
    fn a_kept_writer_writes_what_a_fresh_one_does() {
        let mut writer = Rfc3339Writer::default();
        let mut ns: i64 = 1_700_000_000_000_000_000;
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let seed = rng.next_u64();
            // Mostly small steps within a second, sometimes back or far.
            ns = match seed % 16 {
                0 => ns - (seed >> 20) as i64 % 5_000_000_000,
                1 => (seed >> 2) as i64,
                2 => ns / 1_000_000_000 * 1_000_000_000,
                _ => ns + (seed >> 40) as i64,
            };
            let (mut kept, mut fresh) = (Vec::new(), Vec::new());
            writer.write(&mut kept, ns);
            write_rfc3339(&mut fresh, ns);
            assert_eq!(kept, fresh, "{ns}");
        }
    }

    #[test]
    fn rfc3339_formatting_matches_format_across_the_range() {
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        for i in 0..20_000 {
            let seed = rng.next_u64();
            let ns = match i % 4 {
                0 => seed as i64,
                1 => (seed % 4_000_000_000_000_000_000) as i64,
                2 => (seed % 4_000_000_000_000_000_000) as i64 / 1_000_000 * 1_000_000,
                _ => (seed % 4_000_000_000_000_000_000) as i64 / 1_000 * 1_000,
            };
            let secs = ns.div_euclid(1_000_000_000);
            let nanos = ns.rem_euclid(1_000_000_000);
            let sod = secs.rem_euclid(86_400);
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let frac = if nanos == 0 {
                String::new()
            } else if nanos % 1_000_000 == 0 {
                format!(".{:03}", nanos / 1_000_000)
            } else if nanos % 1_000 == 0 {
                format!(".{:06}", nanos / 1_000)
            } else {
                format!(".{nanos:09}")
            };
            let want = format!(
                "{:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
                y.clamp(0, 9999) % 10_000,
                sod / 3600,
                sod / 60 % 60,
                sod % 60
            );
            let mut out = Vec::new();
            write_rfc3339(&mut out, ns);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want, "{ns}");
        }
    }
}
