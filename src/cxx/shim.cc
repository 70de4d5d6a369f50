/*
 * The C++ half of libcouchstore's ABI, for what a Rust library cannot export itself:
 * - FileOpsInterface's default members and typeinfo, and the library's own POSIX file
 *   operations (couchstore_get_default_file_ops, create_default_file_ops);
 * - trampolines through which the Rust file backend calls a caller's FileOpsInterface;
 * - the cb::couchstore functions, the eight-parameter couchstore_compact_db_ex and the
 *   latency collector, each translating std::function hooks into plain callbacks and
 *   calling the Rust side (src/capi/cxx.rs) or the C API.
 * Nothing here decides anything about the database: it only translates. No exception
 * leaves a function of this file except a caller's own, rethrown to that caller.
 */
#include <libcouchstore/couch_db.h>
#include <libcouchstore/couch_latency.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <new>
#include <typeinfo>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------
 * The Rust side (src/capi/cxx.rs). Hook pointers come with the context they are
 * called with; a NULL function means "no hook".
 */
extern "C" {
struct cs_compact_hooks {
    int (*filter)(void* ctx, Db* target, DocInfo* info, sized_buf body);
    void* filter_ctx;
    int (*rewrite)(void* ctx, DocInfo** info, sized_buf body);
    void* rewrite_ctx;
    couchstore_error_t (*precommit)(void* ctx, Db* source, Db* target);
    void* precommit_ctx;
};

struct cs_replay_hooks {
    couchstore_error_t (*pre_copy)(void* ctx, Db* source, Db* target, const DocInfo* doc, const DocInfo* local);
    void* pre_copy_ctx;
    couchstore_error_t (*precommit)(void* ctx, Db* target);
    void* precommit_ctx;
};

struct cs_pitr {
    uint64_t timestamp;
    uint64_t delta;
    couchstore_error_t (*pre_compaction)(void* ctx, Db* source);
    void* pre_compaction_ctx;
    couchstore_error_t (*post_compaction)(void* ctx, Db* target);
    void* post_compaction_ctx;
    cs_replay_hooks replay;
};

couchstore_error_t cs_rs_compact(Db* source,
                                 const char* target_filename,
                                 couchstore_compact_flags flags,
                                 FileOpsInterface* ops,
                                 const cs_compact_hooks* hooks,
                                 const cs_pitr* pitr);
couchstore_error_t cs_rs_replay(Db* source, Db* target, uint64_t delta, uint64_t end, const cs_replay_hooks* hooks);
couchstore_error_t cs_rs_seek_first_header_containing(Db* db, uint64_t seqno, uint64_t granularity);
void cs_rs_latency_enable(int on);
typedef int (*cs_latency_visitor)(void* ctx,
                                  const char* name,
                                  const uint64_t* buckets,
                                  size_t nbuckets,
                                  uint64_t total_us);
void cs_rs_latency_visit(cs_latency_visitor visitor, void* ctx);
}

/* ------------------------------------------------------------------------------------
 * FileOpsInterface and the default ops.
 */
/*
 * A subclass that overrides only what it must. Its vtable is emitted here (its key
 * function, constructor(), is defined below, and the class has external linkage, so the
 * vtable must exist) and refers to every default member of FileOpsInterface and to its
 * typeinfo, so this library defines and exports them as the original's does: a subclass
 * compiled against the original's header may refer to them. It is never instantiated.
 */
class CouchstoreInheritsDefaults : public FileOpsInterface {
public:
    couch_file_handle constructor(couchstore_error_info_t* errinfo) override;
    couchstore_error_t open(couchstore_error_info_t*, couch_file_handle*, const char*, int) override {
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
    couchstore_error_t close(couchstore_error_info_t*, couch_file_handle) override {
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
    ssize_t pread(couchstore_error_info_t*, couch_file_handle, void*, size_t, cs_off_t) override {
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
    ssize_t pwrite(couchstore_error_info_t*, couch_file_handle, const void*, size_t, cs_off_t) override {
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
    cs_off_t goto_eof(couchstore_error_info_t*, couch_file_handle) override {
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
    couchstore_error_t sync(couchstore_error_info_t*, couch_file_handle) override {
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
    couchstore_error_t advise(couchstore_error_info_t*, couch_file_handle, cs_off_t, cs_off_t, couchstore_file_advice_t)
            override {
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
    void destructor(couch_file_handle) override {
    }
};

couch_file_handle CouchstoreInheritsDefaults::constructor(couchstore_error_info_t*) {
    return nullptr;
}

namespace {

/* One open file of the default ops. */
struct PosixFile {
    int fd = -1;
    uint64_t sync_every = 0;
    uint64_t unsynced = 0;
};

PosixFile* posix(couch_file_handle handle) {
    return reinterpret_cast<PosixFile*>(handle);
}

void set_errno(couchstore_error_info_t* errinfo, int error) {
    if (errinfo) {
        errinfo->error = error;
    }
}

/*
 * The library's own POSIX file operations, for callers that wrap them. (Given
 * directly, or as NULL, the library does not call them: it does the same I/O itself.)
 */
class DefaultFileOps final : public FileOpsInterface {
public:
    couch_file_handle constructor(couchstore_error_info_t*) override {
        return reinterpret_cast<couch_file_handle>(new (std::nothrow) PosixFile);
    }

    couchstore_error_t open(couchstore_error_info_t* errinfo,
                            couch_file_handle* handle,
                            const char* path,
                            int oflag) override {
        if (!handle || !*handle || !path) {
            return COUCHSTORE_ERROR_INVALID_ARGUMENTS;
        }
        int fd;
        do {
            fd = ::open(path, oflag | O_CLOEXEC, 0666);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            const int error = errno;
            set_errno(errinfo, error);
            return error == ENOENT ? COUCHSTORE_ERROR_NO_SUCH_FILE : COUCHSTORE_ERROR_OPEN_FILE;
        }
        posix(*handle)->fd = fd;
        return COUCHSTORE_SUCCESS;
    }

    couchstore_error_t close(couchstore_error_info_t* errinfo, couch_file_handle handle) override {
        auto* f = posix(handle);
        if (!f || f->fd < 0) {
            return COUCHSTORE_SUCCESS;
        }
        const int rc = ::close(f->fd);
        f->fd = -1;
        if (rc != 0 && errno != EINTR) {
            set_errno(errinfo, errno);
            return COUCHSTORE_ERROR_FILE_CLOSE;
        }
        return COUCHSTORE_SUCCESS;
    }

    couchstore_error_t set_periodic_sync(couch_file_handle handle, uint64_t period_bytes) override {
        posix(handle)->sync_every = period_bytes;
        return COUCHSTORE_SUCCESS;
    }

    /* Nothing to trace, validate or protect in plain POSIX I/O: accepted. */
    couchstore_error_t set_tracing_enabled(couch_file_handle) override {
        return COUCHSTORE_SUCCESS;
    }
    couchstore_error_t set_write_validation_enabled(couch_file_handle) override {
        return COUCHSTORE_SUCCESS;
    }
    couchstore_error_t set_mprotect_enabled(couch_file_handle) override {
        return COUCHSTORE_SUCCESS;
    }

    ssize_t pread(couchstore_error_info_t* errinfo,
                  couch_file_handle handle,
                  void* buf,
                  size_t nbytes,
                  cs_off_t offset) override {
        ssize_t n;
        do {
            n = ::pread(posix(handle)->fd, buf, nbytes, offset);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            set_errno(errinfo, errno);
            return COUCHSTORE_ERROR_READ;
        }
        return n;
    }

    ssize_t pwrite(couchstore_error_info_t* errinfo,
                   couch_file_handle handle,
                   const void* buf,
                   size_t nbytes,
                   cs_off_t offset) override {
        auto* f = posix(handle);
        ssize_t n;
        do {
            n = ::pwrite(f->fd, buf, nbytes, offset);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            set_errno(errinfo, errno);
            return COUCHSTORE_ERROR_WRITE;
        }
        f->unsynced += uint64_t(n);
        if (f->sync_every && f->unsynced >= f->sync_every) {
            const auto rc = sync(errinfo, handle);
            if (rc != COUCHSTORE_SUCCESS) {
                return rc;
            }
        }
        return n;
    }

    cs_off_t goto_eof(couchstore_error_info_t* errinfo, couch_file_handle handle) override {
        struct stat st;
        if (::fstat(posix(handle)->fd, &st) != 0) {
            set_errno(errinfo, errno);
            return COUCHSTORE_ERROR_READ;
        }
        return st.st_size;
    }

    couchstore_error_t sync(couchstore_error_info_t* errinfo, couch_file_handle handle) override {
        auto* f = posix(handle);
        int rc;
        do {
            rc = ::fdatasync(f->fd);
        } while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            set_errno(errinfo, errno);
            return COUCHSTORE_ERROR_WRITE;
        }
        f->unsynced = 0;
        return COUCHSTORE_SUCCESS;
    }

    couchstore_error_t advise(couchstore_error_info_t* errinfo,
                              couch_file_handle handle,
                              cs_off_t offset,
                              cs_off_t len,
                              couchstore_file_advice_t advice) override {
        const int rc = ::posix_fadvise(posix(handle)->fd, offset, len, int(advice));
        if (rc != 0) {
            set_errno(errinfo, rc);
            return COUCHSTORE_ERROR_NOT_SUPPORTED;
        }
        return COUCHSTORE_SUCCESS;
    }

    void destructor(couch_file_handle handle) override {
        delete posix(handle);
    }
};

DefaultFileOps& default_ops() {
    static DefaultFileOps ops;
    return ops;
}

} // namespace

/* couchstore_get_default_file_ops() (Rust, src/capi/db.rs) returns this. */
extern "C" FileOpsInterface* cs_ops_default(void) {
    return &default_ops();
}

LIBCOUCHSTORE_API FileOpsInterface* create_default_file_ops() {
    return new (std::nothrow) DefaultFileOps;
}

/* ------------------------------------------------------------------------------------
 * Trampolines the Rust file backend calls (src/capi/file_ops.rs). An exception thrown
 * by a caller's ops is stopped here and reported as a failed call (errno EIO).
 */
extern "C" {

int cs_ops_is_default(FileOpsInterface* ops) {
    return ops == nullptr || dynamic_cast<DefaultFileOps*>(ops) != nullptr;
}

couchstore_error_t cs_ops_open(FileOpsInterface* ops,
                               const char* path,
                               int oflag,
                               couch_file_handle* out,
                               int* error) {
    couchstore_error_info_t errinfo{0};
    couch_file_handle handle = nullptr;
    bool constructed = false;
    try {
        handle = ops->constructor(&errinfo);
        constructed = true;
        const auto rc = ops->open(&errinfo, &handle, path, oflag);
        *error = errinfo.error;
        if (rc != COUCHSTORE_SUCCESS) {
            ops->destructor(handle);
            return rc;
        }
        *out = handle;
        return COUCHSTORE_SUCCESS;
    } catch (...) {
        if (constructed) {
            try {
                ops->destructor(handle);
            } catch (...) {
            }
        }
        *error = EIO;
        return COUCHSTORE_ERROR_OPEN_FILE;
    }
}

/* The setters the open flags ask for, in the original's order; the first error. */
couchstore_error_t cs_ops_configure(FileOpsInterface* ops,
                                    couch_file_handle handle,
                                    uint64_t periodic_sync_bytes,
                                    int tracing,
                                    int write_validation,
                                    int mprotect) {
    try {
        couchstore_error_t rc = COUCHSTORE_SUCCESS;
        if (periodic_sync_bytes && (rc = ops->set_periodic_sync(handle, periodic_sync_bytes)) != COUCHSTORE_SUCCESS) {
            return rc;
        }
        if (tracing && (rc = ops->set_tracing_enabled(handle)) != COUCHSTORE_SUCCESS) {
            return rc;
        }
        if (write_validation && (rc = ops->set_write_validation_enabled(handle)) != COUCHSTORE_SUCCESS) {
            return rc;
        }
        if (mprotect && (rc = ops->set_mprotect_enabled(handle)) != COUCHSTORE_SUCCESS) {
            return rc;
        }
        return COUCHSTORE_SUCCESS;
    } catch (...) {
        return COUCHSTORE_ERROR_OPEN_FILE;
    }
}

ssize_t cs_ops_pread(FileOpsInterface* ops, couch_file_handle handle, void* buf, size_t n, cs_off_t pos, int* error) {
    couchstore_error_info_t errinfo{0};
    try {
        const auto r = ops->pread(&errinfo, handle, buf, n, pos);
        *error = errinfo.error;
        return r;
    } catch (...) {
        *error = EIO;
        return COUCHSTORE_ERROR_READ;
    }
}

ssize_t cs_ops_pwrite(FileOpsInterface* ops,
                      couch_file_handle handle,
                      const void* buf,
                      size_t n,
                      cs_off_t pos,
                      int* error) {
    couchstore_error_info_t errinfo{0};
    try {
        const auto r = ops->pwrite(&errinfo, handle, buf, n, pos);
        *error = errinfo.error;
        return r;
    } catch (...) {
        *error = EIO;
        return COUCHSTORE_ERROR_WRITE;
    }
}

cs_off_t cs_ops_goto_eof(FileOpsInterface* ops, couch_file_handle handle, int* error) {
    couchstore_error_info_t errinfo{0};
    try {
        const auto r = ops->goto_eof(&errinfo, handle);
        *error = errinfo.error;
        return r;
    } catch (...) {
        *error = EIO;
        return COUCHSTORE_ERROR_READ;
    }
}

couchstore_error_t cs_ops_sync(FileOpsInterface* ops, couch_file_handle handle, int* error) {
    couchstore_error_info_t errinfo{0};
    try {
        const auto r = ops->sync(&errinfo, handle);
        *error = errinfo.error;
        return r;
    } catch (...) {
        *error = EIO;
        return COUCHSTORE_ERROR_WRITE;
    }
}

couchstore_error_t cs_ops_advise_evict(FileOpsInterface* ops,
                                       couch_file_handle handle,
                                       cs_off_t pos,
                                       cs_off_t len,
                                       int* error) {
    couchstore_error_info_t errinfo{0};
    try {
        const auto r = ops->advise(&errinfo, handle, pos, len, COUCHSTORE_FILE_ADVICE_EVICT);
        *error = errinfo.error;
        return r;
    } catch (...) {
        *error = EIO;
        return COUCHSTORE_ERROR_NOT_SUPPORTED;
    }
}

void cs_ops_tag(FileOpsInterface* ops, couch_file_handle handle, uint8_t tag) {
    try {
        ops->tag(handle, FileTag(tag));
    } catch (...) {
    }
}

void* cs_ops_get_stats(FileOpsInterface* ops, couch_file_handle handle) {
    try {
        return ops->get_stats(handle);
    } catch (...) {
        return nullptr;
    }
}

/* close, then destructor (also when close failed). */
couchstore_error_t cs_ops_close(FileOpsInterface* ops, couch_file_handle handle, int* error) {
    couchstore_error_info_t errinfo{0};
    couchstore_error_t rc;
    try {
        rc = ops->close(&errinfo, handle);
        *error = errinfo.error;
    } catch (...) {
        *error = EIO;
        rc = COUCHSTORE_ERROR_FILE_CLOSE;
    }
    try {
        ops->destructor(handle);
    } catch (...) {
    }
    return rc;
}

} // extern "C"

/* ------------------------------------------------------------------------------------
 * std::function hooks as plain callbacks. A hook's exception is kept in its Call and
 * rethrown by the entry point once the Rust side has returned.
 */
namespace {

/* What one entry point's hooks share: the first exception a hook threw. */
struct Call {
    std::exception_ptr thrown;

    /* Runs `f`; an exception is kept and turned into COUCHSTORE_ERROR_CANCEL, which
     * stops the library's work like any hook error. */
    template <typename F>
    int guarded(F&& f) noexcept {
        if (thrown) {
            return COUCHSTORE_ERROR_CANCEL;
        }
        try {
            return int(f());
        } catch (...) {
            thrown = std::current_exception();
            return COUCHSTORE_ERROR_CANCEL;
        }
    }

    couchstore_error_t finish(couchstore_error_t rc) {
        if (thrown) {
            std::rethrow_exception(thrown);
        }
        return rc;
    }
};

template <typename Fn>
struct Bound {
    Call* call;
    Fn* fn;
};

int filter_trampoline(void* ctx, Db* target, DocInfo* info, sized_buf body) {
    auto* b = static_cast<Bound<cb::couchstore::CompactFilterCallback>*>(ctx);
    return b->call->guarded([&] { return (*b->fn)(*target, info, body); });
}

int rewrite_trampoline(void* ctx, DocInfo** info, sized_buf body) {
    auto* b = static_cast<Bound<cb::couchstore::CompactRewriteDocInfoCallback>*>(ctx);
    return b->call->guarded([&] { return (*b->fn)(*info, body); });
}

couchstore_error_t target_hook_trampoline(void* ctx, Db* db) {
    auto* b = static_cast<Bound<std::function<couchstore_error_t(Db&)>>*>(ctx);
    return couchstore_error_t(b->call->guarded([&] { return (*b->fn)(*db); }));
}

couchstore_error_t precommit_trampoline(void* ctx, Db*, Db* target) {
    return target_hook_trampoline(ctx, target);
}

couchstore_error_t pre_copy_trampoline(void* ctx, Db* source, Db* target, const DocInfo* doc, const DocInfo* local) {
    auto* b = static_cast<Bound<cb::couchstore::PreCopyHook>*>(ctx);
    return couchstore_error_t(b->call->guarded([&] { return (*b->fn)(*source, *target, doc, local); }));
}

/* The C hooks of couchstore_compact_db_ex, wrapped the same way. */
struct CHooks {
    couchstore_compact_hook hook;
    void* hook_ctx;
    couchstore_docinfo_hook dhook;
};

int c_filter_trampoline(void* ctx, Db* target, DocInfo* info, sized_buf body) {
    auto* h = static_cast<CHooks*>(ctx);
    return h->hook(target, info, body, h->hook_ctx);
}

int c_rewrite_trampoline(void* ctx, DocInfo** info, sized_buf body) {
    return static_cast<CHooks*>(ctx)->dhook(info, &body);
}

template <typename Fn>
Bound<Fn> bind(Call& call, Fn& fn) {
    return Bound<Fn>{&call, &fn};
}

cs_replay_hooks replay_hooks(Bound<cb::couchstore::PreCopyHook>& pre_copy, Bound<PrecommitHook>& precommit) {
    cs_replay_hooks hooks{};
    if (*pre_copy.fn) {
        hooks.pre_copy = pre_copy_trampoline;
        hooks.pre_copy_ctx = &pre_copy;
    }
    if (*precommit.fn) {
        hooks.precommit = target_hook_trampoline;
        hooks.precommit_ctx = &precommit;
    }
    return hooks;
}

} // namespace

extern "C" LIBCOUCHSTORE_API couchstore_error_t couchstore_compact_db_ex(Db* source,
                                                                        const char* target_filename,
                                                                        couchstore_compact_flags flags,
                                                                        couchstore_compact_hook hook,
                                                                        couchstore_docinfo_hook dhook,
                                                                        void* hook_ctx,
                                                                        FileOpsInterface* ops,
                                                                        PrecommitHook precommitHook) {
    Call call;
    CHooks c{hook, hook_ctx, dhook};
    auto precommit = bind(call, precommitHook);
    cs_compact_hooks hooks{};
    if (hook) {
        hooks.filter = c_filter_trampoline;
        hooks.filter_ctx = &c;
    }
    if (dhook) {
        hooks.rewrite = c_rewrite_trampoline;
        hooks.rewrite_ctx = &c;
    }
    if (precommitHook) {
        hooks.precommit = precommit_trampoline;
        hooks.precommit_ctx = &precommit;
    }
    return call.finish(cs_rs_compact(source, target_filename, flags, ops, &hooks, nullptr));
}

/* ------------------------------------------------------------------------------------
 * cb::couchstore.
 */
namespace cb {
namespace couchstore {

void DbDeleter::operator()(Db* db) {
    if (db) {
        couchstore_close_file(db);
        couchstore_free_db(db);
    }
}

void DocInfoDeleter::operator()(DocInfo* info) {
    couchstore_free_docinfo(info);
}

void DocDeleter::operator()(Doc* doc) {
    couchstore_free_document(doc);
}

void LocalDocDeleter::operator()(LocalDoc* doc) {
    couchstore_free_local_document(doc);
}

couchstore_error_t seek(Db& db, cs_off_t offset) {
    return couchstore_seek_header(&db, offset);
}

couchstore_error_t seek(Db& db, Direction direction) {
    switch (direction) {
    case Direction::Forward:
        return couchstore_seek_next_header(&db);
    case Direction::Backward:
        return couchstore_seek_previous_header(&db);
    case Direction::End:
        return couchstore_seek_newest_header(&db);
    }
    return COUCHSTORE_ERROR_INVALID_ARGUMENTS;
}

couchstore_error_t seekFirstHeaderContaining(Db& db, uint64_t seqno, uint64_t granularity) {
    return couchstore_seek_first_header_containing(&db, seqno, granularity);
}

std::pair<couchstore_error_t, UniqueLocalDocPtr> openLocalDocument(Db& db, std::string_view id) {
    LocalDoc* doc = nullptr;
    const auto rc = couchstore_open_local_document(&db, id.data(), id.size(), &doc);
    return {rc, UniqueLocalDocPtr(rc == COUCHSTORE_SUCCESS ? doc : nullptr)};
}

std::pair<couchstore_error_t, UniqueLocalDocPtr> openLocalDocument(Db& db, const DocInfo& docInfo) {
    return openLocalDocument(db, std::string_view(docInfo.id.buf, docInfo.id.size));
}

std::pair<couchstore_error_t, UniqueDocPtr> openDocument(Db& db, const DocInfo& docInfo) {
    Doc* doc = nullptr;
    const auto rc = couchstore_open_doc_with_docinfo(&db, &docInfo, &doc, 0);
    return {rc, UniqueDocPtr(rc == COUCHSTORE_SUCCESS ? doc : nullptr)};
}

std::pair<couchstore_error_t, UniqueDocPtr> openDocument(Db& db, std::string_view key) {
    Doc* doc = nullptr;
    const auto rc = couchstore_open_document(&db, key.data(), key.size(), &doc, 0);
    return {rc, UniqueDocPtr(rc == COUCHSTORE_SUCCESS ? doc : nullptr)};
}

std::pair<couchstore_error_t, UniqueDocInfoPtr> openDocInfo(Db& db, std::string_view key) {
    DocInfo* info = nullptr;
    const auto rc = couchstore_docinfo_by_id(&db, key.data(), key.size(), &info);
    return {rc, UniqueDocInfoPtr(rc == COUCHSTORE_SUCCESS ? info : nullptr)};
}

std::pair<couchstore_error_t, UniqueDbPtr> openDatabase(const std::string& filename,
                                                        couchstore_open_flags flags,
                                                        FileOpsInterface* fileops,
                                                        std::optional<cs_off_t> offset) {
    Db* db = nullptr;
    const auto rc = couchstore_open_db_ex(filename.c_str(), flags, fileops, &db);
    if (rc != COUCHSTORE_SUCCESS) {
        return {rc, UniqueDbPtr()};
    }
    UniqueDbPtr handle(db);
    if (offset) {
        return {seek(*handle, *offset), std::move(handle)};
    }
    return {COUCHSTORE_SUCCESS, std::move(handle)};
}

size_t getDiskBlockSize(Db&) {
    return 4096;
}

Header getHeader(Db& db) {
    couchstore_header_info info{};
    Header h{};
    if (couchstore_get_header_info(&db, &info) != COUCHSTORE_SUCCESS) {
        return h;
    }
    h.version = Header::Version(info.version);
    h.timestamp = info.timestamp;
    h.updateSeqNum = info.update_seq;
    h.purgeSeqNum = info.purge_seq;
    h.headerPosition = info.header_position;
    h.filename = info.filename;
    h.docCount = info.doc_count;
    h.deletedCount = info.deleted_count;
    h.spaceUsed = info.space_used;
    h.fileSize = info.file_size;
    return h;
}

couchstore_error_t compact(Db& source,
                           const char* target_filename,
                           couchstore_compact_flags flags,
                           CompactFilterCallback filterCallback,
                           CompactRewriteDocInfoCallback rewriteDocInfoCallback,
                           FileOpsInterface* ops,
                           PrecommitHook precommitHook) {
    Call call;
    auto filter = bind(call, filterCallback);
    auto rewrite = bind(call, rewriteDocInfoCallback);
    auto precommit = bind(call, precommitHook);
    cs_compact_hooks hooks{};
    if (filterCallback) {
        hooks.filter = filter_trampoline;
        hooks.filter_ctx = &filter;
    }
    if (rewriteDocInfoCallback) {
        hooks.rewrite = rewrite_trampoline;
        hooks.rewrite_ctx = &rewrite;
    }
    if (precommitHook) {
        hooks.precommit = precommit_trampoline;
        hooks.precommit_ctx = &precommit;
    }
    return call.finish(cs_rs_compact(&source, target_filename, flags, ops, &hooks, nullptr));
}

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
                           PrecommitHook replayPrecommitHook) {
    Call call;
    auto filter = bind(call, filterCallback);
    auto rewrite = bind(call, rewriteDocInfoCallback);
    auto precommit = bind(call, precommitHook);
    auto pre = bind(call, preCompactionCallback);
    auto post = bind(call, postCompactionCallback);
    auto pre_copy = bind(call, replayPreCopyHook);
    auto replay_precommit = bind(call, replayPrecommitHook);
    cs_compact_hooks hooks{};
    if (filterCallback) {
        hooks.filter = filter_trampoline;
        hooks.filter_ctx = &filter;
    }
    if (rewriteDocInfoCallback) {
        hooks.rewrite = rewrite_trampoline;
        hooks.rewrite_ctx = &rewrite;
    }
    if (precommitHook) {
        hooks.precommit = precommit_trampoline;
        hooks.precommit_ctx = &precommit;
    }
    cs_pitr pitr{};
    pitr.timestamp = timestamp;
    pitr.delta = delta;
    if (preCompactionCallback) {
        pitr.pre_compaction = target_hook_trampoline;
        pitr.pre_compaction_ctx = &pre;
    }
    if (postCompactionCallback) {
        pitr.post_compaction = target_hook_trampoline;
        pitr.post_compaction_ctx = &post;
    }
    pitr.replay = replay_hooks(pre_copy, replay_precommit);
    return call.finish(cs_rs_compact(&source, target_filename, flags, ops, &hooks, &pitr));
}

couchstore_error_t replay(Db& source,
                          Db& target,
                          uint64_t delta,
                          uint64_t sourceHeaderEndOffset,
                          PreCopyHook preCopyHook,
                          PrecommitHook precommitHook) {
    Call call;
    auto pre_copy = bind(call, preCopyHook);
    auto precommit = bind(call, precommitHook);
    const auto hooks = replay_hooks(pre_copy, precommit);
    return call.finish(cs_rs_replay(&source, &target, delta, sourceHeaderEndOffset, &hooks));
}

couchstore_error_t saveLocalDocuments(Db& db, std::vector<std::reference_wrapper<LocalDoc>>& documents) {
    std::sort(documents.begin(), documents.end(), [](const LocalDoc& a, const LocalDoc& b) {
        return std::string_view(a.id.buf, a.id.size) < std::string_view(b.id.buf, b.id.size);
    });
    std::vector<LocalDoc*> docs;
    docs.reserve(documents.size());
    for (LocalDoc& d : documents) {
        docs.push_back(&d);
    }
    return couchstore_save_local_documents(&db, docs.data(), docs.size());
}

} // namespace couchstore
} // namespace cb

/* ------------------------------------------------------------------------------------
 * The latency collector: the Rust side times every API call; this reports it.
 */
LIBCOUCHSTORE_API void couchstore_latency_collector_start() {
    cs_rs_latency_enable(1);
}

LIBCOUCHSTORE_API void couchstore_latency_collector_stop() {
    cs_rs_latency_enable(0);
}

namespace {
struct LatencyReport {
    couchstore_latency_callback_fn* callback;
    void* ctx;
    std::exception_ptr thrown;
};

int latency_visitor(void* ctx, const char* name, const uint64_t* buckets, size_t nbuckets, uint64_t total_us) {
    auto* r = static_cast<LatencyReport*>(ctx);
    try {
        CouchLatencyHisto histo(std::vector<uint64_t>(buckets, buckets + nbuckets));
        return (*r->callback)(name, &histo, total_us, r->ctx);
    } catch (...) {
        r->thrown = std::current_exception();
        return 1;
    }
}
} // namespace

LIBCOUCHSTORE_API void couchstore_get_latency_info(couchstore_latency_callback_fn callback_fn,
                                                   couchstore_latency_dump_options,
                                                   void* ctx) {
    if (!callback_fn) {
        return;
    }
    LatencyReport report{&callback_fn, ctx, nullptr};
    cs_rs_latency_visit(latency_visitor, &report);
    if (report.thrown) {
        std::rethrow_exception(report.thrown);
    }
}
