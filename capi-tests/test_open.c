/* Opening, creating, closing and freeing handles; open flags; header navigation; the
 * error codes of each path. */
#include <libcouchstore/couch_db.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"

static couchstore_error_t save_one(Db *db, const char *id, const char *body) {
    Doc doc = {{(char *)id, strlen(id)}, {(char *)body, strlen(body)}};
    DocInfo info = {{(char *)id, strlen(id)}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    return couchstore_save_document(db, body ? &doc : NULL, &info, 0);
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

TEST(create_then_reopen) {
    const char *path = tmp_path("create.couch");
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    CHECK(db != NULL);
    CHECK(strcmp(couchstore_get_db_filename(db), path) == 0);
    CHECK_EQ(couchstore_get_header_position(db), 0);
    /* A new file holds one format-13 header: 42 bytes. */
    CHECK_EQ(file_size(path), 42);
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(db, &info));
    CHECK(strcmp(info.filename, path) == 0);
    CHECK_EQ(info.last_sequence, 0);
    CHECK_EQ(info.doc_count, 0);
    CHECK_EQ(info.file_size, 42);
    CHECK_EQ(info.header_position, 0);
    REQUIRE_OK(save_one(db, "a", "alpha"));
    REQUIRE_OK(couchstore_commit(db));
    CHECK_EQ(couchstore_get_header_position(db), 4096);
    REQUIRE_OK(couchstore_close_file(db));
    REQUIRE_OK(couchstore_free_db(db));

    REQUIRE_OK(couchstore_open_db(path, 0, &db));
    REQUIRE_OK(couchstore_db_info(db, &info));
    CHECK_EQ(info.last_sequence, 1);
    CHECK_EQ(info.doc_count, 1);
    CHECK_EQ(info.header_position, 4096);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(no_commit_at_create) {
    const char *path = tmp_path("nocommit.couch");
    const couchstore_open_flags no_commit = COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_NO_COMMIT_AT_CREATE;
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(path, no_commit, &db));
    REQUIRE_OK(couchstore_close_file(db));
    REQUIRE_OK(couchstore_free_db(db));
    /* Only the first block's marker, as the original writes it: no header. */
    CHECK_EQ(file_size(path), 1);
    CHECK_EQ(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(couchstore_open_db(path, no_commit, &db), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(couchstore_open_db(path, 0, &db), COUCHSTORE_ERROR_NO_HEADER);
    unlink(path);
    /* Items saved before the first header are committed by it. */
    REQUIRE_OK(couchstore_open_db(path, no_commit, &db));
    REQUIRE_OK(save_one(db, "a", "alpha"));
    REQUIRE_OK(couchstore_commit(db));
    REQUIRE_OK(couchstore_close_file(db));
    REQUIRE_OK(couchstore_free_db(db));
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(db, &info));
    CHECK_EQ(info.header_position, 4096);
    CHECK_EQ(info.doc_count, 1);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(legacy_crc_makes_format_11) {
    const char *path = tmp_path("legacy.couch");
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_WITH_LEGACY_CRC, &db));
    CHECK_EQ(file_size(path), 34); /* format 11 header: no timestamp */
    REQUIRE_OK(save_one(db, "a", "alpha"));
    REQUIRE_OK(couchstore_commit(db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    /* Reopening a format-11 file with or without the flag works. */
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_WITH_LEGACY_CRC, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    REQUIRE_OK(couchstore_open_db(path, 0, &db));
    Doc *doc = NULL;
    REQUIRE_OK(couchstore_open_document(db, "a", 1, &doc, 0));
    CHECK_EQ(doc->data.size, 5);
    couchstore_free_document(doc);
    couchstore_close_file(db);
    couchstore_free_db(db);
    /* A format-13 file refuses the legacy CRC. */
    const char *modern = tmp_path("modern.couch");
    REQUIRE_OK(couchstore_open_db(modern, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    db = (Db *)1;
    CHECK_EQ(couchstore_open_db(modern, COUCHSTORE_OPEN_WITH_LEGACY_CRC, &db), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK(db == NULL);
}

TEST(open_errors) {
    Db *db = (Db *)1;
    CHECK_EQ(couchstore_open_db(tmp_path("missing.couch"), 0, &db), COUCHSTORE_ERROR_NO_SUCH_FILE);
    CHECK(db == NULL);
    CHECK_EQ(couchstore_open_db(tmp_path("missing.couch"), COUCHSTORE_OPEN_FLAG_RDONLY, &db),
             COUCHSTORE_ERROR_NO_SUCH_FILE);
    /* An empty file has no header for a reader; opened for writing, with or without
     * CREATE, it gets its first header, as with the original. */
    const char *empty = tmp_path("empty.couch");
    close(open(empty, O_CREAT | O_WRONLY, 0644));
    CHECK_EQ(couchstore_open_db(empty, COUCHSTORE_OPEN_FLAG_RDONLY, &db), COUCHSTORE_ERROR_NO_HEADER);
    REQUIRE_OK(couchstore_open_db(empty, 0, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    CHECK_EQ(file_size(empty), 42);
    REQUIRE_OK(couchstore_open_db(empty, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    const char *empty2 = tmp_path("empty2.couch");
    close(open(empty2, O_CREAT | O_WRONLY, 0644));
    REQUIRE_OK(couchstore_open_db(empty2, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    CHECK_EQ(file_size(empty2), 42);
    /* EXCL refuses an existing file. */
    CHECK_EQ(couchstore_open_db(empty, COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_EXCL, &db),
             COUCHSTORE_ERROR_OPEN_FILE);
    /* A directory is not a database file; garbage has no header. */
    CHECK_EQ(couchstore_open_db(check_tmpdir, COUCHSTORE_OPEN_FLAG_RDONLY, &db), COUCHSTORE_ERROR_OPEN_FILE);
    const char *junk = tmp_path("junk.couch");
    FILE *f = fopen(junk, "wb");
    for (int i = 0; i < 10000; i++) fputc(i * 7, f);
    fclose(f);
    CHECK_EQ(couchstore_open_db(junk, COUCHSTORE_OPEN_FLAG_RDONLY, &db), COUCHSTORE_ERROR_NO_HEADER);
    /* NULL arguments. */
    CHECK_EQ(couchstore_open_db(NULL, 0, &db), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_open_db(empty, 0, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
}

TEST(file_ops) {
    const char *path = tmp_path("ops.couch");
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db_ex(path, COUCHSTORE_OPEN_FLAG_CREATE, couchstore_get_default_file_ops(), &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    REQUIRE_OK(couchstore_open_db_ex(path, 0, NULL, &db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    /* Custom ops are C++ objects (see test_fileops.cpp); from C only the default ones. */
    CHECK(couchstore_get_default_file_ops() != NULL);
    CHECK(couchstore_get_default_file_ops() == couchstore_get_default_file_ops());
    /* The library's own I/O keeps no per-file statistics. */
    REQUIRE_OK(couchstore_open_db(path, 0, &db));
    CHECK(couchstore_get_db_filestats(db) == NULL);
    couchstore_close_file(db);
    CHECK(couchstore_get_db_filestats(db) == NULL);
    couchstore_free_db(db);
    CHECK(couchstore_get_db_filestats(NULL) == NULL);
}

TEST(flags_unbuffered_nodesize_periodic_sync) {
    const char *path = tmp_path("flags.couch");
    Db *db = NULL;
    couchstore_open_flags flags = COUCHSTORE_OPEN_FLAG_CREATE | COUCHSTORE_OPEN_FLAG_UNBUFFERED | 0x110000 |
                                  couchstore_encode_periodic_sync_flags(4096);
    REQUIRE_OK(couchstore_open_db(path, flags, &db));
    char id[32], body[64];
    for (int i = 0; i < 500; i++) {
        snprintf(id, sizeof id, "key-%05d", i);
        snprintf(body, sizeof body, "body of %d", i);
        REQUIRE_OK(save_one(db, id, body));
    }
    REQUIRE_OK(couchstore_commit(db));
    couchstore_close_file(db);
    couchstore_free_db(db);
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(db, &info));
    CHECK_EQ(info.doc_count, 500);
    Doc *doc = NULL;
    REQUIRE_OK(couchstore_open_document(db, "key-00321", 9, &doc, 0));
    CHECK(doc->data.size == strlen("body of 321") && memcmp(doc->data.buf, "body of 321", doc->data.size) == 0);
    couchstore_free_document(doc);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(closed_and_read_only_handles) {
    const char *path = tmp_path("closed.couch");
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    REQUIRE_OK(save_one(db, "a", "alpha"));
    REQUIRE_OK(couchstore_commit(db));
    REQUIRE_OK(couchstore_close_file(db));
    /* Closing twice is harmless; calls touching the file say it is closed. */
    CHECK_EQ(couchstore_close_file(db), COUCHSTORE_SUCCESS);
    CHECK_EQ(save_one(db, "b", "beta"), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK_EQ(couchstore_commit(db), COUCHSTORE_ERROR_FILE_CLOSED);
    DocInfo *info = NULL;
    CHECK_EQ(couchstore_docinfo_by_id(db, "a", 1, &info), COUCHSTORE_ERROR_FILE_CLOSED);
    CHECK(info == NULL);
    uint64_t count = 0;
    CHECK_EQ(couchstore_changes_count(db, 0, 10, &count), COUCHSTORE_ERROR_FILE_CLOSED);
    /* db_info still answers from the header in memory. */
    DbInfo dbi;
    REQUIRE_OK(couchstore_db_info(db, &dbi));
    CHECK_EQ(dbi.last_sequence, 1);
    CHECK_EQ(dbi.doc_count, 1);
    REQUIRE_OK(couchstore_free_db(db));
    CHECK_EQ(couchstore_free_db(NULL), COUCHSTORE_SUCCESS);

    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    CHECK_EQ(save_one(db, "b", "beta"), COUCHSTORE_ERROR_WRITE);
    CHECK_EQ(couchstore_commit(db), COUCHSTORE_ERROR_WRITE);
    LocalDoc local = {{"_local/x", 8}, {"{}", 2}, 0};
    CHECK_EQ(couchstore_save_local_document(db, &local), COUCHSTORE_ERROR_WRITE);
    CHECK_EQ(couchstore_set_purge_seq(db, 3), COUCHSTORE_ERROR_WRITE);
    Doc *doc = NULL;
    REQUIRE_OK(couchstore_open_document(db, "a", 1, &doc, 0));
    couchstore_free_document(doc);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(null_handles_are_invalid_arguments) {
    DbInfo info;
    CHECK_EQ(couchstore_db_info(NULL, &info), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_close_file(NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_commit(NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_commit_ex(NULL, 5), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_rewind_db_header(NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_fastforward_db_header(NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK(couchstore_get_db_filename(NULL) == NULL);
    CHECK_EQ(couchstore_get_header_position(NULL), 0);
    CHECK_EQ(save_one(NULL, "a", "b"), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(tmp_path("null.couch"), COUCHSTORE_OPEN_FLAG_CREATE, &db));
    CHECK_EQ(couchstore_db_info(db, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(rewind_and_fast_forward) {
    const char *path = tmp_path("history.couch");
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    uint64_t positions[4];
    positions[0] = couchstore_get_header_position(db);
    for (int i = 1; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "k%d", i);
        REQUIRE_OK(save_one(db, id, "v"));
        REQUIRE_OK(couchstore_commit_ex(db, 1000 + i));
        positions[i] = couchstore_get_header_position(db);
    }
    couchstore_close_file(db);
    couchstore_free_db(db);

    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    DbInfo info;
    for (int i = 3; i > 0; i--) {
        CHECK_EQ(couchstore_get_header_position(db), positions[i]);
        REQUIRE_OK(couchstore_db_info(db, &info));
        CHECK_EQ(info.last_sequence, i);
        REQUIRE_OK(couchstore_rewind_db_header(db));
    }
    CHECK_EQ(couchstore_get_header_position(db), positions[0]);
    DocInfo *di = NULL;
    CHECK_EQ(couchstore_docinfo_by_id(db, "k1", 2, &di), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    REQUIRE_OK(couchstore_fastforward_db_header(db));
    CHECK_EQ(couchstore_get_header_position(db), positions[1]);
    REQUIRE_OK(couchstore_docinfo_by_id(db, "k1", 2, &di));
    couchstore_free_docinfo(di);
    /* Past the oldest header the handle is closed and freed: not used again. */
    REQUIRE_OK(couchstore_rewind_db_header(db));
    CHECK_EQ(couchstore_rewind_db_header(db), COUCHSTORE_ERROR_DB_NO_LONGER_VALID);

    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &db));
    CHECK_EQ(couchstore_fastforward_db_header(db), COUCHSTORE_ERROR_DB_NO_LONGER_VALID);
}

TEST(header_info_and_seeking) {
    const char *path = tmp_path("seek.couch");
    Db *w = NULL, *r = NULL;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &w));
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_RDONLY, &r));
    REQUIRE_OK(save_one(w, "a", "1"));
    REQUIRE_OK(couchstore_commit_ex(w, 12345));
    uint64_t first = couchstore_get_header_position(w);
    REQUIRE_OK(save_one(w, "b", "2"));
    REQUIRE_OK(couchstore_commit_ex(w, 67890));
    couchstore_header_info h;
    REQUIRE_OK(couchstore_get_header_info(w, &h));
    CHECK_EQ(h.version, 13);
    CHECK_EQ(h.timestamp, 67890);
    CHECK_EQ(h.update_seq, 2);
    CHECK_EQ(h.doc_count, 2);
    CHECK(strcmp(h.filename, path) == 0);
    /* The reader opened before both commits sees them only after seeking. */
    REQUIRE_OK(couchstore_get_header_info(r, &h));
    CHECK_EQ(h.update_seq, 0);
    REQUIRE_OK(couchstore_seek_newest_header(r));
    REQUIRE_OK(couchstore_get_header_info(r, &h));
    CHECK_EQ(h.update_seq, 2);
    CHECK_EQ(h.header_position, couchstore_get_header_position(w));
    REQUIRE_OK(couchstore_seek_header(r, (cs_off_t)first));
    REQUIRE_OK(couchstore_get_header_info(r, &h));
    CHECK_EQ(h.update_seq, 1);
    CHECK_EQ(h.timestamp, 12345);
    /* Not a block boundary (as the original: invalid), or no header there: refused,
     * the handle stays put. */
    CHECK_EQ(couchstore_seek_header(r, (cs_off_t)first + 1), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_seek_header(r, 4096 * 1000), COUCHSTORE_ERROR_NO_HEADER);
    CHECK_EQ(couchstore_seek_header(r, -1), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_get_header_position(r), first);
    /* A writer with uncommitted changes may not seek to the newest header. */
    REQUIRE_OK(save_one(w, "c", "3"));
    CHECK_EQ(couchstore_seek_newest_header(w), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_get_header_info(NULL, &h), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_get_header_info(r, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    couchstore_close_file(w);
    couchstore_free_db(w);
    couchstore_close_file(r);
    couchstore_free_db(r);
}

TEST(golden_files_open_with_their_manifest_headers) {
    static const struct {
        const char *name;
        long long header, update_seq, docs, deleted, space, size;
    } files[] = {
        {"fresh_v11.couch", 0, 0, 0, 0, 0, 34},
        {"fresh_v13.couch", 0, 0, 0, 0, 0, 42},
        {"localonly_v13.couch", 4096, 0, 0, 0, 147, 4150},
        {"small_v13.couch", 36864, 53, 38, 2, 7074, 36963},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        Db *db = NULL;
        REQUIRE_OK(couchstore_open_db(golden_path(files[i].name), COUCHSTORE_OPEN_FLAG_RDONLY, &db));
        DbInfo info;
        REQUIRE_OK(couchstore_db_info(db, &info));
        CHECK_EQ(info.header_position, files[i].header);
        CHECK_EQ(info.last_sequence, files[i].update_seq);
        CHECK_EQ(info.doc_count, files[i].docs);
        CHECK_EQ(info.deleted_count, files[i].deleted);
        CHECK_EQ(info.space_used, files[i].space);
        CHECK_EQ(info.file_size, files[i].size);
        couchstore_header_info h;
        REQUIRE_OK(couchstore_get_header_info(db, &h));
        CHECK_EQ(h.version, strstr(files[i].name, "v11") ? 11 : 13);
        couchstore_close_file(db);
        couchstore_free_db(db);
    }
}

TEST(last_errors) {
    char buf[256];
    Db *db = NULL;
    CHECK_EQ(couchstore_open_db(tmp_path("nope/x.couch"), 0, &db), COUCHSTORE_ERROR_NO_SUCH_FILE);
    REQUIRE_OK(couchstore_last_os_error(NULL, buf, sizeof buf));
    CHECK(strstr(buf, "errno = 2") != NULL);
    REQUIRE_OK(couchstore_last_internal_error(NULL, buf, sizeof buf));
    CHECK(strstr(buf, "no such file") != NULL);
    /* Truncated, always terminated. */
    REQUIRE_OK(couchstore_last_internal_error(NULL, buf, 4));
    CHECK_EQ(strlen(buf), 3);
    CHECK_EQ(couchstore_last_os_error(NULL, NULL, 10), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_last_internal_error(NULL, buf, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
}

RUN_TESTS(T(create_then_reopen), T(no_commit_at_create), T(legacy_crc_makes_format_11), T(open_errors), T(file_ops),
          T(flags_unbuffered_nodesize_periodic_sync), T(closed_and_read_only_handles),
          T(null_handles_are_invalid_arguments), T(rewind_and_fast_forward), T(header_info_and_seeking),
          T(golden_files_open_with_their_manifest_headers), T(last_errors))
