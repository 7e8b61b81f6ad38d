/* kernels_neon.c - AArch64 NEON kernels (baseline armv8-a; SDOT when the build targets
 * dotprod). Starts from the reference table and overrides the dot products / gemv / gemm of
 * Q8_0, Q4_0, Q4_K, Q6_K, F16, F32, the activation quantizers and the f32/f16 helpers, plus the
 * decode gemv over the repacked Q4_0 / Q8_0 / Q4_K copy.
 * Tested against kernels_ref.c under qemu-aarch64 by .ci/aarch64.sh. */
#include "simd.h"
#include "neon_util.h"

#include <math.h>
#include <string.h>

#define FP16(x) f16_to_f32_1(x)

/* ==== quantized dot products ===================================================================== */

static void vec_dot_q8_0_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    const int64_t nb = n / QK8_0;
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        int32x4_t p0 = dot_s8x16(vdupq_n_s32(0), vld1q_s8(x[ib].qs), vld1q_s8(y[ib].qs));
        p0 = dot_s8x16(p0, vld1q_s8(x[ib].qs + 16), vld1q_s8(y[ib].qs + 16));
        int32x4_t p1 = dot_s8x16(vdupq_n_s32(0), vld1q_s8(x[ib + 1].qs), vld1q_s8(y[ib + 1].qs));
        p1 = dot_s8x16(p1, vld1q_s8(x[ib + 1].qs + 16), vld1q_s8(y[ib + 1].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), FP16(x[ib].d) * FP16(y[ib].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), FP16(x[ib + 1].d) * FP16(y[ib + 1].d));
    }
    for (; ib < nb; ib++) {
        int32x4_t p0 = dot_s8x16(vdupq_n_s32(0), vld1q_s8(x[ib].qs), vld1q_s8(y[ib].qs));
        p0 = dot_s8x16(p0, vld1q_s8(x[ib].qs + 16), vld1q_s8(y[ib].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), FP16(x[ib].d) * FP16(y[ib].d));
    }
    *s = vaddvq_f32(vaddq_f32(acc0, acc1));
}

static void vec_dot_q4_0_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t s8 = vdupq_n_s8(8);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    const int64_t nb = n / QK8_0;
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        const uint8x16_t v0 = vld1q_u8(x[ib].qs), v1 = vld1q_u8(x[ib + 1].qs);
        const int8x16_t l0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v0, m4)), s8);
        const int8x16_t h0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), s8);
        const int8x16_t l1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v1, m4)), s8);
        const int8x16_t h1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), s8);
        int32x4_t p0 = dot_s8x16(vdupq_n_s32(0), l0, vld1q_s8(y[ib].qs));
        p0 = dot_s8x16(p0, h0, vld1q_s8(y[ib].qs + 16));
        int32x4_t p1 = dot_s8x16(vdupq_n_s32(0), l1, vld1q_s8(y[ib + 1].qs));
        p1 = dot_s8x16(p1, h1, vld1q_s8(y[ib + 1].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), FP16(x[ib].d) * FP16(y[ib].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), FP16(x[ib + 1].d) * FP16(y[ib + 1].d));
    }
    for (; ib < nb; ib++) {
        const uint8x16_t v0 = vld1q_u8(x[ib].qs);
        const int8x16_t l0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v0, m4)), s8);
        const int8x16_t h0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), s8);
        int32x4_t p0 = dot_s8x16(vdupq_n_s32(0), l0, vld1q_s8(y[ib].qs));
        p0 = dot_s8x16(p0, h0, vld1q_s8(y[ib].qs + 16));
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), FP16(x[ib].d) * FP16(y[ib].d));
    }
    *s = vaddvq_f32(vaddq_f32(acc0, acc1));
}

static inline void k4_scales(const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
        sc[j + 4] = (uint8_t)((q[j + 8] & 0x0f) | ((q[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

static void vec_dot_q4_K_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        int summ = 0;
        for (int j = 0; j < 8; j++) summ += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int sumi = 0;
        for (int c = 0; c < 4; c++) {
            const uint8x16_t b0 = vld1q_u8(q4 + 32 * c), b1 = vld1q_u8(q4 + 32 * c + 16);
            int32x4_t pl = dot_s8x16(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(b0, m4)), vld1q_s8(q8 + 64 * c));
            pl = dot_s8x16(pl, vreinterpretq_s8_u8(vandq_u8(b1, m4)), vld1q_s8(q8 + 64 * c + 16));
            int32x4_t ph = dot_s8x16(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), vld1q_s8(q8 + 64 * c + 32));
            ph = dot_s8x16(ph, vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), vld1q_s8(q8 + 64 * c + 48));
            sumi += sc[2 * c] * vaddvq_s32(pl) + sc[2 * c + 1] * vaddvq_s32(ph);
        }
        sumf += y[i].d * FP16(x[i].d) * sumi - y[i].d * FP16(x[i].dmin) * summ;
    }
    *s = sumf;
}

static void vec_dot_q6_K_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *q8 = y[i].qs + 128 * h, *sc = x[i].scales + 8 * h;
            for (int lc = 0; lc < 2; lc++) {   /* 16 of the 32 positions l */
                const uint8x16_t a = vld1q_u8(ql + 16 * lc), b = vld1q_u8(ql + 32 + 16 * lc);
                const uint8x16_t hb = vld1q_u8(qh + 16 * lc);
                int8x16_t q[4];
                q[0] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m3), 4))), m32);
                q[1] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, m4),
                                                            vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4))), m32);
                q[2] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(a, 4),
                                                            vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4))), m32);
                q[3] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4))), m32);
                for (int k = 0; k < 4; k++) {   /* elements 32k + 16lc .. +15 of this half: group 2k + lc */
                    const int32x4_t p = dot_s8x16(vdupq_n_s32(0), q[k], vld1q_s8(q8 + 32 * k + 16 * lc));
                    sumi += sc[2 * k + lc] * vaddvq_s32(p);
                }
            }
        }
        sumf += y[i].d * FP16(x[i].d) * sumi;
    }
    *s = sumf;
}

/* ==== f32 / f16 ================================================================================= */

static float dot_f32_neon(int64_t n, const float *x, const float *y) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static float dot_f16_f32_neon(int64_t n, const vlkv_f16 *x, const float *y) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, load_f16x4(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, load_f16x4(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, load_f16x4(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, load_f16x4(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, load_f16x4(x + i), vld1q_f32(y + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) s += FP16(x[i]) * y[i];
    return s;
}

static float dot_f16_f16_neon(int64_t n, const vlkv_f16 *x, const vlkv_f16 *y) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, load_f16x4(x + i), load_f16x4(y + i));
        a1 = vfmaq_f32(a1, load_f16x4(x + i + 4), load_f16x4(y + i + 4));
        a2 = vfmaq_f32(a2, load_f16x4(x + i + 8), load_f16x4(y + i + 8));
        a3 = vfmaq_f32(a3, load_f16x4(x + i + 12), load_f16x4(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, load_f16x4(x + i), load_f16x4(y + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) s += FP16(x[i]) * FP16(y[i]);
    return s;
}

static void vec_dot_f32_neon(int64_t n, float *s, const void *x, const void *y) { *s = dot_f32_neon(n, x, y); }
static void vec_dot_f16_neon(int64_t n, float *s, const void *x, const void *y) { *s = dot_f16_f16_neon(n, x, y); }

/* ---- gemv / gemm: rows (and columns) of dot products ---- */

#define GEMV_GEMM_FROM_DOT(T)                                                                        \
    static void gemv_##T##_neon(int64_t n, int64_t nr, float *s, const void *w, size_t ws,          \
                                const void *y) {                                                     \
        for (int64_t r = 0; r < nr; r++) vec_dot_##T##_neon(n, &s[r], (const char *)w + r * ws, y); \
    }                                                                                                \
    static void gemm_##T##_neon(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds,            \
                                const void *w, size_t ws, const void *y, size_t ys) {                \
        for (int64_t c = 0; c < nc; c++)                                                             \
            for (int64_t r = 0; r < nr; r++)                                                         \
                vec_dot_##T##_neon(n, &s[c * lds + r], (const char *)w + r * ws,                     \
                                   (const char *)y + c * ys);                                        \
    }
GEMV_GEMM_FROM_DOT(q8_0)
GEMV_GEMM_FROM_DOT(q4_0)
GEMV_GEMM_FROM_DOT(q4_K)
GEMV_GEMM_FROM_DOT(q6_K)
GEMV_GEMM_FROM_DOT(f32)
GEMV_GEMM_FROM_DOT(f16)

/* ==== activation quantizers (bit-exact with the reference) ====================================== */

static void f32_to_f16_neon(const float *x, vlkv_f16 *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) y[i] = vlkv_f32_to_f16(x[i]);
}

static void f16_to_f32_neon(const vlkv_f16 *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, load_f16x4(x + i));
    for (; i < n; i++) y[i] = FP16(x[i]);
}

static void from_float_f16_neon(const float *x, void *y, int64_t n) { f32_to_f16_neon(x, y, n); }
static void to_float_f16_neon(const void *x, float *y, int64_t n) { f16_to_f32_neon(x, y, n); }

static inline float amax32(const float *x) {
    float32x4_t m = vabsq_f32(vld1q_f32(x));
    for (int k = 4; k < 32; k += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + k)));
    return vmaxvq_f32(m);
}

/* roundf(x * id) (vcvtaq: nearest, ties away from zero) for 32 floats; returns sum(q) */
static inline int q8_round32(const float *x, float id, int8_t *q) {
    int32x4_t sum = vdupq_n_s32(0);
    for (int k = 0; k < 32; k += 8) {
        const int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + k), id));
        const int32x4_t b = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + k + 4), id));
        sum = vaddq_s32(sum, vaddq_s32(a, b));
        const int16x8_t h = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
        vst1_s8(q + k, vqmovn_s16(h));
    }
    return vaddvq_s32(sum);
}

static void from_float_q8_0_neon(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = amax32(x + 32 * i) / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = vlkv_f32_to_f16(d);
        (void)q8_round32(x + 32 * i, id, y[i].qs);
    }
}

static void from_float_q8_1_neon(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float d = amax32(x + 32 * i) / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = vlkv_f32_to_f16(d);
        const int sum = q8_round32(x + 32 * i, id, y[i].qs);
        y[i].s = vlkv_f32_to_f16(sum * d);
    }
}

/* iscale = -127 / (signed max), q = round half even (vcvtnq) */
static void from_float_q8_K_neon(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0;
        for (int k = 0; k < QK_K; k += 32) amax = fmaxf(amax, amax32(x + k));
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) == amax) { max = x[j]; break; }
        const float iscale = -127.f / max;
        for (int g = 0; g < QK_K / 16; g++) {
            int32x4_t sum = vdupq_n_s32(0);
            for (int k = 0; k < 16; k += 8) {
                int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * g + k), iscale));
                int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * g + k + 4), iscale));
                a = vminq_s32(a, vdupq_n_s32(127));
                b = vminq_s32(b, vdupq_n_s32(127));
                sum = vaddq_s32(sum, vaddq_s32(a, b));
                vst1_s8(y[i].qs + 16 * g + k, vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b))));
            }
            y[i].bsums[g] = (int16_t)vaddvq_s32(sum);
        }
        y[i].d = 1 / iscale;
    }
}

/* ==== f32 helpers =================================================================================== */

static void axpy_f32_neon(int64_t n, float a, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16_neon(int64_t n, float a, const vlkv_f16 *x, float *y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load_f16x4(x + i), a));
    for (; i < n; i++) y[i] += a * FP16(x[i]);
}

static void rmsnorm_f32_neon(int64_t n, const float *x, const float *w, float eps, float *y) {
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float32x4_t sq = vmulq_f32(v, v);   /* squares in float, sums in double (as the reference) */
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(sq)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(sq));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(w + i)));
    for (; i < n; i++) y[i] = x[i] * scale * w[i];
}

static void silu_mul_f32_neon(int64_t n, const float *g, const float *u, float *y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t gv = vld1q_f32(g + i);
        const float32x4_t e = exp_f32x4(vnegq_f32(gv));
        vst1q_f32(y + i, vmulq_f32(vdivq_f32(gv, vaddq_f32(vdupq_n_f32(1.0f), e)), vld1q_f32(u + i)));
    }
    for (; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static float softmax_exp_f32_neon(int64_t n, float *x, float max) {
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = exp_f32x4(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(max)));
        vst1q_f32(x + i, e);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return (float)sum;
}

/* ==== gemv over repacked rows (simd.h layout): 8 rows per pass, row r in 32-bit lane r % 4 of
 * accumulator r / 4. 16 weight bytes = 4 rows x 4 consecutive elements meet 4 activation bytes
 * repeated 4 times: with SDOT each lane is one row's dot product; without it the int16 products
 * are pair-summed and the row pairs folded together by one vpaddq. */

NEON_INLINE int32x4_t rows4_dot(int32x4_t acc, int8x16_t w, int8x16_t y4) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, w, y4);
#else
    const int32x4_t r01 = vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(y4)));   /* r0 r0 r1 r1 */
    const int32x4_t r23 = vpaddlq_s16(vmull_high_s8(w, y4));                         /* r2 r2 r3 r3 */
    return vaddq_s32(acc, vpaddq_s32(r01, r23));
#endif
}

NEON_INLINE int8x16_t bcast4_s8(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

NEON_INLINE void rp_store_neon(float *s, int64_t r0, int64_t nr, float32x4_t a, float32x4_t b) {
    if (r0 + 8 <= nr) {
        vst1q_f32(s + r0, a);
        vst1q_f32(s + r0 + 4, b);
    } else {
        float t[8];
        vst1q_f32(t, a);
        vst1q_f32(t + 4, b);
        for (int64_t r = 0; r0 + r < nr; r++) s[r0 + r] = t[r];
    }
}

/* acc += int sums x (the group's 8 fp16 row scales at d) x the activation block's scale */
NEON_INLINE void rp_block_acc(float32x4_t *acc0, float32x4_t *acc1, int32x4_t i0, int32x4_t i1, const uint16_t *d,
                              float dy) {
    *acc0 = vfmaq_f32(*acc0, vcvtq_f32_s32(i0), vmulq_n_f32(load_f16x4(d), dy));
    *acc1 = vfmaq_f32(*acc1, vcvtq_f32_s32(i1), vmulq_n_f32(load_f16x4(d + 4), dy));
}

static void gemv_rp_q4_0_neon(int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const int64_t nb = n / QK8_0;
    const size_t gs = (size_t)nb * 144;
    const block_q8_0 *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t s8 = vdupq_n_s8(8);
    for (int64_t r0 = 0; r0 < nr; r0 += 8) {
        const uint8_t *p = (const uint8_t *)wr + (size_t)(r0 / 8) * gs;
        float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
        for (int64_t b = 0; b < nb; b++, p += 144) {
            const int8_t *q = y[b].qs;
            int32x4_t i0 = vdupq_n_s32(0), i1 = vdupq_n_s32(0);
            for (int j = 0; j < 4; j++) {
                const uint8x16_t v0 = vld1q_u8(p + 16 + 32 * j), v1 = vld1q_u8(p + 32 + 32 * j);
                const int8x16_t ylo = bcast4_s8(q + 4 * j), yhi = bcast4_s8(q + 16 + 4 * j);
                i0 = rows4_dot(i0, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v0, m4)), s8), ylo);
                i1 = rows4_dot(i1, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v1, m4)), s8), ylo);
                i0 = rows4_dot(i0, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), s8), yhi);
                i1 = rows4_dot(i1, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), s8), yhi);
            }
            rp_block_acc(&acc0, &acc1, i0, i1, (const uint16_t *)p, FP16(y[b].d));
        }
        rp_store_neon(s, r0, nr, acc0, acc1);
    }
}

static void gemv_rp_q8_0_neon(int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const int64_t nb = n / QK8_0;
    const size_t gs = (size_t)nb * 272;
    const block_q8_0 *y = vy;
    for (int64_t r0 = 0; r0 < nr; r0 += 8) {
        const uint8_t *p = (const uint8_t *)wr + (size_t)(r0 / 8) * gs;
        float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
        for (int64_t b = 0; b < nb; b++, p += 272) {
            const int8_t *q = y[b].qs;
            int32x4_t i0 = vdupq_n_s32(0), i1 = vdupq_n_s32(0);
            for (int j = 0; j < 8; j++) {
                const int8x16_t y4 = bcast4_s8(q + 4 * j);
                i0 = rows4_dot(i0, vld1q_s8((const int8_t *)p + 16 + 32 * j), y4);
                i1 = rows4_dot(i1, vld1q_s8((const int8_t *)p + 32 + 32 * j), y4);
            }
            rp_block_acc(&acc0, &acc1, i0, i1, (const uint16_t *)p, FP16(y[b].d));
        }
        rp_store_neon(s, r0, nr, acc0, acc1);
    }
}

/* Q4_K (simd.h layout, 1184 B per 8-row block): per sub-block of 32 the nibble dot products of
 * the 8 rows stay int32 (|sum| <= 8 x 63 x 32 x 15 x 127 < 2^31, as the scalar reference), times
 * each row's 6-bit scale; the mins meet the activation's 16-element sums (bsums). */
NEON_INLINE int32x4_t u8x4_s32(uint8x8_t v, int hi) {
    const uint16x8_t w = vmovl_u8(v);
    return vreinterpretq_s32_u32(vmovl_u16(hi ? vget_high_u16(w) : vget_low_u16(w)));
}

static void gemv_rp_q4_K_neon(int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const int64_t nb = n / QK_K;
    const size_t bs = 8 * 4 + 8 * 8 * 2 + 8 * 128, gs = (size_t)nb * bs;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    for (int64_t r0 = 0; r0 < nr; r0 += 8) {
        const uint8_t *p = (const uint8_t *)wr + (size_t)(r0 / 8) * gs;
        float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
        for (int64_t b = 0; b < nb; b++, p += bs) {
            const uint8_t *sc = p + 32, *mn = sc + 64, *qs = mn + 64;
            const int8_t *q = y[b].qs;
            const int16_t *bsum = y[b].bsums;
            int32x4_t si0 = vdupq_n_s32(0), si1 = vdupq_n_s32(0), sm0 = vdupq_n_s32(0), sm1 = vdupq_n_s32(0);
            for (int c = 0; c < 4; c++, qs += 256, q += 64) {
                int32x4_t lo0 = vdupq_n_s32(0), lo1 = vdupq_n_s32(0), hi0 = vdupq_n_s32(0), hi1 = vdupq_n_s32(0);
                for (int j = 0; j < 8; j++) {
                    const uint8x16_t v0 = vld1q_u8(qs + 32 * j), v1 = vld1q_u8(qs + 32 * j + 16);
                    const int8x16_t ylo = bcast4_s8(q + 4 * j), yhi = bcast4_s8(q + 32 + 4 * j);
                    lo0 = rows4_dot(lo0, vreinterpretq_s8_u8(vandq_u8(v0, m4)), ylo);
                    lo1 = rows4_dot(lo1, vreinterpretq_s8_u8(vandq_u8(v1, m4)), ylo);
                    hi0 = rows4_dot(hi0, vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), yhi);
                    hi1 = rows4_dot(hi1, vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), yhi);
                }
                const uint8x8_t sl = vld1_u8(sc + 16 * c), sh = vld1_u8(sc + 16 * c + 8);
                si0 = vmlaq_s32(vmlaq_s32(si0, lo0, u8x4_s32(sl, 0)), hi0, u8x4_s32(sh, 0));
                si1 = vmlaq_s32(vmlaq_s32(si1, lo1, u8x4_s32(sl, 1)), hi1, u8x4_s32(sh, 1));
                const uint8x8x2_t m = vld2_u8(mn + 16 * c);   /* [r][e] -> e = 0 (sub-block 2c), 1 */
                const int32_t b0 = bsum[4 * c] + bsum[4 * c + 1], b1 = bsum[4 * c + 2] + bsum[4 * c + 3];
                sm0 = vmlaq_n_s32(vmlaq_n_s32(sm0, u8x4_s32(m.val[0], 0), b0), u8x4_s32(m.val[1], 0), b1);
                sm1 = vmlaq_n_s32(vmlaq_n_s32(sm1, u8x4_s32(m.val[0], 1), b0), u8x4_s32(m.val[1], 1), b1);
            }
            const float dy = y[b].d;
            const uint16_t *d = (const uint16_t *)p, *dm = d + 8;
            acc0 = vfmaq_f32(acc0, vcvtq_f32_s32(si0), vmulq_n_f32(load_f16x4(d), dy));
            acc1 = vfmaq_f32(acc1, vcvtq_f32_s32(si1), vmulq_n_f32(load_f16x4(d + 4), dy));
            acc0 = vfmsq_f32(acc0, vcvtq_f32_s32(sm0), vmulq_n_f32(load_f16x4(dm), dy));
            acc1 = vfmsq_f32(acc1, vcvtq_f32_s32(sm1), vmulq_n_f32(load_f16x4(dm + 4), dy));
        }
        rp_store_neon(s, r0, nr, acc0, acc1);
    }
}

/* ==== table ========================================================================================== */

/* k-major gemm (prefill attention): 16 (or 4) consecutive weight rows in four (one) registers
 * times up to 4 activation columns; the k loop runs in order with one fused multiply-add per
 * element (FMLA by scalar), so the bits equal the reference's fmaf loop. */
NEON_INLINE void kn_tile_neon(const int RV, const int CC, int64_t n, const char *w, size_t ws, const char *y,
                              size_t ys, float *s, size_t lds, int acc) {
    float32x4_t a[4][4];
    for (int r = 0; r < RV; r++)
        for (int c = 0; c < CC; c++) a[r][c] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < n; k++) {
        const float *wk = (const float *)(w + k * (int64_t)ws);
        float32x4_t wv[4];
        for (int r = 0; r < RV; r++) wv[r] = vld1q_f32(wk + 4 * r);
        for (int c = 0; c < CC; c++) {
            const float b = ((const float *)(y + c * (int64_t)ys))[k];
            for (int r = 0; r < RV; r++) a[r][c] = vfmaq_n_f32(a[r][c], wv[r], b);
        }
    }
    for (int c = 0; c < CC; c++)
        for (int r = 0; r < RV; r++) {
            float *o = s + c * (int64_t)lds + 4 * r;
            vst1q_f32(o, acc ? vaddq_f32(vld1q_f32(o), a[r][c]) : a[r][c]);
        }
}

static void gemm_kn_f32_neon(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const float *w, size_t ws,
                             const float *y, size_t ys, int acc) {
    int64_t r0 = 0;
    while (r0 + 4 <= nr) {
        const int RV = r0 + 16 <= nr ? 4 : 1;
        const char *wr = (const char *)(w + r0);
        for (int64_t c0 = 0; c0 < nc; c0 += 4) {
            const int cc = nc - c0 < 4 ? (int)(nc - c0) : 4;
            const char *yc = (const char *)y + c0 * (int64_t)ys;
            float *so = s + c0 * (int64_t)lds + r0;
            if (RV == 4) {
                switch (cc) {
                case 4: kn_tile_neon(4, 4, n, wr, ws, yc, ys, so, lds, acc); break;
                case 3: kn_tile_neon(4, 3, n, wr, ws, yc, ys, so, lds, acc); break;
                case 2: kn_tile_neon(4, 2, n, wr, ws, yc, ys, so, lds, acc); break;
                default: kn_tile_neon(4, 1, n, wr, ws, yc, ys, so, lds, acc); break;
                }
            } else {
                kn_tile_neon(1, cc, n, wr, ws, yc, ys, so, lds, acc);
            }
        }
        r0 += 4 * RV;
    }
    vlkv_gemm_kn_rows(n, r0, nr, nc, s, lds, w, ws, y, ys, acc);   /* rows past the last multiple of 4 */
}

void vlkv_kernels_init_neon(struct vlkv_kernels *k) {
    vlkv_kernels_init_ref(k);
    k->isa = VLKV_ISA_NEON;
    k->name = "neon";
#define SET(TYPE, T) do { k->vec_dot[TYPE] = vec_dot_##T##_neon; k->gemv[TYPE] = gemv_##T##_neon; \
                          k->gemm[TYPE] = gemm_##T##_neon; } while (0)
    SET(VLKV_TYPE_F32, f32);
    SET(VLKV_TYPE_F16, f16);
    SET(VLKV_TYPE_Q4_0, q4_0);
    SET(VLKV_TYPE_Q8_0, q8_0);
    SET(VLKV_TYPE_Q4_K, q4_K);
    SET(VLKV_TYPE_Q6_K, q6_K);
#undef SET
    k->gemv_rp[VLKV_TYPE_Q4_0] = gemv_rp_q4_0_neon;
    k->gemv_rp[VLKV_TYPE_Q8_0] = gemv_rp_q8_0_neon;
    k->gemv_rp[VLKV_TYPE_Q4_K] = gemv_rp_q4_K_neon;
    k->from_float[VLKV_TYPE_F16] = from_float_f16_neon;
    k->from_float[VLKV_TYPE_Q8_0] = from_float_q8_0_neon;
    k->from_float[VLKV_TYPE_Q8_1] = from_float_q8_1_neon;
    k->from_float[VLKV_TYPE_Q8_K] = from_float_q8_K_neon;
    k->to_float[VLKV_TYPE_F16] = to_float_f16_neon;

    k->dot_f32 = dot_f32_neon;
    k->dot_f16_f32 = dot_f16_f32_neon;
    k->axpy_f32 = axpy_f32_neon;
    k->axpy_f16 = axpy_f16_neon;
    k->f32_to_f16 = f32_to_f16_neon;
    k->f16_to_f32 = f16_to_f32_neon;
    k->rmsnorm_f32 = rmsnorm_f32_neon;
    k->silu_mul_f32 = silu_mul_f32_neon;
    k->softmax_exp_f32 = softmax_exp_f32_neon;
    k->gemm_kn_f32 = gemm_kn_f32_neon;
}
