/* test_mkmodel.c - synthetic models load with the strict reader and have llama.cpp's keys,
 * tensor names, shapes and types (formats.md §3.1-3.2, §4.1, §5.1-5.2); the Q4_K_M preset
 * follows use_more_bits; row-length fallbacks and overrides work; weights have the promised
 * statistics; output is deterministic (same seed -> same bytes, for any thread count) and
 * seed-dependent; bad shapes are rejected. */
#define _POSIX_C_SOURCE 200809L   /* popen */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gguf.h"
#include "mkmodel.h"
#include "test_util.h"
#include "tokenizer.h"
#include "types.h"

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static uint32_t get_u32(const struct gguf_file *f, const char *key) {
    uint32_t v = 0xDEADBEEF;
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    CHECK_MSG(kv && kv->type == GGUF_U32, "%s missing or not u32", key);
    vlkv_gguf_get_u32(f, key, &v);
    return v;
}

static void check_tensor(const struct gguf_file *f, const char *name, uint32_t type, int n_dims, int64_t ne0,
                         int64_t ne1, int64_t ne2, int64_t ne3) {
    const struct vlkv_tensor *t = vlkv_gguf_find_tensor(f, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t) return;
    CHECK_MSG(t->type == type, "%s: type %s, want %s", name, vlkv_type_name(t->type), vlkv_type_name(type));
    CHECK_MSG(t->n_dims == n_dims && t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == ne2 && t->ne[3] == ne3,
              "%s: shape [%lld %lld %lld %lld] n_dims %d", name, (long long)t->ne[0], (long long)t->ne[1],
              (long long)t->ne[2], (long long)t->ne[3], t->n_dims);
}

/* mean and std of a tensor after dequantization */
static void tensor_stats(const struct vlkv_tensor *t, double *mean, double *sd, double *amax) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t->type);
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *x = malloc((size_t)n * sizeof *x);
    tr->to_float(t->data, x, n);
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        if (fabs(x[i]) > m) m = fabs(x[i]);
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
    *amax = m;
    free(x);
}

static void test_llama_default(void) {
    const char *path = "test_mkmodel_llama.gguf";
    struct vlkv_mkmodel_params p = vlkv_mkmodel_params_default();
    p.n_head_kv = 2;   /* GQA */
    p.n_vocab = 1300;  /* room for every built-in word piece (~1240) plus [PADi] fillers */
    vlkv_status st = vlkv_mkmodel_llama(path, &p);
    CHECK_MSG(st == VLKV_OK, "mkmodel: %s", vlkv_last_error());
    struct gguf_file f;
    st = vlkv_gguf_open(path, &f);
    CHECK_MSG(st == VLKV_OK, "open: %s", vlkv_last_error());
    if (st != VLKV_OK) return;
    char s[64];
    CHECK(vlkv_gguf_get_str(&f, "general.architecture", s, sizeof s) && !strcmp(s, "llama"));
    CHECK(get_u32(&f, "llama.context_length") == 2048);
    CHECK(get_u32(&f, "llama.embedding_length") == 256);
    CHECK(get_u32(&f, "llama.block_count") == 2);
    CHECK(get_u32(&f, "llama.feed_forward_length") == 512);
    CHECK(get_u32(&f, "llama.attention.head_count") == 4);
    CHECK(get_u32(&f, "llama.attention.head_count_kv") == 2);
    CHECK(get_u32(&f, "llama.rope.dimension_count") == 64);
    CHECK(get_u32(&f, "general.file_type") == 0);
    CHECK(vlkv_gguf_find_kv(&f, "general.quantization_version") == NULL);   /* F32: not quantized */
    float x;
    CHECK(vlkv_gguf_get_f32(&f, "llama.attention.layer_norm_rms_epsilon", &x) && x == 1e-5f);
    CHECK(vlkv_gguf_get_f32(&f, "llama.rope.freq_base", &x) && x == 10000.0f);
    CHECK(vlkv_gguf_get_str(&f, "tokenizer.ggml.model", s, sizeof s) && !strcmp(s, "llama"));
    const struct gguf_kv *kv = vlkv_gguf_find_kv(&f, "tokenizer.ggml.tokens");
    CHECK(kv && kv->arr_n == 1300);
    kv = vlkv_gguf_find_kv(&f, "tokenizer.ggml.token_type");
    CHECK(kv && kv->arr_type == GGUF_I32 && kv->arr_n == 1300);   /* INT32, as gguf_writer.py writes ints */
    kv = vlkv_gguf_find_kv(&f, "tokenizer.ggml.scores");
    CHECK(kv && kv->arr_type == GGUF_F32 && kv->arr_n == 1300);

    /* tensors, formats.md §3.2 (E=256, F=512, V=1300, Hd=64, Hkv=2) */
    CHECK(f.n_tensors == 1 + 2 * 9 + 2);
    check_tensor(&f, "token_embd.weight", VLKV_TYPE_F32, 2, 256, 1300, 1, 1);
    check_tensor(&f, "output_norm.weight", VLKV_TYPE_F32, 1, 256, 1, 1, 1);
    check_tensor(&f, "output.weight", VLKV_TYPE_F32, 2, 256, 1300, 1, 1);
    for (int il = 0; il < 2; il++) {
        char n[64];
#define T(suffix, ty, nd, a, b) snprintf(n, sizeof n, "blk.%d." suffix, il); check_tensor(&f, n, ty, nd, a, b, 1, 1)
        T("attn_norm.weight", VLKV_TYPE_F32, 1, 256, 1);
        T("attn_q.weight", VLKV_TYPE_F32, 2, 256, 256);
        T("attn_k.weight", VLKV_TYPE_F32, 2, 256, 128);
        T("attn_v.weight", VLKV_TYPE_F32, 2, 256, 128);
        T("attn_output.weight", VLKV_TYPE_F32, 2, 256, 256);
        T("ffn_norm.weight", VLKV_TYPE_F32, 1, 256, 1);
        T("ffn_gate.weight", VLKV_TYPE_F32, 2, 256, 512);
        T("ffn_up.weight", VLKV_TYPE_F32, 2, 256, 512);
        T("ffn_down.weight", VLKV_TYPE_F32, 2, 512, 256);
#undef T
    }
    /* weight statistics: uniform with std 1/sqrt(fan_in); norms 1 +- 0.05 */
    double mean, sd, amax;
    tensor_stats(vlkv_gguf_find_tensor(&f, "blk.0.ffn_down.weight"), &mean, &sd, &amax);
    CHECK_NEAR(sd, 1.0 / sqrt(512.0), 0.05 / sqrt(512.0));
    CHECK(fabs(mean) < 0.01 / sqrt(512.0) * 10);
    CHECK(amax <= sqrt(3.0 / 512.0) * 1.0001);
    tensor_stats(vlkv_gguf_find_tensor(&f, "blk.1.attn_norm.weight"), &mean, &sd, &amax);
    CHECK_NEAR(mean, 1.0, 0.01);
    CHECK(amax <= 1.05 + 1e-6 && sd > 0.01);
    /* different tensors get different values */
    const struct vlkv_tensor *q0 = vlkv_gguf_find_tensor(&f, "blk.0.attn_q.weight");
    const struct vlkv_tensor *q1 = vlkv_gguf_find_tensor(&f, "blk.1.attn_q.weight");
    CHECK(q0 && q1 && memcmp(q0->data, q1->data, q0->nbytes) != 0);

    /* the vocabulary works with the tokenizer: common words are whole tokens */
    struct vlkv_tokenizer *tok = NULL;
    st = vlkv_tokenizer_load(&f, &tok);
    CHECK_MSG(st == VLKV_OK, "tokenizer: %s", vlkv_last_error());
    if (tok) {
        int32_t ids[32];
        const char *text = "the red circle\nis";
        int32_t n = vlkv_tokenizer_encode(tok, text, strlen(text), 1, 1, ids, 32);
        /* BOS ▁the ▁red ▁circle <0x0A> is */
        CHECK_MSG(n == 6, "n = %d", n);
        if (n == 6) {
            CHECK(ids[0] == 1 && ids[4] == 13);
            size_t len;
            const char *t = vlkv_tokenizer_text(tok, ids[1], &len);
            CHECK(len == 6 && !memcmp(t, "\xe2\x96\x81the", 6));
            t = vlkv_tokenizer_text(tok, ids[3], &len);
            CHECK(len == 9 && !memcmp(t, "\xe2\x96\x81" "circle", 9));
            t = vlkv_tokenizer_text(tok, ids[5], &len);
            CHECK(len == 2 && !memcmp(t, "is", 2));
        }
        char buf[32];
        CHECK(vlkv_tokenizer_piece(tok, 3 + 'Q', buf, sizeof buf) == 1 && buf[0] == 'Q');
        size_t len;
        const char *t = vlkv_tokenizer_text(tok, 1299, &len);
        CHECK(t && len == 9 && !memcmp(t, "[PAD1299]", 9) && vlkv_tokenizer_type(tok, 1299) == VLKV_TOKEN_UNUSED);
        vlkv_tokenizer_free(tok);
    }
    vlkv_gguf_close(&f);
    remove(path);
}

static void test_determinism(void) {
    struct vlkv_mkmodel_params p = vlkv_mkmodel_params_default();
    p.n_layer = 1;
    p.n_embd = 128;
    p.n_ff = 8192;      /* 128 x 8192 = 1M elements: big enough for the threaded path */
    p.n_vocab = 300;
    p.type = VLKV_TYPE_Q4_0;
    p.seed = 42;
    CHECK(vlkv_mkmodel_llama("test_mkmodel_a.gguf", &p) == VLKV_OK);
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(nt > 1 ? 1 : 3);   /* a different thread count must not change the bytes */
#endif
    CHECK(vlkv_mkmodel_llama("test_mkmodel_b.gguf", &p) == VLKV_OK);
#ifdef _OPENMP
    omp_set_num_threads(nt);
#endif
    p.seed = 43;
    CHECK(vlkv_mkmodel_llama("test_mkmodel_c.gguf", &p) == VLKV_OK);
    CHECK(same_file("test_mkmodel_a.gguf", "test_mkmodel_b.gguf"));
    CHECK(!same_file("test_mkmodel_a.gguf", "test_mkmodel_c.gguf"));
    size_t na = 0, nc = 0;
    uint8_t *a = slurp("test_mkmodel_a.gguf", &na), *c = slurp("test_mkmodel_c.gguf", &nc);
    CHECK(a && c && na == nc);   /* same layout, different weights */
    free(a);
    free(c);
    struct gguf_file f;
    CHECK(vlkv_gguf_open("test_mkmodel_a.gguf", &f) == VLKV_OK);
    CHECK(get_u32(&f, "general.quantization_version") == 2);
    CHECK(get_u32(&f, "general.file_type") == 2);
    check_tensor(&f, "blk.0.attn_q.weight", VLKV_TYPE_Q4_0, 2, 128, 128, 1, 1);
    check_tensor(&f, "blk.0.ffn_norm.weight", VLKV_TYPE_F32, 1, 128, 1, 1, 1);
    double mean, sd, amax;
    tensor_stats(vlkv_gguf_find_tensor(&f, "blk.0.ffn_up.weight"), &mean, &sd, &amax);
    CHECK_NEAR(sd, 1.0 / sqrt(128.0), 0.12 / sqrt(128.0));   /* q4_0 adds quantization noise */
    vlkv_gguf_close(&f);
    remove("test_mkmodel_a.gguf");
    remove("test_mkmodel_b.gguf");
    remove("test_mkmodel_c.gguf");
}

static void test_types(void) {
    /* Q4_K_M preset on 8 layers: use_more_bits(i, 8) = i < 1 || i >= 7 || (i - 1) % 3 == 2 -> {0, 3, 6, 7} */
    const char *path = "test_mkmodel_q4km.gguf";
    struct vlkv_mkmodel_params p = vlkv_mkmodel_params_default();
    p.n_layer = 8;
    p.n_embd = 256;
    p.n_ff = 256;
    p.n_vocab = 320;
    p.ftype = VLKV_FTYPE_Q4_K_M;
    vlkv_status st = vlkv_mkmodel_llama(path, &p);
    CHECK_MSG(st == VLKV_OK, "%s", vlkv_last_error());
    struct gguf_file f;
    if (st == VLKV_OK && vlkv_gguf_open(path, &f) == VLKV_OK) {
        CHECK(get_u32(&f, "general.file_type") == 15);
        CHECK(get_u32(&f, "general.quantization_version") == 2);
        check_tensor(&f, "token_embd.weight", VLKV_TYPE_Q4_K, 2, 256, 320, 1, 1);
        check_tensor(&f, "output.weight", VLKV_TYPE_Q6_K, 2, 256, 320, 1, 1);
        for (int il = 0; il < 8; il++) {
            int more = il == 0 || il == 3 || il == 6 || il == 7;
            char n[64];
            snprintf(n, sizeof n, "blk.%d.attn_v.weight", il);
            check_tensor(&f, n, more ? VLKV_TYPE_Q6_K : VLKV_TYPE_Q4_K, 2, 256, 256, 1, 1);
            snprintf(n, sizeof n, "blk.%d.ffn_down.weight", il);
            check_tensor(&f, n, more ? VLKV_TYPE_Q6_K : VLKV_TYPE_Q4_K, 2, 256, 256, 1, 1);
            snprintf(n, sizeof n, "blk.%d.attn_q.weight", il);
            check_tensor(&f, n, VLKV_TYPE_Q4_K, 2, 256, 256, 1, 1);
            snprintf(n, sizeof n, "blk.%d.attn_norm.weight", il);
            check_tensor(&f, n, VLKV_TYPE_F32, 1, 256, 1, 1, 1);
        }
        vlkv_gguf_close(&f);
    }
    remove(path);

    /* explicit types, row-length fallback and overrides; tied output */
    p = vlkv_mkmodel_params_default();
    p.n_embd = 96;           /* 96 % 256 != 0: q4_K falls back to q5_0 (llama.cpp rule) */
    p.n_head = 3;
    p.n_ff = 256;
    p.n_vocab = 300;
    p.type = VLKV_TYPE_Q4_K;
    p.type_embd = VLKV_TYPE_Q8_0;
    p.overrides = "attn_v=q8_0,ffn_up=f16,blk.1.attn_q=f32";
    p.tied = 1;
    CHECK(vlkv_mkmodel_tensor_type(&p, "blk.0.ffn_down.weight", 0, 256) == VLKV_TYPE_Q4_K);
    CHECK(vlkv_mkmodel_tensor_type(&p, "blk.0.attn_q.weight", 0, 96) == VLKV_TYPE_Q5_0);
    CHECK(vlkv_mkmodel_tensor_type(&p, "blk.0.attn_norm.weight", 0, 96) == VLKV_TYPE_F32);
    st = vlkv_mkmodel_llama(path, &p);
    CHECK_MSG(st == VLKV_OK, "%s", vlkv_last_error());
    if (st == VLKV_OK && vlkv_gguf_open(path, &f) == VLKV_OK) {
        CHECK(vlkv_gguf_find_tensor(&f, "output.weight") == NULL);
        check_tensor(&f, "token_embd.weight", VLKV_TYPE_Q8_0, 2, 96, 300, 1, 1);
        check_tensor(&f, "blk.0.attn_q.weight", VLKV_TYPE_Q5_0, 2, 96, 96, 1, 1);
        check_tensor(&f, "blk.1.attn_q.weight", VLKV_TYPE_F32, 2, 96, 96, 1, 1);
        check_tensor(&f, "blk.0.attn_v.weight", VLKV_TYPE_Q8_0, 2, 96, 96, 1, 1);
        check_tensor(&f, "blk.0.ffn_up.weight", VLKV_TYPE_F16, 2, 96, 256, 1, 1);
        check_tensor(&f, "blk.0.ffn_down.weight", VLKV_TYPE_Q4_K, 2, 256, 96, 1, 1);
        vlkv_gguf_close(&f);
    }
    remove(path);

    /* every writable weight type round-trips through the reader */
    static const int32_t types[] = {VLKV_TYPE_F32, VLKV_TYPE_F16, VLKV_TYPE_BF16, VLKV_TYPE_Q4_0, VLKV_TYPE_Q4_1,
                                    VLKV_TYPE_Q5_0, VLKV_TYPE_Q5_1, VLKV_TYPE_Q8_0, VLKV_TYPE_Q4_K, VLKV_TYPE_Q5_K,
                                    VLKV_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        p = vlkv_mkmodel_params_default();
        p.n_layer = 1;
        p.n_ff = 256;
        p.n_vocab = 260;
        p.type = types[i];
        st = vlkv_mkmodel_llama(path, &p);
        CHECK_MSG(st == VLKV_OK, "%s: %s", vlkv_type_name((uint32_t)types[i]), vlkv_last_error());
        if (st == VLKV_OK && vlkv_gguf_open(path, &f) == VLKV_OK) {
            check_tensor(&f, "blk.0.ffn_gate.weight", (uint32_t)types[i], 2, 256, 256, 1, 1);
            double mean, sd, amax;
            tensor_stats(vlkv_gguf_find_tensor(&f, "blk.0.ffn_gate.weight"), &mean, &sd, &amax);
            CHECK_MSG(fabs(sd - 1.0 / 16) < 0.15 / 16, "%s: std %g", vlkv_type_name((uint32_t)types[i]), sd);
            vlkv_gguf_close(&f);
        }
        remove(path);
    }

    /* bad parameters */
    p = vlkv_mkmodel_params_default();
    p.n_head = 3;   /* 256 % 3 != 0 */
    CHECK(vlkv_mkmodel_llama(path, &p) == VLKV_ERR_INVALID_ARG);
    p = vlkv_mkmodel_params_default();
    p.n_head_kv = 3;
    CHECK(vlkv_mkmodel_llama(path, &p) == VLKV_ERR_INVALID_ARG);
    p = vlkv_mkmodel_params_default();
    p.n_vocab = 100;
    CHECK(vlkv_mkmodel_llama(path, &p) == VLKV_ERR_INVALID_ARG);
    p = vlkv_mkmodel_params_default();
    p.type = VLKV_TYPE_Q2_K;   /* no quantizer */
    CHECK(vlkv_mkmodel_llama(path, &p) == VLKV_ERR_INVALID_ARG);
    p = vlkv_mkmodel_params_default();
    p.overrides = "attn_v";
    CHECK(vlkv_mkmodel_llama(path, &p) == VLKV_ERR_INVALID_ARG);
    p.overrides = "attn_v=q9_9";
    CHECK(vlkv_mkmodel_llama(path, &p) == VLKV_ERR_INVALID_ARG);
    p = vlkv_mkmodel_params_default();
    CHECK(vlkv_mkmodel_llama("no-such-dir/m.gguf", &p) == VLKV_ERR_IO);
    CHECK(strstr(vlkv_last_error(), "no-such-dir/m.gguf") != NULL);
}

static void test_clip(void) {
    const char *path = "test_mkmodel_clip.gguf";
    struct vlkv_mkmodel_clip_params p = vlkv_mkmodel_clip_params_default();
    p.n_proj_hidden = 128;
    vlkv_status st = vlkv_mkmodel_clip(path, &p);
    CHECK_MSG(st == VLKV_OK, "%s", vlkv_last_error());
    struct gguf_file f;
    if (st == VLKV_OK && vlkv_gguf_open(path, &f) == VLKV_OK) {
        char s[64];
        int b;
        CHECK(vlkv_gguf_get_str(&f, "general.architecture", s, sizeof s) && !strcmp(s, "clip"));
        CHECK(vlkv_gguf_get_str(&f, "clip.projector_type", s, sizeof s) && !strcmp(s, "mlp"));
        CHECK(vlkv_gguf_get_bool(&f, "clip.has_vision_encoder", &b) && b == 1);
        CHECK(vlkv_gguf_get_bool(&f, "clip.has_llava_projector", &b) && b == 1);
        CHECK(vlkv_gguf_get_bool(&f, "clip.has_text_encoder", &b) && b == 0);
        CHECK(vlkv_gguf_get_bool(&f, "clip.use_gelu", &b) && b == 0);
        CHECK(get_u32(&f, "clip.vision.image_size") == 32);
        CHECK(get_u32(&f, "clip.vision.patch_size") == 8);
        CHECK(get_u32(&f, "clip.vision.embedding_length") == 64);
        CHECK(get_u32(&f, "clip.vision.feed_forward_length") == 256);
        CHECK(get_u32(&f, "clip.vision.attention.head_count") == 4);
        CHECK(get_u32(&f, "clip.vision.block_count") == 2);
        CHECK(get_u32(&f, "general.file_type") == 1);
        float x;
        CHECK(vlkv_gguf_get_f32(&f, "clip.vision.attention.layer_norm_epsilon", &x) && x == 1e-5f);
        const struct gguf_kv *kv = vlkv_gguf_find_kv(&f, "clip.vision.image_mean");
        CHECK(kv && kv->arr_n == 3 && vlkv_gguf_arr_f32(kv, 0, &x) && x == 0.48145466f);
        kv = vlkv_gguf_find_kv(&f, "clip.vision.image_std");
        CHECK(kv && kv->arr_n == 3 && vlkv_gguf_arr_f32(kv, 2, &x) && x == 0.27577711f);
        /* 5 embedding/pre-LN + 16 per block + 4 projector (formats.md §5.2) */
        CHECK(f.n_tensors == 5 + 16 * 2 + 4);
        check_tensor(&f, "v.patch_embd.weight", VLKV_TYPE_F16, 4, 8, 8, 3, 64);
        check_tensor(&f, "v.class_embd", VLKV_TYPE_F32, 1, 64, 1, 1, 1);
        check_tensor(&f, "v.position_embd.weight", VLKV_TYPE_F16, 2, 64, 17, 1, 1);
        check_tensor(&f, "v.pre_ln.weight", VLKV_TYPE_F32, 1, 64, 1, 1, 1);
        check_tensor(&f, "v.pre_ln.bias", VLKV_TYPE_F32, 1, 64, 1, 1, 1);
        check_tensor(&f, "v.blk.1.attn_q.weight", VLKV_TYPE_F16, 2, 64, 64, 1, 1);
        check_tensor(&f, "v.blk.1.attn_out.bias", VLKV_TYPE_F32, 1, 64, 1, 1, 1);
        check_tensor(&f, "v.blk.0.ffn_down.weight", VLKV_TYPE_F16, 2, 64, 256, 1, 1);   /* fc1, swapped name */
        check_tensor(&f, "v.blk.0.ffn_down.bias", VLKV_TYPE_F32, 1, 256, 1, 1, 1);
        check_tensor(&f, "v.blk.0.ffn_up.weight", VLKV_TYPE_F16, 2, 256, 64, 1, 1);     /* fc2 */
        check_tensor(&f, "v.blk.0.ffn_up.bias", VLKV_TYPE_F32, 1, 64, 1, 1, 1);
        check_tensor(&f, "v.blk.0.ln2.bias", VLKV_TYPE_F32, 1, 64, 1, 1, 1);
        check_tensor(&f, "mm.0.weight", VLKV_TYPE_F16, 2, 64, 128, 1, 1);
        check_tensor(&f, "mm.0.bias", VLKV_TYPE_F32, 1, 128, 1, 1, 1);
        check_tensor(&f, "mm.2.weight", VLKV_TYPE_F16, 2, 128, 256, 1, 1);
        check_tensor(&f, "mm.2.bias", VLKV_TYPE_F32, 1, 256, 1, 1, 1);
        CHECK(vlkv_gguf_find_tensor(&f, "v.post_ln.weight") == NULL);
        vlkv_gguf_close(&f);
    }
    /* quantized mmproj: 2-D weights and the position embedding Q8_0, patch conv stays F16 */
    p = vlkv_mkmodel_clip_params_default();
    p.type = VLKV_TYPE_Q8_0;
    p.n_embd = 96;
    p.n_head = 3;
    p.n_ff = 200;   /* 200 % 32 != 0: fc2 (ne0 = 200) falls back to F16 */
    st = vlkv_mkmodel_clip(path, &p);
    CHECK_MSG(st == VLKV_OK, "%s", vlkv_last_error());
    if (st == VLKV_OK && vlkv_gguf_open(path, &f) == VLKV_OK) {
        CHECK(get_u32(&f, "general.file_type") == 7);
        CHECK(get_u32(&f, "general.quantization_version") == 2);
        check_tensor(&f, "v.position_embd.weight", VLKV_TYPE_Q8_0, 2, 96, 17, 1, 1);
        check_tensor(&f, "v.patch_embd.weight", VLKV_TYPE_F16, 4, 8, 8, 3, 96);
        check_tensor(&f, "v.blk.0.ffn_down.weight", VLKV_TYPE_Q8_0, 2, 96, 200, 1, 1);
        check_tensor(&f, "v.blk.0.ffn_up.weight", VLKV_TYPE_F16, 2, 200, 96, 1, 1);
        vlkv_gguf_close(&f);
    }
    p = vlkv_mkmodel_clip_params_default();
    p.patch_size = 7;   /* 32 % 7 != 0 */
    CHECK(vlkv_mkmodel_clip(path, &p) == VLKV_ERR_INVALID_ARG);
    remove(path);
}

/* the CLI: `vlkv mkmodel` flags reach the same parameters (identical bytes), `vlkv info` prints
 * keys and tensors, and rejects a bad file with exit status 1 and the file name on stderr */
static int run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(void) {
    const char *bin = getenv("VLKV_BIN");
    if (!bin) {
        printf("test_mkmodel: VLKV_BIN not set, CLI checks skipped\n");
        return;
    }
    static char out[1 << 16];
    char cmd[1024];
    struct vlkv_mkmodel_params p = vlkv_mkmodel_params_default();
    p.seed = 7; p.n_layer = 3; p.n_embd = 128; p.n_ff = 384; p.n_head = 4; p.n_head_kv = 1; p.n_vocab = 400;
    p.type = VLKV_TYPE_Q8_0; p.type_output = VLKV_TYPE_Q6_K; p.overrides = "attn_k=f16,ffn_up=q4_0";
    CHECK(vlkv_mkmodel_llama("test_mkmodel_api.gguf", &p) == VLKV_OK);
    snprintf(cmd, sizeof cmd, "%s mkmodel -o test_mkmodel_cli.gguf --seed 7 --n-layer 3 --n-embd 128 --n-ff 384 "
             "--n-head 4 --n-head-kv 1 --n-vocab 400 --type q8_0 --type-output q6_K --override attn_k=f16 "
             "--override ffn_up=q4_0 2>&1", bin);
    CHECK_MSG(run(cmd, out, sizeof out) == 0, "%s", out);
    CHECK(same_file("test_mkmodel_api.gguf", "test_mkmodel_cli.gguf"));

    snprintf(cmd, sizeof cmd, "%s info test_mkmodel_cli.gguf 2>&1", bin);
    CHECK(run(cmd, out, sizeof out) == 0);
    CHECK(strstr(out, "llama.block_count") && strstr(out, "= 3"));
    CHECK(strstr(out, "arr[str,400]") && strstr(out, "\"<unk>\", \"<s>\", \"</s>\""));
    CHECK(strstr(out, "blk.2.attn_k.weight") && strstr(out, "[128, 32]"));
    CHECK(strstr(out, "tensors:    30") && strstr(out, "q4_0") && strstr(out, "f16"));   /* q6_K output -> q8_0 fallback (ne0 128) */

    struct vlkv_mkmodel_clip_params cp = vlkv_mkmodel_clip_params_default();
    cp.seed = 3; cp.image_size = 48; cp.patch_size = 16; cp.n_embd = 64; cp.n_layer = 1; cp.n_embd_out = 128;
    cp.type = VLKV_TYPE_Q4_0; cp.type_pos = VLKV_TYPE_F32; cp.use_gelu = 1;
    CHECK(vlkv_mkmodel_clip("test_mkmodel_api.gguf", &cp) == VLKV_OK);
    snprintf(cmd, sizeof cmd, "%s mkmodel --mmproj -o test_mkmodel_cli.gguf --seed 3 --image-size 48 --patch-size 16 "
             "--n-embd 64 --n-layer 1 --n-embd-out 128 --type q4_0 --type-pos f32 --use-gelu 2>&1", bin);
    CHECK_MSG(run(cmd, out, sizeof out) == 0, "%s", out);
    CHECK(same_file("test_mkmodel_api.gguf", "test_mkmodel_cli.gguf"));

    /* usage errors: exit 2 */
    snprintf(cmd, sizeof cmd, "%s mkmodel -o x.gguf --image-size 32 2>&1", bin);   /* mmproj flag without --mmproj */
    CHECK(run(cmd, out, sizeof out) == 2);
    snprintf(cmd, sizeof cmd, "%s mkmodel -o x.gguf --type q9 2>&1", bin);
    CHECK(run(cmd, out, sizeof out) == 2 && strstr(out, "q9"));

    /* info on a broken file: exit 1, the file and the problem named */
    FILE *f = fopen("test_mkmodel_bad.gguf", "wb");
    if (f) {
        fwrite("GGUF\x03\0\0\0\x01\0", 1, 10, f);   /* truncated header */
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "%s info test_mkmodel_bad.gguf 2>&1", bin);
    CHECK(run(cmd, out, sizeof out) == 1);
    CHECK_MSG(strstr(out, "test_mkmodel_bad.gguf") && strstr(out, "truncated"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s info no-such-file.gguf 2>&1", bin);
    CHECK(run(cmd, out, sizeof out) == 1 && strstr(out, "no-such-file.gguf"));
    remove("test_mkmodel_api.gguf");
    remove("test_mkmodel_cli.gguf");
    remove("test_mkmodel_bad.gguf");
}

static uint64_t fnv_file(const char *path) {
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; b && i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    free(b);
    return h;
}

/* The golden fixtures (tests/golden/) were computed from mkmodel output: its bytes are frozen.
 * These hashes of two F32 golden models (no quantizer involved) catch any change to the weight
 * generator, vocabulary, key order or layout; if they change on purpose, regenerate the goldens
 * (tests/ref/make_golden.py) and update the constants. */
static void test_frozen_bytes(void) {
    struct vlkv_mkmodel_params p = vlkv_mkmodel_params_default();
    p.n_layer = 2; p.n_embd = 256; p.n_ff = 512; p.n_head = 4; p.n_vocab = 512; p.seed = 7; p.type = VLKV_TYPE_F32;
    CHECK(vlkv_mkmodel_llama("test_mkmodel_frozen.gguf", &p) == VLKV_OK);
    uint64_t h = fnv_file("test_mkmodel_frozen.gguf");
    CHECK_MSG(h == 0xc8a29eb79d44cfe6ull, "llama f32 golden model bytes changed: fnv %016llx", (unsigned long long)h);
    struct vlkv_mkmodel_clip_params c = vlkv_mkmodel_clip_params_default();
    c.seed = 5; c.type = VLKV_TYPE_F32; c.type_patch = VLKV_TYPE_F32;
    CHECK(vlkv_mkmodel_clip("test_mkmodel_frozen.gguf", &c) == VLKV_OK);
    h = fnv_file("test_mkmodel_frozen.gguf");
    CHECK_MSG(h == 0xad6f4c5c060d3ccbull, "mmproj f32 golden model bytes changed: fnv %016llx", (unsigned long long)h);
    remove("test_mkmodel_frozen.gguf");
}

int main(void) {
    test_frozen_bytes();
    test_cli();
    test_llama_default();
    test_determinism();
    test_types();
    test_clip();
    return test_done("test_mkmodel");
}
