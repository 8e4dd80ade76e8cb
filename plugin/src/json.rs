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

use std::borrow::Cow;

use crate::member_index::Member;
pub use crate::member_index::RecordIndex;

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
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// The number as `f64`, or a string holding a number (`"12.5"`).
    pub fn to_f64_lenient(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            Value::Str(s) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
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

    /// The elements of this array, in order (empty for other values).
    pub fn elements(&self) -> Elements<'a> {
        match self {
            Value::Array(text) => Elements::new(text),
            _ => Elements::empty(),
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

/// A record's index, its own or lent by the caller.
#[derive(Debug, Clone)]
enum IndexRef<'a> {
    Owned(RecordIndex),
    Lent(&'a RecordIndex),
}

impl<'a> Record<'a> {
    /// Reads `text` as one JSON object (whitespace around it allowed).
    pub fn parse(text: &'a [u8]) -> Result<Record<'a>, JsonError> {
        let mut index = RecordIndex::new();
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

    fn key_matches(&self, m: &Member, key: &str) -> bool {
        raw_key_is(m.raw_key(self.text), m.key_escaped, key)
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
    pub(crate) fn get_many_raw<const N: usize>(&self, keys: &[&str; N]) -> [Option<&'a [u8]>; N] {
        pick_raw(indexed(self.text, self.top()), keys)
    }

    /// A top-level member whose value is an object (the first one named
    /// `key`), with the members the parse indexed in it.
    pub fn object(&self, key: &str) -> Option<Object<'_, 'a>> {
        let m = self.top().iter().find(|m| self.key_matches(m, key))?;
        let raw = m.raw_value(self.text);
        (raw.first() == Some(&b'{')).then(|| Object {
            text: self.text,
            raw,
            members: self.index().nested(m.nested),
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
    /// Its members.
    members: &'r [Member],
}

impl<'a> Object<'_, 'a> {
    /// The object as a [`Value::Object`].
    pub fn as_value(&self) -> Value<'a> {
        Value::Object(self.raw)
    }

    /// A member (the first one, if the key repeats).
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        let [v] = self.get_many(&[key]);
        v
    }

    /// The first member named by each of `keys`, in one pass.
    pub fn get_many<const N: usize>(&self, keys: &[&str; N]) -> [Option<Value<'a>>; N] {
        pick(indexed(self.text, self.members), keys)
    }

    /// As [`Object::get_many`], giving each value's raw text.
    pub(crate) fn get_many_raw<const N: usize>(&self, keys: &[&str; N]) -> [Option<&'a [u8]>; N] {
        pick_raw(indexed(self.text, self.members), keys)
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

/// Appends `s` to `out` as a JSON string literal (quotes included), escaping
/// `"`, `\\` and control characters.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Appends `s` escaped as [`write_str`] does, without the quotes (escaping
/// is per byte, so pieces written one after the other make one string).
pub(crate) fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Names (pods, workloads, namespaces) rarely need escaping: check all
    // bytes at once, then copy them in one go.
    if bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(bytes);
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(from..i).unwrap_or(&[]));
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
        } else {
            out.extend_from_slice(short);
        }
        from = i + 1;
    }
    out.extend_from_slice(bytes.get(from..).unwrap_or(&[]));
}

/// Writes `record` to `out` with every top-level member named `key` removed
/// (with one separating comma each), all other bytes exactly as they were.
pub fn strip(record: &Record<'_>, key: &str, out: &mut Vec<u8>) {
    write_members(record, key, None, out);
}

/// Writes `record` to `out` with every top-level `edgeheal` member removed and
/// `"edgeheal":<tags>` added as the last member. All other bytes (whitespace,
/// key order, number text, escapes) are kept; when the record had no
/// `edgeheal` member, removing the added one gives back the input exactly.
pub fn splice(record: &Record<'_>, tags: &[u8], out: &mut Vec<u8>) {
    write_members(record, TAG_KEY, Some(tags), out);
}

fn write_members(record: &Record<'_>, key: &str, tags: Option<&[u8]>, out: &mut Vec<u8>) {
    let text = record.text;
    out.reserve(text.len() + tags.map_or(0, |t| t.len() + 16));
    let removed = |m: &Member| record.key_matches(m, key);
    let members = record.top();
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        // `{ ... }` with no members: insert right after the `{`.
        out.extend_from_slice(text.get(..=record.open).unwrap_or(&[]));
        if let Some(tags) = tags {
            push_tag_member(out, tags);
        }
        out.extend_from_slice(text.get(record.open + 1..).unwrap_or(&[]));
        return;
    };
    let (first_key, last_end) = (first.key_start as usize, last.value_end as usize);
    if tags.is_some() && !members.iter().any(removed) {
        // Common case: one copy up to the end of the last value, then the tags.
        out.extend_from_slice(text.get(..last_end).unwrap_or(&[]));
        out.push(b',');
        if let Some(tags) = tags {
            push_tag_member(out, tags);
        }
        out.extend_from_slice(text.get(last_end..).unwrap_or(&[]));
        return;
    }
    out.extend_from_slice(text.get(..first_key).unwrap_or(&[]));
    let mut wrote_any = false;
    let mut prev_end: Option<usize> = None;
    for m in members {
        let (key_start, value_end) = (m.key_start as usize, m.value_end as usize);
        if !removed(m) {
            if wrote_any {
                // The separator that preceded this member in the text: `ws , ws`.
                let sep_start = prev_end.unwrap_or(key_start);
                out.extend_from_slice(text.get(sep_start..key_start).unwrap_or(b","));
            }
            out.extend_from_slice(text.get(key_start..value_end).unwrap_or(&[]));
            wrote_any = true;
        }
        prev_end = Some(value_end);
    }
    if let Some(tags) = tags {
        if wrote_any {
            out.push(b',');
        }
        push_tag_member(out, tags);
    }
    out.extend_from_slice(text.get(last_end..).unwrap_or(&[]));
}

fn push_tag_member(out: &mut Vec<u8>, tags: &[u8]) {
    out.extend_from_slice(b"\"edgeheal\":");
    out.extend_from_slice(tags);
}

// ---------------------------------------------------------------------------
// Validation.

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The container stack as bits (1 = object), so depth costs one bit per level.
/// The first 64 levels live in `first`, so ordinary records allocate nothing.
#[derive(Default)]
struct BitStack {
    first: u64,
    /// Levels 64 and deeper, 64 per word.
    words: Vec<u64>,
    depth: usize,
}

impl BitStack {
    fn word(&self, w: usize) -> Option<&u64> {
        match w.checked_sub(1) {
            None => Some(&self.first),
            Some(i) => self.words.get(i),
        }
    }

    fn push(&mut self, is_object: bool) {
        let (w, b) = (self.depth / 64, self.depth % 64);
        if w > self.words.len() {
            self.words.push(0);
        }
        let word = match w.checked_sub(1) {
            None => Some(&mut self.first),
            Some(i) => self.words.get_mut(i),
        };
        if let Some(word) = word {
            if is_object {
                *word |= 1 << b;
            } else {
                *word &= !(1 << b);
            }
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Is the innermost open container an object?
    fn top_is_object(&self) -> bool {
        let Some(i) = self.depth.checked_sub(1) else {
            return false;
        };
        self.word(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

#[derive(Clone, Copy)]
enum State {
    /// After `{`: a key or `}`.
    KeyOrEnd,
    /// After `[`: a value or `]`.
    ValueOrEnd,
    /// After `,` in an array: a value (an object member's value is read
    /// with its key).
    Value,
    /// After a value: `,` or the closing bracket.
    AfterValue,
}

/// A member being read: its key's (start, end, escaped) and its value's start.
#[derive(Clone, Copy)]
struct PendingMember {
    key: Option<(u32, u32, bool)>,
    value_start: u32,
}

impl PendingMember {
    const NONE: PendingMember = PendingMember {
        key: None,
        value_start: 0,
    };

    /// The member, if a key was pending, with its value ending at `value_end`.
    fn finish(&mut self, value_end: u32) -> Option<Member> {
        let (key_start, key_end, key_escaped) = self.key.take()?;
        Some(Member {
            key_start,
            key_end,
            value_start: self.value_start,
            value_end,
            nested: (0, 0),
            key_escaped,
        })
    }
}

struct Parser<'a, 'i> {
    text: &'a [u8],
    pos: usize,
    stack: BitStack,
    index: &'i mut RecordIndex,
    /// The top-level member being read.
    top: PendingMember,
    /// The member of a top-level object being read.
    inner: PendingMember,
    /// Where the members of the top-level object being read start in the
    /// index (`None` when the value is no object).
    object_start: Option<u32>,
}

impl<'a, 'i> Parser<'a, 'i> {
    fn new(text: &'a [u8], index: &'i mut RecordIndex) -> Parser<'a, 'i> {
        index.clear();
        Parser {
            text,
            pos: 0,
            stack: BitStack::default(),
            index,
            top: PendingMember::NONE,
            inner: PendingMember::NONE,
            object_start: None,
        }
    }

    /// The current offset as stored in a [`Member`] (`run` checked it fits).
    #[inline]
    fn offset(&self) -> u32 {
        self.pos as u32
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.text.get(self.pos) {
            if !is_ws(b) {
                break;
            }
            self.pos += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Result<u8, JsonError> {
        self.text
            .get(self.pos)
            .copied()
            .ok_or(JsonError::UnexpectedEnd(self.pos))
    }

    fn unexpected(&self) -> JsonError {
        match self.text.get(self.pos) {
            Some(&byte) => JsonError::UnexpectedByte {
                offset: self.pos,
                byte,
            },
            None => JsonError::UnexpectedEnd(self.pos),
        }
    }

    /// Validates the text and indexes its members; returns the offsets of
    /// the object's `{` and `}`.
    fn run(mut self) -> Result<(usize, usize), JsonError> {
        if u32::try_from(self.text.len()).is_err() {
            return Err(JsonError::TooLarge(self.text.len()));
        }
        self.skip_ws();
        let open = self.pos;
        match self.text.get(open) {
            Some(b'{') => {}
            _ => return Err(JsonError::NotAnObject(open)),
        }
        self.pos += 1;
        self.stack.push(true);
        let mut state = State::KeyOrEnd;
        let close;
        loop {
            self.skip_ws();
            let b = self.peek()?;
            match state {
                State::KeyOrEnd => {
                    if b == b'}' {
                        if let Some(done) = self.close_container()? {
                            close = done;
                            break;
                        }
                        state = State::AfterValue;
                        continue;
                    }
                    if b != b'"' {
                        return Err(self.unexpected());
                    }
                    state = self.member()?;
                }
                State::ValueOrEnd | State::Value => {
                    if b == b']' && matches!(state, State::ValueOrEnd) {
                        if let Some(done) = self.close_container()? {
                            close = done;
                            break;
                        }
                        state = State::AfterValue;
                        continue;
                    }
                    state = self.value(b)?;
                }
                State::AfterValue => match b {
                    b',' => {
                        self.pos += 1;
                        if !self.stack.top_is_object() {
                            state = State::Value;
                            continue;
                        }
                        // The next member, in the same turn.
                        self.skip_ws();
                        if self.peek()? != b'"' {
                            return Err(self.unexpected());
                        }
                        state = self.member()?;
                    }
                    b'}' | b']' => {
                        if (b == b'}') != self.stack.top_is_object() {
                            return Err(self.unexpected());
                        }
                        if let Some(done) = self.close_container()? {
                            close = done;
                            break;
                        }
                    }
                    _ => return Err(self.unexpected()),
                },
            }
        }
        self.skip_ws();
        if self.pos < self.text.len() {
            return Err(JsonError::TrailingData(self.pos));
        }
        Ok((open, close))
    }

    /// Reads an object member from its key's `"` at `pos`: the key, the
    /// colon, and the value as [`Parser::value`] starts it.
    #[inline]
    fn member(&mut self) -> Result<State, JsonError> {
        let key_start = self.offset();
        let escaped = self.string()?;
        let key = Some((key_start, self.offset(), escaped));
        self.skip_ws();
        if self.peek()? != b':' {
            return Err(self.unexpected());
        }
        self.pos += 1;
        match self.stack.depth {
            1 => self.top.key = key,
            2 => self.inner.key = key,
            _ => {}
        }
        self.skip_ws();
        let b = self.peek()?;
        self.value(b)
    }

    /// Starts the value whose first byte `b` is at `pos`: consumes it whole
    /// when it is a scalar, or its opening bracket. Returns the next state.
    #[inline]
    fn value(&mut self, b: u8) -> Result<State, JsonError> {
        match self.stack.depth {
            1 => {
                self.top.value_start = self.offset();
                self.object_start = (b == b'{').then(|| self.nested_len());
            }
            2 => self.inner.value_start = self.offset(),
            _ => {}
        }
        match b {
            b'{' => {
                self.pos += 1;
                self.stack.push(true);
                return Ok(State::KeyOrEnd);
            }
            b'[' => {
                self.pos += 1;
                self.stack.push(false);
                return Ok(State::ValueOrEnd);
            }
            b'"' => {
                self.string()?;
            }
            b'-' | b'0'..=b'9' => self.number()?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => return Err(self.unexpected()),
        }
        self.value_done();
        Ok(State::AfterValue)
    }

    /// Consumes the closing bracket at `pos`. Returns the offset of the
    /// record's final `}` when this closed the top-level object.
    fn close_container(&mut self) -> Result<Option<usize>, JsonError> {
        let at = self.pos;
        self.pos += 1;
        self.stack.pop();
        match self.stack.depth {
            0 => Ok(Some(at)),
            _ => {
                self.value_done();
                Ok(None)
            }
        }
    }

    /// A value just ended at `pos`: index it if it is a member's of the
    /// record or of a top-level object.
    #[inline]
    fn value_done(&mut self) {
        let end = self.offset();
        match self.stack.depth {
            1 => {
                if let Some(mut m) = self.top.finish(end) {
                    if let Some(start) = self.object_start.take() {
                        m.nested = (start, self.nested_len());
                    }
                    self.index.top.push(m);
                }
            }
            2 => {
                if let Some(m) = self.inner.finish(end) {
                    self.index.nested.push(m);
                }
            }
            _ => {}
        }
    }

    /// Nested members indexed so far (fits: each took bytes of the text).
    #[inline]
    fn nested_len(&self) -> u32 {
        self.index.nested.len() as u32
    }

    /// Consumes a string starting at the `"` at `pos`; returns whether it had escapes.
    /// Inlined for the common string, which runs to its quote unescaped.
    #[inline]
    fn string(&mut self) -> Result<bool, JsonError> {
        let Some(i) = find_special::<true>(self.text, self.pos + 1) else {
            return Err(JsonError::UnexpectedEnd(self.text.len()));
        };
        self.pos = i;
        if self.text.get(i) == Some(&b'"') {
            self.pos += 1;
            return Ok(false);
        }
        self.string_from_special()
    }

    /// The rest of a string from the first backslash or control character
    /// in it, at `pos`.
    #[inline(never)]
    fn string_from_special(&mut self) -> Result<bool, JsonError> {
        loop {
            let i = self.pos;
            match self.text.get(i).copied() {
                Some(b'"') => {
                    // Only after an escape: `string` takes unescaped strings.
                    self.pos += 1;
                    return Ok(true);
                }
                Some(b'\\') => {}
                _ => {
                    // A control character: reported when the string goes on
                    // (a quote or backslash follows), else the text is cut.
                    let rest = self.text.get(i..).unwrap_or(&[]);
                    return Err(match memchr::memchr2(b'"', b'\\', rest) {
                        Some(_) => JsonError::ControlCharacter(i),
                        None => JsonError::UnexpectedEnd(self.text.len()),
                    });
                }
            }
            let esc = self.text.get(i + 1).copied();
            match esc {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 2,
                Some(b'u') => {
                    let hex = self.text.get(i + 2..i + 6);
                    match hex {
                        Some(h) if h.iter().all(u8::is_ascii_hexdigit) => self.pos += 6,
                        _ => return Err(JsonError::InvalidEscape(i)),
                    }
                }
                None => return Err(JsonError::UnexpectedEnd(self.text.len())),
                Some(_) => return Err(JsonError::InvalidEscape(i)),
            }
            let Some(next) = find_special::<true>(self.text, self.pos) else {
                return Err(JsonError::UnexpectedEnd(self.text.len()));
            };
            self.pos = next;
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.text.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        if self.text.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.text.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(JsonError::InvalidNumber(start)),
        }
        if self.text.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(JsonError::InvalidNumber(start));
            }
        }
        if matches!(self.text.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.text.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(JsonError::InvalidNumber(start));
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        let end = self.pos + word.len();
        match self.text.get(self.pos..end) {
            Some(w) if w == word => {
                self.pos = end;
                Ok(())
            }
            _ => {
                // Point at the first byte that differs.
                let rest = self.text.get(self.pos..).unwrap_or(&[]);
                let same = rest.iter().zip(word).take_while(|(a, b)| a == b).count();
                self.pos += same;
                Err(self.unexpected())
            }
        }
    }
}

/// The offset of the first `"` or `\\` (and, when `CONTROL`, byte below
/// 0x20) at or after `from`. Strings are short, so eight bytes at a time in
/// a register beat a vector search's setup; the lowest flagged byte of each
/// test is exact (borrows only run upwards from a true match).
#[inline]
fn find_special<const CONTROL: bool>(text: &[u8], from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut pos = from;
    let tail = loop {
        let Some(chunk) = text.get(pos..).and_then(|r| r.first_chunk::<8>()) else {
            break text.get(pos..)?;
        };
        let v = u64::from_le_bytes(*chunk);
        let q = v ^ (LO * u64::from(b'"'));
        let b = v ^ (LO * u64::from(b'\\'));
        let mut m = (q.wrapping_sub(LO) & !q) | (b.wrapping_sub(LO) & !b);
        if CONTROL {
            m |= v.wrapping_sub(LO * 0x20) & !v;
        }
        let m = m & HI;
        if m != 0 {
            return Some(pos + (m.trailing_zeros() / 8) as usize);
        }
        pos += 8;
    };
    tail.iter()
        .position(|&c| c == b'"' || c == b'\\' || (CONTROL && c < 0x20))
        .map(|i| pos + i)
}

// ---------------------------------------------------------------------------
// Lookups in already-validated text. These never panic on arbitrary text
// either; on malformed input they return `None` or stop early.

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
    fn new(text: &'a [u8]) -> Members<'a> {
        let p = ws(text, 0);
        match text.get(p) {
            Some(b'{') => Members { text, pos: p + 1 },
            _ => Members::empty(),
        }
    }

    fn empty() -> Members<'a> {
        Members { text: &[], pos: 0 }
    }

    /// The next member as (raw key bytes, key had escapes, raw value text).
    fn next_raw(&mut self) -> Option<(&'a [u8], bool, &'a [u8])> {
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
fn raw_key_is(raw: &[u8], escaped: bool, key: &str) -> bool {
    if escaped {
        unescape(raw) == key
    } else {
        // Keys are short: compare them in line rather than call `memcmp`.
        let key = key.as_bytes();
        raw.len() == key.len() && raw.iter().zip(key).all(|(a, b)| a == b)
    }
}

/// One pass over members (given as raw key, escaped, raw value): the first
/// value of each of `keys`.
fn pick<'a, const N: usize>(
    members: impl Iterator<Item = (&'a [u8], bool, &'a [u8])>,
    keys: &[&str; N],
) -> [Option<Value<'a>>; N] {
    pick_raw(members, keys).map(|raw| raw.and_then(value_of_raw))
}

/// As [`pick`], giving each value's raw text.
fn pick_raw<'a, const N: usize>(
    members: impl Iterator<Item = (&'a [u8], bool, &'a [u8])>,
    keys: &[&str; N],
) -> [Option<&'a [u8]>; N] {
    if N > 64 {
        return pick_raw_linear(members, keys);
    }
    // The keys as bit sets by length (lengths past 31 share a class), so
    // each member is compared only with the keys still wanted that it could be.
    let mut by_len = [0u64; 32];
    let mut left = 0u64;
    for (i, key) in keys.iter().enumerate() {
        if let Some(class) = by_len.get_mut(key.len().min(31)) {
            *class |= 1 << i;
        }
        left |= 1 << i;
    }
    let mut out: [Option<&'a [u8]>; N] = [None; N];
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
    out
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
fn object_get<'a>(text: &'a [u8], key: &str) -> Option<Value<'a>> {
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
    fn new(text: &'a [u8]) -> Elements<'a> {
        let p = ws(text, 0);
        match text.get(p) {
            Some(b'[') => Elements { text, pos: p + 1 },
            _ => Elements::empty(),
        }
    }

    fn empty() -> Elements<'a> {
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

// ---------------------------------------------------------------------------
// Unescaping.

fn lossy(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

fn hex4(raw: &[u8], at: usize) -> Option<u32> {
    let h = raw.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + char::from(c).to_digit(16)?;
    }
    Some(v)
}

/// Decodes the body of a JSON string (between the quotes). Borrowed when it
/// has no escapes and is valid UTF-8; lone surrogates become U+FFFD and
/// invalid UTF-8 is decoded lossily.
pub fn unescape(raw: &[u8]) -> Cow<'_, str> {
    if memchr::memchr(b'\\', raw).is_none() {
        return lossy(raw);
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(raw.len());
    decode_escapes(raw, &mut bytes);
    match String::from_utf8(bytes) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// As [`unescape`], decoding into `buf` (cleared first) when `raw` has
/// escapes, so a caller that keeps `buf` allocates only while it grows.
pub(crate) fn unescape_in<'b>(raw: &'b [u8], buf: &'b mut Vec<u8>) -> Cow<'b, str> {
    if memchr::memchr(b'\\', raw).is_none() {
        return lossy(raw);
    }
    buf.clear();
    decode_escapes(raw, buf);
    lossy(buf)
}

/// Appends the decoded body of a JSON string to `bytes`.
fn decode_escapes(raw: &[u8], bytes: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = raw.get(i..).and_then(|r| memchr::memchr(b'\\', r)) else {
            bytes.extend_from_slice(raw.get(i..).unwrap_or(&[]));
            break;
        };
        bytes.extend_from_slice(raw.get(i..i + off).unwrap_or(&[]));
        i += off;
        let simple = match raw.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            bytes.push(c);
            i += 2;
            continue;
        }
        let Some(hi) = (raw.get(i + 1) == Some(&b'u'))
            .then(|| hex4(raw, i + 2))
            .flatten()
        else {
            // Not a valid escape (cannot happen after validation): keep it.
            bytes.push(b'\\');
            i += 1;
            continue;
        };
        i += 6;
        let ch = if (0xD800..0xDC00).contains(&hi) {
            let lo = (raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u'))
                .then(|| hex4(raw, i + 2))
                .flatten()
                .filter(|lo| (0xDC00..0xE000).contains(lo));
            match lo {
                Some(lo) => {
                    i += 6;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                }
                None => None,
            }
        } else {
            char::from_u32(hi)
        };
        let mut buf = [0u8; 4];
        bytes.extend_from_slice(
            ch.unwrap_or(char::REPLACEMENT_CHARACTER)
                .encode_utf8(&mut buf)
                .as_bytes(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spliced(input: &str, tags: &str) -> String {
        let rec = Record::parse(input.as_bytes()).unwrap();
        let mut out = Vec::new();
        splice(&rec, tags.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn splice_cases() {
        let cases: &[(&str, &str)] = &[
            ("{}", r#"{"edgeheal":{}}"#),
            ("{ }", r#"{"edgeheal":{} }"#),
            (r#"{"a":1}"#, r#"{"a":1,"edgeheal":{}}"#),
            ("{\"a\" : 1.50e3 }\n", "{\"a\" : 1.50e3,\"edgeheal\":{} }\n"),
            (r#"{"edgeheal":1}"#, r#"{"edgeheal":{}}"#),
            (r#"{"edgeheal":1,"a":2}"#, r#"{"a":2,"edgeheal":{}}"#),
            (r#"{"a":2, "edgeheal":1}"#, r#"{"a":2,"edgeheal":{}}"#),
            (
                r#"{"a":1, "edgeheal":{"x":[1]}, "b":"\u00e9", "edgeheal":null}"#,
                r#"{"a":1, "b":"\u00e9","edgeheal":{}}"#,
            ),
            (r#"{"edge\u0068eal":1,"a":2}"#, r#"{"a":2,"edgeheal":{}}"#),
            (
                r#"  {"a":{"edgeheal":1}}  "#,
                r#"  {"a":{"edgeheal":1},"edgeheal":{}}  "#,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(spliced(input, "{}"), *want, "input {input}");
        }
    }

    #[test]
    fn strip_undoes_splice() {
        for input in ["{}", "{ }", " {\"a\":1 } \n", "{\"a\":[1,{}],\"b\":\"x\"}"] {
            let rec = Record::parse(input.as_bytes()).unwrap();
            let mut out = Vec::new();
            splice(&rec, br#"{"k":1}"#, &mut out);
            let rec2 = Record::parse(&out).unwrap();
            let mut back = Vec::new();
            strip(&rec2, TAG_KEY, &mut back);
            assert_eq!(back, input.as_bytes());
        }
    }

    #[test]
    fn find_special_finds_the_first_special_byte() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x00, b'{'];
        for len in 0..40 {
            for _ in 0..200 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly plain bytes, so specials sit anywhere.
                        let r = (seed >> 33) as usize % 40;
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
                }
            }
        }
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&[u8], JsonError)] = &[
            (b"", JsonError::NotAnObject(0)),
            (b"  [1]", JsonError::NotAnObject(2)),
            (b"{", JsonError::UnexpectedEnd(1)),
            (b"{\"a\":1", JsonError::UnexpectedEnd(6)),
            (
                b"{\"a\" 1}",
                JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'1',
                },
            ),
            (
                b"{\"a\":1,}",
                JsonError::UnexpectedByte {
                    offset: 7,
                    byte: b'}',
                },
            ),
            (
                b"{\"a\":[1,]}",
                JsonError::UnexpectedByte {
                    offset: 8,
                    byte: b']',
                },
            ),
            (
                b"{\"a\":[1}",
                JsonError::UnexpectedByte {
                    offset: 7,
                    byte: b'}',
                },
            ),
            (
                b"{\"a\":01}",
                JsonError::UnexpectedByte {
                    offset: 6,
                    byte: b'1',
                },
            ),
            (b"{\"a\":1.}", JsonError::InvalidNumber(5)),
            (b"{\"a\":-}", JsonError::InvalidNumber(5)),
            (
                b"{\"a\":tru}",
                JsonError::UnexpectedByte {
                    offset: 8,
                    byte: b'}',
                },
            ),
            (b"{\"a\":\"\\x\"}", JsonError::InvalidEscape(6)),
            (b"{\"a\":\"\\u12\"}", JsonError::InvalidEscape(6)),
            (b"{\"a\":\"abc", JsonError::UnexpectedEnd(9)),
            (b"{\"a\":\"ab\x01c\"}", JsonError::ControlCharacter(8)),
            (b"{\"a\":\"x\\n\ty\"}", JsonError::ControlCharacter(9)),
            (b"{\"a\x00\":1}", JsonError::ControlCharacter(3)),
            (b"{} x", JsonError::TrailingData(3)),
            (b"{}{}", JsonError::TrailingData(2)),
            (
                b"{a:1}",
                JsonError::UnexpectedByte {
                    offset: 1,
                    byte: b'a',
                },
            ),
        ];
        for (input, want) in cases {
            let got = Record::parse(input).unwrap_err();
            assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

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
        // An owned index reads the same.
        let owned = Record::parse(text).unwrap();
        assert_eq!(
            owned.object("k").unwrap().get_many(&keys),
            rec.object("k").unwrap().get_many(&keys)
        );
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
    }

    #[test]
    fn write_str_cases() {
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain é", "\"plain é\""),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\t\r\u{8}\u{c}", r#""\n\t\r\b\f""#),
            ("\u{0}\u{1f}\u{7f}", "\"\\u0000\\u001f\u{7f}\""),
        ];
        for (s, want) in cases {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), *want);
            let back: String = serde_json::from_str(want).unwrap();
            assert_eq!(&back, s);
        }
    }

    #[test]
    fn deep_nesting_is_iterative() {
        let depth = 100_000;
        let mut text = String::from("{\"a\":");
        text.push_str(&"[".repeat(depth));
        text.push_str(&"]".repeat(depth));
        text.push_str(",\"b\":2}");
        let rec = Record::parse(text.as_bytes()).unwrap();
        assert_eq!(rec.get("b"), Some(Value::Number("2")));
        assert!(matches!(rec.get("a"), Some(Value::Array(_))));
        let unbalanced = format!("{{\"a\":{}", "[".repeat(depth));
        assert!(Record::parse(unbalanced.as_bytes()).is_err());
    }
}
