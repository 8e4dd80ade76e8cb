//! Decoding JSON string bodies: borrowed when there is nothing to decode.

use std::borrow::Cow;

use super::scan::find_backslash;

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
    let mut bytes: Vec<u8> = Vec::with_capacity(raw.len());
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
fn decode_escapes(raw: &[u8], bytes: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let Some(at) = find_backslash(raw, i) else {
            bytes.extend_from_slice(raw.get(i..).unwrap_or(&[]));
            break;
        };
        bytes.extend_from_slice(raw.get(i..at).unwrap_or(&[]));
        i = at;
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
            bytes.push(c);
            i += 2;
            continue;
        }
        let Some(hi) = (raw.get(i + 1) == Some(&b'u'))
            .then(|| hex4(raw, i + 2))
            .flatten()
        else {
            // Not a valid escape (cannot happen after validation): keep it.
            bytes.push(b'\\');
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
        bytes.extend_from_slice(
            ch.unwrap_or(char::REPLACEMENT_CHARACTER)
                .encode_utf8(&mut buf)
                .as_bytes(),
        );
    }
}
