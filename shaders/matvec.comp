#version 450
//! variants: f32:A_F32 f16:A_F16 q4_0:A_Q4_0 q8_0:A_Q8_0 q4_K:A_Q4_K q5_K:A_Q5_K q6_K:A_Q6_K f32_sg:A_F32,USE_SUBGROUP f16_sg:A_F16,USE_SUBGROUP q4_0_sg:A_Q4_0,USE_SUBGROUP q8_0_sg:A_Q8_0,USE_SUBGROUP q4_K_sg:A_Q4_K,USE_SUBGROUP q5_K_sg:A_Q5_K,USE_SUBGROUP q6_K_sg:A_Q6_K,USE_SUBGROUP
/* matvec.comp - y[c][y_off + m] = sum_k W[m][k] x[c][k] (decode; y rows ldy apart). One workgroup per (row m, column c);
 * invocations stride over the row's chunks, dequantizing in registers, then a reduction: a
 * shared-memory tree, or (USE_SUBGROUP variants, devices with subgroup arithmetic) subgroupAdd
 * followed by one shared-memory slot per subgroup. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#if defined(USE_SUBGROUP)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint K; uint M; uint n_cols; uint ldy; uint y_off; uint pad0; uint pad1; uint pad2; } pc;
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#define WANT_DOT_CHUNK
#include "dequant.glsl"

shared float red[BLOCK_SIZE];

void main() {
    const uint row = gl_WorkGroupID.x, col = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const uint nb = pc.K / QK;
    float acc = 0.0;
    for (uint g = tid; g < nb * NCH; g += BLOCK_SIZE) {
        uint b = g / NCH;
        acc += dot_chunk(row * nb + b, g - b * NCH, col * pc.K + b * QK);
    }
#if defined(USE_SUBGROUP)
    acc = subgroupAdd(acc);
    if (subgroupElect()) red[gl_SubgroupID] = acc;
    barrier();
    if (tid == 0u) {
        float s = 0.0;
        for (uint i = 0u; i < gl_NumSubgroups; i++) s += red[i];
        y[col * pc.ldy + pc.y_off + row] = s;
    }
#else
    red[tid] = acc;
    barrier();
    for (uint s = BLOCK_SIZE / 2u; s > 0u; s >>= 1) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    if (tid == 0u) y[col * pc.ldy + pc.y_off + row] = red[0];
#endif
}
