#version 450
//! variants: f32:A_F32 f16:A_F16 q4_0:A_Q4_0 q8_0:A_Q8_0 q4_K:A_Q4_K q5_K:A_Q5_K q6_K:A_Q6_K
/* get_rows.comp - out[r][k] = W[ids[r] - row0][k] as f32 (embedding lookup, any weight type).
 * Rows whose id lies outside [row0, row0 + n_src_rows) are not written: with a weight split over
 * several buffers each part's dispatch fills its own rows (the host validates token ids). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint K; uint n_rows; uint n_src_rows; uint row0; } pc;
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
#include "dequant.glsl"

void main() {
    const uint k = gl_GlobalInvocationID.x, r = gl_WorkGroupID.y;
    if (k >= pc.K) return;
    const int id = ids[r] - int(pc.row0);
    if (id >= 0 && uint(id) < pc.n_src_rows) o[r * pc.K + k] = dq1(uint(id) * (pc.K / QK) + k / QK, k % QK);
}
