/* golden.h - shared helpers of test_golden_llama.c and test_golden_clip.c: the .bin fixture
 * reader (format written by tests/ref/make_golden.py: "VGLD", u32 dtype 0=f32 1=i32, u32 ndim,
 * u32 dims[ndim], little-endian elements), the manifest line reader, model regeneration through
 * `$VLKV_BIN mkmodel ...`, and the logits comparisons. Header-only: each test includes it once. */
#ifndef VLKV_GOLDEN_H
#define VLKV_GOLDEN_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../test_util.h"
#include "vlkv.h"

#define GOLDEN_MAX_TOK 64

struct golden_arr {
    int      dtype;     /* 0 f32, 1 i32 */
    int      ndim;
    int64_t  dims[4];
    int64_t  n;         /* element count */
    void    *data;      /* float * or int32_t * */
};

static inline void golden_arr_free(struct golden_arr *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

static inline uint32_t golden_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Load dir/name; prints why and returns -1 on any problem (missing, short, bad header). */
static inline int golden_load(const char *dir, const char *name, int want_dtype, struct golden_arr *a) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "golden: cannot open %s\n", path);
        return -1;
    }
    unsigned char h[12 + 16];
    int ok = fread(h, 1, 12, f) == 12 && !memcmp(h, "VGLD", 4);
    if (ok) {
        a->dtype = (int)golden_le32(h + 4);
        a->ndim = (int)golden_le32(h + 8);
        ok = a->dtype == want_dtype && a->ndim >= 1 && a->ndim <= 4 &&
             fread(h + 12, 4, (size_t)a->ndim, f) == (size_t)a->ndim;
    }
    if (ok) {
        a->n = 1;
        for (int i = 0; i < a->ndim; i++) {
            a->dims[i] = golden_le32(h + 12 + 4 * i);
            a->n *= a->dims[i];
        }
        ok = a->n > 0 && a->n < (1 << 24) && (a->data = malloc((size_t)a->n * 4)) != NULL &&
             fread(a->data, 4, (size_t)a->n, f) == (size_t)a->n;
    }
    if (ok) {   /* the file is little-endian; convert in place on a big-endian host */
        unsigned char *p = a->data;
        for (int64_t i = 0; i < a->n; i++) {
            uint32_t v = golden_le32(p + 4 * i);
            memcpy(p + 4 * i, &v, 4);
        }
    }
    fclose(f);
    if (!ok) {
        fprintf(stderr, "golden: %s: bad or truncated fixture (want dtype %d)\n", path, want_dtype);
        golden_arr_free(a);
        return -1;
    }
    return 0;
}

/* The vlkv binary: $VLKV_BIN (set by ctest), else the build dir's vlkv. */
static inline const char *golden_vlkv_bin(void) {
    const char *b = getenv("VLKV_BIN");
#ifdef VLKV_BINARY_DIR
    if (!b || !*b) b = VLKV_BINARY_DIR "/vlkv";
#endif
    return b;
}

/* Run `$VLKV_BIN mkmodel ARGS -o out`. ARGS come from our own manifest (plain words, no quoting
 * needed); reject anything with shell metacharacters anyway. Returns 0 on success. */
static inline int golden_mkmodel(const char *args, const char *out) {
    const char *bin = golden_vlkv_bin();
    struct stat st;
    if (!bin || stat(bin, &st) != 0) {
        fprintf(stderr, "golden: vlkv binary not found (VLKV_BIN=%s)\n", bin ? bin : "(unset)");
        return -1;
    }
    if (strpbrk(args, ";|&$`<>\"'\\") || strpbrk(out, ";|&$`<>\"'\\ ")) {
        fprintf(stderr, "golden: refusing manifest args with shell characters: %s\n", args);
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' mkmodel %s -o %s > /dev/null", bin, args, out);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "golden: command failed (%d): %s\n", rc, cmd);
        return -1;
    }
    return 0;
}

/* FNV-1a 64 of a file as 16 hex digits (make_golden.py records the same); 0 on success. */
static inline int golden_fnv1a64(const char *path, char hex[17]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint64_t h = 0xCBF29CE484222325ull;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 0x100000001B3ull;
    fclose(f);
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
    return 0;
}

/* Make a model with mkmodel and compare its hash with the one the fixtures were made from
 * (want_hash from the manifest, or NULL). A different hash is only a warning: metadata-only
 * changes (general.name, vocabulary pieces) leave the logits alone, and if the weights changed
 * the comparisons fail anyway -- after this hint. 0 on success. */
static inline int golden_make_checked(const char *args, const char *out, const char *want_hash) {
    if (golden_mkmodel(args, out)) return -1;
    char hex[17];
    if (want_hash && (golden_fnv1a64(out, hex) || strcmp(hex, want_hash)))
        fprintf(stderr, "golden: WARNING: %s (mkmodel %s) hashes to %s, the fixtures were made from %s: "
                "mkmodel's output changed. If the comparisons below fail, regenerate the fixtures with "
                "/usr/bin/python3 tests/ref/make_golden.py --vlkv build/vlkv\n", out, args, hex, want_hash);
    return 0;
}

/* Split a manifest line into words in place; returns the word count (comments/blank: 0). */
static inline int golden_split(char *line, char **w, int max) {
    int n = 0;
    char *save = NULL;
    if (line[0] == '#') return 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t && n < max; t = strtok_r(NULL, " \t\r\n", &save))
        w[n++] = t;
    return n;
}

/* The rest of the line after the first two words (the mkmodel arguments), copied to dst. */
static inline void golden_rest(const char *line, char *dst, size_t n) {
    const char *p = line;
    for (int k = 0; k < 2 && *p; k++) {
        while (*p == ' ' || *p == '\t') p++;
        while (*p && *p != ' ' && *p != '\t') p++;
    }
    while (*p == ' ' || *p == '\t') p++;
    size_t l = strlen(p);
    if (l >= n) l = n - 1;
    memcpy(dst, p, l);
    dst[l] = 0;
    while (l && (dst[l - 1] == '\n' || dst[l - 1] == '\r' || dst[l - 1] == ' ')) dst[--l] = 0;
}

static inline int golden_argmax(const float *x, int64_t n) {
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = (int)i;
    return best;
}

static inline double golden_max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* Compare one row of engine logits with the reference row:
 *   rel = max|got - ref| / max|ref| <= tol, and
 *   argmax(got) == argmax(ref) unless the reference itself has those two within 2*tol*max|ref|
 *   (a gap that small can be crossed by errors within the bound; the rel check still holds).
 * Returns rel; *worst tracks the maximum. */
static inline double golden_cmp_logits(const char *what, const float *got, const float *ref, int64_t n, double tol,
                                double *worst) {
    double scale = golden_max_abs(ref, n);
    double rel = max_abs_diff(got, ref, n) / (scale > 0 ? scale : 1);
    if (rel > *worst || rel != rel) *worst = rel;
    if (getenv("GOLDEN_VERBOSE")) printf("    %-40s rel %.3g\n", what, rel);
    CHECK_MSG(rel <= tol, "%s: logits rel err %.3g > tol %.3g", what, rel, tol);
    int ag = golden_argmax(got, n), ar = golden_argmax(ref, n);
    CHECK_MSG(ag == ar || ref[ar] - ref[ag] <= 2 * tol * scale,
              "%s: top-1 %d (ref logit %.6g) != ref top-1 %d (%.6g)", what, ag, ref[ag], ar, ref[ar]);
    return rel;
}

/* Teacher forcing: with the prompt evaluated, feed the reference greedy ids g[0..n-2] with
 * vlkv_decode and compare the logits of every step with steps[i] (n rows of n_vocab).
 * Returns 0, or -1 if a call failed. */
static inline int golden_teacher_forced(vlkv_context *ctx, const char *name, const int32_t *g, const float *steps,
                                        int n, int64_t n_vocab, double tol, double *worst) {
    char what[200];
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            vlkv_status st = vlkv_decode(ctx, g[i - 1]);
            CHECK_MSG(st == VLKV_OK, "%s: decode: %s", name, vlkv_last_error());
            if (st != VLKV_OK) return -1;
        }
        snprintf(what, sizeof what, "%s step %d", name, i);
        golden_cmp_logits(what, vlkv_get_logits(ctx), steps + (int64_t)i * n_vocab, n_vocab, tol, worst);
    }
    return 0;
}

/* Free-running greedy: with the prompt evaluated, argmax + vlkv_decode for n steps; the ids must
 * be the reference's. A divergence is accepted only where the reference's top-2 margin is within
 * 2*tol*max|ref logits| of that step (errors inside the bound can flip such a near-tie); the
 * comparison stops there. Returns the number of identical ids; *near_tie = step or -1. */
static inline int golden_free_greedy(vlkv_context *ctx, const char *name, const int32_t *g, const float *margins,
                                     const float *steps, int n, int64_t n_vocab, double tol, int *near_tie) {
    int matched = 0;
    *near_tie = -1;
    for (int i = 0; i < n; i++) {
        int id = golden_argmax(vlkv_get_logits(ctx), n_vocab);
        if (id != g[i]) {
            double scale = golden_max_abs(steps + (int64_t)i * n_vocab, n_vocab);
            CHECK_MSG(margins[i] <= 2 * tol * scale, "%s: greedy step %d: got %d, reference %d (ref margin %.4g)",
                      name, i, id, g[i], margins[i]);
            *near_tie = i;
            break;
        }
        matched++;
        if (i + 1 < n) {
            vlkv_status st = vlkv_decode(ctx, id);
            CHECK_MSG(st == VLKV_OK, "%s: decode: %s", name, vlkv_last_error());
            if (st != VLKV_OK) break;
        }
    }
    return matched;
}

#endif /* VLKV_GOLDEN_H */
