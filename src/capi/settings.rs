//! Process-wide settings (ours): the node cache's budget (the original keeps a small
//! read buffer per file instead) and the compaction rate limit.

use super::boundary::guard_value;
use crate::compact::rate_limit::RateLimit;
use crate::file::NodeCache;

/// Sets the total memory budget, in bytes, of the node cache all handles of this process
/// share (decoded B-tree interior nodes). A smaller budget drops what lies beyond it at
/// once; 0 turns the cache off. The default is 64 MiB, or what the environment variable
/// `COUCHSTORE_CACHE_BYTES` says when the library first uses the cache (a number of
/// bytes, optionally followed by K, M or G). May be called at any time, from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_set_cache_budget(bytes: usize) {
    guard_value("couchstore_set_cache_budget", (), || {
        NodeCache::global().set_budget(bytes)
    })
}

/// The node cache's total memory budget in bytes (see `couchstore_set_cache_budget`).
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_get_cache_budget() -> usize {
    guard_value("couchstore_get_cache_budget", 0, || {
        NodeCache::global().budget()
    })
}

/// Bytes the node cache holds now, across all handles (at most about the budget).
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_get_cache_bytes() -> usize {
    guard_value("couchstore_get_cache_bytes", 0, || {
        NodeCache::global().bytes()
    })
}

/// Sets the process-wide compaction rate limit in bytes per second (0: no limit): the
/// limit every online compaction shares unless its options choose otherwise, and that
/// offline compactions with COUCHSTORE_COMPACT_FLAG_RATE_LIMITED join. Together they read
/// and write at most this much per second outside the engine's lock (holds of the lock
/// are never slowed). The default is 16 MiB/s, or what the environment variable
/// `COUCHSTORE_COMPACTION_BYTES_PER_SEC` says when a compaction first uses the limit (a
/// number, optionally followed by K, M or G). Compactions running follow a change at once.
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_set_compaction_rate_limit(bytes_per_sec: u64) {
    guard_value("couchstore_set_compaction_rate_limit", (), || {
        RateLimit::process_wide().set_bytes_per_sec(bytes_per_sec)
    })
}

/// The process-wide compaction rate limit in bytes per second (0: no limit).
#[unsafe(no_mangle)]
pub extern "C" fn couchstore_get_compaction_rate_limit() -> u64 {
    guard_value("couchstore_get_compaction_rate_limit", 0, || {
        RateLimit::process_wide().bytes_per_sec()
    })
}
