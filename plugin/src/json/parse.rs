//! The validating parse: one iterative pass over the record text that checks
//! it is one JSON object and indexes its members (see `member_index`) as it goes.
//! A rewriting parse ([`Parser::rewriting`]) also reads Fluent Bit's
//! non-finite numbers, writing the text with them replaced (see `non_finite`).

use super::lookup::same_key;
use super::member_index::{DecodedValue, Member, RecordIndex, UNINDEXED};
use super::non_finite::NonFinite;
use super::scan::{copy_run, copy_to_special, find_special, is_ws};
use super::unescape::{decode_unicode, simple_escape};
use super::JsonError;

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

pub(super) struct Parser<'a, 'i> {
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
    /// When the top-level object being read is the one the index remembers
    /// for the record, not seen before: the hash it is kept under when it
    /// closes, and where its member starts (its key's quote).
    keep: Option<(u64, u32)>,
    /// A key the index remembers objects under was met.
    key_met: bool,
    /// The keys (as bits, by their place in the index's list) a value was
    /// decoded under: one value each at most, so decoding stays linear in
    /// the record however often a key repeats.
    decoded_keys: u64,
    /// In a rewriting parse: where the text is written with its non-finite
    /// numbers replaced, up to `copied`. `None`: such a number is an error.
    rewrite: Option<&'i mut Vec<u8>>,
    /// How much of the text `rewrite` holds (the rest is copied at the end).
    copied: usize,
    /// How many numbers `rewrite` replaced.
    replaced: usize,
}

impl<'a, 'i> Parser<'a, 'i> {
    pub(super) fn new(text: &'a [u8], index: &'i mut RecordIndex) -> Parser<'a, 'i> {
        index.clear();
        Parser {
            text,
            pos: 0,
            stack: BitStack::default(),
            index,
            top: PendingMember::NONE,
            inner: PendingMember::NONE,
            object_start: None,
            keep: None,
            key_met: false,
            decoded_keys: 0,
            rewrite: None,
            copied: 0,
            replaced: 0,
        }
    }

    /// A parse that reads each non-finite number Fluent Bit writes (see
    /// [`NonFinite`]) where a value stands as if it were a number, and
    /// writes the text to `out` with each replaced: the part before the
    /// last one as it goes, the rest by [`Parser::run_rewriting`].
    pub(super) fn rewriting(
        text: &'a [u8],
        index: &'i mut RecordIndex,
        out: &'i mut Vec<u8>,
    ) -> Parser<'a, 'i> {
        Parser {
            rewrite: Some(out),
            ..Parser::new(text, index)
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
    pub(super) fn run(mut self) -> Result<(usize, usize), JsonError> {
        self.validate()
    }

    /// As [`Parser::run`] for a [`Parser::rewriting`] parse: validates the
    /// text. Returns how much of the text its rewritten copy holds, up to
    /// past its last replaced number (the caller appends the rest), and how
    /// many it replaced.
    pub(super) fn run_rewriting(mut self) -> Result<(usize, usize), JsonError> {
        self.validate()?;
        Ok((self.copied, self.replaced))
    }

    #[inline(always)]
    fn validate(&mut self) -> Result<(usize, usize), JsonError> {
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
                if b == b'{' && self.remembered_key() && self.skip_seen() {
                    return Ok(State::AfterValue);
                }
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
                if self.stack.depth == 1 && !self.index.decode_keys.is_empty() {
                    self.top_string()?;
                } else {
                    self.string()?;
                }
            }
            // Fluent Bit's `-inf`, `nan`, `-nan` and `inf` fail here first:
            // they are read on these errors' paths only.
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                if let Err(e) = self.number() {
                    self.non_finite(start, e)?;
                }
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => {
                let start = self.pos;
                if let Err(e) = self.literal(b"null") {
                    self.non_finite(start, e)?;
                }
            }
            b'i' => self.non_finite(self.pos, self.unexpected())?,
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
                if self.stack.depth == 1 {
                    if let Some((hash, start)) = self.keep.take() {
                        self.keep_seen(hash, start);
                    }
                }
                self.value_done();
                Ok(None)
            }
        }
    }

    /// The key of the top-level member being read: its raw text between the
    /// quotes, and whether it has escapes.
    #[inline]
    fn top_key(&self) -> Option<(&'a [u8], bool)> {
        let (start, end, escaped) = self.top.key?;
        let raw = self
            .text
            .get(start as usize + 1..(end as usize).saturating_sub(1))
            .unwrap_or(&[]);
        Some((raw, escaped))
    }

    /// At the value of a top-level member: whether its key is one the index
    /// remembers objects under, met for the first time in the record (a
    /// record's remembered object is the first member so named).
    #[inline]
    fn remembered_key(&mut self) -> bool {
        let Some(seen) = self.index.seen.as_ref() else {
            return false;
        };
        let Some((raw, escaped)) = self.top_key() else {
            return false;
        };
        // An escaped key may spell it too: the record then keeps no token.
        let named = if escaped {
            seen.is_key(super::unescape(raw).as_bytes())
        } else {
            seen.is_key(raw)
        };
        if !named || self.key_met {
            return false;
        }
        self.key_met = true;
        !escaped
    }

    /// At the `{` of the remembered key's object: when the index has seen
    /// its member (from the key's quote), moves past it and indexes the
    /// member (the object's own members unindexed); else marks it to be
    /// kept when it closes.
    fn skip_seen(&mut self) -> bool {
        let place = self.index.top.len() as u32;
        let Some((start, ..)) = self.top.key else {
            return false;
        };
        let rest = self.text.get(start as usize..).unwrap_or(&[]);
        let Some(seen) = self.index.seen.as_mut() else {
            return false;
        };
        let (len, token) = match seen.find(rest) {
            Ok(found) => found,
            Err(hash) => {
                self.keep = hash.map(|h| (h, start));
                return false;
            }
        };
        self.pos = start as usize + len;
        self.object_start = None;
        if let Some(mut m) = self.top.finish(self.offset()) {
            m.nested = UNINDEXED;
            self.index.top.push(m);
            self.index.remembered = Some((place, token));
        }
        true
    }

    /// The remembered key's object, whose member starts at `start`, just
    /// closed before `pos`: the index keeps the member.
    fn keep_seen(&mut self, hash: u64, start: u32) {
        let place = self.index.top.len() as u32;
        let member = self.text.get(start as usize..self.pos).unwrap_or(&[]);
        let token = self
            .index
            .seen
            .as_mut()
            .and_then(|seen| seen.keep(hash, member));
        self.index.remembered = token.map(|t| (place, t));
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
        if self.plain_string()? {
            return Ok(false);
        }
        self.string_from_special()
    }

    /// From the `"` at `pos`, moves to the string's first backslash or
    /// control character, or past its closing quote when it has none (then
    /// `true`).
    #[inline]
    fn plain_string(&mut self) -> Result<bool, JsonError> {
        let Some(i) = find_special::<true>(self.text, self.pos + 1) else {
            return Err(JsonError::UnexpectedEnd(self.text.len()));
        };
        self.pos = i;
        if self.text.get(i) == Some(&b'"') {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// The string value of a top-level member, from its `"` at `pos`: when
    /// it has escapes and its key is one the index decodes, decoded into the
    /// index as it is validated.
    #[inline]
    fn top_string(&mut self) -> Result<(), JsonError> {
        let body = self.pos + 1;
        if self.plain_string()? {
            return Ok(());
        }
        let Some(key) = self.decoded_key() else {
            return self.string_from_special().map(drop);
        };
        let from = self.index.decoded_end as u32;
        self.decode_from_special(body)?;
        let end = self.index.decoded_end as u32;
        self.index.decoded_at.push(DecodedValue {
            body: (body as u32, self.offset() - 1),
            text: (from, end),
        });
        self.decoded_keys |= key;
        Ok(())
    }

    /// When the top-level member being read has a key (unescaped) the
    /// index decodes the values of, and no value was decoded under it yet:
    /// the key's bit.
    #[inline]
    fn decoded_key(&self) -> Option<u64> {
        let (raw, false) = self.top_key()? else {
            return None;
        };
        let i = self
            .index
            .decode_keys
            .iter()
            .take(64)
            .position(|k| same_key(k.as_bytes(), raw))?;
        let bit = 1u64 << i;
        (self.decoded_keys & bit == 0).then_some(bit)
    }

    /// As [`Parser::string_from_special`] (the same checks, the same
    /// errors), appending the decoded text of the string, whose body starts
    /// at `body`, to the index's decoded texts.
    ///
    /// Decoding never lengthens the text, so the buffer is given room for
    /// the rest of the record once (growing it only when it has less) and
    /// plain runs are copied a word at a time, overlapping what comes next;
    /// the decoded text ends at the index's `decoded_end`.
    fn decode_from_special(&mut self, body: usize) -> Result<(), JsonError> {
        let text = self.text;
        let from = self.index.decoded_end;
        let buf = &mut self.index.decoded;
        let room = from + text.len().saturating_sub(body) + 8;
        if buf.len() < room {
            buf.resize(room, 0);
        }
        let mut i = self.pos;
        let mut out = copy_run(text, body..i, buf, from);
        let result = loop {
            match text.get(i).copied() {
                Some(b'"') => break Ok(i + 1),
                Some(b'\\') => {}
                _ => break Err(control_or_end(text, i)),
            }
            let c = text.get(i + 1).copied();
            let run = match c.and_then(simple_escape) {
                Some(b) => {
                    if let Some(to) = buf.get_mut(out) {
                        *to = b;
                    }
                    out += 1;
                    i + 2
                }
                None if c == Some(b'u') => {
                    let escape = decode_unicode(text, i);
                    // A `\u` without four hex digits decodes as no escape.
                    if escape.consumed() == 1 {
                        break Err(JsonError::InvalidEscape(i));
                    }
                    out = escape.write_at(buf, out);
                    i + escape.consumed()
                }
                None if c.is_none() => break Err(JsonError::UnexpectedEnd(text.len())),
                None => break Err(JsonError::InvalidEscape(i)),
            };
            match copy_to_special(text, run, buf, out) {
                Some(next) => {
                    out += next - run;
                    i = next;
                }
                None => break Err(JsonError::UnexpectedEnd(text.len())),
            }
        };
        self.pos = result?;
        self.index.decoded_end = out;
        Ok(())
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
                _ => return Err(control_or_end(self.text, i)),
            }
            let esc = self.text.get(i + 1).copied();
            match esc {
                Some(c) if simple_escape(c).is_some() => self.pos += 2,
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

    /// A value starting at `start` failed to read with `error`: when it is
    /// a non-finite number Fluent Bit writes, [`JsonError::NonFinite`], or
    /// in a rewriting parse its replacement written and the number consumed;
    /// else `error`.
    #[cold]
    #[inline(never)]
    fn non_finite(&mut self, start: usize, error: JsonError) -> Result<(), JsonError> {
        let Some(number) = NonFinite::at(self.text, start) else {
            return Err(error);
        };
        let Some(out) = self.rewrite.as_deref_mut() else {
            return Err(JsonError::NonFinite(start));
        };
        out.extend_from_slice(self.text.get(self.copied..start).unwrap_or(&[]));
        out.extend_from_slice(number.replacement().as_bytes());
        self.pos = start + number.token().len();
        self.copied = self.pos;
        self.replaced += 1;
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

/// The error for the byte at `i` that ends a string's plain run and is
/// neither a quote nor a backslash: a control character is reported when the
/// string goes on (a quote or backslash follows), else the text is cut.
fn control_or_end(text: &[u8], i: usize) -> JsonError {
    let rest = text.get(i..).unwrap_or(&[]);
    match memchr::memchr2(b'"', b'\\', rest) {
        Some(_) => JsonError::ControlCharacter(i),
        None => JsonError::UnexpectedEnd(text.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::Parser;
    use crate::json::unescape::decode_escapes;
    use crate::json::{JsonError, Record, RecordIndex, Value};
    use crate::test_rng::Xorshift;

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
            // Fluent Bit's non-finite numbers where a value stands (see
            // `non_finite`): the first one, past any in strings.
            (b"{\"a\":inf}", JsonError::NonFinite(5)),
            (b"{\"a\":[1, -nan]}", JsonError::NonFinite(9)),
            (b"{\"a\":{\"b\":nan }}", JsonError::NonFinite(10)),
            (
                b"{\"inf\":\"nan\",\"b\":-inf,\"c\":inf}",
                JsonError::NonFinite(17),
            ),
            // Near misses are what they were.
            (
                b"{\"a\":infinity}",
                JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'i',
                },
            ),
            (
                b"{\"a\":nans}",
                JsonError::UnexpectedByte {
                    offset: 6,
                    byte: b'a',
                },
            ),
            (b"{\"a\":-in}", JsonError::InvalidNumber(5)),
        ];
        for (input, want) in cases {
            let got = Record::parse(input).unwrap_err();
            assert_eq!(&got, want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    /// Where a string starting at `text[start]` (its `"`) ends, byte by
    /// byte: the reference the word-at-a-time scan must agree with.
    fn string_end(text: &[u8], start: usize) -> Result<(usize, bool), JsonError> {
        let (mut i, mut escaped) = (start + 1, false);
        loop {
            match text.get(i).copied() {
                None => return Err(JsonError::UnexpectedEnd(text.len())),
                Some(b'"') => return Ok((i + 1, escaped)),
                Some(b'\\') => {
                    escaped = true;
                    i += match text.get(i + 1).copied() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                        Some(b'u') => match text.get(i + 2..i + 6) {
                            Some(h) if h.iter().all(u8::is_ascii_hexdigit) => 6,
                            _ => return Err(JsonError::InvalidEscape(i)),
                        },
                        None => return Err(JsonError::UnexpectedEnd(text.len())),
                        Some(_) => return Err(JsonError::InvalidEscape(i)),
                    };
                }
                Some(c) if c < 0x20 => {
                    let goes_on = text[i..].iter().any(|&c| c == b'"' || c == b'\\');
                    return Err(match goes_on {
                        true => JsonError::ControlCharacter(i),
                        false => JsonError::UnexpectedEnd(text.len()),
                    });
                }
                Some(_) => i += 1,
            }
        }
    }

    /// Strings full of escapes, cut anywhere, with the bytes a word test
    /// may flag spuriously (`#` above a quote, `]` above a backslash, a
    /// space above a control character) next to the special ones.
    #[test]
    fn strings_end_where_a_byte_by_byte_scan_ends_them() {
        let alphabet = [
            b'\\', b'\\', b'"', b'n', b'u', b'0', b'F', b'g', b'#', b']', b' ', b'a', 0x1f, 0x00,
            0x80, b'/', b't', b'b',
        ];
        let mut rng = Xorshift(0x0dd_ba11);
        for _ in 0..200_000 {
            let lead = (rng.next_u64() % 9) as usize;
            let len = (rng.next_u64() % 48) as usize;
            let mut text = vec![b' '; lead];
            text.push(b'"');
            for _ in 0..len {
                let r = (rng.next_u64() >> 40) as usize;
                // Quotes and control bytes rarer, so strings run on.
                let c = alphabet[r % alphabet.len()];
                let c = if (c == b'"' || c < 0x20) && r % 5 != 0 {
                    b'\\'
                } else {
                    c
                };
                text.push(c);
            }
            let mut index = RecordIndex::new();
            let mut parser = Parser::new(&text, &mut index);
            parser.pos = lead;
            let got = parser.string().map(|escaped| (parser.pos, escaped));
            let want = string_end(&text, lead);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&text));

            // The same string as the value of a member whose values the
            // index decodes: the same end or error, and the text decoded
            // as `unescape` decodes it, kept only for strings with escapes.
            let mut member = br#""log":"#.to_vec();
            member.extend_from_slice(&text);
            let at = 6 + lead;
            let mut index = RecordIndex::new().decoding(&["log"]);
            let mut parser = Parser::new(&member, &mut index);
            parser.top.key = Some((0, 5, false));
            parser.pos = at;
            let got = parser.top_string().map(|()| parser.pos);
            let shifted = match want.clone() {
                Ok((end, _)) => Ok(end + 6),
                Err(JsonError::UnexpectedEnd(o)) => Err(JsonError::UnexpectedEnd(o + 6)),
                Err(JsonError::InvalidEscape(o)) => Err(JsonError::InvalidEscape(o + 6)),
                Err(JsonError::ControlCharacter(o)) => Err(JsonError::ControlCharacter(o + 6)),
                Err(e) => panic!("a string scan gave {e:?}"),
            };
            assert_eq!(got, shifted, "{:?}", String::from_utf8_lossy(&text));
            match want {
                Ok((end, true)) => {
                    let body = (at as u32 + 1, end as u32 + 5);
                    let raw = &member[at + 1..end + 5];
                    let mut decoded = Vec::new();
                    decode_escapes(raw, &mut decoded);
                    assert_eq!(index.decoded(body), Some(&decoded[..]), "{raw:?}");
                    assert_eq!(index.decoded_at.len(), 1);
                }
                _ => assert!(index.decoded_at.is_empty() && index.decoded_texts().is_empty()),
            }
        }
    }

    /// Only top-level string values under the keys an index decodes, with
    /// unescaped keys and escapes, are decoded by the parse; a record reads
    /// its values the same either way, and each parse starts afresh.
    #[test]
    fn a_decoding_parse_decodes_the_values_of_its_keys() {
        let mut index = RecordIndex::new().decoding(&["log", "message"]);
        let cases: &[(&str, &[&str])] = &[
            (r#"{"log":"a\"b\n"}"#, &["a\"b\n"]),
            (r#"{"log":"plain"}"#, &[]),
            (r#"{"msg":"a\nb"}"#, &[]),
            (r#"{"l\u006fg":"a\nb"}"#, &[]),
            (r#"{"a":{"log":"a\nb"}}"#, &[]),
            (r#"{"a":["log","a\nb"],"b":{"message":"\t"}}"#, &[]),
            (
                r#"{ "message" : "\u00e9\ud83d\ude00\ud800x" , "log":"\/\\" }"#,
                &["é😀\u{FFFD}x", "/\\"],
            ),
            // One value per key: a repeated key's later values are decoded
            // when read.
            (r#"{"log":"a\nb","log":"c\td"}"#, &["a\nb"]),
            (r#"{"log":"plain","log":"c\td"}"#, &["c\td"]),
        ];
        for (text, want) in cases {
            let record = Record::parse_in(text.as_bytes(), &mut index).unwrap();
            let mut buf = Vec::new();
            for (key, value) in record.members_raw() {
                let Some(body) = value
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                else {
                    continue;
                };
                let fresh = crate::json::unescape(body).into_owned();
                assert_eq!(
                    record.unescaped_in(body, &mut buf),
                    fresh,
                    "{text} {:?}",
                    key.raw
                );
            }
            let decoded: Vec<&str> = index
                .decoded_at
                .iter()
                .map(|d| {
                    std::str::from_utf8(
                        &index.decoded_texts()[d.text.0 as usize..d.text.1 as usize],
                    )
                    .unwrap()
                })
                .collect();
            assert_eq!(decoded, *want, "{text}");
        }
        // However often a key repeats, one value is decoded (so the work
        // stays linear in the record).
        let mut text = String::from("{");
        for _ in 0..10_000 {
            text.push_str(r#""log":"x\n","message":"\t","#);
        }
        text.push_str(r#""end":1}"#);
        Record::parse_in(text.as_bytes(), &mut index).unwrap();
        assert_eq!(index.decoded_at.len(), 2);
        assert_eq!(index.decoded_texts(), b"x\n\t");
        // A parse that fails in a decoded value leaves nothing decoded.
        for text in [
            r#"{"log":"a\nb\x"}"#,
            r#"{"log":"a\nb"#,
            "{\"log\":\"a\\n\u{1}\"}",
        ] {
            assert!(
                Record::parse_in(text.as_bytes(), &mut index).is_err(),
                "{text}"
            );
            assert!(
                index.decoded_at.is_empty() && index.decoded_texts().is_empty(),
                "{text}"
            );
        }
        // A body that is not a slice of the record's text is decoded anew.
        let record = Record::parse_in(br#"{"log":"a\nb"}"#, &mut index).unwrap();
        let mut buf = Vec::new();
        assert_eq!(record.unescaped_in(br"x\ty", &mut buf), "x\ty");
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
