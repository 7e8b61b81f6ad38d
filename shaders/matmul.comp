#version 450
//! variants: f32:A_F32 f16:A_F16 q4_0:A_Q4_0 q8_0:A_Q8_0 q4_K:A_Q4_K q5_K:A_Q5_K q6_K:A_Q6_K
/* matmul.comp - y[n][y_off + m] = sum_k W[m][k] x[n][k] for many columns (prefill, ViT). A 16x16
 * workgroup computes a 64x64 tile of y (4x4 per invocation); each K step of 16 dequantizes a
 * 64x16 tile of W and loads a 64x16 tile of x into shared memory. */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint BLOCK_Y = 16;
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(push_constant) uniform PC { uint K; uint M; uint N; uint ldy; uint y_off; uint pad0; uint pad1; uint pad2; } pc;
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#include "dequant.glsl"

#define BM 64u
#define BN 64u
#define BK 16u
shared float As[BK][BM + 1u];
shared float Bs[BK][BN + 1u];

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint tid = ty * BLOCK_SIZE + tx, nthreads = BLOCK_SIZE * BLOCK_Y;
    const uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
    const uint nb = pc.K / QK;
    float acc[4][4];
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        [[unroll]] for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < pc.K; k0 += BK) {
        for (uint t = tid; t < BM * BK; t += nthreads) {
            uint r = t / BK, kk = t - r * BK;
            uint m = m0 + r, k = k0 + kk;
            As[kk][r] = (m < pc.M && k < pc.K) ? dq1(m * nb + k / QK, k % QK) : 0.0;
            uint n = n0 + r;
            Bs[kk][r] = (n < pc.N && k < pc.K) ? x[n * pc.K + k] : 0.0;
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < BK; kk++) {
            float a[4], b[4];
            [[unroll]] for (uint i = 0u; i < 4u; i++) a[i] = As[kk][tx + 16u * i];
            [[unroll]] for (uint j = 0u; j < 4u; j++) b[j] = Bs[kk][ty + 16u * j];
            [[unroll]] for (uint i = 0u; i < 4u; i++)
                [[unroll]] for (uint j = 0u; j < 4u; j++) acc[i][j] += a[i] * b[j];
        }
        barrier();
    }
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            uint m = m0 + tx + 16u * i, n = n0 + ty + 16u * j;
            if (m < pc.M && n < pc.N) y[n * pc.ldy + pc.y_off + m] = acc[i][j];
        }
}
