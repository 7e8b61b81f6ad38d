/* model.h - a loaded LLaMA text model (+ optional CLIP mmproj): hyper-parameters from the
 * llama.* GGUF keys, tensor views into the mapped file, the SPM tokenizer (formats.md §3).
 * struct vlkv_model is the public opaque handle of include/vlkv.h. */
#ifndef VLKV_MODEL_H
#define VLKV_MODEL_H

#include <stdint.h>

#include "gguf.h"
#include "vlkv.h"

struct vlkv_tokenizer;
struct vlkv_clip;

struct vlkv_llama_hparams {
    int32_t n_vocab;       /* rows of token_embd */
    int32_t n_ctx_train;   /* llama.context_length */
    int32_t n_embd;        /* E */
    int32_t n_layer;
    int32_t n_ff;          /* F */
    int32_t n_head;
    int32_t n_head_kv;     /* defaults to n_head */
    int32_t d_head;        /* E / n_head unless attention.key_length says otherwise */
    int32_t n_rot;         /* rope.dimension_count, defaults to d_head */
    float   eps;           /* attention.layer_norm_rms_epsilon */
    float   rope_base;     /* rope.freq_base, default 10000 */
    float   rope_freq_scale; /* 1 / linear scaling factor, default 1 */
};

struct vlkv_llama_layer {
    const float *attn_norm;               /* [E] */
    const struct vlkv_tensor *wq;         /* ne [E, Hd*n_head] (rows permuted for NORM rope) */
    const struct vlkv_tensor *wk;         /* ne [E, Hd*n_head_kv] */
    const struct vlkv_tensor *wv;         /* ne [E, Hd*n_head_kv] */
    const struct vlkv_tensor *wo;         /* ne [Hd*n_head, E] */
    const struct vlkv_tensor *bq, *bk, *bv, *bo;   /* optional F32 biases, NULL if absent */
    const float *ffn_norm;                /* [E] */
    const struct vlkv_tensor *w_gate;     /* ne [E, F] */
    const struct vlkv_tensor *w_up;       /* ne [E, F] */
    const struct vlkv_tensor *w_down;     /* ne [F, E] */
};

struct vlkv_model {
    struct gguf_file          gguf;
    struct vlkv_llama_hparams hp;
    const struct vlkv_tensor *tok_embd;   /* ne [E, V] */
    const float              *output_norm;/* [E] */
    const struct vlkv_tensor *output;     /* ne [E, V]; == tok_embd when tied */
    struct vlkv_llama_layer  *layers;     /* [n_layer] */
    struct vlkv_tokenizer    *tok;
    struct vlkv_clip         *clip;       /* NULL without mmproj */
    char                      desc[192];
    double                    load_ms;
};

#endif /* VLKV_MODEL_H */
