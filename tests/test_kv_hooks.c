/* test_kv_hooks.c - the hook table of kv_cache.h (a cache whose K/V rows live elsewhere, e.g. on a
 * Vulkan device). Three caches: A is a plain cache (the reference), B has hooks, and the hooks
 * apply every rewrite to a plain "device" cache D with the plain functions. The same sequence of
 * rewrites (compaction, shifting removal, general merge, run merge, FIFO evictions) runs on A and
 * on B; afterwards B's metadata (len/pos/mod) must equal A's, D's rows and metadata must equal
 * A's, and B's own rows must be untouched. Also: a failing hook's status is kept (the first one)
 * and the metadata still follows; release goes to the hook. */
#include <string.h>

#include "kv/kv_cache.h"
#include "test_util.h"

enum { NL = 2, NKV = 2, DH = 4, D = NKV * DH, CAP = 64 };

static struct vlkv_kv_cache g_dev;   /* what the hooks rewrite */
static int g_fail_next;              /* next hook call fails with this status (0: none) */
static int g_released;

static vlkv_status fail_or_ok(void) {
    vlkv_status st = (vlkv_status)g_fail_next;
    g_fail_next = 0;
    return st;
}
static vlkv_status h_compact(void *ud, int32_t il, const int32_t *keep, int32_t n) {
    (void)ud;
    vlkv_kv_compact(&g_dev, il, keep, n);
    return fail_or_ok();
}
static vlkv_status h_remove(void *ud, int32_t il, int32_t idx) {
    (void)ud;
    vlkv_kv_remove(&g_dev, il, idx);
    return fail_or_ok();
}
static vlkv_status h_swap_remove(void *ud, int32_t il, int32_t idx) {
    (void)ud;
    struct vlkv_kv_layer *L = &g_dev.layers[il];
    const int32_t last = L->len - 1;
    if (idx != last) {
        memcpy((char *)L->k + (size_t)idx * g_dev.row_bytes, (char *)L->k + (size_t)last * g_dev.row_bytes, g_dev.row_bytes);
        memcpy((char *)L->v + (size_t)idx * g_dev.row_bytes, (char *)L->v + (size_t)last * g_dev.row_bytes, g_dev.row_bytes);
        L->pos[idx] = L->pos[last];
        L->mod[idx] = L->mod[last];
    }
    L->len--;
    return fail_or_ok();
}
static vlkv_status h_merge(void *ud, int32_t il, const int32_t *keep, int32_t n, const int32_t *off, const int32_t *src) {
    (void)ud;
    vlkv_status st = vlkv_kv_merge(&g_dev, il, keep, n, off, src, NULL);
    return st != VLKV_OK ? st : fail_or_ok();
}
static vlkv_status h_merge_runs(void *ud, int32_t il, const int32_t *a, const int32_t *b, const int32_t *e, int32_t n) {
    (void)ud;
    vlkv_status st = vlkv_kv_merge_runs(&g_dev, il, a, b, e, n);
    return st != VLKV_OK ? st : fail_or_ok();
}
static void h_release(void *ud, int32_t il) {
    (void)ud;
    (void)il;
    g_released++;
}

static const struct vlkv_kv_hooks hooks = {h_compact, h_remove, h_swap_remove, h_merge, h_merge_runs, h_release, NULL};

static void fill(struct vlkv_kv_cache *c, int32_t n) {
    float k[D], v[D];
    for (int32_t il = 0; il < NL; il++)
        for (int32_t s = 0; s < n; s++) {
            const int32_t pos = 3 * s + il;
            const uint8_t mod = (uint8_t)(s % 5 == 2 ? VLKV_MOD_IMAGE : VLKV_MOD_INSTRUCTION);
            for (int i = 0; i < D; i++) {
                k[i] = (float)(s * 16 + i + il);
                v[i] = -(float)(s * 16 + i) * 0.5f;
            }
            CHECK(vlkv_kv_append(c, il, k, v, 1, &pos, &mod) == VLKV_OK);
        }
}

static int same_meta(const struct vlkv_kv_cache *a, const struct vlkv_kv_cache *b) {
    for (int32_t il = 0; il < NL; il++) {
        const struct vlkv_kv_layer *x = &a->layers[il], *y = &b->layers[il];
        if (x->len != y->len || memcmp(x->pos, y->pos, (size_t)x->len * 4) || memcmp(x->mod, y->mod, (size_t)x->len))
            return 0;
    }
    return 1;
}

static int same_rows(const struct vlkv_kv_cache *a, const struct vlkv_kv_cache *b) {
    for (int32_t il = 0; il < NL; il++) {
        const size_t n = (size_t)a->layers[il].len * a->row_bytes;
        if (a->layers[il].len != b->layers[il].len || memcmp(a->layers[il].k, b->layers[il].k, n) ||
            memcmp(a->layers[il].v, b->layers[il].v, n))
            return 0;
    }
    return 1;
}

/* the same rewrites on a plain cache and on a hooked one */
static void rewrite(struct vlkv_kv_cache *c, int32_t *fifo_buf) {
    const int32_t keep[] = {0, 1, 3, 4, 6, 7, 8, 10, 12, 13, 15, 16, 17, 18, 19};
    vlkv_kv_compact(c, 0, keep, 15);                                 /* 20 -> 15 */
    vlkv_kv_remove(c, 0, 4);                                         /* 15 -> 14 */
    const int32_t mk[] = {0, 2, 5, 9, 13}, off[] = {0, 0, 2, 2, 5, 6}, src[] = {1, 3, 6, 7, 7, 12};
    CHECK(vlkv_kv_merge(c, 1, mk, 5, off, src, NULL) == c->hook_status);   /* 20 -> 5, sources counted twice */
    const int32_t an[] = {0, 2, 5, 9}, rb[] = {0, 1, 4, 8}, re[] = {1, 4, 8, 14};
    CHECK(vlkv_kv_merge_runs(c, 0, an, rb, re, 4) == c->hook_status);      /* 14 -> 4 */
    /* FIFO over slots [1, len) of layer 1 after appending a few tokens */
    float k[D], v[D];
    for (int i = 0; i < D; i++) k[i] = v[i] = (float)i;
    struct vlkv_kv_fifo f;
    vlkv_kv_fifo_init(&f, fifo_buf, CAP, 1, c->layers[1].len);
    for (int32_t t = 0; t < 6; t++) {
        const int32_t pos = 100 + t;
        const uint8_t mod = VLKV_MOD_GENERATED;
        k[0] = (float)t;
        if (!c->hooks) CHECK(vlkv_kv_append(c, 1, k, v, 1, &pos, &mod) == VLKV_OK);
        else {   /* the hooked cache's rows live in g_dev: append there, metadata here */
            CHECK(vlkv_kv_append(&g_dev, 1, k, v, 1, &pos, &mod) == VLKV_OK);
            struct vlkv_kv_layer *L = &c->layers[1];
            L->pos[L->len] = pos;
            L->mod[L->len] = mod;
            L->len++;
        }
        vlkv_kv_fifo_push(&f, c->layers[1].len - 1);
        if (t % 2) CHECK(vlkv_kv_fifo_evict(&f, c, 1) >= 0);
        if (t == 5) CHECK(vlkv_kv_fifo_evict(&f, c, 1) >= 0);
    }
}

int main(void) {
    struct vlkv_kv_cache a, b;
    int32_t fa[2 * CAP], fb[2 * CAP];
    CHECK(vlkv_kv_cache_init(&a, NL, NKV, DH, CAP, VLKV_TYPE_F32) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&b, NL, NKV, DH, CAP, VLKV_TYPE_F32) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&g_dev, NL, NKV, DH, CAP, VLKV_TYPE_F32) == VLKV_OK);
    fill(&a, 20);
    fill(&b, 20);
    fill(&g_dev, 20);
    /* b's own rows as appended: the hooks must leave them alone */
    float *bk0 = malloc((size_t)20 * b.row_bytes);
    if (!bk0) return 1;
    memcpy(bk0, b.layers[0].k, (size_t)20 * b.row_bytes);
    b.hooks = &hooks;

    rewrite(&a, fa);
    rewrite(&b, fb);
    CHECK(b.hook_status == VLKV_OK);
    CHECK_MSG(same_meta(&a, &b), "hooked cache metadata differs from the plain cache's");
    CHECK_MSG(same_meta(&a, &g_dev) && same_rows(&a, &g_dev), "rows behind the hooks differ from the plain cache's");
    CHECK_MSG(!memcmp(bk0, b.layers[0].k, (size_t)20 * b.row_bytes), "the hooked cache's own rows were rewritten");
    printf("test_kv_hooks: after the rewrites: layer lengths %d %d (plain) / %d %d (hooked)\n", a.layers[0].len,
           a.layers[1].len, b.layers[0].len, b.layers[1].len);

    /* a failing hook: the first status is kept, the metadata still follows */
    const int32_t keep2[] = {0, 2};
    g_fail_next = VLKV_ERR_BACKEND;
    vlkv_kv_compact(&b, 0, keep2, 2);
    g_fail_next = VLKV_ERR_OOM;
    vlkv_kv_remove(&b, 1, 0);
    CHECK(b.hook_status == VLKV_ERR_BACKEND);
    vlkv_kv_compact(&a, 0, keep2, 2);
    vlkv_kv_remove(&a, 1, 0);
    CHECK(same_meta(&a, &b));

    /* release and clear go to the hook */
    vlkv_kv_release(&b, 0);
    CHECK(g_released == 1);
    vlkv_kv_cache_clear(&b);
    CHECK(g_released == 1 + NL && b.layers[0].len == 0 && b.layers[1].len == 0);

    free(bk0);
    vlkv_kv_cache_free(&a);
    vlkv_kv_cache_free(&b);
    vlkv_kv_cache_free(&g_dev);
    return test_done("test_kv_hooks");
}
