/* gguf.h - strict GGUF v2/v3 reader over a read-only mapping (specs/formats.md §1) and a
 * small writer used by `vlkv mkmodel` and the tests. The file is untrusted: every count,
 * length, offset, size and shape is checked, and failures name the file and the problem. */
#ifndef VLKV_GGUF_H
#define VLKV_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "vlkv.h"
#include "types.h"

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STR = 8, GGUF_ARR = 9, GGUF_U64 = 10, GGUF_I64 = 11,
    GGUF_F64 = 12, GGUF_VTYPE_COUNT = 13
};

struct gguf_str { uint64_t len; const char *ptr; };   /* points into the mapping, not NUL-terminated */

struct gguf_kv {
    struct gguf_str key;
    uint32_t        type;        /* enum gguf_vtype */
    uint32_t        arr_type;    /* element type when type == GGUF_ARR */
    uint64_t        arr_n;       /* element count when type == GGUF_ARR */
    const uint8_t  *data;        /* scalar payload, or first array element, inside the mapping */
    const struct gguf_str *arr_str; /* string arrays only: arr_n views, built at open (owned by the file) */
};

/* A tensor view into the mapping; never owns its data. ne[0] is the contiguous dimension. */
struct vlkv_tensor {
    char           name[64];
    uint32_t       type;         /* enum vlkv_type */
    int32_t        n_dims;
    int64_t        ne[4];        /* missing dims are 1 */
    size_t         nb[4];        /* byte strides */
    size_t         nbytes;
    uint64_t       offset;       /* relative to the data section */
    const void    *data;
    const void    *repack;       /* row-interleaved copy for the CPU decode kernels (simd.h), made
                                    and freed by model.c; NULL = use data */
};

struct gguf_file {
    char               *path;
    const uint8_t      *map;       /* whole file */
    size_t              size;
    int                 mapped;    /* 1 = mmap, 0 = heap copy */
    uint32_t            version;
    uint32_t            alignment;
    uint64_t            n_kv;
    struct gguf_kv     *kv;
    uint64_t            n_tensors;
    struct vlkv_tensor *tensors;
    size_t              data_offset;
};

/* Open and fully validate a GGUF file. On error returns the status (VLKV_ERR_IO / _FORMAT /
 * _OOM) with vlkv_last_error() naming the file and problem, and leaves *out zeroed. */
vlkv_status vlkv_gguf_open(const char *path, struct gguf_file *out);
/* Same over a caller-owned buffer (copied), for fuzzing and tests. `name` is used in messages. */
vlkv_status vlkv_gguf_open_buffer(const void *buf, size_t size, const char *name, struct gguf_file *out);
void        vlkv_gguf_close(struct gguf_file *f);

const struct gguf_kv     *vlkv_gguf_find_kv(const struct gguf_file *f, const char *key);
const struct vlkv_tensor *vlkv_gguf_find_tensor(const struct gguf_file *f, const char *name);

/* Typed getters: return 1 and write *out if the key exists with a convertible type and the
 * value is in range (any integer width for ints; F32/F64 for floats), else 0. */
int vlkv_gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
int vlkv_gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out);
int vlkv_gguf_get_f32(const struct gguf_file *f, const char *key, float *out);
int vlkv_gguf_get_bool(const struct gguf_file *f, const char *key, int *out);
/* String value copied into buf (NUL-terminated, truncated to n-1). */
int vlkv_gguf_get_str(const struct gguf_file *f, const char *key, char *buf, size_t n);
/* Array element accessors (index < arr_n checked by the caller via kv->arr_n). */
struct gguf_str vlkv_gguf_arr_str(const struct gguf_kv *kv, uint64_t i);   /* O(1) after open */
int    vlkv_gguf_arr_f32(const struct gguf_kv *kv, uint64_t i, float *out);
int    vlkv_gguf_arr_i64(const struct gguf_kv *kv, uint64_t i, int64_t *out);

/* ---- writer --------------------------------------------------------------------------- */

struct gguf_writer;   /* opaque; collects KVs and tensors, then writes the file in one go */

struct gguf_writer *vlkv_gguf_writer_new(uint32_t alignment);
void vlkv_gguf_writer_free(struct gguf_writer *w);
void vlkv_gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v);
void vlkv_gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v);
void vlkv_gguf_w_f32(struct gguf_writer *w, const char *key, float v);
void vlkv_gguf_w_bool(struct gguf_writer *w, const char *key, int v);
void vlkv_gguf_w_str(struct gguf_writer *w, const char *key, const char *v);
void vlkv_gguf_w_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void vlkv_gguf_w_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n);
void vlkv_gguf_w_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Add a tensor; `data` (nbytes of the given type and shape) is copied. */
void vlkv_gguf_w_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                        const int64_t *ne, const void *data);
vlkv_status vlkv_gguf_writer_save(struct gguf_writer *w, const char *path);

#endif /* VLKV_GGUF_H */
