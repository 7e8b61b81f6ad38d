/* kv_calib.c - read / write / look up PrefixKV calibration files and average profile lines
 * (kv_calib.h). JSON parsing goes through the strict reader of json.h. */
#include "kv_calib.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

static char *slurp(const char *path, size_t *len, vlkv_status *st) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = vlkv_error(VLKV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            if (cap > ((size_t)64 << 20)) { free(buf); buf = NULL; break; }   /* 64 MB is not a calibration */
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    const int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        *st = vlkv_error(err ? VLKV_ERR_IO : VLKV_ERR_FORMAT, "%s: %s", path, err ? "read error" : "file too large");
        return NULL;
    }
    *len = n;
    return buf;
}

void vlkv_kv_calib_free(struct vlkv_kv_calib *c) {
    if (!c) return;
    free(c->retained);
    memset(c, 0, sizeof *c);
}

/* numbers array -> floats in (0, 1]; returns 0 on error */
static int read_fracs(const struct json *a, int32_t n, float *out) {
    if (!a || a->type != JSON_ARR || (int32_t)a->n != n) return 0;
    int32_t i = 0;
    for (const struct json *e = a->child; e; e = e->next, i++) {
        if (e->type != JSON_NUM || !(e->num >= 0.0 && e->num <= 1.0)) return 0;
        out[i] = (float)e->num;
    }
    return 1;
}

vlkv_status vlkv_kv_calib_read(const char *path, struct vlkv_kv_calib *out) {
    vlkv_status st = VLKV_OK;
    size_t len = 0;
    char err[160];
    struct json *j = NULL;
    memset(out, 0, sizeof *out);
    char *text = slurp(path, &len, &st);
    if (!text) return st;
    j = vlkv_json_parse(text, len, err, sizeof err);
    VLKV_CHECK(j, VLKV_ERR_FORMAT, "%s: not a PrefixKV calibration file: %s", path, err);
    VLKV_CHECK(j->type == JSON_OBJ, VLKV_ERR_FORMAT, "%s: expected a JSON object at the top", path);
    const struct json *fmt = vlkv_json_get(j, "format");
    VLKV_CHECK(fmt && fmt->type == JSON_STR && !strcmp(fmt->str, "vlkv-prefixkv"), VLKV_ERR_FORMAT,
               "%s: \"format\" must be \"vlkv-prefixkv\" (write it with `vlkv calibrate`)", path);
    const struct json *ver = vlkv_json_get(j, "version");
    VLKV_CHECK(ver && ver->type == JSON_NUM && ver->num == 1, VLKV_ERR_FORMAT, "%s: unsupported \"version\" (expected 1)", path);
    const struct json *nl = vlkv_json_get(j, "n_layer");
    VLKV_CHECK(nl && nl->type == JSON_NUM && nl->num >= 1 && nl->num <= 4096 && nl->num == floor(nl->num),
               VLKV_ERR_FORMAT, "%s: \"n_layer\" must be an integer in [1, 4096]", path);
    out->n_layer = (int32_t)nl->num;
    const struct json *ns = vlkv_json_get(j, "n_samples");
    if (ns && ns->type == JSON_NUM && ns->num >= 0 && ns->num < 1e9) out->n_samples = (int32_t)ns->num;
    const struct json *md = vlkv_json_get(j, "model");
    if (md && md->type == JSON_STR) snprintf(out->model, sizeof out->model, "%s", md->str);
    const struct json *cf = vlkv_json_get(j, "configs");
    VLKV_CHECK(cf && cf->type == JSON_ARR && cf->n >= 1 && cf->n <= VLKV_CALIB_MAX_CONFIGS, VLKV_ERR_FORMAT,
               "%s: \"configs\" must be an array of 1..%d objects", path, VLKV_CALIB_MAX_CONFIGS);
    out->n_configs = (int32_t)cf->n;
    out->retained = calloc((size_t)out->n_configs * (size_t)out->n_layer, sizeof(float));
    VLKV_CHECK(out->retained, VLKV_ERR_OOM, "%s: out of memory", path);
    int32_t i = 0;
    for (const struct json *e = cf->child; e; e = e->next, i++) {
        const struct json *b = vlkv_json_get(e, "budget");
        VLKV_CHECK(b && b->type == JSON_NUM && b->num > 0 && b->num <= 1, VLKV_ERR_FORMAT,
                   "%s: configs[%d].budget must be a retained fraction in (0, 1]", path, i);
        out->budget[i] = b->num;
        for (int32_t k = 0; k < i; k++)
            VLKV_CHECK(fabs(out->budget[k] - b->num) > 1e-6, VLKV_ERR_FORMAT, "%s: budget %g listed twice", path, b->num);
        VLKV_CHECK(read_fracs(vlkv_json_get(e, "retained"), out->n_layer, out->retained + (size_t)i * out->n_layer),
                   VLKV_ERR_FORMAT, "%s: configs[%d].retained must be %d numbers in [0, 1]", path, i, out->n_layer);
    }
    vlkv_json_free(j);
    free(text);
    return VLKV_OK;
fail:
    vlkv_json_free(j);
    free(text);
    vlkv_kv_calib_free(out);
    return st;
}

vlkv_status vlkv_kv_calib_write(const char *path, const struct vlkv_kv_calib *c) {
    FILE *f = fopen(path, "w");
    if (!f) return vlkv_error(VLKV_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    char model[600];
    vlkv_json_escape(c->model, model, sizeof model);
    fprintf(f, "{\"format\": \"vlkv-prefixkv\", \"version\": 1, \"model\": %s, \"n_layer\": %d, \"n_samples\": %d,\n"
               " \"configs\": [\n", model, c->n_layer, c->n_samples);
    for (int32_t i = 0; i < c->n_configs; i++) {
        fprintf(f, "  {\"budget\": %.6g, \"retained\": [", c->budget[i]);
        for (int32_t l = 0; l < c->n_layer; l++)
            fprintf(f, "%s%.6f", l ? ", " : "", (double)c->retained[(size_t)i * c->n_layer + l]);
        fprintf(f, "]}%s\n", i + 1 < c->n_configs ? "," : "");
    }
    fprintf(f, " ]}\n");
    if (fclose(f) != 0) return vlkv_error(VLKV_ERR_IO, "%s: write error", path);
    return VLKV_OK;
}

vlkv_status vlkv_kv_calib_lookup(const struct vlkv_kv_calib *c, const char *path, int32_t n_layer, double budget,
                                 float *rho) {
    if (c->n_layer != n_layer)
        return vlkv_error(VLKV_ERR_INVALID_ARG, "%s: calibrated for %d layers, the model has %d", path, c->n_layer,
                          n_layer);
    int32_t lo = -1, hi = -1;
    for (int32_t i = 0; i < c->n_configs; i++) {
        if (fabs(c->budget[i] - budget) <= 1e-4) {
            memcpy(rho, c->retained + (size_t)i * n_layer, (size_t)n_layer * sizeof *rho);
            return VLKV_OK;
        }
        if (c->budget[i] < budget && (lo < 0 || c->budget[i] > c->budget[lo])) lo = i;
        if (c->budget[i] > budget && (hi < 0 || c->budget[i] < c->budget[hi])) hi = i;
    }
    if (lo < 0 || hi < 0) {
        char list[512] = "";
        for (int32_t i = 0; i < c->n_configs; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%g", i ? ", " : "", c->budget[i]);
        }
        return vlkv_error(VLKV_ERR_INVALID_ARG, "%s: no configuration for budget %g (calibrated budgets: %s)", path,
                          budget, list);
    }
    const double t = (budget - c->budget[lo]) / (c->budget[hi] - c->budget[lo]);
    for (int32_t l = 0; l < n_layer; l++) {
        const double a = c->retained[(size_t)lo * n_layer + l], b = c->retained[(size_t)hi * n_layer + l];
        rho[l] = (float)(a + t * (b - a));
    }
    VLKV_LOG_WARN("%s: budget %g not calibrated; interpolating between %g and %g", path, budget, c->budget[lo],
                  c->budget[hi]);
    return VLKV_OK;
}

vlkv_status vlkv_kv_calib_from_profile(const char *profile_path, const char *model_desc, struct vlkv_kv_calib *out) {
    vlkv_status st = VLKV_OK;
    size_t len = 0;
    double *sum = NULL;
    int32_t *cnt = NULL;
    memset(out, 0, sizeof *out);
    char *text = slurp(profile_path, &len, &st);
    if (!text) return st;
    snprintf(out->model, sizeof out->model, "%s", model_desc ? model_desc : "");
    int32_t line_no = 0;
    for (char *s = text, *e; s < text + len; s = e + 1) {
        e = memchr(s, '\n', (size_t)(text + len - s));
        if (!e) e = text + len;
        line_no++;
        if (e == s) continue;
        char err[160];
        struct json *j = vlkv_json_parse(s, (size_t)(e - s), err, sizeof err);
        VLKV_CHECK(j, VLKV_ERR_FORMAT, "%s:%d: %s", profile_path, line_no, err);
        const struct json *b = vlkv_json_get(j, "budget"), *r = vlkv_json_get(j, "retained");
        if (!b || b->type != JSON_NUM || !r || r->type != JSON_ARR || r->n == 0 ||
            (out->n_layer && (int32_t)r->n != out->n_layer)) {
            vlkv_json_free(j);
            VLKV_CHECK(0, VLKV_ERR_FORMAT, "%s:%d: expected {\"budget\": b, \"retained\": [n_layer numbers]}",
                       profile_path, line_no);
        }
        if (!out->n_layer) {
            out->n_layer = (int32_t)r->n;
            sum = calloc((size_t)VLKV_CALIB_MAX_CONFIGS * (size_t)out->n_layer, sizeof *sum);
            cnt = calloc(VLKV_CALIB_MAX_CONFIGS, sizeof *cnt);
            if (!sum || !cnt) {
                vlkv_json_free(j);
                VLKV_CHECK(0, VLKV_ERR_OOM, "%s: out of memory", profile_path);
            }
        }
        int32_t k = 0;
        while (k < out->n_configs && fabs(out->budget[k] - b->num) > 1e-6) k++;
        if (k == out->n_configs) {
            if (k == VLKV_CALIB_MAX_CONFIGS) {
                vlkv_json_free(j);
                VLKV_CHECK(0, VLKV_ERR_FORMAT, "%s: more than %d budgets", profile_path, VLKV_CALIB_MAX_CONFIGS);
            }
            out->budget[out->n_configs++] = b->num;
        }
        int32_t l = 0;
        for (const struct json *x = r->child; x; x = x->next, l++) sum[(size_t)k * out->n_layer + l] += x->num;
        cnt[k]++;
        vlkv_json_free(j);
    }
    VLKV_CHECK(out->n_configs > 0, VLKV_ERR_FORMAT, "%s: no profile lines", profile_path);
    out->retained = calloc((size_t)out->n_configs * (size_t)out->n_layer, sizeof(float));
    VLKV_CHECK(out->retained, VLKV_ERR_OOM, "%s: out of memory", profile_path);
    for (int32_t k = 0; k < out->n_configs; k++) {
        for (int32_t l = 0; l < out->n_layer; l++)
            out->retained[(size_t)k * out->n_layer + l] = (float)(sum[(size_t)k * out->n_layer + l] / cnt[k]);
        out->n_samples = VLKV_MAX(out->n_samples, cnt[k]);
    }
    /* budgets ascending (simple insertion sort with rows) */
    for (int32_t a = 1; a < out->n_configs; a++)
        for (int32_t b2 = a; b2 > 0 && out->budget[b2] < out->budget[b2 - 1]; b2--) {
            double t = out->budget[b2]; out->budget[b2] = out->budget[b2 - 1]; out->budget[b2 - 1] = t;
            for (int32_t l = 0; l < out->n_layer; l++) {
                float *x = &out->retained[(size_t)b2 * out->n_layer + l], *y = x - out->n_layer;
                float u = *x; *x = *y; *y = u;
            }
        }
    free(sum);
    free(cnt);
    free(text);
    return VLKV_OK;
fail:
    free(sum);
    free(cnt);
    free(text);
    vlkv_kv_calib_free(out);
    return st;
}

/* ---- calibration through the public API -------------------------------------------------- */

static vlkv_status eval_prompt(vlkv_model *model, vlkv_context *ctx, const struct vlkv_calib_prompt *pr) {
    vlkv_status st = VLKV_OK;
    vlkv_image *imgs[16] = {0};
    int32_t *toks = NULL;
    const int32_t n_img = vlkv_model_has_vision(model) ? pr->n_images : 0;
    VLKV_CHECK(n_img <= 16, VLKV_ERR_INVALID_ARG, "calibrate: at most 16 images per prompt");
    for (int32_t i = 0; i < n_img; i++) VLKV_TRY(vlkv_image_load_file(pr->images[i], &imgs[i]));
    if (vlkv_model_has_vision(model)) {
        VLKV_TRY(vlkv_prompt_eval(ctx, pr->text, imgs, n_img));
    } else {
        const size_t len = strlen(pr->text);
        int32_t n = vlkv_tokenize(model, pr->text, len, -1, 1, NULL, 0);
        if (n < 0) n = -n;
        VLKV_CHECK(n > 0, VLKV_ERR_INVALID_ARG, "calibrate: a prompt produced no tokens");
        toks = malloc((size_t)n * sizeof *toks);
        VLKV_CHECK(toks, VLKV_ERR_OOM, "calibrate: out of memory");
        n = vlkv_tokenize(model, pr->text, len, -1, 1, toks, n);
        VLKV_TRY(vlkv_eval_tokens(ctx, toks, n, VLKV_MOD_INSTRUCTION));
    }
fail:
    for (int32_t i = 0; i < 16; i++) vlkv_image_free(imgs[i]);
    free(toks);
    return st;
}

vlkv_status vlkv_kv_calibrate(vlkv_model *model, const vlkv_context_params *cp, const struct vlkv_calib_prompt *prompts,
                              int32_t n_prompts, const double *budgets, int32_t n_budgets, const char *out_path,
                              vlkv_calib_progress progress, void *ud) {
    vlkv_status st = VLKV_OK;
    vlkv_context *ctx = NULL;
    struct vlkv_kv_calib cal = {0};
    char profile[1024], opts[1536], blist[400] = "";
    VLKV_CHECK(model && cp && prompts && n_prompts > 0 && budgets && n_budgets > 0 && n_budgets <= 32 && out_path,
               VLKV_ERR_INVALID_ARG, "calibrate: need a model, 1+ prompts, 1..32 budgets and an output path");
    double bmin = 1.0;
    for (int32_t i = 0; i < n_budgets; i++) {
        VLKV_CHECK(budgets[i] > 0 && budgets[i] < 1, VLKV_ERR_INVALID_ARG,
                   "calibrate: budget %g: expected a retained fraction in (0, 1)", budgets[i]);
        size_t l = strlen(blist);
        snprintf(blist + l, sizeof blist - l, "%s%.6g", i ? ":" : "", budgets[i]);
        bmin = budgets[i] < bmin ? budgets[i] : bmin;
    }
    VLKV_CHECK(strlen(out_path) + 16 < sizeof profile && !strchr(out_path, ','), VLKV_ERR_INVALID_ARG,
               "calibrate: output path too long or contains ','");
    snprintf(profile, sizeof profile, "%s.profile.jsonl", out_path);
    FILE *f = fopen(profile, "w");   /* truncate: the policy appends */
    VLKV_CHECK(f, VLKV_ERR_IO, "%s: cannot create: %s", profile, strerror(errno));
    fclose(f);
    int on = snprintf(opts, sizeof opts, "profile=%s,profile_budgets=%s", profile, blist);
    VLKV_CHECK(on > 0 && (size_t)on < sizeof opts, VLKV_ERR_INVALID_ARG, "calibrate: options too long");
    vlkv_context_params p = *cp;
    p.kv_policy = "prefixkv";
    p.kv_budget = (float)bmin;
    p.kv_budget_tokens = 0;
    p.kv_opts = opts;
    p.kv_config_path = NULL;
    VLKV_TRY(vlkv_context_init(model, &p, &ctx));
    for (int32_t i = 0; i < n_prompts; i++) {
        vlkv_context_reset(ctx);
        VLKV_TRY(eval_prompt(model, ctx, &prompts[i]));
        VLKV_TRY(vlkv_kv_compress(ctx));
        if (progress) progress(i + 1, n_prompts, ud);
    }
    VLKV_TRY(vlkv_kv_calib_from_profile(profile, vlkv_model_desc(model), &cal));
    VLKV_CHECK(cal.n_layer == vlkv_model_n_layer(model) && cal.n_configs == n_budgets, VLKV_ERR_FORMAT,
               "%s: profile has %d layers x %d budgets, expected %d x %d", profile, cal.n_layer, cal.n_configs,
               vlkv_model_n_layer(model), n_budgets);
    VLKV_TRY(vlkv_kv_calib_write(out_path, &cal));
    remove(profile);
fail:
    vlkv_kv_calib_free(&cal);
    vlkv_context_free(ctx);
    return st;
}
