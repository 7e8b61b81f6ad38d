/* kv_calib.h - PrefixKV calibration files (kv-lvlm-methods.md §2.4): per-layer retained fractions
 * for each retained budget, estimated offline on a few prompts (element-wise mean of the
 * per-sample search results) and loaded by `--kv-policy prefixkv --kv-config FILE`.
 * File format (JSON, written by `vlkv calibrate`):
 *   {"format": "vlkv-prefixkv", "version": 1, "model": "...", "n_layer": 4, "n_samples": 10,
 *    "configs": [{"budget": 0.1, "retained": [0.6, 0.2, 0.05, 0.3]}, ...]}
 * "budget" and "retained" are RETAINED fractions (the PrefixKV repo's confs store evicted ratios:
 * retained = 1 - value). */
#ifndef VLKV_KV_CALIB_H
#define VLKV_KV_CALIB_H

#include <stdint.h>

#include "vlkv.h"

#define VLKV_CALIB_MAX_CONFIGS 64

struct vlkv_kv_calib {
    char    model[256];
    int32_t n_layer;
    int32_t n_samples;
    int32_t n_configs;
    double  budget[VLKV_CALIB_MAX_CONFIGS];
    float  *retained;   /* [n_configs][n_layer], owned */
};

/* Read and validate a calibration file (VLKV_ERR_IO / VLKV_ERR_FORMAT naming the file and problem). */
vlkv_status vlkv_kv_calib_read(const char *path, struct vlkv_kv_calib *out);
/* Write it (VLKV_ERR_IO on failure). */
vlkv_status vlkv_kv_calib_write(const char *path, const struct vlkv_kv_calib *c);
void        vlkv_kv_calib_free(struct vlkv_kv_calib *c);

/* Per-layer retained fractions for `budget`: the config with that budget (within 1e-4), else a
 * linear interpolation between the two nearest budgets around it (with a log warning). Errors
 * (VLKV_ERR_INVALID_ARG): layer count differs, budget outside the file's range. */
vlkv_status vlkv_kv_calib_lookup(const struct vlkv_kv_calib *c, const char *path, int32_t n_layer, double budget,
                                 float *rho);

/* Average a profile JSONL (one line per prompt x budget, written by prefixkv's profile=PATH option:
 * {"budget": b, "T": n, "retained": [...]}) into a calibration: one config per distinct budget,
 * element-wise mean over its lines. */
vlkv_status vlkv_kv_calib_from_profile(const char *profile_path, const char *model_desc, struct vlkv_kv_calib *out);

/* One calibration prompt: text, and image files used when the model has a vision tower (the
 * LLaVA template through vlkv_prompt_eval); a text-only model evaluates the text as is. */
struct vlkv_calib_prompt {
    const char *text;
    const char *const *images;
    int32_t     n_images;
};

/* Progress callback: called after each prompt (i of n done). May be NULL. */
typedef void (*vlkv_calib_progress)(int32_t i, int32_t n, void *ud);

/* PrefixKV offline calibration through the public API (§2.4): one context with kv_policy
 * "prefixkv" recording its per-sample searches for every budget (profile option), each prompt
 * prefilled and compressed, then the per-layer retained fractions averaged per budget and written
 * to out_path. cp supplies n_ctx / threads / batch (its KV fields are overridden). budgets: retained
 * fractions in (0, 1). The model must outlive the call. */
vlkv_status vlkv_kv_calibrate(vlkv_model *model, const vlkv_context_params *cp, const struct vlkv_calib_prompt *prompts,
                              int32_t n_prompts, const double *budgets, int32_t n_budgets, const char *out_path,
                              vlkv_calib_progress progress, void *ud);

#endif /* VLKV_KV_CALIB_H */
