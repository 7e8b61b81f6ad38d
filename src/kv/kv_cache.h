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

/* Data movement of a cache whose K/V rows live elsewhere (a device backend, context.c): when a
 * cache has hooks, kv_compact.c updates len/pos/mod on the host as usual and hands the K/V side of
 * each rewrite to the hook instead of touching the host rows (which then stay unused). Contracts
 * as the functions below; swap_remove is the data side of vlkv_kv_fifo_evict (the last slot moves
 * into slot idx). release may be NULL. A failing hook's status is kept in hook_status (the first
 * one); the host metadata is updated regardless, so the cache must be cleared after an error. */
struct vlkv_kv_hooks {
    vlkv_status (*compact)(void *ud, int32_t il, const int32_t *keep, int32_t n_keep);
    vlkv_status (*remove)(void *ud, int32_t il, int32_t idx);
    vlkv_status (*swap_remove)(void *ud, int32_t il, int32_t idx);
    vlkv_status (*merge)(void *ud, int32_t il, const int32_t *keep, int32_t n_keep, const int32_t *src_off,
                         const int32_t *src);
    vlkv_status (*merge_runs)(void *ud, int32_t il, const int32_t *anchor, const int32_t *run_b,
                              const int32_t *run_e, int32_t n_out);
    void        (*release)(void *ud, int32_t il);
    void        *ud;
};

struct vlkv_kv_cache {
    int32_t  n_layer;
    int32_t  n_head_kv;
    int32_t  d_head;
    uint32_t type;       /* VLKV_TYPE_F16 (default) or VLKV_TYPE_F32 */
    size_t   row_bytes;  /* bytes of one slot's K (== V) row: n_head_kv * d_head * elem size */
    int32_t  n_ctx;      /* maximum slots a layer may ever need */
    struct vlkv_kv_layer *layers;   /* [n_layer] */
    const struct vlkv_kv_hooks *hooks;   /* NULL: K/V rows are the host arrays above */
    vlkv_status hook_status;             /* first failure of a hook (VLKV_OK) */
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

/* Merge (Elastic Cache, kv-lvlm-methods.md §3.3): output slot i (i < n_keep) becomes the element-wise
 * mean of the rows of slot keep[i] and of the source slots src[src_off[i] .. src_off[i+1]) (a slot
 * listed twice counts twice), for K and V and every KV head; pos/mod of output i are those of keep[i].
 * keep[] strictly increasing; sources may be anywhere in [0, len). Means are taken in F32 and rounded
 * back to the storage type. tmp: scratch of at least n_keep * n_head_kv * d_head * 2 floats (or NULL:
 * allocated here; VLKV_ERR_OOM if that fails). src_off == NULL is plain compaction. */
vlkv_status vlkv_kv_merge(struct vlkv_kv_cache *c, int32_t il, const int32_t *keep, int32_t n_keep,
                          const int32_t *src_off, const int32_t *src, float *tmp);
/* Run form (Elastic's buckets): output i = mean of slots [run_b[i], run_e[i]), keeping the pos/mod
 * of anchor[i] in [run_b[i], run_e[i]). Runs are disjoint and increasing; slots outside every
 * run are dropped. */
vlkv_status vlkv_kv_merge_runs(struct vlkv_kv_cache *c, int32_t il, const int32_t *anchor, const int32_t *run_b,
                               const int32_t *run_e, int32_t n_out);

/* Give the pages of layer il's K/V beyond `len` slots back to the OS (madvise DONTNEED on whole
 * pages; contents past len become zero). Resident memory then follows the retained budget. */
void vlkv_kv_release(struct vlkv_kv_cache *c, int32_t il);

/* O(1) FIFO for fixed-point eviction (kv-lvlm-methods.md §1.4). Slots [0, p) are frozen; the slots
 * [p, len) form a queue whose age order is kept in a ring of slot ids (ids[cap]). Evicting the oldest
 * entry moves the newest slot (len-1) into the hole and shrinks len by one: one row copy instead of a
 * memmove of the whole tail. Decode attention is a sum over slots, so the physical order of the queue
 * does not matter; pos[] stays correct for every slot (new tokens are always appended at len, after
 * all older positions, so causal masks of later multi-token appends stay valid). */
struct vlkv_kv_fifo {
    int32_t *ids;    /* [cap] ring of slot ids, oldest at head */
    int32_t *where;  /* [cap] ring index of each queued slot id */
    int32_t  cap;    /* >= the layer's slot capacity */
    int32_t  head;   /* ring index of the oldest entry */
    int32_t  n;      /* entries in the ring == len - p */
    int32_t  p;      /* frozen prefix length (the fixed eviction index) */
};
/* Start a FIFO over slots [p, len) of a layer (slot order = age order). buf: [2 * cap] ints. */
void vlkv_kv_fifo_init(struct vlkv_kv_fifo *f, int32_t *buf, int32_t cap, int32_t p, int32_t len);
/* Register the slot just appended (len-1). */
void vlkv_kv_fifo_push(struct vlkv_kv_fifo *f, int32_t slot);
/* Evict the oldest FIFO entry of layer il (no-op if the FIFO is empty). Returns the evicted slot's
 * original position, or -1. */
int32_t vlkv_kv_fifo_evict(struct vlkv_kv_fifo *f, struct vlkv_kv_cache *c, int32_t il);

#endif /* VLKV_KV_CACHE_H */
