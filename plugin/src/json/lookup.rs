//! Lookups in already-validated text. These never panic on arbitrary text
//! either; on malformed input they return `None` or stop early.

use std::borrow::Cow;

use super::scan::{find_special, is_ws};
use super::unescape::{lossy, unescape};
use super::Value;

/// Skips whitespace from `pos`.
#[inline]
fn ws(text: &[u8], mut pos: usize) -> usize {
    while text.get(pos).is_some_and(|&b| is_ws(b)) {
        pos += 1;
    }
    pos
}

/// From the `"` at `pos`: (offset past the closing quote, had escapes).
#[inline]
fn skip_string(text: &[u8], pos: usize) -> Option<(usize, bool)> {
    let mut p = pos + 1;
    let mut escaped = false;
    loop {
        p = find_special::<false>(text, p)?;
        if text.get(p) == Some(&b'"') {
            return Some((p + 1, escaped));
        }
        escaped = true;
        p += 2;
    }
}

/// From the first byte of a value at `pos`: the offset just past it.
fn skip_value(text: &[u8], pos: usize) -> Option<usize> {
    match text.get(pos)? {
        b'"' => skip_string(text, pos).map(|(e, _)| e),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut p = pos;
            loop {
                match text.get(p)? {
                    b'"' => {
                        p = skip_string(text, p)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(p + 1);
                        }
                    }
                    _ => {}
                }
                p += 1;
            }
        }
        _ => {
            let rest = text.get(pos..)?;
            let n = rest
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']') || is_ws(b))
                .unwrap_or(rest.len());
            Some(pos + n)
        }
    }
}

/// The value starting at `pos` (no leading whitespace) and the offset past it.
fn value_at(text: &[u8], pos: usize) -> Option<(Value<'_>, usize)> {
    let end = skip_value(text, pos)?;
    Some((value_of_raw(text.get(pos..end)?)?, end))
}

/// The value whose complete raw text is `raw`.
pub(crate) fn value_of_raw(raw: &[u8]) -> Option<Value<'_>> {
    Some(match raw.first()? {
        b'"' => {
            let body = raw.get(1..raw.len().checked_sub(1)?)?;
            Value::Str(unescape(body))
        }
        b'{' => Value::Object(raw),
        b'[' => Value::Array(raw),
        b't' if raw == b"true" => Value::Bool(true),
        b'f' if raw == b"false" => Value::Bool(false),
        b'n' if raw == b"null" => Value::Null,
        b'-' | b'0'..=b'9' => Value::Number(std::str::from_utf8(raw).ok()?),
        _ => return None,
    })
}

/// Iterator over the members of an object's raw text.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Members<'a> {
    pub(super) fn new(text: &'a [u8]) -> Members<'a> {
        let p = ws(text, 0);
        match text.get(p) {
            Some(b'{') => Members { text, pos: p + 1 },
            _ => Members::empty(),
        }
    }

    pub(super) fn empty() -> Members<'a> {
        Members { text: &[], pos: 0 }
    }

    /// The next member as (raw key bytes, key had escapes, raw value text).
    pub(super) fn next_raw(&mut self) -> Option<(&'a [u8], bool, &'a [u8])> {
        let text = self.text;
        let mut p = ws(text, self.pos);
        if text.get(p) == Some(&b',') {
            p = ws(text, p + 1);
        }
        if text.get(p) != Some(&b'"') {
            self.pos = text.len();
            return None;
        }
        let (key_end, escaped) = skip_string(text, p)?;
        let key = text.get(p + 1..key_end.saturating_sub(1))?;
        let mut q = ws(text, key_end);
        if text.get(q) != Some(&b':') {
            self.pos = text.len();
            return None;
        }
        q = ws(text, q + 1);
        let end = skip_value(text, q)?;
        self.pos = end;
        Some((key, escaped, text.get(q..end)?))
    }
}

/// Does the raw key text (escaped or not) equal `key`?
#[inline]
pub(super) fn raw_key_is(raw: &[u8], escaped: bool, key: &str) -> bool {
    if escaped {
        unescape(raw) == key
    } else {
        same_key(raw, key.as_bytes())
    }
}

/// `a == b` for short texts such as keys, compared in line (`==` calls
/// `memcmp`, which in the `.wasm` is a call into a byte loop) a word at a
/// time: texts of 4 to 16 bytes as their first and last 4 or 8 bytes (which
/// overlap), longer ones 8 bytes at a time and their last 8, shorter ones
/// byte by byte.
#[inline]
pub(super) fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => same_ends::<4>(a, b),
        9..=16 => same_ends::<8>(a, b),
        _ => {
            let mut words = a.chunks_exact(8).zip(b.chunks_exact(8));
            words.all(|(x, y)| x.first_chunk::<8>() == y.first_chunk::<8>()) && same_ends::<8>(a, b)
        }
    }
}

/// Whether `a` and `b`, each at least `N` bytes long, start with the same
/// `N` bytes and end with the same `N` bytes.
#[inline(always)]
fn same_ends<const N: usize>(a: &[u8], b: &[u8]) -> bool {
    a.first_chunk::<N>() == b.first_chunk::<N>() && a.last_chunk::<N>() == b.last_chunk::<N>()
}

/// One pass over members (given as raw key, escaped, raw value): the first
/// value of each of `keys`.
pub(super) fn pick<'a, const N: usize>(
    members: impl Iterator<Item = (&'a [u8], bool, &'a [u8])>,
    keys: &[&str; N],
) -> [Option<Value<'a>>; N] {
    pick_raw(members, keys).map(|raw| raw.and_then(value_of_raw))
}

/// As [`pick`], giving each value's raw text. Always inlined: the array it
/// returns is then built where the caller keeps it (returned through a call,
/// it is copied by `memcpy`, which cost more than the lookup).
#[inline(always)]
pub(super) fn pick_raw<'a, const N: usize>(
    members: impl Iterator<Item = (&'a [u8], bool, &'a [u8])>,
    keys: &[&str; N],
) -> [Option<&'a [u8]>; N] {
    if N > 64 {
        return pick_raw_linear(members, keys);
    }
    let mut out = [None; N];
    pick_raw_classed(members, keys, &length_classes(keys), &mut out);
    out
}

/// `keys` (at most 64) as bit sets by length, lengths past 31 sharing a
/// class: bit `i` of class `n` says `keys[i]` is `n` bytes long. A caller
/// with constant keys keeps them in a `static`, computed at compile time.
#[allow(clippy::indexing_slicing)]
pub(crate) const fn length_classes<const N: usize>(keys: &[&str; N]) -> [u64; 32] {
    let mut by_len = [0u64; 32];
    let mut i = 0;
    while i < N && i < 64 {
        let len = if keys[i].len() < 31 {
            keys[i].len()
        } else {
            31
        };
        by_len[len] |= 1 << i;
        i += 1;
    }
    by_len
}

/// As [`pick_raw`], with the keys' [`length_classes`] given, so each member
/// is compared only with the keys still wanted that it could be. At most
/// 64 keys (those past the 64th are not looked for).
#[inline(always)]
pub(super) fn pick_raw_classed<'a, const N: usize>(
    members: impl Iterator<Item = (&'a [u8], bool, &'a [u8])>,
    keys: &[&str; N],
    by_len: &[u64; 32],
    out: &mut [Option<&'a [u8]>; N],
) {
    let mut left = if N >= 64 { u64::MAX } else { (1u64 << N) - 1 };
    *out = [None; N];
    for (raw, escaped, value) in members {
        // An escaped key's length is not its decoded length.
        let mut candidates = match escaped {
            true => left,
            false => by_len.get(raw.len().min(31)).copied().unwrap_or(0) & left,
        };
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            if let (Some(key), Some(slot)) = (keys.get(i), out.get_mut(i)) {
                if raw_key_is(raw, escaped, key) {
                    *slot = Some(value);
                    left &= !(1 << i);
                    break;
                }
            }
        }
        if left == 0 {
            break;
        }
    }
}

/// [`pick_raw`] for any number of keys.
fn pick_raw_linear<'a, const N: usize>(
    members: impl Iterator<Item = (&'a [u8], bool, &'a [u8])>,
    keys: &[&str; N],
) -> [Option<&'a [u8]>; N] {
    let mut out: [Option<&'a [u8]>; N] = [None; N];
    let mut left = N;
    for (raw, escaped, value) in members {
        for (slot, key) in out.iter_mut().zip(keys) {
            if slot.is_none() && raw_key_is(raw, escaped, key) {
                *slot = Some(value);
                left = left.saturating_sub(1);
                break;
            }
        }
        if left == 0 {
            break;
        }
    }
    out
}

impl<'a> Iterator for Members<'a> {
    type Item = (Cow<'a, str>, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, escaped, value) = self.next_raw()?;
        let key = if escaped { unescape(key) } else { lossy(key) };
        Some((key, value_of_raw(value)?))
    }
}

/// The first member named `key` in an object's raw text.
pub(super) fn object_get<'a>(text: &'a [u8], key: &str) -> Option<Value<'a>> {
    let mut it = Members::new(text);
    while let Some((raw, escaped, value)) = it.next_raw() {
        if raw_key_is(raw, escaped, key) {
            return value_of_raw(value);
        }
    }
    None
}

/// Iterator over the elements of an array's raw text.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Elements<'a> {
    pub(super) fn new(text: &'a [u8]) -> Elements<'a> {
        let p = ws(text, 0);
        match text.get(p) {
            Some(b'[') => Elements { text, pos: p + 1 },
            _ => Elements::empty(),
        }
    }

    pub(super) fn empty() -> Elements<'a> {
        Elements { text: &[], pos: 0 }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        let mut p = ws(self.text, self.pos);
        if self.text.get(p) == Some(&b',') {
            p = ws(self.text, p + 1);
        }
        match self.text.get(p) {
            None | Some(b']') => {
                self.pos = self.text.len();
                None
            }
            Some(_) => {
                let (v, end) = value_at(self.text, p)?;
                self.pos = end;
                Some(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{indexed, Record};

    #[test]
    fn same_key_agrees_with_comparing_bytes() {
        // Every length up to 40 (byte by byte, two overlapping halves of 4
        // or 8 bytes, words and a last word), equal and with one byte
        // changed at each place, and texts of other lengths.
        for len in 0..=40usize {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_key(&a, &a.clone()), "{len} bytes");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_key(&a, &b), "{len} bytes, byte {at} changed");
                assert!(!same_key(&b, &a), "{len} bytes, byte {at} changed");
            }
            assert!(!same_key(&a, &a[..len.saturating_sub(1)]) || len == 0);
            let mut longer = a.clone();
            longer.push(b'a');
            assert!(!same_key(&a, &longer), "{len} and {} bytes", len + 1);
        }
    }

    #[test]
    fn picking_by_length_class_agrees_with_comparing_every_key() {
        let long = "k".repeat(40);
        let text = format!(
            r#"{{"a":1,"bb":2,"a":3,"c\u0063":4,"{long}":5,"{long}x":6,"":7,"bb":8,"cc":9}}"#
        );
        let rec = Record::parse(text.as_bytes()).unwrap();
        let members = || indexed(rec.text, rec.top());
        let long_x = format!("{long}x");
        let keys = [
            "a", "bb", "cc", "cc", "", &long, &long_x, "zz", "a", "c\\u0063",
        ];
        let got = pick_raw(members(), &keys);
        assert_eq!(got, pick_raw_linear(members(), &keys));
        let values: Vec<_> = got.iter().map(|v| v.map(|v| v[0] - b'0')).collect();
        assert_eq!(
            values,
            [
                Some(1),
                Some(2),
                Some(4),
                Some(9),
                Some(7),
                Some(5),
                Some(6),
                None,
                Some(3),
                None
            ]
        );
        // At 64 keys, every bit of the sets is a key's: the last one too.
        let names: Vec<String> = (0..62).map(|i| format!("n{i}")).collect();
        let mut wide: Vec<&str> = names.iter().map(String::as_str).collect();
        wide.extend(["bb", "cc"]);
        let wide: [&str; 64] = wide.try_into().unwrap();
        let got = pick_raw(members(), &wide);
        assert_eq!(got, pick_raw_linear(members(), &wide));
        assert_eq!(
            got[62..]
                .iter()
                .map(|v| v.map(|v| v[0] - b'0'))
                .collect::<Vec<_>>(),
            [Some(2), Some(4)]
        );
    }
}
