/* kv_policy.h - KV retention policies behind one interface and a registry by name
 * (DESIGN.md §5, STYLE.md B10; algorithms in specs/kv-lvlm-methods.md and kv-baselines-less.md).
 * The context (context.c) drives a policy like this:
 *   prefill:  attention of every layer reports rows to vlkv_kv_policy_prefill_observer()
 *   end of prompt: vlkv_kv_policy_compress()  -> per-layer budgets, keep / merge, compaction
 *   decode:   each step's attention rows go to vlkv_kv_policy_decode_observer() (may be NULL),
 *             then vlkv_kv_policy_decode_step() after the token was appended and attended. */
#ifndef VLKV_KV_POLICY_H
#define VLKV_KV_POLICY_H

#include "kv_cache.h"

struct vlkv_kv_policy_params {
    float       budget;         /* retained fraction of the prompt KV, 0 < budget <= 1 */
    int32_t     budget_tokens;  /* > 0: retained entries per layer on average (overrides budget) */
    const char *opts;           /* "key=value,key=value" or NULL */
    const char *config_path;    /* PrefixKV calibration JSON or NULL */
    int32_t     n_threads;
};

struct vlkv_kv_shape {
    int32_t n_layer;
    int32_t n_head;       /* query heads */
    int32_t n_head_kv;
    int32_t d_head;
    int32_t n_ctx;
};

struct vlkv_kv_policy;    /* an instance: vtable + state */

/* Create a policy by registered name. Unknown names, budgets outside (0, 1], unknown or
 * malformed options: VLKV_ERR_INVALID_ARG with a message listing what is accepted. */
vlkv_status vlkv_kv_policy_create(const char *name, const struct vlkv_kv_policy_params *p,
                                  const struct vlkv_kv_shape *s, struct vlkv_kv_policy **out);
void vlkv_kv_policy_free(struct vlkv_kv_policy *pol);
void vlkv_kv_policy_reset(struct vlkv_kv_policy *pol);       /* new prompt */
const char *vlkv_kv_policy_get_name(const struct vlkv_kv_policy *pol);

/* Observers (NULL when the policy needs no statistics in that phase). */
const struct vlkv_attn_observer *vlkv_kv_policy_prefill_observer(struct vlkv_kv_policy *pol);
const struct vlkv_attn_observer *vlkv_kv_policy_decode_observer(struct vlkv_kv_policy *pol);

/* End of prompt: choose and apply what each layer keeps. */
vlkv_status vlkv_kv_policy_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c);
/* After a generated token was appended and attended; n_total = positions processed so far. */
vlkv_status vlkv_kv_policy_decode_step(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c, int32_t n_total);

/* Give the policy the cache whose per-slot modality tags classify query rows (VL-Cache scores
 * with the rows after the last IMAGE token). Call once after both exist (context init), before the
 * prompt is evaluated; compress binds too, but then it is too late for the current prompt and
 * VL-Cache falls back to the last prompt rows. */
void vlkv_kv_policy_bind(struct vlkv_kv_policy *pol, const struct vlkv_kv_cache *c);
/* Milliseconds spent in compress + decode steps since create / reset. */
double vlkv_kv_policy_ms(const struct vlkv_kv_policy *pol);

#endif /* VLKV_KV_POLICY_H */
