/* image.c - image input (stb_image) and the LLaVA-1.5 preprocessing (specs/formats.md §5.5).
 *
 * Decoding: stb_image (Debian libstb-dev), JPEG / PNG / BMP / GIF (first frame) / PNM / TGA,
 * always to 8-bit RGB. Grey is replicated to RGB and alpha is dropped (stb with 3 requested
 * channels), which is what PIL's Image.convert('RGB') does too (no compositing on a
 * background). 16-bit PNGs keep the high byte. JPEG decoders differ in their IDCT / chroma
 * upsampling, so a JPEG decoded by stb may differ from PIL (libjpeg) by a few LSB; PNG, BMP,
 * PNM, TGA and GIF decode bit-identically. The header is read first (stbi_info) and images
 * above VLKV_IMAGE_MAX_PIXELS are rejected before any pixel memory is allocated.
 *
 * Preprocessing, reference (HF LLaVA, image_aspect_ratio = "pad"):
 *   expand2square: canvas max(w,h)^2 filled with int(mean*255) = (122,116,104), image pasted
 *   centred at ((max-w)/2, (max-h)/2) - the canvas is never materialised, rows are built on
 *   the fly; CLIPImageProcessor: Pillow BICUBIC resize to image_size (a square, so the centre
 *   crop is a no-op); x/255; (x - mean)/std; planar [3][S][S].
 * The resampler reproduces Pillow's libImaging/Resample.c (9.x-11.x) bit for bit:
 * precompute_coeffs (support = 2 * max(1, in/out), taps centred at (x + 0.5) * scale,
 * normalised to sum 1), normalize_coeffs_8bpc (weights * 2^22 rounded away from zero),
 * horizontal pass first over the rows the vertical pass needs, each pass accumulating
 * from 2^21 and clipping (acc >> 22) to [0, 255].
 *
 * Compat (llama.cpp mtmd, "fixed_size" llava preprocessor): aspect-preserving fit to
 * image_size with the 4x4 cubic-convolution resampler mtmd ported from ViT.cpp (no antialias,
 * source coordinate floor(dst * src/dst), edge-clamped, rounded to u8), centred on a canvas
 * filled with the pad colour, then the same normalisation. */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef VLKV_HAVE_STB
/* stb_image, compiled here and nowhere else, only with the formats we document. */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO            /* we read files ourselves: clean IO vs format errors */
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_ONLY_TGA
#define STBI_MAX_DIMENSIONS (1 << 20)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
/* Debian's stb declares stbi_set_unpremultiply_on_load_thread static without defining it;
 * that warning is emitted at the end of the file, so it stays silenced here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#endif /* VLKV_HAVE_STB */

/* Files larger than this are not images we want to decode (a 64 Mpixel BMP is 192 MB). */
#define MAX_FILE_BYTES ((size_t)512 * 1024 * 1024)

/* ---------------------------------------------------------------------------------------- */
/* public image objects                                                                      */

static vlkv_status image_alloc(int32_t w, int32_t h, struct vlkv_image **out) {
    struct vlkv_image *img = calloc(1, sizeof *img);
    size_t n;
    if (!img || !vlkv_mul_ok((size_t)w * (size_t)h, 3, &n) || !(img->rgb = malloc(n))) {
        free(img);
        return vlkv_error(VLKV_ERR_OOM, "image: cannot allocate %dx%d RGB", (int)w, (int)h);
    }
    img->w = w;
    img->h = h;
    *out = img;
    return VLKV_OK;
}

vlkv_status vlkv_image_from_rgb(const uint8_t *rgb, int32_t width, int32_t height, vlkv_image **out) {
    vlkv_status st;
    if (!out) return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_image_from_rgb: out is NULL");
    *out = NULL;
    if (!rgb || width <= 0 || height <= 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_image_from_rgb: bad buffer or size %dx%d",
                          (int)width, (int)height);
    if ((int64_t)width * height > VLKV_IMAGE_MAX_PIXELS)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_image_from_rgb: %dx%d exceeds %lld pixels",
                          (int)width, (int)height, (long long)VLKV_IMAGE_MAX_PIXELS);
    if ((st = image_alloc(width, height, out)) != VLKV_OK) return st;
    memcpy((*out)->rgb, rgb, (size_t)width * height * 3);
    return VLKV_OK;
}

void vlkv_image_free(vlkv_image *img) {
    if (!img) return;
    free(img->rgb);
    free(img);
}

int32_t vlkv_image_width(const vlkv_image *img)  { return img ? img->w : 0; }
int32_t vlkv_image_height(const vlkv_image *img) { return img ? img->h : 0; }

#ifdef VLKV_HAVE_STB
/* stb_image 2.27 (Debian 12) builds JPEG Huffman tables without checking that the 16 code
 * counts of a DHT table sum to at most 256, so a crafted file writes past stbi__huffman's
 * arrays (fixed upstream in 2.28; found here by test_image's corruption loop under UBSan).
 * Walk the JPEG marker structure the way the decoder does (segments by length, entropy-coded
 * data after SOS up to the next real marker) and reject such a table before stb sees it.
 * Returns 1 if the data is not a JPEG or all DHT tables are sane. */
static int jpeg_dht_ok(const uint8_t *d, size_t n) {
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 1;
    size_t i = 2;
    while (i + 4 <= n) {
        if (d[i] != 0xFF) { i++; continue; }
        uint8_t m = d[i + 1];
        if (m == 0xFF) { i++; continue; }                                   /* fill byte */
        if (m == 0x00 || m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }
        if (m == 0xD9) break;                                               /* EOI */
        size_t L = (size_t)d[i + 2] << 8 | d[i + 3];
        if (L < 2) return 1;            /* stb rejects the segment itself */
        if (m == 0xC4) {                /* DHT: tables of (class/id, 16 counts, values) */
            size_t p = i + 4, rem = L - 2;
            while (rem > 0) {
                unsigned sum = 0;
                for (int k = 0; k < 16; k++) sum += p + 1 + (size_t)k < n ? d[p + 1 + (size_t)k] : 0;
                if (sum > 256) return 0;
                if (rem < 17 + (size_t)sum) break;   /* stb fails on the length mismatch */
                rem -= 17 + sum;
                p += 17 + sum;
            }
        }
        i += 2 + L;
        if (m == 0xDA) {                /* SOS: skip entropy-coded data to the next marker */
            while (i + 1 < n && !(d[i] == 0xFF && d[i + 1] != 0x00 && !(d[i + 1] >= 0xD0 && d[i + 1] <= 0xD7))) i++;
        }
    }
    return 1;
}

vlkv_status vlkv_image_load_memory(const void *data, size_t size, const char *name, struct vlkv_image **out) {
    int w = 0, h = 0, comp = 0;
    vlkv_status st;
    if (!out) return vlkv_error(VLKV_ERR_INVALID_ARG, "%s: out is NULL", name);
    *out = NULL;
    if (size == 0) return vlkv_error(VLKV_ERR_FORMAT, "%s: empty file, not an image", name);
    if (size > (size_t)INT_MAX) return vlkv_error(VLKV_ERR_FORMAT, "%s: file too large for an image", name);
    if (!jpeg_dht_ok(data, size))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: corrupt JPEG (Huffman table with more than 256 codes)", name);
    /* Header first: reject unknown formats and absurd sizes before allocating pixels. */
    if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp))
        return vlkv_error(VLKV_ERR_FORMAT, "%s: not a supported image (PNG, JPEG, BMP, GIF, PNM, TGA): %s",
                          name, stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
    if (w <= 0 || h <= 0)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: image has zero size (%dx%d)", name, w, h);
    if ((int64_t)w * h > VLKV_IMAGE_MAX_PIXELS)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: image is %dx%d, more than the %lld-pixel limit", name, w, h,
                          (long long)VLKV_IMAGE_MAX_PIXELS);
    int w2 = 0, h2 = 0, comp2 = 0;
    if (stbi_is_16_bit_from_memory(data, (int)size)) {
        /* 16-bit PNG / PNM: decode at native depth without stb's channel conversion (its 8-bit
         * conversion of 16-bit PNM data overreads the buffer, found by test_image's corruption
         * loop) and keep the high byte of each sample, as stb's own 16 -> 8 conversion does. */
        uint16_t *p16 = stbi_load_16_from_memory(data, (int)size, &w2, &h2, &comp2, 0);
        if (!p16)
            return vlkv_error(VLKV_ERR_FORMAT, "%s: cannot decode image (%dx%d): %s", name, w, h,
                              stbi_failure_reason() ? stbi_failure_reason() : "corrupt data");
        if (w2 != w || h2 != h || comp2 < 1 || comp2 > 4) {
            stbi_image_free(p16);
            return vlkv_error(VLKV_ERR_FORMAT, "%s: inconsistent 16-bit image (%dx%d, %d channels)", name, w2, h2,
                              comp2);
        }
        st = image_alloc(w, h, out);
        if (st == VLKV_OK) {
            uint8_t *d = (*out)->rgb;
            for (size_t i = 0; i < (size_t)w * h; i++) {
                const uint16_t *s = p16 + i * (size_t)comp2;
                if (comp2 <= 2) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = (uint8_t)(s[0] >> 8);   /* grey (+alpha) */
                else for (int c = 0; c < 3; c++) d[3 * i + c] = (uint8_t)(s[c] >> 8);             /* RGB (+alpha) */
            }
        }
        stbi_image_free(p16);
        return st;
    }
    uint8_t *px = stbi_load_from_memory(data, (int)size, &w2, &h2, &comp2, 3);
    if (!px)
        return vlkv_error(VLKV_ERR_FORMAT, "%s: cannot decode image (%dx%d): %s", name, w, h,
                          stbi_failure_reason() ? stbi_failure_reason() : "corrupt data");
    if (w2 != w || h2 != h) {   /* stb's info and load disagree: do not trust either */
        stbi_image_free(px);
        return vlkv_error(VLKV_ERR_FORMAT, "%s: inconsistent image size (%dx%d vs %dx%d)", name, w, h, w2, h2);
    }
    st = image_alloc(w, h, out);
    if (st == VLKV_OK) memcpy((*out)->rgb, px, (size_t)w * h * 3);
    stbi_image_free(px);
    return st;
}
#else
vlkv_status vlkv_image_load_memory(const void *data, size_t size, const char *name, struct vlkv_image **out) {
    (void)data; (void)size;
    if (out) *out = NULL;
    return vlkv_error(VLKV_ERR_UNSUPPORTED, "%s: vlkv was built without stb_image (Debian: libstb-dev); "
                      "image files cannot be decoded", name);
}
#endif

vlkv_status vlkv_image_load_file(const char *path, vlkv_image **out) {
    vlkv_status st = VLKV_OK;
    uint8_t *buf = NULL;
    FILE *f = NULL;
    if (!out) return vlkv_error(VLKV_ERR_INVALID_ARG, "vlkv_image_load_file: out is NULL");
    *out = NULL;
    VLKV_CHECK(path != NULL, VLKV_ERR_INVALID_ARG, "vlkv_image_load_file: path is NULL");
#ifndef VLKV_HAVE_STB
    VLKV_TRY(vlkv_image_load_memory(NULL, 0, path, out));
#endif
    f = fopen(path, "rb");
    VLKV_CHECK(f != NULL, VLKV_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
    /* a directory opens fine but cannot be read: report that instead of a bogus size */
    errno = 0;
    VLKV_CHECK(fgetc(f) != EOF || !ferror(f), VLKV_ERR_IO, "%s: cannot read image: %s", path,
               errno ? strerror(errno) : "read error");
    VLKV_CHECK(fseek(f, 0, SEEK_END) == 0, VLKV_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    long end = ftell(f);
    VLKV_CHECK(end >= 0, VLKV_ERR_IO, "%s: cannot determine the file size (is it a directory?)", path);
    VLKV_CHECK((size_t)end <= MAX_FILE_BYTES, VLKV_ERR_FORMAT, "%s: %ld bytes is too large for an image",
               path, end);
    VLKV_CHECK(end > 0, VLKV_ERR_FORMAT, "%s: empty file, not an image", path);
    rewind(f);
    buf = malloc((size_t)end);
    VLKV_CHECK(buf != NULL, VLKV_ERR_OOM, "%s: cannot allocate %ld bytes", path, end);
    VLKV_CHECK(fread(buf, 1, (size_t)end, f) == (size_t)end, VLKV_ERR_IO, "%s: read error", path);
    VLKV_TRY(vlkv_image_load_memory(buf, (size_t)end, path, out));
fail:
    if (f) fclose(f);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Pillow's bicubic resampler (libImaging/Resample.c), bit-exact                              */

#define PRECISION_BITS (32 - 8 - 2)   /* 22, as Pillow */

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Pillow precompute_coeffs + normalize_coeffs_8bpc for in0 = 0, in1 = in_size. Fills
 * bounds[2*out_size] (first tap, tap count) and kk[out_size * ksize] fixed-point weights;
 * returns ksize or 0 on allocation failure. */
static int precompute_coeffs(int in_size, int out_size, int **boundsp, int32_t **kkp) {
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;       /* bicubic support 2 */
    int ksize = (int)ceil(support) * 2 + 1;
    double *pre = malloc((size_t)out_size * ksize * sizeof *pre);
    int32_t *kk = malloc((size_t)out_size * ksize * sizeof *kk);
    int *bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
    if (!pre || !kk || !bounds) {
        free(pre); free(kk); free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);   /* (int) truncates, as in Pillow */
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &pre[(size_t)xx * ksize];
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++)
        kk[i] = pre[i] < 0 ? (int32_t)(-0.5 + pre[i] * (1 << PRECISION_BITS))
                           : (int32_t)(0.5 + pre[i] * (1 << PRECISION_BITS));
    free(pre);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static inline uint8_t clip8(int64_t in) {
    int64_t v = in >> PRECISION_BITS;   /* arithmetic shift = floor, as Pillow's lookup index */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Source rows of a virtual canvas cw x ch: the image src (sw x sh) pasted at (ox, oy), the
 * rest filled with `pad`. Writes canvas row y (cw*3 bytes) into row. */
struct canvas {
    const uint8_t *src;
    int32_t sw, sh, cw, ch, ox, oy;
    uint8_t pad[3];
};

static void canvas_row(const struct canvas *c, int32_t y, uint8_t *row) {
    int32_t sy = y - c->oy;
    if (sy < 0 || sy >= c->sh || c->ox > 0 || c->sw < c->cw) {
        for (int32_t x = 0; x < c->cw; x++) {
            row[3 * x + 0] = c->pad[0];
            row[3 * x + 1] = c->pad[1];
            row[3 * x + 2] = c->pad[2];
        }
    }
    if (sy >= 0 && sy < c->sh)
        memcpy(row + 3 * (size_t)c->ox, c->src + (size_t)sy * c->sw * 3, (size_t)c->sw * 3);
}

/* Image.resize((dw, dh), BICUBIC) of the virtual canvas into dst [dh][dw][3]. */
static vlkv_status resample_canvas(const struct canvas *c, uint8_t *dst, int32_t dw, int32_t dh) {
    vlkv_status st = VLKV_OK;
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    uint8_t *row = NULL, *tmp = NULL;
    int need_h = dw != c->cw, need_v = dh != c->ch;
    int ksh = precompute_coeffs(c->cw, dw, &bh, &kh);
    int ksv = precompute_coeffs(c->ch, dh, &bv, &kv);
    VLKV_CHECK(ksh && ksv, VLKV_ERR_OOM, "image resize: out of memory");

    /* rows of the canvas the vertical pass reads */
    int32_t y_first = need_v ? bv[0] : 0;
    int32_t y_last = need_v ? bv[dh * 2 - 2] + bv[dh * 2 - 1] : c->ch;
    int32_t n_rows = y_last - y_first;
    int32_t tw = need_h ? dw : c->cw;
    row = malloc((size_t)c->cw * 3);
    tmp = malloc((size_t)n_rows * tw * 3);
    VLKV_CHECK(row && tmp, VLKV_ERR_OOM, "image resize: out of memory");

    /* horizontal pass (or a plain copy of the needed canvas rows) */
    for (int32_t y = 0; y < n_rows; y++) {
        uint8_t *out = tmp + (size_t)y * tw * 3;
        if (!need_h) {
            canvas_row(c, y + y_first, out);
            continue;
        }
        canvas_row(c, y + y_first, row);
        for (int32_t xx = 0; xx < dw; xx++) {
            int xmin = bh[xx * 2], xn = bh[xx * 2 + 1];
            const int32_t *k = &kh[(size_t)xx * ksh];
            int64_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < xn; x++) {
                const uint8_t *p = row + 3 * (size_t)(x + xmin);
                s0 += p[0] * (int64_t)k[x];
                s1 += p[1] * (int64_t)k[x];
                s2 += p[2] * (int64_t)k[x];
            }
            out[3 * xx + 0] = clip8(s0);
            out[3 * xx + 1] = clip8(s1);
            out[3 * xx + 2] = clip8(s2);
        }
    }

    /* vertical pass */
    if (!need_v) {
        memcpy(dst, tmp, (size_t)dh * dw * 3);
    } else {
        for (int32_t yy = 0; yy < dh; yy++) {
            int ymin = bv[yy * 2] - y_first, yn = bv[yy * 2 + 1];
            const int32_t *k = &kv[(size_t)yy * ksv];
            for (int32_t xx = 0; xx < dw; xx++) {
                int64_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int y = 0; y < yn; y++) {
                    const uint8_t *p = tmp + ((size_t)(y + ymin) * tw + xx) * 3;
                    s0 += p[0] * (int64_t)k[y];
                    s1 += p[1] * (int64_t)k[y];
                    s2 += p[2] * (int64_t)k[y];
                }
                uint8_t *o = dst + ((size_t)yy * dw + xx) * 3;
                o[0] = clip8(s0);
                o[1] = clip8(s1);
                o[2] = clip8(s2);
            }
        }
    }
fail:
    free(bh); free(bv); free(kh); free(kv); free(row); free(tmp);
    return st;
}

vlkv_status vlkv_resize_bicubic_pillow(const uint8_t *src, int32_t sw, int32_t sh, uint8_t *dst,
                                       int32_t dw, int32_t dh) {
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "image resize: bad size %dx%d -> %dx%d", (int)sw, (int)sh,
                          (int)dw, (int)dh);
    struct canvas c = {src, sw, sh, sw, sh, 0, 0, {0, 0, 0}};
    return resample_canvas(&c, dst, dw, dh);
}

/* ---------------------------------------------------------------------------------------- */
/* llama.cpp mtmd compat: cubic convolution from ViT.cpp, aspect fit, centred                */

static inline int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

/* mtmd's bicubic_resize, kept in the same float/double arithmetic. */
static void resize_cubic_mtmd(const uint8_t *src, int nx, int ny, uint8_t *dst, int tw, int th) {
    float tx = (float)nx / (float)tw, ty = (float)ny / (float)th;
    for (int i = 0; i < th; i++) {
        for (int j = 0; j < tw; j++) {
            int x = (int)(tx * j), y = (int)(ty * i);
            float dx = tx * j - x, dy = ty * i - y;
            for (int k = 0; k < 3; k++) {
                float C[4];
                for (int jj = 0; jj <= 3; jj++) {
                    const uint8_t *r = src + (size_t)clampi(y - 1 + jj, 0, ny - 1) * nx * 3;
                    float p0 = r[clampi(x, 0, nx - 1) * 3 + k];
                    float d0 = r[clampi(x - 1, 0, nx - 1) * 3 + k] - p0;
                    float d2 = r[clampi(x + 1, 0, nx - 1) * 3 + k] - p0;
                    float d3 = r[clampi(x + 2, 0, nx - 1) * 3 + k] - p0;
                    float a0 = p0;
                    float a1 = (float)(-1.0 / 3 * d0 + d2 - 1.0 / 6 * d3);
                    float a2 = (float)(1.0 / 2 * d0 + 1.0 / 2 * d2);
                    float a3 = (float)(-1.0 / 6 * d0 - 1.0 / 2 * d2 + 1.0 / 6 * d3);
                    C[jj] = a0 + a1 * dx + a2 * dx * dx + a3 * dx * dx * dx;
                }
                float d0 = C[0] - C[1], d2 = C[2] - C[1], d3 = C[3] - C[1];
                float a0 = C[1];
                float a1 = (float)(-1.0 / 3 * d0 + d2 - 1.0 / 6 * d3);
                float a2 = (float)(1.0 / 2 * d0 + 1.0 / 2 * d2);
                float a3 = (float)(-1.0 / 6 * d0 - 1.0 / 2 * d2 + 1.0 / 6 * d3);
                float cc = a0 + a1 * dy + a2 * dy * dy + a3 * dy * dy * dy;
                float v = roundf(cc);
                dst[((size_t)i * tw + j) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* preprocessing                                                                             */

void vlkv_image_pad_color(const float mean[3], uint8_t pad[3]) {
    for (int c = 0; c < 3; c++) {
        float v = mean[c] * 255.0f;    /* python int() truncates towards zero */
        pad[c] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)v);
    }
}

void vlkv_image_pad_geometry(int32_t w, int32_t h, int32_t *side, int32_t *ox, int32_t *oy) {
    int32_t s = w > h ? w : h;
    *side = s;
    *ox = (s - w) / 2;
    *oy = (s - h) / 2;
}

vlkv_status vlkv_image_preprocess(const struct vlkv_image *img, const struct vlkv_preproc *p, float *out) {
    vlkv_status st = VLKV_OK;
    uint8_t *px = NULL, *tmp = NULL;
    VLKV_CHECK(img && img->rgb && p && out && p->size > 0, VLKV_ERR_INVALID_ARG, "image preprocess: bad arguments");
    const int32_t S = p->size;
    px = malloc((size_t)S * S * 3);
    VLKV_CHECK(px != NULL, VLKV_ERR_OOM, "image preprocess: out of memory");
    struct canvas c;
    c.src = img->rgb;
    c.sw = img->w;
    c.sh = img->h;
    vlkv_image_pad_color(p->mean, c.pad);

    if (p->mode == VLKV_PREPROC_MTMD) {
        /* aspect fit, cubic convolution, centred on the pad colour */
        if (img->w == S && img->h == S) {
            memcpy(px, img->rgb, (size_t)S * S * 3);
        } else {
            float sc = fminf((float)S / img->w, (float)S / img->h);
            int nw = (int)ceilf(img->w * sc), nh = (int)ceilf(img->h * sc);
            nw = clampi(nw, 1, S);
            nh = clampi(nh, 1, S);
            tmp = malloc((size_t)nw * nh * 3);
            VLKV_CHECK(tmp != NULL, VLKV_ERR_OOM, "image preprocess: out of memory");
            resize_cubic_mtmd(img->rgb, img->w, img->h, tmp, nw, nh);
            struct canvas c2 = {tmp, nw, nh, S, S, (S - nw) / 2, (S - nh) / 2, {c.pad[0], c.pad[1], c.pad[2]}};
            for (int32_t y = 0; y < S; y++) canvas_row(&c2, y, px + (size_t)y * S * 3);
        }
    } else {
        vlkv_image_pad_geometry(img->w, img->h, &c.cw, &c.ox, &c.oy);
        c.ch = c.cw;
        VLKV_TRY(resample_canvas(&c, px, S, S));
    }

    /* x/255, (x - mean)/std, planar */
    for (int ch = 0; ch < 3; ch++) {
        float m = p->mean[ch], sd = p->std[ch];
        float *o = out + (size_t)ch * S * S;
        for (size_t i = 0; i < (size_t)S * S; i++)
            o[i] = ((float)px[i * 3 + ch] / 255.0f - m) / sd;
    }
fail:
    free(px);
    free(tmp);
    return st;
}
