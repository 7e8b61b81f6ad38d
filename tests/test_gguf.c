/* test_gguf.c - GGUF writer -> reader round trip for every value type and several tensor
 * types, a byte-exact check of the writer against a hand-computed layout, and hostile
 * files (built byte by byte here, independently of the writer) that must each fail with
 * VLKV_ERR_FORMAT / VLKV_ERR_IO and a message naming the file - never crash (run under ASan
 * in CI). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "internal.h"
#include "mkmodel.h"
#include "test_util.h"
#include "types.h"

/* ---- a tiny byte builder for hand-made files ---------------------------------------------- */

struct bb { uint8_t *p; size_t n, cap; };

static void bb_put(struct bb *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void bb_u8(struct bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_u32(struct bb *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    bb_put(b, x, 4);
}
static void bb_u64(struct bb *b, uint64_t v) { bb_u32(b, (uint32_t)v); bb_u32(b, (uint32_t)(v >> 32)); }
static void bb_str(struct bb *b, const char *s) { bb_u64(b, strlen(s)); bb_put(b, s, strlen(s)); }
static void bb_pad(struct bb *b, size_t a) { while (b->n % a) bb_u8(b, 0); }
static void bb_header(struct bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bb_put(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void bb_kv_u32(struct bb *b, const char *key, uint32_t v) { bb_str(b, key); bb_u32(b, GGUF_U32); bb_u32(b, v); }
static void bb_info(struct bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) bb_u64(b, ne[i]);
    bb_u32(b, type);
    bb_u64(b, off);
}

/* Open `b` as a buffer named name; expect failure with status `want` and the name in the message. */
static void expect_bad(struct bb *b, const char *name, vlkv_status want) {
    struct gguf_file f;
    vlkv_status st = vlkv_gguf_open_buffer(b->p, b->n, name, &f);
    CHECK_MSG(st == want, "%s: status %d (%s), want %d; msg: %s", name, st, vlkv_status_str(st), want,
              vlkv_last_error());
    CHECK_MSG(strstr(vlkv_last_error(), name) != NULL, "%s: message does not name the file: %s", name,
              vlkv_last_error());
    CHECK(f.map == NULL && f.kv == NULL && f.tensors == NULL);
    if (getenv("VLKV_TEST_VERBOSE")) printf("  %-18s -> %s\n", name, vlkv_last_error());
    if (st == VLKV_OK) vlkv_gguf_close(&f);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* A valid base file: 3 KVs (u32, string, string array) and two F32 tensors. Returns the end of
 * the tensor data (the last byte any tensor uses). */
static size_t build_valid(struct bb *b) {
    bb_header(b, 3, 2, 3);
    bb_kv_u32(b, "a.count", 7);
    bb_str(b, "a.name"); bb_u32(b, GGUF_STR); bb_str(b, "hello");
    bb_str(b, "a.list"); bb_u32(b, GGUF_ARR); bb_u32(b, GGUF_STR); bb_u64(b, 3);
    bb_str(b, "x"); bb_str(b, "yy"); bb_str(b, "");
    uint64_t ne0[2] = {4, 2}, ne1[1] = {3};
    bb_info(b, "t0", 2, ne0, VLKV_TYPE_F32, 0);
    bb_info(b, "t1", 1, ne1, VLKV_TYPE_F32, 32);
    bb_pad(b, 32);
    for (int i = 0; i < 8; i++) { float v = (float)i; bb_put(b, &v, 4); }
    for (int i = 0; i < 3; i++) { float v = 10.0f + i; bb_put(b, &v, 4); }
    size_t end = b->n;
    bb_pad(b, 32);
    return end;
}

static void test_valid_base(void) {
    struct bb b = {0};
    build_valid(&b);
    struct gguf_file f;
    vlkv_status st = vlkv_gguf_open_buffer(b.p, b.n, "base.gguf", &f);
    CHECK_MSG(st == VLKV_OK, "%s", vlkv_last_error());
    if (st == VLKV_OK) {
        const struct gguf_kv *kv = vlkv_gguf_find_kv(&f, "a.list");
        CHECK(kv && kv->arr_n == 3);
        struct gguf_str s = vlkv_gguf_arr_str(kv, 1);
        CHECK(s.len == 2 && !memcmp(s.ptr, "yy", 2));
        CHECK(vlkv_gguf_arr_str(kv, 2).len == 0);
        CHECK(vlkv_gguf_arr_str(kv, 3).ptr == NULL);   /* out of range */
        const struct vlkv_tensor *t1 = vlkv_gguf_find_tensor(&f, "t1");
        CHECK(t1 && ((const float *)t1->data)[2] == 12.0f);
        CHECK(f.data_offset % 32 == 0);
        vlkv_gguf_close(&f);
    }
    free(b.p);
}

static void test_truncation(void) {
    struct bb b = {0};
    size_t end = build_valid(&b);
    uint8_t *full = b.p;
    int bad = 0;
    char name[64];
    for (size_t cut = 0; cut < end; cut++) {
        snprintf(name, sizeof name, "trunc-%zu.gguf", cut);
        struct gguf_file f;
        vlkv_status st = vlkv_gguf_open_buffer(full, cut, name, &f);
        if (st != VLKV_ERR_FORMAT || !strstr(vlkv_last_error(), name)) {
            if (bad++ < 5) fprintf(stderr, "cut %zu: status %d, msg '%s'\n", cut, st, vlkv_last_error());
        }
        if (st == VLKV_OK) vlkv_gguf_close(&f);
    }
    CHECK_MSG(bad == 0, "%d truncated files were not rejected cleanly", bad);
    /* trailing padding of the last tensor may be missing: still readable */
    struct gguf_file f;
    CHECK(vlkv_gguf_open_buffer(full, end, "nopad.gguf", &f) == VLKV_OK);
    vlkv_gguf_close(&f);
    free(full);
}

static void test_bad_files(void) {
    struct bb b = {0};
    uint64_t ne[4] = {4, 2, 1, 1};

    bb_put(&b, "GGUX", 4); bb_u32(&b, 3); bb_u64(&b, 0); bb_u64(&b, 0);
    expect_bad(&b, "badmagic.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 1, 0, 0); expect_bad(&b, "v1.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 0, 0, 0); expect_bad(&b, "v0.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 4, 0, 0); expect_bad(&b, "v4.gguf", VLKV_ERR_FORMAT);
    /* a big-endian writer: version 3 stored as 00 00 00 03, counts byte-swapped too */
    bb_put(&b, "GGUF", 4); bb_u32(&b, 0x03000000u); bb_u64(&b, 1ull << 56); bb_u64(&b, 1ull << 56);
    expect_bad(&b, "bigendian.gguf", VLKV_ERR_FORMAT);

    bb_header(&b, 3, 0, 1ull << 60); bb_kv_u32(&b, "k", 1); expect_bad(&b, "hugekv.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 1ull << 62, 0); bb_info(&b, "t", 2, ne, 0, 0); expect_bad(&b, "hugetensors.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, UINT64_MAX); expect_bad(&b, "maxkv.gguf", VLKV_ERR_FORMAT);

    bb_header(&b, 3, 0, 1); bb_u64(&b, 1000); bb_put(&b, "key-and-some-more-bytes", 23); expect_bad(&b, "keylen.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "k"); bb_u32(&b, GGUF_STR); bb_u64(&b, UINT64_MAX - 3); bb_put(&b, "v", 1);
    expect_bad(&b, "strlen.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, ""); bb_u32(&b, GGUF_U32); bb_u32(&b, 1); expect_bad(&b, "emptykey.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "k"); bb_u32(&b, 13); bb_u32(&b, 1); expect_bad(&b, "vtype13.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 2); bb_kv_u32(&b, "dup", 1); bb_kv_u32(&b, "dup", 2); expect_bad(&b, "dupkey.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "flag"); bb_u32(&b, GGUF_BOOL); bb_u8(&b, 2); expect_bad(&b, "bool2.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "flags"); bb_u32(&b, GGUF_ARR); bb_u32(&b, GGUF_BOOL); bb_u64(&b, 3);
    bb_u8(&b, 1); bb_u8(&b, 0); bb_u8(&b, 7); expect_bad(&b, "boolarr.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "nest"); bb_u32(&b, GGUF_ARR); bb_u32(&b, GGUF_ARR); bb_u64(&b, 1);
    bb_u32(&b, GGUF_U8); bb_u64(&b, 1); bb_u8(&b, 0); expect_bad(&b, "nested.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "arr"); bb_u32(&b, GGUF_ARR); bb_u32(&b, GGUF_U32); bb_u64(&b, 1ull << 61);
    bb_u32(&b, 0); expect_bad(&b, "hugearr.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "arr"); bb_u32(&b, GGUF_ARR); bb_u32(&b, GGUF_STR); bb_u64(&b, 1ull << 40);
    bb_str(&b, "a"); expect_bad(&b, "hugestrarr.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_str(&b, "arr"); bb_u32(&b, GGUF_ARR); bb_u32(&b, 77); bb_u64(&b, 1);
    expect_bad(&b, "arrtype.gguf", VLKV_ERR_FORMAT);

    /* alignment: wrong type, not a power of two, zero */
    bb_header(&b, 3, 0, 1); bb_str(&b, "general.alignment"); bb_u32(&b, GGUF_U64); bb_u64(&b, 32);
    expect_bad(&b, "aligntype.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_kv_u32(&b, "general.alignment", 48); expect_bad(&b, "align48.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 3, 0, 1); bb_kv_u32(&b, "general.alignment", 0); expect_bad(&b, "align0.gguf", VLKV_ERR_FORMAT);

    /* tensor infos (each file padded with enough data to hold a valid tensor) */
#define TENSOR_FILE(label, ...) do { bb_header(&b, 3, 1, 0); __VA_ARGS__; bb_pad(&b, 32); \
        for (int z_ = 0; z_ < 256; z_++) { bb_u8(&b, 0); } \
        expect_bad(&b, label, VLKV_ERR_FORMAT); } while (0)
    uint64_t five[5] = {1, 1, 1, 1, 1};
    TENSOR_FILE("ndims5.gguf", bb_info(&b, "t", 5, five, 0, 0));
    uint64_t big[2] = {1ull << 40, 1ull << 40};
    TENSOR_FILE("overflow.gguf", bb_info(&b, "t", 2, big, 0, 0));
    uint64_t big3[3] = {1ull << 31, 1ull << 31, 4};
    TENSOR_FILE("overflow3.gguf", bb_info(&b, "t", 3, big3, 0, 0));
    uint64_t bytes[2] = {1ull << 31, 1ull << 31};   /* 2^62 elements fit int64, 2^64 bytes do not */
    TENSOR_FILE("bytesoverflow.gguf", bb_info(&b, "t", 2, bytes, VLKV_TYPE_F32, 0));
    uint64_t neg[2] = {4, (uint64_t)-4};
    TENSOR_FILE("negdim.gguf", bb_info(&b, "t", 2, neg, 0, 0));
    TENSOR_FILE("type4.gguf", bb_info(&b, "t", 2, ne, 4, 0));
    TENSOR_FILE("type99.gguf", bb_info(&b, "t", 2, ne, 99, 0));
    uint64_t ne33[2] = {33, 1};
    TENSOR_FILE("blockq8.gguf", bb_info(&b, "t", 2, ne33, VLKV_TYPE_Q8_0, 0));
    uint64_t ne100[1] = {100};
    TENSOR_FILE("blockq4k.gguf", bb_info(&b, "t", 1, ne100, VLKV_TYPE_Q4_K, 0));
    TENSOR_FILE("offpast.gguf", bb_info(&b, "t", 2, ne, 0, 1024));
    TENSOR_FILE("offhuge.gguf", bb_info(&b, "t", 2, ne, 0, UINT64_MAX - 31));
    TENSOR_FILE("misaligned.gguf", bb_info(&b, "t", 2, ne, 0, 8));
    uint64_t large[1] = {1000};
    TENSOR_FILE("sizepast.gguf", bb_info(&b, "t", 1, large, 0, 0));
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = 0;
    TENSOR_FILE("longname.gguf", bb_info(&b, longname, 2, ne, 0, 0));
    TENSOR_FILE("emptyname.gguf", bb_info(&b, "", 2, ne, 0, 0));
#undef TENSOR_FILE
    bb_header(&b, 3, 2, 0); bb_info(&b, "same", 2, ne, 0, 0); bb_info(&b, "same", 2, ne, 0, 32); bb_pad(&b, 32);
    for (int z = 0; z < 64; z++) bb_u8(&b, 0);
    expect_bad(&b, "duptensor.gguf", VLKV_ERR_FORMAT);

    /* a 63-byte name is fine */
    longname[63] = 0;
    bb_header(&b, 3, 1, 0); bb_info(&b, longname, 2, ne, 0, 0); bb_pad(&b, 32);
    for (int z = 0; z < 32; z++) bb_u8(&b, 0);
    struct gguf_file f;
    CHECK_MSG(vlkv_gguf_open_buffer(b.p, b.n, "name63.gguf", &f) == VLKV_OK, "%s", vlkv_last_error());
    CHECK(vlkv_gguf_find_tensor(&f, longname) != NULL);
    vlkv_gguf_close(&f);
    free(b.p);
    memset(&b, 0, sizeof b);

    /* empty buffer; v2 header is accepted */
    expect_bad(&b, "empty.gguf", VLKV_ERR_FORMAT);
    bb_header(&b, 2, 0, 1); bb_kv_u32(&b, "k", 5);
    CHECK(vlkv_gguf_open_buffer(b.p, b.n, "v2.gguf", &f) == VLKV_OK && f.version == 2);
    vlkv_gguf_close(&f);
    free(b.p);

    /* through the file system */
    CHECK(vlkv_gguf_open("does-not-exist.gguf", &f) == VLKV_ERR_IO);
    CHECK(strstr(vlkv_last_error(), "does-not-exist.gguf") != NULL);
    CHECK(vlkv_gguf_open(".", &f) == VLKV_ERR_IO);
    FILE *fp = fopen("test_gguf_empty.gguf", "wb");
    if (fp) fclose(fp);
    CHECK(vlkv_gguf_open("test_gguf_empty.gguf", &f) == VLKV_ERR_FORMAT);
    CHECK(strstr(vlkv_last_error(), "test_gguf_empty.gguf") != NULL);
    remove("test_gguf_empty.gguf");
}

/* The writer's bytes for a minimal file, computed by hand from formats.md §1.1. */
static void test_writer_layout(void) {
    struct gguf_writer *w = vlkv_gguf_writer_new(32);
    vlkv_gguf_w_u32(w, "a", 7);
    float data[2] = {1.0f, 2.0f};
    int64_t ne[1] = {2};
    vlkv_gguf_w_tensor(w, "t", VLKV_TYPE_F32, 1, ne, data);
    const char *path = "test_gguf_layout.gguf";
    CHECK(vlkv_gguf_writer_save(w, path) == VLKV_OK);
    vlkv_gguf_writer_free(w);

    struct bb e = {0};
    bb_header(&e, 3, 1, 1);
    bb_kv_u32(&e, "a", 7);                       /* ends at 41 */
    bb_info(&e, "t", 1, (const uint64_t[]){2}, 0, 0);   /* ends at 74 */
    CHECK(e.n == 74);
    bb_pad(&e, 32);                              /* data at 96 */
    bb_put(&e, data, 8);
    bb_pad(&e, 32);                              /* 128 bytes */
    CHECK(e.n == 128);

    uint8_t got[256];
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(got, 1, sizeof got, fp) : 0;
    if (fp) fclose(fp);
    CHECK_MSG(n == e.n && !memcmp(got, e.p, e.n), "writer layout differs (%zu vs %zu bytes)", n, e.n);
    free(e.p);
    remove(path);
}

static void test_roundtrip(void) {
    const char *path = "test_gguf_roundtrip.gguf";
    struct gguf_writer *w = vlkv_gguf_writer_new(64);   /* non-default: writes general.alignment */
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    uint64_t u64 = 0xFEDCBA9876543210ull; int64_t i64 = -1234567890123ll; double f64 = 3.141592653589793;
    vlkv_gguf_w_raw(w, "v.u8", GGUF_U8, &u8);
    vlkv_gguf_w_raw(w, "v.i8", GGUF_I8, &i8);
    vlkv_gguf_w_raw(w, "v.u16", GGUF_U16, &u16);
    vlkv_gguf_w_raw(w, "v.i16", GGUF_I16, &i16);
    vlkv_gguf_w_u32(w, "v.u32", 4000000000u);
    vlkv_gguf_w_i32(w, "v.i32", -7);
    vlkv_gguf_w_f32(w, "v.f32", 1e-5f);
    vlkv_gguf_w_bool(w, "v.bool", 1);
    vlkv_gguf_w_str(w, "v.str", "llama \xe2\x96\x81 ok");
    vlkv_gguf_w_str(w, "v.empty", "");          /* dropped, as gguf_writer.py does */
    vlkv_gguf_w_raw(w, "v.u64", GGUF_U64, &u64);
    vlkv_gguf_w_raw(w, "v.i64", GGUF_I64, &i64);
    vlkv_gguf_w_raw(w, "v.f64", GGUF_F64, &f64);
    const char *strs[4] = {"<unk>", "", "\xe2\x96\x81the", "z"};
    vlkv_gguf_w_arr_str(w, "a.str", strs, 4);
    float fa[3] = {0.5f, -2.0f, 1e30f};
    vlkv_gguf_w_arr_f32(w, "a.f32", fa, 3);
    int32_t ia[3] = {1, -3, 6};
    vlkv_gguf_w_arr_i32(w, "a.i32", ia, 3);
    uint8_t ba[3] = {1, 0, 1};
    vlkv_gguf_w_arr(w, "a.bool", GGUF_BOOL, ba, 3);
    double da[2] = {1.5, -0.25};
    vlkv_gguf_w_arr(w, "a.f64", GGUF_F64, da, 2);
    uint16_t ua[2] = {1, 65535};
    vlkv_gguf_w_arr(w, "a.u16", GGUF_U16, ua, 2);
    vlkv_gguf_w_arr_i32(w, "a.none", ia, 0);      /* dropped */

    /* tensors of several types and ranks with distinct byte patterns */
    struct { const char *name; uint32_t type; int n_dims; int64_t ne[4]; } ts[] = {
        {"f32.2d", VLKV_TYPE_F32, 2, {7, 3, 1, 1}},
        {"f16.1d", VLKV_TYPE_F16, 1, {5, 1, 1, 1}},
        {"q8_0.3d", VLKV_TYPE_Q8_0, 3, {64, 2, 3, 1}},
        {"q4_K.4d", VLKV_TYPE_Q4_K, 4, {256, 1, 2, 2}},
        {"q6_K", VLKV_TYPE_Q6_K, 2, {512, 3, 1, 1}},
        {"bf16", VLKV_TYPE_BF16, 2, {3, 3, 1, 1}},
    };
    enum { NT = sizeof ts / sizeof ts[0] };
    uint8_t *bufs[NT];
    size_t sizes[NT];
    for (int i = 0; i < NT; i++) {
        const struct vlkv_type_traits *tr = vlkv_type_traits_get(ts[i].type);
        sizes[i] = (size_t)(ts[i].ne[0] / tr->blck) * tr->type_size * (size_t)(ts[i].ne[1] * ts[i].ne[2] * ts[i].ne[3]);
        bufs[i] = malloc(sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++) bufs[i][j] = (uint8_t)(j * 31 + i * 7 + 1);
        vlkv_gguf_w_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, bufs[i]);
    }
    vlkv_status st = vlkv_gguf_writer_save(w, path);
    CHECK_MSG(st == VLKV_OK, "save: %s", vlkv_last_error());
    vlkv_gguf_writer_free(w);

    struct gguf_file f;
    st = vlkv_gguf_open(path, &f);
    CHECK_MSG(st == VLKV_OK, "open: %s", vlkv_last_error());
    if (st == VLKV_OK) {
        CHECK(f.version == 3);
        CHECK(f.alignment == 64);
        CHECK(f.n_kv == 19);   /* 13 scalars (+alignment) - empty string + 6 arrays */
        CHECK(!strncmp(f.kv[0].key.ptr, "general.alignment", f.kv[0].key.len));  /* insertion order */
        uint32_t u; int64_t l; float x; int bl; char s[64];
        CHECK(vlkv_gguf_get_u32(&f, "v.u8", &u) && u == 200);
        CHECK(vlkv_gguf_get_i64(&f, "v.i8", &l) && l == -100);
        CHECK(!vlkv_gguf_get_u32(&f, "v.i8", &u));          /* negative: out of u32 range */
        CHECK(vlkv_gguf_get_u32(&f, "v.u16", &u) && u == 60000);
        CHECK(vlkv_gguf_get_i64(&f, "v.i16", &l) && l == -30000);
        CHECK(vlkv_gguf_get_u32(&f, "v.u32", &u) && u == 4000000000u);
        CHECK(vlkv_gguf_get_i64(&f, "v.i32", &l) && l == -7);
        CHECK(vlkv_gguf_get_f32(&f, "v.f32", &x) && x == 1e-5f);
        CHECK(!vlkv_gguf_get_f32(&f, "v.u32", &x));         /* not a float */
        CHECK(vlkv_gguf_get_bool(&f, "v.bool", &bl) && bl == 1);
        CHECK(vlkv_gguf_get_str(&f, "v.str", s, sizeof s) && !strcmp(s, "llama \xe2\x96\x81 ok"));
        CHECK(vlkv_gguf_get_str(&f, "v.str", s, 6) && !strcmp(s, "llama"));   /* truncated */
        CHECK(vlkv_gguf_find_kv(&f, "v.empty") == NULL);
        CHECK(!vlkv_gguf_get_i64(&f, "v.u64", &l));          /* > INT64_MAX */
        const struct gguf_kv *kv = vlkv_gguf_find_kv(&f, "v.u64");
        CHECK(kv && kv->type == GGUF_U64);
        CHECK(vlkv_gguf_get_i64(&f, "v.i64", &l) && l == -1234567890123ll);
        CHECK(vlkv_gguf_get_f32(&f, "v.f64", &x) && x == (float)3.141592653589793);
        CHECK(!vlkv_gguf_get_u32(&f, "missing", &u));

        kv = vlkv_gguf_find_kv(&f, "a.str");
        CHECK(kv && kv->type == GGUF_ARR && kv->arr_type == GGUF_STR && kv->arr_n == 4);
        for (int i = 0; kv && i < 4; i++) {
            struct gguf_str g = vlkv_gguf_arr_str(kv, (uint64_t)i);
            CHECK(g.len == strlen(strs[i]) && !memcmp(g.ptr, strs[i], g.len));
        }
        kv = vlkv_gguf_find_kv(&f, "a.f32");
        for (int i = 0; kv && i < 3; i++) CHECK(vlkv_gguf_arr_f32(kv, (uint64_t)i, &x) && x == fa[i]);
        CHECK(!vlkv_gguf_arr_f32(kv, 3, &x));
        kv = vlkv_gguf_find_kv(&f, "a.i32");
        CHECK(kv && kv->arr_type == GGUF_I32);
        for (int i = 0; kv && i < 3; i++) CHECK(vlkv_gguf_arr_i64(kv, (uint64_t)i, &l) && l == ia[i]);
        kv = vlkv_gguf_find_kv(&f, "a.bool");
        CHECK(kv && kv->arr_type == GGUF_BOOL && kv->arr_n == 3 && kv->data[0] == 1 && kv->data[1] == 0);
        kv = vlkv_gguf_find_kv(&f, "a.f64");
        CHECK(kv && vlkv_gguf_arr_f32(kv, 1, &x) && x == -0.25f);
        kv = vlkv_gguf_find_kv(&f, "a.u16");
        CHECK(kv && vlkv_gguf_arr_i64(kv, 1, &l) && l == 65535);
        CHECK(vlkv_gguf_find_kv(&f, "a.none") == NULL);

        CHECK(f.n_tensors == NT);
        CHECK(f.data_offset % 64 == 0);
        uint64_t expect_off = 0;
        for (int i = 0; i < NT; i++) {
            const struct vlkv_tensor *t = vlkv_gguf_find_tensor(&f, ts[i].name);
            CHECK_MSG(t != NULL, "tensor %s missing", ts[i].name);
            if (!t) continue;
            CHECK(t == &f.tensors[i]);
            CHECK(t->type == ts[i].type && t->n_dims == ts[i].n_dims);
            for (int j = 0; j < 4; j++) CHECK(t->ne[j] == ts[i].ne[j]);
            CHECK(t->nbytes == sizes[i]);
            CHECK(t->offset == expect_off);
            expect_off += (sizes[i] + 63) / 64 * 64;
            CHECK(((uintptr_t)t->data) % 64 == 0);
            CHECK(!memcmp(t->data, bufs[i], sizes[i]));
            const struct vlkv_type_traits *tr = vlkv_type_traits_get(t->type);
            CHECK(t->nb[0] == tr->type_size);
            CHECK(t->nb[1] == (size_t)(t->ne[0] / tr->blck) * tr->type_size);
            CHECK(t->nb[2] == t->nb[1] * (size_t)t->ne[1] && t->nb[3] == t->nb[2] * (size_t)t->ne[2]);
        }
        CHECK(vlkv_gguf_find_tensor(&f, "nope") == NULL);
        CHECK(f.size == f.data_offset + expect_off);
        vlkv_gguf_close(&f);
    }
    for (int i = 0; i < NT; i++) free(bufs[i]);
    remove(path);

    /* writer misuse is reported by save, not by a crash */
    w = vlkv_gguf_writer_new(32);
    vlkv_gguf_w_u32(w, "k", 1);
    vlkv_gguf_w_u32(w, "k", 2);
    CHECK(vlkv_gguf_writer_save(w, "test_gguf_dup.gguf") == VLKV_ERR_INVALID_ARG);
    CHECK(strstr(vlkv_last_error(), "duplicate") != NULL);
    vlkv_gguf_writer_free(w);
    w = vlkv_gguf_writer_new(32);
    int64_t bad_ne[1] = {33};
    uint8_t zeros[64] = {0};
    vlkv_gguf_w_tensor(w, "q", VLKV_TYPE_Q8_0, 1, bad_ne, zeros);
    CHECK(vlkv_gguf_writer_save(w, "test_gguf_bad.gguf") == VLKV_ERR_INVALID_ARG);
    vlkv_gguf_writer_free(w);
    w = vlkv_gguf_writer_new(32);
    CHECK(vlkv_gguf_writer_save(w, "no-such-dir/x.gguf") == VLKV_ERR_IO);
    vlkv_gguf_writer_free(w);
}

/* Random corruption of a real writer-made file (several KV types, string arrays, tensors):
 * every mutant must either load with all invariants intact or fail with FORMAT - never crash
 * (this is what ASan/UBSan CI runs are for). */
static void test_mutations(void) {
    struct gguf_writer *w = vlkv_gguf_writer_new(32);
    const char *strs[3] = {"a", "bb", "ccc"};
    float fa[2] = {1, 2};
    vlkv_gguf_w_str(w, "general.architecture", "llama");
    vlkv_gguf_w_u32(w, "general.alignment", 32);
    vlkv_gguf_w_arr_str(w, "tok", strs, 3);
    vlkv_gguf_w_arr_f32(w, "f", fa, 2);
    vlkv_gguf_w_bool(w, "b", 1);
    uint8_t data[34 * 4] = {0};
    int64_t ne_q[2] = {64, 2}, ne_f[1] = {3};
    vlkv_gguf_w_tensor(w, "q", VLKV_TYPE_Q8_0, 2, ne_q, data);
    vlkv_gguf_w_tensor(w, "f", VLKV_TYPE_F32, 1, ne_f, data);
    const char *path = "test_gguf_mut.gguf";
    CHECK(vlkv_gguf_writer_save(w, path) == VLKV_OK);
    vlkv_gguf_writer_free(w);
    FILE *fp = fopen(path, "rb");
    uint8_t orig[1024];
    size_t n = fp ? fread(orig, 1, sizeof orig, fp) : 0;
    if (fp) fclose(fp);
    remove(path);
    CHECK(n > 200 && n < sizeof orig);
    test_rng r = {0x1234567ull};
    int bad = 0, loaded = 0;
    uint8_t buf[1024];
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, orig, n);
        int k = 1 + (int)(rng_u64(&r) % 4);
        for (int j = 0; j < k; j++) {
            size_t pos = (size_t)(rng_u64(&r) % n);
            uint64_t mode = rng_u64(&r) % 3;
            buf[pos] = mode == 0 ? (uint8_t)rng_u64(&r) : mode == 1 ? (uint8_t)(buf[pos] ^ 0x80) : 0xff;
        }
        struct gguf_file f;
        vlkv_status st = vlkv_gguf_open_buffer(buf, n, "mutant.gguf", &f);
        if (st == VLKV_OK) {
            loaded++;
            for (uint64_t i = 0; i < f.n_tensors; i++) {
                const struct vlkv_tensor *t = &f.tensors[i];
                const uint8_t *d = t->data;
                if (d < f.map + f.data_offset || d + t->nbytes > f.map + f.size) bad++;
            }
            for (uint64_t i = 0; i < f.n_kv; i++)
                if (f.kv[i].data < f.map || f.kv[i].data > f.map + f.size) bad++;
            vlkv_gguf_close(&f);
        } else if (st != VLKV_ERR_FORMAT || !strstr(vlkv_last_error(), "mutant.gguf")) {
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d mutants broke an invariant", bad);
    CHECK(loaded > 0);   /* some mutations only touch tensor data */
}

int main(void) {
    test_mutations();
    test_writer_layout();
    test_roundtrip();
    test_valid_base();
    test_truncation();
    test_bad_files();
    return test_done("test_gguf");
}
