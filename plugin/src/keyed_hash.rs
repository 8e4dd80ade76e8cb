//! The entity table's hash: SipHash-1-3 under a secret 128-bit key that
//! each [`Filter`](crate::Filter) draws from the operating system when it is
//! made.
//!
//! The table's keys are entity names taken from the records: pod names, and
//! the namespace and workload names beside them. Whoever can name pods (in a
//! namespace they control) or write the labels of metric samples chooses
//! them. With a public hash they can compute names that share one bucket
//! group and control byte of the hash table (hashbrown picks the group from
//! the low bits of the hash and keeps its top 7 bits as the tag), and every
//! lookup of such a name then compares it with all the others: O(entities)
//! work a record instead of O(1). SipHash with a key they do not know leaves
//! them no better than chance; it is the keyed hash Rust's own `HashMap`
//! uses by default (`std::collections::hash_map::RandomState`), with the same
//! 1-3 rounds. Faster keyed hashes were passed over: foldhash says of itself
//! that it "does not claim to provide HashDoS resistance against interactive
//! attackers" (its secret can be derived from timing, and whoever feeds
//! records to the filter can watch how fast it goes); aHash does claim DoS
//! resistance, but says it is "not a cryptographically secure hash", and
//! without AES instructions (the `.wasm`) it runs a folded-multiply fallback,
//! the primitive foldhash disclaims. SipHash is a keyed pseudorandom
//! function, and costs nothing measurable here (the README's benchmarks:
//! records that repeat a remembered identity object skip the table's hash).
//! std's `RandomState` is not used directly because it panics (a trap, in
//! the `.wasm`) when the host gives no random bytes.
//!
//! The key comes from [`getrandom`]: the kernel natively, WASI's
//! `random_get` in the `.wasm` (Fluent Bit's WAMR implements it with
//! `getrandom(2)` on Linux; see the README). When that fails, the filter
//! runs all the same, with [`HashKey::FALLBACK`], a fixed public key: as
//! fast, and as exposed to chosen names as the unkeyed hash it replaced;
//! [`KeySource::Fallback`] says so, and the adapters (the Fluent Bit filter,
//! `edgeheal score`) write one line on stderr
//! ([`KeySource::fallback_warning`]).
//!
//! Nothing the filter writes depends on the key: the table is looked up by
//! key and evicts by recency, and nothing iterates it in hash order. Two
//! filters with different keys write the same bytes for the same records.

use std::hash::BuildHasher;

use siphasher::sip::SipHasher13;

/// A secret key for the entity table's hash. Its `Debug` does not show it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

/// Where a filter's [`HashKey`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// Random bytes from the operating system (the usual case).
    Os,
    /// Given by the caller ([`Filter::with_hash_key`](crate::Filter::with_hash_key)).
    Given,
    /// The operating system gave no random bytes: [`HashKey::FALLBACK`] is
    /// in use, and chosen entity names can slow the table down.
    Fallback(KeyError),
}

impl KeySource {
    /// What to tell whoever runs the filter when its key is
    /// [`HashKey::FALLBACK`]: why no random bytes came, and what follows.
    /// `None` for a key drawn or given. The adapters (the Fluent Bit filter,
    /// `edgeheal score`) write it once on stderr.
    pub fn fallback_warning(self) -> Option<String> {
        match self {
            KeySource::Fallback(why) => Some(format!(
                "{why}; the entity table hashes pod and workload names under a fixed public key, \
                 so names chosen to collide can slow the filter down"
            )),
            KeySource::Os | KeySource::Given => None,
        }
    }
}

/// Why no key could be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The operating system (WASI's `random_get` in the `.wasm`) failed.
    #[error("no random bytes from the operating system: {0}")]
    Os(#[source] getrandom::Error),
}

impl HashKey {
    /// The key used when the operating system gives no random bytes: fixed
    /// and public, so it resists no chosen names.
    pub const FALLBACK: HashKey = HashKey {
        k0: 0x6564_6765_6865_616c, // "edgeheal"
        k1: 0x656e_7469_7469_6573, // "entities"
    };

    /// A key of 16 random bytes from the operating system.
    pub fn from_os() -> Result<HashKey, KeyError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(KeyError::Os)?;
        let key = u128::from_le_bytes(bytes);
        Ok(HashKey {
            k0: key as u64,
            k1: (key >> 64) as u64,
        })
    }

    /// A key from its two halves (for a run that must be reproduced).
    pub const fn from_parts(k0: u64, k1: u64) -> HashKey {
        HashKey { k0, k1 }
    }

    /// A key from the operating system, else [`HashKey::FALLBACK`]; and
    /// which of the two it is.
    pub(crate) fn drawn(from: Result<HashKey, KeyError>) -> (HashKey, KeySource) {
        match from {
            Ok(key) => (key, KeySource::Os),
            Err(e) => (HashKey::FALLBACK, KeySource::Fallback(e)),
        }
    }
}

/// Builds the entity table's hashers: SipHash-1-3 under a [`HashKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyedState(pub HashKey);

impl BuildHasher for KeyedState {
    type Hasher = SipHasher13;

    #[inline]
    fn build_hasher(&self) -> SipHasher13 {
        #[cfg(test)]
        HASHERS_BUILT.with(|n| n.set(n.get() + 1));
        SipHasher13::new_with_keys(self.0.k0, self.0.k1)
    }
}

#[cfg(test)]
thread_local! {
    /// How many hashers [`KeyedState`] built on this thread: one a hash
    /// computed (the entity table's tests count its hashes with it).
    pub(crate) static HASHERS_BUILT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_the_os_differ_and_are_not_the_fallback() {
        let keys: Vec<HashKey> = (0..4).map(|_| HashKey::from_os().unwrap()).collect();
        for (i, a) in keys.iter().enumerate() {
            assert_ne!(*a, HashKey::FALLBACK);
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_failed_draw_falls_back_to_the_fixed_key_and_says_so() {
        let failed = KeyError::Os(getrandom::Error::UNSUPPORTED);
        let (key, source) = HashKey::drawn(Err(failed));
        assert_eq!(key, HashKey::FALLBACK);
        assert_eq!(source, KeySource::Fallback(failed));
        let ok = HashKey::from_parts(1, 2);
        assert_eq!(HashKey::drawn(Ok(ok)), (ok, KeySource::Os));
    }

    #[test]
    fn only_the_fallback_key_is_warned_of() {
        let failed = KeyError::Os(getrandom::Error::UNSUPPORTED);
        let warning = KeySource::Fallback(failed).fallback_warning().unwrap();
        assert!(
            warning.starts_with(&format!("{failed}; the entity table hashes")),
            "{warning}"
        );
        assert!(warning.contains("fixed public key"), "{warning}");
        assert_eq!(KeySource::Os.fallback_warning(), None);
        assert_eq!(KeySource::Given.fallback_warning(), None);
    }

    #[test]
    fn the_hash_depends_on_the_key_and_is_sip_hash_1_3() {
        let of = |key: HashKey| KeyedState(key).hash_one("p\u{1f}shop\u{1f}web-7d4b9c8f6-x2x2x");
        let a = of(HashKey::from_parts(1, 2));
        assert_eq!(a, of(HashKey::from_parts(1, 2)));
        assert_ne!(a, of(HashKey::from_parts(1, 3)));
        assert_ne!(a, of(HashKey::from_parts(2, 2)));
        // The reference vector of SipHash-1-3 for the empty message under
        // the key 00 01 .. 0f (as the `siphasher` crate's own tests and
        // Rust's `core` check it).
        let key = HashKey::from_parts(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let mut h = KeyedState(key).build_hasher();
        std::hash::Hasher::write(&mut h, &[]);
        assert_eq!(
            std::hash::Hasher::finish(&h).to_le_bytes(),
            [0xdc, 0xc4, 0x0f, 0x05, 0x58, 0x01, 0xac, 0xab]
        );
    }

    #[test]
    fn debug_does_not_show_the_key() {
        assert_eq!(
            format!("{:?}", HashKey::from_parts(0x1234, 0x5678)),
            "HashKey(..)"
        );
    }
}
