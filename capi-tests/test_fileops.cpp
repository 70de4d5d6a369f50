// Custom file operations, as an engine uses them: a FileOpsInterface subclass that wraps
// the default ops to count I/O and inject faults, given to couchstore_open_db_ex and to
// compaction. Its counters move, it sees the original's call order, its errors reach
// couchstore_last_os_error for the handle, and the file stays as it was at the last
// commit. Built as C++17 against the public headers only.
#include <libcouchstore/couch_db.h>
#include <libcouchstore/file_ops.h>

#include <cerrno>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "check.h"

namespace {

/// Per-handle statistics, reported through get_stats.
class Stats : public FileOpsInterface::FHStats {
public:
    size_t getReadCount() override {
        return reads;
    }
    size_t getWriteCount() override {
        return writes;
    }
    size_t getWriteBytes() override {
        return write_bytes;
    }
    size_t reads = 0, writes = 0, write_bytes = 0;
};

/// One handle of the wrapper: the default ops' handle and this handle's counters.
struct Wrapped {
    couch_file_handle inner;
    Stats stats;
};

Wrapped* wrapped(couch_file_handle h) {
    return reinterpret_cast<Wrapped*>(h);
}

/// Forwards to the default ops, counting every call and failing the calls it is told
/// to fail.
class CountingOps : public FileOpsInterface {
public:
    CountingOps() : base(couchstore_get_default_file_ops()) {
    }

    couch_file_handle constructor(couchstore_error_info_t* errinfo) override {
        log.push_back("constructor");
        auto* w = new Wrapped{base->constructor(errinfo), {}};
        return reinterpret_cast<couch_file_handle>(w);
    }
    couchstore_error_t open(couchstore_error_info_t* errinfo, couch_file_handle* handle, const char* path, int oflag)
            override {
        log.push_back("open");
        oflags.push_back(oflag);
        return base->open(errinfo, &wrapped(*handle)->inner, path, oflag);
    }
    couchstore_error_t close(couchstore_error_info_t* errinfo, couch_file_handle handle) override {
        log.push_back("close");
        return base->close(errinfo, wrapped(handle)->inner);
    }
    couchstore_error_t set_periodic_sync(couch_file_handle handle, uint64_t period_bytes) override {
        log.push_back("set_periodic_sync");
        periodic_sync = period_bytes;
        return base->set_periodic_sync(wrapped(handle)->inner, period_bytes);
    }
    couchstore_error_t set_tracing_enabled(couch_file_handle) override {
        log.push_back("set_tracing_enabled");
        return COUCHSTORE_SUCCESS;
    }
    couchstore_error_t set_write_validation_enabled(couch_file_handle) override {
        log.push_back("set_write_validation_enabled");
        return COUCHSTORE_SUCCESS;
    }
    couchstore_error_t set_mprotect_enabled(couch_file_handle) override {
        log.push_back("set_mprotect_enabled");
        return COUCHSTORE_SUCCESS;
    }
    ssize_t pread(couchstore_error_info_t* errinfo, couch_file_handle handle, void* buf, size_t n, cs_off_t off)
            override {
        calls["pread"]++;
        if (fail_reads) {
            errinfo->error = EIO;
            return COUCHSTORE_ERROR_READ;
        }
        if (throw_on_read) {
            throw std::runtime_error("the ops threw");
        }
        wrapped(handle)->stats.reads++;
        return base->pread(errinfo, wrapped(handle)->inner, buf, n, off);
    }
    ssize_t pwrite(couchstore_error_info_t* errinfo, couch_file_handle handle, const void* buf, size_t n, cs_off_t off)
            override {
        calls["pwrite"]++;
        if (fail_writes) {
            errinfo->error = ENOSPC;
            return COUCHSTORE_ERROR_WRITE;
        }
        auto* w = wrapped(handle);
        w->stats.writes++;
        w->stats.write_bytes += n;
        return base->pwrite(errinfo, w->inner, buf, n, off);
    }
    cs_off_t goto_eof(couchstore_error_info_t* errinfo, couch_file_handle handle) override {
        calls["goto_eof"]++;
        return base->goto_eof(errinfo, wrapped(handle)->inner);
    }
    couchstore_error_t sync(couchstore_error_info_t* errinfo, couch_file_handle handle) override {
        calls["sync"]++;
        if (fail_syncs) {
            errinfo->error = EIO;
            return COUCHSTORE_ERROR_WRITE;
        }
        return base->sync(errinfo, wrapped(handle)->inner);
    }
    couchstore_error_t advise(couchstore_error_info_t* errinfo,
                              couch_file_handle handle,
                              cs_off_t offset,
                              cs_off_t len,
                              couchstore_file_advice_t advice) override {
        calls["advise"]++;
        return base->advise(errinfo, wrapped(handle)->inner, offset, len, advice);
    }
    void tag(couch_file_handle, FileTag tag) override {
        tags[tag]++;
    }
    FHStats* get_stats(couch_file_handle handle) override {
        return &wrapped(handle)->stats;
    }
    void destructor(couch_file_handle handle) override {
        log.push_back("destructor");
        base->destructor(wrapped(handle)->inner);
        delete wrapped(handle);
    }

    FileOpsInterface* base;
    std::vector<std::string> log;
    std::vector<int> oflags;
    std::map<std::string, int> calls;
    std::map<FileTag, int> tags;
    uint64_t periodic_sync = 0;
    bool fail_reads = false, fail_writes = false, fail_syncs = false, throw_on_read = false;
};

/// Ops that do not override the optional setters: the base class's answer,
/// COUCHSTORE_ERROR_NOT_SUPPORTED, fails an open that asks for them.
class NoSetters : public FileOpsInterface {
public:
    couch_file_handle constructor(couchstore_error_info_t* e) override {
        constructed++;
        return inner.constructor(e);
    }
    couchstore_error_t open(couchstore_error_info_t* e, couch_file_handle* h, const char* p, int f) override {
        return inner.open(e, h, p, f);
    }
    couchstore_error_t close(couchstore_error_info_t* e, couch_file_handle h) override {
        closed++;
        return inner.close(e, h);
    }
    ssize_t pread(couchstore_error_info_t* e, couch_file_handle h, void* b, size_t n, cs_off_t o) override {
        return inner.pread(e, h, b, n, o);
    }
    ssize_t pwrite(couchstore_error_info_t* e, couch_file_handle h, const void* b, size_t n, cs_off_t o) override {
        return inner.pwrite(e, h, b, n, o);
    }
    cs_off_t goto_eof(couchstore_error_info_t* e, couch_file_handle h) override {
        return inner.goto_eof(e, h);
    }
    couchstore_error_t sync(couchstore_error_info_t* e, couch_file_handle h) override {
        return inner.sync(e, h);
    }
    couchstore_error_t advise(couchstore_error_info_t* e, couch_file_handle h, cs_off_t o, cs_off_t l,
                              couchstore_file_advice_t a) override {
        return inner.advise(e, h, o, l, a);
    }
    void destructor(couch_file_handle h) override {
        destroyed++;
        inner.destructor(h);
    }

    CountingOps inner;
    int constructed = 0, closed = 0, destroyed = 0;
};

sized_buf sb(const std::string& s) {
    return {const_cast<char*>(s.data()), s.size()};
}

couchstore_error_t save(Db* db, const std::string& key, const std::string& value) {
    Doc doc{sb(key), sb(value)};
    DocInfo info{};
    info.id = doc.id;
    info.rev_seq = 1;
    return couchstore_save_document(db, &doc, &info, 0);
}

std::string read(Db* db, const std::string& key) {
    Doc* doc = nullptr;
    if (couchstore_open_document(db, key.data(), key.size(), &doc, 0) != COUCHSTORE_SUCCESS) {
        return "<missing>";
    }
    std::string body(doc->data.buf, doc->data.size);
    couchstore_free_document(doc);
    return body;
}

std::string os_error(Db* db) {
    char buf[256];
    if (couchstore_last_os_error(db, buf, sizeof buf) != COUCHSTORE_SUCCESS) {
        return "<failed>";
    }
    return buf;
}

} // namespace

TEST(counters_move_and_calls_come_in_the_originals_order) {
    const char* path = tmp_path("counted.couch");
    CountingOps ops;
    Db* db = nullptr;
    REQUIRE_OK(couchstore_open_db_ex(path, COUCHSTORE_OPEN_FLAG_CREATE, &ops, &db));
    CHECK_EQ(ops.oflags.size(), 1);
    CHECK_EQ(ops.oflags[0], O_RDWR | O_CREAT);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(save(db, "key-" + std::to_string(i), std::string(200, 'x')), COUCHSTORE_SUCCESS);
    }
    REQUIRE_OK(couchstore_commit(db));
    CHECK(ops.calls["pwrite"] > 0);
    CHECK(ops.calls["sync"] >= 2); // data, then header
    CHECK(ops.calls["goto_eof"] >= 1);
    // The per-handle statistics come from the ops.
    auto* stats = couchstore_get_db_filestats(db);
    CHECK(stats != nullptr);
    if (stats) {
        CHECK(stats->getWriteCount() > 0);
        CHECK(stats->getWriteBytes() > 50 * 200);
    }
    CHECK_EQ(couchstore_close_file(db), COUCHSTORE_SUCCESS);
    CHECK(couchstore_get_db_filestats(db) == nullptr);
    REQUIRE_OK(couchstore_free_db(db));
    // constructor, open, ..., close, destructor: nothing else in the log.
    const std::vector<std::string> want{"constructor", "open", "close", "destructor"};
    CHECK(ops.log == want);

    // Reading back through the ops: reads are counted and tagged by what they are for.
    CountingOps reader;
    REQUIRE_OK(couchstore_open_db_ex(path, COUCHSTORE_OPEN_FLAG_RDONLY, &reader, &db));
    CHECK_EQ(reader.oflags[0], O_RDONLY);
    CHECK(read(db, "key-7") == std::string(200, 'x'));
    CHECK(reader.calls["pread"] > 0);
    CHECK(reader.tags[FileTag::BTree] > 0);
    CHECK(reader.tags[FileTag::Document] > 0);
    CHECK(reader.tags[FileTag::Empty] > 0); // the header search on open
    CHECK(reader.tags[FileTag::Unknown] > 0); // after each tagged access
    CHECK(couchstore_get_db_filestats(db)->getReadCount() > 0);
    couchstore_close_file(db);
    couchstore_free_db(db);
    CHECK(reader.log.back() == "destructor");
    // EXCL reaches the ops as O_EXCL.
    CountingOps excl;
    CHECK_EQ(couchstore_open_db_ex(path, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_EXCL, &excl, &db),
             COUCHSTORE_ERROR_OPEN_FILE);
    CHECK_EQ(excl.oflags[0], O_RDWR | O_CREAT | O_EXCL);
    CHECK(excl.log.back() == "destructor"); // a failed open still releases the handle
}

TEST(setters_are_called_as_the_flags_ask) {
    const char* path = tmp_path("setters.couch");
    CountingOps ops;
    Db* db = nullptr;
    const auto flags = COUCHSTORE_OPEN_FLAG_CREATE | couchstore_encode_periodic_sync_flags(64 * 1024) |
                       COUCHSTORE_OPEN_WITH_TRACING | COUCHSTORE_OPEN_WITH_WRITE_VALIDATION |
                       COUCHSTORE_OPEN_WITH_MPROTECT;
    REQUIRE_OK(couchstore_open_db_ex(path, flags, &ops, &db));
    const std::vector<std::string> want{"constructor",         "open", "set_periodic_sync", "set_tracing_enabled",
                                        "set_write_validation_enabled", "set_mprotect_enabled"};
    CHECK(ops.log == want);
    CHECK_EQ(ops.periodic_sync, 64 * 1024);
    couchstore_close_file(db);
    couchstore_free_db(db);

    // Ops keeping the base class's setters cannot be opened with periodic sync.
    NoSetters plain;
    CHECK_EQ(couchstore_open_db_ex(path, couchstore_encode_periodic_sync_flags(4096), &plain, &db),
             COUCHSTORE_ERROR_NOT_SUPPORTED);
    CHECK_EQ(couchstore_open_db_ex(path, COUCHSTORE_OPEN_WITH_TRACING, &plain, &db), COUCHSTORE_ERROR_NOT_SUPPORTED);
    CHECK_EQ(plain.constructed, 2);
    CHECK_EQ(plain.closed, 2);
    CHECK_EQ(plain.destroyed, 2);
    // Without those flags they open fine; the base class's get_stats gives nullptr.
    REQUIRE_OK(couchstore_open_db_ex(path, 0, &plain, &db));
    CHECK(couchstore_get_db_filestats(db) == nullptr);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(write_errors_reach_last_os_error_and_the_file_stays_intact) {
    const char* path = tmp_path("faulty.couch");
    CountingOps ops;
    Db* db = nullptr;
    REQUIRE_OK(couchstore_open_db_ex(path, COUCHSTORE_OPEN_FLAG_CREATE, &ops, &db));
    CHECK_EQ(save(db, "kept", "committed"), COUCHSTORE_SUCCESS);
    REQUIRE_OK(couchstore_commit(db));
    CHECK(os_error(db).find("errno = 0") != std::string::npos);
    // A full disk during the next commit: WRITE, ENOSPC for this handle.
    ops.fail_writes = true;
    CHECK_EQ(save(db, "lost", std::string(300000, 'y')), COUCHSTORE_ERROR_WRITE);
    CHECK(os_error(db).find("errno = 28") != std::string::npos);
    CHECK_EQ(save(db, "lost", "small"), COUCHSTORE_SUCCESS);
    CHECK_EQ(couchstore_commit(db), COUCHSTORE_ERROR_WRITE);
    ops.fail_writes = false;
    // The handle is back at its last commit and keeps working.
    CHECK(read(db, "lost") == "<missing>");
    CHECK(read(db, "kept") == "committed");
    CHECK_EQ(save(db, "later", "works"), COUCHSTORE_SUCCESS);
    ops.fail_syncs = true;
    CHECK_EQ(couchstore_commit(db), COUCHSTORE_ERROR_WRITE);
    CHECK(os_error(db).find("errno = 5") != std::string::npos);
    ops.fail_syncs = false;
    CHECK_EQ(save(db, "later", "works"), COUCHSTORE_SUCCESS);
    REQUIRE_OK(couchstore_commit(db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    // The file holds every commit that returned SUCCESS.
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    CHECK(read(db, "kept") == "committed");
    CHECK(read(db, "later") == "works");
    CHECK(read(db, "lost") == "<missing>");
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(read_errors_and_exceptions_of_the_ops_are_error_codes) {
    const char* path = tmp_path("readfault.couch");
    Db* db = nullptr;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    for (int i = 0; i < 2000; i++) {
        CHECK_EQ(save(db, "k" + std::to_string(i), "value"), COUCHSTORE_SUCCESS);
    }
    REQUIRE_OK(couchstore_commit(db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    CountingOps ops;
    REQUIRE_OK(couchstore_open_db_ex(path, COUCHSTORE_OPEN_FLAG_RDONLY, &ops, &db));
    ops.fail_reads = true;
    DocInfo* info = nullptr;
    CHECK_EQ(couchstore_docinfo_by_id(db, "k1234", 5, &info), COUCHSTORE_ERROR_READ);
    CHECK(os_error(db).find("errno = 5") != std::string::npos);
    ops.fail_reads = false;
    ops.throw_on_read = true;
    CHECK_EQ(couchstore_docinfo_by_id(db, "k1500", 5, &info), COUCHSTORE_ERROR_READ);
    ops.throw_on_read = false;
    REQUIRE_OK(couchstore_docinfo_by_id(db, "k1500", 5, &info));
    couchstore_free_docinfo(info);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(compaction_writes_its_target_through_the_ops) {
    const char* src = tmp_path("csource.couch");
    const char* dst = tmp_path("csource.compact");
    Db* db = nullptr;
    REQUIRE_OK(couchstore_open_db(src, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    for (int i = 0; i < 500; i++) {
        CHECK_EQ(save(db, "k" + std::to_string(i), std::string(100, 'c')), COUCHSTORE_SUCCESS);
    }
    REQUIRE_OK(couchstore_commit(db));
    CountingOps ops;
    REQUIRE_OK(couchstore_compact_db_ex(db, dst, 0, nullptr, nullptr, nullptr, &ops));
    CHECK_EQ(ops.oflags.size(), 1);
    CHECK_EQ(ops.oflags[0], O_RDWR | O_CREAT | O_EXCL);
    CHECK(ops.calls["pwrite"] > 0);
    CHECK(ops.calls["sync"] >= 1);
    CHECK(ops.log.front() == "constructor" && ops.log.back() == "destructor");
    Db* target = nullptr;
    REQUIRE_OK(couchstore_open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY, &target));
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(target, &info));
    CHECK_EQ(info.doc_count, 500);
    CHECK(read(target, "k77") == std::string(100, 'c'));
    couchstore_close_file(target);
    couchstore_free_db(target);
    unlink(dst);
    // The C++ form, and a target whose disk fills up: WRITE, and no target is left.
    CountingOps full;
    full.fail_writes = true;
    CHECK_EQ(cb::couchstore::compact(*db, dst, 0, {}, {}, &full), COUCHSTORE_ERROR_WRITE);
    struct stat st;
    CHECK(stat(dst, &st) != 0);
    CHECK(full.log.back() == "destructor");
    CountingOps fine;
    CHECK_EQ(cb::couchstore::compact(*db, dst, 0, {}, {}, &fine), COUCHSTORE_SUCCESS);
    CHECK(stat(dst, &st) == 0);
    // An existing target is refused through the ops as well, and left alone.
    CountingOps again;
    CHECK_EQ(cb::couchstore::compact(*db, dst, 0, {}, {}, &again), COUCHSTORE_ERROR_OPEN_FILE);
    CHECK(stat(dst, &st) == 0 && st.st_size > 0);
    CHECK(again.log.empty());
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(default_ops_are_real_posix_ops) {
    // The process-wide default ops, driven directly, do POSIX I/O.
    FileOpsInterface* ops = couchstore_get_default_file_ops();
    const char* path = tmp_path("posix.bin");
    couchstore_error_info_t err{0};
    couch_file_handle h = ops->constructor(&err);
    REQUIRE_OK(ops->open(&err, &h, path, O_RDWR | O_CREAT));
    CHECK_EQ(ops->pwrite(&err, h, "hello", 5, 10), 5);
    CHECK_EQ(ops->goto_eof(&err, h), 15);
    char buf[5];
    CHECK_EQ(ops->pread(&err, h, buf, 5, 10), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(ops->sync(&err, h), COUCHSTORE_SUCCESS);
    CHECK_EQ(ops->advise(&err, h, 0, 15, COUCHSTORE_FILE_ADVICE_EVICT), COUCHSTORE_SUCCESS);
    CHECK_EQ(ops->set_periodic_sync(h, 4096), COUCHSTORE_SUCCESS);
    CHECK(ops->get_stats(h) == nullptr);
    CHECK_EQ(ops->close(&err, h), COUCHSTORE_SUCCESS);
    ops->destructor(h);
    // A missing file: NO_SUCH_FILE with ENOENT.
    h = ops->constructor(&err);
    CHECK_EQ(ops->open(&err, &h, tmp_path("missing/x"), O_RDWR), COUCHSTORE_ERROR_NO_SUCH_FILE);
    CHECK_EQ(err.error, ENOENT);
    ops->destructor(h);
    // create_default_file_ops gives an instance the caller owns, usable as any ops.
    std::unique_ptr<FileOpsInterface> own(create_default_file_ops());
    CHECK(own.get() != nullptr && own.get() != ops);
    Db* db = nullptr;
    REQUIRE_OK(couchstore_open_db_ex(tmp_path("own.couch"), COUCHSTORE_OPEN_FLAG_CREATE, own.get(), &db));
    CHECK_EQ(save(db, "a", "b"), COUCHSTORE_SUCCESS);
    REQUIRE_OK(couchstore_commit(db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    // ScopedFileTag tags, then resets to Unknown.
    CountingOps counting;
    {
        ScopedFileTag tag(&counting, nullptr, FileTag::BTree);
        CHECK_EQ(counting.tags[FileTag::BTree], 1);
    }
    CHECK_EQ(counting.tags[FileTag::Unknown], 1);
}

namespace {

/// The engine of the online-compaction test: its writer (through the engine's ops) and
/// its lock. On the driver's locks after the first, the engine's flusher saves and
/// commits one batch before the lock is taken: a batch written while the driver waits.
struct FollowedEngine {
    Db* writer = nullptr;
    std::mutex lock;
    int locks = 0;
    int batches = 0;
    int failures = 0;
};

void followed_lock(void* ctx) {
    auto* e = static_cast<FollowedEngine*>(ctx);
    if (e->locks++ >= 1 && e->batches == 0) {
        for (int i = 0; i < 40; i++) {
            e->failures += save(e->writer, "late-" + std::to_string(i), "written while the driver waits") != 0;
        }
        e->failures += couchstore_commit(e->writer) != COUCHSTORE_SUCCESS;
        e->batches++;
    }
    e->lock.lock();
}

void followed_unlock(void* ctx) {
    static_cast<FollowedEngine*>(ctx)->lock.unlock();
}

couchstore_error_t followed_switch(const char* target, void* ctx) {
    (void)ctx;
    (void)target;
    return COUCHSTORE_SUCCESS;
}

} // namespace

TEST(online_compaction_follows_a_writer_on_the_engines_ops) {
    /* The flusher's handle does its I/O through the engine's own ops (as kv_engine's
     * does); the compaction still knows it writes to its source (the file the name led
     * to), follows its batch while waiting for the lock, and replays nothing from the
     * file under it. */
    const char* path = tmp_path("followed.couch");
    std::string target = std::string(path) + ".compact";
    CountingOps ops;
    FollowedEngine engine;
    REQUIRE_OK(couchstore_open_db_ex(path, COUCHSTORE_OPEN_FLAG_CREATE, &ops, &engine.writer));
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(save(engine.writer, "key-" + std::to_string(i), std::string(100, 'v')), COUCHSTORE_SUCCESS);
    }
    REQUIRE_OK(couchstore_commit(engine.writer));
    couchstore_online_options o;
    couchstore_online_options_init(&o);
    o.lock = followed_lock;
    o.unlock = followed_unlock;
    o.switch_file = followed_switch;
    o.ctx = &engine;
    o.max_docs_per_hold = 1000;
    couchstore_online_stats stats{};
    CHECK_EQ(couchstore_compact_online(path, target.c_str(), 0, nullptr, nullptr, nullptr, &o, &stats),
             COUCHSTORE_SUCCESS);
    CHECK_EQ(engine.failures, 0);
    CHECK_EQ(engine.batches, 1);
    CHECK_EQ(stats.docs_followed, 40);
    CHECK_EQ(stats.followed_commits, 1);
    CHECK_EQ(stats.docs_replayed_locked, 0);
    CHECK_EQ(stats.paced_rounds, 0);
    /* The compacted file holds the batch written while the driver waited. */
    Db* compacted = nullptr;
    REQUIRE_OK(couchstore_open_db(target.c_str(), COUCHSTORE_OPEN_FLAG_RDONLY, &compacted));
    CHECK(read(compacted, "late-39") == "written while the driver waits");
    CHECK(read(compacted, "key-99") == std::string(100, 'v'));
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(compacted, &info));
    CHECK_EQ(info.doc_count, 140);
    couchstore_close_file(compacted);
    couchstore_free_db(compacted);
    couchstore_close_file(engine.writer);
    couchstore_free_db(engine.writer);
}

RUN_TESTS(T(counters_move_and_calls_come_in_the_originals_order), T(setters_are_called_as_the_flags_ask),
          T(write_errors_reach_last_os_error_and_the_file_stays_intact),
          T(read_errors_and_exceptions_of_the_ops_are_error_codes), T(compaction_writes_its_target_through_the_ops),
          T(default_ops_are_real_posix_ops), T(online_compaction_follows_a_writer_on_the_engines_ops))
