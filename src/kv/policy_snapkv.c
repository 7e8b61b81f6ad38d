/* policy_snapkv.c - placeholder: the snapkv policy is being written; it keeps the full cache for now. */
#include "kv_policy_impl.h"

static vlkv_status snapkv_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    (void)pol; (void)c;
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_snapkv_i = {
    .name = "snapkv",
    .help = "snapkv: (not implemented yet; keeps the full cache)",
    .compress = snapkv_compress,
};
