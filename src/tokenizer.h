/* tokenizer.h - SentencePiece-style (llama.cpp "llama"/SPM) tokenizer loaded from a GGUF
 * vocabulary (specs/formats.md §4): special-token partition, dummy-prefix space, ' ' -> U+2581,
 * greedy highest-score bigram merging over UTF-8 characters, <0xHH> byte fallback; decoding
 * with U+2581 -> ' ', byte tokens -> raw bytes, control tokens -> nothing.
 * The context/model code wraps these into the public vlkv_tokenize / vlkv_token_to_piece. */
#ifndef VLKV_TOKENIZER_H
#define VLKV_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "vlkv.h"

/* tokenizer.ggml.token_type values */
enum vlkv_token_type {
    VLKV_TOKEN_UNDEFINED    = 0,
    VLKV_TOKEN_NORMAL       = 1,
    VLKV_TOKEN_UNKNOWN      = 2,
    VLKV_TOKEN_CONTROL      = 3,
    VLKV_TOKEN_USER_DEFINED = 4,
    VLKV_TOKEN_UNUSED       = 5,
    VLKV_TOKEN_BYTE         = 6,
};

struct vlkv_tokenizer;   /* immutable after load; safe to share between threads */

/* Build the tokenizer from tokenizer.ggml.* keys of an open GGUF (the strings are copied, so
 * the file may be closed afterwards). Defaults per formats.md §4.1: bos 1, eos 2, unk 0,
 * add_bos true, add_eos false, add_space_prefix true. Errors: VLKV_ERR_FORMAT (missing or
 * inconsistent arrays, ids out of range), VLKV_ERR_UNSUPPORTED (tokenizer.ggml.model other than
 * "llama"), VLKV_ERR_OOM. Free with vlkv_tokenizer_free. */
vlkv_status vlkv_tokenizer_load(const struct gguf_file *f, struct vlkv_tokenizer **out);
void        vlkv_tokenizer_free(struct vlkv_tokenizer *tok);   /* accepts NULL */

/* Tokenize `len` bytes of `text` (no NUL needed). add_bos: -1 = the model's default (BOS per
 * add_bos_token and EOS per add_eos_token), 1 = BOS (+ EOS if the model adds it), 0 = neither.
 * parse_special: text equal to a CONTROL/UNKNOWN token ("</s>") becomes that token; otherwise
 * only USER_DEFINED tokens are split out. Returns the number of ids written (<= n_max) or, if
 * n_max is too small, minus the number needed (nothing useful written). Returns INT32_MIN, with
 * vlkv_last_error() set, when out of memory or for text over 256 MiB. Thread-safe. */
int32_t vlkv_tokenizer_encode(const struct vlkv_tokenizer *tok, const char *text, size_t len, int add_bos,
                              int parse_special, int32_t *out, int32_t n_max);

/* Bytes of token `id` as text: NORMAL with U+2581 -> ' ', BYTE -> its one raw byte,
 * USER_DEFINED verbatim, CONTROL/UNKNOWN/UNUSED/out-of-range ids -> "". Returns the byte count
 * (NUL-terminated when it is < n), or minus the size needed when it does not fit in n. */
int32_t vlkv_tokenizer_piece(const struct vlkv_tokenizer *tok, int32_t id, char *buf, int32_t n);

int32_t vlkv_tokenizer_bos(const struct vlkv_tokenizer *tok);
int32_t vlkv_tokenizer_eos(const struct vlkv_tokenizer *tok);
int32_t vlkv_tokenizer_unk(const struct vlkv_tokenizer *tok);
int32_t vlkv_tokenizer_n_vocab(const struct vlkv_tokenizer *tok);
int     vlkv_tokenizer_add_bos(const struct vlkv_tokenizer *tok);
/* Raw vocabulary entry (not NUL-terminated: *len bytes), its score and type; NULL if out of range. */
const char *vlkv_tokenizer_text(const struct vlkv_tokenizer *tok, int32_t id, size_t *len);
float       vlkv_tokenizer_score(const struct vlkv_tokenizer *tok, int32_t id);
int32_t     vlkv_tokenizer_type(const struct vlkv_tokenizer *tok, int32_t id);
/* Id of an exact piece text (e.g. "<0x0A>", "\xe2\x96\x81the"), or -1. */
int32_t     vlkv_tokenizer_find(const struct vlkv_tokenizer *tok, const char *text, size_t len);

#endif /* VLKV_TOKENIZER_H */
