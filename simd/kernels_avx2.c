/* kernels_avx2.c - AVX2 + FMA + F16C kernels (only this file is built with -mavx2 -mfma -mf16c).
 * Starts from the reference table and overrides what it accelerates. */
#include "simd.h"

void vlkv_kernels_init_avx2(struct vlkv_kernels *k) {
    vlkv_kernels_init_ref(k);
    k->isa = VLKV_ISA_AVX2;
    k->name = "avx2";
}
