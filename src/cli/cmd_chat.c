/* cmd_chat.c - `vlkv chat`: interactive multi-turn LLaVA chat on stdin/stdout.
 * Each input line is one user turn; `/image PATH` attaches an image to the next turn,
 * `/reset` starts a new conversation, `/quit` (or end of input) leaves. Works the same with
 * piped stdin. Turns are built by vlkv_prompt_eval (vicuna_v1 template; later turns append
 * "</s>USER: ... ASSISTANT:" after the answer already in the cache, so the EOS that ends an
 * answer is never decoded). The KV policy compresses the prompt cache once, after the first
 * turn; its decode-time rule then keeps the budget for the rest of the conversation.
 * stdout carries only the answers; prompts, progress and statistics go to stderr. */
#define _POSIX_C_SOURCE 200809L   /* isatty, fileno */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "vlkv.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vlkv chat -m MODEL.gguf [--mmproj MMPROJ.gguf] [--image IMG ...] [options]\n\n"
            "Reads one user message per line from stdin and streams each answer to stdout.\n"
            "  /image PATH   attach an image to the next message (repeatable)\n"
            "  /reset        forget the conversation (and pending images)\n"
            "  /quit         leave (end of input does the same)\n"
            "--image files given on the command line are attached to the first message; -p TEXT is\n"
            "sent as the first message before stdin is read.\n\n%s",
            cli_common_help());
}

/* Read one line of any length (without the newline). Returns NULL at end of input. */
static char *read_line(FILE *in, char **buf, size_t *cap) {
    size_t n = 0;
    int ch;
    while ((ch = fgetc(in)) != EOF && ch != '\n') {
        if (n + 2 > *cap) {
            size_t nc = *cap ? 2 * *cap : 256;
            char *b = realloc(*buf, nc);
            if (!b) return NULL;
            *buf = b;
            *cap = nc;
        }
        (*buf)[n++] = (char)ch;
    }
    if (ch == EOF && n == 0) return NULL;
    if (!*buf) {
        *buf = malloc(1);
        if (!*buf) return NULL;
        *cap = 1;
    }
    if (n > 0 && (*buf)[n - 1] == '\r') n--;
    (*buf)[n] = '\0';
    return *buf;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

static void clear_images(vlkv_image **imgs, int *n) {
    for (int k = 0; k < *n; k++) vlkv_image_free(imgs[k]);
    *n = 0;
}

/* Generate one answer, streaming UTF-8-complete text. Returns VLKV_OK, or the decode error
 * (VLKV_ERR_CONTEXT_FULL ends the answer early). */
int cmd_chat(int argc, char **argv) {
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
        fprintf(stderr, "vlkv chat: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    cli_log_to_stderr(c.verbosity);
    if (!c.model) {
        fprintf(stderr, "vlkv chat: -m MODEL is required\n");
        usage(stderr);
        return 2;
    }
    if (c.n_images > 0 && !c.mmproj) {
        fprintf(stderr, "vlkv chat: --image needs --mmproj (the model's vision tower)\n");
        return 2;
    }

    int rc = 1;
    vlkv_model *model = NULL;
    vlkv_context *ctx = NULL;
    vlkv_sampler *smp = NULL;
    vlkv_image *pending[CLI_MAX_IMAGES] = {0};
    int n_pending = 0;
    char *line = NULL;
    size_t cap = 0;
    vlkv_status st;
    const int interactive = isatty(fileno(stdin));

    if ((st = vlkv_model_load(c.model, &c.mp, &model)) != VLKV_OK) {
        fprintf(stderr, "vlkv: cannot load model: %s\n", vlkv_last_error());
        goto done;
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
    for (int k = 0; k < c.n_images; k++) {
        if (vlkv_image_load_file(c.images[k], &pending[n_pending]) != VLKV_OK) {
            fprintf(stderr, "vlkv: cannot load image: %s\n", vlkv_last_error());
            goto done;
        }
        n_pending++;
    }
    if (interactive)
        fprintf(stderr, "vlkv chat: %s. One message per line; /image PATH, /reset, /quit.\n", vlkv_model_desc(model));

    int compressed = 0;
    for (;;) {
        if (interactive) {
            fprintf(stderr, "> ");
            fflush(stderr);
        }
        char *l;
        if (c.prompt) {   /* -p: the first message, then stdin */
            size_t n = strlen(c.prompt);
            char *b = realloc(line, n + 1);
            if (!b) break;
            line = b;
            cap = n + 1;
            memcpy(line, c.prompt, n + 1);
            l = line;
            c.prompt = NULL;
        } else {
            l = read_line(stdin, &line, &cap);
        }
        if (!l) break;
        l = trim(l);
        if (!*l) continue;
        if (!strcmp(l, "/quit") || !strcmp(l, "/exit")) break;
        if (!strcmp(l, "/reset")) {
            vlkv_context_reset(ctx);
            clear_images(pending, &n_pending);
            compressed = 0;
            fprintf(stderr, "(conversation reset)\n");
            continue;
        }
        if (!strncmp(l, "/image", 6) && (l[6] == ' ' || l[6] == '\t' || l[6] == '\0')) {
            const char *path = trim(l + 6);
            if (!*path) {
                fprintf(stderr, "usage: /image PATH\n");
            } else if (!vlkv_model_has_vision(model)) {
                fprintf(stderr, "vlkv: images need a vision tower: start vlkv chat with --mmproj\n");
            } else if (n_pending >= CLI_MAX_IMAGES) {
                fprintf(stderr, "vlkv: at most %d images per message\n", CLI_MAX_IMAGES);
            } else if (vlkv_image_load_file(path, &pending[n_pending]) != VLKV_OK) {
                fprintf(stderr, "vlkv: cannot load image: %s\n", vlkv_last_error());
            } else {
                fprintf(stderr, "(image %s: %dx%d, attached to the next message)\n", path,
                        (int)vlkv_image_width(pending[n_pending]), (int)vlkv_image_height(pending[n_pending]));
                n_pending++;
            }
            continue;
        }
        if (l[0] == '/' && l[1] != '/') {
            fprintf(stderr, "unknown command '%s' (/image PATH, /reset, /quit; start with // for a literal /)\n", l);
            continue;
        }
        if (l[0] == '/') l++;   /* "//text" sends "/text" */

        /* one turn: template + images + prefill */
        vlkv_timings t0 = vlkv_get_timings(ctx);
        if (n_pending > 0) {
            fprintf(stderr, "encoding image%s... ", n_pending > 1 ? "s" : "");
            fflush(stderr);
        }
        st = vlkv_prompt_eval(ctx, l, pending, n_pending);
        if (n_pending > 0 && st == VLKV_OK) {
            vlkv_timings t1 = vlkv_get_timings(ctx);
            fprintf(stderr, "done in %.0f ms\n", (t1.preprocess_ms - t0.preprocess_ms) + (t1.vision_ms - t0.vision_ms) +
                                                    (t1.projector_ms - t0.projector_ms));
        } else if (n_pending > 0) {
            fprintf(stderr, "failed\n");
        }
        clear_images(pending, &n_pending);
        if (st == VLKV_ERR_CONTEXT_FULL) {
            fprintf(stderr, "vlkv: %s\n(the conversation is full: /reset to start a new one)\n", vlkv_last_error());
            continue;
        }
        if (st != VLKV_OK) {
            fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
            if (st == VLKV_ERR_INVALID_ARG) continue;   /* e.g. marker count mismatch: nothing evaluated */
            goto done;
        }
        if (!compressed) {
            if ((st = vlkv_kv_compress(ctx)) != VLKV_OK) {
                fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
                goto done;
            }
            compressed = 1;
        }
        int n_gen = 0;
        st = cli_stream_generate(ctx, model, smp, c.n_predict, &n_gen);
        if (st == VLKV_ERR_CONTEXT_FULL) {
            fprintf(stderr, "(context full after %d tokens: /reset to start a new conversation)\n", n_gen);
        } else if (st != VLKV_OK) {
            fprintf(stderr, "vlkv: %s\n", vlkv_last_error());
            goto done;
        }
        if (c.verbosity > 0 || c.kv_stats) {
            vlkv_kv_stats ks;
            if (vlkv_kv_get_stats(ctx, &ks) == VLKV_OK)
                fprintf(stderr, "(n_past %d, KV %.1f of %.1f KiB)\n", (int)vlkv_n_past(ctx),
                        (double)ks.bytes_used / 1024.0, (double)ks.bytes_full / 1024.0);
        }
    }
    rc = 0;
done:
    free(line);
    clear_images(pending, &n_pending);
    vlkv_sampler_free(smp);
    vlkv_context_free(ctx);
    vlkv_model_free(model);
    return rc;
}
