/* gguf.c - strict GGUF v2/v3 reader over a read-only mapping and a small writer
 * (specs/formats.md §1). The file is untrusted input: every count is bounded by the bytes left
 * in the file before anything is allocated, every string and array lies inside the file, every
 * shape, type, size and offset is checked, and each failure names the file and the problem.
 *
 * Reader invariants after a successful open: all kv[i].data / tensors[i].data pointers lie
 * inside [map, map + size); string arrays have a precomputed index (kv->arr_str) so element
 * lookup is O(1); tensor data ranges are inside the data section and aligned to `alignment`.
 * Writer: llama.cpp gguf_writer.py layout (KVs in insertion order, tensor infos, zero padding
 * to the alignment, each tensor's data followed by zero padding). */
#define _POSIX_C_SOURCE 200809L
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "mkmodel.h"   /* writer extensions: raw KVs, deferred tensors */

#define GGUF_MAGIC        "GGUF"
#define GGUF_DEFAULT_ALIGN 32u
#define GGUF_MAX_NAME     64      /* GGML_MAX_NAME, including the NUL */

/* payload bytes of each scalar value type (0 = variable: string, array) */
static const size_t vtype_size[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const vtype_name[GGUF_VTYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};

/* little-endian loads that work on any host and any alignment */
static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32; }

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* =====================================================================================
 * Reader
 * ===================================================================================== */

/* Bounds-checked cursor over the whole file. `what` names the field being read for messages. */
struct cursor {
    const uint8_t *p;
    size_t         size;
    size_t         pos;
    const char    *path;
};

static size_t cur_left(const struct cursor *c) { return c->size - c->pos; }

static vlkv_status cur_trunc(const struct cursor *c, const char *what) {
    return vlkv_error(VLKV_ERR_FORMAT, "%s: truncated file: %s at byte %zu runs past the end (%zu bytes)",
                      c->path, what, c->pos, c->size);
}

static vlkv_status cur_u32(struct cursor *c, const char *what, uint32_t *v) {
    if (cur_left(c) < 4) return cur_trunc(c, what);
    *v = ld32(c->p + c->pos);
    c->pos += 4;
    return VLKV_OK;
}

static vlkv_status cur_u64(struct cursor *c, const char *what, uint64_t *v) {
    if (cur_left(c) < 8) return cur_trunc(c, what);
    *v = ld64(c->p + c->pos);
    c->pos += 8;
    return VLKV_OK;
}

static vlkv_status cur_str(struct cursor *c, const char *what, struct gguf_str *s) {
    uint64_t len = 0;
    vlkv_status st = cur_u64(c, what, &len);
    if (st) return st;
    if (len > cur_left(c))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: %s at byte %zu has length %llu, past the end of the file (%zu bytes)",
                          c->path, what, c->pos - 8, (unsigned long long)len, c->size);
    s->len = len;
    s->ptr = (const char *)c->p + c->pos;
    c->pos += (size_t)len;
    return VLKV_OK;
}

/* printable prefix of an untrusted string for messages */
static int msg_len(struct gguf_str s) { return (int)VLKV_MIN(s.len, 64u); }

static int str_eq(struct gguf_str s, const char *z) {
    size_t n = strlen(z);
    return s.len == n && memcmp(s.ptr, z, n) == 0;
}

static int str_cmp(struct gguf_str a, struct gguf_str b) {
    size_t n = (size_t)VLKV_MIN(a.len, b.len);
    int r = memcmp(a.ptr, b.ptr, n);
    if (r) return r;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_kv_key(const void *a, const void *b) {
    return str_cmp((*(const struct gguf_kv *const *)a)->key, (*(const struct gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const struct vlkv_tensor *const *)a)->name, (*(const struct vlkv_tensor *const *)b)->name);
}

/* One KV pair at the cursor. Arrays of strings get their O(1) index here. */
static vlkv_status parse_kv(struct cursor *c, uint64_t ikv, struct gguf_kv *kv) {
    vlkv_status st;
    const char *path = c->path;
    if ((st = cur_str(c, "metadata key", &kv->key))) return st;
    if (kv->key.len == 0)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: metadata key %llu is empty", path, (unsigned long long)ikv);
    if (memchr(kv->key.ptr, 0, (size_t)kv->key.len))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: metadata key %llu contains a NUL byte", path, (unsigned long long)ikv);
    int kl = msg_len(kv->key);
    const char *kp = kv->key.ptr;
    if ((st = cur_u32(c, "metadata value type", &kv->type))) return st;
    if (kv->type >= GGUF_VTYPE_COUNT)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%.*s': unknown value type %u", path, kl, kp, kv->type);

    if (kv->type == GGUF_STR) {
        struct gguf_str s;
        kv->data = c->p + c->pos;
        return cur_str(c, "string value", &s);
    }
    if (kv->type != GGUF_ARR) {
        size_t n = vtype_size[kv->type];
        if (cur_left(c) < n) return cur_trunc(c, "metadata value");
        kv->data = c->p + c->pos;
        if (kv->type == GGUF_BOOL && kv->data[0] > 1)
            return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%.*s': bool value %u is not 0 or 1", path, kl, kp,
                              kv->data[0]);
        c->pos += n;
        return VLKV_OK;
    }

    /* array: element type, count, elements */
    if ((st = cur_u32(c, "array element type", &kv->arr_type))) return st;
    if (kv->arr_type == GGUF_ARR)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%.*s': nested arrays are not supported", path, kl, kp);
    if (kv->arr_type >= GGUF_VTYPE_COUNT)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%.*s': unknown array element type %u", path, kl, kp,
                          kv->arr_type);
    if ((st = cur_u64(c, "array length", &kv->arr_n))) return st;
    /* every element takes at least esz bytes: bound the count by the bytes left before allocating */
    size_t esz = kv->arr_type == GGUF_STR ? 8 : vtype_size[kv->arr_type];
    if (kv->arr_n > cur_left(c) / esz)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%.*s': array of %llu %s elements does not fit in the file",
                          path, kl, kp, (unsigned long long)kv->arr_n, vtype_name[kv->arr_type]);
    kv->data = c->p + c->pos;
    if (kv->arr_type == GGUF_STR) {
        struct gguf_str *idx = malloc((size_t)VLKV_MAX(kv->arr_n, 1) * sizeof *idx);
        if (!idx) return vlkv_error(VLKV_ERR_OOM, "%s: key '%.*s': out of memory for %llu strings", path, kl, kp,
                                    (unsigned long long)kv->arr_n);
        kv->arr_str = idx;
        for (uint64_t i = 0; i < kv->arr_n; i++)
            if ((st = cur_str(c, "array string", &idx[i]))) return st;
        return VLKV_OK;
    }
    size_t nbytes = (size_t)kv->arr_n * esz;
    if (kv->arr_type == GGUF_BOOL)
        for (size_t i = 0; i < nbytes; i++)
            if (kv->data[i] > 1)
                return vlkv_error(VLKV_ERR_FORMAT, "%s: key '%.*s': bool element %zu is %u, not 0 or 1", path, kl,
                                  kp, i, kv->data[i]);
    c->pos += nbytes;
    return VLKV_OK;
}

/* One tensor info at the cursor: name, shape, type, offset; sizes and strides computed. */
static vlkv_status parse_tensor_info(struct cursor *c, uint64_t it, uint32_t alignment, struct vlkv_tensor *t) {
    vlkv_status st;
    const char *path = c->path;
    struct gguf_str name;
    if ((st = cur_str(c, "tensor name", &name))) return st;
    if (name.len == 0)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor %llu has an empty name", path, (unsigned long long)it);
    if (name.len >= GGUF_MAX_NAME)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor %llu: name '%.*s...' is %llu bytes (max %d)", path,
                          (unsigned long long)it, 32, name.ptr, (unsigned long long)name.len, GGUF_MAX_NAME - 1);
    if (memchr(name.ptr, 0, (size_t)name.len))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor %llu: name contains a NUL byte", path, (unsigned long long)it);
    memcpy(t->name, name.ptr, (size_t)name.len);
    t->name[name.len] = '\0';

    uint32_t n_dims = 0;
    if ((st = cur_u32(c, "tensor n_dims", &n_dims))) return st;
    if (n_dims > 4)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s': n_dims %u > 4", path, t->name, n_dims);
    t->n_dims = (int32_t)n_dims;
    for (int j = 0; j < 4; j++) t->ne[j] = 1;
    int64_t nel = 1;
    for (uint32_t j = 0; j < n_dims; j++) {
        uint64_t d;
        if ((st = cur_u64(c, "tensor dimension", &d))) return st;
        if (d > (uint64_t)INT64_MAX)
            return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s': dimension %u is negative (%lld)", path, t->name, j,
                              (long long)(int64_t)d);
        t->ne[j] = (int64_t)d;
        if (d != 0 && nel > INT64_MAX / (int64_t)d)
            return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s': element count overflows", path, t->name);
        nel *= (int64_t)d;
    }

    if ((st = cur_u32(c, "tensor type", &t->type))) return st;
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(t->type);
    if (!tr)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s': unknown type id %u", path, t->name, t->type);
    if (t->ne[0] % tr->blck != 0)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s': ne0 = %lld is not a multiple of the %s block size %d",
                          path, t->name, (long long)t->ne[0], tr->name, (int)tr->blck);

    /* strides: nb0 = block bytes, nb1 = row bytes, nb[i] = nb[i-1]*ne[i-1]; all overflow-checked */
    size_t nb = 0;
    int ok = t->ne[0] / tr->blck <= (int64_t)(SIZE_MAX / 2) && vlkv_mul_ok(tr->type_size, (size_t)(t->ne[0] / tr->blck), &nb);
    t->nb[0] = tr->type_size;
    t->nb[1] = nb;
    for (int j = 2; ok && j < 4; j++) {
        ok = (uint64_t)t->ne[j - 1] <= SIZE_MAX && vlkv_mul_ok(t->nb[j - 1], (size_t)t->ne[j - 1], &t->nb[j]);
    }
    ok = ok && (uint64_t)t->ne[3] <= SIZE_MAX && vlkv_mul_ok(t->nb[3], (size_t)t->ne[3], &t->nbytes);
    if (!ok) return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, t->name);

    if ((st = cur_u64(c, "tensor offset", &t->offset))) return st;
    if (t->offset % alignment != 0)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the alignment %u",
                          path, t->name, (unsigned long long)t->offset, alignment);
    return VLKV_OK;
}

static vlkv_status parse(struct gguf_file *f) {
    vlkv_status st = VLKV_OK;
    struct cursor c = {f->map, f->size, 0, f->path};
    const char *path = f->path;
    const void **sorted = NULL;

    /* ---- header ---- */
    if (f->size < 4 || memcmp(f->map, GGUF_MAGIC, 4) != 0) {
        if (f->size >= 4 && (!memcmp(f->map, "tjgg", 4) || !memcmp(f->map, "lmgg", 4) || !memcmp(f->map, "fmgg", 4)))
            return vlkv_error(VLKV_ERR_FORMAT, "%s: legacy GGML/GGJT file, not GGUF (convert it with llama.cpp)", path);
        if (f->size >= 4 && !memcmp(f->map, "FUGG", 4))
            return vlkv_error(VLKV_ERR_FORMAT, "%s: byte-swapped GGUF magic (big-endian file?)", path);
        return vlkv_error(VLKV_ERR_FORMAT, "%s: not a GGUF file (bad magic%s)", path,
                          f->size < 4 ? ", file shorter than 4 bytes" : "");
    }
    c.pos = 4;
    VLKV_TRY(cur_u32(&c, "version", &f->version));
    if (f->version != 0 && (f->version & 0xFFFF) == 0)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: GGUF version 0x%08x looks byte-swapped (wrong endianness)", path,
                          f->version);
    if (f->version < 2)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: GGUF version %u is not supported (need 2 or 3)", path, f->version);
    if (f->version > 3)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: GGUF version %u is newer than supported (2 or 3)", path, f->version);
    VLKV_TRY(cur_u64(&c, "tensor count", &f->n_tensors));
    VLKV_TRY(cur_u64(&c, "metadata kv count", &f->n_kv));
    /* bound both counts by the smallest encodings (KV >= 8+1+4+1 bytes, info >= 8+1+4+4+8) */
    if (f->n_kv > cur_left(&c) / 14)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: metadata kv count %llu cannot fit in a %zu-byte file", path,
                          (unsigned long long)f->n_kv, f->size);
    if (f->n_tensors > cur_left(&c) / 25)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: tensor count %llu cannot fit in a %zu-byte file", path,
                          (unsigned long long)f->n_tensors, f->size);

    /* ---- metadata ---- */
    f->kv = calloc((size_t)VLKV_MAX(f->n_kv, 1), sizeof *f->kv);
    if (!f->kv) return vlkv_error(VLKV_ERR_OOM, "%s: out of memory for %llu KVs", path, (unsigned long long)f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++) VLKV_TRY(parse_kv(&c, i, &f->kv[i]));

    /* duplicate keys: sort pointers, compare neighbours (O(n log n) even for hostile counts) */
    sorted = malloc((size_t)VLKV_MAX(VLKV_MAX(f->n_kv, f->n_tensors), 1) * sizeof *sorted);
    if (!sorted) return vlkv_error(VLKV_ERR_OOM, "%s: out of memory", path);
    for (uint64_t i = 0; i < f->n_kv; i++) sorted[i] = &f->kv[i];
    qsort(sorted, (size_t)f->n_kv, sizeof *sorted, cmp_kv_key);
    for (uint64_t i = 1; i < f->n_kv; i++) {
        const struct gguf_kv *a = sorted[i - 1], *b = sorted[i];
        VLKV_CHECK(str_cmp(a->key, b->key) != 0, VLKV_ERR_FORMAT, "%s: duplicate metadata key '%.*s'", path,
                   msg_len(a->key), a->key.ptr);
    }

    f->alignment = GGUF_DEFAULT_ALIGN;
    const struct gguf_kv *al = vlkv_gguf_find_kv(f, "general.alignment");
    if (al) {
        VLKV_CHECK(al->type == GGUF_U32, VLKV_ERR_FORMAT, "%s: general.alignment has type %s, must be u32", path,
                   vtype_name[al->type]);
        uint32_t a = ld32(al->data);
        VLKV_CHECK(a != 0 && (a & (a - 1)) == 0, VLKV_ERR_FORMAT,
                   "%s: general.alignment = %u is not a power of two", path, a);
        f->alignment = a;
    }

    /* ---- tensor infos ---- */
    f->tensors = calloc((size_t)VLKV_MAX(f->n_tensors, 1), sizeof *f->tensors);
    VLKV_CHECK(f->tensors, VLKV_ERR_OOM, "%s: out of memory for %llu tensors", path, (unsigned long long)f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++) VLKV_TRY(parse_tensor_info(&c, i, f->alignment, &f->tensors[i]));

    for (uint64_t i = 0; i < f->n_tensors; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, (size_t)f->n_tensors, sizeof *sorted, cmp_tensor_name);
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        const struct vlkv_tensor *a = sorted[i - 1], *b = sorted[i];
        VLKV_CHECK(strcmp(a->name, b->name) != 0, VLKV_ERR_FORMAT, "%s: duplicate tensor name '%s'", path, a->name);
    }

    /* ---- data section ---- */
    f->data_offset = c.pos;
    if (f->n_tensors > 0) {
        size_t pad = (f->alignment - c.pos % f->alignment) % f->alignment;
        VLKV_CHECK(pad <= cur_left(&c), VLKV_ERR_FORMAT,
                   "%s: truncated file: data section would start at byte %zu, past the end (%zu bytes)", path,
                   c.pos + pad, f->size);
        f->data_offset = c.pos + pad;
    }
    size_t data_size = f->size - f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        struct vlkv_tensor *t = &f->tensors[i];
        VLKV_CHECK(t->offset <= data_size && t->nbytes <= data_size - t->offset, VLKV_ERR_FORMAT,
                   "%s: tensor '%s': data [%llu, +%zu) lies outside the %zu-byte data section (file truncated?)",
                   path, t->name, (unsigned long long)t->offset, t->nbytes, data_size);
        t->data = f->map + f->data_offset + t->offset;
    }
    free(sorted);
    return VLKV_OK;
fail:
    free(sorted);
    return st;
}

static vlkv_status open_common(struct gguf_file *f) {
    vlkv_status st = parse(f);
    if (st != VLKV_OK) {
        vlkv_gguf_close(f);
        return st;
    }
    VLKV_LOG_DBG("%s: GGUF v%u, %llu KVs, %llu tensors, alignment %u, data at %zu", f->path, f->version,
                 (unsigned long long)f->n_kv, (unsigned long long)f->n_tensors, f->alignment, f->data_offset);
    return VLKV_OK;
}

vlkv_status vlkv_gguf_open(const char *path, struct gguf_file *out) {
    VLKV_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!path) return vlkv_error(VLKV_ERR_INVALID_ARG, "gguf: NULL path");
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vlkv_error(VLKV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        close(fd);
        return vlkv_error(VLKV_ERR_IO, "%s: not a regular file%s%s", path, e ? ": " : "", e ? strerror(e) : "");
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return vlkv_error(VLKV_ERR_IO, "%s: file too large for this platform", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size == 0) {
        close(fd);
        return vlkv_error(VLKV_ERR_FORMAT, "%s: empty file, not a GGUF file", path);
    }
    out->path = str_dup(path);
    if (!out->path) {
        close(fd);
        return vlkv_error(VLKV_ERR_OOM, "%s: out of memory", path);
    }
    out->size = size;
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
        out->map = m;
        out->mapped = 1;
    } else {
        /* read() fallback (filesystems without mmap) into a 64-byte aligned heap copy */
        uint8_t *buf = vlkv_malloc_aligned(size);
        if (!buf) {
            close(fd);
            vlkv_gguf_close(out);
            return vlkv_error(VLKV_ERR_OOM, "%s: cannot map or allocate %zu bytes", path, size);
        }
        size_t got = 0;
        while (got < size) {
            ssize_t r = read(fd, buf + got, VLKV_MIN(size - got, (size_t)1 << 30));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                int e = errno;
                close(fd);
                vlkv_free_aligned(buf);
                vlkv_gguf_close(out);
                return vlkv_error(VLKV_ERR_IO, "%s: read failed: %s", path, r < 0 ? strerror(e) : "unexpected EOF");
            }
            got += (size_t)r;
        }
        out->map = buf;
        out->mapped = 0;
    }
    close(fd);
    return open_common(out);
}

vlkv_status vlkv_gguf_open_buffer(const void *buf, size_t size, const char *name, struct gguf_file *out) {
    VLKV_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (!name) name = "<buffer>";
    if (!buf && size) return vlkv_error(VLKV_ERR_INVALID_ARG, "%s: NULL buffer", name);
    out->path = str_dup(name);
    if (!out->path) return vlkv_error(VLKV_ERR_OOM, "%s: out of memory", name);
    uint8_t *copy = vlkv_malloc_aligned(VLKV_MAX(size, 1));
    if (!copy) {
        vlkv_gguf_close(out);
        return vlkv_error(VLKV_ERR_OOM, "%s: cannot allocate %zu bytes", name, size);
    }
    if (size) memcpy(copy, buf, size);
    out->map = copy;
    out->size = size;
    out->mapped = 0;
    return open_common(out);
}

void vlkv_gguf_close(struct gguf_file *f) {
    if (!f) return;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++) free((void *)f->kv[i].arr_str);
    free(f->kv);
    free(f->tensors);
    if (f->map) {
        if (f->mapped) munmap((void *)f->map, f->size);
        else vlkv_free_aligned((void *)f->map);
    }
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* ---- lookups and typed getters ----------------------------------------------------------- */

const struct gguf_kv *vlkv_gguf_find_kv(const struct gguf_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const struct vlkv_tensor *vlkv_gguf_find_tensor(const struct gguf_file *f, const char *name) {
    if (!f || !name) return NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

/* integer value of type `type` at p; 0 if not an integer type or a u64 beyond INT64_MAX */
static int load_int(uint32_t type, const uint8_t *p, int64_t *out) {
    switch (type) {
    case GGUF_U8:  *out = p[0]; return 1;
    case GGUF_I8:  *out = (int8_t)p[0]; return 1;
    case GGUF_U16: *out = ld16(p); return 1;
    case GGUF_I16: *out = (int16_t)ld16(p); return 1;
    case GGUF_U32: *out = ld32(p); return 1;
    case GGUF_I32: *out = (int32_t)ld32(p); return 1;
    case GGUF_I64: *out = (int64_t)ld64(p); return 1;
    case GGUF_U64: {
        uint64_t v = ld64(p);
        if (v > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)v;
        return 1;
    }
    default: return 0;
    }
}

static int load_float(uint32_t type, const uint8_t *p, float *out) {
    if (type == GGUF_F32) {
        uint32_t u = ld32(p);
        memcpy(out, &u, 4);
        return 1;
    }
    if (type == GGUF_F64) {
        uint64_t u = ld64(p);
        double d;
        memcpy(&d, &u, 8);
        *out = (float)d;
        return 1;
    }
    return 0;
}

int vlkv_gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    int64_t v;
    if (!kv || !load_int(kv->type, kv->data, &v) || v < 0 || v > (int64_t)UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

int vlkv_gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    return kv && load_int(kv->type, kv->data, out);
}

int vlkv_gguf_get_f32(const struct gguf_file *f, const char *key, float *out) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    return kv && load_float(kv->type, kv->data, out);
}

int vlkv_gguf_get_bool(const struct gguf_file *f, const char *key, int *out) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_BOOL) return 0;
    *out = kv->data[0];
    return 1;
}

int vlkv_gguf_get_str(const struct gguf_file *f, const char *key, char *buf, size_t n) {
    const struct gguf_kv *kv = vlkv_gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_STR || !buf || n == 0) return 0;
    size_t len = (size_t)ld64(kv->data);
    size_t m = VLKV_MIN(len, n - 1);
    memcpy(buf, kv->data + 8, m);
    buf[m] = '\0';
    return 1;
}

struct gguf_str vlkv_gguf_arr_str(const struct gguf_kv *kv, uint64_t i) {
    struct gguf_str none = {0, NULL};
    if (!kv || kv->type != GGUF_ARR || kv->arr_type != GGUF_STR || i >= kv->arr_n) return none;
    return kv->arr_str[i];
}

int vlkv_gguf_arr_f32(const struct gguf_kv *kv, uint64_t i, float *out) {
    if (!kv || kv->type != GGUF_ARR || i >= kv->arr_n) return 0;
    if (kv->arr_type != GGUF_F32 && kv->arr_type != GGUF_F64) return 0;
    return load_float(kv->arr_type, kv->data + i * vtype_size[kv->arr_type], out);
}

int vlkv_gguf_arr_i64(const struct gguf_kv *kv, uint64_t i, int64_t *out) {
    if (!kv || kv->type != GGUF_ARR || i >= kv->arr_n || kv->arr_type >= GGUF_VTYPE_COUNT) return 0;
    size_t esz = vtype_size[kv->arr_type];
    if (esz == 0) return 0;
    return load_int(kv->arr_type, kv->data + i * esz, out);
}

const char *vlkv_gguf_vtype_name(uint32_t type) { return type < GGUF_VTYPE_COUNT ? vtype_name[type] : "?"; }

/* =====================================================================================
 * Writer
 * ===================================================================================== */

struct wtensor {
    char     name[GGUF_MAX_NAME];
    uint32_t type;
    int      n_dims;
    int64_t  ne[4];
    size_t   nbytes;
    void    *data;   /* owned copy, or NULL for a deferred tensor filled at save time */
};

struct gguf_writer {
    uint32_t        alignment;
    uint8_t        *kv;          /* serialized KV pairs in insertion order */
    size_t          kv_len, kv_cap;
    uint64_t        n_kv;
    char          **keys;        /* for duplicate detection */
    struct wtensor *t;
    size_t          n_t, cap_t;
    vlkv_status     err;         /* first error; reported by save */
    char            errmsg[256];
};

static void w_fail(struct gguf_writer *w, vlkv_status st, const char *fmt, const char *arg) {
    if (w->err) return;
    w->err = st;
    snprintf(w->errmsg, sizeof w->errmsg, fmt, arg);
}

static int w_bytes(struct gguf_writer *w, const void *p, size_t n) {
    if (w->err) return 0;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = VLKV_MAX(w->kv_cap * 2, w->kv_len + n + 256);
        uint8_t *nb = realloc(w->kv, cap);
        if (!nb) {
            w_fail(w, VLKV_ERR_OOM, "out of memory%s", "");
            return 0;
        }
        w->kv = nb;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 1;
}

static void w_le32(struct gguf_writer *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_bytes(w, b, 4);
}

static void w_le64(struct gguf_writer *w, uint64_t v) {
    w_le32(w, (uint32_t)v);
    w_le32(w, (uint32_t)(v >> 32));
}

static void w_gstr(struct gguf_writer *w, const char *s, size_t n) {
    w_le64(w, n);
    w_bytes(w, s, n);
}

/* key + type header; returns 0 if the key is invalid or already present */
static int w_key(struct gguf_writer *w, const char *key, uint32_t type) {
    if (w->err) return 0;
    if (!key || !*key) {
        w_fail(w, VLKV_ERR_INVALID_ARG, "empty metadata key%s", "");
        return 0;
    }
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) {
            w_fail(w, VLKV_ERR_INVALID_ARG, "duplicate metadata key '%s'", key);
            return 0;
        }
    char **nk = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *nk);
    char *k = str_dup(key);
    if (nk) w->keys = nk;
    if (!nk || !k) {
        free(k);
        w_fail(w, VLKV_ERR_OOM, "out of memory%s", "");
        return 0;
    }
    w->keys[w->n_kv++] = k;
    w_gstr(w, key, strlen(key));
    w_le32(w, type);
    return !w->err;
}

/* little-endian scalar payload of a value of type `type` read from host memory */
static void w_scalar(struct gguf_writer *w, uint32_t type, const void *v) {
    const uint8_t *p = v;
    switch (vtype_size[type]) {
    case 1: w_bytes(w, p, 1); break;
    case 2: { uint16_t x; memcpy(&x, p, 2); uint8_t b[2] = {(uint8_t)x, (uint8_t)(x >> 8)}; w_bytes(w, b, 2); break; }
    case 4: { uint32_t x; memcpy(&x, p, 4); w_le32(w, x); break; }
    case 8: { uint64_t x; memcpy(&x, p, 8); w_le64(w, x); break; }
    default: VLKV_ASSERT(0);
    }
}

struct gguf_writer *vlkv_gguf_writer_new(uint32_t alignment) {
    if (alignment == 0) alignment = GGUF_DEFAULT_ALIGN;
    VLKV_ASSERT((alignment & (alignment - 1)) == 0);
    struct gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->alignment = alignment;
    if (alignment != GGUF_DEFAULT_ALIGN) vlkv_gguf_w_u32(w, "general.alignment", alignment);
    return w;
}

void vlkv_gguf_writer_free(struct gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].data);
    free(w->t);
    free(w->kv);
    free(w);
}

void vlkv_gguf_w_raw(struct gguf_writer *w, const char *key, uint32_t type, const void *v) {
    VLKV_ASSERT(type < GGUF_VTYPE_COUNT && type != GGUF_STR && type != GGUF_ARR);
    if (w_key(w, key, type)) w_scalar(w, type, v);
}

void vlkv_gguf_w_arr(struct gguf_writer *w, const char *key, uint32_t elem_type, const void *v, uint64_t n) {
    VLKV_ASSERT(elem_type < GGUF_VTYPE_COUNT && elem_type != GGUF_ARR);
    if (elem_type == GGUF_STR) {
        vlkv_gguf_w_arr_str(w, key, v, n);
        return;
    }
    if (!w_key(w, key, GGUF_ARR)) return;
    w_le32(w, elem_type);
    w_le64(w, n);
    size_t esz = vtype_size[elem_type];
    for (uint64_t i = 0; i < n && !w->err; i++) w_scalar(w, elem_type, (const uint8_t *)v + i * esz);
}

void vlkv_gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v) { vlkv_gguf_w_raw(w, key, GGUF_U32, &v); }
void vlkv_gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v) { vlkv_gguf_w_raw(w, key, GGUF_I32, &v); }
void vlkv_gguf_w_f32(struct gguf_writer *w, const char *key, float v) { vlkv_gguf_w_raw(w, key, GGUF_F32, &v); }

void vlkv_gguf_w_bool(struct gguf_writer *w, const char *key, int v) {
    uint8_t b = v ? 1 : 0;
    vlkv_gguf_w_raw(w, key, GGUF_BOOL, &b);
}

void vlkv_gguf_w_str(struct gguf_writer *w, const char *key, const char *v) {
    if (!v || !*v) return;   /* gguf_writer.py drops empty strings */
    if (w_key(w, key, GGUF_STR)) w_gstr(w, v, strlen(v));
}

void vlkv_gguf_w_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (n == 0) return;      /* gguf_writer.py drops empty arrays */
    if (!w_key(w, key, GGUF_ARR)) return;
    w_le32(w, GGUF_STR);
    w_le64(w, n);
    for (uint64_t i = 0; i < n && !w->err; i++) w_gstr(w, v[i], strlen(v[i]));
}

void vlkv_gguf_w_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n) {
    if (n) vlkv_gguf_w_arr(w, key, GGUF_F32, v, n);
}

void vlkv_gguf_w_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    if (n) vlkv_gguf_w_arr(w, key, GGUF_I32, v, n);
}

static struct wtensor *w_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                    const int64_t *ne) {
    if (w->err) return NULL;
    const struct vlkv_type_traits *tr = vlkv_type_traits_get(type);
    if (!name || !*name || strlen(name) >= GGUF_MAX_NAME) {
        w_fail(w, VLKV_ERR_INVALID_ARG, "bad tensor name '%s' (1..63 bytes)", name ? name : "(null)");
        return NULL;
    }
    if (!tr || n_dims < 1 || n_dims > 4) {
        w_fail(w, VLKV_ERR_INVALID_ARG, "tensor '%s': bad type or n_dims", name);
        return NULL;
    }
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) {
            w_fail(w, VLKV_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);
            return NULL;
        }
    struct wtensor t = {0};
    memcpy(t.name, name, strlen(name) + 1);
    t.type = type;
    t.n_dims = n_dims;
    for (int j = 0; j < 4; j++) t.ne[j] = j < n_dims ? ne[j] : 1;
    int ok = t.ne[0] >= 0 && t.ne[0] % tr->blck == 0;
    size_t nb = ok ? (size_t)(t.ne[0] / tr->blck) * tr->type_size : 0;
    for (int j = 1; ok && j < 4; j++) ok = t.ne[j] >= 0 && vlkv_mul_ok(nb, (size_t)t.ne[j], &nb);
    if (!ok) {
        w_fail(w, VLKV_ERR_INVALID_ARG, "tensor '%s': bad shape for its type", name);
        return NULL;
    }
    t.nbytes = nb;
    if (w->n_t == w->cap_t) {
        size_t cap = VLKV_MAX(w->cap_t * 2, 16);
        struct wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) {
            w_fail(w, VLKV_ERR_OOM, "out of memory%s", "");
            return NULL;
        }
        w->t = nt;
        w->cap_t = cap;
    }
    w->t[w->n_t] = t;
    return &w->t[w->n_t++];
}

void vlkv_gguf_w_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims, const int64_t *ne,
                        const void *data) {
    struct wtensor *t = w_add_tensor(w, name, type, n_dims, ne);
    if (!t) return;
    t->data = malloc(VLKV_MAX(t->nbytes, 1));
    if (!t->data) {
        w->n_t--;
        w_fail(w, VLKV_ERR_OOM, "out of memory for tensor '%s'", name);
        return;
    }
    if (t->nbytes) memcpy(t->data, data, t->nbytes);
}

void vlkv_gguf_w_tensor_deferred(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                 const int64_t *ne) {
    w_add_tensor(w, name, type, n_dims, ne);
}

static int f_write(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n; }

static int f_pad(FILE *fp, size_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = VLKV_MIN(n, sizeof zeros);
        if (!f_write(fp, zeros, k)) return 0;
        n -= k;
    }
    return 1;
}

static int f_le32(FILE *fp, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return f_write(fp, b, 4);
}

static int f_le64(FILE *fp, uint64_t v) { return f_le32(fp, (uint32_t)v) && f_le32(fp, (uint32_t)(v >> 32)); }

vlkv_status vlkv_gguf_writer_save_cb(struct gguf_writer *w, const char *path, vlkv_gguf_fill_fn fill, void *ud) {
    vlkv_status st = VLKV_OK;
    FILE *fp = NULL;
    uint8_t *buf = NULL;
    VLKV_ASSERT(w && path);
    if (w->err) return vlkv_error(w->err, "%s: gguf writer: %s", path, w->errmsg);

    size_t max_deferred = 0;
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data) max_deferred = VLKV_MAX(max_deferred, w->t[i].nbytes);
    if (max_deferred) {
        VLKV_CHECK(fill, VLKV_ERR_INVALID_ARG, "%s: gguf writer: deferred tensors need a fill callback", path);
        buf = vlkv_malloc_aligned(max_deferred);
        VLKV_CHECK(buf, VLKV_ERR_OOM, "%s: out of memory (%zu bytes)", path, max_deferred);
    }

    fp = fopen(path, "wb");
    VLKV_CHECK(fp, VLKV_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    int ok = f_write(fp, GGUF_MAGIC, 4) && f_le32(fp, 3) && f_le64(fp, w->n_t) && f_le64(fp, w->n_kv) &&
             f_write(fp, w->kv, w->kv_len);
    size_t pos = 24 + w->kv_len;
    uint64_t offset = 0;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        ok = f_le64(fp, nl) && f_write(fp, t->name, nl) && f_le32(fp, (uint32_t)t->n_dims);
        for (int j = 0; ok && j < t->n_dims; j++) ok = f_le64(fp, (uint64_t)t->ne[j]);
        ok = ok && f_le32(fp, t->type) && f_le64(fp, offset);
        pos += 8 + nl + 4 + 8 * (size_t)t->n_dims + 4 + 8;
        offset += VLKV_ALIGN_UP(t->nbytes, w->alignment);
    }
    if (ok && w->n_t) ok = f_pad(fp, (w->alignment - pos % w->alignment) % w->alignment);
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        const void *src = t->data;
        if (!src) {
            if (t->nbytes) VLKV_TRY(fill(ud, i, t->name, buf, t->nbytes));
            src = buf;
        }
        ok = f_write(fp, src, t->nbytes) && f_pad(fp, VLKV_ALIGN_UP(t->nbytes, w->alignment) - t->nbytes);
    }
    VLKV_CHECK(ok, VLKV_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    int rc = fclose(fp);
    fp = NULL;
    if (rc != 0) {
        st = vlkv_error(VLKV_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(path);
        goto fail;
    }
    vlkv_free_aligned(buf);
    return VLKV_OK;
fail:
    if (fp) {
        fclose(fp);
        remove(path);   /* no half-written model files */
    }
    vlkv_free_aligned(buf);
    return st;
}

vlkv_status vlkv_gguf_writer_save(struct gguf_writer *w, const char *path) {
    return vlkv_gguf_writer_save_cb(w, path, NULL, NULL);
}
