/* test_vk_ops.c - every Vulkan op against a CPU computation in double precision.
 *
 * Device: VLKV_VK_DEVICE if set, else the first usable GPU, else a CPU implementation (lavapipe)
 * selected explicitly -- so CI without a GPU still runs the shaders. No Vulkan at all, or a
 * build without VLKV_VULKAN: exit 77 (skip).
 *
 * References: weights are made with the reference quantizers of types.h and dequantized with
 * its reference to_float (an implementation independent of the shaders' dequant.glsl); products,
 * norms, RoPE, activations, attention and the KV statistics are plain double loops written from
 * the specs (formats.md §3, kv-lvlm-methods.md §1.1).
 *
 * Tolerances: the GPU accumulates in fp32, so a K-term dot product has relative error about
 * K * 2^-24 of sum |w x|; we require NMSE <= 1e-10 (matvec/matmul/norm/attention: observed
 * ~1e-14), max abs error scaled by the row magnitude for elementwise ops, exact equality for
 * data movement (gather, remove, get_rows of F32/F16), and one f16 ulp for f16 rounding. */
#define _POSIX_C_SOURCE 200809L   /* popen */
#include "test_util.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VLKV_HAVE_VULKAN
int main(void) {
    printf("test_vk_ops: built without Vulkan (VLKV_VULKAN=OFF), skipped\n");
    return 77;
}
#else
#include "vk.h"
#include "vk_test_util.h"

static test_rng g_rng = {0x2545F4914F6CDD1DULL};
static struct vk_device *g_dev;

static void fill(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = rng_f32(&g_rng) * scale;
}

static void *xmalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* upload host data into a new device buffer */
static struct vk_buffer up(const void *data, size_t n) {
    struct vk_buffer b;
    if (vk_buffer_create(g_dev, n, VK_MEM_DEVICE, &b) != VLKV_OK) {
        fprintf(stderr, "buffer: %s\n", vlkv_last_error());
        exit(1);
    }
    if (data && vk_buffer_write(g_dev, &b, 0, data, n) != VLKV_OK) {
        fprintf(stderr, "write: %s\n", vlkv_last_error());
        exit(1);
    }
    return b;
}

static void down(const struct vk_buffer *b, void *dst, size_t n) {
    if (vk_buffer_read(g_dev, b, 0, dst, n) != VLKV_OK) {
        fprintf(stderr, "read: %s\n", vlkv_last_error());
        exit(1);
    }
}

static void free_buf(struct vk_buffer *b) { vk_buffer_destroy(g_dev, b); }

#define RUN(expr) do { \
    CHECK_MSG(vk_begin(g_dev) == VLKV_OK, "%s", vlkv_last_error()); \
    vlkv_status st_ = (expr); \
    CHECK_MSG(st_ == VLKV_OK, "%s: %s", #expr, vlkv_last_error()); \
    CHECK_MSG(vk_submit(g_dev) == VLKV_OK, "%s", vlkv_last_error()); \
} while (0)

/* ---------------------------------------------------------------------------------------- */

/* A weight matrix [M][K] of `type`: quantized from random floats with the reference quantizer,
 * and its exact dequantization (the reference values the GPU must reproduce). */
static void *make_weights(enum vlkv_type type, uint32_t M, uint32_t K, float *deq) {
    const struct vlkv_type_traits *tt = vlkv_type_traits_get(type);
    const size_t rs = vlkv_row_size(type, K);
    uint8_t *w = xmalloc(rs * M);
    float *row = xmalloc(sizeof(float) * K);
    for (uint32_t m = 0; m < M; m++) {
        fill(row, K, 1.0f);
        /* a per-row magnitude and some outliers, so scales differ between blocks */
        for (uint32_t k = 0; k < K; k++) row[k] *= 0.5f + (float)(m % 5);
        row[(m * 7) % K] *= 6.0f;
        tt->from_float(row, w + rs * m, K);
        tt->to_float(w + rs * m, deq + (size_t)m * K, K);
    }
    free(row);
    return w;
}

static void test_matmul_type(enum vlkv_type type, uint32_t K, uint32_t M, uint32_t N) {
    float *deq = xmalloc(sizeof(float) * M * K), *x = xmalloc(sizeof(float) * N * K);
    float *y = xmalloc(sizeof(float) * N * M), *ref = xmalloc(sizeof(float) * N * M);
    void *w = make_weights(type, M, K, deq);
    fill(x, (size_t)N * K, 1.0f);
    for (uint32_t n = 0; n < N; n++)
        for (uint32_t m = 0; m < M; m++) {
            double s = 0;
            for (uint32_t k = 0; k < K; k++) s += (double)deq[(size_t)m * K + k] * x[(size_t)n * K + k];
            ref[(size_t)n * M + m] = (float)s;
        }
    struct vk_buffer bw = up(w, vlkv_row_size(type, K) * M), bx = up(x, sizeof(float) * N * K),
                     by = up(NULL, sizeof(float) * N * M);
    RUN(vk_op_matmul(g_dev, type, vk_ref_of(&bw), vk_ref_of(&bx), vk_ref_of(&by), K, M, N));
    down(&by, y, sizeof(float) * N * M);
    double e = nmse(y, ref, (int64_t)N * M);
    CHECK_MSG(e <= 1e-10, "%s %s K=%u M=%u N=%u: nmse %.3g", N <= 8 ? "matvec" : "matmul", vlkv_type_name(type), K,
              M, N, e);
    printf("  %-6s %-4s K=%-4u M=%-3u N=%-3u nmse %.2e\n", N <= 8 ? "matvec" : "matmul", vlkv_type_name(type), K, M,
           N, e);
    free_buf(&bw); free_buf(&bx); free_buf(&by);
    free(deq); free(x); free(y); free(ref); free(w);
}

static void test_get_rows(enum vlkv_type type) {
    const uint32_t K = 512, M = 9, R = 5;
    float *deq = xmalloc(sizeof(float) * M * K), *out = xmalloc(sizeof(float) * R * K);
    void *w = make_weights(type, M, K, deq);
    int32_t ids[5] = {3, 0, 8, 3, 99 /* out of range: row left as it was */};
    for (uint32_t i = 0; i < R * K; i++) out[i] = -7.0f;
    struct vk_buffer bw = up(w, vlkv_row_size(type, K) * M), bi = up(ids, sizeof ids), bo = up(out, sizeof(float) * R * K);
    RUN(vk_op_get_rows(g_dev, type, vk_ref_of(&bw), M, vk_ref_of(&bi), vk_ref_of(&bo), K, R));
    down(&bo, out, sizeof(float) * R * K);
    double worst = 0;
    for (uint32_t r = 0; r < R; r++)
        for (uint32_t k = 0; k < K; k++) {
            float want = ids[r] < (int32_t)M ? deq[(size_t)ids[r] * K + k] : -7.0f;
            double d = fabs((double)out[(size_t)r * K + k] - want) / (fabs(want) + 1e-3);
            if (d > worst || d != d) worst = d;
        }
    /* dequantization is d*sc*q - dmin*m in fp32 on both sides: a few ulp */
    CHECK_MSG(worst <= 1e-5, "get_rows %s: worst relative error %.3g", vlkv_type_name(type), worst);
    free_buf(&bw); free_buf(&bi); free_buf(&bo);
    free(deq); free(out); free(w);
}

/* a weight split over several buffers (as when a matrix exceeds maxStorageBufferRange) */
static void test_split_weight(enum vlkv_type type) {
    const uint32_t K = 512, M = 70, N = 11;
    float *deq = xmalloc(sizeof(float) * M * K), *x = xmalloc(sizeof(float) * 9 * K);
    float *y = xmalloc(sizeof(float) * 9 * M), *ref = xmalloc(sizeof(float) * 9 * M);
    void *w = make_weights(type, M, K, deq);
    fill(x, (size_t)9 * K, 1.0f);
    const uint64_t saved = g_dev->caps.max_sbuf_range;
    g_dev->caps.max_sbuf_range = 16 * vlkv_row_size(type, K) + 5;   /* 16 rows per part: 5 parts */
    struct vk_weight W;
    CHECK_MSG(vk_weight_upload(g_dev, &W, type, K, M, w) == VLKV_OK, "%s", vlkv_last_error());
    g_dev->caps.max_sbuf_range = saved;
    CHECK(W.n_parts == 5 && W.rows_per_part == 16);
    for (uint32_t n = 1; n <= 9; n += 8) {   /* matvec (1 column) and matmul (9 columns) */
        for (uint32_t c = 0; c < n; c++)
            for (uint32_t m = 0; m < M; m++) {
                double s = 0;
                for (uint32_t k = 0; k < K; k++) s += (double)deq[(size_t)m * K + k] * x[(size_t)c * K + k];
                ref[(size_t)c * M + m] = (float)s;
            }
        struct vk_buffer bx = up(x, sizeof(float) * n * K), by = up(NULL, sizeof(float) * n * M);
        RUN(vk_op_matmul_w(g_dev, &W, vk_ref_of(&bx), vk_ref_of(&by), n));
        down(&by, y, sizeof(float) * n * M);
        CHECK_MSG(nmse(y, ref, (int64_t)n * M) <= 1e-10, "split %s n=%u: nmse %.3g", vlkv_type_name(type), n,
                  nmse(y, ref, (int64_t)n * M));
        free_buf(&bx); free_buf(&by);
    }
    int32_t ids[N];
    for (uint32_t r = 0; r < N; r++) ids[r] = (int32_t)((r * 29 + 3) % M);
    struct vk_buffer bi = up(ids, sizeof ids), bo = up(NULL, sizeof(float) * N * K);
    float *rows = xmalloc(sizeof(float) * N * K);
    RUN(vk_op_get_rows_w(g_dev, &W, vk_ref_of(&bi), vk_ref_of(&bo), N));
    down(&bo, rows, sizeof(float) * N * K);
    double worst = 0;
    for (uint32_t r = 0; r < N; r++)
        for (uint32_t k = 0; k < K; k++) {
            const float want = deq[(size_t)ids[r] * K + k];
            worst = fmax(worst, fabs(rows[(size_t)r * K + k] - want) / (fabs(want) + 1e-3));
        }
    CHECK_MSG(worst <= 1e-5, "split get_rows %s: worst relative error %.3g", vlkv_type_name(type), worst);
    vk_weight_free(g_dev, &W);
    free_buf(&bi); free_buf(&bo);
    free(deq); free(x); free(y); free(ref); free(w); free(rows);
}

static void test_norms(void) {
    const uint32_t n = 300, rows = 3;
    float *x = xmalloc(sizeof(float) * n * rows), *w = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n);
    float *y = xmalloc(sizeof(float) * n * rows), *ref = xmalloc(sizeof(float) * n * rows);
    fill(x, (size_t)n * rows, 2.0f);
    for (uint32_t i = 0; i < n; i++) x[2 * n + i] += 5.0f;   /* a row with a large mean */
    fill(w, n, 1.0f);
    fill(b, n, 0.5f);
    struct vk_buffer bx = up(x, sizeof(float) * n * rows), bw = up(w, sizeof(float) * n), bb = up(b, sizeof(float) * n),
                     by = up(NULL, sizeof(float) * n * rows);
    /* rmsnorm */
    const float eps = 1e-5f;
    for (uint32_t r = 0; r < rows; r++) {
        double ss = 0;
        for (uint32_t i = 0; i < n; i++) ss += (double)x[r * n + i] * x[r * n + i];
        double sc = 1.0 / sqrt(ss / n + eps);
        for (uint32_t i = 0; i < n; i++) ref[r * n + i] = (float)(x[r * n + i] * sc * w[i]);
    }
    RUN(vk_op_rmsnorm(g_dev, vk_ref_of(&bx), vk_ref_of(&bw), vk_ref_of(&by), n, rows, eps));
    down(&by, y, sizeof(float) * n * rows);
    CHECK_MSG(nmse(y, ref, (int64_t)n * rows) <= 1e-11, "rmsnorm nmse %.3g", nmse(y, ref, (int64_t)n * rows));
    /* layernorm */
    for (uint32_t r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (uint32_t i = 0; i < n; i++) mean += x[r * n + i];
        mean /= n;
        for (uint32_t i = 0; i < n; i++) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
        var /= n;
        for (uint32_t i = 0; i < n; i++)
            ref[r * n + i] = (float)((x[r * n + i] - mean) / sqrt(var + eps) * w[i] + b[i]);
    }
    RUN(vk_op_layernorm(g_dev, vk_ref_of(&bx), vk_ref_of(&bw), vk_ref_of(&bb), vk_ref_of(&by), n, rows, eps));
    down(&by, y, sizeof(float) * n * rows);
    CHECK_MSG(nmse(y, ref, (int64_t)n * rows) <= 1e-11, "layernorm nmse %.3g", nmse(y, ref, (int64_t)n * rows));
    free_buf(&bx); free_buf(&bw); free_buf(&bb); free_buf(&by);
    free(x); free(w); free(b); free(y); free(ref);
}

static void test_rope(uint32_t n_rot) {
    const uint32_t rows = 3, H = 2, D = 64, n = rows * H * D;
    const float base = 10000.0f, fscale = 0.5f;
    int32_t pos[3] = {0, 7, 1000};
    float *x = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n), *ref = xmalloc(sizeof(float) * n);
    fill(x, n, 1.0f);
    memcpy(ref, x, sizeof(float) * n);
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t h = 0; h < H; h++)
            for (uint32_t i = 0; 2 * i < n_rot; i++) {
                double th = pos[r] * (double)fscale * pow(base, -2.0 * i / n_rot);
                float *p = ref + (r * H + h) * D + 2 * i;
                double x0 = p[0], x1 = p[1];
                p[0] = (float)(x0 * cos(th) - x1 * sin(th));
                p[1] = (float)(x0 * sin(th) + x1 * cos(th));
            }
    struct vk_buffer bx = up(x, sizeof(float) * n), bp = up(pos, sizeof pos);
    RUN(vk_op_rope_norm(g_dev, vk_ref_of(&bx), vk_ref_of(&bp), rows, H, D, n_rot, base, fscale));
    down(&bx, y, sizeof(float) * n);
    /* theta up to 500 rad in fp32: |dtheta| ~ 500 * 2^-24 * few -> ~1e-4 abs */
    double m = max_abs_diff(y, ref, n);
    CHECK_MSG(m <= 2e-4, "rope n_rot=%u: max abs diff %.3g", n_rot, m);
    if (n_rot < D) CHECK(y[D - 1] == x[D - 1] && y[n - 1] == x[n - 1]);   /* pass-through dims */
    free_buf(&bx); free_buf(&bp);
    free(x); free(y); free(ref);
}

static double gelu_ref(int kind, double v) {
    if (kind == 0) return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    if (kind == 1) return 0.5 * v * (1.0 + tanh(0.79788456080286535588 * (v + 0.044715 * v * v * v)));
    return v / (1.0 + exp(-1.702 * v));
}

static void test_eltwise(void) {
    const uint32_t n = 1000;
    float *a = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n);
    float *ref = xmalloc(sizeof(float) * n);
    fill(a, n, 6.0f);
    fill(b, n, 2.0f);
    a[0] = 30.0f; a[1] = -30.0f; a[2] = 0.0f;   /* saturation and zero */
    struct vk_buffer ba = up(a, sizeof(float) * n), bb = up(b, sizeof(float) * n), by = up(NULL, sizeof(float) * n);

    for (uint32_t i = 0; i < n; i++) ref[i] = a[i] + b[i];
    RUN(vk_op_add(g_dev, vk_ref_of(&ba), vk_ref_of(&bb), n));   /* a += b in place */
    down(&ba, y, sizeof(float) * n);
    CHECK_MSG(max_abs_diff(y, ref, n) == 0, "add: max abs diff %.3g", max_abs_diff(y, ref, n));
    vk_buffer_write(g_dev, &ba, 0, a, sizeof(float) * n);

    for (uint32_t i = 0; i < n; i++) ref[i] = a[i] + b[i % 40];
    RUN(vk_op_add_row(g_dev, vk_ref_of(&ba), vk_ref_of(&bb), n, 40));   /* bias broadcast */
    down(&ba, y, sizeof(float) * n);
    CHECK_MSG(max_abs_diff(y, ref, n) == 0, "add_row: max abs diff %.3g", max_abs_diff(y, ref, n));
    vk_buffer_write(g_dev, &ba, 0, a, sizeof(float) * n);

    for (uint32_t i = 0; i < n; i++) ref[i] = (float)(a[i] / (1.0 + exp(-(double)a[i])) * b[i]);
    RUN(vk_op_silu_mul(g_dev, vk_ref_of(&ba), vk_ref_of(&bb), vk_ref_of(&by), n));
    down(&by, y, sizeof(float) * n);
    CHECK_MSG(max_abs_diff(y, ref, n) <= 1e-5 * 60, "silu_mul: max abs diff %.3g", max_abs_diff(y, ref, n));

    static const enum vk_gelu kinds[3] = {VK_GELU_ERF, VK_GELU_TANH, VK_GELU_QUICK};
    static const char *names[3] = {"gelu_erf", "gelu_tanh", "gelu_quick"};
    for (int g = 0; g < 3; g++) {
        vk_buffer_write(g_dev, &ba, 0, a, sizeof(float) * n);
        for (uint32_t i = 0; i < n; i++) ref[i] = (float)gelu_ref(g, a[i]);
        RUN(vk_op_gelu(g_dev, kinds[g], vk_ref_of(&ba), n));
        down(&ba, y, sizeof(float) * n);
        /* erf approximation error 1.5e-7 * |x|/2, exp/tanh a few ulp of values up to 30 */
        double m = max_abs_diff(y, ref, n);
        CHECK_MSG(m <= 2e-5, "%s: max abs diff %.3g", names[g], m);
    }
    free_buf(&ba); free_buf(&bb); free_buf(&by);
    free(a); free(b); free(y); free(ref);
}

/* K/V rows in the storage type (F16 bits or F32) plus their float values */
static void *make_kv(enum vlkv_type t, size_t n, float *vals) {
    fill(vals, n, 1.0f);
    if (t == VLKV_TYPE_F32) {
        float *p = xmalloc(n * 4);
        memcpy(p, vals, n * 4);
        return p;
    }
    vlkv_f16 *p = xmalloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        p[i] = vlkv_f32_to_f16(vals[i]);
        vals[i] = vlkv_f16_to_f32(p[i]);
    }
    return p;
}

/* attention + statistics pass vs double loops */
/* chunk: query rows per dispatch (scores scratch sized for that many; 0 = all at once) */
static void test_attention(enum vlkv_type t, uint32_t n_q, uint32_t n_kv, int causal, uint32_t chunk) {
    const uint32_t H = 4, Hkv = 2, D = 32, kvw = Hkv * D, g = H / Hkv;
    const size_t es = t == VLKV_TYPE_F16 ? 2 : 4;
    float *q = xmalloc(sizeof(float) * n_q * H * D), *kf = xmalloc(sizeof(float) * n_kv * kvw);
    float *vf = xmalloc(sizeof(float) * n_kv * kvw);
    fill(q, (size_t)n_q * H * D, 2.0f);
    void *k = make_kv(t, (size_t)n_kv * kvw, kf), *v = make_kv(t, (size_t)n_kv * kvw, vf);
    float *out = xmalloc(sizeof(float) * n_q * H * D), *ref = xmalloc(sizeof(float) * n_q * H * D);
    float *stats = xmalloc(sizeof(float) * n_q * H * 2), *rstats = xmalloc(sizeof(float) * n_q * H * 2);
    double *P = xmalloc(sizeof(double) * n_q * H * n_kv);   /* reference probabilities */
    const double scale = 1.0 / sqrt((double)D);
    for (uint32_t i = 0; i < n_q; i++)
        for (uint32_t h = 0; h < H; h++) {
            uint32_t nv = causal ? n_kv - n_q + i + 1 : n_kv;
            double *p = P + ((size_t)i * H + h) * n_kv, mx = -1e300, sum = 0;
            for (uint32_t j = 0; j < n_kv; j++) {
                p[j] = 0;
                if (j >= nv) continue;
                double s = 0;
                for (uint32_t d = 0; d < D; d++) s += (double)q[(i * H + h) * D + d] * kf[j * kvw + (h / g) * D + d];
                p[j] = s * scale;
                if (p[j] > mx) mx = p[j];
            }
            for (uint32_t j = 0; j < nv; j++) sum += (p[j] = exp(p[j] - mx));
            for (uint32_t j = 0; j < nv; j++) p[j] /= sum;
            rstats[2 * (i * H + h)] = (float)mx;
            rstats[2 * (i * H + h) + 1] = (float)(mx + log(sum));
            for (uint32_t d = 0; d < D; d++) {
                double acc = 0;
                for (uint32_t j = 0; j < nv; j++) acc += p[j] * vf[j * kvw + (h / g) * D + d];
                ref[(i * H + h) * D + d] = (float)acc;
            }
        }
    struct vk_buffer bq = up(q, sizeof(float) * n_q * H * D), bk = up(k, es * n_kv * kvw), bv = up(v, es * n_kv * kvw);
    struct vk_buffer bo = up(NULL, sizeof(float) * n_q * H * D), bs = up(NULL, sizeof(float) * n_q * H * n_kv);
    struct vk_buffer bt = up(NULL, sizeof(float) * n_q * H * 2);
    struct vk_ref scores = chunk ? vk_ref_at(&bs, 0, sizeof(float) * chunk * H * n_kv) : vk_ref_of(&bs);
    RUN(vk_op_attention(g_dev, t, vk_ref_of(&bq), vk_ref_of(&bk), vk_ref_of(&bv), vk_ref_of(&bo), scores,
                        vk_ref_of(&bt), n_q, n_kv, H, Hkv, D, causal));
    down(&bo, out, sizeof(float) * n_q * H * D);
    down(&bt, stats, sizeof(float) * n_q * H * 2);
    double e = nmse(out, ref, (int64_t)n_q * H * D), es2 = max_abs_diff(stats, rstats, (int64_t)n_q * H * 2);
    CHECK_MSG(e <= 1e-10, "attention %s n_q=%u n_kv=%u causal=%d: nmse %.3g", vlkv_type_name(t), n_q, n_kv, causal, e);
    CHECK_MSG(es2 <= 1e-5, "attention stats (max, lse): max abs diff %.3g", es2);
    printf("  attention %s n_q=%u n_kv=%u causal=%d chunk=%u: nmse %.2e, stats diff %.2e\n", vlkv_type_name(t), n_q,
           n_kv, causal, chunk, e, es2);

    if (causal) {
        /* statistics over query rows [r0, r1): col[j] = mean_h sum_i P */
        const uint32_t r0 = n_q > 2 ? 1 : 0, r1 = n_q;
        float *col = xmalloc(sizeof(float) * n_kv), *rcol = xmalloc(sizeof(float) * n_kv);
        for (uint32_t j = 0; j < n_kv; j++) {
            double s = 0;
            for (uint32_t h = 0; h < H; h++)
                for (uint32_t i = r0; i < r1; i++) s += P[((size_t)i * H + h) * n_kv + j];
            rcol[j] = (float)(s / H);
        }
        struct vk_buffer bph = up(NULL, sizeof(float) * H * n_kv), bc = up(NULL, sizeof(float) * n_kv);
        RUN(vk_op_attn_stats(g_dev, t, vk_ref_of(&bq), vk_ref_of(&bk), vk_ref_of(&bt), vk_ref_of(&bph), vk_ref_of(&bc),
                             n_q, n_kv, H, Hkv, D, r0, r1));
        down(&bc, col, sizeof(float) * n_kv);
        double ec = nmse(col, rcol, n_kv);
        CHECK_MSG(ec <= 1e-10, "attn_stats %s rows [%u,%u): nmse %.3g", vlkv_type_name(t), r0, r1, ec);
        /* the column sums of a row-stochastic matrix add up to the number of rows */
        double tot = 0;
        for (uint32_t j = 0; j < n_kv; j++) tot += col[j];
        CHECK_NEAR(tot, (double)(r1 - r0), 1e-4 * (r1 - r0));
        printf("  attn_stats %s rows [%u,%u) of %u over %u slots: nmse %.2e, total %.6f\n", vlkv_type_name(t), r0, r1,
               n_q, n_kv, ec, tot);
        free_buf(&bph); free_buf(&bc);
        free(col); free(rcol);
    }
    free_buf(&bq); free_buf(&bk); free_buf(&bv); free_buf(&bo); free_buf(&bs); free_buf(&bt);
    free(q); free(kf); free(vf); free(k); free(v); free(out); free(ref); free(stats); free(rstats); free(P);
}

/* KV primitives on a layer placed at a non-zero (aligned) offset inside a larger buffer */
static void test_kv_primitives(void) {
    const uint32_t len = 23, row_elems = 2 * 16, row_bytes = row_elems * 2;   /* F16, Hkv=2, d=16 */
    const size_t off = 256;
    float *vals = xmalloc(sizeof(float) * len * row_elems);
    vlkv_f16 *rows = make_kv(VLKV_TYPE_F16, (size_t)len * row_elems, vals);
    vlkv_f16 *got = xmalloc((size_t)len * row_bytes);
    struct vk_buffer big = up(NULL, off + (size_t)len * row_bytes), scratch = up(NULL, (size_t)len * row_bytes);
    struct vk_ref layer = vk_ref_at(&big, off, (size_t)len * row_bytes);

    /* compaction: keep a strictly increasing subset, in order */
    int32_t keep[] = {0, 1, 4, 5, 6, 10, 17, 22};
    const uint32_t nk = (uint32_t)VLKV_ARRAY_LEN(keep);
    vk_buffer_write(g_dev, &big, off, rows, (size_t)len * row_bytes);
    struct vk_buffer bkeep = up(keep, sizeof keep);
    RUN(vk_op_kv_compact(g_dev, layer, vk_ref_of(&bkeep), vk_ref_of(&scratch), row_bytes, nk));
    vk_buffer_read(g_dev, &big, off, got, (size_t)len * row_bytes);
    int ok = 1;
    for (uint32_t i = 0; i < nk; i++) ok &= !memcmp(got + (size_t)i * row_elems, rows + (size_t)keep[i] * row_elems, row_bytes);
    for (uint32_t i = nk; i < len; i++) ok &= !memcmp(got + (size_t)i * row_elems, rows + (size_t)i * row_elems, row_bytes);
    CHECK_MSG(ok, "kv_compact: rows differ from the CPU gather");

    /* FIFO removal at a fixed index */
    const uint32_t idx = 9;
    vk_buffer_write(g_dev, &big, off, rows, (size_t)len * row_bytes);
    RUN(vk_op_kv_remove(g_dev, layer, vk_ref_of(&scratch), row_bytes, idx, len));
    vk_buffer_read(g_dev, &big, off, got, (size_t)len * row_bytes);
    ok = 1;
    for (uint32_t i = 0; i + 1 < len; i++)
        ok &= !memcmp(got + (size_t)i * row_elems, rows + (size_t)(i < idx ? i : i + 1) * row_elems, row_bytes);
    CHECK_MSG(ok, "kv_remove: rows differ from the CPU memmove");

    /* segment-mean merge (Elastic): kept singles and buckets, one dropped slot (18) */
    int32_t seg[] = {0, 1, 1, 2, 2, 7, 7, 8, 8, 13, 13, 18, 19, 23};
    const uint32_t nseg = (uint32_t)VLKV_ARRAY_LEN(seg) / 2;
    vk_buffer_write(g_dev, &big, off, rows, (size_t)len * row_bytes);
    struct vk_buffer bseg = up(seg, sizeof seg);
    RUN(vk_op_kv_merge(g_dev, VLKV_TYPE_F16, layer, vk_ref_of(&bseg), vk_ref_of(&scratch), row_elems, nseg));
    vk_buffer_read(g_dev, &big, off, got, (size_t)len * row_bytes);
    double worst = 0;
    for (uint32_t i = 0; i < nseg; i++)
        for (uint32_t e = 0; e < row_elems; e++) {
            double s = 0;
            for (int32_t r = seg[2 * i]; r < seg[2 * i + 1]; r++) s += vals[(size_t)r * row_elems + e];
            s /= seg[2 * i + 1] - seg[2 * i];
            /* one f16 rounding: half an ulp of |s| (2^-11 relative), plus the subnormal floor */
            double d = fabs(vlkv_f16_to_f32(got[(size_t)i * row_elems + e]) - s) / (fabs(s) * 0x1p-11 + 0x1p-24);
            if (d > worst) worst = d;
        }
    CHECK_MSG(worst <= 1.0, "kv_merge f16: error %.3g f16 half-ulps", worst);

    /* F32 merge */
    float *f32rows = xmalloc(sizeof(float) * len * row_elems), *f32got = xmalloc(sizeof(float) * len * row_elems);
    fill(f32rows, (size_t)len * row_elems, 1.0f);
    struct vk_buffer b32 = up(f32rows, sizeof(float) * len * row_elems), s32 = up(NULL, sizeof(float) * len * row_elems);
    RUN(vk_op_kv_merge(g_dev, VLKV_TYPE_F32, vk_ref_of(&b32), vk_ref_of(&bseg), vk_ref_of(&s32), row_elems, nseg));
    down(&b32, f32got, sizeof(float) * len * row_elems);
    worst = 0;
    for (uint32_t i = 0; i < nseg; i++)
        for (uint32_t e = 0; e < row_elems; e++) {
            double s = 0;
            for (int32_t r = seg[2 * i]; r < seg[2 * i + 1]; r++) s += f32rows[(size_t)r * row_elems + e];
            s /= seg[2 * i + 1] - seg[2 * i];
            double d = fabs(f32got[(size_t)i * row_elems + e] - s);
            if (d > worst) worst = d;
        }
    CHECK_MSG(worst <= 1e-6, "kv_merge f32: max abs diff %.3g", worst);

    /* KV append: f32 -> f16 rows written at slot 5 of the layer */
    const uint32_t n = 3 * row_elems, slot = 5;
    float *src = xmalloc(sizeof(float) * n);
    fill(src, n, 3.0f);
    src[0] = 70000.0f;   /* overflows f16 -> inf, as the CPU converter does */
    src[1] = 1e-6f;      /* f16 subnormal */
    struct vk_buffer bsrc = up(src, sizeof(float) * n);
    vk_buffer_write(g_dev, &big, off, rows, (size_t)len * row_bytes);
    RUN(vk_op_cpy_f32_f16(g_dev, vk_ref_of(&bsrc), vk_ref_at(&big, off, 0), slot * row_elems, n));
    vk_buffer_read(g_dev, &big, off, got, (size_t)len * row_bytes);
    int exact = 1, near = 1;
    for (uint32_t i = 0; i < n; i++) {
        vlkv_f16 want = vlkv_f32_to_f16(src[i]), have = got[(size_t)slot * row_elems + i];
        exact &= want == have;
        near &= abs((int)want - (int)have) <= 1;   /* packHalf2x16's rounding mode is implementation-defined */
    }
    CHECK_MSG(near, "cpy_f32_f16: differs from vlkv_f32_to_f16 by more than one ulp");
    CHECK(!memcmp(got, rows, (size_t)slot * row_bytes));   /* neighbours untouched */
    CHECK(!memcmp(got + (size_t)(slot + 3) * row_elems, rows + (size_t)(slot + 3) * row_elems,
                  (size_t)(len - slot - 3) * row_bytes));
    printf("  kv primitives: compact, remove, merge f16/f32, append (f16 rounding %s)\n", exact ? "exact" : "within 1 ulp");

    free_buf(&big); free_buf(&scratch); free_buf(&bkeep); free_buf(&bseg); free_buf(&b32); free_buf(&s32);
    free_buf(&bsrc);
    free(vals); free(rows); free(got); free(f32rows); free(f32got); free(src);
}

/* more dispatches in one sequence than the descriptor pool holds: the automatic flush must
 * keep the order (y += x, 1.5 pools' worth of times) */
static void test_many_dispatches(void) {
    const uint32_t n = 64, reps = VK_DSETS_PER_POOL * 3 / 2;
    float x[64], y[64];
    for (uint32_t i = 0; i < n; i++) {
        x[i] = (float)i;
        y[i] = 1.0f;
    }
    struct vk_buffer bx = up(x, sizeof x), by = up(y, sizeof y);
    CHECK(vk_begin(g_dev) == VLKV_OK);
    vlkv_status st = VLKV_OK;
    for (uint32_t r = 0; r < reps && st == VLKV_OK; r++) st = vk_op_add(g_dev, vk_ref_of(&by), vk_ref_of(&bx), n);
    CHECK_MSG(st == VLKV_OK, "%s", vlkv_last_error());
    CHECK(vk_submit(g_dev) == VLKV_OK);
    down(&by, y, sizeof y);
    int ok = 1;
    for (uint32_t i = 0; i < n; i++) ok &= y[i] == 1.0f + (float)reps * (float)i;
    CHECK_MSG(ok, "%u chained adds across a descriptor-pool flush", reps);
    free_buf(&bx); free_buf(&by);
}

/* `vlkv devices` lists this device (VLKV_BIN is set by ctest) */
static void test_cli_devices(void) {
    const char *bin = getenv("VLKV_BIN");
    if (!bin || access(bin, X_OK) != 0) return;
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd, "'%s' devices 2>&1", bin);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    int found = 0, has_default = 0;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, g_dev->caps.name)) found = 1;
        if (!strncmp(line, "default:", 8)) has_default = 1;
    }
    CHECK(pclose(p) == 0);
    CHECK_MSG(found && has_default, "`vlkv devices` does not list %s", g_dev->caps.name);
}

/* bad arguments give errors, not crashes */
static void test_errors(void) {
    struct vk_buffer b = up(NULL, 1024);
    CHECK(vk_begin(g_dev) == VLKV_OK);
    CHECK(vk_op_matmul(g_dev, VLKV_TYPE_Q4_K, vk_ref_of(&b), vk_ref_of(&b), vk_ref_of(&b), 100, 1, 1) ==
          VLKV_ERR_INVALID_ARG);   /* K not a multiple of 256 */
    CHECK(vk_op_matmul(g_dev, VLKV_TYPE_Q2_K, vk_ref_of(&b), vk_ref_of(&b), vk_ref_of(&b), 256, 1, 1) ==
          VLKV_ERR_UNSUPPORTED);
    CHECK(vk_op_rmsnorm(g_dev, vk_ref_at(&b, 3, 0), vk_ref_of(&b), vk_ref_of(&b), 4, 1, 1e-5f) ==
          VLKV_ERR_INVALID_ARG);   /* misaligned binding offset */
    CHECK(vk_op_kv_remove(g_dev, vk_ref_of(&b), vk_ref_of(&b), 64, 5, 5) == VLKV_ERR_INVALID_ARG);
    CHECK(vk_submit(g_dev) == VLKV_OK);
    CHECK(vk_buffer_write(g_dev, &b, 1000, &b, 100) == VLKV_ERR_INVALID_ARG);
    free_buf(&b);
}

int main(void) {
    struct vk_device_caps devs[VK_MAX_DEVICES];
    int n = 0, pick = -1;
    pick = vk_test_pick_device("test_vk_ops", devs, &n);
    if (pick == VK_TEST_SKIP) return 77;
    if (pick < 0) return 1;
    if (vk_device_open(pick, &g_dev) != VLKV_OK) {
        fprintf(stderr, "test_vk_ops: opening device %d: %s\n", pick, vlkv_last_error());
        return 1;
    }
    printf("test_vk_ops: device %d: %s (%s)\n", pick, g_dev->caps.name, vk_device_type_name(g_dev->caps.type));

    static const enum vlkv_type types[] = {VLKV_TYPE_F32, VLKV_TYPE_F16, VLKV_TYPE_Q4_0, VLKV_TYPE_Q8_0,
                                           VLKV_TYPE_Q4_K, VLKV_TYPE_Q5_K, VLKV_TYPE_Q6_K};
    const int sg = g_dev->caps.subgroup_arith;
    for (size_t i = 0; i < VLKV_ARRAY_LEN(types); i++) {
        const uint32_t K = types[i] >= VLKV_TYPE_Q4_K ? 512 : 96;
        test_matmul_type(types[i], K, 37, 1);    /* decode */
        if (sg) {                                /* and the shared-memory reduction variant */
            g_dev->caps.subgroup_arith = 0;
            test_matmul_type(types[i], K, 37, 1);
            g_dev->caps.subgroup_arith = sg;
        }
        test_matmul_type(types[i], K, 19, 3);    /* a few columns */
        test_matmul_type(types[i], K, 70, 67);   /* tiled: partial tiles in M and N */
        test_get_rows(types[i]);
    }
    test_split_weight(VLKV_TYPE_Q4_K);
    test_split_weight(VLKV_TYPE_F16);
    test_norms();
    test_rope(64);
    test_rope(32);
    test_eltwise();
    {   /* the same with the workgroup-count limit lowered: 1-D ops fold into a 2-D grid */
        const uint32_t saved = g_dev->caps.max_wg_count[0];
        g_dev->caps.max_wg_count[0] = 3;
        test_rope(64);
        test_eltwise();
        g_dev->caps.max_wg_count[0] = saved;
    }
    test_attention(VLKV_TYPE_F16, 5, 40, 1, 0);     /* 5 new tokens over a 40-slot layer */
    test_attention(VLKV_TYPE_F32, 1, 33, 1, 0);     /* one decode token */
    test_attention(VLKV_TYPE_F16, 24, 24, 1, 0);    /* prefill */
    test_attention(VLKV_TYPE_F16, 19, 30, 1, 7);    /* prefill in query chunks of 7 (small scratch) */
    test_attention(VLKV_TYPE_F32, 16, 16, 0, 5);    /* ViT (dense), chunked */
    test_kv_primitives();
    test_errors();
    test_many_dispatches();
    test_cli_devices();
    printf("  %llu dispatches\n", (unsigned long long)g_dev->n_dispatches);
    vk_device_close(g_dev);
    return test_done("test_vk_ops");
}
#endif
