/* policy_elastic.c - placeholder: the elastic policy is being written; it keeps the full cache for now. */
#include "kv_policy_impl.h"

static vlkv_status elastic_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    (void)pol; (void)c;
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_elastic_i = {
    .name = "elastic",
    .help = "elastic: (not implemented yet; keeps the full cache)",
    .compress = elastic_compress,
};
