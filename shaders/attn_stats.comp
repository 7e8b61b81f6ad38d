#version 450
//! variants: f16:KV_F16 f32:KV_F32
/* attn_stats.comp - pass 2 of the prefill attention statistics (kv-lvlm-methods.md §1.1), with the
 * probabilities recomputed from q, K and attention.comp's (row max, log-sum-exp):
 *   p_ih[j] = exp(scale q_ih.k_j - lse_ih)   for the query rows i in [r0, r1) that see slot j
 * mode 0: o[h*out_ld + j] = sum_i p_ih[j]; when `count` != 0 also
 *         cnt[h*out_ld + j] = #{i : exp(scale q_ih.k_j - max_ih) < thr} (VL-Cache's ThresholdFilter,
 *         p < thr * rowmax, over causally visible entries)
 * mode 1: o[((i - r0)*n_head + h)*out_ld + j] = p_ih[j] (0 where not visible): the rows themselves.
 * One invocation per (slot j, head h): deterministic, no atomics. The query row of the current i is
 * staged in shared memory. Causal only. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC {
    uint n_q; uint n_kv; uint n_head; uint n_head_kv;
    uint d_head; uint r0; uint r1; float scale;
    uint out_ld; uint mode; uint count; float thr;
} pc;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
#define KB 1
#include "kv_load.glsl"
layout(std430, binding = 2) readonly buffer T { float stats[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) writeonly buffer C { uint cnt[]; };

shared float qs[256];

void main() {
    const uint j = gl_GlobalInvocationID.x, h = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
    const uint D = pc.d_head, kvh = h / (pc.n_head / pc.n_head_kv);
    const uint kb = j * pc.n_head_kv * D + kvh * D;
    const uint first_slot = pc.n_kv - pc.n_q;   /* slot of query 0 */
    float acc = 0.0;
    uint nc = 0u;
    for (uint i = pc.r0; i < pc.r1; i++) {
        const uint qrow = i * pc.n_head + h;
        for (uint d = tid; d < D; d += BLOCK_SIZE) qs[d] = q[qrow * D + d];
        barrier();
        float p = 0.0;
        if (j < pc.n_kv && j <= first_slot + i) {
            float s = 0.0;
            for (uint d = 0u; d < D; d++) s += qs[d] * LOADK(kb + d);
            s *= pc.scale;
            p = exp(s - stats[2u * qrow + 1u]);
            if (exp(s - stats[2u * qrow]) < pc.thr) nc++;
        }
        if (pc.mode == 1u) {
            if (j < pc.n_kv) o[((i - pc.r0) * pc.n_head + h) * pc.out_ld + j] = p;
        } else {
            acc += p;
        }
        barrier();
    }
    if (pc.mode == 0u && j < pc.n_kv) {
        o[h * pc.out_ld + j] = acc;
        if (pc.count != 0u) cnt[h * pc.out_ld + j] = nc;
    }
}
