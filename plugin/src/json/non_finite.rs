//! Fluent Bit's non-finite numbers, rewritten as JSON.
//!
//! Fluent Bit turns a record into JSON for the filter with
//! `flb_msgpack_to_json` (`src/flb_pack.c`), which prints a double that is
//! not an integer with `%.16g`: ±Inf and NaN come out as the bare tokens
//! `inf`, `-inf`, `nan` and `-nan` (glibc and musl alike), which are not
//! JSON. (With the service option `json.convert_nan_to_null` a NaN comes as
//! `null` instead, which needs nothing.) [`Record::parse`] stops at the first
//! such token with [`JsonError::NonFinite`]; [`replace_non_finite`] then
//! reads the record again, each token where a value stands as a number, and
//! writes it with each token replaced and every other byte as it was.
//!
//! | token | written | Fluent Bit reads it back as |
//! |---|---|---|
//! | `inf` | `1e+999` | +Inf (`strtod` overflows) |
//! | `-inf` | `-1e+999` | -Inf |
//! | `nan`, `-nan` | `null` | nil: JSON has no NaN, and `null` is what Fluent Bit's own `json.convert_nan_to_null` writes |
//!
//! Fluent Bit reads the filter's JSON with jsmn in strict mode (a primitive
//! starts with `-`, a digit, `t`, `f` or `n`) and packs a number token with
//! `pack_numeric_token`: as a double, from `strtod`, when `is_float` says so,
//! else as an integer from `strtoll` / `strtoull`. In 4.2.8 `is_float` wants a
//! `.` or an `e` followed by a sign: `1e999` would come back as the integer
//! 1 (seen in Fluent Bit 4.2.8), so the exponent carries its `+`, which later
//! versions' `is_float` (an `e` then a sign or digit) reads as a double too.
//!
//! Only exactly these four tokens, where a value stands (an object member's
//! value, an array element, at any depth), each followed by whitespace, `,`,
//! `}` or `]`: never inside strings, never as keys (which are strings), and
//! not `Infinity`, `NaN`, `nans`, `inf1`, `+inf` or `-in` (no `%g` writes
//! them): a record with those is no JSON and is kept as text, as before.
//!
//! What the values mean: the rewritten text is the record, for
//! normalization as for the outputs. `1e+999` reads as an infinite `f64`,
//! and every reader of a number (metric values, a Fluent Bit `cpu` or `mem`
//! record's percentages and sizes, a log line's status, latency, level or
//! time, an event's count) drops a non-finite one as no value, as it drops
//! `1e+999` written by anyone; `null` is no number at all. So a non-finite
//! value never reaches features, baselines, sketches or forests.

use super::parse::Parser;
use super::scan::is_ws;
use super::{JsonError, RecordIndex};

#[cfg(doc)]
use super::Record;

/// A non-finite number as Fluent Bit writes a record's double for the
/// filter (C's `%.16g`), and what [`replace_non_finite`] writes for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFinite {
    /// `inf`: +Inf.
    Inf,
    /// `-inf`: -Inf.
    NegInf,
    /// `nan`: a NaN.
    NaN,
    /// `-nan`: a NaN with its sign bit set.
    NegNaN,
}

impl NonFinite {
    /// Every one.
    pub const ALL: [NonFinite; 4] = [
        NonFinite::Inf,
        NonFinite::NegInf,
        NonFinite::NaN,
        NonFinite::NegNaN,
    ];

    /// The token as Fluent Bit writes it.
    pub fn token(self) -> &'static str {
        match self {
            NonFinite::Inf => "inf",
            NonFinite::NegInf => "-inf",
            NonFinite::NaN => "nan",
            NonFinite::NegNaN => "-nan",
        }
    }

    /// What replaces the token: JSON that Fluent Bit reads back as the
    /// same double, or, for a NaN, as nil.
    pub fn replacement(self) -> &'static str {
        match self {
            NonFinite::Inf => "1e+999",
            NonFinite::NegInf => "-1e+999",
            NonFinite::NaN | NonFinite::NegNaN => "null",
        }
    }

    /// The number whose token starts at `at` in `text`, when one does and
    /// is followed by JSON whitespace, `,`, `}` or `]`. Whether a value
    /// stands at `at` is the caller's to know.
    pub fn at(text: &[u8], at: usize) -> Option<NonFinite> {
        let rest = text.get(at..)?;
        let number = NonFinite::ALL
            .into_iter()
            .find(|n| rest.starts_with(n.token().as_bytes()))?;
        let next = *rest.get(number.token().len())?;
        (is_ws(next) || matches!(next, b',' | b'}' | b']')).then_some(number)
    }
}

/// Writes `text` to `out` (cleared first) with each non-finite number
/// Fluent Bit writes where a value stands replaced (see [`NonFinite`]) and
/// every other byte as it was. Returns how many were replaced when the text
/// so written is one JSON object, which [`Record::parse`] then reads; else
/// the error of the first other fault (`out` then holds a part of the text).
/// `out` grows to at most [`most_replaced_len`] of the text's length.
pub fn replace_non_finite(text: &[u8], out: &mut Vec<u8>) -> Result<usize, JsonError> {
    replace_non_finite_in(text, &mut RecordIndex::new(), out)
}

/// The longest text [`replace_non_finite`] writes for a text of `text_len`
/// bytes: a token and the byte after it take 4 bytes at least, and grow by
/// 3 at most.
pub const fn most_replaced_len(text_len: usize) -> usize {
    text_len.saturating_add(3 * (text_len / 4))
}

/// As [`replace_non_finite`], parsing in `index` (whose allocations are
/// reused; a parse of the rewritten text in it clears it first).
pub(crate) fn replace_non_finite_in(
    text: &[u8],
    index: &mut RecordIndex,
    out: &mut Vec<u8>,
) -> Result<usize, JsonError> {
    out.clear();
    // Without the index's memo: an object it kept is skipped unread by the
    // next parses, and this text's objects may hold tokens. Nor are values
    // decoded: the rewritten text is parsed next.
    let seen = index.seen.take();
    let keys = std::mem::take(&mut index.decode_keys);
    let run = Parser::rewriting(text, index, out).run_rewriting();
    index.seen = seen;
    index.decode_keys = keys;
    let (copied, replaced) = run?;
    out.extend_from_slice(text.get(copied..).unwrap_or(&[]));
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Record;

    /// What a rewrite gives: the text and how many it replaced.
    type Rewritten = Result<(&'static str, usize), JsonError>;

    /// Each token, in each value position, with each delimiter after it;
    /// strings and keys untouched; near misses still errors.
    #[test]
    fn tokens_where_values_stand_are_replaced_and_nothing_else() {
        let cases: &[(&str, Rewritten)] = &[
            (r#"{"a":1}"#, Ok((r#"{"a":1}"#, 0))),
            (r#"{"a":inf}"#, Ok((r#"{"a":1e+999}"#, 1))),
            (r#"{"a":-inf}"#, Ok((r#"{"a":-1e+999}"#, 1))),
            (r#"{"a":nan}"#, Ok((r#"{"a":null}"#, 1))),
            (r#"{"a":-nan}"#, Ok((r#"{"a":null}"#, 1))),
            (
                r#"{"cpu_p":inf,"user_p":nan,"system_p":-nan,"x":-inf}"#,
                Ok((
                    r#"{"cpu_p":1e+999,"user_p":null,"system_p":null,"x":-1e+999}"#,
                    4,
                )),
            ),
            (
                "{ \"a\" : inf , \"b\":[ nan\t,-inf\n] ,\"c\":{\"d\":{\"e\":[[-nan]]}}\r}",
                Ok((
                    "{ \"a\" : 1e+999 , \"b\":[ null\t,-1e+999\n] ,\"c\":{\"d\":{\"e\":[[null]]}}\r}",
                    4,
                )),
            ),
            (
                r#"{"a":[inf,inf,inf]}"#,
                Ok((r#"{"a":[1e+999,1e+999,1e+999]}"#, 3)),
            ),
            // In strings and as (string) keys: text, not numbers.
            (
                r#"{"inf":"inf","nan":"-nan x","k":"[inf,nan]","v":nan}"#,
                Ok((
                    r#"{"inf":"inf","nan":"-nan x","k":"[inf,nan]","v":null}"#,
                    1,
                )),
            ),
            (r#"{"a":"\"inf"}"#, Ok((r#"{"a":"\"inf"}"#, 0))),
            // An `edgeheal` member is rewritten too (the splice replaces it).
            (
                r#"{"edgeheal":{"score":nan},"a":2}"#,
                Ok((r#"{"edgeheal":{"score":null},"a":2}"#, 1)),
            ),
            // Near misses: no `%g` writes them.
            (
                r#"{"a":infinity}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'i',
                }),
            ),
            (
                r#"{"a":Infinity}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'I',
                }),
            ),
            (
                r#"{"a":NaN}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'N',
                }),
            ),
            (
                r#"{"a":nans}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 6,
                    byte: b'a',
                }),
            ),
            (
                r#"{"a":nana}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 6,
                    byte: b'a',
                }),
            ),
            (
                r#"{"a":inf1}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'i',
                }),
            ),
            (r#"{"a":-in}"#, Err(JsonError::InvalidNumber(5))),
            (r#"{"a":-infinity}"#, Err(JsonError::InvalidNumber(5))),
            (r#"{"a":--inf}"#, Err(JsonError::InvalidNumber(5))),
            (
                r#"{"a":+inf}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'+',
                }),
            ),
            (
                r#"{"a":inf:1}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'i',
                }),
            ),
            // Cut after the token: nothing follows it.
            (
                r#"{"a":inf"#,
                Err(JsonError::UnexpectedByte {
                    offset: 5,
                    byte: b'i',
                }),
            ),
            (
                r#"{"a":nan"#,
                Err(JsonError::UnexpectedByte {
                    offset: 6,
                    byte: b'a',
                }),
            ),
            // As keys.
            (
                r#"{inf:1}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 1,
                    byte: b'i',
                }),
            ),
            (
                r#"{"a":1,nan:1}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 7,
                    byte: b'n',
                }),
            ),
            // Read as a number, but what follows is still checked.
            (
                r#"{"a":inf]"#,
                Err(JsonError::UnexpectedByte {
                    offset: 8,
                    byte: b']',
                }),
            ),
            (
                r#"{"a":[nan}"#,
                Err(JsonError::UnexpectedByte {
                    offset: 9,
                    byte: b'}',
                }),
            ),
            (r#"{"a":inf,"b":inf "#, Err(JsonError::UnexpectedEnd(17))),
            (r#"{"a":nan} x"#, Err(JsonError::TrailingData(10))),
            (r#"[inf]"#, Err(JsonError::NotAnObject(0))),
        ];
        for (input, want) in cases {
            let mut out = b"left over".to_vec();
            let got = replace_non_finite(input.as_bytes(), &mut out);
            let got = got.map(|n| (String::from_utf8(out.clone()).unwrap(), n));
            let want = want.clone().map(|(text, n)| (text.to_owned(), n));
            assert_eq!(got, want, "{input}");
            let Ok((text, replaced)) = got else {
                continue;
            };
            assert!(text.len() <= most_replaced_len(input.len()), "{input}");
            // The rewritten text is JSON that the strict parse reads; the
            // strict parse reads the input only when nothing was replaced.
            Record::parse(text.as_bytes()).unwrap();
            match Record::parse(input.as_bytes()) {
                Ok(_) => assert_eq!(replaced, 0, "{input}"),
                Err(e) => assert!(
                    replaced > 0 && matches!(e, JsonError::NonFinite(_)),
                    "{input}: {e:?}"
                ),
            }
        }
    }

    /// The rewritten text is what a JSON reader takes: serde_json reads
    /// `1e+999` (as a value it skips; into an `f64` it reports it out of
    /// range, as it does for `1e+999` from anyone).
    #[test]
    fn the_rewritten_text_is_json() {
        let mut out = Vec::new();
        let input = br#"{"a":[inf,-inf,nan,-nan],"b":{"c":inf}}"#;
        assert_eq!(replace_non_finite(input, &mut out), Ok(5));
        let mut de = serde_json::Deserializer::from_slice(&out);
        serde::de::IgnoredAny::deserialize(&mut de).unwrap();
        de.end().unwrap();
    }

    /// The longest growth the bound allows: a token every four bytes.
    #[test]
    fn the_rewritten_text_stays_within_its_bound() {
        for n in 1..50 {
            let input = format!(r#"{{"a":[{}]}}"#, vec!["inf"; n].join(","));
            let mut out = Vec::new();
            assert_eq!(replace_non_finite(input.as_bytes(), &mut out), Ok(n));
            assert_eq!(out.len(), input.len() + 3 * n);
            assert!(out.len() <= most_replaced_len(input.len()), "{n}");
        }
    }

    /// An index kept from record to record keeps its memo and decoded keys
    /// through a rewrite, and the memo never keeps an object holding a
    /// token: a strict parse would skip it unread.
    #[test]
    fn a_lent_index_keeps_its_memo_and_never_remembers_a_token() {
        let mut index = RecordIndex::remembering(&["kubernetes"]).decoding(&["log"]);
        let with = br#"{"log":"a\nb","kubernetes":{"pod_name":"p","x":inf}}"#;
        let mut out = Vec::new();
        for _ in 0..3 {
            assert_eq!(replace_non_finite_in(with, &mut index, &mut out), Ok(1));
            assert!(index.seen.is_some());
            assert_eq!(index.decode_keys, ["log"]);
            let at = with.windows(3).position(|w| w == b"inf").unwrap();
            assert_eq!(
                Record::parse_in(with, &mut index).unwrap_err(),
                JsonError::NonFinite(at)
            );
            let rec = Record::parse_in(&out, &mut index).unwrap();
            assert_eq!(rec.get("log").unwrap().as_str(), Some("a\nb"));
        }
    }

    use serde::Deserialize as _;
}
