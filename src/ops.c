/* ops.c - threaded CPU operators over the simd/ kernel table (see ops.h).
 * Threading: every op splits its output rows statically over o->n_threads OpenMP threads, so a
 * given thread count always gives the same reduction order (golden tests stay exact). Kernels are
 * single-threaded and take row ranges. OpenBLAS is only called outside OpenMP regions.
 * Scratch lives in o->wbuf / o->att, reserved once by the caller (vlkv_matmul_wsize), so the
 * decode loop does not allocate after warm-up. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "types.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenMP pragmas vanish cleanly (no -Wunknown-pragmas) when built without OpenMP */
#ifdef _OPENMP
#define OMP_PRAGMA(x) _Pragma(#x)
#else
#define OMP_PRAGMA(x)
#endif
#ifdef VLKV_HAVE_BLAS
#include <cblas.h>
#endif

#ifdef _OPENMP
static int thread_id(void) { return omp_get_thread_num(); }
static int thread_count(void) { return omp_get_num_threads(); }
#else
static int thread_id(void) { return 0; }
static int thread_count(void) { return 1; }
#endif

/* ---- context ------------------------------------------------------------------------------ */

void vlkv_ops_init(struct vlkv_ops_ctx *o, int n_threads) {
    memset(o, 0, sizeof *o);
    o->k = vlkv_kernels_get();
    o->n_threads = n_threads > 0 ? n_threads : vlkv_n_cores();
#ifdef VLKV_HAVE_BLAS
    const char *e = getenv("VLKV_BLAS");
    o->use_blas = !(e && e[0] == '0');
    /* Once, outside any OpenMP region: OpenBLAS gets the same thread count as our ops. */
    openblas_set_num_threads(o->n_threads);
#endif
    /* VLKV_BLAS_OMP=0: one multi-threaded sgemm per tile outside OpenMP regions (the old way) */
    const char *bo = getenv("VLKV_BLAS_OMP");
    o->blas_in_omp = !(bo && bo[0] == '0');
    const char *pm = getenv("VLKV_PREFILL");
    if (pm && !strcmp(pm, "blas")) o->prefill_mode = 1;
    if (pm && !strcmp(pm, "gemm")) o->prefill_mode = 2;
}

void vlkv_ops_free(struct vlkv_ops_ctx *o) {
    if (!o) return;
    vlkv_free_aligned(o->wbuf);
    vlkv_free_aligned(o->att);
    o->wbuf = NULL;
    o->att = NULL;
    o->wbuf_size = 0;
    o->att_n = 0;
}

vlkv_status vlkv_ops_reserve(struct vlkv_ops_ctx *o, size_t size) {
    if (size <= o->wbuf_size) return VLKV_OK;
    void *p = vlkv_malloc_aligned(size);
    if (!p) return vlkv_error(VLKV_ERR_OOM, "ops: cannot allocate %zu bytes of scratch", size);
    vlkv_free_aligned(o->wbuf);
    o->wbuf = p;
    o->wbuf_size = size;
    return VLKV_OK;
}

vlkv_status vlkv_ops_reserve_att(struct vlkv_ops_ctx *o, size_t n) {
    if (n <= o->att_n) return VLKV_OK;
    n = VLKV_ALIGN_UP(n, 16);   /* keep each thread's row on its own cache lines */
    size_t bytes;
    if (!vlkv_mul_ok(n * sizeof(float), (size_t)o->n_threads, &bytes))
        return vlkv_error(VLKV_ERR_OOM, "ops: attention scratch size overflows");
    float *p = vlkv_malloc_aligned(bytes);
    if (!p) return vlkv_error(VLKV_ERR_OOM, "ops: cannot allocate %zu bytes of attention scratch", bytes);
    vlkv_free_aligned(o->att);
    o->att = p;
    o->att_n = n;
    return VLKV_OK;
}

/* ---- matmul --------------------------------------------------------------------------------- */

/* Rows [r0, r1) of thread ith out of nth for nr rows, split in multiples of `align` rows
 * (ggml's dr = (nr + nth - 1) / nth, rounded so gemm tiles stay whole). */
static void split_rows(int64_t nr, int ith, int nth, int64_t align, int64_t *r0, int64_t *r1) {
    int64_t dr = (nr + nth - 1) / nth;
    dr = (dr + align - 1) / align * align;
    *r0 = VLKV_MIN(nr, dr * ith);
    *r1 = VLKV_MIN(nr, *r0 + dr);
}

/* Rows of dequantized weights per BLAS tile: ~2 MB of F32 so the tile stays in the L2/L3 while
 * sgemm packs it, at least 64 rows so sgemm's N dimension is not starved. */
static int64_t blas_tile_rows(int64_t K, int64_t M) {
    int64_t tm = (int64_t)((2u << 20) / ((size_t)K * sizeof(float)));
    tm = VLKV_MAX(64, tm / 64 * 64);
    return VLKV_MIN(tm, M);
}

/* Prefill rule, measured on the development machine (AMD EPYC, 2 cores, AVX2+FMA, OpenBLAS 0.3.21
 * pthread; K = 2048, M = 5632, 512 tokens, 2 threads; the machine was shared, so CPU time per
 * product is the stable number, GFLOP/s per CPU-second in brackets):
 *            BLAS on dequantized tiles     int8/f16 gemm kernels of the table
 *   F16      134 ms  (88)                  189 ms  (62)      -> BLAS
 *   Q8_0     265 ms  (45)                  158 ms  (75)      -> gemm
 *   Q4_0     168 ms  (70)                  129 ms  (92)      -> gemm
 *   Q4_K     130 ms  (91)                  121 ms  (97)      -> gemm
 *   Q5_K     149 ms  (79)                  128 ms  (92)      -> gemm
 *   Q6_K     151 ms  (78)                  134 ms  (89)      -> gemm
 * F32 / BF16 weights therefore go to sgemm, and F16 weights too unless they were repacked at load
 * (the repacked F16 tile gemm streams F16 with no conversion pass: TinyLlama pp512 about equal to
 * the tiled sgemm, decode ~20 % faster); quantized weights use the table's gemm when the ISA
 * provides one (the scalar reference gemm is far slower than sgemm, so with VLKV_SIMD=ref they go
 * to BLAS too). VLKV_PREFILL=blas|gemm overrides the rule for experiments. */
/* Whether W's product over n_tok rows runs on its repacked copy (model.c made one and the table
 * has the kernels: gemv_rp for decode, gemm_rp as well for a prompt). Its activations are then
 * of type vlkv_repack_act_type (F32 for F16 weights), otherwise of the vec_dot_type. The row
 * ranges handed to threads start at multiples of 16, so they start at repacked group boundaries. */
static int matmul_uses_rp(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, int64_t n_tok) {
    return W->repack && o->k->gemv_rp[W->type] && (n_tok <= 1 || o->k->gemm_rp[W->type]);
}

static enum vlkv_type matmul_act_type(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, int64_t n_tok) {
    return matmul_uses_rp(o, W, n_tok) ? vlkv_repack_act_type(W->type) : vlkv_type_traits_get(W->type)->vec_dot_type;
}

int vlkv_matmul_uses_blas(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, int64_t n_tok) {
#ifdef VLKV_HAVE_BLAS
    if (!o->use_blas) return 0;
    if (n_tok < 32 || W->ne[0] < 32 || W->ne[1] < 32) return 0;
    if (o->prefill_mode == 1) return 1;
    if (o->prefill_mode == 2) return o->k->gemm[W->type] == NULL;
    switch (W->type) {
    case VLKV_TYPE_F16:   /* the repacked F16 gemm streams F16 with no conversion pass or packing */
        return !matmul_uses_rp(o, W, n_tok);
    case VLKV_TYPE_F32:
    case VLKV_TYPE_BF16:
        return 1;
    default:
        /* quantized: the reference gemm is a plain loop; only an ISA kernel beats sgemm */
        return o->k->isa == VLKV_ISA_REF || o->k->gemm[W->type] == NULL;
    }
#else
    (void)o; (void)W; (void)n_tok;
    return 0;
#endif
}

/* Rows per tile of one thread when each OpenMP thread runs its own sgemm (blas_in_omp): ~4 MB of
 * F32 per thread (every sgemm call packs the activations again, so tiles must not be small;
 * TinyLlama F16 pp512, 2 threads: 1 MB 86%, 2 MB 80-86%, 4 MB 93%, 8 MB 88%, 16 MB 93% of
 * sgemm, +-3%), at least 16 rows, at most the thread's share. */
static int64_t blas_thread_rows(int64_t K, int64_t M, int nth) {
    int64_t tt = (int64_t)((4u << 20) / ((size_t)K * sizeof(float))) / 16 * 16;
    tt = VLKV_MIN(tt, (M / VLKV_MAX(1, nth) + 15) / 16 * 16);
    return VLKV_MIN(VLKV_MAX(16, tt), M);
}

size_t vlkv_matmul_wsize(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, int64_t n_tok) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(W->type);
    if (!tr) return 0;
    int64_t K = W->ne[0], M = W->ne[1];
    if (vlkv_matmul_uses_blas(o, W, n_tok)) {
        if (W->type == VLKV_TYPE_F32) return 0;
        const size_t rows = o->blas_in_omp && o->n_threads > 1
                                ? (size_t)blas_thread_rows(K, M, o->n_threads) * (size_t)o->n_threads
                                : (size_t)blas_tile_rows(K, M);
        return VLKV_MAX(rows, (size_t)blas_tile_rows(K, M)) * (size_t)K * sizeof(float);
    }
    const enum vlkv_type at = matmul_act_type(o, W, n_tok);
    if (at == VLKV_TYPE_F32) return 0;
    return (size_t)n_tok * vlkv_row_size(at, K);
}

#ifdef VLKV_HAVE_BLAS
static void matmul_blas(struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, const float *x, int64_t n_tok,
                        float *y) {
    const int64_t K = W->ne[0], M = W->ne[1];
    const uint8_t *w = W->data;
    if (W->type == VLKV_TYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tok, (int)M, (int)K, 1.0f, x, (int)K,
                    (const float *)w, (int)(W->nb[1] / sizeof(float)), 0.0f, y, (int)M);
        return;
    }
    void (*to_float)(const void *, float *, int64_t) = o->k->to_float[W->type];
    if (!to_float) to_float = vlkv_type_traits_get(W->type)->to_float;
#ifdef _OPENMP
    if (o->n_threads > 1 && o->blas_in_omp) {
        /* each OpenMP thread dequantizes its own rows' tiles and runs a single-threaded sgemm on
         * them: no OpenBLAS worker threads wake up, so nothing competes with our (spinning) OpenMP
         * workers for the cores. The thread count goes back for callers of cblas outside ops. */
        const int64_t tt = blas_thread_rows(K, M, o->n_threads);
        openblas_set_num_threads(1);
OMP_PRAGMA(omp parallel num_threads(o->n_threads))
        {
            int64_t r0, r1;
            split_rows(M, thread_id(), thread_count(), 16, &r0, &r1);
            float *tile = (float *)o->wbuf + (size_t)thread_id() * (size_t)tt * (size_t)K;
            for (int64_t rr = r0; rr < r1; rr += tt) {
                const int64_t nr = VLKV_MIN(tt, r1 - rr);
                for (int64_t r = 0; r < nr; r++) to_float(w + (size_t)(rr + r) * W->nb[1], tile + r * K, K);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tok, (int)nr, (int)K, 1.0f, x, (int)K,
                            tile, (int)K, 0.0f, y + rr, (int)M);
            }
        }
        openblas_set_num_threads(o->n_threads);
        return;
    }
#endif
    const int64_t tm = blas_tile_rows(K, M);
    float *tile = o->wbuf;
    for (int64_t r0 = 0; r0 < M; r0 += tm) {
        const int64_t nr = VLKV_MIN(tm, M - r0);
        /* dequantize the tile in parallel, then one sgemm over it (OpenBLAS threads itself) */
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads))
        for (int64_t r = 0; r < nr; r++) to_float(w + (size_t)(r0 + r) * W->nb[1], tile + r * K, K);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n_tok, (int)nr, (int)K, 1.0f, x, (int)K,
                    tile, (int)K, 0.0f, y + r0, (int)M);
    }
}
#endif

/* Fallback when a table has a vec_dot but no gemv: one dot per output. */
static void gemv_by_dot(vlkv_vec_dot_fn dot, int64_t K, int64_t nr, float *s, const uint8_t *w, size_t ws,
                        const void *xq) {
    for (int64_t r = 0; r < nr; r++) dot(K, &s[r], w + (size_t)r * ws, xq);
}

vlkv_status vlkv_matmul(struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, const struct vlkv_tensor *bias,
                        const float *x, int64_t n_tok, float *y) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(W->type);
    if (!tr || !tr->supported)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "matmul: tensor '%s' has unsupported type %s", W->name,
                          vlkv_type_name(W->type));
    const int64_t K = W->ne[0], M = W->ne[1];
    if (K % tr->blck != 0)
        return vlkv_error(VLKV_ERR_FORMAT, "matmul: tensor '%s' row of %lld is not a multiple of %d", W->name,
                          (long long)K, (int)tr->blck);
    if (n_tok <= 0) return VLKV_OK;
    vlkv_status st = vlkv_ops_reserve(o, vlkv_matmul_wsize(o, W, n_tok));
    if (st != VLKV_OK) return st;

#ifdef VLKV_HAVE_BLAS
    if (vlkv_matmul_uses_blas(o, W, n_tok)) {
        matmul_blas(o, W, x, n_tok, y);
        goto add_bias;
    }
#endif
    {
        const struct vlkv_kernels *k = o->k;
        const int use_rp = matmul_uses_rp(o, W, n_tok);
        const enum vlkv_type vdt = matmul_act_type(o, W, n_tok);
        const size_t rs = vlkv_row_size(vdt, K);
        vlkv_gemv_fn gemv = k->gemv[W->type];
        vlkv_gemm_fn gemm = k->gemm[W->type];
        vlkv_vec_dot_fn dot = k->vec_dot[W->type];
        if (!gemv && !dot)
            return vlkv_error(VLKV_ERR_UNSUPPORTED, "matmul: no %s kernel for tensor '%s'",
                              vlkv_type_name(W->type), W->name);
        const void *xq = x;
        if (vdt != VLKV_TYPE_F32) {
            void (*from_float)(const float *, void *, int64_t) = k->from_float[vdt];
            if (!from_float) from_float = vlkv_type_traits_get(vdt)->from_float;
            uint8_t *q = o->wbuf;
            /* activations are converted once; the weights then stream through once per tile */
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n_tok > 1))
            for (int64_t t = 0; t < n_tok; t++) from_float(x + t * K, q + (size_t)t * rs, K);
            xq = q;
        }
        const uint8_t *w = W->data;
        const size_t ws = W->nb[1];
        /* decode: the row-interleaved copy made at load, if the table has a kernel for it */
        const uint8_t *rp = W->repack;
        vlkv_gemv_rp_fn gemv_rp = use_rp ? k->gemv_rp[W->type] : NULL;
        vlkv_gemm_rp_fn gemm_rp = use_rp ? k->gemm_rp[W->type] : NULL;
        const size_t rp_gs = use_rp ? vlkv_repack_group_size(W->type, K) : 0;
        /* tiny products are not worth waking the other threads (fork/join costs a few µs) */
        const int nth = (double)K * (double)M * (double)n_tok < 65536.0 ? 1 : o->n_threads;
        (void)nth;   /* only read by the OpenMP pragma */
OMP_PRAGMA(omp parallel num_threads(nth))
        {
            int64_t r0, r1;
            split_rows(M, thread_id(), thread_count(), 16, &r0, &r1);
            if (r1 > r0) {
                if (use_rp && n_tok > 1) {
                    gemm_rp(K, r1 - r0, n_tok, y + r0, (size_t)M, rp + (size_t)(r0 / VLKV_RP_ROWS) * rp_gs, xq, rs);
                } else if (use_rp) {
                    gemv_rp(K, r1 - r0, y + r0, rp + (size_t)(r0 / VLKV_RP_ROWS) * rp_gs, xq);
                } else if (n_tok > 1 && gemm) {
                    gemm(K, r1 - r0, n_tok, y + r0, (size_t)M, w + (size_t)r0 * ws, ws, xq, rs);
                } else {
                    for (int64_t t = 0; t < n_tok; t++) {
                        const void *xt = (const uint8_t *)xq + (size_t)t * rs;
                        if (gemv) gemv(K, r1 - r0, y + t * M + r0, w + (size_t)r0 * ws, ws, xt);
                        else gemv_by_dot(dot, K, r1 - r0, y + t * M + r0, w + (size_t)r0 * ws, ws, xt);
                    }
                }
            }
        }
    }
#ifdef VLKV_HAVE_BLAS
add_bias:
#endif
    if (bias) {
        if (bias->type != VLKV_TYPE_F32 || bias->ne[0] != M)
            return vlkv_error(VLKV_ERR_FORMAT, "matmul: bias '%s' must be F32 [%lld]", bias->name, (long long)M);
        const float *b = bias->data;
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t m = 0; m < M; m++) y[t * M + m] += b[m];
    }
    return VLKV_OK;
}

vlkv_status vlkv_matmul_multi(struct vlkv_ops_ctx *o, int n_w, const struct vlkv_tensor *const *W,
                              const struct vlkv_tensor *const *bias, const float *x, int64_t n_tok, float *const *y) {
    enum { MAX_W = 4 };
    int fused = n_w >= 1 && n_w <= MAX_W && n_tok > 0;
    const struct vlkv_type_traits *tr0 = fused ? vlkv_type_traits_get(W[0]->type) : NULL;
    const enum vlkv_type at0 = tr0 ? matmul_act_type(o, W[0], n_tok) : VLKV_TYPE_F32;
    int64_t rows_before = 0;
    for (int i = 0; fused && i < n_w; i++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(W[i]->type);
        const enum vlkv_type at = tr ? matmul_act_type(o, W[i], n_tok) : at0;
        /* activations only the repacked kernels take (F16's F32) need the weight to start at a
         * multiple of the 16-row thread split, so every thread's share of it is repacked-aligned */
        fused = tr && tr->supported && tr0 && at == at0 && (at == tr->vec_dot_type || rows_before % 16 == 0) &&
                W[i]->ne[0] == W[0]->ne[0] &&
                W[i]->ne[0] % tr->blck == 0 && !vlkv_matmul_uses_blas(o, W[i], n_tok) &&
                (o->k->gemv[W[i]->type] != NULL) && (n_tok == 1 || o->k->gemm[W[i]->type] != NULL);
        rows_before += W[i]->ne[1];
    }
    if (!fused) {
        for (int i = 0; i < n_w; i++) {
            vlkv_status st = vlkv_matmul(o, W[i], bias ? bias[i] : NULL, x, n_tok, y[i]);
            if (st != VLKV_OK) return st;
        }
        return VLKV_OK;
    }
    const int64_t K = W[0]->ne[0];
    const enum vlkv_type vdt = at0;
    const size_t rs = vlkv_row_size(vdt, K);
    size_t need = 0;
    for (int i = 0; i < n_w; i++) need = VLKV_MAX(need, vlkv_matmul_wsize(o, W[i], n_tok));
    vlkv_status st = vlkv_ops_reserve(o, need);
    if (st != VLKV_OK) return st;
    const void *xq = x;
    if (vdt != VLKV_TYPE_F32) {
        void (*from_float)(const float *, void *, int64_t) = o->k->from_float[vdt];
        if (!from_float) from_float = vlkv_type_traits_get(vdt)->from_float;
        uint8_t *q = o->wbuf;
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n_tok > 1))
        for (int64_t t = 0; t < n_tok; t++) from_float(x + t * K, q + (size_t)t * rs, K);
        xq = q;
    }
    /* rows of all weights, numbered consecutively, split statically over the threads */
    int64_t off[MAX_W + 1];
    off[0] = 0;
    for (int i = 0; i < n_w; i++) off[i + 1] = off[i] + W[i]->ne[1];
    const int64_t R = off[n_w];
    const int nth = (double)K * (double)R * (double)n_tok < 65536.0 ? 1 : o->n_threads;
    (void)nth;   /* only read by the OpenMP pragma */
OMP_PRAGMA(omp parallel num_threads(nth))
    {
        int64_t g0, g1;
        split_rows(R, thread_id(), thread_count(), 16, &g0, &g1);
        for (int i = 0; i < n_w && g1 > g0; i++) {
            const int64_t a = VLKV_MAX(g0, off[i]) - off[i], b = VLKV_MIN(g1, off[i + 1]) - off[i];
            if (b <= a) continue;
            const int64_t M = W[i]->ne[1];
            const size_t ws = W[i]->nb[1];
            const uint8_t *w = (const uint8_t *)W[i]->data + (size_t)a * ws;
            /* a weight's rows may start mid-group when an earlier weight's row count is not a
             * multiple of 8: the fused check below only lets that happen where the original
             * layout's kernels take the same activations */
            const int use_rp = matmul_uses_rp(o, W[i], n_tok) && a % VLKV_RP_ROWS == 0;
            const uint8_t *rp = use_rp ? (const uint8_t *)W[i]->repack +
                                (size_t)(a / VLKV_RP_ROWS) * vlkv_repack_group_size(W[i]->type, K) : NULL;
            if (use_rp && n_tok > 1) {
                o->k->gemm_rp[W[i]->type](K, b - a, n_tok, y[i] + a, (size_t)M, rp, xq, rs);
            } else if (use_rp) {
                o->k->gemv_rp[W[i]->type](K, b - a, y[i] + a, rp, xq);
            } else if (n_tok > 1) {
                o->k->gemm[W[i]->type](K, b - a, n_tok, y[i] + a, (size_t)M, w, ws, xq, rs);
            } else {
                o->k->gemv[W[i]->type](K, b - a, y[i] + a, w, ws, xq);
            }
        }
    }
    for (int i = 0; bias && i < n_w; i++) {
        if (!bias[i]) continue;
        const int64_t M = W[i]->ne[1];
        if (bias[i]->type != VLKV_TYPE_F32 || bias[i]->ne[0] != M)
            return vlkv_error(VLKV_ERR_FORMAT, "matmul: bias '%s' must be F32 [%lld]", bias[i]->name, (long long)M);
        const float *bb = bias[i]->data;
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t m = 0; m < M; m++) y[i][t * M + m] += bb[m];
    }
    return VLKV_OK;
}

void vlkv_get_row(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *t, int64_t row, float *out) {
    const uint8_t *src = (const uint8_t *)t->data + (size_t)row * t->nb[1];
    if (t->type == VLKV_TYPE_F32) {
        memcpy(out, src, (size_t)t->ne[0] * sizeof(float));
        return;
    }
    void (*to_float)(const void *, float *, int64_t) = o->k->to_float[t->type];
    if (!to_float) to_float = vlkv_type_traits_get(t->type)->to_float;
    to_float(src, out, t->ne[0]);
}

/* ---- norms, rope, activations --------------------------------------------------------------- */

void vlkv_rmsnorm(struct vlkv_ops_ctx *o, const float *x, const float *w, float eps, int64_t n_rows, int64_t n,
                  float *y) {
    const struct vlkv_kernels *k = o->k;
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n_rows > 1))
    for (int64_t r = 0; r < n_rows; r++) k->rmsnorm_f32(n, x + r * n, w, eps, y + r * n);
}

void vlkv_layernorm(struct vlkv_ops_ctx *o, const float *x, const float *w, const float *b, float eps,
                    int64_t n_rows, int64_t n, float *y) {
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n_rows > 1))
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        double sum = 0, sum2 = 0;
        for (int64_t i = 0; i < n; i++) sum += xr[i];
        const double mean = sum / (double)n;
        for (int64_t i = 0; i < n; i++) {
            double d = xr[i] - mean;
            sum2 += d * d;
        }
        const float inv = (float)(1.0 / sqrt(sum2 / (double)n + eps));
        const float meanf = (float)mean;
        for (int64_t i = 0; i < n; i++) {
            float v = (xr[i] - meanf) * inv;
            if (w) v *= w[i];
            if (b) v += b[i];
            yr[i] = v;
        }
    }
}

/* NORM RoPE (llama.cpp mode 0): rotate adjacent pairs (x[2i], x[2i+1]) of each head by
 * θ_i = p · freq_scale · base^(−2i/n_rot). θ is computed like ggml's rope_cache_init: θ_0 = p·freq_scale,
 * θ_{i+1} = θ_i · base^(−2/n_rot) in float, so our rotations match llama.cpp's to the last bit of θ
 * (the difference to pow() is a few ulp of θ). Dimensions ≥ n_rot are left unrotated. The sin/cos
 * table is built once per row and shared by all heads. */
#define ROPE_MAX_PAIRS 512
void vlkv_rope_norm(struct vlkv_ops_ctx *o, float *x, int64_t n_rows, int n_head, int d_head, int n_rot,
                    const int32_t *pos, float freq_base, float freq_scale) {
    VLKV_ASSERT(n_rot % 2 == 0 && n_rot <= d_head && n_rot / 2 <= ROPE_MAX_PAIRS);
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n_rows > 1))
    for (int64_t r = 0; r < n_rows; r++) {
        float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS];
        float theta = (float)pos[r] * freq_scale;
        for (int i = 0; i < n_rot / 2; i++) {
            cs[i] = cosf(theta);
            sn[i] = sinf(theta);
            theta *= theta_scale;
        }
        float *xr = x + r * (int64_t)n_head * d_head;
        for (int h = 0; h < n_head; h++) {
            float *xh = xr + (int64_t)h * d_head;
            for (int i = 0; i < n_rot / 2; i++) {
                const float x0 = xh[2 * i], x1 = xh[2 * i + 1];
                xh[2 * i]     = x0 * cs[i] - x1 * sn[i];
                xh[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

/* Element-wise ops: split into contiguous chunks; threads only pay off for large n. */
#define EW_CHUNK 16384

void vlkv_silu_mul(struct vlkv_ops_ctx *o, const float *g, const float *u, int64_t n, float *y) {
    const struct vlkv_kernels *k = o->k;
    const int64_t nc = (n + EW_CHUNK - 1) / EW_CHUNK;
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (nc > 1))
    for (int64_t c = 0; c < nc; c++) {
        const int64_t i0 = c * EW_CHUNK, m = VLKV_MIN(EW_CHUNK, n - i0);
        k->silu_mul_f32(m, g + i0, u + i0, y + i0);
    }
}

void vlkv_gelu_erf(struct vlkv_ops_ctx *o, float *x, int64_t n) {
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n > EW_CHUNK))
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void vlkv_gelu_tanh(struct vlkv_ops_ctx *o, float *x, int64_t n) {
    const float c = 0.79788456080286536f; /* sqrt(2/pi) */
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n > EW_CHUNK))
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void vlkv_gelu_quick(struct vlkv_ops_ctx *o, float *x, int64_t n) {
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n > EW_CHUNK))
    for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void vlkv_add(struct vlkv_ops_ctx *o, float *y, const float *x, int64_t n) {
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n > EW_CHUNK))
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

/* ---- dense attention (ViT) -------------------------------------------------------------------- */

void vlkv_softmax_scaled(const struct vlkv_kernels *kt, float *x, int64_t n, float scale) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        x[j] *= scale;
        mx = x[j] > mx ? x[j] : mx;
    }
    const float inv = 1.0f / kt->softmax_exp_f32(n, x, mx);
    for (int64_t j = 0; j < n; j++) x[j] *= inv;
}

#ifdef VLKV_HAVE_BLAS
/* Query rows [r0, r1) of every head: S = Q_h K_h^T / sqrt(d) into rows r0.. of s [n][n], a row
 * softmax, O_h = S V_h. */
static void attention_blas_rows(const struct vlkv_kernels *kt, const float *q, const float *k, const float *v,
                                int64_t n, int n_head, int d, float *out, float *s, int64_t r0, int64_t r1) {
    const int ld = n_head * d, m = (int)(r1 - r0);
    const float scale = 1.0f / sqrtf((float)d);
    float *sr = s + r0 * n;
    for (int h = 0; h < n_head; h++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, (int)n, d, scale, q + r0 * ld + h * d, ld,
                    k + h * d, ld, 0.0f, sr, (int)n);
        for (int64_t i = 0; i < m; i++) vlkv_softmax_scaled(kt, sr + i * n, n, 1.0f);   /* scale is in the sgemm */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, d, (int)n, 1.0f, sr, (int)n, v + h * d, ld,
                    0.0f, out + r0 * ld + h * d, ld);
    }
}

/* Dense ViT attention through sgemm (~10x faster than vlkv_attention_dense's per-query dots at
 * CLIP-L size, N = 577, d = 64). With blas_in_omp (the default), each OpenMP thread takes its own
 * query rows of every head and runs single-threaded sgemms on them, as vlkv_matmul does: the
 * softmax runs in parallel too, and no OpenBLAS threads compete with spinning OpenMP workers.
 * Otherwise one thread calls a multi-threaded sgemm per head. Threads write disjoint rows of s
 * and out, so no barrier is needed between heads. */
void vlkv_attention_blas(struct vlkv_ops_ctx *o, const float *q, const float *k, const float *v, int64_t n,
                         int n_head, int d_head, float *out, float *s) {
    if (!(o->n_threads > 1 && o->blas_in_omp)) {
        attention_blas_rows(o->k, q, k, v, n, n_head, d_head, out, s, 0, n);
        return;
    }
    openblas_set_num_threads(1);
OMP_PRAGMA(omp parallel num_threads(o->n_threads))
    {
        int64_t r0, r1;
        split_rows(n, thread_id(), thread_count(), 8, &r0, &r1);
        if (r1 > r0) attention_blas_rows(o->k, q, k, v, n, n_head, d_head, out, s, r0, r1);
    }
    openblas_set_num_threads(o->n_threads);
}
#endif

/* Blocked online softmax (flash-attention style): keys in blocks of ATT_BLK, running max m and sum
 * l per query; the output accumulator is rescaled when the max grows. No scratch beyond the stack. */
#define ATT_BLK 128
void vlkv_attention_dense(struct vlkv_ops_ctx *o, const float *q, const float *k, const float *v, int64_t n,
                          int n_head, int d_head, float *out) {
    const struct vlkv_kernels *kt = o->k;
    const int64_t ld = (int64_t)n_head * d_head;
    const float scale = 1.0f / sqrtf((float)d_head);
    const int64_t n_work = n * n_head;
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads))
    for (int64_t wi = 0; wi < n_work; wi++) {
        const int h = (int)(wi % n_head);
        const int64_t i = wi / n_head;
        const float *qi = q + i * ld + (int64_t)h * d_head;
        float *oi = out + i * ld + (int64_t)h * d_head;
        float s[ATT_BLK];
        float m = -INFINITY;
        double l = 0;
        memset(oi, 0, (size_t)d_head * sizeof(float));
        for (int64_t j0 = 0; j0 < n; j0 += ATT_BLK) {
            const int64_t nb = VLKV_MIN(ATT_BLK, n - j0);
            float bm = -INFINITY;
            for (int64_t j = 0; j < nb; j++) {
                s[j] = kt->dot_f32(d_head, k + (j0 + j) * ld + (int64_t)h * d_head, qi) * scale;
                if (s[j] > bm) bm = s[j];
            }
            if (bm > m) {
                const float c = expf(m - bm);   /* 0 on the first block */
                for (int d = 0; d < d_head; d++) oi[d] *= c;
                l *= c;
                m = bm;
            }
            l += kt->softmax_exp_f32(nb, s, m);
            for (int64_t j = 0; j < nb; j++) kt->axpy_f32(d_head, s[j], v + (j0 + j) * ld + (int64_t)h * d_head, oi);
        }
        const float inv = (float)(1.0 / l);
        for (int d = 0; d < d_head; d++) oi[d] *= inv;
    }
}
