/* Struct layouts, constant values and error texts, as a C program built for the
 * original couchstore expects them (x86-64 / aarch64 LP64). */
#include <libcouchstore/couch_db.h>
#include <stddef.h>

#include "check.h"

TEST(struct_layouts) {
    CHECK_EQ(sizeof(sized_buf), 16);
    CHECK_EQ(offsetof(sized_buf, buf), 0);
    CHECK_EQ(offsetof(sized_buf, size), 8);
    CHECK_EQ(sizeof(Doc), 32);
    CHECK_EQ(offsetof(Doc, id), 0);
    CHECK_EQ(offsetof(Doc, data), 16);
    CHECK_EQ(sizeof(DocInfo), 72);
    CHECK_EQ(offsetof(DocInfo, id), 0);
    CHECK_EQ(offsetof(DocInfo, db_seq), 16);
    CHECK_EQ(offsetof(DocInfo, rev_seq), 24);
    CHECK_EQ(offsetof(DocInfo, rev_meta), 32);
    CHECK_EQ(offsetof(DocInfo, deleted), 48);
    CHECK_EQ(offsetof(DocInfo, content_meta), 52);
    CHECK_EQ(offsetof(DocInfo, bp), 56);
    CHECK_EQ(offsetof(DocInfo, physical_size), 64);
    CHECK_EQ(sizeof(LocalDoc), 40);
    CHECK_EQ(offsetof(LocalDoc, id), 0);
    CHECK_EQ(offsetof(LocalDoc, json), 16);
    CHECK_EQ(offsetof(LocalDoc, deleted), 32);
    CHECK_EQ(sizeof(DbInfo), 64);
    CHECK_EQ(offsetof(DbInfo, filename), 0);
    CHECK_EQ(offsetof(DbInfo, last_sequence), 8);
    CHECK_EQ(offsetof(DbInfo, doc_count), 16);
    CHECK_EQ(offsetof(DbInfo, deleted_count), 24);
    CHECK_EQ(offsetof(DbInfo, space_used), 32);
    CHECK_EQ(offsetof(DbInfo, file_size), 40);
    CHECK_EQ(offsetof(DbInfo, header_position), 48);
    CHECK_EQ(offsetof(DbInfo, purge_seq), 56);
    CHECK_EQ(sizeof(couchstore_error_t), 4);
    CHECK_EQ(sizeof(cs_off_t), 8);
    CHECK_EQ(sizeof(couchstore_content_meta_flags), 1);
    CHECK_EQ(sizeof(couchstore_open_flags), 8);
}

TEST(constant_values) {
    CHECK_EQ(COUCHSTORE_SUCCESS, 0);
    CHECK_EQ(COUCHSTORE_ERROR_OPEN_FILE, -1);
    CHECK_EQ(COUCHSTORE_ERROR_CORRUPT, -2);
    CHECK_EQ(COUCHSTORE_ERROR_ALLOC_FAIL, -3);
    CHECK_EQ(COUCHSTORE_ERROR_READ, -4);
    CHECK_EQ(COUCHSTORE_ERROR_DOC_NOT_FOUND, -5);
    CHECK_EQ(COUCHSTORE_ERROR_NO_HEADER, -6);
    CHECK_EQ(COUCHSTORE_ERROR_WRITE, -7);
    CHECK_EQ(COUCHSTORE_ERROR_HEADER_VERSION, -8);
    CHECK_EQ(COUCHSTORE_ERROR_CHECKSUM_FAIL, -9);
    CHECK_EQ(COUCHSTORE_ERROR_INVALID_ARGUMENTS, -10);
    CHECK_EQ(COUCHSTORE_ERROR_NO_SUCH_FILE, -11);
    CHECK_EQ(COUCHSTORE_ERROR_CANCEL, -12);
    CHECK_EQ(COUCHSTORE_ERROR_REDUCTION_TOO_LARGE, -13);
    CHECK_EQ(COUCHSTORE_ERROR_REDUCER_FAILURE, -14);
    CHECK_EQ(COUCHSTORE_ERROR_FILE_CLOSED, -15);
    CHECK_EQ(COUCHSTORE_ERROR_DB_NO_LONGER_VALID, -16);
    CHECK_EQ(COUCHSTORE_ERROR_FILE_CLOSE, -17);
    CHECK_EQ(COUCHSTORE_ERROR_NOT_SUPPORTED, -18);
    CHECK_EQ(COUCHSTORE_ERROR_SCAN_YIELD, -19);
    CHECK_EQ(COUCHSTORE_ERROR_SCAN_ABORTED, -20);
    CHECK_EQ(COUCHSTORE_OPEN_FLAG_CREATE, 1);
    CHECK_EQ(COUCHSTORE_OPEN_FLAG_RDONLY, 2);
    CHECK_EQ(COUCHSTORE_OPEN_WITH_LEGACY_CRC, 4);
    CHECK_EQ(COUCHSTORE_OPEN_FLAG_UNBUFFERED, 8);
    CHECK_EQ(COUCHSTORE_OPEN_FLAG_EXCL, 16);
    CHECK_EQ(COUCHSTORE_OPEN_FLAG_NO_COMMIT_AT_CREATE, 32);
    CHECK_EQ(COUCHSTORE_OPEN_WITH_CUSTOM_BUFFER, 0xff00);
    CHECK_EQ(COUCHSTORE_OPEN_WITH_CUSTOM_NODESIZE, 0xff0000);
    CHECK_EQ(COUCHSTORE_OPEN_WITH_PERIODIC_SYNC, 0x1f000000);
    CHECK_EQ(COMPRESS_DOC_BODIES, 1);
    CHECK_EQ(COUCHSTORE_SEQUENCE_AS_IS, 2);
    CHECK_EQ(DECOMPRESS_DOC_BODIES, 1);
    CHECK_EQ(RANGES, 1);
    CHECK_EQ(COUCHSTORE_DELETES_ONLY, 2);
    CHECK_EQ(COUCHSTORE_NO_DELETES, 4);
    CHECK_EQ(COUCHSTORE_TOLERATE_CORRUPTION, 8);
    CHECK_EQ(COUCH_DOC_IS_COMPRESSED, 128);
    CHECK_EQ(COUCH_DOC_IS_JSON, 0);
    CHECK_EQ(COUCH_DOC_INVALID_JSON, 1);
    CHECK_EQ(COUCH_DOC_INVALID_JSON_KEY, 2);
    CHECK_EQ(COUCH_DOC_NON_JSON_MODE, 3);
}

TEST(error_texts) {
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_SUCCESS), "success") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_OPEN_FILE), "error opening file") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_CORRUPT), "malformed data in file") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_ALLOC_FAIL), "failed to allocate buffer") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_READ), "error reading file") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_DOC_NOT_FOUND), "document not found") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_NO_HEADER), "no header in non-empty file") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_WRITE), "error writing to file") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_HEADER_VERSION), "incorrect version in header") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_CHECKSUM_FAIL), "checksum fail") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_INVALID_ARGUMENTS), "invalid arguments") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_NO_SUCH_FILE), "no such file") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_FILE_CLOSED),
                 "cannot do this operation when file is closed") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_DB_NO_LONGER_VALID),
                 "this db handle could have its file reopened and must be closed") == 0);
    CHECK(strcmp(couchstore_strerror(COUCHSTORE_ERROR_FILE_CLOSE), "error closing file") == 0);
    /* Codes the original leaves without text still get one, never NULL. */
    for (int e = -25; e <= 5; e++) CHECK(couchstore_strerror(e) != NULL);
}

TEST(periodic_sync_encoding) {
    CHECK_EQ(couchstore_encode_periodic_sync_flags(0), 0);
    CHECK_EQ(couchstore_encode_periodic_sync_flags(1024), 1ULL << 24);
    CHECK_EQ(couchstore_encode_periodic_sync_flags(1024 * 1024), 11ULL << 24);
    CHECK_EQ(couchstore_encode_periodic_sync_flags(1500), 1ULL << 24);
    CHECK_EQ(couchstore_encode_periodic_sync_flags(~0ULL), 31ULL << 24);
    CHECK_EQ(couchstore_encode_periodic_sync_flags(1024 * 1024) & ~COUCHSTORE_OPEN_WITH_PERIODIC_SYNC, 0);
}

RUN_TESTS(T(struct_layouts), T(constant_values), T(error_texts), T(periodic_sync_encoding))
