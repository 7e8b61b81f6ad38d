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

#endif /* VLKV_CLIP_H */
