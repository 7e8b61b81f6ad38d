#version 450
/* cpy_f32_f16.comp - dst[dst_off + i] = f16(src[i]) (KV-cache append at a slot offset). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint n; uint dst_off; uint pad1; uint pad2; } pc;
layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) writeonly buffer D { uint16_t dst[]; };

void main() {
    const uint i = flat_index();
    if (i < pc.n) dst[pc.dst_off + i] = uint16_t(f2h(src[i]));
}
