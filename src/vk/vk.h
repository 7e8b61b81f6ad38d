/* vk.h - the Vulkan backend (STYLE.md B9, formats.md §6): plain C over vulkan.h.
 *
 *   vk_device.c   instance (Vulkan 1.2), physical-device probing, selection, logical device,
 *                 queue, command pool, descriptor set layout/pool, one-shot submission
 *   vk_buffer.c   buffers: device-local (+ staging copies) or host-visible (UMA / CPU devices)
 *   vk_pipeline.c compute pipelines from the embedded SPIR-V (vk_spv.h), created lazily, with
 *                 specialization constants for the workgroup size and op variants
 *   vk_ops.c      one recording function per op (the decoder's / ViT's / KV cache's ops)
 *   vk_llama.c    the LLaMA decoder forward with the device-resident KV cache, per-head attention
 *                 statistics for the KV policies, and device KV rewriting (vk_llama.h)
 *   vk_clip.c     the CLIP ViT + MLP projector (vk_clip.h)
 * context.c drives both when a context is created with backend VLKV_BACKEND_VULKAN.
 *
 * Usage: vk_device_open() once; upload weights with vk_buffer_create() + vk_buffer_write();
 * per forward: vk_begin(), record ops (each inserts the barrier it needs), vk_submit() (waits).
 * Device selection: an explicit index (--device N / VLKV_VK_DEVICE=N) picks any usable device,
 * a CPU implementation (lavapipe) included; automatic selection picks a discrete, then an
 * integrated, then a virtual GPU and never a CPU device (ggml PR #14099).
 *
 * Environment: VLKV_VK_DEVICE=N (device index, as listed by `vlkv devices`),
 * VLKV_VK_DISABLE_SUBGROUP=1 (shared-memory reductions only; a driver triage switch),
 * VLKV_VK_MAX_BINDING=BYTES (pretend a smaller maxStorageBufferRange; tests weight splitting).
 * A struct vk_device is used by one thread at a time. All shader math is fp32 (f16 data is read
 * through 16-bit storage), so fp16 arithmetic support is reported but not required. */
#ifndef VLKV_VK_H
#define VLKV_VK_H

#include <stddef.h>
#include <stdint.h>

#include <vulkan/vulkan.h>

#include "internal.h"
#include "types.h"
#include "vk_push.h"

#define VK_MAX_DEVICES   16
#define VK_MAX_BINDINGS  8     /* storage buffers in the one descriptor set layout */
#define VK_DSETS_PER_POOL 512  /* descriptor sets per submission before an automatic flush */

/* What vk_list_devices() finds out about one physical device (no logical device needed). */
struct vk_device_caps {
    int      index;                         /* in vkEnumeratePhysicalDevices order */
    char     name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    char     driver[VK_MAX_DRIVER_NAME_SIZE];
    char     driver_info[VK_MAX_DRIVER_INFO_SIZE];
    VkPhysicalDeviceType type;
    uint32_t api_version;
    uint32_t vendor_id, device_id;
    int      usable;                        /* 1.2+, 16-bit storage, a compute queue */
    char     why_unusable[128];
    uint32_t compute_family;
    /* features */
    int      storage16;                     /* storageBuffer16BitAccess (required) */
    int      storage8;                      /* storageBuffer8BitAccess */
    int      fp16;                          /* shaderFloat16 (fp16 arithmetic) */
    int      int_dot;                       /* 4x8-bit packed signed dot product accelerated */
    uint32_t subgroup_size;
    int      subgroup_arith;                /* subgroupAdd etc. in compute shaders (VLKV_VK_DISABLE_SUBGROUP=1: off) */
    int      subgroup_shuffle;
    int      subgroup_size_control;
    uint32_t subgroup_min, subgroup_max;
    /* limits */
    uint32_t shared_mem;                    /* maxComputeSharedMemorySize */
    uint32_t max_wg_invocations;
    uint32_t max_wg_count[3];
    uint32_t max_push;                      /* maxPushConstantsSize */
    uint64_t min_sbuf_align;                /* minStorageBufferOffsetAlignment */
    uint64_t max_sbuf_range;                /* maxStorageBufferRange: bytes one binding can see */
    uint64_t max_alloc;                     /* maxMemoryAllocationSize */
    uint64_t device_local_bytes;            /* largest DEVICE_LOCAL heap */
    int      uma;                           /* integrated GPU or CPU: device memory is host memory */
};

const char *vk_device_type_name(VkPhysicalDeviceType t);   /* "discrete", "integrated", "cpu", ... */

/* Probe every physical device into out[0..*n) (at most max). VLKV_ERR_BACKEND (with a message)
 * when there is no Vulkan loader/driver or no Vulkan 1.2 instance. */
vlkv_status vk_list_devices(struct vk_device_caps *out, int max, int *n);

/* Resolve a device index: requested >= 0 takes that device (any type; a CPU device is logged
 * as slow); requested < 0 reads VLKV_VK_DEVICE, else picks the best GPU. VLKV_ERR_UNSUPPORTED
 * with a message naming the alternatives when no usable device qualifies. */
vlkv_status vk_select_device(const struct vk_device_caps *devs, int n, int requested, int *index);

struct vk_pipeline {
    VkPipelineLayout layout;
    VkPipeline       pipeline;
    uint32_t         n_bindings;
    uint32_t         push_size;
    uint32_t         wg[3];                 /* workgroup size (from specialization constants) */
};

/* Pipelines by op (and weight type); see the table in vk_pipeline.c. */
enum vk_pipe {
    VK_PIPE_MATVEC_F32, VK_PIPE_MATVEC_F16, VK_PIPE_MATVEC_Q4_0, VK_PIPE_MATVEC_Q8_0,
    VK_PIPE_MATVEC_Q4_K, VK_PIPE_MATVEC_Q5_K, VK_PIPE_MATVEC_Q6_K,
    VK_PIPE_MATVEC_SG_F32, VK_PIPE_MATVEC_SG_F16, VK_PIPE_MATVEC_SG_Q4_0, VK_PIPE_MATVEC_SG_Q8_0,   /* subgroupAdd */
    VK_PIPE_MATVEC_SG_Q4_K, VK_PIPE_MATVEC_SG_Q5_K, VK_PIPE_MATVEC_SG_Q6_K,
    VK_PIPE_MATMUL_F32, VK_PIPE_MATMUL_F16, VK_PIPE_MATMUL_Q4_0, VK_PIPE_MATMUL_Q8_0,
    VK_PIPE_MATMUL_Q4_K, VK_PIPE_MATMUL_Q5_K, VK_PIPE_MATMUL_Q6_K,
    VK_PIPE_GET_ROWS_F32, VK_PIPE_GET_ROWS_F16, VK_PIPE_GET_ROWS_Q4_0, VK_PIPE_GET_ROWS_Q8_0,
    VK_PIPE_GET_ROWS_Q4_K, VK_PIPE_GET_ROWS_Q5_K, VK_PIPE_GET_ROWS_Q6_K,
    VK_PIPE_RMSNORM, VK_PIPE_LAYERNORM, VK_PIPE_ROPE_NORM,
    VK_PIPE_ADD, VK_PIPE_SILU_MUL, VK_PIPE_GELU_ERF, VK_PIPE_GELU_TANH, VK_PIPE_GELU_QUICK,
    VK_PIPE_ATTN_F16, VK_PIPE_ATTN_F32, VK_PIPE_ATTN_STATS_F16, VK_PIPE_ATTN_STATS_F32,
    VK_PIPE_COLSUM, VK_PIPE_KV_GATHER, VK_PIPE_KV_MERGE_F16, VK_PIPE_KV_MERGE_F32,
    VK_PIPE_KV_MERGE_LIST_F16, VK_PIPE_KV_MERGE_LIST_F32,
    VK_PIPE_CPY_F32_F16,
    VK_PIPE_COUNT
};

struct vk_buffer {
    VkBuffer       buf;
    VkDeviceMemory mem;
    VkDeviceSize   size;
    void          *mapped;                  /* non-NULL when host-visible (persistently mapped) */
};

struct vk_device {
    struct vk_device_caps caps;
    VkInstance            instance;
    VkPhysicalDevice      phys;
    VkDevice              dev;
    VkQueue               queue;
    VkPhysicalDeviceMemoryProperties memprops;
    VkCommandPool         cmd_pool;
    VkCommandBuffer       cmd;              /* the recording sequence */
    VkCommandBuffer       xfer_cmd;         /* one-shot staging copies */
    VkFence               fence;
    VkDescriptorSetLayout dsl;
    VkDescriptorPool      dpool;
    uint32_t              dsets_used;
    VkPipelineCache       pcache;
    struct vk_pipeline    pipes[VK_PIPE_COUNT];   /* created on first use */
    int                   recording;
    int                   n_cmds;           /* commands recorded since vk_begin (for barriers) */
    uint64_t              n_dispatches;     /* statistics */
    uint64_t              bytes_alloc;      /* device memory held by buffers now (vk_buffer.c) */
    uint64_t              bytes_peak;       /* its maximum since the device was opened */
};

/* Open device `requested` (see vk_select_device). *out is freed with vk_device_close. */
vlkv_status vk_device_open(int requested, struct vk_device **out);
void        vk_device_close(struct vk_device *d);

/* ---- buffers (vk_buffer.c) ---- */
enum vk_mem_kind {
    VK_MEM_DEVICE,   /* device-local; host-visible if the device is UMA (lavapipe, iGPU) or ReBAR */
    VK_MEM_HOST      /* host-visible, coherent (staging / read-back) */
};
vlkv_status vk_buffer_create(struct vk_device *d, size_t size, enum vk_mem_kind kind, struct vk_buffer *b);
void        vk_buffer_destroy(struct vk_device *d, struct vk_buffer *b);
/* Synchronous copies between host memory and a buffer (mapped memcpy or a staging buffer).
 * Not allowed while a sequence is being recorded (they would run before it). */
vlkv_status vk_buffer_write(struct vk_device *d, struct vk_buffer *b, size_t off, const void *src, size_t n);
vlkv_status vk_buffer_read(struct vk_device *d, const struct vk_buffer *b, size_t off, void *dst, size_t n);
/* Copy between two buffers now, synchronously, on the side command buffer (vk_device.c). */
vlkv_status vk_copy_now(struct vk_device *d, VkBuffer dst, size_t dst_off, VkBuffer src, size_t src_off, size_t n);

/* A byte range of a buffer bound to one shader binding. off must be a multiple of the
 * device's minStorageBufferOffsetAlignment; size 0 = to the end of the buffer. */
struct vk_ref {
    const struct vk_buffer *b;
    size_t off;
    size_t size;
};
static inline struct vk_ref vk_ref_of(const struct vk_buffer *b) { struct vk_ref r = {b, 0, 0}; return r; }
static inline struct vk_ref vk_ref_at(const struct vk_buffer *b, size_t off, size_t size) {
    struct vk_ref r = {b, off, size};
    return r;
}

/* ---- pipelines (vk_pipeline.c) ---- */
vlkv_status vk_pipeline_get(struct vk_device *d, enum vk_pipe p, struct vk_pipeline **out);
void        vk_pipelines_destroy(struct vk_device *d);

/* ---- recording (vk_device.c) ---- */
vlkv_status vk_begin(struct vk_device *d);
/* Submit what was recorded and wait for it. */
vlkv_status vk_submit(struct vk_device *d);
/* Abandon the sequence being recorded (error paths); no-op when not recording. */
void        vk_cancel(struct vk_device *d);
/* Record one dispatch of pipeline p over groups gx*gy*gz with the given bindings and push
 * constants; a compute/transfer barrier precedes it when something was recorded before. */
vlkv_status vk_dispatch(struct vk_device *d, enum vk_pipe p, const struct vk_ref *refs, int n_refs,
                        const void *push, uint32_t gx, uint32_t gy, uint32_t gz);
/* Record a buffer-to-buffer copy (regions must not overlap), with the same barrier rule. */
vlkv_status vk_copy(struct vk_device *d, struct vk_ref dst, struct vk_ref src, size_t n);

/* A weight matrix of M rows x K elements of one type, uploaded as parts of whole rows so that each
 * part fits one storage-buffer binding (maxStorageBufferRange, often 2-4 GiB, 128 MiB on lavapipe)
 * and one allocation: a 32000 x 4096 F16 output matrix is 262 MB (formats.md §6.4, §6.10). */
struct vk_weight {
    enum vlkv_type    type;
    uint32_t          K, M;
    uint32_t          rows_per_part;
    int               n_parts;
    struct vk_buffer *parts;
};
vlkv_status vk_weight_upload(struct vk_device *d, struct vk_weight *w, enum vlkv_type type, uint32_t K, uint32_t M,
                             const void *data);
void        vk_weight_free(struct vk_device *d, struct vk_weight *w);

/* ---- ops (vk_ops.c); all record into the current sequence ---- */
/* Weight types with a matvec/matmul/get_rows shader. */
int vk_type_supported(enum vlkv_type t);
/* y[c][m] = sum_k W[m][k] x[c][k]; W rows are ggml rows of `type`; x [n_cols][K] f32, y [n_cols][M].
 * n_cols <= 8 uses the matvec shader, more uses the tiled matmul. */
vlkv_status vk_op_matmul(struct vk_device *d, enum vlkv_type type, struct vk_ref W, struct vk_ref x,
                         struct vk_ref y, uint32_t K, uint32_t M, uint32_t n_cols);
/* The same over a (possibly split) weight: one dispatch per part. */
vlkv_status vk_op_matmul_w(struct vk_device *d, const struct vk_weight *W, struct vk_ref x, struct vk_ref y,
                           uint32_t n_cols);
vlkv_status vk_op_get_rows_w(struct vk_device *d, const struct vk_weight *W, struct vk_ref ids, struct vk_ref out,
                             uint32_t n_rows);
/* out[r][:] = row ids[r] of W as f32 (embedding lookup; ids are int32 and valid: rows with an id
 * outside [0, n_src_rows) are left unwritten). */
vlkv_status vk_op_get_rows(struct vk_device *d, enum vlkv_type type, struct vk_ref W, uint32_t n_src_rows,
                           struct vk_ref ids, struct vk_ref out, uint32_t K, uint32_t n_rows);
vlkv_status vk_op_rmsnorm(struct vk_device *d, struct vk_ref x, struct vk_ref w, struct vk_ref y,
                          uint32_t n, uint32_t n_rows, float eps);
vlkv_status vk_op_layernorm(struct vk_device *d, struct vk_ref x, struct vk_ref w, struct vk_ref b,
                            struct vk_ref y, uint32_t n, uint32_t n_rows, float eps);
/* In place on x [n_rows][n_head][d_head]; pos: int32 [n_rows]. */
vlkv_status vk_op_rope_norm(struct vk_device *d, struct vk_ref x, struct vk_ref pos, uint32_t n_rows,
                            uint32_t n_head, uint32_t d_head, uint32_t n_rot, float freq_base, float freq_scale);
vlkv_status vk_op_add(struct vk_device *d, struct vk_ref y, struct vk_ref x, uint32_t n);          /* y += x */
/* y[i] += row[i % row_len] (bias of a matmul; n a multiple of row_len) */
vlkv_status vk_op_add_row(struct vk_device *d, struct vk_ref y, struct vk_ref row, uint32_t n, uint32_t row_len);
vlkv_status vk_op_silu_mul(struct vk_device *d, struct vk_ref g, struct vk_ref u, struct vk_ref y, uint32_t n);
enum vk_gelu { VK_GELU_ERF, VK_GELU_TANH, VK_GELU_QUICK };
vlkv_status vk_op_gelu(struct vk_device *d, enum vk_gelu kind, struct vk_ref x, uint32_t n);       /* in place */
/* Attention of n_q queries over the first n_kv slots of K/V ([slot][n_head_kv*d_head], F16 or
 * F32): causal means query i sees slots [0, n_kv - n_q + i]. q, out: [n_q][n_head*d_head] f32.
 * scores: scratch of at least n_head*n_kv floats; queries run in chunks of as many rows as it
 * holds (n_q*n_head*n_kv floats = one dispatch). stats (may have b == NULL): [n_q][n_head][2] f32
 * = (row max of the scaled logits, log-sum-exp) for vk_op_attn_stats. */
vlkv_status vk_op_attention(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref q, struct vk_ref k,
                            struct vk_ref v, struct vk_ref out, struct vk_ref scores, struct vk_ref stats,
                            uint32_t n_q, uint32_t n_kv, uint32_t n_head, uint32_t n_head_kv, uint32_t d_head,
                            int causal);
/* Pass 2 of kv-lvlm-methods.md §1.1: col[j] = (1/n_head) sum_h sum_{i in [r0,r1)} A_h[i][j] with
 * A recomputed from q, K and the saved log-sum-exp (stats of vk_op_attention). per_head: scratch
 * of n_head*n_kv floats (holds the per-head sums afterwards). */
vlkv_status vk_op_attn_stats(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref q, struct vk_ref k,
                             struct vk_ref stats, struct vk_ref per_head, struct vk_ref col,
                             uint32_t n_q, uint32_t n_kv, uint32_t n_head, uint32_t n_head_kv, uint32_t d_head,
                             uint32_t r0, uint32_t r1);
/* The per-head forms behind the KV policies' statistics (same recomputation as vk_op_attn_stats).
 * mode 0: out[h*out_ld + j] = sum over the rows [r0, r1) that see slot j of p_ih[j]; cnt (b may be
 * NULL) gets, per (h, j), the rows with p_ih[j] < thr * max_j' p_ih[j'] (uint32). mode 1: out[((i -
 * r0)*n_head + h)*out_ld + j] = p_ih[j], 0 where slot j is not visible (the rows themselves).
 * out_ld >= n_kv. */
vlkv_status vk_op_attn_head_stats(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref q, struct vk_ref k,
                                  struct vk_ref stats, struct vk_ref out, struct vk_ref cnt, uint32_t n_q, uint32_t n_kv,
                                  uint32_t n_head, uint32_t n_head_kv, uint32_t d_head, uint32_t r0, uint32_t r1,
                                  uint32_t out_ld, int rows, float thr);
/* dst[dst_off + i] = f16(src[i]) for i < n (KV append: dst_off = first slot * row elements). */
vlkv_status vk_op_cpy_f32_f16(struct vk_device *d, struct vk_ref src, struct vk_ref dst, uint32_t dst_off, uint32_t n);
/* KV compaction in place: rows keep[0..n_keep) (int32, strictly increasing) of `rows` (row_bytes
 * each, a multiple of 4) move to slots 0..n_keep-1. scratch: >= n_keep*row_bytes. */
vlkv_status vk_op_kv_compact(struct vk_device *d, struct vk_ref rows, struct vk_ref keep, struct vk_ref scratch,
                             uint32_t row_bytes, uint32_t n_keep);
/* Segment-mean merge in place: slot i becomes the mean of rows [seg[2i], seg[2i+1]) (int32
 * pairs, non-empty; F16 rows are averaged in f32 and rounded once). scratch >= n_out rows. */
vlkv_status vk_op_kv_merge(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref rows, struct vk_ref seg,
                           struct vk_ref scratch, uint32_t row_elems, uint32_t n_out);
/* General merge in place: slot i becomes the mean of the rows list[off[i] .. off[i+1]) with
 * off = idx[0 .. n_out] and list = idx[list0 ..] (int32; a row may appear several times and
 * counts each time). scratch >= n_out rows. */
vlkv_status vk_op_kv_merge_list(struct vk_device *d, enum vlkv_type kv_type, struct vk_ref rows, struct vk_ref idx,
                                struct vk_ref scratch, uint32_t row_elems, uint32_t n_out, uint32_t list0);
/* FIFO eviction: remove slot idx of len slots, later slots shift left by one. */
vlkv_status vk_op_kv_remove(struct vk_device *d, struct vk_ref rows, struct vk_ref scratch, uint32_t row_bytes,
                            uint32_t idx, uint32_t len);

#endif /* VLKV_VK_H */
