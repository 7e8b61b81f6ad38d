/* policy_full.c - "full": keep every KV entry (the reference every other policy is compared with).
 * No statistics, no compression, no decode-time eviction. */
#include "kv_policy_impl.h"

static vlkv_status full_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    (void)pol; (void)c;
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_full_i = {
    .name = "full",
    .help = "full: keep the whole KV cache (no compression). Options: none.",
    .compress = full_compress,
};
