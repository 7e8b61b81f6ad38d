/* sampler.c - token sampling: repetition penalty, then greedy or the llama.cpp chain
 * top-k -> top-p -> min-p -> temperature -> draw. All scratch is allocated at init for the
 * vocabulary size seen first (re-grown only if a larger vocabulary appears), so sampling in the
 * decode loop does not allocate.
 * References: llama.cpp src/llama-sampling.cpp (penalties, top_k, top_p, min_p, temp, dist). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct vlkv_sampler {
    vlkv_sampler_params p;
    uint64_t  rng;            /* xorshift64* state, never 0 */
    int32_t  *recent;         /* [repeat_last_n] ring of accepted tokens */
    int32_t   n_recent;       /* filled entries (<= repeat_last_n) */
    int32_t   recent_head;    /* next write index */
    /* candidate scratch */
    int32_t   cap;
    int32_t  *ids;            /* [cap] */
    float    *val;            /* [cap] logits, then probabilities */
};

vlkv_sampler_params vlkv_sampler_params_default(void) {
    vlkv_sampler_params p;
    p.temp           = 0.8f;
    p.top_k          = 40;
    p.top_p          = 0.95f;
    p.min_p          = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n  = 64;
    p.seed           = 0xC0FFEE;
    return p;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

/* uniform in [0, 1) with 53 bits */
static double rng_uniform(uint64_t *s) { return (rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

vlkv_status vlkv_sampler_init(const vlkv_sampler_params *params, vlkv_sampler **out) {
    vlkv_status st = VLKV_OK;
    *out = NULL;
    vlkv_sampler_params p = params ? *params : vlkv_sampler_params_default();
    VLKV_CHECK(p.temp == p.temp && p.top_p == p.top_p && p.min_p == p.min_p && p.repeat_penalty == p.repeat_penalty,
               VLKV_ERR_INVALID_ARG, "sampler: NaN parameter");
    VLKV_CHECK(p.repeat_penalty > 0.0f, VLKV_ERR_INVALID_ARG, "sampler: repeat_penalty must be > 0 (got %g)",
               (double)p.repeat_penalty);
    VLKV_CHECK(p.repeat_last_n >= 0 && p.repeat_last_n <= 1 << 20, VLKV_ERR_INVALID_ARG,
               "sampler: repeat_last_n must be in [0, 1048576] (got %d)", p.repeat_last_n);
    vlkv_sampler *s = calloc(1, sizeof *s);
    VLKV_CHECK(s, VLKV_ERR_OOM, "sampler: out of memory");
    s->p = p;
    /* splitmix64 of the seed, so seeds 0 and 1 give unrelated streams and the state is never 0 */
    uint64_t z = p.seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    s->rng = (z ^ (z >> 31)) | 1;
    if (p.repeat_last_n > 0) {
        s->recent = malloc(sizeof(int32_t) * (size_t)p.repeat_last_n);
        if (!s->recent) {
            free(s);
            return vlkv_error(VLKV_ERR_OOM, "sampler: out of memory");
        }
    }
    *out = s;
fail:
    return st;
}

void vlkv_sampler_free(vlkv_sampler *s) {
    if (!s) return;
    free(s->recent);
    free(s->ids);
    free(s->val);
    free(s);
}

void vlkv_sampler_accept(vlkv_sampler *s, int32_t token) {
    if (!s || s->p.repeat_last_n <= 0) return;
    s->recent[s->recent_head] = token;
    s->recent_head = (s->recent_head + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
}

static int grow(vlkv_sampler *s, int32_t n) {
    if (n <= s->cap) return 1;
    int32_t *ids = realloc(s->ids, sizeof(int32_t) * (size_t)n);
    if (!ids) return 0;
    s->ids = ids;
    float *val = realloc(s->val, sizeof(float) * (size_t)n);
    if (!val) return 0;
    s->val = val;
    s->cap = n;
    return 1;
}

/* Sort candidates [0, n) by value descending; ties keep the smaller id first (deterministic). */
static void sort_desc(int32_t *ids, float *val, int32_t n) {
    /* insertion sort for the short lists left after top-k, heap-free quicksort otherwise */
    if (n <= 64) {
        for (int32_t i = 1; i < n; i++) {
            float v = val[i];
            int32_t id = ids[i];
            int32_t j = i - 1;
            while (j >= 0 && (val[j] < v || (val[j] == v && ids[j] > id))) {
                val[j + 1] = val[j];
                ids[j + 1] = ids[j];
                j--;
            }
            val[j + 1] = v;
            ids[j + 1] = id;
        }
        return;
    }
    float pv = val[n / 2];
    int32_t pid = ids[n / 2];
    int32_t i = 0, j = n - 1;
    while (i <= j) {
        while (val[i] > pv || (val[i] == pv && ids[i] < pid)) i++;
        while (val[j] < pv || (val[j] == pv && ids[j] > pid)) j--;
        if (i <= j) {
            float tv = val[i]; val[i] = val[j]; val[j] = tv;
            int32_t ti = ids[i]; ids[i] = ids[j]; ids[j] = ti;
            i++;
            j--;
        }
    }
    if (j > 0) sort_desc(ids, val, j + 1);
    if (i < n - 1) sort_desc(ids + i, val + i, n - i);
}

/* Partial selection: move the k largest (by value, ties -> smaller id) to the front, sorted. */
static void select_top_k(int32_t *ids, float *val, int32_t n, int32_t k) {
    /* quickselect-style partition until the boundary is at k, then sort the head */
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pv = val[(lo + hi) / 2];
        int32_t pid = ids[(lo + hi) / 2];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (val[i] > pv || (val[i] == pv && ids[i] < pid)) i++;
            while (val[j] < pv || (val[j] == pv && ids[j] > pid)) j--;
            if (i <= j) {
                float tv = val[i]; val[i] = val[j]; val[j] = tv;
                int32_t ti = ids[i]; ids[i] = ids[j]; ids[j] = ti;
                i++;
                j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
    sort_desc(ids, val, k);
}

int32_t vlkv_sampler_sample(vlkv_sampler *s, const float *logits, int32_t n_vocab) {
    if (!s || !logits || n_vocab <= 0) return -1;
    const vlkv_sampler_params *p = &s->p;

    /* greedy without penalties needs no scratch: first maximum wins (argmax ties -> lowest id) */
    if (p->temp <= 0.0f && p->repeat_penalty == 1.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < n_vocab; i++)
            if (logits[i] > logits[best]) best = i;
        vlkv_sampler_accept(s, best);
        return best;
    }
    if (!grow(s, n_vocab)) return -1;
    int32_t n = n_vocab;
    for (int32_t i = 0; i < n; i++) {
        s->ids[i] = i;
        s->val[i] = logits[i];
    }

    /* repetition penalty (llama.cpp / CTRL): divide positive logits, multiply negative ones,
     * once per distinct token in the window */
    if (p->repeat_penalty != 1.0f) {
        for (int32_t r = 0; r < s->n_recent; r++) {
            int32_t t = s->recent[r];
            if (t < 0 || t >= n_vocab) continue;
            int seen = 0;
            for (int32_t q = 0; q < r; q++)
                if (s->recent[q] == t) { seen = 1; break; }
            if (seen) continue;
            float *v = &s->val[t];
            *v = *v > 0 ? *v / p->repeat_penalty : *v * p->repeat_penalty;
        }
    }

    if (p->temp <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (s->val[i] > s->val[best]) best = i;
        vlkv_sampler_accept(s, best);
        return best;
    }

    /* top-k (on logits) */
    if (p->top_k > 0 && p->top_k < n) {
        select_top_k(s->ids, s->val, n, p->top_k);
        n = p->top_k;
    } else {
        sort_desc(s->ids, s->val, n);
    }

    /* softmax of the (untempered) survivors, for top-p and min-p as llama.cpp does */
    float mx = s->val[0];
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)s->val[i] - mx);

    /* top-p: smallest prefix whose probability mass reaches top_p (at least one) */
    if (p->top_p < 1.0f) {
        double cum = 0;
        int32_t keep = n;
        for (int32_t i = 0; i < n; i++) {
            cum += exp((double)s->val[i] - mx) / sum;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    /* min-p: keep tokens with p >= min_p * p_max (p_max = prob of the first) */
    if (p->min_p > 0.0f) {
        double thr = log(p->min_p);   /* compare in logit space: val - mx >= log(min_p) */
        int32_t keep = 1;
        while (keep < n && (double)s->val[keep] - mx >= thr) keep++;
        n = keep;
    }

    /* temperature, then draw from the renormalised distribution */
    double tot = 0;
    for (int32_t i = 0; i < n; i++) {
        double e = exp(((double)s->val[i] - mx) / p->temp);
        s->val[i] = (float)e;
        tot += e;
    }
    double u = rng_uniform(&s->rng) * tot;
    double acc = 0;
    int32_t pick = s->ids[n - 1];
    for (int32_t i = 0; i < n; i++) {
        acc += s->val[i];
        if (u < acc) {
            pick = s->ids[i];
            break;
        }
    }
    vlkv_sampler_accept(s, pick);
    return pick;
}
