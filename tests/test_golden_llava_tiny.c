/* test_golden_llava_tiny.c - the shipped model (models/llava-tiny-f16.gguf + mmproj-llava-tiny-f16.gguf)
 * against the PyTorch model it was exported from (issue 5, "agreement"). Fixtures in
 * tests/golden/llava_tiny, made by models/ref_dump.py (PyTorch fp32 forward over the weights read
 * back from the F16 GGUF pair with its own reader; see that directory's README). Per case:
 *   1. preprocessing of the PNG (case 0, a non-square image: the padding path) to one 8-bit LSB;
 *   2. ViT output (first 16 rows, CLS dropped) and projector output from the engine's pixels:
 *      NMSE <= 1e-6 (F16 weights widened to F32 as in the reference; measured ~3e-14);
 *   3. first-step logits after [prefix ids, 144 image rows, question ids] at the recorded ids:
 *      max|d| / max|ref| <= 2e-3 (F16 KV cache; measured <= 1.4e-4) with the same top-1;
 *   4. the public path's prompt (vlkv_prompt_build: LLaVA-1.5 template + SPM tokenizer) is exactly
 *      the reference's ids, including the "▁" LLaVA-1.5 keeps before the image;
 *   5. free-running greedy ids identical to the reference's up to 16 tokens (a divergence is only
 *      accepted where the reference's own top-2 margin is below the logits bound).
 * Skips (77) if the shipped models are missing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "image.h"
#include "ops.h"
#include "prompt.h"
#include "test_util.h"
#include "vlkv.h"

#define TOL_VIT 1e-6
#define TOL_LOGITS 2e-3
#define MAXC 8
#define MAXTOK 64

static const char *gdir = VLKV_SOURCE_DIR "/tests/golden/llava_tiny";

struct gcase {
    char    image[256], prompt[256];
    int32_t prefix[MAXTOK], n_prefix;
    int32_t question[MAXTOK], n_question;
    int32_t greedy[MAXTOK], n_greedy;
    char    pixels[64], vit[64], proj[64], logits[64];
    int     vit_rows, proj_rows;
    double  margin;
};

static int read_ids(char *s, int32_t *out, int max) {
    char *e;
    long n = strtol(s, &e, 10);
    if (n < 0 || n > max) return -1;
    for (long i = 0; i < n; i++) {
        s = e;
        out[i] = (int32_t)strtol(s, &e, 10);
        if (e == s) return -1;
    }
    return (int)n;
}

static int parse_cases(struct gcase *c, int max) {
    char path[512], line[2048];
    snprintf(path, sizeof path, "%s/cases.txt", gdir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *sp = strchr(line, ' ');
        char *val = sp ? sp + 1 : line + strlen(line);
        if (sp) *sp = '\0';
        if (!strcmp(line, "case")) {
            if (++n >= max) break;
            memset(&c[n], 0, sizeof c[n]);
            continue;
        }
        if (n < 0 || n >= max) continue;
        struct gcase *g = &c[n];
        if (!strcmp(line, "image")) snprintf(g->image, sizeof g->image, "%s", val);
        else if (!strcmp(line, "prompt")) snprintf(g->prompt, sizeof g->prompt, "%s", val);
        else if (!strcmp(line, "prefix_ids")) g->n_prefix = read_ids(val, g->prefix, MAXTOK);
        else if (!strcmp(line, "question_ids")) g->n_question = read_ids(val, g->question, MAXTOK);
        else if (!strcmp(line, "greedy")) g->n_greedy = read_ids(val, g->greedy, MAXTOK);
        else if (!strcmp(line, "greedy_min_top2_margin")) g->margin = atof(val);
        else if (!strcmp(line, "pixels")) sscanf(val, "%63s", g->pixels);
        else if (!strcmp(line, "vit")) sscanf(val, "%63s %d", g->vit, &g->vit_rows);
        else if (!strcmp(line, "proj")) sscanf(val, "%63s %d", g->proj, &g->proj_rows);
        else if (!strcmp(line, "logits")) sscanf(val, "%63s", g->logits);
    }
    fclose(f);
    return n + 1 < max ? n + 1 : max;
}

static float *load_f32(const char *name, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", gdir, name);
    FILE *f = fopen(path, "rb");
    float *x = malloc(n * sizeof *x);
    size_t got = f && x ? fread(x, sizeof *x, n, f) : 0;
    int extra = f ? fgetc(f) != EOF : 1;
    if (f) fclose(f);
    if (got != n || extra) {
        fprintf(stderr, "fixture %s: expected exactly %zu floats\n", path, n);
        free(x);
        return NULL;
    }
    return x;
}

static int32_t tok_cb(void *ud, const char *text, size_t len, int add_bos, int parse_special, int32_t *out,
                      int32_t n_max) {
    return vlkv_tokenize(ud, text, len, add_bos, parse_special, out, n_max);
}
static int32_t piece_cb(void *ud, int32_t id, char *buf, int32_t n) { return vlkv_token_to_piece(ud, id, buf, n); }

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static double rel_err(const float *a, const float *r, int n) {
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - r[i]));
        s = fmax(s, fabs((double)r[i]));
    }
    return d / (s > 0 ? s : 1);
}

static void run_case(int ci, const struct gcase *g, vlkv_model *model, struct vlkv_clip *clip,
                     struct vlkv_ops_ctx *ops) {
    const struct vlkv_clip_hparams *hp = vlkv_clip_get_hparams(clip);
    const int n_vocab = vlkv_model_n_vocab(model);
    struct vlkv_preproc pp;
    vlkv_clip_preproc_params(clip, &pp);
    const size_t n_px = (size_t)3 * pp.size * pp.size;
    const size_t n_vit = (size_t)hp->n_patch * hp->n_embd, n_proj = (size_t)hp->n_patch * hp->n_embd_out;
    float *px = malloc(n_px * sizeof *px), *vit = malloc(n_vit * sizeof *vit), *proj = malloc(n_proj * sizeof *proj);
    float *ref_vit = NULL, *ref_proj = NULL, *ref_px = NULL, *ref_logits = NULL, *lg1 = NULL;
    vlkv_image *img = NULL;
    vlkv_context *ctx = NULL;
    char path[1024];
    CHECK(px && vit && proj);
    if (!px || !vit || !proj) goto done;
    CHECK_MSG(g->n_prefix > 0 && g->n_question > 0 && g->n_greedy > 0 && g->vit_rows > 0 && g->proj_rows > 0,
              "case %d: incomplete entry in cases.txt", ci);
    CHECK_MSG((size_t)g->vit_rows <= (size_t)hp->n_patch && (size_t)g->proj_rows <= (size_t)hp->n_patch,
              "case %d: fixture rows exceed the model's %d image tokens", ci, hp->n_patch);
    if (g->n_prefix <= 0 || g->n_question <= 0 || g->n_greedy <= 0 || g->vit_rows > hp->n_patch ||
        g->proj_rows > hp->n_patch || g->vit_rows <= 0 || g->proj_rows <= 0)
        goto done;

    /* 1. preprocessing */
    snprintf(path, sizeof path, "%s/%.255s", VLKV_SOURCE_DIR, g->image);
    vlkv_status st = vlkv_image_load_file(path, &img);
    CHECK_MSG(st == VLKV_OK, "case %d: %s: %s", ci, path, vlkv_last_error());
    if (st != VLKV_OK) goto done;
    st = vlkv_image_preprocess((const struct vlkv_image *)img, &pp, px);
    CHECK_MSG(st == VLKV_OK, "case %d: preprocess: %s", ci, vlkv_last_error());
    if (st != VLKV_OK) goto done;
    if (g->pixels[0] && (ref_px = load_f32(g->pixels, n_px))) {
        double worst = 0;
        for (size_t i = 0; i < n_px; i++) {
            int c = (int)(i / ((size_t)pp.size * pp.size));
            worst = fmax(worst, fabs((double)px[i] - ref_px[i]) * pp.std[c] * 255.0);
        }
        CHECK_MSG(worst <= 1.0 + 1e-3, "case %d: pixels differ by %.3g LSB (max 1)", ci, worst);
        printf("  case %d pixels: max %.3g LSB\n", ci, worst);
    } else {
        CHECK_MSG(!g->pixels[0], "case %d: pixel fixture unreadable", ci);
    }

    /* 2. ViT and projector */
    st = vlkv_clip_encode_pixels(clip, ops, px, vit, proj, NULL);
    CHECK_MSG(st == VLKV_OK, "case %d: encode: %s", ci, vlkv_last_error());
    if (st != VLKV_OK) goto done;
    ref_vit = load_f32(g->vit, (size_t)g->vit_rows * hp->n_embd);
    ref_proj = load_f32(g->proj, (size_t)g->proj_rows * hp->n_embd_out);
    CHECK_MSG(ref_vit && ref_proj, "case %d: vit/proj fixtures unreadable", ci);
    if (!ref_vit || !ref_proj) goto done;
    double e_vit = nmse(vit, ref_vit, (int64_t)g->vit_rows * hp->n_embd);
    double e_proj = nmse(proj, ref_proj, (int64_t)g->proj_rows * hp->n_embd_out);
    CHECK_MSG(e_vit <= TOL_VIT, "case %d: ViT NMSE %.3g > %.3g", ci, e_vit, TOL_VIT);
    CHECK_MSG(e_proj <= TOL_VIT, "case %d: projector NMSE %.3g > %.3g", ci, e_proj, TOL_VIT);

    /* 3. logits at the recorded ids */
    ref_logits = load_f32(g->logits, (size_t)n_vocab);
    CHECK_MSG(ref_logits != NULL, "case %d: logits fixture unreadable", ci);
    if (!ref_logits) goto done;
    vlkv_context_params cp = vlkv_context_params_default();
    cp.n_ctx = 512;
    cp.n_threads = 2;
    st = vlkv_context_init(model, &cp, &ctx);
    CHECK_MSG(st == VLKV_OK, "case %d: context: %s", ci, vlkv_last_error());
    if (st != VLKV_OK) goto done;
    st = vlkv_eval_tokens(ctx, g->prefix, g->n_prefix, VLKV_MOD_SYSTEM);
    if (st == VLKV_OK) st = vlkv_eval_embd(ctx, proj, hp->n_patch, VLKV_MOD_IMAGE);
    if (st == VLKV_OK) st = vlkv_eval_tokens(ctx, g->question, g->n_question, VLKV_MOD_INSTRUCTION);
    CHECK_MSG(st == VLKV_OK, "case %d: prompt: %s", ci, vlkv_last_error());
    if (st != VLKV_OK) goto done;
    lg1 = malloc(sizeof(float) * (size_t)n_vocab);
    if (!lg1) goto done;
    memcpy(lg1, vlkv_get_logits(ctx), sizeof(float) * (size_t)n_vocab);
    double e_lg = rel_err(lg1, ref_logits, n_vocab);
    CHECK_MSG(e_lg <= TOL_LOGITS, "case %d: first-step logits rel err %.3g > %.3g", ci, e_lg, TOL_LOGITS);
    CHECK_MSG(argmax(lg1, n_vocab) == argmax(ref_logits, n_vocab), "case %d: top-1 %d vs reference %d", ci,
              argmax(lg1, n_vocab), argmax(ref_logits, n_vocab));

    /* 5. free-running greedy from here */
    int matched = 0, tie = 0;
    double scale = 0;
    for (int i = 0; i < n_vocab; i++) scale = fmax(scale, fabs((double)ref_logits[i]));
    for (int i = 0; i < g->n_greedy; i++) {
        int id = argmax(vlkv_get_logits(ctx), n_vocab);
        if (id != g->greedy[i]) {
            tie = g->margin <= 2 * TOL_LOGITS * scale;
            CHECK_MSG(tie, "case %d: greedy step %d: %d, reference %d (reference min margin %.4g)", ci, i, id,
                      g->greedy[i], g->margin);
            break;
        }
        matched++;
        if (i + 1 < g->n_greedy && vlkv_decode(ctx, id) != VLKV_OK) {
            CHECK_MSG(0, "case %d: decode: %s", ci, vlkv_last_error());
            break;
        }
    }

    /* 4. the public path's tokens: LLaVA-1.5's tokenizer_image_token on
     * "SYSTEM USER: <image>\n{q} ASSISTANT:" gives the chunk before the image WITH its trailing
     * space as a final "▁" (the ids LLaVA shows as ..., 29901, 29871, -200, 29871, 13, ...).
     * models/llava_tiny.py tokenizes the same way, so the ids must be identical, "▁" included. */
    {
        struct vlkv_prompt pr = {0};
        struct vlkv_prompt_tokenizer tk = {model, tok_cb, piece_cb};
        st = vlkv_prompt_build(&tk, g->prompt, 1, 0, &pr);
        CHECK_MSG(st == VLKV_OK, "case %d: prompt build: %s", ci, vlkv_last_error());
        char piece[8] = "";
        if (st == VLKV_OK && pr.segs[0].n > 0)
            vlkv_token_to_piece(model, pr.tokens[pr.segs[0].i0 + pr.segs[0].n - 1], piece, sizeof piece);
        int ok = st == VLKV_OK && !strcmp(piece, " ") && pr.n_segs == 3 && pr.segs[1].kind == VLKV_SEG_IMAGE &&
                 pr.segs[0].n == g->n_prefix && pr.segs[2].n == g->n_question &&
                 !memcmp(pr.tokens + pr.segs[0].i0, g->prefix, sizeof(int32_t) * (size_t)g->n_prefix) &&
                 !memcmp(pr.tokens + pr.segs[2].i0, g->question, sizeof(int32_t) * (size_t)g->n_question);
        CHECK_MSG(ok, "case %d: the public prompt is not [reference prefix ending in \"▁\", image, reference question]", ci);
        printf("  case %d: vit nmse %.3g, proj nmse %.3g, logits rel %.3g, greedy %d/%d%s; template ids %s\n", ci,
               e_vit, e_proj, e_lg, matched, g->n_greedy, tie ? " (stopped at a reference near-tie)" : "",
               ok ? "ok" : "DIFFER");
        vlkv_prompt_clear(&pr);
    }

done:
    vlkv_context_free(ctx);
    vlkv_image_free(img);
    free(px);
    free(vit);
    free(proj);
    free(ref_px);
    free(ref_vit);
    free(ref_proj);
    free(ref_logits);
    free(lg1);
}

int main(void) {
    const char *llm = VLKV_SOURCE_DIR "/models/llava-tiny-f16.gguf", *mm = VLKV_SOURCE_DIR "/models/mmproj-llava-tiny-f16.gguf";
    FILE *f1 = fopen(llm, "rb"), *f2 = fopen(mm, "rb");
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    if (!f1 || !f2) {
        printf("test_golden_llava_tiny: shipped F16 models missing; skipped\n");
        return 77;
    }
    struct gcase cases[MAXC];
    int n = parse_cases(cases, MAXC);
    CHECK_MSG(n > 0, "cannot read %s/cases.txt", gdir);
    if (n <= 0) return test_done("test_golden_llava_tiny");
    vlkv_model_params mp = vlkv_model_params_default();
    mp.mmproj_path = mm;
    vlkv_model *model = NULL;
    struct vlkv_clip *clip = NULL;
    struct vlkv_ops_ctx ops;
    vlkv_ops_init(&ops, 2);
    vlkv_status st = vlkv_model_load(llm, &mp, &model);
    CHECK_MSG(st == VLKV_OK, "model: %s", vlkv_last_error());
    if (st == VLKV_OK) {
        st = vlkv_clip_load(mm, 0, &clip);
        CHECK_MSG(st == VLKV_OK, "clip: %s", vlkv_last_error());
    }
    for (int i = 0; st == VLKV_OK && i < n; i++) run_case(i, &cases[i], model, clip, &ops);
    vlkv_clip_free(clip);
    vlkv_model_free(model);
    vlkv_ops_free(&ops);
    return test_done("test_golden_llava_tiny");
}
