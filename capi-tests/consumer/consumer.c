/* Creates a database, saves, commits, reads back. Exit 0 on success. */
#include <libcouchstore/couch_db.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "consumer.couch";
    unlink(path);
    Db *db = NULL;
    if (couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db) != COUCHSTORE_SUCCESS) return 1;
    Doc doc = {{"hello", 5}, {"world", 5}};
    DocInfo info = {{"hello", 5}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    if (couchstore_save_document(db, &doc, &info, 0) || couchstore_commit(db)) return 2;
    Doc *out = NULL;
    if (couchstore_open_document(db, "hello", 5, &out, 0) || out->data.size != 5 || memcmp(out->data.buf, "world", 5))
        return 3;
    couchstore_free_document(out);
    couchstore_close_file(db);
    couchstore_free_db(db);
    printf("consumer ok: %s\n", couchstore_strerror(COUCHSTORE_SUCCESS));
    return 0;
}
