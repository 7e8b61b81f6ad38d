/* policy_h2o.c - H2O heavy-hitter oracle (arXiv 2306.14048; kv-baselines-less.md §2.2).
 * Score of an entry = attention it has received, accumulated over every query: the prefill
 * column sums (head mean) at the end of the prompt, plus each decode step's probability row
 * (head mean) while generating. Selection is per layer, shared by the KV heads of the layer.
 *   prefill end: keep `sinks` first entries, the last recent_frac * B entries, and the heaviest
 *                of the rest, B = budget * T entries per layer.
 *   decode:      scores keep accumulating; whenever len - budget * N >= 1 the lightest entry
 *                outside the sinks and the recent window is evicted (one per new token), so the
 *                retained fraction keeps holding. Evicted scores are discarded.
 * Options (defaults): recent_frac=0.5 (H2O's demo splits heavy/recent 50/50), sinks=0.
 * Needs: prefill column sums over all queries; decode probability rows.
 * Eviction uses vlkv_kv_remove (a memmove of the tail, O(len) per evicting step, the same order as
 * the step's attention): slot order must stay the age order for the recent window. */
#include "kv_policy_impl.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct h2o {
    float   recent_frac;
    int32_t sinks;
    /* state */
    double  *acc;       /* [n_layer][n_ctx] accumulated score per slot */
    int32_t *n_recent;  /* [n_layer] */
};

static const struct vlkv_kv_opt h2o_opts[] = {
    {"recent_frac", VLKV_OPT_FLOAT, offsetof(struct h2o, recent_frac), 0.5, 0.0, 1.0},
    {"sinks", VLKV_OPT_INT, offsetof(struct h2o, sinks), 0, 0, 1 << 20},
    {0},
};

static vlkv_status h2o_init(struct vlkv_kv_policy *pol) {
    struct h2o *o = pol->priv;
    o->acc = calloc((size_t)pol->s.n_layer * (size_t)pol->s.n_ctx, sizeof *o->acc);
    o->n_recent = calloc((size_t)pol->s.n_layer, sizeof *o->n_recent);
    if (!o->acc || !o->n_recent) return vlkv_error(VLKV_ERR_OOM, "kv policy h2o: out of memory");
    return VLKV_OK;
}

static void h2o_free(struct vlkv_kv_policy *pol) {
    struct h2o *o = pol->priv;
    free(o->acc);
    free(o->n_recent);
}

static vlkv_status h2o_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    struct h2o *o = pol->priv;
    for (int32_t il = 0; il < c->n_layer; il++) {
        const int32_t T = c->layers[il].len;
        double *acc = o->acc + (size_t)il * (size_t)pol->s.n_ctx;
        const int32_t n_keep = vlkv_kv_budget_count(pol, T, VLKV_MIN(o->sinks + 1, T));
        vlkv_kv_stats_colsum(&pol->stats, il, T, pol->score);
        o->n_recent[il] = (int32_t)lround(o->recent_frac * n_keep);
        if (n_keep < T) {
            const int32_t n = vlkv_kv_select_scored(pol->score, T, n_keep, o->sinks, o->n_recent[il], pol->keep,
                                                    pol->idx);
            for (int32_t i = 0; i < n; i++) acc[i] = pol->score[pol->keep[i]];
            vlkv_kv_compact(c, il, pol->keep, n);
            vlkv_kv_after_compact(pol, c, il);
        } else {
            memcpy(acc, pol->score, (size_t)T * sizeof *acc);
        }
        pol->rho[il] = (float)vlkv_kv_budget_frac(pol, T);
        pol->seen[il] = c->layers[il].len;
    }
    return VLKV_OK;
}

static vlkv_status h2o_decode_step(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c, int32_t n_total) {
    struct h2o *o = pol->priv;
    if (!pol->stats.dec) return VLKV_OK;   /* budget 1: nothing is ever evicted */
    const double inv_h = 1.0 / pol->s.n_head;
    for (int32_t il = 0; il < c->n_layer; il++) {
        struct vlkv_kv_layer *L = &c->layers[il];
        double *acc = o->acc + (size_t)il * (size_t)pol->s.n_ctx;
        const int32_t added = L->len - pol->seen[il];
        for (int32_t s = pol->seen[il]; s < L->len; s++) acc[s] = 0.0;
        /* this step's rows (head sums) -> head mean, added to the running scores */
        for (int32_t j = 0; j < L->len; j++) pol->score[j] = 0.0;
        vlkv_kv_stats_take_decode(&pol->stats, il, L->len, pol->score);
        for (int32_t j = 0; j < L->len; j++) acc[j] += pol->score[j] * inv_h;
        for (int32_t k = 0; k < VLKV_MAX(added, 1); k++) {
            if (trunc((double)L->len - (double)n_total * pol->rho[il]) < 1.0) break;
            const int32_t lo = VLKV_MIN(o->sinks, L->len), hi = L->len - o->n_recent[il];
            if (hi <= lo) break;
            int32_t victim = lo;
            for (int32_t j = lo + 1; j < hi; j++)
                if (acc[j] < acc[victim]) victim = j;   /* ties: the older entry goes */
            vlkv_kv_remove(c, il, victim);
            memmove(acc + victim, acc + victim + 1, (size_t)(L->len - victim) * sizeof *acc);
        }
        pol->seen[il] = L->len;
    }
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_h2o_i = {
    .name = "h2o",
    .help = "h2o: heavy hitters (accumulated attention) + recent window, kept while generating.\n"
            "  prefill end: sinks + last recent_frac*B + the heaviest rest by prefill column sums\n"
            "               (head mean), B = budget*T per layer.\n"
            "  decode: scores accumulate each step's attention row; when len - budget*N >= 1 the\n"
            "          lightest entry outside sinks and recent window is evicted.\n"
            "  options: recent_frac=0.5 (share of the budget for the most recent entries), sinks=0",
    .opts = h2o_opts,
    .priv_size = sizeof(struct h2o),
    .need_prefill = VLKV_STAT_COLSUM,
    .need_decode = VLKV_STAT_DECODE,
    .init = h2o_init,
    .free = h2o_free,
    .compress = h2o_compress,
    .decode_step = h2o_decode_step,
};
