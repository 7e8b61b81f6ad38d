/* test_types.c - dtype table: hand-built blocks of every type decoded to hand-computed values
 * (formats.md §2.3, independent of src/types.c), fp16/bf16 edge cases, quantize->dequantize
 * error bounds and quantized dot-product error (thresholds of llama.cpp test-quantize-fns),
 * row sizes and type names. */
#include "simd.h"
#include "types.h"
#include "test_util.h"

#include <math.h>
#include <string.h>

#define VLKV_ARRAY_LEN_T(a) (sizeof(a) / sizeof((a)[0]))

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float ffrom(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* decode one block of type t into out (blck floats) */
static void decode(enum vlkv_type t, const void *blk, float *out) {
    vlkv_type_traits_get(t)->to_float(blk, out, vlkv_type_traits_get(t)->blck);
}

/* ---- scalar formats --------------------------------------------------------------------- */

static void test_fp16(void) {
    /* f32 -> f16: exact values, rounding ties to even, overflow, subnormals, signed zero, nan */
    CHECK(vlkv_f32_to_f16(1.0f) == 0x3c00);
    CHECK(vlkv_f32_to_f16(-2.0f) == 0xc000);
    CHECK(vlkv_f32_to_f16(0.0f) == 0x0000);
    CHECK(vlkv_f32_to_f16(-0.0f) == 0x8000);
    CHECK(vlkv_f32_to_f16(65504.0f) == 0x7bff);                      /* largest finite */
    CHECK(vlkv_f32_to_f16(65519.996f) == 0x7bff);                    /* just below the tie */
    CHECK(vlkv_f32_to_f16(65520.0f) == 0x7c00);                      /* tie -> even = inf */
    CHECK(vlkv_f32_to_f16(1e9f) == 0x7c00);
    CHECK(vlkv_f32_to_f16(-INFINITY) == 0xfc00);
    const vlkv_f16 hn = vlkv_f32_to_f16(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x03ff) != 0 && (hn & 0x0200));   /* quiet nan */
    CHECK(vlkv_f32_to_f16(ldexpf(1, -14)) == 0x0400);                /* smallest normal */
    CHECK(vlkv_f32_to_f16(ldexpf(1023, -24)) == 0x03ff);             /* largest subnormal */
    CHECK(vlkv_f32_to_f16(ldexpf(1, -24)) == 0x0001);                /* smallest subnormal */
    CHECK(vlkv_f32_to_f16(ldexpf(1, -25)) == 0x0000);                /* tie 0/1 -> even 0 */
    CHECK(vlkv_f32_to_f16(ldexpf(3, -26)) == 0x0001);                /* 0.75 ulp -> 1 */
    CHECK(vlkv_f32_to_f16(ldexpf(3, -25)) == 0x0002);                /* 1.5 ulp tie -> even 2 */
    CHECK(vlkv_f32_to_f16(ldexpf(5, -25)) == 0x0002);                /* 2.5 ulp tie -> even 2 */
    CHECK(vlkv_f32_to_f16(-ldexpf(1, -24)) == 0x8001);
    CHECK(vlkv_f32_to_f16(ldexpf(2047, -25)) == 0x0400);             /* 1023.5 ulp rounds up into normal */
    CHECK(vlkv_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00);          /* tie 1 / 1+2^-10 -> even */
    CHECK(vlkv_f32_to_f16(1.0f + ldexpf(3, -11)) == 0x3c02);          /* tie 0x3c01/0x3c02 -> even */
    CHECK(vlkv_f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01);  /* above tie */
    CHECK(vlkv_f32_to_f16(1.0f / 3.0f) == 0x3555);

    /* f16 -> f32 */
    CHECK(vlkv_f16_to_f32(0x0001) == ldexpf(1, -24));
    CHECK(vlkv_f16_to_f32(0x03ff) == ldexpf(1023, -24));
    CHECK(vlkv_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(vlkv_f16_to_f32(0xc000) == -2.0f);
    CHECK(vlkv_f16_to_f32(0x7c00) == INFINITY);
    CHECK(vlkv_f16_to_f32(0xfc00) == -INFINITY);
    CHECK(isnan(vlkv_f16_to_f32(0x7e00)));
    CHECK(fbits(vlkv_f16_to_f32(0x8000)) == 0x80000000u);

    /* every non-nan f16 survives f16 -> f32 -> f16, and values agree with the formula */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const int e = (h >> 10) & 31, m = h & 1023;
        if (e == 31 && m) continue;
        const float f = vlkv_f16_to_f32((vlkv_f16)h);
        const double mag = e == 0 ? ldexp(m, -24) : e == 31 ? INFINITY : ldexp(1024 + m, e - 25);
        const double want = (h & 0x8000) ? -mag : mag;
        if ((double)f != want || vlkv_f32_to_f16(f) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d f16 values failed the round trip", bad);

    /* midpoints between consecutive positive finite f16 values round to the even neighbour */
    bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        const double lo = vlkv_f16_to_f32((vlkv_f16)h), hi = vlkv_f16_to_f32((vlkv_f16)(h + 1));
        const float mid = (float)((lo + hi) / 2);   /* exact in f32 */
        const vlkv_f16 want = (h & 1) ? (vlkv_f16)(h + 1) : (vlkv_f16)h;
        if (vlkv_f32_to_f16(mid) != want) bad++;
        if (vlkv_f32_to_f16(nextafterf(mid, 0)) != h) bad++;
        if (vlkv_f32_to_f16(nextafterf(mid, INFINITY)) != h + 1) bad++;
    }
    CHECK_MSG(bad == 0, "%d f16 midpoint roundings wrong", bad);
}

static void test_bf16(void) {
    CHECK(vlkv_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(vlkv_f32_to_bf16(ffrom(0x3f808000u)) == 0x3f80);   /* tie -> even */
    CHECK(vlkv_f32_to_bf16(ffrom(0x3f818000u)) == 0x3f82);   /* tie -> even (up) */
    CHECK(vlkv_f32_to_bf16(ffrom(0x3f808001u)) == 0x3f81);   /* above tie */
    CHECK(vlkv_f32_to_bf16(ffrom(0x7f800001u)) == 0x7fc0);   /* signalling nan made quiet */
    CHECK(vlkv_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(vlkv_bf16_to_f32(0xc040) == -3.0f);
    CHECK(fbits(vlkv_bf16_to_f32(0x1234)) == 0x12340000u);
}

/* ---- hand-built blocks ---------------------------------------------------------------------- */

static void test_blocks(void) {
    float out[QK_K];

    { /* Q4_0: d = 0.5; element j<16 = low nibble of qs[j], j+16 = high nibble; x = (q-8) d */
        uint8_t b[18] = {0};
        b[0] = 0x00; b[1] = 0x38;          /* f16 0.5 little endian */
        b[2 + 0] = 0x1f;                   /* e0: 15, e16: 1 */
        b[2 + 9] = 0x80;                   /* e9: 0,  e25: 8 */
        decode(VLKV_TYPE_Q4_0, b, out);
        CHECK(out[0] == 3.5f); CHECK(out[16] == -3.5f);
        CHECK(out[9] == -4.0f); CHECK(out[25] == 0.0f); CHECK(out[1] == -4.0f);
    }
    { /* Q4_1: d = 0.25, m = -1; x = q d + m */
        uint8_t b[20] = {0};
        b[1] = 0x34; b[3] = 0xbc;          /* d 0.25, m -1 */
        b[4 + 3] = 0xa5;                   /* e3: 5, e19: 10 */
        decode(VLKV_TYPE_Q4_1, b, out);
        CHECK(out[3] == 0.25f); CHECK(out[19] == 1.5f); CHECK(out[0] == -1.0f);
    }
    { /* Q5_0: d = 1; qh bit e = 5th bit of element e; x = q - 16 */
        uint8_t b[22] = {0};
        b[1] = 0x3c;
        const uint32_t qh = (1u << 2) | (1u << 20);
        memcpy(b + 2, &qh, 4);             /* little endian u32 at offset 2 */
        b[6 + 2] = 0x37;                   /* e2: 7 | 16, e18: 3 (no bit) */
        b[6 + 4] = 0x0f;                   /* e4: 15, e20: 0 | 16 */
        decode(VLKV_TYPE_Q5_0, b, out);
        CHECK(out[2] == 7.0f); CHECK(out[18] == -13.0f); CHECK(out[4] == -1.0f); CHECK(out[20] == 0.0f);
        CHECK(out[0] == -16.0f);
    }
    { /* Q5_1: d = 0.5, m = 2; x = q d + m */
        uint8_t b[24] = {0};
        b[1] = 0x38; b[3] = 0x40;
        b[4 + 3] = 0x80;                   /* qh bit 31 */
        b[8 + 15] = 0xf1;                  /* e15: 1, e31: 15 | 16 = 31 */
        decode(VLKV_TYPE_Q5_1, b, out);
        CHECK(out[15] == 2.5f); CHECK(out[31] == 17.5f); CHECK(out[0] == 2.0f);
    }
    { /* Q8_0: d = 2 */
        uint8_t b[34] = {0};
        b[1] = 0x40;
        b[2 + 5] = (uint8_t)(int8_t)-7;
        b[2 + 31] = 127;
        decode(VLKV_TYPE_Q8_0, b, out);
        CHECK(out[5] == -14.0f); CHECK(out[31] == 254.0f); CHECK(out[0] == 0.0f);
    }
    { /* Q4_K: d = 1, dmin = 0.5, scales @4, qs @16.
       * sub-block 0: sc 0, mn 10          (b[0] = 0, b[4] = 10)
       * sub-block 1: sc 7, mn 3            (low 6 bits of b[1], b[5])
       * sub-block 5: sc 45 = 0b10'1101, mn 38 = 0b10'0110:
       *   low 4 bits in b[9] (sc low, mn high nibble), top 2 bits in b[1]>>6 and b[5]>>6 */
        uint8_t b[144] = {0};
        b[1] = 0x3c; b[3] = 0x38;
        uint8_t *sc = b + 4, *qs = b + 16;
        sc[0] = 0; sc[4] = 10;
        sc[1] = (uint8_t)((2 << 6) | 7); sc[5] = (uint8_t)((2 << 6) | 3);
        sc[9] = (uint8_t)((38 & 15) << 4 | (45 & 15));
        qs[1] = 0xc0;                      /* e1: q 0 (sub 0), e33: q 12 (sub 1) */
        qs[64 + 4] = 0x92;                 /* chunk 2: e132 = 2 (sub 4), e164 = 9 (sub 5) */
        decode(VLKV_TYPE_Q4_K, b, out);
        CHECK(out[1] == -5.0f);            /* 1*0*0 - 0.5*10 */
        CHECK(out[33] == 82.5f);           /* 1*7*12 - 0.5*3 */
        CHECK(out[164] == 386.0f);         /* 1*45*9 - 0.5*38 */
        CHECK(out[132] == 0.0f);           /* sub 4: sc = mn = 0 */
    }
    { /* Q5_K: same scales as above, qh @16, qs @48: the 5th bit of chunk c, position l is
       * qh[l] bit 2c (low-nibble half) or bit 2c+1 (high-nibble half) */
        uint8_t b[176] = {0};
        b[1] = 0x3c; b[3] = 0x38;
        uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
        sc[0] = 0; sc[4] = 10;
        sc[1] = (uint8_t)((2 << 6) | 7); sc[5] = (uint8_t)((2 << 6) | 3);
        sc[9] = (uint8_t)((38 & 15) << 4 | (45 & 15));
        qs[1] = 0xc0; qh[1] = 1 << 1;      /* e33: 12 + 16 */
        qs[64 + 4] = 0x92; qh[4] = 1 << 5; /* e164: 9 + 16; e132 (bit 4) stays 2 */
        decode(VLKV_TYPE_Q5_K, b, out);
        CHECK(out[33] == 1.0f * 7 * 28 - 1.5f);
        CHECK(out[164] == 45.0f * 25 - 19.0f);
        CHECK(out[1] == -5.0f);
    }
    { /* Q6_K: ql @0, qh @128, scales @192, d @208. d = 0.25.
       * e = 128h + l + 64 (h=1, l=3) = 195: high nibble of ql[64+3], bits (qh[32+3] >> 4) & 3,
       * scale[12]; e = 32 (h=0, l=0): low nibble of ql[32], bits (qh[0] >> 2) & 3, scale[2] */
        uint8_t b[210] = {0};
        b[209] = 0x34;
        b[64 + 3] = 0x50; b[128 + 32 + 3] = 2 << 4;
        b[192 + 12] = (uint8_t)(int8_t)-3;
        b[32] = 0x0a;
        b[192 + 2] = 7;
        b[128 + 5] = 3 << 6; b[37] = 0xf0;  /* e = 96 + 5 = 101: high nibble of ql[5+32] = 15, bits 3 -> 63 - 32 = 31 */
        b[192 + 101 / 16] = 1;
        decode(VLKV_TYPE_Q6_K, b, out);
        CHECK(out[195] == 0.25f * -3 * 5);
        CHECK(out[32] == 0.25f * 7 * -22);
        CHECK(out[101] == 0.25f * 1 * 31);
    }
    { /* Q8_K: d f32 @0, qs @4, bsums @260 */
        uint8_t b[292] = {0};
        const float d = 0.125f;
        memcpy(b, &d, 4);
        b[4 + 100] = (uint8_t)(int8_t)-50;
        decode(VLKV_TYPE_Q8_K, b, out);
        CHECK(out[100] == -6.25f); CHECK(out[0] == 0.0f);
    }
    { /* Q4_0 quantizer by hand: x_j = j - 16. Largest |x| is -16 => d = -16 / -8 = 2,
       * q = min(15, trunc(x/2 + 8.5)): j=0 -> 0, j=1 -> trunc(0.5+... ) */
        float x[32];
        for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
        block_q4_0 q;
        vlkv_type_traits_get(VLKV_TYPE_Q4_0)->from_float(x, &q, 32);
        CHECK(q.d == 0x4000);                               /* f16 2.0 */
        for (int j = 0; j < 16; j++) {
            const int lo = (int)((x[j] / 2) + 8.5f), hi = (int)((x[j + 16] / 2) + 8.5f);
            CHECK(q.qs[j] == (uint8_t)((lo > 15 ? 15 : lo) | ((hi > 15 ? 15 : hi) << 4)));
        }
    }
    { /* Q8_K quantizer: max |x| element maps to -127 */
        float x[QK_K];
        for (int j = 0; j < QK_K; j++) x[j] = (float)(j % 17) * 0.1f;
        x[7] = -4.0f;
        block_q8_K q;
        vlkv_type_traits_get(VLKV_TYPE_Q8_K)->from_float(x, &q, QK_K);
        CHECK(q.qs[7] == -127);                             /* iscale = -127 / -4, times -4 */
        CHECK_NEAR(q.d, 4.0f / 127.0f, 1e-9);               /* d = 1 / iscale */
        CHECK(q.qs[16] == 127 * 0 + (int)lrintf(16 % 17 * 0.1f * 31.75f));
        int s = 0;
        for (int j = 16; j < 32; j++) s += q.qs[j];
        CHECK(q.bsums[1] == s);
    }
}

/* ---- round trips (llama.cpp test-quantize-fns) -------------------------------------------- */

static void gen_data(float offset, int n, float *dst) {
    for (int i = 0; i < n; i++) dst[i] = 0.1f + 2 * cosf(i + offset);
}

/* sqrt(sum sq err) / n, as test-quantize-fns' array_rmse */
static float array_rmse(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return (float)(sqrt(s) / n);
}

static void test_round_trips(void) {
    enum { N = 32 * 128 };
    static float x[N], y[N], out[N];
    static uint8_t qx[N * 4], qy[N * 4];
    gen_data(0.0f, N, x);
    gen_data(1.0f, N, y);
    double exact = 0;
    for (int i = 0; i < N; i++) exact += (double)x[i] * y[i];

    const struct vlkv_kernels *k = vlkv_kernels_for(VLKV_ISA_REF);
    /* test-quantize-fns thresholds: MAX_QUANTIZATION_TOTAL_ERROR 0.002 (0.0040 for 3 bits),
     * MAX_DOT_PRODUCT_ERROR 0.02 (both per element, divided by N) */
    const struct { enum vlkv_type t; float max_err; } cases[] = {
        { VLKV_TYPE_F16, 0.002f }, { VLKV_TYPE_BF16, 0.002f }, { VLKV_TYPE_Q4_0, 0.002f },
        { VLKV_TYPE_Q4_1, 0.002f }, { VLKV_TYPE_Q5_0, 0.002f }, { VLKV_TYPE_Q5_1, 0.002f },
        { VLKV_TYPE_Q8_0, 0.002f }, { VLKV_TYPE_Q8_1, 0.002f }, { VLKV_TYPE_Q4_K, 0.002f },
        { VLKV_TYPE_Q5_K, 0.002f }, { VLKV_TYPE_Q6_K, 0.002f }, { VLKV_TYPE_Q8_K, 0.002f },
    };
    for (size_t i = 0; i < VLKV_ARRAY_LEN_T(cases); i++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(cases[i].t);
        tr->from_float(x, qx, N);
        tr->to_float(qx, out, N);
        const float err = array_rmse(x, out, N);
        CHECK_MSG(err < cases[i].max_err, "%s: round-trip error %g", tr->name, err);
        if (k->vec_dot[cases[i].t]) {
            const struct vlkv_type_traits *vt = vlkv_type_traits_get(tr->vec_dot_type);
            vt->from_float(y, qy, N);
            float s;
            k->vec_dot[cases[i].t](N, &s, qx, qy);
            const double derr = fabs(s - exact) / N;
            CHECK_MSG(derr < 0.02, "%s: dot product error %g", tr->name, derr);
        }
    }
    /* relative ordering by bits: more bits must not be worse (same data) */
    float e4, e5, e6, e8;
    vlkv_type_traits_get(VLKV_TYPE_Q4_K)->from_float(x, qx, N); vlkv_type_traits_get(VLKV_TYPE_Q4_K)->to_float(qx, out, N); e4 = array_rmse(x, out, N);
    vlkv_type_traits_get(VLKV_TYPE_Q5_K)->from_float(x, qx, N); vlkv_type_traits_get(VLKV_TYPE_Q5_K)->to_float(qx, out, N); e5 = array_rmse(x, out, N);
    vlkv_type_traits_get(VLKV_TYPE_Q6_K)->from_float(x, qx, N); vlkv_type_traits_get(VLKV_TYPE_Q6_K)->to_float(qx, out, N); e6 = array_rmse(x, out, N);
    vlkv_type_traits_get(VLKV_TYPE_Q8_0)->from_float(x, qx, N); vlkv_type_traits_get(VLKV_TYPE_Q8_0)->to_float(qx, out, N); e8 = array_rmse(x, out, N);
    CHECK(e5 < e4); CHECK(e6 < e5); CHECK(e8 < e6 * 1.5f);

    /* all-zero input must give an all-zero output (no nan from 0/0 scales) */
    static const float zeros[QK_K];
    for (size_t i = 0; i < VLKV_ARRAY_LEN_T(cases); i++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(cases[i].t);
        tr->from_float(zeros, qx, QK_K);
        tr->to_float(qx, out, QK_K);
        int nz = 0;
        for (int j = 0; j < QK_K; j++) nz += out[j] != 0.0f;
        CHECK_MSG(nz == 0, "%s: zeros decode to %d non-zeros", tr->name, nz);
    }
}

/* ---- table, sizes, names ---------------------------------------------------------------- */

static void test_table(void) {
    CHECK(vlkv_row_size(VLKV_TYPE_F32, 4096) == 16384);
    CHECK(vlkv_row_size(VLKV_TYPE_F16, 4096) == 8192);
    CHECK(vlkv_row_size(VLKV_TYPE_Q4_0, 4096) == 128 * 18);
    CHECK(vlkv_row_size(VLKV_TYPE_Q5_1, 4096) == 128 * 24);
    CHECK(vlkv_row_size(VLKV_TYPE_Q8_0, 11008) == 344 * 34);
    CHECK(vlkv_row_size(VLKV_TYPE_Q2_K, 4096) == 16 * 84);
    CHECK(vlkv_row_size(VLKV_TYPE_Q3_K, 4096) == 16 * 110);
    CHECK(vlkv_row_size(VLKV_TYPE_Q4_K, 11008) == 43 * 144);
    CHECK(vlkv_row_size(VLKV_TYPE_Q6_K, 4096) == 16 * 210);
    CHECK(vlkv_row_size(VLKV_TYPE_Q8_K, 4096) == 16 * 292);
    CHECK(vlkv_type_traits_get(4) == NULL);     /* removed Q4_2 */
    CHECK(vlkv_type_traits_get(39) == NULL);
    CHECK(vlkv_type_traits_get(1000) == NULL);
    CHECK(strcmp(vlkv_type_name(12), "q4_K") == 0);
    CHECK(strcmp(vlkv_type_name(5), "?") == 0);
    CHECK(vlkv_type_from_name("Q4_K") == VLKV_TYPE_Q4_K);
    CHECK(vlkv_type_from_name("q8_0") == VLKV_TYPE_Q8_0);
    CHECK(vlkv_type_from_name("F16") == VLKV_TYPE_F16);
    CHECK(vlkv_type_from_name("bf16") == VLKV_TYPE_BF16);
    CHECK(vlkv_type_from_name("q4") == -1);
    CHECK(vlkv_type_from_name("q4_K_M") == -1);
    CHECK(vlkv_type_from_name(NULL) == -1);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_Q2_K)->supported == 0);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_Q4_0)->vec_dot_type == VLKV_TYPE_Q8_0);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_Q5_0)->vec_dot_type == VLKV_TYPE_Q8_0);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_Q4_1)->vec_dot_type == VLKV_TYPE_Q8_1);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_Q5_1)->vec_dot_type == VLKV_TYPE_Q8_1);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_Q4_K)->vec_dot_type == VLKV_TYPE_Q8_K);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_Q6_K)->vec_dot_type == VLKV_TYPE_Q8_K);
    CHECK(vlkv_type_traits_get(VLKV_TYPE_F16)->vec_dot_type == VLKV_TYPE_F16);
    /* every supported weight type has a dot product, gemv and gemm in the ref table, and its
     * vec_dot_type has an activation converter */
    const struct vlkv_kernels *k = vlkv_kernels_for(VLKV_ISA_REF);
    CHECK(k != NULL && vlkv_kernels_get() != NULL);
    for (uint32_t t = 0; t < VLKV_TYPE_COUNT; t++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(t);
        if (!tr || !tr->supported) continue;
        CHECK_MSG(k->vec_dot[t] && k->gemv[t] && k->gemm[t] && k->to_float[t], "%s", tr->name);
        CHECK_MSG(k->from_float[tr->vec_dot_type] != NULL, "%s", tr->name);
        CHECK(tr->to_float && tr->from_float);
    }
}

int main(void) {
    test_fp16();
    test_bf16();
    test_blocks();
    test_round_trips();
    test_table();
    return test_done("test_types");
}
