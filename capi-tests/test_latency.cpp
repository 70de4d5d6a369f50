// The latency collector of couch_latency.h, and the raw field helpers the original's
// tools call (exported by the library; declared here as the original's internal header
// declares them). Built as C++17 against the public headers only.
#include <libcouchstore/couch_db.h>
#include <libcouchstore/couch_latency.h>

#include <map>
#include <string>

#include "check.h"

extern "C" {
typedef struct {
    uint8_t raw_bytes[1];
} raw_08;
typedef struct {
    uint8_t raw_bytes[2];
} raw_16;
typedef struct {
    uint8_t raw_bytes[3];
} raw_24;
typedef struct {
    uint8_t raw_bytes[4];
} raw_32;
typedef struct {
    uint8_t raw_bytes[5];
} raw_40;
typedef struct {
    uint8_t raw_bytes[6];
} raw_48;
typedef struct {
    uint8_t raw_bytes[8];
} raw_64;
uint8_t couchstore_decode_raw08(raw_08 raw);
uint16_t couchstore_decode_raw16(raw_16 raw);
uint32_t couchstore_decode_raw24p(const raw_24* raw);
uint32_t couchstore_decode_raw32(raw_32 raw);
uint64_t couchstore_decode_raw40p(const raw_40* raw);
uint64_t couchstore_decode_raw48p(const raw_48* raw);
uint64_t couchstore_decode_raw64(raw_64 raw);
raw_08 couchstore_encode_raw08(uint8_t value);
raw_16 couchstore_encode_raw16(uint16_t value);
void couchstore_encode_raw24(uint32_t value, raw_24* raw);
raw_32 couchstore_encode_raw32(uint32_t value);
void couchstore_encode_raw40(uint64_t value, raw_40* raw);
void couchstore_encode_raw48(uint64_t value, raw_48* raw);
raw_64 couchstore_encode_raw64(uint64_t value);
}

namespace {
struct Seen {
    uint64_t count = 0;
    uint64_t total_us = 0;
    uint64_t p100 = 0;
};

std::map<std::string, Seen> report(int stop_after = 0) {
    std::map<std::string, Seen> seen;
    int calls = 0;
    couchstore_get_latency_info(
            [&](const char* name, CouchLatencyHisto* h, uint64_t elapsed_us, void*) {
                seen[name] = {h->getValueCount(), elapsed_us, uint64_t(h->getValueAtPercentile(100).count())};
                return ++calls == stop_after ? 1 : 0;
            },
            {}, nullptr);
    return seen;
}
} // namespace

TEST(latency_collector_counts_calls_per_function) {
    CHECK(report().empty()); // not started
    couchstore_latency_collector_start();
    const char* path = tmp_path("latency.couch");
    Db* db = nullptr;
    REQUIRE_OK(couchstore_open_db(path, COUCHSTORE_OPEN_FLAG_CREATE, &db));
    for (int i = 0; i < 25; i++) {
        const std::string key = "k" + std::to_string(i);
        Doc doc{{const_cast<char*>(key.data()), key.size()}, {const_cast<char*>("v"), 1}};
        DocInfo info{};
        info.id = doc.id;
        CHECK_EQ(couchstore_save_document(db, &doc, &info, 0), COUCHSTORE_SUCCESS);
    }
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(couchstore_commit(db), COUCHSTORE_SUCCESS);
    }
    auto seen = report();
    CHECK_EQ(seen["couchstore_save_document"].count, 25);
    CHECK_EQ(seen["couchstore_commit"].count, 3);
    CHECK_EQ(seen["couchstore_open_db"].count, 1);
    CHECK(seen["couchstore_commit"].p100 >= 1);
    CHECK(seen["couchstore_commit"].total_us <= 3 * seen["couchstore_commit"].p100);
    // Returning 1 stops the report.
    CHECK_EQ(report(1).size(), 1);
    // Stopping drops what was collected; starting again counts from zero.
    couchstore_latency_collector_stop();
    CHECK_EQ(couchstore_commit(db), COUCHSTORE_SUCCESS);
    CHECK(report().empty());
    couchstore_latency_collector_start();
    CHECK_EQ(couchstore_commit(db), COUCHSTORE_SUCCESS);
    CHECK_EQ(report()["couchstore_commit"].count, 1);
    couchstore_latency_collector_stop();
    couchstore_close_file(db);
    couchstore_free_db(db);
}

TEST(histogram_buckets) {
    CouchLatencyHisto h({3, 0, 1});
    CHECK_EQ(h.getValueCount(), 4);
    CHECK_EQ(h.size(), 3);
    CHECK_EQ(h.count(2), 1);
    CHECK_EQ(h.count(9), 0);
    CHECK_EQ(CouchLatencyHisto::lowerBound(0).count(), 0);
    CHECK_EQ(CouchLatencyHisto::lowerBound(3).count(), 4);
    CHECK_EQ(CouchLatencyHisto::upperBound(3).count(), 8);
    CHECK_EQ(h.getValueAtPercentile(50).count(), 1);
    CHECK_EQ(h.getValueAtPercentile(100).count(), 4);
    CHECK_EQ(CouchLatencyHisto().getValueAtPercentile(99).count(), 0);
}

TEST(raw_field_helpers) {
    CHECK_EQ(couchstore_decode_raw08(couchstore_encode_raw08(0xab)), 0xab);
    const raw_16 r16 = couchstore_encode_raw16(0x1234);
    CHECK(r16.raw_bytes[0] == 0x12 && r16.raw_bytes[1] == 0x34);
    CHECK_EQ(couchstore_decode_raw16(r16), 0x1234);
    raw_24 r24;
    couchstore_encode_raw24(0xabcdef, &r24);
    CHECK(r24.raw_bytes[0] == 0xab && r24.raw_bytes[2] == 0xef);
    CHECK_EQ(couchstore_decode_raw24p(&r24), 0xabcdef);
    CHECK_EQ(couchstore_decode_raw32(couchstore_encode_raw32(0xdeadbeef)), 0xdeadbeef);
    raw_40 r40;
    couchstore_encode_raw40(0x0102030405ULL, &r40);
    CHECK_EQ(couchstore_decode_raw40p(&r40), 0x0102030405ULL);
    raw_48 r48;
    couchstore_encode_raw48(0x0000ffffffffffffULL, &r48);
    CHECK_EQ(couchstore_decode_raw48p(&r48), 0xffffffffffffULL);
    const raw_64 r64 = couchstore_encode_raw64(0x0102030405060708ULL);
    CHECK(r64.raw_bytes[0] == 1 && r64.raw_bytes[7] == 8);
    CHECK_EQ(couchstore_decode_raw64(r64), 0x0102030405060708ULL);
}

RUN_TESTS(T(latency_collector_counts_calls_per_function), T(histogram_buckets), T(raw_field_helpers))
