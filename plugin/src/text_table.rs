//! A bounded table of texts, for memos that skip work a text already got
//! (the parse's memo of the `kubernetes` and `labels` objects it has
//! validated, [`crate::json::RecordIndex::remembering`]).
//!
//! The table is set-associative: `sets × ways` entries of at most `max_text`
//! bytes and `max_bytes` in all. The caller hashes; a text may be kept in
//! either of two sets (picked by different bits of its hash) and replaces
//! the least recently used entry of the two: with one set per text, the
//! texts of a set that more of them hash to than it has ways evict each
//! other in turn. A lookup compares texts with the caller's own test, so a
//! hit is always a text the caller accepts, whatever the hash.
//!
//! The texts come from the records, and the hash ([`hash`]) is public, so
//! texts can be chosen to share a hash. Unlike the entity table's (see
//! [`crate::keyed_hash`]), that buys nothing here: a lookup reads at most
//! the `2 × ways` entries of its two sets whatever the hash, and texts that
//! share a hash need no knowledge of it (the parse's memo hashes only a
//! member's first 256 bytes, so members that share those share their hash
//! by design, and are told apart by the caller's test).

use std::sync::atomic::{AtomicU64, Ordering};

/// The shape and bounds of a [`TextTable`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    /// Sets (a power of two).
    pub sets: usize,
    /// Entries per set.
    pub ways: usize,
    /// Longer texts are not kept.
    pub max_text: usize,
    /// The texts kept take at most this many bytes in all.
    pub max_bytes: usize,
}

impl Geometry {
    /// Entries of a table of this shape: a [`MemoToken::entry`] is below this.
    pub const fn entries(&self) -> usize {
        self.sets * self.ways
    }
}

/// Names one text a table keeps: equal tokens mean equal texts. A token is
/// never reused for another text, by any table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MemoToken {
    /// The entry's place in the table (below [`Geometry::entries`]).
    pub entry: u32,
    /// When the entry was filled ([`FILLS`], shared by all tables).
    pub filled: u64,
}

/// Counts the entries filled by all tables, so that tokens of different
/// tables differ too.
static FILLS: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone, Default)]
struct Entry {
    /// Empty when the entry is unused.
    text: Vec<u8>,
    /// When it was last used (the table's clock).
    used: u64,
    /// When it was filled ([`FILLS`]): with the entry's place, names the
    /// text it holds for as long as it holds it.
    filled: u64,
}

/// Texts (see the module docs). It allocates when it keeps its first text.
#[derive(Debug, Clone)]
pub(crate) struct TextTable {
    geometry: Geometry,
    /// `entries()` entries once the first one is kept, set by set.
    entries: Vec<Entry>,
    /// The hash of each entry's text, apart from the entries so that a
    /// set's hashes share cache lines (a lookup reads an entry only when its
    /// hash matches).
    hashes: Vec<u64>,
    /// Bytes of the texts kept.
    bytes: usize,
    clock: u64,
}

impl TextTable {
    /// An empty table of the given shape.
    pub const fn new(geometry: Geometry) -> TextTable {
        TextTable {
            geometry,
            entries: Vec::new(),
            hashes: Vec::new(),
            bytes: 0,
            clock: 0,
        }
    }

    /// The places of the entries a text of hash `hash` may be kept in.
    fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> {
        let Geometry { sets, ways, .. } = self.geometry;
        let set = move |bits: u64| (bits as usize & (sets - 1)) * ways;
        [set(hash), set(hash >> 32)]
            .into_iter()
            .flat_map(move |first| first..first + ways)
    }

    /// The entry kept under `hash` whose text `matches` accepts, marked as
    /// used: its token and its text.
    #[inline]
    pub fn find(
        &mut self,
        hash: u64,
        matches: impl Fn(&[u8]) -> bool,
    ) -> Option<(MemoToken, &[u8])> {
        let found = self.candidates(hash).find(|&i| {
            self.hashes.get(i) == Some(&hash)
                && self
                    .entries
                    .get(i)
                    .is_some_and(|e| !e.text.is_empty() && matches(&e.text))
        })?;
        self.clock += 1;
        let e = self.entries.get_mut(found)?;
        e.used = self.clock;
        Some((token(found, e.filled)?, &e.text))
    }

    /// Keeps `text` under `hash` in place of the least recently used entry
    /// of its sets. `None`, keeping nothing, when the text is longer than
    /// `max_text` or would take the table past `max_bytes`.
    pub fn keep(&mut self, hash: u64, text: &[u8]) -> Option<MemoToken> {
        if text.is_empty() || text.len() > self.geometry.max_text {
            return None;
        }
        if self.entries.is_empty() {
            let n = self.geometry.entries();
            self.entries.resize(n, Entry::default());
            self.hashes.resize(n, 0);
        }
        let victim = self
            .candidates(hash)
            .min_by_key(|&i| self.entries.get(i).map_or(u64::MAX, |e| e.used))?;
        let e = self.entries.get_mut(victim)?;
        let bytes = self.bytes.saturating_sub(e.text.len()) + text.len();
        if bytes > self.geometry.max_bytes {
            return None;
        }
        self.bytes = bytes;
        self.clock += 1;
        *self.hashes.get_mut(victim)? = hash;
        e.text.clear();
        e.text.extend_from_slice(text);
        e.used = self.clock;
        e.filled = FILLS.fetch_add(1, Ordering::Relaxed);
        token(victim, e.filled)
    }

    /// Bytes of the texts kept.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        debug_assert_eq!(
            self.bytes,
            self.entries.iter().map(|e| e.text.len()).sum::<usize>()
        );
        self.bytes
    }
}

fn token(entry: usize, filled: u64) -> Option<MemoToken> {
    Some(MemoToken {
        entry: u32::try_from(entry).ok()?,
        filled,
    })
}

/// The hash's multiplier (the golden ratio's 64 bits).
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// The four lanes a hash of `len` bytes starts from.
#[inline]
fn lanes_for(len: usize) -> [u64; 4] {
    [len as u64, K, K.rotate_left(17), K.rotate_left(41)]
}

/// A lane after taking in one word.
#[inline]
fn mix(lane: u64, word: u64) -> u64 {
    (lane ^ word).wrapping_mul(K).rotate_left(31)
}

/// The hash of the lanes once every word is in: folded, then [`fmix64`].
#[inline]
fn finish(lanes: [u64; 4]) -> u64 {
    let [a, b, c, d] = lanes;
    fmix64(a ^ b.rotate_left(16) ^ c.rotate_left(32) ^ d.rotate_left(48))
}

/// MurmurHash3's 64-bit finalizer: every input bit moves both the high and
/// the low bits of the result (this table's hashes, and the entity map's).
#[inline]
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A 64-bit hash of `text`, four words in flight at a time: word `i` (the
/// last one zero-padded, read little-endian) goes to lane `i % 4`.
pub(crate) fn hash(text: &[u8]) -> u64 {
    let word = |c: &[u8]| c.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w));
    let mut lanes = lanes_for(text.len());
    let mut blocks = text.chunks_exact(32);
    for block in &mut blocks {
        for (lane, c) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = mix(*lane, word(c));
        }
    }
    let mut words = blocks.remainder().chunks(8);
    for lane in lanes.iter_mut() {
        if let Some(c) = words.next() {
            // As a little-endian word, the last one zero-padded (a copy loop
            // here compiles to a call to `memcpy`).
            let w = match c.first_chunk::<8>() {
                Some(w) => u64::from_le_bytes(*w),
                None => c.iter().rev().fold(0u64, |w, b| (w << 8) | u64::from(*b)),
            };
            *lane = mix(*lane, w);
        }
    }
    finish(lanes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Geometry = Geometry {
        sets: 4,
        ways: 2,
        max_text: 64,
        max_bytes: 200,
    };

    #[test]
    fn kept_texts_are_found_by_hash_and_test() {
        let mut t = TextTable::new(SMALL);
        assert!(t.find(1, |_| true).is_none());
        let a = t.keep(1, b"alpha").unwrap();
        let (found, text) = t.find(1, |x| x == b"alpha").unwrap();
        assert_eq!((found, text), (a, b"alpha" as &[u8]));
        // The hash must match, and so must the caller's test.
        assert!(t.find(2, |x| x == b"alpha").is_none());
        assert!(t.find(1, |x| x == b"beta").is_none());
        // Too long, or empty: not kept.
        assert!(t.keep(3, &[b'x'; 65]).is_none());
        assert!(t.keep(3, b"").is_none());
    }

    #[test]
    fn the_least_recently_used_of_both_sets_goes_and_tokens_are_not_reused() {
        let mut t = TextTable::new(SMALL);
        // Four texts of one hash fill its two sets' four entries.
        let texts = [b"t0", b"t1", b"t2", b"t3"];
        let tokens: Vec<_> = texts.iter().map(|x| t.keep(5, *x).unwrap()).collect();
        for x in &texts[1..] {
            assert!(t.find(5, |k| k == *x).is_some());
        }
        // t0 is the least recently used: the fifth text takes its place.
        let t4 = t.keep(5, b"t4").unwrap();
        assert!(t.find(5, |k| k == b"t0").is_none());
        assert_eq!(t4.entry, tokens[0].entry);
        assert_ne!(t4, tokens[0]);
        for x in &texts[1..] {
            assert!(t.find(5, |k| k == *x).is_some(), "{x:?}");
        }
    }

    #[test]
    fn texts_kept_stay_within_the_byte_budget() {
        let mut t = TextTable::new(SMALL);
        for i in 0..100u64 {
            let text = vec![b'a'; 60];
            t.keep(hash(&i.to_le_bytes()), &text);
            assert!(t.bytes() <= SMALL.max_bytes, "{}", t.bytes());
        }
        assert!(t.bytes() > SMALL.max_bytes - 60);
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

    /// Every word, full or not, is read as the little-endian word of its
    /// bytes zero-padded, at every length around the block and word sizes.
    #[test]
    fn hash_reads_words_as_zero_padded_little_endian() {
        // Word by word, each copied into a zeroed word, lane after lane.
        let reference = |text: &[u8]| {
            let mut lanes = lanes_for(text.len());
            for (i, c) in text.chunks(8).enumerate() {
                let mut padded = [0u8; 8];
                padded[..c.len()].copy_from_slice(c);
                lanes[i % 4] = mix(lanes[i % 4], u64::from_le_bytes(padded));
            }
            finish(lanes)
        };
        let text: Vec<u8> = (0..100u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for len in 0..text.len() {
            assert_eq!(hash(&text[..len]), reference(&text[..len]), "{len}");
        }
    }
}
