#version 450
/* layernorm.comp - y = (x - mean) / sqrt(var + eps) * w + b (biased variance), one workgroup
 * per row; two passes over the row (mean, then centred squares) for accuracy. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint n; uint n_rows; float eps; uint pad; } pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

shared float red[BLOCK_SIZE];

float block_sum(float v) {
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint h = BLOCK_SIZE / 2u; h > 0u; h >>= 1) {
        if (tid < h) red[tid] += red[tid + h];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main() {
    const uint row = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x, base = row * pc.n;
    float s = 0.0;
    for (uint i = tid; i < pc.n; i += BLOCK_SIZE) s += x[base + i];
    const float mean = block_sum(s) / float(pc.n);
    float v = 0.0;
    for (uint i = tid; i < pc.n; i += BLOCK_SIZE) {
        float d = x[base + i] - mean;
        v += d * d;
    }
    const float inv = inversesqrt(block_sum(v) / float(pc.n) + pc.eps);
    for (uint i = tid; i < pc.n; i += BLOCK_SIZE) y[base + i] = (x[base + i] - mean) * inv * w[i] + b[i];
}
