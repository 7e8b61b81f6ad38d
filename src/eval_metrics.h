/* eval_metrics.h - quality metrics of `vlkv eval` (kv-lvlm-methods.md §2.9, §3.7).
 * ROUGE-L F1 follows Google's rouge_score defaults: lowercase, every run of characters other than
 * [a-z0-9] is a separator, no stemming, LCS over the word sequences, F = 2PR / (P + R).
 * (The PrefixKV code uses the `rouge` package; its ROUGE-L is the same sentence-level LCS F1 on
 * single-paragraph outputs up to tokenisation details.)
 * PPL is token-weighted: exp(sum of NLL / number of tokens) over all samples. */
#ifndef VLKV_EVAL_METRICS_H
#define VLKV_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* ROUGE-L F1 of hypothesis vs reference text; 0 when either has no words. */
double vlkv_rouge_l_f1(const char *hyp, const char *ref);

/* Negative log-likelihood of `target` under softmax(logits[0..n)), in nats (double precision). */
double vlkv_nll(const float *logits, int32_t n, int32_t target);

/* Normalise a short answer for exact match: lowercase, drop characters other than [a-z0-9 ],
 * collapse spaces, trim, drop a leading article (a, an, the). Writes into out (size n). */
void vlkv_normalize_answer(const char *s, char *out, size_t n);

#endif /* VLKV_EVAL_METRICS_H */
