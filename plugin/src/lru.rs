//! A bounded map with least-recently-used eviction: a hash index over a slab
//! of nodes linked in recency order. Lookups, insertions and evictions are
//! O(1); an evicted node's value is reset in place, so the table stops
//! allocating once it is full.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::text_table::fmix64;

/// Deterministic across runs and targets (the keys are entity names the
/// records carry; no hasher with a public key resists chosen collisions, so
/// this one is picked for speed on short keys).
type Index = HashMap<Box<str>, u32, BuildHasherDefault<KeyHasher>>;

/// FxHash's word-at-a-time mixing (as rustc hashes identifiers) with a
/// 64-bit finalizer ([`fmix64`]), so the table's high and low hash bits are
/// both mixed.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher {
    hash: u64,
}

impl KeyHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The rest as a little-endian word (a copy loop here compiles
            // to a call to `memcpy`).
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |w, b| (w << 8) | u64::from(*b));
            // The length keeps "a" and "a\0" apart.
            self.add(word ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        fmix64(self.hash)
    }
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<V> {
    key: Box<str>,
    value: V,
}

/// A slot's neighbours in recency order. Kept apart from the (large) values,
/// so moving a slot to the front touches a few small cache lines.
#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
    /// Which placement of a key in the slot it is (see [`Lru::generation`]),
    /// kept here so checking it reads no (large) value.
    generation: u64,
}

/// A map of at most `cap` entries that evicts the least recently used.
#[derive(Debug, Clone)]
pub struct Lru<V> {
    index: Index,
    nodes: Vec<Node<V>>,
    /// One per node.
    links: Vec<Link>,
    head: u32,
    tail: u32,
    cap: usize,
    /// Keys placed so far: the next placement's generation.
    placed: u64,
}

impl<V> Lru<V> {
    /// The most bytes one entry takes in the map's own tables, besides its
    /// key's two copies (the node's and the index's) and what its value holds
    /// on the heap: its node and link (the tables grow to at most `cap`
    /// entries), and its share of the index, an entry and a control byte in
    /// a table of a power of two buckets filled at most 7/8, which may double
    /// once more when removals leave it full of tombstones.
    pub const SLOT_BYTES: usize = std::mem::size_of::<Node<V>>()
        + std::mem::size_of::<Link>()
        + 4 * (std::mem::size_of::<(Box<str>, u32)>() + 1) * 8 / 7
        + 1;

    /// An empty map holding at most `cap` entries (at least 1, at most `u32::MAX - 1`).
    pub fn new(cap: usize) -> Lru<V> {
        let cap = cap.clamp(1, (NIL - 1) as usize);
        Lru {
            index: Index::default(),
            nodes: Vec::new(),
            links: Vec::new(),
            head: NIL,
            tail: NIL,
            cap,
            placed: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Most entries held at once.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    fn unlink(&mut self, i: u32) {
        let Link { prev, next, .. } = match self.links.get(i as usize) {
            Some(l) => *l,
            None => return,
        };
        match self.links.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.links.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        if let Some(n) = self.links.get_mut(i as usize) {
            n.prev = NIL;
            n.next = old;
        }
        match self.links.get_mut(old as usize) {
            Some(h) => h.prev = i,
            None => self.tail = i,
        }
        self.head = i;
    }

    /// The slot of `key`, inserted with `make()` when absent (evicting the least
    /// recently used entry, whose value is passed to `reset` and reused, when
    /// full), and marked most recently used. Returns the slot and whether it is new.
    pub fn touch(
        &mut self,
        key: &str,
        make: impl FnOnce() -> V,
        reset: impl FnOnce(&mut V),
    ) -> Option<(u32, bool)> {
        if let Some(&i) = self.index.get(key) {
            self.promote(i);
            return Some((i, false));
        }
        self.placed += 1;
        let generation = self.placed;
        let i = if self.nodes.len() < self.cap {
            let i = u32::try_from(self.nodes.len()).ok()?;
            if self.nodes.len() == self.nodes.capacity() {
                // Doubling, as a push would, but never past `cap`: the
                // tables of a full map hold `cap` entries, not the next
                // power of two (see [`Lru::SLOT_BYTES`]).
                let more = self.nodes.len().max(4).min(self.cap - self.nodes.len());
                self.nodes.reserve_exact(more);
                self.links.reserve_exact(more);
            }
            self.nodes.push(Node {
                key: key.into(),
                value: make(),
            });
            self.links.push(Link {
                prev: NIL,
                next: NIL,
                generation,
            });
            i
        } else {
            let i = self.tail;
            self.unlink(i);
            let node = self.nodes.get_mut(i as usize)?;
            let old = std::mem::replace(&mut node.key, key.into());
            reset(&mut node.value);
            self.index.remove(&old);
            if let Some(link) = self.links.get_mut(i as usize) {
                link.generation = generation;
            }
            i
        };
        self.index.insert(key.into(), i);
        self.push_front(i);
        Some((i, true))
    }

    /// Marks a slot most recently used.
    fn promote(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Which placement of a key the slot holds: every key placed in the map
    /// gets a generation no other placement has, so a (slot, generation)
    /// pair names one key for as long as it stays, and no other after.
    pub fn generation(&self, slot: u32) -> Option<u64> {
        self.links.get(slot as usize).map(|l| l.generation)
    }

    /// As [`Lru::touch`] for the key that `slot` held at `generation`, when
    /// it still holds it (then returns `true`, else changes nothing): a
    /// caller that remembers where a key was placed skips the key lookup.
    pub fn touch_placed(&mut self, slot: u32, generation: u64) -> bool {
        if self.generation(slot) != Some(generation) {
            return false;
        }
        self.promote(slot);
        true
    }

    /// The value in a slot returned by [`Lru::touch`].
    pub fn get(&self, slot: u32) -> Option<&V> {
        self.nodes.get(slot as usize).map(|n| &n.value)
    }

    /// The value in a slot, mutably.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut V> {
        self.nodes.get_mut(slot as usize).map(|n| &mut n.value)
    }

    /// The slot of `key`, without changing recency.
    pub fn find(&self, key: &str) -> Option<u32> {
        self.index.get(key).copied()
    }

    /// Keys from most to least recently used.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        let mut i = self.head;
        std::iter::from_fn(move || {
            let n = self.nodes.get(i as usize)?;
            i = self.links.get(i as usize)?.next;
            Some(&*n.key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(l: &mut Lru<u32>, k: &str) -> (u32, bool) {
        l.touch(k, || 0, |v| *v = 0).unwrap()
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut l = Lru::new(3);
        for k in ["a", "b", "c"] {
            assert!(touch(&mut l, k).1);
        }
        let (a, new) = touch(&mut l, "a");
        assert!(!new);
        *l.get_mut(a).unwrap() = 7;
        touch(&mut l, "d"); // evicts b
        assert_eq!(l.keys().collect::<Vec<_>>(), ["d", "a", "c"]);
        assert_eq!(l.find("b"), None);
        assert_eq!(l.len(), 3);
        assert_eq!(l.get(l.find("a").unwrap()), Some(&7));
        touch(&mut l, "e"); // evicts c
        touch(&mut l, "f"); // evicts a, value reset on reuse
        assert_eq!(l.keys().collect::<Vec<_>>(), ["f", "e", "d"]);
        assert!(l.get(l.find("f").unwrap()) == Some(&0));
    }

    #[test]
    fn never_grows_past_capacity() {
        let mut l = Lru::new(16);
        for i in 0..10_000 {
            touch(&mut l, &format!("pod-{i}"));
            assert!(l.len() <= 16);
        }
        assert_eq!(l.index.len(), 16);
        assert_eq!(l.keys().count(), 16);
    }

    #[test]
    fn its_tables_hold_no_more_than_the_cap() {
        for cap in [1, 3, 5, 16, 1000, 5000] {
            let mut l = Lru::new(cap);
            for i in 0..2 * cap {
                touch(&mut l, &format!("pod-{i}"));
                assert!(
                    l.nodes.capacity() <= cap,
                    "cap {cap}: {}",
                    l.nodes.capacity()
                );
                assert!(
                    l.links.capacity() <= cap,
                    "cap {cap}: {}",
                    l.links.capacity()
                );
            }
            assert_eq!(l.len(), cap);
        }
    }

    #[test]
    fn placements_are_named_by_slot_and_generation() {
        let mut l = Lru::new(2);
        let (a, _) = touch(&mut l, "a");
        let (b, _) = touch(&mut l, "b");
        let ga = l.generation(a).unwrap();
        assert_ne!(Some(ga), l.generation(b));
        // Still placed: touched as `touch("a")` would.
        assert!(l.touch_placed(a, ga));
        assert_eq!(l.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(!l.touch_placed(a, ga + 100));
        touch(&mut l, "c"); // evicts b
        touch(&mut l, "b"); // evicts a: b is placed again, in a's slot
        assert_eq!(l.find("b"), Some(a));
        assert!(!l.touch_placed(a, ga));
        assert_eq!(l.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert!(!l.touch_placed(7, 1));
    }

    #[test]
    fn capacity_one_works() {
        let mut l = Lru::new(0);
        assert_eq!(l.capacity(), 1);
        touch(&mut l, "a");
        touch(&mut l, "b");
        assert_eq!(l.keys().collect::<Vec<_>>(), ["b"]);
    }
}
