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

/// One decoded escape: its bytes (1 to 4) and the length of its text.
#[derive(Clone, Copy)]
pub(super) struct Escape {
    bytes: [u8; 4],
    len: u8,
    consumed: u8,
}

impl Escape {
    fn byte(b: u8, consumed: u8) -> Escape {
        Escape {
            bytes: [b, 0, 0, 0],
            len: 1,
            consumed,
        }
    }

    /// Writes the decoded bytes at `at` in `buf`, which has room for four
    /// (all four are written: a fixed-size copy, where copying 1 to 4 bytes
    /// is a call to `memcpy`); returns the offset past the decoded ones.
    #[inline(always)]
    pub(super) fn write_at(&self, buf: &mut [u8], at: usize) -> usize {
        if let Some(dst) = buf.get_mut(at..).and_then(|d| d.first_chunk_mut::<4>()) {
            *dst = self.bytes;
        }
        at + usize::from(self.len)
    }

    /// The length of the escape's text: 2 (`\n`), 6 (`\u00e9`), 12 (a
    /// surrogate pair), or 1 for a backslash that starts no valid escape.
    #[inline]
    pub(super) fn consumed(&self) -> usize {
        usize::from(self.consumed)
    }
}

/// Decodes the escape whose backslash is at `raw[i]`. A `\u` escape of a
/// high surrogate takes the low one that follows it; a lone surrogate is
/// U+FFFD. A backslash that starts no valid escape (not after validation)
/// decodes to itself.
#[inline(always)]
pub(super) fn decode_escape(raw: &[u8], i: usize) -> Escape {
    match raw.get(i + 1).copied() {
        Some(b'u') => decode_unicode(raw, i),
        c => match c.and_then(simple_escape) {
            Some(b) => Escape::byte(b, 2),
            None => Escape::byte(b'\\', 1),
        },
    }
}

/// The byte a two-byte escape stands for, by the byte after its backslash
/// (`n` for `\n`): one load, where a `match` is a jump. Indexed at compile
/// time, where an index out of bounds fails the build.
#[allow(clippy::indexing_slicing)]
const SIMPLE_ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// What the two-byte escape `\c` stands for; `None` when there is none
/// (`\u` included).
#[inline(always)]
pub(super) fn simple_escape(c: u8) -> Option<u8> {
    SIMPLE_ESCAPES
        .get(usize::from(c))
        .copied()
        .filter(|&b| b != 0)
}

/// A `\u` escape at `raw[i]` (see [`decode_escape`]).
#[inline]
pub(super) fn decode_unicode(raw: &[u8], i: usize) -> Escape {
    let Some(hi) = hex4(raw, i + 2) else {
        return Escape::byte(b'\\', 1);
    };
    let (ch, consumed) = if (0xD800..0xDC00).contains(&hi) {
        let lo = (raw.get(i + 6) == Some(&b'\\') && raw.get(i + 7) == Some(&b'u'))
            .then(|| hex4(raw, i + 8))
            .flatten()
            .filter(|lo| (0xDC00..0xE000).contains(lo));
        match lo {
            Some(lo) => (
                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)),
                12,
            ),
            None => (None, 6),
        }
    } else {
        (char::from_u32(hi), 6)
    };
    let mut bytes = [0u8; 4];
    let len = ch
        .unwrap_or(char::REPLACEMENT_CHARACTER)
        .encode_utf8(&mut bytes)
        .len() as u8;
    Escape {
        bytes,
        len,
        consumed,
    }
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
pub(super) fn decode_escapes(raw: &[u8], bytes: &mut Vec<u8>) {
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
        let escape = decode_escape(raw, i);
        out = escape.write_at(bytes, out);
        i += escape.consumed();
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
