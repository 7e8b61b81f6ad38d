/* test_image.c - image decoding (stb_image) and LLaVA preprocessing.
 * Decoding: tiny fixtures in tests/data (made by tests/data/make_image_fixtures.py with PIL)
 * whose pixels follow a formula this test recomputes; bad inputs crafted here must fail with
 * a clear status and no crash. Resampling: hand-computed cases (constant image, 2x1 -> 1x1
 * from the bicubic kernel) and PIL's own Image.resize(BICUBIC) / expand2square outputs, which
 * must match byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "internal.h"
#include "test_util.h"

#define DATA VLKV_SOURCE_DIR "/tests/data/"

static void pattern(int x, int y, uint8_t p[3]) {
    p[0] = (uint8_t)((x * 40 + y * 7) % 256);
    p[1] = (uint8_t)((y * 50 + 3) % 256);
    p[2] = (uint8_t)(((x + y) * 20 + 1) % 256);
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void write_all(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

static void check_pattern_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, DATA "%s", name);
    vlkv_image *img = NULL;
    vlkv_status st = vlkv_image_load_file(path, &img);
    CHECK_MSG(st == VLKV_OK, "%s: %s", name, vlkv_last_error());
    if (st != VLKV_OK) return;
    CHECK(vlkv_image_width(img) == 5 && vlkv_image_height(img) == 3);
    int bad = 0;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++) {
            uint8_t p[3];
            pattern(x, y, p);
            if (memcmp(img->rgb + (y * 5 + x) * 3, p, 3)) bad++;
        }
    CHECK_MSG(bad == 0, "%s: %d pixels differ from the pattern", name, bad);
    vlkv_image_free(img);
}

static void test_decode(void) {
    check_pattern_file("rgb_5x3.png");
    check_pattern_file("rgb_5x3.bmp");
    check_pattern_file("rgb_5x3.tga");
    check_pattern_file("rgb_5x3.ppm");
    check_pattern_file("rgba_5x3.png");   /* alpha dropped, RGB kept: PIL convert('RGB') */

    vlkv_image *img = NULL;
    CHECK(vlkv_image_load_file(DATA "grey_5x3.pgm", &img) == VLKV_OK);
    if (img) {
        int bad = 0;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++) {
                uint8_t g = (uint8_t)((x * 30 + y * 60 + 5) % 256);
                const uint8_t *p = img->rgb + (y * 5 + x) * 3;
                if (p[0] != g || p[1] != g || p[2] != g) bad++;
            }
        CHECK_MSG(bad == 0, "grey -> RGB: %d pixels wrong", bad);
        vlkv_image_free(img);
    }

    /* GIF: first frame = palette[(x + y) % 4]; the second frame (index 5) must not appear */
    static const uint8_t pal[6][3] = {{10, 20, 30}, {200, 100, 50}, {0, 255, 0}, {1, 2, 3}, {250, 251, 252},
                                      {99, 98, 97}};
    img = NULL;
    CHECK(vlkv_image_load_file(DATA "anim_5x3.gif", &img) == VLKV_OK);
    if (img) {
        int bad = 0;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
                if (memcmp(img->rgb + (y * 5 + x) * 3, pal[(x + y) % 4], 3)) bad++;
        CHECK_MSG(bad == 0, "GIF first frame: %d pixels wrong", bad);
        vlkv_image_free(img);
    }

    /* JPEG is lossy: flat 8x8 blocks decode within a few LSB of the source colours */
    img = NULL;
    CHECK(vlkv_image_load_file(DATA "two_16x8.jpg", &img) == VLKV_OK);
    if (img) {
        static const int ca[3] = {200, 40, 90}, cb[3] = {20, 180, 230};
        int maxd = 0;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 16; x++)
                for (int c = 0; c < 3; c++) {
                    int d = abs((int)img->rgb[(y * 16 + x) * 3 + c] - (x < 8 ? ca[c] : cb[c]));
                    if (d > maxd) maxd = d;
                }
        CHECK(img->w == 16 && img->h == 8);
        CHECK_MSG(maxd <= 4, "JPEG: max deviation %d", maxd);
        vlkv_image_free(img);
    }

    /* from_rgb copies */
    uint8_t rgb[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    img = NULL;
    CHECK(vlkv_image_from_rgb(rgb, 2, 2, &img) == VLKV_OK);
    rgb[0] = 99;
    CHECK(img && img->rgb[0] == 1 && img->rgb[11] == 12);
    vlkv_image_free(img);
    img = (vlkv_image *)1;
    CHECK(vlkv_image_from_rgb(rgb, 0, 2, &img) == VLKV_ERR_INVALID_ARG && img == NULL);
    CHECK(vlkv_image_from_rgb(NULL, 2, 2, &img) == VLKV_ERR_INVALID_ARG);
    vlkv_image_free(NULL);
    CHECK(vlkv_image_width(NULL) == 0);
}

static void expect_fail(const char *path, vlkv_status want, const char *what) {
    vlkv_image *img = (vlkv_image *)1;
    vlkv_status st = vlkv_image_load_file(path, &img);
    CHECK_MSG(st == want, "%s: status %d (%s), want %d", what, (int)st, vlkv_last_error(), (int)want);
    CHECK_MSG(img == NULL, "%s: out not NULL on failure", what);
    /* the message names the file */
    CHECK_MSG(strstr(vlkv_last_error(), path) != NULL, "%s: message '%s' does not name the file", what,
              vlkv_last_error());
}

static void put_le32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static void put_le16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put_be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static void test_bad(void) {
    expect_fail("test_image_does_not_exist.png", VLKV_ERR_IO, "missing file");
    expect_fail(".", VLKV_ERR_IO, "a directory");

    write_all("test_image_empty.png", "", 0);
    expect_fail("test_image_empty.png", VLKV_ERR_FORMAT, "zero-sized file");

    const char *txt = "This is a plain text file, certainly not a picture of anything.\n";
    write_all("test_image_text.jpg", txt, strlen(txt));
    expect_fail("test_image_text.jpg", VLKV_ERR_FORMAT, "text file");

    /* 100000 x 100000 BMP header (24 bpp), no pixel data: rejected from the header */
    uint8_t bmp[54] = {'B', 'M'};
    put_le32(bmp + 2, 54);
    put_le32(bmp + 10, 54);
    put_le32(bmp + 14, 40);
    put_le32(bmp + 18, 100000);
    put_le32(bmp + 22, 100000);
    put_le16(bmp + 26, 1);
    put_le16(bmp + 28, 24);
    write_all("test_image_huge.bmp", bmp, sizeof bmp);
    expect_fail("test_image_huge.bmp", VLKV_ERR_FORMAT, "100000x100000 BMP");

    /* 100000 x 100000 PNG: take the real fixture and patch IHDR's width/height */
    size_t n = 0;
    uint8_t *png = read_all(DATA "rgb_5x3.png", &n);
    CHECK(png != NULL && n > 33);
    if (png) {
        uint8_t *p2 = malloc(n);
        memcpy(p2, png, n);
        put_be32(p2 + 16, 100000);
        put_be32(p2 + 20, 100000);
        write_all("test_image_huge.png", p2, n);
        expect_fail("test_image_huge.png", VLKV_ERR_FORMAT, "100000x100000 PNG");
        put_be32(p2 + 16, 0);
        put_be32(p2 + 20, 3);
        write_all("test_image_zero.png", p2, n);
        expect_fail("test_image_zero.png", VLKV_ERR_FORMAT, "0x3 PNG");
        free(p2);

        /* every truncation before the end of the image data fails cleanly (IEND = last 12) */
        int bad = 0;
        for (size_t cut = 1; cut + 12 < n; cut++) {
            vlkv_image *img = NULL;
            vlkv_status st = vlkv_image_load_memory(png, cut, "truncated.png", &img);
            if (st != VLKV_ERR_FORMAT || img) bad++;
            vlkv_image_free(img);
        }
        CHECK_MSG(bad == 0, "%d truncated PNGs were accepted", bad);
        free(png);
    }
    /* truncated BMP / GIF: no crash, no acceptance of the pixel-less prefix */
    const char *others[] = {"rgb_5x3.bmp", "anim_5x3.gif", "rgb_5x3.ppm"};
    for (size_t i = 0; i < VLKV_ARRAY_LEN(others); i++) {
        char path[512];
        snprintf(path, sizeof path, DATA "%s", others[i]);
        uint8_t *b = read_all(path, &n);
        if (!b) { CHECK(0); continue; }
        for (size_t cut = 1; cut < n / 2; cut++) {
            vlkv_image *img = NULL;
            vlkv_status st = vlkv_image_load_memory(b, cut, others[i], &img);
            CHECK_MSG(st != VLKV_OK || (img && img->w == 5 && img->h == 3), "%s cut %zu", others[i], cut);
            vlkv_image_free(img);
        }
        free(b);
    }
    /* random byte corruption of every fixture: any status, but no crash and a sane image
     * whenever one is returned (run under ASan in CI) */
    const char *all[] = {"rgb_5x3.png", "rgb_5x3.bmp", "rgb_5x3.tga", "rgb_5x3.ppm", "grey_5x3.pgm",
                         "rgba_5x3.png", "anim_5x3.gif", "two_16x8.jpg"};
    test_rng r = {0x9e3779b97f4a7c15ull};
    const char *fi = getenv("VLKV_FUZZ_ITERS");   /* more iterations for a longer local run */
    const int fuzz_iters = fi && atoi(fi) > 0 ? atoi(fi) : 300;
    if (fi) r.s ^= (uint64_t)atoi(fi) * 0x2545F4914F6CDD1Dull;
    int insane = 0;
    for (size_t i = 0; i < VLKV_ARRAY_LEN(all); i++) {
        char path[512];
        snprintf(path, sizeof path, DATA "%s", all[i]);
        uint8_t *b = read_all(path, &n);
        if (!b) { CHECK(0); continue; }
        for (int it = 0; it < fuzz_iters; it++) {
            uint8_t *c = malloc(n);
            memcpy(c, b, n);
            int nflip = 1 + (int)(rng_u64(&r) % 4);
            for (int k = 0; k < nflip; k++) c[rng_u64(&r) % n] ^= (uint8_t)(1 + rng_u64(&r) % 255);
            vlkv_image *img = NULL;
            vlkv_status st = vlkv_image_load_memory(c, n, all[i], &img);
            if (st == VLKV_OK && (!img || img->w <= 0 || img->h <= 0 ||
                                  (int64_t)img->w * img->h > VLKV_IMAGE_MAX_PIXELS))
                insane++;
            if (st != VLKV_OK && img) insane++;
            vlkv_image_free(img);
            free(c);
        }
        free(b);
    }
    CHECK_MSG(insane == 0, "%d corrupted files gave inconsistent results", insane);

    remove("test_image_empty.png");
    remove("test_image_text.jpg");
    remove("test_image_huge.bmp");
    remove("test_image_huge.png");
    remove("test_image_zero.png");
}

static void test_geometry(void) {
    int32_t s, ox, oy;
    vlkv_image_pad_geometry(9, 4, &s, &ox, &oy);
    CHECK(s == 9 && ox == 0 && oy == 2);            /* (9-4)//2 = 2 */
    vlkv_image_pad_geometry(4, 9, &s, &ox, &oy);
    CHECK(s == 9 && ox == 2 && oy == 0);
    vlkv_image_pad_geometry(10, 3, &s, &ox, &oy);
    CHECK(s == 10 && ox == 0 && oy == 3);           /* 7//2 = 3 */
    vlkv_image_pad_geometry(7, 7, &s, &ox, &oy);
    CHECK(s == 7 && ox == 0 && oy == 0);
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    uint8_t pad[3];
    vlkv_image_pad_color(mean, pad);
    CHECK(pad[0] == 122 && pad[1] == 116 && pad[2] == 104);
}

static void test_resize(void) {
    /* constant stays constant, up and down */
    uint8_t src[7 * 5 * 3], dst[13 * 3 * 3];
    for (size_t i = 0; i < sizeof src; i += 3) { src[i] = 17; src[i + 1] = 200; src[i + 2] = 255; }
    CHECK(vlkv_resize_bicubic_pillow(src, 7, 5, dst, 13, 3) == VLKV_OK);
    int bad = 0;
    for (size_t i = 0; i < sizeof dst; i += 3) bad += dst[i] != 17 || dst[i + 1] != 200 || dst[i + 2] != 255;
    CHECK_MSG(bad == 0, "constant image changed in %d pixels", bad);

    /* 2x1 -> 1x1 by hand: scale 2, support 4, centre 1.0, taps x=0,1 at distance 0.25 after
     * the 1/2 scaling: both weights k(0.25) = 0.8671875, normalised to 1/2 each = 2^21 in
     * 22-bit fixed point, so out = (2^21 + 2^21 (a + b)) >> 22 = floor((a + b)/2 + 1/2). */
    uint8_t two[6] = {10, 0, 255, 21, 3, 254}, one[3];
    CHECK(vlkv_resize_bicubic_pillow(two, 2, 1, one, 1, 1) == VLKV_OK);
    CHECK(one[0] == 16 && one[1] == 2 && one[2] == 255);   /* 15.5 -> 16, 1.5 -> 2, 254.5 -> 255 */

    /* 1x2 -> 1x1 vertical: same arithmetic */
    CHECK(vlkv_resize_bicubic_pillow(two, 1, 2, one, 1, 1) == VLKV_OK);
    CHECK(one[0] == 16 && one[1] == 2 && one[2] == 255);

    /* PIL goldens */
    vlkv_image *im = NULL;
    CHECK(vlkv_image_load_file(DATA "resize_src.png", &im) == VLKV_OK);
    if (!im) return;
    CHECK(im->w == 13 && im->h == 7);
    static const int sizes[3][2] = {{5, 5}, {4, 9}, {29, 11}};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, DATA "resize_%dx%d.rgb", sizes[i][0], sizes[i][1]);
        size_t n = 0;
        uint8_t *want = read_all(path, &n);
        CHECK(want && n == (size_t)sizes[i][0] * sizes[i][1] * 3);
        if (!want) continue;
        uint8_t *got = malloc(n);
        CHECK(vlkv_resize_bicubic_pillow(im->rgb, 13, 7, got, sizes[i][0], sizes[i][1]) == VLKV_OK);
        int diff = 0, maxd = 0;
        for (size_t j = 0; j < n; j++) {
            int d = abs((int)got[j] - want[j]);
            diff += d != 0;
            if (d > maxd) maxd = d;
        }
        CHECK_MSG(diff == 0, "resize to %dx%d: %d bytes differ from PIL (max %d)", sizes[i][0], sizes[i][1],
                  diff, maxd);
        free(got);
        free(want);
    }
    vlkv_image_free(im);
}

static void test_preprocess(void) {
    /* expand2square + PIL bicubic, compared with PIL through the normalisation formula */
    vlkv_image *im = NULL;
    CHECK(vlkv_image_load_file(DATA "pad_src.png", &im) == VLKV_OK);
    if (!im) return;
    size_t n = 0;
    uint8_t *want = read_all(DATA "pad_6x6.rgb", &n);
    CHECK(want && n == 6 * 6 * 3);
    struct vlkv_preproc p = {6, {0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f},
                             VLKV_PREPROC_LLAVA};
    float out[3 * 6 * 6];
    CHECK(vlkv_image_preprocess(im, &p, out) == VLKV_OK);
    double maxe = 0;
    for (int c = 0; c < 3 && want; c++)
        for (int i = 0; i < 36; i++) {
            double ref = ((double)want[i * 3 + c] / 255.0 - p.mean[c]) / p.std[c];
            double e = fabs(ref - out[c * 36 + i]);
            if (e > maxe) maxe = e;
        }
    CHECK_MSG(maxe < 1e-5, "preprocess vs PIL expand2square+resize: max err %g", maxe);
    free(want);
    vlkv_image_free(im);

    /* normalisation of a constant square image (no padding, resize 4 -> 5 keeps it
     * constant), planar layout: channel c of every pixel = (v/255 - mean_c) / std_c */
    struct vlkv_preproc q = {5, {0.5f, 0.25f, 0.0f}, {0.5f, 2.0f, 1.0f}, VLKV_PREPROC_LLAVA};
    float o2[3 * 25];
    uint8_t sq[4 * 4 * 3];
    for (int i = 0; i < 16; i++) { sq[i * 3] = 0; sq[i * 3 + 1] = 128; sq[i * 3 + 2] = 255; }
    CHECK(vlkv_image_from_rgb(sq, 4, 4, &im) == VLKV_OK);
    CHECK(vlkv_image_preprocess(im, &q, o2) == VLKV_OK);
    int bad = 0;
    for (int i = 0; i < 25; i++) {
        bad += fabsf(o2[i] - (0.0f - 0.5f) / 0.5f) > 1e-6f;
        bad += fabsf(o2[25 + i] - (128.0f / 255.0f - 0.25f) / 2.0f) > 1e-6f;
        bad += fabsf(o2[50 + i] - (1.0f - 0.0f) / 1.0f) > 1e-6f;
    }
    CHECK_MSG(bad == 0, "normalisation: %d values wrong", bad);
    vlkv_image_free(im);

    /* mtmd compat: a square image of the target size is copied unchanged */
    CHECK(vlkv_image_from_rgb(sq, 4, 4, &im) == VLKV_OK);
    struct vlkv_preproc m = {4, {0.5f, 0.25f, 0.0f}, {0.5f, 2.0f, 1.0f}, VLKV_PREPROC_MTMD};
    float o3[3 * 16];
    CHECK(vlkv_image_preprocess(im, &m, o3) == VLKV_OK);
    CHECK(fabsf(o3[0] + 1.0f) < 1e-6f && fabsf(o3[32] - 1.0f) < 1e-6f);
    vlkv_image_free(im);
    /* mtmd compat: 8x4 constant -> fit 4x2 centred at y=1 on a pad canvas */
    uint8_t wide[8 * 4 * 3];
    memset(wide, 200, sizeof wide);
    CHECK(vlkv_image_from_rgb(wide, 8, 4, &im) == VLKV_OK);
    CHECK(vlkv_image_preprocess(im, &m, o3) == VLKV_OK);
    float padv = ((float)127 / 255.0f - 0.5f) / 0.5f, imv = (200.0f / 255.0f - 0.5f) / 0.5f;
    CHECK_NEAR(o3[0], padv, 1e-6);            /* row 0: pad */
    CHECK_NEAR(o3[4], imv, 1e-6);             /* row 1: image */
    CHECK_NEAR(o3[8], imv, 1e-6);             /* row 2: image */
    CHECK_NEAR(o3[12], padv, 1e-6);           /* row 3: pad */
    vlkv_image_free(im);
}

int main(void) {
    vlkv_image *img = NULL;
    if (vlkv_image_load_file(DATA "rgb_5x3.png", &img) == VLKV_ERR_UNSUPPORTED) {
        printf("test_image: built without stb_image, skipping\n");
        return 77;
    }
    vlkv_image_free(img);
    test_decode();
    test_bad();
    test_geometry();
    test_resize();
    test_preprocess();
    return test_done("test_image");
}
