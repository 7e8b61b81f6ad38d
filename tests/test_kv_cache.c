/* test_kv_cache.c - the ragged KV cache against a materialised attention computed here in double:
 * multi-token appends with causal masking, grouped-query heads, F32 and F16 storage (the reference
 * uses the same f16-rounded K/V so only the arithmetic is compared), the observer's probability
 * rows (sum to 1, equal the reference softmax, right slot/position/key count), per-slot positions
 * and modalities, ragged layers, byte accounting, and the context-full error; with 1, 2 and 3
 * threads (work units per KV group or per head). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kv/kv_cache.h"
#include "test_util.h"
#include "types.h"

enum { NL = 2, NHKV = 2, NH = 4, D = 16, NCTX = 160, MAXQ = 80 };

static test_rng rng = {12345};

/* what the observer saw: rows[ih][query index][key] */
struct seen {
    int     n_calls[NH];
    float   p[NH][MAXQ][NCTX];
    int32_t n_keys[NH][MAXQ];
    int32_t q_slot[NH][MAXQ];
    int32_t q_pos[NH][MAXQ];
    int32_t il[NH][MAXQ];
};

static void obs_row(void *ud, int32_t il, int32_t ih, int32_t q_pos, int32_t q_slot, const float *p, int32_t n_keys) {
    struct seen *s = ud;
    int i = s->n_calls[ih]++;
    if (i >= MAXQ) return;
    memcpy(s->p[ih][i], p, sizeof(float) * (size_t)n_keys);
    s->n_keys[ih][i] = n_keys;
    s->q_slot[ih][i] = q_slot;
    s->q_pos[ih][i] = q_pos;
    s->il[ih][i] = il;
}

/* K/V rows as stored (rounded to f16 when the cache is F16), kept by the test: [layer][slot][NHKV*D] */
static float kst[NL][NCTX][NHKV * D], vst[NL][NCTX][NHKV * D];

static float stored(float x, int f16) { return f16 ? vlkv_f16_to_f32(vlkv_f32_to_f16(x)) : x; }

static void append(struct vlkv_kv_cache *c, int il, int n, int pos0, uint8_t mod, int f16) {
    float k[MAXQ * NHKV * D], v[MAXQ * NHKV * D];
    int32_t pos[MAXQ];
    uint8_t mods[MAXQ];
    int len = c->layers[il].len;
    for (int i = 0; i < n * NHKV * D; i++) {
        k[i] = rng_f32(&rng) * 2;
        v[i] = rng_f32(&rng);
    }
    for (int t = 0; t < n; t++) {
        pos[t] = pos0 + t;
        mods[t] = mod;
        for (int e = 0; e < NHKV * D; e++) {
            kst[il][len + t][e] = stored(k[t * NHKV * D + e], f16);
            vst[il][len + t][e] = stored(v[t * NHKV * D + e], f16);
        }
    }
    CHECK(vlkv_kv_append(c, il, k, v, n, pos, mods) == VLKV_OK);
}

/* attend n_q queries on layer il, compare outputs and observer rows with the materialised reference */
static void check_attend(struct vlkv_ops_ctx *o, struct vlkv_kv_cache *c, int il, int n_q) {
    float q[MAXQ * NH * D], out[MAXQ * NH * D];
    for (int i = 0; i < n_q * NH * D; i++) q[i] = rng_f32(&rng);
    struct seen *s = calloc(1, sizeof *s);
    struct vlkv_attn_observer obs = {obs_row, s};
    vlkv_kv_attend(o, c, il, q, n_q, NH, out, &obs);
    const int len = c->layers[il].len;
    double max_out = 0, max_p = 0;
    for (int h = 0; h < NH; h++) {
        CHECK_MSG(s->n_calls[h] == n_q, "head %d observer calls %d, expected %d", h, s->n_calls[h], n_q);
        const int kvh = h / (NH / NHKV);   /* GQA: 2 query heads per KV head */
        for (int i = 0; i < n_q; i++) {
            const int n_keys = len - n_q + i + 1;   /* causal mask of a multi-token append */
            double sc[NCTX], mx = -1e300, sum = 0;
            for (int j = 0; j < n_keys; j++) {
                double d = 0;
                for (int e = 0; e < D; e++) d += (double)q[(i * NH + h) * D + e] * kst[il][j][kvh * D + e];
                sc[j] = d / sqrt((double)D);
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j < n_keys; j++) sum += (sc[j] = exp(sc[j] - mx));
            for (int j = 0; j < n_keys; j++) sc[j] /= sum;
            for (int e = 0; e < D; e++) {
                double acc = 0;
                for (int j = 0; j < n_keys; j++) acc += sc[j] * vst[il][j][kvh * D + e];
                max_out = fmax(max_out, fabs(acc - out[(i * NH + h) * D + e]));
            }
            CHECK(s->n_keys[h][i] == n_keys);
            CHECK(s->q_slot[h][i] == n_keys - 1);
            CHECK(s->q_pos[h][i] == c->layers[il].pos[n_keys - 1]);
            CHECK(s->il[h][i] == il);
            double psum = 0;
            for (int j = 0; j < n_keys; j++) {
                psum += s->p[h][i][j];
                max_p = fmax(max_p, fabs(s->p[h][i][j] - sc[j]));
            }
            CHECK_NEAR(psum, 1.0, 1e-5);
        }
    }
    CHECK_MSG(max_out < 1e-5, "layer %d n_q %d: attention output max err %g", il, n_q, max_out);
    CHECK_MSG(max_p < 1e-6, "layer %d n_q %d: observer probabilities max err %g", il, n_q, max_p);
    /* obs == NULL gives the same output */
    float out2[MAXQ * NH * D];
    vlkv_kv_attend(o, c, il, q, n_q, NH, out2, NULL);
    CHECK(max_abs_diff(out, out2, n_q * NH * D) == 0);
    free(s);
}

static void run(int f16, int n_threads) {
    struct vlkv_ops_ctx o;
    vlkv_ops_init(&o, n_threads);
    struct vlkv_kv_cache c;
    const uint32_t type = f16 ? VLKV_TYPE_F16 : VLKV_TYPE_F32;
    CHECK(vlkv_kv_cache_init(&c, NL, NHKV, D, NCTX, type) == VLKV_OK);
    CHECK(c.row_bytes == (size_t)NHKV * D * (f16 ? 2 : 4));
    CHECK(vlkv_kv_bytes_used(&c) == 0);
    CHECK(vlkv_kv_bytes_reserved(&c) == 2u * NL * NCTX * c.row_bytes);

    /* layer 0: a prompt of 5 (query 5 at once), then 3 more at once, then single decode steps */
    append(&c, 0, 5, 0, VLKV_MOD_SYSTEM, f16);
    check_attend(&o, &c, 0, 5);
    append(&c, 0, 3, 5, VLKV_MOD_IMAGE, f16);
    check_attend(&o, &c, 0, 3);
    append(&c, 0, 1, 8, VLKV_MOD_GENERATED, f16);
    check_attend(&o, &c, 0, 1);
    /* layer 1 ragged: a different length */
    append(&c, 1, 2, 100, VLKV_MOD_INSTRUCTION, f16);
    check_attend(&o, &c, 1, 2);
    check_attend(&o, &c, 1, 1);   /* a query over the existing slots only: the last one */
    CHECK(c.layers[0].len == 9 && c.layers[1].len == 2);
    CHECK(c.layers[0].pos[6] == 6 && c.layers[0].mod[6] == VLKV_MOD_IMAGE);
    CHECK(c.layers[0].mod[8] == VLKV_MOD_GENERATED && c.layers[1].pos[1] == 101);
    CHECK(vlkv_kv_bytes_used(&c) == 2u * 11 * c.row_bytes);
    /* a long multi-token append takes the blocked prefill form (>= 8 queries, blocks of 16) */
    append(&c, 1, 17, 102, VLKV_MOD_IMAGE, f16);
    check_attend(&o, &c, 1, 17);
    check_attend(&o, &c, 1, 8);
    /* several key blocks (64 keys each) and query blocks: 28 + 70 = 98 keys, the GQA group's
     * converted K/V tiles serve both of its query heads in every block */
    append(&c, 1, 70, 119, VLKV_MOD_IMAGE, f16);
    check_attend(&o, &c, 1, 70);

    /* stored rows read back exactly (F16: the rounded value) */
    if (f16) {
        const vlkv_f16 *kr = (const vlkv_f16 *)c.layers[0].k + 3 * NHKV * D;
        CHECK(vlkv_f16_to_f32(kr[7]) == kst[0][3][7]);
    } else {
        const float *kr = (const float *)c.layers[0].k + 3 * NHKV * D;
        CHECK(kr[7] == kst[0][3][7]);
    }

    /* context full: a batch that does not fit is refused and nothing is appended */
    {
        float big[NCTX * NHKV * D];
        memset(big, 0, sizeof big);
        vlkv_status st = vlkv_kv_append(&c, 0, big, big, NCTX - 9 + 1, NULL, NULL);
        CHECK(st == VLKV_ERR_CONTEXT_FULL);
        CHECK(strstr(vlkv_last_error(), "full") != NULL);
        CHECK(c.layers[0].len == 9);
        CHECK(vlkv_kv_append(&c, 0, big, big, NCTX - 9, NULL, NULL) == VLKV_OK);
        CHECK(c.layers[0].len == NCTX);
        CHECK(vlkv_kv_append(&c, 0, big, big, 1, NULL, NULL) == VLKV_ERR_CONTEXT_FULL);
    }
    vlkv_kv_cache_clear(&c);
    CHECK(c.layers[0].len == 0 && c.layers[1].len == 0 && vlkv_kv_bytes_used(&c) == 0);
    /* after clear the cache is usable again */
    append(&c, 0, 4, 0, VLKV_MOD_SYSTEM, f16);
    check_attend(&o, &c, 0, 4);
    vlkv_kv_cache_free(&c);
    vlkv_kv_cache_free(&c);   /* double free of a freed (zeroed) cache is harmless */
    vlkv_ops_free(&o);
}

int main(void) {
    /* 2 threads: one unit per KV head (GQA group of 2 shares the converted K/V tiles);
     * 3 threads: more threads than KV heads, so each group is split into per-head units */
    run(0, 2);
    run(1, 2);
    run(1, 3);
    run(0, 1);
    struct vlkv_kv_cache c;
    CHECK(vlkv_kv_cache_init(&c, 2, 2, 16, 0, VLKV_TYPE_F16) == VLKV_ERR_INVALID_ARG);
    CHECK(vlkv_kv_cache_init(&c, 2, 2, 16, 8, VLKV_TYPE_Q8_0) == VLKV_ERR_INVALID_ARG);
    return test_done("test_kv_cache");
}
