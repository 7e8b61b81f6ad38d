/* vk_test_util.h - device choice shared by the Vulkan tests (include after vk.h, once).
 * VLKV_VK_DEVICE if set (an invalid index is an error), else the first usable GPU, else a usable
 * CPU driver such as lavapipe (which vlkv itself only uses when selected explicitly).
 * Returns the device index, VK_TEST_SKIP when there is no usable device (the caller returns 77),
 * or VK_TEST_ERROR; prints why. */
#ifndef VLKV_VK_TEST_UTIL_H
#define VLKV_VK_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#define VK_TEST_SKIP  (-77)
#define VK_TEST_ERROR (-1)

static inline int vk_test_pick_device(const char *test, struct vk_device_caps *devs, int *n) {
    int pick = -1;
    if (vk_list_devices(devs, VK_MAX_DEVICES, n) != VLKV_OK || *n == 0) {
        printf("%s: no Vulkan devices (%s), skipped\n", test, vlkv_last_error());
        return VK_TEST_SKIP;
    }
    if (getenv("VLKV_VK_DEVICE")) {
        if (vk_select_device(devs, *n, -1, &pick) != VLKV_OK) {
            fprintf(stderr, "%s: %s\n", test, vlkv_last_error());
            return VK_TEST_ERROR;
        }
        return pick;
    }
    for (int i = 0; i < *n && pick < 0; i++)
        if (devs[i].usable && devs[i].type != VK_PHYSICAL_DEVICE_TYPE_CPU) pick = i;
    for (int i = 0; i < *n && pick < 0; i++)   /* lavapipe, chosen explicitly */
        if (devs[i].usable) pick = i;
    if (pick < 0) {
        printf("%s: no usable Vulkan device (%s: %s), skipped\n", test, devs[0].name, devs[0].why_unusable);
        return VK_TEST_SKIP;
    }
    return pick;
}

#endif /* VLKV_VK_TEST_UTIL_H */
