/* model.c - load a llama.cpp LLaMA GGUF (formats.md §3): hyper-parameters from the llama.* keys
 * (any integer width, defaults of §3.1), every tensor of §3.2 checked for shape and type, tied
 * output embedding when output.weight is absent, the SPM tokenizer, and optionally the CLIP mmproj.
 * Weights stay views into the read-only mapping; nothing is copied. Also the public model API:
 * accessors, tokenizer wrappers and vlkv_system_info(). */
#define _DEFAULT_SOURCE   /* madvise */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "internal.h"
#include "simd.h"
#include "tokenizer.h"
#include "types.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define VLKV_HAVE_MADVISE 1
#endif

#ifndef VLKV_COMMIT
#define VLKV_COMMIT "unknown"
#endif
#define VLKV_VERSION "0.1.0"

vlkv_model_params vlkv_model_params_default(void) {
    vlkv_model_params p;
    memset(&p, 0, sizeof p);
    p.mmproj_path = NULL;
    p.use_mmap = 1;
    p.llamacpp_compat = 0;
    p.n_threads = 0;
    return p;
}

/* ---- hyper-parameters ---------------------------------------------------------------------- */

/* llama.<key> as a positive int32. Scalars of any integer width, or a per-layer array whose
 * entries are all equal (per-layer variation is not supported). Returns 1 found, 0 absent,
 * -1 error (message recorded). */
static int get_hp_int(const struct gguf_file *f, const char *key, int32_t *out) {
    int64_t v;
    if (vlkv_gguf_get_i64(f, key, &v)) {
        if (v <= 0 || v > INT32_MAX) {
            vlkv_error(VLKV_ERR_FORMAT, "%s: %s = %lld is out of range", f->path, key, (long long)v);
            return -1;
        }
        *out = (int32_t)v;
        return 1;
    }
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    if (!kv) return 0;
    if (kv->type == GGUF_ARR && kv->arr_n > 0) {
        int64_t first = 0;
        for (uint64_t i = 0; i < kv->arr_n; i++) {
            int64_t e;
            if (!vlkv_gguf_arr_i64(kv, i, &e)) break;
            if (i == 0) first = e;
            if (e != first) {
                vlkv_error(VLKV_ERR_UNSUPPORTED, "%s: %s varies per layer, which vlkv does not support", f->path,
                           key);
                return -1;
            }
            if (i + 1 == kv->arr_n && first > 0 && first <= INT32_MAX) {
                *out = (int32_t)first;
                return 1;
            }
        }
    }
    vlkv_error(VLKV_ERR_FORMAT, "%s: %s has the wrong type or value", f->path, key);
    return -1;
}

static vlkv_status load_hparams(struct vlkv_model *m) {
    const struct gguf_file *f = &m->gguf;
    struct vlkv_llama_hparams *hp = &m->hp;
    vlkv_status st = VLKV_OK;
    char arch[64] = "";
    VLKV_CHECK(vlkv_gguf_get_str(f, "general.architecture", arch, sizeof arch), VLKV_ERR_FORMAT,
               "%s: general.architecture is missing; not a llama.cpp model file?", f->path);
    VLKV_CHECK(!strcmp(arch, "llama"), VLKV_ERR_UNSUPPORTED,
               "%s: architecture '%s' is not supported (expected 'llama'%s)", f->path, arch,
               !strcmp(arch, "clip") ? "; this looks like an mmproj file: pass it as the mmproj" : "");

    static const struct { const char *key; size_t off; } req[] = {
        {"llama.context_length", offsetof(struct vlkv_llama_hparams, n_ctx_train)},
        {"llama.embedding_length", offsetof(struct vlkv_llama_hparams, n_embd)},
        {"llama.block_count", offsetof(struct vlkv_llama_hparams, n_layer)},
        {"llama.feed_forward_length", offsetof(struct vlkv_llama_hparams, n_ff)},
        {"llama.attention.head_count", offsetof(struct vlkv_llama_hparams, n_head)},
    };
    for (size_t i = 0; i < VLKV_ARRAY_LEN(req); i++) {
        int r = get_hp_int(f, req[i].key, (int32_t *)((char *)hp + req[i].off));
        if (r < 0) return VLKV_ERR_FORMAT;
        VLKV_CHECK(r == 1, VLKV_ERR_FORMAT, "%s: required key %s is missing", f->path, req[i].key);
    }
    int r;
    hp->n_head_kv = hp->n_head;
    if ((r = get_hp_int(f, "llama.attention.head_count_kv", &hp->n_head_kv)) < 0) return VLKV_ERR_FORMAT;
    VLKV_CHECK(hp->n_embd % hp->n_head == 0 || vlkv_gguf_find_kv(f, "llama.attention.key_length"),
               VLKV_ERR_FORMAT, "%s: embedding_length %d is not a multiple of head_count %d", f->path, hp->n_embd,
               hp->n_head);
    hp->d_head = hp->n_embd / hp->n_head;
    if ((r = get_hp_int(f, "llama.attention.key_length", &hp->d_head)) < 0) return VLKV_ERR_FORMAT;
    int32_t d_v = hp->d_head;
    if ((r = get_hp_int(f, "llama.attention.value_length", &d_v)) < 0) return VLKV_ERR_FORMAT;
    VLKV_CHECK(d_v == hp->d_head, VLKV_ERR_UNSUPPORTED, "%s: key_length %d != value_length %d is not supported",
               f->path, hp->d_head, d_v);
    VLKV_CHECK(hp->n_head_kv <= hp->n_head && hp->n_head % hp->n_head_kv == 0, VLKV_ERR_FORMAT,
               "%s: head_count %d is not a multiple of head_count_kv %d", f->path, hp->n_head, hp->n_head_kv);
    hp->n_rot = hp->d_head;
    if ((r = get_hp_int(f, "llama.rope.dimension_count", &hp->n_rot)) < 0) return VLKV_ERR_FORMAT;
    VLKV_CHECK(hp->n_rot % 2 == 0 && hp->n_rot <= hp->d_head && hp->n_rot <= 1024, VLKV_ERR_FORMAT,
               "%s: rope.dimension_count %d must be even and <= the head size %d", f->path, hp->n_rot,
               hp->d_head);
    VLKV_CHECK(hp->n_layer <= 4096 && hp->d_head <= 4096 && hp->n_head <= 4096, VLKV_ERR_FORMAT,
               "%s: implausible shape (%d layers, %d heads of %d)", f->path, hp->n_layer, hp->n_head, hp->d_head);

    VLKV_CHECK(vlkv_gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &hp->eps), VLKV_ERR_FORMAT,
               "%s: required key llama.attention.layer_norm_rms_epsilon is missing", f->path);
    VLKV_CHECK(hp->eps > 0 && hp->eps < 1, VLKV_ERR_FORMAT, "%s: rms epsilon %g is out of range", f->path,
               (double)hp->eps);
    hp->rope_base = 10000.0f;
    vlkv_gguf_get_f32(f, "llama.rope.freq_base", &hp->rope_base);
    VLKV_CHECK(hp->rope_base > 1.0f, VLKV_ERR_FORMAT, "%s: rope.freq_base %g is out of range", f->path,
               (double)hp->rope_base);
    hp->rope_freq_scale = 1.0f;
    char stype[32] = "";
    float factor = 0;
    if (vlkv_gguf_get_str(f, "llama.rope.scaling.type", stype, sizeof stype) && strcmp(stype, "none") != 0) {
        VLKV_CHECK(!strcmp(stype, "linear"), VLKV_ERR_UNSUPPORTED,
                   "%s: rope scaling '%s' is not supported (only linear)", f->path, stype);
        if (vlkv_gguf_get_f32(f, "llama.rope.scaling.factor", &factor) && factor > 0) hp->rope_freq_scale = 1.0f / factor;
    } else if (vlkv_gguf_get_f32(f, "llama.rope.scale_linear", &factor) && factor > 0) {
        hp->rope_freq_scale = 1.0f / factor;
    }
    return VLKV_OK;
fail:
    return st;
}

/* ---- tensors ------------------------------------------------------------------------------- */

/* Find `name`, check it is 2-D with ne = [ne0, ne1] (or 1-D [ne0] when ne1 == 0) and of a type the
 * engine supports. Absent and optional: *out = NULL, OK. */
static vlkv_status get_tensor(const struct vlkv_model *m, const char *name, int64_t ne0, int64_t ne1, int optional,
                              const struct vlkv_tensor **out) {
    const struct gguf_file *f = &m->gguf;
    const struct vlkv_tensor *t = vlkv_gguf_find_tensor(f, name);
    *out = NULL;
    if (!t) {
        if (optional) return VLKV_OK;
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s' is missing", f->path, name);
    }
    const int want_dims = ne1 ? 2 : 1;
    int ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok) {
        if (want_dims == 1)
            return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld]",
                              f->path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                              (long long)t->ne[3], (long long)ne0);
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                          f->path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                          (long long)t->ne[3], (long long)ne0, (long long)ne1);
    }
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t->type);
    if (!tr || !tr->supported)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which vlkv does not support", f->path,
                          name, vlkv_type_name(t->type));
    if (want_dims == 1 && t->type != VLKV_TYPE_F32)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, expected F32", f->path, name,
                          vlkv_type_name(t->type));
    *out = t;
    return VLKV_OK;
}

static vlkv_status load_tensors(struct vlkv_model *m) {
    const struct vlkv_llama_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, QD = (int64_t)hp->n_head * hp->d_head, KD = (int64_t)hp->n_head_kv * hp->d_head,
                  F = hp->n_ff;
    vlkv_status st = VLKV_OK;
    const struct vlkv_tensor *t;

    /* vocabulary size = rows of token_embd (llama.vocab_size, if present, must agree) */
    t = vlkv_gguf_find_tensor(&m->gguf, "token_embd.weight");
    VLKV_CHECK(t, VLKV_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", m->gguf.path);
    VLKV_CHECK(t->ne[1] > 0 && t->ne[1] <= INT32_MAX, VLKV_ERR_FORMAT, "%s: tensor 'token_embd.weight' is empty",
               m->gguf.path);
    {
        struct vlkv_llama_hparams *w = &m->hp;
        w->n_vocab = (int32_t)t->ne[1];
        int32_t vs = 0;
        if (get_hp_int(&m->gguf, "llama.vocab_size", &vs) < 0) return VLKV_ERR_FORMAT;
        VLKV_CHECK(vs == 0 || vs == w->n_vocab, VLKV_ERR_FORMAT,
                   "%s: llama.vocab_size %d disagrees with token_embd.weight's %d rows", m->gguf.path, vs, w->n_vocab);
    }
    VLKV_TRY(get_tensor(m, "token_embd.weight", E, hp->n_vocab, 0, &m->tok_embd));
    VLKV_TRY(get_tensor(m, "output_norm.weight", E, 0, 0, &t));
    m->output_norm = t->data;
    VLKV_TRY(get_tensor(m, "output.weight", E, hp->n_vocab, 1, &m->output));
    if (!m->output) m->output = m->tok_embd;   /* tied embeddings */

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    VLKV_CHECK(m->layers, VLKV_ERR_OOM, "%s: out of memory", m->gguf.path);
    char name[64];
#define T(field, suffix, ne0, ne1, opt) \
    do { snprintf(name, sizeof name, "blk.%d." suffix, il); VLKV_TRY(get_tensor(m, name, ne0, ne1, opt, &L->field)); } while (0)
    for (int32_t il = 0; il < hp->n_layer; il++) {
        struct vlkv_llama_layer *L = &m->layers[il];
        const struct vlkv_tensor *nt;
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", il);
        VLKV_TRY(get_tensor(m, name, E, 0, 0, &nt));
        L->attn_norm = nt->data;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", il);
        VLKV_TRY(get_tensor(m, name, E, 0, 0, &nt));
        L->ffn_norm = nt->data;
        T(wq, "attn_q.weight", E, QD, 0);
        T(wk, "attn_k.weight", E, KD, 0);
        T(wv, "attn_v.weight", E, KD, 0);
        T(wo, "attn_output.weight", QD, E, 0);
        T(bq, "attn_q.bias", QD, 0, 1);
        T(bk, "attn_k.bias", KD, 0, 1);
        T(bv, "attn_v.bias", KD, 0, 1);
        T(bo, "attn_output.bias", E, 0, 1);
        T(w_gate, "ffn_gate.weight", E, F, 0);
        T(w_up, "ffn_up.weight", E, F, 0);
        T(w_down, "ffn_down.weight", F, E, 0);
    }
#undef T
    return VLKV_OK;
fail:
    return st;
}

/* ---- repacked decode weights ---------------------------------------------------------------- */

/* The decode matmul weights (every layer's projections and the output matrix) in the
 * row-interleaved layout of simd.h, for the types the kernel table has a gemv_rp kernel for.
 * The copies live in malloc'd memory; the mapped pages they came from are dropped again
 * (madvise DONTNEED; a later read of the original layout refaults them from the file), so
 * resident memory does not double. VLKV_REPACK=0 in the environment keeps the original layout. */
/* Bytes of the repacked copy of ct (0 = not repacked: type without a gemv_rp kernel). */
static size_t repack_bytes(const struct vlkv_tensor *ct) {
    const struct vlkv_kernels *k = vlkv_kernels_get();
    if (!ct || ct->type >= VLKV_TYPE_COUNT || !k->gemv_rp[ct->type]) return 0;
    return vlkv_repack_size((enum vlkv_type)ct->type, ct->ne[0], ct->ne[1]);
}

static void repack_one(struct vlkv_model *m, const struct vlkv_tensor *ct, uint8_t *dst, int n_threads) {
    const int64_t K = ct->ne[0], M = ct->ne[1];
    const size_t gsz = vlkv_repack_group_size((enum vlkv_type)ct->type, K);
    struct vlkv_tensor *t = &m->gguf.tensors[ct - m->gguf.tensors];
    const int64_t ng = (M + VLKV_RP_ROWS - 1) / VLKV_RP_ROWS, chunk = 64;   /* groups per task */
    const uint8_t *src = t->data;
    (void)n_threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
#endif
    for (int64_t g0 = 0; g0 < ng; g0 += chunk) {
        const int64_t r0 = g0 * VLKV_RP_ROWS, nr = VLKV_MIN(M - r0, chunk * VLKV_RP_ROWS);
        vlkv_repack((enum vlkv_type)t->type, K, nr, src + (size_t)r0 * t->nb[1], t->nb[1], dst + (size_t)g0 * gsz);
    }
    t->repack = dst;
#ifdef VLKV_HAVE_MADVISE
    if (m->gguf.mapped) {
        const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        const uintptr_t a = ((uintptr_t)src + pg - 1) / pg * pg, b = ((uintptr_t)src + t->nbytes) / pg * pg;
        if (pg > 0 && b > a) madvise((void *)a, b - a, MADV_DONTNEED);
    }
#endif
}

#define RP_MAX_W 8   /* per layer: q, k, v, o, gate, up, down; plus the output matrix */

static vlkv_status repack_weights(struct vlkv_model *m, int n_threads) {
    const char *e = getenv("VLKV_REPACK");
    if (e && e[0] == '0') return VLKV_OK;
    if (n_threads <= 0) n_threads = vlkv_n_cores();
    const double t0 = vlkv_time_ms();
    /* one arena for all copies (the lowest repack pointer is its base, see repack_free) */
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint8_t *arena = NULL;
        if (pass == 1) {
            if (total == 0) return VLKV_OK;
            /* 2 MB aligned and transparent-huge-page backed where the OS allows: far fewer page
             * faults while copying and fewer TLB misses in the decode stream */
            const size_t hp = (size_t)2 << 20, asz = VLKV_ALIGN_UP(total, hp);
            void *mem = NULL;
            if (posix_memalign(&mem, hp, asz) != 0 || !mem)
                return vlkv_error(VLKV_ERR_OOM, "%s: cannot allocate %zu bytes for the repacked weights", m->gguf.path,
                                  asz);
#if defined(VLKV_HAVE_MADVISE) && defined(MADV_HUGEPAGE)
            madvise(mem, asz, MADV_HUGEPAGE);
#endif
            arena = mem;
        }
        size_t off = 0;
        for (int32_t il = 0; il <= m->hp.n_layer; il++) {
            const struct vlkv_tensor *w[RP_MAX_W] = {0};
            if (il < m->hp.n_layer) {
                const struct vlkv_llama_layer *L = &m->layers[il];
                const struct vlkv_tensor *lw[7] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
                memcpy(w, lw, sizeof lw);
            } else {
                w[0] = m->output;
            }
            for (int i = 0; i < RP_MAX_W; i++) {
                const size_t sz = repack_bytes(w[i]);
                if (!sz || (pass == 1 && w[i]->repack)) continue;   /* tied output already done */
                if (pass == 1) repack_one(m, w[i], arena + off, n_threads);
                off += VLKV_ALIGN_UP(sz, 64);
            }
        }
        total = off;
    }
    VLKV_LOG_INFO("%s: decode weights repacked for the %s kernels (%.0f MB) in %.0f ms", m->gguf.path,
                  vlkv_kernels_get()->name, total / 1048576.0, vlkv_time_ms() - t0);
    return VLKV_OK;
}

static void repack_free(struct vlkv_model *m) {
    const void *base = NULL;
    for (uint64_t i = 0; m->gguf.tensors && i < m->gguf.n_tensors; i++) {
        const void *r = m->gguf.tensors[i].repack;
        if (r && (!base || (uintptr_t)r < (uintptr_t)base)) base = r;
        m->gguf.tensors[i].repack = NULL;
    }
    free((void *)(uintptr_t)base);
}

/* ---- load / free ----------------------------------------------------------------------------- */

static const char *type_mix(const struct vlkv_model *m) {
    /* the type of the first layer's ffn_gate is what people call the file's quant (Q4_K for a
     * Q4_K_M mix, whose attn_v / ffn_down are partly Q6_K) */
    return m->hp.n_layer > 0 ? vlkv_type_name(m->layers[0].w_gate->type) : "?";
}

vlkv_status vlkv_model_load(const char *path, const vlkv_model_params *params, vlkv_model **out) {
    vlkv_status st = VLKV_OK;
    vlkv_model_params dp = vlkv_model_params_default();
    const vlkv_model_params *p = params ? params : &dp;
    struct vlkv_model *m = NULL;
    if (out) *out = NULL;
    VLKV_CHECK(path && out, VLKV_ERR_INVALID_ARG, "vlkv_model_load: path and out must not be NULL");
    const double t0 = vlkv_time_ms();
    m = calloc(1, sizeof *m);
    VLKV_CHECK(m, VLKV_ERR_OOM, "vlkv_model_load: out of memory");
    VLKV_TRY(vlkv_gguf_open(path, &m->gguf));
    VLKV_TRY(load_hparams(m));
    VLKV_TRY(load_tensors(m));
    VLKV_TRY(repack_weights(m, p->n_threads));
    VLKV_TRY(vlkv_tokenizer_load(&m->gguf, &m->tok));
    if (vlkv_tokenizer_n_vocab(m->tok) != m->hp.n_vocab)
        VLKV_LOG_WARN("%s: the vocabulary has %d tokens but token_embd.weight has %d rows; ids >= %d are rejected",
                      path, (int)vlkv_tokenizer_n_vocab(m->tok), (int)m->hp.n_vocab, (int)m->hp.n_vocab);
    if (p->mmproj_path) {
        VLKV_TRY(vlkv_clip_load(p->mmproj_path, p->llamacpp_compat, &m->clip));
        VLKV_CHECK(vlkv_clip_n_embd_out(m->clip) == m->hp.n_embd, VLKV_ERR_FORMAT,
                   "%s: the projector outputs %d-wide embeddings but %s has n_embd %d; the files do not belong "
                   "together", p->mmproj_path, (int)vlkv_clip_n_embd_out(m->clip), path, (int)m->hp.n_embd);
    }
    {
        int n = snprintf(m->desc, sizeof m->desc, "llama %dL %dE %dH/%dKV %s", (int)m->hp.n_layer,
                         (int)m->hp.n_embd, (int)m->hp.n_head, (int)m->hp.n_head_kv, type_mix(m));
        if (m->clip && n > 0 && (size_t)n < sizeof m->desc)
            snprintf(m->desc + n, sizeof m->desc - (size_t)n, " + %s", vlkv_clip_desc(m->clip));
    }
    m->load_ms = vlkv_time_ms() - t0;
    VLKV_LOG_INFO("loaded %s: %s (%.0f ms)", path, m->desc, m->load_ms);
    *out = m;
    return VLKV_OK;
fail:
    vlkv_model_free(m);
    return st;
}

void vlkv_model_free(vlkv_model *m) {
    if (!m) return;
    vlkv_clip_free(m->clip);
    vlkv_tokenizer_free(m->tok);
    free(m->layers);
    repack_free(m);
    vlkv_gguf_close(&m->gguf);
    free(m);
}

int32_t vlkv_model_n_vocab(const vlkv_model *m) { return m ? m->hp.n_vocab : 0; }
int32_t vlkv_model_n_embd(const vlkv_model *m) { return m ? m->hp.n_embd : 0; }
int32_t vlkv_model_n_layer(const vlkv_model *m) { return m ? m->hp.n_layer : 0; }
int32_t vlkv_model_n_ctx_train(const vlkv_model *m) { return m ? m->hp.n_ctx_train : 0; }
int vlkv_model_has_vision(const vlkv_model *m) { return m && m->clip != NULL; }
int32_t vlkv_model_n_image_tokens(const vlkv_model *m) { return m && m->clip ? vlkv_clip_n_tokens(m->clip) : 0; }
const char *vlkv_model_desc(const vlkv_model *m) { return m ? m->desc : ""; }

/* ---- tokenizer wrappers ---------------------------------------------------------------------- */

int32_t vlkv_token_bos(const vlkv_model *m) { return vlkv_tokenizer_bos(m->tok); }
int32_t vlkv_token_eos(const vlkv_model *m) { return vlkv_tokenizer_eos(m->tok); }

int32_t vlkv_tokenize(const vlkv_model *m, const char *text, size_t len, int add_bos, int parse_special, int32_t *out,
                      int32_t n_max) {
    return vlkv_tokenizer_encode(m->tok, text, len, add_bos, parse_special, out, n_max);
}

int32_t vlkv_token_to_piece(const vlkv_model *m, int32_t token, char *buf, int32_t n) {
    return vlkv_tokenizer_piece(m->tok, token, buf, n);
}

/* ---- system info ----------------------------------------------------------------------------- */

const char *vlkv_system_info(void) {
    static char buf[256];
    const struct vlkv_kernels *k = vlkv_kernels_get();
    int omp = 0;
#ifdef _OPENMP
    omp = omp_get_max_threads();
#endif
    const char *blas =
#ifdef VLKV_HAVE_BLAS
        "OpenBLAS";
#else
        "no";
#endif
    const char *vk =
#ifdef VLKV_HAVE_VULKAN
        "compiled in";
#else
        "no";
#endif
    /* deterministic content, so concurrent first calls write identical bytes */
    snprintf(buf, sizeof buf, "vlkv %s (commit %s) | ISA %s | BLAS %s | OpenMP %s (%d threads max) | cores %d | Vulkan %s",
             VLKV_VERSION, VLKV_COMMIT, k ? k->name : "?", blas, omp ? "yes" : "no", omp, vlkv_n_cores(), vk);
    return buf;
}
