/* mkmodel.h - synthetic GGUF models in llama.cpp's exact layout, for tests, benchmarks and
 * `vlkv mkmodel`: a LLaMA text model of any shape and weight-type mix with a small SPM
 * vocabulary, and a LLaVA-1.5 style mmproj (CLIP ViT + MLP projector) of any shape
 * (specs/formats.md §3, §4, §5). Weights are seeded pseudo-random, deterministic across
 * platforms and thread counts (own PCG generator, integer-derived uniforms).
 *
 * Also declares a few GGUF writer extensions implemented in gguf.c (raw typed KVs and
 * deferred tensors whose bytes are produced at save time, so big models are never held in
 * memory twice). */
#ifndef VLKV_MKMODEL_H
#define VLKV_MKMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "vlkv.h"

/* ---- GGUF writer extensions (gguf.c) ------------------------------------------------------ */

/* A scalar KV of any numeric/bool type; `v` points to a host value of that type. */
void vlkv_gguf_w_raw(struct gguf_writer *w, const char *key, uint32_t type, const void *v);
/* An array of any element type except ARR; `v` is a host array (const char *const * for STR). */
void vlkv_gguf_w_arr(struct gguf_writer *w, const char *key, uint32_t elem_type, const void *v, uint64_t n);
/* Declare a tensor whose bytes are produced by the fill callback during save. */
void vlkv_gguf_w_tensor_deferred(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                 const int64_t *ne);
/* Fill dst (nbytes) with tensor `index` (insertion order); return VLKV_OK or an error status
 * (after vlkv_error). */
typedef vlkv_status (*vlkv_gguf_fill_fn)(void *ud, size_t index, const char *name, void *dst, size_t nbytes);
vlkv_status vlkv_gguf_writer_save_cb(struct gguf_writer *w, const char *path, vlkv_gguf_fill_fn fill, void *ud);
/* "u32", "str", "arr", ... ("?" if unknown). */
const char *vlkv_gguf_vtype_name(uint32_t type);

/* ---- synthetic LLaMA ---------------------------------------------------------------------- */

/* llama.cpp weight-type presets (general.file_type values, llama_ftype). */
enum vlkv_mkmodel_ftype {
    VLKV_FTYPE_NONE   = -1,  /* use the explicit types below */
    VLKV_FTYPE_Q4_K_M = 15,  /* Q4_K; attn_v/ffn_down Q6_K on use_more_bits layers; output Q6_K */
    VLKV_FTYPE_Q5_K_M = 17,  /* same rule with Q5_K */
};

struct vlkv_mkmodel_params {
    uint64_t    seed;          /* default 1 */
    int32_t     n_layer;       /* default 2 */
    int32_t     n_embd;        /* default 256 */
    int32_t     n_ff;          /* default 512 */
    int32_t     n_head;        /* default 4 */
    int32_t     n_head_kv;     /* default = n_head (0 means n_head) */
    int32_t     n_vocab;       /* default 512; >= 260 (3 specials + 256 bytes + 1) */
    int32_t     n_ctx;         /* llama.context_length, default 2048 */
    float       rope_base;     /* default 10000 */
    float       rms_eps;       /* default 1e-5 */
    int32_t     type;          /* enum vlkv_type of 2-D weights, default F32 */
    int32_t     type_output;   /* output.weight; -1 = same as `type` (or the preset's rule) */
    int32_t     type_embd;     /* token_embd.weight; -1 = same as `type` */
    int32_t     ftype;         /* enum vlkv_mkmodel_ftype preset, overrides type/type_output */
    const char *overrides;     /* "SUBSTR=type[,SUBSTR=type...]": a tensor whose name contains
                                  SUBSTR gets that type (last match wins), e.g. "attn_v=q8_0" */
    int         tied;          /* 1: no output.weight (tied to token_embd) */
    float       init_scale;    /* multiplies every weight's std (1/sqrt(fan_in)), default 1 */
    const char *name;          /* general.name, default "vlkv synthetic llama" */
};

struct vlkv_mkmodel_params vlkv_mkmodel_params_default(void);

/* Write a llama GGUF (general.architecture = "llama") with the given shape and types. Types
 * that do not fit a tensor's row length fall back as llama.cpp does (Q4_K->Q5_0, Q5_K->Q5_1,
 * Q6_K->Q8_0, then F16). Returns VLKV_ERR_INVALID_ARG for impossible shapes, with a message. */
vlkv_status vlkv_mkmodel_llama(const char *path, const struct vlkv_mkmodel_params *p);

/* The tensor type a given llama tensor gets under p (after presets, overrides and fallbacks).
 * il = layer index or -1; -2 for a malformed override spec. Exposed for tests. */
int32_t vlkv_mkmodel_tensor_type(const struct vlkv_mkmodel_params *p, const char *name, int il, int64_t ne0);

/* ---- synthetic mmproj (CLIP ViT + LLaVA MLP projector) -------------------------------------- */

struct vlkv_mkmodel_clip_params {
    uint64_t    seed;           /* default 1 */
    int32_t     image_size;     /* default 32 */
    int32_t     patch_size;     /* default 8 (image_size % patch_size == 0) */
    int32_t     n_embd;         /* ViT width, default 64 */
    int32_t     n_ff;           /* default 256 */
    int32_t     n_head;         /* default 4 */
    int32_t     n_layer;        /* stored blocks (clip.vision.block_count), default 2 */
    int32_t     n_proj_hidden;  /* mm.0 output width, default = n_embd_out */
    int32_t     n_embd_out;     /* mm.2 output width = the LLM's n_embd, default 256 */
    int32_t     projection_dim; /* clip.vision.projection_dim (unused by LLaVA), default 768 */
    float       eps;            /* layer_norm_epsilon, default 1e-5 */
    int32_t     type;           /* 2-D weights: F32, F16 (default), Q8_0, Q4_0, ... */
    int32_t     type_pos;       /* v.position_embd.weight; -1 = `type` */
    int32_t     type_patch;     /* v.patch_embd.weight (4-D), default F16 */
    int         use_gelu;       /* clip.use_gelu, default 0 (quick-GELU, LLaVA-1.5) */
    float       init_scale;     /* default 1 */
    const char *name;           /* general.name */
};

struct vlkv_mkmodel_clip_params vlkv_mkmodel_clip_params_default(void);

/* Write an mmproj GGUF (general.architecture = "clip", projector "mlp") with the legacy
 * converter's keys and tensor names, including the swapped ffn names (mlp.fc1 is stored as
 * v.blk.N.ffn_down.weight with ne = [n_embd, n_ff]). */
vlkv_status vlkv_mkmodel_clip(const char *path, const struct vlkv_mkmodel_clip_params *p);

#endif /* VLKV_MKMODEL_H */
