//! Time: civil-date arithmetic and RFC 3339 formatting (and, with
//! normalization, the parsing of the timestamp shapes records carry).

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
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut buf = [0u8; 40];
    let mut n = 0;
    let mut put = |b: u8| {
        if let Some(slot) = buf.get_mut(n) {
            *slot = b;
            n += 1;
        }
    };
    let digits = |v: i64, width: u32, put: &mut dyn FnMut(u8)| {
        for i in (0..width).rev() {
            let d = (v / 10i64.pow(i)).rem_euclid(10);
            put(b'0' + d as u8);
        }
    };
    let year = year.clamp(0, 9999);
    digits(year, 4, &mut put);
    put(b'-');
    digits(i64::from(month), 2, &mut put);
    put(b'-');
    digits(i64::from(day), 2, &mut put);
    put(b'T');
    digits(sod / 3600, 2, &mut put);
    put(b':');
    digits((sod / 60) % 60, 2, &mut put);
    put(b':');
    digits(sod % 60, 2, &mut put);
    if nanos != 0 {
        put(b'.');
        if nanos % 1_000_000 == 0 {
            digits(nanos / 1_000_000, 3, &mut put);
        } else if nanos % 1_000 == 0 {
            digits(nanos / 1_000, 6, &mut put);
        } else {
            digits(nanos, 9, &mut put);
        }
    }
    put(b'Z');
    out.extend_from_slice(buf.get(..n).unwrap_or(&[]));
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
