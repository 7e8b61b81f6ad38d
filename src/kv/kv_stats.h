/* kv_stats.h - attention statistics gathered by the KV policies while attention runs
 * (kv-lvlm-methods.md §1.1, kv-baselines-less.md §2). The accumulator implements the attention
 * observer (kv_cache.h): row() gets one softmax row per (layer, query head, query) and adds it to
 * per-(layer, head) partial buffers, so heads running concurrently never share memory; the
 * policies reduce over heads (head mean, shared by all KV heads of a layer) at compress time.
 *
 * Statistics (request with the VLKV_STAT_* flags):
 *   COLSUM   s[l][j] = (1/H) sum_h sum_i A[l,h][i,j] over every prompt query i (PrefixKV, Elastic, H2O)
 *   POST     the same over the post-vision queries only: rows after the last IMAGE-tagged query row
 *            (VL-Cache §4.2-4.4); needs the cache bound (vlkv_kv_stats_bind) for the modality tags
 *   SPARSITY per-(layer, head) counts over the post-vision rows of entries with p < thr * max_j p
 *            and of causally visible entries (VL-Cache Eq. 1-2)
 *   WINDOW   the last `window` query rows kept in a ring (by position), for SnapKV / PyramidKV votes
 *            (any W' <= window can be summed at compress time) and VL-Cache's fallback
 *   DECODE   decode-time rows summed per slot (H2O's accumulated score while generating)
 * Rows of one (layer, head) are expected in query order for POST/SPARSITY (the image-row reset);
 * COLSUM/WINDOW/DECODE are order-independent. Buffers are allocated once (calloc: untouched
 * capacity is not resident); row() never allocates. */
#ifndef VLKV_KV_STATS_H
#define VLKV_KV_STATS_H

#include <stdint.h>

#include "kv_cache.h"

enum {
    VLKV_STAT_COLSUM   = 1u << 0,
    VLKV_STAT_POST     = 1u << 1,
    VLKV_STAT_SPARSITY = 1u << 2,
    VLKV_STAT_WINDOW   = 1u << 3,
    VLKV_STAT_DECODE   = 1u << 4,
};

struct vlkv_kv_stats {
    unsigned need;
    int32_t  n_layer, n_head, n_ctx;
    int32_t  window;        /* ring rows for WINDOW */
    float    sparsity_thr;  /* p of VL-Cache's ThresholdFilter (default 0.01) */
    const struct vlkv_kv_cache *cache;   /* for modality tags (POST, SPARSITY); may be NULL */

    float   *colsum;        /* [n_layer][n_head][n_ctx] */
    float   *post;          /* [n_layer][n_head][n_ctx] */
    int64_t *sp_out;        /* [n_layer][n_head] filtered-out causal entries in post-vision rows */
    int64_t *sp_vis;        /* [n_layer][n_head] causal entries in post-vision rows */
    int32_t *post_rows;     /* [n_layer][n_head] post-vision rows seen since the last image row */
    int32_t *post_len;      /* [n_layer][n_head] keys touched in post[] since the last reset */
    float   *ring;          /* [n_layer][n_head][window][n_ctx] */
    int32_t *ring_pos;      /* [n_layer][n_head][window] query position of each ring row (-1 empty) */
    int32_t *ring_n;        /* [n_layer][n_head][window] keys in each ring row */
    float   *dec;           /* [n_layer][n_head][n_ctx] */
    int32_t *extent;        /* [n_layer][n_head] keys touched in colsum/dec (reset zeroes only these) */
};

/* Allocate for the requested statistics. VLKV_ERR_OOM on failure (st is then freed). */
vlkv_status vlkv_kv_stats_init(struct vlkv_kv_stats *st, unsigned need, int32_t n_layer, int32_t n_head,
                               int32_t n_ctx, int32_t window, float sparsity_thr);
void vlkv_kv_stats_free(struct vlkv_kv_stats *st);
/* Zero everything (new prompt). */
void vlkv_kv_stats_reset(struct vlkv_kv_stats *st);
/* The cache whose modality tags classify query rows (POST, SPARSITY). */
void vlkv_kv_stats_bind(struct vlkv_kv_stats *st, const struct vlkv_kv_cache *c);

/* The observer callback (ud = struct vlkv_kv_stats *), usable in prefill and decode: prefill rows
 * feed COLSUM/POST/SPARSITY/WINDOW, decode rows feed DECODE. */
void vlkv_kv_stats_row_prefill(void *ud, int32_t il, int32_t ih, int32_t q_pos, int32_t q_slot,
                               const float *p, int32_t n_keys);
void vlkv_kv_stats_row_decode(void *ud, int32_t il, int32_t ih, int32_t q_pos, int32_t q_slot,
                              const float *p, int32_t n_keys);

/* ---- filling from a backend that reduces over query rows itself (the Vulkan forward) ----
 * The same accumulators as the observer callbacks, fed per (layer, batch) with per-head results:
 * sums[ih * ld + j] for j < n_keys, n_keys = the layer's slots after the batch was appended. */
/* The statistics behind an observer, or NULL when it is not one of the two callbacks above. */
struct vlkv_kv_stats *vlkv_kv_stats_of(const struct vlkv_attn_observer *obs);
/* COLSUM (decode = 0) or DECODE (decode = 1): add per-head column sums over a batch's rows. */
void vlkv_kv_stats_add_sums(struct vlkv_kv_stats *st, int decode, int32_t il, const float *sums, int32_t ld,
                            int32_t n_keys);
/* POST / SPARSITY: `reset` when the batch had an IMAGE row (what came before is not post-vision),
 * then add the batch's post-vision rows (those after its last image row): per-head column sums
 * (NULL: POST not wanted), `rows` of them, per-head filtered-out counts cnt[ih * ld + j] (summed over
 * j here) and `vis` causally visible entries per head. */
void vlkv_kv_stats_add_post(struct vlkv_kv_stats *st, int32_t il, int reset, const float *sums, const uint32_t *cnt,
                            int32_t ld, int32_t n_keys, int32_t rows, int64_t vis);
/* WINDOW: one probability row (head ih, query position q_pos, n_keys entries) into the ring. */
void vlkv_kv_stats_put_row(struct vlkv_kv_stats *st, int32_t il, int32_t ih, int32_t q_pos, const float *p,
                           int32_t n_keys);

/* ---- reductions (compress time; out[0..n) in double, head mean) ---- */
void vlkv_kv_stats_colsum(const struct vlkv_kv_stats *st, int32_t il, int32_t n, double *out);
void vlkv_kv_stats_post(const struct vlkv_kv_stats *st, int32_t il, int32_t n, double *out);
/* Post-vision rows seen by layer il (head 0), i.e. tau. */
int32_t vlkv_kv_stats_post_rows(const struct vlkv_kv_stats *st, int32_t il);
/* Layer sparsity gamma_l = mean_h (filtered-out / visible) over post-vision rows; -1 if no rows. */
double vlkv_kv_stats_sparsity(const struct vlkv_kv_stats *st, int32_t il);
/* Sum of the last w (<= window) query rows by position, head mean. Returns the rows summed. */
int32_t vlkv_kv_stats_window(const struct vlkv_kv_stats *st, int32_t il, int32_t w, int32_t n, double *out);
/* Same rows' sparsity (used when there are no post-vision rows); -1 if no rows. */
double vlkv_kv_stats_window_sparsity(const struct vlkv_kv_stats *st, int32_t il, int32_t w);
/* out[j] += head-sum of the decode rows of layer il (n slots), then zero them. */
void vlkv_kv_stats_take_decode(struct vlkv_kv_stats *st, int32_t il, int32_t n, double *out);

/* ---- building blocks, exported for tests and other backends ---- */
/* Entries of a probability row with p[j] < thr * max p (ThresholdFilter of VL-Cache Eq. 1). */
int32_t vlkv_sparsity_count_prob(const float *p, int32_t n, float thr);
/* The same test in logit space: z[j] < max z + ln(thr); needs only the row max logit (flash / GPU). */
int32_t vlkv_sparsity_count_logit(const float *z, int32_t n, float thr);
/* 1-D max pooling, stride 1, window `kernel` centred (padding kernel/2, as SnapKV's max_pool1d). */
void vlkv_pool_max(const double *in, int32_t n, int32_t kernel, double *out);

#endif /* VLKV_KV_STATS_H */
