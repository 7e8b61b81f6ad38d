/* policy_streaming.c - StreamingLLM (arXiv 2309.17453; kv-baselines-less.md §2.1): keep the first
 * `sinks` entries (attention sinks) and the most recent ones, evict everything between.
 *   prefill end: keep [0, sinks) + the last (B - sinks) prompt entries, B = budget * T per layer.
 *   decode:      the entries after the sinks are a FIFO (kv_compact.c); by default the retained
 *                fraction keeps holding (len ~ budget * N, the fixed-point rule of §1.4 with the
 *                eviction point right after the sinks); fixed=1 keeps the window size constant
 *                (the original cache, which never grows).
 * Options (defaults): sinks=4, fixed=0.
 * Positions: kept keys keep their original RoPE phase (no re-rotation; kv-baselines-less.md §2.0.4).
 * No attention statistics are needed. */
#include "kv_policy_impl.h"

#include <stddef.h>

#include "internal.h"

struct streaming {
    int32_t sinks;
    int32_t fixed;
};

static const struct vlkv_kv_opt streaming_opts[] = {
    {"sinks", VLKV_OPT_INT, offsetof(struct streaming, sinks), 4, 0, 1 << 20},
    {"fixed", VLKV_OPT_INT, offsetof(struct streaming, fixed), 0, 0, 1},
    {0},
};

static vlkv_status streaming_compress(struct vlkv_kv_policy *pol, struct vlkv_kv_cache *c) {
    const struct streaming *o = pol->priv;
    int32_t *p = pol->p_evict;
    for (int32_t il = 0; il < c->n_layer; il++) {
        const int32_t T = c->layers[il].len;
        const int32_t n_keep = vlkv_kv_budget_count(pol, T, VLKV_MIN(o->sinks + 1, T));
        if (n_keep < T) {
            const int32_t n = vlkv_kv_select_streaming(T, n_keep, o->sinks, pol->keep);
            vlkv_kv_compact(c, il, pol->keep, n);
            vlkv_kv_after_compact(pol, c, il);
        }
        pol->rho[il] = T > 0 ? (float)c->layers[il].len / (float)T : 1.0f;
        p[il] = VLKV_MIN(o->sinks, c->layers[il].len);
    }
    if (vlkv_kv_budget_frac(pol, pol->n_prompt) < 1.0) {
        pol->fifo_fixed = o->fixed;
        vlkv_kv_fifo_start(pol, c, p);
    }
    return VLKV_OK;
}

const struct vlkv_kv_policy_i vlkv_kv_policy_streaming_i = {
    .name = "streaming",
    .help = "streaming: StreamingLLM - keep the first `sinks` entries and the most recent ones.\n"
            "  prefill end: sinks + the last (budget*T - sinks) prompt entries of every layer.\n"
            "  decode: FIFO after the sinks; the retained fraction keeps holding (len ~ budget*N),\n"
            "          or a constant-size window with fixed=1.\n"
            "  options: sinks=4 (attention-sink entries always kept), fixed=0 (1: window never grows)",
    .opts = streaming_opts,
    .priv_size = sizeof(struct streaming),
    .compress = streaming_compress,
    .decode_step = vlkv_kv_fifo_step,
};
