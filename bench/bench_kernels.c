/* bench_kernels.c - kernel speed against the machine's limits, as markdown tables:
 *  (a) memory bandwidth: read-only streaming sum over a buffer much larger than the LLC,
 *      1 and N OpenMP threads, best of k (GB/s);
 *  (b) gemv (decode) per weight type x ISA on real shapes, threaded over rows like the engine:
 *      ns/call, GB/s of weights streamed (rotating over copies larger than the LLC, so the
 *      numbers are DRAM numbers), and the fraction of (a) at the same thread count;
 *  (c) gemm (prefill, 512 tokens) GFLOP/s per type x ISA, activation quantization included,
 *      next to OpenBLAS cblas_sgemm on the same shape and thread count.
 * Usage: bench_kernels [-t threads] [-m probe_MB] [-r reps] [--quick] [--gemv-only] [--ref (also time the scalar table)] */
#include "simd.h"
#include "types.h"
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef VLKV_HAVE_BLAS
/* OpenBLAS entry points (declared here so the bench needs no cblas.h include path) */
void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
#endif

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void *xmalloc(size_t n) {
    void *p = vlkv_malloc_aligned(n);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* ---- (a) bandwidth probe ------------------------------------------------------------------ */

static double g_sink;

/* Streams the buffer once per pass with the selected table's dot_f32(x, x): both operands are
 * the same cache line, so DRAM traffic is exactly the buffer size; the kernel is vectorized, so
 * the loop is memory-bound rather than ALU-bound. */
static double probe_bw(const float *buf, size_t n, int nth, int reps) {
    const struct vlkv_kernels *k = vlkv_kernels_get();
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        double total = 0;
        const double t0 = vlkv_time_ms();
#ifdef _OPENMP
#pragma omp parallel num_threads(nth) reduction(+ : total)
#endif
        {
            int ith = 0, nt = 1;
#ifdef _OPENMP
            ith = omp_get_thread_num();
            nt = omp_get_num_threads();
#endif
            const size_t per = (n / nt + 15) / 16 * 16;
            const size_t a = per * ith, b = VLKV_MIN(n, a + per);
            if (b > a) total += k->dot_f32((int64_t)(b - a), buf + a, buf + a);
        }
        const double dt = vlkv_time_ms() - t0;
        g_sink += total;
        if (dt < best) best = dt;
    }
    return (double)n * 4 / (best * 1e-3) / 1e9;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static uint64_t g_rng = 0x2545f4914f6cdd1dULL;
static float frand(void) {
    g_rng ^= g_rng >> 12; g_rng ^= g_rng << 25; g_rng ^= g_rng >> 27;
    return (float)((g_rng * 2685821657736338717ULL >> 40) * (1.0 / 8388608.0) - 1.0);
}

/* rows x n weights of type t: quantize 16 distinct rows and tile them (timing only) */
static void *make_weights(enum vlkv_type t, int64_t rows, int64_t n, size_t *bytes) {
    const size_t rs = vlkv_row_size(t, n);
    char *w = xmalloc(rs * rows);
    float *x = xmalloc(n * sizeof(float));
    const int64_t distinct = VLKV_MIN(16, rows);
    for (int64_t r = 0; r < distinct; r++) {
        for (int64_t i = 0; i < n; i++) x[i] = frand() * 0.05f;
        vlkv_type_traits_get(t)->from_float(x, w + r * rs, n);
    }
    for (int64_t r = distinct; r < rows; r++) memcpy(w + r * rs, w + (r % distinct) * rs, rs);
    vlkv_free_aligned(x);
    *bytes = rs * rows;
    return w;
}

/* ---- (b) gemv ---------------------------------------------------------------------------------- */

struct shape { int64_t rows, n; const char *what; };

/* Make random bytes decode to finite values: small f16 scales, bounded f16 elements. */
static void sanitize_scales(enum vlkv_type t, char *p, size_t bytes) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t);
    const size_t bs = tr->type_size;
    const uint16_t h = 0x1800;   /* f16 ~ 0.0020 */
    for (size_t off = 0; off + bs <= bytes; off += bs) {
        char *b = p + off;
        switch (t) {
        case VLKV_TYPE_F16: { uint16_t v; memcpy(&v, b, 2); v &= 0xbbff; memcpy(b, &v, 2); break; }
        case VLKV_TYPE_Q4_0: case VLKV_TYPE_Q5_0: case VLKV_TYPE_Q8_0: memcpy(b, &h, 2); break;
        case VLKV_TYPE_Q4_1: case VLKV_TYPE_Q5_1: case VLKV_TYPE_Q4_K: case VLKV_TYPE_Q5_K:
            memcpy(b, &h, 2); memcpy(b + 2, &h, 2); break;
        case VLKV_TYPE_Q6_K: memcpy(b + 208, &h, 2); break;
        default: break;
        }
    }
}

static char *g_arena;          /* rotation buffer shared by every gemv run (allocated once) */
static size_t g_arena_size;

/* The repacked layout (simd.h): every group-block starts with 8 (Q4_K: 16) f16 scales. */
static void sanitize_scales_rp(enum vlkv_type t, char *p, size_t bytes) {
    const size_t bs = t == VLKV_TYPE_Q4_0 ? 144 : t == VLKV_TYPE_Q8_0 ? 272 : 1184;
    const int nd = t == VLKV_TYPE_Q4_K ? 16 : 8;
    const uint16_t h = 0x1800;
    for (size_t off = 0; off + bs <= bytes; off += bs)
        for (int i = 0; i < nd; i++) memcpy(p + off + 2 * i, &h, 2);
}

/* rp = 1: the table's gemv_rp over the row-interleaved layout the engine repacks to at load */
static void bench_gemv(const struct vlkv_kernels *k, enum vlkv_type t, struct shape sh, int nth, int reps, double bw,
                       int rp) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t);
    if (rp && !k->gemv_rp[t]) return;
    const size_t wbytes = rp ? vlkv_repack_size(t, sh.n, sh.rows) : vlkv_row_size(t, sh.n) * sh.rows;
    /* The arena holds distinct random bytes (identical pages could be deduplicated by the host
     * and then hit in cache); here only the scale fields are made sane so the arithmetic stays
     * finite. Rotating over arena/wbytes matrices makes every call stream from DRAM. */
    const int ncopy = (int)VLKV_MAX(1, g_arena_size / wbytes);
    if (rp) sanitize_scales_rp(t, g_arena, (size_t)ncopy * wbytes);
    else sanitize_scales(t, g_arena, (size_t)ncopy * wbytes);
    const size_t rs = vlkv_row_size(t, sh.n);
    const enum vlkv_type vt = tr->vec_dot_type;
    float *x = xmalloc(sh.n * sizeof(float)), *s = xmalloc(sh.rows * sizeof(float));
    void *y = xmalloc(vlkv_row_size(vt, sh.n));
    for (int64_t i = 0; i < sh.n; i++) x[i] = frand();
    k->from_float[vt](x, y, sh.n);
    /* One timed sample = a sweep over all copies (as a decode step streams every weight once);
     * timing single calls instead reports cache-assisted outliers on this kind of machine. */
    double best = 1e30;
    for (int rep = 0; rep < reps + 1; rep++) {
        const double t0 = vlkv_time_ms();
        for (int ic = 0; ic < ncopy; ic++) {
            const char *wi = g_arena + (size_t)ic * wbytes;
#ifdef _OPENMP
#pragma omp parallel num_threads(nth)
#endif
            {
                int ith = 0, n = 1;
#ifdef _OPENMP
                ith = omp_get_thread_num();
                n = omp_get_num_threads();
#endif
                const int64_t dr = ((sh.rows + n - 1) / n + 15) / 16 * 16, r0 = dr * ith, r1 = VLKV_MIN(sh.rows, r0 + dr);
                if (r1 > r0 && rp)
                    k->gemv_rp[t](sh.n, r1 - r0, s + r0, wi + (size_t)(r0 / VLKV_RP_ROWS) * vlkv_repack_group_size(t, sh.n), y);
                else if (r1 > r0) k->gemv[t](sh.n, r1 - r0, s + r0, wi + r0 * rs, rs, y);
            }
        }
        const double dt = (vlkv_time_ms() - t0) / ncopy;
        if (rep > 0 && dt < best) best = dt;   /* rep 0 is warm-up */
    }
    const double gbs = wbytes / (best * 1e-3) / 1e9;
    printf("| gemv%s %-5s | %-4s | %5lldx%-5lld %-10s | %2d | %9.0f | %6.2f | %5.1f%% |\n", rp ? "_rp" : "", tr->name, k->name,
           (long long)sh.rows, (long long)sh.n, sh.what, nth, best * 1e6, gbs, 100.0 * gbs / bw);
    vlkv_free_aligned(x); vlkv_free_aligned(s); vlkv_free_aligned(y);
}

/* ---- (c) gemm ---------------------------------------------------------------------------------- */

static double bench_gemm(const struct vlkv_kernels *k, enum vlkv_type t, int64_t rows, int64_t n, int64_t ntok,
                         int nth, int reps) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t);
    size_t wbytes;
    char *w = make_weights(t, rows, n, &wbytes);
    const size_t rs = vlkv_row_size(t, n);
    const enum vlkv_type vt = tr->vec_dot_type;
    const size_t ys = vlkv_row_size(vt, n);
    float *x = xmalloc(n * ntok * sizeof(float)), *s = xmalloc(rows * ntok * sizeof(float));
    char *y = xmalloc(ys * ntok);
    for (int64_t i = 0; i < n * ntok; i++) x[i] = frand();
    double best = 1e30;
    for (int rep = 0; rep < reps + 1; rep++) {
        const double t0 = vlkv_time_ms();
#ifdef _OPENMP
#pragma omp parallel num_threads(nth)
#endif
        {
            int ith = 0, nt = 1;
#ifdef _OPENMP
            ith = omp_get_thread_num();
            nt = omp_get_num_threads();
#endif
            /* activation quantization split over tokens, then output rows split over threads */
            const int64_t dc = (ntok + nt - 1) / nt;
            for (int64_t c = dc * ith; c < VLKV_MIN(ntok, dc * (ith + 1)); c++)
                k->from_float[vt](x + c * n, y + c * ys, n);
#ifdef _OPENMP
#pragma omp barrier
#endif
            const int64_t dr = ((rows + nt - 1) / nt + 3) / 4 * 4, r0 = dr * ith, r1 = VLKV_MIN(rows, r0 + dr);
            if (r1 > r0) k->gemm[t](n, r1 - r0, ntok, s + r0, rows, w + r0 * rs, rs, y, ys);
        }
        const double dt = vlkv_time_ms() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    vlkv_free_aligned(w); vlkv_free_aligned(x); vlkv_free_aligned(s); vlkv_free_aligned(y);
    return 2.0 * rows * n * ntok / (best * 1e-3) / 1e9;
}

#ifdef VLKV_HAVE_BLAS
static double bench_sgemm(int64_t rows, int64_t n, int64_t ntok, int nth, int reps) {
    float *a = xmalloc(rows * n * sizeof(float)), *b = xmalloc(n * ntok * sizeof(float));
    float *c = xmalloc(rows * ntok * sizeof(float));
    for (int64_t i = 0; i < rows * n; i++) a[i] = frand();
    for (int64_t i = 0; i < n * ntok; i++) b[i] = frand();
    openblas_set_num_threads(nth);
    double best = 1e30;
    for (int rep = 0; rep < reps + 1; rep++) {
        const double t0 = vlkv_time_ms();
        /* C[tok][row] = sum_k B[tok][k] A[row][k]: row-major (101), no-trans (111) x trans (112) */
        cblas_sgemm(101, 111, 112, (int)ntok, (int)rows, (int)n, 1.0f, b, (int)n, a, (int)n, 0.0f, c, (int)rows);
        const double dt = vlkv_time_ms() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    vlkv_free_aligned(a); vlkv_free_aligned(b); vlkv_free_aligned(c);
    return 2.0 * rows * n * ntok / (best * 1e-3) / 1e9;
}
#endif

int main(int argc, char **argv) {
    int nth = max_threads(), reps = 3, quick = 0, with_ref = 0, gemv_only = 0;
    size_t probe_mb = 512;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) nth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) probe_mb = (size_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--gemv-only")) gemv_only = 1;
        else if (!strcmp(argv[i], "--ref")) with_ref = 1;
        else {
            fprintf(stderr, "usage: %s [-t threads] [-m probe_MB] [-r reps] [--quick] [--gemv-only] [--ref]\n", argv[0]);
            return 2;
        }
    }
    if (nth < 1) nth = 1;
    if (quick) { probe_mb = VLKV_MIN(probe_mb, (size_t)128); reps = VLKV_MIN(reps, 3); }

    /* (a) */
    const size_t n_floats = probe_mb * 1024 * 1024 / 4;
    float *buf = xmalloc(n_floats * 4);
    for (size_t i = 0; i < n_floats; i++) buf[i] = (float)(i & 1023) * 1e-3f;
    const double bw1 = probe_bw(buf, n_floats, 1, reps), bwn = probe_bw(buf, n_floats, nth, reps);
    vlkv_free_aligned(buf);
    printf("## memory bandwidth (read-only streaming sum over %zu MB, best of %d)\n\n", probe_mb, reps);
    printf("| threads | GB/s |\n|---|---|\n| 1 | %.2f |\n| %d | %.2f |\n\n", bw1, nth, bwn);

    /* (b) */
    const enum vlkv_type gtypes[] = { VLKV_TYPE_Q4_0, VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_K, VLKV_TYPE_Q6_K, VLKV_TYPE_F16 };
    const struct shape shapes[] = { { 4096, 4096, "(7B attn)" }, { 2048, 5632, "(1.1B ffn)" } };
    g_arena_size = (size_t)(quick ? 256 : 512) << 20;   /* >= 4x a 96-128 MB LLC (V-cache EPYC) */
    g_arena = xmalloc(g_arena_size);
    {
        uint64_t r = 0x9e3779b97f4a7c15ULL, *q = (uint64_t *)g_arena;
        for (size_t i = 0; i < g_arena_size / 8; i++) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            q[i] = r;
        }
    }
    printf("## gemv (decode): weights streamed from DRAM, rows split over threads\n\n");
    printf("| kernel | isa | shape | thr | ns/call | GB/s | of bw |\n|---|---|---|---|---|---|---|\n");
    for (int isa = 0; isa < VLKV_ISA_COUNT; isa++) {
        const struct vlkv_kernels *k = vlkv_kernels_for((enum vlkv_isa)isa);
        if (!k || (isa == VLKV_ISA_REF && !with_ref)) continue;
        for (size_t it = 0; it < sizeof gtypes / sizeof gtypes[0]; it++)
            for (size_t is = 0; is < sizeof shapes / sizeof shapes[0]; is++) {
                if ((quick || isa == VLKV_ISA_REF) && is > 0) continue;
                for (int rp = 0; rp < 2; rp++) {   /* original rows, then the repacked layout */
                    bench_gemv(k, gtypes[it], shapes[is], 1, reps, bw1, rp);
                    if (nth > 1) bench_gemv(k, gtypes[it], shapes[is], nth, reps, bwn, rp);
                }
            }
    }
    vlkv_free_aligned(g_arena);
    if (gemv_only) return 0;

    /* (c) */
    const int64_t grows = quick ? 1024 : 2048, gn = quick ? 1024 : 2048, ntok = 512;
    printf("\n## gemm (prefill, %lld tokens, %lldx%lld weights, activation quantization included)\n\n",
           (long long)ntok, (long long)grows, (long long)gn);
    printf("| kernel | isa | threads | GFLOP/s | vs sgemm |\n|---|---|---|---|---|\n");
    double sg = 0;
#ifdef VLKV_HAVE_BLAS
    sg = bench_sgemm(grows, gn, ntok, nth, VLKV_MIN(reps, 3));
    printf("| cblas_sgemm f32 | openblas | %d | %.1f | 1.00 |\n", nth, sg);
#endif
    const enum vlkv_type mtypes[] = { VLKV_TYPE_F16, VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_0, VLKV_TYPE_Q4_K, VLKV_TYPE_Q6_K,
                                      VLKV_TYPE_F32 };
    for (int isa = 1; isa < VLKV_ISA_COUNT; isa++) {   /* the scalar gemm is far too slow to time here */
        const struct vlkv_kernels *k = vlkv_kernels_for((enum vlkv_isa)isa);
        if (!k) continue;
        for (size_t it = 0; it < sizeof mtypes / sizeof mtypes[0]; it++) {
            const double g = bench_gemm(k, mtypes[it], grows, gn, ntok, nth, VLKV_MIN(reps, 3));
            if (sg > 0) printf("| gemm %s | %s | %d | %.1f | %.2f |\n", vlkv_type_name(mtypes[it]), k->name, nth, g, g / sg);
            else printf("| gemm %s | %s | %d | %.1f | - |\n", vlkv_type_name(mtypes[it]), k->name, nth, g);
        }
    }
    printf("\nbench_kernels: selected table %s, %d threads (sink %llu)\n", vlkv_kernels_get()->name, nth,
           (unsigned long long)(g_sink != 0));
    return 0;
}
