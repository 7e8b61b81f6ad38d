/* tiny_llama.h - test helper: write a small random llama GGUF with the GGUF writer (no mkmodel
 * needed), exactly in llama.cpp's layout (formats.md §3.1-§3.2), and read one back as F32
 * matrices through the reference dequantizers of types.c, for naive reference forwards that do
 * not touch ops.c / llama.c. Included by test_llama.c and test_api.c only. */
#ifndef VLKV_TINY_LLAMA_H
#define VLKV_TINY_LLAMA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "test_util.h"
#include "types.h"

struct tiny_cfg {
    int n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
    uint32_t type;        /* 2-D weights */
    uint32_t type_output; /* output.weight */
    int tied;             /* no output.weight */
    float rope_base;
    uint64_t seed;
    int defect;           /* 0 none; 1 blk.1.attn_k has the wrong shape; 2 blk.0.ffn_up missing;
                             3 blk.0.ffn_gate is Q2_K (valid but unsupported); 4 architecture "gpt2" */
};

static inline struct tiny_cfg tiny_cfg_default(void) {
    struct tiny_cfg c = {2, 256, 512, 4, 2, 300, 128, VLKV_TYPE_F32, VLKV_TYPE_F32, 0, 10000.0f, 7, 0};
    return c;
}

/* uniform weights with std 1/sqrt(fan_in) (uniform[-1,1) has std 1/sqrt(3)) */
static inline void tiny_tensor(struct gguf_writer *w, test_rng *r, const char *name, uint32_t type, int64_t ne0,
                               int64_t ne1, float scale, float offset) {
    const int64_t n = ne0 * ne1;
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) f[i] = offset + rng_f32(r) * scale;
    int64_t ne[2] = {ne0, ne1};
    if (type == VLKV_TYPE_F32) {
        vlkv_gguf_w_tensor(w, name, type, ne1 > 1 ? 2 : 1, ne, f);
    } else {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(type);
        const size_t rs = vlkv_row_size(type, ne0);
        uint8_t *q = malloc(rs * (size_t)ne1);
        for (int64_t r0 = 0; r0 < ne1; r0++) tr->from_float(f + r0 * ne0, q + r0 * rs, ne0);
        vlkv_gguf_w_tensor(w, name, type, 2, ne, q);
        free(q);
    }
    free(f);
}

static inline int tiny_llama_write(const char *path, const struct tiny_cfg *c) {
    struct gguf_writer *w = vlkv_gguf_writer_new(32);
    test_rng r = {c->seed * 0x9E3779B97F4A7C15ULL + 1};
    vlkv_gguf_w_str(w, "general.architecture", c->defect == 4 ? "gpt2" : "llama");
    vlkv_gguf_w_str(w, "general.name", "tiny test llama");
    vlkv_gguf_w_u32(w, "llama.context_length", (uint32_t)c->n_ctx);
    vlkv_gguf_w_u32(w, "llama.embedding_length", (uint32_t)c->n_embd);
    vlkv_gguf_w_u32(w, "llama.block_count", (uint32_t)c->n_layer);
    vlkv_gguf_w_u32(w, "llama.feed_forward_length", (uint32_t)c->n_ff);
    vlkv_gguf_w_u32(w, "llama.rope.dimension_count", (uint32_t)(c->n_embd / c->n_head));
    vlkv_gguf_w_u32(w, "llama.attention.head_count", (uint32_t)c->n_head);
    vlkv_gguf_w_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_head_kv);
    vlkv_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    vlkv_gguf_w_f32(w, "llama.rope.freq_base", c->rope_base);
    /* vocabulary: <unk> <s> </s>, then printable pieces */
    vlkv_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    char **toks = malloc(sizeof(char *) * (size_t)c->n_vocab);
    for (int i = 0; i < c->n_vocab; i++) {
        toks[i] = malloc(16);
        if (i == 0) strcpy(toks[i], "<unk>");
        else if (i == 1) strcpy(toks[i], "<s>");
        else if (i == 2) strcpy(toks[i], "</s>");
        else if (i < 3 + 26) snprintf(toks[i], 16, "%c", 'a' + (i - 3));
        else snprintf(toks[i], 16, "\xe2\x96\x81w%d", i);
    }
    vlkv_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)c->n_vocab);
    for (int i = 0; i < c->n_vocab; i++) free(toks[i]);
    free(toks);

    const int E = c->n_embd, F = c->n_ff, Hd = E / c->n_head, KD = Hd * c->n_head_kv;
    const float sE = 1.7320508f / sqrtf((float)E), sF = 1.7320508f / sqrtf((float)F);
    tiny_tensor(w, &r, "token_embd.weight", c->type, E, c->n_vocab, 1.0f, 0.0f);
    tiny_tensor(w, &r, "output_norm.weight", VLKV_TYPE_F32, E, 1, 0.2f, 1.0f);
    if (!c->tied) tiny_tensor(w, &r, "output.weight", c->type_output, E, c->n_vocab, sE, 0.0f);
    char name[64];
    for (int il = 0; il < c->n_layer; il++) {
#define TT(suffix, type, ne0, ne1, sc, off) \
    snprintf(name, sizeof name, "blk.%d." suffix, il); tiny_tensor(w, &r, name, type, ne0, ne1, sc, off)
        TT("attn_norm.weight", VLKV_TYPE_F32, E, 1, 0.2f, 1.0f);
        TT("attn_q.weight", c->type, E, E, sE * 2, 0.0f);
        TT("attn_k.weight", c->type, E, (c->defect == 1 && il == 1) ? KD + 32 : KD, sE * 2, 0.0f);
        TT("attn_v.weight", c->type, E, KD, sE, 0.0f);
        TT("attn_output.weight", c->type, E, E, sE, 0.0f);
        TT("ffn_norm.weight", VLKV_TYPE_F32, E, 1, 0.2f, 1.0f);
        if (c->defect == 3 && il == 0) {
            /* Q2_K: a known layout the engine does not support; the bytes do not matter */
            int64_t ne[2] = {E, F};
            uint8_t *z = calloc((size_t)F, vlkv_row_size(VLKV_TYPE_Q2_K, E));
            vlkv_gguf_w_tensor(w, "blk.0.ffn_gate.weight", VLKV_TYPE_Q2_K, 2, ne, z);
            free(z);
        } else {
            TT("ffn_gate.weight", c->type, E, F, sE, 0.0f);
        }
        if (!(c->defect == 2 && il == 0)) {
            TT("ffn_up.weight", c->type, E, F, sE, 0.0f);
        }
        TT("ffn_down.weight", c->type, F, E, sF, 0.0f);
#undef TT
    }
    vlkv_status st = vlkv_gguf_writer_save(w, path);
    vlkv_gguf_writer_free(w);
    return st == VLKV_OK;
}

/* Tensor `name` of an open GGUF as a malloc'ed F32 matrix (reference dequantizer), or NULL. */
static inline float *tiny_read(const struct gguf_file *f, const char *name) {
    const struct vlkv_tensor *t = vlkv_gguf_find_tensor(f, name);
    if (!t) return NULL;
    const int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    float *out = malloc(sizeof(float) * (size_t)(t->ne[0] * rows));
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t->type);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)t->data + (size_t)r * t->nb[1];
        if (t->type == VLKV_TYPE_F32) memcpy(out + r * t->ne[0], src, sizeof(float) * (size_t)t->ne[0]);
        else tr->to_float(src, out + r * t->ne[0], t->ne[0]);
    }
    return out;
}

#endif /* VLKV_TINY_LLAMA_H */
