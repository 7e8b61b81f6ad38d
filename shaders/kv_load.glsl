/* kv_load.glsl - K (binding KB) and optionally V (binding VB) rows stored as F16 (KV_F16) or
 * F32 (KV_F32): LOADK(i) / LOADV(i) return element i as float. */
#if defined(KV_F16)
layout(std430, binding = KB) readonly buffer K { uint16_t k16[]; };
#define LOADK(i) h2f(uint(k16[i]))
#ifdef VB
layout(std430, binding = VB) readonly buffer V { uint16_t v16[]; };
#define LOADV(i) h2f(uint(v16[i]))
#endif
#else
layout(std430, binding = KB) readonly buffer K { float k32[]; };
#define LOADK(i) k32[i]
#ifdef VB
layout(std430, binding = VB) readonly buffer V { float v32[]; };
#define LOADV(i) v32[i]
#endif
#endif
