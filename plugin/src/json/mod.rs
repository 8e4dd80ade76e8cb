//! Record access without a tree: find the fields the core needs in the JSON
//! text, and splice the `edgeheal` object into the original text so every
//! original byte leaves as it came.
//!
//! [`Record::parse`] validates the text in one iterative pass (no recursion:
//! nesting depth is bounded only by the text length) and remembers where each
//! top-level member is. Lookups below the top level scan only the object they
//! descend into. Strings are unescaped only when they contain escapes.
//!
//! Leniency: bytes inside strings are kept as they are (invalid UTF-8 and lone
//! surrogate escapes are accepted; lookups decode them lossily). Raw control
//! characters (U+0000–U+001F) inside strings are rejected: a record carrying
//! them would leave the filter as text no strict JSON reader accepts, so it
//! takes the error path, which escapes it. Everything structural (brackets,
//! commas, colons, escapes, numbers, literals) is strict.
//!
//! Non-finite numbers: Fluent Bit hands the filter a record's ±Inf and NaN
//! doubles as the bare tokens `inf`, `-inf`, `nan` and `-nan` (C's `%.16g`),
//! which are not JSON. [`Record::parse`] stops at the first one with
//! [`JsonError::NonFinite`]; [`replace_non_finite`] then writes the record
//! with each replaced (`inf` → `1e+999`, `-inf` → `-1e+999`, `nan` and `-nan`
//! → `null`), which is JSON and reads as Fluent Bit reads it back. See
//! [`NonFinite`] for which tokens, where, and what the values then mean.
//!
//! The pieces, one concept per file:
//! - `parse`: the validating parse, which builds the member index;
//! - `member_index`: where a record's members sit in its text;
//! - `seen`: a top-level object that records repeat, read once;
//! - `scan`: finding the bytes that end a string's plain run;
//! - `lookup`: members, elements and values in already-validated text;
//! - `non_finite`: Fluent Bit's `inf` / `nan` tokens, rewritten as JSON;
//! - `unescape`: decoding string bodies;
//! - `write`: writing strings, and splicing the tag object into a record.

use crate::decimal::parse_f64;
use std::borrow::Cow;

mod lookup;
mod member_index;
mod non_finite;
mod parse;
mod scan;
mod seen;
mod unescape;
mod write;

pub(crate) use lookup::length_classes;
use lookup::{object_get, pick, pick_raw, pick_raw_classed, raw_key_is, Members};
use member_index::Member;
use parse::Parser;

pub(crate) use crate::text_table::MemoToken;

/// Places of the memo of a [`RecordIndex::remembering`] index: a
/// [`MemoToken::entry`] is below this.
pub(crate) const MEMO_ENTRIES: usize = seen::GEOMETRY.entries();

pub(crate) use lookup::value_of_raw;
pub use lookup::Elements;
pub use member_index::RecordIndex;
pub(crate) use non_finite::replace_non_finite_in;
pub use non_finite::{most_replaced_len, replace_non_finite, NonFinite};
use unescape::lossy;
pub use unescape::unescape;
pub(crate) use unescape::unescape_in;
pub(crate) use write::splice_with;
pub(crate) use write::{lossy_str_len, write_lossy_str, write_str_body};
pub use write::{splice, strip, write_str};

/// The key of the tag object [`splice`] writes.
pub const TAG_KEY: &str = "edgeheal";

/// Why a record could not be read as a JSON object. Offsets are byte offsets
/// into the record text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text does not start with `{` (after whitespace).
    #[error("not a JSON object (at byte {0})")]
    NotAnObject(usize),
    /// The text ended inside the object.
    #[error("truncated JSON (ended at byte {0})")]
    UnexpectedEnd(usize),
    /// A byte that cannot appear where it is.
    #[error("unexpected byte 0x{byte:02x} at byte {offset}")]
    UnexpectedByte {
        /// Where it is.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A backslash escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`.
    #[error("invalid string escape at byte {0}")]
    InvalidEscape(usize),
    /// A raw control character (below 0x20) inside a string.
    #[error("control character in a string at byte {0}")]
    ControlCharacter(usize),
    /// A malformed number.
    #[error("invalid number at byte {0}")]
    InvalidNumber(usize),
    /// Something other than whitespace follows the object.
    #[error("trailing data after the object at byte {0}")]
    TrailingData(usize),
    /// The text is 4 GiB or longer (its length).
    #[error("record of {0} bytes is too large")]
    TooLarge(usize),
    /// A non-finite number as C's `printf` writes it (`inf`, `-inf`, `nan`,
    /// `-nan`) where a value stands: not JSON, but what Fluent Bit writes for
    /// a record's ±Inf and NaN doubles. [`replace_non_finite`] reads it.
    #[error("non-finite number (inf or nan) at byte {0}")]
    NonFinite(usize),
}

/// A JSON value found in a record, borrowing from its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string, unescaped (borrowed when it had no escapes and was valid UTF-8).
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

impl<'a> Value<'a> {
    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, if this is a string, keeping its borrow of the record.
    pub fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number as `f64` (numbers only; strings are not converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => parse_f64(n),
            _ => None,
        }
    }

    /// The number as `f64`, or a string holding a number (`"12.5"`).
    pub fn to_f64_lenient(&self) -> Option<f64> {
        match self {
            Value::Number(n) => parse_f64(n),
            Value::Str(s) => parse_f64(s.trim()).filter(|v| v.is_finite()),
            _ => None,
        }
    }

    /// A member of this object (`None` for other values).
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        match self {
            Value::Object(text) => object_get(text, key),
            _ => None,
        }
    }

    /// The first member named by each of `keys`, in one pass over this
    /// object (all `None` for other values).
    pub fn get_many<const N: usize>(&self, keys: &[&str; N]) -> [Option<Value<'a>>; N] {
        let mut it = match self {
            Value::Object(text) => Members::new(text),
            _ => Members::empty(),
        };
        pick(std::iter::from_fn(move || it.next_raw()), keys)
    }

    /// As [`Value::get_many`], giving each value's raw text.
    #[inline(always)]
    pub(crate) fn get_many_raw<const N: usize>(&self, keys: &[&str; N]) -> [Option<&'a [u8]>; N] {
        let mut it = match self {
            Value::Object(text) => Members::new(text),
            _ => Members::empty(),
        };
        pick_raw(std::iter::from_fn(move || it.next_raw()), keys)
    }

    /// A member found by following object keys from this value.
    pub fn get_path(&self, path: &[&str]) -> Option<Value<'a>> {
        let mut cur = self.clone();
        for key in path {
            cur = cur.get(key)?;
        }
        Some(cur)
    }

    /// The members of this object, in text order (empty for other values).
    pub fn members(&self) -> Members<'a> {
        match self {
            Value::Object(text) => Members::new(text),
            _ => Members::empty(),
        }
    }

    /// The members [`Value::members`] gives, as (key, raw value text); see
    /// [`value_of_raw`].
    pub(crate) fn members_raw(&self) -> impl Iterator<Item = (RawKey<'a>, &'a [u8])> {
        let mut it = self.members();
        std::iter::from_fn(move || {
            let (raw, escaped, value) = it.next_raw()?;
            // `members` stops at a value it cannot decode.
            value_of_raw(value)?;
            Some((RawKey { raw, escaped }, value))
        })
    }

    /// The elements of this array, in order (empty for other values).
    pub fn elements(&self) -> Elements<'a> {
        match self {
            Value::Array(text) => Elements::new(text),
            _ => Elements::empty(),
        }
    }
}

/// A member's key as it sits in the text (between the quotes), so a caller
/// that matches keys against known names need not decode them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawKey<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> RawKey<'a> {
    /// The key's bytes when they are its text: no escapes (the text may
    /// still be invalid UTF-8, which [`RawKey::text`] would decode lossily
    /// into a key that equals no ASCII name either).
    #[inline]
    pub(crate) fn plain(self) -> Option<&'a [u8]> {
        (!self.escaped).then_some(self.raw)
    }

    /// The key decoded (borrowed unless escaped or invalid UTF-8).
    pub(crate) fn text(self) -> Cow<'a, str> {
        if self.escaped {
            unescape(self.raw)
        } else {
            lossy(self.raw)
        }
    }
}

/// A record: a JSON object whose top-level members have been located.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    text: &'a [u8],
    /// Offset of the object's `{`.
    open: usize,
    /// Offset of the object's closing `}`.
    close: usize,
    index: IndexRef<'a>,
}

/// Where `part` sits in `text` (start and end offsets), when it is a slice
/// of it: its bytes lie within the text's.
#[inline]
pub(crate) fn span_in(text: &[u8], part: &[u8]) -> Option<(u32, u32)> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    if end > text.len() {
        return None;
    }
    Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
}

/// A record's index, its own or lent by the caller.
#[derive(Debug, Clone)]
enum IndexRef<'a> {
    /// Boxed: an index is a few hundred bytes, and a record that owns one
    /// came from [`Record::parse`], which allocates anyway.
    Owned(Box<RecordIndex>),
    Lent(&'a RecordIndex),
}

impl<'a> Record<'a> {
    /// Reads `text` as one JSON object (whitespace around it allowed).
    pub fn parse(text: &'a [u8]) -> Result<Record<'a>, JsonError> {
        let mut index = Box::new(RecordIndex::new());
        let (open, close) = Parser::new(text, &mut index).run()?;
        Ok(Record {
            text,
            open,
            close,
            index: IndexRef::Owned(index),
        })
    }

    /// As [`Record::parse`], building the record's index in `index` (whose
    /// allocations are reused: a caller that keeps one allocates nothing
    /// per record once it has grown).
    pub fn parse_in(text: &'a [u8], index: &'a mut RecordIndex) -> Result<Record<'a>, JsonError> {
        let (open, close) = Parser::new(text, index).run()?;
        Ok(Record {
            text,
            open,
            close,
            index: IndexRef::Lent(index),
        })
    }

    fn index(&self) -> &RecordIndex {
        match &self.index {
            IndexRef::Owned(index) => index,
            IndexRef::Lent(index) => index,
        }
    }

    /// The top-level members.
    #[inline]
    fn top(&self) -> &[Member] {
        &self.index().top
    }

    /// The original text.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// The whole object as a [`Value::Object`].
    pub fn as_value(&self) -> Value<'a> {
        Value::Object(
            self.text
                .get(self.open..=self.close)
                .unwrap_or(b"{}" as &[u8]),
        )
    }

    /// Number of top-level members (duplicates counted).
    pub fn len(&self) -> usize {
        self.top().len()
    }

    /// The object has no members.
    pub fn is_empty(&self) -> bool {
        self.top().is_empty()
    }

    #[inline]
    fn key_matches(&self, m: &Member, key: &str) -> bool {
        // Most keys differ in length (an escaped key's is not its decoded one).
        let len = m.key_end.saturating_sub(m.key_start) as usize;
        (m.key_escaped || len == key.len() + 2)
            && raw_key_is(m.raw_key(self.text), m.key_escaped, key)
    }

    /// A top-level member (the first one, if the key repeats).
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        let m = self.top().iter().find(|m| self.key_matches(m, key))?;
        value_of_raw(m.raw_value(self.text))
    }

    /// The first top-level member named by each of `keys`, in one pass.
    pub fn get_many<const N: usize>(&self, keys: &[&str; N]) -> [Option<Value<'a>>; N] {
        pick(indexed(self.text, self.top()), keys)
    }

    /// As [`Record::get_many`], giving each value's raw text (for callers
    /// that decode only some of them; see [`value_of_raw`]).
    #[inline(always)]
    pub(crate) fn get_many_raw<const N: usize>(&self, keys: &[&str; N]) -> [Option<&'a [u8]>; N] {
        pick_raw(indexed(self.text, self.top()), keys)
    }

    /// The decoded text of `body`, the raw body (between the quotes) of a
    /// string value in this record's text: the text the parse decoded when
    /// its index decodes the value's key (see [`RecordIndex::decoding`]),
    /// else decoded now, into `buf` when it has escapes.
    pub(crate) fn unescaped_in<'s>(&'s self, body: &'s [u8], buf: &'s mut Vec<u8>) -> Cow<'s, str> {
        let index = self.index();
        if !index.decoded_at.is_empty() {
            if let Some(text) = self.span_of(body).and_then(|span| index.decoded(span)) {
                return lossy(text);
            }
        }
        unescape_in(body, buf)
    }

    /// Where `part` sits in the text, when it is a slice of it (see
    /// [`span_in`]).
    #[inline]
    fn span_of(&self, part: &[u8]) -> Option<(u32, u32)> {
        span_in(self.text, part)
    }

    /// As [`Record::get_many_raw`], with the keys' [`length_classes`] given
    /// (a caller with constant keys computes them once), written to `out`
    /// (in the `.wasm`, an array this size returned is moved with a
    /// `memory.copy`, which wasmtime runs as a call into its runtime).
    #[inline(always)]
    pub(crate) fn get_many_raw_classed<const N: usize>(
        &self,
        keys: &[&str; N],
        classes: &[u64; 32],
        out: &mut [Option<&'a [u8]>; N],
    ) {
        pick_raw_classed(indexed(self.text, self.top()), keys, classes, out)
    }

    /// A top-level member whose value is an object (the first one named
    /// `key`), with the members the parse indexed in it.
    pub fn object(&self, key: &str) -> Option<Object<'_, 'a>> {
        let (at, m) = self
            .top()
            .iter()
            .enumerate()
            .find(|(_, m)| self.key_matches(m, key))?;
        self.member_object(at, m)
    }

    /// As [`Record::object`] for the member whose value is `value`, a slice
    /// of the text as [`Record::get_many_raw`] gives it (or a
    /// [`Value::Object`] of [`Record::get_many`]): found by where it starts,
    /// without comparing keys. `None` for any other slice.
    pub(crate) fn object_at(&self, value: &[u8]) -> Option<Object<'_, 'a>> {
        let span = self.span_of(value)?;
        let (at, m) = self
            .top()
            .iter()
            .enumerate()
            .find(|(_, m)| (m.value_start, m.value_end) == span)?;
        self.member_object(at, m)
    }

    /// As [`Record::object_at`], for a top-level member's value as
    /// [`Record::get_many`] gives it: its object, when it is one.
    pub(crate) fn object_of(&self, value: &Value<'a>) -> Option<Object<'_, 'a>> {
        match value {
            Value::Object(raw) => self.object_at(raw),
            _ => None,
        }
    }

    fn member_object(&self, at: usize, m: &Member) -> Option<Object<'_, 'a>> {
        let raw = m.raw_value(self.text);
        let index = self.index();
        (raw.first() == Some(&b'{')).then(|| Object {
            text: self.text,
            raw,
            members: index.nested(m.nested),
            token: index
                .remembered
                .filter(|&(place, _)| place as usize == at)
                .map(|(_, token)| token),
        })
    }

    /// A member found by following object keys from the top level.
    pub fn get_path(&self, path: &[&str]) -> Option<Value<'a>> {
        let (first, rest) = path.split_first()?;
        let v = self.get(first)?;
        v.get_path(rest)
    }

    /// The top-level members, in text order.
    pub fn members(&self) -> impl Iterator<Item = (Cow<'a, str>, Value<'a>)> + '_ {
        let text = self.text;
        self.top().iter().filter_map(move |m| {
            let raw = m.raw_key(text);
            let key = if m.key_escaped {
                Cow::Owned(unescape(raw).into_owned())
            } else {
                lossy(raw)
            };
            Some((key, value_of_raw(m.raw_value(text))?))
        })
    }

    /// The top-level members as (key, raw value text), in text order; see
    /// [`value_of_raw`].
    pub(crate) fn members_raw(&self) -> impl Iterator<Item = (RawKey<'a>, &'a [u8])> + '_ {
        let text = self.text;
        self.top().iter().map(move |m| {
            let key = RawKey {
                raw: m.raw_key(text),
                escaped: m.key_escaped,
            };
            (key, m.raw_value(text))
        })
    }

    /// The top-level keys, in text order (borrowed unless escaped or invalid UTF-8).
    pub fn keys(&self) -> impl Iterator<Item = Cow<'a, str>> + '_ {
        let text = self.text;
        self.top().iter().map(move |m| {
            let raw = m.raw_key(text);
            if m.key_escaped {
                Cow::Owned(unescape(raw).into_owned())
            } else {
                lossy(raw)
            }
        })
    }
}

/// An object that is a top-level member of a [`Record`], with its members as
/// the parse indexed them (lookups read offsets instead of scanning it).
#[derive(Debug, Clone, Copy)]
pub struct Object<'r, 'a> {
    text: &'a [u8],
    /// The object's text, `{` to `}`.
    raw: &'a [u8],
    /// Its members, `None` when the parse did not index them.
    members: Option<&'r [Member]>,
    /// Its token, when the index remembers objects under its key.
    token: Option<MemoToken>,
}

impl<'a> Object<'_, 'a> {
    /// The object as a [`Value::Object`].
    pub fn as_value(&self) -> Value<'a> {
        Value::Object(self.raw)
    }

    /// The object's text, `{` to `}`.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// A member (the first one, if the key repeats).
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        let [v] = self.get_many(&[key]);
        v
    }

    /// The first member named by each of `keys`, in one pass.
    pub fn get_many<const N: usize>(&self, keys: &[&str; N]) -> [Option<Value<'a>>; N] {
        match self.members {
            Some(members) => pick(indexed(self.text, members), keys),
            None => self.as_value().get_many(keys),
        }
    }

    /// As [`Object::get_many`], giving each value's raw text.
    #[inline(always)]
    pub(crate) fn get_many_raw<const N: usize>(&self, keys: &[&str; N]) -> [Option<&'a [u8]>; N] {
        match self.members {
            Some(members) => pick_raw(indexed(self.text, members), keys),
            None => self.as_value().get_many_raw(keys),
        }
    }

    /// When the record's index remembers objects under this one's key (see
    /// [`RecordIndex::remembering`]): the token of its text. Objects with
    /// equal tokens have equal texts.
    pub(crate) fn token(&self) -> Option<MemoToken> {
        self.token
    }
}

/// Indexed members as (raw key, key had escapes, raw value).
#[inline]
fn indexed<'a, 'r>(
    text: &'a [u8],
    members: &'r [Member],
) -> impl Iterator<Item = (&'a [u8], bool, &'a [u8])> + 'r
where
    'a: 'r,
{
    members
        .iter()
        .map(move |m| (m.raw_key(text), m.key_escaped, m.raw_value(text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn lookups() {
        // Raw invalid UTF-8 bytes (0xff 0xfe) inside the last string.
        let mut text =
            br#"{"log":"plain","esc":"a\"b\u00e9\ud83d\ude00\ud800x","n":-1.5e3,"t":true,"z":null,
            "k":{"labels":{"app":"web","a\/b":"slash"},"arr":[1,"x",{"y":2}]},"bad":""#
                .to_vec();
        text.extend_from_slice(b"\xff\xfe\"}");
        let rec = Record::parse(&text).unwrap();
        let cases: &[(&[&str], Option<Value<'_>>)] = &[
            (&["log"], Some(Value::Str(Cow::Borrowed("plain")))),
            (
                &["esc"],
                Some(Value::Str(Cow::Owned(
                    "a\"b\u{e9}\u{1F600}\u{FFFD}x".into(),
                ))),
            ),
            (&["n"], Some(Value::Number("-1.5e3"))),
            (&["t"], Some(Value::Bool(true))),
            (&["z"], Some(Value::Null)),
            (
                &["k", "labels", "app"],
                Some(Value::Str(Cow::Borrowed("web"))),
            ),
            (
                &["k", "labels", "a/b"],
                Some(Value::Str(Cow::Borrowed("slash"))),
            ),
            (&["k", "labels", "nope"], None),
            (&["log", "x"], None),
            (&["missing"], None),
            (
                &["bad"],
                Some(Value::Str(Cow::Owned("\u{FFFD}\u{FFFD}".into()))),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(&rec.get_path(path), want, "path {path:?}");
        }
        assert!(matches!(rec.get("esc"), Some(Value::Str(Cow::Owned(_)))));
        let arr: Vec<_> = rec.get_path(&["k", "arr"]).unwrap().elements().collect();
        assert_eq!(arr.len(), 3);
        assert_eq!(arr[2].get("y"), Some(Value::Number("2")));
        let [log, z, nope, k] = rec.get_many(&["log", "z", "nope", "k"]);
        assert_eq!(
            (log, z, nope),
            (
                Some(Value::Str(Cow::Borrowed("plain"))),
                Some(Value::Null),
                None
            )
        );
        let [app, slash] = k.unwrap().get("labels").unwrap().get_many(&["app", "a/b"]);
        assert_eq!(app.unwrap().as_str(), Some("web"));
        assert_eq!(slash.unwrap().as_str(), Some("slash"));
        let keys: Vec<_> = rec.members().map(|(k, _)| k.into_owned()).collect();
        assert_eq!(keys, ["log", "esc", "n", "t", "z", "k", "bad"]);
    }

    #[test]
    fn objects_read_the_parse_index_as_a_scan_reads_the_text() {
        let text = br#"{"a":1, "k" : { "x":"1","y":{"x":2},"x":"dup", "e\u0073c":[3]} ,
            "arr":[{"x":9}],"empty":{},"s":"{\"x\":1}","k":{"x":"second"}}"#;
        let mut index = RecordIndex::new();
        // A first record leaves entries behind that the next parse must not see.
        Record::parse_in(br#"{"q":{"w":1,"x":2},"r":3}"#, &mut index).unwrap();
        let rec = Record::parse_in(text, &mut index).unwrap();
        let keys = ["x", "y", "esc", "e\\u0073c", "w", "nope"];
        for key in ["k", "empty"] {
            let scanned = rec.get(key).unwrap().get_many(&keys);
            let object = rec.object(key).unwrap();
            assert_eq!(object.get_many(&keys), scanned, "{key}");
            assert_eq!(object.as_value(), rec.get(key).unwrap(), "{key}");
        }
        let [x, esc] = rec.object("k").unwrap().get_many(&["x", "esc"]);
        assert_eq!(x.unwrap().as_str(), Some("1"));
        assert!(matches!(esc, Some(Value::Array(_))));
        for not_an_object in ["a", "arr", "s", "nope"] {
            assert!(rec.object(not_an_object).is_none(), "{not_an_object}");
        }
        // Found by their values' place, objects read the same; a copy of a
        // value, or a part of one, finds none.
        for key in ["k", "empty", "a", "arr", "s", "nope"] {
            let [raw] = rec.get_many_raw(&[key]);
            let at = raw.and_then(|raw| rec.object_at(raw));
            let named = rec.object(key);
            assert_eq!(at.map(|o| o.raw()), named.map(|o| o.raw()), "{key}");
            assert_eq!(
                at.map(|o| o.get_many(&keys)),
                named.map(|o| o.get_many(&keys)),
                "{key}"
            );
            if let Some(raw) = raw {
                let copy = raw.to_vec();
                assert!(rec.object_at(copy.as_slice()).is_none(), "{key}");
                assert!(rec.object_at(&raw[..raw.len() - 1]).is_none(), "{key}");
            }
        }
        // The second `k`, which no lookup by name finds.
        let (_, second) = rec
            .members_raw()
            .filter(|(k, _)| k.raw == b"k")
            .last()
            .unwrap();
        let second = rec.object_at(second).unwrap().get("x").unwrap();
        assert_eq!(second.as_str(), Some("second"));
        // An owned index reads the same.
        let owned = Record::parse(text).unwrap();
        assert_eq!(
            owned.object("k").unwrap().get_many(&keys),
            rec.object("k").unwrap().get_many(&keys)
        );
    }
}
