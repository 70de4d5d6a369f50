/* A minimal test harness for the C conformance suite: plain C99, no dependencies.
 * Each test file defines its tests with TEST(name) and lists them in a TESTS table;
 * main() runs them and prints "N passed, N failed". */
#ifndef COUCHSTORE_CHECK_H
#define COUCHSTORE_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_failures;
static const char *check_tmpdir = ".";
static const char *check_golden = "../shared/golden";

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

#define CHECK_EQ(a, b)                                                                          \
    do {                                                                                        \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                         \
        if (check_a_ != check_b_) {                                                             \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, \
                    #b, check_a_, check_b_);                                                    \
            check_failures++;                                                                   \
        }                                                                                       \
    } while (0)

/* Fails the test and leaves it at once (for failures later checks depend on). */
#define REQUIRE_OK(call)                                                                 \
    do {                                                                                 \
        couchstore_error_t require_e_ = (call);                                          \
        if (require_e_ != COUCHSTORE_SUCCESS) {                                          \
            fprintf(stderr, "  %s:%d: %s returned %d (%s)\n", __FILE__, __LINE__, #call, \
                    (int)require_e_, couchstore_strerror(require_e_));                   \
            check_failures++;                                                            \
            return;                                                                      \
        }                                                                                \
    } while (0)

#define TEST(name) static void name(void)

typedef struct {
    const char *name;
    void (*fn)(void);
} check_test;

/* A fresh path in the test's temporary directory. */
static const char *tmp_path(const char *name) {
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 512, "%s/%s", check_tmpdir, name);
    unlink(p);
    return p;
}

static const char *golden_path(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", check_golden, name);
    return p;
}

/* Runs the tests; argv[1] is a scratch directory, argv[2] the golden directory. */
static int check_main(int argc, char **argv, const check_test *tests, size_t n) {
    int passed = 0, failed = 0;
    if (argc > 1) check_tmpdir = argv[1];
    if (argc > 2) check_golden = argv[2];
    for (size_t i = 0; i < n; i++) {
        int before = check_failures;
        tests[i].fn();
        if (check_failures == before) {
            passed++;
            printf("test %s ... ok\n", tests[i].name);
        } else {
            failed++;
            printf("test %s ... FAILED\n", tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define RUN_TESTS(...)                                                               \
    int main(int argc, char **argv) {                                                \
        static const check_test tests[] = {__VA_ARGS__};                             \
        return check_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));      \
    }
#define T(name) {#name, name}

#endif
