/* types.h - tensor element types with the exact ggml ids and block layouts of GGUF files
 * (specs/formats.md §2). The trait table ties together block size, bytes per block, the
 * reference (scalar) converters, and the activation type each weight type is dotted with. */
#ifndef VLKV_TYPES_H
#define VLKV_TYPES_H

#include <stddef.h>
#include <stdint.h>

enum vlkv_type {
    VLKV_TYPE_F32  = 0,
    VLKV_TYPE_F16  = 1,
    VLKV_TYPE_Q4_0 = 2,
    VLKV_TYPE_Q4_1 = 3,
    VLKV_TYPE_Q5_0 = 6,
    VLKV_TYPE_Q5_1 = 7,
    VLKV_TYPE_Q8_0 = 8,
    VLKV_TYPE_Q8_1 = 9,   /* activations only */
    VLKV_TYPE_Q2_K = 10,  /* known layout, not supported yet */
    VLKV_TYPE_Q3_K = 11,  /* known layout, not supported yet */
    VLKV_TYPE_Q4_K = 12,
    VLKV_TYPE_Q5_K = 13,
    VLKV_TYPE_Q6_K = 14,
    VLKV_TYPE_Q8_K = 15,  /* activations only */
    VLKV_TYPE_BF16 = 30,
    VLKV_TYPE_COUNT = 40  /* ids are < this; gaps are unknown types */
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K  256
#define K_SCALE_SIZE 12

typedef uint16_t vlkv_f16;   /* IEEE binary16 bits */
typedef uint16_t vlkv_bf16;  /* top half of an f32 */

/* Block layouts, byte-exact with ggml (formats.md §2.3). */
typedef struct { vlkv_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { vlkv_f16 d; vlkv_f16 m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { vlkv_f16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { vlkv_f16 d; vlkv_f16 m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { vlkv_f16 d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { vlkv_f16 d; vlkv_f16 s; int8_t qs[QK8_1]; } block_q8_1;
typedef struct { vlkv_f16 d; vlkv_f16 dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { vlkv_f16 d; vlkv_f16 dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; vlkv_f16 d; } block_q6_K;
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K block");

typedef void (*vlkv_to_float_fn)(const void *x, float *y, int64_t n);   /* n % blck == 0 */
typedef void (*vlkv_from_float_fn)(const float *x, void *y, int64_t n); /* n % blck == 0 */

struct vlkv_type_traits {
    const char        *name;        /* "q4_K" style, as ggml prints it */
    int32_t            blck;        /* elements per block */
    size_t             type_size;   /* bytes per block */
    int                is_quant;
    int                supported;   /* usable as a weight type by the engine */
    enum vlkv_type     vec_dot_type;/* activation type for dot products (Q8_0, Q8_1, Q8_K, F16, F32, BF16) */
    vlkv_to_float_fn   to_float;    /* reference dequantizer (NULL if unsupported) */
    vlkv_from_float_fn from_float;  /* reference quantizer, llama.cpp's *_ref algorithm (NULL if none) */
};

/* Traits for a type id; NULL for ids that are not a known ggml type. */
const struct vlkv_type_traits *vlkv_type_traits_get(uint32_t type);
const char *vlkv_type_name(uint32_t type);           /* "?" for unknown */
/* Bytes of a row of ne0 elements (ne0 must be a multiple of the block size). */
size_t vlkv_row_size(enum vlkv_type type, int64_t ne0);
/* Parse a type name such as "q4_K", "Q8_0", "f16" (case-insensitive); -1 if unknown. */
int vlkv_type_from_name(const char *name);

/* Scalar conversions (exact; f32->f16 rounds to nearest even, as F16C does). */
float    vlkv_f16_to_f32(vlkv_f16 h);
vlkv_f16 vlkv_f32_to_f16(float f);
float    vlkv_bf16_to_f32(vlkv_bf16 h);
vlkv_bf16 vlkv_f32_to_bf16(float f);  /* round-to-nearest-even, NaN kept quiet (ggml) */

#endif /* VLKV_TYPES_H */
