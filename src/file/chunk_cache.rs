//! [`ChunkCache`]: decoded chunks (decompressed B-tree nodes) kept in memory by position.
//!
//! In an append-only file the bytes at a position never change once a header refers to
//! them, so a cached chunk never goes stale; the one exception, rolling back uncommitted
//! appends, drops what lay beyond the new end ([`ChunkCache::forget_from`]).
//!
//! Eviction is by two generations, an approximation of LRU that costs O(1) per access:
//! entries go into the hot generation; a hit in the cold one moves the entry back to the
//! hot one; when the hot generation fills half the budget, it becomes the cold one and
//! the old cold one is dropped. What is used keeps being promoted; what is not (such as
//! a node the writer has just replaced) falls out within two turns.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use parking_lot::Mutex;

/// Default memory budget of a file's cache. Interior nodes are what gets cached, and
/// those of a million-document database fit in it.
pub const DEFAULT_CACHE_BYTES: usize = 4 << 20;

/// A position hashes by multiplication: positions are distinct integers, and SipHash
/// would cost more than the rest of a lookup.
#[derive(Default)]
struct PositionHasher(u64);

impl Hasher for PositionHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
}

type Generation = HashMap<u64, Arc<[u8]>, BuildHasherDefault<PositionHasher>>;

#[derive(Default)]
struct Generations {
    hot: Generation,
    hot_bytes: usize,
    cold: Generation,
}

/// A bounded cache of decoded chunks; see the module documentation.
pub struct ChunkCache {
    inner: Mutex<Generations>,
    budget: usize,
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.inner.lock();
        f.debug_struct("ChunkCache")
            .field("budget", &self.budget)
            .field("entries", &(g.hot.len() + g.cold.len()))
            .finish()
    }
}

impl ChunkCache {
    /// A cache holding about `budget` bytes of decoded chunks (0 disables it).
    pub fn new(budget: usize) -> Self {
        ChunkCache {
            inner: Mutex::new(Generations::default()),
            budget,
        }
    }

    /// The decoded chunk at `pos`, if cached.
    pub fn get(&self, pos: u64) -> Option<Arc<[u8]>> {
        let mut g = self.inner.lock();
        if let Some(data) = g.hot.get(&pos) {
            return Some(data.clone());
        }
        let data = g.cold.remove(&pos)?;
        self.insert_hot(&mut g, pos, data.clone());
        Some(data)
    }

    /// Remembers the decoded chunk at `pos`.
    pub fn insert(&self, pos: u64, data: Arc<[u8]>) {
        if data.len() > self.budget / 4 {
            return;
        }
        let mut g = self.inner.lock();
        g.cold.remove(&pos);
        self.insert_hot(&mut g, pos, data);
    }

    fn insert_hot(&self, g: &mut Generations, pos: u64, data: Arc<[u8]>) {
        g.hot_bytes += data.len();
        if let Some(old) = g.hot.insert(pos, data) {
            g.hot_bytes -= old.len();
        }
        if g.hot_bytes > self.budget / 2 {
            g.cold = std::mem::take(&mut g.hot);
            g.hot_bytes = 0;
        }
    }

    /// Drops every chunk at or after `end` (those bytes are being rolled back).
    pub fn forget_from(&self, end: u64) {
        let mut g = self.inner.lock();
        g.cold.retain(|&pos, _| pos < end);
        g.hot.retain(|&pos, _| pos < end);
        g.hot_bytes = g.hot.values().map(|d| d.len()).sum();
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> usize {
        let g = self.inner.lock();
        g.hot_bytes + g.cold.values().map(|d| d.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize, fill: u8) -> Arc<[u8]> {
        Arc::from(vec![fill; n])
    }

    #[test]
    fn hit_and_miss() {
        let c = ChunkCache::new(1 << 20);
        assert!(c.get(10).is_none());
        c.insert(10, chunk(100, 1));
        assert_eq!(&*c.get(10).unwrap(), &[1u8; 100][..]);
        c.insert(10, chunk(50, 2));
        assert_eq!(c.get(10).unwrap().len(), 50);
        assert_eq!(c.bytes(), 50);
    }

    #[test]
    fn stays_within_budget_and_keeps_what_is_used() {
        let c = ChunkCache::new(10_000);
        c.insert(1, chunk(100, 9));
        for pos in 2..1000u64 {
            c.insert(pos, chunk(100, 0));
            // The hot entry is read all along, so it is never evicted.
            assert!(c.get(1).is_some(), "evicted at {pos}");
            assert!(c.bytes() <= 10_000 + 100);
        }
        // Old entries nobody read are gone.
        assert!(c.get(2).is_none());
    }

    #[test]
    fn forget_from_drops_rolled_back_positions() {
        let c = ChunkCache::new(1 << 20);
        for pos in [5u64, 50, 500] {
            c.insert(pos, chunk(10, pos as u8));
        }
        c.forget_from(50);
        assert!(c.get(5).is_some());
        assert!(c.get(50).is_none());
        assert!(c.get(500).is_none());
        assert_eq!(c.bytes(), 10);
    }

    #[test]
    fn disabled_and_oversized() {
        let c = ChunkCache::new(0);
        c.insert(1, chunk(1, 1));
        assert!(c.get(1).is_none());
        let c = ChunkCache::new(1000);
        c.insert(1, chunk(600, 1));
        assert!(c.get(1).is_none());
    }
}
