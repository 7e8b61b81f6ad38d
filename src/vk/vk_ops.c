/* vk_ops.c - one recording function per op: validate shapes, fill the push constants
 * (vk_push.h), choose the pipeline variant and the dispatch size. */
#include <math.h>

#include "vk.h"

static uint32_t div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

/* n invocations in workgroups of `wg` as an x*y grid within the device's x limit (shaders use
 * common.glsl's flat_index and bound-check against n) */
static void grid_1d(const struct vk_device *d, uint32_t n, uint32_t wg, uint32_t *gx, uint32_t *gy) {
    const uint32_t groups = div_up(n, wg), lim = VLKV_MIN(d->caps.max_wg_count[0], 65535u);
    *gx = VLKV_MIN(groups, lim);
    *gy = *gx ? div_up(groups, *gx) : 0;
}

struct type_pipes { enum vlkv_type type; enum vk_pipe mv, mv_sg, mm, gr; };
static const struct type_pipes type_pipes[] = {
    {VLKV_TYPE_F32, VK_PIPE_MATVEC_F32, VK_PIPE_MATVEC_SG_F32, VK_PIPE_MATMUL_F32, VK_PIPE_GET_ROWS_F32},
    {VLKV_TYPE_F16, VK_PIPE_MATVEC_F16, VK_PIPE_MATVEC_SG_F16, VK_PIPE_MATMUL_F16, VK_PIPE_GET_ROWS_F16},
    {VLKV_TYPE_Q4_0, VK_PIPE_MATVEC_Q4_0, VK_PIPE_MATVEC_SG_Q4_0, VK_PIPE_MATMUL_Q4_0, VK_PIPE_GET_ROWS_Q4_0},
    {VLKV_TYPE_Q8_0, VK_PIPE_MATVEC_Q8_0, VK_PIPE_MATVEC_SG_Q8_0, VK_PIPE_MATMUL_Q8_0, VK_PIPE_GET_ROWS_Q8_0},
    {VLKV_TYPE_Q4_K, VK_PIPE_MATVEC_Q4_K, VK_PIPE_MATVEC_SG_Q4_K, VK_PIPE_MATMUL_Q4_K, VK_PIPE_GET_ROWS_Q4_K},
    {VLKV_TYPE_Q5_K, VK_PIPE_MATVEC_Q5_K, VK_PIPE_MATVEC_SG_Q5_K, VK_PIPE_MATMUL_Q5_K, VK_PIPE_GET_ROWS_Q5_K},
    {VLKV_TYPE_Q6_K, VK_PIPE_MATVEC_Q6_K, VK_PIPE_MATVEC_SG_Q6_K, VK_PIPE_MATMUL_Q6_K, VK_PIPE_GET_ROWS_Q6_K},
};

static const struct type_pipes *pipes_for(enum vlkv_type t) {
    for (size_t i = 0; i < VLKV_ARRAY_LEN(type_pipes); i++)
        if (type_pipes[i].type == t) return &type_pipes[i];
    return NULL;
}

static uint32_t block_elems(enum vlkv_type t) {
    switch (t) {
    case VLKV_TYPE_F32: case VLKV_TYPE_F16: return 1;
    case VLKV_TYPE_Q4_0: case VLKV_TYPE_Q8_0: return 32;
    default: return 256;
    }
}

int vk_type_supported(enum vlkv_type t) { return pipes_for(t) != NULL; }

static vlkv_status check_type(enum vlkv_type t, uint32_t K) {
    if (!pipes_for(t)) return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: no shader for weight type %d", (int)t);
    if (K % block_elems(t))
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: row length %u is not a multiple of the block size %u", K,
                          block_elems(t));
    return VLKV_OK;
}

static vlkv_status matmul_part(struct vk_device *d, enum vlkv_type type, struct vk_ref W, struct vk_ref x,
                               struct vk_ref y, uint32_t K, uint32_t M, uint32_t n_cols, uint32_t ldy, uint32_t y_off) {
    vlkv_status st = check_type(type, K);
    if (st != VLKV_OK) return st;
    const struct type_pipes *tp = pipes_for(type);
    struct vk_ref refs[3] = {W, x, y};
    if (n_cols <= 8) {
        struct vk_pc_matvec pc = {K, M, n_cols, ldy, y_off, 0, 0, 0};
        return vk_dispatch(d, d->caps.subgroup_arith ? tp->mv_sg : tp->mv, refs, 3, &pc, M, n_cols, 1);
    }
    struct vk_pc_matmul pc = {K, M, n_cols, ldy, y_off, 0, 0, 0};
    return vk_dispatch(d, tp->mm, refs, 3, &pc, div_up(M, 64), div_up(n_cols, 64), 1);
}

static vlkv_status get_rows_part(struct vk_device *d, enum vlkv_type type, struct vk_ref W, uint32_t row0,
                                 uint32_t n_src_rows, struct vk_ref ids, struct vk_ref out, uint32_t K, uint32_t n_rows) {
    vlkv_status st = check_type(type, K);
    if (st != VLKV_OK) return st;
    struct vk_ref refs[3] = {W, ids, out};
    struct vk_pc_get_rows pc = {K, n_rows, n_src_rows, row0};
    return vk_dispatch(d, pipes_for(type)->gr, refs, 3, &pc, div_up(K, 64), n_rows, 1);
}

vlkv_status vk_op_matmul(struct vk_device *d, enum vlkv_type type, struct vk_ref W, struct vk_ref x,
                         struct vk_ref y, uint32_t K, uint32_t M, uint32_t n_cols) {
    return matmul_part(d, type, W, x, y, K, M, n_cols, M, 0);
}

vlkv_status vk_op_get_rows(struct vk_device *d, enum vlkv_type type, struct vk_ref W, uint32_t n_src_rows,
                           struct vk_ref ids, struct vk_ref out, uint32_t K, uint32_t n_rows) {
    return get_rows_part(d, type, W, 0, n_src_rows, ids, out, K, n_rows);
}

vlkv_status vk_op_matmul_w(struct vk_device *d, const struct vk_weight *W, struct vk_ref x, struct vk_ref y,
                           uint32_t n_cols) {
    for (int p = 0; p < W->n_parts; p++) {
        const uint32_t r0 = (uint32_t)p * W->rows_per_part, nr = VLKV_MIN(W->rows_per_part, W->M - r0);
        vlkv_status st = matmul_part(d, W->type, vk_ref_of(&W->parts[p]), x, y, W->K, nr, n_cols, W->M, r0);
        if (st != VLKV_OK) return st;
    }
    return VLKV_OK;
}

vlkv_status vk_op_get_rows_w(struct vk_device *d, const struct vk_weight *W, struct vk_ref ids, struct vk_ref out,
                             uint32_t n_rows) {
    for (int p = 0; p < W->n_parts; p++) {
        const uint32_t r0 = (uint32_t)p * W->rows_per_part, nr = VLKV_MIN(W->rows_per_part, W->M - r0);
        vlkv_status st = get_rows_part(d, W->type, vk_ref_of(&W->parts[p]), r0, nr, ids, out, W->K, n_rows);
        if (st != VLKV_OK) return st;
    }
    return VLKV_OK;
}

vlkv_status vk_op_rmsnorm(struct vk_device *d, struct vk_ref x, struct vk_ref w, struct vk_ref y,
                          uint32_t n, uint32_t n_rows, float eps) {
    struct vk_ref refs[3] = {x, w, y};
    struct vk_pc_norm pc = {n, n_rows, eps, 0};
    return vk_dispatch(d, VK_PIPE_RMSNORM, refs, 3, &pc, n_rows, 1, 1);
}

vlkv_status vk_op_layernorm(struct vk_device *d, struct vk_ref x, struct vk_ref w, struct vk_ref b,
                            struct vk_ref y, uint32_t n, uint32_t n_rows, float eps) {
    struct vk_ref refs[4] = {x, w, b, y};
    struct vk_pc_norm pc = {n, n_rows, eps, 0};
    return vk_dispatch(d, VK_PIPE_LAYERNORM, refs, 4, &pc, n_rows, 1, 1);
}

vlkv_status vk_op_rope_norm(struct vk_device *d, struct vk_ref x, struct vk_ref pos, uint32_t n_rows,
                            uint32_t n_head, uint32_t d_head, uint32_t n_rot, float freq_base, float freq_scale) {
    if (d_head % 2 || n_rot % 2 || n_rot > d_head)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: rope needs even d_head/n_rot with n_rot <= d_head");
    struct vk_ref refs[2] = {x, pos};
    struct vk_pc_rope pc = {n_rows, n_head, d_head, n_rot, freq_base, freq_scale, 0, 0};
    uint32_t gx, gy;
    grid_1d(d, n_rows * n_head * (d_head / 2), 64, &gx, &gy);
    return vk_dispatch(d, VK_PIPE_ROPE_NORM, refs, 2, &pc, gx, gy, 1);
}

static vlkv_status eltwise(struct vk_device *d, enum vk_pipe p, struct vk_ref a, struct vk_ref b, struct vk_ref o,
                           uint32_t n, uint32_t b_len) {
    struct vk_ref refs[3] = {a, b, o};
    struct vk_pc_eltwise pc = {n, b_len, 0, 0};
    uint32_t gx, gy;
    grid_1d(d, n, 256, &gx, &gy);
    return vk_dispatch(d, p, refs, 3, &pc, gx, gy, 1);
}

vlkv_status vk_op_add(struct vk_device *d, struct vk_ref y, struct vk_ref x, uint32_t n) {
    return eltwise(d, VK_PIPE_ADD, y, x, y, n, 0);
}

vlkv_status vk_op_add_row(struct vk_device *d, struct vk_ref y, struct vk_ref row, uint32_t n, uint32_t row_len) {
    if (row_len == 0 || n % row_len) return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: add_row: %u %% %u != 0", n, row_len);
    return eltwise(d, VK_PIPE_ADD, y, row, y, n, row_len);
}

vlkv_status vk_op_silu_mul(struct vk_device *d, struct vk_ref g, struct vk_ref u, struct vk_ref y, uint32_t n) {
    return eltwise(d, VK_PIPE_SILU_MUL, g, u, y, n, 0);
}

vlkv_status vk_op_gelu(struct vk_device *d, enum vk_gelu kind, struct vk_ref x, uint32_t n) {
    enum vk_pipe p = kind == VK_GELU_ERF ? VK_PIPE_GELU_ERF : kind == VK_GELU_TANH ? VK_PIPE_GELU_TANH : VK_PIPE_GELU_QUICK;
    return eltwise(d, p, x, x, x, n, 0);
}

static vlkv_status check_attn(enum vlkv_type kv_type, uint32_t n_q, uint32_t n_kv, uint32_t n_head,
                              uint32_t n_head_kv, uint32_t d_head) {
    if (kv_type != VLKV_TYPE_F16 && kv_type != VLKV_TYPE_F32)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: K/V must be F16 or F32");
    if (d_head == 0 || d_head > 256 || n_head_kv == 0 || n_head % n_head_kv || n_q > n_kv || n_q == 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG,
                          "vulkan: bad attention shape (n_q %u, n_kv %u, n_head %u, n_head_kv %u, d_head %u)", n_q,
                          n_kv, n_head, n_head_kv, d_head);
    return VLKV_OK;
}

vlkv_status vk_op_attention(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref q, struct vk_ref k,
                            struct vk_ref v, struct vk_ref out, struct vk_ref scores, struct vk_ref stats,
                            uint32_t n_q, uint32_t n_kv, uint32_t n_head, uint32_t n_head_kv, uint32_t d_head,
                            int causal) {
    vlkv_status st = check_attn(kv_type, n_q, n_kv, n_head, n_head_kv, d_head);
    if (st != VLKV_OK) return st;
    const uint32_t write_stats = stats.b != NULL;
    if (!write_stats) stats = q;   /* bound but never written */
    /* query chunks whose probabilities fit the scores scratch */
    const size_t scores_bytes = scores.size ? scores.size : (size_t)scores.b->size - scores.off;
    const size_t row_bytes = (size_t)n_head * n_kv * sizeof(float);
    const uint32_t chunk = (uint32_t)VLKV_MIN((size_t)n_q, scores_bytes / row_bytes);
    if (chunk == 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: attention scores scratch of %zu bytes < one query (%zu)",
                          scores_bytes, row_bytes);
    struct vk_ref refs[6] = {q, k, v, out, scores, stats};
    for (uint32_t c0 = 0; c0 < n_q; c0 += chunk) {
        const uint32_t c1 = VLKV_MIN(n_q, c0 + chunk);
        struct vk_pc_attention pc = {c1 - c0, causal ? n_kv - n_q + c1 : n_kv, n_head, n_head_kv, d_head,
                                     causal ? 1u : 0u, 1.0f / sqrtf((float)d_head), write_stats, c0, 0, 0, 0};
        st = vk_dispatch(d, kv_type == VLKV_TYPE_F16 ? VK_PIPE_ATTN_F16 : VK_PIPE_ATTN_F32, refs, 6, &pc, c1 - c0,
                         n_head, 1);
        if (st != VLKV_OK) return st;
    }
    return VLKV_OK;
}

vlkv_status vk_op_attn_stats(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref q, struct vk_ref k,
                             struct vk_ref stats, struct vk_ref per_head, struct vk_ref col,
                             uint32_t n_q, uint32_t n_kv, uint32_t n_head, uint32_t n_head_kv, uint32_t d_head,
                             uint32_t r0, uint32_t r1) {
    vlkv_status st = check_attn(kv_type, n_q, n_kv, n_head, n_head_kv, d_head);
    if (st != VLKV_OK) return st;
    if (r0 > r1 || r1 > n_q) return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: attn_stats rows [%u, %u) of %u", r0, r1, n_q);
    struct vk_ref refs[5] = {q, k, stats, per_head, per_head};
    struct vk_pc_attn_stats pc = {n_q, n_kv, n_head, n_head_kv, d_head, r0, r1, 1.0f / sqrtf((float)d_head),
                                  n_kv, 0, 0, 0.0f};
    st = vk_dispatch(d, kv_type == VLKV_TYPE_F16 ? VK_PIPE_ATTN_STATS_F16 : VK_PIPE_ATTN_STATS_F32, refs, 5, &pc,
                     div_up(n_kv, 64), n_head, 1);
    if (st != VLKV_OK) return st;
    struct vk_ref refs2[2] = {per_head, col};
    struct vk_pc_colsum pc2 = {n_head, n_kv, 1.0f / (float)n_head, 0};
    return vk_dispatch(d, VK_PIPE_COLSUM, refs2, 2, &pc2, div_up(n_kv, 64), 1, 1);
}

vlkv_status vk_op_attn_head_stats(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref q, struct vk_ref k,
                                  struct vk_ref stats, struct vk_ref out, struct vk_ref cnt, uint32_t n_q, uint32_t n_kv,
                                  uint32_t n_head, uint32_t n_head_kv, uint32_t d_head, uint32_t r0, uint32_t r1,
                                  uint32_t out_ld, int rows, float thr) {
    vlkv_status st = check_attn(kv_type, n_q, n_kv, n_head, n_head_kv, d_head);
    if (st != VLKV_OK) return st;
    if (r0 > r1 || r1 > n_q || out_ld < n_kv)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: attn_stats rows [%u, %u) of %u, out_ld %u < %u slots", r0, r1,
                          n_q, out_ld, n_kv);
    const uint32_t count = !rows && cnt.b != NULL;
    struct vk_ref refs[5] = {q, k, stats, out, count ? cnt : out};
    struct vk_pc_attn_stats pc = {n_q, n_kv, n_head, n_head_kv, d_head, r0, r1, 1.0f / sqrtf((float)d_head),
                                  out_ld, rows ? 1u : 0u, count, thr};
    return vk_dispatch(d, kv_type == VLKV_TYPE_F16 ? VK_PIPE_ATTN_STATS_F16 : VK_PIPE_ATTN_STATS_F32, refs, 5, &pc,
                       div_up(n_kv, 64), n_head, 1);
}

vlkv_status vk_op_cpy_f32_f16(struct vk_device *d, struct vk_ref src, struct vk_ref dst, uint32_t dst_off, uint32_t n) {
    struct vk_ref refs[2] = {src, dst};
    struct vk_pc_cpy pc = {n, dst_off, 0, 0};
    uint32_t gx, gy;
    grid_1d(d, n, 256, &gx, &gy);
    return vk_dispatch(d, VK_PIPE_CPY_F32_F16, refs, 2, &pc, gx, gy, 1);
}

vlkv_status vk_op_kv_compact(struct vk_device *d, struct vk_ref rows, struct vk_ref keep, struct vk_ref scratch,
                             uint32_t row_bytes, uint32_t n_keep) {
    vlkv_status st = VLKV_OK;
    if (row_bytes % 4) return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: KV row of %u bytes is not a multiple of 4", row_bytes);
    if (n_keep == 0) return VLKV_OK;
    struct vk_ref refs[3] = {rows, keep, scratch};
    struct vk_pc_kv_gather pc = {row_bytes / 4, n_keep, 0, 0};
    VLKV_TRY(vk_dispatch(d, VK_PIPE_KV_GATHER, refs, 3, &pc, div_up(row_bytes / 4, 64), n_keep, 1));
    VLKV_TRY(vk_copy(d, rows, scratch, (size_t)row_bytes * n_keep));
fail:
    return st;
}

vlkv_status vk_op_kv_merge(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref rows, struct vk_ref seg,
                           struct vk_ref scratch, uint32_t row_elems, uint32_t n_out) {
    vlkv_status st = VLKV_OK;
    if (kv_type != VLKV_TYPE_F16 && kv_type != VLKV_TYPE_F32)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: K/V must be F16 or F32");
    if (n_out == 0) return VLKV_OK;
    struct vk_ref refs[3] = {rows, seg, scratch};
    struct vk_pc_kv_merge pc = {row_elems, n_out, 0, 0};
    VLKV_TRY(vk_dispatch(d, kv_type == VLKV_TYPE_F16 ? VK_PIPE_KV_MERGE_F16 : VK_PIPE_KV_MERGE_F32, refs, 3, &pc,
                         div_up(row_elems, 64), n_out, 1));
    VLKV_TRY(vk_copy(d, rows, scratch, (size_t)row_elems * n_out * (kv_type == VLKV_TYPE_F16 ? 2 : 4)));
fail:
    return st;
}

vlkv_status vk_op_kv_merge_list(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref rows, struct vk_ref idx,
                                struct vk_ref scratch, uint32_t row_elems, uint32_t n_out, uint32_t list0) {
    vlkv_status st = VLKV_OK;
    if (kv_type != VLKV_TYPE_F16 && kv_type != VLKV_TYPE_F32)
        return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: K/V must be F16 or F32");
    if (n_out == 0) return VLKV_OK;
    struct vk_ref refs[3] = {rows, idx, scratch};
    struct vk_pc_kv_merge_list pc = {row_elems, n_out, list0, 0};
    VLKV_TRY(vk_dispatch(d, kv_type == VLKV_TYPE_F16 ? VK_PIPE_KV_MERGE_LIST_F16 : VK_PIPE_KV_MERGE_LIST_F32, refs, 3,
                         &pc, div_up(row_elems, 64), n_out, 1));
    VLKV_TRY(vk_copy(d, rows, scratch, (size_t)row_elems * n_out * (kv_type == VLKV_TYPE_F16 ? 2 : 4)));
fail:
    return st;
}

vlkv_status vk_op_kv_remove(struct vk_device *d, struct vk_ref rows, struct vk_ref scratch, uint32_t row_bytes,
                            uint32_t idx, uint32_t len) {
    vlkv_status st = VLKV_OK;
    if (idx >= len) return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: remove slot %u of %u", idx, len);
    size_t n = (size_t)row_bytes * (len - idx - 1);
    if (n == 0) return VLKV_OK;
    struct vk_ref tail = {rows.b, rows.off + (size_t)row_bytes * (idx + 1), 0};
    struct vk_ref at = {rows.b, rows.off + (size_t)row_bytes * idx, 0};
    VLKV_TRY(vk_copy(d, scratch, tail, n));
    VLKV_TRY(vk_copy(d, at, scratch, n));
fail:
    return st;
}
