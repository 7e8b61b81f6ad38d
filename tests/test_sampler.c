/* test_sampler.c - sampler against hand-computed distributions.
 * Logits are chosen so the softmax is known in closed form: log(0.5), log(0.3), log(0.2), ...
 * Frequencies over many seeded draws must match the renormalised probabilities; with 40000
 * draws the binomial standard deviation is at most sqrt(0.25/40000) = 0.0025, so a 0.015
 * tolerance is six sigma. */
#include <math.h>
#include <string.h>

#include "test_util.h"
#include "vlkv.h"

#define N_DRAWS 40000

static void freqs(const vlkv_sampler_params *p, const float *logits, int n, double *f) {
    vlkv_sampler *s;
    CHECK(vlkv_sampler_init(p, &s) == VLKV_OK);
    if (!s) return;
    for (int i = 0; i < n; i++) f[i] = 0;
    for (int d = 0; d < N_DRAWS; d++) {
        int32_t t = vlkv_sampler_sample(s, logits, n);
        CHECK(t >= 0 && t < n);
        if (t >= 0 && t < n) f[t] += 1.0 / N_DRAWS;
    }
    vlkv_sampler_free(s);
}

static vlkv_sampler_params plain(void) {
    vlkv_sampler_params p = vlkv_sampler_params_default();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

int main(void) {
    /* probabilities 0.5 0.3 0.2 0 (last logit very negative), shuffled order */
    const float lg[4] = {logf(0.3f), -1e30f, logf(0.5f), logf(0.2f)};
    double f[4];

    /* greedy: argmax, ties -> lowest id */
    {
        vlkv_sampler_params p = plain();
        p.temp = 0.0f;
        vlkv_sampler *s;
        CHECK(vlkv_sampler_init(&p, &s) == VLKV_OK);
        CHECK(vlkv_sampler_sample(s, lg, 4) == 2);
        const float tie[3] = {1.0f, 3.0f, 3.0f};
        CHECK(vlkv_sampler_sample(s, tie, 3) == 1);
        vlkv_sampler_free(s);
    }
    /* full distribution at T = 1 */
    {
        vlkv_sampler_params p = plain();
        freqs(&p, lg, 4, f);
        CHECK_NEAR(f[2], 0.5, 0.015);
        CHECK_NEAR(f[0], 0.3, 0.015);
        CHECK_NEAR(f[3], 0.2, 0.015);
        CHECK(f[1] == 0.0);
    }
    /* top-k 2: {0.5, 0.3} renormalised -> 0.625 / 0.375 */
    {
        vlkv_sampler_params p = plain();
        p.top_k = 2;
        freqs(&p, lg, 4, f);
        CHECK_NEAR(f[2], 0.625, 0.015);
        CHECK_NEAR(f[0], 0.375, 0.015);
        CHECK(f[3] == 0.0);
    }
    /* top-p 0.6: cumulative 0.5 < 0.6 <= 0.8 -> keep two -> 0.625 / 0.375 */
    {
        vlkv_sampler_params p = plain();
        p.top_p = 0.6f;
        freqs(&p, lg, 4, f);
        CHECK_NEAR(f[2], 0.625, 0.015);
        CHECK(f[3] == 0.0);
    }
    /* top-p 0.45: the first token alone (0.5) reaches it -> deterministic */
    {
        vlkv_sampler_params p = plain();
        p.top_p = 0.45f;
        freqs(&p, lg, 4, f);
        CHECK_NEAR(f[2], 1.0, 1e-9);
    }
    /* min-p 0.5: keep p >= 0.25 -> {0.5, 0.3} */
    {
        vlkv_sampler_params p = plain();
        p.min_p = 0.5f;
        freqs(&p, lg, 4, f);
        CHECK_NEAR(f[2], 0.625, 0.015);
        CHECK(f[3] == 0.0);
    }
    /* temperature 2 over {0.5, 0.3, 0.2}: p ~ sqrt(p) -> 0.7071, 0.5477, 0.4472 / 1.7020 */
    {
        vlkv_sampler_params p = plain();
        p.temp = 2.0f;
        freqs(&p, lg, 4, f);
        double z = sqrt(0.5) + sqrt(0.3) + sqrt(0.2);
        CHECK_NEAR(f[2], sqrt(0.5) / z, 0.015);
        CHECK_NEAR(f[0], sqrt(0.3) / z, 0.015);
        CHECK_NEAR(f[3], sqrt(0.2) / z, 0.015);
    }
    /* repetition penalty 2 (greedy): logits {2.0, 1.5, -1.0}; token 0 seen -> 1.0, so 1 wins;
     * token 2 seen -> -2.0 (multiplied when negative) */
    {
        vlkv_sampler_params p = plain();
        p.temp = 0.0f;
        p.repeat_penalty = 2.0f;
        p.repeat_last_n = 2;
        vlkv_sampler *s;
        CHECK(vlkv_sampler_init(&p, &s) == VLKV_OK);
        const float l3[3] = {2.0f, 1.5f, -1.0f};
        CHECK(vlkv_sampler_sample(s, l3, 3) == 0);    /* nothing seen yet; accepts 0 */
        CHECK(vlkv_sampler_sample(s, l3, 3) == 1);    /* 0 penalised to 1.0 < 1.5 */
        /* window of 2 now holds {0, 1}: 2.0 -> 1.0, 1.5 -> 0.75, -1.0 stays: 0 wins again */
        CHECK(vlkv_sampler_sample(s, l3, 3) == 0);
        vlkv_sampler_free(s);
    }
    /* seeds: same seed -> same stream; different seed -> different stream */
    {
        vlkv_sampler_params p = plain();
        float flat[16];
        for (int i = 0; i < 16; i++) flat[i] = 0.0f;
        vlkv_sampler *a, *b, *c;
        p.seed = 7;
        CHECK(vlkv_sampler_init(&p, &a) == VLKV_OK);
        CHECK(vlkv_sampler_init(&p, &b) == VLKV_OK);
        p.seed = 8;
        CHECK(vlkv_sampler_init(&p, &c) == VLKV_OK);
        int same_ab = 1, same_ac = 1;
        for (int i = 0; i < 64; i++) {
            int32_t ta = vlkv_sampler_sample(a, flat, 16), tb = vlkv_sampler_sample(b, flat, 16),
                    tc = vlkv_sampler_sample(c, flat, 16);
            same_ab &= ta == tb;
            same_ac &= ta == tc;
        }
        CHECK(same_ab);
        CHECK(!same_ac);
        vlkv_sampler_free(a);
        vlkv_sampler_free(b);
        vlkv_sampler_free(c);
    }
    /* bad parameters */
    {
        vlkv_sampler_params p = plain();
        vlkv_sampler *s = (vlkv_sampler *)&p;
        p.repeat_penalty = 0.0f;
        CHECK(vlkv_sampler_init(&p, &s) == VLKV_ERR_INVALID_ARG);
        CHECK(s == NULL);
        CHECK(strlen(vlkv_last_error()) > 0);
        vlkv_sampler_free(NULL);
    }
    return test_done("test_sampler");
}
