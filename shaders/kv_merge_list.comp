#version 450
//! variants: f16:KV_F16 f32:KV_F32
/* kv_merge_list.comp - merge with arbitrary sources (Elastic Cache's reference indexing, and any
 * vlkv_kv_merge call): dst[i] = mean of the rows list[off[i] .. off[i+1]) where off = idx[0..n_out]
 * and list = idx[list0 ..] (a row listed twice counts twice); fp32 accumulation, one rounding to
 * the storage type. Writes a scratch buffer; the host copies it back over slots 0..n_out-1. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint row_elems; uint n_out; uint list0; uint pad1; } pc;
#if defined(KV_F16)
layout(std430, binding = 0) readonly buffer S { uint16_t src[]; };
layout(std430, binding = 2) writeonly buffer D { uint16_t dst[]; };
#define LOAD(i) h2f(uint(src[i]))
#define STORE(i, v) dst[i] = uint16_t(f2h(v))
#else
layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 2) writeonly buffer D { float dst[]; };
#define LOAD(i) src[i]
#define STORE(i, v) dst[i] = (v)
#endif
layout(std430, binding = 1) readonly buffer G { int idx[]; };

void main() {
    const uint e = gl_GlobalInvocationID.x, i = gl_WorkGroupID.y;
    if (e >= pc.row_elems || i >= pc.n_out) return;
    const uint b = uint(idx[i]), en = uint(idx[i + 1u]);
    float s = 0.0;
    for (uint r = b; r < en; r++) s += LOAD(uint(idx[pc.list0 + r]) * pc.row_elems + e);
    STORE(i * pc.row_elems + e, s / float(max(en - b, 1u)));
}
