/* prompt.h - the LLaVA-1.5 (vicuna_v1) prompt as a sequence of text-token runs and image
 * slots, each tagged with a modality (specs/formats.md §5.6). Built separately from its
 * evaluation so tests can check the exact token sequence on any tokenizer. */
#ifndef VLKV_PROMPT_H
#define VLKV_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "vlkv.h"

#define VLKV_PROMPT_SYSTEM                                                                        \
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives " \
    "helpful, detailed, and polite answers to the human's questions."
#define VLKV_PROMPT_IMAGE_MARKER "<image>"

/* Tokenizer used to build the prompt: the public vlkv_tokenize semantics (add_bos 0/1,
 * parse_special 1) and vlkv_token_to_piece. */
struct vlkv_prompt_tokenizer {
    void   *ud;
    int32_t (*tokenize)(void *ud, const char *text, size_t len, int add_bos, int parse_special, int32_t *out,
                        int32_t n_max);
    int32_t (*piece)(void *ud, int32_t id, char *buf, int32_t n);
};

enum vlkv_prompt_seg_kind { VLKV_SEG_TEXT = 0, VLKV_SEG_IMAGE = 1 };

struct vlkv_prompt_seg {
    int           kind;    /* enum vlkv_prompt_seg_kind */
    vlkv_modality mod;     /* SYSTEM / INSTRUCTION for text, IMAGE for images */
    int32_t       i0, n;   /* text: tokens[i0 .. i0+n); image: i0 = image index, n = 0 */
};

struct vlkv_prompt {
    int32_t                *tokens;   /* all text tokens, in order */
    int32_t                 n_tokens, cap_tokens;
    struct vlkv_prompt_seg *segs;
    int32_t                 n_segs, cap_segs;
};

/* Build the prompt for `question` with n_images images.
 * First turn (continuation = 0):
 *   BOS "A chat ... questions. USER: " <image>"\n" ... {question} " ASSISTANT:"
 *   If the question contains "<image>" markers, their count must equal n_images and the
 *   images go there; otherwise one "<image>\n" per image precedes the question.
 *   The text around each image is tokenized separately (LLaVA's tokenizer_image_token): BOS
 *   only on the first chunk, every chunk with the SPM dummy-prefix space, so the chunk after
 *   an image starts with "▁" then "<0x0A>". Text before the first image is SYSTEM, after it
 *   INSTRUCTION; without images the split is where the question starts (one tokenize call).
 * Continuation (continuation = 1, the previous answer's tokens already in the cache, the EOS
 * not decoded): "</s>USER: " {content} " ASSISTANT:" all INSTRUCTION, no BOS, "</s>" parsed
 * as the EOS control token - the same tokens vicuna_v1's " {answer}</s>USER: ..." gives.
 * Errors: VLKV_ERR_INVALID_ARG (marker count mismatch), VLKV_ERR_OOM. Free with
 * vlkv_prompt_clear. */
vlkv_status vlkv_prompt_build(const struct vlkv_prompt_tokenizer *tk, const char *question, int32_t n_images,
                              int continuation, struct vlkv_prompt *out);
void        vlkv_prompt_clear(struct vlkv_prompt *p);

#endif /* VLKV_PROMPT_H */
