/* cmd_info.c - `vlkv info FILE.gguf`: header, every metadata key (arrays abbreviated to their
 * type, length and first values), and the tensor table with per-type totals. The file is opened
 * with the strict reader, so a bad file is reported with the reason and exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gguf.h"
#include "internal.h"
#include "mkmodel.h"   /* vlkv_gguf_vtype_name */
#include "types.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: vlkv info FILE.gguf [options]\n"
        "  --no-tensors     metadata only\n"
        "  --all            print whole arrays and strings (default: first values)\n"
        "  -n N             array values to show (default 8)\n");
}

/* print a string with non-printable bytes escaped, at most max bytes (0 = all) */
static void put_str(const char *s, uint64_t len, uint64_t max) {
    putchar('"');
    uint64_t n = max && len > max ? max : len;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);   /* UTF-8 passes through */
    }
    putchar('"');
    if (n < len) printf("...(%llu bytes)", (unsigned long long)len);
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* one scalar of type `type` at p (little-endian, any alignment) */
static void put_scalar(uint32_t type, const uint8_t *p) {
    switch (type) {
    case GGUF_U8:   printf("%u", p[0]); break;
    case GGUF_I8:   printf("%d", (int8_t)p[0]); break;
    case GGUF_U16:  printf("%u", (unsigned)(p[0] | p[1] << 8)); break;
    case GGUF_I16:  printf("%d", (int16_t)(p[0] | p[1] << 8)); break;
    case GGUF_U32:  printf("%u", rd32(p)); break;
    case GGUF_I32:  printf("%d", (int32_t)rd32(p)); break;
    case GGUF_U64:  printf("%llu", (unsigned long long)rd64(p)); break;
    case GGUF_I64:  printf("%lld", (long long)(int64_t)rd64(p)); break;
    case GGUF_BOOL: fputs(p[0] ? "true" : "false", stdout); break;
    case GGUF_F32: {
        uint32_t u = rd32(p);
        float f;
        memcpy(&f, &u, 4);
        printf("%.9g", f);
        break;
    }
    case GGUF_F64: {
        uint64_t u = rd64(p);
        double d;
        memcpy(&d, &u, 8);
        printf("%.17g", d);
        break;
    }
    default: fputs("?", stdout);
    }
}

static const size_t scalar_size[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static void put_kv(const struct gguf_kv *kv, int all, uint64_t n_show) {
    printf("  %-44.*s ", (int)VLKV_MIN(kv->key.len, 200), kv->key.ptr);
    if (kv->type == GGUF_STR) {
        printf("%-14s = ", "str");
        put_str((const char *)kv->data + 8, rd64(kv->data), all ? 0 : 120);
    } else if (kv->type == GGUF_ARR) {
        char t[32];
        snprintf(t, sizeof t, "arr[%s,%llu]", vlkv_gguf_vtype_name(kv->arr_type), (unsigned long long)kv->arr_n);
        printf("%-14s = [", t);
        uint64_t n = all ? kv->arr_n : VLKV_MIN(kv->arr_n, n_show);
        for (uint64_t i = 0; i < n; i++) {
            if (i) fputs(", ", stdout);
            if (kv->arr_type == GGUF_STR) {
                struct gguf_str s = vlkv_gguf_arr_str(kv, i);
                put_str(s.ptr, s.len, all ? 0 : 40);
            } else {
                put_scalar(kv->arr_type, kv->data + i * scalar_size[kv->arr_type]);
            }
        }
        if (n < kv->arr_n) fputs(", ...", stdout);
        putchar(']');
    } else {
        printf("%-14s = ", vlkv_gguf_vtype_name(kv->type));
        put_scalar(kv->type, kv->data);
    }
    putchar('\n');
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int tensors = 1, all = 0;
    long n_show = 8;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--no-tensors")) {
            tensors = 0;
        } else if (!strcmp(argv[i], "--all")) {
            all = 1;
        } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            char *end;
            n_show = strtol(argv[++i], &end, 10);
            if (*end || n_show < 0) {
                fprintf(stderr, "vlkv: info: -n: bad count '%s'\n", argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vlkv: info: unknown flag '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "vlkv: info: one file at a time ('%s')\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }

    struct gguf_file f;
    vlkv_status st = vlkv_gguf_open(path, &f);
    if (st != VLKV_OK) {
        fprintf(stderr, "vlkv: info: %s\n", vlkv_last_error());
        return 1;
    }
    printf("file:       %s\n", path);
    printf("size:       %zu bytes (%.2f MiB)%s\n", f.size, f.size / 1048576.0, f.mapped ? "" : " (read, not mapped)");
    printf("gguf:       version %u, alignment %u, data at byte %zu\n", f.version, f.alignment, f.data_offset);
    printf("metadata:   %llu keys\n", (unsigned long long)f.n_kv);
    for (uint64_t i = 0; i < f.n_kv; i++) put_kv(&f.kv[i], all, (uint64_t)n_show);

    printf("tensors:    %llu\n", (unsigned long long)f.n_tensors);
    /* totals per type */
    uint64_t count[VLKV_TYPE_COUNT] = {0}, elems[VLKV_TYPE_COUNT] = {0}, bytes[VLKV_TYPE_COUNT] = {0};
    uint64_t tot_elems = 0, tot_bytes = 0;
    if (tensors && f.n_tensors)
        printf("  %5s  %-40s %-6s %-28s %12s %12s\n", "#", "name", "type", "shape (ne0 first)", "bytes", "offset");
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const struct vlkv_tensor *t = &f.tensors[i];
        uint64_t ne = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        count[t->type]++;
        elems[t->type] += ne;
        bytes[t->type] += t->nbytes;
        tot_elems += ne;
        tot_bytes += t->nbytes;
        if (!tensors) continue;
        char shape[64];
        int o = snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < VLKV_MAX(t->n_dims, 1) && o < (int)sizeof shape; d++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        if (o < (int)sizeof shape) snprintf(shape + o, sizeof shape - (size_t)o, "]");
        printf("  %5llu  %-40s %-6s %-28s %12zu %12llu\n", (unsigned long long)i, t->name, vlkv_type_name(t->type),
               shape, t->nbytes, (unsigned long long)t->offset);
    }
    printf("totals:     %llu elements (%.3f M), %llu bytes (%.2f MiB), %.3f bits/weight\n",
           (unsigned long long)tot_elems, tot_elems / 1e6, (unsigned long long)tot_bytes, tot_bytes / 1048576.0,
           tot_elems ? 8.0 * (double)tot_bytes / (double)tot_elems : 0.0);
    for (int ty = 0; ty < VLKV_TYPE_COUNT; ty++)
        if (count[ty])
            printf("  %-6s %5llu tensors %14llu elements %14llu bytes\n", vlkv_type_name((uint32_t)ty),
                   (unsigned long long)count[ty], (unsigned long long)elems[ty], (unsigned long long)bytes[ty]);
    vlkv_gguf_close(&f);
    return 0;
}
