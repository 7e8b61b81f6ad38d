/* test_kv_stats_fill.c - the device-fill entry points of kv_stats.h (what the Vulkan forward
 * uses: per-batch, per-head sums / post-vision sums + filtered counts / window rows) against the
 * observer callbacks fed row by row (the CPU path), on random probability rows over a prompt of
 * three batches with image rows in the middle one, then decode rows. Every reduction the
 * policies read must agree (up to float summation order). Also vlkv_kv_stats_of. */
#include <string.h>

#include "kv/kv_stats.h"
#include "test_util.h"

enum { NL = 2, NH = 3, NC = 48, W = 4 };
static const float THR = 0.05f;

static float g_p[NL][NH][NC][NC];   /* probability row of (layer, head, query slot), NC keys max */

static void make_rows(uint64_t seed) {
    for (int il = 0; il < NL; il++)
        for (int ih = 0; ih < NH; ih++)
            for (int t = 0; t < NC; t++) {
                float s = 0;
                for (int j = 0; j <= t; j++) {
                    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                    float u = (float)((seed >> 40) & 0xFFFF) / 65536.0f;
                    g_p[il][ih][t][j] = u * u * u;   /* skewed: some entries under thr * max */
                    s += g_p[il][ih][t][j];
                }
                for (int j = 0; j <= t; j++) g_p[il][ih][t][j] /= s;
            }
}

int main(void) {
    make_rows(7);
    const unsigned need = VLKV_STAT_COLSUM | VLKV_STAT_POST | VLKV_STAT_SPARSITY | VLKV_STAT_WINDOW | VLKV_STAT_DECODE;
    struct vlkv_kv_stats a, b;   /* a: observer rows (CPU), b: device fill */
    struct vlkv_kv_cache c;
    CHECK(vlkv_kv_stats_init(&a, need, NL, NH, NC, W, THR) == VLKV_OK);
    CHECK(vlkv_kv_stats_init(&b, need, NL, NH, NC, W, THR) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&c, NL, 1, 4, NC, VLKV_TYPE_F32) == VLKV_OK);
    vlkv_kv_stats_bind(&a, &c);
    vlkv_kv_stats_bind(&b, &c);
    struct vlkv_attn_observer op = {vlkv_kv_stats_row_prefill, &a}, od = {vlkv_kv_stats_row_decode, &a}, other = {NULL, &a};
    CHECK(vlkv_kv_stats_of(&op) == &a && vlkv_kv_stats_of(&od) == &a && vlkv_kv_stats_of(&other) == NULL &&
          vlkv_kv_stats_of(NULL) == NULL);

    /* prompt: batches [0, 10) text, [10, 22) with image rows 12..16, [22, 30) text */
    const int32_t batches[][2] = {{0, 10}, {10, 22}, {22, 30}};
    float sums[NH * NC], post[NH * NC];
    uint32_t cnt[NH * NC];
    for (int bi = 0; bi < 3; bi++) {
        const int32_t t0 = batches[bi][0], t1 = batches[bi][1], n = t1 - t0;
        for (int il = 0; il < NL; il++) {
            for (int32_t t = t0; t < t1; t++) c.layers[il].mod[t] = (t >= 12 && t <= 16) ? VLKV_MOD_IMAGE : VLKV_MOD_INSTRUCTION;
            c.layers[il].len = t1;
        }
        for (int il = 0; il < NL; il++) {
            /* CPU: the rows one by one, in query order per head */
            for (int ih = 0; ih < NH; ih++)
                for (int32_t t = t0; t < t1; t++) vlkv_kv_stats_row_prefill(&a, il, ih, t, t, g_p[il][ih][t], t + 1);
            /* device form: reductions over the batch's rows */
            int32_t r_post = 0, reset = 0;
            for (int32_t t = t0; t < t1; t++)
                if (c.layers[il].mod[t] == VLKV_MOD_IMAGE) reset = 1, r_post = t - t0 + 1;
            memset(sums, 0, sizeof sums);
            memset(post, 0, sizeof post);
            memset(cnt, 0, sizeof cnt);
            int64_t vis = 0;
            for (int ih = 0; ih < NH; ih++)
                for (int32_t t = t0; t < t1; t++) {
                    for (int32_t j = 0; j <= t; j++) sums[ih * t1 + j] += g_p[il][ih][t][j];
                    if (t - t0 < r_post) continue;
                    for (int32_t j = 0; j <= t; j++) post[ih * t1 + j] += g_p[il][ih][t][j];
                    cnt[ih * t1 + (t % t1)] += (uint32_t)vlkv_sparsity_count_prob(g_p[il][ih][t], t + 1, THR);
                    if (ih == 0) vis += t + 1;
                }
            vlkv_kv_stats_add_sums(&b, 0, il, sums, t1, t1);
            vlkv_kv_stats_add_post(&b, il, reset, post, cnt, t1, t1, n - r_post, vis);
            for (int32_t t = t1 - (n < W ? n : W); t < t1; t++)
                for (int ih = 0; ih < NH; ih++) vlkv_kv_stats_put_row(&b, il, ih, t, g_p[il][ih][t], t + 1);
        }
    }
    const int32_t T = 30;
    double ra[NC], rb[NC];
    double worst = 0;
    for (int il = 0; il < NL; il++) {
        vlkv_kv_stats_colsum(&a, il, T, ra);
        vlkv_kv_stats_colsum(&b, il, T, rb);
        for (int j = 0; j < T; j++) worst = fmax(worst, fabs(ra[j] - rb[j]));
        vlkv_kv_stats_post(&a, il, T, ra);
        vlkv_kv_stats_post(&b, il, T, rb);
        for (int j = 0; j < T; j++) worst = fmax(worst, fabs(ra[j] - rb[j]));
        CHECK(vlkv_kv_stats_post_rows(&a, il) == 13 && vlkv_kv_stats_post_rows(&b, il) == 13);
        CHECK(vlkv_kv_stats_sparsity(&a, il) > 0);
        CHECK_NEAR(vlkv_kv_stats_sparsity(&a, il), vlkv_kv_stats_sparsity(&b, il), 1e-12);
        for (int w = 1; w <= W; w++) {
            CHECK(vlkv_kv_stats_window(&a, il, w, T, ra) == w && vlkv_kv_stats_window(&b, il, w, T, rb) == w);
            for (int j = 0; j < T; j++) CHECK(ra[j] == rb[j]);
            CHECK(vlkv_kv_stats_window_sparsity(&a, il, w) == vlkv_kv_stats_window_sparsity(&b, il, w));
        }
    }
    CHECK_MSG(worst < 1e-5, "column / post sums differ by %.3g", worst);
    printf("test_kv_stats_fill: prompt sums max |diff| %.2e; sparsity layer 0: %.4f\n", worst,
           vlkv_kv_stats_sparsity(&b, 0));

    /* decode rows: observer vs per-head sums */
    for (int il = 0; il < NL; il++) {
        for (int32_t t = T; t < T + 3; t++) {
            for (int ih = 0; ih < NH; ih++) {
                vlkv_kv_stats_row_decode(&a, il, ih, t, t, g_p[il][ih][t], t + 1);
                memcpy(sums + ih * (t + 1), g_p[il][ih][t], (size_t)(t + 1) * sizeof(float));
            }
            vlkv_kv_stats_add_sums(&b, 1, il, sums, t + 1, t + 1);
        }
        memset(ra, 0, sizeof ra);
        memset(rb, 0, sizeof rb);
        vlkv_kv_stats_take_decode(&a, il, T + 3, ra);
        vlkv_kv_stats_take_decode(&b, il, T + 3, rb);
        for (int j = 0; j < T + 3; j++) CHECK_NEAR(ra[j], rb[j], 1e-6);
    }
    vlkv_kv_stats_free(&a);
    vlkv_kv_stats_free(&b);
    vlkv_kv_cache_free(&c);
    return test_done("test_kv_stats_fill");
}
