/* kv_cache.h - the ragged per-layer KV cache (DESIGN.md §5, kv-lvlm-methods.md §1.2).
 * Each layer has its own length and capacity; slot s of layer il holds the K (after RoPE) and
 * V rows of one token for all KV heads, plus that token's original position and modality.
 * Attention always runs over exactly the layer's `len` slots. Compaction / merging / FIFO
 * eviction (kv_compact.c) rewrite the slots in place. */
#ifndef VLKV_KV_CACHE_H
#define VLKV_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vlkv.h"
#include "ops.h"

struct vlkv_kv_layer {
    int32_t  len;       /* slots in use */
    int32_t  cap;       /* slots allocated */
    void    *k;         /* [cap][n_head_kv * d_head] of F16 or F32, keys after RoPE */
    void    *v;         /* [cap][n_head_kv * d_head] */
    int32_t *pos;       /* [cap] original absolute position of the token in each slot */
    uint8_t *mod;       /* [cap] vlkv_modality of the token in each slot */
};

struct vlkv_kv_cache {
    int32_t  n_layer;
    int32_t  n_head_kv;
    int32_t  d_head;
    uint32_t type;       /* VLKV_TYPE_F16 (default) or VLKV_TYPE_F32 */
    size_t   row_bytes;  /* bytes of one slot's K (== V) row: n_head_kv * d_head * elem size */
    int32_t  n_ctx;      /* maximum slots a layer may ever need */
    struct vlkv_kv_layer *layers;   /* [n_layer] */
};

/* Observer of attention probabilities, used by the KV policies to gather statistics while a
 * layer runs. row() is called once per (layer il, query head ih, query) with the softmax
 * probabilities p[0..n_keys) over the layer's slots; q_slot is the query's own slot index and
 * q_pos its position. Calls with the same ih never run concurrently (attention parallelises over
 * heads); different ih may. */
struct vlkv_attn_observer {
    void (*row)(void *ud, int32_t il, int32_t ih, int32_t q_pos, int32_t q_slot,
                const float *p, int32_t n_keys);
    void *ud;
};

vlkv_status vlkv_kv_cache_init(struct vlkv_kv_cache *c, int32_t n_layer, int32_t n_head_kv, int32_t d_head,
                               int32_t n_ctx, uint32_t type);
void vlkv_kv_cache_free(struct vlkv_kv_cache *c);
void vlkv_kv_cache_clear(struct vlkv_kv_cache *c);   /* len = 0 everywhere */

/* Append n tokens to layer il: k, v are [n][n_head_kv*d_head] F32 (k already rotated).
 * VLKV_ERR_CONTEXT_FULL if the layer has no room. */
vlkv_status vlkv_kv_append(struct vlkv_kv_cache *c, int32_t il, const float *k, const float *v, int32_t n,
                           const int32_t *pos, const uint8_t *mod);

/* Causal attention of the n_q most recently appended tokens of layer il over the layer's slots:
 * query i (0-based among the n_q) sees slots [0, len - n_q + i]. q, out: [n_q][n_head*d_head];
 * grouped-query: query head h uses KV head h / (n_head / n_head_kv). Scale 1/sqrt(d_head).
 * obs may be NULL. */
void vlkv_kv_attend(struct vlkv_ops_ctx *o, const struct vlkv_kv_cache *c, int32_t il, const float *q,
                    int32_t n_q, int32_t n_head, float *out, const struct vlkv_attn_observer *obs);

/* Bytes of K+V held by `len` slots in all layers, and allocated. */
size_t vlkv_kv_bytes_used(const struct vlkv_kv_cache *c);
size_t vlkv_kv_bytes_reserved(const struct vlkv_kv_cache *c);

/* ---- in-place rewriting (kv_compact.c) ------------------------------------------------- */

/* Keep exactly the slots keep[0..n_keep) (strictly increasing) of layer il, in order. */
void vlkv_kv_compact(struct vlkv_kv_cache *c, int32_t il, const int32_t *keep, int32_t n_keep);
/* Remove the one slot `idx` of layer il; later slots shift left (FIFO eviction at a fixed index). */
void vlkv_kv_remove(struct vlkv_kv_cache *c, int32_t il, int32_t idx);

#endif /* VLKV_KV_CACHE_H */
