/* dispatch.c - picks the kernel table once per process: cpuid (AVX2, FMA, F16C, OSXSAVE) plus
 * xgetbv (the OS saves YMM state) on x86-64, NEON baseline on AArch64. VLKV_SIMD=ref|avx2|neon
 * forces a table; an unavailable choice logs a warning and falls back to the best one.
 * Tables are built on first use under pthread_once and are immutable afterwards. */
#include "simd.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(VLKV_ARCH_x86) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define VLKV_X86_DETECT 1
#endif

static struct vlkv_kernels g_tables[VLKV_ISA_COUNT];
static int g_have[VLKV_ISA_COUNT];
static const struct vlkv_kernels *g_best;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#if defined(VLKV_X86_DETECT)
static int x86_has_avx2_fma_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!(osxsave && avx && fma && f16c)) return 0;
    /* XCR0 bits 1 (SSE) and 2 (AVX/YMM) must both be enabled by the OS. */
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 6u) != 6u) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1;   /* AVX2 */
}
#endif

static const char *isa_name(enum vlkv_isa isa) {
    switch (isa) {
    case VLKV_ISA_REF:  return "ref";
    case VLKV_ISA_AVX2: return "avx2";
    case VLKV_ISA_NEON: return "neon";
    default:            return "?";
    }
}

static void init_tables(void) {
    vlkv_kernels_init_ref(&g_tables[VLKV_ISA_REF]);
    g_have[VLKV_ISA_REF] = 1;
    g_best = &g_tables[VLKV_ISA_REF];
#if defined(VLKV_X86_DETECT)
    if (x86_has_avx2_fma_f16c()) {
        vlkv_kernels_init_avx2(&g_tables[VLKV_ISA_AVX2]);
        g_have[VLKV_ISA_AVX2] = 1;
        g_best = &g_tables[VLKV_ISA_AVX2];
    }
#endif
#if defined(VLKV_ARCH_arm64) && defined(__aarch64__)
    vlkv_kernels_init_neon(&g_tables[VLKV_ISA_NEON]);   /* NEON (ASIMD) is baseline on AArch64 */
    g_have[VLKV_ISA_NEON] = 1;
    g_best = &g_tables[VLKV_ISA_NEON];
#endif

    const char *env = getenv("VLKV_SIMD");
    if (env && *env) {
        int found = 0;
        for (int i = 0; i < VLKV_ISA_COUNT; i++) {
            if (strcmp(env, isa_name((enum vlkv_isa)i)) != 0) continue;
            found = 1;
            if (g_have[i]) {
                g_best = &g_tables[i];
            } else {
                VLKV_LOG_WARN("VLKV_SIMD=%s: not available on this CPU/build, using %s", env, g_best->name);
            }
        }
        if (!found) VLKV_LOG_WARN("VLKV_SIMD=%s: unknown (ref|avx2|neon), using %s", env, g_best->name);
    }
    VLKV_LOG_DBG("simd: using the %s kernel table", g_best->name);
}

const struct vlkv_kernels *vlkv_kernels_get(void) {
    pthread_once(&g_once, init_tables);
    return g_best;
}

const struct vlkv_kernels *vlkv_kernels_for(enum vlkv_isa isa) {
    pthread_once(&g_once, init_tables);
    if ((int)isa < 0 || isa >= VLKV_ISA_COUNT || !g_have[isa]) return NULL;
    return &g_tables[isa];
}
