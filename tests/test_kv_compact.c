/* test_kv_compact.c - KV rewriting primitives (kv_compact.c) against hand-written expectations:
 * stable compaction, fixed-index removal, Elastic merging (runs and general groups, F32 exact and
 * F16 within rounding), the identity merge, the O(1) FIFO vs the memmove reference over thousands
 * of decode steps (len ~ rho*N within 1, frozen prefix untouched, queue = most recent tokens). */
#include <string.h>

#include "kv/kv_cache.h"
#include "test_util.h"
#include "types.h"

enum { NKV = 2, DH = 4, D = NKV * DH };

/* row value of slot content "tag": k = tag*100 + i, v = -(tag*100 + i) */
static void make_rows(float *k, float *v, int32_t tag) {
    for (int i = 0; i < D; i++) {
        k[i] = (float)(tag * 100 + i);
        v[i] = -(float)(tag * 100 + i);
    }
}

static void fill(struct vlkv_kv_cache *c, int32_t il, int32_t n, int32_t tag0) {
    float k[D], v[D];
    for (int32_t s = 0; s < n; s++) {
        int32_t pos = tag0 + s;
        uint8_t mod = (uint8_t)(pos % 4);
        make_rows(k, v, tag0 + s);
        vlkv_kv_append(c, il, k, v, 1, &pos, &mod);
    }
}

static float getk(const struct vlkv_kv_cache *c, int32_t il, int32_t s, int i) {
    const struct vlkv_kv_layer *L = &c->layers[il];
    if (c->type == VLKV_TYPE_F32) return ((const float *)L->k)[(size_t)s * D + i];
    return vlkv_f16_to_f32(((const vlkv_f16 *)L->k)[(size_t)s * D + i]);
}
static float getv(const struct vlkv_kv_cache *c, int32_t il, int32_t s, int i) {
    const struct vlkv_kv_layer *L = &c->layers[il];
    if (c->type == VLKV_TYPE_F32) return ((const float *)L->v)[(size_t)s * D + i];
    return vlkv_f16_to_f32(((const vlkv_f16 *)L->v)[(size_t)s * D + i]);
}

/* slot s holds the token whose tag is `tag` (K, V, pos, mod) */
static int slot_is(const struct vlkv_kv_cache *c, int32_t il, int32_t s, int32_t tag) {
    for (int i = 0; i < D; i++)
        if (getk(c, il, s, i) != (float)(tag * 100 + i) || getv(c, il, s, i) != -(float)(tag * 100 + i)) return 0;
    return c->layers[il].pos[s] == tag && c->layers[il].mod[s] == (uint8_t)(tag % 4);
}

static void test_compact_remove(uint32_t type) {
    struct vlkv_kv_cache c;
    CHECK(vlkv_kv_cache_init(&c, 2, NKV, DH, 64, type) == VLKV_OK);
    fill(&c, 1, 10, 0);
    const int32_t keep[] = {0, 2, 3, 7, 9};
    vlkv_kv_compact(&c, 1, keep, 5);
    CHECK(c.layers[1].len == 5);
    for (int i = 0; i < 5; i++) CHECK_MSG(slot_is(&c, 1, i, keep[i]), "compact slot %d", i);
    vlkv_kv_remove(&c, 1, 1);   /* drop tag 2 */
    const int32_t after[] = {0, 3, 7, 9};
    CHECK(c.layers[1].len == 4);
    for (int i = 0; i < 4; i++) CHECK_MSG(slot_is(&c, 1, i, after[i]), "remove slot %d", i);
    vlkv_kv_remove(&c, 1, 3);   /* the last one */
    CHECK(c.layers[1].len == 3 && slot_is(&c, 1, 2, 7));
    CHECK(c.layers[0].len == 0);   /* other layers untouched */
    vlkv_kv_release(&c, 1);
    for (int i = 0; i < 3; i++) CHECK(slot_is(&c, 1, i, after[i]));   /* release keeps [0, len) */
    vlkv_kv_cache_free(&c);
}

static void test_merge(uint32_t type) {
    const double tol = type == VLKV_TYPE_F32 ? 1e-4 : 0.5;   /* F32: 1 ulp at ~500; F16 spacing at 1000 is 0.5 */
    struct vlkv_kv_cache c;
    CHECK(vlkv_kv_cache_init(&c, 1, NKV, DH, 64, type) == VLKV_OK);
    fill(&c, 0, 12, 0);
    /* runs: {0} {1,2} {3..6} {7..9} {10} {11}; anchors 0, 1, 4, 8, 10, 11 (the Elastic example) */
    const int32_t anchor[] = {0, 1, 4, 8, 10, 11};
    const int32_t rb[] = {0, 1, 3, 7, 10, 11}, re[] = {1, 3, 7, 10, 11, 12};
    CHECK(vlkv_kv_merge_runs(&c, 0, anchor, rb, re, 6) == VLKV_OK);
    CHECK(c.layers[0].len == 6);
    for (int o = 0; o < 6; o++) {
        double mean_tag = 0.5 * (rb[o] + re[o] - 1);   /* mean of consecutive tags */
        for (int i = 0; i < D; i++) {
            CHECK_NEAR(getk(&c, 0, o, i), mean_tag * 100 + i, tol);
            CHECK_NEAR(getv(&c, 0, o, i), -(mean_tag * 100 + i), tol);
        }
        CHECK(c.layers[0].pos[o] == anchor[o]);
        CHECK(c.layers[0].mod[o] == anchor[o] % 4);
    }
    vlkv_kv_cache_clear(&c);

    /* general groups: keep {1, 5, 9}; 5 absorbs {5, 6} (itself counts twice), 9 absorbs {0, 2} */
    fill(&c, 0, 12, 0);
    const int32_t keep[] = {1, 5, 9}, off[] = {0, 0, 2, 4}, src[] = {5, 6, 0, 2};
    CHECK(vlkv_kv_merge(&c, 0, keep, 3, off, src, NULL) == VLKV_OK);
    CHECK(c.layers[0].len == 3);
    CHECK(slot_is(&c, 0, 0, 1));
    const double t2 = (9 + 0 + 2) / 3.0;
    for (int i = 0; i < D; i++) {
        CHECK_NEAR(getk(&c, 0, 1, i), (2 * (500.0 + i) + (600.0 + i)) / 3.0, tol);
        CHECK_NEAR(getv(&c, 0, 1, i), -(2 * (500.0 + i) + (600.0 + i)) / 3.0, tol);
        CHECK_NEAR(getk(&c, 0, 2, i), t2 * 100 + i, tol);
    }
    CHECK(c.layers[0].pos[1] == 5 && c.layers[0].pos[2] == 9);
    vlkv_kv_cache_clear(&c);

    /* every token its own anchor: the identity, byte for byte */
    fill(&c, 0, 12, 0);
    unsigned char before[12 * D * 4];
    memcpy(before, c.layers[0].k, 12 * c.row_bytes);
    int32_t a[12], b[12], e[12];
    for (int i = 0; i < 12; i++) a[i] = b[i] = i, e[i] = i + 1;
    CHECK(vlkv_kv_merge_runs(&c, 0, a, b, e, 12) == VLKV_OK);
    CHECK(c.layers[0].len == 12 && memcmp(before, c.layers[0].k, 12 * c.row_bytes) == 0);
    for (int i = 0; i < 12; i++) CHECK(slot_is(&c, 0, i, i));
    vlkv_kv_cache_free(&c);
}

/* Fixed-point FIFO over many steps: O(1) ring vs the reference memmove at index p. */
static void test_fifo_long(void) {
    const int32_t T = 333, K = 100, steps = 5000;
    const double rho = (double)K / T;   /* the layer kept 100 of 333 prompt entries */
    const int32_t p = K - 25;
    struct vlkv_kv_cache ring, ref;
    const int32_t cap = K + steps + 2;
    CHECK(vlkv_kv_cache_init(&ring, 1, NKV, DH, cap, VLKV_TYPE_F32) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&ref, 1, NKV, DH, cap, VLKV_TYPE_F32) == VLKV_OK);
    /* compressed prompt: tags 0, 3, 6, ... (positions of kept prompt tokens) */
    float k[D], v[D];
    for (int32_t s = 0; s < K; s++) {
        int32_t pos = s * 3;
        uint8_t mod = (uint8_t)(pos % 4);
        make_rows(k, v, pos);
        vlkv_kv_append(&ring, 0, k, v, 1, &pos, &mod);
        vlkv_kv_append(&ref, 0, k, v, 1, &pos, &mod);
    }
    float frozen[100 * D];
    memcpy(frozen, ring.layers[0].k, (size_t)p * ring.row_bytes);
    int32_t *buf = malloc(2 * (size_t)cap * sizeof *buf);
    struct vlkv_kv_fifo f;
    vlkv_kv_fifo_init(&f, buf, cap, p, K);
    int max_dev_ok = 1, sets_equal = 1, content_ok = 1;
    char *seen = calloc((size_t)T + steps + 1, 1);
    for (int32_t t = 0; t < steps; t++) {
        const int32_t N = T + t + 1, pos = T + t;
        uint8_t mod = 3;
        make_rows(k, v, pos);
        vlkv_kv_append(&ring, 0, k, v, 1, &pos, &mod);
        vlkv_kv_append(&ref, 0, k, v, 1, &pos, &mod);
        vlkv_kv_fifo_push(&f, ring.layers[0].len - 1);
        if (trunc(ring.layers[0].len - N * rho) >= 1) vlkv_kv_fifo_evict(&f, &ring, 0);
        if (trunc(ref.layers[0].len - N * rho) >= 1) vlkv_kv_remove(&ref, 0, p);
        const int32_t len = ring.layers[0].len;
        if (fabs(len - rho * N) > 1.0 + 1e-9) max_dev_ok = 0;
        if (len != ref.layers[0].len) sets_equal = 0;
        /* same multiset of positions as the memmove reference, every row's content matches its pos */
        if (t % 97 == 0 || t == steps - 1) {
            memset(seen, 0, (size_t)T + steps + 1);
            for (int32_t s = 0; s < len; s++) seen[ring.layers[0].pos[s]]++;
            for (int32_t s = 0; s < ref.layers[0].len; s++) if (seen[ref.layers[0].pos[s]]-- != 1) sets_equal = 0;
            for (int32_t s = 0; s < len; s++)
                if (getk(&ring, 0, s, 1) != (float)(ring.layers[0].pos[s] * 100 + 1)) content_ok = 0;
        }
    }
    CHECK_MSG(max_dev_ok, "len drifted more than 1 from rho*N");
    CHECK_MSG(sets_equal, "ring FIFO and memmove FIFO hold different tokens");
    CHECK_MSG(content_ok, "a slot's K row does not belong to its position");
    CHECK_MSG(memcmp(frozen, ring.layers[0].k, (size_t)p * ring.row_bytes) == 0, "frozen prefix changed");
    for (int32_t s = 0; s < p; s++) CHECK(ring.layers[0].pos[s] == s * 3);
    /* after thousands of steps the queue holds exactly the most recent len - p generated tokens */
    const int32_t len = ring.layers[0].len, last = T + steps - 1;
    int recent_ok = 1;
    memset(seen, 0, (size_t)T + steps + 1);
    for (int32_t s = p; s < len; s++) seen[ring.layers[0].pos[s]] = 1;
    for (int32_t q = last - (len - p) + 1; q <= last; q++) if (!seen[q]) recent_ok = 0;
    CHECK_MSG(recent_ok, "FIFO does not hold the most recent tokens");
    printf("fifo: N=%d len=%d rho*N=%.1f\n", T + steps, len, rho * (T + steps));
    free(seen);
    free(buf);
    vlkv_kv_cache_free(&ring);
    vlkv_kv_cache_free(&ref);
}

int main(void) {
    test_compact_remove(VLKV_TYPE_F32);
    test_compact_remove(VLKV_TYPE_F16);
    test_merge(VLKV_TYPE_F32);
    test_merge(VLKV_TYPE_F16);
    test_fifo_long();
    return test_done("test_kv_compact");
}
