//! Byte scanning shared by the validating parse and the lookups: whitespace,
//! and the bytes that end a plain run inside a string.

use std::ops::Range;

use crate::swar::{equal_bytes, first_flagged, HI, LO};

#[inline]
pub(super) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The offset of the first `"` or `\\` (and, when `CONTROL`, byte below
/// 0x20) at or after `from`. The lowest flagged byte of each word is exact
/// (borrows only run upwards from a true match).
#[inline]
pub(super) fn find_special<const CONTROL: bool>(text: &[u8], from: usize) -> Option<usize> {
    first_flagged(text, from, special_flags::<CONTROL>, is_special::<CONTROL>)
}

/// The bytes of `v` [`find_special`] stops at, flagged as [`equal_bytes`]
/// flags them.
#[inline(always)]
fn special_flags<const CONTROL: bool>(v: u64) -> u64 {
    let m = equal_bytes(v, b'"') | equal_bytes(v, b'\\');
    if CONTROL {
        m | (v.wrapping_sub(LO * 0x20) & !v)
    } else {
        m
    }
}

#[inline(always)]
fn is_special<const CONTROL: bool>(c: u8) -> bool {
    c == b'"' || c == b'\\' || (CONTROL && c < 0x20)
}

/// As [`find_special`] (with control characters), copying the bytes it
/// passes over to `buf` from `out` as it reads them. Eight bytes are copied
/// at a time, the special byte's word whole: `buf` should have room for
/// eight bytes past the copy (with less, the last bytes are copied one by
/// one). The first word is tested on its own, before the loop's setup: in a
/// decoded log line, the next escape or the closing quote is often in it.
#[inline]
pub(super) fn copy_to_special(
    text: &[u8],
    from: usize,
    buf: &mut [u8],
    out: usize,
) -> Option<usize> {
    let src = text.get(from..).unwrap_or(&[]);
    let mut done = 0;
    if let (Some(word), Some(to)) = (
        src.first_chunk::<8>(),
        buf.get_mut(out..).and_then(|d| d.first_chunk_mut::<8>()),
    ) {
        *to = *word;
        if let Some(k) = special_in(*word) {
            return Some(from + k);
        }
        done = 8;
    }
    if let (Some(rest), Some(dst)) = (src.get(done..), buf.get_mut(out + done..)) {
        for (word, to) in rest.chunks_exact(8).zip(dst.chunks_exact_mut(8)) {
            to.copy_from_slice(word);
            let word = word.first_chunk::<8>().copied().unwrap_or_default();
            if let Some(k) = special_in(word) {
                return Some(from + done + k);
            }
            done += 8;
        }
    }
    let tail = src.get(done..).unwrap_or(&[]);
    for (k, &c) in tail.iter().enumerate() {
        if is_special::<true>(c) {
            return Some(from + done + k);
        }
        if let Some(to) = buf.get_mut(out + done + k) {
            *to = c;
        }
    }
    None
}

/// Copies `text[run]` to `buf` from `out`, eight bytes at a time: the last
/// word may copy up to seven bytes past the run, for which `buf` should
/// have room (with less, the last bytes are copied exactly). Returns the
/// offset in `buf` past the run.
#[inline]
pub(super) fn copy_run(text: &[u8], run: Range<usize>, buf: &mut [u8], out: usize) -> usize {
    let len = run.len();
    let src = text.get(run.start..).unwrap_or(&[]);
    let mut done = 0;
    if let Some(dst) = buf.get_mut(out..) {
        for (word, to) in src.chunks_exact(8).zip(dst.chunks_exact_mut(8)) {
            if done >= len {
                break;
            }
            to.copy_from_slice(word);
            done += 8;
        }
    }
    if done < len {
        let (Some(to), Some(from)) = (
            buf.get_mut(out + done..out + len),
            text.get(run.start + done..run.end),
        ) else {
            return out + len;
        };
        to.copy_from_slice(from);
    }
    out + len
}

/// The offset of the first byte of `word` that [`find_special`] (with
/// control characters) stops at, if one.
#[inline(always)]
pub(super) fn special_in(word: [u8; 8]) -> Option<usize> {
    let m = special_flags::<true>(u64::from_le_bytes(word)) & HI;
    (m != 0).then_some((m.trailing_zeros() / 8) as usize)
}

/// The offset of the first `\\` in `word`, if one.
#[inline(always)]
pub(super) fn backslash_in(word: [u8; 8]) -> Option<usize> {
    let m = equal_bytes(u64::from_le_bytes(word), b'\\') & HI;
    (m != 0).then_some((m.trailing_zeros() / 8) as usize)
}

/// Whether `a` and `b` are the same bytes. Natively, the C library's
/// `memcmp` (vector compares); in the `.wasm`, where `==` on slices is the
/// runtime's `memcmp`, a loop over single bytes, eight at a time (the parse
/// compares whole `kubernetes` objects with this).
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if cfg!(not(target_arch = "wasm32")) {
        return a == b;
    }
    same_words(a, b)
}

/// [`same_bytes`] eight bytes at a time, four words to a branch (their
/// differences or-ed), and the last few bytes in line (`==` on them would
/// be the runtime's `memcmp`).
#[inline]
fn same_words(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| c.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
    let (mut ba, mut bb) = (a.chunks_exact(32), b.chunks_exact(32));
    for (x, y) in ba.by_ref().zip(bb.by_ref()) {
        let mut diff = 0;
        for (p, q) in x.chunks_exact(8).zip(y.chunks_exact(8)) {
            diff |= word(p) ^ word(q);
        }
        if diff != 0 {
            return false;
        }
    }
    let (mut wa, mut wb) = (
        ba.remainder().chunks_exact(8),
        bb.remainder().chunks_exact(8),
    );
    let words = wa
        .by_ref()
        .zip(wb.by_ref())
        .all(|(x, y)| word(x) == word(y));
    words
        && wa
            .remainder()
            .iter()
            .zip(wb.remainder())
            .all(|(x, y)| x == y)
}

/// The offset of the first `\\` at or after `from`, eight bytes at a time
/// as [`find_special`] reads them.
#[inline]
pub(super) fn find_backslash(text: &[u8], from: usize) -> Option<usize> {
    first_flagged(text, from, |v| equal_bytes(v, b'\\'), |c| c == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Xorshift;

    #[test]
    fn finders_find_the_first_special_byte() {
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let alphabet = [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x00, b'{'];
        for len in 0..40 {
            for _ in 0..200 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        // Mostly plain bytes, so specials sit anywhere.
                        let r = (rng.next_u64() >> 33) as usize % 40;
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
                    // Copying while finding: the same offset, the bytes
                    // passed over copied, with room to spare or without.
                    let passed = naive(true).unwrap_or(len).max(from).min(len);
                    let run = text.get(from..passed).unwrap_or(&[]);
                    for room in [len.saturating_sub(from) + 8, run.len()] {
                        let mut buf = vec![0xaa; 3 + room];
                        let found = copy_to_special(&text, from, &mut buf, 3);
                        assert_eq!(found, naive(true), "{text:?} {from} {room}");
                        assert_eq!(&buf[3..3 + run.len()], run, "{text:?} {from} {room}");
                        assert!(buf[..3].iter().all(|&b| b == 0xaa));
                        let mut buf = vec![0xaa; 3 + room];
                        let to = from + run.len();
                        assert_eq!(copy_run(&text, from..to, &mut buf, 3), 3 + run.len());
                        assert_eq!(&buf[3..3 + run.len()], run, "{text:?} {from} {room}");
                        assert!(buf[..3].iter().all(|&b| b == 0xaa));
                    }
                    let backslash = text
                        .get(from..)
                        .and_then(|r| r.iter().position(|&c| c == b'\\').map(|i| from + i));
                    assert_eq!(find_backslash(&text, from), backslash, "{text:?} {from}");
                    // Compared with itself and with a copy differing in one byte.
                    let tail = text.get(from..).unwrap_or(&[]);
                    for same in [same_bytes, same_words] {
                        assert!(same(tail, tail));
                        for at in 0..tail.len() {
                            let mut other = tail.to_vec();
                            other[at] ^= 1 << (at % 8);
                            assert!(!same(tail, &other), "{tail:?} {at}");
                            assert!(!same(tail, &other[..at]), "{tail:?} {at}");
                        }
                    }
                }
            }
        }
    }
}
