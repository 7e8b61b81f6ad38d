/* test_clip.c - mmproj loading and the CLIP ViT + projector forward.
 * The test writes its own tiny mmproj files with the GGUF writer (so every key and tensor can
 * be broken on purpose) and checks: loader errors (wrong architecture, text-only, missing
 * tensor, wrong shape, unsupported projector, LLaVA-1.6 any-resolution keys, bad patch type),
 * both MLP naming conventions (legacy swapped ffn_down/ffn_up detected by shape), and the
 * forward against a naive double-precision reference written here from formats.md §5.3
 * (patch conv, CLS first, positions, pre-LN, pre-LN blocks, quick-GELU / GELU, CLS dropped,
 * erf-GELU projector), for F32 weights, F16 weights with a Q8_0 position embedding, and the
 * llama.cpp compat mode (one block fewer, tanh GELU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "gguf.h"
#include "image.h"
#include "internal.h"
#include "ops.h"
#include "types.h"
#include "test_util.h"

/* tiny ViT: 16x16 image, 4x4 patches -> 16 tokens + CLS */
enum { S = 16, P = 4, NP = 16, NPOS = 17, E = 32, F = 64, NH = 4, DH = 8, NL = 2, H = 64, OUT = 40 };

struct opts {
    const char *arch;            /* general.architecture (NULL = omit) */
    const char *proj_type;       /* clip.projector_type value (NULL = omit) */
    const char *proj_key;        /* key name for it (default clip.projector_type) */
    int         text_only;       /* has_vision_encoder false, has_text_encoder true */
    int         anyres;          /* add image_grid_pinpoints + spatial_unpad */
    const char *drop;            /* tensor to leave out */
    const char *bad_shape;       /* tensor written with ne0 + 1 (rank kept) */
    int         new_names;       /* fc1 as ffn_up (current convention) instead of ffn_down */
    int         use_gelu;
    uint32_t    wtype;           /* 2-D weights: F32 or F16 */
    uint32_t    pos_type;        /* F32 or Q8_0 */
    uint32_t    patch_type;      /* F16 / F32 (Q8_0 to test rejection) */
};

/* weights as the engine will see them (after storage rounding) */
struct ref_model {
    float patch[E * 3 * P * P];     /* [E][3][P][P] */
    float cls[E], pos[NPOS * E], pre_w[E], pre_b[E];
    struct {
        float ln1_w[E], ln1_b[E], ln2_w[E], ln2_b[E];
        float q[E * E], k[E * E], v[E * E], o[E * E], qb[E], kb[E], vb[E], ob[E];
        float fc1[F * E], fc1b[F], fc2[E * F], fc2b[E];
    } l[NL];
    float mm0[H * E], mm0b[H], mm2[OUT * H], mm2b[OUT];
};

static test_rng rng;

static void fill(float *x, int n, float scale, float offset) {
    for (int i = 0; i < n; i++) x[i] = offset + scale * rng_f32(&rng);
}

/* Add a tensor; rounds `x` in place to what the stored type represents. */
static void put(struct gguf_writer *w, const struct opts *op, const char *name, uint32_t type, int n_dims,
                const int64_t *ne_in, float *x) {
    if (op->drop && !strcmp(op->drop, name)) return;
    int64_t ne[4] = {1, 1, 1, 1}, n = 1;
    for (int i = 0; i < n_dims; i++) { ne[i] = ne_in[i]; n *= ne[i]; }
    if (op->bad_shape && !strcmp(op->bad_shape, name)) {
        /* a wrong shape: the same data claimed as [ne0/2, 2*ne1...] */
        if (ne[0] % 2 == 0) { ne[0] /= 2; ne[1] *= 2; if (n_dims == 1) n_dims = 2; }
    }
    if (type == VLKV_TYPE_F32) {
        vlkv_gguf_w_tensor(w, name, type, n_dims, ne, x);
        return;
    }
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(type);
    size_t bytes = (size_t)n / tr->blck * tr->type_size;
    void *q = malloc(bytes);
    tr->from_float(x, q, n);
    tr->to_float(q, x, n);
    vlkv_gguf_w_tensor(w, name, type, n_dims, ne, q);
    free(q);
}

static int write_mmproj(const char *path, const struct opts *op, struct ref_model *m) {
    struct gguf_writer *w = vlkv_gguf_writer_new(32);
    if (op->arch) vlkv_gguf_w_str(w, "general.architecture", op->arch);
    vlkv_gguf_w_bool(w, "clip.has_text_encoder", op->text_only);
    vlkv_gguf_w_bool(w, "clip.has_vision_encoder", !op->text_only);
    vlkv_gguf_w_bool(w, "clip.has_llava_projector", 1);
    if (op->proj_type) vlkv_gguf_w_str(w, op->proj_key ? op->proj_key : "clip.projector_type", op->proj_type);
    if (op->anyres) {
        const int32_t pins[4] = {336, 672, 672, 336};
        vlkv_gguf_w_arr_i32(w, "clip.vision.image_grid_pinpoints", pins, 4);
        vlkv_gguf_w_str(w, "clip.vision.mm_patch_merge_type", "spatial_unpad");
    }
    vlkv_gguf_w_u32(w, "general.file_type", 1);
    vlkv_gguf_w_u32(w, "clip.vision.image_size", S);
    vlkv_gguf_w_u32(w, "clip.vision.patch_size", P);
    vlkv_gguf_w_u32(w, "clip.vision.embedding_length", E);
    vlkv_gguf_w_u32(w, "clip.vision.feed_forward_length", F);
    vlkv_gguf_w_u32(w, "clip.vision.projection_dim", 16);
    vlkv_gguf_w_u32(w, "clip.vision.attention.head_count", NH);
    vlkv_gguf_w_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    vlkv_gguf_w_u32(w, "clip.vision.block_count", NL);
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, sd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    vlkv_gguf_w_arr_f32(w, "clip.vision.image_mean", mean, 3);
    vlkv_gguf_w_arr_f32(w, "clip.vision.image_std", sd, 3);
    vlkv_gguf_w_bool(w, "clip.use_gelu", op->use_gelu);

    rng.s = 0x1234567ull;
    const uint32_t wt = op->wtype;
    int64_t ne[4];
    ne[0] = P; ne[1] = P; ne[2] = 3; ne[3] = E;
    fill(m->patch, E * 3 * P * P, 0.15f, 0);
    put(w, op, "v.patch_embd.weight", op->patch_type, 4, ne, m->patch);
    ne[0] = E;
    fill(m->cls, E, 0.5f, 0);
    put(w, op, "v.class_embd", VLKV_TYPE_F32, 1, ne, m->cls);
    ne[0] = E; ne[1] = NPOS;
    fill(m->pos, NPOS * E, 0.3f, 0);
    put(w, op, "v.position_embd.weight", op->pos_type, 2, ne, m->pos);
    fill(m->pre_w, E, 0.2f, 1);
    fill(m->pre_b, E, 0.1f, 0);
    ne[0] = E;
    put(w, op, "v.pre_ln.weight", VLKV_TYPE_F32, 1, ne, m->pre_w);
    put(w, op, "v.pre_ln.bias", VLKV_TYPE_F32, 1, ne, m->pre_b);
    for (int il = 0; il < NL; il++) {
        char nm[64];
#define N(s) (snprintf(nm, sizeof nm, "v.blk.%d." s, il), nm)
        fill(m->l[il].ln1_w, E, 0.2f, 1); fill(m->l[il].ln1_b, E, 0.1f, 0);
        fill(m->l[il].ln2_w, E, 0.2f, 1); fill(m->l[il].ln2_b, E, 0.1f, 0);
        ne[0] = E;
        put(w, op, N("ln1.weight"), VLKV_TYPE_F32, 1, ne, m->l[il].ln1_w);
        put(w, op, N("ln1.bias"), VLKV_TYPE_F32, 1, ne, m->l[il].ln1_b);
        fill(m->l[il].q, E * E, 0.3f, 0); fill(m->l[il].k, E * E, 0.3f, 0);
        fill(m->l[il].v, E * E, 0.3f, 0); fill(m->l[il].o, E * E, 0.2f, 0);
        fill(m->l[il].qb, E, 0.1f, 0); fill(m->l[il].kb, E, 0.1f, 0);
        fill(m->l[il].vb, E, 0.1f, 0); fill(m->l[il].ob, E, 0.1f, 0);
        ne[0] = E; ne[1] = E;
        put(w, op, N("attn_q.weight"), wt, 2, ne, m->l[il].q);
        put(w, op, N("attn_k.weight"), wt, 2, ne, m->l[il].k);
        put(w, op, N("attn_v.weight"), wt, 2, ne, m->l[il].v);
        put(w, op, N("attn_out.weight"), wt, 2, ne, m->l[il].o);
        put(w, op, N("attn_q.bias"), VLKV_TYPE_F32, 1, ne, m->l[il].qb);
        put(w, op, N("attn_k.bias"), VLKV_TYPE_F32, 1, ne, m->l[il].kb);
        put(w, op, N("attn_v.bias"), VLKV_TYPE_F32, 1, ne, m->l[il].vb);
        put(w, op, N("attn_out.bias"), VLKV_TYPE_F32, 1, ne, m->l[il].ob);
        put(w, op, N("ln2.weight"), VLKV_TYPE_F32, 1, ne, m->l[il].ln2_w);
        put(w, op, N("ln2.bias"), VLKV_TYPE_F32, 1, ne, m->l[il].ln2_b);
        fill(m->l[il].fc1, F * E, 0.3f, 0); fill(m->l[il].fc1b, F, 0.1f, 0);
        fill(m->l[il].fc2, E * F, 0.2f, 0); fill(m->l[il].fc2b, E, 0.1f, 0);
        const char *n1 = op->new_names ? "ffn_up" : "ffn_down", *n2 = op->new_names ? "ffn_down" : "ffn_up";
        char a[64];
        ne[0] = E; ne[1] = F;
        snprintf(a, sizeof a, "v.blk.%d.%s.weight", il, n1);
        put(w, op, a, wt, 2, ne, m->l[il].fc1);
        snprintf(a, sizeof a, "v.blk.%d.%s.bias", il, n1);
        ne[0] = F;
        put(w, op, a, VLKV_TYPE_F32, 1, ne, m->l[il].fc1b);
        ne[0] = F; ne[1] = E;
        snprintf(a, sizeof a, "v.blk.%d.%s.weight", il, n2);
        put(w, op, a, wt, 2, ne, m->l[il].fc2);
        snprintf(a, sizeof a, "v.blk.%d.%s.bias", il, n2);
        ne[0] = E;
        put(w, op, a, VLKV_TYPE_F32, 1, ne, m->l[il].fc2b);
#undef N
    }
    fill(m->mm0, H * E, 0.3f, 0); fill(m->mm0b, H, 0.1f, 0);
    fill(m->mm2, OUT * H, 0.2f, 0); fill(m->mm2b, OUT, 0.1f, 0);
    ne[0] = E; ne[1] = H;
    put(w, op, "mm.0.weight", wt, 2, ne, m->mm0);
    ne[0] = H;
    put(w, op, "mm.0.bias", VLKV_TYPE_F32, 1, ne, m->mm0b);
    ne[0] = H; ne[1] = OUT;
    put(w, op, "mm.2.weight", wt, 2, ne, m->mm2);
    ne[0] = OUT;
    put(w, op, "mm.2.bias", VLKV_TYPE_F32, 1, ne, m->mm2b);
    vlkv_status st = vlkv_gguf_writer_save(w, path);
    vlkv_gguf_writer_free(w);
    if (st != VLKV_OK) fprintf(stderr, "writer: %s\n", vlkv_last_error());
    return st == VLKV_OK;
}

static struct opts good(void) {
    struct opts o = {0};
    o.arch = "clip";
    o.wtype = VLKV_TYPE_F32;
    o.pos_type = VLKV_TYPE_F32;
    o.patch_type = VLKV_TYPE_F32;
    return o;
}

/* ---- naive double reference (formats.md §5.3) ----------------------------------------------- */

static void ref_ln(const double *x, const float *w, const float *b, double *y) {
    double mu = 0, var = 0;
    for (int i = 0; i < E; i++) mu += x[i];
    mu /= E;
    for (int i = 0; i < E; i++) var += (x[i] - mu) * (x[i] - mu);
    var /= E;
    for (int i = 0; i < E; i++) y[i] = (x[i] - mu) / sqrt(var + 1e-5) * w[i] + b[i];
}

static void ref_lin(const float *W, const float *b, const double *x, int in, int out, double *y) {
    for (int o = 0; o < out; o++) {
        double s = b[o];
        for (int i = 0; i < in; i++) s += (double)W[o * in + i] * x[i];
        y[o] = s;
    }
}

static void ref_forward(const struct ref_model *m, const float *pix, int n_layer, int use_gelu, int tanh_proj,
                        double *vit, double *out) {
    static double x[NPOS][E], h[NPOS][E], q[NPOS][E], k[NPOS][E], v[NPOS][E], a[NPOS][E], t[F];
    for (int e = 0; e < E; e++) x[0][e] = m->cls[e];
    for (int py = 0; py < S / P; py++)
        for (int px = 0; px < S / P; px++)
            for (int o = 0; o < E; o++) {
                double s = 0;
                for (int c = 0; c < 3; c++)
                    for (int ky = 0; ky < P; ky++)
                        for (int kx = 0; kx < P; kx++)
                            s += (double)m->patch[kx + P * (ky + P * (c + 3 * o))] *
                                 pix[(c * S + py * P + ky) * S + px * P + kx];
                x[1 + py * (S / P) + px][o] = s;
            }
    for (int r = 0; r < NPOS; r++)
        for (int e = 0; e < E; e++) x[r][e] += m->pos[r * E + e];
    for (int r = 0; r < NPOS; r++) ref_ln(x[r], m->pre_w, m->pre_b, h[r]);
    memcpy(x, h, sizeof x);
    for (int il = 0; il < n_layer; il++) {
        for (int r = 0; r < NPOS; r++) {
            ref_ln(x[r], m->l[il].ln1_w, m->l[il].ln1_b, h[r]);
            ref_lin(m->l[il].q, m->l[il].qb, h[r], E, E, q[r]);
            ref_lin(m->l[il].k, m->l[il].kb, h[r], E, E, k[r]);
            ref_lin(m->l[il].v, m->l[il].vb, h[r], E, E, v[r]);
        }
        for (int hd = 0; hd < NH; hd++)
            for (int i = 0; i < NPOS; i++) {
                double s[NPOS], mx = -1e300, sum = 0;
                for (int j = 0; j < NPOS; j++) {
                    double d = 0;
                    for (int c = 0; c < DH; c++) d += q[i][hd * DH + c] * k[j][hd * DH + c];
                    s[j] = d / sqrt((double)DH);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < NPOS; j++) sum += (s[j] = exp(s[j] - mx));
                for (int c = 0; c < DH; c++) {
                    double acc = 0;
                    for (int j = 0; j < NPOS; j++) acc += s[j] / sum * v[j][hd * DH + c];
                    a[i][hd * DH + c] = acc;
                }
            }
        for (int r = 0; r < NPOS; r++) {
            double o[E];
            ref_lin(m->l[il].o, m->l[il].ob, a[r], E, E, o);
            for (int e = 0; e < E; e++) x[r][e] += o[e];
            ref_ln(x[r], m->l[il].ln2_w, m->l[il].ln2_b, h[r]);
            ref_lin(m->l[il].fc1, m->l[il].fc1b, h[r], E, F, t);
            for (int i = 0; i < F; i++)
                t[i] = use_gelu ? 0.5 * t[i] * (1 + erf(t[i] / sqrt(2.0))) : t[i] / (1 + exp(-1.702 * t[i]));
            ref_lin(m->l[il].fc2, m->l[il].fc2b, t, F, E, o);
            for (int e = 0; e < E; e++) x[r][e] += o[e];
        }
    }
    for (int p = 0; p < NP; p++) {
        double hid[H];
        for (int e = 0; e < E; e++) vit[p * E + e] = x[1 + p][e];
        ref_lin(m->mm0, m->mm0b, x[1 + p], E, H, hid);
        for (int i = 0; i < H; i++)
            hid[i] = tanh_proj ? 0.5 * hid[i] * (1 + tanh(0.7978845608028654 * (hid[i] + 0.044715 * hid[i] * hid[i] * hid[i])))
                               : 0.5 * hid[i] * (1 + erf(hid[i] / sqrt(2.0)));
        ref_lin(m->mm2, m->mm2b, hid, H, OUT, out + p * OUT);
    }
}

static double rel_err(const float *a, const double *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* ---- tests ---------------------------------------------------------------------------------- */

static struct ref_model model;

static void expect_load_error(const struct opts *op, vlkv_status want, const char *needle, const char *what) {
    const char *path = "test_clip_bad.gguf";
    if (!write_mmproj(path, op, &model)) { CHECK(0); return; }
    struct vlkv_clip *c = (struct vlkv_clip *)1;
    vlkv_status st = vlkv_clip_load(path, 0, &c);
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", what, (int)st, (int)want, vlkv_last_error());
    CHECK_MSG(c == NULL, "%s: out not NULL", what);
    CHECK_MSG(strstr(vlkv_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, vlkv_last_error(),
              needle);
    CHECK_MSG(strstr(vlkv_last_error(), path) != NULL, "%s: message does not name the file", what);
    vlkv_clip_free(c == (struct vlkv_clip *)1 ? NULL : c);
    remove(path);
}

static void test_errors(void) {
    struct opts o;
    o = good(); o.arch = "llama";
    expect_load_error(&o, VLKV_ERR_FORMAT, "'llama'", "wrong architecture");
    o = good(); o.arch = NULL;
    expect_load_error(&o, VLKV_ERR_FORMAT, "general.architecture", "no architecture");
    o = good(); o.text_only = 1;
    expect_load_error(&o, VLKV_ERR_UNSUPPORTED, "text encoder", "text encoder only");
    o = good(); o.proj_type = "ldp";
    expect_load_error(&o, VLKV_ERR_UNSUPPORTED, "'ldp'", "ldp projector");
    o = good(); o.proj_type = "resampler"; o.proj_key = "clip.vision.projector_type";
    expect_load_error(&o, VLKV_ERR_UNSUPPORTED, "'resampler'", "vision.projector_type");
    o = good(); o.anyres = 1;
    expect_load_error(&o, VLKV_ERR_UNSUPPORTED, "LLaVA-1.6", "anyres");
    o = good(); o.drop = "v.blk.1.attn_k.weight";
    expect_load_error(&o, VLKV_ERR_FORMAT, "v.blk.1.attn_k.weight", "missing tensor");
    o = good(); o.drop = "mm.2.bias";
    expect_load_error(&o, VLKV_ERR_FORMAT, "mm.2.bias", "missing projector bias");
    o = good(); o.drop = "v.position_embd.weight";
    expect_load_error(&o, VLKV_ERR_FORMAT, "position_embd", "missing positions");
    o = good(); o.bad_shape = "v.blk.0.attn_v.weight";
    expect_load_error(&o, VLKV_ERR_FORMAT, "v.blk.0.attn_v.weight", "wrong shape");
    o = good(); o.bad_shape = "v.blk.0.ln2.bias";
    expect_load_error(&o, VLKV_ERR_FORMAT, "ln2.bias", "wrong vector shape");
    o = good(); o.bad_shape = "v.blk.1.ffn_up.weight";
    expect_load_error(&o, VLKV_ERR_FORMAT, "ffn_up", "wrong fc2 shape");
    o = good(); o.drop = "v.patch_embd.weight";
    expect_load_error(&o, VLKV_ERR_FORMAT, "patch_embd", "missing patch conv");

    /* not a GGUF at all / missing file */
    struct vlkv_clip *c = NULL;
    CHECK(vlkv_clip_load("test_clip_missing.gguf", 0, &c) == VLKV_ERR_IO && c == NULL);
    FILE *f = fopen("test_clip_text.gguf", "wb");
    if (f) { fputs("not a gguf file at all, just text\n", f); fclose(f); }
    CHECK(vlkv_clip_load("test_clip_text.gguf", 0, &c) == VLKV_ERR_FORMAT && c == NULL);
    remove("test_clip_text.gguf");
    vlkv_clip_free(NULL);
}

static void run_forward(const char *what, const struct opts *op, int compat, double tol) {
    const char *path = "test_clip_fwd.gguf";
    if (!write_mmproj(path, op, &model)) { CHECK(0); return; }
    struct vlkv_clip *c = NULL;
    vlkv_status st = vlkv_clip_load(path, compat, &c);
    CHECK_MSG(st == VLKV_OK, "%s: load: %s", what, vlkv_last_error());
    if (!c) return;
    const struct vlkv_clip_hparams *hp = vlkv_clip_get_hparams(c);
    CHECK(vlkv_clip_n_tokens(c) == NP && vlkv_clip_n_embd_out(c) == OUT);
    CHECK(hp->n_layer == NL && hp->n_layer_run == (compat ? NL - 1 : NL) && hp->n_proj_hidden == H);
    CHECK_MSG(hp->legacy_ffn_names == !op->new_names, "%s: ffn naming detected wrong", what);

    static float pix[3 * S * S], vit[NP * E], out[NP * OUT];
    static double rvit[NP * E], rout[NP * OUT];
    rng.s = 99;
    for (int i = 0; i < 3 * S * S; i++) pix[i] = 2.0f * rng_f32(&rng);
    struct vlkv_ops_ctx o;
    vlkv_ops_init(&o, 2);
    struct vlkv_clip_timings tm = {0};
    st = vlkv_clip_encode_pixels(c, &o, pix, vit, out, &tm);
    CHECK_MSG(st == VLKV_OK, "%s: encode: %s", what, vlkv_last_error());
    ref_forward(&model, pix, compat ? NL - 1 : NL, op->use_gelu, compat, rvit, rout);
    double ev = rel_err(vit, rvit, NP * E), eo = rel_err(out, rout, NP * OUT);
    printf("  %-28s vit rel err %.2e  projector rel err %.2e\n", what, ev, eo);
    CHECK_MSG(ev < tol && eo < tol, "%s: rel err vit %g out %g > %g", what, ev, eo, tol);
    CHECK(tm.vision_ms >= 0 && tm.projector_ms >= 0);
    /* the same without BLAS (kernel-table matmuls, vlkv_attention_dense) */
    {
        static float vit_nb[NP * E], out_nb[NP * OUT];
        int ub = o.use_blas;
        o.use_blas = 0;
        CHECK(vlkv_clip_encode_pixels(c, &o, pix, vit_nb, out_nb, NULL) == VLKV_OK);
        o.use_blas = ub;
        double ev2 = rel_err(vit_nb, rvit, NP * E), eo2 = rel_err(out_nb, rout, NP * OUT);
        CHECK_MSG(ev2 < tol && eo2 < tol, "%s without BLAS: rel err vit %g out %g > %g", what, ev2, eo2, tol);
    }

    /* the image path = preprocess + encode_pixels */
    uint8_t rgb[20 * 11 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(rng_u64(&rng) & 0xff);
    vlkv_image *img = NULL;
    CHECK(vlkv_image_from_rgb(rgb, 20, 11, &img) == VLKV_OK);
    struct vlkv_preproc pp;
    vlkv_clip_preproc_params(c, &pp);
    CHECK(pp.size == S && pp.mode == (compat ? VLKV_PREPROC_MTMD : VLKV_PREPROC_LLAVA));
    CHECK(vlkv_image_preprocess(img, &pp, pix) == VLKV_OK);
    CHECK(vlkv_clip_encode_pixels(c, &o, pix, NULL, out, NULL) == VLKV_OK);
    static float out2[NP * OUT];
    CHECK(vlkv_clip_encode(c, &o, img, out2, &tm) == VLKV_OK);
    CHECK(memcmp(out, out2, sizeof out) == 0);
    vlkv_image_free(img);
    vlkv_ops_free(&o);
    vlkv_clip_free(c);
    remove(path);
}

int main(void) {
    test_errors();
    struct opts o = good();
    /* F32 everything: only float rounding in the ops (BLAS / kernel accumulation order) */
    run_forward("f32 legacy names", &o, 0, 2e-5);
    o.new_names = 1;
    run_forward("f32 current names", &o, 0, 2e-5);
    o.new_names = 0;
    o.use_gelu = 1;
    run_forward("f32 gelu", &o, 0, 2e-5);
    o.use_gelu = 0;
    /* F16 weights + Q8_0 positions: the reference uses the same rounded weights; activations
     * may be converted to F16 for F16 dot products (rel. 2^-11 per product), hence 2e-3 */
    o.wtype = VLKV_TYPE_F16;
    o.patch_type = VLKV_TYPE_F16;
    o.pos_type = VLKV_TYPE_Q8_0;
    run_forward("f16 weights, q8_0 positions", &o, 0, 2e-3);
    o = good();
    run_forward("llama.cpp compat", &o, 1, 2e-5);
    return test_done("test_clip");
}
