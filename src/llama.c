/* llama.c - LLaMA decoder forward (formats.md §3.3), pre-norm, SwiGLU, NORM (adjacent-pair) RoPE:
 *   x = embd(tok) | input row
 *   per layer: h = rmsnorm(x)·attn_norm; q,k,v = Wq h, Wk h, Wv h; rope(q, k); append k, v;
 *              x += Wo · attend(q)
 *              h = rmsnorm(x)·ffn_norm;  x += Wdown · (silu(Wgate h) ⊙ Wup h)
 *   logits = Wout · (rmsnorm(x)·output_norm)   for the last (or every) position
 * Batched: all GEMMs run over the batch's n positions at once (vlkv_matmul picks gemv / gemm / BLAS).
 * The forward never allocates: buffers come from struct vlkv_llama_buf, scratch from the ops ctx. */
#include "llama.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

vlkv_status vlkv_llama_buf_init(struct vlkv_llama_buf *b, const struct vlkv_model *m, int32_t n_batch) {
    const struct vlkv_llama_hparams *hp = &m->hp;
    memset(b, 0, sizeof *b);
    b->n_batch = n_batch;
    const size_t nb = (size_t)n_batch;
    const size_t E = (size_t)hp->n_embd, QD = (size_t)hp->n_head * hp->d_head,
                 KD = (size_t)hp->n_head_kv * hp->d_head, F = (size_t)hp->n_ff;
    b->x   = vlkv_malloc_aligned(nb * E * sizeof(float));
    b->xb  = vlkv_malloc_aligned(nb * VLKV_MAX(E, QD) * sizeof(float));
    b->xb2 = vlkv_malloc_aligned(nb * E * sizeof(float));
    b->q   = vlkv_malloc_aligned(nb * QD * sizeof(float));
    b->k   = vlkv_malloc_aligned(nb * KD * sizeof(float));
    b->v   = vlkv_malloc_aligned(nb * KD * sizeof(float));
    b->att = vlkv_malloc_aligned(nb * QD * sizeof(float));
    b->hb  = vlkv_malloc_aligned(nb * F * sizeof(float));
    b->hb2 = vlkv_malloc_aligned(nb * F * sizeof(float));
    if (!b->x || !b->xb || !b->xb2 || !b->q || !b->k || !b->v || !b->att || !b->hb || !b->hb2) {
        vlkv_llama_buf_free(b);
        return vlkv_error(VLKV_ERR_OOM, "llama: cannot allocate activations for a batch of %d", n_batch);
    }
    return VLKV_OK;
}

void vlkv_llama_buf_free(struct vlkv_llama_buf *b) {
    if (!b) return;
    vlkv_free_aligned(b->x);
    vlkv_free_aligned(b->xb);
    vlkv_free_aligned(b->xb2);
    vlkv_free_aligned(b->q);
    vlkv_free_aligned(b->k);
    vlkv_free_aligned(b->v);
    vlkv_free_aligned(b->att);
    vlkv_free_aligned(b->hb);
    vlkv_free_aligned(b->hb2);
    memset(b, 0, sizeof *b);
}

size_t vlkv_llama_wsize(const struct vlkv_ops_ctx *o, const struct vlkv_model *m, int32_t n_batch) {
    size_t mx = VLKV_MAX(vlkv_matmul_wsize(o, m->output, n_batch), vlkv_matmul_wsize(o, m->output, 1));
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        const struct vlkv_llama_layer *L = &m->layers[il];
        const struct vlkv_tensor *ts[] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
        for (size_t i = 0; i < VLKV_ARRAY_LEN(ts); i++) {
            /* decode (1 row) and full batches may take different paths: reserve the larger */
            mx = VLKV_MAX(mx, vlkv_matmul_wsize(o, ts[i], n_batch));
            mx = VLKV_MAX(mx, vlkv_matmul_wsize(o, ts[i], 1));
        }
    }
    return mx;
}

vlkv_status vlkv_llama_forward(const struct vlkv_model *m, struct vlkv_ops_ctx *o, struct vlkv_llama_buf *b,
                               struct vlkv_kv_cache *kv, const struct vlkv_llama_batch *batch,
                               const struct vlkv_attn_observer *obs, float *logits, int all_logits) {
    const struct vlkv_llama_hparams *hp = &m->hp;
    const int32_t n = batch->n;
    const int64_t E = hp->n_embd, QD = (int64_t)hp->n_head * hp->d_head, KD = (int64_t)hp->n_head_kv * hp->d_head,
                  F = hp->n_ff;
    vlkv_status st = VLKV_OK;

    if (n <= 0 || n > b->n_batch)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "llama: batch of %d positions (buffers hold %d)", n, b->n_batch);
    for (int32_t il = 0; il < kv->n_layer; il++)
        if (kv->layers[il].len + n > kv->layers[il].cap)
            return vlkv_error(VLKV_ERR_CONTEXT_FULL,
                              "llama: %d positions do not fit in the KV cache (layer %d holds %d of %d slots)", n,
                              il, kv->layers[il].len, kv->layers[il].cap);

    /* 1. input rows */
    if (batch->embd) {
        memcpy(b->x, batch->embd, (size_t)n * E * sizeof(float));
    } else {
        for (int32_t t = 0; t < n; t++) {
            const int32_t id = batch->tokens[t];
            if (id < 0 || id >= hp->n_vocab)
                return vlkv_error(VLKV_ERR_INVALID_ARG, "llama: token id %d out of range [0, %d)", id, hp->n_vocab);
        }
        for (int32_t t = 0; t < n; t++) vlkv_get_row(o, m->tok_embd, batch->tokens[t], b->x + t * E);
    }

    /* 2. layers. In the last layer only the rows whose output is used need the attention output
     * and the FFN: every row when all logits or attention statistics (obs) are wanted, the last
     * row when only its logits are, none for an intermediate prefill chunk (K/V still go to the
     * cache for all rows) - llama.cpp does the same with get_rows before the last FFN. */
    int32_t n_appended = 0;   /* layers whose cache already holds this batch (undone on failure) */
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const struct vlkv_llama_layer *L = &m->layers[il];
        const int last = il == hp->n_layer - 1;
        const int32_t nq = (!last || obs || all_logits) ? n : (logits ? 1 : 0);
        const int32_t q0 = n - nq;                       /* first row that continues */
        float *xr = b->x + (int64_t)q0 * E;              /* [nq][E] residual rows that continue */

        vlkv_rmsnorm(o, b->x, L->attn_norm, hp->eps, n, E, b->xb);
        if (nq == n) {
            const struct vlkv_tensor *const ws[3] = {L->wq, L->wk, L->wv};
            const struct vlkv_tensor *const bs[3] = {L->bq, L->bk, L->bv};
            float *const ys[3] = {b->q, b->k, b->v};
            VLKV_TRY(vlkv_matmul_multi(o, 3, ws, bs, b->xb, n, ys));
        } else {
            const struct vlkv_tensor *const ws[2] = {L->wk, L->wv};
            const struct vlkv_tensor *const bs[2] = {L->bk, L->bv};
            float *const ys[2] = {b->k, b->v};
            VLKV_TRY(vlkv_matmul_multi(o, 2, ws, bs, b->xb, n, ys));
            if (nq > 0) VLKV_TRY(vlkv_matmul(o, L->wq, L->bq, b->xb + (int64_t)q0 * E, nq, b->q));
        }
        vlkv_rope_norm(o, b->q, nq, hp->n_head, hp->d_head, hp->n_rot, batch->pos + q0, hp->rope_base,
                       hp->rope_freq_scale);
        vlkv_rope_norm(o, b->k, n, hp->n_head_kv, hp->d_head, hp->n_rot, batch->pos, hp->rope_base,
                       hp->rope_freq_scale);
        VLKV_TRY(vlkv_kv_append(kv, il, b->k, b->v, n, batch->pos, batch->mod));
        n_appended = il + 1;
        if (nq == 0) continue;
        /* the nq queries are the last nq appended slots, as vlkv_kv_attend expects */
        vlkv_kv_attend(o, kv, il, b->q, nq, hp->n_head, b->att, obs);
        VLKV_TRY(vlkv_matmul(o, L->wo, L->bo, b->att, nq, b->xb2));
        vlkv_add(o, xr, b->xb2, (int64_t)nq * E);

        vlkv_rmsnorm(o, xr, L->ffn_norm, hp->eps, nq, E, b->xb);
        {
            const struct vlkv_tensor *const ws[2] = {L->w_gate, L->w_up};
            float *const ys[2] = {b->hb, b->hb2};
            VLKV_TRY(vlkv_matmul_multi(o, 2, ws, NULL, b->xb, nq, ys));
        }
        vlkv_silu_mul(o, b->hb, b->hb2, (int64_t)nq * F, b->hb);
        VLKV_TRY(vlkv_matmul(o, L->w_down, NULL, b->hb, nq, b->xb2));
        vlkv_add(o, xr, b->xb2, (int64_t)nq * E);
    }
    (void)KD;
    (void)QD;

    /* 3. output: every position, or only the last one */
    if (logits) {
        const int32_t r0 = all_logits ? 0 : n - 1, nr = all_logits ? n : 1;
        vlkv_rmsnorm(o, b->x + (int64_t)r0 * E, m->output_norm, hp->eps, nr, E, b->xb);
        VLKV_TRY(vlkv_matmul(o, m->output, NULL, b->xb, nr, logits));
    }
    return VLKV_OK;
fail:
    for (int32_t il = 0; il < n_appended; il++) kv->layers[il].len -= n;
    return st;
}
