/* cmd_run.c - `vlkv run`: evaluate one prompt (optionally with images in the LLaVA template),
 * apply the KV policy to the prompt cache, and stream the generation to stdout. Statistics go to
 * stderr so stdout carries only the generated text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "context.h"
#include "cli.h"
#include "vlkv.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vlkv run -m MODEL.gguf [--mmproj MMPROJ.gguf --image IMG ...] -p TEXT [options]\n"
            "       vlkv run --kv-help NAME      describe a KV policy and its options\n\n%s",
            cli_common_help());
}

static double kib(size_t b) { return (double)b / 1024.0; }

/* Print the KV summary line (always) and the per-layer table (with --kv-stats). */
static void print_kv_stats(vlkv_context *ctx, const struct cli_common *c, int detailed) {
    vlkv_kv_stats ks;
    if (vlkv_kv_get_stats(ctx, &ks) != VLKV_OK) return;
    const char *pol = c->cp.kv_policy ? c->cp.kv_policy : "full";
    double frac = ks.bytes_full ? (double)ks.bytes_used / (double)ks.bytes_full : 1.0;
    fprintf(stderr, "kv: policy %s, budget %g: %.1f KiB held of %.1f KiB full cache (%.1f%%, saved %.1f KiB), "
                    "reserved %.1f KiB, policy %.2f ms\n",
            pol, c->cp.kv_budget_tokens > 0 ? (double)c->cp.kv_budget_tokens : (double)c->cp.kv_budget,
            kib(ks.bytes_used), kib(ks.bytes_full), 100.0 * frac, kib(ks.bytes_full - ks.bytes_used),
            kib(ks.bytes_reserved), ks.policy_ms);
    if (!detailed) return;
    const char *dev = NULL;
    uint64_t dev_bytes = 0, dev_peak = 0;
    if (vlkv_context_device(ctx, &dev, &dev_bytes, &dev_peak))
        fprintf(stderr, "device: %s (decoder%s), device memory %.1f MiB (peak %.1f MiB)\n", dev ? dev : "?",
                vlkv_context_vision_on_device(ctx) ? " + image encoder" : "", dev_bytes / 1048576.0,
                dev_peak / 1048576.0);
    fprintf(stderr, "kv: prompt positions %d; entries per layer:", ks.n_prompt);
    for (int32_t il = 0; il < ks.n_layer; il++) fprintf(stderr, " %d", ks.len[il]);
    fprintf(stderr, "\n");
}

int cmd_run(int argc, char **argv) {
    struct cli_common c;
    cli_common_init(&c);
    for (int i = 1; i < argc;) {
        int r = cli_common_arg(&c, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--kv-help")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "vlkv: --kv-help needs a policy name\n");
                return 2;
            }
            const char *h = vlkv_kv_policy_help(argv[i + 1]);
            if (!h) {
                fprintf(stderr, "vlkv: unknown KV policy '%s'; known:", argv[i + 1]);
                for (int32_t k = 0; k < vlkv_kv_policy_count(); k++) fprintf(stderr, " %s", vlkv_kv_policy_name(k));
                fprintf(stderr, "\n");
                return 2;
            }
            printf("%s\n", h);
            return 0;
        }
        fprintf(stderr, "vlkv run: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    cli_log_to_stderr(c.verbosity);
    if (!c.model) {
        fprintf(stderr, "vlkv run: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    if (!c.prompt) {
        fprintf(stderr, "vlkv run: -p PROMPT is required\n");
        return 2;
    }
    if (c.n_images > 0 && !c.mmproj) {
        fprintf(stderr, "vlkv run: --image needs --mmproj (the model's vision tower)\n");
        return 2;
    }

    int rc = 1;
    vlkv_model *model = NULL;
    vlkv_context *ctx = NULL;
    vlkv_sampler *smp = NULL;
    vlkv_image *imgs[CLI_MAX_IMAGES] = {0};
    int32_t *toks = NULL;
    vlkv_status st;

    if ((st = vlkv_model_load(c.model, &c.mp, &model)) != VLKV_OK) {
        fprintf(stderr, "vlkv: cannot load model: %s\n", vlkv_last_error());
        goto done;
    }
    for (int k = 0; k < c.n_images; k++) {
        if ((st = vlkv_image_load_file(c.images[k], &imgs[k])) != VLKV_OK) {
            fprintf(stderr, "vlkv: cannot load image: %s\n", vlkv_last_error());
            goto done;
        }
    }
    if ((st = vlkv_context_init(model, &c.cp, &ctx)) != VLKV_OK) {
        fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
        rc = st == VLKV_ERR_INVALID_ARG ? 2 : 1;
        goto done;
    }
    if ((st = vlkv_sampler_init(&c.sp, &smp)) != VLKV_OK) {
        fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
        goto done;
    }

    if (vlkv_model_has_vision(model)) {
        if (c.n_images > 0) fprintf(stderr, "vlkv: encoding %d image%s...\n", c.n_images, c.n_images > 1 ? "s" : "");
        st = vlkv_prompt_eval(ctx, c.prompt, imgs, c.n_images);
    } else {
        /* plain text model: the prompt as given, with BOS, as llama.cpp's -p */
        size_t len = strlen(c.prompt);
        int32_t n = vlkv_tokenize(model, c.prompt, len, -1, 1, NULL, 0);
        if (n < 0) n = -n;
        toks = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
        if (!toks) {
            fprintf(stderr, "vlkv: out of memory\n");
            goto done;
        }
        n = vlkv_tokenize(model, c.prompt, len, -1, 1, toks, n);
        st = n > 0 ? vlkv_eval_tokens(ctx, toks, n, VLKV_MOD_INSTRUCTION) : VLKV_ERR_INVALID_ARG;
        if (n <= 0) fprintf(stderr, "vlkv: the prompt produced no tokens\n");
        for (int32_t k = 0; k < n; k++) vlkv_sampler_accept(smp, toks[k]);
    }
    if (st != VLKV_OK) {
        fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
        goto done;
    }
    if ((st = vlkv_kv_compress(ctx)) != VLKV_OK) {
        fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
        goto done;
    }
    if (c.kv_stats) {
        fprintf(stderr, "after the prompt: ");
        print_kv_stats(ctx, &c, 1);
    }

    /* generate, streaming UTF-8-complete text */
    int n_gen = 0;
    st = cli_stream_generate(ctx, model, smp, c.n_predict, &n_gen);
    if (st == VLKV_ERR_CONTEXT_FULL) {
        fprintf(stderr, "vlkv: context full after %d generated tokens\n", n_gen);
    } else if (st != VLKV_OK) {
        fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
        goto done;
    }

    vlkv_timings t = vlkv_get_timings(ctx);
    if (t.vision_ms > 0)
        fprintf(stderr, "image: preprocess %.1f ms, vision %.1f ms, projector %.1f ms\n", t.preprocess_ms,
                t.vision_ms, t.projector_ms);
    fprintf(stderr, "prefill: %d positions in %.1f ms (%.1f tok/s); decode: %d tokens in %.1f ms (%.2f tok/s)\n",
            t.n_prefill, t.prefill_ms, t.prefill_ms > 0 ? 1e3 * t.n_prefill / t.prefill_ms : 0.0, t.n_decode,
            t.decode_ms, t.decode_ms > 0 ? 1e3 * t.n_decode / t.decode_ms : 0.0);
    print_kv_stats(ctx, &c, c.kv_stats);
    rc = 0;
done:
    free(toks);
    for (int k = 0; k < c.n_images; k++) vlkv_image_free(imgs[k]);
    vlkv_sampler_free(smp);
    vlkv_context_free(ctx);
    vlkv_model_free(model);
    return rc;
}
