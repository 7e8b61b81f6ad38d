/* policy_elastic.c - Elastic Cache (arXiv 2407.18121, ECCV 2024; kv-lvlm-methods.md §3).
 * "One sequence, two policies":
 *   prefill end (paper algorithm, §3.3, default): importance = prefill column sums (head mean).
 *     N_I = floor(budget * T) entries per layer (uniform); the first `start` entries and the last
 *     prompt entry are protected (kept as they are); N_I - start - 1 anchors are the most important
 *     entries of the window [start, T-1) (ties: lower position); every window position joins its
 *     nearest anchor (midpoints go to the left anchor), and each anchor's bucket - a contiguous run
 *     of positions - is replaced by the unweighted mean of its K and V rows (per KV head; post-RoPE
 *     keys averaged as stored, F32 math, rounded back to the storage type). The merged entry keeps
 *     the anchor's position.
 *   prefill end, parity=1 (§3.4): the reference code's indexing, which compares ranks with positions:
 *     f = int(T * (1 - budget)); ord = ascending argsort of the window scores; kept = {start + q :
 *     ord[q] > f}; sources q with ord[q] <= f (used as absolute slots) are scatter-averaged into the
 *     nearest kept slot (a slot that is its own source counts twice); length T - f - 1.
 *     Only for numeric parity with published Elastic numbers.
 *   decode (§3.5): fixed-point FIFO, uniform ratio: eviction index K - distance (K/2 if < 1); one
 *     entry is evicted whenever len - budget * N >= 1.
 * Options (defaults): start=1, protect=1 (last prompt entries kept unmerged; the paper keeps 1,
 *   short answers after a long image prompt want the whole question, e.g. 16), distance=25, parity=0.
 * Needs: prefill column sums over all queries. */
#include "kv_policy_impl.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "internal.h"

struct elastic {
    int32_t start;
    int32_t protect;
    int32_t distance;
    int32_t parity;
};

static const struct vlkv_kv_opt elastic_opts[] = {
    {"start", VLKV_OPT_INT, offsetof(struct elastic, start), 1, 0, 1 << 20},
    {"protect", VLKV_OPT_INT, offsetof(struct elastic, protect), 1, 1, 1 << 20},
    {"distance", VLKV_OPT_INT, offsetof(struct elastic, distance), 25, 0, 1 << 20},
    {"parity", VLKV_OPT_INT, offsetof(struct elastic, parity), 0, 0, 1},
    {0},
};

int32_t vlkv_elastic_plan(const double *score, int32_t T, int32_t n_keep, int32_t S, int32_t protect, int32_t *anchor,
                          int32_t *run_b, int32_t *run_e, int32_t *tmp) {
    S = VLKV_MIN(S, T);
    n_keep = VLKV_MIN(n_keep, T);
    int32_t n = 0;
    for (int32_t i = 0; i < S; i++, n++) {
        anchor[n] = i;
        run_b[n] = i;
        run_e[n] = i + 1;
    }
    if (T - 1 < S) return n;   /* T <= S: everything is protected */
    const int32_t lo = S, hi = VLKV_MAX(T - VLKV_MAX(protect, 1), S);   /* window [S, T-R) */
    const int32_t n_anchor = VLKV_MAX(0, VLKV_MIN(n_keep - S - (T - hi), hi - lo));
    /* anchors (sorted by position) land directly in anchor[n ..]; topk needs room for hi-lo */
    int32_t *a = tmp, *t2 = tmp + T;
    const int32_t k = vlkv_kv_topk(score, lo, hi, n_anchor, a, t2);
    for (int32_t i = 0; i < k; i++, n++) {
        anchor[n] = a[i];
        run_b[n] = i == 0 ? lo : (a[i - 1] + a[i]) / 2 + 1;
        run_e[n] = i == k - 1 ? hi : (a[i] + a[i + 1]) / 2 + 1;
    }
    for (int32_t i = hi; i < T; i++, n++) {
        anchor[n] = i;
        run_b[n] = i;
        run_e[n] = i + 1;
    }
    return n;
}

int32_t vlkv_elastic_plan_parity(const double *score, int32_t T, int32_t f, int32_t S, int32_t *keep,
                                 int32_t *src_off, int32_t *src, int32_t *tmp) {
    S = VLKV_MIN(S, T);
    const int32_t nw = VLKV_MAX(T - 1 - S, 0);
    int32_t n = 0;
    for (int32_t i = 0; i < S; i++) keep[n++] = i;
    /* ord = ascending stable argsort of the window scores (relative indices) */
    int32_t *ord = tmp, *t2 = tmp + T, *owner = tmp + 2 * T;
    double *neg = calloc((size_t)(nw > 0 ? nw : 1), sizeof *neg);
    if (!neg) return -1;
    for (int32_t q = 0; q < nw; q++) {
        neg[q] = -score[S + q];
        ord[q] = q;
    }
    vlkv_kv_argsort_desc(neg, ord, nw, t2);
    free(neg);
    const int32_t first_kept = n;
    for (int32_t q = 0; q < nw; q++)
        if (ord[q] > f) keep[n++] = S + q;   /* rank slot q whose token index exceeds f: position S+q */
    const int32_t last_kept = n;   /* window kept entries are keep[first_kept .. last_kept) */
    if (T - 1 >= S) keep[n++] = T - 1;
    /* sources q (absolute slots) -> nearest kept window slot, ties to the lower one */
    for (int32_t i = 0; i < n; i++) owner[i] = 0;   /* counts */
    int32_t *dst = t2;
    int32_t n_src = 0;
    for (int32_t q = 0; q < nw; q++) {
        if (ord[q] > f || last_kept == first_kept) continue;
        int32_t best = first_kept;
        for (int32_t i = first_kept; i < last_kept; i++)
            if (abs(keep[i] - q) < abs(keep[best] - q)) best = i;
        dst[n_src] = best;
        src[n_src++] = q;
        owner[best]++;
    }
    /* bucket the sources by owner (counting sort keeps q ascending within an owner) */
    src_off[0] = 0;
    for (int32_t i = 0; i < n; i++) src_off[i + 1] = src_off[i] + owner[i];
    int32_t *fill = owner;
    for (int32_t i = 0; i < n; i++) fill[i] = src_off[i];
    int32_t *sorted = ord;   /* ord is no longer needed */
    for (int32_t s = 0; s < n_src; s++) sorted[fill[dst[s]]++] = src[s];
    for (int32_t s = 0; s < n_src; s++) src[s] = sorted[s];
    return n;
}

static vlkv_status elastic_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    const struct elastic *o = pol->priv;
    const double rho = vlkv_kv_budget_frac(pol, pol->n_prompt);
    if (rho >= 1.0) return VLKV_OK;
    int32_t *p = pol->p_evict;
    const size_t C = (size_t)pol->s.n_ctx;
    int32_t *tmp = malloc(3 * (C + 1) * sizeof *tmp);
    int32_t *aux = malloc(3 * (C + 1) * sizeof *aux);
    if (!tmp || !aux) {
        free(tmp);
        free(aux);
        return vlkv_error(VLKV_ERR_OOM, "kv policy elastic: out of memory");
    }
    vlkv_status st = VLKV_OK;
    for (int32_t il = 0; il < c->n_layer && st == VLKV_OK; il++) {
        const int32_t T = c->layers[il].len;
        vlkv_kv_stats_colsum(&pol->stats, il, T, pol->score);
        if (!o->parity) {
            const int32_t n_keep = vlkv_kv_budget_count(pol, T, VLKV_MIN(o->start + o->protect, T));
            if (n_keep < T) {
                int32_t *anchor = pol->keep, *run_b = aux, *run_e = aux + C + 1;
                const int32_t n =
                    vlkv_elastic_plan(pol->score, T, n_keep, o->start, o->protect, anchor, run_b, run_e, tmp);
                st = vlkv_kv_merge_runs(c, il, anchor, run_b, run_e, n);
                vlkv_kv_after_compact(pol, c, il);
            }
        } else {
            const int32_t f = (int32_t)(T * (1.0 - rho));
            if (f > 1) {
                int32_t *keep = pol->keep, *src_off = aux, *src = aux + C + 1;
                const int32_t n = vlkv_elastic_plan_parity(pol->score, T, f, o->start, keep, src_off, src, tmp);
                if (n < 0) st = vlkv_error(VLKV_ERR_OOM, "kv policy elastic: out of memory");
                else st = vlkv_kv_merge(c, il, keep, n, src_off, src, NULL);
                vlkv_kv_after_compact(pol, c, il);
            }
        }
        /* the reference's p = T - f - distance is K - distance + 1 for its length K = T - f - 1 */
        const int32_t K = c->layers[il].len, dist = o->parity ? o->distance - 1 : o->distance;
        p[il] = K - dist >= 1 ? K - dist : K / 2;
        pol->rho[il] = (float)rho;
    }
    free(tmp);
    free(aux);
    if (st == VLKV_OK) vlkv_kv_fifo_start(pol, c, p);
    return st;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_elastic_i = {
    .name = "elastic",
    .help = "elastic: Elastic Cache - importance-driven merging at the end of the prompt, fixed-point\n"
            "  eviction while generating. Each layer keeps budget*T entries: the first `start` entries,\n"
            "  the last `protect` prompt entries, and anchors (most attended entries) that absorb the mean of their\n"
            "  nearest neighbours' K/V. While generating, the entry `distance` slots before the end of the\n"
            "  compressed prompt is evicted whenever len - budget*N >= 1.\n"
            "  options: start=1, protect=1 (last prompt entries kept unmerged; e.g. 16 keeps a short\n"
            "           question intact), distance=25, parity=0 (1: the reference code's indexing)",
    .opts = elastic_opts,
    .priv_size = sizeof(struct elastic),
    .need_prefill = VLKV_STAT_COLSUM,
    .compress = elastic_compress,
    .decode_step = vlkv_kv_fifo_step,
};
