//! Where a record's members sit in its text: the index the validating parse
//! ([`crate::json::Record::parse`]) builds as it goes, so lookups read offsets
//! instead of scanning the text again.
//!
//! Two levels are indexed: the record's own members, and the members of each
//! top-level object (the `kubernetes` object of a container log, a metric's
//! `labels`, an event's `involvedObject`). A caller that parses many records
//! keeps one [`RecordIndex`] and lends it to each parse
//! ([`crate::json::Record::parse_in`]), so the index stops allocating once it
//! has grown to the largest record's.
//!
//! An index kept from record to record may also remember the top-level
//! objects under some keys that its records repeat ([`SeenObjects`]).
//!
//! Offsets are `u32`: the parse refuses texts of 4 GiB or more.

use super::seen::SeenObjects;
use crate::text_table::MemoToken;

/// [`Member::nested`] of an object the parse moved past without indexing
/// it (see [`SeenObjects`]).
pub(crate) const UNINDEXED: (u32, u32) = (u32::MAX, u32::MAX);

/// Where one member sits in the record text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Member {
    /// Offset of the key's opening quote.
    pub key_start: u32,
    /// Offset just past the key's closing quote.
    pub key_end: u32,
    /// Offset of the value's first byte.
    pub value_start: u32,
    /// Offset just past the value's last byte.
    pub value_end: u32,
    /// For a top-level member whose value is an object: its members' range
    /// in [`RecordIndex::nested`] (empty for other values), or
    /// [`UNINDEXED`].
    pub nested: (u32, u32),
    /// The key contains a backslash escape.
    pub key_escaped: bool,
}

impl Member {
    /// The key's raw text, between the quotes (escapes not decoded).
    #[inline]
    pub fn raw_key<'a>(&self, text: &'a [u8]) -> &'a [u8] {
        text.get(self.key_start as usize + 1..(self.key_end as usize).saturating_sub(1))
            .unwrap_or(&[])
    }

    /// The value's raw text.
    #[inline]
    pub fn raw_value<'a>(&self, text: &'a [u8]) -> &'a [u8] {
        text.get(self.value_start as usize..self.value_end as usize)
            .unwrap_or(&[])
    }
}

/// The members of one record, as its parse located them. Reusable: each
/// parse clears it first.
#[derive(Debug, Clone, Default)]
pub struct RecordIndex {
    /// The record's own members, in text order.
    pub(crate) top: Vec<Member>,
    /// The members of top-level objects, each object's contiguous.
    pub(crate) nested: Vec<Member>,
    /// The objects under some keys, for an index lent to parse after parse
    /// (see [`SeenObjects`]).
    pub(crate) seen: Option<SeenObjects>,
    /// The record's object under one of those keys (the first member so
    /// named whose value is an object): its place in `top` and its token.
    pub(crate) remembered: Option<(u32, MemoToken)>,
    /// Keys whose top-level string values the parse decodes as it validates
    /// them (see [`RecordIndex::decoding`]).
    pub(crate) decode_keys: &'static [&'static str],
    /// The decoded texts of those values that had escapes, one after another,
    /// up to `decoded_end`; the bytes past it are room kept for the next
    /// decode (so a decode does not zero its room first: in the `.wasm`, a
    /// `memory.fill`, which wasmtime runs as a call into its runtime).
    pub(crate) decoded: Vec<u8>,
    /// Where the decoded texts in `decoded` end.
    pub(crate) decoded_end: usize,
    /// Where each decoded value sits: its raw body in the record text (start
    /// and end offsets, between the quotes), then its text in `decoded`.
    pub(crate) decoded_at: Vec<DecodedValue>,
}

/// A top-level string value the parse decoded (see [`RecordIndex::decoding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodedValue {
    /// The raw body's offsets in the record text, between the quotes.
    pub body: (u32, u32),
    /// The decoded text's offsets in [`RecordIndex::decoded`].
    pub text: (u32, u32),
}

impl RecordIndex {
    /// An empty index.
    pub fn new() -> RecordIndex {
        RecordIndex::default()
    }

    /// An empty index for parsing record after record whose top-level
    /// objects named by `keys` repeat (each container's `kubernetes`
    /// object, each series' `labels`): an object it has seen is not read
    /// again (see the `seen` module).
    pub fn remembering(keys: &'static [&'static str]) -> RecordIndex {
        RecordIndex {
            seen: Some(SeenObjects::new(keys)),
            ..RecordIndex::default()
        }
    }

    /// This index, also decoding the string values of the record's members
    /// named by `keys` (the log line under `log` or `message`) while the
    /// parse validates them, in the same pass: a string with escapes is then
    /// not scanned again to be read (normalization reads it from the index).
    /// Escaped keys are not matched, and one value is decoded per key (the
    /// first with escapes; of the first 64 keys): others are decoded when read.
    pub fn decoding(self, keys: &'static [&'static str]) -> RecordIndex {
        RecordIndex {
            decode_keys: keys,
            ..self
        }
    }

    pub(crate) fn clear(&mut self) {
        self.top.clear();
        self.nested.clear();
        self.remembered = None;
        self.decoded_end = 0;
        self.decoded_at.clear();
    }

    /// The decoded texts, one after another.
    #[cfg(test)]
    pub(crate) fn decoded_texts(&self) -> &[u8] {
        self.decoded.get(..self.decoded_end).unwrap_or(&[])
    }

    /// The decoded text of the top-level string value whose raw body (between
    /// the quotes) is at `body` in the record text, if the parse decoded it.
    #[inline]
    pub(crate) fn decoded(&self, body: (u32, u32)) -> Option<&[u8]> {
        let d = self.decoded_at.iter().find(|d| d.body == body)?;
        self.decoded.get(d.text.0 as usize..d.text.1 as usize)
    }

    /// The members of a top-level object (as [`Member::nested`] gives
    /// them), `None` when it was not indexed.
    #[inline]
    pub(crate) fn nested(&self, range: (u32, u32)) -> Option<&[Member]> {
        if range == UNINDEXED {
            return None;
        }
        self.nested.get(range.0 as usize..range.1 as usize)
    }
}
