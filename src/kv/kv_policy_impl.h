/* kv_policy_impl.h - what a KV retention policy implements (STYLE.md B10), the shared policy
 * instance, option descriptors, and the pure selection routines of every policy (exported so the
 * tests can check each policy's choice on hand-built score vectors).
 * Only kv_policy.c, the policy_*.c files, kv_calib.c and tests include this header; the context
 * uses kv_policy.h. */
#ifndef VLKV_KV_POLICY_IMPL_H
#define VLKV_KV_POLICY_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kv_policy.h"
#include "kv_stats.h"

/* ---- options ------------------------------------------------------------------------------ */

enum vlkv_kv_opt_kind { VLKV_OPT_INT, VLKV_OPT_FLOAT, VLKV_OPT_STR };

/* One "key=value" option of a policy, stored at `offset` in the policy's private struct
 * (int32_t, float, or char[VLKV_KV_OPT_STR_MAX]). Values outside [min, max] are rejected. */
struct vlkv_kv_opt {
    const char           *key;
    enum vlkv_kv_opt_kind kind;
    size_t                offset;
    double                def, min, max;
};
#define VLKV_KV_OPT_STR_MAX 256

/* ---- the vtable ---------------------------------------------------------------------------- */

struct vlkv_kv_policy_i {
    const char *name;                                                      /* required */
    const char *help;     /* what it does, options and defaults (vlkv_kv_policy_help) */  /* required */
    const struct vlkv_kv_opt *opts;   /* terminated by key == NULL */      /* can be NULL */
    size_t      priv_size;            /* options + state, zeroed, then option defaults */
    /* statistics wanted while the prompt is evaluated / while generating (VLKV_STAT_*) */
    unsigned    need_prefill, need_decode;
    int32_t     (*stats_window)(const struct vlkv_kv_policy *pol);        /* can be NULL: ring rows */
    vlkv_status (*init)(struct vlkv_kv_policy *pol);                        /* can be NULL */
    void        (*free)(struct vlkv_kv_policy *pol);                        /* can be NULL */
    void        (*reset)(struct vlkv_kv_policy *pol);                       /* can be NULL */
    vlkv_status (*compress)(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c);          /* required */
    vlkv_status (*decode_step)(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c,
                               int32_t n_total);                            /* can be NULL */
};

/* Per-layer decode state shared by the policies that keep evicting while generating. */
enum vlkv_kv_decode_rule {
    VLKV_DECODE_NONE = 0,   /* append only */
    VLKV_DECODE_FIFO,       /* fixed-point FIFO: evict the oldest queue entry when len - rho_l*N >= 1 */
};

struct vlkv_kv_policy {
    const struct vlkv_kv_policy_i *iface;
    float    budget;            /* retained fraction (0, 1] */
    int32_t  budget_tokens;     /* > 0: retained entries per layer on average */
    int32_t  n_threads;
    char    *config_path;       /* owned copy or NULL */
    struct vlkv_kv_shape s;
    struct vlkv_kv_stats stats;
    struct vlkv_attn_observer obs_prefill, obs_decode;
    int      has_prefill_obs, has_decode_obs;

    /* set by compress */
    int32_t  n_prompt;          /* T: slots of the longest layer before compression */
    int32_t *kept;              /* [n_layer] entries kept per layer at compress */
    float   *rho;               /* [n_layer] retained fraction per layer (FIFO target) */
    enum vlkv_kv_decode_rule rule;
    int      fifo_fixed;        /* FIFO keeps len <= kept[il] instead of len ~ rho_l * N */
    struct vlkv_kv_fifo *fifo;  /* [n_layer] */
    int32_t *fifo_buf;          /* [n_layer][2 * n_ctx] */
    int32_t *seen;              /* [n_layer] slots already registered with the FIFO */
    int32_t *p_evict;           /* [n_layer] scratch for the FIFO eviction points */
    int      compressed;
    double   policy_ms;

    /* scratch sized at create: [n_ctx] each */
    double  *score;
    double  *score2;
    int32_t *idx;
    int32_t *keep;

    void    *priv;              /* iface->priv_size bytes */
};

/* ---- helpers for policies (kv_policy.c) ---------------------------------------------------- */

/* Retained entries for a layer of T prompt slots under the policy's budget (floor, clamped to
 * [lo, T]); T when the budget keeps everything. */
int32_t vlkv_kv_budget_count(const struct vlkv_kv_policy *pol, int32_t T, int32_t lo);
/* Retained fraction for T prompt slots (budget, or budget_tokens / T capped at 1). */
double  vlkv_kv_budget_frac(const struct vlkv_kv_policy *pol, int32_t T);
/* Start the fixed-point FIFO on every layer: frozen prefix p[il], retained fraction rho[il]. */
void    vlkv_kv_fifo_start(struct vlkv_kv_policy *pol, const struct vlkv_kv_cache *c, const int32_t *p);
/* The FIFO decode rule of kv-lvlm-methods.md §1.4 (registers the new slot, evicts at most one). */
vlkv_status vlkv_kv_fifo_step(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c, int32_t n_total);
/* Compact every layer to pol->keep lists is policy-specific; this records kept[il] and releases. */
void    vlkv_kv_after_compact(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c, int32_t il);

/* ---- pure selection routines (no cache access; results are sorted slot lists) --------------- */

/* SnapKV votes of layer il's last w prompt rows, max-pooled (width kernel) over the keys before
 * the window, into pol->score[0..T) (policy_snapkv.c; PyramidKV uses it too). */
void    vlkv_snapkv_scores(struct vlkv_kv_policy *pol, int32_t il, int32_t T, int32_t w, int32_t kernel);
/* Stable sort of idx[0..n) by score[idx] descending (equal scores keep their order). tmp: [n]. */
void    vlkv_kv_argsort_desc(const double *score, int32_t *idx, int32_t n, int32_t *tmp);
/* Indices of the k largest scores among idx-candidates [lo, hi) of score[], ties to the lower
 * index; written sorted ascending to out. Returns k (clamped to hi - lo). tmp: [hi - lo] ints. */
int32_t vlkv_kv_topk(const double *score, int32_t lo, int32_t hi, int32_t k, int32_t *out, int32_t *tmp);

/* StreamingLLM: first n_sink + the last (n_keep - n_sink) of T. */
int32_t vlkv_kv_select_streaming(int32_t T, int32_t n_keep, int32_t n_sink, int32_t *keep);
/* Sinks [0, n_sink) + last n_recent + top (n_keep - n_sink - n_recent) of the rest by score
 * (H2O, SnapKV, PyramidKV, VL-Cache). Returns the count. tmp: [T] ints. */
int32_t vlkv_kv_select_scored(const double *score, int32_t T, int32_t n_keep, int32_t n_sink, int32_t n_recent,
                              int32_t *keep, int32_t *tmp);
/* PyramidKV budgets (KVCache-Factory rule, kv-baselines-less.md §2.5) for an average of B entries
 * per layer including the window w: writes n_layer counts. */
void    vlkv_kv_pyramid_budgets(int32_t n_layer, int32_t T, int32_t B, int32_t w, int32_t beta, int32_t *out);

/* PrefixKV (kv-lvlm-methods.md §2.3): per-sample search of the global cumulative-importance
 * threshold. curves: [n_layer][T] cumulative normalised importance of each layer's entries sorted
 * by decreasing score (vlkv_prefixkv_curve); r: target evicted fraction; P: protected count.
 * Writes per-layer evicted counts e[n_layer] (rescaled to the target, truncated) and returns the
 * threshold p; *E_search (optional) gets E(p) before rescaling. */
double  vlkv_prefixkv_search(const double *curves, int32_t n_layer, int32_t T, double r, int32_t P,
                             int32_t *e, int32_t *E_search);
/* One layer's curve: sort score[0..T) descending, normalise by the total (uniform if the total is
 * 0), running sum -> curve[0..T). idx, tmp: [T] ints. */
void    vlkv_prefixkv_curve(const double *score, int32_t T, double *curve, int32_t *idx, int32_t *tmp);
/* PrefixKV prefill selection (§2.6): drop the f lowest-score slots of [S, T-R), keeping [0, S) and
 * the last R = protect slots (the reference's protect_size, default 1); ties: the later slot goes
 * first. Returns T - f (f clamped). */
int32_t vlkv_prefixkv_select(const double *score, int32_t T, int32_t f, int32_t S, int32_t protect, int32_t *keep,
                             int32_t *tmp);

/* Elastic Cache anchors and buckets, paper algorithm (§3.3): n_keep total entries; [0, S) and the
 * last R = protect slots (paper: R = 1) protected (runs of one); n_keep - S - R anchors from
 * [S, T-R) by score, each absorbing the window positions nearest to it (midpoints to the left
 * anchor). Writes anchor[n_out], run_b[n_out], run_e[n_out] (output i = mean of slots
 * [run_b[i], run_e[i])). Returns n_out. tmp: [2T] ints. */
int32_t vlkv_elastic_plan(const double *score, int32_t T, int32_t n_keep, int32_t S, int32_t protect, int32_t *anchor,
                          int32_t *run_b, int32_t *run_e, int32_t *tmp);
/* Elastic Cache reference-code indexing (§3.4, parity=1): f = evicted count. Writes keep[n_out],
 * src_off[n_out + 1], src[] (sources of each kept slot; see vlkv_kv_merge). Returns n_out. */
int32_t vlkv_elastic_plan_parity(const double *score, int32_t T, int32_t f, int32_t S, int32_t *keep,
                                 int32_t *src_off, int32_t *src, int32_t *tmp);

/* VL-Cache budgets (Algorithm 1 + [VLC-Eff] window, §4.3/4.5): from layer sparsities gamma[n_layer],
 * target retained fraction alpha, prompt length m, recent_frac and protect (window at least this
 * many entries, inside the budget; 0 = the paper): writes the top-k count k[il] per layer
 * (excluding the window) and returns the global window w. */
int32_t vlkv_vlcache_budgets(const double *gamma, int32_t n_layer, double alpha, int32_t m, double recent_frac,
                             int32_t protect, int32_t *k);

/* ---- registry ------------------------------------------------------------------------------- */
extern const struct vlkv_kv_policy_i vlkv_kv_policy_full_i, vlkv_kv_policy_streaming_i, vlkv_kv_policy_h2o_i,
    vlkv_kv_policy_snapkv_i, vlkv_kv_policy_pyramidkv_i, vlkv_kv_policy_prefixkv_i, vlkv_kv_policy_elastic_i,
    vlkv_kv_policy_vlcache_i;

/* The policy's private struct (options first). */
static inline void *vlkv_kv_priv(struct vlkv_kv_policy *pol) { return pol->priv; }

#endif /* VLKV_KV_POLICY_IMPL_H */
