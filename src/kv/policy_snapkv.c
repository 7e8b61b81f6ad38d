/* policy_snapkv.c - SnapKV observation-window voting (arXiv 2404.14469; kv-baselines-less.md §2.4).
 * The last `window` prompt queries vote for the earlier keys with their attention probabilities
 * (summed, head mean: the same ranking as the per-head sum of the reference); the votes are
 * smoothed by 1-D max pooling of width `kernel` (stride 1, centred), and each layer keeps the
 * top (B - window) earlier entries plus the window itself, B = budget * T. One shot at the end of
 * the prompt; no eviction while generating (the cache grows, as in the reference).
 * Selection is per layer, shared by the KV heads (GQA: kvpress' group mean, then layer mean).
 * Options (defaults): window=32 (reference code), kernel=7 (paper experiments, maxpool).
 * Needs: the last `window` prefill probability rows. */
#include "kv_policy_impl.h"

#include <stddef.h>

#include "internal.h"

struct snapkv {
    int32_t window;
    int32_t kernel;
};

static const struct vlkv_kv_opt snapkv_opts[] = {
    {"window", VLKV_OPT_INT, offsetof(struct snapkv, window), 32, 1, 4096},
    {"kernel", VLKV_OPT_INT, offsetof(struct snapkv, kernel), 7, 1, 255},
    {0},
};

static int32_t snapkv_window(const struct vlkv_kv_policy *pol) { return ((const struct snapkv *)pol->priv)->window; }

void vlkv_snapkv_scores(struct vlkv_kv_policy *pol, int32_t il, int32_t T, int32_t w, int32_t kernel) {
    vlkv_kv_stats_window(&pol->stats, il, w, T, pol->score2);
    if (T - w > 0) vlkv_pool_max(pol->score2, T - w, kernel, pol->score);
    for (int32_t j = VLKV_MAX(T - w, 0); j < T; j++) pol->score[j] = pol->score2[j];
}

static vlkv_status snapkv_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    const struct snapkv *o = pol->priv;
    for (int32_t il = 0; il < c->n_layer; il++) {
        const int32_t T = c->layers[il].len;
        const int32_t n_keep = vlkv_kv_budget_count(pol, T, 1);
        if (n_keep >= T) continue;
        const int32_t w = VLKV_MIN(o->window, n_keep);
        vlkv_snapkv_scores(pol, il, T, w, o->kernel);
        const int32_t n = vlkv_kv_select_scored(pol->score, T, n_keep, 0, w, pol->keep, pol->idx);
        vlkv_kv_compact(c, il, pol->keep, n);
        vlkv_kv_after_compact(pol, c, il);
    }
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_snapkv_i = {
    .name = "snapkv",
    .help = "snapkv: SnapKV - the last `window` prompt queries vote (attention, head mean, max-pooled\n"
            "  over `kernel` neighbouring keys); each layer keeps the window + the top (budget*T - window)\n"
            "  earlier entries. Prefill only; the cache grows while generating.\n"
            "  options: window=32, kernel=7",
    .opts = snapkv_opts,
    .priv_size = sizeof(struct snapkv),
    .need_prefill = VLKV_STAT_WINDOW,
    .stats_window = snapkv_window,
    .compress = snapkv_compress,
};
