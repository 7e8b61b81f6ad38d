/* test_kernels.c - every kernel-table entry of every ISA table this CPU can run (avx2, neon)
 * against the scalar reference table, at sizes 1..2*STEP+7 (block multiples for quant types),
 * at real model sizes (4096, 11008) and on pointers that are off the SIMD alignment. The
 * reference table itself is checked against an independent formula: dequantize both operands
 * with the dtype table and take the dot product in double.
 *
 * Tolerances. Quantized dot products compute the same exact integer sum per block in every
 * ISA; only the float accumulation of the per-block terms (d_x*d_y*sumi, m*s) differs in
 * order, so |simd - ref| <= (n_blocks + 4) * 2^-23 * sum_b |term_b| (the recursive-summation
 * bound with a float unit roundoff); we bound sum_b |term_b| by sum_i |x_i y_i| of the
 * dequantized values, plus the min terms. f32/f16 dot products: the reference sums in double,
 * SIMD in float with several accumulators: |err| <= n * 2^-24 * sum |x_i y_i| (gamma_n).
 * Conversions (f16, bf16, q8 quantizers) must be bit-exact. Elementwise functions with an exp
 * approximation get 4e-6 relative (a few ulp). */
#include "simd.h"
#include "types.h"
#include "test_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ULP 1.1920929e-07   /* 2^-23 */

static test_rng g_rng = { 0x9e3779b97f4a7c15ULL };

/* allocation with room for an offset */
static void *xalloc(size_t n) {
    const size_t sz = (n + 256 + 63) / 64 * 64;
    void *p = aligned_alloc(64, sz);
    if (!p) abort();
    memset(p, 0, sz);
    return p;
}

static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_f32(&g_rng) * scale;
    /* a few outliers, as real activations have */
    for (int64_t i = 0; i < n / 97; i++) x[(rng_u64(&g_rng) >> 11) % (uint64_t)n] *= 8.0f;
}

static const enum vlkv_type k_weight_types[] = {
    VLKV_TYPE_F32, VLKV_TYPE_F16, VLKV_TYPE_BF16, VLKV_TYPE_Q4_0, VLKV_TYPE_Q4_1, VLKV_TYPE_Q5_0,
    VLKV_TYPE_Q5_1, VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_K, VLKV_TYPE_Q5_K, VLKV_TYPE_Q6_K,
};
static const enum vlkv_type k_act_types[] = {
    VLKV_TYPE_F32, VLKV_TYPE_F16, VLKV_TYPE_BF16, VLKV_TYPE_Q8_0, VLKV_TYPE_Q8_1, VLKV_TYPE_Q8_K,
};
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* sizes to test for a block size: 1..2*STEP+7 elements (STEP = 32 floats for AVX2's 4x8
 * accumulators, 16 for NEON's 4x4) or 1..9 blocks, then the model sizes */
static int make_sizes(int blck, int64_t *sizes) {
    int n = 0;
    if (blck == 1) {
        for (int i = 1; i <= 2 * 32 + 7; i++) sizes[n++] = i;
        sizes[n++] = 127; sizes[n++] = 128; sizes[n++] = 129;
    } else {
        for (int i = 1; i <= 9; i++) sizes[n++] = (int64_t)i * blck;
    }
    sizes[n++] = 4096;
    sizes[n++] = 11008;
    return n;
}

/* |x_i y_i| summed in double over dequantized rows, and the exact dot (y of type vt) */
static void deq_dot_act(enum vlkv_type wt, enum vlkv_type vt, const void *w, const void *y, int64_t n, double *dot,
                        double *absdot, float *tw, float *ty) {
    vlkv_type_traits_get(wt)->to_float(w, tw, n);
    vlkv_type_traits_get(vt)->to_float(y, ty, n);
    double s = 0, a = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)tw[i] * ty[i];
        a += fabs((double)tw[i] * ty[i]);
    }
    *dot = s;
    *absdot = a;
}

static void deq_dot(enum vlkv_type wt, const void *w, const void *y, int64_t n, double *dot, double *absdot,
                    float *tw, float *ty) {
    deq_dot_act(wt, vlkv_type_traits_get(wt)->vec_dot_type, w, y, n, dot, absdot, tw, ty);
}

/* Extra magnitude from the Q4_1/Q5_1 (m * s) and K-quant (dmin * mn * bsum) correction terms,
 * which are not part of sum |x y| of the dequantized values. */
static double min_terms(enum vlkv_type wt, const float *tw, const float *ty, int64_t n) {
    /* Q4_0/Q5_0 kernels may also split x = d (u - o) into d u and -o d (unsigned vpmaddubsw):
     * |d u| + |o d| <= (15 + 8) d <= 3 max|x| for Q4_0, (31 + 16) d <= 3 max|x| for Q5_0 */
    const double f = (wt == VLKV_TYPE_Q4_0 || wt == VLKV_TYPE_Q5_0) ? 3 :
                     (wt == VLKV_TYPE_Q4_1 || wt == VLKV_TYPE_Q5_1 || wt == VLKV_TYPE_Q4_K || wt == VLKV_TYPE_Q5_K) ? 2 : 0;
    if (f == 0) return 0;
    double a = 0, maxw = 0;
    for (int64_t i = 0; i < n; i++) if (fabs(tw[i]) > maxw) maxw = fabs(tw[i]);
    for (int64_t i = 0; i < n; i++) a += f * maxw * fabs(ty[i]);
    return a;
}

/* ---- the reference table against dequantize + double dot -------------------------------- */

static void test_ref_against_formula(const struct vlkv_kernels *ref) {
    for (size_t it = 0; it < LEN(k_weight_types); it++) {
        const enum vlkv_type wt = k_weight_types[it];
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(wt);
        const enum vlkv_type vt = tr->vec_dot_type;
        const int64_t n = 4096;
        float *xf = xalloc(n * 4), *yf = xalloc(n * 4), *tw = xalloc(n * 4), *ty = xalloc(n * 4);
        void *w = xalloc(vlkv_row_size(wt, n)), *y = xalloc(vlkv_row_size(vt, n));
        fill(xf, n, 1.0f);
        fill(yf, n, 1.0f);
        tr->from_float(xf, w, n);
        ref->from_float[vt](yf, y, n);
        double dot, absdot;
        deq_dot(wt, w, y, n, &dot, &absdot, tw, ty);
        float s = 0;
        ref->vec_dot[wt](n, &s, w, y);
        const double tol = (n / tr->blck + 8) * ULP * (absdot + min_terms(wt, tw, ty, n));
        CHECK_MSG(fabs(s - dot) <= tol, "ref vec_dot %s: %.9g vs formula %.9g (tol %.3g)", tr->name, s, dot, tol);
        free(xf); free(yf); free(tw); free(ty); free(w); free(y);
    }
}

/* ---- one ISA table against the reference ------------------------------------------------ */

static int64_t g_compared;

static void test_dots(const struct vlkv_kernels *k, const struct vlkv_kernels *ref) {
    for (size_t it = 0; it < LEN(k_weight_types); it++) {
        const enum vlkv_type wt = k_weight_types[it];
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(wt);
        const enum vlkv_type vt = tr->vec_dot_type;
        const struct vlkv_type_traits *vtr = vlkv_type_traits_get(vt);
        if (!k->vec_dot[wt]) continue;
        CHECK_MSG(k->gemv[wt] && k->gemm[wt], "%s %s: gemv/gemm missing", k->name, tr->name);
        int64_t sizes[96];
        const int ns = make_sizes(tr->blck, sizes);
        /* weight and activation layouts are only 2-byte (f16 fields) or 4-byte aligned in GGUF
         * rows; offsetting by one such unit breaks every SIMD alignment without breaking C
         * alignment rules (UBSan runs these tests). */
        const size_t walign = (wt == VLKV_TYPE_F32) ? 4 : 2;
        const size_t yalign = (vt == VLKV_TYPE_F32 || vt == VLKV_TYPE_Q8_K) ? 4 : 2;
        for (int is = 0; is < ns; is++) {
            const int64_t n = sizes[is];
            const int nr = 5, nc = 6;   /* gemm tile edges: 5 x 6 crosses 4 x 4 register tiles */
            const size_t wrs = vlkv_row_size(wt, n), yrs = vlkv_row_size(vt, n);
            const size_t wstride = wrs + walign * 3, ystride = yrs + yalign;   /* non-multiple strides */
            float *xf = xalloc(n * 4), *tw = xalloc(n * 4), *ty = xalloc(n * 4);
            char *wbuf = xalloc(wstride * nr), *ybuf = xalloc(ystride * nc);
            const int off = (int)(is % 4);
            char *w = wbuf + off * walign, *y = ybuf + ((is + 1) % 4) * yalign;
            for (int r = 0; r < nr; r++) {
                fill(xf, n, 1.0f + r);
                tr->from_float(xf, w + r * wstride, n);
            }
            for (int c = 0; c < nc; c++) {
                fill(xf, n, 0.5f + c);
                vtr->from_float(xf, y + c * ystride, n);
            }
            double tol[8][8];
            float sref[8][8];
            for (int c = 0; c < nc; c++)
                for (int r = 0; r < nr; r++) {
                    double dot, absdot;
                    deq_dot(wt, w + r * wstride, y + c * ystride, n, &dot, &absdot, tw, ty);
                    const double mt = min_terms(wt, tw, ty, n);
                    tol[c][r] = (wt <= VLKV_TYPE_F16 || wt == VLKV_TYPE_BF16)
                                    ? (n + 8) * ULP / 2 * absdot + 1e-30
                                    : (n / tr->blck + 8) * ULP * (absdot + mt) + 1e-30;
                    ref->vec_dot[wt](n, &sref[c][r], w + r * wstride, y + c * ystride);
                }
            /* vec_dot */
            for (int c = 0; c < nc; c++)
                for (int r = 0; r < nr; r++) {
                    float s = -1e30f;
                    k->vec_dot[wt](n, &s, w + r * wstride, y + c * ystride);
                    CHECK_MSG(fabs(s - sref[c][r]) <= tol[c][r], "%s vec_dot %s n=%lld: %.9g vs ref %.9g",
                              k->name, tr->name, (long long)n, s, sref[c][r]);
                }
            /* gemv over nr rows */
            float sv[8] = {0};
            k->gemv[wt](n, nr, sv, w, wstride, y + ystride);
            for (int r = 0; r < nr; r++)
                CHECK_MSG(fabs(sv[r] - sref[1][r]) <= tol[1][r], "%s gemv %s n=%lld row %d: %.9g vs %.9g",
                          k->name, tr->name, (long long)n, r, sv[r], sref[1][r]);
            /* gemm: every (nr', nc') sub-shape up to 5 x 6 to cover tile remainders */
            for (int mr = 1; mr <= nr; mr++)
                for (int mc = 1; mc <= nc; mc++) {
                    if (n > 1024 && !(mr == nr && mc == nc)) continue;   /* big sizes: full shape only */
                    float sm[8 * 8];
                    const size_t lds = 7;
                    for (int i = 0; i < 64; i++) sm[i] = -7.0f;
                    k->gemm[wt](n, mr, mc, sm, lds, w, wstride, y, ystride);
                    int bad = 0;
                    for (int c = 0; c < mc; c++)
                        for (int r = 0; r < mr; r++)
                            if (!(fabs(sm[c * lds + r] - sref[c][r]) <= tol[c][r])) bad++;
                    for (int c = 0; c < mc; c++)               /* untouched outside the tile */
                        for (int r = mr; r < (int)lds; r++) bad += sm[c * lds + r] != -7.0f;
                    CHECK_MSG(bad == 0, "%s gemm %s n=%lld %dx%d: %d wrong", k->name, tr->name,
                              (long long)n, mr, mc, bad);
                }
            g_compared++;
            free(xf); free(tw); free(ty); free(wbuf); free(ybuf);
        }
    }
}

/* gemm across register-tile, row-tile and column-block boundaries (the AVX2 gemm blocks 48
 * columns and 4 rows; 53 x 9 leaves remainders everywhere), compared with the ref vec_dot */
static void test_gemm_big(const struct vlkv_kernels *k, const struct vlkv_kernels *ref) {
    enum { NR = 9, NC = 53 };
    for (size_t it = 0; it < LEN(k_weight_types); it++) {
        const enum vlkv_type wt = k_weight_types[it];
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(wt);
        const enum vlkv_type vt = tr->vec_dot_type;
        if (!k->gemm[wt] || k->gemm[wt] == ref->gemm[wt]) continue;
        const int64_t n = tr->blck == 1 ? 1031 : tr->blck * (tr->blck == 32 ? 133 : 17);   /* > one K-chunk */
        const size_t wrs = vlkv_row_size(wt, n), yrs = vlkv_row_size(vt, n);
        float *xf = xalloc(n * 4), *tw = xalloc(n * 4), *ty = xalloc(n * 4);
        char *w = xalloc(wrs * NR), *y = xalloc(yrs * NC);
        float *sm = xalloc(sizeof(float) * NR * NC);
        for (int r = 0; r < NR; r++) { fill(xf, n, 1.0f); tr->from_float(xf, w + r * wrs, n); }
        for (int c = 0; c < NC; c++) { fill(xf, n, 1.0f); vlkv_type_traits_get(vt)->from_float(xf, y + c * yrs, n); }
        k->gemm[wt](n, NR, NC, sm, NR, w, wrs, y, yrs);
        int bad = 0;
        for (int c = 0; c < NC; c++)
            for (int r = 0; r < NR; r++) {
                double dot, absdot;
                deq_dot(wt, w + r * wrs, y + c * yrs, n, &dot, &absdot, tw, ty);
                const double tol = (n / tr->blck + 8) * ULP * (absdot + min_terms(wt, tw, ty, n)) + 1e-30;
                float sr;
                ref->vec_dot[wt](n, &sr, w + r * wrs, y + c * yrs);
                bad += !(fabs(sm[c * NR + r] - sr) <= tol);
            }
        CHECK_MSG(bad == 0, "%s gemm %s %dx%d n=%lld: %d wrong", k->name, tr->name, NR, NC, (long long)n, bad);
        free(xf); free(tw); free(ty); free(w); free(y); free(sm);
    }
}

static void test_converters(const struct vlkv_kernels *k, const struct vlkv_kernels *ref) {
    /* activation quantizers: bit-exact with the reference */
    for (size_t it = 0; it < LEN(k_act_types); it++) {
        const enum vlkv_type t = k_act_types[it];
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(t);
        if (!k->from_float[t]) continue;
        int64_t sizes[96];
        const int ns = make_sizes(tr->blck, sizes);
        for (int is = 0; is < ns; is++) {
            const int64_t n = sizes[is];
            const size_t rs = vlkv_row_size(t, n);
            float *xb = xalloc(n * 4 + 16);
            float *x = xb + is % 4;
            fill(x, n, (float)(1 + is % 3));
            if (is % 5 == 0) for (int64_t i = 0; i < n && i < 32; i++) x[i] = 0.0f;   /* a zero block */
            if (n >= 4 && is % 2 == 1) {   /* amax 127 => d = 1: exact .5 ties test the rounding mode */
                x[0] = 127.0f; x[1] = 2.5f; x[2] = -3.5f; x[3] = 0.5f;
            }
            char *a = xalloc(rs + 8), *b = xalloc(rs + 8);
            ref->from_float[t](x, a, n);
            k->from_float[t](x, b + 4, n);
            CHECK_MSG(memcmp(a, b + 4, rs) == 0, "%s from_float %s n=%lld differs", k->name, tr->name, (long long)n);
            free(xb); free(a); free(b);
        }
    }
    /* dequantizers: the ISA may fuse d*q - m into one FMA: 2 ulp of the operand magnitudes */
    for (size_t it = 0; it < LEN(k_weight_types); it++) {
        const enum vlkv_type t = k_weight_types[it];
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(t);
        if (!k->to_float[t]) continue;
        int64_t sizes[96];
        const int ns = make_sizes(tr->blck, sizes);
        for (int is = 0; is < ns; is++) {
            const int64_t n = sizes[is];
            float *x = xalloc(n * 4), *a = xalloc(n * 4), *b = xalloc(n * 4 + 16);
            char *q = xalloc(vlkv_row_size(t, n) + 8);
            fill(x, n, 3.0f);
            tr->from_float(x, q + 2, n);
            ref->to_float[t](q + 2, a, n);
            k->to_float[t](q + 2, b + 1 + is % 3, n);
            double amax = 0;
            for (int64_t i = 0; i < n; i++)   /* (no fmax(): GCC 12 aarch64 ICEs vectorizing it) */
                if (fabs(a[i]) > amax) amax = fabs(a[i]);
            CHECK_MSG(max_abs_diff(a, b + 1 + is % 3, n) <= 4 * ULP * amax, "%s to_float %s n=%lld: %g",
                      k->name, tr->name, (long long)n, max_abs_diff(a, b + 1 + is % 3, n));
            free(x); free(a); free(b); free(q);
        }
    }
    /* f32 <-> f16 rows: bit-exact, including inf, nan, subnormals and ties (random bit patterns) */
    if (k->f32_to_f16 != ref->f32_to_f16) {
        for (int64_t n = 1; n <= 2 * 32 + 7; n++) {
            float *x = xalloc(n * 4 + 16);
            vlkv_f16 *a = xalloc(n * 2), *b = xalloc(n * 2 + 16);
            for (int64_t i = 0; i < n; i++) {
                uint32_t u = (uint32_t)rng_u64(&g_rng);
                if (i % 3 == 0) u = (u & 0x807fffffu) | ((uint32_t)(100 + (u >> 9) % 60) << 23);  /* near f16 range */
                if (i % 5 == 0) u &= 0xffffe000u, u |= 0x1000u;                                  /* exact ties */
                memcpy(&x[i + n % 3], &u, 4);
            }
            ref->f32_to_f16(x + n % 3, a, n);
            k->f32_to_f16(x + n % 3, b + 1, n);
            CHECK_MSG(memcmp(a, b + 1, n * 2) == 0, "%s f32_to_f16 n=%lld differs", k->name, (long long)n);
            free(x); free(a); free(b);
        }
    }
    if (k->f16_to_f32 != ref->f16_to_f32) {
        vlkv_f16 *h = xalloc(65536 * 2 + 16);
        float *a = xalloc(65536 * 4), *b = xalloc(65536 * 4 + 16);
        for (int i = 0; i < 65536; i++) h[i + 1] = (vlkv_f16)i;
        ref->f16_to_f32(h + 1, a, 65536);
        k->f16_to_f32(h + 1, b + 3, 65536);
        int bad = 0;
        for (int i = 0; i < 65536; i++) {
            if (isnan(a[i])) bad += !isnan(b[i + 3]);
            else bad += memcmp(&a[i], &b[i + 3], 4) != 0;
        }
        CHECK_MSG(bad == 0, "%s f16_to_f32: %d of 65536 differ", k->name, bad);
        for (int n = 1; n <= 71; n++) {   /* tails */
            k->f16_to_f32(h + 1000, b + 1, n);
            CHECK(memcmp(b + 1, a + 999, n * 4) == 0);
            CHECK(b[n + 1] == b[n + 1]);
        }
        free(h); free(a); free(b);
    }
}

static void test_helpers(const struct vlkv_kernels *k, const struct vlkv_kernels *ref) {
    int64_t sizes[96];
    const int ns = make_sizes(1, sizes);
    for (int is = 0; is < ns; is++) {
        const int64_t n = sizes[is];
        const int o = is % 4;   /* float offsets 0..3: off the 16/32-byte SIMD alignment */
        float *x = xalloc(n * 4 + 16), *y = xalloc(n * 4 + 16), *w = xalloc(n * 4 + 16);
        float *a = xalloc(n * 4 + 16), *b = xalloc(n * 4 + 16);
        vlkv_f16 *h = xalloc(n * 2 + 16);
        fill(x + o, n, 2.0f);
        fill(y + o, n, 1.5f);
        fill(w + o, n, 1.0f);
        ref->f32_to_f16(x + o, h + o, n);
        double absxy = 0, abshy = 0;
        for (int64_t i = 0; i < n; i++) {
            absxy += fabs((double)x[o + i] * y[o + i]);
            abshy += fabs((double)vlkv_f16_to_f32(h[o + i]) * y[o + i]);
        }
        /* dot_f32 / dot_f16_f32: gamma_n bound on a float sum of n products */
        const float d1 = k->dot_f32(n, x + o, y + o), r1 = ref->dot_f32(n, x + o, y + o);
        CHECK_MSG(fabs(d1 - r1) <= (n + 2) * ULP / 2 * absxy + 1e-30, "%s dot_f32 n=%lld: %.9g vs %.9g",
                  k->name, (long long)n, d1, r1);
        const float d2 = k->dot_f16_f32(n, h + o, y + o), r2 = ref->dot_f16_f32(n, h + o, y + o);
        CHECK_MSG(fabs(d2 - r2) <= (n + 2) * ULP / 2 * abshy + 1e-30, "%s dot_f16_f32 n=%lld: %.9g vs %.9g",
                  k->name, (long long)n, d2, r2);
        /* axpy: y + a*x with one (FMA) or two roundings: 1 ulp of |y| + |a x| */
        const float alpha = 0.37f;
        memcpy(a, y + o, n * 4);
        memcpy(b + 1, y + o, n * 4);
        ref->axpy_f32(n, alpha, x + o, a);
        k->axpy_f32(n, alpha, x + o, b + 1);
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += !(fabs(a[i] - b[1 + i]) <= ULP * (fabs(y[o + i]) + fabs(alpha * x[o + i])));
        CHECK_MSG(bad == 0, "%s axpy_f32 n=%lld: %d wrong", k->name, (long long)n, bad);
        memcpy(a, y + o, n * 4);
        memcpy(b + 1, y + o, n * 4);
        ref->axpy_f16(n, alpha, h + o, a);
        k->axpy_f16(n, alpha, h + o, b + 1);
        bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += !(fabs(a[i] - b[1 + i]) <= ULP * (fabs(y[o + i]) + fabs(alpha * x[o + i]) * 1.01));
        CHECK_MSG(bad == 0, "%s axpy_f16 n=%lld: %d wrong", k->name, (long long)n, bad);
        /* rmsnorm: both sum squares in double; the scale may differ by an ulp or two */
        ref->rmsnorm_f32(n, x + o, w + o, 1e-5f, a);
        k->rmsnorm_f32(n, x + o, w + o, 1e-5f, b + 1);
        bad = 0;
        for (int64_t i = 0; i < n; i++) bad += !(fabs(a[i] - b[1 + i]) <= 4 * ULP * fabs(a[i]) + 1e-30);
        CHECK_MSG(bad == 0, "%s rmsnorm n=%lld: %d wrong", k->name, (long long)n, bad);
        /* silu(g) * u: exp approximation within a few ulp */
        ref->silu_mul_f32(n, x + o, y + o, a);
        k->silu_mul_f32(n, x + o, y + o, b + 1);
        bad = 0;
        for (int64_t i = 0; i < n; i++) bad += !(fabs(a[i] - b[1 + i]) <= 4e-6 * fabs(a[i]) + 1e-30);
        CHECK_MSG(bad == 0, "%s silu_mul n=%lld: %d wrong", k->name, (long long)n, bad);
        /* softmax numerator: x - max in [-∞, 0]; include a -inf (masked) entry */
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) mx = fmaxf(mx, 4 * x[o + i]);
        for (int64_t i = 0; i < n; i++) a[i] = b[1 + i] = 4 * x[o + i];
        if (n > 2) a[1] = b[2] = -INFINITY;
        const float sa = ref->softmax_exp_f32(n, a, mx), sb = k->softmax_exp_f32(n, b + 1, mx);
        bad = 0;
        /* + one denormal ulp (2^-149): results below FLT_MIN have absolute, not relative, precision */
        for (int64_t i = 0; i < n; i++) bad += !(fabs(a[i] - b[1 + i]) <= 4e-6 * fabs(a[i]) + 1.5e-45);
        CHECK_MSG(bad == 0, "%s softmax_exp n=%lld: %d wrong", k->name, (long long)n, bad);
        CHECK_MSG(fabs(sa - sb) <= (4e-6 + n * ULP) * sa, "%s softmax sum n=%lld: %.9g vs %.9g",
                  k->name, (long long)n, sb, sa);
        free(x); free(y); free(w); free(a); free(b); free(h);
    }
}

/* ---- k-major gemm (prefill attention) -------------------------------------------------------
 * The table's gemm_kn_f32 against the reference (same FMA order, so the same bits), and the
 * reference against a double sum: row counts around the 8/16-row tiles, column counts around the
 * 6-column tile, K of 1 to 130, weights/activations/outputs off the SIMD alignment, both the
 * store and the accumulate form; outputs past nr stay untouched. */
static void test_gemm_kn(const struct vlkv_kernels *k, const struct vlkv_kernels *ref) {
    static const int64_t ns[] = {1, 3, 8, 64, 130}, nrs[] = {1, 7, 8, 15, 16, 23, 64, 70}, ncs[] = {1, 5, 6, 7, 16};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof nrs / sizeof nrs[0]; b++)
            for (size_t c = 0; c < sizeof ncs / sizeof ncs[0]; c++) {
                const int64_t n = ns[a], nr = nrs[b], nc = ncs[c];
                const int o = (int)((a + b + c) % 4), acc = (int)((a + c) % 2);
                const size_t wsf = (size_t)nr + 3, ysf = (size_t)n + 1, lds = (size_t)nr + 2;   /* floats */
                float *w = xalloc((n * wsf + 8) * 4), *y = xalloc((nc * ysf + 8) * 4);
                float *s0 = xalloc((nc * lds + 8) * 4), *s1 = xalloc((nc * lds + 8) * 4);
                float *s2 = xalloc((nc * lds + 8) * 4);
                fill(w + o, (int64_t)(n * wsf), 1.0f);
                fill(y + o, (int64_t)(nc * ysf), 2.0f);
                fill(s0, (int64_t)(nc * lds), 0.5f);
                memcpy(s1 + o, s0, nc * lds * 4);
                memcpy(s2 + o, s0, nc * lds * 4);
                ref->gemm_kn_f32(n, nr, nc, s1 + o, lds, w + o, wsf * 4, y + o, ysf * 4, acc);
                k->gemm_kn_f32(n, nr, nc, s2 + o, lds, w + o, wsf * 4, y + o, ysf * 4, acc);
                int bad = 0, pad = 0, far = 0;
                for (int64_t cc = 0; cc < nc; cc++)
                    for (size_t r = 0; r < lds; r++) {
                        const float v0 = s0[cc * lds + r], v1 = s1[o + cc * lds + r], v2 = s2[o + cc * lds + r];
                        if ((int64_t)r >= nr) {   /* past nr: untouched by both */
                            pad += v1 != v0 || v2 != v0;
                            continue;
                        }
                        bad += memcmp(&v1, &v2, 4) != 0;
                        double e = acc ? v0 : 0.0, m = acc ? fabs(v0) : 0.0;
                        for (int64_t kk = 0; kk < n; kk++) {
                            const double t = (double)w[o + kk * wsf + r] * y[o + cc * ysf + kk];
                            e += t;
                            m += fabs(t);
                        }
                        far += !(fabs(v1 - e) <= (n + 2) * ULP * m + 1e-30);
                    }
                CHECK_MSG(bad == 0 && pad == 0 && far == 0,
                          "%s gemm_kn n=%lld nr=%lld nc=%lld acc=%d: %d differ from ref, %d pad touched, "
                          "%d ref off the double sum", k->name, (long long)n, (long long)nr, (long long)nc, acc,
                          bad, pad, far);
                free(s0);
                free(w); free(y); free(s1); free(s2);
                g_compared++;
            }
}

/* ---- repacked (row-interleaved) decode layout ----------------------------------------------
 * vlkv_repack + gemv over the repacked copy (the scalar layout spec vlkv_gemv_rp_ref, and the
 * table's gemv_rp kernel when k != NULL) against the reference vec_dot on the original rows:
 * row counts around the 8-row interleave, K of 1, 3, 9 blocks, model sizes and one K beyond the
 * AVX2 kernel's 512-block activation chunk; source rows, activations and the repacked copy off
 * the SIMD alignment; outputs past nr must stay untouched. */
static void test_repack(const struct vlkv_kernels *k, const struct vlkv_kernels *ref) {
    static const enum vlkv_type types[] = { VLKV_TYPE_Q4_0, VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_K, VLKV_TYPE_F16 };
    static const int rows[] = { 1, 7, 8, 9, 13, 17 };
    for (size_t it = 0; it < LEN(types); it++) {
        const enum vlkv_type wt = types[it];
        if (k && !k->gemv_rp[wt]) continue;
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(wt);
        const enum vlkv_type vt = vlkv_repack_act_type(wt);   /* F16 weights: F32 activations */
        const int own_act = vt != tr->vec_dot_type;           /* no reference vec_dot for that pair */
        /* activations go off the SIMD alignment, but F32 and Q8_K (float d) stay float-aligned */
        const size_t yal = (vt == VLKV_TYPE_F32 || vt == VLKV_TYPE_Q8_K) ? 4 : 2;
        const int64_t bl = tr->blck;
        const int64_t sizes[] = { bl, 3 * bl, 9 * bl, 2048, 11008,
                                  bl == 32 ? 32 * 600 : bl == 256 ? 256 * 75 : 999 };
        for (size_t is = 0; is < LEN(sizes); is++) {
            const int64_t n = sizes[is];
            const int nr = rows[(is + it) % LEN(rows)] + (is == 0 ? 0 : (int)is * 3);   /* 1..32 */
            const size_t wrs = vlkv_row_size(wt, n), ws = wrs + 2 * 3;
            const size_t rpsz = vlkv_repack_size(wt, n, nr);
            CHECK_MSG(rpsz == vlkv_repack_group_size(wt, n) * (size_t)((nr + 7) / 8) && rpsz > 0,
                      "repack size %s n=%lld", tr->name, (long long)n);
            float *xf = xalloc(n * 4), *tw = xalloc(n * 4), *ty = xalloc(n * 4);
            char *wbuf = xalloc(ws * nr), *ybuf = xalloc(vlkv_row_size(vt, n)), *rbuf = xalloc(rpsz);
            char *w = wbuf + 2 * (is % 3), *y = ybuf + yal * (is % 2);
            char *rp = rbuf + 2 * ((is + 1) % 3);
            for (int r = 0; r < nr; r++) {
                fill(xf, n, 1.0f + r % 5);
                tr->from_float(xf, w + r * ws, n);
            }
            fill(xf, n, 0.7f);
            vlkv_type_traits_get(vt)->from_float(xf, y, n);
            vlkv_repack(wt, n, nr, w, ws, rp);
            float s_ref[40], s_rp[40 + 8];
            for (int i = 0; i < 48; i++) s_rp[i] = -7.0f;
            if (k) k->gemv_rp[wt](n, nr, s_rp, rp, y);
            else vlkv_gemv_rp_ref(wt, n, nr, s_rp, rp, y);
            int bad = 0;
            for (int r = 0; r < nr; r++) {
                double dot, absdot;
                deq_dot_act(wt, vt, w + r * ws, y, n, &dot, &absdot, tw, ty);
                const double tol = (n / bl + 8) * ULP * (absdot + min_terms(wt, tw, ty, n)) + 1e-30;
                if (own_act) s_ref[r] = (float)dot;
                else ref->vec_dot[wt](n, &s_ref[r], w + r * ws, y);
                if (!(fabs(s_rp[r] - s_ref[r]) <= tol)) {
                    if (bad++ < 3) printf("  %s gemv_rp %s n=%lld nr=%d row %d: %.9g vs ref %.9g (tol %.3g)\n",
                                          k ? k->name : "ref", tr->name, (long long)n, nr, r, s_rp[r], s_ref[r], tol);
                }
            }
            for (int r = nr; r < 48; r++) bad += s_rp[r] != -7.0f;
            CHECK_MSG(bad == 0, "%s gemv_rp %s n=%lld nr=%d: %d wrong", k ? k->name : "ref", tr->name,
                      (long long)n, nr, bad);
            /* the prompt gemm over the same copy: 6 columns (a 4-column tile and remainders),
             * against the reference, and bit-identical with gemv_rp column by column */
            if (k && k->gemm_rp[wt]) {
                enum { NC = 6 };
                const size_t ys = vlkv_row_size(vt, n) + yal;
                char *yb = xalloc(ys * NC);
                char *yc = yb + yal * ((is + 1) % 2);
                for (int c = 0; c < NC; c++) {
                    fill(xf, n, 0.3f + c);
                    vlkv_type_traits_get(vt)->from_float(xf, yc + c * ys, n);
                }
                const size_t lds = (size_t)nr + 3;
                float *sm = xalloc(sizeof(float) * lds * NC);
                for (size_t i = 0; i < lds * NC; i++) sm[i] = -7.0f;
                k->gemm_rp[wt](n, nr, NC, sm, lds, rp, yc, ys);
                int bad2 = 0, diff = 0;
                for (int c = 0; c < NC; c++) {
                    float sv[40 + 8];
                    k->gemv_rp[wt](n, nr, sv, rp, yc + c * ys);
                    for (int r = 0; r < nr; r++) {
                        double dot, absdot;
                        deq_dot_act(wt, vt, w + r * ws, yc + c * ys, n, &dot, &absdot, tw, ty);
                        const double tol = (n / bl + 8) * ULP * (absdot + min_terms(wt, tw, ty, n)) + 1e-30;
                        float sr = (float)dot;
                        if (!own_act) ref->vec_dot[wt](n, &sr, w + r * ws, yc + c * ys);
                        bad2 += !(fabs(sm[c * lds + r] - sr) <= tol);
                        diff += memcmp(&sm[c * lds + r], &sv[r], sizeof(float)) != 0;
                    }
                    for (size_t r = (size_t)nr; r < lds; r++) bad2 += sm[c * lds + r] != -7.0f;
                }
                CHECK_MSG(bad2 == 0, "%s gemm_rp %s n=%lld nr=%d: %d wrong", k->name, tr->name, (long long)n, nr, bad2);
                CHECK_MSG(diff == 0, "%s gemm_rp %s n=%lld nr=%d: %d outputs differ from gemv_rp", k->name, tr->name,
                          (long long)n, nr, diff);
                free(yb); free(sm);
            }
            free(xf); free(tw); free(ty); free(wbuf); free(ybuf); free(rbuf);
        }
    }
    /* types without a repacked layout report size 0 */
    CHECK(vlkv_repack_size(VLKV_TYPE_Q6_K, 256, 8) == 0 && vlkv_repack_size(VLKV_TYPE_Q4_0, 33, 8) == 0);
}

int main(void) {
    const struct vlkv_kernels *ref = vlkv_kernels_for(VLKV_ISA_REF);
    CHECK(ref != NULL);
    if (!ref) return test_done("test_kernels");
    test_ref_against_formula(ref);
    test_repack(NULL, ref);
    CHECK(ref->gemv_rp[VLKV_TYPE_Q4_0] == NULL);   /* the scalar table keeps the original layout */

    const struct vlkv_kernels *best = vlkv_kernels_get();
    printf("test_kernels: selected table: %s\n", best->name);
#if defined(__aarch64__)
    CHECK_MSG(vlkv_kernels_for(VLKV_ISA_NEON) != NULL, "aarch64 build without the neon table");
#endif
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        CHECK_MSG(vlkv_kernels_for(VLKV_ISA_AVX2) != NULL, "AVX2 CPU but no avx2 table");
#endif
    int n_tables = 0;
    for (int isa = 0; isa < VLKV_ISA_COUNT; isa++) {
        const struct vlkv_kernels *k = vlkv_kernels_for((enum vlkv_isa)isa);
        if (!k || isa == VLKV_ISA_REF) continue;
        CHECK(k->isa == (enum vlkv_isa)isa);
        const int64_t before = g_compared;
        test_dots(k, ref);
        test_gemm_big(k, ref);
        test_repack(k, ref);
        test_converters(k, ref);
        test_helpers(k, ref);
        test_gemm_kn(k, ref);
        printf("test_kernels: compared the %s table with ref (%lld dot-product shapes)\n", k->name,
               (long long)(g_compared - before));
        n_tables++;
    }
    if (n_tables == 0) printf("test_kernels: no SIMD table on this CPU/build; only ref checked\n");
    return test_done("test_kernels");
}
