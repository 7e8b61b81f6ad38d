/* image.h - decoded RGB images and the LLaVA-1.5 preprocessing (specs/formats.md §5.5):
 * pad to a square with the mean colour (image centred, HF expand2square), Pillow-exact
 * antialiased bicubic resize (Resample.c: separable, a = -0.5, support widened by the
 * downscale factor, 22-bit fixed-point weights, u8 rounding after each pass), x/255,
 * (x - mean) / std, planar CHW float. The llama.cpp compat path follows mtmd instead. */
#ifndef VLKV_IMAGE_H
#define VLKV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vlkv.h"

/* The public vlkv_image: w x h packed RGB bytes, row-major, owned. */
struct vlkv_image {
    int32_t  w, h;
    uint8_t *rgb;   /* [h][w][3] */
};

/* Largest image accepted by the decoders, in pixels (checked from the header before any
 * pixel memory is allocated). */
#define VLKV_IMAGE_MAX_PIXELS (64ll * 1024 * 1024)

/* Preprocessing variants. */
enum vlkv_preproc_mode {
    VLKV_PREPROC_LLAVA = 0,  /* HF LLaVA-1.5: centre pad (mean colour) + Pillow bicubic */
    VLKV_PREPROC_MTMD  = 1   /* llama.cpp mtmd fixed_size: aspect fit + simple bicubic + centre */
};

struct vlkv_preproc {
    int32_t size;       /* output side (clip.vision.image_size) */
    float   mean[3];    /* clip.vision.image_mean */
    float   std[3];     /* clip.vision.image_std */
    int     mode;       /* enum vlkv_preproc_mode */
};

/* out = [3][size][size] F32, planar. VLKV_ERR_OOM if the temporaries cannot be allocated. */
vlkv_status vlkv_image_preprocess(const struct vlkv_image *img, const struct vlkv_preproc *p, float *out);

/* Pad colour of expand2square: int(mean * 255) per channel, as LLaVA computes it. */
void vlkv_image_pad_color(const float mean[3], uint8_t pad[3]);

/* Geometry of expand2square for a w x h image: side = max(w, h), the image pasted at (ox, oy)
 * with the shorter dimension centred at (max - min) / 2 (integer division). */
void vlkv_image_pad_geometry(int32_t w, int32_t h, int32_t *side, int32_t *ox, int32_t *oy);

/* Pillow-exact Image.resize((dw, dh), Image.BICUBIC) of packed RGB: src [sh][sw][3] ->
 * dst [dh][dw][3]. Returns VLKV_ERR_OOM if the temporaries cannot be allocated. */
vlkv_status vlkv_resize_bicubic_pillow(const uint8_t *src, int32_t sw, int32_t sh, uint8_t *dst,
                                       int32_t dw, int32_t dh);

/* Decode an in-memory image file (any format of vlkv_image_load_file); `name` is used in
 * error messages. */
vlkv_status vlkv_image_load_memory(const void *data, size_t size, const char *name, struct vlkv_image **out);

#endif /* VLKV_IMAGE_H */
