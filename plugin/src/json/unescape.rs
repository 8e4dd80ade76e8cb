//! Decoding JSON string bodies: borrowed when there is nothing to decode.

use std::borrow::Cow;

use super::scan::{backslash_in, find_backslash};

pub(super) fn lossy(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let h = raw.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + char::from(c).to_digit(16)?;
    }
    Some(v)
}

/// Decodes the body of a JSON string (between the quotes). Borrowed when it
/// has no escapes and is valid UTF-8; lone surrogates become U+FFFD and
/// invalid UTF-8 is decoded lossily.
pub fn unescape(raw: &[u8]) -> Cow<'_, str> {
    if find_backslash(raw, 0).is_none() {
        return lossy(raw);
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(raw.len() + 8);
    decode_escapes(raw, &mut bytes);
    match String::from_utf8(bytes) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// As [`unescape`], decoding into `buf` (cleared first) when `raw` has
/// escapes, so a caller that keeps `buf` allocates only while it grows.
pub(crate) fn unescape_in<'b>(raw: &'b [u8], buf: &'b mut Vec<u8>) -> Cow<'b, str> {
    if find_backslash(raw, 0).is_none() {
        return lossy(raw);
    }
    buf.clear();
    decode_escapes(raw, buf);
    lossy(buf)
}

/// Appends the decoded body of a JSON string to `bytes`.
///
/// Decoding never lengthens the text (an escape of 2, 6 or 12 bytes becomes
/// 1 to 4), so `bytes` is grown once by `raw.len()` plus a word of slack and
/// plain runs are copied a word at a time, overlapping what the next escape
/// overwrites; the slack is cut off at the end.
fn decode_escapes(raw: &[u8], bytes: &mut Vec<u8>) {
    let start = bytes.len();
    bytes.resize(start + raw.len() + 8, 0);
    let mut out = start;
    let mut i = 0;
    loop {
        // The plain run from `i`, eight bytes at a time.
        let plain = loop {
            let (Some(word), Some(dst)) = (
                raw.get(i..).and_then(|r| r.first_chunk::<8>()),
                bytes.get_mut(out..).and_then(|d| d.first_chunk_mut::<8>()),
            ) else {
                break None;
            };
            *dst = *word;
            if let Some(k) = backslash_in(*word) {
                break Some(k);
            }
            i += 8;
            out += 8;
        };
        let run = match plain {
            Some(k) => k,
            // Fewer than eight bytes left: to the next backslash or the end.
            None => {
                let rest = raw.get(i..).unwrap_or(&[]);
                let k = rest.iter().position(|&c| c == b'\\').unwrap_or(rest.len());
                if let (Some(dst), Some(src)) = (bytes.get_mut(out..out + k), rest.get(..k)) {
                    dst.copy_from_slice(src);
                }
                k
            }
        };
        i += run;
        out += run;
        if i >= raw.len() {
            break;
        }
        let mut put = |c: &[u8]| {
            if let Some(dst) = bytes.get_mut(out..out + c.len()) {
                dst.copy_from_slice(c);
            }
            out += c.len();
        };
        let simple = match raw.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            put(&[c]);
            i += 2;
            continue;
        }
        let Some(hi) = (raw.get(i + 1) == Some(&b'u'))
            .then(|| hex4(raw, i + 2))
            .flatten()
        else {
            // Not a valid escape (cannot happen after validation): keep it.
            put(b"\\");
            i += 1;
            continue;
        };
        i += 6;
        let ch = if (0xD800..0xDC00).contains(&hi) {
            let lo = (raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u'))
                .then(|| hex4(raw, i + 2))
                .flatten()
                .filter(|lo| (0xDC00..0xE000).contains(lo));
            match lo {
                Some(lo) => {
                    i += 6;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                }
                None => None,
            }
        } else {
            char::from_u32(hi)
        };
        let mut buf = [0u8; 4];
        put(ch
            .unwrap_or(char::REPLACEMENT_CHARACTER)
            .encode_utf8(&mut buf)
            .as_bytes());
    }
    bytes.truncate(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    /// Random string bodies of plain ASCII, multi-byte UTF-8 and every kind
    /// of escape, at every length and position around the word size, decode
    /// as serde_json decodes them, borrowed or into a reused buffer.
    #[test]
    fn decoding_agrees_with_serde_json() {
        let pieces = [
            "a",
            "bc",
            "é",
            "😀",
            " ",
            r#"\""#,
            r#"\\"#,
            r#"\/"#,
            r#"\b"#,
            r#"\f"#,
            r#"\n"#,
            r#"\r"#,
            r#"\t"#,
            r#"\u00e9"#,
            r#"\u0041"#,
            r#"\ud83d\ude00"#,
            r#"\uFFFF"#,
        ];
        let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
        let mut buf = b"left over".to_vec();
        for len in 0..48 {
            for _ in 0..100 {
                let mut raw = String::new();
                for _ in 0..len {
                    // Plain pieces more often than escapes.
                    let r = (rng.next_u64() >> 33) as usize % (pieces.len() + 6);
                    raw.push_str(pieces.get(r).copied().unwrap_or("x"));
                }
                let want: String = serde_json::from_str(&format!("\"{raw}\"")).unwrap();
                assert_eq!(unescape(raw.as_bytes()), want, "{raw}");
                assert_eq!(unescape_in(raw.as_bytes(), &mut buf), want, "{raw}");
            }
        }
    }

    #[test]
    fn what_serde_json_rejects_decodes_leniently() {
        let cases: &[(&[u8], &str)] = &[
            // Lone surrogates become U+FFFD, a pair split by text too.
            (br"a\ud800b", "a\u{FFFD}b"),
            (br"\udc00", "\u{FFFD}"),
            (br"\ud83dx\ude00", "\u{FFFD}x\u{FFFD}"),
            // An escape cut by the end, or not an escape, is kept as text.
            (br"ab\", "ab\\"),
            (br"a\u12", "a\\u12"),
            (br"01234567\q", "01234567\\q"),
            // Invalid UTF-8 is decoded lossily.
            (b"\xff\\n\xfe", "\u{FFFD}\n\u{FFFD}"),
        ];
        let mut buf = Vec::new();
        for (raw, want) in cases {
            assert_eq!(unescape(raw), *want, "{raw:?}");
            assert_eq!(unescape_in(raw, &mut buf), *want, "{raw:?}");
        }
    }
}
