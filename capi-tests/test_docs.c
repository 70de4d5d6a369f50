/* Saving and reading documents, iterations and walks, local documents, and the
 * ownership rules of everything the library hands out. */
#include <libcouchstore/couch_db.h>

#include "check.h"

static Db *fresh(const char *name) {
    Db *db = NULL;
    if (couchstore_open_db(tmp_path(name), COUCHSTORE_OPEN_FLAG_CREATE, &db) != COUCHSTORE_SUCCESS) return NULL;
    return db;
}

static void done(Db *db) {
    couchstore_close_file(db);
    couchstore_free_db(db);
}

static sized_buf sb(const char *s) {
    sized_buf b = {(char *)s, strlen(s)};
    return b;
}

static int buf_is(sized_buf b, const char *s) { return b.size == strlen(s) && memcmp(b.buf, s, b.size) == 0; }

/* Saves ids[i] with bodies[i] (NULL body: deletion) in one batch. */
static couchstore_error_t save_batch(Db *db, const char **ids, const char **bodies, int n, DocInfo *infos) {
    Doc docs[64];
    Doc *doc_ptrs[64];
    DocInfo *info_ptrs[64];
    for (int i = 0; i < n; i++) {
        docs[i].id = sb(ids[i]);
        docs[i].data = bodies[i] ? sb(bodies[i]) : sb("");
        doc_ptrs[i] = bodies[i] ? &docs[i] : NULL;
        memset(&infos[i], 0, sizeof infos[i]);
        infos[i].id = sb(ids[i]);
        infos[i].rev_seq = 10 + i;
        infos[i].rev_meta = sb("meta");
        infos[i].deleted = bodies[i] == NULL;
        info_ptrs[i] = &infos[i];
    }
    return couchstore_save_documents(db, doc_ptrs, info_ptrs, (unsigned)n, 0);
}

TEST(save_and_read_back) {
    Db *db = fresh("docs.couch");
    CHECK(db != NULL);
    if (!db) return;
    const char *ids[] = {"b", "a", "c"};
    const char *bodies[] = {"bee", "ay", "sea"};
    DocInfo infos[3];
    REQUIRE_OK(save_batch(db, ids, bodies, 3, infos));
    /* Sequences assigned in batch order and written back. */
    CHECK_EQ(infos[0].db_seq, 1);
    CHECK_EQ(infos[1].db_seq, 2);
    CHECK_EQ(infos[2].db_seq, 3);
    DocInfo *info = NULL;
    REQUIRE_OK(couchstore_docinfo_by_id(db, "a", 1, &info));
    CHECK(buf_is(info->id, "a"));
    CHECK(buf_is(info->rev_meta, "meta"));
    CHECK_EQ(info->db_seq, 2);
    CHECK_EQ(info->rev_seq, 11);
    CHECK_EQ(info->deleted, 0);
    CHECK(info->bp > 0);
    CHECK_EQ(info->physical_size, 8 + 2);
    /* open_doc_with_docinfo: the doc's id is the docinfo's id. */
    Doc *doc = NULL;
    REQUIRE_OK(couchstore_open_doc_with_docinfo(db, info, &doc, 0));
    CHECK(buf_is(doc->data, "ay"));
    CHECK(doc->id.buf == info->id.buf);
    couchstore_free_document(doc);
    couchstore_free_docinfo(info);
    /* open_document: the doc's id is the caller's buffer. */
    char key[] = "c";
    REQUIRE_OK(couchstore_open_document(db, key, 1, &doc, DECOMPRESS_DOC_BODIES));
    CHECK(doc->id.buf == key);
    CHECK(buf_is(doc->data, "sea"));
    couchstore_free_document(doc);
    REQUIRE_OK(couchstore_docinfo_by_sequence(db, 1, &info));
    CHECK(buf_is(info->id, "b"));
    couchstore_free_docinfo(info);
    /* Missing: DOC_NOT_FOUND, out-pointers cleared. */
    info = (DocInfo *)1;
    CHECK_EQ(couchstore_docinfo_by_id(db, "zz", 2, &info), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    CHECK(info == NULL);
    CHECK_EQ(couchstore_docinfo_by_sequence(db, 99, &info), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    doc = (Doc *)1;
    CHECK_EQ(couchstore_open_document(db, "zz", 2, &doc, 0), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    CHECK(doc == NULL);
    done(db);
}

TEST(deletions_and_tombstones) {
    Db *db = fresh("del.couch");
    if (!db) return;
    const char *ids[] = {"keep", "gone"};
    const char *bodies[] = {"k", "g"};
    DocInfo infos[2];
    REQUIRE_OK(save_batch(db, ids, bodies, 2, infos));
    /* Deleting via a NULL docs array; deleting an id never saved stores a tombstone. */
    DocInfo del[2];
    memset(del, 0, sizeof del);
    del[0].id = sb("gone");
    del[1].id = sb("never");
    DocInfo *del_ptrs[] = {&del[0], &del[1]};
    REQUIRE_OK(couchstore_save_documents(db, NULL, del_ptrs, 2, 0));
    DbInfo dbi;
    REQUIRE_OK(couchstore_db_info(db, &dbi));
    CHECK_EQ(dbi.doc_count, 1);
    CHECK_EQ(dbi.deleted_count, 2);
    DocInfo *info = NULL;
    REQUIRE_OK(couchstore_docinfo_by_id(db, "never", 5, &info));
    CHECK_EQ(info->deleted, 1);
    CHECK_EQ(info->bp, 0);
    Doc *doc = NULL;
    CHECK_EQ(couchstore_open_doc_with_docinfo(db, info, &doc, 0), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    couchstore_free_docinfo(info);
    CHECK_EQ(couchstore_open_document(db, "gone", 4, &doc, 0), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    /* A deletion saved with a body keeps it. */
    Doc body = {sb("keep"), sb("system xattrs")};
    DocInfo di = {sb("keep"), 0, 3, {NULL, 0}, 1, 0, 0, 0};
    REQUIRE_OK(couchstore_save_document(db, &body, &di, 0));
    REQUIRE_OK(couchstore_docinfo_by_id(db, "keep", 4, &info));
    CHECK_EQ(info->deleted, 1);
    CHECK(info->bp != 0);
    couchstore_free_docinfo(info);
    REQUIRE_OK(couchstore_open_document(db, "keep", 4, &doc, 0));
    CHECK(buf_is(doc->data, "system xattrs"));
    couchstore_free_document(doc);
    /* An empty id is accepted. */
    DocInfo empty = {{"", 0}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    Doc ed = {{"", 0}, sb("empty")};
    REQUIRE_OK(couchstore_save_document(db, &ed, &empty, 0));
    REQUIRE_OK(couchstore_open_document(db, "", 0, &doc, 0));
    CHECK(buf_is(doc->data, "empty"));
    couchstore_free_document(doc);
    done(db);
}

TEST(compression_and_sequence_as_is) {
    Db *db = fresh("compress.couch");
    if (!db) return;
    char body[2000];
    for (int i = 0; i < 2000; i++) body[i] = "abcd"[i % 4];
    Doc doc = {sb("z"), {body, sizeof body}};
    DocInfo di = {sb("z"), 0, 1, {NULL, 0}, 0, COUCH_DOC_IS_COMPRESSED | COUCH_DOC_NON_JSON_MODE, 0, 0};
    REQUIRE_OK(couchstore_save_document(db, &doc, &di, COMPRESS_DOC_BODIES));
    DocInfo *info = NULL;
    REQUIRE_OK(couchstore_docinfo_by_id(db, "z", 1, &info));
    CHECK(info->physical_size < 200);
    CHECK_EQ(info->content_meta, COUCH_DOC_IS_COMPRESSED | COUCH_DOC_NON_JSON_MODE);
    Doc *out = NULL;
    REQUIRE_OK(couchstore_open_doc_with_docinfo(db, info, &out, DECOMPRESS_DOC_BODIES));
    CHECK(out->data.size == sizeof body && memcmp(out->data.buf, body, sizeof body) == 0);
    couchstore_free_document(out);
    REQUIRE_OK(couchstore_open_doc_with_docinfo(db, info, &out, 0));
    CHECK(out->data.size < 200); /* raw: still compressed */
    couchstore_free_document(out);
    couchstore_free_docinfo(info);
    /* SEQUENCE_AS_IS keeps the given sequence; update_seq follows. */
    DocInfo as_is = {sb("s"), 500, 1, {NULL, 0}, 0, 0, 0, 0};
    Doc sd = {sb("s"), sb("x")};
    REQUIRE_OK(couchstore_save_document(db, &sd, &as_is, COUCHSTORE_SEQUENCE_AS_IS));
    CHECK_EQ(as_is.db_seq, 500);
    DbInfo dbi;
    REQUIRE_OK(couchstore_db_info(db, &dbi));
    CHECK_EQ(dbi.last_sequence, 500);
    DocInfo next = {sb("t"), 0, 1, {NULL, 0}, 0, 0, 0, 0};
    REQUIRE_OK(couchstore_save_document(db, &sd, &next, 0));
    CHECK_EQ(next.db_seq, 501);
    done(db);
}

TEST(invalid_documents) {
    Db *db = fresh("invalid.couch");
    if (!db) return;
    char long_id[5000];
    memset(long_id, 'x', sizeof long_id);
    DocInfo di = {{long_id, 4096}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    Doc doc = {{long_id, 4096}, sb("v")};
    CHECK_EQ(couchstore_save_document(db, &doc, &di, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    di.id.size = 4095;
    REQUIRE_OK(couchstore_save_document(db, &doc, &di, 0));
    /* NULL infos, NULL id buffer with a length. */
    CHECK_EQ(couchstore_save_documents(db, NULL, NULL, 1, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    DocInfo bad = {{NULL, 3}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    CHECK_EQ(couchstore_save_document(db, NULL, &bad, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_save_document(db, NULL, NULL, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    REQUIRE_OK(couchstore_save_documents(db, NULL, NULL, 0, 0));
    DocInfo *info;
    CHECK_EQ(couchstore_docinfo_by_id(db, NULL, 3, &info), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_docinfo_by_id(db, "a", 1, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_open_doc_with_docinfo(db, NULL, (Doc **)&info, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    done(db);
}

struct saved {
    int calls, inserts, updates;
    void *reqs[8];
};

static void on_saved(const DocInfo *old_info, const DocInfo *new_info, void *ctx, void *req) {
    struct saved *s = ctx;
    s->reqs[s->calls++] = req;
    if (old_info) {
        s->updates++;
        CHECK(old_info->db_seq < new_info->db_seq);
        CHECK(old_info->id.size == new_info->id.size && memcmp(old_info->id.buf, new_info->id.buf, old_info->id.size) == 0);
    } else {
        s->inserts++;
    }
}

TEST(save_with_callback) {
    Db *db = fresh("callback.couch");
    if (!db) return;
    const char *ids[] = {"a", "b"};
    const char *bodies[] = {"1", "2"};
    DocInfo infos[2];
    REQUIRE_OK(save_batch(db, ids, bodies, 2, infos));
    Doc docs[3] = {{sb("a"), sb("x")}, {sb("c"), sb("y")}, {sb("b"), sb("z")}};
    DocInfo in[3] = {{sb("a"), 0, 2, {NULL, 0}, 0, 0, 0, 0},
                     {sb("c"), 0, 1, {NULL, 0}, 0, 0, 0, 0},
                     {sb("b"), 0, 2, {NULL, 0}, 0, 0, 0, 0}};
    const Doc *dp[3] = {&docs[0], &docs[1], &docs[2]};
    DocInfo *ip[3] = {&in[0], &in[1], &in[2]};
    int r0, r1, r2;
    void *reqs[3] = {&r0, &r1, &r2};
    struct saved s;
    memset(&s, 0, sizeof s);
    REQUIRE_OK(couchstore_save_documents_and_callback(db, dp, ip, reqs, 3, 0, on_saved, &s));
    CHECK_EQ(s.calls, 3);
    CHECK_EQ(s.inserts, 1);
    CHECK_EQ(s.updates, 2);
    /* Every request is reported once. */
    int seen = 0;
    for (int i = 0; i < s.calls; i++) seen |= (s.reqs[i] == &r0) | (s.reqs[i] == &r1) << 1 | (s.reqs[i] == &r2) << 2;
    CHECK_EQ(seen, 7);
    /* NULL callback and NULL userReqs are fine. */
    REQUIRE_OK(couchstore_save_documents_and_callback(db, dp, ip, NULL, 3, 0, NULL, NULL));
    memset(&s, 0, sizeof s);
    REQUIRE_OK(couchstore_save_documents_and_callback(db, dp, ip, NULL, 3, 0, on_saved, &s));
    CHECK_EQ(s.calls, 3);
    CHECK(s.reqs[0] == NULL);
    done(db);
}

/* Fills a database with doc-000 .. doc-(n-1); every 5th one deleted afterwards. */
static Db *populated(const char *name, int n) {
    Db *db = fresh(name);
    if (!db) return NULL;
    char id[16], body[32];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "doc-%03d", i);
        snprintf(body, sizeof body, "body-%d", i);
        Doc doc = {sb(id), sb(body)};
        DocInfo di = {sb(id), 0, 1, {NULL, 0}, 0, 0, 0, 0};
        if (couchstore_save_document(db, &doc, &di, 0)) return NULL;
    }
    for (int i = 0; i < n; i += 5) {
        snprintf(id, sizeof id, "doc-%03d", i);
        DocInfo di = {sb(id), 0, 2, {NULL, 0}, 1, 0, 0, 0};
        if (couchstore_save_document(db, NULL, &di, 0)) return NULL;
    }
    if (couchstore_commit(db)) return NULL;
    return db;
}

struct collect {
    int count;
    uint64_t seqs[512];
    char ids[512][16];
    int deleted;
    int stop_after;
    int keep;
    DocInfo *kept[4];
};

static int collect_cb(Db *db, DocInfo *info, void *ctx) {
    struct collect *c = ctx;
    (void)db;
    if (c->count < 512) {
        c->seqs[c->count] = info->db_seq;
        snprintf(c->ids[c->count], 16, "%.*s", (int)info->id.size, info->id.buf);
    }
    c->deleted += info->deleted;
    c->count++;
    if (c->stop_after && c->count == c->stop_after) return -42;
    if (c->keep && c->count <= 4) {
        c->kept[c->count - 1] = info;
        return 1; /* keep: we free it */
    }
    return 0;
}

TEST(changes_since_and_all_docs) {
    Db *db = populated("iter.couch", 100);
    CHECK(db != NULL);
    if (!db) return;
    struct collect c;
    memset(&c, 0, sizeof c);
    REQUIRE_OK(couchstore_changes_since(db, 0, 0, collect_cb, &c));
    CHECK_EQ(c.count, 100);
    CHECK_EQ(c.deleted, 20);
    for (int i = 1; i < c.count; i++) CHECK(c.seqs[i - 1] < c.seqs[i]);
    /* since is inclusive. */
    memset(&c, 0, sizeof c);
    REQUIRE_OK(couchstore_changes_since(db, 101, 0, collect_cb, &c));
    CHECK_EQ(c.count, 20);
    CHECK_EQ(c.seqs[0], 101);
    memset(&c, 0, sizeof c);
    REQUIRE_OK(couchstore_changes_since(db, 0, COUCHSTORE_NO_DELETES, collect_cb, &c));
    CHECK_EQ(c.count, 80);
    CHECK_EQ(c.deleted, 0);
    memset(&c, 0, sizeof c);
    REQUIRE_OK(couchstore_changes_since(db, 0, COUCHSTORE_DELETES_ONLY, collect_cb, &c));
    CHECK_EQ(c.count, 20);
    CHECK_EQ(c.deleted, 20);
    /* A negative return stops and is returned. */
    memset(&c, 0, sizeof c);
    c.stop_after = 7;
    CHECK_EQ(couchstore_changes_since(db, 0, 0, collect_cb, &c), -42);
    CHECK_EQ(c.count, 7);
    /* Returning 1 keeps the DocInfo; it stays valid after the call. */
    memset(&c, 0, sizeof c);
    c.keep = 1;
    REQUIRE_OK(couchstore_all_docs(db, NULL, 0, collect_cb, &c));
    CHECK_EQ(c.count, 100);
    CHECK(buf_is(c.kept[3]->id, "doc-003"));
    for (int i = 0; i < 4; i++) couchstore_free_docinfo(c.kept[i]);
    /* all_docs from a start key, in id order. */
    memset(&c, 0, sizeof c);
    sized_buf start = sb("doc-050");
    REQUIRE_OK(couchstore_all_docs(db, &start, COUCHSTORE_NO_DELETES, collect_cb, &c));
    CHECK_EQ(c.count, 40);
    CHECK(strcmp(c.ids[0], "doc-051") == 0);
    CHECK_EQ(couchstore_all_docs(db, NULL, 0, NULL, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    uint64_t count = 0;
    REQUIRE_OK(couchstore_changes_count(db, 0, 1000, &count));
    CHECK_EQ(count, 100);
    /* Seqs 90..100 less the two whose docs were deleted later (91, 96), plus 101..110. */
    REQUIRE_OK(couchstore_changes_count(db, 90, 110, &count));
    CHECK_EQ(count, 19);
    REQUIRE_OK(couchstore_changes_count(db, 5, 4, &count));
    CHECK_EQ(count, 0);
    done(db);
}

TEST(docinfos_by_id_and_sequence) {
    Db *db = populated("multi.couch", 100);
    if (!db) return;
    struct collect c;
    memset(&c, 0, sizeof c);
    sized_buf ids[] = {sb("doc-042"), sb("doc-007"), sb("missing"), sb("doc-099")};
    REQUIRE_OK(couchstore_docinfos_by_id(db, ids, 4, 0, collect_cb, &c));
    CHECK_EQ(c.count, 3);
    CHECK(strcmp(c.ids[0], "doc-007") == 0 && strcmp(c.ids[2], "doc-099") == 0);
    memset(&c, 0, sizeof c);
    sized_buf ranges[] = {sb("doc-010"), sb("doc-014"), sb("doc-090"), sb("doc-091"), sb("odd")};
    REQUIRE_OK(couchstore_docinfos_by_id(db, ranges, 5, RANGES, collect_cb, &c));
    CHECK_EQ(c.count, 7);
    memset(&c, 0, sizeof c);
    REQUIRE_OK(couchstore_docinfos_by_id(db, ranges, 4, RANGES | COUCHSTORE_NO_DELETES, collect_cb, &c));
    CHECK_EQ(c.count, 5);
    /* An unpaired last key starts a range that runs to the end of the tree. */
    memset(&c, 0, sizeof c);
    sized_buf open_ended[] = {sb("doc-010"), sb("doc-011"), sb("doc-095")};
    REQUIRE_OK(couchstore_docinfos_by_id(db, open_ended, 3, RANGES, collect_cb, &c));
    CHECK_EQ(c.count, 2 + 5);
    CHECK(strcmp(c.ids[2], "doc-095") == 0 && strcmp(c.ids[6], "doc-099") == 0);
    memset(&c, 0, sizeof c);
    uint64_t from_97[] = {97};
    REQUIRE_OK(couchstore_docinfos_by_sequence(db, from_97, 1, RANGES, collect_cb, &c));
    CHECK(c.count >= 4);
    CHECK_EQ(c.seqs[0], 97);
    memset(&c, 0, sizeof c);
    uint64_t seqs[] = {50, 3, 1000, 7};
    REQUIRE_OK(couchstore_docinfos_by_sequence(db, seqs, 4, 0, collect_cb, &c));
    CHECK_EQ(c.count, 3);
    CHECK(c.seqs[0] == 3 && c.seqs[1] == 7 && c.seqs[2] == 50);
    memset(&c, 0, sizeof c);
    uint64_t seq_ranges[] = {10, 19, 101, 103};
    /* 10..19 less 11 and 16 (docs 10 and 15 deleted later), plus 101..103. */
    REQUIRE_OK(couchstore_docinfos_by_sequence(db, seq_ranges, 4, RANGES, collect_cb, &c));
    CHECK_EQ(c.count, 11);
    CHECK_EQ(couchstore_docinfos_by_sequence(db, NULL, 2, 0, collect_cb, &c), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    done(db);
}

struct walk {
    int nodes, docs, max_depth, leaf_depth_docs;
    uint64_t root_size;
    int first_was_root;
};

static int walk_cb(Db *db, int depth, const DocInfo *info, uint64_t subtree_size, const sized_buf *reduce, void *ctx) {
    struct walk *w = ctx;
    (void)db;
    if (w->nodes + w->docs == 0) w->first_was_root = depth == 0 && info == NULL;
    if (info) {
        w->docs++;
        CHECK(reduce == NULL);
        CHECK(depth >= 1);
    } else {
        CHECK(reduce != NULL);
        CHECK(subtree_size > 0);
        if (depth == 0) w->root_size = subtree_size;
        w->nodes++;
    }
    if (depth > w->max_depth) w->max_depth = depth;
    return 0;
}

TEST(tree_walks) {
    Db *db = populated("walk.couch", 300);
    if (!db) return;
    struct walk w;
    memset(&w, 0, sizeof w);
    REQUIRE_OK(couchstore_walk_id_tree(db, NULL, 0, walk_cb, &w));
    CHECK(w.first_was_root);
    CHECK_EQ(w.docs, 300);
    CHECK(w.nodes > 3);
    CHECK(w.max_depth >= 2);
    memset(&w, 0, sizeof w);
    REQUIRE_OK(couchstore_walk_id_tree(db, NULL, COUCHSTORE_DELETES_ONLY, walk_cb, &w));
    CHECK_EQ(w.docs, 60);
    memset(&w, 0, sizeof w);
    REQUIRE_OK(couchstore_walk_seq_tree(db, 301, 0, walk_cb, &w));
    CHECK_EQ(w.docs, 60);
    LocalDoc l = {sb("_local/a"), sb("{}"), 0};
    REQUIRE_OK(couchstore_save_local_document(db, &l));
    memset(&w, 0, sizeof w);
    REQUIRE_OK(couchstore_walk_local_tree(db, NULL, walk_cb, &w));
    CHECK_EQ(w.docs, 1);
    CHECK_EQ(w.nodes, 1);
    CHECK_EQ(couchstore_walk_seq_tree(db, 0, 0, NULL, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    done(db);
}

TEST(local_documents) {
    Db *db = fresh("local.couch");
    if (!db) return;
    LocalDoc a = {sb("_local/vbstate"), sb("{\"state\":\"active\"}"), 0};
    REQUIRE_OK(couchstore_save_local_document(db, &a));
    LocalDoc *out = NULL;
    REQUIRE_OK(couchstore_open_local_document(db, "_local/vbstate", 14, &out));
    CHECK(buf_is(out->id, "_local/vbstate"));
    CHECK(buf_is(out->json, "{\"state\":\"active\"}"));
    CHECK_EQ(out->deleted, 0);
    couchstore_free_local_document(out);
    LocalDoc b = {sb("_local/vbstate"), sb("{\"state\":\"replica\"}"), 0};
    REQUIRE_OK(couchstore_save_local_document(db, &b));
    REQUIRE_OK(couchstore_commit(db));
    REQUIRE_OK(couchstore_open_local_document(db, "_local/vbstate", 14, &out));
    CHECK(buf_is(out->json, "{\"state\":\"replica\"}"));
    couchstore_free_local_document(out);
    /* Local docs do not touch sequences or counters. */
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(db, &info));
    CHECK_EQ(info.last_sequence, 0);
    CHECK_EQ(info.doc_count, 0);
    CHECK(info.space_used > 0);
    /* Deleting: the json is ignored; a missing one is not an error. */
    LocalDoc del = {sb("_local/vbstate"), {NULL, 12345}, 1};
    REQUIRE_OK(couchstore_save_local_document(db, &del));
    CHECK_EQ(couchstore_open_local_document(db, "_local/vbstate", 14, &out), COUCHSTORE_ERROR_DOC_NOT_FOUND);
    CHECK(out == NULL);
    REQUIRE_OK(couchstore_save_local_document(db, &del));
    CHECK_EQ(couchstore_save_local_document(db, NULL), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    couchstore_free_local_document(NULL);
    done(db);
}

TEST(alloc_docinfo) {
    sized_buf id = sb("the-id"), meta = sb("m");
    DocInfo *d = couchstore_alloc_docinfo(&id, &meta);
    CHECK(d != NULL);
    CHECK(buf_is(d->id, "the-id") && d->id.buf != id.buf);
    CHECK(buf_is(d->rev_meta, "m"));
    CHECK_EQ(d->db_seq, 0);
    couchstore_free_docinfo(d);
    d = couchstore_alloc_docinfo(NULL, NULL);
    CHECK(d != NULL && d->id.buf == NULL && d->id.size == 0 && d->rev_meta.buf == NULL);
    couchstore_free_docinfo(d);
    couchstore_free_docinfo(NULL);
    couchstore_free_document(NULL);
}

TEST(purge_seq) {
    const char *path = tmp_path("purge.couch");
    Db *db = NULL;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    REQUIRE_OK(couchstore_set_purge_seq(db, 77));
    REQUIRE_OK(couchstore_commit(db));
    done(db);
    REQUIRE_OK(couchstore_open_db(path, 0, &db));
    DbInfo info;
    REQUIRE_OK(couchstore_db_info(db, &info));
    CHECK_EQ(info.purge_seq, 77);
    done(db);
}

static int reenter_cb(Db *db, DocInfo *info, void *ctx) {
    /* Reads from inside a callback work; writes and frees are refused, not crashed. */
    Doc *doc = NULL;
    CHECK_EQ(couchstore_open_doc_with_docinfo(db, info, &doc, 0), info->deleted ? COUCHSTORE_ERROR_DOC_NOT_FOUND : COUCHSTORE_SUCCESS);
    couchstore_free_document(doc);
    DocInfo di = {{"x", 1}, 0, 1, {NULL, 0}, 0, 0, 0, 0};
    CHECK_EQ(couchstore_save_document(db, NULL, &di, 0), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_free_db(db), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    CHECK_EQ(couchstore_close_file(db), COUCHSTORE_ERROR_INVALID_ARGUMENTS);
    (*(int *)ctx)++;
    return 0;
}

TEST(callbacks_calling_back_in) {
    Db *db = populated("reenter.couch", 20);
    if (!db) return;
    int n = 0;
    REQUIRE_OK(couchstore_changes_since(db, 0, 0, reenter_cb, &n));
    CHECK_EQ(n, 20);
    done(db);
}

RUN_TESTS(T(save_and_read_back), T(deletions_and_tombstones), T(compression_and_sequence_as_is),
          T(invalid_documents), T(save_with_callback), T(changes_since_and_all_docs),
          T(docinfos_by_id_and_sequence), T(tree_walks), T(local_documents), T(alloc_docinfo), T(purge_seq),
          T(callbacks_calling_back_in))
