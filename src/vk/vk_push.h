/* vk_push.h - C twins of the shaders' push-constant blocks (STYLE.md B9). Each struct must match
 * the `layout(push_constant)` block of the named shader member for member (std430: 4-byte
 * scalars, no implicit padding); the _Static_asserts catch a drift in size. */
#ifndef VLKV_VK_PUSH_H
#define VLKV_VK_PUSH_H

#include <stdint.h>

/* matvec.comp: y[c*ldy + y_off + m] = sum_k W[m][k] x[c][k] for m < M, c < n_cols (a weight
 * split over several buffers writes its rows' slice of y: y_off = first row, ldy = all rows). */
struct vk_pc_matvec {
    uint32_t K;        /* elements per weight row (multiple of the type's block size) */
    uint32_t M;        /* weight rows = outputs per column */
    uint32_t n_cols;   /* activation columns (tokens) */
    uint32_t ldy;      /* y row stride in elements (>= y_off + M) */
    uint32_t y_off;
    uint32_t pad0, pad1, pad2;
};
_Static_assert(sizeof(struct vk_pc_matvec) == 32, "matvec push constants");

/* matmul.comp: same contract as matvec (N = n_cols), tiled for many columns. */
struct vk_pc_matmul {
    uint32_t K, M, N, ldy;
    uint32_t y_off, pad0, pad1, pad2;
};
_Static_assert(sizeof(struct vk_pc_matmul) == 32, "matmul push constants");

/* get_rows.comp: out[r][k] = W[ids[r] - row0][k] for ids in [row0, row0 + n_src_rows); other
 * rows are left untouched (they belong to another part of a split weight). */
struct vk_pc_get_rows {
    uint32_t K, n_rows, n_src_rows, row0;
};
_Static_assert(sizeof(struct vk_pc_get_rows) == 16, "get_rows push constants");

/* rmsnorm.comp / layernorm.comp: one workgroup per row. */
struct vk_pc_norm {
    uint32_t n, n_rows;
    float    eps;
    uint32_t pad;
};
_Static_assert(sizeof(struct vk_pc_norm) == 16, "norm push constants");

/* rope_norm.comp: adjacent pairs (2i, 2i+1), theta = pos * freq_scale * base^(-2i/n_rot). */
struct vk_pc_rope {
    uint32_t n_rows, n_head, d_head, n_rot;
    float    freq_base, freq_scale;
    uint32_t pad0, pad1;
};
_Static_assert(sizeof(struct vk_pc_rope) == 32, "rope push constants");

/* eltwise.comp: the op is specialization constant 2; b is indexed i % b_len when b_len > 0
 * (a bias row broadcast over the rows of a), else i. */
struct vk_pc_eltwise {
    uint32_t n, b_len, pad1, pad2;
};
_Static_assert(sizeof(struct vk_pc_eltwise) == 16, "eltwise push constants");

/* attention.comp: query i of n_q sees slots [0, n_kv - n_q + i] (causal) or all n_kv; it reads
 * q row q_row0 + i and writes out/stats row q_row0 + i (prefill runs in query chunks). */
struct vk_pc_attention {
    uint32_t n_q, n_kv, n_head, n_head_kv;
    uint32_t d_head, causal;
    float    scale;
    uint32_t write_stats;
    uint32_t q_row0, pad0, pad1, pad2;
};
_Static_assert(sizeof(struct vk_pc_attention) == 48, "attention push constants");

/* attn_stats.comp: mode 0: out[h*out_ld + j] = sum_{i in [r0,r1), visible} exp(scale q_ih.k_j - lse_ih)
 * (+ cnt[h*out_ld + j] = rows with exp(scale q_ih.k_j - max_ih) < thr when count != 0);
 * mode 1: out[((i-r0)*n_head + h)*out_ld + j] = the probability itself (0 where not visible). */
struct vk_pc_attn_stats {
    uint32_t n_q, n_kv, n_head, n_head_kv;
    uint32_t d_head, r0, r1;
    float    scale;
    uint32_t out_ld, mode, count;
    float    thr;
};
_Static_assert(sizeof(struct vk_pc_attn_stats) == 48, "attn_stats push constants");

/* colsum.comp: out[j] = mul * sum_r in[r][j]. */
struct vk_pc_colsum {
    uint32_t n_rows, n;
    float    mul;
    uint32_t pad;
};
_Static_assert(sizeof(struct vk_pc_colsum) == 16, "colsum push constants");

/* kv_gather.comp: dst[i] = src[idx[i]] (rows of row_words 32-bit words). */
struct vk_pc_kv_gather {
    uint32_t row_words, n_out, pad0, pad1;
};
_Static_assert(sizeof(struct vk_pc_kv_gather) == 16, "kv_gather push constants");

/* kv_merge.comp: dst[i] = mean(src[seg[2i] .. seg[2i+1])) (rows of row_elems). */
struct vk_pc_kv_merge {
    uint32_t row_elems, n_out, pad0, pad1;
};
_Static_assert(sizeof(struct vk_pc_kv_merge) == 16, "kv_merge push constants");

/* kv_merge_list.comp: dst[i] = mean(src[list[off[i] .. off[i+1])]), off = idx[0..n_out], list = idx[list0..]. */
struct vk_pc_kv_merge_list {
    uint32_t row_elems, n_out, list0, pad0;
};
_Static_assert(sizeof(struct vk_pc_kv_merge_list) == 16, "kv_merge_list push constants");

/* cpy_f32_f16.comp: dst[dst_off + i] = f16(src[i]). */
struct vk_pc_cpy {
    uint32_t n, dst_off, pad1, pad2;
};
_Static_assert(sizeof(struct vk_pc_cpy) == 16, "cpy push constants");

#endif /* VLKV_VK_PUSH_H */
