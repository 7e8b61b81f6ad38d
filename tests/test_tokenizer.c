/* test_tokenizer.c - the SPM tokenizer on a small hand-built vocabulary (written with the GGUF
 * writer inside the test). Every expected id list below was derived by hand from the algorithm
 * of specs/formats.md §4.2 (the derivations are in the comments): merge priority, ties to the
 * left, multi-step merges, byte fallback (incl. 3/4-byte UTF-8 and truncated sequences), special
 * tokens inside text, USER_DEFINED splitting, space prefix rules, BOS/EOS, decoding, streaming
 * UTF-8 completeness and bad vocabularies. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "mkmodel.h"
#include "test_util.h"
#include "tokenizer.h"

#define SP "\xe2\x96\x81"   /* U+2581 */

enum { UNK = 0, BOS = 1, EOS = 2 };
#define BYTE(b) (3 + (b))   /* <0xHH> ids, as in LLaMA */

/* the rest of the vocabulary: piece, score, type */
static const struct { const char *text; float score; int type; } extra[] = {
    {SP, -1000, 1},                 /* 259 */
    {"a", -1000, 1},                /* 260 */
    {"b", -1000, 1},                /* 261 */
    {"c", -1000, 1},                /* 262 */
    {"ab", -1, 1},                  /* 263 */
    {"bc", -2, 1},                  /* 264 */
    {SP "a", -0.5f, 1},             /* 265 */
    {SP "ab", -0.2f, 1},            /* 266 */
    {"xy", -5, 1},                  /* 267 */
    {"yz", -3, 1},                  /* 268 */
    {"pq", -4, 1},                  /* 269 */
    {"qp", -4, 1},                  /* 270 */
    {SP SP, -7, 1},                 /* 271 */
    {"\xc3\xa9", -1000, 1},         /* 272 é */
    {"\xc3\xa9t", -6, 1},           /* 273 ét */
    {"\xf0\x9f\x98\x80", -1000, 1}, /* 274 😀 */
    {"<img>", -1000, 4},            /* 275 USER_DEFINED */
    {"[PAD0]", -10000, 5},          /* 276 UNUSED */
    {"", 0, 1},                     /* 277 empty -> [EMPTY_277] */
};
enum { N_EXTRA = sizeof extra / sizeof extra[0], N_VOCAB = 259 + N_EXTRA };
enum { ID_SP = 259, ID_A, ID_B, ID_C, ID_AB, ID_BC, ID_SPA, ID_SPAB, ID_XY, ID_YZ, ID_PQ, ID_QP, ID_SPSP,
       ID_E, ID_ET, ID_SMILE, ID_IMG, ID_PAD, ID_EMPTY };

/* Write the vocabulary to `path`; `variant` 0 = defaults, 1 = no BOS / add EOS / no space prefix,
 * 2..5 = broken files. */
static void write_vocab(const char *path, int variant) {
    static char bytes[256][8];
    const char *pieces[N_VOCAB];
    float scores[N_VOCAB];
    int32_t types[N_VOCAB];
    pieces[0] = "<unk>"; pieces[1] = "<s>"; pieces[2] = "</s>";
    types[0] = 2; types[1] = 3; types[2] = 3;
    scores[0] = scores[1] = scores[2] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        pieces[3 + b] = bytes[b];
        types[3 + b] = 6;
        scores[3 + b] = 0;
    }
    for (int i = 0; i < N_EXTRA; i++) {
        pieces[259 + i] = extra[i].text;
        scores[259 + i] = extra[i].score;
        types[259 + i] = extra[i].type;
    }
    struct gguf_writer *w = vlkv_gguf_writer_new(32);
    vlkv_gguf_w_str(w, "general.architecture", "llama");
    vlkv_gguf_w_str(w, "tokenizer.ggml.model", variant == 2 ? "gpt2" : "llama");
    if (variant != 3) {
        /* the writer drops empty strings only for scalars; arrays keep them */
        vlkv_gguf_w_arr_str(w, "tokenizer.ggml.tokens", pieces, N_VOCAB);
    }
    vlkv_gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, variant == 4 ? N_VOCAB - 1 : N_VOCAB);
    vlkv_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, N_VOCAB);
    vlkv_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", variant == 5 ? N_VOCAB : BOS);
    vlkv_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", EOS);
    if (variant == 1) {
        vlkv_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0);
        vlkv_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 1);
        vlkv_gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", 0);
    }
    if (vlkv_gguf_writer_save(w, path) != VLKV_OK) {
        fprintf(stderr, "cannot write %s: %s\n", path, vlkv_last_error());
        exit(1);
    }
    vlkv_gguf_writer_free(w);
}

static struct vlkv_tokenizer *load(const char *path, vlkv_status *st) {
    struct gguf_file f;
    struct vlkv_tokenizer *tok = NULL;
    *st = vlkv_gguf_open(path, &f);
    if (*st != VLKV_OK) return NULL;
    *st = vlkv_tokenizer_load(&f, &tok);
    vlkv_gguf_close(&f);   /* the tokenizer must not depend on the mapping */
    return tok;
}

/* encode `text` and compare with the expected ids (terminated by -1) */
static void expect(const struct vlkv_tokenizer *tok, const char *label, const char *text, size_t len, int add_bos,
                   int parse_special, const int32_t *want) {
    int32_t got[128];
    int32_t n = vlkv_tokenizer_encode(tok, text, len, add_bos, parse_special, got, 128);
    int32_t nw = 0;
    while (want[nw] >= 0) nw++;
    int same = n == nw;
    for (int32_t i = 0; same && i < n; i++) same = got[i] == want[i];
    CHECK_MSG(same, "%s", label);
    if (!same) {
        fprintf(stderr, "  got:");
        for (int32_t i = 0; i < n; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, " (n=%d)\n  want:", n);
        for (int32_t i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
}
#define EXPECT(tok, label, text, add_bos, ps, ...) \
    expect(tok, label, text, sizeof(text) - 1, add_bos, ps, (const int32_t[]){__VA_ARGS__, -1})

/* decode ids by concatenating pieces */
static size_t detok(const struct vlkv_tokenizer *tok, const int32_t *ids, int32_t n, char *out, size_t cap) {
    size_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t k = vlkv_tokenizer_piece(tok, ids[i], out + m, (int32_t)(cap - m));
        if (k < 0) return (size_t)-1;
        m += (size_t)k;
    }
    return m;
}

static void test_encode(const struct vlkv_tokenizer *tok) {
    /* "▁abc": ▁a(-0.5) > ab(-1) > bc(-2): ▁a first, then ▁ab(-0.2); ab and bc are stale -> [▁ab, c] */
    EXPECT(tok, "merge chain", "abc", -1, 1, BOS, ID_SPAB, ID_C);
    /* "▁xyz": no ▁x; yz(-3) beats xy(-5) -> [▁, x?]: x is not a token -> byte 'x' */
    EXPECT(tok, "higher score wins", "xyz", 0, 1, ID_SP, BYTE('x'), ID_YZ);
    /* "▁pqp": pq and qp tie at -4 -> the left pair merges first -> [▁, pq, p(byte)] */
    EXPECT(tok, "ties to the left", "pqp", 0, 1, ID_SP, ID_PQ, BYTE('p'));
    /* special tokens inside text: after </s> the next fragment gets the space prefix again */
    EXPECT(tok, "a</s>b special", "a</s>b", 1, 1, BOS, ID_SPA, EOS, ID_SP, ID_B);
    /* without parse_special "</s>" is plain text: bytes < / s >, then b */
    EXPECT(tok, "a</s>b literal", "a</s>b", 1, 0, BOS, ID_SPA, BYTE('<'), BYTE('/'), BYTE('s'), BYTE('>'), ID_B);
    /* two specials back to back and at the edges: no empty fragments are tokenized */
    EXPECT(tok, "specials only", "<s></s>", 0, 1, BOS, EOS);
    EXPECT(tok, "<unk> is special", "<unk>a", 0, 1, UNK, ID_SPA);
    /* USER_DEFINED tokens are split out even without parse_special */
    EXPECT(tok, "user defined", "a<img>b", 0, 0, ID_SPA, ID_IMG, ID_SP, ID_B);
    /* empty input */
    EXPECT(tok, "empty + bos", "", -1, 1, BOS);
    int32_t dummy[4];
    CHECK(vlkv_tokenizer_encode(tok, "", 0, 0, 1, dummy, 4) == 0);
    CHECK(vlkv_tokenizer_encode(tok, NULL, 0, 0, 1, dummy, 4) == 0);
    /* "  a" -> "▁▁▁a": ▁a(-0.5) first (pair 2,3), then ▁▁(-7) on pair 0,1; pair 1,2 stale */
    EXPECT(tok, "leading spaces", "  a", 0, 1, ID_SPSP, ID_SPA);
    /* a single space -> "▁▁" */
    EXPECT(tok, "one space", " ", 0, 1, ID_SPSP);
    /* newline is byte-encoded <0x0A> = 13 */
    EXPECT(tok, "newline", "a\nb", 0, 1, ID_SPA, 13, ID_B);
    CHECK(BYTE('\n') == 13);
    /* 2-byte char merged with an ASCII letter: "▁ét" -> [▁, ét] */
    EXPECT(tok, "2-byte merge", "\xc3\xa9t", 0, 1, ID_SP, ID_ET);
    /* 3-byte char not in the vocabulary -> its 3 bytes */
    EXPECT(tok, "3-byte fallback", "\xe6\x97\xa5", 0, 1, ID_SP, BYTE(0xE6), BYTE(0x97), BYTE(0xA5));
    /* 4-byte char in the vocabulary, and one that is not */
    EXPECT(tok, "4-byte token", "\xf0\x9f\x98\x80", 0, 1, ID_SP, ID_SMILE);
    EXPECT(tok, "4-byte fallback", "\xf0\x9f\x99\x82", 0, 1, ID_SP, BYTE(0xF0), BYTE(0x9F), BYTE(0x99), BYTE(0x82));
    /* truncated UTF-8 at the end: the symbol is clipped to the remaining bytes */
    EXPECT(tok, "truncated utf-8", "a\xe6\x97", 0, 1, ID_SPA, BYTE(0xE6), BYTE(0x97));
    /* a stray continuation byte is a 1-byte symbol */
    EXPECT(tok, "stray continuation", "\x97" "a", 0, 1, ID_SP, BYTE(0x97), ID_A);
    /* text that spells an UNUSED or byte token is not special: "[PAD0]" -> bytes */
    EXPECT(tok, "unused not special", "[P", 0, 1, ID_SP, BYTE('['), BYTE('P'));
    /* embedded NUL byte is ordinary text */
    expect(tok, "embedded NUL", "a\0b", 3, 0, 1, (const int32_t[]){ID_SPA, BYTE(0), ID_B, -1});

    /* n_max too small: minus the count needed; exact fit works */
    int32_t out[8];
    CHECK(vlkv_tokenizer_encode(tok, "abc", 3, 1, 1, out, 2) == -3);
    CHECK(vlkv_tokenizer_encode(tok, "abc", 3, 1, 1, out, 3) == 3);
    CHECK(vlkv_tokenizer_encode(tok, "abc", 3, 1, 1, NULL, 0) == -3);
}

static void test_decode(const struct vlkv_tokenizer *tok) {
    char buf[64];
    CHECK(vlkv_tokenizer_piece(tok, ID_SPAB, buf, sizeof buf) == 3 && !strcmp(buf, " ab"));
    CHECK(vlkv_tokenizer_piece(tok, ID_SPSP, buf, sizeof buf) == 2 && !strcmp(buf, "  "));
    CHECK(vlkv_tokenizer_piece(tok, 13, buf, sizeof buf) == 1 && buf[0] == '\n');
    CHECK(vlkv_tokenizer_piece(tok, BYTE(0xE6), buf, sizeof buf) == 1 && (uint8_t)buf[0] == 0xE6);
    CHECK(vlkv_tokenizer_piece(tok, EOS, buf, sizeof buf) == 0 && buf[0] == '\0');
    CHECK(vlkv_tokenizer_piece(tok, BOS, buf, sizeof buf) == 0);
    CHECK(vlkv_tokenizer_piece(tok, UNK, buf, sizeof buf) == 0);
    CHECK(vlkv_tokenizer_piece(tok, ID_PAD, buf, sizeof buf) == 0);
    CHECK(vlkv_tokenizer_piece(tok, ID_IMG, buf, sizeof buf) == 5 && !strcmp(buf, "<img>"));
    CHECK(vlkv_tokenizer_piece(tok, ID_E, buf, sizeof buf) == 2 && !strcmp(buf, "\xc3\xa9"));
    CHECK(vlkv_tokenizer_piece(tok, -1, buf, sizeof buf) == 0);
    CHECK(vlkv_tokenizer_piece(tok, N_VOCAB, buf, sizeof buf) == 0);
    /* buffer sizes: too small -> -needed; exact -> no NUL */
    CHECK(vlkv_tokenizer_piece(tok, ID_SPAB, buf, 2) == -3);
    memset(buf, 'Z', sizeof buf);
    CHECK(vlkv_tokenizer_piece(tok, ID_SPAB, buf, 3) == 3 && !memcmp(buf, " abZ", 4));
    CHECK(vlkv_tokenizer_piece(tok, ID_IMG, buf, 4) == -5);
    size_t len;
    const char *t = vlkv_tokenizer_text(tok, ID_EMPTY, &len);
    CHECK(t && len == 11 && !memcmp(t, "[EMPTY_277]", 11));

    /* round trips: decode(encode(s)) == " " + s for text without special tokens */
    const char *texts[] = {"abc", "Hello, \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 world!\n  x\ty",
                           "  leading", "trailing  ", "\xc3\xa9t\xc3\xa9", "pqpqp xyz"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t ids[256];
        int32_t n = vlkv_tokenizer_encode(tok, texts[i], strlen(texts[i]), 0, 0, ids, 256);
        char dec[512];
        size_t m = n > 0 ? detok(tok, ids, n, dec, sizeof dec) : 0;
        CHECK_MSG(n > 0 && m == strlen(texts[i]) + 1 && dec[0] == ' ' && !memcmp(dec + 1, texts[i], m - 1),
                  "round trip of '%s'", texts[i]);
    }

    /* streaming: emit only complete UTF-8 prefixes while decoding byte tokens one by one */
    const char *s = " \xe6\x97\xa5\xf0\x9f\x99\x82x\xc3\xa9";
    int32_t ids[64];
    int32_t n = vlkv_tokenizer_encode(tok, s + 1, strlen(s) - 1, 0, 0, ids, 64);
    char pend[64], shown[64];
    size_t np = 0, ns = 0;
    int chunks_ok = 1;
    for (int32_t i = 0; i < n; i++) {
        int32_t k = vlkv_tokenizer_piece(tok, ids[i], pend + np, (int32_t)(sizeof pend - np));
        np += (size_t)(k > 0 ? k : 0);
        size_t c = vlkv_utf8_complete(pend, np);
        /* what is shown must never end inside a character */
        if (c > 0 && vlkv_utf8_complete(pend, c) != c) chunks_ok = 0;
        memcpy(shown + ns, pend, c);
        ns += c;
        memmove(pend, pend + c, np - c);
        np -= c;
    }
    CHECK(chunks_ok);
    CHECK(np == 0 && ns == strlen(s) && !memcmp(shown, s, ns));
}

static void test_utf8_complete(void) {
    CHECK(vlkv_utf8_complete("", 0) == 0);
    CHECK(vlkv_utf8_complete("abc", 3) == 3);
    CHECK(vlkv_utf8_complete("a\xc3", 2) == 1);              /* 2-byte lead alone */
    CHECK(vlkv_utf8_complete("a\xc3\xa9", 3) == 3);
    CHECK(vlkv_utf8_complete("a\xe6\x97", 3) == 1);          /* 3-byte, 2 present */
    CHECK(vlkv_utf8_complete("a\xe6\x97\xa5", 4) == 4);
    CHECK(vlkv_utf8_complete("\xf0\x9f\x99", 3) == 0);       /* 4-byte, 3 present */
    CHECK(vlkv_utf8_complete("\xf0\x9f\x99\x82", 4) == 4);
    CHECK(vlkv_utf8_complete("a\x97", 2) == 2);              /* stray continuation: nothing to wait for */
    CHECK(vlkv_utf8_complete("\x97\x97\x97\x97\x97", 5) == 5);
    CHECK(vlkv_utf8_complete("\xe6", 1) == 0);
}

static void test_variants(void) {
    const char *path = "test_tokenizer_v1.gguf";
    vlkv_status st;
    write_vocab(path, 1);   /* add_bos false, add_eos true, add_space_prefix false */
    struct vlkv_tokenizer *tok = load(path, &st);
    CHECK_MSG(tok != NULL, "%s", vlkv_last_error());
    if (tok) {
        CHECK(vlkv_tokenizer_add_bos(tok) == 0);
        /* default: no BOS, EOS appended; "ab" without the dummy prefix -> [ab] */
        EXPECT(tok, "no prefix + eos", "ab", -1, 1, ID_AB, EOS);
        EXPECT(tok, "explicit bos + eos", "ab", 1, 1, BOS, ID_AB, EOS);
        EXPECT(tok, "add_special off", "ab", 0, 1, ID_AB);
        /* without the prefix, a special token does not trigger a space either */
        EXPECT(tok, "no prefix after special", "a</s>b", 0, 1, ID_A, EOS, ID_B);
        vlkv_tokenizer_free(tok);
    }
    remove(path);

    static const struct { int variant; vlkv_status want; const char *what; } bad[] = {
        {2, VLKV_ERR_UNSUPPORTED, "gpt2"},
        {3, VLKV_ERR_FORMAT, "tokenizer.ggml.tokens"},
        {4, VLKV_ERR_FORMAT, "scores"},
        {5, VLKV_ERR_FORMAT, "bos_token_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char p[64];
        snprintf(p, sizeof p, "test_tokenizer_bad%d.gguf", bad[i].variant);
        write_vocab(p, bad[i].variant);
        tok = load(p, &st);
        CHECK_MSG(tok == NULL && st == bad[i].want, "variant %d: status %d", bad[i].variant, st);
        CHECK_MSG(strstr(vlkv_last_error(), p) && strstr(vlkv_last_error(), bad[i].what), "message: %s",
                  vlkv_last_error());
        vlkv_tokenizer_free(tok);
        remove(p);
    }
    vlkv_tokenizer_free(NULL);
}

/* ---- cross-check against the Python SPM reference (models/tokenizer.py) ---------------------- */

/* Parse a JSON array of strings / numbers that follows "key": in s (the simple layout
 * json.dump writes for models/tokenizer.json: no escapes besides \" and \\). */
static int json_array(const char *s, const char *key, char ***strs, double **nums, int *n) {
    const char *p = strstr(s, key);
    if (!p || !(p = strchr(p + strlen(key), '['))) return 0;
    p++;
    int cap = 1024;
    *n = 0;
    if (strs) *strs = malloc((size_t)cap * sizeof **strs);
    if (nums) *nums = malloc((size_t)cap * sizeof **nums);
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == ',') p++;
        if (*p == ']') return 1;
        if (*n == cap) {
            cap *= 2;
            if (strs) *strs = realloc(*strs, (size_t)cap * sizeof **strs);
            if (nums) *nums = realloc(*nums, (size_t)cap * sizeof **nums);
        }
        if (strs) {
            if (*p != '"') return 0;
            const char *q = ++p;
            char *out = malloc(strlen(q) + 1), *o = out;
            while (*q && *q != '"') {
                if (*q == '\\') {
                    q++;
                    if (*q != '"' && *q != '\\') { free(out); return 0; }
                }
                *o++ = *q++;
            }
            if (!*q) { free(out); return 0; }
            *o = 0;
            (*strs)[(*n)++] = out;
            p = q + 1;
        } else {
            char *end;
            double v = strtod(p, &end);
            if (end == p) return 0;
            (*nums)[(*n)++] = v;
            p = end;
        }
    }
}

static void test_reference_vocab(void) {
    const char *json = VLKV_SOURCE_DIR "/models/tokenizer.json";
    FILE *fp = fopen(json, "rb");
    if (!fp) {
        printf("test_tokenizer: %s not found, reference cross-check skipped\n", json);
        return;
    }
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)sz + 1);
    s[fread(s, 1, (size_t)sz, fp)] = 0;
    fclose(fp);
    char **pieces = NULL;
    double *scores = NULL, *types = NULL;
    int np = 0, ns = 0, nt = 0;
    int ok = json_array(s, "\"pieces\"", &pieces, NULL, &np) && json_array(s, "\"scores\"", NULL, &scores, &ns) &&
             json_array(s, "\"types\"", NULL, &types, &nt);
    CHECK_MSG(ok && np == ns && np == nt && np > 259, "cannot parse %s", json);
    if (ok && np == ns && np == nt && np > 259) {
        float *sc = malloc((size_t)np * sizeof *sc);
        int32_t *ty = malloc((size_t)np * sizeof *ty);
        for (int i = 0; i < np; i++) { sc[i] = (float)scores[i]; ty[i] = (int32_t)types[i]; }
        struct gguf_writer *w = vlkv_gguf_writer_new(32);
        vlkv_gguf_w_str(w, "tokenizer.ggml.model", "llama");
        vlkv_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)pieces, (uint64_t)np);
        vlkv_gguf_w_arr_f32(w, "tokenizer.ggml.scores", sc, (uint64_t)np);
        vlkv_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", ty, (uint64_t)np);
        const char *path = "test_tokenizer_ref.gguf";
        CHECK(vlkv_gguf_writer_save(w, path) == VLKV_OK);
        vlkv_gguf_writer_free(w);
        vlkv_status st;
        struct vlkv_tokenizer *tok = load(path, &st);
        CHECK_MSG(tok, "%s", vlkv_last_error());
        /* expected ids: Tokenizer.load("models/tokenizer.json").encode(text, add_bos, parse_special=ps) */
        static const struct { const char *text; int bos, ps; int32_t ids[40]; } cases[] = {
            {"A chat between a curious human and an artificial intelligence assistant.", 1, 1,
             {1, 305, 493, 492, 304, 494, 372, 374, 333, 489, 498, 373, 261, -1}},
            {"USER: <image>\nWhat color is the circle? ASSISTANT:", 0, 1,
             {320, 262, 300, 63, 283, 367, 65, 13, 336, 412, 324, 306, 398, 263, 321, 262, -1}},
            {" There are two red squares in the top left.</s>USER: How many stars?", 0, 1,
             {300, 371, 323, 488, 541, 521, 566, 332, 306, 385, 380, 261, 2, 320, 262, 483, 499, 567, 263, -1}},
            {"  leading  and trailing  ", 0, 1,
             {300, 300, 300, 325, 275, 426, 288, 281, 300, 374, 301, 292, 275, 283, 286, 513, 281, 300, 300, -1}},
            {"Multi\nline\n\ntext\twith tabs", 0, 1,
             {300, 80, 295, 286, 369, 13, 286, 513, 279, 13, 13, 345, 123, 294, 12, 297, 283, 294, 282, 301, 275,
              276, 293, -1}},
            {"unicode: caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 done", 0, 1,
             {300, 295, 288, 283, 277, 289, 278, 279, 262, 322, 275, 280, 198, 172, 300, 233, 154, 168, 233, 159,
              175, 300, 243, 162, 155, 131, 339, 327, 279, -1}},
            {"", 1, 1, {1, -1}},
            {"</s>", 0, 0, {300, 63, 50, 293, 65, -1}},
            {"a</s>b", 1, 1, {1, 304, 2, 330, -1}},
            {"The large purple diamond is in the bottom right corner of the image.", 1, 1,
             {1, 371, 425, 525, 410, 324, 332, 306, 390, 384, 322, 357, 288, 279, 292, 542, 306, 376, 261, -1}},
            {"1234567890 !?,.;:", 0, 1, {300, 52, 53, 54, 55, 56, 57, 58, 59, 60, 51, 300, 36, 263, 260, 261, 62, 262, -1}},
        };
        for (size_t i = 0; tok && i < sizeof cases / sizeof cases[0]; i++) {
            char label[64];
            snprintf(label, sizeof label, "reference case %zu", i);
            expect(tok, label, cases[i].text, strlen(cases[i].text), cases[i].bos, cases[i].ps, cases[i].ids);
        }
        vlkv_tokenizer_free(tok);
        remove(path);
        free(sc);
        free(ty);
    }
    for (int i = 0; i < np; i++) free(pieces[i]);
    free(pieces);
    free(scores);
    free(types);
    free(s);
}

int main(void) {
    test_reference_vocab();
    const char *path = "test_tokenizer.gguf";
    write_vocab(path, 0);
    vlkv_status st;
    struct vlkv_tokenizer *tok = load(path, &st);
    CHECK_MSG(tok != NULL, "load: %s", vlkv_last_error());
    if (tok) {
        CHECK(vlkv_tokenizer_n_vocab(tok) == N_VOCAB);
        CHECK(vlkv_tokenizer_bos(tok) == BOS && vlkv_tokenizer_eos(tok) == EOS && vlkv_tokenizer_unk(tok) == UNK);
        CHECK(vlkv_tokenizer_add_bos(tok) == 1);
        CHECK(vlkv_tokenizer_find(tok, "<0x0A>", 6) == 13);
        CHECK(vlkv_tokenizer_find(tok, SP "ab", 5) == ID_SPAB);
        CHECK(vlkv_tokenizer_find(tok, "zz", 2) == -1);
        CHECK(vlkv_tokenizer_type(tok, ID_IMG) == VLKV_TOKEN_USER_DEFINED);
        CHECK(vlkv_tokenizer_score(tok, ID_SPA) == -0.5f);
        test_encode(tok);
        test_decode(tok);
        vlkv_tokenizer_free(tok);
    }
    remove(path);
    test_utf8_complete();
    test_variants();
    return test_done("test_tokenizer");
}
