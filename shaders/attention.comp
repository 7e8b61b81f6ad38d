#version 450
//! variants: f16:KV_F16 f32:KV_F32
/* attention.comp - softmax(q K^T * scale) V over a layer's own slots (ragged per-layer length).
 * One workgroup per (query i, head h); grouped-query: KV head = h / (n_head / n_head_kv).
 * Causal: query i (of n_q, the last n_q slots) sees slots [0, n_kv - n_q + i]. The probabilities
 * go through the `scores` scratch ([n_q][n_head][n_kv]); `stats` receives (max, log-sum-exp) of
 * the scaled logits per (i, h) for the statistics pass (attn_stats.comp). d_head <= 256.
 * q / out / stats rows are offset by q_row0 (prefill in query chunks); scores are per chunk. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC {
    uint n_q; uint n_kv; uint n_head; uint n_head_kv;
    uint d_head; uint causal; float scale; uint write_stats;
    uint q_row0; uint pad0; uint pad1; uint pad2;
} pc;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
#define KB 1
#define VB 2
#include "kv_load.glsl"
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) coherent buffer S { float sc[]; };
layout(std430, binding = 5) writeonly buffer T { float stats[]; };

shared float qs[256];
shared float red[BLOCK_SIZE];

float reduce_max(float v) {
    const uint tid = gl_LocalInvocationID.x;
    red[tid] = v;
    barrier();
    for (uint h = BLOCK_SIZE / 2u; h > 0u; h >>= 1) {
        if (tid < h) red[tid] = max(red[tid], red[tid + h]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float reduce_sum(float v) {
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
    const uint i = gl_WorkGroupID.x, h = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const uint D = pc.d_head, kvh = h / (pc.n_head / pc.n_head_kv);
    const uint kv_stride = pc.n_head_kv * D, koff = kvh * D;
    const uint n_vis = pc.causal != 0u ? pc.n_kv - pc.n_q + i + 1u : pc.n_kv;
    const uint qrow = (pc.q_row0 + i) * pc.n_head + h;
    const uint sbase = (i * pc.n_head + h) * pc.n_kv;

    for (uint d = tid; d < D; d += BLOCK_SIZE) qs[d] = q[qrow * D + d];
    barrier();

    float mx = -3.0e38;
    for (uint j = tid; j < n_vis; j += BLOCK_SIZE) {
        float s = 0.0;
        const uint kb = j * kv_stride + koff;
        for (uint d = 0u; d < D; d++) s += qs[d] * LOADK(kb + d);
        s *= pc.scale;
        sc[sbase + j] = s;
        mx = max(mx, s);
    }
    mx = reduce_max(mx);
    float sum = 0.0;
    for (uint j = tid; j < n_vis; j += BLOCK_SIZE) {
        float p = exp(sc[sbase + j] - mx);
        sc[sbase + j] = p;
        sum += p;
    }
    sum = reduce_sum(sum);
    memoryBarrierBuffer();
    barrier();

    const float inv = 1.0 / sum;
    for (uint d = tid; d < D; d += BLOCK_SIZE) {
        float acc = 0.0;
        for (uint j = 0u; j < n_vis; j++) acc += sc[sbase + j] * LOADV(j * kv_stride + koff + d);
        o[qrow * D + d] = acc * inv;
    }
    if (tid == 0u && pc.write_stats != 0u) {
        stats[2u * qrow] = mx;
        stats[2u * qrow + 1u] = mx + log(sum);
    }
}
