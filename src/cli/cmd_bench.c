/* cmd_bench.c - `vlkv bench`, in llama-bench's form (specs/formats.md §7.5):
 *   pp<N>: one forward of an N-token prompt (BOS + uniform random ids), KV cleared before each rep;
 *   tg<N>: N sequential single-token decodes from position 0 (first token BOS).
 * One warm-up run per test, then -r repetitions; t/s = mean over reps of n_tokens / time ± sample
 * standard deviation. Right before every timed repetition it probes the machine's read bandwidth (tg)
 * or OpenBLAS sgemm GFLOP/s at the model's prefill shape (pp) at the same thread count, and reports
 * each test against the mean of its probes (pairing them in time cancels a shared machine's drift):
 *   tg: bytes of weights read per token x t/s  /  probe bandwidth   (decode roofline fraction)
 *   pp: 2 x (matmul parameters) x tokens / time  /  sgemm GFLOP/s
 * Output: markdown table (default) or JSON lines (-o jsonl), one row per model x test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "context.h"
#include "gguf.h"
#include "internal.h"
#include "perfprobe.h"
#include "simd.h"
#include "vlkv.h"

#ifndef VLKV_COMMIT
#define VLKV_COMMIT "unknown"
#endif

#define MAX_MODELS 16

struct model_facts {
    double  params;        /* all tensor elements */
    double  mm_params;     /* elements of the weights multiplied per token (blk.* 2-D + output) */
    double  bytes;         /* all tensor bytes */
    double  tok_bytes;     /* bytes read to decode one token: blk.*, norms, output, one embd row */
    char    types[128];    /* "q4_0 x154, q6_K x1, f32 x45" */
};

static int facts_of(const char *path, struct model_facts *f) {
    struct gguf_file g;
    memset(f, 0, sizeof *f);
    if (vlkv_gguf_open(path, &g) != VLKV_OK) return -1;
    int counts[VLKV_TYPE_COUNT] = {0};
    const struct vlkv_tensor *embd = NULL, *out = NULL;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const struct vlkv_tensor *t = &g.tensors[i];
        double ne = (double)t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        f->params += ne;
        f->bytes += (double)t->nbytes;
        if (t->type < VLKV_TYPE_COUNT) counts[t->type]++;
        if (!strcmp(t->name, "token_embd.weight")) {
            embd = t;
            continue;
        }
        if (!strcmp(t->name, "output.weight")) out = t;
        f->tok_bytes += (double)t->nbytes;
        if (t->n_dims >= 2 && (!strncmp(t->name, "blk.", 4) || t == out)) f->mm_params += ne;
    }
    if (embd) {
        f->tok_bytes += (double)embd->nbytes / (double)embd->ne[1];   /* one row */
        if (!out) {                                                   /* tied output reads it all */
            f->tok_bytes += (double)embd->nbytes;
            f->mm_params += (double)embd->ne[0] * embd->ne[1];
        }
    }
    size_t len = 0;
    for (int t = 0; t < VLKV_TYPE_COUNT; t++) {
        if (!counts[t] || len + 24 >= sizeof f->types) continue;
        len += (size_t)snprintf(f->types + len, sizeof f->types - len, "%s%s x%d", len ? ", " : "",
                                vlkv_type_name((uint32_t)t), counts[t]);
    }
    vlkv_gguf_close(&g);
    return 0;
}

static void mean_sd(const double *x, int n, double *mean, double *sd) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

static const char *basename_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: vlkv bench -m MODEL.gguf [-m MODEL2.gguf ...] [options]\n"
            "  -p N            prompt tokens for the pp test (default 512; 0 = skip)\n"
            "  -n N            generated tokens for the tg test (default 128; 0 = skip)\n"
            "  -r N            repetitions (default 5)\n"
            "  -t N            threads (default: physical cores)\n"
            "  -o md|jsonl     output format (default md)\n"
            "  --no-probe      skip the bandwidth / sgemm probes\n"
            "  --bw-mb N       bandwidth probe buffer in MiB (default 1024)\n"
            "  --backend cpu|vulkan --device N   where the decoder runs (vulkan: device name and memory\n"
            "                  are printed; the CPU probes' limits do not apply: n/a)\n");
}

int cmd_bench(int argc, char **argv) {
    const char *models[MAX_MODELS];
    int n_models = 0, n_pp = 512, n_tg = 128, reps = 5, n_threads = 0, jsonl = 0, probe = 1, bw_mb = 1024;
    int backend = VLKV_BACKEND_CPU, device = -1;
    char dev_notes[MAX_MODELS][320];   /* per model: the device and its memory (md output, after the table) */
    memset(dev_notes, 0, sizeof dev_notes);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--no-probe")) {
            probe = 0;
            continue;
        }
        if (!v) {
            fprintf(stderr, "vlkv bench: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (n_models >= MAX_MODELS) {
                fprintf(stderr, "vlkv bench: at most %d models\n", MAX_MODELS);
                return 2;
            }
            models[n_models++] = v;
        } else if (!strcmp(a, "-p")) {
            if (cli_parse_int(a, v, 0, 1 << 16, &n_pp)) return 2;
        } else if (!strcmp(a, "-n")) {
            if (cli_parse_int(a, v, 0, 1 << 16, &n_tg)) return 2;
        } else if (!strcmp(a, "-r")) {
            if (cli_parse_int(a, v, 1, 1000, &reps)) return 2;
        } else if (!strcmp(a, "-t")) {
            if (cli_parse_int(a, v, 1, 1024, &n_threads)) return 2;
        } else if (!strcmp(a, "--bw-mb")) {
            if (cli_parse_int(a, v, 16, 1 << 16, &bw_mb)) return 2;
        } else if (!strcmp(a, "--backend")) {
            if (!strcmp(v, "cpu") || !strcmp(v, "vulkan")) backend = !strcmp(v, "cpu") ? VLKV_BACKEND_CPU : VLKV_BACKEND_VULKAN;
            else {
                fprintf(stderr, "vlkv bench: --backend: expected cpu or vulkan, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--device")) {
            if (cli_parse_int(a, v, 0, 64, &device)) return 2;
        } else if (!strcmp(a, "-o")) {
            if (!strcmp(v, "jsonl")) jsonl = 1;
            else if (!strcmp(v, "md")) jsonl = 0;
            else {
                fprintf(stderr, "vlkv bench: -o: expected md or jsonl, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "vlkv bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (n_models == 0) {
        fprintf(stderr, "vlkv bench: at least one -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    if (n_threads <= 0) n_threads = vlkv_context_params_default().n_threads;
    if (n_threads <= 0) n_threads = vlkv_n_cores();

    const char *isa = vlkv_kernels_get()->name;
    const char *blas = vlkv_probe_have_blas() ? "openblas" : "none";
    /* the probes run next to every timed repetition (this machine class is shared and its speed
     * drifts within a minute), and a row's limit is the mean of its repetitions' probes */
    double lim_lo[2] = {0, 0}, lim_hi[2] = {0, 0};

    if (!jsonl) {
        printf("| model | types | size GiB | params B | threads | isa | blas | test | t/s | vs limit |\n");
        printf("|---|---|---:|---:|---:|---|---|---|---:|---:|\n");
    }
    int rc = 0;
    for (int mi = 0; mi < n_models; mi++) {
        struct model_facts mf;
        vlkv_model *model = NULL;
        vlkv_context *ctx = NULL;
        int32_t *toks = NULL;
        double *samples = NULL, *lims = NULL;
        if (facts_of(models[mi], &mf) != 0) {
            fprintf(stderr, "vlkv bench: %s\n", vlkv_last_error());
            rc = 1;
            continue;
        }
        vlkv_model_params mp = vlkv_model_params_default();
        mp.n_threads = n_threads;
        if (vlkv_model_load(models[mi], &mp, &model) != VLKV_OK) {
            fprintf(stderr, "vlkv bench: %s\n", vlkv_last_error());
            rc = 1;
            continue;
        }
        vlkv_context_params cp = vlkv_context_params_default();
        cp.n_threads = n_threads;
        cp.n_ctx = VLKV_MAX(n_pp, n_tg) + 8;
        cp.n_batch = n_pp > 0 ? n_pp : 512;
        cp.backend = (vlkv_backend)backend;
        cp.device = device;
        if (vlkv_context_init(model, &cp, &ctx) != VLKV_OK) {
            fprintf(stderr, "vlkv bench: %s\n", vlkv_last_error());
            rc = 1;
            goto next;
        }
        const char *dev_name = "";
        const int on_dev = vlkv_context_device(ctx, &dev_name, NULL, NULL);
        const int e = vlkv_model_n_embd(model);   /* the prefill GEMM shape: tokens x n_embd -> n_embd */
        int n_tok = VLKV_MAX(n_pp, n_tg) + 1;
        toks = malloc(sizeof(int32_t) * (size_t)n_tok);
        samples = malloc(sizeof(double) * (size_t)reps);
        lims = malloc(sizeof(double) * (size_t)reps);
        if (!toks || !samples || !lims) {
            fprintf(stderr, "vlkv bench: out of memory\n");
            rc = 1;
            goto next;
        }
        uint64_t rs = 0x1234567ULL + (uint64_t)mi;
        int32_t n_vocab = vlkv_model_n_vocab(model);
        toks[0] = vlkv_token_bos(model);
        for (int i = 1; i < n_tok; i++) {
            rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
            toks[i] = (int32_t)(rs % (uint64_t)n_vocab);
        }
        for (int test = 0; test < 2; test++) {
            int n = test == 0 ? n_pp : n_tg;
            if (n <= 0) continue;
            int failed = 0;
            const int use_probe = probe && !on_dev;
            for (int r = -1; r < reps && !failed; r++) {      /* r = -1: warm-up */
                if (r >= 0 && use_probe)
                    lims[r] = test == 0 ? vlkv_probe_sgemm(n_pp, e, e, n_threads, 3)
                                        : vlkv_probe_read_bw((size_t)bw_mb << 20, n_threads, 3);
                vlkv_context_reset(ctx);
                double t0 = vlkv_time_ms();
                if (test == 0) {
                    failed = vlkv_eval_tokens(ctx, toks, n, VLKV_MOD_INSTRUCTION) != VLKV_OK;
                } else {
                    int nn = r < 0 ? 1 : n;
                    for (int i = 0; i < nn && !failed; i++) failed = vlkv_decode(ctx, toks[i]) != VLKV_OK;
                }
                double ms = vlkv_time_ms() - t0;
                if (r >= 0) samples[r] = n / (ms * 1e-3);
            }
            if (failed) {
                fprintf(stderr, "vlkv bench: %s\n", vlkv_last_error());
                rc = 1;
                break;
            }
            double mean, sd;
            mean_sd(samples, reps, &mean, &sd);
            char tname[32];
            snprintf(tname, sizeof tname, "%s%d", test == 0 ? "pp" : "tg", n);
            /* the roofline figure this test is judged by */
            double achieved, limit;
            const char *unit;
            if (test == 0) {
                achieved = 2.0 * mf.mm_params * mean / 1e9;   /* GFLOP/s */
                unit = "GFLOP/s";
            } else {
                achieved = mf.tok_bytes * mean / 1e9;         /* GB/s */
                unit = "GB/s";
            }
            limit = 0;
            if (use_probe) {
                double lsd;
                mean_sd(lims, reps, &limit, &lsd);
                for (int r = 0; r < reps; r++) {
                    if (lim_lo[test] == 0 || lims[r] < lim_lo[test]) lim_lo[test] = lims[r];
                    if (lims[r] > lim_hi[test]) lim_hi[test] = lims[r];
                }
            }
            if (jsonl) {
                printf("{\"commit\":\"%s\",\"model\":\"%s\",\"types\":\"%s\",\"size_bytes\":%.0f,\"params\":%.0f,"
                       "\"threads\":%d,\"isa\":\"%s\",\"blas\":\"%s\",\"backend\":\"%s\",\"test\":\"%s\","
                       "\"n_tokens\":%d,\"reps\":%d,\"ts_mean\":%.4f,\"ts_sd\":%.4f,\"achieved\":%.3f,"
                       "\"limit\":%.3f,\"unit\":\"%s\",\"fraction\":%.4f}\n",
                       VLKV_COMMIT, basename_of(models[mi]), mf.types, mf.bytes, mf.params, n_threads, isa, blas,
                       on_dev ? "vulkan" : "cpu", tname, n, reps, mean, sd, achieved, limit, unit, limit > 0 ? achieved / limit : 0.0);
            } else {
                char vs[96] = "n/a";
                if (limit > 0)
                    snprintf(vs, sizeof vs, "%.1f of %.1f %s = %.0f%%", achieved, limit, unit, 100 * achieved / limit);
                printf("| %s | %s | %.2f | %.3f | %d | %s | %s | %s | %.2f ± %.2f | %s |\n", basename_of(models[mi]),
                       mf.types, mf.bytes / (1 << 30), mf.params / 1e9, n_threads, on_dev ? "vulkan" : isa, blas, tname,
                       mean, sd, vs);
            }
            fflush(stdout);
        }
        if (on_dev) {
            uint64_t now = 0, peak = 0;
            vlkv_context_device(ctx, NULL, &now, &peak);
            if (jsonl)
                printf("{\"model\":\"%s\",\"device\":\"%s\",\"device_bytes\":%llu,\"device_peak_bytes\":%llu}\n",
                       basename_of(models[mi]), dev_name, (unsigned long long)now, (unsigned long long)peak);
            else
                snprintf(dev_notes[mi], sizeof dev_notes[mi], "%s: Vulkan device %s, device memory %.1f MiB (peak %.1f MiB)",
                         basename_of(models[mi]), dev_name, (double)now / (1 << 20), (double)peak / (1 << 20));
        }
    next:
        free(toks);
        free(samples);
        free(lims);
        vlkv_context_free(ctx);
        vlkv_model_free(model);
    }
    for (int mi = 0; mi < n_models && !jsonl; mi++)
        if (dev_notes[mi][0]) printf("%s%s\n", mi == 0 ? "\n" : "", dev_notes[mi]);
    if (!jsonl && probe && (lim_hi[0] > 0 || lim_hi[1] > 0))
        printf("\nprobes (%d threads, one next to every repetition; a row's limit is their mean): "
               "OpenBLAS sgemm %.1f-%.1f GFLOP/s, read bandwidth %.2f-%.2f GB/s; commit %s\n",
               n_threads, lim_lo[0], lim_hi[0], lim_lo[1], lim_hi[1], VLKV_COMMIT);
    return rc;
}
