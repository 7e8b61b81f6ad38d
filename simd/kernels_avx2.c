/* kernels_avx2.c - AVX2 + FMA + F16C kernels (only this file is built with -mavx2 -mfma -mf16c;
 * dispatch.c selects it after cpuid + xgetbv). Starts from the reference table and overrides
 * what it accelerates; tests/test_kernels.c compares every entry with kernels_ref.c.
 *
 * Dot products follow ggml's AVX2 kernels (int8 vpmaddubsw + vpmaddwd, one float FMA per
 * 32-element block; K-quants fold their 6/8-bit integer sub-block scales into vpmaddwd so a
 * 256-element super-block costs one int->float conversion). gemm (prefill) repacks a tile of
 * 4 weight rows once per K-chunk into unsigned bytes, then runs a 4x3 register tile so every
 * weight byte loaded from L1 feeds 3 activation columns and every activation byte 4 rows. */
#include "simd.h"
#include "avx2_util.h"

#include <math.h>
#include <string.h>

#define FP16(x) f16_to_f32_1(x)
#define VLKV_MIN_I(a, b) ((a) < (b) ? (a) : (b))

/* ==== dot products, one row ==================================================================== */

static void vec_dot_q4_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i off = _mm256_set1_epi8(8);
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        const __m256 d0 = _mm256_set1_ps(FP16(x[ib].d) * FP16(y[ib].d));
        const __m256 d1 = _mm256_set1_ps(FP16(x[ib + 1].d) * FP16(y[ib + 1].d));
        const __m256i qx0 = _mm256_sub_epi8(unpack_nibbles32(x[ib].qs), off);
        const __m256i qx1 = _mm256_sub_epi8(unpack_nibbles32(x[ib + 1].qs), off);
        const __m256 p0 = mul_sum_i8_pairs_float(qx0, _mm256_loadu_si256((const __m256i *)y[ib].qs));
        const __m256 p1 = mul_sum_i8_pairs_float(qx1, _mm256_loadu_si256((const __m256i *)y[ib + 1].qs));
        acc0 = _mm256_fmadd_ps(d0, p0, acc0);
        acc1 = _mm256_fmadd_ps(d1, p1, acc1);
    }
    for (; ib < nb; ib++) {
        const __m256 d0 = _mm256_set1_ps(FP16(x[ib].d) * FP16(y[ib].d));
        const __m256i qx0 = _mm256_sub_epi8(unpack_nibbles32(x[ib].qs), off);
        acc0 = _mm256_fmadd_ps(d0, mul_sum_i8_pairs_float(qx0, _mm256_loadu_si256((const __m256i *)y[ib].qs)), acc0);
    }
    *s = hsum_f32x8(_mm256_add_ps(acc0, acc1));
}

static void vec_dot_q4_1_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t ib = 0; ib < nb; ib++) {
        summs += FP16(x[ib].m) * FP16(y[ib].s);
        const __m256 d = _mm256_set1_ps(FP16(x[ib].d) * FP16(y[ib].d));
        const __m256i qx = unpack_nibbles32(x[ib].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[ib].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8_pairs_float(qx, qy), acc);
    }
    *s = hsum_f32x8(acc) + summs;
}

static void vec_dot_q5_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < nb; ib++) {
        const __m256 d = _mm256_set1_ps(FP16(x[ib].d) * FP16(y[ib].d));
        __m256i qx = unpack_nibbles32(x[ib].qs);
        /* (q | bit<<4) - 16 == q | (bit ? 0 : 0xf0) as int8 */
        const __m256i hi = _mm256_andnot_si256(bytes_from_bits32(x[ib].qh), _mm256_set1_epi8((char)0xf0));
        qx = _mm256_or_si256(qx, hi);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[ib].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc);
    }
    *s = hsum_f32x8(acc);
}

static void vec_dot_q5_1_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK8_1;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t ib = 0; ib < nb; ib++) {
        summs += FP16(x[ib].m) * FP16(y[ib].s);
        const __m256 d = _mm256_set1_ps(FP16(x[ib].d) * FP16(y[ib].d));
        __m256i qx = unpack_nibbles32(x[ib].qs);
        qx = _mm256_or_si256(qx, _mm256_and_si256(bytes_from_bits32(x[ib].qh), _mm256_set1_epi8(0x10)));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[ib].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_us8_pairs_float(qx, qy), acc);
    }
    *s = hsum_f32x8(acc) + summs;
}

static void vec_dot_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 1 < nb; ib += 2) {
        const __m256 d0 = _mm256_set1_ps(FP16(x[ib].d) * FP16(y[ib].d));
        const __m256 d1 = _mm256_set1_ps(FP16(x[ib + 1].d) * FP16(y[ib + 1].d));
        const __m256 p0 = mul_sum_i8_pairs_float(_mm256_loadu_si256((const __m256i *)x[ib].qs),
                                                 _mm256_loadu_si256((const __m256i *)y[ib].qs));
        const __m256 p1 = mul_sum_i8_pairs_float(_mm256_loadu_si256((const __m256i *)x[ib + 1].qs),
                                                 _mm256_loadu_si256((const __m256i *)y[ib + 1].qs));
        acc0 = _mm256_fmadd_ps(d0, p0, acc0);
        acc1 = _mm256_fmadd_ps(d1, p1, acc1);
    }
    for (; ib < nb; ib++) {
        const __m256 d0 = _mm256_set1_ps(FP16(x[ib].d) * FP16(y[ib].d));
        acc0 = _mm256_fmadd_ps(d0, mul_sum_i8_pairs_float(_mm256_loadu_si256((const __m256i *)x[ib].qs),
                                                          _mm256_loadu_si256((const __m256i *)y[ib].qs)), acc0);
    }
    *s = hsum_f32x8(_mm256_add_ps(acc0, acc1));
}

/* 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K super-block */
static inline void k4_scales(const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
        sc[j + 4] = (uint8_t)((q[j + 8] & 0x0f) | ((q[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

static inline int k4_min_dot(const uint8_t *mn, const int16_t *bsums) {
    int summ = 0;
    for (int j = 0; j < 8; j++) summ += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return summ;
}

/* The 12 packed scale bytes of Q4_K/Q5_K as 8 scales then 8 mins (one byte each), with the
 * 32-bit mask trick of ggml: no per-byte scalar work. */
AVX2_INLINE __m128i k4_scales_mins(const uint8_t *q) {
    uint32_t u[4];
    memcpy(u, q, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    const uint32_t aux = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = aux;
    u[0] &= m1;
    return _mm_loadu_si128((const __m128i *)u);
}

/* sum_j mn[j] * (bsums[2j] + bsums[2j+1]) as 4 int32 partial sums (mins = bytes 8..15 of sm) */
AVX2_INLINE __m128i k4_mins_dot(__m128i sm, const int16_t *bsums) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
    const __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return _mm_madd_epi16(mins, pairs);
}

/* int16 scale j of 8 (in a 256-bit register holding them twice) broadcast to all 16 lanes */
AVX2_INLINE __m256i k4_scale_bcast(__m256i sc2, int j) {
    return _mm256_shuffle_epi8(sc2, _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j))));
}

static void vec_dot_q4_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * FP16(x[i].d), dmin = y[i].d * FP16(x[i].dmin);
        const __m128i sm = k4_scales_mins(x[i].scales);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_mins_dot(sm, y[i].bsums)), accm);
        const __m128i sc = _mm_cvtepu8_epi16(sm);
        const __m256i sc2 = _mm256_set_m128i(sc, sc);
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(q4 + 32 * c));
            const __m256i ql = _mm256_and_si256(bits, m4);
            const __m256i qh = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i pl = _mm256_madd_epi16(k4_scale_bcast(sc2, 2 * c),
                _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)(q8 + 64 * c))));
            const __m256i ph = _mm256_madd_epi16(k4_scale_bcast(sc2, 2 * c + 1),
                _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(q8 + 64 * c + 32))));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    *s = hsum_f32x8(acc) - _mm_cvtss_f32(accm);
}

static void vec_dot_q5_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * FP16(x[i].d), dmin = y[i].d * FP16(x[i].dmin);
        const __m128i sm = k4_scales_mins(x[i].scales);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_mins_dot(sm, y[i].bsums)), accm);
        const __m128i sc = _mm_cvtepu8_epi16(sm);
        const __m256i sc2 = _mm256_set_m128i(sc, sc);
        const uint8_t *q5 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(q5 + 32 * c));
            const __m256i ql = _mm256_or_si256(_mm256_and_si256(bits, m4),
                                               _mm256_slli_epi16(_mm256_and_si256(hb, m1), 4));
            const __m256i qh = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), m1), 4));
            hb = _mm256_srli_epi16(hb, 2);
            const __m256i pl = _mm256_madd_epi16(k4_scale_bcast(sc2, 2 * c),
                _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)(q8 + 64 * c))));
            const __m256i ph = _mm256_madd_epi16(k4_scale_bcast(sc2, 2 * c + 1),
                _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(q8 + 64 * c + 32))));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    *s = hsum_f32x8(acc) - _mm_cvtss_f32(accm);
}

/* Q6_K: 6-bit q in 0..63 with the -32 offset applied as maddubs(q, y) - maddubs(32, y);
 * int8 scales per 16 elements: lanes 0..7 of a 32-element maddubs result belong to group g,
 * lanes 8..15 to group g+1. */
AVX2_INLINE __m256i q6_scale_pair(const int8_t *sc) {
    return _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
}

static void vec_dot_q6_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = y[i].d * FP16(x[i].d);
        /* the -32 offset through the Q8_K group sums: sum_g sc_g * 32 * bsum_g */
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums)), 5);
        sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *q8 = y[i].qs + 128 * h;
            /* this half's 8 scales as int16 in both 128-bit lanes */
            const __m256i sc8 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h))));
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i bh = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(bh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(b2, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                /* lanes 0..7: scale 2k (elements 0..15), lanes 8..15: scale 2k+1 */
                const __m256i ctl = _mm256_set_m128i(_mm_set1_epi16((short)(((4 * k + 3) << 8) | (4 * k + 2))),
                                                     _mm_set1_epi16((short)(((4 * k + 1) << 8) | (4 * k))));
                const __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(q8 + 32 * k)));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_shuffle_epi8(sc8, ctl), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_f32x8(acc);
}

/* ---- f32 / f16 rows ---- */

static float dot_f32_avx2(int64_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static inline __m256 load_f16x8(const vlkv_f16 *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static float dot_f16_f32_avx2(int64_t n, const vlkv_f16 *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += FP16(x[i]) * y[i];
    return s;
}

static float dot_f16_f16(int64_t n, const vlkv_f16 *x, const vlkv_f16 *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), load_f16x8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(x + i + 16), load_f16x8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(x + i + 24), load_f16x8(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), a0);
    float s = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += FP16(x[i]) * FP16(y[i]);
    return s;
}

static void vec_dot_f32_avx2(int64_t n, float *s, const void *x, const void *y) { *s = dot_f32_avx2(n, x, y); }
static void vec_dot_f16_avx2(int64_t n, float *s, const void *x, const void *y) { *s = dot_f16_f16(n, x, y); }

/* ---- gemv: rows are independent dot products against one activation row (memory bound) ---- */

#define GEMV_FROM_DOT(T)                                                                             \
    static void gemv_##T##_avx2(int64_t n, int64_t nr, float *s, const void *w, size_t ws,          \
                                const void *y) {                                                     \
        for (int64_t r = 0; r < nr; r++) vec_dot_##T##_avx2(n, &s[r], (const char *)w + r * ws, y); \
    }
GEMV_FROM_DOT(q4_1)
GEMV_FROM_DOT(q5_0)
GEMV_FROM_DOT(q5_1)
GEMV_FROM_DOT(q8_0)
GEMV_FROM_DOT(q4_K)
GEMV_FROM_DOT(q5_K)
GEMV_FROM_DOT(q6_K)
GEMV_FROM_DOT(f32)
GEMV_FROM_DOT(f16)

/* Q4_0 gemv: every row shares the activation, so its per-block d_y and S_b = d_y * sum(q) are
 * computed once per call; the nibbles then enter vpmaddubsw unsigned (no sign trick):
 *   sum_i d_x (u_i - 8) d_y q_i = d_x d_y sum(u q) - 8 d_x S_b. */
#define GEMV_MAXB 1024
#ifndef PF_DIST
#define PF_DIST 2048   /* software prefetch distance in bytes for streamed weight rows */
#endif

static void gemv_q4_0_avx2(int64_t n, int64_t nr, float *s, const void *w, size_t ws, const void *vy) {
    const int64_t nb = n / QK8_0;
    if (nb > GEMV_MAXB) {
        for (int64_t r = 0; r < nr; r++) vec_dot_q4_0_avx2(n, &s[r], (const char *)w + r * ws, vy);
        return;
    }
    const block_q8_0 *y = vy;
    float dy[GEMV_MAXB], sy[GEMV_MAXB];
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        dy[b] = FP16(y[b].d);
        const __m256i q = _mm256_loadu_si256((const __m256i *)y[b].qs);
        sy[b] = dy[b] * (float)hsum_i32x8(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16));
    }
    /* one row per pass: on the test machine two interleaved row streams were 2x slower from
     * DRAM than one (in cache they were 25% faster); streaming is what decode does */
    int64_t r = 0;
    for (; r < nr; r++) {
        const block_q4_0 *x0 = (const block_q4_0 *)((const char *)w + r * ws);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        float c0 = 0;
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2) {
            _mm_prefetch((const char *)(x0 + b) + PF_DIST, _MM_HINT_T0);
            const float d0 = FP16(x0[b].d), d1 = FP16(x0[b + 1].d);
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(unpack_nibbles32(x0[b].qs),
                                                 _mm256_loadu_si256((const __m256i *)y[b].qs)), ones16);
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(unpack_nibbles32(x0[b + 1].qs),
                                                 _mm256_loadu_si256((const __m256i *)y[b + 1].qs)), ones16);
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(d0 * dy[b]), a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(d1 * dy[b + 1]), a1);
            c0 += d0 * sy[b] + d1 * sy[b + 1];
        }
        for (; b < nb; b++) {
            const float d0 = FP16(x0[b].d);
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(unpack_nibbles32(x0[b].qs),
                                                 _mm256_loadu_si256((const __m256i *)y[b].qs)), ones16);
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(d0 * dy[b]), a0);
            c0 += d0 * sy[b];
        }
        s[r] = hsum_f32x8(_mm256_add_ps(a0, a1)) - 8.0f * c0;
    }
    for (; r < nr; r++) vec_dot_q4_0_avx2(n, &s[r], (const char *)w + r * ws, vy);
}

/* ==== gemv over repacked rows (simd.h): 8 rows per pass, row r in 32-bit lane r ==================
 * 4 activation bytes are broadcast to all lanes; the weight register holds each row's 4 matching
 * bytes in its lane, so vpmaddubsw + vpmaddwd leave the 8 rows' partial sums in 8 int32 lanes and
 * the 8 fp16 row scales convert with one vcvtph2ps. One group is one sequential stream. */

#ifndef RP_PF
#define RP_PF 1024     /* software prefetch distance (bytes) in the repacked stream */
#endif

AVX2_INLINE void rp_store(float *s, int64_t r0, int64_t nr, __m256 v) {
    if (r0 + 8 <= nr) {
        _mm256_storeu_ps(s + r0, v);
    } else {
        float t[8];
        _mm256_storeu_ps(t, v);
        for (int64_t r = 0; r0 + r < nr; r++) s[r0 + r] = t[r];
    }
}

/* The 8 rows' values at s + r0 (zero past nr): a K-chunked kernel resumes its accumulators from them. */
AVX2_INLINE __m256 rp_load(const float *s, int64_t r0, int64_t nr) {
    if (r0 + 8 <= nr) return _mm256_loadu_ps(s + r0);
    float t[8] = {0};
    for (int64_t r = 0; r0 + r < nr; r++) t[r] = s[r0 + r];
    return _mm256_loadu_ps(t);
}

AVX2_INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Q4_0: sum_i d (u_i - 8) q_i = d (sum u q - 8 sum q), u the unsigned nibbles: vpmaddubsw takes
 * u x q as it is (8 pairs of at most 2 x 15 x 127 stay inside int16), and 8 sum q per activation
 * block is computed once per call, in K-chunks of RPB blocks. The float steps are one fma chain
 * per row over the blocks in order, carried through s between K-chunks; the prompt gemm runs the
 * same tile and chain, so a token gets bit-identical results in a prompt batch and in decode. */
#define RPB 512

/* 8 sum q for each of kn activation blocks. */
AVX2_INLINE void q4_0_act_sums(const block_q8_0 *y, int64_t kn, int32_t *sq) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < kn; b++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)y[b].qs);
        sq[b] = 8 * hsum_i32x8(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16));
    }
}

/* One group of 8 rows against CC activation columns over blocks [kb0, kb0 + kn); sq[c * sqs + b]
 * is column c's 8 sum q for block kb0 + b. Starts from s when kb0 > 0 (a resumed chain). */
AVX2_INLINE void rp_q4_0_tile(const int CC, const int PF, int64_t kb0, int64_t kn, const uint8_t *p,
                              const char *ycols, size_t ys, const int32_t *sq, size_t sqs,
                              float *s, size_t lds, int64_t r0, int64_t nr) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones16 = _mm256_set1_epi16(1);
    __m256 acc[4];
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++) acc[c] = kb0 > 0 ? rp_load(s + (size_t)c * lds, r0, nr) : _mm256_setzero_ps();
    for (int64_t b = 0; b < kn; b++, p += 144) {
        if (PF && RP_PF > 0) {
            _mm_prefetch((const char *)p + RP_PF, _MM_HINT_T0);
            _mm_prefetch((const char *)p + RP_PF + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)p + RP_PF + 128, _MM_HINT_T0);
        }
        __m256i is[4];
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) is[c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 4")
        for (int j = 0; j < 4; j++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * j));
            const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++) {
                const int8_t *q = ((const block_q8_0 *)(ycols + (size_t)c * ys))[kb0 + b].qs;
                is[c] = _mm256_add_epi16(is[c], _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(q + 4 * j)),
                                                                 _mm256_maddubs_epi16(hi, bcast4(q + 16 + 4 * j))));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) {
            const float dy = FP16(((const block_q8_0 *)(ycols + (size_t)c * ys))[kb0 + b].d);
            const __m256i si = _mm256_sub_epi32(_mm256_madd_epi16(is[c], ones16), _mm256_set1_epi32(sq[c * sqs + b]));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si), _mm256_mul_ps(dw, _mm256_set1_ps(dy)), acc[c]);
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++) rp_store(s + (size_t)c * lds, r0, nr, acc[c]);
}

static void gemv_rp_q4_0_avx2(int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const int64_t nb = n / QK8_0;
    const size_t gs = (size_t)nb * 144;
    int32_t sq[RPB];
    for (int64_t kb0 = 0; kb0 < nb; kb0 += RPB) {
        const int64_t kn = VLKV_MIN_I(RPB, nb - kb0);
        q4_0_act_sums((const block_q8_0 *)vy + kb0, kn, sq);
        for (int64_t r0 = 0; r0 < nr; r0 += 8)
            rp_q4_0_tile(1, 1, kb0, kn, (const uint8_t *)wr + (size_t)(r0 / 8) * gs + (size_t)kb0 * 144,
                         vy, 0, sq, 0, s, 0, r0, nr);
    }
}

/* Q8_0: signed x signed through the sign trick (|x| unsigned, y takes x's sign). One group of 8
 * rows against CC activation columns; the prompt gemm (gemm_rp) and the decode gemv (CC = 1) run
 * this same tile, so a token gets bit-identical results in a prompt batch and in decode. */
AVX2_INLINE void rp_q8_0_tile(const int CC, const int PF, int64_t nb, const uint8_t *p, const char *ycols, size_t ys,
                              float *s, size_t lds, int64_t r0, int64_t nr) {
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 acc[4];
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, p += 272) {
        if (PF && RP_PF > 0)
            for (int l = 0; l < 5; l++) _mm_prefetch((const char *)p + RP_PF + 64 * l, _MM_HINT_T0);
        __m256i is[4];
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) is[c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * j));
            const __m256i av = _mm256_sign_epi8(v, v);
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++) {
                const int8_t *q = ((const block_q8_0 *)(ycols + (size_t)c * ys))[b].qs;
                const __m256i pr = _mm256_maddubs_epi16(av, _mm256_sign_epi8(bcast4(q + 4 * j), v));
                is[c] = _mm256_add_epi32(is[c], _mm256_madd_epi16(pr, ones16));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) {
            const float dy = FP16(((const block_q8_0 *)(ycols + (size_t)c * ys))[b].d);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[c]), _mm256_mul_ps(dw, _mm256_set1_ps(dy)), acc[c]);
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++) rp_store(s + (size_t)c * lds, r0, nr, acc[c]);
}

static void gemv_rp_q8_0_avx2(int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const int64_t nb = n / QK8_0;
    const size_t gs = (size_t)nb * 272;
    for (int64_t r0 = 0; r0 < nr; r0 += 8)
        rp_q8_0_tile(1, 1, nb, (const uint8_t *)wr + (size_t)(r0 / 8) * gs, vy, 0, s, 0, r0, nr);
}

/* The prompt gemm of a type whose tile covers all K at once: column blocks of RP_CB (their
 * activations stay in L2), 8-row groups, tiles of 4 columns then single columns. */
#define RP_CB 64
#define DEF_GEMM_RP(T, QK, GB)                                                                          \
    static void gemm_rp_##T##_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *wr, \
                                   const void *y, size_t ys) {                                          \
        const int64_t nb = n / (QK);                                                                    \
        const size_t gs = (size_t)nb * (GB);                                                            \
        for (int64_t cb = 0; cb < nc; cb += RP_CB) {                                                    \
            const int64_t ce = VLKV_MIN_I(nc, cb + RP_CB);                                              \
            for (int64_t r0 = 0; r0 < nr; r0 += 8) {                                                    \
                const uint8_t *p = (const uint8_t *)wr + (size_t)(r0 / 8) * gs;                         \
                int64_t c = cb;                                                                         \
                for (; c + 4 <= ce; c += 4)                                                             \
                    rp_##T##_tile(4, 0, nb, p, (const char *)y + c * ys, ys, s + c * lds, lds, r0, nr);  \
                for (; c < ce; c++)                                                                     \
                    rp_##T##_tile(1, 0, nb, p, (const char *)y + c * ys, ys, s + c * lds, lds, r0, nr);  \
            }                                                                                           \
        }                                                                                               \
    }

DEF_GEMM_RP(q8_0, QK8_0, 272)

/* Q4_0 prompt gemm: the gemv's tile on 4 columns at a time; per column block and K-chunk the
 * columns' block sums are computed once (RP_CB x RPB4 int32 = 64 KiB of stack). */
#define RPB4 256
static void gemm_rp_q4_0_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *wr,
                              const void *y, size_t ys) {
    const int64_t nb = n / QK8_0;
    const size_t gs = (size_t)nb * 144;
    int32_t sq[RP_CB * RPB4];
    for (int64_t cb = 0; cb < nc; cb += RP_CB) {
        const int64_t ce = VLKV_MIN_I(nc, cb + RP_CB);
        for (int64_t kb0 = 0; kb0 < nb; kb0 += RPB4) {
            const int64_t kn = VLKV_MIN_I(RPB4, nb - kb0);
            for (int64_t c = cb; c < ce; c++)
                q4_0_act_sums((const block_q8_0 *)((const char *)y + c * ys) + kb0, kn, sq + (c - cb) * RPB4);
            for (int64_t r0 = 0; r0 < nr; r0 += 8) {
                const uint8_t *p = (const uint8_t *)wr + (size_t)(r0 / 8) * gs + (size_t)kb0 * 144;
                int64_t c = cb;
                for (; c + 4 <= ce; c += 4)
                    rp_q4_0_tile(4, 0, kb0, kn, p, (const char *)y + c * ys, ys, sq + (c - cb) * RPB4, RPB4,
                                 s + c * lds, lds, r0, nr);
                for (; c < ce; c++)
                    rp_q4_0_tile(1, 0, kb0, kn, p, (const char *)y + c * ys, ys, sq + (c - cb) * RPB4, RPB4,
                                 s + c * lds, lds, r0, nr);
            }
        }
    }
}

/* Q4_K: per sub-block the 8 int16-summed maddubs results meet the (sc_r, sc_r) pairs in vpmaddwd;
 * the mins are one vpmaddwd per sub-block pair against (bsum_2p, bsum_2p+1). One group of 8 rows
 * against CC activation columns; the decode gemv is the CC = 1 tile and the prompt gemm runs the
 * same tile, so a token gets bit-identical results in a prompt batch and in decode. */
AVX2_INLINE void rp_q4_K_tile(const int CC, const int PF, int64_t nb, const uint8_t *p, const char *ycols, size_t ys,
                              float *s, size_t lds, int64_t r0, int64_t nr) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[4], accm[4];
    _Pragma("GCC unroll 4")
    for (int k = 0; k < CC; k++) acc[k] = accm[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++, p += 1184) {
        const uint8_t *sc = p + 32, *mn = p + 96, *qs = p + 160;
        const block_q8_K *y[4];
        _Pragma("GCC unroll 4")
        for (int k = 0; k < CC; k++) y[k] = (const block_q8_K *)(ycols + (size_t)k * ys) + b;
        const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        _Pragma("GCC unroll 4")
        for (int k = 0; k < CC; k++) {
            /* bsum_j = bsums[2j] + bsums[2j+1] as 4 int32 words of int16 pairs (b_2p, b_2p+1) */
            const __m256i bs = _mm256_loadu_si256((const __m256i *)y[k]->bsums);
            int32_t bp[4];
            _mm_storeu_si128((__m128i *)bp, _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
            __m256i summ = _mm256_setzero_si256();
            for (int pr = 0; pr < 4; pr++)
                summ = _mm256_add_epi32(summ, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(mn + 16 * pr))),
                                                                _mm256_set1_epi32(bp[pr])));
            accm[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(summ), _mm256_mul_ps(dmw, _mm256_set1_ps(y[k]->d)), accm[k]);
        }
        __m256i sumi[4];
        _Pragma("GCC unroll 4")
        for (int k = 0; k < CC; k++) sumi[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const uint8_t *qc = qs + 256 * c;
            if (PF && RP_PF > 0)
                for (int l = 0; l < 4; l++) _mm_prefetch((const char *)qc + RP_PF + 64 * l, _MM_HINT_T0);
            __m256i plo[4], phi[4];
            _Pragma("GCC unroll 4")
            for (int k = 0; k < CC; k++) plo[k] = phi[k] = _mm256_setzero_si256();
            _Pragma("GCC unroll 8")
            for (int j = 0; j < 8; j++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(qc + 32 * j));
                const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                _Pragma("GCC unroll 4")
                for (int k = 0; k < CC; k++) {
                    const int8_t *q = y[k]->qs + 64 * c + 4 * j;
                    plo[k] = _mm256_add_epi16(plo[k], _mm256_maddubs_epi16(lo, bcast4(q)));
                    phi[k] = _mm256_add_epi16(phi[k], _mm256_maddubs_epi16(hi, bcast4(q + 32)));
                }
            }
            const __m128i s2 = _mm_loadu_si128((const __m128i *)(sc + 16 * c));   /* sub-blocks 2c, 2c+1 */
            const __m256i sl = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(s2, s2));
            const __m256i sh = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(s2, s2));
            _Pragma("GCC unroll 4")
            for (int k = 0; k < CC; k++)
                sumi[k] = _mm256_add_epi32(sumi[k], _mm256_add_epi32(_mm256_madd_epi16(plo[k], sl), _mm256_madd_epi16(phi[k], sh)));
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        _Pragma("GCC unroll 4")
        for (int k = 0; k < CC; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[k]), _mm256_mul_ps(dw, _mm256_set1_ps(y[k]->d)), acc[k]);
    }
    _Pragma("GCC unroll 4")
    for (int k = 0; k < CC; k++) rp_store(s + (size_t)k * lds, r0, nr, _mm256_sub_ps(acc[k], accm[k]));
}

static void gemv_rp_q4_K_avx2(int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const int64_t nb = n / QK_K;
    const size_t gs = (size_t)nb * 1184;
    for (int64_t r0 = 0; r0 < nr; r0 += 8)
        rp_q4_K_tile(1, 1, nb, (const uint8_t *)wr + (size_t)(r0 / 8) * gs, vy, 0, s, 0, r0, nr);
}

DEF_GEMM_RP(q4_K, QK_K, 1184)

/* F16 over the repacked copy, F32 activations: element k of 8 rows is one 16-byte load and one
 * vcvtph2ps, met by a broadcast activation in one fma. G row groups x CC columns per tile, each
 * output one fma chain in element order from 0 (resumed from s when k0 > 0), so the gemv (CC = 1)
 * and the prompt gemm give bit-identical results; so does the reference's fmaf loop. */
AVX2_INLINE void rp_f16_tile(const int G, const int CC, int64_t k0, int64_t kn, const uint8_t *p, size_t gs,
                             const float *x, size_t xs, float *s, size_t lds, int64_t r0, int64_t nr) {
    __m256 acc[4][6];
    _Pragma("GCC unroll 4")
    for (int g = 0; g < G; g++) {
        _Pragma("GCC unroll 6")
        for (int c = 0; c < CC; c++)
            acc[g][c] = k0 > 0 ? rp_load(s + (size_t)c * lds, r0 + 8 * g, nr) : _mm256_setzero_ps();
    }
    const uint8_t *pk = p + (size_t)k0 * 16;
    const float *xk = x + k0;
    for (int64_t k = 0; k < kn; k++, pk += 16, xk++) {
        __m256 w[4];
        _Pragma("GCC unroll 4")
        for (int g = 0; g < G; g++) w[g] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(pk + (size_t)g * gs)));
        _Pragma("GCC unroll 6")
        for (int c = 0; c < CC; c++) {
            const __m256 xb = _mm256_broadcast_ss(xk + (size_t)c * xs);
            _Pragma("GCC unroll 4")
            for (int g = 0; g < G; g++) acc[g][c] = _mm256_fmadd_ps(w[g], xb, acc[g][c]);
        }
    }
    _Pragma("GCC unroll 4")
    for (int g = 0; g < G; g++) {
        _Pragma("GCC unroll 6")
        for (int c = 0; c < CC; c++) rp_store(s + (size_t)c * lds, r0 + 8 * g, nr, acc[g][c]);
    }
}

static void gemv_rp_f16_avx2(int64_t n, int64_t nr, float *s, const void *wr, const void *vy) {
    const size_t gs = (size_t)n * 16;
    const int64_t ng = (nr + 7) / 8;
    int64_t g = 0;
    for (; g + 4 <= ng; g += 4)   /* 4 independent chains hide the fma latency */
        rp_f16_tile(4, 1, 0, n, (const uint8_t *)wr + (size_t)g * gs, gs, vy, 0, s, 0, 8 * g, nr);
    for (; g < ng; g++) rp_f16_tile(1, 1, 0, n, (const uint8_t *)wr + (size_t)g * gs, gs, vy, 0, s, 0, 8 * g, nr);
}

/* Prompt gemm: 16 rows x 6 columns per tile (12 accumulators), K in chunks of RPF_KC elements so a
 * tile's weights stay in L1, columns in blocks of RPF_CB so their K-chunk stays in L2. (Converting
 * each K-chunk of weights once into an F32 slab for all column tiles measured the same.) */
#define RPF_KC 256
#define RPF_CB 192
static void gemm_rp_f16_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *wr,
                             const void *y, size_t ys) {
    const size_t gs = (size_t)n * 16, xs = ys / sizeof(float);
    const float *x = y;
    const int64_t ng = (nr + 7) / 8;
    for (int64_t cb = 0; cb < nc; cb += RPF_CB) {
        const int64_t ce = VLKV_MIN_I(nc, cb + RPF_CB);
        for (int64_t k0 = 0; k0 < n; k0 += RPF_KC) {
            const int64_t kn = VLKV_MIN_I(RPF_KC, n - k0);
            for (int64_t g = 0; g < ng; g += 2) {
                const uint8_t *p = (const uint8_t *)wr + (size_t)g * gs;
                const int two = g + 2 <= ng;
                int64_t c = cb;
                for (; c + 6 <= ce; c += 6) {
                    if (two) rp_f16_tile(2, 6, k0, kn, p, gs, x + c * xs, xs, s + c * lds, lds, 8 * g, nr);
                    else rp_f16_tile(1, 6, k0, kn, p, gs, x + c * xs, xs, s + c * lds, lds, 8 * g, nr);
                }
                for (; c < ce; c++) {
                    if (two) rp_f16_tile(2, 1, k0, kn, p, gs, x + c * xs, xs, s + c * lds, lds, 8 * g, nr);
                    else rp_f16_tile(1, 1, k0, kn, p, gs, x + c * xs, xs, s + c * lds, lds, 8 * g, nr);
                }
            }
        }
    }
}

/* ==== gemm for the 32-element block types (Q4_0, Q5_0, Q8_0 x Q8_0; Q4_1, Q5_1 x Q8_1) ========
 * For a K-chunk of KCB blocks, a tile of GR weight rows is repacked to unsigned bytes u (0..15,
 * 0..31, or q+128 for Q8_0) with float d and a per-block correction a:
 *   x = d (u - o)     =>  sum x y = sum_b d_x d_y sum(u q) - o d_x (d_y sum q)
 *   x = d u + m       =>  sum x y = sum_b d_x d_y sum(u q) + m_x s_y
 * so the inner loop is maddubs(u, q) -> madd -> cvt -> fma with the d_x d_y product from a
 * precomputed table, and the correction is a short dot product over blocks per output. */

#define GR 4            /* weight rows per register tile */
#define GC 3            /* activation columns per register tile */
#define KCB 128         /* 32-element blocks per K-chunk (4096 elements) */
#define CBLK 48         /* activation columns per column block (multiple of GC; measured best of 24/48/96) */

struct q0_rows {
    uint8_t u[GR][KCB * 32];
    int8_t sgn[GR][KCB * 32];   /* Q8_0 only: the signed quants (u holds |q|) */
    float d[GR][KCB];
    float a[GR][KCB];
};

struct q0_cols {
    float d[CBLK][KCB];
    float b[CBLK][KCB];   /* d_y * sum(q) (Q8_0) or s (Q8_1) */
};

static void q0_repack_row(enum vlkv_type t, const void *row, int64_t kb0, int kn, uint8_t *u, int8_t *sgn, float *d,
                          float *a) {
    for (int b = 0; b < kn; b++) {
        const int64_t ib = kb0 + b;
        __m256i v;
        switch (t) {
        case VLKV_TYPE_Q4_0: {
            const block_q4_0 *x = (const block_q4_0 *)row + ib;
            v = unpack_nibbles32(x->qs);
            d[b] = FP16(x->d);
            a[b] = -8.0f * d[b];
            break;
        }
        case VLKV_TYPE_Q5_0: {
            const block_q5_0 *x = (const block_q5_0 *)row + ib;
            v = _mm256_or_si256(unpack_nibbles32(x->qs), _mm256_and_si256(bytes_from_bits32(x->qh), _mm256_set1_epi8(0x10)));
            d[b] = FP16(x->d);
            a[b] = -16.0f * d[b];
            break;
        }
        case VLKV_TYPE_Q8_0: {   /* |q| (q + 128 would overflow vpmaddubsw's int16 pairs), sign kept */
            const block_q8_0 *x = (const block_q8_0 *)row + ib;
            const __m256i q = _mm256_loadu_si256((const __m256i *)x->qs);
            _mm256_storeu_si256((__m256i *)(sgn + 32 * b), q);
            v = _mm256_sign_epi8(q, q);
            d[b] = FP16(x->d);
            a[b] = 0.0f;
            break;
        }
        case VLKV_TYPE_Q4_1: {
            const block_q4_1 *x = (const block_q4_1 *)row + ib;
            v = unpack_nibbles32(x->qs);
            d[b] = FP16(x->d);
            a[b] = FP16(x->m);
            break;
        }
        default: { /* Q5_1 */
            const block_q5_1 *x = (const block_q5_1 *)row + ib;
            v = _mm256_or_si256(unpack_nibbles32(x->qs), _mm256_and_si256(bytes_from_bits32(x->qh), _mm256_set1_epi8(0x10)));
            d[b] = FP16(x->d);
            a[b] = FP16(x->m);
            break;
        }
        }
        _mm256_storeu_si256((__m256i *)(u + 32 * b), v);
    }
}

static void q0_prep_col(enum vlkv_type act, const void *col, int64_t kb0, int kn, float *d, float *bb) {
    if (act == VLKV_TYPE_Q8_1) {
        const block_q8_1 *y = (const block_q8_1 *)col + kb0;
        for (int b = 0; b < kn; b++) {
            d[b] = FP16(y[b].d);
            bb[b] = FP16(y[b].s);
        }
    } else {
        const block_q8_0 *y = (const block_q8_0 *)col + kb0;
        const __m256i ones8 = _mm256_set1_epi8(1);
        for (int b = 0; b < kn; b++) {
            d[b] = FP16(y[b].d);
            const __m256i q = _mm256_loadu_si256((const __m256i *)y[b].qs);
            const int sum = hsum_i32x8(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), _mm256_set1_epi16(1)));
            bb[b] = d[b] * (float)sum;
        }
    }
}

static inline float dot_f32_short(int n, const float *a, const float *b) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float s = hsum_f32x8(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One RR x CC register tile over kn blocks; adds into s (or stores when first). */
AVX2_INLINE void q0_tile(const int RR, const int CC, const int SG, const struct q0_rows *R, int r0, const struct q0_cols *C,
                         int c0, const char *ycols, size_t ys, int64_t kb0, int kn, size_t yblk,
                         float *s, size_t lds, int first) {
    __m256 acc[GR][GC];
    float prod[GR][GC][KCB] __attribute__((aligned(32)));
    _Pragma("GCC unroll 4")
    for (int r = 0; r < RR; r++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) {
            acc[r][c] = _mm256_setzero_ps();
            int b = 0;
            for (; b + 8 <= kn; b += 8)
                _mm256_store_ps(&prod[r][c][b], _mm256_mul_ps(_mm256_loadu_ps(&R->d[r0 + r][b]),
                                                              _mm256_loadu_ps(&C->d[c0 + c][b])));
            for (; b < kn; b++) prod[r][c][b] = R->d[r0 + r][b] * C->d[c0 + c][b];
        }
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t qoff = yblk - 32;   /* the quants are the last 32 bytes of a Q8_0/Q8_1 block */
    for (int b = 0; b < kn; b++) {
        const uint8_t *yb[GC];
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) yb[c] = (const uint8_t *)ycols + (size_t)(c0 + c) * ys + (kb0 + b) * yblk + qoff;
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)&R->u[r0 + r][32 * b]);
            const __m256i ws = SG ? _mm256_loadu_si256((const __m256i *)&R->sgn[r0 + r][32 * b]) : w;
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++) {
                __m256i yv = _mm256_loadu_si256((const __m256i *)yb[c]);
                if (SG) yv = _mm256_sign_epi8(yv, ws);
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(w, yv), ones);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(&prod[r][c][b]), acc[r][c]);
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++)
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++) {
            const float v = hsum_f32x8(acc[r][c]) + dot_f32_short(kn, R->a[r0 + r], C->b[c0 + c]);
            float *o = &s[(size_t)c * lds + r];
            *o = first ? v : *o + v;
        }
}

static void gemm_q0_avx2(enum vlkv_type wt, enum vlkv_type act, int64_t n, int64_t nr, int64_t nc, float *s,
                         size_t lds, const void *w, size_t ws, const void *y, size_t ys) {
    const int64_t nb = n / 32;
    const size_t yblk = act == VLKV_TYPE_Q8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const int sg = wt == VLKV_TYPE_Q8_0;
    static _Thread_local struct q0_rows R;   /* 49 KB */
    static _Thread_local struct q0_cols C;   /* 48 KB */
    for (int64_t cb = 0; cb < nc; cb += CBLK) {
        const int cn = (int)VLKV_MIN_I(CBLK, nc - cb);
        for (int64_t kb0 = 0; kb0 < nb; kb0 += KCB) {
            const int kn = (int)VLKV_MIN_I(KCB, nb - kb0);
            for (int c = 0; c < cn; c++) q0_prep_col(act, (const char *)y + (cb + c) * ys, kb0, kn, C.d[c], C.b[c]);
            for (int64_t r0 = 0; r0 < nr; r0 += GR) {
                const int rn = (int)VLKV_MIN_I(GR, nr - r0);
                for (int r = 0; r < rn; r++)
                    q0_repack_row(wt, (const char *)w + (r0 + r) * ws, kb0, kn, R.u[r], R.sgn[r], R.d[r], R.a[r]);
                for (int c = 0; c < cn; c += GC) {
                    const int cc = VLKV_MIN_I(GC, cn - c);
                    float *so = s + (size_t)(cb + c) * lds + r0;
                    const int first = kb0 == 0;
                    /* constant tile shapes so the loops above unroll into registers */
#define Q0T(a, b) (sg ? q0_tile(a, b, 1, &R, 0, &C, c, (const char *)y + cb * ys, ys, kb0, kn, yblk, so, lds, first) \
                        : q0_tile(a, b, 0, &R, 0, &C, c, (const char *)y + cb * ys, ys, kb0, kn, yblk, so, lds, first))
                    if (rn == 4 && cc == 3) Q0T(4, 3);
                    else if (rn == 4 && cc == 2) Q0T(4, 2);
                    else if (rn == 4) Q0T(4, 1);
                    else if (rn == 3 && cc == 3) Q0T(3, 3);
                    else if (rn == 3 && cc == 2) Q0T(3, 2);
                    else if (rn == 3) Q0T(3, 1);
                    else if (rn == 2 && cc == 3) Q0T(2, 3);
                    else if (rn == 2 && cc == 2) Q0T(2, 2);
                    else if (rn == 2) Q0T(2, 1);
                    else if (cc == 3) Q0T(1, 3);
                    else if (cc == 2) Q0T(1, 2);
                    else Q0T(1, 1);
#undef Q0T
                }
            }
        }
    }
}

#define GEMM_Q0(T, WT, AT)                                                                         \
    static void gemm_##T##_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds,          \
                                const void *w, size_t ws, const void *y, size_t ys) {              \
        gemm_q0_avx2(WT, AT, n, nr, nc, s, lds, w, ws, y, ys);                                     \
    }
GEMM_Q0(q5_0, VLKV_TYPE_Q5_0, VLKV_TYPE_Q8_0)
GEMM_Q0(q8_0, VLKV_TYPE_Q8_0, VLKV_TYPE_Q8_0)
GEMM_Q0(q5_1, VLKV_TYPE_Q5_1, VLKV_TYPE_Q8_1)

/* ==== gemm for 4-bit weights (Q4_0 x Q8_0, Q4_1 x Q8_1): block-interleaved ======================
 * Eight 32-element blocks are transposed as an 8x8 matrix of 4-byte groups (weights when a row
 * tile is repacked, activations once per column block), so int32 lane j of a vpmaddwd result
 * always belongs to block j. With u <= 15 and |q| <= 127 a vpmaddubsw lane is <= 3810, so the
 * eight steps covering the 8 blocks accumulate in int16 (<= 30480) before one vpmaddwd, one
 * conversion and one FMA with the 8 per-block d_x*d_y products: ~2.2 instead of 4 vector ops per
 * 32 MACs per (row, column). Same correction terms as the q0 path. */

struct q4i_rows {
    uint8_t u[GR][KCB * 32];   /* interleaved per group of 8 blocks */
    float d[GR][KCB];
    float a[GR][KCB];
};

struct q4i_cols {
    int8_t q[CBLK][KCB * 32];  /* interleaved like the weights */
    float d[CBLK][KCB];
    float b[CBLK][KCB];
};

AVX2_INLINE void transpose8x8_epi32(__m256i v[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
    }
}

/* kn blocks from kb0, padded with zero blocks to a multiple of 8 */
static void q4i_repack_row(enum vlkv_type t, const void *row, int64_t kb0, int kn, uint8_t *u, float *d, float *a) {
    for (int g = 0; g < kn; g += 8) {
        __m256i v[8];
        for (int j = 0; j < 8; j++) {
            const int b = g + j;
            if (b >= kn) {
                v[j] = _mm256_setzero_si256();
                d[b] = a[b] = 0.0f;
            } else if (t == VLKV_TYPE_Q4_0) {
                const block_q4_0 *x = (const block_q4_0 *)row + kb0 + b;
                v[j] = unpack_nibbles32(x->qs);
                d[b] = FP16(x->d);
                a[b] = -8.0f * d[b];
            } else {
                const block_q4_1 *x = (const block_q4_1 *)row + kb0 + b;
                v[j] = unpack_nibbles32(x->qs);
                d[b] = FP16(x->d);
                a[b] = FP16(x->m);
            }
        }
        transpose8x8_epi32(v);
        for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(u + 32 * (g + j)), v[j]);
    }
}

static void q4i_prep_col(enum vlkv_type act, const void *col, int64_t kb0, int kn, int8_t *q, float *d, float *bb) {
    const size_t yblk = act == VLKV_TYPE_Q8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const char *base = (const char *)col + kb0 * yblk;
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int g = 0; g < kn; g += 8) {
        __m256i v[8];
        for (int j = 0; j < 8; j++) {
            const int b = g + j;
            if (b >= kn) {
                v[j] = _mm256_setzero_si256();
                d[b] = bb[b] = 0.0f;
                continue;
            }
            const char *blk = base + (size_t)b * yblk;
            v[j] = _mm256_loadu_si256((const __m256i *)(blk + yblk - 32));
            vlkv_f16 hd;
            memcpy(&hd, blk, 2);
            d[b] = FP16(hd);
            if (act == VLKV_TYPE_Q8_1) {
                vlkv_f16 hs;
                memcpy(&hs, blk + 2, 2);
                bb[b] = FP16(hs);
            } else {
                const int sum = hsum_i32x8(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v[j]), ones16));
                bb[b] = d[b] * (float)sum;
            }
        }
        transpose8x8_epi32(v);
        for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(q + 32 * (g + j)), v[j]);
    }
}

AVX2_INLINE void q4i_tile(const int RR, const int CC, const struct q4i_rows *R, const struct q4i_cols *C, int c0,
                          int kn, float *s, size_t lds, int first) {
    const int kp = (kn + 7) / 8 * 8;
    float prod[GR][GC][KCB] __attribute__((aligned(32)));
    __m256 acc[GR][GC];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < RR; r++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) {
            acc[r][c] = _mm256_setzero_ps();
            for (int b = 0; b < kp; b += 8)
                _mm256_store_ps(&prod[r][c][b], _mm256_mul_ps(_mm256_loadu_ps(&R->d[r][b]), _mm256_loadu_ps(&C->d[c0 + c][b])));
        }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int g = 0; g < kp; g += 8) {
        __m256i a16[GR][GC];
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++)
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++) a16[r][c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 8")
        for (int t = 0; t < 8; t++) {
            __m256i yv[GC];   /* activations in registers, weights streamed: 7 loads per 12 vpmaddubsw */
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++) yv[c] = _mm256_loadu_si256((const __m256i *)&C->q[c0 + c][32 * (g + t)]);
            _Pragma("GCC unroll 4")
            for (int r = 0; r < RR; r++) {
                const __m256i w = _mm256_loadu_si256((const __m256i *)&R->u[r][32 * (g + t)]);
                _Pragma("GCC unroll 4")
                for (int c = 0; c < CC; c++) a16[r][c] = _mm256_add_epi16(a16[r][c], _mm256_maddubs_epi16(w, yv[c]));
            }
        }
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++)
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++)
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(a16[r][c], ones)),
                                            _mm256_load_ps(&prod[r][c][g]), acc[r][c]);
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++)
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++) {
            const float v = hsum_f32x8(acc[r][c]) + dot_f32_short(kn, R->a[r], C->b[c0 + c]);
            float *o = &s[(size_t)c * lds + r];
            *o = first ? v : *o + v;
        }
}

static void gemm_q4i_avx2(enum vlkv_type wt, enum vlkv_type act, int64_t n, int64_t nr, int64_t nc, float *s,
                          size_t lds, const void *w, size_t ws, const void *y, size_t ys) {
    const int64_t nb = n / 32;
    static _Thread_local struct q4i_rows R;   /* 20 KB */
    static _Thread_local struct q4i_cols C;   /* 240 KB */
    for (int64_t cb = 0; cb < nc; cb += CBLK) {
        const int cn = (int)VLKV_MIN_I(CBLK, nc - cb);
        for (int64_t kb0 = 0; kb0 < nb; kb0 += KCB) {
            const int kn = (int)VLKV_MIN_I(KCB, nb - kb0);
            for (int c = 0; c < cn; c++)
                q4i_prep_col(act, (const char *)y + (cb + c) * ys, kb0, kn, C.q[c], C.d[c], C.b[c]);
            for (int64_t r0 = 0; r0 < nr; r0 += GR) {
                const int rn = (int)VLKV_MIN_I(GR, nr - r0);
                for (int r = 0; r < rn; r++) q4i_repack_row(wt, (const char *)w + (r0 + r) * ws, kb0, kn, R.u[r], R.d[r], R.a[r]);
                for (int c = 0; c < cn; c += GC) {
                    const int cc = VLKV_MIN_I(GC, cn - c);
                    float *so = s + (size_t)(cb + c) * lds + r0;
                    const int first = kb0 == 0;
#define Q4T(a, b) q4i_tile(a, b, &R, &C, c, kn, so, lds, first)
                    if (rn == 4 && cc == 3) Q4T(4, 3);
                    else if (rn == 4 && cc == 2) Q4T(4, 2);
                    else if (rn == 4) Q4T(4, 1);
                    else if (rn == 3 && cc == 3) Q4T(3, 3);
                    else if (rn == 3 && cc == 2) Q4T(3, 2);
                    else if (rn == 3) Q4T(3, 1);
                    else if (rn == 2 && cc == 3) Q4T(2, 3);
                    else if (rn == 2 && cc == 2) Q4T(2, 2);
                    else if (rn == 2) Q4T(2, 1);
                    else if (cc == 3) Q4T(1, 3);
                    else if (cc == 2) Q4T(1, 2);
                    else Q4T(1, 1);
#undef Q4T
                }
            }
        }
    }
}

static void gemm_q4_0_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *w, size_t ws,
                           const void *y, size_t ys) {
    gemm_q4i_avx2(VLKV_TYPE_Q4_0, VLKV_TYPE_Q8_0, n, nr, nc, s, lds, w, ws, y, ys);
}
static void gemm_q4_1_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *w, size_t ws,
                           const void *y, size_t ys) {
    gemm_q4i_avx2(VLKV_TYPE_Q4_1, VLKV_TYPE_Q8_1, n, nr, nc, s, lds, w, ws, y, ys);
}

/* ==== gemm for the K-quants (Q4_K, Q5_K, Q6_K x Q8_K) ============================================
 * Repacked per row and super-block: 256 unsigned quants u, eight int16x16 scale vectors (one
 * per 32 elements, lanes 0..7 / 8..15 for the two 16-element halves), one int16x16 vector mv
 * paired with the Q8_K bsums, and floats dd (super-block scale) and dm (scale of the mv term):
 *   Q4_K/Q5_K: x = d sc u - dmin mn     => mv[g] = mn[g/2],   dm = -dmin
 *   Q6_K:      x = d sc (u - 32)        => mv[g] = -32 sc[g], dm = d
 * Inner loop per 32 elements and (row, column): maddubs, madd (scales), add: all integer. */

#define KKB 16          /* super-blocks per K-chunk (4096 elements) */

struct qk_rows {
    uint8_t u[GR][KKB * QK_K];
    __m256i sc[GR][KKB * 8];
    __m256i mv[GR][KKB];
    float dd[GR][KKB];
    float dm[GR][KKB];
};

static void qk_repack_row(enum vlkv_type t, const void *row, int64_t kb0, int kn, struct qk_rows *R, int r) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int b = 0; b < kn; b++) {
        uint8_t *u = R->u[r] + QK_K * b;
        int16_t mv[16];
        if (t == VLKV_TYPE_Q6_K) {
            const block_q6_K *x = (const block_q6_K *)row + kb0 + b;
            const __m256i m3 = _mm256_set1_epi8(3);
            for (int h = 0; h < 2; h++) {
                const __m256i b1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
                const __m256i b2 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
                const __m256i bh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
                __m256i *o = (__m256i *)(u + 128 * h);
                _mm256_storeu_si256(o + 0, _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(bh, m3), 4)));
                _mm256_storeu_si256(o + 1, _mm256_or_si256(_mm256_and_si256(b2, m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m3), 4)));
                _mm256_storeu_si256(o + 2, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m3), 4)));
                _mm256_storeu_si256(o + 3, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m3), 4)));
            }
            for (int k = 0; k < 8; k++) R->sc[r][8 * b + k] = q6_scale_pair(x->scales + 2 * k);
            for (int g = 0; g < 16; g++) mv[g] = (int16_t)(-32 * x->scales[g]);
            R->dd[r][b] = FP16(x->d);
            R->dm[r][b] = R->dd[r][b];
        } else {
            const uint8_t *scales, *qs;
            float d, dmin;
            __m256i hb = _mm256_setzero_si256();
            if (t == VLKV_TYPE_Q4_K) {
                const block_q4_K *x = (const block_q4_K *)row + kb0 + b;
                scales = x->scales; qs = x->qs; d = FP16(x->d); dmin = FP16(x->dmin);
            } else {
                const block_q5_K *x = (const block_q5_K *)row + kb0 + b;
                scales = x->scales; qs = x->qs; d = FP16(x->d); dmin = FP16(x->dmin);
                hb = _mm256_loadu_si256((const __m256i *)x->qh);
            }
            const __m256i m1 = _mm256_set1_epi8(1);
            for (int c = 0; c < 4; c++) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, m1), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), m1), 4));
                hb = _mm256_srli_epi16(hb, 2);
                _mm256_storeu_si256((__m256i *)(u + 64 * c), lo);
                _mm256_storeu_si256((__m256i *)(u + 64 * c + 32), hi);
            }
            uint8_t sc[8], mn[8];
            k4_scales(scales, sc, mn);
            for (int k = 0; k < 8; k++) R->sc[r][8 * b + k] = _mm256_set1_epi16(sc[k]);
            for (int g = 0; g < 16; g++) mv[g] = mn[g / 2];
            R->dd[r][b] = d;
            R->dm[r][b] = -dmin;
        }
        R->mv[r][b] = _mm256_loadu_si256((const __m256i *)mv);
    }
}

AVX2_INLINE void qk_tile(const int RR, const int CC, const struct qk_rows *R, const char *ycols, size_t ys,
                         int64_t kb0, int kn, float *s, size_t lds, int first) {
    __m256 acc[GR][GC];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < RR; r++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < kn; b++) {
        const block_q8_K *yb[GC];
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) yb[c] = (const block_q8_K *)(ycols + (size_t)c * ys) + kb0 + b;
        __m256i sumi[GR][GC];
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++)
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++) sumi[r][c] = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            _Pragma("GCC unroll 4")
            for (int r = 0; r < RR; r++) {
                const __m256i w = _mm256_loadu_si256((const __m256i *)(R->u[r] + QK_K * b + 32 * k));
                const __m256i sc = R->sc[r][8 * b + k];
                _Pragma("GCC unroll 4")
                for (int c = 0; c < CC; c++) {
                    const __m256i p = _mm256_maddubs_epi16(w, _mm256_loadu_si256((const __m256i *)(yb[c]->qs + 32 * k)));
                    sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_madd_epi16(sc, p));
                }
            }
        }
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)yb[c]->bsums);
            const float dy = yb[c]->d;
            _Pragma("GCC unroll 4")
            for (int r = 0; r < RR; r++) {
                const __m256i m = _mm256_madd_epi16(R->mv[r][b], bs);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[r][c]), _mm256_set1_ps(R->dd[r][b] * dy), acc[r][c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(R->dm[r][b] * dy), acc[r][c]);
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++)
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++) {
            const float v = hsum_f32x8(acc[r][c]);
            float *o = &s[(size_t)c * lds + r];
            *o = first ? v : *o + v;
        }
}

static void gemm_qk_avx2(enum vlkv_type wt, int64_t n, int64_t nr, int64_t nc, float *s, size_t lds,
                         const void *w, size_t ws, const void *y, size_t ys) {
    const int64_t nb = n / QK_K;
    static _Thread_local struct qk_rows R;   /* 80 KB: too big for comfortable thread stacks */
    for (int64_t cb = 0; cb < nc; cb += CBLK) {
        const int cn = (int)VLKV_MIN_I(CBLK, nc - cb);
        for (int64_t kb0 = 0; kb0 < nb; kb0 += KKB) {
            const int kn = (int)VLKV_MIN_I(KKB, nb - kb0);
            for (int64_t r0 = 0; r0 < nr; r0 += GR) {
                const int rn = (int)VLKV_MIN_I(GR, nr - r0);
                for (int r = 0; r < rn; r++) qk_repack_row(wt, (const char *)w + (r0 + r) * ws, kb0, kn, &R, r);
                for (int c = 0; c < cn; c += GC) {
                    const int cc = VLKV_MIN_I(GC, cn - c);
                    float *so = s + (size_t)(cb + c) * lds + r0;
                    const char *yc = (const char *)y + (cb + c) * ys;
                    const int first = kb0 == 0;
#define QKT(a, b) qk_tile(a, b, &R, yc, ys, kb0, kn, so, lds, first)
                    if (rn == 4 && cc == 3) QKT(4, 3);
                    else if (rn == 4 && cc == 2) QKT(4, 2);
                    else if (rn == 4) QKT(4, 1);
                    else if (rn == 3 && cc == 3) QKT(3, 3);
                    else if (rn == 3 && cc == 2) QKT(3, 2);
                    else if (rn == 3) QKT(3, 1);
                    else if (rn == 2 && cc == 3) QKT(2, 3);
                    else if (rn == 2 && cc == 2) QKT(2, 2);
                    else if (rn == 2) QKT(2, 1);
                    else if (cc == 3) QKT(1, 3);
                    else if (cc == 2) QKT(1, 2);
                    else QKT(1, 1);
#undef QKT
                }
            }
        }
    }
}

#define GEMM_QK(T, WT)                                                                             \
    static void gemm_##T##_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds,          \
                                const void *w, size_t ws, const void *y, size_t ys) {              \
        gemm_qk_avx2(WT, n, nr, nc, s, lds, w, ws, y, ys);                                         \
    }
GEMM_QK(q4_K, VLKV_TYPE_Q4_K)
GEMM_QK(q5_K, VLKV_TYPE_Q5_K)
GEMM_QK(q6_K, VLKV_TYPE_Q6_K)

/* ==== gemm for F32 / F16 weights (F32 / F16 activations): FMA 4x3 tile ==========================
 * F16 weight rows of a K-chunk are converted to f32 once per tile; activations are converted
 * on the fly (one vcvtph2ps per 8 elements and column, shared by 4 rows). */

#define KF 1024

AVX2_INLINE __m256 load8_act(const void *p, int f16) {
    return f16 ? load_f16x8((const vlkv_f16 *)p) : _mm256_loadu_ps((const float *)p);
}

AVX2_INLINE void f_tile(const int RR, const int CC, const int f16, float wbuf[GR][KF], const char *ycols, size_t ys,
                        int64_t k0, int kn, float *s, size_t lds, int first) {
    const size_t esz = f16 ? 2 : 4;
    __m256 acc[GR][GC];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < RR; r++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) acc[r][c] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= kn; k += 8) {
        __m256 yv[GC];
        _Pragma("GCC unroll 4")
        for (int c = 0; c < CC; c++) yv[c] = load8_act(ycols + (size_t)c * ys + (k0 + k) * esz, f16);
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++) {
            const __m256 wv = _mm256_loadu_ps(&wbuf[r][k]);
            _Pragma("GCC unroll 4")
            for (int c = 0; c < CC; c++) acc[r][c] = _mm256_fmadd_ps(wv, yv[c], acc[r][c]);
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < CC; c++)
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RR; r++) {
            float v = hsum_f32x8(acc[r][c]);
            for (int kk = k; kk < kn; kk++) {
                const char *yp = ycols + (size_t)c * ys + (k0 + kk) * esz;
                v += wbuf[r][kk] * (f16 ? FP16(*(const vlkv_f16 *)yp) : *(const float *)yp);
            }
            float *o = &s[(size_t)c * lds + r];
            *o = first ? v : *o + v;
        }
}

static void gemm_f_avx2(int f16, int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *w, size_t ws,
                        const void *y, size_t ys) {
    float wbuf[GR][KF] __attribute__((aligned(32)));
    for (int64_t cb = 0; cb < nc; cb += CBLK) {
        const int cn = (int)VLKV_MIN_I(CBLK, nc - cb);
        for (int64_t k0 = 0; k0 < n; k0 += KF) {
            const int kn = (int)VLKV_MIN_I(KF, n - k0);
            for (int64_t r0 = 0; r0 < nr; r0 += GR) {
                const int rn = (int)VLKV_MIN_I(GR, nr - r0);
                for (int r = 0; r < rn; r++) {
                    const char *row = (const char *)w + (r0 + r) * ws;
                    if (f16) {
                        const vlkv_f16 *h = (const vlkv_f16 *)row + k0;
                        int k = 0;
                        for (; k + 8 <= kn; k += 8) _mm256_storeu_ps(&wbuf[r][k], load_f16x8(h + k));
                        for (; k < kn; k++) wbuf[r][k] = FP16(h[k]);
                    } else {
                        memcpy(wbuf[r], (const float *)row + k0, (size_t)kn * 4);
                    }
                }
                for (int c = 0; c < cn; c += GC) {
                    const int cc = VLKV_MIN_I(GC, cn - c);
                    float *so = s + (size_t)(cb + c) * lds + r0;
                    const char *yc = (const char *)y + (cb + c) * ys;
                    const int first = k0 == 0;
#define FT(a, b) (f16 ? f_tile(a, b, 1, wbuf, yc, ys, k0, kn, so, lds, first) : f_tile(a, b, 0, wbuf, yc, ys, k0, kn, so, lds, first))
                    if (rn == 4 && cc == 3) FT(4, 3);
                    else if (rn == 4 && cc == 2) FT(4, 2);
                    else if (rn == 4) FT(4, 1);
                    else if (rn == 3 && cc == 3) FT(3, 3);
                    else if (rn == 3 && cc == 2) FT(3, 2);
                    else if (rn == 3) FT(3, 1);
                    else if (rn == 2 && cc == 3) FT(2, 3);
                    else if (rn == 2 && cc == 2) FT(2, 2);
                    else if (rn == 2) FT(2, 1);
                    else if (cc == 3) FT(1, 3);
                    else if (cc == 2) FT(1, 2);
                    else FT(1, 1);
#undef FT
                }
            }
        }
    }
}

static void gemm_f32_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *w, size_t ws,
                          const void *y, size_t ys) {
    gemm_f_avx2(0, n, nr, nc, s, lds, w, ws, y, ys);
}
static void gemm_f16_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *w, size_t ws,
                          const void *y, size_t ys) {
    gemm_f_avx2(1, n, nr, nc, s, lds, w, ws, y, ys);
}

/* ==== activation quantizers (bit-exact with the reference) ======================================= */

static void f32_to_f16_avx2(const float *x, vlkv_f16 *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = vlkv_f32_to_f16(x[i]);
}

static void f16_to_f32_avx2(const vlkv_f16 *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_f16x8(x + i));
    for (; i < n; i++) y[i] = FP16(x[i]);
}

static void from_float_f16_avx2(const float *x, void *y, int64_t n) { f32_to_f16_avx2(x, y, n); }

static inline __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* amax of 32 floats */
static inline float amax32(const float *x) {
    __m256 m = _mm256_max_ps(_mm256_max_ps(abs8(_mm256_loadu_ps(x)), abs8(_mm256_loadu_ps(x + 8))),
                             _mm256_max_ps(abs8(_mm256_loadu_ps(x + 16)), abs8(_mm256_loadu_ps(x + 24))));
    __m128 r = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* q = roundf(x * id) for 32 floats -> 32 int8 (and their int32 lanes summed into *sum) */
static inline void q8_round32(const float *x, float id, int8_t *q, int *sum) {
    const __m256 vid = _mm256_set1_ps(id);
    __m256i v[4];
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid)));
    _mm256_storeu_si256((__m256i *)q, pack_i32x32_to_i8(v[0], v[1], v[2], v[3]));
    if (sum) *sum = hsum_i32x8(_mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3])));
}

static void from_float_q8_0_avx2(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float amax = amax32(x + 32 * i);
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = vlkv_f32_to_f16(d);
        q8_round32(x + 32 * i, id, y[i].qs, NULL);
    }
}

static void from_float_q8_1_avx2(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float amax = amax32(x + 32 * i);
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = vlkv_f32_to_f16(d);
        int sum;
        q8_round32(x + 32 * i, id, y[i].qs, &sum);
        y[i].s = vlkv_f32_to_f16(sum * d);
    }
}

/* Q8_K: the first element of largest magnitude keeps its sign: iscale = -127 / max;
 * q = nearest_int (round half even, the default MXCSR mode of vcvtps2dq). */
static void from_float_q8_K_avx2(const float *x, void *vy, int64_t n) {
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
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i v[4];
            for (int j = 0; j < 4; j++) {
                v[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), vs));
                v[j] = _mm256_min_epi32(v[j], _mm256_set1_epi32(127));
            }
            _mm256_storeu_si256((__m256i *)(y[i].qs + k), pack_i32x32_to_i8(v[0], v[1], v[2], v[3]));
        }
        for (int g = 0; g < QK_K / 16; g++) {
            const __m128i q = _mm_loadu_si128((const __m128i *)(y[i].qs + 16 * g));
            const __m256i w = _mm256_cvtepi8_epi16(q);
            y[i].bsums[g] = (int16_t)hsum_i32x8(_mm256_madd_epi16(w, _mm256_set1_epi16(1)));
        }
        y[i].d = 1 / iscale;
    }
}

/* ==== dequantizers (same float operations as the reference: bit-exact) ========================= */

static void to_float_q4_0_avx2(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const __m256 d = _mm256_set1_ps(FP16(x[i].d));
        const __m256i q = _mm256_sub_epi8(unpack_nibbles32(x[i].qs), _mm256_set1_epi8(8));
        const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
        float *o = y + 32 * i;
        _mm256_storeu_ps(o, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(o + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(o + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(o + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}

static void to_float_q8_0_avx2(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(FP16(x[i].d));
        for (int k = 0; k < 4; k++) {
            const __m128i q = _mm_loadl_epi64((const __m128i *)(x[i].qs + 8 * k));
            _mm256_storeu_ps(y + 32 * i + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
        }
    }
}

static void to_float_f16_avx2(const void *x, float *y, int64_t n) { f16_to_f32_avx2(x, y, n); }

/* store 32 unsigned bytes as d*q - m (two roundings, as the reference) */
static inline void deq32_u8(__m256i q, float d, float m, float *o) {
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i parts[4] = { lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8) };
    for (int k = 0; k < 4; k++)
        _mm256_storeu_ps(o + 8 * k, _mm256_sub_ps(_mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]))), vm));
}

static void to_float_q4_K_avx2(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        k4_scales(x[i].scales, sc, mn);
        const float d = FP16(x[i].d), dmin = FP16(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            deq32_u8(_mm256_and_si256(bits, m4), d * sc[2 * c], dmin * mn[2 * c], y);
            deq32_u8(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), d * sc[2 * c + 1], dmin * mn[2 * c + 1], y + 32);
            y += 64;
        }
    }
}

/* ==== f32 helpers ================================================================================ */

static void axpy_f32_avx2(int64_t n, float a, const float *x, float *y) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16_avx2(int64_t n, float a, const vlkv_f16 *x, float *y) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16x8(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * FP16(x[i]);
}

static void rmsnorm_f32_avx2(int64_t n, const float *x, const float *w, float eps, float *y) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 sq = _mm256_mul_ps(v, v);   /* squares in float, sums in double (as the reference) */
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    double sum = hsum_f64x4(_mm256_add_pd(s0, s1));
    for (; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
    for (; i < n; i++) y[i] = x[i] * scale * w[i];
}

static void silu_mul_f32_avx2(int64_t n, const float *g, const float *u, float *y) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 gv = _mm256_loadu_ps(g + i);
        const __m256 e = exp_f32x8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(gv, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static float softmax_exp_f32_avx2(int64_t n, float *x, float max) {
    const __m256 vm = _mm256_set1_ps(max);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp_f32x8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double sum = hsum_f64x4(_mm256_add_pd(s0, s1));
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return (float)sum;
}

/* ==== k-major gemm (prefill attention) ==========================================================
 * Outer-product tile: 16 (or 8) consecutive weight rows in two (one) registers times KN_C
 * broadcast activations; the k loop runs in order with one FMA per element, as the reference. */

#define KN_C 6

AVX2_INLINE void kn_tile(const int RV, const int CC, int64_t n, const char *w, size_t ws, const char *y, size_t ys,
                         float *s, size_t lds, int acc) {
    __m256 a[2][KN_C];
    _Pragma("GCC unroll 2")
    for (int r = 0; r < RV; r++)
        _Pragma("GCC unroll 6")
        for (int c = 0; c < CC; c++) a[r][c] = _mm256_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        const float *wk = (const float *)(w + k * (int64_t)ws);
        const __m256 w0 = _mm256_loadu_ps(wk);
        const __m256 w1 = RV > 1 ? _mm256_loadu_ps(wk + 8) : w0;
        _Pragma("GCC unroll 6")
        for (int c = 0; c < CC; c++) {
            const __m256 b = _mm256_broadcast_ss((const float *)(y + c * (int64_t)ys) + k);
            a[0][c] = _mm256_fmadd_ps(w0, b, a[0][c]);
            if (RV > 1) a[1][c] = _mm256_fmadd_ps(w1, b, a[1][c]);
        }
    }
    _Pragma("GCC unroll 6")
    for (int c = 0; c < CC; c++)
        _Pragma("GCC unroll 2")
        for (int r = 0; r < RV; r++) {
            float *o = s + c * (int64_t)lds + 8 * r;
            _mm256_storeu_ps(o, acc ? _mm256_add_ps(_mm256_loadu_ps(o), a[r][c]) : a[r][c]);
        }
}

static void gemm_kn_f32_avx2(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const float *w, size_t ws,
                             const float *y, size_t ys, int acc) {
    int64_t r0 = 0;
    for (; r0 + 8 <= nr; ) {
        const int RV = r0 + 16 <= nr ? 2 : 1;
        const char *wr = (const char *)(w + r0);
        for (int64_t c0 = 0; c0 < nc; c0 += KN_C) {
            const int cc = (int)VLKV_MIN_I(KN_C, nc - c0);
            const char *yc = (const char *)y + c0 * (int64_t)ys;
            float *so = s + c0 * (int64_t)lds + r0;
#define KT(R, C) kn_tile(R, C, n, wr, ws, yc, ys, so, lds, acc)
            if (RV == 2) {
                switch (cc) {
                case 6: KT(2, 6); break; case 5: KT(2, 5); break; case 4: KT(2, 4); break;
                case 3: KT(2, 3); break; case 2: KT(2, 2); break; default: KT(2, 1); break;
                }
            } else {
                switch (cc) {
                case 6: KT(1, 6); break; case 5: KT(1, 5); break; case 4: KT(1, 4); break;
                case 3: KT(1, 3); break; case 2: KT(1, 2); break; default: KT(1, 1); break;
                }
            }
#undef KT
        }
        r0 += 8 * RV;
    }
    vlkv_gemm_kn_rows(n, r0, nr, nc, s, lds, w, ws, y, ys, acc);   /* rows past the last multiple of 8 */
}

/* ==== table ======================================================================================== */

void vlkv_kernels_init_avx2(struct vlkv_kernels *k) {
    vlkv_kernels_init_ref(k);
    k->isa = VLKV_ISA_AVX2;
    k->name = "avx2";
#define SET(TYPE, T) do { k->vec_dot[TYPE] = vec_dot_##T##_avx2; k->gemv[TYPE] = gemv_##T##_avx2; \
                          k->gemm[TYPE] = gemm_##T##_avx2; } while (0)
    SET(VLKV_TYPE_F32, f32);
    SET(VLKV_TYPE_F16, f16);
    SET(VLKV_TYPE_Q4_0, q4_0);
    SET(VLKV_TYPE_Q4_1, q4_1);
    SET(VLKV_TYPE_Q5_0, q5_0);
    SET(VLKV_TYPE_Q5_1, q5_1);
    SET(VLKV_TYPE_Q8_0, q8_0);
    SET(VLKV_TYPE_Q4_K, q4_K);
    SET(VLKV_TYPE_Q5_K, q5_K);
    SET(VLKV_TYPE_Q6_K, q6_K);
#undef SET
    k->gemm_kn_f32 = gemm_kn_f32_avx2;
    k->gemv_rp[VLKV_TYPE_Q4_0] = gemv_rp_q4_0_avx2;
    k->gemm_rp[VLKV_TYPE_Q4_0] = gemm_rp_q4_0_avx2;
    k->gemv_rp[VLKV_TYPE_Q8_0] = gemv_rp_q8_0_avx2;
    k->gemm_rp[VLKV_TYPE_Q8_0] = gemm_rp_q8_0_avx2;
    k->gemv_rp[VLKV_TYPE_Q4_K] = gemv_rp_q4_K_avx2;
    k->gemm_rp[VLKV_TYPE_Q4_K] = gemm_rp_q4_K_avx2;
    k->gemv_rp[VLKV_TYPE_F16] = gemv_rp_f16_avx2;
    k->gemm_rp[VLKV_TYPE_F16] = gemm_rp_f16_avx2;
    k->from_float[VLKV_TYPE_F16] = from_float_f16_avx2;
    k->from_float[VLKV_TYPE_Q8_0] = from_float_q8_0_avx2;
    k->from_float[VLKV_TYPE_Q8_1] = from_float_q8_1_avx2;
    k->from_float[VLKV_TYPE_Q8_K] = from_float_q8_K_avx2;
    k->to_float[VLKV_TYPE_F16] = to_float_f16_avx2;
    k->to_float[VLKV_TYPE_Q4_0] = to_float_q4_0_avx2;
    k->to_float[VLKV_TYPE_Q8_0] = to_float_q8_0_avx2;
    k->to_float[VLKV_TYPE_Q4_K] = to_float_q4_K_avx2;

    k->dot_f32 = dot_f32_avx2;
    k->dot_f16_f32 = dot_f16_f32_avx2;
    k->axpy_f32 = axpy_f32_avx2;
    k->axpy_f16 = axpy_f16_avx2;
    k->f32_to_f16 = f32_to_f16_avx2;
    k->f16_to_f32 = f16_to_f32_avx2;
    k->rmsnorm_f32 = rmsnorm_f32_avx2;
    k->silu_mul_f32 = silu_mul_f32_avx2;
    k->softmax_exp_f32 = softmax_exp_f32_avx2;
}
