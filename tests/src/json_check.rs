//! Checks on filter output text: is it valid JSON (by serde_json, at any
//! depth), and what is left when the top-level `edgeheal` member is removed.
//!
//! The member scan is iterative (an explicit stack, no recursion), so 10k-deep
//! records cost nothing special; it locates spans in the original text and
//! never re-serializes, so "removing `edgeheal` gives back the input" is a
//! byte-for-byte comparison.

pub use edgeheal_chaos::fluentbit::json_text::{is_json_object, is_valid_json};

/// One top-level member of a JSON object: byte ranges into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The key, unescaped only for the common no-escape case (raw otherwise).
    pub key: Vec<u8>,
    /// From the key's opening quote to the end of the value.
    pub span: std::ops::Range<usize>,
    /// The value's bytes.
    pub value: std::ops::Range<usize>,
    /// The comma before this member, if it is not the first.
    pub comma_before: Option<usize>,
}

/// The top-level members of a (valid) JSON object, in order; `None` when the
/// text is not an object.
pub fn top_level_members(text: &[u8]) -> Option<Vec<Member>> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut members = Vec::new();
    let mut comma_before = None;
    loop {
        i = skip_ws(text, i);
        match text.get(i)? {
            b'}' if members.is_empty() && comma_before.is_none() => return Some(members),
            b'"' => {}
            _ => return None,
        }
        let key_start = i;
        let key_end = skip_string(text, i)?;
        let key = text.get(key_start + 1..key_end - 1)?.to_vec();
        i = skip_ws(text, key_end);
        if text.get(i) != Some(&b':') {
            return None;
        }
        let value_start = skip_ws(text, i + 1);
        let value_end = skip_value(text, value_start)?;
        members.push(Member {
            key,
            span: key_start..value_end,
            value: value_start..value_end,
            comma_before,
        });
        i = skip_ws(text, value_end);
        match text.get(i)? {
            b',' => {
                comma_before = Some(i);
                i += 1;
            }
            b'}' => return Some(members),
            _ => return None,
        }
    }
}

/// `text` with its top-level members named `key` removed, each together with
/// the comma that separated it from its neighbour; `None` when the text is not
/// an object. Whitespace around the removed tokens is kept.
pub fn remove_member(text: &[u8], key: &str) -> Option<Vec<u8>> {
    let members = top_level_members(text)?;
    let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
    let mut kept_before = false;
    for (n, m) in members.iter().enumerate() {
        if m.key != key.as_bytes() {
            kept_before = true;
            continue;
        }
        // After a kept member, the comma before goes; before any, the one after.
        match (m.comma_before, members.get(n + 1)) {
            (Some(comma), _) if kept_before => cut.push(comma..m.span.end),
            (_, Some(next)) => {
                let comma = next.comma_before.unwrap_or(m.span.end);
                cut.push(m.span.start..comma + 1);
            }
            (_, None) => cut.push(m.span.clone()),
        }
    }
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for range in cut {
        out.extend_from_slice(text.get(at..range.start)?);
        at = range.end;
    }
    out.extend_from_slice(text.get(at..)?);
    Some(out)
}

/// The value text of the top-level member `key`, if present.
pub fn member_value<'a>(text: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let members = top_level_members(text)?;
    let m = members.iter().find(|m| m.key == key.as_bytes())?;
    text.get(m.value.clone())
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while matches!(text.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Index one past the closing quote of the string starting at `i`.
fn skip_string(text: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match text.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// Index one past the end of the value starting at `i` (iterative).
fn skip_value(text: &[u8], i: usize) -> Option<usize> {
    match text.get(i)? {
        b'"' => skip_string(text, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match text.get(j)? {
                    b'"' => {
                        j = skip_string(text, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(b) = text.get(j) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_cases() {
        let cases: &[(&str, &str)] = &[
            (r#"{"a":1,"edgeheal":{"x":[1,"}"]}}"#, r#"{"a":1}"#),
            (r#"{"edgeheal":{},"a":1}"#, r#"{"a":1}"#),
            (r#"{ "edgeheal":{"k":"v"}}"#, r#"{ }"#),
            (r#"{"a":1 ,"edgeheal":true}"#, r#"{"a":1 }"#),
            (r#"{"edgeheal":1,"edgeheal":2}"#, r#"{}"#),
            (r#"{"edgeheal":1,"edgeheal":2,"a":3}"#, r#"{"a":3}"#),
            (r#"{"a":3,"edgeheal":1,"edgeheal":2}"#, r#"{"a":3}"#),
            (
                r#"{"a":"edgeheal","b":-1.5e3}"#,
                r#"{"a":"edgeheal","b":-1.5e3}"#,
            ),
        ];
        for (text, want) in cases {
            let got = remove_member(text.as_bytes(), "edgeheal").unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{text}");
        }
        assert_eq!(
            member_value(br#"{"a":1,"edgeheal":{"kind":"log"}}"#, "edgeheal"),
            Some(&br#"{"kind":"log"}"#[..])
        );
        assert_eq!(remove_member(b"[1]", "edgeheal"), None);
    }
}
