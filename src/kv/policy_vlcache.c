/* policy_vlcache.c - VL-Cache (arXiv 2410.23317, ICLR 2025; kv-lvlm-methods.md §4): sparsity- and
 * modality-aware KV retention for vision-language prompts, decided once at the end of the prompt.
 *   post-vision rows: the prompt queries after the last IMAGE-tagged token (§4.2). If there are
 *     fewer than min_post of them (question before the image, no image, or the cache was not bound
 *     to the policy before the prompt), the last `fallback_window` prompt rows are used instead,
 *     as in the paper's speed test (§4.9 pitfall 1).
 *   layer sparsity (Eq. 1-2): gamma_l = mean over heads of the share of causally visible entries
 *     of the post-vision rows with p < thr * rowmax (thr = 0.01; equivalently z < zmax + ln thr).
 *   budgets (Algorithm 1 + the [VLC-Eff] recent window, §4.3/4.5): density d_l = 1 - gamma_l;
 *     window w = max(1, floor(recent_frac*alpha*m)) (all layers); top-k fraction
 *     beta'_l = clip(d_l / sum(d) * (1 - recent_frac) * alpha * L, 0.01*(1 - recent_frac), 1),
 *     k'_l = max(1, floor(beta'_l * m)); alpha = budget, m = prompt length. No renormalisation
 *     after clipping (the realised total is logged).
 *   selection (§4.4): score = post-vision column sums (head mean, layer-shared); keep the last w
 *     entries + the top k'_l of the rest.
 *   protect (ours, off by default): the window is at least the last `protect` prompt entries, inside
 *     the budget - the top-k fraction becomes alpha - w/m instead of (1 - recent_frac) * alpha. At
 *     low budgets on short-question prompts the paper's window (10 % of ~0.1 m, i.e. 1-2 entries)
 *     leaves the question to the ranking, where post-vision column sums rank it last (each question
 *     token is seen by the few rows after it); protect=16 keeps it, as for PrefixKV / Elastic.
 *   decode: append only (no eviction while generating). alpha = 1 keeps everything (bypass).
 * Options (defaults): thr=0.01, recent_frac=0.1, protect=0, min_post=8, fallback_window=32.
 * Needs: post-vision column sums and sparsity counts (+ the last rows as fallback). */
#include "kv_policy_impl.h"

#include <math.h>
#include <stddef.h>

#include "internal.h"

struct vlcache {
    float   thr;
    float   recent_frac;
    int32_t protect;
    int32_t min_post;
    int32_t fallback_window;
};

static const struct vlkv_kv_opt vlcache_opts[] = {
    {"thr", VLKV_OPT_FLOAT, offsetof(struct vlcache, thr), 0.01, 1e-6, 1.0},
    {"recent_frac", VLKV_OPT_FLOAT, offsetof(struct vlcache, recent_frac), 0.1, 0.0, 0.99},
    {"protect", VLKV_OPT_INT, offsetof(struct vlcache, protect), 0, 0, 1 << 20},
    {"min_post", VLKV_OPT_INT, offsetof(struct vlcache, min_post), 8, 1, 1 << 20},
    {"fallback_window", VLKV_OPT_INT, offsetof(struct vlcache, fallback_window), 32, 1, 4096},
    {0},
};

int32_t vlkv_vlcache_budgets(const double *gamma, int32_t n_layer, double alpha, int32_t m, double recent_frac,
                             int32_t protect, int32_t *k) {
    double Z = 0.0;
    for (int32_t l = 0; l < n_layer; l++) Z += 1.0 - gamma[l];
    const int32_t w0 = VLKV_MAX(1, (int32_t)floor(recent_frac * alpha * m));
    const int32_t w = VLKV_MIN(m, VLKV_MAX(w0, protect));
    /* the ranked part's share of the budget: the paper's (1 - recent_frac) * alpha, or what the
     * protected window leaves of alpha */
    const double frac = w > w0 ? VLKV_MAX(0.0, alpha - (double)w / m) : (1.0 - recent_frac) * alpha;
    const double lo = 0.01 * (1.0 - recent_frac);
    for (int32_t l = 0; l < n_layer; l++) {
        const double share = Z > 0 ? (1.0 - gamma[l]) / Z : 1.0 / n_layer;
        double beta = share * frac * n_layer;
        beta = beta < lo ? lo : beta > 1.0 ? 1.0 : beta;
        k[l] = VLKV_MIN(VLKV_MAX(1, (int32_t)floor(beta * m)), m - w);   /* w <= m, so k >= 0 */
    }
    return w;
}

static int32_t vlcache_window(const struct vlkv_kv_policy *pol) {
    return ((const struct vlcache *)pol->priv)->fallback_window;
}

static vlkv_status vlcache_init(struct vlkv_kv_policy *pol) {
    const struct vlcache *o = pol->priv;
    pol->stats.sparsity_thr = o->thr;   /* picked up when the statistics are created */
    return VLKV_OK;
}

static vlkv_status vlcache_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    const struct vlcache *o = pol->priv;
    const int32_t m = pol->n_prompt, NL = c->n_layer;
    const double alpha = vlkv_kv_budget_frac(pol, m);
    if (alpha >= 1.0) return VLKV_OK;
    pol->stats.sparsity_thr = o->thr;
    double *gamma = pol->score2;   /* [NL] */
    int32_t *k = pol->p_evict;
    int use_post = 1;
    for (int32_t l = 0; l < NL; l++)
        if (vlkv_kv_stats_post_rows(&pol->stats, l) < o->min_post || vlkv_kv_stats_sparsity(&pol->stats, l) < 0)
            use_post = 0;
    if (!use_post)
        VLKV_LOG_INFO("vlcache: fewer than %d post-vision rows; scoring with the last %d prompt rows", o->min_post,
                      o->fallback_window);
    for (int32_t l = 0; l < NL; l++) {
        gamma[l] = use_post ? vlkv_kv_stats_sparsity(&pol->stats, l)
                            : vlkv_kv_stats_window_sparsity(&pol->stats, l, o->fallback_window);
        if (gamma[l] < 0) gamma[l] = 0.0;
    }
    const int32_t w = vlkv_vlcache_budgets(gamma, NL, alpha, m, o->recent_frac, o->protect, k);
    int64_t total = 0;
    for (int32_t l = 0; l < NL; l++) {
        const int32_t T = c->layers[l].len;
        if (use_post) vlkv_kv_stats_post(&pol->stats, l, T, pol->score);
        else vlkv_kv_stats_window(&pol->stats, l, o->fallback_window, T, pol->score);
        const int32_t n_keep = VLKV_MIN(T, k[l] + w);
        if (n_keep < T) {
            const int32_t n = vlkv_kv_select_scored(pol->score, T, n_keep, 0, w, pol->keep, pol->idx);
            vlkv_kv_compact(c, l, pol->keep, n);
            vlkv_kv_after_compact(pol, c, l);
        }
        total += c->layers[l].len;
    }
    VLKV_LOG_INFO("vlcache: kept %.4f of the prompt KV (target %.4f), window %d", (double)total / ((double)m * NL),
                  alpha, w);
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_vlcache_i = {
    .name = "vlcache",
    .help = "vlcache: VL-Cache - score with the attention of the post-vision prompt rows (after the last\n"
            "  image token), give each layer a budget proportional to its post-vision attention density\n"
            "  (share of entries >= thr * row max), keep a recent window of recent_frac of the budget +\n"
            "  the top-scored rest. Prefill only; generated tokens are all kept.\n"
            "  options: thr=0.01, recent_frac=0.1, protect=0 (window at least the last `protect` prompt\n"
            "           entries, inside the budget; e.g. 16 keeps a short question - not in the paper),\n"
            "           min_post=8 (fewer post-vision rows: use the last fallback_window prompt rows\n"
            "           instead), fallback_window=32",
    .opts = vlcache_opts,
    .priv_size = sizeof(struct vlcache),
    .need_prefill = VLKV_STAT_POST | VLKV_STAT_SPARSITY | VLKV_STAT_WINDOW,
    .stats_window = vlcache_window,
    .init = vlcache_init,
    .compress = vlcache_compress,
};
