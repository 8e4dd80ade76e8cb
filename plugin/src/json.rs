//! Record access without a tree: find the fields the core needs in the JSON
//! text, and splice the `edgeheal` object into the original text so every
//! original byte leaves as it came.
//!
//! STUB — being written (helper A). The API below is the contract the rest of
//! the core uses.

use std::borrow::Cow;

/// Why a record could not be read as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not a JSON object (the byte offset where reading stopped).
    #[error("not a JSON object (at byte {0})")]
    NotAnObject(usize),
}

/// A JSON value found in a record, borrowing from its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string, unescaped (borrowed when it had no escapes).
    Str(Cow<'a, str>),
    /// A number, as its raw text.
    Number(&'a str),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An object: its raw text, `{` to `}`.
    Object(&'a [u8]),
    /// An array: its raw text, `[` to `]`.
    Array(&'a [u8]),
}

/// A record: a JSON object whose top-level members have been located.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    text: &'a [u8],
}

impl<'a> Record<'a> {
    /// Reads `text` as one JSON object.
    pub fn parse(text: &'a [u8]) -> Result<Record<'a>, JsonError> {
        Ok(Record { text })
    }

    /// The original text.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// A top-level member.
    pub fn get(&self, _key: &str) -> Option<Value<'a>> {
        None
    }

    /// A member found by following object keys from the top level.
    pub fn get_path(&self, _path: &[&str]) -> Option<Value<'a>> {
        None
    }
}

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Writes `record` to `out` with every top-level `edgeheal` member removed and
/// `"edgeheal":<tags>` added as the last member.
pub fn splice(record: &Record<'_>, tags: &[u8], out: &mut Vec<u8>) {
    let _ = tags;
    out.extend_from_slice(record.text);
}
