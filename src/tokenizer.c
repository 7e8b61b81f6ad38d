/* tokenizer.c - llama.cpp's SPM tokenizer (llama_vocab SPM branch; specs/formats.md §4).
 *
 * Encoding of one call:
 *   1. partition the raw text at special tokens (CONTROL | USER_DEFINED | UNKNOWN, longest
 *      text first; CONTROL/UNKNOWN only with parse_special) into raw fragments and token ids;
 *   2. BOS; then per raw fragment: prepend ' ' if add_space_prefix and the previous item was a
 *      special token (true at the start), replace every ' ' by U+2581, split into UTF-8
 *      characters, and merge adjacent symbols greedily by the score of the merged piece
 *      (max-heap, ties to the leftmost pair), re-checking staleness on pop;
 *   3. emit each final symbol as its token, or byte by byte as <0xHH> tokens; EOS if asked.
 * llama.cpp also keeps a rev_merge map to re-split symbols that are not tokens. Symbols are
 * merged only when the merged text *is* a token, so every multi-character final symbol is a
 * token and only single unmerged characters can miss; rev_merge never fires for SPM and is
 * therefore not materialised here (the output is identical).
 * Vocabulary lookups use an open-addressing hash of the piece bytes; for duplicate pieces the
 * last id wins, as in llama.cpp's token_to_id map. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SPM_SPACE "\xe2\x96\x81"   /* U+2581 LOWER ONE EIGHTH BLOCK */

struct vlkv_tokenizer {
    int32_t   n_vocab;
    char     *blob;        /* all piece texts back to back */
    size_t   *off;         /* [n_vocab] */
    uint32_t *len;         /* [n_vocab] */
    float    *score;       /* [n_vocab] */
    int32_t  *type;        /* [n_vocab] enum vlkv_token_type */
    int32_t  *table;       /* open-addressing hash: piece -> id, -1 = empty */
    uint32_t  table_mask;
    int32_t  *special;     /* partition candidates, longest text first */
    int32_t   n_special;
    int32_t   byte_id[256];/* <0xHH> (or the single-byte piece) per byte, -1 if neither */
    int32_t   bos, eos, unk;
    int       add_bos, add_eos, add_space_prefix;
};

/* ---- vocabulary hash ----------------------------------------------------------------------- */

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t vlkv_tokenizer_find(const struct vlkv_tokenizer *tok, const char *text, size_t len) {
    for (uint32_t h = hash_bytes(text, len) & tok->table_mask;; h = (h + 1) & tok->table_mask) {
        int32_t id = tok->table[h];
        if (id < 0) return -1;
        if (tok->len[id] == len && !memcmp(tok->blob + tok->off[id], text, len)) return id;
    }
}

static void table_insert(struct vlkv_tokenizer *tok, int32_t id) {
    const char *s = tok->blob + tok->off[id];
    for (uint32_t h = hash_bytes(s, tok->len[id]) & tok->table_mask;; h = (h + 1) & tok->table_mask) {
        int32_t cur = tok->table[h];
        if (cur < 0 || (tok->len[cur] == tok->len[id] && !memcmp(tok->blob + tok->off[cur], s, tok->len[id]))) {
            tok->table[h] = id;   /* duplicates: the last id wins */
            return;
        }
    }
}

/* ---- loading ------------------------------------------------------------------------------- */

struct special_key { uint32_t len; int32_t id; };

static int cmp_special(const void *a, const void *b) {
    const struct special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;   /* longest first */
    return x->id < y->id ? -1 : x->id > y->id;              /* then by id */
}

static vlkv_status get_id(const struct gguf_file *f, const char *key, int32_t def, int32_t n_vocab, int32_t *out) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    uint32_t v = (uint32_t)def;
    if (kv && !vlkv_gguf_get_u32(f, key, &v))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: %s is not an unsigned integer", f->path, key);
    if (v >= (uint32_t)n_vocab)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: %s = %u is outside the vocabulary (%d tokens)", f->path, key, v,
                          n_vocab);
    *out = (int32_t)v;
    return VLKV_OK;
}

static vlkv_status get_flag(const struct gguf_file *f, const char *key, int def, int *out) {
    *out = def;
    if (vlkv_gguf_find_kv(f, key) && !vlkv_gguf_get_bool(f, key, out))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: %s is not a bool", f->path, key);
    return VLKV_OK;
}

vlkv_status vlkv_tokenizer_load(const struct gguf_file *f, struct vlkv_tokenizer **out) {
    vlkv_status st = VLKV_OK;
    struct vlkv_tokenizer *tok = NULL;
    VLKV_ASSERT(f && out);
    *out = NULL;
    const char *path = f->path ? f->path : "<gguf>";

    char model[32] = "";
    if (vlkv_gguf_get_str(f, "tokenizer.ggml.model", model, sizeof model)) {
        VLKV_CHECK(!strcmp(model, "llama"), VLKV_ERR_UNSUPPORTED,
                   "%s: tokenizer.ggml.model '%s' is not supported (only 'llama' / SPM)", path, model);
    } else {
        VLKV_LOG_WARN("%s: no tokenizer.ggml.model, assuming 'llama' (SPM)", path);
    }
    const struct gguf_kv *ktok = vlkv_gguf_find_kv(f, "tokenizer.ggml.tokens");
    VLKV_CHECK(ktok, VLKV_ERR_FORMAT, "%s: no tokenizer.ggml.tokens (vocabulary) in the file", path);
    VLKV_CHECK(ktok->type == GGUF_ARR && ktok->arr_type == GGUF_STR, VLKV_ERR_FORMAT,
               "%s: tokenizer.ggml.tokens is not an array of strings", path);
    VLKV_CHECK(ktok->arr_n >= 1 && ktok->arr_n <= (1u << 30), VLKV_ERR_FORMAT,
               "%s: tokenizer.ggml.tokens has %llu entries", path, (unsigned long long)ktok->arr_n);
    const int32_t n = (int32_t)ktok->arr_n;
    const struct gguf_kv *kscore = vlkv_gguf_find_kv(f, "tokenizer.ggml.scores");
    const struct gguf_kv *ktype = vlkv_gguf_find_kv(f, "tokenizer.ggml.token_type");
    VLKV_CHECK(!kscore || (kscore->type == GGUF_ARR && kscore->arr_n == (uint64_t)n &&
                           (kscore->arr_type == GGUF_F32 || kscore->arr_type == GGUF_F64)),
               VLKV_ERR_FORMAT, "%s: tokenizer.ggml.scores must be a float array of %d entries", path, n);
    VLKV_CHECK(!ktype || (ktype->type == GGUF_ARR && ktype->arr_n == (uint64_t)n &&
                          ktype->arr_type != GGUF_STR && ktype->arr_type != GGUF_F32 && ktype->arr_type != GGUF_F64 &&
                          ktype->arr_type != GGUF_BOOL),
               VLKV_ERR_FORMAT, "%s: tokenizer.ggml.token_type must be an integer array of %d entries", path, n);

    tok = calloc(1, sizeof *tok);
    VLKV_CHECK(tok, VLKV_ERR_OOM, "%s: out of memory", path);
    tok->n_vocab = n;
    /* "[EMPTY_i]" replaces empty pieces (llama.cpp); at most 20 bytes each */
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        struct gguf_str s = vlkv_gguf_arr_str(ktok, (uint64_t)i);
        VLKV_CHECK(s.len <= UINT32_MAX, VLKV_ERR_FORMAT, "%s: token %d is too long", path, i);
        total += s.len ? (size_t)s.len : 20;
    }
    uint32_t cap = 1;
    while (cap < 2u * (uint32_t)n) cap <<= 1;
    tok->blob = malloc(VLKV_MAX(total, 1));
    tok->off = malloc((size_t)n * sizeof *tok->off);
    tok->len = malloc((size_t)n * sizeof *tok->len);
    tok->score = malloc((size_t)n * sizeof *tok->score);
    tok->type = malloc((size_t)n * sizeof *tok->type);
    tok->table = malloc((size_t)cap * sizeof *tok->table);
    tok->special = malloc((size_t)n * sizeof *tok->special);
    VLKV_CHECK(tok->blob && tok->off && tok->len && tok->score && tok->type && tok->table && tok->special,
               VLKV_ERR_OOM, "%s: out of memory for a %d-token vocabulary", path, n);
    tok->table_mask = cap - 1;
    memset(tok->table, 0xff, (size_t)cap * sizeof *tok->table);

    size_t pos = 0;
    for (int32_t i = 0; i < n; i++) {
        struct gguf_str s = vlkv_gguf_arr_str(ktok, (uint64_t)i);
        tok->off[i] = pos;
        if (s.len) {
            memcpy(tok->blob + pos, s.ptr, (size_t)s.len);
            tok->len[i] = (uint32_t)s.len;
        } else {
            char tmp[24];
            int k = snprintf(tmp, sizeof tmp, "[EMPTY_%d]", (int)i);
            memcpy(tok->blob + pos, tmp, (size_t)k);
            tok->len[i] = (uint32_t)k;
        }
        pos += tok->len[i];
        float sc = 0.0f;
        if (kscore) vlkv_gguf_arr_f32(kscore, (uint64_t)i, &sc);
        tok->score[i] = sc;
        int64_t ty = VLKV_TOKEN_NORMAL;
        if (ktype) vlkv_gguf_arr_i64(ktype, (uint64_t)i, &ty);
        tok->type[i] = (ty >= 0 && ty <= VLKV_TOKEN_BYTE) ? (int32_t)ty : VLKV_TOKEN_UNDEFINED;
        table_insert(tok, i);
    }

    VLKV_TRY(get_id(f, "tokenizer.ggml.bos_token_id", 1 < n ? 1 : 0, n, &tok->bos));
    VLKV_TRY(get_id(f, "tokenizer.ggml.eos_token_id", 2 < n ? 2 : 0, n, &tok->eos));
    VLKV_TRY(get_id(f, "tokenizer.ggml.unknown_token_id", 0, n, &tok->unk));
    VLKV_TRY(get_flag(f, "tokenizer.ggml.add_bos_token", 1, &tok->add_bos));
    VLKV_TRY(get_flag(f, "tokenizer.ggml.add_eos_token", 0, &tok->add_eos));
    VLKV_TRY(get_flag(f, "tokenizer.ggml.add_space_prefix", 1, &tok->add_space_prefix));

    /* byte fallback ids: "<0xHH>" (uppercase hex), else the single-byte piece */
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        int32_t id = vlkv_tokenizer_find(tok, name, 6);
        if (id < 0) {
            char c = (char)b;
            id = vlkv_tokenizer_find(tok, &c, 1);
        }
        tok->byte_id[b] = id;
    }

    /* special-token partition candidates, longest first (ties by id, for determinism) */
    tok->n_special = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t t = tok->type[i];
        if (t == VLKV_TOKEN_CONTROL || t == VLKV_TOKEN_USER_DEFINED || t == VLKV_TOKEN_UNKNOWN)
            tok->special[tok->n_special++] = i;
    }
    if (tok->n_special > 1) {
        struct special_key *keys = malloc((size_t)tok->n_special * sizeof *keys);
        VLKV_CHECK(keys, VLKV_ERR_OOM, "%s: out of memory", path);
        for (int32_t k = 0; k < tok->n_special; k++) keys[k] = (struct special_key){tok->len[tok->special[k]], tok->special[k]};
        qsort(keys, (size_t)tok->n_special, sizeof *keys, cmp_special);
        for (int32_t k = 0; k < tok->n_special; k++) tok->special[k] = keys[k].id;
        free(keys);
    }

    VLKV_LOG_DBG("%s: SPM vocabulary of %d tokens, %d special, bos %d eos %d unk %d", path, n, tok->n_special,
                 tok->bos, tok->eos, tok->unk);
    *out = tok;
    return VLKV_OK;
fail:
    vlkv_tokenizer_free(tok);
    return st;
}

void vlkv_tokenizer_free(struct vlkv_tokenizer *tok) {
    if (!tok) return;
    free(tok->blob);
    free(tok->off);
    free(tok->len);
    free(tok->score);
    free(tok->type);
    free(tok->table);
    free(tok->special);
    free(tok);
}

/* ---- encoding -------------------------------------------------------------------------------- */

/* growable id vector; `oom` set on allocation failure */
struct ids { int32_t *v; size_t n, cap; int oom; };

static void ids_push(struct ids *o, int32_t id) {
    if (o->n == o->cap) {
        size_t cap = VLKV_MAX(o->cap * 2, 64);
        int32_t *nv = realloc(o->v, cap * sizeof *nv);
        if (!nv) {
            o->oom = 1;
            return;
        }
        o->v = nv;
        o->cap = cap;
    }
    o->v[o->n++] = id;
}

struct symbol { int prev, next; const char *text; size_t n; };
struct bigram { int left, right; float score; size_t size; };

/* max-heap on score; ties -> smaller left index first (llama.cpp llm_bigram_spm::comparator) */
static int bigram_before(const struct bigram *a, const struct bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

struct spm {
    const struct vlkv_tokenizer *tok;
    struct symbol *sym;
    struct bigram *heap;
    size_t n_heap, cap_heap;
    int oom;
};

static void heap_push(struct spm *s, struct bigram b) {
    if (s->n_heap == s->cap_heap) {
        size_t cap = VLKV_MAX(s->cap_heap * 2, 64);
        struct bigram *nh = realloc(s->heap, cap * sizeof *nh);
        if (!nh) {
            s->oom = 1;
            return;
        }
        s->heap = nh;
        s->cap_heap = cap;
    }
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&b, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = b;
}

static struct bigram heap_pop(struct spm *s) {
    struct bigram top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!bigram_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static void try_add_bigram(struct spm *s, int left, int right) {
    if (left < 0 || right < 0) return;
    size_t n = s->sym[left].n + s->sym[right].n;   /* symbols are adjacent in the text */
    int32_t id = vlkv_tokenizer_find(s->tok, s->sym[left].text, n);
    if (id < 0) return;
    struct bigram b = {left, right, s->tok->score[id], n};
    heap_push(s, b);
}

/* llama.cpp unicode_len_utf8: length from the lead byte's high nibble (continuation bytes -> 1) */
static size_t utf8_len(uint8_t c) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* Tokenize one escaped fragment (spaces already U+2581) into o. */
static void spm_tokenize(const struct vlkv_tokenizer *tok, const char *text, size_t len, struct ids *o) {
    struct spm s = {tok, NULL, NULL, 0, 0, 0};
    if (len == 0) return;
    s.sym = malloc(len * sizeof *s.sym);   /* at most one symbol per byte */
    if (!s.sym) {
        o->oom = 1;
        return;
    }
    int n_sym = 0;
    for (size_t off = 0; off < len;) {
        size_t n = VLKV_MIN(utf8_len((uint8_t)text[off]), len - off);
        s.sym[n_sym] = (struct symbol){n_sym - 1, off + n < len ? n_sym + 1 : -1, text + off, n};
        n_sym++;
        off += n;
    }
    for (int i = 1; i < n_sym; i++) try_add_bigram(&s, i - 1, i);

    while (s.n_heap > 0 && !s.oom) {
        struct bigram b = heap_pop(&s);
        struct symbol *l = &s.sym[b.left], *r = &s.sym[b.right];
        /* stale: one side already merged away, or a side grew since the bigram was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s.sym[r->next].prev = b.left;
        try_add_bigram(&s, l->prev, b.left);
        try_add_bigram(&s, b.left, l->next);
    }

    for (int i = 0; i != -1 && !s.oom; i = s.sym[i].next) {
        const struct symbol *y = &s.sym[i];
        int32_t id = vlkv_tokenizer_find(tok, y->text, y->n);
        if (id >= 0) {
            ids_push(o, id);
            continue;
        }
        /* not a token (only ever a single unmerged character): its bytes as byte tokens */
        for (size_t j = 0; j < y->n; j++) {
            int32_t bid = tok->byte_id[(uint8_t)y->text[j]];
            ids_push(o, bid >= 0 ? bid : tok->unk);
        }
    }
    if (s.oom) o->oom = 1;
    free(s.sym);
    free(s.heap);
}

/* a piece of the input: raw text [off, off+len) or a special token id */
struct frag { int32_t id; size_t off, len; };   /* id >= 0: token, else raw text */

static int frags_push(struct frag **v, size_t *n, size_t *cap, struct frag f) {
    if (*n == *cap) {
        size_t c = VLKV_MAX(*cap * 2, 16);
        struct frag *nv = realloc(*v, c * sizeof *nv);
        if (!nv) return 0;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = f;
    return 1;
}

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0 || nn > hn) return NULL;
    for (const char *p = h, *end = h + hn - nn; p <= end; p++) {
        p = memchr(p, nd[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (!memcmp(p, nd, nn)) return p;
    }
    return NULL;
}

int32_t vlkv_tokenizer_encode(const struct vlkv_tokenizer *tok, const char *text, size_t len, int add_bos,
                              int parse_special, int32_t *out, int32_t n_max) {
    VLKV_ASSERT(tok && (text || len == 0) && (out || n_max <= 0));
    if (len > ((size_t)1 << 28)) {
        vlkv_error(VLKV_ERR_INVALID_ARG, "tokenize: text of %zu bytes is too long (max 256 MiB)", len);
        return INT32_MIN;
    }
    struct ids o = {0};
    struct frag *fr = NULL, *tmp = NULL;
    size_t n_fr = 0, cap_fr = 0, n_tmp = 0, cap_tmp = 0;
    char *esc = NULL;
    int32_t result = 0;
    int ok = 1;

    /* 1. special-token partition */
    if (len > 0) ok = frags_push(&fr, &n_fr, &cap_fr, (struct frag){-1, 0, len});
    for (int32_t k = 0; ok && k < tok->n_special; k++) {
        int32_t sid = tok->special[k];
        int32_t ty = tok->type[sid];
        if (!parse_special && (ty == VLKV_TOKEN_CONTROL || ty == VLKV_TOKEN_UNKNOWN)) continue;
        const char *st = tok->blob + tok->off[sid];
        size_t sl = tok->len[sid];
        n_tmp = 0;
        for (size_t i = 0; ok && i < n_fr; i++) {
            struct frag f = fr[i];
            if (f.id >= 0) {
                ok = frags_push(&tmp, &n_tmp, &cap_tmp, f);
                continue;
            }
            size_t pos = f.off, end = f.off + f.len;
            const char *hit;
            while (ok && (hit = find_bytes(text + pos, end - pos, st, sl)) != NULL) {
                size_t h = (size_t)(hit - text);
                if (h > pos) ok = frags_push(&tmp, &n_tmp, &cap_tmp, (struct frag){-1, pos, h - pos});
                ok = ok && frags_push(&tmp, &n_tmp, &cap_tmp, (struct frag){sid, h, sl});
                pos = h + sl;
            }
            if (ok && pos < end) ok = frags_push(&tmp, &n_tmp, &cap_tmp, (struct frag){-1, pos, end - pos});
        }
        struct frag *sw = fr; fr = tmp; tmp = sw;
        size_t sc = cap_fr; cap_fr = cap_tmp; cap_tmp = sc;
        n_fr = n_tmp;
    }

    /* 2.-3. BOS, fragments, EOS */
    int bos = add_bos < 0 ? tok->add_bos : add_bos > 0;
    int eos = add_bos != 0 && tok->add_eos;
    if (ok && bos) ids_push(&o, tok->bos);
    int prev_special = 1;
    size_t max_frag = 0;
    for (size_t i = 0; i < n_fr; i++) max_frag = VLKV_MAX(max_frag, fr[i].len);
    if (ok && n_fr) ok = (esc = malloc(3 * max_frag + 3)) != NULL;
    for (size_t i = 0; ok && i < n_fr; i++) {
        if (fr[i].id >= 0) {
            ids_push(&o, fr[i].id);
            prev_special = 1;
            continue;
        }
        size_t m = 0;
        if (tok->add_space_prefix && prev_special) {
            memcpy(esc, SPM_SPACE, 3);
            m = 3;
        }
        for (size_t j = 0; j < fr[i].len; j++) {
            char c = text[fr[i].off + j];
            if (c == ' ') {
                memcpy(esc + m, SPM_SPACE, 3);
                m += 3;
            } else {
                esc[m++] = c;
            }
        }
        spm_tokenize(tok, esc, m, &o);
        prev_special = 0;
    }
    if (ok && eos) ids_push(&o, tok->eos);
    ok = ok && !o.oom;

    if (!ok) {
        vlkv_error(VLKV_ERR_OOM, "tokenize: out of memory for %zu bytes of text", len);
        result = INT32_MIN;
    } else if (o.n > (size_t)INT32_MAX) {
        result = INT32_MIN;
    } else if ((int32_t)o.n > n_max) {
        result = -(int32_t)o.n;
    } else {
        if (o.n) memcpy(out, o.v, o.n * sizeof *out);
        result = (int32_t)o.n;
    }
    free(o.v);
    free(fr);
    free(tmp);
    free(esc);
    return result;
}

/* ---- decoding ---------------------------------------------------------------------------------- */

static int32_t copy_out(const char *s, size_t n, char *buf, int32_t cap) {
    if (n > (size_t)INT32_MAX) return INT32_MIN;
    if (cap < 0 || n > (size_t)cap) return -(int32_t)n;
    if (n) memcpy(buf, s, n);
    if (n < (size_t)cap) buf[n] = '\0';
    return (int32_t)n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int32_t vlkv_tokenizer_piece(const struct vlkv_tokenizer *tok, int32_t id, char *buf, int32_t n) {
    VLKV_ASSERT(tok && (buf || n <= 0));
    if (id < 0 || id >= tok->n_vocab) return copy_out("", 0, buf, n);
    const char *s = tok->blob + tok->off[id];
    size_t len = tok->len[id];
    switch (tok->type[id]) {
    case VLKV_TOKEN_NORMAL: {
        /* U+2581 -> ' ': the result is never longer than the piece */
        size_t m = 0;
        for (size_t i = 0; i < len; i++) {
            if (i + 3 <= len && !memcmp(s + i, SPM_SPACE, 3)) {
                if (n > 0 && m < (size_t)n) buf[m] = ' ';
                m++;
                i += 2;
            } else {
                if (n > 0 && m < (size_t)n) buf[m] = s[i];
                m++;
            }
        }
        if (m > (size_t)VLKV_MAX(n, 0)) return -(int32_t)m;
        if (m < (size_t)n) buf[m] = '\0';
        return (int32_t)m;
    }
    case VLKV_TOKEN_BYTE: {
        /* "<0xHH>"; anything else is decoded as its text */
        if (len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>' && hexval(s[3]) >= 0 &&
            hexval(s[4]) >= 0) {
            char c = (char)(hexval(s[3]) << 4 | hexval(s[4]));
            return copy_out(&c, 1, buf, n);
        }
        return copy_out(s, len, buf, n);
    }
    case VLKV_TOKEN_USER_DEFINED:
        return copy_out(s, len, buf, n);
    default:   /* CONTROL, UNKNOWN, UNUSED, UNDEFINED: not rendered */
        return copy_out("", 0, buf, n);
    }
}

/* ---- accessors ------------------------------------------------------------------------------- */

int32_t vlkv_tokenizer_bos(const struct vlkv_tokenizer *tok) { return tok->bos; }
int32_t vlkv_tokenizer_eos(const struct vlkv_tokenizer *tok) { return tok->eos; }
int32_t vlkv_tokenizer_unk(const struct vlkv_tokenizer *tok) { return tok->unk; }
int32_t vlkv_tokenizer_n_vocab(const struct vlkv_tokenizer *tok) { return tok->n_vocab; }
int     vlkv_tokenizer_add_bos(const struct vlkv_tokenizer *tok) { return tok->add_bos; }

const char *vlkv_tokenizer_text(const struct vlkv_tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->n_vocab) return NULL;
    if (len) *len = tok->len[id];
    return tok->blob + tok->off[id];
}

float vlkv_tokenizer_score(const struct vlkv_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_vocab ? tok->score[id] : 0.0f;
}

int32_t vlkv_tokenizer_type(const struct vlkv_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_vocab ? tok->type[id] : VLKV_TOKEN_UNDEFINED;
}

/* ---- public: streaming UTF-8 helper ------------------------------------------------------------ */

size_t vlkv_utf8_complete(const char *s, size_t n) {
    /* find the last lead (non-continuation) byte among the final 4 bytes */
    for (size_t k = 1; k <= 4 && k <= n; k++) {
        uint8_t c = (uint8_t)s[n - k];
        if ((c & 0xC0) == 0x80) continue;   /* continuation byte */
        size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
        return k < need ? n - k : n;
    }
    return n;   /* only continuation bytes (or empty): nothing will complete them */
}
