/* context.c - the public inference-context API of vlkv.h: one model, one ragged KV cache, one KV
 * policy, and the activation buffers of the LLaMA forward, all allocated at init (the eval and
 * decode paths do not allocate). Positions: the true position n_past by default; in
 * VLKV_KV_POS_COMPAT mode the length of layer 0's cache, as the papers' code does
 * (kv-lvlm-methods.md §1.3). The policy sees prefill attention rows through its prefill
 * observer, decode rows through its decode observer, compresses in vlkv_kv_compress and keeps
 * its budget with decode_step after every vlkv_decode.
 *
 * Vulkan backend (params.backend): the decoder runs on the device (vk_llama.c) with the KV rows
 * resident there. The host cache ctx->kv keeps the metadata (len/pos/mod, what the policies read)
 * and hands every K/V rewrite to the device through its hooks (kv_cache.h); its own K/V rows are
 * never touched. The policies' statistics (kv_stats.h) are reduced per head on the device
 * (column sums, post-vision sums + sparsity counts, the last window rows) and read back with the
 * logits, then added to the same buffers the CPU observer fills, so every policy decides from the
 * same kind of numbers on both backends. The CLIP encoder and projector run on the device too
 * (vk_clip.c; the host keeps the image preprocessing), or on the CPU when they cannot. */
#include "context.h"

#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "internal.h"
#include "types.h"
#include "kv/kv_stats.h"

#ifdef VLKV_HAVE_VULKAN
#include "vk_clip.h"
#include "vk_llama.h"

struct vlkv_vk_backend {
    struct vk_device    *dev;
    struct vk_llama      g;
    int                  g_ok;
    struct vk_clip       clip;              /* the vision side (clip_ok) */
    int                  clip_ok;
    struct vlkv_kv_hooks hooks;
};

static vlkv_status hk_compact(void *ud, int32_t il, const int32_t *keep, int32_t n_keep) {
    return vk_llama_kv_compact(ud, il, keep, n_keep);
}
static vlkv_status hk_remove(void *ud, int32_t il, int32_t idx) { return vk_llama_kv_remove(ud, il, idx); }
static vlkv_status hk_swap_remove(void *ud, int32_t il, int32_t idx) { return vk_llama_kv_swap_remove(ud, il, idx); }
static vlkv_status hk_merge(void *ud, int32_t il, const int32_t *keep, int32_t n_keep, const int32_t *src_off,
                            const int32_t *src) {
    return vk_llama_kv_merge_src(ud, il, keep, n_keep, src_off, src);
}
static vlkv_status hk_merge_runs(void *ud, int32_t il, const int32_t *anchor, const int32_t *run_b,
                                 const int32_t *run_e, int32_t n_out) {
    return vk_llama_kv_merge_runs(ud, il, anchor, run_b, run_e, n_out);
}

static void vk_backend_free(struct vlkv_vk_backend *b) {
    if (!b) return;
    if (b->g_ok) vk_llama_free(&b->g);
    if (b->clip_ok) vk_clip_free(&b->clip);
    vk_device_close(b->dev);
    free(b);
}

/* Open the device, upload the decoder and allocate the device KV cache; statistics buffers for
 * the policy's observers. On failure nothing is left allocated and the error is set. */
static vlkv_status vk_backend_open(vlkv_context *ctx) {
    vlkv_status st = VLKV_OK;
    const vlkv_context_params *p = &ctx->params;
    struct vlkv_vk_backend *b = calloc(1, sizeof *b);
    VLKV_CHECK(b, VLKV_ERR_OOM, "vulkan: out of memory");
    VLKV_TRY(vk_device_open(p->device, &b->dev));
    VLKV_TRY(vk_llama_init(&b->g, b->dev, ctx->model, p->n_ctx, p->n_batch,
                           p->kv_f32 ? VLKV_TYPE_F32 : VLKV_TYPE_F16));
    b->g_ok = 1;
    if (ctx->model->clip) {
        if (vk_clip_init(&b->clip, b->dev, ctx->model->clip) == VLKV_OK) b->clip_ok = 1;
        else VLKV_LOG_WARN("%s; the image encoder runs on the CPU", vlkv_last_error());
    }
    const struct vlkv_kv_stats *ks = vlkv_kv_stats_of(ctx->policy ? vlkv_kv_policy_prefill_observer(ctx->policy) : NULL);
    if (ks) VLKV_TRY(vk_llama_stats_reserve(&b->g, ks->ring ? VLKV_MIN(ks->window, p->n_batch) : 0));
    b->hooks = (struct vlkv_kv_hooks){.compact = hk_compact, .remove = hk_remove, .swap_remove = hk_swap_remove,
                                      .merge = hk_merge, .merge_runs = hk_merge_runs, .release = NULL, .ud = &b->g};
    ctx->vk = b;
    ctx->kv.hooks = &b->hooks;
    ctx->kv.hook_status = VLKV_OK;
    return VLKV_OK;
fail:
    vk_backend_free(b);
    return st;
}

/* One batch on the device: the statistics the observer's accumulators want are reduced there and
 * added to them afterwards; the host cache metadata gets the appended slots. */
static vlkv_status vk_eval_batch(vlkv_context *ctx, const struct vlkv_llama_batch *bt,
                                 const struct vlkv_attn_observer *obs, float *logits, int all_logits) {
    struct vk_llama *g = &ctx->vk->g;
    struct vlkv_kv_stats *ks = vlkv_kv_stats_of(obs);
    const int32_t n = bt->n, H = ctx->model->hp.n_head;
    struct vk_llama_head_req rq;
    memset(&rq, 0, sizeof rq);
    int decode = 0, reset = 0, post = 0;
    int32_t r_post = 0;
    if (ks) {
        decode = obs->row == vlkv_kv_stats_row_decode;
        if (decode ? ks->dec != NULL : ks->colsum != NULL) rq.sum_r1 = n;
        if (!decode && ks->sp_out && ks->cache) {
            /* post-vision rows: after the batch's last IMAGE row (an image row resets them) */
            post = 1;
            for (int32_t t = 0; t < n; t++)
                if (bt->mod && bt->mod[t] == VLKV_MOD_IMAGE) {
                    reset = 1;
                    r_post = t + 1;
                }
            rq.post_r0 = r_post;
            rq.post_r1 = n;
            rq.count = 1;
            rq.thr = ks->sparsity_thr;
        }
        if (!decode && ks->ring) {
            rq.rows_r0 = n - VLKV_MIN(ks->window, n);
            rq.rows_r1 = n;
            if (rq.rows_r1 - rq.rows_r0 > g->hs_rows) {
                vlkv_status st = vk_llama_stats_reserve(g, rq.rows_r1 - rq.rows_r0);
                if (st != VLKV_OK) return st;
            }
        } else if (g->hs_rows < 0) {
            vlkv_status st = vk_llama_stats_reserve(g, 0);
            if (st != VLKV_OK) return st;
        }
    }
    vlkv_status st = vk_llama_forward_ex(g, bt, NULL, ks ? &rq : NULL, logits, all_logits);
    if (st != VLKV_OK) return st;
    /* the host cache's metadata follows the device cache */
    for (int32_t il = 0; il < ctx->kv.n_layer; il++) {
        struct vlkv_kv_layer *L = &ctx->kv.layers[il];
        for (int32_t t = 0; t < n; t++) {
            L->pos[L->len + t] = bt->pos[t];
            L->mod[L->len + t] = bt->mod ? bt->mod[t] : (uint8_t)VLKV_MOD_SYSTEM;
        }
        L->len += n;
    }
    if (!ks) return VLKV_OK;
    for (int32_t il = 0; il < ctx->kv.n_layer; il++) {
        const int32_t nk = vk_llama_head_nkv(g, il);
        if (rq.sum_r1 > rq.sum_r0) vlkv_kv_stats_add_sums(ks, decode, il, vk_llama_head_sum(g, il), nk, nk);
        if (post) {
            const int32_t rows = n - r_post;
            /* row t of the batch sees nk - n + t + 1 slots */
            const int64_t vis = (int64_t)rows * (nk - n + 1) + ((int64_t)(n - 1) * n - (int64_t)(r_post - 1) * r_post) / 2;
            vlkv_kv_stats_add_post(ks, il, reset, rows > 0 ? vk_llama_head_post(g, il) : NULL,
                                   rows > 0 ? vk_llama_head_cnt(g, il) : NULL, nk, nk, rows, vis);
        }
        if (rq.rows_r1 > rq.rows_r0) {
            const float *rows = vk_llama_head_rows(g, il);
            for (int32_t t = rq.rows_r0; t < rq.rows_r1; t++)
                for (int32_t ih = 0; ih < H; ih++)
                    vlkv_kv_stats_put_row(ks, il, ih, bt->pos[t],
                                          rows + ((size_t)(t - rq.rows_r0) * H + (size_t)ih) * (size_t)nk,
                                          nk - n + t + 1);
        }
    }
    return VLKV_OK;
}
#else
struct vlkv_vk_backend {
    int unused;
};
static void vk_backend_free(struct vlkv_vk_backend *b) { free(b); }
#endif

vlkv_context_params vlkv_context_params_default(void) {
    vlkv_context_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_threads = 0;
    p.n_batch = 512;
    p.kv_f32 = 0;
    p.kv_policy = "full";
    p.kv_budget = 1.0f;
    p.kv_budget_tokens = 0;
    p.kv_pos_mode = VLKV_KV_POS_ORIGINAL;
    p.kv_opts = NULL;
    p.kv_config_path = NULL;
    p.backend = VLKV_BACKEND_CPU;
    p.device = -1;
    return p;
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

vlkv_status vlkv_context_init(vlkv_model *model, const vlkv_context_params *params, vlkv_context **out) {
    vlkv_status st = VLKV_OK;
    vlkv_context *ctx = NULL;
    vlkv_context_params p = params ? *params : vlkv_context_params_default();
    if (out) *out = NULL;
    VLKV_CHECK(model && out, VLKV_ERR_INVALID_ARG, "vlkv_context_init: model and out must not be NULL");
    const struct vlkv_llama_hparams *hp = &model->hp;

    /* ---- validate and resolve the parameters */
    VLKV_CHECK(p.n_ctx >= 0, VLKV_ERR_INVALID_ARG, "vlkv_context_init: n_ctx %d < 0", p.n_ctx);
    VLKV_CHECK(p.n_threads >= 0 && p.n_threads <= 1024, VLKV_ERR_INVALID_ARG,
               "vlkv_context_init: n_threads %d out of range [0, 1024]", p.n_threads);
    VLKV_CHECK(p.n_batch >= 0, VLKV_ERR_INVALID_ARG, "vlkv_context_init: n_batch %d < 0", p.n_batch);
    VLKV_CHECK(p.kv_budget_tokens >= 0, VLKV_ERR_INVALID_ARG, "vlkv_context_init: kv_budget_tokens %d < 0",
               p.kv_budget_tokens);
    VLKV_CHECK(p.kv_budget_tokens > 0 || (p.kv_budget > 0.0f && p.kv_budget <= 1.0f), VLKV_ERR_INVALID_ARG,
               "vlkv_context_init: kv_budget %g must be in (0, 1] (the retained fraction of the prompt KV)",
               (double)p.kv_budget);
    VLKV_CHECK(p.kv_pos_mode == VLKV_KV_POS_ORIGINAL || p.kv_pos_mode == VLKV_KV_POS_COMPAT, VLKV_ERR_INVALID_ARG,
               "vlkv_context_init: unknown kv_pos_mode %d", (int)p.kv_pos_mode);
    VLKV_CHECK(p.backend == VLKV_BACKEND_CPU || p.backend == VLKV_BACKEND_VULKAN, VLKV_ERR_INVALID_ARG,
               "vlkv_context_init: unknown backend %d", (int)p.backend);
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train;
    if (p.n_ctx > hp->n_ctx_train)
        VLKV_LOG_WARN("n_ctx %d exceeds the model's training context %d", p.n_ctx, hp->n_ctx_train);
    if (p.n_threads == 0) p.n_threads = vlkv_n_cores();
    if (p.n_batch == 0) p.n_batch = 512;
    p.n_batch = VLKV_MIN(p.n_batch, p.n_ctx);

    ctx = calloc(1, sizeof *ctx);
    VLKV_CHECK(ctx, VLKV_ERR_OOM, "vlkv_context_init: out of memory");
    ctx->model = model;
    ctx->kv_policy_name = dup_str(p.kv_policy ? p.kv_policy : "full");
    ctx->kv_opts = dup_str(p.kv_opts);
    ctx->kv_config_path = dup_str(p.kv_config_path);
    VLKV_CHECK(ctx->kv_policy_name && (ctx->kv_opts || !p.kv_opts) && (ctx->kv_config_path || !p.kv_config_path),
               VLKV_ERR_OOM, "vlkv_context_init: out of memory");
    p.kv_policy = ctx->kv_policy_name;
    p.kv_opts = ctx->kv_opts;
    p.kv_config_path = ctx->kv_config_path;
    ctx->params = p;

    /* ---- the policy first: a bad name or option is the most likely user error */
    {
        struct vlkv_kv_policy_params pp = {
            .budget = p.kv_budget, .budget_tokens = p.kv_budget_tokens, .opts = p.kv_opts,
            .config_path = p.kv_config_path, .n_threads = p.n_threads};
        struct vlkv_kv_shape sh = {.n_layer = hp->n_layer, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
                                   .d_head = hp->d_head, .n_ctx = p.n_ctx};
        VLKV_TRY(vlkv_kv_policy_create(ctx->kv_policy_name, &pp, &sh, &ctx->policy));
    }

    /* ---- storage, buffers, scratch */
    vlkv_ops_init(&ctx->ops, p.n_threads);
    VLKV_TRY(vlkv_kv_cache_init(&ctx->kv, hp->n_layer, hp->n_head_kv, hp->d_head, p.n_ctx,
                                p.kv_f32 ? VLKV_TYPE_F32 : VLKV_TYPE_F16));
    VLKV_TRY(vlkv_llama_buf_init(&ctx->buf, model, p.n_batch));
    VLKV_TRY(vlkv_ops_reserve(&ctx->ops, vlkv_llama_wsize(&ctx->ops, model, p.n_batch)));
    VLKV_TRY(vlkv_ops_reserve_att(&ctx->ops, vlkv_kv_attend_scratch(p.n_ctx, hp->n_head, hp->n_head_kv, hp->d_head)));
    ctx->logits = vlkv_malloc_aligned((size_t)hp->n_vocab * sizeof(float));
    ctx->pos_buf = calloc((size_t)p.n_batch, sizeof *ctx->pos_buf);
    ctx->mod_buf = calloc((size_t)p.n_batch, sizeof *ctx->mod_buf);
    ctx->len_buf = calloc((size_t)hp->n_layer, sizeof *ctx->len_buf);
    VLKV_CHECK(ctx->logits && ctx->pos_buf && ctx->mod_buf && ctx->len_buf, VLKV_ERR_OOM,
               "vlkv_context_init: out of memory");
    /* the policy classifies query rows by the cache's modality tags (VL-Cache's post-vision rows) */
    vlkv_kv_policy_bind(ctx->policy, &ctx->kv);
    ctx->t.load_ms = model->load_ms;

    /* ---- the Vulkan decoder; without a usable device: a clear message and the CPU path */
    if (p.backend == VLKV_BACKEND_VULKAN) {
#ifdef VLKV_HAVE_VULKAN
        if (vk_backend_open(ctx) != VLKV_OK) {
            VLKV_LOG_WARN("%s; running on the CPU", vlkv_last_error());
            ctx->params.backend = VLKV_BACKEND_CPU;
        } else {
            VLKV_LOG_INFO("context: decoder on Vulkan device %d: %s (%s), %.1f MiB of device memory",
                          ctx->vk->dev->caps.index, ctx->vk->dev->caps.name,
                          vk_device_type_name(ctx->vk->dev->caps.type),
                          (double)ctx->vk->dev->bytes_alloc / (1 << 20));
        }
#else
        VLKV_LOG_WARN("this build has no Vulkan backend (configure with -DVLKV_VULKAN=ON); running on the CPU");
        ctx->params.backend = VLKV_BACKEND_CPU;
#endif
    }
    VLKV_LOG_INFO("context: n_ctx %d, n_batch %d, %d threads, KV %s, policy %s (budget %g), backend %s", p.n_ctx,
                  p.n_batch, p.n_threads, p.kv_f32 ? "f32" : "f16", ctx->kv_policy_name, (double)p.kv_budget,
                  ctx->vk ? "vulkan" : "cpu");
    *out = ctx;
    return VLKV_OK;
fail:
    vlkv_context_free(ctx);
    return st;
}

void vlkv_context_free(vlkv_context *ctx) {
    if (!ctx) return;
    vk_backend_free(ctx->vk);
    vlkv_kv_policy_free(ctx->policy);
    vlkv_kv_cache_free(&ctx->kv);
    vlkv_llama_buf_free(&ctx->buf);
    vlkv_ops_free(&ctx->ops);
    vlkv_free_aligned(ctx->logits);
    free(ctx->pos_buf);
    free(ctx->mod_buf);
    free(ctx->len_buf);
    free(ctx->kv_policy_name);
    free(ctx->kv_opts);
    free(ctx->kv_config_path);
    free(ctx);
}

void vlkv_context_reset(vlkv_context *ctx) {
    if (!ctx) return;
    vlkv_kv_cache_clear(&ctx->kv);
#ifdef VLKV_HAVE_VULKAN
    if (ctx->vk) vk_llama_kv_clear(&ctx->vk->g);
#endif
    ctx->kv.hook_status = VLKV_OK;
    if (ctx->policy) vlkv_kv_policy_reset(ctx->policy);
    ctx->n_past = 0;
    ctx->n_prompt = 0;
    ctx->has_logits = 0;
}

int32_t vlkv_n_past(const vlkv_context *ctx) { return ctx ? ctx->n_past : 0; }

struct vlkv_kv_cache *vlkv_context_kv(vlkv_context *ctx) { return &ctx->kv; }
struct vlkv_ops_ctx *vlkv_context_ops(vlkv_context *ctx) { return &ctx->ops; }

/* ---- evaluation ------------------------------------------------------------------------------ */

static int32_t max_layer_len(const struct vlkv_kv_cache *kv) {
    int32_t mx = 0;
    for (int32_t il = 0; il < kv->n_layer; il++) mx = VLKV_MAX(mx, kv->layers[il].len);
    return mx;
}

/* Evaluate n positions (tokens or embedding rows) in chunks of n_batch. all_logits: [n][n_vocab]
 * or NULL (then only the last position's logits, into ctx->logits). */
static vlkv_status eval_impl(vlkv_context *ctx, const int32_t *tokens, const float *embd, int32_t n, vlkv_modality mod,
                             float *all_logits, const struct vlkv_attn_observer *obs, int is_decode) {
    const struct vlkv_llama_hparams *hp = &ctx->model->hp;
    const int32_t used = max_layer_len(&ctx->kv);
    if (used + n > ctx->params.n_ctx) {
        ctx->has_logits = 0;
        if (is_decode)
            return vlkv_error(VLKV_ERR_CONTEXT_FULL, "context full: the KV cache holds %d of n_ctx %d positions",
                              used, ctx->params.n_ctx);
        return vlkv_error(VLKV_ERR_CONTEXT_FULL, "prompt of %d tokens does not fit in n_ctx %d (%d already in use)", n,
                          ctx->params.n_ctx, used);
    }
    if ((unsigned)mod > VLKV_MOD_GENERATED)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "eval: unknown modality %d", (int)mod);
    const double t0 = vlkv_time_ms();
    for (int32_t off = 0; off < n; off += ctx->params.n_batch) {
        const int32_t nb = VLKV_MIN(ctx->params.n_batch, n - off);
        const int32_t base = ctx->params.kv_pos_mode == VLKV_KV_POS_COMPAT ? ctx->kv.layers[0].len : ctx->n_past;
        for (int32_t i = 0; i < nb; i++) {
            ctx->pos_buf[i] = base + i;
            ctx->mod_buf[i] = (uint8_t)mod;
        }
        struct vlkv_llama_batch b = {.n = nb, .tokens = tokens ? tokens + off : NULL,
                                     .embd = embd ? embd + (size_t)off * hp->n_embd : NULL,
                                     .pos = ctx->pos_buf, .mod = ctx->mod_buf};
        const int last = off + nb == n;
        float *lg = all_logits ? all_logits + (size_t)off * hp->n_vocab : (last ? ctx->logits : NULL);
        vlkv_status st;
#ifdef VLKV_HAVE_VULKAN
        if (ctx->vk) st = vk_eval_batch(ctx, &b, obs, lg, all_logits != NULL);
        else
#endif
            st = vlkv_llama_forward(ctx->model, &ctx->ops, &ctx->buf, &ctx->kv, &b, obs, lg, all_logits != NULL);
        if (st != VLKV_OK) {
            ctx->has_logits = 0;
            return st;
        }
        ctx->n_past += nb;
        if (!is_decode) ctx->n_prompt += nb;
    }
    if (all_logits) memcpy(ctx->logits, all_logits + (size_t)(n - 1) * hp->n_vocab, (size_t)hp->n_vocab * sizeof(float));
    ctx->has_logits = 1;
    const double dt = vlkv_time_ms() - t0;
    if (is_decode) {
        ctx->t.decode_ms += dt;
        ctx->t.n_decode += n;
    } else {
        ctx->t.prefill_ms += dt;
        ctx->t.n_prefill += n;
    }
    return VLKV_OK;
}

static const struct vlkv_attn_observer *prefill_obs(vlkv_context *ctx) {
    return ctx->policy ? vlkv_kv_policy_prefill_observer(ctx->policy) : NULL;
}

vlkv_status vlkv_eval_tokens(vlkv_context *ctx, const int32_t *tokens, int32_t n, vlkv_modality mod) {
    if (!ctx || (!tokens && n > 0) || n < 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_eval_tokens: NULL context or tokens, or n < 0");
    if (n == 0) return VLKV_OK;
    return eval_impl(ctx, tokens, NULL, n, mod, NULL, prefill_obs(ctx), 0);
}

vlkv_status vlkv_eval_tokens_all_logits(vlkv_context *ctx, const int32_t *tokens, int32_t n, vlkv_modality mod,
                                        float *logits) {
    if (!ctx || !tokens || !logits || n <= 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_eval_tokens_all_logits: NULL argument or n <= 0");
    return eval_impl(ctx, tokens, NULL, n, mod, logits, prefill_obs(ctx), 0);
}

vlkv_status vlkv_eval_embd(vlkv_context *ctx, const float *embd, int32_t n_rows, vlkv_modality mod) {
    if (!ctx || (!embd && n_rows > 0) || n_rows < 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_eval_embd: NULL context or embeddings, or n_rows < 0");
    if (n_rows == 0) return VLKV_OK;
    return eval_impl(ctx, NULL, embd, n_rows, mod, NULL, prefill_obs(ctx), 0);
}

vlkv_status vlkv_decode(vlkv_context *ctx, int32_t token) {
    if (!ctx) return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_decode: NULL context");
    const struct vlkv_attn_observer *obs = ctx->policy ? vlkv_kv_policy_decode_observer(ctx->policy) : NULL;
    vlkv_status st = eval_impl(ctx, &token, NULL, 1, VLKV_MOD_GENERATED, NULL, obs, 1);
    if (st != VLKV_OK || !ctx->policy) return st;
    const double t0 = vlkv_time_ms();
    st = vlkv_kv_policy_decode_step(ctx->policy, &ctx->kv, ctx->n_past);
    ctx->t.policy_ms += vlkv_time_ms() - t0;
    if (st == VLKV_OK && ctx->kv.hook_status != VLKV_OK) st = ctx->kv.hook_status;   /* a device KV rewrite failed */
    return st;
}

vlkv_status vlkv_kv_compress(vlkv_context *ctx) {
    if (!ctx) return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_kv_compress: NULL context");
    if (!ctx->policy) return VLKV_OK;
    const double t0 = vlkv_time_ms();
    vlkv_status st = vlkv_kv_policy_compress(ctx->policy, &ctx->kv);
    ctx->t.policy_ms += vlkv_time_ms() - t0;
    if (st == VLKV_OK && ctx->kv.hook_status != VLKV_OK) st = ctx->kv.hook_status;   /* a device KV rewrite failed */
    return st;
}

const float *vlkv_get_logits(const vlkv_context *ctx) {
    return ctx && ctx->has_logits ? ctx->logits : NULL;
}

/* ---- images -------------------------------------------------------------------------------- */

vlkv_status vlkv_image_encode(vlkv_context *ctx, const vlkv_image *img, float *out) {
    if (!ctx || !img || !out) return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_image_encode: NULL argument");
    if (!ctx->model->clip)
        return vlkv_error(VLKV_ERR_INVALID_ARG,
                          "vlkv_image_encode: the model was loaded without an mmproj (vlkv_model_params.mmproj_path)");
    struct vlkv_clip_timings ct = {0, 0, 0};
    vlkv_status st;
#ifdef VLKV_HAVE_VULKAN
    if (ctx->vk && ctx->vk->clip_ok) st = vk_clip_encode(&ctx->vk->clip, img, out, &ct);
    else
#endif
        st = vlkv_clip_encode(ctx->model->clip, &ctx->ops, img, out, &ct);
    ctx->t.preprocess_ms += ct.preprocess_ms;
    ctx->t.vision_ms += ct.vision_ms;
    ctx->t.projector_ms += ct.projector_ms;
    return st;
}

/* ---- statistics ---------------------------------------------------------------------------- */

vlkv_status vlkv_kv_get_stats(const vlkv_context *ctx, vlkv_kv_stats *out) {
    if (!ctx || !out) return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_kv_get_stats: NULL argument");
    const struct vlkv_kv_cache *kv = &ctx->kv;
    for (int32_t il = 0; il < kv->n_layer; il++) ctx->len_buf[il] = kv->layers[il].len;
    memset(out, 0, sizeof *out);
    out->n_layer = kv->n_layer;
    out->len = ctx->len_buf;
    out->n_prompt = ctx->n_prompt;
    /* the full cache would hold every position consumed so far (capped by its capacity) */
    out->bytes_full = 2 * (size_t)kv->n_layer * (size_t)VLKV_MIN(ctx->n_past, kv->n_ctx) * kv->row_bytes;
    out->bytes_used = vlkv_kv_bytes_used(kv);
    out->bytes_reserved = vlkv_kv_bytes_reserved(kv);
    out->policy_ms = ctx->t.policy_ms;
    return VLKV_OK;
}

vlkv_timings vlkv_get_timings(const vlkv_context *ctx) {
    vlkv_timings t;
    memset(&t, 0, sizeof t);
    if (ctx) t = ctx->t;
    return t;
}

void vlkv_timings_reset(vlkv_context *ctx) {
    if (!ctx) return;
    const double load = ctx->t.load_ms;
    memset(&ctx->t, 0, sizeof ctx->t);
    ctx->t.load_ms = load;
}

int vlkv_context_device(const vlkv_context *ctx, const char **name, uint64_t *bytes, uint64_t *peak) {
    if (name) *name = "";
    if (bytes) *bytes = 0;
    if (peak) *peak = 0;
#ifdef VLKV_HAVE_VULKAN
    if (ctx && ctx->vk) {
        if (name) *name = ctx->vk->dev->caps.name;
        if (bytes) *bytes = ctx->vk->dev->bytes_alloc;
        if (peak) *peak = ctx->vk->dev->bytes_peak;
        return 1;
    }
#else
    (void)ctx;
#endif
    return 0;
}

int vlkv_context_vision_on_device(const vlkv_context *ctx) {
#ifdef VLKV_HAVE_VULKAN
    return ctx && ctx->vk && ctx->vk->clip_ok;
#else
    (void)ctx;
    return 0;
#endif
}
