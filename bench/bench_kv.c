/* bench_kv.c - what KV retention buys at decode time, per policy and retained budget, on a
 * synthetic LLaVA-shaped workload: a long prompt of system text + 4 image spans of 576 embedding
 * rows (tagged IMAGE) + question text (~2400 positions), then N generated tokens (greedy).
 * Reported per row: KV bytes held at the end, decode tok/s (end to end, vlkv_decode; from the median
 * per-token time, which is robust to other load on a shared machine), and the
 * attention time of one decode token over the compressed cache (all layers, vlkv_kv_attend timed
 * on the context's real cache at the end of generation), with the speed-up against the full cache.
 * Usage: bench_kv [-l LAYERS] [-n N_GEN] [-t THREADS] [--policies a,b] [--budgets 0.1,0.2] [--embd N]
 * Prints a markdown table. The model is written to ./bench_kv_model.gguf and removed afterwards. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "internal.h"
#include "kv/kv_policy.h"
#include "mkmodel.h"
#include "vlkv.h"

#define N_IMG_SPANS 4
#define N_IMG_ROWS 576

struct row {
    const char *policy;
    double budget;
    double prefill_ms, decode_tps, attn_us, policy_ms;
    size_t kv_used, kv_full;
    int ok;
};

static uint64_t rng_state = 0x1234567;
static float frand(void) {   /* uniform [-1, 1) */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (float)(((rng_state * 2685821657736338717ULL) >> 40) * (1.0 / 8388608.0) - 1.0);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time one decode query over every layer's current cache (what vlkv_decode's attention does). */
static double attn_us(vlkv_context *ctx, int32_t n_head, int32_t d_head, int reps) {
    struct vlkv_kv_cache *kv = vlkv_context_kv(ctx);
    struct vlkv_ops_ctx *ops = vlkv_context_ops(ctx);
    float *q = malloc((size_t)n_head * d_head * sizeof *q), *o = malloc((size_t)n_head * d_head * sizeof *o);
    for (int i = 0; i < n_head * d_head; i++) q[i] = frand();
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = vlkv_time_ms();
        for (int32_t il = 0; il < kv->n_layer; il++) vlkv_kv_attend(ops, kv, il, q, 1, n_head, o, NULL);
        const double dt = (vlkv_time_ms() - t0) * 1e3;
        best = dt < best ? dt : best;
    }
    free(q);
    free(o);
    return best;
}

static void run(vlkv_model *m, const char *policy, double budget, int n_gen, int n_threads, const int32_t *sys,
                int n_sys, const int32_t *txt, int n_txt, const float *img, int32_t n_head, int32_t d_head,
                struct row *r) {
    vlkv_context_params cp = vlkv_context_params_default();
    const int n_prompt = n_sys + N_IMG_SPANS * (N_IMG_ROWS + n_txt);
    cp.n_ctx = n_prompt + n_gen + 8;
    cp.n_threads = n_threads;
    cp.kv_policy = policy;
    cp.kv_budget = (float)budget;
    vlkv_context *ctx = NULL;
    memset(r, 0, sizeof *r);
    r->policy = policy;
    r->budget = budget;
    if (vlkv_context_init(m, &cp, &ctx) != VLKV_OK) {
        fprintf(stderr, "bench_kv: %s %.2f: %s\n", policy, budget, vlkv_last_error());
        return;
    }
    /* modality tags drive VL-Cache's post-vision rows */
    vlkv_kv_policy_bind(ctx->policy, vlkv_context_kv(ctx));
    const int32_t ne = vlkv_model_n_embd(m);
    vlkv_status st = vlkv_eval_tokens(ctx, sys, n_sys, VLKV_MOD_SYSTEM);
    for (int s = 0; s < N_IMG_SPANS && st == VLKV_OK; s++) {
        st = vlkv_eval_embd(ctx, img + (size_t)s * N_IMG_ROWS * ne, N_IMG_ROWS, VLKV_MOD_IMAGE);
        if (st == VLKV_OK) st = vlkv_eval_tokens(ctx, txt + s * n_txt, n_txt, VLKV_MOD_INSTRUCTION);
    }
    if (st == VLKV_OK) st = vlkv_kv_compress(ctx);
    if (st != VLKV_OK) {
        fprintf(stderr, "bench_kv: %s %.2f: %s\n", policy, budget, vlkv_last_error());
        vlkv_context_free(ctx);
        return;
    }
    vlkv_timings t = vlkv_get_timings(ctx);
    r->prefill_ms = t.prefill_ms;
    r->policy_ms = t.policy_ms;
    vlkv_timings_reset(ctx);
    const int32_t nv = vlkv_model_n_vocab(m);
    /* per-token times; the median is robust to other processes on a shared machine */
    double *dt = malloc((size_t)n_gen * sizeof *dt);
    int n_dt = 0;
    for (int i = 0; i < n_gen && st == VLKV_OK; i++) {
        const float *lg = vlkv_get_logits(ctx);
        int32_t best = 0;
        for (int32_t k = 1; k < nv; k++) best = lg[k] > lg[best] ? k : best;
        const double t0 = vlkv_time_ms();
        st = vlkv_decode(ctx, best);
        dt[n_dt++] = vlkv_time_ms() - t0;
    }
    qsort(dt, (size_t)n_dt, sizeof *dt, cmp_double);
    r->decode_tps = n_dt > 0 && dt[n_dt / 2] > 0 ? 1e3 / dt[n_dt / 2] : 0;
    free(dt);
    t = vlkv_get_timings(ctx);
    r->policy_ms += t.policy_ms;
    vlkv_kv_stats ks;
    vlkv_kv_get_stats(ctx, &ks);
    r->kv_used = ks.bytes_used;
    r->kv_full = ks.bytes_full;
    r->attn_us = attn_us(ctx, n_head, d_head, 15);
    r->ok = st == VLKV_OK;
    if (st != VLKV_OK) fprintf(stderr, "bench_kv: %s %.2f: decode: %s\n", policy, budget, vlkv_last_error());
    vlkv_context_free(ctx);
}

static int split(char *s, const char **out, int max) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) out[n++] = tok;
    return n;
}

int main(int argc, char **argv) {
    int n_layer = 4, n_gen = 256, n_threads = vlkv_n_cores(), n_embd = 512;
    char pol_buf[256] = "full,streaming,h2o,snapkv,pyramidkv,prefixkv,elastic,vlcache", bud_buf[128] = "0.1,0.2,0.5";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "bench_kv: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "-l")) n_layer = atoi(v);
        else if (!strcmp(a, "-n")) n_gen = atoi(v);
        else if (!strcmp(a, "-t")) n_threads = atoi(v);
        else if (!strcmp(a, "--embd")) n_embd = atoi(v);
        else if (!strcmp(a, "--policies")) snprintf(pol_buf, sizeof pol_buf, "%s", v);
        else if (!strcmp(a, "--budgets")) snprintf(bud_buf, sizeof bud_buf, "%s", v);
        else { fprintf(stderr, "bench_kv: unknown option %s\n", a); return 2; }
        i++;
    }
    if (n_layer < 1 || n_gen < 1 || n_threads < 1 || n_embd < 128 || n_embd % 128) {
        fprintf(stderr, "bench_kv: bad sizes (embd must be a multiple of 128)\n");
        return 2;
    }
    const char *pols[16], *buds_s[16];
    const int np = split(pol_buf, pols, 16), nb = split(bud_buf, buds_s, 16);

    /* LLaVA-like shape scaled down: d_head 128 (as LLaVA-1.5), MHA, Q8_0 weights */
    struct vlkv_mkmodel_params mp = vlkv_mkmodel_params_default();
    mp.n_layer = n_layer;
    mp.n_embd = n_embd;
    mp.n_head = n_embd / 128;
    mp.n_head_kv = mp.n_head;
    mp.n_ff = n_embd * 11 / 4 / 32 * 32;
    mp.n_vocab = 4096;
    mp.n_ctx = 4096;
    mp.type = 8; /* VLKV_TYPE_Q8_0 */
    mp.seed = 3;
    const char *path = "bench_kv_model.gguf";
    if (vlkv_mkmodel_llama(path, &mp) != VLKV_OK) {
        fprintf(stderr, "bench_kv: mkmodel: %s\n", vlkv_last_error());
        return 1;
    }
    vlkv_model_params mpp = vlkv_model_params_default();
    vlkv_model *m = NULL;
    if (vlkv_model_load(path, &mpp, &m) != VLKV_OK) {
        fprintf(stderr, "bench_kv: %s\n", vlkv_last_error());
        return 1;
    }
    const int n_sys = 40, n_txt = 14;
    int32_t sys[64], txt[N_IMG_SPANS * 14];
    for (int i = 0; i < n_sys; i++) sys[i] = i == 0 ? vlkv_token_bos(m) : 3 + (int32_t)((frand() + 1) * 2000);
    for (int i = 0; i < N_IMG_SPANS * n_txt; i++) txt[i] = 3 + (int32_t)((frand() + 1) * 2000);
    float *img = malloc((size_t)N_IMG_SPANS * N_IMG_ROWS * n_embd * sizeof *img);
    for (size_t i = 0; i < (size_t)N_IMG_SPANS * N_IMG_ROWS * n_embd; i++) img[i] = 0.5f * frand();
    const int n_prompt = n_sys + N_IMG_SPANS * (N_IMG_ROWS + n_txt);
    printf("bench_kv: %s, prompt %d positions (%d image rows), %d generated, %d threads\n\n", vlkv_model_desc(m),
           n_prompt, N_IMG_SPANS * N_IMG_ROWS, n_gen, n_threads);
    printf("| policy | budget | KV MiB (end) | KV vs full | decode tok/s | speed-up | decode attn us/tok (best of 15) | attn speed-up | prefill s | policy ms |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);

    struct row full;
    run(m, "full", 1.0, n_gen, n_threads, sys, n_sys, txt, n_txt, img, mp.n_head, 128, &full);
    if (!full.ok) return 1;
    for (int ip = -1; ip < np; ip++) {
        for (int ib = 0; ib < (ip < 0 ? 1 : nb); ib++) {
            struct row r;
            if (ip < 0) r = full;
            else {
                if (!strcmp(pols[ip], "full")) continue;
                run(m, pols[ip], atof(buds_s[ib]), n_gen, n_threads, sys, n_sys, txt, n_txt, img, mp.n_head, 128, &r);
            }
            if (!r.ok) continue;
            printf("| %s | %.2f | %.2f | %.1f%% | %.1f | %.2fx | %.0f | %.1fx | %.2f | %.1f |\n", r.policy, r.budget,
                   r.kv_used / 1048576.0, 100.0 * r.kv_used / (double)(r.kv_full ? r.kv_full : 1), r.decode_tps,
                   r.decode_tps / full.decode_tps, r.attn_us, full.attn_us / r.attn_us, r.prefill_ms / 1e3,
                   r.policy_ms);
            fflush(stdout);
        }
    }
    /* the full cache once more: on a shared machine the spread of these two rows is the noise */
    struct row again;
    run(m, "full", 1.0, n_gen, n_threads, sys, n_sys, txt, n_txt, img, mp.n_head, 128, &again);
    if (again.ok)
        printf("| full (again) | 1.00 | %.2f | 100.0%% | %.1f | %.2fx | %.0f | %.1fx | %.2f | %.1f |\n",
               again.kv_used / 1048576.0, again.decode_tps, again.decode_tps / full.decode_tps, again.attn_us,
               full.attn_us / again.attn_us, again.prefill_ms / 1e3, again.policy_ms);
    free(img);
    vlkv_model_free(m);
    remove(path);
    return 0;
}
