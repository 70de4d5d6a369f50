/*
 * libcouchstore (couchstore-rs): the C++ part of couch_db.h, as the original declares
 * it. Included by couch_db.h when compiled as C++; do not include it directly.
 *
 * Every function here is exported by libcouchstore.so under the original's (mangled)
 * name, so a binary built against the original's headers runs on this library. None of
 * them throws an exception of its own: failures are couchstore_error_t codes. An
 * exception thrown by one of the caller's hooks stops the call and is rethrown to the
 * caller once the library has cleaned up (the target of a failed compaction removed,
 * the handles left usable).
 */
#ifndef COUCHSTORE_COUCH_DB_CXX_H
#define COUCHSTORE_COUCH_DB_CXX_H

#ifndef COUCHSTORE_COUCH_DB_H
#error "include <libcouchstore/couch_db.h> instead"
#endif

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__has_include)
#if __has_include(<nlohmann/json.hpp>)
#include <nlohmann/json.hpp>
#define COUCHSTORE_HAVE_NLOHMANN_JSON 1
#endif
#endif

/**
 * The statistics of the handle's file operations (FileOpsInterface::get_stats), or
 * nullptr when they keep none (the library's own I/O keeps none).
 */
extern "C" LIBCOUCHSTORE_API FileOpsInterface::FHStats* couchstore_get_db_filestats(Db* db);

/**
 * Called with the compaction target after everything is copied, just before its header
 * is written; anything but COUCHSTORE_SUCCESS aborts the compaction with that code.
 */
using PrecommitHook = std::function<couchstore_error_t(Db&)>;

/**
 * Compacts `source` (at its current header) into the file `target_filename`, which
 * must not exist or be empty (anything else: COUCHSTORE_ERROR_OPEN_FILE, the file left
 * alone). `hook` decides per document (COUCHSTORE_COMPACT_KEEP_ITEM, _DROP_ITEM,
 * _NEED_BODY or an error that aborts), and is called once more with a NULL DocInfo at
 * the end; `dhook` may rewrite the DocInfo of kept documents; `ops` (NULL: the
 * library's own I/O) does all I/O of the target; `precommitHook` runs before the
 * target's header is written. While the hooks run, the target's header already holds
 * the source's update_seq and purge_seq. On failure the target is removed (or emptied
 * again, if it existed empty).
 */
extern "C" LIBCOUCHSTORE_API couchstore_error_t couchstore_compact_db_ex(
        Db* source,
        const char* target_filename,
        couchstore_compact_flags flags,
        couchstore_compact_hook hook,
        couchstore_docinfo_hook dhook,
        void* hook_ctx,
        FileOpsInterface* ops,
        PrecommitHook precommitHook = {});

namespace cb {
namespace couchstore {

/** Closes and frees a database handle. */
struct LIBCOUCHSTORE_API DbDeleter {
    void operator()(Db* db);
};
/** An owned database handle. */
using UniqueDbPtr = std::unique_ptr<Db, DbDeleter>;

/** Frees a DocInfo. */
struct LIBCOUCHSTORE_API DocInfoDeleter {
    void operator()(DocInfo* info);
};
/** An owned DocInfo. */
using UniqueDocInfoPtr = std::unique_ptr<DocInfo, DocInfoDeleter>;

/** Frees a Doc. */
struct LIBCOUCHSTORE_API DocDeleter {
    void operator()(Doc* doc);
};
/** An owned Doc. */
using UniqueDocPtr = std::unique_ptr<Doc, DocDeleter>;

/** Frees a LocalDoc. */
struct LIBCOUCHSTORE_API LocalDocDeleter {
    void operator()(LocalDoc* doc);
};
/** An owned LocalDoc. */
using UniqueLocalDocPtr = std::unique_ptr<LocalDoc, LocalDocDeleter>;

/**
 * Moves the handle to the header at `offset`: COUCHSTORE_ERROR_FILE_CLOSED on a closed
 * handle, COUCHSTORE_ERROR_INVALID_ARGUMENTS for an offset that is not a multiple of the
 * block size, COUCHSTORE_ERROR_NO_HEADER beyond the file or where no header is (or the
 * header's checksum or version error). On failure the handle stays on its header.
 */
LIBCOUCHSTORE_API
couchstore_error_t seek(Db& db, cs_off_t offset);

/** Which header seek() moves to. */
enum class Direction : uint8_t {
    /** The next newer header, within the file as the handle knows it. */
    Forward,
    /** The next older header. */
    Backward,
    /** The newest header, re-reading the file's size (sees other handles' commits). */
    End
};

/**
 * Moves the handle to the next header in `direction`: COUCHSTORE_ERROR_NO_HEADER when
 * there is none (the handle stays where it was); an unknown direction is
 * COUCHSTORE_ERROR_INVALID_ARGUMENTS.
 */
LIBCOUCHSTORE_API
couchstore_error_t seek(Db& db, Direction direction);

/**
 * Moves the handle to the oldest header holding `seqno` (update_seq >= seqno), then
 * forward to the last header before the next multiple of `granularity` of its
 * timestamp (1: that first header). Only headers up to the handle's current one are
 * considered. COUCHSTORE_ERROR_NO_HEADER when none holds it (the handle stays);
 * COUCHSTORE_ERROR_INVALID_ARGUMENTS for a granularity of 0.
 */
LIBCOUCHSTORE_API
couchstore_error_t seekFirstHeaderContaining(Db& db, uint64_t seqno, uint64_t granularity);

/** The local document `id` (the pointer is set only on COUCHSTORE_SUCCESS). */
LIBCOUCHSTORE_API
std::pair<couchstore_error_t, UniqueLocalDocPtr> openLocalDocument(Db& db, std::string_view id);

/** The local document named by `docInfo.id`. */
LIBCOUCHSTORE_API
std::pair<couchstore_error_t, UniqueLocalDocPtr> openLocalDocument(Db& db, const DocInfo& docInfo);

/** The body `docInfo` points to, as stored (not decompressed). */
LIBCOUCHSTORE_API
std::pair<couchstore_error_t, UniqueDocPtr> openDocument(Db& db, const DocInfo& docInfo);

/** The document `key`, its body as stored (not decompressed). */
LIBCOUCHSTORE_API
std::pair<couchstore_error_t, UniqueDocPtr> openDocument(Db& db, std::string_view key);

/** The DocInfo of `key`. */
LIBCOUCHSTORE_API
std::pair<couchstore_error_t, UniqueDocInfoPtr> openDocInfo(Db& db, std::string_view key);

/**
 * Opens `filename` with `flags` through `fileops` (nullptr: the default ops), then, if
 * `offset` is given, moves to the header there. The handle is returned whenever the
 * open succeeded, with the status of the seek.
 */
LIBCOUCHSTORE_API
std::pair<couchstore_error_t, UniqueDbPtr> openDatabase(const std::string& filename,
                                                        couchstore_open_flags flags,
                                                        FileOpsInterface* fileops = {},
                                                        std::optional<cs_off_t> offset = {});

/** The block size of the file format (4096): headers sit on its multiples. */
LIBCOUCHSTORE_API
size_t getDiskBlockSize(Db& db);

/** The facts of a handle's current header. */
struct LIBCOUCHSTORE_API Header {
    /** On-disk format versions. */
    enum class Version {
        /** CRC32 checksums. */
        V11 = 11,
        /** CRC32C checksums. */
        V12 = 12,
        /** CRC32C and a commit timestamp. */
        V13 = 13
    };

    /** The header's format version. */
    Version version;
    /** The commit timestamp (V13; 0 before). */
    uint64_t timestamp;
    /** The last sequence number assigned. */
    uint64_t updateSeqNum;
    /** The purge sequence number. */
    uint64_t purgeSeqNum;
    /** The header's offset in the file. */
    uint64_t headerPosition;
    /** The path the handle was opened with (valid while the handle is). */
    const char* filename;
    /** Live documents. */
    uint64_t docCount;
    /** Deleted documents. */
    uint64_t deletedCount;
    /** Disk space used by live data. */
    uint64_t spaceUsed;
    /** The size of the file as the handle knows it. */
    uint64_t fileSize;

#ifdef COUCHSTORE_HAVE_NLOHMANN_JSON
    /**
     * The header as JSON (header_position as a hex string). Inline here, where the
     * original defines it in the library: this library does not depend on nlohmann.
     */
    nlohmann::json to_json() const {
        char position[32];
        std::snprintf(position, sizeof position, "0x%016llx", (unsigned long long)headerPosition);
        nlohmann::json ret;
        ret["version"] = uint64_t(version);
        ret["timestamp"] = timestamp;
        ret["update_seq"] = updateSeqNum;
        ret["purge_seq"] = purgeSeqNum;
        ret["header_position"] = position;
        ret["filename"] = filename ? filename : "";
        ret["doc_count"] = docCount;
        ret["deleted_count"] = deletedCount;
        ret["space_used"] = spaceUsed;
        ret["file_size"] = fileSize;
        return ret;
    }
#endif
};

/** The facts of the handle's current header (zeros on a closed handle). */
LIBCOUCHSTORE_API
Header getHeader(Db& db);

/**
 * Told of each document with the target database (`DocInfo` nullptr once, after the
 * last); `body.buf` is nullptr until COUCHSTORE_COMPACT_NEED_BODY asked for it. Returns
 * COUCHSTORE_COMPACT_KEEP_ITEM, _DROP_ITEM, _NEED_BODY, or an error code that aborts.
 */
using CompactFilterCallback = std::function<int(Db&, DocInfo*, sized_buf)>;

/**
 * May rewrite the DocInfo of a kept document with a body (it may replace it with a
 * DocInfo from couchstore_alloc_docinfo or malloc, freeing the old one); returns
 * nonzero when it changed it.
 */
using CompactRewriteDocInfoCallback = std::function<int(DocInfo*&, sized_buf)>;

/**
 * compact() as couchstore_compact_db_ex, with std::function hooks; `ops` nullptr is
 * the default ops. A rewrite callback without a filter callback is
 * COUCHSTORE_ERROR_INVALID_ARGUMENTS.
 */
LIBCOUCHSTORE_API
couchstore_error_t compact(Db& source,
                           const char* target_filename,
                           couchstore_compact_flags flags,
                           CompactFilterCallback filterCallback,
                           CompactRewriteDocInfoCallback rewriteDocInfoCallback,
                           FileOpsInterface* ops,
                           PrecommitHook precommitHook = {});

/** Called with the source at the header the full compaction copies. */
using PreCompactionCallback = std::function<couchstore_error_t(Db&)>;

/** Called with the target after the full compaction, before the replay. */
using PostCompactionCallback = std::function<couchstore_error_t(Db&)>;

/**
 * Called before replay copies a document (`doc` set) or a local document (`localDoc`
 * set: its id, and `deleted` when it is being deleted); exactly one is set. Anything but
 * COUCHSTORE_SUCCESS aborts the replay with that code.
 */
using PreCopyHook = std::function<couchstore_error_t(Db& source,
                                                     Db& target,
                                                     const DocInfo* doc,
                                                     const DocInfo* localDoc)>;

/**
 * Point-in-time compaction: a full compaction of `source` as of its oldest header with
 * a timestamp at or after `timestamp` (the whole source if its current header is older
 * than that), then a replay of the later headers up to the source's current one,
 * keeping one header per `delta` interval of timestamps (see replay()). The hooks are
 * called as their types say; `delta` 0 is COUCHSTORE_ERROR_INVALID_ARGUMENTS. The
 * source handle ends at its current header again.
 */
LIBCOUCHSTORE_API
couchstore_error_t compact(Db& source,
                           const char* target_filename,
                           couchstore_compact_flags flags,
                           CompactFilterCallback filterCallback,
                           CompactRewriteDocInfoCallback rewriteDocInfoCallback,
                           FileOpsInterface* ops,
                           PrecommitHook precommitHook,
                           uint64_t timestamp,
                           uint64_t delta,
                           PreCompactionCallback preCompactionCallback,
                           PostCompactionCallback postCompactionCallback,
                           PreCopyHook replayPreCopyHook,
                           PrecommitHook replayPrecommitHook);

/**
 * Copies into `target` what changed in `source` from its current header up to the
 * header at `sourceHeaderEndOffset`, committing the target once per `delta` interval
 * of header timestamps (the last header of each interval, and the end header; a
 * `delta` of UINT64_MAX folds everything into one commit) with that header's timestamp
 * and purge sequence. Bodies are copied as stored and sequence numbers kept. The
 * source handle is left at the end header. `precommitHook` runs with the target before
 * each commit.
 */
LIBCOUCHSTORE_API
couchstore_error_t replay(Db& source,
                          Db& target,
                          uint64_t delta,
                          uint64_t sourceHeaderEndOffset,
                          PreCopyHook preCopyHook,
                          PrecommitHook precommitHook);

/**
 * Saves (or, for entries with `deleted` set, deletes) local documents in one batch,
 * after sorting `documents` by id.
 */
LIBCOUCHSTORE_API
couchstore_error_t saveLocalDocuments(Db& db, std::vector<std::reference_wrapper<LocalDoc>>& documents);

} // namespace couchstore
} // namespace cb

#endif /* COUCHSTORE_COUCH_DB_CXX_H */
