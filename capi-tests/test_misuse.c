/* Deliberate misuse of the C API: NULL for every pointer argument, lengths that do not
 * match their buffers, use after close, double close, odd flags. Every call must return
 * an error code (never crash); run under valgrind by the suite. */
#include <libcouchstore/couch_db.h>

#include "check.h"

static int cb_changes(Db *db, DocInfo *info, void *ctx) {
    (void)db, (void)info, (void)ctx;
    return 0;
}

static int cb_walk(Db *db, int depth, const DocInfo *info, uint64_t size, const sized_buf *reduce, void *ctx) {
    (void)db, (void)depth, (void)info, (void)size, (void)reduce, (void)ctx;
    return 0;
}

#define INVALID COUCHSTORE_ERROR_INVALID_ARGUMENTS

TEST(null_handles_everywhere) {
    DocInfo di = {{"a", 1}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    Doc doc = {{"a", 1}, {"b", 1}};
    DocInfo *pinfo = NULL;
    Doc *pdoc = NULL;
    LocalDoc *plocal = NULL;
    LocalDoc local = {{"_local/x", 8}, {"{}", 2}, 0};
    DbInfo info;
    uint64_t count;
    uint64_t seqs[1] = {1};
    sized_buf ids[1] = {{"a", 1}};
    char buf[64];
    CHECK_EQ(couchstore_save_document(NULL, &doc, &di, 0), INVALID);
    CHECK_EQ(couchstore_save_documents(NULL, NULL, NULL, 0, 0), INVALID);
    CHECK_EQ(couchstore_docinfo_by_id(NULL, "a", 1, &pinfo), INVALID);
    CHECK_EQ(couchstore_docinfo_by_sequence(NULL, 1, &pinfo), INVALID);
    CHECK_EQ(couchstore_open_document(NULL, "a", 1, &pdoc, 0), INVALID);
    CHECK_EQ(couchstore_open_doc_with_docinfo(NULL, &di, &pdoc, 0), INVALID);
    CHECK_EQ(couchstore_changes_since(NULL, 0, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_all_docs(NULL, NULL, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_docinfos_by_sequence(NULL, seqs, 1, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_docinfos_by_id(NULL, ids, 1, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_walk_id_tree(NULL, NULL, 0, cb_walk, NULL), INVALID);
    CHECK_EQ(couchstore_walk_seq_tree(NULL, 0, 0, cb_walk, NULL), INVALID);
    CHECK_EQ(couchstore_walk_local_tree(NULL, NULL, cb_walk, NULL), INVALID);
    CHECK_EQ(couchstore_open_local_document(NULL, "a", 1, &plocal), INVALID);
    CHECK_EQ(couchstore_save_local_document(NULL, &local), INVALID);
    CHECK_EQ(couchstore_changes_count(NULL, 0, 1, &count), INVALID);
    CHECK_EQ(couchstore_set_purge_seq(NULL, 1), INVALID);
    CHECK_EQ(couchstore_db_info(NULL, &info), INVALID);
    CHECK_EQ(couchstore_commit(NULL), INVALID);
    CHECK_EQ(couchstore_compact_db(NULL, "x"), INVALID);
    CHECK_EQ(couchstore_replay(NULL, NULL, 0, 0, NULL, NULL, NULL, NULL), INVALID);
    CHECK_EQ(couchstore_seek_header(NULL, 0), INVALID);
    CHECK_EQ(couchstore_seek_newest_header(NULL), INVALID);
    CHECK_EQ(couchstore_get_header_info(NULL, NULL), INVALID);
    /* Functions that need no handle accept NULL where documented. */
    CHECK_EQ(couchstore_last_os_error(NULL, buf, sizeof buf), COUCHSTORE_SUCCESS);
    CHECK_EQ(couchstore_free_db(NULL), COUCHSTORE_SUCCESS);
    couchstore_free_docinfo(NULL);
    couchstore_free_document(NULL);
    couchstore_free_local_document(NULL);
    couchstore_online_options_init(NULL);
}

TEST(null_arguments_on_a_live_handle) {
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(tmp_path("misuse.couch"), COUCHSTORE_OPEN_FLAG_CREATE, &db));
    DocInfo di = {{"a", 1}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    Doc doc = {{"a", 1}, {"b", 1}};
    REQUIRE_OK(couchstore_save_document(db, &doc, &di, 0));
    DocInfo *pinfo = NULL;
    Doc *pdoc = NULL;
    LocalDoc *plocal = NULL;
    /* NULL out-pointers, NULL callbacks, NULL buffers with lengths. */
    CHECK_EQ(couchstore_docinfo_by_id(db, "a", 1, NULL), INVALID);
    CHECK_EQ(couchstore_docinfo_by_id(db, NULL, 5, &pinfo), INVALID);
    CHECK_EQ(couchstore_docinfo_by_sequence(db, 1, NULL), INVALID);
    CHECK_EQ(couchstore_open_document(db, "a", 1, NULL, 0), INVALID);
    CHECK_EQ(couchstore_open_document(db, NULL, 1, &pdoc, 0), INVALID);
    CHECK_EQ(couchstore_open_doc_with_docinfo(db, NULL, &pdoc, 0), INVALID);
    CHECK_EQ(couchstore_open_doc_with_docinfo(db, &di, NULL, 0), INVALID);
    CHECK_EQ(couchstore_changes_since(db, 0, 0, NULL, NULL), INVALID);
    CHECK_EQ(couchstore_all_docs(db, NULL, 0, NULL, NULL), INVALID);
    sized_buf bad_key = {NULL, 4};
    CHECK_EQ(couchstore_all_docs(db, &bad_key, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_docinfos_by_id(db, NULL, 3, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_docinfos_by_id(db, &bad_key, 1, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_docinfos_by_sequence(db, NULL, 3, 0, cb_changes, NULL), INVALID);
    CHECK_EQ(couchstore_walk_id_tree(db, &bad_key, 0, cb_walk, NULL), INVALID);
    CHECK_EQ(couchstore_walk_id_tree(db, NULL, 0, NULL, NULL), INVALID);
    CHECK_EQ(couchstore_open_local_document(db, NULL, 3, &plocal), INVALID);
    CHECK_EQ(couchstore_open_local_document(db, "_local/x", 8, NULL), INVALID);
    LocalDoc bad_local = {{NULL, 8}, {"{}", 2}, 0};
    CHECK_EQ(couchstore_save_local_document(db, &bad_local), INVALID);
    LocalDoc bad_json = {{"_local/x", 8}, {NULL, 2}, 0};
    CHECK_EQ(couchstore_save_local_document(db, &bad_json), INVALID);
    CHECK_EQ(couchstore_changes_count(db, 0, 1, NULL), INVALID);
    Doc bad_body = {{"a", 1}, {NULL, 10}};
    CHECK_EQ(couchstore_save_document(db, &bad_body, &di, 0), INVALID);
    DocInfo bad_meta = {{"a", 1}, 0, 1, {NULL, 3}, 0, 0, 0, 0};
    CHECK_EQ(couchstore_save_document(db, &doc, &bad_meta, 0), INVALID);
    /* The handle still works after all that. */
    REQUIRE_OK(couchstore_commit(db));
    REQUIRE_OK(couchstore_docinfo_by_id(db, "a", 1, &pinfo));
    couchstore_free_docinfo(pinfo);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(use_after_close_and_double_close) {
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(tmp_path("closed2.couch"), COUCHSTORE_OPEN_FLAG_CREATE, &db));
    REQUIRE_OK(couchstore_close_file(db));
    REQUIRE_OK(couchstore_close_file(db));
    DocInfo *pinfo = NULL;
    Doc *pdoc = NULL;
    LocalDoc *plocal = NULL;
    DocInfo di = {{"a", 1}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    LocalDoc local = {{"_local/x", 8}, {"{}", 2}, 0};
    uint64_t count;
    CHECK_EQ(couchstore_docinfo_by_id(db, "a", 1, &pinfo), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_open_document(db, "a", 1, &pdoc, 0), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_open_doc_with_docinfo(db, &di, &pdoc, 0), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    di.bp = 100;
    CHECK_EQ(couchstore_open_doc_with_docinfo(db, &di, &pdoc, 0), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_changes_since(db, 0, 0, cb_changes, NULL), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_walk_local_tree(db, NULL, cb_walk, NULL), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_open_local_document(db, "_local/x", 8, &plocal), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_save_local_document(db, &local), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_changes_count(db, 0, 1, &count), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_seek_newest_header(db), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_commit_ex(db, 1), COUCHSTORE_ERROR_FILE_CLOSED);
    /* Rewinding a closed handle fails and frees it, as the original does. */
    CHECK_EQ(couchstore_rewind_db_header(db), COUCHSTORE_ERROR_DB_NO_LONGER_VALID);
}

TEST(odd_flags) {
    /* Unknown and tracing bits are accepted and ignored, as the original ignores them. */
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(tmp_path("flags2.couch"), COUCHSTORE_OPEN_FLAG_CREATE | 0x20000000ULL | (1ULL << 40), &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    /* RDONLY with CREATE is refused, as the original refuses it, and creates nothing. */
    const char *missing = tmp_path("never.couch");
    CHECK_EQ(couchstore_open_db(missing, COUCHSTORE_OPEN_FLAG_RDONLY | COUCHSTORE_OPEN_FLAG_CREATE, &db),
             COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK(access(missing, F_OK) != 0);
    /* EXCL without CREATE on an existing file simply opens it. */
    REQUIRE_OK(couchstore_open_db(tmp_path("flags3.couch"), COUCHSTORE_OPEN_FLAG_CREATE, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
}

RUN_TESTS(T(null_handles_everywhere), T(null_arguments_on_a_live_handle), T(use_after_close_and_double_close), T(odd_flags))
