/* policy_vlcache.c - placeholder: the vlcache policy is being written; it keeps the full cache for now. */
#include "kv_policy_impl.h"

static vlkv_status vlcache_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    (void)pol; (void)c;
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_vlcache_i = {
    .name = "vlcache",
    .help = "vlcache: (not implemented yet; keeps the full cache)",
    .compress = vlcache_compress,
};
