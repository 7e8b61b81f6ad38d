/* args.c - parsing of the flags shared by the model-running subcommands (see args.h). */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_common_init(struct cli_common *c) {
    memset(c, 0, sizeof *c);
    c->n_predict = 128;
    c->mp = vlkv_model_params_default();
    c->cp = vlkv_context_params_default();
    c->sp = vlkv_sampler_params_default();
    c->sp.temp = 0.0f;   /* greedy unless --temp is given, as LLaVA is usually run */
}

int cli_parse_int(const char *flag, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "vlkv: %s: expected an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_float(const char *flag, const char *s, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "vlkv: %s: expected a number in [%g, %g], got '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = (float)v;
    return 0;
}

static int is(const char *a, const char *s1, const char *s2) {
    return !strcmp(a, s1) || (s2 && !strcmp(a, s2));
}

int cli_common_arg(struct cli_common *c, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    /* flags without a value */
    if (is(a, "--kv-stats", NULL)) { c->kv_stats = 1; (*i)++; return 1; }
    if (is(a, "--kv-f32", NULL)) { c->cp.kv_f32 = 1; (*i)++; return 1; }
    if (is(a, "--llamacpp-compat", NULL)) { c->mp.llamacpp_compat = 1; (*i)++; return 1; }
    if (is(a, "-v", "--verbose")) { c->verbosity++; (*i)++; return 1; }

    static const char *const with_value[] = {
        "-m", "--model", "--mmproj", "-p", "--prompt", "--image", "-n", "--n-predict", "-t", "--threads",
        "-c", "--ctx-size", "-b", "--batch-size", "--temp", "--top-k", "--top-p", "--min-p",
        "--repeat-penalty", "--repeat-last-n", "-s", "--seed", "--kv-policy", "--kv-budget",
        "--kv-budget-tokens", "--kv-pos", "--kv-opt", "--kv-config", "--backend", "--device", NULL};
    int known = 0;
    for (int k = 0; with_value[k]; k++)
        if (!strcmp(a, with_value[k])) known = 1;
    if (!known) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "vlkv: %s needs a value\n", a);
        return -1;
    }
    const char *v = argv[*i + 1];
    *i += 2;
    int iv;
    if (is(a, "-m", "--model")) c->model = v;
    else if (is(a, "--mmproj", NULL)) c->mmproj = c->mp.mmproj_path = v;
    else if (is(a, "-p", "--prompt")) c->prompt = v;
    else if (is(a, "--image", NULL)) {
        if (c->n_images >= CLI_MAX_IMAGES) {
            fprintf(stderr, "vlkv: --image: at most %d images\n", CLI_MAX_IMAGES);
            return -1;
        }
        c->images[c->n_images++] = v;
    } else if (is(a, "-n", "--n-predict")) {
        if (cli_parse_int(a, v, -1, 1 << 24, &c->n_predict)) return -1;
    } else if (is(a, "-t", "--threads")) {
        if (cli_parse_int(a, v, 1, 1024, &iv)) return -1;
        c->cp.n_threads = iv;
        c->mp.n_threads = iv;
    } else if (is(a, "-c", "--ctx-size")) {
        if (cli_parse_int(a, v, 0, 1 << 22, &iv)) return -1;
        c->cp.n_ctx = iv;
    } else if (is(a, "-b", "--batch-size")) {
        if (cli_parse_int(a, v, 1, 1 << 16, &iv)) return -1;
        c->cp.n_batch = iv;
    } else if (is(a, "--temp", NULL)) {
        if (cli_parse_float(a, v, 0, 100, &c->sp.temp)) return -1;
    } else if (is(a, "--top-k", NULL)) {
        if (cli_parse_int(a, v, 0, 1 << 24, &iv)) return -1;
        c->sp.top_k = iv;
    } else if (is(a, "--top-p", NULL)) {
        if (cli_parse_float(a, v, 0, 1, &c->sp.top_p)) return -1;
    } else if (is(a, "--min-p", NULL)) {
        if (cli_parse_float(a, v, 0, 1, &c->sp.min_p)) return -1;
    } else if (is(a, "--repeat-penalty", NULL)) {
        if (cli_parse_float(a, v, 1e-3, 100, &c->sp.repeat_penalty)) return -1;
    } else if (is(a, "--repeat-last-n", NULL)) {
        if (cli_parse_int(a, v, 0, 1 << 20, &iv)) return -1;
        c->sp.repeat_last_n = iv;
    } else if (is(a, "-s", "--seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || end == v || *end) {
            fprintf(stderr, "vlkv: %s: expected a non-negative integer, got '%s'\n", a, v);
            return -1;
        }
        c->sp.seed = (uint64_t)s;
    } else if (is(a, "--kv-policy", NULL)) c->cp.kv_policy = v;
    else if (is(a, "--kv-budget", NULL)) {
        /* the library validates (0, 1] with its own message; here only that it is a number */
        if (cli_parse_float(a, v, -1e30, 1e30, &c->cp.kv_budget)) return -1;
    } else if (is(a, "--kv-budget-tokens", NULL)) {
        if (cli_parse_int(a, v, 1, 1 << 24, &iv)) return -1;
        c->cp.kv_budget_tokens = iv;
    } else if (is(a, "--kv-pos", NULL)) {
        if (!strcmp(v, "original")) c->cp.kv_pos_mode = VLKV_KV_POS_ORIGINAL;
        else if (!strcmp(v, "compat")) c->cp.kv_pos_mode = VLKV_KV_POS_COMPAT;
        else {
            fprintf(stderr, "vlkv: --kv-pos: expected 'original' or 'compat', got '%s'\n", v);
            return -1;
        }
    } else if (is(a, "--kv-opt", NULL)) {
        size_t len = strlen(c->kv_opts);
        if (len + strlen(v) + 2 > sizeof c->kv_opts) {
            fprintf(stderr, "vlkv: --kv-opt: too many options\n");
            return -1;
        }
        if (len) strcat(c->kv_opts, ",");
        strcat(c->kv_opts, v);
        c->cp.kv_opts = c->kv_opts;
    } else if (is(a, "--kv-config", NULL)) c->cp.kv_config_path = v;
    else if (is(a, "--backend", NULL)) {
        if (!strcmp(v, "cpu")) c->cp.backend = VLKV_BACKEND_CPU;
        else if (!strcmp(v, "vulkan")) c->cp.backend = VLKV_BACKEND_VULKAN;
        else {
            fprintf(stderr, "vlkv: --backend: expected 'cpu' or 'vulkan', got '%s'\n", v);
            return -1;
        }
    } else if (is(a, "--device", NULL)) {
        if (cli_parse_int(a, v, -1, 64, &iv)) return -1;
        c->cp.device = iv;
    }
    return 1;
}

const char *cli_common_help(void) {
    return
        "model:\n"
        "  -m, --model FILE         LLaMA GGUF (llama.cpp format)\n"
        "      --mmproj FILE        CLIP mmproj GGUF for images\n"
        "      --llamacpp-compat    reproduce llama.cpp's vision quirks (A/B runs)\n"
        "input and generation:\n"
        "  -p, --prompt TEXT        the question / prompt\n"
        "      --image FILE         an image (repeatable; PNG JPEG BMP GIF PNM TGA)\n"
        "  -n, --n-predict N        tokens to generate (default 128, -1 = until EOS)\n"
        "  -t, --threads N          compute threads (default: physical cores)\n"
        "  -c, --ctx-size N         context positions (default: the model's)\n"
        "  -b, --batch-size N       prefill chunk (default 512)\n"
        "sampling (default greedy):\n"
        "      --temp T  --top-k K  --top-p P  --min-p P  --repeat-penalty R  --repeat-last-n N\n"
        "  -s, --seed N\n"
        "KV retention:\n"
        "      --kv-policy NAME     full streaming h2o snapkv pyramidkv prefixkv elastic vlcache\n"
        "      --kv-budget F        fraction of the prompt KV retained, 0 < F <= 1 (default 1)\n"
        "      --kv-budget-tokens N retained prompt entries per layer on average\n"
        "      --kv-pos MODE        original (default) | compat (layer-0 length, as the papers' code)\n"
        "      --kv-opt KEY=VALUE   policy option (repeatable; see vlkv run --kv-help NAME)\n"
        "      --kv-config FILE     PrefixKV per-layer ratios from `vlkv calibrate`\n"
        "      --kv-f32             store K/V as F32 (default F16)\n"
        "      --kv-stats           print per-layer lengths, bytes and policy time\n"
        "backend:\n"
        "      --backend cpu|vulkan --device N\n"
        "  -v, --verbose\n";
}

vlkv_status cli_stream_generate(vlkv_context *ctx, const vlkv_model *model, vlkv_sampler *smp, int n_predict,
                                int *n_gen_out) {
    char pend[256];   /* bytes of an incomplete UTF-8 sequence carried to the next piece */
    size_t n_pend = 0;
    const int32_t n_vocab = vlkv_model_n_vocab(model), eos = vlkv_token_eos(model);
    int n_gen = 0;
    vlkv_status st = VLKV_OK;
    while (n_predict < 0 || n_gen < n_predict) {
        int32_t tok = vlkv_sampler_sample(smp, vlkv_get_logits(ctx), n_vocab);
        if (tok < 0 || tok == eos) break;
        char piece[128];
        int32_t np = vlkv_token_to_piece(model, tok, piece, (int32_t)sizeof piece);
        if (np > 0) {
            if (n_pend + (size_t)np > sizeof pend) {   /* cannot happen for valid UTF-8; flush anyway */
                fwrite(pend, 1, n_pend, stdout);
                n_pend = 0;
            }
            memcpy(pend + n_pend, piece, (size_t)np);
            n_pend += (size_t)np;
            size_t ok = vlkv_utf8_complete(pend, n_pend);
            fwrite(pend, 1, ok, stdout);
            memmove(pend, pend + ok, n_pend - ok);
            n_pend -= ok;
            fflush(stdout);
        }
        n_gen++;
        if ((st = vlkv_decode(ctx, tok)) != VLKV_OK) break;
    }
    fwrite(pend, 1, n_pend, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    *n_gen_out = n_gen;
    return st;
}
