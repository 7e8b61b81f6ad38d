/* policy_prefixkv.c - PrefixKV (arXiv 2412.03409; kv-lvlm-methods.md §2): adaptive per-layer
 * budgets from one global cumulative-importance threshold.
 *   importance: s[l][j] = prefill column sums over all prompt queries, head mean (§2.2).
 *   per-layer ratios: from a calibration file (--kv-config, made by `vlkv calibrate`; element-wise
 *     mean of per-sample searches, §2.4), or searched online on the current prompt (§2.3):
 *     sort each layer's scores descending, normalise, running sum c_l; for a threshold p the layer
 *     keeps the shortest prefix reaching p; bisect p in (0, 1) until the total evicted count is
 *     within 5 tokens of r*T*L (r = 1 - budget; P = calib_protect entries per layer exempt, by
 *     default start + protect as in the paper's code), then
 *     rescale the counts to the exact target and truncate.
 *   prefill end (§2.6): per layer drop the round(r_l*T) lowest-score entries of [start, T-1);
 *     the first `start` entries and the last prompt entry are always kept (ties: the later entry
 *     goes first). Same positions for all KV heads.
 *   decode (§1.4, §2.7): fixed-point FIFO: eviction index p_l = K_l - distance (K_l/2 if < 1),
 *     one entry evicted whenever len_l - rho_l*N >= 1.
 * Options (defaults): start=1, protect=1, distance=25, calib_protect=-1 (= start + protect),
 *   profile=PATH (append one JSON line
 *   per prompt and budget with the searched per-layer retained fractions: the calibration input),
 *   profile_budgets=b1:b2:... (budgets searched for the profile; default: the policy's budget).
 * Needs: prefill column sums over all queries; nothing while generating. */
#include "kv_policy_impl.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kv_calib.h"

struct prefixkv {
    int32_t start;
    int32_t protect;
    int32_t distance;
    int32_t calib_protect;
    char    profile[VLKV_KV_OPT_STR_MAX];
    char    profile_budgets[VLKV_KV_OPT_STR_MAX];
    /* state */
    float  *cfg_rho;    /* [n_layer] from the calibration file, or NULL */
    double *curves;     /* [n_layer][n_ctx] */
    double *scores;     /* [n_layer][n_ctx] */
    int32_t *e;         /* [n_layer] */
    double  budgets[32];
    int32_t n_budgets;
};

static const struct vlkv_kv_opt prefixkv_opts[] = {
    {"start", VLKV_OPT_INT, offsetof(struct prefixkv, start), 1, 0, 1 << 20},
    {"protect", VLKV_OPT_INT, offsetof(struct prefixkv, protect), 1, 1, 1 << 20},
    {"distance", VLKV_OPT_INT, offsetof(struct prefixkv, distance), 25, 0, 1 << 20},
    {"calib_protect", VLKV_OPT_INT, offsetof(struct prefixkv, calib_protect), -1, -1, 1 << 20},
    {"profile", VLKV_OPT_STR, offsetof(struct prefixkv, profile), 0, 0, 0},
    {"profile_budgets", VLKV_OPT_STR, offsetof(struct prefixkv, profile_budgets), 0, 0, 0},
    {0},
};

/* ---- the search (pure) ---------------------------------------------------------------------- */

void vlkv_prefixkv_curve(const double *score, int32_t T, double *curve, int32_t *idx, int32_t *tmp) {
    double tot = 0.0;
    for (int32_t j = 0; j < T; j++) {
        idx[j] = j;
        tot += score[j] > 0 ? score[j] : 0.0;
    }
    vlkv_kv_argsort_desc(score, idx, T, tmp);
    double run = 0.0;
    for (int32_t k = 0; k < T; k++) {
        run += tot > 0 ? (score[idx[k]] > 0 ? score[idx[k]] : 0.0) / tot : 1.0 / T;
        curve[k] = run;
    }
}

/* prefix length o_l(p) = 1 + #{k : c[k] < p} (c is non-decreasing) */
static int32_t prefix_len(const double *c, int32_t T, double p) {
    int32_t lo = 0, hi = T;   /* first k with c[k] >= p */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (c[mid] < p) lo = mid + 1;
        else hi = mid;
    }
    return VLKV_MIN(lo + 1, T);
}

static int64_t evicted_total(const double *curves, int32_t n_layer, int32_t T, double p, int32_t P, int32_t *e) {
    int64_t E = 0;
    for (int32_t l = 0; l < n_layer; l++) {
        e[l] = VLKV_MAX(0, T - prefix_len(curves + (size_t)l * T, T, p) - P);
        E += e[l];
    }
    return E;
}

double vlkv_prefixkv_search(const double *curves, int32_t n_layer, int32_t T, double r, int32_t P,
                            int32_t *e, int32_t *E_search) {
    const double target = r * (double)T * n_layer;
    double lo = 0.0, hi = 1.0, p = 0.5;
    int64_t E = 0;
    for (int it = 0; it < 60; it++) {   /* the reference has no cap; 60 halvings exhaust a double */
        p = 0.5 * (lo + hi);
        E = evicted_total(curves, n_layer, T, p, P, e);
        if (fabs((double)E - target) < 5.0) break;
        if ((double)E < target) hi = p;   /* lower threshold: shorter prefixes, more eviction */
        else lo = p;
    }
    if (E_search) *E_search = (int32_t)E;
    if (E > 0) {
        const double scale = target / (double)E;
        for (int32_t l = 0; l < n_layer; l++) e[l] = VLKV_MIN((int32_t)(e[l] * scale), VLKV_MAX(T - P, 0));
    }
    return p;
}

int32_t vlkv_prefixkv_select(const double *score, int32_t T, int32_t f, int32_t S, int32_t protect, int32_t *keep,
                             int32_t *tmp) {
    S = VLKV_MIN(S, T);
    const int32_t lo = S, hi = VLKV_MAX(T - VLKV_MAX(protect, 0), S);   /* window [S, T-R) */
    f = VLKV_MAX(0, VLKV_MIN(f, hi - lo));
    int32_t n = 0;
    for (int32_t i = 0; i < S; i++) keep[n++] = i;
    n += vlkv_kv_topk(score, lo, hi, hi - lo - f, keep + n, tmp);
    for (int32_t i = hi; i < T; i++) keep[n++] = i;
    return n;
}

/* ---- the policy ------------------------------------------------------------------------------ */

static vlkv_status parse_budget_list(struct prefixkv *o, const char *s, double dflt) {
    o->n_budgets = 0;
    if (!s[0]) {
        o->budgets[o->n_budgets++] = dflt;
        return VLKV_OK;
    }
    const char *q = s;
    while (*q) {
        char *end;
        double b = strtod(q, &end);
        if (end == q || !(b > 0 && b <= 1) || o->n_budgets == (int32_t)VLKV_ARRAY_LEN(o->budgets))
            return vlkv_error(VLKV_ERR_INVALID_ARG,
                              "kv policy 'prefixkv': profile_budgets='%s': expected up to 32 retained fractions in "
                              "(0, 1] separated by ':'", s);
        o->budgets[o->n_budgets++] = b;
        q = end;
        if (*q == ':') q++;
        else if (*q) return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy 'prefixkv': profile_budgets='%s': use ':' between budgets", s);
    }
    return VLKV_OK;
}

static vlkv_status prefixkv_init(struct vlkv_kv_policy *pol) {
    struct prefixkv *o = pol->priv;
    const size_t L = (size_t)pol->s.n_layer;
    vlkv_status st = parse_budget_list(o, o->profile_budgets, pol->budget);
    if (st != VLKV_OK) return st;
    o->e = calloc(L, sizeof *o->e);
    if (!o->e) return vlkv_error(VLKV_ERR_OOM, "kv policy prefixkv: out of memory");
    if (pol->config_path) {
        struct vlkv_kv_calib cal;
        st = vlkv_kv_calib_read(pol->config_path, &cal);
        if (st != VLKV_OK) return st;
        o->cfg_rho = calloc(L, sizeof *o->cfg_rho);
        if (!o->cfg_rho) st = vlkv_error(VLKV_ERR_OOM, "kv policy prefixkv: out of memory");
        else if (pol->budget_tokens > 0)
            st = vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy prefixkv: a calibration file (%s) gives ratios per "
                            "retained fraction; use a fractional budget, not a token count", pol->config_path);
        else if (pol->budget < 1.0f)
            st = vlkv_kv_calib_lookup(&cal, pol->config_path, pol->s.n_layer, pol->budget, o->cfg_rho);
        else
            for (size_t l = 0; l < L; l++) o->cfg_rho[l] = 1.0f;
        vlkv_kv_calib_free(&cal);
    }
    return st;
}

static void prefixkv_free(struct vlkv_kv_policy *pol) {
    struct prefixkv *o = pol->priv;
    free(o->cfg_rho);
    free(o->curves);
    free(o->scores);
    free(o->e);
}

/* Searched retained fraction per layer for target retained budget rho. The entries the selection
 * always keeps (first `start`, last `protect`) are exempt from the search's count, unless
 * calib_protect says otherwise (kv-lvlm-methods.md §2.3: P = start_size + protect_size). */
static void search_layers(struct vlkv_kv_policy *pol, int32_t T, double rho, float *out) {
    struct prefixkv *o = pol->priv;
    const int32_t P = o->calib_protect >= 0 ? o->calib_protect : o->start + o->protect;
    vlkv_prefixkv_search(o->curves, pol->s.n_layer, T, 1.0 - rho, P, o->e, NULL);
    for (int32_t l = 0; l < pol->s.n_layer; l++) out[l] = 1.0f - (float)o->e[l] / (float)T;
}

static void write_profile(struct vlkv_kv_policy *pol, int32_t T) {
    struct prefixkv *o = pol->priv;
    FILE *f = fopen(o->profile, "a");
    if (!f) {
        VLKV_LOG_WARN("prefixkv: cannot append to profile file %s", o->profile);
        return;
    }
    float *r = pol->rho;   /* reused as scratch; overwritten by compress afterwards */
    for (int32_t b = 0; b < o->n_budgets; b++) {
        search_layers(pol, T, o->budgets[b], r);
        fprintf(f, "{\"budget\": %.6g, \"T\": %d, \"retained\": [", o->budgets[b], T);
        for (int32_t l = 0; l < pol->s.n_layer; l++) fprintf(f, "%s%.6f", l ? ", " : "", (double)r[l]);
        fprintf(f, "]}\n");
    }
    fclose(f);
}

static vlkv_status prefixkv_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    struct prefixkv *o = pol->priv;
    const int32_t T = pol->n_prompt, NL = c->n_layer;
    const double rho = vlkv_kv_budget_frac(pol, T);
    const int need_scores = rho < 1.0 || o->profile[0];
    if (!need_scores) return VLKV_OK;
    if (!o->scores) {
        o->scores = malloc((size_t)NL * (size_t)pol->s.n_ctx * sizeof *o->scores);
        o->curves = malloc((size_t)NL * (size_t)pol->s.n_ctx * sizeof *o->curves);
        if (!o->scores || !o->curves) return vlkv_error(VLKV_ERR_OOM, "kv policy prefixkv: out of memory");
    }
    /* importance per layer over the T prompt slots (layers shorter than T score 0 beyond their len) */
    for (int32_t l = 0; l < NL; l++) {
        double *s = o->scores + (size_t)l * T;
        vlkv_kv_stats_colsum(&pol->stats, l, T, s);
        for (int32_t j = c->layers[l].len; j < T; j++) s[j] = 0.0;
    }
    if (!o->cfg_rho || o->profile[0])
        for (int32_t l = 0; l < NL; l++)
            vlkv_prefixkv_curve(o->scores + (size_t)l * T, T, o->curves + (size_t)l * T, pol->idx, pol->idx + T);
    if (o->profile[0]) write_profile(pol, T);
    if (rho >= 1.0) {
        for (int32_t l = 0; l < NL; l++) pol->rho[l] = 1.0f;
        return VLKV_OK;
    }

    if (o->cfg_rho) memcpy(pol->rho, o->cfg_rho, (size_t)NL * sizeof *pol->rho);
    else search_layers(pol, T, rho, pol->rho);

    int32_t *p = pol->p_evict;
    for (int32_t l = 0; l < NL; l++) {
        const int32_t Tl = c->layers[l].len;
        const int32_t f = (int32_t)lround((1.0 - pol->rho[l]) * Tl);
        const int32_t n =
            vlkv_prefixkv_select(o->scores + (size_t)l * T, Tl, f, o->start, o->protect, pol->keep, pol->idx);
        if (n < Tl) {
            vlkv_kv_compact(c, l, pol->keep, n);
            vlkv_kv_after_compact(pol, c, l);
        }
        const int32_t K = c->layers[l].len;
        p[l] = K - o->distance >= 1 ? K - o->distance : K / 2;
    }
    vlkv_kv_fifo_start(pol, c, p);
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_prefixkv_i = {
    .name = "prefixkv",
    .help = "prefixkv: PrefixKV - per-layer budgets from one global cumulative-importance threshold.\n"
            "  importance = prefill attention column sums (head mean); per-layer retained fractions from\n"
            "  --kv-config FILE (vlkv calibrate) or a binary search on the current prompt so that the mean\n"
            "  retained fraction is the budget. Keeps the first `start` and the last `protect` prompt\n"
            "  entries; while generating, fixed-point FIFO eviction at len_l - distance keeps each\n"
            "  layer's fraction. Column sums rank the question (the last prompt tokens) lowest: raise\n"
            "  `protect` to its length (e.g. 16) for short answers; 1 is the paper's code.\n"
            "  options: start=1, protect=1, distance=25, calib_protect=-1 (entries per layer exempt in\n"
            "           the search; -1 = start + protect),\n"
            "           profile=PATH (append searched per-layer ratios as JSON lines, for calibration),\n"
            "           profile_budgets=0.1:0.2:... (budgets to search for the profile; default: budget)",
    .opts = prefixkv_opts,
    .priv_size = sizeof(struct prefixkv),
    .need_prefill = VLKV_STAT_COLSUM,
    .init = prefixkv_init,
    .free = prefixkv_free,
    .compress = prefixkv_compress,
    .decode_step = vlkv_kv_fifo_step,
};
