/* types.c - the dtype trait table: ggml type ids, block sizes, reference (de)quantizers.
 * Every layout is byte-exact with ggml (specs/formats.md §2.3). The quantizers follow
 * llama.cpp's quantize_row_*_ref algorithms (ggml-quants.c), including the K-quant scale
 * search (make_qkx2_quants / make_qx_quants), so files we write dequantize like theirs.
 * These are the scalar *specification*; simd/ has the fast activation quantizers. */
#include "types.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* ---- scalar formats ----------------------------------------------------------------- */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float vlkv_f16_to_f32(vlkv_f16 h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu;
    const uint32_t m = h & 0x3ffu;
    if (e == 0) {
        /* zero or subnormal: m * 2^-24, exact in f32 */
        const float v = (float)m * 0x1p-24f;
        return f32_from_bits(f32_bits(v) | sign);
    }
    if (e == 31) return f32_from_bits(sign | 0x7f800000u | (m << 13));   /* inf / nan (payload kept) */
    return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}

/* Round to nearest even, subnormals produced exactly, overflow to inf, NaN stays NaN with
 * the quiet bit set and the top payload bits kept: the same bits as F16C vcvtps2ph. */
vlkv_f16 vlkv_f32_to_f16(float f) {
    const uint32_t w = f32_bits(f);
    const uint16_t sign = (uint16_t)((w >> 16) & 0x8000u);
    const uint32_t a = w & 0x7fffffffu;
    if (a > 0x7f800000u) return (vlkv_f16)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) return (vlkv_f16)(sign | 0x7c00u);       /* >= 65520 rounds to inf */
    if (a >= 0x38800000u) {                                          /* normal f16: >= 2^-14 */
        uint32_t r = a - 0x38000000u;                                /* rebias 127 -> 15 */
        r += 0xfffu + ((r >> 13) & 1u);                              /* RNE on the 13 dropped bits */
        return (vlkv_f16)(sign | (r >> 13));
    }
    if (a <= 0x33000000u) return sign;                               /* <= 2^-25 (tie) -> 0 */
    /* subnormal f16: count units of 2^-24 */
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;                                 /* 14..24 */
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (vlkv_f16)(sign | q);
}

float vlkv_bf16_to_f32(vlkv_bf16 h) { return f32_from_bits((uint32_t)h << 16); }

vlkv_bf16 vlkv_f32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (vlkv_bf16)((u >> 16) | 64u);  /* quiet NaN */
    return (vlkv_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

#define FP16(x) vlkv_f16_to_f32(x)
#define TOF16(x) vlkv_f32_to_f16(x)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- plain float types -------------------------------------------------------------- */

static void to_float_f32(const void *x, float *y, int64_t n) { memmove(y, x, (size_t)n * sizeof(float)); }
static void from_float_f32(const float *x, void *y, int64_t n) { memmove(y, x, (size_t)n * sizeof(float)); }

static void to_float_f16(const void *vx, float *y, int64_t n) {
    const vlkv_f16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = vlkv_f16_to_f32(x[i]);
}
static void from_float_f16(const float *x, void *vy, int64_t n) {
    vlkv_f16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = vlkv_f32_to_f16(x[i]);
}
static void to_float_bf16(const void *vx, float *y, int64_t n) {
    const vlkv_bf16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = vlkv_bf16_to_f32(x[i]);
}
static void from_float_bf16(const float *x, void *vy, int64_t n) {
    vlkv_bf16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = vlkv_f32_to_bf16(x[i]);
}

/* ---- 32-element block quants ---------------------------------------------------------- */
/* Nibble order: element j < 16 is the low nibble of qs[j], element j + 16 the high nibble. */

static void to_float_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[i * QK4_0 + j]             = ((x[i].qs[j] & 0x0f) - 8) * d;
            y[i * QK4_0 + j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void from_float_q4_0(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *xb = x + i * QK4_0;
        float amax = 0.0f, max = 0.0f;   /* the signed value of largest magnitude */
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(xb[j])) { amax = fabsf(xb[j]); max = xb[j]; }
        }
        const float d = max / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = TOF16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const uint8_t q0 = (uint8_t)MIN(15, (int8_t)(xb[j] * id + 8.5f));
            const uint8_t q1 = (uint8_t)MIN(15, (int8_t)(xb[j + QK4_0 / 2] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void to_float_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[i * QK4_1 + j]             = (x[i].qs[j] & 0x0f) * d + m;
            y[i * QK4_1 + j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void from_float_q4_1(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float *xb = x + i * QK4_1;
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK4_1; j++) {
            if (xb[j] < min) min = xb[j];
            if (xb[j] > max) max = xb[j];
        }
        const float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = TOF16(d);
        y[i].m = TOF16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const uint8_t q0 = (uint8_t)MIN(15, (int8_t)((xb[j] - min) * id + 0.5f));
            const uint8_t q1 = (uint8_t)MIN(15, (int8_t)((xb[j + QK4_1 / 2] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void to_float_q5_0(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float d = FP16(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            y[i * QK5_0 + j]             = (((x[i].qs[j] & 0x0f) | (h0 << 4)) - 16) * d;
            y[i * QK5_0 + j + QK5_0 / 2] = (((x[i].qs[j] >> 4) | (h1 << 4)) - 16) * d;
        }
    }
}

static void from_float_q5_0(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float *xb = x + i * QK5_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK5_0; j++) {
            if (amax < fabsf(xb[j])) { amax = fabsf(xb[j]); max = xb[j]; }
        }
        const float d = max / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = TOF16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const uint8_t q0 = (uint8_t)MIN(31, (int8_t)(xb[j] * id + 16.5f));
            const uint8_t q1 = (uint8_t)MIN(31, (int8_t)(xb[j + QK5_0 / 2] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= ((uint32_t)(q0 >> 4) & 1u) << j;
            qh |= ((uint32_t)(q1 >> 4) & 1u) << (j + QK5_0 / 2);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void to_float_q5_1(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int h0 = (qh >> j) & 1, h1 = (qh >> (j + 16)) & 1;
            y[i * QK5_1 + j]             = ((x[i].qs[j] & 0x0f) | (h0 << 4)) * d + m;
            y[i * QK5_1 + j + QK5_1 / 2] = ((x[i].qs[j] >> 4) | (h1 << 4)) * d + m;
        }
    }
}

static void from_float_q5_1(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float *xb = x + i * QK5_1;
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK5_1; j++) {
            if (xb[j] < min) min = xb[j];
            if (xb[j] > max) max = xb[j];
        }
        const float d = (max - min) / 31, id = d ? 1.0f / d : 0.0f;
        y[i].d = TOF16(d);
        y[i].m = TOF16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            const uint8_t q0 = (uint8_t)((xb[j] - min) * id + 0.5f);
            const uint8_t q1 = (uint8_t)((xb[j + QK5_1 / 2] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= ((uint32_t)(q0 >> 4) & 1u) << j;
            qh |= ((uint32_t)(q1 >> 4) & 1u) << (j + QK5_1 / 2);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void to_float_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = x[i].qs[j] * d;
    }
}

/* d = amax / 127, q = roundf(x / d) (half away from zero). */
static void from_float_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *xb = x + i * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = MAX(amax, fabsf(xb[j]));
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = TOF16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

static void to_float_q8_1(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[i * QK8_1 + j] = x[i].qs[j] * d;
    }
}

/* As Q8_0, plus s = d * sum(q) (used to fold Q4_1/Q5_1 minimums into the dot product). */
static void from_float_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float *xb = x + i * QK8_1;
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++) amax = MAX(amax, fabsf(xb[j]));
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = TOF16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)roundf(xb[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = TOF16(sum * d);
    }
}

/* ---- K-quant helpers (ggml-quants.c) ---------------------------------------------------- */

#define GROUP_MAX_EPS 1e-15f

/* Round half to even via the 1.5*2^23 trick; valid for |f| <= 2^22. */
static inline int nearest_int(float f) {
    const float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Symmetric quantizer with a search over 19 candidate scales (rmse_type 1: weights x^2).
 * L gets values in [0, 2*nmax). Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = MAX(-nmax, MIN(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Asymmetric quantizer x ~ scale*L - min with L in [0, nmax]: weighted least squares fit of
 * (scale, min) for nstep+1 candidate rounding grids; returns scale, *the_min = -min >= 0. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAX(0, MIN(nmax, l));
        const float diff = scale * L[i] + min - x[i];
        best_error += weights[i] * diff * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = MAX(0, MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                const float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += weights[i] * diff * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; i++) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* 6-bit scale and min of sub-block j from the 12 packed bytes of Q4_K / Q5_K. */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Inverse of get_scale_min_k4 for all 8 sub-blocks. */
static void pack_scale_min_k4(const uint8_t *ls, const uint8_t *lm, uint8_t *scales) {
    memset(scales, 0, K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 32; j++) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Shared scale search of Q4_K (nmax 15) and Q5_K (nmax 31): per 32-element sub-block
 * make_qkx2_quants, then 6-bit quantization of scales and mins, then requantize with them. */
static void quantize_k_scales(const float *x, int nmax, float rmin, float rdelta, int nstep,
                              vlkv_f16 *yd, vlkv_f16 *ydmin, uint8_t *yscales, uint8_t *L) {
    float mins[QK_K / 32], scales[QK_K / 32], weights[32];
    uint8_t Laux[32], ls[QK_K / 32], lm[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, rdelta, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        ls[j] = (uint8_t)MIN(63, nearest_int(inv_scale * scales[j]));
        lm[j] = (uint8_t)MIN(63, nearest_int(inv_min * mins[j]));
    }
    pack_scale_min_k4(ls, lm, yscales);
    *yd = TOF16(max_scale / 63.f);
    *ydmin = TOF16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, yscales, &sc, &m);
        const float d = FP16(*yd) * sc;
        if (!d) continue;
        const float dm = FP16(*ydmin) * m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)MAX(0, MIN(nmax, l));
        }
    }
}

/* ---- Q4_K ------------------------------------------------------------------------------ */

static void to_float_q4_K(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++) {   /* 64-element chunks: low nibbles, then high nibbles */
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
        }
    }
}

static void from_float_q4_K(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_k_scales(x, 15, -1.f, 0.1f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
    }
}

/* ---- Q5_K ------------------------------------------------------------------------------ */

static void to_float_q5_K(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0x0f) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

static void from_float_q5_K(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_k_scales(x, 31, -0.5f, 0.1f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int c = 0; c < QK_K; c += 64) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[c + j], l2 = L[c + j + 32];
                if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
                if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
            ql += 32;
        }
    }
}

/* ---- Q6_K ------------------------------------------------------------------------------ */

static void to_float_q6_K(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = FP16(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l]      = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

static void from_float_q6_K(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) { max_abs_scale = fabsf(scale); max_scale = scale; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof(block_q6_K));
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = TOF16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) y[i].scales[ib] = (int8_t)MIN(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = FP16(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = MAX(-32, MIN(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf;
                const uint8_t q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}

/* ---- Q8_K (activations) ---------------------------------------------------------------- */

static void to_float_q8_K(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) *y++ = x[i].d * x[i].qs[j];
}

/* The largest-magnitude element maps to -127 (iscale = -127/max), q = nearest_int (RNE). */
static void from_float_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (!amax) {
            y[i].d = 0;
            memset(y[i].qs, 0, QK_K);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)MIN(127, v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- the table --------------------------------------------------------------------------- */

static const struct vlkv_type_traits g_traits[VLKV_TYPE_COUNT] = {
    [VLKV_TYPE_F32]  = { "f32",  1,  4, 0, 1, VLKV_TYPE_F32,  to_float_f32,  from_float_f32 },
    [VLKV_TYPE_F16]  = { "f16",  1,  2, 0, 1, VLKV_TYPE_F16,  to_float_f16,  from_float_f16 },
    [VLKV_TYPE_BF16] = { "bf16", 1,  2, 0, 1, VLKV_TYPE_BF16, to_float_bf16, from_float_bf16 },
    [VLKV_TYPE_Q4_0] = { "q4_0", QK4_0, sizeof(block_q4_0), 1, 1, VLKV_TYPE_Q8_0, to_float_q4_0, from_float_q4_0 },
    [VLKV_TYPE_Q4_1] = { "q4_1", QK4_1, sizeof(block_q4_1), 1, 1, VLKV_TYPE_Q8_1, to_float_q4_1, from_float_q4_1 },
    [VLKV_TYPE_Q5_0] = { "q5_0", QK5_0, sizeof(block_q5_0), 1, 1, VLKV_TYPE_Q8_0, to_float_q5_0, from_float_q5_0 },
    [VLKV_TYPE_Q5_1] = { "q5_1", QK5_1, sizeof(block_q5_1), 1, 1, VLKV_TYPE_Q8_1, to_float_q5_1, from_float_q5_1 },
    [VLKV_TYPE_Q8_0] = { "q8_0", QK8_0, sizeof(block_q8_0), 1, 1, VLKV_TYPE_Q8_0, to_float_q8_0, from_float_q8_0 },
    [VLKV_TYPE_Q8_1] = { "q8_1", QK8_1, sizeof(block_q8_1), 1, 0, VLKV_TYPE_Q8_1, to_float_q8_1, from_float_q8_1 },
    [VLKV_TYPE_Q2_K] = { "q2_K", QK_K, 84,  1, 0, VLKV_TYPE_Q8_K, NULL, NULL },
    [VLKV_TYPE_Q3_K] = { "q3_K", QK_K, 110, 1, 0, VLKV_TYPE_Q8_K, NULL, NULL },
    [VLKV_TYPE_Q4_K] = { "q4_K", QK_K, sizeof(block_q4_K), 1, 1, VLKV_TYPE_Q8_K, to_float_q4_K, from_float_q4_K },
    [VLKV_TYPE_Q5_K] = { "q5_K", QK_K, sizeof(block_q5_K), 1, 1, VLKV_TYPE_Q8_K, to_float_q5_K, from_float_q5_K },
    [VLKV_TYPE_Q6_K] = { "q6_K", QK_K, sizeof(block_q6_K), 1, 1, VLKV_TYPE_Q8_K, to_float_q6_K, from_float_q6_K },
    [VLKV_TYPE_Q8_K] = { "q8_K", QK_K, sizeof(block_q8_K), 1, 0, VLKV_TYPE_Q8_K, to_float_q8_K, from_float_q8_K },
};

const struct vlkv_type_traits *vlkv_type_traits_get(uint32_t type) {
    if (type >= VLKV_TYPE_COUNT || !g_traits[type].name) return NULL;
    return &g_traits[type];
}

const char *vlkv_type_name(uint32_t type) {
    const struct vlkv_type_traits *t = vlkv_type_traits_get(type);
    return t ? t->name : "?";
}

size_t vlkv_row_size(enum vlkv_type type, int64_t ne0) {
    const struct vlkv_type_traits *t = vlkv_type_traits_get((uint32_t)type);
    if (!t || ne0 < 0) return 0;
    return t->type_size * (size_t)(ne0 / t->blck);
}

int vlkv_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < VLKV_TYPE_COUNT; i++) {
        const char *a = g_traits[i].name, *b = name;
        if (!a) continue;
        while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b)) { a++; b++; }
        if (!*a && !*b) return i;
    }
    return -1;
}
