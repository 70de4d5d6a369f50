/* One writer handle and several reader handles on the same file, each on its own
 * thread. Readers re-seek to the newest header (and now and then reopen the file)
 * while the writer commits, and must always see a consistent committed state: every document up to the header's
 * update_seq readable, with the body the writer gave it, and counts that add up. */
#include <libcouchstore/couch_db.h>
#include <pthread.h>

#include "check.h"

#define BATCHES 60
#define PER_BATCH 50
#define READERS 3

static const char *path;
static volatile int writer_done;
static int reader_errors;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void body_for(char *out, size_t n, uint64_t seq) { snprintf(out, n, "body for seq %llu", (unsigned long long)seq); }

static void *writer(void *arg) {
    (void)arg;
    Db *db = NULL;
    if (couchstore_open_db(path, 0, &db) != COUCHSTORE_SUCCESS) {
        writer_done = -1;
        return NULL;
    }
    uint64_t seq = 0;
    for (int b = 0; b < BATCHES; b++) {
        Doc docs[PER_BATCH];
        DocInfo infos[PER_BATCH];
        Doc *dp[PER_BATCH];
        DocInfo *ip[PER_BATCH];
        char ids[PER_BATCH][32], bodies[PER_BATCH][64];
        for (int i = 0; i < PER_BATCH; i++) {
            /* Ids repeat across batches, so later batches update earlier documents. */
            snprintf(ids[i], 32, "key-%04d", (b * PER_BATCH + i) % 1200);
            body_for(bodies[i], 64, ++seq);
            docs[i].id.buf = ids[i];
            docs[i].id.size = strlen(ids[i]);
            docs[i].data.buf = bodies[i];
            docs[i].data.size = strlen(bodies[i]);
            memset(&infos[i], 0, sizeof infos[i]);
            infos[i].id = docs[i].id;
            infos[i].rev_seq = (uint64_t)b + 1;
            dp[i] = &docs[i];
            ip[i] = &infos[i];
        }
        if (couchstore_save_documents(db, dp, ip, PER_BATCH, 0) != COUCHSTORE_SUCCESS ||
            couchstore_commit(db) != COUCHSTORE_SUCCESS) {
            writer_done = -1;
            break;
        }
    }
    couchstore_close_file(db);
    couchstore_free_db(db);
    if (writer_done == 0) writer_done = 1;
    return NULL;
}

struct check_ctx {
    Db *db;
    int bad;
    uint64_t seen;
};

static int verify_cb(Db *db, DocInfo *info, void *ctx) {
    struct check_ctx *c = ctx;
    Doc *doc = NULL;
    char want[64];
    body_for(want, sizeof want, info->db_seq);
    if (couchstore_open_doc_with_docinfo(db, info, &doc, 0) != COUCHSTORE_SUCCESS ||
        doc->data.size != strlen(want) || memcmp(doc->data.buf, want, doc->data.size) != 0) {
        c->bad++;
    }
    couchstore_free_document(doc);
    c->seen++;
    return 0;
}

/* Checks the state the handle shows; returns nonzero if it is inconsistent. */
static int verify(Db *db, uint64_t *last_seq) {
    DbInfo info;
    struct check_ctx c = {db, 0, 0};
    int bad = couchstore_db_info(db, &info) != COUCHSTORE_SUCCESS;
    bad |= info.last_sequence < *last_seq; /* never goes back in time */
    bad |= couchstore_changes_since(db, 0, 0, verify_cb, &c) != COUCHSTORE_SUCCESS;
    bad |= c.bad != 0;
    bad |= c.seen != info.doc_count; /* one by-seq entry per live document */
    bad |= info.doc_count != (info.last_sequence < 1200 ? info.last_sequence : 1200);
    *last_seq = info.last_sequence;
    return bad;
}

static void note_error(void) {
    pthread_mutex_lock(&lock);
    reader_errors++;
    pthread_mutex_unlock(&lock);
}

/* Keeps one handle open and re-seeks it to the newest header; every 10th round it
 * reopens the file instead. */
static void *reader(void *arg) {
    (void)arg;
    uint64_t last_seq = 0;
    int rounds = 0, moved = 0;
    Db *db = NULL;
    if (couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db) != COUCHSTORE_SUCCESS) {
        note_error();
        return NULL;
    }
    while (writer_done == 0 || rounds < 3) {
        uint64_t before = couchstore_get_header_position(db);
        if (rounds % 10 == 9) {
            couchstore_close_file(db);
            couchstore_free_db(db);
            if (couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db) != COUCHSTORE_SUCCESS) {
                note_error();
                return NULL;
            }
        } else if (couchstore_seek_newest_header(db) != COUCHSTORE_SUCCESS) {
            note_error();
            break;
        }
        moved += couchstore_get_header_position(db) != before;
        if (verify(db, &last_seq)) note_error();
        rounds++;
    }
    couchstore_close_file(db);
    couchstore_free_db(db);
    /* The reader did see the writer's commits as they came. */
    if (moved == 0) note_error();
    return NULL;
}

TEST(one_writer_many_readers) {
    path = tmp_path("threads.couch");
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    pthread_t w, r[READERS];
    pthread_create(&w, NULL, writer, NULL);
    for (int i = 0; i < READERS; i++) pthread_create(&r[i], NULL, reader, NULL);
    pthread_join(w, NULL);
    for (int i = 0; i < READERS; i++) pthread_join(r[i], NULL);
    CHECK_EQ(writer_done, 1);
    CHECK_EQ(reader_errors, 0);
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(db, &info));
    CHECK_EQ(info.last_sequence, BATCHES * PER_BATCH);
    CHECK_EQ(info.doc_count, 1200);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

RUN_TESTS(T(one_writer_many_readers))
