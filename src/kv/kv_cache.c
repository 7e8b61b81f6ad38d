/* kv_cache.c - storage of the ragged per-layer KV cache and attention over it (kv_cache.h).
 * Each layer's K and V are one anonymous private mapping of cap * row_bytes: the kernel backs a
 * page only when it is first written, so reserving n_ctx slots costs address space, not RAM, and
 * `bytes_used` (len slots) is what the cache really holds. Compaction (kv_compact.c) gives
 * whole freed pages back with vlkv_kv_release().
 * Attention (vlkv_kv_attend) is plain two-pass softmax per (query head, query): scores over the
 * layer's own slots, max-subtract, exp, normalise, hand the row to the policy's observer, then
 * out = sum_j p_j V_j. Keys and values are read in blocks converted to F32 once per KV head and
 * shared by the group's query heads; parallel over (KV head, query-head range) units, so one
 * query head is always handled by one thread (the observer contract). */
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS, MADV_DONTNEED */
#include "kv_cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "llama.h"
#include "types.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenMP pragmas vanish cleanly (no -Wunknown-pragmas) when built without OpenMP */
#ifdef _OPENMP
#define OMP_PRAGMA(x) _Pragma(#x)
#else
#define OMP_PRAGMA(x)
#endif

static void *map_zeroed(size_t bytes) {
    if (bytes == 0) return NULL;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t bytes) {
    if (p) munmap(p, bytes);
}

vlkv_status vlkv_kv_cache_init(struct vlkv_kv_cache *c, int32_t n_layer, int32_t n_head_kv, int32_t d_head,
                               int32_t n_ctx, uint32_t type) {
    vlkv_status st = VLKV_OK;
    memset(c, 0, sizeof *c);
    VLKV_CHECK(n_layer > 0 && n_head_kv > 0 && d_head > 0 && n_ctx > 0, VLKV_ERR_INVALID_ARG,
               "kv cache: bad shape (n_layer %d, n_head_kv %d, d_head %d, n_ctx %d)", n_layer, n_head_kv,
               d_head, n_ctx);
    VLKV_CHECK(type == VLKV_TYPE_F16 || type == VLKV_TYPE_F32, VLKV_ERR_INVALID_ARG,
               "kv cache: storage type must be F16 or F32, not %s", vlkv_type_name(type));
    c->n_layer = n_layer;
    c->n_head_kv = n_head_kv;
    c->d_head = d_head;
    c->type = type;
    c->n_ctx = n_ctx;
    c->row_bytes = (size_t)n_head_kv * d_head * (type == VLKV_TYPE_F16 ? 2 : 4);
    c->layers = calloc((size_t)n_layer, sizeof *c->layers);
    VLKV_CHECK(c->layers, VLKV_ERR_OOM, "kv cache: out of memory");
    size_t bytes;
    VLKV_CHECK(vlkv_mul_ok(c->row_bytes, (size_t)n_ctx, &bytes), VLKV_ERR_OOM,
               "kv cache: %d slots of %zu bytes overflow", n_ctx, c->row_bytes);
    for (int32_t il = 0; il < n_layer; il++) {
        struct vlkv_kv_layer *L = &c->layers[il];
        L->cap = n_ctx;
        L->k = map_zeroed(bytes);
        L->v = map_zeroed(bytes);
        L->pos = calloc((size_t)n_ctx, sizeof *L->pos);
        L->mod = calloc((size_t)n_ctx, sizeof *L->mod);
        VLKV_CHECK(L->k && L->v && L->pos && L->mod, VLKV_ERR_OOM,
                   "kv cache: cannot reserve %zu bytes for layer %d", 2 * bytes, il);
    }
    return VLKV_OK;
fail:
    vlkv_kv_cache_free(c);
    return st;
}

void vlkv_kv_cache_free(struct vlkv_kv_cache *c) {
    if (!c) return;
    if (c->layers) {
        for (int32_t il = 0; il < c->n_layer; il++) {
            struct vlkv_kv_layer *L = &c->layers[il];
            unmap(L->k, c->row_bytes * (size_t)L->cap);
            unmap(L->v, c->row_bytes * (size_t)L->cap);
            free(L->pos);
            free(L->mod);
        }
        free(c->layers);
    }
    memset(c, 0, sizeof *c);
}

void vlkv_kv_cache_clear(struct vlkv_kv_cache *c) {
    for (int32_t il = 0; il < c->n_layer; il++) {
        c->layers[il].len = 0;
        vlkv_kv_release(c, il);   /* kv_compact.c: the pages go back to the OS */
    }
}

vlkv_status vlkv_kv_append(struct vlkv_kv_cache *c, int32_t il, const float *k, const float *v, int32_t n,
                           const int32_t *pos, const uint8_t *mod) {
    if (il < 0 || il >= c->n_layer) return vlkv_error(VLKV_ERR_INVALID_ARG, "kv append: layer %d of %d", il, c->n_layer);
    struct vlkv_kv_layer *L = &c->layers[il];
    if (n < 0 || L->len + n > L->cap)
        return vlkv_error(VLKV_ERR_CONTEXT_FULL,
                          "kv cache full: layer %d holds %d of %d slots, cannot append %d more", il, L->len,
                          L->cap, n);
    const int64_t ne = (int64_t)c->n_head_kv * c->d_head;
    if (c->type == VLKV_TYPE_F16) {
        const struct vlkv_kernels *kt = vlkv_kernels_get();
        vlkv_f16 *kd = (vlkv_f16 *)L->k + (size_t)L->len * ne;
        vlkv_f16 *vd = (vlkv_f16 *)L->v + (size_t)L->len * ne;
        kt->f32_to_f16(k, kd, ne * n);
        kt->f32_to_f16(v, vd, ne * n);
    } else {
        memcpy((float *)L->k + (size_t)L->len * ne, k, (size_t)(ne * n) * sizeof(float));
        memcpy((float *)L->v + (size_t)L->len * ne, v, (size_t)(ne * n) * sizeof(float));
    }
    for (int32_t i = 0; i < n; i++) {
        L->pos[L->len + i] = pos ? pos[i] : L->len + i;
        L->mod[L->len + i] = mod ? mod[i] : (uint8_t)VLKV_MOD_SYSTEM;
    }
    L->len += n;
    return VLKV_OK;
}

/* Keys per block: a block's K (or V) rows of one KV head are converted to F32 once into a
 * [ATT_BLK][d] tile and shared by all query heads of the group (GQA); scores of a block come from
 * one gemm (or gemv per head) of the kernel table. */
#define ATT_BLK 64

/* Queries per block in the prefill path (n_q >= ATT_QB_MIN): the K/V tiles of a key block are
 * converted once per block of ATT_QB queries and GQA group, and both products run as gemms
 * (48 measured like 16 at pp512 and 3 % faster at pp2048). */
#define ATT_QB 48
#define ATT_QB_MIN 8

/* Scratch floats of the decode (row) form for nh query heads of one KV group: nh score rows and
 * one F32 tile. */
static size_t decode_scratch(int32_t nh, size_t ls, int32_t d) {
    return (size_t)nh * ls + (size_t)ATT_BLK * d;
}

/* Scratch floats of the prefill form for nh query heads of one KV group: nh blocks of score rows,
 * the transposed K tile and the F32 V tile. */
static size_t prefill_scratch(int32_t nh, size_t ls, int32_t d) {
    return (size_t)nh * ATT_QB * ls + 2 * (size_t)ATT_BLK * d;
}

size_t vlkv_kv_attend_scratch(int32_t n_ctx, int32_t n_head, int32_t n_head_kv, int32_t d_head) {
    const size_t ls = VLKV_ALIGN_UP((size_t)n_ctx, 16);
    const int32_t group = n_head / n_head_kv;
    return VLKV_MAX(decode_scratch(group, ls, d_head), prefill_scratch(group, ls, d_head));
}

/* Prefill form for the query heads h0..h1-1 of KV group g: queries in blocks of ATT_QB; per key
 * block, K is transposed (F16: converted) into an F32 tile once for all heads of the group (GQA
 * shares it) and the scores S = Q K^T are the table's k-major gemm; P V is the same gemm reading V
 * rows as they are (F16: one converted tile per block, again shared) and accumulating into the
 * output. Causal masking: each query's probabilities cover its own n_keys, the rest of the block's
 * score row is zeroed before P V. Same results as the row form up to summation order. */
static void attend_prefill_group(struct vlkv_ops_ctx *o, const struct vlkv_kv_cache *c, int32_t il,
                                 const float *q, int32_t n_q, int32_t n_head, int32_t h0, int32_t h1, int32_t g,
                                 float *out, const struct vlkv_attn_observer *obs, float *S, size_t ls) {
    const struct vlkv_kv_layer *L = &c->layers[il];
    const struct vlkv_kernels *kt = o->k;
    vlkv_gemm_kn_fn gemm = kt->gemm_kn_f32;
    const int32_t d = c->d_head, len = L->len, nh = h1 - h0;
    const int64_t ldq = (int64_t)n_head * d, ldk = (int64_t)c->n_head_kv * d;
    const size_t hs = (size_t)ATT_QB * ls;           /* score floats per head */
    const float scale = 1.0f / sqrtf((float)d);
    const int f16 = c->type == VLKV_TYPE_F16;
    float *ktile = S + (size_t)nh * hs;              /* [d][ATT_BLK]  K block transposed, F32 */
    float *vtile = ktile + (size_t)ATT_BLK * d;      /* [ATT_BLK][d]  V block, F32 (F16 cache) */
    for (int32_t i0 = 0; i0 < n_q; i0 += ATT_QB) {
        const int32_t nqb = VLKV_MIN(ATT_QB, n_q - i0);
        const int32_t kmax = len - n_q + i0 + nqb;   /* keys seen by the block's last query */
        const float *qb = q + (int64_t)i0 * ldq;
        for (int32_t j0 = 0; j0 < kmax; j0 += ATT_BLK) {
            const int32_t nb = VLKV_MIN(ATT_BLK, kmax - j0);
            /* ktile[dd][jj] = K[j0 + jj][g*d + dd] */
            for (int32_t jj = 0; jj < nb; jj++) {
                const float *kr;
                if (f16) {
                    kt->f16_to_f32((const vlkv_f16 *)L->k + (int64_t)(j0 + jj) * ldk + (int64_t)g * d, vtile, d);
                    kr = vtile;   /* vtile is free here: row scratch */
                } else {
                    kr = (const float *)L->k + (int64_t)(j0 + jj) * ldk + (int64_t)g * d;
                }
                for (int32_t dd = 0; dd < d; dd++) ktile[(size_t)dd * ATT_BLK + jj] = kr[dd];
            }
            for (int32_t h = h0; h < h1; h++)
                gemm(d, nb, nqb, S + (size_t)(h - h0) * hs + j0, ls, ktile, ATT_BLK * sizeof(float),
                     qb + (int64_t)h * d, (size_t)ldq * sizeof(float), 0);
        }
        for (int32_t h = h0; h < h1; h++) {
            for (int32_t qi = 0; qi < nqb; qi++) {
                float *sr = S + (size_t)(h - h0) * hs + (size_t)qi * ls;
                const int32_t nk = len - n_q + i0 + qi + 1;
                vlkv_softmax_scaled(kt, sr, nk, scale);
                for (int32_t j = nk; j < kmax; j++) sr[j] = 0.0f;   /* causal mask for P V */
                if (obs && obs->row) obs->row(obs->ud, il, h, L->pos[nk - 1], nk - 1, sr, nk);
                memset(out + (int64_t)(i0 + qi) * ldq + (int64_t)h * d, 0, (size_t)d * sizeof(float));
            }
        }
        for (int32_t j0 = 0; j0 < kmax; j0 += ATT_BLK) {
            const int32_t nb = VLKV_MIN(ATT_BLK, kmax - j0);
            const float *w;
            size_t ws;
            if (f16) {
                for (int32_t jj = 0; jj < nb; jj++)
                    kt->f16_to_f32((const vlkv_f16 *)L->v + (int64_t)(j0 + jj) * ldk + (int64_t)g * d,
                                   vtile + (size_t)jj * d, d);
                w = vtile;
                ws = (size_t)d * sizeof(float);
            } else {
                w = (const float *)L->v + (int64_t)j0 * ldk + (int64_t)g * d;
                ws = (size_t)ldk * sizeof(float);
            }
            /* out[i0 + qi][h*d + dd] += sum_jj V[j0 + jj][dd] * P[qi][j0 + jj], per head */
            for (int32_t h = h0; h < h1; h++)
                gemm(nb, d, nqb, out + (int64_t)i0 * ldq + (int64_t)h * d, (size_t)ldq, w, ws,
                     S + (size_t)(h - h0) * hs + j0, ls * sizeof(float), 1);
        }
    }
}

void vlkv_kv_attend(struct vlkv_ops_ctx *o, const struct vlkv_kv_cache *c, int32_t il, const float *q,
                    int32_t n_q, int32_t n_head, float *out, const struct vlkv_attn_observer *obs) {
    const struct vlkv_kv_layer *L = &c->layers[il];
    const struct vlkv_kernels *kt = o->k;
    const int32_t d = c->d_head;
    const int32_t len = L->len;
    VLKV_ASSERT(n_q <= len && n_head % c->n_head_kv == 0);
    const int32_t n_kv = c->n_head_kv, group = n_head / n_kv;
    /* Work units: ranges of query heads inside one KV group. When there are fewer KV heads than
     * threads (MQA, tiny models) a group is split so every thread gets work. A query head belongs
     * to exactly one unit, so observer calls with the same ih never run concurrently. */
    int32_t parts = 1;
    if (n_kv < o->n_threads) parts = VLKV_MIN(group, (o->n_threads + n_kv - 1) / n_kv);
    const int32_t hpu = (group + parts - 1) / parts;           /* query heads per unit */
    const size_t ls = VLKV_ALIGN_UP((size_t)len, 16);          /* score row stride */
    /* Scratch per thread: hpu score rows + one F32 tile (decode), or hpu blocks of ATT_QB score
     * rows + the K^T and V tiles (prefill). Reserved at context init for n_ctx, so
     * this only allocates when the function is used stand-alone (tests, tools). */
    const int prefill = n_q >= ATT_QB_MIN && kt->gemm_kn_f32 != NULL;
    const size_t need = prefill ? prefill_scratch(hpu, ls, d) : decode_scratch(hpu, ls, d);
    if (vlkv_ops_reserve_att(o, need) != VLKV_OK)
        VLKV_ASSERT(!"out of memory for attention scores");
    const int64_t ldq = (int64_t)n_head * d;
    const int64_t ldk = (int64_t)n_kv * d;
    const float scale = 1.0f / sqrtf((float)d);
    const int f16 = c->type == VLKV_TYPE_F16;
    vlkv_gemv_fn gemv = kt->gemv[VLKV_TYPE_F32];
    vlkv_gemm_fn gemm = kt->gemm[VLKV_TYPE_F32];
    const int32_t n_units = n_kv * parts;
OMP_PRAGMA(omp parallel for schedule(static) num_threads(o->n_threads) if (n_units > 1 && (int64_t)n_q * len >= 256))
    for (int32_t u = 0; u < n_units; u++) {
        const int32_t g = u / parts;
        const int32_t h0 = g * group + (u % parts) * hpu;
        const int32_t h1 = VLKV_MIN(h0 + hpu, (g + 1) * group);
#ifdef _OPENMP
        float *S = o->att + (size_t)omp_get_thread_num() * o->att_n;
#else
        float *S = o->att;
#endif
        float *tile = S + (size_t)hpu * ls;
        const int32_t nh = h1 - h0;
        if (prefill) {
            if (nh > 0) attend_prefill_group(o, c, il, q, n_q, n_head, h0, h1, g, out, obs, S, ls);
            continue;
        }
        for (int32_t i = 0; i < n_q && nh > 0; i++) {
            const float *q0 = q + (int64_t)i * ldq + (int64_t)h0 * d;   /* nh query heads, d apart */
            const int32_t n_keys = len - n_q + i + 1;   /* causal: up to and including its own slot */
            /* 1. scores S[hh][j] = q_hh . K_j */
            for (int32_t j0 = 0; j0 < n_keys; j0 += ATT_BLK) {
                const int32_t nb = VLKV_MIN(ATT_BLK, n_keys - j0);
                const float *w;
                size_t ws;
                if (f16 && nh == 1) {
                    /* a single head: converting to a tile first would only add a pass */
                    const vlkv_f16 *K = (const vlkv_f16 *)L->k + (int64_t)j0 * ldk + (int64_t)g * d;
                    for (int32_t jj = 0; jj < nb; jj++) S[j0 + jj] = kt->dot_f16_f32(d, K + (int64_t)jj * ldk, q0);
                    continue;
                }
                if (f16) {
                    const vlkv_f16 *K = (const vlkv_f16 *)L->k + (int64_t)j0 * ldk + (int64_t)g * d;
                    for (int32_t jj = 0; jj < nb; jj++) kt->f16_to_f32(K + (int64_t)jj * ldk, tile + (int64_t)jj * d, d);
                    w = tile;
                    ws = (size_t)d * sizeof(float);
                } else {
                    w = (const float *)L->k + (int64_t)j0 * ldk + (int64_t)g * d;
                    ws = (size_t)ldk * sizeof(float);
                }
                if (gemm && nh > 1) {
                    gemm(d, nb, nh, S + j0, ls, w, ws, q0, (size_t)d * sizeof(float));
                } else {
                    for (int32_t hh = 0; hh < nh; hh++) {
                        float *sh = S + (size_t)hh * ls + j0;
                        if (gemv) gemv(d, nb, sh, w, ws, q0 + (int64_t)hh * d);
                        else for (int32_t jj = 0; jj < nb; jj++) sh[jj] = kt->dot_f32(d, (const float *)((const char *)w + jj * ws), q0 + (int64_t)hh * d);
                    }
                }
            }
            /* 2. softmax per head, then the observer sees the probabilities */
            for (int32_t hh = 0; hh < nh; hh++) {
                float *sh = S + (size_t)hh * ls;
                vlkv_softmax_scaled(kt, sh, n_keys, scale);
                if (obs && obs->row) obs->row(obs->ud, il, h0 + hh, L->pos[n_keys - 1], n_keys - 1, sh, n_keys);
                memset(out + (int64_t)i * ldq + (int64_t)(h0 + hh) * d, 0, (size_t)d * sizeof(float));
            }
            /* 3. out_hh = sum_j p_hh,j V_j, V rows converted once per block for the whole group */
            for (int32_t j0 = 0; j0 < n_keys; j0 += ATT_BLK) {
                const int32_t nb = VLKV_MIN(ATT_BLK, n_keys - j0);
                const float *vb;
                int64_t vs;
                if (f16 && nh == 1) {
                    const vlkv_f16 *V = (const vlkv_f16 *)L->v + (int64_t)j0 * ldk + (int64_t)g * d;
                    float *oh = out + (int64_t)i * ldq + (int64_t)h0 * d;
                    for (int32_t jj = 0; jj < nb; jj++) kt->axpy_f16(d, S[j0 + jj], V + (int64_t)jj * ldk, oh);
                    continue;
                }
                if (f16) {
                    const vlkv_f16 *V = (const vlkv_f16 *)L->v + (int64_t)j0 * ldk + (int64_t)g * d;
                    for (int32_t jj = 0; jj < nb; jj++) kt->f16_to_f32(V + (int64_t)jj * ldk, tile + (int64_t)jj * d, d);
                    vb = tile;
                    vs = d;
                } else {
                    vb = (const float *)L->v + (int64_t)j0 * ldk + (int64_t)g * d;
                    vs = ldk;
                }
                for (int32_t hh = 0; hh < nh; hh++) {
                    const float *p = S + (size_t)hh * ls + j0;
                    float *oh = out + (int64_t)i * ldq + (int64_t)(h0 + hh) * d;
                    for (int32_t jj = 0; jj < nb; jj++) kt->axpy_f32(d, p[jj], vb + (int64_t)jj * vs, oh);
                }
            }
        }
    }
}

size_t vlkv_kv_bytes_used(const struct vlkv_kv_cache *c) {
    size_t n = 0;
    for (int32_t il = 0; il < c->n_layer; il++) n += (size_t)c->layers[il].len;
    return 2 * n * c->row_bytes;
}

size_t vlkv_kv_bytes_reserved(const struct vlkv_kv_cache *c) {
    size_t n = 0;
    for (int32_t il = 0; il < c->n_layer; il++) n += (size_t)c->layers[il].cap;
    return 2 * n * c->row_bytes;
}
