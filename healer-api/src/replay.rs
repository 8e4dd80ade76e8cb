//! The replay cache: the signature of every accepted (committed) batch is remembered until its
//! timestamp leaves the clock window, so the same signed request is refused without being
//! decoded again. The store's unique signature per batch is what makes the refusal sound: two
//! copies of one request in flight at once both pass [`ReplayCache::check`], and the store
//! commits one of them.
//!
//! Bounded: once it holds `capacity` live signatures, [`ReplayCache::check`] answers
//! [`ReplayVerdict::Full`] (the heal API then refuses with 429 and a `Retry-After` of when the
//! oldest one expires) instead of forgetting one still inside the window. [`ReplayCache::insert`]
//! after a commit never refuses, so the capacity may be passed by the batches that were in
//! flight when it filled (at most `store.queue_capacity`).
//!
//! Memory: a token is the first 16 bytes of SHA-256 of the signature (a collision among a
//! million live entries has a probability near 2^-88). An entry takes 17 bytes of the set's
//! buckets (a power of two of them, at most 7/8 full) and 16 bytes in the list of the second it
//! expires at (grown by doubling): full at the default capacity of 500,000, 17 MiB of buckets
//! and 8 to 16 MiB of lists.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

/// A remembered signature.
pub type Token = [u8; 16];

/// Result of [`ReplayCache::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Not seen inside the window.
    Fresh,
    /// Accepted before.
    Replayed,
    /// The cache holds `capacity` unexpired signatures; the oldest expires in
    /// `retry_after_secs`.
    Full {
        /// Seconds until the oldest remembered signature expires (at least 1).
        retry_after_secs: u64,
    },
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<Token>,
    /// Tokens by the Unix second they expire at.
    by_expiry: BTreeMap<i64, Vec<Token>>,
}

impl Inner {
    fn prune(&mut self, now: i64) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if *entry.key() >= now {
                break;
            }
            for token in entry.remove() {
                self.seen.remove(&token);
            }
        }
    }
}

/// Remembers signatures until their expiry (Unix seconds).
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ReplayCache {
    /// A cache refusing new requests once it holds `capacity` live signatures.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a request signed `token` may go on: not accepted inside the window, and room to
    /// remember it once it is. Remembers nothing.
    pub fn check(&self, token: &Token, now: i64) -> ReplayVerdict {
        let mut g = self.lock();
        g.prune(now);
        if g.seen.contains(token) {
            return ReplayVerdict::Replayed;
        }
        if g.seen.len() >= self.capacity {
            let oldest = g.by_expiry.keys().next().copied().unwrap_or(now);
            return ReplayVerdict::Full {
                retry_after_secs: u64::try_from(oldest - now).unwrap_or(0).max(1),
            };
        }
        ReplayVerdict::Fresh
    }

    /// Remembers `token` until `expires_at`: its batch was accepted. Never refuses (see the
    /// module's doc); `false` if it was remembered already.
    pub fn insert(&self, token: Token, now: i64, expires_at: i64) -> bool {
        self.remember(token, now, expires_at, usize::MAX)
    }

    /// [`Self::insert`] while there is room: for the signatures loaded from the store at
    /// start, which the store's unique signatures back anyway.
    pub fn insert_if_room(&self, token: Token, now: i64, expires_at: i64) -> bool {
        self.remember(token, now, expires_at, self.capacity)
    }

    /// Remembers `token` until `expires_at` if fewer than `room` live signatures are held.
    fn remember(&self, token: Token, now: i64, expires_at: i64, room: usize) -> bool {
        let mut g = self.lock();
        g.prune(now);
        if g.seen.len() >= room || !g.seen.insert(token) {
            return false;
        }
        g.by_expiry.entry(expires_at).or_default().push(token);
        true
    }

    /// Number of remembered signatures.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_accepted_signatures_until_expiry_and_reports_when_full() {
        let c = ReplayCache::new(2);
        // Checking remembers nothing: a batch refused later may be sent again.
        assert_eq!(c.check(&[1; 16], 100), ReplayVerdict::Fresh);
        assert_eq!(c.check(&[1; 16], 100), ReplayVerdict::Fresh);
        assert!(c.insert([1; 16], 100, 200));
        assert!(!c.insert([1; 16], 100, 200), "remembered already");
        assert_eq!(c.check(&[1; 16], 150), ReplayVerdict::Replayed);
        assert!(c.insert([2; 16], 150, 300));
        assert_eq!(
            c.check(&[3; 16], 150),
            ReplayVerdict::Full {
                retry_after_secs: 50
            }
        );
        // Still a replay when full.
        assert_eq!(c.check(&[2; 16], 150), ReplayVerdict::Replayed);
        assert!(!c.insert_if_room([3; 16], 150, 300));
        // After [1]'s expiry it is forgotten and there is room again.
        assert_eq!(c.check(&[3; 16], 201), ReplayVerdict::Fresh);
        assert_eq!(c.check(&[1; 16], 201), ReplayVerdict::Fresh);
        assert!(c.insert_if_room([3; 16], 201, 500));
        assert_eq!(c.len(), 2);
        // At the second it expires it is still refused.
        assert_eq!(c.check(&[2; 16], 300), ReplayVerdict::Replayed);
        assert_eq!(c.check(&[2; 16], 301), ReplayVerdict::Fresh);
    }

    #[test]
    fn out_of_order_expiries_are_pruned_in_order() {
        // A sender whose clock is behind signs requests that expire sooner than those before.
        let c = ReplayCache::new(10);
        for (i, exp) in [500, 400, 600, 100].into_iter().enumerate() {
            assert!(c.insert([i as u8; 16], 0, exp));
        }
        assert_eq!(c.check(&[3; 16], 101), ReplayVerdict::Fresh);
        assert_eq!(c.check(&[1; 16], 101), ReplayVerdict::Replayed);
        assert_eq!(c.len(), 3);
        assert_eq!(c.check(&[1; 16], 401), ReplayVerdict::Fresh);
        assert_eq!(c.len(), 2);
        // Full: Retry-After is when the oldest of those left expires.
        let full = ReplayCache::new(2);
        full.insert([1; 16], 0, 600);
        full.insert([2; 16], 0, 450);
        assert_eq!(
            full.check(&[3; 16], 400),
            ReplayVerdict::Full {
                retry_after_secs: 50
            }
        );
    }
}
