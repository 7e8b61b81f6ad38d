/* cmd_devices.c - `vlkv devices`: list the Vulkan devices with the capabilities vlkv uses, and
 * which one --backend vulkan would pick. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vlkv.h"
#ifdef VLKV_HAVE_VULKAN
#include "vk.h"
#endif

static void usage(FILE *f) {
    fprintf(f, "usage: vlkv devices [-v]\n"
               "  Lists Vulkan devices (index, type, driver, features, limits) and the default choice.\n"
               "  Select one with --device N or VLKV_VK_DEVICE=N; CPU implementations such as lavapipe\n"
               "  are never chosen automatically.\n");
}

int cmd_devices(int argc, char **argv) {
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else {
            fprintf(stderr, "vlkv devices: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    cli_log_to_stderr(verbose);
#ifndef VLKV_HAVE_VULKAN
    printf("this vlkv was built without Vulkan (configure with -DVLKV_VULKAN=ON); the CPU backend is used\n");
    return 0;
#else
    struct vk_device_caps devs[VK_MAX_DEVICES];
    int n = 0;
    if (vk_list_devices(devs, VK_MAX_DEVICES, &n) != VLKV_OK) {
        printf("no Vulkan: %s\nthe CPU backend is used\n", vlkv_last_error());
        return 0;
    }
    if (n == 0) {
        printf("no Vulkan devices found; the CPU backend is used\n");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const struct vk_device_caps *c = &devs[i];
        printf("device %d: %s\n", i, c->name);
        printf("  type %s, driver %s (%s), Vulkan %u.%u.%u, vendor 0x%04x device 0x%04x\n", vk_device_type_name(c->type),
               c->driver, c->driver_info, VK_API_VERSION_MAJOR(c->api_version), VK_API_VERSION_MINOR(c->api_version),
               VK_API_VERSION_PATCH(c->api_version), c->vendor_id, c->device_id);
        if (!c->usable) {
            printf("  NOT USABLE: %s\n", c->why_unusable);
            continue;
        }
        printf("  features: 16-bit storage %s, 8-bit storage %s, fp16 math %s, int dot (4x8 accelerated) %s\n",
               c->storage16 ? "yes" : "no", c->storage8 ? "yes" : "no", c->fp16 ? "yes" : "no",
               c->int_dot ? "yes" : "no");
        printf("  subgroups: size %u (%u..%u%s), arithmetic %s, shuffle %s\n", c->subgroup_size, c->subgroup_min,
               c->subgroup_max, c->subgroup_size_control ? ", size control" : "", c->subgroup_arith ? "yes" : "no",
               c->subgroup_shuffle ? "yes" : "no");
        printf("  memory: %.1f GiB device-local%s, max allocation %.2f GiB, max storage binding %.2f GiB\n",
               (double)c->device_local_bytes / (1 << 30), c->uma ? " (shared with the host)" : "",
               (double)c->max_alloc / (1 << 30), (double)c->max_sbuf_range / (1 << 30));
        printf("  limits: shared memory %u KiB, workgroup %u invocations, push constants %u B, offset alignment %llu\n",
               c->shared_mem / 1024, c->max_wg_invocations, c->max_push, (unsigned long long)c->min_sbuf_align);
        if (c->type == VK_PHYSICAL_DEVICE_TYPE_CPU)
            printf("  CPU implementation: correct but slow; used only when selected explicitly (--device %d)\n", i);
    }
    int pick = -1;
    vlkv_log_set(NULL, NULL);   /* the selection message below says it better than a log line */
    if (vk_select_device(devs, n, -1, &pick) == VLKV_OK)
        printf("default: device %d (%s)\n", pick, devs[pick].name);
    else
        printf("default: none (%s); the CPU backend is used\n", vlkv_last_error());
    return 0;
#endif
}
