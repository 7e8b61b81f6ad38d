/* kv_compact.c - in-place rewriting of a layer of the ragged KV cache: stable compaction (gather of
 * kept slots), single-slot removal, Elastic Cache merging (means of groups of rows, computed in F32
 * and rounded back to the storage type), the O(1) fixed-point FIFO of kv-lvlm-methods.md §1.4, and
 * release of freed pages so resident memory follows the retained budget.
 * Invariant: every function keeps K, V, pos and mod of a slot together. */
#define _DEFAULT_SOURCE 1   /* madvise */
#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "types.h"

static inline char *krow(struct vlkv_kv_layer *L, size_t rb, int32_t s) { return (char *)L->k + (size_t)s * rb; }
static inline char *vrow(struct vlkv_kv_layer *L, size_t rb, int32_t s) { return (char *)L->v + (size_t)s * rb; }

/* rb == 0: metadata only (the rows live behind the cache's hooks) */
static void move_slot(struct vlkv_kv_layer *L, size_t rb, int32_t dst, int32_t src) {
    if (dst == src) return;
    if (rb) {
        memcpy(krow(L, rb, dst), krow(L, rb, src), rb);
        memcpy(vrow(L, rb, dst), vrow(L, rb, src), rb);
    }
    L->pos[dst] = L->pos[src];
    L->mod[dst] = L->mod[src];
}

/* ---- hooks: the K/V rows live elsewhere (kv_cache.h struct vlkv_kv_hooks) ---- */
static void hook_done(struct vlkv_kv_cache *c, vlkv_status st) {
    if (st != VLKV_OK && c->hook_status == VLKV_OK) c->hook_status = st;
}

/* Row bytes for move_slot: 0 when the data side is a hook's business. */
static inline size_t data_rb(const struct vlkv_kv_cache *c) { return c->hooks ? 0 : c->row_bytes; }

void vlkv_kv_compact(struct vlkv_kv_cache *c, int32_t il, const int32_t *keep, int32_t n_keep) {
    struct vlkv_kv_layer *L = &c->layers[il];
    VLKV_ASSERT(n_keep >= 0 && n_keep <= L->len);
    if (c->hooks) hook_done(c, c->hooks->compact(c->hooks->ud, il, keep, n_keep));
    /* keep[] is strictly increasing, so keep[i] >= i: a forward pass never reads an overwritten slot */
    for (int32_t i = 0; i < n_keep; i++) {
        VLKV_ASSERT(keep[i] >= i && keep[i] < L->len && (i == 0 || keep[i] > keep[i - 1]));
        move_slot(L, data_rb(c), i, keep[i]);
    }
    L->len = n_keep;
}

void vlkv_kv_remove(struct vlkv_kv_cache *c, int32_t il, int32_t idx) {
    struct vlkv_kv_layer *L = &c->layers[il];
    VLKV_ASSERT(idx >= 0 && idx < L->len);
    const size_t rb = c->row_bytes;
    const int32_t tail = L->len - idx - 1;
    if (c->hooks) hook_done(c, c->hooks->remove(c->hooks->ud, il, idx));
    if (tail > 0) {
        if (!c->hooks) {
            memmove(krow(L, rb, idx), krow(L, rb, idx + 1), (size_t)tail * rb);
            memmove(vrow(L, rb, idx), vrow(L, rb, idx + 1), (size_t)tail * rb);
        }
        memmove(L->pos + idx, L->pos + idx + 1, (size_t)tail * sizeof *L->pos);
        memmove(L->mod + idx, L->mod + idx + 1, (size_t)tail);
    }
    L->len--;
}

/* ---- merging ------------------------------------------------------------------------------ */

static void row_from_f32(uint32_t type, const float *src, void *dst, int32_t n) {
    if (type == VLKV_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
    } else {
        vlkv_f16 *h = dst;
        for (int32_t i = 0; i < n; i++) h[i] = vlkv_f32_to_f16(src[i]);
    }
}

/* acc += row (storage type) */
static void row_acc(uint32_t type, const void *src, double *acc, int32_t n) {
    if (type == VLKV_TYPE_F32) {
        const float *f = src;
        for (int32_t i = 0; i < n; i++) acc[i] += f[i];
    } else {
        const vlkv_f16 *h = src;
        for (int32_t i = 0; i < n; i++) acc[i] += vlkv_f16_to_f32(h[i]);
    }
}

vlkv_status vlkv_kv_merge(struct vlkv_kv_cache *c, int32_t il, const int32_t *keep, int32_t n_keep,
                          const int32_t *src_off, const int32_t *src, float *tmp) {
    struct vlkv_kv_layer *L = &c->layers[il];
    VLKV_ASSERT(c->type == VLKV_TYPE_F32 || c->type == VLKV_TYPE_F16);
    if (!src_off) {
        vlkv_kv_compact(c, il, keep, n_keep);
        return VLKV_OK;
    }
    if (c->hooks) {
        /* the means are the hook's; here only the slots' pos/mod (those of keep[i]) */
        hook_done(c, c->hooks->merge(c->hooks->ud, il, keep, n_keep, src_off, src));
        for (int32_t i = 0; i < n_keep; i++) {
            VLKV_ASSERT(keep[i] >= i && keep[i] < L->len && (i == 0 || keep[i] > keep[i - 1]));
            move_slot(L, 0, i, keep[i]);
        }
        L->len = n_keep;
        return c->hook_status;
    }
    const int32_t d = c->n_head_kv * c->d_head;
    const size_t rb = c->row_bytes;
    int32_t n_merged = 0;
    for (int32_t i = 0; i < n_keep; i++) n_merged += src_off[i + 1] > src_off[i];

    float *buf = tmp;
    double *acc = NULL;
    if (!buf) buf = malloc(((size_t)n_merged * 2 + 1) * (size_t)d * sizeof(float));
    acc = malloc((size_t)d * 2 * sizeof(double));
    if (!buf || !acc) {
        if (!tmp) free(buf);
        free(acc);
        return vlkv_error(VLKV_ERR_OOM, "kv merge: out of memory (%d rows)", n_merged);
    }
    /* phase 1: means of every group with sources, out of place (sources may be overwritten later) */
    int32_t m = 0;
    for (int32_t i = 0; i < n_keep; i++) {
        const int32_t b = src_off[i], e = src_off[i + 1];
        if (e <= b) continue;
        double *ak = acc, *av = acc + d;
        memset(acc, 0, (size_t)d * 2 * sizeof(double));
        row_acc(c->type, krow(L, rb, keep[i]), ak, d);
        row_acc(c->type, vrow(L, rb, keep[i]), av, d);
        for (int32_t s = b; s < e; s++) {
            VLKV_ASSERT(src[s] >= 0 && src[s] < L->len);
            row_acc(c->type, krow(L, rb, src[s]), ak, d);
            row_acc(c->type, vrow(L, rb, src[s]), av, d);
        }
        const double inv = 1.0 / (double)(e - b + 1);
        float *ok = buf + (size_t)m * 2 * d, *ov = ok + d;
        for (int32_t j = 0; j < d; j++) {
            ok[j] = (float)(ak[j] * inv);
            ov[j] = (float)(av[j] * inv);
        }
        m++;
    }
    /* phase 2: gather the anchors; phase 3: overwrite the merged ones */
    vlkv_kv_compact(c, il, keep, n_keep);
    m = 0;
    for (int32_t i = 0; i < n_keep; i++) {
        if (src_off[i + 1] <= src_off[i]) continue;
        const float *ok = buf + (size_t)m * 2 * d;
        row_from_f32(c->type, ok, krow(L, rb, i), d);
        row_from_f32(c->type, ok + d, vrow(L, rb, i), d);
        m++;
    }
    if (!tmp) free(buf);
    free(acc);
    return VLKV_OK;
}

vlkv_status vlkv_kv_merge_runs(struct vlkv_kv_cache *c, int32_t il, const int32_t *anchor, const int32_t *run_b,
                               const int32_t *run_e, int32_t n_out) {
    struct vlkv_kv_layer *L = &c->layers[il];
    const int32_t d = c->n_head_kv * c->d_head;
    const size_t rb = c->row_bytes;
    if (c->hooks) {
        hook_done(c, c->hooks->merge_runs(c->hooks->ud, il, anchor, run_b, run_e, n_out));
        for (int32_t i = 0; i < n_out; i++) {
            VLKV_ASSERT(run_b[i] >= i && run_e[i] > run_b[i] && run_e[i] <= L->len && anchor[i] >= run_b[i] &&
                        anchor[i] < run_e[i] && (i == 0 || run_b[i] >= run_e[i - 1]));
            move_slot(L, 0, i, anchor[i]);   /* anchor[i] >= i and increasing: no overwritten reads */
        }
        L->len = n_out;
        return c->hook_status;
    }
    float *fk = malloc((size_t)d * 2 * sizeof(float));
    double *acc = malloc((size_t)d * 2 * sizeof(double));
    if (!fk || !acc) {
        free(fk);
        free(acc);
        return vlkv_error(VLKV_ERR_OOM, "kv merge: out of memory");
    }
    /* Runs are disjoint and increasing, and output i lands at slot i <= run[i]: everything output i
     * reads (slots run[i] .. run[i+1]-1) is at or after slot i and was not written yet. */
    for (int32_t i = 0; i < n_out; i++) {
        const int32_t b = run_b[i], e = run_e[i];
        VLKV_ASSERT(b >= i && e > b && e <= L->len && anchor[i] >= b && anchor[i] < e);
        VLKV_ASSERT(i == 0 || b >= run_e[i - 1]);
        const int32_t apos = L->pos[anchor[i]];
        const uint8_t amod = L->mod[anchor[i]];
        if (e - b == 1) {
            move_slot(L, rb, i, b);
        } else {
            memset(acc, 0, (size_t)d * 2 * sizeof(double));
            for (int32_t s = b; s < e; s++) {
                row_acc(c->type, krow(L, rb, s), acc, d);
                row_acc(c->type, vrow(L, rb, s), acc + d, d);
            }
            const double inv = 1.0 / (double)(e - b);
            for (int32_t j = 0; j < 2 * d; j++) fk[j] = (float)(acc[j] * inv);
            row_from_f32(c->type, fk, krow(L, rb, i), d);
            row_from_f32(c->type, fk + d, vrow(L, rb, i), d);
        }
        L->pos[i] = apos;
        L->mod[i] = amod;
    }
    L->len = n_out;
    free(fk);
    free(acc);
    return VLKV_OK;
}

/* ---- releasing freed capacity -------------------------------------------------------------- */

static void release_tail(void *base, size_t used, size_t total) {
#if defined(MADV_DONTNEED) && !defined(__SANITIZE_ADDRESS__)
    const long pg = sysconf(_SC_PAGESIZE);
    if (!base || pg <= 0) return;
    uintptr_t b = (uintptr_t)base + used, e = (uintptr_t)base + total;
    b = (b + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;   /* whole pages strictly inside */
    e = e / (uintptr_t)pg * (uintptr_t)pg;
    if (e > b) (void)madvise((void *)b, e - b, MADV_DONTNEED);
#else
    (void)base; (void)used; (void)total;
#endif
}

void vlkv_kv_release(struct vlkv_kv_cache *c, int32_t il) {
    struct vlkv_kv_layer *L = &c->layers[il];
    if (c->hooks) {
        if (c->hooks->release) c->hooks->release(c->hooks->ud, il);
        return;
    }
    const size_t used = (size_t)L->len * c->row_bytes, total = (size_t)L->cap * c->row_bytes;
    release_tail(L->k, used, total);
    release_tail(L->v, used, total);
}

/* ---- O(1) fixed-point FIFO ----------------------------------------------------------------- */

void vlkv_kv_fifo_init(struct vlkv_kv_fifo *f, int32_t *buf, int32_t cap, int32_t p, int32_t len) {
    VLKV_ASSERT(p >= 0 && len <= cap);
    f->ids = buf;
    f->where = buf + cap;
    f->cap = cap;
    f->head = 0;
    f->p = p;
    f->n = len > p ? len - p : 0;
    for (int32_t i = 0; i < f->n; i++) {
        f->ids[i] = p + i;
        f->where[p + i] = i;
    }
}

void vlkv_kv_fifo_push(struct vlkv_kv_fifo *f, int32_t slot) {
    VLKV_ASSERT(f->n < f->cap && slot >= 0 && slot < f->cap);
    const int32_t r = (f->head + f->n) % f->cap;
    f->ids[r] = slot;
    f->where[slot] = r;
    f->n++;
}

int32_t vlkv_kv_fifo_evict(struct vlkv_kv_fifo *f, struct vlkv_kv_cache *c, int32_t il) {
    struct vlkv_kv_layer *L = &c->layers[il];
    if (f->n <= 0) return -1;
    const int32_t hole = f->ids[f->head];
    const int32_t last = L->len - 1;
    const int32_t pos = L->pos[hole];
    VLKV_ASSERT(hole >= f->p && hole <= last);
    f->head = (f->head + 1) % f->cap;
    f->n--;
    if (c->hooks) hook_done(c, c->hooks->swap_remove(c->hooks->ud, il, hole));
    if (hole != last) {
        /* slot `last` belongs to the queue (it is past the frozen prefix): move it into the hole */
        VLKV_ASSERT(last >= f->p);
        move_slot(L, data_rb(c), hole, last);
        const int32_t r = f->where[last];
        f->ids[r] = hole;
        f->where[hole] = r;
    }
    L->len--;
    return pos;
}
