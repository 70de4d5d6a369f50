/* Process-wide settings (ours): the shared node cache's budget and the compaction rate
 * limit, as a C user sets and observes them. */
#include <libcouchstore/couch_db.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

static sized_buf sb(const char *s) {
    sized_buf b = {(char *)s, strlen(s)};
    return b;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* `n` docs with `body_len`-byte bodies in batches of 500, committed. */
static const char *make_db(const char *name, int n, size_t body_len) {
    const char *path = tmp_path(name);
    Db *db = NULL;
    if (couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db)) return NULL;
    static char ids[500][16];
    char *body = malloc(body_len);
    memset(body, 'b', body_len);
    Doc docs[500];
    DocInfo infos[500];
    Doc *dp[500];
    DocInfo *ip[500];
    for (int start = 0; start < n; start += 500) {
        int k = 0;
        for (; k < 500 && start + k < n; k++) {
            snprintf(ids[k], sizeof ids[k], "key-%07d", start + k);
            docs[k] = (Doc){sb(ids[k]), {body, body_len}};
            infos[k] = (DocInfo){sb(ids[k]), 0, 1, sb("m"), 0, 0, 0, 0};
            dp[k] = &docs[k];
            ip[k] = &infos[k];
        }
        if (couchstore_save_documents(db, dp, ip, (unsigned)k, 0)) return NULL;
    }
    free(body);
    if (couchstore_commit(db)) return NULL;
    couchstore_close_file(db);
    couchstore_free_db(db);
    return path;
}

/* Looks up every 7th doc of `path` and checks it is there. */
static int read_some(const char *path, int n) {
    Db *db = NULL;
    if (couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db)) return -1;
    int found = 0;
    char id[16];
    for (int i = 0; i < n; i += 7) {
        snprintf(id, sizeof id, "key-%07d", i);
        DocInfo *info = NULL;
        if (couchstore_docinfo_by_id(db, id, strlen(id), &info) == COUCHSTORE_SUCCESS) {
            found++;
            couchstore_free_docinfo(info);
        }
    }
    couchstore_close_file(db);
    couchstore_free_db(db);
    return found;
}

TEST(cache_budget_is_set_read_back_and_respected) {
    size_t before = couchstore_get_cache_budget();
    CHECK(before > 0);
    const char *path = make_db("cache.couch", 20000, 16);
    CHECK(path != NULL);
    if (!path) return;
    /* Off: nothing is kept, and reads still find everything. */
    couchstore_set_cache_budget(0);
    CHECK_EQ(couchstore_get_cache_budget(), 0);
    CHECK_EQ(couchstore_get_cache_bytes(), 0);
    CHECK_EQ(read_some(path, 20000), (20000 + 6) / 7);
    CHECK_EQ(couchstore_get_cache_bytes(), 0);
    /* A budget: reads fill the cache, never far beyond it (16 shards may each hold one
     * entry past their share). */
    size_t budget = 64 * 1024;
    couchstore_set_cache_budget(budget);
    CHECK_EQ(couchstore_get_cache_budget(), budget);
    CHECK_EQ(read_some(path, 20000), (20000 + 6) / 7);
    CHECK(couchstore_get_cache_bytes() > 0);
    CHECK(couchstore_get_cache_bytes() <= budget + 16 * (4096 + 128));
    /* Shrinking drops what lies beyond at once. */
    couchstore_set_cache_budget(0);
    CHECK_EQ(couchstore_get_cache_bytes(), 0);
    couchstore_set_cache_budget(before);
    CHECK_EQ(couchstore_get_cache_budget(), before);
}

TEST(online_options_default_to_the_process_wide_rate_limit) {
    couchstore_online_options o;
    memset(&o, 0xff, sizeof o);
    couchstore_online_options_init(&o);
    CHECK_EQ(o.max_bytes_per_sec, 0);
    uint64_t before = couchstore_get_compaction_rate_limit();
    couchstore_set_compaction_rate_limit(12345678);
    CHECK_EQ(couchstore_get_compaction_rate_limit(), 12345678);
    couchstore_set_compaction_rate_limit(0);
    CHECK_EQ(couchstore_get_compaction_rate_limit(), 0);
    couchstore_set_compaction_rate_limit(before);
}

TEST(rate_limited_offline_compaction_is_held_to_the_limit) {
    /* About 2 MiB of bodies. At 2 MiB/s the compaction reads and writes them (4 MiB)
     * in no less than about two seconds, less a 50 ms burst; without the flag, the
     * same limit does not apply. Only a lower bound is checked: a slow machine only
     * makes it longer. */
    const char *src = make_db("limited.couch", 2000, 1024);
    CHECK(src != NULL);
    if (!src) return;
    uint64_t before = couchstore_get_compaction_rate_limit();
    couchstore_set_compaction_rate_limit(2u << 20);
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(src, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    const char *target = tmp_path("limited.compact");
    double t0 = now_s();
    REQUIRE_OK(couchstore_compact_db_ex(db, target, COUCHSTORE_COMPACT_FLAG_RATE_LIMITED, NULL, NULL,
                                        NULL, couchstore_get_default_file_ops()));
    double limited = now_s() - t0;
    CHECK(limited >= 1.5);
    CHECK_EQ(read_some(target, 2000), (2000 + 6) / 7);
    const char *free_target = tmp_path("unlimited.compact");
    REQUIRE_OK(couchstore_compact_db_ex(db, free_target, 0, NULL, NULL, NULL,
                                        couchstore_get_default_file_ops()));
    CHECK_EQ(read_some(free_target, 2000), (2000 + 6) / 7);
    couchstore_close_file(db);
    couchstore_free_db(db);
    couchstore_set_compaction_rate_limit(before);
    printf("  rate-limited compaction of 2 MiB at 2 MiB/s: %.2f s\n", limited);
}

RUN_TESTS(T(cache_budget_is_set_read_back_and_respected),
          T(online_options_default_to_the_process_wide_rate_limit),
          T(rate_limited_offline_compaction_is_held_to_the_limit))
