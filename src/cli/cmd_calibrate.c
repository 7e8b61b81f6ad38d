/* cmd_calibrate.c - `vlkv calibrate`: PrefixKV's offline calibration (kv-lvlm-methods.md §2.4).
 * Runs the per-sample threshold search on a few prompts (prefill only, no generation) and writes
 * the mean per-layer retained fractions per budget to a JSON file for `--kv-config`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "json.h"
#include "kv/kv_calib.h"
#include "vlkv.h"


#define MAX_PROMPTS 1024
#define MAX_IMG 8

struct item {
    char *text;
    char *img[MAX_IMG];
    const char *imgc[MAX_IMG];
    int32_t n_img;
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: vlkv calibrate -m MODEL.gguf [--mmproj MMPROJ.gguf] (--data FILE.jsonl | --prompts FILE.txt |\n"
            "                      -p TEXT [--image IMG]) -o CONF.json [options]\n\n"
            "PrefixKV calibration: searches the per-layer retained fractions on each prompt's prefill and\n"
            "writes their mean per budget; use it with --kv-policy prefixkv --kv-config CONF.json.\n\n"
            "  --data FILE.jsonl    samples {\"prompt\": ..., \"image\": PATH | \"images\": [...]} (paths relative\n"
            "                       to the file; the same format as vlkv eval)\n"
            "  --prompts FILE.txt   one text prompt per line\n"
            "  --budgets LIST       retained fractions, comma separated (default 0.1,0.2,...,0.9)\n"
            "  --samples N          use at most N prompts (default 10, as the paper)\n"
            "  -o, --output FILE    the calibration JSON to write\n\n%s",
            cli_common_help());
}

static char *dup_s(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

static char *join_dir(const char *file, const char *rel) {
    if (rel[0] == '/') return dup_s(rel);
    const char *slash = strrchr(file, '/');
    size_t dl = slash ? (size_t)(slash - file + 1) : 0;
    char *p = malloc(dl + strlen(rel) + 1);
    if (!p) return NULL;
    memcpy(p, file, dl);
    strcpy(p + dl, rel);
    return p;
}

static char *read_line(FILE *f) {
    size_t cap = 256, n = 0;
    char *b = malloc(cap);
    int ch;
    while (b && (ch = fgetc(f)) != EOF && ch != '\n') {
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); return NULL; }
            b = nb;
        }
        b[n++] = (char)ch;
    }
    if (!b) return NULL;
    if (n == 0 && ch == EOF) { free(b); return NULL; }
    b[n] = 0;
    return b;
}

/* returns the number of items read, or -1 after printing an error */
static int load_items(const char *data, int jsonl, struct item *items, int max) {
    FILE *f = fopen(data, "r");
    if (!f) {
        fprintf(stderr, "vlkv calibrate: %s: %s\n", data, strerror(errno));
        return -1;
    }
    int n = 0, line_no = 0;
    char *line;
    while (n < max && (line = read_line(f))) {
        line_no++;
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (!*s) { free(line); continue; }
        if (!jsonl) {
            size_t l = strlen(s);
            while (l && (s[l - 1] == '\r' || s[l - 1] == ' ')) s[--l] = 0;
            items[n++].text = dup_s(s);
            free(line);
            continue;
        }
        char err[160];
        struct json *j = vlkv_json_parse(s, strlen(s), err, sizeof err);
        const struct json *p = j ? vlkv_json_get(j, "prompt") : NULL;
        if (!p || p->type != JSON_STR) {
            fprintf(stderr, "vlkv calibrate: %s:%d: %s\n", data, line_no, j ? "needs a \"prompt\" string" : err);
            vlkv_json_free(j);
            free(line);
            fclose(f);
            return -1;
        }
        struct item *it = &items[n++];
        it->text = dup_s(p->str);
        const struct json *img = vlkv_json_get(j, "image"), *imgs = vlkv_json_get(j, "images");
        if (img && img->type == JSON_STR) it->img[it->n_img++] = join_dir(data, img->str);
        if (imgs && imgs->type == JSON_ARR)
            for (const struct json *e = imgs->child; e && it->n_img < MAX_IMG; e = e->next)
                if (e->type == JSON_STR) it->img[it->n_img++] = join_dir(data, e->str);
        for (int k = 0; k < it->n_img; k++) it->imgc[k] = it->img[k];
        vlkv_json_free(j);
        free(line);
    }
    fclose(f);
    return n;
}

static void progress(int32_t i, int32_t n, void *ud) {
    (void)ud;
    fprintf(stderr, "\rvlkv calibrate: %d/%d prompts", i, n);
    if (i == n) fputc('\n', stderr);
}

int cmd_calibrate(int argc, char **argv) {
    struct cli_common c;
    cli_common_init(&c);
    const char *data = NULL, *prompts_file = NULL, *out = NULL, *blist = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";
    int samples = 10;
    for (int i = 1; i < argc;) {
        int r = cli_common_arg(&c, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vlkv calibrate: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--data")) data = argv[i + 1];
        else if (!strcmp(a, "--prompts")) prompts_file = argv[i + 1];
        else if (!strcmp(a, "--budgets")) blist = argv[i + 1];
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = argv[i + 1];
        else if (!strcmp(a, "--samples")) {
            if (cli_parse_int("--samples", argv[i + 1], 1, MAX_PROMPTS, &samples)) return 2;
        } else {
            fprintf(stderr, "vlkv calibrate: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i += 2;
    }
    cli_log_to_stderr(c.verbosity);
    if (!c.model || !out || (!data && !prompts_file && !c.prompt)) {
        fprintf(stderr, "vlkv calibrate: -m MODEL, -o OUT and one of --data / --prompts / -p are required\n");
        usage(stderr);
        return 2;
    }
    double budgets[32];
    int nb = 0;
    for (const char *s = blist; *s;) {
        char *end;
        errno = 0;
        double b = strtod(s, &end);
        if (errno || end == s || !(b > 0 && b < 1) || nb == 32 || (*end && *end != ',')) {
            fprintf(stderr, "vlkv calibrate: --budgets '%s': expected up to 32 retained fractions in (0, 1), "
                            "comma separated\n", blist);
            return 2;
        }
        budgets[nb++] = b;
        s = *end ? end + 1 : end;
    }

    int rc = 1;
    static struct item items[MAX_PROMPTS];
    static struct vlkv_calib_prompt pr[MAX_PROMPTS];
    int n = 0;
    vlkv_model *model = NULL;
    if (data || prompts_file) {
        n = load_items(data ? data : prompts_file, data != NULL, items, samples);
        if (n < 0) return 1;
    } else {
        items[0].text = dup_s(c.prompt);
        for (int k = 0; k < c.n_images && k < MAX_IMG; k++) items[0].imgc[items[0].n_img++] = c.images[k];
        n = 1;
    }
    if (n == 0) {
        fprintf(stderr, "vlkv calibrate: no prompts\n");
        goto done;
    }
    for (int i = 0; i < n; i++) pr[i] = (struct vlkv_calib_prompt){items[i].text, items[i].imgc, items[i].n_img};
    if (vlkv_model_load(c.model, &c.mp, &model) != VLKV_OK) {
        fprintf(stderr, "vlkv: cannot load model: %s\n", vlkv_last_error());
        goto done;
    }
    if (vlkv_kv_calibrate(model, &c.cp, pr, n, budgets, nb, out, progress, NULL) != VLKV_OK) {
        fprintf(stderr, "\nvlkv calibrate: %s\n", vlkv_last_error());
        goto done;
    }
    fprintf(stderr, "vlkv calibrate: wrote %s (%d budgets, %d prompts, %d layers)\n", out, nb, n,
            vlkv_model_n_layer(model));
    rc = 0;
done:
    for (int i = 0; i < n; i++) {
        free(items[i].text);
        for (int k = 0; k < items[i].n_img; k++) free(items[i].img[k]);
    }
    vlkv_model_free(model);
    return rc;
}
