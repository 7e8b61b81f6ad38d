/* vk_clip.c - CLIP ViT + MLP projector on the Vulkan backend, step for step clip.c's forward:
 *   host: preprocess -> pixels [3][S][S] -> im2col cols [NP][3PP] (rearranging the input only)
 *   device: x[1..N) = cols . W_patch (+b), x[0] = class_embd, x += pos_embd, x = pre_ln(x)
 *           per block: x += o(attn(ln1(x))) (no mask, all N positions); x += fc2(act(fc1(ln2(x))))
 *           f = x[1..N); out = mm.2 . gelu(mm.0 . f + b0) + b2
 * Attention reuses attention.comp with the F32 key/value activations as a "cache" of N slots
 * (causal off). Two submissions (tower, projector) so the timings split like the CPU's. */
#include "vk_clip.h"

#include <stdlib.h>
#include <string.h>

#include "image.h"

static vlkv_status upload(struct vk_device *d, struct vk_buffer *b, const void *data, size_t n) {
    vlkv_status st = vk_buffer_create(d, n, VK_MEM_DEVICE, b);
    if (st == VLKV_OK && data) st = vk_buffer_write(d, b, 0, data, n);
    return st;
}

static vlkv_status up_weight(struct vk_device *d, struct vk_weight *w, const struct vlkv_tensor *t) {
    if (!vk_type_supported((enum vlkv_type)t->type))
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: tensor %s has type %s, which has no Vulkan shader yet", t->name,
                          vlkv_type_name(t->type));
    return vk_weight_upload(d, w, (enum vlkv_type)t->type, (uint32_t)t->ne[0], (uint32_t)t->ne[1], t->data);
}

/* F32 vectors given as tensors (biases; clip.c made F32 views of F16 ones) */
static vlkv_status up_bias(struct vk_device *d, struct vk_buffer *b, const struct vlkv_tensor *t) {
    if (!t) return VLKV_OK;
    if (t->type != VLKV_TYPE_F32)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: bias %s has type %s (F32 expected)", t->name,
                          vlkv_type_name(t->type));
    return upload(d, b, t->data, t->nbytes);
}

vlkv_status vk_clip_init(struct vk_clip *c, struct vk_device *dev, const struct vlkv_clip *clip) {
    vlkv_status st = VLKV_OK;
    memset(c, 0, sizeof *c);
    c->dev = dev;
    c->clip = clip;
    c->hp = *vlkv_clip_get_hparams(clip);
    const struct vlkv_clip_hparams *hp = &c->hp;
    VLKV_CHECK(hp->d_head <= 256, VLKV_ERR_UNSUPPORTED, "vulkan: CLIP head size %d > 256", hp->d_head);
    struct vlkv_clip_weights w;
    vlkv_clip_get_weights(clip, &w);
    const size_t E = (size_t)hp->n_embd, N = (size_t)hp->n_pos, NP = (size_t)hp->n_patch,
                 KP = 3 * (size_t)hp->patch_size * hp->patch_size, O = (size_t)hp->n_embd_out,
                 wide = (size_t)VLKV_MAX(hp->n_ff, hp->n_proj_hidden), S = (size_t)hp->image_size;
    VLKV_TRY(up_weight(dev, &c->patch_w, w.patch_w));
    VLKV_TRY(up_bias(dev, &c->patch_b, w.patch_b));
    VLKV_TRY(upload(dev, &c->cls, w.class_embd, E * 4));
    VLKV_TRY(upload(dev, &c->pos, w.pos_embd, N * E * 4));
    VLKV_TRY(upload(dev, &c->pre_ln_w, w.pre_ln_w, E * 4));
    VLKV_TRY(upload(dev, &c->pre_ln_b, w.pre_ln_b, E * 4));
    VLKV_TRY(up_weight(dev, &c->mm0_w, w.mm0_w));
    VLKV_TRY(up_bias(dev, &c->mm0_b, w.mm0_b));
    VLKV_TRY(up_weight(dev, &c->mm2_w, w.mm2_w));
    VLKV_TRY(up_bias(dev, &c->mm2_b, w.mm2_b));
    c->layers = calloc((size_t)hp->n_layer_run, sizeof *c->layers);
    VLKV_CHECK(c->layers, VLKV_ERR_OOM, "vulkan: out of memory");
    for (int32_t il = 0; il < hp->n_layer_run; il++) {
        struct vlkv_clip_layer_weights L;
        struct vk_clip_layer *G = &c->layers[il];
        vlkv_clip_get_layer_weights(clip, il, &L);
        VLKV_TRY(upload(dev, &G->ln1_w, L.ln1_w, E * 4));
        VLKV_TRY(upload(dev, &G->ln1_b, L.ln1_b, E * 4));
        VLKV_TRY(upload(dev, &G->ln2_w, L.ln2_w, E * 4));
        VLKV_TRY(upload(dev, &G->ln2_b, L.ln2_b, E * 4));
        VLKV_TRY(up_weight(dev, &G->q_w, L.q_w));
        VLKV_TRY(up_weight(dev, &G->k_w, L.k_w));
        VLKV_TRY(up_weight(dev, &G->v_w, L.v_w));
        VLKV_TRY(up_weight(dev, &G->o_w, L.o_w));
        VLKV_TRY(up_weight(dev, &G->fc1_w, L.fc1_w));
        VLKV_TRY(up_weight(dev, &G->fc2_w, L.fc2_w));
        VLKV_TRY(up_bias(dev, &G->q_b, L.q_b));
        VLKV_TRY(up_bias(dev, &G->k_b, L.k_b));
        VLKV_TRY(up_bias(dev, &G->v_b, L.v_b));
        VLKV_TRY(up_bias(dev, &G->o_b, L.o_b));
        VLKV_TRY(up_bias(dev, &G->fc1_b, L.fc1_b));
        VLKV_TRY(up_bias(dev, &G->fc2_b, L.fc2_b));
    }
    VLKV_TRY(upload(dev, &c->cols, NULL, NP * KP * 4));
    struct vk_buffer *act[] = {&c->x, &c->h, &c->q, &c->k, &c->v, &c->att};
    for (size_t i = 0; i < VLKV_ARRAY_LEN(act); i++) VLKV_TRY(upload(dev, act[i], NULL, N * E * 4));
    VLKV_TRY(upload(dev, &c->ff, NULL, N * wide * 4));
    VLKV_TRY(upload(dev, &c->out, NULL, NP * O * 4));
    /* attention probabilities of as many query rows as fit 64 MiB (and one binding) */
    const size_t H = (size_t)hp->n_head;
    size_t sc = VLKV_MIN(N * H * N * 4, (size_t)64 << 20);
    sc = VLKV_MIN(sc, (size_t)dev->caps.max_sbuf_range);
    sc = VLKV_MAX(sc, H * N * 4);
    VLKV_TRY(upload(dev, &c->scores, NULL, sc));
    VLKV_TRY(vk_buffer_create(dev, NP * KP * 4, VK_MEM_HOST, &c->up_host));
    VLKV_TRY(vk_buffer_create(dev, NP * O * 4, VK_MEM_HOST, &c->down_host));
    c->cols_host = c->up_host.mapped;
    c->pix = malloc(3 * S * S * sizeof *c->pix);
    VLKV_CHECK(c->cols_host && c->pix, VLKV_ERR_OOM, "vulkan: out of memory");
    return VLKV_OK;
fail:
    vk_clip_free(c);
    return st;
}

void vk_clip_free(struct vk_clip *c) {
    if (!c || !c->dev) return;
    struct vk_device *d = c->dev;
    struct vk_weight *ws[] = {&c->patch_w, &c->mm0_w, &c->mm2_w};
    for (size_t i = 0; i < VLKV_ARRAY_LEN(ws); i++) vk_weight_free(d, ws[i]);
    if (c->layers) {
        for (int32_t il = 0; il < c->hp.n_layer_run; il++) {
            struct vk_clip_layer *G = &c->layers[il];
            struct vk_weight *lw[] = {&G->q_w, &G->k_w, &G->v_w, &G->o_w, &G->fc1_w, &G->fc2_w};
            for (size_t i = 0; i < VLKV_ARRAY_LEN(lw); i++) vk_weight_free(d, lw[i]);
            struct vk_buffer *lb[] = {&G->ln1_w, &G->ln1_b, &G->ln2_w, &G->ln2_b, &G->q_b, &G->k_b,
                                      &G->v_b,   &G->o_b,   &G->fc1_b, &G->fc2_b};
            for (size_t i = 0; i < VLKV_ARRAY_LEN(lb); i++) vk_buffer_destroy(d, lb[i]);
        }
        free(c->layers);
    }
    struct vk_buffer *bs[] = {&c->patch_b, &c->mm0_b, &c->mm2_b, &c->cls, &c->pos, &c->pre_ln_w, &c->pre_ln_b,
                              &c->cols, &c->x, &c->h, &c->q, &c->k, &c->v, &c->att, &c->ff, &c->out, &c->scores,
                              &c->up_host, &c->down_host};
    for (size_t i = 0; i < VLKV_ARRAY_LEN(bs); i++) vk_buffer_destroy(d, bs[i]);
    free(c->pix);
    memset(c, 0, sizeof *c);
}

/* y[n][M] = x . W^T (+ bias) */
static vlkv_status linear(struct vk_device *d, const struct vk_weight *W, const struct vk_buffer *bias,
                          struct vk_ref x, const struct vk_buffer *y, uint32_t n) {
    vlkv_status st = VLKV_OK;
    VLKV_TRY(vk_op_matmul_w(d, W, x, vk_ref_of(y), n));
    if (bias && bias->buf) VLKV_TRY(vk_op_add_row(d, vk_ref_of(y), vk_ref_of(bias), W->M * n, W->M));
fail:
    return st;
}

vlkv_status vk_clip_encode(struct vk_clip *c, const vlkv_image *img, float *out, struct vlkv_clip_timings *tm) {
    vlkv_status st = VLKV_OK;
    struct vk_device *d = c->dev;
    const struct vlkv_clip_hparams *hp = &c->hp;
    const uint32_t E = (uint32_t)hp->n_embd, N = (uint32_t)hp->n_pos, NP = (uint32_t)hp->n_patch,
                   F = (uint32_t)hp->n_ff, PH = (uint32_t)hp->n_proj_hidden, O = (uint32_t)hp->n_embd_out;
    const int64_t P = hp->patch_size, S = hp->image_size, side = hp->n_patch_side, KP = 3 * P * P;
    VLKV_CHECK(img && out, VLKV_ERR_INVALID_ARG, "vk_clip_encode: NULL argument");

    /* host: preprocessing and im2col (cols[py*side+px][(ch*P + ky)*P + kx] = pix[ch][py*P+ky][px*P+kx]) */
    double t0 = vlkv_time_ms();
    struct vlkv_preproc pp;
    vlkv_clip_preproc_params(c->clip, &pp);
    VLKV_TRY(vlkv_image_preprocess(img, &pp, c->pix));
    for (int64_t py = 0; py < side; py++)
        for (int64_t px = 0; px < side; px++) {
            float *col = c->cols_host + (py * side + px) * KP;
            for (int64_t ch = 0; ch < 3; ch++)
                for (int64_t ky = 0; ky < P; ky++)
                    memcpy(col + (ch * P + ky) * P, c->pix + (ch * S + py * P + ky) * S + px * P,
                           (size_t)P * sizeof(float));
        }
    double t1 = vlkv_time_ms();
    if (tm) tm->preprocess_ms += t1 - t0;

    /* device: the tower */
    VLKV_TRY(vk_begin(d));
    VLKV_TRY(vk_copy(d, vk_ref_of(&c->cols), vk_ref_of(&c->up_host), (size_t)NP * KP * 4));
    VLKV_TRY(linear(d, &c->patch_w, &c->patch_b, vk_ref_of(&c->cols), &c->h, NP));
    VLKV_TRY(vk_copy(d, vk_ref_at(&c->x, (size_t)E * 4, 0), vk_ref_of(&c->h), (size_t)NP * E * 4));   /* rows 1.. */
    VLKV_TRY(vk_copy(d, vk_ref_of(&c->x), vk_ref_of(&c->cls), (size_t)E * 4));                      /* CLS row 0 */
    VLKV_TRY(vk_op_add(d, vk_ref_of(&c->x), vk_ref_of(&c->pos), N * E));
    VLKV_TRY(vk_op_layernorm(d, vk_ref_of(&c->x), vk_ref_of(&c->pre_ln_w), vk_ref_of(&c->pre_ln_b), vk_ref_of(&c->h),
                             E, N, hp->eps));
    VLKV_TRY(vk_copy(d, vk_ref_of(&c->x), vk_ref_of(&c->h), (size_t)N * E * 4));
    for (int32_t il = 0; il < hp->n_layer_run; il++) {
        const struct vk_clip_layer *G = &c->layers[il];
        VLKV_TRY(vk_op_layernorm(d, vk_ref_of(&c->x), vk_ref_of(&G->ln1_w), vk_ref_of(&G->ln1_b), vk_ref_of(&c->h), E,
                                 N, hp->eps));
        VLKV_TRY(linear(d, &G->q_w, &G->q_b, vk_ref_of(&c->h), &c->q, N));
        VLKV_TRY(linear(d, &G->k_w, &G->k_b, vk_ref_of(&c->h), &c->k, N));
        VLKV_TRY(linear(d, &G->v_w, &G->v_b, vk_ref_of(&c->h), &c->v, N));
        const struct vk_ref none = {NULL, 0, 0};
        VLKV_TRY(vk_op_attention(d, VLKV_TYPE_F32, vk_ref_of(&c->q), vk_ref_of(&c->k), vk_ref_of(&c->v),
                                 vk_ref_of(&c->att), vk_ref_of(&c->scores), none, N, N, (uint32_t)hp->n_head,
                                 (uint32_t)hp->n_head, (uint32_t)hp->d_head, 0));
        VLKV_TRY(linear(d, &G->o_w, &G->o_b, vk_ref_of(&c->att), &c->h, N));
        VLKV_TRY(vk_op_add(d, vk_ref_of(&c->x), vk_ref_of(&c->h), N * E));
        VLKV_TRY(vk_op_layernorm(d, vk_ref_of(&c->x), vk_ref_of(&G->ln2_w), vk_ref_of(&G->ln2_b), vk_ref_of(&c->h), E,
                                 N, hp->eps));
        VLKV_TRY(linear(d, &G->fc1_w, &G->fc1_b, vk_ref_of(&c->h), &c->ff, N));
        VLKV_TRY(vk_op_gelu(d, hp->use_gelu ? VK_GELU_ERF : VK_GELU_QUICK, vk_ref_of(&c->ff), N * F));
        VLKV_TRY(linear(d, &G->fc2_w, &G->fc2_b, vk_ref_of(&c->ff), &c->h, N));
        VLKV_TRY(vk_op_add(d, vk_ref_of(&c->x), vk_ref_of(&c->h), N * E));
    }
    /* drop CLS: rows 1.. (copied, so no binding-offset alignment is needed) */
    VLKV_TRY(vk_copy(d, vk_ref_of(&c->h), vk_ref_at(&c->x, (size_t)E * 4, 0), (size_t)NP * E * 4));
    VLKV_TRY(vk_submit(d));
    double t2 = vlkv_time_ms();
    if (tm) tm->vision_ms += t2 - t1;

    /* device: the projector */
    VLKV_TRY(vk_begin(d));
    VLKV_TRY(linear(d, &c->mm0_w, &c->mm0_b, vk_ref_of(&c->h), &c->ff, NP));
    VLKV_TRY(vk_op_gelu(d, hp->llamacpp_compat ? VK_GELU_TANH : VK_GELU_ERF, vk_ref_of(&c->ff), NP * PH));
    VLKV_TRY(linear(d, &c->mm2_w, &c->mm2_b, vk_ref_of(&c->ff), &c->out, NP));
    VLKV_TRY(vk_copy(d, vk_ref_of(&c->down_host), vk_ref_of(&c->out), (size_t)NP * O * 4));
    VLKV_TRY(vk_submit(d));
    memcpy(out, c->down_host.mapped, (size_t)NP * O * 4);
    if (tm) tm->projector_ms += vlkv_time_ms() - t2;
    return VLKV_OK;
fail:
    vk_cancel(d);
    return st;
}
