/* cmd_eval.c - `vlkv eval`: what KV retention costs in quality, for any model and image set.
 * Protocol (kv-lvlm-methods.md §2.9, §3.7): the reference is the full-cache greedy generation of
 * each sample (computed once, cached in a JSONL file). For every policy x retained budget:
 *   - PPL of the reference under the compressed cache: prompt prefilled and compressed, then the
 *     reference tokens fed one at a time with the policy's decode-time eviction active;
 *     token-weighted over the set;
 *   - ROUGE-L F1 of the compressed greedy generation against the reference generation;
 *   - exact-match accuracy against the ground-truth answer when the data has one;
 *   - KV bytes held at the end of generation, prefill time, decode tok/s.
 * Data: JSONL, one sample per line: {"prompt": "...", "image": "a.png" | "images": [...],
 * "answer": "...", "reference": "...", "type": "...", "id": ...}; image paths are relative to the
 * data file. Results: JSONL rows (one per policy x budget) and a markdown table. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "eval_metrics.h"
#include "internal.h"
#include "json.h"
#include "kv/kv_calib.h"
#include "vlkv.h"

#define MAX_LIST 32
#define MAX_TYPES 16

struct sample {
    int      line;
    char    *id;
    char    *prompt;
    char    *images[CLI_MAX_IMAGES];
    int      n_images;
    char    *answer;      /* ground truth or NULL */
    char    *reference;   /* user reference text or NULL */
    char    *type;        /* question type or NULL */
    /* full-cache greedy reference */
    int32_t *ref_toks;
    int32_t  n_ref;
    char    *ref_text;
    uint64_t key;         /* reference-cache key (sample_key) */
};

struct agg {
    double  nll_sum;
    long    n_tok;
    double  rouge_sum;
    double  rouge_user_sum;
    int     n_rouge_user;
    int     n_samples;
    int     n_answers, n_correct;
    int     type_n[MAX_TYPES], type_ok[MAX_TYPES];
    double  kv_used, kv_full;
    double  prefill_ms;
    double  decode_ms;
    long    n_decode;
    double *layer_frac;   /* [n_layer] mean retained fraction after compression */
};

struct eval_opts {
    struct cli_common c;
    const char *data;
    const char *out;          /* JSONL results */
    const char *md;           /* markdown table */
    const char *ref_cache;
    const char *policies[MAX_LIST];
    int         n_policies;
    float       budgets[MAX_LIST];
    int         n_budgets;
    int         limit;
    int         stop_on_error;
    int         max_new;
    const char *calib;        /* PrefixKV calibration data (disjoint from --data) */
    int         calib_n;
    const char *calib_out;
};

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void sample_free(struct sample *s) {
    free(s->id);
    free(s->prompt);
    for (int i = 0; i < s->n_images; i++) free(s->images[i]);
    free(s->answer);
    free(s->reference);
    free(s->type);
    free(s->ref_toks);
    free(s->ref_text);
}

static void samples_free(struct sample *v, int n) {
    for (int i = 0; i < n; i++) sample_free(&v[i]);
    free(v);
}

/* Same prompt and images: the same model input. */
static int same_input(const struct sample *a, const struct sample *b) {
    if (strcmp(a->prompt, b->prompt) || a->n_images != b->n_images) return 0;
    for (int m = 0; m < a->n_images; m++)
        if (strcmp(a->images[m], b->images[m])) return 0;
    return 1;
}

/* ---- data file -------------------------------------------------------------------------- */

static char *join_dir(const char *data_path, const char *rel) {
    if (rel[0] == '/') return dupstr(rel);
    const char *slash = strrchr(data_path, '/');
    size_t dl = slash ? (size_t)(slash - data_path) + 1 : 0, rl = strlen(rel);
    char *p = malloc(dl + rl + 1);
    if (!p) return NULL;
    memcpy(p, data_path, dl);
    memcpy(p + dl, rel, rl + 1);
    return p;
}

static const char *const known_fields[] = {"id", "prompt", "image", "images", "answer", "reference",
                                           "type", "description", "annotations", NULL};

/* Parse one data line into s. Returns NULL on success, or a static/err message. */
static const char *parse_sample(const char *line, size_t len, const char *data_path, struct sample *s, char *err,
                                size_t err_size) {
    struct json *j = vlkv_json_parse(line, len, err, err_size);
    if (!j) return err;
    const char *msg = NULL;
    if (j->type != JSON_OBJ) {
        msg = "not a JSON object";
        goto out;
    }
    for (const struct json *m = j->child; m; m = m->next) {
        int ok = 0;
        for (int k = 0; known_fields[k]; k++) ok |= !strcmp(m->key, known_fields[k]);
        if (!ok) {
            snprintf(err, err_size, "unknown field '%s' (known: id prompt image images answer reference type "
                     "description annotations)", m->key);
            msg = err;
            goto out;
        }
    }
    const struct json *p = vlkv_json_get(j, "prompt");
    if (!p || p->type != JSON_STR || !p->str[0]) {
        msg = "missing or empty \"prompt\"";
        goto out;
    }
    s->prompt = dupstr(p->str);
    const struct json *id = vlkv_json_get(j, "id");
    if (id) {
        char buf[64];
        if (id->type == JSON_STR) s->id = dupstr(id->str);
        else if (id->type == JSON_NUM) {
            snprintf(buf, sizeof buf, "%.0f", id->num);
            s->id = dupstr(buf);
        }
    }
    const struct json *img = vlkv_json_get(j, "image"), *imgs = vlkv_json_get(j, "images");
    if (img) {
        if (img->type != JSON_STR || !img->str[0]) {
            msg = "\"image\" must be a non-empty string";
            goto out;
        }
        s->images[s->n_images++] = join_dir(data_path, img->str);
    }
    if (imgs) {
        if (imgs->type != JSON_ARR) {
            msg = "\"images\" must be an array of strings";
            goto out;
        }
        for (const struct json *e = imgs->child; e; e = e->next) {
            if (e->type != JSON_STR || s->n_images >= CLI_MAX_IMAGES) {
                msg = "\"images\" must be an array of at most 16 strings";
                goto out;
            }
            s->images[s->n_images++] = join_dir(data_path, e->str);
        }
    }
    for (int i = 0; i < s->n_images; i++) {
        FILE *f = fopen(s->images[i], "rb");
        if (!f) {
            snprintf(err, err_size, "image '%s': %s", s->images[i], strerror(errno));
            msg = err;
            goto out;
        }
        fclose(f);
    }
    const struct json *a = vlkv_json_get(j, "answer"), *r = vlkv_json_get(j, "reference"),
                      *t = vlkv_json_get(j, "type");
    if (a && a->type == JSON_STR) s->answer = dupstr(a->str);
    if (r && r->type == JSON_STR) s->reference = dupstr(r->str);
    else {   /* a ground-truth description serves as the user reference for ROUGE-L */
        const struct json *d = vlkv_json_get(j, "description");
        if (d && d->type == JSON_STR) s->reference = dupstr(d->str);
    }
    if (t && t->type == JSON_STR) s->type = dupstr(t->str);
out:
    vlkv_json_free(j);
    return msg;
}

static int load_samples(const struct eval_opts *o, const char *path, int limit, struct sample **out, int *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "vlkv eval: cannot open data file '%s': %s\n", path, strerror(errno));
        return -1;
    }
    struct sample *v = NULL;
    int n = 0, cap = 0, lineno = 0, bad = 0;
    char *line = NULL;
    size_t lcap = 0;
    int rc = 0;
    for (;;) {
        /* portable getline: read until '\n' */
        size_t len = 0;
        int c;
        while ((c = fgetc(f)) != EOF) {
            if (len + 2 > lcap) {
                size_t nc = lcap ? lcap * 2 : 4096;
                char *nl = realloc(line, nc);
                if (!nl) {
                    rc = -1;
                    goto done;
                }
                line = nl;
                lcap = nc;
            }
            if (c == '\n') break;
            line[len++] = (char)c;
        }
        if (c == EOF && len == 0) break;
        lineno++;
        line[len] = '\0';
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
        if (k == len) continue;   /* blank line */
        if (limit > 0 && n >= limit) break;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct sample *nv = realloc(v, sizeof *v * (size_t)cap);
            if (!nv) {
                rc = -1;
                goto done;
            }
            v = nv;
        }
        struct sample *s = &v[n];
        memset(s, 0, sizeof *s);
        s->line = lineno;
        char err[256];
        const char *msg = parse_sample(line, len, path, s, err, sizeof err);
        if (msg) {
            fprintf(stderr, "vlkv eval: %s:%d: %s\n", path, lineno, msg);
            sample_free(s);
            bad++;
            if (o->stop_on_error) {
                rc = -1;
                goto done;
            }
            continue;
        }
        n++;
    }
    if (bad) fprintf(stderr, "vlkv eval: skipped %d bad line%s of %s\n", bad, bad > 1 ? "s" : "", path);
    if (n == 0) {
        fprintf(stderr, "vlkv eval: no usable samples in %s\n", path);
        rc = -1;
    }
done:
    free(line);
    fclose(f);
    if (rc) {
        samples_free(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* ---- running one sample ---------------------------------------------------------------- */

static double now_ms(void) { return vlkv_time_ms(); }

/* prompt + compression; images loaded per call (cheap next to the forward) */
static vlkv_status eval_prompt(vlkv_context *ctx, const struct sample *s) {
    vlkv_image *imgs[CLI_MAX_IMAGES] = {0};
    vlkv_status st = VLKV_OK;
    for (int i = 0; i < s->n_images && st == VLKV_OK; i++) st = vlkv_image_load_file(s->images[i], &imgs[i]);
    if (st == VLKV_OK) st = vlkv_prompt_eval(ctx, s->prompt, imgs, s->n_images);
    for (int i = 0; i < s->n_images; i++) vlkv_image_free(imgs[i]);
    if (st == VLKV_OK) st = vlkv_kv_compress(ctx);
    return st;
}

/* greedy generation into toks (up to max_new, EOS included when produced) and text */
static vlkv_status generate(vlkv_context *ctx, const vlkv_model *m, int max_new, int32_t *toks, int32_t *n_toks,
                            char **text) {
    const int32_t n_vocab = vlkv_model_n_vocab(m), eos = vlkv_token_eos(m);
    size_t cap = 256, len = 0;
    char *t = malloc(cap);
    if (!t) return vlkv_error(VLKV_ERR_OOM, "eval: out of memory");
    t[0] = '\0';
    int32_t n = 0;
    vlkv_status st = VLKV_OK;
    while (n < max_new) {
        const float *lg = vlkv_get_logits(ctx);
        int32_t best = 0;
        for (int32_t i = 1; i < n_vocab; i++)
            if (lg[i] > lg[best]) best = i;
        toks[n++] = best;
        if (best == eos) break;
        char piece[128];
        int32_t np = vlkv_token_to_piece(m, best, piece, sizeof piece);
        if (np > 0) {
            if (len + (size_t)np + 1 > cap) {
                while (len + (size_t)np + 1 > cap) cap *= 2;
                char *nt = realloc(t, cap);
                if (!nt) {
                    free(t);
                    return vlkv_error(VLKV_ERR_OOM, "eval: out of memory");
                }
                t = nt;
            }
            memcpy(t + len, piece, (size_t)np);
            len += (size_t)np;
            t[len] = '\0';
        }
        if (n == max_new) break;
        st = vlkv_decode(ctx, best);
        if (st == VLKV_ERR_CONTEXT_FULL) {
            st = VLKV_OK;
            break;
        }
        if (st != VLKV_OK) break;
    }
    *n_toks = n;
    *text = t;
    return st;
}

/* teacher-forced NLL of toks[0..n) after the compressed prompt */
static vlkv_status teacher_force(vlkv_context *ctx, const vlkv_model *m, const int32_t *toks, int32_t n,
                                 double *nll, long *count) {
    const int32_t n_vocab = vlkv_model_n_vocab(m);
    for (int32_t i = 0; i < n; i++) {
        *nll += vlkv_nll(vlkv_get_logits(ctx), n_vocab, toks[i]);
        (*count)++;
        if (i + 1 == n) break;
        vlkv_status st = vlkv_decode(ctx, toks[i]);
        if (st == VLKV_ERR_CONTEXT_FULL) return VLKV_OK;
        if (st != VLKV_OK) return st;
    }
    return VLKV_OK;
}

/* ---- reference cache ---------------------------------------------------------------------- */

static uint64_t fnv1a_bytes(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* a string and a terminator byte, so "ab"+"c" and "a"+"bc" hash differently */
static uint64_t fnv1a(uint64_t h, const char *s) {
    static const unsigned char end = 0xff;
    if (s) h = fnv1a_bytes(h, (const unsigned char *)s, strlen(s));
    return fnv1a_bytes(h, &end, 1);
}

/* Fingerprint of a file's contents without reading all of it (a 7B GGUF is gigabytes): its
 * size, modification time and the first and last 64 KiB. Retrained weights written to the same
 * path change at least the time and the tail (tensor data), so cached references from the old
 * weights are not reused. A missing file hashes its name only. */
static uint64_t file_fingerprint(uint64_t h, const char *path) {
    h = fnv1a(h, path);
    struct stat st;
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return h;
    if (fstat(fileno(f), &st) == 0) {
        const int64_t meta[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
        h = fnv1a_bytes(h, (const unsigned char *)meta, sizeof meta);
    }
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    h = fnv1a_bytes(h, buf, n);
    if (fseek(f, -(long)sizeof buf, SEEK_END) == 0) {
        n = fread(buf, 1, sizeof buf, f);
        h = fnv1a_bytes(h, buf, n);
    }
    fclose(f);
    return h;
}

/* Key of a sample's full-cache reference: the model and mmproj contents (files_fp, fingerprinted
 * once by sample_keys), the prompt, the images' contents and the generation limit. */
static uint64_t sample_key(const struct eval_opts *o, uint64_t files_fp, const struct sample *s) {
    uint64_t h = files_fp;
    char buf[32];
    h = fnv1a(h, s->prompt);
    for (int i = 0; i < s->n_images; i++) h = file_fingerprint(h, s->images[i]);
    snprintf(buf, sizeof buf, "%d", o->max_new);
    return fnv1a(h, buf);
}

static void sample_keys(const struct eval_opts *o, struct sample *v, int n) {
    uint64_t fp = file_fingerprint(1469598103934665603ULL, o->c.model);
    fp = file_fingerprint(fp, o->c.mmproj);
    for (int i = 0; i < n; i++) v[i].key = sample_key(o, fp, &v[i]);
}

/* Load cached references: lines {"key":"hex","tokens":[...],"text":"..."} */
static void ref_cache_load(const struct eval_opts *o, struct sample *v, int n) {
    FILE *f = o->ref_cache ? fopen(o->ref_cache, "rb") : NULL;
    if (!f) return;
    char *line = NULL;
    size_t cap = 0, len = 0;
    int c, hits = 0;
    for (;;) {
        len = 0;
        while ((c = fgetc(f)) != EOF && c != '\n') {
            if (len + 2 > cap) {
                cap = cap ? cap * 2 : 4096;
                char *nl = realloc(line, cap);
                if (!nl) goto done;
                line = nl;
            }
            line[len++] = (char)c;
        }
        if (len == 0 && c == EOF) break;
        if (len == 0) continue;
        struct json *j = vlkv_json_parse(line, len, NULL, 0);
        const struct json *k = vlkv_json_get(j, "key"), *t = vlkv_json_get(j, "tokens"),
                          *x = vlkv_json_get(j, "text");
        if (k && k->type == JSON_STR && t && t->type == JSON_ARR && x && x->type == JSON_STR) {
            uint64_t key = strtoull(k->str, NULL, 16);
            for (int i = 0; i < n; i++) {
                if (v[i].ref_toks || v[i].key != key) continue;
                v[i].ref_toks = malloc(sizeof(int32_t) * (t->n ? t->n : 1));
                if (!v[i].ref_toks) break;
                int32_t m = 0;
                for (const struct json *e = t->child; e; e = e->next) v[i].ref_toks[m++] = (int32_t)e->num;
                v[i].n_ref = m;
                v[i].ref_text = dupstr(x->str);
                hits++;
            }
        }
        vlkv_json_free(j);
        if (c == EOF) break;
    }
done:
    free(line);
    fclose(f);
    if (hits) fprintf(stderr, "eval: %d reference%s from %s\n", hits, hits > 1 ? "s" : "", o->ref_cache);
}

static void ref_cache_append(const struct eval_opts *o, const struct sample *s) {
    FILE *f = o->ref_cache ? fopen(o->ref_cache, "ab") : NULL;
    if (!f) return;
    fprintf(f, "{\"key\":\"%016llx\",\"tokens\":[", (unsigned long long)s->key);
    for (int32_t i = 0; i < s->n_ref; i++) fprintf(f, "%s%d", i ? "," : "", s->ref_toks[i]);
    size_t need = vlkv_json_escape(s->ref_text, NULL, 0) + 1;
    char *lit = malloc(need);
    if (lit) {
        vlkv_json_escape(s->ref_text, lit, need);
        fprintf(f, "],\"text\":%s}\n", lit);
        free(lit);
    } else {
        fprintf(f, "],\"text\":\"\"}\n");
    }
    fclose(f);
}

/* ---- progress ------------------------------------------------------------------------------ */

static void progress(const char *what, int done, int total, double t0) {
    static int tty = -1;
    if (tty < 0) tty = isatty(2);
    if (!tty && done != total) return;   /* logs and pipes: one line per finished pass */
    double el = (now_ms() - t0) / 1e3;
    double eta = done > 0 ? el / done * (total - done) : 0;
    int w = 30, fill = total ? w * done / total : w;
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = '\0';
    fprintf(stderr, "\r%-28s [%s] %d/%d  %.0fs elapsed, %.0fs left ", what, bar, done, total, el, eta);
    if (done == total) fprintf(stderr, "\n");
    fflush(stderr);
}

/* ---- main ---------------------------------------------------------------------------------- */

static int parse_list(const char *flag, const char *v, struct eval_opts *o, int budgets) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if ((budgets ? o->n_budgets : o->n_policies) >= MAX_LIST) {
            fprintf(stderr, "vlkv eval: %s: at most %d entries\n", flag, MAX_LIST);
            return -1;
        }
        if (budgets) {
            float b;
            if (cli_parse_float(flag, tok, 1e-6, 1.0, &b)) return -1;
            o->budgets[o->n_budgets++] = b;
        } else {
            if (!vlkv_kv_policy_help(tok)) {
                fprintf(stderr, "vlkv eval: %s: unknown KV policy '%s'; known:", flag, tok);
                for (int32_t k = 0; k < vlkv_kv_policy_count(); k++) fprintf(stderr, " %s", vlkv_kv_policy_name(k));
                fprintf(stderr, "\n");
                return -1;
            }
            /* keep the registry's static name: strtok's buffer is local */
            for (int32_t k = 0; k < vlkv_kv_policy_count(); k++)
                if (!strcmp(vlkv_kv_policy_name(k), tok)) o->policies[o->n_policies++] = vlkv_kv_policy_name(k);
        }
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: vlkv eval -m MODEL.gguf [--mmproj MMPROJ.gguf] --data FILE.jsonl [options]\n"
            "  --data FILE          JSONL: {\"prompt\", \"image\"|\"images\", \"answer\", \"reference\", \"type\", \"id\"}\n"
            "  --policies A,B,...   default: full,streaming,h2o,snapkv,pyramidkv,prefixkv,elastic,vlcache\n"
            "  --budgets F,F,...    retained fractions, default 0.05,0.1,0.2,0.3,0.5,0.7,0.9\n"
            "  -n N                 max new tokens per generation (default 256)\n"
            "  --limit N            use the first N samples\n"
            "  --out FILE           results JSONL (default: stdout gets the markdown only)\n"
            "  --md FILE            markdown table (default: stdout)\n"
            "  --ref-cache FILE     cache of full-cache references (default: DATA.refs.jsonl)\n"
            "  --on-error skip|stop bad data lines: report and skip (default) or stop\n"
            "  --calib FILE         calibrate PrefixKV first on these samples (same JSONL format, disjoint\n"
            "                       from --data) for the evaluated budgets; prefixkv runs then use the\n"
            "                       per-layer ratios found (printed with the results). Without it, prefixkv\n"
            "                       uses --kv-config if given, else its online search on each prompt\n"
            "  --calib-n N          calibration samples to use (default 16)\n"
            "  --calib-out FILE     where the calibration is written (default OUT.prefixkv.json or\n"
            "                       DATA.prefixkv.json)\n"
            "plus the common flags (-t, -c, --kv-opt, --kv-config, --kv-pos, ...); --kv-opt applies to\n"
            "every evaluated policy except the full-cache reference, --kv-config to prefixkv only:\n%s",
            cli_common_help());
}

int cmd_eval(int argc, char **argv) {
    struct eval_opts o;
    memset(&o, 0, sizeof o);
    cli_common_init(&o.c);
    o.max_new = 256;
    o.calib_n = 16;
    char ref_default[1024] = "", calib_default[1024] = "";
    for (int i = 1; i < argc;) {
        int r = cli_common_arg(&o.c, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vlkv eval: unknown option or missing value: '%s'\n", a);
            return 2;
        }
        const char *v = argv[i + 1];
        i += 2;
        if (!strcmp(a, "--data")) o.data = v;
        else if (!strcmp(a, "--out")) o.out = v;
        else if (!strcmp(a, "--md")) o.md = v;
        else if (!strcmp(a, "--ref-cache")) o.ref_cache = v;
        else if (!strcmp(a, "--calib")) o.calib = v;
        else if (!strcmp(a, "--calib-out")) o.calib_out = v;
        else if (!strcmp(a, "--calib-n")) {
            if (cli_parse_int(a, v, 1, 4096, &o.calib_n)) return 2;
        }
        else if (!strcmp(a, "--policies")) {
            if (parse_list(a, v, &o, 0)) return 2;
        } else if (!strcmp(a, "--budgets")) {
            if (parse_list(a, v, &o, 1)) return 2;
        } else if (!strcmp(a, "--limit")) {
            if (cli_parse_int(a, v, 1, 1 << 30, &o.limit)) return 2;
        } else if (!strcmp(a, "--on-error")) {
            if (!strcmp(v, "stop")) o.stop_on_error = 1;
            else if (!strcmp(v, "skip")) o.stop_on_error = 0;
            else {
                fprintf(stderr, "vlkv eval: --on-error: expected skip or stop, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "vlkv eval: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    /* -n is a common flag; reuse it as max new tokens */
    if (o.c.n_predict > 0) o.max_new = o.c.n_predict;
    cli_log_to_stderr(o.c.verbosity);
    if (!o.c.model || !o.data) {
        fprintf(stderr, "vlkv eval: -m MODEL and --data FILE are required\n");
        usage(stderr);
        return 2;
    }
    if (o.n_policies == 0 && parse_list("--policies", "full,streaming,h2o,snapkv,pyramidkv,prefixkv,elastic,vlcache",
                                        &o, 0))
        return 2;
    if (o.n_budgets == 0) parse_list("--budgets", "0.05,0.1,0.2,0.3,0.5,0.7,0.9", &o, 1);
    if (!o.ref_cache) {
        snprintf(ref_default, sizeof ref_default, "%s.refs.jsonl", o.data);
        o.ref_cache = ref_default;
    }

    if (o.calib && !strcmp(o.calib, o.data)) {
        fprintf(stderr, "vlkv eval: --calib must name samples disjoint from --data (same file given)\n");
        return 2;
    }
    if (!o.calib_out) {
        snprintf(calib_default, sizeof calib_default, "%s.prefixkv.json", o.out ? o.out : o.data);
        o.calib_out = calib_default;
    }

    struct sample *sv = NULL, *cv = NULL;
    int n_s = 0, n_c = 0;
    if (load_samples(&o, o.data, o.limit, &sv, &n_s)) return 1;
    if (o.calib && load_samples(&o, o.calib, o.calib_n, &cv, &n_c)) {
        samples_free(sv, n_s);
        return 1;
    }
    for (int i = 0; i < n_c; i++)   /* disjointness: no (prompt, images) pair in both sets */
        for (int k = 0; k < n_s; k++)
            if (same_input(&cv[i], &sv[k])) {
                fprintf(stderr, "vlkv eval: %s:%d is also in %s (line %d): calibration samples must be disjoint "
                                "from the evaluated ones\n", o.calib, cv[i].line, o.data, sv[k].line);
                samples_free(cv, n_c);
                samples_free(sv, n_s);
                return 1;
            }

    int rc = 1;
    vlkv_model *model = NULL;
    vlkv_context *ctx = NULL;
    int32_t *gen = NULL;
    FILE *out = NULL, *md = NULL;
    char *types[MAX_TYPES];
    int n_types = 0;
    struct agg ag;
    memset(&ag, 0, sizeof ag);
    const char *prefix_config = o.c.cp.kv_config_path;
    struct vlkv_kv_calib cal = {0};
    int have_cal = 0;

    if (vlkv_model_load(o.c.model, &o.c.mp, &model) != VLKV_OK) {
        fprintf(stderr, "vlkv eval: %s\n", vlkv_last_error());
        goto done;
    }
    const int32_t n_layer = vlkv_model_n_layer(model);
    ag.layer_frac = calloc((size_t)n_layer, sizeof(double));
    gen = malloc(sizeof(int32_t) * (size_t)(o.max_new + 1));
    if (!ag.layer_frac || !gen) goto done;
    for (int i = 0; i < n_s; i++) {
        if (!sv[i].type) continue;
        int k = 0;
        while (k < n_types && strcmp(types[k], sv[i].type)) k++;
        if (k == n_types && n_types < MAX_TYPES) types[n_types++] = sv[i].type;
    }

    /* 1. full-cache greedy references */
    sample_keys(&o, sv, n_s);
    ref_cache_load(&o, sv, n_s);
    {
        vlkv_context_params cp = o.c.cp;
        cp.kv_policy = "full";
        cp.kv_budget = 1.0f;
        cp.kv_budget_tokens = 0;
        cp.kv_opts = NULL;   /* --kv-opt is for the evaluated policies */
        cp.kv_config_path = NULL;
        if (vlkv_context_init(model, &cp, &ctx) != VLKV_OK) {
            fprintf(stderr, "vlkv eval: %s\n", vlkv_last_error());
            goto done;
        }
        int todo = 0, done_n = 0;
        for (int i = 0; i < n_s; i++) todo += sv[i].ref_toks == NULL;
        double t0 = now_ms();
        for (int i = 0; i < n_s; i++) {
            struct sample *s = &sv[i];
            if (s->ref_toks) continue;
            vlkv_context_reset(ctx);
            vlkv_status st = eval_prompt(ctx, s);
            int32_t n = 0;
            char *text = NULL;
            if (st == VLKV_OK) st = generate(ctx, model, o.max_new, gen, &n, &text);
            if (st != VLKV_OK) {
                fprintf(stderr, "\nvlkv eval: %s:%d: %s\n", o.data, s->line, vlkv_last_error());
                free(text);
                goto done;
            }
            s->ref_toks = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
            if (!s->ref_toks) goto done;
            memcpy(s->ref_toks, gen, sizeof(int32_t) * (size_t)n);
            s->n_ref = n;
            s->ref_text = text;
            ref_cache_append(&o, s);
            progress("full-cache references", ++done_n, todo, t0);
        }
        vlkv_context_free(ctx);
        ctx = NULL;
    }

    /* 1b. PrefixKV calibration on the disjoint set, for the evaluated budgets */
    int want_prefix = 0;
    for (int pi = 0; pi < o.n_policies; pi++) want_prefix |= !strcmp(o.policies[pi], "prefixkv");
    if (o.calib && want_prefix) {
        double cb[MAX_LIST];
        int nb = 0;
        for (int bi = 0; bi < o.n_budgets; bi++)
            if (o.budgets[bi] < 1.0f) cb[nb++] = o.budgets[bi];
        struct vlkv_calib_prompt *pr = calloc((size_t)n_c, sizeof *pr);
        if (!pr) goto done;
        for (int i = 0; i < n_c; i++)
            pr[i] = (struct vlkv_calib_prompt){cv[i].prompt, (const char *const *)cv[i].images, cv[i].n_images};
        vlkv_context_params cp = o.c.cp;
        cp.kv_config_path = NULL;
        double t0 = now_ms();
        vlkv_status st = nb ? vlkv_kv_calibrate(model, &cp, pr, n_c, cb, nb, o.calib_out, NULL, NULL) : VLKV_OK;
        free(pr);
        if (st != VLKV_OK) {
            fprintf(stderr, "vlkv eval: PrefixKV calibration: %s\n", vlkv_last_error());
            goto done;
        }
        if (nb) {
            fprintf(stderr, "eval: PrefixKV calibrated on %d samples of %s in %.1f s -> %s\n", n_c, o.calib,
                    (now_ms() - t0) / 1e3, o.calib_out);
            prefix_config = o.calib_out;
        }
    }
    if (want_prefix && prefix_config) {
        if (vlkv_kv_calib_read(prefix_config, &cal) != VLKV_OK) {
            fprintf(stderr, "vlkv eval: %s\n", vlkv_last_error());
            goto done;
        }
        have_cal = 1;
    }

    if (o.out && !(out = fopen(o.out, "wb"))) {
        fprintf(stderr, "vlkv eval: cannot write %s: %s\n", o.out, strerror(errno));
        goto done;
    }
    if (o.md && !(md = fopen(o.md, "wb"))) {
        fprintf(stderr, "vlkv eval: cannot write %s: %s\n", o.md, strerror(errno));
        goto done;
    }
    FILE *mdf = md ? md : stdout;
    fprintf(mdf, "| policy | budget | PPL | ROUGE-L | accuracy | KV held | KV full | prefill ms | decode tok/s |\n");
    fprintf(mdf, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(mdf);

    /* 2. every policy x budget ("full" once, at 1.0) */
    for (int pi = 0; pi < o.n_policies; pi++) {
        int is_full = !strcmp(o.policies[pi], "full");
        for (int bi = 0; bi < (is_full ? 1 : o.n_budgets); bi++) {
            float budget = is_full ? 1.0f : o.budgets[bi];
            vlkv_context_params cp = o.c.cp;
            cp.kv_policy = o.policies[pi];
            cp.kv_budget = budget;
            cp.kv_budget_tokens = 0;
            const int is_prefix = !strcmp(o.policies[pi], "prefixkv");
            cp.kv_config_path = is_prefix ? prefix_config : NULL;
            if (is_full) cp.kv_opts = NULL;
            if (vlkv_context_init(model, &cp, &ctx) != VLKV_OK) {
                fprintf(stderr, "vlkv eval: %s\n", vlkv_last_error());
                goto done;
            }
            double *lf = ag.layer_frac;
            memset(&ag, 0, sizeof ag);
            ag.layer_frac = lf;
            memset(lf, 0, sizeof(double) * (size_t)n_layer);
            char what[64];
            snprintf(what, sizeof what, "%s @ %.2f", o.policies[pi], budget);
            double t0 = now_ms();
            for (int i = 0; i < n_s; i++) {
                struct sample *s = &sv[i];
                /* a. generation */
                vlkv_context_reset(ctx);
                vlkv_timings_reset(ctx);
                vlkv_status st = eval_prompt(ctx, s);
                vlkv_kv_stats ks;
                if (st == VLKV_OK && vlkv_kv_get_stats(ctx, &ks) == VLKV_OK && ks.n_prompt > 0)
                    for (int32_t l = 0; l < n_layer && l < ks.n_layer; l++)
                        lf[l] += (double)ks.len[l] / ks.n_prompt;
                int32_t n = 0;
                char *text = NULL;
                if (st == VLKV_OK) st = generate(ctx, model, o.max_new, gen, &n, &text);
                if (st != VLKV_OK) {
                    fprintf(stderr, "\nvlkv eval: %s:%d: %s\n", o.data, s->line, vlkv_last_error());
                    free(text);
                    goto done;
                }
                vlkv_timings tm = vlkv_get_timings(ctx);
                ag.prefill_ms += tm.prefill_ms + tm.vision_ms + tm.projector_ms + tm.preprocess_ms;
                ag.decode_ms += tm.decode_ms;
                ag.n_decode += tm.n_decode;
                if (vlkv_kv_get_stats(ctx, &ks) == VLKV_OK) {
                    ag.kv_used += (double)ks.bytes_used;
                    ag.kv_full += (double)ks.bytes_full;
                }
                ag.rouge_sum += vlkv_rouge_l_f1(text, s->ref_text);
                if (s->reference) {
                    ag.rouge_user_sum += vlkv_rouge_l_f1(text, s->reference);
                    ag.n_rouge_user++;
                }
                if (s->answer) {
                    char a1[256], a2[256];
                    vlkv_normalize_answer(text, a1, sizeof a1);
                    vlkv_normalize_answer(s->answer, a2, sizeof a2);
                    int ok = !strcmp(a1, a2);
                    ag.n_answers++;
                    ag.n_correct += ok;
                    for (int k = 0; k < n_types; k++)
                        if (s->type && !strcmp(types[k], s->type)) {
                            ag.type_n[k]++;
                            ag.type_ok[k] += ok;
                        }
                }
                free(text);
                /* b. teacher-forced PPL of the reference */
                vlkv_context_reset(ctx);
                st = eval_prompt(ctx, s);
                if (st == VLKV_OK) st = teacher_force(ctx, model, s->ref_toks, s->n_ref, &ag.nll_sum, &ag.n_tok);
                if (st != VLKV_OK) {
                    fprintf(stderr, "\nvlkv eval: %s:%d: %s\n", o.data, s->line, vlkv_last_error());
                    goto done;
                }
                ag.n_samples++;
                progress(what, i + 1, n_s, t0);
            }
            vlkv_context_free(ctx);
            ctx = NULL;

            double ppl = ag.n_tok ? exp(ag.nll_sum / ag.n_tok) : NAN;
            double rouge = ag.n_samples ? ag.rouge_sum / ag.n_samples : NAN;
            double acc = ag.n_answers ? (double)ag.n_correct / ag.n_answers : NAN;
            double tps = ag.decode_ms > 0 ? 1e3 * ag.n_decode / ag.decode_ms : 0;
            char accs[32] = "-";
            if (ag.n_answers) snprintf(accs, sizeof accs, "%.3f", acc);
            fprintf(mdf, "| %s | %.2f | %.4f | %.4f | %s | %.1f KiB | %.1f KiB | %.1f | %.1f |\n", o.policies[pi],
                    budget, ppl, rouge, accs, ag.kv_used / ag.n_samples / 1024, ag.kv_full / ag.n_samples / 1024,
                    ag.prefill_ms / ag.n_samples, tps);
            fflush(mdf);
            if (out) {
                fprintf(out, "{\"policy\":\"%s\",\"budget\":%.4f,\"n_samples\":%d,\"n_tokens\":%ld,\"ppl\":%.6f,"
                             "\"rouge_l\":%.6f,",
                        o.policies[pi], budget, ag.n_samples, ag.n_tok, ppl, rouge);
                if (ag.n_rouge_user) fprintf(out, "\"rouge_l_user_ref\":%.6f,", ag.rouge_user_sum / ag.n_rouge_user);
                if (ag.n_answers) {
                    fprintf(out, "\"accuracy\":%.6f,\"n_answers\":%d,\"accuracy_by_type\":{", acc, ag.n_answers);
                    int first = 1;
                    for (int k = 0; k < n_types; k++) {
                        if (!ag.type_n[k]) continue;
                        fprintf(out, "%s\"%s\":%.6f", first ? "" : ",", types[k], (double)ag.type_ok[k] / ag.type_n[k]);
                        first = 0;
                    }
                    fprintf(out, "},");
                }
                fprintf(out, "\"kv_bytes\":%.1f,\"kv_bytes_full\":%.1f,\"kv_fraction\":%.6f,\"prefill_ms\":%.3f,"
                             "\"decode_tps\":%.3f,\"layer_retained\":[",
                        ag.kv_used / ag.n_samples, ag.kv_full / ag.n_samples,
                        ag.kv_full > 0 ? ag.kv_used / ag.kv_full : 1.0, ag.prefill_ms / ag.n_samples, tps);
                for (int32_t l = 0; l < n_layer; l++)
                    fprintf(out, "%s%.4f", l ? "," : "", ag.n_samples ? lf[l] / ag.n_samples : 0.0);
                fprintf(out, "]");
                if (is_prefix) {
                    float rho[512];
                    if (have_cal && n_layer <= 512 &&
                        vlkv_kv_calib_lookup(&cal, prefix_config, n_layer, budget, rho) == VLKV_OK) {
                        fprintf(out, ",\"prefixkv_source\":\"calibration\",\"prefixkv_ratios\":[");
                        for (int32_t l = 0; l < n_layer; l++) fprintf(out, "%s%.4f", l ? "," : "", rho[l]);
                        fprintf(out, "]");
                    } else {
                        fprintf(out, ",\"prefixkv_source\":\"online search\"");
                    }
                }
                fprintf(out, "}\n");
                fflush(out);
            }
        }
    }
    if (have_cal) {
        fprintf(mdf, "\nPrefixKV per-layer retained ratios used (%s, %d calibration samples):\n\n| budget |", prefix_config,
                cal.n_samples);
        for (int32_t l = 0; l < cal.n_layer; l++) fprintf(mdf, " L%d |", l);
        fprintf(mdf, "\n|---:|");
        for (int32_t l = 0; l < cal.n_layer; l++) fprintf(mdf, "---:|");
        fprintf(mdf, "\n");
        for (int32_t k = 0; k < cal.n_configs; k++) {
            fprintf(mdf, "| %.2f |", cal.budget[k]);
            for (int32_t l = 0; l < cal.n_layer; l++) fprintf(mdf, " %.3f |", cal.retained[(size_t)k * cal.n_layer + l]);
            fprintf(mdf, "\n");
        }
    }
    rc = 0;
done:
    if (have_cal) vlkv_kv_calib_free(&cal);
    samples_free(cv, n_c);
    if (out) fclose(out);
    if (md) fclose(md);
    free(gen);
    free(ag.layer_frac);
    vlkv_context_free(ctx);
    vlkv_model_free(model);
    samples_free(sv, n_s);
    return rc;
}
