//! A bounded map with least-recently-used eviction: a hash index over a slab
//! of nodes linked in recency order. Lookups, insertions and evictions are
//! O(1); an evicted node's value is reset in place and its key's buffer
//! takes the new key, so the table stops allocating once it is full (as
//! long as no key is longer than the ones held before it).
//!
//! The index is a table of slot numbers (hashbrown's `HashTable<u32>`): each
//! key is stored once, in its node, and a lookup compares the keys of the
//! slots its hash leads to. Each slot keeps its key's hash beside its
//! recency links, so an eviction finds the old key's index entry by that
//! hash and its slot number, and growing the index rehashes nothing: a
//! lookup hashes its key once, and a miss that evicts hashes the new key
//! once and the evicted one not at all.
//!
//! O(1) holds for keys chosen to collide too. The keys are entity names
//! that the records carry and that whoever names pods or writes metric
//! labels chooses; under a public hash they could compute names that all
//! land in one bucket group, and every lookup of one would then compare it
//! with all the others. So the index hashes with SipHash-1-3 under a secret
//! key the table's owner draws from the operating system
//! ([`crate::keyed_hash`]): without the key, no names can be computed to
//! collide, and names that collide under one key are spread under another.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::keyed_hash::{HashKey, KeyedState};

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<V> {
    /// The key's only copy. An evicted node's buffer takes the next key
    /// (growing, exactly, only for a longer one), so it holds at most the
    /// longest key placed in the slot.
    key: String,
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
    /// The slot's key's hash: the index finds and moves the slot's entry by
    /// it without hashing the key again.
    hash: u64,
}

/// A map of at most `cap` entries that evicts the least recently used.
#[derive(Debug, Clone)]
pub struct Lru<V> {
    /// Slot numbers, placed by their key's hash ([`Link::hash`]).
    index: HashTable<u32>,
    /// Keyed with a secret (see the module docs).
    hasher: KeyedState,
    nodes: Vec<Node<V>>,
    /// One per node.
    links: Vec<Link>,
    head: u32,
    tail: u32,
    cap: usize,
    /// Keys placed so far: the next placement's generation.
    placed: u64,
}

/// The hash kept for `slot`'s key, as the index asks for it when it grows
/// or rehashes in place (every slot in the index has its link).
fn kept_hash(links: &[Link]) -> impl Fn(&u32) -> u64 + '_ {
    |&slot| links.get(slot as usize).map_or(0, |l| l.hash)
}

impl<V> Lru<V> {
    /// The most bytes one entry takes in the map's own tables, besides its
    /// key's buffer and what its value holds on the heap: its node and link
    /// (the tables grow to at most `cap` entries), and its share of the
    /// index, a slot number and a control byte in a table of a power of two
    /// buckets filled at most 7/8, which may double once more when removals
    /// leave it full of tombstones.
    pub const SLOT_BYTES: usize = std::mem::size_of::<Node<V>>()
        + std::mem::size_of::<Link>()
        + 4 * (std::mem::size_of::<u32>() + 1) * 8 / 7
        + 1;

    /// An empty map holding at most `cap` entries (at least 1, at most
    /// `u32::MAX - 1`), whose index hashes keys under `key`.
    pub fn new(cap: usize, key: HashKey) -> Lru<V> {
        let cap = cap.clamp(1, (NIL - 1) as usize);
        Lru {
            index: HashTable::new(),
            hasher: KeyedState(key),
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

    /// The slot the index holds for `key`, whose hash is `hash`.
    #[inline]
    fn slot_of(&self, key: &str, hash: u64) -> Option<u32> {
        let nodes = &self.nodes;
        self.index
            .find(hash, |&s| {
                nodes.get(s as usize).is_some_and(|n| n.key == key)
            })
            .copied()
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
        let hash = self.hasher.hash_one(key);
        if let Some(i) = self.slot_of(key, hash) {
            self.promote(i);
            return Some((i, false));
        }
        let generation = self.placed + 1;
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
                key: key.to_owned(),
                value: make(),
            });
            self.links.push(Link {
                prev: NIL,
                next: NIL,
                generation,
                hash,
            });
            if self.nodes.len() == self.cap {
                // Full from now on: room for twice the entries, once, before
                // the first eviction. Hashbrown then always clears a full
                // table's tombstones in place, while a table more than half
                // full of entries doubles, which would make a later miss
                // allocate (once, at a moment the keys' hashes decide). Not
                // asked again later: `capacity()` is the entries plus the room
                // left, which tombstones take, so it drops below the room
                // reserved while the table is as large as it ever needs to
                // be. The doubling is the one `SLOT_BYTES` counts.
                let room = self.cap.saturating_mul(2);
                let more = room.saturating_sub(self.index.len());
                self.index.reserve(more, kept_hash(&self.links));
            }
            i
        } else {
            let i = self.tail;
            let link = self.links.get_mut(i as usize)?;
            let old_hash = std::mem::replace(&mut link.hash, hash);
            link.generation = generation;
            // The evicted key's entry, found by its kept hash and its slot:
            // no key hashed or compared.
            if let Ok(entry) = self.index.find_entry(old_hash, |&s| s == i) {
                entry.remove();
            }
            self.unlink(i);
            if let Some(node) = self.nodes.get_mut(i as usize) {
                node.key.clear();
                node.key.reserve_exact(key.len());
                node.key.push_str(key);
                reset(&mut node.value);
            }
            i
        };
        self.placed = generation;
        self.index.insert_unique(hash, i, kept_hash(&self.links));
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
        self.slot_of(key, self.hasher.hash_one(key))
    }

    /// The hash the index gives `key`.
    #[cfg(test)]
    pub(crate) fn hash_of(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The most keys of the index that share both the bucket a lookup
    /// starts probing at (the hash's low bits, as many as the table has
    /// buckets) and the tag it compares first (the hash's top 7 bits, as
    /// hashbrown reads them on 64-bit targets): a lookup of one of them
    /// compares its key with every other at the least.
    #[cfg(test)]
    pub(crate) fn most_keys_sharing_a_probe(&self) -> usize {
        let buckets = self.index.num_buckets() as u64;
        let mut probes: Vec<(u64, u64)> = self
            .index
            .iter()
            .filter_map(|&s| self.nodes.get(s as usize))
            .map(|n| {
                let h = self.hash_of(&n.key);
                (h & (buckets - 1), h >> 57)
            })
            .collect();
        probes.sort_unstable();
        probes
            .chunk_by(|a, b| a == b)
            .map(<[_]>::len)
            .max()
            .unwrap_or(0)
    }

    /// Keys from most to least recently used.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        let mut i = self.head;
        std::iter::from_fn(move || {
            let n = self.nodes.get(i as usize)?;
            i = self.links.get(i as usize)?.next;
            Some(n.key.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::is_dns1123_subdomain;
    use crate::test_rng::Xorshift;

    fn os_key() -> HashKey {
        HashKey::from_os().unwrap()
    }

    fn touch(l: &mut Lru<u32>, k: &str) -> (u32, bool) {
        l.touch(k, || 0, |v| *v = 0).unwrap()
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut l = Lru::new(3, os_key());
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
        let mut l = Lru::new(16, os_key());
        for i in 0..10_000 {
            touch(&mut l, &format!("pod-{i}"));
            assert!(l.len() <= 16);
        }
        assert_eq!(l.index.len(), 16);
        assert_eq!(l.keys().count(), 16);
    }

    /// The index is sized for twice the entries once, when the map fills,
    /// and never grows after: evictions leave tombstones, which
    /// hashbrown clears in place, and they must not read as a table out of
    /// room (a later miss would then allocate a table twice the size, at a
    /// moment the keys' hashes decide). 200 fixed keys, so the outcome does
    /// not depend on the run.
    #[test]
    fn the_index_grows_no_more_after_the_first_eviction() {
        for seed in 0..200u64 {
            let key = HashKey::from_parts(seed, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for cap in [100, 500] {
                let mut l = Lru::new(cap, key);
                for i in 0..=cap {
                    touch(&mut l, &format!("pod-{i}"));
                }
                let buckets = l.index.num_buckets();
                for i in cap + 1..4 * cap {
                    touch(&mut l, &format!("pod-{i}"));
                    assert_eq!(
                        l.index.num_buckets(),
                        buckets,
                        "seed {seed}, cap {cap}: the index grew at miss {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn its_tables_hold_no_more_than_the_cap() {
        for cap in [1, 3, 5, 16, 1000, 5000] {
            let mut l = Lru::new(cap, os_key());
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
        let mut l = Lru::new(2, os_key());
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

    /// Keys hashed by `f`, counted as the hashers the index's
    /// [`KeyedState`] builds.
    fn hashes_in(f: impl FnOnce()) -> usize {
        use crate::keyed_hash::HASHERS_BUILT;
        let before = HASHERS_BUILT.with(std::cell::Cell::get);
        f();
        HASHERS_BUILT.with(std::cell::Cell::get) - before
    }

    #[test]
    fn each_lookup_and_each_miss_hashes_its_key_once() {
        let mut l = Lru::new(1000, os_key());
        // Filling the table (whose index grows nine times on the way)
        // hashes each key once: growing reads the hashes kept.
        let filled = hashes_in(|| {
            for i in 0..1000 {
                assert!(touch(&mut l, &format!("pod-{i}")).1);
            }
        });
        assert_eq!(filled, 1000);
        // A hit: once.
        assert_eq!(hashes_in(|| assert!(!touch(&mut l, "pod-7").1)), 1);
        assert_eq!(hashes_in(|| assert!(l.find("pod-8").is_some())), 1);
        assert_eq!(hashes_in(|| assert!(l.find("absent").is_none())), 1);
        // A miss that evicts: the new key once, the evicted one not at all;
        // 3000 of them, so removals leave the index to rehash in place too.
        let evicting = hashes_in(|| {
            for i in 1000..4000 {
                assert!(touch(&mut l, &format!("pod-{i}")).1);
            }
        });
        assert_eq!(evicting, 3000);
        assert_eq!(l.len(), 1000);
        // Touching a placement hashes nothing.
        let slot = l.find("pod-3999").unwrap();
        let generation = l.generation(slot).unwrap();
        assert_eq!(hashes_in(|| assert!(l.touch_placed(slot, generation))), 0);
        for i in 3000..4000 {
            let key = format!("pod-{i}");
            let slot = l.find(&key).unwrap();
            assert_eq!(l.keys().find(|k| *k == key), Some(&*key));
            assert_eq!(l.nodes.get(slot as usize).map(|n| &*n.key), Some(&*key));
        }
    }

    #[test]
    fn capacity_one_works() {
        let mut l = Lru::new(0, os_key());
        assert_eq!(l.capacity(), 1);
        touch(&mut l, "a");
        touch(&mut l, "b");
        assert_eq!(l.keys().collect::<Vec<_>>(), ["b"]);
    }

    /// The hash the index used before it was keyed (FxHash's word mixing
    /// with a public seed, then MurmurHash3's finalizer), as `str`'s `Hash`
    /// fed it: the bytes, 8 at a time, a last partial word with its length,
    /// and a `0xff`.
    fn unkeyed_hash(key: &str) -> u64 {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let add = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(SEED);
        let mut h = 0;
        let mut chunks = key.as_bytes().chunks_exact(8);
        for c in &mut chunks {
            h = add(h, u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = add(h, u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
        crate::text_table::fmix64(add(h, 0xff))
    }

    /// `2^stages` entity keys of distinct valid pods of the namespace
    /// `crowd` that all have one [`unkeyed_hash`]: what anyone who may name
    /// pods there could compute. The hash's state after the key's first
    /// word (`p␟crowd␟`) is public; each stage appends one of two 16-byte
    /// pieces (a word of 7 letters or digits and a `.`, then a word of 8)
    /// that lead from the same state to the same state, so every choice of
    /// pieces ends in one state (Joux's multicollisions). The two pieces of
    /// a stage: first words whose states, turned as the next step turns
    /// them, differ only in bits that two letters or digits can also differ
    /// in (bits 5 and 7 of every byte equal), then second words that cancel
    /// that difference.
    fn colliding_pod_keys(stages: u32) -> Vec<String> {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let add = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(SEED);
        let alnum = |c: u8| ALNUM.contains(&c);
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let prefix = "p\u{1f}crowd\u{1f}";
        let mut state = add(0, u64::from_le_bytes(prefix.as_bytes().try_into().unwrap()));
        let mut names = vec![String::new()];
        for _ in 0..stages {
            let mut seen = std::collections::HashMap::new();
            let pieces = loop {
                let mut first = [b'.'; 8];
                for b in &mut first[..7] {
                    *b = ALNUM[(rng.next_u64() % ALNUM.len() as u64) as usize];
                }
                let turned = add(state, u64::from_le_bytes(first)).rotate_left(5);
                let class = turned & 0xa0a0_a0a0_a0a0_a0a0;
                let Some((other, other_turned)) = seen.insert(class, (first, turned)) else {
                    continue;
                };
                if other == first {
                    continue;
                }
                // Second words a and b with a ^ turned == b ^ other_turned.
                let diff = (turned ^ other_turned).to_le_bytes();
                let mut a = [0u8; 8];
                let mut b = [0u8; 8];
                let found = diff.iter().enumerate().all(|(i, d)| {
                    let pick = ALNUM.iter().find(|&&c| alnum(c ^ d));
                    pick.map(|&c| (a[i], b[i]) = (c, c ^ d)).is_some()
                });
                if found {
                    break [(first, a), (other, b)];
                }
            };
            let [(f, s), _] = pieces;
            state = add(add(state, u64::from_le_bytes(f)), u64::from_le_bytes(s));
            let text = |(f, s): ([u8; 8], [u8; 8])| String::from_utf8([f, s].concat()).unwrap();
            names = names
                .iter()
                .flat_map(|n| pieces.map(|p| format!("{n}{}", text(p))))
                .collect();
        }
        names.into_iter().map(|n| format!("{prefix}{n}")).collect()
    }

    #[test]
    fn chosen_pod_names_do_not_share_the_index_buckets() {
        let keys = colliding_pod_keys(7);
        // The attack is real: 128 distinct valid pod names, one unkeyed hash.
        assert_eq!(keys.len(), 128);
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        for k in &keys {
            let pod = k.rsplit('\u{1f}').next().unwrap();
            assert!(is_dns1123_subdomain(pod.as_bytes()), "{pod}");
            assert_eq!(unkeyed_hash(k), unkeyed_hash(&keys[0]), "{k:?}");
        }
        let mut l = Lru::new(4096, os_key());
        for k in &keys {
            touch(&mut l, k);
        }
        assert_eq!(l.len(), keys.len());
        // Keyed, the 128 names fall in 128 x 128 (bucket, tag) pairs of
        // the 256-bucket index as random names would: five or more in one
        // pair has a chance under 1e-8. Under the unkeyed hash all 128 do.
        let sharing = l.most_keys_sharing_a_probe();
        assert!(sharing <= 4, "{sharing} keys share a bucket and a tag");
        for k in &keys {
            assert_eq!(l.find(k).map(|s| &*l.nodes[s as usize].key), Some(&**k));
        }
    }

    #[test]
    fn tables_hash_keys_by_their_own_key() {
        let a = Lru::<u32>::new(8, os_key());
        let b = Lru::<u32>::new(8, os_key());
        let fixed = Lru::<u32>::new(8, HashKey::from_parts(1, 2));
        let same = Lru::<u32>::new(8, HashKey::from_parts(1, 2));
        let key = "p\u{1f}shop\u{1f}web-7d4b9c8f6-x2x2x";
        assert_ne!(a.hash_of(key), b.hash_of(key));
        assert_eq!(fixed.hash_of(key), same.hash_of(key));
        assert_ne!(fixed.hash_of(key), a.hash_of(key));
    }
}
