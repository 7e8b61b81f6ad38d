/* test_prompt.c - the LLaVA-1.5 prompt's token sequence and modality tags.
 * A hand-built vocabulary (specials, the 256 byte tokens, "▁", one piece per printable ASCII
 * character, no multi-character pieces) makes SPM tokenization of any ASCII text predictable
 * by hand: BOS if asked, then one id per character of "▁" + text with ' ' -> "▁", and "\n" ->
 * the byte token <0x0A> = 13. The expected sequences below are built from that rule and the
 * template of formats.md §5.6, independently of prompt.c, and compared with
 * vlkv_prompt_build: BOS only on the first chunk, the chunk after an image starting with ▁ and
 * <0x0A>, "</s>" in a continuation becoming EOS (2) followed by "▁USER", SYSTEM / IMAGE /
 * INSTRUCTION tags, marker handling and errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "gguf.h"
#include "internal.h"
#include "prompt.h"
#include "tokenizer.h"
#include "test_util.h"

#define ID_SPACE 259   /* "▁" */
static int32_t id_of(char c) { return c == '\n' ? 3 + 0x0A : 260 + (c - 0x21); }

static struct vlkv_tokenizer *make_vocab(void) {
    enum { NV = 260 + 94 };
    static char texts[NV][16];
    const char *ptr[NV];
    float scores[NV];
    int32_t types[NV];
    strcpy(texts[0], "<unk>"); types[0] = VLKV_TOKEN_UNKNOWN;
    strcpy(texts[1], "<s>"); types[1] = VLKV_TOKEN_CONTROL;
    strcpy(texts[2], "</s>"); types[2] = VLKV_TOKEN_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(texts[3 + b], 16, "<0x%02X>", b);
        types[3 + b] = VLKV_TOKEN_BYTE;
    }
    strcpy(texts[ID_SPACE], "\xe2\x96\x81");
    types[ID_SPACE] = VLKV_TOKEN_NORMAL;
    for (int c = 0x21; c <= 0x7e; c++) {
        texts[260 + c - 0x21][0] = (char)c;
        texts[260 + c - 0x21][1] = 0;
        types[260 + c - 0x21] = VLKV_TOKEN_NORMAL;
    }
    for (int i = 0; i < NV; i++) { ptr[i] = texts[i]; scores[i] = -(float)i; }
    struct gguf_writer *w = vlkv_gguf_writer_new(32);
    vlkv_gguf_w_str(w, "general.architecture", "llama");
    vlkv_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    vlkv_gguf_w_arr_str(w, "tokenizer.ggml.tokens", ptr, NV);
    vlkv_gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, NV);
    vlkv_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, NV);
    vlkv_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    vlkv_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    const int64_t ne[1] = {1};
    const float dummy = 0;
    vlkv_gguf_w_tensor(w, "dummy", 0, 1, ne, &dummy);
    struct vlkv_tokenizer *tok = NULL;
    if (vlkv_gguf_writer_save(w, "test_prompt_vocab.gguf") == VLKV_OK) {
        struct gguf_file f;
        if (vlkv_gguf_open("test_prompt_vocab.gguf", &f) == VLKV_OK) {
            if (vlkv_tokenizer_load(&f, &tok) != VLKV_OK) fprintf(stderr, "%s\n", vlkv_last_error());
            vlkv_gguf_close(&f);
        } else {
            fprintf(stderr, "%s\n", vlkv_last_error());
        }
    }
    vlkv_gguf_writer_free(w);
    remove("test_prompt_vocab.gguf");
    return tok;
}

static int32_t tk_tokenize(void *ud, const char *text, size_t len, int add_bos, int parse_special, int32_t *out,
                           int32_t n_max) {
    return vlkv_tokenizer_encode(ud, text, len, add_bos, parse_special, out, n_max);
}
static int32_t tk_piece(void *ud, int32_t id, char *buf, int32_t n) { return vlkv_tokenizer_piece(ud, id, buf, n); }

/* expected sequence builder: the hand rule */
struct exp {
    int32_t tok[2048];
    uint8_t mod[2048];   /* per token */
    int32_t n;
    int32_t img_after[8];  /* image i comes after exp token index img_after[i] (count before it) */
    int32_t n_img;
};
static void e_tok(struct exp *e, int32_t id, vlkv_modality m) { e->mod[e->n] = (uint8_t)m; e->tok[e->n++] = id; }
/* one SPM chunk: dummy prefix + text, spaces as ▁ */
static void e_chunk(struct exp *e, const char *text, vlkv_modality m) {
    e_tok(e, ID_SPACE, m);
    for (const char *c = text; *c; c++) e_tok(e, *c == ' ' ? ID_SPACE : id_of(*c), m);
}
static void e_img(struct exp *e) { e->img_after[e->n_img++] = e->n; }

static void compare(const char *what, const struct vlkv_prompt *p, const struct exp *e) {
    /* flatten the built prompt */
    int32_t n = 0, n_img = 0, bad = 0;
    for (int32_t s = 0; s < p->n_segs; s++) {
        const struct vlkv_prompt_seg *g = &p->segs[s];
        if (g->kind == VLKV_SEG_IMAGE) {
            CHECK_MSG(g->mod == VLKV_MOD_IMAGE, "%s: image seg tagged %d", what, (int)g->mod);
            CHECK_MSG(n_img < e->n_img && e->img_after[n_img] == n && g->i0 == n_img,
                      "%s: image %d placed after %d tokens", what, (int)n_img, (int)n);
            n_img++;
            continue;
        }
        for (int32_t i = 0; i < g->n; i++, n++) {
            if (n >= e->n) { bad++; continue; }
            if (p->tokens[g->i0 + i] != e->tok[n] || g->mod != e->mod[n]) {
                if (bad < 5)
                    fprintf(stderr, "%s: token %d: got %d (mod %d), want %d (mod %d)\n", what, (int)n,
                            (int)p->tokens[g->i0 + i], (int)g->mod, (int)e->tok[n], (int)e->mod[n]);
                bad++;
            }
        }
    }
    CHECK_MSG(n == e->n, "%s: %d tokens, want %d", what, (int)n, (int)e->n);
    CHECK_MSG(n_img == e->n_img, "%s: %d images, want %d", what, (int)n_img, (int)e->n_img);
    CHECK_MSG(bad == 0, "%s: %d tokens differ", what, (int)bad);
    CHECK(p->n_tokens == e->n);
}

/* ---- end to end through the engine (models made by `vlkv mkmodel`) ----------------------- */

static int run(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc == 0;
}

/* Layer 0's slots must be positions 0..n-1 with the modality runs of the built prompt. */
static void check_slots(const char *what, vlkv_context *ctx, int32_t from, const struct vlkv_prompt *p,
                        int32_t n_img_tok) {
    const struct vlkv_kv_layer *L = &vlkv_context_kv(ctx)->layers[0];
    int32_t s = from, bad = 0;
    for (int32_t g = 0; g < p->n_segs; g++) {
        const struct vlkv_prompt_seg *sg = &p->segs[g];
        int32_t n = sg->kind == VLKV_SEG_IMAGE ? n_img_tok : sg->n;
        for (int32_t i = 0; i < n; i++, s++)
            if (s >= L->len || L->pos[s] != s || L->mod[s] != (uint8_t)sg->mod) bad++;
    }
    CHECK_MSG(s == L->len && bad == 0, "%s: %d slots (cache %d), %d with wrong position/modality", what, (int)s,
              (int)L->len, (int)bad);
}

static int32_t tk_model_tokenize(void *ud, const char *text, size_t len, int add_bos, int parse_special,
                                 int32_t *out, int32_t n_max) {
    return vlkv_tokenize(ud, text, len, add_bos, parse_special, out, n_max);
}
static int32_t tk_model_piece(void *ud, int32_t id, char *buf, int32_t n) {
    return vlkv_token_to_piece(ud, id, buf, n);
}

static void test_e2e(void) {
    const char *bin = getenv("VLKV_BIN");
    char cmd[2048];
    if (!bin) {
        printf("test_prompt: VLKV_BIN not set, end-to-end part skipped\n");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "\"%s\" mkmodel -o test_prompt_llm.gguf --n-embd 64 --n-ff 128 --n-head 4 --n-layer 2 --n-vocab 400 "
             "> /dev/null && \"%s\" mkmodel --mmproj -o test_prompt_mm.gguf --image-size 32 --patch-size 8 "
             "--n-embd 32 --n-ff 64 --n-head 4 --n-layer 2 --n-embd-out 64 > /dev/null", bin, bin);
    if (!run(cmd)) { CHECK(0); return; }

    vlkv_model_params mp = vlkv_model_params_default();
    mp.mmproj_path = "test_prompt_mm.gguf";
    vlkv_model *model = NULL, *text_model = NULL;
    vlkv_context *ctx = NULL, *tctx = NULL;
    vlkv_image *img = NULL;
    CHECK_MSG(vlkv_model_load("test_prompt_llm.gguf", &mp, &model) == VLKV_OK, "%s", vlkv_last_error());
    if (!model) return;
    const int32_t n_img_tok = vlkv_model_n_image_tokens(model);
    CHECK(n_img_tok == 16);
    vlkv_context_params cp = vlkv_context_params_default();
    cp.n_ctx = 512;
    cp.n_threads = 2;
    CHECK(vlkv_context_init(model, &cp, &ctx) == VLKV_OK);
    CHECK(vlkv_image_load_file(VLKV_SOURCE_DIR "/tests/data/resize_src.png", &img) == VLKV_OK);
    struct vlkv_prompt_tokenizer tk = {model, tk_model_tokenize, tk_model_piece};
    struct vlkv_prompt p;
    if (ctx && img) {
        /* turn 1: system, image, instruction */
        CHECK_MSG(vlkv_prompt_eval(ctx, "What is it?", &img, 1) == VLKV_OK, "%s", vlkv_last_error());
        CHECK(vlkv_prompt_build(&tk, "What is it?", 1, 0, &p) == VLKV_OK);
        CHECK(vlkv_n_past(ctx) == p.n_tokens + n_img_tok);
        CHECK(p.tokens[0] == vlkv_token_bos(model));
        check_slots("turn 1", ctx, 0, &p, n_img_tok);
        vlkv_prompt_clear(&p);
        vlkv_timings t = vlkv_get_timings(ctx);
        CHECK(t.vision_ms > 0);
        /* decode two answer tokens, then turn 2 continues after them */
        for (int i = 0; i < 2; i++) {
            int32_t tok = 300 + i;
            CHECK(vlkv_decode(ctx, tok) == VLKV_OK);
        }
        const int32_t n1 = vlkv_n_past(ctx);
        CHECK(vlkv_prompt_eval(ctx, "Why?", NULL, 0) == VLKV_OK);
        CHECK(vlkv_prompt_build(&tk, "Why?", 0, 1, &p) == VLKV_OK);
        CHECK(p.n_tokens > 0 && p.tokens[0] == vlkv_token_eos(model));   /* "</s>" closes the answer */
        CHECK(vlkv_n_past(ctx) == n1 + p.n_tokens);
        check_slots("turn 2", ctx, n1, &p, n_img_tok);
        vlkv_prompt_clear(&p);
        /* marker mismatch: error, nothing evaluated */
        const int32_t n2 = vlkv_n_past(ctx);
        CHECK(vlkv_prompt_eval(ctx, "<image> <image>", &img, 1) == VLKV_ERR_INVALID_ARG);
        CHECK(vlkv_n_past(ctx) == n2);
        /* the context is too small: VLKV_ERR_CONTEXT_FULL before anything is evaluated */
        vlkv_context_free(ctx);
        ctx = NULL;
        cp.n_ctx = 40;
        CHECK(vlkv_context_init(model, &cp, &ctx) == VLKV_OK);
        if (ctx) {
            CHECK(vlkv_prompt_eval(ctx, "What is it?", &img, 1) == VLKV_ERR_CONTEXT_FULL);
            CHECK(strstr(vlkv_last_error(), "n_ctx") != NULL);
            CHECK(vlkv_n_past(ctx) == 0);
        }
    }
    /* a text-only model with an image: a clear error */
    CHECK(vlkv_model_load("test_prompt_llm.gguf", NULL, &text_model) == VLKV_OK);
    cp.n_ctx = 512;
    if (text_model && vlkv_context_init(text_model, &cp, &tctx) == VLKV_OK) {
        CHECK(vlkv_prompt_eval(tctx, "What is it?", &img, 1) == VLKV_ERR_INVALID_ARG);
        CHECK(strstr(vlkv_last_error(), "mmproj") != NULL);
        CHECK(vlkv_n_past(tctx) == 0);
        CHECK(vlkv_prompt_eval(tctx, "Hello", NULL, 0) == VLKV_OK);
        CHECK(vlkv_n_past(tctx) > 0);
    }

    /* an mmproj whose projector width differs from the LLM's n_embd is refused at load */
    snprintf(cmd, sizeof cmd,
             "\"%s\" mkmodel --mmproj -o test_prompt_mm48.gguf --image-size 32 --patch-size 8 --n-embd 32 "
             "--n-ff 64 --n-head 4 --n-layer 1 --n-embd-out 48 > /dev/null", bin);
    if (run(cmd)) {
        vlkv_model *bad = (vlkv_model *)1;
        mp.mmproj_path = "test_prompt_mm48.gguf";
        CHECK(vlkv_model_load("test_prompt_llm.gguf", &mp, &bad) == VLKV_ERR_FORMAT && bad == NULL);
        CHECK_MSG(strstr(vlkv_last_error(), "test_prompt_mm48.gguf") && strstr(vlkv_last_error(), "48"),
                  "mismatch message: %s", vlkv_last_error());
        remove("test_prompt_mm48.gguf");
    } else {
        CHECK(0);
    }

    /* vlkv chat with piped stdin: two turns, an image, a bad image, an unknown command, quit */
    FILE *f = fopen("test_prompt_chat.in", "w");
    if (f) {
        fprintf(f, "/image %s/tests/data/resize_src.png\nWhat is it?\n/image no_such_image.png\n/bogus\n"
                   "Tell me more.\n/quit\nnever read\n", VLKV_SOURCE_DIR);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd,
             "\"%s\" chat -m test_prompt_llm.gguf --mmproj test_prompt_mm.gguf -n 4 -c 512 < test_prompt_chat.in "
             "> test_prompt_chat.out 2> test_prompt_chat.err", bin);
    CHECK(run(cmd));
    size_t n = 0;
    char err[8192] = {0};
    f = fopen("test_prompt_chat.err", "r");
    if (f) { n = fread(err, 1, sizeof err - 1, f); fclose(f); }
    err[n] = 0;
    CHECK_MSG(strstr(err, "encoding image... done in") != NULL, "chat stderr: %s", err);
    CHECK_MSG(strstr(err, "no_such_image.png") != NULL, "chat stderr lacks the bad image: %s", err);
    CHECK_MSG(strstr(err, "unknown command '/bogus'") != NULL, "chat stderr: %s", err);
    /* the usage error: --image without --mmproj */
    snprintf(cmd, sizeof cmd, "\"%s\" chat -m test_prompt_llm.gguf --image x.png < /dev/null > /dev/null 2>&1", bin);
    CHECK(system(cmd) != 0);

    vlkv_context_free(tctx);
    vlkv_model_free(text_model);
    vlkv_image_free(img);
    vlkv_context_free(ctx);
    vlkv_model_free(model);
    remove("test_prompt_llm.gguf");
    remove("test_prompt_mm.gguf");
    remove("test_prompt_chat.in");
    remove("test_prompt_chat.out");
    remove("test_prompt_chat.err");
}

int main(void) {
    struct vlkv_tokenizer *tok = make_vocab();
    if (!tok) {
        fprintf(stderr, "cannot build the test vocabulary\n");
        return 1;
    }
    struct vlkv_prompt_tokenizer tk = {tok, tk_tokenize, tk_piece};
    const char *sys = VLKV_PROMPT_SYSTEM;
    static struct exp e;
    struct vlkv_prompt p;

    /* sanity of the rule itself: "a b\n" -> ▁ a ▁ b <0x0A> */
    int32_t t[8];
    CHECK(vlkv_tokenizer_encode(tok, "a b\n", 4, 0, 1, t, 8) == 5);
    CHECK(t[0] == ID_SPACE && t[1] == id_of('a') && t[2] == ID_SPACE && t[3] == id_of('b') && t[4] == 13);

    /* 1. one image, default placement:
     *    [BOS] ▁"A chat ... questions. USER: " (SYSTEM) <image> ▁ <0x0A> "What is it?" ▁"ASSISTANT:" */
    memset(&e, 0, sizeof e);
    e_tok(&e, 1, VLKV_MOD_SYSTEM);
    {
        char s0[512];
        snprintf(s0, sizeof s0, "%s USER: ", sys);
        e_chunk(&e, s0, VLKV_MOD_SYSTEM);
    }
    e_img(&e);
    e_chunk(&e, "\nWhat is it? ASSISTANT:", VLKV_MOD_INSTRUCTION);
    CHECK(vlkv_prompt_build(&tk, "What is it?", 1, 0, &p) == VLKV_OK);
    compare("one image", &p, &e);
    /* the chunk after the image starts with ▁ then <0x0A> (formats.md §5.6) */
    CHECK(p.n_segs == 3 && p.segs[2].kind == VLKV_SEG_TEXT && p.tokens[p.segs[2].i0] == ID_SPACE &&
          p.tokens[p.segs[2].i0 + 1] == 13);
    /* the system chunk ends "USER:" "▁" (trailing space of "USER: ") */
    CHECK(p.tokens[p.segs[0].n - 1] == ID_SPACE && p.tokens[p.segs[0].n - 2] == id_of(':'));
    vlkv_prompt_clear(&p);

    /* 2. the same with an explicit marker gives the same sequence */
    CHECK(vlkv_prompt_build(&tk, "<image>\nWhat is it?", 1, 0, &p) == VLKV_OK);
    compare("explicit marker", &p, &e);
    vlkv_prompt_clear(&p);

    /* 3. two images, markers inside the question */
    memset(&e, 0, sizeof e);
    e_tok(&e, 1, VLKV_MOD_SYSTEM);
    {
        char s0[512];
        snprintf(s0, sizeof s0, "%s USER: Compare ", sys);
        e_chunk(&e, s0, VLKV_MOD_SYSTEM);
    }
    e_img(&e);
    e_chunk(&e, " and ", VLKV_MOD_INSTRUCTION);
    e_img(&e);
    e_chunk(&e, ". ASSISTANT:", VLKV_MOD_INSTRUCTION);
    CHECK(vlkv_prompt_build(&tk, "Compare <image> and <image>.", 2, 0, &p) == VLKV_OK);
    compare("two markers", &p, &e);
    vlkv_prompt_clear(&p);

    /* 4. two images without markers: "<image>\n<image>\nQ"; the chunk between is "\n" */
    memset(&e, 0, sizeof e);
    e_tok(&e, 1, VLKV_MOD_SYSTEM);
    {
        char s0[512];
        snprintf(s0, sizeof s0, "%s USER: ", sys);
        e_chunk(&e, s0, VLKV_MOD_SYSTEM);
    }
    e_img(&e);
    e_chunk(&e, "\n", VLKV_MOD_INSTRUCTION);
    e_img(&e);
    e_chunk(&e, "\nHi ASSISTANT:", VLKV_MOD_INSTRUCTION);
    CHECK(vlkv_prompt_build(&tk, "Hi", 2, 0, &p) == VLKV_OK);
    compare("two images default", &p, &e);
    vlkv_prompt_clear(&p);

    /* 5. text only: one chunk; SYSTEM through "USER:" and its space, INSTRUCTION from the
     *    question's first character on */
    memset(&e, 0, sizeof e);
    e_tok(&e, 1, VLKV_MOD_SYSTEM);
    {
        char s0[512];
        snprintf(s0, sizeof s0, "%s USER:", sys);
        e_chunk(&e, s0, VLKV_MOD_SYSTEM);
        e_tok(&e, ID_SPACE, VLKV_MOD_SYSTEM);
        for (const char *c = "Hello there ASSISTANT:"; *c; c++)
            e_tok(&e, *c == ' ' ? ID_SPACE : id_of(*c), VLKV_MOD_INSTRUCTION);
    }
    CHECK(vlkv_prompt_build(&tk, "Hello there", 0, 0, &p) == VLKV_OK);
    compare("text only", &p, &e);
    vlkv_prompt_clear(&p);

    /* 6. continuation: "</s>USER: Why? ASSISTANT:" -> EOS, then a new fragment after a special
     *    token gets the dummy prefix: ▁ U S E R : ▁ W h y ? ▁ A S S I S T A N T : ; no BOS */
    memset(&e, 0, sizeof e);
    e_tok(&e, 2, VLKV_MOD_INSTRUCTION);
    e_chunk(&e, "USER: Why? ASSISTANT:", VLKV_MOD_INSTRUCTION);
    CHECK(vlkv_prompt_build(&tk, "Why?", 0, 1, &p) == VLKV_OK);
    compare("continuation", &p, &e);
    vlkv_prompt_clear(&p);

    /* 7. continuation with an image: the first chunk carries no BOS and is INSTRUCTION */
    memset(&e, 0, sizeof e);
    e_tok(&e, 2, VLKV_MOD_INSTRUCTION);
    e_chunk(&e, "USER: ", VLKV_MOD_INSTRUCTION);
    e_img(&e);
    e_chunk(&e, "\nAnd this? ASSISTANT:", VLKV_MOD_INSTRUCTION);
    CHECK(vlkv_prompt_build(&tk, "And this?", 1, 1, &p) == VLKV_OK);
    compare("continuation + image", &p, &e);
    vlkv_prompt_clear(&p);

    /* 8. errors: marker count mismatch */
    CHECK(vlkv_prompt_build(&tk, "<image> vs <image>", 1, 0, &p) == VLKV_ERR_INVALID_ARG);
    CHECK(strstr(vlkv_last_error(), "marker") != NULL);
    CHECK(vlkv_prompt_build(&tk, "look: <image>", 0, 0, &p) == VLKV_ERR_INVALID_ARG);
    CHECK(p.n_tokens == 0 && p.tokens == NULL);
    CHECK(vlkv_prompt_build(&tk, NULL, 0, 0, &p) == VLKV_ERR_INVALID_ARG);

    /* 9. public entry: NULL context is a clean error */
    CHECK(vlkv_prompt_eval(NULL, "x", NULL, 0) == VLKV_ERR_INVALID_ARG);

    vlkv_tokenizer_free(tok);
    test_e2e();
    return test_done("test_prompt");
}
