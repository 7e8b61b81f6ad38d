/* clip.h - the LLaVA-1.5 vision side: mmproj GGUF loading (general.architecture = clip,
 * projector "mlp"), image preprocessing, CLIP ViT forward and the MLP projector
 * (specs/formats.md §5). Implemented in clip.c and image.c. */
#ifndef VLKV_CLIP_H
#define VLKV_CLIP_H

#include <stdint.h>

#include "ops.h"
#include "vlkv.h"

struct vlkv_clip;   /* owns its gguf_file mapping */

/* Load and validate an mmproj file. llamacpp_compat selects llama.cpp's known deviations
 * (one block fewer, its preprocessing) for A/B runs. */
vlkv_status vlkv_clip_load(const char *path, int llamacpp_compat, struct vlkv_clip **out);
void        vlkv_clip_free(struct vlkv_clip *clip);

int32_t vlkv_clip_n_tokens(const struct vlkv_clip *clip);     /* image tokens per image (576) */
int32_t vlkv_clip_n_embd_out(const struct vlkv_clip *clip);   /* projector output width */
const char *vlkv_clip_desc(const struct vlkv_clip *clip);     /* e.g. "clip 336px/14 24x1024 F16" */

struct vlkv_clip_timings { double preprocess_ms, vision_ms, projector_ms; };

/* Preprocess `img` and encode it: out = [n_tokens][n_embd_out] F32. Adds to *t if t != NULL. */
vlkv_status vlkv_clip_encode(struct vlkv_clip *clip, struct vlkv_ops_ctx *o, const vlkv_image *img,
                             float *out, struct vlkv_clip_timings *t);

/* ---- extensions for tests, goldens and benchmarks (clip.c) -------------------------------- */

struct vlkv_clip_hparams {
    int32_t image_size, patch_size;  /* clip.vision.image_size / patch_size */
    int32_t n_patch_side;            /* image_size / patch_size */
    int32_t n_patch;                 /* n_patch_side^2 = image tokens */
    int32_t n_pos;                   /* n_patch + 1 (CLS) */
    int32_t n_embd, n_ff, n_head, d_head;
    int32_t n_layer;                 /* stored blocks (clip.vision.block_count) */
    int32_t n_layer_run;             /* blocks run: n_layer, or n_layer - 1 in llamacpp_compat */
    int32_t n_proj_hidden;           /* mm.0 output width */
    int32_t n_embd_out;              /* mm.2 output width */
    float   eps;
    float   mean[3], std[3];
    int     use_gelu;                /* 1: GELU (erf) in the ViT MLP, 0: quick-GELU */
    int     legacy_ffn_names;        /* 1: ffn_down holds fc1 (the converter's swapped names) */
    int     llamacpp_compat;
};

const struct vlkv_clip_hparams *vlkv_clip_get_hparams(const struct vlkv_clip *clip);

/* Encode already-preprocessed pixels [3][image_size][image_size]. If vit_out != NULL it
 * receives the ViT output with CLS dropped, [n_patch][n_embd] (input of the projector);
 * out (may be NULL to stop after the ViT) receives [n_patch][n_embd_out]. */
vlkv_status vlkv_clip_encode_pixels(struct vlkv_clip *clip, struct vlkv_ops_ctx *o, const float *pixels,
                                    float *vit_out, float *out, struct vlkv_clip_timings *t);

/* The tower's weights for another backend (src/vk/vk_clip.c): pointers into the clip, valid while
 * it lives; biases are F32 tensors, patch_b may be NULL. pos_embd is [n_pos][n_embd] F32. */
struct vlkv_clip_weights {
    const struct vlkv_tensor *patch_w, *patch_b;          /* [3*P*P, n_embd] */
    const float              *class_embd, *pos_embd, *pre_ln_w, *pre_ln_b;
    const struct vlkv_tensor *mm0_w, *mm0_b, *mm2_w, *mm2_b;
};
struct vlkv_clip_layer_weights {
    const float              *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const struct vlkv_tensor *q_w, *k_w, *v_w, *o_w, *q_b, *k_b, *v_b, *o_b;
    const struct vlkv_tensor *fc1_w, *fc1_b, *fc2_w, *fc2_b;   /* HF fc1 (expanding) / fc2, names unswapped */
};
void vlkv_clip_get_weights(const struct vlkv_clip *clip, struct vlkv_clip_weights *w);
void vlkv_clip_get_layer_weights(const struct vlkv_clip *clip, int32_t il, struct vlkv_clip_layer_weights *w);

/* The preprocessing this clip applies (image_size, mean/std of the file, LLaVA or mtmd mode). */
struct vlkv_preproc;   /* image.h */
void vlkv_clip_preproc_params(const struct vlkv_clip *clip, struct vlkv_preproc *out);

#endif /* VLKV_CLIP_H */
