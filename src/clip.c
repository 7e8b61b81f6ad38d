/* clip.c - LLaVA-1.5 vision tower: mmproj GGUF loading (general.architecture = clip,
 * projector "mlp"), the CLIP ViT forward and the 2-layer MLP projector (specs/formats.md §5).
 *
 * Forward (HF CLIPVisionModel + LlavaMultiModalProjector, §5.3):
 *   pixels [3][S][S] -> im2col [n_patch][3*P*P] -> x[1..] = patches . W_patch (no bias),
 *   x[0] = class_embd (CLS first), x += position_embd, x = pre_ln(x),
 *   n_layer_run pre-LN blocks: x += out(attn(ln1(x))); x += fc2(act(fc1(ln2(x)))),
 *   act = quick-GELU t*sigmoid(1.702 t) unless clip.use_gelu (then erf GELU),
 *   drop CLS, z = mm.2 . gelu_erf(mm.0 . f + b0) + b2.
 * Every layer of the tower runs as whole-sequence GEMMs through vlkv_matmul (BLAS sgemm on
 * dequantized tiles or the kernel table) with OpenMP inside the ops.
 *
 * Which blocks run (§5.4): the legacy converter already dropped the last CLIP layer
 * (mm_vision_select_layer = -2), so all stored blocks are run (HF-correct). llama.cpp runs one
 * fewer; llamacpp_compat reproduces that, plus its tanh-GELU projector and mtmd preprocessing
 * (aspect fit + cubic convolution + centring). llama.cpp's newer CLS-last ordering is not
 * reproduced.
 *
 * Tensor names are the legacy converter's (v.blk.N.attn_q, ..., mm.0, mm.2) including its
 * swapped MLP names: fc1 (the expanding layer) stored as ffn_down. As current llama.cpp does,
 * the swap is detected from the shape of ffn_down.weight (ne0 == n_embd means it is fc1) and
 * weights and biases are swapped together. When n_ff == n_embd the shapes cannot tell, and the
 * legacy naming is assumed (llama.cpp does the same).
 *
 * Scratch is allocated per encode call (about 30 MB for CLIP-L/336), so a clip shared by
 * several contexts may encode concurrently; nothing is allocated inside the layer loop. */
#include "clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "image.h"
#include "internal.h"
#include "types.h"

#ifdef VLKV_HAVE_BLAS
#include <cblas.h>
#endif

/* One pre-LN transformer block; ln*_w/_b are F32 vectors, *_b tensors are F32 views. */
struct clip_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;   /* [n_embd] */
    const struct vlkv_tensor *q_w, *k_w, *v_w, *o_w;  /* [n_embd, n_embd] */
    const struct vlkv_tensor *q_b, *k_b, *v_b, *o_b;  /* [n_embd] F32 */
    const struct vlkv_tensor *fc1_w;              /* [n_embd, n_ff] (HF mlp.fc1) */
    const struct vlkv_tensor *fc1_b;              /* [n_ff] */
    const struct vlkv_tensor *fc2_w;              /* [n_ff, n_embd] (HF mlp.fc2) */
    const struct vlkv_tensor *fc2_b;              /* [n_embd] */
};

struct vlkv_clip {
    struct gguf_file         f;
    struct vlkv_clip_hparams hp;
    struct vlkv_tensor       patch_w;     /* 2-D view of v.patch_embd.weight: [3*P*P, n_embd] */
    const struct vlkv_tensor *patch_b;    /* optional [n_embd] F32 (absent for CLIP) */
    const float             *class_embd;  /* [n_embd] */
    float                   *pos_embd;    /* [n_pos][n_embd], dequantized at load (owned) */
    const float             *pre_ln_w, *pre_ln_b;
    struct clip_layer       *layers;      /* [n_layer] */
    const struct vlkv_tensor *mm0_w, *mm0_b, *mm2_w, *mm2_b;
    /* F32 copies of small tensors stored as F16/BF16, and F32 views of them (owned) */
    void                   **owned;
    int                      n_owned, cap_owned;
    struct vlkv_tensor      *views;       /* [cap_views] */
    int                      n_views, cap_views;
    char                     desc[96];
};

/* ---------------------------------------------------------------------------------------- */
/* loading                                                                                   */

static vlkv_status own(struct vlkv_clip *c, void *p) {
    if (!p) return vlkv_error(VLKV_ERR_OOM, "%s: out of memory", c->f.path);
    if (c->n_owned == c->cap_owned) {
        int cap = c->cap_owned ? 2 * c->cap_owned : 64;
        void **n = realloc(c->owned, (size_t)cap * sizeof *n);
        if (!n) {
            free(p);
            return vlkv_error(VLKV_ERR_OOM, "%s: out of memory", c->f.path);
        }
        c->owned = n;
        c->cap_owned = cap;
    }
    c->owned[c->n_owned++] = p;
    return VLKV_OK;
}

static const char *shape_str(const struct vlkv_tensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "[");
    for (int i = 0; i < t->n_dims && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, i ? ", %lld" : "%lld", (long long)t->ne[i]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
    return buf;
}

/* Find a tensor and check its shape (ne beyond n_dims must be 1). */
static vlkv_status find_shaped(struct vlkv_clip *c, const char *name, int n_dims, const int64_t *ne,
                               const struct vlkv_tensor **out) {
    const struct vlkv_tensor *t = vlkv_gguf_find_tensor(&c->f, name);
    char got[96], want[96];
    *out = NULL;
    if (!t) return vlkv_error(VLKV_ERR_FORMAT, "%s: missing tensor '%s'", c->f.path, name);
    int ok = 1;
    for (int i = 0; i < 4; i++) ok &= t->ne[i] == (i < n_dims ? ne[i] : 1);
    if (!ok) {
        struct vlkv_tensor w = {0};
        w.n_dims = n_dims;
        for (int i = 0; i < n_dims; i++) w.ne[i] = ne[i];
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", c->f.path, name,
                          shape_str(t, got, sizeof got), shape_str(&w, want, sizeof want));
    }
    *out = t;
    return VLKV_OK;
}

/* A 1-D F32/F16/BF16 vector of n elements as F32 data (converted copies are owned); if tv is
 * not NULL also an F32 tensor (a view for converted ones) usable as a matmul bias. */
static vlkv_status get_vec(struct vlkv_clip *c, const char *name, int64_t n, const float **data,
                           const struct vlkv_tensor **tv) {
    const struct vlkv_tensor *t;
    vlkv_status st = find_shaped(c, name, 1, &n, &t);
    if (st != VLKV_OK) return st;
    if (t->type == VLKV_TYPE_F32) {
        if (data) *data = t->data;
        if (tv) *tv = t;
        return VLKV_OK;
    }
    if (t->type != VLKV_TYPE_F16 && t->type != VLKV_TYPE_BF16)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s; vectors must be F32, F16 or BF16",
                          c->f.path, name, vlkv_type_name(t->type));
    float *f = malloc((size_t)n * sizeof *f);
    if ((st = own(c, f)) != VLKV_OK) return st;
    const uint16_t *h = t->data;
    for (int64_t i = 0; i < n; i++)
        f[i] = t->type == VLKV_TYPE_F16 ? vlkv_f16_to_f32(h[i]) : vlkv_bf16_to_f32(h[i]);
    if (data) *data = f;
    if (tv) {
        VLKV_ASSERT(c->n_views < c->cap_views);
        struct vlkv_tensor *v = &c->views[c->n_views++];
        *v = *t;
        v->type = VLKV_TYPE_F32;
        v->nb[0] = sizeof(float);
        v->nb[1] = v->nb[2] = v->nb[3] = (size_t)n * sizeof(float);
        v->nbytes = (size_t)n * sizeof(float);
        v->data = f;
        *tv = v;
    }
    return VLKV_OK;
}

/* A 2-D weight [ne0, ne1] of any type the matmul supports. */
static vlkv_status get_mat(struct vlkv_clip *c, const char *name, int64_t ne0, int64_t ne1,
                           const struct vlkv_tensor **out) {
    const int64_t ne[2] = {ne0, ne1};
    vlkv_status st = find_shaped(c, name, 2, ne, out);
    if (st != VLKV_OK) return st;
    const struct vlkv_type_traits *tr = vlkv_type_traits_get((*out)->type);
    if (!tr || !tr->supported)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "%s: tensor '%s' has unsupported type %s", c->f.path, name,
                          vlkv_type_name((*out)->type));
    if (ne0 % tr->blck)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s' rows of %lld are not a multiple of the %s block",
                          c->f.path, name, (long long)ne0, tr->name);
    return VLKV_OK;
}

static vlkv_status get_u32_req(struct vlkv_clip *c, const char *key, uint32_t lo, uint32_t hi, int32_t *out) {
    uint32_t v;
    if (!vlkv_gguf_find_kv(&c->f, key))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: missing key '%s'", c->f.path, key);
    if (!vlkv_gguf_get_u32(&c->f, key, &v))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%s' must be an unsigned integer", c->f.path, key);
    if (v < lo || v > hi)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: %s = %u is out of range [%u, %u]", c->f.path, key, v, lo, hi);
    *out = (int32_t)v;
    return VLKV_OK;
}

static vlkv_status get_bool_opt(struct vlkv_clip *c, const char *key, int def, int *out) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(&c->f, key);
    *out = def;
    if (!kv) return VLKV_OK;
    if (!vlkv_gguf_get_bool(&c->f, key, out))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%s' must be a bool", c->f.path, key);
    return VLKV_OK;
}

static vlkv_status get_f32x3(struct vlkv_clip *c, const char *key, const float def[3], int positive, float out[3]) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(&c->f, key);
    if (!kv) {
        VLKV_LOG_WARN("%s: no '%s'; using OpenAI CLIP's values", c->f.path, key);
        memcpy(out, def, 3 * sizeof(float));
        return VLKV_OK;
    }
    if (kv->type != GGUF_ARR || kv->arr_n != 3)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: '%s' must be an array of 3 floats", c->f.path, key);
    for (int i = 0; i < 3; i++) {
        if (!vlkv_gguf_arr_f32(kv, (uint64_t)i, &out[i]) || !isfinite(out[i]) || (positive && !(out[i] > 0)))
            return vlkv_error(VLKV_ERR_FORMAT, "%s: '%s' must hold 3 finite floats%s", c->f.path, key,
                              positive ? " > 0" : "");
    }
    return VLKV_OK;
}

static vlkv_status load_hparams(struct vlkv_clip *c, int compat) {
    vlkv_status st = VLKV_OK;
    struct vlkv_clip_hparams *hp = &c->hp;
    char s[64];
    const char *path = c->f.path;

    VLKV_CHECK(vlkv_gguf_get_str(&c->f, "general.architecture", s, sizeof s), VLKV_ERR_FORMAT,
               "%s: no general.architecture; not an mmproj file", path);
    VLKV_CHECK(!strcmp(s, "clip"), VLKV_ERR_FORMAT,
               "%s: general.architecture is '%s', expected 'clip' (an mmproj file)%s", path, s,
               !strcmp(s, "llama") ? "; this is a text model: pass it with -m, not --mmproj" : "");
    int has_vision, has_text, has_proj, b;
    VLKV_TRY(get_bool_opt(c, "clip.has_vision_encoder", 0, &has_vision));
    VLKV_TRY(get_bool_opt(c, "clip.has_text_encoder", 0, &has_text));
    VLKV_TRY(get_bool_opt(c, "clip.has_llava_projector", 1, &has_proj));
    VLKV_CHECK(has_vision || !has_text, VLKV_ERR_UNSUPPORTED,
               "%s: this CLIP file has only a text encoder; vlkv needs the vision encoder of a LLaVA mmproj", path);
    VLKV_CHECK(has_vision, VLKV_ERR_FORMAT, "%s: clip.has_vision_encoder is missing or false", path);
    VLKV_CHECK(has_proj, VLKV_ERR_UNSUPPORTED,
               "%s: clip.has_llava_projector is false: a plain CLIP vision model has no LLaVA projector", path);
    VLKV_TRY(get_bool_opt(c, "clip.use_silu", 0, &b));
    VLKV_CHECK(!b, VLKV_ERR_UNSUPPORTED, "%s: clip.use_silu (SiLU vision MLP) is not supported", path);

    /* projector type: absent in the 2023 llava files = mlp */
    const char *ptkey = vlkv_gguf_find_kv(&c->f, "clip.projector_type") ? "clip.projector_type"
                        : vlkv_gguf_find_kv(&c->f, "clip.vision.projector_type") ? "clip.vision.projector_type"
                                                                                  : NULL;
    if (ptkey) {
        VLKV_CHECK(vlkv_gguf_get_str(&c->f, ptkey, s, sizeof s), VLKV_ERR_FORMAT, "%s: %s must be a string",
                   path, ptkey);
        VLKV_CHECK(!strcmp(s, "mlp"), VLKV_ERR_UNSUPPORTED,
                   "%s: projector type '%s' is not supported (vlkv implements LLaVA-1.5's 'mlp')", path, s);
    }
    /* LLaVA-1.6 any-resolution */
    int anyres = vlkv_gguf_find_kv(&c->f, "clip.vision.image_grid_pinpoints") != NULL;
    if (vlkv_gguf_get_str(&c->f, "clip.vision.mm_patch_merge_type", s, sizeof s) && strcmp(s, "flat") != 0)
        anyres = 1;
    VLKV_CHECK(!anyres, VLKV_ERR_UNSUPPORTED,
               "%s: LLaVA-1.6 any-resolution mmproj (image_grid_pinpoints / spatial_unpad) is not supported; "
               "use a LLaVA-1.5 mmproj", path);
    if (vlkv_gguf_find_kv(&c->f, "clip.vision.feature_layer"))
        VLKV_LOG_WARN("%s: clip.vision.feature_layer is ignored; the last stored block feeds the projector", path);

    VLKV_TRY(get_u32_req(c, "clip.vision.image_size", 1, 4096, &hp->image_size));
    VLKV_TRY(get_u32_req(c, "clip.vision.patch_size", 1, 1024, &hp->patch_size));
    VLKV_TRY(get_u32_req(c, "clip.vision.embedding_length", 1, 16384, &hp->n_embd));
    VLKV_TRY(get_u32_req(c, "clip.vision.feed_forward_length", 1, 65536, &hp->n_ff));
    VLKV_TRY(get_u32_req(c, "clip.vision.attention.head_count", 1, 1024, &hp->n_head));
    VLKV_TRY(get_u32_req(c, "clip.vision.block_count", 1, 512, &hp->n_layer));
    VLKV_CHECK(hp->patch_size <= hp->image_size, VLKV_ERR_FORMAT, "%s: patch_size %d > image_size %d", path,
               (int)hp->patch_size, (int)hp->image_size);
    VLKV_CHECK(hp->n_embd % hp->n_head == 0, VLKV_ERR_FORMAT,
               "%s: embedding_length %d is not a multiple of head_count %d", path, (int)hp->n_embd,
               (int)hp->n_head);
    hp->eps = 1e-5f;
    if (vlkv_gguf_find_kv(&c->f, "clip.vision.attention.layer_norm_epsilon")) {
        VLKV_CHECK(vlkv_gguf_get_f32(&c->f, "clip.vision.attention.layer_norm_epsilon", &hp->eps) &&
                       hp->eps > 0 && hp->eps < 1, VLKV_ERR_FORMAT,
                   "%s: clip.vision.attention.layer_norm_epsilon must be a float in (0, 1)", path);
    }
    static const float def_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float def_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    VLKV_TRY(get_f32x3(c, "clip.vision.image_mean", def_mean, 0, hp->mean));
    VLKV_TRY(get_f32x3(c, "clip.vision.image_std", def_std, 1, hp->std));
    VLKV_TRY(get_bool_opt(c, "clip.use_gelu", 0, &hp->use_gelu));

    hp->d_head = hp->n_embd / hp->n_head;
    hp->n_patch_side = hp->image_size / hp->patch_size;   /* the conv's stride floors */
    hp->n_patch = hp->n_patch_side * hp->n_patch_side;
    hp->n_pos = hp->n_patch + 1;
    VLKV_CHECK(hp->n_patch >= 1 && hp->n_patch <= 65536, VLKV_ERR_UNSUPPORTED,
               "%s: %d patches per image (image_size %d / patch_size %d) is outside 1..65536", path,
               (int)hp->n_patch, (int)hp->image_size, (int)hp->patch_size);
    hp->llamacpp_compat = compat;
    hp->n_layer_run = compat ? hp->n_layer - 1 : hp->n_layer;
fail:
    return st;
}

static vlkv_status load_tensors(struct vlkv_clip *c) {
    vlkv_status st = VLKV_OK;
    struct vlkv_clip_hparams *hp = &c->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff, P = hp->patch_size;
    const struct vlkv_tensor *t;
    char name[64];

    c->cap_views = 6 * hp->n_layer + 8;
    c->views = calloc((size_t)c->cap_views, sizeof *c->views);
    VLKV_CHECK(c->views, VLKV_ERR_OOM, "%s: out of memory", c->f.path);

    /* patch embedding: conv weight [P, P, 3, E] (kw, kh, cin, cout) = a [3*P*P, E] matrix */
    const int64_t ne_patch[4] = {P, P, 3, E};
    VLKV_TRY(find_shaped(c, "v.patch_embd.weight", 4, ne_patch, &t));
    VLKV_CHECK(t->type == VLKV_TYPE_F16 || t->type == VLKV_TYPE_F32, VLKV_ERR_UNSUPPORTED,
               "%s: v.patch_embd.weight has type %s; the patch convolution must be F16 or F32", c->f.path,
               vlkv_type_name(t->type));
    c->patch_w = *t;
    c->patch_w.n_dims = 2;
    c->patch_w.ne[0] = 3 * P * P;
    c->patch_w.ne[1] = E;
    c->patch_w.ne[2] = c->patch_w.ne[3] = 1;
    c->patch_w.nb[1] = (size_t)(3 * P * P) * t->nb[0];
    c->patch_w.nb[2] = c->patch_w.nb[3] = c->patch_w.nb[1] * (size_t)E;
    if (vlkv_gguf_find_tensor(&c->f, "v.patch_embd.bias"))
        VLKV_TRY(get_vec(c, "v.patch_embd.bias", E, NULL, &c->patch_b));

    VLKV_TRY(get_vec(c, "v.class_embd", E, &c->class_embd, NULL));

    /* learned positions, dequantized once (any weight type, incl. Q8_0 / Q4_0) */
    VLKV_TRY(get_mat(c, "v.position_embd.weight", E, hp->n_pos, &t));
    {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(t->type);
        VLKV_CHECK(tr->to_float || t->type == VLKV_TYPE_F32, VLKV_ERR_UNSUPPORTED,
                   "%s: cannot dequantize v.position_embd.weight (%s)", c->f.path, tr->name);
        c->pos_embd = malloc((size_t)hp->n_pos * E * sizeof(float));
        VLKV_TRY(own(c, c->pos_embd));
        for (int64_t r = 0; r < hp->n_pos; r++) {
            const uint8_t *src = (const uint8_t *)t->data + (size_t)r * t->nb[1];
            if (t->type == VLKV_TYPE_F32) memcpy(c->pos_embd + r * E, src, (size_t)E * sizeof(float));
            else tr->to_float(src, c->pos_embd + r * E, E);
        }
    }
    VLKV_TRY(get_vec(c, "v.pre_ln.weight", E, &c->pre_ln_w, NULL));
    VLKV_TRY(get_vec(c, "v.pre_ln.bias", E, &c->pre_ln_b, NULL));

    c->layers = calloc((size_t)hp->n_layer, sizeof *c->layers);
    VLKV_CHECK(c->layers, VLKV_ERR_OOM, "%s: out of memory", c->f.path);
    for (int il = 0; il < hp->n_layer; il++) {
        struct clip_layer *L = &c->layers[il];
#define NAME(s) (snprintf(name, sizeof name, "v.blk.%d." s, il), name)
        VLKV_TRY(get_vec(c, NAME("ln1.weight"), E, &L->ln1_w, NULL));
        VLKV_TRY(get_vec(c, NAME("ln1.bias"), E, &L->ln1_b, NULL));
        VLKV_TRY(get_vec(c, NAME("ln2.weight"), E, &L->ln2_w, NULL));
        VLKV_TRY(get_vec(c, NAME("ln2.bias"), E, &L->ln2_b, NULL));
        VLKV_TRY(get_mat(c, NAME("attn_q.weight"), E, E, &L->q_w));
        VLKV_TRY(get_mat(c, NAME("attn_k.weight"), E, E, &L->k_w));
        VLKV_TRY(get_mat(c, NAME("attn_v.weight"), E, E, &L->v_w));
        VLKV_TRY(get_mat(c, NAME("attn_out.weight"), E, E, &L->o_w));
        VLKV_TRY(get_vec(c, NAME("attn_q.bias"), E, NULL, &L->q_b));
        VLKV_TRY(get_vec(c, NAME("attn_k.bias"), E, NULL, &L->k_b));
        VLKV_TRY(get_vec(c, NAME("attn_v.bias"), E, NULL, &L->v_b));
        VLKV_TRY(get_vec(c, NAME("attn_out.bias"), E, NULL, &L->o_b));
        /* MLP: decide the naming convention from ffn_down's shape */
        const struct vlkv_tensor *down = vlkv_gguf_find_tensor(&c->f, NAME("ffn_down.weight"));
        VLKV_CHECK(down, VLKV_ERR_FORMAT, "%s: missing tensor '%s'", c->f.path, name);
        int legacy = down->ne[0] == E && down->ne[1] == F;
        if (il == 0) hp->legacy_ffn_names = legacy;
        VLKV_CHECK(legacy == hp->legacy_ffn_names, VLKV_ERR_FORMAT,
                   "%s: block %d names its MLP differently from block 0 (ffn_down shape)", c->f.path, il);
        const char *n1 = legacy ? "ffn_down" : "ffn_up", *n2 = legacy ? "ffn_up" : "ffn_down";
        snprintf(name, sizeof name, "v.blk.%d.%s.weight", il, n1);
        VLKV_TRY(get_mat(c, name, E, F, &L->fc1_w));
        snprintf(name, sizeof name, "v.blk.%d.%s.bias", il, n1);
        VLKV_TRY(get_vec(c, name, F, NULL, &L->fc1_b));
        snprintf(name, sizeof name, "v.blk.%d.%s.weight", il, n2);
        VLKV_TRY(get_mat(c, name, F, E, &L->fc2_w));
        snprintf(name, sizeof name, "v.blk.%d.%s.bias", il, n2);
        VLKV_TRY(get_vec(c, name, E, NULL, &L->fc2_b));
#undef NAME
    }
    snprintf(name, sizeof name, "v.blk.%d.ln1.weight", hp->n_layer);
    if (vlkv_gguf_find_tensor(&c->f, name))
        VLKV_LOG_WARN("%s: holds more blocks than clip.vision.block_count = %d; the extra ones are ignored",
                      c->f.path, (int)hp->n_layer);

    /* projector: mm.0 [E, H], mm.2 [H, n_embd_out] */
    t = vlkv_gguf_find_tensor(&c->f, "mm.0.weight");
    VLKV_CHECK(t, VLKV_ERR_FORMAT, "%s: missing tensor 'mm.0.weight' (the LLaVA projector)", c->f.path);
    VLKV_CHECK(t->n_dims == 2 && t->ne[1] > 0 && t->ne[1] <= 65536, VLKV_ERR_FORMAT,
               "%s: mm.0.weight must be 2-D [%lld, hidden]", c->f.path, (long long)E);
    hp->n_proj_hidden = (int32_t)t->ne[1];
    VLKV_TRY(get_mat(c, "mm.0.weight", E, hp->n_proj_hidden, &c->mm0_w));
    VLKV_TRY(get_vec(c, "mm.0.bias", hp->n_proj_hidden, NULL, &c->mm0_b));
    t = vlkv_gguf_find_tensor(&c->f, "mm.2.weight");
    VLKV_CHECK(t, VLKV_ERR_FORMAT, "%s: missing tensor 'mm.2.weight' (the LLaVA projector)", c->f.path);
    VLKV_CHECK(t->n_dims == 2 && t->ne[1] > 0 && t->ne[1] <= 65536, VLKV_ERR_FORMAT,
               "%s: mm.2.weight must be 2-D [%d, n_embd]", c->f.path, (int)hp->n_proj_hidden);
    hp->n_embd_out = (int32_t)t->ne[1];
    VLKV_TRY(get_mat(c, "mm.2.weight", hp->n_proj_hidden, hp->n_embd_out, &c->mm2_w));
    VLKV_TRY(get_vec(c, "mm.2.bias", hp->n_embd_out, NULL, &c->mm2_b));
fail:
    return st;
}

vlkv_status vlkv_clip_load(const char *path, int llamacpp_compat, struct vlkv_clip **out) {
    vlkv_status st = VLKV_OK;
    struct vlkv_clip *c = NULL;
    if (out) *out = NULL;
    VLKV_CHECK(path && out, VLKV_ERR_INVALID_ARG, "vlkv_clip_load: path and out must not be NULL");
    c = calloc(1, sizeof *c);
    VLKV_CHECK(c, VLKV_ERR_OOM, "%s: out of memory", path);
    VLKV_TRY(vlkv_gguf_open(path, &c->f));
    VLKV_TRY(load_hparams(c, llamacpp_compat));
    VLKV_TRY(load_tensors(c));
    {
        const struct clip_layer *L = &c->layers[0];
        snprintf(c->desc, sizeof c->desc, "clip %dpx/%d %dx%d %s%s", (int)c->hp.image_size, (int)c->hp.patch_size,
                 (int)c->hp.n_layer_run, (int)c->hp.n_embd, vlkv_type_name(L->q_w->type),
                 llamacpp_compat ? " (llama.cpp compat)" : "");
    }
    VLKV_LOG_INFO("%s: %s, %d image tokens, projector %d -> %d -> %d%s", path, c->desc, (int)c->hp.n_patch,
                  (int)c->hp.n_embd, (int)c->hp.n_proj_hidden, (int)c->hp.n_embd_out,
                  c->hp.legacy_ffn_names ? ", legacy ffn names" : "");
    *out = c;
    return VLKV_OK;
fail:
    vlkv_clip_free(c);
    return st;
}

void vlkv_clip_free(struct vlkv_clip *c) {
    if (!c) return;
    for (int i = 0; i < c->n_owned; i++) free(c->owned[i]);
    free(c->owned);
    free(c->views);
    free(c->layers);
    vlkv_gguf_close(&c->f);
    free(c);
}

void vlkv_clip_get_weights(const struct vlkv_clip *c, struct vlkv_clip_weights *w) {
    w->patch_w = &c->patch_w;
    w->patch_b = c->patch_b;
    w->class_embd = c->class_embd;
    w->pos_embd = c->pos_embd;
    w->pre_ln_w = c->pre_ln_w;
    w->pre_ln_b = c->pre_ln_b;
    w->mm0_w = c->mm0_w;
    w->mm0_b = c->mm0_b;
    w->mm2_w = c->mm2_w;
    w->mm2_b = c->mm2_b;
}

void vlkv_clip_get_layer_weights(const struct vlkv_clip *c, int32_t il, struct vlkv_clip_layer_weights *w) {
    const struct clip_layer *L = &c->layers[il];
    *w = (struct vlkv_clip_layer_weights){L->ln1_w, L->ln1_b, L->ln2_w, L->ln2_b, L->q_w, L->k_w, L->v_w, L->o_w,
                                          L->q_b, L->k_b, L->v_b, L->o_b, L->fc1_w, L->fc1_b, L->fc2_w, L->fc2_b};
}

int32_t vlkv_clip_n_tokens(const struct vlkv_clip *c) { return c ? c->hp.n_patch : 0; }
int32_t vlkv_clip_n_embd_out(const struct vlkv_clip *c) { return c ? c->hp.n_embd_out : 0; }
const char *vlkv_clip_desc(const struct vlkv_clip *c) { return c ? c->desc : ""; }
const struct vlkv_clip_hparams *vlkv_clip_get_hparams(const struct vlkv_clip *c) { return &c->hp; }

void vlkv_clip_preproc_params(const struct vlkv_clip *c, struct vlkv_preproc *p) {
    p->size = c->hp.image_size;
    memcpy(p->mean, c->hp.mean, sizeof p->mean);
    memcpy(p->std, c->hp.std, sizeof p->std);
    p->mode = c->hp.llamacpp_compat ? VLKV_PREPROC_MTMD : VLKV_PREPROC_LLAVA;
}

/* ---------------------------------------------------------------------------------------- */
/* forward                                                                                   */

#ifdef VLKV_HAVE_BLAS
/* Does clip_matmul dequantize W whole and call sgemm? Every non-F32 type with a dequantizer
 * (F32 weights already go to sgemm inside vlkv_matmul). For the ViT's shapes (577 rows) one
 * sgemm on the dequantized weight beat both the tiled path and the int8 gemm kernels in
 * bench_clip (Q8_0: 78% vs 43% of sgemm; Q4_0: 55% vs 44%, on a loaded 2-core machine), and it
 * keeps the activations in F32 (no Q8_0 rounding of activations). */
static int dequant_to_blas(const struct vlkv_ops_ctx *o, const struct vlkv_tensor *W) {
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(W->type);
    return o->use_blas && W->type != VLKV_TYPE_F32 && tr && (tr->to_float || o->k->to_float[W->type]);
}
#endif

/* y[n][M] = x[n][K] . W^T + b. With BLAS, non-F32 weights (F16 in the usual mmproj, Q8_0 /
 * Q4_0 in quantized ones) are converted whole to F32 on this thread, then one sgemm runs with
 * the bias preloaded into y (beta = 1): no OpenMP region sits between the conversion and the
 * sgemm (its spinning workers slow OpenBLAS's pthreads down badly: F16 ViT at 22% of sgemm
 * through vlkv_matmul's tiles vs ~60% here), and one large sgemm instead of row tiles. Costs a
 * [M][K] F32 scratch (16 MB for CLIP-L's fc1) and ~1% of the GEMM time for the conversion.
 * That path is now only the single-thread / VLKV_BLAS_OMP=0 one: by default vlkv_matmul runs one
 * single-threaded sgemm per OpenMP thread on its own dequantized rows, which avoids the thread
 * fight altogether (bench_clip, idle, default wait policy: F16 ViT 51% -> 63% of sgemm, Q8_0
 * 62% -> 64%). Without BLAS: vlkv_matmul. */
static vlkv_status clip_matmul(struct vlkv_ops_ctx *o, const struct vlkv_tensor *W, const struct vlkv_tensor *b,
                               const float *x, int64_t n, float *y, float *wf) {
#ifdef VLKV_HAVE_BLAS
    if (dequant_to_blas(o, W) && !(o->blas_in_omp && o->n_threads > 1)) {
        const int64_t K = W->ne[0], M = W->ne[1];
        void (*to_float)(const void *, float *, int64_t) = o->k->to_float[W->type];
        if (!to_float) to_float = vlkv_type_traits_get(W->type)->to_float;
        for (int64_t r = 0; r < M; r++) to_float((const uint8_t *)W->data + (size_t)r * W->nb[1], wf + r * K, K);
        if (b) {
            for (int64_t t = 0; t < n; t++) memcpy(y + t * M, b->data, (size_t)M * sizeof(float));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)M, (int)K, 1.0f, x, (int)K, wf, (int)K,
                    b ? 1.0f : 0.0f, y, (int)M);
        return VLKV_OK;
    }
#endif
    (void)wf;
    return vlkv_matmul(o, W, b, x, n, y);
}

static void attention(struct vlkv_ops_ctx *o, const float *q, const float *k, const float *v, int64_t N, int n_head,
                      int d, float *out, float *s) {
#ifdef VLKV_HAVE_BLAS
    if (o->use_blas) {
        vlkv_attention_blas(o, q, k, v, N, n_head, d, out, s);
        return;
    }
#endif
    (void)s;
    vlkv_attention_dense(o, q, k, v, N, n_head, d, out);
}

vlkv_status vlkv_clip_encode_pixels(struct vlkv_clip *c, struct vlkv_ops_ctx *o, const float *pixels,
                                    float *vit_out, float *out, struct vlkv_clip_timings *tm) {
    vlkv_status st = VLKV_OK;
    const struct vlkv_clip_hparams *hp = &c->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff, H = hp->n_proj_hidden, P = hp->patch_size, S = hp->image_size;
    const int64_t N = hp->n_pos, NP = hp->n_patch, side = hp->n_patch_side, KP = 3 * P * P;
    const int64_t wide = VLKV_MAX(F, H);
    float *buf = NULL;
    double t0 = vlkv_time_ms();

    /* scratch: cols [NP][KP], x/h/q/k/v/att [N][E], ff [N][max(F,H)], scores [N][N], and an F32
     * copy of the largest F16 weight for clip_matmul */
    const int64_t O = hp->n_embd_out;
    const size_t n_wf = (size_t)VLKV_MAX(VLKV_MAX(KP * E, E * E), VLKV_MAX(VLKV_MAX(E * F, E * H), H * O));
    size_t n_f = (size_t)NP * KP + 6 * (size_t)N * E + (size_t)N * wide + (size_t)N * N + n_wf;
    buf = vlkv_malloc_aligned(n_f * sizeof(float));
    VLKV_CHECK(buf, VLKV_ERR_OOM, "clip: cannot allocate %zu MB of scratch", n_f * sizeof(float) >> 20);
    float *cols = buf;                          /* [NP][KP] */
    float *x = cols + (size_t)NP * KP;          /* [N][E] residual stream */
    float *h = x + (size_t)N * E;               /* [N][E] normed / projected */
    float *q = h + (size_t)N * E;               /* [N][E] */
    float *k = q + (size_t)N * E;               /* [N][E] */
    float *v = k + (size_t)N * E;               /* [N][E] */
    float *att = v + (size_t)N * E;             /* [N][E] */
    float *ff = att + (size_t)N * E;            /* [N][max(F, H)] */
    float *sc = ff + (size_t)N * wide;          /* [N][N] attention scores of one head */
    float *wf = sc + (size_t)N * N;             /* [n_wf] dequantized weight */

    /* im2col: cols[py*side+px][(ch*P + ky)*P + kx] = pix[ch][py*P+ky][px*P+kx], the order of
     * the conv weight's contiguous (kw, kh, cin) axes */
    for (int64_t py = 0; py < side; py++)
        for (int64_t px = 0; px < side; px++) {
            float *col = cols + (py * side + px) * KP;
            for (int64_t ch = 0; ch < 3; ch++)
                for (int64_t ky = 0; ky < P; ky++)
                    memcpy(col + (ch * P + ky) * P, pixels + (ch * S + py * P + ky) * S + px * P,
                           (size_t)P * sizeof(float));
        }
    /* patch embeddings into rows 1..N-1, CLS in row 0, then positions */
    VLKV_TRY(clip_matmul(o, &c->patch_w, c->patch_b, cols, NP, x + E, wf));
    memcpy(x, c->class_embd, (size_t)E * sizeof(float));
    vlkv_add(o, x, c->pos_embd, N * E);
    vlkv_layernorm(o, x, c->pre_ln_w, c->pre_ln_b, hp->eps, N, E, h);
    memcpy(x, h, (size_t)N * E * sizeof(float));

    /* per-stage wall time, logged at debug level (-v -v) */
    double t_mm = 0, t_att = 0, t_ew = 0, ta;
#define TIMED(acc, stmt) do { ta = vlkv_time_ms(); stmt; acc += vlkv_time_ms() - ta; } while (0)
    for (int il = 0; il < hp->n_layer_run; il++) {
        const struct clip_layer *L = &c->layers[il];
        /* attention: x += out(softmax(q k^T / sqrt(d)) v) over all N positions, no mask */
        TIMED(t_ew, vlkv_layernorm(o, x, L->ln1_w, L->ln1_b, hp->eps, N, E, h));
        TIMED(t_mm, VLKV_TRY(clip_matmul(o, L->q_w, L->q_b, h, N, q, wf)));
        TIMED(t_mm, VLKV_TRY(clip_matmul(o, L->k_w, L->k_b, h, N, k, wf)));
        TIMED(t_mm, VLKV_TRY(clip_matmul(o, L->v_w, L->v_b, h, N, v, wf)));
        TIMED(t_att, attention(o, q, k, v, N, hp->n_head, hp->d_head, att, sc));
        TIMED(t_mm, VLKV_TRY(clip_matmul(o, L->o_w, L->o_b, att, N, h, wf)));
        TIMED(t_ew, vlkv_add(o, x, h, N * E));
        /* MLP: x += fc2(act(fc1(ln2(x)))) */
        TIMED(t_ew, vlkv_layernorm(o, x, L->ln2_w, L->ln2_b, hp->eps, N, E, h));
        TIMED(t_mm, VLKV_TRY(clip_matmul(o, L->fc1_w, L->fc1_b, h, N, ff, wf)));
        TIMED(t_ew, if (hp->use_gelu) vlkv_gelu_erf(o, ff, N * F); else vlkv_gelu_quick(o, ff, N * F));
        TIMED(t_mm, VLKV_TRY(clip_matmul(o, L->fc2_w, L->fc2_b, ff, N, h, wf)));
        TIMED(t_ew, vlkv_add(o, x, h, N * E));
    }
#undef TIMED
    VLKV_LOG_DBG("clip: %d blocks: matmul %.1f ms (%.1f GFLOP/s), attention %.1f ms, norms/activations %.1f ms",
                 (int)hp->n_layer_run, t_mm,
                 t_mm > 0 ? hp->n_layer_run * (8.0 * N * E * E + 4.0 * N * E * F) / t_mm / 1e6 : 0.0, t_att, t_ew);
    /* drop CLS: the patch rows x[1..N) are the projector's input */
    const float *feat = x + E;
    if (vit_out) memcpy(vit_out, feat, (size_t)NP * E * sizeof(float));
    double t1 = vlkv_time_ms();
    if (tm) tm->vision_ms += t1 - t0;
    if (!out) goto fail;

    /* projector: out = mm.2 . gelu(mm.0 . f + b0) + b2 (erf GELU as LLaVA's nn.GELU) */
    VLKV_TRY(clip_matmul(o, c->mm0_w, c->mm0_b, feat, NP, ff, wf));
    if (hp->llamacpp_compat) vlkv_gelu_tanh(o, ff, NP * H);
    else vlkv_gelu_erf(o, ff, NP * H);
    VLKV_TRY(clip_matmul(o, c->mm2_w, c->mm2_b, ff, NP, out, wf));
    if (tm) tm->projector_ms += vlkv_time_ms() - t1;
fail:
    vlkv_free_aligned(buf);
    return st;
}

vlkv_status vlkv_clip_encode(struct vlkv_clip *c, struct vlkv_ops_ctx *o, const vlkv_image *img, float *out,
                             struct vlkv_clip_timings *tm) {
    vlkv_status st = VLKV_OK;
    float *pix = NULL;
    VLKV_CHECK(c && o && img && out, VLKV_ERR_INVALID_ARG, "vlkv_clip_encode: NULL argument");
    const double t0 = vlkv_time_ms();
    const size_t S = (size_t)c->hp.image_size;
    pix = malloc(3 * S * S * sizeof *pix);
    VLKV_CHECK(pix, VLKV_ERR_OOM, "clip: out of memory for a %zux%zu image", S, S);
    struct vlkv_preproc pp;
    vlkv_clip_preproc_params(c, &pp);
    VLKV_TRY(vlkv_image_preprocess(img, &pp, pix));
    if (tm) tm->preprocess_ms += vlkv_time_ms() - t0;
    VLKV_TRY(vlkv_clip_encode_pixels(c, o, pix, NULL, out, tm));
fail:
    free(pix);
    return st;
}
