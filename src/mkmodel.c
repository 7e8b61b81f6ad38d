/* mkmodel.c - synthetic llama / mmproj GGUF files in llama.cpp's exact layout (formats.md §3-§5).
 *
 * Determinism: every row of every tensor draws from its own generator seeded by
 * (seed, tensor name, row), and uniforms are built from integers with a single float multiply,
 * so the bytes are identical for any thread count and any IEEE platform. Weights are uniform
 * with std = init_scale / sqrt(fan_in) (TinyLlama-sized layers get ~0.02, small test models stay
 * well-conditioned); norm weights are 1 + U(-0.05, 0.05); biases U(-0.02, 0.02)-ish.
 * Quantized types use the reference quantizers of the type table (types.c from_float).
 * Tensors are produced at save time (deferred writer tensors), one at a time, so even a 7B-shaped
 * file never needs more than one tensor in memory.
 *
 * Q/K rows: a converter from HF permutes attn_q/attn_k rows per head (formats.md §3.4) to turn
 * HF's rotate-half RoPE into adjacent-pair RoPE. Random rows have no pairing to preserve, so a
 * synthetic file is already "permuted": engines must apply NORM (adjacent-pair) RoPE to it. */
#include "mkmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tokenizer.h"
#include "types.h"

/* ---- deterministic random numbers ----------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a 64 */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* PCG32 (O'Neill), seeded per row */
struct pcg { uint64_t state, inc; };

static uint32_t pcg_next(struct pcg *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ull + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

static void pcg_seed(struct pcg *r, uint64_t seed, uint64_t stream) {
    r->state = 0;
    r->inc = (stream << 1) | 1;
    pcg_next(r);
    r->state += seed;
    pcg_next(r);
}

/* uniform in [-1, 1): a 24-bit integer, exactly representable, times 2^-23 */
static float pcg_unif(struct pcg *r) { return (float)((int32_t)(pcg_next(r) >> 8) - (1 << 23)) * 0x1p-23f; }

/* ---- tensor specs shared by the llama and clip writers -------------------------------------- */

enum init_kind { INIT_WEIGHT, INIT_NORM, INIT_BIAS };

struct tspec {
    char     name[64];
    uint32_t type;
    int      n_dims;
    int64_t  ne[4];
    int      kind;     /* enum init_kind */
    float    amp;      /* half-width of the uniform distribution (INIT_WEIGHT, INIT_BIAS) */
};

struct tlist {
    struct tspec *v;
    size_t        n, cap;
    uint64_t      seed;
    vlkv_status   err;
};

static void tl_add(struct tlist *tl, const char *name, uint32_t type, int n_dims, int64_t ne0, int64_t ne1,
                   int64_t ne2, int64_t ne3, int kind, float std) {
    if (tl->err) return;
    if (tl->n == tl->cap) {
        size_t cap = VLKV_MAX(tl->cap * 2, 64);
        struct tspec *nv = realloc(tl->v, cap * sizeof *nv);
        if (!nv) {
            tl->err = vlkv_error(VLKV_ERR_OOM, "mkmodel: out of memory");
            return;
        }
        tl->v = nv;
        tl->cap = cap;
    }
    struct tspec *t = &tl->v[tl->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    t->ne[0] = ne0; t->ne[1] = ne1; t->ne[2] = ne2; t->ne[3] = ne3;
    t->kind = kind;
    t->amp = std * 1.7320508f;   /* uniform(-a, a) has std a/sqrt(3) */
}

/* Produce tensor `index`: f32 rows from per-row generators, converted with the type's reference
 * quantizer. Rows are independent, so they are split across OpenMP threads. */
static vlkv_status fill_tensor(void *ud, size_t index, const char *name, void *dst, size_t nbytes) {
    const struct tlist *tl = ud;
    const struct tspec *t = &tl->v[index];
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t->type);
    VLKV_ASSERT(tr && tr->from_float);
    const int64_t ne0 = t->ne[0];
    const int64_t nrows = t->ne[1] * t->ne[2] * t->ne[3];
    const size_t row_size = vlkv_row_size((enum vlkv_type)t->type, ne0);
    VLKV_ASSERT(row_size * (size_t)nrows == nbytes);
    const uint64_t tseed = splitmix64(tl->seed ^ hash_name(name));
    int oom = 0;
#pragma omp parallel if (nrows * ne0 >= (1 << 20))   /* small tensors: not worth waking threads */
    {
        float *row = malloc((size_t)ne0 * sizeof *row);
        if (!row) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < nrows; r++) {
            if (!row) continue;
            struct pcg g;
            pcg_seed(&g, splitmix64(tseed + (uint64_t)r), tseed);
            for (int64_t i = 0; i < ne0; i++) {
                float u = pcg_unif(&g);
                row[i] = t->kind == INIT_NORM ? 1.0f + 0.05f * u : t->amp * u;
            }
            tr->from_float(row, (uint8_t *)dst + (size_t)r * row_size, ne0);
        }
        free(row);
    }
    if (oom) return vlkv_error(VLKV_ERR_OOM, "mkmodel: out of memory generating '%s'", name);
    return VLKV_OK;
}

static vlkv_status write_tensors(struct gguf_writer *w, struct tlist *tl, const char *path) {
    for (size_t i = 0; i < tl->n; i++)
        vlkv_gguf_w_tensor_deferred(w, tl->v[i].name, tl->v[i].type, tl->v[i].n_dims, tl->v[i].ne);
    return vlkv_gguf_writer_save_cb(w, path, fill_tensor, tl);
}

/* ---- type selection ------------------------------------------------------------------------- */

static int writable(int32_t type) {
    const struct vlkv_type_traits *tr = type >= 0 ? vlkv_type_traits_get((uint32_t)type) : NULL;
    return tr && tr->from_float && type != VLKV_TYPE_Q8_1 && type != VLKV_TYPE_Q8_K;
}

/* llama.cpp's fallback when a row length is not a multiple of the block size */
static int32_t fit_type(int32_t type, int64_t ne0) {
    for (int guard = 0; guard < 4; guard++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get((uint32_t)type);
        if (tr && ne0 % tr->blck == 0) return type;
        switch (type) {
        case VLKV_TYPE_Q4_K: type = VLKV_TYPE_Q5_0; break;
        case VLKV_TYPE_Q5_K: type = VLKV_TYPE_Q5_1; break;
        case VLKV_TYPE_Q6_K: type = VLKV_TYPE_Q8_0; break;
        default:             type = VLKV_TYPE_F16; break;
        }
    }
    return VLKV_TYPE_F16;
}

/* llama.cpp llama-quant.cpp use_more_bits */
static int use_more_bits(int il, int n) { return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2; }

/* apply "SUBSTR=type,..." overrides; -2 on a malformed spec */
static int32_t apply_overrides(const char *spec, const char *name, int32_t type) {
    if (!spec) return type;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p || eq == p + n - 1) return -2;
        char pat[64], tn[16];
        size_t pl = (size_t)(eq - p), tl = n - pl - 1;
        if (pl >= sizeof pat || tl >= sizeof tn) return -2;
        memcpy(pat, p, pl); pat[pl] = 0;
        memcpy(tn, eq + 1, tl); tn[tl] = 0;
        int t = vlkv_type_from_name(tn);
        if (t < 0) return -2;
        if (strstr(name, pat)) type = t;
        p += n;
        if (*p == ',') p++;
    }
    return type;
}

int32_t vlkv_mkmodel_tensor_type(const struct vlkv_mkmodel_params *p, const char *name, int il, int64_t ne0) {
    size_t nl = strlen(name);
    if (nl >= 12 && !strcmp(name + nl - 12, "_norm.weight")) return VLKV_TYPE_F32;   /* never quantized */
    int is_output = !strcmp(name, "output.weight");
    int is_embd = !strcmp(name, "token_embd.weight");
    int32_t type = p->type;
    if (p->ftype == VLKV_FTYPE_Q4_K_M || p->ftype == VLKV_FTYPE_Q5_K_M) {
        type = p->ftype == VLKV_FTYPE_Q4_K_M ? VLKV_TYPE_Q4_K : VLKV_TYPE_Q5_K;
        if (is_output) {
            type = VLKV_TYPE_Q6_K;
            if (ne0 % QK_K) type = VLKV_TYPE_Q8_0;   /* llama.cpp's output fallback */
        } else if ((strstr(name, ".attn_v.") || strstr(name, ".ffn_down.")) && use_more_bits(il, p->n_layer)) {
            type = VLKV_TYPE_Q6_K;
        }
    }
    if (is_output && p->type_output >= 0) type = p->type_output;
    if (is_embd && p->type_embd >= 0) type = p->type_embd;
    type = apply_overrides(p->overrides, name, type);
    if (type < 0) return type;
    return fit_type(type, ne0);
}

/* llama_ftype of a file whose 2-D weights are mostly `type` */
static uint32_t file_type_of(int32_t type) {
    switch (type) {
    case VLKV_TYPE_F32:  return 0;
    case VLKV_TYPE_F16:  return 1;
    case VLKV_TYPE_Q4_0: return 2;
    case VLKV_TYPE_Q4_1: return 3;
    case VLKV_TYPE_Q8_0: return 7;
    case VLKV_TYPE_Q5_0: return 8;
    case VLKV_TYPE_Q5_1: return 9;
    case VLKV_TYPE_Q4_K: return 14;   /* Q4_K_S */
    case VLKV_TYPE_Q5_K: return 16;   /* Q5_K_S */
    case VLKV_TYPE_Q6_K: return 18;
    case VLKV_TYPE_BF16: return 32;
    default:             return 0;
    }
}

/* ---- synthetic SPM vocabulary ------------------------------------------------------------- */

/* Common English words plus the words of the shapes data set; every prefix of "▁word" and of
 * "word" becomes a piece, so any word is reachable by merging (scores favour longer pieces). */
static const char *const k_words[] = {
    "the", "a", "is", "of", "and", "to", "in", "it", "that", "what", "there", "are", "this", "with", "on",
    "for", "as", "was", "at", "by", "be", "an", "or", "from", "which", "how", "many", "image", "picture",
    "shape", "shapes", "color", "colour", "circle", "circles", "square", "squares", "triangle", "triangles",
    "star", "stars", "cross", "crosses", "diamond", "diamonds", "red", "orange", "yellow", "green", "cyan",
    "blue", "purple", "pink", "white", "gray", "black", "small", "medium", "large", "top", "bottom", "left",
    "right", "center", "background", "one", "two", "three", "four", "five", "no", "yes", "describe", "detail",
    "USER", "ASSISTANT", "A", "chat", "between", "curious", "human", "artificial", "intelligence",
    "assistant", "gives", "helpful", "detailed", "polite", "answers", "questions", "question", "answer",
    "hello", "world", "you", "can", "see", "has", "have", "not", "do", "does", "where", "who", "why", "when",
    "I", "we", "they", "he", "she", "his", "her", "their", "some", "all", "any", "each", "other", "more",
    "most", "only", "also", "than", "then", "so", "if", "but", "about", "into", "over", "under", "near",
    "next", "above", "below", "side", "corner", "row", "column", "grid", "object", "objects", "solid",
    "gradient", "noise", "plain", "light", "dark", "bright", "scene", "photo", "shows", "contains",
};

struct vocab {
    char   **text;
    float   *score;
    int32_t *type;
    int32_t  n, cap;
};

static int vocab_has(const struct vocab *v, const char *s) {
    for (int32_t i = 259; i < v->n; i++)
        if (!strcmp(v->text[i], s)) return 1;
    return 0;
}

static int vocab_add(struct vocab *v, const char *s, float score, int32_t type) {
    if (v->n >= v->cap) return 0;
    char *d = malloc(strlen(s) + 1);
    if (!d) return -1;
    strcpy(d, s);
    v->text[v->n] = d;
    v->score[v->n] = score;
    v->type[v->n] = type;
    v->n++;
    return 1;
}

static void vocab_free(struct vocab *v) {
    for (int32_t i = 0; i < v->n; i++) free(v->text[i]);
    free(v->text);
    free(v->score);
    free(v->type);
}

static vlkv_status vocab_build(struct vocab *v, int32_t n_vocab) {
    v->cap = n_vocab;
    v->n = 0;
    v->text = calloc((size_t)n_vocab, sizeof *v->text);
    v->score = calloc((size_t)n_vocab, sizeof *v->score);
    v->type = calloc((size_t)n_vocab, sizeof *v->type);
    if (!v->text || !v->score || !v->type) return vlkv_error(VLKV_ERR_OOM, "mkmodel: out of memory");
    int ok = vocab_add(v, "<unk>", 0, VLKV_TOKEN_UNKNOWN) > 0 && vocab_add(v, "<s>", 0, VLKV_TOKEN_CONTROL) > 0 &&
             vocab_add(v, "</s>", 0, VLKV_TOKEN_CONTROL) > 0;
    for (int b = 0; ok && b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        ok = vocab_add(v, s, 0, VLKV_TOKEN_BYTE) > 0;
    }
    if (!ok) return vlkv_error(VLKV_ERR_OOM, "mkmodel: out of memory");
    /* single characters: "▁" and printable ASCII (never produced by a merge; low score) */
    int r = vocab_add(v, "\xe2\x96\x81", -1000.0f, VLKV_TOKEN_NORMAL);
    for (int c = 0x21; r > 0 && c < 0x7f; c++) {
        char s[2] = {(char)c, 0};
        r = vocab_add(v, s, -1000.0f, VLKV_TOKEN_NORMAL);
    }
    /* word prefixes; score: longer first, then by word rank */
    for (size_t wi = 0; r > 0 && wi < VLKV_ARRAY_LEN(k_words); wi++) {
        for (int spaced = 1; r > 0 && spaced >= 0; spaced--) {
            char s[64];
            size_t wl = strlen(k_words[wi]);
            for (size_t k = 2; r > 0 && k <= wl + (size_t)spaced; k++) {
                size_t o = 0;
                if (spaced) { memcpy(s, "\xe2\x96\x81", 3); o = 3; }
                memcpy(s + o, k_words[wi], k - (size_t)spaced);
                s[o + k - (size_t)spaced] = 0;
                if (vocab_has(v, s)) continue;
                r = vocab_add(v, s, (float)k - 0.001f * (float)wi, VLKV_TOKEN_NORMAL);
            }
        }
    }
    if (r < 0) return vlkv_error(VLKV_ERR_OOM, "mkmodel: out of memory");
    /* pad like the converter: [PADi], UNUSED */
    for (int32_t i = v->n; i < n_vocab; i++) {
        char s[32];
        snprintf(s, sizeof s, "[PAD%d]", (int)i);
        if (vocab_add(v, s, -1000.0f, VLKV_TOKEN_UNUSED) < 0) return vlkv_error(VLKV_ERR_OOM, "mkmodel: out of memory");
    }
    return VLKV_OK;
}

/* ---- llama ------------------------------------------------------------------------------------ */

struct vlkv_mkmodel_params vlkv_mkmodel_params_default(void) {
    struct vlkv_mkmodel_params p = {0};
    p.seed = 1;
    p.n_layer = 2;
    p.n_embd = 256;
    p.n_ff = 512;
    p.n_head = 4;
    p.n_head_kv = 0;
    p.n_vocab = 512;
    p.n_ctx = 2048;
    p.rope_base = 10000.0f;
    p.rms_eps = 1e-5f;
    p.type = VLKV_TYPE_F32;
    p.type_output = -1;
    p.type_embd = -1;
    p.ftype = VLKV_FTYPE_NONE;
    p.overrides = NULL;
    p.tied = 0;
    p.init_scale = 1.0f;
    p.name = "vlkv synthetic llama";
    return p;
}

vlkv_status vlkv_mkmodel_llama(const char *path, const struct vlkv_mkmodel_params *p) {
    vlkv_status st = VLKV_OK;
    struct gguf_writer *w = NULL;
    struct tlist tl = {0};
    struct vocab voc = {0};
    VLKV_ASSERT(path && p);
    const int32_t n_head_kv = p->n_head_kv > 0 ? p->n_head_kv : p->n_head;
    VLKV_CHECK(p->n_layer > 0 && p->n_embd > 0 && p->n_ff > 0 && p->n_head > 0 && p->n_ctx > 0,
               VLKV_ERR_INVALID_ARG, "mkmodel: n_layer, n_embd, n_ff, n_head and n_ctx must be positive");
    VLKV_CHECK(p->n_embd % p->n_head == 0 && (p->n_embd / p->n_head) % 2 == 0, VLKV_ERR_INVALID_ARG,
               "mkmodel: n_embd %d must be a multiple of n_head %d with an even head size", p->n_embd, p->n_head);
    VLKV_CHECK(p->n_head % n_head_kv == 0, VLKV_ERR_INVALID_ARG,
               "mkmodel: n_head %d must be a multiple of n_head_kv %d", p->n_head, n_head_kv);
    VLKV_CHECK(p->n_vocab >= 260, VLKV_ERR_INVALID_ARG,
               "mkmodel: n_vocab %d too small (3 specials + 256 byte tokens + 1)", p->n_vocab);
    VLKV_CHECK(p->ftype == VLKV_FTYPE_NONE || p->ftype == VLKV_FTYPE_Q4_K_M || p->ftype == VLKV_FTYPE_Q5_K_M,
               VLKV_ERR_INVALID_ARG, "mkmodel: unknown ftype preset %d", p->ftype);
    VLKV_CHECK(p->init_scale > 0 && p->init_scale < 1e6f, VLKV_ERR_INVALID_ARG, "mkmodel: bad init_scale");

    const int64_t E = p->n_embd, F = p->n_ff, V = p->n_vocab;
    const int64_t Hd = E / p->n_head, Ekv = Hd * n_head_kv;
    tl.seed = p->seed;

    /* tensors (all types decided and validated up front) */
    struct { const char *fmt; int64_t ne0, ne1; } blk[] = {
        {"blk.%d.attn_norm.weight", E, 0}, {"blk.%d.attn_q.weight", E, E}, {"blk.%d.attn_k.weight", E, Ekv},
        {"blk.%d.attn_v.weight", E, Ekv}, {"blk.%d.attn_output.weight", E, E}, {"blk.%d.ffn_norm.weight", E, 0},
        {"blk.%d.ffn_gate.weight", E, F}, {"blk.%d.ffn_up.weight", E, F}, {"blk.%d.ffn_down.weight", F, E},
    };
    int any_quant = 0;
#define ADD_2D(nm, il_, ne0_, ne1_) do {                                                             \
        int32_t ty_ = vlkv_mkmodel_tensor_type(p, nm, il_, ne0_);                                     \
        VLKV_CHECK(ty_ != -2, VLKV_ERR_INVALID_ARG, "mkmodel: bad override spec '%s' (want SUBSTR=type,...)", \
                   p->overrides);                                                                     \
        VLKV_CHECK(writable(ty_), VLKV_ERR_INVALID_ARG, "mkmodel: %s: type %s cannot be written (no quantizer)", \
                   nm, vlkv_type_name((uint32_t)ty_));                                                \
        any_quant |= vlkv_type_traits_get((uint32_t)ty_)->is_quant;                                   \
        tl_add(&tl, nm, (uint32_t)ty_, 2, ne0_, ne1_, 1, 1, INIT_WEIGHT, p->init_scale / sqrtf((float)(ne0_))); \
    } while (0)
    ADD_2D("token_embd.weight", -1, E, V);
    char name[64];
    for (int il = 0; il < p->n_layer; il++) {
        for (size_t k = 0; k < VLKV_ARRAY_LEN(blk); k++) {
            snprintf(name, sizeof name, blk[k].fmt, il);
            if (blk[k].ne1 == 0) tl_add(&tl, name, VLKV_TYPE_F32, 1, E, 1, 1, 1, INIT_NORM, 0);
            else ADD_2D(name, il, blk[k].ne0, blk[k].ne1);
        }
    }
    tl_add(&tl, "output_norm.weight", VLKV_TYPE_F32, 1, E, 1, 1, 1, INIT_NORM, 0);
    if (!p->tied) ADD_2D("output.weight", -1, E, V);
#undef ADD_2D
    VLKV_TRY(tl.err);
    VLKV_TRY(vocab_build(&voc, p->n_vocab));

    w = vlkv_gguf_writer_new(32);
    VLKV_CHECK(w, VLKV_ERR_OOM, "mkmodel: out of memory");
    uint32_t ftype = p->ftype != VLKV_FTYPE_NONE ? (uint32_t)p->ftype : file_type_of(p->type);
    vlkv_gguf_w_str(w, "general.architecture", "llama");
    vlkv_gguf_w_str(w, "general.name", p->name ? p->name : "vlkv synthetic llama");
    vlkv_gguf_w_u32(w, "llama.vocab_size", (uint32_t)V);
    vlkv_gguf_w_u32(w, "llama.context_length", (uint32_t)p->n_ctx);
    vlkv_gguf_w_u32(w, "llama.embedding_length", (uint32_t)E);
    vlkv_gguf_w_u32(w, "llama.block_count", (uint32_t)p->n_layer);
    vlkv_gguf_w_u32(w, "llama.feed_forward_length", (uint32_t)F);
    vlkv_gguf_w_u32(w, "llama.rope.dimension_count", (uint32_t)Hd);
    vlkv_gguf_w_u32(w, "llama.attention.head_count", (uint32_t)p->n_head);
    vlkv_gguf_w_u32(w, "llama.attention.head_count_kv", (uint32_t)n_head_kv);
    vlkv_gguf_w_f32(w, "llama.attention.layer_norm_rms_epsilon", p->rms_eps);
    vlkv_gguf_w_f32(w, "llama.rope.freq_base", p->rope_base);
    vlkv_gguf_w_u32(w, "general.file_type", ftype);
    vlkv_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    vlkv_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)voc.text, (uint64_t)voc.n);
    vlkv_gguf_w_arr_f32(w, "tokenizer.ggml.scores", voc.score, (uint64_t)voc.n);
    vlkv_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", voc.type, (uint64_t)voc.n);
    vlkv_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    vlkv_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    vlkv_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    vlkv_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 1);
    vlkv_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0);
    if (any_quant) vlkv_gguf_w_u32(w, "general.quantization_version", 2);

    double t0 = vlkv_time_ms();
    VLKV_TRY(write_tensors(w, &tl, path));
    VLKV_LOG_INFO("mkmodel: wrote %s (%zu tensors) in %.0f ms", path, tl.n, vlkv_time_ms() - t0);
fail:
    vlkv_gguf_writer_free(w);
    free(tl.v);
    vocab_free(&voc);
    return st;
}

/* ---- clip / mmproj ------------------------------------------------------------------------------ */

struct vlkv_mkmodel_clip_params vlkv_mkmodel_clip_params_default(void) {
    struct vlkv_mkmodel_clip_params p = {0};
    p.seed = 1;
    p.image_size = 32;
    p.patch_size = 8;
    p.n_embd = 64;
    p.n_ff = 256;
    p.n_head = 4;
    p.n_layer = 2;
    p.n_proj_hidden = 0;
    p.n_embd_out = 256;
    p.projection_dim = 768;
    p.eps = 1e-5f;
    p.type = VLKV_TYPE_F16;
    p.type_pos = -1;
    p.type_patch = VLKV_TYPE_F16;
    p.use_gelu = 0;
    p.init_scale = 1.0f;
    p.name = "vlkv synthetic clip";
    return p;
}

vlkv_status vlkv_mkmodel_clip(const char *path, const struct vlkv_mkmodel_clip_params *p) {
    vlkv_status st = VLKV_OK;
    struct gguf_writer *w = NULL;
    struct tlist tl = {0};
    VLKV_ASSERT(path && p);
    VLKV_CHECK(p->image_size > 0 && p->patch_size > 0 && p->image_size % p->patch_size == 0, VLKV_ERR_INVALID_ARG,
               "mkmodel: image_size %d must be a positive multiple of patch_size %d", p->image_size, p->patch_size);
    VLKV_CHECK(p->n_embd > 0 && p->n_ff > 0 && p->n_head > 0 && p->n_layer > 0 && p->n_embd_out > 0 &&
               p->n_embd % p->n_head == 0, VLKV_ERR_INVALID_ARG,
               "mkmodel: clip widths must be positive and n_embd %d a multiple of n_head %d", p->n_embd, p->n_head);
    VLKV_CHECK(writable(p->type) && writable(p->type_patch) && (p->type_pos < 0 || writable(p->type_pos)),
               VLKV_ERR_INVALID_ARG, "mkmodel: clip weight type cannot be written");
    VLKV_CHECK(p->type_patch == VLKV_TYPE_F16 || p->type_patch == VLKV_TYPE_F32, VLKV_ERR_INVALID_ARG,
               "mkmodel: the patch convolution must be F16 or F32 (llama.cpp keeps it F16)");

    const int64_t W = p->n_embd, F = p->n_ff, P = p->patch_size;
    const int64_t H = p->n_proj_hidden > 0 ? p->n_proj_hidden : p->n_embd_out, O = p->n_embd_out;
    const int64_t n_side = p->image_size / p->patch_size, n_pos = n_side * n_side + 1;
    const float sc = p->init_scale;
    tl.seed = p->seed;
    int any_quant = 0;
#define ADD_W(nm, type_, ne0_, ne1_) do {                                                              \
        int32_t ty_ = fit_type((type_), (ne0_));                                                        \
        any_quant |= vlkv_type_traits_get((uint32_t)ty_)->is_quant;                                     \
        tl_add(&tl, nm, (uint32_t)ty_, 2, ne0_, ne1_, 1, 1, INIT_WEIGHT, sc / sqrtf((float)(ne0_)));    \
    } while (0)
#define ADD_1D(nm, n_, kind_) tl_add(&tl, nm, VLKV_TYPE_F32, 1, n_, 1, 1, 1, kind_, 0.0115f)

    /* conv weight [kw, kh, cin, cout]; fan-in 3·P·P */
    tl_add(&tl, "v.patch_embd.weight", (uint32_t)p->type_patch, 4, P, P, 3, W, INIT_WEIGHT,
           sc / sqrtf((float)(3 * P * P)));
    tl_add(&tl, "v.class_embd", VLKV_TYPE_F32, 1, W, 1, 1, 1, INIT_WEIGHT, sc * 0.5f);
    ADD_W("v.position_embd.weight", p->type_pos >= 0 ? p->type_pos : p->type, W, n_pos);
    ADD_1D("v.pre_ln.weight", W, INIT_NORM);
    ADD_1D("v.pre_ln.bias", W, INIT_BIAS);
    char name[64];
    for (int il = 0; il < p->n_layer; il++) {
        /* HF CLIP state-dict order: k, v, q, out_proj, layer_norm1, fc1, fc2, layer_norm2 */
        static const char *const att[] = {"attn_k", "attn_v", "attn_q", "attn_out"};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "v.blk.%d.%s.weight", il, att[k]);
            ADD_W(name, p->type, W, W);
            snprintf(name, sizeof name, "v.blk.%d.%s.bias", il, att[k]);
            ADD_1D(name, W, INIT_BIAS);
        }
        snprintf(name, sizeof name, "v.blk.%d.ln1.weight", il); ADD_1D(name, W, INIT_NORM);
        snprintf(name, sizeof name, "v.blk.%d.ln1.bias", il);   ADD_1D(name, W, INIT_BIAS);
        /* legacy name swap: mlp.fc1 (W -> F) is stored as ffn_down, mlp.fc2 (F -> W) as ffn_up */
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.weight", il); ADD_W(name, p->type, W, F);
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.bias", il);   ADD_1D(name, F, INIT_BIAS);
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.weight", il);   ADD_W(name, p->type, F, W);
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.bias", il);     ADD_1D(name, W, INIT_BIAS);
        snprintf(name, sizeof name, "v.blk.%d.ln2.weight", il); ADD_1D(name, W, INIT_NORM);
        snprintf(name, sizeof name, "v.blk.%d.ln2.bias", il);   ADD_1D(name, W, INIT_BIAS);
    }
    ADD_W("mm.0.weight", p->type, W, H);
    ADD_1D("mm.0.bias", H, INIT_BIAS);
    ADD_W("mm.2.weight", p->type, H, O);
    ADD_1D("mm.2.bias", O, INIT_BIAS);
#undef ADD_W
#undef ADD_1D
    VLKV_TRY(tl.err);

    w = vlkv_gguf_writer_new(32);
    VLKV_CHECK(w, VLKV_ERR_OOM, "mkmodel: out of memory");
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    vlkv_gguf_w_str(w, "general.architecture", "clip");
    vlkv_gguf_w_bool(w, "clip.has_text_encoder", 0);
    vlkv_gguf_w_bool(w, "clip.has_vision_encoder", 1);
    vlkv_gguf_w_bool(w, "clip.has_llava_projector", 1);
    vlkv_gguf_w_u32(w, "general.file_type", file_type_of(p->type));
    vlkv_gguf_w_str(w, "general.name", p->name ? p->name : "vlkv synthetic clip");
    vlkv_gguf_w_str(w, "general.description", "image encoder for LLaVA");
    vlkv_gguf_w_str(w, "clip.projector_type", "mlp");
    vlkv_gguf_w_u32(w, "clip.vision.image_size", (uint32_t)p->image_size);
    vlkv_gguf_w_u32(w, "clip.vision.patch_size", (uint32_t)p->patch_size);
    vlkv_gguf_w_u32(w, "clip.vision.embedding_length", (uint32_t)W);
    vlkv_gguf_w_u32(w, "clip.vision.feed_forward_length", (uint32_t)F);
    vlkv_gguf_w_u32(w, "clip.vision.projection_dim", (uint32_t)p->projection_dim);
    vlkv_gguf_w_u32(w, "clip.vision.attention.head_count", (uint32_t)p->n_head);
    vlkv_gguf_w_f32(w, "clip.vision.attention.layer_norm_epsilon", p->eps);
    vlkv_gguf_w_u32(w, "clip.vision.block_count", (uint32_t)p->n_layer);
    vlkv_gguf_w_arr_f32(w, "clip.vision.image_mean", mean, 3);
    vlkv_gguf_w_arr_f32(w, "clip.vision.image_std", stdv, 3);
    vlkv_gguf_w_bool(w, "clip.use_gelu", p->use_gelu);
    if (any_quant) vlkv_gguf_w_u32(w, "general.quantization_version", 2);
    VLKV_TRY(write_tensors(w, &tl, path));
fail:
    vlkv_gguf_writer_free(w);
    free(tl.v);
    return st;
}
