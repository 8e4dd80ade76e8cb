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
//! Offsets are `u32`: the parse refuses texts of 4 GiB or more.

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
    /// in [`RecordIndex::nested`] (empty for other values).
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
}

impl RecordIndex {
    /// An empty index.
    pub fn new() -> RecordIndex {
        RecordIndex::default()
    }

    pub(crate) fn clear(&mut self) {
        self.top.clear();
        self.nested.clear();
    }

    /// The members of a top-level object (as [`Member::nested`] gives them).
    #[inline]
    pub(crate) fn nested(&self, (start, end): (u32, u32)) -> &[Member] {
        self.nested.get(start as usize..end as usize).unwrap_or(&[])
    }
}
