/*
 * couchstore.hpp: what this library adds to the original's C++ API (cb::couchstore, in
 * couch_db.h), header-only over the C API: online compaction with std::function
 * callbacks. Nothing here is compiled into the library.
 */
#pragma once

#include <libcouchstore/couch_db.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace cb {
namespace couchstore {

/** How compactOnline runs: the engine's lock, unlock and switch, thresholds, progress. */
struct OnlineCompaction {
    /** Takes the engine's lock (the one its flusher holds while committing). Required. */
    std::function<void()> lock;
    /** Releases it. Required. */
    std::function<void()> unlock;
    /**
     * Called under the lock with the compacted file's name: rename it over the source,
     * fsync the directory, and swap the engine's handle. Required.
     */
    std::function<couchstore_error_t(const char* targetFilename)> switchFile;
    /**
     * Optional: told of progress (phase, documents and bytes so far in the phase);
     * return false to cancel. May be called with the lock held (the paced, final and
     * switching phases).
     */
    std::function<bool(int phase, uint64_t docs, uint64_t bytes)> progress;
    /** Compaction flags. */
    couchstore_compact_flags flags = 0;
    /** Options as couchstore_online_options_init sets them; adjust before the call. */
    couchstore_online_options options = [] {
        couchstore_online_options o;
        couchstore_online_options_init(&o);
        return o;
    }();
};

namespace detail {
inline void lockTrampoline(void* ctx) {
    static_cast<OnlineCompaction*>(ctx)->lock();
}
inline void unlockTrampoline(void* ctx) {
    static_cast<OnlineCompaction*>(ctx)->unlock();
}
inline couchstore_error_t switchTrampoline(const char* target, void* ctx) {
    return static_cast<OnlineCompaction*>(ctx)->switchFile(target);
}
inline int progressTrampoline(int phase, uint64_t docs, uint64_t bytes, void* ctx) {
    return static_cast<OnlineCompaction*>(ctx)->progress(phase, docs, bytes) ? 0 : 1;
}
} // namespace detail

/**
 * Compacts the database file `source` into `target` while the engine keeps writing,
 * holding its lock only for short paced rounds, the final replay and the switch (see
 * couchstore_compact_online).
 */
inline std::pair<couchstore_error_t, couchstore_online_stats> compactOnline(const std::string& source,
                                                                            const std::string& target,
                                                                            OnlineCompaction& oc) {
    couchstore_online_options o = oc.options;
    o.lock = detail::lockTrampoline;
    o.unlock = detail::unlockTrampoline;
    o.switch_file = detail::switchTrampoline;
    o.ctx = &oc;
    if (oc.progress) {
        o.progress = detail::progressTrampoline;
        o.progress_ctx = &oc;
    }
    couchstore_online_stats stats{};
    const auto status =
            couchstore_compact_online(source.c_str(), target.c_str(), oc.flags, nullptr, nullptr, nullptr, &o, &stats);
    return {status, stats};
}

} // namespace couchstore
} // namespace cb
