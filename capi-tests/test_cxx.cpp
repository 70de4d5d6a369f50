// The original's C++ API (cb::couchstore in couch_db.h) as a C++17 engine uses it:
// RAII handles, seek in every direction, headers, documents, local documents, and the
// online-compaction wrapper of couchstore.hpp. Built against the public headers only.
#include <libcouchstore/couch_common.h>
#include <libcouchstore/couch_db.h>
#include <libcouchstore/couchstore.hpp>
#include <libcouchstore/error.h>
#include <libcouchstore/file_ops.h>

#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "check.h"

using namespace cb::couchstore;

// A user's own forward declarations of the original's struct names must agree with ours.
struct DocInfo;
struct Db;
struct sized_buf;

// The types the original's mangled names are made of.
static_assert(std::is_enum<couchstore_error_t>::value, "couchstore_error_t is an enum");
static_assert(sizeof(couchstore_error_t) == 4, "an int-sized enum");
static_assert(std::is_same<cs_off_t, int64_t>::value, "cs_off_t is int64_t");
static_assert(std::is_same<couchstore_open_flags, uint64_t>::value, "flags are uint64_t");
static_assert(std::is_same<couchstore_compact_flags, uint64_t>::value, "flags are uint64_t");
static_assert(std::is_same<std::underlying_type<FileTag>::type, uint8_t>::value, "FileTag is uint8_t");
static_assert(std::is_same<std::underlying_type<Direction>::type, uint8_t>::value, "Direction is uint8_t");
static_assert(int(FileTag::Unknown) == 4 && int(Direction::End) == 2, "enum values");
static_assert(std::is_same<PrecommitHook, std::function<couchstore_error_t(Db&)>>::value, "PrecommitHook");
static_assert(sizeof(couchstore_error_info_t) == sizeof(int), "errinfo holds an int");
static_assert(COUCHSTORE_OPEN_WITH_TRACING == 0x20000000 && COUCHSTORE_OPEN_WITH_WRITE_VALIDATION == 0x40000000 &&
                      COUCHSTORE_OPEN_WITH_MPROTECT == 0x800000000ULL,
              "open flags");
static_assert(int(Header::Version::V13) == 13, "versions");

static std::string path_of(const char* name) {
    return tmp_path(name);
}

static void store(Db& db, const std::string& key, const std::string& value, bool deleted = false) {
    Doc doc{{const_cast<char*>(key.data()), key.size()}, {const_cast<char*>(value.data()), value.size()}};
    DocInfo info{};
    info.id = doc.id;
    info.rev_seq = 1;
    info.deleted = deleted;
    CHECK_EQ(couchstore_save_document(&db, deleted && value.empty() ? nullptr : &doc, &info, 0), COUCHSTORE_SUCCESS);
}

// Ten commits, each with a body a block long, so headers are two blocks apart.
static std::vector<cs_off_t> make_headers(const std::string& file) {
    std::vector<cs_off_t> headers;
    auto [status, db] = openDatabase(file, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_UNBUFFERED);
    CHECK_EQ(status, COUCHSTORE_SUCCESS);
    if (!db) return headers;
    const std::string value(getDiskBlockSize(*db), 'v');
    for (int i = 0; i < 10; i++) {
        headers.push_back(cs_off_t(couchstore_get_header_position(db.get())));
        store(*db, std::to_string(i), value);
        CHECK_EQ(couchstore_commit(db.get()), COUCHSTORE_SUCCESS);
    }
    headers.push_back(cs_off_t(couchstore_get_header_position(db.get())));
    return headers;
}

TEST(seek_in_every_direction) {
    const auto file = path_of("seek.couch");
    const auto headers = make_headers(file);
    CHECK_EQ(headers.size(), 11);
    auto [status, db] = openDatabase(file, COUCHSTORE_OPEN_FLAG_RDONLY);
    REQUIRE_OK(status);
    for (int i = int(headers.size()) - 2; i >= 0; --i) {
        CHECK_EQ(seek(*db, Direction::Backward), COUCHSTORE_SUCCESS);
        CHECK_EQ(couchstore_get_header_position(db.get()), headers[size_t(i)]);
    }
    CHECK_EQ(seek(*db, Direction::Backward), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(couchstore_get_header_position(db.get()), 0);
    for (size_t i = 1; i < headers.size(); i++) {
        CHECK_EQ(seek(*db, Direction::Forward), COUCHSTORE_SUCCESS);
        CHECK_EQ(couchstore_get_header_position(db.get()), headers[i]);
    }
    CHECK_EQ(seek(*db, Direction::Forward), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(couchstore_get_header_position(db.get()), headers.back());
    CHECK_EQ(seek(*db, Direction(4)), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    // By offset: every header; beyond the file, unaligned, a data block: refused, unmoved.
    for (auto offset : headers) {
        CHECK_EQ(seek(*db, offset), COUCHSTORE_SUCCESS);
        CHECK_EQ(getHeader(*db).headerPosition, uint64_t(offset));
    }
    CHECK_EQ(seek(*db, headers.back() + 4096), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(seek(*db, 4096 - 10), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(headers[1], 2 * 4096);
    CHECK_EQ(seek(*db, 4096), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(couchstore_get_header_position(db.get()), headers.back());
    // openDatabase at an offset.
    auto [s2, at] = openDatabase(file, COUCHSTORE_OPEN_FLAG_RDONLY, nullptr, headers[3]);
    CHECK_EQ(s2, COUCHSTORE_SUCCESS);
    CHECK_EQ(getHeader(*at).updateSeqNum, 3);
    auto [s3, bad] = openDatabase(file, COUCHSTORE_OPEN_FLAG_RDONLY, nullptr, cs_off_t(5));
    CHECK_EQ(s3, COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK(bad != nullptr); // the handle is returned with the seek's status
    // A closed handle.
    couchstore_close_file(db.get());
    CHECK_EQ(seek(*db, Direction::Forward), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(seek(*db, 0), COUCHSTORE_ERROR_FILE_CLOSED);
}

TEST(forward_stays_within_the_file_as_opened_end_does_not) {
    const auto file = path_of("others.couch");
    make_headers(file);
    auto [ws, writer] = openDatabase(file, 0);
    auto [rs, reader] = openDatabase(file, COUCHSTORE_OPEN_FLAG_RDONLY);
    REQUIRE_OK(ws);
    REQUIRE_OK(rs);
    const auto start = getHeader(*reader);
    CHECK_EQ(seek(*reader, Direction::Forward), COUCHSTORE_ERROR_NO_HEADER);
    store(*writer, "foo", "bar");
    CHECK_EQ(couchstore_commit_ex(writer.get(), 0xdeadbeef), COUCHSTORE_SUCCESS);
    CHECK_EQ(seek(*reader, Direction::Forward), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(seek(*reader, Direction::End), COUCHSTORE_SUCCESS);
    const auto end = getHeader(*reader);
    CHECK(end.headerPosition > start.headerPosition);
    CHECK_EQ(end.timestamp, 0xdeadbeef);
    CHECK_EQ(end.updateSeqNum, 11);
}

TEST(headers_carry_the_originals_fields) {
    const auto file = path_of("header.couch");
    make_headers(file);
    auto [status, db] = openDatabase(file, 0);
    REQUIRE_OK(status);
    CHECK_EQ(couchstore_commit_ex(db.get(), 0xdeadbeef), COUCHSTORE_SUCCESS);
    const auto h = getHeader(*db);
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(db.get(), &info));
    CHECK(h.version == Header::Version::V13);
    CHECK_EQ(h.timestamp, 0xdeadbeef);
    CHECK_EQ(h.updateSeqNum, 10);
    CHECK_EQ(h.purgeSeqNum, 0);
    CHECK_EQ(h.headerPosition, uint64_t(info.header_position));
    CHECK(std::string(h.filename) == file);
    CHECK_EQ(h.docCount, 10);
    CHECK_EQ(h.deletedCount, 0);
    CHECK_EQ(h.spaceUsed, info.space_used);
    CHECK_EQ(h.fileSize, info.file_size);
    // A legacy file: version 11, no timestamp, even after commit_ex.
    const auto legacy = path_of("legacy.couch");
    auto [ls, old] = openDatabase(legacy, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_WITH_LEGACY_CRC);
    REQUIRE_OK(ls);
    CHECK(getHeader(*old).version == Header::Version::V11);
    CHECK_EQ(couchstore_commit_ex(old.get(), 0xdeadbeef), COUCHSTORE_SUCCESS);
    CHECK_EQ(getHeader(*old).timestamp, 0);
}

TEST(documents_and_local_documents) {
    const auto file = path_of("docs.couch");
    auto [status, db] = openDatabase(file, COUCHSTORE_OPEN_FLAG_CREATE);
    REQUIRE_OK(status);
    store(*db, "alive", "bar");
    store(*db, "deleted", "value", true);
    store(*db, "deleted-no-value", "", true);
    LocalDoc l1{{const_cast<char*>("_local/b"), 8}, {const_cast<char*>("{\"b\":1}"), 7}, 0};
    LocalDoc l2{{const_cast<char*>("_local/a"), 8}, {const_cast<char*>("{\"a\":1}"), 7}, 0};
    std::vector<std::reference_wrapper<LocalDoc>> locals{l1, l2};
    CHECK_EQ(saveLocalDocuments(*db, locals), COUCHSTORE_SUCCESS);
    CHECK(std::string(locals[0].get().id.buf, 8) == "_local/a"); // sorted by id
    CHECK_EQ(couchstore_commit(db.get()), COUCHSTORE_SUCCESS);
    {
        auto [s, doc] = openDocument(*db, "alive");
        CHECK_EQ(s, COUCHSTORE_SUCCESS);
        CHECK(doc && std::string(doc->data.buf, doc->data.size) == "bar");
    }
    {
        auto [s, info] = openDocInfo(*db, "deleted");
        CHECK_EQ(s, COUCHSTORE_SUCCESS);
        CHECK(info && info->deleted);
        auto [ds, doc] = openDocument(*db, *info);
        CHECK_EQ(ds, COUCHSTORE_SUCCESS);
        CHECK(doc && std::string(doc->data.buf, doc->data.size) == "value");
    }
    {
        auto [s, info] = openDocInfo(*db, "deleted-no-value");
        CHECK_EQ(s, COUCHSTORE_SUCCESS);
        auto [ds, doc] = openDocument(*db, *info);
        CHECK_EQ(ds, COUCHSTORE_ERROR_DOC_NOT_FOUND);
        CHECK(!doc);
    }
    {
        auto [s, info] = openDocInfo(*db, "missing");
        CHECK_EQ(s, COUCHSTORE_ERROR_DOC_NOT_FOUND);
        CHECK(!info);
        auto [ls, local] = openLocalDocument(*db, "_local/a");
        CHECK_EQ(ls, COUCHSTORE_SUCCESS);
        CHECK(local && std::string(local->json.buf, local->json.size) == "{\"a\":1}");
        DocInfo by_id{};
        by_id.id = {const_cast<char*>("_local/b"), 8};
        auto [ls2, local2] = openLocalDocument(*db, by_id);
        CHECK_EQ(ls2, COUCHSTORE_SUCCESS);
        CHECK(local2 && local2->json.size == 7);
    }
    // Deleting through saveLocalDocuments.
    l1.deleted = 1;
    std::vector<std::reference_wrapper<LocalDoc>> deletion{l1};
    CHECK_EQ(saveLocalDocuments(*db, deletion), COUCHSTORE_SUCCESS);
    auto [gone, none] = openLocalDocument(*db, "_local/b");
    CHECK_EQ(gone, COUCHSTORE_ERROR_DOC_NOT_FOUND);
    CHECK(!none);
}

TEST(seek_first_header_containing) {
    const auto file = path_of("containing.couch");
    auto [status, db] = openDatabase(file, COUCHSTORE_OPEN_FLAG_CREATE);
    REQUIRE_OK(status);
    // Header i (1..20) holds sequences up to i, committed at time i * 10.
    std::vector<uint64_t> positions;
    for (int i = 1; i <= 20; i++) {
        store(*db, "k" + std::to_string(i), "v");
        CHECK_EQ(couchstore_commit_ex(db.get(), uint64_t(i) * 10), COUCHSTORE_SUCCESS);
        positions.push_back(getHeader(*db).headerPosition);
    }
    auto [rs, r] = openDatabase(file, COUCHSTORE_OPEN_FLAG_RDONLY);
    REQUIRE_OK(rs);
    CHECK_EQ(seekFirstHeaderContaining(*r, 7, 1), COUCHSTORE_SUCCESS);
    CHECK_EQ(getHeader(*r).updateSeqNum, 7);
    // Granularity 50: from time 70 forward to the last header before time 100.
    CHECK_EQ(seek(*r, Direction::End), COUCHSTORE_SUCCESS);
    CHECK_EQ(seekFirstHeaderContaining(*r, 7, 50), COUCHSTORE_SUCCESS);
    CHECK_EQ(getHeader(*r).timestamp, 90);
    CHECK_EQ(seek(*r, Direction::End), COUCHSTORE_SUCCESS);
    CHECK_EQ(seekFirstHeaderContaining(*r, 999, 1), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(getHeader(*r).updateSeqNum, 20);
    CHECK_EQ(seekFirstHeaderContaining(*r, 5, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
}

TEST(deleters_and_block_size) {
    const auto file = path_of("deleters.couch");
    Db* raw = nullptr;
    REQUIRE_OK(couchstore_open_db(file.c_str(), COUCHSTORE_OPEN_FLAG_CREATE, &raw));
    UniqueDbPtr db(raw);
    CHECK_EQ(getDiskBlockSize(*db), 4096);
    DbDeleter{}(nullptr);
    DocInfoDeleter{}(nullptr);
    DocDeleter{}(nullptr);
    LocalDocDeleter{}(nullptr);
    db.reset();
}

TEST(online_compaction_through_the_wrapper) {
    const auto file = path_of("online.couch");
    const auto target = file + ".compact";
    {
        auto [status, db] = openDatabase(file, COUCHSTORE_OPEN_FLAG_CREATE);
        REQUIRE_OK(status);
        for (int i = 0; i < 3; i++) {
            store(*db, "d" + std::to_string(i), "body");
        }
        CHECK_EQ(couchstore_commit(db.get()), COUCHSTORE_SUCCESS);
    }
    std::mutex engine;
    int switches = 0, progress_calls = 0;
    OnlineCompaction oc;
    oc.lock = [&] { engine.lock(); };
    oc.unlock = [&] { engine.unlock(); };
    oc.switchFile = [&](const char* t) {
        switches++;
        return std::rename(t, file.c_str()) == 0 ? COUCHSTORE_SUCCESS : COUCHSTORE_ERROR_WRITE;
    };
    oc.progress = [&](int, uint64_t, uint64_t) {
        progress_calls++;
        return true;
    };
    auto [status, stats] = compactOnline(file, target, oc);
    CHECK_EQ(status, COUCHSTORE_SUCCESS);
    CHECK(switches == 1 && progress_calls > 0);
    CHECK_EQ(stats.docs_copied, 3);
    CHECK(engine.try_lock());
    engine.unlock();
    auto [s2, db] = openDatabase(file, COUCHSTORE_OPEN_FLAG_RDONLY);
    CHECK_EQ(getHeader(*db).docCount, 3);
}

RUN_TESTS(T(seek_in_every_direction), T(forward_stays_within_the_file_as_opened_end_does_not),
          T(headers_carry_the_originals_fields), T(documents_and_local_documents), T(seek_first_header_containing),
          T(deleters_and_block_size), T(online_compaction_through_the_wrapper))
