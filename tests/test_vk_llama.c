/* test_vk_llama.c - the LLaMA decoder forward on the Vulkan backend (vk_llama.c) against the CPU
 * forward (llama.c) on small random models written with tests/tiny_llama.h:
 *   - a prefill batch (all-position logits), then single-token decode steps (matvec path);
 *   - the attention statistics (column sums over chosen query rows) against the CPU observer;
 *   - the same with every weight split over several buffers (a lowered binding limit);
 *   - KV rewriting on the device (compaction, FIFO removal, O(1) swap removal, Elastic run
 *     merging) against kv_compact.c on the CPU cache, checked through the next decode's logits.
 * Device selection as in test_vk_ops.c (lavapipe explicitly when there is no GPU); 77 = skip.
 *
 * Tolerances. F32 weights: both sides do the same float math in a different order, and both
 * store K/V as F16, so an occasional K/V rounding flip (2^-11 relative) dominates: NMSE <= 1e-6.
 * Quantized weights: the CPU quantizes activations to Q8_0/Q8_K on the fly (~1e-4 NMSE per
 * matmul, ~1e-3 at the logits, see test_llama.c), the GPU multiplies dequantized weights by f32
 * activations; bound 5e-3. Statistics (column sums of probabilities): with F32 weights they differ
 * only through the propagated rounding (measured 1e-9 in the third layer): 1e-7; with quantized
 * weights the activation quantization moves the probabilities of later layers too: 5e-3. */
#include "test_util.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VLKV_HAVE_VULKAN
int main(void) {
    printf("test_vk_llama: built without Vulkan (VLKV_VULKAN=OFF), skipped\n");
    return 77;
}
#else
#include "llama.h"
#include "model.h"
#include "tiny_llama.h"
#include "vk_llama.h"
#include "vk_test_util.h"

static struct vk_device *g_dev;

enum { T = 24, N_CTX = 61 };   /* not a multiple of 4: row offsets must not rely on it */

struct col_acc {            /* CPU observer: column sums of rows [r0, r1) per layer and head */
    double *sum;            /* [n_layer][n_head][N_CTX]: heads may run concurrently */
    int32_t r0, r1, n_head;
};

static void obs_row(void *ud, int32_t il, int32_t ih, int32_t q_pos, int32_t q_slot, const float *p, int32_t n) {
    struct col_acc *a = ud;
    (void)q_pos;
    if (q_slot < a->r0 || q_slot >= a->r1) return;
    double *s = a->sum + ((size_t)il * a->n_head + ih) * N_CTX;
    for (int32_t j = 0; j < n; j++) s[j] += p[j];
}

struct cpu {
    struct vlkv_ops_ctx o;
    struct vlkv_llama_buf b;
    struct vlkv_kv_cache kv;
};

static int cpu_init(struct cpu *c, const struct vlkv_model *m, uint32_t kv_type) {
    vlkv_ops_init(&c->o, 2);
    if (vlkv_ops_reserve(&c->o, vlkv_llama_wsize(&c->o, m, T)) != VLKV_OK) return 0;
    if (vlkv_llama_buf_init(&c->b, m, T) != VLKV_OK) return 0;
    return vlkv_kv_cache_init(&c->kv, m->hp.n_layer, m->hp.n_head_kv, m->hp.d_head, N_CTX, kv_type) == VLKV_OK;
}

static void cpu_free(struct cpu *c) {
    vlkv_kv_cache_free(&c->kv);
    vlkv_llama_buf_free(&c->b);
    vlkv_ops_free(&c->o);
}

/* max_binding > 0: lower the device's binding limit so that weights are split into parts */
static void run_case(const char *label, struct tiny_cfg cfg, uint32_t kv_type, double tol, double stats_tol,
                     uint64_t max_binding) {
    char path[256];
    snprintf(path, sizeof path, "%s/test_vk_llama_%s.gguf", VLKV_BINARY_DIR, label);
    CHECK(tiny_llama_write(path, &cfg));
    vlkv_model *model = NULL;
    CHECK_MSG(vlkv_model_load(path, NULL, &model) == VLKV_OK, "%s: load: %s", label, vlkv_last_error());
    if (!model) return;
    const struct vlkv_model *m = model;
    const int V = m->hp.n_vocab, NL = m->hp.n_layer;

    struct cpu c;
    struct vk_llama g;
    CHECK_MSG(cpu_init(&c, m, kv_type), "cpu init: %s", vlkv_last_error());
    const uint64_t saved = g_dev->caps.max_sbuf_range;
    if (max_binding) g_dev->caps.max_sbuf_range = max_binding;
    vlkv_status st = vk_llama_init(&g, g_dev, m, N_CTX, T, kv_type);
    if (st == VLKV_OK && max_binding) CHECK(g.tok_embd.n_parts > 1 && g.layers[0].w_up.n_parts > 1);
    CHECK_MSG(st == VLKV_OK, "%s: vk_llama_init: %s", label, vlkv_last_error());
    if (st != VLKV_OK) {
        g_dev->caps.max_sbuf_range = saved;
        cpu_free(&c);
        vlkv_model_free(model);
        return;
    }

    int32_t tok[T], pos[T];
    uint8_t mod[T];
    for (int i = 0; i < T; i++) {
        tok[i] = i == 0 ? 1 : (i * 37 + 11) % V;
        pos[i] = i;
        mod[i] = i >= 4 && i < 14 ? VLKV_MOD_IMAGE : VLKV_MOD_SYSTEM;
    }
    float *lc = malloc(sizeof(float) * T * V), *lg = malloc(sizeof(float) * T * V);
    double *csum = calloc((size_t)NL * m->hp.n_head * N_CTX, sizeof(double));
    float *gcol = calloc((size_t)NL * N_CTX, sizeof(float)), *ccol = calloc((size_t)NL * N_CTX, sizeof(float));

    /* 1. prefill T-4 positions with statistics over rows [6, T-4) */
    const int P = T - 4;
    struct col_acc acc = {csum, 6, P, m->hp.n_head};
    struct vlkv_attn_observer obs = {obs_row, &acc};
    struct vlkv_llama_batch bt = {P, tok, NULL, pos, mod};
    CHECK(vlkv_llama_forward(m, &c.o, &c.b, &c.kv, &bt, &obs, lc, 1) == VLKV_OK);
    struct vk_llama_stats_req sr = {6, P, gcol, N_CTX};
    st = vk_llama_forward(&g, &bt, &sr, lg, 1);
    CHECK_MSG(st == VLKV_OK, "vk forward: %s", vlkv_last_error());
    double e = nmse(lg, lc, (int64_t)P * V);
    CHECK_MSG(e <= tol, "%s prefill: nmse %.3g > %.3g", label, e, tol);
    for (int il = 0; il < NL; il++)
        for (int j = 0; j < N_CTX; j++) {
            double t = 0;
            for (int h = 0; h < m->hp.n_head; h++) t += csum[((size_t)il * m->hp.n_head + h) * N_CTX + j];
            ccol[il * N_CTX + j] = (float)(t / m->hp.n_head);
        }
    double es = nmse(gcol, ccol, (int64_t)NL * N_CTX);
    CHECK_MSG(es <= stats_tol, "%s statistics: nmse %.3g > %.3g", label, es, stats_tol);
    CHECK(g.layers[0].len == P && g.layers[NL - 1].pos[P - 1] == P - 1 && g.layers[0].mod[5] == VLKV_MOD_IMAGE);
    printf("  %-6s prefill %d: logits nmse %.2e, column sums nmse %.2e\n", label, P, e, es);

    /* 2. decode 2 tokens one at a time (matvec path), last-position logits */
    double ed = 0;
    for (int t = P; t < P + 2; t++) {
        struct vlkv_llama_batch b1 = {1, tok + t, NULL, pos + t, mod + t};
        CHECK(vlkv_llama_forward(m, &c.o, &c.b, &c.kv, &b1, NULL, lc, 0) == VLKV_OK);
        CHECK(vk_llama_forward(&g, &b1, NULL, lg, 0) == VLKV_OK);
        ed = fmax(ed, nmse(lg, lc, V));
    }
    CHECK_MSG(ed <= tol, "%s decode: nmse %.3g", label, ed);

    /* 3. KV rewriting on both caches, then one more decode step must agree */
    int32_t keep[] = {0, 1, 2, 5, 6, 7, 8, 12, 15, 17, 19, 20, 21};
    const int32_t nk = (int32_t)VLKV_ARRAY_LEN(keep);
    vlkv_kv_compact(&c.kv, 0, keep, nk);
    CHECK(vk_llama_kv_compact(&g, 0, keep, nk) == VLKV_OK);
    vlkv_kv_remove(&c.kv, 1, 3);
    CHECK(vk_llama_kv_remove(&g, 1, 3) == VLKV_OK);
    int32_t anchor[] = {0, 2, 5, 9, 10};
    int32_t rb[] = {0, 1, 4, 8, 10}, re[] = {1, 4, 8, 10, 12};   /* slot 12.. dropped */
    int32_t seg[10];
    for (int i = 0; i < 5; i++) {
        seg[2 * i] = rb[i];
        seg[2 * i + 1] = re[i];
    }
    if (NL > 2) {
        CHECK(vlkv_kv_merge_runs(&c.kv, 2, anchor, rb, re, 5) == VLKV_OK);
        CHECK(vk_llama_kv_merge_runs(&g, 2, anchor, rb, re, 5) == VLKV_OK);
        (void)seg;
    }
    for (int il = 0; il < NL; il++) {
        CHECK_MSG(g.layers[il].len == c.kv.layers[il].len, "layer %d len %d vs %d", il, g.layers[il].len,
                  c.kv.layers[il].len);
        CHECK(!memcmp(g.layers[il].pos, c.kv.layers[il].pos, sizeof(int32_t) * (size_t)g.layers[il].len));
    }
    {
        struct vlkv_llama_batch b1 = {1, tok + P + 2, NULL, pos + P + 2, mod + P + 2};
        CHECK(vlkv_llama_forward(m, &c.o, &c.b, &c.kv, &b1, NULL, lc, 0) == VLKV_OK);
        CHECK(vk_llama_forward(&g, &b1, NULL, lg, 0) == VLKV_OK);
        double ek = nmse(lg, lc, V);
        CHECK_MSG(ek <= tol, "%s after compaction/removal/merge: nmse %.3g", label, ek);
        printf("  %-6s decode: nmse %.2e; after KV rewriting: nmse %.2e\n", label, ed, ek);
    }
    /* O(1) swap removal: same cache contents as a CPU remove followed by moving the last row */
    CHECK(vk_llama_kv_swap_remove(&g, 0, 4) == VLKV_OK);
    CHECK(g.layers[0].len == nk);   /* nk + 1 after the decode step, minus one */
    CHECK(g.layers[0].pos[4] == P + 2);

    /* 4. errors: context full, bad token */
    {
        int32_t bad = V + 5;
        struct vlkv_llama_batch b1 = {1, &bad, NULL, pos, mod};
        CHECK(vk_llama_forward(&g, &b1, NULL, lg, 0) == VLKV_ERR_INVALID_ARG);
        CHECK(vk_llama_kv_compact(&g, 0, (int32_t[]){3, 2}, 2) == VLKV_ERR_INVALID_ARG);
    }

    vk_llama_free(&g);
    g_dev->caps.max_sbuf_range = saved;
    cpu_free(&c);
    vlkv_model_free(model);
    remove(path);
    free(lc); free(lg); free(csum); free(gcol); free(ccol);
}

int main(void) {
    struct vk_device_caps devs[VK_MAX_DEVICES];
    int n = 0, pick = -1;
    pick = vk_test_pick_device("test_vk_llama", devs, &n);
    if (pick == VK_TEST_SKIP) return 77;
    if (pick < 0) return 1;
    if (vk_device_open(pick, &g_dev) != VLKV_OK) {
        fprintf(stderr, "test_vk_llama: %s\n", vlkv_last_error());
        return 1;
    }
    printf("test_vk_llama: device %d: %s\n", pick, g_dev->caps.name);

    struct tiny_cfg c = tiny_cfg_default();
    c.n_layer = 3;
    run_case("f32", c, VLKV_TYPE_F16, 1e-6, 1e-7, 0);
    run_case("kvf32", c, VLKV_TYPE_F32, 1e-9, 1e-9, 0);   /* F32 K/V on both sides: rounding only */
    run_case("split", c, VLKV_TYPE_F16, 1e-6, 1e-7, 128 * 1024);   /* weights in parts of <= 128 KiB */
    struct tiny_cfg q = c;
    q.type = VLKV_TYPE_Q4_K;
    q.type_output = VLKV_TYPE_Q6_K;
    q.tied = 0;
    run_case("q4_K", q, VLKV_TYPE_F16, 5e-3, 5e-3, 0);
    struct tiny_cfg t = c;
    t.type = VLKV_TYPE_Q8_0;
    t.tied = 1;                 /* output = token embedding (Q8_0 rows through get_rows) */
    t.n_head_kv = t.n_head;
    run_case("q8_0", t, VLKV_TYPE_F16, 5e-3, 5e-3, 0);
    vk_device_close(g_dev);
    return test_done("test_vk_llama");
}
#endif
