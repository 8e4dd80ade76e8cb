//! Reading numbers: `str::parse::<f64>`, with a shortcut for the plain
//! decimals records carry (`0.045`, `200`, `-12.5`).

/// Powers of ten a plain decimal is divided by (all exact in an `f64`).
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `s.parse::<f64>().ok()`: the same value, bit for bit, for every `s`.
///
/// A plain decimal (an optional `-`, digits, optionally `.` and more
/// digits, at most 15 digits in all) is its digits as an integer divided by
/// a power of ten. Both are exact in an `f64` (below 2^53 and at most
/// 10^15), so the one correctly rounded division gives the correctly
/// rounded value, as the standard parse does, at a fraction of its
/// instructions. Anything else goes to the standard parse.
#[inline]
pub fn parse_f64(s: &str) -> Option<f64> {
    match plain_decimal(s.as_bytes()) {
        Some(v) => Some(v),
        None => s.parse().ok(),
    }
}

#[inline]
fn plain_decimal(b: &[u8]) -> Option<f64> {
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    // 15 digits and a point at most.
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut point = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => mantissa = mantissa * 10 + u64::from(c - b'0'),
            b'.' if point.is_none() && i > 0 => point = Some(i),
            _ => return None,
        }
    }
    let scale = match point {
        // Digits on both sides of the point.
        Some(p) => digits.len().checked_sub(p + 1).filter(|&k| k > 0)?,
        // 16 digits without a point may pass 2^53.
        None if digits.len() > 15 => return None,
        None => 0,
    };
    let v = mantissa as f64 / POW10.get(scale)?;
    Some(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    fn same(s: &str) {
        let want = s.parse::<f64>().ok();
        let got = parse_f64(s);
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{s:?}");
    }

    #[test]
    fn plain_decimals_read_as_the_standard_parse_reads_them() {
        for s in [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "200",
            "0.045",
            "-12.5",
            "007",
            "1.",
            ".5",
            "-.5",
            "+1",
            "1e3",
            "1E-3",
            "1.5e2",
            "inf",
            "-inf",
            "NaN",
            "nan",
            "",
            "-",
            ".",
            "1.2.3",
            " 1",
            "1 ",
            "1_0",
            "0x10",
            "123456789012345",
            "1234567890123456",
            "12345678901234567",
            "0.123456789012345",
            "1.23456789012345",
            "9007199254740993",
            "999999999999999.9",
            "0.1",
            "0.3",
            "2.675",
            "--1",
            "1-",
        ] {
            same(s);
        }
        let mut rng = Xorshift(0x5eed_f10a7);
        let alphabet = b"0123456789.-e";
        for _ in 0..200_000 {
            let len = (rng.next_u64() % 19) as usize;
            let s: String = (0..len)
                .map(|_| {
                    let r = (rng.next_u64() >> 33) as usize;
                    // Mostly digits, so most strings are numbers.
                    char::from(
                        alphabet[if r % 4 == 0 {
                            r % alphabet.len()
                        } else {
                            r % 10
                        }],
                    )
                })
                .collect();
            same(&s);
        }
    }
}
