/* vk_device.c - Vulkan instance, physical-device probing and selection, logical device,
 * command buffers, descriptor pool, and recording (dispatch + barriers + submit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk.h"

static const char *vk_result_str(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER (no Vulkan driver installed?)";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    default: return "VkResult";
    }
}

#define VKC(call, what)                                                                        \
    do {                                                                                       \
        VkResult r_ = (call);                                                                  \
        if (r_ != VK_SUCCESS) {                                                                \
            st = vlkv_error(r_ == VK_ERROR_OUT_OF_DEVICE_MEMORY || r_ == VK_ERROR_OUT_OF_HOST_MEMORY \
                                ? VLKV_ERR_OOM : VLKV_ERR_BACKEND,                              \
                            "vulkan: %s failed: %s (%d)", what, vk_result_str(r_), (int)r_);   \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

const char *vk_device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static int has_ext(const VkExtensionProperties *e, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(e[i].extensionName, name)) return 1;
    return 0;
}

/* Instance with Vulkan 1.2 and, when the loader has it, portability enumeration (MoltenVK). */
static vlkv_status create_instance(VkInstance *out) {
    vlkv_status st = VLKV_OK;
    VkExtensionProperties *exts = NULL;
    uint32_t version = VK_API_VERSION_1_0, n_ext = 0;
    PFN_vkEnumerateInstanceVersion enum_version =
        (PFN_vkEnumerateInstanceVersion)vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
    if (enum_version) enum_version(&version);
    VLKV_CHECK(version >= VK_API_VERSION_1_2, VLKV_ERR_UNSUPPORTED,
               "vulkan: instance version %u.%u, Vulkan 1.2 required", VK_API_VERSION_MAJOR(version),
               VK_API_VERSION_MINOR(version));
    VKC(vkEnumerateInstanceExtensionProperties(NULL, &n_ext, NULL), "vkEnumerateInstanceExtensionProperties");
    exts = calloc(n_ext ? n_ext : 1, sizeof *exts);
    VLKV_CHECK(exts, VLKV_ERR_OOM, "vulkan: out of memory");
    VKC(vkEnumerateInstanceExtensionProperties(NULL, &n_ext, exts), "vkEnumerateInstanceExtensionProperties");
    const char *enabled[2];
    uint32_t n_enabled = 0;
    VkInstanceCreateFlags flags = 0;
    if (has_ext(exts, n_ext, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        enabled[n_enabled++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vlkv",
        .pEngineName = "vlkv",
        .apiVersion = VK_API_VERSION_1_2,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledExtensionCount = n_enabled,
        .ppEnabledExtensionNames = enabled,
    };
    VKC(vkCreateInstance(&ci, NULL, out), "vkCreateInstance");
fail:
    free(exts);
    return st;
}

/* Fill caps for one physical device through the properties2/features2 chains. */
static void probe(VkPhysicalDevice pd, int index, struct vk_device_caps *c) {
    memset(c, 0, sizeof *c);
    c->index = index;

    VkPhysicalDeviceProperties p0;
    vkGetPhysicalDeviceProperties(pd, &p0);
    snprintf(c->name, sizeof c->name, "%s", p0.deviceName);
    c->type = p0.deviceType;
    c->api_version = p0.apiVersion;
    c->vendor_id = p0.vendorID;
    c->device_id = p0.deviceID;
    c->shared_mem = p0.limits.maxComputeSharedMemorySize;
    c->max_wg_invocations = p0.limits.maxComputeWorkGroupInvocations;
    memcpy(c->max_wg_count, p0.limits.maxComputeWorkGroupCount, sizeof c->max_wg_count);
    c->max_push = p0.limits.maxPushConstantsSize;
    c->min_sbuf_align = p0.limits.minStorageBufferOffsetAlignment;
    c->max_sbuf_range = p0.limits.maxStorageBufferRange;
    c->uma = p0.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU || p0.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mp.memoryHeaps[i].size > c->device_local_bytes)
            c->device_local_bytes = mp.memoryHeaps[i].size;

    if (p0.apiVersion < VK_API_VERSION_1_2) {
        snprintf(c->why_unusable, sizeof c->why_unusable, "device supports Vulkan %u.%u, 1.2 required",
                 VK_API_VERSION_MAJOR(p0.apiVersion), VK_API_VERSION_MINOR(p0.apiVersion));
        return;
    }

    uint32_t n_ext = 0;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, NULL);
    VkExtensionProperties *exts = calloc(n_ext ? n_ext : 1, sizeof *exts);
    if (exts) vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, exts);
    else n_ext = 0;
    int v13 = p0.apiVersion >= VK_API_VERSION_1_3;
    int has_ssc = v13 || has_ext(exts, n_ext, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    int has_idot = v13 || has_ext(exts, n_ext, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    free(exts);

    /* properties */
    VkPhysicalDeviceShaderIntegerDotProductProperties idot = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties ssc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceVulkan11Properties p11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &p11;
    p11.pNext = &drv;
    void **tail = &drv.pNext;
    if (has_ssc) { *tail = &ssc; tail = &ssc.pNext; }
    if (has_idot) { *tail = &idot; tail = &idot.pNext; }
    vkGetPhysicalDeviceProperties2(pd, &p2);
    snprintf(c->driver, sizeof c->driver, "%s", drv.driverName);
    snprintf(c->driver_info, sizeof c->driver_info, "%s", drv.driverInfo);
    c->max_alloc = p11.maxMemoryAllocationSize;
    c->subgroup_size = p11.subgroupSize;
    if (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) {
        c->subgroup_arith = !!(p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
        c->subgroup_shuffle = !!(p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    }
    c->subgroup_min = c->subgroup_max = p11.subgroupSize;
    if (has_ssc) {
        c->subgroup_min = ssc.minSubgroupSize;
        c->subgroup_max = ssc.maxSubgroupSize;
    }
    if (has_idot) c->int_dot = !!idot.integerDotProduct4x8BitPackedSignedAccelerated;

    /* features */
    VkPhysicalDeviceSubgroupSizeControlFeatures sscf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &f11;
    f11.pNext = &f12;
    if (has_ssc) f12.pNext = &sscf;
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    c->storage16 = !!f11.storageBuffer16BitAccess;
    c->storage8 = !!f12.storageBuffer8BitAccess;
    c->fp16 = !!f12.shaderFloat16;
    c->subgroup_size_control = has_ssc && sscf.subgroupSizeControl;

    /* compute queue: prefer a family without graphics (ggml) */
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties qf[32];
    if (nq > 32) nq = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf);
    int fam = -1;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) fam = (int)i;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;

    if (!c->storage16)
        snprintf(c->why_unusable, sizeof c->why_unusable, "no storageBuffer16BitAccess");
    else if (fam < 0)
        snprintf(c->why_unusable, sizeof c->why_unusable, "no compute queue");
    else if (c->max_push < 128 || c->shared_mem < 16384 || c->max_wg_invocations < 256)
        snprintf(c->why_unusable, sizeof c->why_unusable, "limits too small (push %u, shared %u, invocations %u)",
                 c->max_push, c->shared_mem, c->max_wg_invocations);
    else {
        c->usable = 1;
        c->compute_family = (uint32_t)fam;
    }
}

vlkv_status vk_list_devices(struct vk_device_caps *out, int max, int *n) {
    vlkv_status st = VLKV_OK;
    VkInstance inst = VK_NULL_HANDLE;
    *n = 0;
    VLKV_TRY(create_instance(&inst));
    uint32_t count = 0;
    VKC(vkEnumeratePhysicalDevices(inst, &count, NULL), "vkEnumeratePhysicalDevices");
    VkPhysicalDevice pds[VK_MAX_DEVICES];
    if (count > VK_MAX_DEVICES) count = VK_MAX_DEVICES;
    if (count) {
        VkResult r = vkEnumeratePhysicalDevices(inst, &count, pds);
        if (r != VK_SUCCESS && r != VK_INCOMPLETE) VKC(r, "vkEnumeratePhysicalDevices");
    }
    for (uint32_t i = 0; i < count && (int)i < max; i++) probe(pds[i], (int)i, &out[i]);
    *n = (int)VLKV_MIN((int)count, max);
fail:
    if (inst) vkDestroyInstance(inst, NULL);
    return st;
}

vlkv_status vk_select_device(const struct vk_device_caps *devs, int n, int requested, int *index) {
    if (requested < 0) {
        const char *env = getenv("VLKV_VK_DEVICE");
        if (env && *env) {
            char *end;
            long v = strtol(env, &end, 10);
            if (*end || v < 0)
                return vlkv_error(VLKV_ERR_INVALID_ARG, "VLKV_VK_DEVICE='%s' is not a device index", env);
            requested = (int)v;
        }
    }
    if (n == 0) return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: no Vulkan devices found");
    if (requested >= 0) {
        if (requested >= n)
            return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: device %d does not exist (%d device%s; see `vlkv devices`)",
                              requested, n, n == 1 ? "" : "s");
        const struct vk_device_caps *c = &devs[requested];
        if (!c->usable)
            return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: device %d (%s) is not usable: %s", requested, c->name,
                              c->why_unusable);
        if (c->type == VK_PHYSICAL_DEVICE_TYPE_CPU)
            VLKV_LOG_WARN("vulkan: device %d (%s) is a CPU implementation: correct but slow", requested, c->name);
        *index = requested;
        return VLKV_OK;
    }
    static const VkPhysicalDeviceType order[] = {VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU,
                                                 VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU,
                                                 VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU, VK_PHYSICAL_DEVICE_TYPE_OTHER};
    for (size_t t = 0; t < VLKV_ARRAY_LEN(order); t++)
        for (int i = 0; i < n; i++)
            if (devs[i].usable && devs[i].type == order[t]) {
                *index = i;
                return VLKV_OK;
            }
    for (int i = 0; i < n; i++)
        if (devs[i].usable && devs[i].type == VK_PHYSICAL_DEVICE_TYPE_CPU)
            return vlkv_error(VLKV_ERR_UNSUPPORTED,
                              "vulkan: no usable GPU; device %d (%s) is a CPU implementation and is only used "
                              "when selected explicitly (--device %d or VLKV_VK_DEVICE=%d)",
                              i, devs[i].name, i, i);
    return vlkv_error(VLKV_ERR_UNSUPPORTED, "vulkan: no usable device (device 0 %s: %s)", devs[0].name,
                      devs[0].why_unusable);
}

vlkv_status vk_device_open(int requested, struct vk_device **out) {
    vlkv_status st = VLKV_OK;
    struct vk_device *d = calloc(1, sizeof *d);
    struct vk_device_caps *caps = calloc(VK_MAX_DEVICES, sizeof *caps);
    *out = NULL;
    VLKV_CHECK(d && caps, VLKV_ERR_OOM, "vulkan: out of memory");
    VLKV_TRY(create_instance(&d->instance));

    uint32_t count = 0;
    VkPhysicalDevice pds[VK_MAX_DEVICES];
    VKC(vkEnumeratePhysicalDevices(d->instance, &count, NULL), "vkEnumeratePhysicalDevices");
    if (count > VK_MAX_DEVICES) count = VK_MAX_DEVICES;
    if (count) {
        VkResult r = vkEnumeratePhysicalDevices(d->instance, &count, pds);
        if (r != VK_SUCCESS && r != VK_INCOMPLETE) VKC(r, "vkEnumeratePhysicalDevices");
    }
    for (uint32_t i = 0; i < count; i++) probe(pds[i], (int)i, &caps[i]);
    int idx = -1;
    VLKV_TRY(vk_select_device(caps, (int)count, requested, &idx));
    d->caps = caps[idx];
    d->phys = pds[idx];
    {   /* triage switch (GGML_VK_DISABLE_* style): shared-memory reductions only */
        const char *env = getenv("VLKV_VK_DISABLE_SUBGROUP");
        if (env && *env && strcmp(env, "0")) d->caps.subgroup_arith = 0;
    }
    {   /* testing aid (GGML_VK_FORCE_MAX_BUFFER_SIZE-like): lower the per-binding limit */
        const char *env = getenv("VLKV_VK_MAX_BINDING");
        if (env && *env) {
            unsigned long long v = strtoull(env, NULL, 10);
            if (v >= 4096 && v < d->caps.max_sbuf_range) d->caps.max_sbuf_range = v;
        }
    }
    vkGetPhysicalDeviceMemoryProperties(d->phys, &d->memprops);

    /* logical device with the features we use */
    VkPhysicalDeviceFeatures2 have = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    vkGetPhysicalDeviceFeatures2(d->phys, &have);
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .storageBuffer8BitAccess = (VkBool32)d->caps.storage8,
                                            .shaderFloat16 = (VkBool32)d->caps.fp16};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12, .storageBuffer16BitAccess = VK_TRUE};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    f2.features.shaderInt16 = have.features.shaderInt16;
    f2.features.shaderInt64 = have.features.shaderInt64;

    uint32_t n_ext = 0;
    vkEnumerateDeviceExtensionProperties(d->phys, NULL, &n_ext, NULL);
    VkExtensionProperties *exts = calloc(n_ext ? n_ext : 1, sizeof *exts);
    VLKV_CHECK(exts, VLKV_ERR_OOM, "vulkan: out of memory");
    vkEnumerateDeviceExtensionProperties(d->phys, NULL, &n_ext, exts);
    const char *dev_exts[1];
    uint32_t n_dev_exts = 0;
    if (has_ext(exts, n_ext, "VK_KHR_portability_subset")) dev_exts[n_dev_exts++] = "VK_KHR_portability_subset";
    free(exts);

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = d->caps.compute_family, .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2,
                              .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = n_dev_exts, .ppEnabledExtensionNames = dev_exts};
    VKC(vkCreateDevice(d->phys, &dci, NULL, &d->dev), "vkCreateDevice");
    vkGetDeviceQueue(d->dev, d->caps.compute_family, 0, &d->queue);

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = d->caps.compute_family};
    VKC(vkCreateCommandPool(d->dev, &pci, NULL, &d->cmd_pool), "vkCreateCommandPool");
    VkCommandBuffer cbs[2];
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = d->cmd_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 2};
    VKC(vkAllocateCommandBuffers(d->dev, &cai, cbs), "vkAllocateCommandBuffers");
    d->cmd = cbs[0];
    d->xfer_cmd = cbs[1];
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VKC(vkCreateFence(d->dev, &fci, NULL, &d->fence), "vkCreateFence");

    VkDescriptorSetLayoutBinding bind[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < VK_MAX_BINDINGS; i++)
        bind[i] = (VkDescriptorSetLayoutBinding){.binding = i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                 .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dlci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                            .bindingCount = VK_MAX_BINDINGS, .pBindings = bind};
    VKC(vkCreateDescriptorSetLayout(d->dev, &dlci, NULL, &d->dsl), "vkCreateDescriptorSetLayout");
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = VK_DSETS_PER_POOL * VK_MAX_BINDINGS};
    VkDescriptorPoolCreateInfo dpci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                       .maxSets = VK_DSETS_PER_POOL, .poolSizeCount = 1, .pPoolSizes = &ps};
    VKC(vkCreateDescriptorPool(d->dev, &dpci, NULL, &d->dpool), "vkCreateDescriptorPool");
    VkPipelineCacheCreateInfo pcci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    VKC(vkCreatePipelineCache(d->dev, &pcci, NULL, &d->pcache), "vkCreatePipelineCache");

    VLKV_LOG_INFO("vulkan: device %d: %s (%s, %s) | uma %d | fp16 %d | subgroup %u | shared %u KiB | int dot %d",
                  d->caps.index, d->caps.name, vk_device_type_name(d->caps.type), d->caps.driver, d->caps.uma,
                  d->caps.fp16, d->caps.subgroup_size, d->caps.shared_mem / 1024, d->caps.int_dot);
    free(caps);
    *out = d;
    return VLKV_OK;
fail:
    free(caps);
    vk_device_close(d);
    return st;
}

void vk_device_close(struct vk_device *d) {
    if (!d) return;
    if (d->dev) {
        vkDeviceWaitIdle(d->dev);
        vk_pipelines_destroy(d);
        if (d->pcache) vkDestroyPipelineCache(d->dev, d->pcache, NULL);
        if (d->dpool) vkDestroyDescriptorPool(d->dev, d->dpool, NULL);
        if (d->dsl) vkDestroyDescriptorSetLayout(d->dev, d->dsl, NULL);
        if (d->fence) vkDestroyFence(d->dev, d->fence, NULL);
        if (d->cmd_pool) vkDestroyCommandPool(d->dev, d->cmd_pool, NULL);
        vkDestroyDevice(d->dev, NULL);
    }
    if (d->instance) vkDestroyInstance(d->instance, NULL);
    free(d);
}

/* ---- recording ---- */

vlkv_status vk_begin(struct vk_device *d) {
    vlkv_status st = VLKV_OK;
    VLKV_ASSERT(!d->recording);
    VKC(vkResetDescriptorPool(d->dev, d->dpool, 0), "vkResetDescriptorPool");
    d->dsets_used = 0;
    VKC(vkResetCommandBuffer(d->cmd, 0), "vkResetCommandBuffer");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VKC(vkBeginCommandBuffer(d->cmd, &bi), "vkBeginCommandBuffer");
    d->recording = 1;
    d->n_cmds = 0;
fail:
    return st;
}

static void barrier(struct vk_device *d, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = dst_access};
    vkCmdPipelineBarrier(d->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stage, 0,
                         1, &mb, 0, NULL, 0, NULL);
}

static void barrier_if_needed(struct vk_device *d) {
    if (d->n_cmds > 0)
        barrier(d, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                    VK_ACCESS_TRANSFER_WRITE_BIT);
    d->n_cmds++;
}

static vlkv_status submit_wait(struct vk_device *d, VkCommandBuffer cb) {
    vlkv_status st = VLKV_OK;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    VKC(vkResetFences(d->dev, 1, &d->fence), "vkResetFences");
    VKC(vkQueueSubmit(d->queue, 1, &si, d->fence), "vkQueueSubmit");
    VKC(vkWaitForFences(d->dev, 1, &d->fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
fail:
    return st;
}

vlkv_status vk_submit(struct vk_device *d) {
    vlkv_status st = VLKV_OK;
    VLKV_ASSERT(d->recording);
    d->recording = 0;
    barrier(d, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    VKC(vkEndCommandBuffer(d->cmd), "vkEndCommandBuffer");
    VLKV_TRY(submit_wait(d, d->cmd));
fail:
    return st;
}

void vk_cancel(struct vk_device *d) {
    if (!d || !d->recording) return;
    d->recording = 0;
    vkEndCommandBuffer(d->cmd);
}

/* The descriptor pool is full: run what was recorded so far and start a new sequence. */
static vlkv_status flush(struct vk_device *d) {
    vlkv_status st = VLKV_OK;
    VLKV_TRY(vk_submit(d));
    VLKV_TRY(vk_begin(d));
fail:
    return st;
}

vlkv_status vk_dispatch(struct vk_device *d, enum vk_pipe p, const struct vk_ref *refs, int n_refs,
                        const void *push, uint32_t gx, uint32_t gy, uint32_t gz) {
    vlkv_status st = VLKV_OK;
    struct vk_pipeline *pl = NULL;
    VLKV_ASSERT(d->recording);
    VLKV_TRY(vk_pipeline_get(d, p, &pl));
    VLKV_ASSERT((uint32_t)n_refs == pl->n_bindings && n_refs <= VK_MAX_BINDINGS);
    if (gx == 0 || gy == 0 || gz == 0) return VLKV_OK;
    VLKV_CHECK(gx <= d->caps.max_wg_count[0] && gy <= d->caps.max_wg_count[1] && gz <= d->caps.max_wg_count[2],
               VLKV_ERR_UNSUPPORTED, "vulkan: dispatch %ux%ux%u exceeds the device's workgroup count limits",
               gx, gy, gz);
    if (d->dsets_used == VK_DSETS_PER_POOL) VLKV_TRY(flush(d));

    VkDescriptorSet set;
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = d->dpool, .descriptorSetCount = 1, .pSetLayouts = &d->dsl};
    VKC(vkAllocateDescriptorSets(d->dev, &ai, &set), "vkAllocateDescriptorSets");
    d->dsets_used++;

    VkDescriptorBufferInfo bi[VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (int i = 0; i < n_refs; i++) {
        const struct vk_ref *r = &refs[i];
        VLKV_ASSERT(r->b && r->b->buf);
        VLKV_CHECK(r->off % d->caps.min_sbuf_align == 0 && r->off < r->b->size, VLKV_ERR_INVALID_ARG,
                   "vulkan: binding %d offset %zu is misaligned (alignment %llu) or out of range", i, r->off,
                   (unsigned long long)d->caps.min_sbuf_align);
        size_t range = r->size ? r->size : (size_t)r->b->size - r->off;
        VLKV_CHECK(r->off + range <= r->b->size, VLKV_ERR_INVALID_ARG, "vulkan: binding %d range beyond its buffer", i);
        VLKV_CHECK(range <= d->caps.max_sbuf_range, VLKV_ERR_UNSUPPORTED,
                   "vulkan: binding %d needs %zu bytes, more than maxStorageBufferRange (%llu)", i, range,
                   (unsigned long long)d->caps.max_sbuf_range);
        bi[i] = (VkDescriptorBufferInfo){.buffer = r->b->buf, .offset = r->off, .range = range};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set,
                                      .dstBinding = (uint32_t)i, .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bi[i]};
    }
    vkUpdateDescriptorSets(d->dev, (uint32_t)n_refs, w, 0, NULL);

    barrier_if_needed(d);
    vkCmdBindPipeline(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pl->pipeline);
    vkCmdBindDescriptorSets(d->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pl->layout, 0, 1, &set, 0, NULL);
    if (pl->push_size) vkCmdPushConstants(d->cmd, pl->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pl->push_size, push);
    vkCmdDispatch(d->cmd, gx, gy, gz);
    d->n_dispatches++;
fail:
    return st;
}

vlkv_status vk_copy(struct vk_device *d, struct vk_ref dst, struct vk_ref src, size_t n) {
    VLKV_ASSERT(d->recording);
    if (n == 0) return VLKV_OK;
    if (dst.off + n > dst.b->size || src.off + n > src.b->size)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: copy of %zu bytes beyond a buffer", n);
    if (dst.b == src.b && dst.off < src.off + n && src.off < dst.off + n)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vulkan: overlapping copy");
    barrier_if_needed(d);
    VkBufferCopy region = {.srcOffset = src.off, .dstOffset = dst.off, .size = n};
    vkCmdCopyBuffer(d->cmd, src.b->buf, dst.b->buf, 1, &region);
    return VLKV_OK;
}

/* One-shot transfer used by vk_buffer.c for staging copies (outside a sequence). */
vlkv_status vk_copy_now(struct vk_device *d, VkBuffer dst, size_t dst_off, VkBuffer src, size_t src_off, size_t n) {
    vlkv_status st = VLKV_OK;
    VKC(vkResetCommandBuffer(d->xfer_cmd, 0), "vkResetCommandBuffer");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VKC(vkBeginCommandBuffer(d->xfer_cmd, &bi), "vkBeginCommandBuffer");
    VkBufferCopy region = {.srcOffset = src_off, .dstOffset = dst_off, .size = n};
    vkCmdCopyBuffer(d->xfer_cmd, src, dst, 1, &region);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(d->xfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0,
                         NULL);
    VKC(vkEndCommandBuffer(d->xfer_cmd), "vkEndCommandBuffer");
    VLKV_TRY(submit_wait(d, d->xfer_cmd));
fail:
    return st;
}
