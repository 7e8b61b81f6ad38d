/* args.h - flags shared by the subcommands that run a model (run, chat, bench, eval, calibrate).
 * Names follow llama.cpp where one exists (-m, -p, -n, -t, -c, -b, --temp, --top-k, ...). */
#ifndef VLKV_CLI_ARGS_H
#define VLKV_CLI_ARGS_H

#include "vlkv.h"

#define CLI_MAX_IMAGES 16

struct cli_common {
    const char *model;
    const char *mmproj;
    const char *prompt;
    const char *images[CLI_MAX_IMAGES];
    int         n_images;
    int         n_predict;        /* -n, default 128; -1 = until EOS or context end */
    int         verbosity;
    int         kv_stats;         /* --kv-stats */
    int         llamacpp_compat;
    char        kv_opts[1024];    /* joined --kv-opt values */
    vlkv_model_params   mp;
    vlkv_context_params cp;
    vlkv_sampler_params sp;
};

/* Defaults: greedy sampling (LLaVA usage), vlkv_*_params_default() otherwise. */
void cli_common_init(struct cli_common *c);

/* Try to consume argv[*i] (and its value). Returns 1 if consumed (advances *i past the value),
 * 0 if the flag is not a common one, -1 after printing an error for a bad or missing value. */
int cli_common_arg(struct cli_common *c, int argc, char **argv, int *i);

/* Help text for the common flags. */
const char *cli_common_help(void);

/* Parse helpers printing "vlkv: <flag>: ..." on error; return 0 on success. */
int cli_parse_int(const char *flag, const char *s, long lo, long hi, int *out);
int cli_parse_float(const char *flag, const char *s, double lo, double hi, float *out);

/* Sample and decode up to n_predict tokens (< 0: until EOS), streaming the text to stdout as
 * complete UTF-8 and ending it with a newline. The EOS is not decoded (a chat's next turn starts
 * with "</s>"). *n_gen = tokens produced. Returns vlkv_decode's status (VLKV_ERR_CONTEXT_FULL
 * included, for the caller to report). */
vlkv_status cli_stream_generate(vlkv_context *ctx, const vlkv_model *model, vlkv_sampler *smp, int n_predict,
                                int *n_gen);

#endif /* VLKV_CLI_ARGS_H */
