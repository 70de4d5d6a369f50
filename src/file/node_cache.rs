//! [`NodeCache`]: decoded chunks (decompressed B-tree nodes) kept in memory, one cache
//! for the whole process with one total budget, shared by every open handle.
//!
//! An engine node keeps a thousand files open; a cache per file would cost megabytes
//! each, and most of them sit idle. One cache lets the files being written use the
//! memory the idle ones do not.
//!
//! Entries are keyed by a [`CacheSpace`] (a number drawn for each open handle, never
//! reused) and a position. In an append-only file the bytes at a position never change
//! once a header refers to them, so an entry never goes stale; the exception, rolling
//! back uncommitted appends, gives the handle a new space ([`CacheSpace::renew`]), so
//! nothing cached before can be served for a position written again. A closed handle's
//! entries are never asked for again and age out like any unused entry. Two handles on
//! one file do not share entries: a file's identity on disk (device and inode) can be
//! reused by another file after it is deleted, which would serve one file's nodes for
//! another's.
//!
//! The cache is split into shards, each behind its own lock, so concurrent flushers
//! rarely meet. A shard evicts by two generations, an approximation of LRU at O(1) per
//! access: entries go into the hot generation; a hit in the cold one moves the entry back;
//! when the hot generation fills half the shard's budget, it becomes the cold one and the
//! old cold one is dropped.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// Default total budget of the process-wide cache (see [`NodeCache::global`]).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Environment variable that sets the process-wide budget at first use: a number of
/// bytes, optionally followed by `K`, `M` or `G` (binary multiples).
pub const CACHE_BYTES_ENV: &str = "COUCHSTORE_CACHE_BYTES";

/// Shards of the cache: enough that two to eight flushers rarely wait on one another.
const SHARDS: usize = 16;

/// What an entry costs beyond its bytes: the map slot (at the map's load factor), the
/// key, the `Arc` header and the allocator's rounding, as measured against RSS.
const ENTRY_OVERHEAD: usize = 128;

/// Mixes a key to a hash by multiplication: keys are distinct integers, and SipHash
/// would cost more than the rest of a lookup.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

/// One handle's part of the cache: entries of different spaces never meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheSpace(u64);

impl CacheSpace {
    /// A space no handle has used before.
    pub fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        CacheSpace(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Leaves this space for a fresh one: what was cached under the old one is never
    /// served again (after positions were rolled back and may be written again).
    pub fn renew(&mut self) {
        *self = Self::fresh();
    }
}

type Key = (CacheSpace, u64);
type Generation = HashMap<Key, Arc<[u8]>, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct Shard {
    hot: Generation,
    hot_bytes: usize,
    cold: Generation,
    cold_bytes: usize,
}

fn cost(data: &[u8]) -> usize {
    data.len() + ENTRY_OVERHEAD
}

impl Shard {
    fn insert_hot(&mut self, key: Key, data: Arc<[u8]>, shard_budget: usize) {
        self.hot_bytes += cost(&data);
        if let Some(old) = self.hot.insert(key, data) {
            self.hot_bytes -= cost(&old);
        }
        if self.hot_bytes > shard_budget / 2 {
            self.cold = std::mem::take(&mut self.hot);
            self.cold_bytes = self.hot_bytes;
            self.hot_bytes = 0;
        }
    }

    fn take_cold(&mut self, key: &Key) -> Option<Arc<[u8]>> {
        let data = self.cold.remove(key)?;
        self.cold_bytes -= cost(&data);
        Some(data)
    }

    fn clear(&mut self) {
        *self = Shard::default();
    }
}

/// A bounded, sharded cache of decoded chunks; see the module documentation.
pub struct NodeCache {
    shards: Box<[Mutex<Shard>]>,
    budget: AtomicUsize,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("budget", &self.budget())
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl NodeCache {
    /// A cache holding about `budget` bytes in all (0 disables it).
    pub fn new(budget: usize) -> Self {
        NodeCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            budget: AtomicUsize::new(budget),
        }
    }

    /// The process-wide cache every handle uses. Its budget is
    /// [`DEFAULT_CACHE_BYTES`] unless the `COUCHSTORE_CACHE_BYTES` environment variable
    /// says otherwise when it is first used, or [`NodeCache::set_budget`] changes it.
    pub fn global() -> &'static NodeCache {
        static GLOBAL: OnceLock<NodeCache> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let budget = std::env::var(CACHE_BYTES_ENV)
                .ok()
                .and_then(|v| parse_size(&v))
                .unwrap_or(DEFAULT_CACHE_BYTES);
            NodeCache::new(budget)
        })
    }

    /// The total budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Sets the total budget; what lies beyond a smaller one is dropped at once.
    pub fn set_budget(&self, bytes: usize) {
        self.budget.store(bytes, Ordering::Relaxed);
        let per_shard = self.shard_budget();
        for shard in self.shards.iter() {
            let mut s = shard.lock();
            if s.hot_bytes + s.cold_bytes > per_shard {
                s.cold.clear();
                s.cold_bytes = 0;
            }
            if s.hot_bytes > per_shard / 2 {
                s.clear();
            }
        }
    }

    fn shard_budget(&self) -> usize {
        self.budget() / SHARDS
    }

    fn shard(&self, key: &Key) -> &Mutex<Shard> {
        let mut h = KeyHasher::default();
        h.write_u64(key.0.0);
        h.write_u64(key.1);
        &self.shards[(h.finish() >> 32) as usize % SHARDS]
    }

    /// The decoded chunk at `pos` in `space`, if cached.
    pub fn get(&self, space: CacheSpace, pos: u64) -> Option<Arc<[u8]>> {
        let key = (space, pos);
        let mut s = self.shard(&key).lock();
        if let Some(data) = s.hot.get(&key) {
            return Some(data.clone());
        }
        let data = s.take_cold(&key)?;
        s.insert_hot(key, data.clone(), self.shard_budget());
        Some(data)
    }

    /// Remembers the decoded chunk at `pos` in `space`. Chunks larger than a quarter of
    /// a shard's budget are not kept: they would push out many smaller ones.
    pub fn insert(&self, space: CacheSpace, pos: u64, data: Arc<[u8]>) {
        let per_shard = self.shard_budget();
        if cost(&data) > per_shard / 4 {
            return;
        }
        let key = (space, pos);
        let mut s = self.shard(&key).lock();
        s.take_cold(&key);
        s.insert_hot(key, data, per_shard);
    }

    /// Bytes currently held, entry overhead included.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock();
                s.hot_bytes + s.cold_bytes
            })
            .sum()
    }

    /// Drops everything.
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            shard.lock().clear();
        }
    }
}

/// Parses `123`, `64K`, `64M`, `1G` (binary multiples) into bytes.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let n: usize = digits.trim().parse().ok()?;
    n.checked_mul(1usize.checked_shl(shift)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize, fill: u8) -> Arc<[u8]> {
        Arc::from(vec![fill; n])
    }

    #[test]
    fn hit_and_miss() {
        let c = NodeCache::new(16 << 20);
        let s = CacheSpace::fresh();
        assert!(c.get(s, 10).is_none());
        c.insert(s, 10, chunk(100, 1));
        assert_eq!(&*c.get(s, 10).unwrap(), &[1u8; 100][..]);
        c.insert(s, 10, chunk(50, 2));
        assert_eq!(c.get(s, 10).unwrap().len(), 50);
        assert_eq!(c.bytes(), 50 + ENTRY_OVERHEAD);
    }

    #[test]
    fn spaces_never_meet_and_renewing_forgets() {
        let c = NodeCache::new(16 << 20);
        let a = CacheSpace::fresh();
        let mut b = CacheSpace::fresh();
        c.insert(a, 100, chunk(10, 1));
        c.insert(b, 100, chunk(10, 2));
        assert_eq!(c.get(a, 100).unwrap()[0], 1);
        assert_eq!(c.get(b, 100).unwrap()[0], 2);
        let old = b;
        b.renew();
        assert_ne!(old, b);
        assert!(c.get(b, 100).is_none());
        assert_eq!(c.get(a, 100).unwrap()[0], 1);
    }

    #[test]
    fn stays_within_budget_and_keeps_what_is_used() {
        let budget = 256 << 10;
        let c = NodeCache::new(budget);
        let s = CacheSpace::fresh();
        c.insert(s, 1, chunk(100, 9));
        for pos in 2..20_000u64 {
            c.insert(s, pos, chunk(100, 0));
            // The hot entry is read all along, so it is never evicted.
            assert!(c.get(s, 1).is_some(), "evicted at {pos}");
        }
        // Each shard may hold one entry beyond its share.
        let slack = SHARDS * (100 + ENTRY_OVERHEAD);
        assert!(c.bytes() <= budget + slack, "{} > {budget}", c.bytes());
        // Old entries nobody read are gone.
        assert!(c.get(s, 2).is_none());
    }

    #[test]
    fn a_smaller_budget_drops_at_once() {
        let c = NodeCache::new(16 << 20);
        let s = CacheSpace::fresh();
        for pos in 0..10_000u64 {
            c.insert(s, pos, chunk(500, 0));
        }
        assert!(c.bytes() > 4 << 20);
        c.set_budget(1 << 20);
        assert!(c.bytes() <= 1 << 20, "{}", c.bytes());
        c.set_budget(0);
        assert_eq!(c.bytes(), 0);
        c.insert(s, 1, chunk(1, 1));
        assert!(c.get(s, 1).is_none());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size(" 64K"), Some(64 << 10));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }
}
