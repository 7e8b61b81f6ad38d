/* vk_llama.h - the LLaMA decoder forward on the Vulkan backend: the same computation as
 * llama.c (formats.md §3.3) recorded as shader dispatches, with the weights uploaded once and the
 * ragged per-layer KV cache living on the device (it never round-trips through the host; only
 * token ids / embeddings go up and logits / attention statistics come back).
 *
 * The KV cache mirrors struct vlkv_kv_cache: per layer len/cap and the host-side pos/mod of every
 * slot; K (after RoPE) and V rows are F16 or F32 on the device. The KV policies' decisions run on
 * the host from the statistics this forward returns; the data movement they decide (compaction,
 * FIFO removal, Elastic merging) runs on the device through vk_llama_kv_*. */
#ifndef VLKV_VK_LLAMA_H
#define VLKV_VK_LLAMA_H

#include "llama.h"
#include "vk.h"

struct vk_llama_layer {
    struct vk_buffer attn_norm, ffn_norm;
    struct vk_weight wq, wk, wv, wo, w_gate, w_up, w_down;
    struct vk_buffer bq, bk, bv, bo;       /* buf == VK_NULL_HANDLE when absent */
    /* KV */
    struct vk_buffer k, v;                 /* [cap][n_head_kv*d_head] of kv_type */
    int32_t  len, cap;
    int32_t *pos;                          /* [cap] host copies */
    uint8_t *mod;                          /* [cap] */
};

struct vk_llama {
    struct vk_device        *dev;
    const struct vlkv_model *m;
    int32_t  n_batch, n_ctx;
    uint32_t kv_type;                      /* VLKV_TYPE_F16 or VLKV_TYPE_F32 */
    struct vk_weight tok_embd, output;     /* output unused when tied to tok_embd */
    struct vk_buffer output_norm;
    int      tied;
    struct vk_llama_layer *layers;         /* [n_layer] */
    /* activations [n_batch][...] f32 */
    struct vk_buffer x, xb, xb2, q, k, v, att, hb, hb2;
    struct vk_buffer ids, pos;             /* int32 [n_batch] */
    struct vk_buffer scores, stats;        /* attention scratch, (max, lse) [n_batch][n_head][2] */
    struct vk_buffer per_head, colsum;     /* statistics: [n_head][n_ctx], [n_layer][colsum_stride] */
    uint32_t colsum_stride;                /* n_ctx rounded up to 64 floats (binding offset alignment) */
    struct vk_buffer logits;               /* [n_batch][n_vocab] */
    struct vk_buffer up_host, down_host;   /* persistent host-visible staging */
    struct vk_buffer idx;                  /* int32 [2*n_ctx] keep lists / merge segments */
    struct vk_buffer kv_scratch;           /* one layer's K (or V) for compaction / merging */
    size_t   up_size, down_size;
    /* per-head statistics for the KV policies (vk_llama_stats_reserve): a block of
     * sums [n_head][n_ctx] | post sums [n_head][n_ctx] | counts [n_head][n_ctx] (uint32) |
     * probability rows [hs_rows][n_head][n_ctx]; the used part of each is packed with row stride
     * n_kv (the layer's slots after the append). The device has one block (reused layer after
     * layer); each layer's results are copied into its own block of hs_host [n_layer]. */
    int32_t  hs_rows;                      /* -1: not reserved */
    size_t   hs_layer, hs_off_post, hs_off_cnt, hs_off_rows;
    struct vk_buffer hs, hs_host;
    int32_t *hs_nkv;                       /* [n_layer] slots covered by the last forward's statistics */
    /* single-slot removals (FIFO swap-remove, shifting remove) are not submitted on their own: they
     * are recorded at the start of the next sequence (forward or rewrite), so a decode step's
     * evictions cost no extra submission. {layer, kind (0 swap, 1 shift), slot, last/len} */
    int32_t (*pend)[4];
    int32_t  n_pend, cap_pend;
};

/* Upload the model's weights and allocate the device KV cache (n_ctx slots per layer) and the
 * activations for batches of up to n_batch positions. kv_type: VLKV_TYPE_F16 or VLKV_TYPE_F32.
 * VLKV_ERR_UNSUPPORTED (with the tensor's name) if a weight type has no shader. Matrices larger
 * than one storage-buffer binding are split by rows (struct vk_weight). */
vlkv_status vk_llama_init(struct vk_llama *g, struct vk_device *dev, const struct vlkv_model *m, int32_t n_ctx,
                          int32_t n_batch, uint32_t kv_type);
void        vk_llama_free(struct vk_llama *g);
void        vk_llama_kv_clear(struct vk_llama *g);

/* Column sums of the attention probabilities of the batch's query rows [r0, r1), averaged over
 * query heads (kv-lvlm-methods.md §1.1), per layer over that layer's slots after the append:
 * out[il * out_stride + j] for j < layers[il].len. */
struct vk_llama_stats_req {
    int32_t r0, r1;
    float  *out;
    int32_t out_stride;
};

/* Evaluate a batch exactly like vlkv_llama_forward (same argument meaning; the observer is
 * replaced by the optional statistics request). */
vlkv_status vk_llama_forward(struct vk_llama *g, const struct vlkv_llama_batch *batch,
                             const struct vk_llama_stats_req *stats, float *logits, int all_logits);

/* Per-head statistics of one batch, reduced on the device per layer and read back with the logits
 * (what the KV policies' observers gather on the CPU, kv_stats.h). Row ranges index the batch;
 * empty ranges request nothing. Needs vk_llama_stats_reserve(). */
struct vk_llama_head_req {
    int32_t sum_r0, sum_r1;     /* column sums over these query rows, per head -> vk_llama_head_sum */
    int32_t post_r0, post_r1;   /* the same -> vk_llama_head_post, + counts if count != 0 */
    int     count;              /* per (head, slot): rows with p < thr * row max -> vk_llama_head_cnt */
    float   thr;
    int32_t rows_r0, rows_r1;   /* the probability rows themselves (<= the reserved count) */
};
/* Allocate the statistics buffers for up to max_rows probability rows per layer and batch. */
vlkv_status vk_llama_stats_reserve(struct vk_llama *g, int32_t max_rows);
vlkv_status vk_llama_forward_ex(struct vk_llama *g, const struct vlkv_llama_batch *batch,
                                const struct vk_llama_stats_req *stats, const struct vk_llama_head_req *head,
                                float *logits, int all_logits);
/* Results of the last forward_ex for layer il (host memory, valid until the next forward):
 * sums/post/cnt [n_head][n], rows [r][n_head][n] with n = vk_llama_head_nkv(g, il). */
int32_t         vk_llama_head_nkv(const struct vk_llama *g, int32_t il);
const float    *vk_llama_head_sum(const struct vk_llama *g, int32_t il);
const float    *vk_llama_head_post(const struct vk_llama *g, int32_t il);
const uint32_t *vk_llama_head_cnt(const struct vk_llama *g, int32_t il);
const float    *vk_llama_head_rows(const struct vk_llama *g, int32_t il);

/* KV rewriting on the device, with the same contracts as kv_cache.h's vlkv_kv_compact /
 * vlkv_kv_remove. merge: slot i of the result (i < n_out) is the mean of old slots
 * [seg[2i], seg[2i+1]) and takes old slot anchor[i]'s position and modality. */
vlkv_status vk_llama_kv_compact(struct vk_llama *g, int32_t il, const int32_t *keep, int32_t n_keep);
vlkv_status vk_llama_kv_remove(struct vk_llama *g, int32_t il, int32_t idx);
/* O(1) eviction (the data side of vlkv_kv_fifo_evict): the last slot moves into slot idx.
 * remove and swap_remove update len/pos/mod at once; their row copies run with the next sequence. */
vlkv_status vk_llama_kv_swap_remove(struct vk_llama *g, int32_t il, int32_t idx);
vlkv_status vk_llama_kv_merge(struct vk_llama *g, int32_t il, const int32_t *seg, const int32_t *anchor,
                              int32_t n_out);
/* kv_cache.h's vlkv_kv_merge_runs contract: output i = mean of slots [run_b[i], run_e[i]) with the
 * pos/mod of anchor[i]; runs disjoint and increasing, slots outside every run dropped. */
/* kv_cache.h's vlkv_kv_merge contract (src_off != NULL): output i = mean of slot keep[i] and the
 * sources src[src_off[i] .. src_off[i+1]) (listed twice counts twice), pos/mod of keep[i]. */
vlkv_status vk_llama_kv_merge_src(struct vk_llama *g, int32_t il, const int32_t *keep, int32_t n_keep,
                                  const int32_t *src_off, const int32_t *src);
vlkv_status vk_llama_kv_merge_runs(struct vk_llama *g, int32_t il, const int32_t *anchor, const int32_t *run_b,
                                   const int32_t *run_e, int32_t n_out);

#endif /* VLKV_VK_LLAMA_H */
