//! Writing JSON: string literals, and a record with its `edgeheal` member
//! spliced in (or stripped) while every other byte stays as it was.

use super::scan::find_special;
use super::{Member, Record, TAG_KEY};

/// Appends `s` to `out` as a JSON string literal (quotes included), escaping
/// `"`, `\\` and control characters.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Appends `bytes` as [`write_str`] appends `String::from_utf8_lossy(bytes)`
/// (each invalid sequence a U+FFFD), without building that string.
pub(crate) fn write_lossy_str(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        write_str_body(out, chunk.valid());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(
                char::REPLACEMENT_CHARACTER
                    .encode_utf8(&mut [0; 4])
                    .as_bytes(),
            );
        }
    }
    out.push(b'"');
}

/// How many bytes [`write_lossy_str`] appends for `bytes`.
pub(crate) fn lossy_str_len(bytes: &[u8]) -> usize {
    let mut len = 2;
    for chunk in bytes.utf8_chunks() {
        len += chunk.valid().bytes().map(escaped_len).sum::<usize>();
        if !chunk.invalid().is_empty() {
            len += char::REPLACEMENT_CHARACTER.len_utf8();
        }
    }
    len
}

/// How many bytes [`write_str_body`] writes for the byte `b`.
fn escaped_len(b: u8) -> usize {
    match b {
        b'"' | b'\\' | b'\n' | b'\t' | b'\r' | 0x08 | 0x0c => 2,
        0..=0x1f => 6,
        _ => 1,
    }
}

/// Appends `s` escaped as [`write_str`] does, without the quotes (escaping
/// is per byte, so pieces written one after the other make one string).
pub(crate) fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Names (pods, workloads, namespaces) rarely need escaping: look for a
    // byte that does eight at a time, then copy them in one go.
    if find_special::<true>(bytes, 0).is_none() {
        out.extend_from_slice(bytes);
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(from..i).unwrap_or(&[]));
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
        } else {
            out.extend_from_slice(short);
        }
        from = i + 1;
    }
    out.extend_from_slice(bytes.get(from..).unwrap_or(&[]));
}

/// Writes `record` to `out` with every top-level member named `key` removed
/// (with one separating comma each), all other bytes exactly as they were.
pub fn strip(record: &Record<'_>, key: &str, out: &mut Vec<u8>) {
    let rest = write_head(record, key, false, out);
    out.extend_from_slice(record.text.get(rest..).unwrap_or(&[]));
}

/// Writes `record` to `out` with every top-level `edgeheal` member removed and
/// `"edgeheal":<tags>` added as the last member. All other bytes (whitespace,
/// key order, number text, escapes) are kept; when the record had no
/// `edgeheal` member, removing the added one gives back the input exactly.
pub fn splice(record: &Record<'_>, tags: &[u8], out: &mut Vec<u8>) {
    splice_with(record, out, |out| out.extend_from_slice(tags));
}

/// [`splice`], the tags written straight into `out` by `write_tags` (no
/// copy through a buffer of their own).
pub(crate) fn splice_with(
    record: &Record<'_>,
    out: &mut Vec<u8>,
    write_tags: impl FnOnce(&mut Vec<u8>),
) {
    let rest = write_head(record, TAG_KEY, true, out);
    write_tags(out);
    // Mostly the closing `}` alone: stored, not copied (see
    // `tags::write_kind`).
    match record.text.get(rest..).unwrap_or(&[]) {
        [b] => out.push(*b),
        tail => out.extend_from_slice(tail),
    }
}

/// Writes `record` up to where its tag member goes, leaving out the
/// top-level members named `key`; with `tags`, then the separator and
/// `"edgeheal":`. Returns where the rest of the text starts (written after
/// the tags).
fn write_head(record: &Record<'_>, key: &str, tags: bool, out: &mut Vec<u8>) -> usize {
    let text = record.text;
    out.reserve(text.len() + if tags { TAGS_ROOM } else { 0 });
    let removed = |m: &Member| record.key_matches(m, key);
    let members = record.top();
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        // `{ ... }` with no members: insert right after the `{`.
        out.extend_from_slice(text.get(..=record.open).unwrap_or(&[]));
        if tags {
            out.extend_from_slice(TAG_MEMBER);
        }
        return record.open + 1;
    };
    let (first_key, last_end) = (first.key_start as usize, last.value_end as usize);
    if tags && !members.iter().any(removed) {
        // Common case: one copy up to the end of the last value, then the tags.
        out.extend_from_slice(text.get(..last_end).unwrap_or(&[]));
        out.push(b',');
        out.extend_from_slice(TAG_MEMBER);
        return last_end;
    }
    out.extend_from_slice(text.get(..first_key).unwrap_or(&[]));
    let mut wrote_any = false;
    let mut prev_end: Option<usize> = None;
    for m in members {
        let (key_start, value_end) = (m.key_start as usize, m.value_end as usize);
        if !removed(m) {
            if wrote_any {
                // The separator that preceded this member in the text: `ws , ws`.
                let sep_start = prev_end.unwrap_or(key_start);
                out.extend_from_slice(text.get(sep_start..key_start).unwrap_or(b","));
            }
            out.extend_from_slice(text.get(key_start..value_end).unwrap_or(&[]));
            wrote_any = true;
        }
        prev_end = Some(value_end);
    }
    if tags {
        if wrote_any {
            out.push(b',');
        }
        out.extend_from_slice(TAG_MEMBER);
    }
    last_end
}

/// Room reserved for the tags (the buffer grows when they need more).
const TAGS_ROOM: usize = 1024;

/// The tag member's key and colon.
const TAG_MEMBER: &[u8] = b"\"edgeheal\":";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Record, TAG_KEY};

    fn spliced(input: &str, tags: &str) -> String {
        let rec = Record::parse(input.as_bytes()).unwrap();
        let mut out = Vec::new();
        splice(&rec, tags.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    /// The lossy writer gives what escaping `from_utf8_lossy`'s string
    /// gives, and its length is known before writing.
    #[test]
    fn lossy_strings_are_written_as_lossy_decoding_and_escaping_would() {
        let mut rng = crate::test_rng::Xorshift(0x2545_f491_4f6c_dd1d);
        let mut inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"plain".to_vec(),
            b"\x01\"\\\n\t\r\x08\x0c\x1f".to_vec(),
            vec![
                0xff, b'a', 0xc3, 0xa9, 0xe2, 0x82, b'x', 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80,
            ],
        ];
        for _ in 0..2000 {
            let len = (rng.next_u64() % 40) as usize;
            // Bytes from a small alphabet of ASCII, controls, and pieces of
            // multi-byte sequences, so invalid and valid runs interleave.
            const ALPHABET: &[u8] = b"a\"\\\x00\x1f\n\xc3\xa9\xe2\x82\xac\xf0\x9f\xff\x80";
            let bytes = (0..len)
                .map(|_| ALPHABET[(rng.next_u64() % ALPHABET.len() as u64) as usize])
                .collect();
            inputs.push(bytes);
        }
        for bytes in &inputs {
            let mut want = Vec::new();
            write_str(&mut want, &String::from_utf8_lossy(bytes));
            let mut got = vec![b'x'];
            write_lossy_str(&mut got, bytes);
            assert_eq!(&got[1..], &want[..], "{bytes:?}");
            assert_eq!(lossy_str_len(bytes), want.len(), "{bytes:?}");
        }
    }

    #[test]
    fn splice_cases() {
        let cases: &[(&str, &str)] = &[
            ("{}", r#"{"edgeheal":{}}"#),
            ("{ }", r#"{"edgeheal":{} }"#),
            (r#"{"a":1}"#, r#"{"a":1,"edgeheal":{}}"#),
            ("{\"a\" : 1.50e3 }\n", "{\"a\" : 1.50e3,\"edgeheal\":{} }\n"),
            (r#"{"edgeheal":1}"#, r#"{"edgeheal":{}}"#),
            (r#"{"edgeheal":1,"a":2}"#, r#"{"a":2,"edgeheal":{}}"#),
            (r#"{"a":2, "edgeheal":1}"#, r#"{"a":2,"edgeheal":{}}"#),
            (
                r#"{"a":1, "edgeheal":{"x":[1]}, "b":"\u00e9", "edgeheal":null}"#,
                r#"{"a":1, "b":"\u00e9","edgeheal":{}}"#,
            ),
            (r#"{"edge\u0068eal":1,"a":2}"#, r#"{"a":2,"edgeheal":{}}"#),
            (
                r#"  {"a":{"edgeheal":1}}  "#,
                r#"  {"a":{"edgeheal":1},"edgeheal":{}}  "#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(spliced(input, "{}"), *want, "input {input}");
        }
    }

    #[test]
    fn strip_undoes_splice() {
        for input in ["{}", "{ }", " {\"a\":1 } \n", "{\"a\":[1,{}],\"b\":\"x\"}"] {
            let rec = Record::parse(input.as_bytes()).unwrap();
            let mut out = Vec::new();
            splice(&rec, br#"{"k":1}"#, &mut out);
            let rec2 = Record::parse(&out).unwrap();
            let mut back = Vec::new();
            strip(&rec2, TAG_KEY, &mut back);
            assert_eq!(back, input.as_bytes());
        }
    }

    #[test]
    fn write_str_cases() {
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain é", "\"plain é\""),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\t\r\u{8}\u{c}", r#""\n\t\r\b\f""#),
            ("\u{0}\u{1f}\u{7f}", "\"\\u0000\\u001f\u{7f}\""),
        ];
        for (s, want) in cases {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), *want);
            let back: String = serde_json::from_str(want).unwrap();
            assert_eq!(&back, s);
        }
        // Bytes that need escaping at every position of longer strings.
        let mut rng = crate::test_rng::Xorshift(0x9e37_79b9_7f4a_7c15);
        let alphabet = ["a", "\"", "\\", "\n", "\u{1f}", "\u{7f}", "é", "-"];
        for len in 0..40 {
            for _ in 0..50 {
                let s: String = (0..len)
                    .map(|_| {
                        let r = (rng.next_u64() >> 33) as usize % 24;
                        alphabet.get(r).copied().unwrap_or("x")
                    })
                    .collect();
                let mut out = Vec::new();
                write_str(&mut out, &s);
                let back: String = serde_json::from_slice(&out).unwrap();
                assert_eq!(back, s);
            }
        }
    }
}
