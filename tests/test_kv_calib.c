/* test_kv_calib.c - PrefixKV calibration files and the policies end to end through the public API:
 *  - calibration JSON round trip, budget lookup (exact, interpolated, errors), bad files give
 *    clear errors naming the file, profile lines averaged by hand;
 *  - on a synthetic model (vlkv_mkmodel_llama) with a LLaVA-shaped prompt (system tokens, IMAGE
 *    embedding rows, instruction tokens): every policy at budget 1.0 reproduces the full-cache
 *    logits bit for bit through prefill, compress and decode; at budget 0.3 every policy holds
 *    fewer KV bytes and still decodes finite logits;
 *  - vlkv_kv_calibrate writes a file that prefixkv then follows layer by layer. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kv/kv_calib.h"
#include "mkmodel.h"
#include "test_util.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_files(void) {
    struct vlkv_kv_calib c = {0}, r;
    snprintf(c.model, sizeof c.model, "tiny \"quoted\" model");
    c.n_layer = 3;
    c.n_samples = 7;
    c.n_configs = 2;
    c.budget[0] = 0.2;
    c.budget[1] = 0.6;
    float ret[] = {0.5f, 0.05f, 0.05f, 0.9f, 0.4f, 0.5f};
    c.retained = ret;
    CHECK(vlkv_kv_calib_write("kvcal_rt.json", &c) == VLKV_OK);
    CHECK(vlkv_kv_calib_read("kvcal_rt.json", &r) == VLKV_OK);
    CHECK(r.n_layer == 3 && r.n_configs == 2 && r.n_samples == 7 && !strcmp(r.model, c.model));
    for (int i = 0; i < 6; i++) CHECK_NEAR(r.retained[i], ret[i], 1e-6);
    float rho[3];
    CHECK(vlkv_kv_calib_lookup(&r, "f", 3, 0.2, rho) == VLKV_OK && rho[1] == r.retained[1]);
    /* 0.4 halfway between 0.2 and 0.6 */
    CHECK(vlkv_kv_calib_lookup(&r, "f", 3, 0.4, rho) == VLKV_OK);
    CHECK_NEAR(rho[0], 0.7, 1e-6);
    CHECK_NEAR(rho[1], 0.225, 1e-6);
    CHECK_NEAR(rho[2], 0.275, 1e-6);
    CHECK(vlkv_kv_calib_lookup(&r, "f", 3, 0.1, rho) == VLKV_ERR_INVALID_ARG);
    CHECK(strstr(vlkv_last_error(), "0.2") && strstr(vlkv_last_error(), "0.6"));
    CHECK(vlkv_kv_calib_lookup(&r, "f", 4, 0.2, rho) == VLKV_ERR_INVALID_ARG);
    CHECK(strstr(vlkv_last_error(), "layers"));
    vlkv_kv_calib_free(&r);

    CHECK(vlkv_kv_calib_read("kvcal_missing.json", &r) == VLKV_ERR_IO);
    CHECK(strstr(vlkv_last_error(), "kvcal_missing.json"));
    const char *bad[] = {
        "not json",
        "{\"format\": \"other\", \"version\": 1, \"n_layer\": 2, \"configs\": []}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 2, \"n_layer\": 2, \"configs\": []}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"n_layer\": 2, \"configs\": []}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"n_layer\": 2, \"configs\": [{\"budget\": 0.2, \"retained\": [0.1]}]}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"n_layer\": 2, \"configs\": [{\"budget\": 0.2, \"retained\": [0.1, 1.5]}]}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"n_layer\": 2, \"configs\": [{\"budget\": 0, \"retained\": [0.1, 0.2]}]}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"n_layer\": 2, \"configs\": [{\"budget\": 0.2, \"retained\": [0.1, 0.2]},"
        " {\"budget\": 0.2, \"retained\": [0.1, 0.2]}]}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"n_layer\": 2.5, \"configs\": [{\"budget\": 0.2, \"retained\": [0.1, 0.2]}]}",
        "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"n_layer\": 2, \"configs\": [{\"budget\": 0.2, \"retained\": [0.1, 0.2]}]} x",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file("kvcal_bad.json", bad[i]);
        vlkv_status st = vlkv_kv_calib_read("kvcal_bad.json", &r);
        CHECK_MSG(st == VLKV_ERR_FORMAT, "bad file %zu accepted (%d)", i, st);
        CHECK(strstr(vlkv_last_error(), "kvcal_bad.json"));
    }
    /* profile lines: budget .2 twice, .5 once (out of order) */
    write_file("kvcal_prof.jsonl", "{\"budget\": 0.5, \"T\": 10, \"retained\": [0.5, 0.7]}\n"
                                   "{\"budget\": 0.2, \"T\": 10, \"retained\": [0.1, 0.3]}\n\n"
                                   "{\"budget\": 0.2, \"T\": 12, \"retained\": [0.2, 0.4]}\n");
    CHECK(vlkv_kv_calib_from_profile("kvcal_prof.jsonl", "m", &r) == VLKV_OK);
    CHECK(r.n_layer == 2 && r.n_configs == 2 && r.n_samples == 2);
    CHECK_NEAR(r.budget[0], 0.2, 1e-12);
    CHECK_NEAR(r.retained[0], 0.15, 1e-6);
    CHECK_NEAR(r.retained[1], 0.35, 1e-6);
    CHECK_NEAR(r.retained[2], 0.5, 1e-6);
    CHECK_NEAR(r.retained[3], 0.7, 1e-6);
    vlkv_kv_calib_free(&r);
    write_file("kvcal_prof.jsonl", "{\"budget\": 0.5, \"retained\": [0.5, 0.7]}\n{\"budget\": 0.5, \"retained\": [0.5]}\n");
    CHECK(vlkv_kv_calib_from_profile("kvcal_prof.jsonl", "m", &r) == VLKV_ERR_FORMAT);
    CHECK(strstr(vlkv_last_error(), "kvcal_prof.jsonl:2"));
    remove("kvcal_rt.json");
    remove("kvcal_bad.json");
    remove("kvcal_prof.jsonl");
}

/* ---- end to end ---- */

enum { N_SYS = 6, N_IMG = 24, N_INS = 8, N_GEN = 6 };

struct run {
    float  logits[N_GEN + 1][512];
    size_t bytes_used, bytes_full;
    int    ok;
};

static void run_policy(vlkv_model *m, const char *policy, float budget, const char *cfg, struct run *r) {
    vlkv_context_params cp = vlkv_context_params_default();
    cp.n_ctx = 128;
    cp.n_threads = 2;
    cp.kv_policy = policy;
    cp.kv_budget = budget;
    cp.kv_config_path = cfg;
    vlkv_context *ctx = NULL;
    r->ok = 0;
    if (vlkv_context_init(m, &cp, &ctx) != VLKV_OK) {
        fprintf(stderr, "%s: %s\n", policy, vlkv_last_error());
        return;
    }
    const int32_t nv = vlkv_model_n_vocab(m), ne = vlkv_model_n_embd(m);
    int32_t sys[N_SYS], ins[N_INS];
    for (int i = 0; i < N_SYS; i++) sys[i] = i == 0 ? vlkv_token_bos(m) : 3 + (i * 37) % (nv - 3);
    for (int i = 0; i < N_INS; i++) ins[i] = 3 + (i * 91 + 5) % (nv - 3);
    static float img[N_IMG * 1024];
    test_rng rng = {77};
    for (int i = 0; i < N_IMG * ne; i++) img[i] = 0.5f * rng_f32(&rng);
    if (vlkv_eval_tokens(ctx, sys, N_SYS, VLKV_MOD_SYSTEM) != VLKV_OK ||
        vlkv_eval_embd(ctx, img, N_IMG, VLKV_MOD_IMAGE) != VLKV_OK ||
        vlkv_eval_tokens(ctx, ins, N_INS, VLKV_MOD_INSTRUCTION) != VLKV_OK || vlkv_kv_compress(ctx) != VLKV_OK) {
        fprintf(stderr, "%s: %s\n", policy, vlkv_last_error());
        vlkv_context_free(ctx);
        return;
    }
    int finite = 1;
    for (int t = 0; t <= N_GEN; t++) {
        const float *lg = vlkv_get_logits(ctx);
        memcpy(r->logits[t], lg, (size_t)nv * sizeof(float));
        int32_t best = 0;
        for (int32_t i = 0; i < nv; i++) {
            if (!isfinite(lg[i])) finite = 0;
            if (lg[i] > lg[best]) best = i;
        }
        if (t < N_GEN && vlkv_decode(ctx, best) != VLKV_OK) {
            fprintf(stderr, "%s: decode: %s\n", policy, vlkv_last_error());
            vlkv_context_free(ctx);
            return;
        }
    }
    vlkv_kv_stats ks;
    vlkv_kv_get_stats(ctx, &ks);
    r->bytes_used = ks.bytes_used;
    r->bytes_full = ks.bytes_full;
    r->ok = finite;
    vlkv_context_free(ctx);
}

static void test_end_to_end(void) {
    struct vlkv_mkmodel_params mp = vlkv_mkmodel_params_default();
    mp.n_layer = 3;
    mp.n_head = 4;
    mp.n_head_kv = 2;
    mp.n_embd = 128;
    mp.n_ff = 256;
    mp.seed = 5;
    const char *path = "kvcal_model.gguf";
    if (vlkv_mkmodel_llama(path, &mp) != VLKV_OK) {
        fprintf(stderr, "mkmodel: %s\n", vlkv_last_error());
        CHECK(0);
        return;
    }
    vlkv_model_params mpp = vlkv_model_params_default();
    vlkv_model *m = NULL;
    CHECK(vlkv_model_load(path, &mpp, &m) == VLKV_OK);
    if (!m) return;
    static struct run full, r;
    run_policy(m, "full", 1.0f, NULL, &full);
    CHECK(full.ok);
    const int32_t nv = vlkv_model_n_vocab(m);
    for (int32_t i = 0; i < vlkv_kv_policy_count(); i++) {
        const char *name = vlkv_kv_policy_name(i);
        run_policy(m, name, 1.0f, NULL, &r);
        int same = r.ok;
        for (int t = 0; t <= N_GEN && same; t++) same = !memcmp(r.logits[t], full.logits[t], (size_t)nv * sizeof(float));
        CHECK_MSG(same, "%s at budget 1.0 does not reproduce the full-cache logits", name);
        CHECK(r.bytes_used == full.bytes_used);
        if (i == 0) continue;
        run_policy(m, name, 0.3f, NULL, &r);
        CHECK_MSG(r.ok, "%s at budget 0.3 failed", name);
        CHECK_MSG(r.bytes_used < r.bytes_full, "%s at 0.3 holds %zu of %zu bytes", name, r.bytes_used, r.bytes_full);
        printf("%-10s budget 0.3: %zu of %zu KV bytes\n", name, r.bytes_used, r.bytes_full);
    }

    /* calibration through the public API, then prefixkv follows the file */
    const char *texts[] = {"the cat sat on the mat", "a dog runs in the park with a ball", "hello world"};
    struct vlkv_calib_prompt pr[3];
    for (int i = 0; i < 3; i++) pr[i] = (struct vlkv_calib_prompt){texts[i], NULL, 0};
    const double budgets[] = {0.3, 0.6};
    vlkv_context_params cp = vlkv_context_params_default();
    cp.n_ctx = 128;
    cp.n_threads = 2;
    CHECK(vlkv_kv_calibrate(m, &cp, pr, 3, budgets, 2, "kvcal_conf.json", NULL, NULL) == VLKV_OK);
    struct vlkv_kv_calib cal;
    CHECK(vlkv_kv_calib_read("kvcal_conf.json", &cal) == VLKV_OK);
    CHECK(cal.n_layer == 3 && cal.n_configs == 2 && cal.n_samples == 3);
    for (int l = 0; cal.retained && l < 3; l++) CHECK(cal.retained[l] > 0 && cal.retained[l] <= 1);
    cp.kv_policy = "prefixkv";
    cp.kv_budget = 0.3f;
    cp.kv_config_path = "kvcal_conf.json";
    vlkv_context *ctx = NULL;
    CHECK(vlkv_context_init(m, &cp, &ctx) == VLKV_OK);
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = i == 0 ? vlkv_token_bos(m) : 3 + (i * 53) % (nv - 3);
    if (ctx && cal.retained) {
        CHECK(vlkv_eval_tokens(ctx, toks, 40, VLKV_MOD_INSTRUCTION) == VLKV_OK);
        CHECK(vlkv_kv_compress(ctx) == VLKV_OK);
        vlkv_kv_stats ks;
        CHECK(vlkv_kv_get_stats(ctx, &ks) == VLKV_OK);
        for (int l = 0; l < 3; l++) {
            const int32_t want = 40 - (int32_t)lround((1.0 - cal.retained[l]) * 40);
            CHECK_MSG(ks.len[l] == (want > 2 ? want : 2), "layer %d keeps %d, file says %d", l, ks.len[l], want);
        }
    }
    vlkv_context_free(ctx);
    /* a budget the file does not cover is a clear error at init */
    cp.kv_budget = 0.9f;
    ctx = NULL;
    CHECK(vlkv_context_init(m, &cp, &ctx) == VLKV_ERR_INVALID_ARG && !ctx);
    CHECK(strstr(vlkv_last_error(), "kvcal_conf.json"));
    vlkv_kv_calib_free(&cal);
    vlkv_model_free(m);
    remove(path);
    remove("kvcal_conf.json");
}

int main(void) {
    test_files();
    test_end_to_end();
    return test_done("test_kv_calib");
}
