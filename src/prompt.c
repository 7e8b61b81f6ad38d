/* prompt.c - vlkv_prompt_eval: the LLaVA-1.5 vicuna_v1 prompt (specs/formats.md §5.6),
 * tokenized the way LLaVA's tokenizer_image_token does it (text chunks around each <image>
 * tokenized separately, BOS only on the first, SPM dummy prefix on every chunk), images
 * encoded by CLIP + projector and spliced in as input embeddings at consecutive positions.
 * Modality tags: text before the first image SYSTEM, images IMAGE, text after INSTRUCTION.
 *
 * Official template, one turn:
 *   "A chat between a curious human and an artificial intelligence assistant. The assistant
 *    gives helpful, detailed, and polite answers to the human's questions. USER: <image>\n
 *    {question} ASSISTANT:"
 * Multi-turn (vicuna_v1: sep " ", sep2 "</s>"): "... ASSISTANT: {answer}</s>USER: {q2} ASSISTANT:".
 * The answer's tokens (with their leading "▁") are already in the cache when the caller
 * decoded them, so the next turn appends "</s>USER: {q2} ASSISTANT:" with "</s>" as the EOS id.
 * The caller must NOT have decoded the EOS that ended the answer (stop before vlkv_decode). */
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* building                                                                                  */

void vlkv_prompt_clear(struct vlkv_prompt *p) {
    if (!p) return;
    free(p->tokens);
    free(p->segs);
    memset(p, 0, sizeof *p);
}

static vlkv_status push_seg(struct vlkv_prompt *p, int kind, vlkv_modality mod, int32_t i0, int32_t n) {
    if (p->n_segs == p->cap_segs) {
        int32_t cap = p->cap_segs ? 2 * p->cap_segs : 8;
        struct vlkv_prompt_seg *s = realloc(p->segs, (size_t)cap * sizeof *s);
        if (!s) return vlkv_error(VLKV_ERR_OOM, "prompt: out of memory");
        p->segs = s;
        p->cap_segs = cap;
    }
    p->segs[p->n_segs++] = (struct vlkv_prompt_seg){kind, mod, i0, n};
    return VLKV_OK;
}

/* Tokenize text[0..len) and append to p->tokens; *n_out = tokens added. */
static vlkv_status tokenize_append(const struct vlkv_prompt_tokenizer *tk, struct vlkv_prompt *p, const char *text,
                                   size_t len, int add_bos, int32_t *n_out) {
    *n_out = 0;
    if (len == 0 && !add_bos) return VLKV_OK;
    for (;;) {
        int32_t room = p->cap_tokens - p->n_tokens;
        int32_t n = tk->tokenize(tk->ud, text, len, add_bos, 1, p->tokens + p->n_tokens, room);
        if (n >= 0) {
            p->n_tokens += n;
            *n_out = n;
            return VLKV_OK;
        }
        int32_t need = p->n_tokens + (-n);
        int32_t cap = VLKV_MAX(need, 2 * p->cap_tokens);
        int32_t *t = realloc(p->tokens, (size_t)cap * sizeof *t);
        if (!t) return vlkv_error(VLKV_ERR_OOM, "prompt: out of memory");
        p->tokens = t;
        p->cap_tokens = cap;
    }
}

static int32_t count_markers(const char *s) {
    int32_t n = 0;
    const size_t ml = strlen(VLKV_PROMPT_IMAGE_MARKER);
    for (const char *q = strstr(s, VLKV_PROMPT_IMAGE_MARKER); q; q = strstr(q + ml, VLKV_PROMPT_IMAGE_MARKER)) n++;
    return n;
}

/* Index of the first token covering text byte `boundary` or later, for a single chunk that was
 * tokenized with the dummy-prefix space (decoded text = " " + text, control tokens empty). */
static int32_t split_at(const struct vlkv_prompt_tokenizer *tk, const int32_t *toks, int32_t n, size_t boundary) {
    size_t off = 0;
    char buf[256];
    for (int32_t i = 0; i < n; i++) {
        int32_t l = tk->piece(tk->ud, toks[i], buf, (int32_t)sizeof buf);
        off += (size_t)(l < 0 ? -l : l);
        if (off > boundary + 1) return i;   /* covers text[boundary] (decoded offset + 1) */
    }
    return n;
}

vlkv_status vlkv_prompt_build(const struct vlkv_prompt_tokenizer *tk, const char *question, int32_t n_images,
                              int continuation, struct vlkv_prompt *out) {
    vlkv_status st = VLKV_OK;
    char *text = NULL;
    memset(out, 0, sizeof *out);
    VLKV_CHECK(tk && tk->tokenize && tk->piece && question && n_images >= 0, VLKV_ERR_INVALID_ARG,
               "prompt: bad arguments");
    const int32_t n_markers = count_markers(question);
    VLKV_CHECK(n_markers == 0 || n_markers == n_images, VLKV_ERR_INVALID_ARG,
               "prompt: the question has %d <image> marker(s) but %d image(s) were given", (int)n_markers,
               (int)n_images);

    /* compose the whole turn with explicit markers */
    const char *pre = continuation ? "</s>USER: " : VLKV_PROMPT_SYSTEM " USER: ";
    const char *post = " ASSISTANT:";
    const char *img_prefix = VLKV_PROMPT_IMAGE_MARKER "\n";
    const int32_t n_prefix = n_markers ? 0 : n_images;
    size_t len = strlen(pre) + (size_t)n_prefix * strlen(img_prefix) + strlen(question) + strlen(post);
    text = malloc(len + 1);
    VLKV_CHECK(text, VLKV_ERR_OOM, "prompt: out of memory");
    char *w = text;
    w += sprintf(w, "%s", pre);
    for (int32_t i = 0; i < n_prefix; i++) w += sprintf(w, "%s", img_prefix);
    sprintf(w, "%s%s", question, post);

    /* chunks between markers, tokenized separately */
    const size_t ml = strlen(VLKV_PROMPT_IMAGE_MARKER);
    const char *c = text;
    for (int32_t ic = 0; ic <= n_images; ic++) {
        const char *e = ic < n_images ? strstr(c, VLKV_PROMPT_IMAGE_MARKER) : c + strlen(c);
        VLKV_ASSERT(e != NULL);
        const int add_bos = ic == 0 && !continuation;
        const int32_t i0 = out->n_tokens;
        int32_t n = 0;
        VLKV_TRY(tokenize_append(tk, out, c, (size_t)(e - c), add_bos, &n));
        if (n > 0) {
            if (continuation || ic > 0) {
                VLKV_TRY(push_seg(out, VLKV_SEG_TEXT, VLKV_MOD_INSTRUCTION, i0, n));
            } else if (n_images > 0) {
                VLKV_TRY(push_seg(out, VLKV_SEG_TEXT, VLKV_MOD_SYSTEM, i0, n));
            } else {
                /* text only: SYSTEM up to "USER: ", INSTRUCTION from the question on */
                int32_t k = split_at(tk, out->tokens + i0, n, strlen(pre));
                if (k > 0) VLKV_TRY(push_seg(out, VLKV_SEG_TEXT, VLKV_MOD_SYSTEM, i0, k));
                if (n - k > 0) VLKV_TRY(push_seg(out, VLKV_SEG_TEXT, VLKV_MOD_INSTRUCTION, i0 + k, n - k));
            }
        }
        if (ic < n_images) {
            VLKV_TRY(push_seg(out, VLKV_SEG_IMAGE, VLKV_MOD_IMAGE, ic, 0));
            c = e + ml;
        }
    }
    free(text);
    return VLKV_OK;
fail:
    free(text);
    vlkv_prompt_clear(out);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* evaluation through the public API                                                        */

static int32_t tk_tokenize(void *ud, const char *text, size_t len, int add_bos, int parse_special, int32_t *out,
                           int32_t n_max) {
    return vlkv_tokenize(ud, text, len, add_bos, parse_special, out, n_max);
}

static int32_t tk_piece(void *ud, int32_t id, char *buf, int32_t n) {
    return vlkv_token_to_piece(ud, id, buf, n);
}

vlkv_status vlkv_prompt_eval(vlkv_context *ctx, const char *question, vlkv_image *const *images, int32_t n_images) {
    vlkv_status st = VLKV_OK;
    struct vlkv_prompt p = {0};
    float *embd = NULL;
    VLKV_CHECK(ctx && question, VLKV_ERR_INVALID_ARG, "vlkv_prompt_eval: ctx and question must not be NULL");
    VLKV_CHECK(n_images >= 0 && (n_images == 0 || images), VLKV_ERR_INVALID_ARG,
               "vlkv_prompt_eval: %d images but no image array", (int)n_images);
    for (int32_t i = 0; i < n_images; i++)
        VLKV_CHECK(images[i], VLKV_ERR_INVALID_ARG, "vlkv_prompt_eval: image %d is NULL", (int)i);
    vlkv_model *model = ctx->model;
    VLKV_CHECK(n_images == 0 || vlkv_model_has_vision(model), VLKV_ERR_INVALID_ARG,
               "vlkv_prompt_eval: %d image(s) given but the model was loaded without an mmproj "
               "(vision encoder); load one with vlkv_model_params.mmproj_path (--mmproj)", (int)n_images);

    const int32_t n_past = vlkv_n_past(ctx);
    struct vlkv_prompt_tokenizer tk = {model, tk_tokenize, tk_piece};
    VLKV_TRY(vlkv_prompt_build(&tk, question, n_images, n_past > 0, &p));

    /* everything must fit before anything is evaluated */
    const int64_t n_img_tok = vlkv_model_n_image_tokens(model), n_embd = vlkv_model_n_embd(model);
    const int64_t total = p.n_tokens + (int64_t)n_images * n_img_tok;
    VLKV_CHECK(n_past + total <= ctx->params.n_ctx, VLKV_ERR_CONTEXT_FULL,
               "prompt of %lld positions (%d text tokens + %d image(s) x %lld) does not fit in n_ctx %d "
               "(%d already used)", (long long)total, (int)p.n_tokens, (int)n_images, (long long)n_img_tok,
               (int)ctx->params.n_ctx, (int)n_past);

    /* encode all images first: a bad image leaves the context untouched */
    if (n_images > 0) {
        size_t n_f = (size_t)n_images * (size_t)n_img_tok * (size_t)n_embd;
        embd = malloc(n_f * sizeof *embd);
        VLKV_CHECK(embd, VLKV_ERR_OOM, "vlkv_prompt_eval: cannot allocate %zu MB for image embeddings",
                   (n_f * sizeof *embd) >> 20);
        for (int32_t i = 0; i < n_images; i++)
            VLKV_TRY(vlkv_image_encode(ctx, images[i], embd + (size_t)i * n_img_tok * n_embd));
    }
    for (int32_t s = 0; s < p.n_segs; s++) {
        const struct vlkv_prompt_seg *g = &p.segs[s];
        if (g->kind == VLKV_SEG_TEXT)
            VLKV_TRY(vlkv_eval_tokens(ctx, p.tokens + g->i0, g->n, g->mod));
        else
            VLKV_TRY(vlkv_eval_embd(ctx, embd + (size_t)g->i0 * n_img_tok * n_embd, (int32_t)n_img_tok,
                                    VLKV_MOD_IMAGE));
    }
fail:
    free(embd);
    vlkv_prompt_clear(&p);
    return st;
}
