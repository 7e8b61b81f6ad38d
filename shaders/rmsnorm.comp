#version 450
/* rmsnorm.comp - y = x / sqrt(mean(x^2) + eps) * w, one workgroup per row. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint n; uint n_rows; float eps; uint pad; } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

shared float red[BLOCK_SIZE];

void main() {
    const uint row = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, base = row * pc.n;
    float s = 0.0;
    for (uint i = tid; i < pc.n; i += BLOCK_SIZE) s += x[base + i] * x[base + i];
    red[tid] = s;
    barrier();
    for (uint h = BLOCK_SIZE / 2u; h > 0u; h >>= 1) {
        if (tid < h) red[tid] += red[tid + h];
        barrier();
    }
    const float scale = inversesqrt(red[0] / float(pc.n) + pc.eps);
    for (uint i = tid; i < pc.n; i += BLOCK_SIZE) y[base + i] = x[base + i] * scale * w[i];
}
