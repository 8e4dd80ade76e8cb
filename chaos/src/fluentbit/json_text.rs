//! Whether filter output is what Fluent Bit's `flb_pack_json` accepts: one
//! valid JSON value (by serde_json, at any nesting depth), and an object.
//!
//! Deeply nested text is validated on a thread with a large stack, since
//! serde_json recurses once per level.

use serde::de::IgnoredAny;
use serde::Deserialize as _;

/// Nesting depth past which validation runs on a thread with a large stack
/// (serde_json recurses once per level).
const DEEP: usize = 100;

/// Whether `text` is exactly one valid JSON value (RFC 8259, as serde_json
/// reads it, with no depth limit) surrounded by optional whitespace.
///
/// Bytes inside strings are not checked for UTF-8 (serde_json skips ignored
/// strings without decoding them, as Fluent Bit's jsmn tokenizer does): the
/// filter passes invalid UTF-8 through byte for byte, so its output is as
/// valid as its input was. Structure, escapes and control characters are
/// checked strictly.
pub fn is_valid_json(text: &[u8]) -> bool {
    if max_depth(text) < DEEP {
        return validate(text);
    }
    let owned = text.to_vec();
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || validate(&owned))
        .ok()
        .and_then(|handle| handle.join().ok())
        .unwrap_or(false)
}

fn validate(text: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(text);
    de.disable_recursion_limit();
    IgnoredAny::deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Whether `text` is a JSON object (valid, with `{` as its first token).
pub fn is_json_object(text: &[u8]) -> bool {
    text.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
        && is_valid_json(text)
}

/// An upper bound of the bracket nesting depth, ignoring string contents.
fn max_depth(text: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in text {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_cases() {
        let cases: &[(&[u8], bool)] = &[
            (b"{}", true),
            (b" {\"a\":[1,2,{\"b\":null}]} ", true),
            (b"{\"a\":1,}", false),
            // Invalid UTF-8 inside a string is tolerated (see `is_valid_json`).
            (b"{\"a\":\"\xff\"}", true),
            (b"{\"a\":\"\x01\"}", false),
            (b"{\"a\":1}{", false),
            (b"", false),
            (b"\"x\"", true),
        ];
        for (text, valid) in cases {
            assert_eq!(
                is_valid_json(text),
                *valid,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(is_valid_json(deep.as_bytes()));
    }
}
