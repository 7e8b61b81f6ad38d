/* simd.h - the kernel table. Every entry has a scalar reference in kernels_ref.c (the spec);
 * kernels_avx2.c (x86-64 with AVX2+FMA+F16C, chosen at run time by cpuid+xgetbv) and
 * kernels_neon.c (AArch64) override what they accelerate. VLKV_SIMD=ref|avx2|neon forces a
 * table. Kernels are single-threaded and work on row ranges; threading lives in src/ops.c.
 * No ISA intrinsics may appear in this header. */
#ifndef VLKV_SIMD_H
#define VLKV_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

enum vlkv_isa { VLKV_ISA_REF = 0, VLKV_ISA_AVX2 = 1, VLKV_ISA_NEON = 2, VLKV_ISA_COUNT };

/* s = dot(x, y) over n elements: x is a weight row of type T, y an activation row already
 * converted to T's vec_dot_type (types.h). n is a multiple of T's block size. */
typedef void (*vlkv_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

/* s[r] = dot(w row r, y) for r in [0, nr): w rows are `w_stride` bytes apart. */
typedef void (*vlkv_gemv_fn)(int64_t n, int64_t nr, float *s, const void *w, size_t w_stride, const void *y);

/* s[c * lds + r] = dot(w row r, y column c) for r < nr, c < nc: y rows (one per activation
 * column/token) are `y_stride` bytes apart in vec_dot_type layout. */
typedef void (*vlkv_gemm_fn)(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds,
                             const void *w, size_t w_stride, const void *y, size_t y_stride);

/* s[c*lds + r] = (acc ? s[c*lds + r] : 0) + sum_k w_k[r] * y_c[k], weights k-major (row k holds nr
 * floats at byte stride ws), activation column c at byte stride ys; each sum runs over k in order
 * from 0 with fused multiply-adds (so every table gives the same bits). The prefill attention's
 * two products: scores against a transposed K tile, and P V straight from V rows. */
typedef void (*vlkv_gemm_kn_fn)(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const float *w,
                                size_t ws, const float *y, size_t ys, int acc);

/* Rows [r0, nr) of a gemm_kn in the reference order (one fmaf per element, k from 0): the whole of
 * the reference kernel and the row tail of the SIMD ones. Inline so that each kernel file compiles
 * it with its own flags (the AVX2 file turns fmaf into an FMA instruction, not a libm call). */
static inline void vlkv_gemm_kn_rows(int64_t n, int64_t r0, int64_t nr, int64_t nc, float *s, size_t lds,
                                     const float *w, size_t ws, const float *y, size_t ys, int acc) {
    for (int64_t c = 0; c < nc; c++) {
        const float *yc = (const float *)((const char *)y + c * (int64_t)ys);
        for (int64_t r = r0; r < nr; r++) {
            float a = 0.0f;
            for (int64_t k = 0; k < n; k++) a = fmaf(((const float *)((const char *)w + k * (int64_t)ws))[r], yc[k], a);
            float *o = s + c * (int64_t)lds + r;
            *o = acc ? *o + a : a;
        }
    }
}

/* Row-interleaved ("repacked") decode weights, made once at model load (src/model.c) for the
 * types the table has a gemv_rp kernel for. Groups of VLKV_RP_ROWS consecutive rows are
 * interleaved block by block, so one pass over a group computes 8 dot products with each 32-bit
 * SIMD lane holding one row's partial sum (no horizontal reductions, 8 scales in one load).
 * Layout of one group, per block of the original row (all rows of a group share block index b):
 *   Q4_0 (32 elements, 144 B): vlkv_f16 d[8]; uint8 qs[4][8][4]  qs[j][r][i] = row r's qs[4j+i]
 *        (low nibble = element 4j+i, high nibble = element 16+4j+i, as in the original block)
 *   Q8_0 (32 elements, 272 B): vlkv_f16 d[8]; int8 qs[8][8][4]   qs[j][r][i] = row r's qs[4j+i]
 *   Q4_K (256 elements, 1184 B): vlkv_f16 d[8], dmin[8]; uint8 sc[8][8] (sc[s][r] = 6-bit scale of
 *        sub-block s of row r); uint8 mn[4][8][2] (mn[p][r][e] = min of sub-block 2p+e);
 *        uint8 qs[4][8][8][4]  qs[c][j][r][i] = row r's qs[32c+4j+i] (low nibble sub-block 2c,
 *        high nibble sub-block 2c+1)
 *   F16 (1 element, 16 B): vlkv_f16 w[8]  w[r] = row r's element k. Its kernels take F32
 *        activations (vlkv_repack_act_type), not the F16 of its vec_dot_type, and keep one fma
 *        chain per row and column in element order.
 * A group is all blocks of its 8 rows in order (group stride vlkv_repack_group_size); the last
 * group is padded with zero rows (scales 0). */
#define VLKV_RP_ROWS 8

/* s[r] = dot(w row r, y) for r < nr, w repacked as above starting at a group boundary. */
typedef void (*vlkv_gemv_rp_fn)(int64_t n, int64_t nr, float *s, const void *wr, const void *y);
/* s[c * lds + r] = dot(w row r, y column c) over repacked w (y columns ys bytes apart). A table
 * that has both gemm_rp and gemv_rp for a type gives bit-identical results for a column in
 * either (prompt and decode agree exactly). */
typedef void (*vlkv_gemm_rp_fn)(int64_t n, int64_t nr, int64_t nc, float *s, size_t lds, const void *wr,
                                const void *y, size_t ys);

/* Bytes of one repacked group of rows of n elements; 0 if type t has no repacked layout or n is
 * not a multiple of its block. */
size_t vlkv_repack_group_size(enum vlkv_type t, int64_t n);
/* Type of the activations the repacked kernels of weight type t take (F32 for F16, else its
 * vec_dot_type). */
enum vlkv_type vlkv_repack_act_type(enum vlkv_type t);
/* Bytes of nr repacked rows (whole groups); 0 as above. */
size_t vlkv_repack_size(enum vlkv_type t, int64_t n, int64_t nr);
/* Repack nr rows of w (rows ws bytes apart) into dst (vlkv_repack_size bytes). */
void vlkv_repack(enum vlkv_type t, int64_t n, int64_t nr, const void *w, size_t ws, void *dst);
/* Scalar gemv over the repacked layout (the layout's executable spec; tests and the fallback). */
void vlkv_gemv_rp_ref(enum vlkv_type t, int64_t n, int64_t nr, float *s, const void *wr, const void *y);

struct vlkv_kernels {
    enum vlkv_isa isa;
    const char   *name;                                   /* "ref", "avx2", "neon" */

    /* Quantized / typed dot products, indexed by weight type (NULL = unsupported). */
    vlkv_vec_dot_fn vec_dot[VLKV_TYPE_COUNT];
    vlkv_gemv_fn    gemv[VLKV_TYPE_COUNT];
    vlkv_gemm_fn    gemm[VLKV_TYPE_COUNT];
    /* gemv over repacked weights (NULL = this table keeps the original layout for that type;
     * the reference table has none, its scalar loop is no faster on either layout) */
    vlkv_gemv_rp_fn gemv_rp[VLKV_TYPE_COUNT];
    vlkv_gemm_rp_fn gemm_rp[VLKV_TYPE_COUNT];   /* prompt gemm over the same copy (NULL = original layout) */

    /* Activation conversion into a vec_dot_type (F16, BF16, Q8_0, Q8_1, Q8_K; F32 = copy). */
    void (*from_float[VLKV_TYPE_COUNT])(const float *x, void *y, int64_t n);
    /* Weight row dequantization (for BLAS tiles and embedding lookups). */
    void (*to_float[VLKV_TYPE_COUNT])(const void *x, float *y, int64_t n);

    /* f32 / f16 vector helpers (attention, norms). */
    float (*dot_f32)(int64_t n, const float *x, const float *y);
    float (*dot_f16_f32)(int64_t n, const vlkv_f16 *x, const float *y);      /* K row . q */
    void  (*axpy_f32)(int64_t n, float a, const float *x, float *y);          /* y += a x */
    void  (*axpy_f16)(int64_t n, float a, const vlkv_f16 *x, float *y);       /* y += a x */
    void  (*f32_to_f16)(const float *x, vlkv_f16 *y, int64_t n);
    void  (*f16_to_f32)(const vlkv_f16 *x, float *y, int64_t n);
    /* y = x / sqrt(mean(x^2) + eps) * w   (sum of squares accumulated in double, as ggml) */
    void  (*rmsnorm_f32)(int64_t n, const float *x, const float *w, float eps, float *y);
    /* y[i] = silu(g[i]) * u[i] */
    void  (*silu_mul_f32)(int64_t n, const float *g, const float *u, float *y);
    /* in place: x = exp(x - max); returns the sum (double-accumulated) */
    float (*softmax_exp_f32)(int64_t n, float *x, float max);
    vlkv_gemm_kn_fn gemm_kn_f32;
};

/* The table for the best ISA this CPU and build support, or the one VLKV_SIMD names (an
 * unavailable name falls back to the best and logs a warning). Selected once; thread-safe. */
const struct vlkv_kernels *vlkv_kernels_get(void);
/* The table of one ISA, or NULL if this build or CPU cannot run it. */
const struct vlkv_kernels *vlkv_kernels_for(enum vlkv_isa isa);

/* Filled by each ISA file: start from the reference table and override. */
void vlkv_kernels_init_ref(struct vlkv_kernels *k);
void vlkv_kernels_init_avx2(struct vlkv_kernels *k);
void vlkv_kernels_init_neon(struct vlkv_kernels *k);

#endif /* VLKV_SIMD_H */
