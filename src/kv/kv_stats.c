/* kv_stats.c - attention-statistics accumulators behind the observer interface (kv_stats.h).
 * Every buffer is indexed [layer][query head][...]: concurrent heads write disjoint memory. */
#include "kv_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *zalloc(size_t n, size_t sz, int *fail) {
    if (n == 0) return NULL;
    void *p = calloc(n, sz);
    if (!p) *fail = 1;
    return p;
}

vlkv_status vlkv_kv_stats_init(struct vlkv_kv_stats *st, unsigned need, int32_t n_layer, int32_t n_head,
                               int32_t n_ctx, int32_t window, float sparsity_thr) {
    memset(st, 0, sizeof *st);
    st->need = need;
    st->n_layer = n_layer;
    st->n_head = n_head;
    st->n_ctx = n_ctx;
    st->window = window > 0 ? window : 1;
    st->sparsity_thr = sparsity_thr > 0 ? sparsity_thr : 0.01f;
    const size_t lh = (size_t)n_layer * (size_t)n_head, lhc = lh * (size_t)n_ctx;
    int fail = 0;
    if (need & VLKV_STAT_COLSUM) st->colsum = zalloc(lhc, sizeof(float), &fail);
    if (need & (VLKV_STAT_POST | VLKV_STAT_SPARSITY)) {
        if (need & VLKV_STAT_POST) st->post = zalloc(lhc, sizeof(float), &fail);
        st->sp_out = zalloc(lh, sizeof(int64_t), &fail);
        st->sp_vis = zalloc(lh, sizeof(int64_t), &fail);
        st->post_rows = zalloc(lh, sizeof(int32_t), &fail);
        st->post_len = zalloc(lh, sizeof(int32_t), &fail);
    }
    if (need & VLKV_STAT_WINDOW) {
        st->ring = zalloc(lhc * (size_t)st->window, sizeof(float), &fail);
        st->ring_pos = zalloc(lh * (size_t)st->window, sizeof(int32_t), &fail);
        st->ring_n = zalloc(lh * (size_t)st->window, sizeof(int32_t), &fail);
    }
    if (need & VLKV_STAT_DECODE) st->dec = zalloc(lhc, sizeof(float), &fail);
    st->extent = zalloc(lh, sizeof(int32_t), &fail);
    if (fail) {
        vlkv_kv_stats_free(st);
        return vlkv_error(VLKV_ERR_OOM, "kv stats: out of memory (%d layers x %d heads x %d slots)",
                          n_layer, n_head, n_ctx);
    }
    if (st->ring_pos) for (size_t i = 0; i < lh * (size_t)st->window; i++) st->ring_pos[i] = -1;
    return VLKV_OK;
}

void vlkv_kv_stats_free(struct vlkv_kv_stats *st) {
    if (!st) return;
    free(st->colsum); free(st->post); free(st->sp_out); free(st->sp_vis);
    free(st->post_rows); free(st->post_len); free(st->ring); free(st->ring_pos); free(st->ring_n);
    free(st->dec); free(st->extent);
    memset(st, 0, sizeof *st);
}

/* Zero only the extents that were touched: calloc'd pages never written stay non-resident. */
void vlkv_kv_stats_reset(struct vlkv_kv_stats *st) {
    const size_t lh = (size_t)st->n_layer * (size_t)st->n_head;
    for (size_t h = 0; h < lh && st->extent; h++) {
        const size_t base = h * (size_t)st->n_ctx, e = (size_t)st->extent[h];
        if (st->colsum) memset(st->colsum + base, 0, e * sizeof(float));
        if (st->dec) memset(st->dec + base, 0, e * sizeof(float));
        if (st->post) memset(st->post + base, 0, (size_t)st->post_len[h] * sizeof(float));
        st->extent[h] = 0;
    }
    if (st->sp_out) memset(st->sp_out, 0, lh * sizeof(int64_t));
    if (st->sp_vis) memset(st->sp_vis, 0, lh * sizeof(int64_t));
    if (st->post_rows) memset(st->post_rows, 0, lh * sizeof(int32_t));
    if (st->post_len) memset(st->post_len, 0, lh * sizeof(int32_t));
    if (st->ring_pos) for (size_t i = 0; i < lh * (size_t)st->window; i++) st->ring_pos[i] = -1;
    if (st->ring_n) memset(st->ring_n, 0, lh * (size_t)st->window * sizeof(int32_t));
}

void vlkv_kv_stats_bind(struct vlkv_kv_stats *st, const struct vlkv_kv_cache *c) { st->cache = c; }

int32_t vlkv_sparsity_count_prob(const float *p, int32_t n, float thr) {
    float mx = 0.0f;
    for (int32_t j = 0; j < n; j++) mx = p[j] > mx ? p[j] : mx;
    const float cut = thr * mx;
    int32_t cnt = 0;
    for (int32_t j = 0; j < n; j++) cnt += p[j] < cut;
    return cnt;
}

int32_t vlkv_sparsity_count_logit(const float *z, int32_t n, float thr) {
    float mx = -INFINITY;
    for (int32_t j = 0; j < n; j++) mx = z[j] > mx ? z[j] : mx;
    const float cut = mx + logf(thr);
    int32_t cnt = 0;
    for (int32_t j = 0; j < n; j++) cnt += z[j] < cut;
    return cnt;
}

/* Forget the post-vision sums and sparsity counts of head slot h (layer * n_head + head). */
static void post_reset(struct vlkv_kv_stats *st, size_t h) {
    if (st->post && st->post_len[h] > 0)
        memset(st->post + h * (size_t)st->n_ctx, 0, (size_t)st->post_len[h] * sizeof(float));
    st->post_len[h] = 0;
    st->post_rows[h] = 0;
    st->sp_out[h] = 0;
    st->sp_vis[h] = 0;
}

void vlkv_kv_stats_row_prefill(void *ud, int32_t il, int32_t ih, int32_t q_pos, int32_t q_slot,
                               const float *p, int32_t n_keys) {
    struct vlkv_kv_stats *st = ud;
    if (il < 0 || il >= st->n_layer || ih < 0 || ih >= st->n_head) return;
    if (n_keys > st->n_ctx) n_keys = st->n_ctx;
    const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih;
    const size_t base = h * (size_t)st->n_ctx;
    if (n_keys > st->extent[h]) st->extent[h] = n_keys;
    if (st->colsum) {
        float *cs = st->colsum + base;
        for (int32_t j = 0; j < n_keys; j++) cs[j] += p[j];
    }
    if (st->sp_out && st->cache && q_slot >= 0 && q_slot < st->cache->layers[il].len) {
        const int is_img = st->cache->layers[il].mod[q_slot] == VLKV_MOD_IMAGE;
        if (is_img) {
            post_reset(st, h);   /* a (later) image row: everything gathered so far was not post-vision */
        } else {
            if (st->post) {
                float *ps = st->post + base;
                for (int32_t j = 0; j < n_keys; j++) ps[j] += p[j];
                if (n_keys > st->post_len[h]) st->post_len[h] = n_keys;
            }
            st->post_rows[h]++;
            st->sp_out[h] += vlkv_sparsity_count_prob(p, n_keys, st->sparsity_thr);
            st->sp_vis[h] += n_keys;
        }
    }
    if (st->ring) {
        const size_t r = h * (size_t)st->window + (size_t)(q_pos % st->window);
        memcpy(st->ring + r * (size_t)st->n_ctx, p, (size_t)n_keys * sizeof(float));
        st->ring_pos[r] = q_pos;
        st->ring_n[r] = n_keys;
    }
}

void vlkv_kv_stats_row_decode(void *ud, int32_t il, int32_t ih, int32_t q_pos, int32_t q_slot,
                              const float *p, int32_t n_keys) {
    struct vlkv_kv_stats *st = ud;
    (void)q_pos; (void)q_slot;
    if (!st->dec || il < 0 || il >= st->n_layer || ih < 0 || ih >= st->n_head) return;
    if (n_keys > st->n_ctx) n_keys = st->n_ctx;
    const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih;
    float *d = st->dec + h * (size_t)st->n_ctx;
    if (n_keys > st->extent[h]) st->extent[h] = n_keys;
    for (int32_t j = 0; j < n_keys; j++) d[j] += p[j];
}

/* ---- filling from a device ---- */

struct vlkv_kv_stats *vlkv_kv_stats_of(const struct vlkv_attn_observer *obs) {
    if (!obs || (obs->row != vlkv_kv_stats_row_prefill && obs->row != vlkv_kv_stats_row_decode)) return NULL;
    return obs->ud;
}

void vlkv_kv_stats_add_sums(struct vlkv_kv_stats *st, int decode, int32_t il, const float *sums, int32_t ld,
                            int32_t n_keys) {
    float *buf = decode ? st->dec : st->colsum;
    if (!buf || il < 0 || il >= st->n_layer) return;
    if (n_keys > st->n_ctx) n_keys = st->n_ctx;
    for (int32_t ih = 0; ih < st->n_head; ih++) {
        const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih;
        float *b = buf + h * (size_t)st->n_ctx;
        const float *s = sums + (size_t)ih * (size_t)ld;
        if (n_keys > st->extent[h]) st->extent[h] = n_keys;
        for (int32_t j = 0; j < n_keys; j++) b[j] += s[j];
    }
}

void vlkv_kv_stats_add_post(struct vlkv_kv_stats *st, int32_t il, int reset, const float *sums, const uint32_t *cnt,
                            int32_t ld, int32_t n_keys, int32_t rows, int64_t vis) {
    if (!st->sp_out || il < 0 || il >= st->n_layer) return;
    if (n_keys > st->n_ctx) n_keys = st->n_ctx;
    for (int32_t ih = 0; ih < st->n_head; ih++) {
        const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih, base = h * (size_t)st->n_ctx;
        if (reset) post_reset(st, h);
        if (rows <= 0) continue;
        if (st->post && sums) {
            float *ps = st->post + base;
            const float *s = sums + (size_t)ih * (size_t)ld;
            for (int32_t j = 0; j < n_keys; j++) ps[j] += s[j];
            if (n_keys > st->post_len[h]) st->post_len[h] = n_keys;
        }
        int64_t out = 0;
        if (cnt) {
            const uint32_t *c = cnt + (size_t)ih * (size_t)ld;
            for (int32_t j = 0; j < n_keys; j++) out += c[j];
        }
        st->post_rows[h] += rows;
        st->sp_out[h] += out;
        st->sp_vis[h] += vis;
    }
}

void vlkv_kv_stats_put_row(struct vlkv_kv_stats *st, int32_t il, int32_t ih, int32_t q_pos, const float *p,
                           int32_t n_keys) {
    if (!st->ring || il < 0 || il >= st->n_layer || ih < 0 || ih >= st->n_head || q_pos < 0) return;
    if (n_keys > st->n_ctx) n_keys = st->n_ctx;
    const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih;
    if (n_keys > st->extent[h]) st->extent[h] = n_keys;
    const size_t r = h * (size_t)st->window + (size_t)(q_pos % st->window);
    memcpy(st->ring + r * (size_t)st->n_ctx, p, (size_t)n_keys * sizeof(float));
    st->ring_pos[r] = q_pos;
    st->ring_n[r] = n_keys;
}

/* ---- reductions ---- */

static void head_mean(const float *buf, const struct vlkv_kv_stats *st, int32_t il, int32_t n, double *out) {
    if (n > st->n_ctx) n = st->n_ctx;
    for (int32_t j = 0; j < n; j++) out[j] = 0.0;
    if (!buf) return;
    for (int32_t ih = 0; ih < st->n_head; ih++) {
        const float *b = buf + ((size_t)il * (size_t)st->n_head + (size_t)ih) * (size_t)st->n_ctx;
        for (int32_t j = 0; j < n; j++) out[j] += b[j];
    }
    const double inv = 1.0 / st->n_head;
    for (int32_t j = 0; j < n; j++) out[j] *= inv;
}

void vlkv_kv_stats_colsum(const struct vlkv_kv_stats *st, int32_t il, int32_t n, double *out) {
    head_mean(st->colsum, st, il, n, out);
}

void vlkv_kv_stats_post(const struct vlkv_kv_stats *st, int32_t il, int32_t n, double *out) {
    head_mean(st->post, st, il, n, out);
}

int32_t vlkv_kv_stats_post_rows(const struct vlkv_kv_stats *st, int32_t il) {
    if (!st->post_rows) return 0;
    return st->post_rows[(size_t)il * (size_t)st->n_head];
}

double vlkv_kv_stats_sparsity(const struct vlkv_kv_stats *st, int32_t il) {
    if (!st->sp_out) return -1.0;
    double g = 0.0;
    for (int32_t ih = 0; ih < st->n_head; ih++) {
        const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih;
        if (st->sp_vis[h] <= 0) return -1.0;
        g += (double)st->sp_out[h] / (double)st->sp_vis[h];
    }
    return g / st->n_head;
}

static int32_t window_max_pos(const struct vlkv_kv_stats *st, size_t h) {
    int32_t mx = -1;
    for (int32_t r = 0; r < st->window; r++) {
        const int32_t pp = st->ring_pos[h * (size_t)st->window + (size_t)r];
        mx = pp > mx ? pp : mx;
    }
    return mx;
}

int32_t vlkv_kv_stats_window(const struct vlkv_kv_stats *st, int32_t il, int32_t w, int32_t n, double *out) {
    if (n > st->n_ctx) n = st->n_ctx;
    for (int32_t j = 0; j < n; j++) out[j] = 0.0;
    if (!st->ring) return 0;
    if (w > st->window) w = st->window;
    int32_t rows = 0;
    for (int32_t ih = 0; ih < st->n_head; ih++) {
        const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih;
        const int32_t mx = window_max_pos(st, h);
        int32_t rows_h = 0;
        for (int32_t r = 0; r < st->window; r++) {
            const size_t ri = h * (size_t)st->window + (size_t)r;
            if (st->ring_pos[ri] < 0 || st->ring_pos[ri] <= mx - w) continue;
            const float *row = st->ring + ri * (size_t)st->n_ctx;
            const int32_t nk = st->ring_n[ri] < n ? st->ring_n[ri] : n;
            for (int32_t j = 0; j < nk; j++) out[j] += row[j];
            rows_h++;
        }
        if (ih == 0) rows = rows_h;
    }
    const double inv = 1.0 / st->n_head;
    for (int32_t j = 0; j < n; j++) out[j] *= inv;
    return rows;
}

double vlkv_kv_stats_window_sparsity(const struct vlkv_kv_stats *st, int32_t il, int32_t w) {
    if (!st->ring) return -1.0;
    if (w > st->window) w = st->window;
    double g = 0.0;
    for (int32_t ih = 0; ih < st->n_head; ih++) {
        const size_t h = (size_t)il * (size_t)st->n_head + (size_t)ih;
        const int32_t mx = window_max_pos(st, h);
        int64_t out = 0, vis = 0;
        for (int32_t r = 0; r < st->window; r++) {
            const size_t ri = h * (size_t)st->window + (size_t)r;
            if (st->ring_pos[ri] < 0 || st->ring_pos[ri] <= mx - w) continue;
            out += vlkv_sparsity_count_prob(st->ring + ri * (size_t)st->n_ctx, st->ring_n[ri], st->sparsity_thr);
            vis += st->ring_n[ri];
        }
        if (vis == 0) return -1.0;
        g += (double)out / (double)vis;
    }
    return g / st->n_head;
}

void vlkv_kv_stats_take_decode(struct vlkv_kv_stats *st, int32_t il, int32_t n, double *out) {
    if (!st->dec) return;
    if (n > st->n_ctx) n = st->n_ctx;
    for (int32_t ih = 0; ih < st->n_head; ih++) {
        float *d = st->dec + ((size_t)il * (size_t)st->n_head + (size_t)ih) * (size_t)st->n_ctx;
        for (int32_t j = 0; j < n; j++) {
            out[j] += d[j];
            d[j] = 0.0f;
        }
    }
}

void vlkv_pool_max(const double *in, int32_t n, int32_t kernel, double *out) {
    const int32_t half = kernel / 2;
    for (int32_t j = 0; j < n; j++) {
        int32_t a = j - half, b = j - half + kernel - 1;
        if (a < 0) a = 0;
        if (b > n - 1) b = n - 1;
        double m = in[a];
        for (int32_t t = a + 1; t <= b; t++) m = in[t] > m ? in[t] : m;
        out[j] = m;
    }
}
