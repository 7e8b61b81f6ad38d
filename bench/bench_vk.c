/* bench_vk.c - Vulkan op timings on one device: decode matvec per weight type (GB/s of weight
 * traffic), tiled matmul (GFLOP/s), attention over a KV length (ms) and the attention
 * statistics pass. Host wall time around submit+wait of `reps` back-to-back dispatches, so a
 * fixed submission overhead is included (reported separately as "empty submit").
 *
 *   bench_vk [--device N] [--quick] [--reps N] [-m MODEL.gguf [-p N_PROMPT] [-n N_GEN]]
 * With -m: the whole LLaMA decoder on the device (vk_llama.c) against the CPU forward (llama.c):
 * prefill of N_PROMPT tokens (pp t/s) and N_GEN single-token decode steps (tg t/s), plus the
 * NMSE between the two backends' last logits.
 * Without --device: VLKV_VK_DEVICE, else the best GPU, else a CPU implementation (lavapipe:
 * proves the path, the numbers mean nothing for a GPU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"
#include "vlkv.h"

#ifndef VLKV_HAVE_VULKAN
int main(void) {
    printf("bench_vk: built without Vulkan (configure with -DVLKV_VULKAN=ON)\n");
    return 0;
}
#else
#include "llama.h"
#include "model.h"
#include "vk_llama.h"

static struct vk_device *g_dev;
static int g_reps = 5;

static void die(const char *what) {
    fprintf(stderr, "bench_vk: %s: %s\n", what, vlkv_last_error());
    exit(1);
}

static struct vk_buffer buf(size_t n, const void *data) {
    struct vk_buffer b;
    if (vk_buffer_create(g_dev, n, VK_MEM_DEVICE, &b) != VLKV_OK) die("buffer");
    if (data && vk_buffer_write(g_dev, &b, 0, data, n) != VLKV_OK) die("upload");
    return b;
}

/* random bytes with sane f16 scales are enough for timing: fill the whole weight with small
 * f16 values (every 16-bit word a finite number), which is a valid block for every type */
static void *rand_weights(size_t n) {
    uint16_t *w = malloc(n + 2);
    if (!w) die("malloc");
    uint32_t s = 12345;
    for (size_t i = 0; i < n / 2 + 1; i++) {
        s = s * 1664525u + 1013904223u;
        w[i] = vlkv_f32_to_f16(((float)(s >> 8) / 16777216.0f - 0.5f) * 0.02f);
    }
    return w;
}

static double time_ms(vlkv_status (*fn)(void *), void *arg) {
    /* warm-up (pipeline creation) */
    if (vk_begin(g_dev) != VLKV_OK || fn(arg) != VLKV_OK || vk_submit(g_dev) != VLKV_OK) die("warm-up");
    double t0 = vlkv_time_ms();
    if (vk_begin(g_dev) != VLKV_OK) die("begin");
    for (int r = 0; r < g_reps; r++)
        if (fn(arg) != VLKV_OK) die("record");
    if (vk_submit(g_dev) != VLKV_OK) die("submit");
    return (vlkv_time_ms() - t0) / g_reps;
}

struct mm_args { enum vlkv_type type; struct vk_buffer *w, *x, *y; uint32_t K, M, N; };
static vlkv_status run_mm(void *p) {
    struct mm_args *a = p;
    return vk_op_matmul(g_dev, a->type, vk_ref_of(a->w), vk_ref_of(a->x), vk_ref_of(a->y), a->K, a->M, a->N);
}

struct attn_args { struct vk_buffer *q, *k, *v, *o, *s, *t, *ph, *col; uint32_t n_q, n_kv, H, Hkv, D; int stats; };
static vlkv_status run_attn(void *p) {
    struct attn_args *a = p;
    if (a->stats)
        return vk_op_attn_stats(g_dev, VLKV_TYPE_F16, vk_ref_of(a->q), vk_ref_of(a->k), vk_ref_of(a->t),
                                vk_ref_of(a->ph), vk_ref_of(a->col), a->n_q, a->n_kv, a->H, a->Hkv, a->D, 0, a->n_q);
    return vk_op_attention(g_dev, VLKV_TYPE_F16, vk_ref_of(a->q), vk_ref_of(a->k), vk_ref_of(a->v), vk_ref_of(a->o),
                           vk_ref_of(a->s), vk_ref_of(a->t), a->n_q, a->n_kv, a->H, a->Hkv, a->D, 1);
}

static vlkv_status run_nothing(void *p) {
    (void)p;
    return VLKV_OK;
}

/* whole-decoder timings: Vulkan vs CPU on the same model and tokens */
static void bench_model(const char *path, int n_prompt, int n_gen) {
    vlkv_model *model = NULL;
    if (vlkv_model_load(path, NULL, &model) != VLKV_OK) die("model");
    const struct vlkv_model *m = model;
    const int V = m->hp.n_vocab, n_ctx = n_prompt + n_gen;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n_ctx), *pos = malloc(sizeof(int32_t) * (size_t)n_ctx);
    uint8_t *mod = calloc((size_t)n_ctx, 1);
    float *lv = malloc(sizeof(float) * (size_t)V), *lc = malloc(sizeof(float) * (size_t)V);
    if (!tok || !pos || !mod || !lv || !lc) die("malloc");
    for (int i = 0; i < n_ctx; i++) {
        tok[i] = (i * 37 + 11) % V;
        pos[i] = i;
    }
    struct vk_llama g;
    double t0 = vlkv_time_ms();
    if (vk_llama_init(&g, g_dev, m, n_ctx, n_prompt, VLKV_TYPE_F16) != VLKV_OK) die("vk_llama_init");
    const double up_ms = vlkv_time_ms() - t0;
    struct vlkv_ops_ctx o;
    struct vlkv_llama_buf b;
    struct vlkv_kv_cache kv;
    vlkv_ops_init(&o, vlkv_n_cores());
    if (vlkv_ops_reserve(&o, vlkv_llama_wsize(&o, m, n_prompt)) != VLKV_OK ||
        vlkv_llama_buf_init(&b, m, n_prompt) != VLKV_OK ||
        vlkv_kv_cache_init(&kv, m->hp.n_layer, m->hp.n_head_kv, m->hp.d_head, n_ctx, VLKV_TYPE_F16) != VLKV_OK)
        die("cpu init");
    struct vlkv_llama_batch bp = {n_prompt, tok, NULL, pos, mod};
    double pp[2], tg[2], e = 0;
    for (int be = 0; be < 2; be++) {   /* 0 = vulkan, 1 = cpu */
        t0 = vlkv_time_ms();
        vlkv_status st = be == 0 ? vk_llama_forward(&g, &bp, NULL, lv, 0)
                                 : vlkv_llama_forward(m, &o, &b, &kv, &bp, NULL, lc, 0);
        if (st != VLKV_OK) die("prefill");
        pp[be] = vlkv_time_ms() - t0;
        t0 = vlkv_time_ms();
        for (int t = n_prompt; t < n_ctx; t++) {
            struct vlkv_llama_batch b1 = {1, tok + t, NULL, pos + t, mod + t};
            st = be == 0 ? vk_llama_forward(&g, &b1, NULL, lv, 0) : vlkv_llama_forward(m, &o, &b, &kv, &b1, NULL, lc, 0);
            if (st != VLKV_OK) die("decode");
        }
        tg[be] = vlkv_time_ms() - t0;
    }
    double num = 0, den = 0;
    for (int i = 0; i < V; i++) {
        num += ((double)lv[i] - lc[i]) * ((double)lv[i] - lc[i]);
        den += (double)lc[i] * lc[i];
    }
    e = den > 0 ? num / den : num;
    printf("\nmodel %s (%s), weights uploaded in %.0f ms\n", path, m->desc, up_ms);
    printf("%-8s %10s %10s\n", "backend", "pp t/s", "tg t/s");
    printf("%-8s %10.2f %10.2f\n", "vulkan", n_prompt / pp[0] * 1e3, n_gen > 0 ? n_gen / tg[0] * 1e3 : 0.0);
    printf("%-8s %10.2f %10.2f\n", "cpu", n_prompt / pp[1] * 1e3, n_gen > 0 ? n_gen / tg[1] * 1e3 : 0.0);
    printf("last logits vulkan vs cpu: nmse %.3g\n", e);
    vk_llama_free(&g);
    vlkv_kv_cache_free(&kv);
    vlkv_llama_buf_free(&b);
    vlkv_ops_free(&o);
    vlkv_model_free(model);
    free(tok); free(pos); free(mod); free(lv); free(lc);
}

int main(int argc, char **argv) {
    int device = -1, quick = 0, n_prompt = 128, n_gen = 16;
    const char *model_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) device = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) g_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) n_prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) n_gen = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_vk [--device N] [--quick] [--reps N] [-m MODEL.gguf [-p N] [-n N]]\n");
            return 2;
        }
    }
    if (g_reps < 1) g_reps = 1;
    if (device < 0 && !getenv("VLKV_VK_DEVICE")) {
        struct vk_device_caps devs[VK_MAX_DEVICES];
        int n = 0, pick = -1;
        if (vk_list_devices(devs, VK_MAX_DEVICES, &n) != VLKV_OK || n == 0) {
            printf("bench_vk: no Vulkan device\n");
            return 0;
        }
        if (vk_select_device(devs, n, -1, &pick) != VLKV_OK)
            for (int i = 0; i < n && pick < 0; i++)
                if (devs[i].usable) pick = i;   /* lavapipe, explicitly */
        device = pick;
    }
    if (vk_device_open(device, &g_dev) != VLKV_OK) die("device");
    const struct vk_device_caps *c = &g_dev->caps;
    printf("device %d: %s (%s, %s), %.1f GiB device-local%s, fp16 %d, subgroup %u\n", c->index, c->name,
           vk_device_type_name(c->type), c->driver, (double)c->device_local_bytes / (1 << 30), c->uma ? " (UMA)" : "",
           c->fp16, c->subgroup_size);
    if (c->type == VK_PHYSICAL_DEVICE_TYPE_CPU) printf("note: CPU implementation - these numbers only prove the path\n");

    printf("empty submit: %.3f ms\n", time_ms(run_nothing, NULL) * g_reps);
    if (model_path) {
        if (n_prompt < 1 || n_gen < 0) {
            fprintf(stderr, "bench_vk: -p must be >= 1 and -n >= 0\n");
            return 2;
        }
        bench_model(model_path, n_prompt, n_gen);
        vk_device_close(g_dev);
        return 0;
    }

    const uint32_t K = quick ? 1024 : 4096, M = quick ? 1024 : 4096;
    static const enum vlkv_type types[] = {VLKV_TYPE_F32, VLKV_TYPE_F16, VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_0,
                                           VLKV_TYPE_Q4_K, VLKV_TYPE_Q5_K, VLKV_TYPE_Q6_K};
    float *x = calloc((size_t)K * 512, sizeof(float));
    if (!x) die("malloc");
    for (size_t i = 0; i < (size_t)K * 512; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    const uint32_t N = quick ? 64 : 512;
    struct vk_buffer bx = buf(sizeof(float) * K * N, x), by = buf(sizeof(float) * M * N, NULL);
    printf("\n%-8s %-6s %6s %6s %5s %10s %10s\n", "op", "type", "K", "M", "N", "ms", "rate");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t wbytes = vlkv_row_size(types[t], K) * M;
        void *w = rand_weights(wbytes);
        struct vk_buffer bw = buf(wbytes, w);
        free(w);
        struct mm_args a = {types[t], &bw, &bx, &by, K, M, 1};
        double ms = time_ms(run_mm, &a);
        printf("%-8s %-6s %6u %6u %5u %10.3f %7.2f GB/s\n", "matvec", vlkv_type_name(types[t]), K, M, 1, ms,
               (double)wbytes / ms / 1e6);
        if (types[t] == VLKV_TYPE_F16 || types[t] == VLKV_TYPE_Q8_0 || types[t] == VLKV_TYPE_Q4_K) {
            a.N = N;
            ms = time_ms(run_mm, &a);
            printf("%-8s %-6s %6u %6u %5u %10.3f %7.2f GFLOP/s\n", "matmul", vlkv_type_name(types[t]), K, M, N, ms,
                   2.0 * K * M * N / ms / 1e6);
        }
        vk_buffer_destroy(g_dev, &bw);
    }

    /* attention of a decode token and of a prefill chunk over a LLaVA-sized prompt (7B heads) */
    const uint32_t H = quick ? 8 : 32, D = 128, n_kv = quick ? 256 : 650;
    const uint32_t nq_list[2] = {1, quick ? 32 : 128};
    void *kv = rand_weights((size_t)n_kv * H * D * 2);
    float *q = calloc((size_t)nq_list[1] * H * D, sizeof(float));
    if (!q) die("malloc");
    for (size_t i = 0; i < (size_t)nq_list[1] * H * D; i++) q[i] = (float)((i * 31) % 97) / 97.0f - 0.5f;
    struct vk_buffer bk = buf((size_t)n_kv * H * D * 2, kv), bv = buf((size_t)n_kv * H * D * 2, kv);
    struct vk_buffer bq = buf(sizeof(float) * nq_list[1] * H * D, q), bo = buf(sizeof(float) * nq_list[1] * H * D, NULL);
    struct vk_buffer bs = buf(sizeof(float) * nq_list[1] * H * n_kv, NULL), bt = buf(sizeof(float) * nq_list[1] * H * 2, NULL);
    struct vk_buffer bph = buf(sizeof(float) * H * n_kv, NULL), bc = buf(sizeof(float) * n_kv, NULL);
    printf("\n%-10s %5s %5s %4s %4s %10s\n", "op", "n_q", "n_kv", "H", "D", "ms");
    for (int i = 0; i < 2; i++) {
        struct attn_args a = {&bq, &bk, &bv, &bo, &bs, &bt, &bph, &bc, nq_list[i], n_kv, H, H, D, 0};
        printf("%-10s %5u %5u %4u %4u %10.3f\n", "attention", a.n_q, n_kv, H, D, time_ms(run_attn, &a));
        a.stats = 1;
        printf("%-10s %5u %5u %4u %4u %10.3f\n", "attn_stats", a.n_q, n_kv, H, D, time_ms(run_attn, &a));
    }
    struct vk_buffer *all[] = {&bx, &by, &bk, &bv, &bq, &bo, &bs, &bt, &bph, &bc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vk_buffer_destroy(g_dev, all[i]);
    free(x); free(q); free(kv);
    vk_device_close(g_dev);
    return 0;
}
#endif
