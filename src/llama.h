/* llama.h - the LLaMA decoder forward over the ragged KV cache (formats.md §3.3).
 * One call evaluates a batch of up to n_batch positions (token ids or embedding rows), appends
 * their K/V to every layer and writes the logits of the last position, or of every position. */
#ifndef VLKV_LLAMA_H
#define VLKV_LLAMA_H

#include <stdint.h>

#include "kv/kv_cache.h"
#include "model.h"
#include "ops.h"

/* Activation buffers for n_batch positions, allocated once (the forward never allocates). */
struct vlkv_llama_buf {
    int32_t n_batch;
    float  *x;      /* [n_batch][E]  residual stream */
    float  *xb;     /* [n_batch][E]  normed input of a sub-block */
    float  *xb2;    /* [n_batch][E]  sub-block output */
    float  *q;      /* [n_batch][n_head*Hd] */
    float  *k;      /* [n_batch][n_head_kv*Hd] */
    float  *v;      /* [n_batch][n_head_kv*Hd] */
    float  *att;    /* [n_batch][n_head*Hd] attention output */
    float  *hb;     /* [n_batch][F] gate, then silu(gate)*up */
    float  *hb2;    /* [n_batch][F] up */
};

vlkv_status vlkv_llama_buf_init(struct vlkv_llama_buf *b, const struct vlkv_model *m, int32_t n_batch);
void        vlkv_llama_buf_free(struct vlkv_llama_buf *b);
/* Scratch bytes (o->wbuf) the forward needs for n_batch positions (reserve once at init). */
size_t      vlkv_llama_wsize(const struct vlkv_ops_ctx *o, const struct vlkv_model *m, int32_t n_batch);

struct vlkv_llama_batch {
    int32_t        n;        /* positions, 1 <= n <= buf->n_batch */
    const int32_t *tokens;   /* [n] token ids, or NULL when embd is given */
    const float   *embd;     /* [n][E] input embeddings, or NULL */
    const int32_t *pos;      /* [n] RoPE positions */
    const uint8_t *mod;      /* [n] vlkv_modality tags stored in the cache */
};

/* Evaluate the batch. logits: [n_vocab] for the last position, or [n][n_vocab] if all_logits.
 * obs (may be NULL) sees every attention row. Fails with VLKV_ERR_CONTEXT_FULL (nothing
 * appended) if a layer lacks room, VLKV_ERR_INVALID_ARG for a token id out of range. */
vlkv_status vlkv_llama_forward(const struct vlkv_model *m, struct vlkv_ops_ctx *o, struct vlkv_llama_buf *b,
                               struct vlkv_kv_cache *kv, const struct vlkv_llama_batch *batch,
                               const struct vlkv_attn_observer *obs, float *logits, int all_logits);

/* Floats of o->att per thread that vlkv_kv_attend needs for a layer of up to n_ctx slots
 * (implemented in kv/kv_cache.c; reserve it once with vlkv_ops_reserve_att at init). */
size_t vlkv_kv_attend_scratch(int32_t n_ctx, int32_t n_head, int32_t n_head_kv, int32_t d_head);

#endif /* VLKV_LLAMA_H */
