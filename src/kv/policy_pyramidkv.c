/* policy_pyramidkv.c - placeholder: the pyramidkv policy is being written; it keeps the full cache for now. */
#include "kv_policy_impl.h"

static vlkv_status pyramidkv_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    (void)pol; (void)c;
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_pyramidkv_i = {
    .name = "pyramidkv",
    .help = "pyramidkv: (not implemented yet; keeps the full cache)",
    .compress = pyramidkv_compress,
};
