/* policy_pyramidkv.c - PyramidKV (arXiv 2406.02069; kv-baselines-less.md §2.5): SnapKV scoring and
 * selection per layer, with pyramidal per-layer budgets (bottom layers keep the most) whose
 * average is the uniform budget B = budget * T (window included). Budget rule of KVCache-Factory's
 * PyramidKVCluster with beta: min = (B-w)/beta, max = 2(B-w) - min (capped at T-w, then
 * min = 2(B-w) - max), step = (max-min)/(L-1), layer l keeps max - l*step + w.
 * B <= w: uniform SnapKV. No eviction while generating.
 * Options (defaults): window=32, kernel=7, beta=20. */
#include "kv_policy_impl.h"

#include <stddef.h>

#include "internal.h"

struct pyramidkv {
    int32_t window;
    int32_t kernel;
    int32_t beta;
};

static const struct vlkv_kv_opt pyramidkv_opts[] = {
    {"window", VLKV_OPT_INT, offsetof(struct pyramidkv, window), 32, 1, 4096},
    {"kernel", VLKV_OPT_INT, offsetof(struct pyramidkv, kernel), 7, 1, 255},
    {"beta", VLKV_OPT_INT, offsetof(struct pyramidkv, beta), 20, 1, 1 << 20},
    {0},
};

void vlkv_kv_pyramid_budgets(int32_t n_layer, int32_t T, int32_t B, int32_t w, int32_t beta, int32_t *out) {
    if (B >= T || B <= w || n_layer <= 1) {
        for (int32_t il = 0; il < n_layer; il++) out[il] = VLKV_MIN(B, T);
        return;
    }
    int32_t mn = (B - w) / beta;
    int32_t mx = 2 * (B - w) - mn;
    if (mx >= T - w) {
        mx = T - w;
        mn = 2 * (B - w) - mx;
    }
    const int32_t step = (mx - mn) / (n_layer - 1);
    for (int32_t il = 0; il < n_layer; il++) out[il] = VLKV_MIN(mx - il * step + w, T);
}

static int32_t pyramidkv_window(const struct vlkv_kv_policy *pol) {
    return ((const struct pyramidkv *)pol->priv)->window;
}

static vlkv_status pyramidkv_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    const struct pyramidkv *o = pol->priv;
    const int32_t T = pol->n_prompt;
    const int32_t B = vlkv_kv_budget_count(pol, T, 1);
    if (B >= T) return VLKV_OK;
    int32_t *budget = pol->p_evict;
    vlkv_kv_pyramid_budgets(c->n_layer, T, B, VLKV_MIN(o->window, B), o->beta, budget);
    for (int32_t il = 0; il < c->n_layer; il++) {
        const int32_t Tl = c->layers[il].len;
        const int32_t n_keep = VLKV_MIN(budget[il], Tl);
        if (n_keep >= Tl) continue;
        const int32_t w = VLKV_MIN(o->window, n_keep);
        vlkv_snapkv_scores(pol, il, Tl, w, o->kernel);
        const int32_t n = vlkv_kv_select_scored(pol->score, Tl, n_keep, 0, w, pol->keep, pol->idx);
        vlkv_kv_compact(c, il, pol->keep, n);
        vlkv_kv_after_compact(pol, c, il);
    }
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_pyramidkv_i = {
    .name = "pyramidkv",
    .help = "pyramidkv: PyramidKV - SnapKV scoring with pyramidal per-layer budgets (bottom layers keep\n"
            "  the most, linear decrease, average = budget*T). Prefill only.\n"
            "  options: window=32, kernel=7, beta=20 (top/bottom budget ratio parameter)",
    .opts = pyramidkv_opts,
    .priv_size = sizeof(struct pyramidkv),
    .need_prefill = VLKV_STAT_WINDOW,
    .stats_window = pyramidkv_window,
    .compress = pyramidkv_compress,
};
