/* kernels_ref.c - scalar reference of every kernel-table entry: the specification the AVX2 and
 * NEON files are tested against (tests/test_kernels.c). Built with baseline flags only.
 * Quantized dot products follow ggml's *_generic kernels: integer sums per block, scaled by
 * the block scales in float. f32/f16 reductions accumulate in double (ggml_float). */
#include "simd.h"

#include <math.h>
#include <string.h>

#define FP16(x) vlkv_f16_to_f32(x)

/* ---- typed dot products: x = weight row, y = activation row in vec_dot_type ------------ */

static void vec_dot_f32_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * y[i];
    *s = (float)sum;
}

static void vec_dot_f16_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const vlkv_f16 *x = vx, *y = vy;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)FP16(x[i]) * FP16(y[i]);
    *s = (float)sum;
}

static void vec_dot_bf16_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const vlkv_bf16 *x = vx, *y = vy;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)vlkv_bf16_to_f32(x[i]) * vlkv_bf16_to_f32(y[i]);
    *s = (float)sum;
}

static void vec_dot_q4_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int v0 = (x[ib].qs[j] & 0x0f) - 8, v1 = (x[ib].qs[j] >> 4) - 8;
            sumi += v0 * y[ib].qs[j] + v1 * y[ib].qs[j + QK4_0 / 2];
        }
        sumf += sumi * FP16(x[ib].d) * FP16(y[ib].d);
    }
    *s = sumf;
}

/* x = d*q + m  =>  dot = d_x d_y sum(q q8) + m_x * (d_y sum q8) = ... + m_x * s_y */
static void vec_dot_q4_1_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_1; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int v0 = x[ib].qs[j] & 0x0f, v1 = x[ib].qs[j] >> 4;
            sumi += v0 * y[ib].qs[j] + v1 * y[ib].qs[j + QK4_1 / 2];
        }
        sumf += (FP16(x[ib].d) * FP16(y[ib].d)) * sumi + FP16(x[ib].m) * FP16(y[ib].s);
    }
    *s = sumf;
}

static void vec_dot_q5_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_0; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, 4);
        int sumi = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int v0 = ((x[ib].qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4)) - 16;
            const int v1 = ((x[ib].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += v0 * y[ib].qs[j] + v1 * y[ib].qs[j + QK5_0 / 2];
        }
        sumf += sumi * FP16(x[ib].d) * FP16(y[ib].d);
    }
    *s = sumf;
}

static void vec_dot_q5_1_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_1; ib++) {
        uint32_t qh;
        memcpy(&qh, x[ib].qh, 4);
        int sumi = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int v0 = (x[ib].qs[j] & 0x0f) | (int)(((qh >> j) & 1) << 4);
            const int v1 = (x[ib].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            sumi += v0 * y[ib].qs[j] + v1 * y[ib].qs[j + QK5_1 / 2];
        }
        sumf += (FP16(x[ib].d) * FP16(y[ib].d)) * sumi + FP16(x[ib].m) * FP16(y[ib].s);
    }
    *s = sumf;
}

static void vec_dot_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK8_0; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += sumi * FP16(x[ib].d) * FP16(y[ib].d);
    }
    *s = sumf;
}

static inline void scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* x = d*sc*q - dmin*mn  =>  dot = d d8 sum_s sc_s (q.q8)_s - dmin d8 sum_s mn_s bsum_s */
static void vec_dot_q4_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK_K; ib++) {
        const uint8_t *q4 = x[ib].qs;
        const int8_t *q8 = y[ib].qs;
        int sumi = 0, summ = 0;
        for (int c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1;
            scale_min_k4(2 * c, x[ib].scales, &sc0, &m0);
            scale_min_k4(2 * c + 1, x[ib].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q4[l] & 0x0f) * q8[l];
                s1 += (q4[l] >> 4) * q8[l + 32];
            }
            sumi += sc0 * s0 + sc1 * s1;
            summ += m0 * (y[ib].bsums[4 * c] + y[ib].bsums[4 * c + 1]) +
                    m1 * (y[ib].bsums[4 * c + 2] + y[ib].bsums[4 * c + 3]);
            q4 += 32;
            q8 += 64;
        }
        sumf += FP16(x[ib].d) * y[ib].d * sumi - FP16(x[ib].dmin) * y[ib].d * summ;
    }
    *s = sumf;
}

static void vec_dot_q5_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK_K; ib++) {
        const uint8_t *ql = x[ib].qs, *qh = x[ib].qh;
        const int8_t *q8 = y[ib].qs;
        int sumi = 0, summ = 0;
        for (int c = 0; c < 4; c++) {
            int sc0, m0, sc1, m1;
            scale_min_k4(2 * c, x[ib].scales, &sc0, &m0);
            scale_min_k4(2 * c + 1, x[ib].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                const int v0 = (ql[l] & 0x0f) | (((qh[l] >> (2 * c)) & 1) << 4);
                const int v1 = (ql[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                s0 += v0 * q8[l];
                s1 += v1 * q8[l + 32];
            }
            sumi += sc0 * s0 + sc1 * s1;
            summ += m0 * (y[ib].bsums[4 * c] + y[ib].bsums[4 * c + 1]) +
                    m1 * (y[ib].bsums[4 * c + 2] + y[ib].bsums[4 * c + 3]);
            ql += 32;
            q8 += 64;
        }
        sumf += FP16(x[ib].d) * y[ib].d * sumi - FP16(x[ib].dmin) * y[ib].d * summ;
    }
    *s = sumf;
}

static void vec_dot_q6_K_ref(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int64_t ib = 0; ib < n / QK_K; ib++) {
        int8_t q[QK_K];   /* unpacked 6-bit values, -32..31, in element order */
        const uint8_t *ql = x[ib].ql, *qh = x[ib].qh;
        for (int h = 0; h < 2; h++) {
            int8_t *qq = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                qq[l]      = (int8_t)(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
                qq[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
                qq[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                qq[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
            ql += 64;
            qh += 32;
        }
        int sumi = 0;
        for (int g = 0; g < QK_K / 16; g++) {
            int sg = 0;
            for (int l = 0; l < 16; l++) sg += q[16 * g + l] * y[ib].qs[16 * g + l];
            sumi += x[ib].scales[g] * sg;
        }
        sumf += FP16(x[ib].d) * y[ib].d * sumi;
    }
    *s = sumf;
}

/* ---- gemv / gemm built from the dot products --------------------------------------------- */

#define GEMV_GEMM_FROM_DOT(T)                                                                      \
    static void gemv_##T##_ref(int64_t n, int64_t nr, float *s, const void *w, size_t ws,         \
                               const void *y) {                                                    \
        for (int64_t r = 0; r < nr; r++) vec_dot_##T##_ref(n, &s[r], (const char *)w + r * ws, y); \
    }                                                                                              \
    static void gemm_##T##_ref(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds,           \
                               const void *w, size_t ws, const void *y, size_t ys) {               \
        for (int64_t c = 0; c < nc; c++)                                                           \
            for (int64_t r = 0; r < nr; r++)                                                       \
                vec_dot_##T##_ref(n, &s[c * lds + r], (const char *)w + r * ws,                    \
                                  (const char *)y + c * ys);                                       \
    }

GEMV_GEMM_FROM_DOT(f32)
GEMV_GEMM_FROM_DOT(f16)
GEMV_GEMM_FROM_DOT(bf16)
GEMV_GEMM_FROM_DOT(q4_0)
GEMV_GEMM_FROM_DOT(q4_1)
GEMV_GEMM_FROM_DOT(q5_0)
GEMV_GEMM_FROM_DOT(q5_1)
GEMV_GEMM_FROM_DOT(q8_0)
GEMV_GEMM_FROM_DOT(q4_K)
GEMV_GEMM_FROM_DOT(q5_K)
GEMV_GEMM_FROM_DOT(q6_K)

/* ---- f32 / f16 helpers ------------------------------------------------------------------- */

static float dot_f32_ref(int64_t n, const float *x, const float *y) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * y[i];
    return (float)sum;
}

static float dot_f16_f32_ref(int64_t n, const vlkv_f16 *x, const float *y) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)FP16(x[i]) * y[i];
    return (float)sum;
}

static void axpy_f32_ref(int64_t n, float a, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16_ref(int64_t n, float a, const vlkv_f16 *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += a * FP16(x[i]);
}

static void f32_to_f16_ref(const float *x, vlkv_f16 *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = vlkv_f32_to_f16(x[i]);
}

static void f16_to_f32_ref(const vlkv_f16 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = FP16(x[i]);
}

static void rmsnorm_f32_ref(int64_t n, const float *x, const float *w, float eps, float *y) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

static void silu_mul_f32_ref(int64_t n, const float *g, const float *u, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void gemm_kn_f32_ref(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const float *w, size_t ws,
                            const float *y, size_t ys, int acc) {
    vlkv_gemm_kn_rows(n, 0, nr, nc, s, lds, w, ws, y, ys, acc);
}

static float softmax_exp_f32_ref(int64_t n, float *x, float max) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return (float)sum;
}

/* ---- repacked (row-interleaved) layout: see simd.h ------------------------------------------ */

#define RPR VLKV_RP_ROWS

size_t vlkv_repack_group_size(enum vlkv_type t, int64_t n) {
    switch (t) {
    case VLKV_TYPE_Q4_0: return n > 0 && n % QK4_0 == 0 ? (size_t)(n / QK4_0) * (RPR * 2 + RPR * 16) : 0;
    case VLKV_TYPE_Q8_0: return n > 0 && n % QK8_0 == 0 ? (size_t)(n / QK8_0) * (RPR * 2 + RPR * 32) : 0;
    case VLKV_TYPE_Q4_K: return n > 0 && n % QK_K == 0 ? (size_t)(n / QK_K) * (RPR * 4 + RPR * 8 * 2 + RPR * 128) : 0;
    case VLKV_TYPE_F16:  return n > 0 ? (size_t)n * RPR * 2 : 0;
    default: return 0;
    }
}

enum vlkv_type vlkv_repack_act_type(enum vlkv_type t) {
    return t == VLKV_TYPE_F16 ? VLKV_TYPE_F32 : vlkv_type_traits_get(t)->vec_dot_type;
}

size_t vlkv_repack_size(enum vlkv_type t, int64_t n, int64_t nr) {
    if (nr <= 0) return 0;
    return vlkv_repack_group_size(t, n) * (size_t)((nr + RPR - 1) / RPR);
}

/* Q4_0 / Q8_0 groups: nq quant bytes per block (constant at each call site, so the 4-byte
 * moves unroll); src[r] is row r's first block. */
static inline __attribute__((always_inline)) void rp_copy_q0(uint8_t *p, const uint8_t *const *src, int nrow,
                                                             int64_t nb, const int nq) {
    const size_t bs = 2 + (size_t)nq;
    for (int64_t b = 0; b < nb; b++, p += 2 * RPR + (size_t)nq * RPR) {
        for (int r = 0; r < nrow; r++) {
            const uint8_t *blk = src[r] + (size_t)b * bs;
            memcpy(p + 2 * r, blk, 2);
            for (int j = 0; j < nq / 4; j++) memcpy(p + 2 * RPR + j * 4 * RPR + 4 * r, blk + 2 + 4 * j, 4);
        }
    }
}

void vlkv_repack(enum vlkv_type t, int64_t n, int64_t nr, const void *w, size_t ws, void *dst) {
    const size_t gs = vlkv_repack_group_size(t, n);
    if (!gs) return;
    const int64_t ng = (nr + RPR - 1) / RPR;
    uint8_t *o = dst;
    for (int64_t g = 0; g < ng; g++, o += gs) {
        const int nrow = (int)(nr - g * RPR < RPR ? nr - g * RPR : RPR);
        if (nrow < RPR) memset(o, 0, gs);   /* padding rows: zero scales and quants */
        uint8_t *p = o;
        if (t == VLKV_TYPE_F16) {   /* element k of the 8 rows side by side */
            for (int r = 0; r < nrow; r++) {
                const uint8_t *src = (const uint8_t *)w + (size_t)(g * RPR + r) * ws;
                for (int64_t k = 0; k < n; k++) memcpy(p + (size_t)k * 2 * RPR + 2 * r, src + 2 * k, 2);
            }
        } else if (t == VLKV_TYPE_Q4_0 || t == VLKV_TYPE_Q8_0) {
            const uint8_t *src[RPR];
            for (int r = 0; r < nrow; r++) src[r] = (const uint8_t *)w + (size_t)(g * RPR + r) * ws;
            if (t == VLKV_TYPE_Q8_0) rp_copy_q0(p, src, nrow, n / 32, 32);
            else rp_copy_q0(p, src, nrow, n / 32, 16);
        } else {   /* Q4_K */
            for (int64_t b = 0; b < n / QK_K; b++) {
                uint8_t *d = p, *dm = p + 2 * RPR, *sc = p + 4 * RPR, *mn = sc + 8 * RPR, *qs = mn + 8 * RPR;
                for (int r = 0; r < nrow; r++) {
                    const block_q4_K *x = (const block_q4_K *)((const uint8_t *)w + (size_t)(g * RPR + r) * ws) + b;
                    memcpy(d + 2 * r, &x->d, 2);
                    memcpy(dm + 2 * r, &x->dmin, 2);
                    for (int j = 0; j < 8; j++) {
                        int scj, mnj;
                        scale_min_k4(j, x->scales, &scj, &mnj);
                        sc[j * RPR + r] = (uint8_t)scj;
                        mn[(j / 2) * 2 * RPR + 2 * r + (j & 1)] = (uint8_t)mnj;
                    }
                    for (int c = 0; c < 4; c++)
                        for (int j = 0; j < 8; j++) memcpy(qs + c * 256 + j * 32 + 4 * r, x->qs + 32 * c + 4 * j, 4);
                }
                p += gs / (size_t)(n / QK_K);
            }
        }
    }
}

void vlkv_gemv_rp_ref(enum vlkv_type t, int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const size_t gs = vlkv_repack_group_size(t, n);
    if (!gs) return;
    for (int64_t r0 = 0; r0 < nr; r0 += RPR) {
        const uint8_t *p = (const uint8_t *)wr + (size_t)(r0 / RPR) * gs;
        float acc[RPR] = {0};
        if (t == VLKV_TYPE_F16) {   /* F32 activations, one fma chain per row in k order */
            const float *y = vy;
            for (int64_t k = 0; k < n; k++)
                for (int r = 0; r < RPR; r++) {
                    vlkv_f16 h;
                    memcpy(&h, p + (size_t)k * 2 * RPR + 2 * r, 2);
                    acc[r] = fmaf(FP16(h), y[k], acc[r]);
                }
        } else if (t == VLKV_TYPE_Q4_0 || t == VLKV_TYPE_Q8_0) {
            const block_q8_0 *y = vy;
            const int q8 = t == VLKV_TYPE_Q8_0;
            for (int64_t b = 0; b < n / 32; b++) {
                const uint8_t *qs = p + 2 * RPR;
                for (int r = 0; r < RPR; r++) {
                    vlkv_f16 dh;
                    memcpy(&dh, p + 2 * r, 2);
                    int sumi = 0;
                    for (int k = 0; k < 32; k++) {
                        int x;
                        if (q8) {
                            x = (int8_t)qs[(k / 4) * 4 * RPR + 4 * r + k % 4];
                        } else {
                            const int kk = k % 16;
                            const uint8_t byte = qs[(kk / 4) * 4 * RPR + 4 * r + kk % 4];
                            x = (k < 16 ? (byte & 0x0f) : (byte >> 4)) - 8;
                        }
                        sumi += x * y[b].qs[k];
                    }
                    acc[r] += sumi * FP16(dh) * FP16(y[b].d);
                }
                p += 2 * RPR + (q8 ? 32 : 16) * RPR;
            }
        } else {   /* Q4_K */
            const block_q8_K *y = vy;
            for (int64_t b = 0; b < n / QK_K; b++) {
                const uint8_t *d = p, *dm = p + 2 * RPR, *sc = p + 4 * RPR, *mn = sc + 8 * RPR, *qs = mn + 8 * RPR;
                for (int r = 0; r < RPR; r++) {
                    int sumi = 0, summ = 0;
                    for (int sb = 0; sb < 8; sb++) {
                        const int c = sb / 2, hi = sb & 1;
                        int si = 0;
                        for (int k = 0; k < 32; k++) {
                            const uint8_t byte = qs[c * 256 + (k / 4) * 32 + 4 * r + k % 4];
                            si += (hi ? byte >> 4 : byte & 0x0f) * y[b].qs[64 * c + 32 * hi + k];
                        }
                        sumi += sc[sb * RPR + r] * si;
                        summ += mn[(sb / 2) * 2 * RPR + 2 * r + hi] * (y[b].bsums[2 * sb] + y[b].bsums[2 * sb + 1]);
                    }
                    vlkv_f16 dh, mh;
                    memcpy(&dh, d + 2 * r, 2);
                    memcpy(&mh, dm + 2 * r, 2);
                    acc[r] += FP16(dh) * y[b].d * sumi - FP16(mh) * y[b].d * summ;
                }
                p += gs / (size_t)(n / QK_K);
            }
        }
        for (int r = 0; r < RPR && r0 + r < nr; r++) s[r0 + r] = acc[r];
    }
}

/* ---- table ------------------------------------------------------------------------------- */

void vlkv_kernels_init_ref(struct vlkv_kernels *k) {
    memset(k, 0, sizeof *k);
    k->isa = VLKV_ISA_REF;
    k->name = "ref";

#define SET(TYPE, T) do { k->vec_dot[TYPE] = vec_dot_##T##_ref; k->gemv[TYPE] = gemv_##T##_ref; \
                          k->gemm[TYPE] = gemm_##T##_ref; } while (0)
    SET(VLKV_TYPE_F32, f32);
    SET(VLKV_TYPE_F16, f16);
    SET(VLKV_TYPE_BF16, bf16);
    SET(VLKV_TYPE_Q4_0, q4_0);
    SET(VLKV_TYPE_Q4_1, q4_1);
    SET(VLKV_TYPE_Q5_0, q5_0);
    SET(VLKV_TYPE_Q5_1, q5_1);
    SET(VLKV_TYPE_Q8_0, q8_0);
    SET(VLKV_TYPE_Q4_K, q4_K);
    SET(VLKV_TYPE_Q5_K, q5_K);
    SET(VLKV_TYPE_Q6_K, q6_K);
#undef SET

    /* activation converters: every vec_dot_type */
    static const enum vlkv_type act[] = { VLKV_TYPE_F32, VLKV_TYPE_F16, VLKV_TYPE_BF16, VLKV_TYPE_Q8_0,
                                          VLKV_TYPE_Q8_1, VLKV_TYPE_Q8_K };
    for (size_t i = 0; i < sizeof act / sizeof act[0]; i++)
        k->from_float[act[i]] = vlkv_type_traits_get(act[i])->from_float;
    /* dequantizers: every type with a reference to_float */
    for (uint32_t t = 0; t < VLKV_TYPE_COUNT; t++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(t);
        if (tr && tr->to_float) k->to_float[t] = tr->to_float;
    }

    k->dot_f32 = dot_f32_ref;
    k->dot_f16_f32 = dot_f16_f32_ref;
    k->axpy_f32 = axpy_f32_ref;
    k->axpy_f16 = axpy_f16_ref;
    k->f32_to_f16 = f32_to_f16_ref;
    k->f16_to_f32 = f16_to_f32_ref;
    k->rmsnorm_f32 = rmsnorm_f32_ref;
    k->silu_mul_f32 = silu_mul_f32_ref;
    k->softmax_exp_f32 = softmax_exp_f32_ref;
    k->gemm_kn_f32 = gemm_kn_f32_ref;
}
