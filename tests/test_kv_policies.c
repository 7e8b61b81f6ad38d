/* test_kv_policies.c - the KV retention policies (src/kv/policy_*.c):
 *  - registry, help strings (every option key documented), option and budget validation;
 *  - budget 1.0 keeps the full cache for every policy, through prefill, compress and decode;
 *  - each policy's choice on hand-built score vectors equals a hand-computed kept list;
 *  - PrefixKV's search meets its budget and protection invariants; Elastic's buckets cover the
 *    window exactly once; VL-Cache budgets (Algorithm 1) on a hand example;
 *  - budgets keep holding while generating (FIFO policies, H2O). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kv/kv_policy_impl.h"
#include "ops.h"
#include "test_util.h"

static struct vlkv_kv_policy_params params(float budget, const char *opts) {
    struct vlkv_kv_policy_params p = {.budget = budget, .budget_tokens = 0, .opts = opts, .config_path = NULL,
                                      .n_threads = 1};
    return p;
}

static int kept_is(const struct vlkv_kv_cache *c, int32_t il, const int32_t *want, int32_t n) {
    if (c->layers[il].len != n) {
        fprintf(stderr, "  layer %d: len %d, want %d; kept:", il, c->layers[il].len, n);
        for (int32_t i = 0; i < c->layers[il].len; i++) fprintf(stderr, " %d", c->layers[il].pos[i]);
        fputc('\n', stderr);
        return 0;
    }
    for (int32_t i = 0; i < n; i++)
        if (c->layers[il].pos[i] != want[i]) {
            fprintf(stderr, "  layer %d slot %d: pos %d, want %d\n", il, i, c->layers[il].pos[i], want[i]);
            return 0;
        }
    return 1;
}

static int list_is(const int32_t *got, const int32_t *want, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (got[i] != want[i]) return 0;
    return 1;
}

/* A cache with T tokens per layer: K row of token t = t + 0.01 * i (so merges are checkable). */
static void fill_cache(struct vlkv_kv_cache *c, int32_t T, int32_t n_img0, int32_t n_img) {
    const int32_t d = c->n_head_kv * c->d_head;
    float *k = malloc((size_t)d * sizeof *k), *v = malloc((size_t)d * sizeof *v);
    for (int32_t il = 0; il < c->n_layer; il++)
        for (int32_t t = 0; t < T; t++) {
            for (int32_t i = 0; i < d; i++) k[i] = (float)t + 0.01f * (float)i, v[i] = -(float)t;
            uint8_t mod = t < n_img0 ? VLKV_MOD_SYSTEM : t < n_img0 + n_img ? VLKV_MOD_IMAGE : VLKV_MOD_INSTRUCTION;
            vlkv_kv_append(c, il, k, v, 1, &t, &mod);
        }
    free(k);
    free(v);
}

/* ---- registry and validation ---- */

static void test_registry(void) {
    const char *want[] = {"full", "streaming", "h2o", "snapkv", "pyramidkv", "prefixkv", "elastic", "vlcache"};
    CHECK(vlkv_kv_policy_count() == 8);
    for (int i = 0; i < 8; i++) CHECK(vlkv_kv_policy_name(i) && !strcmp(vlkv_kv_policy_name(i), want[i]));
    CHECK(vlkv_kv_policy_name(8) == NULL && vlkv_kv_policy_name(-1) == NULL);
    CHECK(vlkv_kv_policy_help("nope") == NULL && vlkv_kv_policy_help(NULL) == NULL);
    const struct vlkv_kv_policy_i *all[] = {&vlkv_kv_policy_full_i, &vlkv_kv_policy_streaming_i, &vlkv_kv_policy_h2o_i,
                                            &vlkv_kv_policy_snapkv_i, &vlkv_kv_policy_pyramidkv_i,
                                            &vlkv_kv_policy_prefixkv_i, &vlkv_kv_policy_elastic_i,
                                            &vlkv_kv_policy_vlcache_i};
    for (int i = 0; i < 8; i++) {
        const char *h = vlkv_kv_policy_help(all[i]->name);
        CHECK(h && strstr(h, all[i]->name) == h);
        for (const struct vlkv_kv_opt *o = all[i]->opts; o && o->key; o++)
            CHECK_MSG(strstr(h, o->key), "help of %s does not document option %s", all[i]->name, o->key);
    }
    struct vlkv_kv_shape s = {.n_layer = 2, .n_head = 4, .n_head_kv = 2, .d_head = 8, .n_ctx = 64};
    struct vlkv_kv_policy *pol = NULL;
    struct vlkv_kv_policy_params p = params(0.5f, NULL);
    CHECK(vlkv_kv_policy_create("bogus", &p, &s, &pol) == VLKV_ERR_INVALID_ARG && !pol);
    CHECK(strstr(vlkv_last_error(), "bogus") && strstr(vlkv_last_error(), "prefixkv"));
    CHECK(vlkv_kv_policy_create("SnapKV", &p, &s, &pol) == VLKV_OK && pol);   /* names are case-insensitive */
    CHECK(!strcmp(vlkv_kv_policy_get_name(pol), "snapkv"));
    vlkv_kv_policy_free(pol);
    const float bad_budgets[] = {0.0f, -0.1f, 1.5f, NAN};
    for (int i = 0; i < 4; i++) {
        p = params(bad_budgets[i], NULL);
        CHECK(vlkv_kv_policy_create("h2o", &p, &s, &pol) == VLKV_ERR_INVALID_ARG);
        CHECK(strstr(vlkv_last_error(), "budget"));
    }
    p = params(0.0f, NULL);   /* a token budget overrides the fraction */
    p.budget_tokens = 10;
    CHECK(vlkv_kv_policy_create("h2o", &p, &s, &pol) == VLKV_OK);
    vlkv_kv_policy_free(pol);
    p.budget_tokens = -1;
    CHECK(vlkv_kv_policy_create("h2o", &p, &s, &pol) == VLKV_ERR_INVALID_ARG);
    const char *bad_opts[] = {"window=0", "windw=4", "kernel=3.5", "window", "window=abc", "window=4,kernel=",
                              "kernel=1e9"};
    for (int i = 0; i < 7; i++) {
        p = params(0.5f, bad_opts[i]);
        CHECK_MSG(vlkv_kv_policy_create("snapkv", &p, &s, &pol) == VLKV_ERR_INVALID_ARG, "opts '%s' accepted", bad_opts[i]);
    }
    p = params(0.5f, "windw=4");
    vlkv_kv_policy_create("snapkv", &p, &s, &pol);
    CHECK(strstr(vlkv_last_error(), "windw") && strstr(vlkv_last_error(), "window") && strstr(vlkv_last_error(), "kernel"));
    p = params(0.5f, "x=1");
    CHECK(vlkv_kv_policy_create("full", &p, &s, &pol) == VLKV_ERR_INVALID_ARG);
    CHECK(strstr(vlkv_last_error(), "no options"));
    p = params(0.5f, " window = 4 , kernel=3 ,");
    CHECK(vlkv_kv_policy_create("snapkv", &p, &s, &pol) == VLKV_OK);
    CHECK(((int32_t *)pol->priv)[0] == 4 && ((int32_t *)pol->priv)[1] == 3);
    vlkv_kv_policy_free(pol);
    vlkv_kv_policy_free(NULL);
}

/* ---- budget 1.0 == the full cache, for every policy ---- */

static void test_budget_one(void) {
    enum { NL = 3, NH = 4, NKV = 2, DH = 8, T = 48, STEPS = 30, NCTX = 96 };
    const int32_t d = NKV * DH;
    test_rng rng = {7};
    static float K[NL][T + STEPS][NKV * DH], V[NL][T + STEPS][NKV * DH], Q[NL][T + STEPS][NH * DH];
    for (int l = 0; l < NL; l++)
        for (int t = 0; t < T + STEPS; t++) {
            for (int i = 0; i < d; i++) K[l][t][i] = rng_f32(&rng), V[l][t][i] = rng_f32(&rng);
            for (int i = 0; i < NH * DH; i++) Q[l][t][i] = rng_f32(&rng);
        }
    struct vlkv_ops_ctx o;
    vlkv_ops_init(&o, 1);
    static float out[T][NH * DH];
    for (int32_t ip = 0; ip < vlkv_kv_policy_count(); ip++) {
        const char *name = vlkv_kv_policy_name(ip);
        struct vlkv_kv_shape s = {.n_layer = NL, .n_head = NH, .n_head_kv = NKV, .d_head = DH, .n_ctx = NCTX};
        struct vlkv_kv_policy_params p = params(1.0f, NULL);
        struct vlkv_kv_policy *pol = NULL;
        struct vlkv_kv_cache c;
        CHECK(vlkv_kv_policy_create(name, &p, &s, &pol) == VLKV_OK);
        CHECK(vlkv_kv_cache_init(&c, NL, NKV, DH, NCTX, VLKV_TYPE_F16) == VLKV_OK);
        vlkv_kv_policy_bind(pol, &c);
        int32_t pos[T];
        uint8_t mod[T];
        for (int t = 0; t < T; t++) pos[t] = t, mod[t] = t < 4 ? 0 : t < 36 ? 1 : 2;
        for (int l = 0; l < NL; l++) {
            vlkv_kv_append(&c, l, K[l][0], V[l][0], T, pos, mod);
            vlkv_kv_attend(&o, &c, l, Q[l][0], T, NH, out[0], vlkv_kv_policy_prefill_observer(pol));
        }
        CHECK(vlkv_kv_policy_compress(pol, &c) == VLKV_OK);
        int ok = 1;
        for (int32_t t = 0; t < STEPS; t++) {
            int32_t pp = T + t;
            uint8_t mm = VLKV_MOD_GENERATED;
            for (int l = 0; l < NL; l++) {
                vlkv_kv_append(&c, l, K[l][T + t], V[l][T + t], 1, &pp, &mm);
                vlkv_kv_attend(&o, &c, l, Q[l][T + t], 1, NH, out[0], vlkv_kv_policy_decode_observer(pol));
            }
            CHECK(vlkv_kv_policy_decode_step(pol, &c, T + t + 1) == VLKV_OK);
        }
        for (int l = 0; l < NL; l++) {
            if (c.layers[l].len != T + STEPS) ok = 0;
            for (int32_t t = 0; t < c.layers[l].len && ok; t++) {
                if (c.layers[l].pos[t] != t) ok = 0;
                const vlkv_f16 *kr = (const vlkv_f16 *)c.layers[l].k + (size_t)t * d;
                for (int i = 0; i < d; i++)
                    if (kr[i] != vlkv_f32_to_f16(K[l][t][i])) ok = 0;
            }
        }
        CHECK_MSG(ok, "policy %s at budget 1.0 changed the cache", name);
        vlkv_kv_cache_free(&c);
        vlkv_kv_policy_free(pol);
    }
    vlkv_ops_free(&o);
}

/* ---- hand-computed selections ---- */

static void test_select_helpers(void) {
    int32_t keep[64], tmp[64];
    const int32_t s1[] = {0, 1, 7, 8, 9};
    CHECK(vlkv_kv_select_streaming(10, 5, 2, keep) == 5 && list_is(keep, s1, 5));
    const double sc[] = {5, 1, 9, 3, 7, 2, 8, 4, 6, 0};
    /* sinks {0}, recent {8, 9}, top 3 of slots 1..7 (scores 1 9 3 7 2 8 4) = 2, 6, 4 */
    const int32_t s2[] = {0, 2, 4, 6, 8, 9};
    CHECK(vlkv_kv_select_scored(sc, 10, 6, 1, 2, keep, tmp) == 6 && list_is(keep, s2, 6));
    const double flat[] = {1, 1, 1, 1, 1, 1};
    const int32_t s3[] = {0, 1, 5};   /* ties go to the lower index */
    CHECK(vlkv_kv_select_scored(flat, 6, 3, 0, 1, keep, tmp) == 3 && list_is(keep, s3, 3));
    /* PyramidKV: L=4, T=100, B=40, w=8, beta=20: min = 32/20 = 1, max = 64-1 = 63, step = 62/3 = 20 */
    int32_t b[4];
    vlkv_kv_pyramid_budgets(4, 100, 40, 8, 20, b);
    const int32_t pb[] = {71, 51, 31, 11};
    CHECK(list_is(b, pb, 4));
    /* max capped at T-w: T=50, B=40, w=8: min=1, max=63 -> 42, min = 64-42 = 22, step = 20/3 = 6 */
    vlkv_kv_pyramid_budgets(4, 50, 40, 8, 20, b);
    const int32_t pb2[] = {50, 44, 38, 32};
    CHECK(list_is(b, pb2, 4));
    /* VL-Cache Algorithm 1: gamma .2 .6 .8 .4 -> density .8 .4 .2 .6, Z = 2; alpha .2, m 100, window 10%:
     * w = floor(.1*.2*100) = 2; beta' = d/Z * .9*.2*4 = .288 .144 .072 .216 -> k' = 28 14 7 21 */
    const double g[] = {0.2, 0.6, 0.8, 0.4};
    int32_t k[4];
    CHECK(vlkv_vlcache_budgets(g, 4, 0.2, 100, 0.1, 0, k) == 2);
    const int32_t vk[] = {28, 14, 7, 21};
    CHECK(list_is(k, vk, 4));
    /* clipping: a fully sparse layer still gets 0.01*0.9 of m (floor(0.9) -> at least 1) */
    const double g2[] = {0.0, 1.0};
    CHECK(vlkv_vlcache_budgets(g2, 2, 0.5, 100, 0.1, 0, k) == 5);
    CHECK(k[0] == 90 && k[1] == 1);
    /* protect no larger than the paper's window changes nothing */
    CHECK(vlkv_vlcache_budgets(g, 4, 0.2, 100, 0.1, 2, k) == 2 && list_is(k, vk, 4));
    /* protect 12 > w = 2: window 12, ranked part alpha - 12/100 = .08: beta' = d/Z * .08*4 =
     * .128 .064 .032 .096 -> k' = 12 6 3 9; window + mean k' = 12 + 7.5 = 19.5 ~ alpha*m = 20 */
    CHECK(vlkv_vlcache_budgets(g, 4, 0.2, 100, 0.1, 12, k) == 12);
    const int32_t vkp[] = {12, 6, 3, 9};
    CHECK(list_is(k, vkp, 4));
    /* protect beyond the budget: the window takes it all, the ranked part gets the 0.01*0.9 floor */
    CHECK(vlkv_vlcache_budgets(g, 4, 0.05, 100, 0.1, 16, k) == 16 && k[0] == 1 && k[3] == 1);
    /* protect beyond the prompt: everything is window, nothing ranked */
    CHECK(vlkv_vlcache_budgets(g, 4, 0.2, 10, 0.1, 16, k) == 10 && k[0] == 0 && k[2] == 0);
}

static void test_prefixkv_hand(void) {
    /* two layers, T = 10: A is sink-heavy (.91 then .01 x 9), B uniform (.1 x 10) */
    enum { T = 10 };
    double sc[2][T], cur[2][T];
    int32_t idx[T], tmp[T], e[2], Es;
    sc[0][0] = 0.91;
    for (int j = 1; j < T; j++) sc[0][j] = 0.01;
    for (int j = 0; j < T; j++) sc[1][j] = 0.1;
    vlkv_prefixkv_curve(sc[0], T, cur[0], idx, tmp);
    vlkv_prefixkv_curve(sc[1], T, cur[1], idx, tmp);
    CHECK_NEAR(cur[0][0], 0.91, 1e-12);
    CHECK_NEAR(cur[1][4], 0.5, 1e-12);
    /* r = .5, P = 0: target 10. p = .5: A keeps 1 (e 9), B keeps 1 + #(c < .5) = 5 (e 5): E = 14,
     * |14 - 10| < 5 stops; rescale by 10/14: trunc(6.43) = 6, trunc(3.57) = 3 */
    double p = vlkv_prefixkv_search(cur[0], 2, T, 0.5, 0, e, &Es);
    CHECK_NEAR(p, 0.5, 1e-12);
    CHECK(Es == 14 && e[0] == 6 && e[1] == 3);
    /* P = 2: e = 10-1-2 = 7 and 10-5-2 = 3: exactly 10 */
    vlkv_prefixkv_search(cur[0], 2, T, 0.5, 2, e, &Es);
    CHECK(Es == 10 && e[0] == 7 && e[1] == 3);
    /* selection: window [1, 7), drop f lowest; ties: the later slot goes first */
    const double s[] = {9, 1, 5, 1, 7, 2, 3, 0};
    int32_t keep[16];
    const int32_t k3[] = {0, 2, 4, 6, 7};
    CHECK(vlkv_prefixkv_select(s, 8, 3, 1, 1, keep, tmp) == 5 && list_is(keep, k3, 5));
    const int32_t k1[] = {0, 1, 2, 4, 5, 6, 7};
    CHECK(vlkv_prefixkv_select(s, 8, 1, 1, 1, keep, tmp) == 7 && list_is(keep, k1, 7));
    /* f larger than the window: only [0, S) and the last entry remain */
    const int32_t k9[] = {0, 7};
    CHECK(vlkv_prefixkv_select(s, 8, 100, 1, 1, keep, tmp) == 2 && list_is(keep, k9, 2));
    /* protect = 3: window [1, 5) = {1, 5, 1, 7} drops its 2 lowest (slots 3 then 1: the later tie
     * first), the last 3 slots stay whatever their scores (slot 7 scores 0) */
    const int32_t kp[] = {0, 2, 4, 5, 6, 7};
    CHECK(vlkv_prefixkv_select(s, 8, 2, 1, 3, keep, tmp) == 6 && list_is(keep, kp, 6));
}

static void test_prefixkv_invariants(void) {
    enum { NL = 8, T = 300 };
    test_rng rng = {99};
    static double sc[NL][T], cur[NL][T];
    int32_t idx[T], tmp[T], e[NL], Es;
    for (int l = 0; l < NL; l++) {
        const double sharp = 1.0 + 4.0 * l;   /* layers from flat to very peaked */
        for (int j = 0; j < T; j++) sc[l][j] = exp(sharp * (rng_f32(&rng) + 1.0)) * (j == 0 ? 50.0 : 1.0);
        vlkv_prefixkv_curve(sc[l], T, cur[l], idx, tmp);
    }
    const double rs[] = {0.1, 0.5, 0.8, 0.9};
    for (int ir = 0; ir < 4; ir++) {
        const int32_t P = 2;
        vlkv_prefixkv_search(cur[0], NL, T, rs[ir], P, e, &Es);
        const double target = rs[ir] * T * NL;
        long sum = 0;
        int prot = 1;
        for (int l = 0; l < NL; l++) {
            sum += e[l];
            if (e[l] < 0 || e[l] > T - P) prot = 0;
        }
        /* the bisection stops within 5 tokens when E(p) can get there (it can jump where curves
         * saturate at 1.0); the rescale then hits the target */
        CHECK_MSG(fabs(Es - target) < 0.2 * target, "r=%.1f: search ended at E=%d, target %.0f", rs[ir], Es, target);
        CHECK_MSG(sum <= target + 1e-9 && sum >= target - NL, "r=%.1f: sum e = %ld, target %.0f", rs[ir], sum, target);
        CHECK(prot);
        /* sharper layers (larger l) evict at least as much as flat ones, on the whole */
        CHECK(e[NL - 1] >= e[0]);
    }
}

/* A prefixkv policy (budget 0.3, options opts) over a cache of T prompt entries per layer, the
 * column sums injected as one prefill row per layer (rows[l * T + j]), compressed. */
static void prefixkv_compressed(const char *opts, int32_t NL, int32_t T, int32_t n_ctx, const float *rows,
                                struct vlkv_kv_policy **pol, struct vlkv_kv_cache *c) {
    struct vlkv_kv_shape s = {.n_layer = NL, .n_head = 1, .n_head_kv = 1, .d_head = 4, .n_ctx = n_ctx};
    struct vlkv_kv_policy_params p = params(0.3f, opts);
    CHECK(vlkv_kv_policy_create("prefixkv", &p, &s, pol) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(c, NL, 1, 4, n_ctx, VLKV_TYPE_F32) == VLKV_OK);
    fill_cache(c, T, 0, 0);
    const struct vlkv_attn_observer *ob = vlkv_kv_policy_prefill_observer(*pol);
    for (int32_t l = 0; l < NL; l++) ob->row(ob->ud, l, 0, T - 1, T - 1, rows + (size_t)l * T, T);
    CHECK(vlkv_kv_policy_compress(*pol, c) == VLKV_OK);
}

static void test_prefixkv_policy(void) {
    /* through the policy: column sums injected as one prefill row per layer */
    enum { NL = 4, T = 100 };
    struct vlkv_kv_policy *pol;
    struct vlkv_kv_cache c;
    test_rng rng = {3};
    static float rows[NL * T];
    for (int l = 0; l < NL; l++) {
        float *row = rows + l * T;
        for (int j = 0; j < T; j++) row[j] = (float)exp(3.0 * (l + 1) * rng_f32(&rng));
        row[T / 2] = 1e-9f;   /* least important: must go unless protected */
        row[0] = 1e-9f;       /* ... but the first entry is protected */
        row[T - 1] = 1e-9f;   /* ... and so is the last prompt entry */
    }
    prefixkv_compressed(NULL, NL, T, 600, rows, &pol, &c);
    long total = 0;
    for (int l = 0; l < NL; l++) {
        const struct vlkv_kv_layer *L = &c.layers[l];
        total += L->len;
        CHECK(L->pos[0] == 0 && L->pos[L->len - 1] == T - 1);
        for (int32_t i = 0; i < L->len; i++) CHECK(L->pos[i] != T / 2 || L->len == T);
        for (int32_t i = 1; i < L->len; i++) CHECK(L->pos[i] > L->pos[i - 1]);
        CHECK_NEAR(pol->rho[l], (double)L->len / T, 0.011);
        CHECK(pol->fifo[l].p == (L->len - 25 >= 1 ? L->len - 25 : L->len / 2));
    }
    /* mean retained fraction = budget (rescaled search, rounding per layer) */
    CHECK_MSG(fabs((double)total / (NL * T) - 0.3) <= 0.02, "retained %.3f", (double)total / (NL * T));
    /* decode: the fraction keeps holding per layer */
    int32_t n = T;
    for (int t = 0; t < 400; t++) {
        int32_t pos = n;
        uint8_t mod = VLKV_MOD_GENERATED;
        float kv[4] = {0};
        for (int l = 0; l < NL; l++) CHECK(vlkv_kv_append(&c, l, kv, kv, 1, &pos, &mod) == VLKV_OK);
        n++;
        vlkv_kv_policy_decode_step(pol, &c, n);
    }
    for (int l = 0; l < NL; l++) CHECK_NEAR(c.layers[l].len, pol->rho[l] * n, 1.0);
    vlkv_kv_cache_free(&c);
    vlkv_kv_policy_free(pol);
}

/* The search exempts the entries the selection always keeps: P = start + protect by default
 * (kv-lvlm-methods.md §2.3), an explicit calib_protect otherwise. Compared through the policy's
 * per-layer fractions, folded into one number with distinct weights per layer. */
static double prefixkv_rho_with(const char *opts, const float *rows, int32_t NL) {
    struct vlkv_kv_policy *pol;
    struct vlkv_kv_cache c;
    prefixkv_compressed(opts, NL, 100, 200, rows, &pol, &c);
    double code = 0.0;
    for (int l = 0; l < NL; l++) code += pol->rho[l] * (double)(l + 1) * 1000.0;
    vlkv_kv_cache_free(&c);
    vlkv_kv_policy_free(pol);
    return code;
}

static void test_prefixkv_calib_protect(void) {
    enum { NL = 4, T = 100 };
    static float rows[NL * T];
    test_rng rng = {11};
    for (int l = 0; l < NL; l++)
        for (int j = 0; j < T; j++) rows[l * T + j] = (float)exp(4.0 * (l + 1) * rng_f32(&rng));
    const double p2 = prefixkv_rho_with("calib_protect=2", rows, NL);
    const double p17 = prefixkv_rho_with("calib_protect=17", rows, NL);
    CHECK(fabs(p2 - p17) > 1.0);   /* the data make P matter */
    CHECK_NEAR(prefixkv_rho_with(NULL, rows, NL), p2, 1e-9);                         /* 1 + 1 */
    CHECK_NEAR(prefixkv_rho_with("protect=16", rows, NL), p17, 1e-9);                /* 1 + 16 */
    CHECK_NEAR(prefixkv_rho_with("start=4,protect=13", rows, NL), p17, 1e-9);        /* 4 + 13 */
    CHECK_NEAR(prefixkv_rho_with("protect=16,calib_protect=2", rows, NL), p2, 1e-9); /* explicit */
}

static void test_elastic_plan(void) {
    enum { T = 12 };
    /* window scores s[1..10] = 5 1 1 9 1 1 1 8 1 7: anchors = top 4 = {4, 8, 10, 1} */
    const double s[T] = {0, 5, 1, 1, 9, 1, 1, 1, 8, 1, 7, 0};
    int32_t anchor[T + 1], rb[T + 1], re[T + 1], tmp[3 * T];
    const int32_t n = vlkv_elastic_plan(s, T, 6, 1, 1, anchor, rb, re, tmp);
    CHECK(n == 6);
    const int32_t wa[] = {0, 1, 4, 8, 10, 11}, wb[] = {0, 1, 3, 7, 10, 11}, we[] = {1, 3, 7, 10, 11, 12};
    CHECK(list_is(anchor, wa, 6) && list_is(rb, wb, 6) && list_is(re, we, 6));   /* midpoint 6 goes left, to 4 */
    /* protect = 3: slots 9..11 stay as runs of one; 6 - 1 - 3 = 2 anchors from [1, 9) = {4, 8};
     * buckets [1, 7) -> 4 (midpoint 6 goes left) and [7, 9) -> 8 */
    const int32_t np3 = vlkv_elastic_plan(s, T, 6, 1, 3, anchor, rb, re, tmp);
    const int32_t pa[] = {0, 4, 8, 9, 10, 11}, pb[] = {0, 1, 7, 9, 10, 11}, pe[] = {1, 7, 9, 10, 11, 12};
    CHECK(np3 == 6 && list_is(anchor, pa, 6) && list_is(rb, pb, 6) && list_is(re, pe, 6));
    /* buckets cover [0, T) exactly once, every anchor inside its bucket, random cases */
    test_rng rng = {11};
    double sr[200];
    int cover_ok = 1;
    for (int it = 0; it < 200; it++) {
        const int32_t TT = 3 + (int32_t)(rng_u64(&rng) % 190), nk = 1 + (int32_t)(rng_u64(&rng) % TT);
        for (int j = 0; j < TT; j++) sr[j] = rng_f32(&rng);
        int32_t a2[201], b2[201], e2[201], t2[600];
        const int32_t m = vlkv_elastic_plan(sr, TT, nk, 1, 1, a2, b2, e2, t2);
        int32_t at = 0;
        if (m != VLKV_MAX(nk, 2)) cover_ok = 0;
        for (int32_t i = 0; i < m; i++) {
            if (m > 2 && b2[i] != at) cover_ok = 0;   /* contiguous (no anchors: the window is dropped) */
            if (a2[i] < b2[i] || a2[i] >= e2[i]) cover_ok = 0;
            at = e2[i];
        }
        if (m > 2 && at != TT) cover_ok = 0;
    }
    CHECK_MSG(cover_ok, "elastic buckets do not tile the prompt");
    /* parity indexing, the example of kv-lvlm-methods.md §3.4: T = 12, f = 4, decreasing scores:
     * kept {0..5, 11}, sources {5..9} all merged into 5, token 10 dropped */
    double dec[T];
    for (int j = 0; j < T; j++) dec[j] = T - j;
    int32_t keep[T + 1], off[T + 2], src[T], t3[3 * T + 3];
    const int32_t np = vlkv_elastic_plan_parity(dec, T, 4, 1, keep, off, src, t3);
    const int32_t wk[] = {0, 1, 2, 3, 4, 5, 11}, ws[] = {5, 6, 7, 8, 9};
    CHECK(np == 7 && list_is(keep, wk, 7));
    CHECK(off[5] == 0 && off[6] == 5 && off[7] == 5 && list_is(src, ws, 5));
    for (int i = 0; i < 5; i++) CHECK(off[i] == 0);

    /* through the policy: every token an anchor (budget 1) is the identity; budget 0.5 merges */
    struct vlkv_kv_shape sh = {.n_layer = 1, .n_head = 1, .n_head_kv = 1, .d_head = 4, .n_ctx = 64};
    struct vlkv_kv_policy_params p = params(0.5f, NULL);
    struct vlkv_kv_policy *pol;
    struct vlkv_kv_cache c;
    CHECK(vlkv_kv_policy_create("elastic", &p, &sh, &pol) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&c, 1, 1, 4, 64, VLKV_TYPE_F32) == VLKV_OK);
    fill_cache(&c, T, 0, 0);
    float row[T];
    for (int j = 0; j < T; j++) row[j] = (float)s[j];
    vlkv_kv_policy_prefill_observer(pol)->row(vlkv_kv_policy_prefill_observer(pol)->ud, 0, 0, T - 1, T - 1, row, T);
    CHECK(vlkv_kv_policy_compress(pol, &c) == VLKV_OK);
    CHECK(kept_is(&c, 0, wa, 6));
    const float *K = c.layers[0].k;
    const double mean_tag[] = {0, 1.5, 4.5, 8, 10, 11};   /* bucket means of token values */
    for (int i = 0; i < 6; i++) CHECK_NEAR(K[i * 4 + 1], mean_tag[i] + 0.01, 1e-5);
    vlkv_kv_cache_free(&c);
    vlkv_kv_policy_free(pol);
}

static void test_streaming_h2o_snapkv(void) {
    enum { T = 8 };
    struct vlkv_kv_shape sh = {.n_layer = 1, .n_head = 1, .n_head_kv = 1, .d_head = 4, .n_ctx = 64};
    struct vlkv_kv_policy *pol;
    struct vlkv_kv_cache c;
    /* streaming, budget .5, sinks 1: {0} + last 3 */
    struct vlkv_kv_policy_params p = params(0.5f, "sinks=1");
    CHECK(vlkv_kv_policy_create("streaming", &p, &sh, &pol) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&c, 1, 1, 4, 64, VLKV_TYPE_F32) == VLKV_OK);
    fill_cache(&c, T, 0, 0);
    CHECK(vlkv_kv_policy_compress(pol, &c) == VLKV_OK);
    const int32_t ws[] = {0, 5, 6, 7};
    CHECK(kept_is(&c, 0, ws, 4));
    /* decode 4 tokens: len ~ .5 N, the oldest non-sink goes first */
    for (int32_t t = 0; t < 4; t++) {
        int32_t pos = T + t;
        uint8_t mod = VLKV_MOD_GENERATED;
        float kv[4] = {0};
        vlkv_kv_append(&c, 0, kv, kv, 1, &pos, &mod);
        vlkv_kv_policy_decode_step(pol, &c, T + t + 1);
    }
    CHECK(c.layers[0].len == 6);   /* N = 12 -> 6 */
    int32_t seen[16] = {0};
    for (int32_t i = 0; i < c.layers[0].len; i++) seen[c.layers[0].pos[i]] = 1;
    CHECK(seen[0] && seen[7] && seen[8] && seen[9] && seen[10] && seen[11] && !seen[5] && !seen[6]);
    vlkv_kv_cache_free(&c);
    vlkv_kv_policy_free(pol);

    /* h2o, budget .5, recent_frac .5: 2 recent + 2 heavy from one injected prefill row */
    p = params(0.5f, NULL);
    CHECK(vlkv_kv_policy_create("h2o", &p, &sh, &pol) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&c, 1, 1, 4, 64, VLKV_TYPE_F32) == VLKV_OK);
    fill_cache(&c, T, 0, 0);
    const float r0[T] = {0.3f, 0.1f, 0.2f, 0.05f, 0.15f, 0.1f, 0.05f, 0.05f};
    const struct vlkv_attn_observer *po = vlkv_kv_policy_prefill_observer(pol);
    po->row(po->ud, 0, 0, T - 1, T - 1, r0, T);
    CHECK(vlkv_kv_policy_compress(pol, &c) == VLKV_OK);
    const int32_t wh[] = {0, 2, 6, 7};
    CHECK(kept_is(&c, 0, wh, 4));
    /* decode: acc = {pos0 .3, pos2 .2, pos6 .05, pos7 .05}
     * step 1 (pos 8, N=9): row .0 .5 .1 .1 .3 -> .3 .7 .15 .15 .3; len 5 - 4.5 < 1: keep
     * step 2 (pos 9, N=10): row .1 .1 .0 .2 .3 .3 -> .4 .8 .15 .35 .6 .3; len 6 - 5 = 1: evict the
     *   lightest of slots [0, 6 - 2): pos 6 (.15) */
    const float d1[] = {0.0f, 0.5f, 0.1f, 0.1f, 0.3f}, d2[] = {0.1f, 0.1f, 0.0f, 0.2f, 0.3f, 0.3f};
    const float *dr[] = {d1, d2};
    for (int32_t t = 0; t < 2; t++) {
        int32_t pos = T + t;
        uint8_t mod = VLKV_MOD_GENERATED;
        float kv[4] = {0};
        vlkv_kv_append(&c, 0, kv, kv, 1, &pos, &mod);
        const struct vlkv_attn_observer *dob = vlkv_kv_policy_decode_observer(pol);
        CHECK(dob != NULL);
        if (dob) dob->row(dob->ud, 0, 0, pos, c.layers[0].len - 1, dr[t], c.layers[0].len);
        vlkv_kv_policy_decode_step(pol, &c, T + t + 1);
        if (t == 0) CHECK(c.layers[0].len == 5);
    }
    const int32_t wh2[] = {0, 2, 7, 8, 9};
    CHECK(kept_is(&c, 0, wh2, 5));
    vlkv_kv_cache_free(&c);
    vlkv_kv_policy_free(pol);

    /* snapkv, budget .5, window 2: votes of rows 6 and 7 over keys 0..5 */
    const float p6[] = {0.1f, 0.3f, 0.05f, 0.2f, 0.05f, 0.1f, 0.2f};
    const float p7[] = {0.2f, 0.05f, 0.05f, 0.3f, 0.1f, 0.05f, 0.05f, 0.2f};
    const char *opts[] = {"window=2,kernel=1", "window=2,kernel=3"};
    /* kernel 1: votes .3 .35 .1 .5 .15 .15 -> top 2 = 3, 1;
     * kernel 3 (max-pooled): .35 .35 .5 .5 .5 .15 -> ties to the lower: 2, 3 */
    const int32_t want[2][4] = {{1, 3, 6, 7}, {2, 3, 6, 7}};
    for (int k = 0; k < 2; k++) {
        p = params(0.5f, opts[k]);
        CHECK(vlkv_kv_policy_create("snapkv", &p, &sh, &pol) == VLKV_OK);
        CHECK(vlkv_kv_cache_init(&c, 1, 1, 4, 64, VLKV_TYPE_F32) == VLKV_OK);
        fill_cache(&c, T, 0, 0);
        po = vlkv_kv_policy_prefill_observer(pol);
        const float r5[] = {1, 0, 0, 0, 0, 0};   /* older rows fall out of the window */
        po->row(po->ud, 0, 0, 5, 5, r5, 6);
        po->row(po->ud, 0, 0, 6, 6, p6, 7);
        po->row(po->ud, 0, 0, 7, 7, p7, 8);
        CHECK(vlkv_kv_policy_compress(pol, &c) == VLKV_OK);
        CHECK_MSG(kept_is(&c, 0, want[k], 4), "snapkv %s", opts[k]);
        vlkv_kv_cache_free(&c);
        vlkv_kv_policy_free(pol);
    }
}

static void test_vlcache_policy(void) {
    /* 2 layers, T = 20: 4 system, 10 image (4..13), 6 instruction (14..19). Post-vision rows decide.
     * alpha = .5, recent_frac .1: w = floor(.1*.5*20) = 1. Rows make layer 0 dense, layer 1 sparse. */
    enum { T = 20 };
    struct vlkv_kv_shape sh = {.n_layer = 2, .n_head = 1, .n_head_kv = 1, .d_head = 4, .n_ctx = 64};
    struct vlkv_kv_policy_params p = params(0.5f, "min_post=2");
    struct vlkv_kv_policy *pol;
    struct vlkv_kv_cache c;
    CHECK(vlkv_kv_policy_create("vlcache", &p, &sh, &pol) == VLKV_OK);
    CHECK(vlkv_kv_cache_init(&c, 2, 1, 4, 64, VLKV_TYPE_F32) == VLKV_OK);
    fill_cache(&c, T, 4, 10);
    vlkv_kv_policy_bind(pol, &c);
    const struct vlkv_attn_observer *po = vlkv_kv_policy_prefill_observer(pol);
    float row[T];
    for (int32_t q = 0; q < T; q++)
        for (int l = 0; l < 2; l++) {
            for (int j = 0; j <= q; j++) row[j] = 1.0f / (q + 1);   /* uniform rows */
            if (q >= 14 && l == 1) {
                /* post-vision rows of layer 1: all mass on keys 2 and 9 (sparse), rest 0 */
                for (int j = 0; j <= q; j++) row[j] = 0.0f;
                row[2] = 0.6f;
                row[9] = 0.4f;
            }
            if (q >= 14 && l == 0) row[5] += 1.0f, row[7] += 0.5f;   /* layer 0 likes 5, then 7 */
            po->row(po->ud, l, 0, q, q, row, q + 1);
        }
    CHECK(vlkv_kv_stats_post_rows(&pol->stats, 0) == 6);
    /* gamma_0 = 0 (no entry below 1% of the max), gamma_1 = (visible - 2 per row) / visible:
     * visible = 15+16+...+20 = 105, kept 12 -> gamma_1 = 93/105 */
    CHECK_NEAR(vlkv_kv_stats_sparsity(&pol->stats, 0), 0.0, 1e-12);
    CHECK_NEAR(vlkv_kv_stats_sparsity(&pol->stats, 1), 93.0 / 105.0, 1e-12);
    /* budgets: d = 1, 12/105; Z = 117/105; beta'_0 = 105/117 * .9 * .5 * 2 = .8077 -> 16 (capped at m-w=19),
     * beta'_1 = 12/117 * .9 = .0923 -> 1 */
    CHECK(vlkv_kv_policy_compress(pol, &c) == VLKV_OK);
    CHECK(c.layers[0].len == 17 && c.layers[1].len == 2);
    /* layer 1 keeps the window (19) and its one top key (2) */
    const int32_t w1[] = {2, 19};
    CHECK(kept_is(&c, 1, w1, 2));
    /* layer 0 drops the 3 lowest post-vision scores among 0..18: keys 0..13 got fewer rows... the
     * highest are 5, 7 (boosted) and the post-vision keys themselves; dropped must not include 5, 7 */
    int has5 = 0, has7 = 0;
    for (int32_t i = 0; i < c.layers[0].len; i++) has5 |= c.layers[0].pos[i] == 5, has7 |= c.layers[0].pos[i] == 7;
    CHECK(has5 && has7);
    vlkv_kv_cache_free(&c);
    vlkv_kv_policy_free(pol);
}

/* budget_tokens: retained entries per layer on average, whatever the prompt length */
static void test_budget_tokens(void) {
    enum { NL = 4, T = 50 };
    struct vlkv_kv_shape sh = {.n_layer = NL, .n_head = 1, .n_head_kv = 1, .d_head = 4, .n_ctx = 128};
    const char *names[] = {"streaming", "h2o", "snapkv", "pyramidkv", "prefixkv", "elastic"};
    test_rng rng = {5};
    for (int k = 0; k < 6; k++) {
        struct vlkv_kv_policy_params p = params(0.0f, NULL);
        p.budget_tokens = 12;
        struct vlkv_kv_policy *pol;
        struct vlkv_kv_cache c;
        CHECK(vlkv_kv_policy_create(names[k], &p, &sh, &pol) == VLKV_OK);
        CHECK(vlkv_kv_cache_init(&c, NL, 1, 4, 128, VLKV_TYPE_F32) == VLKV_OK);
        fill_cache(&c, T, 0, 0);
        const struct vlkv_attn_observer *po = vlkv_kv_policy_prefill_observer(pol);
        float row[T];
        for (int32_t q = 0; q < T && po; q++)   /* streaming needs no statistics: no observer */
            for (int l = 0; l < NL; l++) {
                double s = 0;
                for (int j = 0; j <= q; j++) s += row[j] = (float)exp(2.0 * rng_f32(&rng));
                for (int j = 0; j <= q; j++) row[j] = (float)(row[j] / s);
                po->row(po->ud, l, 0, q, q, row, q + 1);
            }
        CHECK(vlkv_kv_policy_compress(pol, &c) == VLKV_OK);
        int32_t total = 0;
        for (int l = 0; l < NL; l++) total += c.layers[l].len;
        /* uniform policies exactly 12 per layer; adaptive ones 12 on average (search / integer rounding) */
        CHECK_MSG(abs(total - 12 * NL) <= (k >= 3 ? NL : 0), "%s keeps %d entries in %d layers", names[k], total, NL);
        vlkv_kv_cache_free(&c);
        vlkv_kv_policy_free(pol);
    }
}

int main(void) {
    test_registry();
    test_budget_tokens();
    test_budget_one();
    test_select_helpers();
    test_prefixkv_hand();
    test_prefixkv_invariants();
    test_prefixkv_policy();
    test_prefixkv_calib_protect();
    test_elastic_plan();
    test_streaming_h2o_snapkv();
    test_vlcache_policy();
    return test_done("test_kv_policies");
}
