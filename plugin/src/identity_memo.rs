//! Identities already resolved, by the text they were resolved from.
//!
//! Every record of a pod carries the same `kubernetes` object, byte for
//! byte, so resolving it again (reading its members, its labels, the
//! workload behind the pod name) gives the same answer every time. The memo
//! keeps, for recent object texts, where in the text each part of the
//! resolved [`Identity`] sits; a record whose object text is equal gets the
//! same parts, borrowed from its own text. The text is compared in full, so
//! a hit is exactly what resolving would have given.
//!
//! Only identities made entirely of slices of the object text are kept (an
//! escaped name is decoded into an owned string, and is resolved each time).
//! The memo is bounded: [`SETS`] × [`WAYS`] entries of at most [`MAX_TEXT`]
//! bytes and [`MAX_BYTES`] in all. A text may be kept in either of two sets
//! (picked by different bits of its hash) and replaces the least recently
//! used entry of the two: with one set per text, the texts of a set that
//! more of them hash to than it has ways evict each other in turn (the
//! filter bench's 800 object texts missed on one record in twenty). A node
//! runs at most a few hundred pods, each of which reaches the filter
//! through one or two pipelines, so every object text of a node usually
//! stays in the memo.

use std::borrow::Cow;

use crate::observation::{Identity, WorkloadKind};

/// Sets of the memo (a power of two).
const SETS: usize = 128;
/// Entries per set.
const WAYS: usize = 8;
/// Longer object texts are not kept.
const MAX_TEXT: usize = 2048;
/// The texts kept take at most this many bytes in all.
const MAX_BYTES: usize = 512 * 1024;

/// Where one part of an identity sits in the object text.
type Span = Option<(u32, u32)>;

/// An identity as spans of the object text it was resolved from.
#[derive(Debug, Clone, Copy, Default)]
struct Spans {
    namespace: Span,
    workload: Span,
    workload_kind: Option<WorkloadKind>,
    pod: Span,
    container: Span,
    node: Span,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    /// Empty when the entry is unused.
    text: Vec<u8>,
    spans: Spans,
    /// When it was last used (the memo's clock).
    used: u64,
    /// When it was filled (the memo's clock): with the entry's place, names
    /// the text it holds for as long as it holds it (see [`MemoToken`]).
    filled: u64,
}

/// Names one text the memo keeps: equal tokens mean records whose object
/// texts are equal, so their identities (and anything derived from them
/// alone) are equal. A token is never reused for another text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoToken {
    /// The entry's place in the memo (below [`IdentityMemo::ENTRIES`]).
    pub entry: u32,
    /// When the entry was filled.
    pub filled: u64,
}

/// Resolved identities of recent object texts (see the module docs). Empty
/// by default; it allocates when it keeps its first identity.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentityMemo {
    /// `SETS * WAYS` entries once the first one is kept, set by set.
    entries: Vec<Entry>,
    /// The hash of each entry's text, apart from the entries so that a
    /// set's hashes share one cache line (a lookup reads an entry only
    /// when its hash matches).
    hashes: Vec<u64>,
    /// Bytes of the texts kept.
    bytes: usize,
    clock: u64,
    /// The token of the text of the last call, when the memo keeps it.
    last: Option<MemoToken>,
}

impl IdentityMemo {
    /// Entries of the memo: a [`MemoToken::entry`] is below this.
    pub const ENTRIES: usize = SETS * WAYS;

    /// The token of the object text of the last [`IdentityMemo::get_or_resolve`]
    /// call, when the memo keeps that text.
    pub fn last_token(&self) -> Option<MemoToken> {
        self.last
    }

    /// The identity `resolve` gives for the object text `text`: the one
    /// kept for an equal text, else `resolve()`'s (kept when it can be).
    pub fn get_or_resolve<'a>(
        &mut self,
        text: &'a [u8],
        resolve: impl FnOnce() -> Identity<'a>,
    ) -> Identity<'a> {
        self.last = None;
        if text.len() > MAX_TEXT {
            return resolve();
        }
        self.clock += 1;
        let hash = hash(text);
        let sets = candidate_sets(hash);
        for i in sets.iter().flat_map(|&set| set..set + WAYS) {
            if self.hashes.get(i) != Some(&hash) {
                continue;
            }
            let Some(e) = self.entries.get_mut(i) else {
                continue;
            };
            if !e.text.is_empty() && e.text == text {
                if let Some(id) = spans_identity(&e.spans, text) {
                    e.used = self.clock;
                    self.last = token(i, e.filled);
                    return id;
                }
            }
        }
        let id = resolve();
        let Some(spans) = identity_spans(&id, text) else {
            return id;
        };
        if self.entries.is_empty() {
            self.entries.resize(SETS * WAYS, Entry::default());
            self.hashes.resize(SETS * WAYS, 0);
        }
        // The least recently used entry of either set.
        let victim = sets
            .iter()
            .flat_map(|&set| set..set + WAYS)
            .min_by_key(|&i| self.entries.get(i).map_or(u64::MAX, |e| e.used));
        let Some((i, e)) = victim.and_then(|i| Some((i, self.entries.get_mut(i)?))) else {
            return id;
        };
        let bytes = self.bytes.saturating_sub(e.text.len()) + text.len();
        if bytes <= MAX_BYTES {
            self.bytes = bytes;
            if let Some(h) = self.hashes.get_mut(i) {
                *h = hash;
            }
            e.text = text.to_vec();
            e.spans = spans;
            e.used = self.clock;
            e.filled = self.clock;
            self.last = token(i, e.filled);
        }
        id
    }
}

/// The first entries of the two sets a text of hash `hash` may be kept in
/// (chosen by different bits of the hash, so texts that crowd one set
/// spread over others).
fn candidate_sets(hash: u64) -> [usize; 2] {
    let set = |bits: u64| (bits as usize & (SETS - 1)) * WAYS;
    [set(hash), set(hash >> 32)]
}

fn token(entry: usize, filled: u64) -> Option<MemoToken> {
    Some(MemoToken {
        entry: u32::try_from(entry).ok()?,
        filled,
    })
}

/// The span of `s` in `text`, if `s` is borrowed from it.
fn span_of(s: &Option<Cow<'_, str>>, text: &[u8]) -> Option<Span> {
    let Some(s) = s else {
        return Some(None);
    };
    let Cow::Borrowed(s) = s else {
        return None;
    };
    let start = (s.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(s.len())?;
    if end > text.len() {
        return None;
    }
    Some(Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?)))
}

fn identity_spans(id: &Identity<'_>, text: &[u8]) -> Option<Spans> {
    // Kept texts are UTF-8 as a whole, so a hit takes its parts from one
    // check of the text (see `spans_identity`).
    std::str::from_utf8(text).ok()?;
    Some(Spans {
        namespace: span_of(&id.namespace, text)?,
        workload: span_of(&id.workload, text)?,
        workload_kind: id.workload_kind,
        pod: span_of(&id.pod, text)?,
        container: span_of(&id.container, text)?,
        node: span_of(&id.node, text)?,
    })
}

/// The part of `text` at `span` (which came from a `str` of an equal text,
/// so it lies on character boundaries).
fn part(span: Span, text: &str) -> Option<Option<Cow<'_, str>>> {
    let Some((start, end)) = span else {
        return Some(None);
    };
    Some(Some(Cow::Borrowed(text.get(start as usize..end as usize)?)))
}

fn spans_identity<'a>(spans: &Spans, text: &'a [u8]) -> Option<Identity<'a>> {
    let text = std::str::from_utf8(text).ok()?;
    Some(Identity {
        namespace: part(spans.namespace, text)?,
        workload: part(spans.workload, text)?,
        workload_kind: spans.workload_kind,
        pod: part(spans.pod, text)?,
        container: part(spans.container, text)?,
        node: part(spans.node, text)?,
    })
}

/// A 64-bit hash of `text`, four words in flight at a time.
fn hash(text: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = |c: &[u8]| c.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(31);
    let mut lanes = [text.len() as u64, K, K.rotate_left(17), K.rotate_left(41)];
    let mut blocks = text.chunks_exact(32);
    for block in &mut blocks {
        for (lane, c) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = mix(*lane, word(c));
        }
    }
    let mut words = blocks.remainder().chunks(8);
    for lane in lanes.iter_mut() {
        if let Some(c) = words.next() {
            // As a little-endian word, zero-padded (a copy loop here
            // compiles to a call to `memcpy`).
            let w = c.iter().rev().fold(0u64, |w, b| (w << 8) | u64::from(*b));
            *lane = mix(*lane, w);
        }
    }
    let [a, b, c, d] = lanes;
    let mut h = a ^ b.rotate_left(16) ^ c.rotate_left(32) ^ d.rotate_left(48);
    // MurmurHash3's fmix64.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved<'a>(text: &'a str, pod: &str) -> Identity<'a> {
        let at = |s: &str| text.find(s).map(|i| Cow::Borrowed(&text[i..i + s.len()]));
        Identity {
            namespace: at("shop"),
            workload: at("web"),
            workload_kind: Some(WorkloadKind::Deployment),
            pod: at(pod),
            container: None,
            node: Some(Cow::Owned("n".into())).filter(|_| pod.ends_with('z')),
        }
    }

    /// `get_or_resolve` of `text` with [`resolved`], and whether it resolved.
    fn lookup<'a>(memo: &mut IdentityMemo, text: &'a str, pod: &str) -> (Identity<'a>, bool) {
        let mut called = false;
        let id = memo.get_or_resolve(text.as_bytes(), || {
            called = true;
            resolved(text, pod)
        });
        (id, called)
    }

    #[test]
    fn hits_give_what_resolving_gives_borrowed_from_the_new_text() {
        let mut memo = IdentityMemo::default();
        let a = r#"{"pod":"web-1-x","ns":"shop"}"#.to_owned();
        let b = a.clone();
        let first = memo.get_or_resolve(a.as_bytes(), || resolved(&a, "web-1-x"));
        let (second, called) = lookup(&mut memo, &b, "web-1-x");
        assert!(!called);
        assert_eq!(first, second);
        let Some(Cow::Borrowed(pod)) = second.pod else {
            panic!("{second:?}")
        };
        assert_eq!(pod.as_ptr(), b[8..].as_ptr());
    }

    #[test]
    fn owned_parts_and_different_texts_are_resolved_again() {
        let mut memo = IdentityMemo::default();
        // An owned part: not kept.
        let a = r#"{"pod":"web-1-z","ns":"shop"}"#;
        for _ in 0..2 {
            assert!(lookup(&mut memo, a, "web-1-z").1);
        }
        // Texts that differ anywhere are different entries.
        let texts: Vec<String> = (0..1200)
            .map(|i| format!(r#"{{"pod":"web-1-x","ns":"shop","n":{i}}}"#))
            .collect();
        for round in 0..2 {
            for t in &texts {
                let (id, called) = lookup(&mut memo, t, "web-1-x");
                assert_eq!(id, resolved(t, "web-1-x"), "round {round}");
                // The first round misses.
                assert!(called || round > 0);
            }
        }
        let long = format!(
            r#"{{"pod":"web-1-x","ns":"shop","pad":"{}"}}"#,
            "p".repeat(MAX_TEXT)
        );
        for _ in 0..2 {
            assert!(lookup(&mut memo, &long, "web-1-x").1);
        }
    }

    #[test]
    fn texts_that_are_not_utf8_are_resolved_every_time() {
        let mut memo = IdentityMemo::default();
        // Identity parts are valid; a label elsewhere in the object is not.
        let text: &[u8] = b"{\"pod\":\"web-1-x\",\"ns\":\"shop\",\"l\":\"\xff\"}";
        let piece = |s: &str| {
            let at = text.windows(s.len()).position(|w| w == s.as_bytes())?;
            Some(Cow::Borrowed(
                std::str::from_utf8(&text[at..at + s.len()]).ok()?,
            ))
        };
        for _ in 0..2 {
            let mut called = false;
            let id = memo.get_or_resolve(text, || {
                called = true;
                Identity {
                    namespace: piece("shop"),
                    pod: piece("web-1-x"),
                    ..Identity::default()
                }
            });
            assert!(called);
            assert_eq!(id.pod.as_deref(), Some("web-1-x"));
        }
    }

    #[test]
    fn texts_kept_stay_within_the_byte_budget() {
        let mut memo = IdentityMemo::default();
        let texts: Vec<String> = (0..1000)
            .map(|i| {
                format!(
                    r#"{{"pod":"web-1-x","ns":"shop","n":{i},"pad":"{}"}}"#,
                    "p".repeat(1900)
                )
            })
            .collect();
        for t in &texts {
            let id = memo.get_or_resolve(t.as_bytes(), || resolved(t, "web-1-x"));
            assert_eq!(id, resolved(t, "web-1-x"));
        }
        let kept: usize = memo.entries.iter().map(|e| e.text.len()).sum();
        assert_eq!(kept, memo.bytes);
        assert!(kept <= MAX_BYTES && kept > MAX_BYTES - 2048, "{kept}");
    }

    #[test]
    fn texts_crowding_one_set_are_all_kept() {
        // More texts than a set has ways, all hashing to the same first set.
        let texts: Vec<String> = (0..)
            .map(|i| format!(r#"{{"pod":"web-1-x","ns":"shop","n":{i}}}"#))
            .filter(|t| candidate_sets(hash(t.as_bytes()))[0] == 0)
            .take(WAYS + 4)
            .collect();
        let mut memo = IdentityMemo::default();
        for round in 0..2 {
            for t in &texts {
                let (id, called) = lookup(&mut memo, t, "web-1-x");
                assert_eq!(id, resolved(t, "web-1-x"));
                assert_eq!(called, round == 0, "round {round}: {t}");
            }
        }
    }

    #[test]
    fn hash_reads_every_byte() {
        let base = vec![b'a'; 100];
        let h = hash(&base);
        for i in 0..base.len() {
            let mut t = base.clone();
            t[i] = b'b';
            assert_ne!(hash(&t), h, "{i}");
        }
        assert_ne!(hash(&base[..99]), h);
        assert_ne!(hash(b"a"), hash(b"a\0"));
    }
}
