/* Offline compaction through the C API: every flag and hook path, and the errors. */
#include <libcouchstore/couch_db.h>
#include <sys/stat.h>

#include "check.h"

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static sized_buf sb(const char *s) {
    sized_buf b = {(char *)s, strlen(s)};
    return b;
}

/* A source with docs key-000..key-099 (bodies "body-N", every 3rd one 300 bytes),
 * every 10th one deleted afterwards, two local docs, committed. */
static const char *make_source(const char *name, couchstore_open_flags extra) {
    const char *path = tmp_path(name);
    Db *db = NULL;
    if (couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE | extra, &db)) return NULL;
    char id[16], body[400];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "key-%03d", i);
        int n = snprintf(body, sizeof body, "body-%d", i);
        if (i % 3 == 0) {
            memset(body + n, 'x', 300 - n);
            n = 300;
        }
        Doc doc = {sb(id), {body, (size_t)n}};
        DocInfo di = {sb(id), 0, 1, sb("meta"), 0, 0, 0, 0};
        if (couchstore_save_document(db, &doc, &di, 0)) return NULL;
    }
    for (int i = 0; i < 100; i += 10) {
        snprintf(id, sizeof id, "key-%03d", i);
        DocInfo di = {sb(id), 0, 2, sb("meta"), 1, 0, 0, 0};
        if (couchstore_save_document(db, NULL, &di, 0)) return NULL;
    }
    LocalDoc l1 = {sb("_local/vbstate"), sb("{\"state\":\"active\"}"), 0};
    LocalDoc l2 = {sb("_local/other"), sb("{}"), 0};
    if (couchstore_save_local_document(db, &l1) || couchstore_save_local_document(db, &l2)) return NULL;
    if (couchstore_set_purge_seq(db, 5) || couchstore_commit(db)) return NULL;
    couchstore_close_file(db);
    couchstore_free_db(db);
    return path;
}

static Db *open_ro(const char *path) {
    Db *db = NULL;
    return couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db) == COUCHSTORE_SUCCESS ? db : NULL;
}

static void done(Db *db) {
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(plain_compaction_keeps_everything) {
    const char *src = make_source("plain.couch", 0);
    CHECK(src != NULL);
    if (!src) return;
    const char *dst = tmp_path("plain.compact");
    Db *s = open_ro(src);
    REQUIRE_OK(couchstore_compact_db(s, dst));
    Db *d = open_ro(dst);
    DbInfo si, di;
    REQUIRE_OK(couchstore_db_info(s, &si));
    REQUIRE_OK(couchstore_db_info(d, &di));
    CHECK_EQ(di.doc_count, 90);
    CHECK_EQ(di.deleted_count, 10);
    CHECK_EQ(di.last_sequence, si.last_sequence);
    CHECK_EQ(di.purge_seq, 5);
    CHECK(di.file_size < si.file_size);
    Doc *doc = NULL;
    REQUIRE_OK(couchstore_open_document(d, "key-043", 7, &doc, 0));
    CHECK(doc->data.size == 7 && memcmp(doc->data.buf, "body-43", 7) == 0);
    couchstore_free_document(doc);
    LocalDoc *l = NULL;
    REQUIRE_OK(couchstore_open_local_document(d, "_local/vbstate", 14, &l));
    couchstore_free_local_document(l);
    DocInfo *a = NULL, *b = NULL;
    REQUIRE_OK(couchstore_docinfo_by_id(s, "key-017", 7, &a));
    REQUIRE_OK(couchstore_docinfo_by_id(d, "key-017", 7, &b));
    CHECK_EQ(a->db_seq, b->db_seq);
    CHECK_EQ(a->rev_seq, b->rev_seq);
    CHECK_EQ(a->physical_size, b->physical_size);
    CHECK(a->rev_meta.size == b->rev_meta.size && memcmp(a->rev_meta.buf, b->rev_meta.buf, 4) == 0);
    couchstore_free_docinfo(a);
    couchstore_free_docinfo(b);
    done(s);
    done(d);
}

TEST(drop_deletes) {
    const char *src = make_source("dd.couch", 0);
    if (!src) return;
    const char *dst = tmp_path("dd.compact");
    Db *s = open_ro(src);
    REQUIRE_OK(couchstore_compact_db_ex(s, dst, COUCHSTORE_COMPACT_FLAG_DROP_DELETES, NULL, NULL, NULL,
                                        couchstore_get_default_file_ops()));
    Db *d = open_ro(dst);
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(d, &info));
    CHECK_EQ(info.doc_count, 90);
    CHECK_EQ(info.deleted_count, 0);
    CHECK_EQ(info.purge_seq, 6);
    done(s);
    done(d);
}

struct hook_state {
    int calls, final_calls, bodies, drops;
    int need_body_for_all;
    int fail_at;
};

static int filter(Db *target, DocInfo *info, sized_buf body, void *ctx) {
    struct hook_state *st = ctx;
    CHECK(target != NULL);
    if (info == NULL) {
        st->final_calls++;
        /* The final call may set the purge sequence of the target. */
        return couchstore_set_purge_seq(target, 1234);
    }
    st->calls++;
    if (st->fail_at && st->calls == st->fail_at) return COUCHSTORE_ERROR_CANCEL;
    if (body.buf == NULL) {
        if (st->need_body_for_all && !info->deleted) return COUCHSTORE_COMPACT_NEED_BODY;
        /* Deletions are dropped by the hook (DROP_DELETES leaves it to the hook). */
        if (info->deleted) {
            st->drops++;
            return COUCHSTORE_COMPACT_DROP_ITEM;
        }
        return COUCHSTORE_COMPACT_KEEP_ITEM;
    }
    st->bodies++;
    /* Drop the long bodies. */
    if (body.size >= 300) {
        st->drops++;
        return COUCHSTORE_COMPACT_DROP_ITEM;
    }
    CHECK(body.size > 5 && memcmp(body.buf, "body-", 5) == 0);
    return COUCHSTORE_COMPACT_KEEP_ITEM;
}

TEST(filter_hook_with_need_body) {
    const char *src = make_source("hook.couch", 0);
    if (!src) return;
    const char *dst = tmp_path("hook.compact");
    Db *s = open_ro(src);
    struct hook_state st = {0, 0, 0, 0, 1, 0};
    REQUIRE_OK(couchstore_compact_db_ex(s, dst, COUCHSTORE_COMPACT_FLAG_DROP_DELETES, filter, NULL, &st, NULL));
    CHECK_EQ(st.calls, 100 + 90); /* once per doc, again for each body asked for */
    CHECK_EQ(st.bodies, 90);
    CHECK_EQ(st.final_calls, 1);
    Db *d = open_ro(dst);
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(d, &info));
    /* 10 deletions dropped; of the 90 live docs, the 30 long ones (every 3rd; 0..99
     * step 3 = 34, less the 4 that are deleted: 0, 30, 60, 90). */
    CHECK_EQ(info.deleted_count, 0);
    CHECK_EQ(info.doc_count, 60);
    CHECK_EQ(info.purge_seq, 1234);
    done(s);
    done(d);
}

TEST(aborting_hook_removes_the_target) {
    const char *src = make_source("abort.couch", 0);
    if (!src) return;
    const char *dst = tmp_path("abort.compact");
    Db *s = open_ro(src);
    struct hook_state st = {0, 0, 0, 0, 0, 17};
    CHECK_EQ(couchstore_compact_db_ex(s, dst, 0, filter, NULL, &st, NULL), COUCHSTORE_ERROR_CANCEL);
    CHECK_EQ(st.calls, 17);
    CHECK(!exists(dst));
    /* The source is intact and still usable. */
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(s, &info));
    CHECK_EQ(info.doc_count, 90);
    Doc *doc = NULL;
    REQUIRE_OK(couchstore_open_document(s, "key-001", 7, &doc, 0));
    couchstore_free_document(doc);
    done(s);
}

static int keep_all(Db *target, DocInfo *info, sized_buf body, void *ctx) {
    (void)target, (void)info, (void)body, (void)ctx;
    return COUCHSTORE_COMPACT_KEEP_ITEM;
}

static int rewrite(DocInfo **info, const sized_buf *body) {
    CHECK(body != NULL && body->buf != NULL);
    /* Replace the DocInfo with a new one carrying longer metadata, as engines do. */
    sized_buf meta = sb("meta+extended");
    DocInfo *fresh = couchstore_alloc_docinfo(&(*info)->id, &meta);
    fresh->db_seq = (*info)->db_seq;
    fresh->rev_seq = (*info)->rev_seq;
    fresh->deleted = (*info)->deleted;
    fresh->content_meta = (*info)->content_meta;
    fresh->bp = (*info)->bp;
    fresh->physical_size = (*info)->physical_size;
    couchstore_free_docinfo(*info);
    *info = fresh;
    return 1;
}

TEST(docinfo_rewrite_hook) {
    const char *src = make_source("rewrite.couch", 0);
    if (!src) return;
    const char *dst = tmp_path("rewrite.compact");
    Db *s = open_ro(src);
    REQUIRE_OK(couchstore_compact_db_ex(s, dst, 0, keep_all, rewrite, NULL, NULL));
    Db *d = open_ro(dst);
    DocInfo *di = NULL;
    REQUIRE_OK(couchstore_docinfo_by_id(d, "key-005", 7, &di));
    CHECK(di->rev_meta.size == 13 && memcmp(di->rev_meta.buf, "meta+extended", 13) == 0);
    uint64_t seq = di->db_seq;
    couchstore_free_docinfo(di);
    REQUIRE_OK(couchstore_docinfo_by_sequence(d, seq, &di));
    CHECK(di->rev_meta.size == 13);
    couchstore_free_docinfo(di);
    /* Deletions without a body keep their metadata. */
    REQUIRE_OK(couchstore_docinfo_by_id(d, "key-010", 7, &di));
    CHECK_EQ(di->rev_meta.size, 4);
    couchstore_free_docinfo(di);
    done(d);
    /* A rewrite hook needs a filter hook. */
    const char *dst2 = tmp_path("rewrite2.compact");
    CHECK_EQ(couchstore_compact_db_ex(s, dst2, 0, NULL, rewrite, NULL, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK(!exists(dst2));
    done(s);
}

static couchstore_error_t precommit(Db *source, Db *target, void *ctx) {
    DbInfo info;
    CHECK_EQ(couchstore_db_info(source, &info), COUCHSTORE_SUCCESS);
    (*(int *)ctx)++;
    LocalDoc l = {sb("_local/compacted"), sb("{\"by\":\"precommit\"}"), 0};
    return couchstore_save_local_document(target, &l);
}

static couchstore_error_t failing_precommit(Db *source, Db *target, void *ctx) {
    (void)source, (void)target, (void)ctx;
    return COUCHSTORE_ERROR_WRITE;
}

TEST(precommit_hook) {
    const char *src = make_source("pre.couch", 0);
    if (!src) return;
    const char *dst = tmp_path("pre.compact");
    Db *s = open_ro(src);
    int calls = 0;
    REQUIRE_OK(couchstore_compact_db_with_precommit(s, dst, 0, NULL, NULL, NULL, NULL, precommit, &calls));
    CHECK_EQ(calls, 1);
    Db *d = open_ro(dst);
    LocalDoc *l = NULL;
    REQUIRE_OK(couchstore_open_local_document(d, "_local/compacted", 16, &l));
    couchstore_free_local_document(l);
    done(d);
    const char *dst2 = tmp_path("pre2.compact");
    CHECK_EQ(couchstore_compact_db_with_precommit(s, dst2, 0, NULL, NULL, NULL, NULL, failing_precommit, NULL),
             COUCHSTORE_ERROR_WRITE);
    CHECK(!exists(dst2));
    done(s);
}

TEST(upgrade_and_legacy) {
    const char *src = make_source("legacy.couch", COUCHSTORE_OPEN_WITH_LEGACY_CRC);
    if (!src) return;
    Db *s = open_ro(src);
    couchstore_header_info h;
    const char *kept = tmp_path("legacy.kept");
    REQUIRE_OK(couchstore_compact_db(s, kept));
    Db *d = open_ro(kept);
    REQUIRE_OK(couchstore_get_header_info(d, &h));
    CHECK_EQ(h.version, 11);
    done(d);
    const char *up = tmp_path("legacy.upgraded");
    REQUIRE_OK(couchstore_compact_db_ex(s, up, COUCHSTORE_COMPACT_FLAG_UPGRADE_DB | COUCHSTORE_COMPACT_FLAG_UNBUFFERED |
                                                   couchstore_encode_periodic_sync_flags(64 * 1024),
                                        NULL, NULL, NULL, NULL));
    d = open_ro(up);
    REQUIRE_OK(couchstore_get_header_info(d, &h));
    CHECK_EQ(h.version, 13);
    CHECK_EQ(h.doc_count, 90);
    done(d);
    done(s);
}

TEST(recovery_mode) {
    const char *src = make_source("recover.couch", 0);
    if (!src) return;
    /* Damage a document body in place: find one with a long body. */
    Db *s = open_ro(src);
    DocInfo *di = NULL;
    REQUIRE_OK(couchstore_docinfo_by_id(s, "key-003", 7, &di));
    uint64_t bp = di->bp;
    couchstore_free_docinfo(di);
    done(s);
    FILE *f = fopen(src, "r+b");
    fseek(f, (long)bp + 100, SEEK_SET);
    fputc('#', f);
    fclose(f);
    s = open_ro(src);
    const char *dst = tmp_path("recover.compact");
    CHECK_EQ(couchstore_compact_db(s, dst), COUCHSTORE_ERROR_CHECKSUM_FAIL);
    CHECK(!exists(dst));
    /* Recovery mode copies the rest and reports the error it tolerated. */
    CHECK_EQ(couchstore_compact_db_ex(s, dst, COUCHSTORE_COMPACT_RECOVERY_MODE, NULL, NULL, NULL, NULL),
             COUCHSTORE_ERROR_CHECKSUM_FAIL);
    CHECK(exists(dst));
    Db *d = open_ro(dst);
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(d, &info));
    CHECK_EQ(info.doc_count, 89);
    CHECK_EQ(info.deleted_count, 10);
    done(d);
    done(s);
}

TEST(target_errors) {
    const char *src = make_source("errors.couch", 0);
    if (!src) return;
    Db *s = open_ro(src);
    /* An existing target is neither used nor overwritten. */
    const char *dst = tmp_path("exists.compact");
    FILE *f = fopen(dst, "wb");
    fputs("precious", f);
    fclose(f);
    CHECK_EQ(couchstore_compact_db(s, dst), COUCHSTORE_ERROR_OPEN_FILE);
    struct stat st;
    CHECK(stat(dst, &st) == 0 && st.st_size == 8);
    /* Nor is the source, given as its own target. */
    struct stat before;
    CHECK(stat(src, &before) == 0);
    CHECK_EQ(couchstore_compact_db(s, src), COUCHSTORE_ERROR_OPEN_FILE);
    CHECK(stat(src, &st) == 0 && st.st_size == before.st_size);
    /* An existing empty file is used as the target (tools pass names from mkstemp). */
    const char *empty = tmp_path("empty.compact");
    f = fopen(empty, "wb");
    fclose(f);
    REQUIRE_OK(couchstore_compact_db(s, empty));
    Db *e = open_ro(empty);
    DbInfo a, b;
    REQUIRE_OK(couchstore_db_info(e, &a));
    REQUIRE_OK(couchstore_db_info(s, &b));
    CHECK_EQ(a.last_sequence, b.last_sequence);
    CHECK_EQ(a.doc_count, b.doc_count);
    done(e);
    /* A directory that cannot hold files (a path through a regular file). */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/inside.couch", dst);
    CHECK_EQ(couchstore_compact_db(s, bad), COUCHSTORE_ERROR_OPEN_FILE);
    snprintf(bad, sizeof bad, "%s/no/such/dir.couch", check_tmpdir);
    CHECK_EQ(couchstore_compact_db(s, bad), COUCHSTORE_ERROR_NO_SUCH_FILE);
    CHECK_EQ(couchstore_compact_db(s, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_compact_db(NULL, tmp_path("x.compact")), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    /* The default ops are the library's own I/O. */
    REQUIRE_OK(couchstore_compact_db_ex(s, tmp_path("y.compact"), 0, NULL, NULL, NULL, couchstore_get_default_file_ops()));
    /* A closed source. */
    couchstore_close_file(s);
    CHECK_EQ(couchstore_compact_db(s, tmp_path("z.compact")), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK(!exists(tmp_path("z.compact")));
    couchstore_free_db(s);
}

TEST(compacting_golden_files) {
    static const char *names[] = {"small_v13.couch", "basic_v12.couch", "legacy_crc_v11.couch", "nodesize4k_v13.couch"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        Db *s = open_ro(golden_path(names[i]));
        CHECK(s != NULL);
        if (!s) continue;
        const char *dst = tmp_path("golden.compact");
        REQUIRE_OK(couchstore_compact_db(s, dst));
        Db *d = open_ro(dst);
        DbInfo a, b;
        REQUIRE_OK(couchstore_db_info(s, &a));
        REQUIRE_OK(couchstore_db_info(d, &b));
        CHECK_EQ(a.doc_count, b.doc_count);
        CHECK_EQ(a.deleted_count, b.deleted_count);
        CHECK_EQ(a.last_sequence, b.last_sequence);
        CHECK(b.file_size <= a.file_size);
        uint64_t ca = 0, cb = 0;
        REQUIRE_OK(couchstore_changes_count(s, 0, ~0ULL, &ca));
        REQUIRE_OK(couchstore_changes_count(d, 0, ~0ULL, &cb));
        CHECK_EQ(ca, cb);
        done(s);
        done(d);
    }
}

RUN_TESTS(T(plain_compaction_keeps_everything), T(drop_deletes), T(filter_hook_with_need_body),
          T(aborting_hook_removes_the_target), T(docinfo_rewrite_hook), T(precommit_hook), T(upgrade_and_legacy),
          T(recovery_mode), T(target_errors), T(compacting_golden_files))
