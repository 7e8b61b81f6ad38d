/* vk_llama.c - LLaMA decoder forward recorded as Vulkan dispatches (one submission per batch).
 * Step for step the same as llama.c, so the two can be compared op by op:
 *   x = embd(tok) | input rows
 *   per layer: xb = rmsnorm(x)*attn_norm; q,k,v = W xb (+b); rope(q, k); K/V[len..len+n) = k, v;
 *              att = attention(q, K[0..len+n), V) (causal over the layer's own slots);
 *              x += Wo att;  xb = rmsnorm(x)*ffn_norm;  x += Wdown (silu(Wgate xb) * Wup xb)
 *   logits = Wout (rmsnorm(x)*output_norm)  (last row, or every row)
 * Host traffic per batch: token ids / positions / embeddings up, logits (+ statistics) down. */
#include "vk_llama.h"

#include <stdlib.h>
#include <string.h>

static vlkv_status upload(struct vk_device *d, struct vk_buffer *b, const void *data, size_t n) {
    vlkv_status st = vk_buffer_create(d, n, VK_MEM_DEVICE, b);
    if (st == VLKV_OK && data) st = vk_buffer_write(d, b, 0, data, n);
    return st;
}

/* bias vectors (F32) */
static vlkv_status upload_tensor(struct vk_llama *g, struct vk_buffer *b, const struct vlkv_tensor *t) {
    if (!t) return VLKV_OK;
    if (t->type != VLKV_TYPE_F32)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: bias %s has type %s (F32 expected)", t->name,
                          vlkv_type_name(t->type));
    return upload(g->dev, b, t->data, t->nbytes);
}

/* 2-D weight matrices, split by rows where a binding cannot hold them */
static vlkv_status upload_weight(struct vk_llama *g, struct vk_weight *w, const struct vlkv_tensor *t) {
    if (!vk_type_supported((enum vlkv_type)t->type))
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: tensor %s has type %s, which has no Vulkan shader yet", t->name,
                          vlkv_type_name(t->type));
    return vk_weight_upload(g->dev, w, (enum vlkv_type)t->type, (uint32_t)t->ne[0], (uint32_t)t->ne[1], t->data);
}

static vlkv_status upload_f32(struct vk_llama *g, struct vk_buffer *b, const float *p, int64_t n) {
    return upload(g->dev, b, p, (size_t)n * sizeof(float));
}

vlkv_status vk_llama_init(struct vk_llama *g, struct vk_device *dev, const struct vlkv_model *m, int32_t n_ctx,
                          int32_t n_batch, uint32_t kv_type) {
    vlkv_status st = VLKV_OK;
    const struct vlkv_llama_hparams *hp = &m->hp;
    memset(g, 0, sizeof *g);
    g->dev = dev;
    g->m = m;
    g->n_ctx = n_ctx;
    g->n_batch = n_batch;
    g->kv_type = kv_type;
    g->hs_rows = -1;
    VLKV_CHECK(kv_type == VLKV_TYPE_F16 || kv_type == VLKV_TYPE_F32, VLKV_ERR_INVALID_ARG,
               "vulkan: KV type must be F16 or F32");
    VLKV_CHECK(n_ctx > 0 && n_batch > 0 && n_batch <= n_ctx, VLKV_ERR_INVALID_ARG,
               "vulkan: bad n_ctx %d / n_batch %d", n_ctx, n_batch);
    VLKV_CHECK(hp->d_head <= 256 && hp->n_head % hp->n_head_kv == 0, VLKV_ERR_UNSUPPORTED,
               "vulkan: head size %d > 256 is not supported", hp->d_head);
    const size_t E = (size_t)hp->n_embd, QD = (size_t)hp->n_head * hp->d_head,
                 KD = (size_t)hp->n_head_kv * hp->d_head, F = (size_t)hp->n_ff, V = (size_t)hp->n_vocab,
                 nb = (size_t)n_batch, es = kv_type == VLKV_TYPE_F16 ? 2 : 4, H = (size_t)hp->n_head;

    VLKV_TRY(upload_weight(g, &g->tok_embd, m->tok_embd));
    VLKV_TRY(upload_f32(g, &g->output_norm, m->output_norm, hp->n_embd));
    g->tied = m->output == m->tok_embd;
    if (!g->tied) VLKV_TRY(upload_weight(g, &g->output, m->output));
    g->layers = calloc((size_t)hp->n_layer, sizeof *g->layers);
    VLKV_CHECK(g->layers, VLKV_ERR_OOM, "vulkan: out of memory");
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const struct vlkv_llama_layer *L = &m->layers[il];
        struct vk_llama_layer *G = &g->layers[il];
        VLKV_TRY(upload_f32(g, &G->attn_norm, L->attn_norm, hp->n_embd));
        VLKV_TRY(upload_f32(g, &G->ffn_norm, L->ffn_norm, hp->n_embd));
        VLKV_TRY(upload_weight(g, &G->wq, L->wq));
        VLKV_TRY(upload_weight(g, &G->wk, L->wk));
        VLKV_TRY(upload_weight(g, &G->wv, L->wv));
        VLKV_TRY(upload_weight(g, &G->wo, L->wo));
        VLKV_TRY(upload_weight(g, &G->w_gate, L->w_gate));
        VLKV_TRY(upload_weight(g, &G->w_up, L->w_up));
        VLKV_TRY(upload_weight(g, &G->w_down, L->w_down));
        VLKV_TRY(upload_tensor(g, &G->bq, L->bq));
        VLKV_TRY(upload_tensor(g, &G->bk, L->bk));
        VLKV_TRY(upload_tensor(g, &G->bv, L->bv));
        VLKV_TRY(upload_tensor(g, &G->bo, L->bo));
        G->cap = n_ctx;
        VLKV_TRY(upload(dev, &G->k, NULL, (size_t)n_ctx * KD * es));
        VLKV_TRY(upload(dev, &G->v, NULL, (size_t)n_ctx * KD * es));
        G->pos = calloc((size_t)n_ctx, sizeof *G->pos);
        G->mod = calloc((size_t)n_ctx, sizeof *G->mod);
        VLKV_CHECK(G->pos && G->mod, VLKV_ERR_OOM, "vulkan: out of memory");
    }
    VLKV_TRY(upload(dev, &g->x, NULL, nb * E * 4));
    VLKV_TRY(upload(dev, &g->xb, NULL, nb * VLKV_MAX(E, QD) * 4));
    VLKV_TRY(upload(dev, &g->xb2, NULL, nb * E * 4));
    VLKV_TRY(upload(dev, &g->q, NULL, nb * QD * 4));
    VLKV_TRY(upload(dev, &g->k, NULL, nb * KD * 4));
    VLKV_TRY(upload(dev, &g->v, NULL, nb * KD * 4));
    VLKV_TRY(upload(dev, &g->att, NULL, nb * QD * 4));
    VLKV_TRY(upload(dev, &g->hb, NULL, nb * F * 4));
    VLKV_TRY(upload(dev, &g->hb2, NULL, nb * F * 4));
    VLKV_TRY(upload(dev, &g->ids, NULL, nb * 4));
    VLKV_TRY(upload(dev, &g->pos, NULL, nb * 4));
    /* attention probabilities of as many query rows as fit 64 MiB (and one binding) */
    size_t sc = VLKV_MIN(nb * H * (size_t)n_ctx * 4, (size_t)64 << 20);
    sc = VLKV_MIN(sc, (size_t)dev->caps.max_sbuf_range);
    sc = VLKV_MAX(sc, H * (size_t)n_ctx * 4);
    VLKV_TRY(upload(dev, &g->scores, NULL, sc));
    VLKV_TRY(upload(dev, &g->stats, NULL, nb * H * 2 * 4));
    VLKV_TRY(upload(dev, &g->per_head, NULL, H * (size_t)n_ctx * 4));
    g->colsum_stride = (uint32_t)VLKV_ALIGN_UP((size_t)n_ctx, 64);   /* 256 B: the largest offset alignment */
    VLKV_TRY(upload(dev, &g->colsum, NULL, (size_t)hp->n_layer * g->colsum_stride * 4));
    VLKV_TRY(upload(dev, &g->logits, NULL, nb * V * 4));
    VLKV_TRY(upload(dev, &g->idx, NULL, ((size_t)n_ctx * 4 + 4) * 4));   /* merge lists: off + keep + sources */
    VLKV_TRY(upload(dev, &g->kv_scratch, NULL, (size_t)n_ctx * KD * es));
    g->up_size = nb * 4 * 2 + nb * E * 4;
    g->down_size = VLKV_MAX(nb * V * 4, (size_t)hp->n_layer * g->colsum_stride * 4);
    VLKV_TRY(vk_buffer_create(dev, g->up_size, VK_MEM_HOST, &g->up_host));
    VLKV_TRY(vk_buffer_create(dev, g->down_size, VK_MEM_HOST, &g->down_host));
    g->cap_pend = 4 * hp->n_layer + 16;
    g->pend = calloc((size_t)g->cap_pend, sizeof *g->pend);
    VLKV_CHECK(g->pend, VLKV_ERR_OOM, "vulkan: out of memory");
    return VLKV_OK;
fail:
    vk_llama_free(g);
    return st;
}

void vk_llama_free(struct vk_llama *g) {
    if (!g || !g->dev) return;
    struct vk_device *d = g->dev;
    vk_weight_free(d, &g->tok_embd);
    vk_buffer_destroy(d, &g->output_norm);
    vk_weight_free(d, &g->output);
    if (g->layers) {
        for (int32_t il = 0; il < g->m->hp.n_layer; il++) {
            struct vk_llama_layer *G = &g->layers[il];
            struct vk_buffer *bs[] = {&G->attn_norm, &G->ffn_norm, &G->bq, &G->bk, &G->bv, &G->bo, &G->k, &G->v};
            for (size_t i = 0; i < VLKV_ARRAY_LEN(bs); i++) vk_buffer_destroy(d, bs[i]);
            struct vk_weight *ws[] = {&G->wq, &G->wk, &G->wv, &G->wo, &G->w_gate, &G->w_up, &G->w_down};
            for (size_t i = 0; i < VLKV_ARRAY_LEN(ws); i++) vk_weight_free(d, ws[i]);
            free(G->pos);
            free(G->mod);
        }
        free(g->layers);
    }
    free(g->hs_nkv);
    free(g->pend);
    struct vk_buffer *bs[] = {&g->x, &g->xb, &g->xb2, &g->q, &g->k, &g->v, &g->att, &g->hb, &g->hb2,
                              &g->ids, &g->pos, &g->scores, &g->stats, &g->per_head, &g->colsum, &g->logits,
                              &g->up_host, &g->down_host, &g->idx, &g->kv_scratch, &g->hs, &g->hs_host};
    for (size_t i = 0; i < VLKV_ARRAY_LEN(bs); i++) vk_buffer_destroy(d, bs[i]);
    memset(g, 0, sizeof *g);
}

void vk_llama_kv_clear(struct vk_llama *g) {
    for (int32_t il = 0; il < g->m->hp.n_layer; il++) g->layers[il].len = 0;
    g->n_pend = 0;
}

static size_t kv_row_bytes(const struct vk_llama *g) {
    return (size_t)(g->m->hp.n_head_kv * g->m->hp.d_head) * (g->kv_type == VLKV_TYPE_F16 ? 2 : 4);
}

/* Record the deferred single-slot removals into the sequence being recorded, in order. */
static vlkv_status record_pending(struct vk_llama *g) {
    vlkv_status st = VLKV_OK;
    const size_t row = kv_row_bytes(g);
    for (int32_t i = 0; i < g->n_pend; i++) {
        const int32_t il = g->pend[i][0], kind = g->pend[i][1], a = g->pend[i][2], b = g->pend[i][3];
        struct vk_llama_layer *G = &g->layers[il];
        if (kind == 0) {   /* row b -> row a */
            VLKV_TRY(vk_copy(g->dev, vk_ref_at(&G->k, row * a, 0), vk_ref_at(&G->k, row * b, 0), row));
            VLKV_TRY(vk_copy(g->dev, vk_ref_at(&G->v, row * a, 0), vk_ref_at(&G->v, row * b, 0), row));
        } else {           /* remove slot a of b: the tail shifts left */
            VLKV_TRY(vk_op_kv_remove(g->dev, vk_ref_of(&G->k), vk_ref_of(&g->kv_scratch), (uint32_t)row, (uint32_t)a,
                                     (uint32_t)b));
            VLKV_TRY(vk_op_kv_remove(g->dev, vk_ref_of(&G->v), vk_ref_of(&g->kv_scratch), (uint32_t)row, (uint32_t)a,
                                     (uint32_t)b));
        }
    }
    g->n_pend = 0;
fail:
    return st;
}

static vlkv_status begin_seq(struct vk_llama *g) {
    vlkv_status st = vk_begin(g->dev);
    if (st == VLKV_OK) st = record_pending(g);
    return st;
}

static vlkv_status defer_move(struct vk_llama *g, int32_t il, int32_t kind, int32_t a, int32_t b) {
    if (g->n_pend == g->cap_pend) {   /* full: run what is queued now */
        vlkv_status st = begin_seq(g);
        if (st == VLKV_OK) st = vk_submit(g->dev);
        if (st != VLKV_OK) {
            vk_cancel(g->dev);
            return st;
        }
    }
    int32_t *p = g->pend[g->n_pend++];
    p[0] = il;
    p[1] = kind;
    p[2] = a;
    p[3] = b;
    return VLKV_OK;
}

/* the per-head statistics of layer il (forward_ex), recorded right after its attention */
static vlkv_status head_stats(struct vk_llama *g, const struct vk_llama_head_req *r, int32_t il, uint32_t n,
                              uint32_t n_kv) {
    vlkv_status st = VLKV_OK;
    const struct vlkv_llama_hparams *hp = &g->m->hp;
    struct vk_device *d = g->dev;
    const struct vk_llama_layer *G = &g->layers[il];
    const enum vlkv_type kt = (enum vlkv_type)g->kv_type;
    const uint32_t H = (uint32_t)hp->n_head, HKV = (uint32_t)hp->n_head_kv, D = (uint32_t)hp->d_head;
    /* device: the one block g->hs; host: layer il's block of hs_host */
    const size_t hbase = (size_t)il * g->hs_layer, blk = g->hs_off_post, hb = (size_t)H * n_kv * 4;
    const struct vk_ref none = {NULL, 0, 0};
    if (r->sum_r1 > r->sum_r0) {
        VLKV_TRY(vk_op_attn_head_stats(d, kt, vk_ref_of(&g->q), vk_ref_of(&G->k), vk_ref_of(&g->stats),
                                       vk_ref_at(&g->hs, 0, blk), none, n, n_kv, H, HKV, D, (uint32_t)r->sum_r0,
                                       (uint32_t)r->sum_r1, n_kv, 0, 0.0f));
        VLKV_TRY(vk_copy(d, vk_ref_at(&g->hs_host, hbase, 0), vk_ref_at(&g->hs, 0, 0), hb));
    }
    if (r->post_r1 > r->post_r0) {
        const size_t po = g->hs_off_post, co = g->hs_off_cnt;
        VLKV_TRY(vk_op_attn_head_stats(d, kt, vk_ref_of(&g->q), vk_ref_of(&G->k), vk_ref_of(&g->stats),
                                       vk_ref_at(&g->hs, po, blk), r->count ? vk_ref_at(&g->hs, co, blk) : none, n,
                                       n_kv, H, HKV, D, (uint32_t)r->post_r0, (uint32_t)r->post_r1, n_kv, 0, r->thr));
        VLKV_TRY(vk_copy(d, vk_ref_at(&g->hs_host, hbase + po, 0), vk_ref_at(&g->hs, po, 0), hb));
        if (r->count) VLKV_TRY(vk_copy(d, vk_ref_at(&g->hs_host, hbase + co, 0), vk_ref_at(&g->hs, co, 0), hb));
    }
    if (r->rows_r1 > r->rows_r0) {
        const size_t ro = g->hs_off_rows, nr = (size_t)(r->rows_r1 - r->rows_r0);
        VLKV_TRY(vk_op_attn_head_stats(d, kt, vk_ref_of(&g->q), vk_ref_of(&G->k), vk_ref_of(&g->stats),
                                       vk_ref_at(&g->hs, ro, nr * blk), none, n, n_kv, H, HKV, D,
                                       (uint32_t)r->rows_r0, (uint32_t)r->rows_r1, n_kv, 1, 0.0f));
        VLKV_TRY(vk_copy(d, vk_ref_at(&g->hs_host, hbase + ro, 0), vk_ref_at(&g->hs, ro, 0), nr * hb));
    }
    g->hs_nkv[il] = (int32_t)n_kv;
fail:
    return st;
}

static vlkv_status matmul(struct vk_llama *g, const struct vk_weight *W, const struct vk_buffer *bias,
                          const struct vk_buffer *x, const struct vk_buffer *y, int32_t n) {
    vlkv_status st = VLKV_OK;
    VLKV_TRY(vk_op_matmul_w(g->dev, W, vk_ref_of(x), vk_ref_of(y), (uint32_t)n));
    if (bias && bias->buf) VLKV_TRY(vk_op_add_row(g->dev, vk_ref_of(y), vk_ref_of(bias), W->M * (uint32_t)n, W->M));
fail:
    return st;
}

vlkv_status vk_llama_stats_reserve(struct vk_llama *g, int32_t max_rows) {
    vlkv_status st = VLKV_OK;
    const struct vlkv_llama_hparams *hp = &g->m->hp;
    if (g->hs_rows >= max_rows) return VLKV_OK;
    vk_buffer_destroy(g->dev, &g->hs);
    vk_buffer_destroy(g->dev, &g->hs_host);
    free(g->hs_nkv);
    g->hs_nkv = calloc((size_t)hp->n_layer, sizeof *g->hs_nkv);
    VLKV_CHECK(g->hs_nkv, VLKV_ERR_OOM, "vulkan: out of memory");
    const size_t A = 256;   /* >= every device's storage-buffer offset alignment */
    const size_t blk = VLKV_ALIGN_UP((size_t)hp->n_head * (size_t)g->n_ctx * 4, A);
    g->hs_off_post = blk;
    g->hs_off_cnt = 2 * blk;
    g->hs_off_rows = 3 * blk;
    g->hs_layer = 3 * blk + (size_t)max_rows * blk;
    /* the device holds one layer's block: each layer's results are copied out before the next
     * layer's statistics overwrite them (the recorded barriers order the two) */
    VLKV_TRY(upload(g->dev, &g->hs, NULL, g->hs_layer));
    VLKV_TRY(vk_buffer_create(g->dev, (size_t)hp->n_layer * g->hs_layer, VK_MEM_HOST, &g->hs_host));
    g->hs_rows = max_rows;
    return VLKV_OK;
fail:
    g->hs_rows = -1;
    return st;
}

int32_t vk_llama_head_nkv(const struct vk_llama *g, int32_t il) { return g->hs_nkv ? g->hs_nkv[il] : 0; }
static const uint8_t *hs_at(const struct vk_llama *g, int32_t il, size_t off) {
    return (const uint8_t *)g->hs_host.mapped + (size_t)il * g->hs_layer + off;
}
const float *vk_llama_head_sum(const struct vk_llama *g, int32_t il) { return (const float *)(const void *)hs_at(g, il, 0); }
const float *vk_llama_head_post(const struct vk_llama *g, int32_t il) {
    return (const float *)(const void *)hs_at(g, il, g->hs_off_post);
}
const uint32_t *vk_llama_head_cnt(const struct vk_llama *g, int32_t il) {
    return (const uint32_t *)(const void *)hs_at(g, il, g->hs_off_cnt);
}
const float *vk_llama_head_rows(const struct vk_llama *g, int32_t il) {
    return (const float *)(const void *)hs_at(g, il, g->hs_off_rows);
}

vlkv_status vk_llama_forward(struct vk_llama *g, const struct vlkv_llama_batch *batch,
                             const struct vk_llama_stats_req *stats, float *logits, int all_logits) {
    return vk_llama_forward_ex(g, batch, stats, NULL, logits, all_logits);
}

static int range_bad(int32_t r0, int32_t r1, int32_t n) { return r0 < 0 || r0 > r1 || r1 > n; }

vlkv_status vk_llama_forward_ex(struct vk_llama *g, const struct vlkv_llama_batch *batch,
                                const struct vk_llama_stats_req *stats, const struct vk_llama_head_req *head,
                                float *logits, int all_logits) {
    const struct vlkv_model *m = g->m;
    const struct vlkv_llama_hparams *hp = &m->hp;
    struct vk_device *d = g->dev;
    const int32_t n = batch->n;
    const uint32_t E = (uint32_t)hp->n_embd, KD = (uint32_t)(hp->n_head_kv * hp->d_head), F = (uint32_t)hp->n_ff,
                   V = (uint32_t)hp->n_vocab;
    vlkv_status st = VLKV_OK;

    if (n <= 0 || n > g->n_batch)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "llama: batch of %d positions (buffers hold %d)", n, g->n_batch);
    for (int32_t il = 0; il < hp->n_layer; il++)
        if (g->layers[il].len + n > g->layers[il].cap)
            return vlkv_error(VLKV_ERR_CONTEXT_FULL,
                              "llama: %d positions do not fit in the KV cache (layer %d holds %d of %d slots)", n, il,
                              g->layers[il].len, g->layers[il].cap);
    if (stats && (stats->r0 < 0 || stats->r0 > stats->r1 || stats->r1 > n || !stats->out))
        return vlkv_error(VLKV_ERR_INVALID_ARG, "llama: statistics rows [%d, %d) of a batch of %d", stats->r0,
                          stats->r1, n);
    if (head) {
        if (g->hs_rows < 0) return vlkv_error(VLKV_ERR_INVALID_ARG, "llama: statistics buffers were not reserved");
        if (range_bad(head->sum_r0, head->sum_r1, n) || range_bad(head->post_r0, head->post_r1, n) ||
            range_bad(head->rows_r0, head->rows_r1, n) || head->rows_r1 - head->rows_r0 > g->hs_rows)
            return vlkv_error(VLKV_ERR_INVALID_ARG,
                              "llama: statistics rows [%d,%d) [%d,%d) [%d,%d) of a batch of %d (%d rows reserved)",
                              head->sum_r0, head->sum_r1, head->post_r0, head->post_r1, head->rows_r0, head->rows_r1,
                              n, g->hs_rows);
    }
    if (!batch->embd)
        for (int32_t t = 0; t < n; t++)
            if (batch->tokens[t] < 0 || batch->tokens[t] >= hp->n_vocab)
                return vlkv_error(VLKV_ERR_INVALID_ARG, "llama: token id %d out of range [0, %d)", batch->tokens[t],
                                  hp->n_vocab);

    /* inputs into the staging buffer: ids | pos | embd */
    uint8_t *up = g->up_host.mapped;
    const size_t ids_off = 0, pos_off = (size_t)g->n_batch * 4, embd_off = (size_t)g->n_batch * 8;
    if (batch->embd) memcpy(up + embd_off, batch->embd, (size_t)n * E * 4);
    else memcpy(up + ids_off, batch->tokens, (size_t)n * 4);
    memcpy(up + pos_off, batch->pos, (size_t)n * 4);

    VLKV_TRY(begin_seq(g));
    VLKV_TRY(vk_copy(d, vk_ref_of(&g->pos), vk_ref_at(&g->up_host, pos_off, 0), (size_t)n * 4));
    if (batch->embd) {
        VLKV_TRY(vk_copy(d, vk_ref_of(&g->x), vk_ref_at(&g->up_host, embd_off, 0), (size_t)n * E * 4));
    } else {
        VLKV_TRY(vk_copy(d, vk_ref_of(&g->ids), vk_ref_at(&g->up_host, ids_off, 0), (size_t)n * 4));
        VLKV_TRY(vk_op_get_rows_w(d, &g->tok_embd, vk_ref_of(&g->ids), vk_ref_of(&g->x), (uint32_t)n));
    }

    for (int32_t il = 0; il < hp->n_layer; il++) {
        struct vk_llama_layer *G = &g->layers[il];
        VLKV_TRY(vk_op_rmsnorm(d, vk_ref_of(&g->x), vk_ref_of(&G->attn_norm), vk_ref_of(&g->xb), E, (uint32_t)n,
                               hp->eps));
        VLKV_TRY(matmul(g, &G->wq, &G->bq, &g->xb, &g->q, n));
        VLKV_TRY(matmul(g, &G->wk, &G->bk, &g->xb, &g->k, n));
        VLKV_TRY(matmul(g, &G->wv, &G->bv, &g->xb, &g->v, n));
        VLKV_TRY(vk_op_rope_norm(d, vk_ref_of(&g->q), vk_ref_of(&g->pos), (uint32_t)n, (uint32_t)hp->n_head,
                                 (uint32_t)hp->d_head, (uint32_t)hp->n_rot, hp->rope_base, hp->rope_freq_scale));
        VLKV_TRY(vk_op_rope_norm(d, vk_ref_of(&g->k), vk_ref_of(&g->pos), (uint32_t)n, (uint32_t)hp->n_head_kv,
                                 (uint32_t)hp->d_head, (uint32_t)hp->n_rot, hp->rope_base, hp->rope_freq_scale));
        /* append K/V at slots [len, len + n) */
        const uint32_t slot0 = (uint32_t)G->len, n_kv = (uint32_t)G->len + (uint32_t)n;
        if (g->kv_type == VLKV_TYPE_F16) {
            VLKV_TRY(vk_op_cpy_f32_f16(d, vk_ref_of(&g->k), vk_ref_of(&G->k), slot0 * KD, (uint32_t)n * KD));
            VLKV_TRY(vk_op_cpy_f32_f16(d, vk_ref_of(&g->v), vk_ref_of(&G->v), slot0 * KD, (uint32_t)n * KD));
        } else {
            VLKV_TRY(vk_copy(d, vk_ref_at(&G->k, (size_t)slot0 * KD * 4, 0), vk_ref_of(&g->k), (size_t)n * KD * 4));
            VLKV_TRY(vk_copy(d, vk_ref_at(&G->v, (size_t)slot0 * KD * 4, 0), vk_ref_of(&g->v), (size_t)n * KD * 4));
        }
        VLKV_TRY(vk_op_attention(d, (enum vlkv_type)g->kv_type, vk_ref_of(&g->q), vk_ref_of(&G->k), vk_ref_of(&G->v),
                                 vk_ref_of(&g->att), vk_ref_of(&g->scores), vk_ref_of(&g->stats), (uint32_t)n, n_kv,
                                 (uint32_t)hp->n_head, (uint32_t)hp->n_head_kv, (uint32_t)hp->d_head, 1));
        if (stats && stats->r1 > stats->r0) {
            const size_t off = (size_t)il * g->colsum_stride * 4;
            VLKV_TRY(vk_op_attn_stats(d, (enum vlkv_type)g->kv_type, vk_ref_of(&g->q), vk_ref_of(&G->k),
                                      vk_ref_of(&g->stats), vk_ref_of(&g->per_head),
                                      vk_ref_at(&g->colsum, off, (size_t)g->n_ctx * 4), (uint32_t)n, n_kv,
                                      (uint32_t)hp->n_head, (uint32_t)hp->n_head_kv, (uint32_t)hp->d_head,
                                      (uint32_t)stats->r0, (uint32_t)stats->r1));
        }
        if (head) VLKV_TRY(head_stats(g, head, il, (uint32_t)n, n_kv));
        VLKV_TRY(matmul(g, &G->wo, &G->bo, &g->att, &g->xb2, n));
        VLKV_TRY(vk_op_add(d, vk_ref_of(&g->x), vk_ref_of(&g->xb2), (uint32_t)n * E));

        VLKV_TRY(vk_op_rmsnorm(d, vk_ref_of(&g->x), vk_ref_of(&G->ffn_norm), vk_ref_of(&g->xb), E, (uint32_t)n,
                               hp->eps));
        VLKV_TRY(matmul(g, &G->w_gate, NULL, &g->xb, &g->hb, n));
        VLKV_TRY(matmul(g, &G->w_up, NULL, &g->xb, &g->hb2, n));
        VLKV_TRY(vk_op_silu_mul(d, vk_ref_of(&g->hb), vk_ref_of(&g->hb2), vk_ref_of(&g->hb), (uint32_t)n * F));
        VLKV_TRY(matmul(g, &G->w_down, NULL, &g->hb, &g->xb2, n));
        VLKV_TRY(vk_op_add(d, vk_ref_of(&g->x), vk_ref_of(&g->xb2), (uint32_t)n * E));
    }

    /* output rows: every position, or the last one (bound at its offset when aligned) */
    size_t logits_off = 0, logits_bytes = (size_t)V * 4;
    int32_t r0 = all_logits ? 0 : n - 1, nr = all_logits ? n : 1;
    if (r0 > 0 && ((size_t)r0 * E * 4) % d->caps.min_sbuf_align) {
        logits_off = (size_t)r0 * V * 4;   /* misaligned row: compute all rows, keep the last */
        r0 = 0;
        nr = n;
    }
    if (logits) {
        VLKV_TRY(vk_op_rmsnorm(d, vk_ref_at(&g->x, (size_t)r0 * E * 4, 0), vk_ref_of(&g->output_norm),
                               vk_ref_of(&g->xb), E, (uint32_t)nr, hp->eps));
        VLKV_TRY(vk_op_matmul_w(d, g->tied ? &g->tok_embd : &g->output, vk_ref_of(&g->xb), vk_ref_of(&g->logits),
                                (uint32_t)nr));
        if (all_logits) logits_bytes = (size_t)n * V * 4;
        VLKV_TRY(vk_copy(d, vk_ref_of(&g->down_host), vk_ref_at(&g->logits, logits_off, 0), logits_bytes));
    }
    VLKV_TRY(vk_submit(d));
    if (logits) memcpy(logits, g->down_host.mapped, logits_bytes);

    for (int32_t il = 0; il < hp->n_layer; il++) {
        struct vk_llama_layer *G = &g->layers[il];
        for (int32_t t = 0; t < n; t++) {
            G->pos[G->len + t] = batch->pos[t];
            G->mod[G->len + t] = batch->mod ? batch->mod[t] : 0;
        }
        G->len += n;
    }
    if (stats && stats->r1 > stats->r0) {
        /* second small submission: read the per-layer column sums back */
        VLKV_TRY(vk_begin(d));
        VLKV_TRY(vk_copy(d, vk_ref_of(&g->down_host), vk_ref_of(&g->colsum), (size_t)hp->n_layer * g->colsum_stride * 4));
        VLKV_TRY(vk_submit(d));
        const float *cs = g->down_host.mapped;
        for (int32_t il = 0; il < hp->n_layer; il++)
            memcpy(stats->out + (size_t)il * stats->out_stride, cs + (size_t)il * g->colsum_stride,
                   (size_t)g->layers[il].len * 4);
    }
    return VLKV_OK;
fail:
    vk_cancel(d);
    return st;
}

/* ---- KV rewriting ---- */

static vlkv_status run_idx(struct vk_llama *g, const int32_t *idx, size_t n_int) {
    if (n_int > (size_t)g->n_ctx * 4 + 4) return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: index list too long");
    return vk_buffer_write(g->dev, &g->idx, 0, idx, n_int * 4);
}

vlkv_status vk_llama_kv_compact(struct vk_llama *g, int32_t il, const int32_t *keep, int32_t n_keep) {
    vlkv_status st = VLKV_OK;
    VLKV_CHECK(il >= 0 && il < g->m->hp.n_layer, VLKV_ERR_INVALID_ARG, "vulkan: layer %d", il);
    struct vk_llama_layer *G = &g->layers[il];
    for (int32_t i = 0; i < n_keep; i++)
        VLKV_CHECK(keep[i] >= 0 && keep[i] < G->len && (i == 0 || keep[i] > keep[i - 1]), VLKV_ERR_INVALID_ARG,
                   "vulkan: keep list must be strictly increasing slots < %d", G->len);
    const uint32_t row = (uint32_t)(g->m->hp.n_head_kv * g->m->hp.d_head) * (g->kv_type == VLKV_TYPE_F16 ? 2 : 4);
    VLKV_TRY(run_idx(g, keep, (size_t)n_keep));
    VLKV_TRY(begin_seq(g));
    VLKV_TRY(vk_op_kv_compact(g->dev, vk_ref_of(&G->k), vk_ref_of(&g->idx), vk_ref_of(&g->kv_scratch), row, (uint32_t)n_keep));
    VLKV_TRY(vk_op_kv_compact(g->dev, vk_ref_of(&G->v), vk_ref_of(&g->idx), vk_ref_of(&g->kv_scratch), row, (uint32_t)n_keep));
    VLKV_TRY(vk_submit(g->dev));
    for (int32_t i = 0; i < n_keep; i++) {
        G->pos[i] = G->pos[keep[i]];
        G->mod[i] = G->mod[keep[i]];
    }
    G->len = n_keep;
    return VLKV_OK;
fail:
    vk_cancel(g->dev);
    return st;
}

vlkv_status vk_llama_kv_remove(struct vk_llama *g, int32_t il, int32_t idx) {
    vlkv_status st = VLKV_OK;
    VLKV_CHECK(il >= 0 && il < g->m->hp.n_layer, VLKV_ERR_INVALID_ARG, "vulkan: layer %d", il);
    struct vk_llama_layer *G = &g->layers[il];
    VLKV_CHECK(idx >= 0 && idx < G->len, VLKV_ERR_INVALID_ARG, "vulkan: remove slot %d of %d", idx, G->len);
    if (idx < G->len - 1) VLKV_TRY(defer_move(g, il, 1, idx, G->len));
    memmove(G->pos + idx, G->pos + idx + 1, (size_t)(G->len - idx - 1) * sizeof *G->pos);
    memmove(G->mod + idx, G->mod + idx + 1, (size_t)(G->len - idx - 1) * sizeof *G->mod);
    G->len--;
    return VLKV_OK;
fail:
    vk_cancel(g->dev);
    return st;
}

vlkv_status vk_llama_kv_swap_remove(struct vk_llama *g, int32_t il, int32_t idx) {
    vlkv_status st = VLKV_OK;
    VLKV_CHECK(il >= 0 && il < g->m->hp.n_layer, VLKV_ERR_INVALID_ARG, "vulkan: layer %d", il);
    struct vk_llama_layer *G = &g->layers[il];
    VLKV_CHECK(idx >= 0 && idx < G->len, VLKV_ERR_INVALID_ARG, "vulkan: remove slot %d of %d", idx, G->len);
    const int32_t last = G->len - 1;
    if (idx != last) {
        VLKV_TRY(defer_move(g, il, 0, idx, last));
        G->pos[idx] = G->pos[last];
        G->mod[idx] = G->mod[last];
    }
    G->len--;
    return VLKV_OK;
fail:
    vk_cancel(g->dev);
    return st;
}

vlkv_status vk_llama_kv_merge(struct vk_llama *g, int32_t il, const int32_t *seg, const int32_t *anchor,
                              int32_t n_out) {
    vlkv_status st = VLKV_OK;
    int32_t *p = NULL;
    uint8_t *md = NULL;
    VLKV_CHECK(il >= 0 && il < g->m->hp.n_layer, VLKV_ERR_INVALID_ARG, "vulkan: layer %d", il);
    struct vk_llama_layer *G = &g->layers[il];
    VLKV_CHECK(n_out >= 0 && n_out <= G->len, VLKV_ERR_INVALID_ARG, "vulkan: merge into %d of %d slots", n_out, G->len);
    for (int32_t i = 0; i < n_out; i++)
        VLKV_CHECK(seg[2 * i] >= 0 && seg[2 * i] < seg[2 * i + 1] && seg[2 * i + 1] <= G->len && anchor[i] >= 0 &&
                       anchor[i] < G->len,
                   VLKV_ERR_INVALID_ARG, "vulkan: merge segment %d [%d, %d) / anchor %d invalid for %d slots", i,
                   seg[2 * i], seg[2 * i + 1], anchor[i], G->len);
    const uint32_t row_elems = (uint32_t)(g->m->hp.n_head_kv * g->m->hp.d_head);
    p = malloc((size_t)(n_out ? n_out : 1) * sizeof *p);
    md = malloc((size_t)(n_out ? n_out : 1));
    VLKV_CHECK(p && md, VLKV_ERR_OOM, "vulkan: out of memory");
    VLKV_TRY(run_idx(g, seg, (size_t)n_out * 2));
    VLKV_TRY(begin_seq(g));
    VLKV_TRY(vk_op_kv_merge(g->dev, (enum vlkv_type)g->kv_type, vk_ref_of(&G->k), vk_ref_of(&g->idx),
                            vk_ref_of(&g->kv_scratch), row_elems, (uint32_t)n_out));
    VLKV_TRY(vk_op_kv_merge(g->dev, (enum vlkv_type)g->kv_type, vk_ref_of(&G->v), vk_ref_of(&g->idx),
                            vk_ref_of(&g->kv_scratch), row_elems, (uint32_t)n_out));
    VLKV_TRY(vk_submit(g->dev));
    /* anchors are in increasing order in practice, but do not rely on it */
    for (int32_t i = 0; i < n_out; i++) {
        p[i] = G->pos[anchor[i]];
        md[i] = G->mod[anchor[i]];
    }
    memcpy(G->pos, p, (size_t)n_out * sizeof *p);
    memcpy(G->mod, md, (size_t)n_out);
    G->len = n_out;
fail:
    vk_cancel(g->dev);
    free(p);
    free(md);
    return st;
}

vlkv_status vk_llama_kv_merge_src(struct vk_llama *g, int32_t il, const int32_t *keep, int32_t n_keep,
                                  const int32_t *src_off, const int32_t *src) {
    vlkv_status st = VLKV_OK;
    int32_t *list = NULL;
    VLKV_CHECK(il >= 0 && il < g->m->hp.n_layer, VLKV_ERR_INVALID_ARG, "vulkan: layer %d", il);
    struct vk_llama_layer *G = &g->layers[il];
    VLKV_CHECK(n_keep >= 0 && n_keep <= G->len, VLKV_ERR_INVALID_ARG, "vulkan: merge into %d of %d slots", n_keep,
               G->len);
    const int32_t n_src = n_keep > 0 ? src_off[n_keep] : 0;
    const size_t n_int = (size_t)n_keep + 1 + (size_t)n_keep + (size_t)VLKV_MAX(n_src, 0);
    VLKV_CHECK(src_off[0] == 0 && n_int <= (size_t)g->n_ctx * 4 + 4, VLKV_ERR_INVALID_ARG,
               "vulkan: merge of %d slots from %d sources does not fit the index buffer", n_keep, n_src);
    list = malloc(n_int * sizeof *list);
    VLKV_CHECK(list, VLKV_ERR_OOM, "vulkan: out of memory");
    /* off[i] | list: keep[i] then its sources */
    const int32_t list0 = n_keep + 1;
    int32_t w = 0;
    for (int32_t i = 0; i < n_keep; i++) {
        VLKV_CHECK(keep[i] >= 0 && keep[i] < G->len && (i == 0 || keep[i] > keep[i - 1]) &&
                       src_off[i + 1] >= src_off[i],
                   VLKV_ERR_INVALID_ARG, "vulkan: merge keep list must be strictly increasing slots < %d", G->len);
        list[i] = w;
        list[list0 + w++] = keep[i];
        for (int32_t s = src_off[i]; s < src_off[i + 1]; s++) {
            VLKV_CHECK(src[s] >= 0 && src[s] < G->len, VLKV_ERR_INVALID_ARG, "vulkan: merge source %d of %d slots",
                       src[s], G->len);
            list[list0 + w++] = src[s];
        }
    }
    list[n_keep] = w;
    const uint32_t row_elems = (uint32_t)(g->m->hp.n_head_kv * g->m->hp.d_head);
    VLKV_TRY(run_idx(g, list, (size_t)(list0 + w)));
    VLKV_TRY(begin_seq(g));
    VLKV_TRY(vk_op_kv_merge_list(g->dev, (enum vlkv_type)g->kv_type, vk_ref_of(&G->k), vk_ref_of(&g->idx),
                                 vk_ref_of(&g->kv_scratch), row_elems, (uint32_t)n_keep, (uint32_t)list0));
    VLKV_TRY(vk_op_kv_merge_list(g->dev, (enum vlkv_type)g->kv_type, vk_ref_of(&G->v), vk_ref_of(&g->idx),
                                 vk_ref_of(&g->kv_scratch), row_elems, (uint32_t)n_keep, (uint32_t)list0));
    VLKV_TRY(vk_submit(g->dev));
    for (int32_t i = 0; i < n_keep; i++) {
        G->pos[i] = G->pos[keep[i]];
        G->mod[i] = G->mod[keep[i]];
    }
    G->len = n_keep;
fail:
    vk_cancel(g->dev);
    free(list);
    return st;
}

vlkv_status vk_llama_kv_merge_runs(struct vk_llama *g, int32_t il, const int32_t *anchor, const int32_t *run_b,
                                   const int32_t *run_e, int32_t n_out) {
    vlkv_status st = VLKV_OK;
    int32_t *seg = malloc((size_t)(n_out > 0 ? n_out : 1) * 2 * sizeof *seg);
    VLKV_CHECK(seg, VLKV_ERR_OOM, "vulkan: out of memory");
    for (int32_t i = 0; i < n_out; i++) {
        VLKV_CHECK(anchor[i] >= run_b[i] && anchor[i] < run_e[i] && (i == 0 || run_b[i] >= run_e[i - 1]),
                   VLKV_ERR_INVALID_ARG, "vulkan: merge run %d [%d, %d) (anchor %d) is not disjoint/increasing", i,
                   run_b[i], run_e[i], anchor[i]);
        seg[2 * i] = run_b[i];
        seg[2 * i + 1] = run_e[i];
    }
    st = vk_llama_kv_merge(g, il, seg, anchor, n_out);
fail:
    free(seg);
    return st;
}
