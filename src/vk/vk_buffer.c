/* vk_buffer.c - VkBuffer + dedicated VkDeviceMemory (no suballocator yet). Device buffers are
 * device-local; on UMA devices (integrated GPUs, lavapipe) and with ReBAR they are also
 * host-visible and stay mapped, so uploads are a memcpy. Otherwise uploads/read-backs go through
 * a temporary host-visible staging buffer. */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

static int find_memory(const VkPhysicalDeviceMemoryProperties *mp, uint32_t type_bits, VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((type_bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

vlkv_status vk_buffer_create(struct vk_device *d, size_t size, enum vk_mem_kind kind, struct vk_buffer *b) {
    vlkv_status st = VLKV_OK;
    memset(b, 0, sizeof *b);
    if (size == 0) size = 16;
    size = VLKV_ALIGN_UP(size, 16);
    if (size > d->caps.max_alloc)
        return vlkv_error(VLKV_ERR_UNSUPPORTED,
                          "vulkan: a buffer of %zu bytes exceeds the device's maxMemoryAllocationSize (%llu)", size,
                          (unsigned long long)d->caps.max_alloc);
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(d->dev, &bci, NULL, &b->buf);
    if (r != VK_SUCCESS) return vlkv_error(VLKV_ERR_BACKEND, "vulkan: vkCreateBuffer(%zu bytes) failed (%d)", size, (int)r);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d->dev, b->buf, &req);

    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    VkMemoryPropertyFlags prefs[3];
    int n_prefs = 0;
    if (kind == VK_MEM_DEVICE) {
        if (d->caps.uma) prefs[n_prefs++] = DL | HV;
        prefs[n_prefs++] = DL;
        prefs[n_prefs++] = HV;  /* system memory fallback */
    } else {
        prefs[n_prefs++] = HV | VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
        prefs[n_prefs++] = HV;
    }
    int mt = -1;
    for (int i = 0; i < n_prefs && mt < 0; i++) {
        mt = find_memory(&d->memprops, req.memoryTypeBits, prefs[i]);
        if (mt >= 0 && kind == VK_MEM_DEVICE && prefs[i] == HV)
            VLKV_LOG_WARN("vulkan: no device-local memory type for a %zu-byte buffer; using host memory", size);
    }
    VLKV_CHECK(mt >= 0, VLKV_ERR_BACKEND, "vulkan: no suitable memory type for a %zu-byte buffer", size);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)mt};
    r = vkAllocateMemory(d->dev, &mai, NULL, &b->mem);
    VLKV_CHECK(r == VK_SUCCESS, r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? VLKV_ERR_OOM
                                                                                                      : VLKV_ERR_BACKEND,
               "vulkan: allocating %llu bytes of device memory failed (%d)", (unsigned long long)req.size, (int)r);
    r = vkBindBufferMemory(d->dev, b->buf, b->mem, 0);
    VLKV_CHECK(r == VK_SUCCESS, VLKV_ERR_BACKEND, "vulkan: vkBindBufferMemory failed (%d)", (int)r);
    if (d->memprops.memoryTypes[mt].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        r = vkMapMemory(d->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->mapped);
        VLKV_CHECK(r == VK_SUCCESS, VLKV_ERR_BACKEND, "vulkan: vkMapMemory failed (%d)", (int)r);
    }
    b->size = size;
    d->bytes_alloc += size;
    if (d->bytes_alloc > d->bytes_peak) d->bytes_peak = d->bytes_alloc;
    return VLKV_OK;
fail:
    vk_buffer_destroy(d, b);
    return st;
}

void vk_buffer_destroy(struct vk_device *d, struct vk_buffer *b) {
    if (!b) return;
    if (b->size && d->bytes_alloc >= b->size) d->bytes_alloc -= b->size;   /* size is set only on success */
    if (b->buf) vkDestroyBuffer(d->dev, b->buf, NULL);
    if (b->mem) vkFreeMemory(d->dev, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

vlkv_status vk_buffer_write(struct vk_device *d, struct vk_buffer *b, size_t off, const void *src, size_t n) {
    vlkv_status st = VLKV_OK;
    struct vk_buffer stg = {0};
    VLKV_ASSERT(!d->recording);
    if (n == 0) return VLKV_OK;
    if (off > b->size || n > b->size - off)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: write of %zu bytes at %zu beyond a %llu-byte buffer", n, off,
                          (unsigned long long)b->size);
    if (b->mapped) {
        memcpy((char *)b->mapped + off, src, n);
        return VLKV_OK;
    }
    VLKV_TRY(vk_buffer_create(d, n, VK_MEM_HOST, &stg));
    memcpy(stg.mapped, src, n);
    VLKV_TRY(vk_copy_now(d, b->buf, off, stg.buf, 0, n));
fail:
    vk_buffer_destroy(d, &stg);
    return st;
}

vlkv_status vk_buffer_read(struct vk_device *d, const struct vk_buffer *b, size_t off, void *dst, size_t n) {
    vlkv_status st = VLKV_OK;
    struct vk_buffer stg = {0};
    VLKV_ASSERT(!d->recording);
    if (n == 0) return VLKV_OK;
    if (off > b->size || n > b->size - off)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: read of %zu bytes at %zu beyond a %llu-byte buffer", n, off,
                          (unsigned long long)b->size);
    if (b->mapped) {
        memcpy(dst, (const char *)b->mapped + off, n);
        return VLKV_OK;
    }
    VLKV_TRY(vk_buffer_create(d, n, VK_MEM_HOST, &stg));
    VLKV_TRY(vk_copy_now(d, stg.buf, 0, b->buf, off, n));
    memcpy(dst, stg.mapped, n);
fail:
    vk_buffer_destroy(d, &stg);
    return st;
}

vlkv_status vk_weight_upload(struct vk_device *d, struct vk_weight *w, enum vlkv_type type, uint32_t K, uint32_t M,
                             const void *data) {
    vlkv_status st = VLKV_OK;
    memset(w, 0, sizeof *w);
    const size_t row = vlkv_row_size(type, K);
    const uint64_t limit = d->caps.max_sbuf_range < d->caps.max_alloc ? d->caps.max_sbuf_range : d->caps.max_alloc;
    VLKV_CHECK(row > 0 && row <= limit, VLKV_ERR_UNSUPPORTED,
               "vulkan: a weight row of %zu bytes exceeds the device's binding limit (%llu bytes)", row,
               (unsigned long long)limit);
    uint64_t rpp = limit / row;
    if (rpp > M) rpp = M;
    if (rpp == 0) rpp = 1;
    w->type = type;
    w->K = K;
    w->M = M;
    w->rows_per_part = (uint32_t)rpp;
    w->n_parts = (int)((M + rpp - 1) / rpp);
    if (w->n_parts == 0) w->n_parts = 1;
    w->parts = calloc((size_t)w->n_parts, sizeof *w->parts);
    VLKV_CHECK(w->parts, VLKV_ERR_OOM, "vulkan: out of memory");
    for (int p = 0; p < w->n_parts; p++) {
        const uint32_t r0 = (uint32_t)p * w->rows_per_part;
        const uint32_t nr = M - r0 < w->rows_per_part ? M - r0 : w->rows_per_part;
        VLKV_TRY(vk_buffer_create(d, row * nr, VK_MEM_DEVICE, &w->parts[p]));
        if (data) VLKV_TRY(vk_buffer_write(d, &w->parts[p], 0, (const uint8_t *)data + row * r0, row * nr));
    }
    if (w->n_parts > 1)
        VLKV_LOG_INFO("vulkan: %u x %u %s weight split into %d buffers (binding limit %llu bytes)", M, K,
                      vlkv_type_name(type), w->n_parts, (unsigned long long)limit);
    return VLKV_OK;
fail:
    vk_weight_free(d, w);
    return st;
}

void vk_weight_free(struct vk_device *d, struct vk_weight *w) {
    if (!w) return;
    if (w->parts)
        for (int p = 0; p < w->n_parts; p++) vk_buffer_destroy(d, &w->parts[p]);
    free(w->parts);
    memset(w, 0, sizeof *w);
}
