/* dequant.glsl - in-shader dequantization of the weight matrix bound at binding 0.
 * Exactly one A_<TYPE> macro is defined per variant. Quantized blocks are read as 16-bit words
 * (ggml's approach: an 18-byte Q4_0 block is 9 uint16). For each type:
 *   QK          elements per block
 *   NCH         chunks per block processed by one matvec invocation step
 *   dq1(ib, e)  element e of block ib (block index counted over the whole matrix)
 *   dot_chunk(ib, c, xb)  dot of chunk c of block ib with x[xb + element] (x = binding 1) */

#if defined(A_F32)
layout(std430, binding = 0) readonly buffer A { float a32[]; };
#define QK 1u
#define NCH 1u
float dq1(uint ib, uint e) { return a32[ib]; }
#else
layout(std430, binding = 0) readonly buffer A { uint16_t a16[]; };
/* byte `o` of the block starting at 16-bit word `w0` */
uint u8(uint w0, uint o) { return (uint(a16[w0 + (o >> 1)]) >> ((o & 1u) * 8u)) & 0xFFu; }
float hw(uint w) { return h2f(uint(a16[w])); }
#endif

#if defined(A_F16)
#define QK 1u
#define NCH 1u
float dq1(uint ib, uint e) { return hw(ib); }
#endif

#if defined(A_Q8_0)
#define QK 32u
#define NCH 4u
#define BW 17u
float dq1(uint ib, uint e) {
    uint w0 = ib * BW;
    return hw(w0) * float(bitfieldExtract(int(u8(w0, 2u + e)), 0, 8));
}
#endif

#if defined(A_Q4_0)
#define QK 32u
#define NCH 4u
#define BW 9u
float dq1(uint ib, uint e) {
    uint w0 = ib * BW;
    uint b = u8(w0, 2u + (e & 15u));
    uint q = e < 16u ? (b & 15u) : (b >> 4);
    return hw(w0) * (float(q) - 8.0);
}
#endif

#if defined(A_Q4_K) || defined(A_Q5_K)
#define QK 256u
#define NCH 16u
#if defined(A_Q4_K)
#define BW 72u
#define QS_OFF 16u
#else
#define BW 88u
#define QS_OFF 48u
#define QH_OFF 16u
#endif
/* 6-bit scale and min of sub-block s (formats.md §2.3 Q4_K) */
vec2 scale_min_k4(uint w0, uint s) {
    uint sc, mn;
    if (s < 4u) {
        sc = u8(w0, 4u + s) & 63u;
        mn = u8(w0, 4u + s + 4u) & 63u;
    } else {
        uint b4 = u8(w0, 4u + s + 4u);
        sc = (b4 & 15u) | ((u8(w0, 4u + s - 4u) >> 6) << 4);
        mn = (b4 >> 4) | ((u8(w0, 4u + s) >> 6) << 4);
    }
    return vec2(float(sc), float(mn));
}
float dq1(uint ib, uint e) {
    uint w0 = ib * BW;
    uint c = e >> 6, l = e & 31u, hi = (e >> 5) & 1u;
    uint b = u8(w0, QS_OFF + 32u * c + l);
    uint q = hi == 0u ? (b & 15u) : (b >> 4);
#if defined(A_Q5_K)
    q |= ((u8(w0, QH_OFF + l) >> (2u * c + hi)) & 1u) << 4;
#endif
    vec2 sm = scale_min_k4(w0, e >> 5);
    return hw(w0) * sm.x * float(q) - hw(w0 + 1u) * sm.y;
}
#endif

#if defined(A_Q6_K)
#define QK 256u
#define NCH 16u
#define BW 105u
float dq1(uint ib, uint e) {
    uint w0 = ib * BW;
    uint h = e >> 7, r = e & 127u, quad = r >> 5, l = r & 31u;
    uint b = u8(w0, 64u * h + l + (quad & 1u) * 32u);
    uint lo = quad >= 2u ? (b >> 4) : (b & 15u);
    uint hb = (u8(w0, 128u + 32u * h + l) >> (2u * quad)) & 3u;
    float sc = float(bitfieldExtract(int(u8(w0, 192u + (e >> 4))), 0, 8));
    return hw(w0 + 104u) * sc * (float(lo | (hb << 4)) - 32.0);
}
#endif

/* ---- chunked dot products for the matvec (one invocation step = one chunk); the including
 * shader declares x[] first and defines WANT_DOT_CHUNK ---- */
#if defined(WANT_DOT_CHUNK)
#if defined(A_F32) || defined(A_F16)
float dot_chunk(uint ib, uint c, uint xb) { return dq1(ib, 0u) * x[xb]; }
#endif

#if defined(A_Q8_0)
float dot_chunk(uint ib, uint c, uint xb) {   /* elements 8c .. 8c+7 */
    uint w0 = ib * BW;
    float s = 0.0;
    [[unroll]] for (uint i = 0u; i < 8u; i += 2u) {
        uint w = uint(a16[w0 + 1u + 4u * c + i / 2u]);
        s += float(bitfieldExtract(int(w), 0, 8)) * x[xb + 8u * c + i];
        s += float(bitfieldExtract(int(w), 8, 8)) * x[xb + 8u * c + i + 1u];
    }
    return s * hw(w0);
}
#endif

#if defined(A_Q4_0)
float dot_chunk(uint ib, uint c, uint xb) {   /* bytes 4c..4c+3: elements 4c+i and 16+4c+i */
    uint w0 = ib * BW;
    float s = 0.0;
    [[unroll]] for (uint i = 0u; i < 4u; i += 2u) {
        uint w = uint(a16[w0 + 1u + 2u * c + i / 2u]);
        uint e = 4u * c + i;
        s += (float(w & 15u) - 8.0) * x[xb + e];
        s += (float((w >> 4) & 15u) - 8.0) * x[xb + e + 16u];
        s += (float((w >> 8) & 15u) - 8.0) * x[xb + e + 1u];
        s += (float((w >> 12) & 15u) - 8.0) * x[xb + e + 17u];
    }
    return s * hw(w0);
}
#endif

#if defined(A_Q4_K) || defined(A_Q5_K)
float dot_chunk(uint ib, uint c, uint xb) {   /* 8 qs bytes: 8 low-nibble + 8 high-nibble elements */
    uint w0 = ib * BW;
    uint j = c >> 2, l0 = (c & 3u) * 8u;
    vec2 sm_lo = scale_min_k4(w0, 2u * j), sm_hi = scale_min_k4(w0, 2u * j + 1u);
    float slo = 0.0, shi = 0.0, xlo = 0.0, xhi = 0.0;
    [[unroll]] for (uint i = 0u; i < 8u; i += 2u) {
        uint w = uint(a16[w0 + (QS_OFF + 32u * j + l0 + i) / 2u]);
#if defined(A_Q5_K)
        uint hw2 = uint(a16[w0 + (QH_OFF + l0 + i) / 2u]);
        uint h0 = hw2 >> (2u * j), h1 = hw2 >> (8u + 2u * j);
        float q0l = float((w & 15u) | ((h0 & 1u) << 4)), q0h = float(((w >> 4) & 15u) | (((h0 >> 1) & 1u) << 4));
        float q1l = float(((w >> 8) & 15u) | ((h1 & 1u) << 4)), q1h = float(((w >> 12) & 15u) | (((h1 >> 1) & 1u) << 4));
#else
        float q0l = float(w & 15u), q0h = float((w >> 4) & 15u), q1l = float((w >> 8) & 15u), q1h = float((w >> 12) & 15u);
#endif
        uint e = 64u * j + l0 + i;
        float x0 = x[xb + e], x1 = x[xb + e + 1u], x2 = x[xb + e + 32u], x3 = x[xb + e + 33u];
        slo += q0l * x0 + q1l * x1;
        shi += q0h * x2 + q1h * x3;
        xlo += x0 + x1;
        xhi += x2 + x3;
    }
    float d = hw(w0), dmin = hw(w0 + 1u);
    return d * (sm_lo.x * slo + sm_hi.x * shi) - dmin * (sm_lo.y * xlo + sm_hi.y * xhi);
}
#endif

#if defined(A_Q6_K)
float dot_chunk(uint ib, uint c, uint xb) {   /* l = l0..l0+3 of half h: 4 elements each */
    uint w0 = ib * BW;
    uint h = c >> 3, l0 = (c & 7u) * 4u;
    float s = 0.0;
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        uint l = l0 + i;
        uint a = u8(w0, 64u * h + l), b = u8(w0, 64u * h + l + 32u), q = u8(w0, 128u + 32u * h + l);
        uint e = 128u * h + l;
        float q1 = float((a & 15u) | ((q & 3u) << 4)) - 32.0;
        float q2 = float((b & 15u) | (((q >> 2) & 3u) << 4)) - 32.0;
        float q3 = float((a >> 4) | (((q >> 4) & 3u) << 4)) - 32.0;
        float q4 = float((b >> 4) | (((q >> 6) & 3u) << 4)) - 32.0;
        float sc1 = float(bitfieldExtract(int(u8(w0, 192u + (e >> 4))), 0, 8));
        float sc2 = float(bitfieldExtract(int(u8(w0, 192u + ((e + 32u) >> 4))), 0, 8));
        float sc3 = float(bitfieldExtract(int(u8(w0, 192u + ((e + 64u) >> 4))), 0, 8));
        float sc4 = float(bitfieldExtract(int(u8(w0, 192u + ((e + 96u) >> 4))), 0, 8));
        s += sc1 * q1 * x[xb + e] + sc2 * q2 * x[xb + e + 32u] + sc3 * q3 * x[xb + e + 64u] + sc4 * q4 * x[xb + e + 96u];
    }
    return s * hw(w0 + 104u);
}
#endif
#endif /* WANT_DOT_CHUNK */
