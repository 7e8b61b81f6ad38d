#version 450
//! variants: f16:KV_F16 f32:KV_F32
/* attn_stats.comp - pass 2 of the prefill attention statistics (kv-lvlm-methods.md §1.1):
 *   out[h][j] = sum over query rows i in [r0, r1) that see slot j of exp(scale q_ih.k_j - lse_ih)
 * with lse from attention.comp's stats. One invocation per (slot j, head h): deterministic, no
 * atomics. The query row of the current i is staged in shared memory. Causal only. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC {
    uint n_q; uint n_kv; uint n_head; uint n_head_kv;
    uint d_head; uint r0; uint r1; float scale;
} pc;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
#define KB 1
#include "kv_load.glsl"
layout(std430, binding = 2) readonly buffer T { float stats[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

shared float qs[256];

void main() {
    const uint j = gl_GlobalInvocationID.x, h = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const uint D = pc.d_head, kvh = h / (pc.n_head / pc.n_head_kv);
    const uint kb = j * pc.n_head_kv * D + kvh * D;
    const uint first_slot = pc.n_kv - pc.n_q;   /* slot of query 0 */
    float acc = 0.0;
    for (uint i = pc.r0; i < pc.r1; i++) {
        const uint qrow = i * pc.n_head + h;
        for (uint d = tid; d < D; d += BLOCK_SIZE) qs[d] = q[qrow * D + d];
        barrier();
        if (j < pc.n_kv && j <= first_slot + i) {
            float s = 0.0;
            for (uint d = 0u; d < D; d++) s += qs[d] * LOADK(kb + d);
            acc += exp(s * pc.scale - stats[2u * qrow + 1u]);
        }
        barrier();
    }
    if (j < pc.n_kv) o[h * pc.n_kv + j] = acc;
}
