/* policy_h2o.c - placeholder: the h2o policy is being written; it keeps the full cache for now. */
#include "kv_policy_impl.h"

static vlkv_status h2o_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    (void)pol; (void)c;
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_h2o_i = {
    .name = "h2o",
    .help = "h2o: (not implemented yet; keeps the full cache)",
    .compress = h2o_compress,
};
