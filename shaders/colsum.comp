#version 450
/* colsum.comp - out[j] = mul * sum_r in[r][j] (averages per-head attention statistics). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint n_rows; uint n; float mul; uint pad; } pc;
layout(std430, binding = 0) readonly buffer I { float v[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };

void main() {
    const uint j = gl_GlobalInvocationID.x;
    if (j >= pc.n) return;
    float s = 0.0;
    for (uint r = 0u; r < pc.n_rows; r++) s += v[r * pc.n + j];
    o[j] = pc.mul * s;
}
