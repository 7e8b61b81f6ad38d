/* ops.h - threaded CPU operators over the simd/ kernel table, shared by the LLaMA decoder
 * (llama.c) and the CLIP encoder (clip.c). Activations are row-major F32 matrices
 * [n_rows][n_cols]; weights are GGUF tensor views (any supported type).
 * Threading: each op splits its output rows statically over `n_threads` OpenMP threads
 * (deterministic for a given thread count). Scratch comes from struct vlkv_ops_ctx. */
#ifndef VLKV_OPS_H
#define VLKV_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "simd.h"

struct vlkv_ops_ctx {
    const struct vlkv_kernels *k;
    int     n_threads;
    void   *wbuf;        /* scratch for quantized activations / dequantized tiles, grown on demand */
    size_t  wbuf_size;
    int     use_blas;    /* 1: large GEMMs may go to OpenBLAS (VLKV_BLAS=0 in the environment disables) */
    float  *att;         /* attention scores scratch: [n_threads][att_n] floats (kv_attend), grown on demand */
    size_t  att_n;       /* floats per thread in att */
    int     blas_in_omp; /* 1: dequantized-weight sgemm runs per OpenMP thread, OpenBLAS single-threaded */
    int     prefill_mode;/* 0 auto (measured rule below), 1 force BLAS, 2 force gemm kernels (VLKV_PREFILL env) */
};

void vlkv_ops_init(struct vlkv_ops_ctx *o, int n_threads);
void vlkv_ops_free(struct vlkv_ops_ctx *o);
/* Make sure o->wbuf holds at least `size` bytes; VLKV_ERR_OOM on failure. */
vlkv_status vlkv_ops_reserve(struct vlkv_ops_ctx *o, size_t size);
/* Make sure o->att holds n floats for each of the n_threads threads; VLKV_ERR_OOM on failure. */
vlkv_status vlkv_ops_reserve_att(struct vlkv_ops_ctx *o, size_t n);
/* Worst-case o->wbuf bytes vlkv_matmul needs for W and n_tok activation rows (reserve it once
 * at init so the forward never allocates). */
size_t vlkv_matmul_wsize(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, int64_t n_tok);
/* Which prefill path vlkv_matmul takes for this shape: 0 = quantized gemv/gemm kernels, 1 = BLAS. */
int vlkv_matmul_uses_blas(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, int64_t n_tok);

/* y[t][m] = sum_k W[m][k] * x[t][k] (+ bias[m] if bias != NULL), for t < n_tok.
 * W is ggml ne = [K, M] (row m contiguous). x: [n_tok][K], y: [n_tok][M], both F32.
 * Decode (n_tok small) uses the quantized gemv kernels with activations converted to the
 * weight's vec_dot_type; prefill uses BLAS sgemm on dequantized tiles or the gemm kernels,
 * whichever is faster for the shape. */
vlkv_status vlkv_matmul(struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, const struct vlkv_tensor *bias,
                        const float *x, int64_t n_tok, float *y);

/* y[i] = W[i] · x for n_w weights that read the same input (Q, K, V of a layer; gate and up).
 * When none of them takes the BLAS path and they share K and the activation type, x is converted
 * once and one parallel region covers the rows of all of them (the decode fast path); otherwise
 * it is n_w plain vlkv_matmul calls. bias may be NULL or hold NULL entries. */
vlkv_status vlkv_matmul_multi(struct vlkv_ops_ctx *o, int n_w, const struct vlkv_tensor *const *W,
                              const struct vlkv_tensor *const *bias, const float *x, int64_t n_tok, float *const *y);

/* Row `row` of a (possibly quantized) 2-D tensor as F32 (embedding lookup). */
void vlkv_get_row(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *t, int64_t row, float *out);

void vlkv_rmsnorm(struct vlkv_ops_ctx *o, const float *x, const float *w, float eps, int64_t n_rows,
                  int64_t n, float *y);
/* LayerNorm with biased variance: y = (x - mean) / sqrt(var + eps) * w + b. */
void vlkv_layernorm(struct vlkv_ops_ctx *o, const float *x, const float *w, const float *b, float eps,
                    int64_t n_rows, int64_t n, float *y);
/* Adjacent-pair (NORM) RoPE in place on x [n_rows][n_head][d_head] with per-row positions. */
void vlkv_rope_norm(struct vlkv_ops_ctx *o, float *x, int64_t n_rows, int n_head, int d_head, int n_rot,
                    const int32_t *pos, float freq_base, float freq_scale);
void vlkv_silu_mul(struct vlkv_ops_ctx *o, const float *g, const float *u, int64_t n, float *y);
void vlkv_gelu_erf(struct vlkv_ops_ctx *o, float *x, int64_t n);      /* in place, exact erf form */
void vlkv_gelu_tanh(struct vlkv_ops_ctx *o, float *x, int64_t n);     /* in place, tanh approx */
void vlkv_gelu_quick(struct vlkv_ops_ctx *o, float *x, int64_t n);    /* x * sigmoid(1.702 x) */
void vlkv_add(struct vlkv_ops_ctx *o, float *y, const float *x, int64_t n);   /* y += x */

/* In place: x = softmax(scale * x) over one row of n attention scores. */
void vlkv_softmax_scaled(const struct vlkv_kernels *kt, float *x, int64_t n, float scale);

/* Dense (non-causal) multi-head attention for the ViT: q,k,v,out [n][n_head*d_head]. */
void vlkv_attention_dense(struct vlkv_ops_ctx *o, const float *q, const float *k, const float *v,
                          int64_t n, int n_head, int d_head, float *out);
#ifdef VLKV_HAVE_BLAS
/* The same as two sgemms per head around a row softmax, s: [n][n] F32 scratch. */
void vlkv_attention_blas(struct vlkv_ops_ctx *o, const float *q, const float *k, const float *v,
                         int64_t n, int n_head, int d_head, float *out, float *s);
#endif

#endif /* VLKV_OPS_H */
