/* kv_policy.c - the policy registry (name -> vtable), instance create/free/reset, "k=v" option
 * parsing, the observers, the shared decode-time FIFO rule, and the generic selection helpers
 * (top-k with protections) used by several policies. The policies live in policy_<name>.c. */
#include "kv_policy_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct vlkv_kv_policy_i *const registry[] = {
    &vlkv_kv_policy_full_i,   &vlkv_kv_policy_streaming_i, &vlkv_kv_policy_h2o_i,
    &vlkv_kv_policy_snapkv_i, &vlkv_kv_policy_pyramidkv_i, &vlkv_kv_policy_prefixkv_i,
    &vlkv_kv_policy_elastic_i, &vlkv_kv_policy_vlcache_i,
};

static const struct vlkv_kv_policy_i *find_policy(const char *name) {
    for (size_t i = 0; i < VLKV_ARRAY_LEN(registry); i++) {
        const char *a = registry[i]->name, *b = name;
        while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return registry[i];
    }
    return NULL;
}

int32_t vlkv_kv_policy_count(void) { return (int32_t)VLKV_ARRAY_LEN(registry); }

const char *vlkv_kv_policy_name(int32_t i) {
    if (i < 0 || i >= (int32_t)VLKV_ARRAY_LEN(registry)) return NULL;
    return registry[i]->name;
}

const char *vlkv_kv_policy_help(const char *name) {
    if (!name) return NULL;
    const struct vlkv_kv_policy_i *it = find_policy(name);
    return it ? it->help : NULL;
}

/* ---- options ----------------------------------------------------------------------------- */

static void list_policies(char *buf, size_t n) {
    buf[0] = 0;
    for (size_t i = 0; i < VLKV_ARRAY_LEN(registry); i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", i ? ", " : "", registry[i]->name);
    }
}

static void list_keys(const struct vlkv_kv_policy_i *it, char *buf, size_t n) {
    buf[0] = 0;
    if (!it->opts || !it->opts[0].key) {
        snprintf(buf, n, "this policy takes no options");
        return;
    }
    snprintf(buf, n, "valid keys: ");
    for (const struct vlkv_kv_opt *o = it->opts; o->key; o++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", o == it->opts ? "" : ", ", o->key);
    }
}

static void set_defaults(const struct vlkv_kv_policy_i *it, void *priv) {
    if (!it->opts) return;
    for (const struct vlkv_kv_opt *o = it->opts; o->key; o++) {
        char *dst = (char *)priv + o->offset;
        if (o->kind == VLKV_OPT_INT) *(int32_t *)dst = (int32_t)o->def;
        else if (o->kind == VLKV_OPT_FLOAT) *(float *)dst = (float)o->def;
        else dst[0] = 0;
    }
}

static vlkv_status set_option(const struct vlkv_kv_policy_i *it, void *priv, const char *key, const char *val) {
    char keys[512];
    const struct vlkv_kv_opt *o = NULL;
    for (const struct vlkv_kv_opt *q = it->opts; q && q->key; q++)
        if (!strcmp(q->key, key)) o = q;
    if (!o) {
        list_keys(it, keys, sizeof keys);
        return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': unknown option '%s' (%s)", it->name, key, keys);
    }
    char *dst = (char *)priv + o->offset;
    if (o->kind == VLKV_OPT_STR) {
        if (strlen(val) >= VLKV_KV_OPT_STR_MAX || !val[0])
            return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': option '%s' needs a value shorter than %d bytes",
                              it->name, key, VLKV_KV_OPT_STR_MAX);
        strcpy(dst, val);
        return VLKV_OK;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(val, &end);
    int bad = errno != 0 || end == val || *end != 0 || !isfinite(v);
    if (!bad && o->kind == VLKV_OPT_INT && v != floor(v)) bad = 1;
    if (bad || v < o->min || v > o->max) {
        if (o->kind == VLKV_OPT_INT)
            return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': option %s=%s: expected an integer in [%.0f, %.0f]",
                              it->name, key, val, o->min, o->max);
        return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': option %s=%s: expected a number in [%g, %g]",
                          it->name, key, val, o->min, o->max);
    }
    if (o->kind == VLKV_OPT_INT) *(int32_t *)dst = (int32_t)v;
    else *(float *)dst = (float)v;
    return VLKV_OK;
}

static vlkv_status parse_options(const struct vlkv_kv_policy_i *it, void *priv, const char *opts) {
    if (!opts) return VLKV_OK;
    char item[VLKV_KV_OPT_STR_MAX + 64];
    const char *s = opts;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n >= sizeof item)
            return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': option too long in '%s'", it->name, opts);
        memcpy(item, s, n);
        item[n] = 0;
        /* trim */
        char *a = item, *b = item + n;
        while (*a && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) *--b = 0;
        if (*a) {
            char *eq = strchr(a, '=');
            if (!eq) {
                char keys[512];
                list_keys(it, keys, sizeof keys);
                return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': option '%s' is not key=value (%s)",
                                  it->name, a, keys);
            }
            *eq = 0;
            char *k = a, *v = eq + 1, *ke = eq;
            while (ke > k && isspace((unsigned char)ke[-1])) *--ke = 0;
            while (*v && isspace((unsigned char)*v)) v++;
            vlkv_status st = set_option(it, priv, k, v);
            if (st != VLKV_OK) return st;
        }
        s += n;
        if (*s == ',') s++;
    }
    return VLKV_OK;
}

/* ---- create / free ------------------------------------------------------------------------ */

vlkv_status vlkv_kv_policy_create(const char *name, const struct vlkv_kv_policy_params *p,
                                  const struct vlkv_kv_shape *s, struct vlkv_kv_policy **out) {
    vlkv_status st = VLKV_OK;
    struct vlkv_kv_policy *pol = NULL;
    char names[256];
    *out = NULL;
    if (!name) name = "full";
    const struct vlkv_kv_policy_i *it = find_policy(name);
    if (!it) {
        list_policies(names, sizeof names);
        return vlkv_error(VLKV_ERR_INVALID_ARG, "unknown kv policy '%s' (available: %s)", name, names);
    }
    if (!p || !s) return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': missing parameters", it->name);
    if (p->budget_tokens < 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': budget_tokens %d must be >= 0", it->name,
                          p->budget_tokens);
    if (p->budget_tokens == 0 && !(p->budget > 0.0f && p->budget <= 1.0f))
        return vlkv_error(VLKV_ERR_INVALID_ARG,
                          "kv policy '%s': budget %g out of range: it is the retained fraction of the prompt KV, "
                          "0 < budget <= 1", it->name, (double)p->budget);
    if (s->n_layer <= 0 || s->n_head <= 0 || s->n_head_kv <= 0 || s->n_ctx <= 0 || s->n_head % s->n_head_kv)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "kv policy '%s': bad shape (%d layers, %d heads, %d kv heads, n_ctx %d)",
                          it->name, s->n_layer, s->n_head, s->n_head_kv, s->n_ctx);

    pol = calloc(1, sizeof *pol);
    VLKV_CHECK(pol, VLKV_ERR_OOM, "kv policy '%s': out of memory", it->name);
    pol->iface = it;
    pol->budget = p->budget_tokens > 0 ? 1.0f : p->budget;
    pol->budget_tokens = p->budget_tokens;
    pol->n_threads = p->n_threads;
    pol->s = *s;
    if (p->config_path) {
        pol->config_path = malloc(strlen(p->config_path) + 1);
        VLKV_CHECK(pol->config_path, VLKV_ERR_OOM, "kv policy: out of memory");
        strcpy(pol->config_path, p->config_path);
    }
    if (it->priv_size) {
        pol->priv = calloc(1, it->priv_size);
        VLKV_CHECK(pol->priv, VLKV_ERR_OOM, "kv policy '%s': out of memory", it->name);
    }
    set_defaults(it, pol->priv);
    VLKV_TRY(parse_options(it, pol->priv, p->opts));

    const size_t L = (size_t)s->n_layer, C = (size_t)s->n_ctx;
    pol->kept = calloc(L, sizeof *pol->kept);
    pol->rho = calloc(L, sizeof *pol->rho);
    pol->seen = calloc(L, sizeof *pol->seen);
    pol->p_evict = calloc(L, sizeof *pol->p_evict);
    pol->fifo = calloc(L, sizeof *pol->fifo);
    pol->score = malloc(C * sizeof *pol->score);
    pol->score2 = malloc(C * sizeof *pol->score2);
    pol->idx = malloc(C * 2 * sizeof *pol->idx);
    pol->keep = malloc((C + 1) * 2 * sizeof *pol->keep);
    VLKV_CHECK(pol->kept && pol->rho && pol->seen && pol->p_evict && pol->fifo && pol->score && pol->score2 && pol->idx && pol->keep,
               VLKV_ERR_OOM, "kv policy '%s': out of memory", it->name);

    if (it->init) VLKV_TRY(it->init(pol));

    /* statistics: none at all when the budget keeps everything (budget 1 is the full cache) */
    const int keeps_all = pol->budget_tokens == 0 && pol->budget >= 1.0f;
    unsigned need = keeps_all ? 0u : (it->need_prefill | it->need_decode);
    int32_t window = it->stats_window ? it->stats_window(pol) : 1;
    const float thr = pol->stats.sparsity_thr > 0 ? pol->stats.sparsity_thr : 0.01f;   /* init may set it */
    if (need) VLKV_TRY(vlkv_kv_stats_init(&pol->stats, need, s->n_layer, s->n_head, s->n_ctx, window, thr));
    if (need & it->need_prefill) {
        pol->obs_prefill.row = vlkv_kv_stats_row_prefill;
        pol->obs_prefill.ud = &pol->stats;
        pol->has_prefill_obs = 1;
    }
    if (need & it->need_decode) {
        pol->obs_decode.row = vlkv_kv_stats_row_decode;
        pol->obs_decode.ud = &pol->stats;
        pol->has_decode_obs = 1;
    }
    *out = pol;
    return VLKV_OK;
fail:
    vlkv_kv_policy_free(pol);
    return st;
}

void vlkv_kv_policy_free(struct vlkv_kv_policy *pol) {
    if (!pol) return;
    if (pol->iface && pol->iface->free) pol->iface->free(pol);
    vlkv_kv_stats_free(&pol->stats);
    free(pol->config_path);
    free(pol->kept); free(pol->rho); free(pol->seen); free(pol->p_evict); free(pol->fifo); free(pol->fifo_buf);
    free(pol->score); free(pol->score2); free(pol->idx); free(pol->keep);
    free(pol->priv);
    free(pol);
}

void vlkv_kv_policy_reset(struct vlkv_kv_policy *pol) {
    if (!pol) return;
    if (pol->stats.n_layer) vlkv_kv_stats_reset(&pol->stats);
    pol->rule = VLKV_DECODE_NONE;
    pol->compressed = 0;
    pol->n_prompt = 0;
    pol->policy_ms = 0;
    if (pol->iface->reset) pol->iface->reset(pol);
}

const char *vlkv_kv_policy_get_name(const struct vlkv_kv_policy *pol) { return pol ? pol->iface->name : NULL; }

const struct vlkv_attn_observer *vlkv_kv_policy_prefill_observer(struct vlkv_kv_policy *pol) {
    return pol && pol->has_prefill_obs ? &pol->obs_prefill : NULL;
}

const struct vlkv_attn_observer *vlkv_kv_policy_decode_observer(struct vlkv_kv_policy *pol) {
    return pol && pol->has_decode_obs && pol->compressed ? &pol->obs_decode : NULL;
}

void vlkv_kv_policy_bind(struct vlkv_kv_policy *pol, const struct vlkv_kv_cache *c) {
    if (pol && pol->stats.n_layer) vlkv_kv_stats_bind(&pol->stats, c);
}

double vlkv_kv_policy_ms(const struct vlkv_kv_policy *pol) { return pol ? pol->policy_ms : 0.0; }

vlkv_status vlkv_kv_policy_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    if (!pol || !c) return vlkv_error(VLKV_ERR_INVALID_ARG, "kv compress: no policy or cache");
    if (c->n_layer != pol->s.n_layer)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "kv compress: cache has %d layers, policy was made for %d",
                          c->n_layer, pol->s.n_layer);
    const double t0 = vlkv_time_ms();
    int32_t T = 0;
    for (int32_t il = 0; il < c->n_layer; il++) {
        T = VLKV_MAX(T, c->layers[il].len);
        pol->kept[il] = c->layers[il].len;
        pol->rho[il] = 1.0f;
        pol->seen[il] = c->layers[il].len;
    }
    pol->n_prompt = T;
    pol->rule = VLKV_DECODE_NONE;
    if (pol->stats.n_layer && !pol->stats.cache) vlkv_kv_stats_bind(&pol->stats, c);
    vlkv_status st = VLKV_OK;
    if (T > 0) st = pol->iface->compress(pol, c);
    if (pol->stats.n_layer) {
        /* prompt statistics are spent; decode accumulators start from zero */
        vlkv_kv_stats_reset(&pol->stats);
    }
    pol->compressed = st == VLKV_OK;
    pol->policy_ms += vlkv_time_ms() - t0;
    return st;
}

vlkv_status vlkv_kv_policy_decode_step(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c, int32_t n_total) {
    if (!pol || !c) return vlkv_error(VLKV_ERR_INVALID_ARG, "kv decode step: no policy or cache");
    if (!pol->compressed || !pol->iface->decode_step) return VLKV_OK;
    const double t0 = vlkv_time_ms();
    vlkv_status st = pol->iface->decode_step(pol, c, n_total);
    pol->policy_ms += vlkv_time_ms() - t0;
    return st;
}

/* ---- helpers for the policies -------------------------------------------------------------- */

int32_t vlkv_kv_budget_count(const struct vlkv_kv_policy *pol, int32_t T, int32_t lo) {
    int32_t n;
    if (pol->budget_tokens > 0) n = VLKV_MIN(pol->budget_tokens, T);
    else if (pol->budget >= 1.0f) n = T;
    else n = (int32_t)floor((double)pol->budget * T + 1e-9);
    n = VLKV_MAX(n, VLKV_MIN(lo, T));
    return VLKV_MIN(n, T);
}

double vlkv_kv_budget_frac(const struct vlkv_kv_policy *pol, int32_t T) {
    if (pol->budget_tokens > 0) return T > 0 ? VLKV_MIN(1.0, (double)pol->budget_tokens / T) : 1.0;
    return pol->budget;
}

void vlkv_kv_after_compact(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c, int32_t il) {
    pol->kept[il] = c->layers[il].len;
    pol->seen[il] = c->layers[il].len;
    vlkv_kv_release(c, il);
}

void vlkv_kv_fifo_start(struct vlkv_kv_policy *pol, const struct vlkv_kv_cache *c, const int32_t *p) {
    const int32_t cap = pol->s.n_ctx;
    if (!pol->fifo_buf) {
        pol->fifo_buf = malloc((size_t)pol->s.n_layer * 2 * (size_t)cap * sizeof(int32_t));
        if (!pol->fifo_buf) {
            VLKV_LOG_WARN("kv policy %s: out of memory for the decode FIFO; decode eviction disabled",
                          pol->iface->name);
            pol->rule = VLKV_DECODE_NONE;
            return;
        }
    }
    for (int32_t il = 0; il < pol->s.n_layer; il++) {
        const int32_t len = c->layers[il].len;
        int32_t pl = VLKV_MIN(VLKV_MAX(p[il], 0), len);
        vlkv_kv_fifo_init(&pol->fifo[il], pol->fifo_buf + (size_t)il * 2 * (size_t)cap, cap, pl, len);
        pol->seen[il] = len;
    }
    pol->rule = VLKV_DECODE_FIFO;
}

/* kv-lvlm-methods.md §1.4: after the forward of a new token, x_l = trunc(len_l - N * rho_l);
 * if x_l >= 1 delete exactly one entry, the oldest of the queue behind the frozen prefix. */
vlkv_status vlkv_kv_fifo_step(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c, int32_t n_total) {
    if (pol->rule != VLKV_DECODE_FIFO) return VLKV_OK;
    for (int32_t il = 0; il < c->n_layer; il++) {
        struct vlkv_kv_fifo *f = &pol->fifo[il];
        const int32_t len = c->layers[il].len;
        int32_t added = 0;
        for (int32_t s = pol->seen[il]; s < len; s++, added++) vlkv_kv_fifo_push(f, s);
        if (pol->fifo_fixed) {
            /* constant-size window (StreamingLLM's original cache) */
            while (c->layers[il].len > pol->kept[il] && f->n > 0) vlkv_kv_fifo_evict(f, c, il);
        } else if (pol->rho[il] < 1.0f) {
            /* one eviction per new token, as the reference does per step */
            for (int32_t k = 0; k < VLKV_MAX(added, 1); k++) {
                const double x = trunc((double)c->layers[il].len - (double)n_total * pol->rho[il]);
                if (x < 1.0 || f->n <= 0) break;
                vlkv_kv_fifo_evict(f, c, il);
            }
        }
        pol->seen[il] = c->layers[il].len;
    }
    return VLKV_OK;
}

/* ---- selection helpers --------------------------------------------------------------------- */

void vlkv_kv_argsort_desc(const double *score, int32_t *idx, int32_t n, int32_t *tmp) {
    /* bottom-up merge sort: stable, O(n log n), no recursion */
    int32_t *a = idx, *b = tmp;
    for (int32_t w = 1; w < n; w *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = VLKV_MIN(lo + w, n), hi = VLKV_MIN(lo + 2 * w, n);
            int32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) b[k++] = score[a[j]] > score[a[i]] ? a[j++] : a[i++];
            while (i < mid) b[k++] = a[i++];
            while (j < hi) b[k++] = a[j++];
        }
        int32_t *t = a; a = b; b = t;
    }
    if (a != idx) memcpy(idx, a, (size_t)n * sizeof *idx);
}

static void sort_ints(int32_t *v, int32_t n, int32_t *tmp) {
    int32_t *a = v, *b = tmp;
    for (int32_t w = 1; w < n; w *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = VLKV_MIN(lo + w, n), hi = VLKV_MIN(lo + 2 * w, n);
            int32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) b[k++] = a[j] < a[i] ? a[j++] : a[i++];
            while (i < mid) b[k++] = a[i++];
            while (j < hi) b[k++] = a[j++];
        }
        int32_t *t = a; a = b; b = t;
    }
    if (a != v) memcpy(v, a, (size_t)n * sizeof *v);
}

int32_t vlkv_kv_topk(const double *score, int32_t lo, int32_t hi, int32_t k, int32_t *out, int32_t *tmp) {
    const int32_t n = hi - lo;
    if (n <= 0 || k <= 0) return 0;
    k = VLKV_MIN(k, n);
    for (int32_t i = 0; i < n; i++) out[i] = lo + i;
    vlkv_kv_argsort_desc(score, out, n, tmp);
    sort_ints(out, k, tmp);
    return k;
}

int32_t vlkv_kv_select_streaming(int32_t T, int32_t n_keep, int32_t n_sink, int32_t *keep) {
    n_keep = VLKV_MIN(n_keep, T);
    n_sink = VLKV_MIN(n_sink, n_keep);
    int32_t n = 0;
    for (int32_t i = 0; i < n_sink; i++) keep[n++] = i;
    for (int32_t i = T - (n_keep - n_sink); i < T; i++) keep[n++] = i;
    return n;
}

int32_t vlkv_kv_select_scored(const double *score, int32_t T, int32_t n_keep, int32_t n_sink, int32_t n_recent,
                              int32_t *keep, int32_t *tmp) {
    n_keep = VLKV_MIN(n_keep, T);
    n_sink = VLKV_MIN(n_sink, n_keep);
    n_recent = VLKV_MIN(n_recent, n_keep - n_sink);
    const int32_t lo = n_sink, hi = T - n_recent;
    int32_t n = 0;
    for (int32_t i = 0; i < n_sink; i++) keep[n++] = i;
    /* the middle part is written after the sinks; topk needs [hi-lo] room in keep and tmp */
    n += vlkv_kv_topk(score, lo, hi, n_keep - n_sink - n_recent, keep + n, tmp);
    for (int32_t i = hi; i < T; i++) keep[n++] = i;
    return n;
}
