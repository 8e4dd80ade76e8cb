//! Eight bytes at a time in a `u64` register ("SIMD within a register"):
//! the `.wasm` runs where Fluent Bit's WAMR has no SIMD, so byte scans that
//! would test every byte test a word instead.

/// `0x01` in every byte.
pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte: where the functions here flag a byte.
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;

/// Bytes of `v` equal to `b`, flagged in bit 7 of each byte (mask with
/// [`HI`]). A flag above a true match may be spurious (a borrow runs up from
/// it); the lowest one never is, and no match goes unflagged.
#[inline(always)]
pub(crate) fn equal_bytes(v: u64, b: u8) -> u64 {
    let x = v ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x
}

/// The offset of the first byte at or after `from` that `hit` accepts,
/// testing eight bytes at a time with `flags` (which flags, in bit 7 of each
/// byte, at least the bytes `hit` accepts, and none below the first) and the
/// last few one by one. JSON strings and log words are short, so eight bytes in a
/// register beat a vector search's setup.
#[inline(always)]
pub(crate) fn first_flagged(
    text: &[u8],
    from: usize,
    flags: impl Fn(u64) -> u64,
    hit: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut pos = from;
    let tail = loop {
        let Some(chunk) = text.get(pos..).and_then(|r| r.first_chunk::<8>()) else {
            break text.get(pos..)?;
        };
        let m = flags(u64::from_le_bytes(*chunk)) & HI;
        if m != 0 {
            return Some(pos + (m.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    };
    tail.iter().position(|&c| hit(c)).map(|i| pos + i)
}
