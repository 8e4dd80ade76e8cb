//! Byte scanning shared by the validating parse and the lookups: whitespace,
//! and the bytes that end a plain run inside a string.

#[inline]
pub(super) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The offset of the first `"` or `\\` (and, when `CONTROL`, byte below
/// 0x20) at or after `from`. Strings are short, so eight bytes at a time in
/// a register beat a vector search's setup; the lowest flagged byte of each
/// test is exact (borrows only run upwards from a true match).
#[inline]
pub(super) fn find_special<const CONTROL: bool>(text: &[u8], from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut pos = from;
    let tail = loop {
        let Some(chunk) = text.get(pos..).and_then(|r| r.first_chunk::<8>()) else {
            break text.get(pos..)?;
        };
        let v = u64::from_le_bytes(*chunk);
        let q = v ^ (LO * u64::from(b'"'));
        let b = v ^ (LO * u64::from(b'\\'));
        let mut m = (q.wrapping_sub(LO) & !q) | (b.wrapping_sub(LO) & !b);
        if CONTROL {
            m |= v.wrapping_sub(LO * 0x20) & !v;
        }
        let m = m & HI;
        if m != 0 {
            return Some(pos + (m.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    };
    tail.iter()
        .position(|&c| c == b'"' || c == b'\\' || (CONTROL && c < 0x20))
        .map(|i| pos + i)
}

/// The offset of the first `\\` at or after `from`, eight bytes at a time
/// as [`find_special`] reads them.
#[inline]
pub(super) fn find_backslash(text: &[u8], from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut pos = from;
    let tail = loop {
        let Some(chunk) = text.get(pos..).and_then(|r| r.first_chunk::<8>()) else {
            break text.get(pos..)?;
        };
        let b = u64::from_le_bytes(*chunk) ^ (LO * u64::from(b'\\'));
        let m = b.wrapping_sub(LO) & !b & HI;
        if m != 0 {
            return Some(pos + (m.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    };
    tail.iter().position(|&c| c == b'\\').map(|i| pos + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finders_find_the_first_special_byte() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x00, b'{'];
        for len in 0..40 {
            for _ in 0..200 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly plain bytes, so specials sit anywhere.
                        let r = (seed >> 33) as usize % 40;
                        alphabet.get(r).copied().unwrap_or(b'x')
                    })
                    .collect();
                for from in 0..=len + 1 {
                    let naive = |control: bool| {
                        text.get(from..).and_then(|r| {
                            r.iter()
                                .position(|&c| c == b'"' || c == b'\\' || (control && c < 0x20))
                                .map(|i| from + i)
                        })
                    };
                    assert_eq!(
                        find_special::<true>(&text, from),
                        naive(true),
                        "{text:?} {from}"
                    );
                    assert_eq!(
                        find_special::<false>(&text, from),
                        naive(false),
                        "{text:?} {from}"
                    );
                    let backslash = text
                        .get(from..)
                        .and_then(|r| r.iter().position(|&c| c == b'\\').map(|i| from + i));
                    assert_eq!(find_backslash(&text, from), backslash, "{text:?} {from}");
                }
            }
        }
    }
}
