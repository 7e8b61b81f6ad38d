/* vk_pipeline.c - compute pipelines from the embedded SPIR-V, created lazily on first use.
 * Specialization constants: id 0 = workgroup size x, id 1 = workgroup size y, id 2 = the op
 * variant of shaders that serve several ops (eltwise). Push-constant sizes come from vk_push.h. */
#include <string.h>

#include "vk.h"
#include "vk_spv.h"

struct pipe_desc {
    const char *spv;         /* module name in vk_spv_table */
    uint32_t    n_bindings;
    uint32_t    push_size;
    uint32_t    wg_x, wg_y;
    uint32_t    variant;     /* specialization constant 2 */
};

#define MV(t) {"matvec_" t, 3, sizeof(struct vk_pc_matvec), 64, 1, 0}
#define MVS(t) {"matvec_" t "_sg", 3, sizeof(struct vk_pc_matvec), 64, 1, 0}
#define MM(t) {"matmul_" t, 3, sizeof(struct vk_pc_matmul), 16, 16, 0}
#define GR(t) {"get_rows_" t, 3, sizeof(struct vk_pc_get_rows), 64, 1, 0}

static const struct pipe_desc pipe_descs[VK_PIPE_COUNT] = {
    [VK_PIPE_MATVEC_F32] = MV("f32"),   [VK_PIPE_MATVEC_F16] = MV("f16"),   [VK_PIPE_MATVEC_Q4_0] = MV("q4_0"),
    [VK_PIPE_MATVEC_Q8_0] = MV("q8_0"), [VK_PIPE_MATVEC_Q4_K] = MV("q4_K"), [VK_PIPE_MATVEC_Q5_K] = MV("q5_K"),
    [VK_PIPE_MATVEC_Q6_K] = MV("q6_K"),
    [VK_PIPE_MATVEC_SG_F32] = MVS("f32"),   [VK_PIPE_MATVEC_SG_F16] = MVS("f16"),   [VK_PIPE_MATVEC_SG_Q4_0] = MVS("q4_0"),
    [VK_PIPE_MATVEC_SG_Q8_0] = MVS("q8_0"), [VK_PIPE_MATVEC_SG_Q4_K] = MVS("q4_K"), [VK_PIPE_MATVEC_SG_Q5_K] = MVS("q5_K"),
    [VK_PIPE_MATVEC_SG_Q6_K] = MVS("q6_K"),
    [VK_PIPE_MATMUL_F32] = MM("f32"),   [VK_PIPE_MATMUL_F16] = MM("f16"),   [VK_PIPE_MATMUL_Q4_0] = MM("q4_0"),
    [VK_PIPE_MATMUL_Q8_0] = MM("q8_0"), [VK_PIPE_MATMUL_Q4_K] = MM("q4_K"), [VK_PIPE_MATMUL_Q5_K] = MM("q5_K"),
    [VK_PIPE_MATMUL_Q6_K] = MM("q6_K"),
    [VK_PIPE_GET_ROWS_F32] = GR("f32"),   [VK_PIPE_GET_ROWS_F16] = GR("f16"),   [VK_PIPE_GET_ROWS_Q4_0] = GR("q4_0"),
    [VK_PIPE_GET_ROWS_Q8_0] = GR("q8_0"), [VK_PIPE_GET_ROWS_Q4_K] = GR("q4_K"), [VK_PIPE_GET_ROWS_Q5_K] = GR("q5_K"),
    [VK_PIPE_GET_ROWS_Q6_K] = GR("q6_K"),
    [VK_PIPE_RMSNORM] = {"rmsnorm", 3, sizeof(struct vk_pc_norm), 128, 1, 0},
    [VK_PIPE_LAYERNORM] = {"layernorm", 4, sizeof(struct vk_pc_norm), 128, 1, 0},
    [VK_PIPE_ROPE_NORM] = {"rope_norm", 2, sizeof(struct vk_pc_rope), 64, 1, 0},
    [VK_PIPE_ADD] = {"eltwise", 3, sizeof(struct vk_pc_eltwise), 256, 1, 0},
    [VK_PIPE_SILU_MUL] = {"eltwise", 3, sizeof(struct vk_pc_eltwise), 256, 1, 1},
    [VK_PIPE_GELU_ERF] = {"eltwise", 3, sizeof(struct vk_pc_eltwise), 256, 1, 2},
    [VK_PIPE_GELU_TANH] = {"eltwise", 3, sizeof(struct vk_pc_eltwise), 256, 1, 3},
    [VK_PIPE_GELU_QUICK] = {"eltwise", 3, sizeof(struct vk_pc_eltwise), 256, 1, 4},
    [VK_PIPE_ATTN_F16] = {"attention_f16", 6, sizeof(struct vk_pc_attention), 64, 1, 0},
    [VK_PIPE_ATTN_F32] = {"attention_f32", 6, sizeof(struct vk_pc_attention), 64, 1, 0},
    [VK_PIPE_ATTN_STATS_F16] = {"attn_stats_f16", 5, sizeof(struct vk_pc_attn_stats), 64, 1, 0},
    [VK_PIPE_ATTN_STATS_F32] = {"attn_stats_f32", 5, sizeof(struct vk_pc_attn_stats), 64, 1, 0},
    [VK_PIPE_COLSUM] = {"colsum", 2, sizeof(struct vk_pc_colsum), 64, 1, 0},
    [VK_PIPE_KV_GATHER] = {"kv_gather", 3, sizeof(struct vk_pc_kv_gather), 64, 1, 0},
    [VK_PIPE_KV_MERGE_F16] = {"kv_merge_f16", 3, sizeof(struct vk_pc_kv_merge), 64, 1, 0},
    [VK_PIPE_KV_MERGE_F32] = {"kv_merge_f32", 3, sizeof(struct vk_pc_kv_merge), 64, 1, 0},
    [VK_PIPE_KV_MERGE_LIST_F16] = {"kv_merge_list_f16", 3, sizeof(struct vk_pc_kv_merge_list), 64, 1, 0},
    [VK_PIPE_KV_MERGE_LIST_F32] = {"kv_merge_list_f32", 3, sizeof(struct vk_pc_kv_merge_list), 64, 1, 0},
    [VK_PIPE_CPY_F32_F16] = {"cpy_f32_f16", 2, sizeof(struct vk_pc_cpy), 256, 1, 0},
};

static const struct vk_spv *find_spv(const char *name) {
    for (int i = 0; i < vk_spv_count; i++)
        if (!strcmp(vk_spv_table[i].name, name)) return &vk_spv_table[i];
    return NULL;
}

vlkv_status vk_pipeline_get(struct vk_device *d, enum vk_pipe p, struct vk_pipeline **out) {
    vlkv_status st = VLKV_OK;
    VkShaderModule mod = VK_NULL_HANDLE;
    VLKV_ASSERT((int)p >= 0 && p < VK_PIPE_COUNT);
    struct vk_pipeline *pl = &d->pipes[p];
    if (pl->pipeline) {
        *out = pl;
        return VLKV_OK;
    }
    const struct pipe_desc *pd = &pipe_descs[p];
    VLKV_ASSERT(pd->spv != NULL);
    const struct vk_spv *spv = find_spv(pd->spv);
    VLKV_CHECK(spv, VLKV_ERR_BACKEND, "vulkan: shader module '%s' is not embedded in this build", pd->spv);
    VLKV_CHECK(pd->push_size <= d->caps.max_push, VLKV_ERR_UNSUPPORTED, "vulkan: push constants too large");
    VLKV_CHECK(pd->wg_x * pd->wg_y <= d->caps.max_wg_invocations, VLKV_ERR_UNSUPPORTED,
               "vulkan: workgroup of %u invocations exceeds the device limit %u", pd->wg_x * pd->wg_y,
               d->caps.max_wg_invocations);

    VkShaderModuleCreateInfo smci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = spv->size,
                                     .pCode = (const uint32_t *)(const void *)spv->code};
    VkResult r = vkCreateShaderModule(d->dev, &smci, NULL, &mod);
    VLKV_CHECK(r == VK_SUCCESS, VLKV_ERR_BACKEND, "vulkan: vkCreateShaderModule(%s) failed (%d)", pd->spv, (int)r);

    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = pd->push_size};
    VkPipelineLayoutCreateInfo plci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                       .pSetLayouts = &d->dsl, .pushConstantRangeCount = pd->push_size ? 1u : 0u,
                                       .pPushConstantRanges = &pcr};
    r = vkCreatePipelineLayout(d->dev, &plci, NULL, &pl->layout);
    VLKV_CHECK(r == VK_SUCCESS, VLKV_ERR_BACKEND, "vulkan: vkCreatePipelineLayout(%s) failed (%d)", pd->spv, (int)r);

    uint32_t spec[3] = {pd->wg_x, pd->wg_y, pd->variant};
    VkSpecializationMapEntry me[3];
    for (uint32_t i = 0; i < 3; i++) me[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo si = {.mapEntryCount = 3, .pMapEntries = me, .dataSize = sizeof spec, .pData = spec};
    VkComputePipelineCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod, .pName = "main", .pSpecializationInfo = &si},
        .layout = pl->layout,
    };
    r = vkCreateComputePipelines(d->dev, d->pcache, 1, &cpci, NULL, &pl->pipeline);
    VLKV_CHECK(r == VK_SUCCESS, VLKV_ERR_BACKEND, "vulkan: creating pipeline %s failed (%d)", pd->spv, (int)r);
    vkDestroyShaderModule(d->dev, mod, NULL);
    pl->n_bindings = pd->n_bindings;
    pl->push_size = pd->push_size;
    pl->wg[0] = pd->wg_x;
    pl->wg[1] = pd->wg_y;
    pl->wg[2] = 1;
    *out = pl;
    return VLKV_OK;
fail:
    if (mod) vkDestroyShaderModule(d->dev, mod, NULL);
    if (pl->layout) vkDestroyPipelineLayout(d->dev, pl->layout, NULL);
    pl->layout = VK_NULL_HANDLE;
    return st;
}

void vk_pipelines_destroy(struct vk_device *d) {
    for (int i = 0; i < VK_PIPE_COUNT; i++) {
        if (d->pipes[i].pipeline) vkDestroyPipeline(d->dev, d->pipes[i].pipeline, NULL);
        if (d->pipes[i].layout) vkDestroyPipelineLayout(d->dev, d->pipes[i].layout, NULL);
        memset(&d->pipes[i], 0, sizeof d->pipes[i]);
    }
}
