/* test_vk_e2e.c - the whole pipeline with the decoder on the Vulkan backend against the CPU
 * backend, on the shipped model (models/llava-tiny-f16.gguf + its mmproj) and a shipped image:
 * LLaVA prompt -> KV policy compress -> greedy generation, for the full cache and for every KV
 * policy at budget 0.2 (plus Elastic's parity indexing, which merges through arbitrary source
 * lists). Checked per run:
 *   - the context really runs on the device (no silent CPU fallback);
 *   - the generated tokens are identical;
 *   - after compression and at the end of generation, every layer holds the same number of
 *     entries with the same original positions (the policies chose the same entries from the
 *     statistics the device reduced, and the device KV rewrites followed);
 *   - the first generated step's logits agree (NMSE, reported).
 * The CPU run is the reference: it is an independent implementation (llama.c + kv_cache.c +
 * the observer statistics of kv_stats.c); nothing is compared against the Vulkan path itself.
 * The image encoder + projector run on the device in the Vulkan runs; their output is also
 * compared directly (NMSE) with the CPU encoder's.
 * Also: an unusable device index gives a warning and the CPU path, not an error; prompts in
 * chunks of 48 rows; vlkv_context_reset and a second round in the same device context.
 * Device: VLKV_VK_DEVICE if set, else the first usable GPU, else lavapipe; 77 = skip. Lavapipe
 * is slow (~1 GFLOP/s): about a minute. */
#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VLKV_HAVE_VULKAN
int main(void) {
    printf("test_vk_e2e: built without Vulkan (VLKV_VULKAN=OFF), skipped\n");
    return 77;
}
#else
#include "context.h"
#include "vk.h"
#include "vk_test_util.h"

enum { N_GEN = 24 };

struct run {
    int32_t  tok[N_GEN];
    int32_t  n_tok;
    int32_t *len_c, *len_e;      /* [n_layer] after compress / at the end */
    int32_t *pos_c, *pos_e;      /* [n_layer][n_ctx] */
    float   *logits0;            /* [n_vocab] logits after compress */
    int      on_device;
};

static vlkv_model *g_model;
static vlkv_image *g_img;
static int32_t g_nl, g_nv, g_nctx;

static void snap(vlkv_context *ctx, int32_t *len, int32_t *pos) {
    const struct vlkv_kv_cache *kv = vlkv_context_kv(ctx);
    for (int32_t il = 0; il < g_nl; il++) {
        len[il] = kv->layers[il].len;
        memcpy(pos + (size_t)il * g_nctx, kv->layers[il].pos, (size_t)len[il] * sizeof(int32_t));
    }
}

static int32_t argmax(const float *v, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

/* n_batch: prompt chunk size (0: default); twice: run the prompt and the generation, reset the
 * context, run them again and require the second round to repeat the first exactly */
static int run_one(const char *policy, const char *opts, float budget, int kv_f32, int device, int n_batch, int twice,
                   struct run *r) {
    vlkv_context_params cp = vlkv_context_params_default();
    cp.n_ctx = g_nctx;
    if (n_batch > 0) cp.n_batch = n_batch;
    cp.n_threads = 2;
    cp.kv_policy = policy;
    cp.kv_opts = opts;
    cp.kv_budget = budget;
    cp.kv_f32 = kv_f32;
    cp.backend = device >= 0 ? VLKV_BACKEND_VULKAN : VLKV_BACKEND_CPU;
    cp.device = device;
    vlkv_context *ctx = NULL;
    int ok = 0;
    memset(r, 0, sizeof *r);
    r->len_c = calloc((size_t)g_nl, sizeof(int32_t));
    r->len_e = calloc((size_t)g_nl, sizeof(int32_t));
    r->pos_c = calloc((size_t)g_nl * g_nctx, sizeof(int32_t));
    r->pos_e = calloc((size_t)g_nl * g_nctx, sizeof(int32_t));
    r->logits0 = malloc((size_t)g_nv * sizeof(float));
    if (!r->len_c || !r->len_e || !r->pos_c || !r->pos_e || !r->logits0) return 0;
    if (vlkv_context_init(g_model, &cp, &ctx) != VLKV_OK) {
        fprintf(stderr, "  %s: context: %s\n", policy, vlkv_last_error());
        return 0;
    }
    r->on_device = vlkv_context_device(ctx, NULL, NULL, NULL);
    vlkv_image *imgs[1] = {g_img};
    int32_t first[N_GEN], n_first = -1;
again:
    if (vlkv_prompt_eval(ctx, "Describe this image in detail.", imgs, 1) != VLKV_OK ||
        vlkv_kv_compress(ctx) != VLKV_OK) {
        fprintf(stderr, "  %s: prompt: %s\n", policy, vlkv_last_error());
        goto done;
    }
    snap(ctx, r->len_c, r->pos_c);
    memcpy(r->logits0, vlkv_get_logits(ctx), (size_t)g_nv * sizeof(float));
    for (r->n_tok = 0; r->n_tok < N_GEN;) {
        const int32_t t = argmax(vlkv_get_logits(ctx), g_nv);
        r->tok[r->n_tok++] = t;
        if (t == vlkv_token_eos(g_model)) break;
        if (vlkv_decode(ctx, t) != VLKV_OK) {
            fprintf(stderr, "  %s: decode: %s\n", policy, vlkv_last_error());
            goto done;
        }
    }
    snap(ctx, r->len_e, r->pos_e);
    if (twice && n_first < 0) {
        n_first = r->n_tok;
        memcpy(first, r->tok, sizeof first);
        vlkv_context_reset(ctx);
        goto again;
    }
    if (twice && (n_first != r->n_tok || memcmp(first, r->tok, (size_t)n_first * sizeof(int32_t)))) {
        fprintf(stderr, "  %s: the round after vlkv_context_reset generated other tokens\n", policy);
        goto done;
    }
    ok = 1;
done:
    vlkv_context_free(ctx);
    return ok;
}

static void run_free(struct run *r) {
    free(r->len_c);
    free(r->len_e);
    free(r->pos_c);
    free(r->pos_e);
    free(r->logits0);
}

static int same_entries(const int32_t *la, const int32_t *pa, const int32_t *lb, const int32_t *pb, int32_t *bad_layer) {
    for (int32_t il = 0; il < g_nl; il++) {
        if (la[il] != lb[il] || memcmp(pa + (size_t)il * g_nctx, pb + (size_t)il * g_nctx, (size_t)la[il] * 4)) {
            *bad_layer = il;
            return 0;
        }
    }
    return 1;
}

static void compare_ex(const char *policy, const char *opts, float budget, int kv_f32, int device, int n_batch,
                       int twice) {
    struct run c, v;
    const double t0 = vlkv_time_ms();
    const int okc = run_one(policy, opts, budget, kv_f32, -1, n_batch, 0, &c);
    const double t1 = vlkv_time_ms();
    const int okv = run_one(policy, opts, budget, kv_f32, device, n_batch, twice, &v);
    const double t2 = vlkv_time_ms();
    char label[96];
    snprintf(label, sizeof label, "%s%s%s b=%.1f %s%s%s", policy, opts ? " " : "", opts ? opts : "", (double)budget,
             kv_f32 ? "f32" : "f16", n_batch ? " nb48" : "", twice ? " x2" : "");
    CHECK_MSG(okc && okv, "%s: run failed", label);
    if (okc && okv) {
        CHECK_MSG(v.on_device, "%s: the Vulkan context fell back to the CPU", label);
        double num = 0, den = 0;
        for (int32_t i = 0; i < g_nv; i++) {
            const double e = (double)v.logits0[i] - c.logits0[i];
            num += e * e;
            den += (double)c.logits0[i] * c.logits0[i];
        }
        const double nmse = den > 0 ? num / den : num;
        CHECK_MSG(nmse < 1e-4, "%s: logits after the prompt differ: nmse %.3g", label, nmse);
        int32_t bl = -1;
        CHECK_MSG(same_entries(c.len_c, c.pos_c, v.len_c, v.pos_c, &bl),
                  "%s: after compress layer %d holds %d entries on the CPU, %d on the device (or other positions)",
                  label, bl, bl >= 0 ? c.len_c[bl] : 0, bl >= 0 ? v.len_c[bl] : 0);
        int same_tok = c.n_tok == v.n_tok && !memcmp(c.tok, v.tok, (size_t)c.n_tok * sizeof(int32_t));
        CHECK_MSG(same_tok, "%s: greedy tokens differ", label);
        if (!same_tok) {
            for (int32_t i = 0; i < VLKV_MAX(c.n_tok, v.n_tok); i++)
                fprintf(stderr, "    %2d: cpu %4d vulkan %4d\n", i, i < c.n_tok ? c.tok[i] : -1,
                        i < v.n_tok ? v.tok[i] : -1);
        } else {
            CHECK_MSG(same_entries(c.len_e, c.pos_e, v.len_e, v.pos_e, &bl),
                      "%s: after generation layer %d holds %d entries on the CPU, %d on the device (or other "
                      "positions)", label, bl, bl >= 0 ? c.len_e[bl] : 0, bl >= 0 ? v.len_e[bl] : 0);
        }
        int64_t kept = 0;
        for (int32_t il = 0; il < g_nl; il++) kept += v.len_c[il];
        printf("  %-24s %2d tokens %s, kept %6.1f entries/layer, logits nmse %.2e, cpu %6.0f ms, vulkan %6.0f ms\n",
               label, v.n_tok, same_tok ? "identical" : "DIFFER", (double)kept / g_nl, nmse, t1 - t0, t2 - t1);
    }
    run_free(&c);
    run_free(&v);
}

static void compare(const char *policy, const char *opts, float budget, int kv_f32, int device) {
    compare_ex(policy, opts, budget, kv_f32, device, 0, 0);
}

int main(void) {
    struct vk_device_caps devs[VK_MAX_DEVICES];
    int n = 0, pick = -1;
    pick = vk_test_pick_device("test_vk_e2e", devs, &n);
    if (pick == VK_TEST_SKIP) return 77;
    if (pick < 0) return 1;
    printf("test_vk_e2e: device %d: %s (%s)\n", pick, devs[pick].name, vk_device_type_name(devs[pick].type));

    vlkv_model_params mp = vlkv_model_params_default();
    mp.mmproj_path = VLKV_SOURCE_DIR "/models/mmproj-llava-tiny-f16.gguf";
    mp.n_threads = 2;
    if (vlkv_model_load(VLKV_SOURCE_DIR "/models/llava-tiny-f16.gguf", &mp, &g_model) != VLKV_OK) {
        printf("test_vk_e2e: shipped model not loadable (%s), skipped\n", vlkv_last_error());
        return 77;
    }
    CHECK(vlkv_image_load_file(VLKV_SOURCE_DIR "/models/samples/test_00020.png", &g_img) == VLKV_OK);
    if (!g_img) return 1;
    g_nl = vlkv_model_n_layer(g_model);
    g_nv = vlkv_model_n_vocab(g_model);
    g_nctx = 512;

    /* no usable device at that index: a warning and the CPU path */
    {
        vlkv_context_params cp = vlkv_context_params_default();
        cp.n_ctx = 64;
        cp.backend = VLKV_BACKEND_VULKAN;
        cp.device = n + 7;
        vlkv_context *ctx = NULL;
        CHECK(vlkv_context_init(g_model, &cp, &ctx) == VLKV_OK);
        CHECK(ctx && !vlkv_context_device(ctx, NULL, NULL, NULL));
        if (ctx) {
            const int32_t toks[3] = {1, 2, 3};
            CHECK(vlkv_eval_tokens(ctx, toks, 3, VLKV_MOD_SYSTEM) == VLKV_OK);
        }
        vlkv_context_free(ctx);
    }

    /* the image embedding: CLIP ViT + projector on the device vs the CPU (F16 weights; both sides
     * compute in f32 from the same F16 values, so only the summation order differs) */
    {
        vlkv_context *cc = NULL, *cv = NULL;
        vlkv_context_params cp = vlkv_context_params_default();
        cp.n_ctx = 64;
        cp.n_threads = 2;
        const size_t ne = (size_t)vlkv_model_n_image_tokens(g_model) * (size_t)vlkv_model_n_embd(g_model);
        float *ec = malloc(ne * sizeof(float)), *ev = malloc(ne * sizeof(float));
        CHECK(ec && ev && vlkv_context_init(g_model, &cp, &cc) == VLKV_OK);
        cp.backend = VLKV_BACKEND_VULKAN;
        cp.device = pick;
        CHECK(vlkv_context_init(g_model, &cp, &cv) == VLKV_OK);
        CHECK_MSG(cv && vlkv_context_vision_on_device(cv), "the image encoder is not on the device");
        if (ec && ev && cc && cv) {
            CHECK(vlkv_image_encode(cc, g_img, ec) == VLKV_OK);
            CHECK(vlkv_image_encode(cv, g_img, ev) == VLKV_OK);
            double num = 0, den = 0;
            for (size_t i = 0; i < ne; i++) {
                num += ((double)ev[i] - ec[i]) * ((double)ev[i] - ec[i]);
                den += (double)ec[i] * ec[i];
            }
            const double nmse = den > 0 ? num / den : num;
            CHECK_MSG(nmse < 1e-8, "image embedding nmse %.3g", nmse);
            const vlkv_timings tc = vlkv_get_timings(cc), tv = vlkv_get_timings(cv);
            printf("  image embedding (%zu values): nmse %.2e; vision+projector cpu %.0f ms, vulkan %.0f ms\n", ne, nmse,
                   tc.vision_ms + tc.projector_ms, tv.vision_ms + tv.projector_ms);
        }
        free(ec);
        free(ev);
        vlkv_context_free(cc);
        vlkv_context_free(cv);
    }

    compare("full", NULL, 1.0f, 0, pick);
    static const char *const policies[] = {"streaming", "h2o", "snapkv", "pyramidkv", "prefixkv", "elastic", "vlcache"};
    for (size_t i = 0; i < VLKV_ARRAY_LEN(policies); i++) compare(policies[i], NULL, 0.2f, 0, pick);
    compare("elastic", "parity=1", 0.2f, 0, pick);    /* merges from arbitrary source lists */
    compare("streaming", "fixed=1", 0.2f, 0, pick);   /* constant window: several evictions per step */
    compare("h2o", NULL, 0.2f, 1, pick);              /* F32 KV on both sides */
    /* prompt chunks of 48 rows: statistics accumulate across batches (window rows and post-vision
     * rows spanning chunks); the context reset and a second round on the same device context */
    compare_ex("snapkv", NULL, 0.2f, 0, pick, 48, 1);
    compare_ex("vlcache", NULL, 0.2f, 0, pick, 48, 0);

    vlkv_image_free(g_img);
    vlkv_model_free(g_model);
    return test_done("test_vk_e2e");
}
#endif
