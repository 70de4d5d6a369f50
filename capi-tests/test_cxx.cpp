// The C++ convenience header: RAII handles, header navigation, replay and online
// compaction through std::function, built as C++17.
#include <libcouchstore/couchstore.hpp>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <unistd.h>

static int failures;
#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            std::fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static void save(Db& db, const std::string& id, const std::string& body) {
    Doc doc{{const_cast<char*>(id.data()), id.size()}, {const_cast<char*>(body.data()), body.size()}};
    DocInfo info{};
    info.id = doc.id;
    info.rev_seq = 1;
    CHECK(couchstore_save_document(&db, &doc, &info, 0) == COUCHSTORE_SUCCESS);
}

int main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : ".";
    const std::string path = dir + "/cxx.couch", target = path + ".compact";
    unlink(path.c_str());
    unlink(target.c_str());
    int passed = 0;
    {
        auto [status, db] = couchstore::openDatabase(path, COUCHSTORE_OPEN_FLAG_CREATE);
        CHECK(status == COUCHSTORE_SUCCESS && db);
        save(*db, "a", "alpha");
        CHECK(couchstore_commit(db.get()) == COUCHSTORE_SUCCESS);
        const auto first = couchstore::getHeader(*db).second.header_position;
        save(*db, "b", "beta");
        CHECK(couchstore_commit(db.get()) == COUCHSTORE_SUCCESS);
        auto [rs, reader] = couchstore::openDatabase(path, COUCHSTORE_OPEN_FLAG_RDONLY);
        CHECK(rs == COUCHSTORE_SUCCESS);
        CHECK(couchstore::getHeader(*reader).second.update_seq == 2);
        CHECK(couchstore::seek(*reader, couchstore::Direction::Backward) == COUCHSTORE_SUCCESS);
        CHECK(couchstore::getHeader(*reader).second.header_position == first);
        CHECK(couchstore::seek(*reader, couchstore::Direction::Forward) == COUCHSTORE_SUCCESS);
        CHECK(couchstore::getHeader(*reader).second.update_seq == 2);
        CHECK(couchstore::seek(*reader, couchstore::Direction::Forward) == COUCHSTORE_ERROR_NO_HEADER);
        save(*db, "c", "gamma");
        CHECK(couchstore_commit(db.get()) == COUCHSTORE_SUCCESS);
        CHECK(couchstore::seek(*reader, couchstore::Direction::End) == COUCHSTORE_SUCCESS);
        CHECK(couchstore::getHeader(*reader).second.update_seq == 3);
        auto [ds, info] = couchstore::openDocInfo(*reader, "c");
        CHECK(ds == COUCHSTORE_SUCCESS && info);
        auto [bs, doc] = couchstore::openDocument(*reader, *info);
        CHECK(bs == COUCHSTORE_SUCCESS && doc && doc->data.size == 5);
        passed++;

        // Replay: compact at header 1, replay up to the newest.
        auto [os, old] = couchstore::openDatabase(path, COUCHSTORE_OPEN_FLAG_RDONLY);
        CHECK(couchstore::seek(*old, cs_off_t(first)) == COUCHSTORE_SUCCESS);
        CHECK(couchstore_compact_db(old.get(), target.c_str()) == COUCHSTORE_SUCCESS);
        auto [ts, compacted] = couchstore::openDatabase(target, 0);
        int copies = 0;
        CHECK(couchstore::replay(*old, *compacted, couchstore::getHeader(*db).second.header_position,
                                 [&](Db&, Db&, const DocInfo*, const LocalDoc*) {
                                     copies++;
                                     return COUCHSTORE_SUCCESS;
                                 }) == COUCHSTORE_SUCCESS);
        CHECK(copies == 2);
        CHECK(couchstore::getHeader(*compacted).second.doc_count == 3);
        passed++;
    }
    unlink(target.c_str());
    {
        // Online compaction with std::function callbacks.
        std::mutex engine;
        int switches = 0, progress_calls = 0;
        couchstore::OnlineCompaction oc;
        oc.lock = [&] { engine.lock(); };
        oc.unlock = [&] { engine.unlock(); };
        oc.switchFile = [&](const char* t) {
            switches++;
            return std::rename(t, path.c_str()) == 0 ? COUCHSTORE_SUCCESS : COUCHSTORE_ERROR_WRITE;
        };
        oc.progress = [&](int, uint64_t, uint64_t) {
            progress_calls++;
            return true;
        };
        auto [status, stats] = couchstore::compactOnline(path, target, oc);
        CHECK(status == COUCHSTORE_SUCCESS);
        CHECK(switches == 1 && progress_calls > 0);
        CHECK(stats.docs_copied == 3);
        CHECK(engine.try_lock());
        engine.unlock();
        auto [s2, db] = couchstore::openDatabase(path, COUCHSTORE_OPEN_FLAG_RDONLY);
        CHECK(couchstore::getHeader(*db).second.doc_count == 3);
        passed++;
    }
    std::printf("%d passed, %d failed\n", failures ? 0 : passed, failures ? 1 : 0);
    return failures ? 1 : 0;
}
