/* vk_spv.h - the SPIR-V modules compiled from the shaders/ .comp files at build time, embedded by
 * cmake/vk_embed.cmake into the generated vk_shaders.c (one entry per shader variant). */
#ifndef VLKV_VK_SPV_H
#define VLKV_VK_SPV_H

#include <stddef.h>

struct vk_spv {
    const char          *name;   /* "<file>" or "<file>_<variant>", e.g. "matvec_q4_K" */
    const unsigned char *code;   /* 4-byte aligned */
    size_t               size;   /* bytes */
};

extern const struct vk_spv vk_spv_table[];
extern const int vk_spv_count;

#endif /* VLKV_VK_SPV_H */
