/*
 * couchstore.hpp: a header-only C++17 convenience layer over the libcouchstore C API
 * (couch_db.h): RAII handles, exceptions-free status returns, and std::function-based
 * wrappers for header navigation, replay and online compaction.
 *
 * Everything here calls the C functions; nothing is compiled into the library.
 */
#pragma once

#include <libcouchstore/couch_db.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace couchstore {

/// Closes and frees a database handle.
struct DbDeleter {
    void operator()(Db* db) const noexcept {
        if (db) {
            couchstore_close_file(db);
            couchstore_free_db(db);
        }
    }
};
/// An owned database handle.
using UniqueDbPtr = std::unique_ptr<Db, DbDeleter>;

/// Frees a DocInfo.
struct DocInfoDeleter {
    void operator()(DocInfo* info) const noexcept { couchstore_free_docinfo(info); }
};
/// An owned DocInfo.
using UniqueDocInfoPtr = std::unique_ptr<DocInfo, DocInfoDeleter>;

/// Frees a Doc.
struct DocDeleter {
    void operator()(Doc* doc) const noexcept { couchstore_free_document(doc); }
};
/// An owned Doc.
using UniqueDocPtr = std::unique_ptr<Doc, DocDeleter>;

/// Frees a LocalDoc.
struct LocalDocDeleter {
    void operator()(LocalDoc* doc) const noexcept { couchstore_free_local_document(doc); }
};
/// An owned LocalDoc.
using UniqueLocalDocPtr = std::unique_ptr<LocalDoc, LocalDocDeleter>;

/// Opens a database; the handle is null unless the status is COUCHSTORE_SUCCESS.
inline std::pair<couchstore_error_t, UniqueDbPtr> openDatabase(const std::string& filename,
                                                                couchstore_open_flags flags) {
    Db* db = nullptr;
    const auto status = couchstore_open_db(filename.c_str(), flags, &db);
    return {status, UniqueDbPtr(status == COUCHSTORE_SUCCESS ? db : nullptr)};
}

/// The doc info of `key`.
inline std::pair<couchstore_error_t, UniqueDocInfoPtr> openDocInfo(Db& db, std::string_view key) {
    DocInfo* info = nullptr;
    const auto status = couchstore_docinfo_by_id(&db, key.data(), key.size(), &info);
    return {status, UniqueDocInfoPtr(info)};
}

/// The document `docInfo` describes (decompressed when stored compressed).
inline std::pair<couchstore_error_t, UniqueDocPtr> openDocument(Db& db, const DocInfo& docInfo) {
    Doc* doc = nullptr;
    const auto status = couchstore_open_doc_with_docinfo(&db, &docInfo, &doc, DECOMPRESS_DOC_BODIES);
    return {status, UniqueDocPtr(doc)};
}

/// The local document `id`.
inline std::pair<couchstore_error_t, UniqueLocalDocPtr> openLocalDocument(Db& db, std::string_view id) {
    LocalDoc* doc = nullptr;
    const auto status = couchstore_open_local_document(&db, id.data(), id.size(), &doc);
    return {status, UniqueLocalDocPtr(doc)};
}

/// The facts of the handle's current header.
inline std::pair<couchstore_error_t, couchstore_header_info> getHeader(Db& db) {
    couchstore_header_info info{};
    const auto status = couchstore_get_header_info(&db, &info);
    return {status, info};
}

/// Which header to move to.
enum class Direction {
    /// The next newer header within the file as this handle knows it.
    Forward,
    /// The next older header.
    Backward,
    /// The newest header, re-reading the file's size.
    End,
};

/// Moves the handle to the header at `offset`.
inline couchstore_error_t seek(Db& db, cs_off_t offset) { return couchstore_seek_header(&db, offset); }

/// Moves the handle to another header. Unlike the C rewind/fast-forward calls, a
/// failure never frees the handle: it stays where it was.
inline couchstore_error_t seek(Db& db, Direction direction) {
    if (direction == Direction::End) {
        return couchstore_seek_newest_header(&db);
    }
    const auto here = getHeader(db);
    if (here.first != COUCHSTORE_SUCCESS) {
        return here.first;
    }
    // Walk header positions by block with seek, which leaves the handle untouched on
    // failure: headers sit on 4096-byte boundaries.
    const cs_off_t step = direction == Direction::Forward ? 4096 : -4096;
    for (cs_off_t pos = cs_off_t(here.second.header_position) + step; pos >= 0 && uint64_t(pos) < here.second.file_size;
         pos += step) {
        if (couchstore_seek_header(&db, pos) == COUCHSTORE_SUCCESS) {
            return COUCHSTORE_SUCCESS;
        }
    }
    return COUCHSTORE_ERROR_NO_HEADER;
}

/// Called before each document (`info`) or local document (`local`) is replayed.
using PreCopyHook = std::function<couchstore_error_t(Db& source, Db& target, const DocInfo* info, const LocalDoc* local)>;
/// Called before the target is committed.
using PrecommitHook = std::function<couchstore_error_t(Db& source, Db& target)>;

namespace detail {
struct ReplayHooks {
    PreCopyHook preCopy;
    PrecommitHook precommit;
};
inline couchstore_error_t preCopyTrampoline(Db* s, Db* t, const DocInfo* info, const LocalDoc* local, void* ctx) {
    return static_cast<ReplayHooks*>(ctx)->preCopy(*s, *t, info, local);
}
inline couchstore_error_t precommitTrampoline(Db* s, Db* t, void* ctx) {
    return static_cast<ReplayHooks*>(ctx)->precommit(*s, *t);
}
} // namespace detail

/// Replays into `target` what changed in `source` between its current header and the
/// header at `endHeaderOffset`, then commits the target (see couchstore_replay).
inline couchstore_error_t replay(Db& source, Db& target, uint64_t endHeaderOffset, PreCopyHook preCopy = {},
                                 PrecommitHook precommit = {}, size_t flushThreshold = 0) {
    detail::ReplayHooks hooks{std::move(preCopy), std::move(precommit)};
    return couchstore_replay(&source, &target, endHeaderOffset, flushThreshold,
                             hooks.preCopy ? detail::preCopyTrampoline : nullptr, &hooks,
                             hooks.precommit ? detail::precommitTrampoline : nullptr, &hooks);
}

/// Options of compactOnline: the engine's lock, unlock and switch, thresholds, progress.
struct OnlineCompaction {
    std::function<void()> lock;
    std::function<void()> unlock;
    /// Called under the lock with the compacted file's name: rename and swap handles.
    std::function<couchstore_error_t(const char* targetFilename)> switchFile;
    /// Optional: return false to cancel.
    std::function<bool(int phase, uint64_t docs, uint64_t bytes)> progress;
    couchstore_compact_flags flags = 0;
    uint64_t maxLockedBytes = 1 << 20;
    uint64_t maxLockedDocs = 10000;
    uint32_t maxRounds = 10;
    size_t flushThreshold = 0;
};

namespace detail {
inline void lockTrampoline(void* ctx) { static_cast<OnlineCompaction*>(ctx)->lock(); }
inline void unlockTrampoline(void* ctx) { static_cast<OnlineCompaction*>(ctx)->unlock(); }
inline couchstore_error_t switchTrampoline(const char* target, void* ctx) {
    return static_cast<OnlineCompaction*>(ctx)->switchFile(target);
}
inline int progressTrampoline(int phase, uint64_t docs, uint64_t bytes, void* ctx) {
    return static_cast<OnlineCompaction*>(ctx)->progress(phase, docs, bytes) ? 0 : 1;
}
} // namespace detail

/// Compacts `source` into `target` while the engine keeps writing, holding its lock only
/// for the final replay and the switch (see couchstore_compact_online).
inline std::pair<couchstore_error_t, couchstore_online_stats> compactOnline(const std::string& source,
                                                                            const std::string& target,
                                                                            OnlineCompaction& options) {
    couchstore_online_options o;
    couchstore_online_options_init(&o);
    o.lock = detail::lockTrampoline;
    o.unlock = detail::unlockTrampoline;
    o.switch_file = detail::switchTrampoline;
    o.ctx = &options;
    o.max_locked_bytes = options.maxLockedBytes;
    o.max_locked_docs = options.maxLockedDocs;
    o.max_rounds = options.maxRounds;
    o.flush_threshold = options.flushThreshold;
    if (options.progress) {
        o.progress = detail::progressTrampoline;
        o.progress_ctx = &options;
    }
    couchstore_online_stats stats{};
    const auto status = couchstore_compact_online(source.c_str(), target.c_str(), options.flags, nullptr, nullptr,
                                                  nullptr, &o, &stats);
    return {status, stats};
}

} // namespace couchstore
