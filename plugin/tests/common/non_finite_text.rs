//! Fluent Bit's non-finite numbers in generated records (for
//! `json_props.rs` and the cross-crate `.wasm` property tests): a string
//! value standing in for one is written by serde_json where any value may
//! stand, and then swapped, in the text, for the token (the record as Fluent
//! Bit writes it) or for its replacement (the record as the filter writes it).

#![allow(dead_code, clippy::indexing_slicing)]

use edgeheal_plugin::json::NonFinite;
use proptest::prelude::*;
use serde_json::Value;

/// The string value standing in for `n`: no generated string is one.
pub fn stand_in(n: NonFinite) -> String {
    format!("\u{1}non-finite {}\u{1}", n.token())
}

/// A value standing in for one of the four, as a leaf of generated values.
pub fn stand_in_leaf() -> impl Strategy<Value = Value> {
    prop::sample::select(NonFinite::ALL.to_vec()).prop_map(|n| Value::String(stand_in(n)))
}

/// `text` with every stand-in (as serde_json writes it, quotes included)
/// swapped for `with(n)`, and how many were swapped.
pub fn swap(text: &[u8], with: fn(NonFinite) -> &'static str) -> (Vec<u8>, usize) {
    let written: Vec<(Vec<u8>, NonFinite)> = NonFinite::ALL
        .iter()
        .map(|&n| (serde_json::to_vec(&stand_in(n)).unwrap_or_default(), n))
        .collect();
    let (mut out, mut swapped, mut i) = (Vec::with_capacity(text.len()), 0, 0);
    while i < text.len() {
        match written.iter().find(|(w, _)| text[i..].starts_with(w)) {
            Some((w, n)) => {
                out.extend_from_slice(with(*n).as_bytes());
                swapped += 1;
                i += w.len();
            }
            None => {
                out.push(text[i]);
                i += 1;
            }
        }
    }
    (out, swapped)
}

/// As Fluent Bit writes the record: the tokens.
pub fn as_fluent_bit_writes(text: &[u8]) -> (Vec<u8>, usize) {
    swap(text, NonFinite::token)
}

/// As the filter writes the record: the replacements.
pub fn as_replaced(text: &[u8]) -> Vec<u8> {
    swap(text, NonFinite::replacement).0
}

/// Where the first token is in the text as Fluent Bit writes it.
pub fn first_token(text: &[u8]) -> Option<usize> {
    let first = NonFinite::ALL
        .iter()
        .filter_map(|&n| {
            let w = serde_json::to_vec(&stand_in(n)).unwrap_or_default();
            text.windows(w.len()).position(|x| x == &w[..])
        })
        .min()?;
    // Nothing before it is swapped.
    Some(first)
}
