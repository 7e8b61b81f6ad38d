/* test_kv_stats.c - attention statistics (kv_stats.c) fed by the real attention (vlkv_kv_attend)
 * against a materialised-attention reference computed here in double: column sums over all prompt
 * rows (head mean), over post-vision rows, over the last W rows, VL-Cache sparsity counts, decode
 * row accumulation; the logit-space threshold against the probability-space one; max pooling. */
#include <math.h>
#include <string.h>

#include "kv/kv_cache.h"
#include "kv/kv_stats.h"
#include "ops.h"
#include "test_util.h"

enum { NL = 2, NH = 4, NKV = 2, DH = 8, T = 40, W = 8, NCTX = 64 };
/* prompt: 5 system, 20 image, 15 instruction tokens */
static uint8_t modality(int32_t i) { return i < 5 ? VLKV_MOD_SYSTEM : i < 25 ? VLKV_MOD_IMAGE : VLKV_MOD_INSTRUCTION; }

static float Kst[NL][T + 1][NKV * DH], Vst[NL][T + 1][NKV * DH], Qst[NL][T + 1][NH * DH];

/* reference probabilities of layer l, head h, query i over keys 0..i */
static void ref_row(int l, int h, int i, double *p) {
    const int g = NH / NKV, kh = h / g;
    double mx = -1e300;
    for (int j = 0; j <= i; j++) {
        double z = 0;
        for (int d = 0; d < DH; d++) z += (double)Qst[l][i][h * DH + d] * Kst[l][j][kh * DH + d];
        p[j] = z / sqrt((double)DH);
        if (p[j] > mx) mx = p[j];
    }
    double s = 0;
    for (int j = 0; j <= i; j++) s += (p[j] = exp(p[j] - mx));
    for (int j = 0; j <= i; j++) p[j] /= s;
}

static void test_vs_materialised(void) {
    test_rng rng = {0x5eed1234};
    for (int l = 0; l < NL; l++)
        for (int i = 0; i <= T; i++) {
            for (int d = 0; d < NKV * DH; d++) Kst[l][i][d] = 2.0f * rng_f32(&rng), Vst[l][i][d] = rng_f32(&rng);
            for (int d = 0; d < NH * DH; d++) Qst[l][i][d] = 2.0f * rng_f32(&rng);
        }
    struct vlkv_kv_cache c;
    struct vlkv_kv_stats st;
    struct vlkv_ops_ctx o;
    vlkv_ops_init(&o, 2);
    CHECK(vlkv_kv_cache_init(&c, NL, NKV, DH, NCTX, VLKV_TYPE_F32) == VLKV_OK);
    CHECK(vlkv_kv_stats_init(&st, VLKV_STAT_COLSUM | VLKV_STAT_POST | VLKV_STAT_SPARSITY | VLKV_STAT_WINDOW |
                             VLKV_STAT_DECODE, NL, NH, NCTX, W, 0.01f) == VLKV_OK);
    vlkv_kv_stats_bind(&st, &c);
    struct vlkv_attn_observer obs = {vlkv_kv_stats_row_prefill, &st};
    /* prompt in three chunks (as a chunked prefill would do), all layers per chunk */
    const int32_t chunks[] = {0, 13, 31, T};
    static float out[T][NH * DH];
    for (int ch = 0; ch < 3; ch++) {
        const int32_t a = chunks[ch], n = chunks[ch + 1] - a;
        int32_t pos[T];
        uint8_t mod[T];
        for (int32_t i = 0; i < n; i++) pos[i] = a + i, mod[i] = modality(a + i);
        for (int l = 0; l < NL; l++) {
            CHECK(vlkv_kv_append(&c, l, Kst[l][a], Vst[l][a], n, pos, mod) == VLKV_OK);
            vlkv_kv_attend(&o, &c, l, Qst[l][a], n, NH, out[0], &obs);
        }
    }
    /* reference */
    double p[T + 1];
    for (int l = 0; l < NL; l++) {
        double cs[T] = {0}, post[T] = {0}, win[T] = {0}, gamma = 0;
        for (int h = 0; h < NH; h++) {
            long out_cnt = 0, vis = 0;
            for (int i = 0; i < T; i++) {
                ref_row(l, h, i, p);
                double mx = 0;
                for (int j = 0; j <= i; j++) {
                    cs[j] += p[j] / NH;
                    if (i >= 25) post[j] += p[j] / NH;
                    if (i >= T - W) win[j] += p[j] / NH;
                    mx = p[j] > mx ? p[j] : mx;
                }
                if (i >= 25) {
                    for (int j = 0; j <= i; j++) out_cnt += p[j] < 0.01 * mx;
                    vis += i + 1;
                }
            }
            gamma += (double)out_cnt / vis / NH;
        }
        double got[T], e_cs = 0, e_post = 0, e_win = 0;
        vlkv_kv_stats_colsum(&st, l, T, got);
        for (int j = 0; j < T; j++) e_cs = fmax(e_cs, fabs(got[j] - cs[j]) / fmax(cs[j], 1e-3));
        vlkv_kv_stats_post(&st, l, T, got);
        for (int j = 0; j < T; j++) e_post = fmax(e_post, fabs(got[j] - post[j]) / fmax(post[j], 1e-3));
        CHECK(vlkv_kv_stats_window(&st, l, W, T, got) == W);
        for (int j = 0; j < T; j++) e_win = fmax(e_win, fabs(got[j] - win[j]) / fmax(win[j], 1e-3));
        CHECK_MSG(e_cs < 1e-4, "layer %d colsum rel err %g", l, e_cs);
        CHECK_MSG(e_post < 1e-4, "layer %d post-vision colsum rel err %g", l, e_post);
        CHECK_MSG(e_win < 1e-4, "layer %d window sums rel err %g", l, e_win);
        CHECK(vlkv_kv_stats_post_rows(&st, l) == T - 25);
        /* sparsity: counts near the 1% boundary may flip between float and double: 1% slack */
        CHECK_NEAR(vlkv_kv_stats_sparsity(&st, l), gamma, 0.01);
        CHECK(gamma > 0.0);
        /* a shorter window W' <= W from the same ring */
        double win3[T] = {0};
        for (int h = 0; h < NH; h++)
            for (int i = T - 3; i < T; i++) {
                ref_row(l, h, i, p);
                for (int j = 0; j <= i; j++) win3[j] += p[j] / NH;
            }
        CHECK(vlkv_kv_stats_window(&st, l, 3, T, got) == 3);
        double e3 = 0;
        for (int j = 0; j < T; j++) e3 = fmax(e3, fabs(got[j] - win3[j]) / fmax(win3[j], 1e-3));
        CHECK_MSG(e3 < 1e-4, "window 3 rel err %g", e3);
    }
    /* one decode step: DECODE accumulates the new row per slot (head sum) */
    struct vlkv_attn_observer dobs = {vlkv_kv_stats_row_decode, &st};
    for (int l = 0; l < NL; l++) {
        int32_t pos = T;
        uint8_t mod = VLKV_MOD_GENERATED;
        CHECK(vlkv_kv_append(&c, l, Kst[l][T], Vst[l][T], 1, &pos, &mod) == VLKV_OK);
        vlkv_kv_attend(&o, &c, l, Qst[l][T], 1, NH, out[0], &dobs);
        double ref[T + 1] = {0}, got[T + 1] = {0}, e = 0;
        for (int h = 0; h < NH; h++) {
            ref_row(l, h, T, p);
            for (int j = 0; j <= T; j++) ref[j] += p[j];
        }
        vlkv_kv_stats_take_decode(&st, l, T + 1, got);
        for (int j = 0; j <= T; j++) e = fmax(e, fabs(got[j] - ref[j]) / fmax(ref[j], 1e-3));
        CHECK_MSG(e < 1e-4, "decode row rel err %g", e);
        for (int j = 0; j <= T; j++) got[j] = 0;
        vlkv_kv_stats_take_decode(&st, l, T + 1, got);   /* taken: now zero */
        double z = 0;
        for (int j = 0; j <= T; j++) z += fabs(got[j]);
        CHECK(z == 0.0);
    }
    /* reset: everything back to zero */
    vlkv_kv_stats_reset(&st);
    double got[T];
    vlkv_kv_stats_colsum(&st, 0, T, got);
    double z = 0;
    for (int j = 0; j < T; j++) z += fabs(got[j]);
    CHECK(z == 0.0 && vlkv_kv_stats_post_rows(&st, 0) == 0 && vlkv_kv_stats_window(&st, 0, W, T, got) == 0);
    vlkv_kv_stats_free(&st);
    vlkv_kv_cache_free(&c);
    vlkv_ops_free(&o);
}

/* VL-Cache Eq. 1 in logit space: z_j < max z + ln(thr)  <=>  p_j < thr * max p */
static void test_threshold_equivalence(void) {
    test_rng rng = {42};
    enum { N = 300 };
    float z[N], p[N];
    int rows = 0, agree = 0;
    const float thr[] = {0.01f, 0.05f, 0.3f};
    for (int r = 0; r < 600; r++) {
        const float t = thr[r % 3];
        const float scale = 1.0f + (float)(r % 7) * 2.0f;
        float mx = -INFINITY;
        for (int j = 0; j < N; j++) z[j] = scale * rng_f32(&rng), mx = z[j] > mx ? z[j] : mx;
        double s = 0;
        for (int j = 0; j < N; j++) s += exp((double)z[j] - mx);
        int borderline = 0;
        for (int j = 0; j < N; j++) {
            p[j] = (float)(exp((double)z[j] - mx) / s);
            if (fabs(((double)z[j] - mx) - log(t)) < 1e-5) borderline = 1;
        }
        if (borderline) continue;
        rows++;
        /* independent count in double */
        int ref = 0;
        for (int j = 0; j < N; j++) ref += (double)z[j] - mx < log((double)t);
        const int a = vlkv_sparsity_count_prob(p, N, t), b = vlkv_sparsity_count_logit(z, N, t);
        agree += a == b && a == ref;
    }
    CHECK(rows > 500);
    CHECK_MSG(agree == rows, "%d of %d rows agree", agree, rows);
    /* hand case: p = [.5, .004, .006, .49] thr .01 -> max .5, cut .005 -> one entry below */
    const float ph[] = {0.5f, 0.004f, 0.006f, 0.49f};
    CHECK(vlkv_sparsity_count_prob(ph, 4, 0.01f) == 1);
    const float zh[] = {0.0f, logf(0.004f / 0.5f), logf(0.006f / 0.5f), logf(0.49f / 0.5f)};
    CHECK(vlkv_sparsity_count_logit(zh, 4, 0.01f) == 1);
}

static void test_pool(void) {
    const double in[] = {1, 3, 2, 0, 5, 1};
    double out[6];
    vlkv_pool_max(in, 6, 3, out);
    const double want3[] = {3, 3, 3, 5, 5, 5};
    for (int i = 0; i < 6; i++) CHECK(out[i] == want3[i]);
    vlkv_pool_max(in, 6, 1, out);
    for (int i = 0; i < 6; i++) CHECK(out[i] == in[i]);
    vlkv_pool_max(in, 6, 5, out);
    const double want5[] = {3, 3, 5, 5, 5, 5};
    for (int i = 0; i < 6; i++) CHECK(out[i] == want5[i]);
}

int main(void) {
    test_vs_materialised();
    test_threshold_equivalence();
    test_pool();
    return test_done("test_kv_stats");
}
