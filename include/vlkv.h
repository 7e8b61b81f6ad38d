/* vlkv.h - the one public header of vlkv: LLaVA-style vision-language inference from
 * llama.cpp GGUF files, with adaptive per-layer KV-cache retention.
 *
 * Usage (error handling shortened):
 *
 *     vlkv_model_params mp = vlkv_model_params_default();
 *     mp.mmproj_path = "mmproj.gguf";                      // optional: vision tower + projector
 *     vlkv_model *model;
 *     if (vlkv_model_load("llm.gguf", &mp, &model) != VLKV_OK) puts(vlkv_last_error());
 *
 *     vlkv_context_params cp = vlkv_context_params_default();
 *     cp.kv_policy = "prefixkv"; cp.kv_budget = 0.2f;      // keep 20% of the prompt KV
 *     vlkv_context *ctx;
 *     vlkv_context_init(model, &cp, &ctx);
 *
 *     vlkv_image *img;
 *     vlkv_image_load_file("cat.png", &img);
 *     vlkv_prompt_eval(ctx, "Describe this image.", &img, 1);  // template, image, prefill
 *     vlkv_kv_compress(ctx);                                    // the policy acts on the prompt KV
 *     vlkv_sampler *smp; vlkv_sampler_params sp = vlkv_sampler_params_default();
 *     vlkv_sampler_init(&sp, &smp);
 *     for (int i = 0; i < 128; i++) {
 *         int32_t tok = vlkv_sampler_sample(smp, vlkv_get_logits(ctx), vlkv_model_n_vocab(model));
 *         if (tok == vlkv_token_eos(model)) break;
 *         char piece[64]; vlkv_token_to_piece(model, tok, piece, sizeof piece);
 *         fputs(piece, stdout);
 *         vlkv_decode(ctx, tok);                                // one step; the policy keeps its budget
 *     }
 *     vlkv_sampler_free(smp); vlkv_image_free(img); vlkv_context_free(ctx); vlkv_model_free(model);
 *
 * Conventions: every fallible call returns a vlkv_status (0 = OK, negative = error) and writes
 * its result through an out-parameter; the reason of the last failure on this thread is in
 * vlkv_last_error(). The library never prints and never exits: diagnostics go to the log
 * callback (silent by default). Destructors accept NULL. Objects returned through out-parameters
 * are owned by the caller and freed with their own *_free.
 */
#ifndef VLKV_H
#define VLKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define VLKV_API __attribute__((visibility("default")))
#else
#define VLKV_API
#endif

/* ---- status, errors, logging ------------------------------------------------------------ */

typedef enum {
    VLKV_OK               =  0,
    VLKV_ERR_INVALID_ARG  = -1, /* a bad parameter: unknown policy name, budget out of range, ... */
    VLKV_ERR_IO           = -2, /* a file could not be opened or read */
    VLKV_ERR_FORMAT       = -3, /* a file is corrupt or not what it claims (GGUF, image) */
    VLKV_ERR_UNSUPPORTED  = -4, /* valid, but a feature vlkv does not implement */
    VLKV_ERR_OOM          = -5, /* an allocation failed */
    VLKV_ERR_CONTEXT_FULL = -6, /* the prompt or generation does not fit in n_ctx */
    VLKV_ERR_BACKEND      = -7, /* the compute backend (Vulkan) failed */
    VLKV_ERR_ABORTED      = -8  /* stopped by the abort callback */
} vlkv_status;

/* Static string naming a status, e.g. "format error". Never NULL. */
VLKV_API const char *vlkv_status_str(vlkv_status st);

/* The message of the most recent error on the calling thread ("" if none). The pointer is valid
 * until the next failing vlkv call on the same thread. */
VLKV_API const char *vlkv_last_error(void);

typedef enum {
    VLKV_LOG_ERROR = 0,
    VLKV_LOG_WARN  = 1,
    VLKV_LOG_INFO  = 2,
    VLKV_LOG_DEBUG = 3
} vlkv_log_level;

/* Log callback: `text` is one line without the trailing newline. May be called from any thread
 * that calls into vlkv. */
typedef void (*vlkv_log_callback)(vlkv_log_level level, const char *text, void *user_data);

/* Install the process-wide log callback (NULL = silent, the default). Not thread-safe against
 * concurrent vlkv calls: set it once at start-up. */
VLKV_API void vlkv_log_set(vlkv_log_callback cb, void *user_data);

/* Static description of the build and machine: version, commit, ISA in use, BLAS, OpenMP,
 * Vulkan. Never NULL. */
VLKV_API const char *vlkv_system_info(void);

/* ---- model ------------------------------------------------------------------------------ */

typedef struct vlkv_model vlkv_model;

typedef struct {
    const char *mmproj_path;   /* CLIP mmproj GGUF, or NULL for text only. Copied at load. */
    int         use_mmap;      /* map weights instead of reading them (default 1) */
    int         llamacpp_compat; /* reproduce llama.cpp's vision quirks for A/B runs (default 0) */
    int         n_threads;     /* threads for load-time work such as repacking (0 = default) */
} vlkv_model_params;

VLKV_API vlkv_model_params vlkv_model_params_default(void);

/* Load a llama.cpp LLaMA GGUF (and optionally its mmproj). On success *out owns the mapping of
 * both files; free with vlkv_model_free. On failure *out is NULL and vlkv_last_error() names the
 * file and the problem. */
VLKV_API vlkv_status vlkv_model_load(const char *path, const vlkv_model_params *params, vlkv_model **out);
VLKV_API void        vlkv_model_free(vlkv_model *model);

VLKV_API int32_t vlkv_model_n_vocab(const vlkv_model *model);
VLKV_API int32_t vlkv_model_n_embd(const vlkv_model *model);
VLKV_API int32_t vlkv_model_n_layer(const vlkv_model *model);
VLKV_API int32_t vlkv_model_n_ctx_train(const vlkv_model *model);
VLKV_API int     vlkv_model_has_vision(const vlkv_model *model);
/* Image tokens one image becomes (576 for LLaVA-1.5), 0 without vision. */
VLKV_API int32_t vlkv_model_n_image_tokens(const vlkv_model *model);
/* Short description, e.g. "llama 6L 256E Q8_0 + clip 96px/8 F16". Owned by the model. */
VLKV_API const char *vlkv_model_desc(const vlkv_model *model);

/* ---- tokenizer (SPM, as llama.cpp) ---------------------------------------------------- */

VLKV_API int32_t vlkv_token_bos(const vlkv_model *model);
VLKV_API int32_t vlkv_token_eos(const vlkv_model *model);

/* Tokenize `len` bytes of `text`. Returns the number of tokens written to `out` (at most n_max),
 * or, if n_max is too small, minus the number needed. add_bos follows the model when < 0.
 * parse_special: split out control tokens written literally, such as "</s>". */
VLKV_API int32_t vlkv_tokenize(const vlkv_model *model, const char *text, size_t len, int add_bos,
                               int parse_special, int32_t *out, int32_t n_max);

/* Write the text of one token to buf (not NUL-terminated beyond n bytes; NUL-terminated when it
 * fits). Returns the byte count, or minus the size needed. Byte tokens yield single raw bytes, so
 * a streaming caller must buffer incomplete UTF-8 (see vlkv_utf8_complete). */
VLKV_API int32_t vlkv_token_to_piece(const vlkv_model *model, int32_t token, char *buf, int32_t n);

/* Length of the longest prefix of s[0..n) that ends on a UTF-8 character boundary. */
VLKV_API size_t vlkv_utf8_complete(const char *s, size_t n);

/* ---- images ----------------------------------------------------------------------------- */

typedef struct vlkv_image vlkv_image;

/* Decode PNG, JPEG, BMP, GIF (first frame), PNM or TGA into 8-bit RGB. */
VLKV_API vlkv_status vlkv_image_load_file(const char *path, vlkv_image **out);
/* Copy a packed RGB buffer (3 bytes per pixel, row-major, no padding). */
VLKV_API vlkv_status vlkv_image_from_rgb(const uint8_t *rgb, int32_t width, int32_t height, vlkv_image **out);
VLKV_API void        vlkv_image_free(vlkv_image *img);
VLKV_API int32_t     vlkv_image_width(const vlkv_image *img);
VLKV_API int32_t     vlkv_image_height(const vlkv_image *img);

/* ---- inference context ------------------------------------------------------------------ */

typedef struct vlkv_context vlkv_context;

typedef enum {
    VLKV_MOD_SYSTEM      = 0, /* system prompt text */
    VLKV_MOD_IMAGE       = 1, /* image embeddings */
    VLKV_MOD_INSTRUCTION = 2, /* the user's text after the image */
    VLKV_MOD_GENERATED   = 3  /* tokens the model produced */
} vlkv_modality;

typedef enum {
    VLKV_KV_POS_ORIGINAL = 0, /* new tokens get their true position (default) */
    VLKV_KV_POS_COMPAT   = 1  /* position = layer 0's cache length, as the papers' code does */
} vlkv_kv_pos_mode;

typedef enum {
    VLKV_BACKEND_CPU    = 0,
    VLKV_BACKEND_VULKAN = 1
} vlkv_backend;

typedef struct {
    int32_t          n_ctx;            /* positions (prompt + generated); 0 = the model's n_ctx_train */
    int32_t          n_threads;        /* compute threads; 0 = physical cores */
    int32_t          n_batch;          /* prefill chunk in tokens (default 512) */
    int              kv_f32;           /* store K/V as F32 instead of F16 (default 0) */
    const char      *kv_policy;        /* "full", "streaming", "h2o", "snapkv", "pyramidkv", "prefixkv",
                                          "elastic", "vlcache"; NULL = "full". Copied. */
    float            kv_budget;        /* fraction of the prompt KV retained, 0 < b <= 1 (default 1) */
    int32_t          kv_budget_tokens; /* if > 0: retained prompt entries per layer on average;
                                          overrides kv_budget */
    vlkv_kv_pos_mode kv_pos_mode;
    const char      *kv_opts;          /* policy options "key=value,key=value" or NULL. Copied. */
    const char      *kv_config_path;   /* PrefixKV calibration JSON or NULL. Read at init. */
    vlkv_backend     backend;
    int32_t          device;           /* Vulkan device index (-1 = first GPU) */
} vlkv_context_params;

VLKV_API vlkv_context_params vlkv_context_params_default(void);

/* Create an inference context. Validates the KV policy, budget and options (unknown names and
 * out-of-range values fail with VLKV_ERR_INVALID_ARG and a message). The model must outlive it. */
VLKV_API vlkv_status vlkv_context_init(vlkv_model *model, const vlkv_context_params *params, vlkv_context **out);
VLKV_API void        vlkv_context_free(vlkv_context *ctx);

/* Forget everything evaluated (KV cache, positions, policy state); keeps allocations. */
VLKV_API void vlkv_context_reset(vlkv_context *ctx);

/* Number of positions consumed so far (the next token's true position). */
VLKV_API int32_t vlkv_n_past(const vlkv_context *ctx);

/* Evaluate prompt tokens (batched prefill), all tagged with `mod`. Logits of the last one are
 * available afterwards. VLKV_ERR_CONTEXT_FULL if they do not fit. */
VLKV_API vlkv_status vlkv_eval_tokens(vlkv_context *ctx, const int32_t *tokens, int32_t n, vlkv_modality mod);

/* Evaluate input embeddings (rows of n_embd floats) instead of token ids, e.g. image rows. */
VLKV_API vlkv_status vlkv_eval_embd(vlkv_context *ctx, const float *embd, int32_t n_rows, vlkv_modality mod);

/* Preprocess and encode an image through CLIP + projector into `out` (n_image_tokens × n_embd
 * floats, caller-allocated). Needs a model loaded with an mmproj. */
VLKV_API vlkv_status vlkv_image_encode(vlkv_context *ctx, const vlkv_image *img, float *out);

/* Build the LLaVA-1.5 (vicuna) prompt for `question` with `n_images` images and evaluate it:
 * system text, image embeddings, instruction, each tagged with its modality. If the question
 * contains "<image>" markers the images go there, otherwise all images precede the question.
 * In a continued conversation (n_past > 0) this appends the next turn instead. */
VLKV_API vlkv_status vlkv_prompt_eval(vlkv_context *ctx, const char *question,
                                      vlkv_image *const *images, int32_t n_images);

/* Apply the KV policy to what has been evaluated: score, choose per-layer budgets, keep / merge,
 * compact. Call once after the prompt; "full" does nothing. */
VLKV_API vlkv_status vlkv_kv_compress(vlkv_context *ctx);

/* Evaluate one generated token at the next position; the policy's decode-time rule then runs
 * (e.g. FIFO eviction) so the budget keeps holding. */
VLKV_API vlkv_status vlkv_decode(vlkv_context *ctx, int32_t token);

/* Logits of the last evaluated position: n_vocab floats owned by ctx, valid until the next eval. */
VLKV_API const float *vlkv_get_logits(const vlkv_context *ctx);

/* ---- KV policies ------------------------------------------------------------------------ */

VLKV_API int32_t     vlkv_kv_policy_count(void);
VLKV_API const char *vlkv_kv_policy_name(int32_t i);              /* NULL if out of range */
/* Multi-line description of a policy: what it does, its options and defaults. NULL if unknown. */
VLKV_API const char *vlkv_kv_policy_help(const char *name);

typedef struct {
    int32_t        n_layer;
    const int32_t *len;           /* [n_layer] current entries per layer, owned by ctx */
    int32_t        n_prompt;      /* prompt positions evaluated before compression */
    size_t         bytes_full;    /* K+V bytes the full cache would hold now */
    size_t         bytes_used;    /* K+V bytes held now (sum over layers of len * row bytes) */
    size_t         bytes_reserved;/* K+V bytes allocated */
    double         policy_ms;     /* time spent in the policy (compress + decode steps) */
} vlkv_kv_stats;

/* Snapshot of the KV cache; pointers valid until the next call on ctx. */
VLKV_API vlkv_status vlkv_kv_get_stats(const vlkv_context *ctx, vlkv_kv_stats *out);

/* ---- timings ---------------------------------------------------------------------------- */

typedef struct {
    double  load_ms;
    double  preprocess_ms;   /* image decode-independent preprocessing (pad, resize, normalise) */
    double  vision_ms;       /* CLIP ViT */
    double  projector_ms;
    double  prefill_ms;
    int32_t n_prefill;       /* positions prefilled */
    double  decode_ms;
    int32_t n_decode;        /* tokens decoded */
    double  policy_ms;
} vlkv_timings;

VLKV_API vlkv_timings vlkv_get_timings(const vlkv_context *ctx);
VLKV_API void         vlkv_timings_reset(vlkv_context *ctx);

/* ---- sampling ----------------------------------------------------------------------------- */

typedef struct vlkv_sampler vlkv_sampler;

typedef struct {
    float    temp;            /* <= 0: greedy (default 0.8 as llama.cpp; the CLI uses 0 for LLaVA) */
    int32_t  top_k;           /* <= 0: off (default 40) */
    float    top_p;           /* >= 1: off (default 0.95) */
    float    min_p;           /* <= 0: off (default 0.05) */
    float    repeat_penalty;  /* 1 = off (default 1.0) */
    int32_t  repeat_last_n;   /* window of the repetition penalty (default 64) */
    uint64_t seed;            /* default 0xC0FFEE */
} vlkv_sampler_params;

VLKV_API vlkv_sampler_params vlkv_sampler_params_default(void);
VLKV_API vlkv_status vlkv_sampler_init(const vlkv_sampler_params *params, vlkv_sampler **out);
VLKV_API void        vlkv_sampler_free(vlkv_sampler *s);
/* Choose a token from n_vocab logits (not modified) and remember it for the repetition penalty. */
VLKV_API int32_t     vlkv_sampler_sample(vlkv_sampler *s, const float *logits, int32_t n_vocab);
/* Remember a token chosen elsewhere (e.g. prompt tokens) for the repetition penalty. */
VLKV_API void        vlkv_sampler_accept(vlkv_sampler *s, int32_t token);

#ifdef __cplusplus
}
#endif

#endif /* VLKV_H */
