/* test_ops.c - every op of src/ops.c against a naive double-precision loop written here:
 * matmul for every supported weight type at decode and prefill sizes (gemv, gemm kernels and the
 * BLAS path forced in turn) against dequantize + naive dot, with and without bias; the fused
 * vlkv_matmul_multi against separate matmuls; get_row;
 * rmsnorm; layernorm; NORM RoPE (against pow()-based angles); silu_mul; the three GELUs; add;
 * dense attention (against a materialised softmax). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops.h"
#include "test_util.h"
#include "types.h"

static test_rng rng = {0x9E3779B97F4A7C15ULL};

static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_f32(&rng) * scale;
}

/* ---- matmul ------------------------------------------------------------------------------ */

/* Tolerance on NMSE per activation type: matmul converts activations to the weight's vec_dot_type
 * (Q8_0/Q8_1/Q8_K: 8-bit, relative rms error ~ 0.5/127/sqrt(3) ≈ 2e-3 per element → NMSE ~5e-6,
 * bound 1e-4 leaves room for K-quant scale rounding; F16: 2^-11 relative → 1e-6; F32: summation
 * order only → 1e-10). */
static double tol_for(uint32_t vdt) {
    switch (vdt) {
    case VLKV_TYPE_F32: return 1e-10;
    case VLKV_TYPE_F16:
    case VLKV_TYPE_BF16: return 1e-4;
    default: return 2e-4;
    }
}

static int test_matmul_type(struct vlkv_ops_ctx *o, uint32_t type) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(type);
    if (!tr || !tr->supported || !tr->from_float) return 0;
    const int64_t K = 512, M = 72;
    const size_t rs = vlkv_row_size(type, K);
    float *wf = malloc(sizeof(float) * K * M), *wd = malloc(sizeof(float) * K * M);
    uint8_t *wq = malloc(rs * M);
    fill(wf, K * M, 0.5f);
    for (int64_t r = 0; r < M; r++) tr->from_float(wf + r * K, wq + r * rs, K);
    for (int64_t r = 0; r < M; r++) tr->to_float(wq + r * rs, wd + r * K, K);
    struct vlkv_tensor W;
    memset(&W, 0, sizeof W);
    snprintf(W.name, sizeof W.name, "w_%s", tr->name);
    W.type = type;
    W.n_dims = 2;
    W.ne[0] = K; W.ne[1] = M; W.ne[2] = W.ne[3] = 1;
    W.nb[0] = tr->type_size; W.nb[1] = rs; W.nb[2] = W.nb[3] = rs * M;
    W.nbytes = rs * M;
    W.data = wq;

    float bias_data[72];
    fill(bias_data, M, 1.0f);
    struct vlkv_tensor B;
    memset(&B, 0, sizeof B);
    snprintf(B.name, sizeof B.name, "bias");
    B.type = VLKV_TYPE_F32; B.n_dims = 1; B.ne[0] = M; B.ne[1] = B.ne[2] = B.ne[3] = 1;
    B.nb[0] = 4; B.nb[1] = B.nb[2] = B.nb[3] = 4 * M; B.nbytes = 4 * M; B.data = bias_data;

    static const int64_t ntoks[] = {1, 3, 17, 40, 70};
    int bad = 0;
    for (size_t ti = 0; ti < VLKV_ARRAY_LEN(ntoks); ti++) {
        const int64_t n = ntoks[ti];
        float *x = malloc(sizeof(float) * K * n), *y = malloc(sizeof(float) * M * n), *ref = malloc(sizeof(float) * M * n);
        fill(x, K * n, 1.0f);
        for (int use_bias = 0; use_bias < 2; use_bias++) {
            for (int64_t t = 0; t < n; t++)
                for (int64_t m = 0; m < M; m++) {
                    double s = use_bias ? bias_data[m] : 0.0;
                    for (int64_t k = 0; k < K; k++) s += (double)wd[m * K + k] * x[t * K + k];
                    ref[t * M + m] = (float)s;
                }
            /* mode 0 = automatic rule, 1 = force BLAS (when built with it), 2 = force gemm kernels */
            for (int mode = 0; mode < 3; mode++) {
                o->prefill_mode = mode;
                memset(y, 0, sizeof(float) * M * n);
                vlkv_status st = vlkv_matmul(o, &W, use_bias ? &B : NULL, x, n, y);
                CHECK_MSG(st == VLKV_OK, "%s n_tok %lld: status %d", tr->name, (long long)n, st);
                double e = nmse(y, ref, M * n);
                double tol = tol_for(tr->vec_dot_type);
                if (vlkv_matmul_uses_blas(o, &W, n)) tol = VLKV_MAX(tol, 1e-10);
                if (!(e <= tol)) bad = 1;
                CHECK_MSG(e <= tol, "matmul %s n_tok %lld mode %d bias %d blas %d: nmse %.3g > %.3g", tr->name,
                          (long long)n, mode, use_bias, vlkv_matmul_uses_blas(o, &W, n), e, tol);
            }
            o->prefill_mode = 0;
        }
        free(x); free(y); free(ref);
    }
    /* get_row == the reference dequantizer */
    float row[512];
    vlkv_get_row(o, &W, 5, row);
    CHECK_MSG(max_abs_diff(row, wd + 5 * K, K) <= 1e-6, "get_row %s", tr->name);
    free(wf); free(wd); free(wq);
    return bad;
}

/* ---- matmul_multi: same result as separate matmuls -------------------------------------------- */

static struct vlkv_tensor make_weight(uint32_t type, int64_t K, int64_t M, uint8_t **store) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(type);
    const size_t rs = vlkv_row_size(type, K);
    float *f = malloc(sizeof(float) * K * M);
    *store = malloc(rs * M);
    fill(f, K * M, 0.5f);
    for (int64_t r = 0; r < M; r++) tr->from_float(f + r * K, *store + r * rs, K);
    free(f);
    struct vlkv_tensor W;
    memset(&W, 0, sizeof W);
    snprintf(W.name, sizeof W.name, "w_%s_%lld", tr->name, (long long)M);
    W.type = type; W.n_dims = 2; W.ne[0] = K; W.ne[1] = M; W.ne[2] = W.ne[3] = 1;
    W.nb[0] = tr->type_size; W.nb[1] = rs; W.nb[2] = W.nb[3] = rs * M; W.nbytes = rs * M; W.data = *store;
    return W;
}

static void test_matmul_multi(struct vlkv_ops_ctx *o) {
    /* {Q8_0, Q8_0, Q8_0} share Q8_0 activations (fused); {Q4_K, Q6_K} share Q8_K (fused, the
     * Q4_K_M attn_q / attn_v case); {Q8_0, Q4_K} differ (separate calls); F16 pair (fused) */
    static const uint32_t sets[4][3] = {{VLKV_TYPE_Q8_0, VLKV_TYPE_Q8_0, VLKV_TYPE_Q8_0},
                                        {VLKV_TYPE_Q4_K, VLKV_TYPE_Q6_K, 0},
                                        {VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_K, 0},
                                        {VLKV_TYPE_F16, VLKV_TYPE_F16, 0}};
    static const int nws[4] = {3, 2, 2, 2};
    static const int64_t Ms[3] = {72, 40, 264};
    const int64_t K = 256;
    for (int si = 0; si < 4; si++)
        for (int64_t n_tok = 1; n_tok <= 9; n_tok += 4) {
            struct vlkv_tensor W[3];
            uint8_t *store[3];
            float *y[3], *ref[3];
            float *x = malloc(sizeof(float) * K * n_tok);
            fill(x, K * n_tok, 1.0f);
            for (int i = 0; i < nws[si]; i++) {
                W[i] = make_weight(sets[si][i], K, Ms[i], &store[i]);
                y[i] = calloc((size_t)(Ms[i] * n_tok), sizeof(float));
                ref[i] = calloc((size_t)(Ms[i] * n_tok), sizeof(float));
                CHECK(vlkv_matmul(o, &W[i], NULL, x, n_tok, ref[i]) == VLKV_OK);
            }
            const struct vlkv_tensor *const wp[3] = {&W[0], &W[1], &W[2]};
            float *const yp[3] = {y[0], y[1], y[2]};
            CHECK(vlkv_matmul_multi(o, nws[si], wp, NULL, x, n_tok, yp) == VLKV_OK);
            for (int i = 0; i < nws[si]; i++) {
                /* the same kernels on the same converted activations; only the row split differs */
                double e = nmse(y[i], ref[i], Ms[i] * n_tok);
                CHECK_MSG(e < 1e-12, "matmul_multi set %d weight %d n_tok %lld: nmse %g", si, i, (long long)n_tok, e);
                free(store[i]); free(y[i]); free(ref[i]);
            }
            free(x);
        }
}

/* ---- element-wise ops ------------------------------------------------------------------------ */

static void test_norms(struct vlkv_ops_ctx *o) {
    const int64_t n = 300, rows = 5;
    float x[1500], w[300], b[300], y[1500];
    fill(x, n * rows, 3.0f);
    fill(w, n, 1.0f);
    fill(b, n, 1.0f);
    vlkv_rmsnorm(o, x, w, 1e-5f, rows, n, y);
    double maxe = 0;
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[r * n + i] * x[r * n + i];
        const double inv = 1.0 / sqrt(ss / n + 1e-5);
        for (int64_t i = 0; i < n; i++) maxe = fmax(maxe, fabs(y[r * n + i] - x[r * n + i] * inv * w[i]));
    }
    CHECK_MSG(maxe < 1e-5, "rmsnorm max err %g", maxe);

    vlkv_layernorm(o, x, w, b, 1e-5f, rows, n, y);
    maxe = 0;
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += x[r * n + i];
        mean /= n;
        for (int64_t i = 0; i < n; i++) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
        var /= n;   /* biased variance, as torch.nn.LayerNorm */
        for (int64_t i = 0; i < n; i++) {
            double ref = (x[r * n + i] - mean) / sqrt(var + 1e-5) * w[i] + b[i];
            maxe = fmax(maxe, fabs(y[r * n + i] - ref));
        }
    }
    CHECK_MSG(maxe < 1e-5, "layernorm max err %g", maxe);
    vlkv_layernorm(o, x, NULL, NULL, 1e-5f, 1, n, y);
    double m1 = 0;
    for (int64_t i = 0; i < n; i++) m1 += y[i];
    CHECK_NEAR(m1 / n, 0.0, 1e-6);
}

static void test_rope(struct vlkv_ops_ctx *o) {
    /* 3 rows, 4 heads of 16 with n_rot 12 (the last 4 dims of each head must stay untouched) */
    const int n_head = 4, d = 16, n_rot = 12, rows = 3;
    const int32_t pos[3] = {0, 7, 1234};
    float x[3 * 4 * 16], y[3 * 4 * 16];
    fill(x, rows * n_head * d, 1.0f);
    memcpy(y, x, sizeof x);
    const float base = 10000.0f, fs = 0.5f;
    vlkv_rope_norm(o, y, rows, n_head, d, n_rot, pos, base, fs);
    double maxe = 0;
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < n_head; h++) {
            const float *xh = x + (r * n_head + h) * d;
            const float *yh = y + (r * n_head + h) * d;
            for (int i = 0; i < d / 2; i++) {
                double e0, e1;
                if (2 * i < n_rot) {
                    double th = pos[r] * (double)fs * pow(base, -2.0 * i / n_rot);
                    e0 = xh[2 * i] * cos(th) - xh[2 * i + 1] * sin(th);
                    e1 = xh[2 * i] * sin(th) + xh[2 * i + 1] * cos(th);
                } else {
                    e0 = xh[2 * i];
                    e1 = xh[2 * i + 1];
                }
                maxe = fmax(maxe, fmax(fabs(yh[2 * i] - e0), fabs(yh[2 * i + 1] - e1)));
            }
        }
    /* the incremental float θ drifts by a few ulp of θ (θ up to 617 rad here): 1e-3 abs */
    CHECK_MSG(maxe < 1e-3, "rope max err %g", maxe);
    /* position 0 is the identity */
    CHECK(max_abs_diff(y, x, n_head * d) == 0);
}

static void test_activations(struct vlkv_ops_ctx *o) {
    enum { N = 40000 };   /* > one element-wise chunk, so the threaded split runs */
    float *g = malloc(sizeof(float) * N), *u = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    fill(g, N, 8.0f);
    fill(u, N, 2.0f);
    vlkv_silu_mul(o, g, u, N, y);
    double maxe = 0;
    for (int i = 0; i < N; i++) maxe = fmax(maxe, fabs(y[i] - g[i] / (1.0 + exp(-(double)g[i])) * u[i]));
    CHECK_MSG(maxe < 1e-4, "silu_mul max err %g", maxe);

    memcpy(y, g, sizeof(float) * N);
    vlkv_gelu_erf(o, y, N);
    maxe = 0;
    for (int i = 0; i < N; i++) maxe = fmax(maxe, fabs(y[i] - 0.5 * g[i] * (1 + erf(g[i] / sqrt(2.0)))));
    CHECK_MSG(maxe < 1e-5, "gelu_erf max err %g", maxe);

    memcpy(y, g, sizeof(float) * N);
    vlkv_gelu_tanh(o, y, N);
    maxe = 0;
    for (int i = 0; i < N; i++) {
        double v = g[i];
        maxe = fmax(maxe, fabs(y[i] - 0.5 * v * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)))));
    }
    CHECK_MSG(maxe < 1e-5, "gelu_tanh max err %g", maxe);

    memcpy(y, g, sizeof(float) * N);
    vlkv_gelu_quick(o, y, N);
    maxe = 0;
    for (int i = 0; i < N; i++) maxe = fmax(maxe, fabs(y[i] - g[i] / (1 + exp(-1.702 * g[i]))));
    CHECK_MSG(maxe < 1e-5, "gelu_quick max err %g", maxe);

    memcpy(y, g, sizeof(float) * N);
    vlkv_add(o, y, u, N);
    maxe = 0;
    for (int i = 0; i < N; i++) maxe = fmax(maxe, fabs(y[i] - ((double)g[i] + u[i])));
    CHECK_MSG(maxe < 1e-5, "add max err %g", maxe);
    free(g); free(u); free(y);
}

/* vlkv_attention_dense, and with BLAS vlkv_attention_blas both ways (rows split over the OpenMP
 * threads, and one multi-threaded sgemm per head), against a double-precision softmax(q k^T) v. */
static void test_attention_dense(struct vlkv_ops_ctx *o, int64_t n, int n_head, int d) {
    const int64_t ld = (int64_t)n_head * d;
    float *q = malloc(sizeof(float) * n * ld), *k = malloc(sizeof(float) * n * ld), *v = malloc(sizeof(float) * n * ld);
    float *out = malloc(sizeof(float) * n * ld), *ref = malloc(sizeof(float) * n * ld);
    double *p = malloc(sizeof(double) * n);
    fill(q, n * ld, 2.0f);
    fill(k, n * ld, 2.0f);
    fill(v, n * ld, 1.0f);
    vlkv_attention_dense(o, q, k, v, n, n_head, d, out);
    for (int h = 0; h < n_head; h++)
        for (int64_t i = 0; i < n; i++) {
            double mx = -1e300, sum = 0;
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int c = 0; c < d; c++) s += (double)q[i * ld + h * d + c] * k[j * ld + h * d + c];
                p[j] = s / sqrt((double)d);
                mx = fmax(mx, p[j]);
            }
            for (int64_t j = 0; j < n; j++) sum += (p[j] = exp(p[j] - mx));
            for (int c = 0; c < d; c++) {
                double acc = 0;
                for (int64_t j = 0; j < n; j++) acc += p[j] / sum * v[j * ld + h * d + c];
                ref[i * ld + h * d + c] = (float)acc;
            }
        }
    double e = nmse(out, ref, n * ld);
    CHECK_MSG(e < 1e-10, "attention_dense n %lld heads %d d %d: nmse %g", (long long)n, n_head, d, e);
#ifdef VLKV_HAVE_BLAS
    float *s = malloc(sizeof(float) * n * n);
    for (int in_omp = 1; in_omp >= 0; in_omp--) {
        const int saved = o->blas_in_omp;
        o->blas_in_omp = in_omp;
        memset(out, 0, sizeof(float) * n * ld);
        vlkv_attention_blas(o, q, k, v, n, n_head, d, out, s);
        o->blas_in_omp = saved;
        e = nmse(out, ref, n * ld);
        CHECK_MSG(e < 1e-10, "attention_blas (in_omp %d) n %lld heads %d d %d: nmse %g", in_omp, (long long)n,
                  n_head, d, e);
    }
    free(s);
#endif
    free(q); free(k); free(v); free(out); free(ref); free(p);
}

int main(void) {
    struct vlkv_ops_ctx o;
    vlkv_ops_init(&o, 2);
    printf("kernels: %s, blas %d\n", o.k->name, o.use_blas);
    static const uint32_t types[] = {VLKV_TYPE_F32, VLKV_TYPE_F16, VLKV_TYPE_BF16, VLKV_TYPE_Q4_0, VLKV_TYPE_Q4_1,
                                     VLKV_TYPE_Q5_0, VLKV_TYPE_Q5_1, VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_K, VLKV_TYPE_Q5_K,
                                     VLKV_TYPE_Q6_K};
    int n_types = 0;
    for (size_t i = 0; i < VLKV_ARRAY_LEN(types); i++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(types[i]);
        if (!tr || !tr->supported) {
            printf("  type %u not supported by this build: skipped\n", types[i]);
            continue;
        }
        n_types++;
        int bad = test_matmul_type(&o, types[i]);
        printf("  matmul %-5s %s\n", tr->name, bad ? "FAIL" : "ok");
    }
    CHECK(n_types >= 7);   /* F32 F16 Q4_0 Q8_0 Q4_K Q5_K Q6_K at least (formats.md §2.1 minimum set) */

    /* a weight type without support must be refused with a message, not crash */
    {
        struct vlkv_tensor W;
        memset(&W, 0, sizeof W);
        snprintf(W.name, sizeof W.name, "q2k");
        W.type = VLKV_TYPE_Q2_K; W.ne[0] = 256; W.ne[1] = 1; W.nb[1] = 84;
        float x[256] = {0}, y[1];
        CHECK(vlkv_matmul(&o, &W, NULL, x, 1, y) == VLKV_ERR_UNSUPPORTED);
    }
    test_matmul_multi(&o);
    test_norms(&o);
    test_rope(&o);
    test_activations(&o);
    test_attention_dense(&o, 37, 3, 16);
    test_attention_dense(&o, 300, 2, 32);   /* several key blocks: online rescaling */
    vlkv_ops_free(&o);
    return test_done("test_ops");
}
