/* policy_prefixkv.c - placeholder: the prefixkv policy is being written; it keeps the full cache for now. */
#include "kv_policy_impl.h"

static vlkv_status prefixkv_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    (void)pol; (void)c;
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_prefixkv_i = {
    .name = "prefixkv",
    .help = "prefixkv: (not implemented yet; keeps the full cache)",
    .compress = prefixkv_compress,
};
