/* perfprobe.c - bandwidth and sgemm probes for the benchmarks (see perfprobe.h). */
#include "perfprobe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef VLKV_HAVE_BLAS
#include <cblas.h>
void openblas_set_num_threads(int n);
#endif

int vlkv_probe_have_blas(void) {
#ifdef VLKV_HAVE_BLAS
    return 1;
#else
    return 0;
#endif
}

/* 8 independent 64-bit accumulators: the compiler vectorises this at -O2 -ftree-vectorize (-O3)
 * and the loop is bound by loads, not adds. */
static uint64_t sum_range(const uint64_t *p, size_t n) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
    }
    for (; i < n; i++) a0 += p[i];
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

double vlkv_probe_read_bw(size_t bytes, int n_threads, int reps) {
    size_t n = bytes / sizeof(uint64_t);
    uint64_t *buf = vlkv_malloc_aligned(n * sizeof(uint64_t));
    if (!buf) return 0;
    if (n_threads < 1) n_threads = 1;
    /* first touch from the threads that will read (page placement), non-zero content */
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i * 0x9E3779B97F4A7C15ULL;
    double best = 0;
    volatile uint64_t sink = 0;
    for (int r = 0; r < reps; r++) {
        uint64_t total = 0;
        double t0 = vlkv_time_ms();
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
        {
            int nth = 1, ith = 0;
#ifdef _OPENMP
            nth = omp_get_num_threads();
            ith = omp_get_thread_num();
#endif
            size_t chunk = (n + (size_t)nth - 1) / (size_t)nth;
            size_t lo = (size_t)ith * chunk, hi = VLKV_MIN(n, lo + chunk);
            if (lo < hi) total += sum_range(buf + lo, hi - lo);
        }
        double ms = vlkv_time_ms() - t0;
        sink += total;
        double gbs = (double)(n * sizeof(uint64_t)) / (ms * 1e6);
        if (gbs > best) best = gbs;
    }
    (void)sink;
    vlkv_free_aligned(buf);
    return best;
}

double vlkv_probe_sgemm(int m, int n, int k, int n_threads, int reps) {
#ifdef VLKV_HAVE_BLAS
    float *a = vlkv_malloc_aligned(sizeof(float) * (size_t)m * k);
    float *b = vlkv_malloc_aligned(sizeof(float) * (size_t)n * k);
    float *c = vlkv_malloc_aligned(sizeof(float) * (size_t)m * n);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < (size_t)n * k; i++) b[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
        openblas_set_num_threads(n_threads);
        for (int r = 0; r < reps + 1; r++) {   /* first run warms up */
            double t0 = vlkv_time_ms();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
            double ms = vlkv_time_ms() - t0;
            double gf = 2.0 * m * n * k / (ms * 1e6);
            if (r > 0 && gf > best) best = gf;
        }
    }
    vlkv_free_aligned(a);
    vlkv_free_aligned(b);
    vlkv_free_aligned(c);
    return best;
#else
    (void)m; (void)n; (void)k; (void)n_threads; (void)reps;
    return 0;
#endif
}
