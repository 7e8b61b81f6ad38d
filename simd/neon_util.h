/* neon_util.h - AArch64 NEON helpers for kernels_neon.c (its only includer). The int8 dot
 * product uses SDOT when the compiler targets it (__ARM_FEATURE_DOTPROD, e.g.
 * -march=armv8.2-a+dotprod) and otherwise the baseline vmull_s8 + vpadalq_s16 pair, so the
 * default armv8-a build runs on every AArch64 CPU. */
#ifndef VLKV_NEON_UTIL_H
#define VLKV_NEON_UTIL_H

#include <arm_neon.h>
#include <stdint.h>

#define NEON_INLINE static inline __attribute__((always_inline))

/* acc + 4 partial sums of a[i] * b[i] over 16 int8 lanes (|a|,|b| <= 127 or one of them 0..15) */
NEON_INLINE int32x4_t dot_s8x16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, p0), p1);
#endif
}

NEON_INLINE float f16_to_f32_1(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

NEON_INLINE float32x4_t load_f16x4(const uint16_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* e^x for 4 floats: same Cephes scheme as the AVX2 file (two-part ln2, degree-6 polynomial,
 * 2^n applied in two halves for the denormal range). */
NEON_INLINE float32x4_t exp_f32x4(float32x4_t x) {
    const float32x4_t hi = vdupq_n_f32(88.72283935546875f);
    const uint32x4_t over = vcgtq_f32(x, hi);
    const uint32x4_t notnan = vceqq_f32(x, x);
    const float32x4_t xc = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), hi);
    const float32x4_t n = vrndnq_f32(vmulq_f32(xc, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(xc, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    const float32x4_t r2 = vmulq_f32(r, r);
    float32x4_t e = vaddq_f32(vfmaq_f32(r, p, r2), vdupq_n_f32(1.0f));
    const int32x4_t ni = vcvtq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    e = vmulq_f32(vmulq_f32(e, s1), s2);
    e = vbslq_f32(over, vdupq_n_f32(__builtin_inff()), e);
    return vbslq_f32(notnan, e, x);
}

#endif /* VLKV_NEON_UTIL_H */
