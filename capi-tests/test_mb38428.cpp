// The concurrent compaction of kv_engine's MB-38428 ("compaction and flusher in
// parallel"), written only with the original's C++ API: compact a snapshot without the
// engine's lock while a flusher thread keeps committing, catch up without the lock with
// seek/getHeader/replay, replay the last delta under the lock, rename, and switch the
// flusher. The new file must hold exactly what the source's newest header holds.
#include <libcouchstore/couch_db.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "check.h"

using namespace cb::couchstore;

namespace {

constexpr int KEYS = 2000;

struct Engine {
    std::mutex lock;
    UniqueDbPtr writer;
    std::map<std::string, std::string> committed; // what the last commit holds
    int batches = 0;
};

std::string value_of(int key, int round) {
    return "key " + std::to_string(key) + " round " + std::to_string(round);
}

/// One flusher batch under the engine's lock: updates, a deletion now and then, a local
/// document, a commit.
bool flush_batch(Engine& e, int round) {
    std::map<std::string, std::string> changes;
    for (int j = 0; j < 50; j++) {
        const int k = (round * 7919 + j * 104729) % KEYS;
        const std::string key = "key-" + std::to_string(k);
        const bool del = (round + j) % 11 == 0;
        const std::string value = del ? std::string() : value_of(k, round);
        Doc doc{{const_cast<char*>(key.data()), key.size()}, {const_cast<char*>(value.data()), value.size()}};
        DocInfo info{};
        info.id = doc.id;
        info.rev_seq = uint64_t(round) + 1;
        info.deleted = del;
        if (couchstore_save_document(e.writer.get(), del ? nullptr : &doc, &info, 0) != COUCHSTORE_SUCCESS) {
            return false;
        }
        changes[key] = del ? "<deleted>" : value;
    }
    const std::string state = "{\"round\":" + std::to_string(round) + "}";
    LocalDoc vbstate{{const_cast<char*>("_local/vbstate"), 14}, {const_cast<char*>(state.data()), state.size()}, 0};
    if (couchstore_save_local_document(e.writer.get(), &vbstate) != COUCHSTORE_SUCCESS ||
        couchstore_commit(e.writer.get()) != COUCHSTORE_SUCCESS) {
        return false;
    }
    for (auto& [k, v] : changes) {
        e.committed[k] = v;
    }
    e.committed["_local/vbstate"] = state;
    e.batches++;
    return true;
}

/// Mismatches between `db` and what the engine committed.
int differences(Db& db, const std::map<std::string, std::string>& want) {
    int bad = 0;
    for (auto& [key, value] : want) {
        if (key == "_local/vbstate") {
            auto [s, local] = openLocalDocument(db, key);
            bad += s != COUCHSTORE_SUCCESS || std::string(local->json.buf, local->json.size) != value;
            continue;
        }
        auto [s, info] = openDocInfo(db, key);
        if (s != COUCHSTORE_SUCCESS) {
            bad++;
            continue;
        }
        if (value == "<deleted>") {
            bad += !info->deleted;
            continue;
        }
        auto [ds, doc] = openDocument(db, *info);
        bad += ds != COUCHSTORE_SUCCESS || std::string(doc->data.buf, doc->data.size) != value;
    }
    return bad;
}

} // namespace

TEST(compaction_beside_a_flusher_with_seek_get_header_and_replay) {
    const std::string source = tmp_path("vb.couch");
    const std::string target = source + ".compact";
    Engine engine;
    {
        auto [s, db] = openDatabase(source, COUCHSTORE_OPEN_FLAG_CREATE);
        REQUIRE_OK(s);
        engine.writer = std::move(db);
    }
    for (int round = 0; round < 40; round++) {
        CHECK(flush_batch(engine, round));
    }

    std::atomic<bool> stop{false}, failed{false};
    std::atomic<int> after_switch{0};
    std::atomic<bool> switched{false};
    std::thread flusher([&] {
        int round = 40;
        while (!stop || after_switch < 3) {
            {
                std::lock_guard<std::mutex> guard(engine.lock);
                if (!flush_batch(engine, round++)) {
                    failed = true;
                    return;
                }
                if (switched) {
                    after_switch++;
                }
            }
            std::this_thread::sleep_for(std::chrono::microseconds(300));
        }
    });

    // The snapshot: the compactor's own handle, at the newest header when it opens.
    UniqueDbPtr src;
    {
        std::lock_guard<std::mutex> guard(engine.lock);
        auto [s, db] = openDatabase(source, COUCHSTORE_OPEN_FLAG_RDONLY);
        REQUIRE_OK(s);
        src = std::move(db);
    }
    int batches_at_snapshot;
    {
        std::lock_guard<std::mutex> guard(engine.lock);
        batches_at_snapshot = engine.batches;
    }
    REQUIRE_OK(couchstore_compact_db(src.get(), target.c_str()));
    auto [ts, dst] = openDatabase(target, 0);
    REQUIRE_OK(ts);
    // Whatever the timing, the flusher has committed since the snapshot.
    for (;;) {
        {
            std::lock_guard<std::mutex> guard(engine.lock);
            if (engine.batches >= batches_at_snapshot + 3) {
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

    // Catch up without the lock: replay what was committed since, round after round.
    int rounds = 0, replays = 0;
    for (; rounds < 20; rounds++) {
        const auto start = getHeader(*src);
        REQUIRE_OK(seek(*src, Direction::End));
        const auto end = getHeader(*src);
        if (end.headerPosition == start.headerPosition) {
            break;
        }
        REQUIRE_OK(seek(*src, cs_off_t(start.headerPosition)));
        REQUIRE_OK(replay(*src, *dst, uint64_t(-1), end.headerPosition,
                          [&](Db&, Db&, const DocInfo*, const DocInfo*) {
                              replays++;
                              return COUCHSTORE_SUCCESS;
                          },
                          {}));
        CHECK_EQ(getHeader(*src).headerPosition, end.headerPosition);
    }
    CHECK(rounds >= 1);
    CHECK(replays > 0);

    // The last delta under the lock, then the switch.
    {
        std::lock_guard<std::mutex> guard(engine.lock);
        CHECK(engine.batches > batches_at_snapshot);
        const auto start = getHeader(*src);
        REQUIRE_OK(seek(*src, Direction::End));
        const auto end = getHeader(*src);
        if (end.headerPosition != start.headerPosition) {
            REQUIRE_OK(seek(*src, cs_off_t(start.headerPosition)));
            REQUIRE_OK(replay(*src, *dst, uint64_t(-1), end.headerPosition, {}, {}));
        }
        // The compacted file equals the source's newest header.
        const auto compacted = getHeader(*dst);
        CHECK_EQ(compacted.updateSeqNum, end.updateSeqNum);
        CHECK_EQ(compacted.docCount, end.docCount);
        CHECK_EQ(compacted.deletedCount, end.deletedCount);
        CHECK_EQ(compacted.timestamp, end.timestamp);
        CHECK_EQ(differences(*dst, engine.committed), 0);
        CHECK(compacted.fileSize < end.fileSize);
        dst.reset();
        src.reset();
        CHECK_EQ(std::rename(target.c_str(), source.c_str()), 0);
        engine.writer.reset();
        auto [s, db] = openDatabase(source, 0);
        REQUIRE_OK(s);
        engine.writer = std::move(db);
        switched = true;
    }
    stop = true;
    flusher.join();
    CHECK(!failed);
    CHECK(after_switch >= 3);
    // Everything committed before and after the switch is in the new file.
    std::lock_guard<std::mutex> guard(engine.lock);
    auto [s, reopened] = openDatabase(source, COUCHSTORE_OPEN_FLAG_RDONLY);
    REQUIRE_OK(s);
    CHECK_EQ(differences(*reopened, engine.committed), 0);
    engine.writer.reset();
}

RUN_TESTS(T(compaction_beside_a_flusher_with_seek_get_header_and_replay))
