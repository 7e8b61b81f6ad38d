/* vk_clip.h - the LLaVA vision side on the Vulkan backend: the CLIP ViT forward and the MLP
 * projector of clip.c recorded as shader dispatches, weights uploaded once. The host keeps the
 * image preprocessing and the patch rearrangement (im2col of the input pixels); everything from
 * the patch embedding to the projector output runs on the device, one submission for the tower
 * and one for the projector. */
#ifndef VLKV_VK_CLIP_H
#define VLKV_VK_CLIP_H

#include "clip.h"
#include "vk.h"

struct vk_clip_layer {
    struct vk_buffer ln1_w, ln1_b, ln2_w, ln2_b;
    struct vk_weight q_w, k_w, v_w, o_w, fc1_w, fc2_w;
    struct vk_buffer q_b, k_b, v_b, o_b, fc1_b, fc2_b;
};

struct vk_clip {
    struct vk_device        *dev;
    const struct vlkv_clip  *clip;
    struct vlkv_clip_hparams hp;
    struct vk_weight patch_w, mm0_w, mm2_w;
    struct vk_buffer patch_b, mm0_b, mm2_b;      /* buf == VK_NULL_HANDLE when absent */
    struct vk_buffer cls, pos, pre_ln_w, pre_ln_b;
    struct vk_clip_layer *layers;                /* [n_layer_run] */
    /* activations (f32): cols [NP][3PP], x/h/q/k/v/att [N][E], ff [N][max(F, H)], out [NP][O] */
    struct vk_buffer cols, x, h, q, k, v, att, ff, out, scores;
    struct vk_buffer up_host, down_host;
    float *cols_host;                            /* [NP][3PP] im2col staging */
    float *pix;                                  /* [3][S][S] preprocessed pixels */
};

/* Upload the tower and the projector; VLKV_ERR_UNSUPPORTED when a weight type has no shader. */
vlkv_status vk_clip_init(struct vk_clip *c, struct vk_device *dev, const struct vlkv_clip *clip);
void        vk_clip_free(struct vk_clip *c);
/* vlkv_clip_encode on the device: out = [n_patch][n_embd_out] f32 (host). Adds to *t. */
vlkv_status vk_clip_encode(struct vk_clip *c, const vlkv_image *img, float *out, struct vlkv_clip_timings *t);

#endif /* VLKV_VK_CLIP_H */
