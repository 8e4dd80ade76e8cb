//! The replay cache: every accepted signature is remembered until its timestamp leaves the
//! clock window, so the same signed request cannot be accepted twice. Bounded; when full of
//! live entries it refuses new requests (fails closed) instead of forgetting.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Result of [`ReplayCache::check_and_insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// First time seen; now remembered.
    Fresh,
    /// Seen before.
    Replayed,
    /// The cache is full of unexpired entries.
    Full,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashMap<[u8; 32], i64>,
    order: VecDeque<(i64, [u8; 32])>,
}

/// Remembers signatures until their expiry (Unix seconds).
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ReplayCache {
    /// A cache holding at most `capacity` live signatures.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Atomically checks `token` and remembers it until `expires_at`.
    pub fn check_and_insert(&self, token: [u8; 32], now: i64, expires_at: i64) -> ReplayVerdict {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((exp, tok)) = g.order.front().copied() {
            if exp >= now {
                break;
            }
            g.order.pop_front();
            if g.seen.get(&tok) == Some(&exp) {
                g.seen.remove(&tok);
            }
        }
        if g.seen.contains_key(&token) {
            return ReplayVerdict::Replayed;
        }
        if g.seen.len() >= self.capacity {
            return ReplayVerdict::Full;
        }
        g.seen.insert(token, expires_at);
        // Expiries arrive nearly sorted; insert in order so pruning from the front is exact.
        let pos = g
            .order
            .iter()
            .rposition(|(e, _)| *e <= expires_at)
            .map_or(0, |p| p + 1);
        g.order.insert(pos, (expires_at, token));
        ReplayVerdict::Fresh
    }

    /// Number of remembered signatures.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .len()
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
    fn remembers_until_expiry_and_fails_closed_when_full() {
        let c = ReplayCache::new(2);
        assert_eq!(c.check_and_insert([1; 32], 100, 200), ReplayVerdict::Fresh);
        assert_eq!(
            c.check_and_insert([1; 32], 150, 250),
            ReplayVerdict::Replayed
        );
        assert_eq!(c.check_and_insert([2; 32], 150, 300), ReplayVerdict::Fresh);
        assert_eq!(c.check_and_insert([3; 32], 150, 300), ReplayVerdict::Full);
        // After [1]'s expiry it is forgotten and there is room again.
        assert_eq!(c.check_and_insert([3; 32], 201, 500), ReplayVerdict::Fresh);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.check_and_insert([2; 32], 299, 600),
            ReplayVerdict::Replayed
        );
    }
}
