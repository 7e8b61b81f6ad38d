#version 450
/* eltwise.comp - out[i] = f(a[i], b[i]); the op is specialization constant 2:
 *   0 add: a + b      1 silu_mul: silu(a) * b      2 gelu (erf)      3 gelu (tanh)
 *   4 quick gelu: a * sigmoid(1.702 a)
 * b[i % b_len] when b_len > 0 (bias broadcast over rows).
 * Bindings may alias (in-place ops bind the same range twice). */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 2) const uint OP = 0;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint n; uint b_len; uint pad1; uint pad2; } pc;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

/* Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7) */
float erf_as(float v) {
    float t = 1.0 / (1.0 + 0.3275911 * abs(v));
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-v * v);
    return sign(v) * y;
}

void main() {
    const uint i = flat_index();
    if (i >= pc.n) return;
    const float v = a[i];
    float r;
    if (OP == 0u) {
        r = v + b[pc.b_len > 0u ? i % pc.b_len : i];
    } else if (OP == 1u) {
        r = v / (1.0 + exp(-v)) * b[pc.b_len > 0u ? i % pc.b_len : i];
    } else if (OP == 2u) {
        r = 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752));
    } else if (OP == 3u) {
        float u = clamp(0.79788456080286536 * (v + 0.044715 * v * v * v), -15.0, 15.0);
        r = 0.5 * v * (1.0 + tanh(u));
    } else {
        r = v / (1.0 + exp(-1.702 * v));
    }
    o[i] = r;
}
