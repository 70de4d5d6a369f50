/*
 * libcouchstore (couchstore-rs): the latency collector of the original's
 * couch_latency.h. While it runs, every API call is timed; couchstore_get_latency_info
 * then reports, per API function, the number of calls and their latency distribution.
 *
 * The original reports Couchbase platform's Histogram type; this library does not
 * depend on that library, so the histogram is its own CouchLatencyHisto, declared
 * here (which is why couchstore_get_latency_info's mangled name is not the original's).
 * C++ only.
 */
#ifndef COUCHSTORE_COUCH_LATENCY_H
#define COUCHSTORE_COUCH_LATENCY_H

#ifdef __cplusplus

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "visibility.h"

/** The unit of the latency figures. */
using CouchLatencyMicroSec = std::chrono::duration<uint64_t, std::micro>;

/**
 * The latency distribution of one API function: bucket `i` counts the calls that took
 * at least `lowerBound(i)` and less than `upperBound(i)` microseconds, where bucket 0
 * is [0, 1) and bucket i > 0 is [2^(i-1), 2^i).
 */
class CouchLatencyHisto {
public:
    CouchLatencyHisto() = default;
    explicit CouchLatencyHisto(std::vector<uint64_t> buckets) : counts(std::move(buckets)) {
    }

    /** The number of calls recorded. */
    uint64_t getValueCount() const {
        uint64_t n = 0;
        for (auto c : counts) {
            n += c;
        }
        return n;
    }

    /** The number of buckets (the last non-empty one and those before it). */
    size_t size() const {
        return counts.size();
    }

    /** The calls in bucket `i`. */
    uint64_t count(size_t i) const {
        return i < counts.size() ? counts[i] : 0;
    }

    /** The lower bound of bucket `i`. */
    static CouchLatencyMicroSec lowerBound(size_t i) {
        return CouchLatencyMicroSec(i == 0 ? 0 : uint64_t(1) << (i - 1));
    }

    /** The upper bound (exclusive) of bucket `i`. */
    static CouchLatencyMicroSec upperBound(size_t i) {
        return CouchLatencyMicroSec(uint64_t(1) << i);
    }

    /**
     * The upper bound of the bucket holding the `p`-th percentile (0 < p <= 100) of
     * the calls; zero when there are none.
     */
    CouchLatencyMicroSec getValueAtPercentile(double p) const {
        const uint64_t total = getValueCount();
        if (total == 0) {
            return CouchLatencyMicroSec(0);
        }
        const double want = total * (p / 100.0);
        uint64_t seen = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
            seen += counts[i];
            if (double(seen) >= want) {
                return upperBound(i);
            }
        }
        return upperBound(counts.size() - 1);
    }

private:
    std::vector<uint64_t> counts;
};

/**
 * Told of one API function: its name, its latency distribution (valid during the call)
 * and the total time of its calls in microseconds. Return 1 to stop the report.
 */
using couchstore_latency_callback_fn =
        std::function<int(const char* stat_name, CouchLatencyHisto* latencies, uint64_t elapsed_us, void* ctx)>;

/** Options of couchstore_get_latency_info (none yet). */
struct couchstore_latency_dump_options {};

/** Starts timing every API call (from zero when it was stopped). */
LIBCOUCHSTORE_API void couchstore_latency_collector_start();

/** Calls `callback_fn` for each API function called since the collector started. */
LIBCOUCHSTORE_API void couchstore_get_latency_info(couchstore_latency_callback_fn callback_fn,
                                                   couchstore_latency_dump_options options,
                                                   void* ctx);

/** Stops timing and drops what was collected. */
LIBCOUCHSTORE_API void couchstore_latency_collector_stop();

#endif /* __cplusplus */

#endif /* COUCHSTORE_COUCH_LATENCY_H */
