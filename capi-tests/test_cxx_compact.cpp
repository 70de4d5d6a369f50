// Compaction and replay through the original's C++ API: every hook form of
// cb::couchstore::compact and couchstore_compact_db_ex, what the target's header holds
// while they run, exceptions from hooks, point-in-time compaction keeping one header per
// interval, and cb::couchstore::replay. Built as C++17 against the public headers only.
#include <libcouchstore/couch_db.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "check.h"

using namespace cb::couchstore;

namespace {

bool exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

UniqueDbPtr open_db(const std::string& path, couchstore_open_flags flags = COUCHSTORE_OPEN_FLAG_CREATE) {
    auto [status, db] = openDatabase(path, flags);
    if (status != COUCHSTORE_SUCCESS) {
        std::fprintf(stderr, "  open %s: %s\n", path.c_str(), couchstore_strerror(status));
        check_failures++;
    }
    return std::move(db);
}

void store(Db& db, const std::string& key, const std::string& value, bool deleted = false) {
    Doc doc{{const_cast<char*>(key.data()), key.size()}, {const_cast<char*>(value.data()), value.size()}};
    DocInfo info{};
    info.id = doc.id;
    info.deleted = deleted;
    CHECK_EQ(couchstore_save_document(&db, deleted && value.empty() ? nullptr : &doc, &info, 0), COUCHSTORE_SUCCESS);
}

std::string body(Db& db, const std::string& key) {
    auto [status, doc] = openDocument(db, key);
    return status == COUCHSTORE_SUCCESS ? std::string(doc->data.buf, doc->data.size) : "<" + std::to_string(status) + ">";
}

int count_headers(Db& db) {
    int n = 1;
    while (seek(db, Direction::Backward) == COUCHSTORE_SUCCESS) {
        n++;
    }
    return n;
}

/// A source with 10 documents (one deleted), purge_seq 3.
std::string make_source(const char* name) {
    const std::string path = tmp_path(name);
    auto db = open_db(path);
    for (int i = 0; i < 10; i++) {
        store(*db, std::to_string(i), "value " + std::to_string(i));
    }
    store(*db, "3", "", true);
    CHECK_EQ(couchstore_set_purge_seq(db.get(), 3), COUCHSTORE_SUCCESS);
    CHECK_EQ(couchstore_commit(db.get()), COUCHSTORE_SUCCESS);
    return path;
}

} // namespace

TEST(filter_drop_need_body_and_the_final_call) {
    const auto src = make_source("filter.couch");
    const auto dst = src + ".compact";
    auto db = open_db(src, 0);
    std::vector<std::string> keys;
    int final_calls = 0, without_body = 0, with_body = 0;
    uint64_t target_seq_seen = 0, target_purge_seen = 0;
    CHECK_EQ(compact(*db, dst.c_str(), 0,
                     [&](Db& target, DocInfo* info, sized_buf value) -> int {
                         // The target's header holds the source's sequences already.
                         const auto h = getHeader(target);
                         target_seq_seen = h.updateSeqNum;
                         target_purge_seen = h.purgeSeqNum;
                         if (!info) {
                             final_calls++;
                             return COUCHSTORE_SUCCESS;
                         }
                         const std::string key(info->id.buf, info->id.size);
                         if (key == "7" && value.buf == nullptr) {
                             without_body++;
                             return COUCHSTORE_COMPACT_NEED_BODY;
                         }
                         if (key == "7") {
                             with_body += std::string(value.buf, value.size) == "value 7";
                         }
                         keys.push_back(key);
                         return key == "5" ? COUCHSTORE_COMPACT_DROP_ITEM : COUCHSTORE_COMPACT_KEEP_ITEM;
                     },
                     {}, nullptr),
             COUCHSTORE_SUCCESS);
    CHECK_EQ(keys.size(), 10);
    CHECK_EQ(final_calls, 1);
    CHECK(without_body == 1 && with_body == 1);
    CHECK_EQ(target_seq_seen, 11);
    CHECK_EQ(target_purge_seen, 3);
    auto compacted = open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY);
    CHECK(body(*compacted, "5") == "<" + std::to_string(COUCHSTORE_ERROR_DOC_NOT_FOUND) + ">");
    CHECK(body(*compacted, "7") == "value 7");
    CHECK_EQ(getHeader(*compacted).updateSeqNum, 11);
    CHECK_EQ(getHeader(*compacted).purgeSeqNum, 3);
    // One header, at the second block (the first holds the data).
    CHECK_EQ(getHeader(*compacted).headerPosition, getDiskBlockSize(*compacted));
    CHECK_EQ(seek(*compacted, Direction::Backward), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(seek(*compacted, Direction::Forward), COUCHSTORE_ERROR_NO_HEADER);
}

TEST(rewrite_hook_may_replace_the_docinfo) {
    const auto src = make_source("rewrite.couch");
    const auto dst = src + ".compact";
    auto db = open_db(src, 0);
    CHECK_EQ(compact(*db, dst.c_str(), 0, [](Db&, DocInfo*, sized_buf) { return COUCHSTORE_COMPACT_KEEP_ITEM; },
                     [](DocInfo*& info, sized_buf) -> int {
                         if (std::string(info->id.buf, info->id.size) != "2") {
                             return 0;
                         }
                         auto* bigger = static_cast<DocInfo*>(std::calloc(1, sizeof(DocInfo) + info->id.size + 256));
                         *bigger = *info;
                         bigger->id.buf = reinterpret_cast<char*>(bigger + 1);
                         std::copy(info->id.buf, info->id.buf + info->id.size, bigger->id.buf);
                         bigger->rev_meta.size = 256;
                         bigger->rev_meta.buf = bigger->id.buf + bigger->id.size;
                         couchstore_free_docinfo(info);
                         info = bigger;
                         return 1;
                     },
                     couchstore_get_default_file_ops()),
             COUCHSTORE_SUCCESS);
    auto compacted = open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY);
    auto [s1, one] = openDocInfo(*compacted, "1");
    auto [s2, two] = openDocInfo(*compacted, "2");
    CHECK(s1 == COUCHSTORE_SUCCESS && one->rev_meta.size == 0);
    CHECK(s2 == COUCHSTORE_SUCCESS && two->rev_meta.size == 256);
    // A rewrite callback needs a filter callback.
    CHECK_EQ(compact(*db, (dst + "2").c_str(), 0, {}, [](DocInfo*&, sized_buf) { return 0; }, nullptr),
             COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK(!exists(dst + "2"));
}

TEST(precommit_hooks_in_both_forms) {
    const auto src = make_source("precommit.couch");
    const auto dst = src + ".compact";
    auto db = open_db(src, 0);
    // The original's 8-parameter C-linkage entry point, called from C++.
    int calls = 0;
    CHECK_EQ(couchstore_compact_db_ex(db.get(), dst.c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                                      [&](Db& target) {
                                          calls++;
                                          // A precommit hook may change the target before its
                                          // header is written.
                                          return couchstore_set_purge_seq(&target, 42);
                                      }),
             COUCHSTORE_SUCCESS);
    CHECK_EQ(calls, 1);
    CHECK_EQ(getHeader(*open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY)).purgeSeqNum, 42);
    ::unlink(dst.c_str());
    // Without it (the default argument), and with the C hook.
    CHECK_EQ(couchstore_compact_db_ex(db.get(), dst.c_str(), COUCHSTORE_COMPACT_FLAG_DROP_DELETES, nullptr, nullptr,
                                      nullptr, couchstore_get_default_file_ops()),
             COUCHSTORE_SUCCESS);
    {
        auto compacted = open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY);
        CHECK_EQ(getHeader(*compacted).purgeSeqNum, 4);
        CHECK_EQ(getHeader(*compacted).deletedCount, 0);
    }
    ::unlink(dst.c_str());
    // A failing precommit hook aborts, and leaves no target.
    CHECK_EQ(compact(*db, dst.c_str(), 0, {}, {}, nullptr, [](Db&) { return COUCHSTORE_ERROR_CANCEL; }),
             COUCHSTORE_ERROR_CANCEL);
    CHECK(!exists(dst));
}

TEST(a_hooks_exception_reaches_the_caller_after_cleanup) {
    const auto src = make_source("throws.couch");
    const auto dst = src + ".compact";
    auto db = open_db(src, 0);
    bool caught = false;
    try {
        compact(*db, dst.c_str(), 0,
                [](Db&, DocInfo* info, sized_buf) -> int {
                    if (info && std::string(info->id.buf, info->id.size) == "4") {
                        throw std::runtime_error("engine says no");
                    }
                    return COUCHSTORE_COMPACT_KEEP_ITEM;
                },
                {}, nullptr);
    } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "engine says no";
    }
    CHECK(caught);
    CHECK(!exists(dst));
    // The source handle is still usable.
    CHECK(body(*db, "4") == "value 4");
}

TEST(an_empty_target_file_is_used) {
    const auto src = make_source("mkstemp.couch");
    const auto dst = src + ".XXXXXX";
    std::vector<char> name(dst.begin(), dst.end());
    name.push_back('\0');
    const int fd = mkstemp(name.data());
    CHECK(fd >= 0);
    ::close(fd);
    auto db = open_db(src, 0);
    CHECK_EQ(compact(*db, name.data(), 0, {}, {}, nullptr), COUCHSTORE_SUCCESS);
    CHECK_EQ(getHeader(*open_db(name.data(), COUCHSTORE_OPEN_FLAG_RDONLY)).docCount, 9);
    // Opening an existing empty file for writing writes its first header.
    const std::string empty = tmp_path("empty-for-writing.couch");
    std::fclose(std::fopen(empty.c_str(), "w"));
    auto fresh = open_db(empty, 0);
    CHECK(fresh != nullptr);
    if (fresh) {
        CHECK_EQ(getHeader(*fresh).headerPosition, 0);
        CHECK(getHeader(*fresh).version == Header::Version::V13);
    }
}

/// 100 headers, header i committed at time i with key "PitrCompaction" = i.
std::string make_history(const char* name) {
    const std::string path = tmp_path(name);
    auto db = open_db(path, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_UNBUFFERED);
    for (int i = 0; i < 100; i++) {
        store(*db, "PitrCompaction", std::to_string(i));
        CHECK_EQ(couchstore_commit_ex(db.get(), uint64_t(i)), COUCHSTORE_SUCCESS);
    }
    return path;
}

/// Walks back from the newest header: each one's value matches its timestamp.
void check_history(Db& db, uint64_t oldest, int headers) {
    int n = 1;
    for (;;) {
        const auto h = getHeader(db);
        CHECK(h.version == Header::Version::V13);
        if (h.timestamp < oldest || n == headers) {
            CHECK_EQ(n, headers);
            return;
        }
        CHECK(body(db, "PitrCompaction") == std::to_string(h.timestamp));
        n++;
        if (seek(db, Direction::Backward) != COUCHSTORE_SUCCESS) {
            CHECK_EQ(n, headers);
            return;
        }
    }
}

TEST(point_in_time_compaction_keeps_one_header_per_interval) {
    const auto src = make_history("pitr.couch");
    const auto dst = src + ".compact";
    auto db = open_db(src, 0);
    // Delta 1: every header from time 50 on is kept.
    CHECK_EQ(compact(*db, dst.c_str(), 0, {}, {}, nullptr, {}, 50, 1, {}, {}, {}, {}), COUCHSTORE_SUCCESS);
    CHECK_EQ(count_headers(*open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY)), 50);
    check_history(*open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY), 50, 50);
    // The source is back at its newest header.
    CHECK_EQ(getHeader(*db).timestamp, 99);
    ::unlink(dst.c_str());
    // Delta 5: 50, 55, ..., 95, then the last one, 99.
    int pre_copies = 0, replay_commits = 0;
    CHECK_EQ(compact(*db, dst.c_str(), 0, {}, {}, nullptr, {}, 50, 5, {}, {},
                     [&](Db&, Db&, const DocInfo* doc, const DocInfo* local) {
                         CHECK((doc == nullptr) != (local == nullptr));
                         pre_copies++;
                         return COUCHSTORE_SUCCESS;
                     },
                     [&](Db&) {
                         replay_commits++;
                         return COUCHSTORE_SUCCESS;
                     }),
             COUCHSTORE_SUCCESS);
    auto compacted = open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY);
    CHECK_EQ(getHeader(*compacted).timestamp, 99);
    CHECK_EQ(count_headers(*compacted), 11);
    check_history(*open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY), 50, 11);
    CHECK_EQ(replay_commits, 10);
    CHECK_EQ(pre_copies, 10); // one document changed per kept interval
    // Delta 0 is refused; so is a point in time after the newest header a full
    // compaction, with the pre-compaction hook seeing the source.
    CHECK_EQ(compact(*db, (dst + "0").c_str(), 0, {}, {}, nullptr, {}, 50, 0, {}, {}, {}, {}),
             COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK(!exists(dst + "0"));
    uint64_t seen = 0;
    CHECK_EQ(compact(*db, (dst + "full").c_str(), 0, {}, {}, nullptr, {}, 1000, 5,
                     [&](Db& source) {
                         seen = getHeader(source).timestamp;
                         return COUCHSTORE_SUCCESS;
                     },
                     {}, {}, {}),
             COUCHSTORE_SUCCESS);
    CHECK_EQ(seen, 99);
    CHECK_EQ(count_headers(*open_db(dst + "full", COUCHSTORE_OPEN_FLAG_RDONLY)), 1);
}

TEST(point_in_time_compaction_stops_at_the_source_header) {
    // Headers at 10, 25, 30, 100, 109, 170; the source handle at 109; keep from 30 with
    // delta 70: 30, 100 and 109 remain.
    const std::string src = tmp_path("pitr-end.couch");
    const auto dst = src + ".compact";
    auto db = open_db(src, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_UNBUFFERED);
    for (uint64_t t : {10, 25, 30, 100, 109, 170}) {
        store(*db, "k", std::to_string(t));
        CHECK_EQ(couchstore_commit_ex(db.get(), t), COUCHSTORE_SUCCESS);
    }
    CHECK_EQ(seek(*db, Direction::Backward), COUCHSTORE_SUCCESS);
    // A cancel from the pre-compaction hook: nothing is left.
    CHECK_EQ(compact(*db, dst.c_str(), 0, {}, {}, nullptr, {}, 30, 70,
                     [](Db&) { return COUCHSTORE_ERROR_CANCEL; }, {}, {}, {}),
             COUCHSTORE_ERROR_CANCEL);
    CHECK(!exists(dst));
    CHECK_EQ(getHeader(*db).timestamp, 109);
    int post = 0;
    CHECK_EQ(compact(*db, dst.c_str(), 0, {}, {}, nullptr, {}, 30, 70,
                     [](Db& source) {
                         return getHeader(source).timestamp == 30 ? COUCHSTORE_SUCCESS : COUCHSTORE_ERROR_CANCEL;
                     },
                     [&](Db& target) {
                         post += getHeader(target).timestamp == 30;
                         return COUCHSTORE_SUCCESS;
                     },
                     {}, {}),
             COUCHSTORE_SUCCESS);
    CHECK_EQ(post, 1);
    auto compacted = open_db(dst, COUCHSTORE_OPEN_FLAG_RDONLY);
    CHECK_EQ(getHeader(*compacted).timestamp, 109);
    CHECK(body(*compacted, "k") == "109");
    CHECK_EQ(seek(*compacted, Direction::Backward), COUCHSTORE_SUCCESS);
    CHECK_EQ(getHeader(*compacted).timestamp, 100);
    CHECK_EQ(seek(*compacted, Direction::Backward), COUCHSTORE_SUCCESS);
    CHECK_EQ(getHeader(*compacted).timestamp, 30);
    CHECK(body(*compacted, "k") == "30");
    CHECK_EQ(seek(*compacted, Direction::Backward), COUCHSTORE_ERROR_NO_HEADER);
}

TEST(replay_copies_deletions_and_folds_headers) {
    const std::string src = tmp_path("replay.couch");
    auto source = open_db(src, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_UNBUFFERED);
    const auto start = getHeader(*source);
    store(*source, "alive", "bar");
    store(*source, "deleted", "value", true);
    store(*source, "deleted-no-value", "", true);
    LocalDoc local{{const_cast<char*>("_local/vbstate"), 14}, {const_cast<char*>("{}"), 2}, 0};
    CHECK_EQ(couchstore_save_local_document(source.get(), &local), COUCHSTORE_SUCCESS);
    CHECK_EQ(couchstore_commit(source.get()), COUCHSTORE_SUCCESS);
    store(*source, "later", "x");
    CHECK_EQ(couchstore_commit(source.get()), COUCHSTORE_SUCCESS);
    const auto end = getHeader(*source);
    CHECK_EQ(seek(*source, cs_off_t(start.headerPosition)), COUCHSTORE_SUCCESS);
    auto target = open_db(src + ".ex", COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_UNBUFFERED);
    int docs = 0, locals = 0, commits = 0;
    CHECK_EQ(replay(*source, *target, uint64_t(-1), end.headerPosition,
                    [&](Db&, Db& t, const DocInfo* doc, const DocInfo* localDoc) {
                        // The target may be read in the hook (an engine counts what it
                        // replaces).
                        DocInfo* existing = nullptr;
                        if (doc && couchstore_docinfo_by_id(&t, doc->id.buf, doc->id.size, &existing) ==
                                           COUCHSTORE_SUCCESS) {
                            couchstore_free_docinfo(existing);
                        }
                        docs += doc != nullptr;
                        if (localDoc) {
                            locals += std::string(localDoc->id.buf, localDoc->id.size) == "_local/vbstate";
                        }
                        return COUCHSTORE_SUCCESS;
                    },
                    [&](Db&) {
                        commits++;
                        return COUCHSTORE_SUCCESS;
                    }),
             COUCHSTORE_SUCCESS);
    CHECK_EQ(docs, 4);
    CHECK(locals >= 1);
    CHECK_EQ(commits, 1); // two source headers folded into one
    CHECK_EQ(getHeader(*source).headerPosition, end.headerPosition);
    CHECK_EQ(getHeader(*target).timestamp, end.timestamp);
    CHECK(body(*target, "alive") == "bar");
    auto [st, info] = openDocInfo(*target, "deleted");
    CHECK(st == COUCHSTORE_SUCCESS && info->deleted);
    auto [ds, doc] = openDocument(*target, *info);
    CHECK(ds == COUCHSTORE_SUCCESS && std::string(doc->data.buf, doc->data.size) == "value");
    auto [st2, info2] = openDocInfo(*target, "deleted-no-value");
    CHECK(st2 == COUCHSTORE_SUCCESS && info2->deleted);
    auto [ds2, doc2] = openDocument(*target, *info2);
    CHECK_EQ(ds2, COUCHSTORE_ERROR_DOC_NOT_FOUND);
    // A hook's error aborts the replay with it.
    CHECK_EQ(seek(*source, cs_off_t(start.headerPosition)), COUCHSTORE_SUCCESS);
    auto other = open_db(src + ".ex2", COUCHSTORE_OPEN_FLAG_CREATE);
    CHECK_EQ(replay(*source, *other, 1, end.headerPosition,
                    [](Db&, Db&, const DocInfo*, const DocInfo*) { return COUCHSTORE_ERROR_SCAN_ABORTED; }, {}),
             COUCHSTORE_ERROR_SCAN_ABORTED);
}

RUN_TESTS(T(filter_drop_need_body_and_the_final_call), T(rewrite_hook_may_replace_the_docinfo),
          T(precommit_hooks_in_both_forms), T(a_hooks_exception_reaches_the_caller_after_cleanup),
          T(an_empty_target_file_is_used), T(point_in_time_compaction_keeps_one_header_per_interval),
          T(point_in_time_compaction_stops_at_the_source_header), T(replay_copies_deletions_and_folds_headers))
