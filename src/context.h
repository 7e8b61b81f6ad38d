/* context.h - internal view of an inference context (the public handle vlkv_context of vlkv.h)
 * and the extra entry points other modules need: per-position logits for teacher forcing
 * (evaluation / perplexity) and access to the KV cache and ops for tools and tests. */
#ifndef VLKV_CONTEXT_H
#define VLKV_CONTEXT_H

#include <stdint.h>

#include "kv/kv_cache.h"
#include "kv/kv_policy.h"
#include "llama.h"
#include "model.h"
#include "ops.h"
#include "vlkv.h"

struct vlkv_vk_backend;   /* context.c: the Vulkan decoder (device, weights, device KV cache) */

struct vlkv_context {
    struct vlkv_model     *model;
    vlkv_context_params    params;      /* resolved (n_ctx, n_threads, n_batch filled in); strings below */
    char                  *kv_policy_name;
    char                  *kv_opts;
    char                  *kv_config_path;
    struct vlkv_ops_ctx    ops;
    struct vlkv_kv_cache   kv;
    struct vlkv_kv_policy *policy;
    struct vlkv_llama_buf  buf;
    float                 *logits;      /* [n_vocab] last evaluated position */
    int                    has_logits;
    int32_t               *pos_buf;     /* [n_batch] */
    uint8_t               *mod_buf;     /* [n_batch] */
    int32_t               *len_buf;     /* [n_layer] for vlkv_kv_get_stats */
    int32_t                n_past;      /* positions consumed (next true position) */
    int32_t                n_prompt;    /* positions evaluated by vlkv_eval_* (not vlkv_decode) */
    vlkv_timings           t;
    struct vlkv_vk_backend *vk;         /* non-NULL: the decoder runs on this Vulkan device */
};

/* Like vlkv_eval_tokens, but writes the logits of EVERY position to `logits` ([n][n_vocab],
 * caller-owned) - teacher forcing for perplexity. The last row is also what vlkv_get_logits()
 * returns afterwards. Attention statistics go to the policy's prefill observer. */
vlkv_status vlkv_eval_tokens_all_logits(vlkv_context *ctx, const int32_t *tokens, int32_t n, vlkv_modality mod,
                                        float *logits);

/* The context's KV cache and CPU ops (owned by ctx; for tools, benchmarks and tests). */
struct vlkv_kv_cache *vlkv_context_kv(vlkv_context *ctx);
struct vlkv_ops_ctx  *vlkv_context_ops(vlkv_context *ctx);

/* The Vulkan device running the decoder ("" on the CPU backend, which returns 0), with the
 * device memory its buffers hold now and at most since init (bytes; either pointer may be NULL). */
int vlkv_context_device(const vlkv_context *ctx, const char **name, uint64_t *bytes, uint64_t *peak);
/* 1 when the image encoder + projector (vlkv_image_encode) run on that device too. */
int vlkv_context_vision_on_device(const vlkv_context *ctx);

#endif /* VLKV_CONTEXT_H */
