#version 450
//! variants: f32:A_F32 f16:A_F16 q4_0:A_Q4_0 q8_0:A_Q8_0 q4_K:A_Q4_K q5_K:A_Q5_K q6_K:A_Q6_K
/* get_rows.comp - out[r][k] = W[ids[r]][k] as f32 (embedding lookup, any weight type). An id
 * outside [0, n_src_rows) yields a zero row (the host validates token ids before upload). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint K; uint n_rows; uint n_src_rows; uint pad; } pc;
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
#include "dequant.glsl"

void main() {
    const uint k = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
    if (k >= pc.K) return;
    int id = ids[r];
    float v = 0.0;
    if (id >= 0 && uint(id) < pc.n_src_rows) v = dq1(uint(id) * (pc.K / QK) + k / QK, k % QK);
    o[r * pc.K + k] = v;
}
