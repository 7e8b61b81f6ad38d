#version 450
/* rope_norm.comp - LLaMA RoPE (ggml "NORM" mode: adjacent pairs (2i, 2i+1)) in place on
 * x[n_rows][n_head][d_head]; theta_i = pos * freq_scale * freq_base^(-2i/n_rot); dimensions at
 * or beyond n_rot pass through. One invocation per pair. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC {
    uint n_rows; uint n_head; uint d_head; uint n_rot;
    float freq_base; float freq_scale; uint pad0; uint pad1;
} pc;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer P { int pos[]; };

void main() {
    const uint half_d = pc.d_head / 2u;
    const uint g = flat_index();
    if (g >= pc.n_rows * pc.n_head * half_d) return;
    const uint i = g % half_d, row = g / (half_d * pc.n_head);
    if (2u * i >= pc.n_rot) return;
    const uint o = (g / half_d) * pc.d_head + 2u * i;
    const float theta = float(pos[row]) * pc.freq_scale * pow(pc.freq_base, -float(2u * i) / float(pc.n_rot));
    const float c = cos(theta), s = sin(theta);
    const float x0 = x[o], x1 = x[o + 1u];
    x[o] = x0 * c - x1 * s;
    x[o + 1u] = x0 * s + x1 * c;
}
