/* simd.h - the kernel table. Every entry has a scalar reference in kernels_ref.c (the spec);
 * kernels_avx2.c (x86-64 with AVX2+FMA+F16C, chosen at run time by cpuid+xgetbv) and
 * kernels_neon.c (AArch64) override what they accelerate. VLKV_SIMD=ref|avx2|neon forces a
 * table. Kernels are single-threaded and work on row ranges; threading lives in src/ops.c.
 * No ISA intrinsics may appear in this header. */
#ifndef VLKV_SIMD_H
#define VLKV_SIMD_H

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

struct vlkv_kernels {
    enum vlkv_isa isa;
    const char   *name;                                   /* "ref", "avx2", "neon" */

    /* Quantized / typed dot products, indexed by weight type (NULL = unsupported). */
    vlkv_vec_dot_fn vec_dot[VLKV_TYPE_COUNT];
    vlkv_gemv_fn    gemv[VLKV_TYPE_COUNT];
    vlkv_gemm_fn    gemm[VLKV_TYPE_COUNT];

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
