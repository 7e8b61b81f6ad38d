#version 450
/* kv_gather.comp - dst[i] = src[idx[i]] for rows of row_words 32-bit words (KV compaction into
 * a scratch buffer; the host copies it back, since an in-place gather would race). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint row_words; uint n_out; uint pad0; uint pad1; } pc;
layout(std430, binding = 0) readonly buffer S { uint src[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer D { uint dst[]; };

void main() {
    const uint w = gl_GlobalInvocationID.x, i = gl_WorkGroupID.y;
    if (w >= pc.row_words || i >= pc.n_out) return;
    dst[i * pc.row_words + w] = src[uint(idx[i]) * pc.row_words + w];
}
