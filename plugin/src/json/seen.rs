//! Top-level objects that records repeat, read once.
//!
//! Every record of a container carries the same `kubernetes` object, byte
//! for byte, and every sample of a series the same `labels` (or Vector
//! `tags`) object. An index that remembers keys
//! ([`RecordIndex::remembering`](super::RecordIndex::remembering)) keeps the
//! texts of recent members under those keys, each from its key's opening
//! quote to the end of its object value (`"labels":{...}`), so a text names
//! its key as well as its object. When the text at a member's key starts
//! with a kept text, that text is one valid member there too (where a JSON
//! value ends does not depend on what follows it), so the parse moves past
//! it instead of reading it again, and leaves the object's members
//! unindexed (a lookup in it reads its text). Either way the record gets
//! the kept text's [`MemoToken`]: equal tokens mean equal keys and equal
//! object texts, so what is derived from the object alone (the record's
//! identity) can be kept by token.
//!
//! A record has at most one such member: the first top-level member under
//! any of the keys whose value is an object.
//!
//! Texts are found by a hash of their start (see [`head_hash`]) and
//! compared in full. The memo is a [`TextTable`] of [`GEOMETRY`]'s bounds.

use super::lookup::same_key;
use super::scan::same_bytes;
use crate::text_table::{hash, Geometry, MemoToken, TextTable};

/// A member's hash is of its text up to its first `}`, or of this many
/// first bytes when that is further.
const HASH_SPAN: usize = 256;

/// At most 2048 members of at most 4 KiB, and 2 MiB of text in all: a
/// node runs at most a few hundred pods, each of which reaches the filter
/// through one or two pipelines as logs and as a few metric series, so
/// every object of a node usually stays.
pub(crate) const GEOMETRY: Geometry = Geometry {
    sets: 256,
    ways: 8,
    max_text: 4096,
    max_bytes: 2 << 20,
};

/// Recent members under some keys (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct SeenObjects {
    /// The keys, as their texts between the quotes (unescaped).
    keys: &'static [&'static str],
    table: TextTable,
}

/// The hash members starting at `rest` are kept under: of the text up to
/// the first `}` (at most [`HASH_SPAN`] bytes). A member `rest` starts with
/// has the same, as that `}` is in its object (which ends with one); and it
/// takes in all of a flat object, which may differ from another only in its
/// last member.
#[inline]
fn head_hash(rest: &[u8]) -> Option<u64> {
    let head = rest.get(..HASH_SPAN).unwrap_or(rest);
    let end = memchr::memchr(b'}', head)?;
    Some(hash(head.get(..=end)?))
}

impl SeenObjects {
    /// Remembers the members under `keys`.
    pub(crate) fn new(keys: &'static [&'static str]) -> SeenObjects {
        SeenObjects {
            keys,
            table: TextTable::new(GEOMETRY),
        }
    }

    /// Whether a member's key, as its raw text between the quotes, is one
    /// of those remembered.
    #[inline]
    pub(super) fn is_key(&self, raw: &[u8]) -> bool {
        self.keys.iter().any(|k| same_key(k.as_bytes(), raw))
    }

    /// When `rest` starts with a kept member: `Ok` with its length and
    /// token. Else `Err` with the hash to keep the member `rest` starts
    /// with under ([`SeenObjects::keep`]), if it has one.
    #[inline]
    pub(super) fn find(&mut self, rest: &[u8]) -> Result<(usize, MemoToken), Option<u64>> {
        let hash = head_hash(rest).ok_or(None)?;
        let starts_with = |kept: &[u8]| rest.get(..kept.len()).is_some_and(|r| same_bytes(r, kept));
        match self.table.find(hash, starts_with) {
            Some((token, object)) => Ok((object.len(), token)),
            None => Err(Some(hash)),
        }
    }

    /// Keeps `member` (its text from its key's quote to the end of its
    /// value) under `hash` (as [`SeenObjects::find`] gave it for the text
    /// the member starts); its token, unless it is too large to keep.
    pub(super) fn keep(&mut self, hash: u64, member: &[u8]) -> Option<MemoToken> {
        self.table.keep(hash, member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_at_the_start_of_a_text_and_tokens_name_texts() {
        let mut seen = SeenObjects::new(&["k", "j"]);
        let a = br#"{"pod":"a","labels":{"x":"1"},"n":"ns"}"#;
        let b = br#"{"pod":"a","labels":{"x":"1"},"n":"other"}"#;
        let Err(Some(hash_a)) = seen.find(a) else {
            panic!("found in an empty memo")
        };
        let Err(Some(hash_b)) = seen.find(b) else {
            panic!("found before kept")
        };
        let ta = seen.keep(hash_a, a).unwrap();
        let tb = seen.keep(hash_b, b).unwrap();
        assert_ne!(ta, tb);
        // Whatever follows the object.
        let mut rest = a.to_vec();
        rest.extend_from_slice(br#","log":"x"}"#);
        assert_eq!(seen.find(&rest), Ok((a.len(), ta)));
        let mut rest = b.to_vec();
        rest.extend_from_slice(b"}");
        assert_eq!(seen.find(&rest), Ok((b.len(), tb)));
        // A text that differs after the first `}` is no kept object.
        assert!(seen
            .find(br#"{"pod":"a","labels":{"x":"1"},"n":"nt"}"#)
            .is_err());
        // Nor is a cut one, nor a text without a `}`.
        assert!(seen.find(&a[..a.len() - 1]).is_err());
        assert_eq!(seen.find(br#"{"pod":"a""#), Err(None));
        assert!(seen.is_key(b"k") && seen.is_key(b"j") && !seen.is_key(b"kk"));
    }

    /// Records parsed with an index that remembers `kubernetes` and
    /// `labels` objects read as a fresh parse reads them: the same errors,
    /// members and values, the object's members through its text when it
    /// was skipped; and equal tokens only for equal keys and object texts.
    #[test]
    fn a_remembering_parse_reads_records_as_a_fresh_parse() {
        use crate::json::{Record, RecordIndex};
        use crate::test_rng::Xorshift;
        use std::collections::HashMap;

        let objects = [
            r#"{"pod_name":"web-7d4b9c8f6-x1","namespace_name":"shop","labels":{"app":"web"},"host":"n1"}"#,
            r#"{"pod_name":"web-7d4b9c8f6-x2","namespace_name":"shop","labels":{"app":"web"},"host":"n1"}"#,
            r#"{"pod_name":"web-7d4b9c8f6-x1","namespace_name":"shop","labels":{"app":"web"},"host":"n2"}"#,
            r#"{ "pod_name" : "db-0", "namespace_name":"data", "container_name":"pg\u0041" }"#,
            r#"{}"#,
            r#"{"a":[1,{"b":"}"}],"pod_name":"q"}"#,
        ];
        let keys = ["kubernetes", "kub\\u0065rnetes", "k8s", "labels"];
        let tails = [
            r#","log":"GET / 200"}"#,
            r#"}"#,
            r#","kubernetes":{"pod_name":"second"}}"#,
            r#""#,
            r#","log":}"#,
            r#"} x"#,
        ];
        let mut rng = Xorshift(0x5eed);
        let mut pick = |n: usize| (rng.next_u64() >> 33) as usize % n;
        let mut index = RecordIndex::remembering(&["kubernetes", "labels"]);
        let mut texts_of: HashMap<MemoToken, (&str, Vec<u8>)> = HashMap::new();
        let mut skipped = 0;
        for i in 0..5000 {
            let object = objects[pick(objects.len())];
            // Sometimes cut, so that a kept object's prefix is no match.
            let object = if pick(8) == 0 {
                &object[..pick(object.len())]
            } else {
                object
            };
            let lead = if pick(4) == 0 {
                r#""kubernetes":"s","#
            } else {
                ""
            };
            let text = format!(
                r#"{{"stream":"stdout",{lead}"{}":{object}{}"#,
                keys[pick(keys.len())],
                tails[pick(tails.len())]
            );
            let fresh = Record::parse(text.as_bytes());
            let kept = Record::parse_in(text.as_bytes(), &mut index);
            let (fresh, kept) = match (fresh, kept) {
                (Err(a), Err(b)) => {
                    assert_eq!(a, b, "{i}: {text}");
                    continue;
                }
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => panic!("{i}: {text}: {a:?} vs {b:?}"),
            };
            let top = ["stream", "kubernetes", "log", "k8s", "labels"];
            assert_eq!(fresh.get_many(&top), kept.get_many(&top), "{i}: {text}");
            let inner = [
                "pod_name",
                "namespace_name",
                "container_name",
                "labels",
                "a",
            ];
            for key in ["kubernetes", "labels"] {
                let (a, b) = (fresh.object(key), kept.object(key));
                assert_eq!(
                    a.map(|o| o.get_many(&inner)),
                    b.map(|o| o.get_many(&inner)),
                    "{i}: {text}"
                );
                assert_eq!(a.map(|o| o.raw()), b.map(|o| o.raw()), "{i}: {text}");
                assert!(a.is_none_or(|o| o.token().is_none()));
                // Found by its value's place, the same object and token.
                let [raw] = kept.get_many_raw(&[key]);
                let at = raw.and_then(|raw| kept.object_at(raw));
                assert_eq!(
                    at.map(|o| (o.raw(), o.token(), o.get_many(&inner))),
                    b.map(|o| (o.raw(), o.token(), o.get_many(&inner))),
                    "{i}: {text}"
                );
                if let Some(o) = b {
                    skipped += usize::from(o.members.is_none());
                    if let Some(token) = o.token() {
                        let first = texts_of
                            .entry(token)
                            .or_insert_with(|| (key, o.raw().to_vec()));
                        assert_eq!(*first, (key, o.raw().to_vec()), "{i}: {text}");
                        // Not the second `kubernetes` member, after a string one.
                        assert!(
                            key != "kubernetes"
                                || !text.starts_with(r#"{"stream":"stdout","kubernetes":"s""#)
                        );
                    }
                }
            }
        }
        // Most objects were skipped, and each text kept once.
        assert!(skipped > 500, "{skipped}");
        // Each object under each of the two keys, and a few cut ones.
        assert!(texts_of.len() < 30, "{}", texts_of.len());
        for object in objects {
            let under = |key| {
                texts_of
                    .values()
                    .any(|(k, t)| *k == key && t == object.as_bytes())
            };
            assert!(under("kubernetes") && under("labels"), "{object}");
        }
    }
}
