/* Concurrent compaction through the C API: a flusher thread saves and commits batches
 * (updates and deletions of the same keys, local document updates) under the engine's
 * mutex while couchstore_compact_online compacts on the main thread with its own
 * handles. At the switch the compacted file must equal the source's newest header;
 * afterwards the flusher continues on the new file and nothing committed is missing. */
#include <libcouchstore/couch_db.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"

#define KEYS 1500

/* The engine's lock, fair (tickets served in order) as the driver's pacing expects:
 * with it the flusher gets exactly one commit between two holds. */
static pthread_mutex_t ticket_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ticket_cv = PTHREAD_COND_INITIALIZER;
static unsigned long next_ticket, serving;

static void engine_acquire(void) {
    pthread_mutex_lock(&ticket_mu);
    unsigned long mine = next_ticket++;
    while (serving != mine) pthread_cond_wait(&ticket_cv, &ticket_mu);
    pthread_mutex_unlock(&ticket_mu);
}

static void engine_release(void) {
    pthread_mutex_lock(&ticket_mu);
    serving++;
    pthread_cond_broadcast(&ticket_cv);
    pthread_mutex_unlock(&ticket_mu);
}

static int engine_is_free(void) {
    pthread_mutex_lock(&ticket_mu);
    int free = next_ticket == serving;
    pthread_mutex_unlock(&ticket_mu);
    return free;
}
static Db *writer;
static const char *source_path;
static uint64_t expected_rev[KEYS]; /* round + 1 of the last write; 0: never written */
static int expected_deleted[KEYS];
static uint64_t expected_local_round;
static volatile int stop_flusher, switched, batches_after_switch, flusher_failed, compare_failures;
static int batch_size = 100;
static int flushed_batches; /* guarded by `engine` */
static int pause_us = 0;
static long long lock_hold_us = -1; /* -1: the default budget */
static uint64_t docs_per_hold;      /* 0: a time budget */
static int backlog_batches = 2;     /* flusher commits waited for during the snapshot */
static int follow_writers = 1;      /* couchstore_online_options.follow_writers */

static void body_for(char *out, size_t n, int key, uint64_t round) {
    snprintf(out, n, "key %d round %llu %.*s", key, (unsigned long long)round, key % 40, "........................................");
}

static sized_buf sb(const char *s) {
    sized_buf b = {(char *)s, strlen(s)};
    return b;
}

/* One batch: save, local doc, commit; then record what is now committed. */
static int flush_batch(uint64_t round) {
    Doc docs[512];
    DocInfo infos[512];
    Doc *dp[512];
    DocInfo *ip[512];
    char ids[512][16], bodies[512][96];
    int keys[512];
    for (int j = 0; j < batch_size; j++) {
        int k = (int)((round * 7919 + (uint64_t)j * 104729) % KEYS);
        keys[j] = k;
        snprintf(ids[j], 16, "key-%05d", k);
        body_for(bodies[j], 96, k, round);
        int del = (round + (uint64_t)j) % 7 == 0;
        docs[j].id = sb(ids[j]);
        docs[j].data = sb(bodies[j]);
        memset(&infos[j], 0, sizeof infos[j]);
        infos[j].id = sb(ids[j]);
        infos[j].rev_seq = round + 1;
        infos[j].deleted = del;
        dp[j] = del ? NULL : &docs[j];
        ip[j] = &infos[j];
    }
    /* Keys may repeat within a batch: the last copy wins, as recorded below. */
    if (couchstore_save_documents(writer, dp, ip, (unsigned)batch_size, 0)) return -1;
    char json[64];
    snprintf(json, sizeof json, "{\"round\":%llu}", (unsigned long long)round);
    LocalDoc l = {sb("_local/vbstate"), sb(json), 0};
    if (couchstore_save_local_document(writer, &l)) return -1;
    if (couchstore_commit(writer)) return -1;
    for (int j = 0; j < batch_size; j++) {
        expected_rev[keys[j]] = round + 1;
        expected_deleted[keys[j]] = dp[j] == NULL;
    }
    expected_local_round = round;
    return 0;
}

static void *flusher(void *arg) {
    uint64_t round = *(uint64_t *)arg;
    while (!stop_flusher || batches_after_switch < 5) {
        engine_acquire();
        if (flush_batch(round++)) flusher_failed = 1;
        flushed_batches++;
        if (switched) batches_after_switch++;
        engine_release();
        if (flusher_failed) break;
        if (pause_us) {
            struct timespec ts = {0, pause_us * 1000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* Checks `db` against the expected state: every key's rev, deleted flag and body, the
 * local doc, and the counters. Returns the number of mismatches. */
static int check_expected(Db *db) {
    int bad = 0;
    uint64_t live = 0, dead = 0;
    for (int k = 0; k < KEYS; k++) {
        if (!expected_rev[k]) continue;
        char id[16], want[96];
        snprintf(id, 16, "key-%05d", k);
        DocInfo *info = NULL;
        if (couchstore_docinfo_by_id(db, id, strlen(id), &info)) {
            bad++;
            continue;
        }
        bad += info->rev_seq != expected_rev[k];
        bad += info->deleted != expected_deleted[k];
        if (expected_deleted[k]) {
            dead++;
        } else {
            live++;
            Doc *doc = NULL;
            body_for(want, sizeof want, k, expected_rev[k] - 1);
            if (couchstore_open_doc_with_docinfo(db, info, &doc, 0) || doc->data.size != strlen(want) ||
                memcmp(doc->data.buf, want, doc->data.size) != 0)
                bad++;
            couchstore_free_document(doc);
        }
        couchstore_free_docinfo(info);
    }
    DbInfo dbi;
    bad += couchstore_db_info(db, &dbi) != COUCHSTORE_SUCCESS;
    bad += dbi.doc_count != live || dbi.deleted_count != dead;
    LocalDoc *l = NULL;
    char json[64];
    snprintf(json, sizeof json, "{\"round\":%llu}", (unsigned long long)expected_local_round);
    if (couchstore_open_local_document(db, "_local/vbstate", 14, &l) || l->json.size != strlen(json) ||
        memcmp(l->json.buf, json, l->json.size) != 0)
        bad++;
    couchstore_free_local_document(l);
    return bad;
}

/* The most flusher batches committed between two of the driver's holds (from its
 * second hold on: before the first, the snapshot's copy lets a backlog build). The lock
 * is fair, but the flusher may commit more than once while the driver is between holds
 * (after a hold that drained the backlog it makes the target durable first), and a
 * hold may then take what the flusher added and an eighth more. */
static int driver_locks, last_lock_batches, most_batches_between_holds;

/* When set, the driver's locks after its first wait for the flusher to commit one more
 * batch before they take the lock: a batch saved and committed while the driver waits. */
static int lock_after_a_batch;

static void engine_lock(void *ctx) {
    (void)ctx;
    if (lock_after_a_batch && driver_locks >= 1) {
        engine_acquire();
        int start = flushed_batches, now = start;
        engine_release();
        struct timespec ts = {0, 200000L};
        while (now == start) {
            nanosleep(&ts, NULL);
            engine_acquire();
            now = flushed_batches;
            engine_release();
        }
    }
    engine_acquire();
    if (++driver_locks > 2 && flushed_batches - last_lock_batches > most_batches_between_holds)
        most_batches_between_holds = flushed_batches - last_lock_batches;
    last_lock_batches = flushed_batches;
}

static void engine_unlock(void *ctx) {
    (void)ctx;
    engine_release();
}

/* Under the engine's lock: check the compacted file, then rename it over the source
 * and swap the flusher's handle. */
static couchstore_error_t engine_switch(const char *target, void *ctx) {
    (void)ctx;
    Db *compacted = NULL, *old = NULL;
    if (couchstore_open_db(target, COUCHSTORE_OPEN_FLAG_RDONLY, &compacted)) return COUCHSTORE_ERROR_OPEN_FILE;
    if (couchstore_open_db(source_path, COUCHSTORE_OPEN_FLAG_RDONLY, &old)) return COUCHSTORE_ERROR_OPEN_FILE;
    DbInfo a, b;
    couchstore_db_info(compacted, &a);
    couchstore_db_info(old, &b);
    compare_failures += a.last_sequence != b.last_sequence;
    compare_failures += a.purge_seq != b.purge_seq;
    compare_failures += check_expected(compacted);
    compare_failures += check_expected(old);
    couchstore_close_file(compacted);
    couchstore_free_db(compacted);
    couchstore_close_file(old);
    couchstore_free_db(old);
    if (rename(target, source_path) != 0) return COUCHSTORE_ERROR_WRITE;
    couchstore_close_file(writer);
    couchstore_free_db(writer);
    writer = NULL;
    if (couchstore_open_db(source_path, 0, &writer)) return COUCHSTORE_ERROR_OPEN_FILE;
    switched = 1;
    return COUCHSTORE_SUCCESS;
}

/* In the compacting phase, waits until the flusher has committed backlog_batches more, so a
 * catch-up round has a backlog to replay whatever the timing. */
static int wait_for_backlog(int phase, uint64_t docs, uint64_t bytes, void *ctx) {
    (void)docs, (void)bytes;
    int *waited = ctx;
    if (phase == COUCHSTORE_ONLINE_PHASE_COMPACTING && !*waited) {
        *waited = 1;
        engine_acquire();
        int start = flushed_batches, now = start;
        engine_release();
        struct timespec ts = {0, 1000000L};
        while (now < start + backlog_batches) {
            nanosleep(&ts, NULL);
            engine_acquire();
            now = flushed_batches;
            engine_release();
        }
    }
    return 0;
}

static void reset_expected(void) {
    memset(expected_rev, 0, sizeof expected_rev);
    memset(expected_deleted, 0, sizeof expected_deleted);
    expected_local_round = 0;
}

static void run_online(const char *name, int batch, int pause, uint64_t max_bytes, uint64_t max_docs,
                       uint32_t rounds, couchstore_online_stats *stats) {
    source_path = tmp_path(name);
    char target[512];
    snprintf(target, sizeof target, "%s.compact", source_path);
    reset_expected();
    stop_flusher = switched = batches_after_switch = flusher_failed = compare_failures = 0;
    driver_locks = last_lock_batches = most_batches_between_holds = 0;
    batch_size = batch;
    pause_us = pause;
    REQUIRE_OK(couchstore_open_db(source_path, COUCHSTORE_OPEN_FLAG_CREATE, &writer));
    uint64_t round = 0;
    for (; round < 20; round++) CHECK_EQ(flush_batch(round), 0);
    pthread_t t;
    pthread_create(&t, NULL, flusher, &round);
    couchstore_online_options o;
    couchstore_online_options_init(&o);
    o.lock = engine_lock;
    o.unlock = engine_unlock;
    o.switch_file = engine_switch;
    o.max_locked_bytes = max_bytes;
    o.max_locked_docs = max_docs;
    o.max_rounds = rounds;
    o.flush_threshold = 32 * 1024;
    if (lock_hold_us >= 0) o.max_lock_hold_us = (uint64_t)lock_hold_us;
    o.max_docs_per_hold = docs_per_hold;
    o.follow_writers = follow_writers;
    int waited = 0;
    if (max_docs == 0) {
        o.progress = wait_for_backlog;
        o.progress_ctx = &waited;
    }
    CHECK_EQ(couchstore_compact_online(source_path, target, 0, NULL, NULL, NULL, &o, stats), COUCHSTORE_SUCCESS);
    stop_flusher = 1;
    pthread_join(t, NULL);
    CHECK(switched);
    CHECK_EQ(flusher_failed, 0);
    CHECK_EQ(compare_failures, 0);
    CHECK(access(target, F_OK) != 0);
    /* Everything committed, before and after the switch, is in the file. */
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(source_path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    CHECK_EQ(check_expected(db), 0);
    couchstore_close_file(db);
    couchstore_free_db(db);
    couchstore_close_file(writer);
    couchstore_free_db(writer);
    writer = NULL;
    CHECK(stats->docs_copied > 0);
    CHECK(stats->total_ns >= stats->lock_hold_ns);
    CHECK(stats->longest_lock_hold_ns >= stats->lock_hold_ns);
}

TEST(options_defaults) {
    couchstore_online_options o;
    memset(&o, 0xab, sizeof o);
    couchstore_online_options_init(&o);
    CHECK(o.lock == NULL && o.unlock == NULL && o.switch_file == NULL && o.progress == NULL);
    CHECK_EQ(o.max_rounds, 10);
    CHECK_EQ(o.max_lock_hold_us, 5000);
    CHECK_EQ(o.max_paced_rounds, 0);
    CHECK_EQ(o.max_docs_per_hold, 0);
    CHECK_EQ(o.follow_writers, 1);
}

TEST(following_the_flusher) {
    /* The flusher's handle, opened through the C API by the same name, tells the
     * compaction its batches as it saves them. The driver's final lock is taken only
     * after the flusher has saved and committed one more batch: that batch is applied
     * and confirmed by its commit while the driver waits, and the final hold replays
     * nothing from the file. The flusher pauses 100 ms between batches, so that the
     * compaction keeps up even under valgrind (which runs one thread at a time, tens of
     * times slower); one it could not keep up with would rightly fall back to the
     * file. */
    couchstore_online_stats s;
    lock_after_a_batch = 1;
    docs_per_hold = 1000;
    run_online("follow.couch", 100, 100000, 0, 0, 2, &s);
    lock_after_a_batch = 0;
    docs_per_hold = 0;
    CHECK(s.docs_followed >= 100);
    CHECK(s.followed_commits >= 1);
    CHECK_EQ(s.docs_replayed_locked, 0);
    CHECK_EQ(s.paced_rounds, 0);
    CHECK(s.docs_followed_locked <= 100);
    CHECK(s.final_follow_ns + s.final_replay_ns + s.final_commit_ns + s.final_switch_ns <= s.lock_hold_ns);
}

TEST(paced_rounds_under_a_small_budget) {
    /* No round without the lock and a budget of 250 documents a hold (the flusher
     * commits 100 at a time), the flusher seen through the file alone (as one in
     * another process): the backlog goes through paced rounds (the flusher
     * committing between them), none replaying more than the budget (or than what the
     * flusher added between two holds and an eighth), then the final round. */
    couchstore_online_stats s;
    docs_per_hold = 250;
    backlog_batches = 20;
    follow_writers = 0;
    run_online("paced.couch", 100, 0, 0, 0, 0, &s);
    docs_per_hold = 0;
    backlog_batches = 2;
    follow_writers = 1;
    CHECK_EQ(s.docs_followed, 0);
    CHECK_EQ(s.catch_up_rounds, 0);
    CHECK(s.paced_rounds >= 2);
    CHECK(s.docs_replayed_paced > 0);
    /* At most the budget, unless the flusher added more than that between two holds. */
    uint64_t added = (uint64_t)most_batches_between_holds * 100;
    CHECK(s.most_docs_per_hold <= (added >= 250 ? added + added / 8 + 1 : 250));
    CHECK(s.paced_lock_ns > 0 && s.pacing_ns >= s.paced_lock_ns);
    CHECK(s.flusher_docs_per_sec_paced > 0);
    /* The final hold is its replay, making the target durable, and the switch. */
    CHECK(s.final_commit_ns > 0);
    CHECK(s.final_replay_ns + s.final_commit_ns + s.final_switch_ns <= s.lock_hold_ns);
    CHECK(s.lock_hold_ns <= s.longest_lock_hold_ns);
}

TEST(remove_file_gradually) {
    const char *path = tmp_path("old.couch");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    static char block[1 << 20];
    memset(block, 7, sizeof block);
    for (int i = 0; i < 40; i++) CHECK_EQ(fwrite(block, 1, sizeof block, f), sizeof block);
    fclose(f);
    CHECK_EQ(couchstore_remove_file_gradually(path), COUCHSTORE_SUCCESS);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ(couchstore_remove_file_gradually(path), COUCHSTORE_ERROR_NO_SUCH_FILE);
    CHECK_EQ(couchstore_remove_file_gradually(NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
}

TEST(tiny_thresholds) {
    couchstore_online_stats s;
    run_online("tiny.couch", 100, 1000, 0, 0, 3, &s);
    CHECK(s.catch_up_rounds >= 1);
}

TEST(large_thresholds) {
    couchstore_online_stats s;
    run_online("large.couch", 100, 500, ~0ULL, ~0ULL, 10, &s);
    CHECK_EQ(s.catch_up_rounds, 0);
}

TEST(flusher_faster_than_compactor) {
    couchstore_online_stats s;
    run_online("fast.couch", 200, 0, 1, 1, 2, &s);
    CHECK(s.catch_up_rounds <= 2);
}

static int cancel_in_phase;
static int cancel_progress(int phase, uint64_t docs, uint64_t bytes, void *ctx) {
    (void)docs, (void)bytes, (void)ctx;
    return phase == cancel_in_phase;
}

static couchstore_error_t never_switch(const char *target, void *ctx) {
    (void)target, (void)ctx;
    return COUCHSTORE_ERROR_WRITE;
}

TEST(cancel_and_errors_release_the_lock) {
    source_path = tmp_path("cancel.couch");
    char target[512];
    snprintf(target, sizeof target, "%s.compact", source_path);
    batch_size = 100;
    reset_expected();
    REQUIRE_OK(couchstore_open_db(source_path, COUCHSTORE_OPEN_FLAG_CREATE, &writer));
    for (uint64_t r = 0; r < 10; r++) CHECK_EQ(flush_batch(r), 0);
    couchstore_online_options o;
    couchstore_online_options_init(&o);
    o.lock = engine_lock;
    o.unlock = engine_unlock;
    o.switch_file = never_switch;
    o.progress = cancel_progress;
    for (cancel_in_phase = COUCHSTORE_ONLINE_PHASE_COMPACTING; cancel_in_phase <= COUCHSTORE_ONLINE_PHASE_SWITCHING;
         cancel_in_phase++) {
        /* No backlog: no catch-up nor paced round. */
        if (cancel_in_phase == COUCHSTORE_ONLINE_PHASE_CATCHING_UP) continue;
        CHECK_EQ(couchstore_compact_online(source_path, target, 0, NULL, NULL, NULL, &o, NULL), COUCHSTORE_ERROR_CANCEL);
        CHECK(access(target, F_OK) != 0);
        CHECK(engine_is_free());
    }
    o.progress = NULL;
    CHECK_EQ(couchstore_compact_online(source_path, target, 0, NULL, NULL, NULL, &o, NULL), COUCHSTORE_ERROR_WRITE);
    CHECK(access(target, F_OK) != 0);
    CHECK(engine_is_free());
    o.switch_file = NULL;
    CHECK_EQ(couchstore_compact_online(source_path, target, 0, NULL, NULL, NULL, &o, NULL),
             COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_compact_online(source_path, target, 0, NULL, NULL, NULL, NULL, NULL),
             COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    /* The source still holds everything. */
    CHECK_EQ(check_expected(writer), 0);
    couchstore_close_file(writer);
    couchstore_free_db(writer);
    writer = NULL;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int switch_calls;
static couchstore_error_t count_switch(const char *target, void *ctx) {
    (void)target, (void)ctx;
    switch_calls++;
    return COUCHSTORE_SUCCESS;
}

TEST(existing_targets_are_never_removed) {
    /* The source as its own target, and an unrelated file: refused with OPEN_FILE,
     * both untouched. An empty file (a name from mkstemp) is used as the target. */
    source_path = tmp_path("keep.couch");
    batch_size = 100;
    reset_expected();
    REQUIRE_OK(couchstore_open_db(source_path, COUCHSTORE_OPEN_FLAG_CREATE, &writer));
    for (uint64_t r = 0; r < 10; r++) CHECK_EQ(flush_batch(r), 0);
    long source_size = file_size(source_path);
    const char *unrelated = tmp_path("keep.txt");
    FILE *f = fopen(unrelated, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs("not a database", f);
    fclose(f);
    couchstore_online_options o;
    couchstore_online_options_init(&o);
    o.lock = engine_lock;
    o.unlock = engine_unlock;
    o.switch_file = count_switch;
    switch_calls = 0;
    CHECK_EQ(couchstore_compact_online(source_path, source_path, 0, NULL, NULL, NULL, &o, NULL),
             COUCHSTORE_ERROR_OPEN_FILE);
    CHECK_EQ(file_size(source_path), source_size);
    CHECK_EQ(couchstore_compact_online(source_path, unrelated, 0, NULL, NULL, NULL, &o, NULL),
             COUCHSTORE_ERROR_OPEN_FILE);
    CHECK_EQ(file_size(unrelated), 14);
    CHECK_EQ(switch_calls, 0);
    CHECK(engine_is_free());

    const char *empty = tmp_path("keep.couch.compact");
    f = fopen(empty, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fclose(f);
    o.switch_file = never_switch;
    CHECK_EQ(couchstore_compact_online(source_path, empty, 0, NULL, NULL, NULL, &o, NULL), COUCHSTORE_ERROR_WRITE);
    CHECK_EQ(file_size(empty), 0); /* emptied again, not removed */
    o.switch_file = count_switch;
    REQUIRE_OK(couchstore_compact_online(source_path, empty, 0, NULL, NULL, NULL, &o, NULL));
    CHECK_EQ(switch_calls, 1);
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(empty, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    CHECK_EQ(check_expected(db), 0);
    couchstore_close_file(db);
    couchstore_free_db(db);
    /* The source still holds everything. */
    CHECK_EQ(check_expected(writer), 0);
    couchstore_close_file(writer);
    couchstore_free_db(writer);
    writer = NULL;
}

static int precopies;
static couchstore_error_t count_precopy(Db *s, Db *t, const DocInfo *info, const LocalDoc *local, void *ctx) {
    (void)s, (void)t, (void)ctx;
    CHECK((info == NULL) != (local == NULL));
    precopies++;
    return COUCHSTORE_SUCCESS;
}

TEST(replay_between_headers) {
    /* Compact at header H1, then replay H1 -> H2: the result equals the source at H2. */
    source_path = tmp_path("replay.couch");
    char target[512];
    snprintf(target, sizeof target, "%s.compact", source_path);
    unlink(target);
    batch_size = 100;
    reset_expected();
    REQUIRE_OK(couchstore_open_db(source_path, COUCHSTORE_OPEN_FLAG_CREATE, &writer));
    for (uint64_t r = 0; r < 10; r++) CHECK_EQ(flush_batch(r), 0);
    Db *src = NULL;
    REQUIRE_OK(couchstore_open_db(source_path, COUCHSTORE_OPEN_FLAG_RDONLY, &src));
    REQUIRE_OK(couchstore_compact_db(src, target));
    for (uint64_t r = 10; r < 25; r++) CHECK_EQ(flush_batch(r), 0);
    uint64_t end = couchstore_get_header_position(writer);
    Db *dst = NULL;
    REQUIRE_OK(couchstore_open_db(target, 0, &dst));
    REQUIRE_OK(couchstore_replay(src, dst, end, 4096, count_precopy, NULL, NULL, NULL));
    CHECK_EQ(couchstore_get_header_position(src), end);
    CHECK(precopies > 15 * 50);
    CHECK_EQ(check_expected(dst), 0);
    DbInfo a, b;
    REQUIRE_OK(couchstore_db_info(dst, &a));
    REQUIRE_OK(couchstore_db_info(writer, &b));
    CHECK_EQ(a.last_sequence, b.last_sequence);
    /* Replaying backwards is refused. */
    CHECK_EQ(couchstore_replay(src, dst, 0, 0, NULL, NULL, NULL, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    couchstore_close_file(dst);
    couchstore_free_db(dst);
    couchstore_close_file(src);
    couchstore_free_db(src);
    couchstore_close_file(writer);
    couchstore_free_db(writer);
    writer = NULL;
}

RUN_TESTS(T(options_defaults), T(tiny_thresholds), T(large_thresholds), T(flusher_faster_than_compactor),
          T(paced_rounds_under_a_small_budget), T(following_the_flusher), T(cancel_and_errors_release_the_lock),
          T(replay_between_headers),
          T(remove_file_gradually), T(existing_targets_are_never_removed))
