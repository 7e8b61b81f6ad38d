/* test_util.h - tiny test helpers (no framework): CHECK, CHECK_NEAR, nmse, a seeded RNG.
 * A test returns 0 on pass, 1 on failure, 77 to skip (ctest SKIP_RETURN_CODE). */
#ifndef VLKV_TEST_UTIL_H
#define VLKV_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures;
static int test_checks;

#define CHECK(cond) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); test_checks++; \
    if (!(fabs(a_ - b_) <= (tol))) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %g\n", \
            __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol)); } } while (0)

/* Prints the summary line and returns the exit status. */
static inline int test_done(const char *name) {
    if (test_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

/* normalised mean squared error sum((a-b)^2) / sum(b^2) */
static inline double nmse(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

static inline double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

/* xorshift64* */
typedef struct { uint64_t s; } test_rng;
static inline uint64_t rng_u64(test_rng *r) {
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}
static inline float rng_f32(test_rng *r) {  /* uniform in [-1, 1) */
    return (float)((rng_u64(r) >> 40) * (1.0 / 8388608.0) - 1.0);
}

#endif /* VLKV_TEST_UTIL_H */
