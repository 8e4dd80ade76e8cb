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
